//! The objects hooks are given, with gunicorn's attribute names and types:
//! `server` (gunicorn's `Arbiter`), `worker`, `req` (`http.Request`),
//! `resp` (`http.wsgi.Response`), and the `cfg` and `log` both carry.
//!
//! `server` and `worker` take arbitrary attributes, so a hook can leave
//! state for a later one (`pre_fork` to `post_fork`, as with gunicorn's
//! objects, which fork copies).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pyo3::IntoPyObjectExt;
use pyo3::exceptions::{PyAttributeError, PyBaseException};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use tracing::{Level, debug, error, info, warn};

use super::WorkerPid;
use crate::config::settings::{self, DefaultValue};
use crate::config::{Config, HeaderMap, ReloadEngine};
use crate::http::parser::RequestHead;
use crate::http::response::ResponseHead;
use crate::python::latin1_str;

/// Requests this worker process has served (`worker.nr`); 0 in the master,
/// as on the master's copies of gunicorn's worker objects.
static REQUESTS: AtomicU64 = AtomicU64::new(0);
/// `worker.alive`: cleared once the worker is stopping.
static ALIVE: AtomicBool = AtomicBool::new(true);

/// One more request reached the application (`worker.nr`, shared by a
/// gthread worker's threads); returns the new count.
pub fn count_request() -> u64 {
    REQUESTS.fetch_add(1, Ordering::Relaxed) + 1
}

/// A hook set `worker.alive = False`: the worker is to stop gracefully.
static STOP_ASKED: AtomicBool = AtomicBool::new(false);

/// The worker stops (TERM, INT, QUIT, ABRT, max-requests): `worker.alive`.
pub fn set_alive(alive: bool) {
    ALIVE.store(alive, Ordering::Relaxed);
}

/// Whether a hook cleared `worker.alive` since the last call: gunicorn's
/// worker loop then ends after the request, and the master replaces it.
pub fn stop_asked() -> bool {
    STOP_ASKED.swap(false, Ordering::Relaxed)
}

/// `server`: the master as hooks see it.
#[pyclass(module = "gunicorn_rs", name = "Arbiter", dict)]
pub struct Server {
    #[pyo3(get)]
    pub(super) pid: u32,
    #[pyo3(get)]
    pub(super) num_workers: u32,
    #[pyo3(get)]
    pub(super) cfg: Py<Cfg>,
    #[pyo3(get)]
    pub(super) log: Py<Log>,
    /// `server.WORKERS`: pid -> worker object, for the workers this master runs.
    #[pyo3(get, name = "WORKERS")]
    pub(super) workers: Py<PyDict>,
    #[pyo3(get)]
    proc_name: String,
    /// A hook assigned `server.num_workers`: the master adopts it on its
    /// next pass.
    pub(super) requested_workers: Option<u32>,
}

impl Server {
    pub(super) fn new(py: Python<'_>, cfg: &Config, pid: u32) -> PyResult<Py<Server>> {
        Py::new(
            py,
            Server {
                pid,
                num_workers: cfg.workers,
                cfg: Cfg::new(py, cfg)?,
                log: Py::new(py, Log)?,
                workers: PyDict::new(py).unbind(),
                proc_name: cfg.proc_name().to_string(),
                requested_workers: None,
            },
        )
    }
}

#[pymethods]
impl Server {
    fn __repr__(&self) -> String {
        format!("<Arbiter {}>", self.pid)
    }

    /// `server.num_workers = n` in a hook scales the workers, as gunicorn's
    /// property does; like it, the assignment calls `nworkers_changed`.
    #[setter(num_workers)]
    fn set_num_workers_attr(slf: &Bound<'_, Self>, value: u32) -> PyResult<()> {
        let py = slf.py();
        let (old, cfg) = {
            let mut server = slf.borrow_mut();
            let old = std::mem::replace(&mut server.num_workers, value);
            server.requested_workers = Some(value);
            (old, server.cfg.clone_ref(py))
        };
        let hook = cfg
            .borrow(py)
            .values
            .bind(py)
            .get_item("nworkers_changed")?;
        if let Some(hook) = hook
            && hook.is_callable()
        {
            hook.call1((slf, value, old))?;
        }
        Ok(())
    }
}

/// `worker`: one worker process.
#[pyclass(module = "gunicorn_rs", name = "Worker", dict)]
pub struct Worker {
    #[pyo3(get)]
    age: u64,
    pub(super) pid: WorkerPid,
    #[pyo3(get)]
    ppid: u32,
    #[pyo3(get)]
    cfg: Py<Cfg>,
    #[pyo3(get)]
    log: Py<Log>,
    /// gunicorn gives a worker half the timeout to notify within.
    #[pyo3(get)]
    timeout: f64,
}

impl Worker {
    pub(super) fn new(
        py: Python<'_>,
        age: u64,
        ppid: u32,
        cfg: Py<Cfg>,
        log: Py<Log>,
    ) -> PyResult<Py<Worker>> {
        let timeout = cfg.borrow(py).timeout as f64 / 2.0;
        Py::new(
            py,
            Worker {
                age,
                pid: WorkerPid::Booting,
                ppid,
                cfg,
                log,
                timeout,
            },
        )
    }
}

#[pymethods]
impl Worker {
    /// An int once forked; `"[booting]"` in `pre_fork`, as gunicorn's.
    #[getter]
    fn pid(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(match self.pid {
            WorkerPid::Booting => PyString::new(py, "[booting]").into_any().unbind(),
            WorkerPid::Running(pid) => pid.into_pyobject(py)?.into_any().unbind(),
        })
    }

    #[getter]
    fn nr(&self) -> u64 {
        REQUESTS.load(Ordering::Relaxed)
    }

    #[getter]
    fn alive(&self) -> bool {
        ALIVE.load(Ordering::Relaxed)
    }

    /// `worker.alive = False` in a hook (a memory check in `post_request`,
    /// say) stops the worker gracefully, as gunicorn's loop does.
    #[setter(alive)]
    fn set_alive_attr(&self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let alive = value.is_truthy()?;
        // Only the worker's own process: the master's copy (`pre_fork`)
        // must not leave the flag set for every worker it forks.
        if !matches!(self.pid, WorkerPid::Running(pid) if pid == std::process::id()) {
            return Ok(());
        }
        ALIVE.store(alive, Ordering::Relaxed);
        STOP_ASKED.store(!alive, Ordering::Relaxed);
        Ok(())
    }

    fn __str__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("<Worker {}>", self.pid(py)?.bind(py).str()?))
    }
}

/// `cfg`: the settings by name (`cfg.workers`, `cfg.bind`), with the
/// values in force; settings gunicorn-rs does not implement have
/// gunicorn's defaults (setting them is refused at start).
#[pyclass(module = "gunicorn_rs", name = "Config")]
pub struct Cfg {
    values: Py<PyDict>,
    timeout: u64,
}

impl Cfg {
    pub(super) fn new(py: Python<'_>, cfg: &Config) -> PyResult<Py<Cfg>> {
        let values = PyDict::new(py);
        for s in settings::SETTINGS {
            values.set_item(s.name, default_value(py, &s.default)?)?;
        }
        for (name, value) in configured(py, cfg)? {
            values.set_item(name, value)?;
        }
        Py::new(
            py,
            Cfg {
                values: values.unbind(),
                timeout: cfg.timeout,
            },
        )
    }
}

impl Cfg {
    /// `cfg.on_starting` and the like: the configured callable.
    pub(super) fn set_hook(&self, py: Python<'_>, name: &str, f: &Py<PyAny>) -> PyResult<()> {
        self.values.bind(py).set_item(name, f)
    }
}

#[pymethods]
impl Cfg {
    fn __getattr__(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
        match self.values.bind(py).get_item(name)? {
            Some(v) => Ok(v.unbind()),
            None => Err(PyAttributeError::new_err(format!(
                "No configuration setting for: {name}"
            ))),
        }
    }

    /// The settings as a dict, name -> value.
    #[getter]
    fn settings(&self, py: Python<'_>) -> Py<PyDict> {
        self.values.clone_ref(py)
    }
}

fn default_value(py: Python<'_>, d: &DefaultValue) -> PyResult<Py<PyAny>> {
    Ok(match d {
        DefaultValue::None | DefaultValue::Computed(_) => py.None(),
        DefaultValue::Int(n) => n.into_pyobject(py)?.into_any().unbind(),
        DefaultValue::Bool(b) => b.into_pyobject(py)?.to_owned().into_any().unbind(),
        DefaultValue::Str(s) => PyString::new(py, s).into_any().unbind(),
        DefaultValue::List(items) => PyList::new(py, *items)?.into_any().unbind(),
        DefaultValue::Dict(pairs) => {
            let d = PyDict::new(py);
            for (k, v) in *pairs {
                d.set_item(k, v)?;
            }
            d.into_any().unbind()
        }
    })
}

/// The implemented settings' values, as gunicorn's `cfg` attributes hold
/// them, plus the derived attributes hooks read (`worker_class_str`,
/// `uid`, `gid`, `env`, `is_ssl`).
fn configured(py: Python<'_>, cfg: &Config) -> PyResult<Vec<(&'static str, Py<PyAny>)>> {
    fn obj<'py, T: IntoPyObject<'py>>(py: Python<'py>, v: T) -> PyResult<Py<PyAny>> {
        v.into_py_any(py)
    }
    let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
    let p = &cfg.process;
    let env = PyDict::new(py);
    for (k, v) in &p.raw_env {
        env.set_item(k, v)?;
    }
    let raw_env: Vec<String> = p.raw_env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Ok(vec![
        ("wsgi_app", obj(py, cfg.app_uri.clone())?),
        ("workers", obj(py, cfg.workers)?),
        ("bind", obj(py, cfg.bind.clone())?),
        ("backlog", obj(py, cfg.backlog)?),
        ("worker_class", obj(py, cfg.worker_class_name.clone())?),
        ("worker_class_str", obj(py, cfg.worker_class_str())?),
        ("threads", obj(py, cfg.threads)?),
        ("timeout", obj(py, cfg.timeout)?),
        ("graceful_timeout", obj(py, cfg.graceful_timeout)?),
        ("max_requests", obj(py, cfg.max_requests)?),
        ("max_requests_jitter", obj(py, cfg.max_requests_jitter)?),
        ("keepalive", obj(py, cfg.keepalive)?),
        ("pidfile", obj(py, cfg.pidfile.as_deref().map(path))?),
        ("preload_app", obj(py, cfg.preload_app)?),
        ("reload", obj(py, cfg.reload)?),
        (
            "reload_engine",
            obj(
                py,
                match cfg.reload_engine {
                    ReloadEngine::Auto => "auto",
                    ReloadEngine::Poll => "poll",
                    ReloadEngine::Inotify => "inotify",
                },
            )?,
        ),
        (
            "reload_extra_files",
            obj(py, cfg.reload_extra_files.clone())?,
        ),
        ("chdir", obj(py, path(&cfg.chdir))?),
        (
            "pythonpath",
            obj(
                py,
                (!cfg.pythonpath.is_empty()).then(|| cfg.pythonpath.join(",")),
            )?,
        ),
        ("accesslog", obj(py, cfg.accesslog.clone())?),
        ("access_log_format", obj(py, cfg.access_log_format.clone())?),
        ("errorlog", obj(py, cfg.errorlog.clone())?),
        ("loglevel", obj(py, cfg.loglevel.as_str())?),
        ("limit_request_line", obj(py, cfg.limit_request_line)?),
        ("limit_request_fields", obj(py, cfg.limit_request_fields)?),
        (
            "limit_request_field_size",
            obj(py, cfg.limit_request_field_size)?,
        ),
        ("worker_connections", obj(py, cfg.worker_connections)?),
        ("sendfile", obj(py, cfg.sendfile)?),
        (
            "forwarded_allow_ips",
            obj(py, cfg.forwarded_allow_ips.entries().to_vec())?,
        ),
        ("forwarder_headers", obj(py, cfg.forwarder_headers.clone())?),
        ("proxy_protocol", obj(py, cfg.proxy_protocol.name())?),
        (
            "proxy_allow_ips",
            obj(py, cfg.proxy_allow_ips.entries().to_vec())?,
        ),
        ("protocol", obj(py, cfg.protocol.name())?),
        (
            "uwsgi_allow_ips",
            obj(py, cfg.uwsgi_allow_ips.entries().to_vec())?,
        ),
        (
            "permit_obsolete_folding",
            obj(py, cfg.http.permit_obsolete_folding)?,
        ),
        (
            "strip_header_spaces",
            obj(py, cfg.http.strip_header_spaces)?,
        ),
        (
            "permit_unconventional_http_method",
            obj(py, cfg.http.permit_unconventional_http_method)?,
        ),
        (
            "permit_unconventional_http_version",
            obj(py, cfg.http.permit_unconventional_http_version)?,
        ),
        (
            "casefold_http_method",
            obj(py, cfg.http.casefold_http_method)?,
        ),
        (
            "header_map",
            obj(
                py,
                match cfg.http.header_map {
                    HeaderMap::Drop => "drop",
                    HeaderMap::Refuse => "refuse",
                    HeaderMap::Dangerous => "dangerous",
                },
            )?,
        ),
        ("daemon", obj(py, p.daemon)?),
        (
            "enable_stdio_inheritance",
            obj(py, p.enable_stdio_inheritance)?,
        ),
        ("raw_env", obj(py, raw_env)?),
        ("env", env.into_any().unbind()),
        (
            "worker_tmp_dir",
            obj(py, p.worker_tmp_dir.as_deref().map(path))?,
        ),
        ("user", obj(py, p.user)?),
        ("group", obj(py, p.group)?),
        ("uid", obj(py, p.user)?),
        ("gid", obj(py, p.group)?),
        ("initgroups", obj(py, p.initgroups)?),
        ("umask", obj(py, p.umask)?),
        ("proc_name", obj(py, cfg.proc_name())?),
        ("reuse_port", obj(py, p.reuse_port)?),
        ("is_ssl", obj(py, false)?),
    ])
}

/// `log`: the server's error log, with Python `logging`'s method names.
/// Lines go to gunicorn-rs's error log in its format, at its level.
#[pyclass(module = "gunicorn_rs", name = "Logger")]
pub struct Log;

impl Log {
    fn emit<'py>(
        py: Python<'py>,
        level: Level,
        kind: Kind,
        msg: &Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        exc_info: Option<Bound<'py, PyAny>>,
    ) -> PyResult<()> {
        // As `logging`: a hidden level costs no formatting, and a message
        // that cannot be formatted is reported on stderr, never raised
        // into the hook that logged it.
        if !level_enabled(level, kind) {
            return Ok(());
        }
        let mut text = match format_message(py, msg, args) {
            Ok(text) => text,
            Err(e) => {
                logging_error(py, &e, msg, args);
                return Ok(());
            }
        };
        if let Some(exc_info) = exc_info
            && let Some(tb) = exception_text(py, &exc_info)
        {
            text.push('\n');
            text.push_str(tb.trim_end());
        }
        match kind {
            Kind::Critical => {
                crate::critical!("{text}");
                return Ok(());
            }
            // Counted by StatsD as `gunicorn.log.exception`, as gunicorn's
            // `log.exception` is.
            Kind::Exception => {
                crate::exception!("{text}");
                return Ok(());
            }
            Kind::Plain => {}
        }
        match level {
            Level::DEBUG | Level::TRACE => debug!("{text}"),
            Level::INFO => info!("{text}"),
            Level::WARN => warn!("{text}"),
            Level::ERROR => error!("{text}"),
        }
        Ok(())
    }
}

/// Which of gunicorn's logger methods a record comes from, where that
/// changes how it is printed or counted.
#[derive(Clone, Copy)]
enum Kind {
    Plain,
    Critical,
    Exception,
}

/// Whether a record at `level` would be written (or counted by StatsD).
fn level_enabled(level: Level, kind: Kind) -> bool {
    match kind {
        Kind::Critical => {
            return tracing::enabled!(target: crate::log::CRITICAL_TARGET, Level::ERROR);
        }
        Kind::Exception => {
            return tracing::enabled!(target: crate::log::EXCEPTION_TARGET, Level::ERROR);
        }
        Kind::Plain => {}
    }
    match level {
        Level::DEBUG | Level::TRACE => tracing::enabled!(Level::DEBUG),
        Level::INFO => tracing::enabled!(Level::INFO),
        Level::WARN => tracing::enabled!(Level::WARN),
        Level::ERROR => tracing::enabled!(Level::ERROR),
    }
}

/// `logging.Handler.handleError`'s report for a record whose `msg % args`
/// failed: the exception, the message and the arguments, on stderr.
fn logging_error(py: Python<'_>, err: &PyErr, msg: &Bound<'_, PyAny>, args: &Bound<'_, PyTuple>) {
    let shown = |o: &Bound<'_, PyAny>| {
        o.repr()
            .map(|r| r.to_string())
            .unwrap_or_else(|_| "<unprintable>".to_string())
    };
    eprint!(
        "--- Logging error ---\n{}\nMessage: {}\nArguments: {}\n",
        crate::python::format_exception(py, err).trim_end(),
        shown(msg),
        shown(args.as_any())
    );
}

/// `logging`'s `msg % args`, only when there are args.
fn format_message(
    py: Python<'_>,
    msg: &Bound<'_, PyAny>,
    args: &Bound<'_, PyTuple>,
) -> PyResult<String> {
    let msg = if args.is_empty() {
        msg.clone()
    } else if args.len() == 1
        && let Ok(d) = args.get_item(0)?.cast::<PyDict>()
    {
        // `log.info("%(a)s", {"a": 1})`, as logging allows.
        msg.rem(d)?
    } else {
        msg.rem(args)?
    };
    let _ = py;
    Ok(msg.str()?.to_string())
}

/// The traceback `exc_info` stands for, as `logging` reads it: an
/// exception (with its own traceback), an `exc_info()` tuple, or any other
/// true value for the exception being handled ("NoneType: None" when
/// there is none). None if it cannot be formatted.
fn exception_text(py: Python<'_>, exc_info: &Bound<'_, PyAny>) -> Option<String> {
    let triple = if let Ok(e) = exc_info.cast::<PyBaseException>() {
        PyTuple::new(
            py,
            [
                e.get_type().into_any(),
                e.clone().into_any(),
                e.getattr("__traceback__").ok()?,
            ],
        )
        .ok()?
    } else if let Ok(t) = exc_info.cast::<PyTuple>() {
        t.clone()
    } else {
        py.import("sys")
            .ok()?
            .call_method0("exc_info")
            .ok()?
            .cast_into::<PyTuple>()
            .ok()?
    };
    let lines = py
        .import("traceback")
        .ok()?
        .call_method1("format_exception", triple)
        .ok()?;
    Some(lines.extract::<Vec<String>>().ok()?.concat())
}

/// The `exc_info` keyword if true; a true value when absent and `default`.
fn exc_info_kw<'py>(
    py: Python<'py>,
    kwargs: Option<&Bound<'py, PyDict>>,
    default: bool,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    match kwargs.and_then(|k| k.get_item("exc_info").ok().flatten()) {
        Some(v) => Ok(v.is_truthy()?.then_some(v)),
        None => Ok(default.then(|| pyo3::types::PyBool::new(py, true).to_owned().into_any())),
    }
}

#[pymethods]
impl Log {
    #[pyo3(signature = (msg, *args, **kwargs))]
    fn debug(
        &self,
        py: Python<'_>,
        msg: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        Log::emit(
            py,
            Level::DEBUG,
            Kind::Plain,
            msg,
            args,
            exc_info_kw(py, kwargs, false)?,
        )
    }

    #[pyo3(signature = (msg, *args, **kwargs))]
    fn info(
        &self,
        py: Python<'_>,
        msg: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        Log::emit(
            py,
            Level::INFO,
            Kind::Plain,
            msg,
            args,
            exc_info_kw(py, kwargs, false)?,
        )
    }

    #[pyo3(signature = (msg, *args, **kwargs))]
    fn warning(
        &self,
        py: Python<'_>,
        msg: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        Log::emit(
            py,
            Level::WARN,
            Kind::Plain,
            msg,
            args,
            exc_info_kw(py, kwargs, false)?,
        )
    }

    #[pyo3(signature = (msg, *args, **kwargs))]
    fn error(
        &self,
        py: Python<'_>,
        msg: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        Log::emit(
            py,
            Level::ERROR,
            Kind::Plain,
            msg,
            args,
            exc_info_kw(py, kwargs, false)?,
        )
    }

    #[pyo3(signature = (msg, *args, **kwargs))]
    fn critical(
        &self,
        py: Python<'_>,
        msg: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        Log::emit(
            py,
            Level::ERROR,
            Kind::Critical,
            msg,
            args,
            exc_info_kw(py, kwargs, false)?,
        )
    }

    /// `error` with the exception being handled appended.
    #[pyo3(signature = (msg, *args, **kwargs))]
    fn exception(
        &self,
        py: Python<'_>,
        msg: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        Log::emit(
            py,
            Level::ERROR,
            Kind::Exception,
            msg,
            args,
            exc_info_kw(py, kwargs, true)?,
        )
    }

    /// `log(lvl, msg, *args)` with a `logging` level number or name.
    #[pyo3(signature = (lvl, msg, *args, **kwargs))]
    fn log(
        &self,
        py: Python<'_>,
        lvl: &Bound<'_, PyAny>,
        msg: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let n: i64 = match lvl.extract::<i64>() {
            Ok(n) => n,
            Err(_) => match lvl.str()?.to_string().to_ascii_lowercase().as_str() {
                "debug" => 10,
                "info" => 20,
                "warning" | "warn" => 30,
                "error" => 40,
                _ => 50,
            },
        };
        let (level, kind) = match n {
            ..20 => (Level::DEBUG, Kind::Plain),
            20..30 => (Level::INFO, Kind::Plain),
            30..40 => (Level::WARN, Kind::Plain),
            40..50 => (Level::ERROR, Kind::Plain),
            _ => (Level::ERROR, Kind::Critical),
        };
        Log::emit(py, level, kind, msg, args, exc_info_kw(py, kwargs, false)?)
    }

    /// USR1 does this for the server; here for hooks that call it.
    fn reopen_files(&self) {
        if let Err(e) = crate::log::reopen() {
            error!("Cannot reopen the error log: {e}");
        }
    }
}

/// `req`: the request as parsed, before the environ is built.
#[pyclass(module = "gunicorn_rs", name = "Request", dict)]
pub struct Request {
    #[pyo3(get)]
    method: String,
    #[pyo3(get)]
    uri: Py<PyString>,
    #[pyo3(get)]
    path: Py<PyString>,
    #[pyo3(get)]
    query: Py<PyString>,
    #[pyo3(get)]
    fragment: Py<PyString>,
    #[pyo3(get)]
    version: (u8, u8),
    /// `[(NAME, value)]`, names upper-cased as gunicorn's parser does.
    #[pyo3(get)]
    headers: Py<PyList>,
    #[pyo3(get)]
    trailers: Py<PyList>,
    #[pyo3(get)]
    scheme: &'static str,
    /// `(host, port)` for TCP, the socket path's string for a unix socket.
    #[pyo3(get)]
    remote_addr: Py<PyAny>,
    #[pyo3(get)]
    peer_addr: Py<PyAny>,
}

impl Request {
    pub(super) fn object(
        py: Python<'_>,
        head: &RequestHead,
        peer: (&str, Option<u16>),
    ) -> PyResult<Py<PyAny>> {
        let headers = PyList::empty(py);
        for h in head.headers() {
            let name = latin1_str(py, &h.name.to_ascii_uppercase())?;
            let value = latin1_str(py, h.value)?;
            headers.append((name, value))?;
        }
        let addr = match peer.1 {
            Some(port) => (peer.0, port).into_pyobject(py)?.into_any().unbind(),
            None => PyString::new(py, peer.0).into_any().unbind(),
        };
        let req = Request {
            method: head.method().to_string(),
            uri: latin1_str(py, head.uri())?.unbind(),
            path: latin1_str(py, head.path())?.unbind(),
            query: latin1_str(py, head.query())?.unbind(),
            fragment: latin1_str(py, head.fragment())?.unbind(),
            version: head.version(),
            headers: headers.unbind(),
            trailers: PyList::empty(py).unbind(),
            scheme: head.scheme(),
            remote_addr: addr.clone_ref(py),
            peer_addr: addr,
        };
        Ok(Py::new(py, req)?.into_any())
    }
}

#[pymethods]
impl Request {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!("<Request {} {}>", self.method, self.uri.bind(py))
    }
}

/// `resp`: the response as sent.
#[pyclass(module = "gunicorn_rs", name = "Response")]
pub struct Response {
    /// `"200 OK"`.
    #[pyo3(get)]
    status: Py<PyString>,
    #[pyo3(get)]
    status_code: u16,
    /// `[(name, value)]` as the application gave them.
    #[pyo3(get)]
    headers: Py<PyList>,
    /// Body bytes sent.
    #[pyo3(get)]
    sent: u64,
    #[pyo3(get)]
    headers_sent: bool,
    /// The Content-Length the application set, else None.
    #[pyo3(get)]
    response_length: Option<u64>,
}

impl Response {
    pub(super) fn object(py: Python<'_>, head: &ResponseHead, sent: u64) -> PyResult<Py<PyAny>> {
        let headers = PyList::empty(py);
        for (name, value) in head.headers() {
            headers.append((latin1_str(py, name)?, latin1_str(py, value)?))?;
        }
        let resp = Response {
            status: latin1_str(py, head.status())?.unbind(),
            status_code: head.status_code(),
            headers: headers.unbind(),
            sent,
            headers_sent: true,
            response_length: head.content_length(),
        };
        Ok(Py::new(py, resp)?.into_any())
    }
}

#[pymethods]
impl Response {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!("<Response {}>", self.status.bind(py))
    }
}
