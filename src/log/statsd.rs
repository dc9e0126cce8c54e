//! StatsD metrics with gunicorn's names and wire format
//! (`gunicorn/instrument/statsd.py`):
//!
//! - per request, from the worker: `gunicorn.request.duration:MS|ms`,
//!   `gunicorn.requests:1|c|@1.0`, `gunicorn.request.status.CODE:1|c|@1.0`;
//! - from the master: `gunicorn.workers:N|g` when the number of active
//!   workers changes, `gunicorn.backlog:N|h` with `--enable-backlog-metric`;
//! - per error-log call, whatever `--log-level` hides:
//!   `gunicorn.log.{critical,error,warning,exception}:1|c|@1.0`.
//!
//! Every name gets the `--statsd-prefix` in front and, with
//! `--dogstatsd-tags`, `|#TAGS` at the end. The socket is connected once
//! in the master ([`init`]) and inherited by the workers. Sends never
//! block: the socket is non-blocking, and a datagram that cannot go is
//! dropped with a warning, as gunicorn logs "Error sending message to
//! statsd". When StatsD is off, each entry point is one relaxed atomic load.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::config::{LogOptions, StatsdAddr, statsd_prefix};

/// The target of the error-log lines this module writes itself; they are
/// not counted as `gunicorn.log.warning` (gunicorn bypasses its counting
/// logger for them too).
pub(super) const TARGET: &str = "gunicorn.statsd";

static ENABLED: AtomicBool = AtomicBool::new(false);
static CLIENT: Mutex<Option<Client>> = Mutex::new(None);

/// A connected datagram socket with the name prefix and tag suffix.
struct Client {
    sock: Option<Sock>,
    prefix: String,
    /// `|#tags`, or empty.
    suffix: String,
    buf: Vec<u8>,
}

enum Sock {
    Udp(UdpSocket),
    Unix(UnixDatagram),
}

impl Sock {
    fn send(&self, datagram: &[u8]) -> io::Result<usize> {
        match self {
            Sock::Udp(s) => s.send(datagram),
            Sock::Unix(s) => s.send(datagram),
        }
    }
}

/// Set up (or, on reload, replace or remove) the StatsD client. A socket
/// that cannot be made or connected means no metrics, silently, as in
/// gunicorn.
pub fn init(opts: &LogOptions) {
    let Some(addr) = &opts.statsd_host else {
        ENABLED.store(false, Ordering::Relaxed);
        *lock() = None;
        return;
    };
    let suffix = if opts.dogstatsd_tags.is_empty() {
        String::new()
    } else {
        format!("|#{}", opts.dogstatsd_tags)
    };
    *lock() = Some(Client {
        sock: connect(addr),
        prefix: statsd_prefix(&opts.statsd_prefix),
        suffix,
        buf: Vec::with_capacity(128),
    });
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether metrics are being sent.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The metrics of one finished request (gunicorn's `Statsd.access`).
#[inline]
pub fn request(status: u16, request_time: Duration) {
    if !enabled() {
        return;
    }
    // gunicorn: `seconds * 1000 + float(microseconds) / 10 ** 3`.
    let ms =
        (request_time.as_secs() * 1000) as f64 + f64::from(request_time.subsec_micros()) / 1000.0;
    send_all(&[
        ("gunicorn.request.duration", Value::Float(ms), "|ms"),
        ("gunicorn.requests", Value::Int(1), "|c|@1.0"),
        ("gunicorn.request.status.", Value::Status(status), "|c|@1.0"),
    ]);
}

/// A gauge (`gunicorn.workers`).
pub fn gauge(name: &str, value: i64) {
    if enabled() {
        send_all(&[(name, Value::Int(value), "|g")]);
    }
}

/// A histogram (`gunicorn.backlog`).
pub fn histogram(name: &str, value: i64) {
    if enabled() {
        send_all(&[(name, Value::Int(value), "|h")]);
    }
}

/// A counter incremented by one.
pub fn increment(name: &str) {
    if enabled() {
        send_all(&[(name, Value::Int(1), "|c|@1.0")]);
    }
}

/// Connections waiting in a TCP listener's accept queue (Linux
/// `tcpi_unacked`, as gunicorn reads it); 0 when it cannot be read.
#[cfg(target_os = "linux")]
pub fn listen_backlog(fd: std::os::fd::BorrowedFd<'_>) -> i64 {
    use std::os::fd::AsRawFd;
    // SAFETY: `tcp_info` is plain old data, valid when zeroed.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` and `len` are live for the call and `len` is the
    // size of `info`; the kernel writes at most `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        i64::from(info.tcpi_unacked)
    } else {
        0
    }
}

/// Not measurable off Linux: gunicorn reports -1, so nothing is sent.
#[cfg(not(target_os = "linux"))]
pub fn listen_backlog(_fd: std::os::fd::BorrowedFd<'_>) -> i64 {
    -1
}

enum Value {
    Int(i64),
    /// Written as Python's `str(float)`.
    Float(f64),
    /// Appended to the name (`gunicorn.request.status.404`), value 1.
    Status(u16),
}

fn send_all(metrics: &[(&str, Value, &str)]) {
    let mut failures = Vec::new();
    {
        let mut guard = lock();
        let Some(client) = guard.as_mut() else {
            return;
        };
        for (name, value, kind) in metrics {
            let Client {
                sock,
                prefix,
                suffix,
                buf,
            } = client;
            buf.clear();
            buf.extend_from_slice(prefix.as_bytes());
            buf.extend_from_slice(name.as_bytes());
            let _ = match value {
                Value::Int(n) => write!(buf, ":{n}"),
                Value::Float(x) => {
                    let _ = write!(buf, ":");
                    write_py_float(buf, *x);
                    Ok(())
                }
                Value::Status(code) => write!(buf, "{code}:1"),
            };
            buf.extend_from_slice(kind.as_bytes());
            buf.extend_from_slice(suffix.as_bytes());
            if let Some(sock) = sock
                && let Err(e) = sock.send(buf)
            {
                failures.push(e);
            }
        }
    }
    // Logged with the lock released: the error log may count warnings here.
    for e in failures {
        tracing::warn!(target: TARGET, "Error sending message to statsd: {e}");
    }
}

/// Python's `repr(float)` for the values a duration gives: Rust's
/// shortest round-trip digits, with `.0` on whole numbers.
fn write_py_float(out: &mut Vec<u8>, x: f64) {
    let start = out.len();
    let _ = write!(out, "{x}");
    if !out[start..].contains(&b'.') && x.is_finite() {
        out.extend_from_slice(b".0");
    }
}

fn lock() -> MutexGuard<'static, Option<Client>> {
    CLIENT.lock().unwrap_or_else(PoisonError::into_inner)
}

fn connect(addr: &StatsdAddr) -> Option<Sock> {
    match addr {
        StatsdAddr::Unix(path) => {
            let sock = UnixDatagram::unbound().ok()?;
            sock.connect(path).ok()?;
            sock.set_nonblocking(true).ok()?;
            Some(Sock::Unix(sock))
        }
        StatsdAddr::Inet { host, port } => {
            let port = u16::try_from(*port).ok()?;
            // gunicorn picks the family from the host: IPv6 for an IPv6
            // literal, else IPv4 (so a name resolves to its IPv4 address).
            let v6 = host.parse::<std::net::Ipv6Addr>().is_ok();
            let target: SocketAddr = (host.as_str(), port)
                .to_socket_addrs()
                .ok()?
                .find(|a| a.is_ipv6() == v6)?;
            let local: SocketAddr = if v6 {
                (IpAddr::from([0u16; 8]), 0).into()
            } else {
                (IpAddr::from([0u8; 4]), 0).into()
            };
            let sock = UdpSocket::bind(local).ok()?;
            sock.connect(target).ok()?;
            sock.set_nonblocking(true).ok()?;
            Some(Sock::Udp(sock))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn py_float(x: f64) -> String {
        let mut v = Vec::new();
        write_py_float(&mut v, x);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn durations_print_as_python_floats() {
        assert_eq!(py_float(0.0), "0.0");
        assert_eq!(py_float(0.697), "0.697");
        assert_eq!(py_float(1000.0), "1000.0");
        // 2 s 5 µs, computed as gunicorn does.
        let d = Duration::new(2, 5_000);
        let ms = (d.as_secs() * 1000) as f64 + f64::from(d.subsec_micros()) / 1000.0;
        assert_eq!(py_float(ms), "2000.005");
    }
}
