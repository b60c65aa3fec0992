//! Business hours: a weekly schedule in the account's IANA time zone. Evaluated on wall-clock
//! time in that zone, so daylight-saving changes move the opening instants with the clocks.

use chrono::{Datelike, Duration, NaiveDate};
// jiff with its compact bundled database (TZif, about 0.2 MB) instead of chrono-tz, whose
// zones compiled to Rust tables cost about 1.2 MB in every binary that used them. Bundled
// only, never the system copy: Lambda's base images need not have one, and every run reads
// the same rules.
use jiff::tz::AmbiguousOffset;
pub use jiff::tz::TimeZone as Tz;
use serde_json::Value;

pub const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Open spans per weekday (Monday first) in minutes after local midnight, `[start, end)`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WeeklyHours {
    days: [Vec<(u32, u32)>; 7],
}

fn minutes(hhmm: &str) -> Option<u32> {
    let (h, m) = hhmm.split_once(':')?;
    // Two ASCII digits each: `parse` alone would take "+1".
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(h) || !two_digits(m) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    // "24:00" closes a day; nothing later exists.
    (m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

/// The zone of the account's settings; an unknown or missing name is UTC.
pub fn zone(name: Option<&str>) -> Tz {
    name.and_then(|n| Tz::get(n).ok()).unwrap_or(Tz::UTC)
}

/// The database's spelling of an IANA zone name (lookups ignore case), `None` if unknown.
pub fn canonical_zone(name: &str) -> Option<String> {
    let tz = Tz::get(name).ok()?;
    Some(tz.iana_name().unwrap_or(name).to_owned())
}

/// The zone's IANA name, for showing.
pub fn zone_name(tz: &Tz) -> &str {
    tz.iana_name().unwrap_or("UTC")
}

/// The wall-clock date in `tz` at `at_ms`.
pub fn local_date(tz: &Tz, at_ms: i64) -> Option<NaiveDate> {
    let local = jiff::Timestamp::from_millisecond(at_ms)
        .ok()?
        .to_zoned(tz.clone());
    NaiveDate::from_ymd_opt(
        i32::from(local.year()),
        u32::try_from(local.month()).ok()?,
        u32::try_from(local.day()).ok()?,
    )
}

/// The first instant of `date`'s wall-clock midnight in `tz` (after the gap when the clocks
/// skip it).
pub fn local_midnight(tz: &Tz, date: NaiveDate) -> Option<i64> {
    local_instant(tz, date, 0)
}

impl WeeklyHours {
    /// Reads `{"mon": [["09:00", "17:00"]], …}`; days left out are closed. Every problem is
    /// listed.
    pub fn parse(v: &Value) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let Some(days) = v.as_object() else {
            return Err(vec![
                "business_hours: an object of days (mon…sun) to [[\"HH:MM\", \"HH:MM\"], …], or null"
                    .into(),
            ]);
        };
        let mut out = WeeklyHours::default();
        for (day, spans) in days {
            let Some(d) = DAYS.iter().position(|x| x == day) else {
                problems.push(format!(
                    "business_hours.{day}: days are mon, tue, wed, thu, fri, sat, sun"
                ));
                continue;
            };
            let Some(spans) = spans.as_array() else {
                problems.push(format!(
                    "business_hours.{day}: a list of [\"HH:MM\", \"HH:MM\"]"
                ));
                continue;
            };
            for (i, span) in spans.iter().enumerate() {
                let pair = span
                    .as_array()
                    .filter(|p| p.len() == 2)
                    .and_then(|p| Some((minutes(p[0].as_str()?)?, minutes(p[1].as_str()?)?)));
                match pair {
                    Some((from, to)) if from < to => out.days[d].push((from, to)),
                    _ => problems.push(format!(
                        "business_hours.{day}[{i}]: [\"HH:MM\", \"HH:MM\"] with the start before the end"
                    )),
                }
            }
            out.days[d].sort_unstable();
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(problems)
        }
    }

    /// Whether the business is open at `at_ms` (wall-clock time in `tz`).
    pub fn is_open(&self, tz: &Tz, at_ms: i64) -> bool {
        let Ok(utc) = jiff::Timestamp::from_millisecond(at_ms) else {
            return false;
        };
        let local = utc.to_zoned(tz.clone());
        let day = usize::from(local.weekday().to_monday_zero_offset().unsigned_abs());
        let m =
            u32::from(local.hour().unsigned_abs()) * 60 + u32::from(local.minute().unsigned_abs());
        self.days[day].iter().any(|(a, b)| *a <= m && m < *b)
    }

    /// `None` while open. While closed: the instant the closed period ends (the next opening),
    /// which also names the period, so "once per closed period" is "once per value";
    /// `i64::MAX` when the schedule never opens.
    pub fn closed_until(&self, tz: &Tz, at_ms: i64) -> Option<i64> {
        if self.is_open(tz, at_ms) {
            return None;
        }
        let today = local_date(tz, at_ms)?;
        for offset in 0..=7 {
            let date = today + Duration::days(offset);
            let day = date.weekday().num_days_from_monday() as usize;
            for (start, _) in &self.days[day] {
                if let Some(t) = local_instant(tz, date, *start)
                    && t > at_ms
                {
                    return Some(t);
                }
            }
        }
        Some(i64::MAX)
    }
}

/// The instant of `minutes` after local midnight on `date` in `tz`. A time the clocks skip
/// (spring forward) opens at the first instant after the gap; a repeated one at its first
/// occurrence.
fn local_instant(tz: &Tz, date: NaiveDate, minutes: u32) -> Option<i64> {
    let day = jiff::civil::Date::new(
        i16::try_from(date.year()).ok()?,
        i8::try_from(date.month()).ok()?,
        i8::try_from(date.day()).ok()?,
    )
    .ok()?;
    let mut probe = day
        .to_datetime(jiff::civil::Time::midnight())
        .checked_add(jiff::Span::new().minutes(i64::from(minutes)))
        .ok()?;
    // Gaps are at most a few hours; step in quarter hours until the wall clock exists.
    for _ in 0..16 {
        let offset = match tz.to_ambiguous_timestamp(probe).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset,
            // The earlier of the two occurrences.
            AmbiguousOffset::Fold { before, .. } => before,
            AmbiguousOffset::Gap { .. } => {
                probe = probe.checked_add(jiff::Span::new().minutes(15)).ok()?;
                continue;
            }
        };
        return offset.to_timestamp(probe).ok().map(|t| t.as_millisecond());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }

    fn office() -> WeeklyHours {
        WeeklyHours::parse(&json!({
            "mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]], "wed": [["09:00", "17:00"]],
            "thu": [["09:00", "17:00"]], "fri": [["09:00", "17:00"]]
        }))
        .unwrap()
    }

    #[test]
    fn new_york_hours_follow_the_clocks_across_daylight_saving() {
        let ny = zone(Some("America/New_York"));
        let h = office();
        // 13:30 UTC is 08:30 EST on Monday 2 March 2026, but 09:30 EDT a week later (the
        // clocks went forward on 8 March): closed, then open, at the same UTC time of day.
        assert!(!h.is_open(&ny, at("2026-03-02T13:30:00Z")));
        assert!(h.is_open(&ny, at("2026-03-09T13:30:00Z")));
        // Friday 6 March after 17:00 EST: closed until Monday 09:00 EDT = 13:00 UTC, not the
        // 14:00 UTC a fixed offset would give.
        assert_eq!(
            h.closed_until(&ny, at("2026-03-06T22:30:00Z")),
            Some(at("2026-03-09T13:00:00Z"))
        );
        // And back in autumn (1 November 2026): Monday 2 November opens at 14:00 UTC.
        assert_eq!(
            h.closed_until(&ny, at("2026-10-31T12:00:00Z")),
            Some(at("2026-11-02T14:00:00Z"))
        );
        assert_eq!(h.closed_until(&ny, at("2026-03-09T13:30:00Z")), None);
    }

    #[test]
    fn an_opening_inside_the_spring_gap_opens_after_it() {
        let berlin = zone(Some("Europe/Berlin"));
        // 02:30 does not exist on Sunday 29 March 2026 in Berlin (02:00 → 03:00 CEST).
        let h = WeeklyHours::parse(&json!({"sun": [["02:30", "05:00"]]})).unwrap();
        assert_eq!(
            h.closed_until(&berlin, at("2026-03-28T12:00:00Z")),
            Some(at("2026-03-29T01:00:00Z"))
        );
        assert!(h.is_open(&berlin, at("2026-03-29T01:30:00Z")));
    }

    #[test]
    fn one_closed_period_has_one_name_and_the_next_another() {
        let h = office();
        let utc = zone(None);
        let evening = h.closed_until(&utc, at("2026-11-23T18:00:00Z"));
        let night = h.closed_until(&utc, at("2026-11-24T03:00:00Z"));
        let next_evening = h.closed_until(&utc, at("2026-11-24T18:00:00Z"));
        assert_eq!(evening, night);
        assert_ne!(evening, next_evening);
        let never = WeeklyHours::parse(&json!({})).unwrap();
        assert_eq!(
            never.closed_until(&utc, at("2026-11-24T18:00:00Z")),
            Some(i64::MAX)
        );
        // "24:00" closes the day; midnight is open on a day that starts at 00:00.
        let late =
            WeeklyHours::parse(&json!({"mon": [["20:00", "24:00"]], "tue": [["00:00", "01:00"]]}))
                .unwrap();
        assert!(late.is_open(&utc, at("2026-11-23T23:59:00Z")));
        assert!(late.is_open(&utc, at("2026-11-24T00:30:00Z")));
        assert!(!late.is_open(&utc, at("2026-11-24T01:00:00Z")));
    }

    #[test]
    fn zones_are_named_as_the_database_spells_them() {
        assert_eq!(
            canonical_zone("europe/berlin").as_deref(),
            Some("Europe/Berlin")
        );
        assert_eq!(canonical_zone("Mars/Olympus"), None);
        assert_eq!(zone_name(&zone(Some("Mars/Olympus"))), "UTC");
        assert_eq!(zone_name(&zone(Some("Asia/Kolkata"))), "Asia/Kolkata");
    }

    #[test]
    fn local_dates_and_midnights() {
        let tokyo = zone(Some("Asia/Tokyo"));
        // 20:00 UTC on 1 November is already 2 November in Tokyo.
        assert_eq!(
            local_date(&tokyo, at("2026-11-01T20:00:00Z")),
            NaiveDate::from_ymd_opt(2026, 11, 2)
        );
        let d = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
        assert_eq!(local_midnight(&tokyo, d), Some(at("2026-11-01T15:00:00Z")));
        // Santiago's clocks skip midnight on 6 September 2026 (00:00 → 01:00 -03): the day
        // starts at 01:00 local, 04:00 UTC.
        let santiago = zone(Some("America/Santiago"));
        let d = NaiveDate::from_ymd_opt(2026, 9, 6).unwrap();
        assert_eq!(
            local_midnight(&santiago, d),
            Some(at("2026-09-06T04:00:00Z"))
        );
    }

    #[test]
    fn every_problem_is_listed() {
        let e = WeeklyHours::parse(
            &json!({"mon": [["17:00", "09:00"], ["9:00", "10:00"]], "xyz": [], "tue": "x"}),
        )
        .unwrap_err();
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(WeeklyHours::parse(&json!([])).is_err());
    }
}
