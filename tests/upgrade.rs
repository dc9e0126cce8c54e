//! USR2, the binary upgrade, through the real binary: the old master
//! re-executes the server next to itself on the same sockets, then either
//! the old master is stopped (hand-over: the new one is promoted) or the
//! new one is (rollback). Clients under load see no failed request.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::handover::{dot2, eventually, exited, read_pidfile, reaped, unix_get, wait_exited};
use common::load::Load;
use common::{BIN, Launch, Server, Signal, WAIT, apps_dir, children_of, scratch, wait_until};
use nix::sys::signal::kill;
use nix::unistd::Pid;

/// After USR2 to `server`: the new master's pid, once its pid file is
/// written and it runs `workers` workers. It is the old master's child.
fn new_master(server: &Server, pidfile: &Path, workers: usize) -> (i32, Vec<i32>) {
    let new = wait_until(WAIT, || read_pidfile(&dot2(pidfile))).unwrap_or_else(|| {
        panic!(
            "no {}; log:\n{}",
            dot2(pidfile).display(),
            server.log_text()
        )
    });
    assert!(
        children_of(server.pid()).contains(&new),
        "the new master {new} is not the old master's child"
    );
    let new_workers = wait_until(WAIT, || {
        let w = children_of(new);
        (w.len() == workers).then_some(w)
    })
    .unwrap_or_else(|| {
        panic!(
            "new master has {:?}; log:\n{}",
            children_of(new),
            server.log_text()
        )
    });
    (new, new_workers)
}

fn line(pid: i32, level: &str, text: &str) -> String {
    format!("[{pid}] [{level}] {text}")
}

fn has(server: &Server, needle: &str) -> bool {
    server.wait_for(WAIT, |l| l.contains(needle)).is_some()
}

fn signal(pid: i32, sig: Signal) {
    kill(Pid::from_raw(pid), sig).unwrap_or_else(|e| panic!("kill({pid}, {sig}): {e}"));
}

fn pid_path(dir: &Path) -> String {
    dir.join("app.pid").to_string_lossy().into_owned()
}

#[test]
fn usr2_then_term_of_the_old_master_hands_over_without_a_failed_request() {
    let dir = scratch("usr2-handover");
    let version = dir.join("version.txt");
    std::fs::write(&version, "v1").unwrap();
    let pid_arg = pid_path(&dir);
    let pidfile = Path::new(&pid_arg);
    let mut server = Launch::new(&["-w", "2", "--pid", &pid_arg, "lifecycle:app"])
        .env("GRS_VERSION_FILE", &version.to_string_lossy())
        .start();
    let old = server.pid();
    let old_workers = server.wait_workers(2, WAIT);
    assert_eq!(read_pidfile(pidfile), Some(old));
    assert_eq!(server.get("/version").text(), "v1");

    let load = Load::start(server.port, "/pid", 6);
    // The new code is on disk before the upgrade: the new master serves it.
    std::fs::write(&version, "v2").unwrap();
    server.signal(Signal::SIGUSR2);
    let (new, new_workers) = new_master(&server, pidfile, 2);
    let port = server.port;
    assert!(has(
        &server,
        &line(
            new,
            "INFO",
            &format!("Listening at: http://127.0.0.1:{port} ({new})")
        )
    ));
    assert!(has(&server, &line(old, "INFO", "Handling signal: usr2")));
    assert_eq!(
        read_pidfile(pidfile),
        Some(old),
        "the old master keeps its pid file"
    );
    let upgraded = "gunicorn-rs: master [lifecycle:app.2]";
    assert!(
        wait_until(WAIT, || (cmdline(new) == upgraded).then_some(())).is_some(),
        "{}",
        cmdline(new)
    );

    server.signal(Signal::SIGTERM);
    let status = server.wait_exit(WAIT).expect("old master exits");
    assert!(status.success(), "{status:?}");
    assert!(has(&server, &line(old, "INFO", "Shutting down: Master")));
    assert!(
        has(&server, &line(new, "INFO", "Master has been promoted.")),
        "{}",
        server.log_text()
    );
    // Promoted: PIDFILE names it, PIDFILE.2 is gone.
    let renamed = wait_until(WAIT, || {
        (read_pidfile(pidfile) == Some(new) && !dot2(pidfile).exists()).then_some(())
    });
    assert!(
        renamed.is_some(),
        "pid files: {:?} / {:?}",
        read_pidfile(pidfile),
        read_pidfile(&dot2(pidfile))
    );
    for w in &old_workers {
        assert!(exited(*w), "old worker {w} still runs");
    }
    let promoted = "gunicorn-rs: master [lifecycle:app]";
    assert!(
        wait_until(WAIT, || (cmdline(new) == promoted).then_some(())).is_some(),
        "{}",
        cmdline(new)
    );

    // Only the new master's workers are left, with the new code.
    let served_by: i32 = server.get("/pid").text().parse().unwrap();
    assert!(
        new_workers.contains(&served_by),
        "{served_by} not in {new_workers:?}"
    );
    assert_eq!(server.get("/version").text(), "v2");
    let tally = load.finish();
    tally.assert_clean(20);

    signal(new, Signal::SIGTERM);
    wait_exited(new, || server.log_text());
    assert!(has(&server, &line(new, "INFO", "Shutting down: Master")));
    assert!(
        !pidfile.exists(),
        "the promoted master removes its pid file"
    );
    let log = server.log_text();
    assert!(!log.contains("ERROR"), "{log}");
    assert!(
        !log.contains("Master.2"),
        "no HUP or failure to name it: {log}"
    );
}

#[test]
fn a_second_usr2_and_usr2_to_the_new_master_are_ignored() {
    let dir = scratch("usr2-ignored");
    let pid_arg = pid_path(&dir);
    let pidfile = Path::new(&pid_arg);
    let server = Launch::new(&["--pid", &pid_arg, "lifecycle:app"]).start();
    let old = server.pid();
    server.wait_workers(1, WAIT);
    server.signal(Signal::SIGUSR2);
    let (new, _) = new_master(&server, pidfile, 1);

    server.signal(Signal::SIGUSR2);
    assert!(has(
        &server,
        &line(old, "WARNING", "USR2 signal ignored. Child exists.")
    ));
    signal(new, Signal::SIGUSR2);
    assert!(has(
        &server,
        &line(new, "WARNING", "USR2 signal ignored. Parent exists.")
    ));
    // A HUP of the new master names it as gunicorn does.
    signal(new, Signal::SIGHUP);
    assert!(has(&server, &line(new, "INFO", "Hang up: Master.2")));

    // Still exactly one new master, and both serve.
    assert_eq!(
        server.count("Starting gunicorn-rs"),
        2,
        "{}",
        server.log_text()
    );
    let masters: Vec<i32> = children_of(old)
        .into_iter()
        .filter(|p| !children_of(*p).is_empty())
        .collect();
    assert_eq!(masters, [new]);
    assert_eq!(read_pidfile(&dot2(pidfile)), Some(new));
    assert_eq!(server.get("/pid").status, 200);
}

#[test]
fn stopping_the_new_master_rolls_back_to_the_old_one() {
    let dir = scratch("usr2-rollback");
    let pid_arg = pid_path(&dir);
    let pidfile = Path::new(&pid_arg);
    let server = Launch::new(&["-w", "2", "--pid", &pid_arg, "lifecycle:app"]).start();
    let old = server.pid();
    let old_workers = server.wait_workers(2, WAIT);
    let load = Load::start(server.port, "/pid", 6);
    server.signal(Signal::SIGUSR2);
    let (new, new_workers) = new_master(&server, pidfile, 2);

    signal(new, Signal::SIGTERM);
    // The old master reaps it: no zombie left, and not taken for a worker.
    let gone = wait_until(WAIT, || reaped(new).then_some(()));
    assert!(
        gone.is_some(),
        "new master {new} not reaped; log:\n{}",
        server.log_text()
    );
    assert!(has(&server, &line(new, "INFO", "Shutting down: Master.2")));
    assert!(!dot2(pidfile).exists(), "the .2 pid file is removed");
    assert_eq!(read_pidfile(pidfile), Some(old));
    for w in &new_workers {
        wait_exited(*w, || server.log_text());
    }
    assert_eq!(server.workers(), old_workers, "the old workers serve on");
    let served_by: i32 = server.get("/pid").text().parse().unwrap();
    assert!(old_workers.contains(&served_by));
    load.finish().assert_clean(20);
    let log = server.log_text();
    assert!(
        !log.contains(&format!("(pid:{new})")),
        "reported as a worker: {log}"
    );

    // The child is gone, so a new upgrade may start.
    server.signal(Signal::SIGUSR2);
    let again = wait_until(WAIT, || read_pidfile(&dot2(pidfile)).filter(|p| *p != new));
    assert!(
        again.is_some(),
        "no second upgrade; log:\n{}",
        server.log_text()
    );
    assert!(!server.log_text().contains("Child exists"));
}

#[test]
fn unix_socket_files_survive_the_hand_over() {
    let dir = scratch("usr2-unix");
    let sock = dir.join("app.sock");
    let pid_arg = pid_path(&dir);
    let pidfile = Path::new(&pid_arg);
    let unix = format!("unix:{}", sock.display());
    let mut server = Launch::new(&["--pid", &pid_arg, "-b", &unix, "lifecycle:app"]).start();
    server.wait_workers(1, WAIT);
    server.signal(Signal::SIGUSR2);
    let (new, new_workers) = new_master(&server, pidfile, 1);
    server.signal(Signal::SIGTERM);
    server.wait_exit(WAIT).expect("old master exits");

    // The old master left the file to the new one, which still answers on it.
    assert!(sock.exists(), "the old master removed the socket file");
    let (status, body) = eventually(|| unix_get(&sock, "/pid"));
    assert_eq!(status, 200);
    assert!(new_workers.contains(&body.parse().unwrap()), "{body}");
    assert!(has(
        &server,
        &line(new, "INFO", "Master has been promoted.")
    ));

    // Once promoted, it owns the file and removes it at exit, as gunicorn.
    signal(new, Signal::SIGTERM);
    wait_exited(new, || server.log_text());
    assert!(!sock.exists(), "the promoted master left its socket file");
}

/// A server started from `exe`, which the test then replaces.
fn launch_from(exe: &Path, pid_arg: &str) -> Server {
    let mut cmd = Command::new(exe);
    cmd.args(["--pid", pid_arg, "-b", "127.0.0.1:0", "lifecycle:app"])
        .current_dir(apps_dir())
        .env_remove("VIRTUAL_ENV")
        .env_remove("GUNICORN_CMD_ARGS")
        .env_remove("WEB_CONCURRENCY")
        .env_remove("PORT");
    Launch::command(cmd).start()
}

/// Replace `path` (atomically, as a package manager does) by a script that
/// says it ran, then runs the real binary with the same arguments.
fn install_upgrade(path: &Path) {
    let staged = path.with_extension("new");
    let script = format!("#!/bin/sh\necho 'upgraded binary ran' >&2\nexec '{BIN}' \"$@\"\n");
    std::fs::write(&staged, script).unwrap();
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&staged, path).unwrap();
}

/// The upgrade check shared by the two ways of installing a new build.
fn upgrade_runs_what_is_now_at(exe: &Path, dir: &Path) {
    let pid_arg = pid_path(dir);
    let pidfile = Path::new(&pid_arg);
    let mut server = launch_from(exe, &pid_arg);
    server.wait_workers(1, WAIT);
    install_upgrade(exe);
    server.signal(Signal::SIGUSR2);
    assert!(has(&server, "upgraded binary ran"), "{}", server.log_text());
    // Same arguments, directory and environment: it finds the app and serves.
    let (new, new_workers) = new_master(&server, pidfile, 1);
    server.signal(Signal::SIGTERM);
    server.wait_exit(WAIT).expect("old master exits");
    assert!(has(
        &server,
        &line(new, "INFO", "Master has been promoted.")
    ));
    let served_by: i32 = server.get("/pid").text().parse().unwrap();
    assert!(new_workers.contains(&served_by));
    signal(new, Signal::SIGTERM);
    wait_exited(new, || server.log_text());
}

#[test]
fn usr2_runs_the_binary_now_installed_at_the_same_path() {
    let dir = scratch("usr2-new-binary");
    let exe = dir.join("gunicorn-rs");
    std::fs::copy(BIN, &exe).unwrap();
    upgrade_runs_what_is_now_at(&exe, &dir);
}

#[test]
fn usr2_follows_a_repointed_symlink() {
    let dir = scratch("usr2-symlink");
    let link = dir.join("gunicorn-rs");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    upgrade_runs_what_is_now_at(&link, &dir);
}

#[test]
fn the_new_master_starts_where_the_old_one_started() {
    // A relative --chdir only works from the directory the server was
    // started in; the old master has left it for the app directory.
    let dir = scratch("usr2-cwd");
    let up = "../".repeat(dir.components().count() - 1);
    let apps = apps_dir();
    let rel = format!("{up}{}", apps.strip_prefix("/").unwrap().display());
    let pid_arg = pid_path(&dir);
    let pidfile = Path::new(&pid_arg);
    let server = Launch::new(&["--chdir", &rel, "--pid", &pid_arg, "handover:app"])
        .cwd(&dir)
        .start();
    server.wait_workers(1, WAIT);
    server.signal(Signal::SIGUSR2);
    let (new, _) = new_master(&server, pidfile, 1);
    signal(new, Signal::SIGTERM);
    wait_exited(new, || server.log_text());
}

/// A process's title as `ps` shows it (NULs between arguments as spaces).
fn cmdline(pid: i32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&raw)
        .trim_end_matches('\0')
        .replace('\0', " ")
}

#[test]
fn an_env_setting_dropped_from_the_config_is_gone_after_usr2() {
    let dir = scratch("usr2-env");
    let conf = dir.join("conf.py");
    std::fs::write(&conf, "raw_env = ['GRS_DROPPED=1']\n").unwrap();
    let pid_arg = pid_path(&dir);
    let pidfile = Path::new(&pid_arg);
    let mut server = Launch::new(&[
        "-c",
        conf.to_str().unwrap(),
        "--pid",
        &pid_arg,
        "whoami:app",
    ])
    .start();
    server.wait_workers(1, WAIT);
    assert_eq!(server.get("/env/GRS_DROPPED").text(), "1");
    // The new configuration no longer sets it; the upgrade starts from the
    // environment the server was started with, which did not have it.
    std::fs::write(&conf, "raw_env = []\n").unwrap();
    server.signal(Signal::SIGUSR2);
    let (new, _) = new_master(&server, pidfile, 1);
    server.signal(Signal::SIGTERM);
    assert!(server.wait_exit(WAIT).is_some(), "old master exits");
    let served = server.get("/env/GRS_DROPPED").text();
    signal(new, Signal::SIGTERM);
    wait_exited(new, || server.log_text());
    assert_eq!(served, "<unset>");
}
