//! systemd's side of the tests that run the server as systemd would
//! (tests/systemd.rs, tests/deploy_units.rs): its tools from Debian's
//! `systemd` package, and the notifications the master sends to
//! `$NOTIFY_SOCKET`.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

use super::WAIT;

/// A program of Debian's `systemd` package (.ci/run installs it), found on
/// `PATH` or where the package puts its helpers.
pub fn tool(name: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    let dirs = on_path.into_iter().chain(
        ["/usr/bin", "/lib/systemd", "/usr/lib/systemd"]
            .into_iter()
            .map(PathBuf::from),
    );
    for dir in dirs {
        let path = dir.join(name);
        if path.exists() {
            return path;
        }
    }
    panic!(
        "{name} is not installed: install the `systemd` package \
         (.ci/run does: apt-get install --no-install-recommends systemd)"
    )
}

/// Read one notification (bounded).
pub fn recv(sock: &UnixDatagram) -> String {
    sock.set_nonblocking(false).unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = [0u8; 1024];
    let n = sock
        .recv(&mut buf)
        .expect("a notification within the bound");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Every notification already queued.
pub fn drain(sock: &UnixDatagram) -> Vec<String> {
    sock.set_nonblocking(true).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = sock.recv(&mut buf) {
        out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    out
}

/// `msg` is the master's first READY=1 (gunicorn's text).
pub fn assert_ready(msg: &str) {
    assert!(
        msg.starts_with("READY=1\nSTATUS=Gunicorn arbiter booted\nMONOTONIC_USEC="),
        "{msg:?}"
    );
}
