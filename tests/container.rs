//! The container of examples/deploy/Dockerfile, without a container
//! engine: the test reads the final image's `ENTRYPOINT`, `CMD` and `ENV`,
//! puts this build and a test app in place of the venv's binary and
//! myapp's, and runs the command as PID 1 of a new pid namespace
//! (util-linux `unshare`), which is how a container runs it. It checks what
//! being PID 1 changes: `docker stop`'s TERM arrives at the master, and
//! processes orphaned inside the container are the master's to reap.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;

use nix::sys::signal::kill;
use nix::unistd::Pid;

use common::handover::exited;
use common::{BIN, Launch, Server, Signal, WAIT, apps_dir, children_of, scratch, wait_until};

/// The app the tests serve in place of `myapp.wsgi:application`.
const APP: &str = "deploy:app";

/// What `docker run` takes from the final stage of the Dockerfile.
struct Image {
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    env: Vec<(String, String)>,
}

impl Image {
    fn read() -> Image {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/deploy/Dockerfile");
        let text = std::fs::read_to_string(&path).unwrap();
        // Comment lines go first, also inside continued lines, as Docker
        // reads them; then `\` at a line's end joins it to the next.
        let mut joined = String::new();
        for line in text.lines() {
            if line.trim_start().starts_with('#') {
                continue;
            }
            match line.strip_suffix('\\') {
                Some(part) => joined.push_str(part),
                None => {
                    joined.push_str(line);
                    joined.push('\n');
                }
            }
        }
        // Only the last stage is the image.
        let lines: Vec<&str> = joined
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let from = lines
            .iter()
            .rposition(|l| l.to_ascii_uppercase().starts_with("FROM "))
            .expect("a FROM line");
        let mut image = Image {
            entrypoint: Vec::new(),
            cmd: Vec::new(),
            env: Vec::new(),
        };
        for line in &lines[from + 1..] {
            let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let rest = rest.trim();
            match word.to_ascii_uppercase().as_str() {
                "ENTRYPOINT" => image.entrypoint = exec_form(word, rest),
                "CMD" => image.cmd = exec_form(word, rest),
                "ENV" => {
                    for pair in rest.split_whitespace() {
                        let (key, value) = pair.split_once('=').unwrap_or_else(|| {
                            panic!("ENV {rest}: only the KEY=value form is read here")
                        });
                        assert!(
                            !value.contains(['"', '\'', '$']),
                            "ENV {rest}: quoted or expanded"
                        );
                        image.env.push((key.into(), value.into()));
                    }
                }
                _ => {}
            }
        }
        image
    }

    /// The image's `ENTRYPOINT` + `CMD` with this build's binary and the test
    /// app in place of the venv's and myapp's.
    fn command(&self) -> Vec<String> {
        let mut args: Vec<String> = self.entrypoint.iter().chain(&self.cmd).cloned().collect();
        assert!(
            args.first()
                .is_some_and(|a| a.ends_with("/bin/gunicorn-rs")),
            "ENTRYPOINT does not start a venv's gunicorn-rs: {args:?}"
        );
        args[0] = BIN.to_owned();
        let app = args.last_mut().unwrap();
        assert!(app.contains(':'), "CMD does not end with the app: {app}");
        *app = APP.to_owned();
        args
    }
}

/// An `ENTRYPOINT` or `CMD` in exec form (a JSON array). The shell form
/// would make `/bin/sh -c` PID 1, which does not pass TERM on.
fn exec_form(word: &str, rest: &str) -> Vec<String> {
    serde_json::from_str(rest)
        .unwrap_or_else(|e| panic!("{word} {rest}: not in exec form (a JSON array): {e}"))
}

fn unshare() -> PathBuf {
    let path = Path::new("/usr/bin/unshare");
    assert!(path.exists(), "util-linux's unshare is not installed");
    path.to_path_buf()
}

/// The image's command, run as a container runs it: PID 1 of a new pid
/// namespace (with its own /proc), the image's environment and no other,
/// in the image's working directory (the test apps' here). `extra` adds
/// namespace flags to unshare; `env` adds what `docker run -e` would.
fn container(image: &Image, extra: &[&str], env: &[(&str, &str)]) -> Command {
    // A clear failure when this machine does not allow pid namespaces
    // (the test needs root, as in CI), rather than a server that never
    // starts.
    let probe = Command::new(unshare())
        .args(["--pid", "--fork", "--mount-proc", "/bin/true"])
        .stdin(Stdio::null())
        .output()
        .expect("run unshare");
    assert!(
        probe.status.success(),
        "cannot make a pid namespace here (unshare --pid --fork --mount-proc; \
         needs root or CAP_SYS_ADMIN): {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let mut cmd = Command::new(unshare());
    cmd.args(["--pid", "--fork", "--mount-proc"])
        .args(extra)
        .arg("--")
        .args(image.command())
        .current_dir(apps_dir())
        .env_clear()
        // Docker's PATH for an image that sets none.
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        );
    for (key, value) in &image.env {
        cmd.env(key, value);
    }
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd
}

/// The host's pid of PID 1 in the namespace `unshare` (the test's child)
/// made: unshare's only child.
fn pid_1(server: &Server) -> i32 {
    let pid = wait_until(WAIT, || match children_of(server.pid())[..] {
        [one] => Some(one),
        _ => None,
    })
    .expect("unshare's child");
    assert_eq!(ns_pids(pid).last(), Some(&1), "not PID 1 of its namespace");
    pid
}

/// A process's pids from the host's namespace inward (`NSpid:`).
fn ns_pids(pid: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .map(|v| v.split_whitespace().map(|p| p.parse().unwrap()).collect())
        .unwrap_or_default()
}

/// Host pid -> (pid inside the namespace, state, host pid of the parent)
/// for every process in the pid namespace of host pid `init`.
fn namespace_processes(init: i32) -> HashMap<i32, (i32, String, i32)> {
    let ns = |pid: i32| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let target = ns(init).expect("the namespace's PID 1 is running");
    let mut out = HashMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if ns(pid).as_ref() != Some(&target) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // After the ")" that ends the command name: state, ppid, ...
        let mut fields = stat.rsplit(')').next().unwrap_or("").split_whitespace();
        let state = fields.next().unwrap_or("").to_owned();
        let ppid = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if let Some(&inner) = ns_pids(pid).last() {
            out.insert(pid, (inner, state, ppid));
        }
    }
    out
}

#[test]
fn as_pid_1_it_serves_reaps_orphans_and_stops_on_term_after_the_request_in_flight() {
    let image = Image::read();
    let dir = scratch("container");
    // `docker run -e GUNICORN_CMD_ARGS=...`: a free port on loopback
    // instead of the image's 0.0.0.0:$PORT, and debug logging to see the
    // master reap.
    let args = [("GUNICORN_CMD_ARGS", "--bind 127.0.0.1:0 --log-level debug")];
    let mut server = Launch::command(container(&image, &[], &args)).start();
    let master = pid_1(&server);
    assert_eq!(server.get("/pid").status, 200);

    // A process that outlives its parent in the container is re-parented
    // to PID 1, the master, which must reap it: no zombie is left, and it
    // is not taken for a worker.
    let orphan: i32 = server.get("/orphan").text().parse().unwrap();
    let (host_pid, _) = wait_until(WAIT, || {
        namespace_processes(master)
            .into_iter()
            .find(|(_, (inner, _, _))| *inner == orphan)
            .map(|(host, (_, _, ppid))| (host, ppid))
            .filter(|&(_, ppid)| ppid == master)
    })
    .unwrap_or_else(|| {
        panic!(
            "the orphan {orphan} is not the master's: {:?}",
            namespace_processes(master)
        )
    });
    let reaped = format!("Reaped unknown child process (pid:{orphan},");
    assert!(
        server.wait_for(WAIT, |l| l.contains(&reaped)).is_some(),
        "{}",
        server.log_text()
    );
    assert!(!Path::new(&format!("/proc/{host_pid}")).exists());
    let zombies: Vec<_> = namespace_processes(master)
        .into_values()
        .filter(|(_, state, _)| state == "Z")
        .collect();
    assert_eq!(zombies, Vec::new());
    let about_it = format!("(pid:{orphan})");
    assert_eq!(server.count(&about_it), 0, "{}", server.log_text());

    // `docker stop`: TERM to PID 1, with a request in flight. unshare
    // exits with the status of its child.
    let mark = dir.join("in-flight");
    let port = server.port;
    let target = format!("/slow?s=2&mark={}", mark.display());
    let slow = thread::spawn(move || common::connect_get(port, &target));
    assert!(wait_until(WAIT, || mark.exists().then_some(())).is_some());
    kill(Pid::from_raw(master), Signal::SIGTERM).unwrap();
    let response = slow.join().unwrap();
    assert_eq!((response.status, response.text()), (200, "slept".into()));
    let exit = server.wait_exit(WAIT).expect("the container's PID 1 exits");
    assert!(exit.success(), "{exit:?}; log:\n{}", server.log_text());
    assert!(exited(master));
}

#[test]
fn the_image_listens_on_port_8000_of_every_interface() {
    // Its own network namespace too, so port 8000 is free whatever this
    // machine runs.
    let image = Image::read();
    let mut server = Launch::command(container(&image, &["--net"], &[])).spawn();
    let listening = server.wait_for(WAIT, |l| l.contains("Listening at: "));
    let line = listening.unwrap_or_else(|| panic!("not listening; log:\n{}", server.log_text()));
    assert!(
        line.ends_with("Listening at: http://0.0.0.0:8000 (1)"),
        "{line}"
    );
    let master = pid_1(&server);
    kill(Pid::from_raw(master), Signal::SIGTERM).unwrap();
    let exit = server.wait_exit(WAIT).expect("the container's PID 1 exits");
    assert!(exit.success(), "{exit:?}; log:\n{}", server.log_text());
}
