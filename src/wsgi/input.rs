//! `wsgi.input`: the request body, already fully received (and de-chunked)
//! by the worker, in memory or in a spool file, so reading never waits on a
//! client.

use std::fs::File;
use std::os::unix::fs::FileExt;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

/// Scan size when looking for a line end in a spooled body.
const LINE_SCAN: usize = 8 * 1024;

/// A complete request body.
#[derive(Debug)]
pub enum RequestBody {
    Memory(Vec<u8>),
    /// Spooled to an anonymous file (large uploads).
    File {
        file: File,
        len: u64,
    },
}

impl RequestBody {
    pub fn empty() -> Self {
        RequestBody::Memory(Vec::new())
    }

    fn len(&self) -> u64 {
        match self {
            RequestBody::Memory(v) => v.len() as u64,
            RequestBody::File { len, .. } => *len,
        }
    }
}

/// A file-like view of the request body.
#[pyclass(module = "gunicorn_rs", name = "Body")]
pub struct Input {
    body: RequestBody,
    pos: u64,
}

impl Input {
    pub fn new(body: RequestBody) -> Self {
        Input { body, pos: 0 }
    }

    fn left(&self) -> u64 {
        self.body.len() - self.pos
    }

    /// Bytes to take for a `size` argument: None or negative means all.
    fn amount(&self, size: Option<isize>) -> usize {
        let left = usize::try_from(self.left()).unwrap_or(usize::MAX);
        match size {
            Some(n) if n >= 0 => left.min(n.unsigned_abs()),
            _ => left,
        }
    }

    /// Length of the next line (up to and including `\n`), at most `limit`.
    fn line_len(&self, limit: usize) -> PyResult<usize> {
        match &self.body {
            RequestBody::Memory(data) => {
                let rest = &data[self.pos as usize..self.pos as usize + limit];
                Ok(rest
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(limit, |i| i + 1))
            }
            RequestBody::File { file, .. } => {
                let mut chunk = vec![0u8; LINE_SCAN.min(limit)];
                let mut scanned = 0;
                while scanned < limit {
                    let n = chunk.len().min(limit - scanned);
                    file.read_exact_at(&mut chunk[..n], self.pos + scanned as u64)?;
                    if let Some(i) = chunk[..n].iter().position(|&b| b == b'\n') {
                        return Ok(scanned + i + 1);
                    }
                    scanned += n;
                }
                Ok(limit)
            }
        }
    }

    fn take<'py>(&mut self, py: Python<'py>, n: usize) -> PyResult<Bound<'py, PyBytes>> {
        let start = self.pos;
        let out = match &self.body {
            RequestBody::Memory(data) => {
                PyBytes::new(py, &data[start as usize..start as usize + n])
            }
            RequestBody::File { file, .. } => PyBytes::new_with(py, n, |buf| {
                file.read_exact_at(buf, start).map_err(PyErr::from)
            })?,
        };
        self.pos += n as u64;
        Ok(out)
    }
}

#[pymethods]
impl Input {
    /// Read `size` bytes (all that is left when omitted, None or negative).
    #[pyo3(signature = (size=None))]
    fn read<'py>(&mut self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        let n = self.amount(size);
        self.take(py, n)
    }

    /// Read one line, or at most `size` bytes of it.
    #[pyo3(signature = (size=None))]
    fn readline<'py>(
        &mut self,
        py: Python<'py>,
        size: Option<isize>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let n = self.line_len(self.amount(size))?;
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
        let budget = hint.filter(|&h| h > 0).map(isize::unsigned_abs);
        let mut total = 0;
        while self.left() > 0 {
            let n = self.line_len(self.amount(None))?;
            lines.append(self.take(py, n)?)?;
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

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        if self.left() == 0 {
            return Ok(None);
        }
        let n = self.line_len(self.amount(None))?;
        self.take(py, n).map(Some)
    }
}
