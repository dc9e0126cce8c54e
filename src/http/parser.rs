//! Request-head parser: request line and header section, with gunicorn 27's
//! rules and limits.
//!
//! Same outcome as gunicorn 27.0.1's Python parser (`http/message.py`) for
//! every input, whatever the split of the bytes across reads: where gunicorn
//! itself depends on the split (bare LF or an overlong head arriving in one
//! read or byte by byte), we answer what it answers when the bytes trickle
//! in, i.e. the first problem a streaming reader can see. A head that is
//! still incomplete is refused as soon as it is longer than any acceptable
//! head could be, so a client cannot make us buffer without bound.
//!
//! Hand-written rather than built on `httparse`: httparse accepts bare LF,
//! any number of leading empty lines and only HTTP/1.0 and 1.1, refuses
//! folding and `Name :` outright, and reports no position; every request
//! would need a second pass to apply gunicorn's rules and every refusal a
//! second parse to name gunicorn's error. One table-driven pass is simpler:
//! about 0.5 us for a 400-byte browser request in a release build, copy
//! and checks included (httparse alone, which copies and checks nothing,
//! takes about half that).

use super::ParseError;
use super::error::latin1;
use super::fields::{self, Field, FieldRules, find_lf, is_token, trim_ows};
pub use super::rules::{
    DEFAULT_MAX_HEADERFIELD_SIZE, HeaderMap, Limits, MAX_HEADERS, MAX_REQUEST_LINE,
    UNLIMITED_REQUEST_LINE,
};
use super::uri::{self, TargetParts};
use std::ops::Range;

/// Everything that changes how a head is parsed. `Default` is gunicorn's
/// defaults, with an untrusted peer.
#[derive(Debug, Clone)]
pub struct ParserConfig {
    pub limits: Limits,
    /// Accept continuation lines, joining them with one space.
    pub permit_obsolete_folding: bool,
    /// Accept `Name : value` (spaces before the colon). Known to enable
    /// request smuggling; off by default.
    pub strip_header_spaces: bool,
    pub header_map: HeaderMap,
    /// Lift the method rules beyond "is a token" (length 3-20, no `a-z`, no `#`).
    pub permit_unconventional_http_method: bool,
    /// Accept any `HTTP/d.d`, not only 1.0 <= v < 2.0.
    pub permit_unconventional_http_version: bool,
    /// Upper-case the method (after validation).
    pub casefold_http_method: bool,
    /// Underscore header names a trusted peer may send (upper case, as
    /// gunicorn compares them; `*` allows all).
    pub forwarder_headers: Vec<String>,
    /// Headers, with their values, by which a trusted proxy says the
    /// request came over https (gunicorn's `secure_scheme_headers`). Names
    /// upper case: a received name is upper-cased and compared with them
    /// as written. Values compared exactly. See [`RequestHead::scheme`].
    pub secure_scheme_headers: Vec<(String, String)>,
    /// The peer is in `forwarded_allow_ips` (or is a UNIX-socket peer):
    /// its `forwarder_headers` and `secure_scheme_headers` count.
    pub peer_trusted: bool,
}

/// gunicorn's default `secure_scheme_headers`.
pub const DEFAULT_SECURE_SCHEME_HEADERS: [(&str, &str); 3] = [
    ("X-FORWARDED-PROTOCOL", "ssl"),
    ("X-FORWARDED-PROTO", "https"),
    ("X-FORWARDED-SSL", "on"),
];

impl Default for ParserConfig {
    fn default() -> Self {
        ParserConfig {
            limits: Limits::default(),
            permit_obsolete_folding: false,
            strip_header_spaces: false,
            header_map: HeaderMap::Drop,
            permit_unconventional_http_method: false,
            permit_unconventional_http_version: false,
            casefold_http_method: false,
            forwarder_headers: vec!["SCRIPT_NAME".to_owned(), "PATH_INFO".to_owned()],
            secure_scheme_headers: DEFAULT_SECURE_SCHEME_HEADERS
                .iter()
                .map(|&(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
            peer_trusted: false,
        }
    }
}

impl ParserConfig {
    fn field_rules(&self, version: (u8, u8)) -> FieldRules<'_> {
        FieldRules {
            limits: self.limits,
            permit_obsolete_folding: self.permit_obsolete_folding,
            strip_header_spaces: self.strip_header_spaces,
            header_map: self.header_map,
            forwarders: if self.peer_trusted {
                &self.forwarder_headers
            } else {
                &[]
            },
            secure_scheme_headers: if self.peer_trusted {
                &self.secure_scheme_headers
            } else {
                &[]
            },
            trailer: false,
            version,
        }
    }
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The head from the request line to its final CRLF (a leading empty
    /// line excluded). Folded values and a case-folded method are rewritten
    /// in place; the target is untouched.
    buf: Vec<u8>,
    method: Range<usize>,
    uri: Range<usize>,
    path: Range<usize>,
    query: Range<usize>,
    fragment: Range<usize>,
    version: (u8, u8),
    fields: Vec<Field>,
    body: BodyKind,
    expect_continue: bool,
    keep_alive: bool,
    /// A trusted peer's secure-scheme header said https.
    https: bool,
    /// Rebuilt from a uwsgi packet (see [`RequestHead::relayed_by_uwsgi`]).
    uwsgi: bool,
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
    /// The method token, as received (upper-cased with `casefold_http_method`).
    pub fn method(&self) -> &str {
        // A token is ASCII, so this never falls back.
        std::str::from_utf8(&self.buf[self.method.clone()]).unwrap_or("")
    }
    /// The request-target exactly as received (`RAW_URI`).
    pub fn uri(&self) -> &[u8] {
        &self.buf[self.uri.clone()]
    }
    /// The path part of the target, still percent-encoded. For an
    /// absolute-form target only its path.
    pub fn path(&self) -> &[u8] {
        &self.buf[self.path.clone()]
    }
    /// The query part without `?`; empty when absent.
    pub fn query(&self) -> &[u8] {
        &self.buf[self.query.clone()]
    }
    /// The fragment without `#`; empty when absent.
    pub fn fragment(&self) -> &[u8] {
        &self.buf[self.fragment.clone()]
    }
    /// `(major, minor)`.
    pub fn version(&self) -> (u8, u8) {
        self.version
    }
    /// Kept header fields in wire order.
    pub fn headers(&self) -> impl Iterator<Item = Header<'_>> {
        self.fields.iter().map(|f| Header {
            name: &self.buf[f.name.clone()],
            value: &self.buf[f.value.clone()],
        })
    }
    /// Value of the first kept field named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }
    /// How the body is framed.
    pub fn body_kind(&self) -> BodyKind {
        self.body
    }
    /// `Expect: 100-continue` on HTTP/1.1: answer `100 Continue` before reading the body.
    pub fn expects_continue(&self) -> bool {
        self.expect_continue
    }
    /// Whether the client allows the connection to stay open after this
    /// request (version default, `Connection` header, CONNECT...).
    pub fn wants_keep_alive(&self) -> bool {
        self.keep_alive
    }
    /// `wsgi.url_scheme`: `"https"` when the first of the trusted peer's
    /// `secure_scheme_headers` had its configured value, else `"http"`
    /// (the connection itself is never TLS here). Trailers never change it.
    pub fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }
    /// Mark a head rebuilt from a uwsgi packet: its scheme is the one the
    /// packet gave, and the connection closes after the response, since
    /// the front end reads the response up to the close and passes its
    /// body on as bytes (so it is never chunked).
    pub fn relayed_by_uwsgi(&mut self, https: bool) {
        self.https = https;
        self.keep_alive = false;
        self.uwsgi = true;
    }
    /// The response may be chunked: an HTTP/1.1 client, not a uwsgi front
    /// end.
    pub fn accepts_chunked(&self) -> bool {
        self.version > (1, 0) && !self.uwsgi
    }
}

/// Outcome of feeding bytes to [`parse_head`].
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole head; `consumed` bytes of the buffer belong to it.
    Complete { head: RequestHead, consumed: usize },
    /// The head is not complete yet and no limit is exceeded: read more.
    Partial,
}

/// Parse a request head from the start of `buf`.
///
/// Stateless: each call scans `buf` from its start. A connection that calls
/// this after every read of a slowly arriving head does quadratic work;
/// [`HeadParser`] remembers how far it got.
pub fn parse_head(buf: &[u8], cfg: &ParserConfig) -> Result<Parsed, ParseError> {
    HeadParser::default().parse(buf, cfg)
}

/// Incremental form of [`parse_head`]: remembers how much of the buffer it
/// has already searched, so each call costs only the new bytes.
///
/// Between calls the buffer may only grow at its end. After a `Complete` or
/// an error the parser starts afresh, so the next head can begin at `buf[0]`
/// once the caller drops the consumed bytes.
#[derive(Debug, Clone, Default)]
pub struct HeadParser {
    /// The request line (length, CRLF excluded, and where its parts are),
    /// once found and valid: judged once, however many reads the header
    /// section takes.
    line: Option<(usize, RequestLine)>,
    /// How far the current phase (request line, then header section) has
    /// searched without finding its end.
    scanned: usize,
    /// Line feeds met in the header section so far: sizes the field list.
    lfs: usize,
    /// Length of the buffer last seen: a shorter one means the caller
    /// started over, and so do we (rather than index past its end).
    seen: usize,
}

impl HeadParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Same contract as [`parse_head`].
    pub fn parse(&mut self, buf: &[u8], cfg: &ParserConfig) -> Result<Parsed, ParseError> {
        let result = self.parse_inner(buf, cfg);
        if !matches!(result, Ok(Parsed::Partial)) {
            *self = Self::default();
        }
        result
    }

    fn parse_inner(&mut self, buf: &[u8], cfg: &ParserConfig) -> Result<Parsed, ParseError> {
        if buf.len() < self.seen {
            *self = Self::default();
        }
        self.seen = buf.len();
        // RFC 9112 2.2: one empty line before the request line is ignored.
        let skip = match buf {
            [] | [b'\r'] => return Ok(Parsed::Partial),
            [b'\r', b'\n', ..] => 2,
            _ => 0,
        };
        let data = &buf[skip..];
        let line_len = match &self.line {
            Some((n, _)) => *n,
            None => {
                let Some(n) = find_request_line(data, self.scanned, cfg.limits.request_line_max())?
                else {
                    self.scanned = data.len();
                    return Ok(Parsed::Partial);
                };
                // gunicorn judges the request line before it reads the headers.
                self.line = Some((n, parse_request_line(&data[..n], cfg)?));
                self.scanned = 0;
                n
            }
        };
        let section = &data[line_len + 2..];
        let Some(section_len) = find_section_end(
            section,
            self.scanned,
            &mut self.lfs,
            cfg.limits.header_buffer_max(),
        )?
        else {
            self.scanned = section.len();
            return Ok(Parsed::Partial);
        };
        let head_len = line_len + 2 + section_len;
        // The final empty line holds two of the line feeds. The client
        // chooses that count: never reserve room for more fields than the
        // limit lets through.
        let fields = self.lfs.saturating_sub(1).min(cfg.limits.fields_max());
        // Always stored above; parsing again is only the fallback.
        let line = match self.line.take() {
            Some((_, line)) => line,
            None => parse_request_line(&data[..line_len], cfg)?,
        };
        let head = build_head(data[..head_len].to_vec(), line_len, line, fields, cfg)?;
        Ok(Parsed::Complete {
            head,
            consumed: skip + head_len,
        })
    }
}

/// Find the CRLF ending the request line, searching from `from`. Returns the
/// line length once it is there.
fn find_request_line(data: &[u8], from: usize, limit: usize) -> Result<Option<usize>, ParseError> {
    let too_long = |size| ParseError::LimitRequestLine { size, max: limit };
    match find_lf(&data[from..]).map(|i| from + i) {
        Some(lf) if lf > 0 && data[lf - 1] == b'\r' => {
            let len = lf - 1;
            if len > limit {
                Err(too_long(len))
            } else {
                Ok(Some(len))
            }
        }
        // A bare LF: gunicorn looks for it before it measures the line, but
        // a streaming reader has already hit the limit when the LF comes
        // after limit + 2 bytes.
        Some(lf) if lf < limit + 3 => Err(ParseError::InvalidRequestLine(
            "bare LF as line terminator".into(),
        )),
        Some(_) => Err(too_long(data.len())),
        None if data.len() > limit + 2 => Err(too_long(data.len())),
        None => Ok(None),
    }
}

/// Find the end of the header section (after its final CRLF CRLF, or 2 when
/// it is a lone CRLF), searching from `from` and counting line feeds in `lfs`.
fn find_section_end(
    section: &[u8],
    from: usize,
    lfs: &mut usize,
    max: usize,
) -> Result<Option<usize>, ParseError> {
    let too_large = || ParseError::LimitRequestHeaders("max buffer headers");
    if section.starts_with(b"\r\n") {
        return Ok(Some(2));
    }
    let mut pos = from;
    while let Some(i) = find_lf(&section[pos..]) {
        let lf = pos + i;
        *lfs += 1;
        if lf == 0 || section[lf - 1] != b'\r' {
            // Reported as soon as seen, unless the section outgrew the
            // buffer limit before this LF arrived.
            return Err(if lf < max {
                ParseError::InvalidHeader("bare LF as line terminator".into())
            } else {
                too_large()
            });
        }
        if lf >= 3 && section[lf - 2] == b'\n' && section[lf - 3] == b'\r' {
            let end = lf + 1;
            return if end > max {
                Err(too_large())
            } else {
                Ok(Some(end))
            };
        }
        pos = lf + 1;
    }
    if section.len() > max {
        Err(too_large())
    } else {
        Ok(None)
    }
}

/// Where the parts of a valid request line are.
#[derive(Debug, Clone)]
struct RequestLine {
    method: Range<usize>,
    uri: Range<usize>,
    target: TargetParts,
    version: (u8, u8),
}

/// gunicorn's `parse_request_line`, in its order: split, method, target, version.
fn parse_request_line(line: &[u8], cfg: &ParserConfig) -> Result<RequestLine, ParseError> {
    let bad_line = || ParseError::InvalidRequestLine(latin1(line));
    // Split at the first two single spaces; more spaces stay in the parts.
    let sp1 = line.iter().position(|&b| b == b' ').ok_or_else(bad_line)?;
    let sp2 = line[sp1 + 1..]
        .iter()
        .position(|&b| b == b' ')
        .map(|i| sp1 + 1 + i)
        .ok_or_else(bad_line)?;
    let method = &line[..sp1];
    check_method(method, cfg)?;
    let is_method = |name: &[u8]| {
        if cfg.casefold_http_method {
            method.eq_ignore_ascii_case(name)
        } else {
            method == name
        }
    };

    let uri = &line[sp1 + 1..sp2];
    // RFC 9112 3.2: printable ASCII only; anything else must be percent-encoded.
    if uri.is_empty() || uri.iter().any(|&b| !(0x21..=0x7e).contains(&b)) {
        return Err(bad_line());
    }
    // RFC 9112 3.2.4 and 3.2.3: asterisk-form only with OPTIONS, and
    // authority-form (neither origin- nor absolute-form) only with CONNECT.
    let asterisk = uri == b"*";
    if asterisk && !is_method(b"OPTIONS") {
        return Err(bad_line());
    }
    let origin_or_absolute = uri.starts_with(b"/") || uri.windows(3).any(|w| w == b"://");
    if !is_method(b"CONNECT") && !asterisk && !origin_or_absolute {
        return Err(bad_line());
    }
    let target = uri::split_target(uri).ok_or_else(bad_line)?;

    let version = parse_version(&line[sp2 + 1..], cfg)?;
    Ok(RequestLine {
        method: 0..sp1,
        uri: sp1 + 1..sp2,
        target,
        version,
    })
}

fn check_method(method: &[u8], cfg: &ParserConfig) -> Result<(), ParseError> {
    let bad = || ParseError::InvalidRequestMethod(latin1(method));
    // Stricter than RFC 9110 but true of every registered method.
    if !cfg.permit_unconventional_http_method
        && (method.iter().any(|&b| b.is_ascii_lowercase() || b == b'#')
            || !(3..=20).contains(&method.len()))
    {
        return Err(bad());
    }
    if !is_token(method) {
        return Err(bad());
    }
    Ok(())
}

fn parse_version(text: &[u8], cfg: &ParserConfig) -> Result<(u8, u8), ParseError> {
    let version = match text {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            (major - b'0', minor - b'0')
        }
        _ => return Err(ParseError::InvalidHTTPVersion(latin1(text))),
    };
    if !((1, 0)..(2, 0)).contains(&version) && !cfg.permit_unconventional_http_version {
        return Err(ParseError::UnsupportedHTTPVersion(version.0, version.1));
    }
    Ok(version)
}

/// Build the head from its own copy of the bytes: request line, fields,
/// then gunicorn's `set_body_reader` and `should_close`.
fn build_head(
    mut buf: Vec<u8>,
    line_len: usize,
    line: RequestLine,
    field_lines: usize,
    cfg: &ParserConfig,
) -> Result<RequestHead, ParseError> {
    if cfg.casefold_http_method {
        buf[line.method.clone()].make_ascii_uppercase();
    }
    // Field lines sit between the request line's CRLF and the final CRLF CRLF.
    let start = line_len + 2;
    let end = buf.len().saturating_sub(4).max(start);
    let region = start..end;
    let mut fields = Vec::with_capacity(field_lines);
    let found = fields::parse_fields(
        &mut buf,
        region,
        &cfg.field_rules(line.version),
        &mut fields,
    )?;
    let (body, must_close) = body_framing(&buf, &fields, line.version)?;
    let connect = &buf[line.method.clone()] == b"CONNECT";
    let keep_alive = !must_close && !connect && connection_keep_alive(&buf, &fields, line.version);
    let uri_start = line.uri.start;
    let shift = |r: Range<usize>| uri_start + r.start..uri_start + r.end;
    Ok(RequestHead {
        method: line.method,
        uri: line.uri,
        path: shift(line.target.path),
        query: shift(line.target.query),
        fragment: shift(line.target.fragment),
        version: line.version,
        fields,
        body,
        expect_continue: found.expect_continue,
        keep_alive,
        https: found.https == Some(true),
        uwsgi: false,
        buf,
    })
}

/// gunicorn's `set_body_reader`: the body framing, or why the headers
/// cannot frame a request. Also tells whether a compressing transfer coding
/// forces the connection closed.
fn body_framing(
    buf: &[u8],
    fields: &[Field],
    version: (u8, u8),
) -> Result<(BodyKind, bool), ParseError> {
    let bad_te = || ParseError::InvalidHeader("TRANSFER-ENCODING".into());
    let bad_cl = || ParseError::InvalidHeader("CONTENT-LENGTH".into());
    let mut content_length = None;
    let mut transfer_encoding = false;
    let mut chunked = false;
    let mut must_close = false;
    for field in fields {
        let name = &buf[field.name.clone()];
        let value = &buf[field.value.clone()];
        if name.eq_ignore_ascii_case(b"content-length") {
            if content_length.is_some() {
                return Err(bad_cl());
            }
            content_length = Some(value);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            transfer_encoding = true;
            for coding in value.split(|&b| b == b',').map(trim_ows) {
                if coding.eq_ignore_ascii_case(b"chunked") {
                    // Stacked chunking is never meant and desyncs proxies.
                    if chunked {
                        return Err(bad_te());
                    }
                    chunked = true;
                } else if coding.eq_ignore_ascii_case(b"identity") {
                    if chunked {
                        return Err(bad_te());
                    }
                } else if [&b"compress"[..], b"deflate", b"gzip"]
                    .iter()
                    .any(|c| coding.eq_ignore_ascii_case(c))
                {
                    if chunked {
                        return Err(bad_te());
                    }
                    must_close = true;
                } else {
                    return Err(ParseError::UnsupportedTransferCoding(latin1(value)));
                }
            }
        }
    }
    // RFC 9112 6.3: a request whose codings do not end in chunked has no
    // determinable length.
    if transfer_encoding && !chunked {
        return Err(bad_te());
    }
    if chunked {
        // Chunked on HTTP/1.0, or with a Content-Length, is framed ambiguously.
        if version < (1, 1) {
            return Err(bad_te());
        }
        if content_length.is_some() {
            return Err(bad_cl());
        }
        return Ok((BodyKind::Chunked, must_close));
    }
    let Some(text) = content_length else {
        return Ok((BodyKind::Empty, must_close));
    };
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return Err(bad_cl());
    }
    let length = text
        .iter()
        .try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .ok_or_else(bad_cl)?;
    Ok((
        if length == 0 {
            BodyKind::Empty
        } else {
            BodyKind::Length(length)
        },
        must_close,
    ))
}

/// gunicorn's `should_close`, negated, for what the headers say: only the
/// first `Connection` field counts, and only `close` or `keep-alive` exactly.
fn connection_keep_alive(buf: &[u8], fields: &[Field], version: (u8, u8)) -> bool {
    let connection = fields
        .iter()
        .find(|f| buf[f.name.clone()].eq_ignore_ascii_case(b"connection"));
    if let Some(field) = connection {
        let value = trim_ows(&buf[field.value.clone()]);
        if value.eq_ignore_ascii_case(b"close") {
            return false;
        }
        if value.eq_ignore_ascii_case(b"keep-alive") {
            return true;
        }
    }
    version > (1, 0)
}

#[cfg(test)]
mod tests;
