//! `wsgi.file_wrapper`: wraps a file-like object so the worker can send a
//! real file with sendfile(2); anything else is read in blocks.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// `environ['wsgi.file_wrapper'](filelike, blksize=8192)`.
#[pyclass(module = "gunicorn_rs", name = "FileWrapper")]
pub struct FileWrapper {
    #[pyo3(get)]
    pub filelike: Py<PyAny>,
    #[pyo3(get)]
    pub blksize: usize,
}

#[pymethods]
impl FileWrapper {
    #[new]
    #[pyo3(signature = (filelike, blksize=8192))]
    fn new(filelike: Py<PyAny>, blksize: usize) -> Self {
        FileWrapper {
            filelike,
            blksize: blksize.max(1),
        }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let data = self
            .filelike
            .bind(py)
            .call_method1("read", (self.blksize,))?;
        let empty = match data.cast::<PyBytes>() {
            Ok(b) => b.as_bytes().is_empty(),
            Err(_) => !data.is_truthy()?,
        };
        Ok((!empty).then_some(data))
    }

    /// Close the wrapped object when it can be closed (PEP 3333).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let filelike = self.filelike.bind(py);
        if filelike.hasattr("close")? {
            filelike.call_method0("close")?;
        }
        Ok(())
    }
}

impl FileWrapper {
    /// The descriptor of the wrapped object, when it has one.
    pub fn fileno(&self, py: Python<'_>) -> Option<i32> {
        self.filelike
            .bind(py)
            .call_method0("fileno")
            .ok()?
            .extract()
            .ok()
    }
}
