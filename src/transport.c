/*
 * transport.c - a layer (libsock-tls) under a handle: installing it, the
 * calls through it, and the hooks layers use for errors and the trace.
 *
 * The hot path pays one flag test: SOCK__TRANSPORT in the handle's flags,
 * which io.c loads anyway; the transport and its state live in the
 * extension block, as everything a plain handle does not need.
 */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>

SOCK_API int sock_set_transport(sock_t *s, const sock_transport_t *t, void *ctx)
{
    if (!s)
        return -EINVAL;
    int flags = sock__flags(s);
    if (!(flags & SOCK__CONNECTED) || (flags & SOCK__CLOSED))
        return sock__fail_unusable(s, SOCK__SIDE_SEND, "set_transport");
    if (t && (!t->send || !t->recv))
        return sock__fail(s, SOCK__SIDE_SEND, -EINVAL, "set_transport: send and recv are needed");
    struct sock__ext *ext = sock__ext(s);
    if (!ext)
        return -ENOMEM;
    sock__transport_release(s);
    ext->transport = t;
    ext->transport_ctx = ctx;
    if (t)
        sock__set_flags(s, SOCK__TRANSPORT);
    SOCK__TRACE(s, "set_transport", 0, NULL, "%s", t && t->name ? t->name : "none");
    return 0;
}

SOCK_API void *sock_transport_ctx(const sock_t *s, const sock_transport_t *t)
{
    const struct sock__ext *ext = s ? s->priv_ext : NULL;
    return ext && ext->transport == t && t ? ext->transport_ctx : NULL;
}

SOCK_API const char *sock_transport_name(const sock_t *s)
{
    const struct sock__ext *ext = s ? s->priv_ext : NULL;
    if (!ext || !ext->transport)
        return NULL;
    return ext->transport->name ? ext->transport->name : "?";
}

SOCK_API size_t sock_pending(const sock_t *s)
{
    const struct sock__ext *ext = s ? s->priv_ext : NULL;
    if (!ext || !ext->transport || !ext->transport->pending)
        return 0;
    return ext->transport->pending(ext->transport_ctx);
}

SOCK_API unsigned sock_want(const sock_t *s, int sending)
{
    const struct sock__ext *ext = s ? s->priv_ext : NULL;
    unsigned natural = sending ? SOCK_WRITABLE : SOCK_READABLE;
    if (!ext || !ext->transport || !ext->want[sending != 0])
        return natural;
    return ext->want[sending != 0];
}

/* The handle and the side (enum sock__side) of the transport hook this
 * thread is running, so that a layer's sock_set_error() from inside a hook
 * writes that side's error buffer: a recv hook failing on a receiving
 * thread then never writes the buffer a sending thread writes at the same
 * time.  Outside any hook (a layer's own calls, such as checking its
 * arguments before a handshake), and for another handle than the hook's,
 * the send side, as the library's own calls on a connected handle. */
struct hook_frame {
    const sock_t *s;
    int side;
};

static _Thread_local struct hook_frame running_hook = {NULL, SOCK__SIDE_SEND};

/* Mark the hook of s's side as running on this thread; returns the frame
 * to give back to hook_leave(), so that a hook calling the library on
 * another layered handle gets its own marking back. */
static struct hook_frame hook_enter(const sock_t *s, int side)
{
    struct hook_frame outer = running_hook;
    running_hook.s = s;
    running_hook.side = side;
    return outer;
}

static void hook_leave(struct hook_frame outer)
{
    running_hook = outer;
}

/* One call of the transport; an -EAGAIN's wish is kept for sock_want(). */
static ssize_t transport_call(sock_t *s, void *buf, size_t len, unsigned *want, int sending)
{
    struct sock__ext *ext = s->priv_ext;
    struct hook_frame outer = hook_enter(s, sending ? SOCK__SIDE_SEND : SOCK__SIDE_RECV);
    ssize_t n = sending ? ext->transport->send(ext->transport_ctx, s->priv_fd, buf, len, want)
                        : ext->transport->recv(ext->transport_ctx, s->priv_fd, buf, len, want);
    hook_leave(outer);
    if (n == -EAGAIN) {
        unsigned w = *want ? *want : sending ? SOCK_WRITABLE : SOCK_READABLE;
        ext->want[sending] = (unsigned char)(w & SOCK_READABLE ? SOCK_READABLE : SOCK_WRITABLE);
    }
    return n;
}

ssize_t sock__transport_send(sock_t *s, const void *buf, size_t len, unsigned *want)
{
    return transport_call(s, (void *)buf, len, want, 1);
}

ssize_t sock__transport_recv(sock_t *s, void *buf, size_t len, unsigned *want)
{
    return transport_call(s, buf, len, want, 0);
}

int sock__transport_shutdown(sock_t *s, int64_t deadline)
{
    struct sock__ext *ext = s->priv_ext;
    if (!(sock__flags(s) & SOCK__TRANSPORT) || !ext->transport->shutdown)
        return 0;
    for (;;) {
        unsigned want = SOCK_WRITABLE;
        /* sock_shutdown's own failures go to the shutdown side's buffer,
         * and so do the layer's words from its shutdown hook. */
        struct hook_frame outer = hook_enter(s, SOCK__SIDE_CTL);
        int rc = ext->transport->shutdown(ext->transport_ctx, s->priv_fd, &want);
        hook_leave(outer);
        if (rc != -EAGAIN && rc != -EINTR)
            return rc;
        if (rc == -EAGAIN) {
            if (sock__flags(s) & SOCK__NONBLOCK)
                return rc;
            rc = sock__wait(s->priv_fd, want == SOCK_READABLE ? POLLIN : POLLOUT, deadline);
            if (rc < 0)
                return rc;
        }
    }
}

void sock__transport_release(sock_t *s)
{
    struct sock__ext *ext = s->priv_ext;
    if (!ext || !ext->transport)
        return;
    const sock_transport_t *t = ext->transport;
    void *ctx = ext->transport_ctx;
    ext->transport = NULL;
    ext->transport_ctx = NULL;
    sock__clear_flags(s, SOCK__TRANSPORT);
    if (t->release)
        t->release(ctx);
}

SOCK_API int sock_set_error(sock_t *s, int code, const char *fmt, ...)
{
    if (!s || !fmt)
        return code;
    char text[SOCK_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    int side = running_hook.s == s ? running_hook.side : SOCK__SIDE_SEND;
    return sock__failf(s, side, code, "%s", text);
}

SOCK_API void sock_trace_step(const sock_t *s, const char *step, long long result,
                              const char *args)
{
    if (s)
        SOCK__TRACE(s, step ? step : "?", result, NULL, "%s", args ? args : "");
}
