//! Python's reading and writing of text, where what gunicorn prints or
//! accepts depends on it: `repr()`/`ascii()` of `str` and `bytes` (quoted
//! values in error messages and the access log), `str.isspace`/`str.strip`,
//! and `int()` (`Content-Length` from the application, integer settings).
//!
//! Shared by `http`, `config` and `log`; lives here because `http` depends
//! on nothing else in the crate.

use std::fmt::{self, Write as _};

/// Python's `str.isspace()` for one character.
pub fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t'..='\r'
            | '\x1c'..='\x1f'
            | ' '
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// Python's `s.strip()` (no argument): drops [`is_space`] characters at
/// both ends. Unlike Rust's `trim`, it also drops `\x1c`..`\x1f`.
pub fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// The whitespace `int()` ignores around a number: every [`is_space`]
/// character except `\x1c`..`\x1f`, which `int()` refuses although
/// `isspace()` accepts them.
fn is_int_space(c: char) -> bool {
    is_space(c) && !('\x1c'..='\x1f').contains(&c)
}

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
///
/// Only ASCII digits: Python also reads other Unicode decimal digits
/// (`int("٣")`), which no caller here has a use for.
pub fn int(s: &str) -> Result<i64, IntError> {
    int_base(s, 10)
}

/// Python's `int(s, 0)`: base from the prefix (`0x`, `0o`, `0b`, any case,
/// one `_` allowed after it), else decimal without leading zeros (except
/// for zero itself).
pub fn int_auto(s: &str) -> Result<i64, IntError> {
    int_base(s, 0)
}

/// `int(s, base)` for base 0 ([`int_auto`]) and 10 ([`int`]).
fn int_base(s: &str, base: u32) -> Result<i64, IntError> {
    let (negative, magnitude) = int_parts(s, base)?;
    let magnitude = magnitude.ok_or(IntError::TooLarge)?;
    if negative {
        0i64.checked_sub_unsigned(magnitude)
            .ok_or(IntError::TooLarge)
    } else {
        i64::try_from(magnitude).map_err(|_| IntError::TooLarge)
    }
}

/// `int(s)` as a sign and a magnitude; the magnitude is `None` when it is
/// above `u64::MAX` (Python has no limit).
pub fn int_sign_magnitude(s: &str) -> Result<(bool, Option<u64>), IntError> {
    int_parts(s, 10)
}

fn int_parts(s: &str, base: u32) -> Result<(bool, Option<u64>), IntError> {
    let s = s.trim_matches(is_int_space);
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = if base == 10 {
        digits(body, 10)?
    } else {
        let prefixed = |p: &str| {
            body.get(..2)
                .filter(|head| head.eq_ignore_ascii_case(p))
                .map(|_| body[2..].strip_prefix('_').unwrap_or(&body[2..]))
        };
        if let Some(rest) = prefixed("0x") {
            digits(rest, 16)?
        } else if let Some(rest) = prefixed("0o") {
            digits(rest, 8)?
        } else if let Some(rest) = prefixed("0b") {
            digits(rest, 2)?
        } else {
            let value = digits(body, 10)?;
            // Base 0 refuses leading zeros: only zero itself may start with 0.
            if body.starts_with('0') && value != Some(0) {
                return Err(IntError::Invalid);
            }
            value
        }
    };
    Ok((negative, magnitude))
}

/// Digits in `radix` with single underscores between them; `None` when the
/// value is above `u64::MAX`.
fn digits(s: &str, radix: u32) -> Result<Option<u64>, IntError> {
    if s.is_empty() || s.starts_with('_') || s.ends_with('_') || s.contains("__") {
        return Err(IntError::Invalid);
    }
    let mut value = Some(0u64);
    for c in s.chars().filter(|&c| c != '_') {
        let d = c.to_digit(radix).ok_or(IntError::Invalid)?;
        // Keep checking the remaining digits: "9999...x" is invalid, not too large.
        value = value
            .and_then(|v| v.checked_mul(u64::from(radix)))
            .and_then(|v| v.checked_add(u64::from(d)));
    }
    Ok(value)
}

/// Python's `repr()` of a `str`, as a `Display` value.
///
/// Exact for every character below U+0100 (all the text parsed from the
/// wire is latin-1) and for the non-printable separators, format
/// characters, private-use characters and noncharacters above it. Python
/// also escapes unassigned code points, which need Unicode's tables; those
/// are shown as they are.
pub struct PyStr<'a>(pub &'a str);

impl fmt::Display for PyStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_repr(f, self.0, false)
    }
}

/// Python's `ascii()` of a `str`: `repr()` with every non-ASCII character
/// escaped.
pub struct PyAscii<'a>(pub &'a str);

impl fmt::Display for PyAscii<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_repr(f, self.0, true)
    }
}

/// Python's `repr(s)` as a `String`.
pub fn repr(s: &str) -> String {
    PyStr(s).to_string()
}

fn write_repr(f: &mut fmt::Formatter<'_>, s: &str, ascii: bool) -> fmt::Result {
    let quote = repr_quote(s.contains('\''), s.contains('"'));
    f.write_char(quote)?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\t' => f.write_str("\\t")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            c if c == quote => write!(f, "\\{c}")?,
            ' '..='~' => f.write_char(c)?,
            c if !ascii && c > '\u{7f}' && is_printable(c) => f.write_char(c)?,
            c => {
                let n = u32::from(c);
                if n <= 0xff {
                    write!(f, "\\x{n:02x}")?
                } else if n <= 0xffff {
                    write!(f, "\\u{n:04x}")?
                } else {
                    write!(f, "\\U{n:08x}")?
                }
            }
        }
    }
    f.write_char(quote)
}

/// Python's `str.isprintable()` for a non-ASCII character, as far as it can
/// be told without Unicode's tables (see [`PyStr`]): not a control (Cc),
/// separator other than space (Zs, Zl, Zp), format character (Cf, Unicode
/// 14 as in Python 3.11), private-use character (Co), noncharacter, or in
/// a range that has never been assigned (planes 4 to 13, most of plane 14).
fn is_printable(c: char) -> bool {
    let n = u32::from(c);
    !matches!(
        n,
        0x80..=0xa0
            | 0xad
            | 0x600..=0x605
            | 0x61c
            | 0x6dd
            | 0x70f
            | 0x890..=0x891
            | 0x8e2
            | 0x1680
            | 0x180e
            | 0x2000..=0x200f
            | 0x2028..=0x202f
            | 0x205f..=0x206f
            | 0x3000
            | 0xe000..=0xf8ff
            | 0xfdd0..=0xfdef
            | 0xfeff
            | 0xfff9..=0xfffb
            | 0x110bd
            | 0x110cd
            | 0x13430..=0x13438
            | 0x1bca0..=0x1bca3
            | 0x1d173..=0x1d17a
            | 0x40000..=0xdffff
            | 0xe0000..=0xe00ff
            | 0xe01f0..
    ) && n & 0xfffe != 0xfffe
}

/// Python's `repr()` of a `bytes` value.
pub struct PyBytes<'a>(pub &'a [u8]);

impl fmt::Display for PyBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quote = repr_quote(self.0.contains(&b'\''), self.0.contains(&b'"'));
        f.write_char('b')?;
        f.write_char(quote)?;
        for &b in self.0 {
            match b {
                b'\\' => f.write_str("\\\\")?,
                b'\t' => f.write_str("\\t")?,
                b'\n' => f.write_str("\\n")?,
                b'\r' => f.write_str("\\r")?,
                b if char::from(b) == quote => write!(f, "\\{}", char::from(b))?,
                0x20..=0x7e => f.write_char(char::from(b))?,
                b => write!(f, "\\x{b:02x}")?,
            }
        }
        f.write_char(quote)
    }
}

/// Python quotes with `'` unless the text holds `'` and no `"`.
fn repr_quote(has_single: bool, has_double: bool) -> char {
    if has_single && !has_double { '"' } else { '\'' }
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
        assert_eq!(int("-9223372036854775808"), Ok(i64::MIN));
        // Unicode whitespace counts, the ASCII separators \x1c-\x1f do not.
        assert_eq!(int("\u{a0}5\u{85}"), Ok(5));
        assert_eq!(int("\u{3000}5\x0b\x0c"), Ok(5));
        for bad in [
            "",
            " ",
            "abc",
            "0x10",
            "1.5",
            "1__0",
            "_1",
            "1_",
            "- 1",
            "--1",
            "4 2",
            "\x1c5",
            "5\x1f",
            "\u{200b}5",
        ] {
            assert_eq!(int(bad), Err(IntError::Invalid), "{bad:?}");
        }
        assert_eq!(int("9223372036854775808"), Err(IntError::TooLarge));
        assert_eq!(int("99999999999999999999"), Err(IntError::TooLarge));
        assert_eq!(int("99999999999999999999x"), Err(IntError::Invalid));
        assert_eq!(int_sign_magnitude("-0"), Ok((true, Some(0))));
        assert_eq!(
            int_sign_magnitude("18446744073709551615"),
            Ok((false, Some(u64::MAX)))
        );
        assert_eq!(
            int_sign_magnitude("-18446744073709551616"),
            Ok((true, None))
        );
    }

    #[test]
    fn int_auto_like_python_base_0() {
        assert_eq!(int_auto("0o600"), Ok(0o600));
        assert_eq!(int_auto("0X1f"), Ok(31));
        assert_eq!(int_auto("0b101"), Ok(5));
        assert_eq!(int_auto("0x_1f"), Ok(31));
        assert_eq!(int_auto(" 18 "), Ok(18));
        assert_eq!(int_auto("0"), Ok(0));
        assert_eq!(int_auto("00"), Ok(0));
        assert_eq!(int_auto("0_0"), Ok(0));
        assert_eq!(int_auto("-0x10"), Ok(-16));
        for bad in ["08", "0022", "0x", "0x__1", "abc", "", "0o8", "0b2"] {
            assert_eq!(int_auto(bad), Err(IntError::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn strip_like_python() {
        assert_eq!(strip("\x1c a\tb \u{a0}\u{2028}"), "a\tb");
        assert_eq!(strip("\u{200b}x"), "\u{200b}x");
        assert!(is_space('\x1f') && !is_space('\u{180e}'));
    }

    #[test]
    fn repr_like_python() {
        assert_eq!(repr("abc"), "'abc'");
        assert_eq!(repr(""), "''");
        assert_eq!(repr("it's"), "\"it's\"");
        assert_eq!(repr("'\""), "'\\'\"'");
        assert_eq!(repr("a\\b\n"), "'a\\\\b\\n'");
        assert_eq!(
            repr("\x01\x7f\u{80}\u{a0}\u{ad}é\u{ff}"),
            "'\\x01\\x7f\\x80\\xa0\\xadé\u{ff}'"
        );
        assert_eq!(
            repr("\u{2028}\u{200b}\u{feff}\u{e000}\u{ffff}\u{10ffff}€😀"),
            "'\\u2028\\u200b\\ufeff\\ue000\\uffff\\U0010ffff€😀'"
        );
        assert_eq!(PyAscii("é€😀'").to_string(), "\"\\xe9\\u20ac\\U0001f600'\"");
        assert_eq!(PyBytes(b"z\r\x00'\xff").to_string(), "b\"z\\r\\x00'\\xff\"");
    }
}
