//! /proc/PID/stat as every host-side reader needs it: the parent, the tty and
//! the start time that, with the pid, makes a process's entity id. One parser,
//! so the sensor, the responder and the host scanner compute the same id.

/// Nanoseconds per clock tick of /proc/PID/stat's `starttime`.
pub fn ns_per_tick() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    1_000_000_000 / hz
}

/// Fields of /proc/PID/stat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub comm: String,
    pub ppid: u32,
    pub tty_nr: u32,
    /// In clock ticks since boot.
    pub starttime_ticks: u64,
}

/// Parses /proc/PID/stat; the comm may hold spaces and parentheses.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    if close < open {
        return None;
    }
    let comm = text[open + 1..close].to_string();
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // rest[0] = state (field 3), ppid = field 4, tty_nr = 7, starttime = 22.
    Some(Stat {
        comm,
        ppid: rest.get(1)?.parse().ok()?,
        tty_nr: rest.get(4)?.parse::<i64>().ok()? as u32,
        starttime_ticks: rest.get(19)?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_stat_with_odd_comm() {
        let s = "42 (a) b (c)) S 7 42 42 34816 42 4194560 1 0 0 0 3 4 0 0 20 0 1 0 123456 1 2";
        let st = parse_stat(s).unwrap();
        assert_eq!(st.comm, "a) b (c)");
        assert_eq!(st.ppid, 7);
        assert_eq!(st.tty_nr, 34816);
        assert_eq!(st.starttime_ticks, 123456);
        assert_eq!(
            parse_stat("1 (a) b) c) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 4242 0").map(|s| s.starttime_ticks),
            Some(4242)
        );
        assert_eq!(parse_stat("1 a) (b S 0"), None);
    }

    #[test]
    fn own_process() {
        let text = std::fs::read_to_string("/proc/self/stat").unwrap();
        let st = parse_stat(&text).unwrap();
        assert!(st.starttime_ticks > 0);
        assert!(ns_per_tick() > 0);
    }

    proptest! {
        #[test]
        fn never_panics(s in ".*") {
            let _ = parse_stat(&s);
        }
    }
}
