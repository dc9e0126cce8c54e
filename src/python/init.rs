//! Starting and stopping the embedded interpreter.
//!
//! CPython is configured with a PEP 587 `PyConfig` whose `program_name` is
//! the resolved interpreter (so a virtualenv is honoured without PATH or
//! PYTHONHOME tricks, ../shared/embedding.md §b), with Python's own signal
//! handlers off (the server owns every signal) and `sys.argv` set to the real
//! command line.

use std::ffi::{CStr, CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::ffi;
use pyo3::prelude::*;

use super::Error;
use super::resolve::{BUILD_VERSION, Interpreter};

/// Start CPython for `interp`, then release the GIL so that any thread can
/// `Python::attach`. Call once, from the main thread, before any fork.
pub fn initialize(interp: &Interpreter, argv: &[OsString]) -> Result<(), Error> {
    let program = cstring(interp.program.as_os_str().as_bytes())?;
    let args: Vec<CString> = argv
        .iter()
        .map(|a| cstring(a.as_bytes()))
        .collect::<Result<_, _>>()?;
    let mut arg_ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();

    // SAFETY: `PyConfig` is a plain C struct that `PyConfig_InitPythonConfig`
    // fully initialises before any other use; every pointer handed to the
    // setters (`program`, `args`) outlives the calls, which copy the strings.
    // `PyConfig_Clear` frees what the config owns on every path.
    unsafe {
        let mut config: ffi::PyConfig = std::mem::zeroed();
        let c = &raw mut config;
        ffi::PyConfig_InitPythonConfig(c);
        (*c).install_signal_handlers = 0;
        (*c).parse_argv = 0;
        // Raw pointers: the setter takes the config and one of its own
        // fields, which two `&mut` could not express.
        let mut status =
            ffi::PyConfig_SetBytesString(c, &raw mut (*c).program_name, program.as_ptr());
        if ffi::PyStatus_Exception(status) == 0 {
            status = ffi::PyConfig_SetBytesArgv(
                c,
                arg_ptrs.len() as ffi::Py_ssize_t,
                arg_ptrs.as_mut_ptr(),
            );
        }
        if ffi::PyStatus_Exception(status) == 0 {
            status = ffi::Py_InitializeFromConfig(c);
        }
        ffi::PyConfig_Clear(c);
        if ffi::PyStatus_Exception(status) != 0 {
            return Err(Error::Init(status_message(&status)));
        }
        // The main thread keeps its thread state; releasing the GIL lets
        // `Python::attach` (PyGILState_Ensure) take it back on demand.
        ffi::PyEval_SaveThread();
    }
    check_running_version()
}

/// The interpreter that came up must be the one the binary was built for:
/// a mismatch means a foreign stdlib, which fails later in confusing ways.
fn check_running_version() -> Result<(), Error> {
    Python::attach(|py| {
        let info = py.version_info();
        let running = format!("{}.{}", info.major, info.minor);
        if running == BUILD_VERSION {
            Ok(())
        } else {
            Err(Error::Init(format!(
                "Python {running} started, but this binary was built for Python {BUILD_VERSION}"
            )))
        }
    })
}

/// Run `atexit` handlers, flush `sys.stdout`/`sys.stderr` and join
/// non-daemon threads, as a Python process does when it exits: without this
/// an app's buffered output is lost (../shared/embedding.md §b). Returns
/// whether finalisation succeeded. Call it last, on a thread that is not
/// attached; the interpreter must not be used afterwards (a second call,
/// or a call while attached, does nothing and returns false).
pub fn finalize() -> bool {
    static DONE: AtomicBool = AtomicBool::new(false);
    // SAFETY: PyGILState_Check only reads this thread's state.
    let attached = unsafe { ffi::PyGILState_Check() } != 0;
    if attached || DONE.swap(true, Ordering::SeqCst) {
        return false;
    }
    // SAFETY: the interpreter was initialised by `initialize` in this
    // process (or the parent that forked it, after PyOS_AfterFork_Child);
    // this thread is not attached (checked above), so `PyGILState_Ensure`
    // takes the GIL, as `Py_FinalizeEx` requires, and `DONE` makes this the
    // only finalisation. The matching release is deliberately omitted:
    // after finalisation the thread state no longer exists.
    unsafe {
        ffi::PyGILState_Ensure();
        ffi::Py_FinalizeEx() == 0
    }
}

fn cstring(bytes: &[u8]) -> Result<CString, Error> {
    CString::new(bytes)
        .map_err(|_| Error::Init("an argument or path contains a NUL byte".to_owned()))
}

fn status_message(status: &ffi::PyStatus) -> String {
    let text = |p: *const libc::c_char| {
        if p.is_null() {
            None
        } else {
            // SAFETY: CPython fills these fields with static NUL-terminated strings.
            Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
        }
    };
    match (text(status.func), text(status.err_msg)) {
        (Some(func), Some(msg)) => format!("{func}: {msg}"),
        (None, Some(msg)) => msg,
        _ if status.exitcode != 0 => {
            format!("Python asked to exit with status {}", status.exitcode)
        }
        _ => "Python failed to start".to_owned(),
    }
}
