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
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

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
    /// The `write` callable `__call__` returns, made at the first call and
    /// given out again while this object is reused (see [`Reusable`]).
    write: Option<Py<PyAny>>,
}

impl StartResponse {
    pub fn new() -> Self {
        StartResponse {
            head: ResponseHead::default(),
            called: false,
            headers_sent: false,
            written: Vec::new(),
            write: None,
        }
    }

    /// Ready for another request, as if new (the `write` callable stays).
    fn reset(&mut self) {
        self.head.clear();
        self.called = false;
        self.headers_sent = false;
        self.written.clear();
    }

    /// Validate `status` and `headers` into a new head; the current one is
    /// replaced only when all of it is valid, so a rejected second call
    /// (with `exc_info`) leaves the first response intact.
    fn set(&mut self, status: &Bound<'_, PyAny>, headers: &Bound<'_, PyAny>) -> PyResult<()> {
        if self.called {
            let mut head = ResponseHead::default();
            fill_head(&mut head, status, headers)?;
            self.head = head;
        } else {
            // Nothing to keep yet: fill the head in place (its buffers are
            // reused from the previous request).
            self.head.clear();
            fill_head(&mut self.head, status, headers)?;
        }
        self.called = true;
        Ok(())
    }
}

/// Validate `status` and `headers` into `head`.
fn fill_head(
    head: &mut ResponseHead,
    status: &Bound<'_, PyAny>,
    headers: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let invalid_status = || PyValueError::new_err(format!("Invalid status {}", repr(status)));
    let status_str = status
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("{} is not a string", repr(status))))?;
    let bytes = latin1(status_str.to_str()?).ok_or_else(invalid_status)?;
    head.set_status(&bytes).map_err(|_| invalid_status())?;
    // The usual shape, a list of 2-tuples, read without iterator objects.
    if let Ok(list) = headers.cast_exact::<PyList>() {
        for item in list.iter() {
            match item.cast_exact::<PyTuple>() {
                Ok(pair) if pair.len() == 2 => {
                    let (name, value) = (pair.get_borrowed_item(0)?, pair.get_borrowed_item(1)?);
                    push_header(head, &name, &value)?;
                }
                _ => push_pair(head, &item)?,
            }
        }
        return Ok(());
    }
    for item in headers.try_iter()? {
        push_pair(head, &item?)?;
    }
    Ok(())
}

/// A header from any two-item iterable, as gunicorn's `for name, value in headers`.
fn push_pair(head: &mut ResponseHead, item: &Bound<'_, PyAny>) -> PyResult<()> {
    let mut pair = item.try_iter()?;
    let (Some(name), Some(value), None) = (pair.next(), pair.next(), pair.next()) else {
        return Err(PyValueError::new_err(format!(
            "a response header must be a (name, value) pair, not {}",
            repr(item)
        )));
    };
    push_header(head, &name?, &value?)
}

fn push_header(
    head: &mut ResponseHead,
    name: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let name_str = as_str(name)?;
    let value_str = as_str(value)?;
    let value_bytes = latin1(value_str).ok_or_else(|| {
        header_error(
            &ResponseError::InvalidHeaderValue(name_str.to_owned()),
            name_str,
        )
    })?;
    head.push_header(name_str.as_bytes(), &value_bytes)
        .map_err(|e| header_error(&e, name_str))
}

/// One worker thread's `start_response`, reused from request to request
/// while nothing outside the worker holds on to it or to its `write`:
/// making the object and its bound `write` method per request costs more
/// than the rest of a small application's call. One that an application
/// kept (in a closure, a traceback...) is left to it and a new one made,
/// so a late call can never touch another request's response.
#[derive(Default)]
pub struct Reusable {
    current: Option<Py<StartResponse>>,
}

impl Reusable {
    /// A `start_response` for a new request, as if new.
    pub fn take<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, StartResponse>> {
        if let Some(sr) = self.current.take() {
            let bound = sr.into_bound(py);
            // Counted before borrowing (a borrow holds a reference too).
            let refs = refcount(bound.as_any());
            if let Ok(mut this) = bound.try_borrow_mut() {
                // Referenced only by us and, once made, by its own `write`,
                // which nothing else holds either.
                let write_refs = this.write.as_ref().map(|w| refcount(w.bind(py)));
                let expected = 1 + isize::from(write_refs.is_some());
                if refs == expected && write_refs.is_none_or(|n| n == 1) {
                    this.reset();
                    drop(this);
                    self.current = Some(bound.clone().unbind());
                    return Ok(bound);
                }
                // Break the cycle through its `write`: whoever holds the
                // object can still call it (a new `write` is then made).
                this.write = None;
            }
        }
        let sr = Bound::new(py, StartResponse::new())?;
        self.current = Some(sr.clone().unbind());
        Ok(sr)
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
            if let Some(write) = &this.write {
                return Ok(write.bind(slf.py()).clone());
            }
        }
        let write = slf.getattr(pyo3::intern!(slf.py(), "write"))?;
        slf.borrow_mut().write = Some(write.clone().unbind());
        Ok(write)
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

/// How many references `obj` has (exact: these objects are never immortal).
fn refcount(obj: &Bound<'_, PyAny>) -> isize {
    // SAFETY: `obj` is a live object (we hold a reference and the GIL);
    // reading its reference count has no other requirement.
    unsafe { pyo3::ffi::Py_REFCNT(obj.as_ptr()) }
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
