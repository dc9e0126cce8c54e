use super::*;
use crate::http::parser::{BodyKind, Parsed, ParserConfig, parse_head};

/// A packet as nginx writes one, from pairs in order.
fn packet(vars: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (k, v) in vars {
        for part in [k.as_bytes(), v.as_bytes()] {
            block.extend_from_slice(&(part.len() as u16).to_le_bytes());
            block.extend_from_slice(part);
        }
    }
    let mut out = vec![0];
    out.extend_from_slice(&(block.len() as u16).to_le_bytes());
    out.push(0);
    out.extend_from_slice(&block);
    out
}

fn parsed(vars: &[(&str, &str)]) -> Packet {
    let bytes = packet(vars);
    let (p, used) = parse(&bytes).unwrap().unwrap();
    assert_eq!(used, bytes.len());
    p
}

fn head_text(vars: &[(&str, &str)]) -> String {
    String::from_utf8(parsed(vars).head).unwrap()
}

/// The variables of nginx's `uwsgi_params` for a POST with a body.
const NGINX_POST: &[(&str, &str)] = &[
    ("QUERY_STRING", "a=1&b=%20"),
    ("REQUEST_METHOD", "POST"),
    ("CONTENT_TYPE", "application/json"),
    ("CONTENT_LENGTH", "7"),
    ("REQUEST_URI", "/caf%C3%A9/x?a=1&b=%20"),
    ("PATH_INFO", "/café/x"),
    ("DOCUMENT_ROOT", "/usr/share/nginx/html"),
    ("SERVER_PROTOCOL", "HTTP/2.0"),
    ("REQUEST_SCHEME", "https"),
    ("HTTPS", "on"),
    ("REMOTE_ADDR", "203.0.113.9"),
    ("REMOTE_PORT", "51234"),
    ("SERVER_PORT", "443"),
    ("SERVER_NAME", "example.org"),
    ("HTTP_HOST", "example.org"),
    ("HTTP_CONTENT_TYPE", "application/json"),
    ("HTTP_CONTENT_LENGTH", "7"),
    ("HTTP_X_REQUEST_ID", "abc"),
    ("HTTP_EXPECT", "100-continue"),
];

#[test]
fn nginx_post_becomes_an_http11_head_the_parser_accepts() {
    let p = parsed(NGINX_POST);
    assert_eq!(
        String::from_utf8(p.head.clone()).unwrap(),
        "POST /caf%C3%A9/x?a=1&b=%20 HTTP/1.1\r\n\
         HOST: example.org\r\n\
         X-REQUEST-ID: abc\r\n\
         Content-Type: application/json\r\n\
         Content-Length: 7\r\n\r\n"
    );
    assert!(p.https);
    assert_eq!(
        p.client,
        Some(Client {
            addr: "203.0.113.9".into(),
            port: Some("51234".into())
        })
    );
    let Ok(Parsed::Complete { head, consumed }) = parse_head(&p.head, &ParserConfig::default())
    else {
        panic!("the rebuilt head parses");
    };
    assert_eq!(consumed, p.head.len());
    assert_eq!(head.body_kind(), BodyKind::Length(7));
    assert_eq!(head.path(), b"/caf%C3%A9/x");
    assert_eq!(head.query(), b"a=1&b=%20");
    assert!(!head.expects_continue());
}

#[test]
fn defaults_and_scheme() {
    assert_eq!(head_text(&[]), "GET / HTTP/1.1\r\n\r\n");
    assert!(!parsed(&[]).https);
    assert!(parsed(&[("wsgi.url_scheme", "https")]).https);
    assert!(parsed(&[("HTTPS", "TRUE")]).https);
    assert!(!parsed(&[("HTTPS", "off"), ("wsgi.url_scheme", "https")]).https);
    assert!(parsed(&[("HTTPS", ""), ("wsgi.url_scheme", "https")]).https);
    assert_eq!(parsed(&[("REMOTE_ADDR", "")]).client, None);
    assert_eq!(
        parsed(&[("REMOTE_ADDR", "unix:")]).client,
        Some(Client {
            addr: "unix:".into(),
            port: None
        })
    );
}

#[test]
fn paths_are_encoded_so_the_parser_decodes_them_back() {
    assert_eq!(
        head_text(&[("PATH_INFO", "/a b/%/?#/~ok")]),
        "GET /a%20b/%25/%3F%23/~ok HTTP/1.1\r\n\r\n"
    );
    assert_eq!(
        head_text(&[("PATH_INFO", "relative")]),
        "GET /relative HTTP/1.1\r\n\r\n"
    );
}

#[test]
fn later_variables_replace_earlier_ones() {
    assert_eq!(
        head_text(&[("REQUEST_METHOD", "GET"), ("REQUEST_METHOD", "PUT")]),
        "PUT / HTTP/1.1\r\n\r\n"
    );
}

#[test]
fn partial_packets_wait_for_more() {
    let bytes = packet(NGINX_POST);
    for cut in 0..bytes.len() {
        assert_eq!(parse(&bytes[..cut]), Ok(None), "cut at {cut}");
    }
    // The body that follows is not the packet's.
    let mut with_body = bytes.clone();
    with_body.extend_from_slice(b"{\"a\":1}");
    assert_eq!(parse(&with_body).unwrap().unwrap().1, bytes.len());
}

#[test]
fn refusals() {
    let refused = |bytes: &[u8]| parse(bytes).unwrap_err();
    // An HTTP client on a uwsgi port is told at its first byte.
    assert_eq!(refused(b"G"), ParseError::UnsupportedUwsgiModifier(b'G'));
    assert_eq!(refused(b"G").status(), 501);
    // Header injection through a value or a name.
    for vars in [
        &[("HTTP_X", "a\r\nInjected: 1")][..],
        &[("HTTP_X", "a\nb")],
        &[("PATH_INFO", "/a\0")],
        &[("HTTP_X:Y", "1")],
        &[("HTTP_", "1")],
        &[("HTTP_X Y", "1")],
        &[("REQUEST_METHOD", "GET / HTTP/1.1")],
        &[("QUERY_STRING", "a b")],
        &[("CONTENT_LENGTH", "-1")],
        &[("CONTENT_LENGTH", "1 ")],
    ] {
        let err = refused(&packet(vars));
        assert!(
            matches!(err, ParseError::InvalidUwsgiHeader(_)),
            "{vars:?}: {err:?}"
        );
        assert_eq!(err.status(), 400);
    }
    // A block whose pairs do not add up to its size.
    let mut cut = packet(&[("A", "b")]);
    cut[1] -= 1;
    cut.pop();
    assert_eq!(
        refused(&cut),
        ParseError::InvalidUwsgiHeader("truncated value".into())
    );
    let many: Vec<(String, String)> = (0..=MAX_VARS)
        .map(|i| (format!("V{i}"), String::new()))
        .collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        refused(&packet(&many)),
        ParseError::InvalidUwsgiHeader("too many variables".into())
    );
}

#[test]
fn the_rebuilt_head_meets_the_http_rules() {
    // What the HTTP parser refuses over HTTP it refuses over uwsgi.
    let bad_method = parsed(&[("REQUEST_METHOD", "get")]);
    assert!(parse_head(&bad_method.head, &ParserConfig::default()).is_err());
    let two_hosts = parsed(&[("HTTP_HOST", "a"), ("HTTP_Host", "b")]);
    assert!(parse_head(&two_hosts.head, &ParserConfig::default()).is_err());
}
