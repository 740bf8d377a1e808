#ifndef SOCK_BENCH_H
#define SOCK_BENCH_H
/* Run the library-vs-raw benchmarks with command-line arguments (argv[0] is
 * the program or subcommand name); returns the exit status. */
int bench_main(int argc, char **argv);
#endif
