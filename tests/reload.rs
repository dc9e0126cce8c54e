//! `--reload` through the real binary: editing a module, an extra file
//! matched by a glob, a syntax error and its fix, with both engines.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;

use common::{Launch, Server, WAIT, read_response, scratch, wait_until};

const ENGINES: [&str; 2] = ["poll", "inotify"];

/// A WSGI module answering 200 with `body`.
fn app_source(body: &str) -> String {
    format!(
        "def app(environ, start_response):\n    body = {body:?}.encode()\n    start_response(\"200 OK\", [(\"Content-Length\", str(len(body)))])\n    return [body]\n"
    )
}

/// `GET /` as (status, body), or None while no worker answers.
fn try_get(server: &Server) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).ok()?;
    s.set_read_timeout(Some(WAIT)).ok()?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let r = read_response(&mut s).ok()?;
    Some((r.status, r.text()))
}

/// Wait (bounded) until `GET /` answers `status` with a body containing `needle`.
fn wait_answer(server: &Server, status: u16, needle: &str) -> String {
    wait_until(WAIT, || {
        try_get(server).and_then(|(s, body)| (s == status && body.contains(needle)).then_some(body))
    })
    .unwrap_or_else(|| {
        panic!(
            "no {status} with {needle:?}; last answer {:?}; log:\n{}",
            try_get(server),
            server.log_text()
        )
    })
}

/// A scratch directory holding `app.py` that answers `body`.
fn project(name: &str, body: &str) -> std::path::PathBuf {
    let dir = scratch(name);
    std::fs::write(dir.join("app.py"), app_source(body)).unwrap();
    dir
}

fn start(dir: &Path, engine: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--reload", "--reload-engine", engine];
    args.extend_from_slice(extra);
    args.push("app:app");
    Launch::new(&args).cwd(dir).start()
}

#[test]
fn editing_the_app_module_serves_the_new_code() {
    for engine in ENGINES {
        let dir = project(&format!("reload-edit-{engine}"), "first");
        let server = start(&dir, engine, &[]);
        assert_eq!(try_get(&server), Some((200, "first".to_string())));
        std::fs::write(dir.join("app.py"), app_source("second")).unwrap();
        wait_answer(&server, 200, "second");
        let line = format!(
            "Worker reloading: {} modified",
            dir.join("app.py").display()
        );
        assert!(server.count(&line) >= 1, "{engine}: {}", server.log_text());
        // The old worker left gracefully (no error), and one worker remains.
        assert!(
            !server.log_text().contains("exited with code"),
            "{}",
            server.log_text()
        );
        server.wait_workers(1, WAIT);
    }
}

#[test]
fn a_changed_extra_file_matched_by_a_glob_restarts_the_worker() {
    for engine in ENGINES {
        let dir = project(&format!("reload-extra-{engine}"), "same");
        std::fs::create_dir_all(dir.join("conf/sub")).unwrap();
        let conf = dir.join("conf/sub/settings.json");
        std::fs::write(&conf, "{}").unwrap();
        let server = start(&dir, engine, &["--reload-extra-file", "conf/**/*.json"]);
        let before = server.wait_workers(1, WAIT)[0];
        assert_eq!(try_get(&server), Some((200, "same".to_string())));
        std::fs::write(&conf, "{\"debug\": true}").unwrap();
        let line = format!("Worker reloading: {} modified", conf.display());
        assert!(
            server.wait_for(WAIT, |l| l.contains(&line)).is_some(),
            "{engine}: {}",
            server.log_text()
        );
        let replaced = wait_until(WAIT, || {
            let w = server.workers();
            (w.len() == 1 && w[0] != before).then_some(())
        });
        assert!(replaced.is_some(), "{engine}: {}", server.log_text());
        wait_answer(&server, 200, "same");
    }
}

#[test]
fn a_syntax_error_is_served_as_a_500_traceback_until_fixed() {
    for engine in ENGINES {
        let dir = project(&format!("reload-syntax-{engine}"), "good");
        let server = start(&dir, engine, &[]);
        assert_eq!(try_get(&server), Some((200, "good".to_string())));
        std::fs::write(dir.join("app.py"), "def app(environ, start_response:\n").unwrap();
        let body = wait_answer(&server, 500, "SyntaxError");
        assert!(
            body.contains(&format!(
                "File \"{}\", line 1",
                dir.join("app.py").display()
            )),
            "{engine}: {body}"
        );
        // The worker kept running (no exit 3, the master did not stop).
        assert!(
            !server.log_text().contains("Worker failed to boot"),
            "{}",
            server.log_text()
        );
        std::fs::write(dir.join("app.py"), app_source("fixed")).unwrap();
        wait_answer(&server, 200, "fixed");
    }
}

#[test]
fn with_preload_the_worker_restarts_but_keeps_the_masters_code() {
    let dir = project("reload-preload", "preloaded");
    let server = start(&dir, "auto", &["--preload"]);
    let before = server.wait_workers(1, WAIT)[0];
    // Serving: the worker's reloader has its baseline.
    assert_eq!(try_get(&server), Some((200, "preloaded".to_string())));
    std::fs::write(dir.join("app.py"), app_source("edited")).unwrap();
    assert!(
        server
            .wait_for(WAIT, |l| l.contains("Worker reloading:"))
            .is_some(),
        "{}",
        server.log_text()
    );
    let replaced = wait_until(WAIT, || {
        let w = server.workers();
        (w.len() == 1 && w[0] != before).then_some(())
    });
    assert!(replaced.is_some(), "{}", server.log_text());
    assert_eq!(try_get(&server), Some((200, "preloaded".to_string())));
    assert!(
        server.log_text().contains("(--preload)"),
        "{}",
        server.log_text()
    );
}

#[test]
fn a_missing_module_is_served_as_a_500_until_created() {
    for engine in ENGINES {
        let dir = scratch(&format!("reload-missing-{engine}"));
        let server = start(&dir, engine, &[]);
        let body = wait_answer(&server, 500, "No module named 'app'");
        assert!(body.contains("ModuleNotFoundError"), "{engine}: {body}");
        std::fs::write(dir.join("app.py"), app_source("created")).unwrap();
        wait_answer(&server, 200, "created");
    }
}
