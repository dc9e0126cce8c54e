//! Test harness: starts the real `gunicorn-rs` binary on 127.0.0.1 with an
//! app from `tests/apps/`, reads the port it bound from its log, and speaks
//! HTTP to it over real sockets. Every wait is bounded; the server's whole
//! process group is killed when the handle drops.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub mod handover;
pub mod load;
pub mod sd;

pub use nix::sys::signal::Signal;
use nix::sys::signal::{kill, killpg};
use nix::unistd::Pid;

pub const BIN: &str = env!("CARGO_BIN_EXE_gunicorn-rs");

/// Generous bound for anything a healthy server does (boot, answer, exit).
pub const WAIT: Duration = Duration::from_secs(20);

/// The virtualenv `.ci/run` makes inside the repo, holding the frameworks
/// of tests/requirements.txt.
pub fn test_venv() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv");
    assert!(
        venv.join("bin/python").exists(),
        "{} is missing: run .ci/run (it installs tests/requirements.txt there)",
        venv.display()
    );
    venv
}

pub fn apps_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps")
}

/// A unique scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("grs-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// A running server.
pub struct Server {
    child: Child,
    pub port: u16,
    log: Arc<Mutex<Vec<String>>>,
    stdout: Arc<Mutex<Vec<String>>>,
}

/// Lines collected from a child's stream by a reader thread.
fn collect(stream: impl Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

/// Builder for a server command line.
pub struct Launch {
    cmd: Command,
    bind: bool,
}

impl Launch {
    /// `gunicorn-rs ARGS...` run from `tests/apps` (so `module:app` imports).
    pub fn new(args: &[&str]) -> Launch {
        let mut cmd = Command::new(BIN);
        cmd.args(args).current_dir(apps_dir());
        cmd.env_remove("VIRTUAL_ENV")
            .env_remove("GUNICORN_CMD_ARGS")
            .env_remove("WEB_CONCURRENCY")
            .env_remove("PORT");
        Launch { cmd, bind: true }
    }

    /// A command built by the test itself (another binary path, a cleared
    /// environment); it must bind on its own.
    pub fn command(cmd: Command) -> Launch {
        Launch { cmd, bind: false }
    }

    pub fn cwd(mut self, dir: &Path) -> Launch {
        self.cmd.current_dir(dir);
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Launch {
        self.cmd.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: &str) -> Launch {
        self.cmd.env_remove(key);
        self
    }

    /// Do not add `-b 127.0.0.1:0` (the test binds itself).
    pub fn no_bind(mut self) -> Launch {
        self.bind = false;
        self
    }

    /// Start and wait until it listens; panics with the log if it does not.
    pub fn start(self) -> Server {
        self.start_reading(|server| server.listening_line(), parse_port)
    }

    /// Start a server bound only to an IPv6 address.
    pub fn start_v6(self) -> Server {
        self.start_reading(|server| server.listening_line(), parse_port_v6)
    }

    /// Start a server whose error log goes to standard output (a Python
    /// logging configuration that says so), and wait until it listens.
    pub fn start_logging_to_stdout(self) -> Server {
        let listening = |server: &Server| {
            server
                .stdout_lines()
                .into_iter()
                .find(|l| l.contains("Listening at: "))
        };
        self.start_reading(listening, parse_port)
    }

    /// Start a server whose error log goes to `path`, and wait until it listens.
    pub fn start_with_log_file(self, path: &Path) -> Server {
        let listening = |_: &Server| {
            let text = std::fs::read_to_string(path).ok()?;
            text.lines()
                .find(|l| l.contains("Listening at: "))
                .map(str::to_owned)
        };
        self.start_reading(listening, parse_port)
    }

    /// Spawn, then wait (bounded) for the "Listening at:" line that `line`
    /// finds and take the port `port` reads from it.
    fn start_reading(
        self,
        line: impl Fn(&Server) -> Option<String>,
        port: fn(&str) -> Option<u16>,
    ) -> Server {
        let mut server = self.spawn();
        match wait_until(WAIT, || line(&server)).and_then(|l| port(&l)) {
            Some(port) => {
                server.port = port;
                server
            }
            None => panic!("server did not start; log:\n{}", server.log_text()),
        }
    }

    /// Start without waiting for anything (for servers expected to fail).
    pub fn spawn(mut self) -> Server {
        if self.bind {
            self.cmd.args(["-b", "127.0.0.1:0"]);
        }
        self.cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Own process group, so cleanup reaches the workers too.
        self.cmd.process_group(0);
        let mut child = self.cmd.spawn().expect("spawn gunicorn-rs");
        let log = collect(child.stderr.take().expect("stderr"));
        let stdout = collect(child.stdout.take().expect("stdout"));
        Server {
            child,
            port: 0,
            log,
            stdout,
        }
    }
}

/// The port of the first `http://[` (IPv6) listener in a "Listening at:" line.
fn parse_port_v6(line: &str) -> Option<u16> {
    let urls = line.split("Listening at: ").nth(1)?.split(' ').next()?;
    let tcp = urls.split(',').find(|u| u.starts_with("http://["))?;
    tcp.rsplit(':').next()?.parse().ok()
}

/// The port of the first `http://` listener in a "Listening at:" line.
fn parse_port(line: &str) -> Option<u16> {
    let urls = line.split("Listening at: ").nth(1)?.split(' ').next()?;
    let tcp = urls.split(',').find(|u| u.starts_with("http://"))?;
    tcp.rsplit(':').next()?.parse().ok()
}

impl Server {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn listening_line(&self) -> Option<String> {
        self.log_lines()
            .into_iter()
            .find(|l| l.contains("Listening at: "))
    }

    pub fn log_text(&self) -> String {
        self.log_lines().join("\n")
    }

    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// The first log line matching `pred` within `timeout`.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        wait_until(timeout, || self.log_lines().into_iter().find(|l| pred(l)))
    }

    /// Wait until `n` log lines contain `needle`.
    pub fn wait_count(&self, needle: &str, n: usize, timeout: Duration) -> bool {
        wait_until(timeout, || (self.count(needle) >= n).then_some(())).is_some()
    }

    pub fn count(&self, needle: &str) -> usize {
        self.log_lines()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    pub fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.pid()), sig)
            .unwrap_or_else(|e| panic!("kill({}, {sig}): {e}", self.pid()));
    }

    /// Worker pids: children of the master.
    pub fn workers(&self) -> Vec<i32> {
        children_of(self.pid())
    }

    /// Wait until exactly `n` workers run.
    pub fn wait_workers(&self, n: usize, timeout: Duration) -> Vec<i32> {
        wait_until(timeout, || {
            let w = self.workers();
            (w.len() == n).then_some(w)
        })
        .unwrap_or_else(|| {
            panic!(
                "expected {n} workers, have {:?}; log:\n{}",
                self.workers(),
                self.log_text()
            )
        })
    }

    /// Wait for the master to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn connect(&self) -> TcpStream {
        connect(self.port)
    }

    /// One request on a fresh connection.
    pub fn request(&self, raw: &[u8]) -> Response {
        let mut s = self.connect();
        s.write_all(raw).expect("send request");
        read_response(&mut s)
            .unwrap_or_else(|e| panic!("no response: {e}; log:\n{}", self.log_text()))
    }

    pub fn get(&self, path: &str) -> Response {
        self.request(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
    }

    /// `POST path` with a body of `content_type` on a fresh connection
    /// (`Connection: close`).
    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Response {
        let mut raw = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(body);
        self.request(&raw)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.pid()), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

pub fn wait_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(25));
    }
}

/// Pids whose parent is `pid`, from /proc.
pub fn children_of(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // Fields after the ")" of the command name: state, ppid, ...
        let Some(rest) = stat.rsplit(')').next() else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        if fields.next().and_then(|p| p.parse::<i32>().ok()) == Some(pid) && state != Some("Z") {
            out.push(child);
        }
    }
    out.sort_unstable();
    out
}

pub fn alive(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None).is_ok()
}

pub fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s
}

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub version: String,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Raw head bytes, for exact-format checks.
    pub raw_head: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A process's peak resident memory (VmHWM), in KiB.
pub fn peak_rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM")
}

/// A new IPv4 TCP socket, neither bound nor connected, for tests that set
/// options before either.
pub fn tcp_socket() -> std::os::fd::OwnedFd {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
    socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("a TCP socket")
}

/// Read one response from `s` (Content-Length, chunked, or to EOF).
/// Interim 1xx responses other than 101 are skipped.
pub fn read_response(s: &mut TcpStream) -> Result<Response, String> {
    read_response_for(s, "GET")
}

pub fn read_response_for(s: &mut TcpStream, method: &str) -> Result<Response, String> {
    loop {
        let head = read_head(s)?;
        let resp = parse_head(&head)?;
        if (100..200).contains(&resp.status) && resp.status != 101 {
            continue;
        }
        return read_body(s, resp, method);
    }
}

fn read_head(s: &mut TcpStream) -> Result<String, String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(0) => return Err(format!("connection closed after {} head bytes", head.len())),
            Ok(_) => head.push(byte[0]),
            Err(e) => return Err(format!("read error after {} head bytes: {e}", head.len())),
        }
        if head.len() > 64 * 1024 {
            return Err("response head too long".into());
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

fn parse_head(head: &str) -> Result<Response, String> {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("empty head")?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default().to_owned();
    let status = parts
        .next()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let reason = parts.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            l.split_once(':')
                .map(|(n, v)| (n.to_owned(), v.trim().to_owned()))
        })
        .collect();
    Ok(Response {
        version,
        status,
        reason,
        headers,
        body: Vec::new(),
        raw_head: head.to_owned(),
    })
}

fn read_body(s: &mut TcpStream, mut resp: Response, method: &str) -> Result<Response, String> {
    if method == "HEAD" || resp.status == 204 || resp.status == 304 {
        return Ok(resp);
    }
    if resp
        .header("transfer-encoding")
        .is_some_and(|te| te.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let line = read_line(s)?;
            let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| format!("bad chunk size {line:?}"))?;
            if size == 0 {
                // Trailer section up to the empty line.
                while !read_line(s)?.is_empty() {}
                break;
            }
            let mut chunk = vec![0u8; size];
            s.read_exact(&mut chunk).map_err(|e| e.to_string())?;
            resp.body.extend_from_slice(&chunk);
            if !read_line(s)?.is_empty() {
                return Err("chunk not followed by CRLF".into());
            }
        }
    } else if let Some(len) = resp.header("content-length") {
        let len: usize = len.parse().map_err(|_| "bad content-length".to_owned())?;
        resp.body = vec![0u8; len];
        s.read_exact(&mut resp.body)
            .map_err(|e| format!("short body: {e}"))?;
    } else {
        s.read_to_end(&mut resp.body).map_err(|e| e.to_string())?;
    }
    Ok(resp)
}

fn read_line(s: &mut TcpStream) -> Result<String, String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        match s.read(&mut byte) {
            Ok(0) => return Err("connection closed mid-line".into()),
            Ok(_) => line.push(byte[0]),
            Err(e) => return Err(e.to_string()),
        }
    }
    line.truncate(line.len() - 2);
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// True when the server closed the connection: the next read gives EOF
/// (or a reset) within the bound.
pub fn closed_by_server(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => {
                return matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                );
            }
        }
    }
}

/// Send `raw` and half-close, then read everything the server sends.
pub fn exchange_all(port: u16, raw: &[u8]) -> Vec<u8> {
    let mut s = connect(port);
    s.write_all(raw).unwrap();
    let _ = s.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// `GET path` on a fresh connection to `port`.
pub fn connect_get(port: u16, path: &str) -> Response {
    let mut s = connect(port);
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    read_response(&mut s).expect("response")
}

/// Deterministic bytes that are not all alike (xorshift from `seed`):
/// every byte value turns up, CR, LF and `-` included.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
