#!/usr/bin/env python3
"""Memory of a pre-fork WSGI server: RSS/PSS of the master and each worker, idle and under load.

Prints, for each server given:
  - idle and peak-under-load VmRSS of every process of the tree and their sum (the sum is what
    the issue's "master + 1 worker peak RSS" target and ../shared/bench's peak RSS column mean);
  - with --breakdown, the worker's and master's Rss/Pss by mapping (the binary, libpython, other
    shared objects, [heap], thread stacks, anonymous memory) from /proc/PID/smaps;
  - with --preload, the PSS that each added worker costs: PSS of the tree with N workers minus
    the tree with 1 worker, divided by N-1 (all idle after a warm-up load).

Load comes from wrk when it is on PATH, otherwise from a keep-alive Python client loop.
Standard library only; no sizes are asserted anywhere, this only reports.

  bench/mem.sh   (builds, installs gunicorn 27 into a venv of its own, runs the lot), or
  bench/mem.py --server 'rs=target/release/gunicorn-rs' \
               --server 'gunicorn=/tmp/memvenv/bin/gunicorn' --app hello --breakdown --preload 3
"""

import argparse
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

# The same /proc readings and ports as the benchmark's (this script's folder is on sys.path).
from run_peers import free_port, process_tree, status_kb

ENV = dict(os.environ)


def rollup(pid):
    """{'Rss': kB, 'Pss': kB, ...} from smaps_rollup."""
    out = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[-1] == "kB":
                    out[parts[0].rstrip(":")] = int(parts[1])
    except OSError:
        pass
    return out


def classify(name, exe):
    if not name:
        return "anon"
    if name == "[heap]":
        return "heap"
    if name.startswith("[stack"):
        return "main stack"
    if name.startswith("["):
        return "kernel"
    if exe and os.path.realpath(name) == exe:
        return "binary"
    base = os.path.basename(name)
    if base.startswith("libpython"):
        return "libpython"
    if ".so" in base:
        return "other .so"
    return "files"


def breakdown(pid):
    """{category: [rss_kb, pss_kb]} by mapping. Thread stacks are anonymous maps that sit right
    above a guard page; they are counted under 'anon' with the rest (glibc arenas, Python's
    obmalloc arenas, Rust heap blocks from mmap)."""
    try:
        exe = os.path.realpath(f"/proc/{pid}/exe")
    except OSError:
        exe = None
    cats = {}
    cur = None
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                first = line.split(None, 1)[0]
                if "-" in first and not first.endswith(":"):
                    parts = line.split(None, 5)
                    name = parts[5].strip() if len(parts) > 5 else ""
                    cur = cats.setdefault(classify(name, exe), [0, 0])
                elif first == "Rss:":
                    cur[0] += int(line.split()[1])
                elif first == "Pss:":
                    cur[1] += int(line.split()[1])
    except OSError:
        pass
    return cats


def get_ok(port, timeout=0.5):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
            c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return c.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


class Server:
    def __init__(self, command, workers, port, apps, module, preload, log):
        args = shlex.split(command)
        if preload:
            args.append("--preload")
        args += ["-w", str(workers), "-b", f"127.0.0.1:{port}", "--chdir", apps, f"{module}:app"]
        self.workers = workers
        self.port = port
        self.proc = subprocess.Popen(args, stdout=log, stderr=log, cwd=apps, start_new_session=True,
                                     env=ENV)

    def wait_ready(self, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}")
            if len(process_tree(self.proc.pid)) >= self.workers + 1 and get_ok(self.port):
                return
            time.sleep(0.1)
        raise SystemExit("server did not answer in time")

    def pids(self):
        return process_tree(self.proc.pid)

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def python_load(port, seconds, conns=8):
    """Keep-alive GETs from a few threads (when wrk is missing)."""
    end = time.monotonic() + seconds
    req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"

    def one():
        while time.monotonic() < end:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as c:
                    while time.monotonic() < end:
                        c.sendall(req)
                        buf = b""
                        while b"\r\n\r\n" not in buf:
                            chunk = c.recv(65536)
                            if not chunk:
                                raise OSError
                            buf += chunk
            except OSError:
                time.sleep(0.01)

    ts = [threading.Thread(target=one, daemon=True) for _ in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def load(port, seconds):
    if shutil.which("wrk"):
        subprocess.run(["wrk", "-t1", "-c64", f"-d{seconds}s", f"http://127.0.0.1:{port}/"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    else:
        python_load(port, seconds)


def sample_under_load(server, seconds, interval=0.25):
    """Peak VmRSS per process and peak of the tree's sum while load runs."""
    peak_each, peak_sum, peak_pss = {}, 0, 0
    t = threading.Thread(target=load, args=(server.port, seconds))
    t.start()
    while t.is_alive():
        total = pss = 0
        for p in server.pids():
            r = status_kb(p, "VmRSS")
            peak_each[p] = max(peak_each.get(p, 0), r)
            total += r
            pss += rollup(p).get("Pss", 0)
        peak_sum = max(peak_sum, total)
        peak_pss = max(peak_pss, pss)
        time.sleep(interval)
    t.join()
    return peak_each, peak_sum, peak_pss


def mib(kb):
    return f"{kb / 1024:6.1f}"


def measure(name, command, a, log):
    if not a.preload_only:
        measure_one(name, command, a, log)
    if a.preload:
        measure_preload(name, command, a, log)


def measure_one(name, command, a, log):
    port = free_port()
    srv = Server(command, 1, port, a.apps, a.app, False, log)
    try:
        srv.wait_ready()
        time.sleep(0.5)
        master = srv.proc.pid
        idle = {p: (status_kb(p, "VmRSS"), rollup(p).get("Pss", 0)) for p in srv.pids()}
        peak_each, peak_sum, peak_pss = sample_under_load(srv, a.seconds)
        print(f"\n== {name}: {a.app}, 1 worker ({'wrk -c64' if shutil.which('wrk') else 'python load'} {a.seconds}s)")
        print(f"{'process':<10}{'pid':>8}{'idle RSS':>10}{'idle PSS':>10}{'peak RSS':>10}   (MiB)")
        for p in sorted(idle, key=lambda p: (p != master, p)):
            role = "master" if p == master else "worker"
            print(f"{role:<10}{p:>8}{mib(idle[p][0]):>10}{mib(idle[p][1]):>10}{mib(peak_each.get(p, 0)):>10}")
        print(f"{'sum':<18}{mib(sum(v[0] for v in idle.values())):>10}"
              f"{mib(sum(v[1] for v in idle.values())):>10}{mib(peak_sum):>10}"
              f"   peak PSS sum {mib(peak_pss).strip()}")
        if a.breakdown:
            for p in sorted(idle, key=lambda p: (p != master, p)):
                role = "master" if p == master else "worker"
                cats = breakdown(p)
                print(f"  {role} by mapping (after load), Rss/Pss MiB: " + ", ".join(
                    f"{k} {v[0] / 1024:.1f}/{v[1] / 1024:.1f}"
                    for k, v in sorted(cats.items(), key=lambda kv: -kv[1][0]) if v[0]))
    finally:
        srv.stop()


def measure_preload(name, command, a, log):
    """PSS per added worker with --preload: the tree's PSS with N workers minus with 1, over
    N-1, and each worker's own PSS in the N-worker tree; median of --repeats runs. PSS splits
    shared pages among every process that maps them, other servers on the machine included,
    which is why single runs move by half a MiB."""
    print(f"\n== {name}: {a.app}, --preload, 1 vs {a.preload} workers, {a.repeats} runs")
    deltas, own = [], []
    for _ in range(a.repeats):
        tot, workers = {}, []
        for n in (1, a.preload):
            port = free_port()
            srv = Server(command, n, port, a.apps, a.app, True, log)
            try:
                srv.wait_ready()
                load(port, 2)
                time.sleep(0.5)
                pids = srv.pids()
                tot[n] = sum(rollup(p).get("Pss", 0) for p in pids)
                if n == a.preload:
                    workers = [rollup(p).get("Pss", 0) for p in pids if p != srv.proc.pid]
            finally:
                srv.stop()
        deltas.append((tot[a.preload] - tot[1]) / (a.preload - 1))
        own.append(statistics.mean(workers) if workers else 0)
        print(f"  tree PSS -w 1 {mib(tot[1]).strip()}, -w {a.preload} {mib(tot[a.preload]).strip()} MiB;"
              f" added worker {mib(deltas[-1]).strip()} MiB; a worker's own PSS {mib(own[-1]).strip()} MiB")
    print(f"  --preload: PSS per added worker {mib(statistics.median(deltas)).strip()} MiB (median);"
          f" a worker's own PSS {mib(statistics.median(own)).strip()} MiB (median)")

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", action="append", required=True, metavar="NAME=COMMAND",
                    help="server command without -w/-b/app (gunicorn-style flags are appended)")
    ap.add_argument("--apps", default=os.environ.get("BENCH_APPS", "/work/shared/bench/apps"))
    ap.add_argument("--app", default="hello")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--breakdown", action="store_true")
    ap.add_argument("--preload", type=int, default=0, metavar="N",
                    help="also measure PSS per added worker with --preload, 1 vs N workers")
    ap.add_argument("--preload-only", action="store_true", help="only the --preload figure")
    ap.add_argument("--repeats", type=int, default=3, help="runs of the --preload figure (median)")
    ap.add_argument("--venv", default=os.environ.get("VIRTUAL_ENV"),
                    help="run every server with this VIRTUAL_ENV and its bin first on PATH, as "
                         "../shared/bench does (the venv's site-packages, not the base one's)")
    a = ap.parse_args()
    if a.venv:
        ENV["VIRTUAL_ENV"] = os.path.abspath(a.venv)
        ENV["PATH"] = os.path.join(ENV["VIRTUAL_ENV"], "bin") + os.pathsep + ENV.get("PATH", "")
    a.apps = os.path.abspath(a.apps)
    with open(os.devnull, "w") as log:
        for spec in a.server:
            name, _, command = spec.partition("=")
            measure(name, command, a, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
