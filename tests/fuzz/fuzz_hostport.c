/*
 * fuzz_hostport.c - sock_split_hostport() on any text and buffer sizes.
 *
 * Input: byte 0 picks the host buffer's size, byte 1 the port buffer's
 * (0..63, or 1025 and 32 when the byte is 0xff: sizes a caller would use);
 * the rest, up to a NUL, is the text.  The buffers are heap blocks of
 * exactly that size, so that ASan sees any write past them.
 *
 * Beyond "no crash", every answer is checked against the contract in
 * sock.h, restated independently below (expected_split): a text splits
 * when it is HOST:PORT with no ':' '[' ']' in HOST, or [HOST]:PORT with no
 * '[' ']' in HOST, PORT having no ':' '[' ']' in either form, and both
 * parts fit their buffers.  The split is then unique, so the library must
 * agree with it exactly: same verdict, same host, same port.
 */
#include "harness.h"

#include "sock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t pick_len(uint8_t b, size_t big)
{
    return b == 0xff ? big : (size_t)(b & 63);
}

/* The contract's split, or 0 when the text has none.  Written apart from
 * src/resolve.c, from the header's words, so that the two can disagree. */
static int expected_split(const char *text, const char **h, size_t *hl, const char **p)
{
    size_t n = strlen(text);
    if (text[0] == '[') {
        const char *close = memchr(text, ']', n);
        if (!close || close[1] != ':')
            return 0;
        *h = text + 1;
        *hl = (size_t)(close - *h);
        *p = close + 2;
    } else {
        const char *colon = NULL;
        for (const char *c = text; *c; c++)
            if (*c == ':')
                colon = c;
        if (!colon)
            return 0;
        *h = text;
        *hl = (size_t)(colon - text);
        *p = colon + 1;
        if (memchr(*h, ':', *hl))
            return 0;
    }
    if (memchr(*h, '[', *hl) || memchr(*h, ']', *hl))
        return 0;
    return strpbrk(*p, ":[]") == NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t hostlen = pick_len(data[0], 1025), portlen = pick_len(data[1], 32);
    char *text = malloc(size - 2 + 1);
    memcpy(text, data + 2, size - 2);
    text[size - 2] = '\0';
    /* malloc(0) may return NULL; a size-0 buffer must still be a pointer
     * the function may not write through, so give it one byte it must not
     * touch either (checked below). */
    char *host = malloc(hostlen ? hostlen : 1), *port = malloc(portlen ? portlen : 1);
    memset(host, 'H', hostlen ? hostlen : 1);
    memset(port, 'P', portlen ? portlen : 1);

    int rc = sock_split_hostport(text, host, hostlen, port, portlen);
    fuzz_check(rc == 0 || rc == -EINVAL, "rc %d for \"%s\"", rc, text);

    const char *eh = NULL, *ep = NULL;
    size_t ehl = 0;
    int splits = expected_split(text, &eh, &ehl, &ep);
    int fits = splits && ehl < hostlen && strlen(ep) < portlen;
    fuzz_check((rc == 0) == fits, "\"%s\" (host buffer %zu, port buffer %zu): rc %d, but the "
               "contract says it %s", text, hostlen, portlen, rc,
               fits ? "splits and fits" : splits ? "does not fit" : "does not split");
    if (rc == 0) {
        /* Both parts NUL-terminated inside their buffers... */
        fuzz_check(memchr(host, '\0', hostlen) != NULL, "host not terminated in %zu", hostlen);
        fuzz_check(memchr(port, '\0', portlen) != NULL, "port not terminated in %zu", portlen);
        /* ...the port free of separators, the host of brackets... */
        fuzz_check(strpbrk(port, ":[]") == NULL, "port \"%s\" of \"%s\"", port, text);
        fuzz_check(strpbrk(host, "[]") == NULL, "host \"%s\" of \"%s\"", host, text);
        /* ...and exactly the contract's parts, which rebuild the text. */
        fuzz_check(strlen(host) == ehl && memcmp(host, eh, ehl) == 0,
                   "host \"%s\" of \"%s\", expected \"%.*s\"", host, text, (int)ehl, eh);
        fuzz_check(strcmp(port, ep) == 0, "port \"%s\" of \"%s\", expected \"%s\"", port, text,
                   ep);
        if (text[0] != '[')
            fuzz_check(strchr(host, ':') == NULL, "unbracketed host \"%s\" has a ':'", host);
    }
    if (hostlen == 0)
        fuzz_check(host[0] == 'H', "a host buffer of size 0 was written");
    if (portlen == 0)
        fuzz_check(port[0] == 'P', "a port buffer of size 0 was written");

    /* NULL buffers are refused, never written through. */
    fuzz_check(sock_split_hostport(text, NULL, 0, port, portlen) == -EINVAL,
               "NULL host buffer accepted for \"%s\"", text);
    fuzz_check(sock_split_hostport(text, host, hostlen, NULL, 0) == -EINVAL,
               "NULL port buffer accepted for \"%s\"", text);
    free(host);
    free(port);
    free(text);
    return 0;
}
