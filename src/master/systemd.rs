//! `sd_notify`: telling systemd (or any supervisor listening on
//! `$NOTIFY_SOCKET`) how the master is doing.
//!
//! gunicorn sends one message, `READY=1` with `STATUS=Gunicorn arbiter
//! booted`, once the listeners are up; gunicorn-rs sends it once the first
//! worker serves, brackets a HUP reload with `RELOADING=1` ... `READY=1`,
//! and sends `STOPPING=1` when it shuts down for good, or `MAINPID=` naming
//! the new master when it stops at the end of a USR2 upgrade. Each message
//! carries `MONOTONIC_USEC`, as gunicorn's do. A path or an abstract name
//! (`@name`) is accepted; without `NOTIFY_SOCKET` nothing is sent. Failures
//! are only logged (debug): the server runs the same with or without a
//! supervisor.

use std::ffi::OsStr;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

use nix::time::{ClockId, clock_gettime};

/// Sent once the first worker has loaded the application, so a unit is
/// "started" only when it can answer (gunicorn sends it before forking any
/// worker); gunicorn's text, so tools that read it agree.
pub const READY: &str = "READY=1\nSTATUS=Gunicorn arbiter booted";
/// Sent on HUP (what `Type=notify-reload` expects); `RELOADED` or
/// `RELOAD_FAILED` follows.
pub const RELOADING: &str = "RELOADING=1\nSTATUS=Reloading";
/// The reload is done: every worker runs the new code.
pub const RELOADED: &str = "READY=1\nSTATUS=Reloaded";
/// The new workers cannot boot; the old ones serve on.
pub const RELOAD_FAILED: &str =
    "READY=1\nSTATUS=Reload failed: new workers cannot boot; the previous ones serve";
/// Sent when the master begins its final shutdown.
pub const STOPPING: &str = "STOPPING=1";

/// Sent by the old master of a USR2 upgrade when it stops: the new master
/// (its child, in the same service) is now the service's main process.
pub fn main_pid(pid: i32) -> String {
    format!("MAINPID={pid}")
}

/// Send `state` to `$NOTIFY_SOCKET`, if set.
pub fn notify(state: &str) {
    let Some(addr) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(e) = send(&addr, state) {
        tracing::debug!(
            "Cannot notify the service manager at {}: {e}",
            addr.to_string_lossy()
        );
    }
}

fn send(addr: &OsStr, state: &str) -> io::Result<()> {
    let bytes = addr.as_bytes();
    let target = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None => SocketAddr::from_pathname(addr)?,
    };
    let usec = clock_gettime(ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() * 1_000_000 + t.tv_nsec() / 1_000)
        .map_err(io::Error::from)?;
    let message = format!("{state}\nMONOTONIC_USEC={usec}");
    // Unbound and close-on-exec: a worker or a re-exec never inherits it.
    let sock = UnixDatagram::unbound()?;
    sock.send_to_addr(message.as_bytes(), &target)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn recv(sock: &UnixDatagram) -> String {
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn sends_to_a_path_and_to_an_abstract_name() {
        let path = std::env::temp_dir().join(format!("grs-notify-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).unwrap();
        send(path.as_os_str(), READY).unwrap();
        let got = recv(&listener);
        assert!(
            got.starts_with("READY=1\nSTATUS=Gunicorn arbiter booted\nMONOTONIC_USEC="),
            "{got:?}"
        );
        let usec: u64 = got.rsplit('=').next().unwrap().parse().unwrap();
        assert!(usec > 0);
        std::fs::remove_file(&path).unwrap();

        let name = format!("grs-notify-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        send(OsStr::new(&format!("@{name}")), STOPPING).unwrap();
        assert!(recv(&listener).starts_with("STOPPING=1\nMONOTONIC_USEC="));
    }

    #[test]
    fn nobody_listening_is_an_error_not_a_panic() {
        let path = std::env::temp_dir().join("grs-notify-nobody-listens-here");
        assert!(send(path.as_os_str(), READY).is_err());
        assert!(send(OsStr::new(""), READY).is_err());
    }
}
