/*
 * harness.h - what the fuzz targets of tests/fuzz share.
 *
 * Each target is one libFuzzer program (clang -fsanitize=fuzzer,address,
 * undefined): libFuzzer calls LLVMFuzzerTestOneInput with every input it
 * makes, and a crash, a sanitizer report or a failed fuzz_check() stops the
 * run with the input saved as a reproducer.  See tests/fuzz/README.md.
 */
#ifndef SOCK_FUZZ_HARNESS_H
#define SOCK_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry points (declared here for -Wmissing-prototypes). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the code under test: when it does not hold, print what
 * was expected and where, and abort, so that libFuzzer keeps the input. */
#define fuzz_check(cond, ...)                                                \
    do {                                                                     \
        if (!(cond))                                                         \
            fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);               \
    } while (0)

_Noreturn void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Move this process into a network namespace of its own in which only the
 * loopback device exists and is up, so that names the fuzzer invents and
 * hands to getaddrinfo() can never send a DNS query off this machine.
 * Also refuses (exits 1 with the reason) when the name service would reach
 * outside the namespace anyway: nscd, systemd-resolved and mDNS answer
 * through Unix sockets, which a network namespace does not separate. */
void fuzz_enter_private_netns(void);

/* 1 when host (brackets allowed) is a numeric loopback address
 * (127.0.0.0/8, ::1, ::ffff:127.x.y.z) or the wildcard (NULL, "" or "*"):
 * the only hosts a target may bind. */
int fuzz_host_is_local(const char *host);

/* The lowest descriptor number not in use: equal before and after an input
 * when the code under test leaked no descriptor. */
int fuzz_lowest_free_fd(void);

#endif
