//! `--log-syslog*`, `--capture-output` and `--access-log-json` through the
//! real binary: syslog messages received by a UDP socket the test owns.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::{Launch, WAIT, scratch, wait_until};

/// Datagrams received until `done(got)` or `WAIT` passes.
fn collect_until(sock: &UdpSocket, got: &mut Vec<String>, done: impl Fn(&[String]) -> bool) {
    let deadline = Instant::now() + WAIT;
    let mut buf = [0u8; 8192];
    while !done(got) && Instant::now() < deadline {
        // Short read timeout: the loop stays bounded.
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
}

fn listener() -> (UdpSocket, String) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let addr = format!("udp://{}", sock.local_addr().unwrap());
    (sock, addr)
}

#[test]
fn error_and_access_records_in_gunicorns_syslog_format() {
    let (sock, addr) = listener();
    // No --access-logfile: with syslog on, gunicorn still logs access lines there.
    let server = Launch::new(&[
        "--log-syslog",
        "--log-syslog-to",
        &addr,
        "--log-syslog-facility",
        "LOCAL3",
        "routes:app",
    ])
    .start();
    let worker = server.wait_workers(1, WAIT)[0];
    assert_eq!(server.get("/missing").status, 404);
    let mut got = Vec::new();
    collect_until(&sock, &mut got, |g| {
        g.iter().any(|l| l.contains(".access: ")) && g.iter().any(|l| l.contains("Booting worker"))
    });
    // local3 = 19: <19*8+6> for INFO. The prefix defaults to the app
    // name with ':' as '.'.
    let boot =
        format!("<158>gunicorn.routes.app.error: [{worker}] Booting worker with pid: {worker}\0");
    assert!(got.contains(&boot), "{got:?}");
    let listening = got
        .iter()
        .find(|l| l.contains("Listening at: "))
        .unwrap_or_else(|| panic!("{got:?}"));
    let master = server.pid();
    assert!(
        listening.starts_with(&format!(
            "<158>gunicorn.routes.app.error: [{master}] Listening at: http://127.0.0.1:"
        )),
        "{listening:?}"
    );
    let access = got.iter().find(|l| l.contains(".access: ")).unwrap();
    let prefix = format!("<158>gunicorn.routes.app.access: [{worker}] 127.0.0.1 - - [");
    assert!(access.starts_with(&prefix), "{access:?}");
    assert!(
        access.ends_with("\"GET /missing HTTP/1.1\" 404 19 \"-\" \"-\"\0"),
        "{access:?}"
    );
    // The error log itself is unchanged.
    assert!(
        server
            .log_text()
            .contains("[INFO] Booting worker with pid: ")
    );
}

#[test]
fn prefix_levels_and_access_redirect_disabled() {
    let (sock, addr) = listener();
    let server = Launch::new(&[
        "--log-syslog",
        "--log-syslog-to",
        &addr,
        "--log-syslog-prefix",
        "web",
        "--disable-redirect-access-to-syslog",
        "--access-logfile",
        "-",
        "routes:app",
    ])
    .start();
    assert_eq!(server.get("/error").status, 500);
    assert_eq!(server.get("/").status, 200);
    let mut got = Vec::new();
    collect_until(&sock, &mut got, |g| {
        g.iter().any(|l| l.contains("Error handling request"))
    });
    // user = 1: <11> for ERROR; the traceback travels in the same message.
    let error = got
        .iter()
        .find(|l| l.contains("Error handling request"))
        .unwrap_or_else(|| panic!("{got:?}"));
    assert!(error.starts_with("<11>gunicorn.web.error: ["), "{error:?}");
    assert!(
        error.contains("RuntimeError: boom from the app"),
        "{error:?}"
    );
    // The access lines go to stdout only.
    let on_stdout = wait_until(WAIT, || {
        let lines = server.stdout_lines();
        (lines.len() >= 2).then_some(lines)
    });
    assert!(on_stdout.is_some(), "{:?}", server.stdout_lines());
    // Syslog is written before the file, so anything sent is queued by
    // now: drain what is there.
    sock.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 8192];
    while let Ok(n) = sock.recv(&mut buf) {
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(!got.iter().any(|l| l.contains(".access: ")), "{got:?}");
}

#[test]
fn bad_syslog_settings_are_refused() {
    for (args, message) in [
        (
            vec!["--log-syslog", "--log-syslog-facility", "nope"],
            "Error: unknown facility name",
        ),
        (
            vec!["--log-syslog", "--log-syslog-to", "/dev/log"],
            "Error: invalid syslog address",
        ),
    ] {
        let mut all = args.clone();
        all.push("routes:app");
        let mut server = Launch::new(&all).spawn();
        let status = server.wait_exit(WAIT).expect("exits");
        assert_eq!(status.code(), Some(1), "{args:?}");
        // The reader thread may still be collecting the last lines.
        assert!(
            server.wait_for(WAIT, |l| l.contains(message)).is_some(),
            "{}",
            server.log_text()
        );
    }
    // Without --log-syslog, gunicorn does not look at them.
    let server = Launch::new(&["--log-syslog-facility", "nope", "routes:app"]).start();
    assert_eq!(server.get("/").status, 200);
}

#[test]
fn capture_output_sends_the_apps_prints_to_the_error_log() {
    let dir = scratch("capture");
    let path = dir.join("error.log");
    let server = Launch::new(&[
        "--capture-output",
        "--error-logfile",
        path.to_str().unwrap(),
        "logs_app:app",
    ])
    .start_with_log_file(&path);
    assert_eq!(server.get("/print").status, 200);
    let text = wait_until(WAIT, || {
        let text = std::fs::read_to_string(&path).ok()?;
        (text.contains("printed to stdout") && text.contains("written to stderr")).then_some(text)
    });
    assert!(text.is_some(), "{:?}", std::fs::read_to_string(&path));
    assert!(!server.log_text().contains("written to stderr"));
    assert!(
        server.stdout_lines().is_empty(),
        "{:?}",
        server.stdout_lines()
    );
}

#[test]
fn json_access_log_escapes_every_atom() {
    let fmt = r#"%(h)s %(r)s %(s)s %(B)s %({x-odd}i)s %(a)s %(D)s %(missing)s"#;
    let server = Launch::new(&[
        "--access-logfile",
        "-",
        "--access-log-json",
        "--access-logformat",
        fmt,
        "routes:app",
    ])
    .start();
    let resp = server.request(
        b"GET /a?q=%22 HTTP/1.1\r\nHost: x\r\nX-Odd: say \"hi\" \\ caf\xc3\xa9\r\nUser-Agent: ua\tx\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(resp.status, 404);
    let line = wait_until(WAIT, || server.stdout_lines().into_iter().next())
        .unwrap_or_else(|| panic!("no access line"));
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["h"], "127.0.0.1");
    assert_eq!(v["r"], "GET /a?q=%22 HTTP/1.1");
    assert_eq!(v["s"], 404);
    assert_eq!(v["B"], 13);
    // Header bytes are latin-1, as gunicorn reads them.
    assert_eq!(v["{x-odd}i"], "say \"hi\" \\ caf\u{c3}\u{a9}");
    assert_eq!(v["a"], "ua\tx");
    assert!(v["D"].is_u64(), "{line}");
    assert_eq!(v["missing"], "-");
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys.len(), 8, "{line}");
}

#[test]
fn a_tcp_collector_that_stops_reading_never_holds_up_requests() {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    // A collector that accepts, then reads nothing, with a tiny receive
    // buffer: the server's sends soon find the socket full.
    let collector = TcpListener::bind("127.0.0.1:0").unwrap();
    nix::sys::socket::setsockopt(&collector, nix::sys::socket::sockopt::RcvBuf, &4096).unwrap();
    let addr = format!("tcp://{}", collector.local_addr().unwrap());
    let server = Launch::new(&["--log-syslog", "--log-syslog-to", &addr, "routes:app"]).start();
    let (mut stream, _) = collector.accept().unwrap();
    server.wait_workers(1, WAIT);
    // Each request sends a 1 MB traceback to syslog; far more in all than
    // the kernel buffers, so a blocking send would hang the worker here.
    for i in 0..12 {
        let mut s = server.connect();
        s.write_all(
            b"GET /error-size?size=1000000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        let resp = common::read_response(&mut s);
        assert!(
            matches!(&resp, Ok(r) if r.status == 500),
            "request {i}: {:?}",
            resp.map(|r| r.status)
        );
    }
    assert_eq!(server.get("/").status, 200);
    // What did arrive is still whole messages: each ends in NUL and the
    // next starts with its <PRI>.
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let complete: Vec<&[u8]> = got.split(|b| *b == 0).collect();
    let complete = &complete[..complete.len() - 1];
    assert!(!complete.is_empty());
    for m in complete {
        assert!(
            m.starts_with(b"<"),
            "{:?}",
            String::from_utf8_lossy(&m[..m.len().min(80)])
        );
    }
}

#[test]
fn a_restarted_unix_syslog_daemon_gets_the_next_messages() {
    use std::os::unix::net::UnixDatagram;

    let dir = scratch("syslog-unix-restart");
    let path = dir.join("log.sock");
    let daemon = UnixDatagram::bind(&path).unwrap();
    daemon
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let addr = format!("unix://{}#dgram", path.display());
    let server = Launch::new(&["--log-syslog", "--log-syslog-to", &addr, "routes:app"]).start();
    let recv_until = |sock: &UnixDatagram, needle: &str| {
        let deadline = Instant::now() + WAIT;
        let mut buf = vec![0u8; 1 << 16];
        while Instant::now() < deadline {
            if let Ok(n) = sock.recv(&mut buf)
                && String::from_utf8_lossy(&buf[..n]).contains(needle)
            {
                return true;
            }
        }
        false
    };
    assert!(
        recv_until(&daemon, "Booting worker"),
        "{}",
        server.log_text()
    );
    // The daemon restarts: a new socket at the same path.
    drop(daemon);
    std::fs::remove_file(&path).unwrap();
    let restarted = UnixDatagram::bind(&path).unwrap();
    restarted
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert_eq!(server.get("/error").status, 500);
    assert!(
        recv_until(&restarted, "Error handling request GET /error"),
        "{}",
        server.log_text()
    );
}
