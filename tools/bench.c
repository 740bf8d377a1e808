/*
 * bench.c - `sock bench`: the library against raw system calls, the same
 * code as `make bench` (bench/bench.c).
 */
#include "../bench/bench.h"
#include "cli.h"
#include "util.h"

int cmd_bench(const struct cli_opts *o, int argc, char **argv)
{
    /* Every run of the benchmark is bounded by its own watchdog; a
     * --timeout here would silently mean nothing. */
    if (o->timeout_ms >= 0) {
        tool_err("bench", "--timeout does not apply to bench (see 'sock bench --help')");
        return EXIT_USAGE;
    }
    return bench_main(argc, argv);
}
