//! Request-body decoders: Content-Length and chunked (with trailers).

use super::parser::{BodyKind, Limits};
use super::ParseError;

/// Incremental body decoder for one request.
#[derive(Debug)]
pub struct BodyDecoder {
    _private: (),
}

impl BodyDecoder {
    pub fn new(kind: BodyKind, limits: &Limits) -> Self {
        let _ = (kind, limits);
        todo!()
    }
    /// Decode from `input`, appending body bytes to `out`. Returns how many
    /// bytes of `input` were consumed; the rest belongs to the next request
    /// once [`is_done`](Self::is_done).
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, ParseError> {
        let _ = (input, out);
        todo!()
    }
    /// The whole body (and for chunked, the trailer section) has been read.
    pub fn is_done(&self) -> bool {
        todo!()
    }
    /// What reaching end-of-stream now means: `NoMoreData` or a framing error.
    pub fn eof_error(&self) -> ParseError {
        todo!()
    }
    /// Trailer fields of a chunked body, once done.
    pub fn trailers(&self) -> &[(Vec<u8>, Vec<u8>)] {
        &[]
    }
}
