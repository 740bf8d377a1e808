/*
 * sock.h - the TCP socket lifecycle, step by step, with every trap handled.
 *
 * The functions mirror the steps of the course deck "Sockets, paso a paso":
 *
 *   client                                server
 *   sock_init(&cli)          socket()     sock_init(&acep)
 *                            bind()       sock_bind(&acep, host, service)
 *                            listen()     sock_listen(&acep, backlog)
 *   sock_connect(&cli, h, s) connect()    sock_accept(&acep, &srv)  accept()
 *   sock_send / sock_recv    send/recv    sock_send / sock_recv
 *   sock_shutdown(&cli, ..)  shutdown()   sock_shutdown(&srv, ..)
 *   sock_close(&cli)         close()      sock_close(&srv)
 *                                         sock_shutdown(&acep, ..); sock_close(&acep)
 *
 * Error convention (one rule for the whole header): every function returning
 * int returns 0 (or a documented non-negative value) on success and a
 * negative code on failure.  A code is either -errno (-ECONNREFUSED,
 * -ETIMEDOUT, -ECONNRESET, -EPIPE, -EADDRINUSE, -EINVAL, ...) or one of the
 * SOCK_E... codes below, which are negative and differ from every -errno.
 * sock_strerror() turns any code into text; sock_error() tells, for one
 * socket, what its last failure was in words a person can act on (the step,
 * the host and port, the system's reason, every address tried).
 *
 * The library never prints, never raises SIGPIPE, never touches the process's
 * signal handling, retries EINTR internally, and creates every descriptor
 * close-on-exec.  Tracing (SOCK_TRACE=1 or sock_set_trace()) is the only
 * output, and only when asked for.
 *
 * Threads: distinct sockets may be used from distinct threads freely.  On one
 * socket, one thread may send while another receives, and any thread may call
 * sock_shutdown() to wake a thread blocked in sock_accept() or sock_recv().
 * sock_close() must not race with other calls on the same socket: shut the
 * socket down, let the other threads return, then close it.
 */
#ifndef SOCK_H
#define SOCK_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version this header belongs to (the library's run-time version is
 * sock_version()). */
#define SOCK_VERSION_MAJOR 0
#define SOCK_VERSION_MINOR 2

/* ------------------------------------------------------------------------
 * Codes of our own (all negative, all outside the -errno range).
 * ------------------------------------------------------------------------ */

/* The peer closed the connection before sock_recv_all() got all it asked. */
#define SOCK_EOF (-10001)
/* A host or service name could not be resolved (the resolver's reason is in
 * sock_error()). */
#define SOCK_ERESOLVE (-10002)
/* The socket was shut down or closed locally: e.g. an acceptor shut down
 * while sock_accept() waited, a recv after SOCK_SHUT_READ, a send after
 * SOCK_SHUT_WRITE, any call after sock_close(). */
#define SOCK_ECLOSED (-10003)
/* The peer ended its stream between two messages: the framing calls'
 * "no more messages", as opposed to SOCK_EOF, a message cut short. */
#define SOCK_END (-10004)
/* A security layer (libsock-tls) failed: the handshake, a certificate,
 * the peer's protocol; the reason is in sock_error(). */
#define SOCK_ETLS (-10005)
/* The peer ended its stream without closing its security layer first
 * (TLS: no close_notify), so what arrived may be cut short: the TLS form
 * of "a reset is never end of stream". */
#define SOCK_ETRUNCATED (-10006)

/* Longest address text: "[ffff:...:ffff%interface]:65535", or a Unix
 * socket's "unix:" and its path of up to 107 bytes, plus the NUL. */
#define SOCK_ADDRSTRLEN 120
/* Size of the per-socket error text buffer. */
#define SOCK_ERRLEN 256

/* How to shut down (sock_shutdown).  Equal to the system's SHUT_RD, SHUT_WR
 * and SHUT_RDWR, so either spelling works. */
#define SOCK_SHUT_READ SHUT_RD
#define SOCK_SHUT_WRITE SHUT_WR
#define SOCK_SHUT_READ_WRITE SHUT_RDWR

/* ------------------------------------------------------------------------
 * The socket handle.
 *
 * Declared here only so that it can live on the stack or inside your own
 * structures.  Its fields are private: use the functions below.
 * ------------------------------------------------------------------------ */
typedef struct sock {
    int priv_fd;          /* descriptor, -1 until bind/connect/accept */
    int priv_flags;       /* lifecycle state bits (atomic) */
    int priv_timeout_ms;  /* -1: wait forever */
    int priv_family;      /* AF_UNSPEC, AF_INET or AF_INET6 */
    unsigned priv_id;     /* number shown by the trace: sock#N */
    union {               /* the peer, kept so errors can name it after a reset */
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } priv_peer;
    /* What a handle needs only after a failure or during a non-blocking
     * connect (the error texts, the addresses still to try), allocated
     * then and released by sock_close(): a handle that never failed costs
     * this struct and nothing more, so a server can keep thousands. */
    struct sock__ext *priv_ext;
} sock_t;

/* ------------------------------------------------------------------------
 * Step 1: socket()
 * ------------------------------------------------------------------------ */

/* Prepare a handle.  Creates no descriptor yet: the address family is only
 * known once a name is resolved, so sock_bind() or sock_connect() creates it.
 * Use it on a new handle or on one that has been closed; never fails. */
void sock_init(sock_t *s);

/* Options, set between sock_init() and use.  Each returns 0, or -EINVAL
 * for a bad value (the reason in sock_error()). */

/* Restrict name resolution to AF_INET or AF_INET6; AF_UNSPEC (the default)
 * allows both.  With AF_INET6 a wildcard sock_bind() is IPv6 only (no IPv4
 * clients).  Must be called before sock_bind()/sock_connect(). */
int sock_set_family(sock_t *s, int family);

/* Numeric hosts and ports only (on: 1): no name service is asked at all,
 * not even /etc/hosts; a name is -EINVAL, said so in sock_error().  "unix:"
 * hosts still work.  Returns 0. */
int sock_set_numeric_only(sock_t *s, int on);

/* Bound every blocking call on s: sock_connect and sock_bind (their name
 * resolution included, and all addresses tried), sock_accept, sock_send,
 * sock_recv, and the whole of sock_send_all and sock_recv_all.  A name
 * server that does not answer in time ends the call with -ETIMEDOUT and
 * "resolve NAME: no answer within MS ms" (the abandoned lookup finishes in
 * the background, bounded too, and leaves nothing behind).  ms is in milliseconds, -1 waits forever (the default), 0
 * never waits.  A call that runs out of time returns -ETIMEDOUT, never
 * earlier than ms after it started, and EINTR never restarts the clock.
 * Sockets returned by sock_accept() inherit the acceptor's timeout.
 * With a finite timeout the descriptor is non-blocking (sock_fd users take
 * note).  Call it before other threads use s. */
int sock_set_timeout(sock_t *s, int ms);

/* The timeout set on s in milliseconds, -1 when its calls wait forever (or
 * s is NULL).  For layers that wait on sock_fd(s) themselves. */
int sock_timeout(const sock_t *s);

/* The permissions of the file a Unix socket bind creates, e.g. 0660 (who
 * may connect); without it the process's umask decides.  Call before
 * sock_bind().  Returns 0, or -EINVAL for bits outside 0777. */
int sock_set_unix_mode(sock_t *s, unsigned mode);

/* Happy Eyeballs (RFC 8305): when a name has several addresses and the
 * socket is not bound, sock_connect starts with the first (families
 * interleaved: IPv6, IPv4, IPv6, ...) and starts the next one after ms
 * milliseconds, or at once when one fails; the first to connect wins and
 * the others are closed before they are answered (no descriptor, no
 * half-open connection left).  Default 250 (the RFC's); 0 starts them all
 * at once; -1 tries one address after another, each to its end.  Returns 0
 * or -EINVAL (outside -1..60000). */
int sock_set_attempt_delay(sock_t *s, int ms);

/* TCP_NODELAY on (1) or off (0): send small writes at once instead of
 * waiting to coalesce them (Nagle).  Needs a descriptor (after bind, connect
 * or accept); -ENOTCONN before. */
int sock_set_nodelay(sock_t *s, int on);

/* ------------------------------------------------------------------------
 * Names: host and service strings.
 *
 * host is a name ("localhost"), a numeric IPv4 or IPv6 address, an IPv6
 * address in brackets ("[::1]") or with a zone ("fe80::1%eth0").  service is
 * a port number ("8080", "0" for any free port) or a service name ("http").
 *
 * A host "unix:PATH" names a Unix domain stream socket instead, in the same
 * lifecycle: "unix:/run/app.sock" a file, "unix:@name" a name in Linux's
 * abstract namespace (no file).  Its service must be NULL, "" or "0".  A
 * path longer than the system's limit (107 bytes) is -ENAMETOOLONG, never
 * cut short.  Their address text is "unix:/run/app.sock", "unix:@name", or
 * "unix:(unnamed)" for a client that did not bind.
 * A port number is plain decimal digits, 0..65535: a service that starts
 * with a digit, a sign or a blank and is not that ("99999", "-1", "+80",
 * " 80", "80 ", "0x50"), or that holds a blank or a control character
 * anywhere, is -EINVAL.
 * ------------------------------------------------------------------------ */

/* One address, as sock_bind()/sock_connect() would try it. */
typedef struct sock_addr {
    int family;                  /* AF_INET, AF_INET6 or AF_UNIX */
    char text[SOCK_ADDRSTRLEN];  /* "127.0.0.1:80" or "[::1]:80" */
} sock_addr_t;

/* Resolve host/service the way sock_connect(s, ...) would (or sock_bind when
 * passive is non-zero), honouring s's family, and store up to max addresses
 * in order of trial in out.  Returns how many addresses there are (which may
 * exceed max; only max are stored), or a negative code (SOCK_ERESOLVE,
 * -EINVAL) with the reason in sock_error(s).  Creates no descriptor. */
int sock_resolve(sock_t *s, const char *host, const char *service, int passive,
                 sock_addr_t *out, size_t max);

/* Split "HOST:PORT" into host and port, as written by people and other
 * tools: "127.0.0.1:80", "[::1]:80", "[fe80::1%lo]:http", "host:"
 * (empty port), ":80" (empty host).  Brackets are removed from host.
 * Returns 0, or -EINVAL when the text has no port ("[::1]", "host"), is
 * ambiguous ("::1"), or is malformed ("[a]:[b]c", "a]b:c"), or when a part
 * does not fit its buffer. */
int sock_split_hostport(const char *text, char *host, size_t hostlen,
                        char *port, size_t portlen);

/* Write the address sa (AF_INET or AF_INET6, e.g. from accept() or
 * recvfrom() of your own) as sock_local_addr() writes it: "127.0.0.1:80",
 * "[::1]:80", "[fe80::1%2]:80"; IPv4-mapped IPv6 addresses are shown as
 * IPv4.  Returns 0, -ENOSPC (buf too small; SOCK_ADDRSTRLEN always fits),
 * -EAFNOSUPPORT (another family; buf is then ""), -EINVAL (NULL). */
int sock_addr_format(const struct sockaddr *sa, char *buf, size_t len);

/* The port of sa (AF_INET or AF_INET6) in host order, or -EAFNOSUPPORT,
 * -EINVAL (NULL). */
int sock_addr_port(const struct sockaddr *sa);

/* ------------------------------------------------------------------------
 * Steps 2-4, server side: bind, listen, accept.
 * ------------------------------------------------------------------------ */

/* Create the descriptor and bind it to host/service.  host NULL, "" or "*"
 * binds every local address, dual-stack (one IPv6 socket that also accepts
 * IPv4 clients) where the system allows, else IPv4 only; after
 * sock_set_family(s, AF_INET6) it binds every IPv6 address only, and after
 * AF_INET every IPv4 address.  An explicit IPv6 address binds IPv6 only.  Every address of host is tried until one binds.
 * SO_REUSEADDR is set, so a server restarts at once while its old
 * connections sit in TIME_WAIT.  Service "0" lets the system choose a free
 * port (see sock_local_addr).  A Unix socket file left behind by a server
 * that died is replaced; one where a server still accepts is -EADDRINUSE
 * (a running server's path is never taken over); the file is removed when
 * the acceptor that created it is closed (if it is still that file).  Returns 0 or a negative code: -EADDRINUSE,
 * -EADDRNOTAVAIL, -EACCES, SOCK_ERESOLVE, -EINVAL (already bound or
 * connected, bad port), SOCK_ECLOSED (closed handle). */
int sock_bind(sock_t *s, const char *host, const char *service);

/* Make a bound socket an acceptor with room for backlog pending
 * connections; backlog < 0 means the system's maximum.  Returns 0, -EINVAL
 * if s is not bound (call sock_bind first) or already connected, or the
 * system's code (-EADDRINUSE). */
int sock_listen(sock_t *s, int backlog);

/* Wait for a client and fill peer with a new connected socket for it; the
 * acceptor stays usable for more clients.  peer is initialised by this call
 * (pass a new or closed handle) and inherits the acceptor's timeout.
 * Connections aborted before they were accepted are skipped.  Returns 0, or:
 * -EINVAL (acceptor not listening), SOCK_ECLOSED (acceptor shut down or
 * closed, also while this call waited), -ETIMEDOUT, -EMFILE/-ENFILE (out of
 * descriptors: the pending client stays queued; retry later), or another
 * -errno.  On failure peer is left initialised and closed. */
int sock_accept(sock_t *acceptor, sock_t *peer);

/* ------------------------------------------------------------------------
 * Step 4, client side: connect.
 * ------------------------------------------------------------------------ */

/* Connect to host/service, trying every resolved address until one answers:
 * in RFC 8305's order, several at once (see sock_set_attempt_delay), unless
 * the socket was bound or is non-blocking (then one after another).  Without an earlier sock_bind() the system binds implicitly to a
 * free ephemeral port; after sock_bind() that address is kept (and only
 * addresses of its family are tried).  A connection of a socket to itself
 * is refused (-ECONNREFUSED), whichever address reached this host
 * ("127.0.0.1", "0.0.0.0", "::" ...).  A failed attempt leaves nothing
 * behind: no descriptor of an implicit bind, and on a bound socket no SYN
 * in flight or half-made connection, so the handle keeps its bound address
 * (and its port, unless it was bound to port "0": the system then picks a
 * new one) and may call sock_connect() again, to any server; sock_fd()
 * stays the same.  The timeout, if set, bounds all attempts together.  Returns 0
 * or the last attempt's code (-ECONNREFUSED, -ETIMEDOUT, -ENETUNREACH, ...),
 * SOCK_ERESOLVE, -EINVAL (already connected, listening, bad port),
 * -EAFNOSUPPORT (a literal address of the other family than the bound one
 * or the one sock_set_family chose), -EALREADY (a non-blocking connect is
 * under way), with every address tried and its reason in sock_error().  In
 * non-blocking mode it returns -EINPROGRESS once the first attempt is
 * under way: see sock_connect_finish(). */
int sock_connect(sock_t *s, const char *host, const char *service);

/* ------------------------------------------------------------------------
 * Step 5: send and receive.
 * ------------------------------------------------------------------------ */

/* Send some of buf (at least one byte, maybe fewer than len).  Returns the
 * count sent (> 0), or: -EINVAL (len 0, buf NULL), -ENOTCONN (not
 * connected), SOCK_ECLOSED (write side shut down or socket closed),
 * -EPIPE/-ECONNRESET (the connection is gone), -ETIMEDOUT. */
ssize_t sock_send(sock_t *s, const void *buf, size_t len);

/* Receive some bytes into buf (at least one, at most len).  Returns the
 * count (> 0), 0 when the peer closed in order (end of stream), or:
 * -ECONNRESET (reset: never reported as end of stream), SOCK_ECLOSED (read
 * side shut down locally, also while this call waited), -EINVAL, -ENOTCONN,
 * -ETIMEDOUT. */
ssize_t sock_recv(sock_t *s, void *buf, size_t len);

/* Send exactly len bytes, looping over partial sends.  Returns 0 when all
 * were sent, else the failing code as for sock_send().  When sent is not
 * NULL it holds the bytes really handed to the system, on success and on
 * failure.  len 0 succeeds at once. */
int sock_send_all(sock_t *s, const void *buf, size_t len, size_t *sent);

/* Receive exactly len bytes, looping over partial receives.  Returns 0, or
 * SOCK_EOF if the peer closed first, or the failing code as for
 * sock_recv().  received (when not NULL) holds the bytes really stored in
 * buf, on success and on failure.  len 0 succeeds at once. */
int sock_recv_all(sock_t *s, void *buf, size_t len, size_t *received);

/* ------------------------------------------------------------------------
 * Step 5, the course's protocols: messages on the stream.
 *
 * TCP delivers bytes, not messages.  A reader reads ahead into storage you
 * give it and keeps whatever it read past the end of one message for the
 * next call, so no byte is lost between calls; read a socket either through
 * its reader or directly (sock_recv), not both.  Every reader call has one
 * deadline (the socket's timeout) for the whole message; a shutdown wake
 * ends it with SOCK_ECLOSED; in non-blocking mode it returns -EAGAIN and
 * keeps the partial message, which the next call finishes.  Each returns
 * 0, or:
 *   SOCK_END    the peer ended its stream between messages (no more);
 *   SOCK_EOF    the stream ended inside a message (*len: its bytes stored);
 *   -EMSGSIZE   the message is longer than allowed (what happens to the
 *               stream is said for each call);
 *   -EAGAIN, and the codes of sock_recv().
 * ------------------------------------------------------------------------ */

typedef struct sock_reader {
    sock_t *priv_s;
    unsigned char *priv_buf;
    size_t priv_cap, priv_start, priv_end;
    int priv_pending;            /* a message's length was read, not its body */
    uint64_t priv_pending_len;
    size_t priv_pending_got;     /* of a long one, the bytes already in out */
} sock_reader_t;

/* Read s through buf (cap bytes, at least 8; the longest line or message
 * you accept, plus its delimiter, should fit).  Returns 0 or -EINVAL. */
int sock_reader_init(sock_reader_t *r, sock_t *s, void *buf, size_t cap);

/* Bytes read ahead and not handed out yet. */
size_t sock_reader_buffered(const sock_reader_t *r);

/* Read up to the delimiter delim (dlen bytes, one or more, e.g. "\r\n\r\n")
 * and store the message before it in out, NUL-terminated (so at most max - 1
 * bytes); the delimiter is consumed and not stored; *len is the message's
 * length.  -EMSGSIZE when no delimiter comes within max - 1 bytes or within
 * the reader's buffer: the first bytes of the message are stored (*len of
 * them) and consumed, and the rest of it stays in the stream (close the
 * connection, or read on to the next delimiter).  The bytes may hold NULs:
 * trust *len, not strlen. */
int sock_read_until(sock_reader_t *r, const void *delim, size_t dlen, char *out, size_t max,
                    size_t *len);

/* sock_read_until(r, "\n", 1, ...), and a "\r" before the "\n" is dropped
 * too (CRLF lines). */
int sock_read_line(sock_reader_t *r, char *out, size_t max, size_t *len);

/* Exactly len bytes into out, through the reader (what it holds first).
 * *got tells how many were stored, on success and on failure; in
 * non-blocking mode -EAGAIN with *got: call again with out + *got and
 * len - *got. */
int sock_read_exact(sock_reader_t *r, void *out, size_t len, size_t *got);

/* Drop len bytes of the stream (e.g. the body of a message refused with
 * -EMSGSIZE).  Returns 0, SOCK_EOF, or the codes of sock_recv(); *skipped
 * (when not NULL) tells how many were dropped, and in non-blocking mode
 * -EAGAIN with *skipped: call again for len - *skipped. */
int sock_read_skip(sock_reader_t *r, size_t len, size_t *skipped);

/* Length prefixes of messages, and integers: big-endian (network order,
 * the course's) unless named LE. */
#define SOCK_U8    1  /* a 1-byte length: 0..255 */
#define SOCK_U16BE 2  /* 2 bytes, big-endian: 0..65535 */
#define SOCK_U32BE 3  /* 4 bytes, big-endian */
#define SOCK_U16LE 4  /* 2 bytes, little-endian (named as such) */
#define SOCK_U32LE 5  /* 4 bytes, little-endian */
#define SOCK_U64BE 6  /* integers only: 8 bytes, big-endian */

/* Send msg (len bytes, 0 allowed) after its length as prefix says, as one
 * stream, with sock_send_all()'s rules; *sent (when not NULL) counts the
 * bytes of prefix and message handed to the system (in non-blocking mode
 * -EAGAIN with *sent: send the rest of the frame yourself).  -EMSGSIZE
 * (nothing sent) when len does not fit the prefix; -EINVAL for an unknown
 * prefix. */
int sock_send_msg(sock_t *s, int prefix, const void *msg, size_t len, size_t *sent);

/* Read one message sent with a length prefix into out (at most max
 * bytes); *len is its length (0 is a valid, empty message).  -EMSGSIZE
 * when the length is over max: the prefix is consumed, the message is left
 * unread in the stream and *len is its length (sock_read_skip(r, *len,
 * NULL) drops it; a length far over 16 MiB often means the other byte
 * order, and the error text says so).  SOCK_EOF when the stream ends inside
 * the message, with *len bytes of it stored.  After -EAGAIN or -ETIMEDOUT
 * call again with the same out: a message that fits the reader's buffer
 * waits there, a longer one goes on filling out where it stopped. */
int sock_read_msg(sock_reader_t *r, int prefix, void *out, size_t max, size_t *len);

/* Big-endian integers, sent and received exactly: no htonl() on a
 * uint16_t again.  Send returns as sock_send_all(); read as the reader's
 * calls (SOCK_END before the first byte, SOCK_EOF inside). */
int sock_send_u16(sock_t *s, uint16_t v);
int sock_send_u32(sock_t *s, uint32_t v);
int sock_send_u64(sock_t *s, uint64_t v);
int sock_read_u8(sock_reader_t *r, uint8_t *v);
int sock_read_u16(sock_reader_t *r, uint16_t *v);
int sock_read_u32(sock_reader_t *r, uint32_t *v);
int sock_read_u64(sock_reader_t *r, uint64_t *v);

/* ------------------------------------------------------------------------
 * Steps 6-8: shutdown and close.
 * ------------------------------------------------------------------------ */

/* Shut down one or both directions: how is SOCK_SHUT_READ, SOCK_SHUT_WRITE
 * or SOCK_SHUT_READ_WRITE.  SOCK_SHUT_WRITE sends end of stream (FIN) after
 * the data already sent; the peer can still reply.  After SOCK_SHUT_READ,
 * sock_recv() returns SOCK_ECLOSED (data still pending is discarded, not
 * returned); after SOCK_SHUT_WRITE, sock_send() returns SOCK_ECLOSED.  From
 * another thread, SOCK_SHUT_READ wakes a blocked sock_recv().  On an
 * acceptor every how means "stop accepting": it stops listening and wakes
 * a blocked sock_accept(), and that and every later sock_accept() return
 * SOCK_ECLOSED.  Shutting
 * down a direction twice is harmless (0).  Returns 0, or -EINVAL (unknown
 * how), -ENOTCONN (never connected, or the connection was reset),
 * SOCK_ECLOSED (closed handle), -EAGAIN (non-blocking, with a layer whose
 * own end, e.g. TLS's close_notify, could not be sent yet: nothing was shut
 * down; call again when the socket is writable). */
int sock_shutdown(sock_t *s, int how);

/* Release the descriptor.  Data already sent is still delivered in the
 * background (orderly close); unread received data makes the system send a
 * reset.  Closing twice, or closing a handle that never got a descriptor, is
 * harmless (0).  Returns 0 or the system's -errno (the descriptor is
 * released anyway). */
int sock_close(sock_t *s);

/* Abortive close: discard unsent data and reset the connection (RST) at
 * once, leaving no TIME_WAIT behind.  Returns as sock_close(). */
int sock_abort(sock_t *s);

/* ------------------------------------------------------------------------
 * Many connections at once: non-blocking use.
 *
 * For a program that waits for many sockets in one thread (with the poller
 * below, or its own poll/epoll loop).  Everything else keeps its meaning: no
 * SIGPIPE, 0 is end of stream and never a reset, SOCK_ECLOSED after our own
 * shutdown, every descriptor close-on-exec, sock_error() for real failures.
 * ------------------------------------------------------------------------ */

/* Non-blocking mode on (1) or off (0).  In it, a call that would wait
 * returns -EAGAIN instead, at the cost of the system call alone (no error
 * text is built, sock_error() is left as it was, nothing is allocated):
 *   sock_send / sock_recv      -EAGAIN when nothing can move now;
 *   sock_send_all / _recv_all  -EAGAIN with *sent / *received telling how
 *                              far they got (call again for the rest);
 *   sock_accept                -EAGAIN when no client waits; -EMFILE and
 *                              -ENFILE stay distinct (the client stays
 *                              queued); accepted sockets are non-blocking;
 *   sock_connect               -EINPROGRESS: see sock_connect_finish().
 * The timeout (sock_set_timeout) does not apply in this mode: the caller's
 * loop keeps time.  May be set before the descriptor exists or after;
 * returns 0 or -errno. */
int sock_set_nonblocking(sock_t *s, int on);

/* 1 when s is in non-blocking mode (sock_set_nonblocking), else 0 (also
 * for NULL).  The descriptor's O_NONBLOCK does not tell: a timeout sets it
 * too. */
int sock_is_nonblocking(const sock_t *s);

/* Go on with a non-blocking sock_connect() that returned -EINPROGRESS,
 * once sock_fd(s) is writable (or in error).  Returns 0 when connected,
 * -EINPROGRESS while an attempt is still under way (the current one, or the
 * next address after one failed: wait for writable again), or the final
 * code as a blocking sock_connect() returns it, with every address tried
 * and its reason in sock_error().  All attempts of one connect use the same
 * descriptor (an IPv6 one reaches IPv4 addresses through their IPv4-mapped
 * form, after every IPv6 address: Linux cannot go back), so a poller
 * registration made after sock_connect() stays valid
 * until the end; after a final failure without an explicit bind the
 * descriptor is closed, as a blocking connect leaves none.  On a connected
 * socket it returns 0; -EINVAL when no connect was started. */
int sock_connect_finish(sock_t *s);

/* ------------------------------------------------------------------------
 * Zero-copy transfers between a socket and another descriptor.
 *
 * The kernel moves the bytes (sendfile from a file, splice through a pipe
 * of the library's for anything else) and user memory never sees them;
 * where the kernel refuses (a /proc file, a terminal, a file opened with
 * O_APPEND) the bytes are copied instead, transparently.  The rules are
 * those of sock_send_all(): exactly len bytes or a failure; the count of
 * bytes that reached the destination, on success and on failure; the
 * timeout bounds the whole call; no SIGPIPE, from the socket or from a pipe
 * whose reader is gone (it is blocked in the calling thread for the call,
 * and one the call caused is taken back).
 * ------------------------------------------------------------------------ */

/* As len: everything, until the input ends (the end is then success). */
#define SOCK_TO_END ((size_t)-1)

/* Send len bytes of the file fd to s, from *offset (which is advanced past
 * what was sent), or from the file's own position when offset is NULL
 * (which is advanced instead).  Returns 0, SOCK_EOF (the file ended before
 * len bytes; never with SOCK_TO_END), -EAGAIN in non-blocking mode (*sent
 * tells how far it got; call again for the rest), SOCK_ECLOSED (write side
 * shut down), -EBADF, or the failing code as for sock_send().  sent (when
 * not NULL) holds the bytes handed to the system. */
int sock_sendfile(sock_t *s, int fd, off_t *offset, size_t len, size_t *sent);

/* Send len bytes read from fd (a pipe, a file, another socket, stdin) to s,
 * or everything until fd's end with SOCK_TO_END.  Returns 0, SOCK_EOF (fd
 * ended before len bytes), SOCK_ECLOSED, -EINVAL in non-blocking mode (use
 * a loop of your own there), or the failing code of either side; moved
 * (when not NULL) holds the bytes that reached s. */
int sock_send_from(sock_t *s, int fd, size_t len, size_t *moved);

/* Receive len bytes from s into fd (a pipe, a file, /dev/null, another
 * socket, stdout), or everything until end of stream with SOCK_TO_END.
 * Returns 0, SOCK_EOF (the peer closed before len bytes), -ECONNRESET,
 * SOCK_ECLOSED (read side shut down), -EINVAL in non-blocking mode, or the
 * failing code of either side (-EPIPE: fd's reader is gone); moved (when
 * not NULL) holds the bytes written to fd. */
int sock_recv_into(sock_t *s, int fd, size_t len, size_t *moved);

/* The building block of the calls above, for a loop of your own that
 * forwards streams without blocking (a proxy, a relay): a kernel pipe that
 * holds the bytes in flight between a fill from one descriptor and a drain
 * into another, so that either side may stop when it would block and go on
 * later.  Declared here so that it can live inside your structures; its
 * fields are private.  Neither call ever waits on the pipe; each waits on
 * its descriptor only if that descriptor is blocking.  Not for two threads
 * at once. */
typedef struct sock_pipe {
    int priv_fd[2];          /* the kernel pipe */
    size_t priv_held;        /* bytes in it */
    size_t priv_cap;         /* its capacity */
    int priv_copy;           /* which side the kernel cannot splice */
    char *priv_buf;          /* copy buffer (allocated when needed) */
    size_t priv_buf_off, priv_buf_len;
} sock_pipe_t;

/* A pipe not opened yet, for initialising one that may be closed before
 * it is opened: sock_pipe_t p = SOCK_PIPE_UNOPENED; (sock_pipe_close() and
 * sock_pipe_held() are harmless on it). */
#define SOCK_PIPE_UNOPENED {.priv_fd = {-1, -1}}

/* Open the pipe (1 MiB where the system allows, else its default).
 * Returns 0 or -errno (-EMFILE). */
int sock_pipe_open(sock_pipe_t *p);
/* Release it; bytes still held are discarded.  Harmless on a closed one. */
void sock_pipe_close(sock_pipe_t *p);
/* Bytes held (filled and not yet drained), and room for more. */
size_t sock_pipe_held(const sock_pipe_t *p);
size_t sock_pipe_room(const sock_pipe_t *p);

/* Fill: move up to max bytes from s (or fd) into the pipe.  Returns the
 * count (> 0), 0 at end of stream, -EAGAIN when nothing can be read now or
 * the pipe is full, or a code: -ECONNRESET (never end of stream), and for
 * a socket SOCK_ECLOSED after our own SOCK_SHUT_READ. */
ssize_t sock_pipe_fill(sock_pipe_t *p, sock_t *s, size_t max);
ssize_t sock_pipe_fill_fd(sock_pipe_t *p, int fd, size_t max);

/* Drain: move what the pipe holds into s (or fd), as much as it takes now.
 * Returns the count (> 0), -EAGAIN when it takes nothing now or the pipe is
 * empty, or a code: -EPIPE/-ECONNRESET (the reader is gone; never a
 * SIGPIPE), SOCK_ECLOSED after our own SOCK_SHUT_WRITE. */
ssize_t sock_pipe_drain(sock_pipe_t *p, sock_t *s);
ssize_t sock_pipe_drain_fd(sock_pipe_t *p, int fd);

/* ------------------------------------------------------------------------
 * Many connections at once: the poller.
 *
 * A readiness loop in the style of epoll (Linux) or Rust's mio: register
 * sockets (or any descriptor: stdin, a pipe, a signalfd) with an interest
 * and a pointer of yours, wait, and get back the pointers of those that are
 * ready.  No callbacks.  Level-triggered by default: a socket is reported
 * at every wait for as long as it is readable (writable); with SOCK_EDGE it
 * is reported once per change, and the caller must then read (write) until
 * -EAGAIN.  SOCK_ONESHOT reports once and disarms the entry until
 * sock_poller_modify().  The poller keeps no copy of what it watches (the
 * kernel's interest list holds your pointer), so it costs no memory per
 * registration.
 *
 * Closing a registered socket (sock_close) removes it from the poller, as
 * long as its descriptor was not duplicated; but events already returned
 * by a wait may still carry its pointer: when handling one event closes
 * another connection, mark that connection dead and skip its events.  One
 * thread waits; any thread may call sock_poller_wake().
 * ------------------------------------------------------------------------ */

typedef struct sock_poller sock_poller_t;

/* Interest and readiness bits. */
#define SOCK_READABLE 0x01u /* data, end of stream, or a client to accept */
#define SOCK_WRITABLE 0x02u /* room to send, or a non-blocking connect done */
#define SOCK_EDGE     0x04u /* interest flag: edge-triggered */
#define SOCK_ONESHOT  0x08u /* interest flag: report once, then disarm */
#define SOCK_HUP      0x10u /* readiness only: the peer ended its stream (when
                               reading is watched) or hung up (always);
                               reported with SOCK_READABLE */
#define SOCK_ERROR    0x20u /* readiness only: an error is pending (reported with
                               SOCK_READABLE | SOCK_WRITABLE; the next call says which) */

/* One ready registration. */
typedef struct sock_event {
    void *user;       /* the pointer given at add/modify */
    unsigned events;  /* SOCK_READABLE, SOCK_WRITABLE, SOCK_HUP, SOCK_ERROR */
} sock_event_t;

/* Create a poller in *out.  Returns 0, or -EMFILE/-ENFILE/-ENOMEM; *out is
 * NULL on failure. */
int sock_poller_open(sock_poller_t **out);

/* Release the poller (the sockets it watched stay open).  NULL is
 * harmless. */
void sock_poller_close(sock_poller_t *p);

/* Watch s (it must have a descriptor: after bind, connect or accept) for
 * events, a mix of SOCK_READABLE, SOCK_WRITABLE, SOCK_EDGE, SOCK_ONESHOT;
 * 0 watches only for hang-ups and errors.  user comes back in each event.
 * Returns 0, -EEXIST (already watched), -EBADF (no descriptor), -EINVAL,
 * -ENOMEM, -ENOSPC (the system's limit on watches). */
int sock_poller_add(sock_poller_t *p, const sock_t *s, unsigned events, void *user);
/* Change the interest and pointer of a watched socket: 0, -ENOENT, ... */
int sock_poller_modify(sock_poller_t *p, const sock_t *s, unsigned events, void *user);
/* Stop watching s: 0, -ENOENT. */
int sock_poller_remove(sock_poller_t *p, const sock_t *s);

/* The same for any descriptor of yours (stdin, a pipe, a signalfd, a
 * timerfd). */
int sock_poller_add_fd(sock_poller_t *p, int fd, unsigned events, void *user);
int sock_poller_modify_fd(sock_poller_t *p, int fd, unsigned events, void *user);
int sock_poller_remove_fd(sock_poller_t *p, int fd);

/* Wait until at least one watched descriptor is ready, sock_poller_wake()
 * is called, or timeout_ms passes (-1 waits forever, 0 only looks), and
 * store up to max events (at most 256 per call; more are returned by the
 * next waits).  Returns the number stored, 0 when woken or timed out, or
 * -errno (-EINVAL for max <= 0).  EINTR is retried with the time left. */
int sock_poller_wait(sock_poller_t *p, sock_event_t *events, int max, int timeout_ms);

/* Make a sock_poller_wait() return now, or the next one if none is in
 * progress (wake-ups do not accumulate).  Safe from any thread and from a
 * signal handler.  Returns 0 or -errno. */
int sock_poller_wake(sock_poller_t *p);

/* ------------------------------------------------------------------------
 * Layers: a transport under the handle.
 *
 * A transport carries a connected handle's bytes in place of the plain
 * socket calls: libsock-tls (sock_tls.h) installs one after its handshake,
 * and from then on sock_send, sock_recv, the *_all calls, the framing
 * calls, sock_pipe_t, timeouts, the shutdown wake and non-blocking mode
 * work unchanged on the secured stream (the zero-copy calls copy instead:
 * the bytes must pass through the layer).  For writers of such layers.
 * ------------------------------------------------------------------------ */

typedef struct sock_transport {
    const char *name;  /* shown by the trace, e.g. "tls" */
    /* Move up to len bytes on descriptor fd.  Return the count (> 0; recv:
     * 0 at the peer's orderly end), or a negative code: -EAGAIN with *want
     * set to SOCK_READABLE or SOCK_WRITABLE (what the layer waits for: a
     * TLS read may need to write first), -EINTR to be called again, or a
     * failure (a code of sock.h, with the text set by sock_set_error()). */
    ssize_t (*send)(void *ctx, int fd, const void *buf, size_t len, unsigned *want);
    ssize_t (*recv)(void *ctx, int fd, void *buf, size_t len, unsigned *want);
    /* Bytes the layer holds that recv would return without reading fd: a
     * poller cannot see them, so a caller drains them (sock_pending()). */
    size_t (*pending)(void *ctx);
    /* End the sending side within the layer (TLS: send close_notify)
     * before sock_shutdown() ends it on the socket.  0, -EAGAIN with *want,
     * or a failure.  May be NULL. */
    int (*shutdown)(void *ctx, int fd, unsigned *want);
    /* Release ctx: called once, by sock_close()/sock_abort() or when
     * another transport replaces this one.  May be NULL. */
    void (*release)(void *ctx);
} sock_transport_t;

/* Put transport t (with its ctx) under the connected handle s; NULL takes
 * the plain socket back.  Call before other threads use s.  Returns 0,
 * -ENOTCONN, -ENOMEM. */
int sock_set_transport(sock_t *s, const sock_transport_t *t, void *ctx);

/* The ctx of s's transport if it is t, else NULL (a layer finds its own
 * state from a handle). */
void *sock_transport_ctx(const sock_t *s, const sock_transport_t *t);

/* The name of s's transport ("tls"), or NULL when s carries its bytes
 * itself (or s is NULL).  A caller that moves bytes between descriptors
 * (splice, sendfile) learns here that they must pass through the layer. */
const char *sock_transport_name(const sock_t *s);

/* Bytes waiting inside s's transport (0 without one): read them before
 * waiting for the socket to become readable. */
size_t sock_pending(const sock_t *s);

/* In non-blocking mode, what the last -EAGAIN of s's receives (sending 0)
 * or sends (sending 1) waits for: SOCK_READABLE or SOCK_WRITABLE.  A plain
 * socket's receive waits to be readable and its send to be writable (also
 * before any -EAGAIN); a transport may need the other (a TLS receive that
 * must first send, a TLS send that must first receive), and an event loop
 * then waits for that instead.  NULL gives the plain answer. */
unsigned sock_want(const sock_t *s, int sending);

/* For layers: record the failure text of s (printf-style) as sock_error()
 * will show it, and return code.  Called from inside a hook of s, it
 * records the text of that hook's side (send, receive or shutdown), so a
 * layer failing on a receiving thread does not touch a sending thread's
 * text; anywhere else, the send side's. */
int sock_set_error(sock_t *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* For layers: report a step of theirs to the trace (e.g. "tls_handshake"
 * with the version and the cipher in args), as the library's own steps
 * are; costs nothing when tracing is off. */
void sock_trace_step(const sock_t *s, const char *step, long long result, const char *args);

/* ------------------------------------------------------------------------
 * Inspection.
 * ------------------------------------------------------------------------ */

/* Write the local (or peer) address of s as "127.0.0.1:34390" or
 * "[::1]:8080" into buf.  Returns 0, -ENOTCONN (no descriptor / no peer:
 * before bind or connect, and after sock_close()), -ENOSPC (buf too small;
 * SOCK_ADDRSTRLEN always fits), -EINVAL.  The peer stays known after the
 * connection was reset, until sock_close(). */
int sock_local_addr(const sock_t *s, char *buf, size_t len);
int sock_peer_addr(const sock_t *s, char *buf, size_t len);

/* The credentials of the process at the other end of a connected Unix
 * socket, as the kernel saw them when the connection was made (any of the
 * pointers may be NULL).  Returns 0, -ENOTCONN, -EAFNOSUPPORT (not a Unix
 * socket). */
int sock_peer_cred(const sock_t *s, pid_t *pid, uid_t *uid, gid_t *gid);

/* The local port (after bind, connect or accept), or a negative code
 * (-EAFNOSUPPORT for a Unix socket). */
int sock_local_port(const sock_t *s);

/* The number the trace shows for s ("sock#3"), for programs that report
 * steps of their own alongside the library's. */
unsigned sock_id(const sock_t *s);

/* The error the system holds for s's connection, taken and cleared (as
 * SO_ERROR does): -ECONNRESET, -ETIMEDOUT, ... or 0 when there is none.
 * For an event loop told of an error (SOCK_ERROR) by the poller while it
 * wants nothing of that connection: after end of stream a receive returns
 * 0, and the reset would go unsaid.  -ENOTCONN without a descriptor. */
int sock_take_error(sock_t *s);

/* The descriptor, or -1 before bind/connect/accept and after close.  Use it
 * for poll()/setsockopt(); closing it yourself breaks the handle. */
int sock_fd(const sock_t *s);

/* The version of the library the program runs with, "MAJOR.MINOR.PATCH"
 * (e.g. "0.2.0"): it may be newer than the SOCK_VERSION_MAJOR and
 * SOCK_VERSION_MINOR the program was compiled against.  Never NULL. */
const char *sock_version(void);

/* ------------------------------------------------------------------------
 * Errors.
 * ------------------------------------------------------------------------ */

/* A distinct, human text for every code: 0, -errno, SOCK_EOF, SOCK_ERESOLVE,
 * SOCK_ECLOSED.  Never NULL; unknown codes get a generic text.  Positive
 * values are read as errno values. */
const char *sock_strerror(int code);

/* What the last failure on s was, e.g. "connect localhost:8080: [::1]:8080
 * Connection refused; 127.0.0.1:8080 Connection refused".  "" when s has not
 * failed yet.  The text stays valid until the next failing call of the same
 * kind on s (send side, receive side, shutdown).  When threads share s, it
 * is the text of whichever failed last: a thread woken by another's
 * shutdown may read the shutdown's failure (e.g. the connection was reset),
 * which then describes its own failure too. */
const char *sock_error(const sock_t *s);

/* ------------------------------------------------------------------------
 * Step-by-step trace.
 *
 * With SOCK_TRACE=1 in the environment, every lifecycle step of every socket
 * is written to stderr, one line each.  A program may instead install its
 * own callback.  When tracing is off it costs one predictable branch.
 * ------------------------------------------------------------------------ */

/* One step.  Strings are valid only during the callback. */
typedef struct sock_trace_event {
    const sock_t *sock;    /* the socket the step acted on */
    unsigned id;           /* its number: "sock#3" */
    int fd;                /* its descriptor (-1 if none) */
    const char *step;      /* "socket" "bind" "listen" "accept" "connect"
                              "send" "recv" "shutdown" "close" "abort",
                              "send_all" "recv_all", "connect_finish",
                              "sendfile" "send_from" "recv_into",
                              "poller_add" "poller_modify" "poller_remove" */
    const char *args;      /* the call's arguments, e.g. "\"127.0.0.1\", \"0\"";
                              listen shows the backlog the kernel granted
                              (capped at net.core.somaxconn), not -1 */
    long long result;      /* the call's return value */
    const char *local;     /* local address text, "" if none */
    const char *peer;      /* peer address text, "" if none */
    const sock_t *created; /* accept: the new socket; NULL otherwise */
    const char *error;     /* on failure, sock_error() text; else "" */
} sock_trace_event_t;

typedef void (*sock_trace_fn)(const sock_trace_event_t *ev, void *user);

/* Send every step to fn (with user), or stop tracing with fn NULL.  This
 * overrides SOCK_TRACE.  Call it before other threads use the library. */
void sock_set_trace(sock_trace_fn fn, void *user);

/* The callback SOCK_TRACE=1 installs: each step as one line on stderr,
 * written with a single write() so that lines of several threads never
 * mix.  sock_set_trace(sock_trace_to_stderr, NULL) turns it on from code. */
void sock_trace_to_stderr(const sock_trace_event_t *ev, void *user);

/* Format ev as the one-line text SOCK_TRACE=1 prints (no newline) into buf.
 * Returns the length the full line needs, like snprintf: buf may be NULL
 * when len is 0, to measure.  String fields left NULL read as "".  Returns
 * -EINVAL when ev is NULL. */
int sock_trace_format(const sock_trace_event_t *ev, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* SOCK_H */
