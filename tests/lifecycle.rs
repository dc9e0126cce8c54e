//! Reloads, scaling and recycling under load: while client threads keep
//! sending requests (keep-alive and not), the master replaces workers, and
//! not one request may fail. Plus the failure paths: new code that cannot
//! load keeps the old workers serving.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::load::Load;
use common::{Launch, Server, Signal, WAIT, read_response, scratch, wait_until};

/// Client threads in each load.
const CLIENTS: usize = 6;

/// A server running tests/apps/lifecycle.py, whose `/version` answers with
/// the contents of a file the test controls, once its workers have booted.
/// Its workers take a while to import the app and record when they
/// imported it and when they exited (see `assert_always_serving`).
fn versioned(name: &str, version: &str, args: &[&str]) -> (Server, PathBuf) {
    let dir = scratch(name);
    let file = dir.join("version.txt");
    set_version(&file, version);
    let mut all = args.to_vec();
    all.extend(["--log-level", "debug", "lifecycle:app"]);
    let server = Launch::new(&all)
        .env("GRS_VERSION_FILE", file.to_str().expect("utf-8 path"))
        .env(
            "GRS_EVENTS",
            dir.join("events").to_str().expect("utf-8 path"),
        )
        .env("GRS_IMPORT_DELAY", "0.3")
        .start();
    let workers = args
        .windows(2)
        .find(|w| w[0] == "-w")
        .map_or(1, |w| w[1].parse().expect("a worker count"));
    assert!(
        server.wait_count(") booted", workers, WAIT),
        "{}",
        server.log_text()
    );
    (server, file)
}

/// Every time a worker exited, `wanted` others had imported the app and
/// were still there: the replaced worker left only once its successor
/// could serve. (Without that, nothing fails under load either: new
/// connections wait in the listen queue while the successor imports the
/// app; but they wait, which is what this rules out.)
fn assert_always_serving(version_file: &Path, wanted: usize) {
    let events = version_file.with_file_name("events");
    let text = std::fs::read_to_string(&events).expect("events file");
    let mut live = std::collections::BTreeSet::new();
    let mut exits = 0;
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("imported", pid)) => {
                live.insert(pid);
            }
            Some(("exit", pid)) => {
                live.remove(pid);
                exits += 1;
                assert!(live.len() >= wanted, "{pid} left {live:?} alone:\n{text}");
            }
            _ => panic!("bad event line {line:?}"),
        }
    }
    assert!(exits > 0, "no worker exited:\n{text}");
}

fn set_version(file: &Path, version: &str) {
    std::fs::write(file, version).expect("write the version file");
}

/// Put `version` on disk, send HUP, and wait until it is served and no
/// worker of `old` is left.
fn reload_to(server: &Server, file: &Path, version: &str, old: &[i32]) {
    set_version(file, version);
    server.signal(Signal::SIGHUP);
    assert!(
        wait_body(server, "/version", version),
        "{}",
        server.log_text()
    );
    let replaced = wait_until(WAIT, || {
        let w = server.workers();
        (w.len() == old.len() && w.iter().all(|p| !old.contains(p))).then_some(())
    });
    assert!(
        replaced.is_some(),
        "old workers stayed: {}",
        server.log_text()
    );
}

/// Wait until a fresh connection is answered with `body` on `path`.
fn wait_body(server: &Server, path: &str, body: &str) -> bool {
    wait_until(WAIT, || (server.get(path).text() == body).then_some(())).is_some()
}

/// A bounded pause while the load runs, so requests straddle the change.
fn under_load_for(d: Duration) {
    std::thread::sleep(d);
}

#[test]
fn hup_under_load_serves_new_code_without_failing_a_request() {
    let (server, file) = versioned("hup-load", "v1", &["-w", "2"]);
    let old = server.wait_workers(2, WAIT);
    let load = Load::start(server.port, "/version", CLIENTS);
    under_load_for(Duration::from_millis(300));
    reload_to(&server, &file, "v2", &old);
    under_load_for(Duration::from_millis(300));
    let tally = load.finish();
    tally.assert_clean(50);
    assert!(tally.bodies.contains_key("v1") && tally.bodies.contains_key("v2"));
    assert_always_serving(&file, 2);
}

#[test]
fn hup_with_code_that_cannot_load_keeps_the_old_workers_serving() {
    let (server, file) = versioned("hup-broken", "v1", &["-w", "2"]);
    let old = server.wait_workers(2, WAIT);
    let load = Load::start(server.port, "/version", CLIENTS);
    set_version(&file, "broken");
    server.signal(Signal::SIGHUP);
    assert!(
        server
            .wait_for(WAIT, |l| l
                .contains("A new worker failed to boot; 2 worker(s) keep serving"))
            .is_some(),
        "{}",
        server.log_text()
    );
    assert!(
        server
            .log_text()
            .contains("this version cannot be imported")
    );
    under_load_for(Duration::from_millis(300));
    let tally = load.finish();
    tally.assert_clean(20);
    assert_eq!(tally.bodies.keys().collect::<Vec<_>>(), ["v1"]);
    let still = server.workers();
    // The old workers serve (a new attempt may be booting beside them).
    assert!(
        old.iter().all(|p| still.contains(p)),
        "{still:?} vs {old:?}"
    );

    // Fixed, and HUP again: the new code takes over.
    reload_to(&server, &file, "v3", &old);
}

#[test]
fn a_broken_app_at_start_still_halts_the_server_as_gunicorn() {
    let file = scratch("start-broken").join("version.txt");
    set_version(&file, "broken");
    let mut server = Launch::new(&["lifecycle:app"])
        .env("GRS_VERSION_FILE", file.to_str().expect("utf-8 path"))
        .spawn();
    let status = server.wait_exit(WAIT).expect("the master exits");
    assert_eq!(status.code(), Some(3), "{}", server.log_text());
    assert!(server.log_text().contains("Reason: Worker failed to boot."));
}

#[test]
fn ttou_under_load_retires_workers_without_failing_a_request() {
    let (server, _file) = versioned("ttou-load", "v1", &["-w", "3"]);
    server.wait_workers(3, WAIT);
    let load = Load::start(server.port, "/pid", CLIENTS);
    under_load_for(Duration::from_millis(300));
    server.signal(Signal::SIGTTOU);
    server.wait_workers(2, WAIT);
    server.signal(Signal::SIGTTOU);
    server.wait_workers(1, WAIT);
    under_load_for(Duration::from_millis(300));
    load.finish().assert_clean(50);
}

#[test]
fn max_requests_recycles_workers_under_load_without_failing_a_request() {
    let (server, file) = versioned(
        "max-requests",
        "v1",
        &[
            "-w",
            "2",
            "--max-requests",
            "40",
            "--max-requests-jitter",
            "10",
        ],
    );
    server.wait_workers(2, WAIT);
    let load = Load::start(server.port, "/pid", CLIENTS);
    let recycled = server.wait_count("Autorestarting worker after current request.", 4, WAIT);
    let tally = load.finish();
    assert!(recycled, "{}", server.log_text());
    tally.assert_clean(160);
    assert!(tally.bodies.len() >= 4, "served by {:?}", tally.bodies);
    assert!(
        server
            .log_text()
            .contains("it served --max-requests requests")
    );
    // No worker served more than its limit before its successor took over:
    // bounded by max + jitter plus what arrived while the successor booted.
    let most = tally.bodies.values().max().copied().unwrap_or(0);
    assert!(most >= 40, "{:?}", tally.bodies);
    assert_always_serving(&file, 2);
}

#[test]
fn max_worker_memory_recycles_a_grown_worker_under_load() {
    let (server, file) = versioned("max-memory", "v1", &["--max-worker-memory", "80"]);
    let before = server.wait_workers(1, WAIT);
    let load = Load::start(server.port, "/pid", CLIENTS);
    assert_eq!(server.get("/grow?mb=100").status, 200);
    let line = server.wait_for(WAIT, |l| {
        l.contains(&format!("Replacing worker (pid:{}): it uses", before[0]))
    });
    assert!(line.is_some(), "{}", server.log_text());
    let replaced = wait_until(WAIT, || {
        let w = server.workers();
        (w.len() == 1 && w[0] != before[0]).then_some(())
    });
    under_load_for(Duration::from_millis(300));
    let tally = load.finish();
    assert!(replaced.is_some(), "{}", server.log_text());
    tally.assert_clean(50);
    assert!(
        line.unwrap_or_default()
            .contains("over --max-worker-memory 80")
    );
    assert_always_serving(&file, 1);
}

#[test]
fn max_worker_lifetime_recycles_workers_under_load() {
    let (server, file) = versioned(
        "max-lifetime",
        "v1",
        &["-w", "2", "--max-worker-lifetime", "1"],
    );
    server.wait_workers(2, WAIT);
    let load = Load::start(server.port, "/pid", CLIENTS);
    let recycled = server.wait_count("--max-worker-lifetime 1s", 4, WAIT);
    let tally = load.finish();
    assert!(recycled, "{}", server.log_text());
    tally.assert_clean(50);
    assert!(tally.bodies.len() >= 3, "served by {:?}", tally.bodies);
    assert_always_serving(&file, 2);
}

#[test]
fn term_answers_a_kept_alive_connection_once_more_with_connection_close() {
    let (mut server, _file) = versioned("term-keepalive", "v1", &[]);
    let worker = server.wait_workers(1, WAIT)[0];
    let mut idle = server.connect();
    idle.write_all(b"GET /version HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let first = read_response(&mut idle).unwrap();
    assert_ne!(first.header("Connection"), Some("close"));
    // A slow request holds the worker while TERM arrives, so the worker is
    // stopping before the idle connection's next request is read.
    let mut busy = server.connect();
    busy.write_all(b"GET /slow?ms=3000 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    server.signal(Signal::SIGTERM);
    idle.write_all(b"GET /version HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let slow = read_response(&mut busy).unwrap();
    assert_eq!(
        (slow.status, slow.header("Connection")),
        (200, Some("close"))
    );
    let next = read_response(&mut idle).expect("the kept-alive request is answered");
    assert_eq!(next.status, 200);
    assert_eq!(next.header("Connection"), Some("close"));
    let status = server.wait_exit(WAIT).expect("exits");
    assert_eq!(status.code(), Some(0));
    assert!(!common::alive(worker));
}

#[test]
fn term_during_a_kept_alive_response_answers_the_next_request_with_connection_close() {
    let mut server = Launch::new(&["routes:app"]).start();
    let worker = server.wait_workers(1, WAIT)[0];
    let mut conn = server.connect();
    // Far more than the socket buffers hold: the response is still being
    // written (the client reads nothing yet) when TERM reaches the worker.
    conn.write_all(b"GET /big?size=33554432 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    server.signal(Signal::SIGTERM);
    assert!(
        server
            .wait_for(WAIT, |l| l.contains("Handling signal: term"))
            .is_some()
    );
    std::thread::sleep(Duration::from_millis(300));
    let big = read_response(&mut conn).unwrap();
    assert_eq!((big.status, big.body.len()), (200, 33554432));
    // Its head promised keep-alive: the client may send its next request
    // right away, which is answered, with `Connection: close`.
    conn.write_all(b"GET /big?size=10 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let next = read_response(&mut conn).expect("the next request is answered");
    assert_eq!(next.status, 200);
    assert_eq!(next.header("Connection"), Some("close"));
    let status = server.wait_exit(WAIT).expect("exits");
    assert_eq!(status.code(), Some(0));
    assert!(!common::alive(worker));
}
