//! The systemd units of examples/deploy, as committed: the test reads
//! `ListenStream=` from gunicorn-rs.socket and `ExecStart=`/`ExecReload=`
//! from gunicorn-rs.service, puts this build, a test app and a scratch
//! socket path in place of myapp's, and runs the command under systemd's
//! own socket-activation launcher with a `$NOTIFY_SOCKET` the test listens
//! on. `systemd-analyze verify` checks the files themselves.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;

use common::handover::{eventually, unix_get};
use common::sd::{self, assert_ready, drain, recv};
use nix::sys::signal::kill;
use nix::unistd::Pid;

use common::{BIN, Launch, Signal, WAIT, apps_dir, children_of, scratch, wait_until};

/// The app the tests serve in place of `myapp.wsgi:application`.
const APP: &str = "deploy:app";

/// One unit file of examples/deploy: its `Key=value` lines by section.
struct Unit {
    path: PathBuf,
    text: String,
    /// (section, key, value) in file order.
    entries: Vec<(String, String, String)>,
}

impl Unit {
    fn read(name: &str) -> Unit {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/deploy")
            .join(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut entries = Vec::new();
        let mut section = String::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            assert!(
                !line.ends_with('\\'),
                "{}: continued lines are not read by this test: {line}",
                path.display()
            );
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_owned();
            } else if let Some((key, value)) = line.split_once('=') {
                entries.push((section.clone(), key.trim().into(), value.trim().into()));
            } else {
                panic!("{}: not a unit file line: {line}", path.display());
            }
        }
        Unit {
            path,
            text,
            entries,
        }
    }

    /// The value of `key` in `[section]`: the last assignment, which is the
    /// one systemd keeps for the single-valued keys read here.
    fn get(&self, section: &str, key: &str) -> &str {
        self.entries
            .iter()
            .rev()
            .find(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.as_str())
            .unwrap_or_else(|| panic!("{}: no {key}= in [{section}]", self.path.display()))
    }

    /// A command line (`ExecStart=`, `ExecReload=`) as words. systemd also
    /// knows quotes, `$VAR` expansion and prefixes such as `-`; the units
    /// use none of them except `$MAINPID`, so splitting on blanks gives the
    /// words systemd passes.
    fn command(&self, key: &str) -> Vec<String> {
        let line = self.get("Service", key);
        assert!(
            !line.contains(['"', '\'', '\\']) && !line.starts_with(['-', '@', ':', '+', '!']),
            "{}: {key}= uses systemd syntax this test does not read: {line}",
            self.path.display()
        );
        line.split_whitespace().map(str::to_owned).collect()
    }
}

/// The value of option `long` (or `short`) in `args`, given as
/// `--long V`, `--long=V` or `-s V`.
fn option<'a>(args: &'a [String], long: &str, short: Option<&str>) -> Option<&'a str> {
    args.iter().enumerate().find_map(|(i, a)| {
        if a == long || Some(a.as_str()) == short {
            args.get(i + 1).map(String::as_str)
        } else {
            a.strip_prefix(long)?.strip_prefix('=')
        }
    })
}

/// The service's `ExecStart=` with this build's binary and the test app in
/// place of the venv's binary and myapp's. The other options stay as the
/// unit gives them.
fn exec_start(service: &Unit) -> Vec<String> {
    let mut args = service.command("ExecStart");
    assert!(
        args[0].ends_with("/bin/gunicorn-rs"),
        "ExecStart= does not run a venv's gunicorn-rs: {args:?}"
    );
    args[0] = BIN.to_owned();
    let app = args.last_mut().expect("ExecStart= has words");
    assert!(
        app.contains(':'),
        "ExecStart= does not end with the app: {app}"
    );
    *app = APP.to_owned();
    args
}

/// Wait (bounded) for `cmd` to finish; its output.
fn run(cmd: &mut Command) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let pid = child.id();
    let waiter = thread::spawn(move || child.wait_with_output());
    match wait_until(WAIT, || waiter.is_finished().then_some(())) {
        Some(()) => waiter.join().unwrap().expect("the command's output"),
        None => {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            panic!("{cmd:?} did not finish within {WAIT:?}");
        }
    }
}

#[test]
fn the_units_serve_reload_on_hup_and_stop_gracefully_under_socket_activation() {
    let socket = Unit::read("gunicorn-rs.socket");
    let service = Unit::read("gunicorn-rs.service");
    // What the rest of the test reproduces: systemd waits for the master's
    // notifications, and a stop sends TERM to the master alone.
    assert!(service.get("Service", "Type").starts_with("notify"));
    let kill_mode = service.get("Service", "KillMode");
    assert!(
        matches!(kill_mode, "mixed" | "process"),
        "KillMode={kill_mode} sends TERM to the workers too; this test sends it to the master only"
    );

    let dir = scratch("units");
    let listen = Path::new(socket.get("Socket", "ListenStream"));
    assert!(
        listen.is_absolute(),
        "ListenStream= is not a unix socket path"
    );
    let path = dir.join(listen.file_name().unwrap());
    let notify_path = dir.join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    let args = exec_start(&service);
    let workers: usize = option(&args, "--workers", Some("-w")).map_or(1, |n| n.parse().unwrap());

    // systemd-socket-activate passes only the variables it is told to (-E),
    // as systemd gives a service a clean environment. WorkingDirectory= is
    // where the app imports from: tests/apps here.
    let mut cmd = Command::new(sd::tool("systemd-socket-activate"));
    cmd.arg("--listen")
        .arg(&path)
        .arg("-E")
        .arg(format!("NOTIFY_SOCKET={}", notify_path.display()))
        .arg("--")
        .args(&args)
        .current_dir(apps_dir());
    let mut server = Launch::command(cmd).spawn();
    // The launcher listens, then executes the server in its own place on
    // the first connection, which waits in the queue meanwhile.
    let listening = wait_until(WAIT, || path.exists().then_some(()));
    assert!(
        listening.is_some(),
        "no socket; log:\n{}",
        server.log_text()
    );
    let (status, _) = eventually(|| unix_get(&path, "/pid"));
    assert_eq!(status, 200, "{}", server.log_text());
    assert_ready(&recv(&notify));
    let master = server.pid();

    // `systemctl reload`: the unit's ExecReload=, with the master as $MAINPID.
    let old = server.wait_workers(workers, WAIT);
    let reload: Vec<String> = service
        .command("ExecReload")
        .into_iter()
        .map(|w| match w.as_str() {
            "$MAINPID" | "${MAINPID}" => master.to_string(),
            _ => w,
        })
        .collect();
    let out = run(Command::new(&reload[0]).args(&reload[1..]));
    assert!(out.status.success(), "{reload:?}: {out:?}");
    let msg = recv(&notify);
    assert!(msg.starts_with("RELOADING=1\n"), "{msg:?}");
    let msg = recv(&notify);
    assert!(
        msg.starts_with("READY=1\nSTATUS=Reloaded\n"),
        "{msg:?}; log:\n{}",
        server.log_text()
    );
    let new = wait_until(WAIT, || {
        let now = children_of(master);
        (now.len() == workers && now.iter().all(|p| !old.contains(p))).then_some(now)
    })
    .unwrap_or_else(|| panic!("workers {old:?} not replaced; log:\n{}", server.log_text()));
    let (status, pid) = unix_get(&path, "/pid").unwrap();
    assert_eq!(status, 200);
    assert!(new.contains(&pid.parse().unwrap()), "{pid} not in {new:?}");

    // `systemctl stop` with KillMode=mixed: TERM to the master while a
    // request is in flight. It finishes; the master says STOPPING=1 and
    // exits 0 (a clean stop for systemd, not a failure).
    let mark = dir.join("in-flight");
    let target = format!("/slow?s=2&mark={}", mark.display());
    let slow_path = path.clone();
    let slow = thread::spawn(move || unix_get(&slow_path, &target));
    assert!(wait_until(WAIT, || mark.exists().then_some(())).is_some());
    server.signal(Signal::SIGTERM);
    let msg = recv(&notify);
    assert!(msg.starts_with("STOPPING=1\n"), "{msg:?}");
    assert_eq!(slow.join().unwrap(), Ok((200, "slept".to_owned())));
    let exit = server.wait_exit(WAIT).expect("the master exits");
    assert!(exit.success(), "{exit:?}; log:\n{}", server.log_text());
    assert_eq!(drain(&notify), Vec::<String>::new());
    assert!(
        path.exists(),
        "the socket file the launcher made was removed"
    );
    // `--access-logfile -`: requests are logged on stdout, for the journal.
    let access = server.stdout_lines();
    assert!(
        access.iter().any(|l| l.contains("\"GET /slow?s=2")),
        "{access:?}"
    );
}

#[test]
fn the_stop_timeout_outlasts_the_graceful_timeout() {
    let service = Unit::read("gunicorn-rs.service");
    let args = service.command("ExecStart");
    let graceful: u64 =
        option(&args, "--graceful-timeout", None).map_or(30, |s| s.parse().unwrap());
    let stop = service.get("Service", "TimeoutStopSec");
    let stop: u64 = if let Some(min) = stop.strip_suffix("min") {
        min.parse::<u64>().unwrap() * 60
    } else {
        stop.trim_end_matches('s').parse().unwrap()
    };
    assert!(
        stop > graceful,
        "TimeoutStopSec={stop}s would SIGKILL a graceful stop of up to {graceful}s"
    );
}

#[test]
fn systemd_analyze_verify_finds_nothing_to_say() {
    // verify runs without systemd as PID 1. It checks that the programs of
    // Exec*= exist, so the copy names this build instead of the venv's.
    // systemd 252 only warns about a key or value it does not know (such as
    // Type=notify-reload), so any output is a failure here.
    let dir = scratch("units-verify");
    let service = Unit::read("gunicorn-rs.service");
    let venv_bin = service.command("ExecStart")[0].clone();
    let copies = ["gunicorn-rs.socket", "gunicorn-rs.service"].map(|name| {
        let text = Unit::read(name).text.replace(&venv_bin, BIN);
        let copy = dir.join(name);
        std::fs::write(&copy, text).unwrap();
        copy
    });
    let out = run(Command::new(sd::tool("systemd-analyze"))
        .args(["verify", "--man=no"])
        .args(&copies));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && said.is_empty(), "{out:?}:\n{said}");
}
