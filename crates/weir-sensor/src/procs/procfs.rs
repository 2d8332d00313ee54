//! Reads of /proc/PID/* used for the start-up snapshot and for fields the
//! kernel side does not send (cgroup path). Every parser tolerates garbage.

use std::path::PathBuf;

pub use weir_event::proc_stat::{ns_per_tick, parse_stat, Stat};

/// Start time as /proc reports it: the kernel's start_boottime rounded down
/// to a clock tick. Both the snapshot and the BPF path go through this, so
/// they give the same entity id for the same process.
pub fn start_time_ticks_ns(start_boottime_ns: u64) -> u64 {
    let t = ns_per_tick();
    start_boottime_ns / t * t
}

/// Real, effective ids from a /proc/PID/status `Uid:` or `Gid:` line.
pub fn parse_ids(status: &str, key: &str) -> Option<(u32, u32)> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let mut it = line[key.len()..].split_whitespace();
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Namespace inode from a link target like "pid:[4026531836]".
pub fn parse_ns_link(target: &str) -> Option<u32> {
    let start = target.find('[')?;
    let end = target.rfind(']')?;
    target.get(start + 1..end)?.parse().ok()
}

/// Splits a NUL-separated argv (as in /proc/PID/cmdline or the kernel's
/// arg area) into at most `max_args` arguments; true when some were cut.
pub fn split_args(raw: &[u8], max_args: usize) -> (Vec<Vec<u8>>, bool) {
    let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
    if raw.is_empty() {
        return (Vec::new(), false);
    }
    let mut out = Vec::new();
    for a in raw.split(|&c| c == 0) {
        if out.len() == max_args {
            return (out, true);
        }
        out.push(a.to_vec());
    }
    (out, false)
}

/// Name of a tty from its device number (stat's tty_nr), the way ps shows it.
pub fn tty_name(tty_nr: u32) -> String {
    if tty_nr == 0 {
        return String::new();
    }
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match major {
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        _ => format!("{major}:{minor}"),
    }
}

pub fn proc_path(pid: u32, leaf: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/{leaf}"))
}

pub fn read_text(pid: u32, leaf: &str) -> Option<String> {
    std::fs::read_to_string(proc_path(pid, leaf)).ok()
}

pub fn read_link(pid: u32, leaf: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStringExt;
    std::fs::read_link(proc_path(pid, leaf))
        .ok()
        .map(|p| p.into_os_string().into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_a_tty() {
        assert_eq!(tty_name(34816), "pts/0");
    }

    #[test]
    fn splits_args_and_flags_cuts() {
        assert_eq!(split_args(b"a\0b\0", 64), (vec![b"a".to_vec(), b"b".to_vec()], false));
        assert_eq!(split_args(b"a\0b\0c", 2), (vec![b"a".to_vec(), b"b".to_vec()], true));
        assert_eq!(split_args(b"", 2), (vec![], false));
        assert_eq!(
            split_args(b"x\0\0y\0", 8),
            (vec![b"x".to_vec(), b"".to_vec(), b"y".to_vec()], false)
        );
    }

    #[test]
    fn parses_ids_and_ns() {
        let st = "Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t5\t6\t6\t6\n";
        assert_eq!(parse_ids(st, "Uid:"), Some((1000, 0)));
        assert_eq!(parse_ids(st, "Gid:"), Some((5, 6)));
        assert_eq!(parse_ns_link("pid:[4026531836]"), Some(4026531836));
        assert_eq!(parse_ns_link("pid:4026531836"), None);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in ".*", b in proptest::collection::vec(any::<u8>(), 0..300), n in 0usize..10) {
            let _ = parse_ids(&s, "Uid:");
            let _ = parse_ns_link(&s);
            let (args, cut) = split_args(&b, n);
            prop_assert!(args.len() <= n);
            if !cut { prop_assert!(args.len() <= n); }
        }
    }
}
