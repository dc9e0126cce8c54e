//! Error and access logs through the real binary, in gunicorn's formats.

mod common;

use common::{Launch, WAIT, scratch, wait_until};

#[test]
fn default_access_log_line_matches_gunicorns_format() {
    let server = Launch::new(&["--access-logfile", "-", "hello"]).start();
    let resp = server.request(
        b"GET /path?q=1 HTTP/1.1\r\nHost: x\r\nReferer: http://ref/\r\nUser-Agent: agent/1.0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(resp.status, 200);
    let line = wait_until(WAIT, || {
        server
            .stdout_lines()
            .into_iter()
            .find(|l| l.contains("/path"))
    })
    .unwrap_or_else(|| panic!("no access line; stdout: {:?}", server.stdout_lines()));
    // 127.0.0.1 - - [22/Nov/2026:13:19:27 +0000] "GET /path?q=1 HTTP/1.1" 200 13 "http://ref/" "agent/1.0"
    let (prefix, rest) = line.split_once(" [").expect("time field");
    assert_eq!(prefix, "127.0.0.1 - -");
    let (time, rest) = rest.split_once("] ").expect("time end");
    assert_eq!(time.len(), 26, "{time}");
    assert_eq!(
        rest,
        "\"GET /path?q=1 HTTP/1.1\" 200 13 \"http://ref/\" \"agent/1.0\""
    );
}

#[test]
fn custom_access_log_format_with_header_and_environ_atoms() {
    let dir = scratch("access");
    let path = dir.join("access.log");
    let fmt = "%(m)s %(U)s %(q)s %(H)s %(s)s %(B)s %({x-req}i)s %({content-type}o)s %({REMOTE_ADDR}e)s %(p)s";
    let server = Launch::new(&[
        "--access-logfile",
        path.to_str().unwrap(),
        "--access-logformat",
        fmt,
        "hello",
    ])
    .start();
    server
        .request(b"GET /a%20b?z=9 HTTP/1.1\r\nHost: x\r\nX-Req: abc\r\nConnection: close\r\n\r\n");
    let text = wait_until(WAIT, || {
        std::fs::read_to_string(&path)
            .ok()
            .filter(|t| !t.is_empty())
    })
    .expect("access log");
    let worker = server.workers()[0];
    assert_eq!(
        text.trim(),
        format!("GET /a b z=9 HTTP/1.1 200 13 abc text/plain 127.0.0.1 <{worker}>")
    );
}

#[test]
fn log_level_filters_the_error_log() {
    // Nothing is logged at INFO, so there is no port to read from the log:
    // a unix socket the test names instead (a port picked beforehand could
    // be taken by a parallel test's server meanwhile).
    let sock = scratch("log-level").join("s.sock");
    let bind = format!("unix:{}", sock.display());
    let server = Launch::new(&["--log-level", "warning", "-b", &bind, "routes:app"])
        .no_bind()
        .spawn();
    let error = wait_until(WAIT, || common::handover::unix_get(&sock, "/error").ok());
    assert_eq!(
        error.map(|(status, _)| status),
        Some(500),
        "{}",
        server.log_text()
    );
    assert!(
        server
            .wait_for(WAIT, |l| l.contains("[ERROR] Error handling request"))
            .is_some()
    );
    assert!(
        !server.log_text().contains("[INFO]"),
        "{}",
        server.log_text()
    );

    let server = Launch::new(&["--log-level", "debug", "routes:app"]).start();
    server.get("/pid");
    assert!(
        server
            .wait_for(WAIT, |l| l.contains("[DEBUG] GET /pid"))
            .is_some(),
        "{}",
        server.log_text()
    );
}

#[test]
fn error_log_file() {
    let dir = scratch("errlog");
    let path = dir.join("error.log");
    let server = Launch::new(&["--error-logfile", path.to_str().unwrap(), "hello"])
        .start_with_log_file(&path);
    assert_eq!(server.get("/").status, 200);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("[INFO] Booting worker with pid: "), "{text}");
    assert!(
        server.log_text().is_empty(),
        "nothing on stderr: {}",
        server.log_text()
    );
}

#[test]
fn path_atom_is_path_info_without_script_name() {
    let server = Launch::new(&[
        "--access-logfile",
        "-",
        "--access-logformat",
        "%(U)s|%({script_name}e)s",
        "hello",
    ])
    .env("SCRIPT_NAME", "/app")
    .start();
    assert_eq!(server.get("/app/caf%E9").status, 200);
    let line = wait_until(WAIT, || server.stdout_lines().into_iter().next()).expect("access line");
    assert_eq!(line, "/caf\u{e9}|/app");
}
