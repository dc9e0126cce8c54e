//! Python's reading of setting values: `int(s)` (argparse's `type=int`),
//! gunicorn's `auto_int`, `str.strip()` and `repr(s)` (quoted values in
//! error messages). The Python rules themselves live in
//! [`crate::http::pytext`], shared with the request parser and the logs.

use crate::http::pytext::int_auto;
pub use crate::http::pytext::{IntError, int, int_sign_magnitude, repr, strip};

/// gunicorn's `auto_int`: a leading `0` followed by a digit means octal
/// (`0022`), otherwise Python's `int(s, 0)` (`0x1f`, `0o22`, `0b11`, `18`).
pub fn auto_int(s: &str) -> Result<i64, IntError> {
    let mut chars = s.chars();
    if chars.next() == Some('0') && chars.next().is_some_and(|c| c.is_ascii_digit()) {
        // gunicorn rewrites the first `0` to `0o`.
        return int_auto(&format!("0o{}", &s[1..]));
    }
    int_auto(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expectations checked against gunicorn 27's auto_int on Python 3.11.
    #[test]
    fn auto_int_like_gunicorn() {
        assert_eq!(auto_int("0022"), Ok(0o22));
        assert_eq!(auto_int("022"), Ok(0o22));
        assert_eq!(auto_int("0o600"), Ok(0o600));
        assert_eq!(auto_int("0x1F"), Ok(31));
        assert_eq!(auto_int("0b101"), Ok(5));
        assert_eq!(auto_int("0x_1f"), Ok(31));
        assert_eq!(auto_int("18"), Ok(18));
        assert_eq!(auto_int("0"), Ok(0));
        assert_eq!(auto_int("00"), Ok(0));
        assert_eq!(auto_int("0_0"), Ok(0));
        assert_eq!(auto_int("00_1"), Ok(1));
        assert_eq!(auto_int("0022 "), Ok(0o22));
        assert_eq!(auto_int("-0x10"), Ok(-16));
        for bad in ["08", "0x", "abc", "", "0o8", " 0022"] {
            assert_eq!(auto_int(bad), Err(IntError::Invalid), "{bad:?}");
        }
    }
}
