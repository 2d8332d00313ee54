//! Reads of /proc for the exposure scan: processes, their network namespace, start time, executable, cwd and
//! the sockets behind their file descriptors. Every reader tolerates processes that exit mid-scan.

use std::path::{Path, PathBuf};

/// Numeric entries of /proc, ascending.
pub fn pids(proc_root: &Path) -> Vec<u32> {
    let Ok(rd) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    let mut out: Vec<u32> = rd
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    out.sort_unstable();
    out
}

/// The number inside a namespace or socket link target: `net:[4026531840]`, `socket:[12345]`.
pub fn bracketed_number(target: &str, prefix: &str) -> Option<u64> {
    target
        .strip_prefix(prefix)?
        .strip_prefix(":[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Network namespace inode of a process.
pub fn netns(proc_root: &Path, pid: u32) -> Option<u64> {
    let target = std::fs::read_link(proc_root.join(pid.to_string()).join("ns/net")).ok()?;
    bracketed_number(target.to_str()?, "net")
}

/// Process start time in nanoseconds since boot, rounded to a tick exactly as the sensor computes it.
pub fn start_time_ns(proc_root: &Path, pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?;
    let ticks = weir_event::proc_stat::parse_stat(&stat)?.starttime_ticks;
    Some(ticks.saturating_mul(weir_event::proc_stat::ns_per_tick()))
}

/// Target of /proc/PID/exe (with the kernel's ` (deleted)` suffix kept: a replaced binary is worth seeing).
pub fn exe(proc_root: &Path, pid: u32) -> Option<PathBuf> {
    std::fs::read_link(proc_root.join(pid.to_string()).join("exe")).ok()
}

/// Target of /proc/PID/cwd.
pub fn cwd(proc_root: &Path, pid: u32) -> Option<PathBuf> {
    std::fs::read_link(proc_root.join(pid.to_string()).join("cwd")).ok()
}

/// Socket inodes behind a process's file descriptors, calling `found` for each; stops after `budget` fds.
/// Returns how many fds were examined.
pub fn socket_fds(proc_root: &Path, pid: u32, budget: usize, mut found: impl FnMut(u64)) -> usize {
    let Ok(rd) = std::fs::read_dir(proc_root.join(pid.to_string()).join("fd")) else {
        return 0;
    };
    let mut seen = 0;
    for entry in rd.flatten() {
        if seen >= budget {
            break;
        }
        seen += 1;
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        if let Some(inode) = target.to_str().and_then(|t| bracketed_number(t, "socket")) {
            found(inode);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn own_process() {
        let me = std::process::id();
        let proc_root = Path::new("/proc");
        assert!(pids(proc_root).contains(&me));
        assert!(netns(proc_root, me).is_some());
        assert_eq!(exe(proc_root, me).unwrap(), std::env::current_exe().unwrap());
        assert!(start_time_ns(proc_root, me).unwrap() > 0);
        assert_eq!(bracketed_number("socket:[123]", "socket"), Some(123));
        assert_eq!(bracketed_number("pipe:[123]", "socket"), None);
    }

    #[test]
    fn socket_fds_sees_an_open_socket() {
        use std::os::unix::fs::MetadataExt;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let fd_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&listener));
        let inode = std::fs::metadata(fd_path).unwrap().ino();
        let mut found = Vec::new();
        socket_fds(Path::new("/proc"), std::process::id(), usize::MAX, |i| found.push(i));
        assert!(found.contains(&inode));
    }

    proptest! {
        #[test]
        fn link_targets_never_panic(target in ".{0,64}") {
            let _ = bracketed_number(&target, "socket");
        }
    }
}
