#!/usr/bin/env python3
"""Benchmark gunicorn-rs (sync and gthread workers) and its WSGI peers on loopback.

bench/run is the entry point: it installs the peers, builds gunicorn-rs and then runs this.

Every (config x workload x repetition x server) run:
  start the server on a free 127.0.0.1 port in its own session (process group), wait until it
  answers, check one response (status and body length), run wrk for --warmup s (discarded), run
  wrk for --duration s while sampling RSS/PSS/CPU of the server's whole process tree from
  /proc, then stop the server: SIGTERM to the process group it was started in, SIGKILL after
  5 s, then SIGKILL by pid to any process of its tree that is still alive.
Repetitions are interleaved (A B C A B C ...) and the summary is the median over repetitions.

Output: results/bench-<stamp>.jsonl (one JSON object per line: meta, floor, run, summary)
        results/bench-<stamp>.md    (tables, one cell per server)
        with --doc PATH: PATH (docs/performance.md) and a PNG chart beside it (perfdoc.py)
Server logs: results/logs/<stamp>/. Everything under results/ is git-ignored.

Candidates: --server 'NAME=COMMAND'. If COMMAND has no '{port}' placeholder, the gunicorn-style
arguments '-w {workers} -b 127.0.0.1:{port} --chdir {apps} {module}:app' are appended, e.g.
  --server 'gunicorn-rs=/path/to/gunicorn-rs'
Placeholders usable in a COMMAND: {workers} {port} {apps} {module} {venv} {bench}
{gunicorn_rs} {threads}.

Only the standard library is used; run it with any python3 >= 3.8 (bench/run uses the venv's;
perfdoc.py, loaded for --doc, needs matplotlib for the chart and skips it without).
"""
import argparse
import collections
import datetime
import http.client
import json
import os
import platform
import re
import resource
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(BENCH, "apps")
VENV = os.environ.get("BENCH_VENV") or os.path.join(BENCH, ".venv")
RESULTS = os.environ.get("BENCH_RESULTS") or os.path.join(BENCH, "results")
LUA = os.path.join(BENCH, "wrk", "report.lua")

GUNICORN_STYLE = "-w {workers} -b 127.0.0.1:{port} --chdir {apps} {module}:app"

# name -> dict(cmd=template, note=..., default=in the default set, embeds=CPython embedded
# through pyo3, so it gets the venv's site-packages on PYTHONPATH).
# Every server runs with cwd = apps/ and the venv's bin on PATH.
PEERS = collections.OrderedDict([
    ("gunicorn-rs-sync", dict(
        cmd="{gunicorn_rs} -k sync " + GUNICORN_STYLE, embeds=True,
        note="this repository's release build; keep-alive")),
    ("gunicorn-rs-gthread", dict(
        cmd="{gunicorn_rs} -k gthread --threads {threads} " + GUNICORN_STYLE, embeds=True,
        note="--threads from bench --threads (default 64, enough for slow_io's 64 connections)")),
    ("gunicorn-sync", dict(
        cmd="{venv}/bin/gunicorn -k sync " + GUNICORN_STYLE,
        note="default worker; closes the connection after every response")),
    ("gunicorn-gthread", dict(
        cmd="{venv}/bin/gunicorn -k gthread --threads {threads} " + GUNICORN_STYLE,
        note="same --threads as gunicorn-rs-gthread; keep-alive")),
    ("granian", dict(
        cmd="{venv}/bin/granian --interface wsgi --http 1 --no-ws --log-level warning "
            "--workers {workers} --host 127.0.0.1 --port {port} --working-dir {apps} {module}:app",
        note="defaults otherwise: 1 runtime thread, blocking threads = backlog/workers/2 (512 max, "
             "spawned lazily); no wsgi.file_wrapper")),
    ("uwsgi", dict(
        cmd="{venv}/bin/uwsgi --master --processes {workers} --http-socket 127.0.0.1:{port} "
            "--add-header Connection:close --chdir {apps} --pythonpath {apps} --module {module}:app "
            "--disable-logging --die-on-term --need-app --listen 1024",
        note="--http-socket closes after every response without saying so (wrk then counts a read "
             "error per request), hence --add-header Connection:close; --http-keepalive has no "
             "effect on --http-socket in 2.0.31")),
    ("uwsgi-http11", dict(
        cmd="{venv}/bin/uwsgi --master --processes {workers} --http11-socket 127.0.0.1:{port} "
            "--chdir {apps} --pythonpath {apps} --module {module}:app --disable-logging "
            "--die-on-term --need-app --listen 1024",
        note="keep-alive variant: each process serves one connection until the client closes it, "
             "the others wait unaccepted (see stall_ms_max); not in the default set",
        default=False)),
    ("bjoern", dict(
        cmd="{venv}/bin/python {bench}/servers/bjoern_prefork.py --workers {workers} --port {port} "
            "--chdir {apps} {module}:app",
        note="single-threaded C server; -w 1: one process; -w N: parent + N forked children sharing "
             "one listen socket")),
    ("waitress", dict(
        cmd="{venv}/bin/waitress-serve --listen=127.0.0.1:{port} --threads=4 {module}:app",
        note="one process, 4 threads, whatever -w says (waitress cannot fork)")),
    ("meinheld", dict(
        cmd="{venv}/bin/gunicorn -k egg:meinheld#gunicorn_worker " + GUNICORN_STYLE,
        note="only if meinheld is installed (1.0.2 needs greenlet<0.5, which does not build on 3.11)")),
])

# name -> (module, extra). expect_len: body length; expect_body: exact body; close: Connection: close;
# post: bytes POSTed.
WORKLOADS = collections.OrderedDict([
    ("hello", dict(module="hello", expect_len=13)),
    ("hello_close", dict(module="hello", expect_len=13, close=True)),
    ("echo_post", dict(module="echo_post", expect_body=b"4096", post=4096)),
    ("json", dict(module="jsonapp", expect_len=497)),
    ("big", dict(module="big", expect_len=1 << 20)),
    ("file", dict(module="filewrap", expect_len=1 << 20)),
    ("slow_io", dict(module="slow_io", expect_len=12)),
    ("flask", dict(module="flask_app", expect_len=13)),
    ("django", dict(module="django_app", expect_len=13)),
])

# server_cpus/load_cpus: None = no pinning. wrk_threads: wrk -t.
CONFIGS = collections.OrderedDict([
    ("1w-pinned", dict(workers=1, server_cpus=[1], load_cpus=[0], wrk_threads=1)),
    ("2w-shared", dict(workers=2, server_cpus=None, load_cpus=None, wrk_threads=2)),
])

DEFAULT_PLAN = ["1w-pinned=all", "2w-shared=hello,hello_close,json,slow_io,flask"]

CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


# ---------------------------------------------------------------- /proc helpers

def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("latin-1")
    except OSError:
        return None


def _stat(pid):
    """(state, ppid, utime+stime ticks, starttime) or None."""
    s = _read("/proc/%d/stat" % pid)
    if not s:
        return None
    rest = s[s.rindex(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[19])


def process_tree(root):
    """pids of root and all its live descendants (zombies excluded)."""
    kids = collections.defaultdict(list)
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        st = _stat(int(d))
        if st is None or st[0] == "Z":
            continue
        kids[st[1]].append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        st = _stat(p)
        if st is None or st[0] == "Z":
            continue
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def status_kb(pid, key):
    """A `kB` field of /proc/PID/status (0 when the process is gone)."""
    s = _read("/proc/%d/status" % pid) or ""
    for line in s.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _pss_kb(pid):
    s = _read("/proc/%d/smaps_rollup" % pid) or ""
    for line in s.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def tcp_active_opens():
    """TCP ActiveOpens of this network namespace (connections opened by clients, i.e. wrk)."""
    lines = [l.split() for l in (_read("/proc/net/snmp") or "").splitlines() if l.startswith("Tcp:")]
    if len(lines) >= 2 and "ActiveOpens" in lines[0]:
        return int(lines[1][lines[0].index("ActiveOpens")])
    return None


def machine_busy_ticks():
    """Busy (non-idle, non-iowait) ticks of all CPUs, from /proc/stat."""
    for line in (_read("/proc/stat") or "").splitlines():
        if line.startswith("cpu "):
            f = [int(x) for x in line.split()[1:]]
            return sum(f[:8]) - f[3] - f[4]
    return 0


def wait_quiet(max_wait, threshold=0.15):
    """Wait (bounded) until other processes use < threshold cores over 0.5 s. Returns
    (seconds waited, busy cores at the last check). Nothing of ours runs at this point."""
    t0 = time.monotonic()
    while True:
        b0 = machine_busy_ticks()
        time.sleep(0.5)
        busy = (machine_busy_ticks() - b0) / CLK_TCK / 0.5
        waited = time.monotonic() - t0
        if busy < threshold or waited >= max_wait:
            return round(waited, 1), round(busy, 2)
        time.sleep(1.0)


def cpu_snapshot(pids):
    snap = {}
    for p in pids:
        st = _stat(p)
        if st:
            snap[(p, st[3])] = st[2]
    return snap


def cpu_delta_s(before, after):
    return sum(v - before.get(k, 0) for k, v in after.items()) / CLK_TCK


def client_stalls(port):
    """lastrcv (ms since the last byte was received) of every client socket connected to `port`.

    wrk is closed-loop: every open connection has a request outstanding, so a large lastrcv means
    a request waiting that long (for a socket that never received anything: its age). Unlike
    wrk's latency histogram, this also sees requests that never complete (e.g. connections left
    unaccepted in the listen queue).
    """
    try:
        out = subprocess.run(["ss", "-tnio", "state", "established", "( dport = :%d )" % port],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=5).stdout.decode()
    except Exception:
        return None
    vals = []
    for m in re.finditer(r"lastrcv:(\d+)", out):
        vals.append(int(m.group(1)))
    return vals


class Sampler(threading.Thread):
    """Every `interval` s: sum VmRSS and Pss over the server's process tree; client stalls."""

    def __init__(self, root, interval=0.5, port=None):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.stop_ev = threading.Event()
        self.rss, self.pss, self.nproc, self.nthreads = [], [], [], []
        self.pids_seen = {}
        self.port = port
        self.stall_max, self.stalled_1s = [], []

    def run(self):
        t0 = time.monotonic()
        while not self.stop_ev.is_set():
            if self.port and time.monotonic() - t0 > 1.0:
                st = client_stalls(self.port)
                if st is not None:
                    self.stall_max.append(max(st or [0]))
                    self.stalled_1s.append(sum(1 for v in st if v >= 1000))
            pids = process_tree(self.root)
            rss = pss = thr = 0
            for p in pids:
                rss += status_kb(p, "VmRSS")
                thr += status_kb(p, "Threads")
                pss += _pss_kb(p)
                st = _stat(p)
                if st:
                    self.pids_seen[p] = st[3]
            self.rss.append(rss)
            self.pss.append(pss)
            self.nproc.append(len(pids))
            self.nthreads.append(thr)
            self.stop_ev.wait(self.interval)

    def stop(self):
        self.stop_ev.set()
        self.join(5)


# ---------------------------------------------------------------- server control

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def request(port, wl, timeout=2.0):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if wl.get("post"):
            c.request("POST", "/", body=b"a" * wl["post"],
                      headers={"Content-Type": "application/octet-stream"})
        else:
            c.request("GET", "/")
        r = c.getresponse()
        body = r.read()
        return r.status, body, dict((k.lower(), v) for k, v in r.getheaders())
    finally:
        c.close()


def wait_ready(proc, port, wl, timeout):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return "server exited with code %s before answering" % proc.returncode
        try:
            request(port, wl, timeout=1.0)
            return None
        except (OSError, http.client.HTTPException) as e:
            last = e
            time.sleep(0.1)
    return "no answer within %ss (%r)" % (timeout, last)


def stop_server(proc, seen_pids):
    """SIGTERM our process group; SIGKILL after 5 s; then SIGKILL leftovers of our tree by pid."""
    pgid = proc.pid  # start_new_session=True made the server the leader of a new group
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)
    deadline = time.monotonic() + 5
    while True:
        alive = []
        for pid, start in seen_pids.items():
            st = _stat(pid)
            if st and st[3] == start and st[0] != "Z":
                alive.append(pid)
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for pid in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return alive


def run_wrk(port, wl, cfg, seconds, connections):
    cmd = []
    if cfg["load_cpus"] is not None:
        cmd += ["taskset", "-c", ",".join(map(str, cfg["load_cpus"]))]
    cmd += ["wrk", "-t%d" % cfg["wrk_threads"], "-c%d" % connections, "-d%ds" % seconds,
            "--timeout", "5s", "--latency", "-s", LUA, "http://127.0.0.1:%d/" % port]
    env = dict(os.environ)
    env["WRK_BODY_BYTES"] = str(wl.get("post", 0))
    env["WRK_CONN_CLOSE"] = "1" if wl.get("close") else "0"
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=seconds + 30)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = p.stdout.decode("utf-8", "replace")
    res = None
    for line in out.splitlines():
        if line.startswith("JSON "):
            res = json.loads(line[5:])
    wrk_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return cmd, res, out, wrk_cpu


# set from the command line in main(): the gunicorn-rs binary and the gthread thread count
OPTS = {"gunicorn_rs": os.path.join(os.path.dirname(BENCH), "target", "release", "gunicorn-rs"),
        "threads": 64}


def server_command(template, workers, port, module):
    s = template
    if "{port}" not in s:
        s = s + " " + GUNICORN_STYLE
    return shlex.split(s.format(workers=workers, port=port, apps=APPS, module=module,
                                venv=VENV, bench=BENCH, **OPTS))


def server_available(name, template):
    exe = server_command(template, 1, 1, "hello")[0]
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)) and not shutil_which(exe):
        return "executable not found: %s" % exe
    if name == "meinheld" and not os.path.exists(os.path.join(VENV, "bin", "python")):
        return "no venv"
    if name in ("meinheld", "bjoern"):
        mod = "meinheld" if name == "meinheld" else "bjoern"
        r = subprocess.run([os.path.join(VENV, "bin", "python"), "-c", "import " + mod],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode != 0:
            return "python module %s not importable in the venv" % mod
    return None


def shutil_which(exe):
    import shutil
    return shutil.which(exe)


QUIET_BUDGET = {"left": 0.0}


def one_run(stamp, logdir, cfg_name, cfg, server, template, wl_name, wl, rep, args):
    waited, busy_before = wait_quiet(min(args.quiet_wait, max(0.0, QUIET_BUDGET["left"])))
    QUIET_BUDGET["left"] -= waited
    port = free_port()
    cmd = server_command(template, cfg["workers"], port, wl["module"])
    if cfg["server_cpus"] is not None:
        cmd = ["taskset", "-c", ",".join(map(str, cfg["server_cpus"]))] + cmd
    rec = collections.OrderedDict(
        kind="run", stamp=stamp, config=cfg_name, workers=cfg["workers"],
        server_cpus=cfg["server_cpus"], load_cpus=cfg["load_cpus"], server=server,
        workload=wl_name, rep=rep, port=port, connections=args.connections,
        wrk_threads=cfg["wrk_threads"], duration_s=args.duration, warmup_s=args.warmup,
        command=" ".join(shlex.quote(c) for c in cmd), ok=False, error=None,
        quiet_wait_s=waited, busy_cores_before=busy_before)
    env = dict(os.environ)
    env["PATH"] = os.path.join(VENV, "bin") + os.pathsep + env.get("PATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env["VIRTUAL_ENV"] = VENV
    if server not in PEERS or PEERS[server].get("embeds"):
        # a candidate that embeds CPython (pyo3) does not read pyvenv.cfg: show it the venv's
        # site-packages (flask, django) through PYTHONPATH
        import glob
        sp = glob.glob(os.path.join(VENV, "lib", "python3*", "site-packages"))
        if sp:
            env["PYTHONPATH"] = os.pathsep.join(sp + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    logpath = os.path.join(logdir, "%s.%s.%s.%d.log" % (cfg_name, server, wl_name, rep))
    with open(logpath, "wb") as logf:
        proc = subprocess.Popen(cmd, cwd=APPS, env=env, stdout=logf, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    seen = {}
    sampler = None
    try:
        t0 = time.monotonic()
        err = wait_ready(proc, port, wl, args.start_timeout)
        rec["startup_s"] = round(time.monotonic() - t0, 3)
        if err:
            rec["error"] = err
            return rec
        status, body, headers = request(port, wl, timeout=10)
        rec["check"] = {"status": status, "body_len": len(body),
                        "x_file_path": headers.get("x-file-path"),
                        "server_header": headers.get("server"),
                        "connection_header": headers.get("connection")}
        if status != 200 or ("expect_len" in wl and len(body) != wl["expect_len"]) or \
                ("expect_body" in wl and body != wl["expect_body"]):
            rec["error"] = "bad response: status %s, %d body bytes" % (status, len(body))
            return rec
        for p in process_tree(proc.pid):
            st = _stat(p)
            if st:
                seen[p] = st[3]
        if args.warmup > 0:
            _, wres, _, _ = run_wrk(port, wl, cfg, args.warmup, args.connections)
            rec["warmup_requests"] = wres and wres["requests"]
        sampler = Sampler(proc.pid, port=port)
        pids = process_tree(proc.pid)
        cpu0 = cpu_snapshot(pids)
        sampler.start()
        opens0 = tcp_active_opens()
        busy0 = machine_busy_ticks()
        self0 = resource.getrusage(resource.RUSAGE_SELF)
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        wcmd, res, out, wrk_cpu = run_wrk(port, wl, cfg, args.duration, args.connections)
        busy1 = machine_busy_ticks()
        self1 = resource.getrusage(resource.RUSAGE_SELF)
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        opens1 = tcp_active_opens()
        cpu1 = cpu_snapshot(process_tree(proc.pid) + pids)
        sampler.stop()
        seen.update(sampler.pids_seen)
        rec["wrk_command"] = " ".join(shlex.quote(c) for c in wcmd)
        if res is None:
            rec["error"] = "wrk gave no result: " + out[-500:]
            return rec
        dur = res["duration_us"] / 1e6
        errors = {k[4:]: res[k] for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout")}
        rec.update(
            ok=True, requests=res["requests"], measured_s=round(dur, 3),
            rps=round(res["requests"] / dur, 1), mb_per_s=round(res["bytes"] / dur / 1e6, 2),
            errors=errors, errors_total=sum(errors.values()),
            lat_p50_ms=res["lat_p50_us"] / 1e3, lat_p90_ms=res["lat_p90_us"] / 1e3,
            lat_p99_ms=res["lat_p99_us"] / 1e3, lat_max_ms=res["lat_max_us"] / 1e3,
            lat_mean_ms=round(res["lat_mean_us"] / 1e3, 3),
            rss_mib_max=round(max(sampler.rss or [0]) / 1024, 1),
            rss_mib_median=round(statistics.median(sampler.rss or [0]) / 1024, 1),
            pss_mib_max=round(max(sampler.pss or [0]) / 1024, 1),
            nprocs=max(sampler.nproc or [0]), nthreads_max=max(sampler.nthreads or [0]),
            server_cpu_s=round(cpu_delta_s(cpu0, cpu1), 2), wrk_cpu_s=round(wrk_cpu, 2),
            stall_ms_max=max(sampler.stall_max or [0]), stalled_1s_conns_max=max(sampler.stalled_1s or [0]),
        )
        ours = cpu_delta_s(cpu0, cpu1) + sum(
            (b.ru_utime - a.ru_utime) + (b.ru_stime - a.ru_stime)
            for a, b in ((self0, self1), (kids0, kids1)))
        rec["machine_busy_s"] = round((busy1 - busy0) / CLK_TCK, 2)
        # CPU used by processes that are not ours (other users of the machine) during the run,
        # in cores; > ~0.1 means the figures of this run are disturbed.
        rec["foreign_cores"] = round(max(0.0, (busy1 - busy0) / CLK_TCK - ours) / max(dur, 1e-9), 3)
        if opens0 is not None and opens1 is not None:
            rec["tcp_connects"] = opens1 - opens0
            rec["tcp_connects_per_req"] = round((opens1 - opens0) / max(1, rec["requests"]), 4)
        if rec["requests"]:
            rec["server_cpu_us_per_req"] = round(rec["server_cpu_s"] / rec["requests"] * 1e6, 1)
        if proc.poll() is not None:
            rec["ok"] = False
            rec["error"] = "server exited (code %s) during the run" % proc.returncode
        return rec
    except Exception as e:  # keep going with the next run
        rec["error"] = "%s: %s" % (type(e).__name__, e)
        return rec
    finally:
        if sampler is not None and sampler.is_alive():
            sampler.stop()
        for p in process_tree(proc.pid):
            st = _stat(p)
            if st:
                seen.setdefault(p, st[3])
        left = stop_server(proc, seen)
        if left:
            rec["killed_leftovers"] = left


# ---------------------------------------------------------------- summary and report

def summarize(runs):
    groups = collections.OrderedDict()
    for r in runs:
        groups.setdefault((r["config"], r["workload"], r["server"]), []).append(r)
    out = []
    for (cfg, wl, srv), rs in groups.items():
        ok = [r for r in rs if r.get("ok")]
        s = collections.OrderedDict(kind="summary", config=cfg, workload=wl, server=srv,
                                    reps=len(rs), reps_ok=len(ok))
        if ok:
            for k in ("rps", "mb_per_s", "lat_p50_ms", "lat_p99_ms", "rss_mib_max", "pss_mib_max",
                      "server_cpu_s", "wrk_cpu_s", "server_cpu_us_per_req", "tcp_connects_per_req", "stall_ms_max",
                  "stalled_1s_conns_max", "foreign_cores"):
                vals = [r[k] for r in ok if r.get(k) is not None]
                if vals:
                    s[k] = round(statistics.median(vals), 3)
            for k, src in (("wrk_core_frac", "wrk_cpu_s"), ("server_core_frac", "server_cpu_s")):
                vals = [r[src] / r["measured_s"] for r in ok if r.get(src) is not None and r.get("measured_s")]
                if vals:
                    s[k] = round(statistics.median(vals), 3)
            s["rps_all"] = [r["rps"] for r in ok]
            s["rps_best"] = max(s["rps_all"])
            s["errors_total"] = sum(r.get("errors_total", 0) for r in ok)
            s["requests_total"] = sum(r.get("requests", 0) for r in ok)
            s["nprocs"] = max(r.get("nprocs", 0) for r in ok)
            xs = {r.get("check", {}).get("x_file_path") for r in ok} - {None}
            if xs:
                s["file_path"] = ",".join(sorted(xs))
        errs = [r["error"] for r in rs if r.get("error")]
        if errs:
            s["failures"] = errs[:3]
        out.append(s)
    return out


def fmt_rps(v):
    if v is None:
        return "-"
    return "%.0f" % v if v >= 100 else "%.1f" % v


def grid(L, servers, workloads, cell):
    """A table of `cell(workload, server)`, a row per workload, then a blank line."""
    L.append("| workload | " + " | ".join(servers) + " |")
    L.append("|---|" + "---|" * len(servers))
    for wl in workloads:
        L.append("| %s | %s |" % (wl, " | ".join(cell(wl, srv) for srv in servers)))
    L.append("")


def markdown(meta, floors, summaries):
    L = []
    L.append("# gunicorn-rs and WSGI peers benchmark %s%s" % (
        meta["stamp"], " (SMOKE RUN, not results)" if meta["args"].get("smoke") else ""))
    L.append("")
    L.append("Machine: %s, %d cores, kernel %s; Python %s; wrk %s." % (
        meta["cpu_model"], meta["ncpu"], meta["kernel"], meta["python"], meta["wrk"]))
    L.append("Runs: %ss measured after %ss warm-up, %d interleaved repetitions, median shown; "
             "wrk -c%d --timeout 5s. Versions: %s." % (
                 meta["args"]["duration"], meta["args"]["warmup"], meta["args"]["repeats"],
                 meta["args"]["connections"],
                 ", ".join("%s %s" % kv for kv in sorted(meta["versions"].items()))))
    L.append("Cell = requests/s · p50/p99 latency ms · peak RSS MiB (sum over the server's process tree, "
             "VmRSS from /proc every 0.5 s). `!N` = N wrk errors (connect/read/write/timeout/non-2xx) "
             "summed over repetitions. big/file also give MB/s. `(close)` = the server closed the "
             "connection after each response although the client asked for keep-alive "
             "(TCP connects per request > 0.5). `⚠N conns stalled` = N client connections had waited "
             "≥1 s for a response at one moment (from `ss -ti` lastrcv, sampled each 0.5 s; wrk's "
             "histogram never sees requests that do not complete). `(wrk-bound)` = wrk used >= 90% "
             "of its core, so this rps is the load generator's limit, not the server's: compare the "
             "CPU µs/request table instead. `~noisy(x)` = other processes on "
             "the machine used a median x cores during this cell's runs.")
    L.append("")
    if floors:
        L.append("Floor (in-process calls/s on one core, no server): " + ", ".join(
            "%s %s" % (f["app"], fmt_rps(f["calls_per_s"])) for f in floors) + ".")
        L.append("")
    by = {(s["config"], s["workload"], s["server"]): s for s in summaries}
    configs = list(collections.OrderedDict.fromkeys(s["config"] for s in summaries))
    for cfg in configs:
        servers = list(collections.OrderedDict.fromkeys(s["server"] for s in summaries if s["config"] == cfg))
        wls = list(collections.OrderedDict.fromkeys(s["workload"] for s in summaries if s["config"] == cfg))
        c = CONFIGS.get(cfg, {})
        L.append("## %s (%s)" % (cfg, "server on CPU %s, wrk -t%s on CPU %s" % (
            c.get("server_cpus"), c.get("wrk_threads"), c.get("load_cpus"))
            if c.get("server_cpus") else "server and wrk -t%s share both CPUs" % c.get("wrk_threads")))
        L.append("")

        def rps_cell(wl, srv):
            s = by.get((cfg, wl, srv))
            if s is None:
                return ""
            if not s["reps_ok"]:
                return "FAIL"
            cell = "%s · %.2f/%.1f · %.0f" % (fmt_rps(s.get("rps")), s.get("lat_p50_ms", 0),
                                               s.get("lat_p99_ms", 0), s.get("rss_mib_max", 0))
            if wl in ("big", "file"):
                cell += " · %.0f MB/s" % s.get("mb_per_s", 0)
            if s.get("file_path") == "fallback":
                cell += " (no file_wrapper)"
            if s.get("errors_total"):
                cell += " !%d" % s["errors_total"]
            if wl != "hello_close" and (s.get("tcp_connects_per_req") or 0) > 0.5:
                cell += " (close)"
            if c.get("load_cpus") and len(c["load_cpus"]) == 1 and (s.get("wrk_core_frac") or 0) >= 0.9:
                cell += " (wrk-bound)"
            if (s.get("foreign_cores") or 0) > 0.1:
                cell += " ~noisy(%.2f)" % s["foreign_cores"]
            if (s.get("stalled_1s_conns_max") or 0) > 0:
                cell += " ⚠%d conns stalled ≥1 s (max %.1f s)" % (
                    s["stalled_1s_conns_max"], s.get("stall_ms_max", 0) / 1e3)
            if s["reps_ok"] < s["reps"]:
                cell += " (%d/%d ok)" % (s["reps_ok"], s["reps"])
            return cell

        def cpu_cell(wl, srv):
            s = by.get((cfg, wl, srv))
            v = s and s.get("server_cpu_us_per_req")
            return "%.0f" % v if v else "-"

        grid(L, servers, wls, rps_cell)
        # CPU efficiency: server CPU time per request (robust when wrk shares the cores)
        L.append("Server CPU µs per request (%s, median):" % cfg)
        L.append("")
        grid(L, servers, wls, cpu_cell)
    fl = {f["app"]: f["calls_per_s"] for f in floors}
    if fl and any(s["config"] == "1w-pinned" for s in summaries):
        L.append("## Efficiency vs floor (1w-pinned)")
        L.append("")
        L.append("Each cell: rps / floor calls/s, then the server's own CPU cost per request, i.e. "
                 "server CPU µs per request minus the floor's µs per call.")
        L.append("")
        servers = list(collections.OrderedDict.fromkeys(s["server"] for s in summaries if s["config"] == "1w-pinned"))
        L.append("| workload | floor calls/s | " + " | ".join(servers) + " |")
        L.append("|---|---|" + "---|" * len(servers))
        for wl, fk in (("hello", "hello_reuse"), ("echo_post", "echo_post"), ("json", "json"),
                       ("flask", "flask"), ("django", "django")):
            if fk not in fl:
                continue
            cells = []
            for srv in servers:
                s = by.get(("1w-pinned", wl, srv))
                if s and s.get("rps"):
                    c = "%.2f%%" % (100 * s["rps"] / fl[fk])
                    if s.get("server_cpu_us_per_req"):
                        c += " · %.0f µs" % (s["server_cpu_us_per_req"] - 1e6 / fl[fk])
                    cells.append(c)
                else:
                    cells.append("-")
            L.append("| %s | %s | %s |" % (wl, fmt_rps(fl[fk]), " | ".join(cells)))
        L.append("")
    skipped = meta.get("skipped") or {}
    if skipped:
        L.append("Not measured: " + "; ".join("%s (%s)" % kv for kv in skipped.items()) + ".")
        L.append("")
    L.append("Server commands (N = workers, P = port):")
    L.append("")
    for name, tmpl in meta["servers"].items():
        note = PEERS.get(name, {}).get("note") if PEERS.get(name, {}).get("cmd") == tmpl else "candidate"
        L.append("- %s: `%s`%s" % (name, tmpl, " — " + note if note else ""))
    L.append("")
    L.append("Rerun: `%s`" % meta["rerun"])
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------- main

def collect_meta(args, stamp, servers, skipped):
    cpu = "?"
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    versions = {}
    py = os.path.join(VENV, "bin", "python")
    if os.path.exists(py):
        code = ("import importlib.metadata as m, json\nv={}\n"
                "for n in ['gunicorn','granian','uwsgi','pyuwsgi','bjoern','waitress','meinheld','flask','django']:\n"
                "    try: v[n]=m.version(n)\n    except Exception: pass\nprint(json.dumps(v))")
        try:
            versions = json.loads(subprocess.run([py, "-c", code], stdout=subprocess.PIPE,
                                                 timeout=60).stdout)
        except Exception:
            pass
    try:
        wrkv = subprocess.run(["wrk", "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=10).stdout.decode().split()[1]
    except Exception:
        wrkv = "?"
    pyv = subprocess.run([py if os.path.exists(py) else sys.executable, "-c",
                          "import sys; print(sys.version.split()[0])"],
                         stdout=subprocess.PIPE).stdout.decode().strip()
    return collections.OrderedDict(
        kind="meta", stamp=stamp, date=datetime.datetime.now().isoformat(timespec="seconds"),
        host=platform.node(), kernel=platform.release(), cpu_model=cpu, ncpu=os.cpu_count(),
        python=pyv, wrk=wrkv, versions=versions, args=vars(args),
        servers=collections.OrderedDict((k, v) for k, v in servers.items()), skipped=skipped,
        gunicorn_rs=gunicorn_rs_version(), commit=git_commit(),
        rerun=os.environ.get("BENCH_CMDLINE")
        or "bench/run_peers.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]))


def gunicorn_rs_version():
    try:
        return subprocess.run([OPTS["gunicorn_rs"], "--version"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=30).stdout.decode().strip()
    except (OSError, subprocess.SubprocessError):
        return None


def git_commit():
    """The repository's commit, with '+dirty' when the work tree differs from it."""
    root = os.path.dirname(BENCH)
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short=12", "HEAD"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              timeout=30).stdout.decode().strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+dirty" if dirty else "")) or None


def parse_plan(plan_args, workload_names):
    plan = collections.OrderedDict()
    for item in plan_args:
        cfg, _, wls = item.partition("=")
        if cfg not in CONFIGS:
            sys.exit("unknown config %r (have %s)" % (cfg, ", ".join(CONFIGS)))
        names = list(WORKLOADS) if wls in ("", "all") else wls.split(",")
        for n in names:
            if n not in WORKLOADS:
                sys.exit("unknown workload %r (have %s)" % (n, ", ".join(WORKLOADS)))
        plan[cfg] = [n for n in names if workload_names is None or n in workload_names]
    return plan


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", default=",".join(k for k, v in PEERS.items() if v.get("default", True)),
                    help="built-in peers to run, comma-separated, or 'none' (default: all installed)")
    ap.add_argument("--server", action="append", default=[], metavar="NAME=COMMAND",
                    help="extra server (e.g. a gunicorn-rs candidate); repeatable")
    ap.add_argument("--plan", action="append", default=None, metavar="CONFIG=WORKLOADS",
                    help="configs and their workloads (comma list or 'all'); repeatable. Default: %s"
                         % " ".join(DEFAULT_PLAN))
    ap.add_argument("--workloads", default=None, help="restrict every config to these workloads")
    ap.add_argument("--duration", type=int, default=10, help="measured seconds per run (default 10)")
    ap.add_argument("--warmup", type=int, default=2, help="warm-up seconds per run (default 2)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repetitions (default 3)")
    ap.add_argument("--connections", type=int, default=64, help="wrk -c (default 64)")
    ap.add_argument("--start-timeout", type=float, default=30.0)
    ap.add_argument("--floor-seconds", type=float, default=3.0, help="per app; 0 skips the floor")
    ap.add_argument("--quiet-wait", type=float, default=20.0,
                    help="before each run wait up to this many s for other processes to go idle "
                         "(< 0.15 cores busy); default 20")
    ap.add_argument("--quiet-budget", type=float, default=15.0,
                    help="total minutes that quiet-waiting may cost (default 15)")
    ap.add_argument("--max-minutes", type=float, default=120.0,
                    help="stop scheduling new runs after this long (default 120)")
    ap.add_argument("--out", default=None, help="results file stem (default results/bench-<stamp>)")
    ap.add_argument("--gunicorn-rs", default=OPTS["gunicorn_rs"], metavar="PATH",
                    help="the gunicorn-rs binary (default: target/release/gunicorn-rs)")
    ap.add_argument("--threads", type=int, default=OPTS["threads"],
                    help="--threads of gunicorn-rs-gthread and gunicorn-gthread (default %d: "
                         "slow_io keeps 64 connections waiting 10 ms each)" % OPTS["threads"])
    ap.add_argument("--doc", metavar="PATH", default=None,
                    help="also write this Markdown page (docs/performance.md) and a PNG chart "
                         "with the same stem beside it")
    ap.add_argument("--smoke", action="store_true",
                    help="mark the results and the page as a smoke run (bench/run --quick)")
    ap.add_argument("--report", metavar="JSONL", nargs="+",
                    help="only rebuild the Markdown tables from results file(s); with several, a "
                         "later file's cells replace the earlier ones' (written to <last>.merged.md, "
                         "or --out)")
    args = ap.parse_args()
    OPTS["gunicorn_rs"] = os.path.abspath(args.gunicorn_rs)
    OPTS["threads"] = args.threads

    if args.report:
        # Several files: a later file's runs replace the earlier files' runs of the same
        # (config, workload, server) cell; floors come from the last file that has them.
        meta, floors, cells = None, [], collections.OrderedDict()
        for path in args.report:
            recs = [json.loads(l) for l in open(path) if l.strip()]
            m = [r for r in recs if r["kind"] == "meta"][0]
            if meta is None:
                meta = m
            else:
                meta["servers"].update(m["servers"])
                meta.setdefault("merged", []).append(m["stamp"])
            f = [r for r in recs if r["kind"] == "floor"]
            if f:
                floors = f
            fresh = collections.OrderedDict()
            for r in recs:
                if r["kind"] == "run":
                    fresh.setdefault((r["config"], r["workload"], r["server"]), []).append(r)
            cells.update(fresh)
        order = {c: i for i, c in enumerate(CONFIGS)}
        wl_order = {w: i for i, w in enumerate(WORKLOADS)}
        keys = sorted(cells, key=lambda k: (order.get(k[0], 99), wl_order.get(k[1], 99)))
        runs = [r for k in keys for r in cells[k]]
        if len(args.report) > 1:
            meta["rerun"] += "  (cells re-measured in: %s)" % ", ".join(meta.get("merged", []))
        md = markdown(meta, floors, summarize(runs))
        out = args.out or (args.report[-1][:-len(".jsonl")] if args.report[-1].endswith(".jsonl")
                           else args.report[-1]) + (".merged" if len(args.report) > 1 else "")
        with open(out + ".md", "w") as fh:
            fh.write(md)
        sys.stdout.write(md)
        if args.doc:
            write_doc(args.doc, meta, floors, summarize(runs), " + ".join(args.report))
        return

    for tool in ("wrk", "taskset"):
        if not shutil_which(tool):
            sys.exit("%s not found (bench/run installs it)" % tool)

    servers = collections.OrderedDict()
    skipped = collections.OrderedDict()
    wanted = [] if args.servers == "none" else [s for s in args.servers.split(",") if s]
    for name in wanted:
        if name not in PEERS:
            sys.exit("unknown server %r (have %s)" % (name, ", ".join(PEERS)))
        why = server_available(name, PEERS[name]["cmd"])
        if why:
            skipped[name] = why
            log("skip %s: %s" % (name, why))
        else:
            servers[name] = PEERS[name]["cmd"]
    for item in args.server:
        name, sep, cmd = item.partition("=")
        if not sep or not cmd.strip():
            sys.exit("--server wants NAME=COMMAND")
        servers[name] = cmd.strip()
    if not servers:
        sys.exit("no server to run")

    plan = parse_plan(args.plan or DEFAULT_PLAN, args.workloads and args.workloads.split(","))
    stamp = datetime.datetime.now().strftime("%Y-%m-%dT%H%M%S")
    stem = args.out or os.path.join(RESULTS, "bench-%s" % stamp)
    os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
    logdir = os.path.join(RESULTS, "logs", stamp)
    os.makedirs(logdir, exist_ok=True)
    meta = collect_meta(args, stamp, servers, skipped)
    jsonl = open(stem + ".jsonl", "w")

    def emit(rec):
        jsonl.write(json.dumps(rec) + "\n")
        jsonl.flush()

    emit(meta)
    nruns = sum(len(w) for w in plan.values()) * args.repeats * len(servers)
    log("%d runs planned, about %.0f min; results -> %s.jsonl" % (
        nruns, nruns * (args.duration + args.warmup + 2.5) / 60, stem))

    all_cpus = sorted(os.sched_getaffinity(0))
    floors = []
    if args.floor_seconds > 0:
        log("floor (in-process) ...")
        p = subprocess.run(["taskset", "-c", "1" if len(all_cpus) > 1 else str(all_cpus[0]),
                            os.path.join(VENV, "bin", "python"), os.path.join(BENCH, "floor.py"),
                            "--seconds", str(args.floor_seconds)],
                           stdout=subprocess.PIPE, timeout=20 * (args.floor_seconds + 5))
        for line in p.stdout.decode().splitlines():
            if line.startswith("{"):
                f = json.loads(line)
                f["stamp"] = stamp
                floors.append(f)
                emit(f)
                log("  floor %-12s %12.0f calls/s" % (f["app"], f["calls_per_s"]))

    deadline = time.monotonic() + args.max_minutes * 60
    QUIET_BUDGET["left"] = args.quiet_budget * 60
    runs = []
    done = 0
    for cfg_name, wls in plan.items():
        cfg = CONFIGS[cfg_name]
        # the driver (and so wrk, which it starts) stays off the server's core when pinning
        os.sched_setaffinity(0, cfg["load_cpus"] if cfg["load_cpus"] is not None else all_cpus)
        for wl_name in wls:
            wl = WORKLOADS[wl_name]
            for rep in range(1, args.repeats + 1):
                for server, tmpl in servers.items():
                    if time.monotonic() > deadline:
                        log("--max-minutes reached; stopping")
                        break
                    rec = one_run(stamp, logdir, cfg_name, cfg, server, tmpl, wl_name, wl, rep, args)
                    runs.append(rec)
                    emit(rec)
                    done += 1
                    if rec["ok"]:
                        log("%3d/%d %s %-11s rep%d %-17s %9.0f rps  p99 %7.2f ms  rss %6.1f MiB  err %d"
                            "  cpu/req %5.0f us  foreign %.2f cores" % (
                                done, nruns, cfg_name, wl_name, rep, server, rec["rps"], rec["lat_p99_ms"],
                                rec["rss_mib_max"], rec["errors_total"], rec.get("server_cpu_us_per_req") or 0,
                                rec.get("foreign_cores", 0)))
                    else:
                        log("%3d/%d %s %-11s rep%d %-17s FAILED: %s" % (
                            done, nruns, cfg_name, wl_name, rep, server, rec["error"]))
    os.sched_setaffinity(0, all_cpus)
    summaries = summarize(runs)
    for s in summaries:
        emit(s)
    jsonl.close()
    md = markdown(meta, floors, summaries)
    with open(stem + ".md", "w") as f:
        f.write(md)
    sys.stdout.write(md)
    log("wrote %s.jsonl and %s.md" % (stem, stem))
    if args.doc:
        write_doc(args.doc, meta, floors, summaries, stem + ".jsonl")


def write_doc(path, meta, floors, summaries, source=None):
    """docs/performance.md and its chart, through perfdoc.py (matplotlib for the chart)."""
    sys.path.insert(0, BENCH)
    import perfdoc
    written = perfdoc.write(path, meta, floors, summaries, CONFIGS, WORKLOADS, PEERS, source)
    for p in written:
        log("wrote %s" % p)


if __name__ == "__main__":
    main()
