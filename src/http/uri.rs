//! Splitting a request-target into path, query and fragment the way gunicorn
//! does (`util.split_request_uri`, i.e. Python 3.11's `urllib.parse.urlsplit`
//! with a leading `//` kept as path), including the cases where `urlsplit`
//! raises and gunicorn answers `InvalidRequestLine`.

use std::net::Ipv6Addr;
use std::ops::Range;

/// Where the parts of a target are, as ranges of the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TargetParts {
    pub path: Range<usize>,
    pub query: Range<usize>,
    pub fragment: Range<usize>,
}

/// Split `uri` (bytes 0x21-0x7E only, already checked). `None` where
/// `urlsplit` raises `ValueError`.
pub(crate) fn split_target(uri: &[u8]) -> Option<TargetParts> {
    // A leading "//" is a path, not a network location (RFC 9112 origin-form).
    if uri.starts_with(b"//") {
        return Some(split_path_query_fragment(uri, 0));
    }
    let mut rest = scheme_end(uri).map_or(0, |colon| colon + 1);
    if uri[rest..].starts_with(b"//") {
        let netloc_start = rest + 2;
        let netloc_end = uri[netloc_start..]
            .iter()
            .position(|&b| matches!(b, b'/' | b'?' | b'#'))
            .map_or(uri.len(), |i| netloc_start + i);
        check_netloc(&uri[netloc_start..netloc_end])?;
        rest = netloc_end;
    }
    Some(split_path_query_fragment(uri, rest))
}

/// Index of the `:` ending a scheme: `urlsplit` takes one when the text before
/// the first `:` is non-empty, starts with a letter and has only letters,
/// digits, `+`, `-` and `.`.
fn scheme_end(uri: &[u8]) -> Option<usize> {
    // Checked first: it rules out every origin-form target at once.
    if !uri.first().is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    let colon = uri.iter().position(|&b| b == b':')?;
    let scheme = &uri[..colon];
    let starts_alpha = scheme.first().is_some_and(u8::is_ascii_alphabetic);
    let all_scheme_chars = scheme
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    (starts_alpha && all_scheme_chars).then_some(colon)
}

/// Fragment after the first `#`, then query after the first `?` before it.
fn split_path_query_fragment(uri: &[u8], start: usize) -> TargetParts {
    let end = uri.len();
    let (before_fragment, fragment) = match uri[start..].iter().position(|&b| b == b'#') {
        Some(i) => (start + i, start + i + 1..end),
        None => (end, end..end),
    };
    let (path_end, query) = match uri[start..before_fragment].iter().position(|&b| b == b'?') {
        Some(i) => (start + i, start + i + 1..before_fragment),
        None => (before_fragment, before_fragment..before_fragment),
    };
    TargetParts {
        path: start..path_end,
        query,
        fragment,
    }
}

/// `urlsplit`'s checks on a network location: brackets must pair, and a
/// bracketed host must be an IPv6 address or an IPvFuture literal.
fn check_netloc(netloc: &[u8]) -> Option<()> {
    let open = netloc.iter().position(|&b| b == b'[');
    let has_close = netloc.contains(&b']');
    match (open, has_close) {
        (None, false) => Some(()),
        (Some(open), true) => {
            let after = &netloc[open + 1..];
            let host = after
                .iter()
                .position(|&b| b == b']')
                .map_or(after, |i| &after[..i]);
            check_bracketed_host(host)
        }
        _ => None,
    }
}

/// IPvFuture (`v<hex>.<anything>`) or an IPv6 address with an optional
/// `%scope`, as Python's `ipaddress.ip_address` accepts it.
fn check_bracketed_host(host: &[u8]) -> Option<()> {
    if let Some(rest) = host.strip_prefix(b"v") {
        let dot = rest.iter().position(|&b| b == b'.')?;
        let ok = dot > 0 && rest[..dot].iter().all(u8::is_ascii_hexdigit) && rest.len() > dot + 1;
        return ok.then_some(());
    }
    let addr = match host.iter().position(|&b| b == b'%') {
        Some(i) => {
            let scope = &host[i + 1..];
            if scope.is_empty() || scope.contains(&b'%') {
                return None;
            }
            &host[..i]
        }
        None => host,
    };
    let text = std::str::from_utf8(addr).ok()?;
    text.parse::<Ipv6Addr>().ok().map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (path, query, fragment) as strings.
    fn split(uri: &str) -> Option<(&str, &str, &str)> {
        let p = split_target(uri.as_bytes())?;
        Some((&uri[p.path], &uri[p.query], &uri[p.fragment]))
    }

    // Expected values are what Python 3.11.7's urlsplit (through gunicorn's
    // split_request_uri) returns for the same strings.
    #[test]
    fn origin_form() {
        assert_eq!(split("/a/b?x=1&y#frag"), Some(("/a/b", "x=1&y", "frag")));
        assert_eq!(split("/a#f?x"), Some(("/a", "", "f?x")));
        assert_eq!(split("/?"), Some(("/", "", "")));
        assert_eq!(split("//host/path?q"), Some(("//host/path", "q", "")));
        assert_eq!(
            split("///keeping_slashes"),
            Some(("///keeping_slashes", "", ""))
        );
        assert_eq!(
            split("/redirect?u=http://x/"),
            Some(("/redirect", "u=http://x/", ""))
        );
        assert_eq!(split("/a:b"), Some(("/a:b", "", "")));
    }

    #[test]
    fn absolute_form() {
        assert_eq!(
            split("http://example.com/foo?q=1"),
            Some(("/foo", "q=1", ""))
        );
        assert_eq!(
            split("https://user:pass@example.com:8080/foo?q=1"),
            Some(("/foo", "q=1", ""))
        );
        assert_eq!(split("http://example.com"), Some(("", "", "")));
        assert_eq!(split("http://example.com?x#y"), Some(("", "x", "y")));
        assert_eq!(split("http://[::1]:8080/foo"), Some(("/foo", "", "")));
        assert_eq!(split("http://[fe80::1%25eth0]/"), Some(("/", "", "")));
        assert_eq!(split("http://[v1.x]/"), Some(("/", "", "")));
        assert_eq!(split("1http://x/y"), Some(("1http://x/y", "", "")));
        assert_eq!(split("http://[::ffff:1.2.3.4]/"), Some(("/", "", "")));
        assert_eq!(split("a:b:c//x"), Some(("b:c//x", "", "")));
        assert_eq!(split("http:/x"), Some(("/x", "", "")));
        assert_eq!(split("x://[::1]:80"), Some(("", "", "")));
    }

    #[test]
    fn authority_form_is_a_path_for_urlsplit() {
        assert_eq!(split("example.com:443"), Some(("443", "", "")));
        assert_eq!(split("[::1]:443"), Some(("[::1]:443", "", "")));
        assert_eq!(split("127.0.0.1:80"), Some(("127.0.0.1:80", "", "")));
    }

    #[test]
    fn urlsplit_value_errors() {
        for bad in [
            "http://[::1/",
            "http://::1]/",
            "http://[1.2.3.4]/",
            "http://[zz]/",
            "http://[v1]/",
            "http://[vz.1]/",
            "http://[V1.x]/",
            "http://[fe80::1%]/",
            "http://[]/",
            "http://]x[/",
            "http://[::ffff:01.2.3.4]/",
            "http://[1:2:3:4:5:6:7::8]/",
        ] {
            assert_eq!(split(bad), None, "{bad}");
        }
    }
}
