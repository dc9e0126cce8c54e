use super::*;

const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

fn req(version: (u8, u8)) -> RequestInfo {
    RequestInfo {
        version,
        is_head: false,
        keep_alive: true,
        chunked: version > (1, 0),
    }
}

fn head(status: &str, headers: &[(&str, &str)]) -> ResponseHead {
    let mut h = ResponseHead::default();
    h.set_status(status.as_bytes()).unwrap();
    for (name, value) in headers {
        h.push_header(name.as_bytes(), value.as_bytes()).unwrap();
    }
    h
}

fn encode(h: &ResponseHead, req: &RequestInfo, force_close: bool) -> (String, Framing, bool) {
    let mut out = Vec::new();
    let (framing, keep) = h.encode(req, force_close, DATE, &mut out);
    (String::from_utf8(out).unwrap(), framing, keep)
}

#[test]
fn status_validation() {
    let mut h = ResponseHead::default();
    for good in [
        "200 OK",
        "200",
        "404 Not Found",
        "599 x\ty",
        "200 ",
        "200 caf\u{e9}",
    ] {
        let bytes: Vec<u8> = good.chars().map(|c| c as u8).collect();
        assert_eq!(h.set_status(&bytes), Ok(()), "{good:?}");
    }
    assert_eq!(h.status_code(), 200);
    assert_eq!(h.status(), b"200 caf\xe9");
    for bad in [
        &b"20 OK"[..],
        b"2000",
        b"200\tOK",
        b"200 O\rK",
        b"200 \n",
        b"abc OK",
        b"",
        b"200 \x7f",
    ] {
        assert_eq!(
            h.set_status(bad),
            Err(ResponseError::InvalidStatus(latin1(bad))),
            "{bad:?}"
        );
    }
    assert_eq!(
        ResponseError::InvalidStatus("20 OK".into()).to_string(),
        "Invalid status '20 OK'"
    );
}

#[test]
fn header_validation() {
    let mut h = head("200 OK", &[]);
    assert_eq!(
        h.push_header(b"Bad Name", b"x"),
        Err(ResponseError::InvalidHeaderName("Bad Name".into()))
    );
    assert_eq!(
        h.push_header(b"", b"x"),
        Err(ResponseError::InvalidHeaderName(String::new()))
    );
    for bad in [&b"a\r\nInjected: 1"[..], b"a\nb", b"a\0b", b"\x01", b"\x7f"] {
        assert_eq!(
            h.push_header(b"X", bad),
            Err(ResponseError::InvalidHeaderValue("X".into())),
            "{bad:?}"
        );
    }
    assert_eq!(
        ResponseError::InvalidHeaderValue("X".into()).to_string(),
        "Invalid response header from the application: 'X'"
    );
    h.push_header(b"X-Obs", b" \tcaf\xe9\t ").unwrap();
    assert_eq!(
        h.headers().collect::<Vec<_>>(),
        [(&b"X-Obs"[..], &b"caf\xe9"[..])]
    );
}

#[test]
fn hop_by_hop_and_server_headers_are_dropped() {
    let h = head(
        "200 OK",
        &[
            ("Connection", "keep-alive"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Authenticate", "x"),
            ("Proxy-Authorization", "x"),
            ("TE", "x"),
            ("Trailers", "x"),
            ("Transfer-Encoding", "chunked"),
            ("Upgrade", "h2c"),
            ("Server", "mine"),
            ("Date", "yesterday"),
            ("X-Kept", "1"),
        ],
    );
    assert_eq!(
        h.headers().map(|(n, _)| n).collect::<Vec<_>>(),
        [&b"X-Kept"[..]]
    );
    assert!(!h.is_upgrade());
}

#[test]
fn websocket_upgrade() {
    let h = head(
        "101 Switching Protocols",
        &[("Upgrade", "websocket"), ("Connection", "Upgrade")],
    );
    assert!(h.is_upgrade());
    let (text, framing, keep) = encode(&h, &req((1, 1)), false);
    assert_eq!(
        text,
        "HTTP/1.1 101 Switching Protocols\r\nServer: gunicorn-rs\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
         Connection: upgrade\r\nUpgrade: websocket\r\n\r\n"
    );
    assert_eq!((framing, keep), (Framing::NoBody, false));
}

#[test]
fn content_length_values() {
    let cl = |v: &str| {
        let mut h = head("200 OK", &[]);
        h.push_header(b"Content-Length", v.as_bytes())
            .map(|()| h.content_length())
    };
    assert_eq!(cl("12"), Ok(Some(12)));
    assert_eq!(cl(" 007 "), Ok(Some(7)));
    assert_eq!(cl("+5"), Ok(Some(5)));
    assert_eq!(cl("1_000"), Ok(Some(1000)));
    assert_eq!(cl("-1"), Ok(Some(0)));
    assert_eq!(cl("99999999999999999999999"), Ok(Some(u64::MAX)));
    // Python's int() also skips the latin-1 whitespace NEL and NBSP
    // (gunicorn sends a 5-byte body for "\xa05").
    let bytes_cl = |v: &[u8]| {
        let mut h = head("200 OK", &[]);
        h.push_header(b"Content-Length", v)
            .map(|()| h.content_length())
    };
    assert_eq!(bytes_cl(b"\xa05"), Ok(Some(5)));
    assert_eq!(bytes_cl(b" \x85\xa07\xa0\t"), Ok(Some(7)));
    assert_eq!(
        bytes_cl(b"\xe95"),
        Err(ResponseError::InvalidContentLength("\u{e9}5".into()))
    );
    for bad in ["", "x", "1.5", "_1", "1_", "1__0", "0x10", "- 1", "1 2"] {
        assert_eq!(
            cl(bad),
            Err(ResponseError::InvalidContentLength(bad.into())),
            "{bad:?}"
        );
    }
    assert_eq!(
        ResponseError::InvalidContentLength("x".into()).to_string(),
        "invalid literal for int() with base 10: 'x'"
    );
    // The last one given counts; all are sent.
    let h = head(
        "200 OK",
        &[("Content-Length", "1"), ("Content-Length", "2")],
    );
    assert_eq!((h.content_length(), h.headers().count()), (Some(2), 2));
}

#[test]
fn encode_length_keep_alive() {
    let h = head(
        "200 OK",
        &[("Content-Type", "text/plain"), ("Content-Length", "5")],
    );
    let (text, framing, keep) = encode(&h, &req((1, 1)), false);
    assert_eq!(
        text,
        "HTTP/1.1 200 OK\r\nServer: gunicorn-rs\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: keep-alive\r\n\
         Content-Type: text/plain\r\nContent-Length: 5\r\n\r\n"
    );
    assert_eq!((framing, keep), (Framing::Length(5), true));
    // The response echoes the request's version.
    assert!(
        encode(&h, &req((1, 0)), false)
            .0
            .starts_with("HTTP/1.0 200 OK\r\n")
    );
    assert_eq!(encode(&h, &req((1, 0)), false).1, Framing::Length(5));
}

#[test]
fn encode_chunked_on_http11_without_length() {
    let h = head("200 OK", &[("X", "y")]);
    let (text, framing, keep) = encode(&h, &req((1, 1)), false);
    assert_eq!(
        text,
        "HTTP/1.1 200 OK\r\nServer: gunicorn-rs\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: keep-alive\r\n\
         Transfer-Encoding: chunked\r\nX: y\r\n\r\n"
    );
    assert_eq!((framing, keep), (Framing::Chunked, true));
}

#[test]
fn encode_close_delimited_on_http10_without_length() {
    let h = head("200 OK", &[]);
    let (text, framing, keep) = encode(&h, &req((1, 0)), false);
    assert!(text.contains("\r\nConnection: close\r\n"));
    assert!(!text.contains("Transfer-Encoding"));
    assert_eq!((framing, keep), (Framing::Close, false));
}

/// A uwsgi front end reads to the close and passes the body on as bytes:
/// an HTTP/1.1 status line, but no chunk markers in the body.
#[test]
fn encode_close_delimited_when_chunks_are_not_accepted() {
    let h = head("200 OK", &[]);
    let uwsgi = RequestInfo {
        keep_alive: false,
        chunked: false,
        ..req((1, 1))
    };
    let (text, framing, keep) = encode(&h, &uwsgi, false);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(text.contains("\r\nConnection: close\r\n"));
    assert!(!text.contains("Transfer-Encoding"));
    assert_eq!((framing, keep), (Framing::Close, false));
    let sized = head("200 OK", &[("Content-Length", "3")]);
    assert_eq!(encode(&sized, &uwsgi, false).1, Framing::Length(3));
}

#[test]
fn no_body_responses() {
    for status in [
        "204 No Content",
        "304 Not Modified",
        "100 Continue",
        "199 x",
    ] {
        let h = head(status, &[("Content-Length", "10")]);
        let (text, framing, keep) = encode(&h, &req((1, 1)), false);
        assert_eq!((framing, keep), (Framing::NoBody, true), "{status}");
        assert!(!text.contains("Transfer-Encoding"), "{status}");
        // Content-Length is removed on 1xx and 204, kept on 304.
        assert_eq!(
            text.contains("Content-Length: 10"),
            status.starts_with("304"),
            "{status}"
        );
    }
    let head_req = RequestInfo {
        is_head: true,
        ..req((1, 1))
    };
    let with_length = head("200 OK", &[("Content-Length", "10")]);
    let (text, framing, keep) = encode(&with_length, &head_req, false);
    assert!(text.contains("Content-Length: 10\r\n"));
    assert_eq!((framing, keep), (Framing::NoBody, true));
    let without = head("200 OK", &[]);
    let head10 = RequestInfo {
        is_head: true,
        ..req((1, 0))
    };
    let (text, framing, keep) = encode(&without, &head10, false);
    assert!(!text.contains("Transfer-Encoding"));
    assert_eq!(
        (framing, keep),
        (Framing::NoBody, true),
        "HTTP/1.0 with Connection: keep-alive"
    );
    let head10_close = RequestInfo {
        keep_alive: false,
        ..head10
    };
    assert!(!encode(&without, &head10_close, false).2);
}

#[test]
fn keep_alive_decision() {
    let h = head("200 OK", &[("Content-Length", "0")]);
    assert!(encode(&h, &req((1, 1)), false).2);
    let (text, _, keep) = encode(&h, &req((1, 1)), true);
    assert!(!keep && text.contains("Connection: close\r\n"));
    let no_ka = RequestInfo {
        keep_alive: false,
        ..req((1, 1))
    };
    assert!(!encode(&h, &no_ka, false).2);
}

#[test]
fn reuse_after_clear() {
    let mut h = head(
        "101 Switching Protocols",
        &[
            ("Connection", "upgrade"),
            ("Content-Length", "3"),
            ("A", "b"),
        ],
    );
    h.clear();
    h.set_status(b"200 OK").unwrap();
    assert_eq!(
        (h.headers().count(), h.content_length(), h.is_upgrade()),
        (0, None, false)
    );
}

#[test]
fn chunk_headers() {
    let hex = |n: usize| {
        let mut out = Vec::new();
        chunk_header(n, &mut out);
        String::from_utf8(out).unwrap()
    };
    assert_eq!(hex(1), "1\r\n");
    assert_eq!(hex(31), "1F\r\n");
    assert_eq!(hex(4096), "1000\r\n");
    assert_eq!(hex(usize::MAX), format!("{:X}\r\n", usize::MAX));
}
