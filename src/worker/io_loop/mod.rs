//! The worker's I/O loop: one epoll set over the shared listeners, the
//! worker's signal pipe and every client connection.
//!
//! Connections move through [`State`]: head, body, ready, responding,
//! closing, lingering. Requests reach the application only when complete
//! (`request`), and its response is pulled only as fast as the client takes
//! it (`respond`), so Python never waits on a socket.
//!
//! Who calls the application is the [`Executor`]: with `sync`, the loop
//! itself, one request at a time, holding the GIL for a whole turn and
//! releasing it around `epoll_wait`; with `gthread`, a pool of threads
//! the loop hands connections to, while the loop itself runs without the
//! GIL and takes it only for rare work (closing a response cut short,
//! `--reload` checks, Python-level signal handlers).

mod reloading;
mod request;
mod respond;
mod slab;

pub(super) use respond::Responder;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use pyo3::prelude::*;
use tracing::{debug, error, info, warn};

use super::conn::{Conn, Flush, READ_BUDGET, State};
use super::gthread::Pool;
use super::heartbeat::Heartbeat;
use super::limits::{ClientLimits, deadline_in};
use super::notice::{Kind, Notifier};
use super::reload::Reloader;
use super::sync::SyncExecutor;
use crate::config::{Config, ProxyMode, WorkerClass};
use crate::hooks::{self, Hook, WorkerHooks};
use crate::http::date::HttpDate;
use crate::http::parser::{Limits, ParserConfig};
use crate::log::access::AccessLog;
use crate::signals::SignalPipe;
use crate::sock::Listener;
use crate::wsgi::{self, Wsgi};
use respond::{SharedAccessLog, Stopping};
use slab::Slab;

/// epoll tokens: a connection's is its slot in the low half and the slot's
/// generation in the high half (see `slab`); the loop's own descriptors
/// have all ones in the low half, a slot no connection can have, and
/// their number in the high half.
const fn own_token(n: u64) -> u64 {
    (n << 32) | u32::MAX as u64
}
const TOKEN_SIGNALS: u64 = own_token(0);
/// The `--reload` inotify descriptor.
const TOKEN_RELOAD: u64 = own_token(1);
/// The gthread pool's "connections are back" eventfd.
const TOKEN_EXECUTOR: u64 = own_token(2);
/// Listener `i` has token `own_token(TOKEN_LISTENER_FIRST + i)`.
const TOKEN_LISTENER_FIRST: u64 = 3;
/// Connections accepted per listener wake-up, so one worker does not take
/// a whole burst while its siblings sit idle.
const ACCEPT_BATCH: usize = 64;
/// After accept fails (out of descriptors or memory), wait this long
/// before trying again, rather than spin on a level-triggered listener.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);
/// How long an idle kept-alive connection stays open once the worker is
/// stopping gracefully (gunicorn's gthread worker lingers as long).
const GRACEFUL_LINGER: Duration = Duration::from_secs(2);
/// How long a closing connection waits for the client to close its side.
const LINGER: Duration = Duration::from_secs(2);
/// The loop wakes at least this often: heartbeat, timeouts, master check.
const TICK_MS: u16 = 1000;
const TICK: Duration = Duration::from_millis(TICK_MS as u64);
/// The heartbeat file is touched at most this often (a syscall each time).
/// It is also touched before each app call, so this is how much of
/// `--timeout` a request can lose: small, so a request is given its timeout.
const HEARTBEAT_EVERY: Duration = Duration::from_millis(100);
/// The longest a finished response is held back for the rest of the
/// turn's (see `respond::CORK_MAX`): a bound on the latency that batching
/// adds when the application is slow.
const CORK_HOLD: Duration = Duration::from_millis(1);
/// On exit, how long executor threads get to leave the application.
const QUIT_WAIT: Duration = Duration::from_secs(1);

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

/// What a step of a connection's state machine wants next.
pub(super) enum Step {
    Continue,
    Wait,
    Close,
}

/// A connection for an executor thread: its slot and the connection.
type Job = (usize, Box<Conn>);

/// A connection an executor thread is done with, for the loop.
struct Done {
    id: usize,
    conn: Box<Conn>,
    step: Step,
    /// The worker's request count, when the application was called (for
    /// `--max-requests`).
    counted: Option<u64>,
}

/// Who calls the application.
enum Executor {
    /// sync: the loop itself, for one request at a time.
    Inline {
        queue: SyncExecutor,
        responder: Box<Responder>,
    },
    /// gthread: the pool's threads; the loop hands them connections.
    Threads(Pool<Job, Done>),
}

/// The loop of one worker process.
pub struct IoLoop<'a> {
    cfg: &'a Config,
    epoll: Epoll,
    /// Emptied when the worker stops accepting (see `stop_gracefully`).
    listeners: Vec<Listener>,
    accepting: bool,
    /// Accepting is paused after a failure until then.
    accept_resume: Option<Instant>,
    conns: Slab,
    executor: Executor,
    /// Told to every executor when the worker starts stopping.
    stopping: Arc<AtomicBool>,
    /// gthread: above this many open connections, responses close theirs
    /// (gunicorn's `worker_connections - threads`).
    max_keepalived: usize,
    signals: SignalPipe,
    heartbeat: Heartbeat,
    last_notify: Instant,
    master: Pid,
    /// Parser settings for peers outside / inside `forwarded_allow_ips`.
    parser: ParserConfig,
    parser_trusted: ParserConfig,
    keepalive: Duration,
    /// `--header-timeout`, `--body-timeout` and the buffer sizes.
    limits: ClientLimits,
    /// Reopened on USR1; the executors write to it.
    access_log: Option<SharedAccessLog>,
    mode: Mode,
    last_sweep: Instant,
    /// Where large request bodies are spooled.
    tmp_dir: PathBuf,
    /// Connections that spent their read budget with input left: served
    /// again next turn (edge-triggered epoll will not report them again).
    revisit: Vec<usize>,
    /// Connections with corked responses, sent at the end of the turn, or
    /// once the first of them has waited `CORK_HOLD`.
    corked: Vec<usize>,
    corked_since: Option<Instant>,
    /// The last application call took `CORK_HOLD` or more.
    last_call_slow: bool,
    /// Tells the master we serve, and when we would like to be replaced.
    notifier: Notifier,
    /// `--max-requests` with this worker's jitter; 0: never replaced for it.
    max_requests: u64,
    /// `--reload`: watches the source files.
    reloader: Option<Reloader>,
    /// The config file's hooks (`pre_request`, `post_request`, `worker_int`).
    hooks: &'a WorkerHooks,
    /// Status to exit with once the loop ends (255 after a hook raised).
    exit_status: i32,
}

/// What a worker's loop is built from.
pub struct Parts<'a> {
    pub cfg: &'a Config,
    pub listeners: Vec<Listener>,
    pub signals: SignalPipe,
    pub heartbeat: Heartbeat,
    /// The master's pid: when our parent changes, the master is gone.
    pub master: Pid,
    /// The loaded application.
    pub app: Py<PyAny>,
    pub access_log: Option<AccessLog>,
    pub notifier: Notifier,
    /// `--max-requests` plus this worker's jitter (0: no limit).
    pub max_requests: u64,
    pub reloader: Option<Reloader>,
    pub hooks: &'a WorkerHooks,
}

impl<'a> IoLoop<'a> {
    /// Build the loop and its executor. An error is a message for the
    /// error log (the worker then fails to boot).
    pub fn new(py: Python<'_>, parts: Parts<'a>) -> Result<Self, String> {
        let Parts {
            cfg,
            listeners,
            signals,
            heartbeat,
            master,
            app,
            access_log,
            notifier,
            max_requests,
            reloader,
            hooks,
        } = parts;
        let io = |e: std::io::Error| format!("Exception in worker process: {e}");
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| io(e.into()))?;
        epoll
            .add(
                &signals,
                EpollEvent::new(EpollFlags::EPOLLIN, TOKEN_SIGNALS),
            )
            .map_err(|e| io(e.into()))?;
        let parser = parser_config(cfg);
        let parser_trusted = ParserConfig {
            peer_trusted: true,
            ..parser.clone()
        };
        let access_log = access_log.map(|log| Arc::new(Mutex::new(log)));
        let stopping = Arc::new(AtomicBool::new(false));
        let limits = ClientLimits::from_config(cfg);
        let threaded = cfg.worker_class == WorkerClass::Gthread;
        let mut responders = Vec::with_capacity(cfg.threads);
        for slot in 0..cfg.threads {
            let wsgi = Wsgi::new(
                py,
                app.clone_ref(py),
                cfg.workers > 1,
                threaded,
                cfg.sendfile,
            )
            .map_err(|e| {
                format!(
                    "Exception in worker process\n{}",
                    crate::python::format_exception(py, &e).trim_end()
                )
            })?;
            responders.push(Responder {
                wsgi,
                servers: listeners
                    .iter()
                    .map(|l| wsgi::environ::Server::new(py, l))
                    .collect(),
                date: HttpDate::default(),
                hooks: hooks.clone_ref(py),
                access_log: access_log.clone(),
                limits,
                keepalive_off: cfg.keepalive == 0,
                stopping: Stopping {
                    flag: Arc::clone(&stopping),
                    signals: signals.watch(),
                },
                slot,
                recorded: false,
            });
        }
        let executor = if threaded {
            let workers = responders.into_iter().map(|mut responder| {
                move |py: Python<'_>, (id, mut conn): Job| {
                    let (step, counted) = responder.serve(py, &mut conn);
                    Done {
                        id,
                        conn,
                        step,
                        counted,
                    }
                }
            });
            let pool = Pool::start(workers.collect()).map_err(io)?;
            epoll
                .add(
                    pool.wake_fd(),
                    EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLET, TOKEN_EXECUTOR),
                )
                .map_err(|e| io(e.into()))?;
            Executor::Threads(pool)
        } else {
            let responder = responders
                .pop()
                .ok_or_else(|| io(std::io::ErrorKind::InvalidInput.into()))?;
            Executor::Inline {
                queue: SyncExecutor::default(),
                responder: Box::new(responder),
            }
        };
        let now = Instant::now();
        let mut lp = IoLoop {
            cfg,
            epoll,
            listeners,
            accepting: false,
            accept_resume: None,
            conns: Slab::default(),
            executor,
            stopping,
            max_keepalived: cfg.worker_connections.saturating_sub(cfg.threads),
            signals,
            heartbeat,
            last_notify: now,
            master,
            parser,
            parser_trusted,
            keepalive: Duration::from_secs(cfg.keepalive),
            limits,
            access_log,
            mode: Mode::Running,
            last_sweep: now,
            tmp_dir: std::env::temp_dir(),
            revisit: Vec::new(),
            corked: Vec::new(),
            corked_since: None,
            last_call_slow: false,
            notifier,
            max_requests,
            reloader,
            hooks,
            exit_status: 0,
        };
        if let Some(fd) = lp.reloader.as_ref().and_then(Reloader::fd) {
            lp.epoll
                .add(fd, EpollEvent::new(EpollFlags::EPOLLIN, TOKEN_RELOAD))
                .map_err(|e| io(e.into()))?;
        }
        lp.set_accepting(true).map_err(io)?;
        Ok(lp)
    }

    /// Serve until told to stop. Returns the worker's exit status, and
    /// whether the interpreter may be finalised (not while an executor
    /// thread is still inside the application).
    pub fn run(&mut self) -> (i32, bool) {
        let status = self.serve();
        let finalize = match &mut self.executor {
            Executor::Inline { .. } => true,
            Executor::Threads(pool) => {
                // Stopping gracefully, the threads are idle by now unless
                // the graceful timeout ran out; after INT/QUIT, give a
                // request in progress a moment, as gunicorn's quick exit.
                let finished = pool.shutdown(QUIT_WAIT);
                if !finished {
                    warn!("An executor thread is still in the application; exiting without it");
                }
                finished
            }
        };
        (status, finalize)
    }

    fn serve(&mut self) -> i32 {
        let mut events = vec![EpollEvent::empty(); 256];
        let _ = self.heartbeat.notify();
        // The master waits for this before stopping the worker we replace.
        self.notifier.send(Kind::Booted);
        loop {
            match self.mode {
                Mode::Quit => return self.exit_status,
                Mode::Graceful { deadline }
                    if self.conns.live == 0 || Instant::now() >= deadline =>
                {
                    return self.exit_status;
                }
                _ => {}
            }
            let timeout = if self.revisit.is_empty() {
                EpollTimeout::from(TICK_MS)
            } else {
                EpollTimeout::ZERO
            };
            let (n, interrupted) = match self.epoll.wait(&mut events, timeout) {
                Ok(n) => (n, false),
                Err(nix::errno::Errno::EINTR) => (0, true),
                Err(e) => {
                    error!("epoll_wait failed: {e}");
                    return 1;
                }
            };
            match self.executor {
                // The app runs in this thread: hold the GIL for the turn,
                // so each request does not take and release it.
                Executor::Inline { .. } => Python::attach(|py| {
                    run_python_signal_handlers(py);
                    self.turn(&events[..n]);
                }),
                Executor::Threads(_) => {
                    // Python runs signal handlers in the main thread only,
                    // and this one rarely runs Python: give them a chance
                    // when a signal interrupted the wait.
                    if interrupted {
                        Python::attach(run_python_signal_handlers);
                    }
                    self.turn(&events[..n]);
                }
            }
        }
    }

    /// Everything one wake-up of the loop has to do.
    fn turn(&mut self, events: &[EpollEvent]) {
        for ev in events {
            if self.mode == Mode::Quit {
                break;
            }
            self.dispatch(ev.data(), ev.events());
            self.send_corked_if_due();
        }
        for id in std::mem::take(&mut self.revisit) {
            self.advance(id);
        }
        // What the executor threads handed back (their eventfd woke us,
        // or they finished during this turn).
        self.collect_finished();
        self.run_ready();
        self.send_corked();
        self.housekeeping();
        if hooks::stop_asked() {
            self.stop_gracefully();
        }
    }

    fn dispatch(&mut self, token: u64, flags: EpollFlags) {
        if token == TOKEN_SIGNALS {
            self.handle_signals();
            return;
        }
        if token == TOKEN_RELOAD {
            self.reload_events();
            return;
        }
        if token == TOKEN_EXECUTOR {
            // It only wakes the loop: `turn` collects the results.
            return;
        }
        if token & u64::from(u32::MAX) == u64::from(u32::MAX) {
            if let Some(i) = (token >> 32).checked_sub(TOKEN_LISTENER_FIRST) {
                self.accept(i as usize);
            }
            return;
        }
        let Some(id) = self.conns.slot_of(token) else {
            return;
        };
        let Some(Some(conn)) = self.conns.slots.get_mut(id) else {
            return;
        };
        let hangup = EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR;
        if flags.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP | hangup) {
            conn.readable = true;
        }
        if flags.intersects(EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLHUP) {
            conn.peer_closed = true;
        }
        if flags.intersects(EpollFlags::EPOLLOUT | hangup) {
            conn.writable = true;
        }
        self.advance(id);
    }

    /// Connections the executor threads are done with.
    fn collect_finished(&mut self) {
        let Executor::Threads(pool) = &self.executor else {
            return;
        };
        for done in pool.finished() {
            let Done {
                id,
                mut conn,
                step,
                counted,
            } = done;
            if let Some(n) = counted {
                self.request_counted(n);
            }
            // Readiness that came while a thread had the connection was
            // not seen here (the slot was empty): try both again.
            conn.readable = true;
            conn.writable = true;
            match step {
                Step::Close => self.close(id, conn),
                Step::Continue | Step::Wait => {
                    self.conns.put_back(id, conn);
                    self.advance(id);
                }
            }
        }
    }

    fn handle_signals(&mut self) {
        for sig in self.signals.drain() {
            match sig {
                Signal::SIGTERM => self.stop_gracefully(),
                Signal::SIGINT | Signal::SIGQUIT => {
                    self.mode = Mode::Quit;
                    self.worker_int();
                }
                Signal::SIGUSR1 => self.reopen_logs(),
                _ => {}
            }
        }
    }

    /// gunicorn's quick exit: `alive` cleared, then the `worker_int` hook,
    /// whose exception ends the worker as an unexpected one.
    pub(super) fn worker_int(&mut self) {
        hooks::set_alive(false);
        self.stopping.store(true, Ordering::Relaxed);
        if let Err(e) = Python::attach(|py| self.hooks.call_worker(py, Hook::WorkerInt)) {
            error!("Exception in worker process\n{}", e.traceback.trim_end());
            self.exit_status = crate::worker::abort::UNEXPECTED_STATUS;
            self.mode = Mode::Quit;
        }
    }

    /// USR1: reopen the error and access logs (after log rotation).
    fn reopen_logs(&mut self) {
        if let Err(e) = crate::log::reopen() {
            error!("Cannot reopen the error log: {e}");
        }
        if let Some(log) = &self.access_log
            && let Err(e) = log.lock().unwrap_or_else(PoisonError::into_inner).reopen()
        {
            error!("Cannot reopen the access log: {e}");
        }
    }

    /// Stop accepting; busy connections close after their response, idle
    /// ones after at most `GRACEFUL_LINGER`. An idle kept-alive connection
    /// is not closed at once: its client may be sending the next request
    /// right now, and would see a reset. That request is answered, with
    /// `Connection: close`.
    fn stop_gracefully(&mut self) {
        if self.mode != Mode::Running {
            return;
        }
        hooks::set_alive(false);
        self.stopping.store(true, Ordering::Relaxed);
        self.mode = Mode::Graceful {
            deadline: deadline_in(Duration::from_secs(self.cfg.graceful_timeout)),
        };
        self.close_listeners();
        let linger = deadline_in(GRACEFUL_LINGER);
        for slot in self.conns.slots.iter_mut().flatten() {
            if matches!(slot.state, State::Head) {
                slot.deadline = slot.deadline.min(linger);
            }
        }
    }

    /// Stop accepting for good, and close this worker's copies of the
    /// listening sockets. Open, they would let the kernel go on completing
    /// connections nobody accepts; closed everywhere, a new connection is
    /// refused at once and a load balancer tries elsewhere. Workers of a
    /// reload leave the sockets open in the master and the new workers.
    fn close_listeners(&mut self) {
        let _ = self.set_accepting(false);
        self.listeners.clear();
    }

    fn set_accepting(&mut self, on: bool) -> std::io::Result<()> {
        if on == self.accepting {
            return Ok(());
        }
        for (i, listener) in self.listeners.iter().enumerate() {
            if on {
                // EPOLLEXCLUSIVE: one worker is woken per connection, not all.
                let flags = EpollFlags::EPOLLIN | EpollFlags::EPOLLEXCLUSIVE;
                self.epoll.add(
                    listener,
                    EpollEvent::new(flags, own_token(TOKEN_LISTENER_FIRST + i as u64)),
                )?;
            } else {
                self.epoll.delete(listener)?;
            }
        }
        self.accepting = on;
        Ok(())
    }

    /// Accept again if it was paused and nothing stands in the way.
    fn maybe_resume_accepting(&mut self) {
        let backing_off = self.accept_resume.is_some_and(|t| Instant::now() < t);
        if !self.accepting
            && !backing_off
            && self.mode == Mode::Running
            && self.conns.live < self.cfg.worker_connections
        {
            self.accept_resume = None;
            let _ = self.set_accepting(true);
        }
    }

    fn accept(&mut self, index: usize) {
        for _ in 0..ACCEPT_BATCH {
            if self.conns.live >= self.cfg.worker_connections || self.mode != Mode::Running {
                let _ = self.set_accepting(false);
                return;
            }
            // Looked up each time: serving a connection may stop the
            // worker, which closes its listeners.
            let Some(listener) = self.listeners.get(index) else {
                return;
            };
            match listener.accept() {
                Ok(Some((fd, peer))) => {
                    // A load balancer may open connections ahead of use:
                    // one that sends nothing waits as long as a kept-alive
                    // one would (a head, once begun, has --header-timeout).
                    let idle = self.limits.header_timeout.max(self.keepalive);
                    let mut conn =
                        Box::new(Conn::new(fd, peer, index, self.limits, deadline_in(idle)));
                    conn.proxy_pending = self.cfg.proxy_protocol != ProxyMode::Off;
                    let id = self.conns.insert(conn);
                    let flags = EpollFlags::EPOLLIN
                        | EpollFlags::EPOLLOUT
                        | EpollFlags::EPOLLRDHUP
                        | EpollFlags::EPOLLET;
                    let registered = match &self.conns.slots[id] {
                        Some(c) => self
                            .epoll
                            .add(&c.fd, EpollEvent::new(flags, self.conns.token(id))),
                        None => continue,
                    };
                    if let Err(e) = registered {
                        warn!("Cannot watch a new connection: {e}");
                        if let Some(conn) = self.conns.take(id) {
                            self.close(id, conn);
                        }
                        continue;
                    }
                    // Requests often arrive with the connection: try at once.
                    self.advance(id);
                }
                Ok(None) => return,
                // The master stopped the socket for good (see
                // `Listener::close`): the server is stopping, and this
                // worker's TERM is on its way.
                Err(e) if e.raw_os_error() == Some(nix::libc::EINVAL) => {
                    debug!("The listening sockets were closed: not accepting any more");
                    self.close_listeners();
                    return;
                }
                Err(e) => {
                    warn!("accept() failed: {e}; not accepting new connections for a second");
                    let _ = self.set_accepting(false);
                    self.accept_resume = Some(Instant::now() + ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    /// sync: run queued requests while the application is free.
    fn run_ready(&mut self) {
        while self.mode != Mode::Quit
            && let Executor::Inline { queue, .. } = &mut self.executor
            && let Some(id) = queue.next()
        {
            match self.conns.slots.get(id) {
                Some(Some(conn)) if matches!(conn.state, State::Ready { .. }) => {
                    self.advance(id);
                    self.send_corked_if_due();
                }
                _ => {
                    // Only a connection with a complete request can be queued.
                    debug_assert!(false, "connection {id} queued without a request");
                    queue.forget(id);
                    if let Some(conn) = self.conns.take(id) {
                        self.close(id, conn);
                    }
                }
            }
        }
    }

    /// Drive connection `id` as far as it can go without waiting.
    fn advance(&mut self, id: usize) {
        let Some(mut conn) = self.conns.take(id) else {
            return;
        };
        conn.budget = READ_BUDGET;
        loop {
            let step = match conn.state {
                State::Head => self.step_head(&mut conn),
                State::Body { .. } => self.step_body(&mut conn),
                State::Ready { .. } | State::Responding(_) => match self.answer(id, conn) {
                    Answered::Here(back, step) => {
                        conn = back;
                        step
                    }
                    Answered::Away => return,
                },
                State::Closing => request::step_closing(&mut conn),
                State::Lingering => request::step_lingering(&mut conn),
            };
            match step {
                Step::Continue => {}
                Step::Wait => {
                    if conn.yielded() && !self.revisit.contains(&id) {
                        self.revisit.push(id);
                    }
                    if conn.corked && !self.corked.contains(&id) {
                        self.corked.push(id);
                        self.corked_since.get_or_insert_with(Instant::now);
                    }
                    self.conns.put_back(id, conn);
                    return;
                }
                Step::Close => {
                    self.close(id, conn);
                    return;
                }
            }
        }
    }

    /// A connection with a request for the application or a response from
    /// it: served here (sync), or handed to an executor thread (gthread)
    /// unless it only has buffered bytes to send.
    fn answer(&mut self, id: usize, mut conn: Box<Conn>) -> Answered {
        let ready = matches!(conn.state, State::Ready { .. });
        if ready && conn.corked {
            // A pipelined request: the response before it goes now, not
            // after this one's call, however long that takes.
            conn.corked = false;
            if conn.flush() == Flush::Failed {
                return Answered::Here(conn, Step::Close);
            }
        }
        match &mut self.executor {
            Executor::Inline { queue, .. } => {
                if ready && !queue.try_start(id) {
                    conn.deadline = far_future();
                    return Answered::Here(conn, Step::Wait);
                }
            }
            Executor::Threads(pool) => {
                if let Some(step) = respond::send_buffered(&mut conn) {
                    return Answered::Here(conn, step);
                }
                if ready {
                    conn.close_after = self.conns.live > self.max_keepalived;
                }
                pool.submit((id, conn));
                return Answered::Away;
            }
        }
        if ready {
            // Back-to-back requests must never look like a hung worker.
            self.beat();
            if self.mode == Mode::Quit {
                if let Executor::Inline { queue, .. } = &mut self.executor {
                    queue.release(id);
                }
                return Answered::Here(conn, Step::Close);
            }
        }
        // Responses held back wait for this call too, unless the last one
        // was slow: then this one may be as well.
        if ready && self.last_call_slow && !self.corked.is_empty() {
            self.send_corked();
        }
        let Executor::Inline { queue, responder } = &mut self.executor else {
            return Answered::Here(conn, Step::Close);
        };
        let called_at = ready.then(Instant::now);
        let (step, counted) = Python::attach(|py| responder.serve(py, &mut conn));
        if let Some(t) = called_at {
            self.last_call_slow = t.elapsed() >= CORK_HOLD;
        }
        if !respond::app_busy(&conn.state) {
            queue.release(id);
        }
        if let Some(n) = counted {
            self.request_counted(n);
            // A TERM that came while the app ran is handled before the
            // next request is read.
            if self.signals.pending() {
                self.handle_signals();
            }
        }
        Answered::Here(conn, step)
    }

    /// Send the responses held back during the turn. What the client
    /// does not take now goes when it reads (`request::send_leftover`).
    fn send_corked(&mut self) {
        self.corked_since = None;
        for id in std::mem::take(&mut self.corked) {
            let Some(mut conn) = self.conns.take(id) else {
                // Being advanced right now (this is a call about to be
                // made for it): it is listed again when it waits.
                continue;
            };
            conn.corked = false;
            match conn.flush() {
                Flush::Done => self.conns.put_back(id, conn),
                Flush::Blocked => {
                    conn.deadline = deadline_in(self.limits.body_timeout);
                    self.conns.put_back(id, conn);
                }
                Flush::Failed => self.close(id, conn),
            }
        }
    }

    fn send_corked_if_due(&mut self) {
        if self.corked_since.is_some_and(|t| t.elapsed() >= CORK_HOLD) {
            self.send_corked();
        }
    }

    fn close(&mut self, id: usize, mut conn: Box<Conn>) {
        // A corked response, or the rest of one, that the client may still
        // take (INT/QUIT, a peer that half-closed): one try, no waiting.
        if conn.out_pending() > 0 {
            let _ = conn.flush();
        }
        if let State::Responding(r) = &mut conn.state {
            Python::attach(|py| {
                respond::end_app(py, r);
                respond::post_request(py, self.hooks, r);
            });
        }
        match &mut self.executor {
            Executor::Inline { queue, .. } => {
                queue.forget(id);
                // The GIL is ours for the turn: close gunicorn.socket now.
                if conn.peer_py.is_some() {
                    Python::attach(|py| respond::close_socket(py, &mut conn));
                }
            }
            // The gthread loop does not wait for the GIL: gunicorn.socket
            // goes with the next thread that takes it, and until then its
            // duplicate descriptor holds the socket open. Shut the socket
            // down, so the client sees the close now.
            Executor::Threads(_) if conn.peer_py.is_some() => conn.shutdown_both(),
            Executor::Threads(_) => {}
        }
        let _ = self.epoll.delete(&conn.fd);
        drop(conn);
        self.conns.release(id);
        self.maybe_resume_accepting();
    }

    /// Touch the heartbeat file (at most every `HEARTBEAT_EVERY`) and check
    /// that the master is still our parent.
    fn beat(&mut self) {
        let now = Instant::now();
        if now.duration_since(self.last_notify) < HEARTBEAT_EVERY {
            return;
        }
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

    /// One more request for the application; at `--max-requests`, ask the
    /// master for a successor. This worker goes on serving until the
    /// successor has loaded the app and the master sends TERM, so no
    /// request waits on a worker that is booting.
    fn request_counted(&mut self, n: u64) {
        if n == self.max_requests {
            info!("Autorestarting worker after current request.");
            hooks::set_alive(false);
            self.notifier.send(Kind::Retire);
        }
    }

    /// Heartbeat, accept back-off and idle timeouts, about once a second.
    fn housekeeping(&mut self) {
        self.beat();
        self.notifier.retry();
        let now = Instant::now();
        if now.duration_since(self.last_sweep) < TICK {
            return;
        }
        self.last_sweep = now;
        self.reload_tick();
        self.maybe_resume_accepting();
        for id in self.conns.matching(|c| c.deadline <= now) {
            let Some(mut conn) = self.conns.take(id) else {
                continue;
            };
            // A kept-alive client whose next request arrived while the app
            // was busy is not idle: closing with its request unread would
            // reset the connection. Serve it (next turn) instead.
            if matches!(conn.state, State::Head) && conn.input_waiting() {
                self.conns.put_back(id, conn);
                if !self.revisit.contains(&id) {
                    self.revisit.push(id);
                }
                continue;
            }
            if request::head_timed_out(&mut conn) {
                self.conns.put_back(id, conn);
                self.advance(id);
                continue;
            }
            if matches!(conn.state, State::Body { .. } | State::Responding(_))
                || !conn.inbuf.is_empty()
            {
                debug!(
                    "Closing a connection from {} that stalled mid-request",
                    conn.remote_addr
                );
            }
            self.close(id, conn);
        }
    }
}

/// What `answer` did with a connection.
enum Answered {
    /// Still here, with the next step.
    Here(Box<Conn>, Step),
    /// An executor thread has it; it comes back through `collect_finished`.
    Away,
}

/// Run the Python-level signal handlers that are due (our SIGABRT report,
/// the app's own): Python runs them only when the main thread runs Python.
fn run_python_signal_handlers(py: Python<'_>) {
    if let Err(e) = py.check_signals() {
        error!(
            "A Python signal handler raised\n{}",
            crate::python::format_exception(py, &e).trim_end()
        );
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
        header_map: http.header_map,
        forwarder_headers: cfg.forwarder_headers.clone(),
        permit_unconventional_http_method: http.permit_unconventional_http_method,
        permit_unconventional_http_version: http.permit_unconventional_http_version,
        casefold_http_method: http.casefold_http_method,
        ..ParserConfig::default()
    }
}

fn far_future() -> Instant {
    deadline_in(Duration::from_secs(86400 * 365))
}
