//! The logging and metrics settings beyond the two log files: StatsD,
//! syslog, `--capture-output`, Python logging configs and the JSON access
//! log, with gunicorn's address syntaxes and validation.

use super::Error;
use super::cli::Value;
use super::pytext;

/// The names [`Draft::set`] takes.
pub const SETTINGS: [&str; 13] = [
    "statsd_host",
    "statsd_prefix",
    "dogstatsd_tags",
    "enable_backlog_metric",
    "capture_output",
    "syslog",
    "syslog_addr",
    "syslog_facility",
    "syslog_prefix",
    "disable_redirect_access_to_syslog",
    "logconfig",
    "logconfig_json",
    "access_log_json",
];

/// The logging settings as given, checked once all sources are read
/// (syslog's address and facility are only checked when syslog is on,
/// as gunicorn does).
#[derive(Debug, Default)]
pub(super) struct Draft {
    opts: LogOptions,
    syslog: bool,
    syslog_addr: Option<String>,
    syslog_facility: Option<String>,
    syslog_prefix: Option<String>,
}

impl Draft {
    /// Apply one value of a setting named in [`SETTINGS`].
    pub(super) fn set(&mut self, name: &'static str, value: &Value) -> Result<(), Error> {
        let text = || match value {
            Value::One(s) => Ok(pytext::strip(s).to_string()),
            _ => Err(invalid(
                name,
                "internal error: unexpected kind of value".to_string(),
            )),
        };
        // A flag on the command line sets it; a config file says which
        // (`capture_output = False` leaves it off).
        let flag = || match value {
            Value::Flag => Ok(true),
            Value::Bool(b) => Ok(*b),
            _ => Err(invalid(
                name,
                "internal error: unexpected kind of value".to_string(),
            )),
        };
        let o = &mut self.opts;
        match name {
            "statsd_host" => {
                o.statsd_host = Some(StatsdAddr::parse(&text()?).map_err(|m| invalid(name, m))?)
            }
            "statsd_prefix" => o.statsd_prefix = text()?,
            "dogstatsd_tags" => o.dogstatsd_tags = text()?,
            "enable_backlog_metric" => o.enable_backlog_metric = flag()?,
            "capture_output" => o.capture_output = flag()?,
            "syslog" => self.syslog = flag()?,
            "syslog_addr" => self.syslog_addr = Some(text()?),
            "syslog_facility" => self.syslog_facility = Some(text()?),
            "syslog_prefix" => self.syslog_prefix = Some(text()?),
            "disable_redirect_access_to_syslog" => o.disable_redirect_access_to_syslog = flag()?,
            "logconfig" => o.logconfig = Some(text()?),
            "logconfig_json" => o.logconfig_json = Some(text()?),
            "access_log_json" => o.access_log_json = flag()?,
            _ => {
                return Err(Error::Unsupported {
                    flag: name.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The checked options. Errors read as gunicorn's logger set-up
    /// `RuntimeError`s.
    pub(super) fn finish(self) -> Result<LogOptions, Error> {
        let mut opts = self.opts;
        opts.syslog_given = [
            self.syslog_addr.clone(),
            self.syslog_facility.clone(),
            self.syslog_prefix.clone(),
        ];
        if self.syslog {
            let addr = self.syslog_addr.as_deref().unwrap_or(DEFAULT_SYSLOG_ADDR);
            let addr = SyslogAddr::parse(addr).map_err(Error::Refused)?;
            let facility = self.syslog_facility.as_deref().unwrap_or("user");
            let facility = syslog_facility(facility)
                .ok_or_else(|| Error::Refused("unknown facility name".to_string()))?;
            opts.syslog = Some(SyslogOptions {
                addr,
                facility,
                prefix: self.syslog_prefix,
            });
        }
        if let Some(path) = &opts.logconfig
            && !std::path::Path::new(path).exists()
        {
            return Err(Error::Refused(format!(
                "Error: log config '{path}' not found"
            )));
        }
        Ok(opts)
    }
}

/// `--log-syslog-to`'s default on Linux (and everything but the BSDs and macOS).
#[cfg(not(any(
    target_os = "macos",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "openbsd"
)))]
pub const DEFAULT_SYSLOG_ADDR: &str = "udp://localhost:514";
#[cfg(target_os = "macos")]
pub const DEFAULT_SYSLOG_ADDR: &str = "unix:///var/run/syslog";
#[cfg(any(target_os = "freebsd", target_os = "dragonfly"))]
pub const DEFAULT_SYSLOG_ADDR: &str = "unix:///var/run/log";
#[cfg(target_os = "openbsd")]
pub const DEFAULT_SYSLOG_ADDR: &str = "unix:///dev/log";

fn invalid(setting: &'static str, message: String) -> Error {
    Error::Invalid { setting, message }
}

/// Logging settings other than `--access-logfile`, `--access-logformat`,
/// `--error-logfile` and `--log-level`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogOptions {
    /// `--statsd-host`; None: no metrics.
    pub statsd_host: Option<StatsdAddr>,
    /// `--statsd-prefix`, as given (see [`statsd_prefix`]).
    pub statsd_prefix: String,
    /// `--dogstatsd-tags`, appended as `|#TAGS` when not empty.
    pub dogstatsd_tags: String,
    /// `--enable-backlog-metric`: `gunicorn.backlog` from the master (Linux).
    pub enable_backlog_metric: bool,
    /// `--capture-output`: the application's stdout and stderr go to the
    /// error log file (when it is a file).
    pub capture_output: bool,
    /// `--log-syslog`, with where and how; None: off.
    pub syslog: Option<SyslogOptions>,
    /// `--disable-redirect-access-to-syslog`.
    pub disable_redirect_access_to_syslog: bool,
    /// `--log-config FILE`: `logging.config.fileConfig`.
    pub logconfig: Option<String>,
    /// `--log-config-json FILE`: `logging.config.dictConfig` of the JSON.
    pub logconfig_json: Option<String>,
    /// `--access-log-json` (gunicorn-rs only): one JSON object per request.
    pub access_log_json: bool,
    /// `--log-syslog-to`, `--log-syslog-facility` and `--log-syslog-prefix`
    /// as given, also when syslog is off (`--print-config` shows them).
    pub syslog_given: [Option<String>; 3],
}

/// Where StatsD datagrams go (gunicorn's `validate_statsd_address`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsdAddr {
    /// A host name or IP and a port. The port is kept as Python's `int()`
    /// read it: one out of range means no metrics, silently, as gunicorn.
    Inet { host: String, port: i64 },
    /// A unix datagram socket (`unix:PATH`, `unix://PATH`).
    Unix(String),
}

impl StatsdAddr {
    /// Parse as gunicorn 27 does: `unix:PATH` or `unix://PATH`, else
    /// `[tcp://]HOST[:PORT]` with IPv6 in brackets and 8125 by default.
    /// `unix:DIGITS` is the host `unix` with that port (gunicorn keeps this
    /// pre-20 reading on purpose).
    pub fn parse(raw: &str) -> Result<StatsdAddr, String> {
        const BAD: &str = "Value must be one of ('host:port', 'unix://PATH')";
        if let Some(digits) = raw.strip_prefix("unix:")
            && !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
        {
            // Too large for a port: no socket, as gunicorn's failed connect.
            let port = pytext::int(digits).unwrap_or(-1);
            return Ok(StatsdAddr::Inet {
                host: "unix".to_string(),
                port,
            });
        }
        if let Some(rest) = raw.strip_prefix("unix:") {
            // `re.split(r'unix:(//)?', addr)[-1]`: the text after the last
            // `unix:` (and its optional `//`).
            let last = rest.rsplit("unix:").next().unwrap_or(rest);
            return Ok(StatsdAddr::Unix(
                last.strip_prefix("//").unwrap_or(last).to_string(),
            ));
        }
        if raw.starts_with("fd://") {
            // gunicorn accepts it here and then fails to start its logger.
            return Err("a file descriptor cannot be a StatsD address".to_string());
        }
        let netloc = raw.strip_prefix("tcp://").unwrap_or(raw);
        let (host, port) = if netloc.contains('[') && netloc.contains(']') {
            let host = netloc.split(']').next().unwrap_or("");
            let host = host.get(1..).unwrap_or("");
            let port = netloc.split_once("]:").map_or("8125", |(_, p)| p);
            let port = port.split("]:").next().unwrap_or(port);
            (host, port)
        } else if netloc.contains(':') {
            let mut parts = netloc.split(':');
            (parts.next().unwrap_or(""), parts.next().unwrap_or("8125"))
        } else if netloc.is_empty() {
            ("0.0.0.0", "8125")
        } else {
            (netloc, "8125")
        };
        let port = match pytext::int(port) {
            Ok(port) => port,
            Err(pytext::IntError::TooLarge) => -1,
            Err(pytext::IntError::Invalid) => return Err(BAD.to_string()),
        };
        Ok(StatsdAddr::Inet {
            host: host.to_lowercase(),
            port,
        })
    }
}

/// gunicorn's prefix rule, `re.sub(r"^(.+[^.]+)\.*$", r"\g<1>.", prefix)`:
/// trailing dots become exactly one, but only when at least two
/// characters come before them; shorter prefixes are used as given.
pub fn statsd_prefix(raw: &str) -> String {
    let core = raw.trim_end_matches('.');
    if core.chars().count() >= 2 && !core.contains('\n') {
        format!("{core}.")
    } else {
        raw.to_string()
    }
}

/// `--log-syslog` and its companions, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogOptions {
    pub addr: SyslogAddr,
    /// The facility's number (`--log-syslog-facility`).
    pub facility: u8,
    /// `--log-syslog-prefix`; None: the process name with `:` as `.`.
    pub prefix: Option<String>,
}

/// Where syslog messages go (`--log-syslog-to`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyslogAddr {
    Udp {
        host: String,
        port: u16,
    },
    Tcp {
        host: String,
        port: u16,
    },
    /// A unix socket; `dgram` when `#dgram` was given, else datagram is
    /// tried first and stream second, as Python's `SysLogHandler`.
    Unix {
        path: String,
        dgram_only: bool,
    },
}

impl SyslogAddr {
    /// gunicorn's `parse_syslog_address`.
    pub fn parse(raw: &str) -> Result<SyslogAddr, String> {
        if let Some(rest) = raw.strip_prefix("unix://") {
            let (path, kind) = match rest.split_once('#') {
                Some((path, kind)) => (path, Some(kind)),
                None => (rest, None),
            };
            return Ok(SyslogAddr::Unix {
                path: path.to_string(),
                dgram_only: kind == Some("dgram"),
            });
        }
        let (addr, tcp) = if let Some(rest) = raw.strip_prefix("udp://") {
            (rest, false)
        } else if let Some(rest) = raw.strip_prefix("tcp://") {
            (rest, true)
        } else {
            return Err("invalid syslog address".to_string());
        };
        let host = if addr.contains('[') && addr.contains(']') {
            addr.split(']').next().unwrap_or("").get(1..).unwrap_or("")
        } else if addr.contains(':') {
            addr.split(':').next().unwrap_or("")
        } else if addr.is_empty() {
            "localhost"
        } else {
            addr
        };
        let host = host.to_lowercase();
        let tail = addr.rsplit(']').next().unwrap_or(addr);
        let port = match tail.split_once(':') {
            Some((_, port)) => {
                if port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) {
                    return Err(format!(
                        "{} is not a valid port number.",
                        pytext::repr(port)
                    ));
                }
                port.parse::<u16>()
                    .map_err(|_| format!("port {port} is out of range"))?
            }
            None => 514,
        };
        Ok(if tcp {
            SyslogAddr::Tcp { host, port }
        } else {
            SyslogAddr::Udp { host, port }
        })
    }
}

/// gunicorn's `SYSLOG_FACILITIES`, looked up lower-cased.
pub fn syslog_facility(name: &str) -> Option<u8> {
    Some(match name.to_lowercase().as_str() {
        "kern" => 0,
        "user" => 1,
        "mail" => 2,
        "daemon" => 3,
        "auth" | "security" => 4,
        "syslog" => 5,
        "lpr" => 6,
        "news" => 7,
        "uucp" => 8,
        "cron" => 9,
        "authpriv" => 10,
        "ftp" => 11,
        "local0" => 16,
        "local1" => 17,
        "local2" => 18,
        "local3" => 19,
        "local4" => 20,
        "local5" => 21,
        "local6" => 22,
        "local7" => 23,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inet(host: &str, port: i64) -> StatsdAddr {
        StatsdAddr::Inet {
            host: host.to_string(),
            port,
        }
    }

    #[test]
    fn statsd_addresses_as_gunicorn_reads_them() {
        assert_eq!(
            StatsdAddr::parse("localhost:9125"),
            Ok(inet("localhost", 9125))
        );
        assert_eq!(
            StatsdAddr::parse("Stats.Example"),
            Ok(inet("stats.example", 8125))
        );
        assert_eq!(StatsdAddr::parse("[::1]:9"), Ok(inet("::1", 9)));
        assert_eq!(StatsdAddr::parse("[::1]"), Ok(inet("::1", 8125)));
        assert_eq!(StatsdAddr::parse("tcp://h:1"), Ok(inet("h", 1)));
        assert_eq!(StatsdAddr::parse(""), Ok(inet("0.0.0.0", 8125)));
        assert_eq!(StatsdAddr::parse("unix:8125"), Ok(inet("unix", 8125)));
        assert_eq!(
            StatsdAddr::parse("unix:/run/s.sock"),
            Ok(StatsdAddr::Unix("/run/s.sock".to_string()))
        );
        assert_eq!(
            StatsdAddr::parse("unix:///run/s.sock"),
            Ok(StatsdAddr::Unix("/run/s.sock".to_string()))
        );
        assert!(StatsdAddr::parse("host:port").is_err());
        assert!(StatsdAddr::parse("fd://3").is_err());
    }

    #[test]
    fn prefix_gets_one_trailing_dot_when_long_enough() {
        assert_eq!(statsd_prefix(""), "");
        assert_eq!(statsd_prefix("app"), "app.");
        assert_eq!(statsd_prefix("app..."), "app.");
        assert_eq!(statsd_prefix("a.b"), "a.b.");
        // Fewer than two characters before the dots: the regex does not match.
        assert_eq!(statsd_prefix("a"), "a");
        assert_eq!(statsd_prefix("a."), "a.");
        assert_eq!(statsd_prefix("."), ".");
    }

    #[test]
    fn syslog_addresses_and_facilities() {
        assert_eq!(
            SyslogAddr::parse("udp://localhost:514"),
            Ok(SyslogAddr::Udp {
                host: "localhost".into(),
                port: 514
            })
        );
        assert_eq!(
            SyslogAddr::parse("tcp://[::1]:601"),
            Ok(SyslogAddr::Tcp {
                host: "::1".into(),
                port: 601
            })
        );
        assert_eq!(
            SyslogAddr::parse("udp://"),
            Ok(SyslogAddr::Udp {
                host: "localhost".into(),
                port: 514
            })
        );
        assert_eq!(
            SyslogAddr::parse("unix:///dev/log#dgram"),
            Ok(SyslogAddr::Unix {
                path: "/dev/log".into(),
                dgram_only: true
            })
        );
        assert_eq!(
            SyslogAddr::parse("udp://h:x"),
            Err("'x' is not a valid port number.".to_string())
        );
        assert_eq!(
            SyslogAddr::parse("/dev/log"),
            Err("invalid syslog address".to_string())
        );
        assert_eq!(syslog_facility("LOCAL7"), Some(23));
        assert_eq!(syslog_facility("security"), Some(4));
        assert_eq!(syslog_facility("nope"), None);
    }
}
