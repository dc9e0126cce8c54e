//! USR2, the binary upgrade: re-executing the master next to the running
//! one (gunicorn's `Arbiter.reexec` and `maybe_promote_master`), and what
//! each master remembers about it.
//!
//! The old master forks; the child executes the binary the server was
//! started from, by the path recorded at start (so a new build installed
//! at that path is what runs), with the start-up arguments, working
//! directory and environment, plus `GUNICORN_PID` (the old master's pid)
//! and the listeners: `GUNICORN_FD=3,4`, or `LISTEN_PID` + `LISTEN_FDS`
//! with the descriptors moved to 3, 4, ... when systemd handed them over.
//! Only the child clears their close-on-exec flag.
//!
//! Both masters then serve from the same sockets. The new one calls itself
//! "Master.2" and writes `PIDFILE.2`; once its parent (the old master) is
//! gone it is promoted: "Master", `PIDFILE`, `GUNICORN_PID` unset. Neither
//! unlinks unix socket files while the other may still use them. A master
//! with a live re-exec child, or a `.2` master, ignores USR2. The old
//! master reaps the new one if it dies (rollback); it is not a worker.

use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{FcntlArg, fcntl};
use nix::sys::signal::{SigSet, Signal};
use nix::unistd::Pid;
use pyo3::prelude::*;
use tracing::{debug, error, info, warn};

use super::pidfile::Pidfile;
use crate::hooks::{Hook, MasterHooks};
use crate::python::fork::{self, Forked};
use crate::signals;
use crate::sock::Listener;
use crate::sock::inherited::{REEXEC_VAR, SD_LISTEN_FDS_START, SYSTEMD_VARS};

/// Names the old master in the new master's environment.
pub const PARENT_VAR: &str = "GUNICORN_PID";

/// How this process was started: what a re-exec repeats.
#[derive(Debug)]
struct StartContext {
    /// The binary, or why it cannot be found again.
    exe: Result<PathBuf, String>,
    argv: Vec<OsString>,
    /// `None` when the working directory was unreadable (then not changed).
    cwd: Option<PathBuf>,
    env: Vec<(OsString, OsString)>,
}

impl StartContext {
    /// `env_set`: the `--env` variables already set in this process;
    /// `original`: what each was at start (None: unset).
    fn capture(
        env_set: &[(String, String)],
        original: &dyn Fn(&str) -> Option<String>,
    ) -> StartContext {
        let argv: Vec<OsString> = std::env::args_os().collect();
        let cwd = startup_cwd();
        let exe = std::env::current_exe()
            .map(|exe| as_invoked(&exe, argv.first(), cwd.as_deref()).unwrap_or(exe))
            .map_err(|e| format!("cannot find the server's own binary: {e}"));
        StartContext {
            exe,
            argv,
            cwd,
            env: start_env(std::env::vars_os().collect(), env_set, original),
        }
    }
}

/// The environment as the server was started with: `env` without what
/// `--env` set, which the new master sets again from its configuration,
/// so a variable dropped from the configuration does not live on.
fn start_env(
    mut env: Vec<(OsString, OsString)>,
    env_set: &[(String, String)],
    original: &dyn Fn(&str) -> Option<String>,
) -> Vec<(OsString, OsString)> {
    for (key, _) in env_set {
        env.retain(|(k, _)| k != key.as_str());
        if let Some(value) = original(key) {
            env.push((key.into(), value.into()));
        }
    }
    env
}

/// gunicorn's `util.getcwd`: `$PWD` when it is the working directory, so a
/// directory reached through a symlink (a `current` release link) is
/// entered the same way again, and finds the release it points to then.
fn startup_cwd() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    if let Some(pwd) = std::env::var_os("PWD").map(PathBuf::from)
        && pwd.is_absolute()
        && same_file(&pwd, &cwd)
    {
        return Some(pwd);
    }
    Some(cwd)
}

/// The binary as it was invoked (`argv[0]` made absolute), when that path
/// leads to the running binary: a symlink that a deployment repoints then
/// picks the new build. `None` for a bare name found on `PATH`.
fn as_invoked(exe: &Path, argv0: Option<&OsString>, cwd: Option<&Path>) -> Option<PathBuf> {
    let argv0 = Path::new(argv0?);
    if !argv0.as_os_str().as_bytes().contains(&b'/') {
        return None;
    }
    let path = match (argv0.is_absolute(), cwd) {
        (true, _) => argv0.to_path_buf(),
        (false, Some(cwd)) => cwd.join(argv0),
        (false, None) => return None,
    };
    same_file(&path, exe).then_some(path)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Why a re-exec could not be started.
#[derive(Debug)]
enum Error {
    Prepare(String),
    Io(&'static str, io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Prepare(msg) => f.write_str(msg),
            Error::Io(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

/// The master's part in upgrades.
#[derive(Debug)]
pub struct Upgrade {
    start: StartContext,
    /// The old master, while this one is its `.2` (from `GUNICORN_PID`).
    parent: Option<Pid>,
    /// The new master this one started, until it is reaped.
    child: Option<Pid>,
    /// The listeners came from systemd: hand them on the same way, and
    /// leave their socket files alone.
    systemd: bool,
}

impl Upgrade {
    /// At the very start of the master, before anything changes the
    /// working directory. The environment already has the `--env` values
    /// (`env_set`), which are taken out again (`original`: a variable's
    /// value at start).
    pub fn at_start(
        env_set: &[(String, String)],
        original: &dyn Fn(&str) -> Option<String>,
    ) -> Upgrade {
        let parent = match std::env::var(PARENT_VAR) {
            Ok(value) => match value.trim().parse::<i32>() {
                Ok(pid) if pid > 0 => Some(Pid::from_raw(pid)),
                _ => {
                    warn!("{PARENT_VAR}={value:?} is not a process id; ignored");
                    None
                }
            },
            Err(_) => None,
        };
        Upgrade {
            start: StartContext::capture(env_set, original),
            parent,
            child: None,
            systemd: false,
        }
    }

    /// Started by an old master's USR2, and not promoted yet.
    pub fn is_reexecuted(&self) -> bool {
        self.parent.is_some()
    }

    /// The listeners came from systemd socket activation.
    pub fn set_systemd(&mut self, systemd: bool) {
        self.systemd = systemd;
    }

    /// "Master", or "Master.2" for a re-executed master not yet promoted.
    pub fn master_name(&self) -> &'static str {
        if self.parent.is_some() {
            "Master.2"
        } else {
            "Master"
        }
    }

    /// `PIDFILE`, or `PIDFILE.2` for a re-executed master.
    pub fn pidfile_path(&self, configured: &Path) -> PathBuf {
        if self.parent.is_some() {
            let mut name = configured.as_os_str().to_owned();
            name.push(".2");
            PathBuf::from(name)
        } else {
            configured.to_path_buf()
        }
    }

    /// Whether exiting may remove unix socket files: not when systemd owns
    /// them, nor while the other master of an upgrade still listens on them.
    pub fn unlink_sockets(&self) -> bool {
        self.child.is_none() && self.parent.is_none() && !self.systemd
    }

    /// Whether stopping now stops the service (`STOPPING=1`), rather than
    /// handing over to, or back to, the other master.
    pub fn stops_service(&self) -> bool {
        self.child.is_none() && self.parent.is_none()
    }

    /// The new master this one started with USR2, while it runs: stopping
    /// now hands the service over to it.
    pub fn successor(&self) -> Option<Pid> {
        self.child
    }

    /// `pid` was the new master this one started: it is gone, and a later
    /// USR2 may try again. Not a worker, so nothing else is said about it.
    pub fn reaped(&mut self, pid: Pid) -> bool {
        if self.child == Some(pid) {
            self.child = None;
            debug!("Re-executed master (pid:{pid}) exited");
            return true;
        }
        false
    }

    /// Once the old master is gone (our parent changed), become the master:
    /// the plain name, the configured pid file, `GUNICORN_PID` unset.
    /// True when that happened now.
    pub fn maybe_promote(
        &mut self,
        pidfile: Option<&mut Pidfile>,
        configured: Option<&Path>,
    ) -> bool {
        let Some(parent) = self.parent else {
            return false;
        };
        if nix::unistd::getppid() == parent {
            return false;
        }
        info!("Master has been promoted.");
        self.parent = None;
        unset_env(&[PARENT_VAR]);
        if let (Some(pidfile), Some(path)) = (pidfile, configured)
            && let Err(e) = pidfile.rename(path)
        {
            error!("Cannot move the pid file to {}: {e}", path.display());
        }
        true
    }

    /// USR2: start a new master from the binary on disk, sharing `listeners`.
    /// `master_signals` are the signals the master handles: the child gives
    /// them back their default action before it executes.
    /// `hooks`: `pre_exec` runs in the child before it executes.
    pub fn reexec(
        &mut self,
        listeners: &[Listener],
        master_signals: &[Signal],
        hooks: &MasterHooks,
    ) {
        if self.child.is_some() {
            warn!("USR2 signal ignored. Child exists.");
            return;
        }
        if self.parent.is_some() {
            warn!("USR2 signal ignored. Parent exists.");
            return;
        }
        // Everything that can fail for want of data is settled before the
        // fork; the child only moves descriptors and executes.
        let exec = match Exec::prepare(&self.start, listeners.len(), self.systemd) {
            Ok(exec) => exec,
            Err(e) => {
                error!("Cannot re-execute the master: {e}");
                return;
            }
        };
        let mask = match signals::block_all() {
            Ok(mask) => mask,
            Err(e) => {
                error!("Cannot re-execute the master: cannot block signals: {e}");
                return;
            }
        };
        match fork::fork() {
            Ok(Forked::Parent(pid)) => {
                signals::restore(&mask);
                debug!("Forked the new master (pid:{pid})");
                self.child = Some(pid);
            }
            Err(e) => {
                signals::restore(&mask);
                error!("Cannot re-execute the master: fork failed: {e}");
            }
            Ok(Forked::Child) => {
                if let Err(e) = hooks.call_server(Hook::PreExec) {
                    // The new master is not started; the old one serves on.
                    error!("{e}");
                    std::process::exit(1);
                }
                let e = exec.run(listeners, self.systemd, master_signals, &mask);
                error!("Cannot execute {}: {e}", exec.exe.to_string_lossy());
                std::process::exit(1);
            }
        }
    }
}

/// A re-exec, ready to run in the forked child.
struct Exec {
    exe: CString,
    argv: Vec<CString>,
    env: Vec<CString>,
    cwd: Option<PathBuf>,
}

impl Exec {
    fn prepare(start: &StartContext, n_listeners: usize, systemd: bool) -> Result<Exec, Error> {
        let exe = start.exe.as_ref().map_err(|e| Error::Prepare(e.clone()))?;
        let exe = c_string(exe.as_os_str().as_bytes())?;
        let argv = start
            .argv
            .iter()
            .map(|a| c_string(a.as_bytes()))
            .collect::<Result<Vec<_>, _>>()?;
        // The start-up environment without any earlier hand-over, then ours.
        let handed_over: Vec<&str> = [PARENT_VAR, REEXEC_VAR]
            .into_iter()
            .chain(SYSTEMD_VARS)
            .collect();
        let mut env = Vec::with_capacity(start.env.len() + 2);
        for (key, value) in &start.env {
            if handed_over.iter().any(|v| OsStr::new(v) == key) {
                continue;
            }
            let mut pair = key.clone();
            pair.push("=");
            pair.push(value);
            env.push(c_string(&pair.into_vec())?);
        }
        env.push(c_string(
            format!("{PARENT_VAR}={}", std::process::id()).as_bytes(),
        )?);
        if systemd {
            // LISTEN_PID is the child's own pid, added after the fork.
            env.push(c_string(format!("LISTEN_FDS={n_listeners}").as_bytes())?);
        }
        Ok(Exec {
            exe,
            argv,
            env,
            cwd: start.cwd.clone(),
        })
    }

    /// In the forked child: hand the listeners on and execute. Returns only
    /// on failure.
    fn run(
        &self,
        listeners: &[Listener],
        systemd: bool,
        master_signals: &[Signal],
        mask: &SigSet,
    ) -> Error {
        // The master's actions would write into its signal pipe, which this
        // process shares with the old master until it executes.
        signals::reset_to_default(master_signals);
        signals::restore(mask);
        if let Some(cwd) = &self.cwd
            && let Err(e) = std::env::set_current_dir(cwd)
        {
            return Error::Io("cannot enter the start-up directory", e);
        }
        let mut env = self.env.clone();
        if systemd {
            if let Err(e) = move_to_listen_fds(listeners) {
                return Error::Io("cannot pass the sockets on", e);
            }
            let pid = format!("LISTEN_PID={}", std::process::id());
            match CString::new(pid) {
                Ok(pid) => env.push(pid),
                Err(e) => return Error::Prepare(e.to_string()),
            }
        } else {
            let mut fds = Vec::with_capacity(listeners.len());
            for listener in listeners {
                if let Err(e) = listener.set_inheritable(true) {
                    return Error::Io("cannot pass the sockets on", e);
                }
                fds.push(listener.as_fd().as_raw_fd().to_string());
            }
            match CString::new(format!("{REEXEC_VAR}={}", fds.join(","))) {
                Ok(var) => env.push(var),
                Err(e) => return Error::Prepare(e.to_string()),
            }
        }
        match nix::unistd::execve(&self.exe, &self.argv, &env) {
            Err(e) => Error::Io("exec failed", e.into()),
            Ok(never) => match never {},
        }
    }
}

fn c_string(bytes: &[u8]) -> Result<CString, Error> {
    CString::new(bytes).map_err(|_| {
        Error::Prepare(format!(
            "{:?} contains a NUL byte",
            String::from_utf8_lossy(bytes)
        ))
    })
}

/// systemd's convention: the sockets at descriptors 3, 4, ... in order,
/// without close-on-exec.
fn move_to_listen_fds(listeners: &[Listener]) -> io::Result<()> {
    let n = RawFd::try_from(listeners.len()).map_err(io::Error::other)?;
    let above = SD_LISTEN_FDS_START + n;
    // Copies above the target range first, so no target clobbers a listener
    // not yet moved; the copies themselves close on exec.
    let mut copies = Vec::with_capacity(listeners.len());
    for listener in listeners {
        copies.push(fcntl(listener.as_fd(), FcntlArg::F_DUPFD_CLOEXEC(above))?);
    }
    for (target, copy) in (SD_LISTEN_FDS_START..).zip(copies) {
        // SAFETY: dup2 only edits the descriptor table. `copy` is open (just
        // made). Whatever `target` held is replaced: this runs in the forked
        // child right before exec, which never returns to code that may own
        // that descriptor (it exits if exec fails). dup2 leaves `target`
        // without close-on-exec, which is the point.
        if unsafe { libc::dup2(copy, target) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Remove variables through Python's `os.environ`, which unsets them in the
/// process too, so the interpreter and the C environment agree.
pub fn unset_env(keys: &[&str]) {
    Python::attach(|py| {
        let removed = py.import("os").and_then(|os| {
            let environ = os.getattr("environ")?;
            for key in keys {
                environ.call_method1("pop", (*key, py.None()))?;
            }
            Ok(())
        });
        if let Err(e) = removed {
            debug!("Cannot unset {}: {e}", keys.join(", "));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upgrade(parent: Option<i32>) -> Upgrade {
        Upgrade {
            start: StartContext {
                exe: Ok(PathBuf::from("/bin/true")),
                argv: vec!["gunicorn-rs".into(), "app:app".into()],
                cwd: None,
                env: vec![
                    ("PATH".into(), "/bin".into()),
                    ("GUNICORN_FD".into(), "9".into()),
                    ("LISTEN_PID".into(), "1".into()),
                    ("LISTEN_FDS".into(), "1".into()),
                    ("GUNICORN_PID".into(), "2".into()),
                ],
            },
            parent: parent.map(Pid::from_raw),
            child: None,
            systemd: false,
        }
    }

    #[test]
    fn names_and_paths() {
        let plain = upgrade(None);
        assert_eq!(plain.master_name(), "Master");
        assert_eq!(
            plain.pidfile_path(Path::new("/run/app.pid")),
            Path::new("/run/app.pid")
        );
        assert!(plain.unlink_sockets() && plain.stops_service());

        let second = upgrade(Some(1));
        assert_eq!(second.master_name(), "Master.2");
        assert_eq!(
            second.pidfile_path(Path::new("/run/app.pid")),
            Path::new("/run/app.pid.2")
        );
        assert!(!second.unlink_sockets() && !second.stops_service());

        let mut old = upgrade(None);
        old.child = Some(Pid::from_raw(77));
        assert!(!old.unlink_sockets() && !old.stops_service());
        assert!(!old.reaped(Pid::from_raw(78)));
        assert!(old.reaped(Pid::from_raw(77)));
        assert!(old.unlink_sockets());

        let mut systemd = upgrade(None);
        systemd.set_systemd(true);
        assert!(!systemd.unlink_sockets() && systemd.stops_service());
    }

    #[test]
    fn exec_environment_replaces_earlier_hand_overs() {
        let up = upgrade(None);
        let env = |exec: &Exec| -> Vec<String> {
            exec.env
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect()
        };
        let exec = Exec::prepare(&up.start, 2, false).unwrap();
        assert_eq!(
            env(&exec),
            [
                "PATH=/bin".to_string(),
                format!("GUNICORN_PID={}", std::process::id())
            ]
        );
        let exec = Exec::prepare(&up.start, 2, true).unwrap();
        assert_eq!(env(&exec)[2], "LISTEN_FDS=2");
        assert_eq!(exec.argv.len(), 2);
        assert_eq!(exec.exe.to_str().unwrap(), "/bin/true");

        let mut broken = upgrade(None);
        broken.start.exe = Err("gone".into());
        assert!(Exec::prepare(&broken.start, 1, false).is_err());
    }

    #[test]
    fn env_settings_are_taken_out_of_the_start_environment() {
        let env = vec![
            ("PATH".into(), "/bin".into()),
            ("ADDED".into(), "by --env".into()),
            ("CHANGED".into(), "by --env".into()),
        ];
        let set = [
            ("ADDED".to_string(), "by --env".to_string()),
            ("CHANGED".to_string(), "by --env".to_string()),
        ];
        let original = |k: &str| (k == "CHANGED").then(|| "at start".to_string());
        let got = start_env(env, &set, &original);
        assert_eq!(
            got,
            [
                (OsString::from("PATH"), OsString::from("/bin")),
                ("CHANGED".into(), "at start".into())
            ]
        );
    }

    #[test]
    fn invoked_path_is_kept_when_it_leads_to_the_binary() {
        let exe = std::env::current_exe().unwrap();
        let dir = std::env::temp_dir().join(format!("grs-reexec-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&exe, &link).unwrap();
        let got = as_invoked(&exe, Some(&OsString::from("link")), None);
        assert_eq!(got, None, "a bare name is looked up on PATH, not here");
        let got = as_invoked(&exe, Some(&OsString::from("./link")), Some(&dir));
        assert_eq!(got, Some(dir.join("./link")));
        let other = dir.join("other");
        std::fs::write(&other, "x").unwrap();
        assert_eq!(as_invoked(&exe, Some(&other.into_os_string()), None), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
