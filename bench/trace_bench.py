#!/usr/bin/env python3
"""The overhead of `sock trace`, for `make bench` (bench/run.py can call it).

Two measures, each traced (the story written to a file with -o) and not,
in the same run, alternating so that the machine's noise hits both:

  transfer   1 GiB through nc over loopback (nc -N sending /dev/zero's
             bytes via head -c, nc -l receiving into /dev/null); the ratio
             traced / plain of the wall time (target <= 1.10).
  pingpong   N round trips of 1 byte between two processes of
             tests/trace/programs/pingpong; the time added per traced call,
             in microseconds (target <= 2): (traced - plain) / calls, where
             calls is the number of socket calls the trace recorded.

usage: bench/trace_bench.py BUILD_DIR [--bytes N] [--rounds N] [--repeat N] [--json]
Prints one line per measure (or a JSON object with --json).  Exit 0 when
the run worked, whatever the figures; 1 if a tool is missing or a run
failed.
"""
import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    # The kernel's choice, for nc -l, which does not report its port.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_transfer(sock, nbytes, traced, tmp):
    port = free_port()
    trace = os.path.join(tmp, "transfer.trace")
    pre = [sock, "trace", "-o", trace, "--"] if traced else []
    recv = subprocess.Popen(pre + ["nc", "-l", "127.0.0.1", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.02)
    # That probe was nc -l's one client: start it again for the real one.
    recv.wait(timeout=10)
    recv = subprocess.Popen(pre + ["nc", "-l", "127.0.0.1", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.2)
    start = time.perf_counter()
    send = subprocess.run(
        "head -c %d /dev/zero | %s nc -N 127.0.0.1 %d" %
        (nbytes, " ".join(pre), port), shell=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, timeout=600)
    recv.wait(timeout=600)
    elapsed = time.perf_counter() - start
    if send.returncode != 0 or recv.returncode != 0:
        raise RuntimeError("nc transfer failed (%d, %d)" % (send.returncode, recv.returncode))
    return elapsed


def run_pingpong(sock, prog, rounds, traced, tmp):
    trace = os.path.join(tmp, "pingpong.trace")
    cmd = ([sock, "trace", "-o", trace, "--"] if traced else []) + [prog, str(rounds)]
    start = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    elapsed = time.perf_counter() - start
    if p.returncode != 0:
        raise RuntimeError("pingpong failed (%d)" % p.returncode)
    calls = 0
    if traced:
        with open(trace, encoding="utf-8", errors="replace") as f:
            calls = sum(1 for line in f if re.match(r"^\s*\d+  ", line))
    return elapsed, calls


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--bytes", type=int, default=1 << 30)
    ap.add_argument("--rounds", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    sock = os.path.abspath(os.path.join(a.build, "sock"))
    prog = os.path.abspath(os.path.join(a.build, "trace-programs", "pingpong"))
    for need in (sock, prog):
        if not os.access(need, os.X_OK):
            print("trace_bench: %s not built (make BUILD=%s all tests)" % (need, a.build),
                  file=sys.stderr)
            return 1
    if not shutil.which("nc"):
        print("trace_bench: nc is missing", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        plain_t, traced_t, plain_p, traced_p, calls = [], [], [], [], 0
        for _ in range(a.repeat):
            plain_t.append(run_transfer(sock, a.bytes, False, tmp))
            traced_t.append(run_transfer(sock, a.bytes, True, tmp))
            plain_p.append(run_pingpong(sock, prog, a.rounds, False, tmp)[0])
            t, calls = run_pingpong(sock, prog, a.rounds, True, tmp)
            traced_p.append(t)
    tp, tt = statistics.median(plain_t), statistics.median(traced_t)
    pp, pt = statistics.median(plain_p), statistics.median(traced_p)
    per_call = (pt - pp) / calls * 1e6 if calls else float("nan")
    res = {
        "transfer_bytes": a.bytes, "transfer_plain_s": tp, "transfer_traced_s": tt,
        "transfer_ratio": tt / tp, "pingpong_rounds": a.rounds, "pingpong_plain_s": pp,
        "pingpong_traced_s": pt, "pingpong_traced_calls": calls,
        "per_traced_call_us": per_call,
    }
    if a.json:
        print(json.dumps(res))
    else:
        print("trace transfer  %d bytes through nc: plain %.2f s, traced %.2f s, ratio %.3f "
              "(target <= 1.10)" % (a.bytes, tp, tt, tt / tp))
        print("trace pingpong  %d rounds of 1 byte: plain %.3f s, traced %.3f s, %d calls "
              "traced, %.2f us added per call (target <= 2)" % (a.rounds, pp, pt, calls, per_call))
    return 0


if __name__ == "__main__":
    sys.exit(main())
