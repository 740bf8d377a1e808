/*
 * bench.c - `sock bench`: the library against raw system calls, the same
 * code as `make bench` (bench/bench.c).
 */
#include "../bench/bench.h"
#include "cli.h"

int cmd_bench(const struct cli_opts *o, int argc, char **argv)
{
    (void)o;
    return bench_main(argc, argv);
}
