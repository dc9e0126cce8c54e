//! The order of a start, as gunicorn's: parse the command line and
//! `GUNICORN_CMD_ARGS`; start the interpreter, which runs the config file;
//! build the configuration; stop there for `--check-config` and
//! `--print-config`; open the error log; detach (`--daemon`) and set
//! `--env`; run the master.
//!
//! The interpreter starts before the configuration exists because the
//! config file is Python; it needs only `$VIRTUAL_ENV` and the arguments.
//! Errors before the error log is open go to standard error as gunicorn
//! prints them ("Error: ...").

use std::path::Path;

use crate::config::{self, Config, Start};
use crate::{log, master, process, python};

/// Run the server with the process's arguments and environment; returns
/// the exit status.
pub fn run() -> i32 {
    let env = |key: &str| std::env::var(key).ok();
    let sources = match config::parse_sources(std::env::args_os(), &env) {
        Ok(Start::Print(text)) => {
            print!("{text}");
            return 0;
        }
        Ok(Start::Run(sources)) => *sources,
        Err(e) => return fail(&e),
    };
    if let Err(e) = python::start() {
        eprintln!("Error: {e}");
        return 1;
    }
    if let Err(e) = add_start_dir(sources.cwd()) {
        eprintln!("Error: {e}");
        return 1;
    }
    let cfg = match sources.load() {
        Ok(cfg) => cfg,
        Err(e) => return fail(&e),
    };
    if cfg.check_config || cfg.print_config {
        return check(&cfg);
    }
    if let Err(e) = log::setup(&cfg) {
        eprintln!("Error: {e}");
        return 1;
    }
    if let Err(e) = process::prepare(&cfg) {
        eprintln!("Error: {e}");
        return e.exit_code();
    }
    if let Err(e) = log::capture_output(&cfg) {
        eprintln!("Error: {e}");
        return 1;
    }
    master::run(cfg, sources)
}

/// gunicorn puts the starting directory first on `sys.path` before it
/// reads the config file (its first `chdir()`): a config file imports the
/// modules beside it, and after `--chdir` the application may still be
/// found there.
fn add_start_dir(cwd: &Path) -> Result<(), String> {
    use pyo3::prelude::*;
    pyo3::Python::attach(|py| -> PyResult<()> {
        let path = py.import("sys")?.getattr("path")?;
        let dir = cwd.as_os_str().into_pyobject(py)?;
        if !path.contains(&dir)? {
            path.call_method1("insert", (0, dir))?;
        }
        Ok(())
    })
    .map_err(|e| format!("cannot add {} to sys.path: {e}", cwd.display()))
}

fn fail(e: &config::Error) -> i32 {
    eprintln!("{}", e.report());
    e.exit_code()
}

/// `--check-config` and `--print-config`: print the configuration if
/// asked, then load the application; exit 0 when it loads, else 1 with
/// the traceback, as gunicorn.
fn check(cfg: &Config) -> i32 {
    if cfg.print_config {
        println!("{}", config::print(cfg));
    }
    let Some(uri) = cfg.app_uri.as_deref() else {
        return 1;
    };
    let loaded = pyo3::Python::attach(|py| {
        python::app::setup_paths(py, &cfg.chdir, &cfg.pythonpath)?;
        python::app::load_app(py, uri).map(drop)
    });
    match loaded {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("\nError while loading the application:\n\n{e}");
            1
        }
    }
}
