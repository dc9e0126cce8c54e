//! PEP 3333 basics through the real binary: the environ, start_response,
//! write(), close(), the file wrapper, and app errors.

mod common;

use std::io::Write;

use common::{Launch, Server, WAIT, closed_by_server, read_response};

fn routes() -> Server {
    Launch::new(&["routes:app"]).start()
}

/// The environ `echo.py` saw (its str, bool, int and tuple values).
fn environ(server: &Server, raw: &[u8]) -> serde_json::Value {
    let resp = server.request(raw);
    assert_eq!(resp.status, 200, "{}", resp.text());
    serde_json::from_slice(&resp.body).expect("echo.py answers JSON")
}

#[test]
fn environ_has_every_required_key() {
    let server = Launch::new(&["echo:app"]).start();
    let env = environ(
        &server,
        b"POST /a%20b/c?x=1&y=%20 HTTP/1.1\r\nHost: example.com:8080\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nX-Custom-Thing: one\r\nX-Custom-Thing: two\r\nX-Same: a\r\nX-Same: a\r\nUser-Agent: tester\r\nConnection: close\r\n\r\nabc",
    );
    let port = server.port.to_string();
    let expect = [
        ("REQUEST_METHOD", "\"POST\""),
        ("SCRIPT_NAME", "\"\""),
        ("PATH_INFO", "\"/a b/c\""),
        ("QUERY_STRING", "\"x=1&y=%20\""),
        ("RAW_URI", "\"/a%20b/c?x=1&y=%20\""),
        ("SERVER_PROTOCOL", "\"HTTP/1.1\""),
        ("SERVER_NAME", "\"127.0.0.1\""),
        ("SERVER_PORT", &format!("\"{port}\"")),
        ("REMOTE_ADDR", "\"127.0.0.1\""),
        ("CONTENT_TYPE", "\"text/plain\""),
        ("CONTENT_LENGTH", "\"3\""),
        ("HTTP_HOST", "\"example.com:8080\""),
        ("HTTP_USER_AGENT", "\"tester\""),
        ("HTTP_X_CUSTOM_THING", "\"one,two\""),
        // Equal one-letter values are one object in Python: still joined.
        ("HTTP_X_SAME", "\"a,a\""),
        (
            "SERVER_SOFTWARE",
            &format!("\"gunicorn-rs/{}\"", env!("CARGO_PKG_VERSION")),
        ),
        ("wsgi.version", "[1,0]"),
        ("wsgi.url_scheme", "\"http\""),
        ("wsgi.multithread", "false"),
        ("wsgi.multiprocess", "false"),
        ("wsgi.run_once", "false"),
        ("wsgi.input_terminated", "true"),
        ("body", "\"abc\""),
        ("has_errors_stream", "true"),
        ("file_wrapper_name", "\"FileWrapper\""),
    ];
    for (key, value) in expect {
        assert_eq!(
            env.get(key).map(|v| v.to_string()).as_deref(),
            Some(value),
            "{key} in {env:#}"
        );
    }
    let remote_port: u16 = env["REMOTE_PORT"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .expect("REMOTE_PORT is a port");
    assert!(remote_port > 0);
    assert!(env.get("HTTP_CONTENT_TYPE").is_none() && env.get("HTTP_CONTENT_LENGTH").is_none());
}

#[test]
fn multiprocess_is_true_with_several_workers_and_underscore_headers_are_dropped() {
    let server = Launch::new(&["-w", "2", "echo:app"]).start();
    let env = environ(
        &server,
        b"GET / HTTP/1.1\r\nHost: x\r\nX_Forged: 1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(env["wsgi.multiprocess"], true);
    assert!(env.get("HTTP_X_FORGED").is_none(), "{env:#}");
}

#[test]
fn wsgi_input_reads_lines_and_blocks() {
    let server = routes();
    let resp = server.request(b"POST /input HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\nConnection: close\r\n\r\nline1\nabline3\n");
    assert_eq!(resp.text(), "(b'line1\\n', b'ab', [b'line3\\n'], b'')");
}

#[test]
fn write_callable_output_comes_before_the_returned_body() {
    assert_eq!(routes().get("/write").text(), "written-returned");
}

/// start_response objects are reused between requests: one an application
/// kept must stay its old request's, whatever the worker serves next.
#[test]
fn kept_start_response_and_write_stay_with_their_request() {
    let server = routes();
    assert_eq!(server.get("/keep-callables").text(), "kept");
    for _ in 0..3 {
        assert_eq!(server.get("/").text(), "root");
        assert_eq!(server.get("/use-kept-write").text(), "fresh");
        assert_eq!(
            server.get("/use-kept-start-response").text(),
            "refused: Response headers already set!"
        );
        assert_eq!(server.get("/write").text(), "written-returned");
    }
}

#[test]
fn exc_info_may_replace_the_response_before_it_starts() {
    let resp = routes().get("/exc-info");
    assert_eq!((resp.status, resp.reason.as_str()), (500, "Oops"));
    assert_eq!(resp.text(), "replaced");
}

#[test]
fn close_is_called_on_the_iterable() {
    let server = routes();
    let resp = server.get("/closing");
    assert_eq!(resp.text(), "abc");
    assert!(
        server
            .wait_for(WAIT, |l| l.contains("iterable closed"))
            .is_some(),
        "{}",
        server.log_text()
    );
}

#[test]
fn hop_by_hop_and_server_headers_from_the_app_are_dropped() {
    let resp = routes().get("/hop-by-hop");
    assert_eq!(resp.header_all("server"), ["gunicorn-rs"]);
    assert_eq!(resp.header_all("date").len(), 1);
    assert_ne!(resp.header("date"), Some("yesterday"));
    assert_eq!(resp.header("keep-alive"), None);
    assert_eq!(resp.header("transfer-encoding"), None);
    assert_eq!(resp.header("x-kept"), Some("yes"));
    assert_eq!(resp.text(), "ok");
}

#[test]
fn body_beyond_content_length_is_cut_and_a_short_body_closes() {
    let server = routes();
    let mut s = server.connect();
    s.write_all(b"GET /too-long HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s).unwrap().text(), "abc");
    assert_eq!(
        read_response(&mut s).unwrap().text(),
        "root",
        "the cut bytes must not leak into the next response"
    );

    let mut s = server.connect();
    s.write_all(b"GET /too-short HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut head = [0u8; 512];
    let mut got = Vec::new();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    loop {
        match std::io::Read::read(&mut s, &mut head) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&head[..n]),
            Err(e) => panic!("server kept a connection with a short body open: {e}"),
        }
    }
    assert!(String::from_utf8_lossy(&got).ends_with("\r\n\r\nabc"));
}

#[test]
fn header_pairs_may_be_any_two_item_iterable() {
    let resp = routes().get("/list-headers");
    assert_eq!(
        (resp.status, resp.header("content-type")),
        (200, Some("text/plain"))
    );
}

#[test]
fn a_rejected_second_start_response_keeps_the_first() {
    let resp = routes().get("/second-call-invalid");
    assert_eq!(
        (resp.status, resp.text().as_str()),
        (200, "kept"),
        "{}",
        resp.raw_head
    );
}

#[test]
fn a_body_on_a_head_response_is_dropped_with_a_warning() {
    let server = routes();
    let mut s = server.connect();
    s.write_all(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    common::read_response_for(&mut s, "HEAD").unwrap();
    assert_eq!(read_response(&mut s).unwrap().text(), "root");
    assert!(
        server
            .wait_for(WAIT, |l| l.contains(
                "[WARNING] WSGI app sent body bytes on a no-body response (method=HEAD status=200)"
            ))
            .is_some(),
        "{}",
        server.log_text()
    );
}

#[test]
fn large_uploads_are_spooled_not_held_in_memory() {
    let server = routes();
    let worker = server.wait_workers(1, WAIT)[0];
    let size: usize = 128 * 1024 * 1024;
    let mut s = server.connect();
    s.write_all(
        format!("POST /digest-stream HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let block = vec![b'z'; 1 << 20];
    for _ in 0..size / block.len() {
        s.write_all(&block).unwrap();
    }
    let resp = read_response(&mut s).unwrap();
    assert!(
        resp.text().starts_with(&format!("{size} ")),
        "{}",
        resp.text()
    );
    let peak_kib = common::peak_rss_kib(worker);
    assert!(
        peak_kib < 96 * 1024,
        "worker peaked at {peak_kib} KiB for a {size}-byte upload"
    );
}

#[test]
fn latin1_header_values_go_out_as_latin1() {
    let resp = routes().get("/latin1-header");
    assert!(
        resp.raw_head.contains("X-Name: caf\u{fffd}")
            || resp.raw_head.as_bytes().windows(4).any(|w| w == b"caf\xe9")
    );
}

#[test]
fn an_app_exception_is_a_500_with_the_traceback_logged_and_the_worker_goes_on() {
    let server = routes();
    let pid_before = server.get("/pid").text();
    let resp = server.get("/error");
    assert_eq!(
        (resp.status, resp.reason.as_str()),
        (500, "Internal Server Error")
    );
    assert_eq!(resp.header("connection"), Some("close"));
    let line = server
        .wait_for(WAIT, |l| {
            l.contains("[ERROR] Error handling request GET /error")
        })
        .expect("logged");
    assert!(line.contains("Error handling request"));
    assert!(
        server
            .log_text()
            .contains("RuntimeError: boom from the app"),
        "{}",
        server.log_text()
    );
    assert_eq!(
        server.get("/pid").text(),
        pid_before,
        "same worker keeps serving"
    );
}

#[test]
fn invalid_status_or_headers_from_the_app_are_500_and_never_reach_the_wire() {
    let server = routes();
    for path in [
        "/bad-status",
        "/bad-header-value",
        "/bad-header-name",
        "/not-bytes",
        "/no-start-response",
        "/twice",
    ] {
        let resp = server.get(path);
        assert_eq!(resp.status, 500, "{path}: {}", resp.raw_head);
        assert!(
            !resp.raw_head.contains("Injected"),
            "{path}: {}",
            resp.raw_head
        );
        assert!(!resp.text().contains("never"), "{path}");
    }
    // The reader thread may not have collected the line yet: wait, bounded.
    assert!(
        server
            .wait_for(WAIT, |l| l.contains("must be bytes"))
            .is_some(),
        "{}",
        server.log_text()
    );
}

#[test]
fn an_error_after_the_head_was_sent_closes_the_connection() {
    let server = routes();
    let mut s = server.connect();
    s.write_all(b"GET /error-mid-body HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(
        read_response(&mut s).is_err(),
        "a chunked body cut short must not look complete"
    );
    assert!(closed_by_server(&mut s));
    assert!(
        server
            .wait_for(WAIT, |l| l.contains("iterable closed"))
            .is_some()
    );
    assert_eq!(server.get("/").text(), "root");
}

#[test]
fn file_wrapper_sends_files_whole_from_offsets_and_by_length() {
    let data = std::fs::read(common::apps_dir().join("data.bin")).unwrap();
    let server = routes();
    let resp = server.get("/file");
    assert_eq!(resp.body, data);
    assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
    let resp = server.get("/file?seek=1000");
    assert_eq!(resp.body, &data[1000..]);
    let resp = server.get("/file?seek=10&len=100");
    assert_eq!(resp.body, &data[10..110]);
    assert_eq!(resp.header("content-length"), Some("100"));
    assert_eq!(server.get("/filelike").text(), "from a BytesIO");

    // With sendfile off the same bytes go out by iteration.
    let server = Launch::new(&["--no-sendfile", "routes:app"]).start();
    assert_eq!(server.get("/file?seek=5").body, &data[5..]);
}

#[test]
fn real_files_go_out_with_sendfile_not_by_reading() {
    let data = std::fs::read(common::apps_dir().join("data.bin")).unwrap();
    let server = routes();
    assert_eq!(server.get("/file-counted").body, data);
    assert_eq!(
        server.get("/file-reads").text(),
        "0",
        "the worker read the file through Python"
    );
    let server = Launch::new(&["--no-sendfile", "routes:app"]).start();
    assert_eq!(server.get("/file-counted").body, data);
    assert_ne!(
        server.get("/file-reads").text(),
        "0",
        "--no-sendfile must iterate the wrapper"
    );
}

#[test]
fn wsgi_errors_writes_to_the_error_log() {
    let server = routes();
    assert_eq!(server.get("/errors").text(), "logged");
    assert!(
        server
            .wait_for(WAIT, |l| l.contains("message to wsgi.errors"))
            .is_some()
    );
}

#[test]
fn preloaded_apps_with_threads_fork_cleanly() {
    let server = Launch::new(&["--preload", "-w", "3", "threads_at_import:app"]).start();
    server.wait_workers(3, WAIT);
    for _ in 0..9 {
        let resp = server.get("/");
        assert_eq!(resp.status, 200, "{}", server.log_text());
        // Only the worker's own main thread: the master's threads are not copied.
        assert_eq!(resp.text(), "threads=1");
    }
}

#[test]
fn url_scheme_from_a_trusted_proxy_and_only_from_one() {
    let scheme = |server: &Server, headers: &str| -> (u16, serde_json::Value) {
        let raw = format!("GET / HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n");
        let resp = server.request(raw.as_bytes());
        let env: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or_default();
        (resp.status, env["wsgi.url_scheme"].clone())
    };
    // 127.0.0.1 is trusted by default (forwarded_allow_ips 127.0.0.1,::1).
    let server = Launch::new(&["echo:app"]).start();
    assert_eq!(scheme(&server, ""), (200, "http".into()));
    assert_eq!(
        scheme(&server, "X-Forwarded-Proto: https\r\n"),
        (200, "https".into())
    );
    assert_eq!(
        scheme(&server, "X-Forwarded-Ssl: on\r\n"),
        (200, "https".into())
    );
    assert_eq!(
        scheme(
            &server,
            "X-Forwarded-Proto: https\r\nX-Forwarded-Ssl: off\r\n"
        )
        .0,
        400,
        "contradictory"
    );
    let mounted =
        b"GET /mount/x HTTP/1.1\r\nHost: x\r\nSCRIPT_NAME: /mount\r\nConnection: close\r\n\r\n";
    let env = environ(&server, mounted);
    assert_eq!(
        (&env["SCRIPT_NAME"], &env["PATH_INFO"]),
        (&"/mount".into(), &"/x".into()),
        "trusted forwarder header"
    );

    // Not in the list: proxy headers are ignored, underscore headers dropped.
    for server in [
        Launch::new(&["--forwarded-allow-ips", "10.0.0.0/8", "echo:app"]).start(),
        Launch::new(&["echo:app"])
            .env("FORWARDED_ALLOW_IPS", "192.168.1.1")
            .start(),
    ] {
        assert_eq!(
            scheme(&server, "X-Forwarded-Proto: https\r\n"),
            (200, "http".into())
        );
        let env = environ(&server, mounted);
        assert_eq!(
            (&env["SCRIPT_NAME"], &env["PATH_INFO"]),
            (&"".into(), &"/mount/x".into())
        );
    }
}

/// Read one response head (1xx included) byte by byte.
fn raw_head(s: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "closed mid-head: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[test]
fn early_hints_leave_before_the_application_returns() {
    let server = Launch::new(&["hints:app"]).start();
    let flag = common::scratch("early-hints").join("go");
    let mut s = server.connect();
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "GET /?{} HTTP/1.1\r\nHost: x\r\n\r\n",
        flag.to_str().unwrap()
    )
    .unwrap();
    assert_eq!(
        raw_head(&mut s),
        "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n"
    );
    assert_eq!(
        raw_head(&mut s),
        "HTTP/1.1 103 Early Hints\r\nLink: </app.js>; rel=preload; as=script\r\n\r\n"
    );
    std::fs::write(&flag, b"").unwrap();
    let resp = read_response(&mut s).unwrap();
    assert_eq!((resp.status, resp.text().as_str()), (200, "flag-seen"));
    // A hint after the response started was ignored: the next response on
    // the connection comes right after.
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert!(raw_head(&mut s).starts_with("HTTP/1.1 103"));
    assert!(raw_head(&mut s).starts_with("HTTP/1.1 103"));
    let resp = read_response(&mut s).unwrap();
    assert_eq!((resp.status, resp.text().as_str()), (200, "no-flag"));
    assert!(closed_by_server(&mut s));
}

#[test]
fn early_hints_are_not_sent_to_http_1_0_and_are_validated() {
    let server = Launch::new(&["hints:app"]).start();
    let mut s = server.connect();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let head = raw_head(&mut s);
    assert!(head.starts_with("HTTP/1.0 200 OK\r\n"), "{head}");
    // A refused hint raises in the app and sends nothing: 200 comes first.
    let mut s = server.connect();
    s.write_all(b"GET /?bad HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let head = raw_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    let mut body = String::new();
    std::io::Read::read_to_string(&mut s, &mut body).unwrap();
    assert_eq!(body, "InvalidResponseHeader");
}

#[test]
fn gunicorn_socket_is_the_connection_and_closing_it_is_harmless() {
    let server = Launch::new(&["sock:app"]).start();
    let mut s = server.connect();
    let mine = s.local_addr().unwrap();
    for query in ["close", "", "close"] {
        write!(s, "GET /?{query} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let resp = read_response(&mut s).unwrap();
        assert_eq!(resp.status, 200, "{}", server.log_text());
        let info: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
        assert_eq!(info["is_socket"], true);
        assert_eq!(
            info["peer"],
            serde_json::json!([mine.ip().to_string(), mine.port()])
        );
        assert_eq!(info["local"][1], server.port);
        assert_eq!(info["remote_port"], mine.port().to_string());
        assert_eq!(info["kind"], info["kernel"]);
        assert_eq!(
            info["kind"],
            serde_json::json!([2, 1, 6]),
            "AF_INET, SOCK_STREAM, TCP"
        );
    }
}

#[test]
fn a_finished_connection_closes_its_gunicorn_socket_without_a_resource_warning() {
    // With ResourceWarnings shown (as under `python -X dev`), a socket object
    // left to the garbage collector would print `unclosed <socket.socket`.
    let server = Launch::new(&["routes:app"])
        .env("PYTHONWARNINGS", "always::ResourceWarning")
        .start();
    for close in [true, false] {
        for _ in 0..5 {
            let mut s = server.connect();
            let header = if close { "Connection: close\r\n" } else { "" };
            s.write_all(format!("GET / HTTP/1.1\r\nHost: x\r\n{header}\r\n").as_bytes())
                .unwrap();
            assert_eq!(read_response(&mut s).expect("answered").status, 200);
            // A kept-alive connection ends when the client closes it.
            drop(s);
        }
    }
    // The worker sees the hang-ups within its next turns: give a warning
    // a bounded while to show up (it would, before the fix).
    assert_eq!(server.get("/").status, 200);
    let warned = server.wait_for(std::time::Duration::from_secs(2), |line| {
        line.contains("unclosed <socket.socket")
    });
    assert!(warned.is_none(), "{}", server.log_text());
}

#[test]
fn gunicorn_socket_over_ipv6_has_the_connections_family() {
    let server = Launch::new(&["-b", "[::1]:0", "sock:app"])
        .no_bind()
        .start_v6();
    let mut s = std::net::TcpStream::connect(("::1", server.port)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let resp = read_response(&mut s).unwrap();
    let info: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(info["kind"], info["kernel"]);
    assert_eq!(
        info["kind"],
        serde_json::json!([10, 1, 6]),
        "AF_INET6, SOCK_STREAM, TCP"
    );
}
