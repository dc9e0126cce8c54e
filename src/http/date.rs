//! The `Date` header value (IMF-fixdate), recomputed at most once a second.

/// Cached `Date` header value.
#[derive(Debug, Default)]
pub struct HttpDate {
    _private: (),
}

impl HttpDate {
    /// The current date as `Sun, 06 Nov 1994 08:49:37 GMT`.
    pub fn now(&mut self) -> &[u8] {
        todo!()
    }
}
