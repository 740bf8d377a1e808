#!/usr/bin/env python3
"""run.py BUILD_DIR: everything `make bench` measures, in one run.

  1. libsock vs raw system calls (BUILD/sock-bench, the same code as
     `sock bench`): throughput, round trip, connection rate.
  2. A 1 GiB transfer from a file through `sock connect` into
     `sock listen > /dev/null`, against the same transfer by a minimal
     sendfile -> splice loop on raw system calls (BUILD/bench-peers/zerocopy,
     the kernel's own limit), nc (OpenBSD), socat and iperf3 -l 1M.
     Targets: sock/zerocopy >= 0.95, sock/nc >= 2.0, sock/iperf3 >= 0.7.
  3. `sock echo` against socat in fork mode and a minimal epoll echo on raw
     system calls (BUILD/bench-peers/raw_epoll_echo): 100 clients
     ping-ponging 512 bytes, requests per second.  Target: sock/raw >= 0.97 (issue 10).
  4. `sock relay -q -k` in front of a local nginx serving a small static
     file: HTTP requests per second of `wrk -c 16 -t 2 -d 5s` through the
     relay, through haproxy (mode tcp) and through socat (fork), with the
     direct figure (no relay) beside them.  Targets: sock/haproxy >= 1.0,
     sock/socat >= 2.0.  Then one 1 GiB stream through each relay, between
     the zerocopy peers (no target).
  5. "reach": connect latency to a name with a dead IPv6 and a live IPv4
     address (he.test: 2001:db8::1, whose SYNs an nft rule drops, and
     127.0.0.1), inside network and mount namespaces of its own (unshare
     --net --mount, root; /etc/hosts replaced by a bind mount there):
     libsock's sock_connect (BUILD/bench-peers/he_connect, Happy Eyeballs:
     about its 250 ms stagger) vs curl (its own Happy Eyeballs, 200 ms) vs
     Python's socket.create_connection (none: it waits out the IPv6
     attempt, bounded here by a timeout of BENCH_REACH_PY_TIMEOUT_MS, default
     2000, per address).  Medians and ratios, no target.
  6. TLS (libsock-tls, BUILD/tls-bench): BENCH_MIB MiB through one TLS
     connection, tls-bench send -> tls-bench serve, against openssl
     s_client -> s_server and socat OPENSSL -> socat OPENSSL-LISTEN; then
     full handshakes per second of tls-bench against openssl s_time -new,
     both against the same openssl s_server.  Every client verifies the
     server (a CA and a certificate for localhost made with openssl for the
     run, EC P-256); every side uses OpenSSL 3's defaults, so the same
     cipher (the one negotiated is printed).  Targets: throughput
     sock/openssl >= 0.95, sock/socat >= 1.5; handshakes sock/s_time >= 0.95.
     Beside each handshake rate, the client's CPU time per handshake
     (docs/tls.md: s_time -verify checks the chain but refuses nothing).
  7. "trace": the overhead of `sock trace` (bench/trace_bench.py): a
     transfer of BENCH_MIB through nc and a 1-byte ping-pong
     (BUILD/trace-programs/pingpong), traced to a file and not, in turns,
     BENCH_TRACE_ROUNDS times (default 3).  Targets: transfer traced/plain
     <= 1.10, <= 2 us added per traced call (issue 11).

Each comparison runs its contenders in turns (rotating who goes first) for
several rounds, after one untimed warm-up run of each, and reports medians
and the range of the per-round ratios, because the machine is small and
shared.  A contender that is not installed or not built is skipped with a
message saying so.  A missed target is a result, printed as MISS, not a
failure; the exit status is non-zero only when something broke (a sock
transfer that failed, an echo that came back wrong, `sock echo` not
stopping on SIGTERM).

Loopback only; ports chosen by the system (port 0, read back from what each
program prints) or, for the programs that cannot listen on port 0 (iperf3,
nginx, haproxy), a port that was free a moment before, tried again when it
was taken in between.  Every wait is bounded, a watchdog ends the whole run
if it takes too long, and every process and file it starts is removed on
exit, also on failure or interruption.

Knobs (environment): BENCH_ARGS (arguments for sock-bench, e.g. --quick),
BENCH_MIB (transfer size, default 1024), BENCH_ROUNDS (rounds of every
part but the library's; default 5 for the transfer and tls, 3 for echo and relay),
BENCH_ECHO_SECONDS (per echo run, default 4), BENCH_WRK_SECONDS (per wrk
run, default 5), BENCH_TLS_SECONDS (per handshake run, default 3),
BENCH_ONLY (any of: lib transfer echo relay reach tls trace; default all),
BENCH_WATCHDOG (seconds for the whole run, default 1500), BENCH_REACH_ROUNDS
(connects per contender in part 5, default 7), BENCH_TRACE_ROUNDS (part 7,
default 3).
"""

import http.client
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"
PARTS = ("lib", "transfer", "echo", "relay", "reach", "tls", "trace")
# wrk's load, fixed by the issue so that every path sees the same clients.
WRK_CLIENTS, WRK_THREADS = 16, 2
# The small static file nginx serves: one page, as small sites serve them.
PAGE_BYTES = 1024


class Failed(Exception):
    """A contender's run failed; the text says why."""


def say(text=""):
    print(text, flush=True)


def die(message):
    """A bad knob is a usage error, like a bad argument."""
    print(f"run-bench: {message}", file=sys.stderr)
    sys.exit(2)


def env_int(name, default, low=1, high=10**9):
    """A positive whole number from the environment, or the default."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        die(f"{name}={raw!r} is not a whole number from {low} to {high}")
    return value


def median(values):
    return statistics.median(values)


def verdict(q, op, target):
    ok = q >= target if op == ">=" else q <= target
    return "PASS" if ok else "MISS"


def tail(path, lines=3):
    try:
        with open(path, errors="replace") as f:
            return " ".join(f.read().splitlines()[-lines:])
    except OSError:
        return ""


def which(name):
    """A program on PATH, or in the sbin directories that a user's PATH
    may leave out (nginx and haproxy live there)."""
    path = os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin"
    return shutil.which(name, path=path)


def free_port():
    """A port that was free a moment ago (for programs that cannot listen
    on port 0); the caller tries again if someone took it in between."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def listening(port):
    """Whether a TCP socket listens on HOST:port, read from /proc/net/tcp,
    so that no probe connection reaches a server that takes one client."""
    want = "%08X:%04X" % (int.from_bytes(socket.inet_aton(HOST), "little"), port)
    try:
        with open("/proc/net/tcp") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 3 and fields[1] == want and fields[3] == "0A":
                    return True
    except OSError:
        pass
    return False


def established(port):
    """How many connections are established to the server on HOST:port
    (its side of them), read from /proc/net/tcp: how many clients a server
    behind a relay is serving at once, seen without adding traffic."""
    want = ":%04X" % port
    count = 0
    try:
        with open("/proc/net/tcp") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 3 and fields[1].endswith(want) and fields[3] == "01":
                    count += 1
    except OSError:
        pass
    return count


def ratio_range(a_rounds, b_rounds):
    """The range of the per-round ratios a/b over the rounds both have."""
    qs = [a / b for a, b in zip(a_rounds, b_rounds) if a is not None and b]
    return (min(qs), max(qs)) if qs else None


class Runner:
    def __init__(self, build):
        self.build = build
        self.bench = os.path.join(build, "sock-bench")
        self.sock = os.path.join(build, "sock")
        self.raw_echo = os.path.join(build, "bench-peers", "raw_epoll_echo")
        self.zerocopy = os.path.join(build, "bench-peers", "zerocopy")
        self.tls_bench = os.path.join(build, "tls-bench")
        self.tls_seconds = env_int("BENCH_TLS_SECONDS", 3, high=3600)
        self.mib = env_int("BENCH_MIB", 1024, high=65536)
        rounds = env_int("BENCH_ROUNDS", 0, low=0, high=1000)
        self.transfer_rounds = rounds or 5
        self.echo_rounds = rounds or 3
        self.relay_rounds = rounds or 3
        self.echo_seconds = env_int("BENCH_ECHO_SECONDS", 4, high=3600)
        self.wrk_seconds = env_int("BENCH_WRK_SECONDS", 5, high=3600)
        self.only = os.environ.get("BENCH_ONLY", " ".join(PARTS)).split()
        for part in self.only:
            if part not in PARTS:
                die(f"BENCH_ONLY: unknown part {part!r} (use any of: {' '.join(PARTS)})")
        self.status = 0
        self.summary = []
        self.machine_lines = []
        self.procs = []
        self.tmp = None
        self.src = None
        self._help = None

    # ------------------------------------------------------------ plumbing

    def make_tmp(self):
        # The 1 GiB source lives in memory when /dev/shm has room for it
        # (so disk writes in the background never disturb the measurement),
        # else in TMPDIR.
        base = tempfile.gettempdir()
        try:
            if os.access("/dev/shm", os.W_OK) and \
                    shutil.disk_usage("/dev/shm").free > self.mib * 2 * 1048576:
                base = "/dev/shm"
        except OSError:
            pass
        self.tmp = tempfile.mkdtemp(prefix="sock-bench.", dir=base)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def machine(self, line):
        """A "bench: ..." line for scripts, printed after the table of its
        part (flush_machine), so the tables stay readable."""
        self.machine_lines.append(line)

    def flush_machine(self):
        if self.machine_lines:
            say()
            for line in self.machine_lines:
                say(line)
            self.machine_lines = []

    def note(self, line):
        self.summary.append(line)

    def start(self, args, log, stdout=subprocess.DEVNULL, stdin=None):
        """Start a background program in its own process group (so that
        its children, socat's forks, are stopped with it), its stderr to
        LOG, and remember it for the cleanup."""
        with open(log, "wb") as err:
            proc = subprocess.Popen(args, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                    stdout=stdout, stderr=err, start_new_session=True)
        self.procs.append(proc)
        return proc

    def stop(self, proc, grace=2.0):
        """TERM, up to GRACE seconds, then KILL; returns the exit status, or
        None when it had to be killed."""
        rc = proc.poll()
        if rc is None:
            self._signal(proc, signal.SIGTERM)
            try:
                rc = proc.wait(grace)
            except subprocess.TimeoutExpired:
                self._signal(proc, signal.SIGKILL)
                proc.wait()
                rc = None
        else:
            # The leader is gone; children of its group may not be.
            self._signal(proc, signal.SIGKILL)
        if proc in self.procs:
            self.procs.remove(proc)
        return rc

    @staticmethod
    def _signal(proc, sig):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def cleanup(self):
        for proc in list(self.procs):
            self.stop(proc)
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def run_bounded(self, args, limit, stdin=None, stdout=subprocess.DEVNULL, log=None):
        """Run ARGS in the foreground for LIMIT seconds at most (then its
        whole group is killed); returns its exit status, or None on
        timeout."""
        err = open(log, "ab") if log else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(args, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                    stdout=stdout, stderr=err, start_new_session=True)
        finally:
            if log:
                err.close()
        self.procs.append(proc)
        try:
            rc = proc.wait(limit)
        except subprocess.TimeoutExpired:
            rc = None
        self.stop(proc, grace=0.5)
        return rc

    def port_of(self, log, proc, limit=5.0):
        """Wait until PROC prints its "listening on ..." line in LOG and
        return the port, the last number of that line ("127.0.0.1:PORT",
        "[::1]:PORT", "AF=2 127.0.0.1:PORT")."""
        end = time.monotonic() + limit
        while time.monotonic() < end:
            try:
                with open(log, errors="replace") as f:
                    for line in f:
                        if "listening on" in line.lower():
                            m = re.search(r"(\d+)\s*$", line)
                            if m:
                                return int(m.group(1))
                            raise Failed(f"no port in {line.strip()!r}")
            except OSError:
                pass
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        raise Failed(f"no 'listening on' line: {tail(log)}")

    def wait_listening(self, port, proc, log, limit=5.0):
        """Wait until PROC listens on PORT; Failed if it exits first (a
        port taken in between, a bad configuration) or takes too long."""
        end = time.monotonic() + limit
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise Failed(f"exited with status {proc.returncode}: {tail(log)}")
            if listening(port):
                return
            time.sleep(0.05)
        raise Failed(f"not listening on port {port} within {limit:.0f} s: {tail(log)}")

    def start_on_free_port(self, name, make_args, log, tries=5, stdin=None):
        """Start a server that needs a port of its own choosing, trying
        another port when the first was taken in between."""
        last = ""
        for _ in range(tries):
            port = free_port()
            proc = self.start(make_args(port), log, stdin=stdin)
            try:
                self.wait_listening(port, proc, log)
                return proc, port
            except Failed as e:
                last = str(e)
                self.stop(proc)
        raise Failed(f"{name} could not start: {last}")

    def has_subcommand(self, name):
        """The sock tool is built and lists NAME in `sock help`."""
        if not os.access(self.sock, os.X_OK):
            return False
        if self._help is None:
            try:
                out = subprocess.run([self.sock, "help"], capture_output=True, timeout=10)
                self._help = (out.stdout + out.stderr).decode(errors="replace")
            except (OSError, subprocess.TimeoutExpired):
                self._help = ""
        return re.search(rf"^\s+{re.escape(name)}(\s|$)", self._help, re.M) is not None

    def make_source(self):
        """The file every transfer sends: BENCH_MIB MiB of zeros."""
        if self.src:
            return True
        self.src = self.path("source")
        try:
            with open(self.src, "wb") as f:
                chunk = bytes(1048576)
                for _ in range(self.mib):
                    f.write(chunk)
        except OSError as e:
            say(f"   could not write the {self.mib} MiB source file in {self.tmp}: {e.strerror}")
            self.src = None
            self.status = 1
            return False
        return True

    def drop_source(self):
        if self.src:
            os.unlink(self.src)
            self.src = None

    def fs_of(self, path):
        try:
            out = subprocess.run(["df", "-P", path], capture_output=True, timeout=10)
            return out.stdout.decode().splitlines()[1].split()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    # ------------------------------------------------------------ rounds

    def rounds(self, names, count, one, unit, fmt, warm_up=None, extra=None):
        """Run ONE(name) for each of NAMES, COUNT rounds, the order rotating
        each round so no contender always goes first, after one untimed
        warm-up run of each (WARM_UP(name), when given).  Returns
        {name: [figure or None per round]}; prints a line per round."""
        results = {n: [] for n in names}
        if not names:
            return results
        if warm_up:
            for n in names:
                try:
                    warm_up(n)
                except Failed as e:
                    say(f"   warm-up {n}: {e}")
        for r in range(count):
            line = f"   round {r + 1}:"
            for k in range(len(names)):
                n = names[(k + r) % len(names)]
                try:
                    v = one(n)
                    results[n].append(v)
                    line += f" {n} {fmt(v)}"
                    if extra:
                        line += extra(n)
                except Failed as e:
                    results[n].append(None)
                    line += f" {n} FAILED"
                    say(f"   {n}: {e}")
            say(f"{line}  {unit}")
        return results

    def judge(self, part, pairs, figures, per_round, higher_better=True, fmt="{:.3f}"):
        """Print and record sock/X for each (X, op, target) of PAIRS (op
        None: no target), with the range of the per-round ratios."""
        for other, op, target in pairs:
            if figures.get("sock") is None or figures.get(other) is None:
                continue
            q = figures["sock"] / figures[other]
            rr = ratio_range(per_round["sock"], per_round[other])
            rng = f"  per round {rr[0]:.2f}..{rr[1]:.2f}" if rr else ""
            mrng = f" round_ratio_min={rr[0]:.4f} round_ratio_max={rr[1]:.4f}" if rr else ""
            if op is None:
                v = "(no target)"
                self.machine(f"bench: {part}-ratio sock/{other}={q:.3f}{mrng}")
            else:
                res = verdict(q, op, target)
                extra = self.miss_reason(part, other)
                if extra:
                    res = "MISS"
                self.machine(f"bench: {part}-ratio sock/{other}={q:.3f} target={op}{target} "
                             f"{res.lower()}{mrng}")
                v = f"target {op} {target}  {res}{extra}"
            say(f"   sock/{other} = {q:.3f}  {v}{rng}")
            self.note(f"{part} sock/{other} = {q:.3f}  {v}")

    def miss_reason(self, part, other):
        """A figure that is a MISS whatever its ratio (see part 4)."""
        if part == "relay-http" and self.http_errors.get("sock"):
            return f" (sock relay: {self.http_errors['sock']})"
        return ""

    http_errors = {}

    # ------------------------------------------------------------ 1. library

    def part_lib(self):
        args = os.environ.get("BENCH_ARGS", "").split()
        say(f"== 1. libsock vs raw system calls ({self.bench} {' '.join(args)})")
        if not os.access(self.bench, os.X_OK):
            say(f"   skipped: {self.bench} is not built")
            self.note(f"library vs raw: skipped ({self.bench} not built)")
            say()
            return
        # sock-bench has its own watchdog (120 s without progress); this is
        # the guard if it could not.
        rc = self._run_lib(args)
        if rc == 0:
            self.note("library vs raw: every target met (table in part 1)")
        elif rc == 3:
            self.note("library vs raw: a target was missed (MISS in part 1)")
        else:
            self.note(f"library vs raw: FAILED (exit {'none: killed after 300 s' if rc is None else rc})")
            self.status = 1
        say()

    def _run_lib(self, args):
        # Its table goes straight to our standard output, stderr too.
        proc = subprocess.Popen([self.bench] + args, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        self.procs.append(proc)
        try:
            rc = proc.wait(300)
        except subprocess.TimeoutExpired:
            rc = None
        self.stop(proc, grace=0.5)
        return rc

    # ------------------------------------------------------------ 2. transfer

    def timed_transfer(self, name, receiver, log, sender, wait_receiver=True):
        """Run SENDER (bounded) from the source file, wait for RECEIVER
        (bounded), return the seconds from the sender's start until both
        have exited.  The clock starts once the receiver listens, so a
        program's start-up counts only on the sending side, alike for every
        tool."""
        t0 = time.monotonic()
        with open(self.src, "rb") as f:
            crc = self.run_bounded(sender, 120, stdin=f, log=log)
        srv_rc = None
        if wait_receiver:
            try:
                srv_rc = receiver.wait(10)
            except subprocess.TimeoutExpired:
                srv_rc = None
        t1 = time.monotonic()
        if wait_receiver:
            self.stop(receiver)
        if crc != 0 or (wait_receiver and srv_rc != 0):
            why = "receiver did not finish within 10 s after the sender; " \
                if wait_receiver and srv_rc is None else ""
            raise Failed(f"{name}: transfer failed: {why}sender exit "
                         f"{'none (killed after 120 s)' if crc is None else crc}, receiver exit "
                         f"{srv_rc}; log: {tail(log)}")
        return t1 - t0

    def transfer_sock(self):
        log = self.path("sock.log")
        rcv = self.start([self.sock, "listen", HOST, "0"], log)
        port = self.port_of(log, rcv)
        return self.timed_transfer("sock", rcv, log, [self.sock, "connect", HOST, str(port)])

    def transfer_zerocopy(self):
        log = self.path("zerocopy.log")
        rcv = self.start([self.zerocopy, "recv", HOST, "0"], log)
        port = self.port_of(log, rcv)
        return self.timed_transfer("zerocopy", rcv, log, [self.zerocopy, "send", HOST, str(port)])

    def transfer_nc(self):
        log = self.path("nc.log")
        rcv = self.start(["nc", "-v", "-l", HOST, "0"], log)
        port = self.port_of(log, rcv)
        # -N: shut the connection down at the end of input, so the receiver ends.
        return self.timed_transfer("nc", rcv, log, ["nc", "-N", HOST, str(port)])

    def transfer_socat(self):
        log = self.path("socat.log")
        rcv = self.start(["socat", "-d", "-d", "-u", f"TCP-LISTEN:0,bind={HOST}", "STDOUT"], log)
        port = self.port_of(log, rcv)
        return self.timed_transfer("socat", rcv, log, ["socat", "-u", "STDIN", f"TCP:{HOST}:{port}"])

    def transfer_iperf3(self):
        # iperf3 cannot listen on port 0 and prints its readiness on stdout.
        log = self.path("iperf3.log")
        out = self.path("iperf3-client.out")
        for _ in range(5):
            port = free_port()
            with open(log, "wb") as f:
                rcv = subprocess.Popen(["iperf3", "-s", "-1", "-B", HOST, "-p", str(port), "--forceflush"],
                                       stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                       start_new_session=True)
            self.procs.append(rcv)
            end = time.monotonic() + 5
            while time.monotonic() < end and rcv.poll() is None and "Server listening" not in tail(log, 50):
                time.sleep(0.05)
            if rcv.poll() is None and "Server listening" in tail(log, 50):
                # -F: read the data from the file, as the other tools do.
                with open(out, "wb") as o:
                    return self._iperf3_timed(rcv, port, o)
            self.stop(rcv)
        raise Failed(f"iperf3: could not start a server: {tail(log, 2)}")

    def _iperf3_timed(self, rcv, port, out):
        t0 = time.monotonic()
        crc = self.run_bounded(["iperf3", "-c", HOST, "-p", str(port), "-l", "1M", "-n", f"{self.mib}M",
                                "-F", self.src, "--forceflush"], 120, stdout=out,
                               log=self.path("iperf3-client.log"))
        try:
            srv_rc = rcv.wait(10)
        except subprocess.TimeoutExpired:
            srv_rc = None
        t1 = time.monotonic()
        self.stop(rcv)
        if crc != 0 or srv_rc != 0:
            raise Failed(f"iperf3: transfer failed: sender exit {crc}, receiver exit {srv_rc}; "
                         f"log: {tail(self.path('iperf3-client.log'))}")
        return t1 - t0

    def iperf3_self_mibps(self):
        """iperf3's own figure (receiver side) of its last run, in MiB/s,
        for comparison with the wall-clock figure every tool gets here."""
        v = None
        try:
            with open(self.path("iperf3-client.out"), errors="replace") as f:
                for line in f:
                    if "receiver" in line:
                        m = re.search(r"([\d.]+)\s+([KMG]?)bits/sec", line)
                        if m:
                            v = float(m.group(1)) * {"G": 1e9, "M": 1e6, "K": 1e3, "": 1}[m.group(2)]
        except OSError:
            pass
        return None if v is None else v / 8 / 1048576

    def available_transfer(self, tool):
        if tool == "sock":
            if self.has_subcommand("connect") and self.has_subcommand("listen"):
                return None
            return f"skipped: sock connect/listen not in '{self.sock} help' (not written yet?)"
        if tool == "zerocopy":
            if os.access(self.zerocopy, os.X_OK):
                return None
            return f"skipped: {self.zerocopy} is not built"
        if tool == "nc":
            if which("nc"):
                out = subprocess.run(["nc", "-h"], capture_output=True, timeout=10)
                if b"OpenBSD" in out.stdout + out.stderr:
                    return None
            return "skipped: OpenBSD nc not installed (apt-get install netcat-openbsd)"
        if tool == "socat":
            return None if which("socat") else "skipped: socat not installed (apt-get install socat)"
        if tool == "iperf3":
            return None if which("iperf3") else "skipped: iperf3 not installed (apt-get install iperf3)"
        return "skipped: unknown"

    def rate_table(self, key, names, per_round, mib, rounds, tag, note=None):
        """Print and record each contender's median rate over its rounds
        (the median of the seconds, as a rate: the same as the median of the
        rates for an odd count); a sock run that failed sets the status.
        Returns {name: MiB/s} for those with a result."""
        if "sock" in names and any(v is None for v in per_round["sock"]):
            self.status = 1
        figures = {}
        say()
        say(f"   {key:<8} MiB/s (median, wall clock)")
        for n in names:
            done = [v for v in per_round[n] if v is not None]
            if not done:
                say(f"   {n:<8} {'no result':>8}")
                continue
            figures[n] = mib / median([mib / v for v in done])
            say(f"   {n:<8} {figures[n]:8.1f}{note(n) if note else ''}")
            self.machine(f"bench: {tag} {key}={n} mib={mib} "
                         f"rounds={rounds} mibps={figures[n]:.1f}")
        return figures

    def part_transfer(self):
        mib = self.mib
        say(f"== 2. {mib} MiB from a file over {HOST}: sock connect -> sock listen > /dev/null, "
            f"vs raw sendfile -> splice (zerocopy), nc, socat, iperf3 -l 1M")
        tools = []
        for t in ("sock", "zerocopy", "nc", "socat", "iperf3"):
            why = self.available_transfer(t)
            if why:
                say(f"   {t}: {why}")
            else:
                tools.append(t)
        if tools and not self.make_source():
            tools = []
        if tools:
            say(f"   source: {self.src} ({mib} MiB, in {self.fs_of(self.tmp)}); one untimed warm-up "
                f"run of each, then {self.transfer_rounds} rounds, order rotating")
        selfs = []

        def one(t):
            secs = getattr(self, "transfer_" + t)()
            return mib / secs

        def extra(t):
            if t != "iperf3":
                return ""
            s = self.iperf3_self_mibps()
            if s is None:
                return ""
            selfs.append(s)
            return f" (own: {s:.0f})"

        def warm(t):
            getattr(self, "transfer_" + t)()

        per_round = self.rounds(tools, self.transfer_rounds, one, "MiB/s", lambda v: f"{v:.0f}",
                                warm_up=warm, extra=extra)
        def own(t):
            if t == "iperf3" and selfs:
                return f"   (iperf3's own receiver figure: {median(selfs):.2f} MiB/s)"
            return ""

        figures = self.rate_table("tool", tools, per_round, mib, self.transfer_rounds,
                                  "transfer", own)
        if "sock" in figures:
            self.judge("transfer", [("zerocopy", ">=", 0.95), ("nc", ">=", 2.0), ("socat", None, None),
                                    ("iperf3", ">=", 0.7)], figures, per_round)
            if "iperf3" in figures and selfs:
                say(f"   sock/iperf3 against iperf3's own figure = {figures['sock'] / median(selfs):.3f} "
                    f"(iperf3 leaves out its set-up)")
        elif tools:
            self.note("transfer: no sock figure (see part 2)")
        self.drop_source()
        self.flush_machine()
        say()

    # ------------------------------------------------------------ 3. echo

    def part_echo(self):
        secs = self.echo_seconds
        say(f"== 3. echo servers over {HOST}: 100 clients ping-ponging 512 bytes, {secs} s per run, "
            f"{self.echo_rounds} rounds")
        servers = {}

        def start_echo(name, args):
            log = self.path(f"echo-{name}.log")
            proc = self.start(args, log)
            try:
                servers[name] = (proc, self.port_of(log, proc))
            except Failed as e:
                say(f"   {name}: did not start: {e}")
                self.stop(proc)

        if self.has_subcommand("echo"):
            start_echo("sock", [self.sock, "echo", HOST, "0"])
        else:
            say(f"   sock: skipped: 'sock echo' not in '{self.sock} help' (not written yet?)")
        if which("socat"):
            # fork: one process per client, socat's classic server; PIPE
            # echoes.  A backlog of 128 so that 100 clients connecting at
            # once are not held back by socat's default of 5.
            start_echo("socat", ["socat", "-d", "-d", f"TCP-LISTEN:0,bind={HOST},fork,reuseaddr,backlog=128",
                                 "PIPE"])
        else:
            say("   socat: skipped: not installed")
        if os.access(self.raw_echo, os.X_OK):
            start_echo("raw", [self.raw_echo, HOST, "0"])
        else:
            say(f"   raw: skipped: {self.raw_echo} is not built")
        if not os.access(self.bench, os.X_OK):
            say(f"   skipped: {self.bench} (the load generator) is not built")
            names = []
        else:
            names = list(servers)
        # The load generator bounds itself; this is the guard if it could not.
        limit = secs + 40

        def one(name):
            out = self.path("echo-load.out")
            with open(out, "wb") as o:
                rc = self.run_bounded([self.bench, "echo-load", HOST, str(servers[name][1]), "--clients", "100",
                                       "--size", "512", "--seconds", str(secs)], limit, stdout=o,
                                      log=self.path("err"))
            with open(out, errors="replace") as f:
                m = re.search(r"^bench: echo-load .* rps=([0-9.]+) ", f.read(), re.M)
            if rc != 0 or not m:
                err = tail(self.path("err"), 5)
                os.unlink(self.path("err"))
                if name == "sock":
                    self.status = 1
                raise Failed(err or f"echo-load exit {rc}")
            return float(m.group(1))

        per_round = self.rounds(names, self.echo_rounds, one, "requests/s", lambda v: f"{int(v)}")
        figures = {}
        say()
        say("   server   requests/s (median)")
        for s in names:
            done = [v for v in per_round[s] if v is not None]
            if not done:
                say(f"   {s:<8} {'no result':>10}")
                continue
            figures[s] = median(done)
            say(f"   {s:<8} {figures[s]:10.0f}")
            self.machine(f"bench: echo server={s} clients=100 size=512 seconds={secs} "
                         f"rounds={self.echo_rounds} rps={figures[s]:g}")
        if "sock" in figures and "raw" in figures:
            q = figures["sock"] / figures["raw"]
            v = verdict(q, ">=", 0.97)
            say(f"   sock/raw epoll = {q:.3f}  target >= 0.97  {v}")
            self.machine(f"bench: echo-ratio sock/raw={q:.3f} target=>=0.97 {v.lower()}")
            self.note(f"echo sock/raw epoll = {q:.3f}  target >= 0.97  {v}")
        if "sock" in figures and "socat" in figures:
            q = figures["sock"] / figures["socat"]
            say(f"   sock/socat fork = {q:.3f}  (no target)")
            self.machine(f"bench: echo-ratio sock/socat={q:.3f}")
            self.note(f"echo sock/socat fork = {q:.3f}")
        if "sock" not in figures:
            self.note("echo: no sock echo figure (see part 3)")
        # Stop the servers; `sock echo` must stop cleanly on SIGTERM.
        for name, (proc, _) in servers.items():
            rc = self.stop(proc, grace=5.0)
            if name == "sock":
                shown = "none: still running 5 s after SIGTERM, killed" if rc is None else rc
                say(f"   sock echo after SIGTERM: exit status {shown}; it said: "
                    f"{tail(self.path('echo-sock.log'), 2)}")
                if rc != 0:
                    self.status = 1
                    self.note(f"echo: sock echo did not stop cleanly on SIGTERM ({shown})")
        self.flush_machine()
        say()

    # ------------------------------------------------------------ 4. relay

    def nginx_config(self, root, port):
        """nginx's own configuration in ROOT: one process in the foreground
        (no master, no user switch, so it runs as whoever runs the
        benchmark), every path in ROOT, no access log, and keep-alive
        connections never closed by a request count, so every path keeps
        the same 16 connections for the whole run."""
        temp = []
        try:
            out = subprocess.run(["nginx", "-V"], capture_output=True, timeout=10)
            built = (out.stdout + out.stderr).decode(errors="replace")
        except (OSError, subprocess.TimeoutExpired):
            built = ""
        # Only the modules built in have a temp path directive; each must
        # point into ROOT or nginx tries the system's directories.
        for kind in re.findall(r"--http-([a-z-]+)-temp-path=", built):
            directive = kind.replace("-", "_") + "_temp_path"
            os.makedirs(os.path.join(root, "temp", kind), exist_ok=True)
            temp.append(f"    {directive} {root}/temp/{kind};")
        temp_lines = "\n".join(temp)
        return f"""daemon off;
master_process off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
{temp_lines}
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    server {{
        listen {HOST}:{port};
        root {root}/html;
    }}
}}
"""

    def start_nginx(self):
        root = self.path("nginx")
        os.makedirs(os.path.join(root, "html"), exist_ok=True)
        with open(os.path.join(root, "html", "page.html"), "wb") as f:
            f.write((b"<p>sock bench</p>\n" * (PAGE_BYTES // 18 + 1))[:PAGE_BYTES])
        conf = os.path.join(root, "nginx.conf")

        def args(port):
            with open(conf, "w") as f:
                f.write(self.nginx_config(root, port))
            return ["nginx", "-p", root + "/", "-e", root + "/error.log", "-c", conf]

        proc, port = self.start_on_free_port("nginx", args, self.path("nginx.log"))
        # One request before any measurement: the page is served whole.
        c = http.client.HTTPConnection(HOST, port, timeout=5)
        try:
            c.request("GET", "/page.html")
            r = c.getresponse()
            body = r.read()
            if r.status != 200 or len(body) != PAGE_BYTES:
                raise Failed(f"nginx answered {r.status} with {len(body)} bytes, not 200 with {PAGE_BYTES}")
        except OSError as e:
            raise Failed(f"nginx did not serve the page: {e}") from e
        finally:
            c.close()
        return proc, port

    def haproxy_config(self, root, port, target):
        """haproxy in TCP mode, in the foreground, with its defaults
        otherwise (threads: one per CPU), generous timeouts so that none
        ends a measured connection."""
        return f"""global
    maxconn 4096
defaults
    mode tcp
    timeout connect 5s
    timeout client 120s
    timeout server 120s
frontend relay
    bind {HOST}:{port}
    default_backend target
backend target
    server target {HOST}:{target}
"""

    def start_relay(self, name, target, keep=True):
        """Start relay NAME in front of HOST:TARGET and return (process,
        port), once it listens.  No probe connection is made: the
        readiness of haproxy and nginx is read from /proc/net/tcp."""
        log = self.path(f"relay-{name}.log")
        if name == "sock":
            args = [self.sock, "relay", "-q"] + (["-k"] if keep else []) + [f"{HOST}:0", HOST, str(target)]
            proc = self.start(args, log)
            try:
                return proc, self.port_of(log, proc)
            except Failed:
                self.stop(proc)
                raise
        if name == "socat":
            # Each client is a fork, socat's classic relay; a backlog of 128
            # so that 16 clients connecting at once are not held back by
            # socat's default of 5 (as in part 3).
            proc = self.start(["socat", "-d", "-d", f"TCP-LISTEN:0,bind={HOST},fork,reuseaddr,backlog=128",
                               f"TCP:{HOST}:{target}"], log)
            try:
                return proc, self.port_of(log, proc)
            except Failed:
                self.stop(proc)
                raise
        if name == "haproxy":
            conf = self.path("haproxy.cfg")

            def args(port):
                with open(conf, "w") as f:
                    f.write(self.haproxy_config(self.tmp, port, target))
                return ["haproxy", "-db", "-f", conf]

            return self.start_on_free_port("haproxy", args, log)
        raise Failed(f"unknown relay {name}")

    def available_relay(self, name):
        if name == "sock":
            return None if self.has_subcommand("relay") else \
                f"skipped: 'sock relay' not in '{self.sock} help'"
        if name in ("haproxy", "socat"):
            return None if which(name) else f"skipped: {name} not installed (scripts/ensure-deps bench)"
        return None

    def wrk(self, port, seconds, server_port):
        """One wrk run against HOST:PORT; returns (requests/s, errors),
        errors a text ('' when every request was answered 2xx in time and
        the server had every client's connection).  Bounded: wrk ends
        itself after SECONDS (its timeout for one request is 2 s), and is
        killed 15 s after that.

        wrk does not notice clients that a relay never serves (their
        requests wait in the relay's backlog and wrk counts no timeout for
        them), so the number of connections nginx (SERVER_PORT) has at once
        is sampled at a quarter, half and three quarters of the run: a path
        that serves all 16 clients shows 16."""
        out = self.path("wrk.out")
        with open(out, "wb") as o, open(self.path("wrk.err"), "wb") as e:
            proc = subprocess.Popen(["wrk", "-c", str(WRK_CLIENTS), "-t", str(WRK_THREADS), "-d",
                                     f"{seconds}s", "--timeout", "2s", f"http://{HOST}:{port}/page.html"],
                                    stdin=subprocess.DEVNULL, stdout=o, stderr=e, start_new_session=True)
        self.procs.append(proc)
        t0 = time.monotonic()
        most = 0
        for frac in (0.25, 0.5, 0.75):
            pause = t0 + seconds * frac - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            most = max(most, established(server_port))
        try:
            rc = proc.wait(max(0.0, t0 + seconds + 15 - time.monotonic()))
        except subprocess.TimeoutExpired:
            rc = None
        self.stop(proc, grace=0.5)
        with open(out, errors="replace") as f:
            text = f.read()
        if rc is None:
            raise Failed(f"wrk did not end within {seconds + 15} s, killed (the path stalled)")
        m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
        if rc != 0 or not m:
            raise Failed(f"wrk exit {rc}: {tail(self.path('wrk.err'))} {text[-200:]!r}")
        errors = []
        if most < WRK_CLIENTS:
            errors.append(f"nginx had {most} of {WRK_CLIENTS} clients at once")
        s = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
        if s:
            for what, n in zip(("connect", "read", "write", "timeout"), s.groups()):
                if int(n):
                    errors.append(f"{n} {what} errors" if what != "timeout" else f"{n} timeouts")
        n = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
        if n and int(n.group(1)):
            errors.append(f"{n.group(1)} non-2xx responses")
        return float(m.group(1)), ", ".join(errors)

    def part_relay(self):
        secs = self.wrk_seconds
        say(f"== 4. relays over {HOST} in front of nginx: wrk -c {WRK_CLIENTS} -t {WRK_THREADS} -d {secs}s "
            f"through sock relay -q -k, haproxy (mode tcp), socat fork, and direct; {self.relay_rounds} rounds")
        relays = []
        for name in ("sock", "haproxy", "socat"):
            why = self.available_relay(name)
            if why:
                say(f"   {name}: {why}")
                if name == "sock":
                    self.note(f"relay: no sock relay figures ({why})")
            else:
                relays.append(name)
        self.part_relay_http(relays, secs)
        self.part_relay_bulk(relays)
        self.flush_machine()
        say()

    def part_relay_http(self, relays, secs):
        missing = [p for p in ("nginx", "wrk") if not which(p)]
        if missing:
            say(f"   requests/s: skipped: {' and '.join(missing)} not installed (scripts/ensure-deps bench)")
            self.note(f"relay requests/s: skipped ({' and '.join(missing)} not installed)")
            return
        try:
            nginx, nport = self.start_nginx()
        except Failed as e:
            say(f"   requests/s: skipped: {e}")
            self.note("relay requests/s: skipped (nginx did not start)")
            return
        say(f"   nginx on {HOST}:{nport} (one process, its own configuration in {self.path('nginx')}), "
            f"a {PAGE_BYTES}-byte page; one untimed 1 s warm-up of each path")
        ports = {"direct": nport}
        procs = {}
        for name in relays:
            try:
                procs[name], ports[name] = self.start_relay(name, nport)
            except Failed as e:
                say(f"   {name}: did not start: {e}")
        names = ["direct"] + [n for n in relays if n in ports]
        errors = {n: [] for n in names}

        def one(name):
            rps, err = self.wrk(ports[name], secs, nport)
            errors[name].append(err)
            return rps

        def extra(name):
            e = errors[name][-1] if errors[name] else ""
            return f" ({e})" if e else ""

        per_round = self.rounds(names, self.relay_rounds, one, "requests/s", lambda v: f"{int(v)}",
                                warm_up=lambda n: self.wrk(ports[n], 1, nport), extra=extra)
        figures = {}
        say()
        say(f"   path     requests/s (median)   errors in the measured runs")
        self.http_errors = {}
        for n in names:
            done = [v for v in per_round[n] if v is not None]
            # Each distinct complaint once, with the number of runs it
            # came from.
            errs = []
            for e in errors[n]:
                if e and e not in errs:
                    errs.append(e)
            errs = [e if errors[n].count(e) == 1 else f"{e} ({errors[n].count(e)} runs)" for e in errs]
            failed = sum(1 for v in per_round[n] if v is None)
            bad = "; ".join(errs + ([f"{failed} runs failed"] if failed else []))
            if bad:
                self.http_errors[n] = bad
            if not done:
                say(f"   {n:<8} {'no result':>10}            {bad}")
                if n == "sock":
                    self.http_errors[n] = bad or "no result"
                continue
            figures[n] = median(done)
            say(f"   {n:<8} {figures[n]:10.0f}            {bad or 'none'}")
            self.machine(f"bench: relay-http path={n} clients={WRK_CLIENTS} threads={WRK_THREADS} "
                         f"seconds={secs} rounds={self.relay_rounds} rps={figures[n]:.0f} "
                         f"clean={'no' if bad else 'yes'}")
        if "sock" in figures:
            self.judge("relay-http", [("haproxy", ">=", 1.0), ("socat", ">=", 2.0), ("direct", None, None)],
                       figures, per_round)
        elif "sock" in relays:
            self.note(f"relay-http: no sock relay figure ({self.http_errors.get('sock', 'see part 4')})  MISS")
        if self.http_errors.get("sock") and "sock" in figures:
            say(f"   sock relay: {self.http_errors['sock']}: not every client was served in time, "
                f"so its targets count as MISS whatever the ratio")
        for name, proc in procs.items():
            rc = self.stop(proc)
            if name == "sock":
                say(f"   sock relay -k after SIGTERM: exit status "
                    f"{'none: killed after 2 s' if rc is None else rc}")
        self.stop(nginx)

    def part_relay_bulk(self, relays):
        if not os.access(self.zerocopy, os.X_OK):
            say(f"   bulk: skipped: {self.zerocopy} (both ends of the stream) is not built")
            return
        if not self.make_source():
            return
        mib = self.mib
        say()
        say(f"   bulk: one {mib} MiB stream zerocopy send -> relay -> zerocopy recv > /dev/null, "
            f"through sock relay -q, haproxy, socat, and direct; one untimed warm-up, "
            f"{self.relay_rounds} rounds")
        names = ["direct"] + relays

        def one(name):
            log = self.path(f"bulk-{name}.log")
            rcv = self.start([self.zerocopy, "recv", HOST, "0"], log)
            port = self.port_of(log, rcv)
            relay = None
            if name != "direct":
                # A relay of its own for each stream, pointed at this
                # receiver; started before the clock.
                try:
                    relay, port = self.start_relay(name, port, keep=False)
                except Failed:
                    self.stop(rcv)
                    raise
            try:
                secs = self.timed_transfer(name, rcv, log, [self.zerocopy, "send", HOST, str(port)])
            finally:
                if relay:
                    self.stop(relay)
            return mib / secs

        per_round = self.rounds(names, self.relay_rounds, one, "MiB/s", lambda v: f"{v:.0f}",
                                warm_up=one)
        figures = self.rate_table("path", names, per_round, mib, self.relay_rounds, "relay-bulk")
        if "sock" in figures:
            self.judge("relay-bulk", [("haproxy", None, None), ("socat", None, None), ("direct", None, None)],
                       figures, per_round)
        self.drop_source()

    # ------------------------------------------------------------ part 5

    def part_reach(self):
        say("== reach: connect to a name with a dead IPv6 and a live IPv4 address")
        he = os.path.join(self.build, "bench-peers", "he_connect")
        if not os.path.exists(he):
            say(f"   skipped: {he} is not built (make bench builds it)")
            return
        for tool in ("unshare", "ip", "nft", "mount"):
            if not which(tool):
                say(f"   skipped: {tool} is not installed")
                return
        if os.geteuid() != 0:
            say("   skipped: needs root (unshare --net --mount)")
            return
        rounds = env_int("BENCH_REACH_ROUNDS", 7, high=100)
        py_ms = env_int("BENCH_REACH_PY_TIMEOUT_MS", 2000, high=60000)
        # The whole part runs in namespaces of its own: this same file,
        # started again inside them (reach_inner), prints the results.
        args = ["unshare", "--net", "--mount", "--propagation", "private", sys.executable,
                os.path.abspath(__file__), "--reach-inner", he, str(rounds), str(py_ms)]
        try:
            out = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 timeout=60 + rounds * (py_ms / 1000.0 + 12) * 3)
        except subprocess.TimeoutExpired:
            say("   FAILED: the reach part did not finish in time")
            self.status = 1
            return
        text = out.stdout.decode(errors="replace")
        for line in text.splitlines():
            if line.startswith("bench: "):
                self.machine(line)
            else:
                say(line)
            if line.startswith("   sock/"):
                self.note("reach " + line.strip())
        if out.returncode != 0:
            say(f"   FAILED: exit status {out.returncode}")
            self.status = 1
        self.flush_machine()
    # ------------------------------------------------------------ 5. tls

    def tls_certs(self):
        """A CA and a server certificate for localhost and 127.0.0.1 (EC
        P-256), made with openssl for this run; returns (ca, cert, key)."""
        d = self.path("tls")
        os.makedirs(d, exist_ok=True)
        ca, ca_key = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
        cert, key = os.path.join(d, "server.pem"), os.path.join(d, "server.key")
        csr, ext = os.path.join(d, "server.csr"), os.path.join(d, "ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        steps = [["openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-subj", "/CN=bench CA",
                  "-days", "2"],
                 ["openssl", "req", "-new", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
                 ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                  "-days", "2", "-extfile", ext, "-out", cert]]
        for args in steps:
            if self.run_bounded(args, 30, log=self.path("tls-certs.log")) != 0:
                raise Failed(f"could not make the certificates: {tail(self.path('tls-certs.log'))}")
        return ca, cert, key

    def tls_received(self, name, rcv, send_args, stdin=None):
        """Time SEND_ARGS until the receiver RCV has its whole stream and
        exits; returns the seconds."""
        log = self.path(f"tls-{name}-send.log")
        t0 = time.monotonic()
        rc = self.run_bounded(send_args, 300, stdin=stdin, log=log)
        try:
            rrc = rcv.wait(60)
        except subprocess.TimeoutExpired:
            rrc = None
        t1 = time.monotonic()
        self.stop(rcv)
        if rc != 0 or rrc != 0:
            raise Failed(f"{name}: transfer failed: sender exit {rc}, receiver exit {rrc}: {tail(log)}")
        return t1 - t0

    def tls_transfer_sock(self):
        ca, cert, key = self.tls_files
        log = self.path("tls-sock-serve.log")
        rcv = self.start([self.tls_bench, "serve", cert, key, "1"], log)
        port = self.port_of(log, rcv)
        return self.tls_received("sock", rcv, [self.tls_bench, "send", str(port), ca, str(self.mib)])

    def tls_transfer_openssl(self):
        # s_server prints the port it was given only without -quiet, and
        # then it copies every byte it receives to its output too.  Its
        # standard input must stay open (a pipe): at its end s_server ends
        # the connection, -quiet or not.
        ca, cert, key = self.tls_files
        rcv, port = self.start_on_free_port(
            "openssl s_server", lambda p: ["openssl", "s_server", "-accept", f"{HOST}:{p}", "-cert", cert,
                                           "-key", key, "-naccept", "1", "-quiet"],
            self.path("tls-openssl-serve.log"), stdin=subprocess.PIPE)
        # -quiet implies -ign_eof; -no_ign_eof (after it) ends at the
        # file's end.
        with open(self.src, "rb") as src:
            return self.tls_received("openssl", rcv, [
                "openssl", "s_client", "-connect", f"{HOST}:{port}", "-CAfile", ca, "-verify_return_error",
                "-servername", "localhost", "-quiet", "-no_ign_eof"], stdin=src)

    def tls_transfer_socat(self):
        ca, cert, key = self.tls_files
        log = self.path("tls-socat-serve.log")
        rcv = self.start(["socat", "-d", "-d", "-u", f"OPENSSL-LISTEN:0,bind={HOST},cert={cert},key={key},"
                          "verify=0", "OPEN:/dev/null"], log)
        port = self.port_of(log, rcv)
        return self.tls_received("socat", rcv, [
            "socat", "-u", f"OPEN:{self.src}", f"OPENSSL:{HOST}:{port},cafile={ca},commonname=localhost"])

    def tls_handshakes_run(self, tool, args, out, log, pattern):
        """Run one handshake client, ARGS, its output to OUT; returns its
        handshakes per second of wall clock (start and exit included, as
        for every contender).  Its CPU time per handshake, which the load of
        the machine changes much less than the rate, goes to
        self.hs_cpu_ms[tool]: the client is the only child reaped during
        the run, so the growth of RUSAGE_CHILDREN is its own."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        with open(out, "wb") as o:
            rc = self.run_bounded(args, self.tls_seconds + 60, stdout=o, log=log)
        t1 = time.monotonic()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        m = re.search(pattern, tail(out, 20))
        if rc != 0 or not m or int(m.group(1)) == 0:
            raise Failed(f"{tool}: exit {rc}: {tail(out)} {tail(log)}")
        count = int(m.group(1))
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        self.hs_cpu_ms.setdefault(tool, []).append(cpu * 1000.0 / count)
        return count / (t1 - t0)

    def tls_handshakes_sock(self, port):
        return self.tls_handshakes_run(
            "sock", [self.tls_bench, "handshakes", str(port), self.tls_files[0], str(self.tls_seconds)],
            self.path("tls-sock-hs.out"), self.path("tls-sock-hs.log"), r"(\d+) handshakes")

    def tls_handshakes_openssl(self, port):
        # -verify: s_time checks the chain too, but it reports a failure
        # rather than refusing the server, and checks no name (tls-bench
        # refuses, and checks "localhost"): see docs/tls.md.
        return self.tls_handshakes_run(
            "openssl", ["openssl", "s_time", "-connect", f"{HOST}:{port}", "-new", "-time",
                        str(self.tls_seconds), "-CAfile", self.tls_files[0], "-verify", "2"],
            self.path("tls-openssl-hs.out"), self.path("tls-openssl-hs.log"),
            r"(\d+) connections in [\d.]+s")

    def part_tls(self):
        mib = self.mib
        say(f"== 6. TLS over {HOST}: {mib} MiB through one connection (tls-bench vs openssl "
            f"s_client/s_server vs socat OPENSSL), handshakes per second (tls-bench vs openssl s_time)")
        if not os.access(self.tls_bench, os.X_OK):
            say(f"   skipped: {self.tls_bench} is not built (libssl-dev missing?)")
            self.note("tls: skipped (tls-bench not built)")
            say()
            return
        if not which("openssl"):
            say("   skipped: openssl not installed (apt-get install openssl)")
            self.note("tls: skipped (no openssl)")
            say()
            return
        try:
            self.tls_files = self.tls_certs()
        except Failed as e:
            say(f"   {e}")
            self.status = 1
            return
        tools = ["sock", "openssl"] + (["socat"] if which("socat") else [])
        if "socat" not in tools:
            say("   socat: skipped: socat not installed (apt-get install socat)")
        if not self.make_source():
            return
        say(f"   one untimed warm-up run of each, then {self.transfer_rounds} rounds, order rotating")
        per_round = self.rounds(tools, self.transfer_rounds,
                                lambda t: mib / getattr(self, "tls_transfer_" + t)(), "MiB/s",
                                lambda v: f"{v:.0f}", warm_up=lambda t: getattr(self, "tls_transfer_" + t)())
        try:
            with open(self.path("tls-sock-send.log"), errors="replace") as f:
                cipher = f.read().split("tls-bench: ")[-1].strip()
            say(f"   negotiated by tls-bench: {cipher}")
        except OSError:
            pass
        if any(v is None for v in per_round["sock"]):
            self.status = 1
        figures = {}
        say()
        say("   tool     MiB/s (median, wall clock)")
        for t in tools:
            done = [v for v in per_round[t] if v is not None]
            if done:
                figures[t] = mib / median([mib / v for v in done])
                say(f"   {t:<8} {figures[t]:8.1f}")
                self.machine(f"bench: tls-bulk tool={t} mib={mib} rounds={self.transfer_rounds} "
                             f"mibps={figures[t]:.1f}")
        self.drop_source()
        if "sock" in figures:
            self.judge("tls-bulk", [("openssl", ">=", 0.95), ("socat", ">=", 1.5)], figures, per_round)
        else:
            self.note("tls-bulk: no sock figure (see part 6)")
        # Handshakes: both clients against the same openssl s_server.
        ca, cert, key = self.tls_files
        try:
            srv, port = self.start_on_free_port(
                "openssl s_server", lambda p: ["openssl", "s_server", "-accept", f"{HOST}:{p}", "-cert", cert,
                                               "-key", key, "-quiet"], self.path("tls-hs-serve.log"),
                stdin=subprocess.PIPE)
        except Failed as e:
            say(f"   {e}")
            self.status = 1
            self.flush_machine()
            return
        say()
        say(f"   handshakes: {self.tls_seconds} s per run against one openssl s_server, "
            f"{self.transfer_rounds} rounds")
        self.hs_cpu_ms = {}
        hs = self.rounds(["sock", "openssl"], self.transfer_rounds,
                         lambda t: getattr(self, "tls_handshakes_" + t)(port), "handshakes/s",
                         lambda v: f"{v:.0f}", warm_up=lambda t: getattr(self, "tls_handshakes_" + t)(port),
                         extra=lambda t: f" ({self.hs_cpu_ms[t][-1]:.3f} ms cpu)")
        self.stop(srv)
        hfig = {}
        say(f"   load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        say("   tool     handshakes/s  client cpu ms/handshake (medians; cpu over every run)")
        for t in ("sock", "openssl"):
            done = [v for v in hs[t] if v is not None]
            if done:
                hfig[t] = median(done)
                cpu = median(self.hs_cpu_ms[t])
                say(f"   {t:<8} {hfig[t]:12.1f}  {cpu:8.3f}")
                self.machine(f"bench: tls-handshakes tool={t} seconds={self.tls_seconds} per_s={hfig[t]:.1f} "
                             f"cpu_ms={cpu:.3f}")
        if "sock" in hfig:
            self.judge("tls-handshakes", [("openssl", ">=", 0.95)], hfig, hs)
        else:
            self.status = 1
            self.note("tls-handshakes: no sock figure (see part 6)")
        self.flush_machine()
        say()

    # ------------------------------------------------------------ 6. trace

    def part_trace(self):
        rounds = env_int("BENCH_TRACE_ROUNDS", 3, high=100)
        say(f"== trace: the overhead of sock trace ({self.mib} MiB through nc, a 1-byte ping-pong; "
            f"{rounds} rounds)")
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "trace_bench.py")
        pingpong = os.path.join(self.build, "trace-programs", "pingpong")
        if not os.access(pingpong, os.X_OK):
            say(f"   skipped: {pingpong} is not built (make tests builds it)")
            self.note("trace: skipped (pingpong not built)")
            say()
            return
        if not which("nc"):
            say("   skipped: nc is not installed (apt-get install netcat-openbsd)")
            self.note("trace: skipped (nc not installed)")
            say()
            return
        # Each round moves the transfer twice (traced and not) and plays the
        # ping-pong twice; a generous bound per round, never for ever.
        limit = 120 + rounds * (self.mib / 1024.0 * 60 + 60)
        try:
            out = subprocess.run([sys.executable, script, self.build, "--json",
                                  "--bytes", str(self.mib * 1048576), "--repeat", str(rounds)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=limit)
        except subprocess.TimeoutExpired:
            say(f"   FAILED: trace_bench.py did not finish in {limit:.0f} s")
            self.note("trace: FAILED (timeout)")
            self.status = 1
            say()
            return
        if out.returncode != 0:
            say(f"   FAILED: {out.stderr.decode(errors='replace').strip()}")
            self.note("trace: FAILED")
            self.status = 1
            say()
            return
        import json
        res = json.loads(out.stdout.decode())
        ratio, per_call = res["transfer_ratio"], res["per_traced_call_us"]
        v1, v2 = verdict(ratio, "<=", 1.10), verdict(per_call, "<=", 2.0)
        say(f"   transfer  plain {res['transfer_plain_s']:.2f} s, traced {res['transfer_traced_s']:.2f} s: "
            f"traced/plain {ratio:.3f}  (target <= 1.10) {v1}")
        say(f"   pingpong  {res['pingpong_rounds']} rounds: plain {res['pingpong_plain_s']:.3f} s, "
            f"traced {res['pingpong_traced_s']:.3f} s, {res['pingpong_traced_calls']} calls: "
            f"{per_call:.2f} us added per call  (target <= 2) {v2}")
        self.machine(f"bench: trace-transfer-ratio={ratio:.3f}")
        self.machine(f"bench: trace-us-per-call={per_call:.2f}")
        self.note(f"trace: transfer traced/plain {ratio:.3f} {v1}, {per_call:.2f} us per call {v2}")
        self.flush_machine()
        say()

    # ------------------------------------------------------------ main

    def run(self):
        self.make_tmp()
        for part in PARTS:
            if part in self.only:
                getattr(self, "part_" + part)()
        say("== summary")
        for line in self.summary:
            say("   " + line)
        return self.status


# ---------------------------------------------------------------- part 5, inside

HE_NAME = "he.test"
HE_V6 = "2001:db8::1"


def _http_responder(lsock):
    """Answer each client: an HTTP/1.0 response once a request ends (curl),
    or nothing when the client closes first (a bare connect)."""
    import threading

    def serve(conn):
        with conn:
            conn.settimeout(5)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
            except OSError:
                pass

    while True:
        try:
            conn, _ = lsock.accept()
        except OSError:
            return
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def reach_inner(he, rounds, py_ms):
    """In the namespaces unshare made: loopback up with HE_V6, /etc/hosts
    with both addresses for HE_NAME, SYNs to HE_V6 dropped, a listener on
    127.0.0.1; then each contender's connect times."""
    import threading
    def sh(*args):
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sh("mount", "--make-rprivate", "/")
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "-6", "addr", "add", HE_V6 + "/128", "dev", "lo", "nodad")
    tmp = tempfile.mkdtemp(prefix="sock-reach.")
    hosts = os.path.join(tmp, "hosts")
    with open(hosts, "w") as f:
        f.write(f"127.0.0.1 localhost\n{HE_V6} {HE_NAME}\n127.0.0.1 {HE_NAME}\n")
    try:
        sh("mount", "--bind", hosts, "/etc/hosts")
        rules = os.path.join(tmp, "rules.nft")
        with open(rules, "w") as f:
            f.write("table inet reach {\n chain input {\n  type filter hook input priority 0;\n"
                    f"  ip6 daddr {HE_V6} tcp flags syn drop\n }}\n}}\n")
        sh("nft", "-f", rules)
        order = [a[4][0] for a in socket.getaddrinfo(HE_NAME, 80, type=socket.SOCK_STREAM)]
        say(f"   {HE_NAME} resolves to {', '.join(order)} (in this order); SYNs to {HE_V6} dropped")
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(64)
        port = lsock.getsockname()[1]
        threading.Thread(target=_http_responder, args=(lsock,), daemon=True).start()

        times = {"sock": [], "curl": [], "python": []}
        status = 0
        r = subprocess.run([he, HE_NAME, str(port), str(rounds)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=rounds * 12)
        if r.returncode != 0:
            say(f"   he_connect failed: {r.stderr.decode(errors='replace').strip()}")
            status = 1
        for line in r.stdout.decode().splitlines():
            times["sock"].append(float(line.split()[0]))
        if which("curl"):
            for _ in range(rounds):
                c = subprocess.run(["curl", "-s", "-o", "/dev/null", "--max-time", "10", "-w",
                                    "%{time_connect}", f"http://{HE_NAME}:{port}/"],
                                   stdout=subprocess.PIPE, timeout=15)
                if c.returncode == 0:
                    times["curl"].append(float(c.stdout.decode()) * 1000.0)
        else:
            say("   curl: not installed, skipped")
        script = ("import socket, sys, time\n"
                  "for _ in range(int(sys.argv[3])):\n"
                  "    t0 = time.monotonic()\n"
                  "    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), "
                  "timeout=float(sys.argv[4]))\n"
                  "    print('%.3f' % ((time.monotonic() - t0) * 1000.0), flush=True)\n"
                  "    s.close()\n")
        p = subprocess.run([sys.executable, "-c", script, HE_NAME, str(port), str(rounds),
                            str(py_ms / 1000.0)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=rounds * (py_ms / 1000.0 * 2 + 5))
        times["python"] = [float(x) for x in p.stdout.decode().split()]
        say()
        say(f"   contender  connect ms (median of {rounds}, name resolution included)")
        med = {}
        for name in ("sock", "curl", "python"):
            if not times[name]:
                say(f"   {name:<10} {'no result':>8}")
                continue
            med[name] = median(times[name])
            label = f" (timeout {py_ms} ms per address)" if name == "python" else ""
            say(f"   {name:<10} {med[name]:8.1f}  range {min(times[name]):.1f}..{max(times[name]):.1f}{label}")
            say(f"bench: reach contender={name} rounds={len(times[name])} median_ms={med[name]:.1f}")
        say()
        for other in ("curl", "python"):
            if "sock" in med and other in med:
                q = med["sock"] / med[other]
                say(f"   sock/{other} = {q:.3f} (time: lower is faster, no target)")
                say(f"bench: reach-ratio sock/{other}={q:.3f}")
        lsock.close()
        return status
    finally:
        subprocess.run(["umount", "/etc/hosts"], stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)



def main(argv):
    if len(argv) == 5 and argv[1] == "--reach-inner":
        return reach_inner(argv[2], int(argv[3]), int(argv[4]))
    if len(argv) != 2 or argv[1].startswith("-"):
        print("usage: scripts/run-bench BUILD_DIR", file=sys.stderr)
        return 2
    if not os.path.isdir(argv[1]):
        print(f"run-bench: build directory '{argv[1]}' not found", file=sys.stderr)
        return 2
    runner = Runner(os.path.abspath(argv[1]))
    watchdog = env_int("BENCH_WATCHDOG", 1500, high=86400)

    def on_signal(sig, _frame):
        if sig == signal.SIGALRM:
            say(f"run-bench: watchdog: the run took more than {watchdog} s (BENCH_WATCHDOG); stopping")
            raise SystemExit(1)
        raise SystemExit(128 + sig)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(sig, on_signal)
    signal.alarm(watchdog)
    try:
        return runner.run()
    finally:
        signal.alarm(0)
        # No signal may cut the cleanup short.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        runner.cleanup()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
