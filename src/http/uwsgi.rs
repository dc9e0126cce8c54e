//! The uwsgi protocol (`--protocol uwsgi`), what nginx's `uwsgi_pass`
//! speaks: a binary packet of CGI variables in place of an HTTP head, then
//! the body.
//!
//! A packet is `modifier1` (0: a WSGI request), the size of the variables
//! block as a little-endian u16, `modifier2`, then the block: pairs of a
//! little-endian u16 size and a key, a u16 size and a value. The body that
//! follows is `CONTENT_LENGTH` bytes. The response is an ordinary HTTP/1.1
//! response, which the front end reads up to the connection's close.
//!
//! The variables are turned back into an HTTP/1.1 head and given to
//! [`parser`](super::parser), so a request that came over uwsgi meets the
//! same rules (limits, header names and values, framing) as one that came
//! over HTTP. Bytes that would change what that head means are refused
//! before it is written: CR, LF or NUL anywhere, a header name that is not
//! a token. A front end cannot inject a header or a second request.
//!
//! As gunicorn 27 (`gunicorn/uwsgi/`): the method, path and query come from
//! `REQUEST_METHOD`, `PATH_INFO` and `QUERY_STRING`; headers from `HTTP_*`
//! (`HTTP_X_REAL_IP` is `X-REAL-IP`), `CONTENT_TYPE` and `CONTENT_LENGTH`;
//! the scheme from `HTTPS` or `wsgi.url_scheme`; other variables are
//! ignored. Unlike gunicorn, `REMOTE_ADDR` and `REMOTE_PORT` are taken from
//! the packet (see [`Packet::client`]), a `CONTENT_LENGTH` that is not a
//! number is refused rather than read as 0, and `Expect` is dropped: the
//! front end has dealt with it, and a `100 Continue` would reach it as the
//! response.

use super::ParseError;
use super::error::latin1;
use super::fields::is_token;

/// `--protocol`: what a connection's first bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http,
    Uwsgi,
}

impl Protocol {
    /// gunicorn takes any string and serves HTTP unless it is exactly
    /// `uwsgi`; a misspelt protocol is refused here instead.
    pub fn from_setting(value: &str) -> Option<Protocol> {
        match value.trim() {
            "http" => Some(Protocol::Http),
            "uwsgi" => Some(Protocol::Uwsgi),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Uwsgi => "uwsgi",
        }
    }
}

/// modifier1, datasize (2 bytes), modifier2.
const FIXED: usize = 4;
/// gunicorn's `MAX_UWSGI_VARS`.
const MAX_VARS: usize = 1000;

/// What a packet said, ready for the HTTP parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The request as an HTTP/1.1 head, final empty line included.
    pub head: Vec<u8>,
    /// The scheme was given as https (`HTTPS: on`, `1` or `true`, or
    /// `wsgi.url_scheme: https`).
    pub https: bool,
    /// `REMOTE_ADDR` and `REMOTE_PORT`: the client of the front end. Only
    /// an allowed front end (`--uwsgi-allow-from`) gets this far, so they
    /// are believed, as the PROXY protocol's addresses are.
    pub client: Option<Client>,
}

/// The client a front end named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub addr: String,
    pub port: Option<String>,
}

/// Read a packet from the start of `buf`. `Ok(None)`: more bytes are
/// needed (at most 65,539 in all); `Ok(Some((packet, n)))`: the packet is
/// the first `n` bytes and the body follows.
pub fn parse(buf: &[u8]) -> Result<Option<(Packet, usize)>, ParseError> {
    let Some(&modifier1) = buf.first() else {
        return Ok(None);
    };
    // Told at once: a client speaking HTTP to this port learns it from its
    // first byte, not after a timeout.
    if modifier1 != 0 {
        return Err(ParseError::UnsupportedUwsgiModifier(modifier1));
    }
    if buf.len() < FIXED {
        return Ok(None);
    }
    let size = usize::from(u16::from_le_bytes([buf[1], buf[2]]));
    let total = FIXED + size;
    let Some(block) = buf.get(FIXED..total) else {
        return Ok(None);
    };
    let vars = Vars::read(block)?;
    Ok(Some((vars.into_packet()?, total)))
}

fn invalid(what: impl Into<String>) -> ParseError {
    ParseError::InvalidUwsgiHeader(what.into())
}

/// The variables of one packet, borrowed from it. Later pairs replace
/// earlier ones with the same key, as in gunicorn's dict.
struct Vars<'a> {
    pairs: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> Vars<'a> {
    fn read(mut block: &'a [u8]) -> Result<Vars<'a>, ParseError> {
        let mut pairs: Vec<(&[u8], &[u8])> = Vec::new();
        while !block.is_empty() {
            if pairs.len() >= MAX_VARS {
                return Err(invalid("too many variables"));
            }
            let key = take_sized(&mut block).ok_or_else(|| invalid("truncated key"))?;
            let value = take_sized(&mut block).ok_or_else(|| invalid("truncated value"))?;
            // Each byte below goes into a head the HTTP parser reads next.
            if let Some(&b) = key
                .iter()
                .chain(value)
                .find(|&&b| matches!(b, b'\r' | b'\n' | 0))
            {
                return Err(invalid(format!(
                    "control character {b:#04x} in {}",
                    latin1(key)
                )));
            }
            match pairs.iter_mut().find(|(k, _)| *k == key) {
                Some(pair) => pair.1 = value,
                None => pairs.push((key, value)),
            }
        }
        Ok(Vars { pairs })
    }

    fn get(&self, key: &[u8]) -> Option<&'a [u8]> {
        self.pairs.iter().find(|(k, _)| *k == key).map(|&(_, v)| v)
    }

    fn into_packet(self) -> Result<Packet, ParseError> {
        let method = self.get(b"REQUEST_METHOD").unwrap_or(b"GET");
        let path = match self.get(b"PATH_INFO") {
            Some(p) if !p.is_empty() => p,
            _ => b"/",
        };
        let query = self.get(b"QUERY_STRING").unwrap_or_default();
        // A space would end the request-target early.
        if let Some(&b) = method.iter().chain(query).find(|&&b| b == b' ') {
            return Err(invalid(format!(
                "{:?} in REQUEST_METHOD or QUERY_STRING",
                char::from(b)
            )));
        }

        let mut head = Vec::with_capacity(256);
        head.extend_from_slice(method);
        head.push(b' ');
        // PATH_INFO arrives decoded: encoded again, the parser gives the
        // application the same bytes back.
        encode_path(path, &mut head);
        if !query.is_empty() {
            head.push(b'?');
            head.extend_from_slice(query);
        }
        head.extend_from_slice(b" HTTP/1.1\r\n");

        let mut content_type = self.get(b"CONTENT_TYPE");
        for &(key, value) in &self.pairs {
            let Some(name) = key.strip_prefix(b"HTTP_") else {
                continue;
            };
            match name {
                // Framing comes from CONTENT_LENGTH alone: the front end
                // has already taken the client's framing off the body.
                b"CONTENT_LENGTH" | b"TRANSFER_ENCODING" | b"EXPECT" => continue,
                // nginx sends the header under both names.
                b"CONTENT_TYPE" => {
                    content_type = content_type.or(Some(value));
                    continue;
                }
                _ => {}
            }
            if !is_token(name) {
                return Err(invalid(format!("header variable {}", latin1(key))));
            }
            head.extend(name.iter().map(|&b| if b == b'_' { b'-' } else { b }));
            head.extend_from_slice(b": ");
            head.extend_from_slice(value);
            head.extend_from_slice(b"\r\n");
        }
        if let Some(value) = content_type {
            head.extend_from_slice(b"Content-Type: ");
            head.extend_from_slice(value);
            head.extend_from_slice(b"\r\n");
        }
        match self.get(b"CONTENT_LENGTH") {
            None | Some(b"") => {}
            Some(n) if n.iter().all(u8::is_ascii_digit) => {
                head.extend_from_slice(b"Content-Length: ");
                head.extend_from_slice(n);
                head.extend_from_slice(b"\r\n");
            }
            Some(n) => return Err(invalid(format!("CONTENT_LENGTH {}", latin1(n)))),
        }
        head.extend_from_slice(b"\r\n");

        let https = match self.get(b"HTTPS") {
            Some(v) if !v.is_empty() => [&b"on"[..], b"1", b"true"]
                .iter()
                .any(|t| v.eq_ignore_ascii_case(t)),
            _ => self.get(b"wsgi.url_scheme") == Some(b"https"),
        };
        let client = self
            .get(b"REMOTE_ADDR")
            .filter(|a| !a.is_empty())
            .map(|addr| Client {
                addr: latin1(addr),
                port: self
                    .get(b"REMOTE_PORT")
                    .filter(|p| !p.is_empty())
                    .map(latin1),
            });
        Ok(Packet {
            head,
            https,
            client,
        })
    }
}

/// The next size-prefixed field of the block, or `None` if it is cut.
fn take_sized<'a>(block: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (size, rest) = block.split_first_chunk::<2>()?;
    let size = usize::from(u16::from_le_bytes(*size));
    let field = rest.get(..size)?;
    *block = &rest[size..];
    Some(field)
}

/// Percent-encode a decoded path into a request-target's path: every byte
/// but RFC 3986's unreserved, sub-delims, `:`, `@` and `/`.
fn encode_path(path: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    if path.first() != Some(&b'/') {
        out.push(b'/');
    }
    for &b in path {
        let plain = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b);
        if plain {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

#[cfg(test)]
mod tests;
