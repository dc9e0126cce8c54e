//! `start_response` and the `write()` callable it returns.
//!
//! Validation follows gunicorn 27's `Response.start_response`: the status
//! must be a str matching `NNN reason`, header names tokens, values free of
//! control characters; a problem raises inside the application (which then
//! fails with a 500) and nothing of it reaches the wire.

use std::borrow::Cow;

use pyo3::create_exception;
use pyo3::exceptions::{PyAssertionError, PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::http::response::{ResponseError, ResponseHead};

create_exception!(
    gunicorn_rs,
    InvalidResponseHeader,
    PyException,
    "A response header the application gave cannot be sent."
);

/// The `start_response` callable of one request.
#[pyclass(module = "gunicorn_rs", name = "StartResponse")]
pub struct StartResponse {
    pub(crate) head: ResponseHead,
    pub(crate) called: bool,
    /// Set by the worker once the head went out: `exc_info` then re-raises.
    pub(crate) headers_sent: bool,
    /// Bytes given to `write()`, in order, not yet taken by the worker.
    pub(crate) written: Vec<u8>,
}

impl StartResponse {
    pub fn new() -> Self {
        StartResponse {
            head: ResponseHead::default(),
            called: false,
            headers_sent: false,
            written: Vec::new(),
        }
    }

    /// Validate `status` and `headers` into a new head; the current one is
    /// replaced only when all of it is valid, so a rejected second call
    /// (with `exc_info`) leaves the first response intact.
    fn set(&mut self, status: &Bound<'_, PyAny>, headers: &Bound<'_, PyAny>) -> PyResult<()> {
        let invalid_status = || PyValueError::new_err(format!("Invalid status {}", repr(status)));
        let status_str = status
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err(format!("{} is not a string", repr(status))))?;
        let mut head = ResponseHead::default();
        let bytes = latin1(status_str.to_str()?).ok_or_else(invalid_status)?;
        head.set_status(&bytes).map_err(|_| invalid_status())?;
        for item in headers.try_iter()? {
            // Any two-item iterable, as gunicorn's `for name, value in headers`.
            let item = item?;
            let mut pair = item.try_iter()?;
            let (Some(name), Some(value), None) = (pair.next(), pair.next(), pair.next()) else {
                return Err(PyValueError::new_err(format!(
                    "a response header must be a (name, value) pair, not {}",
                    repr(&item)
                )));
            };
            let (name, value) = (name?, value?);
            let name_str = as_str(&name)?;
            let value_str = as_str(&value)?;
            let value_bytes = latin1(value_str).ok_or_else(|| {
                header_error(
                    &ResponseError::InvalidHeaderValue(name_str.to_owned()),
                    name_str,
                )
            })?;
            head.push_header(name_str.as_bytes(), &value_bytes)
                .map_err(|e| header_error(&e, name_str))?;
        }
        self.head = head;
        self.called = true;
        Ok(())
    }
}

/// The str behind a header name or value (gunicorn refuses anything else).
fn as_str<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<&'a str> {
    obj.cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("{} is not a string", repr(obj))))?
        .to_str()
}

impl Default for StartResponse {
    fn default() -> Self {
        Self::new()
    }
}

#[pymethods]
impl StartResponse {
    #[pyo3(signature = (status, headers, exc_info=None))]
    fn __call__<'py>(
        slf: &Bound<'py, Self>,
        status: &Bound<'py, PyAny>,
        headers: &Bound<'py, PyAny>,
        exc_info: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        // gunicorn tests exc_info for truth: None and () both mean "not given".
        let exc_info = exc_info.filter(|e| e.is_truthy().unwrap_or(true));
        {
            let mut this = slf.borrow_mut();
            match exc_info {
                // PEP 3333: too late to change the response; re-raise.
                Some(info) if this.headers_sent => {
                    return Err(PyErr::from_value(info.get_item(1)?));
                }
                Some(_) => {}
                None if this.called => {
                    return Err(PyAssertionError::new_err("Response headers already set!"));
                }
                None => {}
            }
            this.set(status, headers)?;
        }
        slf.getattr("write")
    }

    /// The legacy `write(data)` callable.
    fn write(&mut self, data: &Bound<'_, PyAny>) -> PyResult<()> {
        if !self.called {
            return Err(PyAssertionError::new_err("write() before start_response()"));
        }
        let bytes = data
            .cast::<PyBytes>()
            .map_err(|_| PyTypeError::new_err(format!("{} is not a byte", repr(data))))?;
        self.written.extend_from_slice(bytes.as_bytes());
        Ok(())
    }
}

pub(crate) fn header_error(err: &ResponseError, name: &str) -> PyErr {
    match err {
        ResponseError::InvalidHeaderName(_) => InvalidResponseHeader::new_err(format!(
            "Invalid response header name from the application: {name:?}"
        )),
        _ => InvalidResponseHeader::new_err(format!(
            "Invalid response header from the application: {name:?}"
        )),
    }
}

fn repr(obj: &Bound<'_, PyAny>) -> String {
    obj.repr()
        .map(|r| r.to_string())
        .unwrap_or_else(|_| "<object>".to_owned())
}

/// `s` encoded as latin-1, or None when it holds a character above U+00FF.
pub(crate) fn latin1(s: &str) -> Option<Cow<'_, [u8]>> {
    if s.is_ascii() {
        return Some(Cow::Borrowed(s.as_bytes()));
    }
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect::<Option<Vec<u8>>>()
        .map(Cow::Owned)
}
