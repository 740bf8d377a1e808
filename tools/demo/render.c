/*
 * tools/demo/render.c - draw each step on the terminal in two columns, client on
 * the left and server on the right, as the slides draw them, with the
 * step's segments as arrows between the two and the explanation below.
 *
 * Every line fits the width chosen by demo_render_width() (the terminal's,
 * $COLUMNS, or 80), and text is wrapped at spaces, never inside a word.
 * Below 72 columns the two sides are drawn one after the other instead of
 * side by side.  Colour only when the output is a terminal (and NO_COLOR is
 * not set); box-drawing characters and accents only when the locale is
 * UTF-8, plain ASCII (accents dropped) otherwise, so a log file or a C
 * locale stays readable.
 */
#include "demo.h"

#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Narrower than this, the two sides are stacked. */
#define TWO_COLUMNS_MIN 72
#define MAX_LINES 64
/* The widest a segment's arrow gets. */
#define ARROW_MAX 36
/* "  +0.1899s ": where an arrow line's text starts. */
#define TIME_W 13

struct cell_line {
    char text[DEMO_LINE_BYTES];
    const char *color;
};

struct column {
    struct cell_line l[MAX_LINES];
    int n;
};

struct demo_render {
    FILE *out;
    const struct demo_run *run;
    int color, utf8;
    int width;       /* every line has at most this many characters */
    int err;         /* errno of the first failed write, 0 if none */
    /* Glyphs, UTF-8 or ASCII. */
    const char *hbar, *vbar, *rarrow, *larrow, *arrow_r, *dot, *dash;
};

/* ANSI colours; empty when colour is off. */
static const char *c_reset(const struct demo_render *r) { return r->color ? "\033[0m" : ""; }
#define C_BOLD "\033[1m"
#define C_DIM "\033[2m"
#define C_CLI "\033[36m"
#define C_SRV "\033[35m"
#define C_STATE "\033[1;32m"
#define C_RED "\033[1;31m"
#define C_YEL "\033[33m"
#define C_GRN "\033[32m"
#define C_MAG "\033[1;35m"

/* ---------------------------------------------------------------- width */

/* Characters (code points) of UTF-8 text: every character the demo prints
 * takes one column, so this is its display width. */
static int text_width(const char *s)
{
    int w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

static const char *next_char(const char *s)
{
    for (s++; ((unsigned char)*s & 0xc0) == 0x80; s++)
        ;
    return s;
}

int demo_render_width(int fd)
{
    int cols = 0;
    struct winsize ws;
    if (isatty(fd) && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        cols = ws.ws_col;
    } else {
        const char *e = getenv("COLUMNS");
        char *end;
        long v = e && *e ? strtol(e, &end, 10) : 0;
        cols = e && *e && *end == '\0' && v > 0 && v <= 10000 ? (int)v : 80;
    }
    if (cols < DEMO_WIDTH_MIN)
        cols = DEMO_WIDTH_MIN;
    if (cols > DEMO_WIDTH_MAX)
        cols = DEMO_WIDTH_MAX;
    return cols;
}

int demo_wrap(const char *text, int width, int indent, char (*lines)[DEMO_LINE_BYTES], int max)
{
    if (indent > width / 2)
        indent = width / 2;
    const char *p = text;
    int n = 0;
    while (*p && n < max) {
        int lead = n ? indent : 0;
        int room = width - lead > 0 ? width - lead : 1;
        /* The first line keeps its leading spaces (an indentation);
         * a break is looked for only after them. */
        const char *content = p;
        while (*content == ' ')
            content++;
        const char *q = p, *brk = NULL;
        for (int w = 0; *q && w < room; w++) {
            if (*q == ' ' && q > content)
                brk = q;
            q = next_char(q);
        }
        /* Ending inside a word: go back to the last space.  A word wider
         * than the whole line is the one thing cut, as it cannot fit. */
        if (*q && *q != ' ' && brk)
            q = brk;
        const char *e = q;
        while (e > content && e[-1] == ' ')
            e--;
        snprintf(lines[n++], DEMO_LINE_BYTES, "%*s%.*s", lead, "", (int)(e - p), p);
        p = q;
        while (*p == ' ')
            p++;
    }
    return n;
}

/* --------------------------------------------------------------- output */

/* s as it will be printed: unchanged on a UTF-8 terminal, otherwise with
 * accents dropped and arrows drawn in ASCII, so that widths are measured on
 * what is really printed. */
static void shown(const struct demo_render *r, const char *s, char *out, size_t len)
{
    static const struct { const char *u, *a; } map[] = {
        {"á", "a"}, {"é", "e"}, {"í", "i"}, {"ó", "o"}, {"ú", "u"}, {"ñ", "n"}, {"ü", "u"},
        {"Á", "A"}, {"É", "E"}, {"Í", "I"}, {"Ó", "O"}, {"Ú", "U"}, {"Ñ", "N"}, {"¿", "?"},
        {"¡", "!"}, {"→", "->"}, {"←", "<-"}, {"·", "-"}, {"—", "-"}, {"…", "..."},
    };
    size_t k = 0;
    if (len == 0)
        return;
    if (r->utf8) {
        snprintf(out, len, "%s", s);
        return;
    }
    while (*s && k + 4 < len) {
        if (!((unsigned char)*s & 0x80)) {
            out[k++] = *s++;
            continue;
        }
        size_t i;
        for (i = 0; i < sizeof map / sizeof map[0]; i++) {
            size_t n = strlen(map[i].u);
            if (strncmp(s, map[i].u, n) == 0) {
                size_t m = strlen(map[i].a);
                memcpy(out + k, map[i].a, m);
                k += m;
                s += n;
                break;
            }
        }
        if (i == sizeof map / sizeof map[0]) {
            out[k++] = '?';
            s = next_char(s);
        }
    }
    out[k] = '\0';
}

static void put(struct demo_render *r, const char *s)
{
    if (fputs(s, r->out) == EOF && !r->err)
        r->err = errno ? errno : EIO;
}

static void put_color(struct demo_render *r, const char *color)
{
    if (r->color && color)
        put(r, color);
}

static void put_reset(struct demo_render *r, const char *color)
{
    if (r->color && color)
        put(r, c_reset(r));
}

static void put_repeat(struct demo_render *r, const char *glyph, int n)
{
    for (int i = 0; i < n; i++)
        put(r, glyph);
}

static void put_spaces(struct demo_render *r, int n)
{
    put_repeat(r, " ", n);
}

/* Flush, remembering why the first failed write failed: a full disk or a
 * closed pipe must not end the demo with status 0. */
static void flush(struct demo_render *r)
{
    errno = 0;
    if (fflush(r->out) != 0 && !r->err)
        r->err = errno ? errno : EIO;
    if (ferror(r->out) && !r->err)
        r->err = EIO;
}

int demo_render_error(struct demo_render *r)
{
    flush(r);
    return r->err;
}

/* UTF-8 when the locale's character set is, or when the locale's name says
 * so: a terminal set to es_ES.UTF-8 is UTF-8 even on a system that has no
 * es_ES locale installed (setlocale fails and leaves the C locale). */
static int locale_is_utf8(void)
{
    if (setlocale(LC_CTYPE, "") && strcmp(nl_langinfo(CODESET), "UTF-8") == 0)
        return 1;
    static const char *const vars[] = {"LC_ALL", "LC_CTYPE", "LANG"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (!v || !*v)
            continue;
        const char *dot = strchr(v, '.');
        if (!dot)
            return 0;
        size_t n = strcspn(dot + 1, "@");
        return (n == 5 && strncasecmp(dot + 1, "utf-8", 5) == 0) ||
               (n == 4 && strncasecmp(dot + 1, "utf8", 4) == 0);
    }
    return 0;
}

struct demo_render *demo_render_new(FILE *out, const struct demo_run *run)
{
    struct demo_render *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->out = out;
    r->run = run;
    int fd = fileno(out);
    const char *nc = getenv("NO_COLOR");
    r->color = fd >= 0 && isatty(fd) && !(nc && *nc);
    r->width = demo_render_width(fd);
    r->utf8 = locale_is_utf8();
    if (r->utf8) {
        r->hbar = "━"; r->vbar = "│"; r->dot = "·"; r->dash = "─";
        r->rarrow = "▶"; r->larrow = "◀"; r->arrow_r = "→";
    } else {
        r->hbar = "="; r->vbar = "|"; r->dot = "-"; r->dash = "-";
        r->rarrow = ">"; r->larrow = "<"; r->arrow_r = "->";
    }
    return r;
}

void demo_render_free(struct demo_render *r)
{
    free(r);
}

/* -------------------------------------------------------------- columns */

/* Add text to a column, wrapped at width; continuation lines are indented
 * by indent columns. */
static void col_add(const struct demo_render *r, struct column *c, int width, int indent,
                    const char *color, const char *fmt, ...)
{
    char buf[1024], disp[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    shown(r, buf, disp, sizeof disp);
    char lines[MAX_LINES][DEMO_LINE_BYTES];
    int n = demo_wrap(disp, width, indent, lines, MAX_LINES - c->n);
    if (n == 0 && c->n < MAX_LINES)
        lines[n++][0] = '\0';
    for (int i = 0; i < n; i++) {
        struct cell_line *l = &c->l[c->n++];
        memcpy(l->text, lines[i], sizeof l->text);
        l->color = color;
    }
}

static void print_cell(struct demo_render *r, const struct cell_line *l, int pad_to)
{
    int w = 0;
    if (l) {
        put_color(r, l->color);
        put(r, l->text);
        put_reset(r, l->color);
        w = text_width(l->text);
    }
    if (pad_to > w)
        put_spaces(r, pad_to - w);
}

static void print_columns(struct demo_render *r, const struct column *a, int wa,
                          const struct column *b)
{
    int n = a->n > b->n ? a->n : b->n;
    for (int i = 0; i < n; i++) {
        put(r, "  ");
        print_cell(r, i < a->n ? &a->l[i] : NULL, wa);
        put(r, " ");
        put(r, r->vbar);
        if (i < b->n && b->l[i].text[0]) {
            put(r, " ");
            print_cell(r, &b->l[i], 0);
        }
        put(r, "\n");
    }
}

static void print_stacked(struct demo_render *r, const struct column *c)
{
    for (int i = 0; i < c->n; i++) {
        put(r, "  ");
        print_cell(r, &c->l[i], 0);
        put(r, "\n");
    }
}

/* A paragraph across the full width, indented by two. */
static void print_wrapped(struct demo_render *r, const char *color, const char *text)
{
    static struct column c;
    c.n = 0;
    col_add(r, &c, r->width - 2, 0, color, "%s", text);
    for (int i = 0; i < c.n; i++) {
        if (c.l[i].text[0]) {
            put(r, "  ");
            print_cell(r, &c.l[i], 0);
        }
        put(r, "\n");
    }
}

void demo_render_line(struct demo_render *r, const char *text)
{
    print_wrapped(r, NULL, text);
    flush(r);
}

void demo_render_prompt(struct demo_render *r, const char *text)
{
    char disp[512];
    shown(r, text, disp, sizeof disp);
    put(r, "  ");
    put(r, disp);
    flush(r);
}

void demo_render_header(struct demo_render *r)
{
    put(r, "\n");
    print_wrapped(r, r->color ? C_BOLD : NULL, demo_text(T_TITLE));
    print_wrapped(r, r->color ? C_DIM : NULL, demo_text(T_SUBTITLE));
    char buf[400];
    if (r->run->netns[0][0]) {
        snprintf(buf, sizeof buf, demo_text(T_NETNS_INFO), r->run->netns[0], r->run->netns[1]);
        print_wrapped(r, NULL, buf);
    }
    if (r->run->capture_ok)
        snprintf(buf, sizeof buf, demo_text(T_CAPTURE_ON), r->run->ifname);
    else
        snprintf(buf, sizeof buf, demo_text(T_NO_CAPTURE), r->run->capture_why);
    print_wrapped(r, r->run->capture_ok ? NULL : (r->color ? C_YEL : NULL), buf);
    flush(r);
}

/* --------------------------------------------------------------- sockets */

static void add_socket(const struct demo_render *r, struct column *c, int width,
                       const struct demo_sock_info *si)
{
    char extra[160] = "";
    const char *state_color = r->color ? C_STATE : NULL;

    if (!si->had_fd) {
        col_add(r, c, width, 6, r->color ? C_BOLD : NULL, "%-5s %s", si->name,
                demo_text(T_NO_FD_YET));
        return;
    }
    /* First line: the descriptor and its state, as TCP_INFO reports it. */
    if (si->fd >= 0)
        col_add(r, c, width, 6, state_color, "%-5s fd %-3d %s", si->name, si->fd,
                demo_state_name(si->fd_state));
    else if (si->kernel_state >= 0)
        col_add(r, c, width, 6, state_color, "%-5s %s", si->name, demo_text(T_FD_CLOSED));
    else
        col_add(r, c, width, 6, state_color, "%-5s %s %s %s", si->name, demo_text(T_FD_CLOSED),
                r->dot, demo_text(T_GONE));

    if (si->peer[0])
        col_add(r, c, width, 6, NULL, "      %s %s %s", si->local, r->arrow_r, si->peer);
    else if (si->local[0])
        col_add(r, c, width, 6, NULL, "      %s", si->local);

    /* What sock_diag found for the 4-tuple when the descriptor can no
     * longer tell: the TIME_WAIT the kernel keeps after close. */
    if (si->kernel_state >= 0 && (si->fd < 0 || si->kernel_state != si->fd_state)) {
        char left[64] = "";
        if (si->expires_ms > 0) {
            left[0] = ',';
            left[1] = ' ';
            snprintf(left + 2, sizeof left - 2, demo_text(T_TW_LEFT), si->expires_ms / 1000.0);
        }
        col_add(r, c, width, 6, state_color, "      %s: %s%s", demo_text(T_KERNEL_KEEPS),
                demo_state_name(si->kernel_state), left);
    }
    size_t k = 0;
    if (si->fd >= 0 && si->fd_state == TCP_LISTEN)
        k += (size_t)snprintf(extra + k, sizeof extra - k, demo_text(T_QUEUE), si->queue, si->backlog);
    if (si->fd >= 0 && si->unread > 0 && k < sizeof extra)
        k += (size_t)snprintf(extra + k, sizeof extra - k, demo_text(T_UNREAD), si->unread);
    if (si->fd >= 0 && si->unsent > 0 && k < sizeof extra)
        snprintf(extra + k, sizeof extra - k, "%s" , k ? "; " : "");
    if (si->fd >= 0 && si->unsent > 0 && (k = strlen(extra)) < sizeof extra)
        snprintf(extra + k, sizeof extra - k, demo_text(T_UNSENT), si->unsent);
    if (extra[0])
        col_add(r, c, width, 7, r->color ? C_DIM : NULL, "      (%s)", extra);
}

static void fill_column(const struct demo_render *r, struct column *c, int width,
                        const struct demo_step *st, int side)
{
    const char *col = side == DEMO_CLIENT ? C_CLI : C_SRV;
    col_add(r, c, width, 2, r->color ? (side == DEMO_CLIENT ? C_BOLD C_CLI : C_BOLD C_SRV) : NULL,
            "%s %s", demo_text(side == DEMO_CLIENT ? T_CLIENT : T_SERVER), r->run->host[side]);
    for (int i = 0; i < st->ncalls[side]; i++) {
        const struct demo_call *call = &st->calls[side][i];
        col_add(r, c, width, 4, r->color ? col : NULL, "%s", call->text);
        col_add(r, c, width, 6, r->color && call->failed ? C_RED : NULL, "  %s %s", r->arrow_r,
                call->result);
    }
    if (st->ncalls[side] > 0)
        col_add(r, c, width, 0, NULL, "%s", "");
    for (int i = 0; i < DEMO_SLOTS; i++)
        if (st->rep[side].s[i].used)
            add_socket(r, c, width, &st->rep[side].s[i]);
}

/* --------------------------------------------------------------- segments */

/* How a step's arrows are laid out, the same for all of them so that they
 * line up: the arrow's width, whether the side names flank it, whether the
 * details follow on the same line, whether "retransmission" fits on the
 * arrow or goes with the details. */
struct wire_layout {
    int arrow, names, inline_detail, tag_on_arrow;
};

static void segment_texts(const struct demo_render *r, const struct demo_segment *s, int tag_on_arrow,
                          char *label, size_t llen, char *detail, size_t dlen)
{
    char kind[16], buf[160];
    demo_segment_kind(s, kind, sizeof kind);
    const char *tag = s->retrans && tag_on_arrow ? demo_text(T_RETRANS) : NULL;
    if (s->len > 0)
        snprintf(buf, sizeof buf, " %s %u %s%s%s ", kind, s->len,
                 strcmp(kind, "DATA") ? "B" : demo_text(T_BYTES), tag ? " · " : "", tag ? tag : "");
    else
        snprintf(buf, sizeof buf, " %s%s%s ", kind, tag ? " · " : "", tag ? tag : "");
    shown(r, buf, label, llen);

    int k = 0;
    if (s->retrans && !tag_on_arrow)
        k = snprintf(buf, sizeof buf, "%s: ", demo_text(T_RETRANS));
    k += snprintf(buf + k, sizeof buf - (size_t)k, "seq %u", s->seq);
    if (s->flags & TH_ACK)
        k += snprintf(buf + k, sizeof buf - (size_t)k, " ack %u", s->ack);
    if (s->mss)
        k += snprintf(buf + k, sizeof buf - (size_t)k, " mss %u", s->mss);
    if (s->preview[0])
        snprintf(buf + k, sizeof buf - (size_t)k, " \"%.8s%s\"", s->preview,
                 strlen(s->preview) > 8 ? "..." : "");
    shown(r, buf, detail, dlen);
}

static struct wire_layout wire_layout(const struct demo_render *r, const struct demo_step *st,
                                      int first, int n)
{
    char name[64], label[200], detail[200];
    shown(r, demo_text(T_CLIENT), name, sizeof name);
    int names = text_width(name) + 2;
    shown(r, demo_text(T_SERVER), name, sizeof name);
    names += text_width(name);

    struct wire_layout lay = {.names = 1, .inline_detail = 1, .tag_on_arrow = 1};
    int lw = 0, dw = 0;
    for (int pass = 0; pass < 2; pass++) {
        lw = dw = 0;
        for (int i = first; i < first + n; i++) {
            segment_texts(r, &st->segs[i], lay.tag_on_arrow, label, sizeof label, detail,
                          sizeof detail);
            lw = text_width(label) > lw ? text_width(label) : lw;
            dw = text_width(detail) > dw ? text_width(detail) : dw;
        }
        /* The arrow needs its label and two dashes each side. */
        if (TIME_W + lw + 4 <= r->width)
            break;
        lay.tag_on_arrow = 0;
    }
    int need = lw + 4, room;
    if ((room = r->width - TIME_W - names - 2 - 2 - dw) >= need) {
        lay.arrow = room;
    } else if ((room = r->width - TIME_W - names - 2) >= need) {
        lay.inline_detail = 0;
        lay.arrow = room;
    } else {
        lay.inline_detail = 0;
        lay.names = 0;
        lay.arrow = r->width - TIME_W;
    }
    if (lay.arrow > ARROW_MAX)
        lay.arrow = ARROW_MAX;
    if (lay.arrow < need)
        lay.arrow = need;
    return lay;
}

static void print_segment(struct demo_render *r, const struct demo_segment *s,
                          const struct wire_layout *lay)
{
    char label[200], detail[200], num[32], name[64];
    segment_texts(r, s, lay->tag_on_arrow, label, sizeof label, detail, sizeof detail);

    const char *color = NULL;
    if (r->color) {
        if (s->flags & TH_RST)
            color = C_RED;
        else if (s->retrans)
            color = C_MAG;
        else if (s->flags & (TH_SYN))
            color = C_GRN;
        else if (s->flags & TH_FIN)
            color = C_YEL;
        else if (s->len > 0)
            color = C_BOLD;
    }
    int to_server = s->from == DEMO_CLIENT;
    int lw = text_width(label);
    int left = (lay->arrow - lw) / 2, right = lay->arrow - lw - left;

    snprintf(num, sizeof num, "  %+9.4fs ", s->t);
    put(r, num);
    put_spaces(r, TIME_W - text_width(num));
    if (lay->names) {
        shown(r, demo_text(T_CLIENT), name, sizeof name);
        put(r, name);
        put(r, " ");
    }
    put_color(r, color);
    if (to_server) {
        put_repeat(r, r->dash, left);
        put(r, label);
        put_repeat(r, r->dash, right - 1);
        put(r, r->rarrow);
    } else {
        put(r, r->larrow);
        put_repeat(r, r->dash, left - 1);
        put(r, label);
        put_repeat(r, r->dash, right);
    }
    put_reset(r, color);
    if (lay->names) {
        shown(r, demo_text(T_SERVER), name, sizeof name);
        put(r, " ");
        put(r, name);
    }
    if (lay->inline_detail) {
        put(r, "  ");
        put(r, detail);
        put(r, "\n");
        return;
    }
    put(r, "\n");
    char lines[8][DEMO_LINE_BYTES];
    int n = demo_wrap(detail, r->width - TIME_W, 2, lines, 8);
    for (int i = 0; i < n; i++) {
        put_spaces(r, TIME_W);
        put(r, lines[i]);
        put(r, "\n");
    }
}

static void print_wire(struct demo_render *r, const struct demo_step *st)
{
    if (!r->run->capture_ok)
        return;
    char buf[128], head[256], none[256];
    snprintf(buf, sizeof buf, "%s (%s)", demo_text(T_WIRE), r->run->ifname);
    shown(r, buf, head, sizeof head);
    shown(r, demo_text(T_NO_SEGMENTS), none, sizeof none);
    put(r, "  ");
    put_color(r, C_BOLD);
    put(r, head);
    put_reset(r, C_BOLD);
    if (st->nsegs == 0) {
        if (2 + text_width(head) + 1 + text_width(none) <= r->width) {
            put(r, " ");
            put_color(r, C_DIM);
            put(r, none);
            put_reset(r, C_DIM);
            put(r, "\n");
        } else {
            put(r, "\n");
            print_wrapped(r, r->color ? C_DIM : NULL, none);
        }
        return;
    }
    put(r, "\n");
    int shown_n = st->nsegs < DEMO_SEGS ? st->nsegs : DEMO_SEGS;
    /* A long transfer is summarised: the first and last segments tell the
     * story, the middle is counted. */
    int head_n = shown_n > 14 ? 8 : shown_n, tail = shown_n > head_n ? 4 : 0;
    struct wire_layout lay = wire_layout(r, st, 0, head_n);
    for (int i = 0; i < head_n; i++)
        print_segment(r, &st->segs[i], &lay);
    if (tail) {
        snprintf(buf, sizeof buf, demo_text(T_MORE_SEGMENTS), st->nsegs - head_n - tail);
        put_spaces(r, TIME_W);
        put_color(r, C_DIM);
        put(r, buf);
        put_reset(r, C_DIM);
        put(r, "\n");
        lay = wire_layout(r, st, shown_n - tail, tail);
        for (int i = shown_n - tail; i < shown_n; i++)
            print_segment(r, &st->segs[i], &lay);
    }
}

/* ------------------------------------------------------------------ steps */

static void print_step_header(struct demo_render *r, const struct demo_step *st)
{
    char head[320], disp[640];
    snprintf(head, sizeof head, "%s %s %s %s", demo_text(T_STEP), st->label, r->dot, st->title);
    shown(r, head, disp, sizeof disp);
    /* "━━━ step 4a · title ━━━━", the title wrapped under itself when the
     * line is too narrow for it. */
    char lines[4][DEMO_LINE_BYTES];
    int n = demo_wrap(disp, r->width - 8, 4, lines, 4);
    put(r, "\n");
    put_color(r, C_BOLD);
    for (int i = 0; i < n; i++) {
        if (i == 0) {
            put_repeat(r, r->hbar, 3);
            put(r, " ");
            put(r, lines[0]);
            put(r, " ");
            int w = 5 + text_width(lines[0]);
            put_repeat(r, r->hbar, r->width > w ? r->width - w : 0);
        } else {
            put(r, lines[i]);
        }
        put(r, "\n");
    }
    put_reset(r, C_BOLD);
}

void demo_render_step(struct demo_render *r, const struct demo_step *st)
{
    static struct column left, right;
    left.n = right.n = 0;

    print_step_header(r, st);
    if (r->width >= TWO_COLUMNS_MIN) {
        /* "  " left " │ " right */
        int wl = (r->width - 5) / 2, wr = r->width - 5 - wl;
        fill_column(r, &left, wl, st, DEMO_CLIENT);
        fill_column(r, &right, wr, st, DEMO_SERVER);
        print_columns(r, &left, wl, &right);
    } else {
        fill_column(r, &left, r->width - 2, st, DEMO_CLIENT);
        fill_column(r, &right, r->width - 2, st, DEMO_SERVER);
        print_stacked(r, &left);
        put(r, "\n");
        print_stacked(r, &right);
    }
    put(r, "\n");
    print_wire(r, st);
    if (st->extra[0])
        print_wrapped(r, r->color ? C_YEL : NULL, st->extra);
    if (st->note)
        print_wrapped(r, r->color ? C_DIM : NULL, st->note);
    flush(r);
}
