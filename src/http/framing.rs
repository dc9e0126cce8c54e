//! Framing the response body on the wire: Content-Length bodies cut at
//! their length, chunked bodies wrapped in chunks, bodies of HEAD/1xx/204/304
//! dropped.

use super::response::{CHUNK_END, Framing, LAST_CHUNK, chunk_header};

/// Frames body bytes for one response.
#[derive(Debug)]
pub struct BodyFramer {
    framing: Framing,
    /// Body bytes accepted so far (before chunk framing).
    sent: u64,
    /// Body bytes the application offered that could not be sent.
    dropped: u64,
}

impl BodyFramer {
    pub fn new(framing: Framing) -> Self {
        BodyFramer {
            framing,
            sent: 0,
            dropped: 0,
        }
    }

    /// Frame `data` into `out`; returns how many body bytes were taken.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<u8>) -> usize {
        let take = self.allowance(data.len() as u64) as usize;
        self.dropped += (data.len() - take) as u64;
        if take == 0 {
            return 0;
        }
        if self.framing == Framing::Chunked {
            chunk_header(take, out);
            out.extend_from_slice(&data[..take]);
            out.extend_from_slice(CHUNK_END);
        } else {
            out.extend_from_slice(&data[..take]);
        }
        self.sent += take as u64;
        take
    }

    /// How many of `len` file bytes may be sent; writes the chunk header
    /// when chunked (follow the data with [`file_end`](Self::file_end)).
    pub fn file_start(&mut self, len: u64, out: &mut Vec<u8>) -> u64 {
        let take = self.allowance(len);
        self.dropped += len - take;
        if take > 0 && self.framing == Framing::Chunked {
            chunk_header(take as usize, out);
        }
        take
    }

    /// After `sent` file bytes went out.
    pub fn file_end(&mut self, sent: u64, out: &mut Vec<u8>) {
        if sent > 0 && self.framing == Framing::Chunked {
            out.extend_from_slice(CHUNK_END);
        }
        self.sent += sent;
    }

    /// End the body. Returns false when the body is shorter than its
    /// Content-Length: the connection cannot be reused.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> bool {
        match self.framing {
            Framing::Chunked => {
                out.extend_from_slice(LAST_CHUNK);
                true
            }
            Framing::Length(n) => self.sent == n,
            Framing::NoBody => true,
            Framing::Close => false,
        }
    }

    /// Every byte the Content-Length announced has been framed: whatever
    /// else the application yields is dropped.
    pub fn length_reached(&self) -> bool {
        matches!(self.framing, Framing::Length(n) if self.sent == n)
    }

    /// Body bytes sent, for the access log.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// The application produced a body for a response that cannot have
    /// one (HEAD, 1xx, 204, 304): gunicorn warns about it.
    pub fn dropped_body(&self) -> bool {
        self.framing == Framing::NoBody && self.dropped > 0
    }

    fn allowance(&self, len: u64) -> u64 {
        match self.framing {
            Framing::NoBody => 0,
            Framing::Length(n) => len.min(n.saturating_sub(self.sent)),
            Framing::Chunked | Framing::Close => len,
        }
    }
}
