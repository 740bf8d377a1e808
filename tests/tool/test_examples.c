/*
 * test_examples.c - the course's examples run as documented: the seed's
 * server and client talk over 127.0.0.1 and ::1; failures are reported.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void example(char *path, size_t len, const char *name)
{
    snprintf(path, len, "%s/%s", examples_dir(), name);
}

Test(examples, seed_client_and_server, .timeout = 30)
{
    const char *hosts[] = {"127.0.0.1", "::1"};
    char server[512], client[512];
    example(server, sizeof server, "server");
    example(client, sizeof client, "client");
    for (int f = 0; f < 2; f++) {
        char *sargv[] = {server, (char *)hosts[f], "0", NULL};
        proc_t srv;
        cr_assert_eq(proc_start(&srv, sargv), 0, "cannot start %s", server);
        char buf[512] = "";
        cr_assert(proc_wait_for(srv.err, "listening on", buf, sizeof buf, 5000), "%s", buf);
        char port[8];
        snprintf(port, sizeof port, "%d", parse_listening_port(buf));
        char *cargv[] = {client, (char *)hosts[f], port, NULL};
        char *out = NULL, *err = NULL;
        int st = proc_run(cargv, NULL, 0, &out, NULL, &err, 10000);
        cr_expect_eq(st, 0, "client exit %d: %s", st, err);
        cr_expect(strstr(out, "client got: hola, cliente") != NULL, "client printed: %s", out);
        /* "Puerto 80 ??": the client's port is an ephemeral one, not the server's. */
        const char *line = strstr(out, "client port: ");
        cr_assert_not_null(line, "no client port line: %s", out);
        const char *space = strchr(line + 13, ' ');
        const char *colon = line;
        for (const char *q = line + 13; *q && q < space; q++)
            if (*q == ':')
                colon = q;
        cr_expect_neq(atoi(colon + 1), atoi(port), "client port equals the server's: %s", out);
        cr_expect_gt(atoi(colon + 1), 0, "%s", out);
        char *sout = proc_read_all(srv.out, NULL, 5000);
        cr_expect(sout && strstr(sout, "server got: hola, servidor"), "server printed: %s", sout);
        cr_expect_eq(proc_wait(&srv, 5000), 0, "server did not exit 0");
        free(out), free(err), free(sout);
    }
}

Test(examples, client_reports_refusal, .timeout = 20)
{
    char client[512];
    example(client, sizeof client, "client");
    char *argv[] = {client, "127.0.0.1", "1", NULL};
    char *err = NULL;
    int st = proc_run(argv, NULL, 0, NULL, NULL, &err, 10000);
    cr_expect_eq(st, 1);
    cr_expect(strstr(err, "connect 127.0.0.1:1: Connection refused") != NULL, "%s", err);
    free(err);
    char *usage[] = {client, NULL};
    cr_expect_eq(proc_run(usage, NULL, 0, NULL, NULL, NULL, 10000), 2);
}
