//! Response heads: status and header validation (as gunicorn 27's WSGI
//! response), hop-by-hop filtering, the keep-alive decision, framing, and
//! chunked encoding.
//!
//! Mirrors gunicorn's `http/wsgi.py` `Response` (`start_response`,
//! `process_headers`, `is_chunked`, `should_close`, `default_headers`),
//! except that the `Server` header names gunicorn-rs.

use super::error::latin1;
use super::fields::{is_token, trim_ows};
use super::pytext::{self, PyStr};
use std::fmt;
use std::ops::Range;

/// Value of the `Server` header.
pub const SERVER: &[u8] = b"gunicorn-rs";

/// A status line or header the application gave that cannot be sent.
/// Each holds the offending text decoded latin-1; header-value errors hold
/// only the header name, as the value may be sensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseError {
    InvalidStatus(String),
    InvalidHeaderName(String),
    InvalidHeaderValue(String),
    /// A `Content-Length` that Python's `int()` refuses (gunicorn lets the
    /// `ValueError` through: a 500).
    InvalidContentLength(String),
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseError::InvalidStatus(s) => write!(f, "Invalid status {}", PyStr(s)),
            ResponseError::InvalidHeaderName(s) => {
                write!(
                    f,
                    "Invalid response header name from the application: {}",
                    PyStr(s)
                )
            }
            ResponseError::InvalidHeaderValue(s) => {
                write!(
                    f,
                    "Invalid response header from the application: {}",
                    PyStr(s)
                )
            }
            ResponseError::InvalidContentLength(s) => {
                write!(f, "invalid literal for int() with base 10: {}", PyStr(s))
            }
        }
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
    /// From `RequestHead::accepts_chunked`: without it, a response of
    /// unknown length is delimited by the close.
    pub chunked: bool,
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
    status: Vec<u8>,
    code: u16,
    /// Names and values of the kept headers, back to back.
    bytes: Vec<u8>,
    headers: Vec<(Range<usize>, Range<usize>)>,
    /// From the last `Content-Length` given.
    content_length: Option<u64>,
    /// The application sent `Connection: upgrade`.
    upgrade: bool,
}

impl ResponseHead {
    pub fn clear(&mut self) {
        self.status.clear();
        self.code = 0;
        self.bytes.clear();
        self.headers.clear();
        self.content_length = None;
        self.upgrade = false;
    }

    /// Set the status (`"200 OK"`); validated as gunicorn does:
    /// `^[0-9]{3}( [\t \x21-\x7e\x80-\xff]*)?$`.
    pub fn set_status(&mut self, status: &[u8]) -> Result<(), ResponseError> {
        let valid = match status {
            [a, b, c, rest @ ..] if [a, b, c].iter().all(|d| d.is_ascii_digit()) => match rest {
                [] => true,
                [b' ', text @ ..] => text.iter().all(|&b| b == b'\t' || is_field_vchar_or_sp(b)),
                _ => false,
            },
            _ => false,
        };
        if !valid {
            return Err(ResponseError::InvalidStatus(latin1(status)));
        }
        self.code = status[..3]
            .iter()
            .fold(0, |n, &d| n * 10 + u16::from(d - b'0'));
        self.status.clear();
        self.status.extend_from_slice(status);
        Ok(())
    }

    pub fn status_code(&self) -> u16 {
        self.code
    }

    /// The status as given (`"200 OK"`).
    pub fn status(&self) -> &[u8] {
        &self.status
    }

    /// Add an application header: validated, value trimmed, hop-by-hop and
    /// server-owned headers dropped as gunicorn does.
    ///
    /// `Upgrade: websocket` is kept and `Connection: upgrade` puts the
    /// response in upgrade mode, as in gunicorn (see [`is_upgrade`](Self::is_upgrade)).
    pub fn push_header(&mut self, name: &[u8], value: &[u8]) -> Result<(), ResponseError> {
        if !is_token(name) {
            return Err(ResponseError::InvalidHeaderName(latin1(name)));
        }
        if !value.iter().all(|&b| b == b'\t' || is_field_vchar_or_sp(b)) {
            return Err(ResponseError::InvalidHeaderValue(latin1(name)));
        }
        let value = trim_ows(value);
        if name.eq_ignore_ascii_case(b"content-length") {
            let length = parse_python_int(value)
                .ok_or_else(|| ResponseError::InvalidContentLength(latin1(value)))?;
            self.content_length = Some(length);
        } else if is_hop_by_hop(name) {
            if name.eq_ignore_ascii_case(b"connection") && value.eq_ignore_ascii_case(b"upgrade") {
                self.upgrade = true;
            }
            if !(name.eq_ignore_ascii_case(b"upgrade") && value.eq_ignore_ascii_case(b"websocket"))
            {
                return Ok(());
            }
        }
        if self.headers.is_empty() {
            // One allocation for a typical head rather than a few regrowths.
            self.bytes.reserve(256);
            self.headers.reserve(8);
        }
        let start = self.bytes.len();
        self.bytes.extend_from_slice(name);
        let middle = self.bytes.len();
        self.bytes.extend_from_slice(value);
        self.headers.push((start..middle, middle..self.bytes.len()));
        Ok(())
    }

    /// The application's Content-Length, when it gave a valid one. None on
    /// 1xx and 204, where gunicorn removes it. A negative value reads as 0:
    /// gunicorn then sends no body bytes, like a length of 0.
    pub fn content_length(&self) -> Option<u64> {
        if self.forbids_content_length() {
            None
        } else {
            self.content_length
        }
    }

    /// The application asked for `Connection: upgrade` (websocket
    /// handshake). `encode` then says `Connection: upgrade`, as gunicorn
    /// does, and never keeps the connection for another request: nothing
    /// here hands the socket over to the application, so after the
    /// response it is closed.
    pub fn is_upgrade(&self) -> bool {
        self.upgrade
    }

    /// Kept application headers, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let drop_length = self.forbids_content_length();
        self.headers
            .iter()
            .map(|(name, value)| (&self.bytes[name.clone()], &self.bytes[value.clone()]))
            .filter(move |(name, _)| !(drop_length && name.eq_ignore_ascii_case(b"content-length")))
    }

    /// Append the kept application headers as `Name: value` lines, then the
    /// blank line that ends a head.
    pub fn write_headers(&self, out: &mut Vec<u8>) {
        for (name, value) in self.headers() {
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
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
        let framing = self.framing(req);
        let keep_alive =
            !force_close && req.keep_alive && framing != Framing::Close && !self.upgrade;
        let connection: &[u8] = if self.upgrade {
            b"upgrade"
        } else if keep_alive {
            b"keep-alive"
        } else {
            b"close"
        };
        out.reserve(
            96 + self.status.len() + date.len() + self.bytes.len() + 4 * self.headers.len(),
        );
        out.extend_from_slice(b"HTTP/");
        push_decimal(out, req.version.0);
        out.push(b'.');
        push_decimal(out, req.version.1);
        out.push(b' ');
        out.extend_from_slice(&self.status);
        out.extend_from_slice(b"\r\nServer: ");
        out.extend_from_slice(SERVER);
        out.extend_from_slice(b"\r\nDate: ");
        out.extend_from_slice(date);
        out.extend_from_slice(b"\r\nConnection: ");
        out.extend_from_slice(connection);
        out.extend_from_slice(b"\r\n");
        if framing == Framing::Chunked {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
        }
        self.write_headers(out);
        (framing, keep_alive)
    }

    /// gunicorn's `_response_omits_body` and `is_chunked`.
    fn framing(&self, req: &RequestInfo) -> Framing {
        let code = self.code;
        if req.is_head || (100..200).contains(&code) || code == 204 || code == 304 {
            Framing::NoBody
        } else if let Some(length) = self.content_length() {
            Framing::Length(length)
        } else if req.chunked {
            Framing::Chunked
        } else {
            Framing::Close
        }
    }

    /// RFC 9110 6.4.2: no Content-Length on 1xx and 204.
    fn forbids_content_length(&self) -> bool {
        (100..200).contains(&self.code) || self.code == 204
    }
}

/// SP, visible ASCII or obs-text: what gunicorn allows in status text and
/// header values (plus HTAB, checked by the callers).
fn is_field_vchar_or_sp(b: u8) -> bool {
    b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80
}

/// gunicorn's `hop_headers`: hop-by-hop fields and the ones it writes itself.
fn is_hop_by_hop(name: &[u8]) -> bool {
    // Every one of them is 2 to 19 bytes long and starts with one of these
    // letters: most names are told apart without comparing.
    if !(2..=19).contains(&name.len())
        || !matches!(
            name[0].to_ascii_lowercase(),
            b'c' | b'k' | b'p' | b't' | b'u' | b's' | b'd'
        )
    {
        return false;
    }
    const HOP: [&[u8]; 10] = [
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"server",
        b"date",
    ];
    HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// Python's `int(text)` for a Content-Length (sign, digits with single
/// `_` between them, and the whitespace `int()` skips, which here can only
/// be `\x85` and `\xa0`: the value was checked and trimmed of SP/HTAB).
/// Negative reads as 0, too large as `u64::MAX` (Python has no overflow;
/// no body is that long anyway).
fn parse_python_int(text: &[u8]) -> Option<u64> {
    // The usual case, plain digits that fit: no text conversion needed.
    if !text.is_empty() && text.len() <= 18 && text.iter().all(u8::is_ascii_digit) {
        return Some(text.iter().fold(0, |n, &d| n * 10 + u64::from(d - b'0')));
    }
    let text = match std::str::from_utf8(text) {
        Ok(ascii) if text.is_ascii() => std::borrow::Cow::Borrowed(ascii),
        _ => std::borrow::Cow::Owned(latin1(text)),
    };
    match pytext::int_sign_magnitude(&text).ok()? {
        (true, _) => Some(0),
        (false, magnitude) => Some(magnitude.unwrap_or(u64::MAX)),
    }
}

fn push_decimal(out: &mut Vec<u8>, n: u8) {
    if n >= 100 {
        out.push(b'0' + n / 100);
    }
    if n >= 10 {
        out.push(b'0' + n / 10 % 10);
    }
    out.push(b'0' + n % 10);
}

/// Append the chunk-size line of a `len`-byte chunk (`"1F\r\n"`, upper-case
/// hex as gunicorn writes it); the data and its trailing CRLF follow. Never
/// for `len` 0, which would end the body: use [`LAST_CHUNK`].
pub fn chunk_header(len: usize, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut digits = [0u8; (usize::BITS / 4) as usize];
    let mut i = digits.len();
    let mut n = len;
    loop {
        i -= 1;
        digits[i] = HEX[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

/// CRLF after the data of a chunk.
pub const CHUNK_END: &[u8] = b"\r\n";
/// The last chunk and an empty trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";
/// Interim response to `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

#[cfg(test)]
mod tests;
