//! Why a worker gets replaced, and the measurements behind it: the
//! per-worker `--max-requests` with its jitter, resident memory for
//! `--max-worker-memory`, age for `--max-worker-lifetime`.
//!
//! A worker marked for replacement keeps serving until a successor has
//! loaded the application (the arbiter decides when to stop it).

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::time::Duration;

use nix::unistd::{Pid, SysconfVar, sysconf};

/// Why a worker is being replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// SIGHUP: every worker, for new code.
    Reload,
    /// It served `--max-requests` (it told us).
    MaxRequests,
    /// Its resident memory, in MiB, went over `--max-worker-memory`.
    Memory { mib: u64, limit: u64 },
    /// It ran longer than `--max-worker-lifetime`.
    Lifetime { limit: u64 },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Reload => write!(f, "reload"),
            Reason::MaxRequests => write!(f, "it served --max-requests requests"),
            Reason::Memory { mib, limit } => {
                write!(f, "it uses {mib} MiB, over --max-worker-memory {limit}")
            }
            Reason::Lifetime { limit } => {
                write!(f, "it has run for --max-worker-lifetime {limit}s")
            }
        }
    }
}

/// Limits for the master's own checks (memory, lifetime).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// MiB of resident memory; 0: no limit.
    pub memory_mib: u64,
    /// Seconds; 0: no limit.
    pub lifetime_secs: u64,
}

impl Limits {
    /// Whether a worker of this age should be replaced now, and why.
    pub fn check(&self, pid: Pid, age: Duration) -> Option<Reason> {
        if self.lifetime_secs > 0 && age.as_secs() >= self.lifetime_secs {
            return Some(Reason::Lifetime {
                limit: self.lifetime_secs,
            });
        }
        if self.memory_mib > 0 {
            let mib = resident_mib(pid)?;
            if mib > self.memory_mib {
                return Some(Reason::Memory {
                    mib,
                    limit: self.memory_mib,
                });
            }
        }
        None
    }
}

/// One worker's request limit: `max_requests` plus a random `0..=jitter`
/// (gunicorn's `randint`), drawn in the master so that workers forked
/// from one state still get different limits. 0 stays 0 (no limit).
pub fn max_requests(max: u64, jitter: u64) -> u64 {
    if max == 0 {
        return 0;
    }
    // Each RandomState has fresh keys, so hashing a constant gives a new
    // value per call; nothing here needs more than that.
    let draw = RandomState::new().hash_one(max);
    max.saturating_add(draw % jitter.saturating_add(1))
}

/// Resident memory of a process in MiB (from /proc/PID/statm), None when
/// it cannot be read (the process is gone).
pub fn resident_mib(pid: Pid) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let page = sysconf(SysconfVar::PAGE_SIZE).ok()??;
    Some(pages.saturating_mul(u64::try_from(page).ok()?) >> 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_range_and_varies() {
        assert_eq!(max_requests(0, 50), 0);
        assert_eq!(max_requests(100, 0), 100);
        let draws: Vec<u64> = (0..200).map(|_| max_requests(100, 10)).collect();
        assert!(draws.iter().all(|n| (100..=110).contains(n)), "{draws:?}");
        let distinct: std::collections::BTreeSet<_> = draws.iter().collect();
        assert!(distinct.len() > 5, "{distinct:?}");
    }

    #[test]
    fn resident_memory_of_this_process_is_read() {
        let mib = resident_mib(Pid::this()).expect("/proc/self/statm");
        assert!(mib > 0 && mib < 1 << 20, "{mib}");
        assert_eq!(resident_mib(Pid::from_raw(i32::MAX)), None);
    }

    #[test]
    fn limits_name_the_reason() {
        let me = Pid::this();
        let lifetime = Limits {
            memory_mib: 0,
            lifetime_secs: 10,
        };
        assert_eq!(lifetime.check(me, Duration::from_secs(9)), None);
        assert_eq!(
            lifetime.check(me, Duration::from_secs(10)),
            Some(Reason::Lifetime { limit: 10 })
        );
        let memory = Limits {
            memory_mib: 1,
            lifetime_secs: 0,
        };
        assert!(matches!(
            memory.check(me, Duration::ZERO),
            Some(Reason::Memory { limit: 1, .. })
        ));
        let none = Limits {
            memory_mib: 0,
            lifetime_secs: 0,
        };
        assert_eq!(none.check(me, Duration::from_secs(1 << 40)), None);
    }
}
