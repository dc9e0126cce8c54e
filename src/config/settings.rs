//! The table of every gunicorn 27.0.1 setting: name, section, command-line
//! spellings, value kind, default, environment fallback, a one-line help
//! and whether gunicorn-rs implements it.
//!
//! The command line (`cli`) and `GUNICORN_CMD_ARGS` are generated from
//! [`SETTINGS`] (a config file and `--print-config` will be too), so a
//! gunicorn setting can never be silently misread: either it is
//! implemented or it is refused by name. The environment variables a
//! default is read from (the `env` field of [`Setting`]) are honoured for
//! every implemented setting; the only unsupported setting with any,
//! `control_socket`, reads `$XDG_RUNTIME_DIR`/`$HOME` just to place a
//! socket gunicorn-rs never opens (as if `--no-control-socket` were
//! given), so nothing is lost. Order and sections follow gunicorn's
//! `config.py`, so the help reads like gunicorn's.
//!
//! Pure data: no parsing, no I/O.

/// gunicorn's grouping of its settings (its `section` attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    ConfigFile,
    ServerSocket,
    WorkerProcesses,
    Security,
    Debugging,
    ServerMechanics,
    Logging,
    ProcessNaming,
    ServerHooks,
    Ssl,
    Http2,
    DirtyArbiters,
    DirtyArbiterHooks,
    Control,
}

impl Section {
    /// The section title gunicorn uses in its documentation.
    pub const fn title(self) -> &'static str {
        match self {
            Section::ConfigFile => "Config File",
            Section::ServerSocket => "Server Socket",
            Section::WorkerProcesses => "Worker Processes",
            Section::Security => "Security",
            Section::Debugging => "Debugging",
            Section::ServerMechanics => "Server Mechanics",
            Section::Logging => "Logging",
            Section::ProcessNaming => "Process Naming",
            Section::ServerHooks => "Server Hooks",
            Section::Ssl => "SSL",
            Section::Http2 => "HTTP/2",
            Section::DirtyArbiters => "Dirty Arbiters",
            Section::DirtyArbiterHooks => "Dirty Arbiter Hooks",
            Section::Control => "Control",
        }
    }
}

/// What a setting's value looks like, which decides how its flag parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An integer, parsed like Python's `int(s)`: `--workers 4`.
    Int,
    /// An integer in any base, octal with a leading `0` (gunicorn's
    /// `auto_int`): `--umask 0022`.
    AutoInt,
    /// A flag without a value: `--preload`.
    Flag,
    /// One string; given twice, the last one wins.
    Str,
    /// A string that may be repeated; the values accumulate: `-b a -b b`.
    List,
    /// A string whose value may be left out on the command line, then
    /// meaning `missing`: `--proxy-protocol` alone is `auto`.
    OptionalValue { missing: &'static str },
    /// A Python callable, config file only (server hooks).
    Hook,
    /// A Python dict, config file only.
    Dict,
}

impl Kind {
    /// Whether the setting's flag takes a value on the command line.
    pub const fn takes_value(self) -> bool {
        !matches!(self, Kind::Flag)
    }
}

/// A setting's default, as gunicorn documents it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// Python's `None`: unset.
    None,
    Int(i64),
    Bool(bool),
    Str(&'static str),
    List(&'static [&'static str]),
    Dict(&'static [(&'static str, &'static str)]),
    /// Worked out at start-up; the text says how.
    Computed(&'static str),
}

/// Whether gunicorn-rs honours a setting. Unsupported ones are still
/// parsed (so their values are never taken for something else) and then
/// refused by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Implemented,
    Unsupported,
}

/// One gunicorn setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// gunicorn's name, also the config-file key: `worker_class`.
    pub name: &'static str,
    pub section: Section,
    /// Command-line spellings exactly as gunicorn accepts them, short
    /// first; empty for config-file-only settings.
    pub flags: &'static [&'static str],
    pub kind: Kind,
    /// Placeholder for the value in `--help`.
    pub meta: &'static str,
    pub default: DefaultValue,
    /// Environment variables the default is read from.
    pub env: &'static [&'static str],
    /// One line of our own for `--help` and the docs.
    pub help: &'static str,
    pub status: Status,
    /// Not a gunicorn setting: one of gunicorn-rs's own additions.
    pub extension: bool,
}

impl Setting {
    const fn new(
        name: &'static str,
        section: Section,
        flags: &'static [&'static str],
        kind: Kind,
        default: DefaultValue,
        help: &'static str,
    ) -> Setting {
        let meta = match kind {
            Kind::Int | Kind::AutoInt => "INT",
            Kind::Flag | Kind::Hook | Kind::Dict => "",
            Kind::Str | Kind::List | Kind::OptionalValue { .. } => "STRING",
        };
        Setting {
            name,
            section,
            flags,
            kind,
            meta,
            default,
            env: &[],
            help,
            status: Status::Unsupported,
            extension: false,
        }
    }

    const fn meta(mut self, meta: &'static str) -> Setting {
        self.meta = meta;
        self
    }

    const fn env(mut self, env: &'static [&'static str]) -> Setting {
        self.env = env;
        self
    }

    /// Mark a gunicorn-rs addition (implemented by definition).
    const fn extension(mut self) -> Setting {
        self.extension = true;
        self.status = Status::Implemented;
        self
    }

    const fn implemented(mut self) -> Setting {
        self.status = Status::Implemented;
        self
    }

    /// The flags as argparse names them in messages: `-w/--workers`.
    pub fn display_flags(&self) -> String {
        self.flags.join("/")
    }
}

/// The setting with this name.
pub fn find(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

/// The setting one of whose spellings is exactly `flag` (`-w`, `--log-file`).
pub fn find_flag(flag: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.flags.contains(&flag))
}

/// gunicorn's default access log format (Apache's combined format).
pub const DEFAULT_ACCESS_LOG_FORMAT: &str =
    r#"%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s""#;

use DefaultValue as D;
use Kind::*;
use Section::*;

/// Every gunicorn 27.0.1 setting, in gunicorn's order.
#[rustfmt::skip]
pub static SETTINGS: &[Setting] = &[
    // Config File
    Setting::new("config", ConfigFile, &["-c", "--config"], Str, D::Str("./gunicorn.conf.py"),
        "Config file to load: PATH, file:PATH, python:MODULE, or a .toml file.").meta("CONFIG")
        .implemented(),
    Setting::new("wsgi_app", ConfigFile, &[], Str, D::None,
        "Application as MODULE:VARIABLE when none is given on the command line.")
        .implemented(),
    // Server Socket
    Setting::new("bind", ServerSocket, &["-b", "--bind"], List, D::List(&["127.0.0.1:8000"]),
        "Address to listen on: HOST, HOST:PORT, [IPv6]:PORT, unix:PATH or fd://FD; repeatable. \
         Defaults to 0.0.0.0:$PORT when PORT is set.")
        .meta("ADDRESS").env(&["PORT"]).implemented(),
    Setting::new("backlog", ServerSocket, &["--backlog"], Int, D::Int(2048),
        "Size of the queue of connections waiting to be accepted.").implemented(),
    // Worker Processes
    Setting::new("workers", WorkerProcesses, &["-w", "--workers"], Int, D::Int(1),
        "Number of worker processes. Defaults to $WEB_CONCURRENCY when set.")
        .env(&["WEB_CONCURRENCY"]).implemented(),
    Setting::new("worker_class", WorkerProcesses, &["-k", "--worker-class"], Str, D::Str("sync"),
        "Kind of worker process: sync (one request at a time) or gthread (--threads at a time).").implemented(),
    Setting::new("threads", WorkerProcesses, &["--threads"], Int, D::Int(1),
        "Threads per worker that call the application; more than 1 means the gthread worker.")
        .implemented(),
    Setting::new("worker_connections", WorkerProcesses, &["--worker-connections"], Int,
        D::Int(1000), "Most connections a worker holds open at once.").implemented(),
    Setting::new("max_requests", WorkerProcesses, &["--max-requests"], Int, D::Int(0),
        "Replace a worker after it has served this many requests (0: never).").implemented(),
    Setting::new("max_requests_jitter", WorkerProcesses, &["--max-requests-jitter"], Int,
        D::Int(0), "Random extra requests added to --max-requests per worker.").implemented(),
    Setting::new("max_worker_memory", WorkerProcesses, &["--max-worker-memory"], Int, D::Int(0),
        "Replace a worker whose resident memory exceeds this many MiB (0: never; \
         gunicorn-rs only).").meta("MB").extension(),
    Setting::new("max_worker_lifetime", WorkerProcesses, &["--max-worker-lifetime"], Int,
        D::Int(0), "Replace a worker after it has run this many seconds (0: never; \
         gunicorn-rs only).").meta("SECONDS").extension(),
    Setting::new("timeout", WorkerProcesses, &["-t", "--timeout"], Int, D::Int(30),
        "Kill and replace a worker silent for this many seconds (0: never).").implemented(),
    Setting::new("graceful_timeout", WorkerProcesses, &["--graceful-timeout"], Int, D::Int(30),
        "Seconds a worker gets to finish its requests when asked to stop.").implemented(),
    Setting::new("keepalive", WorkerProcesses, &["--keep-alive"], Int, D::Int(2),
        "Seconds to wait for the next request on a kept-alive connection.").implemented(),
    // Security
    Setting::new("limit_request_line", Security, &["--limit-request-line"], Int, D::Int(4094),
        "Longest request line in bytes; 0 means unlimited, values above 8190 mean 8190.")
        .implemented(),
    Setting::new("limit_request_fields", Security, &["--limit-request-fields"], Int,
        D::Int(100), "Most header fields in a request; 0 or more than 32768 means 32768.")
        .implemented(),
    Setting::new("limit_request_field_size", Security, &["--limit-request-field_size"], Int,
        D::Int(8190), "Longest header field in bytes; 0 means 8190.").implemented(),
    Setting::new("header_timeout", Security, &["--header-timeout"], Int, D::Int(10),
        "Seconds a client gets to send a whole request head, counted from its first byte; \
         a new connection that sends nothing waits this or --keep-alive, whichever is \
         longer; 0: no limit (gunicorn-rs only).")
        .meta("SECONDS").extension(),
    Setting::new("body_timeout", Security, &["--body-timeout"], Int, D::Int(30),
        "Seconds a client may pause while sending a request body or reading a response; \
         0: no limit (gunicorn-rs only).").meta("SECONDS").extension(),
    Setting::new("body_buffer_size", Security, &["--body-buffer-size"], Int, D::Int(1048576),
        "Request bodies up to this many bytes are kept in memory, larger ones in a temporary \
         file (gunicorn-rs only).").meta("BYTES").extension(),
    Setting::new("max_body_size", Security, &["--max-body-size"], Int, D::Int(1073741824),
        "Largest request body in bytes, larger ones are answered 413; 0: no limit \
         (gunicorn-rs only).").meta("BYTES").extension(),
    Setting::new("response_buffer_size", Security, &["--response-buffer-size"], Int,
        D::Int(262144), "Response bytes buffered per connection before the application's \
         iterator is paused (gunicorn-rs only).").meta("BYTES").extension(),
    // Debugging
    Setting::new("reload", Debugging, &["--reload"], Flag, D::Bool(false),
        "Restart workers when the application's code changes.").implemented(),
    Setting::new("reload_engine", Debugging, &["--reload-engine"], Str, D::Str("auto"),
        "How --reload watches files: auto, poll or inotify.").implemented(),
    Setting::new("reload_extra_files", Debugging, &["--reload-extra-file"], List, D::List(&[]),
        "Another file or glob pattern for --reload to watch; repeatable.").meta("FILES")
        .implemented(),
    Setting::new("spew", Debugging, &["--spew"], Flag, D::Bool(false),
        "Trace every line of Python the server executes."),
    Setting::new("check_config", Debugging, &["--check-config"], Flag, D::Bool(false),
        "Load the configuration and the application, then exit (status 0 when fine).")
        .implemented(),
    Setting::new("print_config", Debugging, &["--print-config"], Flag, D::Bool(false),
        "Print the resolved configuration, then exit as --check-config.").implemented(),
    // Server Mechanics
    Setting::new("preload_app", ServerMechanics, &["--preload"], Flag, D::Bool(false),
        "Import the application in the master, before forking the workers.").implemented(),
    Setting::new("sendfile", ServerMechanics, &["--no-sendfile"], Flag,
        D::Computed("on, unless $SENDFILE is set to something other than y, 1, yes or true"),
        "Never send file responses with sendfile(2).").env(&["SENDFILE"]).implemented(),
    Setting::new("reuse_port", ServerMechanics, &["--reuse-port"], Flag, D::Bool(false),
        "Set SO_REUSEPORT on listening sockets.").implemented(),
    Setting::new("chdir", ServerMechanics, &["--chdir"], Str,
        D::Computed("the working directory at start-up"),
        "Directory to change to before loading the application.").meta("DIR").implemented(),
    Setting::new("daemon", ServerMechanics, &["-D", "--daemon"], Flag, D::Bool(false),
        "Detach from the terminal and run in the background.").implemented(),
    Setting::new("raw_env", ServerMechanics, &["-e", "--env"], List, D::List(&[]),
        "Set KEY=VALUE in the environment of the server; repeatable.").meta("ENV")
        .implemented(),
    Setting::new("pidfile", ServerMechanics, &["-p", "--pid"], Str, D::None,
        "Write the master's process id to this file.").meta("FILE").implemented(),
    Setting::new("worker_tmp_dir", ServerMechanics, &["--worker-tmp-dir"], Str, D::None,
        "Directory for the workers' heartbeat files (a tmpfs is best).").meta("DIR")
        .implemented(),
    Setting::new("user", ServerMechanics, &["-u", "--user"], Str,
        D::Computed("the effective user id"), "Run workers as this user (name or id).")
        .meta("USER").implemented(),
    Setting::new("group", ServerMechanics, &["-g", "--group"], Str,
        D::Computed("the effective group id"), "Run workers as this group (name or id).")
        .meta("GROUP").implemented(),
    Setting::new("umask", ServerMechanics, &["-m", "--umask"], AutoInt, D::Int(0),
        "File mode mask for unix socket files and heartbeat files.").implemented(),
    Setting::new("initgroups", ServerMechanics, &["--initgroups"], Flag, D::Bool(false),
        "Give workers all the groups of their user (initgroups(3)).").implemented(),
    Setting::new("tmp_upload_dir", ServerMechanics, &[], Str, D::None,
        "Directory for request bodies spooled to disk.").meta("DIR"),
    Setting::new("secure_scheme_headers", ServerMechanics, &[], Dict,
        D::Dict(&[
            ("X-FORWARDED-PROTOCOL", "ssl"),
            ("X-FORWARDED-PROTO", "https"),
            ("X-FORWARDED-SSL", "on"),
        ]),
        "Headers, and their values, by which a trusted proxy says the request came over HTTPS."),
    Setting::new("forwarded_allow_ips", ServerMechanics, &["--forwarded-allow-ips"], Str,
        D::Str("127.0.0.1,::1"),
        "Comma-separated IPs or networks of trusted proxies, whose X-Forwarded-Proto and \
         similar headers count; * trusts everyone. Defaults to $FORWARDED_ALLOW_IPS when set.")
        .env(&["FORWARDED_ALLOW_IPS"]).implemented(),
    // Logging
    Setting::new("accesslog", Logging, &["--access-logfile"], Str, D::None,
        "Write the access log to this file; - means standard output.").meta("FILE")
        .implemented(),
    Setting::new("disable_redirect_access_to_syslog", Logging,
        &["--disable-redirect-access-to-syslog"], Flag, D::Bool(false),
        "Keep the access log out of syslog when --log-syslog is on.").implemented(),
    Setting::new("access_log_format", Logging, &["--access-logformat"], Str,
        D::Str(DEFAULT_ACCESS_LOG_FORMAT), "Format of access log lines, with %(atom)s fields.")
        .implemented(),
    Setting::new("access_log_json", Logging, &["--access-log-json"], Flag, D::Bool(false),
        "Write each access log line as a JSON object of the format's atoms (gunicorn-rs only).")
        .extension(),
    Setting::new("errorlog", Logging, &["--error-logfile", "--log-file"], Str, D::Str("-"),
        "Error log file; - means standard error.").meta("FILE")
        .implemented(),
    Setting::new("loglevel", Logging, &["--log-level"], Str, D::Str("info"),
        "Least severe error-log messages shown: debug, info, warning, error or critical.")
        .meta("LEVEL").implemented(),
    Setting::new("capture_output", Logging, &["--capture-output"], Flag, D::Bool(false),
        "Send the application's standard output and error to the error log file.")
        .implemented(),
    Setting::new("logger_class", Logging, &["--logger-class"], Str,
        D::Str("gunicorn.glogging.Logger"), "Python class that writes the logs."),
    Setting::new("logconfig", Logging, &["--log-config"], Str, D::None,
        "Configure logging from this logging.config.fileConfig file.").meta("FILE")
        .implemented(),
    Setting::new("logconfig_dict", Logging, &[], Dict, D::Dict(&[]),
        "Configure logging from this logging.config.dictConfig dictionary.").implemented(),
    Setting::new("logconfig_json", Logging, &["--log-config-json"], Str, D::None,
        "Configure logging from this JSON file in dictConfig form.").meta("FILE")
        .implemented(),
    Setting::new("syslog_addr", Logging, &["--log-syslog-to"], Str,
        D::Computed("udp://localhost:514 (unix:///var/run/syslog on macOS)"),
        "Where syslog messages go: unix://PATH, udp://HOST:PORT or tcp://HOST:PORT.")
        .meta("SYSLOG_ADDR").implemented(),
    Setting::new("syslog", Logging, &["--log-syslog"], Flag, D::Bool(false),
        "Also send the logs to syslog.").implemented(),
    Setting::new("syslog_prefix", Logging, &["--log-syslog-prefix"], Str, D::None,
        "Program name in syslog entries, as gunicorn.PREFIX.").meta("SYSLOG_PREFIX")
        .implemented(),
    Setting::new("syslog_facility", Logging, &["--log-syslog-facility"], Str, D::Str("user"),
        "Syslog facility of the messages.").meta("SYSLOG_FACILITY").implemented(),
    Setting::new("enable_stdio_inheritance", Logging, &["-R", "--enable-stdio-inheritance"],
        Flag, D::Bool(false), "Keep standard output and error when running as a daemon.")
        .implemented(),
    Setting::new("statsd_host", Logging, &["--statsd-host"], Str, D::None,
        "Send metrics to the StatsD server at HOST:PORT or unix:PATH.").meta("STATSD_ADDR")
        .implemented(),
    Setting::new("dogstatsd_tags", Logging, &["--dogstatsd-tags"], Str, D::Str(""),
        "Comma-separated DogStatsD tags added to every metric.").meta("DOGSTATSD_TAGS")
        .implemented(),
    Setting::new("statsd_prefix", Logging, &["--statsd-prefix"], Str, D::Str(""),
        "Prefix of StatsD metric names.").meta("STATSD_PREFIX").implemented(),
    Setting::new("enable_backlog_metric", Logging, &["--enable-backlog-metric"], Flag,
        D::Bool(false), "Report the listen backlog as a StatsD metric (Linux).").implemented(),
    // Process Naming
    Setting::new("proc_name", ProcessNaming, &["-n", "--name"], Str, D::None,
        "Name shown for the processes in ps and top.").implemented(),
    Setting::new("default_proc_name", ProcessNaming, &[], Str, D::Str("gunicorn"),
        "Process name used when --name is not given (set from the application)."),
    // Server Mechanics (continued)
    Setting::new("pythonpath", ServerMechanics, &["--pythonpath"], Str, D::None,
        "Comma-separated directories to put in front of the Python path.").implemented(),
    Setting::new("paste", ServerMechanics, &["--paste", "--paster"], Str, D::None,
        "Load the application from a PasteDeploy file, FILE[#SECTION]."),
    // Server Hooks
    Setting::new("on_starting", ServerHooks, &[], Hook, D::Computed("does nothing"),
        "on_starting(server): before the master initializes.").implemented(),
    Setting::new("on_reload", ServerHooks, &[], Hook, D::Computed("does nothing"),
        "on_reload(server): when SIGHUP replaces the workers.").implemented(),
    Setting::new("when_ready", ServerHooks, &[], Hook, D::Computed("does nothing"),
        "when_ready(server): once the server is listening.").implemented(),
    Setting::new("pre_fork", ServerHooks, &[], Hook, D::Computed("does nothing"),
        "pre_fork(server, worker): in the master, before forking a worker.").implemented(),
    Setting::new("post_fork", ServerHooks, &[], Hook, D::Computed("does nothing"),
        "post_fork(server, worker): in a new worker, right after the fork.").implemented(),
    Setting::new("post_worker_init", ServerHooks, &[], Hook, D::Computed("does nothing"),
        "post_worker_init(worker): once a worker has loaded the application.").implemented(),
    Setting::new("worker_int", ServerHooks, &[], Hook, D::Computed("does nothing"),
        "worker_int(worker): when a worker gets SIGINT or SIGQUIT.").implemented(),
    Setting::new("worker_abort", ServerHooks, &[], Hook, D::Computed("does nothing"),
        "worker_abort(worker): when a worker gets SIGABRT, usually on timeout.").implemented(),
    Setting::new("pre_exec", ServerHooks, &[], Hook, D::Computed("does nothing"),
        "pre_exec(server): before a new master is executed on SIGUSR2.").implemented(),
    Setting::new("pre_request", ServerHooks, &[], Hook,
        D::Computed("logs the method and path at debug level"),
        "pre_request(worker, req): before a request is handled.").implemented(),
    Setting::new("post_request", ServerHooks, &[], Hook, D::Computed("does nothing"),
        "post_request(worker, req, environ, resp): after a request; 2 to 4 arguments.").implemented(),
    Setting::new("child_exit", ServerHooks, &[], Hook, D::Computed("does nothing"),
        "child_exit(server, worker): in the master, after a worker exited.").implemented(),
    Setting::new("worker_exit", ServerHooks, &[], Hook, D::Computed("does nothing"),
        "worker_exit(server, worker): in a worker, as it exits.").implemented(),
    Setting::new("nworkers_changed", ServerHooks, &[], Hook, D::Computed("does nothing"),
        "nworkers_changed(server, new_value, old_value): when the worker count changes.").implemented(),
    Setting::new("on_exit", ServerHooks, &[], Hook, D::Computed("does nothing"),
        "on_exit(server): just before the server exits.").implemented(),
    Setting::new("ssl_context", ServerHooks, &[], Hook,
        D::Computed("returns the default context"),
        "ssl_context(config, default_ssl_context_factory): builds the TLS context."),
    // Server Mechanics (continued)
    Setting::new("proxy_protocol", ServerMechanics, &["--proxy-protocol"],
        OptionalValue { missing: "auto" }, D::Str("off"),
        "Accept PROXY protocol headers: off, v1, v2 or auto (the flag alone means auto).")
        .meta("MODE").implemented(),
    Setting::new("proxy_allow_ips", ServerMechanics, &["--proxy-allow-from"], Str,
        D::Str("127.0.0.1,::1"),
        "Comma-separated IPs or networks allowed to send PROXY headers; * allows all.")
        .implemented(),
    Setting::new("protocol", ServerMechanics, &["--protocol"], Str, D::Str("http"),
        "Wire protocol of incoming connections: http or uwsgi (nginx's uwsgi_pass).")
        .implemented(),
    Setting::new("uwsgi_allow_ips", ServerMechanics, &["--uwsgi-allow-from"], Str,
        D::Str("127.0.0.1,::1"),
        "Comma-separated IPs or networks allowed to send uwsgi packets; * allows all.")
        .implemented(),
    // SSL
    Setting::new("keyfile", Ssl, &["--keyfile"], Str, D::None,
        "TLS private key file.").meta("FILE"),
    Setting::new("certfile", Ssl, &["--certfile"], Str, D::None,
        "TLS certificate file.").meta("FILE"),
    Setting::new("ssl_version", Ssl, &["--ssl-version"], Str,
        D::Computed("TLS (deprecated and ignored by gunicorn)"),
        "TLS protocol version; ignored by gunicorn, use the ssl_context hook."),
    Setting::new("cert_reqs", Ssl, &["--cert-reqs"], Int, D::Int(0),
        "Client certificate requirement: 0 none, 1 optional, 2 required."),
    Setting::new("ca_certs", Ssl, &["--ca-certs"], Str, D::None,
        "CA certificates used to check client certificates.").meta("FILE"),
    Setting::new("suppress_ragged_eofs", Ssl, &["--suppress-ragged-eofs"], Flag, D::Bool(true),
        "Treat a TLS connection closed without close_notify as a normal end."),
    Setting::new("do_handshake_on_connect", Ssl, &["--do-handshake-on-connect"], Flag,
        D::Bool(false), "Do the TLS handshake as soon as a connection is accepted."),
    Setting::new("ciphers", Ssl, &["--ciphers"], Str, D::None,
        "TLS cipher suites, as an OpenSSL cipher list."),
    // HTTP/2
    Setting::new("http_protocols", Http2, &["--http-protocols"], Str, D::Str("h1"),
        "Comma-separated HTTP versions to offer, preferred first: h1, h2."),
    Setting::new("http2_cleartext", Http2, &["--http2-cleartext"], Str, D::Str("off"),
        "HTTP/2 without TLS (h2c) for trusted peers: off, prior-knowledge, upgrade or both."),
    Setting::new("http2_max_concurrent_streams", Http2, &["--http2-max-concurrent-streams"],
        Int, D::Int(100), "Most concurrent HTTP/2 streams on one connection."),
    Setting::new("http2_initial_window_size", Http2, &["--http2-initial-window-size"], Int,
        D::Int(65535), "Initial HTTP/2 flow-control window, in bytes."),
    Setting::new("http2_max_frame_size", Http2, &["--http2-max-frame-size"], Int,
        D::Int(16384), "Largest HTTP/2 frame payload, in bytes."),
    Setting::new("http2_max_header_list_size", Http2, &["--http2-max-header-list-size"], Int,
        D::Int(65536), "Largest HTTP/2 header list, in bytes."),
    // Server Mechanics (continued)
    Setting::new("raw_paste_global_conf", ServerMechanics, &["--paste-global"], List,
        D::List(&[]), "PasteDeploy global variable as KEY=VALUE; repeatable.").meta("CONF"),
    Setting::new("permit_obsolete_folding", ServerMechanics, &["--permit-obsolete-folding"],
        Flag, D::Bool(false), "Accept header values folded over several lines (obs-fold).")
        .implemented(),
    Setting::new("strip_header_spaces", ServerMechanics, &["--strip-header-spaces"], Flag,
        D::Bool(false), "Accept spaces between a header name and its colon (unsafe).")
        .implemented(),
    Setting::new("permit_unconventional_http_method", ServerMechanics,
        &["--permit-unconventional-http-method"], Flag, D::Bool(false),
        "Accept methods that are lowercase, contain #, or are shorter than 3 or longer than 20.")
        .implemented(),
    Setting::new("permit_unconventional_http_version", ServerMechanics,
        &["--permit-unconventional-http-version"], Flag, D::Bool(false),
        "Accept HTTP versions other than 1.0 and 1.1 in the request line.")
        .implemented(),
    Setting::new("casefold_http_method", ServerMechanics, &["--casefold-http-method"], Flag,
        D::Bool(false), "Uppercase request methods before handing them to the application.")
        .implemented(),
    Setting::new("forwarder_headers", ServerMechanics, &["--forwarder-headers"], Str,
        D::Str("SCRIPT_NAME,PATH_INFO"),
        "Comma-separated underscore headers a trusted proxy may pass into the environ.")
        .implemented(),
    Setting::new("header_map", ServerMechanics, &["--header-map"], Str, D::Str("drop"),
        "What to do with header names containing _: drop, refuse or dangerous.")
        .implemented(),
    // Worker Processes (continued)
    Setting::new("asgi_loop", WorkerProcesses, &["--asgi-loop"], Str, D::Str("auto"),
        "Event loop of the asgi worker: auto, asyncio or uvloop."),
    Setting::new("asgi_lifespan", WorkerProcesses, &["--asgi-lifespan"], Str, D::Str("auto"),
        "ASGI lifespan events: auto, on or off."),
    Setting::new("asgi_disconnect_grace_period", WorkerProcesses,
        &["--asgi-disconnect-grace-period"], Int, D::Int(3),
        "Seconds an ASGI application gets to react to a client disconnect."),
    Setting::new("websocket_max_message_size", WorkerProcesses,
        &["--websocket-max-message-size"], Int, D::Int(16_777_216),
        "Largest WebSocket message the asgi worker accepts, in bytes."),
    Setting::new("http_parser", WorkerProcesses, &["--http-parser"], Str, D::Str("auto"),
        "Which HTTP parser gunicorn uses: auto, fast or python."),
    // Server Mechanics (continued)
    Setting::new("root_path", ServerMechanics, &["--root-path"], Str, D::Str(""),
        "Path the ASGI application is mounted under (ASGI root_path)."),
    // Dirty Arbiters
    Setting::new("dirty_apps", DirtyArbiters, &["--dirty-app"], List, D::List(&[]),
        "Dirty application as MODULE:CLASS or MODULE:CLASS:N; repeatable."),
    Setting::new("dirty_workers", DirtyArbiters, &["--dirty-workers"], Int, D::Int(0),
        "Number of dirty worker processes."),
    Setting::new("dirty_timeout", DirtyArbiters, &["--dirty-timeout"], Int, D::Int(300),
        "Seconds a dirty task may run."),
    Setting::new("dirty_threads", DirtyArbiters, &["--dirty-threads"], Int, D::Int(1),
        "Threads per dirty worker."),
    Setting::new("dirty_graceful_timeout", DirtyArbiters, &["--dirty-graceful-timeout"], Int,
        D::Int(30), "Seconds a dirty worker gets to finish when asked to stop."),
    // Dirty Arbiter Hooks
    Setting::new("on_dirty_starting", DirtyArbiterHooks, &[], Hook, D::Computed("does nothing"),
        "on_dirty_starting(arbiter): before the dirty arbiter initializes."),
    Setting::new("dirty_post_fork", DirtyArbiterHooks, &[], Hook, D::Computed("does nothing"),
        "dirty_post_fork(arbiter, worker): right after a dirty worker is forked."),
    Setting::new("dirty_worker_init", DirtyArbiterHooks, &[], Hook,
        D::Computed("does nothing"),
        "dirty_worker_init(worker): once a dirty worker has loaded its applications."),
    Setting::new("dirty_worker_exit", DirtyArbiterHooks, &[], Hook,
        D::Computed("does nothing"), "dirty_worker_exit(arbiter, worker): when a dirty worker exits."),
    // Control
    Setting::new("control_socket", Control, &["--control-socket"], Str,
        D::Computed("$XDG_RUNTIME_DIR/gunicorn.ctl, else $HOME/.gunicorn/gunicorn.ctl"),
        "Unix socket of the control interface (used by gunicornc).").meta("PATH")
        .env(&["XDG_RUNTIME_DIR", "HOME"]),
    Setting::new("control_socket_mode", Control, &["--control-socket-mode"], AutoInt,
        D::Int(0o600), "File mode of the control socket."),
    Setting::new("control_socket_disable", Control, &["--no-control-socket"], Flag,
        D::Bool(false), "Do not open the control socket (gunicorn-rs never opens one).")
        .implemented(),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn has_all_120_settings_with_unique_names_and_flags() {
        let gunicorn = || SETTINGS.iter().filter(|s| !s.extension);
        assert_eq!(gunicorn().count(), 120);
        let ours: Vec<_> = SETTINGS
            .iter()
            .filter(|s| s.extension)
            .map(|s| s.name)
            .collect();
        assert_eq!(
            ours,
            [
                "max_worker_memory",
                "max_worker_lifetime",
                "header_timeout",
                "body_timeout",
                "body_buffer_size",
                "max_body_size",
                "response_buffer_size",
                "access_log_json"
            ]
        );
        let mut names = HashSet::new();
        let mut flags = HashSet::new();
        for s in SETTINGS {
            assert!(names.insert(s.name), "duplicate setting {}", s.name);
            for f in s.flags {
                assert!(flags.insert(*f), "duplicate flag {f}");
            }
        }
        // gunicorn: 95 settings have flags, 25 are config-file only.
        assert_eq!(gunicorn().filter(|s| !s.flags.is_empty()).count(), 95);
        assert_eq!(SETTINGS.iter().filter(|s| s.kind == Hook).count(), 20);
    }

    #[test]
    fn flags_are_well_formed() {
        for s in SETTINGS {
            for (i, f) in s.flags.iter().enumerate() {
                let short = f.len() == 2 && f.starts_with('-') && !f.starts_with("--");
                let long = f.len() > 3 && f.starts_with("--");
                assert!(short || long, "{}: bad flag {f}", s.name);
                // Shorts come first, so the help reads `-w, --workers`.
                assert!(!short || i == 0, "{}: short flag not first", s.name);
            }
            let config_only = matches!(s.kind, Hook | Dict);
            assert!(!config_only || s.flags.is_empty(), "{} has flags", s.name);
            assert!(
                !s.help.is_empty() && !s.help.contains('\n'),
                "{}: help",
                s.name
            );
            if !s.flags.is_empty() {
                assert_eq!(s.kind.takes_value(), !s.meta.is_empty(), "{}: meta", s.name);
            }
        }
    }

    #[test]
    fn keeps_gunicorns_odd_spellings() {
        assert_eq!(
            find_flag("--limit-request-field_size").map(|s| s.name),
            Some("limit_request_field_size")
        );
        assert_eq!(find_flag("--log-file").map(|s| s.name), Some("errorlog"));
        assert_eq!(find_flag("--paster").map(|s| s.name), Some("paste"));
        assert_eq!(find_flag("--no-sendfile").map(|s| s.name), Some("sendfile"));
        assert_eq!(
            find("proxy_protocol").map(|s| s.kind),
            Some(OptionalValue { missing: "auto" })
        );
        assert_eq!(
            find_flag("-w").map(|s| s.display_flags()),
            Some("-w/--workers".to_string())
        );
    }

    /// Nothing a user sets through the environment is silently dropped:
    /// every setting with an environment fallback is implemented, except
    /// the control socket's path, which gunicorn-rs never opens.
    #[test]
    fn environment_fallbacks_are_honoured() {
        for s in SETTINGS.iter().filter(|s| !s.env.is_empty()) {
            assert!(
                s.status == Status::Implemented || s.name == "control_socket",
                "{} reads {:?} but is not implemented",
                s.name,
                s.env
            );
        }
        let with_env: Vec<_> = SETTINGS
            .iter()
            .filter(|s| !s.env.is_empty())
            .map(|s| s.name)
            .collect();
        assert_eq!(
            with_env,
            [
                "bind",
                "workers",
                "sendfile",
                "forwarded_allow_ips",
                "control_socket"
            ]
        );
    }

    #[test]
    fn implemented_settings() {
        let implemented: Vec<_> = SETTINGS
            .iter()
            .filter(|s| s.status == Status::Implemented)
            .map(|s| s.name)
            .collect();
        assert_eq!(
            implemented,
            [
                "config",
                "wsgi_app",
                "bind",
                "backlog",
                "workers",
                "worker_class",
                "threads",
                "worker_connections",
                "max_requests",
                "max_requests_jitter",
                "max_worker_memory",
                "max_worker_lifetime",
                "timeout",
                "graceful_timeout",
                "keepalive",
                "limit_request_line",
                "limit_request_fields",
                "limit_request_field_size",
                "header_timeout",
                "body_timeout",
                "body_buffer_size",
                "max_body_size",
                "response_buffer_size",
                "reload",
                "reload_engine",
                "reload_extra_files",
                "check_config",
                "print_config",
                "preload_app",
                "sendfile",
                "reuse_port",
                "chdir",
                "daemon",
                "raw_env",
                "pidfile",
                "worker_tmp_dir",
                "user",
                "group",
                "umask",
                "initgroups",
                "forwarded_allow_ips",
                "accesslog",
                "disable_redirect_access_to_syslog",
                "access_log_format",
                "access_log_json",
                "errorlog",
                "loglevel",
                "capture_output",
                "logconfig",
                "logconfig_dict",
                "logconfig_json",
                "syslog_addr",
                "syslog",
                "syslog_prefix",
                "syslog_facility",
                "enable_stdio_inheritance",
                "statsd_host",
                "dogstatsd_tags",
                "statsd_prefix",
                "enable_backlog_metric",
                "proc_name",
                "pythonpath",
                "on_starting",
                "on_reload",
                "when_ready",
                "pre_fork",
                "post_fork",
                "post_worker_init",
                "worker_int",
                "worker_abort",
                "pre_exec",
                "pre_request",
                "post_request",
                "child_exit",
                "worker_exit",
                "nworkers_changed",
                "on_exit",
                "proxy_protocol",
                "proxy_allow_ips",
                "protocol",
                "uwsgi_allow_ips",
                "permit_obsolete_folding",
                "strip_header_spaces",
                "permit_unconventional_http_method",
                "permit_unconventional_http_version",
                "casefold_http_method",
                "forwarder_headers",
                "header_map",
                "control_socket_disable",
            ]
        );
    }
}
