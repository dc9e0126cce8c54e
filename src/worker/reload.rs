//! `--reload`: a worker watches the source files of every imported module,
//! the `--reload-extra-file` entries (files or glob patterns) and, when the
//! application failed to load, the files its traceback names. When one of
//! them changes, the worker logs `Worker reloading: FILE modified` and
//! stops gracefully; the master starts a new one, which imports the code
//! afresh.
//!
//! No thread: the worker's loop registers the inotify descriptor in its
//! epoll set and calls [`Reloader::tick`] from its once-a-second
//! housekeeping, which rescans `sys.modules` (apps import lazily) and the
//! patterns, and for the `poll` engine compares modification times.
//!
//! inotify watches directories, not files, so editors that save by
//! writing a new file and renaming it over the old one are seen. Only
//! finished writes count (`IN_CLOSE_WRITE`, a rename into place, an
//! attribute change such as `touch`): a half-written file is not imported,
//! and a deleted file alone does not restart the worker.
//!
//! A file counts as changed when its modification time differs from the
//! one first seen, or when it appears after having been missing. Files
//! seen for the first time (a module imported later, a new match of a
//! pattern) only set the baseline.

use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::fmt;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use tracing::{debug, error, warn};

use crate::config::{Config, ReloadEngine, is_glob};
use crate::python;

/// What inotify reports: finished writes, renames into place, `touch`.
const EVENTS: AddWatchFlags = AddWatchFlags::IN_CLOSE_WRITE
    .union(AddWatchFlags::IN_MOVED_TO)
    .union(AddWatchFlags::IN_ATTRIB);

/// The reloader could not be set up.
#[derive(Debug)]
pub enum Error {
    /// `--reload-engine inotify` was asked for and inotify is unavailable.
    Inotify(Errno),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Inotify(e) => write!(f, "--reload-engine inotify: cannot use inotify: {e}"),
        }
    }
}

impl std::error::Error for Error {}

enum Engine {
    Inotify {
        inotify: Inotify,
        /// Watched directories by descriptor, and the set of them.
        dirs: HashMap<WatchDescriptor, PathBuf>,
        watched: HashSet<PathBuf>,
        /// A watch that could not be added is reported once.
        warned: bool,
    },
    Poll,
}

/// Which files one worker watches, and how.
pub struct Reloader {
    engine: Engine,
    /// Every watched file (absolute), with its modification time when last
    /// looked at (None: missing).
    files: HashMap<PathBuf, Option<SystemTime>>,
    /// Extra glob patterns, absolute, expanded again on every tick.
    patterns: Vec<String>,
    /// Patterns that matched nothing, already warned about.
    empty_warned: HashSet<String>,
    /// `len(sys.modules)` at the last scan: rescanned only when it changed.
    modules_seen: usize,
    /// Where relative paths start: the worker's working directory (`--chdir`).
    base: PathBuf,
}

impl Reloader {
    /// Set up the engine and take the first look at every file. `also`
    /// are further files to watch (those a failed load's traceback names).
    pub fn start(py: Python<'_>, cfg: &Config, also: Vec<PathBuf>) -> Result<Reloader, Error> {
        let engine = match cfg.reload_engine {
            ReloadEngine::Poll => Engine::Poll,
            ReloadEngine::Inotify => inotify_engine().map_err(Error::Inotify)?,
            ReloadEngine::Auto => inotify_engine().unwrap_or_else(|e| {
                warn!("Cannot use inotify for --reload ({e}); polling file times instead");
                Engine::Poll
            }),
        };
        let base = cfg.chdir.clone();
        let mut reloader = Reloader {
            engine,
            files: HashMap::new(),
            patterns: Vec::new(),
            empty_warned: HashSet::new(),
            modules_seen: 0,
            base,
        };
        for entry in &cfg.reload_extra_files {
            let path = reloader.absolute(Path::new(entry));
            if is_glob(entry) {
                reloader.patterns.push(path.to_string_lossy().into_owned());
            } else {
                reloader.watch(path);
            }
        }
        for path in also {
            let path = reloader.absolute(&path);
            reloader.watch(path);
        }
        // Nothing changed yet: this only takes the baseline.
        let _ = reloader.tick(py);
        Ok(reloader)
    }

    /// The descriptor the loop waits on, for the inotify engine.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.engine {
            Engine::Inotify { inotify, .. } => Some(inotify.as_fd()),
            Engine::Poll => None,
        }
    }

    /// inotify has events: read them all; the first watched file they
    /// show changed, if any.
    pub fn read_events(&mut self) -> Option<PathBuf> {
        let Engine::Inotify { inotify, dirs, .. } = &self.engine else {
            return None;
        };
        let mut changed = None;
        // Non-blocking: EAGAIN once drained (the fd is level-triggered in epoll).
        while let Ok(events) = inotify.read_events() {
            for ev in events {
                let (Some(dir), Some(name)) = (dirs.get(&ev.wd), ev.name) else {
                    continue;
                };
                let path = dir.join(name);
                if changed.is_none() && self.files.contains_key(&path) {
                    changed = Some(path);
                }
            }
        }
        changed
    }

    /// About once a second: pick up newly imported modules and new matches
    /// of the patterns; with the poll engine, the first file whose time
    /// changed.
    pub fn tick(&mut self, py: Python<'_>) -> Option<PathBuf> {
        if let Err(e) = self.scan_modules(py) {
            debug!(
                "--reload: cannot read sys.modules: {}",
                python::format_exception(py, &e).trim_end()
            );
        }
        self.expand_patterns(py);
        match self.engine {
            Engine::Poll => self.poll(),
            Engine::Inotify { .. } => None,
        }
    }

    /// Compare every file's time with the last one seen.
    fn poll(&mut self) -> Option<PathBuf> {
        let mut changed = None;
        for (path, seen) in &mut self.files {
            let now = mtime(path);
            let differs = match (*seen, now) {
                (Some(old), Some(new)) => old != new,
                (None, Some(_)) => true,
                (_, None) => false,
            };
            *seen = now;
            if differs && changed.is_none() {
                changed = Some(path.clone());
            }
        }
        changed
    }

    /// Watch the source of every module in `sys.modules`, when their
    /// number changed since the last look.
    fn scan_modules(&mut self, py: Python<'_>) -> PyResult<()> {
        let modules = py.import("sys")?.getattr("modules")?;
        let modules = modules.cast::<PyDict>()?;
        if modules.len() == self.modules_seen {
            return Ok(());
        }
        self.modules_seen = modules.len();
        // `values()` is a copy: a module attribute's code may import more.
        for module in modules.values().iter() {
            let Ok(file) = module.getattr(pyo3::intern!(py, "__file__")) else {
                continue;
            };
            let Ok(file) = file.extract::<PathBuf>() else {
                continue;
            };
            let path = self.absolute(&source_of(file));
            if !self.files.contains_key(&path) {
                self.watch(path);
            }
        }
        Ok(())
    }

    /// Expand each pattern (Python's `glob`, `**` recursing); new matches
    /// are watched from now on.
    fn expand_patterns(&mut self, py: Python<'_>) {
        if self.patterns.is_empty() {
            return;
        }
        static GLOB: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let Ok(glob) =
            GLOB.get_or_try_init(py, || py.import("glob")?.getattr("glob").map(Bound::unbind))
        else {
            return;
        };
        let kwargs = PyDict::new(py);
        if kwargs.set_item("recursive", true).is_err() {
            return;
        }
        for pattern in self.patterns.clone() {
            let found: Vec<PathBuf> = glob
                .bind(py)
                .call((pattern.as_str(),), Some(&kwargs))
                .and_then(|m| m.extract())
                .unwrap_or_default();
            if found.is_empty() {
                if self.empty_warned.insert(pattern.clone()) {
                    warn!("--reload-extra-file {pattern} matches no file yet");
                }
                continue;
            }
            for path in found {
                if !self.files.contains_key(&path) && path.is_file() {
                    self.watch(path);
                }
            }
        }
    }

    /// Start watching `path` (absolute), taking its current time as the baseline.
    fn watch(&mut self, path: PathBuf) {
        if let Engine::Inotify {
            inotify,
            dirs,
            watched,
            warned,
        } = &mut self.engine
            && let Some(dir) = path.parent()
            && !watched.contains(dir)
        {
            match inotify.add_watch(dir, EVENTS) {
                Ok(wd) => {
                    dirs.insert(wd, dir.to_path_buf());
                    watched.insert(dir.to_path_buf());
                }
                // A missing directory, or the user's watch limit: say so
                // once, keep going with the others.
                Err(e) => {
                    if dir.exists() && !*warned {
                        *warned = true;
                        warn!(
                            "--reload: cannot watch {}: {e} (raise fs.inotify.max_user_watches, or use --reload-engine poll)",
                            dir.display()
                        );
                    }
                    watched.insert(dir.to_path_buf());
                }
            }
        }
        let seen = mtime(&path);
        self.files.insert(path, seen);
    }

    fn absolute(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base.join(path)
        }
    }
}

fn inotify_engine() -> Result<Engine, Errno> {
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
    Ok(Engine::Inotify {
        inotify,
        dirs: HashMap::new(),
        watched: HashSet::new(),
        warned: false,
    })
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// A module's source for its `__file__`: `x.pyc`/`x.pyo` means `x.py`.
fn source_of(file: PathBuf) -> PathBuf {
    match file.extension().and_then(|e| e.to_str()) {
        Some("pyc" | "pyo") => file.with_extension("py"),
        _ => file,
    }
}

/// The files a load error's traceback names (`File "PATH", line N`),
/// which for a syntax error includes the broken file itself: the failed
/// module is not in `sys.modules`, so only this finds it.
pub fn files_in_traceback(traceback: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = Vec::new();
    for line in traceback.lines() {
        let Some(rest) = line.trim_start().strip_prefix("File \"") else {
            continue;
        };
        let Some(end) = rest.find("\", line ") else {
            continue;
        };
        let path = PathBuf::from(&rest[..end]);
        // `<frozen importlib._bootstrap>`, `<string>`: not files.
        if path.is_absolute() && !files.contains(&path) {
            files.push(path);
        }
    }
    files
}

/// With `--reload`, a load failure does not end the worker: it is logged,
/// and the worker serves it as a 500 to every request while watching the
/// files its traceback names (and where the module would be, should it be
/// missing), so fixing them brings the application back. Errors are exit
/// statuses, as `worker::load`.
pub fn load_or_fail_app(py: Python<'_>, cfg: &Config) -> Result<(Py<PyAny>, Vec<PathBuf>), i32> {
    let uri = cfg.app_uri.as_deref().unwrap_or_default();
    let err = match python::app::load_app(py, uri) {
        Ok(app) => return Ok((app, Vec::new())),
        Err(e) => e.to_string(),
    };
    error!("Exception in worker process (serving it as a 500 until a watched file changes)\n{err}");
    match fail_app(py, &err) {
        Ok(app) => {
            let mut files = files_in_traceback(&err);
            files.extend(module_candidates(&cfg.chdir, uri));
            Ok((app, files))
        }
        Err(e) => {
            error!(
                "Exception in worker process\n{}",
                python::format_exception(py, &e)
            );
            Err(super::BOOT_ERROR)
        }
    }
}

/// Where the module of `MODULE[:VARIABLE]` would be under `base`: after
/// "No module named ...", creating it there is a change to act on.
fn module_candidates(base: &Path, uri: &str) -> Vec<PathBuf> {
    let module = uri.split(':').next().unwrap_or(uri);
    let rel: PathBuf = module.split('.').collect();
    if rel.as_os_str().is_empty() {
        return Vec::new();
    }
    let mut file = base.join(&rel).into_os_string();
    file.push(".py");
    vec![PathBuf::from(file), base.join(rel).join("__init__.py")]
}

const FAIL_APP_SOURCE: &str = r#"
def make(text):
    body = text.encode("utf-8", "replace")
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
    ]

    def failed_to_load(environ, start_response):
        start_response("500 Internal Server Error", headers)
        return [body]

    return failed_to_load
"#;

/// A WSGI app that answers every request with 500 and `text` (the load
/// error), served by a `--reload` worker whose application does not load,
/// until a fix restarts it.
pub fn fail_app(py: Python<'_>, text: &str) -> PyResult<Py<PyAny>> {
    let source = CString::new(FAIL_APP_SOURCE)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("fail app source: {e}")))?;
    let module = PyModule::from_code(
        py,
        &source,
        c"gunicorn_rs/fail_app.py",
        c"gunicorn_rs_fail_app",
    )?;
    Ok(module.call_method1("make", (text,))?.unbind())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceback_files_include_the_syntax_error_file() {
        let tb = r#"Traceback (most recent call last):
  File "/srv/app/loader.py", line 70, in load
    mod = importlib.import_module(module)
  File "<frozen importlib._bootstrap>", line 1204, in _gcd_import
  File "/srv/app/views.py", line 3, in <module>
    import broken
  File "/srv/app/broken.py", line 2
    def f(:
          ^
SyntaxError: invalid syntax
"#;
        assert_eq!(
            files_in_traceback(tb),
            [
                PathBuf::from("/srv/app/loader.py"),
                PathBuf::from("/srv/app/views.py"),
                PathBuf::from("/srv/app/broken.py"),
            ]
        );
        assert!(files_in_traceback("AppImportError: no").is_empty());
    }

    #[test]
    fn a_missing_module_is_looked_for_where_it_would_be() {
        assert_eq!(
            module_candidates(Path::new("/srv"), "pkg.web:app"),
            [
                PathBuf::from("/srv/pkg/web.py"),
                PathBuf::from("/srv/pkg/web/__init__.py")
            ]
        );
        assert_eq!(
            module_candidates(Path::new("/srv"), "app")[0],
            PathBuf::from("/srv/app.py")
        );
    }

    #[test]
    fn compiled_files_map_to_their_source() {
        assert_eq!(source_of("/a/b.pyc".into()), PathBuf::from("/a/b.py"));
        assert_eq!(source_of("/a/b.py".into()), PathBuf::from("/a/b.py"));
        assert_eq!(source_of("/a/b.so".into()), PathBuf::from("/a/b.so"));
    }
}
