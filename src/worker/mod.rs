//! A worker process: set up after fork, load the application (unless the
//! master preloaded it), serve in the I/O loop, exit like a Python process.
//!
//! Exit statuses are gunicorn's protocol with the master: 3 when the worker
//! could not boot, 4 when the application could not be loaded (with
//! `--reload`, a load failure is served as a 500 instead, see `reload`),
//! 1 after SIGABRT (`abort`).

pub(crate) mod abort;
mod conn;
mod gthread;
pub mod heartbeat;
mod io_loop;
mod limits;
pub mod notice;
mod reload;
mod spool;
mod sync;
mod tmpfile;

use nix::sys::signal::{SigSet, Signal};
use nix::unistd::Pid;
use pyo3::prelude::*;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::hooks::{Hook, WorkerHooks};
use crate::log::access::AccessLog;
use crate::python;
use crate::signals::{self, SignalPipe};
use crate::sock::Listener;
use heartbeat::Heartbeat;

/// gunicorn's WORKER_BOOT_ERROR.
pub const BOOT_ERROR: i32 = 3;
/// gunicorn's APP_LOAD_ERROR.
pub const APP_LOAD_ERROR: i32 = 4;

/// Signals a worker handles (gunicorn's `Worker.init_signals`).
const SIGNALS: [Signal; 4] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
];
/// The master's signals that take their default action in a worker.
const MASTER_ONLY_SIGNALS: [Signal; 4] = [
    Signal::SIGHUP,
    Signal::SIGUSR2,
    Signal::SIGCHLD,
    Signal::SIGWINCH,
];

/// What a freshly forked worker starts from.
pub struct Boot<'a> {
    pub cfg: &'a Config,
    /// The worker's own copies: closed when it stops accepting.
    pub listeners: Vec<Listener>,
    pub heartbeat: Heartbeat,
    /// The application, when the master preloaded it.
    pub app: Option<Py<PyAny>>,
    /// The master's pid: when our parent changes, the master is gone.
    pub master: Pid,
    /// The master's signal actions, inherited through fork: removed once
    /// the worker's own are installed.
    pub master_signals: Option<SignalPipe>,
    /// The signal mask to restore then (the master blocks signals across fork).
    pub signal_mask: SigSet,
    /// This worker's end of the master's notice pipe.
    pub notifier: notice::Notifier,
    /// `--max-requests` plus this worker's jitter, drawn by the master
    /// (0: no limit).
    pub max_requests: u64,
    /// The config file's hooks, with this worker's `server` and `worker` objects.
    pub hooks: WorkerHooks,
}

/// Run a worker to completion; returns its exit status.
pub fn run(mut boot: Boot<'_>) -> i32 {
    let pid = std::process::id();
    crate::log::set_pid(pid);
    crate::process::title::set(&crate::process::worker_title(boot.cfg));
    info!("Booting worker with pid: {pid}");
    let hooks = std::mem::take(&mut boot.hooks);
    // gunicorn: `post_fork` right after "Booting worker"; an exception
    // there means the worker failed to boot.
    let (code, finalize) = match Python::attach(|py| hooks.post_fork(py)) {
        Ok(()) => serve(boot, &hooks),
        Err(e) => {
            error!("Exception in worker process\n{}", e.traceback.trim_end());
            (BOOT_ERROR, true)
        }
    };
    info!("Worker exiting (pid: {pid})");
    Python::attach(|py| {
        hooks.worker_exit(py);
        drop(hooks);
    });
    if finalize {
        // atexit handlers, stdio flush, non-daemon threads: as `sys.exit`.
        python::finalize();
    } else {
        // A thread is still in the application: finalising would pull the
        // interpreter from under it. Flush what Python buffered and go.
        Python::attach(python::fork::flush_stdio);
    }
    code
}

/// Serve until told to stop: the exit status, and whether the interpreter
/// may be finalised.
fn serve(boot: Boot<'_>, hooks: &WorkerHooks) -> (i32, bool) {
    let cfg = boot.cfg;
    let installed =
        SignalPipe::install(&SIGNALS).and_then(|pipe| signals::exit_on_abort().map(|()| pipe));
    drop(boot.master_signals);
    signals::reset_to_default(&MASTER_ONLY_SIGNALS);
    signals::restore(&boot.signal_mask);
    let signals = match installed {
        Ok(s) => s,
        Err(e) => {
            error!("Exception in worker process: cannot install signal handlers: {e}");
            return (BOOT_ERROR, true);
        }
    };
    let access_log = match AccessLog::from_config(cfg) {
        Ok(log) => log,
        Err(e) => {
            error!("Exception in worker process: {e}");
            return (BOOT_ERROR, true);
        }
    };
    if let Err(e) = crate::process::owner::switch_worker(cfg) {
        error!("Exception in worker process: {e}");
        return (BOOT_ERROR, true);
    }
    let built = Python::attach(|py| {
        if let Err(e) = abort::install(py, hooks.clone_ref(py)) {
            // The `_exit(1)` action stays: a timeout still ends the worker.
            warn!(
                "Cannot install the SIGABRT report: {}",
                python::format_exception(py, &e).trim_end()
            );
        }
        // Files a failed load's traceback names, for --reload to watch.
        let mut broken = Vec::new();
        let app = match boot.app {
            Some(app) => app,
            None if cfg.reload && cfg.app_uri.is_some() => {
                match reload::load_or_fail_app(py, cfg) {
                    Ok((app, files)) => {
                        broken = files;
                        app
                    }
                    Err(code) => return Err(code),
                }
            }
            None => load(py, cfg)?,
        };
        let reloader = if cfg.reload {
            match reload::Reloader::start(py, cfg, broken) {
                Ok(r) => Some(r),
                Err(e) => {
                    error!("Exception in worker process: {e}");
                    return Err(BOOT_ERROR);
                }
            }
        } else {
            None
        };
        signals::ignore_sigpipe();
        hooks.set_app(py, &app);
        let parts = io_loop::Parts {
            cfg,
            listeners: boot.listeners,
            signals,
            heartbeat: boot.heartbeat,
            master: boot.master,
            app,
            access_log,
            notifier: boot.notifier,
            max_requests: boot.max_requests,
            reloader,
            hooks,
        };
        let lp = io_loop::IoLoop::new(py, parts).map_err(|msg| {
            error!("{msg}");
            BOOT_ERROR
        })?;
        // gunicorn: after the app is loaded and the reloader started,
        // before the worker counts as booted.
        if let Err(e) = hooks.call_worker(py, Hook::PostWorkerInit) {
            error!("Exception in worker process\n{}", e.traceback.trim_end());
            return Err(BOOT_ERROR);
        }
        Ok(lp)
    });
    match built {
        // The loop takes the GIL itself, when and as long as it needs it.
        Ok(mut lp) => lp.run(),
        Err(code) => (code, true),
    }
}

/// Import the application, reporting failures as gunicorn's worker does:
/// a bad URI is printed as one line (exit 4), an exception with its traceback (exit 3).
fn load(py: Python<'_>, cfg: &Config) -> Result<Py<PyAny>, i32> {
    let Some(uri) = cfg.app_uri.as_deref() else {
        error!("No application module specified.");
        return Err(APP_LOAD_ERROR);
    };
    match python::app::load_app(py, uri) {
        Ok(app) => Ok(app),
        Err(python::Error::AppImport(msg)) => {
            eprintln!("{msg}");
            Err(APP_LOAD_ERROR)
        }
        Err(e) => {
            error!("Exception in worker process\n{e}");
            Err(BOOT_ERROR)
        }
    }
}
