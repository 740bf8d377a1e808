/*
 * test_packages.c - `make deb` builds the Debian packages, lintian finds
 * nothing, the symbols file matches the library, and a program built
 * against the packages (the seed's client, with pkg-config and with CMake)
 * runs against the packaged `sock listen`.
 *
 * The packages are unpacked into a temporary root (dpkg-deb -x) instead of
 * being installed, so this machine's /usr is never touched and a libsock
 * installed there cannot stand in for the packaged one.  Everything lives
 * under one temporary directory, removed afterwards, also on failure.
 * About half a minute: most of it is dpkg-buildpackage and lintian.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmp[64];
static char root[128];   /* the unpacked packages */
static char libdir[256]; /* root/usr/lib/MULTIARCH */

static void make_tmp(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/sock-packages-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp), "mkdtemp failed");
    snprintf(root, sizeof root, "%s/root", tmp);
}

static void remove_tmp(void)
{
    char cmd[128];
    if (tmp[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        cr_expect_eq(system(cmd), 0);
    }
}

/* Run a shell command (printf-style) with its output appended to
 * $tmp/log; return its exit status. */
static int run(const char *fmt, ...)
{
    char cmd[4096], full[4400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "{ %s ; } >> '%s/log' 2>&1", cmd, tmp);
    int st = system(full);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The end of $tmp/log, for a failure message. */
static const char *log_tail(void)
{
    static char buf[3000];
    char path[128];
    snprintf(path, sizeof path, "%s/log", tmp);
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return buf;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0, SEEK_SET);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int exists(const char *fmt, const char *a)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, fmt, a);
    return lstat(path, &st) == 0;
}

/* The one file matching pattern (printf-style), in out. */
static int glob_one(char *out, size_t len, const char *pattern)
{
    glob_t g;
    int found = glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc == 1;
    if (found)
        snprintf(out, len, "%s", g.gl_pathv[0]);
    globfree(&g);
    return found;
}

/* Start the packaged `sock listen 127.0.0.1 0` with reply as the bytes it
 * sends; return its port. */
static int start_listener(proc_t *p, const char *reply)
{
    char bin[256];
    snprintf(bin, sizeof bin, "%s/usr/bin/sock", root);
    char *argv[] = {bin, "listen", "127.0.0.1", "0", NULL};
    cr_assert_eq(proc_start(p, argv), 0, "cannot start %s", bin);
    ssize_t w = write(p->in, reply, strlen(reply));
    cr_assert_eq(w, (ssize_t)strlen(reply));
    close(p->in);
    p->in = -1;
    char buf[512] = "";
    int found = proc_wait_for(p->err, "listening on", buf, sizeof buf, 10000);
    if (!found)
        proc_kill(p);
    cr_assert(found, "the packaged sock listen never said 'listening on': %s", buf);
    int port = parse_listening_port(buf);
    cr_assert_gt(port, 0, "no port in '%s'", buf);
    return port;
}

/* The seed's client, built against the packages, against the packaged
 * tool: the request reaches the listener, the reply the client. */
static void client_talks_to_listener(const char *client)
{
    proc_t srv;
    char port[8], *out = NULL, *err = NULL;
    snprintf(port, sizeof port, "%d", start_listener(&srv, "hola, cliente\n"));
    char *argv[] = {(char *)client, "127.0.0.1", port, NULL};
    /* The shared client finds libsock.so.0 in the unpacked root only. */
    setenv("LD_LIBRARY_PATH", libdir, 1);
    int st = proc_run(argv, NULL, 0, &out, NULL, &err, 20000);
    unsetenv("LD_LIBRARY_PATH");
    cr_expect_eq(st, 0, "%s exit %d: %s", client, st, err);
    cr_expect(out && strstr(out, "client got: hola, cliente\n"), "%s printed: %s", client, out);
    char *got = proc_read_all(srv.out, NULL, 10000);
    cr_expect(got && strstr(got, "hola, servidor\n"), "the listener received: %s", got);
    cr_expect_eq(proc_wait(&srv, 10000), 0, "the listener did not end cleanly");
    free(got), free(out), free(err);
}

static const char cmake_src[] =
    "cmake_minimum_required(VERSION 3.13)\n"
    "project(client C)\n"
    "find_package(sock CONFIG REQUIRED)\n"
    "if(NOT sock_DIR MATCHES \"^${ROOT}/\")\n"
    "  message(FATAL_ERROR \"found sock in ${sock_DIR}, not under ${ROOT}\")\n"
    "endif()\n"
    "add_executable(client-cmake ${SRC})\n"
    "target_link_libraries(client-cmake PRIVATE sock::sock)\n";

Test(packages, build_lint_unpack_and_use, .init = make_tmp, .fini = remove_tmp, .timeout = 600)
{
    char version[32] = "";
    FILE *vf = fopen("VERSION", "r");
    cr_assert_not_null(vf, "no VERSION file");
    cr_assert_not_null(fgets(version, sizeof version, vf));
    fclose(vf);
    version[strcspn(version, "\n")] = '\0';

    /* The packages, built as `make deb` builds them, into our directory.  The
     * make that runs the suite must not lend its job server to this one. */
    cr_assert_eq(run("env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory deb "
                     "DEB_DIR=%s/deb",
                     tmp),
                 0, "make deb failed:\n%s", log_tail());
    const char *pkgs[] = {"libsock0", "libsock-dev", "sock", "libsock-tls0", "libsock-tls-dev"};
    enum { NPKG = sizeof pkgs / sizeof pkgs[0] };
    char debs[NPKG][512];
    for (int i = 0; i < NPKG; i++) {
        char pattern[256];
        snprintf(pattern, sizeof pattern, "%s/deb/%s_%s_*.deb", tmp, pkgs[i], version);
        cr_assert(glob_one(debs[i], sizeof debs[i], pattern), "no %s", pattern);
    }
    /* No symbol the file does not know (dpkg-gensymbols fails the build
     * for a lost one already). */
    cr_expect_neq(run("grep -q 'dpkg-gensymbols: warning' %s/log", tmp), 0,
                  "debian/libsock0.symbols is out of date: run make deb-symbols and review it");
    cr_expect_eq(run("lintian --fail-on error,warning,info --pedantic %s/deb/*.changes", tmp), 0,
                 "lintian has something to say:\n%s", log_tail());

    /* Unpacked into a root of our own. */
    for (int i = 0; i < NPKG; i++)
        cr_assert_eq(run("dpkg-deb -x '%s' '%s'", debs[i], root), 0, "dpkg-deb -x %s failed",
                     debs[i]);
    char so[512];
    snprintf(so, sizeof so, "%s/usr/lib/*/libsock.so.0", root);
    cr_assert(glob_one(so, sizeof so, so), "no libsock.so.0 in the unpacked libsock0");
    snprintf(libdir, sizeof libdir, "%.*s", (int)(strrchr(so, '/') - so), so);
    cr_expect(exists("%s/usr/include/sock.h", root));
    cr_expect(exists("%s/libsock.a", libdir));
    cr_expect(exists("%s/libsock.so", libdir), "libsock-dev has no libsock.so link");
    cr_expect(exists("%s/pkgconfig/sock.pc", libdir));
    /* The TLS library's pair. */
    cr_expect(exists("%s/usr/include/sock_tls.h", root));
    cr_expect(exists("%s/libsock-tls.so.0", libdir), "no libsock-tls.so.0 in libsock-tls0");
    cr_expect(exists("%s/libsock-tls.a", libdir));
    cr_expect(exists("%s/pkgconfig/sock-tls.pc", libdir));
    cr_expect(exists("%s/cmake/sock/sockConfig.cmake", libdir));
    cr_expect(exists("%s/usr/share/man/man1/sock.1.gz", root));
    cr_expect(exists("%s/usr/share/man/man3/sock.3.gz", root));

    /* man answers for a call with a page of its own and for one that shares
     * its family's page. */
    cr_expect_eq(run("MANPAGER=cat man -M %s/usr/share/man 3 sock_connect | grep -q 'RETURN VALUE'",
                     root),
                 0, "man sock_connect does not answer from the package");
    cr_expect_eq(run("MANPAGER=cat man -M %s/usr/share/man 3 sock_peer_addr | grep -q sock_local_addr",
                     root),
                 0, "man sock_peer_addr does not lead to sock_local_addr's page");
    /* The packaged tool is the release it says. */
    cr_expect_eq(run("%s/usr/bin/sock --version | grep -qx 'sock %s (libsock %s)'", root, version,
                     version),
                 0, "the packaged sock --version is not %s", version);

    /* pkg-config: the usual command line, with the root as sysroot (and
     * nothing of this machine's own include or library directories). */
    cr_assert_eq(run("PKG_CONFIG_SYSROOT_DIR=%s PKG_CONFIG_LIBDIR=%s/pkgconfig "
                     "PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 PKG_CONFIG_ALLOW_SYSTEM_LIBS=1 sh -c "
                     "'cc -std=c11 -Wall -Werror examples/client.c "
                     "$(pkg-config --cflags --libs sock) -o %s/client-pc'",
                     root, libdir, tmp),
                 0, "building examples/client.c with pkg-config failed:\n%s", log_tail());
    cr_expect_eq(run("LD_LIBRARY_PATH=%s ldd %s/client-pc | grep -q 'libsock.so.0 => %s/'", libdir,
                     tmp, libdir),
                 0, "client-pc does not use the packaged libsock.so.0");
    char client[256];
    snprintf(client, sizeof client, "%s/client-pc", tmp);
    client_talks_to_listener(client);

    /* CMake: find_package(sock) in the root, and sock::sock. */
    char path[256];
    snprintf(path, sizeof path, "%s/CMakeLists.txt", tmp);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(cmake_src, f);
    fclose(f);
    char cwd[1024];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    cr_assert_eq(run("cmake -S %s -B %s/b -DROOT=%s -DSRC=%s/examples/client.c "
                     "-DCMAKE_PREFIX_PATH=%s/usr -DCMAKE_FIND_USE_CMAKE_SYSTEM_PATH=OFF && "
                     "cmake --build %s/b",
                     tmp, tmp, root, cwd, root, tmp),
                 0, "the CMake project did not build against the packages:\n%s", log_tail());
    snprintf(client, sizeof client, "%s/b/client-cmake", tmp);
    client_talks_to_listener(client);
}
