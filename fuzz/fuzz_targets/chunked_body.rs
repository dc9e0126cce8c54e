//! Chunked body decoder: the same bytes, trailers and error whatever the
//! split, never more output than input, and buffering bounded by the limits
//! rather than by the input.
//!
//! Input layout: `[flags, field_size, fields, cut1, cut2]` then the body as
//! sent (see `docs/fuzzing.md`).

#![no_main]

use gunicorn_rs::http::ParseError;
use gunicorn_rs::http::body::BodyDecoder;
use gunicorn_rs::http::parser::{BodyKind, HeaderMap, Limits, ParserConfig};
use libfuzzer_sys::fuzz_target;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting live bytes and their peak, so the target
/// can tell how much the decoder holds on to.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let live = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every call is passed straight to `System` with the caller's
// arguments; the counters are only arithmetic on the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as a new block next to the old one, as at worst it is.
        grew(new_size);
        // SAFETY: same contract as ours.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            LIVE.fetch_sub(new_size, Ordering::Relaxed);
        } else {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const HEADER: usize = 5;
const FLOOD: usize = 16 << 10;

fn limit(selector: u8, default: usize) -> usize {
    match selector {
        0 => default,
        255 => 0,
        n => usize::from(n),
    }
}

fn config(h: &[u8; HEADER]) -> ParserConfig {
    let flags = h[0];
    let defaults = Limits::default();
    ParserConfig {
        limits: Limits {
            field_size: limit(h[1], defaults.field_size),
            fields: limit(h[2], defaults.fields),
            ..defaults
        },
        permit_obsolete_folding: flags & 0x01 != 0,
        strip_header_spaces: flags & 0x02 != 0,
        header_map: match (flags >> 2) & 0x03 {
            1 => HeaderMap::Refuse,
            2 => HeaderMap::Dangerous,
            _ => HeaderMap::Drop,
        },
        ..ParserConfig::default()
    }
}

/// Trailer fields as the decoder keeps them: (name, value).
type Trailers = Vec<(Vec<u8>, Vec<u8>)>;

/// Everything a decoder run ends with.
#[derive(Debug, PartialEq)]
struct Run {
    body: Vec<u8>,
    /// Ok: done, with the trailers and how many bytes of the input the body
    /// took (the rest belongs to the next request). Err: the error `decode`
    /// returned, or `finish_at_eof`'s.
    end: Result<(Trailers, usize), ParseError>,
}

/// Decode `input` given in pieces ending at `ends` (then the rest), checking
/// the per-call contract and how much the decoder keeps between calls.
fn run(input: &[u8], cfg: &ParserConfig, ends: impl Iterator<Item = usize>) -> Run {
    let limits = &cfg.limits;
    // What the decoder may hold: a size line (limit + its LF) or a trailer
    // section, a copy of it while parsing, the trailers and an error quoting
    // part of it, each Vec up to twice its length. Not the input's size.
    let held = limits.field_size_max().max(limits.header_buffer_max()) + 2;
    let bound = 32 * held + 256;

    // Output never exceeds input: reserved once, it never moves.
    let mut body = Vec::with_capacity(input.len());
    let capacity = body.capacity();
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);

    let mut decoder = BodyDecoder::with_config(BodyKind::Chunked, cfg);
    // Bytes taken by the decoder, and bytes given to it.
    let mut pos = 0;
    let mut fed = 0;
    let mut error = None;
    for stop in ends.chain(std::iter::once(input.len())) {
        if stop < pos {
            continue;
        }
        let piece = &input[pos..stop];
        fed = stop;
        let before = body.len();
        match decoder.decode(piece, &mut body) {
            Ok(n) => {
                assert!(n <= piece.len());
                assert!(body.len() - before <= n, "more bytes out than in");
                if n < piece.len() {
                    assert!(decoder.is_done(), "stopped early without being done");
                }
                pos += n;
            }
            Err(e) => {
                // Failed for good: the same error again, never done.
                assert_eq!(decoder.decode(b"x", &mut body), Err(e.clone()));
                assert!(!decoder.is_done());
                error = Some(e);
                break;
            }
        }
        if decoder.is_done() {
            break;
        }
    }
    if error.is_none() && !decoder.is_done() {
        let eof = decoder.eof_error();
        let finish = decoder.finish_at_eof();
        assert_eq!(finish, Err(eof), "a chunked body cut short is an error");
        error = finish.err();
    }
    assert!(body.len() <= fed);
    assert_eq!(body.capacity(), capacity);

    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let kept = LIVE.load(Ordering::Relaxed).saturating_sub(base);
    assert!(
        peak <= bound,
        "decoder held {peak} bytes at its peak, over {bound} for {limits:?}"
    );
    assert!(kept <= bound, "decoder holds {kept} bytes, over {bound}");

    let end = match error {
        Some(e) => Err(e),
        None => {
            assert!(decoder.is_done());
            let trailers = decoder.trailers().to_vec();
            assert!(trailers.len() <= limits.fields_max());
            Ok((trailers, pos))
        }
    };
    Run { body, end }
}

/// Frame `payload` as chunks of `size` bytes (size-line spelling from
/// `style`), ended by a last chunk and an empty trailer section.
fn encode(payload: &[u8], size: usize, style: u8) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in payload.chunks(size) {
        let mut line = format!("{:x}", chunk.len());
        if style & 1 != 0 {
            line = line.to_ascii_uppercase();
        }
        if style & 2 != 0 {
            line.insert_str(0, "00");
        }
        if style & 4 != 0 {
            line.push_str(" ;a=\"b c\";d");
        }
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((header, input)) = data.split_first_chunk::<HEADER>() else {
        return;
    };
    let cfg = config(header);
    let len = input.len();

    let whole = run(input, &cfg, std::iter::empty());
    let mut cuts = [
        len * usize::from(header[3]) / 256,
        len * usize::from(header[4]) / 256,
    ];
    cuts.sort_unstable();
    assert_eq!(
        run(input, &cfg, cuts.into_iter()),
        whole,
        "cuts at {cuts:?}"
    );
    assert_eq!(run(input, &cfg, 0..len), whole, "byte by byte");

    // Buffering stays bounded however many more bytes come: the input
    // followed by 16 KiB of its last byte (a line that never ends, say),
    // more than any small limit lets the decoder keep.
    let fill = input.last().copied().unwrap_or(b'a');
    let flooded = [input, &[fill; FLOOD]].concat();
    run(&flooded, &cfg, cuts.into_iter());

    // Well-formed framing of the input as payload decodes back to it.
    if header[0] & 0x80 != 0 && cfg.limits.field_size_max() >= 32 {
        let size = 1 + usize::from(header[3]);
        let sent = encode(input, size, header[4]);
        let got = run(&sent, &cfg, std::iter::empty());
        assert_eq!(got.body, input);
        assert_eq!(got.end, Ok((Vec::new(), sent.len())));
    }
});
