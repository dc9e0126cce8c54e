//! `parse_args` end to end: flags, environment, precedence, errors.
//! The pieces have their own tests beside them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::settings::{Kind, SETTINGS, Status};
use super::*;

/// The crate's own directory: it exists, has a `src/` and no gunicorn.conf.py.
fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run_in(cwd: &Path, args: &[&str], vars: &[(&str, &str)]) -> Result<Invocation, Error> {
    let env = |k: &str| {
        vars.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| v.to_string())
    };
    let cwd = cwd.to_path_buf();
    parse_in(
        std::iter::once("gunicorn-rs").chain(args.iter().copied()),
        &env,
        &|| Ok(cwd.clone()),
    )
}

fn run(args: &[&str], vars: &[(&str, &str)]) -> Result<Invocation, Error> {
    run_in(&crate_dir(), args, vars)
}

/// The configuration for `args` plus an APP_MODULE.
fn config_env(args: &[&str], vars: &[(&str, &str)]) -> Config {
    let mut args = args.to_vec();
    args.push("app:app");
    match run(&args, vars) {
        Ok(Invocation::Run(cfg)) => *cfg,
        other => panic!("{args:?} {vars:?}: {other:?}"),
    }
}

fn config(args: &[&str]) -> Config {
    config_env(args, &[])
}

fn error_env(args: &[&str], vars: &[(&str, &str)]) -> Error {
    match run(args, vars) {
        Err(e) => e,
        other => panic!("{args:?} {vars:?}: {other:?}"),
    }
}

fn error(args: &[&str]) -> Error {
    error_env(args, &[])
}

fn unsupported(flag: &str) -> String {
    Error::Unsupported {
        flag: flag.to_string(),
    }
    .to_string()
}

/// A fresh empty directory under the system temp dir.
fn temp_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("gunicorn-rs-config-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

#[test]
fn defaults() {
    let cfg = config(&[]);
    assert_eq!(cfg.app_uri.as_deref(), Some("app:app"));
    assert_eq!(cfg.workers, 1);
    assert_eq!(cfg.bind, ["127.0.0.1:8000"]);
    assert_eq!(cfg.backlog, 2048);
    assert_eq!(
        (cfg.timeout, cfg.graceful_timeout, cfg.keepalive),
        (30, 30, 2)
    );
    assert_eq!(cfg.pidfile, None);
    assert!(!cfg.preload_app);
    assert_eq!(cfg.chdir, crate_dir());
    assert!(cfg.pythonpath.is_empty());
    assert_eq!(cfg.accesslog, None);
    assert_eq!(
        cfg.access_log_format,
        r#"%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s""#
    );
    assert_eq!(cfg.errorlog, "-");
    assert_eq!(cfg.loglevel, LogLevel::Info);
    assert_eq!(
        (
            cfg.limit_request_line,
            cfg.limit_request_fields,
            cfg.limit_request_field_size
        ),
        (4094, 100, 8190)
    );
    assert_eq!(cfg.worker_connections, 1000);
    assert!(cfg.sendfile);
    assert_eq!(cfg.forwarded_allow_ips, AllowList::default());
}

#[test]
fn short_and_long_flags() {
    for flag in ["-w", "--workers"] {
        assert_eq!(config(&[flag, "3"]).workers, 3);
    }
    for flag in ["-b", "--bind"] {
        assert_eq!(config(&[flag, " unix:/tmp/s "]).bind, ["unix:/tmp/s"]);
    }
    assert_eq!(
        config(&["-b", "a:1", "--bind", "[::1]:2"]).bind,
        ["a:1", "[::1]:2"]
    );
    assert_eq!(config(&["--backlog", "64"]).backlog, 64);
    for flag in ["-t", "--timeout"] {
        assert_eq!(config(&[flag, "0"]).timeout, 0);
    }
    assert_eq!(config(&["--graceful-timeout", "7"]).graceful_timeout, 7);
    assert_eq!(config(&["--keep-alive", "5"]).keepalive, 5);
    for flag in ["-p", "--pid"] {
        assert_eq!(
            config(&[flag, "/run/g.pid"]).pidfile,
            Some(PathBuf::from("/run/g.pid"))
        );
    }
    assert!(config(&["--preload"]).preload_app);
    assert_eq!(
        config(&["--pythonpath", "lib,/opt/x"]).pythonpath,
        ["lib", "/opt/x"]
    );
    assert!(config(&["--pythonpath", ""]).pythonpath.is_empty());
    assert_eq!(
        config(&["--access-logfile", "-"]).accesslog.as_deref(),
        Some("-")
    );
    assert_eq!(
        config(&["--access-logformat", "%(h)s %(s)s"]).access_log_format,
        "%(h)s %(s)s"
    );
    for flag in ["--error-logfile", "--log-file"] {
        assert_eq!(config(&[flag, "/var/log/g.log"]).errorlog, "/var/log/g.log");
    }
    assert_eq!(
        config(&["--worker-connections", "10"]).worker_connections,
        10
    );
    assert!(!config(&["--no-sendfile"]).sendfile);
    for flag in ["-k", "--worker-class"] {
        for class in [
            "sync",
            "gunicorn.workers.sync.SyncWorker",
            "egg:gunicorn#sync",
        ] {
            config(&[flag, class]);
        }
    }
    for threads in ["0", "1"] {
        config(&["--threads", threads]);
    }
}

#[test]
fn log_levels_in_any_case() {
    let levels = [
        ("debug", LogLevel::Debug),
        ("INFO", LogLevel::Info),
        ("Warning", LogLevel::Warning),
        ("error", LogLevel::Error),
        (" critical ", LogLevel::Critical),
    ];
    for (name, level) in levels {
        assert_eq!(config(&["--log-level", name]).loglevel, level);
        assert_eq!(LogLevel::from_name(level.as_str()), Some(level));
    }
    assert_eq!(
        error(&["--log-level", "verbose", "app"]).to_string(),
        "Invalid value for loglevel: 'verbose' is not one of debug, info, warning, error, critical"
    );
}

#[test]
fn chdir_is_absolute_and_checked() {
    assert_eq!(config(&["--chdir", "src"]).chdir, crate_dir().join("src"));
    assert_eq!(
        config(&["--chdir", "src/../src/./config"]).chdir,
        crate_dir().join("src/config")
    );
    assert_eq!(config(&["--chdir", "/"]).chdir, Path::new("/"));
    assert_eq!(config(&["--chdir", ""]).chdir, crate_dir());
    let e = error(&["--chdir", "/does/not/exist", "app"]);
    assert_eq!(
        e.to_string(),
        "Invalid value for chdir: can't chdir to '/does/not/exist'"
    );
    assert_eq!(e.exit_code(), 1);
    assert!(matches!(
        error(&["--chdir", "Cargo.toml", "app"]),
        Error::Invalid {
            setting: "chdir",
            ..
        }
    ));
}

#[test]
fn limits_follow_gunicorns_clamping() {
    let line = |v| config(&["--limit-request-line", v]).limit_request_line;
    assert_eq!(
        (line("0"), line("100"), line("8190"), line("9000")),
        (0, 100, 8190, 8190)
    );
    let fields = |v| config(&["--limit-request-fields", v]).limit_request_fields;
    assert_eq!(
        (fields("0"), fields("5"), fields("32768"), fields("40000")),
        (32768, 5, 32768, 32768)
    );
    let size = |v| config(&["--limit-request-field_size", v]).limit_request_field_size;
    assert_eq!((size("0"), size("10"), size("20000")), (8190, 10, 20000));
}

#[test]
fn web_concurrency_when_workers_absent() {
    assert_eq!(config_env(&[], &[("WEB_CONCURRENCY", "4")]).workers, 4);
    assert_eq!(
        config_env(&["-w", "2"], &[("WEB_CONCURRENCY", "4")]).workers,
        2
    );
    // Not read at all when -w is given.
    assert_eq!(
        config_env(&["-w", "2"], &[("WEB_CONCURRENCY", "lots")]).workers,
        2
    );
    let e = error_env(&["app"], &[("WEB_CONCURRENCY", "lots")]);
    assert_eq!(
        e.to_string(),
        "Invalid value for workers: WEB_CONCURRENCY is not an integer: 'lots'"
    );
    assert!(matches!(
        error_env(&["app"], &[("WEB_CONCURRENCY", "0")]),
        Error::Invalid { .. }
    ));
}

#[test]
fn port_when_bind_absent() {
    assert_eq!(config_env(&[], &[("PORT", "5000")]).bind, ["0.0.0.0:5000"]);
    assert_eq!(
        config_env(&["-b", "unix:s"], &[("PORT", "5000")]).bind,
        ["unix:s"]
    );
}

#[test]
fn sendfile_env() {
    for on in ["1", "y", "YES", "true", "True"] {
        assert!(config_env(&[], &[("SENDFILE", on)]).sendfile, "{on}");
    }
    for off in ["0", "no", "false", "", "on"] {
        assert!(!config_env(&[], &[("SENDFILE", off)]).sendfile, "{off:?}");
    }
    assert!(!config_env(&["--no-sendfile"], &[("SENDFILE", "1")]).sendfile);
}

#[test]
fn gunicorn_cmd_args_between_defaults_and_command_line() {
    let env = [(
        "GUNICORN_CMD_ARGS",
        "-w 3 --bind 'unix:/tmp/a b' --preload ignored:app",
    )];
    let cfg = config_env(&[], &env);
    assert_eq!(
        (cfg.workers, cfg.bind.as_slice(), cfg.preload_app),
        (3, &["unix:/tmp/a b".to_string()][..], true)
    );
    // The command line wins, and a repeatable flag is replaced, not merged.
    let cfg = config_env(&["-w", "2", "-b", "x:1"], &env);
    assert_eq!((cfg.workers, cfg.bind), (2, vec!["x:1".to_string()]));
    // A flag in GUNICORN_CMD_ARGS beats the WEB_CONCURRENCY and PORT defaults.
    let cfg = config_env(&[], &[env[0], ("WEB_CONCURRENCY", "9"), ("PORT", "1")]);
    assert_eq!((cfg.workers, cfg.bind.len()), (3, 1));
    // Positionals there are ignored, as gunicorn does.
    assert!(matches!(run(&[], &env), Err(Error::NoAppModule)));
    assert_eq!(config_env(&[], &[("GUNICORN_CMD_ARGS", "")]).workers, 1);
}

#[test]
fn gunicorn_cmd_args_errors() {
    let bad = [("GUNICORN_CMD_ARGS", "--bogus")];
    let e = error_env(&["app"], &bad);
    assert_eq!(
        e.to_string(),
        "usage: gunicorn-rs [OPTIONS] [APP_MODULE]\n\
         gunicorn-rs: error: GUNICORN_CMD_ARGS: unrecognized arguments: --bogus"
    );
    assert_eq!(e.exit_code(), 2);
    let e = error_env(&["app"], &[("GUNICORN_CMD_ARGS", "-w 'x")]);
    assert_eq!(
        e.to_string(),
        "Invalid value for GUNICORN_CMD_ARGS: No closing quotation"
    );
    assert_eq!(e.exit_code(), 1);
    let e = error_env(&["app"], &[("GUNICORN_CMD_ARGS", "--spew")]);
    assert_eq!(e.to_string(), unsupported("--spew (in GUNICORN_CMD_ARGS)"));
    let e = error_env(&["app"], &[("GUNICORN_CMD_ARGS", "-w -2")]);
    assert_eq!(
        e.to_string(),
        "Invalid value for workers: Value must be positive: -2"
    );
    // A bad value there is refused even if the command line overrides it, as gunicorn.
    assert!(matches!(
        error_env(&["-w", "2", "app"], &[("GUNICORN_CMD_ARGS", "-w -2")]),
        Error::Invalid { .. }
    ));
    assert!(matches!(
        run(&["app"], &[("GUNICORN_CMD_ARGS", "--version")]),
        Ok(Invocation::Print(_))
    ));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["--bogus", "app"][..],
        &["-w"],
        &["-w", "abc", "app"],
        &["--wor", "1", "app"],
    ] {
        let e = error(args);
        assert!(matches!(e, Error::Usage(_)), "{args:?}");
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string()
                .starts_with("usage: gunicorn-rs [OPTIONS] [APP_MODULE]\ngunicorn-rs: error: ")
        );
    }
    assert_eq!(
        error(&["-w", "abc", "app"]).to_string(),
        "usage: gunicorn-rs [OPTIONS] [APP_MODULE]\n\
         gunicorn-rs: error: argument -w/--workers: invalid int value: 'abc'"
    );
}

#[test]
fn invalid_values_exit_1() {
    let cases: [(&[&str], &str); 7] = [
        (
            &["-w", "-1"],
            "Invalid value for workers: Value must be positive: -1",
        ),
        (
            &["-w", "0"],
            "Invalid value for workers: Value must be positive: 0",
        ),
        (
            &["--backlog", "-5"],
            "Invalid value for backlog: Value must be positive: -5",
        ),
        (
            &["--limit-request-line", "-1"],
            "Invalid value for limit_request_line: Value must be positive: -1",
        ),
        (
            &["-w", "99999999999"],
            "Invalid value for workers: Value is too large: 99999999999",
        ),
        (
            &["--threads", "-1"],
            "Invalid value for threads: Value must be positive: -1",
        ),
        (
            &["--pid", " "],
            "Invalid value for pidfile: the file name is empty",
        ),
    ];
    for (args, message) in cases {
        let mut args = args.to_vec();
        args.push("app");
        let e = error(&args);
        assert_eq!(e.to_string(), message);
        assert_eq!(e.exit_code(), 1);
    }
}

#[test]
fn missing_app_module() {
    let e = error(&["-w", "2"]);
    assert!(matches!(e, Error::NoAppModule));
    assert_eq!(
        (e.to_string().as_str(), e.exit_code()),
        ("No application module specified.", 1)
    );
}

#[test]
fn every_unsupported_setting_is_refused_by_name() {
    let (mut settings, mut refused) = (0, 0);
    for setting in SETTINGS.iter().filter(|s| s.status == Status::Unsupported) {
        settings += usize::from(!setting.flags.is_empty());
        for flag in setting.flags {
            let args: Vec<&str> = match setting.kind {
                Kind::Flag => vec![flag, "app"],
                Kind::Int | Kind::AutoInt => vec![flag, "1", "app"],
                _ => vec![flag, "value", "app"],
            };
            let e = error(&args);
            assert_eq!(
                e.to_string(),
                unsupported(&setting.display_flags()),
                "{flag}"
            );
            assert_eq!(e.exit_code(), 1);
            refused += 1;
        }
    }
    // 103 settings have flags (95 of gunicorn's, 8 of our own) and 72 are
    // implemented; one of the others (--paste/--paster) has two spellings.
    assert_eq!((settings, refused), (31, 32));
    // The first one given is named.
    assert_eq!(
        error(&["--spew", "-D", "app"]).to_string(),
        unsupported("--spew")
    );
    // Refused even when a valid value would be needed, and before validation.
    assert_eq!(
        error(&["--logger-class", "no.such.Class", "app"]).to_string(),
        unsupported("--logger-class")
    );
    assert_eq!(
        error(&["-w", "-1", "--spew", "app"]).to_string(),
        unsupported("--spew")
    );
}

#[test]
fn sync_and_gthread_workers() {
    for class in ["gevent", "asgi", "uvicorn.workers.UvicornWorker"] {
        let e = error(&["-k", class, "app"]);
        assert_eq!(
            e.to_string(),
            unsupported(&format!("-k/--worker-class {class}"))
        );
    }
    let cfg = config(&["app"]);
    assert_eq!((cfg.worker_class, cfg.threads), (WorkerClass::Sync, 1));
    // As gunicorn: sync with more than one thread is gthread.
    let cfg = config(&["--threads", "4", "app"]);
    assert_eq!((cfg.worker_class, cfg.threads), (WorkerClass::Gthread, 4));
    assert_eq!(cfg.worker_class_name, "sync");
    for class in ["gthread", "gunicorn.workers.gthread.ThreadWorker"] {
        let cfg = config(&["-k", class, "app"]);
        assert_eq!((cfg.worker_class, cfg.threads), (WorkerClass::Gthread, 1));
    }
    assert_eq!(
        error(&["-k", "gthread", "--threads", "0", "app"]).to_string(),
        "Invalid value for threads: Value must be positive: 0 (a gthread worker needs a thread)"
    );
    // The last value wins before the check, as gunicorn.
    let cfg = config_env(
        &["-k", "sync", "--threads", "1"],
        &[("GUNICORN_CMD_ARGS", "-k gevent --threads 8")],
    );
    assert_eq!((cfg.worker_class, cfg.threads), (WorkerClass::Sync, 1));
    config_env(&["-k", "gevent", "--worker-class", "sync"], &[]);
}

/// Which config file is read (running it needs the interpreter: the
/// binary's tests in tests/config_file.rs do that).
#[test]
fn config_file_location_as_gunicorn() {
    let dir = temp_dir();
    let sources = |args: &[&str], vars: &[(&str, &str)]| {
        let env = |k: &str| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        };
        let cwd = dir.clone();
        match parse_sources_in(
            std::iter::once("gunicorn-rs").chain(args.iter().copied()),
            &env,
            &|| Ok(cwd.clone()),
        ) {
            Ok(Start::Run(s)) => s.config_file(),
            other => panic!("{args:?}: {other:?}"),
        }
    };
    assert_eq!(sources(&["app"], &[]), None);
    // Nothing to run: a configuration is built without the interpreter.
    assert!(matches!(
        run_in(&dir, &["app"], &[]),
        Ok(Invocation::Run(_))
    ));
    std::fs::write(dir.join("gunicorn.conf.py"), "workers = 4\n").expect("write config");
    let default = dir.join("gunicorn.conf.py").display().to_string();
    assert_eq!(sources(&["app"], &[]), Some(default.clone()));
    // -c on the command line first, then in GUNICORN_CMD_ARGS; an empty one is none.
    let env_c = [("GUNICORN_CMD_ARGS", "-c env.py")];
    assert_eq!(
        sources(&["-c", "cli.py", "app"], &env_c),
        Some("cli.py".into())
    );
    assert_eq!(sources(&["app"], &env_c), Some("env.py".into()));
    assert_eq!(sources(&["-c", "", "app"], &[]), Some(default));
    assert_eq!(
        sources(&["-c", "python:conf", "app"], &[]),
        Some("python:conf".into())
    );
    // Help and version still work there.
    assert!(matches!(
        run_in(&dir, &["--help"], &[]),
        Ok(Invocation::Print(_))
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn errors_print_as_gunicorn() {
    let e = Error::FileValue {
        setting: "workers",
        shown: "abc".into(),
        message: "invalid literal for int() with base 0: 'abc'".into(),
    };
    assert_eq!(
        e.report(),
        "Invalid value for workers: abc\n\n\nError: invalid literal for int() with base 0: 'abc'"
    );
    assert_eq!(e.exit_code(), 1);
    assert_eq!(
        Error::NoAppModule.report(),
        "Error: No application module specified."
    );
}

#[test]
fn help_and_version() {
    let version = format!("gunicorn-rs (version {})\n", env!("CARGO_PKG_VERSION"));
    for flag in ["-v", "--version"] {
        match run(&[flag], &[]) {
            Ok(Invocation::Print(text)) => assert_eq!(text, version),
            other => panic!("{other:?}"),
        }
    }
    for flag in ["-h", "--help"] {
        match run(&["app", flag, "--bogus"], &[]) {
            Ok(Invocation::Print(text)) => {
                assert!(text.starts_with("usage: gunicorn-rs [OPTIONS] [APP_MODULE]\n"));
                assert!(text.contains("--limit-request-field_size"));
            }
            other => panic!("{other:?}"),
        }
    }
    // An unknown flag does not stop -h, as argparse; a missing value does.
    assert!(matches!(
        run(&["--bogus", "-h"], &[]),
        Ok(Invocation::Print(_))
    ));
    assert!(matches!(run(&["-w", "-h"], &[]), Err(Error::Usage(_))));
}

#[test]
fn working_dir_keeps_pwd_when_it_is_the_same_directory() {
    let real = std::env::current_dir().expect("cwd");
    let dir = temp_dir();
    let link = dir.join("link");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let link_str = link.to_string_lossy().into_owned();
    let with_pwd = |pwd: String| working_dir(&move |k: &str| (k == "PWD").then(|| pwd.clone()));
    assert_eq!(with_pwd(link_str).ok(), Some(link.clone()));
    assert_eq!(
        with_pwd(dir.to_string_lossy().into_owned()).ok(),
        Some(real.clone())
    );
    assert_eq!(with_pwd("relative".to_string()).ok(), Some(real.clone()));
    assert_eq!(working_dir(&|_: &str| None).ok(), Some(real));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn request_parsing_relaxations() {
    assert_eq!(config(&[]).http, HttpOptions::default());
    let c = config(&[
        "--permit-obsolete-folding",
        "--strip-header-spaces",
        "--permit-unconventional-http-method",
        "--permit-unconventional-http-version",
        "--casefold-http-method",
        "--header-map",
        " Dangerous ",
    ]);
    assert!(c.http.permit_obsolete_folding && c.http.strip_header_spaces);
    assert!(c.http.permit_unconventional_http_method && c.http.permit_unconventional_http_version);
    assert!(c.http.casefold_http_method);
    assert_eq!(c.http.header_map, HeaderMap::Dangerous);
    assert_eq!(
        config(&["--header-map", "refuse"]).http.header_map,
        HeaderMap::Refuse
    );
    let e = error(&["--header-map", "keep", "app"]);
    assert_eq!(e.exit_code(), 1);
    assert!(
        e.to_string().contains("Invalid header map behaviour: keep"),
        "{e}"
    );
}

#[test]
fn protocol_and_uwsgi_allow_list() {
    let d = config(&[]);
    assert_eq!(d.protocol, Protocol::Http);
    assert_eq!(d.uwsgi_allow_ips, AllowList::default());
    assert_eq!(config(&["--protocol", "uwsgi"]).protocol, Protocol::Uwsgi);
    assert_eq!(config(&["--protocol", " http "]).protocol, Protocol::Http);
    // gunicorn serves HTTP for any other word; a typo is refused here.
    let e = error(&["--protocol", "uswgi", "app"]);
    assert_eq!(e.exit_code(), 1);
    assert_eq!(
        e.to_string(),
        "Invalid value for protocol: must be http or uwsgi"
    );
    let c = config(&["--uwsgi-allow-from", "10.0.0.0/8,*"]);
    assert!(c.uwsgi_allow_ips.allows_ip(&"192.0.2.1".parse().unwrap()));
    assert_eq!(
        error(&["--uwsgi-allow-from", "nope", "app"]).to_string(),
        "Invalid value for uwsgi_allow_ips: 'nope' does not appear to be an IPv4 or IPv6 network"
    );
}

#[test]
fn proxy_protocol_modes_allow_list_and_forwarder_headers() {
    let d = config(&[]);
    assert_eq!(d.proxy_protocol, ProxyMode::Off);
    assert_eq!(d.proxy_allow_ips, AllowList::default());
    assert_eq!(d.forwarder_headers, ["SCRIPT_NAME", "PATH_INFO"]);
    // The flag alone means auto; a value may follow it, so (as in gunicorn)
    // an APP_MODULE right after it is taken for the value.
    match run(&["app:app", "--proxy-protocol"], &[]) {
        Ok(Invocation::Run(c)) => assert_eq!(c.proxy_protocol, ProxyMode::Auto),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        run(&["--proxy-protocol", "app:app"], &[]),
        Err(Error::Invalid {
            setting: "proxy_protocol",
            ..
        })
    ));
    for (value, mode) in [
        ("v1", ProxyMode::V1),
        ("V2", ProxyMode::V2),
        ("off", ProxyMode::Off),
        ("true", ProxyMode::Auto),
    ] {
        assert_eq!(config(&["--proxy-protocol", value]).proxy_protocol, mode);
    }
    let e = error(&["--proxy-protocol", "v3", "app"]);
    assert_eq!(e.exit_code(), 1);
    assert_eq!(
        e.to_string(),
        "Invalid value for proxy_protocol: must be one of off, v1, v2 or auto"
    );
    let c = config(&["--proxy-allow-from", "10.0.0.0/8, 192.168.1.1"]);
    assert!(c.proxy_allow_ips.allows_ip(&"10.1.2.3".parse().unwrap()));
    assert!(!c.proxy_allow_ips.allows_ip(&"127.0.0.1".parse().unwrap()));
    assert_eq!(
        error(&["--proxy-allow-from", "nope", "app"]).to_string(),
        "Invalid value for proxy_allow_ips: 'nope' does not appear to be an IPv4 or IPv6 network"
    );
    // gunicorn's string-to-list: pieces stripped, empty ones dropped.
    assert_eq!(
        config(&["--forwarder-headers", "REMOTE_USER, SCRIPT_NAME,,"]).forwarder_headers,
        ["REMOTE_USER", "SCRIPT_NAME"]
    );
    assert!(
        config(&["--forwarder-headers", ""])
            .forwarder_headers
            .is_empty()
    );
}

#[test]
fn forwarded_allow_ips_flag_env_and_errors() {
    let ips = |args: &[&str], vars: &[(&str, &str)]| config_env(args, vars).forwarded_allow_ips;
    let v4 = |s: &str| std::net::IpAddr::from(s.parse::<std::net::Ipv4Addr>().unwrap());
    assert_eq!(ips(&[], &[]).to_string(), "127.0.0.1,::1");
    let list = ips(&["--forwarded-allow-ips", " 10.0.0.0/8, 192.168.0.1 "], &[]);
    assert_eq!(list.entries(), ["10.0.0.0/8", "192.168.0.1"]);
    assert!(list.allows_ip(&v4("10.1.2.3")) && !list.allows_ip(&v4("127.0.0.1")));
    assert!(ips(&["--forwarded-allow-ips", "*"], &[]).allows_all());
    // An empty value trusts nobody (but unix-socket peers).
    assert!(
        ips(&["--forwarded-allow-ips", ""], &[])
            .entries()
            .is_empty()
    );
    // $FORWARDED_ALLOW_IPS when the flag is absent; GUNICORN_CMD_ARGS and
    // the command line win over it, in gunicorn's order.
    let env = [("FORWARDED_ALLOW_IPS", "10.0.0.1")];
    assert_eq!(ips(&[], &env).to_string(), "10.0.0.1");
    let cmd_args = [
        env[0],
        ("GUNICORN_CMD_ARGS", "--forwarded-allow-ips 10.0.0.2"),
    ];
    assert_eq!(ips(&[], &cmd_args).to_string(), "10.0.0.2");
    assert_eq!(
        ips(&["--forwarded-allow-ips", "10.0.0.3"], &cmd_args).to_string(),
        "10.0.0.3"
    );

    let e = error(&["--forwarded-allow-ips", "foo", "app"]);
    assert_eq!(
        e.to_string(),
        "Invalid value for forwarded_allow_ips: 'foo' does not appear to be an IPv4 or IPv6 network"
    );
    assert_eq!(e.exit_code(), 1);
    assert_eq!(
        error(&["--forwarded-allow-ips", "1.2.3.4/24", "app"]).to_string(),
        "Invalid value for forwarded_allow_ips: 1.2.3.4/24 has host bits set"
    );
    assert_eq!(
        error_env(&["app"], &[("FORWARDED_ALLOW_IPS", "bar")]).to_string(),
        "Invalid value for forwarded_allow_ips: 'bar' does not appear to be an IPv4 or IPv6 \
         network (in FORWARDED_ALLOW_IPS)"
    );
}

#[test]
fn worker_connections_zero_is_refused() {
    let e = error(&["--worker-connections", "0", "app"]);
    assert_eq!(
        e.to_string(),
        "Invalid value for worker_connections: Value must be positive: 0 \
         (a worker would never accept a connection)"
    );
    assert_eq!(e.exit_code(), 1);
    assert_eq!(config(&["--worker-connections", "1"]).worker_connections, 1);
}

#[test]
fn huge_timeouts_are_clamped_so_deadlines_cannot_overflow() {
    let hundred_years = 100 * 365 * 86_400;
    assert_eq!(MAX_TIMEOUT_SECS, hundred_years);
    for value in [
        "3153600001",
        "9223372036854775807",
        "99999999999999999999999",
    ] {
        let c = config(&[
            "-t",
            value,
            "--graceful-timeout",
            value,
            "--keep-alive",
            value,
        ]);
        assert_eq!(
            (c.timeout, c.graceful_timeout, c.keepalive),
            (hundred_years, hundred_years, hundred_years),
            "{value}"
        );
        // What the master and the workers do with them.
        let _ = std::time::Instant::now() + std::time::Duration::from_secs(c.timeout);
    }
    assert_eq!(config(&["-t", "3153600000"]).timeout, hundred_years);
    assert_eq!(config(&["-t", "-0"]).timeout, 0);
    assert_eq!(config(&["--keep-alive", "7"]).keepalive, 7);
    for value in ["-1", "-99999999999999999999"] {
        let e = error(&["--timeout", value, "app"]);
        assert!(
            matches!(
                e,
                Error::Invalid {
                    setting: "timeout",
                    ..
                }
            ),
            "{e}"
        );
    }
    assert_eq!(
        error(&["--keep-alive", "-3", "app"]).to_string(),
        "Invalid value for keepalive: Value must be positive: -3"
    );
}

#[test]
fn reload_engine_and_extra_files() {
    let cfg = config(&[]);
    assert!(!cfg.reload);
    assert_eq!(cfg.reload_engine, ReloadEngine::Auto);
    assert!(cfg.reload_extra_files.is_empty());
    let cfg = config(&[
        "--reload",
        "--reload-engine",
        "poll",
        "--reload-extra-file",
        "Cargo.toml",
        "--reload-extra-file",
        "templates/**/*.html",
    ]);
    assert!(cfg.reload);
    assert_eq!(cfg.reload_engine, ReloadEngine::Poll);
    assert_eq!(
        cfg.reload_extra_files,
        ["Cargo.toml", "templates/**/*.html"]
    );
    assert_eq!(
        config(&["--reload-engine", "inotify"]).reload_engine,
        ReloadEngine::Inotify
    );
    let e = error(&["--reload-engine", "watchdog", "app"]);
    assert_eq!(
        e.to_string(),
        "Invalid value for reload_engine: 'watchdog' is not one of auto, poll or inotify"
    );
    assert_eq!(e.exit_code(), 1);
    // A plain file must exist; a pattern may match nothing yet.
    assert_eq!(
        error(&["--reload-extra-file", "no-such-file.txt", "app"]).to_string(),
        "Invalid value for reload_extra_files: File no-such-file.txt does not exist"
    );
    assert_eq!(
        config(&["--reload-extra-file", "nothing-yet/*.txt"]).reload_extra_files,
        ["nothing-yet/*.txt"]
    );
}

#[test]
fn process_settings_default_to_changing_nothing() {
    let c = config(&[]);
    let p = &c.process;
    assert!(!p.daemon && !p.enable_stdio_inheritance && !p.initgroups && !p.reuse_port);
    assert!(p.raw_env.is_empty());
    assert_eq!(p.worker_tmp_dir, None);
    assert_eq!(p.user, nix::unistd::geteuid().as_raw());
    assert_eq!(p.group, nix::unistd::getegid().as_raw());
    assert_eq!(p.umask, 0);
    // gunicorn's default_proc_name: the application URI.
    assert_eq!(c.proc_name(), "app:app");
    assert_eq!(config(&["-n", "shop"]).proc_name(), "shop");
    assert_eq!(config(&["--name", " shop "]).proc_name(), "shop");
}

#[test]
fn process_flags() {
    let c = config(&[
        "-D",
        "-R",
        "--initgroups",
        "--reuse-port",
        "--worker-tmp-dir",
        "/dev/shm",
    ]);
    let p = &c.process;
    assert!(p.daemon && p.enable_stdio_inheritance && p.initgroups && p.reuse_port);
    assert_eq!(p.worker_tmp_dir.as_deref(), Some(Path::new("/dev/shm")));
    let c = config(&["--daemon", "--enable-stdio-inheritance"]);
    assert!(c.process.daemon && c.process.enable_stdio_inheritance);
    // Through GUNICORN_CMD_ARGS as well.
    let c = config_env(&[], &[("GUNICORN_CMD_ARGS", "-D --reuse-port -n web")]);
    assert!(c.process.daemon && c.process.reuse_port);
    assert_eq!(c.proc_name(), "web");
}

#[test]
fn env_values_split_at_the_first_equals_sign() {
    let c = config(&["-e", "A=1", "--env", " B=x=y ", "-e", "C="]);
    let pairs: Vec<(&str, &str)> = c
        .process
        .raw_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(pairs, [("A", "1"), ("B", "x=y"), ("C", "")]);
    // The command line replaces GUNICORN_CMD_ARGS's list, as argparse's append.
    let c = config_env(&["-e", "B=2"], &[("GUNICORN_CMD_ARGS", "-e A=1")]);
    assert_eq!(c.process.raw_env, [("B".to_string(), "2".to_string())]);
    // gunicorn's Config.env message.
    for (bad, shown) in [("FOO", "'FOO'"), ("=x", "'=x'"), ("", "''")] {
        let e = error(&["-e", "A=1", "-e", bad, "app"]);
        assert_eq!(
            e.to_string(),
            format!("environment setting {shown} invalid"),
            "{bad:?}"
        );
        assert_eq!(e.exit_code(), 1);
    }
}

#[test]
fn users_and_groups_by_name_or_id() {
    let c = config(&["-u", "0", "-g", "0"]);
    assert_eq!((c.process.user, c.process.group), (0, 0));
    let c = config(&["--user", "65534", "--group", "4321"]);
    assert_eq!((c.process.user, c.process.group), (65534, 4321));
    // Names from the user and group databases; root exists everywhere.
    let c = config(&["-u", "root", "-g", "root"]);
    assert_eq!((c.process.user, c.process.group), (0, 0));
    // gunicorn's ConfigError messages, the value not stripped.
    let e = error(&["-u", "no-such-user-here", "app"]);
    assert_eq!(e.to_string(), "No such user: 'no-such-user-here'");
    assert_eq!(e.exit_code(), 1);
    assert_eq!(
        error(&["-g", "no-such-group-here", "app"]).to_string(),
        "No such group: 'no-such-group-here'"
    );
    assert_eq!(
        error(&["-u", " 0", "app"]).to_string(),
        "No such user: ' 0'"
    );
    assert!(matches!(
        error(&["-u", "99999999999", "app"]),
        Error::Invalid {
            setting: "user",
            ..
        }
    ));
}

#[test]
fn umask_reads_like_gunicorns_auto_int() {
    for (value, mask) in [
        ("0o22", 0o22),
        ("022", 0o22),
        ("0022", 0o22),
        ("18", 18),
        ("0x12", 0o22),
        ("0", 0),
        ("0o777", 0o777),
    ] {
        assert_eq!(config(&["-m", value]).process.umask, mask, "{value}");
    }
    assert_eq!(config(&["--umask", "0o77"]).process.umask, 0o77);
    assert_eq!(
        error(&["-m", "-1", "app"]).to_string(),
        "Invalid value for umask: Value must be positive: -1"
    );
    assert!(matches!(error(&["-m", "08", "app"]), Error::Usage(_)));
}

#[test]
fn client_limits_defaults_values_and_errors() {
    let limits = |c: &Config| {
        let c = &c.client;
        (
            c.header_timeout,
            c.body_timeout,
            c.body_buffer_size,
            c.max_body_size,
            c.response_buffer_size,
        )
    };
    let c = config(&[]);
    assert_eq!(c.client, crate::config::ClientOptions::default());
    assert_eq!(limits(&c), (10, 30, 1_048_576, 1_073_741_824, 262_144));
    let c = config(&[
        "--header-timeout",
        "4",
        "--body-timeout",
        "0",
        "--body-buffer-size",
        "65536",
        "--max-body-size",
        "0",
        "--response-buffer-size",
        "1",
    ]);
    assert_eq!(limits(&c), (4, 0, 65536, 0, 1));
    // Durations are clamped like the other timeouts.
    let c = config(&["--header-timeout", "99999999999999999999"]);
    assert_eq!(c.client.header_timeout, MAX_TIMEOUT_SECS);
    for (flag, name) in [
        ("--header-timeout", "header_timeout"),
        ("--body-timeout", "body_timeout"),
        ("--body-buffer-size", "body_buffer_size"),
        ("--max-body-size", "max_body_size"),
        ("--response-buffer-size", "response_buffer_size"),
    ] {
        let e = error(&[flag, "-1", "app"]);
        assert_eq!(
            e.to_string(),
            format!("Invalid value for {name}: Value must be positive: -1")
        );
        assert_eq!(e.exit_code(), 1);
        // Not a number at all: argparse's usage error, as for gunicorn's ints.
        let e = error(&[flag, "lots", "app"]);
        assert!(
            e.to_string()
                .ends_with(&format!("argument {flag}: invalid int value: 'lots'")),
            "{e}"
        );
        assert_eq!(e.exit_code(), 2);
    }
}
