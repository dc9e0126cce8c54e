//! Error log and access log in gunicorn's formats.
//!
//! The error log is a `tracing` subscriber that writes
//! `[2026-11-22 13:19:27 +0000] [pid] [LEVEL] message` lines synchronously
//! (no writer thread: the master forks and must stay single-threaded).
//! Log with `tracing::{debug, info, warn, error}` and, for gunicorn's
//! CRITICAL level, [`critical!`](crate::critical). Fields other than the
//! message are appended as ` key=value`; spans are ignored.
//!
//! Each line is formatted in a per-thread buffer and written with one
//! `write(2)` under a mutex, so lines never interleave, even between
//! processes sharing an append-mode file.

pub mod access;
pub mod python;
mod sink;
pub mod statsd;
pub mod syslog;
mod time;

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, Once, PoisonError};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span;
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

use crate::config::LogLevel;
use sink::{Sink, Std};
use time::LocalTime;

/// The target [`critical!`](crate::critical) logs with; such `error!`
/// events print as CRITICAL.
pub const CRITICAL_TARGET: &str = "gunicorn.critical";

/// The target [`exception!`](crate::exception) logs with: printed as
/// ERROR, counted as `gunicorn.log.exception` (gunicorn's `log.exception`).
pub const EXCEPTION_TARGET: &str = "gunicorn.exception";

/// A per-thread line buffer that grew past this (a long traceback) is
/// dropped after use instead of being kept for the thread's lifetime.
const LINE_BUFFER_KEEP: usize = 64 * 1024;

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

/// The error log's destination; `None` until [`init`] (then stderr is used).
static SINK: Mutex<Option<Sink>> = Mutex::new(None);
/// The threshold, as `level_index`.
static LEVEL: AtomicU8 = AtomicU8::new(1);
/// The pid printed in lines; 0 means "ask getpid() each time".
static PID: AtomicU32 = AtomicU32::new(0);
static INSTALL: Once = Once::new();

thread_local! {
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Install the error log: `path` is `-` for stderr or a file opened for append.
///
/// May be called again (config reload, tests): the destination and level are
/// replaced; the global subscriber is installed only once. If the file cannot
/// be opened, the previous destination stays.
pub fn init(path: &str, level: LogLevel) -> Result<(), Error> {
    let sink = Sink::open(path, Std::Stderr)?;
    *lock_sink() = Some(sink);
    LEVEL.store(level_index(level), Ordering::Relaxed);
    INSTALL.call_once(|| {
        // Fails only if something else installed a global subscriber first;
        // then that one keeps receiving events, which is all we can do.
        let _ = tracing::subscriber::set_global_default(ErrorLog);
    });
    // Callsites cache their interest and tracing caches the max level, both
    // computed from the previous level: recompute them.
    tracing::callsite::rebuild_interest_cache();
    Ok(())
}

/// A log destination of the configuration cannot be set up.
#[derive(Debug)]
pub enum SetupError {
    File(Error),
    Syslog(syslog::Error),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::File(e) => e.fmt(f),
            SetupError::Syslog(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SetupError {}

/// Set up every log and metrics destination of `cfg`: StatsD and syslog,
/// then the error log (whose level filter depends on StatsD being on).
pub fn setup(cfg: &crate::config::Config) -> Result<(), SetupError> {
    statsd::init(&cfg.logging);
    syslog::init(&cfg.logging, cfg.proc_name()).map_err(SetupError::Syslog)?;
    init(&cfg.errorlog, cfg.loglevel).map_err(SetupError::File)
}

/// Change the error log's threshold (a Python logging config decides it).
pub(crate) fn set_level(level: LogLevel) {
    LEVEL.store(level_index(level), Ordering::Relaxed);
    tracing::callsite::rebuild_interest_cache();
}

/// Reopen the error log file (USR1), and capture the output into the
/// new file with `--capture-output`. Stderr is left alone.
pub fn reopen() -> io::Result<()> {
    let captured = CAPTURE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if let Some(path) = captured {
        capture_into(&path).map_err(|e| e.source)?;
    }
    if python::active() {
        python::reopen();
    }
    match lock_sink().as_mut() {
        Some(sink) => sink.reopen(),
        None => Ok(()),
    }
}

/// The error log file that stdout and stderr are pointed at.
static CAPTURE: Mutex<Option<String>> = Mutex::new(None);

/// `--capture-output`: point this process's stdout and stderr (so the
/// application's `print` and everything the workers inherit) at the error
/// log file, as gunicorn's `dup2`s do. Nothing happens when the error log
/// is stderr. Call after daemonizing, which points them at /dev/null.
pub fn capture_output(cfg: &crate::config::Config) -> Result<(), Error> {
    if !cfg.logging.capture_output || cfg.errorlog == "-" {
        return Ok(());
    }
    capture_into(&cfg.errorlog)?;
    *CAPTURE.lock().unwrap_or_else(PoisonError::into_inner) = Some(cfg.errorlog.clone());
    Ok(())
}

fn capture_into(path: &str) -> Result<(), Error> {
    let fail = |source: io::Error| Error {
        path: path.to_string(),
        source,
    };
    let file = sink::open_append(std::path::Path::new(path)).map_err(fail)?;
    nix::unistd::dup2_stdout(&file).map_err(|e| fail(e.into()))?;
    nix::unistd::dup2_stderr(&file).map_err(|e| fail(e.into()))?;
    Ok(())
}

/// Record the process id to print; call in the child right after fork.
///
/// Until it is called, each line asks `getpid()`, so a forked child that
/// skips this still prints its own pid.
pub fn set_pid(pid: u32) {
    PID.store(pid, Ordering::Relaxed);
}

/// Write raw bytes to the error log stream (`wsgi.errors`, tracebacks).
pub fn write_raw(bytes: &[u8]) {
    write_line(bytes);
}

/// The pid log lines show (also the access log's `%(p)s`).
pub(crate) fn pid() -> u32 {
    match PID.load(Ordering::Relaxed) {
        0 => std::process::id(),
        pid => pid,
    }
}

fn lock_sink() -> MutexGuard<'static, Option<Sink>> {
    // A panic while holding the lock leaves a usable sink: keep logging.
    SINK.lock().unwrap_or_else(PoisonError::into_inner)
}

fn write_line(bytes: &[u8]) {
    match lock_sink().as_ref() {
        Some(sink) => sink.write(bytes),
        None => Sink::std(Std::Stderr).write(bytes),
    }
}

const LEVELS: [LogLevel; 5] = [
    LogLevel::Debug,
    LogLevel::Info,
    LogLevel::Warning,
    LogLevel::Error,
    LogLevel::Critical,
];

fn level_index(level: LogLevel) -> u8 {
    match level {
        LogLevel::Debug => 0,
        LogLevel::Info => 1,
        LogLevel::Warning => 2,
        LogLevel::Error => 3,
        LogLevel::Critical => 4,
    }
}

fn current_level() -> LogLevel {
    let i = usize::from(LEVEL.load(Ordering::Relaxed));
    LEVELS.get(i).copied().unwrap_or(LogLevel::Info)
}

/// gunicorn's level name for an event; TRACE has none and is never written.
fn severity(meta: &Metadata<'_>) -> Option<LogLevel> {
    match *meta.level() {
        Level::ERROR if meta.target() == CRITICAL_TARGET => Some(LogLevel::Critical),
        Level::ERROR => Some(LogLevel::Error),
        Level::WARN => Some(LogLevel::Warning),
        Level::INFO => Some(LogLevel::Info),
        Level::DEBUG => Some(LogLevel::Debug),
        _ => None,
    }
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Debug => "DEBUG",
        LogLevel::Info => "INFO",
        LogLevel::Warning => "WARNING",
        LogLevel::Error => "ERROR",
        LogLevel::Critical => "CRITICAL",
    }
}

fn wanted(meta: &Metadata<'_>) -> bool {
    // Events, and `tracing::enabled!` hints asking whether one would be.
    // StatsD counts warnings and worse even below the threshold.
    !meta.is_span()
        && severity(meta)
            .is_some_and(|s| s >= current_level() || (s >= LogLevel::Warning && statsd::enabled()))
}

/// The `gunicorn.log.*` counter an event increments, if any.
fn counter(meta: &Metadata<'_>, level: LogLevel) -> Option<&'static str> {
    match level {
        LogLevel::Critical => Some("gunicorn.log.critical"),
        LogLevel::Error if meta.target() == EXCEPTION_TARGET => Some("gunicorn.log.exception"),
        LogLevel::Error => Some("gunicorn.log.error"),
        LogLevel::Warning if meta.target() != statsd::TARGET => Some("gunicorn.log.warning"),
        _ => None,
    }
}

/// Run `f` with this thread's line buffer, or a fresh one when that is
/// unavailable (logging from inside a field's `Debug`, thread teardown).
fn with_line_buffer(f: impl FnOnce(&mut Vec<u8>)) {
    let mut f = Some(f);
    let _ = LINE.try_with(|cell| {
        if let Ok(mut buf) = cell.try_borrow_mut() {
            if let Some(f) = f.take() {
                f(&mut buf);
            }
            if buf.capacity() > LINE_BUFFER_KEEP {
                *buf = Vec::new();
            }
        }
    });
    if let Some(f) = f.take() {
        f(&mut Vec::new());
    }
}

/// Append one complete error-log line for `level` to `out`; returns where
/// the message starts (after the stamp, pid and level).
fn format_line(
    out: &mut Vec<u8>,
    now: &LocalTime,
    pid: u32,
    level: LogLevel,
    record: impl FnOnce(&mut FieldWriter<'_>),
) -> usize {
    now.write_error_stamp(out);
    let _ = write!(out, " [{pid}] [{}] ", level_name(level));
    let message_start = out.len();
    let mut fields = FieldWriter {
        message: out,
        extras: Vec::new(),
    };
    record(&mut fields);
    let FieldWriter {
        message: out,
        extras,
    } = fields;
    // Python tracebacks end in a newline; do not print an empty line after.
    if out.last() == Some(&b'\n') {
        out.pop();
    }
    let extras = if out.len() == message_start {
        // No message: no separator before the first field.
        extras.get(1..).unwrap_or_default()
    } else {
        &extras[..]
    };
    out.extend_from_slice(extras);
    out.push(b'\n');
    message_start
}

/// Collects an event's fields: the message in place, the others after it.
struct FieldWriter<'a> {
    message: &'a mut Vec<u8>,
    extras: Vec<u8>,
}

impl Visit for FieldWriter<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.extend_from_slice(value.as_bytes());
        } else {
            let _ = write!(self.extras, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // The message is `fmt::Arguments`, whose Debug is its plain text.
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.extras, " {}={value:?}", field.name());
        }
    }
}

/// The subscriber behind the error log.
struct ErrorLog;

impl Subscriber for ErrorLog {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if wanted(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        wanted(meta)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        let level = match current_level() {
            LogLevel::Error | LogLevel::Critical if statsd::enabled() => LogLevel::Warning,
            level => level,
        };
        Some(match level {
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Warning => LevelFilter::WARN,
            LogLevel::Error | LogLevel::Critical => LevelFilter::ERROR,
        })
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        // Spans are never enabled (see `wanted`); an id is still required.
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let Some(level) = severity(event.metadata()) else {
            return;
        };
        if statsd::enabled()
            && let Some(name) = counter(event.metadata(), level)
        {
            statsd::increment(name);
        }
        if level < current_level() {
            return;
        }
        let now = LocalTime::at(time::now_secs());
        with_line_buffer(|buf| {
            buf.clear();
            let message = format_line(buf, &now, pid(), level, |fields| event.record(fields));
            if python::active() {
                let end = buf.len().saturating_sub(1);
                let text = String::from_utf8_lossy(buf.get(message..end).unwrap_or_default());
                python::error(level, &text);
                return;
            }
            write_line(buf);
            if syslog::errors_enabled() {
                let end = buf.len().saturating_sub(1);
                syslog::error(level, buf.get(message..end).unwrap_or_default());
            }
        });
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}

/// Log an error with a traceback, as gunicorn's `log.exception`: an ERROR
/// line, counted as `gunicorn.log.exception` by StatsD.
#[macro_export]
macro_rules! exception {
    ($($arg:tt)+) => {
        ::tracing::error!(target: "gunicorn.exception", $($arg)+)
    };
}

/// Log at gunicorn's CRITICAL level.
#[macro_export]
macro_rules! critical {
    ($($arg:tt)+) => {
        ::tracing::error!(target: "gunicorn.critical", $($arg)+)
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// Formats events exactly as `ErrorLog` does, into memory, with a fixed
    /// clock and pid, and without any level threshold.
    struct Capture(std::sync::Arc<Mutex<Vec<u8>>>);

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
            span::Id::from_u64(1)
        }
        fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
        fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
        fn event(&self, event: &Event<'_>) {
            let level = severity(event.metadata()).unwrap_or(LogLevel::Debug);
            let mut out = self.0.lock().unwrap();
            format_line(&mut out, &LocalTime::utc(1_795_353_567), 1234, level, |f| {
                event.record(f)
            });
        }
        fn enter(&self, _: &span::Id) {}
        fn exit(&self, _: &span::Id) {}
    }

    fn capture(f: impl FnOnce()) -> String {
        let buf = std::sync::Arc::new(Mutex::new(Vec::new()));
        tracing::subscriber::with_default(Capture(buf.clone()), f);
        let out = buf.lock().unwrap().clone();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn line_format_matches_gunicorn() {
        let out = capture(|| {
            tracing::info!("Booting worker with pid: {}", 77);
            tracing::debug!("d");
            tracing::warn!("w");
            tracing::error!("e");
            crate::critical!("c");
        });
        assert_eq!(
            out,
            "[2026-11-22 13:19:27 +0000] [1234] [INFO] Booting worker with pid: 77\n\
             [2026-11-22 13:19:27 +0000] [1234] [DEBUG] d\n\
             [2026-11-22 13:19:27 +0000] [1234] [WARNING] w\n\
             [2026-11-22 13:19:27 +0000] [1234] [ERROR] e\n\
             [2026-11-22 13:19:27 +0000] [1234] [CRITICAL] c\n"
        );
    }

    #[test]
    fn multiline_messages_and_extra_fields() {
        let tb = "Error handling request\nTraceback (most recent call last):\n  File \"x\"\n";
        let out = capture(|| tracing::error!("{tb}"));
        assert_eq!(
            out,
            format!(
                "[2026-11-22 13:19:27 +0000] [1234] [ERROR] {}\n",
                tb.trim_end()
            )
        );

        let out = capture(|| tracing::info!(addr = "127.0.0.1:8000", n = 3, "listening"));
        assert_eq!(
            out,
            "[2026-11-22 13:19:27 +0000] [1234] [INFO] listening addr=127.0.0.1:8000 n=3\n"
        );
        // No message at all: just the fields.
        let out = capture(|| tracing::info!(n = 3));
        assert_eq!(out, "[2026-11-22 13:19:27 +0000] [1234] [INFO] n=3\n");
    }

    #[test]
    fn severity_and_filtering() {
        assert!(LogLevel::Critical > LogLevel::Error && LogLevel::Debug < LogLevel::Info);
        for (i, level) in LEVELS.iter().enumerate() {
            assert_eq!(usize::from(level_index(*level)), i);
        }
    }

    /// The only test touching the global subscriber and sink.
    #[test]
    fn global_subscriber_writes_filters_and_reinitialises() {
        let dir = std::env::temp_dir().join(format!("gunicorn-rs-log-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let (first, second) = (dir.join("first.log"), dir.join("second.log"));

        init(first.to_str().unwrap(), LogLevel::Info).unwrap();
        tracing::info!("hello {}", "world");
        tracing::debug!("hidden debug");
        tracing::warn!(code = 7, "careful");
        crate::critical!("on fire");
        write_raw(b"raw bytes\n");

        // A second init replaces level and destination instead of failing.
        init(second.to_str().unwrap(), LogLevel::Critical).unwrap();
        tracing::error!("plain error is below critical");
        crate::critical!("still critical");
        set_pid(4321);
        init(second.to_str().unwrap(), LogLevel::Debug).unwrap();
        tracing::debug!("now visible");
        set_pid(0);

        // USR1: rotate, reopen, keep writing.
        let rotated = dir.join("second.log.1");
        fs::rename(&second, &rotated).unwrap();
        reopen().unwrap();
        tracing::info!("after reopen");

        let a = fs::read_to_string(&first).unwrap();
        let me = std::process::id();
        assert!(a.contains(&format!(" [{me}] [INFO] hello world\n")), "{a}");
        assert!(
            a.contains(&format!(" [{me}] [WARNING] careful code=7\n")),
            "{a}"
        );
        assert!(a.contains(&format!(" [{me}] [CRITICAL] on fire\n")), "{a}");
        assert!(a.contains("\nraw bytes\n"), "{a}");
        assert!(!a.contains("hidden debug"), "{a}");
        assert!(a.starts_with('['), "{a}");

        let b = fs::read_to_string(&rotated).unwrap();
        assert!(!b.contains("plain error"), "{b}");
        assert!(
            b.contains(&format!(" [{me}] [CRITICAL] still critical\n")),
            "{b}"
        );
        assert!(b.contains(" [4321] [DEBUG] now visible\n"), "{b}");
        let c = fs::read_to_string(&second).unwrap();
        assert!(c.contains(&format!(" [{me}] [INFO] after reopen\n")), "{c}");

        // A file that cannot be opened leaves the current sink in place.
        assert!(init("/nonexistent-dir-gunicorn-rs/e.log", LogLevel::Info).is_err());
        tracing::info!("still to second");
        assert!(
            fs::read_to_string(&second)
                .unwrap()
                .contains("still to second")
        );

        init("-", LogLevel::Info).unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }
}
