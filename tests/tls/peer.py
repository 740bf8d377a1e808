#!/usr/bin/env python3
"""A TLS peer on Python's ssl module for tests/tls/test_interop.c.

    peer.py server HOST CERT KEY FIRST SIZE
    peer.py client HOST PORT CA FIRST SIZE

The client verifies the server (CA, host name 'localhost', as
create_default_context does).  FIRST is 'peer' when this side sends its SIZE
bytes first and ends them with close_notify (a half-close: it goes on
reading), or 'sock' when it first reads the other side's bytes up to its
close_notify and only then sends its own and closes.  A stream cut without
close_notify is an error here (exit 3).  At the end it prints
'sent HEX N' and 'received HEX N' (SHA-256 and byte count) on stdout.

An SSLObject over memory BIOs rather than an SSLSocket, because only it
lets us send close_notify and keep reading (SSLSocket.unwrap waits for the
peer's close_notify at once).
"""
import hashlib
import random
import socket
import ssl
import sys

CHUNK = 1 << 18


def main():
    role, host = sys.argv[1], sys.argv[2]
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if role == "server":
        cert, key, first, size = sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        lsock = socket.socket(family, socket.SOCK_STREAM)
        lsock.bind((host, 0))
        lsock.listen(1)
        lsock.settimeout(20)
        port = lsock.getsockname()[1]
        shown = "[%s]" % host if family == socket.AF_INET6 else host
        print("listening on %s:%d" % (shown, port), flush=True)
        sock, _ = lsock.accept()
        lsock.close()
        obj = ctx.wrap_bio(inc, out, server_side=True)
    else:
        port, ca, first, size = int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6])
        ctx = ssl.create_default_context(cafile=ca)
        sock = socket.create_connection((host, port), timeout=20)
        obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    sock.settimeout(20)

    def flush():
        data = out.read()
        if data:
            sock.sendall(data)

    def fill():
        data = sock.recv(1 << 16)
        if data:
            inc.write(data)
        else:
            inc.write_eof()

    def op(fn, *args):
        while True:
            try:
                r = fn(*args)
                flush()
                return r
            except ssl.SSLWantReadError:
                flush()
                fill()

    def send_all():
        h, rnd, left = hashlib.sha256(), random.Random(size), size
        while left:
            data = rnd.randbytes(min(CHUNK, left))
            op(obj.write, data)
            h.update(data)
            left -= len(data)
        return h.hexdigest()

    def recv_all():
        h, n = hashlib.sha256(), 0
        while True:
            try:
                data = op(obj.read, 1 << 16)
            except ssl.SSLZeroReturnError:
                break
            except ssl.SSLEOFError:
                print("truncated: the stream ended without close_notify", file=sys.stderr)
                sys.exit(3)
            if not data:
                break
            h.update(data)
            n += len(data)
        return h.hexdigest(), n

    def close_notify():
        try:
            obj.unwrap()
        except ssl.SSLWantReadError:
            pass  # sent; the peer's comes with the data still to read
        flush()

    op(obj.do_handshake)
    if first == "peer":
        sent = send_all()
        close_notify()
        got, n = recv_all()
    else:
        got, n = recv_all()
        sent = send_all()
        close_notify()
    sock.close()
    print("sent %s %d" % (sent, size))
    print("received %s %d" % (got, n), flush=True)


main()
