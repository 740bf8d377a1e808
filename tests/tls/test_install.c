/*
 * test_install.c - `make install` gives libsock-tls to other programs the
 * usual ways: `cc app.c $(pkg-config --cflags --libs sock-tls)`, shared
 * (libsock-tls.so.0 then pulls libsock.so.0) and static, and CMake's
 * find_package(sock COMPONENTS tls) with sock::sock-tls and
 * sock::sock-tls-static, which fails in words when libsock-tls is not
 * installed.  The program does a verified handshake with itself over
 * loopback.  Installs into a temporary directory only, removed afterwards.
 */
#include "tls_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

static const char app_src[] =
    "#include <sock_tls.h>\n"
    "#include <pthread.h>\n"
    "#include <stdio.h>\n"
    "#include <string.h>\n"
    "static sock_t acep; static sock_tls_config_t *scfg;\n"
    "static void *serve(void *arg) {\n"
    "    sock_t srv; (void)arg;\n"
    "    if (sock_accept(&acep, &srv) || sock_tls_accept(&srv, scfg)) return NULL;\n"
    "    sock_send_all(&srv, \"hola\", 4, NULL); sock_shutdown(&srv, SOCK_SHUT_WRITE);\n"
    "    char b; sock_recv(&srv, &b, 1); sock_close(&srv); return NULL;\n"
    "}\n"
    "int main(int argc, char **argv) {\n"
    "    sock_tls_config_t *ccfg; sock_t cli; char port[8], buf[5]; pthread_t t;\n"
    "    if (argc != 4 || sock_tls_config_new(&scfg) || sock_tls_config_new(&ccfg)) return 9;\n"
    "    if (sock_tls_config_set_cert(scfg, argv[1], argv[2]) || sock_tls_config_set_ca(ccfg, argv[3], NULL)) return 10;\n"
    "    sock_init(&acep); sock_init(&cli);\n"
    "    if (sock_bind(&acep, \"127.0.0.1\", \"0\") || sock_listen(&acep, 1)) return 11;\n"
    "    snprintf(port, sizeof port, \"%d\", sock_local_port(&acep));\n"
    "    pthread_create(&t, NULL, serve, NULL);\n"
    "    if (sock_connect(&cli, \"127.0.0.1\", port)) return 12;\n"
    "    if (sock_tls_connect(&cli, ccfg, \"localhost\")) return fprintf(stderr, \"%s\\n\", sock_error(&cli)), 13;\n"
    "    if (sock_recv_all(&cli, buf, 4, NULL) || memcmp(buf, \"hola\", 4)) return 14;\n"
    "    if (sock_recv(&cli, buf, 1) != 0) return 15;\n"
    "    printf(\"installed libsock-tls works: %s\\n\", sock_tls_version(&cli));\n"
    "    sock_shutdown(&cli, SOCK_SHUT_WRITE); pthread_join(t, NULL);\n"
    "    sock_close(&cli); sock_close(&acep); sock_tls_config_free(scfg); sock_tls_config_free(ccfg);\n"
    "    return 0;\n"
    "}\n";

static char tmp[64];

static void install_setup(void)
{
    tls_setup();
    snprintf(tmp, sizeof tmp, "/tmp/sock-tls-install-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
}

static void install_teardown(void)
{
    char cmd[128];
    if (tmp[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        cr_expect_eq(system(cmd), 0);
    }
    tls_teardown();
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The plain build the install tests install (see the Makefile's clang-check). */
static const char *plain_build(void)
{
    const char *build = getenv("SOCK_PLAIN_BUILD");
    return build && *build ? build : "build/clang";
}

static void write_file(const char *name, const char *text)
{
    FILE *f;
    char path[128];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    cr_assert_not_null(f = fopen(path, "w"), "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

Test(install, pkgconfig_shared_and_static, .init = install_setup, .fini = install_teardown,
     .timeout = 180)
{
    cr_assert_eq(sh("make -s --no-print-directory BUILD=%s install PREFIX=%s >/dev/null",
                    plain_build(), tmp),
                 0, "make install PREFIX=%s failed", tmp);
    const char *files[] = {"include/sock_tls.h", "lib/libsock-tls.a", "lib/libsock-tls.so",
                           "lib/libsock-tls.so.0", "lib/pkgconfig/sock-tls.pc"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        cr_expect_eq(sh("test -e %s/%s", tmp, files[i]), 0, "%s was not installed", files[i]);
    write_file("app.c", app_src);
    const char *pc = "PKG_CONFIG_PATH=$PWD/lib/pkgconfig pkg-config";
    cr_assert_eq(sh("cd %s && cc -std=c11 -Wall -Werror app.c $(%s --cflags --libs sock-tls) "
                    "-pthread -o app-shared",
                    tmp, pc),
                 0, "building against the shared library failed");
    cr_assert_eq(sh("cd %s && LD_LIBRARY_PATH=%s/lib ./app-shared %s %s %s | grep -q 'installed "
                    "libsock-tls works'",
                    tmp, tmp, certs.server, certs.server_key, certs.ca),
                 0, "the program linked with libsock-tls.so did not run");
    cr_assert_eq(sh("cd %s && LD_LIBRARY_PATH=%s/lib ldd ./app-shared | grep -q 'libsock-tls.so.0 "
                    "=> /tmp/sock-tls-install-'",
                    tmp, tmp),
                 0, "app-shared is not linked with the installed libsock-tls.so.0");
    /* Static: our two libraries static, OpenSSL from the system. */
    cr_assert_eq(sh("cd %s && cc -std=c11 app.c $(%s --cflags sock-tls) $(%s --libs-only-L "
                    "sock-tls) -Wl,-Bstatic -lsock-tls -lsock -Wl,-Bdynamic -lssl -lcrypto "
                    "-pthread -o app-static",
                    tmp, pc, pc),
                 0, "building against the static libraries failed");
    cr_assert_eq(sh("cd %s && ./app-static %s %s %s | grep -q 'installed libsock-tls works'", tmp,
                    certs.server, certs.server_key, certs.ca),
                 0, "the program linked with libsock-tls.a did not run");
}

/* ---------------------------------------------------------------- CMake */

/* A project as a user writes it.  COMPS is the find_package's component
 * list ("COMPONENTS;tls", or empty), APPS says whether to build the
 * program with both TLS targets; ROOT is the temporary tree, so that a
 * libsock installed on this machine cannot stand in for the one under
 * test. */
static const char cmake_src[] =
    "cmake_minimum_required(VERSION 3.13)\n"
    "project(app C)\n"
    "find_package(sock 0.2 CONFIG REQUIRED ${COMPS})\n"
    "if(NOT sock_DIR MATCHES \"^${ROOT}/\")\n"
    "  message(FATAL_ERROR \"found sock in ${sock_DIR}, not under ${ROOT}\")\n"
    "endif()\n"
    "if(TARGET sock::sock-tls)\n"
    "  message(STATUS \"sock::sock-tls defined: 1\")\n"
    "else()\n"
    "  message(STATUS \"sock::sock-tls defined: 0\")\n"
    "endif()\n"
    "if(APPS)\n"
    "  add_executable(app-shared app.c)\n"
    "  target_link_libraries(app-shared PRIVATE sock::sock-tls)\n"
    "  add_executable(app-static app.c)\n"
    "  target_link_libraries(app-static PRIVATE sock::sock-tls-static)\n"
    "endif()\n";

/* Configure the project in $tmp/DIR with the -D arguments args, its
 * output in $tmp/DIR.log; only $tmp/usr is searched. */
static int cmake_configure(const char *dir, const char *args)
{
    return sh("cd %s && cmake -S . -B %s -DROOT=%s -DCMAKE_PREFIX_PATH=$PWD/usr "
              "-DCMAKE_FIND_USE_CMAKE_SYSTEM_PATH=OFF %s >%s.log 2>&1",
              tmp, dir, tmp, args, dir);
}

/* Whether $tmp/DIR.log says phrase; CMake wraps the lines of a message, so
 * runs of blanks and newlines count as one space. */
static int log_says(const char *dir, const char *phrase)
{
    return sh("tr -s ' \\n' '  ' < %s/%s.log | grep -qF -- '%s'", tmp, dir, phrase) == 0;
}

/* make install PREFIX=/usr DESTDIR=$tmp, as a package build stages it. */
static void install_destdir(void)
{
    cr_assert_eq(sh("make -s --no-print-directory BUILD=%s install PREFIX=/usr DESTDIR=%s "
                    ">/dev/null",
                    plain_build(), tmp),
                 0, "make install PREFIX=/usr DESTDIR=%s failed", tmp);
    cr_expect_eq(sh("test -e %s/usr/lib/cmake/sock/sock-tls.cmake", tmp), 0,
                 "make install wrote no lib/cmake/sock/sock-tls.cmake");
    write_file("app.c", app_src);
    write_file("CMakeLists.txt", cmake_src);
}

Test(install, cmake_component_tls_shared_and_static, .init = install_setup,
     .fini = install_teardown, .timeout = 180)
{
    install_destdir();
    cr_assert_eq(cmake_configure("b", "'-DCOMPS=COMPONENTS;tls' -DAPPS=ON"), 0,
                 "find_package(sock COMPONENTS tls) failed against %s/usr", tmp);
    cr_assert_eq(sh("cd %s && cmake --build b >>b.log 2>&1 || { cat b.log; exit 1; }", tmp), 0,
                 "the CMake project did not build with sock::sock-tls and -static");
    /* The build's rpath names the temporary lib/, where the loader then
     * finds both of our shared libraries. */
    cr_assert_eq(sh("cd %s && ./b/app-shared %s %s %s | grep -q 'installed libsock-tls works'",
                    tmp, certs.server, certs.server_key, certs.ca),
                 0, "sock::sock-tls: the program did not run");
    cr_assert_eq(sh("cd %s && ldd ./b/app-shared > ldd.out && "
                    "grep -q 'libsock-tls.so.0 => %s/usr/lib/libsock-tls.so.0' ldd.out && "
                    "grep -q 'libsock.so.0 => %s/usr/lib/libsock.so.0' ldd.out",
                    tmp, tmp, tmp),
                 0, "sock::sock-tls: app-shared is not linked with the installed libraries");
    cr_assert_eq(sh("cd %s && ./b/app-static %s %s %s | grep -q 'installed libsock-tls works' "
                    "&& ! ldd ./b/app-static | grep -q libsock",
                    tmp, certs.server, certs.server_key, certs.ca),
                 0, "sock::sock-tls-static: the program did not run, or needs our .so files");
}

Test(install, cmake_component_tls_missing_fails_in_words, .init = install_setup,
     .fini = install_teardown, .timeout = 180)
{
    install_destdir();
    /* libsock alone, as libsock-dev without libsock-tls-dev. */
    cr_assert_eq(sh("make -s --no-print-directory BUILD=%s uninstall-tls PREFIX=/usr DESTDIR=%s",
                    plain_build(), tmp),
                 0, "make uninstall-tls failed");
    cr_expect_eq(sh("test ! -e %s/usr/lib/cmake/sock/sock-tls.cmake", tmp), 0,
                 "make uninstall-tls left sock-tls.cmake");
    cr_expect_neq(cmake_configure("b1", "'-DCOMPS=COMPONENTS;tls'"), 0,
                  "find_package(sock COMPONENTS tls) succeeded without libsock-tls");
    cr_expect(log_says("b1", "the component tls (libsock-tls) is not installed"),
              "the failure does not say libsock-tls is missing");
    /* The component is the only thing missing: libsock itself is found. */
    cr_expect_eq(cmake_configure("b2", ""), 0,
                 "find_package(sock) failed after uninstall-tls");
    cr_expect(log_says("b2", "sock::sock-tls defined: 0"),
              "sock::sock-tls is defined without libsock-tls");
    cr_expect_neq(cmake_configure("b3", "'-DCOMPS=COMPONENTS;nosuch'"), 0,
                  "find_package(sock COMPONENTS nosuch) succeeded");
    cr_expect(log_says("b3", "libsock has no component nosuch"),
              "the failure does not name the unknown component");
}
