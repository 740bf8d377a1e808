#ifndef SOCK_BENCH_H
#define SOCK_BENCH_H
/*
 * The benchmarks, callable from build/sock-bench (bench/main.c) and from
 * `sock bench` (tools/bench.c): the same code for both.
 */

/* Run the benchmarks with command-line arguments (argv[0] is the program or
 * subcommand name) and return the exit status: 0 every target met, 3 a
 * target missed, 2 bad arguments, 1 an error.  With "echo-load" or
 * "free-port" as the first argument it runs that helper instead (used by
 * scripts/run-bench). */
int bench_main(int argc, char **argv);

/* `echo-load HOST PORT [--clients N] [--size B] [--seconds S]`: N clients
 * ping-pong B-byte messages with an echo server for S seconds, every echoed
 * byte checked; prints requests per second.  argv[0] is "echo-load".
 * Returns 0, 1 on a network error or a wrong byte, 2 on bad arguments. */
int bench_echo_load(int argc, char **argv);

#endif
