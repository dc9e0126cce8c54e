//! Differential check against gunicorn 27.0.1: random inputs whose outcome
//! gunicorn's own parser recorded (`tests/data/http-diff`, see its README)
//! must give exactly the same requests, or the same error class.

use super::body::BodyDecoder;
use super::corpus_tests::{base64_decode, base64_encode};
use super::error::latin1;
use super::parser::{HeaderMap, Parsed, ParserConfig, parse_head};
use serde_json::{Value, json};
use std::path::PathBuf;

/// The gunicorn settings each case file was recorded with.
fn profile(name: &str) -> ParserConfig {
    let mut cfg = ParserConfig {
        peer_trusted: true,
        ..ParserConfig::default()
    };
    match name {
        "default" => {}
        "small" => {
            cfg.limits.request_line = 30;
            cfg.limits.fields = 3;
            cfg.limits.field_size = 20;
        }
        "lax" => {
            cfg.permit_obsolete_folding = true;
            cfg.strip_header_spaces = true;
            cfg.permit_unconventional_http_method = true;
            cfg.permit_unconventional_http_version = true;
            cfg.casefold_http_method = true;
            cfg.header_map = HeaderMap::Dangerous;
        }
        "refuse" => {
            cfg.header_map = HeaderMap::Refuse;
            cfg.forwarder_headers = vec!["X_Y".to_owned()];
        }
        other => panic!("unknown profile {other}"),
    }
    cfg
}

const PROFILES: [&str; 4] = ["default", "small", "lax", "refuse"];

/// Read requests from `raw` as gunicorn's `RequestParser` loop does, in the
/// case files' notation.
fn replay(raw: &[u8], cfg: &ParserConfig) -> Vec<Value> {
    let mut buf = raw.to_vec();
    let mut out = Vec::new();
    while !buf.is_empty() {
        let (head, consumed) = match parse_head(&buf, cfg) {
            Ok(Parsed::Complete { head, consumed }) => (head, consumed),
            // The input ends inside a head.
            Ok(Parsed::Partial) => {
                out.push(json!(["err", "NoMoreData"]));
                break;
            }
            Err(e) => {
                out.push(json!(["err", e.class_name()]));
                break;
            }
        };
        buf.drain(..consumed);
        let mut decoder = BodyDecoder::with_config(head.body_kind(), cfg);
        let mut body = Vec::new();
        let read = decoder.decode(&buf, &mut body).and_then(|used| {
            buf.drain(..used);
            decoder.finish_at_eof()
        });
        if let Err(e) = read {
            out.push(json!(["err", e.class_name()]));
            break;
        }
        let pairs = |items: Vec<(&[u8], &[u8])>| -> Vec<Value> {
            items
                .into_iter()
                .map(|(n, v)| json!([latin1(n).to_ascii_uppercase(), latin1(v)]))
                .collect()
        };
        let headers = pairs(head.headers().map(|h| (h.name, h.value)).collect());
        let trailers = pairs(
            decoder
                .trailers()
                .iter()
                .map(|(n, v)| (&n[..], &v[..]))
                .collect(),
        );
        let (major, minor) = head.version();
        out.push(json!([
            "ok",
            head.method(),
            latin1(head.uri()),
            latin1(head.path()),
            latin1(head.query()),
            latin1(head.fragment()),
            [major, minor],
            headers,
            base64_encode(&body),
            trailers,
            head.wants_keep_alive()
        ]));
        if !head.wants_keep_alive() {
            break;
        }
    }
    out
}

#[test]
fn matches_gunicorn_on_recorded_random_inputs() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/http-diff");
    for name in PROFILES {
        let cfg = profile(name);
        let text = std::fs::read_to_string(dir.join(format!("{name}.jsonl"))).expect("case file");
        let mut count = 0;
        for line in text.lines() {
            let case: Value = serde_json::from_str(line).expect("json");
            let raw = base64_decode(case["raw"].as_str().expect("raw"));
            let got = Value::Array(replay(&raw, &cfg));
            assert_eq!(
                got,
                case["byte"],
                "profile {name}, input {:?}",
                latin1(&raw)
            );
            count += 1;
        }
        assert_eq!(count, 500, "profile {name}");
    }
}
