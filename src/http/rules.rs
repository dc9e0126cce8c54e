//! The settings a request head is parsed under that both the request line
//! and the header fields obey: gunicorn's size limits, and what to do with
//! header names containing `_`. Their own module so that `parser` and
//! `fields` both depend on it rather than on each other.

/// gunicorn's `MAX_REQUEST_LINE`: `limit_request_line` is capped to this.
pub const MAX_REQUEST_LINE: usize = 8190;
/// gunicorn's `MAX_HEADERS`: `limit_request_fields` of 0 or above means this.
pub const MAX_HEADERS: usize = 32768;
/// gunicorn's `DEFAULT_MAX_HEADERFIELD_SIZE`: `limit_request_field_size` of 0 means this.
pub const DEFAULT_MAX_HEADERFIELD_SIZE: usize = 8190;
/// `limit_request_line = 0` means "unlimited" to gunicorn; we still stop at
/// 1 MiB, the cap gunicorn's own C parser applies in that case.
pub const UNLIMITED_REQUEST_LINE: usize = 1 << 20;

/// Size limits on the request head (gunicorn's `limit_request_*`), holding
/// the settings as given; the `*_max` methods apply gunicorn's clamping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line, CRLF excluded. Over it: 414.
    pub request_line: usize,
    /// Most header fields. Over it: 431.
    pub fields: usize,
    /// Longest header field, CRLF included. Over it: 431.
    pub field_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_line: 4094,
            fields: 100,
            field_size: 8190,
        }
    }
}

impl Limits {
    /// Effective request-line limit: 0 is "unlimited" (see
    /// [`UNLIMITED_REQUEST_LINE`]), larger values are capped at 8190.
    pub fn request_line_max(&self) -> usize {
        match self.request_line {
            0 => UNLIMITED_REQUEST_LINE,
            n => n.min(MAX_REQUEST_LINE),
        }
    }

    /// Effective field-count limit: 0 or more than 32768 means 32768.
    pub fn fields_max(&self) -> usize {
        match self.fields {
            0 => MAX_HEADERS,
            n => n.min(MAX_HEADERS),
        }
    }

    /// Effective field-size limit: 0 means 8190 (gunicorn's code, whatever
    /// its docs say about "unlimited").
    pub fn field_size_max(&self) -> usize {
        match self.field_size {
            0 => DEFAULT_MAX_HEADERFIELD_SIZE,
            n => n,
        }
    }

    /// Largest header section (after the request line) gunicorn buffers,
    /// its `max_buffer_headers`; also its cap on a trailer section.
    pub fn header_buffer_max(&self) -> usize {
        self.fields_max()
            .saturating_mul(self.field_size_max().saturating_add(2))
            .saturating_add(4)
    }
}

/// What to do with header names containing `_` (gunicorn's `header_map`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeaderMap {
    /// Silently leave the field out.
    #[default]
    Drop,
    /// Answer 400 `InvalidHeaderName`.
    Refuse,
    /// Keep it (it then shares an environ key with its dashed twin).
    Dangerous,
}
