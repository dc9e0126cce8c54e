//! Requests behind proxies, through the real binary: the PROXY protocol
//! (`--proxy-protocol`, `--proxy-allow-from`) and forwarder headers
//! (`--forwarder-headers`, `SCRIPT_NAME`).

mod common;

use std::io::Write;

use common::{Launch, Server, WAIT, closed_by_server, read_response};
use serde_json::Value;

/// PROXY v2 header: signature, version 2 + `command`, `fam_proto`, block.
fn v2(command: u8, fam_proto: u8, block: &[u8]) -> Vec<u8> {
    let mut out = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    out.push(0x20 | command);
    out.push(fam_proto);
    out.extend_from_slice(&u16::try_from(block.len()).unwrap().to_be_bytes());
    out.extend_from_slice(block);
    out
}

fn v2_ipv4(source: [u8; 4], sport: u16, dest: [u8; 4], dport: u16) -> Vec<u8> {
    let mut block = Vec::new();
    block.extend_from_slice(&source);
    block.extend_from_slice(&dest);
    block.extend_from_slice(&sport.to_be_bytes());
    block.extend_from_slice(&dport.to_be_bytes());
    v2(1, 0x11, &block)
}

const GET: &[u8] = b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// Send `preamble` then `GET`, and return the environ `echo.py` saw.
fn environ(server: &Server, preamble: &[u8]) -> Value {
    let mut raw = preamble.to_vec();
    raw.extend_from_slice(GET);
    let resp = server.request(&raw);
    assert_eq!(resp.status, 200, "{}\n{}", resp.text(), server.log_text());
    serde_json::from_slice(&resp.body).expect("echo.py answers JSON")
}

fn addresses(env: &Value) -> [&Value; 5] {
    [
        &env["PROXY_PROTOCOL"],
        &env["REMOTE_ADDR"],
        &env["REMOTE_PORT"],
        &env["PROXY_ADDR"],
        &env["PROXY_PORT"],
    ]
}

/// Send raw bytes on a fresh connection: the error page's status and
/// reason, after checking the connection is then closed.
fn refused(server: &Server, raw: &[u8]) -> (u16, String) {
    let mut s = server.connect();
    s.write_all(raw).unwrap();
    let resp = read_response(&mut s).unwrap_or_else(|e| panic!("{e}\n{}", server.log_text()));
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(closed_by_server(&mut s), "closed after the error page");
    (resp.status, resp.reason)
}

#[test]
fn v1_and_v2_headers_name_the_real_client() {
    let server = Launch::new(&["--access-logfile", "-", "echo:app", "--proxy-protocol"]).start();
    let env = environ(
        &server,
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
    );
    assert_eq!(
        addresses(&env),
        ["TCP4", "192.168.0.1", "56324", "192.168.0.11", "443"]
            .map(Value::from)
            .each_ref()
    );
    let env = environ(&server, b"PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n");
    assert_eq!(
        addresses(&env),
        ["TCP6", "2001:db8::1", "1", "2001:db8::2", "65535"]
            .map(Value::from)
            .each_ref()
    );
    let env = environ(&server, &v2_ipv4([10, 1, 2, 3], 4000, [10, 9, 9, 9], 8443));
    assert_eq!(
        addresses(&env),
        ["TCP4", "10.1.2.3", "4000", "10.9.9.9", "8443"]
            .map(Value::from)
            .each_ref()
    );
    // The access log names the client, as REMOTE_ADDR does.
    let logged = common::wait_until(WAIT, || {
        let lines = server.stdout_lines();
        lines
            .iter()
            .any(|l| l.starts_with("10.1.2.3 - - ["))
            .then_some(())
    });
    assert!(logged.is_some(), "{:?}", server.stdout_lines());
}

#[test]
fn headers_without_addresses_keep_the_connections_own() {
    let server = Launch::new(&["echo:app", "--proxy-protocol", "auto"]).start();
    for (preamble, protocol) in [
        (v2(0, 0x00, &[]), "LOCAL"),
        (v2(1, 0x01, &[]), "UNSPEC"),
        (b"PROXY UNKNOWN\r\n".to_vec(), "UNKNOWN"),
    ] {
        let env = environ(&server, &preamble);
        assert_eq!(env["PROXY_PROTOCOL"], protocol);
        assert_eq!(env["REMOTE_ADDR"], "127.0.0.1");
        assert!(env.get("PROXY_ADDR").is_none(), "{protocol}: {env}");
    }
}

#[test]
fn the_header_holds_for_every_request_of_the_connection_and_only_comes_first() {
    let server = Launch::new(&["echo:app", "--proxy-protocol"]).start();
    let mut s = server.connect();
    s.write_all(b"PROXY TCP4 203.0.113.7 198.51.100.1 5555 80\r\n")
        .unwrap();
    for _ in 0..2 {
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let resp = read_response(&mut s).unwrap();
        let env: Value = serde_json::from_slice(&resp.body).unwrap();
        assert_eq!(env["REMOTE_ADDR"], "203.0.113.7");
    }
    // A second PROXY line is not a header any more but a bad request.
    s.write_all(b"PROXY TCP4 1.1.1.1 2.2.2.2 1 2\r\n\r\n")
        .unwrap();
    let resp = read_response(&mut s).unwrap();
    assert_eq!(resp.status, 400);
    assert!(closed_by_server(&mut s));
}

#[test]
fn plain_http_is_served_in_every_mode_and_from_any_peer() {
    for mode in ["auto", "v1", "v2", "off"] {
        let server = Launch::new(&[
            "echo:app",
            "--proxy-allow-from",
            "10.0.0.1",
            "--proxy-protocol",
            mode,
        ])
        .start();
        let env = environ(&server, b"");
        assert!(env.get("PROXY_PROTOCOL").is_none(), "{mode}");
        // A leading empty line shares its first bytes with the v2 signature.
        let env = environ(&server, b"\r\n");
        assert_eq!(env["REMOTE_ADDR"], "127.0.0.1", "{mode}");
    }
}

#[test]
fn each_mode_reads_only_its_version() {
    let server = Launch::new(&["echo:app", "--proxy-protocol", "v1"]).start();
    assert_eq!(
        environ(&server, b"PROXY UNKNOWN\r\n")["PROXY_PROTOCOL"],
        "UNKNOWN"
    );
    let mut raw = v2(0, 0, &[]);
    raw.extend_from_slice(GET);
    assert_eq!(refused(&server, &raw).0, 400);

    let server = Launch::new(&["echo:app", "--proxy-protocol", "v2"]).start();
    assert_eq!(environ(&server, &v2(0, 0, &[]))["PROXY_PROTOCOL"], "LOCAL");
    let mut raw = b"PROXY TCP4 1.1.1.1 2.2.2.2 1 2\r\n".to_vec();
    raw.extend_from_slice(GET);
    assert_eq!(refused(&server, &raw).0, 400);

    // Off (the default): a PROXY line is just a bad request line.
    let server = Launch::new(&["echo:app"]).start();
    assert_eq!(refused(&server, &raw).0, 400);
}

#[test]
fn a_peer_outside_proxy_allow_from_is_forbidden() {
    let server = Launch::new(&[
        "echo:app",
        "--proxy-allow-from",
        "10.0.0.0/8",
        "--proxy-protocol",
    ])
    .start();
    let mut raw = b"PROXY TCP4 1.1.1.1 2.2.2.2 1 2\r\n".to_vec();
    raw.extend_from_slice(GET);
    assert_eq!(refused(&server, &raw), (403, "Forbidden".to_owned()));
    assert_eq!(
        refused(&server, &v2(0, 0, &[])),
        (403, "Forbidden".to_owned())
    );
    assert!(
        server
            .wait_for(WAIT, |l| l.contains(
                "Invalid request from ip=127.0.0.1: Proxy request from '127.0.0.1' not allowed"
            ))
            .is_some(),
        "{}",
        server.log_text()
    );
}

#[test]
fn malformed_headers_are_400() {
    let server = Launch::new(&["echo:app", "--proxy-protocol"]).start();
    let mut too_long = b"PROXY TCP4 ".to_vec();
    too_long.extend_from_slice(&[b'1'; 200]);
    for raw in [
        &b"PROXY TCP4 192.168.0.1 192.16...\r\n"[..],
        b"PROXY TCP4 192.168.0.1 192.168.0.11 65iii 100000\r\n",
        b"PROXY TCP4 not-an-ip 192.168.0.11 56324 443\r\n",
        b"PROXY TCP4 1.1.1.1 2.2.2.2 70000 1\r\n",
        b"PROXY UDP4 1.1.1.1 2.2.2.2 1 1\r\n",
        &too_long,
        &v2(2, 0x11, &[0; 12]),
        &v2(1, 0x12, &[0; 12]),
        &v2(1, 0x11, &[0; 4]),
    ] {
        assert_eq!(
            refused(&server, raw),
            (400, "Bad Request".to_owned()),
            "{}",
            String::from_utf8_lossy(raw)
        );
    }
    assert!(
        server
            .wait_for(WAIT, |l| l.contains(
                "Invalid PROXY line: 'PROXY TCP4 not-an-ip 192.168.0.11 56324 443'"
            ))
            .is_some()
    );
    assert!(
        server
            .wait_for(WAIT, |l| l
                .contains("Invalid PROXY header: only TCP protocol is supported"))
            .is_some()
    );
}

#[test]
fn a_bad_mode_is_one_line_and_exit_1() {
    let out = std::process::Command::new(common::BIN)
        .args(["--proxy-protocol", "v3", "echo:app"])
        .current_dir(common::apps_dir())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Error: Invalid value for proxy_protocol: must be one of off, v1, v2 or auto\n"
    );
}

#[test]
fn forwarder_headers_choose_the_underscore_headers_a_trusted_proxy_may_pass() {
    let request = b"GET /app/page HTTP/1.1\r\nHost: x\r\nSCRIPT_NAME: /app\r\nREMOTE_USER: ann\r\nX_OTHER: 1\r\nConnection: close\r\n\r\n";
    // Default SCRIPT_NAME,PATH_INFO: REMOTE_USER and X_OTHER are dropped.
    let server = Launch::new(&["echo:app"]).start();
    let resp = server.request(request);
    let env: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(
        (&env["SCRIPT_NAME"], &env["PATH_INFO"]),
        (&"/app".into(), &"/page".into())
    );
    assert!(env.get("HTTP_REMOTE_USER").is_none() && env.get("HTTP_X_OTHER").is_none());

    let server = Launch::new(&["echo:app", "--forwarder-headers", "REMOTE_USER"]).start();
    let resp = server.request(request);
    let env: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(env["HTTP_REMOTE_USER"], "ann");
    // SCRIPT_NAME is no longer listed: dropped like any underscore header.
    assert_eq!(
        (&env["SCRIPT_NAME"], &env["PATH_INFO"]),
        (&"".into(), &"/app/page".into())
    );
    assert!(env.get("HTTP_X_OTHER").is_none());

    let server = Launch::new(&["echo:app", "--forwarder-headers", "*"]).start();
    let resp = server.request(request);
    let env: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(
        (&env["HTTP_REMOTE_USER"], &env["HTTP_X_OTHER"]),
        (&"ann".into(), &"1".into())
    );

    // An untrusted peer passes none of them, whatever the list says.
    let server = Launch::new(&[
        "echo:app",
        "--forwarder-headers",
        "*",
        "--forwarded-allow-ips",
        "10.0.0.1",
    ])
    .start();
    let resp = server.request(request);
    let env: Value = serde_json::from_slice(&resp.body).unwrap();
    assert!(env.get("HTTP_REMOTE_USER").is_none());
    assert_eq!(env["SCRIPT_NAME"], "");
}

#[test]
fn script_name_from_the_environment_mounts_the_app() {
    let server = Launch::new(&["echo:app"])
        .env("SCRIPT_NAME", "/mnt")
        .start();
    let resp = server.request(b"GET /mnt/a%20b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let env: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(
        (&env["SCRIPT_NAME"], &env["PATH_INFO"]),
        (&"/mnt".into(), &"/a b".into())
    );
    // A trusted forwarder's header wins over the environment.
    let resp = server.request(
        b"GET /other/b HTTP/1.1\r\nHost: x\r\nSCRIPT_NAME: /other\r\nConnection: close\r\n\r\n",
    );
    let env: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(
        (&env["SCRIPT_NAME"], &env["PATH_INFO"]),
        (&"/other".into(), &"/b".into())
    );
    // Outside the mount: gunicorn's ConfigurationProblem, 500 "Bad Request".
    let (status, reason) = refused(&server, b"GET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((status, reason.as_str()), (500, "Bad Request"));
}
