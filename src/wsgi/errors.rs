//! `wsgi.errors`: a text stream that writes to the server's error log.

use pyo3::prelude::*;

/// The error stream handed to applications.
#[pyclass(module = "gunicorn_rs", name = "ErrorStream")]
pub struct ErrorStream;

#[pymethods]
impl ErrorStream {
    fn write(&self, text: &str) -> usize {
        crate::log::write_raw(text.as_bytes());
        text.chars().count()
    }

    fn writelines(&self, lines: &Bound<'_, PyAny>) -> PyResult<()> {
        for line in lines.try_iter()? {
            let line = line?;
            crate::log::write_raw(line.extract::<&str>()?.as_bytes());
        }
        Ok(())
    }

    /// Every write goes straight to the log file: nothing to flush.
    fn flush(&self) {}
}
