//! `--log-config-json` and `--log-config`: gunicorn's `gunicorn.error` and
//! `gunicorn.access` records go through Python's logging, formatted by the
//! user's configuration.

mod common;

use common::{Launch, WAIT, scratch, wait_until};
use serde_json::Value;

const JSON_CONFIG: &str = r#"{
  "root": {"level": "WARNING", "handlers": []},
  "formatters": {"json": {"()": "logs_app.JsonFormatter"}},
  "handlers": {"out": {"class": "logging.StreamHandler", "formatter": "json",
                       "stream": "ext://sys.stdout"}},
  "loggers": {
    "gunicorn.error": {"level": "INFO", "handlers": ["out"], "propagate": false},
    "gunicorn.access": {"level": "INFO", "handlers": ["out"], "propagate": false}
  }
}"#;

/// Every stdout line, parsed; panics on a line that is not JSON.
fn json_lines(server: &common::Server) -> Vec<Value> {
    server
        .stdout_lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

#[test]
fn dict_config_from_json_formats_both_loggers() {
    let dir = scratch("logconfig-json");
    let path = dir.join("logging.json");
    std::fs::write(&path, JSON_CONFIG).unwrap();
    let server =
        Launch::new(&["--log-config-json", path.to_str().unwrap(), "logs_app:app"]).spawn();
    assert_json_logging(&server);
}

/// A config file's `logconfig_dict` (Django-style), which gunicorn prefers
/// over `--log-config-json` and `--log-config`.
#[test]
fn logconfig_dict_in_a_config_file_formats_both_loggers_and_wins() {
    let dir = scratch("logconfig-dict");
    let conf = dir.join("gunicorn.conf.py");
    let quote = "\"\"\"";
    std::fs::write(
        &conf,
        format!("import json\nlogconfig_dict = json.loads({quote}{JSON_CONFIG}{quote})\n"),
    )
    .unwrap();
    let ini = dir.join("logging.ini");
    std::fs::write(&ini, "this is not an ini file, and is never read\n").unwrap();
    let server = Launch::new(&[
        "-c",
        conf.to_str().unwrap(),
        "--log-config",
        ini.to_str().unwrap(),
        "logs_app:app",
    ])
    .spawn();
    assert_json_logging(&server);
}

/// Both loggers write JSON lines to stdout through the configuration of
/// `JSON_CONFIG`, and nothing reaches the native error log.
fn assert_json_logging(server: &common::Server) {
    let listening = wait_until(WAIT, || {
        json_lines(server).into_iter().find(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Listening at: "))
        })
    })
    .unwrap_or_else(|| panic!("{:?}\n{}", server.stdout_lines(), server.log_text()));
    assert_eq!(listening["logger"], "gunicorn.error");
    assert_eq!(listening["level"], "INFO");
    let port: u16 = listening["message"]
        .as_str()
        .and_then(|m| m.split("http://127.0.0.1:").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("port");
    let mut s = common::connect(port);
    std::io::Write::write_all(
        &mut s,
        b"GET /hello HTTP/1.1\r\nHost: x\r\nUser-Agent: probe/1\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let resp = common::read_response(&mut s).unwrap();
    assert_eq!(resp.status, 200);

    let access = wait_until(WAIT, || {
        json_lines(server)
            .into_iter()
            .find(|v| v["logger"] == "gunicorn.access")
    })
    .unwrap_or_else(|| panic!("{:?}", server.stdout_lines()));
    // The access record: msg % atoms as the message, the atoms as args.
    let message = access["message"].as_str().unwrap();
    assert!(
        message.starts_with("127.0.0.1 - - [")
            && message.ends_with("] \"GET /hello HTTP/1.1\" 200 2 \"-\" \"probe/1\""),
        "{message}"
    );
    assert_eq!(access["status"], "200");
    assert_eq!(access["method"], "GET");
    assert_eq!(access["agent"], "probe/1");
    assert_eq!(access["nothing"], "-");
    // Nothing goes to the native error log while Python has it.
    assert!(
        !server.log_text().contains("[INFO]"),
        "{}",
        server.log_text()
    );
}

#[test]
fn file_config_keeps_gunicorns_handlers_for_unlisted_loggers() {
    let dir = scratch("logconfig-ini");
    let path = dir.join("logging.ini");
    let access = dir.join("access.log");
    std::fs::write(
        &path,
        "[loggers]\nkeys=root,access\n\n\
         [handlers]\nkeys=file\n\n\
         [formatters]\nkeys=plain\n\n\
         [logger_root]\nlevel=WARNING\nhandlers=\n\n\
         [logger_access]\nlevel=INFO\nhandlers=file\npropagate=0\nqualname=gunicorn.access\n\n\
         [handler_file]\nclass=FileHandler\nformatter=plain\nargs=('%(here)s/access.log',)\n\n\
         [formatter_plain]\nformat=ACCESS %(message)s\n",
    )
    .unwrap();
    let server = Launch::new(&["--log-config", path.to_str().unwrap(), "logs_app:app"]).start();
    assert_eq!(server.get("/x").status, 200);
    let text = wait_until(WAIT, || {
        std::fs::read_to_string(&access)
            .ok()
            .filter(|t| t.contains("GET /x"))
    })
    .unwrap_or_else(|| panic!("{}", server.log_text()));
    assert!(text.starts_with("ACCESS 127.0.0.1 - - ["), "{text}");
    // gunicorn.error is not in the file: gunicorn's own stderr handler
    // and format stay.
    assert!(
        server
            .log_text()
            .contains("[INFO] Booting worker with pid: "),
        "{}",
        server.log_text()
    );
}

#[test]
fn a_broken_config_stops_the_server_with_its_message() {
    let dir = scratch("logconfig-bad");
    let path = dir.join("logging.json");
    std::fs::write(
        &path,
        r#"{"handlers": {"h": {"class": "no.such.Handler"}}}"#,
    )
    .unwrap();
    let mut server =
        Launch::new(&["--log-config-json", path.to_str().unwrap(), "logs_app:app"]).spawn();
    let status = server.wait_exit(WAIT).expect("exits");
    assert_eq!(status.code(), Some(1));
    assert!(
        server
            .wait_for(WAIT, |l| l.contains("Unable to configure handler 'h'"))
            .is_some(),
        "{}",
        server.log_text()
    );

    let mut server =
        Launch::new(&["--log-config", "/nonexistent/logging.ini", "logs_app:app"]).spawn();
    let status = server.wait_exit(WAIT).expect("exits");
    assert_eq!(status.code(), Some(1));
    assert!(
        server
            .wait_for(WAIT, |l| l
                .contains("log config '/nonexistent/logging.ini' not found"))
            .is_some(),
        "{}",
        server.log_text()
    );
}
