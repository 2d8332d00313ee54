//! Parses the time bounds people type: `30s`, `10m`, `2h`, `7d`, `1w` (that
//! long before now) or an RFC 3339 time (`2026-11-27T19:00:00Z`,
//! `2026-11-27T21:00:00.5+02:00`).

/// Why a time bound was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{input}' is not a time: use a duration before now (30s, 10m, 2h, 7d, 1w) or an RFC 3339 time \
     (2026-11-27T19:00:00Z): {reason}"
)]
pub struct SinceError {
    pub input: String,
    pub reason: String,
}

/// Nanoseconds since the Unix epoch for `input`, relative to `now_unix_ns`.
pub fn parse_since(input: &str, now_unix_ns: u64) -> Result<u64, SinceError> {
    let s = input.trim();
    let err = |reason: &str| SinceError {
        input: input.to_string(),
        reason: reason.to_string(),
    };
    if s.is_empty() {
        return Err(err("empty"));
    }
    let looks_like_date = s.starts_with(|c: char| c.is_ascii_digit()) && (s.contains('-') || s.contains(':'));
    if looks_like_date {
        return parse_rfc3339(s).map_err(|r| err(&r));
    }
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| err("missing unit (s, m, h, d or w)"))?;
    let (digits, unit) = s.split_at(split);
    if digits.is_empty() {
        return Err(err("missing number"));
    }
    let n: u64 = digits.parse().map_err(|_| err("number too large"))?;
    let unit_s: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(err("unknown unit (use s, m, h, d or w)")),
    };
    let ns = n
        .checked_mul(unit_s)
        .and_then(|v| v.checked_mul(1_000_000_000))
        .ok_or_else(|| err("duration too large"))?;
    Ok(now_unix_ns.saturating_sub(ns))
}

fn num(s: &str, what: &str) -> Result<i64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad {what} '{s}'"));
    }
    s.parse().map_err(|_| format!("bad {what} '{s}'"))
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
fn parse_rfc3339(s: &str) -> Result<u64, String> {
    let bytes = s.as_bytes();
    if bytes.len() < 20 || !s.is_char_boundary(10) || !s.is_char_boundary(19) {
        return Err("too short for YYYY-MM-DDTHH:MM:SSZ".into());
    }
    let (date, rest) = s.split_at(10);
    let d: Vec<&str> = date.split('-').collect();
    if d.len() != 3 || d[0].len() != 4 || d[1].len() != 2 || d[2].len() != 2 {
        return Err("date must be YYYY-MM-DD".into());
    }
    let (year, month, day) = (num(d[0], "year")?, num(d[1], "month")?, num(d[2], "day")?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(format!("no such date {date}"));
    }
    let rest = rest
        .strip_prefix(['T', 't', ' '])
        .ok_or("date and time must be separated by T")?;
    if rest.len() < 8 || !rest.is_char_boundary(8) {
        return Err("time must be HH:MM:SS".into());
    }
    let (time, mut rest) = rest.split_at(8);
    let t: Vec<&str> = time.split(':').collect();
    if t.len() != 3 || t.iter().any(|p| p.len() != 2) {
        return Err("time must be HH:MM:SS".into());
    }
    let (hour, minute, second) = (num(t[0], "hour")?, num(t[1], "minute")?, num(t[2], "second")?);
    if hour > 23 || minute > 59 || second > 60 {
        return Err(format!("no such time {time}"));
    }
    let mut nanos = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let end = frac.find(|c: char| !c.is_ascii_digit()).unwrap_or(frac.len());
        let digits = &frac[..end];
        if digits.is_empty() || digits.len() > 9 {
            return Err("fraction of a second must have 1 to 9 digits".into());
        }
        nanos = num(digits, "fraction")? * 10i64.pow(9 - digits.len() as u32);
        rest = &frac[end..];
    }
    let offset_s = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return Err("missing time zone (Z or ±HH:MM)".into()),
            };
            let o = &rest[1..];
            if o.len() != 5 || o.as_bytes()[2] != b':' {
                return Err("time zone must be Z or ±HH:MM".into());
            }
            let (oh, om) = (num(&o[..2], "zone hour")?, num(&o[3..], "zone minute")?);
            if oh > 23 || om > 59 {
                return Err("time zone out of range".into());
            }
            sign * (oh * 3600 + om * 60)
        }
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    if secs < 0 {
        return Err("before 1970".into());
    }
    (secs as u64)
        .checked_mul(1_000_000_000)
        .and_then(|v| v.checked_add(nanos as u64))
        .ok_or_else(|| "too far in the future".into())
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000_000_000;

    #[test]
    fn durations() {
        assert_eq!(parse_since("30s", NOW), Ok(NOW - 30_000_000_000));
        assert_eq!(parse_since("10m", NOW), Ok(NOW - 600_000_000_000));
        assert_eq!(parse_since("2h", NOW), Ok(NOW - 7_200_000_000_000));
        assert_eq!(parse_since("7d", NOW), Ok(NOW - 604_800_000_000_000));
        assert_eq!(parse_since("1000w", 5), Ok(0));
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_since("1970-01-01T00:00:00Z", NOW), Ok(0));
        assert_eq!(
            parse_since("2026-11-21T18:58:53.000000001Z", NOW),
            Ok(1_795_287_533_000_000_001)
        );
        assert_eq!(
            parse_since("2026-11-21T20:58:53.5+02:00", NOW),
            Ok(1_795_287_533_500_000_000)
        );
        assert_eq!(parse_since("2000-02-29T00:00:00Z", NOW), Ok(951_782_400_000_000_000));
    }

    #[test]
    fn bad_values_say_why() {
        for bad in [
            "",
            "10",
            "m",
            "10x",
            "-5m",
            "2001-02-29T00:00:00Z",
            "2026-11-27T25:00:00Z",
            "2026-11-27T19:00:00",
            "2026-11-27",
            "99999999999999999999s",
            "2026-13-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
        ] {
            let e = parse_since(bad, NOW).unwrap_err();
            assert!(e.to_string().contains("is not a time"), "{bad}: {e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = parse_since(&s, NOW);
        }

        #[test]
        fn rfc3339_like_never_panics(s in "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?(Z|[+-][0-9]{2}:[0-9]{2}|\\PC{0,3})") {
            let _ = parse_since(&s, NOW);
        }
    }
}
