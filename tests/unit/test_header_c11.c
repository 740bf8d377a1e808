/*
 * test_header_c11.c - include/sock.h as its users see it: strict C11 and
 * -pedantic, without _GNU_SOURCE (which the project's own build defines).
 *
 * Two checks.  This file includes sock.h with _GNU_SOURCE undefined and
 * pedantic diagnostics turned into errors, and uses every type and macro of
 * the header, so the test binary does not even build if the header needs
 * GNU extensions.  And at run time a compiler is asked to check a user's
 * file with exactly `-std=c11 -pedantic-errors` (and C++ too, since the
 * header promises extern "C"), when a compiler and the header are found.
 */
#undef _GNU_SOURCE
#pragma GCC diagnostic push
#pragma GCC diagnostic error "-Wpedantic"
#include "sock.h"
#pragma GCC diagnostic pop

#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Static_assert(SOCK_EOF < 0 && SOCK_ERESOLVE < 0 && SOCK_ECLOSED < 0 && SOCK_END < 0,
               "own codes negative");
_Static_assert(SOCK_ADDRSTRLEN >= sizeof "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
               "longest address fits");
_Static_assert(SOCK_ERRLEN > 0, "error buffer");

Test(header, usable_without_gnu_source, .timeout = 5)
{
    /* Every type and the calls of the first steps, from this strict TU. */
    sock_t s;
    sock_addr_t addr;
    sock_trace_fn fn = NULL;
    sock_trace_event_t ev;
    memset(&ev, 0, sizeof ev);
    sock_init(&s);
    ssize_t n = sock_send(&s, "x", 1);
    cr_assert_eq(n, -ENOTCONN);
    cr_assert_eq(sock_resolve(&s, "127.0.0.1", "1", 0, &addr, 1), 1);
    cr_assert_str_eq(addr.text, "127.0.0.1:1");
    sock_set_trace(fn, NULL);
    cr_assert_eq(sock_close(&s), 0);
    cr_assert_eq(SOCK_VERSION_MAJOR >= 0 && SOCK_VERSION_MINOR >= 0, 1);
}

/* Where is include/sock.h?  $SOCK_INCLUDE, else ./include (the suite runs
 * from the top of the tree). */
static const char *include_dir(void)
{
    const char *env = getenv("SOCK_INCLUDE");
    if (env && *env)
        return env;
    return access("include/sock.h", R_OK) == 0 ? "include" : NULL;
}

static const char user_program[] =
    "#include <sock.h>\n"
    "#include <stdio.h>\n"
    "int main(void)\n"
    "{\n"
    "    sock_t s;\n"
    "    sock_init(&s);\n"
    "    char buf[SOCK_ADDRSTRLEN];\n"
    "    int rc = sock_local_addr(&s, buf, sizeof buf);\n"
    "    ssize_t n = sock_recv(&s, buf, sizeof buf);\n"
    "    printf(\"%s %s %d\\n\", sock_strerror(rc), sock_error(&s), (int)n);\n"
    "    return sock_close(&s);\n"
    "}\n";

/* Check user_program with compiler and flags; fails the test on any
 * diagnostic.  Returns the exit status. */
static int compile_user_program(const char *compiler, const char *flags, const char *suffix)
{
    char src[64];
    snprintf(src, sizeof src, "/tmp/sock-header-check-%ld%s", (long)getpid(), suffix);
    FILE *f = fopen(src, "w");
    cr_assert_not_null(f);
    fputs(user_program, f);
    fclose(f);
    /* system() and a file rather than popen(), which strict C11 without
     * feature macros does not declare. */
    char log[96], cmd[512];
    snprintf(log, sizeof log, "%s.log", src);
    snprintf(cmd, sizeof cmd, "%s %s -I'%s' -fsyntax-only '%s' >'%s' 2>&1", compiler, flags,
             include_dir(), src, log);
    int status = system(cmd);
    char out[2048] = "";
    f = fopen(log, "r");
    if (f) {
        size_t len = fread(out, 1, sizeof out - 1, f);
        out[len] = '\0';
        fclose(f);
    }
    unlink(src);
    unlink(log);
    cr_assert_eq(status, 0, "%s\n%s", cmd, out);
    return status;
}

static int have(const char *prog)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

Test(header, compiles_as_strict_c11_and_cxx, .timeout = 60)
{
    if (!include_dir())
        cr_skip_test("include/sock.h not found (run from the top of the tree or set "
                     "SOCK_INCLUDE)");
    const char *c_flags = "-std=c11 -pedantic-errors -Wall -Wextra -Werror -Wshadow "
                          "-Wstrict-prototypes -Wmissing-prototypes";
    int compilers = 0;
    static const char *const cc[] = {"cc", "clang"};
    for (int i = 0; i < 2; i++)
        if (have(cc[i]))
            compilers++, compile_user_program(cc[i], c_flags, ".c");
    static const char *const cxx[] = {"c++", "clang++"};
    for (int i = 0; i < 2; i++)
        if (have(cxx[i]))
            compilers++,
                compile_user_program(cxx[i], "-std=c++11 -pedantic-errors -Wall -Wextra -Werror",
                                     ".cc");
    if (!compilers)
        cr_skip_test("no compiler found");
}
