//! The command line, generated from [`SETTINGS`]: every gunicorn flag is
//! declared with its exact spellings, so each one parses with its value
//! whether or not gunicorn-rs implements it. The same command parses
//! `GUNICORN_CMD_ARGS`.
//!
//! Behaves like gunicorn's argparse parser where users can tell: unique
//! prefixes of long flags are accepted (`--work` is not, it is ambiguous),
//! a repeated flag keeps its last value, `-w -1` reads `-1` as a value, and
//! errors are a usage line plus `gunicorn-rs: error: ...` (exit 2).
//!
//! Only parses: whether a setting is supported and valid is `resolve`'s job,
//! except for integer syntax, which argparse checks while parsing.

use std::ffi::OsString;

use clap::builder::ValueParser;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

use super::Error;
use super::pytext::{self, IntError};
use super::settings::{DefaultValue, Kind, SETTINGS, Setting, Status};

/// Program name in usage, errors and `--version`.
pub const PROG: &str = "gunicorn-rs";
const USAGE: &str = "gunicorn-rs [OPTIONS] [APP_MODULE]";
/// Id of the positional arguments (argparse's `args`, `nargs="*"`).
const APP_MODULE: &str = "APP_MODULE";
const ABOUT: &str = "A pre-fork WSGI server: a drop-in replacement for gunicorn 27, in Rust.";
const TEMPLATE: &str = "usage: {usage}\n\n{about}\n\n{all-args}";

/// The value one source gave for one setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A flag without a value was present: its action (`--preload` sets
    /// preload_app, `--no-sendfile` turns sendfile off).
    Flag,
    /// A config file gave a flag setting this value (`preload_app = False`).
    Bool(bool),
    /// The (last) value of a single-valued setting.
    One(String),
    /// All values of a repeatable setting, in order.
    Many(Vec<String>),
}

/// What one command line (or `GUNICORN_CMD_ARGS`, or a config file) said.
#[derive(Debug, Default)]
pub struct Given {
    /// The settings present, in the order they first appear.
    pub settings: Vec<(&'static Setting, Value)>,
    /// Positional arguments; gunicorn uses only the first, as APP_MODULE.
    pub positionals: Vec<String>,
}

impl Given {
    /// The value given for the setting `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.settings
            .iter()
            .find(|(s, _)| s.name == name)
            .map(|(_, v)| v)
    }
}

/// The outcome of parsing one argument list.
#[derive(Debug)]
pub enum Parsed {
    Given(Given),
    /// `-h/--help` was given: print [`help`] and exit 0.
    Help,
    /// `-v/--version` was given: print [`version`] and exit 0.
    Version,
}

/// The `-v/--version` text.
pub fn version() -> String {
    format!("{PROG} (version {})\n", env!("CARGO_PKG_VERSION"))
}

/// The `-h/--help` text.
pub fn help() -> String {
    let mut text = command().render_help().to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// Parse `args` (program name first). `Err` holds the argparse-style
/// message without the usage line: see [`usage_error`].
pub fn parse<I, T>(args: I) -> Result<Parsed, String>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let matches = match command().try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => {
            return match e.kind() {
                ErrorKind::DisplayHelp => Ok(Parsed::Help),
                ErrorKind::DisplayVersion => Ok(Parsed::Version),
                // argparse reports unknown arguments only at the end, so a
                // later -h or -v still prints; clap stops at the first.
                ErrorKind::UnknownArgument => later_print(&args, describe(&e)),
                _ => Err(describe(&e)),
            };
        }
    };
    let given = collect(&matches);
    check_ints(&given)?;
    Ok(Parsed::Given(given))
}

/// The first `-h`/`-v` in `args` (before any `--`), else `error`.
fn later_print(args: &[OsString], error: String) -> Result<Parsed, String> {
    for arg in args.iter().skip(1).take_while(|a| *a != "--") {
        match arg.to_str() {
            Some("-h" | "--help") => return Ok(Parsed::Help),
            Some("-v" | "--version") => return Ok(Parsed::Version),
            _ => {}
        }
    }
    Err(error)
}

/// The full text of a usage error, as argparse prints it.
pub fn usage_error(message: &str) -> Error {
    Error::Usage(format!("usage: {USAGE}\n{PROG}: error: {message}"))
}

/// The clap command: `-h`, `-v`, the positionals, and one argument per
/// setting that has flags.
fn command() -> Command {
    let mut cmd = Command::new(PROG)
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .override_usage(USAGE)
        .help_template(TEMPLATE)
        .next_line_help(true)
        .disable_help_flag(true)
        .disable_version_flag(true)
        // argparse: unique prefixes of long options, last value wins,
        // `-1` is a value.
        .infer_long_args(true)
        .args_override_self(true)
        .allow_negative_numbers(true)
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::Help)
                .help("Show this help and exit."),
        )
        .arg(
            Arg::new("version")
                .short('v')
                .long("version")
                .action(ArgAction::Version)
                .help("Show the version and exit."),
        )
        .arg(
            Arg::new(APP_MODULE)
                .num_args(0..)
                .action(ArgAction::Append)
                .value_parser(ValueParser::string())
                .value_name(APP_MODULE)
                .help(
                    "The WSGI application, as MODULE[:VARIABLE]; VARIABLE defaults to application.",
                ),
        );
    for setting in SETTINGS.iter().filter(|s| !s.flags.is_empty()) {
        cmd = cmd.arg(arg(setting));
    }
    cmd
}

fn arg(setting: &'static Setting) -> Arg {
    let mut arg = Arg::new(setting.name)
        .help(help_line(setting))
        .help_heading(setting.section.title());
    let mut longs = setting.flags.iter().filter_map(|f| f.strip_prefix("--"));
    if let Some(long) = longs.next() {
        arg = arg.long(long);
    }
    for alias in longs {
        arg = arg.visible_alias(alias);
    }
    let short = setting
        .flags
        .iter()
        .find_map(|f| f.strip_prefix('-').filter(|r| r.len() == 1));
    if let Some(c) = short.and_then(|r| r.chars().next()) {
        arg = arg.short(c);
    }
    match setting.kind {
        Kind::Flag => arg.action(ArgAction::SetTrue),
        Kind::List => arg
            .action(ArgAction::Append)
            .value_name(setting.meta)
            .value_parser(ValueParser::string()),
        Kind::OptionalValue { missing } => arg
            .action(ArgAction::Set)
            .num_args(0..=1)
            .default_missing_value(missing)
            .value_name(setting.meta)
            .value_parser(ValueParser::string()),
        Kind::Int | Kind::AutoInt | Kind::Str | Kind::Hook | Kind::Dict => arg
            .action(ArgAction::Set)
            .value_name(setting.meta)
            .value_parser(ValueParser::string()),
    }
}

/// Help line: ours, then the default, then whether it is supported.
fn help_line(setting: &Setting) -> String {
    let default = match setting.default {
        DefaultValue::Int(n) if setting.kind == Kind::AutoInt && n != 0 => format!("{n:#o}"),
        DefaultValue::Int(n) => n.to_string(),
        DefaultValue::Str(s) | DefaultValue::Computed(s) => s.to_string(),
        DefaultValue::List(items) => items.join(","),
        DefaultValue::None | DefaultValue::Bool(_) | DefaultValue::Dict(_) => String::new(),
    };
    let mut units: Vec<String> = setting
        .help
        .split_whitespace()
        .map(str::to_string)
        .collect();
    // Short defaults stay on one line; long ones may wrap like prose.
    if default.len() > 20 {
        units.push("[default:".to_string());
        units.extend(format!("{default}]").split_whitespace().map(str::to_string));
    } else if !default.is_empty() {
        units.push(format!("[default: {default}]"));
    }
    if setting.status == Status::Unsupported {
        units.push("(not supported yet)".to_string());
    }
    wrap(&units, HELP_WIDTH)
}

/// Help text is wrapped here, since clap wraps only with a feature we do
/// not build; clap indents the continuation lines by 10 columns.
const HELP_WIDTH: usize = 70;

/// Greedy wrap of unbreakable `units` at `width` columns.
fn wrap<S: AsRef<str>>(units: &[S], width: usize) -> String {
    let mut out = String::new();
    let mut column = 0;
    for unit in units {
        let unit = unit.as_ref();
        let len = unit.chars().count();
        if column > 0 && column + 1 + len > width {
            out.push('\n');
            column = 0;
        } else if column > 0 {
            out.push(' ');
            column += 1;
        }
        out.push_str(unit);
        column += len;
    }
    out
}

fn collect(m: &ArgMatches) -> Given {
    let mut settings: Vec<(usize, &'static Setting, Value)> = Vec::new();
    for setting in SETTINGS.iter().filter(|s| !s.flags.is_empty()) {
        if m.value_source(setting.name) != Some(ValueSource::CommandLine) {
            continue;
        }
        let value = match setting.kind {
            Kind::Flag => Some(Value::Flag),
            Kind::List => m
                .get_many::<String>(setting.name)
                .map(|vs| Value::Many(vs.cloned().collect())),
            _ => m.get_one::<String>(setting.name).cloned().map(Value::One),
        };
        if let Some(value) = value {
            let position = m.index_of(setting.name).unwrap_or(usize::MAX);
            settings.push((position, setting, value));
        }
    }
    settings.sort_by_key(|(position, _, _)| *position);
    Given {
        settings: settings.into_iter().map(|(_, s, v)| (s, v)).collect(),
        positionals: m
            .get_many::<String>(APP_MODULE)
            .map(|vs| vs.cloned().collect())
            .unwrap_or_default(),
    }
}

/// argparse converts `type=int` values while parsing, so a malformed
/// integer is a usage error (exit 2) even for an unsupported setting.
fn check_ints(given: &Given) -> Result<(), String> {
    for (setting, value) in &given.settings {
        // argparse names the type function in the message.
        let type_name = match setting.kind {
            Kind::Int => "int",
            Kind::AutoInt => "auto_int",
            _ => continue,
        };
        if let Value::One(raw) = value {
            let parsed = if setting.kind == Kind::AutoInt {
                pytext::auto_int(raw)
            } else {
                pytext::int(raw)
            };
            if parsed == Err(IntError::Invalid) {
                return Err(format!(
                    "argument {}: invalid {type_name} value: {}",
                    setting.display_flags(),
                    pytext::repr(raw)
                ));
            }
        }
    }
    Ok(())
}

/// An argparse-like message for a clap error.
fn describe(e: &clap::Error) -> String {
    let context = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.as_str()),
        _ => None,
    };
    // clap names the argument as `--workers <INT>`; argparse as `-w/--workers`.
    let argument = || {
        let raw = context(ContextKind::InvalidArg).unwrap_or_default();
        let flag = raw.split_whitespace().next().unwrap_or_default();
        super::settings::find_flag(flag).map_or_else(|| flag.to_string(), |s| s.display_flags())
    };
    match e.kind() {
        ErrorKind::UnknownArgument => {
            let arg = context(ContextKind::InvalidArg).unwrap_or_default();
            match ambiguous(arg) {
                Some(matches) => format!("ambiguous option: {arg} could match {matches}"),
                None => format!("unrecognized arguments: {arg}"),
            }
        }
        ErrorKind::InvalidValue | ErrorKind::NoEquals | ErrorKind::WrongNumberOfValues => {
            format!("argument {}: expected one argument", argument())
        }
        ErrorKind::TooManyValues => format!(
            "argument {}: ignored explicit argument {}",
            argument(),
            pytext::repr(context(ContextKind::InvalidValue).unwrap_or_default())
        ),
        ErrorKind::InvalidUtf8 => "arguments must be valid UTF-8".to_string(),
        // Not expected from this command; keep clap's own first line.
        _ => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            first.strip_prefix("error: ").unwrap_or(first).to_string()
        }
    }
}

/// For a long option that prefixes several flags, those flags, as argparse
/// lists them.
fn ambiguous(arg: &str) -> Option<String> {
    let prefix = arg.split('=').next().unwrap_or(arg);
    if !prefix.starts_with("--") || prefix.len() <= 2 {
        return None;
    }
    let all = ["--help", "--version"]
        .into_iter()
        .chain(SETTINGS.iter().flat_map(|s| s.flags.iter().copied()));
    let matches: Vec<&str> = all.filter(|f| f.starts_with(prefix)).collect();
    (matches.len() > 1).then(|| matches.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(args: &[&str]) -> Given {
        match parse(std::iter::once(PROG).chain(args.iter().copied())) {
            Ok(Parsed::Given(g)) => g,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn error(args: &[&str]) -> String {
        match parse(std::iter::once(PROG).chain(args.iter().copied())) {
            Err(e) => e,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn value(args: &[&str], name: &str) -> Option<Value> {
        given(args).get(name).cloned()
    }

    fn one(v: &str) -> Option<Value> {
        Some(Value::One(v.to_string()))
    }

    #[test]
    fn command_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn every_flag_parses_with_its_value() {
        for setting in SETTINGS {
            for flag in setting.flags {
                let args: Vec<&str> = match setting.kind {
                    Kind::Flag => vec![flag, "app"],
                    Kind::Int | Kind::AutoInt => vec![flag, "7", "app"],
                    _ => vec![flag, "x", "app"],
                };
                let g = given(&args);
                let expected = match setting.kind {
                    Kind::Flag => Value::Flag,
                    Kind::List => Value::Many(vec!["x".to_string()]),
                    Kind::Int | Kind::AutoInt => Value::One("7".to_string()),
                    _ => Value::One("x".to_string()),
                };
                assert_eq!(g.get(setting.name), Some(&expected), "{flag}");
                assert_eq!(g.positionals, ["app"], "{flag}");
                assert_eq!(g.settings.len(), 1, "{flag}");
            }
        }
    }

    #[test]
    fn value_spellings() {
        assert_eq!(value(&["--workers=3"], "workers"), one("3"));
        assert_eq!(value(&["-w3"], "workers"), one("3"));
        assert_eq!(value(&["-w", "-1"], "workers"), one("-1"));
        assert_eq!(value(&["--access-logfile", "-"], "accesslog"), one("-"));
        assert_eq!(value(&["--log-file", "f"], "errorlog"), one("f"));
        let g = given(&["-Dw", "2"]);
        assert_eq!(
            (g.get("daemon").cloned(), g.get("workers").cloned()),
            (Some(Value::Flag), one("2"))
        );
    }

    #[test]
    fn last_value_wins_and_lists_accumulate() {
        assert_eq!(value(&["-w", "2", "--workers", "5"], "workers"), one("5"));
        assert_eq!(
            value(&["-b", "a", "--bind", "b"], "bind"),
            Some(Value::Many(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            value(&["--preload", "--preload"], "preload_app"),
            Some(Value::Flag)
        );
    }

    #[test]
    fn optional_value() {
        assert_eq!(value(&["--proxy-protocol"], "proxy_protocol"), one("auto"));
        assert_eq!(
            value(&["--proxy-protocol", "v1"], "proxy_protocol"),
            one("v1")
        );
    }

    #[test]
    fn prefixes_like_argparse() {
        assert_eq!(value(&["--worker-cl", "sync"], "worker_class"), one("sync"));
        assert_eq!(value(&["--workers", "2"], "workers"), one("2"));
        assert_eq!(value(&["--pre"], "preload_app"), Some(Value::Flag));
        assert_eq!(value(&["--log-f", "x"], "errorlog"), one("x"));
        assert_eq!(
            error(&["--work", "2"]),
            "ambiguous option: --work could match --workers, --worker-class, \
             --worker-connections, --worker-tmp-dir"
        );
    }

    #[test]
    fn positionals_and_order() {
        let g = given(&["app:app", "-w", "2", "extra", "--preload"]);
        assert_eq!(g.positionals, ["app:app", "extra"]);
        let names: Vec<_> = g.settings.iter().map(|(s, _)| s.name).collect();
        assert_eq!(names, ["workers", "preload_app"]);
        assert_eq!(given(&["--", "-w"]).positionals, ["-w"]);
    }

    #[test]
    fn usage_errors_read_like_argparse() {
        assert_eq!(error(&["--bogus"]), "unrecognized arguments: --bogus");
        assert_eq!(error(&["-x"]), "unrecognized arguments: -x");
        assert_eq!(
            error(&["--workers"]),
            "argument -w/--workers: expected one argument"
        );
        assert_eq!(
            error(&["app", "-b"]),
            "argument -b/--bind: expected one argument"
        );
        assert_eq!(
            error(&["-w", "abc"]),
            "argument -w/--workers: invalid int value: 'abc'"
        );
        assert_eq!(
            error(&["--workers="]),
            "argument -w/--workers: invalid int value: ''"
        );
        assert_eq!(
            error(&["--max-requests", "1.5"]),
            "argument --max-requests: invalid int value: '1.5'"
        );
        // gunicorn 27: argparse names the type, auto_int.
        assert_eq!(
            error(&["--umask", "08"]),
            "argument -m/--umask: invalid auto_int value: '08'"
        );
        assert_eq!(
            error(&["--control-socket-mode", "rw"]),
            "argument --control-socket-mode: invalid auto_int value: 'rw'"
        );
        assert_eq!(
            error(&["--preload=yes"]),
            "argument --preload: ignored explicit argument 'yes'"
        );
        let e = usage_error("unrecognized arguments: --bogus");
        assert_eq!(
            e.to_string(),
            "usage: gunicorn-rs [OPTIONS] [APP_MODULE]\ngunicorn-rs: error: unrecognized arguments: --bogus"
        );
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn wraps_help_lines() {
        assert_eq!(wrap(&["aa", "bb", "cc"], 5), "aa bb\ncc");
        assert_eq!(wrap(&["abcdefgh", "ij"], 4), "abcdefgh\nij");
        assert_eq!(wrap(&["a b", "[default: 1]"], 12), "a b\n[default: 1]");
    }

    #[test]
    fn ints_too_large_for_us_are_not_usage_errors() {
        assert_eq!(
            value(&["-w", "99999999999999999999"], "workers"),
            one("99999999999999999999")
        );
    }

    #[test]
    fn help_and_version() {
        for flag in ["-h", "--help"] {
            assert!(matches!(parse([PROG, flag, "--bogus"]), Ok(Parsed::Help)));
            // As argparse: unknown arguments do not stop -h, bad values do.
            assert!(matches!(parse([PROG, "--bogus", flag]), Ok(Parsed::Help)));
        }
        assert!(matches!(
            parse([PROG, "--bogus", "-v"]),
            Ok(Parsed::Version)
        ));
        assert!(parse([PROG, "--bogus", "--", "-v"]).is_err());
        for flag in ["-v", "--version"] {
            assert!(matches!(parse([PROG, flag]), Ok(Parsed::Version)));
        }
        assert_eq!(
            version(),
            format!("gunicorn-rs (version {})\n", env!("CARGO_PKG_VERSION"))
        );
        let text = help();
        assert!(
            text.starts_with("usage: gunicorn-rs [OPTIONS] [APP_MODULE]\n"),
            "{text}"
        );
        for setting in SETTINGS {
            for flag in setting.flags {
                assert!(text.contains(flag), "{flag} missing from help");
            }
        }
        assert!(text.contains("Server Socket:"));
        assert!(text.contains("[default: 2048]"));
        assert!(text.contains("--reload") && text.contains("(not supported yet)"));
    }
}
