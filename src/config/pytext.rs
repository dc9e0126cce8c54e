//! Python's reading and writing of values, where gunicorn's behaviour
//! depends on it: `int(s)` (argparse's `type=int`), gunicorn's `auto_int`
//! (`int(s, 0)` with `0022` read as octal) and `repr(s)` (quoted values in
//! error messages).

/// Why a string is not an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntError {
    /// Python would refuse it too.
    Invalid,
    /// Python would accept it, but it does not fit in an `i64`.
    TooLarge,
}

/// Python's `int(s)`: surrounding whitespace, an optional sign, then
/// decimal digits with single underscores allowed between them.
pub fn int(s: &str) -> Result<i64, IntError> {
    let (negative, body) = sign(s.trim());
    digits(body, 10).map(|v| if negative { -v } else { v })
}

/// gunicorn's `auto_int`: a leading `0` followed by a digit means octal
/// (`0022`), otherwise Python's `int(s, 0)` (`0x1f`, `0o22`, `0b11`, `18`).
pub fn auto_int(s: &str) -> Result<i64, IntError> {
    let mut chars = s.chars();
    if chars.next() == Some('0') && chars.next().is_some_and(|c| c.is_ascii_digit()) {
        return digits(s[1..].trim_end(), 8);
    }
    let (negative, body) = sign(s.trim());
    let prefixed = |p: &str| {
        body.get(..2)
            .filter(|head| head.eq_ignore_ascii_case(p))
            // Python allows one underscore right after the base prefix.
            .map(|_| body[2..].strip_prefix('_').unwrap_or(&body[2..]))
    };
    let value = if let Some(rest) = prefixed("0x") {
        digits(rest, 16)
    } else if let Some(rest) = prefixed("0o") {
        digits(rest, 8)
    } else if let Some(rest) = prefixed("0b") {
        digits(rest, 2)
    } else if body.starts_with('0') {
        // Base 0 refuses leading zeros: only an all-zero number may start with 0.
        digits(body, 10).and_then(|v| {
            if v == 0 {
                Ok(0)
            } else {
                Err(IntError::Invalid)
            }
        })
    } else {
        digits(body, 10)
    };
    value.map(|v| if negative { -v } else { v })
}

fn sign(s: &str) -> (bool, &str) {
    match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    }
}

/// Digits in `radix`, with single underscores between digits.
fn digits(s: &str, radix: u32) -> Result<i64, IntError> {
    if s.is_empty() || s.starts_with('_') || s.ends_with('_') || s.contains("__") {
        return Err(IntError::Invalid);
    }
    let mut value: i64 = 0;
    let mut overflow = false;
    for c in s.chars().filter(|&c| c != '_') {
        let d = c.to_digit(radix).ok_or(IntError::Invalid)?;
        // Keep checking the remaining digits: "9999...x" is invalid, not too large.
        match value
            .checked_mul(i64::from(radix))
            .and_then(|v| v.checked_add(i64::from(d)))
        {
            Some(v) => value = v,
            None => overflow = true,
        }
    }
    if overflow {
        Err(IntError::TooLarge)
    } else {
        Ok(value)
    }
}

/// Python's `repr()` of a string: `'abc'`, or `"it's"` when that avoids
/// escaping.
pub fn repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expectations checked against Python 3.11.
    #[test]
    fn int_like_python() {
        assert_eq!(int("42"), Ok(42));
        assert_eq!(int(" 3 "), Ok(3));
        assert_eq!(int("+7"), Ok(7));
        assert_eq!(int("-1"), Ok(-1));
        assert_eq!(int("007"), Ok(7));
        assert_eq!(int("1_000"), Ok(1000));
        for bad in [
            "", " ", "abc", "0x10", "1.5", "1__0", "_1", "1_", "- 1", "--1", "4 2",
        ] {
            assert_eq!(int(bad), Err(IntError::Invalid), "{bad:?}");
        }
        assert_eq!(int("99999999999999999999"), Err(IntError::TooLarge));
        assert_eq!(int("99999999999999999999x"), Err(IntError::Invalid));
    }

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

    #[test]
    fn repr_like_python() {
        assert_eq!(repr("abc"), "'abc'");
        assert_eq!(repr(""), "''");
        assert_eq!(repr("it's"), "\"it's\"");
        assert_eq!(repr("'\""), "'\\'\"'");
        assert_eq!(repr("a\\b\n"), "'a\\\\b\\n'");
        assert_eq!(repr("\x01é"), "'\\x01é'");
    }
}
