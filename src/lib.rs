//! gunicorn-rs: a drop-in replacement for gunicorn, a pre-fork WSGI server,
//! with the HTTP side written in Rust and the application run by an embedded
//! CPython.
//!
//! # Layout
//!
//! Data flows one way through a worker: socket -> `http` parse -> `wsgi` call
//! -> `http` response -> socket.
//!
//! - [`config`]: every gunicorn setting (flags, defaults, env fallbacks,
//!   validators) and the typed [`config::Config`].
//! - [`python`]: the only place that touches the raw C API: finding the
//!   interpreter and virtualenv, start-up with `PyConfig`, the one fork
//!   wrapper, app loading.
//! - [`hooks`]: the config file's server hooks: validated at start and
//!   called with gunicorn's arguments and objects; the master and the
//!   worker choose when. Above `python`, `config` and `log`, which it uses.
//! - [`master`]: the arbiter: spawning and reaping workers, checking their
//!   heartbeats, reload, shutdown, pidfile.
//! - [`process`]: the identity of the processes: `--daemon`, `--env`,
//!   the workers' user, group and umask, heartbeat file placement, and
//!   the process titles `ps` shows.
//! - [`signals`]: the self-pipe both master and workers receive signals
//!   through, and blocking signals across fork.
//! - [`sock`]: listener kinds (tcp, `[v6]`, `unix:`, `fd://`) and their parsing.
//! - [`worker`]: the worker process: the epoll I/O loop, connection state
//!   machines and the slow-client limits, the heartbeat file, in-worker
//!   signals, the executors (`sync`: the loop itself; `gthread`: a pool of
//!   threads), the SIGABRT (timeout) report and the `--reload` file watcher.
//! - [`http`]: request-head parser, body decoders, PROXY protocol headers,
//!   uwsgi packets (rebuilt into heads for the parser), response heads and
//!   body framing, error pages.
//! - [`wsgi`]: PEP 3333: environ, `wsgi.input`, `start_response`, calling and
//!   iterating the app, the file wrapper. The only code that runs Python per request.
//! - [`log`]: the error log and access log in gunicorn's formats.
//! - [`startup`]: the order of a start: arguments, interpreter, config
//!   file, configuration, error log, detaching, master.

pub mod config;
pub mod hooks;
pub mod http;
pub mod log;
pub mod master;
pub mod process;
pub mod python;
pub mod signals;
pub mod sock;
pub mod startup;
pub mod worker;
pub mod wsgi;

/// Name and version as reported in logs, `--version` and `SERVER_SOFTWARE`.
pub const SERVER_SOFTWARE: &str = concat!("gunicorn-rs/", env!("CARGO_PKG_VERSION"));
