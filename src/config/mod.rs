//! Configuration: every gunicorn setting, and the typed [`Config`] the rest of
//! the server reads.
//!
//! One table (`settings`) lists each gunicorn 27 setting with its flags,
//! default, environment fallback and validator. The command line is built
//! from that table, so a gunicorn flag is never misread: a setting this
//! version does not implement yet is recognised and refused by name,
//! whether it comes from the command line, `GUNICORN_CMD_ARGS` or a
//! config file (`./gunicorn.conf.py`, `-c PATH`, `.toml`). Environment
//! fallbacks (`$PORT`, `$WEB_CONCURRENCY`, `$SENDFILE`,
//! `$FORWARDED_ALLOW_IPS`) are honoured; the control socket's
//! `$XDG_RUNTIME_DIR`/`$HOME` only place a socket that is never opened.
//! No setting is silently ignored.
//!
//! Touches Python only to run a config file (`file`); never sockets or
//! processes. It reads the user and group databases to turn
//! `--user`/`--group` names into ids.
//!
//! - `settings`: the table.
//! - `cli`: the clap command generated from it; help and version texts.
//! - `shlex`: splitting `GUNICORN_CMD_ARGS` as Python's `shlex.split`.
//! - `file`: the config file, read into the command line's value forms.
//! - `resolve`: precedence, environment fallbacks and validation.
//! - `pytext`: Python's `int()`, gunicorn's `auto_int` and `repr()`.
//! - `allowlist`: trusted-peer lists (`--forwarded-allow-ips`).
//! - `client`: the slow-client and body-size limits.
//! - `print`: `--print-config`.
//! - `compat` (tests): generates `docs/compat.md` from the table.

mod allowlist;
mod cli;
mod client;
#[cfg(test)]
mod compat;
mod file;
mod logging;
mod print;
mod pytext;
mod resolve;
pub mod settings;
mod shlex;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

pub use crate::http::parser::HeaderMap;
pub use crate::http::proxy::ProxyMode;
pub use crate::http::uwsgi::Protocol;
pub use allowlist::AllowList;
pub use client::ClientOptions;
pub use file::HookFns;
pub use logging::{LogOptions, StatsdAddr, SyslogAddr, SyslogOptions, statsd_prefix};
pub use print::print;
pub use resolve::{MAX_TIMEOUT_SECS, is_glob};

/// Severity threshold of the error log (`--log-level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

impl LogLevel {
    /// The names `--log-level` accepts, least severe first.
    pub const NAMES: [&'static str; 5] = ["debug", "info", "warning", "error", "critical"];

    /// The level named `name`, in any case (gunicorn lower-cases it).
    pub fn from_name(name: &str) -> Option<LogLevel> {
        match name.to_lowercase().as_str() {
            "debug" => Some(LogLevel::Debug),
            "info" => Some(LogLevel::Info),
            "warning" => Some(LogLevel::Warning),
            "error" => Some(LogLevel::Error),
            "critical" => Some(LogLevel::Critical),
            _ => None,
        }
    }

    /// The lower-case name, as `--log-level` spells it.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// How `--reload` notices changes (`--reload-engine`).
/// `-k/--worker-class`, after gunicorn's rule that `sync` with
/// `--threads` above 1 means `gthread`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerClass {
    /// The application runs for one request at a time per worker.
    Sync,
    /// `--threads` executor threads per worker call the application.
    Gthread,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadEngine {
    /// inotify, or polling where inotify cannot be set up.
    Auto,
    /// Compare modification times about once a second.
    Poll,
    Inotify,
}

impl ReloadEngine {
    /// The engine named `name` (exact spelling, as gunicorn's validator).
    pub fn from_setting(name: &str) -> Option<ReloadEngine> {
        match name {
            "auto" => Some(ReloadEngine::Auto),
            "poll" => Some(ReloadEngine::Poll),
            "inotify" => Some(ReloadEngine::Inotify),
            _ => None,
        }
    }
}

/// The resolved configuration of one server run.
#[derive(Debug, Clone)]
pub struct Config {
    /// `MODULE[:VARIABLE]`, positional, else `wsgi_app` from a config file.
    pub app_uri: Option<String>,
    /// `-c/--config` as given (None: `./gunicorn.conf.py` if it exists).
    pub config_file: Option<String>,
    /// `wsgi_app` from a config file (used when no APP_MODULE is given).
    pub wsgi_app: Option<String>,
    /// The server hooks the config file defined, kept as callables.
    pub hooks: HookFns,
    /// `logconfig_dict` from the config file: a dict for
    /// `logging.config.dictConfig`, which then wins over `--log-config-json`
    /// and `--log-config`, as in gunicorn.
    pub logconfig_dict: Option<std::sync::Arc<pyo3::Py<pyo3::PyAny>>>,
    /// `--check-config`: load the configuration and the application, then exit.
    pub check_config: bool,
    /// `--print-config`: print the configuration, then as `--check-config`.
    pub print_config: bool,
    /// `-w/--workers`, default 1 or `$WEB_CONCURRENCY`.
    pub workers: u32,
    /// `-b/--bind` (repeatable), raw strings parsed by `sock`.
    /// Default `127.0.0.1:8000`, or `0.0.0.0:$PORT` when `PORT` is set.
    pub bind: Vec<String>,
    /// `--backlog`, default 2048.
    pub backlog: i32,
    /// `-t/--timeout` seconds; 0 disables the heartbeat check. Default 30.
    /// This and the two below are at most 100 years (`MAX_TIMEOUT_SECS`):
    /// larger values are clamped, so `Instant + Duration::from_secs(..)`
    /// never overflows.
    pub timeout: u64,
    /// `--graceful-timeout` seconds, default 30.
    pub graceful_timeout: u64,
    /// `--max-requests`: requests a worker serves before it is replaced
    /// (0: never), plus up to `--max-requests-jitter` more, drawn per worker.
    pub max_requests: u64,
    pub max_requests_jitter: u64,
    /// `--max-worker-memory` MiB of resident memory before a worker is
    /// replaced (0: never). gunicorn-rs only.
    pub max_worker_memory: u64,
    /// `--max-worker-lifetime` seconds before a worker is replaced (0:
    /// never). gunicorn-rs only.
    pub max_worker_lifetime: u64,
    /// `--keep-alive` seconds, default 2.
    pub keepalive: u64,
    /// `-p/--pid`.
    pub pidfile: Option<PathBuf>,
    /// `--preload`.
    pub preload_app: bool,
    /// `--reload`: a worker exits (and is replaced) when one of its
    /// modules' source files, or an extra file, changes.
    pub reload: bool,
    /// `--reload-engine`, default `auto`.
    pub reload_engine: ReloadEngine,
    /// `--reload-extra-file` (repeatable): files or glob patterns, as
    /// given (relative ones are taken from `chdir`).
    pub reload_extra_files: Vec<String>,
    /// `--chdir`, default the working directory at start.
    pub chdir: PathBuf,
    /// `--pythonpath`, split on commas; entries as given (gunicorn makes
    /// each absolute against the directory after `chdir`).
    pub pythonpath: Vec<String>,
    /// `--access-logfile`; `-` means stdout. None: no access log.
    pub accesslog: Option<String>,
    /// `--access-logformat`.
    pub access_log_format: String,
    /// `--error-logfile/--log-file`; `-` means stderr.
    pub errorlog: String,
    /// `--log-level`.
    pub loglevel: LogLevel,
    /// StatsD, syslog, `--capture-output`, Python logging configs.
    pub logging: LogOptions,
    /// `--limit-request-line`, default 4094. As gunicorn's parser: 0 means
    /// unlimited, and larger values are clamped to 8190.
    pub limit_request_line: usize,
    /// `--limit-request-fields`, default 100; 0 and values above 32768 are
    /// stored as 32768, as gunicorn uses them.
    pub limit_request_fields: usize,
    /// `--limit-request-field_size`, default 8190; 0 is stored as 8190, as
    /// gunicorn uses it (not "unlimited", whatever its docs say).
    pub limit_request_field_size: usize,
    /// `--header-timeout`, `--body-timeout`, `--body-buffer-size`,
    /// `--max-body-size`, `--response-buffer-size`: what a slow or greedy
    /// client may cost a worker. gunicorn-rs only.
    pub client: ClientOptions,
    /// `--worker-connections`, default 1000: open connections per worker.
    /// Never 0 (refused: a worker would never accept).
    pub worker_connections: usize,
    /// `-k/--worker-class`, as resolved (see [`WorkerClass`]).
    pub worker_class: WorkerClass,
    /// `-k/--worker-class` as given, which `--print-config` and hooks show.
    pub worker_class_name: String,
    /// `--threads`: executor threads per gthread worker (1 for sync).
    pub threads: usize,
    /// `--no-sendfile` / `$SENDFILE`: whether file wrappers go out with sendfile(2).
    pub sendfile: bool,
    /// `--forwarded-allow-ips`, else `$FORWARDED_ALLOW_IPS`, else
    /// `127.0.0.1,::1`: the peers whose `secure_scheme_headers` and
    /// `forwarder_headers` count. A unix-socket peer is always trusted
    /// (gunicorn: a peer without an IP address is).
    pub forwarded_allow_ips: AllowList,
    /// `--forwarder-headers`, default `SCRIPT_NAME,PATH_INFO`: underscore
    /// header names a trusted peer may pass into the environ (`*`: any).
    pub forwarder_headers: Vec<String>,
    /// `--proxy-protocol`: which PROXY protocol headers are read (off).
    pub proxy_protocol: ProxyMode,
    /// `--proxy-allow-from`, default `127.0.0.1,::1`: the peers that may
    /// send a PROXY header; others get 403. Unix-socket peers always may.
    pub proxy_allow_ips: AllowList,
    /// `--protocol`: HTTP, or uwsgi packets from nginx's `uwsgi_pass`.
    pub protocol: Protocol,
    /// `--uwsgi-allow-from`, default `127.0.0.1,::1`: the peers that may
    /// send uwsgi packets; others get 403. Unix-socket peers always may.
    pub uwsgi_allow_ips: AllowList,
    /// Request-parsing relaxations, all off by default as in gunicorn 27.
    pub http: HttpOptions,
    /// Process set-up (`-D`, `-e`, `-u`, `-g`, `-m`, `-n`...), applied by
    /// [`crate::process`].
    pub process: ProcessOptions,
}

/// How the server's processes are set up: detaching, environment,
/// identity of the workers, file mode mask, names in `ps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessOptions {
    /// `-D/--daemon`: detach from the terminal before starting.
    pub daemon: bool,
    /// `-R/--enable-stdio-inheritance`: a daemon keeps stdout and stderr
    /// unless they are terminals.
    pub enable_stdio_inheritance: bool,
    /// `-e/--env KEY=VALUE` (repeatable), split at the first `=`.
    pub raw_env: Vec<(String, String)>,
    /// `--worker-tmp-dir`: where heartbeat files are made; None: the
    /// system's temporary directory.
    pub worker_tmp_dir: Option<PathBuf>,
    /// `-u/--user` as a uid; default the effective uid at start.
    pub user: u32,
    /// `-g/--group` as a gid; default the effective gid at start.
    pub group: u32,
    /// `--initgroups`: workers get all the groups of their user.
    pub initgroups: bool,
    /// `-m/--umask`, default 0: the mask unix socket files and heartbeat
    /// files are created under (only the low nine bits count).
    pub umask: u32,
    /// `-n/--name`; None: the application URI names the processes.
    pub proc_name: Option<String>,
    /// `--reuse-port`: SO_REUSEPORT on TCP listeners.
    pub reuse_port: bool,
}

impl ProcessOptions {
    /// gunicorn's defaults: nothing changes; workers keep the effective
    /// user and group of the process that parsed the configuration.
    pub fn defaults() -> ProcessOptions {
        ProcessOptions {
            daemon: false,
            enable_stdio_inheritance: false,
            raw_env: Vec::new(),
            worker_tmp_dir: None,
            user: nix::unistd::geteuid().as_raw(),
            group: nix::unistd::getegid().as_raw(),
            initgroups: false,
            umask: 0,
            proc_name: None,
            reuse_port: false,
        }
    }
}

/// gunicorn's parser settings (`--permit-obsolete-folding` and friends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpOptions {
    pub permit_obsolete_folding: bool,
    pub strip_header_spaces: bool,
    pub permit_unconventional_http_method: bool,
    pub permit_unconventional_http_version: bool,
    pub casefold_http_method: bool,
    /// `--header-map`: what to do with header names containing `_`.
    pub header_map: HeaderMap,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            permit_obsolete_folding: false,
            strip_header_spaces: false,
            permit_unconventional_http_method: false,
            permit_unconventional_http_version: false,
            casefold_http_method: false,
            header_map: HeaderMap::Drop,
        }
    }
}

impl Config {
    /// gunicorn's `cfg.worker_class_str`: the class as given, except that
    /// `sync` with more than one thread reads `gthread`.
    pub fn worker_class_str(&self) -> &str {
        match self.worker_class {
            WorkerClass::Gthread if self.threads > 1 => "gthread",
            _ => &self.worker_class_name,
        }
    }

    /// gunicorn's defaults, without reading the environment, with `chdir`
    /// as given and no application. For tests and for building a `Config`
    /// in code; the command line goes through [`parse_args`].
    pub fn defaults(chdir: PathBuf) -> Config {
        Config {
            app_uri: None,
            config_file: None,
            wsgi_app: None,
            hooks: HookFns::default(),
            logconfig_dict: None,
            check_config: false,
            print_config: false,
            workers: 1,
            bind: vec!["127.0.0.1:8000".to_string()],
            backlog: 2048,
            timeout: 30,
            graceful_timeout: 30,
            max_requests: 0,
            max_requests_jitter: 0,
            max_worker_memory: 0,
            max_worker_lifetime: 0,
            keepalive: 2,
            pidfile: None,
            preload_app: false,
            reload: false,
            reload_engine: ReloadEngine::Auto,
            reload_extra_files: Vec::new(),
            chdir,
            pythonpath: Vec::new(),
            accesslog: None,
            access_log_format: settings::DEFAULT_ACCESS_LOG_FORMAT.to_string(),
            errorlog: "-".to_string(),
            loglevel: LogLevel::Info,
            logging: LogOptions::default(),
            limit_request_line: 4094,
            limit_request_fields: 100,
            limit_request_field_size: 8190,
            client: ClientOptions::default(),
            worker_connections: 1000,
            worker_class: WorkerClass::Sync,
            worker_class_name: "sync".to_string(),
            threads: 1,
            sendfile: true,
            forwarded_allow_ips: AllowList::default(),
            forwarder_headers: vec!["SCRIPT_NAME".to_string(), "PATH_INFO".to_string()],
            proxy_protocol: ProxyMode::Off,
            proxy_allow_ips: AllowList::default(),
            protocol: Protocol::Http,
            uwsgi_allow_ips: AllowList::default(),
            http: HttpOptions::default(),
            process: ProcessOptions::defaults(),
        }
    }

    /// The name in process titles: `--name`, else the application URI
    /// (gunicorn's `proc_name`, falling back to `default_proc_name`).
    pub fn proc_name(&self) -> &str {
        self.process
            .proc_name
            .as_deref()
            .or(self.app_uri.as_deref())
            .unwrap_or("gunicorn")
    }
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
    Invalid {
        setting: &'static str,
        message: String,
    },
    /// A gunicorn setting this version does not implement yet. `flag`
    /// names it as the user gave it (`-D/--daemon`, `-k/--worker-class
    /// gevent`), and where, when not on the command line.
    Unsupported { flag: String },
    /// No APP_MODULE on the command line (gunicorn's "No application module
    /// specified.").
    NoAppModule,
    /// A config file's value its validator refuses; shown as gunicorn
    /// does, the value as `str()` gives it, then the validator's message.
    FileValue {
        setting: &'static str,
        shown: String,
        message: String,
    },
    /// A config file raised (or does not parse): the full text to print,
    /// "Failed to read config file: PATH" and the traceback.
    FileFailed(String),
    /// A value gunicorn refuses with a message of its own, shown as is:
    /// `No such user: 'x'`, `environment setting 'FOO' invalid`.
    Refused(String),
}

impl Error {
    /// Exit status, as gunicorn: argparse errors exit 2, the rest 1.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            _ => 1,
        }
    }

    /// The text to print on standard error, as gunicorn prints it:
    /// usage errors and a failing config file as they are, the rest after
    /// "Error: ".
    pub fn report(&self) -> String {
        match self {
            Error::Usage(_) | Error::FileFailed(_) | Error::FileValue { .. } => self.to_string(),
            _ => format!("Error: {self}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) => write!(f, "{msg}"),
            Error::Invalid { setting, message } => {
                write!(f, "Invalid value for {setting}: {message}")
            }
            Error::Unsupported { flag } => {
                write!(
                    f,
                    "{flag} is a gunicorn setting that gunicorn-rs does not support yet"
                )
            }
            Error::NoAppModule => write!(f, "No application module specified."),
            // gunicorn prints "Invalid value for NAME: VALUE\n", then
            // "\nError: MESSAGE": two blank lines between.
            Error::FileValue {
                setting,
                shown,
                message,
            } => write!(
                f,
                "Invalid value for {setting}: {shown}\n\n\nError: {message}"
            ),
            Error::FileFailed(text) => write!(f, "{text}"),
            Error::Refused(msg) => write!(f, "{msg}"),
        }
    }
}

impl std::error::Error for Error {}

/// What the command line asked for, before any config file is read.
#[derive(Debug)]
pub enum Start {
    /// Serve (or check) with the configuration these sources build.
    Run(Box<Sources>),
    /// Print this text on stdout and exit 0 (`--help`, `--version`).
    Print(String),
}

/// The sources of a configuration besides the defaults: the command line,
/// `GUNICORN_CMD_ARGS` and the environment as they were at start, and the
/// config file they lead to. Kept by the master: a HUP builds the
/// configuration again from them, running the config file afresh.
#[derive(Debug)]
pub struct Sources {
    cli: cli::Given,
    env_args: cli::Given,
    /// The environment variables settings default to (`$PORT`...), as at start.
    env: Vec<(&'static str, Option<String>)>,
    /// The whole environment at start (gunicorn's `env_orig`): a reload
    /// puts back what `--env` changed.
    env_orig: Vec<(String, String)>,
    cwd: PathBuf,
}

impl Sources {
    /// The config file to load, as named: `-c` (command line first, then
    /// `GUNICORN_CMD_ARGS`), else `./gunicorn.conf.py` when there is one.
    pub fn config_file(&self) -> Option<String> {
        file::location(&self.cli, &self.env_args, &self.cwd)
    }

    /// The working directory at start, as gunicorn's `util.getcwd`.
    pub fn cwd(&self) -> &Path {
        &self.cwd
    }

    /// The value `key` had in the environment at start.
    pub fn original_env(&self, key: &str) -> Option<&str> {
        self.env_orig
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Build the configuration: defaults < config file <
    /// `GUNICORN_CMD_ARGS` < command line. Runs the config file, if any,
    /// in the embedded interpreter, which must be running then.
    pub fn load(&self) -> Result<Config, Error> {
        let file = match self.config_file() {
            Some(location) => Some(file::load(&location, &self.cwd)?),
            None => None,
        };
        let env = |key: &str| {
            self.env
                .iter()
                .find(|(name, _)| *name == key)
                .and_then(|(_, value)| value.clone())
        };
        resolve::resolve(file.as_ref(), &self.env_args, &self.cli, &env, &self.cwd)
    }
}

/// Parse `args` (program name first) and `GUNICORN_CMD_ARGS` with `env` as
/// the process environment. `-h` and `-v` win over everything after them,
/// as argparse.
pub fn parse_sources<I, T>(args: I, env: &dyn Fn(&str) -> Option<String>) -> Result<Start, Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut start = parse_sources_in(args, env, &|| working_dir(env))?;
    if let Start::Run(sources) = &mut start {
        sources.env_orig = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
    }
    Ok(start)
}

/// Parse `args` and build the configuration at once ([`parse_sources`],
/// then [`Sources::load`]). A config file needs the interpreter running.
pub fn parse_args<I, T>(args: I, env: &dyn Fn(&str) -> Option<String>) -> Result<Invocation, Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    parse_in(args, env, &|| working_dir(env))
}

/// [`parse_args`] with the working directory supplied by `cwd`, which is
/// only asked for when a configuration is built.
fn parse_in<I, T>(
    args: I,
    env: &dyn Fn(&str) -> Option<String>,
    cwd: &dyn Fn() -> Result<PathBuf, Error>,
) -> Result<Invocation, Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    match parse_sources_in(args, env, cwd)? {
        Start::Run(sources) => Ok(Invocation::Run(Box::new(sources.load()?))),
        Start::Print(text) => Ok(Invocation::Print(text)),
    }
}

fn parse_sources_in<I, T>(
    args: I,
    env: &dyn Fn(&str) -> Option<String>,
    cwd: &dyn Fn() -> Result<PathBuf, Error>,
) -> Result<Start, Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match cli::parse(args).map_err(|m| cli::usage_error(&m))? {
        cli::Parsed::Given(given) => given,
        cli::Parsed::Help => return Ok(Start::Print(cli::help())),
        cli::Parsed::Version => return Ok(Start::Print(cli::version())),
    };
    // gunicorn: `shlex.split($GUNICORN_CMD_ARGS)` through the same parser.
    let env_args = match env("GUNICORN_CMD_ARGS") {
        None => cli::Given::default(),
        Some(line) => {
            let words = shlex::split(&line).map_err(|e| Error::Invalid {
                setting: "GUNICORN_CMD_ARGS",
                message: e.to_string(),
            })?;
            let args = std::iter::once(cli::PROG.to_string()).chain(words);
            // Name the source: the user did not type these on the command line.
            match cli::parse(args)
                .map_err(|m| cli::usage_error(&format!("GUNICORN_CMD_ARGS: {m}")))?
            {
                cli::Parsed::Given(given) => given,
                cli::Parsed::Help => return Ok(Start::Print(cli::help())),
                cli::Parsed::Version => return Ok(Start::Print(cli::version())),
            }
        }
    };
    let mut names: Vec<&'static str> = settings::SETTINGS
        .iter()
        .flat_map(|s| s.env.iter().copied())
        .collect();
    names.dedup();
    Ok(Start::Run(Box::new(Sources {
        cli,
        env_args,
        env: names.into_iter().map(|name| (name, env(name))).collect(),
        env_orig: Vec::new(),
        cwd: cwd()?,
    })))
}

/// The working directory as gunicorn's `util.getcwd` sees it: `$PWD` when
/// it names the real one (keeping the symlinks the user sees), else the
/// real path.
fn working_dir(env: &dyn Fn(&str) -> Option<String>) -> Result<PathBuf, Error> {
    let real = std::env::current_dir().map_err(|e| Error::Invalid {
        setting: "chdir",
        message: format!("can't read the working directory: {e}"),
    })?;
    match env("PWD") {
        Some(pwd) if Path::new(&pwd).is_absolute() && same_file(Path::new(&pwd), &real) => {
            Ok(PathBuf::from(pwd))
        }
        _ => Ok(real),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}
