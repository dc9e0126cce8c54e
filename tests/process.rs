//! Process set-up through the real binary: `--daemon`, `--env`, `--user`
//! and `--group`, `--umask`, `--worker-tmp-dir`, `--name` and the process
//! titles, `--reuse-port`. What each process is (ids, descriptors, title)
//! is read from /proc; what the application sees, from tests/apps/whoami.py.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Launch, Signal, WAIT, scratch, wait_until};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Group, Pid, User, getsid};

/// Run a server that is expected to stop by itself; its exit code and log.
fn run_to_exit(launch: Launch) -> (i32, String) {
    let mut server = launch.spawn();
    let status = server
        .wait_exit(WAIT)
        .unwrap_or_else(|| panic!("did not exit; log:\n{}", server.log_text()));
    // The reader threads collect the last lines once the pipe closes.
    wait_until(WAIT, || (!server.log_text().is_empty()).then_some(()));
    std::thread::sleep(std::time::Duration::from_millis(100));
    (status.code().unwrap_or(-1), server.log_text())
}

/// `/proc/PID/cmdline` up to its first NUL: the title, once it is set.
fn cmdline(pid: i32) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let first = raw.split(|&b| b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(first).into_owned()
}

/// The title of `pid` once it names a `kind` ("master", "worker"): a
/// worker shows its master's title until it sets its own, just after fork.
fn title(pid: i32, kind: &str) -> Option<String> {
    wait_until(WAIT, || {
        let t = cmdline(pid);
        t.contains(kind).then_some(t)
    })
}

fn comm(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim_end()
        .to_string()
}

/// The ids on a `/proc/PID/status` line (`Uid:`, `Gid:`, `Groups:`).
fn status_ids(pid: i32, field: &str) -> Vec<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    line[field.len()..]
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// Where each of `pid`'s descriptors points, by fd number.
fn fd_targets(pid: i32) -> Vec<(String, String)> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let target = fs::read_link(e.path()).ok()?;
            Some((
                e.file_name().to_string_lossy().into_owned(),
                target.to_string_lossy().into_owned(),
            ))
        })
        .collect()
}

/// The worker's heartbeat file: an unlinked file in `dir` it holds open.
fn heartbeat_in(pid: i32, dir: &Path) -> Option<fs::Metadata> {
    let prefix = dir.to_string_lossy().into_owned();
    fd_targets(pid)
        .into_iter()
        .find(|(_, target)| target.starts_with(&prefix) && target.ends_with("(deleted)"))
        .and_then(|(fd, _)| fs::metadata(format!("/proc/{pid}/fd/{fd}")).ok())
}

/// Gone, or a zombie.
fn gone(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .map(str::trim_start)
            .is_some_and(|s| s.starts_with('Z')),
    }
}

/// Wait (bounded) for `pid`, an orphan this test process adopted as
/// subreaper, to exit, and reap it.
fn reap(pid: i32) -> bool {
    wait_until(WAIT, || {
        match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => None,
            Ok(_) => Some(()),
            // Not ours (reaped elsewhere): done once it is gone.
            Err(_) => gone(pid).then_some(()),
        }
    })
    .is_some()
}

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "switching workers to another user needs root: run the tests as root (CI does)"
    );
}

/// `nobody` and its group, which every test machine has.
fn nobody() -> (User, Group) {
    let user = User::from_name("nobody")
        .ok()
        .flatten()
        .expect("this machine has no user 'nobody'");
    let group = Group::from_gid(user.gid)
        .ok()
        .flatten()
        .expect("the group of 'nobody' has no name");
    (user, group)
}

// --- --daemon ---------------------------------------------------------------

/// A daemon started by a test: killed, with its workers, if the test
/// fails before it stopped it. The test process is made a child
/// subreaper, so the daemon and the session leader it leaves behind are
/// reparented to it and reaped here rather than left as zombies of an
/// init that may not reap (containers).
struct Daemon {
    pidfile: PathBuf,
    /// The daemon's pid and its session (the first child's pid), once known.
    pids: Option<(i32, i32)>,
}

impl Daemon {
    /// Run the launcher to completion (bounded); its exit code.
    fn launch(dir: &Path, extra: &[&str], stderr: Stdio, env: &[(&str, &str)]) -> (Daemon, i32) {
        nix::sys::prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER");
        let mut daemon = Daemon {
            pidfile: dir.join("master.pid"),
            pids: None,
        };
        // A restrictive umask in the launcher: the daemon sets its own (022).
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("umask 077 && exec \"$0\" \"$@\"")
            .arg(common::BIN)
            .args(["-D", "-b", "127.0.0.1:0", "-p"])
            .arg(&daemon.pidfile)
            .args(extra)
            .arg("whoami:app")
            .current_dir(common::apps_dir())
            .env_remove("GUNICORN_CMD_ARGS")
            .env_remove("WEB_CONCURRENCY")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut launcher = cmd.spawn().expect("spawn the launcher");
        let status = wait_until(WAIT, || launcher.try_wait().ok().flatten());
        let Some(status) = status else {
            let _ = launcher.kill();
            panic!("the launcher did not exit");
        };
        if let Some(pid) = wait_until(WAIT, || daemon.read_pid()) {
            let session = getsid(Some(Pid::from_raw(pid))).map_or(pid, Pid::as_raw);
            daemon.pids = Some((pid, session));
        }
        (daemon, status.code().unwrap_or(-1))
    }

    fn read_pid(&self) -> Option<i32> {
        fs::read_to_string(&self.pidfile).ok()?.trim().parse().ok()
    }

    /// The daemon's pid, from its pid file.
    fn pid(&self) -> i32 {
        self.pids.expect("the daemon wrote no pid file").0
    }

    /// TERM; true once it exited and was reaped.
    fn stop(&self) -> bool {
        let pid = self.pid();
        nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
        reap(pid)
    }

    /// The port from the "Listening at:" line in `log`.
    fn port(log: &Path) -> u16 {
        let line = wait_until(WAIT, || {
            fs::read_to_string(log)
                .ok()?
                .lines()
                .find(|l| l.contains("Listening at: http://"))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no Listening line in {}", log.display()));
        line.split("Listening at: http://127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let Some((pid, session)) = self.pids else {
            return;
        };
        let workers = common::children_of(pid);
        if !gone(pid) {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        reap(pid);
        // Orphaned by the kill, they are this process's children now.
        for w in workers {
            let _ = nix::sys::signal::kill(Pid::from_raw(w), Signal::SIGKILL);
            reap(w);
        }
        if session != pid {
            reap(session);
        }
    }
}

#[test]
fn daemon_detaches_serves_and_stops_on_term() {
    let dir = scratch("daemon");
    let launcher_err = dir.join("launcher.err");
    let log = dir.join("error.log");
    let (daemon, code) = Daemon::launch(
        &dir,
        &["--error-logfile", log.to_str().unwrap()],
        Stdio::from(fs::File::create(&launcher_err).unwrap()),
        &[("NOTIFY_SOCKET", "/run/nonexistent/notify")],
    );
    assert_eq!(code, 0, "the launching process exits 0 at once");
    let pid = daemon.pid();
    assert!(!gone(pid), "the pid file names a live master");
    // Detached: another session, of which it is not the leader (the
    // second fork), so it can never get a terminal back.
    let own_session = getsid(None).unwrap();
    let its_session = getsid(Some(Pid::from_raw(pid))).unwrap();
    assert_ne!(its_session, own_session);
    assert_ne!(its_session.as_raw(), pid);
    // stdio on /dev/null; the log goes to the file.
    let fds = fd_targets(pid);
    for n in ["0", "1", "2"] {
        let target = fds.iter().find(|(fd, _)| fd == n).map(|(_, t)| t.as_str());
        assert_eq!(target, Some("/dev/null"), "fd {n}: {fds:?}");
    }
    let port = Daemon::port(&log);
    let resp = common::connect_get(port, "/pid");
    assert_eq!(resp.status, 200);
    assert!(common::children_of(pid).contains(&resp.text().parse().unwrap()));
    // gunicorn's daemonize sets the umask to 022, whatever the launcher's.
    assert_eq!(common::connect_get(port, "/umask").text(), "22");
    // Only the systemd warning reached the launcher's stderr.
    let err = fs::read_to_string(&launcher_err).unwrap();
    assert_eq!(
        err.trim_end(),
        "Warning: you shouldn't specify `daemon = True` when launching by systemd with `Type = notify`"
    );

    // WINCH, only when daemonized: the workers stop, the master stays;
    // TTIN brings one back.
    nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGWINCH).unwrap();
    assert!(
        wait_until(WAIT, || common::children_of(pid).is_empty().then_some(())).is_some(),
        "WINCH stops the workers"
    );
    assert!(!gone(pid));
    nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGTTIN).unwrap();
    assert!(wait_until(WAIT, || (common::children_of(pid).len() == 1).then_some(())).is_some());
    assert_eq!(common::connect_get(port, "/umask").text(), "22");

    assert!(
        daemon.stop(),
        "TERM stops the daemon; log:\n{}",
        fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(!daemon.pidfile.exists(), "its pid file is removed");
    let text = fs::read_to_string(&log).unwrap();
    assert!(text.contains("Shutting down: Master"), "{text}");
}

#[test]
fn daemon_keeps_redirected_output_with_stdio_inheritance() {
    // The error log defaults to stderr: with -R, a file the launcher's
    // stderr was redirected to keeps receiving it.
    let dir = scratch("daemon-stdio");
    let out = dir.join("output.log");
    let (daemon, code) = Daemon::launch(
        &dir,
        &["-R"],
        Stdio::from(fs::File::create(&out).unwrap()),
        &[],
    );
    assert_eq!(code, 0);
    let pid = daemon.pid();
    let port = Daemon::port(&out);
    assert_eq!(common::connect_get(port, "/print").text(), "printed");
    assert!(fs::read_to_string(&out).unwrap().contains("whoami stderr"));
    let fds = fd_targets(pid);
    let stdin = fds
        .iter()
        .find(|(fd, _)| fd == "0")
        .map(|(_, t)| t.as_str());
    assert_eq!(stdin, Some("/dev/null"), "stdin always goes: {fds:?}");
    assert!(daemon.stop());
    assert!(
        wait_until(WAIT, || {
            let text = fs::read_to_string(&out).ok()?;
            text.contains("Shutting down: Master").then_some(())
        })
        .is_some()
    );
}

#[test]
fn daemon_without_stdio_inheritance_writes_nothing_to_the_launchers_output() {
    let dir = scratch("daemon-quiet");
    let out = dir.join("output.log");
    let log = dir.join("error.log");
    let (daemon, code) = Daemon::launch(
        &dir,
        &["--error-logfile", log.to_str().unwrap()],
        Stdio::from(fs::File::create(&out).unwrap()),
        &[],
    );
    assert_eq!(code, 0);
    let port = Daemon::port(&log);
    assert_eq!(common::connect_get(port, "/print").text(), "printed");
    assert!(daemon.stop());
    assert_eq!(fs::read_to_string(&out).unwrap(), "");
}

#[test]
fn winch_is_ignored_when_not_daemonized() {
    let server = Launch::new(&["--log-level", "debug", "whoami:app"]).start();
    let before = server.wait_workers(1, WAIT);
    server.signal(Signal::SIGWINCH);
    assert!(
        server
            .wait_for(WAIT, |l| l.contains("SIGWINCH ignored. Not daemonized"))
            .is_some()
    );
    assert_eq!(server.workers(), before);
    assert_eq!(server.get("/umask").status, 200);
}

// --- --env --------------------------------------------------------------------

#[test]
fn env_values_reach_the_application() {
    let server = Launch::new(&[
        "-e",
        "GRS_ONE=1",
        "--env",
        "GRS_TWO=x=y",
        "-e",
        "GRS_EMPTY=",
        "whoami:app",
    ])
    .start();
    assert_eq!(server.get("/env/GRS_ONE").text(), "1");
    assert_eq!(server.get("/env/GRS_TWO").text(), "x=y");
    assert_eq!(server.get("/env/GRS_EMPTY").text(), "");
    // Set in the process environment, not only in Python's copy.
    assert_eq!(server.get("/cenv/GRS_TWO").text(), "x=y");
}

#[test]
fn env_value_without_equals_sign_is_refused() {
    let (code, log) = run_to_exit(Launch::new(&["-e", "GRS_NOEQUALS", "whoami:app"]));
    assert_eq!(code, 1, "{log}");
    assert_eq!(
        log.trim(),
        "Error: environment setting 'GRS_NOEQUALS' invalid"
    );
}

// --- --user, --group, --initgroups ---------------------------------------------

#[test]
fn workers_run_as_user_and_group_while_the_master_stays_root() {
    require_root();
    let (user, group) = nobody();
    let (uid, gid) = (user.uid.as_raw(), user.gid.as_raw());
    let dir = scratch("owner");
    let sock = dir.join("app.sock");
    let (error_log, access_log) = (dir.join("error.log"), dir.join("access.log"));
    let server = Launch::new(&[
        "-u",
        "nobody",
        "-g",
        &group.name,
        "--worker-tmp-dir",
        dir.to_str().unwrap(),
        "-b",
        &format!("unix:{}", sock.display()),
        "--error-logfile",
        error_log.to_str().unwrap(),
        "--access-logfile",
        access_log.to_str().unwrap(),
        "whoami:app",
    ])
    .start_with_log_file(&error_log);
    let worker = server.wait_workers(1, WAIT)[0];
    assert_eq!(server.get("/id").text(), format!("{uid} {gid} {gid}"));
    assert_eq!(status_ids(worker, "Uid:"), [uid; 4]);
    assert_eq!(status_ids(worker, "Gid:"), [gid; 4]);
    assert_eq!(status_ids(worker, "Groups:"), [gid], "no root group left");
    assert_eq!(status_ids(server.pid(), "Uid:"), [0; 4]);
    assert_eq!(status_ids(server.pid(), "Gid:"), [0; 4]);
    // The heartbeat file the master made is the worker's, so it can touch it.
    let beat = heartbeat_in(worker, &dir).expect("heartbeat file in --worker-tmp-dir");
    assert_eq!((beat.uid(), beat.gid()), (uid, gid));
    // The unix socket file is handed over as in gunicorn.
    let meta = fs::metadata(&sock).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (uid, gid));
    // So are the log files, which the worker reopens on USR1.
    for log in [&error_log, &access_log] {
        let meta = fs::metadata(log).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (uid, gid), "{}", log.display());
    }
}

#[test]
fn numeric_ids_initgroups_and_a_preloaded_app() {
    require_root();
    let (user, _) = nobody();
    let (uid, gid) = (user.uid.as_raw(), user.gid.as_raw());
    let name = std::ffi::CString::new(user.name.clone()).unwrap();
    let mut expected: Vec<u32> = nix::unistd::getgrouplist(&name, user.gid)
        .unwrap()
        .iter()
        .map(|g| g.as_raw())
        .collect();
    expected.sort_unstable();
    expected.dedup();
    let server = Launch::new(&[
        "-u",
        &uid.to_string(),
        "-g",
        &gid.to_string(),
        "--initgroups",
        "--preload",
        "whoami:app",
    ])
    .start();
    let worker = server.wait_workers(1, WAIT)[0];
    // Answering means it has switched (before loading the app).
    let groups = expected.iter().map(u32::to_string).collect::<Vec<_>>();
    assert_eq!(
        server.get("/id").text(),
        format!("{uid} {gid} {}", groups.join(","))
    );
    assert_eq!(status_ids(worker, "Uid:"), [uid; 4]);
    assert_eq!(status_ids(worker, "Gid:"), [gid; 4]);
    let mut groups = status_ids(worker, "Groups:");
    groups.sort_unstable();
    assert_eq!(groups, expected);
}

#[test]
fn unknown_user_or_group_is_refused_before_starting() {
    for (flag, name, what) in [
        ("-u", "grs-no-such-user", "user"),
        ("--group", "grs-no-such-group", "group"),
    ] {
        let (code, log) = run_to_exit(Launch::new(&[flag, name, "whoami:app"]));
        assert_eq!(code, 1, "{log}");
        assert_eq!(log.trim(), format!("Error: No such {what}: '{name}'"));
    }
}

// --- --umask --------------------------------------------------------------------

#[test]
fn umask_sets_the_unix_socket_mode() {
    let dir = scratch("umask");
    for (i, (mask, mode)) in [
        ("0o077", 0o700),
        ("022", 0o755),
        ("18", 0o755),
        ("0", 0o777),
    ]
    .into_iter()
    .enumerate()
    {
        let sock = dir.join(format!("app{i}.sock"));
        let server = Launch::new(&[
            "-m",
            mask,
            "-b",
            &format!("unix:{}", sock.display()),
            "whoami:app",
        ])
        .start();
        let got = fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
        assert_eq!(got, mode, "-m {mask}: {got:o}");
        // The process umask is left as it was (only a daemon sets 022).
        let own = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
        nix::sys::stat::umask(own);
        assert_eq!(server.get("/umask").text(), format!("{:o}", own.bits()));
    }
}

// --- --worker-tmp-dir --------------------------------------------------------------

#[test]
fn heartbeat_files_go_to_the_worker_tmp_dir() {
    let dir = scratch("worker-tmp");
    let server = Launch::new(&["--worker-tmp-dir", dir.to_str().unwrap(), "whoami:app"]).start();
    let worker = server.wait_workers(1, WAIT)[0];
    assert!(
        heartbeat_in(worker, &dir).is_some(),
        "{:?}",
        fd_targets(worker)
    );
    // Without it, the system's temporary directory.
    let server = Launch::new(&["whoami:app"]).start();
    let worker = server.wait_workers(1, WAIT)[0];
    assert!(heartbeat_in(worker, &dir).is_none());
    assert!(heartbeat_in(worker, &std::env::temp_dir()).is_some());
}

#[test]
fn missing_worker_tmp_dir_stops_the_master() {
    let dir = scratch("worker-tmp-missing").join("not-there");
    let (code, log) = run_to_exit(Launch::new(&[
        "--worker-tmp-dir",
        dir.to_str().unwrap(),
        "whoami:app",
    ]));
    assert_eq!(code, 255, "{log}");
    assert!(
        log.contains(&format!(
            "[ERROR] {} doesn't exist. Can't create workertmp.",
            dir.display()
        )),
        "{log}"
    );
}

// --- --name and process titles ------------------------------------------------------

#[test]
fn titles_name_the_master_and_the_workers() {
    let server = Launch::new(&["-n", "shop", "-w", "2", "whoami:app"])
        .env("GRS_TITLE_PROBE", "still here")
        .start();
    let workers = server.wait_workers(2, WAIT);
    let master = server.pid();
    assert_eq!(
        title(master, "master").as_deref(),
        Some("gunicorn-rs: master [shop]")
    );
    assert_eq!(comm(master), "gunicorn-rs: ma");
    for w in workers {
        assert_eq!(
            title(w, "worker").as_deref(),
            Some("gunicorn-rs: worker [shop]")
        );
        // Set just before the command line.
        assert_eq!(comm(w), "gunicorn-rs: wo");
    }
    // The arguments and the environment were moved out of the way first:
    // Python's argv, os.environ and the C library's getenv are intact.
    let argv = server.get("/argv").text();
    assert!(
        argv.ends_with("-n\nshop\n-w\n2\nwhoami:app\n-b\n127.0.0.1:0"),
        "{argv:?}"
    );
    assert_eq!(server.get("/env/GRS_TITLE_PROBE").text(), "still here");
    assert_eq!(server.get("/cenv/GRS_TITLE_PROBE").text(), "still here");
}

#[test]
fn without_a_name_titles_use_the_application() {
    let server = Launch::new(&["whoami:app"]).start();
    let worker = server.wait_workers(1, WAIT)[0];
    assert_eq!(
        title(worker, "worker").as_deref(),
        Some("gunicorn-rs: worker [whoami:app]")
    );
    assert_eq!(
        title(server.pid(), "master").as_deref(),
        Some("gunicorn-rs: master [whoami:app]")
    );
}

// --- --reuse-port ----------------------------------------------------------------

#[test]
fn reuse_port_lets_two_servers_share_a_port() {
    let first = Launch::new(&["--reuse-port", "whoami:app"]).start();
    let addr = format!("127.0.0.1:{}", first.port);
    // Without SO_REUSEPORT on both sockets the second bind fails.
    let second = Launch::new(&["--reuse-port", "-b", &addr, "whoami:app"])
        .no_bind()
        .start();
    assert_eq!(second.port, first.port);
    assert_eq!(second.get("/umask").status, 200);
}

/// `pid`'s pipes, each as (target, open for reading).
fn pipe_ends(pid: i32) -> Vec<(String, bool)> {
    fd_targets(pid)
        .into_iter()
        .filter(|(_, target)| target.starts_with("pipe:"))
        .filter_map(|(fd, target)| {
            let link = fs::symlink_metadata(format!("/proc/{pid}/fd/{fd}")).ok()?;
            Some((target, link.permissions().mode() & 0o400 != 0))
        })
        .collect()
}

#[test]
fn workers_hold_no_read_end_of_the_masters_own_pipes() {
    let server = Launch::new(&["-w", "2", "whoami:app"]).start();
    let workers = server.wait_workers(2, WAIT);
    // The master's own pipes (its signal pipe, the workers' notice pipe)
    // are those it holds both ends of.
    let master = pipe_ends(server.pid());
    let own: Vec<&String> = master
        .iter()
        .filter(|(t, read)| *read && master.iter().any(|(u, r)| u == t && !r))
        .map(|(t, _)| t)
        .collect();
    assert!(own.len() >= 2, "{master:?}");
    let master_reads = |worker: i32| -> Vec<(String, bool)> {
        pipe_ends(worker)
            .into_iter()
            .filter(|(t, read)| *read && own.contains(&t))
            .collect()
    };
    for worker in workers {
        // A worker just forked still has the master's descriptors until it
        // has set itself up; once serving, it must have none.
        let serving = wait_until(WAIT, || master_reads(worker).is_empty().then_some(()));
        assert!(
            serving.is_some(),
            "worker {worker} reads the master's pipes {:?}: {:?}",
            master_reads(worker),
            fd_targets(worker)
        );
    }
}

#[test]
fn log_files_reached_through_a_symlink_are_not_handed_to_the_worker_user() {
    require_root();
    let (_, group) = nobody();
    let dir = scratch("owner-symlink");
    // Someone who may write in the log directory (the worker's user, say)
    // made the log names point at files that are not logs.
    let (error_target, access_target) = (dir.join("not-a-log-1"), dir.join("not-a-log-2"));
    let (error_log, access_log) = (dir.join("error.log"), dir.join("access.log"));
    for (target, link) in [(&error_target, &error_log), (&access_target, &access_log)] {
        fs::write(target, "").unwrap();
        std::os::unix::fs::symlink(target, link).unwrap();
    }
    let server = Launch::new(&[
        "-u",
        "nobody",
        "-g",
        &group.name,
        "--error-logfile",
        error_log.to_str().unwrap(),
        "--access-logfile",
        access_log.to_str().unwrap(),
        "whoami:app",
    ])
    .start_with_log_file(&error_log);
    server.wait_workers(1, WAIT);
    assert_eq!(server.get("/id").status, 200);
    for target in [&error_target, &access_target] {
        let meta = fs::metadata(target).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (0, 0), "{}", target.display());
    }
}
