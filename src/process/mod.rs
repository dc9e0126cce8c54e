//! The identity of the server's processes: detaching (`--daemon`), the
//! environment (`--env`), the user, group and file mode mask workers run
//! with (`--user`, `--group`, `--initgroups`, `--umask`), where their
//! heartbeat files live (`--worker-tmp-dir`), and the titles `ps` shows
//! (`--name`).
//!
//! - `daemon`: the double fork, and stdio onto `/dev/null`.
//! - `owner`: switching a worker to its user and group; ownership of the
//!   files a worker must still write after switching.
//! - `title`: process titles; the only `unsafe` of this module.
//!
//! Order of a start, as gunicorn's (see `startup`): the launching process
//! starts the interpreter, builds the configuration (running the config
//! file; unknown users and groups are refused there, so the message
//! reaches the terminal), opens the error log, then detaches; everything
//! after (the preloaded app, the pid file, binding) happens in the daemon,
//! whose errors go to the error log only.

pub mod daemon;
pub mod owner;
pub mod title;

use std::fmt;
use std::io;

use crate::config::Config;

/// A process set-up step that failed.
#[derive(Debug)]
pub enum Error {
    /// `--daemon`: fork, setsid or the stdio redirection failed.
    Daemon(io::Error),
    /// `--worker-tmp-dir` names no directory (gunicorn's message).
    WorkerTmpDir(String),
    /// A worker could not take its user or group.
    Owner(String, io::Error),
    /// `--env` values could not be set.
    Env(String),
}

impl Error {
    /// gunicorn raises the missing `--worker-tmp-dir` out of its main
    /// loop, which exits with status -1 (255); the others exit 1.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::WorkerTmpDir(_) => 255,
            _ => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Daemon(e) => write!(f, "cannot daemonize: {e}"),
            Error::WorkerTmpDir(dir) => write!(f, "{dir} doesn't exist. Can't create workertmp."),
            Error::Owner(what, e) => write!(f, "{what}: {e}"),
            Error::Env(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

/// In the launching process, once the configuration is built and the
/// error log is open: detach when `--daemon` asks, then set the `--env`
/// variables in `os.environ` (and so in the environment of the workers).
///
/// The interpreter is running (it read the config file): the detaching
/// forks go through [`crate::python::fork`].
pub fn prepare(cfg: &Config) -> Result<(), Error> {
    let p = &cfg.process;
    if p.daemon {
        if std::env::var_os("NOTIFY_SOCKET").is_some_and(|v| !v.is_empty()) {
            eprintln!(
                "Warning: you shouldn't specify `daemon = True` when launching by systemd with `Type = notify`"
            );
        }
        // A master re-executed by USR2 is already detached.
        if std::env::var_os("GUNICORN_FD").is_none() {
            daemon::daemonize(p.enable_stdio_inheritance).map_err(Error::Daemon)?;
        }
    }
    crate::python::set_environ(&p.raw_env).map_err(|e| Error::Env(e.to_string()))?;
    owner::own_error_log(cfg);
    Ok(())
}

/// The title of the master: `master [NAME]`, `NAME.2` for a master
/// started by a USR2 re-exec (`GUNICORN_PID` set) until it is promoted.
pub fn master_title(cfg: &Config) -> String {
    format!("master [{}]", proc_name(cfg, reexecuted()))
}

/// The title of a worker: `worker [NAME]` (`NAME.2` as its master's).
pub fn worker_title(cfg: &Config) -> String {
    format!("worker [{}]", proc_name(cfg, reexecuted()))
}

/// Started by a USR2 re-exec, and not promoted yet.
fn reexecuted() -> bool {
    std::env::var_os("GUNICORN_PID").is_some()
}

fn proc_name(cfg: &Config, reexecuted: bool) -> String {
    let name = cfg.proc_name();
    if reexecuted {
        format!("{name}.2")
    } else {
        name.to_string()
    }
}

/// The directory heartbeat files go to: `--worker-tmp-dir`, checked to
/// exist (gunicorn's `WorkerTmp` check and message), else the system's.
pub fn worker_tmp_dir(cfg: &Config) -> Result<std::path::PathBuf, Error> {
    match &cfg.process.worker_tmp_dir {
        Some(dir) if dir.is_dir() => Ok(dir.clone()),
        Some(dir) => Err(Error::WorkerTmpDir(dir.display().to_string())),
        None => Ok(std::env::temp_dir()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn cfg() -> Config {
        let mut cfg = Config::defaults(PathBuf::from("/"));
        cfg.app_uri = Some("shop.wsgi:application".to_string());
        cfg
    }

    #[test]
    fn names_in_titles() {
        let mut c = cfg();
        assert_eq!(proc_name(&c, false), "shop.wsgi:application");
        assert_eq!(proc_name(&c, true), "shop.wsgi:application.2");
        c.process.proc_name = Some("shop".to_string());
        assert_eq!(proc_name(&c, false), "shop");
        assert_eq!(proc_name(&c, true), "shop.2");
        c.app_uri = None;
        c.process.proc_name = None;
        assert_eq!(proc_name(&c, false), "gunicorn");
    }

    #[test]
    fn worker_tmp_dir_must_be_a_directory() {
        let mut c = cfg();
        assert_eq!(worker_tmp_dir(&c).unwrap(), std::env::temp_dir());
        c.process.worker_tmp_dir = Some(std::env::temp_dir());
        assert_eq!(worker_tmp_dir(&c).unwrap(), std::env::temp_dir());
        c.process.worker_tmp_dir = Some(PathBuf::from("/nonexistent/grs"));
        let e = worker_tmp_dir(&c).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nonexistent/grs doesn't exist. Can't create workertmp."
        );
        assert_eq!(e.exit_code(), 255);
    }

    #[test]
    fn files_belong_to_the_master_unless_switching() {
        assert_eq!(owner::switching(&cfg()), None);
    }
}
