//! Listening sockets: parsing `--bind` values and creating the listeners the
//! master shares with its workers (tcp, `[v6]`, `unix:`, `fd://`), or
//! adopting those systemd or a re-executing master passed down ([`inherited`]).
//!
//! Behaviour follows gunicorn's `util.parse_address` and `sock.py`
//! (`create_sockets`, `TCPSocket`, `UnixSocket`). Listeners are non-blocking
//! and close-on-exec; a USR2 re-exec must clear that with
//! [`Listener::set_inheritable`]. Unix sockets are bound under `--umask`
//! (gunicorn's default 0 makes their file `srwxrwxrwx` whatever the
//! process umask) and their file is given to `--user`/`--group`.
//! `--reuse-port` sets SO_REUSEPORT on TCP listeners.
//!
//! The `unsafe` blocks here take ownership of descriptors: one just
//! returned by `accept4`, or one the user hands over with `fd://N` (after
//! checking with `fcntl` that it is open).

mod addr;
pub mod inherited;

pub use addr::{BindAddr, parse_bind};

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::sys::socket::{
    self, AddressFamily, Backlog, SockFlag, SockType, SockaddrLike, SockaddrStorage, UnixAddr,
    sockopt,
};
use nix::sys::stat::{self, Mode};

/// gunicorn `create_sockets`: five attempts, each failure followed by a
/// one-second sleep (the last one too: 5 s before giving up).
const BIND_ATTEMPTS: u32 = 5;
const BIND_RETRY_DELAY: Duration = Duration::from_secs(1);
/// gunicorn's default `--umask`: unix socket files get mode 0777.
pub const DEFAULT_UMASK: u32 = 0;

/// How listeners are made, besides their addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// `--backlog`.
    pub backlog: i32,
    /// `--umask`: unix socket files are created under it.
    pub umask: u32,
    /// `--reuse-port`: SO_REUSEPORT on TCP listeners.
    pub reuse_port: bool,
    /// `(uid, gid)` unix socket files are given to (`--user`, `--group`),
    /// as gunicorn's `UnixSocket.bind` does.
    pub owner: Option<(u32, u32)>,
}

impl Options {
    /// gunicorn's defaults with this backlog.
    pub fn new(backlog: i32) -> Options {
        Options {
            backlog,
            umask: DEFAULT_UMASK,
            reuse_port: false,
            owner: None,
        }
    }

    /// The options the configuration asks for.
    pub fn from_config(cfg: &crate::config::Config) -> Options {
        let p = &cfg.process;
        Options {
            backlog: cfg.backlog,
            umask: p.umask,
            reuse_port: p.reuse_port,
            owner: Some((p.user, p.group)),
        }
    }
}
/// Connections that die in the accept queue are skipped; after this many in
/// one `accept` call, report "nothing waiting" and let the loop come back.
const ACCEPT_SKIP_LIMIT: usize = 64;

/// A listener that cannot be set up.
#[derive(Debug)]
pub enum Error {
    /// The `--bind` value does not parse.
    Address { value: String, message: String },
    /// bind/listen failed (after gunicorn's retries).
    Bind { addr: String, source: io::Error },
    /// A variable handing sockets over (`LISTEN_FDS`, `GUNICORN_FD`) is malformed.
    Environment {
        var: &'static str,
        value: String,
        message: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Address { value, message } => {
                write!(f, "invalid bind address {value:?}: {message}")
            }
            Error::Bind { addr, source } => write!(f, "cannot listen at {addr}: {source}"),
            Error::Environment {
                var,
                value,
                message,
            } => write!(f, "invalid {var}={value:?}: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Address { .. } | Error::Environment { .. } => None,
            Error::Bind { source, .. } => Some(source),
        }
    }
}

/// The peer of an accepted connection.
#[derive(Debug, Clone)]
pub enum Peer {
    Tcp(SocketAddr),
    Unix,
}

impl Peer {
    /// The connection's address family, type and protocol, as Python's
    /// `socket.socket()` takes them (given, it need not ask the kernel).
    pub fn socket_kind(&self) -> (i32, i32, i32) {
        use nix::libc;
        match self {
            Peer::Tcp(SocketAddr::V4(_)) => (libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_TCP),
            Peer::Tcp(SocketAddr::V6(_)) => (libc::AF_INET6, libc::SOCK_STREAM, libc::IPPROTO_TCP),
            Peer::Unix => (libc::AF_UNIX, libc::SOCK_STREAM, 0),
        }
    }
}

/// What a listener is bound to, read back from the kernel.
#[derive(Debug, Clone)]
enum Kind {
    Tcp(SocketAddr),
    Unix(UnixName),
}

#[derive(Debug, Clone)]
enum UnixName {
    Path(PathBuf),
    Abstract(Vec<u8>),
    /// An adopted socket with no name (cannot normally happen for a listener).
    Unnamed,
}

/// A bound, listening, non-blocking socket.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
    kind: Kind,
    /// Handed to us (`fd://`, systemd, the old master of an upgrade) rather
    /// than bound here: its owner may go on using it after we stop.
    adopted: bool,
}

/// Why one bind attempt failed, and whether trying again can help.
struct Failure {
    source: io::Error,
    retry: bool,
}

impl Failure {
    fn fatal(message: String) -> Failure {
        Failure {
            source: io::Error::other(message),
            retry: false,
        }
    }
}

impl From<Errno> for Failure {
    /// System-call failures are retried, as gunicorn retries every `OSError`.
    fn from(e: Errno) -> Failure {
        Failure {
            source: e.into(),
            retry: true,
        }
    }
}

impl From<io::Error> for Failure {
    fn from(source: io::Error) -> Failure {
        Failure {
            source,
            retry: true,
        }
    }
}

impl Listener {
    /// Bind and listen. Unix sockets: a stale socket file is replaced.
    ///
    /// `fd://N` takes ownership of descriptor N: it is made non-blocking and
    /// close-on-exec, `listen`ed if it is not listening yet, and closed when
    /// the listener is. One attempt only; [`bind_all`] adds gunicorn's retries.
    pub fn bind(addr: &BindAddr, backlog: i32) -> Result<Listener, Error> {
        bind_once(addr, &Options::new(backlog)).map_err(|f| Error::Bind {
            addr: addr.to_string(),
            source: f.source,
        })
    }

    /// As gunicorn prints it after "Listening at: " (`http://127.0.0.1:8000`,
    /// `http://[::1]:8000`, `unix:/run/app.sock`), with the real port when 0 was asked.
    /// An abstract unix socket prints as `unix:@name`.
    pub fn url(&self) -> String {
        match &self.kind {
            Kind::Tcp(SocketAddr::V4(a)) => format!("http://{}:{}", a.ip(), a.port()),
            Kind::Tcp(SocketAddr::V6(a)) => format!("http://[{}]:{}", a.ip(), a.port()),
            Kind::Unix(UnixName::Path(p)) => format!("unix:{}", p.display()),
            Kind::Unix(UnixName::Abstract(name)) => {
                format!("unix:@{}", String::from_utf8_lossy(name))
            }
            Kind::Unix(UnixName::Unnamed) => "unix:".to_owned(),
        }
    }

    /// `(SERVER_NAME, SERVER_PORT)` for requests on this listener; `None` for unix sockets.
    pub fn server_name_port(&self) -> Option<(String, String)> {
        self.local_addr()
            .map(|a| (a.ip().to_string(), a.port().to_string()))
    }

    /// The bound TCP address (real port); `None` for unix sockets.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match self.kind {
            Kind::Tcp(a) => Some(a),
            Kind::Unix(_) => None,
        }
    }

    /// The socket file of a unix listener; `None` for tcp and abstract sockets.
    pub fn unix_path(&self) -> Option<&Path> {
        match &self.kind {
            Kind::Unix(UnixName::Path(p)) => Some(p),
            _ => None,
        }
    }

    /// Clear (`true`) or set (`false`) close-on-exec, e.g. before a USR2
    /// re-exec passes the listeners on in `GUNICORN_FD`.
    pub fn set_inheritable(&self, inheritable: bool) -> io::Result<()> {
        set_cloexec(&self.fd, !inheritable).map_err(io::Error::from)
    }

    /// Accept one connection: non-blocking, close-on-exec, TCP_NODELAY for tcp.
    /// `Ok(None)` when no connection is waiting.
    ///
    /// Connections that failed while queued (`ECONNABORTED` and the other
    /// network errors accept(2) says to treat like `EAGAIN`) are skipped.
    /// Errors returned are about this process or the system (`EMFILE`,
    /// `ENFILE`, `ENOBUFS`, `ENOMEM`...): back off, do not exit.
    pub fn accept(&self) -> io::Result<Option<(OwnedFd, Peer)>> {
        let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
        let mut skipped = 0;
        while skipped < ACCEPT_SKIP_LIMIT {
            let (conn, addr) = match accept_with_peer(self.fd.as_fd(), flags) {
                Ok(accepted) => accepted,
                Err(Errno::EAGAIN) => return Ok(None),
                Err(Errno::EINTR) => continue,
                Err(e) if is_dead_connection(e) => {
                    skipped += 1;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            // TCP_NODELAY comes from the listener (set when it was bound or
            // adopted): Linux copies it to every connection it accepts.
            let peer = match self.kind {
                Kind::Unix(_) => Peer::Unix,
                Kind::Tcp(_) => match addr.as_ref().and_then(tcp_addr) {
                    Some(addr) => Peer::Tcp(addr),
                    // No address the kernel could give: drop it.
                    None => {
                        skipped += 1;
                        continue;
                    }
                },
            };
            return Ok(Some((conn, peer)));
        }
        Ok(None)
    }

    /// Close. `for_good`: the server stops and nobody takes this socket
    /// over. A socket bound here then stops listening in every process that
    /// holds a copy, a worker still finishing a request included, so new
    /// connections are refused at once instead of waiting in a backlog that
    /// nobody will accept from; and a unix socket's file is removed. An
    /// adopted socket only loses our copy: its owner may still use it.
    pub fn close(self, for_good: bool) {
        let Listener { fd, kind, adopted } = self;
        if for_good && !adopted {
            // On a listening socket, SHUT_RD ends the listening itself
            // (Linux): queued connections are reset, new ones refused.
            let _ = socket::shutdown(fd.as_raw_fd(), socket::Shutdown::Read);
        }
        drop(fd);
        if let (true, Kind::Unix(UnixName::Path(path))) = (for_good, kind) {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!("cannot remove {}: {e}", path.display()),
            }
        }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Bind every address, trying each up to 5 times with a one-second sleep
/// after every failure (the last one too, so 5 s before giving up), as
/// gunicorn does.
///
/// All values are parsed before anything is bound. Each failed attempt is
/// logged as gunicorn logs it ("Connection in use: ('127.0.0.1', 8000)",
/// "connection to ... failed: ...", then "Can't connect to ..."), so the
/// caller only has to exit with status 1. Errors that retrying cannot fix
/// (a regular file at a unix socket path, a bad `fd://`) are returned at
/// once without logging. On failure, sockets already bound are closed and
/// their unix socket files removed.
///
/// Unlike gunicorn, `fd://` values do not cause the other binds to be ignored.
pub fn bind_all(binds: &[String], backlog: i32) -> Result<Vec<Listener>, Error> {
    bind_all_options(binds, &Options::new(backlog))
}

/// [`bind_all`] with `--umask`, `--reuse-port` and the socket files' owner.
pub fn bind_all_options(binds: &[String], opts: &Options) -> Result<Vec<Listener>, Error> {
    bind_all_with(binds, opts, BIND_ATTEMPTS, BIND_RETRY_DELAY)
}

fn bind_all_with(
    binds: &[String],
    opts: &Options,
    attempts: u32,
    delay: Duration,
) -> Result<Vec<Listener>, Error> {
    let addrs = binds
        .iter()
        .map(|b| parse_bind(b))
        .collect::<Result<Vec<_>, _>>()?;
    // Two listeners owning the same fd would close it twice.
    let mut fds = HashSet::new();
    for (addr, value) in addrs.iter().zip(binds) {
        if let BindAddr::Fd(n) = addr {
            if !fds.insert(*n) {
                return Err(Error::Address {
                    value: value.clone(),
                    message: format!("fd {n} is given more than once"),
                });
            }
        }
    }

    let mut listeners: Vec<Listener> = Vec::with_capacity(addrs.len());
    for addr in &addrs {
        match bind_retrying(addr, opts, attempts, delay) {
            Ok(listener) => listeners.push(listener),
            Err(e) => {
                for (listener, addr) in listeners.into_iter().zip(&addrs) {
                    listener.close(matches!(addr, BindAddr::Unix(_)));
                }
                return Err(e);
            }
        }
    }
    Ok(listeners)
}

fn bind_retrying(
    addr: &BindAddr,
    opts: &Options,
    attempts: u32,
    delay: Duration,
) -> Result<Listener, Error> {
    let shown = gunicorn_repr(addr);
    let mut last_error = None;
    for _ in 0..attempts.max(1) {
        let failure = match bind_once(addr, opts) {
            Ok(listener) => return Ok(listener),
            Err(f) if !f.retry => {
                return Err(Error::Bind {
                    addr: addr.to_string(),
                    source: f.source,
                });
            }
            Err(f) => f.source,
        };
        match failure.raw_os_error() {
            Some(libc::EADDRINUSE) => tracing::error!("Connection in use: {shown}"),
            Some(libc::EADDRNOTAVAIL) => tracing::error!("Invalid address: {shown}"),
            _ => {}
        }
        tracing::error!(
            "connection to {shown} failed: {}",
            python_os_error(&failure)
        );
        last_error = Some(failure);
        // gunicorn sleeps after every failure, the last one included
        // (its `if i < 5` is always true).
        tracing::debug!("Retrying in 1 second.");
        thread::sleep(delay);
    }
    tracing::error!("Can't connect to {shown}");
    Err(Error::Bind {
        addr: addr.to_string(),
        source: last_error.unwrap_or_else(|| io::Error::other("no bind attempt was made")),
    })
}

/// The address as gunicorn's log lines show it (`str()` of its address tuple).
fn gunicorn_repr(addr: &BindAddr) -> String {
    match addr {
        BindAddr::Tcp { host, port } => format!("('{host}', {port})"),
        BindAddr::Unix(path) => path.display().to_string(),
        BindAddr::Fd(n) => format!("fd://{n}"),
    }
}

/// `[Errno 98] Address already in use`, as Python prints an `OSError`.
fn python_os_error(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => format!("[Errno {n}] {}", Errno::from_raw(n).desc()),
        None => e.to_string(),
    }
}

fn bind_once(addr: &BindAddr, opts: &Options) -> Result<Listener, Failure> {
    match addr {
        BindAddr::Tcp { host, port } => bind_tcp(host, *port, opts),
        BindAddr::Unix(path) => bind_unix(path, opts),
        BindAddr::Fd(n) => adopt_fd(*n, opts.backlog),
    }
}

/// The kernel clamps the backlog to `net.core.somaxconn`; nix refuses values
/// above libc's SOMAXCONN, so ask for "the maximum" in that case.
fn backlog(n: i32) -> Backlog {
    Backlog::new(n).unwrap_or(Backlog::MAXALLOWABLE)
}

fn new_socket(family: AddressFamily) -> Result<OwnedFd, Errno> {
    let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
    socket::socket(family, SockType::Stream, flags, None)
}

fn bind_tcp(host: &str, port: u16, opts: &Options) -> Result<Listener, Failure> {
    let addr = resolve(host, port)?;
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = new_socket(family)?;
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    socket::setsockopt(&fd, sockopt::TcpNoDelay, &true)?;
    if opts.reuse_port {
        socket::setsockopt(&fd, sockopt::ReusePort, &true)?;
    }
    socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
    socket::listen(&fd, backlog(opts.backlog))?;
    let kind = kind_of(&fd)?;
    Ok(Listener {
        fd,
        kind,
        adopted: false,
    })
}

/// An IPv6 literal binds AF_INET6; a name binds its first IPv4 address, as
/// gunicorn's AF_INET socket would, or else its first address of any family.
fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    if let Ok(ip) = host.parse::<Ipv6Addr>() {
        return Ok(SocketAddr::new(IpAddr::V6(ip), port));
    }
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no address for {host}")))
}

fn bind_unix(path: &Path, opts: &Options) -> Result<Listener, Failure> {
    let bytes = path.as_os_str().as_bytes();
    let (name, addr) = match bytes.strip_prefix(b"\0") {
        Some(abstract_name) => (
            UnixName::Abstract(abstract_name.to_vec()),
            UnixAddr::new_abstract(abstract_name),
        ),
        None => {
            remove_stale_socket(path)?;
            (UnixName::Path(path.to_owned()), UnixAddr::new(path))
        }
    };
    let addr = addr.map_err(|e| Failure::fatal(format!("bad unix socket path: {e}")))?;
    let fd = new_socket(AddressFamily::Unix)?;
    // bind(2) creates the socket file with mode 0777 & ~umask.
    with_umask(opts.umask, || socket::bind(fd.as_raw_fd(), &addr))?;
    if let (UnixName::Path(path), Some((uid, gid))) = (&name, opts.owner) {
        // lchown: a symlink swapped in for the socket file since bind(2)
        // is not followed to hand its target to the workers' user.
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    }
    socket::listen(&fd, backlog(opts.backlog))?;
    Ok(Listener {
        fd,
        kind: Kind::Unix(name),
        adopted: false,
    })
}

/// Run `f` with the process umask set to `mask`, then put the previous
/// one back (gunicorn's `UnixSocket.bind`; a later `--umask` passes its
/// value here). The umask is per process: call this only while no other
/// thread creates files, as in the master while it binds its listeners.
pub fn with_umask<T>(mask: u32, f: impl FnOnce() -> T) -> T {
    let mask = Mode::from_bits_truncate(mask as libc::mode_t);
    let previous = stat::umask(mask);
    let result = f();
    stat::umask(previous);
    result
}

/// gunicorn `UnixSocket.__init__`: a socket left by a previous run is
/// removed; any other file there is an error.
fn remove_stale_socket(path: &Path) -> Result<(), Failure> {
    match fs::metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => Ok(fs::remove_file(path)?),
        Ok(_) => Err(Failure::fatal(format!(
            "{} exists and is not a socket",
            path.display()
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn adopt_fd(n: i32, backlog_len: i32) -> Result<Listener, Failure> {
    // SAFETY: F_GETFD only reads descriptor flags; any integer is a valid
    // argument and a closed one yields EBADF.
    if n < 0 || unsafe { libc::fcntl(n, libc::F_GETFD) } == -1 {
        return Err(Failure::fatal(format!(
            "fd {n} is not an open file descriptor"
        )));
    }
    // SAFETY: `OwnedFd` needs a descriptor that is open and that nothing
    // else owns or will close. Open is checked above; ownership cannot be
    // checked, and is what `fd://N` means: whoever started the server
    // passed descriptor N for it to listen on (inherited, as from systemd
    // or a supervisor), and no other part of this process uses it. A user
    // naming a descriptor the process uses for something else (0-2, or one
    // Python opened) breaks that promise, and the listener would close it
    // under its owner. `bind_all` refuses the same N twice, so there is
    // only one owner here; on failure ownership is released without closing.
    let fd = unsafe { OwnedFd::from_raw_fd(n) };
    match configure_adopted(&fd, n, backlog_len) {
        Ok(kind) => Ok(Listener {
            fd,
            kind,
            adopted: true,
        }),
        Err(e) => {
            // Not a usable listener: leave the descriptor as we found it.
            let _ = fd.into_raw_fd();
            Err(e)
        }
    }
}

fn configure_adopted(fd: &OwnedFd, n: i32, backlog_len: i32) -> Result<Kind, Failure> {
    let fatal = |what: &str, e: Errno| Failure::fatal(format!("fd {n} {what}: {}", e.desc()));
    match socket::getsockopt(fd, sockopt::SockType) {
        Ok(SockType::Stream) => {}
        Ok(_) => return Err(Failure::fatal(format!("fd {n} is not a stream socket"))),
        Err(Errno::ENOTSOCK) => return Err(Failure::fatal(format!("fd {n} is not a socket"))),
        Err(e) => return Err(fatal("cannot be inspected", e)),
    }
    let kind = kind_of(fd).map_err(|f| Failure { retry: false, ..f })?;
    // Sockets from systemd already listen, and listen() again can be denied.
    if !socket::getsockopt(fd, sockopt::AcceptConn).unwrap_or(false) {
        socket::listen(fd, backlog(backlog_len)).map_err(|e| fatal("cannot listen", e))?;
    }
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(|e| fatal("flags unreadable", e))?;
    let flags = OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(flags)).map_err(|e| fatal("cannot be made non-blocking", e))?;
    set_cloexec(fd, true).map_err(|e| fatal("cannot be made close-on-exec", e))?;
    if matches!(kind, Kind::Tcp(_)) {
        let _ = socket::setsockopt(fd, sockopt::TcpNoDelay, &true);
    }
    Ok(kind)
}

fn set_cloexec(fd: &OwnedFd, on: bool) -> Result<(), Errno> {
    let flags = FdFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFD)?);
    let flags = if on {
        flags | FdFlag::FD_CLOEXEC
    } else {
        flags - FdFlag::FD_CLOEXEC
    };
    fcntl(fd, FcntlArg::F_SETFD(flags)).map(drop)
}

/// What `fd` is bound to, from getsockname.
fn kind_of(fd: &OwnedFd) -> Result<Kind, Failure> {
    let addr: SockaddrStorage = socket::getsockname(fd.as_raw_fd())?;
    if let Some(a) = tcp_addr(&addr) {
        return Ok(Kind::Tcp(a));
    }
    match addr.as_unix_addr() {
        Some(u) => Ok(Kind::Unix(match (u.path(), u.as_abstract()) {
            (Some(p), _) => UnixName::Path(p.to_owned()),
            (None, Some(name)) => UnixName::Abstract(name.to_vec()),
            (None, None) => UnixName::Unnamed,
        })),
        None => Err(Failure::fatal(format!(
            "unsupported address family {:?}",
            addr.family()
        ))),
    }
}

fn tcp_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(a) = addr.as_sockaddr_in() {
        return Some(SocketAddr::from(*a));
    }
    addr.as_sockaddr_in6().map(|a| SocketAddr::from(*a))
}

/// accept4(2) that keeps the peer's address the kernel writes: nix's
/// `accept4` drops it, and asking again with getpeername(2) costs a system
/// call per connection.
fn accept_with_peer(
    listener: BorrowedFd<'_>,
    flags: SockFlag,
) -> Result<(OwnedFd, Option<SockaddrStorage>), Errno> {
    let mut storage = std::mem::MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: both pointers are to live locals: a sockaddr_storage and its
    // size; the kernel writes at most `len` bytes there and sets `len` to
    // the address's length.
    let raw = unsafe {
        libc::accept4(
            listener.as_raw_fd(),
            storage.as_mut_ptr().cast(),
            &mut len,
            flags.bits(),
        )
    };
    if raw < 0 {
        return Err(Errno::last());
    }
    // SAFETY: accept4 succeeded, so `raw` is a new descriptor that nothing
    // else in the process knows about; we are its only owner.
    let conn = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: the storage is initialized (zeroed, then written by the
    // kernel), and `from_raw` copies at most `len` bytes of it after
    // checking `len` against its size.
    let addr = unsafe { SockaddrStorage::from_raw(storage.as_ptr().cast(), Some(len)) };
    Ok((conn, addr))
}

/// Errors accept(2) reports for a queued connection that already failed
/// (Linux hands pending network errors to accept); the next one may be fine.
fn is_dead_connection(e: Errno) -> bool {
    matches!(
        e,
        Errno::ECONNABORTED
            | Errno::EPROTO
            | Errno::ENETDOWN
            | Errno::ENOPROTOOPT
            | Errno::EHOSTDOWN
            | Errno::ENONET
            | Errno::EHOSTUNREACH
            | Errno::EOPNOTSUPP
            | Errno::ENETUNREACH
            | Errno::EPERM
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::unix::net::UnixStream;

    fn tcp(host: &str, port: u16) -> BindAddr {
        BindAddr::Tcp {
            host: host.into(),
            port,
        }
    }

    /// The umask is per process: tests that bind unix sockets (which set
    /// it around bind) or change it take this, so they never interleave.
    static UMASK: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn umask_lock() -> std::sync::MutexGuard<'static, ()> {
        UMASK
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("gunicorn-rs-sock-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn gunicorn_wording() {
        assert_eq!(
            gunicorn_repr(&tcp("127.0.0.1", 8000)),
            "('127.0.0.1', 8000)"
        );
        let in_use = io::Error::from_raw_os_error(libc::EADDRINUSE);
        assert_eq!(
            python_os_error(&in_use),
            "[Errno 98] Address already in use"
        );
    }

    fn assert_nonblocking_cloexec(fd: &OwnedFd) {
        let fl = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL).unwrap());
        assert!(fl.contains(OFlag::O_NONBLOCK), "not non-blocking");
        let fd_flags = FdFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFD).unwrap());
        assert!(fd_flags.contains(FdFlag::FD_CLOEXEC), "not close-on-exec");
    }

    /// Connect, accept, and check the connection carries bytes.
    fn round_trip(listener: &Listener, mut client: impl Read + Write) -> Peer {
        client.write_all(b"ping").unwrap();
        let (conn, peer) = loop {
            // The connection is queued once connect() returned, but be patient.
            if let Some(accepted) = listener.accept().unwrap() {
                break accepted;
            }
            thread::sleep(Duration::from_millis(5));
        };
        assert_nonblocking_cloexec(&conn);
        // Any stream fd works for plain read/write; UnixStream is just a wrapper.
        let mut stream = UnixStream::from(conn);
        stream.set_nonblocking(false).unwrap();
        let mut buf = [0; 4];
        stream.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
        stream.write_all(b"pong").unwrap();
        client.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"pong");
        peer
    }

    #[test]
    fn tcp_bind_accept_and_url() {
        let listener = Listener::bind(&tcp("127.0.0.1", 0), 16).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_ne!(port, 0, "the kernel's port is reported, not 0");
        assert_eq!(listener.url(), format!("http://127.0.0.1:{port}"));
        assert_eq!(
            listener.server_name_port(),
            Some(("127.0.0.1".into(), port.to_string()))
        );
        assert_eq!(listener.unix_path(), None);
        assert_nonblocking_cloexec(&listener.fd);
        assert!(socket::getsockopt(&listener.fd, sockopt::ReuseAddr).unwrap());

        assert!(
            listener.accept().unwrap().is_none(),
            "nothing is waiting yet"
        );
        let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let client_port = client.local_addr().unwrap().port();
        match round_trip(&listener, client) {
            Peer::Tcp(a) => assert_eq!(a, SocketAddr::from(([127, 0, 0, 1], client_port))),
            Peer::Unix => panic!("tcp listener gave a unix peer"),
        }
        assert!(listener.accept().unwrap().is_none());

        // TCP_NODELAY on accepted connections.
        let _client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (conn, _) = loop {
            if let Some(c) = listener.accept().unwrap() {
                break c;
            }
            thread::sleep(Duration::from_millis(5));
        };
        assert!(socket::getsockopt(&conn, sockopt::TcpNoDelay).unwrap());

        // Inheritable for a USR2 re-exec, and back.
        listener.set_inheritable(true).unwrap();
        let fd_flags = FdFlag::from_bits_retain(fcntl(&listener.fd, FcntlArg::F_GETFD).unwrap());
        assert!(!fd_flags.contains(FdFlag::FD_CLOEXEC));
        listener.set_inheritable(false).unwrap();
        assert_nonblocking_cloexec(&listener.fd);
        listener.close(true);
    }

    #[test]
    fn tcp_hostname_and_in_use() {
        let listener = Listener::bind(&tcp("localhost", 0), 16).unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(
            addr.is_ipv4(),
            "a name binds its IPv4 address as gunicorn does: {addr}"
        );

        // The same port again: EADDRINUSE, logged and retried, then
        // Error::Bind; as gunicorn, a sleep follows every failed attempt,
        // the last one included.
        let value = format!("127.0.0.1:{}", addr.port());
        let started = std::time::Instant::now();
        let err = bind_all_with(
            std::slice::from_ref(&value),
            &Options::new(16),
            2,
            Duration::from_millis(100),
        )
        .unwrap_err();
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "slept {:?}, not twice",
            started.elapsed()
        );
        match err {
            Error::Bind {
                addr: shown,
                source,
            } => {
                assert_eq!(shown, value);
                assert_eq!(source.raw_os_error(), Some(libc::EADDRINUSE));
            }
            other => panic!("expected a bind error, got {other:?}"),
        }
    }

    #[test]
    fn ipv6_loopback() {
        let has_ipv6 = TcpListener::bind("[::1]:0").is_ok();
        if !has_ipv6 {
            eprintln!(
                "SKIPPED ipv6_loopback: this kernel has no IPv6 loopback (binding [::1] failed)"
            );
            return;
        }
        let listener = Listener::bind(&parse_bind("[::1]:0").unwrap(), 16)
            .expect("IPv6 is available on this host (std could bind [::1]), so we must too");
        let port = listener.local_addr().unwrap().port();
        assert_eq!(listener.url(), format!("http://[::1]:{port}"));
        assert_eq!(
            listener.server_name_port(),
            Some(("::1".into(), port.to_string()))
        );
        let client = TcpStream::connect(("::1", port)).unwrap();
        match round_trip(&listener, client) {
            Peer::Tcp(a) => assert_eq!(a.ip(), "::1".parse::<IpAddr>().unwrap()),
            Peer::Unix => panic!("tcp listener gave a unix peer"),
        }
    }

    #[test]
    fn unix_bind_stale_replace_and_refusal() {
        let _umask = umask_lock();
        let dir = temp_dir("unix");
        let path = dir.join("app.sock");
        let addr = parse_bind(&format!("unix:{}", path.display())).unwrap();

        let listener = Listener::bind(&addr, 16).unwrap();
        assert_eq!(listener.url(), format!("unix:{}", path.display()));
        assert_eq!(listener.server_name_port(), None);
        assert_eq!(listener.unix_path(), Some(path.as_path()));
        assert_nonblocking_cloexec(&listener.fd);
        let client = UnixStream::connect(&path).unwrap();
        assert!(matches!(round_trip(&listener, client), Peer::Unix));

        // Dropped without unlinking: the stale file is replaced by the next bind.
        drop(listener);
        assert!(fs::metadata(&path).unwrap().file_type().is_socket());
        let listener = Listener::bind(&addr, 16).unwrap();
        UnixStream::connect(&path).expect("the new socket answers");
        listener.close(true);
        assert!(!path.exists(), "close(unlink) removes the socket file");

        // A regular file is never removed, and retrying would not help.
        fs::write(&path, "data").unwrap();
        let started = std::time::Instant::now();
        let err = bind_all_with(
            &[format!("unix:{}", path.display())],
            &Options::new(16),
            5,
            Duration::from_secs(10),
        )
        .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a fatal error was retried"
        );
        assert!(
            err.to_string().ends_with("exists and is not a socket"),
            "{err}"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "data");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reuse_port_is_set_only_when_asked() {
        let opts = Options {
            reuse_port: true,
            ..Options::new(16)
        };
        let first = bind_all_options(&["127.0.0.1:0".to_string()], &opts).unwrap();
        assert!(socket::getsockopt(&first[0].fd, sockopt::ReusePort).unwrap());
        let port = first[0].local_addr().unwrap().port();
        let again =
            bind_all_with(&[format!("127.0.0.1:{port}")], &opts, 1, Duration::ZERO).unwrap();
        assert_eq!(again[0].local_addr().unwrap().port(), port);
        let plain = Listener::bind(&tcp("127.0.0.1", 0), 16).unwrap();
        assert!(!socket::getsockopt(&plain.fd, sockopt::ReusePort).unwrap());
    }

    #[test]
    fn unix_socket_file_under_the_given_umask() {
        let _umask = umask_lock();
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("umask-option");
        let path = dir.join("app.sock");
        let opts = Options {
            umask: 0o027,
            owner: Some((
                nix::unistd::geteuid().as_raw(),
                nix::unistd::getegid().as_raw(),
            )),
            ..Options::new(16)
        };
        let listeners = bind_all_options(&[format!("unix:{}", path.display())], &opts).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o750, "{mode:o}");
        for l in listeners {
            l.close(true);
        }
    }

    #[test]
    fn unix_socket_file_mode_ignores_the_process_umask() {
        let _umask = umask_lock();
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("umask");
        let path = dir.join("app.sock");
        let addr = parse_bind(&format!("unix:{}", path.display())).unwrap();
        // A restrictive umask around the bind, as a shell might have set:
        // gunicorn's default umask 0 still gives srwxrwxrwx.
        let listener = with_umask(0o077, || {
            let listener = Listener::bind(&addr, 16).unwrap();
            // The bind put the caller's umask back.
            let current = stat::umask(Mode::from_bits_truncate(0o077));
            assert_eq!(current.bits(), 0o077);
            listener
        });
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o777, "{mode:o}");
        listener.close(true);
        // with_umask itself restores, and hands back the result.
        let before = stat::umask(Mode::from_bits_truncate(0o022));
        stat::umask(before);
        assert_eq!(with_umask(0o027, || 5), 5);
        let after = stat::umask(before);
        assert_eq!(after, before);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unix_abstract() {
        let _umask = umask_lock();
        let name = format!("\0gunicorn-rs-test-{}", std::process::id());
        let listener = Listener::bind(&BindAddr::Unix(name.clone().into()), 16).unwrap();
        assert_eq!(listener.url(), format!("unix:@{}", &name[1..]));
        assert_eq!(listener.unix_path(), None);
        listener.close(true);
    }

    #[test]
    fn fd_adoption() {
        // A listening socket opened elsewhere, handed over by number.
        let std_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = std_listener.local_addr().unwrap().port();
        let n = std_listener.into_raw_fd();
        let listener = Listener::bind(&parse_bind(&format!("fd://{n}")).unwrap(), 16).unwrap();
        assert_eq!(listener.url(), format!("http://127.0.0.1:{port}"));
        assert_eq!(listener.fd.as_raw_fd(), n);
        assert_nonblocking_cloexec(&listener.fd);
        let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        assert!(matches!(round_trip(&listener, client), Peer::Tcp(_)));

        // Bound but not listening yet: adoption listens.
        let sock = new_socket(AddressFamily::Inet).unwrap();
        socket::bind(
            sock.as_raw_fd(),
            &SockaddrStorage::from(SocketAddr::from(([127, 0, 0, 1], 0))),
        )
        .unwrap();
        let n2 = sock.into_raw_fd();
        let adopted = Listener::bind(&BindAddr::Fd(n2), 16).unwrap();
        assert!(socket::getsockopt(&adopted.fd, sockopt::AcceptConn).unwrap());

        // Not a socket: refused, and the descriptor is left open for its owner.
        let file = fs::File::open("/proc/self/status")
            .or_else(|_| fs::File::open("/"))
            .unwrap();
        let file_fd = file.as_raw_fd();
        let err = Listener::bind(&BindAddr::Fd(file_fd), 16).unwrap_err();
        assert!(
            err.to_string()
                .ends_with(&format!("fd {file_fd} is not a socket")),
            "{err}"
        );
        assert!(
            fcntl(&file, FcntlArg::F_GETFD).is_ok(),
            "the refused fd was closed"
        );
        drop(file);

        // A datagram socket is not a listener.
        let (a, _b) = socket::socketpair(
            AddressFamily::Unix,
            SockType::Datagram,
            None,
            SockFlag::empty(),
        )
        .unwrap();
        let err = Listener::bind(&BindAddr::Fd(a.as_raw_fd()), 16).unwrap_err();
        assert!(err.to_string().ends_with("is not a stream socket"), "{err}");

        // Duplicates, and a number nothing has open. (Never probe a number
        // that was just closed: a parallel test may have reopened it.)
        let dup = ["fd://1000000".to_string(), "fd://1000000".to_string()];
        let err = bind_all_with(&dup, &Options::new(16), 1, Duration::ZERO).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("fd 1000000 is given more than once"),
            "{err}"
        );
        let err = Listener::bind(&BindAddr::Fd(1_000_000), 16).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("fd 1000000 is not an open file descriptor"),
            "{err}"
        );
    }

    #[test]
    fn bind_all_binds_each_and_cleans_up_on_failure() {
        let _umask = umask_lock();
        let dir = temp_dir("all");
        let path = dir.join("a.sock");
        let binds = [
            "127.0.0.1:0".to_string(),
            format!("unix:{}", path.display()),
        ];
        let listeners = bind_all_with(&binds, &Options::new(16), 1, Duration::ZERO).unwrap();
        assert_eq!(listeners.len(), 2);
        assert!(listeners[0].url().starts_with("http://127.0.0.1:"));
        assert_eq!(listeners[1].url(), format!("unix:{}", path.display()));
        for l in listeners {
            l.close(true);
        }

        // The unix socket bound first is removed when a later bind fails.
        let blocker = fs::File::create(dir.join("file")).unwrap();
        drop(blocker);
        let binds = [
            format!("unix:{}", path.display()),
            format!("unix:{}", dir.join("file").display()),
        ];
        assert!(bind_all_with(&binds, &Options::new(16), 1, Duration::ZERO).is_err());
        assert!(!path.exists());

        // Parse errors come before any bind.
        let binds = [format!("unix:{}", path.display()), "x:y".to_string()];
        assert!(matches!(
            bind_all_with(&binds, &Options::new(16), 1, Duration::ZERO),
            Err(Error::Address { .. })
        ));
        assert!(!path.exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn backlog_values() {
        assert_eq!(i32::from(backlog(2048)), 2048);
        // Above libc's SOMAXCONN: "as many as the system allows".
        assert_eq!(i32::from(backlog(1 << 20)), -1);
    }
}
