//! StatsD metrics through the real binary, received by sockets the test
//! owns: gunicorn's names, wire format, prefix and dogstatsd tags.

mod common;

use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::{Launch, WAIT, scratch, wait_until};

/// Something that yields datagrams.
trait Receiver {
    fn recv_one(&self, buf: &mut [u8]) -> Option<usize>;
}

impl Receiver for UdpSocket {
    fn recv_one(&self, buf: &mut [u8]) -> Option<usize> {
        self.recv(buf).ok()
    }
}

impl Receiver for UnixDatagram {
    fn recv_one(&self, buf: &mut [u8]) -> Option<usize> {
        self.recv(buf).ok()
    }
}

/// Collect datagrams into `got` until `done(got)` or `WAIT` passes.
fn collect_until(sock: &dyn Receiver, got: &mut Vec<String>, done: impl Fn(&[String]) -> bool) {
    let deadline = Instant::now() + WAIT;
    let mut buf = [0u8; 2048];
    while !done(got) && Instant::now() < deadline {
        // The sockets have a short read timeout: this loop is bounded.
        if let Some(n) = sock.recv_one(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
}

fn count(got: &[String], line: &str) -> usize {
    got.iter().filter(|l| *l == line).count()
}

#[test]
fn udp_metrics_with_prefix_and_tags() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let host = sock.local_addr().unwrap().to_string();
    let tags = "env:test,svc:web";
    // No access log: gunicorn sends the request metrics anyway.
    let server = Launch::new(&[
        "--statsd-host",
        &host,
        "--statsd-prefix",
        "app...",
        "--dogstatsd-tags",
        tags,
        "--enable-backlog-metric",
        "-w",
        "2",
        "routes:app",
    ])
    .start();
    let mut got = Vec::new();
    let gauge = format!("app.gunicorn.workers:2|g|#{tags}");
    collect_until(&sock, &mut got, |g| g.contains(&gauge));
    assert!(got.contains(&gauge), "{got:?}\n{}", server.log_text());

    assert_eq!(server.get("/").status, 200);
    assert_eq!(server.get("/missing").status, 404);
    // A body on a 204: gunicorn warns (gunicorn.log.warning).
    assert_eq!(server.get("/status?code=204").status, 204);
    // An exception in the app: a 500 and gunicorn.log.exception.
    assert_eq!(server.get("/error").status, 500);

    let c = |name: &str| format!("app.gunicorn.{name}:1|c|@1.0|#{tags}");
    collect_until(&sock, &mut got, |g| {
        count(g, &c("requests")) == 4
            && g.contains(&c("log.exception"))
            && [200, 404, 204, 500]
                .iter()
                .all(|code| g.contains(&c(&format!("request.status.{code}"))))
    });
    assert_eq!(count(&got, &c("requests")), 4, "{got:?}");
    for status in [200, 404, 204, 500] {
        assert_eq!(
            count(&got, &c(&format!("request.status.{status}"))),
            1,
            "{status}: {got:?}"
        );
    }
    assert!(got.contains(&c("log.warning")), "{got:?}");
    assert_eq!(count(&got, &c("log.exception")), 1, "{got:?}");
    // log.exception is not also counted as log.error, as in gunicorn.
    assert_eq!(count(&got, &c("log.error")), 0, "{got:?}");

    let durations: Vec<f64> = got
        .iter()
        .filter_map(|l| l.strip_prefix("app.gunicorn.request.duration:"))
        .map(|rest| {
            let value = rest
                .strip_suffix(&format!("|ms|#{tags}"))
                .unwrap_or_else(|| panic!("duration line {rest}"));
            assert!(value.contains('.'), "a Python float: {value}");
            value.parse().unwrap()
        })
        .collect();
    assert_eq!(durations.len(), 4, "{got:?}");
    // The master reports the listen backlog as a histogram on each pass.
    let is_backlog = |l: &String| {
        l.strip_prefix("app.gunicorn.backlog:")
            .and_then(|r| r.strip_suffix(&format!("|h|#{tags}")))
            .is_some_and(|n| n.parse::<u32>().is_ok())
    };
    collect_until(&sock, &mut got, |g| g.iter().any(is_backlog));
    assert!(got.iter().any(is_backlog), "{got:?}");
    assert!(durations.iter().all(|d| *d >= 0.0));
}

#[test]
fn unix_datagram_socket_and_hidden_warnings_are_counted() {
    let dir = scratch("statsd-unix");
    let path = dir.join("statsd.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let host = format!("unix:{}", path.display());
    // --log-level error hides the listening line: serve on a unix socket
    // the test names.
    let listen = dir.join("http.sock");
    let bind = format!("unix:{}", listen.display());
    let server = Launch::new(&[
        "--statsd-host",
        &host,
        "--log-level",
        "error",
        "-b",
        &bind,
        "routes:app",
    ])
    .no_bind()
    .spawn();
    let mut got = Vec::new();
    collect_until(&sock, &mut got, |g| {
        g.iter().any(|l| l == "gunicorn.workers:1|g")
    });
    assert!(
        got.iter().any(|l| l == "gunicorn.workers:1|g"),
        "{got:?}\n{}",
        server.log_text()
    );
    let answer = common::wait_until(WAIT, || {
        common::handover::unix_get(&listen, "/status?code=204").ok()
    });
    assert_eq!(
        answer.map(|(status, _)| status),
        Some(204),
        "{}",
        server.log_text()
    );
    collect_until(&sock, &mut got, |g| {
        g.iter().any(|l| l == "gunicorn.log.warning:1|c|@1.0")
            && g.iter()
                .any(|l| l == "gunicorn.request.status.204:1|c|@1.0")
    });
    assert_eq!(count(&got, "gunicorn.requests:1|c|@1.0"), 1, "{got:?}");
    assert_eq!(
        count(&got, "gunicorn.request.status.204:1|c|@1.0"),
        1,
        "{got:?}"
    );
    // The warning is counted, though the error log does not show it.
    assert_eq!(count(&got, "gunicorn.log.warning:1|c|@1.0"), 1, "{got:?}");
    assert!(
        !server.log_text().contains("WARNING"),
        "{}",
        server.log_text()
    );
}

#[test]
fn a_bad_statsd_address_is_refused() {
    let mut server = Launch::new(&["--statsd-host", "host:port", "routes:app"]).spawn();
    let status = server.wait_exit(WAIT).expect("exits");
    assert_eq!(status.code(), Some(1));
    assert!(
        server
            .wait_for(WAIT, |l| l
                .contains("Value must be one of ('host:port', 'unix://PATH')"))
            .is_some(),
        "{}",
        server.log_text()
    );
}

#[test]
fn hook_log_calls_are_counted_as_gunicorns_statsd_logger_counts_them() {
    // With StatsD on, `server.log` is gunicorn's Statsd logger: each
    // method counts under its own name, `exception` as exception only.
    let dir = scratch("statsd-hook-log");
    let conf = dir.join("gunicorn.conf.py");
    std::fs::write(
        &conf,
        r#"
def when_ready(server):
    try:
        raise ValueError("caught")
    except ValueError:
        server.log.exception("from a hook")
    server.log.error("an error from a hook")
    server.log.critical("a critical from a hook")
    server.log.warning("done")
"#,
    )
    .unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let host = sock.local_addr().unwrap().to_string();
    let server = Launch::new(&[
        "-c",
        conf.to_str().unwrap(),
        "--statsd-host",
        &host,
        "routes:app",
    ])
    .start();
    let mut got = Vec::new();
    collect_until(&sock, &mut got, |g| {
        g.iter().any(|l| l == "gunicorn.log.warning:1|c|@1.0")
    });
    assert_eq!(count(&got, "gunicorn.log.exception:1|c|@1.0"), 1, "{got:?}");
    assert_eq!(count(&got, "gunicorn.log.error:1|c|@1.0"), 1, "{got:?}");
    assert_eq!(count(&got, "gunicorn.log.critical:1|c|@1.0"), 1, "{got:?}");
    // The log is read from the server's stderr by another thread: the
    // metrics may arrive before the lines do.
    let logged = wait_until(WAIT, || {
        let text = server.log_text();
        (text.contains("[ERROR] from a hook\nTraceback") && text.contains("ValueError: caught"))
            .then_some(())
    });
    assert!(logged.is_some(), "{}", server.log_text());
}
