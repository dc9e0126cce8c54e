//! Request-head parser: the same outcome whatever the split of the bytes,
//! and the limits hold.
//!
//! Input layout: `[flags, request_line, fields, field_size, cut1, cut2]`
//! then the bytes on the wire (see `docs/fuzzing.md`).

#![no_main]

use gunicorn_rs::http::ParseError;
use gunicorn_rs::http::parser::{
    HeadParser, HeaderMap, Limits, Parsed, ParserConfig, RequestHead, parse_head,
};
use libfuzzer_sys::fuzz_target;

const HEADER: usize = 6;
const FLOOD: usize = 16 << 10;

/// A limit selector byte: 0 keeps the default, 255 is the setting `0`
/// (gunicorn's "unlimited"/maximum), anything else is that small value.
fn limit(selector: u8, default: usize) -> usize {
    match selector {
        0 => default,
        255 => 0,
        n => usize::from(n),
    }
}

fn config(h: &[u8; HEADER]) -> ParserConfig {
    let flags = h[0];
    let defaults = Limits::default();
    ParserConfig {
        limits: Limits {
            request_line: limit(h[1], defaults.request_line),
            fields: limit(h[2], defaults.fields),
            field_size: limit(h[3], defaults.field_size),
        },
        permit_obsolete_folding: flags & 0x01 != 0,
        strip_header_spaces: flags & 0x02 != 0,
        permit_unconventional_http_method: flags & 0x04 != 0,
        permit_unconventional_http_version: flags & 0x08 != 0,
        casefold_http_method: flags & 0x10 != 0,
        header_map: match (flags >> 5) & 0x03 {
            1 => HeaderMap::Refuse,
            2 => HeaderMap::Dangerous,
            _ => HeaderMap::Drop,
        },
        peer_trusted: flags & 0x80 != 0,
        ..ParserConfig::default()
    }
}

/// The longest buffer that may still be `Partial`: one skipped empty line,
/// the longest request line and its CRLF, the largest header section.
fn max_partial(limits: &Limits) -> usize {
    2 + limits.request_line_max() + 2 + limits.header_buffer_max()
}

/// What must not depend on the split: the head (and how much it consumed),
/// or the class and status of the error. Error texts may quote how much was
/// buffered (`LimitRequestLine`'s size), so they are left out.
#[derive(Debug, PartialEq)]
enum Outcome {
    Complete(RequestHead, usize),
    Partial,
    Error(&'static str, u16),
}

fn outcome(result: &Result<Parsed, ParseError>) -> Outcome {
    match result {
        Ok(Parsed::Complete { head, consumed }) => Outcome::Complete(head.clone(), *consumed),
        Ok(Parsed::Partial) => Outcome::Partial,
        Err(e) => Outcome::Error(e.class_name(), e.status()),
    }
}

/// Invariants of one result for the buffer `buf`.
fn check(result: &Result<Parsed, ParseError>, buf: &[u8], cfg: &ParserConfig) {
    let limits = &cfg.limits;
    match result {
        Ok(Parsed::Partial) => assert!(
            buf.len() <= max_partial(limits),
            "Partial for {} bytes, over the {} any head can take",
            buf.len(),
            max_partial(limits)
        ),
        Ok(Parsed::Complete { head, consumed }) => {
            assert!(*consumed <= buf.len());
            assert!(*consumed <= max_partial(limits));
            let head_bytes = &buf[..*consumed];
            assert!(head_bytes.ends_with(b"\r\n"));
            let line_max = limits.request_line_max();
            let method = head.method();
            assert!(!method.is_empty() && method.len() <= line_max);
            if !cfg.permit_unconventional_http_method {
                assert!((3..=20).contains(&method.len()), "method {method:?}");
            }
            if cfg.casefold_http_method {
                assert!(!method.bytes().any(|b| b.is_ascii_lowercase()));
            }
            assert!(!head.uri().is_empty() && head.uri().len() <= line_max);
            assert!(method.len() + head.uri().len() + 2 <= line_max);
            for part in [head.path(), head.query(), head.fragment()] {
                assert!(part.len() <= head.uri().len());
            }
            let (major, minor) = head.version();
            assert!(major <= 9 && minor <= 9);
            if !cfg.permit_unconventional_http_version {
                assert!(((1, 0)..(2, 0)).contains(&(major, minor)));
            }
            let headers: Vec<_> = head.headers().collect();
            assert!(headers.len() <= limits.fields_max());
            for h in &headers {
                assert!(!h.name.is_empty());
                // name ":" value CRLF, the value trimmed (and folded lines
                // joined by one space where there was at least CRLF + blank).
                assert!(
                    h.name.len() + 1 + h.value.len() + 2 <= limits.field_size_max(),
                    "field of {} + {} bytes over {}",
                    h.name.len(),
                    h.value.len(),
                    limits.field_size_max()
                );
                if !cfg.permit_obsolete_folding {
                    let blank = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
                    assert!(!blank(h.value.first()) && !blank(h.value.last()));
                }
                assert!(h.name.iter().all(|&b| b.is_ascii_graphic() && b != b':'));
                if h.name.contains(&b'_') && cfg.header_map != HeaderMap::Dangerous {
                    assert!(cfg.peer_trusted, "underscore name from an untrusted peer");
                    let upper = h.name.to_ascii_uppercase();
                    assert!(cfg.forwarder_headers.iter().any(|f| f.as_bytes() == upper));
                }
            }
        }
        Err(_) => {}
    }
}

/// Feed `input` to one `HeadParser`, the buffer growing to each of `ends`
/// in turn, then to the whole input; stop at the first non-Partial result.
/// With `stateless`, also check each step against `parse_head` on the same
/// prefix.
fn feed(
    input: &[u8],
    cfg: &ParserConfig,
    ends: impl Iterator<Item = usize>,
    stateless: bool,
) -> Result<Parsed, ParseError> {
    let mut parser = HeadParser::new();
    for end in ends.chain(std::iter::once(input.len())) {
        let buf = &input[..end];
        let result = parser.parse(buf, cfg);
        check(&result, buf, cfg);
        if stateless {
            assert_eq!(
                outcome(&result),
                outcome(&parse_head(buf, cfg)),
                "incremental vs stateless at {end} bytes"
            );
        }
        if !matches!(result, Ok(Parsed::Partial)) {
            return result;
        }
    }
    Ok(Parsed::Partial)
}

fuzz_target!(|data: &[u8]| {
    let Some((header, input)) = data.split_first_chunk::<HEADER>() else {
        return;
    };
    let cfg = config(header);
    let len = input.len();

    let whole = parse_head(input, &cfg);
    check(&whole, input, &cfg);
    let expected = outcome(&whole);

    // Two cut points from the header, in order, plus every prefix ending
    // right after a LF (the places where a line can complete).
    let mut cuts = [
        len * usize::from(header[4]) / 256,
        len * usize::from(header[5]) / 256,
    ];
    cuts.sort_unstable();
    let two_cuts = feed(input, &cfg, cuts.into_iter(), true);
    assert_eq!(outcome(&two_cuts), expected, "cuts at {cuts:?}");

    let lines = input
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == b'\n')
        .map(|(i, _)| i + 1);
    let by_line = feed(input, &cfg, lines, false);
    assert_eq!(outcome(&by_line), expected, "line by line");

    // Byte by byte: the trickle that the parser's outcome is defined by.
    let by_byte = feed(input, &cfg, 0..len, false);
    assert_eq!(outcome(&by_byte), expected, "byte by byte");

    // However many more bytes come, Partial stays within the bound: the
    // input followed by 16 KiB of its last byte (checked by `check`).
    let fill = input.last().copied().unwrap_or(b'a');
    let flooded = [input, &[fill; FLOOD]].concat();
    let result = parse_head(&flooded, &cfg);
    check(&result, &flooded, &cfg);

    // A complete head parses the same with nothing after it, and the
    // parser starts afresh after a result: the next (pipelined) head parses
    // as if new, and so does the same buffer after an error.
    let mut parser = HeadParser::new();
    let first = parser.parse(input, &cfg);
    assert_eq!(outcome(&first), expected);
    match &first {
        Ok(Parsed::Complete { consumed, .. }) => {
            assert_eq!(outcome(&parse_head(&input[..*consumed], &cfg)), expected);
            let rest = &input[*consumed..];
            let next = parser.parse(rest, &cfg);
            check(&next, rest, &cfg);
            assert_eq!(outcome(&next), outcome(&parse_head(rest, &cfg)));
        }
        Err(_) => assert_eq!(outcome(&parser.parse(input, &cfg)), expected),
        Ok(Parsed::Partial) => {}
    }
});
