//! Compiling `access_log_format` and rendering one line from it: gunicorn's
//! atoms (`glogging.Logger.atoms`) under Python's `%`-conversion rules, with
//! `SafeAtoms`' escaping and `-` for unknown keys.

use std::io::Write;

use super::{Context, Source};
use crate::http::pytext::{PyAscii, PyStr};

/// Widths and precisions above this are clamped, so a format cannot make
/// each request render megabytes.
const MAX_WIDTH: usize = 4096;

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
    /// `{key}e`, key lower-cased.
    Environ(String),
    /// Anything else: `-`.
    Missing,
}

impl Atom {
    fn from_key(key: &str) -> Atom {
        // SafeAtoms: brace keys are matched lower-cased (Python's
        // `str.lower()` of the whole key, suffix included), the others exactly.
        if key.starts_with('{') {
            let lower = key.to_lowercase();
            let inner = &lower[1..];
            return if let Some(name) = inner.strip_suffix("}i") {
                Atom::RequestHeader(name.as_bytes().to_vec())
            } else if let Some(name) = inner.strip_suffix("}o") {
                Atom::ResponseHeader(name.as_bytes().to_vec())
            } else if let Some(name) = inner.strip_suffix("}e") {
                Atom::Environ(name.to_owned())
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
pub(super) struct Format {
    /// Literal text with `%%` already folded to `%`.
    text: Vec<u8>,
    pieces: Vec<Piece>,
    pub(super) uses_time: bool,
    /// The key of each atom piece, in order (the JSON mode's names).
    keys: Vec<String>,
    /// Parts Python's `%` operator would reject.
    pub(super) problems: Vec<String>,
}

impl Format {
    pub(super) fn compile(fmt: &str) -> Format {
        let b = fmt.as_bytes();
        let mut f = Format {
            text: Vec::new(),
            pieces: Vec::new(),
            uses_time: false,
            keys: Vec::new(),
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
                    Ok((atom, spec, next, key)) => {
                        if lit_start < f.text.len() {
                            f.pieces.push(Piece::Literal(lit_start, f.text.len()));
                        }
                        f.uses_time |= atom == Atom::Time;
                        f.keys.push(key.to_owned());
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

    pub(super) fn render<S: Source + ?Sized>(&self, src: &S, ctx: &Context<'_>, out: &mut Vec<u8>) {
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

impl Format {
    /// One JSON object with a member per atom of the format, named by its
    /// key as written, in order (gunicorn-rs's `--access-log-json`). Text
    /// atoms are strings holding the value without `SafeAtoms`' `\"`
    /// escaping; `s` and the integer atoms (`B`, `T`, `M`, `D`) are numbers.
    /// Conversion flags and widths are ignored; literals are left out.
    pub(super) fn render_json<S: Source + ?Sized>(
        &self,
        src: &S,
        ctx: &Context<'_>,
        out: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) {
        out.push(b'{');
        let atoms = self.pieces.iter().filter_map(|p| match p {
            Piece::Atom(atom, _) => Some(atom),
            Piece::Literal(..) => None,
        });
        for (i, (atom, key)) in atoms.zip(&self.keys).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_string(out, key.as_bytes());
            out.push(b':');
            scratch.clear();
            match write_atom(atom, src, ctx, scratch) {
                Value::Int(n) => {
                    let _ = write!(out, "{n}");
                }
                Value::Text if *atom == Atom::Status => out.extend_from_slice(scratch),
                Value::Text => {
                    // Undo SafeAtoms: every `"` got one `\` put before it.
                    let mut k = 0;
                    while k < scratch.len() {
                        if scratch[k] == b'"' && k > 0 {
                            scratch.remove(k - 1);
                        } else {
                            k += 1;
                        }
                    }
                    json_string(out, scratch);
                }
            }
        }
        out.push(b'}');
    }
}

/// Append `text` (UTF-8; anything else is replaced) as a JSON string.
fn json_string(out: &mut Vec<u8>, text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    out.push(b'"');
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            // Control characters, and the two JavaScript line breaks.
            c if c < ' ' || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let mut b = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Parse `%(key)[flags][width][.precision][length]type` starting at the `%`
/// at `at`; returns the atom, its spec and the index after it.
fn parse_conversion(fmt: &str, at: usize) -> Result<(Atom, Spec, usize, &str), &'static str> {
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
            Ok((Atom::from_key(key), spec, j + 1, key))
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
/// it as Python's `repr`/`ascii`, precision truncates, width pads.
fn apply_text_spec(out: &mut Vec<u8>, start: usize, spec: &Spec) {
    if matches!(spec.conv, b'r' | b'a') {
        let text = out.split_off(start);
        let text = String::from_utf8_lossy(&text);
        let _ = if spec.conv == b'r' {
            write!(out, "{}", PyStr(&text))
        } else {
            write!(out, "{}", PyAscii(&text))
        };
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
        b'e' | b'E' | b'f' | b'F' | b'g' | b'G' => {
            // Python converts the int to a float first.
            let body = format_float(n as f64, spec);
            write_number(out, &body, "", 0, spec);
            return;
        }
        b'c' => {
            // chr(n), padded like a string. Python raises OverflowError
            // past U+10FFFF; the number is printed instead.
            match u32::try_from(n).ok().and_then(char::from_u32) {
                Some(c) => {
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                None => {
                    let _ = write!(out, "{n}");
                }
            }
            pad(out, start, spec.width, spec.left);
            return;
        }
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
    let min_digits = spec.precision.unwrap_or(0);
    let zeros = min_digits.saturating_sub(digits.len());
    write_number(out, &digits, prefix, zeros, spec);
}

/// Write `sign prefix zeros body`, padded to the width: with spaces on the
/// left, zeros after the prefix (`0` flag), or spaces on the right (`-`).
fn write_number(out: &mut Vec<u8>, body: &str, prefix: &str, zeros: usize, spec: &Spec) {
    let sign = if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    let len = sign.len() + prefix.len() + zeros + body.len();
    let fill = spec.width.saturating_sub(len);
    if !spec.left && !spec.zero {
        out.resize(out.len() + fill, b' ');
    }
    out.extend_from_slice(sign.as_bytes());
    out.extend_from_slice(prefix.as_bytes());
    let zero_fill = if !spec.left && spec.zero { fill } else { 0 };
    out.resize(out.len() + zeros + zero_fill, b'0');
    out.extend_from_slice(body.as_bytes());
    if spec.left {
        out.resize(out.len() + fill, b' ');
    }
}

/// `x` (never negative) under `%e`, `%f` or `%g` and their upper-case
/// forms, without sign or padding, as Python formats floats: precision 6
/// by default, exponents of at least two digits, `#` keeps the point (and
/// for `g`, the trailing zeros). Rust's formatting rounds exact ties to
/// even, as Python's does.
fn format_float(x: f64, spec: &Spec) -> String {
    let precision = spec.precision.unwrap_or(6);
    let mut text = match spec.conv.to_ascii_lowercase() {
        b'f' => fixed(x, precision, spec.alt),
        b'e' => exponent(x, precision, spec.alt),
        _ => {
            let significant = precision.max(1);
            let exp = decimal_exponent(x, significant);
            let mut text = if (-4..significant as i32).contains(&exp) {
                let decimals = (significant as i32 - 1 - exp) as usize;
                fixed(x, decimals, spec.alt)
            } else {
                exponent(x, significant - 1, spec.alt)
            };
            if !spec.alt {
                strip_fraction_zeros(&mut text);
            }
            text
        }
    };
    if spec.conv.is_ascii_uppercase() {
        text.make_ascii_uppercase();
    }
    text
}

/// `%.{decimals}f`; `#` keeps the point when there are no decimals.
fn fixed(x: f64, decimals: usize, alt: bool) -> String {
    let mut text = format!("{x:.decimals$}");
    if alt && decimals == 0 {
        text.push('.');
    }
    text
}

/// `%.{decimals}e`, with Python's `e+NN` exponent.
fn exponent(x: f64, decimals: usize, alt: bool) -> String {
    let rust = format!("{x:.decimals$e}");
    let (mantissa, exp) = rust.split_once('e').unwrap_or((&rust, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let point = if alt && decimals == 0 { "." } else { "" };
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}{point}e{sign}{:02}", exp.unsigned_abs())
}

/// The decimal exponent of `x` once rounded to `significant` digits.
fn decimal_exponent(x: f64, significant: usize) -> i32 {
    let rust = format!("{x:.*e}", significant - 1);
    rust.split_once('e')
        .and_then(|(_, exp)| exp.parse().ok())
        .unwrap_or(0)
}

/// `%g` without `#`: drop trailing zeros of the fraction, then a bare point.
fn strip_fraction_zeros(text: &mut String) {
    let mantissa_end = text.find('e').unwrap_or(text.len());
    let (mantissa, rest) = text.split_at(mantissa_end);
    if !mantissa.contains('.') {
        return;
    }
    let kept = mantissa.trim_end_matches('0').trim_end_matches('.');
    *text = format!("{kept}{rest}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::access::DEFAULT_FORMAT;
    use crate::log::access::tests::{Req, curl_request};
    use std::time::Duration;

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
            environ: vec![
                ("wsgi.url_scheme", "http"),
                ("HTTP_X", "q\"q"),
                ("MiXed.Key", "m"),
                ("dup", "1"),
                ("DUP", "2"),
            ],
            ..Req::default()
        };
        // gunicorn lower-cases both sides; the last of equal keys wins.
        assert_eq!(
            render(
                "%({wsgi.url_scheme}e)s %({http_x}e)s %({WSGI.URL_SCHEME}e)s %({nope}e)s \
                 %({mixed.KEY}e)s %({Dup}e)s %({DUP}E)s",
                &req
            ),
            "http q\\\"q http - m 2 2"
        );
    }

    #[test]
    fn environ_lookup_with_exact_keys_still_finds_cgi_keys() {
        let environ = [("REMOTE_ADDR", "10.0.0.1"), ("wsgi.url_scheme", "https")];
        let exact = |k: &str| {
            environ
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
        };
        let lookup = |k| crate::log::access::environ_lookup(&exact, k);
        assert_eq!(lookup("remote_addr").as_deref(), Some("10.0.0.1"));
        assert_eq!(lookup("wsgi.url_scheme").as_deref(), Some("https"));
        assert_eq!(lookup("nope"), None);
    }

    #[test]
    fn float_conversions_of_integer_atoms() {
        let req = |micros| Req {
            time: Duration::from_micros(micros),
            ..Req::default()
        };
        // Expected values printed by CPython's `%` operator.
        for (fmt, micros, want) in [
            ("%(D)f", 697, "697.000000"),
            ("%(D)F", 697, "697.000000"),
            ("%(D)e", 697, "6.970000e+02"),
            ("%(D)E", 697, "6.970000E+02"),
            ("%(D)g", 697, "697"),
            ("%(D)g", 1_234_567, "1.23457e+06"),
            ("%(D)G", 1_234_567, "1.23457E+06"),
            ("%(D)g", 9_999_995, "1e+07"),
            ("%(D)#g", 697, "697.000"),
            ("%(D)#g", 9_999_995, "1.00000e+07"),
            ("%(D)#g", 0, "0.00000"),
            ("%(D)g", 0, "0"),
            ("%(D).0f", 697, "697"),
            ("%(D)#.0f", 697, "697."),
            ("%(D).2e", 697, "6.97e+02"),
            ("%(D).1e", 125, "1.2e+02"),
            ("%(D).0e", 697, "7e+02"),
            ("%(D)#.0e", 697, "7.e+02"),
            ("%(D).3g", 1_234_567, "1.23e+06"),
            ("%(D).0g", 697, "7e+02"),
            ("%(D)#.3g", 697, "697."),
            ("%(D)010.2f", 697, "0000697.00"),
            ("%(D)+f", 0, "+0.000000"),
            ("%(D) f", 697, " 697.000000"),
            ("%(D)-14e|", 697, "6.970000e+02  |"),
            ("%(D)08.3e", 697, "6.970e+02"),
            ("%(D)+.3g", 9_999_995, "+1e+07"),
            ("%(D)12.4G", 1_234_567, "   1.235E+06"),
            ("%(D).17e", 1_234_567, "1.23456700000000000e+06"),
            ("%(D)c", 125, "}"),
            ("%(D)5c", 697, "    \u{2b9}"),
            ("%(D)-3c|", 65, "A  |"),
        ] {
            assert_eq!(render(fmt, &req(micros)), want, "{fmt} {micros}");
        }
        let big = Req {
            body: u64::MAX,
            ..Req::default()
        };
        assert_eq!(render("%(B).20g", &big), "18446744073709551616");
        assert_eq!(
            render("%(B).30f", &big),
            "18446744073709551616.000000000000000000000000000000"
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
        // repr() and ascii() escape as Python does (after SafeAtoms' \").
        let odd = Req {
            headers: vec![(b"X-A", b"caf\xe9\\\t\x85\"")],
            ..Req::default()
        };
        assert_eq!(
            render("%({x-a}i)r|%({x-a}i)a|%({x-a}i).6r", &odd),
            "'caf\u{e9}\\\\\\t\\x85\\\\\"'|'caf\\xe9\\\\\\t\\x85\\\\\"'|'caf\u{e9}\\"
        );
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
    fn json_lines_escape_every_atom() {
        let req = Req {
            headers: vec![(b"X-A", b"q\"uo\\te\tcaf\xe9")],
            environ: vec![("ctl", "a\u{1}b\nc\u{2028}")],
            ..curl_request()
        };
        let f = Format::compile(r#"%(r)s %(s)s %(B)d %({x-a}i)s %({ctl}e)s %(zz)s %(p)s"#);
        let ctx = Context {
            pid: 42,
            clf_time: b"",
        };
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        f.render_json(&req, &ctx, &mut out, &mut scratch);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"r":"GET /p%20x?a=1&b=%22 HTTP/1.1","s":200,"B":6,"{x-a}i":"q\"uo\\te\tcafé","{ctl}e":"a\u0001b\nc\u2028","zz":"-","p":"<42>"}"#
        );
    }

    #[test]
    fn width_is_bounded() {
        let out = render("%(s)999999999s", &Req::default());
        assert_eq!(out.len(), MAX_WIDTH);
    }
}
