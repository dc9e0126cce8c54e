//! HTTP/1.x on the wire: parsing request heads and bodies, encoding response
//! heads and chunks, and gunicorn's error pages.
//!
//! Pure byte-slice code: never touches sockets, Python or the clock beyond
//! the cached `Date` value. "Need more bytes" is a state (`Parsed::Partial`,
//! `Progress`), never an error.

pub mod body;
pub mod date;
pub mod error;
pub mod framing;
pub mod parser;
pub mod response;

pub use error::ParseError;
