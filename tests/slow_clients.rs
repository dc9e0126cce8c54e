//! Slow and greedy clients against the real binary: request heads that
//! trickle in beside idle keep-alive connections while a normal client is
//! served, a slow reader of a large response, uploads spooled past
//! `--body-buffer-size`, bodies over `--max-body-size` (413), heads not
//! complete within `--header-timeout` (408).
//!
//! Each check is `check_xxx(extra)`, run by `sync_xxx` with no extra flags
//! and by `gthread_xxx` with `GTHREAD`.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::{Launch, Server, WAIT, read_response, wait_until};
use sha2::{Digest, Sha256};

const APP: &str = "slow_clients:app";
/// The flags of the threaded worker's variants.
const GTHREAD: &[&str] = &["-k", "gthread", "--threads", "4"];

/// A `#[test]` for each worker class, running the same check.
macro_rules! under_both_workers {
    ($check:ident: $sync:ident, $gthread:ident) => {
        #[test]
        fn $sync() {
            $check(&[]);
        }

        #[test]
        fn $gthread() {
            $check(GTHREAD);
        }
    };
}
/// The app's response chunk size (`tests/apps/slow_clients.py`).
const CHUNK: usize = 65536;

/// One worker serving the test app with `args`, then the worker class's `extra`.
fn start(extra: &[&str], args: &[&str]) -> Server {
    let mut all = vec!["-w", "1"];
    all.extend_from_slice(args);
    all.extend_from_slice(extra);
    all.push(APP);
    Launch::new(&all).start()
}

/// Raise this process's soft descriptor limit to at least `n` (up to the
/// hard limit); the server inherits it.
fn raise_nofile(n: u64) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    if soft < n {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, n.min(hard), hard);
    }
    let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    assert!(soft >= n, "need {n} descriptors, the limit is {soft}");
}

/// Read to the server's clean close; the answer must have `status_line`.
fn answered_then_closed(s: &mut TcpStream, status_line: &str) -> Vec<u8> {
    let raw = read_to_close(s).unwrap_or_else(|e| panic!("{status_line}, then a clean close: {e}"));
    assert!(
        starts_with_status(&raw, status_line),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    raw
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Everything the server sends until it closes; `Err` on a reset or when
/// it does not close within `WAIT`.
fn read_to_close(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    s.set_read_timeout(Some(WAIT))?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(out)
}

fn starts_with_status(raw: &[u8], status_line: &str) -> bool {
    raw.starts_with(format!("{status_line}\r\n").as_bytes())
}

// ---------------------------------------------------------------------------
// 1. slowloris

/// A connection sending its request head a line at a time, never ending it.
struct Trickler {
    stream: TcpStream,
    got: Vec<u8>,
    /// The server closed it (EOF) or reset it.
    closed: bool,
    reset: bool,
}

/// Send a header line every 1.5 s on each trickler that has had no answer,
/// reading what comes back, until all are closed or `bound` passes.
fn trickle(mut conns: Vec<Trickler>, bound: Duration) -> Vec<Trickler> {
    let deadline = Instant::now() + bound;
    let mut next_line = Instant::now() + Duration::from_millis(1500);
    let mut line = 0;
    while Instant::now() < deadline && conns.iter().any(|c| !c.closed) {
        for c in conns.iter_mut().filter(|c| !c.closed) {
            let mut buf = [0u8; 4096];
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => {
                        c.closed = true;
                        break;
                    }
                    Ok(n) => c.got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => {
                        c.closed = true;
                        c.reset = true;
                        break;
                    }
                }
            }
        }
        if Instant::now() >= next_line {
            line += 1;
            let text = format!("X-Trickle-{line}: still coming\r\n");
            // Once answered, a client stops sending (and so is not reset
            // for bytes that arrive after the server closed).
            for c in conns.iter_mut().filter(|c| !c.closed && c.got.is_empty()) {
                if c.stream.write_all(text.as_bytes()).is_err() {
                    c.closed = true;
                    c.reset = true;
                }
            }
            next_line = Instant::now() + Duration::from_millis(1500);
        }
        thread::sleep(Duration::from_millis(50));
    }
    conns
}

fn check_slowloris(extra: &[&str]) {
    const EACH: usize = 200;
    raise_nofile(4 * EACH as u64 + 256);
    let server = start(extra, &["--header-timeout", "4", "--keep-alive", "120"]);

    // Idle keep-alive connections: one request answered, then silence.
    let mut idle = Vec::with_capacity(EACH);
    for _ in 0..EACH {
        let mut s = server.connect();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let r = read_response(&mut s).expect("an idle-to-be connection's first answer");
        assert_eq!(r.status, 200);
        idle.push(s);
    }

    // Heads that trickle in and never end.
    let tricklers: Vec<Trickler> = (0..EACH)
        .map(|_| {
            let mut stream = server.connect();
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
                .expect("start a head");
            stream.set_nonblocking(true).unwrap();
            Trickler {
                stream,
                got: Vec::new(),
                closed: false,
                reset: false,
            }
        })
        .collect();
    let trickling = thread::spawn(move || trickle(tricklers, Duration::from_secs(30)));

    // A normal client, one request after another, for about 6 s.
    let (mut sent, mut answered, mut latencies) = (0usize, 0usize, Vec::new());
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        sent += 1;
        let t0 = Instant::now();
        let mut s = server.connect();
        let ok = s
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .is_ok()
            && matches!(read_response(&mut s), Ok(r) if r.status == 200);
        if ok {
            answered += 1;
            latencies.push(t0.elapsed());
        }
    }
    latencies.sort_unstable();
    let p95 = latencies
        .get((latencies.len() * 95 / 100).min(latencies.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default();
    eprintln!(
        "slowloris: {answered}/{sent} normal requests answered ({:.1}%), p95 {:.2} ms, \
         beside {EACH} trickling heads and {EACH} idle keep-alive connections",
        100.0 * answered as f64 / sent.max(1) as f64,
        p95.as_secs_f64() * 1000.0
    );
    assert_eq!(answered, sent, "every normal request is answered 200");

    // The trickling heads are cut off with a 408, then closed.
    let tricklers = trickling.join().expect("trickle thread");
    let answered_408 = tricklers
        .iter()
        .filter(|c| starts_with_status(&c.got, "HTTP/1.1 408 Request Timeout"))
        .count();
    let closed = tricklers.iter().filter(|c| c.closed).count();
    assert_eq!(
        (answered_408, closed),
        (EACH, EACH),
        "every trickling head gets a 408 and is closed; first: {:?}",
        String::from_utf8_lossy(&tricklers[0].got)
    );

    // The idle kept-alive connections were held all along, and still serve.
    for s in &mut idle {
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let r = read_response(s).expect("a kept-alive connection still serves");
        assert_eq!(r.status, 200);
    }
}

under_both_workers!(check_slowloris: sync_slowloris, gthread_slowloris);

// ---------------------------------------------------------------------------
// 2. slow reader

const BIG: usize = 50 * 1024 * 1024;

/// The `/big` body: chunk i is i as 4 big-endian bytes, repeated.
fn check_big_body(body: &[u8]) {
    assert_eq!(body.len(), BIG, "whole body");
    for (i, chunk) in body.chunks(CHUNK).enumerate() {
        let want = (i as u32).to_be_bytes();
        assert!(
            chunk.chunks(4).all(|w| w == want),
            "chunk {i} of the body is wrong"
        );
    }
}

/// Read a response head from a blocking stream, then exactly `len` more bytes.
fn read_head_then(s: &mut TcpStream, len: usize) -> (String, Vec<u8>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).expect("response head");
        head.push(byte[0]);
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).expect("body bytes");
    (String::from_utf8_lossy(&head).into_owned(), body)
}

/// A client that reads a few KiB of a 50 MiB response, then stops reading
/// for a while: other clients are answered meanwhile (the response is a
/// file, which the loop sends without the app), then it gets it all.
fn check_slow_reader(extra: &[&str]) {
    let dir = common::scratch("slow-reader");
    let file = dir.join("big.bin");
    let mut data = Vec::with_capacity(BIG);
    for i in 0..(BIG / CHUNK) as u32 {
        for _ in 0..CHUNK / 4 {
            data.extend_from_slice(&i.to_be_bytes());
        }
    }
    std::fs::write(&file, &data).unwrap();
    drop(data);
    let server = start(extra, &[]);
    let path = format!("/file?{}", file.display());
    let mut slow = server.connect();
    slow.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let (head, first) = read_head_then(&mut slow, 4096);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    // While it does not read, others are served.
    let until = Instant::now() + Duration::from_secs(3);
    let mut served = 0;
    while Instant::now() < until {
        let r = server.get("/");
        assert_eq!(r.status, 200);
        served += 1;
    }
    assert!(served > 0);

    let mut body = first;
    slow.set_read_timeout(Some(WAIT)).unwrap();
    slow.read_to_end(&mut body).expect("the rest of the body");
    check_big_body(&body);
    let _ = std::fs::remove_dir_all(&dir);
}

under_both_workers!(check_slow_reader: sync_slow_reader, gthread_slow_reader);

/// The same with the body from the app's iterator: while the client does
/// not read, the app is not asked for more (the loop pulls a block only when
/// the socket took the last), and the client then gets every byte.
fn check_slow_reader_iterator(extra: &[&str]) {
    let server = start(extra, &["--response-buffer-size", "65536"]);
    let mut slow = server.connect();
    slow.write_all(
        format!("GET /big?{BIG} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let (head, first) = read_head_then(&mut slow, 4096);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Socket buffers on both sides take some MiB at most; the app, paused
    // by the response buffer, produced far less than the whole body.
    let produced = || {
        server
            .log_lines()
            .iter()
            .filter_map(|l| l.strip_prefix("produced "))
            .filter_map(|n| n.trim().parse::<usize>().ok())
            .max()
            .unwrap_or(0)
    };
    // Let the pipeline fill (bounded) until production stops growing.
    let mut last = usize::MAX;
    let settled = wait_until(WAIT, || {
        thread::sleep(Duration::from_millis(500));
        let now = produced();
        let same = now == last;
        last = now;
        same.then_some(now)
    });
    let stalled_at = settled.expect("the app stops producing while the client does not read");
    assert!(
        stalled_at * CHUNK < BIG / 2,
        "the app produced {stalled_at} chunks for a client that does not read"
    );
    let mut body = first;
    slow.set_read_timeout(Some(WAIT)).unwrap();
    slow.read_to_end(&mut body).expect("the rest of the body");
    check_big_body(&body);
}

under_both_workers!(check_slow_reader_iterator: sync_slow_reader_iterator, gthread_slow_reader_iterator);

// ---------------------------------------------------------------------------
// 3. uploads over --body-buffer-size

fn post_digest(server: &Server, body: &[u8], chunked: bool) -> (u64, String, usize) {
    let mut s = server.connect();
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {}", body.len())
    };
    let head =
        format!("POST /digest HTTP/1.1\r\nHost: x\r\n{framing}\r\nConnection: close\r\n\r\n");
    s.write_all(head.as_bytes()).unwrap();
    if chunked {
        // Irregular chunk sizes, so chunks and reads never line up.
        let mut rest = body;
        let mut size = 1000;
        while !rest.is_empty() {
            let n = size.min(rest.len());
            s.write_all(format!("{n:x}\r\n").as_bytes()).unwrap();
            s.write_all(&rest[..n]).unwrap();
            s.write_all(b"\r\n").unwrap();
            rest = &rest[n..];
            size = size * 7 % 70001 + 1;
        }
        s.write_all(b"0\r\n\r\n").unwrap();
    } else {
        s.write_all(body).unwrap();
    }
    let r = read_response(&mut s).expect("digest response");
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let mut parts = text.split(' ');
    let len = parts.next().and_then(|n| n.parse().ok()).expect("length");
    let sha = parts.next().expect("digest").to_string();
    let spooled = parts.next().and_then(|n| n.parse().ok()).expect("files");
    (len, sha, spooled)
}

fn check_large_uploads(extra: &[&str]) {
    let server = start(extra, &["--body-buffer-size", "65536"]);
    let small = common::noise(1000, 1);
    let (len, sha, in_memory) = post_digest(&server, &small, false);
    assert_eq!((len, sha), (1000, sha256_hex(&small)));

    let big = common::noise(5 * 1024 * 1024, 2);
    for chunked in [false, true] {
        let (len, sha, spooled) = post_digest(&server, &big, chunked);
        assert_eq!(
            (len, sha.as_str()),
            (big.len() as u64, sha256_hex(&big).as_str()),
            "chunked: {chunked}"
        );
        // The app saw one more nameless temporary file open: the spool.
        assert_eq!(spooled, in_memory + 1, "chunked: {chunked}");
    }
}

under_both_workers!(check_large_uploads: sync_large_uploads, gthread_large_uploads);

// ---------------------------------------------------------------------------
// 4. 413

fn check_body_too_large(extra: &[&str]) {
    const MAX: usize = 100_000;
    let server = start(extra, &["--max-body-size", &MAX.to_string()]);

    // Announced too large: 413 at once, no 100 Continue, a clean close.
    let mut s = server.connect();
    let head = format!(
        "POST /digest HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        MAX + 1
    );
    s.write_all(head.as_bytes()).unwrap();
    let raw = read_to_close(&mut s).expect("413, then a clean close");
    let text = String::from_utf8_lossy(&raw);
    assert!(
        starts_with_status(&raw, "HTTP/1.1 413 Request Entity Too Large"),
        "{text}"
    );
    assert!(!text.contains("100 Continue"), "{text}");
    assert!(text.contains("\r\nConnection: close\r\n"), "{text}");
    assert!(
        text.contains(&format!(
            "Request body is too large ({} &gt; {MAX} bytes)",
            MAX + 1
        )),
        "{text}"
    );

    // Announced too large, body sent anyway: still 413 and a clean close.
    let mut s = server.connect();
    let body = common::noise(MAX + 1, 3);
    let mut raw = format!(
        "POST /digest HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(&body);
    s.write_all(&raw).unwrap();
    let _ = s.shutdown(std::net::Shutdown::Write);
    answered_then_closed(&mut s, "HTTP/1.1 413 Request Entity Too Large");

    // A chunked body that grows past the limit.
    let mut s = server.connect();
    s.write_all(b"POST /digest HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    let piece = common::noise(30_000, 4);
    for _ in 0..4 {
        s.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
            .unwrap();
        s.write_all(&piece).unwrap();
        s.write_all(b"\r\n").unwrap();
    }
    let _ = s.shutdown(std::net::Shutdown::Write);
    answered_then_closed(&mut s, "HTTP/1.1 413 Request Entity Too Large");

    // Exactly at the limit, both ways: served.
    let body = common::noise(MAX, 5);
    for chunked in [false, true] {
        let (len, sha, _) = post_digest(&server, &body, chunked);
        assert_eq!((len, sha), (MAX as u64, sha256_hex(&body)), "{chunked}");
    }
}

under_both_workers!(check_body_too_large: sync_body_too_large, gthread_body_too_large);

// ---------------------------------------------------------------------------
// 5. 408

fn check_head_timeout(extra: &[&str]) {
    let server = start(extra, &["--header-timeout", "2", "--keep-alive", "4"]);

    // A head begun and never finished: 408, then a clean close.
    let mut s = server.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let raw = read_to_close(&mut s).expect("408, then a clean close");
    let text = String::from_utf8_lossy(&raw);
    assert!(
        starts_with_status(&raw, "HTTP/1.1 408 Request Timeout"),
        "{text}"
    );
    assert!(text.contains("\r\nConnection: close\r\n"), "{text}");
    assert!(
        text.contains("Request head not complete within 2 seconds"),
        "{text}"
    );

    // The same on a kept-alive connection, for its second head.
    let mut s = server.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s).expect("first answer").status, 200);
    s.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
    answered_then_closed(&mut s, "HTTP/1.1 408 Request Timeout");

    // A connection that sends nothing is closed without a word (after
    // --keep-alive here, the longer of the two).
    let mut s = server.connect();
    let raw = read_to_close(&mut s).expect("a clean close");
    assert!(raw.is_empty(), "{}", String::from_utf8_lossy(&raw));

    // The server is fine.
    assert_eq!(server.get("/").status, 200);
}

under_both_workers!(check_head_timeout: sync_head_timeout, gthread_head_timeout);

// ---------------------------------------------------------------------------
// --body-timeout

fn check_body_timeout(extra: &[&str]) {
    let server = start(extra, &["--body-timeout", "2"]);

    // A body that keeps moving is served, however long it takes in all.
    let mut s = server.connect();
    s.write_all(b"POST /digest HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n")
        .unwrap();
    for byte in b"trickled" {
        thread::sleep(Duration::from_millis(600));
        s.write_all(&[*byte]).unwrap();
    }
    let r = read_response(&mut s).expect("a slow but moving body is served");
    assert_eq!(r.status, 200);
    assert!(
        r.text()
            .starts_with(&format!("8 {}", sha256_hex(b"trickled"))),
        "{}",
        r.text()
    );

    // A body that stops: the connection is closed without an answer.
    let mut s = server.connect();
    s.write_all(b"POST /digest HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly this")
        .unwrap();
    let raw = read_to_close(&mut s).expect("closed");
    assert!(raw.is_empty(), "{}", String::from_utf8_lossy(&raw));
    assert_eq!(server.get("/").status, 200);
}

under_both_workers!(check_body_timeout: sync_body_timeout, gthread_body_timeout);

// ---------------------------------------------------------------------------
// Bad values

#[test]
fn bad_limit_values_are_refused_in_one_line() {
    for (flag, name) in [
        ("--max-body-size", "max_body_size"),
        ("--header-timeout", "header_timeout"),
        ("--body-timeout", "body_timeout"),
        ("--body-buffer-size", "body_buffer_size"),
        ("--response-buffer-size", "response_buffer_size"),
    ] {
        let mut server = Launch::new(&[flag, "-1", APP]).spawn();
        let status = server.wait_exit(WAIT).expect("exits");
        assert_eq!(status.code(), Some(1), "{flag}");
        let want = format!("Error: Invalid value for {name}: Value must be positive: -1");
        assert!(
            wait_until(WAIT, || (server.log_lines() == [want.clone()])
                .then_some(()))
            .is_some(),
            "{flag}: {:?}",
            server.log_lines()
        );
    }
}
