//! What a worker does on SIGABRT, which the master sends when the worker
//! missed its heartbeat for `--timeout` (`WORKER TIMEOUT`): write to the
//! error log what it was doing (the request in flight, and the Python stack
//! of every thread), run the `worker_abort` and `worker_exit` hooks, then
//! end with status 1, before the master's SIGKILL.
//!
//! The report is made by a Python-level signal handler ([`install`]):
//! CPython's C handler only sets a flag, and the Python handler then runs in
//! the main thread at the next bytecode boundary. That interrupts
//! `time.sleep`, blocking socket reads and pure-Python loops alike, and
//! `sys._current_frames()` still holds the frame the app was stuck in. The
//! I/O loop checks for it after every wait, so an idle worker answers too.
//! An app stuck in C code that never returns to the interpreter (or that
//! retries EINTR itself) cannot run the handler: the master's SIGKILL ends
//! it, with no report.
//!
//! The loop records the request before each app call ([`request_started`])
//! into one reused record, so the handler can name it without touching the
//! loop's state.

use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList};
use tracing::{error, info};

use crate::hooks::{Hook, WorkerHooks};

/// Status a worker ends with after SIGABRT, as gunicorn's `sys.exit(1)`.
const ABORT_STATUS: i32 = 1;
/// gunicorn's `sys.exit(-1)` after an unexpected exception in a worker.
pub(crate) const UNEXPECTED_STATUS: i32 = 255;

/// The request an executor is working on, if any. Its strings keep
/// their capacity between requests, so recording one allocates nothing
/// once they have grown to the usual sizes.
#[derive(Default)]
struct InFlight {
    active: bool,
    started: Option<Instant>,
    method: String,
    /// As received; made text only for a report.
    uri: Vec<u8>,
    peer: String,
}

/// One record per executor (the sync worker's loop, or a gthread thread),
/// indexed by its slot.
static IN_FLIGHT: Mutex<Vec<InFlight>> = Mutex::new(Vec::new());

/// `traceback.format_stack`, looked up at install time: importing in the
/// handler could wait on an import lock held by a stuck thread.
static FORMAT_STACK: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The worker's hooks: `worker_abort`, then `worker_exit`.
static HOOKS: PyOnceLock<WorkerHooks> = PyOnceLock::new();

/// Executor `slot` runs the application for `method uri` from `peer`.
pub fn request_started(slot: usize, method: &str, uri: &[u8], peer: &str, started: Instant) {
    let mut all = IN_FLIGHT.lock().unwrap_or_else(PoisonError::into_inner);
    if all.len() <= slot {
        all.resize_with(slot + 1, InFlight::default);
    }
    let r = &mut all[slot];
    r.active = true;
    r.started = Some(started);
    r.method.clear();
    r.method.push_str(method);
    r.uri.clear();
    r.uri.extend_from_slice(uri);
    r.peer.clear();
    r.peer.push_str(peer);
}

/// Executor `slot` is out of the application.
pub fn request_finished(slot: usize) {
    if let Some(r) = IN_FLIGHT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_mut(slot)
    {
        r.active = false;
    }
}

/// Route SIGABRT to [`on_abort`], replacing the `_exit(1)` action that
/// covers the time before the interpreter is ready for it.
pub fn install(py: Python<'_>, hooks: WorkerHooks) -> PyResult<()> {
    // Set once per worker process (a fresh fork of a master that never sets it).
    let _ = HOOKS.set(py, hooks);
    FORMAT_STACK.get_or_try_init(py, || {
        py.import("traceback")?
            .getattr("format_stack")
            .map(Bound::unbind)
    })?;
    let signal = py.import("signal")?;
    let handler = wrap_pyfunction!(on_abort, py)?;
    signal.call_method1("signal", (signal.getattr("SIGABRT")?, handler))?;
    Ok(())
}

/// The Python-level SIGABRT handler: report, flush, exit 1.
///
/// It ends the process with `_exit` rather than raising `SystemExit`: the
/// worker is stuck by definition, and unwinding through the application
/// would run its `except BaseException`/`finally` code, which may swallow
/// the exit or block again. atexit handlers do not run.
#[pyfunction]
#[pyo3(signature = (_signum, _frame))]
fn on_abort(py: Python<'_>, _signum: i32, _frame: Bound<'_, PyAny>) {
    let pid = std::process::id();
    error!("{}", report(py, pid));
    let mut status = ABORT_STATUS;
    crate::hooks::set_alive(false);
    if let Some(hooks) = HOOKS.get(py) {
        if let Err(e) = hooks.call_worker(py, Hook::WorkerAbort) {
            // gunicorn's `sys.exit(1)` is not reached: the exception ends
            // the worker as an unexpected one (-1).
            error!("Exception in worker process\n{}", e.traceback.trim_end());
            status = UNEXPECTED_STATUS;
        }
    }
    info!("Worker exiting (pid: {pid})");
    if let Some(hooks) = HOOKS.get(py) {
        hooks.worker_exit(py);
    }
    crate::python::fork::flush_stdio(py);
    // SAFETY: `_exit` ends the process at once; nothing after it runs.
    // Called in normal context (a Python signal handler is ordinary code),
    // after our log lines were written with write(2) and Python's stdio
    // was flushed.
    unsafe { libc::_exit(status) }
}

/// The whole report: the request, then each thread's stack.
fn report(py: Python<'_>, pid: u32) -> String {
    let mut out = format!("Worker (pid:{pid}) got SIGABRT (a WORKER TIMEOUT, or sent by hand): ");
    describe_request(&mut out);
    match thread_stacks(py, &mut out) {
        Ok(()) => {}
        Err(e) => {
            let _ = write!(out, "\n(cannot read the Python threads' stacks: {e})");
        }
    }
    out
}

fn describe_request(out: &mut String) {
    match IN_FLIGHT.try_lock() {
        Ok(all) => write_requests(out, &all),
        Err(std::sync::TryLockError::Poisoned(p)) => write_requests(out, &p.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => {
            out.push_str("request in flight: unknown (its record was being updated)")
        }
    }
}

/// Each request in flight (a gthread worker may have several), or
/// `no request in flight`.
fn write_requests(out: &mut String, all: &[InFlight]) {
    let mut any = false;
    for r in all.iter().filter(|r| r.active) {
        if any {
            out.push_str("; ");
        }
        write_request(out, r);
        any = true;
    }
    if !any {
        out.push_str("no request in flight");
    }
}

fn write_request(out: &mut String, r: &InFlight) {
    let _ = write!(
        out,
        "request in flight: {} {} from {}",
        r.method,
        String::from_utf8_lossy(&r.uri),
        r.peer
    );
    if let Some(started) = r.started {
        let _ = write!(out, ", running for {:.3}s", started.elapsed().as_secs_f64());
    }
}

/// Every thread's Python stack, most recent call last, the main thread
/// first; threads without Python code running are listed as such.
fn thread_stacks(py: Python<'_>, out: &mut String) -> PyResult<()> {
    let sys = py.import("sys")?;
    let frames = sys.call_method0("_current_frames")?;
    let frames = frames.cast::<PyDict>()?;
    let format_stack = FORMAT_STACK.get(py).map(|f| f.bind(py));

    // Names come from `threading`, when the program has imported it.
    let mut threads: Vec<(u64, String)> = Vec::new();
    let mut main_ident = None;
    if let Ok(threading) = sys.getattr("modules")?.get_item("threading") {
        main_ident = threading
            .call_method0("main_thread")
            .and_then(|t| t.getattr("ident"))
            .and_then(|i| i.extract::<u64>())
            .ok();
        for t in threading.call_method0("enumerate")?.try_iter()? {
            let t = t?;
            if let Ok(ident) = t.getattr("ident").and_then(|i| i.extract::<u64>()) {
                let name: String = t.getattr("name").and_then(|n| n.extract())?;
                threads.push((ident, name));
            }
        }
    }
    for key in frames.keys() {
        let ident: u64 = key.extract()?;
        if !threads.iter().any(|(i, _)| *i == ident) {
            threads.push((ident, format!("Thread-{ident:#x}")));
        }
    }
    // The main thread (the worker's loop, where the app runs) first.
    threads.sort_by_key(|(ident, _)| Some(*ident) != main_ident);

    out.push_str("\nPython threads (most recent call last):");
    for (ident, name) in threads {
        let _ = write!(out, "\nThread {name} (ident {ident:#x}):");
        let frame = frames.get_item(ident)?;
        match (frame, format_stack) {
            (Some(frame), Some(format_stack)) => {
                let lines = format_stack.call1((frame,))?;
                for line in lines.cast::<PyList>()?.iter() {
                    let line: String = line.extract()?;
                    out.push('\n');
                    out.push_str(line.trim_end_matches('\n'));
                }
            }
            (Some(_), None) => out.push_str("\n  (traceback module unavailable)"),
            (None, _) => out.push_str("\n  (no Python code running)"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_record_reads_back() {
        let mut out = String::new();
        let r = InFlight {
            active: true,
            started: None,
            method: "GET".into(),
            uri: b"/a?b=c".to_vec(),
            peer: "127.0.0.1".into(),
        };
        write_requests(&mut out, std::slice::from_ref(&r));
        assert_eq!(out, "request in flight: GET /a?b=c from 127.0.0.1");
        out.clear();
        let idle = InFlight {
            active: false,
            ..InFlight::default()
        };
        write_requests(&mut out, &[idle, r]);
        assert_eq!(out, "request in flight: GET /a?b=c from 127.0.0.1");
        out.clear();
        write_requests(&mut out, &[InFlight::default()]);
        assert_eq!(out, "no request in flight");
    }
}
