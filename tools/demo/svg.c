/*
 * tools/demo/svg.c - the run as a sequence diagram: the client's and the
 * server's lifelines, each call as a box on its side, each captured segment
 * as an arrow between them, and the sockets' states as labels after every
 * step.
 *
 * Plain SVG 1.1 with no scripts, external fonts or CSS features beyond
 * presentation attributes, so browsers and rsvg-convert draw it the same.
 * Every piece of text goes through xml_text(): addresses, data and error
 * messages come from the run and may hold any of & < > " '.
 */
#include "demo.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#define W 980
#define X_CLI 250
#define X_SRV 730
#define BOX_W 360
#define LINE 16
#define MAX_ARROWS 16
/* Characters of 12px monospace that fit in a call box. */
#define BOX_CHARS 48

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            /* Control characters are not allowed in XML 1.0. */
            if ((unsigned char)*s < 32 && *s != '\n' && *s != '\t')
                fputc('?', f);
            else
                fputc(*s, f);
        }
    }
}

/* Characters (code points) of UTF-8 text, for the width of its box. */
static int text_chars(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static void text_at(FILE *f, int x, int y, const char *anchor, const char *cls, const char *s)
{
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"%s\" class=\"%s\">", x, y, anchor, cls);
    xml_text(f, s);
    fputs("</text>\n", f);
}

/* Lines of text in a call box, each at most BOX_CHARS characters: a call
 * and its result are wrapped, never cut, and the box grows to hold them. */
#define BOX_LINES 8

static int draw_calls(FILE *f, const struct demo_step *st, int side, int y)
{
    int x = side == DEMO_CLIENT ? X_CLI : X_SRV;
    int h = 0;
    for (int i = 0; i < st->ncalls[side]; i++) {
        const struct demo_call *c = &st->calls[side][i];
        char call[BOX_LINES][DEMO_LINE_BYTES], res[BOX_LINES][DEMO_LINE_BYTES], buf[400];
        int nc = demo_wrap(c->text, BOX_CHARS, 2, call, BOX_LINES);
        snprintf(buf, sizeof buf, "\xe2\x86\x92 %s", c->result);
        int nr = demo_wrap(buf, BOX_CHARS, 2, res, BOX_LINES);
        int lines = nc + nr;
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"5\" class=\"%s\"/>\n",
                x - BOX_W / 2, y + h, BOX_W, lines * LINE + 8, side == DEMO_CLIENT ? "bc" : "bs");
        for (int k = 0; k < nc; k++)
            text_at(f, x, y + h + (k + 1) * LINE, "middle", "call", call[k]);
        for (int k = 0; k < nr; k++)
            text_at(f, x, y + h + (nc + k + 1) * LINE + 2, "middle", c->failed ? "err" : "res",
                    res[k]);
        h += lines * LINE + 14;
    }
    return h;
}

static int draw_arrows(FILE *f, const struct demo_step *st, int y)
{
    int shown = st->nsegs < DEMO_SEGS ? st->nsegs : DEMO_SEGS;
    int n = shown > MAX_ARROWS ? MAX_ARROWS - 1 : shown;
    int h = 0;
    for (int i = 0; i < n; i++) {
        const struct demo_segment *s = &st->segs[i];
        char kind[16], label[160];
        demo_segment_kind(s, kind, sizeof kind);
        int k = snprintf(label, sizeof label, "%s seq %u", kind, s->seq);
        if (s->flags & TH_ACK)
            k += snprintf(label + k, sizeof label - (size_t)k, " ack %u", s->ack);
        if (s->len)
            k += snprintf(label + k, sizeof label - (size_t)k, " len %u", s->len);
        if (s->retrans)
            snprintf(label + k, sizeof label - (size_t)k, " (%s)", demo_text(T_RETRANS));
        int x1 = s->from == DEMO_CLIENT ? X_CLI : X_SRV;
        int x2 = s->from == DEMO_CLIENT ? X_SRV : X_CLI;
        const char *cls = (s->flags & TH_RST) ? "rst" : s->retrans ? "rtx" : (s->flags & TH_SYN) ? "syn"
                        : (s->flags & TH_FIN) ? "fin" : s->len ? "dat" : "ack";
        y += LINE + 4;
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"%s\" "
                   "marker-end=\"url(#head-%s)\"/>\n",
                x1, y, x2 + (x2 > x1 ? -2 : 2), y + 10, cls, cls);
        text_at(f, (X_CLI + X_SRV) / 2, y - 3, "middle", cls, label);
        h += LINE + 14;
        y += 10;
    }
    if (shown > n) {
        char more[64];
        snprintf(more, sizeof more, demo_text(T_MORE_SEGMENTS), st->nsegs - n);
        text_at(f, (X_CLI + X_SRV) / 2, y + LINE, "middle", "note", more);
        h += LINE + 4;
    }
    return h;
}

static void state_label(const struct demo_sock_info *si, char *buf, size_t len)
{
    if (!si->had_fd)
        snprintf(buf, len, "%s: -", si->name);
    else if (si->fd >= 0 && si->kernel_state >= 0 && si->kernel_state != si->fd_state)
        snprintf(buf, len, "%s fd %d: %s / %s", si->name, si->fd, demo_state_name(si->fd_state),
                 demo_state_name(si->kernel_state));
    else if (si->fd >= 0)
        snprintf(buf, len, "%s fd %d: %s", si->name, si->fd, demo_state_name(si->fd_state));
    else if (si->kernel_state >= 0)
        snprintf(buf, len, "%s (%s): %s", si->name, demo_text(T_FD_CLOSED),
                 demo_state_name(si->kernel_state));
    else
        snprintf(buf, len, "%s (%s)", si->name, demo_text(T_FD_CLOSED));
}

static int draw_states(FILE *f, const struct demo_step *st, int y)
{
    int rows = 0;
    for (int side = 0; side < DEMO_SIDES; side++) {
        int x = side == DEMO_CLIENT ? X_CLI : X_SRV, r = 0;
        for (int i = 0; i < DEMO_SLOTS; i++) {
            const struct demo_sock_info *si = &st->rep[side].s[i];
            if (!si->used)
                continue;
            char buf[160];
            state_label(si, buf, sizeof buf);
            int tw = text_chars(buf) * 7 + 12;
            fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"9\" class=\"st\"/>\n",
                    x - tw / 2, y + r * (LINE + 6), tw, LINE + 2);
            text_at(f, x, y + r * (LINE + 6) + LINE - 3, "middle", "state", buf);
            r++;
        }
        rows = r > rows ? r : rows;
    }
    return rows * (LINE + 6);
}

static void write_body(FILE *f, const struct demo_run *run, int *height)
{
    int y = 40;
    char buf[256];
    text_at(f, W / 2, y, "middle", "title", demo_text(T_TITLE));
    y += 36;
    for (int side = 0; side < DEMO_SIDES; side++) {
        int x = side == DEMO_CLIENT ? X_CLI : X_SRV;
        snprintf(buf, sizeof buf, "%s %s", demo_text(side ? T_SERVER : T_CLIENT), run->host[side]);
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"220\" height=\"30\" rx=\"6\" class=\"%s\"/>\n",
                x - 110, y - 20, side ? "hs" : "hc");
        text_at(f, x, y, "middle", "host", buf);
    }
    int top = y + 10;
    y += 30;
    for (int i = 0; i < run->nsteps; i++) {
        const struct demo_step *st = &run->steps[i];
        snprintf(buf, sizeof buf, "%s %s \xc2\xb7 %s", demo_text(T_STEP), st->label, st->title);
        fprintf(f, "<rect x=\"10\" y=\"%d\" width=\"%d\" height=\"22\" class=\"band\"/>\n", y, W - 20);
        text_at(f, 20, y + 16, "start", "step", buf);
        y += 30;
        int hc = draw_calls(f, st, DEMO_CLIENT, y);
        int hs = draw_calls(f, st, DEMO_SERVER, y);
        y += hc > hs ? hc : hs;
        y += draw_arrows(f, st, y);
        y += 6;
        y += draw_states(f, st, y) + 14;
    }
    /* Lifelines last in the file would hide boxes; they are drawn first by
     * the caller using the height found here. */
    *height = y + 20;
    (void)top;
}

/* Keep the errno of the first write that failed. */
static void note(int failed, int *err)
{
    if (failed && !*err)
        *err = errno ? errno : EIO;
}

int demo_svg_write(FILE *out, const struct demo_run *run)
{
    char *body = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&body, &len);
    if (!m)
        return -ENOMEM;
    int height = 0, err = 0;
    write_body(m, run, &height);
    if (fclose(m) != 0) {
        free(body);
        return -ENOMEM;
    }
    errno = 0;
    note(fprintf(out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans Mono, monospace\" font-size=\"12\">\n",
            W, height, W, height) < 0, &err);
    note(fputs("<style>\n"
          ".title{font-size:18px;font-weight:bold;fill:#222}\n"
          ".host{font-size:14px;font-weight:bold;fill:#fff}\n"
          ".hc{fill:#1f6f8b}.hs{fill:#8b1f6f}\n"
          ".band{fill:#eef0f3}.step{font-weight:bold;fill:#333}\n"
          ".bc{fill:#e3f2f7;stroke:#1f6f8b}.bs{fill:#f7e3f1;stroke:#8b1f6f}\n"
          ".call{fill:#111}.res{fill:#444}.err{fill:#b00020}\n"
          ".life{stroke:#999;stroke-width:2;stroke-dasharray:6,4}\n"
          "line.syn{stroke:#2e7d32;stroke-width:2}text.syn{fill:#2e7d32}\n"
          "line.ack{stroke:#555;stroke-width:1.5}text.ack{fill:#555}\n"
          "line.dat{stroke:#1565c0;stroke-width:2.5}text.dat{fill:#1565c0}\n"
          "line.fin{stroke:#ef6c00;stroke-width:2}text.fin{fill:#ef6c00}\n"
          "line.rst{stroke:#c62828;stroke-width:3}text.rst{fill:#c62828;font-weight:bold}\n"
          "line.rtx{stroke:#8e24aa;stroke-width:2;stroke-dasharray:5,3}text.rtx{fill:#8e24aa;font-weight:bold}\n"
          ".st{fill:#fffbe6;stroke:#c9a400}.state{fill:#5d4a00;font-size:11px}\n"
          ".note{fill:#777;font-style:italic}\n"
          "</style>\n",
          out) == EOF, &err);
    note(fputs("<defs>\n", out) == EOF, &err);
    static const struct { const char *cls, *color; } heads[] = {
        {"syn", "#2e7d32"}, {"ack", "#555"}, {"dat", "#1565c0"}, {"fin", "#ef6c00"}, {"rst", "#c62828"},
        {"rtx", "#8e24aa"},
    };
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++)
        note(fprintf(out, "<marker id=\"head-%s\" markerUnits=\"userSpaceOnUse\" markerWidth=\"10\" markerHeight=\"8\" refX=\"9\" "
                     "refY=\"4\" orient=\"auto\"><path d=\"M0,0 L10,4 L0,8 z\" fill=\"%s\"/></marker>\n",
                heads[i].cls, heads[i].color) < 0, &err);
    note(fputs("</defs>\n", out) == EOF, &err);
    note(fprintf(out, "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", W, height) < 0, &err);
    for (int x = X_CLI; x <= X_SRV; x += X_SRV - X_CLI)
        note(fprintf(out, "<line x1=\"%d\" y1=\"86\" x2=\"%d\" y2=\"%d\" class=\"life\"/>\n", x, x,
                     height - 10) < 0, &err);
    note(fwrite(body, 1, len, out) != len, &err);
    note(fputs("</svg>\n", out) == EOF, &err);
    free(body);
    if (!err && ferror(out))
        err = EIO;
    return -err;
}
