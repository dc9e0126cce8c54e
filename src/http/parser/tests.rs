use super::*;

/// First non-Partial result of feeding `input` in pieces of `split` bytes
/// (0: whole), through the stateless or the incremental parser.
fn feed(
    input: &[u8],
    cfg: &ParserConfig,
    split: usize,
    incremental: bool,
) -> Result<Parsed, ParseError> {
    let mut parser = HeadParser::new();
    let step = if split == 0 {
        input.len().max(1)
    } else {
        split
    };
    let mut end = 0;
    loop {
        end = (end + step).min(input.len());
        let buf = &input[..end];
        let result = if incremental {
            parser.parse(buf, cfg)
        } else {
            parse_head(buf, cfg)
        };
        match result {
            Ok(Parsed::Partial) if end < input.len() => continue,
            other => return other,
        }
    }
}

/// The outcome for `input`, checked to be the same for every split: the
/// same head, or an error of the same class.
fn outcome(input: &[u8], cfg: &ParserConfig) -> Result<Parsed, ParseError> {
    let whole = feed(input, cfg, 0, false);
    for (split, incremental) in [
        (1, true),
        (1, false),
        (2, true),
        (3, false),
        (5, true),
        (17, true),
    ] {
        let other = feed(input, cfg, split, incremental);
        match (&whole, &other) {
            (Err(a), Err(b)) => {
                assert_eq!(a.class_name(), b.class_name(), "split {split}: {a} vs {b}")
            }
            (a, b) => assert_eq!(a, b, "split {split} incremental {incremental}"),
        }
    }
    whole
}

fn ok_with(input: &[u8], cfg: &ParserConfig) -> RequestHead {
    match outcome(input, cfg) {
        Ok(Parsed::Complete { head, .. }) => head,
        other => panic!("expected a head for {:?}, got {other:?}", latin1(input)),
    }
}

fn ok(input: &[u8]) -> RequestHead {
    ok_with(input, &ParserConfig::default())
}

fn err_with(input: &[u8], cfg: &ParserConfig) -> ParseError {
    match outcome(input, cfg) {
        Err(e) => e,
        other => panic!("expected an error for {:?}, got {other:?}", latin1(input)),
    }
}

fn err(input: &[u8]) -> ParseError {
    err_with(input, &ParserConfig::default())
}

fn partial(input: &[u8], cfg: &ParserConfig) -> bool {
    matches!(parse_head(input, cfg), Ok(Parsed::Partial))
}

fn headers(head: &RequestHead) -> Vec<(String, String)> {
    head.headers()
        .map(|h| (latin1(h.name), latin1(h.value)))
        .collect()
}

fn request_line(line: &str) -> ParseError {
    ParseError::InvalidRequestLine(line.into())
}

#[test]
fn simple_get() {
    let input = b"GET /a/b?x=1#f HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\nNEXT";
    let Ok(Parsed::Complete { head, consumed }) = outcome(input, &ParserConfig::default()) else {
        panic!()
    };
    assert_eq!(consumed, input.len() - 4);
    assert_eq!(head.method(), "GET");
    assert_eq!(head.uri(), b"/a/b?x=1#f");
    assert_eq!(
        (head.path(), head.query(), head.fragment()),
        (&b"/a/b"[..], &b"x=1"[..], &b"f"[..])
    );
    assert_eq!(head.version(), (1, 1));
    assert_eq!(
        headers(&head),
        [
            ("Host".into(), "example.com".into()),
            ("Accept".into(), "*/*".into())
        ]
    );
    assert_eq!(head.header(b"host"), Some(&b"example.com"[..]));
    assert_eq!(head.body_kind(), BodyKind::Empty);
    assert!(head.wants_keep_alive());
    assert!(!head.expects_continue());
}

#[test]
fn no_headers_and_partial_heads() {
    let head = ok(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(headers(&head), []);
    let cfg = ParserConfig::default();
    for input in [
        &b""[..],
        b"\r",
        b"GET / HTTP/1.1",
        b"GET / HTTP/1.1\r",
        b"GET / HTTP/1.1\r\n",
        b"GET / HTTP/1.1\r\nA: b\r\n\r",
    ] {
        assert!(partial(input, &cfg), "{input:?}");
    }
}

#[test]
fn one_leading_crlf_only() {
    let Ok(Parsed::Complete { head, consumed }) =
        outcome(b"\r\nGET / HTTP/1.1\r\n\r\n", &ParserConfig::default())
    else {
        panic!()
    };
    assert_eq!((head.method(), consumed), ("GET", 20));
    assert_eq!(err(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n"), request_line(""));
    assert_eq!(
        err(b"\nGET / HTTP/1.1\r\n\r\n"),
        request_line("bare LF as line terminator")
    );
}

#[test]
fn bare_lf_is_refused_anywhere_in_the_head() {
    let lf_line = request_line("bare LF as line terminator");
    let lf_header = ParseError::InvalidHeader("bare LF as line terminator".into());
    assert_eq!(err(b"GET / HTTP/1.1\n\r\n"), lf_line);
    assert_eq!(err(b"GET /\n HTTP/1.1\r\n\r\n"), lf_line);
    assert_eq!(err(b"GET / HTTP/1.1\r\n\n"), lf_header);
    assert_eq!(err(b"GET / HTTP/1.1\r\nA: b\n\r\n\r\n"), lf_header);
    assert_eq!(err(b"GET / HTTP/1.1\r\nA\nB: c\r\n\r\n"), lf_header);
    assert_eq!(err(b"GET / HTTP/1.1\r\nA: b\r\n\n"), lf_header);
    // Refused before the head is complete.
    assert!(parse_head(b"GET / HTTP/1.1\r\nA: b\nc", &ParserConfig::default()).is_err());
    // A bare CR stays in the line and fails the check for its part.
    assert_eq!(
        err(b"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n"),
        ParseError::InvalidHeader("A".into())
    );
    assert_eq!(
        err(b"GET / HTTP/1.1\r\r\n\r\n"),
        ParseError::InvalidHTTPVersion("HTTP/1.1\r".into())
    );
}

#[test]
fn request_line_split() {
    assert_eq!(err(b"GET /\r\n\r\n"), request_line("GET /"));
    assert_eq!(err(b"GET\r\n\r\n"), request_line("GET"));
    assert_eq!(
        err(b"GET  / HTTP/1.1\r\n\r\n"),
        request_line("GET  / HTTP/1.1")
    );
    assert_eq!(
        err(b"GET /a b HTTP/1.1\r\n\r\n"),
        ParseError::InvalidHTTPVersion("b HTTP/1.1".into())
    );
    assert_eq!(
        err(b"GET / HTTP/1.1 \r\n\r\n"),
        ParseError::InvalidHTTPVersion("HTTP/1.1 ".into())
    );
    assert_eq!(
        err(b" GET / HTTP/1.1\r\n\r\n"),
        ParseError::InvalidRequestMethod(String::new())
    );
}

#[test]
fn method_rules() {
    let method = |m: &str| ParseError::InvalidRequestMethod(m.into());
    assert_eq!(err(b"get / HTTP/1.1\r\n\r\n"), method("get"));
    assert_eq!(err(b"GE / HTTP/1.1\r\n\r\n"), method("GE"));
    assert_eq!(err(b"G#T / HTTP/1.1\r\n\r\n"), method("G#T"));
    assert_eq!(err(b"G(T / HTTP/1.1\r\n\r\n"), method("G(T"));
    assert_eq!(err(b"G\xc9T / HTTP/1.1\r\n\r\n"), method("G\u{c9}T"));
    let long = "A".repeat(21);
    assert_eq!(
        err(format!("{long} / HTTP/1.1\r\n\r\n").as_bytes()),
        method(&long)
    );
    assert_eq!(
        ok(format!("{} / HTTP/1.1\r\n\r\n", &long[1..]).as_bytes()).method(),
        &long[1..]
    );
    assert_eq!(ok(b"-BLARGH / HTTP/1.1\r\n\r\n").method(), "-BLARGH");

    let mut cfg = ParserConfig {
        permit_unconventional_http_method: true,
        ..ParserConfig::default()
    };
    assert_eq!(ok_with(b"ge#t / HTTP/1.1\r\n\r\n", &cfg).method(), "ge#t");
    assert_eq!(ok_with(b"G / HTTP/1.1\r\n\r\n", &cfg).method(), "G");
    assert_eq!(err_with(b"G(T / HTTP/1.1\r\n\r\n", &cfg), method("G(T"));
    cfg.casefold_http_method = true;
    let head = ok_with(b"connect host:1 HTTP/1.1\r\n\r\n", &cfg);
    assert_eq!(head.method(), "CONNECT");
    assert!(!head.wants_keep_alive());
    assert_eq!(ok_with(b"options * HTTP/1.1\r\n\r\n", &cfg).path(), b"*");
}

#[test]
fn target_rules() {
    assert_eq!(
        err(b"GET /\xe9 HTTP/1.1\r\n\r\n"),
        request_line("GET /\u{e9} HTTP/1.1")
    );
    assert_eq!(
        err(b"GET /\x7f HTTP/1.1\r\n\r\n"),
        request_line("GET /\x7f HTTP/1.1")
    );
    assert_eq!(
        err(b"GET /\x00 HTTP/1.1\r\n\r\n"),
        request_line("GET /\0 HTTP/1.1")
    );
    assert_eq!(
        err(b"GET * HTTP/1.1\r\n\r\n"),
        request_line("GET * HTTP/1.1")
    );
    assert_eq!(ok(b"OPTIONS * HTTP/1.1\r\n\r\n").path(), b"*");
    assert_eq!(ok(b"OPTIONS /x HTTP/1.1\r\n\r\n").path(), b"/x");
    assert_eq!(
        err(b"GET example.com:80 HTTP/1.1\r\n\r\n"),
        request_line("GET example.com:80 HTTP/1.1")
    );
    assert_eq!(
        err(b"GET a HTTP/1.1\r\n\r\n"),
        request_line("GET a HTTP/1.1")
    );
    let connect = ok(b"CONNECT example.com:443 HTTP/1.1\r\n\r\n");
    assert_eq!(
        (connect.uri(), connect.path()),
        (&b"example.com:443"[..], &b"443"[..])
    );
    assert!(!connect.wants_keep_alive());
    let absolute = ok(b"GET http://u:p@h:1/p/q?x=y#z HTTP/1.1\r\n\r\n");
    assert_eq!(
        (
            absolute.uri(),
            absolute.path(),
            absolute.query(),
            absolute.fragment()
        ),
        (
            &b"http://u:p@h:1/p/q?x=y#z"[..],
            &b"/p/q"[..],
            &b"x=y"[..],
            &b"z"[..]
        )
    );
    assert_eq!(ok(b"GET //a//b HTTP/1.1\r\n\r\n").path(), b"//a//b");
    assert_eq!(
        err(b"GET http://[::1/ HTTP/1.1\r\n\r\n"),
        request_line("GET http://[::1/ HTTP/1.1")
    );
}

#[test]
fn version_rules() {
    assert_eq!(ok(b"GET / HTTP/1.0\r\n\r\n").version(), (1, 0));
    assert_eq!(ok(b"GET / HTTP/1.9\r\n\r\n").version(), (1, 9));
    assert_eq!(
        err(b"GET / HTTP/2.0\r\n\r\n"),
        ParseError::UnsupportedHTTPVersion(2, 0)
    );
    assert_eq!(
        err(b"GET / HTTP/0.9\r\n\r\n"),
        ParseError::UnsupportedHTTPVersion(0, 9)
    );
    for bad in [
        "HTTP/1.10",
        "http/1.1",
        "HTTP/1",
        "HTTP/a.1",
        "HTTP/1.1x",
        "HTTP/\u{b2}.1",
    ] {
        let input = format!("GET / {bad}\r\n\r\n");
        let bytes: Vec<u8> = input.chars().map(|c| c as u8).collect();
        assert_eq!(
            err(&bytes),
            ParseError::InvalidHTTPVersion(bad.into()),
            "{bad}"
        );
    }
    let cfg = ParserConfig {
        permit_unconventional_http_version: true,
        ..ParserConfig::default()
    };
    assert_eq!(ok_with(b"GET / HTTP/2.0\r\n\r\n", &cfg).version(), (2, 0));
    assert_eq!(ok_with(b"GET / HTTP/0.9\r\n\r\n", &cfg).version(), (0, 9));
}

#[test]
fn request_line_limit() {
    let cfg = ParserConfig::default();
    let line = |len: usize| format!("GET /{} HTTP/1.1", "a".repeat(len - 14));
    assert_eq!(line(4094).len(), 4094);
    ok(format!("{}\r\n\r\n", line(4094)).as_bytes());
    let e = err(format!("{}\r\n\r\n", line(4095)).as_bytes());
    assert_eq!((e.status(), e.class_name()), (414, "LimitRequestLine"));
    assert_eq!(
        parse_head(format!("{}\r\n\r\n", line(4095)).as_bytes(), &cfg),
        Err(ParseError::LimitRequestLine {
            size: 4095,
            max: 4094
        })
    );
    // Still incomplete: refused once no valid line can be that long.
    let pending = "a".repeat(4096);
    assert!(partial(pending.as_bytes(), &cfg));
    assert_eq!(
        parse_head(format!("{pending}a").as_bytes(), &cfg),
        Err(ParseError::LimitRequestLine {
            size: 4097,
            max: 4094
        })
    );
    // After a leading CRLF the line is measured the same.
    assert!(parse_head(format!("\r\n{}\r\n\r\n", line(4095)).as_bytes(), &cfg).is_err());
    // gunicorn caps the setting at 8190, and reads 0 as unlimited.
    let capped = ParserConfig {
        limits: Limits {
            request_line: 10_000,
            ..Limits::default()
        },
        ..ParserConfig::default()
    };
    ok_with(format!("{}\r\n\r\n", line(8190)).as_bytes(), &capped);
    assert!(parse_head(format!("{}\r\n\r\n", line(8191)).as_bytes(), &capped).is_err());
    let unlimited = ParserConfig {
        limits: Limits {
            request_line: 0,
            ..Limits::default()
        },
        ..ParserConfig::default()
    };
    assert!(matches!(
        parse_head(format!("{}\r\n\r\n", line(100_000)).as_bytes(), &unlimited),
        Ok(Parsed::Complete { .. })
    ));
    assert!(parse_head(&vec![b'a'; UNLIMITED_REQUEST_LINE + 3], &unlimited).is_err());
}

#[test]
fn field_limits() {
    let many = |n: usize| {
        let mut s = String::from("GET / HTTP/1.1\r\n");
        for i in 0..n {
            s.push_str(&format!("X-{i}: v\r\n"));
        }
        s + "\r\n"
    };
    assert_eq!(ok(many(100).as_bytes()).headers().count(), 100);
    assert_eq!(
        err(many(101).as_bytes()),
        ParseError::LimitRequestHeaders("limit request headers fields")
    );
    assert_eq!(err(many(101).as_bytes()).status(), 431);

    // 8190 bytes with CRLF is the largest field.
    let field = |len: usize| format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "v".repeat(len - 5));
    ok(field(8190).as_bytes());
    assert_eq!(
        err(field(8191).as_bytes()),
        ParseError::LimitRequestHeaders("limit request headers fields size")
    );
}

#[test]
fn header_buffer_limit_while_incomplete() {
    // 2 fields of 10 bytes: 2 * (10 + 2) + 4 = 28 bytes of header section at most.
    let cfg = ParserConfig {
        limits: Limits {
            fields: 2,
            field_size: 10,
            ..Limits::default()
        },
        ..ParserConfig::default()
    };
    assert_eq!(cfg.limits.header_buffer_max(), 28);
    let line = b"GET / HTTP/1.1\r\n";
    let at = |n: usize| [&line[..], &vec![b'a'; n]].concat();
    assert!(partial(&at(28), &cfg));
    assert_eq!(
        parse_head(&at(29), &cfg),
        Err(ParseError::LimitRequestHeaders("max buffer headers"))
    );
    assert_eq!(err_with(&at(29), &cfg).status(), 431);
    // A bare LF seen before the limit is reported as such.
    let mut bare = at(29);
    bare[line.len() + 5] = b'\n';
    assert_eq!(
        err_with(&bare, &cfg),
        ParseError::InvalidHeader("bare LF as line terminator".into())
    );
    // Complete but longer than the buffer limit: refused the same way.
    let long = [&line[..], b"A: 1\r\nB: 2\r\nX_Y: 12345678\r\n\r\n"].concat();
    assert_eq!(
        err_with(&long, &cfg),
        ParseError::LimitRequestHeaders("max buffer headers")
    );
}

#[test]
fn folding() {
    let input = b"GET / HTTP/1.1\r\nLong: one\r\n two\r\nHost: h\r\n\r\n";
    assert_eq!(err(input), ParseError::ObsoleteFolding("LONG".into()));
    let cfg = ParserConfig {
        permit_obsolete_folding: true,
        ..ParserConfig::default()
    };
    let head = ok_with(input, &cfg);
    assert_eq!(
        headers(&head),
        [
            ("Long".into(), "one two".into()),
            ("Host".into(), "h".into())
        ]
    );
    // A first line starting with a blank is no continuation: a bad name.
    assert_eq!(
        err_with(b"GET / HTTP/1.1\r\n A: b\r\n\r\n", &cfg),
        ParseError::InvalidHeaderName(" A".into())
    );
}

#[test]
fn header_line_errors() {
    assert_eq!(
        err(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"),
        ParseError::InvalidHeader("Bad Header".into())
    );
    assert_eq!(
        err(b"GET / HTTP/1.1\r\nName : v\r\n\r\n"),
        ParseError::InvalidHeaderName("Name ".into())
    );
    let cfg = ParserConfig {
        strip_header_spaces: true,
        ..ParserConfig::default()
    };
    assert_eq!(
        headers(&ok_with(b"GET / HTTP/1.1\r\nName : v\r\n\r\n", &cfg)),
        [("Name".into(), "v".into())]
    );
    assert_eq!(
        err(b"GET / HTTP/1.1\r\nA: \x01\r\n\r\n"),
        ParseError::InvalidHeader("A".into())
    );
    let head = ok(b"GET / HTTP/1.1\r\nX: caf\xc3\xa9 \t\r\n\r\n");
    assert_eq!(head.header(b"x"), Some(&b"caf\xc3\xa9"[..]));
}

#[test]
fn singleton_fields() {
    assert_eq!(
        err(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
        ParseError::InvalidHeader("HOST".into())
    );
    assert_eq!(
        err(b"GET / HTTP/1.1\r\nContent-Type: a\r\ncontent-type: b\r\n\r\n"),
        ParseError::InvalidHeader("CONTENT-TYPE".into())
    );
    assert_eq!(
        err(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"),
        ParseError::InvalidHeader("CONTENT-LENGTH".into())
    );
}

fn body_of(fields: &str) -> Result<(BodyKind, bool), ParseError> {
    body_of_version(fields, "1.1")
}

fn body_of_version(fields: &str, version: &str) -> Result<(BodyKind, bool), ParseError> {
    let input = format!("POST / HTTP/{version}\r\n{fields}\r\n");
    match outcome(input.as_bytes(), &ParserConfig::default()) {
        Ok(Parsed::Complete { head, .. }) => Ok((head.body_kind(), head.wants_keep_alive())),
        Ok(Parsed::Partial) => panic!("partial"),
        Err(e) => Err(e),
    }
}

#[test]
fn content_length() {
    let bad_cl = Err(ParseError::InvalidHeader("CONTENT-LENGTH".into()));
    assert_eq!(
        body_of("Content-Length: 0\r\n"),
        Ok((BodyKind::Empty, true))
    );
    assert_eq!(
        body_of("Content-Length: 007\r\n"),
        Ok((BodyKind::Length(7), true))
    );
    assert_eq!(
        body_of("Content-Length: 18446744073709551615\r\n"),
        Ok((BodyKind::Length(u64::MAX), true))
    );
    for bad in [
        "18446744073709551616",
        "1a",
        "+1",
        "-1",
        "",
        "1 2",
        "0x10",
        "\u{b2}",
    ] {
        let fields: String = format!("Content-Length: {bad}\r\n");
        let bytes: Vec<u8> = fields.chars().map(|c| c as u8).collect();
        assert_eq!(
            body_of(&latin1(&bytes)).map(|_| ()),
            bad_cl.clone().map(|_: (BodyKind, bool)| ()),
            "{bad:?}"
        );
    }
    // Underscore twins are dropped before framing is decided (corpus case 040).
    assert_eq!(
        body_of("Content_Length: -1\r\nContent-Length: 3\r\n"),
        Ok((BodyKind::Length(3), true))
    );
}

#[test]
fn transfer_encoding() {
    let bad_te = Err(ParseError::InvalidHeader("TRANSFER-ENCODING".into()));
    assert_eq!(
        body_of("Transfer-Encoding: chunked\r\n"),
        Ok((BodyKind::Chunked, true))
    );
    assert_eq!(
        body_of("Transfer-Encoding: Chunked\r\n"),
        Ok((BodyKind::Chunked, true))
    );
    assert_eq!(
        body_of("Transfer-Encoding: identity, chunked\r\n"),
        Ok((BodyKind::Chunked, true))
    );
    // Compressing codings are allowed before chunked but close the connection.
    assert_eq!(
        body_of("Transfer-Encoding: gzip, chunked\r\n"),
        Ok((BodyKind::Chunked, false))
    );
    assert_eq!(
        body_of("Transfer-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n"),
        Ok((BodyKind::Chunked, false))
    );
    assert_eq!(body_of("Transfer-Encoding: chunked, gzip\r\n"), bad_te);
    assert_eq!(body_of("Transfer-Encoding: chunked, identity\r\n"), bad_te);
    assert_eq!(body_of("Transfer-Encoding: chunked, chunked\r\n"), bad_te);
    assert_eq!(
        body_of("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
        bad_te
    );
    assert_eq!(body_of("Transfer-Encoding: gzip\r\n"), bad_te);
    assert_eq!(
        body_of("Transfer-Encoding: identity\r\nContent-Length: 3\r\n"),
        bad_te
    );
    let unsupported = |v: &str| Err(ParseError::UnsupportedTransferCoding(v.into()));
    assert_eq!(body_of("Transfer-Encoding: foo\r\n"), unsupported("foo"));
    assert_eq!(
        body_of("Transfer-Encoding: chunked, foo\r\n"),
        unsupported("chunked, foo")
    );
    assert_eq!(
        body_of("Transfer-Encoding: chunked,\r\n"),
        unsupported("chunked,")
    );
    assert_eq!(
        err(b"POST / HTTP/1.1\r\nTransfer-Encoding: foo\r\n\r\n").status(),
        501
    );
    // TE with CL, or on HTTP/1.0.
    assert_eq!(
        body_of("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n"),
        Err(ParseError::InvalidHeader("CONTENT-LENGTH".into()))
    );
    assert_eq!(
        body_of_version("Transfer-Encoding: chunked\r\n", "1.0"),
        bad_te
    );
    // First problem in header order wins.
    assert_eq!(
        body_of("Content-Length: 1\r\nContent-Length: 2\r\nTransfer-Encoding: foo\r\n"),
        Err(ParseError::InvalidHeader("CONTENT-LENGTH".into()))
    );
    assert_eq!(
        body_of("Transfer-Encoding: foo\r\nContent-Length: 1\r\nContent-Length: 2\r\n"),
        unsupported("foo")
    );
    // Header errors come before framing errors.
    assert_eq!(
        body_of("Transfer-Encoding: foo\r\nBad Line\r\n"),
        Err(ParseError::InvalidHeader("Bad Line".into()))
    );
}

#[test]
fn expect_header() {
    let head = ok(b"POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n");
    assert!(head.expects_continue());
    assert!(!ok(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expects_continue());
    let e = err(b"GET / HTTP/1.1\r\nExpect: foo\r\n\r\n");
    assert_eq!(
        (e.clone(), e.status()),
        (ParseError::ExpectationFailed("foo".into()), 417)
    );
    assert_eq!(err(b"GET / HTTP/1.0\r\nExpect: foo\r\n\r\n").status(), 417);
}

#[test]
fn keep_alive() {
    let ka = |input: &[u8]| ok(input).wants_keep_alive();
    assert!(ka(b"GET / HTTP/1.1\r\n\r\n"));
    assert!(!ka(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
    assert!(!ka(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n"));
    assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"));
    assert!(ka(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    assert!(!ka(b"GET / HTTP/1.0\r\nConnection: keep-alive, x\r\n\r\n"));
    // Only the first Connection field counts.
    assert!(ka(
        b"GET / HTTP/1.1\r\nConnection: upgrade\r\nConnection: close\r\n\r\n"
    ));
    assert!(ka(b"GET / HTTP/1.5\r\n\r\n"));
    assert!(!ka(
        b"CONNECT h:1 HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"
    ));
}

#[test]
fn underscore_names() {
    let input = b"GET / HTTP/1.1\r\nX_A: 1\r\nScript_Name: /p\r\nPATH_INFO: /i\r\nX-B: 2\r\n\r\n";
    let names = |cfg: &ParserConfig| {
        ok_with(input, cfg)
            .headers()
            .map(|h| latin1(h.name))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&ParserConfig::default()), ["X-B"]);
    let trusted = ParserConfig {
        peer_trusted: true,
        ..ParserConfig::default()
    };
    assert_eq!(names(&trusted), ["Script_Name", "PATH_INFO", "X-B"]);
    let dangerous = ParserConfig {
        header_map: HeaderMap::Dangerous,
        ..ParserConfig::default()
    };
    assert_eq!(
        names(&dangerous),
        ["X_A", "Script_Name", "PATH_INFO", "X-B"]
    );
    let refuse = ParserConfig {
        header_map: HeaderMap::Refuse,
        ..trusted.clone()
    };
    assert_eq!(
        err_with(input, &refuse),
        ParseError::InvalidHeaderName("X_A".into())
    );
    let everything = ParserConfig {
        forwarder_headers: vec!["*".into()],
        ..refuse
    };
    assert_eq!(names(&everything).len(), 4);
}

#[test]
fn pipelined_heads() {
    let input = b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n";
    let cfg = ParserConfig::default();
    let mut parser = HeadParser::new();
    let Ok(Parsed::Complete { head, consumed }) = parser.parse(input, &cfg) else {
        panic!()
    };
    assert_eq!((head.uri(), consumed), (&b"/1"[..], 19));
    // The parser starts afresh after a complete head.
    let Ok(Parsed::Complete { head, consumed }) = parser.parse(&input[consumed..], &cfg) else {
        panic!()
    };
    assert_eq!((head.uri(), consumed), (&b"/2"[..], 28));
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Random and mutated heads never panic and give the same outcome for
/// every split.
#[test]
fn fuzz_never_panics_and_ignores_splits() {
    const SEEDS: [&[u8]; 4] = [
        b"GET /a?b#c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n",
        b"\r\nPOST http://[::1]:80/ HTTP/1.0\r\nTransfer-Encoding: gzip, chunked\r\nX_Y: z\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nExpect: 100-continue\r\nA: b\r\n c\r\n\r\n",
        b"CONNECT h:1 HTTP/1.1\r\nConnection: close\r\n\r\n",
    ];
    const ALPHABET: &[u8] = b"\r\n :;/?#*_-AaZz09\t\x00\x7f\xff[]%\",=HTTP/1.";
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let configs = [
        ParserConfig::default(),
        ParserConfig {
            limits: Limits {
                request_line: 20,
                fields: 3,
                field_size: 16,
            },
            permit_obsolete_folding: true,
            strip_header_spaces: true,
            header_map: HeaderMap::Refuse,
            permit_unconventional_http_method: true,
            permit_unconventional_http_version: true,
            casefold_http_method: true,
            peer_trusted: true,
            ..ParserConfig::default()
        },
    ];
    for round in 0..3000 {
        let mut input = SEEDS[round % SEEDS.len()].to_vec();
        if round % 5 == 0 {
            input = (0..rng.below(80))
                .map(|_| ALPHABET[rng.below(ALPHABET.len())])
                .collect();
        }
        for _ in 0..rng.below(4) {
            let at = rng.below(input.len() + 1);
            match rng.below(3) {
                0 => input.insert(at, ALPHABET[rng.below(ALPHABET.len())]),
                1 if at < input.len() => {
                    input.remove(at);
                }
                _ if at < input.len() => input[at] = rng.next() as u8,
                _ => {}
            }
        }
        let _ = outcome(&input, &configs[round % 2]);
    }
}

#[test]
fn incremental_parser_survives_a_shrinking_buffer() {
    let cfg = ParserConfig::default();
    let mut parser = HeadParser::new();
    assert_eq!(
        parser.parse(b"GET /long/path HTTP/1.1\r\nHost: aaaa", &cfg),
        Ok(Parsed::Partial)
    );
    // Misuse: a different, shorter buffer. The parser starts over.
    let Ok(Parsed::Complete { head, .. }) = parser.parse(b"GET / HTTP/1.1\r\n\r\n", &cfg) else {
        panic!()
    };
    assert_eq!(head.uri(), b"/");
}

#[test]
fn field_list_is_sized_by_the_limit_not_by_the_line_count() {
    // 2000 underscore fields are dropped, so the head passes a 100-field
    // limit: the list must not have been sized for 2000 lines.
    let mut input = b"GET / HTTP/1.1\r\n".to_vec();
    for _ in 0..2000 {
        input.extend_from_slice(b"X_Y: 1\r\n");
    }
    input.extend_from_slice(b"Host: x\r\n\r\n");
    let cfg = ParserConfig::default();
    let Ok(Parsed::Complete { head, .. }) = parse_head(&input, &cfg) else {
        panic!()
    };
    assert_eq!(head.fields.len(), 1);
    assert!(head.fields.capacity() <= 100, "{}", head.fields.capacity());
}

#[test]
fn request_line_is_judged_once_across_reads() {
    let cfg = ParserConfig::default();
    let mut parser = HeadParser::new();
    let input = b"GET /a?b HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n";
    assert_eq!(parser.parse(&input[..25], &cfg), Ok(Parsed::Partial));
    // Kept from the first read: where the method, target and version are.
    let Some((len, line)) = &parser.line else {
        panic!("request line not kept")
    };
    assert_eq!(
        (*len, line.method.clone(), line.version),
        (17, 0..3, (1, 1))
    );
    assert_eq!(parser.parse(&input[..33], &cfg), Ok(Parsed::Partial));
    let Ok(Parsed::Complete { head, consumed }) = parser.parse(input, &cfg) else {
        panic!()
    };
    assert_eq!(
        (head.method(), head.path(), head.query()),
        ("GET", &b"/a"[..], &b"b"[..])
    );
    assert_eq!(consumed, input.len());
    assert!(parser.line.is_none(), "a complete head resets the parser");
}

#[test]
fn scheme_from_trusted_secure_scheme_headers() {
    let trusted = ParserConfig {
        peer_trusted: true,
        ..ParserConfig::default()
    };
    let head = |fields: &str, cfg: &ParserConfig| {
        outcome(format!("GET / HTTP/1.1\r\n{fields}\r\n").as_bytes(), cfg)
    };
    let scheme = |fields: &str, cfg: &ParserConfig| match head(fields, cfg) {
        Ok(Parsed::Complete { head, .. }) => head.scheme(),
        other => panic!("{fields:?}: {other:?}"),
    };
    // Checked against gunicorn 27.0.1 with the default settings.
    for (fields, want) in [
        ("", "http"),
        ("X-Forwarded-Proto: https\r\n", "https"),
        ("x-forwarded-proto: https\r\n", "https"),
        ("X-Forwarded-Proto:  https \r\n", "https"),
        ("X-Forwarded-Protocol: ssl\r\n", "https"),
        ("X-Forwarded-Ssl: on\r\n", "https"),
        // Values are compared exactly.
        ("X-Forwarded-Proto: HTTPS\r\n", "http"),
        ("X-Forwarded-Proto: https,http\r\n", "http"),
        // Underscore names are not the configured names (and are dropped).
        ("X_Forwarded_Proto: https\r\n", "http"),
        // Agreeing headers are fine, whatever their values.
        (
            "X-Forwarded-Proto: https\r\nX-Forwarded-Proto: https\r\n",
            "https",
        ),
        (
            "X-Forwarded-Proto: http\r\nX-Forwarded-Ssl: off\r\n",
            "http",
        ),
        (
            "X-Forwarded-Proto: http\r\nX-Forwarded-Proto: wss\r\n",
            "http",
        ),
    ] {
        assert_eq!(scheme(fields, &trusted), want, "{fields:?}");
        // An untrusted peer's headers mean nothing, contradictory or not.
        assert_eq!(scheme(fields, &ParserConfig::default()), "http");
    }
    for fields in [
        "X-Forwarded-Proto: https\r\nX-Forwarded-Ssl: off\r\n",
        "X-Forwarded-Ssl: on\r\nX-FORWARDED-PROTO: http\r\n",
        "X-Forwarded-Proto: https\r\nX-Forwarded-Proto: http\r\n",
    ] {
        assert_eq!(
            head(fields, &trusted),
            Err(ParseError::InvalidSchemeHeaders),
            "{fields:?}"
        );
        assert_eq!(scheme(fields, &ParserConfig::default()), "http");
    }
    // The contradiction is found in field order: before a later bad field.
    assert_eq!(
        head(
            "X-Forwarded-Proto: https\r\nX-Forwarded-Ssl: no\r\nBad Name: x\r\n",
            &trusted
        ),
        Err(ParseError::InvalidSchemeHeaders)
    );
    // Configured names are used as written; no headers, no scheme.
    let custom = ParserConfig {
        secure_scheme_headers: vec![("X-SCHEME".into(), "Secure".into())],
        ..trusted.clone()
    };
    assert_eq!(scheme("x-scheme: Secure\r\n", &custom), "https");
    assert_eq!(scheme("X-Forwarded-Proto: https\r\n", &custom), "http");
    let none = ParserConfig {
        secure_scheme_headers: Vec::new(),
        ..trusted
    };
    assert_eq!(scheme("X-Forwarded-Proto: https\r\n", &none), "http");
    assert_eq!(
        ParserConfig::default().secure_scheme_headers,
        [
            ("X-FORWARDED-PROTOCOL".to_owned(), "ssl".to_owned()),
            ("X-FORWARDED-PROTO".to_owned(), "https".to_owned()),
            ("X-FORWARDED-SSL".to_owned(), "on".to_owned()),
        ]
    );
}
