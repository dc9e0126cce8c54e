//! A bounded background load for the lifecycle tests: several client
//! threads sending GETs while the test reloads, upgrades or recycles the
//! server, counting every request that did not get a complete 200.
//!
//! Half the threads keep their connection alive (reconnecting only when the
//! server says `Connection: close`), half open a connection per request,
//! since a reload can drop either kind. A failure is anything a real client
//! would see as one: refused or reset connection, a response cut short, a
//! status other than 200.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{WAIT, read_response};

/// No load runs longer than this, even if the test never calls `finish`.
const MAX_RUN: Duration = Duration::from_secs(180);

/// What the clients saw.
#[derive(Debug, Default)]
pub struct Tally {
    pub ok: u64,
    /// One line per failed request: which client, what happened.
    pub failures: Vec<String>,
    /// How many responses carried each distinct body (the app can answer
    /// with its pid or its code version, to show who served).
    pub bodies: BTreeMap<String, u64>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.failures.extend(other.failures);
        for (body, n) in other.bodies {
            *self.bodies.entry(body).or_default() += n;
        }
    }

    /// Panic with the failures, if any; otherwise check the load did run.
    pub fn assert_clean(&self, at_least: u64) {
        assert!(
            self.failures.is_empty(),
            "{} of {} requests failed: {:#?}",
            self.failures.len(),
            self.ok + self.failures.len() as u64,
            &self.failures[..self.failures.len().min(20)]
        );
        assert!(
            self.ok >= at_least,
            "only {} requests completed: {:?}",
            self.ok,
            self.bodies
        );
    }
}

/// Client threads sending `GET path` to a port until `finish`.
pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Tally>>,
}

impl Load {
    /// `clients` threads, alternately keep-alive and connection-per-request.
    pub fn start(port: u16, path: &str, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..clients)
            .map(|i| {
                let stop = Arc::clone(&stop);
                let path = path.to_string();
                let keep_alive = i % 2 == 0;
                thread::spawn(move || client(port, &path, keep_alive, i, &stop))
            })
            .collect();
        Load { stop, threads }
    }

    /// Stop the clients (each finishes the request it is in) and add up.
    pub fn finish(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        let mut total = Tally::default();
        for t in self.threads {
            match t.join() {
                Ok(tally) => total.merge(tally),
                Err(_) => total.failures.push("a client thread panicked".into()),
            }
        }
        total
    }
}

fn client(port: u16, path: &str, keep_alive: bool, id: usize, stop: &AtomicBool) -> Tally {
    let started = Instant::now();
    let mut tally = Tally::default();
    let mut conn: Option<TcpStream> = None;
    let request = if keep_alive {
        format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n")
    } else {
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    };
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) && started.elapsed() < MAX_RUN {
        n += 1;
        let fail = |what: String| format!("client {id} ({}) request {n}: {what}", kind(keep_alive));
        let mut s = match conn.take() {
            Some(s) => s,
            None => match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => {
                    let _ = s.set_read_timeout(Some(WAIT));
                    let _ = s.set_write_timeout(Some(WAIT));
                    s
                }
                Err(e) => {
                    tally.failures.push(fail(format!("connect: {e}")));
                    thread::sleep(Duration::from_millis(50));
                    continue;
                }
            },
        };
        if let Err(e) = s.write_all(request.as_bytes()) {
            tally.failures.push(fail(format!("send: {e}")));
            continue;
        }
        match read_response(&mut s) {
            Ok(resp) if resp.status == 200 => {
                tally.ok += 1;
                *tally.bodies.entry(resp.text()).or_default() += 1;
                let closing = resp
                    .header("Connection")
                    .is_some_and(|v| v.eq_ignore_ascii_case("close"));
                if keep_alive && !closing {
                    conn = Some(s);
                }
            }
            Ok(resp) => {
                tally
                    .failures
                    .push(fail(format!("status {} {}", resp.status, resp.text())))
            }
            Err(e) => tally.failures.push(fail(e)),
        }
    }
    tally
}

fn kind(keep_alive: bool) -> &'static str {
    if keep_alive { "keep-alive" } else { "close" }
}
