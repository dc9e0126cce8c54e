//! Lists of trusted peers (`--forwarded-allow-ips`): gunicorn's
//! `validate_string_to_addr_list` and its membership test.
//!
//! A value is comma-separated entries, each `*` (anyone) or what Python's
//! `ipaddress.ip_network(entry)` accepts in its default strict mode: an
//! IPv4 or IPv6 address (IPv6 with an optional `%scope`), or a network
//! `ADDR/PREFIX` (IPv4 also `ADDR/NETMASK` or `ADDR/HOSTMASK`) without host
//! bits set. Anything else is refused with Python's message.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::pytext;

/// Which peers a setting trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList {
    /// The entries as given (stripped), for display.
    entries: Vec<String>,
    /// Some entry is `*`.
    any: bool,
    networks: Vec<Network>,
}

/// One `ADDR/PREFIX` network, as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Network {
    V4 { bits: u32, prefix: u8 },
    V6 { bits: u128, prefix: u8 },
}

impl Network {
    fn contains(&self, ip: &IpAddr) -> bool {
        // Python: an address is never in a network of the other version,
        // so an IPv4-mapped IPv6 peer (::ffff:127.0.0.1) does not match
        // 127.0.0.1.
        match (*self, ip) {
            (Network::V4 { bits, prefix }, IpAddr::V4(ip)) => {
                u32::from(*ip) & mask32(prefix) == bits
            }
            (Network::V6 { bits, prefix }, IpAddr::V6(ip)) => {
                u128::from(*ip) & mask128(prefix) == bits
            }
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl AllowList {
    /// gunicorn's default for `forwarded_allow_ips` and its siblings.
    pub const DEFAULT: &'static str = "127.0.0.1,::1";

    /// Parse a setting value as gunicorn does: the whole value stripped,
    /// empty meaning "nobody"; split on `,`, empty pieces left out, each
    /// piece stripped. `Err` holds Python's message for the first bad entry.
    pub fn parse(value: &str) -> Result<AllowList, String> {
        let mut list = AllowList {
            entries: Vec::new(),
            any: false,
            networks: Vec::new(),
        };
        let value = pytext::strip(value);
        if value.is_empty() {
            return Ok(list);
        }
        // gunicorn drops the empty pieces before stripping them, so " " is
        // kept (and refused) while ",," is ignored.
        for entry in value.split(',').filter(|e| !e.is_empty()) {
            let entry = pytext::strip(entry);
            if entry == "*" {
                list.any = true;
            } else {
                list.networks.push(parse_network(entry)?);
            }
            list.entries.push(entry.to_owned());
        }
        Ok(list)
    }

    /// Whether a peer at `ip` is trusted: some entry is `*`, or a network
    /// of the same IP version contains it.
    pub fn allows_ip(&self, ip: &IpAddr) -> bool {
        self.any || self.networks.iter().any(|n| n.contains(ip))
    }

    /// gunicorn's trust test for a connection's peer: `None` is a peer
    /// without an IP address (a unix-socket client), which gunicorn always
    /// trusts; otherwise [`allows_ip`](Self::allows_ip).
    pub fn allows_peer(&self, ip: Option<&IpAddr>) -> bool {
        ip.is_none_or(|ip| self.allows_ip(ip))
    }

    /// Whether every peer is trusted (an entry is `*`).
    pub fn allows_all(&self) -> bool {
        self.any
    }

    /// The entries as given (each stripped), as `--print-config` lists them.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }
}

impl Default for AllowList {
    /// `127.0.0.1,::1`.
    fn default() -> Self {
        AllowList {
            entries: vec!["127.0.0.1".to_owned(), "::1".to_owned()],
            any: false,
            networks: vec![
                Network::V4 {
                    bits: u32::from(Ipv4Addr::LOCALHOST),
                    prefix: 32,
                },
                Network::V6 {
                    bits: u128::from(Ipv6Addr::LOCALHOST),
                    prefix: 128,
                },
            ],
        }
    }
}

impl fmt::Display for AllowList {
    /// The entries joined with `,`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.entries.join(","))
    }
}

/// Python's `ipaddress.ip_network(entry)` (strict): IPv4 first, then IPv6.
fn parse_network(entry: &str) -> Result<Network, String> {
    let not_a_network = || {
        format!(
            "{} does not appear to be an IPv4 or IPv6 network",
            pytext::repr(entry)
        )
    };
    let (addr, mask) = match entry.split_once('/') {
        Some((_, mask)) if mask.contains('/') => return Err(not_a_network()),
        Some((addr, mask)) => (addr, Some(mask)),
        None => (entry, None),
    };
    if let Some(network) = ipv4_network(addr, mask)? {
        return Ok(network);
    }
    if let Some(network) = ipv6_network(addr, mask)? {
        return Ok(network);
    }
    Err(not_a_network())
}

/// `IPv4Network(entry)`: `Ok(None)` where Python's attempt fails with an
/// address or netmask error (then IPv6 is tried), `Err` for host bits set.
fn ipv4_network(addr: &str, mask: Option<&str>) -> Result<Option<Network>, String> {
    let Ok(ip) = addr.parse::<Ipv4Addr>() else {
        return Ok(None);
    };
    let prefix = match mask {
        None => 32,
        Some(mask) => match prefix_length(mask, 32) {
            Some(p) => p,
            // A dotted netmask (1s then 0s) or hostmask (0s then 1s).
            None => match mask.parse::<Ipv4Addr>().ok().and_then(|m| {
                let m = u32::from(m);
                contiguous_ones(m).or_else(|| contiguous_ones(!m))
            }) {
                Some(p) => p,
                None => return Ok(None),
            },
        },
    };
    let bits = u32::from(ip);
    if bits & !mask32(prefix) != 0 {
        return Err(format!("{ip}/{prefix} has host bits set"));
    }
    Ok(Some(Network::V4 { bits, prefix }))
}

/// `IPv6Network(entry)`, as [`ipv4_network`]. The address may carry a
/// `%scope`, which Python keeps for display and ignores for membership.
fn ipv6_network(addr: &str, mask: Option<&str>) -> Result<Option<Network>, String> {
    let (bare, scope) = match addr.split_once('%') {
        Some((_, scope)) if scope.is_empty() || scope.contains('%') => return Ok(None),
        Some((bare, scope)) => (bare, Some(scope)),
        None => (addr, None),
    };
    let Ok(ip) = bare.parse::<Ipv6Addr>() else {
        return Ok(None);
    };
    let prefix = match mask {
        None => 128,
        Some(mask) => match prefix_length(mask, 128) {
            Some(p) => p,
            None => return Ok(None),
        },
    };
    let bits = u128::from(ip);
    if bits & !mask128(prefix) != 0 {
        let scope = scope.map(|s| format!("%{s}")).unwrap_or_default();
        return Err(format!(
            "{}{scope}/{prefix} has host bits set",
            python_ipv6(&ip)
        ));
    }
    Ok(Some(Network::V6 { bits, prefix }))
}

/// A prefix length in decimal ASCII digits (leading zeros allowed), at
/// most `max`.
fn prefix_length(text: &str, max: u8) -> Option<u8> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = text.trim_start_matches('0');
    if digits.len() > 3 {
        return None;
    }
    let n: u16 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    (n <= u16::from(max)).then_some(n as u8)
}

/// The prefix length of a mask made of leading ones then zeros.
fn contiguous_ones(mask: u32) -> Option<u8> {
    let ones = mask.leading_ones();
    (mask.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

/// An IPv6 address as Python's `str()` writes it: lower-case hex groups,
/// the first longest run of two or more zero groups as `::`, and no dotted
/// form for IPv4-mapped addresses (Rust's `Display` differs there).
fn python_ipv6(ip: &Ipv6Addr) -> String {
    let groups = ip.segments();
    let (mut best, mut best_len) = (0, 0);
    let mut i = 0;
    while i < groups.len() {
        let run = groups[i..].iter().take_while(|&&g| g == 0).count();
        if run > best_len {
            (best, best_len) = (i, run);
        }
        i += run.max(1);
    }
    let hex = |gs: &[u16]| {
        gs.iter()
            .map(|g| format!("{g:x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    if best_len < 2 {
        return hex(&groups);
    }
    format!(
        "{}::{}",
        hex(&groups[..best]),
        hex(&groups[best + best_len..])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    // Outcomes and messages checked against Python 3.11's ipaddress and
    // gunicorn 27.0.1's validate_string_to_addr_list.
    #[test]
    fn accepts_what_ip_network_accepts() {
        for (value, entries) in [
            ("127.0.0.1,::1", &["127.0.0.1", "::1"][..]),
            (" 10.0.0.0/8 , ::1", &["10.0.0.0/8", "::1"]),
            ("*, 10.1.0.0/16,,", &["*", "10.1.0.0/16"]),
            ("", &[]),
            ("  ", &[]),
            ("10.0.0.0/08", &["10.0.0.0/08"]),
            ("10.0.0.0/255.0.0.0", &["10.0.0.0/255.0.0.0"]),
            ("10.0.0.0/0.255.255.255", &["10.0.0.0/0.255.255.255"]),
            ("0.0.0.0/0,::/0", &["0.0.0.0/0", "::/0"]),
            ("1.2.3.4/255.255.255.255", &["1.2.3.4/255.255.255.255"]),
            ("fe80::1%eth0", &["fe80::1%eth0"]),
            ("fe80::%eth0/10", &["fe80::%eth0/10"]),
            ("::ffff:1.2.3.0/120", &["::ffff:1.2.3.0/120"]),
            ("2001:db8::/032", &["2001:db8::/032"]),
            ("1:2:3:4:5:6:7::", &["1:2:3:4:5:6:7::"]),
        ] {
            let list = AllowList::parse(value).unwrap_or_else(|e| panic!("{value:?}: {e}"));
            assert_eq!(list.entries(), entries, "{value:?}");
        }
    }

    #[test]
    fn refuses_with_pythons_message() {
        let refused = |value: &str| AllowList::parse(value).unwrap_err();
        for bad in [
            "foo",
            "01.2.3.4",
            "1.2.3.04",
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4/33",
            "1.2.3.4/",
            "1.2.3.4/ 24",
            "1.2.3.4/+24",
            "1.2.3.4/-1",
            "1.2.3.4/32/1",
            "10.0.0.0/255.0.255.0",
            "1.2.3.4/1.2.3.4",
            "::1/129",
            "::1/ffff::",
            "fe80::1%",
            "fe80::1%a%b",
            "fe80::/10%eth0",
            "1.2.3.4%x",
            "1:2:3:4:5:6:7:8::",
            "１.2.3.4",
            "*x",
        ] {
            assert_eq!(
                refused(bad),
                format!(
                    "{} does not appear to be an IPv4 or IPv6 network",
                    pytext::repr(bad)
                ),
                "{bad:?}"
            );
        }
        // A piece of blanks is kept, stripped to '', and refused.
        assert_eq!(
            refused("1.2.3.4, ,*"),
            "'' does not appear to be an IPv4 or IPv6 network"
        );
        assert_eq!(
            refused("a,,b"),
            "'a' does not appear to be an IPv4 or IPv6 network"
        );
        for (bad, message) in [
            ("192.168.1.1/24", "192.168.1.1/24 has host bits set"),
            ("1.2.3.4/255.255.255.0", "1.2.3.4/24 has host bits set"),
            ("1.2.3.4/024", "1.2.3.4/24 has host bits set"),
            ("1.2.3.4/0", "1.2.3.4/0 has host bits set"),
            ("10.0.0.0/0.0.0.0", "10.0.0.0/0 has host bits set"),
            ("2001:db8::1/32", "2001:db8::1/32 has host bits set"),
            ("::ffff:1.2.3.4/64", "::ffff:102:304/64 has host bits set"),
            ("1::1:0:0:0/64", "1::1:0:0:0/64 has host bits set"),
            ("fe80::1%eth0/64", "fe80::1%eth0/64 has host bits set"),
        ] {
            assert_eq!(refused(bad), message, "{bad:?}");
        }
    }

    #[test]
    fn membership() {
        let list = AllowList::default();
        assert_eq!(list, AllowList::parse(AllowList::DEFAULT).unwrap());
        assert_eq!(list.to_string(), "127.0.0.1,::1");
        assert!(list.allows_ip(&ip("127.0.0.1")) && list.allows_ip(&ip("::1")));
        assert!(!list.allows_ip(&ip("127.0.0.2")) && !list.allows_ip(&ip("10.0.0.1")));
        // As gunicorn: an IPv4-mapped IPv6 peer is an IPv6 address.
        assert!(!list.allows_ip(&ip("::ffff:127.0.0.1")));
        assert!(!list.allows_all());

        let nets = AllowList::parse("10.0.0.0/8, 192.168.1.0/255.255.255.0, fd00::/8").unwrap();
        assert!(nets.allows_ip(&ip("10.255.0.1")));
        assert!(nets.allows_ip(&ip("192.168.1.77")));
        assert!(!nets.allows_ip(&ip("192.168.2.1")));
        assert!(nets.allows_ip(&ip("fd12::1")));
        assert!(!nets.allows_ip(&ip("fe80::1")));
        assert!(!nets.allows_ip(&ip("::ffff:10.0.0.1")));
        let mapped = AllowList::parse("::ffff:0:0/96").unwrap();
        assert!(mapped.allows_ip(&ip("::ffff:127.0.0.1")));
        assert!(!mapped.allows_ip(&ip("127.0.0.1")));

        let all = AllowList::parse("0.0.0.0/0, ::/0").unwrap();
        assert!(all.allows_ip(&ip("8.8.8.8")) && all.allows_ip(&ip("2001:db8::1")));
        assert!(!all.allows_all());
        let star = AllowList::parse("*").unwrap();
        assert!(star.allows_all() && star.allows_ip(&ip("8.8.8.8")));
        let nobody = AllowList::parse("").unwrap();
        assert!(!nobody.allows_ip(&ip("127.0.0.1")) && !nobody.allows_all());
        // A unix-socket peer has no IP address and is always trusted.
        assert!(nobody.allows_peer(None));
        assert!(!nobody.allows_peer(Some(&ip("127.0.0.1"))));
        assert!(list.allows_peer(Some(&ip("::1"))));
        // The scope of a link-local entry does not matter, as in Python.
        let scoped = AllowList::parse("fe80::1%eth0").unwrap();
        assert!(scoped.allows_ip(&ip("fe80::1")));
    }

    #[test]
    fn ipv6_text_like_python() {
        for (addr, text) in [
            ("::", "::"),
            ("::1", "::1"),
            ("1::", "1::"),
            ("1:2:3:4:5:6:7:0", "1:2:3:4:5:6:7:0"),
            ("0:2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"),
            ("::ffff:1.2.3.4", "::ffff:102:304"),
            ("1:0:0:1::", "1:0:0:1::"),
            ("1::1:0:0:0", "1::1:0:0:0"),
            ("ABCD:0:0:1:0:0:0:EF", "abcd:0:0:1::ef"),
        ] {
            assert_eq!(python_ipv6(&addr.parse().unwrap()), text, "{addr}");
        }
    }
}
