//! One client connection: its buffers, its socket I/O, and where it is in
//! the request/response cycle.
//!
//! Sockets are non-blocking and registered edge-triggered, so readiness is
//! tracked here: a short read or write means the kernel buffer was drained
//! or filled, and the next edge will say when to try again.

use std::cell::RefCell;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, Shutdown, recv, send, shutdown};

use super::limits::{ClientLimits, deadline_in};
use super::spool::BodySink;
use crate::http::body::BodyDecoder;
use crate::http::framing::BodyFramer;
use crate::http::parser::{HeadParser, RequestHead};
use crate::http::proxy::ProxyHeader;
use crate::http::uwsgi;
use crate::sock::Peer;
use crate::wsgi;
use crate::wsgi::input::RequestBody;

/// Smallest free space offered to a read.
const READ_CHUNK: usize = 16 * 1024;
/// Buffers grown past this (a large request or response) are given back
/// once empty, so a kept-alive connection does not hold on to them.
const KEEP_CAPACITY: usize = 256 * 1024;
/// Bytes one connection may read per turn of the loop, so a client that
/// sends fast (a large upload, data while we linger) cannot keep the worker
/// from its other connections.
pub const READ_BUDGET: usize = 1024 * 1024;

/// Idle input buffers kept for the next connection that reads, at most,
/// and the largest kept (a larger one, grown for a big head, is freed).
const SPARE_INBUFS: usize = 8;
const SPARE_INBUF_MAX: usize = 4 * READ_CHUNK;

thread_local! {
    /// Input buffers that no connection is using. A connection holds one
    /// only while bytes are unread (a head or body under way), so a loop
    /// serving many kept-alive connections needs about one buffer per
    /// connection it reads at once, not one per open connection (64 idle
    /// connections held 1 MiB), and a new connection skips allocating and
    /// zeroing one.
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// Received bytes not yet parsed.
#[derive(Debug, Default)]
pub struct InBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Drop for InBuf {
    fn drop(&mut self) {
        self.release();
    }
}

impl InBuf {
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Drop the first `n` unread bytes (all of them when `n` is larger).
    pub fn consume(&mut self, n: usize) {
        // Saturating: `discard_input` passes usize::MAX, with `start` past 0
        // when a request error left bytes unread.
        self.start = self.start.saturating_add(n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.buf.len() > KEEP_CAPACITY {
                self.buf = Vec::new();
            }
        }
    }

    /// Hand the buffer to this thread's spares if nothing in it is unread.
    fn release(&mut self) {
        if self.start != self.end || self.buf.is_empty() {
            return;
        }
        let buf = std::mem::take(&mut self.buf);
        (self.start, self.end) = (0, 0);
        if buf.len() > SPARE_INBUF_MAX {
            return;
        }
        // `try_with`: a connection dropped while the thread exits has no pool.
        let _ = SPARE.try_with(|spare| {
            let mut spare = spare.borrow_mut();
            if spare.len() < SPARE_INBUFS {
                spare.push(buf);
            }
        });
    }

    /// Free space of at least `READ_CHUNK` bytes at the end, moving unread
    /// bytes to the front first (the buffer is zeroed only when it grows).
    fn spare(&mut self) -> &mut [u8] {
        if self.buf.is_empty()
            && let Ok(Some(buf)) = SPARE.try_with(|spare| spare.borrow_mut().pop())
        {
            self.buf = buf;
        }
        if self.start > 0 && self.buf.len() - self.end < READ_CHUNK {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < READ_CHUNK {
            let len = (self.end + READ_CHUNK).next_power_of_two();
            self.buf.resize(len, 0);
        }
        &mut self.buf[self.end..]
    }
}

/// Result of one attempt to read.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    Data,
    WouldBlock,
    /// This turn's read budget is spent; more may be waiting.
    Yield,
    Eof,
    Failed,
}

/// Result of trying to send everything pending.
#[derive(Debug, PartialEq, Eq)]
pub enum Flush {
    Done,
    Blocked,
    Failed,
}

/// A body sent straight from where it lies, after what is in `out`.
pub struct DirectSend {
    pub source: Direct,
    /// Bytes still to send.
    pub remaining: u64,
    pub sent: u64,
}

pub enum Direct {
    /// A file, with sendfile(2).
    File(wsgi::FileBody),
    /// A large `bytes` item, from the object's own memory.
    Bytes(wsgi::BytesBody),
}

/// A response in progress.
pub struct Responding {
    pub request: RequestHead,
    pub response: wsgi::Response,
    pub framer: BodyFramer,
    pub keep_alive: bool,
    /// The application's iterable is exhausted and closed (or is a file
    /// that only needs sending).
    pub app_done: bool,
    pub direct: Option<DirectSend>,
    pub started: Instant,
    /// The `req` object given to `pre_request`, until `post_request` has it
    /// (only with request hooks).
    pub hook_request: Option<pyo3::Py<pyo3::PyAny>>,
}

impl Responding {
    /// The application still has part of this response to produce (a
    /// file, or the last item of an iterable, is sent without it).
    pub fn app_busy(&self) -> bool {
        !self.app_done && (self.direct.is_none() || !self.response.exhausted())
    }
}

/// Where a connection is in its cycle.
pub enum State {
    /// Waiting for (the rest of) a request head.
    Head,
    /// Receiving a request body.
    Body {
        head: RequestHead,
        decoder: BodyDecoder,
        body: BodySink,
    },
    /// A complete request waiting for the executor.
    Ready {
        head: RequestHead,
        body: RequestBody,
    },
    Responding(Box<Responding>),
    /// Send what is pending, then close.
    Closing,
    /// Our side is shut; discard what the client still sends until it
    /// closes, so the kernel does not reset the connection before the
    /// client has read our last response (RFC 9112 §9.6).
    Lingering,
}

/// One client connection.
pub struct Conn {
    pub fd: OwnedFd,
    pub peer: Peer,
    /// The peer's address as logs show it (`REMOTE_ADDR`).
    pub remote_addr: String,
    /// `REMOTE_ADDR`/`REMOTE_PORT` as Python strings, made at first use.
    pub peer_py: Option<wsgi::environ::Peer>,
    pub listener: usize,
    pub inbuf: InBuf,
    /// Resumes scanning where the last read left off, so a head that
    /// trickles in costs linear work.
    pub head_parser: HeadParser,
    pub out: Vec<u8>,
    pub out_pos: usize,
    /// Edge-triggered readiness not yet used up.
    pub readable: bool,
    pub writable: bool,
    /// The peer shut its sending side (EPOLLRDHUP).
    pub peer_closed: bool,
    /// Bytes went out since the deadline was last renewed for them.
    wrote: bool,
    pub state: State,
    pub deadline: Instant,
    /// When the request head being received must be complete; `None`
    /// until its first byte (see `--header-timeout`).
    pub head_deadline: Option<Instant>,
    /// No request head has been complete on this connection yet: while it
    /// sends nothing, it keeps the deadline it was accepted with.
    pub first_request: bool,
    /// The worker's limits, for the steps that have no loop at hand.
    pub limits: ClientLimits,
    /// Bytes this connection may still read in the current turn.
    pub budget: usize,
    /// `--proxy-protocol` is on and the connection's first bytes have not
    /// been looked at yet.
    pub proxy_pending: bool,
    /// What the connection's PROXY header said, for all its requests.
    pub proxy: Option<ProxyHeader>,
    /// The client a uwsgi front end named for this connection's request
    /// (one per connection: see `RequestHead::relayed_by_uwsgi`).
    pub uwsgi_client: Option<uwsgi::Client>,
    /// The next response closes the connection (gthread's cap on
    /// kept-alive connections).
    pub close_after: bool,
    /// `out` holds finished responses the sync loop sends at the end of
    /// its turn, with the rest of the turn's (see `respond::CORK_MAX`).
    pub corked: bool,
    /// The client asked for the close and nothing it sent is unread: once
    /// the response is out the connection closes without lingering.
    pub close_at_once: bool,
}

impl Conn {
    /// A new connection, closed at `deadline` if it sends nothing; its
    /// first head is due `--header-timeout` after its first byte.
    pub fn new(
        fd: OwnedFd,
        peer: Peer,
        listener: usize,
        limits: ClientLimits,
        deadline: Instant,
    ) -> Self {
        let remote_addr = match &peer {
            Peer::Tcp(sa) => sa.ip().to_string(),
            Peer::Unix => String::new(),
        };
        Conn {
            fd,
            peer,
            remote_addr,
            peer_py: None,
            listener,
            inbuf: InBuf::default(),
            head_parser: HeadParser::new(),
            out: Vec::new(),
            out_pos: 0,
            readable: true,
            writable: true,
            peer_closed: false,
            wrote: false,
            state: State::Head,
            deadline,
            head_deadline: None,
            first_request: true,
            limits,
            budget: READ_BUDGET,
            proxy_pending: false,
            proxy: None,
            uwsgi_client: None,
            close_after: false,
            corked: false,
            close_at_once: false,
        }
    }

    /// Read once into the input buffer. Unless bytes arrived, an empty
    /// input buffer goes back to the spares.
    pub fn read_some(&mut self) -> Read {
        let outcome = self.read_once();
        if outcome != Read::Data {
            self.inbuf.release();
        }
        outcome
    }

    fn read_once(&mut self) -> Read {
        if !self.readable {
            return if self.peer_closed {
                Read::Eof
            } else {
                Read::WouldBlock
            };
        }
        if self.budget == 0 {
            return Read::Yield;
        }
        loop {
            let spare = self.inbuf.spare();
            let room = spare.len();
            match nix::unistd::read(&self.fd, spare) {
                Ok(0) => {
                    self.readable = false;
                    self.peer_closed = true;
                    return Read::Eof;
                }
                Ok(n) => {
                    self.inbuf.end += n;
                    self.budget = self.budget.saturating_sub(n);
                    if n < room {
                        self.readable = false;
                    }
                    return Read::Data;
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => {
                    self.readable = false;
                    return if self.peer_closed {
                        Read::Eof
                    } else {
                        Read::WouldBlock
                    };
                }
                Err(_) => return Read::Failed,
            }
        }
    }

    /// Whether the client sent bytes we have not read yet, even if epoll
    /// has not told us (its event may still be queued while the app ran).
    /// Marks the connection readable when so.
    pub fn input_waiting(&mut self) -> bool {
        let mut byte = [0u8; 1];
        let flags = MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT;
        if matches!(recv(self.fd.as_raw_fd(), &mut byte, flags), Ok(n) if n > 0) {
            self.readable = true;
        }
        self.readable
    }

    pub fn out_pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Write what is pending.
    pub fn flush(&mut self) -> Flush {
        while self.out_pos < self.out.len() {
            if !self.writable {
                return Flush::Blocked;
            }
            let pending = &self.out[self.out_pos..];
            // MSG_NOSIGNAL: a client gone away is EPIPE, never SIGPIPE, even
            // if the application restored SIGPIPE's default action.
            match send(self.fd.as_raw_fd(), pending, MsgFlags::MSG_NOSIGNAL) {
                Ok(n) => {
                    self.out_pos += n;
                    self.wrote |= n > 0;
                    if n < pending.len() {
                        self.writable = false;
                    }
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => self.writable = false,
                Err(_) => return Flush::Failed,
            }
        }
        self.out.clear();
        self.out_pos = 0;
        if self.out.capacity() > KEEP_CAPACITY {
            self.out = Vec::new();
        }
        Flush::Done
    }

    /// A write is waiting for the client: only progress earns more time,
    /// so a client that stops reading is dropped after `--body-timeout`.
    pub fn renew_if_written(&mut self) {
        if std::mem::take(&mut self.wrote) {
            self.deadline = deadline_in(self.limits.body_timeout);
        }
    }

    /// Send more of a file body.
    pub fn send_direct(&mut self, body: &mut DirectSend) -> Flush {
        while body.remaining > 0 {
            if !self.writable {
                return Flush::Blocked;
            }
            let count = usize::try_from(body.remaining)
                .unwrap_or(usize::MAX)
                .min(1 << 30);
            let result = match &body.source {
                Direct::File(file) => {
                    let mut offset = (file.offset + body.sent) as i64;
                    nix::sys::sendfile::sendfile(
                        self.fd.as_fd(),
                        file.fd.as_fd(),
                        Some(&mut offset),
                        count,
                    )
                }
                Direct::Bytes(bytes) => {
                    let start = usize::try_from(body.sent).unwrap_or(usize::MAX);
                    match bytes.as_slice().get(start..start.saturating_add(count)) {
                        Some(part) => send(self.fd.as_raw_fd(), part, MsgFlags::MSG_NOSIGNAL),
                        None => return Flush::Failed,
                    }
                }
            };
            match result {
                // The file is shorter than promised: the response cannot be completed.
                Ok(0) => return Flush::Failed,
                Ok(n) => {
                    body.sent += n as u64;
                    body.remaining -= n as u64;
                    self.wrote = true;
                    if n < count {
                        self.writable = false;
                    }
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => self.writable = false,
                Err(_) => return Flush::Failed,
            }
        }
        Flush::Done
    }

    /// Shut our sending side (after the last response).
    pub fn shutdown_write(&self) {
        let _ = shutdown(self.fd.as_raw_fd(), Shutdown::Write);
    }

    pub fn shutdown_both(&self) {
        let _ = shutdown(self.fd.as_raw_fd(), Shutdown::Both);
    }

    /// Whether the turn ended with input left unread.
    pub fn yielded(&self) -> bool {
        self.budget == 0 && self.readable
    }

    /// Read and drop whatever arrives (lingering close).
    pub fn discard_input(&mut self) -> Read {
        let outcome = self.read_some();
        self.inbuf.consume(usize::MAX);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbuf_compacts_and_grows() {
        let mut b = InBuf::default();
        let spare = b.spare();
        assert!(spare.len() >= READ_CHUNK);
        spare[..5].copy_from_slice(b"hello");
        b.end += 5;
        b.consume(2);
        assert_eq!(b.data(), b"llo");
        let cap = b.buf.len();
        b.end = cap; // pretend it is full
        b.start = cap - 3;
        b.buf[cap - 3..].copy_from_slice(b"xyz");
        let _ = b.spare();
        assert_eq!(b.data(), b"xyz");
        b.consume(3);
        assert!(b.is_empty());
    }

    #[test]
    fn an_emptied_buffer_is_lent_to_the_next_reader() {
        let mut a = InBuf::default();
        a.spare()[..3].copy_from_slice(b"GET");
        a.end = 3;
        a.release();
        assert_eq!(a.data(), b"GET", "unread bytes keep their buffer");
        a.consume(3);
        let lent = a.buf.as_ptr();
        a.release();
        assert!(a.buf.is_empty());
        let mut b = InBuf::default();
        let _ = b.spare();
        assert_eq!(b.buf.as_ptr(), lent);
        drop(b);
        let mut c = InBuf::default();
        let _ = c.spare();
        assert_eq!(
            c.buf.as_ptr(),
            lent,
            "a dropped connection's buffer is kept too"
        );
    }

    #[test]
    fn consume_everything_after_a_partial_consume() {
        let mut b = InBuf::default();
        b.spare()[..6].copy_from_slice(b"abcdef");
        b.end = 6;
        b.consume(2);
        b.consume(usize::MAX);
        assert!(b.is_empty());
        assert_eq!((b.start, b.end), (0, 0));
    }
}
