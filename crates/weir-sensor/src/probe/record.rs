//! Decoding of the raw records the kernel side writes to the ring buffer.
//! The layouts mirror the structs in bpf/sensor.bpf.c; every read is bounds
//! checked, so a short or garbled record is an error, never a panic.

use thiserror::Error;

pub const K_EXEC: u32 = 1;
pub const K_FORK: u32 = 2;
pub const K_EXIT: u32 = 3;
pub const K_FILE: u32 = 4;
pub const K_NET: u32 = 5;
pub const K_PRIV: u32 = 6;
pub const K_PTRACE: u32 = 7;
pub const K_MEMFD: u32 = 8;
pub const K_BPF: u32 = 9;
pub const K_MODULE: u32 = 10;
/// Size of the kernel's per-kind drop counter array.
pub const K_MAX: u32 = 16;

pub const F_ARGS_TRUNC: u32 = 1;
pub const F_EXE_TRUNC: u32 = 2;
pub const F_CWD_TRUNC: u32 = 4;
pub const F_EXE_DELETED: u32 = 8;
/// File record: the path is incomplete or the name as given (unresolved).
pub const F_PATH_TRUNC: u32 = 16;
/// File record: the path is the opened file's real path (symlink followed).
pub const F_RESOLVED: u32 = 32;

/// Event kind name for a kernel record kind (the names `weir_event::kind_name` uses).
pub fn kind_name(kind: u32) -> &'static str {
    match kind {
        K_EXEC => "exec",
        K_FORK => "fork",
        K_EXIT => "exit",
        K_FILE => "file",
        K_NET => "network",
        K_PRIV => "privilege",
        K_PTRACE => "ptrace",
        K_MEMFD => "memfd",
        K_BPF => "bpf",
        K_MODULE => "module",
        _ => "unknown",
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("record of {len} bytes is too short for field `{field}` at offset {offset}")]
    Short {
        field: &'static str,
        offset: usize,
        len: usize,
    },
    #[error("unknown record kind {0}")]
    UnknownKind(u32),
}

/// Common header of every record: the task that caused it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    pub kind: u32,
    pub flags: u32,
    pub ktime_ns: u64,
    pub tgid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
    pub loginuid: u32,
    pub sessionid: u32,
    /// Thread group leader's start_boottime, nanoseconds since boot.
    pub start_ns: u64,
    pub comm: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRec {
    pub cgroup_id: u64,
    pub pid_ns: u32,
    pub mnt_ns: u32,
    pub net_ns: u32,
    pub tty: String,
    pub exe_nlink: u32,
    /// Absolute path rebuilt from the leaf-first components.
    pub exe: Vec<u8>,
    pub cwd: Vec<u8>,
    /// argv as the kernel holds it: NUL-separated.
    pub args: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRec {
    pub op: u32,
    pub oflags: u32,
    pub mode: u32,
    pub uid_arg: u32,
    pub gid_arg: u32,
    pub dfd: i32,
    /// 0 on success, else the negative errno.
    pub result: i32,
    /// Occurrences of the record's aggregation key so far in the kernel
    /// (0: not aggregated), and the key's path hash.
    pub agg_total: u64,
    pub agg_hash: u64,
    pub path: Vec<u8>,
    pub path2: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetRec {
    pub op: u32,
    pub ret: i32,
    pub family: u16,
    pub protocol: u16,
    pub sport: u16,
    pub dport: u16,
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivRec {
    pub op: u32,
    pub ret: i32,
    pub old_ids: [u32; 3],
    pub new_ids: [i64; 3],
    pub cap_eff: u64,
    pub cap_perm: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Exec(ExecRec),
    Fork { child_pid: u32, child_start_ns: u64 },
    Exit { exit_code: u32 },
    File(FileRec),
    Net(NetRec),
    Priv(PrivRec),
    Ptrace { request: u64, target: u32, ret: i32 },
    Memfd { flags: u32, name: String },
    Bpf { cmd: u32, prog_type: u32, name: String },
    Module { which: u32, args: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub header: Header,
    pub body: Body,
}

pub const HDR_LEN: usize = 80;
const EXEC_EXE: usize = 152;
const EXEC_CWD: usize = 920;
const EXEC_ARGS: usize = 1688;
const PATH_BUF: usize = 768;
const ARGS_MAX: usize = 4096;
const FILE_PATH: usize = 140;
const FILE_PATH2: usize = 400;
const FPATH: usize = 256;

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn bytes(&self, field: &'static str, offset: usize, n: usize) -> Result<&'a [u8], RecordError> {
        self.b.get(offset..offset.saturating_add(n)).ok_or(RecordError::Short {
            field,
            offset,
            len: self.b.len(),
        })
    }
    fn u16(&self, field: &'static str, offset: usize) -> Result<u16, RecordError> {
        let s = self.bytes(field, offset, 2)?;
        Ok(u16::from_ne_bytes([s[0], s[1]]))
    }
    fn u32(&self, field: &'static str, offset: usize) -> Result<u32, RecordError> {
        let s = self.bytes(field, offset, 4)?;
        Ok(u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn i32(&self, field: &'static str, offset: usize) -> Result<i32, RecordError> {
        Ok(self.u32(field, offset)? as i32)
    }
    fn u64(&self, field: &'static str, offset: usize) -> Result<u64, RecordError> {
        let s = self.bytes(field, offset, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_ne_bytes(a))
    }
    /// A NUL-terminated string inside a fixed buffer.
    fn cstr(&self, field: &'static str, offset: usize, n: usize) -> Result<&'a [u8], RecordError> {
        let s = self.bytes(field, offset, n)?;
        Ok(&s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())])
    }
    /// A length-prefixed buffer: `len` clamped to the buffer size.
    fn sized(&self, field: &'static str, offset: usize, len: u32, cap: usize) -> Result<&'a [u8], RecordError> {
        if len == 0 {
            return Ok(&[]);
        }
        self.bytes(field, offset, (len as usize).min(cap))
    }
}

/// Rebuilds "/a/b/c" from the kernel's leaf-first, NUL-separated components.
pub fn components_to_path(raw: &[u8]) -> Vec<u8> {
    let parts: Vec<&[u8]> = raw.split(|&c| c == 0).filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return b"/".to_vec();
    }
    let mut out = Vec::with_capacity(raw.len() + 1);
    for p in parts.iter().rev() {
        out.push(b'/');
        out.extend_from_slice(p);
    }
    out
}

/// Decodes one ring buffer record.
pub fn decode(b: &[u8]) -> Result<Record, RecordError> {
    let r = Reader { b };
    let header = Header {
        kind: r.u32("kind", 0)?,
        flags: r.u32("flags", 4)?,
        ktime_ns: r.u64("ktime_ns", 8)?,
        tgid: r.u32("tgid", 16)?,
        tid: r.u32("tid", 20)?,
        ppid: r.u32("ppid", 24)?,
        uid: r.u32("uid", 28)?,
        gid: r.u32("gid", 32)?,
        euid: r.u32("euid", 36)?,
        egid: r.u32("egid", 40)?,
        loginuid: r.u32("loginuid", 44)?,
        sessionid: r.u32("sessionid", 48)?,
        start_ns: r.u64("start_ns", 56)?,
        comm: String::from_utf8_lossy(r.cstr("comm", 64, 16)?).into_owned(),
    };
    let body = match header.kind {
        K_EXEC => {
            let args_len = r.u32("args_len", 100)?;
            let exe_len = r.u32("exe_len", 104)?;
            let cwd_len = r.u32("cwd_len", 108)?;
            Body::Exec(ExecRec {
                cgroup_id: r.u64("cgroup_id", 80)?,
                pid_ns: r.u32("pid_ns", 88)?,
                mnt_ns: r.u32("mnt_ns", 92)?,
                net_ns: r.u32("net_ns", 96)?,
                tty: String::from_utf8_lossy(r.cstr("tty", 112, 32)?).into_owned(),
                exe_nlink: r.u32("exe_nlink", 144)?,
                exe: components_to_path(r.sized("exe", EXEC_EXE, exe_len, PATH_BUF)?),
                cwd: components_to_path(r.sized("cwd", EXEC_CWD, cwd_len, PATH_BUF)?),
                args: r.sized("args", EXEC_ARGS, args_len, ARGS_MAX)?.to_vec(),
            })
        }
        K_FORK => Body::Fork {
            child_pid: r.u32("child_pid", 80)?,
            child_start_ns: r.u64("child_start_ns", 88)?,
        },
        K_EXIT => Body::Exit {
            exit_code: r.u32("exit_code", 80)?,
        },
        K_FILE => {
            let path_len = r.u32("path_len", 104)?;
            let path2_len = r.u32("path2_len", 108)?;
            Body::File(FileRec {
                op: r.u32("op", 80)?,
                oflags: r.u32("oflags", 84)?,
                mode: r.u32("mode", 88)?,
                uid_arg: r.u32("uid_arg", 92)?,
                gid_arg: r.u32("gid_arg", 96)?,
                dfd: r.i32("dfd", 100)?,
                result: r.i32("result", 112)?,
                agg_total: r.u64("agg_total", 120)?,
                agg_hash: r.u64("agg_hash", 128)?,
                path: r.sized("path", FILE_PATH, path_len, FPATH)?.to_vec(),
                path2: r.sized("path2", FILE_PATH2, path2_len, FPATH)?.to_vec(),
            })
        }
        K_NET => {
            let mut saddr = [0u8; 16];
            let mut daddr = [0u8; 16];
            saddr.copy_from_slice(r.bytes("saddr", 96, 16)?);
            daddr.copy_from_slice(r.bytes("daddr", 112, 16)?);
            Body::Net(NetRec {
                op: r.u32("op", 80)?,
                ret: r.i32("ret", 84)?,
                family: r.u16("family", 88)?,
                protocol: r.u16("protocol", 90)?,
                sport: r.u16("sport", 92)?,
                dport: r.u16("dport", 94)?,
                saddr,
                daddr,
            })
        }
        K_PRIV => Body::Priv(PrivRec {
            op: r.u32("op", 80)?,
            ret: r.i32("ret", 84)?,
            old_ids: [r.u32("old_ids", 88)?, r.u32("old_ids", 92)?, r.u32("old_ids", 96)?],
            new_ids: [
                r.u64("new_ids", 104)? as i64,
                r.u64("new_ids", 112)? as i64,
                r.u64("new_ids", 120)? as i64,
            ],
            cap_eff: r.u64("cap_eff", 128)?,
            cap_perm: r.u64("cap_perm", 136)?,
        }),
        K_PTRACE => Body::Ptrace {
            request: r.u64("request", 80)?,
            target: r.u32("target", 88)?,
            ret: r.i32("ret", 92)?,
        },
        K_MEMFD => Body::Memfd {
            flags: r.u32("flags", 80)?,
            name: String::from_utf8_lossy(r.cstr("name", 88, 64)?).into_owned(),
        },
        K_BPF => Body::Bpf {
            cmd: r.u32("cmd", 80)?,
            prog_type: r.u32("prog_type", 84)?,
            name: String::from_utf8_lossy(r.cstr("name", 88, 16)?).into_owned(),
        },
        K_MODULE => Body::Module {
            which: r.u32("which", 80)?,
            args: String::from_utf8_lossy(r.cstr("args", 88, 128)?).into_owned(),
        },
        other => return Err(RecordError::UnknownKind(other)),
    };
    Ok(Record { header, body })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header(kind: u32, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[0..4].copy_from_slice(&kind.to_ne_bytes());
        b[16..20].copy_from_slice(&1234u32.to_ne_bytes());
        b[64..68].copy_from_slice(b"bash");
        b
    }

    #[test]
    fn rebuilds_paths_from_leaf_first_components() {
        assert_eq!(components_to_path(b"passwd\0etc\0"), b"/etc/passwd");
        assert_eq!(components_to_path(b""), b"/");
        assert_eq!(components_to_path(b"memfd:x\0"), b"/memfd:x");
    }

    #[test]
    fn decodes_an_exec_record() {
        let mut b = header(K_EXEC, EXEC_ARGS + 8);
        b[100..104].copy_from_slice(&8u32.to_ne_bytes());
        b[104..108].copy_from_slice(&11u32.to_ne_bytes());
        b[EXEC_EXE..EXEC_EXE + 11].copy_from_slice(b"true\0bin\0u\0");
        b[EXEC_ARGS..EXEC_ARGS + 8].copy_from_slice(b"true\0-x\0");
        let rec = decode(&b).unwrap();
        assert_eq!(rec.header.tgid, 1234);
        assert_eq!(rec.header.comm, "bash");
        let Body::Exec(e) = rec.body else { panic!("not exec") };
        assert_eq!(e.exe, b"/u/bin/true");
        assert_eq!(e.cwd, b"/");
        assert_eq!(e.args, b"true\0-x\0");
    }

    #[test]
    fn one_path_file_records_end_after_the_path() {
        let mut b = header(K_FILE, FILE_PATH + 12);
        b[104..108].copy_from_slice(&11u32.to_ne_bytes());
        b[112..116].copy_from_slice(&(-13i32).to_ne_bytes());
        b[120..128].copy_from_slice(&3u64.to_ne_bytes());
        b[FILE_PATH..FILE_PATH + 11].copy_from_slice(b"/etc/passwd");
        let Body::File(f) = decode(&b).unwrap().body else {
            panic!("not file")
        };
        assert_eq!(f.path, b"/etc/passwd");
        assert!(f.path2.is_empty());
        assert_eq!(f.result, -13);
        assert_eq!(f.agg_total, 3);
    }

    #[test]
    fn short_records_are_errors() {
        assert!(matches!(decode(&[0u8; 10]), Err(RecordError::Short { .. })));
        let b = header(K_NET, 100);
        assert_eq!(
            decode(&b),
            Err(RecordError::Short {
                field: "saddr",
                offset: 96,
                len: 100
            })
        );
        assert_eq!(decode(&header(99, 200)), Err(RecordError::UnknownKind(99)));
    }

    proptest! {
        #[test]
        fn never_panics_on_any_bytes(kind in 0u32..12, body in proptest::collection::vec(any::<u8>(), 0..6000)) {
            let mut b = kind.to_ne_bytes().to_vec();
            b.extend_from_slice(&body);
            let _ = decode(&b);
        }

        #[test]
        fn lengths_beyond_buffers_are_clamped(len in any::<u32>()) {
            let mut b = header(K_FILE, FILE_PATH2 + FPATH);
            b[104..108].copy_from_slice(&len.to_ne_bytes());
            let rec = decode(&b).unwrap();
            let Body::File(f) = rec.body else { panic!("not file") };
            prop_assert!(f.path.len() <= FPATH);
        }
    }
}
