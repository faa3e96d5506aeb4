//! Calendar arithmetic on Unix seconds, and the dates the web shows on
//! the reader's clock. A few lines of Howard Hinnant's algorithms rather
//! than a date crate: the server works out each date's offset in the
//! reader's time zone ([`Local`]), so the browser build needs no time-zone
//! database and stays small, and server and browser render the same text.

use serde::{Deserialize, Serialize};

/// How a moment reads on the reader's clock: the offset from UTC there at
/// that moment (seconds east) and the zone's name for it (`EST`, `CET`).
/// The default is UTC, until the browser has told the server its zone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Local {
    pub offset: i32,
    pub zone: String,
}

impl Local {
    /// The reader's wall-clock seconds of `t`.
    pub fn of(&self, t: i64) -> i64 {
        t + i64::from(self.offset)
    }

    fn name(&self) -> &str {
        if self.zone.is_empty() { "UTC" } else { &self.zone }
    }
}

pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
/// Day names from 1970-01-01, a Thursday.
pub const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The calendar date (year, month 1–12, day) of days since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `14:05` today, `3 Nov` this year, `3 Nov 2025` before (UTC).
pub fn short_date(t: i64, now: i64) -> String {
    let (day, today) = (t.div_euclid(86_400), now.div_euclid(86_400));
    let (y, m, d) = civil_from_days(day);
    if day == today {
        let s = t.rem_euclid(86_400);
        format!("{:02}:{:02}", s / 3600, s % 3600 / 60)
    } else if civil_from_days(today).0 == y {
        format!("{d} {}", MONTHS[m as usize - 1])
    } else {
        format!("{d} {} {y}", MONTHS[m as usize - 1])
    }
}

/// `Tue, 3 Nov 2026 14:05 UTC`, or on the reader's clock
/// `Tue, 3 Nov 2026 09:05 EST`.
pub fn long_date(t: i64, local: &Local) -> String {
    let t = local.of(t);
    let day = t.div_euclid(86_400);
    let (y, m, d) = civil_from_days(day);
    let s = t.rem_euclid(86_400);
    format!(
        "{}, {d} {} {y} {:02}:{:02} {}",
        WEEKDAYS[day.rem_euclid(7) as usize],
        MONTHS[m as usize - 1],
        s / 3600,
        s % 3600 / 60,
        local.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_formats() {
        for days in [-800_000, -1, 0, 59, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        let t = days_from_civil(2026, 11, 3) * 86_400 + 10 * 3600 + 5 * 60;
        assert_eq!(long_date(t, &Local::default()), "Tue, 3 Nov 2026 10:05 UTC");
        let new_york = Local {
            offset: -5 * 3600,
            zone: "EST".into(),
        };
        assert_eq!(long_date(t, &new_york), "Tue, 3 Nov 2026 05:05 EST");
        assert_eq!(long_date(t - 6 * 3600, &new_york), "Mon, 2 Nov 2026 23:05 EST");
        assert_eq!(short_date(t, t + 60), "10:05");
        assert_eq!(short_date(t, t + 40 * 86_400), "3 Nov");
        assert_eq!(short_date(t, t + 400 * 86_400), "3 Nov 2026");
    }
}
