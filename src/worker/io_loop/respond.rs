//! The answering side of a connection: calling the application for a
//! complete request (one at a time, through the sync executor), then
//! pumping its response to the socket as fast as the client takes it.

use std::os::fd::{AsFd, AsRawFd};
use std::time::Instant;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use tracing::{debug, error, warn};

use super::request::error_page;
use super::{IO_IDLE_TIMEOUT, IoLoop, Mode, OUT_HIGH_WATER, Step, deadline_in, far_future};
use crate::http::ParseError;
use crate::http::error::latin1;
use crate::http::framing::BodyFramer;
use crate::http::parser::RequestHead;
use crate::http::response::{RequestInfo, ResponseHead};
use crate::log::access::{AccessEntry, find_environ};
use crate::log::{python, statsd};
use crate::worker::abort;
use crate::worker::conn::{Conn, FileSend, Flush, Responding, State};
use crate::wsgi::{self, CallError};

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

impl IoLoop<'_> {
    pub(super) fn step_ready(&mut self, py: Python<'_>, id: usize, conn: &mut Conn) -> Step {
        if !self.executor.try_start(id) {
            conn.deadline = far_future();
            return Step::Wait;
        }
        // Back-to-back requests must never look like a hung worker.
        self.beat();
        if self.mode == Mode::Quit {
            self.executor.release(id);
            return Step::Close;
        }
        let State::Ready { head, body } = std::mem::replace(&mut conn.state, State::Closing) else {
            self.executor.release(id);
            return Step::Close;
        };
        // For the SIGABRT report, should the app (or a request hook) hang.
        let mut started = Instant::now();
        abort::request_started(head.method(), head.uri(), &conn.remote_addr, started);
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
        let server = &self.listeners[conn.listener].server;
        let peer = conn
            .peer_py
            .get_or_insert_with(|| wsgi::environ::Peer::new(py, &conn.peer, conn.proxy.as_ref()));
        peer.ensure_socket(py, conn.fd.as_fd());
        let keep_environ = self.access_log.is_some() || self.hooks.wants_environ();
        let result = match pre_request_failed {
            // As gunicorn: the app is not called, the failure is answered
            // like the app's own (500), and the request is not counted.
            Some(e) => Err(CallError::App(e.traceback)),
            None => {
                let result = self
                    .wsgi
                    .call(py, &head, body, peer, server, socket, keep_environ);
                self.count_request();
                result
            }
        };
        // A TERM that came while the app ran must already shape this
        // response (`Connection: close`).
        if self.signals.pending() {
            self.handle_signals();
        }
        match result {
            Ok(response) => {
                let info = RequestInfo {
                    version: head.version(),
                    is_head: head.method() == "HEAD",
                    keep_alive: head.wants_keep_alive(),
                };
                conn.out.extend_from_slice(&response.early_hints);
                let force_close = self.mode != Mode::Running || self.cfg.keepalive == 0;
                let (framing, keep_alive) =
                    response
                        .head
                        .encode(&info, force_close, self.date.now(), &mut conn.out);
                conn.deadline = deadline_in(IO_IDLE_TIMEOUT);
                conn.state = State::Responding(Box::new(Responding {
                    request: head,
                    response,
                    framer: BodyFramer::new(framing),
                    keep_alive,
                    app_done: false,
                    file: None,
                    started,
                    hook_request,
                }));
            }
            Err(err) => {
                self.executor.release(id);
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
        Step::Continue
    }

    pub(super) fn step_respond(&mut self, py: Python<'_>, id: usize, conn: &mut Conn) -> Step {
        let State::Responding(mut r) = std::mem::replace(&mut conn.state, State::Closing) else {
            return Step::Close;
        };
        match self.pump(py, id, conn, &mut r) {
            Pump::Wait => {
                // Only progress earns more time: a client that sends but
                // never reads is dropped after IO_IDLE_TIMEOUT.
                if conn.take_write_progress() {
                    conn.deadline = deadline_in(IO_IDLE_TIMEOUT);
                }
                conn.state = State::Responding(r);
                Step::Wait
            }
            Pump::Failed => {
                self.end_app(py, id, &mut r);
                self.log_access(py, conn, &r);
                self.post_request(py, &mut r);
                Step::Continue
            }
            Pump::Abort => {
                self.end_app(py, id, &mut r);
                self.log_access(py, conn, &r);
                self.post_request(py, &mut r);
                Step::Close
            }
            Pump::Complete => {
                conn.served = true;
                self.log_access(py, conn, &r);
                self.post_request(py, &mut r);
                // Its head promised keep-alive, so the client may be sending
                // its next request already: a stopping worker still answers
                // that one (with `Connection: close`), waiting for it at
                // most `GRACEFUL_LINGER` (see `step_head`).
                if r.keep_alive && self.mode != Mode::Quit {
                    conn.state = State::Head;
                } else {
                    conn.deadline = deadline_in(IO_IDLE_TIMEOUT);
                }
                Step::Continue
            }
        }
    }

    /// Move response bytes from the application to the socket until the
    /// response is complete or the client stops taking them.
    fn pump(&mut self, py: Python<'_>, id: usize, conn: &mut Conn, r: &mut Responding) -> Pump {
        loop {
            if !r.app_done && r.file.is_none() && conn.out_pending() < OUT_HIGH_WATER {
                let pulled = r.response.pull(py);
                r.framer.push(&r.response.ready, &mut conn.out);
                r.response.ready.clear();
                match pulled {
                    Ok(exhausted) => {
                        if let Some(body) = r.response.take_file() {
                            let remaining = r.framer.file_start(body.len, &mut conn.out);
                            r.file = Some(FileSend {
                                body,
                                remaining,
                                sent: 0,
                            });
                            self.executor.release(id);
                        } else if exhausted {
                            self.finish_app(py, id, conn, r);
                        }
                    }
                    Err(tb) => {
                        // The head is out: send what the app produced, then close.
                        crate::exception!("Error handling request\n{}", tb.trim_end());
                        return Pump::Failed;
                    }
                }
            }
            match conn.flush() {
                Flush::Done => {}
                Flush::Blocked => return Pump::Wait,
                Flush::Failed => return Pump::Abort,
            }
            if let Some(file) = &mut r.file {
                match conn.send_file(file) {
                    Flush::Done => {
                        let sent = file.sent;
                        r.file = None;
                        r.framer.file_end(sent, &mut conn.out);
                        self.finish_app(py, id, conn, r);
                        continue;
                    }
                    Flush::Blocked => return Pump::Wait,
                    Flush::Failed => return Pump::Abort,
                }
            }
            if r.app_done {
                return Pump::Complete;
            }
        }
    }

    /// The body is fully produced: close the iterable, end the framing.
    fn finish_app(&mut self, py: Python<'_>, id: usize, conn: &mut Conn, r: &mut Responding) {
        self.end_app(py, id, r);
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

    /// `post_request` once the response is over, however it ended.
    pub(super) fn post_request(&mut self, py: Python<'_>, r: &mut Responding) {
        if let Some(req) = r.hook_request.take() {
            let environ = r.response.environ.as_ref();
            self.hooks
                .post_request(py, &req, environ, Some((&r.response.head, r.framer.sent())));
        }
    }

    /// The application is done with this response (PEP 3333: close() once).
    pub(super) fn end_app(&mut self, py: Python<'_>, id: usize, r: &mut Responding) {
        if !r.app_done {
            r.response.close(py);
            r.app_done = true;
        }
        self.executor.release(id);
    }

    fn log_access(&mut self, py: Python<'_>, conn: &Conn, r: &Responding) {
        let request_time = r.started.elapsed();
        statsd::request(r.response.head.status_code(), request_time);
        let Some(log) = &mut self.access_log else {
            return;
        };
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
        &mut self,
        py: Python<'_>,
        conn: &Conn,
        head: &RequestHead,
        status: u16,
        reason: &str,
        started: Instant,
    ) {
        let request_time = started.elapsed();
        statsd::request(status, request_time);
        let Some(log) = &mut self.access_log else {
            return;
        };
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
