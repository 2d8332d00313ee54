//! Timestamp formats used on the wire: RFC 3339 (syslog, PagerDuty) and
//! RFC 5322 (email `Date`), always in UTC.

use time::format_description::well_known::{Rfc2822, Rfc3339};
use time::OffsetDateTime;

fn utc(time_unix_ns: u64) -> OffsetDateTime {
    // u64 nanoseconds cover until 2554, well inside `time`'s range.
    OffsetDateTime::from_unix_timestamp_nanos(time_unix_ns as i128).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `2026-11-27T21:43:40.123456Z` (microseconds, as RFC 5424 allows at most six digits).
pub fn rfc3339(time_unix_ns: u64) -> String {
    let time = utc(time_unix_ns);
    let time = time.replace_nanosecond(time.nanosecond() / 1000 * 1000).unwrap_or(time);
    time.format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

/// `Fri, 27 Nov 2026 21:43:40 +0000`.
pub fn rfc2822(time_unix_ns: u64) -> String {
    let time = utc(time_unix_ns)
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    time.format(&Rfc2822)
        .unwrap_or_else(|_| "Thu, 01 Jan 1970 00:00:00 +0000".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        let ns = 1_795_815_820_123_456_789u64;
        assert_eq!(rfc3339(ns), "2026-11-27T21:43:40.123456Z");
        assert_eq!(rfc2822(ns), "Fri, 27 Nov 2026 21:43:40 +0000");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
