/*
 * test_install.c - `make install` gives a library that other programs
 * build against with pkg-config and with CMake, shared and static, with
 * PREFIX and with DESTDIR; a man page for every public name that names the
 * codes the header names; the loader cache refreshed only where the loader
 * looks, and a hint elsewhere; one version everywhere.  Installs into
 * temporary directories only, removed afterwards.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <regex.h>
#include <sock.h>
#include <stdarg.h>
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

/* ---------------------------------------------------------------- CMake */

/* A project as a user writes it: find_package, then the imported targets. */
static const char cmake_src[] =
    "cmake_minimum_required(VERSION 3.13)\n"
    "project(app C)\n"
    "find_package(sock ${WANT} CONFIG REQUIRED)\n"
    "if(NOT sock_DIR MATCHES \"^${ROOT}/\")\n"
    "  message(FATAL_ERROR \"found sock in ${sock_DIR}, not under ${ROOT}\")\n"
    "endif()\n"
    "add_executable(app-shared app.c)\n"
    "target_link_libraries(app-shared PRIVATE sock::sock)\n"
    "add_executable(app-static app.c)\n"
    "target_link_libraries(app-static PRIVATE sock::sock-static)\n";

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

Test(install, cmake_find_package_shared_and_static, .init = make_tmp, .fini = remove_tmp,
     .timeout = 180)
{
    cr_assert_eq(sh("make -s --no-print-directory BUILD=%s install PREFIX=%s/usr >/dev/null",
                    plain_build(), tmp),
                 0, "make install PREFIX=%s/usr failed", tmp);
    cr_expect(file_exists(tmp, "usr/lib/cmake/sock/sockConfig.cmake"));
    cr_expect(file_exists(tmp, "usr/lib/cmake/sock/sockConfigVersion.cmake"));
    write_app();
    write_file("CMakeLists.txt", cmake_src);
    /* Only the temporary prefix is searched, so a libsock installed on this
     * machine cannot stand in for the one under test. */
    cr_assert_eq(sh("cd %s && cmake -S . -B b -DWANT=0.2 -DROOT=%s -DCMAKE_PREFIX_PATH=$PWD/usr "
                    "-DCMAKE_FIND_USE_CMAKE_SYSTEM_PATH=OFF >cmake.log 2>&1 && "
                    "cmake --build b >>cmake.log 2>&1 || { cat cmake.log; exit 1; }",
                    tmp, tmp),
                 0, "the CMake project did not build against %s/usr", tmp);
    cr_assert_eq(sh("cd %s && ./b/app-shared | grep -q 'installed libsock works' && "
                    "ldd ./b/app-shared | grep -q 'libsock.so.0 => %s/usr/lib/libsock.so.0'",
                    tmp, tmp),
                 0, "sock::sock: the program did not run with the installed libsock.so.0");
    cr_assert_eq(sh("cd %s && ./b/app-static | grep -q 'installed libsock works' && "
                    "! ldd ./b/app-static | grep -q libsock%s",
                    tmp, ""),
                 0, "sock::sock-static: the program did not run, or needs libsock.so");
    /* Another major version, or a newer one, is refused. */
    cr_expect_neq(sh("cd %s && cmake -S . -B b1 -DWANT=1.0 -DROOT=%s -DCMAKE_PREFIX_PATH=$PWD/usr "
                     "-DCMAKE_FIND_USE_CMAKE_SYSTEM_PATH=OFF >/dev/null 2>&1",
                     tmp, tmp),
                  0, "find_package(sock 1.0) accepted libsock %s", sock_version());
    cr_expect_neq(sh("cd %s && cmake -S . -B b2 -DWANT=0.99 -DROOT=%s -DCMAKE_PREFIX_PATH=$PWD/usr "
                     "-DCMAKE_FIND_USE_CMAKE_SYSTEM_PATH=OFF >/dev/null 2>&1",
                     tmp, tmp),
                  0, "find_package(sock 0.99) accepted libsock %s", sock_version());
}

/* ---------------------------------------------------------------- loader cache */

/* A stand-in for ldconfig: asked for its directories (-v) it names the one
 * in $tmp/loader-dir, and any other call (a cache rebuild) is recorded. */
static void write_fake_ldconfig(const char *loader_dir)
{
    char text[1024];
    snprintf(text, sizeof text,
             "#!/bin/sh\n"
             "case \" $* \" in *\" -v \"*) echo '%s: (from fake.conf:1)'; echo '\tlibx.so.1 -> libx.so.1'; exit 0;; esac\n"
             "echo \"$*\" >> '%s/ldconfig-ran'\n",
             loader_dir, tmp);
    write_file("ldconfig", text);
    char path[256];
    snprintf(path, sizeof path, "%s/ldconfig", tmp);
    cr_assert_eq(chmod(path, 0755), 0);
}

/* make install with extra arguments; its output in $tmp/out. */
static int install_with(const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "make -s --no-print-directory BUILD=%s install %s > %s/out 2>&1",
             plain_build(), args, tmp);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int out_has(const char *needle)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "grep -qF -- '%s' %s/out", needle, tmp);
    return system(cmd) == 0;
}

Test(install, other_prefix_gets_one_line_on_finding_the_library, .init = make_tmp,
     .fini = remove_tmp, .timeout = 120)
{
    /* The real ldconfig: a temporary directory is not one the loader reads. */
    char args[256], hint[256];
    snprintf(args, sizeof args, "PREFIX=%s", tmp);
    cr_assert_eq(install_with(args), 0, "make install %s failed", args);
    snprintf(hint, sizeof hint, "LD_LIBRARY_PATH=%s/lib", tmp);
    cr_expect(out_has("is not searched by the loader"), "no hint printed");
    cr_expect(out_has(hint), "the hint does not name %s", hint);
    cr_expect(out_has("-Wl,-rpath,") && out_has("/etc/ld.so.conf.d/"),
              "the hint does not offer an rpath or ld.so.conf.d");
    cr_expect_eq(sh("test $(grep -c . %s/out) -eq 1%s", tmp, ""), 0,
                 "make install -s printed more than one line");
}

Test(install, loader_directory_refreshes_the_cache_never_with_destdir, .init = make_tmp,
     .fini = remove_tmp, .timeout = 120)
{
    char libdir[128], args[512];
    snprintf(libdir, sizeof libdir, "%s/lib", tmp);
    write_fake_ldconfig(libdir);

    /* LIBDIR is one the (fake) loader searches. */
    snprintf(args, sizeof args, "PREFIX=%s LDCONFIG=%s/ldconfig", tmp, tmp);
    cr_assert_eq(install_with(args), 0, "make install %s failed", args);
    if (geteuid() == 0) {
        cr_expect(file_exists(tmp, "ldconfig-ran"), "ldconfig was not run as root for %s", libdir);
        cr_expect(out_has("loader cache refreshed"), "the refresh was not said");
    } else {
        cr_expect(!file_exists(tmp, "ldconfig-ran"), "ldconfig run by a non-root user");
        cr_expect(out_has("run ldconfig as root"), "no word on ldconfig for a non-root user");
    }
    cr_expect(!out_has("is not searched"), "a loader directory was called unsearched");

    /* The same with DESTDIR: staging for a package, never the cache, no hint. */
    cr_assert_eq(sh("rm -f %s/ldconfig-ran %s/out", tmp, tmp), 0);
    snprintf(libdir, sizeof libdir, "%s/stage/usr/lib", tmp);
    write_fake_ldconfig("/usr/lib");
    snprintf(args, sizeof args, "PREFIX=/usr DESTDIR=%s/stage LDCONFIG=%s/ldconfig", tmp, tmp);
    cr_assert_eq(install_with(args), 0, "make install %s failed", args);
    cr_expect(file_exists(tmp, "stage/usr/lib/libsock.so.0"), "DESTDIR install incomplete");
    cr_expect(!file_exists(tmp, "ldconfig-ran"), "ldconfig was run for a DESTDIR install");
    cr_expect_eq(sh("test ! -s %s/out%s", tmp, ""), 0, "make -s install DESTDIR=... printed something");
}

/* ---------------------------------------------------------------- version */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot read %s", path);
    static char buf[1 << 17];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *copy = strdup(buf);
    cr_assert_not_null(copy);
    return copy;
}

Test(version, file_header_library_and_tool_agree, .timeout = 20)
{
    char *v = slurp("VERSION");
    v[strcspn(v, "\n")] = '\0';
    int major = -1, minor = -1, patch = -1;
    cr_assert_eq(sscanf(v, "%d.%d.%d", &major, &minor, &patch), 3, "VERSION holds '%s'", v);
    cr_expect_str_eq(sock_version(), v, "sock_version() says %s, VERSION %s", sock_version(), v);
    cr_expect_eq(SOCK_VERSION_MAJOR, major, "sock.h SOCK_VERSION_MAJOR %d, VERSION %s",
                 SOCK_VERSION_MAJOR, v);
    cr_expect_eq(SOCK_VERSION_MINOR, minor, "sock.h SOCK_VERSION_MINOR %d, VERSION %s",
                 SOCK_VERSION_MINOR, v);

    char *argv[] = {(char *)sock_bin(), "--version", NULL};
    char *out = NULL, *expected = NULL;
    cr_assert_eq(proc_run(argv, NULL, 0, &out, NULL, NULL, 10000), 0, "sock --version failed");
    cr_assert_gt(asprintf(&expected, "sock %s (libsock %s)\n", v, v), 0);
    cr_expect_str_eq(out, expected);

    /* The soname follows the major version, and debian/changelog the release. */
    char soname[32];
    snprintf(soname, sizeof soname, "libsock.so.%d", major);
    cr_expect_eq(sh("readelf -d %s/libsock.so | grep -q 'SONAME.*\\[%s\\]'", plain_build(), soname),
                 0, "%s/libsock.so is not %s", plain_build(), soname);
    char *changelog = slurp("debian/changelog");
    char head[64];
    snprintf(head, sizeof head, "sock (%s)", v);
    cr_expect(strncmp(changelog, head, strlen(head)) == 0, "debian/changelog does not start with %s",
              head);
    char *news = slurp("CHANGELOG.md");
    snprintf(head, sizeof head, "## %s", v);
    cr_expect(strstr(news, head) != NULL, "CHANGELOG.md has no entry '%s'", head);
    free(v), free(out), free(expected), free(changelog), free(news);
}

/* ---------------------------------------------------------------- man pages */

/* The header read on its own, independently of scripts/gen-man3: every
 * public name, and for each function the codes the comment above it names
 * (the comment is the one right above its declaration group: a blank line
 * ends a group). */
#define MAX_NAMES 512

struct public_name {
    char name[64];
    int is_function;
    char codes[1024]; /* " -EINVAL SOCK_EOF ..." */
};

static struct public_name names[MAX_NAMES];
static size_t n_names;
static char own_codes[256]; /* " SOCK_EOF SOCK_ERESOLVE ...": our negative macros */

static int has_word(const char *list, const char *word)
{
    char key[80];
    snprintf(key, sizeof key, " %s ", word);
    char padded[1100];
    snprintf(padded, sizeof padded, "%s ", list);
    return strstr(padded, key) != NULL;
}

/* Append to list every code in text: -EXXX, and our own negative codes. */
static void collect_codes(const char *text, char *list, size_t len)
{
    regex_t re;
    cr_assert_eq(regcomp(&re, "(-E[A-Z0-9]+|SOCK_[A-Z0-9_]+)", REG_EXTENDED), 0);
    regmatch_t m[2];
    const char *p = text;
    while (regexec(&re, p, 2, m, 0) == 0) {
        char code[64];
        size_t n = (size_t)(m[1].rm_eo - m[1].rm_so);
        int word_start = m[1].rm_so == 0 || !(isalnum((unsigned char)p[m[1].rm_so - 1]) ||
                                               p[m[1].rm_so - 1] == '_');
        if (n < sizeof code && word_start) {
            memcpy(code, p + m[1].rm_so, n);
            code[n] = '\0';
            int ours = strncmp(code, "SOCK_", 5) == 0;
            if ((!ours || has_word(own_codes, code)) && !has_word(list, code) &&
                strlen(list) + n + 2 < len) {
                strcat(list, " ");
                strcat(list, code);
            }
        }
        p += m[1].rm_eo;
    }
    regfree(&re);
}

static void add_name(const char *name, int is_function, const char *comment)
{
    for (size_t i = 0; i < n_names; i++)
        if (strcmp(names[i].name, name) == 0)
            return;
    cr_assert_lt(n_names, (size_t)MAX_NAMES);
    struct public_name *pn = &names[n_names++];
    snprintf(pn->name, sizeof pn->name, "%s", name);
    pn->is_function = is_function;
    pn->codes[0] = '\0';
    if (is_function)
        collect_codes(comment, pn->codes, sizeof pn->codes);
}

static void read_header(void)
{
    char *h = slurp("include/sock.h");
    regex_t own, def, fn, td, tdfn;
    cr_assert_eq(regcomp(&own, "^#define (SOCK_[A-Z0-9_]+) +\\(-[0-9]+\\)", REG_EXTENDED | REG_NEWLINE), 0);
    cr_assert_eq(regcomp(&def, "^#define ([A-Za-z_][A-Za-z0-9_]*)", REG_EXTENDED), 0);
    cr_assert_eq(regcomp(&fn, "^[a-z].*[ *](sock_[a-z0-9_]+)\\(", REG_EXTENDED), 0);
    cr_assert_eq(regcomp(&td, "^(typedef .* |} *)([a-z_0-9]+_t);", REG_EXTENDED), 0);
    cr_assert_eq(regcomp(&tdfn, "^typedef .*\\(\\*([a-z_0-9]+)\\)", REG_EXTENDED), 0);
    regmatch_t m[3];
    own_codes[0] = '\0';
    for (const char *p = h; regexec(&own, p, 2, m, REG_NOTBOL * (p != h)) == 0; p += m[1].rm_eo)
        if (strlen(own_codes) + (size_t)(m[1].rm_eo - m[1].rm_so) + 2 < sizeof own_codes)
            snprintf(own_codes + strlen(own_codes), sizeof own_codes - strlen(own_codes), " %.*s",
                     (int)(m[1].rm_eo - m[1].rm_so), p + m[1].rm_so);
    cr_assert_neq(own_codes[0], '\0', "no negative SOCK_ codes found in sock.h");

    static char comment[8192];
    comment[0] = '\0';
    int in_comment = 0;
    char *next = NULL;
    for (char *line = h; line && *line; line = next) {
        char *nl = strchr(line, '\n');
        next = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        if (!*line && !in_comment) {
            comment[0] = '\0'; /* a blank line ends a declaration group */
            continue;
        }
        if (!in_comment && strncmp(line, "/*", 2) == 0) {
            comment[0] = '\0';
            in_comment = 1;
        }
        if (in_comment) {
            if (strlen(comment) + strlen(line) + 2 < sizeof comment) {
                strcat(comment, line);
                strcat(comment, "\n");
            }
            if (strstr(line, "*/"))
                in_comment = 0;
            continue;
        }
        if (regexec(&fn, line, 2, m, 0) == 0) {
            line[m[1].rm_eo] = '\0';
            add_name(line + m[1].rm_so, 1, comment);
        } else if (regexec(&def, line, 2, m, 0) == 0) {
            line[m[1].rm_eo] = '\0';
            if (strcmp(line + m[1].rm_so, "SOCK_H") != 0)
                add_name(line + m[1].rm_so, 0, "");
        } else if (regexec(&tdfn, line, 2, m, 0) == 0) {
            line[m[1].rm_eo] = '\0';
            add_name(line + m[1].rm_so, 0, "");
        } else if (regexec(&td, line, 3, m, 0) == 0) {
            line[m[2].rm_eo] = '\0';
            add_name(line + m[2].rm_so, 0, "");
        }
    }
    regfree(&own), regfree(&def), regfree(&fn), regfree(&td), regfree(&tdfn);
    free(h);
}

/* The text of man3/NAME.3 under dir, following one ".so" link. */
static char *read_page(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.3", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    fclose(f);
    char *text = slurp(path);
    if (strncmp(text, ".so man3/", 9) == 0) {
        char target[128];
        snprintf(target, sizeof target, "%.*s", (int)strcspn(text + 9, ".\n"), text + 9);
        free(text);
        return read_page(dir, target);
    }
    return text;
}

Test(install, man_page_for_every_public_name_with_the_header_codes, .init = make_tmp,
     .fini = remove_tmp, .timeout = 120)
{
    cr_assert_eq(sh("make -s --no-print-directory BUILD=%s install PREFIX=%s >/dev/null",
                    plain_build(), tmp),
                 0, "make install PREFIX=%s failed", tmp);
    char man3[128];
    snprintf(man3, sizeof man3, "%s/share/man/man3", tmp);
    cr_expect(file_exists(tmp, "share/man/man1/sock.1"), "sock.1 not installed");
    read_header();
    cr_assert_gt(n_names, 60, "only %zu public names found in sock.h", n_names);

    /* Every function the library exports is declared in the header. */
    FILE *api = popen("grep -ho 'SOCK_API [^(]*(' src/*.c | grep -o 'sock_[a-z0-9_]*(' | tr -d '('", "r");
    cr_assert_not_null(api);
    char fname[128];
    size_t exported = 0;
    while (fgets(fname, sizeof fname, api)) {
        fname[strcspn(fname, "\n")] = '\0';
        exported++;
        int found = 0;
        for (size_t i = 0; i < n_names; i++)
            found |= strcmp(names[i].name, fname) == 0;
        cr_expect(found, "%s is SOCK_API in src/ but not declared in include/sock.h", fname);
    }
    pclose(api);
    cr_expect_gt(exported, 60);

    for (size_t i = 0; i < n_names; i++) {
        char *page = read_page(man3, names[i].name);
        cr_expect_not_null(page, "no man page for %s in %s", names[i].name, man3);
        if (!page)
            continue;
        cr_expect(strstr(page, names[i].name) != NULL || strchr(names[i].name, '_') == NULL,
                  "the page of %s does not name it", names[i].name);
        if (names[i].is_function) {
            /* The codes of its ERRORS section: the same set as the header's. */
            char errors[1024] = "", *sec = strstr(page, "\n.SH ERRORS\n");
            if (sec) {
                char *end = strstr(sec + 1, "\n.SH ");
                if (end)
                    *end = '\0';
                for (char *p = sec; (p = strstr(p, "\\-")); )
                    memmove(p, p + 1, strlen(p));
                collect_codes(sec, errors, sizeof errors);
            }
            char missing[1024] = "", extra[1024] = "";
            char a[1024], b[1024];
            snprintf(a, sizeof a, "%s", names[i].codes);
            for (char *c = strtok(a, " "); c; c = strtok(NULL, " "))
                if (!has_word(errors, c))
                    strcat(strcat(missing, " "), c);
            snprintf(b, sizeof b, "%s", errors);
            for (char *c = strtok(b, " "); c; c = strtok(NULL, " "))
                if (!has_word(names[i].codes, c))
                    strcat(strcat(extra, " "), c);
            cr_expect(!missing[0] && !extra[0],
                      "%s(3) ERRORS: missing%s; not in the header:%s (header:%s)", names[i].name,
                      missing[0] ? missing : " none", extra[0] ? extra : " none", names[i].codes);
        }
        free(page);
    }

    /* man finds them by name, and sock(1) points to them. */
    cr_expect_eq(sh("MANPAGER=cat man -M %s/share/man 3 sock_connect 2>/dev/null | grep -q 'sock_connect'%s",
                    tmp, ""),
                 0, "man sock_connect does not answer");
    cr_expect_eq(sh("grep -q '^\\.BR sock (3)' docs/sock.1%s%s", "", ""), 0,
                 "docs/sock.1 has no SEE ALSO sock(3)");
    cr_expect_eq(sh("grep -q '^\\.TH SOCK 1 .*\"sock %s\"' %s/share/man/man1/sock.1", sock_version(),
                    tmp),
                 0, "the installed sock.1 does not say sock %s", sock_version());
    cr_expect_eq(sh("grep -q '^\\.TH SOCK_CONNECT 3 .*\"libsock %s\"' %s/share/man/man3/sock_connect.3",
                    sock_version(), tmp),
                 0, "sock_connect(3) does not say libsock %s", sock_version());
}
