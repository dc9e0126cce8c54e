//! What a client may cost a worker: how long it may stall, how much of a
//! response is buffered for it.

use std::time::Duration;

use crate::config::Config;

/// A client that stops sending mid-request, or stops reading our
/// response, for this long is dropped.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Response bytes buffered per connection before the app's iterator is paused.
const RESPONSE_BUFFER: usize = 256 * 1024;

/// The per-connection limits of a worker.
#[derive(Debug, Clone)]
pub struct ClientLimits {
    /// How long a body (request or response) may stop moving.
    pub body_timeout: Duration,
    /// Response bytes buffered before the application is asked for more.
    pub response_buffer: usize,
}

impl ClientLimits {
    pub fn from_config(_cfg: &Config) -> Self {
        ClientLimits {
            body_timeout: BODY_TIMEOUT,
            response_buffer: RESPONSE_BUFFER,
        }
    }
}
