//! The PROXY protocol (HAProxy's, versions 1 and 2): the header a load
//! balancer sends first on a connection to say who the real client is.
//!
//! As gunicorn 27 (`http/message.py`): only the first bytes of a connection
//! are looked at; a connection that does not start with a PROXY header is
//! plain HTTP in every mode; v1 takes `TCP4`/`TCP6` lines, v2 `LOCAL` and
//! `PROXY` over `STREAM` with IPv4, IPv6 or no addresses. Stricter than
//! gunicorn where it reads without bound or accepts what the spec does not
//! (a v1 line longer than the spec's 107 bytes, ports with signs, spaces or
//! leading zeros are refused), and closer to the spec where gunicorn refuses
//! what a proxy may send: `PROXY UNKNOWN` (a client the proxy cannot name)
//! is accepted and leaves the connection's own addresses in place.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::ParseError;
use super::error::latin1;

/// `--proxy-protocol`: which versions are recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    Off,
    V1,
    V2,
    Auto,
}

impl ProxyMode {
    /// gunicorn's `validate_proxy_protocol`: case-insensitive, with its
    /// boolean spellings.
    pub fn from_setting(value: &str) -> Option<ProxyMode> {
        match value.trim().to_ascii_lowercase().as_str() {
            "off" | "false" | "0" | "none" => Some(ProxyMode::Off),
            "auto" | "true" | "1" => Some(ProxyMode::Auto),
            "v1" => Some(ProxyMode::V1),
            "v2" => Some(ProxyMode::V2),
            _ => None,
        }
    }

    /// The setting's canonical spelling (`--print-config`, `cfg` in hooks).
    pub fn name(self) -> &'static str {
        match self {
            ProxyMode::Off => "off",
            ProxyMode::V1 => "v1",
            ProxyMode::V2 => "v2",
            ProxyMode::Auto => "auto",
        }
    }

    fn v1(self) -> bool {
        matches!(self, ProxyMode::V1 | ProxyMode::Auto)
    }

    fn v2(self) -> bool {
        matches!(self, ProxyMode::V2 | ProxyMode::Auto)
    }
}

/// Which header the first bytes of a connection start with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// Not a PROXY header (or not one this mode recognises): plain HTTP.
    Plain,
    /// Too few bytes yet to tell.
    Undecided,
    V1,
    V2,
}

const V1_PREFIX: &[u8] = b"PROXY ";
const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 line the spec allows, CRLF included.
const V1_MAX_LINE: usize = 107;
/// Signature, version/command, family/protocol, length.
const V2_FIXED: usize = 16;

/// Decide from the bytes received so far. Decides as soon as the bytes
/// stop matching a prefix, so plain HTTP is never held back.
pub fn detect(buf: &[u8], mode: ProxyMode) -> Detected {
    let mut undecided = false;
    for (wanted, prefix, found) in [
        (mode.v2(), V2_SIGNATURE, Detected::V2),
        (mode.v1(), V1_PREFIX, Detected::V1),
    ] {
        if !wanted {
            continue;
        }
        let n = buf.len().min(prefix.len());
        if buf[..n] == prefix[..n] {
            if n == prefix.len() {
                return found;
            }
            undecided = true;
        }
    }
    if undecided {
        Detected::Undecided
    } else {
        Detected::Plain
    }
}

/// What a PROXY header said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyHeader {
    /// `PROXY_PROTOCOL` in the environ: `TCP4`, `TCP6`, `UNKNOWN` (v1),
    /// `LOCAL` or `UNSPEC` (v2).
    pub protocol: &'static str,
    /// The real client and the address it connected to; `None` for
    /// `UNKNOWN`, `LOCAL` and `UNSPEC`, where the connection's own
    /// addresses stand.
    pub addresses: Option<Addresses>,
}

/// Source and destination of the proxied connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    pub source: SocketAddr,
    pub destination: SocketAddr,
}

/// Parse a header [`detect`] found. `Ok(None)`: more bytes are needed;
/// `Ok(Some((header, n)))`: the header is the first `n` bytes.
pub fn parse(buf: &[u8], version: Detected) -> Result<Option<(ProxyHeader, usize)>, ParseError> {
    match version {
        Detected::V1 => parse_v1(buf),
        Detected::V2 => parse_v2(buf),
        Detected::Plain | Detected::Undecided => Ok(None),
    }
}

fn parse_v1(buf: &[u8]) -> Result<Option<(ProxyHeader, usize)>, ParseError> {
    let window = &buf[..buf.len().min(V1_MAX_LINE)];
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        if buf.len() >= V1_MAX_LINE {
            return Err(ParseError::InvalidProxyLine(latin1(window)));
        }
        return Ok(None);
    };
    let line = latin1(&buf[..end]);
    let bad = || ParseError::InvalidProxyLine(line.clone());
    let bits: Vec<&str> = line.split(' ').collect();
    // The spec: after UNKNOWN the rest of the line is to be ignored.
    if bits.get(1) == Some(&"UNKNOWN") {
        let header = ProxyHeader {
            protocol: "UNKNOWN",
            addresses: None,
        };
        return Ok(Some((header, end + 2)));
    }
    if bits.len() != 6 {
        return Err(bad());
    }
    let protocol = match bits[1] {
        "TCP4" => "TCP4",
        "TCP6" => "TCP6",
        other => {
            return Err(ParseError::InvalidProxyLine(format!(
                "protocol '{other}' not supported"
            )));
        }
    };
    let ip = |text: &str| -> Result<IpAddr, ParseError> {
        let parsed = if protocol == "TCP4" {
            text.parse::<Ipv4Addr>().map(IpAddr::V4)
        } else {
            text.parse::<Ipv6Addr>().map(IpAddr::V6)
        };
        parsed.map_err(|_| bad())
    };
    let port = |text: &str| {
        decimal_port(text)
            .ok_or_else(|| ParseError::InvalidProxyLine(format!("invalid port {line}")))
    };
    let source = SocketAddr::new(ip(bits[2])?, port(bits[4])?);
    let destination = SocketAddr::new(ip(bits[3])?, port(bits[5])?);
    let header = ProxyHeader {
        protocol,
        addresses: Some(Addresses {
            source,
            destination,
        }),
    };
    Ok(Some((header, end + 2)))
}

/// A port as the spec writes it: 1 to 5 digits, no leading zero, <= 65535.
fn decimal_port(text: &str) -> Option<u16> {
    let digits = text.bytes().all(|b| b.is_ascii_digit());
    if !digits || text.is_empty() || text.len() > 5 || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    text.parse().ok()
}

fn parse_v2(buf: &[u8]) -> Result<Option<(ProxyHeader, usize)>, ParseError> {
    if buf.len() < V2_FIXED {
        return Ok(None);
    }
    let version = buf[12] >> 4;
    if version != 2 {
        return Err(ParseError::InvalidProxyHeader(format!(
            "unsupported version {version}"
        )));
    }
    let command = buf[12] & 0x0f;
    if command > 1 {
        return Err(ParseError::InvalidProxyHeader(format!(
            "unsupported command {command}"
        )));
    }
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let total = V2_FIXED + len;
    if buf.len() < total {
        return Ok(None);
    }
    // LOCAL: the proxy speaking for itself (a health check); any address
    // block is ignored, as the spec says.
    if command == 0 {
        let header = ProxyHeader {
            protocol: "LOCAL",
            addresses: None,
        };
        return Ok(Some((header, total)));
    }
    let family = buf[13] >> 4;
    let transport = buf[13] & 0x0f;
    if transport != 1 {
        return Err(ParseError::InvalidProxyHeader(
            "only TCP protocol is supported".to_owned(),
        ));
    }
    let block = &buf[V2_FIXED..total];
    let addresses = match family {
        0 => None,
        1 => {
            let Some(a) = block.get(..12) else {
                return Err(ParseError::InvalidProxyHeader(
                    "insufficient address data for IPv4".to_owned(),
                ));
            };
            let ip = |at: usize| IpAddr::from([a[at], a[at + 1], a[at + 2], a[at + 3]]);
            Some(Addresses {
                source: SocketAddr::new(ip(0), u16::from_be_bytes([a[8], a[9]])),
                destination: SocketAddr::new(ip(4), u16::from_be_bytes([a[10], a[11]])),
            })
        }
        2 => {
            let Some(a) = block.get(..36) else {
                return Err(ParseError::InvalidProxyHeader(
                    "insufficient address data for IPv6".to_owned(),
                ));
            };
            let ip = |at: usize| {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&a[at..at + 16]);
                IpAddr::from(octets)
            };
            Some(Addresses {
                source: SocketAddr::new(ip(0), u16::from_be_bytes([a[32], a[33]])),
                destination: SocketAddr::new(ip(16), u16::from_be_bytes([a[34], a[35]])),
            })
        }
        other => {
            return Err(ParseError::InvalidProxyHeader(format!(
                "unsupported address family {other}"
            )));
        }
    };
    let protocol = match addresses.map(|a| a.source) {
        None => "UNSPEC",
        Some(SocketAddr::V4(_)) => "TCP4",
        Some(SocketAddr::V6(_)) => "TCP6",
    };
    Ok(Some((
        ProxyHeader {
            protocol,
            addresses,
        },
        total,
    )))
}

#[cfg(test)]
mod tests;
