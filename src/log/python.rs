//! Python logging configurations (`--log-config`, `--log-config-json`,
//! `logconfig_dict`): when one is set, the error log's records and the
//! access log's lines go to Python's `gunicorn.error` and `gunicorn.access`
//! loggers, set up as gunicorn does (its handlers first, then the user's
//! configuration over gunicorn's defaults), so formatters and handlers of
//! the user's choice (JSON, syslog, files) see gunicorn's records: an
//! access record's `args` is gunicorn's atoms mapping, its `msg` the
//! `access_log_format`.
//!
//! Configured in the master once the interpreter runs, before any worker
//! is forked; the workers inherit the loggers (Python's `logging` re-makes
//! its locks after fork). Without a configuration nothing here runs and
//! the logs stay on the native path.

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyModule, PyTuple};

use crate::config::{Config, LogLevel};
use crate::python::format_exception;

const SOURCE: &str = include_str!("logging_config.py");

static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Whether Python's logging has the error and access logs.
#[inline]
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

fn helper(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    MODULE
        .get_or_try_init(py, || {
            let code = CString::new(SOURCE).map_err(|_| {
                pyo3::exceptions::PyValueError::new_err("logging_config.py holds a NUL")
            })?;
            PyModule::from_code(
                py,
                &code,
                c"gunicorn_rs/logging_config.py",
                c"gunicorn_rs_logging",
            )
            .map(Bound::unbind)
        })
        .map(|m| m.bind(py).clone())
}

/// `logging`'s number for a level.
fn levelno(level: LogLevel) -> u8 {
    match level {
        LogLevel::Debug => 10,
        LogLevel::Info => 20,
        LogLevel::Warning => 30,
        LogLevel::Error => 40,
        LogLevel::Critical => 50,
    }
}

/// Apply `--log-config-json` or `--log-config` from `cfg`, if set (the
/// JSON one wins, as in gunicorn). Errors are the message to show.
pub fn configure(py: Python<'_>, cfg: &Config) -> Result<(), String> {
    let (function, path) = match (&cfg.logging.logconfig_json, &cfg.logging.logconfig) {
        (Some(path), _) => ("configure_json", path),
        (None, Some(path)) => ("configure_file", path),
        (None, None) => return Ok(()),
    };
    let run = || -> PyResult<()> {
        helper(py)?.call_method1(
            function,
            (path, &cfg.errorlog, &cfg.accesslog, levelno(cfg.loglevel)),
        )?;
        Ok(())
    };
    run().map_err(|e| error_text(py, &e))?;
    activate(py);
    Ok(())
}

/// Apply a `logconfig_dict` (from a config file); it takes precedence over
/// the file options, as in gunicorn.
pub fn configure_dict(
    py: Python<'_>,
    dict: &Bound<'_, PyDict>,
    cfg: &Config,
) -> Result<(), String> {
    let run = || -> PyResult<()> {
        helper(py)?.call_method1(
            "configure_dict",
            (dict, &cfg.errorlog, &cfg.accesslog, levelno(cfg.loglevel)),
        )?;
        Ok(())
    };
    run().map_err(|e| error_text(py, &e))?;
    activate(py);
    Ok(())
}

/// A `RuntimeError` from the set-up reads as its message (gunicorn prints
/// `Error: MESSAGE`); anything else with its traceback.
fn error_text(py: Python<'_>, e: &PyErr) -> String {
    if e.is_instance_of::<pyo3::exceptions::PyRuntimeError>(py) {
        e.value(py).to_string()
    } else {
        format_exception(py, e).trim_end().to_string()
    }
}

/// Route the logs to Python, with the native level filter following the
/// `gunicorn.error` logger's effective level (so a config that lowers it to
/// DEBUG shows debug records, and hidden levels cost no Python call).
fn activate(py: Python<'_>) {
    let level = helper(py)
        .and_then(|m| m.getattr("error_log")?.call_method0("getEffectiveLevel"))
        .and_then(|l| l.extract::<i64>())
        .unwrap_or(20);
    let level = match level {
        ..=10 => LogLevel::Debug,
        11..=20 => LogLevel::Info,
        21..=30 => LogLevel::Warning,
        31..=40 => LogLevel::Error,
        _ => LogLevel::Critical,
    };
    super::set_level(level);
    ACTIVE.store(true, Ordering::Relaxed);
}

/// One error-log record (the message without the native stamp).
pub(super) fn error(level: LogLevel, message: &str) {
    Python::attach(|py| {
        let sent = helper(py).and_then(|m| m.call_method1("error", (levelno(level), message)));
        if sent.is_err() {
            // Nowhere better to say it: the record goes to stderr as is.
            eprintln!("{message}");
        }
    });
}

/// USR1: reopen the `FileHandler`s.
pub(super) fn reopen() {
    Python::attach(|py| {
        let _ = helper(py).and_then(|m| m.call_method0("reopen"));
    });
}

/// What an access record is made of.
pub struct AccessRecord<'a, 'py> {
    pub format: &'a str,
    /// The request's environ.
    pub environ: &'a Bound<'py, PyDict>,
    /// The status code, as text (gunicorn's `s` atom).
    pub status: u16,
    pub request_headers: Vec<(String, String)>,
    pub response_headers: Vec<(String, String)>,
    pub body_bytes: u64,
    pub request_time: std::time::Duration,
}

/// One access record to `gunicorn.access`.
pub fn access(py: Python<'_>, record: &AccessRecord<'_, '_>) {
    let run = || -> PyResult<()> {
        let req = PyList::new(
            py,
            record
                .request_headers
                .iter()
                .map(|(k, v)| PyTuple::new(py, [k, v]))
                .collect::<PyResult<Vec<_>>>()?,
        )?;
        let resp = PyList::new(
            py,
            record
                .response_headers
                .iter()
                .map(|(k, v)| PyTuple::new(py, [k, v]))
                .collect::<PyResult<Vec<_>>>()?,
        )?;
        helper(py)?.call_method1(
            "access",
            (
                record.format,
                record.environ,
                record.status.to_string(),
                req,
                resp,
                record.body_bytes,
                record.request_time.as_secs(),
                record.request_time.subsec_micros(),
            ),
        )?;
        Ok(())
    };
    if let Err(e) = run() {
        tracing::error!("{}", format_exception(py, &e).trim_end());
    }
}
