/*
 * test_install.c - `make install` gives libsock-tls to other programs the
 * usual way: `cc app.c $(pkg-config --cflags --libs sock-tls)`, shared
 * (libsock-tls.so.0 then pulls libsock.so.0) and static.  The program does
 * a verified handshake with itself over loopback.  Installs into a
 * temporary directory only, removed afterwards.
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

Test(install, pkgconfig_shared_and_static, .init = install_setup, .fini = install_teardown,
     .timeout = 180)
{
    const char *build = getenv("SOCK_PLAIN_BUILD");
    if (!build || !*build)
        build = "build/clang";
    cr_assert_eq(sh("make -s --no-print-directory BUILD=%s install PREFIX=%s >/dev/null", build,
                    tmp),
                 0, "make install PREFIX=%s failed", tmp);
    const char *files[] = {"include/sock_tls.h", "lib/libsock-tls.a", "lib/libsock-tls.so",
                           "lib/libsock-tls.so.0", "lib/pkgconfig/sock-tls.pc"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        cr_expect_eq(sh("test -e %s/%s", tmp, files[i]), 0, "%s was not installed", files[i]);
    FILE *f;
    char path[128];
    snprintf(path, sizeof path, "%s/app.c", tmp);
    cr_assert_not_null(f = fopen(path, "w"));
    fputs(app_src, f);
    fclose(f);
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
