//! A worker that misses its heartbeat explains itself before it goes: on
//! the master's SIGABRT it logs the request in flight and every Python
//! thread's stack, then exits 1 (no SIGKILL needed).

mod common;

use std::io::Write;

use common::{Launch, Server, Signal, WAIT, apps_dir, wait_until};
use nix::sys::signal::kill;
use nix::unistd::Pid;

/// The 1-based line of `hang.py` holding `needle`.
fn hang_py_line(needle: &str) -> usize {
    let source = std::fs::read_to_string(apps_dir().join("hang.py")).expect("read hang.py");
    source
        .lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .expect("needle in hang.py")
}

/// Wait until the only worker is a new one, then check it serves.
fn replaced_and_serving(server: &Server, old: i32) {
    let after = wait_until(WAIT, || {
        let w = server.workers();
        (w.len() == 1 && w[0] != old).then_some(w)
    });
    assert!(
        after.is_some(),
        "no new worker; log:\n{}",
        server.log_text()
    );
    assert_eq!(server.get("/").text(), "awake");
}

#[test]
fn a_timed_out_worker_logs_its_request_and_every_thread_then_exits_1() {
    let server = Launch::new(&["--timeout", "2", "hang:app"]).start();
    let worker = server.wait_workers(1, WAIT)[0];
    let mut s = server.connect();
    s.write_all(b"GET /hang?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();

    let log = exited_with_1(&server, worker);
    assert!(
        log.contains(&format!("[CRITICAL] WORKER TIMEOUT (pid:{worker})")),
        "{log}"
    );
    assert!(
        log.contains("request in flight: GET /hang?x=1 from 127.0.0.1"),
        "{log}"
    );
    // The main thread's stack ends in the app's sleeping line.
    let hang = apps_dir().join("hang.py");
    let frame = format!(
        "File \"{}\", line {}, in app",
        hang.display(),
        hang_py_line("time.sleep(60)")
    );
    let at = log
        .find(&frame)
        .unwrap_or_else(|| panic!("{frame}:\n{log}"));
    assert!(
        log[at..].lines().nth(1).map(str::trim) == Some("time.sleep(60)"),
        "{log}"
    );
    // The other thread, by name, in its own function.
    assert!(log.contains("Thread sleepy-helper"), "{log}");
    let helper = format!(
        "File \"{}\", line {}, in sleepy_helper_loop",
        hang.display(),
        hang_py_line("time.sleep(3600)")
    );
    assert!(log.contains(&helper), "{helper}:\n{log}");
    assert!(!log.contains("was sent SIGKILL"), "{log}");
    assert!(common::closed_by_server(&mut s));

    replaced_and_serving(&server, worker);
}

#[test]
fn an_idle_worker_sent_sigabrt_says_no_request_in_flight_and_exits_1() {
    let server = Launch::new(&["hang:app"]).start();
    let worker = server.wait_workers(1, WAIT)[0];
    assert_eq!(server.get("/").text(), "awake");
    kill(Pid::from_raw(worker), Signal::SIGABRT).unwrap();
    let log = exited_with_1(&server, worker);
    assert!(
        log.contains(&format!("Worker (pid:{worker}) got SIGABRT")),
        "{log}"
    );
    assert!(log.contains("no request in flight"), "{log}");
    assert!(log.contains("Thread sleepy-helper"), "{log}");
    assert!(!log.contains("was sent SIGKILL"), "{log}");
    assert!(!log.contains("[CRITICAL] WORKER TIMEOUT"), "{log}");
    replaced_and_serving(&server, worker);
}

/// Wait for the master to report that `worker` exited with status 1; the log.
fn exited_with_1(server: &Server, worker: i32) -> String {
    let exited = format!("Worker (pid:{worker}) exited with code 1.");
    assert!(
        server.wait_for(WAIT, |l| l.contains(&exited)).is_some(),
        "{}",
        server.log_text()
    );
    server.log_text()
}
