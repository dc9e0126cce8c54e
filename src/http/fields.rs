//! Header-field lines, shared by the request head and chunked trailers:
//! gunicorn 27's `Message.parse_headers` and its header policy, in the same
//! order, so the first error reported is the one gunicorn reports.
//!
//! Works in place on a buffer the caller owns: a kept field is two byte
//! ranges, and folded lines (when permitted) are joined by moving bytes
//! left, never by allocating.

use super::ParseError;
use super::error::latin1;
use super::rules::{HeaderMap, Limits};
use std::ops::Range;

/// RFC 9110 `tchar`, as gunicorn's `TOKEN_RE`.
static TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        i += 1;
    }
    t
};

/// An RFC 9110 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// A non-empty RFC 9110 token.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// A byte gunicorn refuses in a field value: CTLs except HTAB, and DEL.
pub(crate) fn is_value_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Eight bytes of `chunk` (which has at least eight) as one word.
fn word(chunk: &[u8]) -> u64 {
    chunk
        .first_chunk::<8>()
        .map_or(0, |bytes| u64::from_le_bytes(*bytes))
}

/// Whether some byte of `x` is below `n` (`n` <= 128; exact for "some").
fn has_less(x: u64, n: u8) -> bool {
    x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS != 0
}

/// Position of the first `\n` in `hay`, eight bytes at a time.
pub(crate) fn find_lf(hay: &[u8]) -> Option<usize> {
    let mut offset = 0;
    for chunk in hay.chunks_exact(8) {
        if has_less(word(chunk) ^ (ONES * u64::from(b'\n')), 1) {
            break;
        }
        offset += 8;
    }
    hay[offset..]
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| offset + i)
}

/// Whether a field value holds a byte gunicorn refuses; skips eight plain
/// bytes at a time.
pub(crate) fn has_value_ctl(value: &[u8]) -> bool {
    let chunks = value.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        let x = word(chunk);
        // HTAB trips the first test too: look closer only then.
        if (has_less(x, 0x20) || has_less(x ^ (ONES * 0x7f), 1))
            && chunk.iter().any(|&b| is_value_ctl(b))
        {
            return true;
        }
    }
    rest.iter().any(|&b| is_value_ctl(b))
}

/// `s` without leading and trailing SP/HTAB (Python's `strip(" \t")`).
pub(crate) fn trim_ows(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    &s[start..end]
}

/// `range` of `buf` narrowed by [`trim_ows`].
fn trim_range(buf: &[u8], range: Range<usize>) -> Range<usize> {
    let s = &buf[range.clone()];
    let start = range.start
        + s.iter()
            .position(|&b| b != b' ' && b != b'\t')
            .unwrap_or(s.len());
    let end = range.start
        + s.iter()
            .rposition(|&b| b != b' ' && b != b'\t')
            .map_or(start - range.start, |i| i + 1);
    start..end
}

/// Upper-cased copy of a token, for messages (gunicorn reports names upper-cased
/// once they passed the token check).
pub(crate) fn upper(name: &[u8]) -> String {
    latin1(name).to_ascii_uppercase()
}

/// Field names forbidden in trailers (RFC 9110 section 6.5.1).
const FORBIDDEN_TRAILERS: [&[u8]; 6] = [
    b"HOST",
    b"CONTENT-LENGTH",
    b"TRANSFER-ENCODING",
    b"TRAILER",
    b"AUTHORIZATION",
    b"TE",
];

/// One kept field: ranges of the buffer it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    pub name: Range<usize>,
    pub value: Range<usize>,
}

/// What decides how field lines are read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldRules<'a> {
    pub limits: Limits,
    pub permit_obsolete_folding: bool,
    pub strip_header_spaces: bool,
    pub header_map: HeaderMap,
    /// Underscore names the peer may set: empty for trailers and untrusted peers.
    pub forwarders: &'a [String],
    /// `(NAME, value)` pairs meaning https (`secure_scheme_headers`): empty
    /// for trailers and untrusted peers.
    pub secure_scheme_headers: &'a [(String, String)],
    /// Parsing a trailer section: forbidden names refused, `Expect` ignored.
    pub trailer: bool,
    pub version: (u8, u8),
}

/// What the header policy found besides the fields themselves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Found {
    /// An `Expect: 100-continue` applies.
    pub expect_continue: bool,
    /// What the first secure-scheme header said (`Some(true)`: https);
    /// `None` when there was none.
    pub https: Option<bool>,
}

/// Parse the field lines in `buf[section]` (CRLF-separated, without the
/// final empty line, no bare LF) into `out`.
pub(crate) fn parse_fields(
    buf: &mut [u8],
    section: Range<usize>,
    rules: &FieldRules<'_>,
    out: &mut Vec<Field>,
) -> Result<Found, ParseError> {
    let max_fields = rules.limits.fields_max();
    let mut seen = Seen::default();
    let mut found = Found::default();
    let mut pos = section.start;
    while pos < section.end {
        if out.len() >= max_fields {
            return Err(ParseError::LimitRequestHeaders(
                "limit request headers fields",
            ));
        }
        let (field, next) = read_field(buf, pos, section.end, rules)?;
        pos = next;
        if apply_policy(buf, &field, rules, &mut seen, &mut found)? {
            out.push(field);
        }
    }
    Ok(found)
}

/// End of the line starting at `pos`: index of its CR, or `end`.
fn line_end(buf: &[u8], pos: usize, end: usize) -> usize {
    // Callers refused bare LFs, so the LF's CR is just before it; checked
    // anyway so that a broken promise cannot step outside the line.
    find_lf(&buf[pos..end]).map_or(end, |i| {
        if i > 0 && buf[pos + i - 1] == b'\r' {
            pos + i - 1
        } else {
            pos + i
        }
    })
}

/// Read one field line (and, when permitted, its continuation lines).
/// Returns the field and where the next line starts.
fn read_field(
    buf: &mut [u8],
    pos: usize,
    end: usize,
    rules: &FieldRules<'_>,
) -> Result<(Field, usize), ParseError> {
    let field_size = rules.limits.field_size_max();
    let eol = line_end(buf, pos, end);
    let mut length = eol - pos + 2;
    let (name, colon) = read_name(buf, pos, eol, rules)?;
    if rules.trailer
        && FORBIDDEN_TRAILERS
            .iter()
            .any(|f| f.eq_ignore_ascii_case(&buf[name.clone()]))
    {
        return Err(ParseError::InvalidHeaderName(upper(&buf[name])));
    }
    let mut value = trim_range(buf, colon + 1..eol);
    let mut next = eol + 2;
    while next < end && matches!(buf[next], b' ' | b'\t') {
        if !rules.permit_obsolete_folding {
            return Err(ParseError::ObsoleteFolding(upper(&buf[name])));
        }
        let cont_end = line_end(buf, next, end);
        length += cont_end - next + 2;
        if length > field_size {
            return Err(ParseError::LimitRequestHeaders(
                "limit request headers fields size",
            ));
        }
        // Join with one space, moving the part left over the CRLF and blanks
        // just read (the write position always trails the read position).
        let part = trim_range(buf, next..cont_end);
        buf[value.end] = b' ';
        buf.copy_within(part.clone(), value.end + 1);
        value.end += 1 + part.len();
        next = cont_end + 2;
    }
    if has_value_ctl(&buf[value.clone()]) {
        return Err(ParseError::InvalidHeader(upper(&buf[name])));
    }
    if length > field_size {
        return Err(ParseError::LimitRequestHeaders(
            "limit request headers fields size",
        ));
    }
    Ok((Field { name, value }, next))
}

/// The field name of the line `buf[pos..eol]` and the position of its colon.
fn read_name(
    buf: &[u8],
    pos: usize,
    eol: usize,
    rules: &FieldRules<'_>,
) -> Result<(Range<usize>, usize), ParseError> {
    let line = &buf[pos..eol];
    // Usual case: a token right up to the colon.
    let token = line.iter().take_while(|&&b| is_tchar(b)).count();
    if token > 0 && line.get(token) == Some(&b':') {
        return Ok((pos..pos + token, pos + token));
    }
    let colon = match line.iter().position(|&b| b == b':') {
        Some(i) if i > 0 => pos + i,
        _ => return Err(ParseError::InvalidHeader(latin1(line))),
    };
    let mut name = pos..colon;
    if rules.strip_header_spaces {
        let kept = buf[name.clone()]
            .iter()
            .rposition(|&b| b != b' ' && b != b'\t')
            .map_or(0, |i| i + 1);
        name.end = name.start + kept;
    }
    if !is_token(&buf[name.clone()]) {
        return Err(ParseError::InvalidHeaderName(latin1(&buf[name])));
    }
    Ok((name, colon))
}

/// Singleton fields already met (RFC 9110 section 5.3).
#[derive(Default)]
struct Seen {
    host: bool,
    content_type: bool,
}

/// gunicorn's `_apply_header_policy`: singletons, `Expect`, secure-scheme
/// headers, underscores, in that order. Returns whether the field is kept.
fn apply_policy(
    buf: &[u8],
    field: &Field,
    rules: &FieldRules<'_>,
    seen: &mut Seen,
    found: &mut Found,
) -> Result<bool, ParseError> {
    let name = &buf[field.name.clone()];
    let value = &buf[field.value.clone()];
    let singleton = if name.eq_ignore_ascii_case(b"host") {
        Some(&mut seen.host)
    } else if name.eq_ignore_ascii_case(b"content-type") {
        Some(&mut seen.content_type)
    } else {
        None
    };
    if let Some(seen) = singleton {
        if *seen {
            return Err(ParseError::InvalidHeader(upper(name)));
        }
        *seen = true;
    }
    if !rules.trailer && name.eq_ignore_ascii_case(b"expect") {
        if !value.eq_ignore_ascii_case(b"100-continue") {
            return Err(ParseError::ExpectationFailed(latin1(value)));
        }
        // RFC 9110 10.1.1: an HTTP/1.0 server ignores 100-continue.
        if rules.version >= (1, 1) {
            found.expect_continue = true;
        }
    }
    // The upper-cased name is looked up among the configured names as they
    // are written; the value must equal the configured one exactly (case
    // included). The first such header decides the scheme; a later one
    // that means the other scheme, whatever its name, is a contradiction.
    if let Some((_, secure)) = rules
        .secure_scheme_headers
        .iter()
        .find(|(n, _)| is_upper_of(n.as_bytes(), name))
    {
        let https = latin1_equals(secure, value);
        match found.https {
            None => found.https = Some(https),
            Some(first) if first != https => return Err(ParseError::InvalidSchemeHeaders),
            Some(_) => {}
        }
    }
    if !name.contains(&b'_') {
        return Ok(true);
    }
    // An underscore name maps onto the same environ key as its dashed twin,
    // which lets a client spoof what a proxy set: only trusted forwarders'
    // chosen names pass by default.
    if rules
        .forwarders
        .iter()
        .any(|f| f == "*" || is_upper_of(f.as_bytes(), name))
    {
        return Ok(true);
    }
    match rules.header_map {
        HeaderMap::Dangerous => Ok(true),
        HeaderMap::Drop => Ok(false),
        HeaderMap::Refuse => Err(ParseError::InvalidHeaderName(upper(name))),
    }
}

/// `text == value.decode("latin-1")`: the configured text against wire bytes.
fn latin1_equals(text: &str, value: &[u8]) -> bool {
    text.chars()
        .map(u32::from)
        .eq(value.iter().map(|&b| u32::from(b)))
}

/// `upper == name.upper()`, as gunicorn compares against `forwarder_headers`
/// and `secure_scheme_headers`.
fn is_upper_of(upper: &[u8], name: &[u8]) -> bool {
    upper.len() == name.len()
        && upper
            .iter()
            .zip(name)
            .all(|(&u, &n)| u == n.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> FieldRules<'static> {
        FieldRules {
            limits: Limits::default(),
            permit_obsolete_folding: false,
            strip_header_spaces: false,
            header_map: HeaderMap::Drop,
            forwarders: &[],
            secure_scheme_headers: &[],
            trailer: false,
            version: (1, 1),
        }
    }

    fn parse(section: &[u8], rules: &FieldRules<'_>) -> Result<Vec<(String, String)>, ParseError> {
        let mut buf = section.to_vec();
        let mut out = Vec::new();
        parse_fields(&mut buf, 0..section.len(), rules, &mut out)?;
        Ok(out
            .iter()
            .map(|f| (latin1(&buf[f.name.clone()]), latin1(&buf[f.value.clone()])))
            .collect())
    }

    #[test]
    fn trims_and_keeps_order() {
        let got = parse(b"A: \t x y \t\r\nB:\r\nC:z", &rules()).unwrap();
        assert_eq!(
            got,
            [
                ("A".into(), "x y".into()),
                ("B".into(), String::new()),
                ("C".into(), "z".into())
            ]
        );
    }

    #[test]
    fn folding_joins_with_one_space_when_permitted() {
        let mut r = rules();
        assert_eq!(
            parse(b"Long: one\r\n two", &r),
            Err(ParseError::ObsoleteFolding("LONG".into()))
        );
        r.permit_obsolete_folding = true;
        let got = parse(b"Long: one \r\n \t two\t\r\n\tthree\r\nX: y", &r).unwrap();
        assert_eq!(got[0].1, "one two three");
        assert_eq!(got[1], ("X".into(), "y".into()));
        // An all-blank continuation adds an empty part, hence a trailing space.
        assert_eq!(parse(b"A: b\r\n  ", &r).unwrap()[0].1, "b ");
    }

    #[test]
    fn line_errors_in_gunicorn_order() {
        let r = rules();
        assert_eq!(
            parse(b"NoColon", &r),
            Err(ParseError::InvalidHeader("NoColon".into()))
        );
        assert_eq!(
            parse(b": v", &r),
            Err(ParseError::InvalidHeader(": v".into()))
        );
        assert_eq!(
            parse(b"Na me: v", &r),
            Err(ParseError::InvalidHeaderName("Na me".into()))
        );
        assert_eq!(
            parse(b"Name : v", &r),
            Err(ParseError::InvalidHeaderName("Name ".into()))
        );
        assert_eq!(
            parse(b"N\xe9: v", &r),
            Err(ParseError::InvalidHeaderName("N\u{e9}".into()))
        );
        assert_eq!(
            parse(b"a: x\x01", &r),
            Err(ParseError::InvalidHeader("A".into()))
        );
        assert_eq!(
            parse(b"a: x\ry", &r),
            Err(ParseError::InvalidHeader("A".into()))
        );
        assert_eq!(
            parse(b"a: x\x7f", &r),
            Err(ParseError::InvalidHeader("A".into()))
        );
        assert_eq!(
            parse(b"a: caf\xc3\xa9", &r).unwrap()[0].1,
            "caf\u{c3}\u{a9}"
        );
    }

    #[test]
    fn strip_header_spaces_setting() {
        let mut r = rules();
        r.strip_header_spaces = true;
        assert_eq!(
            parse(b"Content-Length \t: 3", &r).unwrap(),
            [("Content-Length".into(), "3".into())]
        );
    }

    #[test]
    fn field_size_limit_is_inclusive_of_crlf() {
        let mut r = rules();
        r.limits.field_size = 10;
        assert!(parse(b"Abc: 12345", &r).is_err()); // 10 + CRLF = 12
        assert!(parse(b"Abc: 123", &r).is_ok()); // 8 + 2 = 10
        assert_eq!(
            parse(b"Abc: 1234", &r),
            Err(ParseError::LimitRequestHeaders(
                "limit request headers fields size"
            ))
        );
        // A CTL wins over the size: gunicorn checks the value first.
        assert_eq!(
            parse(b"Abc: 123\x01", &r),
            Err(ParseError::InvalidHeader("ABC".into()))
        );
        r.permit_obsolete_folding = true;
        assert_eq!(
            parse(b"A: 1\r\n 2345\x01", &r),
            Err(ParseError::LimitRequestHeaders(
                "limit request headers fields size"
            ))
        );
    }

    #[test]
    fn field_count_limit_counts_kept_fields() {
        let mut r = rules();
        r.limits.fields = 2;
        assert_eq!(parse(b"A: 1\r\nB: 2", &r).unwrap().len(), 2);
        assert_eq!(
            parse(b"A: 1\r\nB: 2\r\nC: 3", &r),
            Err(ParseError::LimitRequestHeaders(
                "limit request headers fields"
            ))
        );
        // Dropped fields are not kept, so they do not count.
        assert_eq!(parse(b"A: 1\r\nX_1: 2\r\nB: 2", &r).unwrap().len(), 2);
        assert!(parse(b"A: 1\r\nB: 2\r\nX_1: 2", &r).is_err());
    }

    #[test]
    fn singletons_and_expect() {
        let r = rules();
        assert_eq!(
            parse(b"Host: a\r\nhost: b", &r),
            Err(ParseError::InvalidHeader("HOST".into()))
        );
        assert_eq!(
            parse(b"Content-Type: a\r\nContent-type: b", &r),
            Err(ParseError::InvalidHeader("CONTENT-TYPE".into()))
        );
        assert_eq!(
            parse(b"Expect: foo", &r),
            Err(ParseError::ExpectationFailed("foo".into()))
        );
        let mut buf = b"Expect: 100-Continue".to_vec();
        let mut out = Vec::new();
        assert_eq!(
            parse_fields(&mut buf, 0..20, &r, &mut out).map(|f| f.expect_continue),
            Ok(true)
        );
        let r10 = FieldRules {
            version: (1, 0),
            ..r
        };
        assert_eq!(
            parse_fields(&mut buf, 0..20, &r10, &mut out).map(|f| f.expect_continue),
            Ok(false)
        );
        assert_eq!(
            parse(b"Expect: foo", &r10),
            Err(ParseError::ExpectationFailed("foo".into()))
        );
    }

    #[test]
    fn underscore_names_follow_header_map() {
        let mut r = rules();
        assert!(parse(b"X_Y: 1", &r).unwrap().is_empty());
        r.header_map = HeaderMap::Dangerous;
        assert_eq!(parse(b"X_Y: 1", &r).unwrap().len(), 1);
        r.header_map = HeaderMap::Refuse;
        assert_eq!(
            parse(b"X_Y: 1", &r),
            Err(ParseError::InvalidHeaderName("X_Y".into()))
        );
        let fw = ["SCRIPT_NAME".to_owned()];
        r.forwarders = &fw;
        assert_eq!(parse(b"script_name: /a", &r).unwrap().len(), 1);
        assert!(parse(b"PATH_INFO: /a", &r).is_err());
        let star = ["*".to_owned()];
        r.forwarders = &star;
        assert_eq!(parse(b"PATH_INFO: /a", &r).unwrap().len(), 1);
    }

    #[test]
    fn trailer_rules() {
        let r = FieldRules {
            trailer: true,
            ..rules()
        };
        for name in [
            "Host",
            "content-length",
            "Transfer-Encoding",
            "Trailer",
            "Authorization",
            "TE",
        ] {
            let line = format!("{name}: x");
            assert_eq!(
                parse(line.as_bytes(), &r),
                Err(ParseError::InvalidHeaderName(name.to_ascii_uppercase()))
            );
        }
        // Expect means nothing in trailers.
        assert_eq!(parse(b"Expect: foo", &r).unwrap().len(), 1);
    }
}
