//! Worker liveness without IPC, as gunicorn's `WorkerTmp`: each worker owns
//! an anonymous temporary file, created by the master before the fork; the
//! worker touches its times, the master reads them. Times are
//! CLOCK_MONOTONIC, so wall-clock jumps do not kill workers.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use nix::sys::stat::{fstat, futimens};
use nix::sys::time::TimeSpec;
use nix::time::{ClockId, clock_gettime};
use nix::unistd::{Gid, Uid, fchown};

/// One worker's heartbeat file (created by the master, inherited by the worker).
#[derive(Debug)]
pub struct Heartbeat {
    fd: OwnedFd,
}

impl Heartbeat {
    /// An anonymous file in `dir`, marked "not yet notified" (time 0): a
    /// worker is watched from its first notify, after it loaded the app,
    /// as in gunicorn (a slow import is not a timeout).
    pub fn create(dir: &Path) -> io::Result<Heartbeat> {
        let beat = Heartbeat {
            fd: OwnedFd::from(super::tmpfile::anonymous(dir)?),
        };
        beat.set(TimeSpec::new(0, 0))?;
        Ok(beat)
    }

    /// Hand the file to the worker's user and group (before the fork), so
    /// the worker can still touch it after it switched to them.
    pub fn chown(&self, uid: u32, gid: u32) -> io::Result<()> {
        let (uid, gid) = (Uid::from_raw(uid), Gid::from_raw(gid));
        fchown(self.fd.as_fd(), Some(uid), Some(gid))?;
        Ok(())
    }

    /// Worker side: "still alive".
    pub fn notify(&self) -> io::Result<()> {
        self.set(clock_gettime(ClockId::CLOCK_MONOTONIC)?)
    }

    /// Master side: time since the last notify, None before the first.
    pub fn silence(&self) -> io::Result<Option<Duration>> {
        let st = fstat(self.fd.as_fd())?;
        if st.st_mtime == 0 && st.st_mtime_nsec == 0 {
            return Ok(None);
        }
        let then = Duration::new(st.st_mtime as u64, st.st_mtime_nsec as u32);
        let now = Duration::from(clock_gettime(ClockId::CLOCK_MONOTONIC)?);
        Ok(Some(now.saturating_sub(then)))
    }

    fn set(&self, t: TimeSpec) -> io::Result<()> {
        futimens(self.fd.as_fd(), &t, &t)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_is_none_until_notified_then_small() {
        let beat = Heartbeat::create(&std::env::temp_dir()).unwrap();
        assert_eq!(beat.silence().unwrap(), None);
        beat.notify().unwrap();
        let silence = beat.silence().unwrap().expect("notified");
        assert!(silence < Duration::from_secs(5), "{silence:?}");
    }
}
