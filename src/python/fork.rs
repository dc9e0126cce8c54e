//! The one place the server forks.
//!
//! Once the interpreter is up, a plain `fork()` can leave the child waiting
//! forever for a GIL held by a thread that does not exist there, and gives
//! every child the same `random` state. CPython's own fork protocol avoids
//! both: take the GIL, `PyOS_BeforeFork`, fork, then `PyOS_AfterFork_Child`
//! or `PyOS_AfterFork_Parent` (what `os.fork()` does; 60/60 clean children in
//! ../shared/embedding.md §c against 0/60 for a plain fork).

use nix::unistd::{ForkResult, Pid};
use pyo3::ffi;
use pyo3::prelude::*;

/// Which side of the fork this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    Parent(Pid),
    Child,
}

/// Fork the process with the interpreter's fork hooks. The caller must not
/// run threads of its own (the master has none: signals come through a
/// self-pipe, logs are written synchronously). Python threads a preloaded
/// app started are fine: the hooks hand their locks over cleanly.
pub fn fork() -> nix::Result<Forked> {
    Python::attach(|py| {
        flush_stdio(py);
        // SAFETY: the GIL is held (inside `attach`), which the PyOS_* hooks
        // require. The only threads besides this one are Python threads (a
        // preloaded app's), whose interpreter locks PyOS_BeforeFork takes
        // and PyOS_AfterFork_Child re-initialises; the server itself runs no
        // other thread that could hold a lock across the fork. Each path
        // calls exactly one AfterFork hook matching BeforeFork.
        unsafe {
            ffi::PyOS_BeforeFork();
            let result = nix::unistd::fork();
            match result {
                Ok(ForkResult::Child) => {
                    ffi::PyOS_AfterFork_Child();
                    Ok(Forked::Child)
                }
                Ok(ForkResult::Parent { child }) => {
                    ffi::PyOS_AfterFork_Parent();
                    Ok(Forked::Parent(child))
                }
                Err(e) => {
                    ffi::PyOS_AfterFork_Parent();
                    Err(e)
                }
            }
        }
    })
}

/// Flush `sys.stdout` and `sys.stderr`: before forking (a child inherits a
/// copy of their unflushed buffers and writes it out again when it exits,
/// so a preloaded app's `print()` at import would otherwise appear once per
/// worker plus once for the master, as under gunicorn, whose `os.fork()`
/// does not flush either), and before a worker exits without finalising.
/// Errors (a closed or missing stream) are ignored.
pub fn flush_stdio(py: Python<'_>) {
    let Ok(sys) = py.import("sys") else { return };
    for name in ["stdout", "stderr"] {
        if let Ok(stream) = sys.getattr(name)
            && !stream.is_none()
        {
            let _ = stream.call_method0("flush");
        }
    }
}
