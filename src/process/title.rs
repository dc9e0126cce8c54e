//! Process titles, as gunicorn sets them with the `setproctitle` package:
//! `gunicorn-rs: master [NAME]` and `gunicorn-rs: worker [NAME]` in `ps`
//! (`/proc/PID/cmdline`), and the same cut to 15 bytes as the short
//! name (`/proc/PID/comm`, `top`).
//!
//! Linux shows as a process's command line the memory its arguments were
//! passed in, followed by the environment strings. To show another text
//! there, that memory is overwritten, which first needs everything that
//! points into it moved out: [`init`] copies each argument and each
//! environment string elsewhere and points `argv`, `environ` and glibc's
//! program name at the copies, so `std::env`, `getenv` and error messages
//! keep working. Python copied its `sys.argv` when it started. The
//! arguments are found through glibc, which passes `argc`/`argv` to
//! functions in `.init_array` (the way Rust's std finds them too).
//!
//! All of the `unsafe` of the process-identity code except fork is here.
//! Elsewhere (not glibc Linux), [`set`] only sets the short name.

use std::ffi::CString;
use std::sync::Mutex;

/// What a title starts with (gunicorn: `gunicorn: `).
const PREFIX: &str = "gunicorn-rs: ";

/// The overwritable memory: start address and length in bytes, once
/// [`init`] has moved out what pointed into it.
static AREA: Mutex<Option<(usize, usize)>> = Mutex::new(None);

/// Set the process title to `gunicorn-rs: {title}`: the command line as
/// far as the argument and environment memory allows (more is cut), and
/// the calling thread's short name (the first 15 bytes). Works without
/// [`init`] too, then only the short name changes.
pub fn set(title: &str) {
    let full = format!("{PREFIX}{title}");
    if let Ok(name) = CString::new(full.as_bytes()) {
        // The kernel keeps the first 15 bytes; failure only means the
        // short name stays as it was.
        let _ = nix::sys::prctl::set_name(&name);
    }
    let area = AREA.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((start, len)) = *area {
        glibc::write(start, len, full.as_bytes());
    }
}

/// Make the command line writable. Idempotent.
///
/// # Safety
/// Call first thing in `main`, while the process has one thread: this
/// repoints `argv`, `environ` and glibc's program name, which another
/// thread could be reading.
pub unsafe fn init() {
    let mut area = AREA.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if area.is_none() {
        *area = glibc::take_area();
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    use std::ffi::{CStr, c_char, c_int};
    use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

    static ARGC: AtomicUsize = AtomicUsize::new(0);
    static ARGV: AtomicPtr<*mut c_char> = AtomicPtr::new(std::ptr::null_mut());

    /// Run by glibc before `main`, with the process's `argc`/`argv`/`envp`.
    #[used]
    #[unsafe(link_section = ".init_array")]
    static CAPTURE: extern "C" fn(c_int, *mut *mut c_char, *mut *mut c_char) = capture;

    extern "C" fn capture(argc: c_int, argv: *mut *mut c_char, _envp: *mut *mut c_char) {
        ARGC.store(usize::try_from(argc).unwrap_or(0), Ordering::Relaxed);
        ARGV.store(argv, Ordering::Relaxed);
    }

    unsafe extern "C" {
        static mut environ: *mut *mut c_char;
        static mut program_invocation_name: *mut c_char;
        static mut program_invocation_short_name: *mut c_char;
    }

    /// Find the arguments and the environment strings that follow them
    /// without a gap, repoint every pointer to them at a copy, and return
    /// the memory they spanned. None when glibc gave no arguments.
    pub fn take_area() -> Option<(usize, usize)> {
        // Referencing the static keeps it (and so the capture) linked in.
        let _ = std::hint::black_box(&CAPTURE);
        let argc = ARGC.load(Ordering::Relaxed);
        let argv = ARGV.load(Ordering::Relaxed);
        if argv.is_null() || argc == 0 {
            return None;
        }
        // SAFETY: `argv` is the array glibc passed to `capture`: `argc`
        // valid pointers to NUL-terminated strings (then a null), alive
        // for the whole process. `environ` is a null-terminated array of
        // such strings. The caller holds the only thread, so no one reads
        // the environment or the arguments while they are repointed. The
        // copies are leaked on purpose: they live as long as the process.
        unsafe {
            let start = *argv;
            if start.is_null() {
                return None;
            }
            let mut end = start;
            for i in 0..argc {
                let arg = *argv.add(i);
                if arg != end {
                    break;
                }
                end = arg.add(CStr::from_ptr(arg).to_bytes_with_nul().len());
            }
            let env = environ;
            if !env.is_null() {
                let mut i = 0;
                while !(*env.add(i)).is_null() {
                    let var = *env.add(i);
                    if var == end {
                        end = var.add(CStr::from_ptr(var).to_bytes_with_nul().len());
                    }
                    i += 1;
                }
            }
            let inside = |p: *mut c_char| p >= start && p < end;
            let copy = |p: *mut c_char| CStr::from_ptr(p).to_owned().into_raw();
            for i in 0..argc {
                let arg = *argv.add(i);
                if inside(arg) {
                    *argv.add(i) = copy(arg);
                }
            }
            if !env.is_null() {
                let mut i = 0;
                while !(*env.add(i)).is_null() {
                    let var = *env.add(i);
                    if inside(var) {
                        *env.add(i) = copy(var);
                    }
                    i += 1;
                }
            }
            // glibc's program name points into argv[0]: at its copy's
            // corresponding offsets.
            let name = program_invocation_name;
            if inside(name) {
                let new_name = *argv;
                let short = program_invocation_short_name;
                if short >= name && short < end {
                    let offset = short.offset_from(name);
                    program_invocation_short_name = new_name.offset(offset);
                }
                program_invocation_name = new_name;
            }
            Some((start as usize, end.offset_from(start) as usize))
        }
    }

    /// Write `text`, cut to fit, and clear the rest of the area.
    pub fn write(start: usize, len: usize, text: &[u8]) {
        if len == 0 {
            return;
        }
        let n = text.len().min(len - 1);
        // SAFETY: `start..start + len` is the memory `take_area` found:
        // argument and environment strings, writable, alive for the whole
        // process, and no longer referenced by anything (every pointer
        // into it was moved to a copy). Callers serialise on `AREA`.
        unsafe {
            let dst = start as *mut u8;
            std::ptr::copy_nonoverlapping(text.as_ptr(), dst, n);
            std::ptr::write_bytes(dst.add(n), 0, len - n);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod glibc {
    pub fn take_area() -> Option<(usize, usize)> {
        None
    }

    pub fn write(_start: usize, _len: usize, _text: &[u8]) {}
}
