//! The access log: gunicorn's `access_log_format` (`%(h)s %(l)s ...`) with
//! every atom, compiled once and rendered per request.
//!
//! The format is Python `%`-dict formatting over gunicorn's atoms
//! (`glogging.Logger.atoms`, looked up through `SafeAtoms`): unknown atoms
//! render `-`, `"` in string values becomes `\"`, `{name}i`/`{name}o`/`{name}e`
//! keys are case-insensitive. Where Python would raise (a positional `%s`, a
//! bad conversion character), gunicorn logs a traceback instead of the line;
//! here the offending text is printed as-is and a warning is logged once at
//! open. Numeric conversions on string atoms print the string.

use std::io::Write;
use std::time::Duration;

use super::sink::{Sink, Std};
use super::time::{self, LocalTime};
use crate::http::parser::RequestHead;
use crate::http::response::ResponseHead;

/// gunicorn's default `access_log_format`.
pub const DEFAULT_FORMAT: &str = r#"%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s""#;

/// Widths and precisions above this are clamped, so a format cannot make
/// each request render megabytes.
const MAX_WIDTH: usize = 4096;

/// A line buffer that grew past this is released after the write.
const LINE_BUFFER_KEEP: usize = 64 * 1024;

/// What one finished request contributes to its access-log line.
pub struct AccessEntry<'a> {
    pub request: &'a RequestHead,
    pub response: &'a ResponseHead,
    /// `REMOTE_ADDR`: the peer IP, or the unix socket's peer name.
    pub remote_addr: &'a str,
    /// Percent-decoded path (`PATH_INFO`), for `%(U)s`.
    pub path_info: &'a str,
    /// Body bytes written to the client.
    pub body_bytes: u64,
    /// Time from the first byte of the request to the end of the response.
    pub request_time: Duration,
    /// Look up an environ key for `%({key}e)s`. Called with the key as
    /// written in the format, then upper-cased, then lower-cased, until one
    /// is found (gunicorn matches environ keys case-insensitively).
    pub environ: &'a dyn Fn(&str) -> Option<String>,
}

/// An open access log with its compiled format.
pub struct AccessLog {
    format: Format,
    sink: Sink,
    line: Vec<u8>,
    /// `%(t)s` as rendered for the second `time_secs`.
    time_secs: i64,
    time_text: Vec<u8>,
}

impl AccessLog {
    /// `path` is `-` for stdout or a file opened for append.
    pub fn open(path: &str, format: &str) -> Result<Self, super::Error> {
        let sink = Sink::open(path, Std::Stdout)?;
        let format = Format::compile(format);
        for problem in &format.problems {
            tracing::warn!("access_log_format: {problem}; printed as-is");
        }
        Ok(AccessLog {
            format,
            sink,
            line: Vec::new(),
            time_secs: i64::MIN,
            time_text: Vec::new(),
        })
    }

    /// Render and write one line.
    pub fn log(&mut self, entry: &AccessEntry<'_>) {
        self.log_source(entry);
    }

    /// Reopen the file (USR1).
    pub fn reopen(&mut self) -> std::io::Result<()> {
        self.sink.reopen()
    }

    fn log_source<S: Source + ?Sized>(&mut self, src: &S) {
        if self.format.uses_time {
            let now = time::now_secs();
            if now != self.time_secs {
                self.time_text.clear();
                LocalTime::at(now).write_clf_stamp(&mut self.time_text);
                self.time_secs = now;
            }
        }
        let ctx = Context {
            pid: super::pid(),
            clf_time: &self.time_text,
        };
        self.line.clear();
        self.format.render(src, &ctx, &mut self.line);
        self.line.push(b'\n');
        self.sink.write(&self.line);
        if self.line.capacity() > LINE_BUFFER_KEEP {
            self.line = Vec::new();
        }
    }
}

/// The request and response values the atoms read. Implemented by
/// [`AccessEntry`] on top of the HTTP types, and by plain structs in tests.
trait Source {
    fn remote_addr(&self) -> &str;
    fn method(&self) -> &str;
    /// `RAW_URI`.
    fn raw_uri(&self) -> &[u8];
    fn path_info(&self) -> &str;
    fn query(&self) -> &[u8];
    fn version(&self) -> (u8, u8);
    fn status(&self) -> u16;
    fn body_bytes(&self) -> u64;
    fn request_time(&self) -> Duration;
    /// Call `f` with each request header, in order.
    fn request_headers<'s>(&'s self, f: &mut dyn FnMut(&'s [u8], &'s [u8]));
    /// Call `f` with each response header, in order.
    fn response_headers<'s>(&'s self, f: &mut dyn FnMut(&'s [u8], &'s [u8]));
    fn environ(&self, key: &str) -> Option<String>;
}

impl Source for AccessEntry<'_> {
    fn remote_addr(&self) -> &str {
        self.remote_addr
    }
    fn method(&self) -> &str {
        self.request.method()
    }
    fn raw_uri(&self) -> &[u8] {
        self.request.uri()
    }
    fn path_info(&self) -> &str {
        self.path_info
    }
    fn query(&self) -> &[u8] {
        self.request.query()
    }
    fn version(&self) -> (u8, u8) {
        self.request.version()
    }
    fn status(&self) -> u16 {
        self.response.status_code()
    }
    fn body_bytes(&self) -> u64 {
        self.body_bytes
    }
    fn request_time(&self) -> Duration {
        self.request_time
    }
    fn request_headers<'s>(&'s self, f: &mut dyn FnMut(&'s [u8], &'s [u8])) {
        for h in self.request.headers() {
            f(h.name, h.value);
        }
    }
    fn response_headers<'s>(&'s self, f: &mut dyn FnMut(&'s [u8], &'s [u8])) {
        for (name, value) in self.response.headers() {
            f(name, value);
        }
    }
    fn environ(&self, key: &str) -> Option<String> {
        environ_lookup(self.environ, key)
    }
}

/// Try `key` as written, upper-cased (CGI keys), then lower-cased (`wsgi.*`).
fn environ_lookup(get: &dyn Fn(&str) -> Option<String>, key: &str) -> Option<String> {
    get(key)
        .or_else(|| {
            let upper = key.to_ascii_uppercase();
            if upper == key { None } else { get(&upper) }
        })
        .or_else(|| {
            let lower = key.to_ascii_lowercase();
            if lower == key { None } else { get(&lower) }
        })
}

/// Per-line values that do not come from the request.
struct Context<'a> {
    pid: u32,
    /// `[22/Nov/2026:13:19:27 +0000]`; only filled when the format uses `t`.
    clf_time: &'a [u8],
}

/// One of gunicorn's atoms.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Atom {
    /// `h`
    RemoteAddr,
    /// `l`: always `-`.
    Ident,
    /// `u`
    User,
    /// `t`
    Time,
    /// `r`
    RequestLine,
    /// `m`
    Method,
    /// `U`
    PathInfo,
    /// `q`
    Query,
    /// `H`
    Protocol,
    /// `s`
    Status,
    /// `B`: an integer.
    BodyBytes,
    /// `b`: the same number as a string.
    BodyBytesText,
    /// `f`
    Referer,
    /// `a`
    UserAgent,
    /// `T`
    Seconds,
    /// `M`
    Millis,
    /// `D`
    Micros,
    /// `L`
    SecondsDecimal,
    /// `p`
    Pid,
    /// `{name}i`, name lower-cased.
    RequestHeader(Vec<u8>),
    /// `{name}o`, name lower-cased.
    ResponseHeader(Vec<u8>),
    /// `{key}e`, key as written.
    Environ(String),
    /// Anything else: `-`.
    Missing,
}

impl Atom {
    fn from_key(key: &str) -> Atom {
        // SafeAtoms: brace keys are matched lower-cased, the others exactly.
        if let Some(inner) = key.strip_prefix('{') {
            if let Some(name) = inner.strip_suffix("}i") {
                return Atom::RequestHeader(name.to_ascii_lowercase().into_bytes());
            }
            if let Some(name) = inner.strip_suffix("}o") {
                return Atom::ResponseHeader(name.to_ascii_lowercase().into_bytes());
            }
            if let Some(name) = inner.strip_suffix("}e") {
                return Atom::Environ(name.to_owned());
            }
            // Upper-case suffixes (`{x}I`) match too, once lower-cased.
            let lower = key.to_ascii_lowercase();
            return if lower != key {
                Atom::from_key(&lower)
            } else {
                Atom::Missing
            };
        }
        match key {
            "h" => Atom::RemoteAddr,
            "l" => Atom::Ident,
            "u" => Atom::User,
            "t" => Atom::Time,
            "r" => Atom::RequestLine,
            "m" => Atom::Method,
            "U" => Atom::PathInfo,
            "q" => Atom::Query,
            "H" => Atom::Protocol,
            "s" => Atom::Status,
            "B" => Atom::BodyBytes,
            "b" => Atom::BodyBytesText,
            "f" => Atom::Referer,
            "a" => Atom::UserAgent,
            "T" => Atom::Seconds,
            "M" => Atom::Millis,
            "D" => Atom::Micros,
            "L" => Atom::SecondsDecimal,
            "p" => Atom::Pid,
            _ => Atom::Missing,
        }
    }
}

/// A `%(key)...` conversion's flags, width, precision and type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Spec {
    left: bool,
    zero: bool,
    plus: bool,
    space: bool,
    alt: bool,
    width: usize,
    precision: Option<usize>,
    conv: u8,
}

impl Spec {
    const PLAIN: Spec = Spec {
        left: false,
        zero: false,
        plus: false,
        space: false,
        alt: false,
        width: 0,
        precision: None,
        conv: b's',
    };
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// A range of `Format::text`.
    Literal(usize, usize),
    Atom(Atom, Spec),
}

/// A compiled `access_log_format`.
#[derive(Debug)]
struct Format {
    /// Literal text with `%%` already folded to `%`.
    text: Vec<u8>,
    pieces: Vec<Piece>,
    uses_time: bool,
    /// Parts Python's `%` operator would reject.
    problems: Vec<String>,
}

impl Format {
    fn compile(fmt: &str) -> Format {
        let b = fmt.as_bytes();
        let mut f = Format {
            text: Vec::new(),
            pieces: Vec::new(),
            uses_time: false,
            problems: Vec::new(),
        };
        let mut lit_start = 0;
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'%' {
                f.text.push(b[i]);
                i += 1;
                continue;
            }
            match b.get(i + 1) {
                Some(b'%') => {
                    f.text.push(b'%');
                    i += 2;
                }
                Some(b'(') => match parse_conversion(fmt, i) {
                    Ok((atom, spec, next)) => {
                        if lit_start < f.text.len() {
                            f.pieces.push(Piece::Literal(lit_start, f.text.len()));
                        }
                        f.uses_time |= atom == Atom::Time;
                        f.pieces.push(Piece::Atom(atom, spec));
                        lit_start = f.text.len();
                        i = next;
                    }
                    Err(problem) => {
                        f.problems.push(format!("{problem} at index {i}"));
                        f.text.push(b'%');
                        i += 1;
                    }
                },
                _ => {
                    f.problems.push(format!("'%' without a (key) at index {i}"));
                    f.text.push(b'%');
                    i += 1;
                }
            }
        }
        if lit_start < f.text.len() {
            f.pieces.push(Piece::Literal(lit_start, f.text.len()));
        }
        f
    }

    fn render<S: Source + ?Sized>(&self, src: &S, ctx: &Context<'_>, out: &mut Vec<u8>) {
        for piece in &self.pieces {
            match piece {
                Piece::Literal(a, b) => out.extend_from_slice(&self.text[*a..*b]),
                Piece::Atom(atom, spec) => {
                    let start = out.len();
                    match write_atom(atom, src, ctx, out) {
                        Value::Text => {
                            if *spec != Spec::PLAIN {
                                apply_text_spec(out, start, spec);
                            }
                        }
                        Value::Int(n) => write_int(out, n, spec),
                    }
                }
            }
        }
    }
}

/// Parse `%(key)[flags][width][.precision][length]type` starting at the `%`
/// at `at`; returns the atom, its spec and the index after it.
fn parse_conversion(fmt: &str, at: usize) -> Result<(Atom, Spec, usize), &'static str> {
    let b = fmt.as_bytes();
    // Python allows balanced parentheses inside the key.
    let key_start = at + 2;
    let mut depth = 1;
    let mut j = key_start;
    while j < b.len() {
        match b[j] {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
        j += 1;
    }
    if j >= b.len() {
        return Err("incomplete format key");
    }
    let key = &fmt[key_start..j];
    j += 1;
    let mut spec = Spec::PLAIN;
    while let Some(&c) = b.get(j) {
        match c {
            b'-' => spec.left = true,
            b'0' => spec.zero = true,
            b'+' => spec.plus = true,
            b' ' => spec.space = true,
            b'#' => spec.alt = true,
            _ => break,
        }
        j += 1;
    }
    let (width, next) = parse_number(b, j);
    spec.width = width;
    j = next;
    if b.get(j) == Some(&b'.') {
        let (precision, next) = parse_number(b, j + 1);
        spec.precision = Some(precision);
        j = next;
    }
    if matches!(b.get(j), Some(b'h' | b'l' | b'L')) {
        j += 1;
    }
    match b.get(j) {
        Some(&c) if b"diouxXeEfFgGcrsa".contains(&c) => {
            spec.conv = c;
            Ok((Atom::from_key(key), spec, j + 1))
        }
        Some(b'*') => Err("'*' width needs positional arguments"),
        Some(_) => Err("unsupported format character"),
        None => Err("incomplete format"),
    }
}

fn parse_number(b: &[u8], mut j: usize) -> (usize, usize) {
    let mut n: usize = 0;
    while let Some(d) = b.get(j).filter(|c| c.is_ascii_digit()) {
        n = (n * 10 + usize::from(d - b'0')).min(MAX_WIDTH);
        j += 1;
    }
    (n, j)
}

/// What `write_atom` produced.
enum Value {
    /// Text already appended (escaped).
    Text,
    /// A number, not yet written: its conversion decides the digits.
    Int(u64),
}

fn write_atom<S: Source + ?Sized>(
    atom: &Atom,
    src: &S,
    ctx: &Context<'_>,
    out: &mut Vec<u8>,
) -> Value {
    let t = src.request_time();
    match atom {
        Atom::RemoteAddr => push_str(out, src.remote_addr()),
        Atom::Ident | Atom::Missing => out.push(b'-'),
        Atom::User => write_user(src, out),
        Atom::Time => out.extend_from_slice(ctx.clf_time),
        Atom::RequestLine => {
            push_str(out, src.method());
            out.push(b' ');
            push_latin1(out, src.raw_uri());
            out.push(b' ');
            write_protocol(out, src.version());
        }
        Atom::Method => push_str(out, src.method()),
        Atom::PathInfo => push_str(out, src.path_info()),
        Atom::Query => push_latin1(out, src.query()),
        Atom::Protocol => write_protocol(out, src.version()),
        Atom::Status => {
            let _ = write!(out, "{}", src.status());
        }
        Atom::BodyBytes => return Value::Int(src.body_bytes()),
        Atom::BodyBytesText => {
            let _ = write!(out, "{}", src.body_bytes());
        }
        Atom::Referer => write_joined_header(src, b"referer", out),
        Atom::UserAgent => write_joined_header(src, b"user-agent", out),
        Atom::Seconds => return Value::Int(t.as_secs()),
        Atom::Millis => {
            return Value::Int(t.as_secs() * 1000 + u64::from(t.subsec_millis()));
        }
        Atom::Micros => return Value::Int(t.as_secs() * 1_000_000 + u64::from(t.subsec_micros())),
        Atom::SecondsDecimal => {
            let _ = write!(out, "{}.{:06}", t.as_secs(), t.subsec_micros());
        }
        Atom::Pid => {
            let _ = write!(out, "<{}>", ctx.pid);
        }
        Atom::RequestHeader(name) => {
            let mut last = None;
            src.request_headers(&mut |n, v| {
                if n.eq_ignore_ascii_case(name) {
                    last = Some(v);
                }
            });
            push_latin1_or_dash(out, last);
        }
        Atom::ResponseHeader(name) => {
            let mut last = None;
            src.response_headers(&mut |n, v| {
                if n.eq_ignore_ascii_case(name) {
                    last = Some(v);
                }
            });
            push_latin1_or_dash(out, last);
        }
        Atom::Environ(key) => match src.environ(key) {
            Some(v) => push_str(out, &v),
            None => out.push(b'-'),
        },
    }
    Value::Text
}

fn write_protocol(out: &mut Vec<u8>, (major, minor): (u8, u8)) {
    let _ = write!(out, "HTTP/{major}.{minor}");
}

/// `HTTP_*` environ values join repeated headers with `,`; `f` and `a` read those.
fn write_joined_header<S: Source + ?Sized>(src: &S, name: &[u8], out: &mut Vec<u8>) {
    let mut found = false;
    src.request_headers(&mut |n, v| {
        if n.eq_ignore_ascii_case(name) {
            if found {
                out.push(b',');
            }
            push_latin1(out, v);
            found = true;
        }
    });
    if !found {
        out.push(b'-');
    }
}

/// `u`: the user name of `Authorization: Basic`, else `-`.
fn write_user<S: Source + ?Sized>(src: &S, out: &mut Vec<u8>) {
    let mut auth: Vec<u8> = Vec::new();
    let mut found = false;
    src.request_headers(&mut |n, v| {
        if n.eq_ignore_ascii_case(b"authorization") {
            if found {
                auth.push(b',');
            }
            auth.extend_from_slice(v);
            found = true;
        }
    });
    match basic_auth_user(&auth) {
        Some(user) => push_str(out, &user),
        None => out.push(b'-'),
    }
}

/// The part before the first `:` of the decoded credentials, when the value
/// starts with `basic` (any case), decodes, and is non-empty UTF-8.
fn basic_auth_user(value: &[u8]) -> Option<String> {
    if !value.get(..5)?.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let space = value.iter().position(|&c| c == b' ')?;
    let decoded = base64_decode_lenient(&value[space + 1..])?;
    let user = decoded.split(|&c| c == b':').next().unwrap_or_default();
    let user = std::str::from_utf8(user).ok()?;
    (!user.is_empty()).then(|| user.to_owned())
}

/// Base64 decoding with the leniency of Python's `base64.b64decode` (not
/// `validate`): characters outside the alphabet are skipped, decoding stops
/// at complete padding, and `None` is the `binascii.Error` cases (a lone
/// trailing character, missing padding).
fn base64_decode_lenient(input: &[u8]) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u8> {
        match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let (mut quad_pos, mut pads, mut left) = (0u8, 0u8, 0u8);
    for &c in input {
        if c == b'=' {
            if quad_pos >= 2 {
                pads += 1;
                if quad_pos + pads >= 4 {
                    return Some(out);
                }
            }
            continue;
        }
        let Some(v) = sextet(c) else { continue };
        pads = 0;
        match quad_pos {
            0 => {
                left = v;
                quad_pos = 1;
            }
            1 => {
                out.push(left << 2 | v >> 4);
                left = v & 0x0f;
                quad_pos = 2;
            }
            2 => {
                out.push(left << 4 | v >> 2);
                left = v & 0x03;
                quad_pos = 3;
            }
            _ => {
                out.push(left << 6 | v);
                quad_pos = 0;
            }
        }
    }
    (quad_pos == 0).then_some(out)
}

/// Append `s` with `"` escaped as `\"` (gunicorn `SafeAtoms`).
fn push_str(out: &mut Vec<u8>, s: &str) {
    push_latin1_bytes(out, s.as_bytes(), false);
}

/// Append header or URI bytes, decoded as latin-1 (as gunicorn does) and
/// written as UTF-8, with `"` escaped.
fn push_latin1(out: &mut Vec<u8>, bytes: &[u8]) {
    push_latin1_bytes(out, bytes, true);
}

fn push_latin1_or_dash(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(v) => push_latin1(out, v),
        None => out.push(b'-'),
    }
}

fn push_latin1_bytes(out: &mut Vec<u8>, bytes: &[u8], latin1: bool) {
    if bytes.iter().all(|&c| c != b'"' && (c < 0x80 || !latin1)) {
        out.extend_from_slice(bytes);
        return;
    }
    for &c in bytes {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            0x80.. if latin1 => out.extend_from_slice(&[0xC0 | (c >> 6), 0x80 | (c & 0x3F)]),
            _ => out.push(c),
        }
    }
}

/// Characters (not bytes) in UTF-8 text.
fn char_count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&c| (c & 0xC0) != 0x80).count()
}

/// Apply a string conversion to the text at `out[start..]`: `r`/`a` quote
/// it as Python's `repr`, precision truncates, width pads.
fn apply_text_spec(out: &mut Vec<u8>, start: usize, spec: &Spec) {
    if matches!(spec.conv, b'r' | b'a') {
        let text = out.split_off(start);
        let quote = if text.contains(&b'\'') && !text.contains(&b'"') {
            b'"'
        } else {
            b'\''
        };
        out.push(quote);
        for c in text {
            if c == b'\\' || c == quote {
                out.push(b'\\');
            }
            out.push(c);
        }
        out.push(quote);
    }
    if let Some(p) = spec.precision {
        // Cut after `p` characters.
        let mut chars = 0;
        let cut = out[start..]
            .iter()
            .position(|&c| {
                let starts_char = (c & 0xC0) != 0x80;
                if starts_char {
                    chars += 1;
                }
                starts_char && chars > p
            })
            .map_or(out.len(), |pos| start + pos);
        out.truncate(cut);
    }
    pad(out, start, spec.width, spec.left);
}

/// Pad `out[start..]` with spaces to `width` characters.
fn pad(out: &mut Vec<u8>, start: usize, width: usize, left: bool) {
    let len = char_count(&out[start..]);
    if len >= width {
        return;
    }
    let fill = width - len;
    if left {
        out.resize(out.len() + fill, b' ');
    } else {
        out.splice(start..start, std::iter::repeat_n(b' ', fill));
    }
}

/// Write an integer atom under its conversion, as Python's `%` does.
fn write_int(out: &mut Vec<u8>, n: u64, spec: &Spec) {
    let start = out.len();
    let (digits, prefix): (String, &str) = match spec.conv {
        b'x' => (format!("{n:x}"), if spec.alt { "0x" } else { "" }),
        b'X' => (format!("{n:X}"), if spec.alt { "0X" } else { "" }),
        b'o' => (format!("{n:o}"), if spec.alt { "0o" } else { "" }),
        b's' | b'r' | b'a' => {
            // str(int) / repr(int): plain digits, then string rules.
            let _ = write!(out, "{n}");
            let text_spec = Spec {
                conv: b's',
                ..*spec
            };
            apply_text_spec(out, start, &text_spec);
            return;
        }
        _ => (n.to_string(), ""),
    };
    let sign = if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    let min_digits = spec.precision.unwrap_or(0);
    let zeros = min_digits.saturating_sub(digits.len());
    let body = sign.len() + prefix.len() + zeros + digits.len();
    let fill = spec.width.saturating_sub(body);
    if !spec.left && !spec.zero {
        out.resize(out.len() + fill, b' ');
    }
    out.extend_from_slice(sign.as_bytes());
    out.extend_from_slice(prefix.as_bytes());
    let zero_fill = if !spec.left && spec.zero { fill } else { 0 };
    out.resize(out.len() + zeros + zero_fill, b'0');
    out.extend_from_slice(digits.as_bytes());
    if spec.left {
        out.resize(out.len() + fill, b' ');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values of one request, without the HTTP types.
    struct Req {
        remote: &'static str,
        method: &'static str,
        uri: &'static [u8],
        path_info: &'static str,
        query: &'static [u8],
        version: (u8, u8),
        status: u16,
        body: u64,
        time: Duration,
        headers: Vec<(&'static [u8], &'static [u8])>,
        response: Vec<(&'static [u8], &'static [u8])>,
        environ: Vec<(&'static str, &'static str)>,
    }

    impl Default for Req {
        fn default() -> Self {
            Req {
                remote: "127.0.0.1",
                method: "GET",
                uri: b"/",
                path_info: "/",
                query: b"",
                version: (1, 1),
                status: 200,
                body: 0,
                time: Duration::ZERO,
                headers: Vec::new(),
                response: Vec::new(),
                environ: Vec::new(),
            }
        }
    }

    impl Source for Req {
        fn remote_addr(&self) -> &str {
            self.remote
        }
        fn method(&self) -> &str {
            self.method
        }
        fn raw_uri(&self) -> &[u8] {
            self.uri
        }
        fn path_info(&self) -> &str {
            self.path_info
        }
        fn query(&self) -> &[u8] {
            self.query
        }
        fn version(&self) -> (u8, u8) {
            self.version
        }
        fn status(&self) -> u16 {
            self.status
        }
        fn body_bytes(&self) -> u64 {
            self.body
        }
        fn request_time(&self) -> Duration {
            self.time
        }
        fn request_headers<'s>(&'s self, f: &mut dyn FnMut(&'s [u8], &'s [u8])) {
            for (n, v) in &self.headers {
                f(n, v);
            }
        }
        fn response_headers<'s>(&'s self, f: &mut dyn FnMut(&'s [u8], &'s [u8])) {
            for (n, v) in &self.response {
                f(n, v);
            }
        }
        fn environ(&self, key: &str) -> Option<String> {
            let get = |k: &str| {
                self.environ
                    .iter()
                    .find(|(ek, _)| *ek == k)
                    .map(|(_, v)| v.to_string())
            };
            environ_lookup(&get, key)
        }
    }

    fn render_with(fmt: &str, req: &Req, pid: u32) -> String {
        let format = Format::compile(fmt);
        let ctx = Context {
            pid,
            clf_time: b"[22/Nov/2026:13:23:55 +0000]",
        };
        let mut out = Vec::new();
        format.render(req, &ctx, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn render(fmt: &str, req: &Req) -> String {
        render_with(fmt, req, 5444)
    }

    /// The request of the reference run against gunicorn 27.0.1 (curl with
    /// `-u alice:pw -A 'my "agent"' -e http://ref/`).
    fn curl_request() -> Req {
        Req {
            uri: b"/p%20x?a=1&b=%22",
            path_info: "/p x",
            query: b"a=1&b=%22",
            body: 6,
            time: Duration::from_micros(697),
            headers: vec![
                (b"Host", b"127.0.0.1:41353"),
                (b"Authorization", b"Basic YWxpY2U6cHc="),
                (b"User-Agent", b"my \"agent\""),
                (b"Accept", b"*/*"),
                (b"Referer", b"http://ref/"),
            ],
            response: vec![(b"Content-Type", b"text/plain"), (b"X-Q", b"a\"b")],
            environ: vec![("REMOTE_ADDR", "127.0.0.1")],
            ..Req::default()
        }
    }

    #[test]
    fn default_format_matches_gunicorn() {
        assert_eq!(
            render(DEFAULT_FORMAT, &curl_request()),
            r#"127.0.0.1 - alice [22/Nov/2026:13:23:55 +0000] "GET /p%20x?a=1&b=%22 HTTP/1.1" 200 6 "http://ref/" "my \"agent\"""#
        );
        let empty = Req {
            uri: b"/empty",
            path_info: "/empty",
            headers: vec![(b"User-Agent", b"curl/7.88.1")],
            ..Req::default()
        };
        assert_eq!(
            render(DEFAULT_FORMAT, &empty),
            r#"127.0.0.1 - - [22/Nov/2026:13:23:55 +0000] "GET /empty HTTP/1.1" 200 0 "-" "curl/7.88.1""#
        );
    }

    #[test]
    fn every_atom_matches_gunicorn() {
        // Format and output taken from the same reference run.
        let fmt = r#"%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s %(B)s "%(f)s" "%(a)s" %(m)s %(U)s %(q)s %(H)s %(T)s %(M)s %(D)s %(L)s %(p)s %({x-q}o)s %({USER-agent}i)s %({remote_addr}e)s %(zz)s %({nope}i)s %% %(s)5s|%(h)-12s|%(T)03d"#;
        assert_eq!(
            render(fmt, &curl_request()),
            r#"127.0.0.1 - alice [22/Nov/2026:13:23:55 +0000] "GET /p%20x?a=1&b=%22 HTTP/1.1" 200 6 6 "http://ref/" "my \"agent\"" GET /p x a=1&b=%22 HTTP/1.1 0 0 697 0.000697 <5444> a\"b my \"agent\" 127.0.0.1 - - %   200|127.0.0.1   |000"#
        );
    }

    #[test]
    fn request_times() {
        let req = Req {
            time: Duration::new(3, 42_500_999),
            ..Req::default()
        };
        assert_eq!(
            render("%(T)s %(M)s %(D)s %(L)s", &req),
            "3 3042 3042500 3.042500"
        );
    }

    #[test]
    fn headers_case_repeats_and_latin1() {
        let req = Req {
            version: (1, 0),
            headers: vec![
                (b"X-Dup", b"one"),
                (b"x-dup", b"two"),
                (b"Referer", b"a"),
                (b"REFERER", b"b"),
                (b"X-Latin", b"caf\xe9"),
                (b"X-Empty", b""),
            ],
            response: vec![(b"Set-Cookie", b"a=1"), (b"set-cookie", b"b=2")],
            ..Req::default()
        };
        // Last value wins for {..}i/{..}o, as gunicorn's dict update; HTTP_*
        // based atoms see repeated headers joined with ','.
        assert_eq!(
            render(
                "%({x-dup}i)s %({X-DUP}I)s %({set-cookie}o)s %(f)s %(H)s",
                &req
            ),
            "two two b=2 a,b HTTP/1.0"
        );
        assert_eq!(
            render("%({x-latin}i)s|%({x-empty}i)s|%({x}x)s", &req),
            "café||-"
        );
    }

    #[test]
    fn environ_keys_any_case() {
        let req = Req {
            environ: vec![("wsgi.url_scheme", "http"), ("HTTP_X", "q\"q")],
            ..Req::default()
        };
        assert_eq!(
            render(
                "%({wsgi.url_scheme}e)s %({http_x}e)s %({WSGI.URL_SCHEME}e)s %({nope}e)s",
                &req
            ),
            "http q\\\"q http -"
        );
    }

    #[test]
    fn basic_auth_user_like_python() {
        let user = |v: &[u8]| basic_auth_user(v);
        assert_eq!(user(b"Basic YWxpY2U6cHc="), Some("alice".into()));
        assert_eq!(user(b"basic YWxpY2U6cHc="), Some("alice".into()));
        assert_eq!(user(b"BASIC  YWxp!Y2U6cHc= "), Some("alice".into()));
        assert_eq!(user(b"Basic YWxpY2U="), Some("alice".into())); // no ':' at all
        assert_eq!(user(b"Basic YQ==junk"), Some("a".into())); // stops at padding
        assert_eq!(user(b"Basic YWxpY2U6cHc"), None); // missing padding
        assert_eq!(user(b"Basic Y"), None); // one char over a multiple of 4
        assert_eq!(user(b"Basic !!!"), None); // decodes to nothing
        assert_eq!(user(b"Basic Ono="), None); // ":z": empty user
        assert_eq!(user(b"Basic /w=="), None); // 0xff: not UTF-8
        assert_eq!(user(b"BasicYWxpY2U6cHc="), None); // no space
        assert_eq!(user(b"Bearer YWxpY2U6cHc="), None);
        assert_eq!(user(b"Bas"), None);

        let req = Req {
            headers: vec![(b"Authorization", b"Basic ImJvYiI6eA==")],
            ..Req::default()
        };
        assert_eq!(render("%(u)s", &req), "\\\"bob\\\"");
    }

    #[test]
    fn python_conversions() {
        let req = Req {
            body: 42,
            remote: "xyz",
            ..Req::default()
        };
        // Expected values printed by CPython's `%` operator.
        for (fmt, want) in [
            ("%(B)05.3d", "00042"),
            ("%(B)-05d", "42   "),
            ("%(B)+05d", "+0042"),
            ("%(B)#06x", "0x002a"),
            ("%(B)#o", "0o52"),
            ("%(B)X", "2A"),
            ("%(B)05s", "   42"),
            ("%(B)+s", "42"),
            ("%(B).1s", "4"),
            ("%(h)7.2s", "     xy"),
            ("%(h)-7r", "'xyz'  "),
            ("%(B) 05d", " 0042"),
            ("%(B)i|%(B)u|%(B)ld|%(B)r", "42|42|42|42"),
            ("%(h)-5s|%(h)05s|%(h).2s", "xyz  |  xyz|xy"),
        ] {
            assert_eq!(render(fmt, &req), want, "{fmt}");
        }
        let quoted = Req {
            remote: "it's",
            ..Req::default()
        };
        assert_eq!(render("%(h)r", &quoted), "\"it's\"");
    }

    #[test]
    fn literals_and_bad_specs() {
        let req = Req::default();
        for (fmt, want) in [
            ("100%% %(s)s", "100% 200"),
            ("", ""),
            ("plain", "plain"),
            ("%(s)s%%%(m)s", "200%GET"),
            ("%(a(b)c)s", "-"),
        ] {
            let f = Format::compile(fmt);
            assert!(f.problems.is_empty(), "{fmt}: {:?}", f.problems);
            assert_eq!(render(fmt, &req), want, "{fmt}");
        }
        for (fmt, want) in [
            ("%s %(s)s", "%s 200"),
            ("%(s", "%(s"),
            ("%(s)", "%(s)"),
            ("%(s)z", "%(s)z"),
            ("%(s)*s", "%(s)*s"),
            ("end %", "end %"),
        ] {
            assert!(!Format::compile(fmt).problems.is_empty(), "{fmt}");
            assert_eq!(render(fmt, &req), want, "{fmt}");
        }
    }

    #[test]
    fn width_is_bounded() {
        let out = render("%(s)999999999s", &Req::default());
        assert_eq!(out.len(), MAX_WIDTH);
    }

    #[test]
    fn writes_lines_to_file_and_reopens() {
        let dir = std::env::temp_dir().join(format!("gunicorn-rs-access-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("access.log");
        let mut log = AccessLog::open(path.to_str().unwrap(), "%(t)s %(m)s %(p)s").unwrap();
        log.log_source(&Req::default());
        std::fs::rename(&path, dir.join("access.log.1")).unwrap();
        log.reopen().unwrap();
        log.log_source(&Req {
            method: "POST",
            ..Req::default()
        });

        let first = std::fs::read_to_string(dir.join("access.log.1")).unwrap();
        let second = std::fs::read_to_string(&path).unwrap();
        let pid = format!("<{}>", std::process::id());
        for (text, method) in [(first, "GET"), (second, "POST")] {
            assert!(
                text.starts_with('[') && text.ends_with(&format!("] {method} {pid}\n")),
                "{text}"
            );
            assert_eq!(text.lines().count(), 1);
            // [22/Nov/2026:13:23:55 +0000]
            assert_eq!(text.find(']'), Some(27), "{text}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
