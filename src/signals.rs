//! Signals through a self-pipe, for the master and the workers alike.
//!
//! A handler only writes the signal number to a non-blocking pipe; the
//! owner's loop polls the read end and does the work in normal context
//! (same rule as gunicorn's arbiter: "NO LOGGING, just queue the signal").

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::fcntl::OFlag;
use nix::sys::signal::{
    SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, pthread_sigmask, sigaction,
};
use signal_hook::SigId;

/// Registered handlers and the pipe they write to. Dropping it unregisters
/// the handlers before the pipe closes, so no handler can ever write into a
/// descriptor number that was reused.
pub struct SignalPipe {
    read: OwnedFd,
    /// Written by the handlers; closed only after they are unregistered.
    write: OwnedFd,
    ids: Vec<SigId>,
    /// Set by the handlers too, one bit per signal: a free check between
    /// two pieces of work, from any thread (the pipe is for waking a
    /// sleeping loop).
    pending: Pending,
}

/// Which signals arrived since the pipe was last drained, readable from
/// any thread without a syscall.
#[derive(Clone, Debug, Default)]
pub struct Pending(Arc<AtomicU64>);

impl Pending {
    /// Whether any of `signals` arrived since the last drain.
    pub fn any_of(&self, signals: &[Signal]) -> bool {
        let mask = signals.iter().fold(0, |m, &s| m | bit(s));
        self.0.load(Ordering::Relaxed) & mask != 0
    }
}

/// A signal's bit in [`Pending`] (signal numbers are below 64).
fn bit(sig: Signal) -> u64 {
    1u64 << ((sig as u32) & 63)
}

impl SignalPipe {
    /// Route `signals` to a new pipe.
    pub fn install(signals: &[Signal]) -> io::Result<SignalPipe> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
        let pending = Pending::default();
        let mut pipe = SignalPipe {
            read,
            write,
            ids: Vec::with_capacity(signals.len()),
            pending,
        };
        let fd = pipe.write.as_raw_fd();
        for &sig in signals {
            let byte = sig as u8;
            let flag = Arc::clone(&pipe.pending.0);
            let mask = bit(sig);
            let action = move || {
                flag.fetch_or(mask, Ordering::Relaxed);
                // SAFETY: write(2) on a valid fd with a 1-byte buffer is
                // async-signal-safe (signal-hook saves and restores errno
                // around actions). A full pipe drops the byte: the loop
                // already has signals to read.
                unsafe {
                    libc::write(fd, (&raw const byte).cast(), 1);
                }
            };
            // SAFETY: the action only updates a lock-free atomic and calls
            // async-signal-safe functions (above).
            let id = unsafe { signal_hook::low_level::register(sig as libc::c_int, action) }?;
            pipe.ids.push(id);
        }
        Ok(pipe)
    }

    /// Whether a signal arrived since the last `drain`, without a syscall.
    pub fn pending(&self) -> bool {
        self.pending.0.load(Ordering::Relaxed) != 0
    }

    /// A handle on the pending signals for other threads.
    pub fn watch(&self) -> Pending {
        self.pending.clone()
    }

    /// Signals received since the last call, in arrival order.
    pub fn drain(&self) -> Vec<Signal> {
        self.pending.0.store(0, Ordering::Relaxed);
        let mut out = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            match nix::unistd::read(&self.read, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend(
                    buf[..n]
                        .iter()
                        .filter_map(|&b| Signal::try_from(i32::from(b)).ok()),
                ),
            }
        }
        out
    }
}

impl Drop for SignalPipe {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

impl AsFd for SignalPipe {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}

/// Signals held back while the master forks, so none reaches a child
/// between fork and the moment its own handlers are in place (an action
/// left behind by the master would swallow it).
pub fn block_all() -> nix::Result<SigSet> {
    let mut old = SigSet::empty();
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), Some(&mut old))?;
    Ok(old)
}

/// Restore the mask `block_all` returned; signals held meanwhile arrive now.
pub fn restore(mask: &SigSet) {
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(mask), None);
}

/// Give `signals` their default disposition again (in a worker, for the
/// master's signals it does not handle: HUP or USR2 end a worker, as in
/// gunicorn, instead of being swallowed by an action-less handler).
pub fn reset_to_default(signals: &[Signal]) {
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for &sig in signals {
        // SAFETY: installing SIG_DFL runs no code of ours in signal context.
        // signal-hook keeps believing its handler is installed for these
        // signals, which is harmless as long as nothing registers them again
        // in this process (workers do not).
        let _ = unsafe { sigaction(sig, &default) };
    }
}

/// SIGABRT (what the master sends a worker that missed its heartbeat) ends
/// the process with status 1 at once, as gunicorn's worker does, instead of
/// the default abort and its core dump. A worker replaces this with its
/// reporting handler (`worker::abort`) once the interpreter is ready.
pub fn exit_on_abort() -> io::Result<()> {
    // SAFETY: `_exit` is async-signal-safe: it ends the process without
    // running any handler, destructor or lock-taking code.
    unsafe { signal_hook::low_level::register(libc::SIGABRT, || libc::_exit(1)) }?;
    Ok(())
}

/// Ignore SIGPIPE: a client that went away must be an EPIPE error on the
/// socket, not the end of the worker. Re-asserted after the application
/// loaded, since an app may have restored the default action.
pub fn ignore_sigpipe() {
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_IGN runs no code of ours in signal context.
    let _ = unsafe { sigaction(Signal::SIGPIPE, &ignore) };
}
