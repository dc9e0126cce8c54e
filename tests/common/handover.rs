//! Helpers for the tests where one master hands its sockets to another
//! (tests/upgrade.rs, tests/systemd.rs): pid files, processes that are not
//! the test's children, and requests over unix sockets.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{WAIT, wait_until};

/// The pid a pid file names, if it exists and parses.
pub fn read_pidfile(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `PATH.2`, the pid file of a re-executed master.
pub fn dot2(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".2");
    PathBuf::from(name)
}

/// The process has exited and been reaped (no /proc entry).
pub fn reaped(pid: i32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// The process has exited: gone, or a zombie its parent has not reaped yet
/// (a master re-parented to init is reaped by init, in its own time).
pub fn exited(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            stat.rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next())
                == Some("Z")
        }
    }
}

/// Wait (bounded) until `pid` has exited; panics with `context` if not.
pub fn wait_exited(pid: i32, context: impl Fn() -> String) {
    if wait_until(WAIT, || exited(pid).then_some(())).is_none() {
        panic!("pid {pid} did not exit; {}", context());
    }
}

/// `GET target` over the unix socket at `path`: (status, body).
pub fn unix_get(path: &Path, target: &str) -> Result<(u16, String), String> {
    let mut s =
        UnixStream::connect(path).map_err(|e| format!("connect {}: {e}", path.display()))?;
    s.set_read_timeout(Some(WAIT)).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(WAIT)).map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no response head in {text:?}"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    Ok((status, body.to_owned()))
}

/// Retry `f` a little while it fails (a listener that is about to appear).
pub fn eventually<T>(mut f: impl FnMut() -> Result<T, String>) -> T {
    let mut last = String::new();
    let got = wait_until(WAIT, || match f() {
        Ok(v) => Some(v),
        Err(e) => {
            last = e;
            std::thread::sleep(Duration::from_millis(25));
            None
        }
    });
    got.unwrap_or_else(|| panic!("still failing after {WAIT:?}: {last}"))
}
