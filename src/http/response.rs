//! Response heads: status and header validation (as gunicorn 27's WSGI
//! response), hop-by-hop filtering, the keep-alive decision, framing, and
//! chunked encoding.

use std::fmt;

/// A status line or header the application gave that cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseError {
    InvalidStatus(String),
    InvalidHeaderName(String),
    InvalidHeaderValue(String),
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for ResponseError {}

/// What the request side contributes to framing the response.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo {
    pub version: (u8, u8),
    pub is_head: bool,
    /// From `RequestHead::wants_keep_alive`.
    pub keep_alive: bool,
}

/// How the body that follows the head is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body may be sent (HEAD, 1xx, 204, 304): body bytes are dropped.
    NoBody,
    /// Exactly this many bytes; more are cut.
    Length(u64),
    /// Chunked transfer coding; finish with [`LAST_CHUNK`].
    Chunked,
    /// Until the connection closes (HTTP/1.0 without a length).
    Close,
}

/// Status and application headers of one response. Reusable: `clear` it.
#[derive(Debug, Default)]
pub struct ResponseHead {
    _private: (),
}

impl ResponseHead {
    pub fn clear(&mut self) {
        todo!()
    }
    /// Set the status (`"200 OK"`); validated as gunicorn does.
    pub fn set_status(&mut self, status: &[u8]) -> Result<(), ResponseError> {
        let _ = status;
        todo!()
    }
    pub fn status_code(&self) -> u16 {
        todo!()
    }
    /// Add an application header: validated, value trimmed, hop-by-hop and
    /// server-owned headers dropped as gunicorn does.
    pub fn push_header(&mut self, name: &[u8], value: &[u8]) -> Result<(), ResponseError> {
        let _ = (name, value);
        todo!()
    }
    /// The application's Content-Length, when it gave a valid one.
    pub fn content_length(&self) -> Option<u64> {
        todo!()
    }
    /// Kept application headers, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        std::iter::empty()
    }
    /// Append the status line, `Server`, `Date`, `Connection`, framing
    /// headers and the application headers to `out`. `force_close` is the
    /// server's own reason to close (shutdown, errors...). Returns the
    /// framing and whether the connection stays open afterwards.
    pub fn encode(
        &self,
        req: &RequestInfo,
        force_close: bool,
        date: &[u8],
        out: &mut Vec<u8>,
    ) -> (Framing, bool) {
        let _ = (req, force_close, date, out);
        todo!()
    }
}

/// Append the chunk-size line of a `len`-byte chunk (`"1f\r\n"`); the data and
/// its trailing CRLF follow.
pub fn chunk_header(len: usize, out: &mut Vec<u8>) {
    let _ = (len, out);
    todo!()
}

/// CRLF after the data of a chunk.
pub const CHUNK_END: &[u8] = b"\r\n";
/// The last chunk and an empty trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";
/// Interim response to `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
