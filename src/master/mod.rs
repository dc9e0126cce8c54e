//! The arbiter: the master process that binds the listeners, forks the
//! workers, watches them and shuts them down.
//!
//! A small fixed cycle, as gunicorn's `Arbiter.run`: bring the worker count
//! to its target (`manage_workers`), wait up to a second for a signal on the
//! self-pipe, handle what arrived, reap, then check heartbeats
//! (`murder_workers`). The master
//! never touches a client connection and has no threads besides its own,
//! so forking stays safe.

pub mod pidfile;
mod reconfig;
mod recycle;
mod reexec;
mod systemd;

use std::collections::BTreeMap;
use std::fmt;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use pyo3::prelude::*;
use tracing::{debug, error, info, warn};

use crate::config::{self, Config};
use crate::hooks::{Hook, Hooks, MasterHooks, Raised, RaisedKind, Worker as HookWorker};
use crate::python::fork::Forked;
use crate::signals::{self, SignalPipe};
use crate::sock::Listener;
use crate::sock::inherited::{Inherited, Origin};
use crate::worker::heartbeat::Heartbeat;
use crate::worker::notice::{Kind, Notices};
use crate::{critical, process, python, sock, worker};
use pidfile::Pidfile;

/// Signals the master handles (gunicorn's `Arbiter.SIGNALS` plus CHLD).
const SIGNALS: [Signal; 10] = [
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGCHLD,
];

/// How long a quick shutdown waits for workers before SIGKILL (gunicorn 27).
const QUICK_SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// After a worker fails to boot while others serve, spawning waits this
/// long, doubling per failure up to `SPAWN_BACKOFF_MAX`.
const SPAWN_BACKOFF_MIN: Duration = Duration::from_secs(1);
const SPAWN_BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Why the master could not start.
#[derive(Debug)]
pub enum Error {
    Python(python::Error),
    Sock(sock::Error),
    Pidfile(pidfile::Error),
    Process(process::Error),
    Io(&'static str, std::io::Error),
    /// A server hook raised (gunicorn lets the exception end the master).
    Hook(Raised),
    /// A hook setting's value is not an acceptable callable.
    InvalidHook(crate::hooks::Invalid),
}

impl Error {
    /// gunicorn exits 1 on start-up failures.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Process(e) => e.exit_code(),
            Error::Hook(Raised {
                kind: RaisedKind::SystemExit(code),
                ..
            }) => *code,
            _ => 1,
        }
    }

    /// Whether the error is worth a log line: a hook's `sys.exit()` is
    /// not (Python exits quietly on `SystemExit`).
    fn is_quiet(&self) -> bool {
        matches!(
            self,
            Error::Hook(Raised {
                kind: RaisedKind::SystemExit(_),
                ..
            })
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Python(e) => write!(f, "{e}"),
            Error::Sock(e) => write!(f, "{e}"),
            Error::Pidfile(e) => write!(f, "{e}"),
            Error::Process(e) => write!(f, "{e}"),
            Error::Io(what, e) => write!(f, "{what}: {e}"),
            Error::Hook(e) => write!(f, "{e}"),
            Error::InvalidHook(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

/// Why the master stops.
struct Halt {
    reason: Option<&'static str>,
    exit_code: i32,
    graceful: bool,
    /// A hook raised in the main loop: gunicorn's "Unhandled exception in
    /// main loop", a quick stop and exit status 255, without `on_exit`.
    crashed: Option<Raised>,
}

impl Halt {
    /// TERM: stop gracefully, exit 0.
    fn graceful() -> Halt {
        Halt {
            reason: None,
            exit_code: 0,
            graceful: true,
            crashed: None,
        }
    }

    /// INT or QUIT: stop quickly, exit 0.
    fn quick() -> Halt {
        Halt {
            graceful: false,
            ..Halt::graceful()
        }
    }

    /// A worker could not boot (3) or load the app (4) and none serves:
    /// gunicorn's reasons and statuses.
    fn boot_failure(code: i32) -> Halt {
        Halt {
            reason: Some(if code == worker::APP_LOAD_ERROR {
                "App failed to load."
            } else {
                "Worker failed to boot."
            }),
            exit_code: code,
            ..Halt::graceful()
        }
    }

    /// A hook raised in the main loop, handled as gunicorn's `Arbiter.run`:
    /// `KeyboardInterrupt` is a normal stop, `SystemExit` ends the server
    /// with its status (quietly), anything else is a crash (255).
    fn crash(e: Raised) -> Halt {
        let exit_code = match e.kind {
            RaisedKind::KeyboardInterrupt => return Halt::graceful(),
            RaisedKind::SystemExit(code) => code,
            RaisedKind::Exception => 255,
        };
        Halt {
            reason: None,
            exit_code,
            graceful: false,
            crashed: Some(e),
        }
    }
}

/// A worker process as the master tracks it.
struct WorkerSlot {
    /// Spawn order: the oldest workers are stopped first.
    age: u64,
    spawned: Instant,
    heartbeat: Heartbeat,
    /// It loaded the application and accepts connections.
    booted: bool,
    /// SIGABRT was sent for a missed heartbeat; SIGKILL comes next.
    aborted: bool,
    /// It is to be replaced, and why: it serves on, outside the worker
    /// count, until enough successors have booted.
    replace: Option<recycle::Reason>,
    /// When it was told to stop gracefully; SIGKILL after graceful_timeout.
    retiring: Option<Instant>,
    /// The `worker` object hooks were given in `pre_fork` (hooks only).
    hook_object: Option<Py<HookWorker>>,
}

impl WorkerSlot {
    /// Counts toward the wanted number of workers.
    fn active(&self) -> bool {
        self.replace.is_none() && self.retiring.is_none()
    }

    /// Accepting connections right now.
    fn serving(&self) -> bool {
        self.booted && self.retiring.is_none()
    }
}

/// The master process.
pub struct Arbiter {
    cfg: Config,
    /// Where `cfg` came from, read again on HUP.
    sources: config::Sources,
    pid: u32,
    listeners: Vec<Listener>,
    /// Listeners a reload dropped from `bind`, closed once the workers
    /// that accept on them are gone.
    retired_listeners: Vec<reconfig::Retired>,
    signals: Option<SignalPipe>,
    workers: BTreeMap<Pid, WorkerSlot>,
    num_workers: u32,
    worker_age: u64,
    /// The application, when `--preload` imported it in the master.
    app: Option<Py<PyAny>>,
    pidfile: Option<Pidfile>,
    tmp_dir: PathBuf,
    /// Workers say here that they booted or want replacing (taken in a
    /// worker, which keeps only its own write end).
    notices: Option<Notices>,
    recycle: recycle::Limits,
    /// No worker is spawned before then (after a failed boot).
    spawn_paused: Option<Instant>,
    spawn_backoff: Duration,
    /// USR2 upgrades: this master's re-exec child, or its old master.
    upgrade: reexec::Upgrade,
    /// What the service manager was last told (`$NOTIFY_SOCKET`).
    service: ServiceState,
    /// The number of active workers last logged (and sent to StatsD).
    workers_logged: Option<usize>,
    /// The config file's server hooks.
    hooks: MasterHooks,
}

/// Where the master stands with respect to sd_notify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServiceState {
    /// No worker has served yet: READY not sent.
    Starting,
    Ready,
    /// RELOADING sent: READY follows once no worker of the old set serves.
    Reloading,
}

/// Start the master and run it until it stops; returns the exit status.
/// The interpreter is running; `sources` built `cfg` and build it again
/// on HUP.
pub fn run(cfg: Config, sources: config::Sources) -> i32 {
    match Arbiter::start(cfg, sources) {
        Ok(arbiter) => {
            process::title::set(&process::master_title(&arbiter.cfg));
            arbiter.run()
        }
        Err(e) => {
            if !e.is_quiet() {
                error!("{e}");
            }
            e.exit_code()
        }
    }
}

impl Arbiter {
    /// Everything before the first fork: the app when preloaded, the pid
    /// file, the listeners and the signal pipe.
    fn start(cfg: Config, sources: config::Sources) -> Result<Arbiter, Error> {
        let original = |key: &str| sources.original_env(key).map(str::to_owned);
        let mut upgrade = reexec::Upgrade::at_start(&cfg.process.raw_env, &original);
        let pid = std::process::id();
        let (app, hooks) = Python::attach(|py| -> Result<_, Error> {
            python::app::setup_paths(py, &cfg.chdir, &cfg.pythonpath).map_err(Error::Python)?;
            // As gunicorn's logger set-up: before the hooks and the preload;
            // a config file's `logconfig_dict` wins over the files.
            let configured = match &cfg.logconfig_dict {
                Some(dict) => match dict.bind(py).cast::<pyo3::types::PyDict>() {
                    Ok(dict) => crate::log::python::configure_dict(py, dict, &cfg),
                    Err(_) => Err("logconfig_dict is not a dictionary".to_string()),
                },
                None => crate::log::python::configure(py, &cfg),
            };
            configured.map_err(|m| Error::Python(python::Error::Init(m)))?;
            let hooks = hooks_from_config(py, &cfg)?;
            let hooks = MasterHooks::new(py, hooks, &cfg, pid).map_err(|e| {
                Error::Python(python::Error::Init(python::format_exception(py, &e)))
            })?;
            // gunicorn assigns the worker count (firing `nworkers_changed`,
            // old value None) before it preloads the app.
            hooks
                .nworkers_changed(cfg.workers, None)
                .map_err(Error::Hook)?;
            let app = match (&cfg.app_uri, cfg.preload_app) {
                (Some(uri), true) => python::app::load_app(py, uri)
                    .map(|app| {
                        python::app::import_worker_modules(py);
                        Some(app)
                    })
                    .map_err(Error::Python),
                _ => Ok(None),
            }?;
            Ok((app, hooks))
        })?;

        info!("Starting gunicorn-rs {}", env!("CARGO_PKG_VERSION"));
        let tmp_dir = process::worker_tmp_dir(&cfg).map_err(Error::Process)?;
        let pidfile = match &cfg.pidfile {
            Some(path) => {
                Some(Pidfile::create(&upgrade.pidfile_path(path), pid).map_err(Error::Pidfile)?)
            }
            None => None,
        };
        let remove_pidfile = |pidfile: &Option<Pidfile>| {
            if let Some(p) = pidfile {
                p.remove();
            }
        };
        if let Err(e) = hooks.call_server(Hook::OnStarting) {
            remove_pidfile(&pidfile);
            return Err(Error::Hook(e));
        }
        let signals = SignalPipe::install(&SIGNALS)
            .map_err(|e| Error::Io("cannot install signal handlers", e))?;
        let notices = Notices::new().map_err(|e| Error::Io("cannot create a pipe", e))?;
        let env = |key: &str| std::env::var(key).ok();
        let inherited = Inherited::from_env(env, pid, upgrade.is_reexecuted());
        let bound = match inherited {
            Ok(Some(inherited)) => {
                reexec::unset_env(inherited.env_vars());
                upgrade.set_systemd(inherited.origin == Origin::Systemd);
                inherited.adopt(&cfg.bind, cfg.backlog)
            }
            Ok(None) => sock::bind_all_options(&cfg.bind, &sock::Options::from_config(&cfg)),
            Err(e) => Err(e),
        };
        let listeners = match bound {
            Ok(l) => l,
            Err(e) => {
                remove_pidfile(&pidfile);
                return Err(Error::Sock(e));
            }
        };
        let urls: Vec<String> = listeners.iter().map(Listener::url).collect();
        info!("Listening at: {} ({pid})", urls.join(","));
        info!("Using worker: {}", cfg.worker_class_str());
        if cfg.worker_class == config::WorkerClass::Gthread
            && cfg.worker_connections <= cfg.threads
            && cfg.keepalive > 0
        {
            warn!(
                "No keepalived connections can be handled. Check the number of worker connections and threads."
            );
        }
        if let Err(e) = hooks.call_server(Hook::WhenReady) {
            remove_pidfile(&pidfile);
            return Err(Error::Hook(e));
        }

        Ok(Arbiter {
            num_workers: cfg.workers,
            recycle: recycle::Limits {
                memory_mib: cfg.max_worker_memory,
                lifetime_secs: cfg.max_worker_lifetime,
            },
            cfg,
            sources,
            pid,
            listeners,
            retired_listeners: Vec::new(),
            signals: Some(signals),
            workers: BTreeMap::new(),
            worker_age: 0,
            app,
            pidfile,
            tmp_dir,
            notices: Some(notices),
            spawn_paused: None,
            spawn_backoff: SPAWN_BACKOFF_MIN,
            service: ServiceState::Starting,
            upgrade,
            workers_logged: None,
            hooks,
        })
    }

    fn run(mut self) -> i32 {
        loop {
            if self
                .upgrade
                .maybe_promote(self.pidfile.as_mut(), self.cfg.pidfile.as_deref())
            {
                // `master [NAME.2]` becomes `master [NAME]`.
                process::title::set(&process::master_title(&self.cfg));
            }
            // A hook set `server.num_workers` (its nworkers_changed ran).
            if let Some(n) = self.hooks.requested_workers() {
                self.num_workers = n;
            }
            if let Err(halt) = self.manage_workers() {
                return self.halt(halt);
            }
            for sig in self.wait_events(Duration::from_secs(1)) {
                if let Err(halt) = self.handle_signal(sig) {
                    return self.halt(halt);
                }
            }
            if let Err(halt) = self.reap_workers() {
                return self.halt(halt);
            }
            self.murder_workers();
            self.check_recycling();
        }
    }

    fn handle_signal(&mut self, sig: Signal) -> Result<(), Halt> {
        let name = signal_name(sig);
        if sig == Signal::SIGCHLD {
            debug!("Handling signal: {name}");
        } else {
            info!("Handling signal: {name}");
        }
        match sig {
            Signal::SIGCHLD => self.reap_workers()?,
            Signal::SIGTERM => {
                return Err(Halt::graceful());
            }
            Signal::SIGINT | Signal::SIGQUIT => {
                return Err(Halt::quick());
            }
            Signal::SIGHUP => self.reload()?,
            Signal::SIGTTIN => self.set_num_workers(self.num_workers + 1)?,
            Signal::SIGTTOU if self.num_workers > 1 => {
                self.set_num_workers(self.num_workers - 1)?
            }
            Signal::SIGTTOU => {}
            Signal::SIGUSR1 => {
                if let Err(e) = crate::log::reopen() {
                    error!("Cannot reopen the error log: {e}");
                }
                self.kill_workers(Signal::SIGUSR1);
            }
            Signal::SIGUSR2 => self.upgrade.reexec(&self.listeners, &SIGNALS, &self.hooks),
            // gunicorn: a daemon's workers stop gracefully, the master stays.
            Signal::SIGWINCH if self.cfg.process.daemon => {
                info!("graceful stop of workers");
                self.set_num_workers(0)?;
            }
            Signal::SIGWINCH => debug!("SIGWINCH ignored. Not daemonized"),
            _ => {}
        }
        Ok(())
    }

    /// HUP: every worker is marked for replacement and a new set is
    /// spawned (importing the application afresh unless it was preloaded).
    /// Each old worker serves on until enough new ones have loaded the
    /// app, so nothing is refused meanwhile; if the new ones cannot boot,
    /// the old ones keep serving (see `boot_failed`).
    fn reload(&mut self) -> Result<(), Halt> {
        info!("Hang up: {}", self.upgrade.master_name());
        self.reconfigure();
        self.refresh_hooks();
        // As gunicorn: a reload restores the configured count (TTIN/TTOU undone).
        self.set_num_workers(self.cfg.workers)?;
        if let Err(e) = crate::log::reopen() {
            error!("Cannot reopen the error log: {e}");
        }
        self.hooks
            .call_server(Hook::OnReload)
            .map_err(Halt::crash)?;
        for w in self.workers.values_mut().filter(|w| w.retiring.is_none()) {
            w.replace = Some(recycle::Reason::Reload);
        }
        // An operator's HUP is also how to retry at once after a failed boot.
        self.spawn_paused = None;
        self.spawn_backoff = SPAWN_BACKOFF_MIN;
        if self.service != ServiceState::Starting {
            systemd::notify(systemd::RELOADING);
            self.service = ServiceState::Reloading;
        }
        Ok(())
    }

    /// The configuration was read again: its hooks from now on.
    fn refresh_hooks(&mut self) {
        let cfg = &self.cfg;
        let hooks = &mut self.hooks;
        Python::attach(|py| {
            let refreshed = hooks_from_config(py, cfg).and_then(|new| {
                hooks.reload(py, new, cfg).map_err(|e| {
                    Error::Python(python::Error::Init(python::format_exception(py, &e)))
                })
            });
            if let Err(e) = refreshed {
                error!("Cannot update the server hooks: {e}");
            }
        });
    }

    /// gunicorn's `num_workers` setter: every assignment calls
    /// `nworkers_changed(server, new, old)`, even to the same value.
    fn set_num_workers(&mut self, n: u32) -> Result<(), Halt> {
        let old = std::mem::replace(&mut self.num_workers, n);
        self.hooks
            .nworkers_changed(n, Some(old))
            .map_err(Halt::crash)
    }

    /// Tell the service manager about progress: the first worker serving
    /// (READY), a reload whose old workers have all been stopped.
    fn update_service_state(&mut self) {
        let booted = || self.workers.values().any(|w| w.serving());
        match self.service {
            ServiceState::Starting if booted() => {
                systemd::notify(systemd::READY);
                self.service = ServiceState::Ready;
            }
            ServiceState::Reloading
                if !self.workers.values().any(|w| {
                    w.replace == Some(recycle::Reason::Reload) && w.retiring.is_none()
                }) =>
            {
                systemd::notify(systemd::RELOADED);
                self.service = ServiceState::Ready;
            }
            _ => {}
        }
    }

    /// Spawn or stop workers until `num_workers` are active (gunicorn's
    /// `manage_workers`: the oldest go first), then stop the replaced
    /// workers whose successors serve.
    fn manage_workers(&mut self) -> Result<(), Halt> {
        let mut active: Vec<(u64, Pid)> = self
            .workers
            .iter()
            .filter(|(_, w)| w.active())
            .map(|(pid, w)| (w.age, *pid))
            .collect();
        let wanted = self.num_workers as usize;
        let paused = self.spawn_paused.is_some_and(|t| Instant::now() < t);
        if active.len() < wanted && !paused {
            self.spawn_paused = None;
            for _ in active.len()..wanted {
                if let Err(e) = self.spawn_worker() {
                    if let Error::Hook(e) = e {
                        return Err(Halt::crash(e));
                    }
                    error!("Cannot spawn a worker: {e}");
                    return Err(Halt::boot_failure(worker::BOOT_ERROR));
                }
            }
        }
        if active.len() > wanted {
            active.sort_unstable();
            let excess = active.len() - wanted;
            for (_, pid) in active.into_iter().take(excess) {
                self.retire(pid);
            }
        }
        self.retire_replaced(wanted);
        self.close_retired_listeners();
        self.update_service_state();
        self.report_workers(wanted);
        Ok(())
    }

    /// gunicorn's "N workers" debug line and `gunicorn.workers` gauge when
    /// the number changes, and `gunicorn.backlog` on every pass when asked.
    fn report_workers(&mut self, wanted: usize) {
        let active = self
            .workers
            .values()
            .filter(|w| w.active())
            .count()
            .min(wanted);
        if self.workers_logged != Some(active) {
            self.workers_logged = Some(active);
            debug!("{active} workers");
            crate::log::statsd::gauge("gunicorn.workers", active as i64);
        }
        if self.cfg.logging.enable_backlog_metric && crate::log::statsd::enabled() {
            let backlog: i64 = self
                .listeners
                .iter()
                .map(|l| match l.local_addr() {
                    Some(_) => crate::log::statsd::listen_backlog(l.as_fd()),
                    None => -1,
                })
                .sum();
            if backlog >= 0 {
                debug!("socket backlog: {backlog}");
                crate::log::statsd::histogram("gunicorn.backlog", backlog);
            }
        }
    }

    /// Stop replaced workers, oldest first, as long as at least `wanted`
    /// workers stay serving. One that has not booted serves nobody and goes
    /// at once.
    fn retire_replaced(&mut self, wanted: usize) {
        let serving = self.workers.values().filter(|w| w.serving()).count();
        let mut replaced: Vec<(bool, u64, Pid)> = self
            .workers
            .iter()
            .filter(|(_, w)| w.replace.is_some() && w.retiring.is_none())
            .map(|(pid, w)| (w.booted, w.age, *pid))
            .collect();
        // Not-booted first, then by age.
        replaced.sort_unstable();
        let mut spare = serving.saturating_sub(wanted);
        for (booted, _, pid) in replaced {
            if booted {
                if spare == 0 {
                    break;
                }
                spare -= 1;
            }
            if let Some(w) = self.workers.get(&pid) {
                if let Some(reason) = w.replace.filter(|r| *r != recycle::Reason::Reload) {
                    info!("Replacing worker (pid:{pid}): {reason}");
                }
            }
            self.retire(pid);
        }
    }

    /// Tell a worker to finish what it is doing and exit.
    fn retire(&mut self, pid: Pid) {
        if let Some(w) = self.workers.get_mut(&pid) {
            w.retiring = Some(Instant::now());
        }
        self.kill_worker(pid, Signal::SIGTERM);
    }

    /// Mark workers over `--max-worker-memory` or `--max-worker-lifetime`
    /// for replacement.
    fn check_recycling(&mut self) {
        let limits = self.recycle;
        if limits.memory_mib == 0 && limits.lifetime_secs == 0 {
            return;
        }
        for (pid, w) in &mut self.workers {
            if w.booted && w.active() {
                w.replace = limits.check(*pid, w.spawned.elapsed());
            }
        }
    }

    /// A worker exited with a boot or app-load error before it served.
    /// With no worker serving, the server halts as gunicorn's does (the
    /// app cannot be loaded). With workers serving (a reload or recycle
    /// whose new code is broken), they keep serving, and spawning waits
    /// longer after each failure; an operator's HUP retries at once.
    fn boot_failed(&mut self, code: i32) -> Result<(), Halt> {
        let serving = self.workers.values().filter(|w| w.serving()).count();
        if serving == 0 {
            return Err(Halt::boot_failure(code));
        }
        let wait = self.spawn_backoff;
        error!(
            "A new worker failed to boot; {serving} worker(s) keep serving the application \
             loaded before; next attempt in {}s (or send HUP after fixing it)",
            wait.as_secs()
        );
        self.spawn_paused = Some(Instant::now() + wait);
        self.spawn_backoff = (wait * 2).min(SPAWN_BACKOFF_MAX);
        if self.service == ServiceState::Reloading {
            systemd::notify(systemd::RELOAD_FAILED);
            self.service = ServiceState::Ready;
        }
        Ok(())
    }

    fn spawn_worker(&mut self) -> Result<(), Error> {
        self.worker_age += 1;
        let heartbeat = new_heartbeat(&self.tmp_dir, &self.cfg)
            .map_err(|e| Error::Io("cannot create a heartbeat file", e))?;
        // The pipe is only ever taken in a worker, which never spawns.
        let notifier = match &self.notices {
            Some(notices) => notices.notifier(),
            None => Err(std::io::ErrorKind::NotFound.into()),
        }
        .map_err(|e| Error::Io("cannot share the notice pipe", e))?;
        let max_requests =
            recycle::max_requests(self.cfg.max_requests, self.cfg.max_requests_jitter);
        let hook_object = self
            .hooks
            .pre_fork(self.worker_age, self.pid)
            .map_err(Error::Hook)?;
        let mask = signals::block_all().map_err(|e| Error::Io("cannot block signals", e.into()))?;
        let forked = python::fork::fork();
        match forked {
            Ok(Forked::Parent(pid)) => {
                signals::restore(&mask);
                let slot = WorkerSlot {
                    age: self.worker_age,
                    spawned: Instant::now(),
                    heartbeat,
                    booted: false,
                    aborted: false,
                    replace: None,
                    retiring: None,
                    hook_object,
                };
                if let Some(w) = &slot.hook_object {
                    self.hooks.forked(w, pid);
                }
                self.workers.insert(pid, slot);
                Ok(())
            }
            Err(e) => {
                signals::restore(&mask);
                Err(Error::Io("fork failed", e.into()))
            }
            Ok(Forked::Child) => {
                // The child keeps nothing of the master's but the listeners:
                // no listeners a reload dropped (a copy would keep them
                // accepting into the backlog), no siblings' heartbeat files,
                // no master signal actions
                // (dropped once the worker's own are installed).
                self.workers.clear();
                self.retired_listeners.clear();
                // Its own `notifier` is all of the notice pipe it keeps.
                drop(self.notices.take());
                let hooks = self.hooks.for_worker(hook_object);
                let code = worker::run(worker::Boot {
                    cfg: &self.cfg,
                    listeners: std::mem::take(&mut self.listeners),
                    heartbeat,
                    app: self.app.take(),
                    master: Pid::from_raw(self.pid as i32),
                    master_signals: self.signals.take(),
                    signal_mask: mask,
                    notifier,
                    max_requests,
                    hooks,
                });
                std::process::exit(code);
            }
        }
    }

    /// Reap exited children and log how each ended; a worker that failed to
    /// boot (3) or to load the app (4) stops the server, as in gunicorn.
    fn reap_workers(&mut self) -> Result<(), Halt> {
        loop {
            let status = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return Ok(()),
                Ok(status) => status,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    error!("waitpid failed: {e}");
                    return Ok(());
                }
            };
            let Some(pid) = status.pid() else { continue };
            if self.upgrade.reaped(pid) {
                continue;
            }
            let Some(slot) = self.workers.remove(&pid) else {
                // Not ours (we may be PID 1 in a container): reaped quietly.
                debug!("Reaped unknown child process (pid:{pid}, status:{status:?})");
                continue;
            };
            match status {
                WaitStatus::Signaled(_, sig, _) => match sig {
                    Signal::SIGKILL => {
                        error!("Worker (pid:{pid}) was sent SIGKILL! Perhaps out of memory?")
                    }
                    Signal::SIGTERM => info!("Worker (pid:{pid}) was sent SIGTERM!"),
                    other => warn!("Worker (pid:{pid}) was sent {}!", other.as_str()),
                },
                WaitStatus::Exited(_, code) if code != 0 => {
                    error!("Worker (pid:{pid}) exited with code {code}.");
                    if !slot.booted && matches!(code, worker::BOOT_ERROR | worker::APP_LOAD_ERROR) {
                        self.boot_failed(code)?;
                    }
                }
                _ => {}
            }
            self.hooks
                .child_exit(slot.hook_object.as_ref(), pid)
                .map_err(Halt::crash)?;
        }
    }

    /// Heartbeats: a worker silent for longer than `--timeout` gets SIGABRT,
    /// then SIGKILL if it is still there; a retiring worker past
    /// `--graceful-timeout` gets SIGKILL.
    fn murder_workers(&mut self) {
        let timeout = Duration::from_secs(self.cfg.timeout);
        let graceful = Duration::from_secs(self.cfg.graceful_timeout);
        let mut to_kill = Vec::new();
        for (pid, w) in &mut self.workers {
            if let Some(since) = w.retiring {
                if since.elapsed() > graceful {
                    to_kill.push((*pid, Signal::SIGKILL));
                }
                continue;
            }
            if timeout.is_zero() {
                continue;
            }
            let Ok(Some(silence)) = w.heartbeat.silence() else {
                continue;
            };
            if silence <= timeout {
                continue;
            }
            if w.aborted {
                to_kill.push((*pid, Signal::SIGKILL));
            } else {
                critical!("WORKER TIMEOUT (pid:{pid})");
                w.aborted = true;
                to_kill.push((*pid, Signal::SIGABRT));
            }
        }
        for (pid, sig) in to_kill {
            self.kill_worker(pid, sig);
        }
    }

    fn kill_workers(&mut self, sig: Signal) {
        let pids: Vec<Pid> = self.workers.keys().copied().collect();
        for pid in pids {
            self.kill_worker(pid, sig);
        }
    }

    fn kill_worker(&mut self, pid: Pid, sig: Signal) {
        if let Err(Errno::ESRCH) = kill(pid, sig)
            && let Some(slot) = self.workers.remove(&pid)
        {
            // As gunicorn: a worker found gone gets its `worker_exit` here.
            self.hooks.worker_gone(slot.hook_object.as_ref(), pid);
        }
    }

    /// Wait up to `timeout` for signals or workers' notices; notices are
    /// applied here, signals returned.
    fn wait_events(&mut self, timeout: Duration) -> Vec<Signal> {
        let (Some(signals), Some(notices)) = (&self.signals, &self.notices) else {
            return Vec::new();
        };
        let mut fds = [
            PollFd::new(signals.as_fd(), PollFlags::POLLIN),
            PollFd::new(notices.as_fd(), PollFlags::POLLIN),
        ];
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        if !matches!(poll(&mut fds, PollTimeout::from(ms)), Ok(n) if n > 0) {
            return Vec::new();
        }
        let arrived = signals.drain();
        for (pid, kind) in notices.drain() {
            let Some(w) = self.workers.get_mut(&pid) else {
                continue;
            };
            match kind {
                Kind::Booted => {
                    debug!("Worker (pid:{pid}) booted");
                    w.booted = true;
                    self.spawn_backoff = SPAWN_BACKOFF_MIN;
                }
                Kind::Retire => {
                    w.replace.get_or_insert(recycle::Reason::MaxRequests);
                }
            }
        }
        arrived
    }

    /// Stop the workers (gracefully or quickly), then exit.
    fn halt(mut self, halt: Halt) -> i32 {
        if let Some(e) = halt
            .crashed
            .as_ref()
            .filter(|e| e.kind == RaisedKind::Exception)
        {
            error!(
                "Unhandled exception in main loop\n{}",
                e.traceback.trim_end()
            );
        }
        if self.upgrade.stops_service() {
            systemd::notify(systemd::STOPPING);
        } else if let Some(new) = self.upgrade.successor() {
            // systemd watches the process it started: told nothing, it
            // would stop the service (and kill the new master) when this
            // one exits. Sent before the workers stop, so long before exit.
            systemd::notify(&systemd::main_pid(new.as_raw()));
        }
        self.stop(halt.graceful);
        if halt.crashed.is_some() {
            if let Some(p) = &self.pidfile {
                p.remove();
            }
            return self.finish(halt.exit_code);
        }
        let name = self.upgrade.master_name();
        if halt.exit_code == 0 {
            info!("Shutting down: {name}");
        } else {
            error!("Shutting down: {name}");
        }
        if let Some(reason) = halt.reason {
            if halt.exit_code == 0 {
                info!("Reason: {reason}");
            } else {
                error!("Reason: {reason}");
            }
        }
        if let Some(p) = &self.pidfile {
            p.remove();
        }
        let mut code = halt.exit_code;
        if let Err(e) = self.hooks.call_server(Hook::OnExit) {
            // gunicorn's `sys.exit` is never reached: Python reports the
            // exception and exits 1.
            error!("{e}");
            code = 1;
        }
        self.finish(code)
    }

    /// Release Python's objects and finalise the interpreter.
    fn finish(mut self, code: i32) -> i32 {
        drop(self.app.take());
        self.workers.clear();
        self.hooks = MasterHooks::none();
        python::finalize();
        code
    }

    /// gunicorn's `Arbiter.stop`: close the listeners, signal the workers
    /// (TERM, or QUIT when quick), wait for them up to `--graceful-timeout`
    /// (an INT/QUIT meanwhile shortens the wait), then SIGKILL the rest.
    fn stop(&mut self, graceful: bool) {
        let unlink = self.upgrade.unlink_sockets();
        for listener in self.listeners.drain(..) {
            listener.close(unlink);
        }
        self.close_retired_listeners_now(unlink);
        let mut quick = !graceful;
        self.kill_workers(if quick {
            Signal::SIGQUIT
        } else {
            Signal::SIGTERM
        });
        let mut deadline = Instant::now() + Duration::from_secs(self.cfg.graceful_timeout);
        while !self.workers.is_empty() && Instant::now() < deadline {
            for sig in self.wait_events(Duration::from_millis(100)) {
                if !quick && matches!(sig, Signal::SIGINT | Signal::SIGQUIT) {
                    info!("Quick shutdown requested");
                    quick = true;
                    self.kill_workers(Signal::SIGQUIT);
                    deadline = deadline.min(Instant::now() + QUICK_SHUTDOWN_GRACE);
                }
            }
            self.reap_while_stopping();
        }
        self.kill_workers(Signal::SIGKILL);
        self.reap_while_stopping();
    }

    /// Reaping while the master stops: nothing halts it further, but a
    /// `child_exit` hook's exception is still reported.
    fn reap_while_stopping(&mut self) {
        if let Err(Halt {
            crashed: Some(e), ..
        }) = self.reap_workers()
        {
            error!("{e}");
        }
    }
}

/// The config file's hooks, validated as gunicorn's validators do.
fn hooks_from_config(py: Python<'_>, cfg: &Config) -> Result<Hooks, Error> {
    let values = cfg
        .hooks
        .names()
        .filter_map(|name| Some((name, cfg.hooks.get(name)?.bind(py).clone())));
    Hooks::from_values(py, values).map_err(Error::InvalidHook)
}

/// A worker's heartbeat file in `dir`, made under `--umask` and owned by
/// the worker's user and group, so the worker can still touch it once it
/// has switched to them (gunicorn's `WorkerTmp`).
fn new_heartbeat(dir: &Path, cfg: &Config) -> std::io::Result<Heartbeat> {
    let heartbeat = sock::with_umask(cfg.process.umask, || Heartbeat::create(dir))?;
    if let Some((uid, gid)) = process::owner::switching(cfg) {
        heartbeat.chown(uid, gid)?;
    }
    Ok(heartbeat)
}

/// gunicorn's names in "Handling signal: term".
fn signal_name(sig: Signal) -> String {
    sig.as_str().trim_start_matches("SIG").to_ascii_lowercase()
}
