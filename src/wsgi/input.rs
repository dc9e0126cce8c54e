//! `wsgi.input`: the request body, already fully received (and de-chunked)
//! by the worker, so reading never touches a socket or blocks.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

/// A file-like view of the request body.
#[pyclass(module = "gunicorn_rs", name = "Body")]
pub struct Input {
    data: Vec<u8>,
    pos: usize,
}

impl Input {
    pub fn new(data: Vec<u8>) -> Self {
        Input { data, pos: 0 }
    }

    fn rest(&self) -> &[u8] {
        &self.data[self.pos..]
    }

    /// Bytes to take for a `size` argument: None or negative means all.
    fn amount(&self, size: Option<isize>) -> usize {
        let left = self.data.len() - self.pos;
        match size {
            Some(n) if n >= 0 => left.min(n as usize),
            _ => left,
        }
    }

    /// Length of the next line (up to and including `\n`), at most `limit`.
    fn line_len(&self, limit: usize) -> usize {
        let rest = &self.rest()[..limit];
        rest.iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1)
    }

    fn take<'py>(&mut self, py: Python<'py>, n: usize) -> Bound<'py, PyBytes> {
        let out = PyBytes::new(py, &self.data[self.pos..self.pos + n]);
        self.pos += n;
        out
    }
}

#[pymethods]
impl Input {
    /// Read `size` bytes (all that is left when omitted, None or negative).
    #[pyo3(signature = (size=None))]
    fn read<'py>(&mut self, py: Python<'py>, size: Option<isize>) -> Bound<'py, PyBytes> {
        let n = self.amount(size);
        self.take(py, n)
    }

    /// Read one line, or at most `size` bytes of it.
    #[pyo3(signature = (size=None))]
    fn readline<'py>(&mut self, py: Python<'py>, size: Option<isize>) -> Bound<'py, PyBytes> {
        let n = self.line_len(self.amount(size));
        self.take(py, n)
    }

    /// Read lines until EOF, or until about `hint` bytes were read.
    #[pyo3(signature = (hint=None))]
    fn readlines<'py>(
        &mut self,
        py: Python<'py>,
        hint: Option<isize>,
    ) -> PyResult<Bound<'py, PyList>> {
        let lines = PyList::empty(py);
        let budget = hint.filter(|&h| h > 0).map(|h| h as usize);
        let mut total = 0;
        while self.pos < self.data.len() {
            let n = self.line_len(self.data.len() - self.pos);
            lines.append(self.take(py, n))?;
            total += n;
            if budget.is_some_and(|b| total >= b) {
                break;
            }
        }
        Ok(lines)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        if self.pos >= self.data.len() {
            return None;
        }
        let n = self.line_len(self.data.len() - self.pos);
        Some(self.take(py, n))
    }
}
