/*
 * tools/trace/trace.h - what the parts of `sock trace` share.
 *
 * `sock trace -- PROGRAM` runs PROGRAM with libsocktrace.so preloaded
 * (trace/, a library of its own) and tells the story of its sockets from
 * the records the library sends (trace/record.h).
 *
 *   trace.c    options, the checks before running (static, setuid, Go),
 *              starting the program, the loop that reads records
 *   elf.c      just enough ELF to answer those checks
 *   render.c   records to lines in the seed's words; the diagnoses and the
 *              summary
 *   text.c     every sentence in English and Spanish
 *   svg.c      the run as a sequence diagram
 */
#ifndef SOCK_TOOL_TRACE_H
#define SOCK_TOOL_TRACE_H

#include "../../trace/record.h"

#include <stdio.h>

struct cli_opts;

struct trace_opts {
    int help;
    int hexdump;          /* -x */
    int lang_es;          /* --lang es (or es_* in the environment) */
    const char *out;      /* -o FILE, NULL: standard error */
    const char *svg;      /* --svg FILE, NULL: none */
    int argc;             /* the program and its arguments */
    char **argv;
};

/* Parse trace's arguments (argv[0] "trace").  No side effect but the
 * one-line usage error on stderr.  Returns 0 or EXIT_USAGE. */
int trace_parse_opts(const struct cli_opts *o, int argc, char **argv, struct trace_opts *opt);

/* ------------------------------------------------------------------ elf */

struct elf_info {
    int is_elf;
    int dynamic;          /* has PT_INTERP: the dynamic loader runs it */
    int go;               /* a Go program (its own system calls) */
    /* Sanitizer runtimes it needs (libasan.so.8 ...), space-separated. */
    char sanitizers[256];
};

/* Inspect the file at path.  Returns 0, or -errno if it cannot be read.
 * A file that is not ELF gets is_elf 0 (a script, for instance). */
int trace_elf_inspect(const char *path, struct elf_info *info);

/* --------------------------------------------------------------- render */

struct trace_render;

struct trace_render *trace_render_new(FILE *out, const struct trace_opts *opt, int main_pid);
/* One record, as it arrives. */
void trace_render_record(struct trace_render *r, const struct trace_rec *rec);
/* The main process ended with wait status status; then the summary. */
void trace_render_end(struct trace_render *r, int status);
/* Mistakes reported so far. */
int trace_render_mistakes(const struct trace_render *r);
/* The steps and mistakes printed, in order, for the diagram: event i
 * (0 on), or -1 past the last. */
struct trace_event_view {
    int pid, step, mistake;
    const char *text;   /* the step's line, or the mistake's sentence */
    const char *state;  /* the TCP state shown after the step, "" if none */
};
int trace_render_event(const struct trace_render *r, int i, struct trace_event_view *v);
const char *trace_render_program(const struct trace_render *r);
int trace_render_spanish(const struct trace_render *r);

/* svg.c: write the run as a sequence diagram, one lifeline per process.
 * 0 or -errno. */
int trace_render_svg(const struct trace_render *r, FILE *f);
void trace_render_free(struct trace_render *r);

/* ----------------------------------------------------------------- text */

enum trace_text {
    TT_START, TT_START_FORK, TT_EXEC, TT_FORK, TT_EXIT, TT_KILLED, TT_STATUS,
    TT_END_OF_STREAM, TT_PARTIAL, TT_BYTES, TT_PORT_CHOSEN, TT_IMPLICIT_BIND,
    TT_KERNEL_KEEPS, TT_GONE, TT_UNREAD, TT_LOCAL, TT_PEER,
    TT_MISTAKE, TT_NOTE,
    TT_D1_SEND, TT_D1_CLOSE, TT_D1_EXIT, TT_D2, TT_D2_NOSEND, TT_D3_CLOSE, TT_D3_EXIT,
    TT_D4, TT_D4_OTHER, TT_D5_ACEP, TT_D5_SOCK, TT_D5_LEAK, TT_D5_GROWTH, TT_D6_ACCEPT,
    TT_D6_RECV, TT_D7, TT_D8_SEND, TT_D8_RECV,
    TT_SUMMARY, TT_NO_MISTAKES, TT_N_MISTAKES, TT_AT_STEP, TT_UNSEEN,
    TT_SVG_TITLE, TT_COUNT
};

const char *trace_text(int es, enum trace_text id);

#endif
