//! Behind a real nginx (Debian's `nginx-light`, installed by `.ci/run`),
//! started by each test on a loopback port with a config the test writes:
//! requests proxied over TCP and over a unix socket reach the app with the
//! proxy's headers, large bodies pass through both ways, and a PROXY protocol
//! header from nginx's stream module gives the app the client's address.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Launch, read_response, wait_until};

/// Debian builds nginx's stream module as a module of its own.
const STREAM_MODULE: &str = "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n";

/// /usr/sbin is not on every user's PATH.
fn nginx_bin() -> &'static str {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("nginx")
}

/// nginx in the foreground, one process, everything under its own folder.
struct Nginx {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Nginx {
    /// Proxy `127.0.0.1:PORT/` to `upstream` (`HOST:PORT` or `unix:PATH`).
    fn start(name: &str, upstream: &str) -> Nginx {
        Nginx::start_http(
            name,
            &format!("upstream app {{ server {upstream}; keepalive 4; }}"),
            "proxy_pass http://app;\n      proxy_http_version 1.1;\n\
             proxy_set_header Connection \"\";\n      proxy_set_header Host $http_host;\n\
             proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
             proxy_set_header X-Forwarded-Proto https;",
        )
    }

    /// Pass requests to `upstream` with `uwsgi_pass` and Debian's
    /// `uwsgi_params`, plus the `uwsgi_param` lines in `extra`.
    fn start_uwsgi(name: &str, upstream: &str, extra: &str) -> Nginx {
        Nginx::start_http(
            name,
            "",
            &format!(
                "include /etc/nginx/uwsgi_params;\n      {extra}\n      uwsgi_pass {upstream};"
            ),
        )
    }

    /// An `http` block serving `127.0.0.1:PORT/` with `location` (after
    /// `upstreams`), its temporary files under the test's folder.
    fn start_http(name: &str, upstreams: &str, location: &str) -> Nginx {
        Nginx::run(name, |d, port| {
            format!(
                "http {{\n  access_log off;\n  client_max_body_size 64m;\n\
                   client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
                   fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
                   {upstreams}\n\
                   server {{\n    listen 127.0.0.1:{port};\n    location / {{\n\
                     {location}\n    }}\n  }}\n}}\n"
            )
        })
    }

    /// Pass TCP connections on to `upstream` with a PROXY protocol header
    /// first (nginx's stream module, Debian's `libnginx-mod-stream`).
    fn start_proxy_protocol(name: &str, upstream: &str) -> Nginx {
        Nginx::run(name, |_, port| {
            format!(
                "stream {{\n  server {{\n    listen 127.0.0.1:{port};\n\
                   proxy_pass {upstream};\n    proxy_protocol on;\n  }}\n}}\n"
            )
        })
    }

    /// Start nginx with `body(folder, port)` after the common head of the
    /// config; wait until it listens.
    fn run(name: &str, body: impl Fn(&str, u16) -> String) -> Nginx {
        let dir = common::scratch(&format!("nginx-{name}"));
        // A free port: nginx takes it right after we let it go.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.display().to_string();
        let conf = format!(
            "{STREAM_MODULE}daemon off;\nmaster_process off;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log;\nevents {{ worker_connections 64; }}\n{}",
            body(&d, port)
        );
        fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = Command::new(nginx_bin())
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("stderr.log")).unwrap())
            .spawn()
            .expect("nginx is not installed: run .ci/run (it installs nginx-light)");
        let nginx = Nginx { child, port, dir };
        let up = wait_until(common::WAIT, || {
            TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
        });
        assert!(up.is_some(), "nginx did not listen:\n{}", nginx.log());
        nginx
    }

    fn log(&self) -> String {
        let read = |f: &str| fs::read_to_string(self.dir.join(f)).unwrap_or_default();
        format!("{}{}", read("stderr.log"), read("error.log"))
    }

    fn request(&self, raw: &[u8]) -> common::Response {
        let mut s = common::connect(self.port);
        s.write_all(raw).unwrap();
        read_response(&mut s).unwrap_or_else(|e| panic!("{e}\n{}", self.log()))
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `routes:app`'s `/digest` routes answer for `body`: its length and
/// SHA-256.
fn digest_of(body: &[u8]) -> String {
    use sha2::Digest;
    let hex: String = sha2::Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{} {hex}", body.len())
}

/// POST `body` with a Content-Length on `s` (through nginx) to
/// `/digest-stream`: the app must have read every byte of it.
fn upload_is_digested(nginx: &Nginx, s: &mut TcpStream, body: &[u8]) {
    write!(
        s,
        "POST /digest-stream HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let resp = read_response(s).unwrap();
    assert_eq!(resp.text(), digest_of(body), "{}", nginx.log());
}

/// `routes:app`'s `/big`: 20 MB streamed in 64 KiB items with a
/// Content-Length, on `s` (through nginx).
fn big_response_arrives(s: &mut TcpStream) {
    let size = 20_000_000;
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET /big?size={size} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let resp = read_response(s).unwrap();
    assert_eq!(resp.body.len(), size);
    assert!(resp.body.iter().all(|&b| b == b'x'));
}

fn environ_through(nginx: &Nginx) -> serde_json::Value {
    environ_from(
        nginx,
        b"GET /x?y=1 HTTP/1.1\r\nHost: example.org\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n",
    )
    .0
}

/// Send `raw` through nginx to `echo:app`: the environ the app saw, and
/// this client's own address (which the app should see where a PROXY
/// header or uwsgi names the client).
fn environ_from(nginx: &Nginx, raw: &[u8]) -> (serde_json::Value, std::net::SocketAddr) {
    let mut s = common::connect(nginx.port);
    let mine = s.local_addr().unwrap();
    s.write_all(raw).unwrap();
    let resp = read_response(&mut s).unwrap_or_else(|e| panic!("{e}\n{}", nginx.log()));
    assert_eq!(resp.status, 200, "{}\n{}", resp.text(), nginx.log());
    (serde_json::from_slice(&resp.body).unwrap(), mine)
}

#[test]
fn over_tcp_the_app_sees_the_proxys_headers_and_trusts_its_scheme() {
    let server = Launch::new(&["echo:app"]).start();
    let nginx = Nginx::start("tcp", &format!("127.0.0.1:{}", server.port));
    let env = environ_through(&nginx);
    assert_eq!(env["REMOTE_ADDR"], "127.0.0.1");
    assert_eq!(env["HTTP_HOST"], "example.org");
    assert_eq!(env["PATH_INFO"], "/x");
    assert_eq!(env["QUERY_STRING"], "y=1");
    assert_eq!(env["HTTP_X_FORWARDED_FOR"], "203.0.113.7, 127.0.0.1");
    // 127.0.0.1 is in the default --forwarded-allow-ips.
    assert_eq!(env["wsgi.url_scheme"], "https");

    // A proxy not in --forwarded-allow-ips is not believed.
    let server = Launch::new(&["--forwarded-allow-ips", "10.0.0.1", "echo:app"]).start();
    let nginx = Nginx::start("tcp-untrusted", &format!("127.0.0.1:{}", server.port));
    assert_eq!(environ_through(&nginx)["wsgi.url_scheme"], "http");
}

#[test]
fn over_a_unix_socket_the_app_sees_the_proxys_headers() {
    let dir = common::scratch("nginx-unix-app");
    let sock = dir.join("app.sock");
    let bind = format!("unix:{}", sock.display());
    let server = Launch::new(&["-b", &bind, "echo:app"]).start();
    let nginx = Nginx::start("unix", &bind);
    let env = environ_through(&nginx);
    assert_eq!(env["HTTP_HOST"], "example.org");
    assert_eq!(env["HTTP_X_FORWARDED_FOR"], "203.0.113.7, 127.0.0.1");
    // As gunicorn: a unix-socket peer is a trusted proxy.
    assert_eq!(env["wsgi.url_scheme"], "https");
    drop(server);
}

#[test]
fn a_large_upload_and_a_large_streamed_response_pass_through() {
    let server = Launch::new(&["routes:app"]).start();
    let nginx = Nginx::start("bodies", &format!("127.0.0.1:{}", server.port));
    let body = common::noise(8 << 20, 9);
    let mut s = common::connect(nginx.port);
    upload_is_digested(&nginx, &mut s, &body);

    big_response_arrives(&mut s);
    let mut rest = [0u8; 1];
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(s.read(&mut rest).is_err(), "nothing after the response");
}

#[test]
fn the_example_site_files_are_accepted_by_nginx() {
    for file in ["nginx.conf", "nginx-uwsgi.conf"] {
        let dir = common::scratch(&format!("nginx-example-{file}"));
        let site = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("examples/deploy")
            .join(file);
        let d = dir.display();
        let main = format!(
            "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\n\
             http {{\n  include {};\n}}\n",
            site.display()
        );
        fs::write(dir.join("main.conf"), main).unwrap();
        // A site file includes Debian's uwsgi_params by a name relative to
        // the main config's folder.
        fs::copy("/etc/nginx/uwsgi_params", dir.join("uwsgi_params")).unwrap();
        let out = Command::new(nginx_bin())
            .arg("-t")
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("main.conf"))
            .output()
            .expect("nginx");
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn with_nginx_sending_the_proxy_protocol_the_app_sees_the_client() {
    let server = Launch::new(&["--proxy-protocol", "v1", "echo:app"]).start();
    let nginx =
        Nginx::start_proxy_protocol("proxy-protocol", &format!("127.0.0.1:{}", server.port));
    let (env, mine) = environ_from(&nginx, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    // Without the header the port would be nginx's own outgoing one.
    assert_eq!(env["REMOTE_ADDR"], mine.ip().to_string());
    assert_eq!(
        env["REMOTE_PORT"],
        mine.port().to_string(),
        "{}",
        server.log_text()
    );
}

const UWSGI_GET: &[u8] = b"GET /caf%C3%A9/a%20b?y=1&z=%41 HTTP/1.1\r\nHost: example.org\r\n\
    X-Custom: one\r\nX-Forwarded-Proto: https\r\n\r\n";

#[test]
fn over_uwsgi_pass_the_app_sees_the_client_the_path_and_the_headers() {
    let server = Launch::new(&["--protocol", "uwsgi", "echo:app"]).start();
    let nginx = Nginx::start_uwsgi("uwsgi", &format!("127.0.0.1:{}", server.port), "");
    let (env, mine) = environ_from(&nginx, UWSGI_GET);
    // The client's own address and port, not nginx's.
    assert_eq!(env["REMOTE_ADDR"], mine.ip().to_string());
    assert_eq!(env["REMOTE_PORT"], mine.port().to_string());
    // PATH_INFO decoded once (UTF-8 bytes as latin-1, as PEP 3333 has it).
    assert_eq!(env["PATH_INFO"], "/caf\u{c3}\u{a9}/a b");
    assert_eq!(env["QUERY_STRING"], "y=1&z=%41");
    assert_eq!(env["REQUEST_METHOD"], "GET");
    assert_eq!(env["HTTP_HOST"], "example.org");
    assert_eq!(env["HTTP_X_CUSTOM"], "one");
    assert_eq!(env["SERVER_PROTOCOL"], "HTTP/1.1");
    // The scheme is what nginx says (HTTPS), not a header its client sent.
    assert_eq!(env["wsgi.url_scheme"], "http");

    let https = Nginx::start_uwsgi(
        "uwsgi-https",
        &format!("127.0.0.1:{}", server.port),
        "uwsgi_param HTTPS on;",
    );
    assert_eq!(
        environ_from(&https, UWSGI_GET).0["wsgi.url_scheme"],
        "https"
    );
}

#[test]
fn over_uwsgi_pass_on_a_unix_socket() {
    let dir = common::scratch("nginx-uwsgi-unix-app");
    let sock = dir.join("app.sock");
    let bind = format!("unix:{}", sock.display());
    // A unix-socket peer may always speak uwsgi, whatever the allow list.
    let server = Launch::new(&[
        "-b",
        &bind,
        "--protocol",
        "uwsgi",
        "--uwsgi-allow-from",
        "10.0.0.1",
        "echo:app",
    ])
    .start();
    let nginx = Nginx::start_uwsgi("uwsgi-unix", &bind, "");
    let (env, mine) = environ_from(
        &nginx,
        b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(env["REMOTE_PORT"], mine.port().to_string());
    assert_eq!(env["body"], "hello");
    assert_eq!(env["CONTENT_TYPE"], "text/plain");
    assert_eq!(env["CONTENT_LENGTH"], "5");
    drop(server);
}

#[test]
fn over_uwsgi_pass_large_bodies_pass_both_ways() {
    for worker in ["sync", "gthread"] {
        let server = Launch::new(&["--protocol", "uwsgi", "-k", worker, "routes:app"]).start();
        let nginx = Nginx::start_uwsgi(
            &format!("uwsgi-bodies-{worker}"),
            &format!("127.0.0.1:{}", server.port),
            "",
        );
        let body = common::noise(8 << 20, 5);
        upload_is_digested(&nginx, &mut common::connect(nginx.port), &body);

        // A chunked upload: nginx takes the chunks off and sends the length.
        let mut s = common::connect(nginx.port);
        s.write_all(b"POST /digest HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap();
        for piece in body.chunks(1 << 20) {
            write!(s, "{:x}\r\n", piece.len()).unwrap();
            s.write_all(piece).unwrap();
            s.write_all(b"\r\n").unwrap();
        }
        s.write_all(b"0\r\n\r\n").unwrap();
        let resp = read_response(&mut s).unwrap();
        assert_eq!(resp.text(), digest_of(&body), "{}", nginx.log());

        big_response_arrives(&mut s);
    }
}

#[test]
fn over_uwsgi_pass_a_body_of_unknown_length_arrives_without_chunk_markers() {
    let server = Launch::new(&["--protocol", "uwsgi", "bodies:app"]).start();
    let nginx = Nginx::start_uwsgi("uwsgi-stream", &format!("127.0.0.1:{}", server.port), "");
    // 40 generator items of 100,000 bytes, item k patterned with k.
    let resp = nginx.request(b"GET /items/40/100000 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(resp.status, 200, "{}", nginx.log());
    let want: Vec<u8> = (0u32..40)
        .flat_map(|k| {
            let unit = k.to_be_bytes();
            unit.into_iter().cycle().take(100_000).collect::<Vec<u8>>()
        })
        .collect();
    assert_eq!(resp.body.len(), want.len());
    assert!(resp.body == want, "the body is the app's bytes, unframed");
}

#[test]
fn over_uwsgi_pass_a_front_end_not_allowed_is_refused() {
    let server = Launch::new(&[
        "--protocol",
        "uwsgi",
        "--uwsgi-allow-from",
        "10.0.0.1",
        "echo:app",
    ])
    .start();
    let nginx = Nginx::start_uwsgi("uwsgi-forbidden", &format!("127.0.0.1:{}", server.port), "");
    let resp = nginx.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(resp.status, 403, "{}", nginx.log());
    assert!(resp.text().contains("Request forbidden"), "{}", resp.text());
    let seen = server.wait_for(common::WAIT, |l| {
        l.contains("Invalid request from ip=127.0.0.1: uWSGI request from '127.0.0.1' not allowed")
    });
    assert!(seen.is_some(), "{}", server.log_text());
}
