//! ISO 8601 timestamps as Inspect writes them (UTC, `+00:00` offset).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, to the second: `2025-01-31T12:34:56+00:00` (Inspect's `iso_now()`, used for
/// `EvalSpec.created` and `EvalStats.started_at`/`completed_at`).
pub fn iso_now() -> String {
    format_iso(SystemTime::now(), false)
}

/// Now, to the microsecond: `2025-01-31T12:34:56.123456+00:00` (event timestamps,
/// sample `started_at`/`completed_at`).
pub fn iso_now_micros() -> String {
    format_iso(SystemTime::now(), true)
}

/// Formats a time as UTC ISO 8601 with a `+00:00` offset.
///
/// Written digit by digit rather than with `format!`: every transcript event
/// carries a timestamp, and the formatting machinery was ~6% of the engine's
/// CPU per sample.
pub fn format_iso(t: SystemTime, micros: bool) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (date, secs_of_day) = civil_from_unix(d.as_secs());
    let (y, m, day) = date;
    let (hh, mm, ss) = (secs_of_day / 3600, secs_of_day / 60 % 60, secs_of_day % 60);
    if y > 9999 {
        return format!("{y}-{m:02}-{day:02}T{hh:02}:{mm:02}:{ss:02}+00:00");
    }
    let mut out = *b"0000-00-00T00:00:00.000000+00:00";
    fn put(out: &mut [u8], mut value: u64) {
        for digit in out.iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    put(&mut out[0..4], y);
    put(&mut out[5..7], m);
    put(&mut out[8..10], day);
    put(&mut out[11..13], hh);
    put(&mut out[14..16], mm);
    put(&mut out[17..19], ss);
    let text = if micros {
        put(&mut out[20..26], u64::from(d.subsec_micros()));
        &out[..]
    } else {
        out.copy_within(26.., 19);
        &out[..25]
    };
    // Only ASCII digits and punctuation were written.
    String::from_utf8_lossy(text).into_owned()
}

/// Parses an ISO 8601 timestamp with an offset (`2025-01-31T12:34:56+00:00`,
/// with or without fractional seconds; `Z` for UTC), as Inspect writes them.
pub fn parse_iso(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = s.get(19..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        rest = frac.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "Z" | "" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (oh, om) = rest.get(1..)?.split_once(':')?;
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
        }
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let secs = days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss - offset;
    Some(UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Days since the epoch of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the epoch to a proleptic Gregorian UTC date and the seconds into that day:
/// `((year, month, day), seconds_of_day)` (Howard Hinnant's algorithm).
pub fn civil_from_unix(secs: u64) -> ((u64, u64, u64), u64) {
    let days = (secs / 86_400) as i64;
    let sod = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    ((y.max(0) as u64, m as u64, d as u64), sod)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_known_instants() {
        // python: datetime.fromtimestamp(1700000000.25, timezone.utc).isoformat()
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
        assert_eq!(format_iso(t, true), "2023-11-14T22:13:20.250000+00:00");
        assert_eq!(format_iso(t, false), "2023-11-14T22:13:20+00:00");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(format_iso(leap, false), "2000-02-29T00:00:00+00:00");
    }

    /// The digit-by-digit formatter agrees with `format!` over four centuries of
    /// instants (a prime stride, so every field takes many values).
    #[test]
    fn formats_like_format_macro() {
        let mut micros: u64 = 0;
        while micros < 400 * 366 * 86_400 * 1_000_000 {
            let t = UNIX_EPOCH + Duration::from_micros(micros);
            let ((y, m, d), sod) = civil_from_unix(micros / 1_000_000);
            let (hh, mm, ss) = (sod / 3600, sod / 60 % 60, sod % 60);
            let whole = format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}");
            let fraction = micros % 1_000_000;
            assert_eq!(format_iso(t, false), format!("{whole}+00:00"));
            assert_eq!(format_iso(t, true), format!("{whole}.{fraction:06}+00:00"));
            micros += 7_777_777_777_777;
        }
    }

    #[test]
    fn parses_what_it_formats() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_iso(&format_iso(t, false)), Some(t));
        assert_eq!(parse_iso("2023-11-14T22:13:20.250000+00:00"), Some(t));
        assert_eq!(parse_iso("2023-11-14T23:13:20+01:00"), Some(t));
        assert_eq!(parse_iso("2023-11-14T22:13:20Z"), Some(t));
        assert_eq!(
            parse_iso("2000-02-29T00:00:00+00:00"),
            Some(UNIX_EPOCH + Duration::from_secs(951_782_400))
        );
        assert_eq!(parse_iso("yesterday"), None);
        assert_eq!(parse_iso("2023-13-14T22:13:20+00:00"), None);
    }
}
