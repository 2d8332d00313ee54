//! Degraded mode for hosts where BPF cannot load (no privilege, old kernel):
//! the netlink process connector reports fork/exec/exit by pid, and the
//! process details are read from /proc right away. Short-lived processes may
//! be gone before /proc is read; such events carry what the connector gave.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use weir_event::event::Body as EvBody;
use weir_event::{Event, Exec, Exit, Fork};

use crate::convert::Converter;
use crate::procs::ProcInfo;

const NETLINK_CONNECTOR: i32 = 11;
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const NLMSG_DONE: u16 = 3;
const NLMSG_HDR: usize = 16;
const CN_MSG: usize = 20;

const PROC_EVENT_FORK: u32 = 0x1;
const PROC_EVENT_EXEC: u32 = 0x2;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;

/// One process connector notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnEvent {
    Fork {
        parent_tgid: u32,
        child_pid: u32,
        child_tgid: u32,
    },
    Exec {
        pid: u32,
        tgid: u32,
    },
    Exit {
        pid: u32,
        tgid: u32,
        exit_code: u32,
        exit_signal: u32,
    },
    Other(u32),
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

/// Parses the netlink messages in one datagram; malformed parts are skipped.
pub fn parse(datagram: &[u8]) -> Vec<ConnEvent> {
    let mut out = Vec::new();
    let mut off = 0usize;
    while off + NLMSG_HDR <= datagram.len() {
        let Some(len) = u32_at(datagram, off).map(|l| l as usize) else {
            break;
        };
        if len < NLMSG_HDR || off + len > datagram.len() {
            break;
        }
        let msg = &datagram[off..off + len];
        // cn_msg: id.idx, id.val, seq, ack, len (u16), flags (u16); then proc_event.
        let ev = NLMSG_HDR + CN_MSG;
        if u32_at(msg, NLMSG_HDR) == Some(CN_IDX_PROC) {
            if let Some(what) = u32_at(msg, ev) {
                // proc_event: what, cpu, timestamp_ns (u64), then event_data.
                let d = ev + 16;
                let f = |i: usize| u32_at(msg, d + 4 * i);
                let parsed = match what {
                    PROC_EVENT_FORK => (|| {
                        Some(ConnEvent::Fork {
                            parent_tgid: f(1)?,
                            child_pid: f(2)?,
                            child_tgid: f(3)?,
                        })
                    })(),
                    PROC_EVENT_EXEC => (|| {
                        Some(ConnEvent::Exec {
                            pid: f(0)?,
                            tgid: f(1)?,
                        })
                    })(),
                    PROC_EVENT_EXIT => (|| {
                        Some(ConnEvent::Exit {
                            pid: f(0)?,
                            tgid: f(1)?,
                            exit_code: f(2)?,
                            exit_signal: f(3)?,
                        })
                    })(),
                    other => Some(ConnEvent::Other(other)),
                };
                out.extend(parsed);
            }
        }
        off += (len + 3) & !3;
    }
    out
}

/// Opens a process connector socket and subscribes to process events.
pub fn open() -> std::io::Result<OwnedFd> {
    // SAFETY: plain socket syscalls; every buffer is owned and sized as passed.
    unsafe {
        let fd = libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            NETLINK_CONNECTOR,
        );
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let fd = OwnedFd::from_raw_fd(fd);
        let mut addr: libc::sockaddr_nl = std::mem::zeroed();
        addr.nl_family = libc::AF_NETLINK as u16;
        addr.nl_groups = CN_IDX_PROC;
        if libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        ) < 0
        {
            return Err(std::io::Error::last_os_error());
        }
        let mut msg = [0u8; NLMSG_HDR + CN_MSG + 4];
        let total = msg.len() as u32;
        msg[0..4].copy_from_slice(&total.to_ne_bytes());
        msg[4..6].copy_from_slice(&NLMSG_DONE.to_ne_bytes());
        msg[16..20].copy_from_slice(&CN_IDX_PROC.to_ne_bytes());
        msg[20..24].copy_from_slice(&CN_VAL_PROC.to_ne_bytes());
        msg[32..34].copy_from_slice(&4u16.to_ne_bytes());
        msg[36..40].copy_from_slice(&PROC_CN_MCAST_LISTEN.to_ne_bytes());
        if libc::send(fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(fd)
    }
}

/// Reads what is waiting on the socket without blocking.
pub fn read_ready(fd: &OwnedFd) -> Vec<ConnEvent> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        // SAFETY: recv into a buffer of the size we pass.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n <= 0 {
            break;
        }
        out.extend(parse(&buf[..n as usize]));
    }
    out
}

impl Converter {
    /// Turns a connector notification into an event, reading /proc now.
    pub fn convert_connector(&mut self, ev: ConnEvent) -> Option<Event> {
        let now = Converter::now_ns();
        match ev {
            ConnEvent::Exec { pid, tgid } if pid == tgid => {
                let info = self.table.read_proc(tgid).unwrap_or_else(|| ProcInfo {
                    pid: tgid,
                    ..Default::default()
                });
                self.table.insert(info.clone());
                let memfd = info.executable.starts_with("/memfd:");
                let process = self.process(&info, pid);
                Some(self.event(now, Some(process), EvBody::Exec(Exec { memfd })))
            }
            ConnEvent::Fork {
                parent_tgid,
                child_pid,
                child_tgid,
            } if child_pid == child_tgid => {
                let parent = match self.table.get(parent_tgid) {
                    Some(p) => p.clone(),
                    None => {
                        let p = self.table.read_proc(parent_tgid)?;
                        self.table.insert(p.clone());
                        p
                    }
                };
                let child = self.table.read_proc(child_tgid).unwrap_or_else(|| {
                    let mut c = parent.clone();
                    c.pid = child_tgid;
                    c.ppid = parent_tgid;
                    c.entity_id = String::new();
                    c.parent_entity_id = parent.entity_id.clone();
                    c
                });
                let child_entity_id = child.entity_id.clone();
                self.table.insert(child);
                let process = self.process(&parent, parent_tgid);
                Some(self.event(
                    now,
                    Some(process),
                    EvBody::Fork(Fork {
                        child_pid: child_tgid,
                        child_entity_id,
                    }),
                ))
            }
            ConnEvent::Exit {
                pid,
                tgid,
                exit_code,
                exit_signal: _,
            } if pid == tgid => {
                let info = self.table.remove(tgid)?;
                let process = self.process(&info, pid);
                let ev = EvBody::Exit(Exit {
                    exit_code: ((exit_code >> 8) & 0xff) as i32,
                    signal: exit_code & 0x7f,
                    core_dumped: exit_code & 0x80 != 0,
                });
                Some(self.event(now, Some(process), ev))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn msg(what: u32, data: &[u32]) -> Vec<u8> {
        let len = NLMSG_HDR + CN_MSG + 16 + 4 * data.len();
        let mut b = vec![0u8; len];
        b[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
        b[16..20].copy_from_slice(&CN_IDX_PROC.to_ne_bytes());
        b[36..40].copy_from_slice(&what.to_ne_bytes());
        for (i, v) in data.iter().enumerate() {
            let o = 52 + 4 * i;
            b[o..o + 4].copy_from_slice(&v.to_ne_bytes());
        }
        b
    }

    #[test]
    fn parses_fork_exec_exit() {
        let mut d = msg(PROC_EVENT_FORK, &[10, 10, 11, 11]);
        d.extend(msg(PROC_EVENT_EXEC, &[11, 11]));
        d.extend(msg(PROC_EVENT_EXIT, &[11, 11, 7 << 8, 17, 10, 10]));
        assert_eq!(
            parse(&d),
            vec![
                ConnEvent::Fork {
                    parent_tgid: 10,
                    child_pid: 11,
                    child_tgid: 11
                },
                ConnEvent::Exec { pid: 11, tgid: 11 },
                ConnEvent::Exit {
                    pid: 11,
                    tgid: 11,
                    exit_code: 7 << 8,
                    exit_signal: 17
                },
            ]
        );
    }

    proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&b);
        }
    }
}
