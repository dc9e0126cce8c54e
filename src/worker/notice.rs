//! What workers tell the master beyond "still alive" (the heartbeat):
//! that they have loaded the application and serve, and that they would
//! like to be replaced (`--max-requests` reached).
//!
//! One pipe, made by the master before the first fork and shared by every
//! worker. A notice is 8 bytes (pid and kind), written in one `write`: the
//! kernel keeps writes up to `PIPE_BUF` whole, so notices from different
//! workers never interleave, and the pipe only ever holds whole notices.
//! Both ends are non-blocking: a worker never waits on a busy master (a
//! notice that does not fit is kept by the [`Notifier`] and sent again by
//! [`Notifier::retry`] on the worker's next tick), and the master drains the
//! pipe from its loop.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::unistd::Pid;

const NOTICE_LEN: usize = 8;

/// What a worker says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The application is loaded and the worker accepts connections.
    Booted,
    /// The worker reached `--max-requests`: replace it once a successor serves.
    Retire,
}

impl Kind {
    fn code(self) -> u8 {
        match self {
            Kind::Booted => 1,
            Kind::Retire => 2,
        }
    }

    fn from_code(code: u8) -> Option<Kind> {
        match code {
            1 => Some(Kind::Booted),
            2 => Some(Kind::Retire),
            _ => None,
        }
    }
}

/// The notice pipe. The master keeps both ends; a worker keeps only a
/// [`Notifier`].
#[derive(Debug)]
pub struct Notices {
    read: OwnedFd,
    write: OwnedFd,
}

impl Notices {
    pub fn new() -> io::Result<Notices> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
        Ok(Notices { read, write })
    }

    /// A worker's own copy of the write end (taken in the child, which then
    /// drops the pipe, closing its copy of the read end).
    pub fn notifier(&self) -> io::Result<Notifier> {
        Ok(Notifier {
            write: self.write.try_clone()?,
            unsent: Vec::new(),
        })
    }

    /// Every notice waiting in the pipe, oldest first.
    pub fn drain(&self) -> Vec<(Pid, Kind)> {
        let mut out = Vec::new();
        let mut buf = [0u8; NOTICE_LEN * 64];
        loop {
            match nix::unistd::read(&self.read, &mut buf) {
                Ok(0) | Err(_) => return out,
                Ok(n) => out.extend(buf[..n].chunks_exact(NOTICE_LEN).filter_map(decode)),
            }
        }
    }
}

impl AsFd for Notices {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}

/// A worker's end of the pipe, with the notices that did not fit yet.
#[derive(Debug)]
pub struct Notifier {
    write: OwnedFd,
    /// Not written yet, oldest first (each kind at most once).
    unsent: Vec<Kind>,
}

impl Notifier {
    /// Tell the master; a notice that cannot be written now is kept for
    /// [`retry`](Notifier::retry). Returns whether it went out now.
    pub fn send(&mut self, kind: Kind) -> bool {
        if self.write_one(kind) {
            return true;
        }
        if !self.unsent.contains(&kind) {
            self.unsent.push(kind);
        }
        false
    }

    /// Send again what did not fit before, in order, until the pipe is full.
    pub fn retry(&mut self) {
        while let Some(&kind) = self.unsent.first() {
            if !self.write_one(kind) {
                return;
            }
            self.unsent.remove(0);
        }
    }

    fn write_one(&self, kind: Kind) -> bool {
        let notice = encode(Pid::this(), kind);
        matches!(nix::unistd::write(&self.write, &notice), Ok(NOTICE_LEN))
    }
}

fn encode(pid: Pid, kind: Kind) -> [u8; NOTICE_LEN] {
    let mut out = [0u8; NOTICE_LEN];
    out[..4].copy_from_slice(&pid.as_raw().to_le_bytes());
    out[4] = kind.code();
    out
}

fn decode(notice: &[u8]) -> Option<(Pid, Kind)> {
    let pid = i32::from_le_bytes(notice.get(..4)?.try_into().ok()?);
    Some((Pid::from_raw(pid), Kind::from_code(*notice.get(4)?)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_arrive_whole_and_in_order() {
        let notices = Notices::new().unwrap();
        let mut a = notices.notifier().unwrap();
        let mut b = notices.notifier().unwrap();
        assert!(a.send(Kind::Booted));
        assert!(b.send(Kind::Retire));
        let me = Pid::this();
        assert_eq!(notices.drain(), [(me, Kind::Booted), (me, Kind::Retire)]);
        assert_eq!(notices.drain(), []);
    }

    #[test]
    fn a_full_pipe_keeps_the_notice_for_retry_instead_of_blocking() {
        let notices = Notices::new().unwrap();
        let mut n = notices.notifier().unwrap();
        let mut sent = 0;
        while n.send(Kind::Booted) {
            sent += 1;
            assert!(sent < 1 << 20, "the pipe never filled");
        }
        assert!(!n.send(Kind::Retire));
        assert!(!n.send(Kind::Retire), "kept once");
        n.retry();
        assert_eq!(notices.drain().len(), sent, "still full: nothing retried");
        n.retry();
        let me = Pid::this();
        assert_eq!(notices.drain(), [(me, Kind::Booted), (me, Kind::Retire)]);
        n.retry();
        assert_eq!(notices.drain(), [], "sent once");
    }

    #[test]
    fn unknown_kinds_are_skipped() {
        assert_eq!(decode(&[1, 0, 0, 0, 9, 0, 0, 0]), None);
        assert_eq!(
            decode(&encode(Pid::from_raw(42), Kind::Retire)),
            Some((Pid::from_raw(42), Kind::Retire))
        );
    }
}
