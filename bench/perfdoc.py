"""Write docs/performance.md and its PNG chart from one benchmark's summaries.

run_peers.py calls write() at the end of a run (and for --report) when given --doc. The page
says how the numbers were made (command, date, commit, machine) and what they cannot say
(caveats); the chart needs matplotlib (in the bench venv) and is left out without it.
"""
import collections
import os

# what each workload measures, for the section headings
WORKLOAD_TITLES = {
    "hello": "13-byte body, keep-alive",
    "hello_close": "13-byte body, `Connection: close` (a new TCP connection per request)",
    "echo_post": "4 KiB POST body read from `wsgi.input`",
    "json": "`json.dumps` of a small dict (497 bytes)",
    "big": "one 1 MiB `bytes` body",
    "file": "1 MiB file through `wsgi.file_wrapper` (sendfile)",
    "slow_io": "`time.sleep(0.01)` then a small body: concurrency while the app waits",
    "flask": "a Flask app, one route",
    "django": "a one-file Django project, one view, three middlewares",
}

# the pairs compared in the summary table: gunicorn-rs worker -> the gunicorn 27 worker it replaces
PAIRS = [("gunicorn-rs-sync", "gunicorn-sync"), ("gunicorn-rs-gthread", "gunicorn-gthread")]


# Issue 8's targets for gunicorn-rs sync, 1 worker pinned: server CPU µs per request at or under
# these, req/s at or above the best peer's, and on hello and echo_post at least 1.5x granian's.
CPU_TARGETS = collections.OrderedDict([
    ("hello", 5), ("hello_close", 11), ("echo_post", 7), ("big", 60), ("file", 40),
    ("flask", 42), ("django", 55)])
GRANIAN_FACTOR = {"hello": 1.5, "echo_post": 1.5}
# bjoern's CPU µs per request on the machine the targets were set on (the table): the
# targets as a fraction of bjoern's cost carry over to another machine, the absolute µs do not.
BJOERN_AT_TARGET = {"hello": 6, "hello_close": 15, "echo_post": 8, "big": 266, "file": 209,
                    "flask": 45, "django": 60}
TARGET_CONFIG = "1w-pinned"
# Written by hand after profiling; kept across runs of bench/run (it names the run it explains).
ANALYSIS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "analysis.md")


def is_smoke(meta):
    a = meta.get("args", {})
    return bool(a.get("smoke")) or a.get("repeats", 3) < 3 or a.get("duration", 10) < 5


def fmt_rps(v):
    if v is None:
        return "-"
    return "%.0f" % v if v >= 100 else "%.1f" % v


def fmt(v, spec):
    return "-" if v is None else spec % v


def notes(s, cfg, wl):
    """The marks of one cell, as words."""
    out = []
    if wl in ("big", "file") and s.get("mb_per_s"):
        out.append("%.0f MB/s" % s["mb_per_s"])
    if s.get("file_path") == "fallback":
        out.append("no file_wrapper: app sent 64 KiB chunks")
    if wl != "hello_close" and (s.get("tcp_connects_per_req") or 0) > 0.5:
        out.append("closes each connection")
    if cfg.get("load_cpus") and len(cfg["load_cpus"]) == 1 and (s.get("wrk_core_frac") or 0) >= 0.9:
        out.append("wrk-bound")
    if (s.get("foreign_cores") or 0) > 0.1:
        out.append("noisy: others used %.2f cores" % s["foreign_cores"])
    if (s.get("stalled_1s_conns_max") or 0) > 0:
        out.append("%d connections waited ≥1 s (max %.1f s)" % (
            s["stalled_1s_conns_max"], s.get("stall_ms_max", 0) / 1e3))
    if s["reps_ok"] < s["reps"]:
        out.append("%d of %d runs ok" % (s["reps_ok"], s["reps"]))
    return "; ".join(out)


def config_title(name, c):
    if c.get("server_cpus"):
        return "%s: %d worker pinned to CPU %s, wrk -t%d on CPU %s" % (
            name, c["workers"], ",".join(map(str, c["server_cpus"])), c["wrk_threads"],
            ",".join(map(str, c["load_cpus"])))
    return "%s: %d workers unpinned, sharing both CPUs with wrk -t%d" % (
        name, c.get("workers", 0), c.get("wrk_threads", 0))


def ratio(a, b):
    if a is None or not b:
        return None
    return a / b


def markdown(meta, floors, summaries, configs, workloads, peers, chart_name, source):
    a = meta["args"]
    by = {(s["config"], s["workload"], s["server"]): s for s in summaries}
    cfgs = list(collections.OrderedDict.fromkeys(s["config"] for s in summaries))
    L = ["# Performance", ""]
    if is_smoke(meta):
        L += ["> **SMOKE RUN — NOT RESULTS.** This page was written by a short check of the "
              "benchmark itself (%d repetition(s), %d s per run) on a machine that other jobs "
              "were using. Its numbers show that every part works end to end and must not be "
              "quoted. A full `bench/run` (about 90 minutes) replaces this page." % (
                  a.get("repeats", 0), a.get("duration", 0)), ""]
    L += ["gunicorn-rs (sync and gthread workers) and the WSGI servers a user might pick instead, "
          "serving the same apps with the same worker count on 127.0.0.1, measured with wrk. "
          "The whole page is written by `bench/run` (see bench/README.md).", ""]
    versions = ", ".join("%s %s" % kv for kv in sorted(meta.get("versions", {}).items()))
    L += ["- Command: `%s`" % meta.get("rerun", "?"),
          "- Date: %s; repository commit %s; %s" % (
              meta.get("date", "?"), meta.get("commit") or "?", meta.get("gunicorn_rs") or "gunicorn-rs ?"),
          "- Machine: %s, %s cores, Linux %s; Python %s; wrk %s" % (
              meta.get("cpu_model", "?"), meta.get("ncpu", "?"), meta.get("kernel", "?"),
              meta.get("python", "?"), meta.get("wrk", "?")),
          "- Peers and frameworks: %s" % (versions or "?"),
          "- Method: for each configuration and workload the servers take turns (A B C A B C ...), "
          "%d repetition(s), median shown. Each run waits (bounded) until other processes use "
          "less than 0.15 of a core, starts the server, checks one response, runs wrk for %d s "
          "as a warm-up, then measures for %d s with `wrk -c%d --timeout 5s --latency`. Server "
          "CPU time and peak RSS are sampled from /proc over the server's whole process tree "
          "every 0.5 s." % (a.get("repeats", 0), a.get("warmup", 0), a.get("duration", 0),
                            a.get("connections", 64)),
          ""]
    L += ["## Caveats", "",
          "- **Two cores, shared with the load generator.** In the pinned configuration wrk has "
          "the other core to itself and tops out at roughly 80-90k small keep-alive requests/s; "
          "a server faster than that is marked *wrk-bound* and only its CPU µs per request "
          "tells it apart. Unpinned, wrk takes about half the machine, so 2 workers cannot "
          "mean 2×.",
          "- **Compare ratios within one run** (server ÷ server, same table). Absolute numbers "
          "belong to this machine and this run only.",
          "- **Server CPU µs per request** is the steadiest figure: it does not depend on how "
          "much CPU wrk or other processes took.",
          "- wrk keeps 64 connections busy (closed loop), so p99 shows queueing at that "
          "concurrency, not capacity under open load.",
          "- gunicorn's sync worker and uWSGI (`--http-socket`) close every connection, so their "
          "`hello` is in effect `hello_close` (noted as *closes each connection*).",
          "- slow_io is bounded by design: a single-threaded worker serves at most about 100 "
          "requests/s. gunicorn-rs-gthread and gunicorn-gthread run with `--threads %d`, "
          "waitress with 4 threads, granian with its default pool (up to 512 threads)." % (
              a.get("threads", 64)),
          "- Peak RSS is summed over the server's processes, so pages shared by forked workers "
          "count once per process.",
          ""]
    if chart_name:
        L += ["![requests/s and server CPU µs per request for each server and workload](%s)" % chart_name, ""]
    # the headline: each gunicorn-rs worker against the gunicorn 27 worker it replaces
    pair_rows = []
    for cfg in cfgs:
        for wl in workloads:
            cells, any_cell = [], False
            for rs, gu in PAIRS:
                x, y = by.get((cfg, wl, rs)), by.get((cfg, wl, gu))
                r = ratio(x and x.get("rps"), y and y.get("rps"))
                c = ratio(x and x.get("server_cpu_us_per_req"), y and y.get("server_cpu_us_per_req"))
                any_cell = any_cell or r is not None or c is not None
                cells += [fmt(r, "%.2f×"), fmt(c, "%.2f×")]
            if any_cell:
                pair_rows.append("| %s | %s | %s |" % (cfg, wl, " | ".join(cells)))
    if pair_rows:
        L += ["## gunicorn-rs ÷ gunicorn 27", "",
              "Requests/s ratio (higher is better) and server CPU per request ratio (lower is "
              "better) of each gunicorn-rs worker against the gunicorn worker of the same kind.", "",
              "| config | workload | sync req/s | sync CPU/req | gthread req/s | gthread CPU/req |",
              "|---|---|---|---|---|---|"] + pair_rows + [""]
    L += targets(by, summaries)
    if os.path.exists(ANALYSIS):
        with open(ANALYSIS) as f:
            L += [f.read().rstrip(), ""]
    for cfg in cfgs:
        c = configs.get(cfg, {})
        L += ["## " + config_title(cfg, c), ""]
        servers = list(collections.OrderedDict.fromkeys(
            s["server"] for s in summaries if s["config"] == cfg))
        for wl in [w for w in workloads if any((cfg, w, srv) in by for srv in servers)]:
            L += ["### %s: %s" % (wl, WORKLOAD_TITLES.get(wl, "")), "",
                  "| server | req/s | server CPU µs/req | p50 ms | p99 ms | errors | peak RSS MiB | notes |",
                  "|---|---:|---:|---:|---:|---:|---:|---|"]
            for srv in servers:
                s = by.get((cfg, wl, srv))
                if s is None:
                    continue
                name = "**%s**" % srv if srv.startswith("gunicorn-rs") else srv
                if not s["reps_ok"]:
                    why = (s.get("failures") or ["?"])[0].replace("|", "/").replace("\n", " ")
                    L.append("| %s | FAILED | | | | | | %s |" % (name, why[:160]))
                    continue
                L.append("| %s | %s | %s | %s | %s | %d | %s | %s |" % (
                    name, fmt_rps(s.get("rps")), fmt(s.get("server_cpu_us_per_req"), "%.1f"),
                    fmt(s.get("lat_p50_ms"), "%.2f"), fmt(s.get("lat_p99_ms"), "%.2f"),
                    s.get("errors_total", 0), fmt(s.get("rss_mib_max"), "%.1f"), notes(s, c, wl)))
            L.append("")
    if floors:
        L += ["In-process floor (the app called with a prebuilt environ, no sockets, one core; "
              "no server can beat it): " + ", ".join(
                  "%s %s calls/s" % (f["app"], fmt_rps(f["calls_per_s"])) for f in floors) + ".", ""]
    L += ["## Servers", "", "`N` = workers, `P` = a free port, `MODULE` = the workload's module in "
          "bench/apps (the working directory of every server).", ""]
    shown = dict(workers="N", port="P", apps="bench/apps", module="MODULE", venv="bench/.venv",
                 bench="bench", gunicorn_rs="target/release/gunicorn-rs", threads=a.get("threads", 64))
    for name, tmpl in meta["servers"].items():
        note = peers.get(name, {}).get("note") if peers.get(name, {}).get("cmd") == tmpl else "candidate"
        try:
            cmd = tmpl.format(**shown)
        except (KeyError, IndexError, ValueError):
            cmd = tmpl
        L.append("- %s: `%s`%s" % (name, cmd, ": " + note if note else ""))
    L.append("")
    skipped = meta.get("skipped") or {}
    if skipped:
        L += ["Not measured: " + "; ".join("%s (%s)" % kv for kv in skipped.items()) + ".", ""]
    if source:
        L += ["Raw results (not in git): `%s`." % source, ""]
    return "\n".join(L)


def met(ok):
    return "met" if ok else "**not met**"


def targets(by, summaries):
    """The issue's targets against this run, 1 worker pinned (lines of the page)."""
    cfg = TARGET_CONFIG
    if not any(s["config"] == cfg for s in summaries):
        return []
    peers = sorted({s["server"] for s in summaries
                    if s["config"] == cfg and not s["server"].startswith("gunicorn-rs")})
    rows = []
    for wl, cpu_target in CPU_TARGETS.items():
        ours = by.get((cfg, wl, "gunicorn-rs-sync"))
        if not ours or not ours.get("reps_ok"):
            continue
        best = max((by[(cfg, wl, p)] for p in peers
                    if (cfg, wl, p) in by and by[(cfg, wl, p)].get("reps_ok")),
                   key=lambda s: s.get("rps") or 0, default=None)
        rps, cpu = ours.get("rps") or 0, ours.get("server_cpu_us_per_req")
        verdicts = []
        if best:
            r = ratio(rps, best.get("rps"))
            verdicts.append("req/s %s best peer (%s %s, %.2f×)" % (
                "≥" if r >= 1 else "<", best["server"], fmt_rps(best.get("rps")), r))
        granian = by.get((cfg, wl, "granian"))
        if wl in GRANIAN_FACTOR and granian and granian.get("rps"):
            r = rps / granian["rps"]
            verdicts.append("%.2f× granian: %s" % (r, met(r >= GRANIAN_FACTOR[wl])))
        bjoern = by.get((cfg, wl, "bjoern"))
        rel = ratio(cpu, bjoern and bjoern.get("server_cpu_us_per_req"))
        rel_target = cpu_target / BJOERN_AT_TARGET[wl]
        rows.append("| %s | %s | %s | %s | %s | %s | %.2f× | %s | %s |" % (
            wl, fmt_rps(rps), fmt(cpu, "%.1f"), cpu_target,
            met(cpu is not None and cpu <= cpu_target), fmt(rel, "%.2f×"), rel_target,
            "-" if rel is None else met(rel <= rel_target), "; ".join(verdicts)))
    slow = by.get((cfg, "slow_io", "gunicorn-rs-gthread"))
    granian = by.get((cfg, "slow_io", "granian"))
    if slow and slow.get("rps") and granian and granian.get("rps"):
        rows.append("| slow_io (gthread) | %s | %s | - | - | - | - | - | ≥ granian's %s: %s |" % (
            fmt_rps(slow["rps"]), fmt(slow.get("server_cpu_us_per_req"), "%.1f"),
            fmt_rps(granian["rps"]), met(slow["rps"] >= granian["rps"])))
    if not rows:
        return []
    return ["## Against the targets", "",
            "Issue 8's targets for the sync worker in the pinned configuration, against this run. "
            "The CPU targets are absolute figures from the machine the issue was measured on; "
            "this one runs the same Python about three times slower (compare the in-process "
            "floor under the tables with the issue's 37.6 µs for flask and 49.9 µs for django). "
            "The columns *÷ bjoern* carry the targets over: gunicorn-rs's CPU per request as a "
            "fraction of bjoern's in this run, against the target as a fraction of bjoern's on "
            "the issue's machine.", "",
            "| workload | req/s | CPU µs/req | CPU target | absolute | ÷ bjoern here | target ÷ bjoern | relative | req/s |",
            "|---|---:|---:|---:|---|---:|---:|---|---|"] + rows + [""]


def chart(path, meta, summaries, configs, workloads):
    """Grouped bars per configuration: requests/s and server CPU µs per request (log scales)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    by = {(s["config"], s["workload"], s["server"]): s for s in summaries if s.get("reps_ok")}
    cfgs = list(collections.OrderedDict.fromkeys(s["config"] for s in summaries))
    servers = list(collections.OrderedDict.fromkeys(s["server"] for s in summaries))
    metrics = [("rps", "requests/s (higher is better)"),
               ("server_cpu_us_per_req", "server CPU µs per request (lower is better)")]
    rows = [(cfg, m) for cfg in cfgs for m in metrics]
    ncol = max(len([w for w in workloads if any((cfg, w, s) in by for s in servers)]) for cfg in cfgs)
    width_in = max(10, 0.3 * ncol * max(1, len(servers)) + 2)
    fig, axes = plt.subplots(len(rows), 1, figsize=(width_in, 3.0 * len(rows) + 1.2), squeeze=False)
    # gunicorn-rs in warm colours with an outline, the peers in cool or grey ones
    ours = ["#c0392b", "#e67e22", "#f1c40f"]
    theirs = ["#1f77b4", "#2ca02c", "#9467bd", "#17becf", "#8c564b", "#7f7f7f", "#bcbd22", "#e377c2"]
    colors = {}
    for s in servers:
        pool = ours if s.startswith("gunicorn-rs") else theirs
        colors[s] = pool[sum(1 for t in colors if t.startswith("gunicorn-rs") == s.startswith("gunicorn-rs")) % len(pool)]
    width = 0.8 / max(1, len(servers))
    for ax, (cfg, (key, label)) in zip(axes[:, 0], rows):
        wls = [w for w in workloads if any((cfg, w, s) in by for s in servers)]
        for j, srv in enumerate(servers):
            xs, ys = [], []
            for i, wl in enumerate(wls):
                v = by.get((cfg, wl, srv), {}).get(key)
                if v:
                    xs.append(i - 0.4 + width * (j + 0.5))
                    ys.append(v)
            ax.bar(xs, ys, width, label=srv, color=colors[srv],
                   edgecolor="black" if srv.startswith("gunicorn-rs") else "none", linewidth=0.6)
        ax.set_yscale("log")
        ax.set_xticks(range(len(wls)))
        ax.set_xticklabels(wls)
        ax.set_xlim(-0.6, len(wls) - 0.4)
        ax.set_title("%s: %s" % (cfg, label), fontsize=10, loc="left")
        ax.grid(axis="y", which="major", alpha=0.3)
    # title and legend in a band of fixed height above the panels
    band = 0.95 / fig.get_figheight()
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1 - 0.35 / fig.get_figheight()),
               ncol=min(len(labels), 4 if width_in < 14 else 8), fontsize=9, frameon=False)
    title = "gunicorn-rs and WSGI peers, %s, %s cores, %d repetition(s) of %d s" % (
        meta.get("date", "?")[:10], meta.get("ncpu", "?"), meta.get("args", {}).get("repeats", 0),
        meta.get("args", {}).get("duration", 0))
    if is_smoke(meta):
        title += ": SMOKE RUN, NOT RESULTS"
        fig.text(0.5, 0.5, "SMOKE RUN", fontsize=72, color="#c0392b", alpha=0.15, rotation=30,
                 ha="center", va="center")
    fig.suptitle(title, y=1 - 0.05 / fig.get_figheight(), fontsize=12,
                 color="#c0392b" if is_smoke(meta) else "black")
    fig.tight_layout(rect=(0, 0, 1, 1 - band))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write(path, meta, floors, summaries, configs, workloads, peers, source=None):
    """Write the page at `path` and the chart beside it; returns the files written."""
    path = os.path.abspath(path)
    png = os.path.splitext(path)[0] + ".png"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    written = []
    drew = chart(png, meta, summaries, configs, list(workloads))
    if drew:
        written.append(png)
    if source:
        # shown relative to the repository when it lies inside it
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        src = os.path.abspath(source.split(" + ")[0])
        if len(source.split(" + ")) == 1 and src.startswith(root + os.sep):
            source = os.path.relpath(src, root)
    md = markdown(meta, floors, summaries, configs, list(workloads), peers,
                  os.path.basename(png) if drew else None, source)
    if not drew:
        md += "\n(No chart: matplotlib is not installed in the Python that ran the benchmark.)\n"
    with open(path, "w") as f:
        f.write(md)
    written.append(path)
    return written
