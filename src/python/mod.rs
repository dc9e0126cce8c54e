//! The embedded CPython: the only module that touches the raw C API.
//!
//! - [`resolve`]: which interpreter and virtualenv to run.
//! - `init`: start-up with a PEP 587 `PyConfig`, and finalisation.
//! - [`fork`]: the one fork wrapper, with CPython's fork hooks.
//! - [`app`]: `sys.path` set-up and loading `MODULE[:VARIABLE]`.

pub mod app;
pub mod fork;
mod init;
pub mod resolve;

use std::fmt;

use pyo3::prelude::*;

pub use init::{finalize, initialize};

/// Find the interpreter (`$VIRTUAL_ENV`, else beside the binary, else the
/// one it was built with) and start it with the process's real `sys.argv`.
/// Once per process, before anything else uses Python.
pub fn start() -> Result<(), Error> {
    let interp = resolve::resolve(
        std::env::var("VIRTUAL_ENV").ok().as_deref(),
        std::env::current_exe().ok().as_deref(),
    )?;
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    initialize(&interp, &argv)
}

/// Set `KEY=VALUE` pairs in `os.environ`, which also sets them in the
/// process environment (`putenv`) that children inherit. Python copies the
/// environment when it starts, so `std::env::set_var` alone would not
/// reach the application.
pub fn set_environ(pairs: &[(String, String)]) -> Result<(), Error> {
    Python::attach(|py| {
        let environ = py.import("os")?.getattr("environ")?;
        for (key, value) in pairs {
            environ.set_item(key, value)?;
        }
        Ok(())
    })
    .map_err(|e: PyErr| Error::Init(format!("cannot set the environment: {e}")))
}

/// Something went wrong in or around the interpreter.
#[derive(Debug)]
pub enum Error {
    /// No usable interpreter or virtualenv.
    Resolve(resolve::Error),
    /// CPython failed to start, or the server's own Python set-up failed.
    Init(String),
    /// The application URI names nothing usable (gunicorn's AppImportError:
    /// the worker exits 4).
    AppImport(String),
    /// Importing or building the application raised; holds the traceback
    /// (the worker exits 3).
    AppException(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Resolve(e) => write!(f, "{e}"),
            Error::Init(msg) | Error::AppImport(msg) | Error::AppException(msg) => {
                f.write_str(msg.trim_end())
            }
        }
    }
}

impl std::error::Error for Error {}

impl From<resolve::Error> for Error {
    fn from(e: resolve::Error) -> Self {
        Error::Resolve(e)
    }
}

/// The full Python traceback of `err`, as Python prints it.
pub fn format_exception(py: Python<'_>, err: &PyErr) -> String {
    let formatted = py.import("traceback").and_then(|tb| {
        // The traceback is passed on its own: before Python 3.12 an
        // exception fetched from C does not carry it in `__traceback__`.
        let lines = tb.call_method1(
            "format_exception",
            (err.get_type(py), err.value(py), err.traceback(py)),
        )?;
        let joined: String = lines.extract::<Vec<String>>()?.concat();
        Ok(joined)
    });
    formatted.unwrap_or_else(|_| err.to_string())
}

/// A descriptor of our own for the file behind `fd`, which Python owns
/// (`os.dup`), so it can be sent with sendfile(2) after Python closes its copy.
pub fn dup_fd(py: Python<'_>, fd: i32) -> PyResult<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let dup: i32 = py.import("os")?.call_method1("dup", (fd,))?.extract()?;
    // SAFETY: `os.dup` returned a new descriptor that nothing else refers
    // to; ownership passes to the OwnedFd, which closes it exactly once.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(dup) })
}

/// A Python str holding `bytes` read as latin-1 (each byte one character):
/// how header values and paths reach the environ. One pass in C, ASCII or not.
pub fn latin1_str<'py>(
    py: Python<'py>,
    bytes: &[u8],
) -> PyResult<Bound<'py, pyo3::types::PyString>> {
    let len = pyo3::ffi::Py_ssize_t::try_from(bytes.len())
        .map_err(|_| pyo3::exceptions::PyOverflowError::new_err("value too long"))?;
    // SAFETY: the pointer and length describe `bytes`, which outlives the
    // call (CPython copies them); a NULL errors parameter means "strict",
    // which latin-1 cannot fail. The result is a new reference to a str or
    // NULL with an exception set, which `from_owned_ptr_or_err` turns into Err.
    unsafe {
        let obj = pyo3::ffi::PyUnicode_DecodeLatin1(bytes.as_ptr().cast(), len, std::ptr::null());
        Ok(Bound::from_owned_ptr_or_err(py, obj)?.cast_into_unchecked())
    }
}
