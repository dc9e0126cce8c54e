//! Wall-clock stamps for log lines: local time with its numeric UTC offset,
//! in the two layouts gunicorn uses (error log and Common Log Format).
//!
//! `localtime_r` is used instead of a date crate: it honours `TZ` and
//! `/etc/localtime` exactly as Python's `time.localtime` does.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::http::date::civil_from_days;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A broken-down local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LocalTime {
    pub year: i64,
    /// 1..=12
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// Seconds east of UTC.
    pub utc_offset: i64,
}

/// Seconds since the epoch, now.
pub(crate) fn now_secs() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        // A clock before 1970 is not worth failing a log line over.
        Err(_) => 0,
    }
}

impl LocalTime {
    /// `secs` since the epoch in the process's local time zone; UTC if the
    /// C library cannot convert it.
    pub fn at(secs: i64) -> LocalTime {
        let t: libc::time_t = secs as libc::time_t;
        // SAFETY: all-zero bytes are a valid `libc::tm` (plain integers and,
        // on glibc, a nullable `tm_zone` pointer).
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers come from live locals of the right types;
        // localtime_r is the reentrant variant and keeps no reference to them.
        let ok = !unsafe { libc::localtime_r(&t, &mut tm) }.is_null();
        if !ok {
            return LocalTime::utc(secs);
        }
        // c_long is only i64 on 64-bit targets.
        #[allow(clippy::useless_conversion)]
        let utc_offset = i64::from(tm.tm_gmtoff);
        LocalTime {
            year: i64::from(tm.tm_year) + 1900,
            month: (tm.tm_mon + 1).clamp(1, 12) as u8,
            day: tm.tm_mday as u8,
            hour: tm.tm_hour as u8,
            minute: tm.tm_min as u8,
            // tm_sec can be 60 on a leap second; keep it as the libc says.
            second: tm.tm_sec as u8,
            utc_offset,
        }
    }

    /// `secs` since the epoch in UTC (proleptic Gregorian).
    pub fn utc(secs: i64) -> LocalTime {
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        LocalTime {
            year,
            month: month as u8,
            day: day as u8,
            hour: (rem / 3600) as u8,
            minute: (rem / 60 % 60) as u8,
            second: (rem % 60) as u8,
            utc_offset: 0,
        }
    }

    /// `[2026-11-22 13:19:27 +0000]`: the error log's `datefmt`.
    pub fn write_error_stamp(&self, out: &mut Vec<u8>) {
        let _ = write!(
            out,
            "[{:04}-{:02}-{:02} {:02}:{:02}:{:02} ",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        self.write_offset(out);
        out.push(b']');
    }

    /// `[22/Nov/2026:13:19:27 +0000]`: the access log's `%(t)s`.
    pub fn write_clf_stamp(&self, out: &mut Vec<u8>) {
        let month = MONTHS[usize::from(self.month.clamp(1, 12) - 1)];
        let _ = write!(
            out,
            "[{:02}/{}/{:04}:{:02}:{:02}:{:02} ",
            self.day, month, self.year, self.hour, self.minute, self.second
        );
        self.write_offset(out);
        out.push(b']');
    }

    /// `+HHMM` / `-HHMM`, as strftime's `%z`.
    fn write_offset(&self, out: &mut Vec<u8>) {
        let sign = if self.utc_offset < 0 { '-' } else { '+' };
        let abs = self.utc_offset.unsigned_abs();
        let _ = write!(out, "{sign}{:02}{:02}", abs / 3600, abs % 3600 / 60);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(t: &LocalTime, clf: bool) -> String {
        let mut v = Vec::new();
        if clf {
            t.write_clf_stamp(&mut v);
        } else {
            t.write_error_stamp(&mut v);
        }
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn utc_conversion() {
        // 2026-11-22 13:19:27 UTC
        let t = LocalTime::utc(1_795_353_567);
        assert_eq!(stamp(&t, false), "[2026-11-22 13:19:27 +0000]");
        assert_eq!(stamp(&t, true), "[22/Nov/2026:13:19:27 +0000]");
        assert_eq!(
            stamp(&LocalTime::utc(0), false),
            "[1970-01-01 00:00:00 +0000]"
        );
        // A leap day and a pre-epoch instant.
        assert_eq!(
            stamp(&LocalTime::utc(951_782_400), true),
            "[29/Feb/2000:00:00:00 +0000]"
        );
        assert_eq!(
            stamp(&LocalTime::utc(-1), false),
            "[1969-12-31 23:59:59 +0000]"
        );
    }

    #[test]
    fn offsets() {
        let mut t = LocalTime::utc(0);
        t.utc_offset = 5 * 3600 + 30 * 60;
        assert!(stamp(&t, false).ends_with(" +0530]"));
        t.utc_offset = -(3 * 3600 + 30 * 60);
        assert!(stamp(&t, true).ends_with(" -0330]"));
    }

    #[test]
    fn local_time_agrees_with_its_offset() {
        // Whatever the zone, local time minus its offset is UTC.
        let secs = 1_795_353_567;
        let local = LocalTime::at(secs);
        let mut back = LocalTime::utc(secs + local.utc_offset);
        back.utc_offset = local.utc_offset;
        assert_eq!(local, back);
    }
}
