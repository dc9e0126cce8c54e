//! Listeners the server is handed at start instead of binding them:
//! systemd socket activation (`LISTEN_PID` + `LISTEN_FDS`: descriptors 3,
//! 4, ...) and a USR2 re-exec (`GUNICORN_FD=3,4`, from the old master).
//!
//! As gunicorn (`systemd.listen_fds`, and `sock.create_sockets` given
//! descriptors): when sockets are inherited, they and any `fd://` binds
//! are the listeners and every other `--bind` value is ignored, since the
//! sockets already carry their addresses. A socket that already listens is
//! not `listen()`ed again (see [`Listener::bind`] for `fd://`).
//!
//! Reading the environment is here; removing the variables afterwards is the
//! caller's (the master does it through Python's `os.environ`, so the
//! interpreter's copy agrees).

use super::{BindAddr, Error, Listener, parse_bind};

/// systemd passes its sockets from this descriptor on (`SD_LISTEN_FDS_START`).
pub const SD_LISTEN_FDS_START: i32 = 3;

/// The variables systemd sets for the process it activates.
pub const SYSTEMD_VARS: [&str; 2] = ["LISTEN_PID", "LISTEN_FDS"];
/// The variable a re-executing master lists its listeners' descriptors in.
pub const REEXEC_VAR: &str = "GUNICORN_FD";

/// Who handed the sockets over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// systemd socket activation; a re-exec hands them on the same way.
    Systemd,
    /// The old master of a USR2 upgrade.
    Reexec,
}

/// Descriptors inherited from the process that started this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inherited {
    pub origin: Origin,
    pub fds: Vec<i32>,
}

impl Inherited {
    /// What the environment hands over: systemd's sockets when `LISTEN_PID`
    /// is `pid`, else `GUNICORN_FD` when this master was re-executed
    /// (`reexec`: `GUNICORN_PID` is set), else nothing.
    ///
    /// `LISTEN_PID` naming another process is not for us and is ignored;
    /// a malformed `LISTEN_FDS` or `GUNICORN_FD` is an error.
    pub fn from_env(
        env: impl Fn(&str) -> Option<String>,
        pid: u32,
        reexec: bool,
    ) -> Result<Option<Inherited>, Error> {
        let listen_pid = env("LISTEN_PID").and_then(|p| p.trim().parse::<u32>().ok());
        if listen_pid == Some(pid) {
            let value = env("LISTEN_FDS").unwrap_or_default();
            let n: i32 = value.trim().parse().map_err(|_| Error::Environment {
                var: "LISTEN_FDS",
                value: value.clone(),
                message: "not a number of descriptors".into(),
            })?;
            if n > 0 {
                let fds = (SD_LISTEN_FDS_START..SD_LISTEN_FDS_START.saturating_add(n)).collect();
                return Ok(Some(Inherited {
                    origin: Origin::Systemd,
                    fds,
                }));
            }
        }
        if !reexec {
            return Ok(None);
        }
        let Some(value) = env(REEXEC_VAR) else {
            return Ok(None);
        };
        let bad = |message: String| Error::Environment {
            var: REEXEC_VAR,
            value: value.clone(),
            message,
        };
        let mut fds = Vec::new();
        for part in value.split(',') {
            let fd = part
                .trim()
                .parse::<i32>()
                .ok()
                .filter(|&n| n >= 0)
                .ok_or_else(|| bad(format!("{part:?} is not a file descriptor")))?;
            if fds.contains(&fd) {
                return Err(bad(format!("fd {fd} is given more than once")));
            }
            fds.push(fd);
        }
        Ok(Some(Inherited {
            origin: Origin::Reexec,
            fds,
        }))
    }

    /// The listeners: `fd://` values of `binds` first, then the inherited
    /// descriptors not among them (gunicorn's order). Other bind values are
    /// ignored. On failure the descriptors adopted so far are closed.
    pub fn adopt(&self, binds: &[String], backlog: i32) -> Result<Vec<Listener>, Error> {
        let mut fds = Vec::new();
        let mut ignored = Vec::new();
        for value in binds {
            match parse_bind(value)? {
                BindAddr::Fd(n) if !fds.contains(&n) => fds.push(n),
                BindAddr::Fd(_) => {}
                _ => ignored.push(value.as_str()),
            }
        }
        for &fd in &self.fds {
            if !fds.contains(&fd) {
                fds.push(fd);
            }
        }
        let from = match self.origin {
            Origin::Systemd => "systemd",
            Origin::Reexec => "the old master",
        };
        tracing::debug!("Using {} socket(s) inherited from {from}", self.fds.len());
        if !ignored.is_empty() {
            tracing::debug!("Inherited sockets replace --bind {}", ignored.join(", "));
        }
        let mut listeners: Vec<Listener> = Vec::with_capacity(fds.len());
        for n in fds {
            match Listener::bind(&BindAddr::Fd(n), backlog) {
                Ok(l) => listeners.push(l),
                Err(e) => {
                    // Never unlink: the socket files belong to whoever made them.
                    for l in listeners {
                        l.close(false);
                    }
                    return Err(e);
                }
            }
        }
        Ok(listeners)
    }

    /// The variables to remove from the environment once adopted.
    pub fn env_vars(&self) -> &'static [&'static str] {
        match self.origin {
            Origin::Systemd => &SYSTEMD_VARS,
            Origin::Reexec => &[REEXEC_VAR],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::net::TcpListener;
    use std::os::fd::{AsFd, AsRawFd, IntoRawFd};

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn systemd_only_for_our_pid() {
        let vars = env(&[("LISTEN_PID", "42"), ("LISTEN_FDS", "2")]);
        assert_eq!(
            Inherited::from_env(&vars, 42, false).unwrap(),
            Some(Inherited {
                origin: Origin::Systemd,
                fds: vec![3, 4]
            })
        );
        assert_eq!(Inherited::from_env(&vars, 43, false).unwrap(), None);
        let zero = env(&[("LISTEN_PID", "42"), ("LISTEN_FDS", "0")]);
        assert_eq!(Inherited::from_env(&zero, 42, false).unwrap(), None);
        let bad = env(&[("LISTEN_PID", "42"), ("LISTEN_FDS", "two")]);
        let err = Inherited::from_env(&bad, 42, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid LISTEN_FDS=\"two\": not a number of descriptors"
        );
        // systemd wins over a re-exec's list, as in gunicorn.
        let both = env(&[
            ("LISTEN_PID", "7"),
            ("LISTEN_FDS", "1"),
            ("GUNICORN_FD", "5"),
        ]);
        let got = Inherited::from_env(&both, 7, true).unwrap().unwrap();
        assert_eq!(got.origin, Origin::Systemd);
        assert_eq!(got.env_vars(), &SYSTEMD_VARS);
    }

    #[test]
    fn gunicorn_fd_only_when_reexecuted() {
        let vars = env(&[("GUNICORN_FD", "5,6")]);
        assert_eq!(Inherited::from_env(&vars, 1, false).unwrap(), None);
        let got = Inherited::from_env(&vars, 1, true).unwrap().unwrap();
        assert_eq!(got.fds, vec![5, 6]);
        assert_eq!(got.env_vars(), &[REEXEC_VAR]);
        for (value, message) in [
            ("", "\"\" is not a file descriptor"),
            ("5,x", "\"x\" is not a file descriptor"),
            ("-1", "\"-1\" is not a file descriptor"),
            ("5,5", "fd 5 is given more than once"),
        ] {
            let err = Inherited::from_env(env(&[("GUNICORN_FD", value)]), 1, true).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("invalid GUNICORN_FD={value:?}: {message}")
            );
        }
        assert_eq!(Inherited::from_env(env(&[]), 1, true).unwrap(), None);
    }

    #[test]
    fn adopt_ignores_other_binds_and_merges_fd_binds() {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let b = TcpListener::bind("127.0.0.1:0").unwrap();
        let (pa, pb) = (
            a.local_addr().unwrap().port(),
            b.local_addr().unwrap().port(),
        );
        let (fa, fb) = (a.into_raw_fd(), b.into_raw_fd());
        let inherited = Inherited {
            origin: Origin::Reexec,
            fds: vec![fa, fb],
        };
        // fd://B is also in the list: adopted once, in the bind's place.
        let binds = ["127.0.0.1:1".to_string(), format!("fd://{fb}")];
        let listeners = inherited.adopt(&binds, 16).unwrap();
        let urls: Vec<String> = listeners.iter().map(Listener::url).collect();
        assert_eq!(
            urls,
            [
                format!("http://127.0.0.1:{pb}"),
                format!("http://127.0.0.1:{pa}")
            ]
        );
        assert_eq!(listeners[0].as_fd().as_raw_fd(), fb);
        for l in listeners {
            l.close(false);
        }
    }

    #[test]
    fn adopt_failure_is_reported() {
        let file = std::fs::File::open("/").unwrap();
        let inherited = Inherited {
            origin: Origin::Systemd,
            fds: vec![file.as_raw_fd()],
        };
        let err = inherited.adopt(&[], 16).unwrap_err();
        assert!(err.to_string().contains("is not a socket"), "{err}");
    }
}
