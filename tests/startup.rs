//! Start-up through the real binary: command line, app loading as gunicorn
//! does it, start-up log lines, exit codes.

mod common;

use common::{Launch, WAIT, scratch};
use std::process::Command;

fn run_to_exit(launch: Launch) -> (i32, String) {
    let mut server = launch.spawn();
    let status = server
        .wait_exit(WAIT)
        .unwrap_or_else(|| panic!("did not exit; log:\n{}", server.log_text()));
    // Give the reader threads a moment to collect the last lines.
    std::thread::sleep(std::time::Duration::from_millis(100));
    (status.code().unwrap_or(-1), server.log_text())
}

#[test]
fn serves_the_default_application_variable() {
    let server = Launch::new(&["hello"]).start();
    let resp = server.get("/");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"Hello, World!");
}

#[test]
fn startup_log_lines_are_gunicorns() {
    let server = Launch::new(&["hello:app"]).start();
    server
        .wait_for(WAIT, |l| l.contains("Booting worker with pid: "))
        .expect("worker booted");
    let log = server.log_lines();
    let master = server.pid();
    let has = |needle: &str| log.iter().any(|l| l.contains(needle));
    assert!(has("[INFO] Starting gunicorn-rs "), "{log:#?}");
    assert!(
        has(&format!(
            "[{master}] [INFO] Listening at: http://127.0.0.1:{} ({master})",
            server.port
        )),
        "{log:#?}"
    );
    assert!(
        has(&format!("[{master}] [INFO] Using worker: sync")),
        "{log:#?}"
    );
    // `[2026-11-22 13:19:27 +0000] [pid] [LEVEL] message`
    let line = &log[0];
    let bytes = line.as_bytes();
    assert_eq!(bytes[0], b'[', "{line}");
    assert_eq!(&line[11..12], " ", "{line}");
    assert_eq!(&line[20..22], " +", "{line}");
    assert!(
        line[22..26].chars().all(|c| c.is_ascii_digit()) && &line[26..28] == "] ",
        "{line}"
    );
}

#[test]
fn factory_calls_with_literal_arguments() {
    let server = Launch::new(&["hello:create_app(\"Hi\", punctuation='?')"]).start();
    assert_eq!(server.get("/").text(), "Hi, World?");
    let server = Launch::new(&["hello:create_app()"]).start();
    assert_eq!(server.get("/").text(), "Hello, World!");
}

#[test]
fn a_bad_application_uri_halts_with_exit_4() {
    for (uri, message) in [
        ("hello:nope", "Failed to find attribute 'nope' in 'hello'."),
        ("hello:not_callable", "Application object must be callable."),
        (
            "hello:nothing",
            "Failed to find application object: 'nothing'",
        ),
        (
            "hello:create_app(x)",
            "Failed to parse arguments as literal values: 'create_app(x)'",
        ),
        (
            "hello:a.b",
            "Failed to parse 'a.b' as an attribute name or function call.",
        ),
        (
            "hello:create_app(1, 2, 3)",
            "create_app() takes from 0 to 2 positional arguments but 3 were given",
        ),
    ] {
        let (code, log) = run_to_exit(Launch::new(&[uri]));
        assert_eq!(code, 4, "{uri}: {log}");
        assert!(
            log.contains(message),
            "{uri}: expected {message:?} in:\n{log}"
        );
        assert!(log.contains("Reason: App failed to load."), "{log}");
        assert!(log.contains("exited with code 4."), "{log}");
    }
}

#[test]
fn an_import_error_halts_with_exit_3_and_the_traceback() {
    let (code, log) = run_to_exit(Launch::new(&["broken"]));
    assert_eq!(code, 3, "{log}");
    assert!(log.contains("[ERROR] Exception in worker process"), "{log}");
    assert!(
        log.contains(
            "ModuleNotFoundError: No module named 'a_module_that_does_not_exist_anywhere'"
        ),
        "{log}"
    );
    assert!(log.contains("Reason: Worker failed to boot."), "{log}");

    let (code, log) = run_to_exit(Launch::new(&["hello:broken_factory()"]));
    assert_eq!(code, 3, "{log}");
    assert!(
        log.contains("RuntimeError: the factory itself failed"),
        "{log}"
    );
}

#[test]
fn a_preload_failure_stops_the_master_before_forking() {
    let (code, log) = run_to_exit(Launch::new(&["--preload", "broken"]));
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("ModuleNotFoundError"), "{log}");
    assert!(!log.contains("Booting worker"), "{log}");
}

#[test]
fn no_application_is_gunicorns_message_and_exit_1() {
    let out = Command::new(common::BIN)
        .current_dir(common::apps_dir())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "Error: No application module specified."
    );
}

#[test]
fn version_and_help() {
    let out = Command::new(common::BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("gunicorn-rs (version {})", env!("CARGO_PKG_VERSION"))
    );
    let out = Command::new(common::BIN).arg("-h").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--workers",
        "--bind",
        "--timeout",
        "--preload",
        "--access-logformat",
        "--limit-request-field_size",
    ] {
        assert!(help.contains(flag), "help lacks {flag}:\n{help}");
    }
}

#[test]
fn unknown_and_unsupported_flags_are_refused_with_one_line() {
    let out = Command::new(common::BIN)
        .args(["--no-such-flag", "hello"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-such-flag"));

    let out = Command::new(common::BIN)
        .args(["--certfile", "c.pem", "hello"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("--certfile") && err.contains("not support"),
        "{err}"
    );

    let out = Command::new(common::BIN)
        .args(["-w", "zero", "hello"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn chdir_and_pythonpath_come_first_on_sys_path() {
    let dir = scratch("paths");
    let lib = dir.join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(lib.join("helper_mod.py"), "VALUE = b'from pythonpath'\n").unwrap();
    std::fs::write(
        dir.join("pathapp.py"),
        "import os, sys\nimport helper_mod\n\
         def app(e, sr):\n    b = helper_mod.VALUE + b' ' + os.getcwd().encode() + b' ' + sys.path[0].encode() + b' ' + sys.path[1].encode()\n    sr('200 OK', [('Content-Length', str(len(b)))])\n    return [b]\n",
    )
    .unwrap();
    // Started elsewhere: --chdir makes the module importable.
    let server = Launch::new(&[
        "--chdir",
        dir.to_str().unwrap(),
        "--pythonpath",
        "lib",
        "pathapp:app",
    ])
    .start();
    let text = server.get("/").text();
    let want = format!(
        "from pythonpath {d} {lib} {d}",
        d = dir.display(),
        lib = lib.display()
    );
    assert_eq!(text, want);
}

#[test]
fn the_working_directory_is_importable_without_chdir() {
    let dir = scratch("cwd");
    std::fs::write(
        dir.join("cwdapp.py"),
        "def app(e, sr):\n    sr('200 OK', [])\n    return [b'cwd']\n",
    )
    .unwrap();
    let server = Launch::new(&["cwdapp:app"]).cwd(&dir).start();
    assert_eq!(server.get("/").text(), "cwd");
}

#[test]
fn workers_flag_and_web_concurrency() {
    let server = Launch::new(&["-w", "3", "hello"]).start();
    server.wait_workers(3, WAIT);
    let server = Launch::new(&["hello"]).env("WEB_CONCURRENCY", "2").start();
    server.wait_workers(2, WAIT);
}

#[test]
fn port_env_sets_the_default_bind_and_bind_flag_wins() {
    let port = free_port();
    let server = Launch::new(&["hello"])
        .no_bind()
        .env("PORT", &port.to_string())
        .start();
    assert!(
        server
            .log_text()
            .contains(&format!("Listening at: http://0.0.0.0:{port}")),
        "{}",
        server.log_text()
    );
    assert_eq!(common::connect_get(port, "/").status, 200);
    drop(server);

    let server = Launch::new(&["hello"]).env("PORT", "1").start();
    assert!(
        server
            .log_text()
            .contains("Listening at: http://127.0.0.1:"),
        "{}",
        server.log_text()
    );
}

#[test]
fn several_binds_including_a_unix_socket() {
    let dir = scratch("binds");
    let sock = dir.join("app.sock");
    let server = Launch::new(&["-b", &format!("unix:{}", sock.display()), "hello"]).start();
    let log = server.log_text();
    assert!(
        log.contains(&format!(
            "Listening at: unix:{},http://127.0.0.1:{}",
            sock.display(),
            server.port
        )),
        "{log}"
    );
    let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    use std::io::{Read, Write};
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.0 200 OK\r\n"), "{out}");
    assert!(out.ends_with("Hello, World!"), "{out}");
}

#[test]
fn pidfile_is_written_and_removed() {
    let dir = scratch("pidfile");
    let pidfile = dir.join("app.pid");
    let mut server = Launch::new(&["-p", pidfile.to_str().unwrap(), "hello"]).start();
    let written = std::fs::read_to_string(&pidfile).unwrap();
    assert_eq!(written.trim(), server.pid().to_string());
    server.signal(common::Signal::SIGTERM);
    assert_eq!(server.wait_exit(WAIT).and_then(|s| s.code()), Some(0));
    assert!(!pidfile.exists());
}

#[test]
fn bind_failure_is_reported_and_exits_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (code, log) =
        run_to_exit(Launch::new(&["-b", &format!("127.0.0.1:{port}"), "hello"]).no_bind());
    assert_eq!(code, 1, "{log}");
    assert!(log.contains(&port.to_string()), "{log}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn an_inherited_listening_socket_via_fd_url() {
    // A parent (here Python) opens the socket and hands its descriptor over.
    let script = format!(
        "import os, socket\n\
         s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(16)\n\
         os.set_inheritable(s.fileno(), True)\n\
         os.execv({bin:?}, [{bin:?}, '-b', 'fd://%d' % s.fileno(), 'hello'])\n",
        bin = common::BIN
    );
    let mut cmd = Command::new("python3");
    cmd.args(["-c", &script]);
    let server = Launch::command(cmd).cwd(&common::apps_dir()).start();
    assert_eq!(server.get("/").text(), "Hello, World!");
}

#[test]
fn ipv6_loopback_bind() {
    // The machines this project runs on have IPv6 loopback; without it this
    // test fails rather than passing untested.
    assert!(
        std::net::TcpListener::bind("[::1]:0").is_ok(),
        "this machine has no IPv6 loopback"
    );
    let server = Launch::new(&["-b", "[::1]:0", "hello"])
        .no_bind()
        .start_v6();
    let mut s = std::net::TcpStream::connect(("::1", server.port)).unwrap();
    use std::io::Write;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let resp = common::read_response(&mut s).unwrap();
    assert_eq!(resp.body, b"Hello, World!");
}
