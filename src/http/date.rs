//! The `Date` header value (IMF-fixdate), recomputed at most once a second.

use std::time::{SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const HTTP_DATE_LEN: usize = 29;

/// Cached `Date` header value.
#[derive(Debug, Default)]
pub struct HttpDate {
    /// The second `text` was made for; `None` until first use.
    second: Option<u64>,
    text: [u8; HTTP_DATE_LEN],
}

impl HttpDate {
    /// The current date as `Sun, 06 Nov 1994 08:49:37 GMT`.
    pub fn now(&mut self) -> &[u8] {
        // A clock before 1970 is not worth an error: show the epoch.
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if self.second != Some(secs) {
            self.text = format_http_date(secs);
            self.second = Some(secs);
        }
        &self.text
    }
}

/// IMF-fixdate (RFC 9110 section 5.6.7) of `secs` seconds after the epoch.
pub fn format_http_date(secs: u64) -> [u8; HTTP_DATE_LEN] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let days = secs / 86_400;
    let in_day = secs % 86_400;
    // u64 seconds are at most 2^64 / 86 400 days: they fit an i64.
    let (year, month, day) = civil_from_days(days as i64);

    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    // 1970-01-01 was a Thursday, the first entry of DAYS.
    out[0..3].copy_from_slice(DAYS[(days % 7) as usize]);
    put2(&mut out[5..7], day);
    out[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
    // Four digits cover every year until 9999; later ones wrap, harmlessly.
    put2(&mut out[12..14], (year / 100 % 100) as u32);
    put2(&mut out[14..16], (year % 100) as u32);
    put2(&mut out[17..19], (in_day / 3600) as u32);
    put2(&mut out[20..22], (in_day / 60 % 60) as u32);
    put2(&mut out[23..25], (in_day % 60) as u32);
    out
}

fn put2(dst: &mut [u8], n: u32) {
    dst[0] = b'0' + (n / 10 % 10) as u8;
    dst[1] = b'0' + (n % 10) as u8;
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (negative
/// before it), with the proleptic Gregorian calendar. Works in 400-year
/// eras (146 097 days) counted from 0000-03-01, so leap days fall at the
/// end of each year. Also used by the log's timestamps.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // 719 468 days from 0000-03-01 to 1970-01-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1st
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(secs: u64) -> String {
        String::from_utf8(format_http_date(secs).to_vec()).unwrap()
    }

    #[test]
    fn known_dates() {
        assert_eq!(fmt(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(fmt(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(fmt(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(fmt(4_133_980_799), "Fri, 31 Dec 2100 23:59:59 GMT");
        assert_eq!(fmt(4_107_542_399), "Sun, 28 Feb 2100 23:59:59 GMT");
        assert_eq!(fmt(1_795_305_600), "Sun, 22 Nov 2026 00:00:00 GMT");
    }

    /// Walk day by day through 1600..2401 against a naive calendar.
    #[test]
    fn every_day_matches_naive_calendar() {
        // 1600-01-01 is 370 years of 365 days and 90 leap days before 1970.
        let mut days: i64 = -(370 * 365 + 90);
        for year in 1600i64..2401 {
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
            let lengths = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            for (m, &len) in lengths.iter().enumerate() {
                for d in 1..=len {
                    assert_eq!(civil_from_days(days), (year, m as u32 + 1, d), "{days}");
                    days += 1;
                }
            }
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }

    #[test]
    fn cached_value_is_well_formed() {
        let mut date = HttpDate::default();
        let first = date.now().to_vec();
        assert_eq!(first.len(), HTTP_DATE_LEN);
        assert!(first.ends_with(b" GMT"));
        assert_eq!(&first[3..5], b", ");
    }
}
