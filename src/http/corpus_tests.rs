//! gunicorn 27.0.1's valid-request corpus (`tests/data/http-corpus/valid`),
//! replayed through the head parser and body decoder the way a connection
//! would: whole, byte by byte, and in a few fixed chunk sizes.

use super::ParseError;
use super::body::BodyDecoder;
use super::error::latin1;
use super::parser::{HeadParser, HeaderMap, Parsed, ParserConfig, RequestHead, parse_head};
use super::proxy::{self, Detected, ProxyMode};
use serde_json::Value;
use std::path::PathBuf;

/// Split sizes tried for every case; 0 means "whole".
const SPLITS: [usize; 7] = [0, 1, 2, 3, 7, 64, 1000];

#[derive(Debug, PartialEq)]
struct Request {
    method: String,
    uri: String,
    path: String,
    query: String,
    fragment: String,
    version: (u8, u8),
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    trailers: Vec<(String, String)>,
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/http-corpus/valid")
}

/// The `.json` cases of one corpus directory, sorted by file name.
fn case_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("corpus directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// One corpus case, read and set up for replay.
struct Case {
    json: Value,
    name: String,
    cfg: ParserConfig,
    proxy: ProxyMode,
    raw: Vec<u8>,
}

impl Case {
    fn load(path: &std::path::Path) -> Case {
        let json: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("read case")).expect("json");
        let name = json["name"].as_str().expect("name").to_owned();
        Case {
            cfg: config_for(&name, &json["settings"]),
            proxy: proxy_mode(&json["settings"]),
            raw: base64_decode(json["raw_b64"].as_str().expect("raw_b64")),
            json,
            name,
        }
    }
}

#[test]
fn valid_corpus_parses_in_every_split() {
    let files = case_files(&corpus_dir());
    assert_eq!(files.len(), 62, "the corpus README counts 62 valid cases");

    let mut passed = 0;
    for path in &files {
        let Case {
            json: case,
            name,
            cfg,
            proxy,
            raw,
        } = Case::load(path);
        let want = expected(&case["expect"]);
        for split in SPLITS {
            let got = replay(&raw, &cfg, proxy, split)
                .unwrap_or_else(|e| panic!("{name} split {split}: {e}"));
            assert_eq!(got, want, "{name} split {split}");
        }
        passed += 1;
    }
    assert_eq!(passed, files.len());
}

/// gunicorn 27.0.1's invalid-request corpus (`tests/data/http-corpus/invalid`):
/// in every split the parser and body decoder stop with gunicorn's error
/// class, answered with gunicorn's status, before any request is complete.
#[test]
fn invalid_corpus_fails_with_gunicorns_error_in_every_split() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/http-corpus/invalid");
    let files = case_files(&dir);
    assert_eq!(files.len(), 81, "gunicorn 27.0.1 ships 81 invalid cases");
    for path in &files {
        let Case {
            json: case,
            name,
            cfg,
            proxy,
            raw,
        } = Case::load(path);
        let class = case["expect_error"].as_str().expect("expect_error");
        let status = case["expect_status"].as_u64();
        for split in SPLITS {
            let mut requests = Vec::new();
            let got = replay_until_error(&raw, &cfg, proxy, split, &mut requests);
            let Err(e) = got else {
                panic!("{name} split {split}: accepted {requests:?}")
            };
            assert_eq!(e.class_name(), class, "{name} split {split}: {e}");
            let answered = e.responds().then(|| u64::from(e.status()));
            assert_eq!(answered, status, "{name} split {split}: {e}");
            assert!(
                requests.is_empty(),
                "{name} split {split}: {} requests before the error",
                requests.len()
            );
        }
    }
}

/// The corpus sets `proxy_protocol` to True, which gunicorn reads as auto.
fn proxy_mode(settings: &Value) -> ProxyMode {
    match settings["proxy_protocol"] {
        Value::Bool(true) => ProxyMode::Auto,
        _ => ProxyMode::Off,
    }
}

/// Apply a case's gunicorn settings. The corpus assumes no peer address,
/// which gunicorn trusts like a UNIX-socket peer.
fn config_for(name: &str, settings: &Value) -> ParserConfig {
    let mut cfg = ParserConfig {
        peer_trusted: true,
        ..ParserConfig::default()
    };
    let Some(map) = settings.as_object() else {
        panic!("{name}: settings is not an object")
    };
    for (key, value) in map {
        let flag = || {
            value
                .as_bool()
                .unwrap_or_else(|| panic!("{name}: {key} is not a bool"))
        };
        let number = || {
            value
                .as_u64()
                .unwrap_or_else(|| panic!("{name}: {key} is not a number")) as usize
        };
        match key.as_str() {
            "permit_obsolete_folding" => cfg.permit_obsolete_folding = flag(),
            "strip_header_spaces" => cfg.strip_header_spaces = flag(),
            "permit_unconventional_http_method" => cfg.permit_unconventional_http_method = flag(),
            "permit_unconventional_http_version" => cfg.permit_unconventional_http_version = flag(),
            "casefold_http_method" => cfg.casefold_http_method = flag(),
            "limit_request_line" => cfg.limits.request_line = number(),
            "limit_request_fields" => cfg.limits.fields = number(),
            "limit_request_field_size" => cfg.limits.field_size = number(),
            "header_map" => {
                cfg.header_map = match value.as_str() {
                    Some("drop") => HeaderMap::Drop,
                    Some("refuse") => HeaderMap::Refuse,
                    Some("dangerous") => HeaderMap::Dangerous,
                    other => panic!("{name}: header_map {other:?}"),
                }
            }
            // Peers are trusted already (see above).
            "forwarded_allow_ips" => {}
            // Read by the caller: the header comes before the parser's input.
            "proxy_protocol" => {}
            other => panic!("{name}: setting {other} not mapped to ParserConfig"),
        }
    }
    cfg
}

fn expected(expect: &Value) -> Vec<Request> {
    let pairs = |v: &Value| -> Vec<(String, String)> {
        v.as_array()
            .expect("pair list")
            .iter()
            .map(|p| {
                (
                    p[0].as_str().expect("name").to_owned(),
                    p[1].as_str().expect("value").to_owned(),
                )
            })
            .collect()
    };
    let text = |v: &Value| v.as_str().expect("string").to_owned();
    expect
        .as_array()
        .expect("expect list")
        .iter()
        .map(|e| Request {
            method: text(&e["method"]),
            uri: text(&e["uri"]),
            path: text(&e["path"]),
            query: text(&e["query"]),
            fragment: text(&e["fragment"]),
            version: (
                e["version"][0].as_u64().expect("major") as u8,
                e["version"][1].as_u64().expect("minor") as u8,
            ),
            headers: pairs(&e["headers"]),
            body: base64_decode(e["body_b64"].as_str().expect("body_b64")),
            trailers: pairs(&e["trailers"]),
        })
        .collect()
}

/// Feed `raw` in pieces of `split` bytes (0: all at once) as a keep-alive
/// connection would, until it closes or the input ends between requests.
fn replay(
    raw: &[u8],
    cfg: &ParserConfig,
    proxy: ProxyMode,
    split: usize,
) -> Result<Vec<Request>, String> {
    let mut requests = Vec::new();
    match replay_until_error(raw, cfg, proxy, split, &mut requests) {
        Ok(()) => Ok(requests),
        Err(e) => Err(format!(
            "{} after {} requests: {e}",
            e.class_name(),
            requests.len()
        )),
    }
}

/// [`replay`], pushing each request read to `requests` and stopping at the
/// first error, as gunicorn's `RequestParser` does.
fn replay_until_error(
    raw: &[u8],
    cfg: &ParserConfig,
    proxy: ProxyMode,
    split: usize,
    requests: &mut Vec<Request>,
) -> Result<(), ParseError> {
    let mut pieces = raw.chunks(if split == 0 { raw.len().max(1) } else { split });
    let mut buf = Vec::new();
    // A PROXY header, if any, comes first and only once.
    loop {
        let found = proxy::detect(&buf, proxy);
        if found == Detected::Plain {
            break;
        }
        if let Some((_, used)) = proxy::parse(&buf, found)? {
            buf.drain(..used);
            break;
        }
        match pieces.next() {
            Some(piece) => buf.extend_from_slice(piece),
            None if buf.is_empty() => return Ok(()),
            None => return Err(ParseError::NoMoreData),
        }
    }
    loop {
        // Byte by byte exercises the incremental parser, the rest the stateless one.
        let mut incremental = HeadParser::new();
        let head = loop {
            let parsed = if split == 1 {
                incremental.parse(&buf, cfg)?
            } else {
                parse_head(&buf, cfg)?
            };
            match parsed {
                Parsed::Complete { head, consumed } => {
                    buf.drain(..consumed);
                    break head;
                }
                Parsed::Partial => match pieces.next() {
                    Some(piece) => buf.extend_from_slice(piece),
                    // The input ends between requests: the connection is over.
                    None if buf.is_empty() => return Ok(()),
                    // Inside a head: the peer went away mid-request.
                    None => return Err(ParseError::NoMoreData),
                },
            }
        };
        let mut decoder = BodyDecoder::with_config(head.body_kind(), cfg);
        let mut body = Vec::new();
        loop {
            let used = decoder.decode(&buf, &mut body)?;
            buf.drain(..used);
            if decoder.is_done() {
                break;
            }
            match pieces.next() {
                Some(piece) => buf.extend_from_slice(piece),
                None => {
                    // gunicorn gives the application a short Content-Length body.
                    decoder.finish_at_eof()?;
                    break;
                }
            }
        }
        let trailers = decoder
            .trailers()
            .iter()
            .map(|(n, v)| (latin1(n).to_ascii_uppercase(), latin1(v)))
            .collect();
        requests.push(summary(&head, body, trailers));
        if !head.wants_keep_alive() {
            return Ok(());
        }
    }
}

fn summary(head: &RequestHead, body: Vec<u8>, trailers: Vec<(String, String)>) -> Request {
    Request {
        method: head.method().to_owned(),
        uri: latin1(head.uri()),
        path: latin1(head.path()),
        query: latin1(head.query()),
        fragment: latin1(head.fragment()),
        version: head.version(),
        headers: head
            .headers()
            .map(|h| (latin1(h.name).to_ascii_uppercase(), latin1(h.value)))
            .collect(),
        body,
        trailers,
    }
}

/// Standard base64 with padding, as Python's `b64encode` writes it.
pub(super) fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    for quad in text.as_bytes().chunks(4) {
        let data: Vec<u8> = quad.iter().copied().filter(|&c| c != b'=').collect();
        let bits = data.iter().fold(0u32, |acc, &c| acc << 6 | value(c)) << (6 * (4 - data.len()));
        let bytes = bits.to_be_bytes();
        out.extend_from_slice(&bytes[1..data.len()]);
    }
    out
}

/// The inverse of [`base64_decode`].
pub(super) fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for group in data.chunks(3) {
        let bits =
            group.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b)) << (8 * (3 - group.len()));
        for i in 0..4 {
            let c = if i <= group.len() {
                ALPHABET[(bits >> (18 - 6 * i) & 63) as usize]
            } else {
                b'='
            };
            out.push(char::from(c));
        }
    }
    out
}

#[test]
fn base64_round_trip() {
    for data in [&b""[..], b"a", b"ab", b"abc", b"abcd", b"\x00\xff\x10"] {
        assert_eq!(base64_decode(&base64_encode(data)), data);
    }
    assert_eq!(base64_encode(b"{\"nom\": \"nom\"}"), "eyJub20iOiAibm9tIn0=");
}

#[test]
fn base64_decoder() {
    assert_eq!(base64_decode(""), b"");
    assert_eq!(base64_decode("eyJub20iOiAibm9tIn0="), b"{\"nom\": \"nom\"}");
    assert_eq!(base64_decode("YQ=="), b"a");
    assert_eq!(base64_decode("YWI="), b"ab");
    assert_eq!(base64_decode("YWJj"), b"abc");
}
