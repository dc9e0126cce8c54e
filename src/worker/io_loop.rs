//! The worker's I/O loop: one epoll set over the shared listeners, the
//! worker's signal pipe and every client connection.
//!
//! Connections move through [`State`]: head, body, ready, responding,
//! closing. Requests reach the application only when complete, and its
//! response is pulled only as fast as the client takes it, so Python never
//! waits on a socket. The GIL is released only around `epoll_wait`.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use pyo3::prelude::*;
use tracing::{debug, error, info, warn};

use super::conn::{Conn, FileSend, Flush, READ_BUDGET, Read, Responding, State};
use super::heartbeat::Heartbeat;
use super::sync::SyncExecutor;
use crate::config::{Config, HeaderMapping};
use crate::http::ParseError;
use crate::http::body::BodyDecoder;
use crate::http::date::HttpDate;
use crate::http::error::write_error_page;
use crate::http::framing::BodyFramer;
use crate::http::parser::{BodyKind, HeaderMap, Limits, Parsed, ParserConfig, RequestHead};
use crate::http::response::{CONTINUE, RequestInfo, ResponseHead};
use crate::log::access::{AccessEntry, AccessLog};
use crate::signals::SignalPipe;
use crate::sock::{Listener, Peer};
use crate::wsgi::{self, CallError, Wsgi};

const TOKEN_SIGNALS: u64 = u64::MAX;
/// Listener `i` has token `TOKEN_LISTENER_BASE - i`; connections use their slot index.
const TOKEN_LISTENER_BASE: u64 = u64::MAX - 1;
/// Connections accepted per listener wake-up, so one worker does not take
/// a whole burst while its siblings sit idle.
const ACCEPT_BATCH: usize = 64;
/// Response bytes buffered per connection before the app's iterator is paused.
const OUT_HIGH_WATER: usize = 256 * 1024;
/// A client that stops sending mid-request, or stops reading our response,
/// for this long is dropped.
const IO_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// A new connection may take this long (or `--keep-alive`, if longer) to
/// send its first request.
const FIRST_REQUEST_WAIT: Duration = Duration::from_secs(5);
/// How long a closing connection waits for the client to close its side.
const LINGER: Duration = Duration::from_secs(2);
/// The loop wakes at least this often: heartbeat, timeouts, master check.
const TICK_MS: u16 = 1000;
const TICK: Duration = Duration::from_millis(TICK_MS as u64);

/// How the worker is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Running,
    /// TERM: no new connections; answer what is in flight, then exit.
    Graceful {
        deadline: Instant,
    },
    /// INT/QUIT, or the master is gone: exit now.
    Quit,
}

/// Where pumping a response got to.
enum Pump {
    /// The client is not taking more now.
    Wait,
    /// The connection cannot continue (I/O error, app error mid-body).
    Abort,
    Complete,
}

/// What a step of a connection's state machine wants next.
enum Step {
    Continue,
    Wait,
    Close,
}

struct ListenerSlot<'a> {
    listener: &'a Listener,
    server: wsgi::environ::Server,
}

/// Slots of live connections, reused by index (the epoll token).
#[derive(Default)]
struct Slab {
    slots: Vec<Option<Conn>>,
    free: Vec<usize>,
    live: usize,
}

impl Slab {
    fn insert(&mut self, conn: Conn) -> usize {
        self.live += 1;
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(conn);
                i
            }
            None => {
                self.slots.push(Some(conn));
                self.slots.len() - 1
            }
        }
    }

    fn take(&mut self, i: usize) -> Option<Conn> {
        self.slots.get_mut(i).and_then(Option::take)
    }

    fn put_back(&mut self, i: usize, conn: Conn) {
        self.slots[i] = Some(conn);
    }

    /// Mark slot `i` (already taken) as free.
    fn release(&mut self, i: usize) {
        self.live -= 1;
        self.free.push(i);
    }
}

/// The loop of one worker process.
pub struct IoLoop<'a> {
    cfg: &'a Config,
    epoll: Epoll,
    listeners: Vec<ListenerSlot<'a>>,
    accepting: bool,
    conns: Slab,
    executor: SyncExecutor,
    signals: SignalPipe,
    heartbeat: Heartbeat,
    last_notify: Instant,
    master: Pid,
    wsgi: Wsgi,
    /// Parser settings for peers outside / inside `forwarded_allow_ips`
    /// (gunicorn's default trusts 127.0.0.1, ::1 and unix-socket peers).
    parser: ParserConfig,
    parser_trusted: ParserConfig,
    date: HttpDate,
    access_log: Option<AccessLog>,
    mode: Mode,
    last_sweep: Instant,
    /// Connections that spent their read budget with input left: served
    /// again next turn (edge-triggered epoll will not report them again).
    revisit: Vec<usize>,
}

/// What a worker's loop is built from.
pub struct Parts<'a> {
    pub cfg: &'a Config,
    pub listeners: &'a [Listener],
    pub signals: SignalPipe,
    pub heartbeat: Heartbeat,
    /// The master's pid: when our parent changes, the master is gone.
    pub master: Pid,
    pub wsgi: Wsgi,
    pub access_log: Option<AccessLog>,
}

impl<'a> IoLoop<'a> {
    pub fn new(py: Python<'_>, parts: Parts<'a>) -> std::io::Result<Self> {
        let Parts {
            cfg,
            listeners,
            signals,
            heartbeat,
            master,
            wsgi,
            access_log,
        } = parts;
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        epoll.add(
            &signals,
            EpollEvent::new(EpollFlags::EPOLLIN, TOKEN_SIGNALS),
        )?;
        let listeners = listeners
            .iter()
            .map(|l| ListenerSlot {
                listener: l,
                server: wsgi::environ::Server::new(py, l),
            })
            .collect();
        let parser = parser_config(cfg);
        let parser_trusted = ParserConfig {
            peer_trusted: true,
            ..parser.clone()
        };
        let now = Instant::now();
        let mut lp = IoLoop {
            cfg,
            epoll,
            listeners,
            accepting: false,
            conns: Slab::default(),
            executor: SyncExecutor::default(),
            signals,
            heartbeat,
            last_notify: now,
            master,
            wsgi,
            parser,
            parser_trusted,
            date: HttpDate::default(),
            access_log,
            mode: Mode::Running,
            last_sweep: now,
            revisit: Vec::new(),
        };
        lp.set_accepting(true)?;
        Ok(lp)
    }

    /// Serve until told to stop. Returns the worker's exit status.
    pub fn run(&mut self, py: Python<'_>) -> i32 {
        let mut events = vec![EpollEvent::empty(); 256];
        let _ = self.heartbeat.notify();
        loop {
            match self.mode {
                Mode::Quit => return 0,
                Mode::Graceful { deadline }
                    if self.conns.live == 0 || Instant::now() >= deadline =>
                {
                    return 0;
                }
                _ => {}
            }
            let epoll = &self.epoll;
            let timeout = if self.revisit.is_empty() {
                EpollTimeout::from(TICK_MS)
            } else {
                EpollTimeout::ZERO
            };
            let n = match py.detach(|| epoll.wait(&mut events, timeout)) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => 0,
                Err(e) => {
                    error!("epoll_wait failed: {e}");
                    return 1;
                }
            };
            for ev in &events[..n] {
                self.dispatch(py, ev.data(), ev.events());
            }
            for id in std::mem::take(&mut self.revisit) {
                self.advance(py, id);
            }
            self.run_ready(py);
            self.housekeeping(py);
        }
    }

    fn dispatch(&mut self, py: Python<'_>, token: u64, flags: EpollFlags) {
        if token == TOKEN_SIGNALS {
            self.handle_signals(py);
            return;
        }
        if token > TOKEN_LISTENER_BASE - self.listeners.len() as u64 {
            self.accept((TOKEN_LISTENER_BASE - token) as usize, py);
            return;
        }
        let id = token as usize;
        if let Some(Some(conn)) = self.conns.slots.get_mut(id) {
            if flags.intersects(
                EpollFlags::EPOLLIN
                    | EpollFlags::EPOLLRDHUP
                    | EpollFlags::EPOLLHUP
                    | EpollFlags::EPOLLERR,
            ) {
                conn.readable = true;
            }
            if flags.intersects(EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLHUP) {
                conn.peer_closed = true;
            }
            if flags.intersects(EpollFlags::EPOLLOUT | EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR)
            {
                conn.writable = true;
            }
            self.advance(py, id);
        }
    }

    fn handle_signals(&mut self, py: Python<'_>) {
        for sig in self.signals.drain() {
            self.handle_signal(py, sig);
        }
    }

    fn handle_signal(&mut self, py: Python<'_>, sig: Signal) {
        match sig {
            Signal::SIGTERM => self.stop_gracefully(py),
            Signal::SIGINT | Signal::SIGQUIT => self.mode = Mode::Quit,
            Signal::SIGUSR1 => {
                if let Err(e) = crate::log::reopen() {
                    error!("Cannot reopen the error log: {e}");
                }
                if let Some(log) = &mut self.access_log
                    && let Err(e) = log.reopen()
                {
                    error!("Cannot reopen the access log: {e}");
                }
            }
            _ => {}
        }
    }

    /// Stop accepting; idle connections go now, busy ones after their response.
    fn stop_gracefully(&mut self, py: Python<'_>) {
        if self.mode != Mode::Running {
            return;
        }
        self.mode = Mode::Graceful {
            deadline: Instant::now() + Duration::from_secs(self.cfg.graceful_timeout),
        };
        let _ = self.set_accepting(false);
        let idle: Vec<usize> = (0..self.conns.slots.len())
            .filter(|&i| {
                matches!(&self.conns.slots[i], Some(c) if matches!(c.state, State::Head) && c.inbuf.is_empty() && c.out_pending() == 0)
            })
            .collect();
        for id in idle {
            if let Some(conn) = self.conns.take(id) {
                self.close(py, id, conn);
            }
        }
    }

    fn set_accepting(&mut self, on: bool) -> std::io::Result<()> {
        if on == self.accepting {
            return Ok(());
        }
        for (i, slot) in self.listeners.iter().enumerate() {
            if on {
                // EPOLLEXCLUSIVE: one worker is woken per connection, not all.
                let flags = EpollFlags::EPOLLIN | EpollFlags::EPOLLEXCLUSIVE;
                self.epoll.add(
                    slot.listener,
                    EpollEvent::new(flags, TOKEN_LISTENER_BASE - i as u64),
                )?;
            } else {
                self.epoll.delete(slot.listener)?;
            }
        }
        self.accepting = on;
        Ok(())
    }

    fn accept(&mut self, index: usize, py: Python<'_>) {
        let Some(slot) = self.listeners.get(index) else {
            return;
        };
        let listener = slot.listener;
        for _ in 0..ACCEPT_BATCH {
            if self.conns.live >= self.cfg.worker_connections || self.mode != Mode::Running {
                let _ = self.set_accepting(false);
                return;
            }
            match listener.accept() {
                Ok(Some((fd, peer))) => {
                    let wait = FIRST_REQUEST_WAIT.max(Duration::from_secs(self.cfg.keepalive));
                    let conn = Conn::new(fd, peer, index, Instant::now() + wait);
                    let flags = EpollFlags::EPOLLIN
                        | EpollFlags::EPOLLOUT
                        | EpollFlags::EPOLLRDHUP
                        | EpollFlags::EPOLLET;
                    let id = self.conns.insert(conn);
                    let registered = match &self.conns.slots[id] {
                        Some(c) => self.epoll.add(&c.fd, EpollEvent::new(flags, id as u64)),
                        None => continue,
                    };
                    if let Err(e) = registered {
                        warn!("cannot watch a new connection: {e}");
                        if let Some(conn) = self.conns.take(id) {
                            self.close(py, id, conn);
                        }
                        continue;
                    }
                    // Requests often arrive with the connection: try at once.
                    self.advance(py, id);
                }
                Ok(None) => return,
                Err(e) => {
                    warn!("accept failed: {e}");
                    return;
                }
            }
        }
    }

    /// Run queued requests while the application is free.
    fn run_ready(&mut self, py: Python<'_>) {
        while let Some(id) = self.executor.next() {
            if self.conns.slots.get(id).is_none_or(Option::is_none) {
                self.executor.forget(id);
                continue;
            }
            self.advance(py, id);
            if self.executor.next() == Some(id) {
                // Could not start (should not happen): avoid spinning.
                self.executor.forget(id);
            }
        }
    }

    /// Drive connection `id` as far as it can go without waiting.
    fn advance(&mut self, py: Python<'_>, id: usize) {
        let Some(mut conn) = self.conns.take(id) else {
            return;
        };
        conn.budget = READ_BUDGET;
        loop {
            let step = match conn.state {
                State::Head => self.step_head(&mut conn),
                State::Body { .. } => self.step_body(&mut conn),
                State::Ready { .. } => self.step_ready(py, id, &mut conn),
                State::Responding(_) => self.step_respond(py, id, &mut conn),
                State::Closing => step_closing(&mut conn),
                State::Lingering => match conn.discard_input() {
                    Read::Data => Step::Continue,
                    Read::WouldBlock | Read::Yield => Step::Wait,
                    Read::Eof | Read::Failed => Step::Close,
                },
            };
            match step {
                Step::Continue => {}
                Step::Wait => {
                    if conn.yielded() && !self.revisit.contains(&id) {
                        self.revisit.push(id);
                    }
                    self.conns.put_back(id, conn);
                    return;
                }
                Step::Close => {
                    self.close(py, id, conn);
                    return;
                }
            }
        }
    }

    fn parser_for(&self, peer: &Peer) -> &ParserConfig {
        let trusted = match peer {
            Peer::Tcp(sa) => sa.ip() == Ipv4Addr::LOCALHOST || sa.ip() == Ipv6Addr::LOCALHOST,
            Peer::Unix => true,
        };
        if trusted {
            &self.parser_trusted
        } else {
            &self.parser
        }
    }

    fn step_head(&mut self, conn: &mut Conn) -> Step {
        if !conn.inbuf.is_empty() {
            let parser = self.parser_for(&conn.peer);
            match conn.head_parser.parse(conn.inbuf.data(), parser) {
                Ok(Parsed::Complete { head, consumed }) => {
                    conn.inbuf.consume(consumed);
                    self.begin_body(conn, head);
                    return Step::Continue;
                }
                Ok(Parsed::Partial) => {}
                Err(e) => return reject(conn, &e),
            }
        } else if self.mode != Mode::Running {
            // Shutting down: a connection between requests is closed.
            return Step::Close;
        }
        match conn.read_some() {
            Read::Data => Step::Continue,
            Read::Yield => Step::Wait,
            Read::WouldBlock => {
                let idle = if conn.inbuf.is_empty() && conn.served > 0 {
                    Duration::from_secs(self.cfg.keepalive)
                } else if conn.inbuf.is_empty() {
                    FIRST_REQUEST_WAIT.max(Duration::from_secs(self.cfg.keepalive))
                } else {
                    IO_IDLE_TIMEOUT
                };
                conn.deadline = Instant::now() + idle;
                Step::Wait
            }
            // Between requests an EOF is the normal end; mid-head, gunicorn's
            // NoMoreData: closed without an answer.
            Read::Eof | Read::Failed => Step::Close,
        }
    }

    fn begin_body(&mut self, conn: &mut Conn, head: RequestHead) {
        let kind = head.body_kind();
        if kind == BodyKind::Empty {
            conn.state = State::Ready {
                head,
                body: Vec::new(),
            };
            return;
        }
        if head.expects_continue() && conn.inbuf.is_empty() {
            conn.out.extend_from_slice(CONTINUE);
        }
        let capacity = match kind {
            BodyKind::Length(n) => usize::try_from(n).unwrap_or(usize::MAX).min(1 << 20),
            _ => 8 * 1024,
        };
        let decoder = BodyDecoder::with_config(kind, self.parser_for(&conn.peer));
        conn.state = State::Body {
            head,
            decoder,
            body: Vec::with_capacity(capacity),
        };
    }

    fn step_body(&mut self, conn: &mut Conn) -> Step {
        if conn.out_pending() > 0 && conn.flush() == Flush::Failed {
            return Step::Close;
        }
        let State::Body { decoder, body, .. } = &mut conn.state else {
            return Step::Close;
        };
        match decoder.decode(conn.inbuf.data(), body) {
            Ok(used) => conn.inbuf.consume(used),
            Err(e) => return reject(conn, &e),
        }
        if decoder.is_done() {
            let State::Body { head, body, .. } = std::mem::replace(&mut conn.state, State::Closing)
            else {
                return Step::Close;
            };
            conn.state = State::Ready { head, body };
            return Step::Continue;
        }
        match conn.read_some() {
            Read::Data => Step::Continue,
            Read::Yield => Step::Wait,
            Read::WouldBlock => {
                conn.deadline = Instant::now() + IO_IDLE_TIMEOUT;
                Step::Wait
            }
            // As gunicorn: a Content-Length body cut short by the client's
            // EOF is served with what arrived; a cut chunked body is an error.
            Read::Eof => {
                let State::Body { decoder, .. } = &mut conn.state else {
                    return Step::Close;
                };
                match decoder.finish_at_eof() {
                    Ok(()) => Step::Continue,
                    Err(err) => reject(conn, &err),
                }
            }
            Read::Failed => Step::Close,
        }
    }

    fn step_ready(&mut self, py: Python<'_>, id: usize, conn: &mut Conn) -> Step {
        if !self.executor.try_start(id) {
            conn.deadline = far_future();
            return Step::Wait;
        }
        let State::Ready { head, body } = std::mem::replace(&mut conn.state, State::Closing) else {
            self.executor.release(id);
            return Step::Close;
        };
        if tracing::enabled!(tracing::Level::DEBUG) {
            debug!("{} {}", head.method(), String::from_utf8_lossy(head.path()));
        }
        let started = Instant::now();
        let server = &self.listeners[conn.listener].server;
        let peer = conn
            .peer_py
            .get_or_insert_with(|| wsgi::environ::Peer::new(py, &conn.peer));
        let result = self.wsgi.call(py, &head, body, peer, server);
        // A TERM that came while the app ran must already shape this
        // response (`Connection: close`).
        if self.signals.pending() {
            self.handle_signals(py);
        }
        match result {
            Ok(response) => {
                let info = RequestInfo {
                    version: head.version(),
                    is_head: head.method() == "HEAD",
                    keep_alive: head.wants_keep_alive(),
                };
                let force_close = self.mode != Mode::Running || self.cfg.keepalive == 0;
                let (framing, keep_alive) =
                    response
                        .head
                        .encode(&info, force_close, self.date.now(), &mut conn.out);
                conn.state = State::Responding(Box::new(Responding {
                    request: head,
                    response,
                    framer: BodyFramer::new(framing),
                    keep_alive,
                    app_done: false,
                    file: None,
                    started,
                }));
            }
            Err(err) => {
                self.executor.release(id);
                let (status, reason) = match &err {
                    CallError::App(_) => (500, "Internal Server Error"),
                    // gunicorn's quirk, kept for fidelity: 500 with "Bad Request".
                    CallError::ScriptName(_) => (500, "Bad Request"),
                };
                let message = match &err {
                    CallError::App(tb) => {
                        error!(
                            "Error handling request {} {}\n{}",
                            head.method(),
                            String::from_utf8_lossy(head.uri()),
                            tb.trim_end()
                        );
                        String::new()
                    }
                    CallError::ScriptName(msg) => {
                        warn!("Invalid request from ip={}: {msg}", peer_ip(&conn.peer));
                        msg.clone()
                    }
                };
                conn.out.truncate(conn.out_pos);
                write_error_page(&mut conn.out, status, reason, &message);
                self.log_error_access(conn, &head, status, reason, started);
                conn.state = State::Closing;
            }
        }
        Step::Continue
    }

    fn step_respond(&mut self, py: Python<'_>, id: usize, conn: &mut Conn) -> Step {
        let State::Responding(mut r) = std::mem::replace(&mut conn.state, State::Closing) else {
            return Step::Close;
        };
        match self.pump(py, id, conn, &mut r) {
            Pump::Wait => {
                conn.deadline = Instant::now() + IO_IDLE_TIMEOUT;
                conn.state = State::Responding(r);
                Step::Wait
            }
            Pump::Abort => {
                if !r.app_done {
                    r.response.close(py);
                    self.executor.release(id);
                }
                Step::Close
            }
            Pump::Complete => {
                conn.served += 1;
                self.log_access(py, conn, &r);
                if r.keep_alive && self.mode == Mode::Running {
                    conn.state = State::Head;
                }
                Step::Continue
            }
        }
    }

    /// Move response bytes from the application to the socket until the
    /// response is complete or the client stops taking them.
    fn pump(&mut self, py: Python<'_>, id: usize, conn: &mut Conn, r: &mut Responding) -> Pump {
        loop {
            if !r.app_done && r.file.is_none() && conn.out_pending() < OUT_HIGH_WATER {
                match r.response.pull(py, OUT_HIGH_WATER) {
                    Ok(exhausted) => {
                        r.framer.push(&r.response.ready, &mut conn.out);
                        r.response.ready.clear();
                        if let Some(body) = r.response.take_file() {
                            let remaining = r.framer.file_start(body.len, &mut conn.out);
                            r.file = Some(FileSend {
                                body,
                                remaining,
                                sent: 0,
                            });
                            self.executor.release(id);
                        } else if exhausted {
                            self.finish_app(py, id, conn, r);
                        }
                    }
                    Err(tb) => {
                        // The head is out: all that can be done is to close.
                        error!("Error handling request\n{}", tb.trim_end());
                        return Pump::Abort;
                    }
                }
            }
            match conn.flush() {
                Flush::Done => {}
                Flush::Blocked => return Pump::Wait,
                Flush::Failed => return Pump::Abort,
            }
            if let Some(file) = &mut r.file {
                match conn.send_file(file) {
                    Flush::Done => {
                        let sent = file.sent;
                        r.file = None;
                        r.framer.file_end(sent, &mut conn.out);
                        self.finish_app(py, id, conn, r);
                        continue;
                    }
                    Flush::Blocked => return Pump::Wait,
                    Flush::Failed => return Pump::Abort,
                }
            }
            if r.app_done {
                return Pump::Complete;
            }
        }
    }

    /// The body is fully produced: close the iterable, end the framing.
    fn finish_app(&mut self, py: Python<'_>, id: usize, conn: &mut Conn, r: &mut Responding) {
        r.response.close(py);
        r.app_done = true;
        self.executor.release(id);
        if !r.framer.finish(&mut conn.out) {
            // Shorter than its Content-Length: the client cannot find the
            // next response, so the connection ends with this one.
            r.keep_alive = false;
        }
    }

    fn log_access(&mut self, py: Python<'_>, conn: &Conn, r: &Responding) {
        let Some(log) = &mut self.access_log else {
            return;
        };
        let environ = r.response.environ.bind(py);
        let lookup = |key: &str| -> Option<String> {
            let value = environ.get_item(key).ok()??;
            value.str().ok().map(|s| s.to_string())
        };
        let path_info =
            String::from_utf8_lossy(&wsgi::environ::percent_decode(r.request.path())).into_owned();
        log.log(&AccessEntry {
            request: &r.request,
            response: &r.response.head,
            remote_addr: &peer_ip(&conn.peer),
            path_info: &path_info,
            body_bytes: r.framer.sent(),
            request_time: r.started.elapsed(),
            environ: &lookup,
        });
    }

    /// Access-log line for a request answered with an error page.
    fn log_error_access(
        &mut self,
        conn: &Conn,
        head: &RequestHead,
        status: u16,
        reason: &str,
        started: Instant,
    ) {
        let Some(log) = &mut self.access_log else {
            return;
        };
        let mut response = ResponseHead::default();
        if response
            .set_status(format!("{status} {reason}").as_bytes())
            .is_err()
        {
            return;
        }
        let path_info =
            String::from_utf8_lossy(&wsgi::environ::percent_decode(head.path())).into_owned();
        log.log(&AccessEntry {
            request: head,
            response: &response,
            remote_addr: &peer_ip(&conn.peer),
            path_info: &path_info,
            body_bytes: 0,
            request_time: started.elapsed(),
            environ: &|_| None,
        });
    }

    fn close(&mut self, py: Python<'_>, id: usize, mut conn: Conn) {
        if let State::Responding(r) = &mut conn.state
            && !r.app_done
        {
            r.response.close(py);
        }
        self.executor.forget(id);
        let _ = self.epoll.delete(&conn.fd);
        drop(conn);
        self.conns.release(id);
        if !self.accepting
            && self.mode == Mode::Running
            && self.conns.live < self.cfg.worker_connections
        {
            let _ = self.set_accepting(true);
        }
    }

    /// Heartbeat, the master check and idle timeouts, about once a second.
    fn housekeeping(&mut self, py: Python<'_>) {
        let now = Instant::now();
        if now.duration_since(self.last_notify) >= Duration::from_millis(500) {
            let _ = self.heartbeat.notify();
            self.last_notify = now;
            if nix::unistd::getppid() != self.master {
                info!(
                    "Parent changed, shutting down: worker {}",
                    std::process::id()
                );
                self.mode = Mode::Quit;
            }
        }
        if now.duration_since(self.last_sweep) < TICK {
            return;
        }
        self.last_sweep = now;
        let expired: Vec<usize> = (0..self.conns.slots.len())
            .filter(|&i| matches!(&self.conns.slots[i], Some(c) if c.deadline <= now))
            .collect();
        for id in expired {
            if let Some(conn) = self.conns.take(id) {
                if matches!(conn.state, State::Body { .. } | State::Responding(_))
                    || !conn.inbuf.is_empty()
                {
                    debug!(
                        "Closing a connection from {} that stalled mid-request",
                        peer_ip(&conn.peer)
                    );
                }
                self.close(py, id, conn);
            }
        }
    }
}

/// Answer a bad request with gunicorn's error page and close.
fn reject(conn: &mut Conn, err: &ParseError) -> Step {
    if !err.responds() {
        return Step::Close;
    }
    warn!("Invalid request from ip={}: {err}", peer_ip(&conn.peer));
    conn.out.truncate(conn.out_pos);
    err.write_page(&mut conn.out);
    conn.state = State::Closing;
    Step::Continue
}

/// Send the rest, shut our side, then linger until the client closes.
fn step_closing(conn: &mut Conn) -> Step {
    match conn.flush() {
        Flush::Done => {
            conn.shutdown_write();
            conn.deadline = Instant::now() + LINGER;
            conn.state = State::Lingering;
            Step::Continue
        }
        Flush::Blocked => {
            conn.deadline = Instant::now() + IO_IDLE_TIMEOUT;
            Step::Wait
        }
        Flush::Failed => Step::Close,
    }
}

fn peer_ip(peer: &Peer) -> String {
    match peer {
        Peer::Tcp(sa) => sa.ip().to_string(),
        Peer::Unix => String::new(),
    }
}

/// The request parser's settings from the server's.
fn parser_config(cfg: &Config) -> ParserConfig {
    let http = &cfg.http;
    ParserConfig {
        limits: Limits {
            request_line: cfg.limit_request_line,
            fields: cfg.limit_request_fields,
            field_size: cfg.limit_request_field_size,
        },
        permit_obsolete_folding: http.permit_obsolete_folding,
        strip_header_spaces: http.strip_header_spaces,
        header_map: match http.header_map {
            HeaderMapping::Drop => HeaderMap::Drop,
            HeaderMapping::Refuse => HeaderMap::Refuse,
            HeaderMapping::Dangerous => HeaderMap::Dangerous,
        },
        permit_unconventional_http_method: http.permit_unconventional_http_method,
        permit_unconventional_http_version: http.permit_unconventional_http_version,
        casefold_http_method: http.casefold_http_method,
        ..ParserConfig::default()
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86400 * 365)
}
