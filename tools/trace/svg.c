/*
 * tools/trace/svg.c - the traced run as a sequence diagram: one lifeline
 * per process, each step a box on its process's line with the TCP state
 * beside it, each mistake a red box under the step it belongs to.
 *
 * Plain SVG 1.1 with presentation attributes only, as the demo's diagram,
 * so that browsers and rsvg-convert draw it alike; every piece of text
 * is escaped (data and addresses come from the run).
 */
#include "trace.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define COL_W 440
#define ROW_H 22
#define TOP 70
#define MAX_COLS 8
/* Characters of 11px monospace that fit in a box. */
#define BOX_CHARS 62

static void xml_text(FILE *f, const char *s, int max)
{
    int n = 0;
    for (; *s && n < max; s++) {
        n += ((unsigned char)*s & 0xc0) != 0x80;
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            fputc((unsigned char)*s < 32 ? '?' : *s, f);
        }
    }
    if (*s)
        fputs("...", f);
}

int trace_render_svg(const struct trace_render *r, FILE *f)
{
    int pids[MAX_COLS], ncols = 0, nev = 0;
    struct trace_event_view v;
    for (; trace_render_event(r, nev, &v) == 0; nev++) {
        int known = 0;
        for (int c = 0; c < ncols; c++)
            known |= pids[c] == v.pid;
        if (!known && ncols < MAX_COLS)
            pids[ncols++] = v.pid;
    }
    if (ncols == 0)
        pids[ncols++] = 0;
    int width = 40 + ncols * COL_W, height = TOP + (nev + 1) * ROW_H + 20;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
               "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"monospace\" "
               "font-size=\"11\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            width, height, width, height);
    char title[256];
    snprintf(title, sizeof title, trace_text(trace_render_spanish(r), TT_SVG_TITLE),
             trace_render_program(r));
    fputs("<text x=\"20\" y=\"24\" font-size=\"15\" font-weight=\"bold\">", f);
    xml_text(f, title, 120);
    fputs("</text>\n", f);
    for (int c = 0; c < ncols; c++) {
        int x = 20 + c * COL_W + COL_W / 2;
        fprintf(f, "<text x=\"%d\" y=\"50\" text-anchor=\"middle\" font-weight=\"bold\">pid %d"
                   "</text>\n<line x1=\"%d\" y1=\"56\" x2=\"%d\" y2=\"%d\" stroke=\"#999\" "
                   "stroke-dasharray=\"4 3\"/>\n",
                x, pids[c], x, x, height - 10);
    }
    for (int i = 0; i < nev; i++) {
        trace_render_event(r, i, &v);
        int c = 0;
        while (c < ncols - 1 && pids[c] != v.pid)
            c++;
        int x = 24 + c * COL_W, y = TOP + i * ROW_H;
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"3\" fill=\"%s\" "
                   "stroke=\"%s\"/>\n",
                x, y, COL_W - 8, ROW_H - 4, v.mistake ? "#fde2e2" : "#eef3fb",
                v.mistake ? "#c0392b" : "#7f9cc9");
        fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"%s\">", x + 4, y + 13,
                v.mistake ? "#c0392b" : "black");
        if (!v.mistake)
            fprintf(f, "%d  ", v.step);
        xml_text(f, v.text, v.state[0] ? BOX_CHARS - 14 : BOX_CHARS);
        if (v.state[0]) {
            fputs("  [", f);
            xml_text(f, v.state, 14);
            fputs("]", f);
        }
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
    return ferror(f) ? -EIO : 0;
}
