//! The master's process management through the real binary: signals,
//! respawn, graceful and quick shutdown, heartbeat timeouts.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{Launch, Signal, WAIT, alive, read_response, scratch, wait_until};
use nix::sys::signal::kill;
use nix::unistd::Pid;

#[test]
fn ttin_and_ttou_add_and_remove_one_worker_never_below_one() {
    let server = Launch::new(&["-w", "2", "hello"]).start();
    server.wait_workers(2, WAIT);
    server.signal(Signal::SIGTTIN);
    server.wait_workers(3, WAIT);
    for _ in 0..4 {
        server.signal(Signal::SIGTTOU);
        std::thread::sleep(Duration::from_millis(200));
    }
    server.wait_workers(1, WAIT);
    assert!(
        server
            .wait_for(WAIT, |l| l.contains("Handling signal: ttou"))
            .is_some()
    );
    assert_eq!(server.get("/").status, 200);
}

#[test]
fn a_killed_worker_is_reaped_logged_and_replaced() {
    let server = Launch::new(&["-w", "2", "hello"]).start();
    let before = server.wait_workers(2, WAIT);
    kill(Pid::from_raw(before[0]), Signal::SIGKILL).unwrap();
    let line = format!(
        "Worker (pid:{}) was sent SIGKILL! Perhaps out of memory?",
        before[0]
    );
    assert!(
        server.wait_for(WAIT, |l| l.contains(&line)).is_some(),
        "{}",
        server.log_text()
    );
    let after = wait_until(WAIT, || {
        let w = server.workers();
        (w.len() == 2 && !w.contains(&before[0])).then_some(w)
    });
    assert!(
        after.is_some(),
        "no replacement worker: {:?}",
        server.workers()
    );
    assert_eq!(server.get("/").status, 200);
}

#[test]
fn term_lets_a_request_in_flight_finish_then_exits_0() {
    let mut server = Launch::new(&["routes:app"]).start();
    let mut s = server.connect();
    s.write_all(b"GET /sleep?s=1.5 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    server.signal(Signal::SIGTERM);
    let resp = read_response(&mut s).expect("the in-flight request is answered");
    assert_eq!(resp.text(), "slept");
    assert_eq!(
        resp.header("connection"),
        Some("close"),
        "no keep-alive while stopping"
    );
    let status = server.wait_exit(WAIT).expect("master exits");
    assert_eq!(status.code(), Some(0));
    let log = server.log_text();
    assert!(log.contains("Handling signal: term"), "{log}");
    assert!(log.contains("[INFO] Shutting down: Master"), "{log}");
}

#[test]
fn term_stops_accepting_at_once() {
    let mut server = Launch::new(&["routes:app"]).start();
    let port = server.port;
    server.signal(Signal::SIGTERM);
    server.wait_exit(WAIT).expect("exits");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "listener still open"
    );
}

/// While a request is still being served, a new connection is refused at
/// once, instead of completing into a backlog nobody accepts from: the
/// socket stops listening in every process, a sync worker busy in the app
/// (which hears TERM only when its request ends) included.
#[test]
fn term_refuses_new_connections_while_requests_finish() {
    for worker in ["sync", "gthread"] {
        let mut server = Launch::new(&["-w", "2", "-k", worker, "routes:app"]).start();
        let mut s = server.connect();
        s.write_all(b"GET /sleep?s=3 HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        server.signal(Signal::SIGTERM);
        let refused = wait_until(
            Duration::from_secs(2),
            || match std::net::TcpStream::connect(("127.0.0.1", server.port)) {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Some(()),
                _ => {
                    std::thread::sleep(Duration::from_millis(20));
                    None
                }
            },
        );
        assert!(
            refused.is_some(),
            "{worker}: connections still completed after TERM"
        );
        let resp = read_response(&mut s).expect("the in-flight request is answered");
        assert_eq!(resp.text(), "slept");
        assert_eq!(server.wait_exit(WAIT).expect("exits").code(), Some(0));
        let log = server.log_text();
        assert!(!log.contains("accept() failed"), "{worker}: {log}");
    }
}

#[test]
fn graceful_timeout_bounds_a_request_that_never_ends() {
    let mut server = Launch::new(&["--graceful-timeout", "1", "routes:app"]).start();
    let mut s = server.connect();
    s.write_all(b"GET /sleep?s=60 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let worker = server.workers()[0];
    let started = Instant::now();
    server.signal(Signal::SIGTERM);
    let status = server.wait_exit(WAIT).expect("master exits");
    assert_eq!(status.code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        wait_until(WAIT, || (!alive(worker)).then_some(())).is_some(),
        "worker {worker} survived"
    );
}

#[test]
fn int_and_quit_shut_down_quickly() {
    for sig in [Signal::SIGINT, Signal::SIGQUIT] {
        let mut server = Launch::new(&["-w", "2", "hello"]).start();
        let workers = server.wait_workers(2, WAIT);
        server.signal(sig);
        let status = server.wait_exit(WAIT).expect("master exits");
        assert_eq!(status.code(), Some(0), "{sig}");
        for w in workers {
            assert!(
                wait_until(WAIT, || (!alive(w)).then_some(())).is_some(),
                "worker {w} survived {sig}"
            );
        }
    }
}

#[test]
fn hup_replaces_every_worker_and_reloads_the_app() {
    let dir = scratch("hup");
    let module = dir.join("reloadable.py");
    let write_app = |text: &str| {
        std::fs::write(
            &module,
            format!("def app(e, sr):\n    sr('200 OK', [])\n    return [b'{text}']\n"),
        )
        .unwrap();
    };
    write_app("v1");
    let server = Launch::new(&["-w", "2", "reloadable:app"])
        .cwd(&dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .start();
    let old = server.wait_workers(2, WAIT);
    assert_eq!(server.get("/").text(), "v1");
    write_app("v2");
    server.signal(Signal::SIGHUP);
    let new = wait_until(WAIT, || {
        let w = server.workers();
        (w.len() == 2 && w.iter().all(|p| !old.contains(p))).then_some(w)
    });
    assert!(
        new.is_some(),
        "old workers still there: {:?}; log:\n{}",
        server.workers(),
        server.log_text()
    );
    assert!(server.log_text().contains("Hang up: Master"));
    assert_eq!(server.get("/").text(), "v2");
}

#[test]
fn usr1_reopens_the_log_files() {
    let dir = scratch("usr1");
    let errlog = dir.join("error.log");
    let acclog = dir.join("access.log");
    let rotated_err = dir.join("error.log.1");
    let rotated_acc = dir.join("access.log.1");
    let server = Launch::new(&[
        "--error-logfile",
        errlog.to_str().unwrap(),
        "--access-logfile",
        acclog.to_str().unwrap(),
        "hello",
    ])
    .start_with_log_file(&errlog);
    assert_eq!(server.get("/").status, 200);
    std::fs::rename(&errlog, &rotated_err).unwrap();
    std::fs::rename(&acclog, &rotated_acc).unwrap();
    server.signal(Signal::SIGUSR1);
    // Master and worker both reopen: new lines land in new files.
    let reopened = wait_until(WAIT, || {
        let _ = server.get("/after-rotation");
        let acc = std::fs::read_to_string(&acclog).unwrap_or_default();
        (acc.contains("/after-rotation") && errlog.exists()).then_some(())
    });
    assert!(reopened.is_some(), "logs were not reopened");
    assert!(
        std::fs::read_to_string(&rotated_acc)
            .unwrap()
            .contains("\"GET / HTTP/1.1\" 200")
    );
    assert!(
        std::fs::read_to_string(&rotated_err)
            .unwrap()
            .contains("Handling signal: usr1")
    );
    let mut server = server;
    server.signal(Signal::SIGTERM);
    server.wait_exit(WAIT).expect("exits");
    let err = std::fs::read_to_string(&errlog).unwrap();
    assert!(
        err.contains("Handling signal: term") && err.contains("Worker exiting"),
        "{err}"
    );
}

#[test]
fn a_worker_that_misses_its_heartbeat_is_aborted_and_replaced() {
    let server = Launch::new(&["-t", "2", "routes:app"]).start();
    let before = server.wait_workers(1, WAIT);
    let mut s = server.connect();
    s.write_all(b"GET /sleep?s=30 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let line = format!("[CRITICAL] WORKER TIMEOUT (pid:{})", before[0]);
    assert!(
        server.wait_for(WAIT, |l| l.contains(&line)).is_some(),
        "{}",
        server.log_text()
    );
    assert!(
        common::closed_by_server(&mut s),
        "the stuck request's connection dies with the worker"
    );
    let after = wait_until(WAIT, || {
        let w = server.workers();
        (w.len() == 1 && w[0] != before[0]).then_some(w)
    });
    assert!(after.is_some(), "{}", server.log_text());
    assert_eq!(server.get("/").text(), "root");
}

#[test]
fn workers_exit_when_the_master_dies() {
    let server = Launch::new(&["-w", "2", "hello"]).start();
    let workers = server.wait_workers(2, WAIT);
    kill(Pid::from_raw(server.pid()), Signal::SIGKILL).unwrap();
    for w in workers {
        assert!(
            wait_until(WAIT, || (!alive(w)).then_some(())).is_some(),
            "orphan worker {w} kept running"
        );
    }
}

#[test]
fn graceful_exit_runs_atexit_handlers_in_workers() {
    let dir = scratch("atexit");
    let marker = dir.join("marker");
    let mut server = Launch::new(&["routes:app"])
        .env("GRS_TEST_MARKER", marker.to_str().unwrap())
        .start();
    let worker = server.wait_workers(1, WAIT)[0];
    assert_eq!(server.get("/").status, 200);
    server.signal(Signal::SIGTERM);
    server.wait_exit(WAIT).expect("exits");
    let text = std::fs::read_to_string(&marker).unwrap_or_default();
    assert!(
        text.contains(&format!("atexit {worker}")),
        "marker: {text:?}"
    );
}

#[test]
fn a_stop_signal_while_workers_are_booting_is_not_lost() {
    // The master forwards TERM/QUIT to workers that may be a few
    // instructions past fork: they must still act on it.
    for (i, sig) in [Signal::SIGTERM, Signal::SIGQUIT, Signal::SIGINT]
        .into_iter()
        .cycle()
        .take(12)
        .enumerate()
    {
        let mut server = Launch::new(&["-w", "4", "--graceful-timeout", "30", "hello"]).start();
        if i % 2 == 1 {
            std::thread::sleep(Duration::from_millis(5));
        }
        server.signal(sig);
        let status = server.wait_exit(Duration::from_secs(10));
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(0),
            "{sig}: {}",
            server.log_text()
        );
    }
}

#[test]
fn busy_workers_keep_their_heartbeat() {
    // 30 queued 0.2 s requests keep one worker busy for 6 s, three times its
    // timeout: it must still never be taken for a hung worker.
    let server = Launch::new(&["-t", "2", "routes:app"]).start();
    let port = server.port;
    let clients: Vec<_> = (0..30)
        .map(|_| std::thread::spawn(move || common::connect_get(port, "/sleep?s=0.2").status))
        .collect();
    for c in clients {
        assert_eq!(c.join().unwrap(), 200);
    }
    assert!(
        !server.log_text().contains("WORKER TIMEOUT"),
        "{}",
        server.log_text()
    );
}

#[test]
fn hup_or_usr2_sent_to_a_worker_ends_it_and_it_is_replaced() {
    for sig in [Signal::SIGHUP, Signal::SIGUSR2] {
        let server = Launch::new(&["hello"]).start();
        let before = server.wait_workers(1, WAIT)[0];
        kill(Pid::from_raw(before), sig).unwrap();
        let replaced = wait_until(WAIT, || {
            let w = server.workers();
            (w.len() == 1 && w[0] != before).then_some(())
        });
        assert!(replaced.is_some(), "{sig}: {}", server.log_text());
    }
}

#[test]
fn running_out_of_descriptors_does_not_spin_the_worker() {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new("sh");
    cmd.args([
        "-c",
        &format!("ulimit -n 40 && exec {} -b 127.0.0.1:0 hello", common::BIN),
    ]);
    cmd.current_dir(common::apps_dir()).process_group(0);
    let server = Launch::command(cmd).start();
    let worker = server.wait_workers(1, WAIT)[0];
    let held: Vec<_> = (0..60)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", server.port)).ok())
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let failures = server.count("accept() failed");
    assert!(
        failures <= 4,
        "{failures} accept failures logged in 2 s: the worker spins"
    );
    let ticks = |pid: i32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = ticks(worker);
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        ticks(worker) - before < 30,
        "the worker burns CPU while out of descriptors"
    );
    drop(held);
    assert_eq!(server.get("/").status, 200, "accepting resumes");
}
