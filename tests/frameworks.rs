//! Real frameworks and real virtualenvs through the binary: Flask, Django,
//! Falcon and Bottle from the test venv (`.venv`, made by `.ci/run`), each
//! through the same set of routes (see `exercise`), and the interpreter/venv
//! resolution rules.

mod common;

use std::io::{Read, Write};
use std::process::Command;

use common::{Launch, Response, Server, WAIT, read_response, read_response_for, scratch};
use sha2::{Digest, Sha256};

/// Any odd seed gives bytes covering every value (CR, LF, `-` included).
const NOISE_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// `gunicorn-rs ARGS` with the test virtualenv (the frameworks) activated.
fn in_venv(args: &[&str]) -> Launch {
    Launch::new(args).env("VIRTUAL_ENV", common::test_venv().to_str().unwrap())
}

/// What distinguishes one framework's answers in [`exercise`].
struct Framework {
    /// Module whose `__file__` the app reports (must be in the venv).
    module: &'static str,
    /// Text of the framework's own 404 page.
    not_found: &'static str,
    /// Text of the framework's own 500 page.
    server_error: &'static str,
    /// A line the framework logs (to `wsgi.errors`) for the failing view.
    logged_failure: Option<&'static str>,
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn get_with_cookie(server: &Server, path: &str, cookie: &str) -> Response {
    server.request(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
}

/// A multipart/form-data body: a text field `note` then `file` holding `data`.
fn multipart(boundary: &str, data: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

/// The routes every framework app in tests/apps serves (flask_app,
/// django_app, falcon_app, bottle_app), checked against `server`.
fn exercise(server: &Server, fw: &Framework) {
    let venv = common::test_venv();
    let log = || server.log_text();

    // Path and query parameters, JSON out.
    let resp = server.get("/hello/w%C3%B6rld?q=4%202");
    assert_eq!(resp.status, 200, "{}", log());
    let json: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(
        (json["name"].as_str(), json["q"].as_str()),
        (Some("wörld"), Some("4 2")),
        "{json}"
    );
    let module_file = json["module_file"].as_str().unwrap();
    assert!(
        module_file.starts_with(venv.to_str().unwrap()) && module_file.contains(fw.module),
        "{} not from the venv: {json}",
        fw.module
    );

    // A urlencoded form.
    let form = format!("field=va%26lue&blob={}", "b".repeat(50_000));
    let resp = server.post(
        "/form",
        "application/x-www-form-urlencoded",
        form.as_bytes(),
    );
    assert_eq!((resp.status, resp.text()), (200, "va&lue=50000".into()));

    // A 10 MiB multipart upload, hashed by the app.
    let data = common::noise(10 << 20, NOISE_SEED);
    let boundary = "----grs-boundary-7d1f0a9c3b";
    let resp = server.post(
        "/upload",
        &format!("multipart/form-data; boundary={boundary}"),
        &multipart(boundary, &data),
    );
    assert_eq!(resp.status, 200, "{}", log());
    assert_eq!(resp.text(), format!("{} {}", sha256_hex(&data), data.len()));

    // The same the way curl sends a large body: head first, then the body
    // only once the server has said 100 Continue.
    let data = common::noise(1 << 20, NOISE_SEED);
    let body = multipart(boundary, &data);
    let mut s = server.connect();
    s.write_all(
        format!(
            "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(&body).unwrap();
    let resp = read_response(&mut s).unwrap();
    assert_eq!(
        (resp.status, resp.text()),
        (200, format!("{} {}", sha256_hex(&data), data.len()))
    );

    // JSON in and out.
    let resp = server.post("/json", "application/json", br#"{"numbers": [1, 2, 3]}"#);
    let json: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(json["doubled"], serde_json::json!([2, 4, 6]));

    // Cookies: what /cookie/set sets comes back from /cookie/get.
    assert_eq!(server.get("/cookie/get").text(), "none");
    let resp = server.get("/cookie/set?v=crumb42");
    assert_eq!(resp.status, 200, "{}", log());
    let cookies: Vec<&str> = resp
        .header_all("set-cookie")
        .into_iter()
        .map(|c| c.split(';').next().unwrap())
        .collect();
    assert!(!cookies.is_empty(), "{resp:?}");
    let resp = get_with_cookie(server, "/cookie/get", &cookies.join("; "));
    assert_eq!(resp.text(), "crumb42");

    // A streamed response: chunked on HTTP/1.1, the whole body.
    let resp = server.get("/stream");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
    assert_eq!(resp.header("content-length"), None);
    assert_eq!(resp.text(), "part0;part1;part2;part3;");
    // HTTP/1.0 has no chunked coding: the body runs to the close.
    let resp = server.request(b"GET /stream HTTP/1.0\r\nHost: localhost\r\n\r\n");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("transfer-encoding"), None);
    assert_eq!(resp.text(), "part0;part1;part2;part3;");

    // Each block goes out as it is produced: the app's second block waits
    // for a file the test creates only after reading the first.
    let gate = scratch(&format!("gate-{}", fw.module)).join("open");
    let mut s = server.connect();
    s.write_all(
        format!(
            "GET /gated?gate={} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            gate.display()
        )
        .as_bytes(),
    )
    .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("first;") {
        let n = s
            .read(&mut buf)
            .expect("first block within the read timeout");
        assert!(n > 0, "closed before the first block");
        seen.extend_from_slice(&buf[..n]);
    }
    std::fs::write(&gate, "").unwrap();
    s.read_to_end(&mut seen).unwrap();
    let text = String::from_utf8_lossy(&seen);
    assert!(
        text.contains("second;") && !text.contains("late;"),
        "{text}"
    );

    // A file response, through wsgi.file_wrapper, twice on one kept-alive
    // connection (the second must start exactly where the first ended).
    let expected = std::fs::read(common::apps_dir().join("data.bin")).unwrap();
    let mut s = server.connect();
    for _ in 0..2 {
        s.write_all(b"GET /file HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let resp = read_response(&mut s).unwrap();
        assert_eq!(resp.status, 200, "{}", log());
        assert!(resp.body == expected, "file body differs from data.bin");
        assert_eq!(resp.header("x-file-wrapper"), Some("yes"), "{resp:?}");
    }
    // HEAD of it: the length, and not one byte of the file.
    let mut s = server.connect();
    s.write_all(b"HEAD /file HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let resp = read_response_for(&mut s, "HEAD").unwrap();
    assert_eq!(resp.status, 200);
    let length = expected.len().to_string();
    assert_eq!(resp.header("content-length"), Some(length.as_str()));
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(
        rest.is_empty(),
        "{} bytes after a HEAD response",
        rest.len()
    );

    // The framework's own error pages; the server carries on.
    let resp = server.get("/missing");
    assert_eq!(resp.status, 404);
    assert!(resp.text().contains(fw.not_found), "{}", resp.text());
    // The 500 on a kept-alive connection, which then serves the next request.
    let mut s = server.connect();
    s.write_all(b"GET /fail HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let resp = read_response(&mut s).unwrap();
    assert_eq!(resp.status, 500, "{}", log());
    assert!(resp.text().contains(fw.server_error), "{}", resp.text());
    s.write_all(b"GET /hello/next HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let resp = read_response(&mut s).unwrap();
    assert_eq!(resp.status, 200, "{}", log());
    if let Some(line) = fw.logged_failure {
        assert!(
            server.wait_for(WAIT, |l| l.contains(line)).is_some(),
            "{line:?} not logged:\n{}",
            log()
        );
    }
    assert_eq!(server.get("/hello/again").status, 200);
}

#[test]
fn flask_app_from_the_virtualenv() {
    let server = in_venv(&["flask_app:app"]).start();
    exercise(
        &server,
        &Framework {
            module: "flask",
            not_found: "Not Found",
            server_error: "Internal Server Error",
            logged_failure: Some("RuntimeError: flask view failed"),
        },
    );
    // A chunked request body: Werkzeug reads it to the end the server marks
    // (wsgi.input_terminated). Django, Falcon and Bottle go by
    // CONTENT_LENGTH (or, Bottle, re-parse the chunked coding) and fail on
    // it under gunicorn 27 as well.
    let resp = server.request(
        b"POST /json HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n6\r\n{\"numb\r\n10\r\ners\": [1, 2, 3]}\r\n0\r\n\r\n",
    );
    assert_eq!(resp.status, 200, "{}", server.log_text());
    let json: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(json["doubled"], serde_json::json!([2, 4, 6]));
}

#[test]
fn django_app_from_the_virtualenv() {
    let venv = common::test_venv();
    let server = in_venv(&["-w", "2", "django_app"]).start();
    let raw = b"POST /items/?q=x HTTP/1.1\r\nHost: example.com\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    let resp = server.request(raw);
    assert_eq!(resp.status, 200, "{}", server.log_text());
    let json: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(json["method"], "POST");
    assert_eq!(json["path"], "/items/");
    assert_eq!(json["q"], "x");
    assert_eq!(json["body"], "hello");
    assert!(
        json["django_file"]
            .as_str()
            .unwrap()
            .starts_with(venv.to_str().unwrap())
    );
    // CommonMiddleware's APPEND_SLASH redirect.
    let resp = server.get("/items");
    assert_eq!(
        (resp.status, resp.header("location")),
        (301, Some("/items/"))
    );
    // DEBUG is off: Django's plain pages, and its error log stays quiet.
    exercise(
        &server,
        &Framework {
            module: "django",
            not_found: "<h1>Not Found</h1>",
            server_error: "<h1>Server Error (500)</h1>",
            logged_failure: None,
        },
    );
}

#[test]
fn falcon_app_from_the_virtualenv() {
    let server = in_venv(&["falcon_app:app"]).start();
    exercise(
        &server,
        &Framework {
            module: "falcon",
            not_found: r#""title": "404 Not Found""#,
            server_error: r#""title": "500 Internal Server Error""#,
            logged_failure: Some("RuntimeError: falcon view failed"),
        },
    );
}

#[test]
fn bottle_app_from_the_virtualenv() {
    let server = in_venv(&["bottle_app:app"]).start();
    exercise(
        &server,
        &Framework {
            module: "bottle",
            not_found: "Error: 404 Not Found",
            server_error: "Error: 500 Internal Server Error",
            logged_failure: Some("RuntimeError: bottle view failed"),
        },
    );
}

#[test]
fn a_virtualenv_of_another_python_is_refused_naming_both_versions() {
    let dir = scratch("venv-mismatch");
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::write(dir.join("bin/python"), "").unwrap();
    std::fs::write(
        dir.join("pyvenv.cfg"),
        "home = /usr/bin\nversion = 3.99.1\n",
    )
    .unwrap();
    let mut server = Launch::new(&["hello"])
        .env("VIRTUAL_ENV", dir.to_str().unwrap())
        .spawn();
    let status = server.wait_exit(WAIT).expect("exits");
    assert_eq!(status.code(), Some(1));
    // The interpreter starts before the configuration (a config file is
    // Python), so before the error log: gunicorn's "Error: " line on stderr.
    let log = server.log_text();
    let error: Vec<&str> = log.lines().filter(|l| l.starts_with("Error: ")).collect();
    assert_eq!(error.len(), 1, "{log}");
    assert!(
        error[0].contains("Python 3.99") && error[0].contains("built for Python 3."),
        "{log}"
    );
}

#[test]
fn a_binary_installed_in_a_venv_uses_it_with_nothing_activated() {
    let dir = scratch("venv-holding");
    let venv = dir.join("venv");
    let made = Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(made.success());
    let site = std::fs::read_dir(venv.join("lib"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("site-packages");
    std::fs::write(site.join("only_in_this_venv.py"), "MARK = b'venv marker'\n").unwrap();
    std::fs::write(
        dir.join("markapp.py"),
        "import sys, only_in_this_venv\n\
         def app(e, sr):\n    b = only_in_this_venv.MARK + b' ' + sys.prefix.encode()\n    sr('200 OK', [('Content-Length', str(len(b)))])\n    return [b]\n",
    )
    .unwrap();
    let installed = venv.join("bin/gunicorn-rs");
    std::fs::copy(common::BIN, &installed).unwrap();
    let mut cmd = Command::new(&installed);
    cmd.args(["-b", "127.0.0.1:0", "markapp:app"])
        .current_dir(&dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin");
    let server = Launch::command(cmd).start();
    let text = server.get("/").text();
    assert_eq!(text, format!("venv marker {}", venv.display()));
}
