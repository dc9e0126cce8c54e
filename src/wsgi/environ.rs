//! Building the WSGI environ of a request.
//!
//! Hot path (../shared/embedding.md §d): a prebuilt dict of the constant
//! entries is copied, keys are interned Python strings made once per worker,
//! and `HTTP_*` keys are cached by header name, so a request allocates only
//! its values.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyTuple};

use super::early_hints::EarlyHints;
use super::errors::ErrorStream;
use super::file_wrapper::FileWrapper;
use super::input::Input;
use super::start_response::latin1;
use crate::http::parser::RequestHead;
use crate::http::proxy::ProxyHeader;
use crate::http::uwsgi;
use crate::python::latin1_str;

/// Distinct `HTTP_*` keys remembered per worker; past this a key string is
/// made per request, so odd header names sent by clients cannot grow memory.
const HEADER_KEY_CACHE_MAX: usize = 256;

/// Why an environ could not be built.
#[derive(Debug)]
pub enum BuildError {
    /// gunicorn's ConfigurationProblem: the path does not start with SCRIPT_NAME.
    ScriptName(String),
    Python(PyErr),
}

impl From<PyErr> for BuildError {
    fn from(e: PyErr) -> Self {
        BuildError::Python(e)
    }
}

/// `REMOTE_ADDR` / `REMOTE_PORT` of a connection, the `PROXY_*` entries
/// of its PROXY header, and `gunicorn.socket`; made once per connection.
pub struct Peer {
    addr: Py<PyString>,
    port: Option<Py<PyString>>,
    proxy: Vec<(&'static str, Py<PyString>)>,
    socket: Option<Py<PyAny>>,
    /// `wsgi.early_hints`, armed by each call (made at the first).
    hints: Option<Py<EarlyHints>>,
}

impl Peer {
    /// The socket's peer, or the client a PROXY header named (as gunicorn,
    /// which then gives the proxied-to address as `PROXY_ADDR`/`PROXY_PORT`).
    /// A header without addresses (`LOCAL`, `UNSPEC`, `UNKNOWN`) leaves the
    /// socket's peer in place; gunicorn puts `None` there, which is not the
    /// string PEP 3333 promises. A uwsgi front end's `REMOTE_ADDR` and
    /// `REMOTE_PORT` come last (gunicorn ignores them and gives the front
    /// end's own address).
    pub fn new(
        py: Python<'_>,
        peer: &crate::sock::Peer,
        proxy: Option<&ProxyHeader>,
        uwsgi_client: Option<&uwsgi::Client>,
    ) -> Self {
        let text = |s: &str| PyString::new(py, s).unbind();
        let mut out = match peer {
            crate::sock::Peer::Tcp(sa) => Peer {
                addr: text(&sa.ip().to_string()),
                port: Some(text(&sa.port().to_string())),
                proxy: Vec::new(),
                socket: None,
                hints: None,
            },
            crate::sock::Peer::Unix => Peer {
                addr: text(""),
                port: None,
                proxy: Vec::new(),
                socket: None,
                hints: None,
            },
        };
        if let Some(header) = proxy {
            out.proxy.push(("PROXY_PROTOCOL", text(header.protocol)));
            if let Some(a) = header.addresses {
                out.addr = text(&a.source.ip().to_string());
                out.port = Some(text(&a.source.port().to_string()));
                out.proxy
                    .push(("PROXY_ADDR", text(&a.destination.ip().to_string())));
                out.proxy
                    .push(("PROXY_PORT", text(&a.destination.port().to_string())));
            }
        }
        if let Some(client) = uwsgi_client {
            out.addr = text(&client.addr);
            out.port = client.port.as_deref().map(text);
        }
        out
    }

    /// Make sure the environ gets a `gunicorn.socket`: a Python socket
    /// object over a duplicate of the connection's descriptor, so that an
    /// application closing it cannot close ours. Kept for the connection's
    /// next requests, and made again if an application closed it. It
    /// shares the descriptor's flags: an application must not switch it to
    /// blocking mode.
    pub fn ensure_socket(&mut self, py: Python<'_>, fd: BorrowedFd<'_>, kind: (i32, i32, i32)) {
        if let Some(socket) = &self.socket {
            // `socket.socket._closed`, a slot: cheaper than calling fileno().
            let open = socket
                .bind(py)
                .getattr(intern!(py, "_closed"))
                .and_then(|c| c.is_truthy())
                .is_ok_and(|closed| !closed);
            if open {
                return;
            }
            self.socket = None;
        }
        let made = fd
            .try_clone_to_owned()
            .map_err(PyErr::from)
            .and_then(|dup| {
                // An import per connection costs more than the rest of
                // making the object.
                static SOCKET: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
                let class = SOCKET.get_or_try_init(py, || {
                    py.import("socket")?.getattr("socket").map(Bound::unbind)
                })?;
                let (family, kind, proto) = kind;
                let obj = class
                    .bind(py)
                    .call1((family, kind, proto, dup.as_raw_fd()))?;
                // Python owns the duplicate now and closes it with the object.
                let _ = dup.into_raw_fd();
                Ok(obj.unbind())
            });
        match made {
            Ok(obj) => self.socket = Some(obj),
            Err(e) => tracing::debug!("No gunicorn.socket for a connection: {e}"),
        }
    }

    /// Close `gunicorn.socket` (our duplicate of the descriptor) once the
    /// connection is over. Left to the garbage collector, an open socket
    /// object is finalised with a `ResourceWarning`, which costs about as
    /// much as a whole request (the warnings machinery formats it even
    /// when it is filtered out).
    pub fn close_socket(&mut self, py: Python<'_>) {
        if let Some(socket) = self.socket.take()
            && let Err(e) = socket.call_method0(py, intern!(py, "close"))
        {
            tracing::debug!("Closing gunicorn.socket failed: {e}");
        }
    }

    /// The connection's `wsgi.early_hints`, made at its first call.
    pub fn early_hints<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, EarlyHints>> {
        if let Some(hints) = &self.hints {
            return Ok(hints.bind(py).clone());
        }
        let hints = Bound::new(py, EarlyHints::new())?;
        self.hints = Some(hints.clone().unbind());
        Ok(hints)
    }
}

/// `SERVER_NAME` / `SERVER_PORT` of a listener.
pub enum Server {
    /// A TCP listener's own address.
    Tcp {
        name: Py<PyString>,
        port: Py<PyString>,
        /// The builder's template with these two set, made at the first
        /// request: they are the same for every request on the listener.
        base: OnceCell<Py<PyDict>>,
    },
    /// A unix socket: taken from the Host header, else the socket path.
    Unix { path: String },
}

impl Server {
    pub fn new(py: Python<'_>, listener: &crate::sock::Listener) -> Self {
        match listener.server_name_port() {
            Some((name, port)) => Server::Tcp {
                name: PyString::new(py, &name).unbind(),
                port: PyString::new(py, &port).unbind(),
                base: OnceCell::new(),
            },
            // gunicorn uses the socket's own name (its path) when no Host came.
            None => Server::Unix {
                path: listener
                    .unix_path()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            },
        }
    }
}

/// Interned keys, made once per worker.
struct Keys {
    request_method: Py<PyString>,
    script_name: Py<PyString>,
    path_info: Py<PyString>,
    query_string: Py<PyString>,
    raw_uri: Py<PyString>,
    server_protocol: Py<PyString>,
    server_name: Py<PyString>,
    server_port: Py<PyString>,
    remote_addr: Py<PyString>,
    remote_port: Py<PyString>,
    content_type: Py<PyString>,
    content_length: Py<PyString>,
    wsgi_input: Py<PyString>,
    url_scheme: Py<PyString>,
}

/// Per-worker environ factory.
pub struct EnvironBuilder {
    base: Py<PyDict>,
    keys: Keys,
    http10: Py<PyString>,
    http11: Py<PyString>,
    /// `wsgi.url_scheme` values.
    http: Py<PyString>,
    https: Py<PyString>,
    /// Common method strings, reused instead of made per request.
    methods: Vec<Py<PyString>>,
    header_keys: HeaderKeys,
    /// `SCRIPT_NAME` from the server's environment.
    script_name: String,
}

/// Cache of `HTTP_*` keys by header name, as sent (no case folding on a hit).
#[derive(Default)]
struct HeaderKeys {
    map: HashMap<Vec<u8>, Py<PyString>, BuildHasherDefault<Fnv>>,
    buf: Vec<u8>,
}

impl EnvironBuilder {
    pub fn new(
        py: Python<'_>,
        multiprocess: bool,
        multithread: bool,
        script_name: String,
    ) -> PyResult<Self> {
        let base = PyDict::new(py);
        base.set_item("wsgi.version", PyTuple::new(py, [1, 0])?)?;
        base.set_item("wsgi.errors", Py::new(py, ErrorStream)?)?;
        base.set_item("wsgi.multithread", multithread)?;
        base.set_item("wsgi.multiprocess", multiprocess)?;
        base.set_item("wsgi.run_once", false)?;
        base.set_item("wsgi.file_wrapper", py.get_type::<FileWrapper>())?;
        base.set_item("wsgi.input_terminated", true)?;
        base.set_item("SERVER_SOFTWARE", crate::SERVER_SOFTWARE)?;
        let key = |s: &str| PyString::intern(py, s).unbind();
        let keys = Keys {
            request_method: key("REQUEST_METHOD"),
            script_name: key("SCRIPT_NAME"),
            path_info: key("PATH_INFO"),
            query_string: key("QUERY_STRING"),
            raw_uri: key("RAW_URI"),
            server_protocol: key("SERVER_PROTOCOL"),
            server_name: key("SERVER_NAME"),
            server_port: key("SERVER_PORT"),
            remote_addr: key("REMOTE_ADDR"),
            remote_port: key("REMOTE_PORT"),
            content_type: key("CONTENT_TYPE"),
            content_length: key("CONTENT_LENGTH"),
            wsgi_input: key("wsgi.input"),
            url_scheme: key("wsgi.url_scheme"),
        };
        // Keys every request sets (`build` fills each, or the request is
        // refused) go into the template now, with placeholder values: the
        // copy then has room for them, and setting them replaces a value in
        // place instead of growing (and rehashing) each request's dict.
        for always in [
            &keys.request_method,
            &keys.script_name,
            &keys.path_info,
            &keys.query_string,
            &keys.raw_uri,
            &keys.server_protocol,
            &keys.server_name,
            &keys.server_port,
            &keys.remote_addr,
            &keys.wsgi_input,
            &keys.url_scheme,
        ] {
            base.set_item(always, py.None())?;
        }
        base.set_item(intern!(py, "wsgi.early_hints"), py.None())?;
        base.set_item(intern!(py, "gunicorn.socket"), py.None())?;
        make_room(py, &base)?;
        let methods = ["GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"]
            .into_iter()
            .map(key)
            .collect();
        Ok(EnvironBuilder {
            base: base.unbind(),
            keys,
            http10: key("HTTP/1.0"),
            http11: key("HTTP/1.1"),
            http: key("http"),
            https: key("https"),
            methods,
            header_keys: HeaderKeys::default(),
            script_name,
        })
    }

    /// The environ of one request.
    pub fn build<'py>(
        &mut self,
        py: Python<'py>,
        head: &RequestHead,
        input: Bound<'py, Input>,
        peer: &Peer,
        server: &Server,
    ) -> Result<Bound<'py, PyDict>, BuildError> {
        let env = match server {
            Server::Tcp { name, port, base } => {
                let base = match base.get() {
                    Some(base) => base,
                    None => {
                        let made = self.base.bind(py).copy()?;
                        made.set_item(&self.keys.server_name, name.bind(py))?;
                        made.set_item(&self.keys.server_port, port.bind(py))?;
                        base.get_or_init(|| made.unbind())
                    }
                };
                base.bind(py).copy()?
            }
            Server::Unix { .. } => self.base.bind(py).copy()?,
        };
        let k = &self.keys;
        env.set_item(&k.wsgi_input, input)?;
        // https when a trusted proxy said so (gunicorn's secure_scheme_headers).
        let scheme = if head.scheme() == "https" {
            &self.https
        } else {
            &self.http
        };
        env.set_item(&k.url_scheme, scheme.bind(py))?;
        env.set_item(&k.request_method, self.method(py, head.method()))?;
        env.set_item(&k.query_string, latin1_str(py, head.query())?)?;
        let raw_uri = latin1_str(py, head.uri())?;
        env.set_item(&k.raw_uri, &raw_uri)?;
        let protocol = match head.version() {
            (1, 1) => self.http11.bind(py).clone(),
            (1, 0) => self.http10.bind(py).clone(),
            (major, minor) => PyString::new(py, &format!("HTTP/{major}.{minor}")),
        };
        env.set_item(&k.server_protocol, protocol)?;

        let mut script_name: Option<&[u8]> = None;
        let mut host: Option<&[u8]> = None;
        // Repeated fields are joined with "," in arrival order, once at the
        // end: joining as they come would copy the value again each time.
        let mut repeated: Vec<(Bound<'py, PyString>, Vec<u8>)> = Vec::new();
        for h in head.headers() {
            if h.name.eq_ignore_ascii_case(b"content-type") {
                env.set_item(&k.content_type, latin1_str(py, h.value)?)?;
                continue;
            }
            if h.name.eq_ignore_ascii_case(b"content-length") {
                env.set_item(&k.content_length, latin1_str(py, h.value)?)?;
                continue;
            }
            if h.name.eq_ignore_ascii_case(b"host") {
                host = Some(h.value);
            } else if h.name.eq_ignore_ascii_case(b"script_name") {
                script_name = Some(h.value);
            }
            let key = self.header_keys.key(py, h.name)?;
            if let Some(joined) = repeated
                .iter_mut()
                .find(|(k, _)| k.as_any().eq(&key).unwrap_or(false))
            {
                joined.1.push(b',');
                joined.1.extend_from_slice(h.value);
            } else if let Some(first) = insert_new(&env, &key, &latin1_str(py, h.value)?)? {
                // Values went in as latin-1, so they come back out as latin-1.
                let mut joined = latin1(first.extract::<&str>()?)
                    .unwrap_or_default()
                    .into_owned();
                joined.push(b',');
                joined.extend_from_slice(h.value);
                repeated.push((key, joined));
            }
        }
        for (key, joined) in repeated {
            env.set_item(key, latin1_str(py, &joined)?)?;
        }

        env.set_item(&k.remote_addr, peer.addr.bind(py))?;
        if let Some(port) = &peer.port {
            env.set_item(&k.remote_port, port.bind(py))?;
        }
        for (key, value) in &peer.proxy {
            env.set_item(*key, value.bind(py))?;
        }
        match &peer.socket {
            Some(socket) => env.set_item(intern!(py, "gunicorn.socket"), socket.bind(py))?,
            None => env.del_item(intern!(py, "gunicorn.socket"))?,
        }
        // The template holds a placeholder (see `new`): a value or nothing.
        match &peer.hints {
            Some(hints) => env.set_item(intern!(py, "wsgi.early_hints"), hints.bind(py))?,
            None => env.del_item(intern!(py, "wsgi.early_hints"))?,
        }
        match server {
            // In the listener's template.
            Server::Tcp { .. } => {}
            Server::Unix { path } => {
                let (name, port) = unix_server_name(path, host, head.scheme());
                env.set_item(&k.server_name, name)?;
                env.set_item(&k.server_port, port)?;
            }
        }

        let script_name_owned;
        let script_name: &[u8] = match script_name {
            Some(s) => s,
            None => {
                script_name_owned = self.script_name.as_bytes();
                script_name_owned
            }
        };
        let path = head.path();
        let Some(rest) = path.strip_prefix(script_name) else {
            // Quoted as Python's %r, as gunicorn's message is.
            return Err(BuildError::ScriptName(format!(
                "Request path {} does not start with SCRIPT_NAME {}",
                crate::http::pytext::PyStr(&String::from_utf8_lossy(path)),
                crate::http::pytext::PyStr(&String::from_utf8_lossy(script_name))
            )));
        };
        let path_info = percent_decode(rest);
        if *path_info == *head.uri() {
            // The usual "/x" with no query, escapes or SCRIPT_NAME: one str.
            env.set_item(&k.path_info, raw_uri)?;
        } else {
            env.set_item(&k.path_info, latin1_str(py, &path_info)?)?;
        }
        env.set_item(&k.script_name, latin1_str(py, script_name)?)?;
        Ok(env)
    }

    fn method<'py>(&self, py: Python<'py>, method: &str) -> Bound<'py, PyString> {
        self.methods
            .iter()
            .map(|m| m.bind(py))
            .find(|m| m.to_str().is_ok_and(|s| s == method))
            .cloned()
            .unwrap_or_else(|| PyString::new(py, method))
    }
}

/// Set `key` to `value` unless `env` has it already; returns the value it
/// has then. One lookup, where `get_item` then `set_item` would take two.
fn insert_new<'py>(
    env: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
    value: &Bound<'py, PyString>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let before = env.len();
    // SAFETY: all three are live objects and we hold the GIL. The result is
    // a borrowed reference to the value now in `env` (or NULL with an
    // exception set), turned into an owned one before `env` can change.
    let existing = unsafe {
        let found = pyo3::ffi::PyDict_SetDefault(env.as_ptr(), key.as_ptr(), value.as_ptr());
        Bound::from_borrowed_ptr_or_err(env.py(), found)?
    };
    // Compared by length, not identity: equal short strings may be one object.
    Ok((env.len() == before).then_some(existing))
}

impl HeaderKeys {
    /// `HTTP_` + the name upper-cased with `-` as `_`, from the cache when seen before.
    fn key<'py>(&mut self, py: Python<'py>, name: &[u8]) -> PyResult<Bound<'py, PyString>> {
        // Looked up by the name as sent: no key to make for a known one.
        if let Some(key) = self.map.get(name) {
            return Ok(key.bind(py).clone());
        }
        self.buf.clear();
        self.buf.extend_from_slice(b"HTTP_");
        self.buf.extend(name.iter().map(|&b| {
            if b == b'-' {
                b'_'
            } else {
                b.to_ascii_uppercase()
            }
        }));
        let key = latin1_str(py, &self.buf)?;
        if self.map.len() < HEADER_KEY_CACHE_MAX {
            self.map.insert(name.to_vec(), key.clone().unbind());
        }
        Ok(key)
    }
}

/// Grow `dict`'s table once, now, so that the copies made from it have
/// room for a request's own keys (`HTTP_*`, `CONTENT_*`, `REMOTE_PORT`):
/// a copy keeps its template's table size, and without room each request
/// would grow (re-index) its environ. Keys are added until the dict's size
/// grows, then removed; the few removed slots stay in the copies, which
/// CPython still copies wholesale (it does while at most a third is unused).
fn make_room(py: Python<'_>, dict: &Bound<'_, PyDict>) -> PyResult<()> {
    const MAX_ADDED: usize = 8;
    let getsizeof = py
        .import(intern!(py, "sys"))?
        .getattr(intern!(py, "getsizeof"))?;
    let size = |d: &Bound<'_, PyDict>| -> PyResult<usize> { getsizeof.call1((d,))?.extract() };
    let before = size(dict)?;
    let mut added = Vec::new();
    while added.len() < MAX_ADDED && size(dict)? == before {
        let key = PyString::new(py, &format!("gunicorn_rs.room.{}", added.len()));
        dict.set_item(&key, py.None())?;
        added.push(key);
    }
    for key in added {
        dict.del_item(key)?;
    }
    Ok(())
}

/// gunicorn's SERVER_NAME/PORT for a unix socket: from `Host`, else the path.
fn unix_server_name(path: &str, host: Option<&[u8]>, scheme: &str) -> (String, String) {
    match host {
        Some(host) => {
            let host = String::from_utf8_lossy(host);
            match host.split_once(':') {
                Some((name, port)) => (name.to_owned(), port.to_owned()),
                None => (
                    host.into_owned(),
                    if scheme == "https" { "443" } else { "80" }.to_owned(),
                ),
            }
        }
        None => (path.to_owned(), String::new()),
    }
}

/// `%XX` decoded to bytes; malformed escapes are kept as they are
/// (as `urllib.parse.unquote_to_bytes`).
pub fn percent_decode(input: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !input.contains(&b'%') {
        return std::borrow::Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%'
            && let (Some(h), Some(l)) = (
                input.get(i + 1).and_then(hex),
                input.get(i + 2).and_then(hex),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(input[i]);
        i += 1;
    }
    std::borrow::Cow::Owned(out)
}

fn hex(b: &u8) -> Option<u8> {
    (*b as char).to_digit(16).map(|d| d as u8)
}

/// FNV-1a: header-name keys are short and the map is private to a worker,
/// so SipHash's flood resistance buys nothing here (the map is also capped).
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_matches_unquote_to_bytes() {
        assert_eq!(&*percent_decode(b"/a%20b"), b"/a b");
        assert_eq!(&*percent_decode(b"/%e2%82%ac"), &[b'/', 0xe2, 0x82, 0xac]);
        assert_eq!(&*percent_decode(b"/%zz%4"), b"/%zz%4");
        assert_eq!(&*percent_decode(b"/plain"), b"/plain");
    }

    #[test]
    fn unix_server_name_follows_host() {
        let name = |host: Option<&[u8]>, scheme| unix_server_name("/s", host, scheme);
        assert_eq!(
            name(Some(b"ex.com:81"), "http"),
            ("ex.com".into(), "81".into())
        );
        assert_eq!(
            name(Some(b"ex.com"), "http"),
            ("ex.com".into(), "80".into())
        );
        assert_eq!(
            name(Some(b"ex.com"), "https"),
            ("ex.com".into(), "443".into())
        );
        assert_eq!(name(None, "http"), ("/s".into(), String::new()));
    }
}
