//! `--protocol uwsgi` spoken directly, packet by packet, under both
//! workers: what the app sees, how the response is framed, and the answers
//! to packets that are wrong or come from a peer not allowed.
//! (tests/nginx.rs has the same protocol from a real nginx `uwsgi_pass`.)

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{Launch, Server, WAIT, wait_until};

const WORKERS: [&str; 2] = ["sync", "gthread"];

fn packet(vars: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (k, v) in vars {
        for part in [k.as_bytes(), v.as_bytes()] {
            block.extend_from_slice(&u16::try_from(part.len()).unwrap().to_le_bytes());
            block.extend_from_slice(part);
        }
    }
    let mut out = vec![0];
    out.extend_from_slice(&u16::try_from(block.len()).unwrap().to_le_bytes());
    out.push(0);
    out.extend_from_slice(&block);
    out
}

fn uwsgi_server(worker: &str, extra: &[&str], app: &str) -> Server {
    let mut args = vec!["--protocol", "uwsgi", "-k", worker];
    args.extend_from_slice(extra);
    args.push(app);
    Launch::new(&args).start()
}

/// Send `raw`, then read everything up to the server's close: a uwsgi
/// response is delimited by the close.
fn exchange(server: &Server, raw: &[u8]) -> Vec<u8> {
    let mut s = server.connect();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .expect("the server closes after its response");
    out
}

fn split(response: &[u8]) -> (String, &[u8]) {
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    (
        String::from_utf8_lossy(&response[..end]).into_owned(),
        &response[end + 4..],
    )
}

const POST: &[(&str, &str)] = &[
    ("REQUEST_METHOD", "POST"),
    ("PATH_INFO", "/submit"),
    ("QUERY_STRING", "k=v"),
    ("CONTENT_TYPE", "text/plain"),
    ("CONTENT_LENGTH", "11"),
    ("HTTP_HOST", "example.org"),
    ("HTTP_X_TRACE_ID", "t-1"),
    ("REMOTE_ADDR", "198.51.100.4"),
    ("REMOTE_PORT", "40001"),
    ("SERVER_PROTOCOL", "HTTP/1.1"),
];

#[test]
fn a_packet_and_its_body_reach_the_app_and_the_connection_closes_after() {
    for worker in WORKERS {
        let server = uwsgi_server(worker, &["--access-logfile", "-"], "echo:app");
        let mut raw = packet(POST);
        raw.extend_from_slice(b"hello world");
        let out = exchange(&server, &raw);
        let (head, body) = split(&out);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains("\r\nConnection: close"), "{head}");
        let env: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(env["REQUEST_METHOD"], "POST");
        assert_eq!(env["PATH_INFO"], "/submit");
        assert_eq!(env["QUERY_STRING"], "k=v");
        assert_eq!(env["body"], "hello world");
        assert_eq!(env["CONTENT_TYPE"], "text/plain");
        assert_eq!(env["HTTP_X_TRACE_ID"], "t-1");
        assert_eq!(env["REMOTE_ADDR"], "198.51.100.4");
        assert_eq!(env["REMOTE_PORT"], "40001");
        assert_eq!(env["wsgi.url_scheme"], "http");
        assert_eq!(env["wsgi.multithread"], worker == "gthread");
        // The access log names the front end's client.
        let line = wait_until(WAIT, || {
            server
                .stdout_lines()
                .into_iter()
                .find(|l| l.contains("/submit"))
        })
        .expect("an access log line");
        assert!(line.starts_with("198.51.100.4 - - ["), "{worker}: {line}");
        assert!(line.contains("\"POST /submit?k=v HTTP/1.1\" 200"), "{line}");
    }
}

#[test]
fn a_packet_trickling_in_byte_by_byte_is_served() {
    let server = uwsgi_server("sync", &[], "echo:app");
    let raw = packet(&[("PATH_INFO", "/slow"), ("HTTP_HOST", "x")]);
    let mut s = server.connect();
    s.set_nodelay(true).unwrap();
    for b in &raw {
        s.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let (head, body) = split(&out);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let env: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(env["PATH_INFO"], "/slow");
    // No REMOTE_ADDR in the packet: the connection's own peer.
    assert_eq!(env["REMOTE_ADDR"], "127.0.0.1");
}

#[test]
fn refusals_name_the_problem_and_close() {
    for worker in WORKERS {
        let server = uwsgi_server(worker, &[], "routes:app");
        // HTTP on a uwsgi port: told at the first byte.
        let out = exchange(&server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let (head, body) = split(&out);
        assert!(head.starts_with("HTTP/1.1 501 Not Implemented"), "{head}");
        assert!(
            String::from_utf8_lossy(body).contains("Unsupported uWSGI modifier1: 71"),
            "{}",
            String::from_utf8_lossy(body)
        );
        // A header value that would inject a header.
        let out = exchange(&server, &packet(&[("HTTP_X", "a\r\nX-Admin: 1")]));
        let (head, body) = split(&out);
        assert!(head.starts_with("HTTP/1.1 400 Bad Request"), "{head}");
        assert!(
            String::from_utf8_lossy(body)
                .contains("Invalid uWSGI header: control character 0x0d in HTTP_X"),
            "{}",
            String::from_utf8_lossy(body)
        );
        // What HTTP refuses, uwsgi refuses: a request line over the limit.
        let long = "/".to_owned() + &"a".repeat(5000);
        let out = exchange(&server, &packet(&[("PATH_INFO", &long)]));
        assert!(
            split(&out).0.starts_with("HTTP/1.1 414"),
            "{}",
            split(&out).0
        );
        // The app's own failure.
        let out = exchange(&server, &packet(&[("PATH_INFO", "/error")]));
        assert!(
            split(&out).0.starts_with("HTTP/1.1 500"),
            "{}",
            split(&out).0
        );
        // The log is read from the server's stderr as it comes.
        for needle in ["Unsupported uWSGI modifier1: 71", "boom from the app"] {
            let seen = server.wait_for(WAIT, |l| l.contains(needle));
            assert!(seen.is_some(), "{needle}: {}", server.log_text());
        }
    }
}

#[test]
fn only_allowed_peers_may_send_packets() {
    let server = uwsgi_server("sync", &["--uwsgi-allow-from", "192.0.2.0/24"], "echo:app");
    let out = exchange(&server, &packet(&[("PATH_INFO", "/")]));
    let (head, body) = split(&out);
    assert!(head.starts_with("HTTP/1.1 403 Forbidden"), "{head}");
    assert!(String::from_utf8_lossy(body).contains("Request forbidden"));
    let seen = server.wait_for(WAIT, |l| {
        l.contains("uWSGI request from '127.0.0.1' not allowed")
    });
    assert!(seen.is_some(), "{}", server.log_text());
    let open = uwsgi_server("sync", &["--uwsgi-allow-from", "*"], "echo:app");
    let out = exchange(&open, &packet(&[("PATH_INFO", "/")]));
    assert!(split(&out).0.starts_with("HTTP/1.1 200"));
}
