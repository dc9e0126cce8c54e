//! uwsgi packets (`src/http/uwsgi.rs`): the outcome does not depend on how
//! the bytes arrive, a decision comes within a packet's longest length, and
//! the HTTP head rebuilt from a packet is one head: its only empty line is
//! its last, so no variable can add a request, and the HTTP parser reads it
//! whole or refuses it, never waiting for more.
//!
//! Input layout: a connection's first bytes, as a front end sends them.

#![no_main]

use gunicorn_rs::http::ParseError;
use gunicorn_rs::http::parser::{Parsed, ParserConfig, parse_head};
use gunicorn_rs::http::uwsgi::{self, Packet};
use libfuzzer_sys::fuzz_target;

/// modifier1, size, modifier2, and the largest variables block.
const MAX_PACKET: usize = 4 + 0xffff;

#[derive(Debug, PartialEq)]
enum Outcome {
    NeedMore,
    Packet(Packet, usize),
    Error(ParseError),
}

fn outcome(buf: &[u8]) -> Outcome {
    match uwsgi::parse(buf) {
        Ok(None) => Outcome::NeedMore,
        Ok(Some((packet, used))) => {
            assert!(used <= buf.len(), "took {used} of {} bytes", buf.len());
            assert_eq!(used, 4 + usize::from(u16::from_le_bytes([buf[1], buf[2]])));
            Outcome::Packet(packet, used)
        }
        Err(e) => {
            assert!(
                matches!(
                    e,
                    ParseError::InvalidUwsgiHeader(_) | ParseError::UnsupportedUwsgiModifier(_)
                ),
                "unexpected error {e:?}"
            );
            Outcome::Error(e)
        }
    }
}

fuzz_target!(|wire: &[u8]| {
    let whole = outcome(wire);
    if let Outcome::Packet(packet, _) = &whole {
        let head = &packet.head;
        let end = head.windows(4).position(|w| w == b"\r\n\r\n");
        assert_eq!(
            end,
            Some(head.len() - 4),
            "{:?}",
            String::from_utf8_lossy(head)
        );
        match parse_head(head, &ParserConfig::default()) {
            Ok(Parsed::Complete { consumed, .. }) => assert_eq!(consumed, head.len()),
            Ok(Parsed::Partial) => panic!("the rebuilt head is whole"),
            Err(_) => {}
        }
    }
    // However the bytes go on, a decision comes within a packet's length.
    let mut flooded = wire.to_vec();
    flooded.resize(wire.len() + MAX_PACKET, 0);
    let later = outcome(&flooded);
    assert_ne!(
        later,
        Outcome::NeedMore,
        "undecided after {} bytes",
        flooded.len()
    );
    if whole != Outcome::NeedMore {
        assert_eq!(later, whole, "more bytes changed a decided outcome");
    }
    // Bytes arriving one at a time: the first prefix that decides decides
    // as the whole input does.
    for n in 0..=wire.len() {
        let early = outcome(&wire[..n]);
        if early != Outcome::NeedMore {
            assert_eq!(early, whole, "decided at {n} of {} bytes", wire.len());
            break;
        }
    }
});
