//! The limits on what one client may cost a worker (gunicorn-rs only):
//! how long it may take to send a request head, how long it may pause in a
//! body or while reading a response, how large a body may be, and how much
//! of a body or response is held in memory.

/// `--header-timeout` and friends, as resolved (see `settings.rs` for the
/// flags' help). Seconds are at most [`MAX_TIMEOUT_SECS`](super::MAX_TIMEOUT_SECS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// Seconds for a whole request head, from its first byte (from the
    /// accept for a connection's first request); 0: no limit.
    pub header_timeout: u64,
    /// Seconds a body or a response may stand still; 0: no limit.
    pub body_timeout: u64,
    /// Body bytes held in memory before the body goes to a temporary file.
    pub body_buffer_size: u64,
    /// Largest accepted request body; 0: no limit.
    pub max_body_size: u64,
    /// Response bytes buffered per connection before the app's iterator
    /// is paused.
    pub response_buffer_size: u64,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            header_timeout: 10,
            body_timeout: 30,
            body_buffer_size: 1024 * 1024,
            max_body_size: 1024 * 1024 * 1024,
            response_buffer_size: 256 * 1024,
        }
    }
}
