//! UTC calendar dates in the forms IM and WebSphere write them, with no date library.

use crate::facts::DAY;

/// A UTC calendar time.
pub(crate) struct Civil {
    pub(crate) year: i64,
    pub(crate) month: i64,
    pub(crate) day: i64,
    pub(crate) hour: i64,
    pub(crate) minute: i64,
    pub(crate) second: i64,
    pub(crate) weekday: i64,
}

impl Civil {
    /// Howard Hinnant's `civil_from_days`.
    pub(crate) fn of(t: i64) -> Civil {
        let days = t.div_euclid(DAY);
        let secs = t.rem_euclid(DAY);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: secs / 3600,
            minute: secs % 3600 / 60,
            second: secs % 60,
            weekday: (days + 4).rem_euclid(7),
        }
    }
}

/// `20240404_1014`, IM's timestamp form for versions and log names.
pub(crate) fn date_tag(t: i64) -> String {
    let c = Civil::of(t);
    format!(
        "{:04}{:02}{:02}_{:02}{:02}",
        c.year, c.month, c.day, c.hour, c.minute
    )
}

/// `2024-04-04T10:14:00`.
pub(crate) fn iso(t: i64) -> String {
    let c = Civil::of(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// `Thu Apr 04 10:14:00 UTC 2024`, as `java.util.Properties.store` writes it.
pub(crate) fn java_date(t: i64) -> String {
    pub(crate) const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    pub(crate) const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = Civil::of(t);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[c.weekday as usize % 7],
        MONTHS[(c.month as usize + 11) % 12],
        c.day,
        c.hour,
        c.minute,
        c.second,
        c.year
    )
}

/// `[4/4/24 10:14:00:000 UTC]`, the WebSphere log stamp.
pub(crate) fn was_stamp(t: i64, millis: u64) -> String {
    let c = Civil::of(t);
    format!(
        "[{}/{}/{:02} {}:{:02}:{:02}:{:03} UTC]",
        c.month,
        c.day,
        c.year % 100,
        c.hour,
        c.minute,
        c.second,
        millis % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::normalize;
    use crate::facts::BASE_TIME;
    use crate::releases::{HCL_PORTAL, HCL_WAS};

    #[test]
    fn dates_format_like_im() {
        assert_eq!(date_tag(BASE_TIME), "20240404_1014");
        assert_eq!(java_date(BASE_TIME), "Thu Apr 04 10:14:00 UTC 2024");
        assert_eq!(HCL_WAS.internal(17), "9.0.5017.20230404_1425");
        assert_eq!(HCL_PORTAL.internal(219), "9.5.0.20240315_0915");
        assert_eq!(normalize("/a/b/../c/./d"), "/a/c/d");
    }
}
