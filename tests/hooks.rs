//! Server hooks from a config file, through the real binary: each hook
//! appends a JSON line (its name, the pid it ran in, what it read from its
//! arguments) to a record file, and the tests check that every hook ran at
//! gunicorn's point, as often as gunicorn runs it, with usable objects.

mod common;

use std::path::{Path, PathBuf};

use common::{Launch, Server, Signal, WAIT, scratch, wait_until};
use nix::sys::signal::kill;
use nix::unistd::Pid;
use serde_json::Value;

/// Python that every test's config file starts with: `note(hook, **what)`
/// appends one line to the record file.
const PRELUDE: &str = r#"
import json, os

RECORD = os.environ["HOOK_RECORD"]

def note(hook, **what):
    what["hook"] = hook
    what["in_pid"] = os.getpid()
    with open(RECORD, "a") as f:
        f.write(json.dumps(what) + "\n")
"#;

/// Every hook of a server's life, each reading what hooks read in practice.
const ALL_HOOKS: &str = r#"
def on_starting(server):
    note("on_starting", pid=server.pid, num_workers=server.num_workers,
         workers=server.cfg.workers)
    server.log.info("on_starting says %s to %s", "hello", "the log")

def when_ready(server):
    note("when_ready", bind=server.cfg.bind, timeout=server.cfg.timeout)

def nworkers_changed(server, new, old):
    note("nworkers_changed", new=new, old=old, num_workers=server.num_workers)

def pre_fork(server, worker):
    # State left on the worker object reaches post_fork and child_exit.
    worker.tag = "age-%d" % worker.age
    note("pre_fork", age=worker.age, wpid=worker.pid, known=len(server.WORKERS))

def post_fork(server, worker):
    note("post_fork", age=worker.age, wpid=worker.pid, ppid=worker.ppid,
         tag=worker.tag, master=server.pid)

def post_worker_init(worker):
    note("post_worker_init", wpid=worker.pid, workers=worker.cfg.workers)

def pre_request(worker, req):
    note("pre_request", method=req.method, path=req.path, query=req.query,
         uri=req.uri, headers=req.headers, version=req.version, nr=worker.nr)

def post_request(worker, req, environ, resp):
    note("post_request", path=req.path, path_info=environ["PATH_INFO"],
         status=resp.status, status_code=resp.status_code, nr=worker.nr,
         same_req=req.path == getattr(req, "seen", req.path))

def on_reload(server):
    note("on_reload", num_workers=server.num_workers)

def worker_exit(server, worker):
    note("worker_exit", wpid=worker.pid, alive=worker.alive, age=worker.age)

def child_exit(server, worker):
    note("child_exit", wpid=worker.pid, age=worker.age, tag=worker.tag)

def on_exit(server):
    note("on_exit", pid=server.pid)
"#;

/// A scratch directory holding `gunicorn.conf.py` made of the prelude and
/// `hooks`; returns it and the record file's path.
fn config(name: &str, hooks: &str) -> (PathBuf, PathBuf) {
    let dir = scratch(name);
    std::fs::write(dir.join("gunicorn.conf.py"), format!("{PRELUDE}\n{hooks}")).unwrap();
    let record = dir.join("record.jsonl");
    (dir, record)
}

fn launch(dir: &Path, record: &Path, args: &[&str]) -> Launch {
    let conf = dir.join("gunicorn.conf.py");
    let mut all = vec!["-c", conf.to_str().unwrap()];
    all.extend_from_slice(args);
    Launch::new(&all).env("HOOK_RECORD", record.to_str().unwrap())
}

/// The record so far, one JSON object per hook call.
fn record(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn calls<'a>(rec: &'a [Value], hook: &str) -> Vec<&'a Value> {
    rec.iter().filter(|v| v["hook"] == hook).collect()
}

/// Wait until `hook` was recorded `n` times; the record then.
fn wait_calls(server: &Server, path: &Path, hook: &str, n: usize) -> Vec<Value> {
    wait_until(WAIT, || {
        let rec = record(path);
        (calls(&rec, hook).len() >= n).then_some(rec)
    })
    .unwrap_or_else(|| {
        panic!(
            "{hook} not called {n} times; record:\n{:#?}\nlog:\n{}",
            record(path),
            server.log_text()
        )
    })
}

fn position(rec: &[Value], hook: &str) -> usize {
    rec.iter()
        .position(|v| v["hook"] == hook)
        .unwrap_or_else(|| panic!("no {hook} in {rec:#?}"))
}

#[test]
fn every_hook_runs_at_its_point_with_usable_objects() {
    let (dir, rec_path) = config("hooks-all", ALL_HOOKS);
    let mut server = launch(&dir, &rec_path, &["-w", "1", "hello:app"]).start();
    let master = server.pid() as i64;
    let first = server.wait_workers(1, WAIT)[0] as i64;
    let rec = wait_calls(&server, &rec_path, "post_worker_init", 1);

    // Start-up, in gunicorn's order: the worker count is assigned (old
    // None) before on_starting; when_ready once listening; then the fork.
    let order: Vec<&str> = rec.iter().map(|v| v["hook"].as_str().unwrap()).collect();
    assert_eq!(
        order,
        [
            "nworkers_changed",
            "on_starting",
            "when_ready",
            "pre_fork",
            "post_fork",
            "post_worker_init"
        ],
        "{rec:#?}"
    );
    let nw = &rec[0];
    assert_eq!((nw["new"].as_i64(), nw["old"].is_null()), (Some(1), true));
    let starting = &rec[1];
    assert_eq!(starting["pid"].as_i64(), Some(master));
    assert_eq!(starting["in_pid"].as_i64(), Some(master));
    assert_eq!(starting["num_workers"].as_i64(), Some(1));
    assert_eq!(starting["workers"].as_i64(), Some(1));
    assert!(
        server
            .log_text()
            .contains("[INFO] on_starting says hello to the log"),
        "{}",
        server.log_text()
    );
    let ready = &rec[2];
    assert_eq!(ready["bind"], serde_json::json!(["127.0.0.1:0"]));
    assert_eq!(ready["timeout"].as_i64(), Some(30));
    let pre_fork = &rec[3];
    assert_eq!(pre_fork["in_pid"].as_i64(), Some(master));
    assert_eq!(pre_fork["wpid"], "[booting]");
    assert_eq!(pre_fork["age"].as_i64(), Some(1));
    let post_fork = &rec[4];
    assert_eq!(post_fork["in_pid"].as_i64(), Some(first));
    assert_eq!(post_fork["wpid"].as_i64(), Some(first));
    assert_eq!(post_fork["ppid"].as_i64(), Some(master));
    assert_eq!(post_fork["master"].as_i64(), Some(master));
    assert_eq!(post_fork["tag"], "age-1");
    assert_eq!(rec[5]["in_pid"].as_i64(), Some(first));

    // A request: pre_request sees the parsed request, post_request the
    // environ and the response as sent.
    let mut s = server.connect();
    std::io::Write::write_all(
        &mut s,
        b"GET /some/where?x=1&y=2 HTTP/1.1\r\nHost: h\r\nX-Custom: yes\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let resp = common::read_response(&mut s).unwrap();
    assert_eq!(resp.status, 200);
    let rec = wait_calls(&server, &rec_path, "post_request", 1);
    let pre = calls(&rec, "pre_request")[0];
    assert_eq!(pre["in_pid"].as_i64(), Some(first));
    assert_eq!(pre["method"], "GET");
    assert_eq!(pre["path"], "/some/where");
    assert_eq!(pre["query"], "x=1&y=2");
    assert_eq!(pre["uri"], "/some/where?x=1&y=2");
    assert_eq!(pre["version"], serde_json::json!([1, 1]));
    assert_eq!(pre["nr"].as_i64(), Some(0));
    assert!(
        pre["headers"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(["X-CUSTOM", "yes"])),
        "{pre:#?}"
    );
    let post = calls(&rec, "post_request")[0];
    assert_eq!(post["path_info"], "/some/where");
    assert_eq!(post["status"], "200 OK");
    assert_eq!(post["status_code"].as_i64(), Some(200));
    assert_eq!(post["nr"].as_i64(), Some(1));

    // TTIN: one more worker, announced to nworkers_changed.
    server.signal(Signal::SIGTTIN);
    let rec = wait_calls(&server, &rec_path, "post_worker_init", 2);
    let changes = calls(&rec, "nworkers_changed");
    assert_eq!(changes.len(), 2, "{rec:#?}");
    assert_eq!(
        (changes[1]["new"].as_i64(), changes[1]["old"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(changes[1]["num_workers"].as_i64(), Some(2));
    assert_eq!(calls(&rec, "pre_fork")[1]["age"].as_i64(), Some(2));
    let before_hup = server.wait_workers(2, WAIT);

    // HUP: the count goes back to the configured one, on_reload, new
    // workers; the old ones exit (worker_exit in each, child_exit in the
    // master with the objects pre_fork made).
    server.signal(Signal::SIGHUP);
    let rec = wait_calls(&server, &rec_path, "child_exit", 2);
    let changes = calls(&rec, "nworkers_changed");
    assert_eq!(changes.len(), 3, "{rec:#?}");
    assert_eq!(
        (changes[2]["new"].as_i64(), changes[2]["old"].as_i64()),
        (Some(1), Some(2))
    );
    let reload = calls(&rec, "on_reload");
    assert_eq!(reload.len(), 1, "{rec:#?}");
    assert_eq!(reload[0]["in_pid"].as_i64(), Some(master));
    assert!(position(&rec, "nworkers_changed") < position(&rec, "on_reload"));
    for exit in calls(&rec, "child_exit") {
        assert_eq!(exit["in_pid"].as_i64(), Some(master));
        let wpid = exit["wpid"].as_i64().unwrap();
        assert!(before_hup.contains(&(wpid as i32)), "{exit:#?}");
        assert_eq!(exit["tag"], format!("age-{}", exit["age"]));
    }
    let worker_exits = calls(&rec, "worker_exit");
    assert_eq!(worker_exits.len(), 2, "{rec:#?}");
    for exit in &worker_exits {
        // Run by the exiting worker itself, no longer alive.
        assert_eq!(exit["in_pid"], exit["wpid"]);
        assert_eq!(exit["alive"], false);
    }

    // TERM: the last worker exits, then on_exit, last of all.
    let last = server.wait_workers(1, WAIT)[0] as i64;
    server.signal(Signal::SIGTERM);
    let status = server.wait_exit(WAIT).expect("master exits");
    assert_eq!(status.code(), Some(0));
    let rec = record(&rec_path);
    assert_eq!(rec.last().unwrap()["hook"], "on_exit", "{rec:#?}");
    assert_eq!(rec.last().unwrap()["in_pid"].as_i64(), Some(master));
    assert_eq!(calls(&rec, "on_exit").len(), 1);
    assert_eq!(calls(&rec, "on_starting").len(), 1);
    assert_eq!(calls(&rec, "when_ready").len(), 1);
    assert!(
        calls(&rec, "worker_exit")
            .iter()
            .any(|v| v["in_pid"].as_i64() == Some(last)),
        "{rec:#?}"
    );
    assert!(
        calls(&rec, "child_exit")
            .iter()
            .any(|v| v["wpid"].as_i64() == Some(last)),
        "{rec:#?}"
    );
}

#[test]
fn an_exception_in_pre_request_is_answered_500_and_the_worker_serves_on() {
    let hooks = r#"
def pre_request(worker, req):
    if req.path == "/boom":
        raise RuntimeError("pre_request refuses " + req.path)

def post_request(worker, req, environ, resp):
    note("post_request", path=req.path, environ=len(environ), resp=resp is None)
"#;
    let (dir, rec_path) = config("hooks-pre-request", hooks);
    let server = launch(&dir, &rec_path, &["hello:app"]).start();
    let worker = server.wait_workers(1, WAIT)[0];

    let resp = server.get("/boom");
    assert_eq!(resp.status, 500);
    let line = server
        .wait_for(WAIT, |l| l.contains("Error handling request GET /boom"))
        .unwrap_or_else(|| panic!("{}", server.log_text()));
    assert!(line.contains("[ERROR]"), "{line}");
    assert!(
        server
            .wait_for(WAIT, |l| l
                .contains("RuntimeError: pre_request refuses /boom"))
            .is_some(),
        "{}",
        server.log_text()
    );
    // post_request still runs, with an empty environ and no response.
    let rec = wait_calls(&server, &rec_path, "post_request", 1);
    let post = calls(&rec, "post_request")[0];
    assert_eq!(
        (post["environ"].as_i64(), &post["resp"]),
        (Some(0), &Value::Bool(true))
    );

    let ok = server.get("/fine");
    assert_eq!((ok.status, ok.text().as_str()), (200, "Hello, World!"));
    assert_eq!(server.workers(), vec![worker]);
}

#[test]
fn an_exception_in_post_request_is_logged_and_the_response_stands() {
    let hooks = r#"
def post_request(worker, req):
    raise ValueError("post_request broke")
"#;
    let (dir, rec_path) = config("hooks-post-request", hooks);
    let server = launch(&dir, &rec_path, &["hello:app"]).start();
    for _ in 0..2 {
        let resp = server.get("/");
        assert_eq!((resp.status, resp.text().as_str()), (200, "Hello, World!"));
    }
    assert!(
        server.wait_count("Exception in post_request hook", 2, WAIT),
        "{}",
        server.log_text()
    );
    assert!(server.log_text().contains("ValueError: post_request broke"));
}

#[test]
fn a_hook_taking_the_wrong_number_of_arguments_is_refused_at_start() {
    let hooks = r#"
def post_fork(server):
    pass
"#;
    let (dir, rec_path) = config("hooks-arity", hooks);
    let mut server = launch(&dir, &rec_path, &["hello:app"]).spawn();
    let status = server.wait_exit(WAIT).expect("exits");
    assert_eq!(status.code(), Some(1), "{}", server.log_text());
    let log = server.log_text();
    assert!(log.contains("Invalid value for post_fork"), "{log}");
    assert!(log.contains("Value must have an arity of: 2"), "{log}");
    assert!(!log.contains("Booting worker"), "{log}");
}

/// Arity as gunicorn's `inspect.signature` counts it, for hooks that are
/// not plain functions: a decorated function counts its `__wrapped__`
/// (the wrapper itself takes `*args`), a callable object its `__call__`
/// without `self`, a partial what is left, a positional-only parameter
/// like any other; a refused decorated hook names the wanted arity.
#[test]
fn hooks_that_are_not_plain_functions_are_counted_as_inspect_counts_them() {
    let hooks = r#"
import functools

def traced(f):
    @functools.wraps(f)
    def wrapper(*args):
        return f(*args)
    return wrapper

@traced
def post_fork(server, worker):
    note("post_fork", wpid=worker.pid)

class Ready:
    def __call__(self, server):
        note("when_ready")

when_ready = Ready()

def _exit(tag, server, worker):
    note("worker_exit", tag=tag)

worker_exit = functools.partial(_exit, "partial")

def post_worker_init(worker, /):
    note("post_worker_init")
"#;
    let (dir, rec_path) = config("hooks-arity-callables", hooks);
    let mut server = launch(&dir, &rec_path, &["-w", "1", "hello:app"]).spawn();
    wait_calls(&server, &rec_path, "post_worker_init", 1);
    let rec = record(&rec_path);
    for hook in ["post_fork", "when_ready"] {
        assert_eq!(calls(&rec, hook).len(), 1, "{hook}: {rec:#?}");
    }
    server.signal(Signal::SIGTERM);
    server.wait_exit(WAIT).expect("exits");
    assert_eq!(
        calls(&record(&rec_path), "worker_exit")[0]["tag"],
        "partial"
    );

    let wrong = r#"
import functools

def traced(f):
    @functools.wraps(f)
    def wrapper(server, worker):
        return f(server)
    return wrapper

@traced
def post_fork(server):
    pass
"#;
    let (dir, rec_path) = config("hooks-arity-wrapped-wrong", wrong);
    let mut server = launch(&dir, &rec_path, &["hello:app"]).spawn();
    let status = server.wait_exit(WAIT).expect("exits");
    assert_eq!(status.code(), Some(1), "{}", server.log_text());
    let log = server.log_text();
    assert!(log.contains("Value must have an arity of: 2"), "{log}");
}

#[test]
fn an_exception_in_on_starting_stops_the_master_with_1() {
    let hooks = r#"
def on_starting(server):
    raise RuntimeError("not today")
"#;
    let (dir, rec_path) = config("hooks-on-starting", hooks);
    let mut server = launch(&dir, &rec_path, &["hello:app"]).spawn();
    let status = server.wait_exit(WAIT).expect("exits");
    assert_eq!(status.code(), Some(1), "{}", server.log_text());
    let log = server.log_text();
    assert!(log.contains("RuntimeError: not today"), "{log}");
    assert!(!log.contains("Listening at"), "{log}");
}

#[test]
fn an_exception_in_post_fork_is_a_failed_boot() {
    let hooks = r#"
def post_fork(server, worker):
    raise RuntimeError("cannot set up")

def worker_exit(server, worker):
    note("worker_exit", wpid=worker.pid)
"#;
    let (dir, rec_path) = config("hooks-post-fork", hooks);
    let mut server = launch(&dir, &rec_path, &["hello:app"]).spawn();
    let status = server.wait_exit(WAIT).expect("exits");
    assert_eq!(status.code(), Some(3), "{}", server.log_text());
    let log = server.log_text();
    assert!(log.contains("Exception in worker process"), "{log}");
    assert!(log.contains("RuntimeError: cannot set up"), "{log}");
    assert!(log.contains("Reason: Worker failed to boot."), "{log}");
    // gunicorn's `finally`: worker_exit runs even so.
    assert_eq!(calls(&record(&rec_path), "worker_exit").len(), 1);
}

#[test]
fn worker_int_runs_in_a_worker_sent_quit() {
    let hooks = r#"
def worker_int(worker):
    note("worker_int", wpid=worker.pid, alive=worker.alive)

def worker_exit(server, worker):
    note("worker_exit", wpid=worker.pid)
"#;
    let (dir, rec_path) = config("hooks-worker-int", hooks);
    let server = launch(&dir, &rec_path, &["hello:app"]).start();
    let worker = server.wait_workers(1, WAIT)[0];
    kill(Pid::from_raw(worker), Signal::SIGQUIT).unwrap();
    let rec = wait_calls(&server, &rec_path, "worker_exit", 1);
    let int = calls(&rec, "worker_int");
    assert_eq!(int.len(), 1, "{rec:#?}");
    assert_eq!(int[0]["in_pid"].as_i64(), Some(worker as i64));
    assert_eq!(int[0]["alive"], false);
    assert!(position(&rec, "worker_int") < position(&rec, "worker_exit"));
    // The master replaces it.
    let replaced = wait_until(WAIT, || {
        let w = server.workers();
        (w.len() == 1 && w[0] != worker).then_some(())
    });
    assert!(replaced.is_some(), "{}", server.log_text());
}

#[test]
fn worker_abort_runs_on_a_timeout_then_worker_exit() {
    let hooks = r#"
def worker_abort(worker):
    note("worker_abort", wpid=worker.pid)
    worker.log.warning("worker_abort for %s", worker.pid)

def worker_exit(server, worker):
    note("worker_exit", wpid=worker.pid)
"#;
    let (dir, rec_path) = config("hooks-worker-abort", hooks);
    let server = launch(&dir, &rec_path, &["--timeout", "2", "hang:app"]).start();
    let worker = server.wait_workers(1, WAIT)[0];
    let mut s = server.connect();
    std::io::Write::write_all(&mut s, b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let rec = wait_calls(&server, &rec_path, "worker_exit", 1);
    let abort = calls(&rec, "worker_abort");
    assert_eq!(abort.len(), 1, "{rec:#?}");
    assert_eq!(abort[0]["in_pid"].as_i64(), Some(worker as i64));
    assert!(position(&rec, "worker_abort") < position(&rec, "worker_exit"));
    assert!(
        server
            .wait_for(WAIT, |l| l
                .contains(&format!("Worker (pid:{worker}) exited with code 1")))
            .is_some(),
        "{}",
        server.log_text()
    );
    assert!(
        server
            .log_text()
            .contains(&format!("[WARNING] worker_abort for {worker}"))
    );
}

#[test]
fn pre_exec_runs_in_the_usr2_child_before_it_executes() {
    let hooks = r#"
def pre_exec(server):
    note("pre_exec", ppid=os.getppid(), pid=server.pid)
"#;
    let (dir, rec_path) = config("hooks-pre-exec", hooks);
    let server = launch(&dir, &rec_path, &["hello:app"]).start();
    let master = server.pid() as i64;
    server.wait_workers(1, WAIT);
    server.signal(Signal::SIGUSR2);
    let rec = wait_calls(&server, &rec_path, "pre_exec", 1);
    let pre = calls(&rec, "pre_exec")[0];
    // In the forked child (the future new master), whose parent is the
    // old master; `server` is still the old master's.
    assert_eq!(pre["ppid"].as_i64(), Some(master));
    assert_ne!(pre["in_pid"].as_i64(), Some(master));
    assert_eq!(pre["pid"].as_i64(), Some(master));
}

#[test]
fn an_exception_in_a_master_hook_in_the_main_loop_stops_the_server_with_255() {
    let hooks = r#"
def nworkers_changed(server, new, old):
    if old is not None:
        raise RuntimeError("no more workers")

def on_exit(server):
    note("on_exit")
"#;
    let (dir, rec_path) = config("hooks-main-loop", hooks);
    let mut server = launch(&dir, &rec_path, &["hello:app"]).start();
    server.wait_workers(1, WAIT);
    server.signal(Signal::SIGTTIN);
    let status = server.wait_exit(WAIT).expect("exits");
    assert_eq!(status.code(), Some(255), "{}", server.log_text());
    let log = server.log_text();
    assert!(
        log.contains("[ERROR] Unhandled exception in main loop"),
        "{log}"
    );
    assert!(log.contains("RuntimeError: no more workers"), "{log}");
    // As gunicorn: this path does not run on_exit.
    assert!(calls(&record(&rec_path), "on_exit").is_empty());
}

/// gunicorn's `Arbiter.run` lets a hook's `SystemExit` end the server with
/// its status, quietly, and stops normally on `KeyboardInterrupt`.
#[test]
fn sys_exit_and_keyboard_interrupt_in_master_hooks_end_the_server_as_gunicorn() {
    let hooks = r#"
import sys

def nworkers_changed(server, new, old):
    if old is not None and new > old:
        sys.exit(3)
    if old is not None and new < old:
        raise KeyboardInterrupt

def on_exit(server):
    note("on_exit")
"#;
    let (dir, rec_path) = config("hooks-sys-exit", hooks);
    let mut server = launch(&dir, &rec_path, &["hello:app"]).start();
    server.wait_workers(1, WAIT);
    server.signal(Signal::SIGTTIN);
    let status = server.wait_exit(WAIT).expect("exits");
    assert_eq!(status.code(), Some(3), "{}", server.log_text());
    let log = server.log_text();
    assert!(!log.contains("Unhandled exception"), "{log}");
    assert!(!log.contains("Traceback"), "{log}");

    let (dir, rec_path) = config("hooks-keyboard-interrupt", hooks);
    let mut server = launch(&dir, &rec_path, &["-w", "2", "hello:app"]).start();
    server.wait_workers(2, WAIT);
    server.signal(Signal::SIGTTOU);
    let status = server.wait_exit(WAIT).expect("exits");
    assert_eq!(status.code(), Some(0), "{}", server.log_text());
    assert!(server.log_text().contains("Shutting down: Master"));
    assert_eq!(calls(&record(&rec_path), "on_exit").len(), 1);
}

#[test]
fn sys_exit_in_on_starting_exits_with_its_status_quietly() {
    let hooks = r#"
import sys

def on_starting(server):
    sys.exit(4)
"#;
    let (dir, rec_path) = config("hooks-on-starting-exit", hooks);
    let mut server = launch(&dir, &rec_path, &["hello:app"]).spawn();
    let status = server.wait_exit(WAIT).expect("exits");
    assert_eq!(status.code(), Some(4), "{}", server.log_text());
    assert!(
        !server.log_text().contains("Traceback"),
        "{}",
        server.log_text()
    );
}

#[test]
fn an_ssl_context_hook_is_refused_by_name() {
    let hooks = r#"
def ssl_context(config, default_ssl_context_factory):
    return default_ssl_context_factory()
"#;
    let (dir, rec_path) = config("hooks-ssl-context", hooks);
    let mut server = launch(&dir, &rec_path, &["hello:app"]).spawn();
    let status = server.wait_exit(WAIT).expect("exits");
    assert_eq!(status.code(), Some(1), "{}", server.log_text());
    let log = server.log_text();
    assert!(
        log.contains("ssl_context (in ") && log.contains("does not support yet"),
        "{log}"
    );
}

#[test]
fn hup_runs_the_hooks_of_the_config_file_read_again() {
    let v1 = r#"
VERSION = "v1"

def on_reload(server):
    note("on_reload", version=VERSION)

def post_fork(server, worker):
    note("post_fork", version=VERSION, workers=server.cfg.workers)
"#;
    let (dir, rec_path) = config("hooks-hup", v1);
    let server = launch(&dir, &rec_path, &["hello:app"]).start();
    wait_calls(&server, &rec_path, "post_fork", 1);
    let conf = dir.join("gunicorn.conf.py");
    let v2 = std::fs::read_to_string(&conf)
        .unwrap()
        .replace("\"v1\"", "\"v2\"")
        + "\nworkers = 2\n";
    std::fs::write(&conf, v2).unwrap();
    server.signal(Signal::SIGHUP);
    let rec = wait_calls(&server, &rec_path, "post_fork", 3);
    let reload = calls(&rec, "on_reload");
    assert_eq!(reload.len(), 1, "{rec:#?}");
    assert_eq!(reload[0]["version"], "v2");
    let forks = calls(&rec, "post_fork");
    assert_eq!(forks[0]["version"], "v1");
    for fork in &forks[1..] {
        assert_eq!(
            (&fork["version"], fork["workers"].as_i64()),
            (&Value::from("v2"), Some(2))
        );
    }
}

#[test]
fn a_log_call_with_bad_arguments_is_reported_not_raised_into_the_hook() {
    // As `logging`: the record cannot be formatted, so stderr gets a
    // "--- Logging error ---" report, and the hook goes on.
    let hooks = r#"
def post_fork(server, worker):
    server.log.info("%d requests", "not a number")
    worker.log.debug("%s %s", "hidden, and one argument short")
    note("post_fork", went_on=True)
"#;
    let (dir, rec_path) = config("hooks-log-bad-args", hooks);
    let server = launch(&dir, &rec_path, &["hello:app"]).start();
    let rec = wait_calls(&server, &rec_path, "post_fork", 1);
    assert_eq!(calls(&rec, "post_fork")[0]["went_on"], Value::Bool(true));
    let resp = server.get("/");
    assert_eq!((resp.status, resp.text().as_str()), (200, "Hello, World!"));
    let text = server.log_text();
    assert!(text.contains("--- Logging error ---"), "{text}");
    assert!(
        text.contains("TypeError: %d format: a real number is required, not str"),
        "{text}"
    );
    assert!(text.contains("Message: '%d requests'"), "{text}");
    assert!(text.contains("Arguments: ('not a number',)"), "{text}");
    // A level the log hides is not formatted at all, so it cannot fail.
    assert!(!text.contains("one argument short"), "{text}");
    assert!(!text.contains("Exception in worker process"), "{text}");
}

#[test]
fn a_hook_clearing_worker_alive_retires_the_worker_after_its_request() {
    // The usual memory-limit recipe: post_request sets `worker.alive =
    // False`; the worker finishes and exits, and the master replaces it.
    let hooks = r#"
def post_request(worker, req, environ, resp):
    if req.path == "/pid" and worker.nr >= 2:
        worker.alive = False
        note("post_request", alive=worker.alive)
"#;
    let (dir, rec_path) = config("hooks-alive-false", hooks);
    let server = launch(&dir, &rec_path, &["routes:app"]).start();
    let first = server.wait_workers(1, WAIT)[0];
    assert_eq!(server.get("/").status, 200);
    let resp = server.get("/pid");
    assert_eq!(resp.text(), first.to_string());
    let rec = wait_calls(&server, &rec_path, "post_request", 1);
    assert_eq!(calls(&rec, "post_request")[0]["alive"], Value::Bool(false));
    assert!(
        server
            .wait_for(WAIT, |l| l
                .contains(&format!("Worker exiting (pid: {first})")))
            .is_some(),
        "{}",
        server.log_text()
    );
    let next = wait_until(WAIT, || {
        server
            .workers()
            .into_iter()
            .find(|pid| *pid != first)
            .filter(|_| !common::alive(first))
    })
    .unwrap_or_else(|| panic!("no replacement worker\n{}", server.log_text()));
    let served = wait_until(WAIT, || {
        let resp = server.get("/pid");
        (resp.text() == next.to_string()).then_some(resp)
    });
    assert!(served.is_some(), "{}", server.log_text());
    assert!(!server.log_text().contains("Exception in post_request hook"));
}

#[test]
fn log_exc_info_takes_an_exception_object_as_logging_does() {
    // `exc_info=e` after the except block has closed: the traceback is
    // e's own. With nothing being handled, logging shows "NoneType: None".
    let hooks = r#"
def when_ready(server):
    try:
        1 / 0
    except ZeroDivisionError as e:
        saved = e
    server.log.error("given an exception", exc_info=saved)
    server.log.exception("outside an except block")
    note("when_ready")
"#;
    let (dir, rec_path) = config("hooks-exc-info", hooks);
    let server = launch(&dir, &rec_path, &["hello:app"]).start();
    wait_calls(&server, &rec_path, "when_ready", 1);
    let lines = server.log_lines();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in\n{}", lines.join("\n")))
    };
    let given = at("[ERROR] given an exception");
    assert_eq!(lines[given + 1], "Traceback (most recent call last):");
    assert!(
        lines[given + 1..]
            .iter()
            .take(6)
            .any(|l| l == "ZeroDivisionError: division by zero"),
        "{}",
        lines.join("\n")
    );
    let outside = at("[ERROR] outside an except block");
    assert_eq!(lines[outside + 1], "NoneType: None");
}

#[test]
fn clearing_alive_on_the_masters_worker_object_does_not_stop_the_workers() {
    // `pre_fork` runs in the master: its worker object is not a running
    // worker yet, and the workers forked afterwards must serve.
    let hooks = r#"
def pre_fork(server, worker):
    worker.alive = False
"#;
    let (dir, rec_path) = config("hooks-alive-pre-fork", hooks);
    let server = launch(&dir, &rec_path, &["-w", "2", "routes:app"]).start();
    let workers = server.wait_workers(2, WAIT);
    for _ in 0..4 {
        assert_eq!(server.get("/").status, 200);
    }
    assert_eq!(server.workers(), workers, "{}", server.log_text());
    assert!(!server.log_text().contains("Worker exiting"));
}

#[test]
fn a_hook_assigning_server_num_workers_scales_the_workers() {
    // gunicorn's `num_workers` is a property: assigning it calls
    // nworkers_changed and the arbiter spawns up to the new count.
    let hooks = r#"
def when_ready(server):
    server.num_workers = 3

def nworkers_changed(server, new, old):
    note("nworkers_changed", new=new, old=old, num_workers=server.num_workers)
"#;
    let (dir, rec_path) = config("hooks-num-workers", hooks);
    let server = launch(&dir, &rec_path, &["-w", "1", "routes:app"]).start();
    let workers = server.wait_workers(3, WAIT);
    assert_eq!(workers.len(), 3, "{}", server.log_text());
    let rec = wait_calls(&server, &rec_path, "nworkers_changed", 2);
    let changed = calls(&rec, "nworkers_changed");
    assert_eq!(
        (
            &changed[1]["new"],
            &changed[1]["old"],
            &changed[1]["num_workers"]
        ),
        (&Value::from(3), &Value::from(1), &Value::from(3))
    );
    assert!(
        !server.log_text().contains("Exception"),
        "{}",
        server.log_text()
    );
}

#[test]
fn post_worker_init_can_call_the_application_through_worker_wsgi() {
    // The warm-up recipe: call the app once before the first request.
    let hooks = r#"
def post_worker_init(worker):
    seen = []
    body = b"".join(worker.wsgi(
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "QUERY_STRING": "",
         "SERVER_NAME": "warmup", "SERVER_PORT": "0", "SERVER_PROTOCOL": "HTTP/1.1",
         "wsgi.url_scheme": "http"},
        lambda status, headers, exc_info=None: seen.append(status)))
    note("post_worker_init", status=seen[0], body=body.decode())
"#;
    let (dir, rec_path) = config("hooks-worker-wsgi", hooks);
    let server = launch(&dir, &rec_path, &["hello:app"]).start();
    let rec = wait_calls(&server, &rec_path, "post_worker_init", 1);
    let call = calls(&rec, "post_worker_init")[0];
    assert_eq!(
        (&call["status"], &call["body"]),
        (&Value::from("200 OK"), &Value::from("Hello, World!"))
    );
    assert_eq!(server.get("/").status, 200);
}
