//! Request-head parser: request line and header section, with gunicorn 27's
//! rules and limits.

use super::ParseError;

/// Size limits on the request head (gunicorn's `limit_request_*`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest request line, CRLF excluded. Over it: 414.
    pub request_line: usize,
    /// Most header fields. Over it: 431.
    pub fields: usize,
    /// Longest header field, CRLF included. Over it: 431.
    pub field_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { request_line: 4094, fields: 100, field_size: 8190 }
    }
}

/// Everything that changes how a head is parsed.
#[derive(Debug, Clone, Default)]
pub struct ParserConfig {
    pub limits: Limits,
}

/// How the request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body (no Content-Length, no Transfer-Encoding, or Content-Length: 0).
    Empty,
    /// Content-Length bytes.
    Length(u64),
    /// Transfer-Encoding: chunked.
    Chunked,
}

/// A parsed request head. Owns a copy of the head's bytes; accessors borrow.
#[derive(Debug, Clone)]
pub struct RequestHead {
    _private: (),
}

/// One header field as kept by the parser (dropped ones never appear).
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    /// The name as received (any case).
    pub name: &'a [u8],
    /// The value with surrounding SP/HTAB trimmed; may hold obs-text (latin-1).
    pub value: &'a [u8],
}

impl RequestHead {
    /// The method token, as received.
    pub fn method(&self) -> &str {
        todo!()
    }
    /// The request-target exactly as received (`RAW_URI`).
    pub fn uri(&self) -> &[u8] {
        todo!()
    }
    /// The path part of the target, still percent-encoded. For an
    /// absolute-form target only its path.
    pub fn path(&self) -> &[u8] {
        todo!()
    }
    /// The query part without `?`; empty when absent.
    pub fn query(&self) -> &[u8] {
        todo!()
    }
    /// The fragment without `#`; empty when absent.
    pub fn fragment(&self) -> &[u8] {
        todo!()
    }
    /// `(major, minor)`.
    pub fn version(&self) -> (u8, u8) {
        todo!()
    }
    /// Kept header fields in wire order.
    pub fn headers(&self) -> impl Iterator<Item = Header<'_>> {
        std::iter::empty()
    }
    /// How the body is framed.
    pub fn body_kind(&self) -> BodyKind {
        todo!()
    }
    /// `Expect: 100-continue` on HTTP/1.1: answer `100 Continue` before reading the body.
    pub fn expects_continue(&self) -> bool {
        todo!()
    }
    /// Whether the client allows the connection to stay open after this
    /// request (version default, `Connection` header, CONNECT...).
    pub fn wants_keep_alive(&self) -> bool {
        todo!()
    }
}

/// Outcome of feeding bytes to [`parse_head`].
#[derive(Debug)]
pub enum Parsed {
    /// A whole head; `consumed` bytes of the buffer belong to it.
    Complete { head: RequestHead, consumed: usize },
    /// The head is not complete yet and no limit is exceeded: read more.
    Partial,
}

/// Parse a request head from the start of `buf`.
pub fn parse_head(buf: &[u8], cfg: &ParserConfig) -> Result<Parsed, ParseError> {
    let _ = (buf, cfg);
    todo!()
}
