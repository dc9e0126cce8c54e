//! Parse errors, named after gunicorn's `http/errors.py`, and the error page
//! each one is answered with.
//!
//! Texts follow gunicorn 27.0.1 exactly: `Display` is `str(exc)` (the warning
//! log line), [`ParseError::page_message`] is what `Worker.handle_error` puts
//! in the page. Offending values are kept as received, decoded latin-1 (one
//! char per byte, as gunicorn does), and shown with Python's `repr` rules.

use super::pytext::{PyBytes, PyStr};
use std::fmt::{self, Write as _};

/// Why a request cannot be served. Each kind maps to a status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The peer closed the connection mid-request: no response is written.
    NoMoreData,
    /// Malformed request line, request-target or bare LF in it (the whole
    /// line, or gunicorn's short reason).
    InvalidRequestLine(String),
    /// The method is not a token, or breaks gunicorn's stricter defaults.
    InvalidRequestMethod(String),
    /// The version is not `HTTP/<digit>.<digit>`.
    InvalidHTTPVersion(String),
    /// A well-formed version outside 1.0 <= v < 2.0. gunicorn raises the same
    /// `InvalidHTTPVersion` but shows the parsed tuple: `(2, 0)`.
    UnsupportedHTTPVersion(u8, u8),
    /// A header line or value is invalid, a singleton field repeats, or the
    /// framing headers contradict each other.
    InvalidHeader(String),
    /// A header name is not a token, or is not allowed here.
    InvalidHeaderName(String),
    /// A continuation line while `permit_obsolete_folding` is off.
    ObsoleteFolding(String),
    /// Request line longer than `limit_request_line` (414).
    LimitRequestLine { size: usize, max: usize },
    /// Too many fields, a field too large, or a header section too large (431).
    LimitRequestHeaders(&'static str),
    /// A transfer coding gunicorn does not know (501, reason "Bad Request").
    UnsupportedTransferCoding(String),
    /// An `Expect` other than `100-continue` (417).
    ExpectationFailed(String),
    /// A chunk-size line that is not hex digits, or too long.
    InvalidChunkSize(Vec<u8>),
    /// Chunk data not followed by CRLF, or the body ended before the
    /// trailer section did.
    ChunkMissingTerminator(Vec<u8>),
    /// A chunk extension outside RFC 9112's grammar.
    InvalidChunkExtension(&'static str),
    /// Trusted scheme headers disagree (raised by the scheme-header policy).
    InvalidSchemeHeaders,
    /// Server-side misconfiguration found while serving a request, e.g.
    /// `SCRIPT_NAME` not a prefix of the path (500, reason "Bad Request").
    ConfigurationProblem(String),
    /// A malformed PROXY protocol v1 line.
    InvalidProxyLine(String),
    /// A malformed PROXY protocol v2 header. gunicorn 27 answers 500 here
    /// (its worker's error handler does not list the class); we answer the
    /// 400 the class itself declares: the fault is the sender's.
    InvalidProxyHeader(String),
    /// A PROXY header from a peer not in `proxy_allow_ips` (403).
    ForbiddenProxyRequest(String),
    /// A malformed uwsgi packet (`--protocol uwsgi`). gunicorn 27 answers
    /// the three uwsgi errors 500 (its worker's error handler does not list
    /// them); we answer the status each class declares.
    InvalidUwsgiHeader(String),
    /// A uwsgi packet whose modifier1 is not 0, a WSGI request (501). Also
    /// what a client speaking HTTP to a uwsgi port gets, at its first byte.
    UnsupportedUwsgiModifier(u8),
    /// A uwsgi packet from a peer not in `uwsgi_allow_ips` (403).
    ForbiddenUwsgiRequest(String),
}

impl ParseError {
    /// Status code written back. `NoMoreData` is never answered (see
    /// [`responds`](Self::responds)); it reports 400 only nominally.
    pub fn status(&self) -> u16 {
        match self {
            ParseError::LimitRequestLine { .. } => 414,
            ParseError::LimitRequestHeaders(_) => 431,
            ParseError::ExpectationFailed(_) => 417,
            ParseError::UnsupportedTransferCoding(_) => 501,
            ParseError::ConfigurationProblem(_) => 500,
            ParseError::ForbiddenProxyRequest(_) | ParseError::ForbiddenUwsgiRequest(_) => 403,
            ParseError::UnsupportedUwsgiModifier(_) => 501,
            _ => 400,
        }
    }

    /// Reason phrase of the status line, as gunicorn writes it. gunicorn
    /// changes the code but not the reason for 501 and 500, hence
    /// "501 Bad Request".
    pub fn reason(&self) -> &'static str {
        match self {
            ParseError::LimitRequestLine { .. } => "URI Too Long",
            ParseError::LimitRequestHeaders(_) => "Request Header Fields Too Large",
            ParseError::ExpectationFailed(_) => "Expectation Failed",
            ParseError::ForbiddenProxyRequest(_) | ParseError::ForbiddenUwsgiRequest(_) => {
                "Forbidden"
            }
            ParseError::UnsupportedUwsgiModifier(_) => "Not Implemented",
            _ => "Bad Request",
        }
    }

    /// Whether an error page is written at all: gunicorn closes silently
    /// when the peer went away mid-request.
    pub fn responds(&self) -> bool {
        !matches!(self, ParseError::NoMoreData)
    }

    /// The gunicorn exception class this error stands for.
    pub fn class_name(&self) -> &'static str {
        match self {
            ParseError::NoMoreData => "NoMoreData",
            ParseError::InvalidRequestLine(_) => "InvalidRequestLine",
            ParseError::InvalidRequestMethod(_) => "InvalidRequestMethod",
            ParseError::InvalidHTTPVersion(_) | ParseError::UnsupportedHTTPVersion(..) => {
                "InvalidHTTPVersion"
            }
            ParseError::InvalidHeader(_) => "InvalidHeader",
            ParseError::InvalidHeaderName(_) => "InvalidHeaderName",
            ParseError::ObsoleteFolding(_) => "ObsoleteFolding",
            ParseError::LimitRequestLine { .. } => "LimitRequestLine",
            ParseError::LimitRequestHeaders(_) => "LimitRequestHeaders",
            ParseError::UnsupportedTransferCoding(_) => "UnsupportedTransferCoding",
            ParseError::ExpectationFailed(_) => "ExpectationFailed",
            ParseError::InvalidChunkSize(_) => "InvalidChunkSize",
            ParseError::ChunkMissingTerminator(_) => "ChunkMissingTerminator",
            ParseError::InvalidChunkExtension(_) => "InvalidChunkExtension",
            ParseError::InvalidSchemeHeaders => "InvalidSchemeHeaders",
            ParseError::ConfigurationProblem(_) => "ConfigurationProblem",
            ParseError::InvalidProxyLine(_) => "InvalidProxyLine",
            ParseError::InvalidProxyHeader(_) => "InvalidProxyHeader",
            ParseError::ForbiddenProxyRequest(_) => "ForbiddenProxyRequest",
            ParseError::InvalidUwsgiHeader(_) => "InvalidUWSGIHeader",
            ParseError::UnsupportedUwsgiModifier(_) => "UnsupportedModifier",
            ParseError::ForbiddenUwsgiRequest(_) => "ForbiddenUWSGIRequest",
        }
    }

    /// The text of the error page, as `Worker.handle_error` words it (some
    /// kinds wrap `str(exc)` in a prefix and quotes).
    pub fn page_message(&self) -> String {
        match self {
            ParseError::InvalidRequestLine(_) => format!("Invalid Request Line '{self}'"),
            ParseError::InvalidRequestMethod(_) => format!("Invalid Method '{self}'"),
            ParseError::InvalidHTTPVersion(_) | ParseError::UnsupportedHTTPVersion(..) => {
                format!("Invalid HTTP Version '{self}'")
            }
            ParseError::LimitRequestHeaders(_) => format!("Error parsing headers: '{self}'"),
            ParseError::InvalidProxyLine(_) => format!("'{self}'"),
            ParseError::ForbiddenProxyRequest(_) | ParseError::ForbiddenUwsgiRequest(_) => {
                "Request forbidden".to_owned()
            }
            _ => self.to_string(),
        }
    }

    /// Append the whole error response for this error to `out`.
    pub fn write_page(&self, out: &mut Vec<u8>) {
        write_error_page(out, self.status(), self.reason(), &self.page_message());
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::NoMoreData => f.write_str("No more data after: None"),
            ParseError::InvalidRequestLine(s) => {
                write!(f, "Invalid HTTP request line: {}", PyStr(s))
            }
            ParseError::InvalidRequestMethod(s) => write!(f, "Invalid HTTP method: {}", PyStr(s)),
            ParseError::InvalidHTTPVersion(s) => write!(f, "Invalid HTTP Version: {}", PyStr(s)),
            ParseError::UnsupportedHTTPVersion(major, minor) => {
                write!(f, "Invalid HTTP Version: ({major}, {minor})")
            }
            ParseError::InvalidHeader(s) => write!(f, "Invalid HTTP Header: {}", PyStr(s)),
            ParseError::InvalidHeaderName(s) => write!(f, "Invalid HTTP header name: {}", PyStr(s)),
            ParseError::ObsoleteFolding(s) => {
                write!(f, "Obsolete line folding is unacceptable: {}", PyStr(s))
            }
            ParseError::LimitRequestLine { size, max } => {
                write!(f, "Request Line is too large ({size} > {max})")
            }
            ParseError::LimitRequestHeaders(msg) => f.write_str(msg),
            ParseError::UnsupportedTransferCoding(s) => {
                write!(f, "Unsupported transfer coding: {}", PyStr(s))
            }
            ParseError::ExpectationFailed(s) => {
                write!(f, "Unable to comply with expectation: {}", PyStr(s))
            }
            ParseError::InvalidChunkSize(b) => write!(f, "Invalid chunk size: {}", PyBytes(b)),
            ParseError::ChunkMissingTerminator(b) => {
                write!(
                    f,
                    "Invalid chunk terminator is not '\\r\\n': {}",
                    PyBytes(b)
                )
            }
            ParseError::InvalidChunkExtension(reason) => {
                write!(f, "Invalid chunk extension: {reason}")
            }
            ParseError::InvalidSchemeHeaders => f.write_str("Contradictory scheme headers"),
            ParseError::ConfigurationProblem(s) => write!(f, "Configuration problem: {s}"),
            ParseError::InvalidProxyLine(s) => write!(f, "Invalid PROXY line: {}", PyStr(s)),
            ParseError::InvalidProxyHeader(s) => write!(f, "Invalid PROXY header: {s}"),
            ParseError::ForbiddenProxyRequest(s) => {
                write!(f, "Proxy request from {} not allowed", PyStr(s))
            }
            ParseError::InvalidUwsgiHeader(s) => write!(f, "Invalid uWSGI header: {s}"),
            ParseError::UnsupportedUwsgiModifier(m) => {
                write!(f, "Unsupported uWSGI modifier1: {m}")
            }
            ParseError::ForbiddenUwsgiRequest(s) => {
                write!(f, "uWSGI request from {} not allowed", PyStr(s))
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// Decode bytes as latin-1, the way gunicorn turns wire bytes into `str`.
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Append gunicorn's error response (status line, `Connection: close`,
/// small HTML page with the escaped message) to `out`.
///
/// The page is latin-1 like gunicorn's; a char above U+00FF (which no
/// [`ParseError`] produces) is written as `?`.
pub fn write_error_page(out: &mut Vec<u8>, status: u16, reason: &str, message: &str) {
    let mut page = Vec::with_capacity(160 + 2 * reason.len() + message.len());
    page.extend_from_slice(b"<html>\n  <head>\n    <title>");
    push_latin1(&mut page, reason);
    page.extend_from_slice(b"</title>\n  </head>\n  <body>\n    <h1><p>");
    push_latin1(&mut page, reason);
    page.extend_from_slice(b"</p></h1>\n    ");
    push_html_escaped(&mut page, message);
    page.extend_from_slice(b"\n  </body>\n</html>\n");

    // Formatting into a Vec cannot fail.
    let _ = write!(
        VecWriter(out),
        "HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n",
        page.len()
    );
    out.extend_from_slice(&page);
}

/// Lets `write!` append ASCII text to a byte buffer.
struct VecWriter<'a>(&'a mut Vec<u8>);

impl fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn push_latin1(out: &mut Vec<u8>, s: &str) {
    out.extend(
        s.chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')),
    );
}

/// Python's `html.escape(s, quote=True)`.
fn push_html_escaped(out: &mut Vec<u8>, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.extend_from_slice(b"&amp;"),
            '<' => out.extend_from_slice(b"&lt;"),
            '>' => out.extend_from_slice(b"&gt;"),
            '"' => out.extend_from_slice(b"&quot;"),
            '\'' => out.extend_from_slice(b"&#x27;"),
            c => out.push(u8::try_from(u32::from(c)).unwrap_or(b'?')),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(e: &ParseError) -> Vec<u8> {
        let mut out = Vec::new();
        e.write_page(&mut out);
        out
    }

    // Bytes captured from gunicorn 27.0.1 (sync worker) for the same requests.
    #[test]
    fn page_matches_gunicorn_invalid_header() {
        let got = page(&ParseError::InvalidHeader("Bad Header".into()));
        let want: &[u8] = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Length: 164\r\n\r\n<html>\n  <head>\n    <title>Bad Request</title>\n  </head>\n  <body>\n    <h1><p>Bad Request</p></h1>\n    Invalid HTTP Header: &#x27;Bad Header&#x27;\n  </body>\n</html>\n";
        assert_eq!(got, want);
    }

    #[test]
    fn page_matches_gunicorn_unsupported_coding_quirk() {
        let got = page(&ParseError::UnsupportedTransferCoding("foo".into()));
        let want: &[u8] = b"HTTP/1.1 501 Bad Request\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Length: 165\r\n\r\n<html>\n  <head>\n    <title>Bad Request</title>\n  </head>\n  <body>\n    <h1><p>Bad Request</p></h1>\n    Unsupported transfer coding: &#x27;foo&#x27;\n  </body>\n</html>\n";
        assert_eq!(got, want);
    }

    #[test]
    fn page_matches_gunicorn_request_line_latin1() {
        let got = page(&ParseError::InvalidRequestLine(latin1(
            b"GET /\xe9 HTTP/1.1",
        )));
        let want: &[u8] = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Length: 208\r\n\r\n<html>\n  <head>\n    <title>Bad Request</title>\n  </head>\n  <body>\n    <h1><p>Bad Request</p></h1>\n    Invalid Request Line &#x27;Invalid HTTP request line: &#x27;GET /\xe9 HTTP/1.1&#x27;&#x27;\n  </body>\n</html>\n";
        assert_eq!(got, want);
    }

    #[test]
    fn page_matches_gunicorn_escaped_name() {
        let got = page(&ParseError::InvalidHeaderName("X'\"<&>".into()));
        let want: &[u8] = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Length: 186\r\n\r\n<html>\n  <head>\n    <title>Bad Request</title>\n  </head>\n  <body>\n    <h1><p>Bad Request</p></h1>\n    Invalid HTTP header name: &#x27;X\\&#x27;&quot;&lt;&amp;&gt;&#x27;\n  </body>\n</html>\n";
        assert_eq!(got, want);
    }

    #[test]
    fn pages_match_gunicorn_for_431_417_and_version() {
        let cases: [(ParseError, &[u8]); 3] = [
            (
                ParseError::LimitRequestHeaders("limit request headers fields"),
                b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Length: 224\r\n\r\n<html>\n  <head>\n    <title>Request Header Fields Too Large</title>\n  </head>\n  <body>\n    <h1><p>Request Header Fields Too Large</p></h1>\n    Error parsing headers: &#x27;limit request headers fields&#x27;\n  </body>\n</html>\n",
            ),
            (ParseError::ExpectationFailed("foo".into()), b"HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Length: 185\r\n\r\n<html>\n  <head>\n    <title>Expectation Failed</title>\n  </head>\n  <body>\n    <h1><p>Expectation Failed</p></h1>\n    Unable to comply with expectation: &#x27;foo&#x27;\n  </body>\n</html>\n"),
            (ParseError::UnsupportedHTTPVersion(2, 0), b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Length: 182\r\n\r\n<html>\n  <head>\n    <title>Bad Request</title>\n  </head>\n  <body>\n    <h1><p>Bad Request</p></h1>\n    Invalid HTTP Version &#x27;Invalid HTTP Version: (2, 0)&#x27;\n  </body>\n</html>\n"),
        ];
        for (e, want) in cases {
            assert_eq!(page(&e), want, "{e:?}");
        }
    }

    #[test]
    fn status_and_reason_per_kind() {
        let cases: [(ParseError, u16, &str); 6] = [
            (
                ParseError::LimitRequestLine {
                    size: 5014,
                    max: 4094,
                },
                414,
                "URI Too Long",
            ),
            (
                ParseError::LimitRequestHeaders("max buffer headers"),
                431,
                "Request Header Fields Too Large",
            ),
            (
                ParseError::ExpectationFailed("foo".into()),
                417,
                "Expectation Failed",
            ),
            (
                ParseError::UnsupportedTransferCoding("x".into()),
                501,
                "Bad Request",
            ),
            (
                ParseError::ConfigurationProblem("x".into()),
                500,
                "Bad Request",
            ),
            (
                ParseError::ForbiddenProxyRequest("1.2.3.4".into()),
                403,
                "Forbidden",
            ),
        ];
        for (e, status, reason) in cases {
            assert_eq!((e.status(), e.reason()), (status, reason), "{e:?}");
        }
        assert!(!ParseError::NoMoreData.responds());
        assert_eq!(ParseError::InvalidChunkSize(b"zz".to_vec()).status(), 400);
    }

    #[test]
    fn messages_match_gunicorn() {
        let cases: [(ParseError, &str); 9] = [
            (
                ParseError::LimitRequestLine {
                    size: 5014,
                    max: 4094,
                },
                "Request Line is too large (5014 > 4094)",
            ),
            (
                ParseError::UnsupportedHTTPVersion(2, 0),
                "Invalid HTTP Version: (2, 0)",
            ),
            (
                ParseError::ExpectationFailed("foo".into()),
                "Unable to comply with expectation: 'foo'",
            ),
            (
                ParseError::InvalidRequestMethod("get".into()),
                "Invalid HTTP method: 'get'",
            ),
            (
                ParseError::ObsoleteFolding("A".into()),
                "Obsolete line folding is unacceptable: 'A'",
            ),
            (
                ParseError::ChunkMissingTerminator(b"XX".to_vec()),
                "Invalid chunk terminator is not '\\r\\n': b'XX'",
            ),
            (
                ParseError::InvalidChunkSize(b"z\r\x00'".to_vec()),
                "Invalid chunk size: b\"z\\r\\x00'\"",
            ),
            (
                ParseError::InvalidChunkExtension("bare CR not allowed"),
                "Invalid chunk extension: bare CR not allowed",
            ),
            (
                ParseError::InvalidHeader(latin1(b"a\x7f\xa0\xad\xe9\t\\")),
                "Invalid HTTP Header: 'a\\x7f\\xa0\\xad\u{e9}\\t\\\\'",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
        }
        assert_eq!(
            ParseError::LimitRequestHeaders("max buffer headers").page_message(),
            "Error parsing headers: 'max buffer headers'"
        );
        assert_eq!(
            ParseError::UnsupportedHTTPVersion(2, 0).page_message(),
            "Invalid HTTP Version 'Invalid HTTP Version: (2, 0)'"
        );
    }
}
