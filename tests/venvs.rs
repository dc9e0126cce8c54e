//! The interpreter and virtualenv the real binary runs, in every way it can
//! be launched: (a) an activated venv, (b) a venv named only by
//! `VIRTUAL_ENV`, (c) the binary copied into a venv's `bin/` and run by full
//! path with a cleared environment, (d) no venv (the base interpreter), also
//! with a cleared environment. `tests/apps/sysinfo.py` reports `sys.prefix`,
//! `sys.executable` and whether a module found only in the scratch venv
//! imports; a `multiprocessing` 'spawn' pool (which starts `sys.executable`)
//! must work in each case; and what the app prints to stdout without flushing
//! must reach the server's stdout by the time it exits after TERM.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{BIN, Launch, Server, Signal, WAIT, apps_dir, scratch, wait_until};

/// The base interpreter baked into the binary at build time.
const BASE_PYTHON: &str = env!("GUNICORN_RS_BASE_PYTHON");

/// A fresh venv of the base interpreter, holding `only_in_scratch_venv.py`.
fn make_venv(dir: &Path) -> PathBuf {
    let venv = dir.join("venv");
    let made = Command::new(BASE_PYTHON)
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(made.success(), "python -m venv failed");
    let lib = std::fs::read_dir(venv.join("lib"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(
        lib.join("site-packages/only_in_scratch_venv.py"),
        "MARK = 1\n",
    )
    .unwrap();
    venv
}

fn base_prefix() -> String {
    let out = Command::new(BASE_PYTHON)
        .args(["-c", "import sys; print(sys.prefix)"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// What the app must see.
struct Expect {
    prefix: String,
    executable: String,
    venv_only: bool,
}

fn expect_venv(venv: &Path) -> Expect {
    Expect {
        prefix: venv.to_str().unwrap().to_owned(),
        executable: venv.join("bin/python").to_str().unwrap().to_owned(),
        venv_only: true,
    }
}

fn expect_base() -> Expect {
    Expect {
        prefix: base_prefix(),
        executable: BASE_PYTHON.to_owned(),
        venv_only: false,
    }
}

fn json(server: &Server, path: &str) -> serde_json::Value {
    let resp = server.get(path);
    assert_eq!(resp.status, 200, "{path}: {}", server.log_text());
    serde_json::from_slice(&resp.body).unwrap()
}

/// Check /info and /spawn, then stop the server with TERM and check that the
/// app's unflushed prints reached stdout.
fn check(mut server: Server, want: Expect) {
    let info = json(&server, "/info");
    assert_eq!(info["prefix"], want.prefix.as_str(), "{info}");
    assert_eq!(info["executable"], want.executable.as_str(), "{info}");
    assert_eq!(info["base_prefix"], base_prefix().as_str(), "{info}");
    assert_eq!(info["venv_only"], want.venv_only, "{info}");

    // Python buffers a piped stdout, so the worker's print has not arrived
    // (or this test could not show that the exit flushes it). Were stdout
    // unbuffered, the line would arrive within milliseconds.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !server
            .stdout_lines()
            .iter()
            .any(|l| l.starts_with("sysinfo request")),
        "stdout is not buffered: {:?}",
        server.stdout_lines()
    );

    // multiprocessing flushes stdio before it starts a process.
    let spawned = json(&server, "/spawn");
    assert_eq!(
        spawned,
        serde_json::json!([[9, want.prefix, want.executable]]),
        "the spawned child runs the same interpreter and venv; log:\n{}",
        server.log_text()
    );

    // Printed after that flush: only the exit can flush it.
    json(&server, "/info");
    server.signal(Signal::SIGTERM);
    let status = server.wait_exit(WAIT).expect("server exits after TERM");
    assert!(status.success(), "{status:?}: {}", server.log_text());
    let printed = wait_until(WAIT, || {
        let lines = server.stdout_lines();
        lines
            .iter()
            .any(|l| l == "sysinfo request 3 /info")
            .then_some(lines)
    });
    let lines = printed.unwrap_or_else(|| {
        panic!(
            "unflushed prints lost; stdout: {:?}\nlog:\n{}",
            server.stdout_lines(),
            server.log_text()
        )
    });
    assert!(
        lines.iter().any(|l| l == "sysinfo imported in MainProcess"),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l == "sysinfo request 1 /info"),
        "{lines:?}"
    );
}

/// `sysinfo:app` from `tests/apps`, with Python's stdout buffered as it is
/// by default (the test environment sets PYTHONUNBUFFERED, which would hide
/// lost output).
fn sysinfo() -> Launch {
    Launch::new(&["sysinfo:app"]).env_remove("PYTHONUNBUFFERED")
}

/// `binary -b 127.0.0.1:0 sysinfo:app` with nothing but a bare PATH.
fn cleared(binary: &Path) -> Launch {
    let mut cmd = Command::new(binary);
    cmd.args(["-b", "127.0.0.1:0", "sysinfo:app"])
        .current_dir(apps_dir())
        .env_clear()
        .env("PATH", "/usr/bin:/bin");
    Launch::command(cmd)
}

#[test]
fn a_activated_venv() {
    let venv = make_venv(&scratch("venvs-activated"));
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let server = sysinfo()
        .env("VIRTUAL_ENV", venv.to_str().unwrap())
        .env("PATH", &path)
        .start();
    check(server, expect_venv(&venv));
}

#[test]
fn b_venv_named_only_by_virtual_env() {
    let venv = make_venv(&scratch("venvs-named"));
    let server = sysinfo().env("VIRTUAL_ENV", venv.to_str().unwrap()).start();
    check(server, expect_venv(&venv));
}

#[test]
fn c_binary_in_a_venv_run_by_full_path_with_a_cleared_environment() {
    let venv = make_venv(&scratch("venvs-holding"));
    let installed = venv.join("bin/gunicorn-rs");
    std::fs::copy(BIN, &installed).unwrap();
    check(cleared(&installed).start(), expect_venv(&venv));
}

#[test]
fn d_no_venv_uses_the_base_interpreter() {
    check(sysinfo().start(), expect_base());
}

#[test]
fn d_no_venv_with_a_cleared_environment_uses_the_base_interpreter() {
    check(cleared(Path::new(BIN)).start(), expect_base());
}

#[test]
fn a_preloaded_apps_unflushed_print_is_not_copied_into_each_worker() {
    let mut server = Launch::new(&["--preload", "-w", "2", "sysinfo:app"])
        .env_remove("PYTHONUNBUFFERED")
        .start();
    server.wait_workers(2, WAIT);
    json(&server, "/info");
    server.signal(Signal::SIGTERM);
    server.wait_exit(WAIT).expect("server exits after TERM");
    let lines = wait_until(WAIT, || {
        let lines = server.stdout_lines();
        lines
            .iter()
            .any(|l| l == "sysinfo request 1 /info")
            .then_some(lines)
    })
    .unwrap_or_else(|| panic!("stdout: {:?}", server.stdout_lines()));
    let imports = lines
        .iter()
        .filter(|l| *l == "sysinfo imported in MainProcess")
        .count();
    assert_eq!(imports, 1, "imported once, in the master: {lines:?}");
}
