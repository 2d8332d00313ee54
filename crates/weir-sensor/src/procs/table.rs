//! The in-memory process table: what the sensor knows about each live
//! process (identity, executable, argv, credentials, container), used to give
//! every event its actor, parent and ancestors. Bounded; entries are reaped
//! when the process exits.

use std::collections::HashMap;

use weir_event::{Ancestor, Process};

use super::container;
use super::procfs;

/// Most ancestors attached to an event.
pub const MAX_ANCESTORS: usize = 8;
/// Most arguments kept per process.
pub const MAX_ARGS: usize = 64;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcInfo {
    pub pid: u32,
    pub ppid: u32,
    /// Start time rounded to a clock tick (see `procfs::start_time_ticks_ns`).
    pub start_ns: u64,
    pub entity_id: String,
    pub parent_entity_id: String,
    pub executable: String,
    pub args: Vec<Vec<u8>>,
    pub args_truncated: bool,
    pub cwd: Vec<u8>,
    pub comm: String,
    pub tty: String,
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
    pub loginuid: u32,
    pub sessionid: u32,
    pub cgroup_id: u64,
    pub cgroup_path: String,
    pub container_id: String,
    pub pid_ns: u32,
    pub mnt_ns: u32,
    pub net_ns: u32,
}

impl ProcInfo {
    /// argv joined with spaces, lossily, as a command line.
    pub fn command_line(&self) -> String {
        let parts: Vec<String> = self
            .args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        parts.join(" ")
    }

    pub fn to_process(&self) -> Process {
        Process {
            pid: self.pid,
            ppid: self.ppid,
            tid: self.pid,
            entity_id: self.entity_id.clone(),
            parent_entity_id: self.parent_entity_id.clone(),
            start_time_ns: self.start_ns,
            executable: self.executable.clone(),
            args: self.args.clone(),
            args_truncated: self.args_truncated,
            cwd: self.cwd.clone(),
            comm: self.comm.clone(),
            tty: self.tty.clone(),
            uid: self.uid,
            gid: self.gid,
            euid: self.euid,
            egid: self.egid,
            loginuid: self.loginuid,
            sessionid: self.sessionid,
            cgroup_id: self.cgroup_id,
            cgroup_path: self.cgroup_path.clone(),
            container_id: self.container_id.clone(),
            pid_ns: self.pid_ns,
            mnt_ns: self.mnt_ns,
            net_ns: self.net_ns,
            ..Default::default()
        }
    }

    /// Approximate heap size, for the memory bound.
    fn weight(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.args.iter().map(|a| a.len() + 24).sum::<usize>()
            + self.executable.len()
            + self.cwd.len()
            + self.cgroup_path.len()
            + 128
    }
}

/// Live processes by pid, bounded in entries.
pub struct ProcTable {
    host_id: String,
    map: HashMap<u32, ProcInfo>,
    cap: usize,
}

impl ProcTable {
    pub fn new(host_id: &str, cap: usize) -> Self {
        ProcTable {
            host_id: host_id.to_string(),
            map: HashMap::new(),
            cap: cap.max(16),
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn approx_bytes(&self) -> usize {
        self.map.values().map(ProcInfo::weight).sum()
    }

    pub fn entity_id(&self, pid: u32, start_boottime_ns: u64) -> String {
        weir_event::entity::entity_id(&self.host_id, pid, procfs::start_time_ticks_ns(start_boottime_ns))
    }

    pub fn get(&self, pid: u32) -> Option<&ProcInfo> {
        self.map.get(&pid)
    }

    /// The entry for `pid` only if it is the same process (same start time).
    pub fn get_exact(&self, pid: u32, start_boottime_ns: u64) -> Option<&ProcInfo> {
        let start = procfs::start_time_ticks_ns(start_boottime_ns);
        self.map.get(&pid).filter(|p| p.start_ns == start)
    }

    pub fn insert(&mut self, info: ProcInfo) {
        if self.map.len() >= self.cap && !self.map.contains_key(&info.pid) {
            self.evict();
        }
        self.map.insert(info.pid, info);
    }

    pub fn remove(&mut self, pid: u32) -> Option<ProcInfo> {
        self.map.remove(&pid)
    }

    /// Drops entries whose process is gone (exit missed), or else the oldest.
    fn evict(&mut self) {
        let dead: Vec<u32> = self
            .map
            .keys()
            .copied()
            .filter(|pid| !procfs::proc_path(*pid, "").exists())
            .collect();
        if !dead.is_empty() {
            for pid in dead {
                self.map.remove(&pid);
            }
            return;
        }
        if let Some(oldest) = self.map.values().min_by_key(|p| p.start_ns).map(|p| p.pid) {
            self.map.remove(&oldest);
        }
    }

    /// Ancestors of `ppid` nearest first, following only entries whose
    /// identity matches the child's recorded parent entity id.
    pub fn ancestors(&self, ppid: u32, parent_entity_id: &str) -> Vec<Ancestor> {
        let mut out = Vec::new();
        let (mut pid, mut want) = (ppid, parent_entity_id.to_string());
        while out.len() < MAX_ANCESTORS && pid != 0 {
            let Some(p) = self.map.get(&pid) else { break };
            if !want.is_empty() && p.entity_id != want {
                break;
            }
            out.push(Ancestor {
                pid: p.pid,
                entity_id: p.entity_id.clone(),
                executable: p.executable.clone(),
                command_line: p.command_line(),
            });
            if p.ppid == pid {
                break;
            }
            pid = p.ppid;
            want = p.parent_entity_id.clone();
        }
        out
    }

    /// Reads one process from /proc; None when it is gone or unreadable.
    pub fn read_proc(&self, pid: u32) -> Option<ProcInfo> {
        let stat = procfs::parse_stat(&procfs::read_text(pid, "stat")?)?;
        let status = procfs::read_text(pid, "status").unwrap_or_default();
        let (uid, euid) = procfs::parse_ids(&status, "Uid:").unwrap_or((0, 0));
        let (gid, egid) = procfs::parse_ids(&status, "Gid:").unwrap_or((0, 0));
        let start_ns = stat.starttime_ticks.saturating_mul(procfs::ns_per_tick());
        let (args, args_truncated) = procfs::split_args(
            &std::fs::read(procfs::proc_path(pid, "cmdline")).unwrap_or_default(),
            MAX_ARGS,
        );
        let cgroup_path = procfs::read_text(pid, "cgroup")
            .and_then(|t| container::unified_path(&t))
            .unwrap_or_default();
        let ns = |n: &str| {
            procfs::read_link(pid, &format!("ns/{n}"))
                .and_then(|l| procfs::parse_ns_link(&String::from_utf8_lossy(&l)))
                .unwrap_or(0)
        };
        let num = |leaf: &str| procfs::read_text(pid, leaf).and_then(|t| t.trim().parse::<u32>().ok());
        let ppid_start = procfs::read_text(stat.ppid, "stat")
            .and_then(|t| procfs::parse_stat(&t))
            .map(|s| s.starttime_ticks.saturating_mul(procfs::ns_per_tick()));
        Some(ProcInfo {
            pid,
            ppid: stat.ppid,
            start_ns,
            entity_id: weir_event::entity::entity_id(&self.host_id, pid, start_ns),
            parent_entity_id: match ppid_start {
                Some(s) if stat.ppid != 0 => weir_event::entity::entity_id(&self.host_id, stat.ppid, s),
                _ => String::new(),
            },
            executable: procfs::read_link(pid, "exe")
                .map(|e| String::from_utf8_lossy(&e).into_owned())
                .unwrap_or_default(),
            args,
            args_truncated,
            cwd: procfs::read_link(pid, "cwd").unwrap_or_default(),
            comm: stat.comm,
            tty: procfs::tty_name(stat.tty_nr),
            uid,
            gid,
            euid,
            egid,
            loginuid: num("loginuid").unwrap_or(weir_event::LOGINUID_UNSET),
            sessionid: num("sessionid").unwrap_or(u32::MAX),
            cgroup_id: 0,
            container_id: container::container_id(&cgroup_path).unwrap_or_default(),
            cgroup_path,
            pid_ns: ns("pid"),
            mnt_ns: ns("mnt"),
            net_ns: ns("net"),
        })
    }

    /// Fills the table from /proc; returns how many processes were read.
    pub fn snapshot(&mut self) -> usize {
        let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
        let mut n = 0;
        for entry in dir.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(info) = self.read_proc(pid) {
                self.insert(info);
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(pid: u32, ppid: u32, table: &ProcTable) -> ProcInfo {
        ProcInfo {
            pid,
            ppid,
            start_ns: pid as u64 * 10_000_000,
            entity_id: table.entity_id(pid, pid as u64 * 10_000_000),
            parent_entity_id: if ppid == 0 {
                String::new()
            } else {
                table.entity_id(ppid, ppid as u64 * 10_000_000)
            },
            executable: format!("/bin/p{pid}"),
            args: vec![format!("p{pid}").into_bytes(), b"-x".to_vec()],
            ..Default::default()
        }
    }

    #[test]
    fn ancestors_follow_matching_identities_only() {
        let mut t = ProcTable::new("h", 100);
        for (pid, ppid) in [(1, 0), (10, 1), (20, 10), (30, 20)] {
            let i = info(pid, ppid, &t);
            t.insert(i);
        }
        let me = t.get(30).unwrap().clone();
        let a = t.ancestors(me.ppid, &me.parent_entity_id);
        assert_eq!(a.iter().map(|a| a.pid).collect::<Vec<_>>(), vec![20, 10, 1]);
        assert_eq!(a[0].command_line, "p20 -x");
        // pid 10 reused by another process: the chain stops there.
        let mut other = info(10, 1, &t);
        other.start_ns += 1;
        other.entity_id = "different".into();
        t.insert(other);
        assert_eq!(t.ancestors(me.ppid, &me.parent_entity_id).len(), 1);
    }

    #[test]
    fn bounded_in_entries() {
        let mut t = ProcTable::new("h", 16);
        for pid in 4_000_000..4_000_100u32 {
            let i = info(pid, 0, &t);
            t.insert(i);
        }
        assert!(t.len() <= 16);
    }

    #[test]
    fn ten_thousand_processes_fit_the_memory_bound() {
        let mut t = ProcTable::new("h", 65_536);
        for pid in 1..=10_000u32 {
            let mut i = info(pid, pid / 2, &t);
            i.executable = "/usr/lib/jvm/java-17-openjdk-amd64/bin/java".into();
            i.args = (0..12)
                .map(|n| format!("--option-{n}=some-typical-value").into_bytes())
                .collect();
            i.cwd = b"/srv/application/current".to_vec();
            i.cgroup_path = "/system.slice/application.service".into();
            t.insert(i);
        }
        assert_eq!(t.len(), 10_000);
        // The bound is 40 MB for the whole sensor; the table takes a fraction.
        assert!(t.approx_bytes() < 16 << 20, "{} bytes", t.approx_bytes());
    }

    #[test]
    fn snapshot_reads_this_process() {
        let mut t = ProcTable::new("h", 100_000);
        assert!(t.snapshot() > 0);
        let me = t.get(std::process::id()).unwrap();
        assert!(me.executable.starts_with('/'));
        assert!(!me.entity_id.is_empty());
        assert_eq!(me.ppid, std::os::unix::process::parent_id());
    }
}
