//! `wsgi.early_hints`: `103 Early Hints` responses an application sends
//! while it works on the final one, so a browser can start preloading.
//!
//! The one place `wsgi` writes to a connection: a hint is only useful if it
//! leaves before the application returns. It is sent at once when nothing
//! else is waiting to go out on the connection, and otherwise queued for the
//! worker to send ahead of the response, so responses never interleave.

use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, send};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyString;

use super::start_response::{header_error, latin1};
use crate::http::response::ResponseHead;

/// The `wsgi.early_hints` callable of a connection, made once and armed for
/// each application call.
#[pyclass(module = "gunicorn_rs", name = "EarlyHints")]
pub struct EarlyHints {
    /// The connection, while an application call lasts; `None` between
    /// calls (after a call the head is on its way: later hints are ignored,
    /// as in gunicorn), and for HTTP/1.0 clients, which know no 1xx.
    fd: Option<RawFd>,
    /// Send at once: nothing was queued on the connection before the call.
    direct: bool,
    /// Hint bytes not sent yet, for the worker to send before the response.
    pending: Vec<u8>,
}

impl EarlyHints {
    /// Unarmed: calls are ignored until [`arm`](Self::arm).
    pub fn new() -> Self {
        EarlyHints {
            fd: None,
            direct: false,
            pending: Vec::new(),
        }
    }

    /// An application call begins on the connection `fd`, which must stay
    /// open until [`finish`](Self::finish). `direct`: nothing is queued
    /// ahead, so hints may be sent at once.
    pub fn arm(&mut self, fd: RawFd, http11: bool, direct: bool) {
        self.fd = http11.then_some(fd);
        self.direct = direct;
        self.pending.clear();
    }

    /// End of the application call: later hints are ignored. Returns what
    /// could not be sent yet.
    pub fn finish(&mut self) -> Vec<u8> {
        self.fd = None;
        std::mem::take(&mut self.pending)
    }

    /// Send what the socket takes now; queue the rest (and later hints).
    /// `fd` is open: the worker keeps the connection for the whole call,
    /// and `finish` clears it before the call ends, so a hint kept and
    /// called later never writes to a descriptor since reused.
    fn send_now(&mut self, fd: RawFd, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match send(fd, bytes, MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT) {
                Ok(n) => bytes = &bytes[n..],
                Err(Errno::EINTR) => {}
                // Full (or gone): the rest goes out with the response, or
                // the worker finds the connection broken.
                Err(_) => break,
            }
        }
        if !bytes.is_empty() {
            self.pending.extend_from_slice(bytes);
            self.direct = false;
        }
    }
}

impl Default for EarlyHints {
    fn default() -> Self {
        Self::new()
    }
}

#[pymethods]
impl EarlyHints {
    /// `early_hints(headers)`: headers as `(name, value)` pairs of str or
    /// bytes, validated as response headers are (an invalid one raises and
    /// nothing is sent).
    fn __call__(&mut self, headers: &Bound<'_, PyAny>) -> PyResult<()> {
        let Some(fd) = self.fd else {
            return Ok(());
        };
        let mut head = ResponseHead::default();
        for item in headers.try_iter()? {
            let item = item?;
            let (name, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract()?;
            let name = text(&name)?;
            let value = text(&value)?;
            let value_bytes = latin1(&value)
                .ok_or_else(|| PyValueError::new_err(format!("{value:?} is not latin-1")))?;
            head.push_header(name.as_bytes(), &value_bytes)
                .map_err(|e| header_error(&e, &name))?;
        }
        let mut out = b"HTTP/1.1 103 Early Hints\r\n".to_vec();
        head.write_headers(&mut out);
        if self.direct {
            self.send_now(fd, &out);
        } else {
            self.pending.extend_from_slice(&out);
        }
        Ok(())
    }
}

/// A header name or value as gunicorn takes it: str, or bytes read latin-1.
fn text(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_str()?.to_owned());
    }
    if let Ok(b) = obj.cast::<pyo3::types::PyBytes>() {
        return Ok(b.as_bytes().iter().map(|&c| char::from(c)).collect());
    }
    Err(PyTypeError::new_err(
        "an early hint header must be str or bytes",
    ))
}
