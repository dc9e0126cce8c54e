//! Where a request body goes while it arrives: memory up to a threshold,
//! then an anonymous temporary file, so an upload costs a worker at most
//! `SPOOL_THRESHOLD` bytes of memory however large it is.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use crate::wsgi::input::RequestBody;

/// Bodies larger than this go to a temporary file.
pub const SPOOL_THRESHOLD: usize = 1024 * 1024;

/// A body being received.
#[derive(Debug, Default)]
pub struct BodySink {
    buf: Vec<u8>,
    file: Option<File>,
    spooled: u64,
}

impl BodySink {
    /// `expected` is the Content-Length when known (sizes the buffer).
    pub fn new(expected: Option<u64>) -> Self {
        let capacity = expected.map_or(8 * 1024, |n| {
            usize::try_from(n)
                .unwrap_or(usize::MAX)
                .min(SPOOL_THRESHOLD)
        });
        BodySink {
            buf: Vec::with_capacity(capacity),
            file: None,
            spooled: 0,
        }
    }

    /// Where the body decoder appends.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Once the buffer passes the threshold, move it to the spool file.
    pub fn settle(&mut self, dir: &Path) -> io::Result<()> {
        if self.buf.len() < SPOOL_THRESHOLD {
            return Ok(());
        }
        self.spill(dir)
    }

    fn spill(&mut self, dir: &Path) -> io::Result<()> {
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(super::tmpfile::anonymous(dir)?),
        };
        file.write_all(&self.buf)?;
        self.spooled += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// The complete body.
    pub fn finish(mut self, dir: &Path) -> io::Result<RequestBody> {
        if self.file.is_none() {
            return Ok(RequestBody::Memory(self.buf));
        }
        self.spill(dir)?;
        match self.file {
            Some(file) => Ok(RequestBody::File {
                file,
                len: self.spooled,
            }),
            None => Ok(RequestBody::Memory(Vec::new())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    #[test]
    fn small_bodies_stay_in_memory_large_ones_spool() {
        let dir = std::env::temp_dir();
        let mut small = BodySink::new(Some(5));
        small.buf().extend_from_slice(b"hello");
        small.settle(&dir).unwrap();
        assert!(matches!(small.finish(&dir).unwrap(), RequestBody::Memory(b) if b == b"hello"));

        let mut large = BodySink::new(None);
        let piece = vec![7u8; SPOOL_THRESHOLD / 2 + 1];
        for _ in 0..5 {
            large.buf().extend_from_slice(&piece);
            large.settle(&dir).unwrap();
            assert!(large.buf.len() < SPOOL_THRESHOLD, "memory stays bounded");
        }
        match large.finish(&dir).unwrap() {
            RequestBody::File { file, len } => {
                assert_eq!(len, 5 * piece.len() as u64);
                let mut back = vec![0u8; len as usize];
                file.read_exact_at(&mut back, 0).unwrap();
                assert!(back.iter().all(|&b| b == 7));
            }
            RequestBody::Memory(_) => panic!("a large body must be spooled"),
        }
    }
}
