//! From what the sources said to a [`Config`]: refuse unsupported
//! settings, apply defaults < config file < `GUNICORN_CMD_ARGS` < command
//! line, read the environment fallbacks, and validate each value as
//! gunicorn does. A config file's values arrive in the command line's text
//! forms (see `file`), so the same validators check every source.
//!
//! Reads the environment through the closure it is given, the filesystem
//! only to check `--chdir` and `--reload-extra-file`, and the user and
//! group databases for `--user` and `--group` names.

use std::path::{Component, Path, PathBuf};

use super::cli::{Given, Value};
use super::file::FileLayer;
use super::logging;
use super::pytext::{self, IntError};
use super::settings::{Setting, Status};
use super::{
    AllowList, Config, Error, HeaderMap, LogLevel, Protocol, ProxyMode, ReloadEngine, WorkerClass,
};

/// gunicorn's `MAX_REQUEST_LINE` (`http/message.py`).
const MAX_REQUEST_LINE: usize = 8190;
/// gunicorn's `MAX_HEADERS`.
const MAX_HEADERS: usize = 32768;
/// gunicorn's `DEFAULT_MAX_HEADERFIELD_SIZE`.
const DEFAULT_MAX_HEADERFIELD_SIZE: usize = 8190;
/// Longest timeout kept (`--timeout`, `--graceful-timeout`, `--keep-alive`):
/// 100 years. gunicorn takes any size; larger values mean the same thing
/// ("never", for a server) and are clamped to this, so that `Instant +
/// Duration` cannot overflow where they are used.
pub const MAX_TIMEOUT_SECS: u64 = 100 * 365 * 86_400;

/// Spellings of the sync worker gunicorn accepts (`workers/__init__.py`,
/// `util.load_class`).
const SYNC_WORKER: [&str; 3] = [
    "sync",
    "gunicorn.workers.sync.SyncWorker",
    "egg:gunicorn#sync",
];
/// Spellings of the gthread worker.
const GTHREAD_WORKER: [&str; 3] = [
    "gthread",
    "gunicorn.workers.gthread.ThreadWorker",
    "egg:gunicorn#gthread",
];

/// Suffix naming `GUNICORN_CMD_ARGS` as the source of a refused setting.
const FROM_ENV_ARGS: &str = " (in GUNICORN_CMD_ARGS)";

/// Build the configuration from the config file's settings (if any),
/// `GUNICORN_CMD_ARGS` and the command line. `cwd` is the working
/// directory as gunicorn sees it (`util.getcwd`).
pub fn resolve(
    file: Option<&FileLayer>,
    env_args: &Given,
    cli: &Given,
    env: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
) -> Result<Config, Error> {
    refuse_unsupported(cli, "")?;
    refuse_unsupported(env_args, FROM_ENV_ARGS)?;

    let mut draft = Draft::new(cwd);
    // Later sources override earlier ones, as gunicorn's `load_config`.
    if let Some(file) = file {
        for ((setting, value), shown) in file.given.settings.iter().zip(&file.shown) {
            draft
                .set(setting, value)
                .map_err(|e| in_file(setting, shown, e))?;
        }
        draft.cfg.hooks = file.hooks.clone();
        draft.cfg.logconfig_dict = file.logconfig_dict.clone();
    }
    for given in [env_args, cli] {
        for (setting, value) in &given.settings {
            draft.set(setting, value)?;
        }
    }
    draft.finish(cli, env)
}

/// A config file's value refused by its validator: gunicorn names the
/// setting and shows the value, then gives the validator's message.
fn in_file(setting: &'static Setting, shown: &str, e: Error) -> Error {
    let message = match e {
        Error::Invalid { message, .. } => message,
        Error::Unsupported { .. } | Error::FileValue { .. } => return e,
        other => other.to_string(),
    };
    Error::FileValue {
        setting: setting.name,
        shown: shown.to_string(),
        message,
    }
}

fn refuse_unsupported(given: &Given, source: &str) -> Result<(), Error> {
    match given
        .settings
        .iter()
        .find(|(s, _)| s.status == Status::Unsupported)
    {
        Some((setting, _)) => Err(Error::Unsupported {
            flag: format!("{}{source}", setting.display_flags()),
        }),
        None => Ok(()),
    }
}

/// A configuration being built, with what has no `Config` field yet.
struct Draft {
    cfg: Config,
    workers: Option<u32>,
    bind: Option<Vec<String>>,
    forwarded_allow_ips: Option<AllowList>,
    no_sendfile: bool,
    worker_class: String,
    threads: i64,
    cwd: PathBuf,
    logging: logging::Draft,
}

impl Draft {
    fn new(cwd: &Path) -> Draft {
        Draft {
            cfg: Config::defaults(cwd.to_path_buf()),
            workers: None,
            bind: None,
            forwarded_allow_ips: None,
            no_sendfile: false,
            worker_class: "sync".to_string(),
            threads: 1,
            cwd: cwd.to_path_buf(),
            logging: logging::Draft::default(),
        }
    }

    /// Apply one value, checked by the setting's validator.
    fn set(&mut self, setting: &'static Setting, value: &Value) -> Result<(), Error> {
        let text = || match value {
            Value::One(s) => Ok(pytext::strip(s)),
            _ => Err(mismatch(setting)),
        };
        // A flag on the command line sets it; a config file says which.
        let flag = || match value {
            Value::Flag => Ok(true),
            Value::Bool(b) => Ok(*b),
            _ => Err(mismatch(setting)),
        };
        let name = setting.name;
        let int = || text().and_then(|s| pos_int(name, s));
        let c = &mut self.cfg;
        match setting.name {
            "bind" => match value {
                Value::Many(items) => {
                    self.bind = Some(items.iter().map(|s| pytext::strip(s).to_string()).collect());
                }
                _ => return Err(mismatch(setting)),
            },
            "workers" => {
                let n = int()?;
                // gunicorn would start a master without workers; refuse it.
                if n == 0 {
                    return Err(invalid(name, "Value must be positive: 0".to_string()));
                }
                self.workers = Some(fit(name, n)?);
            }
            "backlog" => c.backlog = fit(name, int()?)?,
            "worker_class" => self.worker_class = text()?.to_string(),
            "threads" => self.threads = int()?,
            "worker_connections" => {
                let n = int()?;
                // gunicorn's sync worker ignores it; ours would never accept.
                if n == 0 {
                    return Err(invalid(
                        name,
                        "Value must be positive: 0 (a worker would never accept a connection)"
                            .to_string(),
                    ));
                }
                c.worker_connections = fit(name, n)?;
            }
            "timeout" => c.timeout = seconds(name, text()?)?,
            "graceful_timeout" => c.graceful_timeout = seconds(name, text()?)?,
            "keepalive" => c.keepalive = seconds(name, text()?)?,
            "max_requests" => c.max_requests = fit(name, int()?)?,
            "max_requests_jitter" => c.max_requests_jitter = fit(name, int()?)?,
            "max_worker_memory" => c.max_worker_memory = fit(name, int()?)?,
            "max_worker_lifetime" => c.max_worker_lifetime = seconds(name, text()?)?,
            "header_timeout" => c.client.header_timeout = seconds(name, text()?)?,
            "body_timeout" => c.client.body_timeout = seconds(name, text()?)?,
            "body_buffer_size" => c.client.body_buffer_size = fit(name, int()?)?,
            "max_body_size" => c.client.max_body_size = fit(name, int()?)?,
            "response_buffer_size" => c.client.response_buffer_size = fit(name, int()?)?,
            // The clamping is gunicorn's `Request.__init__` and `Message.__init__`.
            "limit_request_line" => {
                let n = int()?;
                c.limit_request_line = usize::try_from(n)
                    .unwrap_or(usize::MAX)
                    .min(MAX_REQUEST_LINE);
            }
            "limit_request_fields" => {
                let n = usize::try_from(int()?).unwrap_or(usize::MAX);
                c.limit_request_fields = if n == 0 || n > MAX_HEADERS {
                    MAX_HEADERS
                } else {
                    n
                };
            }
            "limit_request_field_size" => {
                let n = fit(name, int()?)?;
                c.limit_request_field_size = if n == 0 {
                    DEFAULT_MAX_HEADERFIELD_SIZE
                } else {
                    n
                };
            }
            "preload_app" => c.preload_app = flag()?,
            "reload" => c.reload = flag()?,
            "reload_engine" => {
                let raw = text()?;
                c.reload_engine = ReloadEngine::from_setting(raw).ok_or_else(|| {
                    invalid(
                        name,
                        format!("{} is not one of auto, poll or inotify", pytext::repr(raw)),
                    )
                })?;
            }
            "reload_extra_files" => match value {
                Value::Many(items) => {
                    c.reload_extra_files = items
                        .iter()
                        .map(|raw| extra_file(name, &self.cwd, pytext::strip(raw)))
                        .collect::<Result<_, _>>()?;
                }
                _ => return Err(mismatch(setting)),
            },
            "permit_obsolete_folding" => c.http.permit_obsolete_folding = flag()?,
            "strip_header_spaces" => c.http.strip_header_spaces = flag()?,
            "permit_unconventional_http_method" => {
                c.http.permit_unconventional_http_method = flag()?
            }
            "permit_unconventional_http_version" => {
                c.http.permit_unconventional_http_version = flag()?
            }
            "casefold_http_method" => c.http.casefold_http_method = flag()?,
            "header_map" => {
                c.http.header_map = match text()?.to_ascii_lowercase().as_str() {
                    "drop" => HeaderMap::Drop,
                    "refuse" => HeaderMap::Refuse,
                    "dangerous" => HeaderMap::Dangerous,
                    other => {
                        return Err(invalid(
                            name,
                            format!("Invalid header map behaviour: {other}"),
                        ));
                    }
                };
            }
            // gunicorn's `Config.sendfile`: any value given turns it off
            // (even `sendfile = True` in a file); unset, $SENDFILE decides.
            "sendfile" => self.no_sendfile = true,
            "forwarder_headers" => {
                // gunicorn's validate_string_to_list: empty pieces are
                // dropped before the others are stripped.
                c.forwarder_headers = text()?
                    .split(',')
                    .filter(|piece| !piece.is_empty())
                    .map(|piece| pytext::strip(piece).to_string())
                    .collect();
            }
            "proxy_protocol" => {
                c.proxy_protocol = ProxyMode::from_setting(text()?).ok_or_else(|| {
                    invalid(name, "must be one of off, v1, v2 or auto".to_string())
                })?;
            }
            "proxy_allow_ips" => {
                c.proxy_allow_ips = AllowList::parse(text()?).map_err(|m| invalid(name, m))?;
            }
            "protocol" => {
                c.protocol = Protocol::from_setting(text()?)
                    .ok_or_else(|| invalid(name, "must be http or uwsgi".to_string()))?;
            }
            "uwsgi_allow_ips" => {
                c.uwsgi_allow_ips = AllowList::parse(text()?).map_err(|m| invalid(name, m))?;
            }
            "forwarded_allow_ips" => {
                let list = AllowList::parse(text()?).map_err(|m| invalid(name, m))?;
                self.forwarded_allow_ips = Some(list);
            }
            "chdir" => c.chdir = chdir(name, &self.cwd, text()?)?,
            "pidfile" => {
                let path = text()?;
                if path.is_empty() {
                    return Err(invalid(name, "the file name is empty".to_string()));
                }
                c.pidfile = Some(PathBuf::from(path));
            }
            "accesslog" => c.accesslog = Some(text()?.to_string()),
            "access_log_format" => c.access_log_format = text()?.to_string(),
            "errorlog" => c.errorlog = text()?.to_string(),
            "loglevel" => {
                let level = text()?;
                c.loglevel = LogLevel::from_name(level).ok_or_else(|| {
                    let shown = pytext::repr(level);
                    invalid(
                        name,
                        format!("{shown} is not one of {}", LogLevel::NAMES.join(", ")),
                    )
                })?;
            }
            "pythonpath" => {
                // gunicorn: `pythonpath.split(",")`, and an empty value adds nothing.
                let paths = text()?;
                c.pythonpath = if paths.is_empty() {
                    Vec::new()
                } else {
                    paths.split(',').map(str::to_string).collect()
                };
            }
            // No control socket is ever opened, so asking for none is already true.
            "control_socket_disable" => {}
            // Already read (`file::location`); kept for --print-config.
            "config" => c.config_file = Some(text()?.to_string()),
            "wsgi_app" => c.wsgi_app = Some(text()?.to_string()),
            "check_config" => c.check_config = flag()?,
            "print_config" => c.print_config = flag()?,
            "daemon" => c.process.daemon = flag()?,
            "enable_stdio_inheritance" => c.process.enable_stdio_inheritance = flag()?,
            "reuse_port" => c.process.reuse_port = flag()?,
            "initgroups" => c.process.initgroups = flag()?,
            "raw_env" => match value {
                Value::Many(items) => {
                    c.process.raw_env = items
                        .iter()
                        .map(|item| env_pair(pytext::strip(item)))
                        .collect::<Result<_, _>>()?;
                }
                _ => return Err(mismatch(setting)),
            },
            // gunicorn keeps the value as given (no existence check here:
            // the master reports a missing directory when it needs it).
            "worker_tmp_dir" => c.process.worker_tmp_dir = Some(PathBuf::from(text()?)),
            "user" => c.process.user = user_id(raw(setting, value)?)?,
            "group" => c.process.group = group_id(raw(setting, value)?)?,
            "umask" => {
                let raw = text()?;
                // The command line checked the syntax; only the size can fail here.
                let mask = pytext::auto_int(raw)
                    .map_err(|_| invalid(name, format!("Value is too large: {raw}")))?;
                if mask < 0 {
                    return Err(invalid(name, format!("Value must be positive: {mask}")));
                }
                c.process.umask = fit(name, mask)?;
            }
            "proc_name" => c.process.proc_name = Some(text()?.to_string()),
            name if logging::SETTINGS.contains(&name) => self.logging.set(name, value)?,
            // Unsupported settings were refused before; nothing else has a flag.
            _ => {
                return Err(Error::Unsupported {
                    flag: setting.display_flags(),
                });
            }
        }
        Ok(())
    }

    /// Fill in what depends on the environment or on several settings.
    fn finish(
        mut self,
        cli: &Given,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, Error> {
        let class = self.worker_class.as_str();
        self.cfg.worker_class = if GTHREAD_WORKER.contains(&class) {
            WorkerClass::Gthread
        } else if SYNC_WORKER.contains(&class) {
            // As gunicorn: sync with more than one thread means gthread.
            if self.threads > 1 {
                WorkerClass::Gthread
            } else {
                WorkerClass::Sync
            }
        } else {
            return Err(Error::Unsupported {
                flag: format!("-k/--worker-class {class}"),
            });
        };
        self.cfg.threads = match self.cfg.worker_class {
            WorkerClass::Sync => 1,
            // gunicorn's thread pool refuses 0 threads when the worker starts.
            WorkerClass::Gthread if self.threads == 0 => {
                return Err(invalid(
                    "threads",
                    "Value must be positive: 0 (a gthread worker needs a thread)".to_string(),
                ));
            }
            WorkerClass::Gthread => fit("threads", self.threads)?,
        };
        self.cfg.worker_class_name = std::mem::take(&mut self.worker_class);
        self.cfg.workers = match self.workers {
            Some(n) => n,
            None => web_concurrency(env)?,
        };
        self.cfg.bind = match (self.bind, env("PORT")) {
            (Some(bind), _) => bind,
            (None, Some(port)) => vec![format!("0.0.0.0:{port}")],
            (None, None) => self.cfg.bind,
        };
        // The flag wins, then $FORWARDED_ALLOW_IPS (read only when the flag
        // is absent, like $WEB_CONCURRENCY; gunicorn also refuses a bad one
        // that the flag overrides).
        self.cfg.forwarded_allow_ips = match (self.forwarded_allow_ips, env("FORWARDED_ALLOW_IPS"))
        {
            (Some(list), _) => list,
            (None, Some(value)) => AllowList::parse(&value).map_err(|m| {
                invalid(
                    "forwarded_allow_ips",
                    format!("{m} (in FORWARDED_ALLOW_IPS)"),
                )
            })?,
            (None, None) => AllowList::default(),
        };
        // gunicorn's `Config.sendfile`: the flag wins, then $SENDFILE.
        self.cfg.sendfile = !self.no_sendfile
            && env("SENDFILE")
                .is_none_or(|v| matches!(v.to_lowercase().as_str(), "y" | "1" | "yes" | "true"));
        self.cfg.logging = self.logging.finish()?;
        // Only the command line's first positional counts: gunicorn ignores
        // positionals in GUNICORN_CMD_ARGS, and any after the first. Without
        // one, a config file's `wsgi_app` names the application.
        match cli.positionals.first().or(self.cfg.wsgi_app.as_ref()) {
            Some(app) => self.cfg.app_uri = Some(app.clone()),
            None => return Err(Error::NoAppModule),
        }
        Ok(self.cfg)
    }
}

/// `-w` absent: `$WEB_CONCURRENCY`, else 1.
fn web_concurrency(env: &dyn Fn(&str) -> Option<String>) -> Result<u32, Error> {
    let Some(raw) = env("WEB_CONCURRENCY") else {
        return Ok(1);
    };
    let setting = "workers";
    let n = match pytext::int(&raw) {
        Ok(n) if n >= 1 => n,
        Ok(_) | Err(IntError::TooLarge) => {
            let message = format!(
                "WEB_CONCURRENCY must be a positive integer, not {}",
                pytext::repr(&raw)
            );
            return Err(invalid(setting, message));
        }
        Err(IntError::Invalid) => {
            let message = format!("WEB_CONCURRENCY is not an integer: {}", pytext::repr(&raw));
            return Err(invalid(setting, message));
        }
    };
    fit(setting, n)
}

/// One `--env` value: gunicorn's `Config.env` splits at the first `=`
/// and refuses a value without one. An empty name, which `os.environ`
/// would refuse later, is refused with the same message.
fn env_pair(raw: &str) -> Result<(String, String), Error> {
    match raw.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(Error::Refused(format!(
            "environment setting {} invalid",
            pytext::repr(raw)
        ))),
    }
}

/// The value exactly as given: gunicorn's user and group validators do
/// not strip it.
fn raw<'v>(setting: &'static Setting, value: &'v Value) -> Result<&'v str, Error> {
    match value {
        Value::One(s) => Ok(s),
        _ => Err(mismatch(setting)),
    }
}

/// gunicorn's `validate_user`: digits are a uid, anything else a name
/// looked up in the user database.
fn user_id(raw: &str) -> Result<u32, Error> {
    if let Some(id) = numeric_id("user", raw)? {
        return Ok(id);
    }
    match nix::unistd::User::from_name(raw) {
        Ok(Some(user)) => Ok(user.uid.as_raw()),
        _ => Err(Error::Refused(format!(
            "No such user: {}",
            pytext::repr(raw)
        ))),
    }
}

/// gunicorn's `validate_group`: digits are a gid, anything else a name
/// looked up in the group database.
fn group_id(raw: &str) -> Result<u32, Error> {
    if let Some(id) = numeric_id("group", raw)? {
        return Ok(id);
    }
    match nix::unistd::Group::from_name(raw) {
        Ok(Some(group)) => Ok(group.gid.as_raw()),
        _ => Err(Error::Refused(format!(
            "No such group: {}",
            pytext::repr(raw)
        ))),
    }
}

/// A uid or gid written in digits (Python's `str.isdigit`), if it is one.
fn numeric_id(setting: &'static str, raw: &str) -> Result<Option<u32>, Error> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    raw.parse::<u32>()
        .map(Some)
        .map_err(|_| invalid(setting, format!("Value is too large: {raw}")))
}

/// gunicorn's `validate_pos_int`: an integer, 0 or more.
fn pos_int(setting: &'static str, raw: &str) -> Result<i64, Error> {
    match pytext::int(raw) {
        Ok(n) if n < 0 => Err(invalid(setting, format!("Value must be positive: {n}"))),
        Ok(n) => Ok(n),
        Err(IntError::TooLarge) => Err(invalid(setting, format!("Value is too large: {raw}"))),
        Err(IntError::Invalid) => Err(invalid(
            setting,
            format!("invalid int value: {}", pytext::repr(raw)),
        )),
    }
}

/// A duration in seconds: `validate_pos_int`, then clamped to
/// [`MAX_TIMEOUT_SECS`] (even beyond `i64`, which Python would accept).
fn seconds(setting: &'static str, raw: &str) -> Result<u64, Error> {
    match pytext::int_sign_magnitude(raw) {
        Ok((false, magnitude) | (true, magnitude @ Some(0))) => {
            Ok(magnitude.map_or(MAX_TIMEOUT_SECS, |n| n.min(MAX_TIMEOUT_SECS)))
        }
        // Negative or malformed: validate_pos_int's messages.
        _ => pos_int(setting, raw).and_then(|n| fit(setting, n)),
    }
}

/// Narrow a checked integer to the field's type.
fn fit<T: TryFrom<i64>>(setting: &'static str, n: i64) -> Result<T, Error> {
    T::try_from(n).map_err(|_| invalid(setting, format!("Value is too large: {n}")))
}

/// gunicorn's `validate_chdir`: relative to the working directory,
/// normalised without resolving symlinks, and it must exist.
fn chdir(setting: &'static str, cwd: &Path, raw: &str) -> Result<PathBuf, Error> {
    let path = normalize(&cwd.join(raw));
    if path.is_dir() {
        Ok(path)
    } else {
        Err(invalid(
            setting,
            format!("can't chdir to {}", pytext::repr(raw)),
        ))
    }
}

/// A `--reload-extra-file` entry: a glob pattern (any of `*?[`), kept as
/// is since it may match files created later, or a file that must exist,
/// as gunicorn's `validate_list_of_existing_files` requires.
fn extra_file(setting: &'static str, cwd: &Path, raw: &str) -> Result<String, Error> {
    if is_glob(raw) || cwd.join(raw).exists() {
        Ok(raw.to_string())
    } else {
        Err(invalid(setting, format!("File {raw} does not exist")))
    }
}

/// Whether a `--reload-extra-file` entry is a glob pattern (gunicorn 26.1).
pub fn is_glob(entry: &str) -> bool {
    entry.contains(['*', '?', '['])
}

/// Python's `os.path.normpath` for an absolute path: drop `.`, and let
/// `..` remove the previous component (never above the root).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn invalid(setting: &'static str, message: String) -> Error {
    Error::Invalid { setting, message }
}

/// A value of the wrong shape for its setting: the table and this file
/// disagree. Reported, not panicked on.
fn mismatch(setting: &'static Setting) -> Error {
    invalid(
        setting.name,
        "internal error: unexpected kind of value".to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_like_normpath() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), Path::new("/a/c"));
        assert_eq!(normalize(Path::new("/../x")), Path::new("/x"));
        assert_eq!(normalize(Path::new("/a/b/")), Path::new("/a/b"));
    }
}
