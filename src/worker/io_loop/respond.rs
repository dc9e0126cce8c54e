//! The answering side of a connection: calling the application for a
//! complete request, then pumping its response to the socket as fast as
//! the client takes it.
//!
//! A [`Responder`] is everything one executor needs for that: its own
//! environ builder and date cache, the hooks, the shared access log. The
//! sync worker's loop has one and uses it inline; each gthread executor
//! thread has its own and is handed connections by the loop. Either way
//! the socket is non-blocking: when the client stops taking bytes, the
//! connection goes back to the loop, which writes the rest as the client
//! reads and asks for more once the buffer has drained.

use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use nix::sys::signal::Signal;
use pyo3::prelude::*;
use pyo3::sync::MutexExt;
use pyo3::types::PyDict;
use tracing::{debug, error, warn};

use super::request::error_page;
use super::{Step, deadline_in};
use crate::hooks::{self, WorkerHooks};
use crate::http::ParseError;
use crate::http::date::HttpDate;
use crate::http::error::latin1;
use crate::http::framing::BodyFramer;
use crate::http::parser::RequestHead;
use crate::http::response::{RequestInfo, ResponseHead};
use crate::log::access::{AccessEntry, AccessLog, find_environ};
use crate::log::{python, statsd};
use crate::signals::Pending;
use crate::worker::abort;
use crate::worker::conn::{Conn, Direct, DirectSend, Flush, Responding, State};
use crate::worker::limits::ClientLimits;
use crate::wsgi::{self, CallError, Wsgi};

/// The access log, shared by a worker's executors.
pub type SharedAccessLog = Arc<Mutex<AccessLog>>;

/// Signals that stop a worker: a response being made when one arrives
/// already says `Connection: close`.
const STOP_SIGNALS: [Signal; 3] = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGQUIT];

/// Whether the worker is stopping, as every executor sees it.
#[derive(Clone)]
pub struct Stopping {
    /// Set by the loop once it stops (TERM handled, INT/QUIT, max requests).
    pub flag: Arc<AtomicBool>,
    /// A stop signal the loop has not handled yet (it may be busy).
    pub signals: Pending,
}

impl Stopping {
    fn now(&self) -> bool {
        self.flag.load(Ordering::Relaxed) || self.signals.any_of(&STOP_SIGNALS)
    }
}

/// Where pumping a response got to.
enum Pump {
    /// The client is not taking more now.
    Wait,
    /// The application failed mid-body: send what it produced, then close
    /// without ending the body, so the client sees it cut short.
    Failed,
    /// The connection is broken (I/O error, file shorter than announced).
    Abort,
    Complete,
}

/// What one executor needs to answer requests.
pub struct Responder {
    pub(super) wsgi: Wsgi,
    /// Per listener: the environ's SERVER_NAME/SERVER_PORT.
    pub(super) servers: Vec<wsgi::environ::Server>,
    pub(super) date: HttpDate,
    pub(super) hooks: WorkerHooks,
    pub(super) access_log: Option<SharedAccessLog>,
    pub(super) limits: ClientLimits,
    /// `--keep-alive 0`: every response closes its connection.
    pub(super) keepalive_off: bool,
    pub(super) stopping: Stopping,
    /// This executor's line in the SIGABRT report.
    pub(super) slot: usize,
    /// Whether that line names the request being served now (it is
    /// written once per `serve`, not again for each step of the response).
    pub(super) recorded: bool,
}

/// The largest finished response left in the connection's buffer for the
/// loop to send at the end of its turn ("corked"). Sending a turn's
/// responses together wakes a client once per batch rather than once per
/// response, and keeps the application's code and the kernel's send path
/// from evicting each other from the caches between requests: 15-20% more
/// requests/s on small framework responses. A gthread thread leaves the
/// send to the loop, which needs no GIL for it.
const CORK_MAX: usize = 64 * 1024;

impl Responder {
    /// Serve `conn`'s complete request or its response in progress as far
    /// as it goes without waiting. Returns the next step for the loop and,
    /// when the application was called, the worker's request count (for
    /// `--max-requests`).
    pub fn serve(&mut self, py: Python<'_>, conn: &mut Conn) -> (Step, Option<u64>) {
        let mut counted = None;
        let step = loop {
            let step = match conn.state {
                State::Ready { .. } => {
                    counted = self.call(py, conn).or(counted);
                    Step::Continue
                }
                State::Responding(_) => self.step_respond(py, conn),
                _ => break Step::Continue,
            };
            if !matches!(step, Step::Continue) {
                break step;
            }
        };
        if std::mem::take(&mut self.recorded) {
            abort::request_finished(self.slot);
        }
        // The connection's last response: its gunicorn.socket goes now,
        // while we hold the GIL (see `Peer::close_socket`). After the
        // record above: this is no longer the request's work, and a
        // SIGABRT handled in it must not report the request as in flight.
        if matches!(step, Step::Close) || matches!(conn.state, State::Closing) {
            close_socket(py, conn);
        }
        (step, counted)
    }

    /// Call the application for a complete request. Returns the worker's
    /// request count when it was called (a failing `pre_request` hook
    /// answers 500 without calling it, and the request does not count).
    fn call(&mut self, py: Python<'_>, conn: &mut Conn) -> Option<u64> {
        let State::Ready { head, body } = std::mem::replace(&mut conn.state, State::Closing) else {
            return None;
        };
        // For the SIGABRT report, should the app (or a request hook) hang.
        let mut started = Instant::now();
        abort::request_started(
            self.slot,
            head.method(),
            head.uri(),
            &conn.remote_addr,
            started,
        );
        self.recorded = true;
        // The request hooks' `req`, made only when one is configured.
        let hook_request = self
            .hooks
            .wants_requests()
            .then(|| request_object(py, conn, &head));
        let hook_request = hook_request.flatten();
        let mut pre_request_failed = None;
        if let Some(req) = &hook_request
            && self.hooks.has_pre_request()
        {
            pre_request_failed = self.hooks.pre_request(py, req).err();
            // As gunicorn's, the request time starts after the hook.
            started = Instant::now();
        } else if tracing::enabled!(tracing::Level::DEBUG) {
            // gunicorn's default `pre_request`.
            debug!("{} {}", head.method(), String::from_utf8_lossy(head.path()));
        }
        // Early hints go straight out only when nothing is queued ahead.
        let socket = (conn.fd.as_raw_fd(), conn.out_pending() == 0);
        let server = &self.servers[conn.listener];
        let peer = conn.peer_py.get_or_insert_with(|| {
            wsgi::environ::Peer::new(
                py,
                &conn.peer,
                conn.proxy.as_ref(),
                conn.uwsgi_client.as_ref(),
            )
        });
        peer.ensure_socket(py, conn.fd.as_fd(), conn.peer.socket_kind());
        let keep_environ = self.access_log.is_some() || self.hooks.wants_environ();
        let (result, counted) = match pre_request_failed {
            // As gunicorn: the app is not called, the failure is answered
            // like the app's own (500), and the request is not counted.
            Some(e) => (Err(CallError::App(e.traceback)), None),
            None => {
                let result = self
                    .wsgi
                    .call(py, &head, body, peer, server, socket, keep_environ);
                // `worker.nr` counts it before `post_request`, as gunicorn.
                (result, Some(hooks::count_request()))
            }
        };
        match result {
            Ok(response) => {
                let info = RequestInfo {
                    version: head.version(),
                    is_head: head.method() == "HEAD",
                    keep_alive: head.wants_keep_alive(),
                    chunked: head.accepts_chunked(),
                };
                conn.out.extend_from_slice(&response.early_hints);
                // A stop that came while the app ran already shapes this
                // response.
                let force_close = self.keepalive_off || conn.close_after || self.stopping.now();
                let (framing, keep_alive) =
                    response
                        .head
                        .encode(&info, force_close, self.date.now(), &mut conn.out);
                conn.deadline = deadline_in(self.limits.body_timeout);
                conn.state = State::Responding(Box::new(Responding {
                    request: head,
                    response,
                    framer: BodyFramer::new(framing),
                    keep_alive,
                    app_done: false,
                    direct: None,
                    started,
                    hook_request,
                }));
            }
            Err(err) => {
                // gunicorn calls it (environ `{}`, resp None) before
                // reporting the error.
                if let Some(req) = &hook_request {
                    self.hooks.post_request(py, req, None, None);
                }
                let (status, reason, message) = match err {
                    CallError::App(tb) => {
                        crate::exception!(
                            "Error handling request {} {}\n{}",
                            head.method(),
                            String::from_utf8_lossy(head.uri()),
                            tb.trim_end()
                        );
                        (500, "Internal Server Error", String::new())
                    }
                    CallError::ScriptName(msg) => {
                        warn!("Invalid request from ip={}: {msg}", conn.remote_addr);
                        let err = ParseError::ConfigurationProblem(msg);
                        (err.status(), err.reason(), err.page_message())
                    }
                };
                error_page(conn, status, reason, &message);
                self.log_error_access(py, conn, &head, status, reason, started);
            }
        }
        counted
    }

    fn step_respond(&mut self, py: Python<'_>, conn: &mut Conn) -> Step {
        let State::Responding(mut r) = std::mem::replace(&mut conn.state, State::Closing) else {
            return Step::Close;
        };
        if r.app_busy() && !self.recorded {
            self.recorded = true;
            abort::request_started(
                self.slot,
                r.request.method(),
                r.request.uri(),
                &conn.remote_addr,
                r.started,
            );
        }
        match self.pump(py, conn, &mut r) {
            Pump::Wait => {
                conn.renew_if_written();
                conn.state = State::Responding(r);
                Step::Wait
            }
            Pump::Failed => {
                end_app(py, &mut r);
                self.log_access(py, conn, &r);
                post_request(py, &self.hooks, &mut r);
                Step::Continue
            }
            Pump::Abort => {
                end_app(py, &mut r);
                self.log_access(py, conn, &r);
                post_request(py, &self.hooks, &mut r);
                Step::Close
            }
            Pump::Complete => {
                self.log_access(py, conn, &r);
                post_request(py, &self.hooks, &mut r);
                // Its head promised keep-alive, so the client may be sending
                // its next request already: a stopping worker still answers
                // that one (with `Connection: close`), waiting for it at
                // most `GRACEFUL_LINGER` (see `step_head`).
                if r.keep_alive {
                    conn.state = State::Head;
                } else {
                    conn.deadline = deadline_in(self.limits.body_timeout);
                    // Its whole request was read before the call; a client
                    // that said it closes sends nothing after it.
                    conn.close_at_once = !r.request.wants_keep_alive() && conn.inbuf.is_empty();
                }
                Step::Continue
            }
        }
    }

    /// Move response bytes from the application to the socket until the
    /// response is complete or the client stops taking them.
    fn pump(&mut self, py: Python<'_>, conn: &mut Conn, r: &mut Responding) -> Pump {
        loop {
            if !r.app_done && r.direct.is_none() && conn.out_pending() < self.limits.response_buffer
            {
                let pulled = r.response.pull(py);
                r.framer.push(&r.response.ready, &mut conn.out);
                r.response.ready.clear();
                match pulled {
                    Ok(exhausted) => {
                        if let Some(file) = r.response.take_file() {
                            let remaining = r.framer.file_start(file.len, &mut conn.out);
                            r.direct = Some(DirectSend {
                                source: Direct::File(file),
                                remaining,
                                sent: 0,
                            });
                        } else if let Some(bytes) = r.response.take_bytes() {
                            let remaining = r.framer.file_start(bytes.size(), &mut conn.out);
                            r.direct = Some(DirectSend {
                                source: Direct::Bytes(bytes),
                                remaining,
                                sent: 0,
                            });
                        } else if exhausted {
                            finish_app(py, conn, r);
                        }
                    }
                    Err(tb) => {
                        // The head is out: send what the app produced, then close.
                        crate::exception!("Error handling request\n{}", tb.trim_end());
                        return Pump::Failed;
                    }
                }
            }
            // A whole response (its iterable ended, or all its
            // Content-Length is here and the rest is only the iterable's
            // end) is corked; a body still being produced never is.
            if r.direct.is_none()
                && r.keep_alive
                && conn.out_pending() < CORK_MAX.min(self.limits.response_buffer)
                && (r.app_done || r.framer.length_reached())
            {
                if r.app_done {
                    conn.corked = true;
                    return Pump::Complete;
                }
                continue;
            }
            match send_ready(conn, r) {
                Flush::Done => {}
                Flush::Blocked => return Pump::Wait,
                Flush::Failed => return Pump::Abort,
            }
            if let Some(sent) = r.direct.take_if(|d| d.remaining == 0) {
                r.framer.file_end(sent.sent, &mut conn.out);
                if r.response.exhausted() {
                    finish_app(py, conn, r);
                }
                continue;
            }
            if r.app_done {
                return Pump::Complete;
            }
        }
    }

    fn log_access(&mut self, py: Python<'_>, conn: &Conn, r: &Responding) {
        let request_time = r.started.elapsed();
        statsd::request(r.response.head.status_code(), request_time);
        let Some(log) = &self.access_log else {
            return;
        };
        // Taken without holding the GIL while waiting: another executor may
        // hold the log and need the GIL for a Python logging call.
        let mut log = log
            .lock_py_attached(py)
            .unwrap_or_else(PoisonError::into_inner);
        let environ = r.response.environ.as_ref().map(|e| e.bind(py));
        if let Some(format) = log.python_format() {
            if let Some(environ) = environ {
                python::access(
                    py,
                    &python::AccessRecord {
                        format,
                        environ,
                        status: r.response.head.status_code(),
                        request_headers: latin1_pairs(
                            r.request.headers().map(|h| (h.name, h.value)),
                        ),
                        response_headers: latin1_pairs(r.response.head.headers()),
                        body_bytes: r.framer.sent(),
                        request_time,
                    },
                );
            }
            return;
        }
        // `%({key}e)s`: keys compared lower-cased, as gunicorn's atoms do.
        let lookup = |key: &str| -> Option<String> {
            let entries = environ?
                .iter()
                .filter_map(|(k, v)| Some((k.extract::<String>().ok()?, v)));
            find_environ(entries, key)?
                .str()
                .ok()
                .map(|s| s.to_string())
        };
        // `%(U)s` is the environ's PATH_INFO (decoded, SCRIPT_NAME removed).
        let path_info = environ
            .and_then(|e| e.get_item("PATH_INFO").ok().flatten())
            .and_then(|v| v.str().ok().map(|s| s.to_string()))
            .unwrap_or_default();
        log.log(&AccessEntry {
            request: &r.request,
            response: &r.response.head,
            remote_addr: &conn.remote_addr,
            path_info: &path_info,
            body_bytes: r.framer.sent(),
            request_time,
            environ: &lookup,
        });
    }

    /// Access-log line for a request answered with an error page.
    fn log_error_access(
        &self,
        py: Python<'_>,
        conn: &Conn,
        head: &RequestHead,
        status: u16,
        reason: &str,
        started: Instant,
    ) {
        let request_time = started.elapsed();
        statsd::request(status, request_time);
        let Some(log) = &self.access_log else {
            return;
        };
        let mut log = log
            .lock_py_attached(py)
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(format) = log.python_format() {
            // No environ was kept for a request the app did not answer:
            // the keys gunicorn's atoms read, from the request.
            let environ = PyDict::new(py);
            let path_info = latin1(&wsgi::environ::percent_decode(head.path()));
            let (major, minor) = head.version();
            let mut entries: Vec<(String, String)> = vec![
                ("REQUEST_METHOD".into(), head.method().to_string()),
                ("RAW_URI".into(), latin1(head.uri())),
                ("SERVER_PROTOCOL".into(), format!("HTTP/{major}.{minor}")),
                ("PATH_INFO".into(), path_info),
                ("QUERY_STRING".into(), latin1(head.query())),
                ("REMOTE_ADDR".into(), conn.remote_addr.clone()),
            ];
            for h in head.headers() {
                let key = format!(
                    "HTTP_{}",
                    String::from_utf8_lossy(h.name)
                        .to_ascii_uppercase()
                        .replace('-', "_")
                );
                entries.push((key, latin1(h.value)));
            }
            for (k, v) in entries {
                let _ = environ.set_item(k, v);
            }
            python::access(
                py,
                &python::AccessRecord {
                    format,
                    environ: &environ,
                    status,
                    request_headers: latin1_pairs(head.headers().map(|h| (h.name, h.value))),
                    response_headers: Vec::new(),
                    body_bytes: 0,
                    request_time,
                },
            );
            return;
        }
        let mut response = ResponseHead::default();
        if response
            .set_status(format!("{status} {reason}").as_bytes())
            .is_err()
        {
            return;
        }
        let path_info = latin1(&wsgi::environ::percent_decode(head.path()));
        log.log(&AccessEntry {
            request: head,
            response: &response,
            remote_addr: &conn.remote_addr,
            path_info: &path_info,
            body_bytes: 0,
            request_time,
            environ: &|_| None,
        });
    }
}

/// Send what is buffered, then more of the body sent in place if there
/// is one.
/// Needs no Python: the loop uses it to serve slow readers.
pub(super) fn send_ready(conn: &mut Conn, r: &mut Responding) -> Flush {
    match conn.flush() {
        Flush::Done => {}
        other => return other,
    }
    match &mut r.direct {
        Some(body) => conn.send_direct(body),
        None => Flush::Done,
    }
}

/// gthread: send what a response has buffered, without Python (a slow
/// reader is served by the loop, not by a thread). `Some` when the client
/// must be waited for; `None` when a thread has work to do: produce more,
/// finish the response, or end a broken one.
pub(super) fn send_buffered(conn: &mut Conn) -> Option<Step> {
    if !matches!(conn.state, State::Responding(_)) {
        return None;
    }
    let State::Responding(mut r) = std::mem::replace(&mut conn.state, State::Closing) else {
        return None;
    };
    let step = match send_ready(conn, &mut r) {
        Flush::Blocked => {
            conn.renew_if_written();
            Some(Step::Wait)
        }
        Flush::Done | Flush::Failed => None,
    };
    conn.state = State::Responding(r);
    step
}

/// Close the connection's `gunicorn.socket`, if it has one.
pub(super) fn close_socket(py: Python<'_>, conn: &mut Conn) {
    if let Some(peer) = &mut conn.peer_py {
        peer.close_socket(py);
    }
}

/// Whether the application still has part of this response to produce.
pub(super) fn app_busy(state: &State) -> bool {
    matches!(state, State::Responding(r) if r.app_busy())
}

/// The body is fully produced: close the iterable, end the framing.
fn finish_app(py: Python<'_>, conn: &mut Conn, r: &mut Responding) {
    end_app(py, r);
    if r.framer.dropped_body() {
        warn!(
            "WSGI app sent body bytes on a no-body response (method={} status={}); dropping per RFC 9110.",
            r.request.method(),
            r.response.head.status_code()
        );
    }
    if !r.framer.finish(&mut conn.out) {
        // Shorter than its Content-Length: the client cannot find the
        // next response, so the connection ends with this one.
        r.keep_alive = false;
    }
}

/// The application is done with this response (PEP 3333: close() once).
pub(super) fn end_app(py: Python<'_>, r: &mut Responding) {
    if !r.app_done {
        r.response.close(py);
        r.app_done = true;
    }
}

/// `post_request` once the response is over, however it ended.
pub(super) fn post_request(py: Python<'_>, hooks: &WorkerHooks, r: &mut Responding) {
    if let Some(req) = r.hook_request.take() {
        let environ = r.response.environ.as_ref();
        hooks.post_request(py, &req, environ, Some((&r.response.head, r.framer.sent())));
    }
}

/// Header pairs as Python sees them: latin-1 text.
fn latin1_pairs<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> Vec<(String, String)> {
    pairs.map(|(k, v)| (latin1(k), latin1(v))).collect()
}

/// The `req` object the request hooks are given; a failure to build it is
/// logged and the request served without hooks.
fn request_object(py: Python<'_>, conn: &Conn, head: &RequestHead) -> Option<Py<PyAny>> {
    let port = match conn.peer {
        crate::sock::Peer::Tcp(sa) => Some(sa.port()),
        crate::sock::Peer::Unix => None,
    };
    match crate::hooks::request_object(py, head, (&conn.remote_addr, port)) {
        Ok(req) => Some(req),
        Err(e) => {
            error!(
                "Cannot make the request object for the request hooks\n{}",
                crate::python::format_exception(py, &e).trim_end()
            );
            None
        }
    }
}
