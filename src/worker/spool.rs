//! Where a request body goes while it arrives: memory up to a threshold
//! (`--body-buffer-size`), then an anonymous temporary file, so an upload
//! costs a worker about that much memory however large it is.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use crate::wsgi::input::RequestBody;

/// The most memory reserved up front from a `Content-Length` the client
/// merely announced; the buffer grows past it only as bytes arrive.
const MAX_INITIAL_CAPACITY: usize = 1024 * 1024;

/// A body being received.
#[derive(Debug, Default)]
pub struct BodySink {
    buf: Vec<u8>,
    file: Option<File>,
    spooled: u64,
    /// Bytes kept in memory before the body moves to the file.
    threshold: usize,
}

impl BodySink {
    /// `expected` is the Content-Length when known (sizes the buffer);
    /// bodies past `threshold` bytes go to a temporary file.
    pub fn new(expected: Option<u64>, threshold: usize) -> Self {
        let capacity = expected.map_or(8 * 1024, |n| {
            usize::try_from(n)
                .unwrap_or(usize::MAX)
                .min(threshold)
                .min(MAX_INITIAL_CAPACITY)
        });
        BodySink {
            buf: Vec::with_capacity(capacity),
            file: None,
            spooled: 0,
            threshold,
        }
    }

    /// Bytes received so far.
    pub fn len(&self) -> u64 {
        self.spooled + self.buf.len() as u64
    }

    /// Where the body decoder appends.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Once the buffer passes the threshold, move it to the spool file.
    pub fn settle(&mut self, dir: &Path) -> io::Result<()> {
        if self.buf.is_empty() || self.buf.len() < self.threshold {
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
        const THRESHOLD: usize = 64 * 1024;
        let dir = std::env::temp_dir();
        let mut small = BodySink::new(Some(5), THRESHOLD);
        small.buf().extend_from_slice(b"hello");
        small.settle(&dir).unwrap();
        assert!(matches!(small.finish(&dir).unwrap(), RequestBody::Memory(b) if b == b"hello"));

        let mut large = BodySink::new(None, THRESHOLD);
        let piece = vec![7u8; THRESHOLD / 2 + 1];
        for i in 1..=5 {
            large.buf().extend_from_slice(&piece);
            large.settle(&dir).unwrap();
            assert!(large.buf.len() < THRESHOLD, "memory stays bounded");
            assert_eq!(large.len(), i * piece.len() as u64);
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

    #[test]
    fn a_zero_threshold_spools_every_byte_but_makes_no_file_for_nothing() {
        let dir = std::env::temp_dir();
        let mut empty = BodySink::new(Some(0), 0);
        empty.settle(&dir).unwrap();
        assert!(matches!(empty.finish(&dir).unwrap(), RequestBody::Memory(b) if b.is_empty()));

        let mut one = BodySink::new(Some(1), 0);
        one.buf().push(b'x');
        one.settle(&dir).unwrap();
        assert!(matches!(
            one.finish(&dir).unwrap(),
            RequestBody::File { len: 1, .. }
        ));
    }

    #[test]
    fn an_announced_length_does_not_reserve_memory_beyond_the_threshold() {
        let sink = BodySink::new(Some(u64::MAX), 64 * 1024);
        assert!(sink.buf.capacity() <= 64 * 1024);
        let sink = BodySink::new(Some(u64::MAX), usize::MAX);
        assert!(sink.buf.capacity() <= MAX_INITIAL_CAPACITY);
    }
}
