//! Which Python to run: the interpreter (and virtualenv) whose stdlib and
//! site-packages the embedded CPython uses.
//!
//! Order, as ../shared/embedding.md §b verified: `$VIRTUAL_ENV/bin/python`,
//! then a virtualenv that holds the binary itself (`<venv>/bin/gunicorn-rs`
//! run by full path, nothing activated), then the base interpreter baked in at
//! build time. A virtualenv of another minor version cannot work with this
//! binary (its site-packages is `lib/python3.N`), so it is refused up front.
//!
//! Pure file-system logic: no C API here.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// `major.minor` of the CPython this binary is linked against.
pub const BUILD_VERSION: &str = env!("GUNICORN_RS_PY_VERSION");
/// The base interpreter found at build time.
pub const BASE_PYTHON: &str = env!("GUNICORN_RS_BASE_PYTHON");

/// The interpreter to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    /// Becomes `PyConfig.program_name`: CPython derives `sys.prefix` (and so
    /// the virtualenv) from it.
    pub program: PathBuf,
    /// The virtualenv, when one is used.
    pub venv: Option<PathBuf>,
}

/// Why no usable interpreter was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// `VIRTUAL_ENV` names a folder that is not a virtualenv.
    NotAVenv { path: PathBuf, reason: String },
    /// The virtualenv's Python minor version differs from the build's.
    VersionMismatch { venv: PathBuf, venv_version: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotAVenv { path, reason } => write!(
                f,
                "VIRTUAL_ENV={} is not a usable virtualenv: {reason}",
                path.display()
            ),
            Error::VersionMismatch { venv, venv_version } => write!(
                f,
                "the virtualenv {} is Python {venv_version}, but this gunicorn-rs was built for \
                 Python {BUILD_VERSION}; use a Python {BUILD_VERSION} virtualenv or rebuild \
                 gunicorn-rs with Python {venv_version}",
                venv.display()
            ),
        }
    }
}

impl std::error::Error for Error {}

/// Resolve the interpreter from the environment and the binary's own path.
pub fn resolve(
    virtual_env: Option<&str>,
    current_exe: Option<&Path>,
) -> Result<Interpreter, Error> {
    if let Some(venv) = virtual_env.filter(|v| !v.is_empty()) {
        let venv = PathBuf::from(venv);
        let python = venv_python(&venv).ok_or_else(|| Error::NotAVenv {
            path: venv.clone(),
            reason: "it has no bin/python".to_owned(),
        })?;
        check_version(&venv)?;
        return Ok(Interpreter {
            program: python,
            venv: Some(venv),
        });
    }
    if let Some(venv) = current_exe.and_then(venv_holding) {
        check_version(&venv)?;
        if let Some(python) = venv_python(&venv) {
            return Ok(Interpreter {
                program: python,
                venv: Some(venv),
            });
        }
    }
    Ok(Interpreter {
        program: PathBuf::from(BASE_PYTHON),
        venv: None,
    })
}

/// The virtualenv whose `bin/` holds `exe`, if any.
fn venv_holding(exe: &Path) -> Option<PathBuf> {
    let venv = exe.parent()?.parent()?;
    venv.join("pyvenv.cfg")
        .is_file()
        .then(|| venv.to_path_buf())
}

fn venv_python(venv: &Path) -> Option<PathBuf> {
    ["python", "python3"]
        .iter()
        .map(|n| venv.join("bin").join(n))
        .find(|p| p.exists())
}

/// Compare the `version` (or uv's `version_info`) line of `pyvenv.cfg`
/// with the build version, on `major.minor`.
fn check_version(venv: &Path) -> Result<(), Error> {
    let cfg = fs::read_to_string(venv.join("pyvenv.cfg")).map_err(|e| Error::NotAVenv {
        path: venv.to_path_buf(),
        reason: format!("cannot read pyvenv.cfg: {e}"),
    })?;
    let Some(version) = pyvenv_version(&cfg) else {
        // No version recorded (very old virtualenv): let CPython decide.
        return Ok(());
    };
    if minor_version(&version) == BUILD_VERSION {
        Ok(())
    } else {
        Err(Error::VersionMismatch {
            venv: venv.to_path_buf(),
            venv_version: minor_version(&version),
        })
    }
}

fn pyvenv_version(cfg: &str) -> Option<String> {
    cfg.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        matches!(key.trim(), "version" | "version_info").then(|| value.trim().to_owned())
    })
}

/// `3.12.1` -> `3.12`.
fn minor_version(version: &str) -> String {
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make_venv(dir: &Path, version: &str) {
        fs::create_dir_all(dir.join("bin")).unwrap();
        fs::write(dir.join("bin/python"), "").unwrap();
        fs::write(
            dir.join("pyvenv.cfg"),
            format!("home = /usr/bin\nversion = {version}\n"),
        )
        .unwrap();
    }

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("grs-resolve-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn no_venv_gives_the_base_interpreter() {
        let got = resolve(None, Some(Path::new("/usr/local/bin/gunicorn-rs"))).unwrap();
        assert_eq!(
            got,
            Interpreter {
                program: PathBuf::from(BASE_PYTHON),
                venv: None
            }
        );
    }

    #[test]
    fn virtual_env_wins() {
        let dir = tmp("active");
        make_venv(&dir, &format!("{BUILD_VERSION}.99"));
        let got = resolve(dir.to_str(), None).unwrap();
        assert_eq!(got.program, dir.join("bin/python"));
        assert_eq!(got.venv.as_deref(), Some(dir.as_path()));
    }

    #[test]
    fn binary_inside_a_venv_uses_it() {
        let dir = tmp("holding");
        make_venv(&dir, BUILD_VERSION);
        let got = resolve(None, Some(&dir.join("bin/gunicorn-rs"))).unwrap();
        assert_eq!(got.venv.as_deref(), Some(dir.as_path()));
    }

    #[test]
    fn other_minor_version_is_refused_naming_both() {
        let dir = tmp("mismatch");
        make_venv(&dir, "2.7.18");
        let err = resolve(dir.to_str(), None).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("Python 2.7") && msg.contains(BUILD_VERSION),
            "{msg}"
        );
    }

    #[test]
    fn virtual_env_without_python_is_refused() {
        let dir = tmp("empty");
        fs::create_dir_all(&dir).unwrap();
        assert!(matches!(
            resolve(dir.to_str(), None),
            Err(Error::NotAVenv { .. })
        ));
    }

    #[test]
    fn uv_style_version_info_is_read() {
        assert_eq!(
            pyvenv_version("home = /x\nversion_info = 3.12.4\n").as_deref(),
            Some("3.12.4")
        );
        assert_eq!(minor_version("3.12.4"), "3.12");
    }
}
