//! Build script: tie the binary to the CPython it was built against.
//!
//! * RUNPATH to the build interpreter's LIBDIR, so the loader picks that
//!   libpython and not another one with the same SONAME from the ld cache
//!   (see ../shared/embedding.md §a).
//! * Bake the *base* interpreter path and its version into the binary, so a
//!   process started with no venv and a bare PATH still finds its stdlib.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    pyo3_build_config::add_libpython_rpath_link_args();
    let cfg = pyo3_build_config::get();
    let version = format!("{}.{}", cfg.version().major, cfg.version().minor);
    println!("cargo:rustc-env=GUNICORN_RS_PY_VERSION={version}");

    let base = base_interpreter(cfg, &version);
    println!("cargo:rustc-env=GUNICORN_RS_BASE_PYTHON={}", base.display());
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!("cargo:rerun-if-env-changed=VIRTUAL_ENV");
}

/// The base (non-venv) interpreter: `LIBDIR/../bin/pythonX.Y` when it exists,
/// else what the build interpreter reports as `sys._base_executable`.
fn base_interpreter(cfg: &pyo3_build_config::InterpreterConfig, version: &str) -> PathBuf {
    if let Some(lib_dir) = cfg.lib_dir() {
        let candidate = PathBuf::from(lib_dir)
            .join("..")
            .join("bin")
            .join(format!("python{version}"));
        if let Ok(path) = candidate.canonicalize() {
            return path;
        }
    }
    let exe = cfg.executable().unwrap_or("python3");
    let out = Command::new(exe)
        .args(["-c", "import sys; print(sys._base_executable)"])
        .output()
        .expect("failed to run the build interpreter to find the base python");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}
