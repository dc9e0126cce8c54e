//! The receiving side of a connection: reading and parsing request heads
//! and bodies, error pages for bad requests, and closing.
//!
//! The slow-client limits are applied here: a head must be complete by its
//! `head_deadline` (else 408), a body must keep bringing bytes within
//! `--body-timeout`, and a body over `--max-body-size` is answered 413.

use std::time::Instant;

use tracing::{debug, error, warn};

use super::{GRACEFUL_LINGER, IoLoop, LINGER, Mode, Step, deadline_in};
use crate::http::ParseError;
use crate::http::body::BodyDecoder;
use crate::http::error::write_error_page;
use crate::http::parser::{BodyKind, Parsed, ParserConfig, RequestHead, parse_head};
use crate::http::proxy::{self, Detected};
use crate::http::response::CONTINUE;
use crate::http::uwsgi::{self, Protocol};
use crate::sock::Peer;
use crate::worker::conn::{Conn, Flush, Read, State};
use crate::worker::spool::BodySink;
use crate::wsgi::input::RequestBody;

impl IoLoop<'_> {
    /// Parser settings for this peer: trusted peers may send forwarder headers.
    pub(super) fn parser_for(&self, peer: &Peer) -> &ParserConfig {
        if self
            .cfg
            .forwarded_allow_ips
            .allows_peer(peer_ip(peer).as_ref())
        {
            &self.parser_trusted
        } else {
            &self.parser
        }
    }

    pub(super) fn step_head(&mut self, conn: &mut Conn) -> Step {
        if let Some(step) = send_leftover(conn) {
            return step;
        }
        if conn.proxy_pending && !conn.inbuf.is_empty() {
            if let Err(e) = self.take_proxy_header(conn) {
                return reject(conn, &e);
            }
        }
        if conn.inbuf.is_empty() {
            if self.mode == Mode::Quit {
                return Step::Close;
            }
        } else if !conn.proxy_pending && self.cfg.protocol == Protocol::Uwsgi {
            match self.take_uwsgi_packet(conn) {
                Ok(Some(head)) => {
                    self.begin_body(conn, head);
                    return Step::Continue;
                }
                Ok(None) => {}
                Err(e) => return reject(conn, &e),
            }
        } else if !conn.proxy_pending {
            let parser = self.parser_for(&conn.peer);
            match conn.head_parser.parse(conn.inbuf.data(), parser) {
                Ok(Parsed::Complete { head, consumed }) => {
                    conn.inbuf.consume(consumed);
                    self.begin_body(conn, head);
                    return Step::Continue;
                }
                Ok(Parsed::Partial) => {}
                Err(e) => return reject(conn, &e),
            }
        }
        match conn.read_some() {
            Read::Data => Step::Continue,
            Read::Yield => Step::Wait,
            Read::WouldBlock => {
                conn.deadline = match conn.head_deadline {
                    // A head under way: reads do not move its deadline.
                    Some(due) => due,
                    // A new connection that has sent nothing yet.
                    None if conn.inbuf.is_empty() && conn.first_request => conn.deadline,
                    // Idle between requests.
                    None if conn.inbuf.is_empty() => deadline_in(self.keepalive),
                    // The first bytes of the next head.
                    None => *conn
                        .head_deadline
                        .insert(deadline_in(conn.limits.header_timeout)),
                };
                if head_timed_out(conn) {
                    return Step::Continue;
                }
                if self.mode != Mode::Running {
                    conn.deadline = conn.deadline.min(deadline_in(GRACEFUL_LINGER));
                }
                Step::Wait
            }
            // A client that half-closed after its last request still
            // gets the responses held for the end of the turn.
            Read::Eof if conn.out_pending() > 0 => {
                conn.state = State::Closing;
                Step::Continue
            }
            // Between requests an EOF is the normal end; mid-head, gunicorn's
            // NoMoreData: closed without an answer.
            Read::Eof | Read::Failed => Step::Close,
        }
    }

    /// Look for a PROXY header at the start of the connection and consume
    /// it; `proxy_pending` stays set while the bytes cannot tell yet.
    fn take_proxy_header(&self, conn: &mut Conn) -> Result<(), ParseError> {
        let found = proxy::detect(conn.inbuf.data(), self.cfg.proxy_protocol);
        match found {
            Detected::Plain => {
                conn.proxy_pending = false;
                return Ok(());
            }
            Detected::Undecided => return Ok(()),
            Detected::V1 | Detected::V2 => {}
        }
        // As gunicorn: the sender is checked before its header is read.
        if !self
            .cfg
            .proxy_allow_ips
            .allows_peer(peer_ip(&conn.peer).as_ref())
        {
            return Err(ParseError::ForbiddenProxyRequest(conn.remote_addr.clone()));
        }
        if let Some((header, used)) = proxy::parse(conn.inbuf.data(), found)? {
            conn.inbuf.consume(used);
            if let Some(a) = header.addresses {
                // Logs name the real client from now on, as REMOTE_ADDR does.
                conn.remote_addr = a.source.ip().to_string();
            }
            conn.proxy = Some(header);
            conn.proxy_pending = false;
        }
        Ok(())
    }

    /// Read a uwsgi packet at the start of the buffer and make it the
    /// request's head; `Ok(None)` while more bytes are needed.
    fn take_uwsgi_packet(&self, conn: &mut Conn) -> Result<Option<RequestHead>, ParseError> {
        // As gunicorn: the sender is checked before its packet is read.
        if !self
            .cfg
            .uwsgi_allow_ips
            .allows_peer(peer_ip(&conn.peer).as_ref())
        {
            return Err(ParseError::ForbiddenUwsgiRequest(conn.remote_addr.clone()));
        }
        let Some((packet, used)) = uwsgi::parse(conn.inbuf.data())? else {
            return Ok(None);
        };
        // The untrusted rules: the scheme is the packet's to say, not that
        // of an `X-Forwarded-Proto` the front end passed on from its client.
        let mut head = match parse_head(&packet.head, &self.parser)? {
            Parsed::Complete { head, .. } => head,
            // The rebuilt head always ends with its empty line.
            Parsed::Partial => return Err(ParseError::InvalidUwsgiHeader("incomplete".into())),
        };
        head.relayed_by_uwsgi(packet.https);
        conn.inbuf.consume(used);
        if let Some(client) = packet.client {
            // Logs name the front end's client, as REMOTE_ADDR does.
            conn.remote_addr.clone_from(&client.addr);
            conn.uwsgi_client = Some(client);
        }
        Ok(Some(head))
    }

    fn begin_body(&mut self, conn: &mut Conn, head: RequestHead) {
        // The next head gets its own time, from its own first byte.
        conn.head_deadline = None;
        conn.first_request = false;
        let kind = head.body_kind();
        if kind == BodyKind::Empty {
            conn.state = State::Ready {
                head,
                body: RequestBody::empty(),
            };
            return;
        }
        let expected = match kind {
            BodyKind::Length(n) => Some(n),
            _ => None,
        };
        // Refused before a byte of it is read, and without `100 Continue`.
        if let Some(n) = expected
            && conn.limits.body_too_large(n)
        {
            body_too_large(
                conn,
                &format!("{n} > {}", conn.limits.max_body.unwrap_or(0)),
            );
            return;
        }
        if head.expects_continue() && conn.inbuf.is_empty() {
            conn.out.extend_from_slice(CONTINUE);
        }
        let decoder = BodyDecoder::with_config(kind, self.parser_for(&conn.peer));
        conn.deadline = deadline_in(conn.limits.body_timeout);
        conn.state = State::Body {
            head,
            decoder,
            body: BodySink::new(expected, conn.limits.body_buffer),
        };
    }

    pub(super) fn step_body(&mut self, conn: &mut Conn) -> Step {
        // A `100 Continue`, or responses the end of the turn could not
        // send; the body is read on meanwhile.
        if conn.out_pending() > 0 && !conn.corked && conn.flush() == Flush::Failed {
            return Step::Close;
        }
        let State::Body { decoder, body, .. } = &mut conn.state else {
            return Step::Close;
        };
        match decoder.decode(conn.inbuf.data(), body.buf()) {
            Ok(used) => conn.inbuf.consume(used),
            Err(e) => return reject(conn, &e),
        }
        // Only a chunked body can grow past the limit here: a
        // Content-Length over it was refused with the head.
        if conn.limits.body_too_large(body.len()) {
            let max = conn.limits.max_body.unwrap_or(0);
            body_too_large(conn, &format!("more than {max}"));
            return Step::Continue;
        }
        if let Err(e) = body.settle(&self.tmp_dir) {
            return self.spool_failed(conn, &e);
        }
        if decoder.is_done() {
            let State::Body { head, body, .. } = std::mem::replace(&mut conn.state, State::Closing)
            else {
                return Step::Close;
            };
            match body.finish(&self.tmp_dir) {
                Ok(body) => conn.state = State::Ready { head, body },
                Err(e) => return self.spool_failed(conn, &e),
            }
            return Step::Continue;
        }
        match conn.read_some() {
            // Only bytes earn more time: a body must keep moving.
            Read::Data => {
                conn.deadline = deadline_in(conn.limits.body_timeout);
                Step::Continue
            }
            Read::Yield | Read::WouldBlock => Step::Wait,
            // As gunicorn: a Content-Length body cut short by the client's
            // EOF is served with what arrived; a cut chunked body is an error.
            Read::Eof => {
                let State::Body { decoder, .. } = &mut conn.state else {
                    return Step::Close;
                };
                match decoder.finish_at_eof() {
                    Ok(()) => Step::Continue,
                    Err(err) => reject(conn, &err),
                }
            }
            Read::Failed => Step::Close,
        }
    }

    /// The body could not be written to the spool file (disk full...).
    fn spool_failed(&self, conn: &mut Conn, err: &std::io::Error) -> Step {
        error!(
            "Cannot store a request body in {}: {err}",
            self.tmp_dir.display()
        );
        error_page(conn, 500, "Internal Server Error", "");
        Step::Continue
    }
}

/// The peer's IP address; `None` for a unix-socket peer.
fn peer_ip(peer: &Peer) -> Option<std::net::IpAddr> {
    match peer {
        Peer::Tcp(sa) => Some(sa.ip()),
        Peer::Unix => None,
    }
}

/// Answer a bad request with gunicorn's error page and close.
pub(super) fn reject(conn: &mut Conn, err: &ParseError) -> Step {
    if !err.responds() {
        return Step::Close;
    }
    warn!("Invalid request from ip={}: {err}", conn.remote_addr);
    error_page(conn, err.status(), err.reason(), &err.page_message());
    Step::Continue
}

/// Replace whatever was not sent yet with an error page, then close.
pub(super) fn error_page(conn: &mut Conn, status: u16, reason: &str, message: &str) {
    conn.out.truncate(conn.out_pos);
    write_error_page(&mut conn.out, status, reason, message);
    conn.state = State::Closing;
    conn.deadline = deadline_in(conn.limits.body_timeout);
}

/// A request head begun but not complete by its deadline is answered
/// `408 Request Timeout` (then the connection closes); returns whether it
/// was. A connection that sent nothing of it is left to close silently.
pub(super) fn head_timed_out(conn: &mut Conn) -> bool {
    let due = conn.head_deadline.is_some_and(|d| d <= Instant::now());
    if !due || !matches!(conn.state, State::Head) || conn.inbuf.is_empty() {
        return false;
    }
    debug!(
        "Request head from {} not complete within {} seconds",
        conn.remote_addr,
        conn.limits.header_timeout.as_secs()
    );
    let message = format!(
        "Request head not complete within {} seconds",
        conn.limits.header_timeout.as_secs()
    );
    error_page(conn, 408, "Request Timeout", &message);
    true
}

/// Answer a body over `--max-body-size` with 413, then close. The reason
/// phrase is Python 3.11's `HTTPStatus(413).phrase`, as an application
/// answering 413 itself would most likely write it.
fn body_too_large(conn: &mut Conn, detail: &str) {
    let message = format!("Request body is too large ({detail} bytes)");
    warn!("Invalid request from ip={}: {message}", conn.remote_addr);
    error_page(conn, 413, "Request Entity Too Large", &message);
}

/// Send the rest, shut our side, then linger until the client closes
/// (unless it asked for the close and sent nothing more: then there is
/// nothing a reset could destroy).
pub(super) fn step_closing(conn: &mut Conn) -> Step {
    match conn.flush() {
        Flush::Done if conn.close_at_once => Step::Close,
        Flush::Done => {
            conn.shutdown_write();
            conn.deadline = deadline_in(LINGER);
            conn.state = State::Lingering;
            Step::Continue
        }
        Flush::Blocked => {
            conn.renew_if_written();
            Step::Wait
        }
        Flush::Failed => Step::Close,
    }
}

/// Responses left in a connection's buffer by the end of a turn, when the
/// client was not taking them: sent before its next request is read, so
/// a client that does not read cannot make us buffer without end.
fn send_leftover(conn: &mut Conn) -> Option<Step> {
    if conn.corked || conn.out_pending() == 0 {
        return None;
    }
    match conn.flush() {
        Flush::Done => None,
        Flush::Blocked => {
            conn.renew_if_written();
            Some(Step::Wait)
        }
        Flush::Failed => Some(Step::Close),
    }
}

/// Lingering close: drop what the client still sends until it closes.
pub(super) fn step_lingering(conn: &mut Conn) -> Step {
    match conn.discard_input() {
        Read::Data => Step::Continue,
        Read::WouldBlock | Read::Yield => Step::Wait,
        Read::Eof | Read::Failed => Step::Close,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;
    use std::os::unix::net::UnixStream;
    use std::time::Instant;

    use super::*;
    use crate::config::Config;
    use crate::sock::Peer;
    use crate::worker::limits::ClientLimits;

    /// What the end of a turn could not send goes before the next request
    /// is read, as the client takes it (hard to force through TCP on
    /// loopback, whose buffers take a corked response whole).
    #[test]
    fn leftover_responses_go_out_as_the_client_reads() {
        let (ours, mut client) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let limits = ClientLimits::from_config(&Config::defaults(std::env::temp_dir()));
        let mut conn = Conn::new(ours.into(), Peer::Unix, 0, limits, Instant::now());
        let filler = vec![b'f'; 1 << 16];
        conn.out.extend_from_slice(&filler);
        while conn.flush() == Flush::Done {
            conn.writable = true;
            conn.out.extend_from_slice(&filler);
        }
        conn.out.extend_from_slice(b"the end");
        let pending = conn.out_pending();

        conn.corked = true;
        assert!(
            send_leftover(&mut conn).is_none(),
            "corked: the loop sends it"
        );
        assert_eq!(conn.out_pending(), pending);

        conn.corked = false;
        assert!(matches!(send_leftover(&mut conn), Some(Step::Wait)));

        let mut seen = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        while !seen.ends_with(b"the end") {
            let n = client.read(&mut buf).unwrap();
            assert!(n > 0);
            seen.extend_from_slice(&buf[..n]);
            conn.writable = true;
            match send_leftover(&mut conn) {
                None => assert_eq!(conn.out_pending(), 0),
                Some(Step::Wait) => {}
                Some(_) => panic!("the connection is fine"),
            }
        }
        assert_eq!(conn.out_pending(), 0);
        assert!(seen.iter().rev().skip(7).all(|&b| b == b'f'));
    }
}
