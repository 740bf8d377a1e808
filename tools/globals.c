/*
 * globals.c - the global options of `sock`, before or after COMMAND; see
 * tool_parse_globals() in cli.h.
 */
#include "cli.h"
#include "util.h"

#include <string.h>
#include <sys/socket.h>

static const struct option global_opts[] = {
    {"trace", no_argument, NULL, 't'},     {"timeout", required_argument, NULL, 'T'},
    {"progress", no_argument, NULL, 'p'},  {"no-progress", no_argument, NULL, 'P'},
    {"help", no_argument, NULL, 'h'},      {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

/* One global option (its getopt value) with its value, if any.  --timeout 0
 * would time out before anything could happen, so 1 ms is the least. */
static int apply(struct cli_command_line *cl, int ch, const char *value)
{
    long ms;
    switch (ch) {
    case 't':
        cl->opts.trace = 1;
        return 0;
    case 'T':
        if (tool_parse_number(NULL, "--timeout", value, 1, CLI_TIMEOUT_MAX, "milliseconds", &ms))
            return EXIT_USAGE;
        cl->opts.timeout_ms = (int)ms;
        return 0;
    case '4':
        cl->opts.family = AF_INET;
        return 0;
    case '6':
        cl->opts.family = AF_INET6;
        return 0;
    case 'n':
        cl->opts.numeric = 1;
        return 0;
    case 'p':
        cl->opts.progress = 1;
        return 0;
    case 'P':
        cl->opts.progress = 0;
        return 0;
    case 'h':
        cl->action = CLI_HELP;
        return 0;
    case 'V':
        cl->action = CLI_VERSION;
        return 0;
    }
    return EXIT_USAGE; /* '?': tool_getopt() has said what was wrong */
}

/* Is this word after COMMAND a global option?  Its getopt value, with
 * *value pointing at "=MS" text for --timeout=MS (NULL when the value is
 * the next word); 0 when it is the command's. */
static int global_word(const char *w, const char **value)
{
    static const struct {
        const char *word;
        int ch;
    } words[] = {{"--trace", 't'},    {"--timeout", 'T'},  {"-4", '4'},
                 {"-6", '6'},         {"-n", 'n'},         {"--progress", 'p'},
                 {"--no-progress", 'P'}};
    *value = NULL;
    if (strncmp(w, "--timeout=", 10) == 0) {
        *value = w + 10;
        return 'T';
    }
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(w, words[i].word) == 0)
            return words[i].ch;
    return 0;
}

/* The words after COMMAND: the global ones applied, the others copied. */
static int hoist(int argc, char **argv, int first, char **words, struct cli_command_line *cl)
{
    int n = 0, rc;
    words[n++] = argv[first];
    for (int i = first + 1; i < argc; i++) {
        const char *value;
        int ch = strcmp(argv[i], "--") == 0 ? 0 : global_word(argv[i], &value);
        if (!ch) {
            words[n++] = argv[i];
            /* After "--" everything is the command's. */
            if (strcmp(argv[i], "--") == 0)
                while (++i < argc)
                    words[n++] = argv[i];
            continue;
        }
        if (ch == 'T' && !value) {
            if (i + 1 >= argc) {
                tool_err(NULL, "option '--timeout' needs a value (see 'sock --help')");
                return EXIT_USAGE;
            }
            value = argv[++i];
        }
        if ((rc = apply(cl, ch, value)) != 0)
            return rc;
    }
    words[n] = NULL;
    cl->argc = n;
    return 0;
}

int tool_parse_globals(int argc, char **argv, char **words, struct cli_command_line *cl)
{
    *cl = (struct cli_command_line){
        .opts = {.trace = 0, .timeout_ms = -1, .family = AF_UNSPEC, .progress = -1, .numeric = 0},
        .action = CLI_RUN,
        .argc = 0,
        .argv = words,
    };
    words[0] = NULL;
    int ch, rc;
    optind = 0;
    while ((ch = tool_getopt(NULL, argc, argv, "46nhV", global_opts)) != -1)
        if ((rc = apply(cl, ch, optarg)) != 0)
            return rc;
    if (cl->action != CLI_RUN)
        return 0;
    if (optind >= argc) {
        tool_err(NULL, "missing COMMAND (see 'sock --help')");
        return EXIT_USAGE;
    }
    return hoist(argc, argv, optind, words, cl);
}
