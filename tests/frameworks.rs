//! Real frameworks and real virtualenvs through the binary: Flask and
//! Django from the test venv (`.venv`, made by `.ci/run`), and the
//! interpreter/venv resolution rules.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Launch, WAIT, scratch};

/// The test virtualenv with Flask and Django (created by `.ci/run`).
fn test_venv() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv");
    assert!(
        venv.join("bin/python").exists(),
        "{} is missing: run .ci/run (it installs tests/requirements.txt there)",
        venv.display()
    );
    venv
}

fn in_venv(args: &[&str]) -> Launch {
    Launch::new(args).env("VIRTUAL_ENV", test_venv().to_str().unwrap())
}

#[test]
fn flask_app_from_the_virtualenv() {
    let venv = test_venv();
    let server = in_venv(&["flask_app:app"]).start();
    let resp = server.get("/hello/world?q=42");
    assert_eq!(resp.status, 200, "{}", server.log_text());
    let json: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(
        (json["name"].as_str(), json["q"].as_str()),
        (Some("world"), Some("42"))
    );
    assert!(
        json["flask_file"]
            .as_str()
            .unwrap()
            .starts_with(venv.to_str().unwrap()),
        "flask not from the venv: {json}"
    );

    let blob = "b".repeat(50_000);
    let form = format!("field=value&blob={blob}");
    let raw = format!(
        "POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    assert_eq!(server.request(raw.as_bytes()).text(), "value=50000");

    let body = r#"{"numbers": [1, 2, 3]}"#;
    let raw = format!(
        "POST /json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let json: serde_json::Value =
        serde_json::from_slice(&server.request(raw.as_bytes()).body).unwrap();
    assert_eq!(json["doubled"], serde_json::json!([2, 4, 6]));

    let resp = server.get("/stream");
    assert_eq!(resp.text(), "part0;part1;part2;part3;");
    assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
    assert_eq!(server.get("/missing").status, 404);
    assert_eq!(server.get("/fail").status, 500, "Flask's own 500 page");
    assert!(
        server
            .log_text()
            .contains("RuntimeError: flask view failed"),
        "Flask logs its exception"
    );
}

#[test]
fn django_app_from_the_virtualenv() {
    let venv = test_venv();
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
    // CommonMiddleware's APPEND_SLASH redirect, and Django's own 404.
    let resp = server.get("/items");
    assert_eq!(
        (resp.status, resp.header("location")),
        (301, Some("/items/"))
    );
    assert_eq!(server.get("/nothing/").status, 404);
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
    let log = server.log_text();
    let error: Vec<&str> = log.lines().filter(|l| l.contains("[ERROR]")).collect();
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
