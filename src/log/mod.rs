//! Error log and access log in gunicorn's formats.
//!
//! The error log is a `tracing` subscriber that writes
//! `[2026-11-22 13:19:27 +0000] [pid] [LEVEL] message` lines synchronously
//! (no writer thread: the master forks and must stay single-threaded).
//! Log with `tracing::{debug, info, warn, error}` and, for gunicorn's
//! CRITICAL level, [`critical!`](crate::critical).

pub mod access;

use std::fmt;
use std::io;

use crate::config::LogLevel;

/// A log file that cannot be opened.
#[derive(Debug)]
pub struct Error {
    pub path: String,
    pub source: io::Error,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot open log file {}: {}", self.path, self.source)
    }
}

impl std::error::Error for Error {}

/// Install the error log: `path` is `-` for stderr or a file opened for append.
pub fn init(path: &str, level: LogLevel) -> Result<(), Error> {
    let _ = (path, level);
    todo!()
}

/// Reopen the error log file (USR1). Stderr is left alone.
pub fn reopen() -> io::Result<()> {
    todo!()
}

/// Record the process id to print; call in the child right after fork.
pub fn set_pid(pid: u32) {
    let _ = pid;
    todo!()
}

/// Write raw bytes to the error log stream (`wsgi.errors`, tracebacks).
pub fn write_raw(bytes: &[u8]) {
    let _ = bytes;
    todo!()
}

/// Log at gunicorn's CRITICAL level.
#[macro_export]
macro_rules! critical {
    ($($arg:tt)+) => {
        ::tracing::error!(target: "gunicorn.critical", $($arg)+)
    };
}
