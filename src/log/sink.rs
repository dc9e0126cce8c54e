//! Where log lines go: a standard stream or a file opened for append.
//!
//! Every line is handed to [`Sink::write`] whole, which issues one `write(2)`
//! (more only if the kernel takes part of it), so lines from the master and
//! the workers sharing one `O_APPEND` file do not interleave. Errors are
//! swallowed: logging must never take the server down.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

/// Which standard stream `-` means for this log.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Std {
    Stdout,
    Stderr,
}

#[derive(Debug)]
enum Target {
    Std(Std),
    File { path: PathBuf, file: File },
}

/// An open log destination.
#[derive(Debug)]
pub(crate) struct Sink {
    target: Target,
}

impl Sink {
    /// A standard stream, no file involved.
    pub fn std(stream: Std) -> Sink {
        Sink {
            target: Target::Std(stream),
        }
    }

    /// `-` is `dash`; anything else is a path opened for append.
    pub fn open(path: &str, dash: Std) -> Result<Sink, super::Error> {
        if path == "-" {
            return Ok(Sink::std(dash));
        }
        let path = PathBuf::from(path);
        let file = open_append(&path).map_err(|source| super::Error {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Sink {
            target: Target::File { path, file },
        })
    }

    /// Open the same path again (log rotation, USR1). On failure the old
    /// file stays in use.
    pub fn reopen(&mut self) -> io::Result<()> {
        if let Target::File { path, file } = &mut self.target {
            *file = open_append(path)?;
        }
        Ok(())
    }

    /// Write all of `bytes`, ignoring errors.
    pub fn write(&self, bytes: &[u8]) {
        match &self.target {
            Target::Std(Std::Stdout) => write_fd(io::stdout().as_fd(), bytes),
            Target::Std(Std::Stderr) => write_fd(io::stderr().as_fd(), bytes),
            Target::File { file, .. } => write_fd(file.as_fd(), bytes),
        }
    }
}

/// Mode 0666 minus the umask, as Python's `open(path, "a")` that gunicorn's
/// `FileHandler` uses. The descriptor is close-on-exec (std's default): a
/// re-executed master opens its logs again.
pub(super) fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o666)
        .open(path)
}

/// `write(2)` straight to the descriptor: std's stdout is line-buffered and
/// could split or delay a line, which the access log must not do.
fn write_fd(fd: BorrowedFd<'_>, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(0) => return,
            Ok(n) => bytes = &bytes[n.min(bytes.len())..],
            Err(Errno::EINTR) => {}
            // Full pipe on a non-blocking stream, closed fd, full disk...:
            // drop the rest rather than block or fail the caller.
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn appends_and_reopens_after_rotation() {
        let dir = std::env::temp_dir().join(format!("gunicorn-rs-sink-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.log");
        fs::write(&path, "old\n").unwrap();

        let mut sink = Sink::open(path.to_str().unwrap(), Std::Stderr).unwrap();
        sink.write(b"one\n");
        assert_eq!(fs::read_to_string(&path).unwrap(), "old\none\n");

        // Rotate: the open file follows the rename until reopen().
        let rotated = dir.join("a.log.1");
        fs::rename(&path, &rotated).unwrap();
        sink.write(b"two\n");
        sink.reopen().unwrap();
        sink.write(b"three\n");
        assert_eq!(fs::read_to_string(&rotated).unwrap(), "old\none\ntwo\n");
        assert_eq!(fs::read_to_string(&path).unwrap(), "three\n");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn open_error_names_the_path() {
        let err = Sink::open("/nonexistent-dir-gunicorn-rs/x.log", Std::Stdout).unwrap_err();
        assert_eq!(err.path, "/nonexistent-dir-gunicorn-rs/x.log");
        assert!(
            err.to_string()
                .starts_with("cannot open log file /nonexistent-dir-gunicorn-rs/x.log: ")
        );
    }
}
