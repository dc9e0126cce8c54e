//! The `--pid` file: written atomically at start, removed at exit, and
//! refused when it names another live process (gunicorn's `Pidfile`).

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use std::os::unix::fs::OpenOptionsExt;

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

#[derive(Debug)]
pub enum Error {
    /// The file names a live process other than us.
    AlreadyRunning {
        pid: i32,
        path: PathBuf,
    },
    Io {
        path: PathBuf,
        source: io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::AlreadyRunning { pid, path } => {
                write!(
                    f,
                    "Already running on PID {pid} (or pid file '{}' is stale)",
                    path.display()
                )
            }
            Error::Io { path, source } => {
                write!(f, "cannot write pid file {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for Error {}

/// A written pid file; `remove` it on exit.
#[derive(Debug)]
pub struct Pidfile {
    path: PathBuf,
}

impl Pidfile {
    pub fn create(path: &Path, pid: u32) -> Result<Pidfile, Error> {
        let io_err = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        // A process we may not signal (EPERM) is alive too: another user's server.
        if let Some(old) = read_pid(path)
            && old != pid as i32
            && matches!(kill(Pid::from_raw(old), None), Ok(()) | Err(Errno::EPERM))
        {
            return Err(Error::AlreadyRunning {
                pid: old,
                path: path.to_path_buf(),
            });
        }
        // Write beside the target, then rename: readers never see a partial
        // file. `create_new` never follows a planted symlink or truncates
        // somebody else's file.
        let tmp = path.with_extension(format!("tmp{pid}"));
        let written = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)
            .and_then(|mut file| file.write_all(format!("{pid}\n").as_bytes()))
            .and_then(|()| fs::rename(&tmp, path));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(e));
        }
        Ok(Pidfile {
            path: path.to_path_buf(),
        })
    }

    /// Move to `path` (a promoted `.2` master takes the configured name):
    /// written there first, then the old file removed, so some file always
    /// names this process. On failure the old file stays.
    pub fn rename(&mut self, path: &Path) -> Result<(), Error> {
        let moved = Pidfile::create(path, std::process::id())?;
        self.remove();
        *self = moved;
        Ok(())
    }

    /// Remove the file if it still names this process.
    pub fn remove(&self) {
        if read_pid(&self.path) == Some(std::process::id() as i32) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn read_pid(path: &Path) -> Option<i32> {
    fs::read_to_string(path)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|&p: &i32| p > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("grs-pid-{name}-{}", std::process::id()))
    }

    #[test]
    fn writes_and_removes_own_pid() {
        let path = tmp("own");
        let pf = Pidfile::create(&path, std::process::id()).unwrap();
        assert_eq!(read_pid(&path), Some(std::process::id() as i32));
        pf.remove();
        assert!(!path.exists());
    }

    #[test]
    fn rename_moves_the_file() {
        let from = tmp("from");
        let to = tmp("to");
        let mut pf = Pidfile::create(&from, std::process::id()).unwrap();
        pf.rename(&to).unwrap();
        assert!(!from.exists());
        assert_eq!(read_pid(&to), Some(std::process::id() as i32));
        // A live other process at the target: refused, the file stays put.
        fs::write(&from, "1\n").unwrap();
        assert!(pf.rename(&from).is_err());
        assert_eq!(read_pid(&to), Some(std::process::id() as i32));
        pf.remove();
        assert!(!to.exists());
        let _ = fs::remove_file(&from);
    }

    #[test]
    fn refuses_a_live_process_and_replaces_a_stale_one() {
        let path = tmp("live");
        fs::write(&path, "1\n").unwrap(); // pid 1 is always alive
        assert!(matches!(
            Pidfile::create(&path, std::process::id()),
            Err(Error::AlreadyRunning { pid: 1, .. })
        ));
        fs::write(&path, "999999999\n").unwrap();
        Pidfile::create(&path, std::process::id()).unwrap().remove();
    }
}
