//! `--bind` values: gunicorn's `util.parse_address` forms.

use std::fmt;
use std::path::PathBuf;

use super::Error;

/// Port used when a bind value has none (gunicorn's default).
const DEFAULT_PORT: u16 = 8000;

/// A parsed `--bind` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindAddr {
    /// `HOST`, `HOST:PORT`, `[v6]:PORT`, `tcp://...` (host not yet resolved).
    Tcp { host: String, port: u16 },
    /// `unix:PATH` or `unix://PATH`. A leading NUL byte names an abstract socket.
    Unix(PathBuf),
    /// `fd://N`: an already-open listening socket.
    Fd(i32),
}

impl fmt::Display for BindAddr {
    /// The value in `--bind` syntax (`127.0.0.1:8000`, `[::1]:8000`, `unix:/x`, `fd://3`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindAddr::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            BindAddr::Tcp { host, port } => write!(f, "{host}:{port}"),
            BindAddr::Unix(path) => write!(f, "unix:{}", path.display()),
            BindAddr::Fd(n) => write!(f, "fd://{n}"),
        }
    }
}

/// Parse one `--bind` value as gunicorn's `util.parse_address`.
///
/// Stricter than gunicorn where it would silently misread: text after `]`
/// other than `:PORT`, and more than one `:` outside brackets (an unbracketed
/// IPv6 address, which gunicorn rejects only by accident) are errors.
pub fn parse_bind(value: &str) -> Result<BindAddr, Error> {
    let bad = |message: String| Error::Address {
        value: value.to_owned(),
        message,
    };

    if let Some(rest) = value.strip_prefix("unix:") {
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if path.is_empty() {
            return Err(bad("the unix socket path is empty".into()));
        }
        return Ok(BindAddr::Unix(PathBuf::from(path)));
    }
    if let Some(fd) = value.strip_prefix("fd://") {
        return match fd.trim().parse::<i32>() {
            Ok(n) if n >= 0 => Ok(BindAddr::Fd(n)),
            _ => Err(bad(format!("{fd:?} is not a valid file descriptor"))),
        };
    }

    let netloc = value.strip_prefix("tcp://").unwrap_or(value);
    let (host, port) = if let Some(rest) = netloc.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err(bad("missing ']' after the IPv6 address".into()));
        };
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(bad(format!("unexpected {after:?} after ']'"))),
            },
        }
    } else if let Some((host, port)) = netloc.split_once(':') {
        if port.contains(':') {
            return Err(bad(
                "an IPv6 address must be in brackets, as [::1]:8000".into()
            ));
        }
        (host, Some(port))
    } else {
        (netloc, None)
    };

    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => parse_port(p).map_err(bad)?,
    };
    // gunicorn lower-cases the host; an empty one means every interface.
    let host = if host.is_empty() {
        "0.0.0.0".to_owned()
    } else {
        host.to_ascii_lowercase()
    };
    Ok(BindAddr::Tcp { host, port })
}

fn parse_port(text: &str) -> Result<u16, String> {
    let digits = text.trim();
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("{text:?} is not a valid port number"));
    }
    digits
        .parse::<u16>()
        .map_err(|_| format!("port {digits} is out of range (0-65535)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> BindAddr {
        BindAddr::Tcp {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn parse_bind_forms() {
        let ok = [
            ("127.0.0.1:8000", tcp("127.0.0.1", 8000)),
            ("127.0.0.1", tcp("127.0.0.1", 8000)),
            ("localhost:0", tcp("localhost", 0)),
            ("Example.COM:80", tcp("example.com", 80)),
            ("0.0.0.0:65535", tcp("0.0.0.0", 65535)),
            ("", tcp("0.0.0.0", 8000)),
            (":9000", tcp("0.0.0.0", 9000)),
            ("[::1]:8080", tcp("::1", 8080)),
            ("[::1]", tcp("::1", 8000)),
            ("[::]:80", tcp("::", 80)),
            ("[FE80::1]:80", tcp("fe80::1", 80)),
            ("[]:80", tcp("0.0.0.0", 80)),
            ("tcp://127.0.0.1:5000", tcp("127.0.0.1", 5000)),
            ("tcp://[::1]:5000", tcp("::1", 5000)),
            ("tcp://", tcp("0.0.0.0", 8000)),
            ("host: 81 ", tcp("host", 81)),
            ("unix:/tmp/app.sock", BindAddr::Unix("/tmp/app.sock".into())),
            (
                "unix:///tmp/app.sock",
                BindAddr::Unix("/tmp/app.sock".into()),
            ),
            ("unix:relative.sock", BindAddr::Unix("relative.sock".into())),
            ("unix:\0abstract", BindAddr::Unix("\0abstract".into())),
            ("fd://3", BindAddr::Fd(3)),
            ("fd://0", BindAddr::Fd(0)),
        ];
        for (value, want) in ok {
            assert_eq!(parse_bind(value).unwrap(), want, "{value:?}");
        }

        let bad = [
            ("127.0.0.1:http", "\"http\" is not a valid port number"),
            ("127.0.0.1:", "\"\" is not a valid port number"),
            ("127.0.0.1:-1", "\"-1\" is not a valid port number"),
            ("127.0.0.1:65536", "port 65536 is out of range (0-65535)"),
            (
                "127.0.0.1:99999999999",
                "port 99999999999 is out of range (0-65535)",
            ),
            ("[::1]:", "\"\" is not a valid port number"),
            ("[::1]:x", "\"x\" is not a valid port number"),
            ("[::1", "missing ']' after the IPv6 address"),
            ("[::1]8000", "unexpected \"8000\" after ']'"),
            ("::1", "an IPv6 address must be in brackets, as [::1]:8000"),
            (
                "a:80:90",
                "an IPv6 address must be in brackets, as [::1]:8000",
            ),
            ("fd://x", "\"x\" is not a valid file descriptor"),
            ("fd://-1", "\"-1\" is not a valid file descriptor"),
            ("fd://", "\"\" is not a valid file descriptor"),
            ("unix:", "the unix socket path is empty"),
            ("unix://", "the unix socket path is empty"),
        ];
        for (value, want) in bad {
            match parse_bind(value) {
                Err(Error::Address { value: v, message }) => {
                    assert_eq!(v, value);
                    assert_eq!(message, want, "{value:?}");
                }
                other => panic!("{value:?}: expected an address error, got {other:?}"),
            }
        }
        let shown = parse_bind("x:y").unwrap_err().to_string();
        assert_eq!(
            shown,
            "invalid bind address \"x:y\": \"y\" is not a valid port number"
        );
    }

    #[test]
    fn bind_addr_display() {
        assert_eq!(tcp("127.0.0.1", 80).to_string(), "127.0.0.1:80");
        assert_eq!(tcp("::1", 80).to_string(), "[::1]:80");
        assert_eq!(BindAddr::Unix("/a.sock".into()).to_string(), "unix:/a.sock");
        assert_eq!(BindAddr::Fd(4).to_string(), "fd://4");
    }
}
