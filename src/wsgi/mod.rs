//! PEP 3333: calling the application for one complete request and pulling
//! its response.
//!
//! The only code that runs Python per request. The worker hands in a parsed
//! head and a fully received body, and takes back a [`Response`] whose body
//! it pulls chunk by chunk, as fast as the client reads. The socket is
//! touched only by `wsgi.early_hints`, whose point is to send during the
//! call (see [`early_hints`]), and lent to the app as `gunicorn.socket`.

pub mod early_hints;
pub mod environ;
pub mod errors;
pub mod file_wrapper;
pub mod input;
pub mod start_response;

use std::fmt;
use std::os::fd::{OwnedFd, RawFd};

use early_hints::EarlyHints;

use pyo3::exceptions::PyAttributeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyIterator, PyList};

use crate::http::parser::RequestHead;
use crate::http::response::ResponseHead;
use environ::{BuildError, EnvironBuilder, Peer, Server};
use file_wrapper::FileWrapper;
use input::{Input, RequestBody};
use start_response::StartResponse;

/// Why a request got no response from the application.
#[derive(Debug)]
pub enum CallError {
    /// The path does not start with SCRIPT_NAME (gunicorn's
    /// ConfigurationProblem: a 500).
    ScriptName(String),
    /// The application failed before its response started: a 500. Holds
    /// the Python traceback.
    App(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::ScriptName(msg) | CallError::App(msg) => f.write_str(msg.trim_end()),
        }
    }
}

/// A file to send with sendfile(2): a duplicate of the wrapped file's
/// descriptor, from its current offset.
pub struct FileBody {
    pub fd: OwnedFd,
    pub offset: u64,
    /// Bytes to send: the app's Content-Length, else to the end of the file.
    pub len: u64,
}

/// Body items at least this large are sent from the application's own
/// `bytes` object instead of being copied into the connection's buffer.
const SEND_IN_PLACE: usize = 64 * 1024;

/// A large `bytes` body item, sent as it lies in the object's memory.
pub struct BytesBody {
    /// Keeps the memory below alive (a `bytes` object never changes).
    _obj: Py<PyBytes>,
    ptr: usize,
    len: usize,
}

impl BytesBody {
    fn new(bytes: &Bound<'_, PyBytes>) -> Self {
        let data = bytes.as_bytes();
        BytesBody {
            ptr: data.as_ptr() as usize,
            len: data.len(),
            _obj: bytes.clone().unbind(),
        }
    }

    /// Its size (never small: see `SEND_IN_PLACE`).
    pub fn size(&self) -> u64 {
        self.len as u64
    }

    /// The bytes, readable without the GIL (the gthread loop sends them).
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` and `len` are the buffer of the `bytes` object held
        // in `_obj`: it is immutable and lives at least as long as `self`,
        // and reading it takes no interpreter state, so no GIL.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

/// Where the rest of the body comes from.
enum Source {
    /// Nothing left to pull.
    Done,
    Iter(Py<PyIterator>),
    File(FileBody),
}

/// The application's answer to one request.
pub struct Response {
    /// Status and headers, validated.
    pub head: ResponseHead,
    /// The environ, kept only when the access log needs it (`%(U)s`,
    /// `%({key}e)s`): it holds the request body alive.
    pub environ: Option<Py<PyDict>>,
    /// `103 Early Hints` bytes the application asked for that could not be
    /// sent during the call: they go out before the head.
    pub early_hints: Vec<u8>,
    /// Body bytes already produced (the first chunk, `write()` output).
    pub ready: Vec<u8>,
    /// A large item produced after `ready`, to send in place.
    large: Option<BytesBody>,
    source: Source,
    /// The returned iterable, closed once the response is over.
    result: Option<Py<PyAny>>,
    start_response: Py<StartResponse>,
}

/// The application of one worker and what it needs per request.
pub struct Wsgi {
    app: Py<PyAny>,
    environ: EnvironBuilder,
    sendfile: bool,
    start_response: start_response::Reusable,
}

impl Wsgi {
    pub fn new(
        py: Python<'_>,
        app: Py<PyAny>,
        multiprocess: bool,
        multithread: bool,
        sendfile: bool,
    ) -> PyResult<Self> {
        let script_name = std::env::var("SCRIPT_NAME").unwrap_or_default();
        Ok(Wsgi {
            app,
            environ: EnvironBuilder::new(py, multiprocess, multithread, script_name)?,
            sendfile,
            start_response: start_response::Reusable::default(),
        })
    }

    /// Call the application and run it up to its first body bytes, which is
    /// when PEP 3333 fixes the status and headers. `conn`: the client's
    /// socket and whether nothing is queued on it, for `wsgi.early_hints`.
    #[allow(clippy::too_many_arguments)]
    pub fn call(
        &mut self,
        py: Python<'_>,
        head: &RequestHead,
        body: RequestBody,
        peer: &mut Peer,
        server: &Server,
        conn: (RawFd, bool),
        keep_environ: bool,
    ) -> Result<Response, CallError> {
        let input = Bound::new(py, Input::new(body)).map_err(|e| app_error(py, &e))?;
        let hints = peer.early_hints(py).map_err(|e| app_error(py, &e))?;
        // Never borrowed elsewhere while we run (the GIL is ours); a failed
        // borrow only means no hints for this call.
        if let Ok(mut h) = hints.try_borrow_mut() {
            h.arm(conn.0, head.version() >= (1, 1), conn.1);
        }
        let environ = match self.environ.build(py, head, input, peer, server) {
            Ok(env) => env,
            Err(BuildError::ScriptName(msg)) => {
                finish_hints(&hints);
                return Err(CallError::ScriptName(msg));
            }
            Err(BuildError::Python(e)) => {
                finish_hints(&hints);
                return Err(app_error(py, &e));
            }
        };
        let result = self.run_app(py, &environ, keep_environ);
        // However the call went, a hint kept by the app no longer writes.
        let early_hints = finish_hints(&hints);
        result.map(|mut response| {
            response.early_hints = early_hints;
            response
        })
    }

    /// The application call proper, up to the first body bytes.
    fn run_app(
        &mut self,
        py: Python<'_>,
        environ: &Bound<'_, PyDict>,
        keep_environ: bool,
    ) -> Result<Response, CallError> {
        let sr = self
            .start_response
            .take(py)
            .map_err(|e| app_error(py, &e))?;
        let result = self
            .app
            .bind(py)
            .call1((environ, &sr))
            .map_err(|e| app_error(py, &e))?;

        let mut response = Response {
            head: ResponseHead::default(),
            environ: keep_environ.then(|| environ.clone().unbind()),
            early_hints: Vec::new(),
            ready: Vec::new(),
            large: None,
            source: Source::Done,
            result: None,
            start_response: sr.clone().unbind(),
        };
        if let Err(e) = self.start_body(py, &mut response, &result) {
            response.result = Some(result.unbind());
            response.close(py);
            return Err(app_error(py, &e));
        }
        if !response.start_response.borrow(py).called {
            response.close(py);
            return Err(CallError::App(
                "the application returned without calling start_response()".into(),
            ));
        }
        let mut sr = sr.borrow_mut();
        sr.headers_sent = true;
        response.head = std::mem::take(&mut sr.head);
        Ok(response)
    }

    /// Classify the returned iterable and pull it up to the first bytes.
    fn start_body(
        &self,
        py: Python<'_>,
        response: &mut Response,
        result: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        if let Ok(list) = result.cast_exact::<PyList>() {
            // Already in memory: take it all now, and no close() to call.
            // Bytes given to write() during the call come first.
            take_written(py, response);
            if list.len() == 1 && response.ready.is_empty() {
                response.take_item(&list.get_item(0)?)?;
                return Ok(());
            }
            for item in list.iter() {
                append_bytes(&item, &mut response.ready)?;
            }
            return Ok(());
        }
        response.result = Some(result.clone().unbind());
        if let Ok(wrapper) = result.cast::<FileWrapper>()
            && self.sendfile
            && let Some(file) = file_body(py, &wrapper.borrow(), &response.start_response)?
        {
            take_written(py, response);
            response.source = Source::File(file);
            return Ok(());
        }
        response.source = Source::Iter(result.try_iter()?.unbind());
        while !response.has_block() && !matches!(response.source, Source::Done) {
            response.pull_one(py)?;
        }
        Ok(())
    }
}

/// End the call for `wsgi.early_hints`: what it could not send yet.
fn finish_hints(hints: &Bound<'_, EarlyHints>) -> Vec<u8> {
    hints
        .try_borrow_mut()
        .map(|mut h| h.finish())
        .unwrap_or_default()
}

impl Response {
    /// Pull the iterable's next non-empty block into `ready`, or to its end.
    /// Only one: PEP 3333 forbids holding a block back while the application
    /// produces the next (a slow generator's first block must go out now).
    /// Returns whether the iterable is exhausted.
    /// A Python error here comes after the head was sent.
    pub fn pull(&mut self, py: Python<'_>) -> Result<bool, String> {
        while !self.has_block() && matches!(self.source, Source::Iter(_)) {
            self.pull_one(py)
                .map_err(|e| crate::python::format_exception(py, &e))?;
        }
        Ok(self.exhausted())
    }

    /// Nothing more will come from the application.
    pub fn exhausted(&self) -> bool {
        !matches!(self.source, Source::Iter(_))
    }

    fn has_block(&self) -> bool {
        !self.ready.is_empty() || self.large.is_some()
    }

    /// The large item to send in place, once `ready` has gone out.
    pub fn take_bytes(&mut self) -> Option<BytesBody> {
        self.large.take()
    }

    /// Take one body item: a large `bytes` one in place, when nothing is
    /// waiting before it; anything else copied after `ready`.
    fn take_item(&mut self, item: &Bound<'_, PyAny>) -> PyResult<()> {
        if self.ready.is_empty()
            && let Ok(bytes) = item.cast::<PyBytes>()
            && bytes.as_bytes().len() >= SEND_IN_PLACE
        {
            self.large = Some(BytesBody::new(bytes));
            return Ok(());
        }
        append_bytes(item, &mut self.ready)
    }

    /// The file to send with sendfile(2), if this response is one.
    pub fn take_file(&mut self) -> Option<FileBody> {
        match std::mem::replace(&mut self.source, Source::Done) {
            Source::File(f) => Some(f),
            other => {
                self.source = other;
                None
            }
        }
    }

    fn pull_one(&mut self, py: Python<'_>) -> PyResult<()> {
        let Source::Iter(iter) = &self.source else {
            return Ok(());
        };
        let next = iter
            .bind(py)
            .cast::<pyo3::types::PyIterator>()?
            .clone()
            .next();
        take_written(py, self);
        match next {
            Some(item) => self.take_item(&item?),
            None => {
                self.source = Source::Done;
                Ok(())
            }
        }
    }

    /// Call the iterable's `close()` (PEP 3333: always, once). An error in
    /// it is logged; the response is over either way.
    pub fn close(&mut self, py: Python<'_>) {
        self.source = Source::Done;
        let Some(result) = self.result.take() else {
            return;
        };
        let close = match result.bind(py).getattr(intern!(py, "close")) {
            Ok(close) => close,
            Err(e) if e.is_instance_of::<PyAttributeError>(py) => return,
            Err(e) => return log_close_error(py, &e),
        };
        if let Err(e) = close.call0() {
            log_close_error(py, &e);
        }
    }
}

fn log_close_error(py: Python<'_>, err: &PyErr) {
    tracing::error!(
        "Error closing the response iterable\n{}",
        crate::python::format_exception(py, err)
    );
}

/// Move `write()` output into the body, keeping order with iterated chunks.
fn take_written(py: Python<'_>, response: &mut Response) {
    let mut sr = response.start_response.borrow_mut(py);
    if !sr.written.is_empty() {
        if response.ready.is_empty() {
            std::mem::swap(&mut response.ready, &mut sr.written);
        } else {
            response.ready.extend_from_slice(&sr.written);
            sr.written.clear();
        }
    }
}

fn append_bytes(item: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> PyResult<()> {
    let bytes = item.cast::<PyBytes>().map_err(|_| {
        let repr = item.repr().map(|r| r.to_string()).unwrap_or_default();
        pyo3::exceptions::PyTypeError::new_err(format!(
            "the application yielded {repr}, but a WSGI response body must be bytes"
        ))
    })?;
    out.extend_from_slice(bytes.as_bytes());
    Ok(())
}

/// A sendfile-able view of a file wrapper, or None to iterate it instead:
/// our own descriptor for the file (so Python may close its copy), from
/// the file's current offset, for the app's Content-Length or to the end.
fn file_body(
    py: Python<'_>,
    wrapper: &FileWrapper,
    sr: &Py<StartResponse>,
) -> PyResult<Option<FileBody>> {
    let Some(fd) = wrapper.fileno(py) else {
        return Ok(None);
    };
    let fd = crate::python::dup_fd(py, fd)?;
    let Ok(st) = nix::sys::stat::fstat(&fd) else {
        return Ok(None);
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Ok(None);
    }
    // The duplicate shares the file offset: this is where the app left it.
    let Ok(offset) = nix::unistd::lseek(&fd, 0, nix::unistd::Whence::SeekCur) else {
        return Ok(None);
    };
    let (offset, size) = (offset as u64, st.st_size as u64);
    let len = sr
        .borrow(py)
        .head
        .content_length()
        .unwrap_or(size.saturating_sub(offset));
    Ok(Some(FileBody { fd, offset, len }))
}

fn app_error(py: Python<'_>, err: &PyErr) -> CallError {
    CallError::App(crate::python::format_exception(py, err))
}
