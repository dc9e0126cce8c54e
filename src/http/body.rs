//! Request-body decoders: Content-Length and chunked (with trailers).
//!
//! An explicit state machine fed whatever bytes arrived; it keeps only a
//! chunk-size line or a trailer section between calls, both capped, and
//! gives the same bytes and the same error for any split of the input.
//! Rules and texts are gunicorn 27.0.1's `ChunkedReader` (`http/body.py`);
//! where gunicorn's outcome depends on the split (a size line or trailer
//! section right at its limit), we report what it reports when the bytes
//! arrive one by one.

use super::ParseError;
use super::fields::{self, FieldRules, find_lf, is_tchar};
use super::parser::{BodyKind, HeaderMap, Limits, ParserConfig};

/// Incremental body decoder for one request.
#[derive(Debug)]
pub struct BodyDecoder {
    state: State,
    rules: TrailerRules,
    /// The chunk-size line or the trailer section read so far.
    line: Vec<u8>,
    trailers: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The settings trailer fields are read with (as header fields, minus the
/// forwarder trust: trailers never get it).
#[derive(Debug, Clone, Copy)]
struct TrailerRules {
    limits: Limits,
    permit_obsolete_folding: bool,
    strip_header_spaces: bool,
    header_map: HeaderMap,
}

#[derive(Debug)]
enum State {
    /// Content-Length body with this many bytes still to come.
    Length {
        remaining: u64,
    },
    /// Reading a chunk-size line into `line`.
    SizeLine,
    /// Inside a chunk's data.
    Data {
        remaining: u64,
    },
    /// After a chunk's data: its CRLF, `seen` holding the first `len` bytes.
    DataEnd {
        seen: [u8; 2],
        len: usize,
    },
    /// After the last chunk: the trailer section, read into `line`.
    Trailers,
    Done,
    /// An error was returned; it is returned again.
    Failed(ParseError),
}

impl BodyDecoder {
    /// A decoder reading trailers with gunicorn's default header settings.
    pub fn new(kind: BodyKind, limits: &Limits) -> Self {
        let cfg = ParserConfig {
            limits: *limits,
            ..ParserConfig::default()
        };
        Self::with_config(kind, &cfg)
    }

    /// A decoder reading trailers with the parser settings of `cfg` (limits,
    /// folding, `strip_header_spaces`, `header_map`).
    pub fn with_config(kind: BodyKind, cfg: &ParserConfig) -> Self {
        let state = match kind {
            BodyKind::Empty | BodyKind::Length(0) => State::Done,
            BodyKind::Length(n) => State::Length { remaining: n },
            BodyKind::Chunked => State::SizeLine,
        };
        let rules = TrailerRules {
            limits: cfg.limits,
            permit_obsolete_folding: cfg.permit_obsolete_folding,
            strip_header_spaces: cfg.strip_header_spaces,
            header_map: cfg.header_map,
        };
        BodyDecoder {
            state,
            rules,
            line: Vec::new(),
            trailers: Vec::new(),
        }
    }

    /// Decode from `input`, appending body bytes to `out`. Returns how many
    /// bytes of `input` were consumed; the rest belongs to the next request
    /// once [`is_done`](Self::is_done).
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, ParseError> {
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        let mut pos = 0;
        while pos < input.len() && !self.is_done() {
            match self.step(&input[pos..], out) {
                Ok(0) => break,
                Ok(n) => pos += n,
                Err(e) => {
                    self.state = State::Failed(e.clone());
                    return Err(e);
                }
            }
        }
        Ok(pos)
    }

    /// The whole body (and for chunked, the trailer section) has been read.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// What reaching end-of-stream now means: `NoMoreData` or a framing error.
    ///
    /// For a Content-Length body gunicorn does not fail at all: the
    /// application reads a body cut short. [`finish_at_eof`](Self::finish_at_eof)
    /// gives that behaviour.
    pub fn eof_error(&self) -> ParseError {
        match &self.state {
            // gunicorn 26.1+: a chunked body cut after its data or within its
            // trailer section is a framing error, not a clean disconnect.
            State::DataEnd { seen, len } => {
                ParseError::ChunkMissingTerminator(seen[..*len].to_vec())
            }
            State::Trailers => ParseError::ChunkMissingTerminator(Vec::new()),
            State::Failed(e) => e.clone(),
            _ => ParseError::NoMoreData,
        }
    }

    /// The stream ended. As in gunicorn, a Content-Length body cut short is
    /// complete with what arrived (Ok, the decoder is then done); a chunked
    /// body is not, and this returns [`eof_error`](Self::eof_error).
    pub fn finish_at_eof(&mut self) -> Result<(), ParseError> {
        match self.state {
            State::Done => Ok(()),
            State::Length { .. } => {
                self.state = State::Done;
                Ok(())
            }
            _ => {
                let e = self.eof_error();
                self.state = State::Failed(e.clone());
                Err(e)
            }
        }
    }

    /// Trailer fields of a chunked body, once done. Names as received,
    /// values trimmed, dropped fields left out, as for header fields.
    pub fn trailers(&self) -> &[(Vec<u8>, Vec<u8>)] {
        &self.trailers
    }

    /// Body bytes known to follow without more framing (what is left of the
    /// Content-Length or of the current chunk): a hint for read sizes.
    pub fn pending_data(&self) -> u64 {
        match self.state {
            State::Length { remaining } | State::Data { remaining } => remaining,
            _ => 0,
        }
    }

    /// Consume at least one byte of non-empty `input` (0 only when done).
    fn step(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, ParseError> {
        match &mut self.state {
            State::Length { remaining } => {
                let n = copy_data(input, remaining, out);
                if *remaining == 0 {
                    self.state = State::Done;
                }
                Ok(n)
            }
            State::Data { remaining } => {
                let n = copy_data(input, remaining, out);
                if *remaining == 0 {
                    self.state = State::DataEnd {
                        seen: [0; 2],
                        len: 0,
                    };
                }
                Ok(n)
            }
            State::DataEnd { seen, len } => {
                seen[*len] = input[0];
                *len += 1;
                if *len == 2 {
                    if *seen != *b"\r\n" {
                        return Err(ParseError::ChunkMissingTerminator(seen.to_vec()));
                    }
                    self.state = State::SizeLine;
                }
                Ok(1)
            }
            State::SizeLine => self.size_line(input),
            State::Trailers => self.trailer_section(input),
            State::Done | State::Failed(_) => Ok(0),
        }
    }

    /// Collect the chunk-size line up to its CRLF, then act on it.
    ///
    /// Works on slices between line feeds, with the outcome of reading one
    /// byte at a time: the line may reach `limit + 1` bytes only with the
    /// LF that ends it.
    fn size_line(&mut self, input: &[u8]) -> Result<usize, ParseError> {
        let limit = self.rules.limits.field_size_max();
        let too_long = || {
            let text = format!("line over {limit} bytes with no terminator");
            ParseError::InvalidChunkSize(text.into_bytes())
        };
        let mut start = 0;
        while let Some(i) = find_lf(&input[start..]) {
            let lf = start + i;
            if self.line.len() + (lf - start) > limit {
                return Err(too_long());
            }
            self.line.extend_from_slice(&input[start..=lf]);
            if self.line.ends_with(b"\r\n") {
                self.line.truncate(self.line.len() - 2);
                let size = parse_size_line(&self.line)?;
                self.line.clear();
                self.state = if size == 0 {
                    State::Trailers
                } else {
                    State::Data { remaining: size }
                };
                return Ok(lf + 1);
            }
            // A bare LF is one more byte of the line (refused as a size later).
            if self.line.len() > limit {
                return Err(too_long());
            }
            start = lf + 1;
        }
        let rest = &input[start..];
        if self.line.len() + rest.len() > limit {
            return Err(too_long());
        }
        self.line.extend_from_slice(rest);
        Ok(input.len())
    }

    /// Collect the trailer section up to its empty line, then parse it.
    /// Slice by slice, with the outcome of reading one byte at a time (see
    /// [`size_line`](Self::size_line)).
    fn trailer_section(&mut self, input: &[u8]) -> Result<usize, ParseError> {
        let limit = self.rules.limits.header_buffer_max();
        let too_large = || ParseError::LimitRequestHeaders("limit request trailer section size");
        let mut start = 0;
        while let Some(i) = find_lf(&input[start..]) {
            let lf = start + i;
            if self.line.len() + (lf - start) > limit {
                return Err(too_large());
            }
            self.line.extend_from_slice(&input[start..=lf]);
            if self.line == b"\r\n" {
                self.line = Vec::new();
                self.state = State::Done;
                return Ok(lf + 1);
            }
            if self.line.ends_with(b"\r\n\r\n") {
                self.finish_trailers()?;
                return Ok(lf + 1);
            }
            let len = self.line.len();
            if len > limit {
                return Err(too_large());
            }
            if len == 1 || self.line[len - 2] != b'\r' {
                return Err(ParseError::InvalidHeader(
                    "bare LF as line terminator".into(),
                ));
            }
            start = lf + 1;
        }
        let rest = &input[start..];
        if self.line.len() + rest.len() > limit {
            return Err(too_large());
        }
        self.line.extend_from_slice(rest);
        Ok(input.len())
    }

    fn finish_trailers(&mut self) -> Result<(), ParseError> {
        let mut buf = std::mem::take(&mut self.line);
        let end = buf.len() - 4;
        let rules = FieldRules {
            limits: self.rules.limits,
            permit_obsolete_folding: self.rules.permit_obsolete_folding,
            strip_header_spaces: self.rules.strip_header_spaces,
            header_map: self.rules.header_map,
            forwarders: &[],
            secure_scheme_headers: &[],
            trailer: true,
            version: (1, 1),
        };
        let mut kept = Vec::new();
        fields::parse_fields(&mut buf, 0..end, &rules, &mut kept)?;
        self.trailers = kept
            .into_iter()
            .map(|f| (buf[f.name].to_vec(), buf[f.value].to_vec()))
            .collect();
        self.state = State::Done;
        Ok(())
    }
}

/// Move up to `remaining` bytes of `input` to `out`.
fn copy_data(input: &[u8], remaining: &mut u64, out: &mut Vec<u8>) -> usize {
    let n = usize::try_from(*remaining).map_or(input.len(), |r| r.min(input.len()));
    out.extend_from_slice(&input[..n]);
    *remaining -= n as u64;
    n
}

/// The size of a chunk from its size line (CRLF removed), checked in
/// gunicorn's order: bare CR in the extensions, then the size, then the
/// extension grammar.
fn parse_size_line(line: &[u8]) -> Result<u64, ParseError> {
    let (mut size, ext) = match line.iter().position(|&b| b == b';') {
        Some(i) => (&line[..i], Some(&line[i + 1..])),
        None => (line, None),
    };
    if let Some(ext) = ext {
        if ext.contains(&b'\r') {
            return Err(ParseError::InvalidChunkExtension("bare CR not allowed"));
        }
        // RFC 9112 7.1.1: whitespace may precede the extensions, and only them.
        let kept = size
            .iter()
            .rposition(|&b| b != b' ' && b != b'\t')
            .map_or(0, |i| i + 1);
        size = &size[..kept];
    }
    if size.is_empty() || !size.iter().all(u8::is_ascii_hexdigit) {
        return Err(ParseError::InvalidChunkSize(size.to_vec()));
    }
    if ext.is_some_and(|ext| !valid_chunk_ext(ext)) {
        return Err(ParseError::InvalidChunkExtension("invalid chunk extension"));
    }
    size.iter()
        .try_fold(0u64, |n, &d| {
            n.checked_mul(16)?.checked_add(u64::from(hex_value(d)))
        })
        .ok_or_else(|| ParseError::InvalidChunkSize(size.to_vec()))
}

fn hex_value(d: u8) -> u8 {
    match d {
        b'0'..=b'9' => d - b'0',
        b'a'..=b'f' => d - b'a' + 10,
        _ => d.wrapping_sub(b'A').wrapping_add(10),
    }
}

/// RFC 9112 7.1.1 for the text after the first `;`:
/// `chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )`.
fn valid_chunk_ext(ext: &[u8]) -> bool {
    let mut p = 0;
    loop {
        p = skip_bws(ext, p);
        let name = token_len(ext, p);
        if name == 0 {
            return false;
        }
        p += name;
        let eq = skip_bws(ext, p);
        if ext.get(eq) == Some(&b'=') {
            let start = skip_bws(ext, eq + 1);
            let value = token_len(ext, start).max(quoted_string_len(ext, start));
            if value == 0 {
                return false;
            }
            p = start + value;
        }
        if p == ext.len() {
            return true;
        }
        p = skip_bws(ext, p);
        if ext.get(p) != Some(&b';') {
            return false;
        }
        p += 1;
    }
}

fn skip_bws(s: &[u8], p: usize) -> usize {
    p + s.get(p..).map_or(0, |rest| {
        rest.iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count()
    })
}

fn token_len(s: &[u8], p: usize) -> usize {
    s.get(p..)
        .map_or(0, |rest| rest.iter().take_while(|&&b| is_tchar(b)).count())
}

/// Length of the quoted-string (RFC 9110 5.6.4) starting at `p`, 0 if none.
fn quoted_string_len(s: &[u8], p: usize) -> usize {
    if s.get(p) != Some(&b'"') {
        return 0;
    }
    let mut i = p + 1;
    while let Some(&b) = s.get(i) {
        match b {
            b'"' => return i + 1 - p,
            b'\\' => match s.get(i + 1) {
                Some(&q) if q == b'\t' || q >= 0x20 && q != 0x7f => i += 2,
                _ => return 0,
            },
            b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff => i += 1,
            _ => return 0,
        }
    }
    0
}

#[cfg(test)]
mod tests;
