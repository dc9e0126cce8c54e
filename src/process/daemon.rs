//! `--daemon`: the classic detach, as gunicorn's `util.daemonize`. Fork
//! (the launching process exits 0 at once), start a new session, fork
//! again (so the daemon can never regain a terminal), set the umask to
//! 022, and point stdin, stdout and stderr at `/dev/null`. With
//! `--enable-stdio-inheritance`, stdout and stderr are kept unless they
//! are terminals (`gunicorn-rs -D -R > out.log 2>&1` keeps writing to
//! the file); stdin always goes. The working directory is kept, as gunicorn does.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::AsFd;

use nix::sys::stat::{Mode, umask};
use nix::unistd::{ForkResult, dup2_stderr, dup2_stdin, dup2_stdout, fork, isatty, setsid};

/// Detach. Returns in the daemon only; the parents exit 0.
///
/// Must be called while the process has a single thread and before the
/// interpreter starts.
pub fn daemonize(keep_stdio: bool) -> io::Result<()> {
    detach()?;
    setsid()?;
    detach()?;
    umask(Mode::from_bits_truncate(0o022));

    let null = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    dup2_stdin(null.as_fd())?;
    let out = io::stdout();
    let err = io::stderr();
    if !keep_stdio || isatty(out.as_fd()).unwrap_or(false) {
        dup2_stdout(null.as_fd())?;
    }
    if !keep_stdio || isatty(err.as_fd()).unwrap_or(false) {
        dup2_stderr(null.as_fd())?;
    }
    Ok(())
}

/// Fork; the parent exits 0 and the child returns.
fn detach() -> io::Result<()> {
    // SAFETY: the caller guarantees a single thread, so the child cannot
    // inherit a lock held by another thread; it continues normally.
    match unsafe { fork() }? {
        ForkResult::Parent { .. } => std::process::exit(0),
        ForkResult::Child => Ok(()),
    }
}
