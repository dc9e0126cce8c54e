//! gunicorn 27's own valid-request corpus (tests/data/http-corpus, from
//! ../shared/http-corpus) sent to the real binary: every request of every
//! case must reach the application exactly as gunicorn would present it.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use common::{Launch, Server, exchange_all};
use serde_json::Value;

struct Case {
    name: String,
    raw: Vec<u8>,
    expect: Vec<Value>,
    flags: Vec<String>,
}

/// Command-line flags for a case's gunicorn settings.
fn flags_for(settings: &Value) -> Vec<String> {
    let mut flags = Vec::new();
    for (key, value) in settings.as_object().unwrap() {
        match (key.as_str(), value) {
            // gunicorn reads True as auto; spelled out, so that the flag
            // does not take the APP_MODULE after it for its value.
            ("proxy_protocol", Value::Bool(true)) => {
                flags.extend(["--proxy-protocol".into(), "auto".into()])
            }
            (_, Value::Bool(true)) => flags.push(format!("--{}", key.replace('_', "-"))),
            ("limit_request_field_size", v) => {
                flags.extend(["--limit-request-field_size".into(), v.to_string()])
            }
            (_, Value::Number(n)) => {
                flags.extend([format!("--{}", key.replace('_', "-")), n.to_string()])
            }
            (_, Value::String(s)) => {
                flags.extend([format!("--{}", key.replace('_', "-")), s.clone()])
            }
            other => panic!("unexpected setting {other:?}"),
        }
    }
    flags
}

/// The parsed `.json` cases of one corpus directory, sorted by name.
fn load_json(set: &str) -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/http-corpus")
        .join(set);
    let mut cases: Vec<Value> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap())
        .collect();
    cases.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    cases
}

/// The cases grouped by their command-line flags, each group with a
/// `corpus_echo` server started with those flags (one server per group).
fn servers_by_flags<T>(cases: &[T], flags: impl Fn(&T) -> Vec<String>) -> Vec<(Server, Vec<&T>)> {
    let mut groups: BTreeMap<Vec<String>, Vec<&T>> = BTreeMap::new();
    for case in cases {
        groups.entry(flags(case)).or_default().push(case);
    }
    groups
        .into_iter()
        .map(|(flags, cases)| {
            let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
            args.push("corpus_echo:app");
            (Launch::new(&args).start(), cases)
        })
        .collect()
}

fn load_cases() -> Vec<Case> {
    load_json("valid")
        .into_iter()
        .map(|json| Case {
            name: json["name"].as_str().unwrap().to_owned(),
            raw: base64(json["raw_b64"].as_str().unwrap()),
            expect: json["expect"].as_array().unwrap().clone(),
            flags: flags_for(&json["settings"]),
        })
        .collect()
}

#[test]
fn every_valid_case_reaches_the_app_as_gunicorn_presents_it() {
    let cases = load_cases();
    assert_eq!(cases.len(), 62, "the whole corpus is here");
    assert_eq!(
        cases.iter().map(|c| c.expect.len()).sum::<usize>(),
        66,
        "62 cases hold 66 requests"
    );
    let mut checked = 0;
    for (server, cases) in servers_by_flags(&cases, |c| c.flags.clone()) {
        for case in cases {
            let out = exchange_all(server.port, &case.raw);
            let bodies = response_bodies(&out)
                .unwrap_or_else(|e| panic!("{}: {e}\n{}", case.name, server.log_text()));
            assert_eq!(
                bodies.len(),
                case.expect.len(),
                "{}: responses\n{}",
                case.name,
                String::from_utf8_lossy(&out)
            );
            for (seen, want) in bodies.iter().zip(&case.expect) {
                check(&case.name, &serde_json::from_slice(seen).unwrap(), want);
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 66, "every request of every case was checked");
}

/// gunicorn's invalid-request corpus (tests/data/http-corpus/invalid):
/// each case, sent whole and followed by EOF, gets exactly gunicorn's status
/// on an error page (nothing for NoMoreData), never an application
/// response, and the connection is closed.
#[test]
fn every_invalid_case_is_refused_with_gunicorns_status() {
    let cases = load_json("invalid");
    assert_eq!(cases.len(), 81, "the whole invalid corpus is here");
    let mut checked = 0;
    for (server, cases) in servers_by_flags(&cases, |c| flags_for(&c["settings"])) {
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let raw = base64(case["raw_b64"].as_str().unwrap());
            let (out, closed) = exchange_to_eof(server.port, &raw);
            let text = String::from_utf8_lossy(&out);
            assert!(closed, "{name}: connection left open: {text}");
            match case["expect_status"].as_u64() {
                None => assert!(out.is_empty(), "{name}: NoMoreData is not answered: {text}"),
                Some(status) => {
                    let reason = match status {
                        414 => "URI Too Long",
                        431 => "Request Header Fields Too Large",
                        _ => "Bad Request",
                    };
                    let head = format!(
                        "HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: text/html\r\n"
                    );
                    assert!(
                        text.starts_with(&head),
                        "{name}: want {status} ({}): {text}\n{}",
                        case["expect_error"],
                        server.log_text()
                    );
                    assert_eq!(text.matches("HTTP/1.1 ").count(), 1, "{name}: {text}");
                    assert!(!text.contains("\"method\""), "{name}: reached the app");
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 81);
}

/// Send `raw`, half-close, read until the server closes (bounded by the
/// socket timeout). Returns what was read and whether EOF was reached.
fn exchange_to_eof(port: u16, raw: &[u8]) -> (Vec<u8>, bool) {
    let mut s = common::connect(port);
    s.write_all(raw).unwrap();
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let closed = match s.read_to_end(&mut out) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    (out, closed)
}

fn check(name: &str, seen: &Value, want: &Value) {
    assert_eq!(seen["method"], want["method"], "{name}: method");
    assert_eq!(seen["uri"], want["uri"], "{name}: uri");
    let path = percent_decode_latin1(want["path"].as_str().unwrap());
    assert_eq!(seen["path_info"].as_str().unwrap(), path, "{name}: path");
    assert_eq!(seen["query"], want["query"], "{name}: query");
    let v = want["version"].as_array().unwrap();
    assert_eq!(
        seen["protocol"].as_str().unwrap(),
        format!("HTTP/{}.{}", v[0], v[1]),
        "{name}: version"
    );
    // Headers as the environ shows them: HTTP_ keys, repeats joined with ",".
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for pair in want["headers"].as_array().unwrap() {
        let (n, value) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
        let key = match n {
            "CONTENT-TYPE" => "CONTENT_TYPE".to_owned(),
            "CONTENT-LENGTH" => "CONTENT_LENGTH".to_owned(),
            _ => format!("HTTP_{}", n.replace('-', "_")),
        };
        headers
            .entry(key)
            .and_modify(|v| *v = format!("{v},{value}"))
            .or_insert_with(|| value.to_owned());
    }
    let seen_headers: BTreeMap<String, String> = seen["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(seen_headers, headers, "{name}: headers");
    let body = base64(want["body_b64"].as_str().unwrap());
    assert_eq!(
        seen["body_hex"].as_str().unwrap(),
        hex(&body),
        "{name}: body"
    );
}

/// Bodies of the successive responses in `out` (all carry Content-Length).
fn response_bodies(mut out: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut bodies = Vec::new();
    while !out.is_empty() {
        let end = out
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or("truncated head")?;
        let head = String::from_utf8_lossy(&out[..end]).into_owned();
        if !head.starts_with("HTTP/1.") || !head.contains(" 200 OK") {
            return Err(format!("not a 200 response: {head}"));
        }
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.trim().parse().ok())
            .ok_or("no Content-Length")?;
        let body_start = end + 4;
        let body = out
            .get(body_start..body_start + len)
            .ok_or("truncated body")?;
        bodies.push(body.to_vec());
        out = &out[body_start + len..];
    }
    Ok(bodies)
}

fn percent_decode_latin1(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(char::from(v));
            i += 3;
            continue;
        }
        out.push(char::from(b[i]));
        i += 1;
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("bad base64 byte {c}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=').map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &d)| acc | (u32::from(d) << (18 - 6 * i)));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}
