//! The pip path: the wheel `pyproject.toml` builds (maturin, `bindings =
//! "bin"`) installs `gunicorn-rs` into a venv's `bin/`, and that binary,
//! started with an empty environment, serves a Flask app from that venv.
//!
//! The wheel is built the way `examples/deploy/Dockerfile`'s build stage
//! builds it, from the files that stage copies and with its `maturin`
//! command (no Docker engine runs here): a file the build needs and the
//! Dockerfile forgets fails this test.

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Launch;

/// Run `cmd` to its end within `limit`, its output in `log`; panics with
/// the output's tail if it fails or runs over.
fn run(cmd: &mut Command, what: &str, log: &Path, limit: Duration) {
    let out = File::create(log).unwrap();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = common::wait_until(limit, || child.try_wait().unwrap());
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    if status.is_none_or(|s| !s.success()) {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!("{what} failed ({status:?}):\n{}", tail.join("\n"));
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Copy a file or a folder's tree.
fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    }
}

/// The Dockerfile's build stage, without Docker: its `COPY --from=gunicorn-rs
/// SRC... DEST` lines are done into `context`, and its `RUN maturin build`
/// arguments returned, `--out` and its folder left off.
fn dockerfile_build_stage(context: &Path) -> Vec<String> {
    let dockerfile = repo().join("examples/deploy/Dockerfile");
    let text = std::fs::read_to_string(&dockerfile).unwrap();
    let mut maturin = None;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["COPY", "--from=gunicorn-rs", sources @ .., dest] => {
                // Docker's rules: a folder's contents go into DEST; files
                // go into DEST when it ends with `/` or there are several.
                let into = dest.ends_with('/') || sources.len() > 1;
                let dest = context.join(dest.trim_start_matches("./"));
                for source in sources {
                    let from = repo().join(source);
                    let target = if into && !from.is_dir() {
                        dest.join(source)
                    } else {
                        dest.clone()
                    };
                    copy_tree(&from, &target);
                }
            }
            ["RUN", "maturin", "build", args @ ..] => {
                let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
                let out = args.iter().position(|a| a == "--out").expect("--out");
                maturin = Some([&args[..out], &args[out + 2..]].concat());
            }
            _ => {}
        }
    }
    maturin.expect("the Dockerfile builds the wheel with `RUN maturin build`")
}

#[test]
fn a_wheel_installed_into_a_fresh_venv_serves_flask_with_nothing_activated() {
    let scratch = common::scratch("pip");
    let wheels = scratch.join("wheels");
    let context = scratch.join("context");
    std::fs::create_dir_all(&context).unwrap();
    let args = dockerfile_build_stage(&context);
    // Builds in release mode; its own target folder, kept between runs.
    run(
        Command::new(common::test_venv().join("bin/maturin"))
            .arg("build")
            .args(&args)
            .arg("--out")
            .arg(&wheels)
            .current_dir(&context)
            .env("CARGO_TARGET_DIR", repo().join("target/wheel")),
        "maturin build",
        &scratch.join("build.log"),
        Duration::from_secs(900),
    );
    let wheel = std::fs::read_dir(&wheels)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .expect("a wheel");

    let venv = scratch.join("venv");
    run(
        Command::new("python3").arg("-m").arg("venv").arg(&venv),
        "python3 -m venv",
        &scratch.join("venv.log"),
        Duration::from_secs(120),
    );
    run(
        Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "flask==3.1.3",
            ])
            .arg(&wheel),
        "pip install",
        &scratch.join("pip.log"),
        Duration::from_secs(300),
    );
    let bin = venv.join("bin/gunicorn-rs");
    assert!(bin.exists(), "pip put no gunicorn-rs in {}", venv.display());

    let site = scratch.join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(
        site.join("myapp.py"),
        "import sys\nimport flask\n\napp = flask.Flask(__name__)\n\n\n\
         @app.route('/')\ndef index():\n    return 'flask %s in %s' % (flask.__version__, sys.prefix)\n",
    )
    .unwrap();
    // `env -i`: no PATH, no VIRTUAL_ENV; the binary finds its venv itself.
    let mut cmd = Command::new(&bin);
    cmd.env_clear()
        .args(["-b", "127.0.0.1:0", "myapp:app"])
        .current_dir(&site);
    let server = Launch::command(cmd).start();
    let resp = server.get("/");
    assert_eq!(resp.status, 200, "{}", server.log_text());
    let venv = venv.canonicalize().unwrap();
    assert_eq!(resp.text(), format!("flask 3.1.3 in {}", venv.display()));
}
