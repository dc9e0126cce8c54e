//! What one client may cost a worker, as the I/O loop applies it: the
//! deadlines for a request head and for a body or response that stands
//! still, how much of a body stays in memory, the largest body accepted,
//! and how much of a response is buffered before the app is paused.
//!
//! Built once per worker from `--header-timeout`, `--body-timeout`,
//! `--body-buffer-size`, `--max-body-size` and `--response-buffer-size`,
//! and copied into each connection (the free functions that close a
//! connection need it too).

use std::time::{Duration, Instant};

use crate::config::{Config, MAX_TIMEOUT_SECS};

/// The limits for one worker's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// A request head must be complete this long after its first byte
    /// (after the accept, for the connection's first request).
    pub header_timeout: Duration,
    /// A body that brings no bytes, or a response the client does not
    /// read, for this long ends the connection.
    pub body_timeout: Duration,
    /// Body bytes held in memory; beyond, the body is spooled to a file.
    pub body_buffer: usize,
    /// The largest body accepted (`None`: any size).
    pub max_body: Option<u64>,
    /// Response bytes buffered before the app's iterator is paused; at
    /// least 1, so that 0 means "pull the next piece once all is sent".
    pub response_buffer: usize,
}

impl ClientLimits {
    pub fn from_config(cfg: &Config) -> Self {
        let c = &cfg.client;
        // 0 is "no limit": the longest timeout the config allows.
        let secs = |n: u64| Duration::from_secs(if n == 0 { MAX_TIMEOUT_SECS } else { n });
        let bytes = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        ClientLimits {
            header_timeout: secs(c.header_timeout),
            body_timeout: secs(c.body_timeout),
            body_buffer: bytes(c.body_buffer_size),
            max_body: (c.max_body_size > 0).then_some(c.max_body_size),
            response_buffer: bytes(c.response_buffer_size).max(1),
        }
    }

    /// Whether a body of `len` bytes (so far) is over `--max-body-size`.
    pub fn body_too_large(&self, len: u64) -> bool {
        self.max_body.is_some_and(|max| len > max)
    }
}

/// `now + d`, or a year from now when that would overflow.
pub fn deadline_in(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(86400 * 365))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_means_no_limit_except_for_the_buffers() {
        let mut cfg = Config::defaults(std::path::PathBuf::from("/"));
        let d = ClientLimits::from_config(&cfg);
        assert_eq!(d.header_timeout, Duration::from_secs(10));
        assert_eq!(d.body_timeout, Duration::from_secs(30));
        assert_eq!((d.body_buffer, d.response_buffer), (1 << 20, 256 << 10));
        assert_eq!(d.max_body, Some(1 << 30));
        assert!(!d.body_too_large(1 << 30));
        assert!(d.body_too_large((1 << 30) + 1));

        cfg.client.header_timeout = 0;
        cfg.client.body_timeout = 0;
        cfg.client.body_buffer_size = 0;
        cfg.client.max_body_size = 0;
        cfg.client.response_buffer_size = 0;
        let z = ClientLimits::from_config(&cfg);
        assert_eq!(z.header_timeout, Duration::from_secs(MAX_TIMEOUT_SECS));
        assert_eq!(z.body_timeout, Duration::from_secs(MAX_TIMEOUT_SECS));
        assert_eq!((z.body_buffer, z.response_buffer), (0, 1));
        assert_eq!(z.max_body, None);
        assert!(!z.body_too_large(u64::MAX));
    }
}
