//! `--log-syslog`: error-log and access-log records also go to syslog, as
//! gunicorn's `SysLogHandler` sends them: one message
//! `<PRI>gunicorn.PREFIX.error: [PID] MESSAGE` plus a NUL byte (Python's
//! `append_nul`), over UDP, TCP or a unix socket (datagram first, then
//! stream, unless `#dgram` was given). `PREFIX` is `--log-syslog-prefix`,
//! else the process name with `:` turned into `.`; access lines use
//! `.access` and go only without `--disable-redirect-access-to-syslog`.
//!
//! The socket is made in the master ([`init`]) and inherited by the
//! workers. A message that cannot be sent is dropped. Sends never block:
//! a collector that is slow or stopped reading must not hold up a request
//! or the master. On a stream socket, a message the kernel took only part
//! of is finished before this process sends the next one, and messages
//! that come meanwhile are dropped. (The connection is shared by every
//! process, so another's messages can still fall between the two parts of
//! a cut message, as with gunicorn's `sendall` on its shared socket.)

use std::fmt;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use nix::errno::Errno;
use nix::sys::socket::{self as nix_socket, MsgFlags};

use crate::config::{LogLevel, LogOptions, SyslogAddr, SyslogOptions};

static ERRORS: AtomicBool = AtomicBool::new(false);
static ACCESS: AtomicBool = AtomicBool::new(false);
static SYSLOG: Mutex<Option<Syslog>> = Mutex::new(None);

/// Syslog cannot be reached at start-up.
#[derive(Debug)]
pub struct Error {
    pub addr: String,
    pub source: io::Error,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot reach syslog at {}: {}", self.addr, self.source)
    }
}

impl std::error::Error for Error {}

struct Syslog {
    sock: Sock,
    facility: u8,
    /// `gunicorn.PREFIX.error: ` and `gunicorn.PREFIX.access: `.
    error_ident: String,
    access_ident: String,
    buf: Vec<u8>,
    /// The unsent tail of a message a stream socket took only part of.
    pending: Vec<u8>,
    /// Where to connect again (a unix socket whose daemon restarted).
    opts: SyslogOptions,
}

enum Sock {
    Udp(UdpSocket, SocketAddr),
    Tcp(TcpStream),
    UnixDgram(UnixDatagram),
    UnixStream(UnixStream),
}

/// Set up (or replace, or remove) the syslog destination. `proc_name` is
/// the process name the default prefix is made of.
pub fn init(opts: &LogOptions, proc_name: &str) -> Result<(), Error> {
    let Some(syslog) = &opts.syslog else {
        ERRORS.store(false, Ordering::Relaxed);
        ACCESS.store(false, Ordering::Relaxed);
        *lock() = None;
        return Ok(());
    };
    let sock = connect(syslog)?;
    let prefix = syslog
        .prefix
        .clone()
        .unwrap_or_else(|| proc_name.replace(':', "."));
    *lock() = Some(Syslog {
        sock,
        facility: syslog.facility,
        error_ident: format!("gunicorn.{prefix}.error: "),
        access_ident: format!("gunicorn.{prefix}.access: "),
        buf: Vec::with_capacity(256),
        pending: Vec::new(),
        opts: syslog.clone(),
    });
    ERRORS.store(true, Ordering::Relaxed);
    ACCESS.store(!opts.disable_redirect_access_to_syslog, Ordering::Relaxed);
    Ok(())
}

/// Whether error-log records go to syslog.
#[inline]
pub fn errors_enabled() -> bool {
    ERRORS.load(Ordering::Relaxed)
}

/// Whether access-log lines go to syslog.
#[inline]
pub fn access_enabled() -> bool {
    ACCESS.load(Ordering::Relaxed)
}

/// Send one error-log record's message (without the error log's stamp).
pub fn error(level: LogLevel, message: &[u8]) {
    if errors_enabled() {
        send(level, false, message);
    }
}

/// Send one rendered access-log line (without its newline), at INFO.
pub fn access(line: &[u8]) {
    if access_enabled() {
        send(LogLevel::Info, true, line);
    }
}

fn send(level: LogLevel, access: bool, message: &[u8]) {
    let mut guard = lock();
    let Some(s) = guard.as_mut() else {
        return;
    };
    // Python's `mapPriority`, then `encodePriority`: facility << 3 | priority.
    let priority: u8 = match level {
        LogLevel::Debug => 7,
        LogLevel::Info => 6,
        LogLevel::Warning => 4,
        LogLevel::Error => 3,
        LogLevel::Critical => 2,
    };
    let ident = if access {
        &s.access_ident
    } else {
        &s.error_ident
    };
    s.buf.clear();
    let _ = write!(
        s.buf,
        "<{}>{ident}[{}] ",
        (u32::from(s.facility) << 3) | u32::from(priority),
        super::pid()
    );
    s.buf.extend_from_slice(message);
    s.buf.push(0);
    // Dropped on failure, as the logging module's handleError would
    // (without printing to a stderr that may be the error log itself).
    if deliver(s).is_err() && matches!(s.sock, Sock::UnixDgram(_) | Sock::UnixStream(_)) {
        // As Python's SysLogHandler: the daemon behind a unix socket may
        // have restarted (a new socket at the same path); connect again
        // and try once more, on every message while it is down.
        if let Ok(sock) = connect(&s.opts) {
            s.sock = sock;
            s.pending.clear();
            let _ = deliver(s);
        }
    }
}

/// Send the message in `s.buf`. Err only when the socket failed (not
/// when it is merely full).
fn deliver(s: &mut Syslog) -> Result<(), Errno> {
    let sent = match &s.sock {
        Sock::Udp(sock, to) => sock.send_to(&s.buf, *to).map(drop),
        Sock::UnixDgram(sock) => sock.send(&s.buf).map(drop),
        Sock::Tcp(stream) => return send_framed(stream.as_fd(), &mut s.pending, &s.buf),
        Sock::UnixStream(stream) => {
            return send_framed(stream.as_fd(), &mut s.pending, &s.buf);
        }
    };
    match sent {
        Err(e) if e.kind() != io::ErrorKind::WouldBlock => {
            Err(Errno::from_raw(e.raw_os_error().unwrap_or(0)))
        }
        _ => Ok(()),
    }
}

/// Send `message` on a non-blocking stream socket unless the tail of an
/// earlier one is still waiting (then `message` is dropped); keep what
/// the kernel does not take in `pending`.
fn send_framed(fd: BorrowedFd<'_>, pending: &mut Vec<u8>, message: &[u8]) -> Result<(), Errno> {
    if !pending.is_empty() {
        let sent = send_some(fd, pending)?;
        pending.drain(..sent);
        if !pending.is_empty() {
            return Ok(());
        }
    }
    let sent = send_some(fd, message)?;
    // Nothing sent means nothing to finish: the message is just dropped.
    if sent > 0 && sent < message.len() {
        pending.extend_from_slice(&message[sent..]);
    }
    Ok(())
}

/// As much of `bytes` as the socket takes now; Err when it failed (EPIPE,
/// ECONNRESET: the collector is gone). MSG_NOSIGNAL: that is an error
/// here, never SIGPIPE, whatever the application did with that signal.
fn send_some(fd: BorrowedFd<'_>, bytes: &[u8]) -> Result<usize, Errno> {
    let mut sent = 0;
    while sent < bytes.len() {
        match nix_socket::send(fd.as_raw_fd(), &bytes[sent..], MsgFlags::MSG_NOSIGNAL) {
            Ok(0) => break,
            Ok(n) => sent += n,
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(sent)
}

fn lock() -> MutexGuard<'static, Option<Syslog>> {
    SYSLOG.lock().unwrap_or_else(PoisonError::into_inner)
}

fn connect(opts: &SyslogOptions) -> Result<Sock, Error> {
    let fail = |addr: String| move |source: io::Error| Error { addr, source };
    match &opts.addr {
        SyslogAddr::Unix { path, dgram_only } => {
            let sock = UnixDatagram::unbound().and_then(|s| s.connect(path).map(|()| s));
            let sock = match sock {
                Ok(s) => s.set_nonblocking(true).map(|()| Sock::UnixDgram(s)),
                Err(e) if *dgram_only => Err(e),
                Err(_) => UnixStream::connect(path)
                    .and_then(|s| s.set_nonblocking(true).map(|()| Sock::UnixStream(s))),
            };
            sock.map_err(fail(path.clone()))
        }
        SyslogAddr::Udp { host, port } => {
            let shown = format!("udp://{host}:{port}");
            let to = resolve(host, *port).map_err(fail(shown.clone()))?;
            let local = if to.is_ipv6() {
                SocketAddr::from(([0u16; 8], 0))
            } else {
                SocketAddr::from(([0u8; 4], 0))
            };
            let sock = UdpSocket::bind(local).map_err(fail(shown.clone()))?;
            sock.set_nonblocking(true).map_err(fail(shown))?;
            Ok(Sock::Udp(sock, to))
        }
        SyslogAddr::Tcp { host, port } => {
            let shown = format!("tcp://{host}:{port}");
            let to = resolve(host, *port).map_err(fail(shown.clone()))?;
            let stream = TcpStream::connect(to).map_err(fail(shown.clone()))?;
            stream.set_nonblocking(true).map_err(fail(shown))?;
            Ok(Sock::Tcp(stream))
        }
    }
}

fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the host name has no address"))
}
