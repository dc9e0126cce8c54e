//! Configuration: every gunicorn setting, and the typed [`Config`] the rest of
//! the server reads.
//!
//! One table (`settings`) lists each gunicorn 27 setting with its flags,
//! default, environment fallback and validator. The command line is built
//! from that table, so a gunicorn flag is never misread: a setting this
//! version does not implement yet is recognised and refused by name.
//!
//! Never touches Python, sockets or processes.

use std::fmt;
use std::path::PathBuf;

/// Severity threshold of the error log (`--log-level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

/// The resolved configuration of one server run.
#[derive(Debug, Clone)]
pub struct Config {
    /// `MODULE[:VARIABLE]`, positional (or later `wsgi_app` from a config file).
    pub app_uri: Option<String>,
    /// `-w/--workers`, default 1 or `$WEB_CONCURRENCY`.
    pub workers: u32,
    /// `-b/--bind` (repeatable), raw strings parsed by `sock`.
    /// Default `127.0.0.1:8000`, or `0.0.0.0:$PORT` when `PORT` is set.
    pub bind: Vec<String>,
    /// `--backlog`, default 2048.
    pub backlog: i32,
    /// `-t/--timeout` seconds; 0 disables the heartbeat check. Default 30.
    pub timeout: u64,
    /// `--graceful-timeout` seconds, default 30.
    pub graceful_timeout: u64,
    /// `--keep-alive` seconds, default 2.
    pub keepalive: u64,
    /// `-p/--pid`.
    pub pidfile: Option<PathBuf>,
    /// `--preload`.
    pub preload_app: bool,
    /// `--chdir`, default the working directory at start.
    pub chdir: PathBuf,
    /// `--pythonpath`, comma-separated directories.
    pub pythonpath: Vec<String>,
    /// `--access-logfile`; `-` means stdout. None: no access log.
    pub accesslog: Option<String>,
    /// `--access-logformat`.
    pub access_log_format: String,
    /// `--error-logfile/--log-file`; `-` means stderr.
    pub errorlog: String,
    /// `--log-level`.
    pub loglevel: LogLevel,
    /// `--limit-request-line`, default 4094 (0 = unlimited, clamped to 8190).
    pub limit_request_line: usize,
    /// `--limit-request-fields`, default 100.
    pub limit_request_fields: usize,
    /// `--limit-request-field_size`, default 8190.
    pub limit_request_field_size: usize,
    /// `--worker-connections`, default 1000: open connections per worker.
    pub worker_connections: usize,
    /// `--no-sendfile` / `$SENDFILE`: whether file wrappers go out with sendfile(2).
    pub sendfile: bool,
}

/// What the command line asked for.
#[derive(Debug)]
pub enum Invocation {
    /// Serve with this configuration.
    Run(Box<Config>),
    /// Print this text on stdout and exit 0 (`--help`, `--version`).
    Print(String),
}

/// A configuration the server cannot run with. `Display` is the one line
/// the user sees.
#[derive(Debug)]
pub enum Error {
    /// The command line does not parse (unknown flag, missing value...).
    /// Holds the full message to print, usage included, like argparse.
    Usage(String),
    /// A setting has a value its validator refuses.
    Invalid { setting: &'static str, message: String },
    /// A gunicorn setting this version does not implement yet.
    Unsupported { flag: String },
}

impl Error {
    /// Exit status, as gunicorn: argparse errors exit 2, the rest 1.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            _ => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) => write!(f, "{msg}"),
            Error::Invalid { setting, message } => write!(f, "Invalid value for {setting}: {message}"),
            Error::Unsupported { flag } => {
                write!(f, "{flag} is a gunicorn setting that gunicorn-rs does not support yet")
            }
        }
    }
}

impl std::error::Error for Error {}

/// Parse `args` (program name first) with `env` as the process environment.
pub fn parse_args<I, T>(args: I, env: &dyn Fn(&str) -> Option<String>) -> Result<Invocation, Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let _ = (args.into_iter().count(), env("PORT"));
    todo!("config::parse_args")
}
