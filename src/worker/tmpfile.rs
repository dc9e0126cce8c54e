//! Anonymous temporary files (heartbeats, spooled request bodies): they
//! have no name, so nothing is left behind when the process dies.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl, open};
use nix::sys::stat::Mode;

/// A new read-write file in `dir` with no name, closed on exec.
pub fn anonymous(dir: &Path) -> io::Result<File> {
    let flags = OFlag::O_TMPFILE | OFlag::O_RDWR | OFlag::O_CLOEXEC;
    let fd: OwnedFd = match open(dir, flags, Mode::S_IRUSR | Mode::S_IWUSR) {
        Ok(fd) => fd,
        // File systems without O_TMPFILE: create, then unlink at once.
        Err(_) => {
            let (fd, path) = nix::unistd::mkstemp(&dir.join("gunicorn-rs-XXXXXX"))?;
            let _ = std::fs::remove_file(path);
            fcntl(&fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
            fd
        }
    };
    Ok(File::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn anonymous_files_hold_data_and_have_no_name() {
        let mut f = anonymous(&std::env::temp_dir()).unwrap();
        f.write_all(b"spooled").unwrap();
        f.rewind().unwrap();
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        assert_eq!(s, "spooled");
        assert_eq!(
            f.metadata().unwrap().nlink(),
            0,
            "no directory entry names it"
        );
        let flags = FdFlag::from_bits_retain(fcntl(&f, FcntlArg::F_GETFD).unwrap());
        assert!(flags.contains(FdFlag::FD_CLOEXEC));
    }
}
