//! Cell values: Dutch dates (dd-mm-jjjj), Dutch local time, euro amounts with a decimal comma.

use std::fmt::Write as _;

use chrono::{
    DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike, Utc,
};

use crate::model::MoneyCents;

pub const DATE_RULE: &str = "must be a date dd-mm-jjjj";
pub const DATE_TIME_RULE: &str =
    "must be a date dd-mm-jjjj, optionally followed by a time uu:mm or uu:mm:ss (Dutch local time)";
pub const AMOUNT_RULE: &str =
    "must be an amount in euros with a decimal comma, e.g. 1350,00 or 1.350,00";

/// `s` as a number of `min..=max` ASCII digits.
fn digits(s: &str, min: usize, max: usize) -> Option<u32> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.bytes().try_fold(0u32, |n, b| {
        n.checked_mul(10)?.checked_add(u32::from(b - b'0'))
    })
}

/// `dd-mm-jjjj` (day and month may have one digit).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let mut parts = s.splitn(3, '-');
    let d = digits(parts.next()?, 1, 2)?;
    let m = digits(parts.next()?, 1, 2)?;
    let y = digits(parts.next()?, 4, 4)?;
    NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d)
}

/// `dd-mm-jjjj`, `dd-mm-jjjj uu:mm` or `dd-mm-jjjj uu:mm:ss`, in Dutch local time.
pub fn parse_date_time(s: &str) -> Option<DateTime<Utc>> {
    let (date, time) = match s.split_once(' ') {
        Some((d, t)) => (d, Some(t.trim_start())),
        None => (s, None),
    };
    let date = parse_date(date)?;
    let time = match time {
        None => NaiveTime::MIN,
        Some(t) => {
            let mut parts = t.splitn(3, ':');
            let h = digits(parts.next()?, 1, 2)?;
            let mi = digits(parts.next()?, 2, 2)?;
            let sec = match parts.next() {
                Some(p) => digits(p, 2, 2)?,
                None => 0,
            };
            NaiveTime::from_hms_opt(h, mi, sec)?
        }
    };
    amsterdam_to_utc(date.and_time(time))
}

pub fn write_date(out: &mut String, d: NaiveDate) {
    let _ = write!(out, "{:02}-{:02}-{:04}", d.day(), d.month(), d.year());
}

/// Dutch local time; seconds only when they are not zero.
pub fn write_date_time(out: &mut String, t: DateTime<Utc>) {
    let local = utc_to_amsterdam(t);
    write_date(out, local.date());
    let _ = write!(out, " {:02}:{:02}", local.hour(), local.minute());
    if local.second() != 0 {
        let _ = write!(out, ":{:02}", local.second());
    }
}

/// The last Sunday of a 31-day month, at 01:00 UTC (when EU summer time starts or ends).
fn switch_at(year: i32, month: u32) -> Option<NaiveDateTime> {
    let last = NaiveDate::from_ymd_opt(year, month, 31)?;
    let sunday =
        last.checked_sub_days(Days::new(u64::from(last.weekday().num_days_from_sunday())))?;
    sunday.and_hms_opt(1, 0, 0)
}

/// Whether the Netherlands keeps summer time (CEST, UTC+2) at this UTC instant: the EU rule
/// in force since 1996, applied to every year.
fn is_summer_time(utc: NaiveDateTime) -> bool {
    match (switch_at(utc.year(), 3), switch_at(utc.year(), 10)) {
        (Some(start), Some(end)) => start <= utc && utc < end,
        _ => false,
    }
}

fn hours(h: i64) -> TimeDelta {
    TimeDelta::try_hours(h).unwrap_or(TimeDelta::zero())
}

pub fn utc_to_amsterdam(t: DateTime<Utc>) -> NaiveDateTime {
    let utc = t.naive_utc();
    let offset = if is_summer_time(utc) { 2 } else { 1 };
    utc.checked_add_signed(hours(offset)).unwrap_or(utc)
}

/// Dutch local time to UTC. A time in the repeated autumn hour is taken as summer time (the
/// first of the two); a time in the skipped spring hour is taken as winter time.
pub fn amsterdam_to_utc(local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let summer = local.checked_sub_signed(hours(2))?;
    let winter = local.checked_sub_signed(hours(1))?;
    let utc = if is_summer_time(summer) {
        summer
    } else {
        winter
    };
    Some(utc.and_utc())
}

/// What survives writing a timestamp to a cell and reading it back: whole seconds, and the
/// summer-time reading of the repeated autumn hour.
pub fn carried_time(t: DateTime<Utc>) -> DateTime<Utc> {
    let whole = t.with_nanosecond(0).unwrap_or(t);
    amsterdam_to_utc(utc_to_amsterdam(whole)).unwrap_or(whole)
}

/// An amount in euros: digits (optionally grouped by '.' in threes), an optional decimal
/// comma with one or two digits, an optional leading '€'.
pub fn parse_euros(s: &str) -> Result<MoneyCents, &'static str> {
    let s = s.strip_prefix('€').unwrap_or(s).trim_start();
    if s.starts_with('-') {
        return Err("must not be negative");
    }
    let (int, frac) = match s.split_once(',') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let mut euros: i64 = 0;
    let mut count = 0usize;
    for (i, group) in int.split('.').enumerate() {
        let ok = if i == 0 {
            (1..=3).contains(&group.len()) || !int.contains('.')
        } else {
            group.len() == 3
        };
        if !ok || group.is_empty() || !group.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AMOUNT_RULE);
        }
        for b in group.bytes() {
            count += 1;
            if count > 15 {
                return Err("must be less than 10^15 euros");
            }
            euros = euros * 10 + i64::from(b - b'0');
        }
    }
    let cents = match frac {
        None => 0,
        Some(f) => match digits(f, 1, 2) {
            Some(c) if f.len() == 1 => i64::from(c) * 10,
            Some(c) => i64::from(c),
            None => return Err(AMOUNT_RULE),
        },
    };
    MoneyCents::new(euros * 100 + cents).map_err(|_| "must not be negative")
}

/// `1350,00`: no thousands separator, always two decimals.
pub fn write_euros(out: &mut String, amount: MoneyCents) {
    let c = amount.get();
    let _ = write!(out, "{},{:02}", c / 100, c % 100);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn dates_are_day_month_year() {
        assert_eq!(
            parse_date("02-11-2026"),
            NaiveDate::from_ymd_opt(2026, 11, 2)
        );
        assert_eq!(parse_date("2-1-2026"), NaiveDate::from_ymd_opt(2026, 1, 2));
        for bad in [
            "2026-11-02",
            "31-02-2026",
            "02-11-26",
            "02/11/2026",
            "",
            "aa-bb-cccc",
            "02-11-2026-1",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
        let mut s = String::new();
        write_date(&mut s, NaiveDate::from_ymd_opt(1980, 4, 2).unwrap());
        assert_eq!(s, "02-04-1980");
    }

    #[test]
    fn times_are_dutch_local_time() {
        // Winter: UTC+1.
        assert_eq!(
            parse_date_time("02-11-2026 10:30"),
            Some(Utc.with_ymd_and_hms(2026, 11, 2, 9, 30, 0).unwrap())
        );
        // Summer: UTC+2.
        assert_eq!(
            parse_date_time("01-07-2026 10:30:15"),
            Some(Utc.with_ymd_and_hms(2026, 7, 1, 8, 30, 15).unwrap())
        );
        assert_eq!(
            parse_date_time("01-07-2026"),
            Some(Utc.with_ymd_and_hms(2026, 6, 30, 22, 0, 0).unwrap())
        );
        // 2026: summer time from 29 March 01:00 UTC to 25 October 01:00 UTC.
        let before = Utc.with_ymd_and_hms(2026, 3, 29, 0, 59, 59).unwrap();
        let after = Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap();
        assert_eq!(utc_to_amsterdam(before).hour(), 1);
        assert_eq!(utc_to_amsterdam(after).hour(), 3);
        // The skipped hour reads as winter time; the repeated hour as summer time.
        assert_eq!(
            parse_date_time("29-03-2026 02:30"),
            Some(Utc.with_ymd_and_hms(2026, 3, 29, 1, 30, 0).unwrap())
        );
        assert_eq!(
            parse_date_time("25-10-2026 02:30"),
            Some(Utc.with_ymd_and_hms(2026, 10, 25, 0, 30, 0).unwrap())
        );
        let second = Utc.with_ymd_and_hms(2026, 10, 25, 1, 30, 0).unwrap();
        assert_eq!(
            carried_time(second),
            Utc.with_ymd_and_hms(2026, 10, 25, 0, 30, 0).unwrap()
        );
        for bad in [
            "02-11-2026 25:00",
            "02-11-2026 10",
            "02-11-2026 10:3",
            "02-11-2026T10:30",
        ] {
            assert_eq!(parse_date_time(bad), None, "{bad:?}");
        }
        let mut s = String::new();
        write_date_time(&mut s, Utc.with_ymd_and_hms(2026, 7, 1, 8, 30, 0).unwrap());
        assert_eq!(s, "01-07-2026 10:30");
    }

    #[test]
    fn amounts_use_a_decimal_comma() {
        let cents = |s| parse_euros(s).map(MoneyCents::get);
        assert_eq!(cents("1350,00"), Ok(135_000));
        assert_eq!(cents("1.350,5"), Ok(135_050));
        assert_eq!(cents("€ 12"), Ok(1_200));
        assert_eq!(cents("0,07"), Ok(7));
        assert_eq!(cents("1234567"), Ok(123_456_700));
        assert_eq!(cents("-5,00"), Err("must not be negative"));
        for bad in [
            "1350.00", "1,350.00", "13,500", "", ",5", "1.35,00", "12a", "1.2345",
        ] {
            assert!(parse_euros(bad).is_err(), "{bad:?}");
        }
        assert!(parse_euros(&"9".repeat(16)).is_err());
        let mut s = String::new();
        write_euros(&mut s, MoneyCents::new(135_005).unwrap());
        assert_eq!(s, "1350,05");
    }
}
