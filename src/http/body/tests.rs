use super::*;

/// What decoding `input` gives: body, bytes consumed and trailers, or the
/// error (at EOF: what `finish_at_eof` says).
type Outcome = Result<(Vec<u8>, usize, Vec<(Vec<u8>, Vec<u8>)>), ParseError>;

fn run(kind: BodyKind, cfg: &ParserConfig, pieces: &[&[u8]]) -> Outcome {
    let mut decoder = BodyDecoder::with_config(kind, cfg);
    let mut body = Vec::new();
    let mut consumed = 0;
    for piece in pieces {
        let used = decoder.decode(piece, &mut body)?;
        consumed += used;
        if decoder.is_done() {
            return Ok((body, consumed, decoder.trailers().to_vec()));
        }
        assert_eq!(
            used,
            piece.len(),
            "a decoder that is not done takes everything"
        );
    }
    decoder.finish_at_eof()?;
    Ok((body, consumed, decoder.trailers().to_vec()))
}

/// Decode `input` whole, then check every two-piece split, byte by byte and
/// a few uneven splits give exactly the same outcome.
fn decode_with(kind: BodyKind, cfg: &ParserConfig, input: &[u8]) -> Outcome {
    let whole = run(kind, cfg, &[input]);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(run(kind, cfg, &bytes), whole, "byte by byte");
    for at in 0..=input.len() {
        assert_eq!(
            run(kind, cfg, &[&input[..at], &input[at..]]),
            whole,
            "split at {at}"
        );
    }
    for size in [2, 3, 7] {
        let pieces: Vec<&[u8]> = input.chunks(size).collect();
        assert_eq!(run(kind, cfg, &pieces), whole, "pieces of {size}");
    }
    whole
}

fn chunked(input: &[u8]) -> Outcome {
    decode_with(BodyKind::Chunked, &ParserConfig::default(), input)
}

fn body(input: &[u8]) -> Vec<u8> {
    chunked(input).expect("valid chunked body").0
}

fn size_err(bytes: &[u8]) -> Outcome {
    Err(ParseError::InvalidChunkSize(bytes.to_vec()))
}

#[test]
fn length_bodies() {
    let cfg = ParserConfig::default();
    assert_eq!(
        decode_with(BodyKind::Length(5), &cfg, b"helloNEXT"),
        Ok((b"hello".to_vec(), 5, vec![]))
    );
    assert_eq!(
        decode_with(BodyKind::Empty, &cfg, b"NEXT"),
        Ok((vec![], 0, vec![]))
    );
    // Cut short: gunicorn serves what arrived.
    assert_eq!(
        decode_with(BodyKind::Length(9), &cfg, b"hel"),
        Ok((b"hel".to_vec(), 3, vec![]))
    );
    let mut decoder = BodyDecoder::new(BodyKind::Length(9), &Limits::default());
    assert_eq!(decoder.pending_data(), 9);
    assert_eq!(decoder.decode(b"hel", &mut Vec::new()), Ok(3));
    assert_eq!(
        (decoder.pending_data(), decoder.eof_error()),
        (6, ParseError::NoMoreData)
    );
    assert!(BodyDecoder::new(BodyKind::Length(0), &Limits::default()).is_done());
}

#[test]
fn chunked_bodies() {
    assert_eq!(
        chunked(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT"),
        Ok((b"hello world".to_vec(), 26, vec![]))
    );
    assert_eq!(body(b"0005\r\nhello\r\n0\r\n\r\n"), b"hello");
    assert_eq!(body(b"A\r\n0123456789\r\n0000\r\n\r\n"), b"0123456789");
    assert_eq!(body(b"a\r\n0123456789\r\n0\r\n\r\n"), b"0123456789");
    assert_eq!(body(b"0\r\n\r\n"), b"");
    // A lone CRLF after the last chunk ends the body; what follows is the next request's.
    assert_eq!(chunked(b"0\r\n\r\n\r\n").map(|o| o.1), Ok(5));
}

#[test]
fn chunk_extensions() {
    for ok in [
        &b"5;foo=\"bar baz\"\r\nhello\r\n0\r\n\r\n"[..],
        b"5;a\r\nhello\r\n0\r\n\r\n",
        b"5 \t; a = b ;c;d=\"x\\\"y\\\\\"\r\nhello\r\n0\r\n\r\n",
        b"5;a=\"\xe9\"\r\nhello\r\n0;last=1\r\n\r\n",
    ] {
        assert_eq!(body(ok), b"hello", "{:?}", latin1_of(ok));
    }
    let invalid = Err(ParseError::InvalidChunkExtension("invalid chunk extension"));
    for bad in [
        &b"5;\r\n"[..],
        b"5;=b\r\n",
        b"5;a=\r\n",
        b"5;a b\r\n",
        b"5;a \r\n",
        b"5;a=\"unterminated\r\n",
        b"5;a=\"x\"y\r\n",
        b"5;a=b;\r\n",
        b"5;a=\"\x01\"\r\n",
        b"5;a\nb\r\n",
    ] {
        assert_eq!(chunked(bad), invalid, "{:?}", latin1_of(bad));
    }
    let bare_cr = Err(ParseError::InvalidChunkExtension("bare CR not allowed"));
    assert_eq!(chunked(b"5;a\rb\r\nhello\r\n0\r\n\r\n"), bare_cr);
    // gunicorn looks for a bare CR before it judges the size.
    assert_eq!(chunked(b"zz;\r\r\n"), bare_cr);
    assert_eq!(chunked(b"zz;=\r\n"), size_err(b"zz"));
}

fn latin1_of(b: &[u8]) -> String {
    super::super::error::latin1(b)
}

#[test]
fn chunk_size_errors() {
    assert_eq!(chunked(b"\r\n"), size_err(b""));
    assert_eq!(chunked(b"zz\r\n"), size_err(b"zz"));
    assert_eq!(chunked(b" 5\r\nhello\r\n0\r\n\r\n"), size_err(b" 5"));
    assert_eq!(chunked(b"5 \r\nhello\r\n0\r\n\r\n"), size_err(b"5 "));
    assert_eq!(chunked(b"-5\r\n"), size_err(b"-5"));
    assert_eq!(chunked(b"0x5\r\n"), size_err(b"0x5"));
    assert_eq!(chunked(b"5\r\r\n"), size_err(b"5\r"));
    assert_eq!(
        chunked(b"5\nhello\r\n"),
        Err(ParseError::InvalidChunkSize(b"5\nhello".to_vec()))
    );
    assert_eq!(
        chunked(b"10000000000000000\r\n"),
        size_err(b"10000000000000000")
    );
    assert_eq!(
        chunked(b"FFFFFFFFFFFFFFFF\r\n").unwrap_err(),
        ParseError::NoMoreData
    );
}

#[test]
fn chunk_size_line_limit() {
    let cfg = ParserConfig {
        limits: Limits {
            field_size: 10,
            ..Limits::default()
        },
        ..ParserConfig::default()
    };
    let decode = |input: &[u8]| decode_with(BodyKind::Chunked, &cfg, input);
    assert_eq!(
        decode(b"000000005\r\nhello\r\n0\r\n\r\n").map(|o| o.0),
        Ok(b"hello".to_vec())
    );
    let too_long = size_err(b"line over 10 bytes with no terminator");
    assert_eq!(decode(b"0000000005\r\nhello\r\n0\r\n\r\n"), too_long);
    assert_eq!(decode(b"00000000000"), too_long);
    assert_eq!(decode(b"0000000000"), Err(ParseError::NoMoreData));
}

#[test]
fn chunk_terminators() {
    let missing = |b: &[u8]| Err(ParseError::ChunkMissingTerminator(b.to_vec()));
    assert_eq!(chunked(b"5\r\nhelloXX0\r\n\r\n"), missing(b"XX"));
    assert_eq!(chunked(b"5\r\nhello\rX"), missing(b"\rX"));
    assert_eq!(chunked(b"5\r\nhello\n\r"), missing(b"\n\r"));
    // End of stream: mid-data or mid-size-line is NoMoreData; after the data,
    // or in the trailer section, the body is truncated (gunicorn 26.1+).
    assert_eq!(chunked(b"5\r\nhel"), Err(ParseError::NoMoreData));
    assert_eq!(chunked(b"5"), Err(ParseError::NoMoreData));
    assert_eq!(chunked(b"5\r\nhello"), missing(b""));
    assert_eq!(chunked(b"5\r\nhello\r"), missing(b"\r"));
    assert_eq!(chunked(b"5\r\nhello\r\n0\r\n"), missing(b""));
    assert_eq!(chunked(b"5\r\nhello\r\n0\r\nX: y\r\n"), missing(b""));
}

#[test]
fn trailers() {
    let got = chunked(b"5\r\nhello\r\n0\r\nX-T: v \r\nY:w\r\n\r\nNEXT").unwrap();
    assert_eq!(
        got.2,
        [
            (b"X-T".to_vec(), b"v".to_vec()),
            (b"Y".to_vec(), b"w".to_vec())
        ]
    );
    assert_eq!(got.1, 29);
    for name in [
        "Host",
        "Content-Length",
        "Transfer-Encoding",
        "Trailer",
        "Authorization",
        "TE",
    ] {
        let input = format!("0\r\n{name}: x\r\n\r\n");
        assert_eq!(
            chunked(input.as_bytes()),
            Err(ParseError::InvalidHeaderName(name.to_ascii_uppercase()))
        );
    }
    assert_eq!(
        chunked(b"0\r\nX_Y: 1\r\nZ: 2\r\n\r\n").unwrap().2,
        [(b"Z".to_vec(), b"2".to_vec())]
    );
    assert_eq!(
        chunked(b"0\r\nA: 1\r\n b\r\n\r\n"),
        Err(ParseError::ObsoleteFolding("A".into()))
    );
    assert_eq!(
        chunked(b"0\r\nBad\r\n\r\n"),
        Err(ParseError::InvalidHeader("Bad".into()))
    );
    let bare_lf = Err(ParseError::InvalidHeader(
        "bare LF as line terminator".into(),
    ));
    assert_eq!(chunked(b"0\r\n\n"), bare_lf);
    assert_eq!(chunked(b"0\r\nA: b\n\r\n"), bare_lf);
    // Trailers follow the parser settings given.
    let cfg = ParserConfig {
        header_map: HeaderMap::Refuse,
        ..ParserConfig::default()
    };
    assert_eq!(
        decode_with(BodyKind::Chunked, &cfg, b"0\r\nX_Y: 1\r\n\r\n"),
        Err(ParseError::InvalidHeaderName("X_Y".into()))
    );
}

#[test]
fn trailer_section_limit() {
    // fields 1, field size 6: 1 * (6 + 2) + 4 = 12 bytes of trailer section.
    let cfg = ParserConfig {
        limits: Limits {
            fields: 1,
            field_size: 6,
            ..Limits::default()
        },
        ..ParserConfig::default()
    };
    let decode = |input: &[u8]| decode_with(BodyKind::Chunked, &cfg, input);
    let too_large = Err(ParseError::LimitRequestHeaders(
        "limit request trailer section size",
    ));
    assert_eq!(decode(b"0\r\nAbcdefghijklm"), too_large);
    assert_eq!(
        decode(b"0\r\nAbcdefghijkl"),
        Err(ParseError::ChunkMissingTerminator(vec![]))
    );
    assert_eq!(decode(b"0\r\nA: 1\r\n\r\n").map(|o| o.2.len()), Ok(1));
    // 13 bytes: the terminator completes just in time, then the field is too long.
    let field_size = Err(ParseError::LimitRequestHeaders(
        "limit request headers fields size",
    ));
    assert_eq!(decode(b"0\r\nAb: 12345\r\n\r\n"), field_size);
    assert_eq!(decode(b"0\r\nAbc: 12345\r\n\r\n"), too_large);
}

#[test]
fn errors_are_sticky() {
    let mut decoder = BodyDecoder::new(BodyKind::Chunked, &Limits::default());
    let e = decoder.decode(b"zz\r\n", &mut Vec::new()).unwrap_err();
    assert_eq!(
        decoder.decode(b"5\r\nhello", &mut Vec::new()),
        Err(e.clone())
    );
    assert_eq!(decoder.eof_error(), e);
    assert!(!decoder.is_done());
}

/// Random chunked streams never panic and give one outcome for all splits.
#[test]
fn fuzz_chunked() {
    const PARTS: [&[u8]; 16] = [
        b"5", b"0", b"A", b"f", b"\r\n", b"\r", b"\n", b";", b"a=b", b"\"q\"", b" ", b"hello",
        b"X: y", b"Host: h", b"_", b"\x00",
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let cfg = ParserConfig {
        limits: Limits {
            fields: 2,
            field_size: 12,
            ..Limits::default()
        },
        ..ParserConfig::default()
    };
    for _ in 0..1500 {
        let input: Vec<u8> = (0..next(12))
            .flat_map(|_| PARTS[next(PARTS.len())].iter().copied())
            .collect();
        let _ = decode_with(BodyKind::Chunked, &cfg, &input);
    }
}

#[test]
fn trailers_never_touch_the_scheme() {
    // Even from a trusted peer, secure-scheme trailers are plain trailers.
    let cfg = ParserConfig {
        peer_trusted: true,
        ..ParserConfig::default()
    };
    let input = b"0\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Ssl: off\r\n\r\n";
    let (_, _, trailers) = decode_with(BodyKind::Chunked, &cfg, input).unwrap();
    assert_eq!(trailers.len(), 2);
}
