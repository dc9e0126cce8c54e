//! Listening sockets: parsing `--bind` values and creating the listeners the
//! master shares with its workers (tcp, `[v6]`, `unix:`, `fd://`).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

/// A parsed `--bind` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindAddr {
    /// `HOST`, `HOST:PORT`, `[v6]:PORT`, `tcp://...` (host not yet resolved).
    Tcp { host: String, port: u16 },
    /// `unix:PATH` or `unix://PATH`.
    Unix(PathBuf),
    /// `fd://N`: an already-open listening socket.
    Fd(i32),
}

/// A listener that cannot be set up.
#[derive(Debug)]
pub enum Error {
    /// The `--bind` value does not parse.
    Address { value: String, message: String },
    /// bind/listen failed (after gunicorn's retries).
    Bind { addr: String, source: io::Error },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Address { value, message } => write!(f, "invalid bind address {value:?}: {message}"),
            Error::Bind { addr, source } => write!(f, "cannot listen at {addr}: {source}"),
        }
    }
}

impl std::error::Error for Error {}

/// Parse one `--bind` value as gunicorn's `util.parse_address`.
pub fn parse_bind(value: &str) -> Result<BindAddr, Error> {
    let _ = value;
    todo!()
}

/// The peer of an accepted connection.
#[derive(Debug, Clone)]
pub enum Peer {
    Tcp(SocketAddr),
    Unix,
}

/// A bound, listening, non-blocking socket.
#[derive(Debug)]
pub struct Listener {
    _fd: OwnedFd,
}

impl Listener {
    /// Bind and listen. Unix sockets: a stale socket file is replaced.
    pub fn bind(addr: &BindAddr, backlog: i32) -> Result<Listener, Error> {
        let _ = (addr, backlog);
        todo!()
    }
    /// As gunicorn prints it after "Listening at: " (`http://127.0.0.1:8000`,
    /// `http://[::1]:8000`, `unix:/run/app.sock`), with the real port when 0 was asked.
    pub fn url(&self) -> String {
        todo!()
    }
    /// `(SERVER_NAME, SERVER_PORT)` for requests on this listener; `None` for unix sockets.
    pub fn server_name_port(&self) -> Option<(String, String)> {
        todo!()
    }
    /// Accept one connection: non-blocking, close-on-exec, TCP_NODELAY for tcp.
    /// `Ok(None)` when no connection is waiting.
    pub fn accept(&self) -> io::Result<Option<(OwnedFd, Peer)>> {
        todo!()
    }
    /// Close; a unix socket's file is removed when `unlink` is set.
    pub fn close(self, unlink: bool) {
        let _ = unlink;
        todo!()
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self._fd.as_fd()
    }
}

/// Bind every address, retrying each up to 5 times one second apart as gunicorn does.
pub fn bind_all(binds: &[String], backlog: i32) -> Result<Vec<Listener>, Error> {
    let _ = (binds, backlog);
    todo!()
}
