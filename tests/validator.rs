//! Every test app in `tests/apps/` run once more wrapped in
//! `wsgiref.validate.validator` (through `tests/apps/validated.py`), so
//! PEP 3333 is checked on both sides: the environ, `wsgi.input`,
//! `wsgi.errors`, `start_response` and `write` the server hands the app,
//! and the app's use of them. Each route must answer as it does unwrapped,
//! and the log must hold no validator complaint.
//!
//! Not run under the validator:
//! - `broken.py`: fails at import by design.
//! - `fw_common.py`, `validated.py`: helpers for the apps, not apps.
//! - routes.py routes that break PEP 3333 (or the validator's stricter
//!   rules) on purpose to test the server's reaction: `/error`,
//!   `/error-mid-body` (app exceptions), `/bad-status`, `/bad-header-value`,
//!   `/bad-header-name`, `/not-bytes`, `/no-start-response`, `/twice`,
//!   `/second-call-invalid` (invalid start_response use), `/list-headers`
//!   (headers as lists, not tuples), `/hop-by-hop` (hop-by-hop headers are
//!   forbidden to apps), `/too-long`, `/too-short` (wrong Content-Length) and
//!   `/latin1-header` (all three also lack the Content-Type the validator
//!   demands), `/sleep` (only slow).

mod common;

use std::io::Write;

use common::{Launch, Response, Server, read_response_for};

/// The complaints a validator failure (or any app error) leaves in the log.
const COMPLAINTS: [&str; 5] = [
    "AssertionError",
    "Error handling request",
    "WSGIWarning",
    "Exception ignored",
    "Traceback",
];

fn validated(module: &str, attr: &str) -> Launch {
    Launch::new(&[&format!("validated:make({module:?}, {attr:?})")])
}

fn assert_clean(server: &Server) {
    let log = server.log_text();
    for needle in COMPLAINTS {
        assert!(!log.contains(needle), "{needle:?} in the log:\n{log}");
    }
}

fn head(server: &Server, path: &str) -> Response {
    let mut s = server.connect();
    s.write_all(
        format!("HEAD {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    read_response_for(&mut s, "HEAD").unwrap_or_else(|e| panic!("{e}; log:\n{}", server.log_text()))
}

fn ok(resp: Response, server: &Server) -> Response {
    assert_eq!(resp.status, 200, "{resp:?}\nlog:\n{}", server.log_text());
    resp
}

#[test]
fn the_validator_is_really_in_place() {
    // A route that breaks the validator's rules must be caught: otherwise
    // the clean logs below would prove nothing.
    let server = validated("routes", "app").start();
    assert_eq!(server.get("/list-headers").status, 500);
    assert!(
        server
            .wait_for(common::WAIT, |l| l.contains("AssertionError"))
            .is_some(),
        "{}",
        server.log_text()
    );
}

#[test]
fn hello_under_the_validator() {
    for (module, attr, body) in [
        ("hello", "application", "Hello, World!"),
        ("hello", "app", "Hello, World!"),
    ] {
        let server = validated(module, attr).start();
        assert_eq!(ok(server.get("/"), &server).text(), body);
        let resp = ok(head(&server, "/"), &server);
        assert_eq!(resp.header("content-length"), Some("13"));
        assert_eq!(
            ok(server.post("/", "text/plain", b"ignored"), &server).text(),
            body
        );
        assert_clean(&server);
    }
    let server = Launch::new(&["validated:make('hello', 'create_app')"]).start();
    // create_app is a factory, not an app: called with (environ, start_response)
    // it is a TypeError, which shows the wrapper really calls what it wraps.
    assert_eq!(server.get("/").status, 500);
}

#[test]
fn echo_under_the_validator() {
    let server = validated("echo", "app").start();
    let resp = ok(server.post("/p?q=1", "text/plain", b"some body"), &server);
    let json: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(json["body"], "some body");
    assert_eq!(json["QUERY_STRING"], "q=1");
    ok(server.get("/x"), &server);
    ok(head(&server, "/x"), &server);
    assert_clean(&server);
}

#[test]
fn corpus_echo_under_the_validator() {
    let server = validated("corpus_echo", "app").start();
    let resp = ok(
        server.post("/a%20b?c=d", "application/octet-stream", b"\x00\x01"),
        &server,
    );
    let json: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(json["body_hex"], "0001");
    ok(server.get("/"), &server);
    assert_clean(&server);
}

#[test]
fn threads_at_import_under_the_validator() {
    let server = validated("threads_at_import", "app").start();
    assert!(ok(server.get("/"), &server).text().starts_with("threads="));
    assert_clean(&server);
}

#[test]
fn routes_under_the_validator() {
    let server = validated("routes", "app").start();
    let data = std::fs::read(common::apps_dir().join("data.bin")).unwrap();
    let get = |path: &str| ok(server.get(path), &server);

    assert_eq!(get("/").text(), "root");
    get("/pid");
    assert_eq!(get("/stream?n=3").text(), "chunk0\nchunk1\nchunk2\n");
    assert_eq!(get("/big?size=200000").body.len(), 200_000);
    assert_eq!(get("/closing").text(), "abc");
    assert_eq!(get("/closed-count").text(), "1");
    assert_eq!(get("/write").text(), "written-returned");
    assert_eq!(get("/file").body, data);
    assert_eq!(get("/file?seek=10&len=20").body, &data[10..30]);
    assert_eq!(get("/file-counted").body, data);
    assert_eq!(get("/filelike").text(), "from a BytesIO");
    assert_eq!(get("/errors").text(), "logged");
    get("/file-reads");
    for code in ["204", "304"] {
        let resp = server.get(&format!("/status?code={code}"));
        assert_eq!(resp.status.to_string(), code, "{}", server.log_text());
    }
    let resp = server.get("/exc-info");
    assert_eq!((resp.status, resp.text()), (500, "replaced".to_owned()));
    assert_eq!(server.get("/nowhere").status, 404);

    let resp = ok(
        server.post("/input", "text/plain", b"line1\nab\nrest\n"),
        &server,
    );
    assert_eq!(
        resp.text(),
        "(b'line1\\n', b'ab', [b'\\n', b'rest\\n'], b'')"
    );
    let body = vec![b'z'; 300_000];
    let resp = ok(
        server.post("/digest", "application/octet-stream", &body),
        &server,
    );
    assert!(resp.text().starts_with("300000 "), "{}", resp.text());
    let resp = ok(
        server.post("/digest-stream", "application/octet-stream", &body),
        &server,
    );
    assert!(resp.text().starts_with("300000 "), "{}", resp.text());

    for path in ["/", "/stream", "/file", "/closing", "/write"] {
        let resp = ok(head(&server, path), &server);
        assert!(resp.body.is_empty());
    }
    // The errors stream and close() messages are expected output, the
    // validator's complaints are not.
    assert_clean(&server);
}

/// The routes every framework app serves (see tests/frameworks.rs), under
/// the validator: parameters, a form, JSON, a stream, a file through
/// `wsgi.file_wrapper` and its HEAD, and the framework's own 404.
fn framework_under_the_validator(module: &str, attr: &str) {
    let server = validated(module, attr)
        .env("VIRTUAL_ENV", common::test_venv().to_str().unwrap())
        .start();
    let resp = ok(server.get("/hello/w?q=1"), &server);
    let json: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(json["name"], "w", "{module}");
    let resp = ok(
        server.post(
            "/form",
            "application/x-www-form-urlencoded",
            b"field=v&blob=bbb",
        ),
        &server,
    );
    assert_eq!(resp.text(), "v=3", "{module}");
    let resp = ok(
        server.post("/json", "application/json", br#"{"numbers": [1]}"#),
        &server,
    );
    assert!(resp.text().contains('2'), "{module}: {}", resp.text());
    assert!(!ok(server.get("/stream"), &server).body.is_empty());
    let data = std::fs::read(common::apps_dir().join("data.bin")).unwrap();
    assert_eq!(ok(server.get("/file"), &server).body, data, "{module}");
    ok(head(&server, "/file"), &server);
    assert_eq!(server.get("/missing").status, 404, "{module}");
    assert_clean(&server);
}

#[test]
fn flask_app_under_the_validator() {
    framework_under_the_validator("flask_app", "app");
}

#[test]
fn django_app_under_the_validator() {
    framework_under_the_validator("django_app", "application");
    let server = validated("django_app", "application")
        .env("VIRTUAL_ENV", common::test_venv().to_str().unwrap())
        .start();
    let resp = ok(server.post("/items/?q=x", "text/plain", b"hello"), &server);
    let json: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(
        (json["q"].as_str(), json["body"].as_str()),
        (Some("x"), Some("hello"))
    );
    assert_eq!(server.get("/items").status, 301);
    assert_clean(&server);
}

#[test]
fn falcon_app_under_the_validator() {
    framework_under_the_validator("falcon_app", "app");
}

#[test]
fn bottle_app_under_the_validator() {
    framework_under_the_validator("bottle_app", "app");
}

#[test]
fn hints_sysinfo_and_sock_apps_under_the_validator() {
    let server = validated("hints", "app").start();
    let resp = ok(server.get("/"), &server);
    assert_eq!(resp.text(), "no-flag");
    assert_eq!(
        ok(server.get("/?bad"), &server).text(),
        "InvalidResponseHeader"
    );
    assert_clean(&server);
    let server = validated("sysinfo", "app").start();
    let resp = ok(server.get("/"), &server);
    assert!(resp.text().contains("\"executable\""), "{}", resp.text());
    assert!(ok(server.get("/spawn"), &server).text().starts_with('['));
    assert_clean(&server);
    let server = validated("sock", "app").start();
    let resp = ok(server.get("/?close"), &server);
    assert!(
        resp.text().contains("\"is_socket\": true"),
        "{}",
        resp.text()
    );
    assert_clean(&server);
}

#[test]
fn keep_alive_requests_under_the_validator() {
    // Two requests on one connection: each gets its own environ and input.
    let server = validated("routes", "app").start();
    let mut s = server.connect();
    s.write_all(
        b"POST /digest HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let first = ok(common::read_response(&mut s).unwrap(), &server);
    assert!(first.text().starts_with("3 ba7816bf"), "{}", first.text());
    assert_eq!(
        ok(common::read_response(&mut s).unwrap(), &server).text(),
        "root"
    );
    assert_clean(&server);
}
