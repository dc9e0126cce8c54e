//! Parse errors, named after gunicorn's `http/errors.py`, and the error page
//! each one is answered with.

use std::fmt;

/// Why a request cannot be served. Each kind maps to a status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The peer closed the connection mid-request: no response is written.
    NoMoreData,
    InvalidRequestLine(String),
}

impl ParseError {
    /// Status code written back.
    pub fn status(&self) -> u16 {
        todo!()
    }
    /// Reason phrase of the status line, as gunicorn writes it.
    pub fn reason(&self) -> &'static str {
        todo!()
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for ParseError {}

/// Append gunicorn's error response (status line, `Connection: close`,
/// small HTML page with the escaped message) to `out`.
pub fn write_error_page(out: &mut Vec<u8>, status: u16, reason: &str, message: &str) {
    let _ = (out, status, reason, message);
    todo!()
}
