//! Requests gunicorn 27 refuses, one test per parsing rule, through the real
//! binary: the exact status line, `Connection: close`, gunicorn's HTML page
//! with its message, and the connection closed with nothing more sent (so
//! nothing after a bad request is ever read as another request).
//!
//! Every expected status and message was first taken from gunicorn 27.0.1
//! (gthread worker) given the same bytes. Where we deliberately differ, the
//! case says so.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Launch, Response, Server, read_response};
use serde_json::Value;

/// A server plus the number of refusals sent to it, so that `done` can
/// check each was logged and no worker died on the way.
struct Target {
    server: Server,
    refusals: usize,
}

fn target(args: &[&str]) -> Target {
    Target {
        server: Launch::new(args).start(),
        refusals: 0,
    }
}

/// The echo app (echoes the environ as JSON) with extra flags.
fn echo(flags: &[&str]) -> Target {
    let mut args = flags.to_vec();
    args.push("echo:app");
    target(&args)
}

impl Target {
    /// Send `raw` on a fresh connection; it must be refused with `status
    /// reason` and `message` (as in gunicorn's page, before HTML escaping),
    /// then closed with nothing more sent.
    fn refuse(&mut self, raw: &[u8], status: u16, reason: &str, message: &str) {
        let mut s = self.server.connect();
        s.write_all(raw).unwrap();
        self.check_refusal(&mut s, raw, status, reason, message);
    }

    fn check_refusal(
        &mut self,
        s: &mut TcpStream,
        raw: &[u8],
        status: u16,
        reason: &str,
        message: &str,
    ) {
        let sent = String::from_utf8_lossy(raw);
        let resp = read_response(s)
            .unwrap_or_else(|e| panic!("{sent:?}: {e}\nlog:\n{}", self.server.log_text()));
        assert_eq!(
            (resp.status, resp.reason.as_str()),
            (status, reason),
            "{sent:?}: {}",
            resp.text()
        );
        let names: Vec<&str> = resp.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["Connection", "Content-Type", "Content-Length"],
            "{sent:?}: {}",
            resp.raw_head
        );
        assert_eq!(resp.header("connection"), Some("close"), "{sent:?}");
        assert_eq!(resp.header("content-type"), Some("text/html"), "{sent:?}");
        assert_eq!(
            String::from_utf8_lossy(&resp.body),
            String::from_utf8_lossy(&error_page(reason, message)),
            "{sent:?}"
        );
        assert_closed_silently(s, &sent);
        self.refusals += 1;
    }

    /// Send `raw` (one request) on a fresh connection; it must be served
    /// by the echo app. Returns the response and the environ it saw.
    fn accept(&self, raw: &[u8]) -> (Response, Value) {
        let mut s = self.server.connect();
        s.write_all(raw).unwrap();
        let sent = String::from_utf8_lossy(raw);
        let resp = read_response(&mut s)
            .unwrap_or_else(|e| panic!("{sent:?}: {e}\nlog:\n{}", self.server.log_text()));
        assert_eq!(resp.status, 200, "{sent:?}: {}", resp.text());
        let env = serde_json::from_slice(&resp.body)
            .unwrap_or_else(|e| panic!("{sent:?}: {e}: {}", resp.text()));
        (resp, env)
    }

    /// Every refusal was logged as gunicorn logs it, and no worker died.
    fn done(self) {
        let needle = "[WARNING] Invalid request from ip=127.0.0.1";
        assert!(
            self.server.wait_count(needle, self.refusals, common::WAIT),
            "want {} warnings; log:\n{}",
            self.refusals,
            self.server.log_text()
        );
        let log = self.server.log_text();
        assert!(
            !log.contains("panicked") && !log.contains("exited with code"),
            "a worker died:\n{log}"
        );
    }
}

/// gunicorn's error page (`util.write_error`) around `message`, which is
/// HTML-escaped as `html.escape` does and written latin-1.
fn error_page(reason: &str, message: &str) -> Vec<u8> {
    let mut escaped = String::new();
    for c in message.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#x27;"),
            c => escaped.push(c),
        }
    }
    format!(
        "<html>\n  <head>\n    <title>{reason}</title>\n  </head>\n  <body>\n    \
         <h1><p>{reason}</p></h1>\n    {escaped}\n  </body>\n</html>\n"
    )
    .chars()
    .map(|c| u8::try_from(u32::from(c)).expect("latin-1 text"))
    .collect()
}

/// The server closes `s` without sending anything more (bounded wait).
fn assert_closed_silently(s: &mut TcpStream, sent: &str) {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rest = Vec::new();
    match s.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("{sent:?}: connection not closed: {e}"),
    }
    assert!(
        rest.is_empty(),
        "{sent:?}: more after the error page: {}",
        String::from_utf8_lossy(&rest)
    );
}

/// `GET / HTTP/1.1` with `Host: x` and the given header lines.
fn get_with(headers: &str) -> Vec<u8> {
    format!("GET / HTTP/1.1\r\nHost: x\r\n{headers}\r\n").into_bytes()
}

#[test]
fn a_script_name_header_outside_the_path_is_500_with_gunicorns_message() {
    // SCRIPT_NAME is a default forwarder header and 127.0.0.1 is trusted,
    // so it passes even header_map=refuse; gunicorn then raises
    // ConfigurationProblem (500, reason left at "Bad Request").
    let mut t = echo(&["--header-map", "refuse"]);
    let (_, env) = t.accept(&get_with("SCRIPT_NAME: /\r\n"));
    assert_eq!(env["SCRIPT_NAME"], "/");
    t.refuse(
        &get_with("SCRIPT_NAME: /x\r\n"),
        500,
        "Bad Request",
        "Configuration problem: Request path '/' does not start with SCRIPT_NAME '/x'",
    );
    t.done();
}
