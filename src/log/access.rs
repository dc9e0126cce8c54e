//! The access log: gunicorn's `access_log_format` (`%(h)s %(l)s ...`) with
//! every atom, compiled once and rendered per request.

use std::io;
use std::time::Duration;

use crate::http::parser::RequestHead;
use crate::http::response::ResponseHead;

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
    /// Look up an environ key for `%({key}e)s`.
    pub environ: &'a dyn Fn(&str) -> Option<String>,
}

/// An open access log with its compiled format.
pub struct AccessLog {
    _private: (),
}

impl AccessLog {
    /// `path` is `-` for stdout or a file opened for append.
    pub fn open(path: &str, format: &str) -> Result<Self, super::Error> {
        let _ = (path, format);
        todo!()
    }
    /// Render and write one line.
    pub fn log(&mut self, entry: &AccessEntry<'_>) {
        let _ = entry;
        todo!()
    }
    /// Reopen the file (USR1).
    pub fn reopen(&mut self) -> io::Result<()> {
        todo!()
    }
}
