//! The /proc side of kill actions: which process holds a pid now (as the
//! sensor's entity id), the process table for tree walks, the protected list,
//! and signals sent through pidfds so a reused pid is never hit.

use std::collections::HashSet;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use weir_sensor::procs::procfs;

/// Most processes read in one /proc scan (bounds time and memory).
pub const MAX_SCAN: usize = 65_536;
/// Most ancestors followed when protecting this process's parent chain.
const MAX_CHAIN: usize = 64;

/// A live process as /proc shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    pub comm: String,
    pub start_ns: u64,
    pub entity_id: String,
}

/// Reads pid's identity; None when there is no such process (or /proc is
/// unreadable). The entity id is computed exactly as the sensor does.
pub fn read_proc(host_id: &str, pid: u32) -> Option<Proc> {
    let stat = procfs::parse_stat(&procfs::read_text(pid, "stat")?)?;
    let start_ns = stat.starttime_ticks.saturating_mul(procfs::ns_per_tick());
    Some(Proc {
        pid,
        ppid: stat.ppid,
        comm: stat.comm,
        start_ns,
        entity_id: weir_event::entity::entity_id(host_id, pid, start_ns),
    })
}

/// Every numeric entry of /proc, at most MAX_SCAN.
pub fn all_pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .take(MAX_SCAN)
        .collect()
}

/// Every live process (a snapshot; processes come and go while it is read).
pub fn snapshot(host_id: &str) -> Vec<Proc> {
    all_pids()
        .into_iter()
        .filter_map(|pid| read_proc(host_id, pid))
        .collect()
}

/// The process that is `entity_id` now, looked up by scanning /proc.
pub fn find_entity(host_id: &str, entity_id: &str) -> Option<Proc> {
    all_pids()
        .into_iter()
        .filter_map(|pid| read_proc(host_id, pid))
        .find(|p| p.entity_id == entity_id)
}

/// Base name of a process's executable, when readable.
pub fn exe_name(pid: u32) -> Option<String> {
    let link = procfs::read_link(pid, "exe")?;
    let text = String::from_utf8_lossy(&link);
    let text = text.strip_suffix(" (deleted)").unwrap_or(&text);
    Some(text.rsplit('/').next().unwrap_or("").to_string())
}

/// What no action may touch.
#[derive(Debug, Clone)]
pub struct Protection {
    names: HashSet<String>,
    pids: HashSet<u32>,
}

impl Protection {
    pub fn new(names: &[String], pids: &[u32]) -> Protection {
        Protection {
            names: names.iter().cloned().collect(),
            pids: pids.iter().copied().collect(),
        }
    }

    /// Why `p` is protected, or None when it may be acted on.
    /// `responder_chain`: `self_and_ancestors()`, read once per action.
    pub fn why(&self, p: &Proc, responder_chain: &[u32]) -> Option<String> {
        if p.pid == 1 {
            return Some("pid 1 is protected".into());
        }
        if self.pids.contains(&p.pid) {
            return Some(format!("pid {} is on the protected list", p.pid));
        }
        if responder_chain.contains(&p.pid) {
            return Some(format!("pid {} is the responder or one of its ancestors", p.pid));
        }
        if self.names.contains(&p.comm) {
            return Some(format!("pid {} ({}) has a protected name", p.pid, p.comm));
        }
        if let Some(exe) = exe_name(p.pid) {
            if self.names.contains(&exe) {
                return Some(format!("pid {} ({exe}) has a protected name", p.pid));
            }
        }
        None
    }
}

/// This process and its parent chain up to pid 1.
pub fn self_and_ancestors() -> Vec<u32> {
    let mut chain = vec![std::process::id()];
    let mut pid = std::process::id();
    for _ in 0..MAX_CHAIN {
        let Some(stat) = procfs::read_text(pid, "stat").and_then(|t| procfs::parse_stat(&t)) else {
            break;
        };
        if stat.ppid == 0 {
            break;
        }
        chain.push(stat.ppid);
        pid = stat.ppid;
    }
    chain
}

/// A handle on one process (not on a pid number): signals sent through it
/// reach that process or nobody.
#[derive(Debug)]
pub struct Pidfd(OwnedFd);

impl Pidfd {
    pub fn open(pid: u32) -> io::Result<Pidfd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0 as libc::c_uint) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the fd was just returned by the kernel and is owned by nobody else.
        Ok(Pidfd(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
    }

    pub fn signal(&self, signal: i32) -> io::Result<()> {
        // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                signal,
                std::ptr::null::<libc::siginfo_t>(),
                0 as libc::c_uint,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Opens a pidfd on `pid` and checks, after opening, that the pid still is
/// `entity_id`: the pidfd then holds that very process, and a pid reused
/// later cannot be hit through it.
pub fn open_entity(host_id: &str, pid: u32, entity_id: &str) -> Result<(Pidfd, Proc), String> {
    let gone = || format!("pid {pid} is no longer entity {entity_id}");
    let fd = Pidfd::open(pid).map_err(|_| gone())?;
    let p = read_proc(host_id, pid).ok_or_else(gone)?;
    if p.entity_id != entity_id {
        return Err(gone());
    }
    Ok((fd, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_itself_and_its_chain() {
        let me = read_proc("h", std::process::id()).unwrap();
        assert_eq!(me.entity_id, weir_event::entity::entity_id("h", me.pid, me.start_ns));
        let chain = self_and_ancestors();
        assert_eq!(chain[0], std::process::id());
        assert!(chain.contains(&me.ppid));
        let prot = Protection::new(&[], &[]);
        assert!(prot.why(&me, &chain).unwrap().contains("the responder"));
    }

    #[test]
    fn finds_an_entity_by_scanning() {
        let me = read_proc("h", std::process::id()).unwrap();
        assert_eq!(find_entity("h", &me.entity_id), Some(me.clone()));
        assert_eq!(find_entity("other-host", &me.entity_id), None);
        assert!(open_entity("h", me.pid, &me.entity_id).is_ok());
        let e = open_entity("h", me.pid, "00000000000000000000000000000000").unwrap_err();
        assert!(e.contains("is no longer entity"), "{e}");
    }
}
