//! HTTP/1.x through the real binary: framing, keep-alive, pipelining,
//! limits and gunicorn's error responses.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{Launch, Server, closed_by_server, exchange_all, read_response, read_response_for};

fn routes() -> Server {
    Launch::new(&["routes:app"]).start()
}

#[test]
fn response_head_has_gunicorns_default_headers_in_order() {
    let server = Launch::new(&["hello"]).start();
    let resp = server.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(resp.version, "HTTP/1.1");
    assert_eq!((resp.status, resp.reason.as_str()), (200, "OK"));
    let names: Vec<&str> = resp.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "Server",
            "Date",
            "Connection",
            "Content-Type",
            "Content-Length"
        ],
        "{}",
        resp.raw_head
    );
    assert_eq!(resp.header("server"), Some("gunicorn-rs"));
    assert_eq!(resp.header("connection"), Some("keep-alive"));
    let date = resp.header("date").unwrap();
    assert!(date.ends_with(" GMT") && date.len() == 29, "{date}");
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let server = Launch::new(&["hello"]).start();
    let mut s = server.connect();
    for _ in 0..50 {
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let resp = read_response(&mut s).unwrap();
        assert_eq!(resp.body, b"Hello, World!");
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = routes();
    let mut s = server.connect();
    let mut batch = Vec::new();
    for i in 0..10 {
        batch.extend_from_slice(format!("GET /nope{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    batch.extend_from_slice(b"POST /input HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nab\ncde");
    batch.extend_from_slice(b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(&batch).unwrap();
    for i in 0..10 {
        let resp = read_response(&mut s).unwrap();
        assert_eq!(resp.text(), format!("not found: /nope{i}"));
    }
    assert_eq!(
        read_response(&mut s).unwrap().text(),
        "(b'ab\\n', b'cd', [b'e'], b'')"
    );
    let last = read_response(&mut s).unwrap();
    assert_eq!(last.text(), "not found: /last");
    assert_eq!(last.header("connection"), Some("close"));
    assert!(closed_by_server(&mut s));
}

#[test]
fn http_1_0_closes_unless_keep_alive_is_asked() {
    let server = Launch::new(&["hello"]).start();
    let out = exchange_all(server.port, b"GET / HTTP/1.0\r\n\r\n");
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.0 200 OK\r\n"), "{text}");
    assert!(text.contains("\r\nConnection: close\r\n"), "{text}");

    let mut s = server.connect();
    s.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let resp = read_response(&mut s).unwrap();
    assert_eq!(resp.header("connection"), Some("keep-alive"));
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s).unwrap().status, 200);
    assert!(closed_by_server(&mut s));
}

#[test]
fn connection_close_is_honoured() {
    let server = Launch::new(&["hello"]).start();
    let mut s = server.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(
        read_response(&mut s).unwrap().header("connection"),
        Some("close")
    );
    assert!(closed_by_server(&mut s));
}

#[test]
fn idle_keep_alive_connections_are_closed_after_keep_alive_seconds() {
    let server = Launch::new(&["--keep-alive", "1", "hello"]).start();
    let mut s = server.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    read_response(&mut s).unwrap();
    let started = std::time::Instant::now();
    assert!(closed_by_server(&mut s));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn streamed_responses_are_chunked_for_http_1_1_and_close_delimited_for_1_0() {
    let server = routes();
    let mut s = server.connect();
    s.write_all(b"GET /stream?n=3 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let resp = read_response(&mut s).unwrap();
    assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
    assert_eq!(resp.text(), "chunk0\nchunk1\nchunk2\n");
    // The connection stays usable after the last chunk.
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s).unwrap().text(), "root");

    let out = exchange_all(server.port, b"GET /stream?n=2 HTTP/1.0\r\n\r\n");
    let text = String::from_utf8_lossy(&out);
    assert!(!text.contains("Transfer-Encoding"), "{text}");
    assert!(
        text.contains("Connection: close") && text.ends_with("\r\n\r\nchunk0\nchunk1\n"),
        "{text}"
    );
}

#[test]
fn a_large_streamed_body_arrives_whole() {
    let server = routes();
    let size = 5 * 1024 * 1024 + 123;
    let resp = server.get(&format!("/big?size={size}"));
    assert_eq!(resp.body.len(), size);
    assert!(resp.body.iter().all(|&b| b == b'x'));
}

#[test]
fn head_and_bodiless_statuses_send_no_body() {
    let server = routes();
    let mut s = server.connect();
    s.write_all(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let resp = read_response_for(&mut s, "HEAD").unwrap();
    assert_eq!(resp.header("content-length"), Some("4"));
    // Nothing but the next response follows: no stray body bytes.
    s.write_all(b"GET /status?code=204 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let resp = read_response(&mut s).unwrap();
    assert_eq!(resp.status, 204);
    assert_eq!(resp.header("transfer-encoding"), None);
    s.write_all(b"GET /status?code=304 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s).unwrap().status, 304);
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s).unwrap().text(), "root");
}

#[test]
fn request_bodies_by_length_and_chunked() {
    let server = Launch::new(&["echo:app"]).start();
    let resp = server.request(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world",
    );
    assert!(
        resp.text().contains("\"body\": \"hello world\""),
        "{}",
        resp.text()
    );
    assert!(
        resp.text().contains("\"CONTENT_LENGTH\": \"11\""),
        "{}",
        resp.text()
    );

    let resp = server.request(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
    );
    assert!(
        resp.text().contains("\"body\": \"hello world\""),
        "{}",
        resp.text()
    );
    assert!(
        !resp.text().contains("X_TRAILER"),
        "trailers never reach the environ: {}",
        resp.text()
    );
}

#[test]
fn a_body_sent_in_small_pieces_is_reassembled() {
    let server = Launch::new(&["echo:app"]).start();
    let mut s = server.connect();
    let body = "x".repeat(3000);
    let req = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    for piece in req.as_bytes().chunks(700) {
        s.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let resp = read_response(&mut s).unwrap();
    assert!(resp.text().contains(&format!("\"body\": \"{body}\"")));
}

#[test]
fn expect_100_continue_is_answered_before_the_body() {
    let server = Launch::new(&["echo:app"]).start();
    let mut s = server.connect();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"data").unwrap();
    let resp = read_response(&mut s).unwrap();
    assert!(resp.text().contains("\"body\": \"data\""));
}

/// gunicorn's error response: status line, `Connection: close`, small HTML page.
fn assert_error(raw: &[u8], status: u16, reason: &str) {
    let server = Launch::new(&["hello"]).start();
    let mut s = server.connect();
    s.write_all(raw).unwrap();
    let resp = read_response(&mut s).unwrap_or_else(|e| panic!("{e}; log:\n{}", server.log_text()));
    assert_eq!(
        (resp.status, resp.reason.as_str()),
        (status, reason),
        "{}",
        resp.raw_head
    );
    assert_eq!(resp.header("connection"), Some("close"));
    assert_eq!(resp.header("content-type"), Some("text/html"));
    assert!(
        resp.text().contains(&format!("<title>{reason}</title>")),
        "{}",
        resp.text()
    );
    assert!(
        closed_by_server(&mut s),
        "connection must close after an error"
    );
    assert!(
        server
            .wait_for(common::WAIT, |l| l
                .contains("[WARNING] Invalid request from ip=127.0.0.1"))
            .is_some()
    );
}

#[test]
fn an_overlong_request_line_is_414() {
    let raw = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(5000));
    assert_error(raw.as_bytes(), 414, "URI Too Long");
}

#[test]
fn too_many_or_too_large_headers_are_431() {
    let mut raw = String::from("GET / HTTP/1.1\r\n");
    for i in 0..101 {
        raw.push_str(&format!("X-H{i}: v\r\n"));
    }
    raw.push_str("\r\n");
    assert_error(raw.as_bytes(), 431, "Request Header Fields Too Large");
    let raw = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "v".repeat(9000));
    assert_error(raw.as_bytes(), 431, "Request Header Fields Too Large");
}

#[test]
fn malformed_requests_are_400() {
    assert_error(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400, "Bad Request");
    assert_error(b"GET /\r\n\r\n", 400, "Bad Request");
    assert_error(
        b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        400,
        "Bad Request",
    );
    assert_error(
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
        "Bad Request",
    );
}

#[test]
fn nothing_after_a_framing_error_is_read_as_a_request() {
    let server = Launch::new(&["hello"]).start();
    let out = exchange_all(
        server.port,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
    assert_eq!(
        text.matches("HTTP/1.1").count(),
        1,
        "only one response: {text}"
    );
}

#[test]
fn a_peer_closing_mid_head_gets_no_response_and_the_worker_lives_on() {
    let server = Launch::new(&["hello"]).start();
    let out = exchange_all(server.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Half: ");
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    assert_eq!(server.get("/").status, 200);
}

#[test]
fn a_body_cut_short_by_eof_is_served_with_what_arrived_as_gunicorn_does() {
    // gunicorn 27 (and its corpus case 099) hands the app the bytes that came.
    let server = Launch::new(&["echo:app"]).start();
    let out = exchange_all(
        server.port,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial",
    );
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("HTTP/1.1 200 OK\r\n") && text.contains("\"body\": \"partial\""),
        "{text}"
    );
    // A chunked body cut after a chunk's data is a framing error (400).
    let out = exchange_all(
        server.port,
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc",
    );
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
}

#[test]
fn the_limit_flags_change_the_limits() {
    let server = Launch::new(&["--limit-request-line", "20", "hello"]).start();
    let mut s = server.connect();
    s.write_all(b"GET /a-bit-too-long-for-twenty HTTP/1.1\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s).unwrap().status, 414);
    let resp = server.request(b"GET /short HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(resp.status, 200);
}

#[test]
fn a_large_upload_arrives_intact_while_other_clients_are_served() {
    let server = routes();
    let body: Vec<u8> = (0..24 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let digest = {
        let out = std::process::Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut child = out;
        child.stdin.take().unwrap().write_all(&body).unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let port = server.port;
    let upload = std::thread::spawn(move || {
        let mut s = common::connect(port);
        let head = format!(
            "POST /digest HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&body).unwrap();
        read_response(&mut s).unwrap().text()
    });
    // Other clients keep getting answers while the upload streams in.
    for _ in 0..20 {
        assert_eq!(server.get("/").text(), "root");
    }
    assert_eq!(
        upload.join().unwrap(),
        format!("{} {digest}", 24 * 1024 * 1024)
    );
}

// The sync worker sends the small finished responses of one loop turn
// together, at its end. None of that may show to a client.

fn patterned(n: u32, size: usize) -> Vec<u8> {
    n.to_be_bytes().iter().copied().cycle().take(size).collect()
}

/// Both worker classes, for the checks that hold under each.
const BOTH_WORKERS: [&[&str]; 2] = [
    &["bodies:app"],
    &["-k", "gthread", "--threads", "2", "bodies:app"],
];

#[test]
fn batched_responses_reach_a_client_that_reads_late_whole_and_in_order() {
    for args in BOTH_WORKERS {
        batched_responses_reach_a_late_reader(args);
    }
}

fn batched_responses_reach_a_late_reader(args: &[&str]) {
    let server = Launch::new(args).start();
    let mut s = server.connect();
    // 2,000 pipelined requests whose responses (10 kB each, 20 MB in
    // all) fill the socket buffers while the client does not read: the
    // last ones are held for the end of a turn that cannot send them.
    let mut batch = Vec::new();
    for i in 0..2000 {
        batch.extend_from_slice(format!("GET /n/{i}/10000 HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    let writer = {
        let mut s = s.try_clone().unwrap();
        std::thread::spawn(move || s.write_all(&batch))
    };
    std::thread::sleep(Duration::from_millis(300));
    // The worker is not stuck on the client that does not read.
    assert_eq!(
        server.get("/n/7/10").body,
        patterned(7, 10),
        "another client was not served"
    );
    for i in 0..2000u32 {
        let resp = read_response(&mut s).unwrap_or_else(|e| panic!("response {i}: {e}"));
        assert_eq!(resp.status, 200);
        assert!(
            resp.body == patterned(i, 10000),
            "response {i} is not its own"
        );
    }
    writer.join().unwrap().unwrap();
    s.write_all(b"GET /n/1/4 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s).unwrap().body, patterned(1, 4));
}

#[test]
fn a_client_that_half_closes_after_its_request_still_gets_the_response() {
    for args in BOTH_WORKERS {
        let server = Launch::new(args).start();
        half_close_after_the_request(&server);
    }
}

fn half_close_after_the_request(server: &Server) {
    for _ in 0..20 {
        let mut s = server.connect();
        s.write_all(b"GET /n/3/100 HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let resp = read_response(&mut s).unwrap();
        assert_eq!(resp.body, patterned(3, 100));
        assert!(closed_by_server(&mut s));
    }
}

#[test]
fn the_first_part_of_a_content_length_body_is_not_held_for_the_rest() {
    let server = Launch::new(&["bodies:app"]).start();
    let mut s = server.connect();
    s.write_all(b"GET /halves/4 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // The second half comes 4 s later: the first must not wait for it.
    s.set_read_timeout(Some(Duration::from_millis(2500)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(&[b'a'; 1000]) {
        match s.read(&mut buf) {
            Ok(0) => panic!("closed after {} bytes", got.len()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!(
                "the first half was held back ({e}); got {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut rest = vec![0u8; 1000];
    s.read_exact(&mut rest).unwrap();
    assert_eq!(rest, [b'b'; 1000]);
}

/// A client connection whose receive buffer is a few kilobytes, made
/// before connecting so the window it offers is small from the start.
fn connect_with_small_window(port: u16) -> std::net::TcpStream {
    use nix::sys::socket::{self, SockaddrIn, sockopt};
    let fd = common::tcp_socket();
    socket::setsockopt(&fd, sockopt::RcvBuf, &4096).unwrap();
    socket::connect(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::new(127, 0, 0, 1, port),
    )
    .unwrap();
    let s = std::net::TcpStream::from(fd);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

#[test]
fn a_response_pipelined_behind_a_large_one_reaches_a_client_with_a_small_window() {
    let server = Launch::new(&["bodies:app"]).start();
    let mut s = connect_with_small_window(server.port);
    for round in 0..3u32 {
        // A 2 MB response fills the socket buffers; the 60 kB one behind
        // it is held for the end of a turn and must follow as the client
        // reads, with no further request to push it out.
        s.write_all(
            format!(
                "GET /n/9/2000000 HTTP/1.1\r\nHost: x\r\n\r\n\
                 GET /n/{round}/60000 HTTP/1.1\r\nHost: x\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let big = read_response(&mut s).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(big.body == patterned(9, 2_000_000), "round {round}");
        let resp = read_response(&mut s).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(resp.body == patterned(round, 60000), "round {round}");
    }
}

#[test]
fn large_body_items_arrive_whole_in_every_framing_under_both_workers() {
    let items = |count: u32, size: usize| -> Vec<u8> {
        (0..count).flat_map(|k| patterned(k, size)).collect()
    };
    for args in BOTH_WORKERS {
        let server = Launch::new(args).start();
        let worker = args[0];
        // One item, given as a one-element list.
        let resp = server.get("/n/5/1000000");
        assert!(resp.body == patterned(5, 1_000_000), "{worker}: list item");
        let mut s = server.connect();
        s.write_all(b"HEAD /n/5/1000000 HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let head = read_response_for(&mut s, "HEAD").unwrap();
        assert_eq!(head.header("content-length"), Some("1000000"), "{worker}");
        assert!(head.body.is_empty(), "{worker}: HEAD has no body");
        // Several, chunked; cut at a Content-Length; to the close for 1.0.
        let resp = server.get("/items/3/200000");
        assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
        assert!(resp.body == items(3, 200_000), "{worker}: chunked items");
        let resp = server.get("/items/3/200000/450000");
        assert!(resp.body == items(3, 200_000)[..450_000], "{worker}: cut");
        let out = exchange_all(server.port, b"GET /items/2/100000 HTTP/1.0\r\n\r\n");
        assert!(out.ends_with(&items(2, 100_000)), "{worker}: HTTP/1.0");
        // Between small items, from a list and from an iterator.
        let mut want = b"<".to_vec();
        want.extend(patterned(1, 100_000));
        want.push(b'>');
        for how in ["list", "iter"] {
            let resp = server.get(&format!("/mixed/{how}"));
            assert!(resp.body == want, "{worker}: mixed {how}");
        }
        // The connection is still good after all of it.
        s.write_all(b"GET /n/2/8 HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        assert_eq!(read_response(&mut s).unwrap().body, patterned(2, 8));
    }
}

#[test]
fn a_large_body_is_sent_from_the_applications_bytes_not_copied() {
    let server = Launch::new(&["bodies:app"]).start();
    let worker = server.wait_workers(1, Duration::from_secs(10))[0];
    let before = common::peak_rss_kib(worker);
    let size = 128 << 20;
    let mut s = server.connect();
    s.write_all(format!("GET /x/{size} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    let resp = read_response(&mut s).unwrap();
    assert_eq!(resp.body.len(), size);
    assert!(resp.body.iter().all(|&b| b == b'x'));
    // The app's object is all the memory the body takes: a copy would be
    // another 128 MiB.
    let grew = common::peak_rss_kib(worker) - before;
    assert!(
        grew < (128 + 48) << 10,
        "the worker grew by {grew} KiB for a {size}-byte body"
    );
}

#[test]
fn a_pipelined_slow_request_does_not_hold_back_the_response_before_it() {
    for args in BOTH_WORKERS {
        let server = Launch::new(args).start();
        let mut s = server.connect();
        s.write_all(
            b"GET /n/1/100 HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /sleep/3 HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .unwrap();
        // The second takes 3 s in the application; the first is done at once.
        s.set_read_timeout(Some(Duration::from_millis(1500)))
            .unwrap();
        let first = read_response(&mut s)
            .unwrap_or_else(|e| panic!("{args:?}: the first response waited for the second ({e})"));
        assert!(first.body == patterned(1, 100));
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        assert_eq!(read_response(&mut s).unwrap().body, b"slept");
    }
}
