/*
 * test_install.c - `make install` gives a library that other programs
 * build against with pkg-config, shared and static, with PREFIX and with
 * DESTDIR.  Installs into temporary directories only, removed afterwards.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A client and a server in one program: the seed's lifecycle, checked. */
static const char app_src[] =
    "#include <sock.h>\n"
    "#include <stdio.h>\n"
    "#include <string.h>\n"
    "int main(void) {\n"
    "    sock_t acep, cli, srv; char port[8], buf[5];\n"
    "    sock_init(&acep); sock_init(&cli);\n"
    "    if (sock_bind(&acep, \"127.0.0.1\", \"0\") || sock_listen(&acep, 1)) return 10;\n"
    "    snprintf(port, sizeof port, \"%d\", sock_local_port(&acep));\n"
    "    if (sock_connect(&cli, \"127.0.0.1\", port) || sock_accept(&acep, &srv)) return 11;\n"
    "    if (sock_send_all(&cli, \"hola\", 4, NULL) || sock_shutdown(&cli, SOCK_SHUT_WRITE)) return 12;\n"
    "    if (sock_recv_all(&srv, buf, 4, NULL) || memcmp(buf, \"hola\", 4)) return 13;\n"
    "    if (sock_recv(&srv, buf, 1) != 0) return 14;\n"
    "    sock_close(&cli); sock_close(&srv); sock_close(&acep);\n"
    "    puts(\"installed libsock works\");\n"
    "    return 0;\n"
    "}\n";

static char tmp[64];

static void make_tmp(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/sock-install-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp), "mkdtemp failed");
}

static void remove_tmp(void)
{
    char cmd[128];
    if (tmp[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        cr_expect_eq(system(cmd), 0);
    }
}

static const char *plain_build(void)
{
    const char *b = getenv("SOCK_PLAIN_BUILD");
    return b && *b ? b : "build/clang";
}

static int sh(const char *fmt, const char *a, const char *b)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int file_exists(const char *dir, const char *rel)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return stat(path, &st) == 0;
}

static void write_app(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/app.c", tmp);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(app_src, f);
    fclose(f);
}

Test(install, prefix_pkgconfig_shared_and_static, .init = make_tmp, .fini = remove_tmp,
     .timeout = 120)
{
    cr_assert_eq(sh("make -s --no-print-directory BUILD=%s install PREFIX=%s >/dev/null",
                    plain_build(), tmp),
                 0, "make install PREFIX=%s failed", tmp);
    const char *files[] = {"include/sock.h", "lib/libsock.a", "lib/libsock.so",
                           "lib/pkgconfig/sock.pc", "bin/sock"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        cr_expect(file_exists(tmp, files[i]), "%s/%s was not installed", tmp, files[i]);
    write_app();

    /* Shared: the usual `cc app.c $(pkg-config --cflags --libs sock)`. */
    cr_assert_eq(sh("cd %s && PKG_CONFIG_PATH=%s/lib/pkgconfig cc -std=c11 -Wall -Werror "
                    "app.c $(PKG_CONFIG_PATH=$PWD/lib/pkgconfig pkg-config --cflags --libs sock) "
                    "-o app-shared",
                    tmp, tmp),
                 0, "building against the shared library failed");
    cr_assert_eq(sh("cd %s && LD_LIBRARY_PATH=%s/lib ./app-shared | grep -q 'installed libsock works'",
                    tmp, tmp),
                 0, "the program linked with libsock.so did not run");
    cr_assert_eq(sh("cd %s && LD_LIBRARY_PATH=%s/lib ldd ./app-shared | grep -q 'libsock.so.0 => /tmp/sock-install-'",
                    tmp, tmp),
                 0,
                 "app-shared is not linked with the installed libsock.so.0");

    /* Static: pkg-config --static adds the private -pthread. */
    cr_assert_eq(sh("cd %s && cc -std=c11 app.c $(PKG_CONFIG_PATH=$PWD/lib/pkgconfig pkg-config "
                    "--static --cflags sock) $(PKG_CONFIG_PATH=$PWD/lib/pkgconfig pkg-config "
                    "--static --libs-only-L sock) -Wl,-Bstatic -lsock -Wl,-Bdynamic -pthread "
                    "-o app-static%s",
                    tmp, ""),
                 0, "building against the static library failed");
    cr_assert_eq(sh("cd %s && ./app-static | grep -q 'installed libsock works'%s", tmp, ""), 0,
                 "the program linked with libsock.a did not run");
}

Test(install, destdir_is_honoured, .init = make_tmp, .fini = remove_tmp, .timeout = 120)
{
    cr_assert_eq(sh("make -s --no-print-directory BUILD=%s install PREFIX=/opt/sockprefix "
                    "DESTDIR=%s >/dev/null",
                    plain_build(), tmp),
                 0, "make install DESTDIR=%s failed", tmp);
    cr_expect(file_exists(tmp, "opt/sockprefix/include/sock.h"));
    cr_expect(file_exists(tmp, "opt/sockprefix/lib/libsock.a"));
    cr_expect(file_exists(tmp, "opt/sockprefix/lib/pkgconfig/sock.pc"));
    /* The .pc file names the final prefix, not the staging directory. */
    cr_expect_eq(sh("grep -q '^prefix=/opt/sockprefix$' %s/opt/sockprefix/lib/pkgconfig/sock.pc%s",
                    tmp, ""),
                 0, "sock.pc does not name PREFIX");
    cr_expect(!file_exists("/opt", "sockprefix"), "make install wrote outside DESTDIR");
}
