//! PROXY protocol header (`src/http/proxy.rs`): detection and parsing give
//! the same outcome for every prefix that decides it, take no more bytes
//! than they were given, and never need more than a header can be long.
//!
//! Input layout: `[mode]` then the connection's first bytes.

#![no_main]

use gunicorn_rs::http::ParseError;
use gunicorn_rs::http::proxy::{self, Detected, ProxyHeader, ProxyMode};
use libfuzzer_sys::fuzz_target;

/// The longest a header can be: v2's 16 fixed bytes and a 65535-byte block
/// (a v1 line stops at 107).
const MAX_HEADER: usize = 16 + 0xffff;

#[derive(Debug, PartialEq)]
enum Outcome {
    Plain,
    NeedMore,
    Header(ProxyHeader, usize),
    Error(ParseError),
}

/// What the worker does with the first `buf` bytes of a connection.
fn outcome(buf: &[u8], mode: ProxyMode) -> Outcome {
    let found = proxy::detect(buf, mode);
    match found {
        Detected::Plain => return Outcome::Plain,
        Detected::Undecided => return Outcome::NeedMore,
        Detected::V1 | Detected::V2 => {}
    }
    match proxy::parse(buf, found) {
        Ok(None) => Outcome::NeedMore,
        Ok(Some((header, used))) => {
            assert!(used <= buf.len(), "took {used} of {} bytes", buf.len());
            if found == Detected::V1 {
                assert!(used <= 107, "a v1 line of {used} bytes");
                assert!(buf[..used].ends_with(b"\r\n"));
            }
            Outcome::Header(header, used)
        }
        Err(e) => {
            assert!(
                matches!(
                    e,
                    ParseError::InvalidProxyLine(_) | ParseError::InvalidProxyHeader(_)
                ),
                "unexpected error {e:?}"
            );
            Outcome::Error(e)
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, wire)) = data.split_first() else {
        return;
    };
    let mode = match selector & 3 {
        0 => ProxyMode::Off,
        1 => ProxyMode::V1,
        2 => ProxyMode::V2,
        _ => ProxyMode::Auto,
    };
    let whole = outcome(wire, mode);
    if mode == ProxyMode::Off {
        assert_eq!(whole, Outcome::Plain);
    }
    // However the bytes go on, a decision comes within a header's length.
    let mut flooded = wire.to_vec();
    flooded.resize(wire.len() + MAX_HEADER, wire.last().copied().unwrap_or(0));
    let later = outcome(&flooded, mode);
    assert_ne!(
        later,
        Outcome::NeedMore,
        "undecided after {} bytes",
        flooded.len()
    );
    if whole != Outcome::NeedMore {
        assert_eq!(later, whole, "more bytes changed a decided outcome");
    }
    // Bytes arriving one at a time: the first prefix that decides must
    // decide as the whole input does, and later bytes change nothing.
    for n in 0..=wire.len() {
        let early = outcome(&wire[..n], mode);
        if early != Outcome::NeedMore {
            assert_eq!(early, whole, "decided at {n} of {} bytes", wire.len());
            break;
        }
    }
});
