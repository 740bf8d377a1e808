/*
 * test_parse.c - the tool's argument parsers called directly, as a fuzzer
 * will call them (cli.h): they fill their struct, return 0 or 2, open no
 * descriptor, and can be called again and again in one process.
 */
#include "../../tools/cli.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Descriptors open in this process. */
static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    cr_assert(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static const struct cli_opts none = {.timeout_ms = -1, .family = AF_UNSPEC, .progress = -1};

Test(parse, commands_fill_their_args_without_side_effects, .timeout = 10)
{
    int fds = open_fds();
    for (int round = 0; round < 3; round++) {
        struct connect_args c;
        char *ca[] = {"connect", "[::1]:8080", NULL};
        cr_expect_eq(cli_parse_connect(&none, 2, ca, &c), 0);
        cr_expect_str_eq(c.host, "::1");
        cr_expect_str_eq(c.port, "8080");

        struct listen_args l;
        char *la[] = {"listen", "-k", ":0", NULL};
        cr_expect_eq(cli_parse_listen(&none, 3, la, &l), 0);
        cr_expect(l.keep && !l.host[0] && strcmp(l.port, "0") == 0);

        struct echo_args e;
        char *ea[] = {"echo", "--idle-timeout", "30", "-v", "7000", NULL};
        cr_expect_eq(cli_parse_echo(&none, 5, ea, &e), 0);
        cr_expect(e.idle_ms == 30 && e.verbose && e.backlog == -1);

        struct relay_args r;
        char *ra[] = {"relay", "--max-chunk", "1", "9000", "localhost", "nosuchservice", NULL};
        /* Service names are looked up by the command, not the parser. */
        cr_expect_eq(cli_parse_relay(&none, 6, ra, &r), 0);
        cr_expect(r.max_chunk == 1 && strcmp(r.tport, "nosuchservice") == 0);

        struct resolve_args v;
        char *va[] = {"resolve", "--passive", "*", NULL};
        cr_expect_eq(cli_parse_resolve(&none, 3, va, &v), 0);
        cr_expect(v.passive && strcmp(v.service, "0") == 0);

        char *bad[] = {"connect", "-x", NULL};
        cr_expect_eq(cli_parse_connect(&none, 2, bad, &c), 2);
        char *help[] = {"listen", "--help", NULL};
        cr_expect_eq(cli_parse_listen(&none, 2, help, &l), 0);
        cr_expect(l.help);
    }
    cr_expect_eq(open_fds(), fds, "a parser left a descriptor open");
}

Test(parse, globals_before_and_after_the_command, .timeout = 10)
{
    char *argv[] = {"sock", "--trace", "connect", "-4", "--timeout=50", "h", "80", "--", "-6",
                    NULL};
    char *words[10];
    struct cli_command_line cl;
    cr_assert_eq(tool_parse_globals(9, argv, words, &cl), 0);
    cr_expect(cl.action == CLI_RUN && cl.opts.trace && cl.opts.timeout_ms == 50);
    cr_expect_eq(cl.opts.family, AF_INET, "-6 after -- belongs to the command");
    cr_expect_eq(cl.argc, 5);
    cr_expect_str_eq(cl.argv[0], "connect");
    cr_expect_str_eq(cl.argv[4], "-6");
    cr_expect_null(cl.argv[5]);

    char *v[] = {"sock", "-V", NULL};
    cr_expect_eq(tool_parse_globals(2, v, words, &cl), 0);
    cr_expect_eq(cl.action, CLI_VERSION);
    char *z[] = {"sock", "connect", "--timeout", "0", NULL};
    cr_expect_eq(tool_parse_globals(4, z, words, &cl), 2);
}
