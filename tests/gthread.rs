//! The gthread worker through the real binary: `--threads` requests in the
//! application at once, each executor thread keeping its Python thread
//! state, and the worker's life (TERM, INT, max requests) with requests
//! running in threads.

mod common;

use std::io::{Read, Write};
use std::thread;

use common::{Launch, Server, Signal, WAIT, read_response, wait_until};

fn gthread(extra: &[&str]) -> Server {
    let mut args = vec!["-k", "gthread", "--threads", "4"];
    args.extend_from_slice(extra);
    args.push("threaded:app");
    Launch::new(&args).start()
}

/// `n` GETs of `path` at once, each on its own connection.
fn concurrent_gets(server: &Server, path: &str, n: usize) -> Vec<common::Response> {
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let port = server.port;
            let path = path.to_string();
            thread::spawn(move || common::connect_get(port, &path))
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("client thread"))
        .collect()
}

#[test]
fn four_threads_run_four_requests_at_once() {
    let server = gthread(&[]);
    // Each request waits in the app until four are there: only a worker
    // that runs them at the same time answers them (else BrokenBarrierError
    // after 15 s, a 500).
    for r in concurrent_gets(&server, "/barrier", 4) {
        assert_eq!(r.status, 200, "{}\n{}", r.text(), server.log_text());
        assert!(r.text().contains("multithread=True"), "{}", r.text());
        assert!(r.text().contains("ThreadPoolExecutor-0_"), "{}", r.text());
    }
    assert!(server.log_text().contains("Using worker: gthread"));
}

#[test]
fn sync_with_threads_is_gthread_and_sync_alone_is_not() {
    let server = Launch::new(&["--threads", "4", "threaded:app"]).start();
    for r in concurrent_gets(&server, "/barrier", 4) {
        assert_eq!(r.status, 200, "{}", server.log_text());
    }
    assert!(server.log_text().contains("Using worker: gthread"));

    let server = Launch::new(&["threaded:app"]).start();
    let r = server.get("/");
    assert!(r.text().contains("multithread=False"), "{}", r.text());
    assert!(server.log_text().contains("Using worker: sync"));
}

#[test]
fn each_thread_keeps_its_thread_state_between_requests() {
    // Attached once for life: a threading.local survives from one request
    // to the next on the same thread (a per-request attach would reset it).
    let server = gthread(&["--threads", "2"]);
    let counts: Vec<u32> = (0..10)
        .map(|_| {
            let text = server.get("/").text();
            let count = text.trim().rsplit("count=").next().unwrap_or("");
            count.parse().unwrap_or_else(|_| panic!("{text}"))
        })
        .collect();
    assert!(counts.iter().any(|&c| c >= 3), "{counts:?}");
}

#[test]
fn a_streamed_response_arrives_whole_while_other_requests_are_served() {
    let server = gthread(&["--threads", "2"]);
    let mut slow = server.connect();
    slow.write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    // Read a little, then leave the response waiting on us.
    let mut first = [0u8; 4096];
    slow.read_exact(&mut first).unwrap();
    for _ in 0..10 {
        assert_eq!(server.get("/").status, 200);
    }
    let mut rest = Vec::new();
    slow.set_read_timeout(Some(WAIT)).unwrap();
    slow.read_to_end(&mut rest).unwrap();
    let mut all = first.to_vec();
    all.extend_from_slice(&rest);
    let text_end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let body = decode_chunked(&all[text_end..]);
    assert_eq!(body.len(), 256 * 65536);
    for (i, chunk) in body.chunks(65536).enumerate() {
        assert!(chunk.iter().all(|&b| b == (i % 251) as u8), "chunk {i}");
    }
}

fn decode_chunked(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size");
        let size =
            usize::from_str_radix(std::str::from_utf8(&raw[..line_end]).unwrap(), 16).unwrap();
        raw = &raw[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

/// Wait until `n` requests are asleep in the app (it prints as they start).
fn wait_sleeping(server: &Server, n: usize) {
    let inside = wait_until(WAIT, || {
        let lines = server.stdout_lines();
        let seen: usize = lines.iter().map(|l| l.matches("sleeping").count()).sum();
        (seen >= n).then_some(())
    });
    assert!(inside.is_some(), "{}", server.log_text());
}

#[test]
fn term_lets_requests_in_threads_finish_with_connection_close() {
    let mut server = gthread(&[]);
    let port = server.port;
    let clients: Vec<_> = (0..3)
        .map(|_| {
            thread::spawn(move || {
                let mut s = common::connect(port);
                s.write_all(b"GET /sleep?1 HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                read_response(&mut s)
            })
        })
        .collect();
    wait_sleeping(&server, 3);
    server.signal(Signal::SIGTERM);
    for c in clients {
        let r = c.join().unwrap().expect("answered");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Connection"), Some("close"));
    }
    let status = server.wait_exit(WAIT).expect("exits");
    assert!(status.success(), "{status:?}\n{}", server.log_text());
}

#[test]
fn quit_does_not_wait_for_a_thread_stuck_in_the_app() {
    let mut server = gthread(&[]);
    let mut s = server.connect();
    s.write_all(b"GET /sleep?60 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let worker = server.wait_workers(1, WAIT)[0];
    wait_sleeping(&server, 1);
    server.signal(Signal::SIGQUIT);
    // The master's quick shutdown waits for its workers; the stuck thread
    // must not hold the worker for the 60 s the app sleeps (nor until the
    // master's SIGKILL, which would be logged).
    let status = server.wait_exit(WAIT).expect("exits");
    assert!(status.success(), "{status:?}\n{}", server.log_text());
    assert!(!common::alive(worker));
    assert!(
        server
            .log_text()
            .contains("An executor thread is still in the application"),
        "{}",
        server.log_text()
    );
}

#[test]
fn max_requests_counts_the_requests_of_all_threads() {
    let server = gthread(&["--max-requests", "20"]);
    let first = server.wait_workers(1, WAIT)[0];
    for _ in 0..5 {
        for r in concurrent_gets(&server, "/", 4) {
            assert_eq!(r.status, 200);
        }
    }
    let replaced = wait_until(WAIT, || {
        let w = server.workers();
        (w.len() == 1 && w[0] != first).then_some(())
    });
    assert!(replaced.is_some(), "{}", server.log_text());
    assert_eq!(
        server.count("Autorestarting worker after current request."),
        1
    );
    assert_eq!(server.get("/").status, 200);
}

#[test]
fn kept_alive_connections_are_capped_at_worker_connections_minus_threads() {
    // 4 connections, 2 threads: at most 2 kept alive, as gunicorn's gthread.
    let server = gthread(&["--threads", "2", "--worker-connections", "4"]);
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = server.connect();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let r = read_response(&mut s).unwrap();
        assert_ne!(r.header("Connection"), Some("close"), "kept alive");
        held.push(s);
    }
    let mut s = server.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let r = read_response(&mut s).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Connection"), Some("close"));
}

#[test]
fn threads_zero_is_refused_in_one_line() {
    let out = std::process::Command::new(common::BIN)
        .args(["-k", "gthread", "--threads", "0", "threaded:app"])
        .current_dir(common::apps_dir())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("threads"), "{err}");
}

#[test]
fn a_closed_connections_late_events_never_reach_the_next_one() {
    // Under load with `Connection: close`, a slot (and descriptor number)
    // freed in the middle of an event batch is taken by a new connection
    // at once; an event already fetched for the old one (its hang-up) must
    // not make the new one close before it reads its request.
    let server = gthread(&["--threads", "1"]);
    let port = server.port;
    let clients: Vec<_> = (0..48)
        .map(|_| {
            thread::spawn(move || {
                let mut failures = Vec::new();
                for _ in 0..150 {
                    // As a load generator does: close as soon as the
                    // response is complete, not at the server's EOF.
                    let mut s = common::connect(port);
                    let sent =
                        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                    match (sent, read_response(&mut s)) {
                        (Ok(()), Ok(r)) if r.status == 200 => {}
                        (sent, read) => {
                            failures.push(format!("{sent:?} {:?}", read.map(|r| r.status)))
                        }
                    }
                }
                failures
            })
        })
        .collect();
    let failures: Vec<String> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("client thread"))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of 7200 requests failed, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
}

/// The loop closes an idle kept-alive connection without the GIL, so the
/// `gunicorn.socket` made for its request is freed later, by a thread; the
/// client must see the close at once all the same.
#[test]
fn an_idle_kept_alive_connection_closed_by_the_loop_is_closed_for_the_client() {
    let server = gthread(&["--keep-alive", "1"]);
    for _ in 0..3 {
        let mut s = server.connect();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let resp = read_response(&mut s).unwrap();
        assert!(resp.text().contains("multithread=True"), "{}", resp.text());
        let started = std::time::Instant::now();
        assert!(
            common::closed_by_server(&mut s),
            "still open after {:?}",
            started.elapsed()
        );
    }
}
