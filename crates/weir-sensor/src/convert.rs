//! Turns decoded kernel records into weir events, keeping the process table
//! current (exec replaces, fork adds, exit reaps) and attaching the actor's
//! identity, parent and ancestors to every event.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use weir_event::event::Body as EvBody;
use weir_event::{BpfLoad, Event, Exec, Exit, File, Fork, Memfd, ModuleLoad, Network, Privilege, Process, Ptrace};

use crate::config::home_path_kept;
use crate::probe::record::{self, Body, Header, Record};
use crate::procs::{procfs, ProcInfo, ProcTable};
use crate::users::Users;

pub struct Converter {
    pub table: ProcTable,
    users: Users,
    host_id: String,
    host_name: String,
    /// CLOCK_REALTIME - CLOCK_BOOTTIME, to turn kernel boot times into wall time.
    boot_offset_ns: i128,
    home_filter: bool,
    /// Finished Process messages by pid, so a busy process's events do not
    /// rebuild lineage each time. Cleared on every exec and exit (they change
    /// what other processes' ancestors say).
    cache: HashMap<u32, Process>,
}

const CACHE_MAX: usize = 4096;

/// A clock's current time (CLOCK_REALTIME, CLOCK_BOOTTIME...), in nanoseconds.
fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we pass.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

/// Wall clock minus boot clock, in nanoseconds.
pub fn boot_offset_ns() -> i128 {
    clock_ns(libc::CLOCK_REALTIME) - clock_ns(libc::CLOCK_BOOTTIME)
}

/// CLOCK_BOOTTIME now, in ns: the kernel's clock for event and window times.
pub fn boot_now_ns() -> u64 {
    clock_ns(libc::CLOCK_BOOTTIME) as u64
}

/// The kernel's tty name ("pts3", "tty1") as ps and /proc show it ("pts/3").
fn tty_display(name: &str) -> String {
    match name.strip_prefix("pts") {
        Some(n) if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) => format!("pts/{n}"),
        _ => name.to_string(),
    }
}

fn ip(family: u16, addr: &[u8; 16]) -> String {
    match family {
        2 => Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]).to_string(),
        10 => Ipv6Addr::from(*addr).to_string(),
        _ => String::new(),
    }
}

impl Converter {
    pub fn new(table: ProcTable, host_id: &str, host_name: &str, home_filter: bool) -> Self {
        Converter {
            table,
            users: Users::new(),
            host_id: host_id.to_string(),
            host_name: host_name.to_string(),
            boot_offset_ns: boot_offset_ns(),
            home_filter,
            cache: HashMap::new(),
        }
    }

    pub fn wall_ns(&self, boot_ns: u64) -> u64 {
        (boot_ns as i128 + self.boot_offset_ns).max(0) as u64
    }

    pub fn now_ns() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    }

    /// An event with host fields and time; `seq` stays 0 (the shipper numbers events).
    pub fn event(&self, time_unix_ns: u64, process: Option<Process>, body: EvBody) -> Event {
        Event {
            seq: 0,
            time_unix_ns,
            host_id: self.host_id.clone(),
            host_name: self.host_name.clone(),
            process,
            body: Some(body),
        }
    }

    /// The table entry for the record's actor, read from /proc if missing,
    /// with the credentials the kernel just reported.
    fn actor(&mut self, h: &Header) -> ProcInfo {
        let mut info = match self.table.get_exact(h.tgid, h.start_ns) {
            Some(p) => p.clone(),
            None => {
                let fresh = self
                    .table
                    .read_proc(h.tgid)
                    .filter(|p| p.start_ns == procfs::start_time_ticks_ns(h.start_ns))
                    .unwrap_or_else(|| self.minimal(h));
                self.table.insert(fresh.clone());
                fresh
            }
        };
        let before = (info.uid, info.gid, info.euid, info.egid, info.loginuid, info.sessionid);
        info.uid = h.uid;
        info.gid = h.gid;
        info.euid = h.euid;
        info.egid = h.egid;
        info.loginuid = h.loginuid;
        info.sessionid = h.sessionid;
        if !h.comm.is_empty() {
            info.comm = h.comm.clone();
        }
        if before != (h.uid, h.gid, h.euid, h.egid, h.loginuid, h.sessionid) {
            self.table.insert(info.clone());
        }
        info
    }

    /// What the header alone says about a process nobody knows.
    fn minimal(&self, h: &Header) -> ProcInfo {
        let parent_entity_id = self.table.get(h.ppid).map(|p| p.entity_id.clone()).unwrap_or_default();
        ProcInfo {
            pid: h.tgid,
            ppid: h.ppid,
            start_ns: procfs::start_time_ticks_ns(h.start_ns),
            entity_id: self.table.entity_id(h.tgid, h.start_ns),
            parent_entity_id,
            comm: h.comm.clone(),
            uid: h.uid,
            gid: h.gid,
            euid: h.euid,
            egid: h.egid,
            loginuid: h.loginuid,
            sessionid: h.sessionid,
            ..Default::default()
        }
    }

    /// The Process message for an actor: table info + ancestors + names.
    pub(crate) fn process(&mut self, info: &ProcInfo, tid: u32) -> Process {
        let mut p = info.to_process();
        p.tid = tid;
        p.ancestors = self.table.ancestors(info.ppid, &info.parent_entity_id);
        p.user_name = self.users.name(info.uid);
        p.login_name = self.users.name(info.loginuid);
        p
    }

    /// The cached Process for the header's task, if still exact.
    fn cached(&self, h: &Header) -> Option<Process> {
        let p = self.cache.get(&h.tgid)?;
        let same = p.start_time_ns == procfs::start_time_ticks_ns(h.start_ns)
            && (p.uid, p.gid, p.euid, p.egid, p.loginuid, p.sessionid)
                == (h.uid, h.gid, h.euid, h.egid, h.loginuid, h.sessionid)
            && p.comm == h.comm;
        same.then(|| {
            let mut p = p.clone();
            p.tid = h.tid;
            p
        })
    }

    /// The actor's Process, from the cache or built (and cached).
    fn actor_process(&mut self, h: &Header) -> Process {
        if let Some(p) = self.cached(h) {
            return p;
        }
        let info = self.actor(h);
        let mut p = self.process(&info, h.tid);
        // Activity events carry the parent only; the full chain is on the
        // process's exec/fork/exit events, joined by entity id downstream.
        p.ancestors.truncate(1);
        if self.cache.len() >= CACHE_MAX {
            self.cache.clear();
        }
        self.cache.insert(h.tgid, p.clone());
        p
    }

    /// Converts one record; None when it yields no event (filtered).
    pub fn convert(&mut self, rec: Record) -> Option<Event> {
        let h = rec.header;
        let time = self.wall_ns(h.ktime_ns);
        if matches!(rec.body, Body::Exec(_) | Body::Exit { .. }) {
            self.cache.clear();
        }
        // Events about what a process does (not its life cycle) take the fast path.
        let body = match rec.body {
            Body::Exec(_) | Body::Fork { .. } | Body::Exit { .. } => rec.body,
            Body::File(f) => {
                let kept = |p: &[u8]| !p.is_empty() && home_path_kept(p);
                if self.home_filter && !(kept(&f.path) || kept(&f.path2)) {
                    return None;
                }
                let process = self.actor_process(&h);
                let ev = EvBody::File(File {
                    op: f.op as i32,
                    path: f.path,
                    source_path: f.path2,
                    mode: f.mode,
                    owner_uid: f.uid_arg,
                    owner_gid: f.gid_arg,
                    flags: f.oflags,
                    repeat_count: 0,
                    result: f.result,
                    truncated: h.flags & record::F_PATH_TRUNC != 0,
                    resolved: h.flags & record::F_RESOLVED != 0,
                });
                return Some(self.event(time, Some(process), ev));
            }
            other => other,
        };
        let (info, body) = match body {
            Body::Exec(e) => {
                let (mut args, cut) = procfs::split_args(&e.args, crate::procs::table::MAX_ARGS);
                if args.is_empty() {
                    args.push(h.comm.clone().into_bytes());
                }
                let mut executable = String::from_utf8_lossy(&e.exe).into_owned();
                if h.flags & record::F_EXE_DELETED != 0 || e.exe_nlink == 0 {
                    executable.push_str(" (deleted)");
                }
                let memfd = executable.starts_with("/memfd:");
                let cwd = if h.flags & record::F_CWD_TRUNC != 0 {
                    procfs::read_link(h.tgid, "cwd").unwrap_or(e.cwd)
                } else {
                    e.cwd
                };
                let cgroup_path = procfs::read_text(h.tgid, "cgroup")
                    .and_then(|t| crate::procs::container::unified_path(&t))
                    .unwrap_or_default();
                let prior = self
                    .table
                    .get_exact(h.tgid, h.start_ns)
                    .map(|p| p.parent_entity_id.clone());
                let parent_entity_id = prior
                    .filter(|s| !s.is_empty())
                    .or_else(|| self.table.get(h.ppid).map(|p| p.entity_id.clone()))
                    .unwrap_or_default();
                let info = ProcInfo {
                    pid: h.tgid,
                    ppid: h.ppid,
                    start_ns: procfs::start_time_ticks_ns(h.start_ns),
                    entity_id: self.table.entity_id(h.tgid, h.start_ns),
                    parent_entity_id,
                    executable,
                    args,
                    args_truncated: cut || h.flags & record::F_ARGS_TRUNC != 0,
                    cwd,
                    comm: h.comm.clone(),
                    tty: tty_display(&e.tty),
                    uid: h.uid,
                    gid: h.gid,
                    euid: h.euid,
                    egid: h.egid,
                    loginuid: h.loginuid,
                    sessionid: h.sessionid,
                    cgroup_id: e.cgroup_id,
                    container_id: crate::procs::container::container_id(&cgroup_path).unwrap_or_default(),
                    cgroup_path,
                    pid_ns: e.pid_ns,
                    mnt_ns: e.mnt_ns,
                    net_ns: e.net_ns,
                };
                self.table.insert(info.clone());
                (Some(info), EvBody::Exec(Exec { memfd }))
            }
            Body::Fork {
                child_pid,
                child_start_ns,
            } => {
                let parent = self.actor(&h);
                let mut child = parent.clone();
                child.pid = child_pid;
                child.ppid = parent.pid;
                child.start_ns = procfs::start_time_ticks_ns(child_start_ns);
                child.entity_id = self.table.entity_id(child_pid, child_start_ns);
                child.parent_entity_id = parent.entity_id.clone();
                let child_entity_id = child.entity_id.clone();
                self.table.insert(child);
                (
                    Some(parent),
                    EvBody::Fork(Fork {
                        child_pid,
                        child_entity_id,
                    }),
                )
            }
            Body::Exit { exit_code } => {
                let info = self.actor(&h);
                let ev = EvBody::Exit(Exit {
                    exit_code: ((exit_code >> 8) & 0xff) as i32,
                    signal: exit_code & 0x7f,
                    core_dumped: exit_code & 0x80 != 0,
                });
                let process = self.process(&info, h.tid);
                self.table.remove(h.tgid);
                return Some(self.event(time, Some(process), ev));
            }
            Body::File(_) => return None, // converted above
            Body::Net(n) => {
                let transport = match n.protocol {
                    6 => "tcp".to_string(),
                    17 => "udp".to_string(),
                    other => format!("ip-proto-{other}"),
                };
                let (local, remote) = (
                    (ip(n.family, &n.saddr), n.sport as u32),
                    (ip(n.family, &n.daddr), n.dport as u32),
                );
                // accept: the peer initiated, so it is the source; listen/bind have no remote end.
                let (src, dst) = match n.op {
                    2 => (remote, local),
                    3 | 4 => (local, (String::new(), 0)),
                    _ => (local, remote),
                };
                let ev = Network {
                    op: n.op as i32,
                    transport,
                    source_ip: src.0,
                    source_port: src.1,
                    destination_ip: dst.0,
                    destination_port: dst.1,
                    result: n.ret,
                };
                (None, EvBody::Network(ev))
            }
            Body::Priv(p) => {
                let n = match p.op {
                    1 | 2 => 1,
                    3 | 4 => 2,
                    5 | 6 => 3,
                    _ => 0,
                };
                let ev = Privilege {
                    op: p.op as i32,
                    old_ids: p.old_ids.to_vec(),
                    new_ids: p.new_ids[..n].to_vec(),
                    cap_effective: p.cap_eff,
                    cap_permitted: p.cap_perm,
                    result: p.ret,
                };
                (None, EvBody::Privilege(ev))
            }
            Body::Ptrace { request, target, ret } => {
                let t = self.table.get(target).cloned().or_else(|| self.table.read_proc(target));
                let ev = Ptrace {
                    request,
                    target_pid: target,
                    target_entity_id: t.as_ref().map(|t| t.entity_id.clone()).unwrap_or_default(),
                    target_executable: t.map(|t| t.executable).unwrap_or_default(),
                };
                let _ = ret;
                (None, EvBody::Ptrace(ev))
            }
            Body::Memfd { flags, name } => (None, EvBody::Memfd(Memfd { name, flags })),
            Body::Bpf { cmd, prog_type, name } => (
                None,
                EvBody::Bpf(BpfLoad {
                    cmd,
                    prog_type,
                    prog_name: name,
                }),
            ),
            Body::Module { which, args } => {
                let name = if which == 1 { "finit_module" } else { "init_module" };
                (
                    None,
                    EvBody::Module(ModuleLoad {
                        name: name.to_string(),
                        args,
                    }),
                )
            }
        };
        let process = match info {
            Some(info) => self.process(&info, h.tid),
            None => self.actor_process(&h),
        };
        Some(self.event(time, Some(process), body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_addresses_and_ttys() {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[127, 0, 0, 1]);
        assert_eq!(ip(2, &a), "127.0.0.1");
        assert_eq!(ip(10, &Ipv6Addr::LOCALHOST.octets()), "::1");
        assert_eq!(tty_display("pts12"), "pts/12");
        assert_eq!(tty_display("tty1"), "tty1");
        assert_eq!(tty_display("pts"), "pts");
    }
}
