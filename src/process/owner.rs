//! `--user`, `--group`, `--initgroups`: the identity a worker takes after
//! fork, before it loads the application (gunicorn's
//! `util.set_owner_process`). The master keeps its own.
//!
//! Order matters: supplementary groups and the group first, while the
//! process may still change them, then the user. As gunicorn, uid or
//! gid 0 means "leave it", and only what differs from the current
//! identity is changed.
//!
//! Two deliberate differences, both about groups: when a root master
//! switches a worker without `--initgroups`, gunicorn leaves the worker
//! in root's supplementary groups; gunicorn-rs sets them to the worker's
//! group alone, so no privilege survives the switch. With
//! `--initgroups`, gunicorn sets only the supplementary groups and leaves
//! the primary group as it was; gunicorn-rs sets it to `--group` too.

use std::ffi::CString;
use std::io;

use nix::unistd::{Gid, Uid, User, getegid, geteuid, getgid, getuid, initgroups};
use nix::unistd::{setgid, setgroups, setuid};
use tracing::debug;

use super::Error;
use crate::config::Config;

/// The worker's `(uid, gid)` when it differs from the master's effective
/// identity (gunicorn's test before chowning the heartbeat file).
pub fn switching(cfg: &Config) -> Option<(u32, u32)> {
    let p = &cfg.process;
    let differs = p.user != geteuid().as_raw() || p.group != getegid().as_raw();
    differs.then_some((p.user, p.group))
}

/// In a worker, after fork and before the application is loaded: take
/// the configured group(s) and user. The access log, opened just before,
/// is handed to the worker's identity first so that it can reopen it on
/// USR1 (gunicorn chowns its log files likewise).
pub fn switch_worker(cfg: &Config) -> Result<(), Error> {
    let Some((uid, gid)) = switching(cfg) else {
        return Ok(());
    };
    if let Some(path) = cfg.accesslog.as_deref().filter(|p| *p != "-") {
        give(path, uid, gid);
    }
    set_owner(uid, gid, cfg.process.initgroups)
}

/// gunicorn's `set_owner_process(uid, gid, initgroups)`, with two
/// fixes: after `initgroups` the group itself is set too (gunicorn
/// leaves the worker's primary group unchanged then), and without it a
/// root master's supplementary groups are replaced by the worker's group.
fn set_owner(uid: u32, gid: u32, want_initgroups: bool) -> Result<(), Error> {
    let fail = |what: String| move |e: nix::Error| Error::Owner(what, io::Error::from(e));
    let new_gid = gid != 0 && gid != getgid().as_raw();
    let new_uid = uid != 0 && uid != getuid().as_raw();
    let target_gid = Gid::from_raw(if gid != 0 { gid } else { getgid().as_raw() });
    // initgroups needs the user's name; an id without one skips it, as in gunicorn.
    let name = match (want_initgroups && gid != 0, uid) {
        (true, uid) if uid != 0 => User::from_uid(Uid::from_raw(uid))
            .ok()
            .flatten()
            .and_then(|u| CString::new(u.name).ok()),
        _ => None,
    };
    match name {
        Some(name) => initgroups(&name, target_gid)
            .map_err(fail(format!("cannot set the groups of user {uid}")))?,
        None if geteuid().is_root() && (new_gid || new_uid) => setgroups(&[target_gid])
            .map_err(fail(format!("cannot set the groups to {target_gid}")))?,
        None => {}
    }
    if new_gid {
        setgid(target_gid).map_err(fail(format!("cannot switch to group {gid}")))?;
    }
    if new_uid {
        setuid(Uid::from_raw(uid)).map_err(fail(format!("cannot switch to user {uid}")))?;
    }
    Ok(())
}

/// The master's error log file is handed to the workers' identity, so a
/// worker can reopen it on USR1 (gunicorn's logger does the same).
pub fn own_error_log(cfg: &Config) {
    if let Some((uid, gid)) = switching(cfg) {
        if cfg.errorlog != "-" {
            give(&cfg.errorlog, uid, gid);
        }
    }
}

/// Change a log file's owner; a failure is not fatal, as in gunicorn.
/// Only regular files: gunicorn would also hand over `/dev/null` or a
/// terminal given as a log. Never through a symlink: whoever may write in
/// the log directory (the workers' user, often) could point the log's name
/// at any file, which this root process would then give them.
fn give(path: &str, uid: u32, gid: u32) {
    if !std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
        return;
    }
    // lchown: a symlink swapped in since the check is not followed either.
    if let Err(e) = std::os::unix::fs::lchown(path, Some(uid), Some(gid)) {
        debug!("cannot chown {path} to {uid}:{gid}: {e}");
    }
}
