//! The earliest dpkg.log line across /var/log/dpkg.log* (plain and gzip-rotated): when packages were first
//! installed on this root filesystem.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::error::HostScanError;

/// Longest first line read from a log; a longer one is not a dpkg.log line.
const MAX_LINE: u64 = 4096;

/// Parses the `YYYY-MM-DD HH:MM:SS` that starts a dpkg.log line into its fields.
pub fn parse_line_time(line: &str) -> Option<(i32, u32, u32, u32, u32, u32)> {
    let date = line.get(0..10)?;
    let time = line.get(11..19)?;
    if line.as_bytes().get(10) != Some(&b' ') {
        return None;
    }
    let d: Vec<&str> = date.split('-').collect();
    let t: Vec<&str> = time.split(':').collect();
    if d.len() != 3 || t.len() != 3 || d[0].len() != 4 {
        return None;
    }
    let num = |s: &str| -> Option<u32> {
        if s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let year: i32 = d[0].parse().ok().filter(|y| *y >= 1970)?;
    let (mo, da, h, mi, se) = (num(d[1])?, num(d[2])?, num(t[0])?, num(t[1])?, num(t[2])?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some((year, mo, da, h, mi, se))
}

/// dpkg writes local time: converts with the host's time zone (mktime), in seconds since the epoch.
pub fn local_to_epoch((year, mo, da, h, mi, se): (i32, u32, u32, u32, u32, u32)) -> Option<u64> {
    // SAFETY: a zeroed tm is a valid value; mktime only reads and normalizes it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = year - 1900;
    tm.tm_mon = mo as i32 - 1;
    tm.tm_mday = da as i32;
    tm.tm_hour = h as i32;
    tm.tm_min = mi as i32;
    tm.tm_sec = se as i32;
    tm.tm_isdst = -1;
    // SAFETY: tm is a valid, initialized struct owned by this frame.
    let t = unsafe { libc::mktime(&mut tm) };
    (t > 0).then_some(t as u64)
}

/// The first line of one log file (gzip-decompressed when the name ends in .gz).
pub fn first_line(path: &Path) -> Result<String, HostScanError> {
    let file = std::fs::File::open(path).map_err(|e| HostScanError::io(path, e))?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut line = Vec::new();
    BufReader::new(reader.take(MAX_LINE))
        .read_until(b'\n', &mut line)
        .map_err(|e| HostScanError::io(path, e))?;
    Ok(String::from_utf8_lossy(&line).trim_end().to_string())
}

/// Earliest first-line time (epoch seconds) over `dpkg.log*` in `dir`; unreadable files are returned as errors.
pub fn earliest(dir: &Path) -> (Option<u64>, Vec<HostScanError>) {
    let mut errors = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return (None, errors);
    };
    let mut best: Option<u64> = None;
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with("dpkg.log") {
            continue;
        }
        let path = e.path();
        match first_line(&path) {
            Ok(line) if line.is_empty() => {}
            Ok(line) => match parse_line_time(&line).and_then(local_to_epoch) {
                Some(t) => best = Some(best.map_or(t, |b| b.min(t))),
                None => errors.push(HostScanError::parse(
                    path.display().to_string(),
                    1,
                    "does not start with `YYYY-MM-DD HH:MM:SS`",
                )),
            },
            Err(err) => errors.push(err),
        }
    }
    (best, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;

    #[test]
    fn line_times() {
        assert_eq!(
            parse_line_time("2025-06-24 14:36:25 startup archives unpack"),
            Some((2025, 6, 24, 14, 36, 25))
        );
        assert_eq!(parse_line_time("2025-13-24 14:36:25 x"), None);
        assert_eq!(parse_line_time("Jun 24 14:36:25 host dpkg"), None);
        assert_eq!(parse_line_time("2025-06-24T14:36:25"), None);
    }

    #[test]
    fn earliest_over_plain_and_gzip_logs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("dpkg.log"), "2025-06-24 14:36:25 startup\n").unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"2023-01-02 03:04:05 install base-files\nmore\n").unwrap();
        std::fs::write(dir.path().join("dpkg.log.2.gz"), gz.finish().unwrap()).unwrap();
        std::fs::write(dir.path().join("dpkg.log.1"), "garbage\n").unwrap();
        std::fs::write(dir.path().join("other.log"), "2001-01-01 00:00:00 x\n").unwrap();
        let (best, errors) = earliest(dir.path());
        let expected = local_to_epoch((2023, 1, 2, 3, 4, 5)).unwrap();
        assert_eq!(best, Some(expected));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].to_string().contains("dpkg.log.1: line 1:"), "{}", errors[0]);
    }

    proptest! {
        #[test]
        fn line_times_never_panic(line in ".{0,40}") {
            if let Some(t) = parse_line_time(&line) {
                let _ = local_to_epoch(t);
            }
        }
    }
}
