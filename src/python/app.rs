//! Loading the WSGI application named on the command line, with gunicorn's
//! URI rules (`loader.py`), and preparing `sys.path` first.

use std::ffi::CString;
use std::path::Path;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyList;

use super::{Error, format_exception};

const LOADER_SOURCE: &str = include_str!("loader.py");

/// The loader module, built once per process from `loader.py`.
fn loader(py: Python<'_>) -> Result<Bound<'_, PyModule>, Error> {
    static LOADER: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    LOADER
        .get_or_try_init(py, || {
            let code = CString::new(LOADER_SOURCE)
                .map_err(|_| Error::Init("loader.py holds a NUL".into()))?;
            PyModule::from_code(py, &code, c"gunicorn_rs/loader.py", c"gunicorn_rs_loader")
                .map(Bound::unbind)
                .map_err(|e| Error::Init(format_exception(py, &e)))
        })
        .map(|m| m.bind(py).clone())
}

/// `os.chdir(chdir)` and put it, then each `--pythonpath` entry, first on `sys.path`.
pub fn setup_paths(py: Python<'_>, chdir: &Path, pythonpath: &[String]) -> Result<(), Error> {
    let entries = PyList::new(py, pythonpath).map_err(|e| Error::Init(format_exception(py, &e)))?;
    // As an OsStr: Python decodes a name that is not UTF-8 as os.fsdecode.
    loader(py)?
        .call_method1("setup_paths", (chdir.as_os_str(), entries))
        .map_err(|e| {
            Error::Init(format!(
                "cannot change directory to {}: {}",
                chdir.display(),
                format_exception(py, &e)
            ))
        })?;
    Ok(())
}

/// Import the application named by `uri` (`MODULE[:VARIABLE]`).
pub fn load_app(py: Python<'_>, uri: &str) -> Result<Py<PyAny>, Error> {
    let loader = loader(py)?;
    match loader.call_method1("load", (uri,)) {
        Ok(app) => Ok(app.unbind()),
        Err(err) => {
            let app_import_error = loader.getattr("AppImportError").ok();
            if app_import_error.is_some_and(|cls| err.is_instance(py, &cls)) {
                Err(Error::AppImport(err.value(py).to_string()))
            } else {
                Err(Error::AppException(format_exception(py, &err)))
            }
        }
    }
}

/// Modules a worker imports for itself once forked: `signal` and
/// `traceback` for its SIGABRT report (`worker::abort`), `socket` for
/// `gunicorn.socket` (`wsgi::environ`).
const WORKER_MODULES: [&str; 3] = ["signal", "socket", "traceback"];

/// With `--preload`, import the workers' own modules in the master before
/// the first fork, so the workers share those pages (about 1.2 MiB) with
/// it instead of each building a copy. gunicorn's master has them
/// imported too. A failure is left for the worker to meet and report.
pub fn import_worker_modules(py: Python<'_>) {
    for name in WORKER_MODULES {
        let _ = py.import(name);
    }
}
