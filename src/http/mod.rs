//! HTTP/1.x on the wire: the PROXY protocol header before the first
//! request, uwsgi packets in place of heads (`--protocol uwsgi`), parsing request heads and bodies, encoding response heads and
//! chunks, and gunicorn's error pages.
//!
//! Pure byte-slice code: never touches sockets, Python or the clock beyond
//! the cached `Date` value. "Need more bytes" is a state (`Parsed::Partial`,
//! a `BodyDecoder` not yet done), never an error.
//!
//! Behaviour follows gunicorn 27.0.1 (`gunicorn/http/`): which requests are
//! refused, with which error class, status and text. Where gunicorn's result
//! depends on how the bytes were split across reads, ours does not (see
//! [`parser`]).

pub mod body;
pub mod date;
pub mod error;
mod fields;
pub mod framing;
pub mod parser;
pub mod proxy;
pub mod pytext;
pub mod response;
mod rules;
mod uri;
pub mod uwsgi;

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod diff_tests;

pub use error::ParseError;
