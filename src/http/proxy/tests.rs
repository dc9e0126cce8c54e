use super::*;

fn v1(line: &str) -> Result<Option<(ProxyHeader, usize)>, ParseError> {
    parse(line.as_bytes(), Detected::V1)
}

fn addrs(source: &str, destination: &str) -> Option<Addresses> {
    Some(Addresses {
        source: source.parse().unwrap(),
        destination: destination.parse().unwrap(),
    })
}

/// A v2 header: signature, version 2 + `command`, `fam_proto`, the block.
fn v2(command: u8, fam_proto: u8, block: &[u8]) -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    out.push(0x20 | command);
    out.push(fam_proto);
    out.extend_from_slice(&u16::try_from(block.len()).unwrap().to_be_bytes());
    out.extend_from_slice(block);
    out
}

#[test]
fn modes_read_like_gunicorns_validator() {
    for (text, mode) in [
        ("off", ProxyMode::Off),
        ("False", ProxyMode::Off),
        ("none", ProxyMode::Off),
        ("0", ProxyMode::Off),
        (" AUTO ", ProxyMode::Auto),
        ("true", ProxyMode::Auto),
        ("1", ProxyMode::Auto),
        ("v1", ProxyMode::V1),
        ("V2", ProxyMode::V2),
    ] {
        assert_eq!(ProxyMode::from_setting(text), Some(mode), "{text}");
    }
    assert_eq!(ProxyMode::from_setting("v3"), None);
    assert_eq!(ProxyMode::from_setting(""), None);
}

#[test]
fn detection_decides_as_soon_as_the_bytes_differ() {
    use Detected::*;
    let auto = ProxyMode::Auto;
    assert_eq!(detect(b"", auto), Undecided);
    assert_eq!(detect(b"PROX", auto), Undecided);
    assert_eq!(detect(b"PROXY ", auto), V1);
    assert_eq!(detect(b"\r\n\r\n\0", auto), Undecided);
    assert_eq!(detect(V2_SIGNATURE, auto), V2);
    assert_eq!(detect(b"GET / HTTP/1.1", auto), Plain);
    assert_eq!(detect(b"G", auto), Plain);
    // One leading empty line before a request: plain after the third byte.
    assert_eq!(detect(b"\r\n", auto), Undecided);
    assert_eq!(detect(b"\r\nGET", auto), Plain);
    assert_eq!(detect(b"PROXYGET", auto), Plain);
    // Each mode recognises only its version.
    assert_eq!(detect(b"PROXY ", ProxyMode::V2), Plain);
    assert_eq!(detect(V2_SIGNATURE, ProxyMode::V1), Plain);
    assert_eq!(detect(b"PROXY ", ProxyMode::Off), Plain);
    assert_eq!(detect(b"", ProxyMode::Off), Plain);
}

#[test]
fn v1_tcp4_and_tcp6_lines() {
    let line = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET /";
    let (header, used) = v1(line).unwrap().unwrap();
    assert_eq!(used, line.len() - "GET /".len());
    assert_eq!(header.protocol, "TCP4");
    assert_eq!(
        header.addresses,
        addrs("192.168.0.1:56324", "192.168.0.11:443")
    );
    let (header, _) = v1("PROXY TCP6 2001:db8::1 ::1 65535 0\r\n")
        .unwrap()
        .unwrap();
    assert_eq!(header.protocol, "TCP6");
    assert_eq!(header.addresses, addrs("[2001:db8::1]:65535", "[::1]:0"));
}

#[test]
fn v1_unknown_keeps_the_connections_addresses() {
    for line in ["PROXY UNKNOWN\r\n", "PROXY UNKNOWN ff::1 ff::2 1 2\r\n"] {
        let (header, used) = v1(line).unwrap().unwrap();
        assert_eq!(
            (header.protocol, header.addresses, used),
            ("UNKNOWN", None, line.len())
        );
    }
}

#[test]
fn v1_waits_for_the_line_end_but_not_past_107_bytes() {
    assert_eq!(v1("PROXY TCP4 1.2.3.4"), Ok(None));
    assert_eq!(v1("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r"), Ok(None));
    let long = format!("PROXY TCP4 {}", "1".repeat(120));
    assert!(matches!(v1(&long), Err(ParseError::InvalidProxyLine(_))));
    // Exactly at the limit with CRLF is fine.
    let max = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    assert_eq!(max.len(), 104);
    assert!(v1(max).unwrap().is_some());
}

#[test]
fn bad_v1_lines_are_invalid_proxy_lines() {
    let bad = [
        // gunicorn's own invalid fixtures pp_01..pp_03
        "PROXY TCP4 192.168.0.1 192.16...\r\n",
        "PROXY TCP4 192.168.0.1 192.168.0.11 65iii 100000\r\n",
        "PROXY TCP4 not-an-ip 192.168.0.11 56324 443\r\n",
        // wrong family for the address, bad field counts, bad ports
        "PROXY TCP4 ::1 ::1 1 2\r\n",
        "PROXY TCP6 1.2.3.4 1.2.3.4 1 2\r\n",
        "PROXY TCP4 1.2.3.4 1.2.3.4 1 2 3\r\n",
        "PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n",
        "PROXY TCP4  1.2.3.4 1.2.3.4 1 2\r\n",
        "PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n",
        "PROXY TCP4 1.2.3.4 1.2.3.4 +1 2\r\n",
        "PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n",
        "PROXY TCP4 1.2.3.4 1.2.3.4 -1 2\r\n",
        "PROXY TCP4 01.2.3.4 1.2.3.4 1 2\r\n",
        "PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n",
        "PROXY tcp4 1.2.3.4 1.2.3.4 1 2\r\n",
    ];
    for line in bad {
        let result = v1(line);
        assert!(
            matches!(result, Err(ParseError::InvalidProxyLine(_))),
            "{line:?}: {result:?}"
        );
    }
}

#[test]
fn v1_messages_match_gunicorn() {
    let msg = |line: &str| v1(line).unwrap_err().to_string();
    assert_eq!(
        msg("PROXY TCP4 not-an-ip 192.168.0.11 56324 443\r\n"),
        "Invalid PROXY line: 'PROXY TCP4 not-an-ip 192.168.0.11 56324 443'"
    );
    assert_eq!(
        msg("PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n"),
        "Invalid PROXY line: \"protocol 'UDP4' not supported\""
    );
    assert_eq!(
        msg("PROXY TCP4 1.2.3.4 1.2.3.4 x 2\r\n"),
        "Invalid PROXY line: 'invalid port PROXY TCP4 1.2.3.4 1.2.3.4 x 2'"
    );
}

#[test]
fn v2_ipv4_and_ipv6_with_tlvs_skipped() {
    let mut block = vec![192, 168, 1, 10, 192, 168, 1, 1];
    block.extend_from_slice(&12345u16.to_be_bytes());
    block.extend_from_slice(&443u16.to_be_bytes());
    // A TLV (type 0x04 NOOP, 2 bytes) after the addresses.
    block.extend_from_slice(&[0x04, 0x00, 0x02, 0xaa, 0xbb]);
    let mut raw = v2(1, 0x11, &block);
    let header_len = raw.len();
    raw.extend_from_slice(b"GET / HTTP/1.1\r\n");
    let (header, used) = parse(&raw, Detected::V2).unwrap().unwrap();
    assert_eq!(used, header_len);
    assert_eq!(header.protocol, "TCP4");
    assert_eq!(
        header.addresses,
        addrs("192.168.1.10:12345", "192.168.1.1:443")
    );

    let mut block = Vec::new();
    block.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
    block.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
    block.extend_from_slice(&[0xd4, 0x31, 0x00, 0x50]);
    let (header, _) = parse(&v2(1, 0x21, &block), Detected::V2).unwrap().unwrap();
    assert_eq!(header.protocol, "TCP6");
    assert_eq!(
        header.addresses,
        addrs("[2001:db8::1]:54321", "[2001:db8::2]:80")
    );
}

#[test]
fn v2_local_and_unspec_carry_no_addresses() {
    let (header, used) = parse(&v2(0, 0x11, &[0; 12]), Detected::V2)
        .unwrap()
        .unwrap();
    assert_eq!(
        (header.protocol, header.addresses, used),
        ("LOCAL", None, 28)
    );
    let (header, _) = parse(&v2(1, 0x01, &[]), Detected::V2).unwrap().unwrap();
    assert_eq!((header.protocol, header.addresses), ("UNSPEC", None));
}

#[test]
fn v2_waits_for_the_whole_header() {
    let raw = v2(1, 0x11, &[1; 12]);
    for cut in 0..raw.len() {
        assert_eq!(parse(&raw[..cut], Detected::V2), Ok(None), "cut at {cut}");
    }
    assert!(parse(&raw, Detected::V2).unwrap().is_some());
}

#[test]
fn bad_v2_headers_are_invalid_proxy_headers() {
    let mut wrong_version = v2(1, 0x11, &[0; 12]);
    wrong_version[12] = 0x11;
    let cases: [(Vec<u8>, &str); 5] = [
        (wrong_version, "unsupported version 1"),
        (v2(2, 0x11, &[0; 12]), "unsupported command 2"),
        (v2(1, 0x12, &[0; 12]), "only TCP protocol is supported"),
        (v2(1, 0x11, &[0; 11]), "insufficient address data for IPv4"),
        (v2(1, 0x31, &[0; 216]), "unsupported address family 3"),
    ];
    for (raw, why) in cases {
        assert_eq!(
            parse(&raw, Detected::V2),
            Err(ParseError::InvalidProxyHeader(why.to_owned()))
        );
    }
    assert_eq!(
        ParseError::InvalidProxyHeader("unsupported command 2".into()).to_string(),
        "Invalid PROXY header: unsupported command 2"
    );
}
