//! systemd integration through the real binary: socket activation
//! (`LISTEN_PID`/`LISTEN_FDS`), with a launcher written here and with
//! systemd's own `systemd-socket-activate`, and `sd_notify` messages on
//! `$NOTIFY_SOCKET`.

mod common;

use std::ffi::c_void;
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram, UnixListener};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use common::handover::{dot2, eventually, read_pidfile, unix_get, wait_exited};
use common::sd::{self, assert_ready, drain, recv};
use common::{
    BIN, Launch, Server, Signal, WAIT, apps_dir, children_of, connect_get, scratch, wait_until,
};
use nix::sys::signal::kill;
use nix::sys::socket::{self, SockaddrIn};
use nix::unistd::Pid;

/// Most descriptors the launcher passes (it must not allocate after fork).
const MAX_FDS: usize = 8;

/// `BIN args` started as systemd starts a socket-activated service: `fds`
/// at descriptors 3, 4, ... and `LISTEN_PID`/`LISTEN_FDS` naming the
/// process. A shell sets the variables (its `$$` is the pid the server
/// keeps), then executes the server in its place.
fn activated(fds: &[RawFd], args: &[&str]) -> Command {
    assert!(fds.len() <= MAX_FDS);
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(format!(
            "export LISTEN_PID=$$ LISTEN_FDS={}; exec \"$0\" \"$@\"",
            fds.len()
        ))
        .arg(BIN)
        .args(args)
        .current_dir(apps_dir())
        .env_remove("VIRTUAL_ENV")
        .env_remove("GUNICORN_CMD_ARGS")
        .env_remove("WEB_CONCURRENCY")
        .env_remove("PORT")
        .env_remove("NOTIFY_SOCKET");
    let mut list = [0; MAX_FDS];
    list[..fds.len()].copy_from_slice(fds);
    let n = fds.len();
    // SAFETY: the closure runs in the forked child before exec. It only
    // calls fcntl and dup2, which are async-signal-safe, and allocates
    // nothing (the descriptor list is a copied array).
    unsafe { cmd.pre_exec(move || place_fds(&list[..n])) };
    cmd
}

/// Put `fds` at 3, 4, ...: copies above the range first, so no target
/// overwrites a descriptor not yet moved. dup2 clears close-on-exec.
fn place_fds(fds: &[RawFd]) -> io::Result<()> {
    let mut copies = [0; MAX_FDS];
    for (copy, &fd) in copies.iter_mut().zip(fds) {
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) on a descriptor number; a bad one
        // gives EBADF. The copy closes on exec.
        *copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 64) };
        if *copy < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    for (target, &copy) in (3..).zip(&copies[..fds.len()]) {
        // SAFETY: dup2 edits the child's descriptor table just before exec;
        // whatever `target` held there belongs to nothing that runs again.
        if unsafe { libc::dup2(copy, target) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The accept-queue length a listening TCP socket was given (`listen`'s
/// backlog): Linux reports it as `tcpi_sacked` for a listener.
fn backlog_of(fd: BorrowedFd<'_>) -> u32 {
    // SAFETY: tcp_info is plain integers, so all-zero is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`, which is
    // that large, and stores the length written in `len`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast::<c_void>(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "TCP_INFO: {}", io::Error::last_os_error());
    info.tcpi_sacked
}

/// A TCP socket bound to a free port on 127.0.0.1 but not listening yet.
fn bound_not_listening() -> (OwnedFd, u16) {
    let fd = common::tcp_socket();
    socket::bind(fd.as_raw_fd(), &SockaddrIn::new(127, 0, 0, 1, 0)).unwrap();
    let addr: SockaddrIn = socket::getsockname(fd.as_raw_fd()).unwrap();
    (fd, addr.port())
}

fn listening_line(server: &Server) -> String {
    let pid = server.pid();
    server
        .wait_for(WAIT, |l| {
            l.contains("Listening at: ") && l.contains(&format!("({pid})"))
        })
        .unwrap_or_else(|| panic!("not listening; log:\n{}", server.log_text()))
}

#[test]
fn tcp_sockets_from_systemd_replace_bind_and_keep_their_backlog() {
    let dir = scratch("sd-tcp");
    let listening = TcpListener::bind("127.0.0.1:0").unwrap();
    let port_a = listening.local_addr().unwrap().port();
    let backlog_before = backlog_of(listening.as_fd());
    assert_ne!(backlog_before, 50);
    let (bound, port_b) = bound_not_listening();
    let ignored = dir.join("ignored.sock");
    let ignored_bind = format!("unix:{}", ignored.display());
    let cmd = activated(
        &[listening.as_raw_fd(), bound.as_raw_fd()],
        &["--backlog", "50", "-b", &ignored_bind, "handover:app"],
    );
    let mut server = Launch::command(cmd).start();

    let line = listening_line(&server);
    let want = format!(
        "Listening at: http://127.0.0.1:{port_a},http://127.0.0.1:{port_b} ({})",
        server.pid()
    );
    assert!(line.ends_with(&want), "{line}");
    assert!(!ignored.exists(), "--bind was bound too");
    // Listening already: not listen()ed again. Bound only: listened with --backlog.
    assert_eq!(backlog_of(listening.as_fd()), backlog_before);
    assert_eq!(backlog_of(bound.as_fd()), 50);

    server.wait_workers(1, WAIT);
    assert_eq!(connect_get(port_a, "/pid").status, 200);
    assert_eq!(connect_get(port_b, "/pid").status, 200);
    // The variables were for the master alone.
    for var in ["LISTEN_PID", "LISTEN_FDS"] {
        assert_eq!(server.get(&format!("/env?name={var}")).text(), "<unset>");
    }
    server.signal(Signal::SIGTERM);
    assert!(server.wait_exit(WAIT).expect("exits").success());
    // systemd's sockets go on listening (it queues connections until the
    // next start): only our copies were closed.
    for port in [port_a, port_b] {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
            "port {port} stopped listening"
        );
    }
}

#[test]
fn a_unix_socket_from_systemd_is_left_in_place_at_exit() {
    let dir = scratch("sd-unix");
    let path = dir.join("app.sock");
    let unix = UnixListener::bind(&path).unwrap();
    let cmd = activated(&[unix.as_raw_fd()], &["handover:app"]);
    let mut server = Launch::command(cmd).spawn();
    let line = listening_line(&server);
    assert!(
        line.ends_with(&format!(
            "Listening at: unix:{} ({})",
            path.display(),
            server.pid()
        )),
        "{line}"
    );
    let (status, body) = eventually(|| unix_get(&path, "/ppid"));
    assert_eq!((status, body), (200, server.pid().to_string()));
    server.signal(Signal::SIGTERM);
    assert!(server.wait_exit(WAIT).expect("exits").success());
    assert!(path.exists(), "the socket file systemd made was removed");
}

#[test]
fn usr2_hands_systemd_sockets_on_as_systemd_does() {
    let dir = scratch("sd-usr2");
    let pid_arg = dir.join("app.pid").to_string_lossy().into_owned();
    let pidfile = Path::new(&pid_arg);
    let path = dir.join("app.sock");
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let unix = UnixListener::bind(&path).unwrap();
    let cmd = activated(
        &[tcp.as_raw_fd(), unix.as_raw_fd()],
        &["--log-level", "debug", "--pid", &pid_arg, "handover:app"],
    );
    let mut server = Launch::command(cmd).start();
    server.wait_workers(1, WAIT);
    server.signal(Signal::SIGUSR2);
    let new = wait_until(WAIT, || read_pidfile(&dot2(pidfile)))
        .unwrap_or_else(|| panic!("no new master; log:\n{}", server.log_text()));
    // It got them as systemd passes them, at 3 and 4, in order.
    let from_systemd = format!("[{new}] [DEBUG] Using 2 socket(s) inherited from systemd");
    assert!(
        server
            .wait_for(WAIT, |l| l.contains(&from_systemd))
            .is_some(),
        "{}",
        server.log_text()
    );
    let port = server.port;
    let listening = format!(
        "Listening at: http://127.0.0.1:{port},unix:{} ({new})",
        path.display()
    );
    assert!(
        server.wait_for(WAIT, |l| l.contains(&listening)).is_some(),
        "{}",
        server.log_text()
    );

    server.signal(Signal::SIGTERM);
    assert!(server.wait_exit(WAIT).expect("old master exits").success());
    let promoted = format!("[{new}] [INFO] Master has been promoted.");
    assert!(server.wait_for(WAIT, |l| l.contains(&promoted)).is_some());
    let (status, ppid) = eventually(|| unix_get(&path, "/ppid"));
    assert_eq!((status, ppid), (200, new.to_string()));
    assert_eq!(connect_get(port, "/ppid").text(), new.to_string());
    assert_eq!(server.get("/env?name=LISTEN_FDS").text(), "<unset>");
    assert_eq!(server.get("/env?name=GUNICORN_FD").text(), "<unset>");

    kill(Pid::from_raw(new), Signal::SIGTERM).unwrap();
    wait_exited(new, || server.log_text());
    assert!(path.exists(), "systemd's socket file was removed");
}

#[test]
fn systemd_socket_activate_starts_the_server_on_its_socket() {
    let dir = scratch("sd-activate");
    let path = dir.join("app.sock");
    let mut cmd = Command::new(sd::tool("systemd-socket-activate"));
    cmd.arg("-l")
        .arg(&path)
        .args([BIN, "-w", "1", "handover:app"])
        .current_dir(apps_dir());
    let mut server = Launch::command(cmd).spawn();
    // It listens first and executes the server on the first connection,
    // which then waits in the queue for a worker.
    let listened = wait_until(WAIT, || path.exists().then_some(()));
    assert!(listened.is_some(), "no socket; log:\n{}", server.log_text());
    let (status, ppid) = eventually(|| unix_get(&path, "/ppid"));
    assert_eq!((status, ppid), (200, server.pid().to_string()));
    let line = listening_line(&server);
    assert!(
        line.contains(&format!("Listening at: unix:{}", path.display())),
        "{line}"
    );
    let (_, env) = unix_get(&path, "/env?name=LISTEN_FDS").unwrap();
    assert_eq!(env, "<unset>");
    server.signal(Signal::SIGTERM);
    assert!(server.wait_exit(WAIT).expect("exits").success());
    assert!(path.exists(), "the activator's socket file was removed");
}

#[test]
fn notify_socket_hears_ready_then_stopping() {
    let dir = scratch("sd-notify");
    let path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    let mut server = Launch::new(&["handover:app"])
        .env("NOTIFY_SOCKET", &path.to_string_lossy())
        .start();
    assert_ready(&recv(&sock));
    assert_eq!(server.get("/pid").status, 200);
    server.signal(Signal::SIGTERM);
    let msg = recv(&sock);
    assert!(msg.starts_with("STOPPING=1\nMONOTONIC_USEC="), "{msg:?}");
    assert!(server.wait_exit(WAIT).expect("exits").success());
    assert_eq!(drain(&sock), Vec::<String>::new());
}

/// A lifecycle.py server whose workers take a while to import the app and
/// log "imported PID" to `dir/events` once they have.
fn slow_booting(dir: &Path, workers: &str, notify: &Path) -> common::Server {
    Launch::new(&["-w", workers, "lifecycle:app"])
        .env("NOTIFY_SOCKET", &notify.to_string_lossy())
        .env("GRS_EVENTS", &dir.join("events").to_string_lossy())
        .env("GRS_IMPORT_DELAY", "0.5")
        .start()
}

/// Pids that logged "imported" so far.
fn imported(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("events"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("imported ").map(str::to_owned))
        .collect()
}

#[test]
fn notify_socket_hears_ready_only_once_a_worker_serves() {
    let dir = scratch("sd-notify-late");
    let path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    let server = slow_booting(&dir, "1", &path);
    assert_ready(&recv(&sock));
    assert_eq!(imported(&dir).len(), 1, "READY before the app was loaded");
    assert_eq!(server.get("/pid").status, 200);
}

#[test]
fn hup_is_announced_as_reloading_then_ready_once_the_new_workers_serve() {
    let dir = scratch("sd-notify-hup");
    let path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    let server = slow_booting(&dir, "2", &path);
    assert_ready(&recv(&sock));
    server.wait_workers(2, WAIT);
    assert!(wait_until(WAIT, || (imported(&dir).len() == 2).then_some(())).is_some());
    server.signal(Signal::SIGHUP);
    let msg = recv(&sock);
    assert!(
        msg.starts_with("RELOADING=1\nSTATUS=Reloading\nMONOTONIC_USEC="),
        "{msg:?}"
    );
    let msg = recv(&sock);
    assert!(msg.starts_with("READY=1\nSTATUS=Reloaded\n"), "{msg:?}");
    // Not before both new workers had loaded the app.
    assert_eq!(imported(&dir).len(), 4, "{}", server.log_text());
}

#[test]
fn notify_socket_may_be_an_abstract_name() {
    let name = format!("grs-test-notify-{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let sock = UnixDatagram::bind_addr(&addr).unwrap();
    let mut server = Launch::new(&["handover:app"])
        .env("NOTIFY_SOCKET", &format!("@{name}"))
        .start();
    assert_ready(&recv(&sock));
    server.signal(Signal::SIGTERM);
    assert!(recv(&sock).starts_with("STOPPING=1\n"));
    assert!(server.wait_exit(WAIT).expect("exits").success());
}

#[test]
fn an_upgrade_is_not_a_stop() {
    let dir = scratch("sd-notify-usr2");
    let path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    let pid_arg = dir.join("app.pid").to_string_lossy().into_owned();
    let mut server = Launch::new(&["--pid", &pid_arg, "handover:app"])
        .env("NOTIFY_SOCKET", &path.to_string_lossy())
        .start();
    assert_ready(&recv(&sock));
    server.wait_workers(1, WAIT);
    server.signal(Signal::SIGUSR2);
    // The new master says it is ready too.
    assert_ready(&recv(&sock));
    let new = wait_until(WAIT, || read_pidfile(&dot2(Path::new(&pid_arg))))
        .unwrap_or_else(|| panic!("no new master; log:\n{}", server.log_text()));
    wait_until(WAIT, || (children_of(new).len() == 1).then_some(()));

    // The old master leaves without STOPPING=1: the service goes on, with
    // the new master as its main process (systemd would otherwise stop the
    // service once the process it started is gone).
    server.signal(Signal::SIGTERM);
    let msg = recv(&sock);
    assert!(msg.starts_with(&format!("MAINPID={new}\n")), "{msg:?}");
    assert!(server.wait_exit(WAIT).expect("old master exits").success());
    let promoted = format!("[{new}] [INFO] Master has been promoted.");
    assert!(server.wait_for(WAIT, |l| l.contains(&promoted)).is_some());
    kill(Pid::from_raw(new), Signal::SIGTERM).unwrap();
    wait_exited(new, || server.log_text());
    let rest = drain(&sock);
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert!(rest[0].starts_with("STOPPING=1\n"), "{rest:?}");
}
