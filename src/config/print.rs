//! `--print-config`: every setting as `name = value`, sorted by name, the
//! names padded to one width, values written as gunicorn prints them
//! (Python's `str()`: `None`, `True`, `['a', 'b']`, hooks as
//! `<qualname()>`).

use std::path::Path;

use super::settings::{DefaultValue, Kind, SETTINGS, Setting};
use pyo3::types::PyAnyMethods;

use super::logging::DEFAULT_SYSLOG_ADDR;
use super::{Config, HeaderMap, ReloadEngine, StatsdAddr, pytext};

/// The `--print-config` text, without a final newline.
pub fn print(cfg: &Config) -> String {
    let mut names: Vec<&Setting> = SETTINGS.iter().collect();
    names.sort_by_key(|s| s.name);
    let width = names.iter().map(|s| s.name.len()).max().unwrap_or(0);
    names
        .iter()
        .map(|s| format!("{:width$} = {}", s.name, value(cfg, s)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn value(cfg: &Config, setting: &Setting) -> String {
    let p = &cfg.process;
    let h = &cfg.http;
    let lg = &cfg.logging;
    let int = |n: u64| n.to_string();
    let opt = |v: Option<&str>| v.map_or_else(|| "None".to_string(), str::to_string);
    let path = |v: Option<&Path>| opt(v.map(|p| p.to_str().unwrap_or_default()));
    match setting.name {
        "config" => cfg
            .config_file
            .clone()
            .unwrap_or_else(|| "./gunicorn.conf.py".to_string()),
        "wsgi_app" => opt(cfg.wsgi_app.as_deref()),
        "check_config" => boolean(cfg.check_config),
        "print_config" => boolean(cfg.print_config),
        "bind" => list(&cfg.bind),
        "backlog" => cfg.backlog.to_string(),
        "workers" => int(cfg.workers.into()),
        "worker_class" => cfg.worker_class_name.clone(),
        "threads" => cfg.threads.to_string(),
        "worker_connections" => int(cfg.worker_connections as u64),
        "max_requests" => int(cfg.max_requests),
        "max_requests_jitter" => int(cfg.max_requests_jitter),
        "max_worker_memory" => int(cfg.max_worker_memory),
        "max_worker_lifetime" => int(cfg.max_worker_lifetime),
        "timeout" => int(cfg.timeout),
        "graceful_timeout" => int(cfg.graceful_timeout),
        "keepalive" => int(cfg.keepalive),
        "limit_request_line" => int(cfg.limit_request_line as u64),
        "limit_request_fields" => int(cfg.limit_request_fields as u64),
        "limit_request_field_size" => int(cfg.limit_request_field_size as u64),
        "header_timeout" => int(cfg.client.header_timeout),
        "body_timeout" => int(cfg.client.body_timeout),
        "body_buffer_size" => int(cfg.client.body_buffer_size),
        "max_body_size" => int(cfg.client.max_body_size),
        "response_buffer_size" => int(cfg.client.response_buffer_size),
        "reload" => boolean(cfg.reload),
        "reload_engine" => match cfg.reload_engine {
            ReloadEngine::Auto => "auto",
            ReloadEngine::Poll => "poll",
            ReloadEngine::Inotify => "inotify",
        }
        .to_string(),
        "reload_extra_files" => list(&cfg.reload_extra_files),
        "preload_app" => boolean(cfg.preload_app),
        // gunicorn keeps the flag's value: None unless turned off.
        "sendfile" => if cfg.sendfile { "None" } else { "False" }.to_string(),
        "reuse_port" => boolean(p.reuse_port),
        "chdir" => cfg.chdir.display().to_string(),
        "daemon" => boolean(p.daemon),
        "raw_env" => list(
            &p.raw_env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
        ),
        "pidfile" => path(cfg.pidfile.as_deref()),
        "worker_tmp_dir" => path(p.worker_tmp_dir.as_deref()),
        "user" => p.user.to_string(),
        "group" => p.group.to_string(),
        "umask" => p.umask.to_string(),
        "initgroups" => boolean(p.initgroups),
        "forwarded_allow_ips" => list(cfg.forwarded_allow_ips.entries()),
        "accesslog" => opt(cfg.accesslog.as_deref()),
        "access_log_format" => cfg.access_log_format.clone(),
        "errorlog" => cfg.errorlog.clone(),
        "loglevel" => cfg.loglevel.as_str().to_string(),
        "enable_stdio_inheritance" => boolean(p.enable_stdio_inheritance),
        "proc_name" => opt(p.proc_name.as_deref()),
        "default_proc_name" => cfg.app_uri.clone().unwrap_or_else(|| "gunicorn".into()),
        "pythonpath" => {
            if cfg.pythonpath.is_empty() {
                "None".to_string()
            } else {
                cfg.pythonpath.join(",")
            }
        }
        "proxy_protocol" => cfg.proxy_protocol.name().to_string(),
        "proxy_allow_ips" => list(cfg.proxy_allow_ips.entries()),
        "protocol" => cfg.protocol.name().to_string(),
        "uwsgi_allow_ips" => list(cfg.uwsgi_allow_ips.entries()),
        "permit_obsolete_folding" => boolean(h.permit_obsolete_folding),
        "strip_header_spaces" => boolean(h.strip_header_spaces),
        "permit_unconventional_http_method" => boolean(h.permit_unconventional_http_method),
        "permit_unconventional_http_version" => boolean(h.permit_unconventional_http_version),
        "casefold_http_method" => boolean(h.casefold_http_method),
        "forwarder_headers" => list(&cfg.forwarder_headers),
        "header_map" => match h.header_map {
            HeaderMap::Drop => "drop",
            HeaderMap::Refuse => "refuse",
            HeaderMap::Dangerous => "dangerous",
        }
        .to_string(),
        "capture_output" => boolean(lg.capture_output),
        "disable_redirect_access_to_syslog" => boolean(lg.disable_redirect_access_to_syslog),
        "enable_backlog_metric" => boolean(lg.enable_backlog_metric),
        "access_log_json" => boolean(lg.access_log_json),
        "dogstatsd_tags" => lg.dogstatsd_tags.clone(),
        "statsd_prefix" => lg.statsd_prefix.clone(),
        // gunicorn keeps `validate_statsd_address`'s result: a (host, port)
        // tuple, or a unix socket's path.
        "statsd_host" => match &lg.statsd_host {
            None => "None".to_string(),
            Some(StatsdAddr::Inet { host, port }) => format!("({}, {port})", pytext::repr(host)),
            Some(StatsdAddr::Unix(path)) => path.clone(),
        },
        "logconfig" => opt(lg.logconfig.as_deref()),
        "logconfig_json" => opt(lg.logconfig_json.as_deref()),
        "logconfig_dict" => match &cfg.logconfig_dict {
            None => "{}".to_string(),
            Some(dict) => pyo3::Python::attach(|py| {
                dict.bind(py)
                    .str()
                    .map_or_else(|_| "{}".to_string(), |s| s.to_string())
            }),
        },
        "syslog" => boolean(lg.syslog.is_some()),
        "syslog_addr" => lg.syslog_given[0]
            .clone()
            .unwrap_or_else(|| DEFAULT_SYSLOG_ADDR.to_string()),
        "syslog_facility" => lg.syslog_given[1]
            .clone()
            .unwrap_or_else(|| "user".to_string()),
        "syslog_prefix" => opt(lg.syslog_given[2].as_deref()),
        _ if setting.kind == Kind::Hook => match cfg.hooks.qualname(setting.name) {
            Some(name) => format!("<{name}()>"),
            None => format!("<{}.{}()>", default_hook_class(setting.name), setting.name),
        },
        _ => default(setting),
    }
}

/// A setting left at gunicorn's default (the unsupported ones).
fn default(setting: &Setting) -> String {
    match (setting.name, setting.default) {
        ("control_socket", _) => control_socket(),
        // gunicorn's `SSLVersion.default`, `ssl.PROTOCOL_TLS`.
        ("ssl_version", _) => "2".to_string(),
        // http_protocols is split into a list.
        ("http_protocols", DefaultValue::Str(s)) => list(&[s.to_string()]),
        (_, DefaultValue::None | DefaultValue::Computed(_)) => "None".to_string(),
        (_, DefaultValue::Int(n)) => n.to_string(),
        (_, DefaultValue::Bool(b)) => boolean(b),
        (_, DefaultValue::Str(s)) => s.to_string(),
        (_, DefaultValue::List(items)) => {
            list(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        }
        (_, DefaultValue::Dict(pairs)) => {
            let items: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}: {}", pytext::repr(k), pytext::repr(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// Where gunicorn would put its control socket (never opened here).
fn control_socket() -> String {
    match (std::env::var("XDG_RUNTIME_DIR"), std::env::var("HOME")) {
        (Ok(dir), _) if !dir.is_empty() => format!("{dir}/gunicorn.ctl"),
        (_, Ok(home)) => format!("{home}/.gunicorn/gunicorn.ctl"),
        _ => "None".to_string(),
    }
}

/// The class gunicorn defines each default hook in (part of its
/// `__qualname__`).
fn default_hook_class(name: &str) -> &'static str {
    match name {
        "on_starting" => "OnStarting",
        "on_reload" => "OnReload",
        "when_ready" => "WhenReady",
        "pre_fork" => "Prefork",
        "post_fork" => "Postfork",
        "post_worker_init" => "PostWorkerInit",
        "worker_int" => "WorkerInt",
        "worker_abort" => "WorkerAbort",
        "pre_exec" => "PreExec",
        "pre_request" => "PreRequest",
        "post_request" => "PostRequest",
        "child_exit" => "ChildExit",
        "worker_exit" => "WorkerExit",
        "nworkers_changed" => "NumWorkersChanged",
        "on_exit" => "OnExit",
        "ssl_context" => "NewSSLContext",
        "on_dirty_starting" => "OnDirtyStarting",
        "dirty_post_fork" => "DirtyPostFork",
        "dirty_worker_init" => "DirtyWorkerInit",
        "dirty_worker_exit" => "DirtyWorkerExit",
        _ => "Hook",
    }
}

fn boolean(b: bool) -> String {
    if b { "True" } else { "False" }.to_string()
}

/// A list of strings as Python's `str()` writes it.
fn list<S: AsRef<str>>(items: &[S]) -> String {
    let items: Vec<String> = items.iter().map(|s| pytext::repr(s.as_ref())).collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn prints_every_setting_sorted_and_aligned() {
        let mut cfg = Config::defaults(PathBuf::from("/srv"));
        cfg.app_uri = Some("hello:app".to_string());
        let text = print(&cfg);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), SETTINGS.len());
        let names: Vec<&str> = lines
            .iter()
            .map(|l| l.split_whitespace().next().unwrap_or_default())
            .collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        let at = |name: &str| {
            lines
                .iter()
                .find(|l| l.split_whitespace().next() == Some(name))
                .and_then(|l| l.split_once(" = ").map(|(_, v)| v.to_string()))
        };
        assert_eq!(at("bind").as_deref(), Some("['127.0.0.1:8000']"));
        assert_eq!(at("accesslog").as_deref(), Some("None"));
        assert_eq!(at("preload_app").as_deref(), Some("False"));
        assert_eq!(at("chdir").as_deref(), Some("/srv"));
        assert_eq!(at("default_proc_name").as_deref(), Some("hello:app"));
        assert_eq!(
            at("forwarded_allow_ips").as_deref(),
            Some("['127.0.0.1', '::1']")
        );
        assert_eq!(at("post_fork").as_deref(), Some("<Postfork.post_fork()>"));
        assert_eq!(
            at("secure_scheme_headers").as_deref(),
            Some(
                "{'X-FORWARDED-PROTOCOL': 'ssl', 'X-FORWARDED-PROTO': 'https', 'X-FORWARDED-SSL': 'on'}"
            )
        );
        let width = lines[0].find(" = ").unwrap_or_default();
        assert!(lines.iter().all(|l| l.find(" = ") == Some(width)));
    }
}
