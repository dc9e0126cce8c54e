//! Splitting `GUNICORN_CMD_ARGS` into arguments the way gunicorn does, which
//! is Python's `shlex.split(s)`: POSIX mode, no comments, split on
//! whitespace only.
//!
//! The rules, as Python applies them:
//! - space, tab, CR and LF separate words; nothing else does;
//! - `'...'` keeps everything literally;
//! - `"..."` keeps everything, except that a backslash before `"` or `\`
//!   escapes it (any other backslash stays, so `"\n"` is two characters);
//! - outside quotes a backslash escapes the next character, whatever it is;
//! - quoted parts join the word around them, and `''` is an empty word;
//! - `#` is an ordinary character.

use std::fmt;

/// Why a string could not be split. The texts are Python's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitError {
    /// A quote was opened and never closed.
    NoClosingQuotation,
    /// The string ends with a lone backslash.
    NoEscapedCharacter,
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SplitError::NoClosingQuotation => "No closing quotation",
            SplitError::NoEscapedCharacter => "No escaped character",
        })
    }
}

impl std::error::Error for SplitError {}

/// Where the splitter is inside the current word.
#[derive(Clone, Copy)]
enum State {
    /// Between words.
    Space,
    /// In an unquoted part of a word.
    Word,
    Single,
    Double,
}

/// Split `s` into words like Python's `shlex.split(s)`.
pub fn split(s: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut state = State::Space;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match state {
            State::Space | State::Word => match c {
                ' ' | '\t' | '\r' | '\n' => {
                    if let State::Word = state {
                        words.push(std::mem::take(&mut word));
                        state = State::Space;
                    }
                }
                '\'' => state = State::Single,
                '"' => state = State::Double,
                '\\' => {
                    word.push(chars.next().ok_or(SplitError::NoEscapedCharacter)?);
                    state = State::Word;
                }
                _ => {
                    word.push(c);
                    state = State::Word;
                }
            },
            State::Single => match c {
                '\'' => state = State::Word,
                _ => word.push(c),
            },
            State::Double => match c {
                '"' => state = State::Word,
                '\\' => match chars.next() {
                    Some(next @ ('"' | '\\')) => word.push(next),
                    Some(next) => {
                        word.push('\\');
                        word.push(next);
                    }
                    None => return Err(SplitError::NoEscapedCharacter),
                },
                _ => word.push(c),
            },
        }
    }
    match state {
        State::Space => {}
        State::Word => words.push(word),
        State::Single | State::Double => return Err(SplitError::NoClosingQuotation),
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Vec<String> {
        split(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    // Every expectation below was checked against Python 3.11 `shlex.split`.
    #[test]
    fn splits_on_whitespace_only() {
        assert!(ok("").is_empty());
        assert!(ok("  \t ").is_empty());
        assert_eq!(ok("a b  c"), ["a", "b", "c"]);
        assert_eq!(
            ok("-w 4 --bind 0.0.0.0:80"),
            ["-w", "4", "--bind", "0.0.0.0:80"]
        );
        assert_eq!(ok("a\tb\nc\rd"), ["a", "b", "c", "d"]);
        // Vertical tab and non-ASCII are ordinary characters.
        assert_eq!(ok("a\x0bb"), ["a\x0bb"]);
        assert_eq!(ok("é ü"), ["é", "ü"]);
    }

    #[test]
    fn quotes_group_and_join() {
        assert_eq!(ok("'a b' c"), ["a b", "c"]);
        assert_eq!(ok("\"a b\" c"), ["a b", "c"]);
        assert_eq!(ok("a\"b c\"d"), ["ab cd"]);
        assert_eq!(ok("a'b c'd"), ["ab cd"]);
        assert_eq!(
            ok("--access-logformat \"%(h)s %(r)s\""),
            ["--access-logformat", "%(h)s %(r)s"]
        );
    }

    #[test]
    fn empty_quotes_are_empty_words() {
        assert_eq!(ok("''"), [""]);
        assert_eq!(ok("\"\" x"), ["", "x"]);
    }

    #[test]
    fn backslashes() {
        assert_eq!(ok("a\\ b"), ["a b"]);
        assert_eq!(ok("\\'"), ["'"]);
        assert_eq!(ok("a\\\nb"), ["a\nb"]);
        assert_eq!(ok("\"a\\\"b\""), ["a\"b"]);
        assert_eq!(ok("\"a\\\\b\""), ["a\\b"]);
        // Inside double quotes only `"` and `\` are escapable.
        assert_eq!(ok("\"a\\nb\""), ["a\\nb"]);
        assert_eq!(ok("\"\\$x\""), ["\\$x"]);
        // Inside single quotes nothing is.
        assert_eq!(ok("'a\\b'"), ["a\\b"]);
    }

    #[test]
    fn hash_is_not_a_comment() {
        assert_eq!(ok("x#y"), ["x#y"]);
        assert_eq!(ok("# z"), ["#", "z"]);
    }

    #[test]
    fn errors() {
        assert_eq!(split("a\\"), Err(SplitError::NoEscapedCharacter));
        assert_eq!(split("\"abc"), Err(SplitError::NoClosingQuotation));
        assert_eq!(split("'abc"), Err(SplitError::NoClosingQuotation));
        assert_eq!(split("\"abc\\"), Err(SplitError::NoEscapedCharacter));
        assert_eq!(
            SplitError::NoClosingQuotation.to_string(),
            "No closing quotation"
        );
    }
}
