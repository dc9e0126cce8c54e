//! Config files through the binary: `./gunicorn.conf.py` by default, `-c
//! PATH`, `file:PATH`, `python:MODULE`, `.toml`; precedence against
//! `GUNICORN_CMD_ARGS` and the command line; gunicorn's error messages;
//! `wsgi_app`; `--check-config` and `--print-config`; HUP re-reading the
//! file under load; and three config files in the style real deployments
//! use, run unchanged.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::load::Load;
use common::{Launch, Server, Signal, WAIT, apps_dir, scratch, wait_until};

/// A scratch directory holding `files` (name, contents).
fn dir_with(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = scratch(name);
    for (file, text) in files {
        std::fs::write(dir.join(file), text).expect("write a test file");
    }
    dir
}

fn apps() -> String {
    apps_dir().to_str().expect("utf-8 path").to_string()
}

/// `gunicorn-rs ARGS` run from `dir`, with tests/apps on the Python path.
fn launch_in(dir: &Path, args: &[&str]) -> Launch {
    let mut all = vec!["--pythonpath".to_string(), apps()];
    all.extend(args.iter().map(|a| a.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    Launch::new(&all).cwd(dir)
}

/// Run to completion (for runs that exit at once): status, stdout, stderr.
fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(common::BIN);
    cmd.args(["--pythonpath", &apps()])
        .args(args)
        .current_dir(dir)
        .env_remove("VIRTUAL_ENV")
        .env_remove("GUNICORN_CMD_ARGS")
        .env_remove("WEB_CONCURRENCY")
        .env_remove("PORT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn gunicorn-rs");
    // Read both streams to their end, so nothing written before exit is missed.
    let read_all = |mut stream: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stream.read_to_string(&mut text);
            text
        })
    };
    let out = read_all(Box::new(child.stdout.take().expect("stdout")));
    let err = read_all(Box::new(child.stderr.take().expect("stderr")));
    let status = wait_until(WAIT, || child.try_wait().ok().flatten());
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let text = |t: std::thread::JoinHandle<String>| t.join().unwrap_or_default();
    let (out, err) = (text(out), text(err));
    let status = status.unwrap_or_else(|| panic!("did not exit: {err}"));
    (
        status.code(),
        out.trim_end_matches('\n').to_string(),
        err.trim_end_matches('\n').to_string(),
    )
}

/// The server settles on `workers` workers, which see `layer` as
/// `$GRS_LAYER` (set with `-e`/`raw_env`).
fn assert_runs_with(server: &Server, workers: usize, layer: &str) {
    server.wait_workers(workers, WAIT);
    assert!(server.wait_count("Booting worker", workers, WAIT));
    assert_eq!(server.get("/env/GRS_LAYER").text(), layer);
    assert_eq!(
        server.count("Booting worker"),
        workers,
        "{}",
        server.log_text()
    );
}

#[test]
fn precedence_defaults_then_file_then_env_args_then_command_line() {
    let dir = dir_with(
        "cf-precedence",
        &[(
            "gunicorn.conf.py",
            "workers = 2\nraw_env = ['GRS_LAYER=file']\n",
        )],
    );
    let env_args = ("GUNICORN_CMD_ARGS", "-w 3 -e GRS_LAYER=env");
    let cli = ["-w", "4", "-e", "GRS_LAYER=cli", "whoami:app"];

    let all = launch_in(&dir, &cli).env(env_args.0, env_args.1).start();
    assert_runs_with(&all, 4, "cli");
    drop(all);

    let no_cli = launch_in(&dir, &["whoami:app"])
        .env(env_args.0, env_args.1)
        .start();
    assert_runs_with(&no_cli, 3, "env");
    drop(no_cli);

    let file_only = launch_in(&dir, &["whoami:app"]).start();
    assert_runs_with(&file_only, 2, "file");
    drop(file_only);

    std::fs::remove_file(dir.join("gunicorn.conf.py")).expect("remove the file");
    let defaults = launch_in(&dir, &["whoami:app"]).start();
    assert_runs_with(&defaults, 1, "<unset>");
    drop(defaults);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn config_file_named_as_path_file_or_python_module() {
    let dir = dir_with(
        "cf-forms",
        &[
            ("conf_a.py", "raw_env = ['GRS_LAYER=path']\n"),
            ("conf_b.py", "raw_env = ['GRS_LAYER=file-prefix']\n"),
            ("conf_mod.py", "raw_env = ['GRS_LAYER=module']\n"),
            // Ignored: -c names another file.
            ("gunicorn.conf.py", "raw_env = ['GRS_LAYER=default']\n"),
            // Any extension runs as Python, with gunicorn's warning.
            ("settings.cfg", "raw_env = ['GRS_LAYER=cfg']\n"),
        ],
    );
    for (config, expected) in [
        ("conf_a.py", "path"),
        ("file:conf_b.py", "file-prefix"),
        ("python:conf_mod", "module"),
        ("settings.cfg", "cfg"),
    ] {
        let server = launch_in(&dir, &["-c", config, "whoami:app"]).start();
        assert_eq!(server.get("/env/GRS_LAYER").text(), expected, "{config}");
        if config == "settings.cfg" {
            assert!(
                server.log_text().contains(
                    "!!! WARNING: configuration file should have a valid Python extension."
                ),
                "{}",
                server.log_text()
            );
        }
    }
    // -c in GUNICORN_CMD_ARGS counts when the command line has none.
    let server = launch_in(&dir, &["whoami:app"])
        .env("GUNICORN_CMD_ARGS", "-c conf_a.py")
        .start();
    assert_eq!(server.get("/env/GRS_LAYER").text(), "path");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn toml_config_file() {
    let dir = dir_with(
        "cf-toml",
        &[
            (
                "gunicorn.toml",
                "workers = 2\nraw_env = [\"GRS_LAYER=toml\"]\npreload_app = true\n\
                 keepalive = \"5\"\nspew = false\n",
            ),
            ("hooks.toml", "on_starting = \"os.getcwd\"\n"),
            ("bad.toml", "workers = [\n"),
            ("badvalue.toml", "workers = 2.5\n"),
        ],
    );
    let server = launch_in(&dir, &["-c", "gunicorn.toml", "whoami:app"]).start();
    assert_runs_with(&server, 2, "toml");
    drop(server);

    let (code, _, err) = run_in(&dir, &["-c", "hooks.toml", "whoami:app"], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("on_starting in hooks.toml: server hooks are Python functions"),
        "{err}"
    );
    let (code, _, err) = run_in(&dir, &["-c", "bad.toml", "whoami:app"], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.starts_with("Failed to read config file: bad.toml\n"),
        "{err}"
    );
    let (code, _, err) = run_in(&dir, &["-c", "badvalue.toml", "whoami:app"], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        err,
        "Invalid value for workers: 2.5\n\n\nError: int() can't convert non-string with explicit base"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn invalid_values_and_failing_files_exit_1_with_gunicorns_messages() {
    let dir = dir_with(
        "cf-errors",
        &[
            ("word.py", "workers = 'abc'\n"),
            ("negative.py", "workers = -1\n"),
            ("notalist.py", "bind = 8000\n"),
            ("notstring.py", "accesslog = 5\n"),
            ("notbool.py", "preload_app = 'maybe'\n"),
            ("notcallable.py", "post_fork = 3\n"),
            ("arity.py", "def on_starting(a, b):\n    pass\n"),
            ("raises.py", "import os\n\nraise ValueError('boom')\n"),
            ("unsupported.py", "keyfile = 'server.key'\n"),
            ("worker.py", "worker_class = 'gevent'\n"),
        ],
    );
    let expect = |file: &str, text: &str| {
        let (code, _, err) = run_in(&dir, &["-c", file, "whoami:app"], &[]);
        assert_eq!((code, err.as_str()), (Some(1), text), "{file}");
    };
    expect(
        "word.py",
        "Invalid value for workers: abc\n\n\nError: invalid literal for int() with base 0: 'abc'",
    );
    expect(
        "negative.py",
        "Invalid value for workers: -1\n\n\nError: Value must be positive: -1",
    );
    expect(
        "notalist.py",
        "Invalid value for bind: 8000\n\n\nError: 'int' object is not iterable",
    );
    expect(
        "notstring.py",
        "Invalid value for accesslog: 5\n\n\nError: Not a string: 5",
    );
    expect(
        "notbool.py",
        "Invalid value for preload_app: maybe\n\n\nError: Invalid boolean: maybe",
    );
    expect(
        "notcallable.py",
        "Invalid value for post_fork: 3\n\n\nError: Value is not callable: 3",
    );
    let (code, _, err) = run_in(&dir, &["-c", "arity.py", "whoami:app"], &[]);
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with("Invalid value for on_starting: <function on_starting at ")
            && err.ends_with("\n\n\nError: Value must have an arity of: 1"),
        "{err}"
    );
    expect("nope.py", "Error: 'nope.py' doesn't exist");
    expect(
        "python:no_such_module",
        "Error: No module named 'no_such_module'",
    );
    expect(
        "unsupported.py",
        "Error: keyfile (in unsupported.py) is a gunicorn setting that gunicorn-rs \
         does not support yet",
    );
    expect(
        "worker.py",
        "Error: -k/--worker-class gevent is a gunicorn setting that gunicorn-rs does not \
         support yet",
    );

    let (code, _, err) = run_in(&dir, &["-c", "raises.py", "whoami:app"], &[]);
    assert_eq!(code, Some(1), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&"Failed to read config file: raises.py")
    );
    assert_eq!(lines.get(1), Some(&"Traceback (most recent call last):"));
    assert!(err.contains("raises.py\", line 3, in <module>"), "{err}");
    assert_eq!(lines.last(), Some(&"ValueError: boom"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn wsgi_app_stands_in_for_the_app_module() {
    let dir = dir_with(
        "cf-wsgi-app",
        &[("gunicorn.conf.py", "wsgi_app = 'whoami:app'\n")],
    );
    let server = launch_in(&dir, &[]).start();
    assert_eq!(server.get("/env/GRS_UNSET_X").text(), "<unset>");
    drop(server);
    // The command line's APP_MODULE wins.
    let server = launch_in(&dir, &["hello:application"]).start();
    assert_eq!(server.get("/").text(), "Hello, World!");
    drop(server);
    std::fs::write(dir.join("gunicorn.conf.py"), "workers = 1\n").expect("rewrite");
    let (code, _, err) = run_in(&dir, &[], &[]);
    assert_eq!(
        (code, err.as_str()),
        (Some(1), "Error: No application module specified.")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_config_and_print_config() {
    let dir = dir_with(
        "cf-check",
        &[(
            "gunicorn.conf.py",
            "workers = 3\nbind = ['127.0.0.1:0']\n\ndef on_starting(server):\n    pass\n",
        )],
    );
    let (code, out, err) = run_in(&dir, &["--check-config", "whoami:app"], &[]);
    assert_eq!((code, out.as_str(), err.as_str()), (Some(0), "", ""));

    let (code, _, err) = run_in(&dir, &["--check-config", "whoami:nothing"], &[]);
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with("\nError while loading the application:\n"),
        "{err}"
    );
    let (code, _, err) = run_in(&dir, &["--check-config", "broken:app"], &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("Traceback (most recent call last):"), "{err}");

    let (code, out, err) = run_in(&dir, &["--print-config", "-w", "5", "whoami:app"], &[]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let value = |name: &str| {
        lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_once(" = "))
            .map(|(_, v)| v.to_string())
    };
    assert_eq!(value("workers").as_deref(), Some("5"));
    assert_eq!(value("bind").as_deref(), Some("['127.0.0.1:0']"));
    assert_eq!(value("on_starting").as_deref(), Some("<on_starting()>"));
    assert_eq!(
        value("post_fork").as_deref(),
        Some("<Postfork.post_fork()>")
    );
    assert_eq!(value("print_config").as_deref(), Some("True"));
    assert_eq!(value("config").as_deref(), Some("./gunicorn.conf.py"));
    let names: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    assert!(names.len() >= 120, "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `GET /pid` over a unix socket, if it answers.
fn get_unix(path: &Path) -> Option<String> {
    let mut s = UnixStream::connect(path).ok()?;
    s.set_read_timeout(Some(WAIT)).ok()?;
    s.write_all(b"GET /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.starts_with("HTTP/1.1 200").then_some(out)
}

#[test]
fn hup_rereads_the_file_new_workers_and_binds_without_failing_a_request() {
    let dir = scratch("cf-hup");
    let sock = dir.join("s.sock");
    let conf = dir.join("gunicorn.conf.py");
    std::fs::write(
        &conf,
        "workers = 2\nbind = ['127.0.0.1:0']\nraw_env = ['GRS_LAYER=one']\n",
    )
    .expect("write");
    let server = launch_in(&dir, &["whoami:app"]).no_bind().start();
    server.wait_workers(2, WAIT);
    assert_eq!(server.get("/env/GRS_LAYER").text(), "one");

    // One address kept, one added, and one more worker, under load.
    let load = Load::start(server.port, "/pid", 6);
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(
        &conf,
        format!(
            "workers = 3\nbind = ['127.0.0.1:0', 'unix:{}']\nraw_env = ['GRS_OTHER=two']\n",
            sock.display()
        ),
    )
    .expect("rewrite");
    server.signal(Signal::SIGHUP);
    assert!(
        wait_until(WAIT, || get_unix(&sock)).is_some(),
        "{}",
        server.log_text()
    );
    server.wait_workers(3, WAIT);
    std::thread::sleep(Duration::from_millis(300));
    load.finish().assert_clean(20);
    // The TCP listener is the one from the start (same port), and the new
    // workers have the new --env, without the variables of the old one.
    assert_eq!(server.get("/env/GRS_OTHER").text(), "two");
    assert_eq!(server.get("/env/GRS_LAYER").text(), "<unset>");

    // A file that no longer loads: logged, the running configuration kept.
    std::fs::write(&conf, "workers = 'many'\n").expect("rewrite");
    server.signal(Signal::SIGHUP);
    assert!(
        server
            .wait_for(WAIT, |l| l.contains("running configuration is kept"))
            .is_some(),
        "{}",
        server.log_text()
    );
    assert!(
        server
            .log_text()
            .contains("Invalid value for workers: many")
    );
    server.wait_workers(3, WAIT);
    assert!(get_unix(&sock).is_some());

    // The TCP address dropped: closed once the old workers are gone.
    std::fs::write(
        &conf,
        format!("workers = 1\nbind = ['unix:{}']\n", sock.display()),
    )
    .expect("rewrite");
    server.signal(Signal::SIGHUP);
    let port = server.port;
    assert!(
        wait_until(WAIT, || std::net::TcpStream::connect(("127.0.0.1", port))
            .is_err()
            .then_some(()))
        .is_some(),
        "{}",
        server.log_text()
    );
    server.wait_workers(1, WAIT);
    assert!(get_unix(&sock).is_some(), "{}", server.log_text());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn hup_applies_env_args_and_command_line_over_the_new_file_as_at_start() {
    let dir = dir_with(
        "cf-hup-layers",
        &[(
            "gunicorn.conf.py",
            "workers = 1\nraw_env = ['GRS_LAYER=file']\n",
        )],
    );
    let server = launch_in(&dir, &["-e", "GRS_LAYER=cli", "whoami:app"])
        .env("GUNICORN_CMD_ARGS", "-w 2")
        .start();
    assert_runs_with(&server, 2, "cli");
    std::fs::write(
        dir.join("gunicorn.conf.py"),
        "workers = 4\nraw_env = ['GRS_LAYER=file2']\ntimeout = 10\n",
    )
    .expect("rewrite");
    let old = server.workers();
    server.signal(Signal::SIGHUP);
    let replaced = wait_until(WAIT, || {
        let w = server.workers();
        (w.len() == 2 && w.iter().all(|p| !old.contains(p))).then_some(())
    });
    assert!(replaced.is_some(), "{}", server.log_text());
    // Two at start, two after the HUP: -w 2 from GUNICORN_CMD_ARGS still wins.
    assert_eq!(server.count("Booting worker"), 4, "{}", server.log_text());
    assert_eq!(server.get("/env/GRS_LAYER").text(), "cli");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A Django project's gunicorn.conf.py, as deployment guides write them.
const DJANGO_CONF: &str = r#"
"""gunicorn configuration for the shop project."""
import multiprocessing
import os

wsgi_app = "django_app:application"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
timeout = 120
graceful_timeout = 30
keepalive = 5
max_requests = 1000
max_requests_jitter = 50
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)s'
raw_env = ["DJANGO_SETTINGS_MODULE=shop.settings"]
preload_app = False
forwarded_allow_ips = "*"
proc_name = "shop"

# Django-style logging: both gunicorn loggers through one formatter.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "verbose": {"format": "%(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "verbose",
            "stream": "ext://sys.stdout",
        },
    },
    "loggers": {
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

def post_fork(server, worker):
    server.log.info("Worker spawned (pid: %s)", worker.pid)

def worker_exit(server, worker):
    pass
"#;

/// A Flask app's config, with the hooks people copy from examples.
const FLASK_CONF: &str = r#"
import os

bind = ["127.0.0.1:0"]
workers = 2
threads = 1
timeout = 30
keepalive = 2
loglevel = "debug"
accesslog = "-"
capture_output = False
daemon = False
pidfile = None
umask = 0
user = None
group = None
tmp_upload_dir = None
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
secure_scheme_headers = {
    "X-FORWARDED-PROTOCOL": "ssl",
    "X-FORWARDED-PROTO": "https",
    "X-FORWARDED-SSL": "on",
}
reload = False
spew = False

def on_starting(server):
    pass

def when_ready(server):
    server.log.info("Server is ready. Spawning workers")

def pre_fork(server, worker):
    pass

def worker_int(worker):
    worker.log.info("worker received INT or QUIT signal")

def worker_abort(worker):
    worker.log.info("worker received SIGABRT signal")

def pre_request(worker, req):
    worker.log.debug("%s %s", req.method, req.path)

def post_request(worker, req, environ, resp):
    pass
"#;

/// A container / 12-factor config: everything from the environment.
const CONTAINER_CONF: &str = r#"
import multiprocessing
import os

bind = "0.0.0.0:" + os.environ.get("PORT", "8000")
workers = int(os.getenv("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = os.getenv("WORKER_CLASS", "sync")
timeout = int(os.getenv("TIMEOUT", "60"))
graceful_timeout = int(os.getenv("GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.getenv("KEEP_ALIVE", "5"))
max_requests = int(os.getenv("MAX_REQUESTS", "0"))
max_requests_jitter = int(os.getenv("MAX_REQUESTS_JITTER", "0"))
accesslog = "-"
errorlog = "-"
loglevel = os.getenv("LOG_LEVEL", "info")
forwarded_allow_ips = os.getenv("FORWARDED_ALLOW_IPS", "*")
proxy_allow_ips = "*"
raw_env = [f"APP_ENV={os.getenv('APP_ENV', 'production')}"]
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
control_socket_disable = True
statsd_host = os.getenv("STATSD_HOST")
statsd_prefix = os.getenv("STATSD_PREFIX", "web")
"#;

#[test]
fn a_django_style_config_file_runs_unchanged() {
    let dir = dir_with("cf-django", &[("gunicorn.conf.py", DJANGO_CONF)]);
    let server = launch_in(&dir, &[])
        .no_bind()
        .env("VIRTUAL_ENV", common::test_venv().to_str().expect("utf-8"))
        .env("WEB_CONCURRENCY", "2")
        .env("GUNICORN_BIND", "127.0.0.1:0")
        .start_logging_to_stdout();
    server.wait_workers(2, WAIT);
    let r = server.get("/hello/shop");
    assert_eq!(r.status, 200, "{}", server.log_text());
    assert!(r.text().contains("shop"));
    // The access log goes to stdout through the file's `logconfig_dict`,
    // in the file's access format (%(D)s last).
    let logged = wait_until(WAIT, || {
        server
            .stdout_lines()
            .into_iter()
            .find(|l| l.contains("\"GET /hello/shop HTTP/1.1\" 200"))
    })
    .expect("an access log line");
    assert!(
        logged.starts_with("INFO gunicorn.access 127.0.0.1 - - ["),
        "{logged}"
    );
    let micros = logged.rsplit(' ').next().unwrap_or_default();
    assert!(micros.parse::<u64>().is_ok(), "{logged}");
    // The post_fork hook logged through server.log, formatted the same way.
    let spawned = wait_until(WAIT, || {
        server
            .stdout_lines()
            .into_iter()
            .find(|l| l.starts_with("INFO gunicorn.error Worker spawned (pid: "))
    });
    assert!(spawned.is_some(), "{:?}", server.stdout_lines());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_flask_style_config_file_runs_unchanged() {
    let dir = dir_with("cf-flask", &[("gunicorn.conf.py", FLASK_CONF)]);
    let server = launch_in(&dir, &["flask_app:app"])
        .no_bind()
        .env("VIRTUAL_ENV", common::test_venv().to_str().expect("utf-8"))
        .start();
    server.wait_workers(2, WAIT);
    let r = server.get("/hello/flask?q=1");
    assert_eq!(r.status, 200, "{}", server.log_text());
    assert!(r.text().contains("\"name\":\"flask\""), "{}", r.text());
    assert!(server.log_text().contains("[DEBUG]"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_container_style_config_file_runs_unchanged() {
    let dir = dir_with("cf-container", &[("gunicorn.conf.py", CONTAINER_CONF)]);
    let statsd = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    statsd
        .set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .unwrap();
    let statsd_host = statsd.local_addr().unwrap().to_string();
    let server = launch_in(&dir, &["whoami:app"])
        .no_bind()
        .env("PORT", "0")
        .env("WEB_CONCURRENCY", "3")
        .env("APP_ENV", "staging")
        .env("STATSD_HOST", &statsd_host)
        .start();
    server.wait_workers(3, WAIT);
    assert_eq!(server.get("/env/APP_ENV").text(), "staging");
    assert!(server.log_text().contains("Listening at: http://0.0.0.0:"));
    // The request was counted under the file's StatsD prefix.
    let counted = wait_until(WAIT, || {
        let mut buf = [0u8; 512];
        let n = statsd.recv(&mut buf).ok()?;
        (&buf[..n] == b"web.gunicorn.requests:1|c|@1.0").then_some(())
    });
    assert!(counted.is_some(), "{}", server.log_text());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn false_logging_flags_in_a_config_file_stay_off() {
    // With syslog off, its address is never read (gunicorn checks it only
    // when the syslog handler is set up), so a bad one passes.
    let dir = dir_with(
        "cf-false-flags",
        &[
            (
                "off.py",
                "syslog = False\nsyslog_addr = 'bogus'\ncapture_output = False\n\
                 enable_backlog_metric = False\n",
            ),
            ("off.toml", "syslog = false\nsyslog_addr = 'bogus'\n"),
            ("on.py", "syslog = True\nsyslog_addr = 'bogus'\n"),
        ],
    );
    for file in ["off.py", "off.toml"] {
        let (code, _, err) = run_in(&dir, &["-c", file, "--check-config", "whoami:app"], &[]);
        assert_eq!((code, err.as_str()), (Some(0), ""), "{file}");
    }
    let (code, _, err) = run_in(&dir, &["-c", "on.py", "--check-config", "whoami:app"], &[]);
    assert_eq!(
        (code, err.as_str()),
        (Some(1), "Error: invalid syslog address")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn print_config_shows_the_logging_and_statsd_settings() {
    let dir = dir_with(
        "cf-print-logging",
        &[
            ("lc.ini", ""),
            ("lc.json", "{\"version\": 1}"),
            (
                "gunicorn.conf.py",
                "capture_output = True\ndisable_redirect_access_to_syslog = True\n\
                 logconfig = 'lc.ini'\nlogconfig_json = 'lc.json'\n\
                 logconfig_dict = {'version': 1}\n\
                 syslog_addr = 'udp://localhost:515'\nsyslog_facility = 'local0'\n\
                 syslog_prefix = 'pre'\nstatsd_host = 'Stats.Local:9125'\n\
                 statsd_prefix = 'px'\ndogstatsd_tags = 'a:b'\n\
                 enable_backlog_metric = True\n",
            ),
        ],
    );
    let (code, out, err) = run_in(&dir, &["--print-config", "whoami:app"], &[]);
    assert_eq!(code, Some(0), "{err}");
    let value = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_once(" = "))
            .map(|(_, v)| v.to_string())
    };
    // As gunicorn 27 prints them for this file.
    for (name, shown) in [
        ("capture_output", "True"),
        ("disable_redirect_access_to_syslog", "True"),
        ("logconfig", "lc.ini"),
        ("logconfig_json", "lc.json"),
        ("logconfig_dict", "{'version': 1}"),
        ("syslog", "False"),
        ("syslog_addr", "udp://localhost:515"),
        ("syslog_facility", "local0"),
        ("syslog_prefix", "pre"),
        ("statsd_host", "('stats.local', 9125)"),
        ("statsd_prefix", "px"),
        ("dogstatsd_tags", "a:b"),
        ("enable_backlog_metric", "True"),
    ] {
        assert_eq!(value(name).as_deref(), Some(shown), "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn default_config_file_in_a_directory_named_in_latin1() {
    use std::os::unix::ffi::OsStrExt;
    let parent = scratch("cf-latin1");
    let dir = parent.join(std::ffi::OsStr::from_bytes(b"caf\xe9"));
    std::fs::create_dir_all(&dir).expect("make the directory");
    std::fs::write(dir.join("gunicorn.conf.py"), "workers = 3\n").expect("write config");
    let (code, out, err) = run_in(&dir, &["--print-config", "whoami:app"], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("workers ") && l.ends_with(" = 3")),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&parent);
}

#[test]
fn config_file_imports_modules_beside_it_and_the_start_dir_stays_on_the_path() {
    let dir = dir_with(
        "cf-sibling",
        &[
            ("deploy_settings.py", "WORKERS = 3\n"),
            (
                "gunicorn.conf.py",
                "from deploy_settings import WORKERS\nworkers = WORKERS\n",
            ),
            ("startdirapp.py", "from whoami import app\n"),
        ],
    );
    let (code, out, err) = run_in(&dir, &["--print-config", "whoami:app"], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("workers ") && l.ends_with(" = 3")),
        "{out}"
    );
    // As gunicorn: the start directory is on sys.path before --chdir's.
    let elsewhere = scratch("cf-sibling-chdir");
    let chdir = elsewhere.to_str().expect("utf-8 path");
    let (code, _, err) = run_in(
        &dir,
        &["--chdir", chdir, "--check-config", "startdirapp:app"],
        &[],
    );
    assert_eq!((code, err.as_str()), (Some(0), ""));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&elsewhere);
}

#[test]
fn user_and_group_given_as_python_ints_or_bools_are_ids() {
    let dir = dir_with(
        "cf-bool-ids",
        &[("gunicorn.conf.py", "user = True\ngroup = False\n")],
    );
    let (code, out, err) = run_in(&dir, &["--print-config", "whoami:app"], &[]);
    assert_eq!(code, Some(0), "{err}");
    let value = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_once(" = "))
            .map(|(_, v)| v.to_string())
    };
    assert_eq!(value("user").as_deref(), Some("1"));
    assert_eq!(value("group").as_deref(), Some("0"));
    let _ = std::fs::remove_dir_all(&dir);
}
