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
use nix::unistd::{dup2_stderr, dup2_stdin, dup2_stdout, isatty, setsid};

use crate::python::fork::{Forked, fork};

/// Detach. Returns in the daemon only; the parents exit 0.
///
/// The interpreter is running (it read the config file), so both forks go
/// through the one fork wrapper; the server must run no thread of its own.
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

/// Fork; the parent exits 0 and the child returns. The parent exits
/// without finalising Python: its output was flushed before the fork, and
/// the daemon carries on with the interpreter.
fn detach() -> io::Result<()> {
    match fork()? {
        Forked::Parent(_) => std::process::exit(0),
        Forked::Child => Ok(()),
    }
}
