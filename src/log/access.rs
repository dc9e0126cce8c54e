//! The access log: gunicorn's `access_log_format` (`%(h)s %(l)s ...`) with
//! every atom, compiled once and rendered per request.
//!
//! The format is Python `%`-dict formatting over gunicorn's atoms
//! (`glogging.Logger.atoms`, looked up through `SafeAtoms`): unknown atoms
//! render `-`, `"` in string values becomes `\"`, `{name}i`/`{name}o`/`{name}e`
//! keys are case-insensitive. Where Python would raise (a positional `%s`, a
//! bad conversion character), gunicorn logs a traceback instead of the line;
//! here the offending text is printed as-is and a warning is logged once at
//! open. Numeric conversions on string atoms print the string; integer
//! atoms take every conversion, floats (`%(D)f` is `697.000000`) and `%c`
//! included, and `%r`/`%a` quote as Python's `repr`/`ascii`.

use std::time::Duration;

mod format;

use format::Format;

use super::sink::{Sink, Std};
use super::time::{self, LocalTime};
use crate::http::parser::RequestHead;
use crate::http::response::ResponseHead;

/// gunicorn's default `access_log_format`.
pub const DEFAULT_FORMAT: &str = r#"%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s""#;

/// A line buffer that grew past this is released after the write.
const LINE_BUFFER_KEEP: usize = 64 * 1024;

/// What one finished request contributes to its access-log line.
pub struct AccessEntry<'a> {
    pub request: &'a RequestHead,
    pub response: &'a ResponseHead,
    /// `REMOTE_ADDR`: the peer IP, or the unix socket's peer name.
    pub remote_addr: &'a str,
    /// Percent-decoded path (`PATH_INFO`), for `%(U)s`.
    pub path_info: &'a str,
    /// Body bytes written to the client.
    pub body_bytes: u64,
    /// Time from the first byte of the request to the end of the response.
    pub request_time: Duration,
    /// Look up an environ key for `%({key}e)s`, as gunicorn does: the key
    /// of the format is lower-cased (Python's `str.lower()`), and matches an
    /// environ key whose lower-cased form is the same; if several do, the
    /// last one in the environ's order. Return its `str()`.
    ///
    /// Called with the lower-cased key. A closure that can only look keys
    /// up exactly (`dict.get`) finds the lower-case ones (`wsgi.*`); for
    /// it, a miss is asked again once with the key in ASCII upper case, so
    /// the CGI keys (`REMOTE_ADDR`) are found too. A closure that compares
    /// lower-cased keys answers that second call with `None`.
    pub environ: &'a dyn Fn(&str) -> Option<String>,
}

/// An open access log with its compiled format: a file or stdout, and/or
/// syslog.
pub struct AccessLog {
    format: Format,
    /// None when the lines only go to syslog.
    sink: Option<Sink>,
    /// `--access-log-json` (gunicorn-rs only): one JSON object per line.
    json: bool,
    /// The lines go to Python's `gunicorn.access` logger instead
    /// ([`super::python`]); the format as given is its `msg`.
    python: Option<String>,
    scratch: Vec<u8>,
    line: Vec<u8>,
    /// `%(t)s` as rendered for the second `time_secs`.
    time_secs: i64,
    time_text: Vec<u8>,
}

impl AccessLog {
    /// `path` is `-` for stdout or a file opened for append.
    pub fn open(path: &str, format: &str) -> Result<Self, super::Error> {
        let sink = Sink::open(path, Std::Stdout)?;
        Ok(Self::new(Some(sink), format, false))
    }

    /// The access log `cfg` asks for, if any: gunicorn writes one when
    /// `--access-logfile` is set or syslog takes the access lines.
    pub fn from_config(cfg: &crate::config::Config) -> Result<Option<Self>, super::Error> {
        if super::python::active() {
            // Python's logging has the file handler, as in gunicorn.
            let mut log = Self::new(None, "", false);
            log.python = Some(cfg.access_log_format.clone());
            return Ok(Some(log));
        }
        let sink = match cfg.accesslog.as_deref() {
            Some(path) => Some(Sink::open(path, Std::Stdout)?),
            None if super::syslog::access_enabled() => None,
            None => return Ok(None),
        };
        let json = cfg.logging.access_log_json;
        Ok(Some(Self::new(sink, &cfg.access_log_format, json)))
    }

    fn new(sink: Option<Sink>, format: &str, json: bool) -> Self {
        let format = Format::compile(format);
        for problem in &format.problems {
            tracing::warn!("access_log_format: {problem}; printed as-is");
        }
        AccessLog {
            format,
            sink,
            json,
            python: None,
            scratch: Vec::new(),
            line: Vec::new(),
            time_secs: i64::MIN,
            time_text: Vec::new(),
        }
    }

    /// Render and write one line.
    pub fn log(&mut self, entry: &AccessEntry<'_>) {
        self.log_source(entry);
    }

    /// The format, when the lines go to Python's logging instead (the
    /// caller then builds a [`super::python::AccessRecord`]).
    pub fn python_format(&self) -> Option<&str> {
        self.python.as_deref()
    }

    /// Reopen the file (USR1).
    pub fn reopen(&mut self) -> std::io::Result<()> {
        match &mut self.sink {
            Some(sink) => sink.reopen(),
            None => Ok(()),
        }
    }

    fn log_source<S: Source + ?Sized>(&mut self, src: &S) {
        if self.format.uses_time {
            let now = time::now_secs();
            if now != self.time_secs {
                self.time_text.clear();
                LocalTime::at(now).write_clf_stamp(&mut self.time_text);
                self.time_secs = now;
            }
        }
        let ctx = Context {
            pid: super::pid(),
            clf_time: &self.time_text,
        };
        self.line.clear();
        if self.json {
            self.format
                .render_json(src, &ctx, &mut self.line, &mut self.scratch);
        } else {
            self.format.render(src, &ctx, &mut self.line);
        }
        super::syslog::access(&self.line);
        self.line.push(b'\n');
        if let Some(sink) = &self.sink {
            sink.write(&self.line);
        }
        if self.line.capacity() > LINE_BUFFER_KEEP {
            self.line = Vec::new();
        }
    }
}

/// The request and response values the atoms read. Implemented by
/// [`AccessEntry`] on top of the HTTP types, and by plain structs in tests.
trait Source {
    fn remote_addr(&self) -> &str;
    fn method(&self) -> &str;
    /// `RAW_URI`.
    fn raw_uri(&self) -> &[u8];
    fn path_info(&self) -> &str;
    fn query(&self) -> &[u8];
    fn version(&self) -> (u8, u8);
    fn status(&self) -> u16;
    fn body_bytes(&self) -> u64;
    fn request_time(&self) -> Duration;
    /// Call `f` with each request header, in order.
    fn request_headers<'s>(&'s self, f: &mut dyn FnMut(&'s [u8], &'s [u8]));
    /// Call `f` with each response header, in order.
    fn response_headers<'s>(&'s self, f: &mut dyn FnMut(&'s [u8], &'s [u8]));
    fn environ(&self, key: &str) -> Option<String>;
}

impl Source for AccessEntry<'_> {
    fn remote_addr(&self) -> &str {
        self.remote_addr
    }
    fn method(&self) -> &str {
        self.request.method()
    }
    fn raw_uri(&self) -> &[u8] {
        self.request.uri()
    }
    fn path_info(&self) -> &str {
        self.path_info
    }
    fn query(&self) -> &[u8] {
        self.request.query()
    }
    fn version(&self) -> (u8, u8) {
        self.request.version()
    }
    fn status(&self) -> u16 {
        self.response.status_code()
    }
    fn body_bytes(&self) -> u64 {
        self.body_bytes
    }
    fn request_time(&self) -> Duration {
        self.request_time
    }
    fn request_headers<'s>(&'s self, f: &mut dyn FnMut(&'s [u8], &'s [u8])) {
        for h in self.request.headers() {
            f(h.name, h.value);
        }
    }
    fn response_headers<'s>(&'s self, f: &mut dyn FnMut(&'s [u8], &'s [u8])) {
        for (name, value) in self.response.headers() {
            f(name, value);
        }
    }
    fn environ(&self, key: &str) -> Option<String> {
        environ_lookup(self.environ, key)
    }
}

/// `key` is lower-cased already: ask for it, then for its ASCII upper-case
/// form (see the `environ` field of [`AccessEntry`]).
fn environ_lookup(get: &dyn Fn(&str) -> Option<String>, key: &str) -> Option<String> {
    get(key).or_else(|| {
        let upper = key.to_ascii_uppercase();
        if upper == key { None } else { get(&upper) }
    })
}

/// The value for `key` (lower-cased) among the environ's `entries`, as
/// gunicorn's atoms find it: the last entry whose key lower-cases to `key`.
/// What the closure in [`AccessEntry`]'s `environ` should do.
pub fn find_environ<K, V, I>(entries: I, key: &str) -> Option<V>
where
    K: AsRef<str>,
    I: IntoIterator<Item = (K, V)>,
{
    entries
        .into_iter()
        .filter(|(k, _)| lower_equals(k.as_ref(), key))
        .last()
        .map(|(_, v)| v)
}

/// `name.lower() == lower`, without allocating for ASCII names.
fn lower_equals(name: &str, lower: &str) -> bool {
    if name.is_ascii() {
        name.len() == lower.len()
            && name
                .bytes()
                .zip(lower.bytes())
                .all(|(a, b)| a.to_ascii_lowercase() == b)
    } else {
        name.to_lowercase() == lower
    }
}

/// Per-line values that do not come from the request.
struct Context<'a> {
    pid: u32,
    /// `[22/Nov/2026:13:19:27 +0000]`; only filled when the format uses `t`.
    clf_time: &'a [u8],
}

#[cfg(test)]
mod tests {
    //! A plain-values `Source` shared with the format tests.
    use super::*;

    /// The values of one request, without the HTTP types.
    pub(super) struct Req {
        pub(super) remote: &'static str,
        pub(super) method: &'static str,
        pub(super) uri: &'static [u8],
        pub(super) path_info: &'static str,
        pub(super) query: &'static [u8],
        pub(super) version: (u8, u8),
        pub(super) status: u16,
        pub(super) body: u64,
        pub(super) time: Duration,
        pub(super) headers: Vec<(&'static [u8], &'static [u8])>,
        pub(super) response: Vec<(&'static [u8], &'static [u8])>,
        pub(super) environ: Vec<(&'static str, &'static str)>,
    }

    impl Default for Req {
        fn default() -> Self {
            Req {
                remote: "127.0.0.1",
                method: "GET",
                uri: b"/",
                path_info: "/",
                query: b"",
                version: (1, 1),
                status: 200,
                body: 0,
                time: Duration::ZERO,
                headers: Vec::new(),
                response: Vec::new(),
                environ: Vec::new(),
            }
        }
    }

    impl Source for Req {
        fn remote_addr(&self) -> &str {
            self.remote
        }
        fn method(&self) -> &str {
            self.method
        }
        fn raw_uri(&self) -> &[u8] {
            self.uri
        }
        fn path_info(&self) -> &str {
            self.path_info
        }
        fn query(&self) -> &[u8] {
            self.query
        }
        fn version(&self) -> (u8, u8) {
            self.version
        }
        fn status(&self) -> u16 {
            self.status
        }
        fn body_bytes(&self) -> u64 {
            self.body
        }
        fn request_time(&self) -> Duration {
            self.time
        }
        fn request_headers<'s>(&'s self, f: &mut dyn FnMut(&'s [u8], &'s [u8])) {
            for (n, v) in &self.headers {
                f(n, v);
            }
        }
        fn response_headers<'s>(&'s self, f: &mut dyn FnMut(&'s [u8], &'s [u8])) {
            for (n, v) in &self.response {
                f(n, v);
            }
        }
        fn environ(&self, key: &str) -> Option<String> {
            // As the worker's closure should: compare lower-cased keys.
            let get = |k: &str| find_environ(self.environ.iter().copied(), k).map(str::to_string);
            environ_lookup(&get, key)
        }
    }

    /// The request of the reference run against gunicorn 27.0.1 (curl with
    /// `-u alice:pw -A 'my "agent"' -e http://ref/`).
    pub(super) fn curl_request() -> Req {
        Req {
            uri: b"/p%20x?a=1&b=%22",
            path_info: "/p x",
            query: b"a=1&b=%22",
            body: 6,
            time: Duration::from_micros(697),
            headers: vec![
                (b"Host", b"127.0.0.1:41353"),
                (b"Authorization", b"Basic YWxpY2U6cHc="),
                (b"User-Agent", b"my \"agent\""),
                (b"Accept", b"*/*"),
                (b"Referer", b"http://ref/"),
            ],
            response: vec![(b"Content-Type", b"text/plain"), (b"X-Q", b"a\"b")],
            environ: vec![("REMOTE_ADDR", "127.0.0.1")],
            ..Req::default()
        }
    }

    #[test]
    fn shareable_between_threads() {
        // gthread workers keep one AccessLog behind a mutex.
        fn send<T: Send>() {}
        send::<AccessLog>();
    }

    #[test]
    fn writes_lines_to_file_and_reopens() {
        let dir = std::env::temp_dir().join(format!("gunicorn-rs-access-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("access.log");
        let mut log = AccessLog::open(path.to_str().unwrap(), "%(t)s %(m)s %(p)s").unwrap();
        log.log_source(&Req::default());
        std::fs::rename(&path, dir.join("access.log.1")).unwrap();
        log.reopen().unwrap();
        log.log_source(&Req {
            method: "POST",
            ..Req::default()
        });

        let first = std::fs::read_to_string(dir.join("access.log.1")).unwrap();
        let second = std::fs::read_to_string(&path).unwrap();
        let pid = format!("<{}>", std::process::id());
        for (text, method) in [(first, "GET"), (second, "POST")] {
            assert!(
                text.starts_with('[') && text.ends_with(&format!("] {method} {pid}\n")),
                "{text}"
            );
            assert_eq!(text.lines().count(), 1);
            // [22/Nov/2026:13:23:55 +0000]
            assert_eq!(text.find(']'), Some(27), "{text}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
