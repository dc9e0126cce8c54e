//! gunicorn's server hooks: the callables a config file names
//! (`on_starting`, `pre_fork`, `pre_request`, ...), checked at start as
//! gunicorn's validators do, and called with objects that carry what hooks
//! read in practice (`objects`).
//!
//! The master and the worker decide *when* a hook runs (their call sites
//! follow gunicorn 27's `arbiter.py` and `workers/`); this module decides
//! *how*: which arguments, and what an exception in the hook turns into.
//! [`MasterHooks`] is the master's side, [`WorkerHooks`] a worker's. With
//! no hook configured neither touches Python at all, and the request path
//! pays one branch per request.
//!
//! Its own module rather than a part of `python/` (where design.md first
//! put hooks): it builds on `config` and `log`, which themselves use
//! `python`'s helpers, so inside `python/` it made the layers import each
//! other upwards.

mod objects;

use std::fmt;

use nix::unistd::Pid;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};
use tracing::{debug, error, warn};

use crate::config::Config;
use crate::http::parser::RequestHead;
use crate::http::response::ResponseHead;
pub use objects::Worker;
use objects::{Cfg, Request, Response, Server};
pub use objects::{count_request, set_alive, stop_asked};

/// A server hook gunicorn-rs calls, with its gunicorn setting name and the
/// number of positional parameters its callable must take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    OnStarting,
    OnReload,
    WhenReady,
    PreFork,
    PostFork,
    PostWorkerInit,
    WorkerInt,
    WorkerAbort,
    PreExec,
    PreRequest,
    PostRequest,
    ChildExit,
    WorkerExit,
    NworkersChanged,
    OnExit,
}

impl Hook {
    pub const ALL: [Hook; 15] = [
        Hook::OnStarting,
        Hook::OnReload,
        Hook::WhenReady,
        Hook::PreFork,
        Hook::PostFork,
        Hook::PostWorkerInit,
        Hook::WorkerInt,
        Hook::WorkerAbort,
        Hook::PreExec,
        Hook::PreRequest,
        Hook::PostRequest,
        Hook::ChildExit,
        Hook::WorkerExit,
        Hook::NworkersChanged,
        Hook::OnExit,
    ];

    /// The setting's name, as a config file spells it.
    pub fn name(self) -> &'static str {
        match self {
            Hook::OnStarting => "on_starting",
            Hook::OnReload => "on_reload",
            Hook::WhenReady => "when_ready",
            Hook::PreFork => "pre_fork",
            Hook::PostFork => "post_fork",
            Hook::PostWorkerInit => "post_worker_init",
            Hook::WorkerInt => "worker_int",
            Hook::WorkerAbort => "worker_abort",
            Hook::PreExec => "pre_exec",
            Hook::PreRequest => "pre_request",
            Hook::PostRequest => "post_request",
            Hook::ChildExit => "child_exit",
            Hook::WorkerExit => "worker_exit",
            Hook::NworkersChanged => "nworkers_changed",
            Hook::OnExit => "on_exit",
        }
    }

    /// The hook named `name`, if gunicorn-rs calls it.
    pub fn from_name(name: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|h| h.name() == name)
    }

    /// The positional parameters gunicorn's validator demands
    /// (`validate_callable(n)`); `post_request` takes 2, 3 or 4.
    fn arity(self) -> usize {
        match self {
            Hook::OnStarting
            | Hook::OnReload
            | Hook::WhenReady
            | Hook::PreExec
            | Hook::OnExit
            | Hook::PostWorkerInit
            | Hook::WorkerInt
            | Hook::WorkerAbort => 1,
            Hook::PreFork
            | Hook::PostFork
            | Hook::ChildExit
            | Hook::WorkerExit
            | Hook::PreRequest => 2,
            Hook::NworkersChanged => 3,
            Hook::PostRequest => 4,
        }
    }
}

/// A hook value a config file gave that gunicorn's validator refuses. The
/// message is gunicorn's `TypeError` text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub hook: &'static str,
    /// `str()` of the value given.
    pub value: String,
    pub message: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Invalid value for {}: {}: {}",
            self.hook, self.value, self.message
        )
    }
}

impl std::error::Error for Invalid {}

/// A hook raised. `traceback` is Python's full report of the exception.
#[derive(Debug)]
pub struct Raised {
    pub hook: &'static str,
    pub traceback: String,
    /// What it raised, where that changes what the master does.
    pub kind: RaisedKind,
}

/// gunicorn's master lets `SystemExit` through (the process exits with its
/// code) and treats `KeyboardInterrupt` as a normal stop; anything else is
/// an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RaisedKind {
    Exception,
    /// `sys.exit(code)`: the status Python would exit with.
    SystemExit(i32),
    KeyboardInterrupt,
}

impl fmt::Display for Raised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Exception in {} hook\n{}",
            self.hook,
            self.traceback.trim_end()
        )
    }
}

impl std::error::Error for Raised {}

/// The configured hooks, validated; a slot per hook, empty when unset.
#[derive(Default)]
pub struct Hooks {
    slots: [Option<Py<PyAny>>; Hook::ALL.len()],
    /// `post_request`'s own arity (2, 3 or 4): how many arguments it gets.
    post_request_arity: usize,
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set: Vec<&str> = Hook::ALL
            .into_iter()
            .filter(|h| self.get(*h).is_some())
            .map(Hook::name)
            .collect();
        f.debug_struct("Hooks").field("set", &set).finish()
    }
}

impl Hooks {
    /// Validate `(setting name, value)` pairs as gunicorn's validators do:
    /// a value may be a callable or an import string `"module.function"`;
    /// it must be callable and take the hook's number of positional
    /// parameters. Names that are not hooks gunicorn-rs calls are skipped.
    pub fn from_values<'py, I>(py: Python<'py>, values: I) -> Result<Hooks, Invalid>
    where
        I: IntoIterator<Item = (&'py str, Bound<'py, PyAny>)>,
    {
        let mut hooks = Hooks::default();
        for (name, value) in values {
            let Some(hook) = Hook::from_name(name) else {
                continue;
            };
            let invalid = |message: String| Invalid {
                hook: hook.name(),
                value: value.str().map(|s| s.to_string()).unwrap_or_default(),
                message,
            };
            let callable = resolve_callable(py, &value).map_err(invalid)?;
            let arity = arity(py, &callable).map_err(|e| invalid(e.to_string()))?;
            let fits = match hook {
                Hook::PostRequest => (2..=4).contains(&arity),
                other => other.arity() == arity,
            };
            if !fits {
                return Err(invalid(format!(
                    "Value must have an arity of: {}",
                    hook.arity()
                )));
            }
            if hook == Hook::PostRequest {
                hooks.post_request_arity = arity;
            }
            hooks.slots[hook as usize] = Some(callable.unbind());
        }
        Ok(hooks)
    }

    fn get(&self, hook: Hook) -> Option<&Py<PyAny>> {
        self.slots[hook as usize].as_ref()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }

    /// Make `cfg.<hook>` the configured callables.
    fn show_in(&self, py: Python<'_>, cfg: &Py<Cfg>) -> PyResult<()> {
        for hook in Hook::ALL {
            if let Some(f) = self.get(hook) {
                cfg.borrow(py).set_hook(py, hook.name(), f)?;
            }
        }
        Ok(())
    }

    fn clone_ref(&self, py: Python<'_>) -> Hooks {
        Hooks {
            slots: std::array::from_fn(|i| self.slots[i].as_ref().map(|h| h.clone_ref(py))),
            post_request_arity: self.post_request_arity,
        }
    }

    /// Call `hook` if it is set.
    fn call<'py>(
        &self,
        py: Python<'py>,
        hook: Hook,
        args: impl pyo3::call::PyCallArgs<'py>,
    ) -> Result<(), Raised> {
        let Some(f) = self.get(hook) else {
            return Ok(());
        };
        f.bind(py)
            .call1(args)
            .map(drop)
            .map_err(|e| raised(py, hook, &e))
    }
}

fn raised(py: Python<'_>, hook: Hook, err: &PyErr) -> Raised {
    Raised {
        hook: hook.name(),
        traceback: crate::python::format_exception(py, err),
        kind: raised_kind(py, err),
    }
}

/// Which of gunicorn's cases `err` is. `SystemExit`'s status is Python's:
/// `None` is 0, an int is itself, anything else is 1 (Python prints it).
fn raised_kind(py: Python<'_>, err: &PyErr) -> RaisedKind {
    use pyo3::exceptions::{PyKeyboardInterrupt, PySystemExit};
    if err.is_instance_of::<PyKeyboardInterrupt>(py) {
        return RaisedKind::KeyboardInterrupt;
    }
    if !err.is_instance_of::<PySystemExit>(py) {
        return RaisedKind::Exception;
    }
    let code = err.value(py).getattr("code").ok();
    let status = match code {
        None => 1,
        Some(c) if c.is_none() => 0,
        Some(c) => c.extract::<i32>().unwrap_or(1),
    };
    RaisedKind::SystemExit(status)
}

/// gunicorn's `validate_callable`: an import string is imported, then the
/// value must be callable. Messages are gunicorn's.
fn resolve_callable<'py>(
    py: Python<'py>,
    value: &Bound<'py, PyAny>,
) -> Result<Bound<'py, PyAny>, String> {
    let value = match value.cast::<PyString>() {
        Ok(s) => {
            let text = s.to_string();
            let Some((module, object)) = text.rsplit_once('.') else {
                return Err(format!(
                    "Value '{text}' is not import string. Format: module[.submodules...].object"
                ));
            };
            let module = py.import(module).map_err(|e| {
                e.value(py)
                    .str()
                    .map(|s| s.to_string())
                    .unwrap_or_else(|_| e.to_string())
            })?;
            module.getattr(object).map_err(|_| {
                format!(
                    "Can not load '{object}' from '{}'",
                    text.rsplit_once('.').map_or("", |p| p.0)
                )
            })?
        }
        Err(_) => value.clone(),
    };
    if !value.is_callable() {
        let shown = value.str().map(|s| s.to_string()).unwrap_or_default();
        return Err(format!("Value is not callable: {shown}"));
    }
    Ok(value)
}

/// gunicorn's `util.get_arity`: the positional parameters of the
/// callable's signature (positional-only and positional-or-keyword).
fn arity(py: Python<'_>, f: &Bound<'_, PyAny>) -> PyResult<usize> {
    // A plain function without attributes of its own (no `__wrapped__` or
    // `__signature__` for inspect to follow): `co_argcount` is what inspect
    // counts, and inspect (with ast, dis, tokenize: about 1.8 MiB in the
    // master and every worker) is not imported.
    let function_type = py.import("types")?.getattr("FunctionType")?;
    if f.get_type().is(&function_type) && f.getattr("__dict__")?.len()? == 0 {
        return f.getattr("__code__")?.getattr("co_argcount")?.extract();
    }
    let inspect = py.import("inspect")?;
    let params = inspect
        .call_method1("signature", (f,))?
        .getattr("parameters")?
        .call_method0("values")?;
    let parameter = inspect.getattr("Parameter")?;
    let positional = [
        parameter.getattr("POSITIONAL_ONLY")?,
        parameter.getattr("POSITIONAL_OR_KEYWORD")?,
    ];
    let mut n = 0;
    for p in params.try_iter()? {
        let kind = p?.getattr("kind")?;
        if positional.iter().any(|k| k.eq(&kind).unwrap_or(false)) {
            n += 1;
        }
    }
    Ok(n)
}

/// The master's hooks and the `server` object they are given (gunicorn's
/// `Arbiter`). Without hooks it is inert.
pub struct MasterHooks {
    active: Option<Active>,
}

struct Active {
    hooks: Hooks,
    server: Py<Server>,
}

impl MasterHooks {
    /// No hook configured.
    pub fn none() -> MasterHooks {
        MasterHooks { active: None }
    }

    pub fn new(py: Python<'_>, hooks: Hooks, cfg: &Config, pid: u32) -> PyResult<MasterHooks> {
        if hooks.is_empty() {
            return Ok(MasterHooks::none());
        }
        let server = Server::new(py, cfg, pid)?;
        hooks.show_in(py, &server.borrow(py).cfg)?;
        Ok(MasterHooks {
            active: Some(Active { hooks, server }),
        })
    }

    pub fn is_active(&self) -> bool {
        self.active.is_some()
    }

    /// HUP read the configuration again: its hooks replace these, and
    /// `server.cfg` shows the new settings. The `server` object stays, with
    /// whatever attributes hooks gave it, as gunicorn's arbiter does.
    pub fn reload(&mut self, py: Python<'_>, hooks: Hooks, cfg: &Config) -> PyResult<()> {
        match &mut self.active {
            Some(a) => {
                let new_cfg = Cfg::new(py, cfg)?;
                hooks.show_in(py, &new_cfg)?;
                let mut server = a.server.borrow_mut(py);
                server.cfg = new_cfg;
                drop(server);
                a.hooks = hooks;
            }
            None if !hooks.is_empty() => {
                *self = MasterHooks::new(py, hooks, cfg, std::process::id())?;
            }
            None => {}
        }
        Ok(())
    }

    /// Run `f` with the GIL when hooks are configured.
    fn with<T: Default>(
        &self,
        f: impl FnOnce(Python<'_>, &Active) -> Result<T, Raised>,
    ) -> Result<T, Raised> {
        match &self.active {
            None => Ok(T::default()),
            Some(a) => Python::attach(|py| f(py, a)),
        }
    }

    /// Call a hook whose only argument is the server.
    pub fn call_server(&self, hook: Hook) -> Result<(), Raised> {
        self.with(|py, a| a.hooks.call(py, hook, (a.server.clone_ref(py),)))
    }

    /// The worker count a hook assigned to `server.num_workers` since the
    /// last call, if any.
    pub fn requested_workers(&self) -> Option<u32> {
        self.with(|py, a| Ok(a.server.borrow_mut(py).requested_workers.take()))
            .ok()
            .flatten()
    }

    /// `num_workers` is assigned: gunicorn calls `nworkers_changed` on
    /// every assignment, even to the same value; `old` is None the first time.
    pub fn nworkers_changed(&self, new: u32, old: Option<u32>) -> Result<(), Raised> {
        self.with(|py, a| {
            a.server.borrow_mut(py).num_workers = new;
            a.hooks.call(
                py,
                Hook::NworkersChanged,
                (a.server.clone_ref(py), new, old),
            )
        })
    }

    /// Before forking worker number `age`: its object (pid `"[booting]"`
    /// as in gunicorn) is made and handed to `pre_fork`; the same object
    /// reaches `post_fork` in the child and `child_exit` here later.
    pub fn pre_fork(&self, age: u64, ppid: u32) -> Result<Option<Py<Worker>>, Raised> {
        self.with(|py, a| {
            let worker = {
                let server = a.server.borrow(py);
                Worker::new(
                    py,
                    age,
                    ppid,
                    server.cfg.clone_ref(py),
                    server.log.clone_ref(py),
                )
                .map_err(|e| raised(py, Hook::PreFork, &e))?
            };
            a.hooks.call(
                py,
                Hook::PreFork,
                (a.server.clone_ref(py), worker.clone_ref(py)),
            )?;
            Ok(Some(worker))
        })
    }

    /// In the master after the fork: the worker has its pid and joins
    /// `server.WORKERS`.
    pub fn forked(&self, worker: &Py<Worker>, pid: Pid) {
        let _ = self.with(|py, a| {
            worker.borrow_mut(py).pid = WorkerPid::Running(pid.as_raw() as u32);
            let workers = a.server.borrow(py).workers.clone_ref(py);
            if let Err(e) = workers.bind(py).set_item(pid.as_raw(), worker) {
                debug!("Cannot record the worker in server.WORKERS: {e}");
            }
            Ok(())
        });
    }

    /// A worker was reaped: it leaves `server.WORKERS`, then `child_exit`.
    pub fn child_exit(&self, worker: Option<&Py<Worker>>, pid: Pid) -> Result<(), Raised> {
        self.with(|py, a| {
            let workers = a.server.borrow(py).workers.clone_ref(py);
            let _ = workers.bind(py).del_item(pid.as_raw());
            let Some(worker) = worker else { return Ok(()) };
            a.hooks.call(
                py,
                Hook::ChildExit,
                (a.server.clone_ref(py), worker.clone_ref(py)),
            )
        })
    }

    /// gunicorn calls `worker_exit` in the master for a worker that
    /// vanished before it could be signalled.
    pub fn worker_gone(&self, worker: Option<&Py<Worker>>, pid: Pid) {
        let result = self.with(|py, a| {
            let workers = a.server.borrow(py).workers.clone_ref(py);
            let _ = workers.bind(py).del_item(pid.as_raw());
            let Some(worker) = worker else { return Ok(()) };
            a.hooks.call(
                py,
                Hook::WorkerExit,
                (a.server.clone_ref(py), worker.clone_ref(py)),
            )
        });
        if let Err(e) = result {
            warn!("Exception during worker exit:\n{}", e.traceback.trim_end());
        }
    }

    /// The worker side, in a freshly forked child: the same `server` and
    /// the worker object `pre_fork` saw, now with the child's pid.
    pub fn for_worker(&self, worker: Option<Py<Worker>>) -> WorkerHooks {
        let (Some(a), Some(worker)) = (&self.active, worker) else {
            return WorkerHooks::none();
        };
        Python::attach(|py| {
            let pid = std::process::id();
            {
                let mut w = worker.borrow_mut(py);
                w.pid = WorkerPid::Running(pid);
            }
            // The child's copy of the master's table holds only siblings.
            let workers = a.server.borrow(py).workers.clone_ref(py);
            let _ = workers.bind(py).call_method0("clear");
            WorkerHooks {
                active: Some(WorkerActive {
                    hooks: a.hooks.clone_ref(py),
                    server: a.server.clone_ref(py),
                    worker,
                }),
            }
        })
    }
}

/// The `req` object for `head` (gunicorn's `http.Request`); `peer` is the
/// client's address and, for TCP, port.
pub fn request_object(
    py: Python<'_>,
    head: &RequestHead,
    peer: (&str, Option<u16>),
) -> PyResult<Py<PyAny>> {
    Request::object(py, head, peer)
}

/// A worker's pid as gunicorn shows it: `"[booting]"` until forked.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WorkerPid {
    Booting,
    Running(u32),
}

/// A worker's hooks and the objects they are given.
#[derive(Default)]
pub struct WorkerHooks {
    active: Option<WorkerActive>,
}

struct WorkerActive {
    hooks: Hooks,
    server: Py<Server>,
    worker: Py<Worker>,
}

impl WorkerHooks {
    pub fn none() -> WorkerHooks {
        WorkerHooks { active: None }
    }

    pub fn clone_ref(&self, py: Python<'_>) -> WorkerHooks {
        WorkerHooks {
            active: self.active.as_ref().map(|a| WorkerActive {
                hooks: a.hooks.clone_ref(py),
                server: a.server.clone_ref(py),
                worker: a.worker.clone_ref(py),
            }),
        }
    }

    fn set(&self, hook: Hook) -> Option<&WorkerActive> {
        self.active.as_ref().filter(|a| a.hooks.get(hook).is_some())
    }

    /// The application is loaded: `worker.wsgi` is its callable, as on
    /// gunicorn's worker (hooks warm it up in `post_worker_init`).
    pub fn set_app(&self, py: Python<'_>, app: &Py<PyAny>) {
        if let Some(a) = &self.active
            && let Err(e) = a.worker.bind(py).as_any().setattr("wsgi", app)
        {
            debug!("Cannot set worker.wsgi: {e}");
        }
    }

    /// `post_fork(server, worker)`.
    pub fn post_fork(&self, py: Python<'_>) -> Result<(), Raised> {
        let Some(a) = self.set(Hook::PostFork) else {
            return Ok(());
        };
        a.hooks.call(
            py,
            Hook::PostFork,
            (a.server.clone_ref(py), a.worker.clone_ref(py)),
        )
    }

    /// A hook whose only argument is the worker: `post_worker_init`,
    /// `worker_int`, `worker_abort`.
    pub fn call_worker(&self, py: Python<'_>, hook: Hook) -> Result<(), Raised> {
        let Some(a) = self.set(hook) else {
            return Ok(());
        };
        a.hooks.call(py, hook, (a.worker.clone_ref(py),))
    }

    /// `worker_exit(server, worker)`; gunicorn logs its exception as a warning.
    pub fn worker_exit(&self, py: Python<'_>) {
        let Some(a) = self.set(Hook::WorkerExit) else {
            return;
        };
        if let Err(e) = a.hooks.call(
            py,
            Hook::WorkerExit,
            (a.server.clone_ref(py), a.worker.clone_ref(py)),
        ) {
            warn!("Exception during worker exit:\n{}", e.traceback.trim_end());
        }
    }

    /// Whether either request hook is set: only then is a `req` object made.
    pub fn wants_requests(&self) -> bool {
        self.set(Hook::PreRequest).is_some() || self.set(Hook::PostRequest).is_some()
    }

    pub fn has_pre_request(&self) -> bool {
        self.set(Hook::PreRequest).is_some()
    }

    /// Whether `post_request` takes the environ: it must then be kept.
    pub fn wants_environ(&self) -> bool {
        self.set(Hook::PostRequest)
            .is_some_and(|a| a.hooks.post_request_arity >= 3)
    }

    /// `pre_request(worker, req)`.
    pub fn pre_request(&self, py: Python<'_>, req: &Py<PyAny>) -> Result<(), Raised> {
        let Some(a) = self.set(Hook::PreRequest) else {
            return Ok(());
        };
        a.hooks.call(
            py,
            Hook::PreRequest,
            (a.worker.clone_ref(py), req.clone_ref(py)),
        )
    }

    /// `post_request(worker, req[, environ[, resp]])`, after the response
    /// went out (or failed); `environ` is `{}` and `resp` None when the
    /// request failed before the app answered, as in gunicorn. An
    /// exception is logged and the worker goes on.
    pub fn post_request(
        &self,
        py: Python<'_>,
        req: &Py<PyAny>,
        environ: Option<&Py<PyDict>>,
        resp: Option<(&ResponseHead, u64)>,
    ) {
        let Some(a) = self.set(Hook::PostRequest) else {
            return;
        };
        let result = (|| -> PyResult<Vec<Py<PyAny>>> {
            let mut args = vec![a.worker.clone_ref(py).into_any(), req.clone_ref(py)];
            if a.hooks.post_request_arity >= 3 {
                let env = match environ {
                    Some(e) => e.clone_ref(py).into_any(),
                    None => PyDict::new(py).into_any().unbind(),
                };
                args.push(env);
            }
            if a.hooks.post_request_arity >= 4 {
                args.push(match resp {
                    Some((head, sent)) => Response::object(py, head, sent)?,
                    None => py.None(),
                });
            }
            Ok(args)
        })();
        let called = result
            .map_err(|e| raised(py, Hook::PostRequest, &e))
            .and_then(|args| {
                let args = PyTuple::new(py, args).map_err(|e| raised(py, Hook::PostRequest, &e))?;
                a.hooks.call(py, Hook::PostRequest, args)
            });
        if let Err(e) = called {
            error!("Exception in post_request hook\n{}", e.traceback.trim_end());
        }
    }
}

#[cfg(test)]
mod tests;
