//! Loads bpf/respond.bpf.o with aya, attaches the network hooks to a cgroup
//! and the exec hook to sched_process_exec, and writes the maps. Layouts of
//! the #[repr(C)] types below mirror the C structs; change both together.

use std::collections::HashMap as StdHashMap;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use aya::maps::{Array, HashMap, MapData, PerCpuArray, RingBuf};
use aya::programs::{CgroupAttachMode, Program, ProgramError};
use aya::{Btf, Ebpf, EbpfLoader, Pod};

use crate::predicate::{Predicate, MAX_NEEDLE_LEN, MAX_PREDICATES};
use crate::target::Destination;
use crate::RespondError;

#[repr(C, align(8))]
struct Aligned<B: ?Sized> {
    bytes: B,
}

static OBJECT: &Aligned<[u8]> = &Aligned {
    bytes: *include_bytes!(concat!(env!("OUT_DIR"), "/respond.bpf.o")),
};

/// The compiled BPF object this build carries.
pub fn object_bytes() -> &'static [u8] {
    &OBJECT.bytes
}

pub const KEY_LEN: usize = 256;
pub const DENY_ISOLATION: u32 = 0;
pub const DENY_BLOCK: u32 = 1;
/// Most blocked destinations (the kernel map's size).
pub const MAX_BLOCKS: usize = 1024;
/// Most always-allowed destinations.
pub const MAX_ALLOW: usize = 64;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddrKey {
    pub addr: [u8; 16],
    pub port: u16,
    pub pad: u16,
}
// SAFETY: plain integers, no padding beyond the explicit field.
unsafe impl Pod for AddrKey {}

impl AddrKey {
    pub fn of(dest: &Destination) -> AddrKey {
        AddrKey {
            addr: dest.ip_v6().octets(),
            port: dest.port.unwrap_or(0),
            pad: 0,
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Settings {
    isolated: u32,
    /// Entries in the `blocked` map: the hooks skip it when 0.
    blocks: u32,
}
// SAFETY: plain integers.
unsafe impl Pod for Settings {}

#[repr(C)]
#[derive(Clone, Copy)]
struct EnforceState {
    active: u64,
    has_exe: u64,
    has_name: u64,
    generation: u32,
    pad: u32,
    pred_needles: [u32; MAX_PREDICATES],
}
// SAFETY: plain integers, no implicit padding (8+8+8+4+4+4*64).
unsafe impl Pod for EnforceState {}

#[repr(C)]
#[derive(Clone, Copy)]
struct Needle {
    len: u32,
    bytes: [u8; MAX_NEEDLE_LEN],
}
// SAFETY: plain integers, no implicit padding (4+64).
unsafe impl Pod for Needle {}

#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct InodeKey {
    dev: u64,
    ino: u64,
}
// SAFETY: plain integers.
unsafe impl Pod for InodeKey {}

/// A kill done by the exec hook, as the ring buffer carries it.
#[derive(Debug, Clone)]
pub struct KillRecord {
    pub pid: u32,
    pub rule: u32,
    pub generation: u32,
    pub start_boottime_ns: u64,
    pub filename: String,
}

impl KillRecord {
    /// Decodes `struct kill_rec`; None when the record is short.
    pub fn parse(b: &[u8]) -> Option<KillRecord> {
        let u32_at = |o: usize| Some(u32::from_ne_bytes(b.get(o..o + 4)?.try_into().ok()?));
        let name = b.get(24..24 + KEY_LEN)?;
        let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
        Some(KillRecord {
            pid: u32_at(0)?,
            rule: u32_at(4)?,
            generation: u32_at(8)?,
            start_boottime_ns: u64::from_ne_bytes(b.get(16..24)?.try_into().ok()?),
            filename: String::from_utf8_lossy(&name[..end]).into_owned(),
        })
    }
}

/// The loaded programs and their maps. Dropping it detaches everything.
pub struct Kernel {
    ebpf: Ebpf,
    /// needle_pairs entries the current set filled (zeroed on replacement).
    pairs_set: Vec<u32>,
    /// What the `settings` map holds: isolation on, entries in `blocked`.
    isolated: bool,
    blocks: u32,
}

fn map_err(map: &str) -> impl Fn(aya::maps::MapError) -> RespondError + '_ {
    move |e| RespondError::Map(map.to_string(), e.to_string())
}

fn key_of(text: &str) -> [u8; KEY_LEN] {
    let mut k = [0u8; KEY_LEN];
    let b = text.as_bytes();
    let n = b.len().min(KEY_LEN - 1);
    k[..n].copy_from_slice(&b[..n]);
    k
}

/// The verifier gives up with EAGAIN when a signal (e.g. SIGCHLD) arrives
/// while it runs; a few retries get through.
fn retry_interrupted(mut load: impl FnMut() -> Result<(), ProgramError>) -> Result<(), ProgramError> {
    let mut tries = 0;
    loop {
        match load() {
            Err(ProgramError::LoadError { io_error, .. })
                if io_error.raw_os_error() == Some(libc::EAGAIN) && tries < 5 =>
            {
                tries += 1;
            }
            other => return other,
        }
    }
}

/// A load error with the end of the verifier log (which ends with the reason).
fn load_error(e: ProgramError) -> String {
    match e {
        ProgramError::LoadError { io_error, verifier_log } => {
            format!("load: {io_error}; verifier: {}", tail(&format!("{verifier_log:?}")))
        }
        other => format!("load: {other}"),
    }
}

/// The end of a long text.
fn tail(text: &str) -> String {
    const KEEP: usize = 1500;
    match text.char_indices().nth_back(KEEP) {
        Some((i, _)) => format!("...{}", &text[i..]),
        None => text.to_string(),
    }
}

/// The kernel's internal encoding of a device number (MKDEV: major << 20 |
/// minor), from the userspace st_dev encoding.
fn kernel_dev(st_dev: u64) -> u64 {
    let major = ((st_dev >> 32) & 0xffff_f000) | ((st_dev >> 8) & 0xfff);
    let minor = ((st_dev >> 12) & 0xffff_ff00) | (st_dev & 0xff);
    (major << 20) | minor
}

impl Kernel {
    /// Loads the object, attaches the network hooks to `cgroup` and the exec
    /// hook, and fills the protected names and the always-allowed list.
    pub fn load(
        self_tgid: u32,
        cgroup: &Path,
        protected_names: &[String],
        always_allow: &[Destination],
    ) -> Result<(Kernel, RingBuf<MapData>), RespondError> {
        let ebpf = EbpfLoader::new()
            .override_global("self_tgid", &self_tgid, true)
            .load(object_bytes())
            .map_err(|e| RespondError::Load(e.to_string()))?;
        let mut kernel = Kernel {
            ebpf,
            pairs_set: Vec::new(),
            isolated: false,
            blocks: 0,
        };
        for name in protected_names {
            if name.is_empty() || name.len() >= KEY_LEN {
                return Err(RespondError::Config(format!(
                    "protected name {name:?} must be 1 to 255 bytes"
                )));
            }
            kernel
                .hash::<[u8; KEY_LEN], u8>("protected_names")?
                .insert(key_of(name), 1, 0)
                .map_err(map_err("protected_names"))?;
        }
        if always_allow.len() > MAX_ALLOW {
            return Err(RespondError::Config(format!(
                "{} always-allowed destinations; at most {MAX_ALLOW}",
                always_allow.len()
            )));
        }
        for dest in always_allow {
            kernel
                .hash::<AddrKey, u8>("allow")?
                .insert(AddrKey::of(dest), 1, 0)
                .map_err(map_err("allow"))?;
        }

        let cgroup_dir =
            File::open(cgroup).map_err(|e| RespondError::Io(format!("opening {}", cgroup.display()), e))?;
        let btf = Btf::from_sys_fs().map_err(|e| RespondError::Load(format!("reading kernel BTF: {e}")))?;
        for (name, prog) in kernel.ebpf.programs_mut() {
            let attach = |e: String| RespondError::Attach(name.to_string(), e);
            match prog {
                Program::CgroupSockAddr(p) => {
                    retry_interrupted(|| p.load()).map_err(|e| attach(load_error(e)))?;
                    p.attach(&cgroup_dir, CgroupAttachMode::Single)
                        .map_err(|e| attach(format!("attach to {}: {e:?}", cgroup.display())))?;
                }
                Program::BtfTracePoint(p) => {
                    retry_interrupted(|| p.load("sched_process_exec", &btf)).map_err(|e| attach(load_error(e)))?;
                    p.attach().map_err(|e| attach(format!("attach: {e:?}")))?;
                }
                _ => return Err(RespondError::Load(format!("unexpected program type for {name}"))),
            }
        }
        let ring = RingBuf::try_from(
            kernel
                .ebpf
                .take_map("kills")
                .ok_or_else(|| RespondError::Load("map kills missing from the BPF object".into()))?,
        )
        .map_err(map_err("kills"))?;
        Ok((kernel, ring))
    }

    fn hash<K: Pod, V: Pod>(&mut self, name: &str) -> Result<HashMap<&mut MapData, K, V>, RespondError> {
        let map = self
            .ebpf
            .map_mut(name)
            .ok_or_else(|| RespondError::Load(format!("map {name} missing from the BPF object")))?;
        HashMap::try_from(map).map_err(map_err(name))
    }

    fn array<V: Pod>(&mut self, name: &str) -> Result<Array<&mut MapData, V>, RespondError> {
        let map = self
            .ebpf
            .map_mut(name)
            .ok_or_else(|| RespondError::Load(format!("map {name} missing from the BPF object")))?;
        Array::try_from(map).map_err(map_err(name))
    }

    /// Turns isolation on or off.
    pub fn set_isolated(&mut self, on: bool) -> Result<(), RespondError> {
        self.write_settings(on, self.blocks)?;
        self.isolated = on;
        Ok(())
    }

    fn write_settings(&mut self, isolated: bool, blocks: u32) -> Result<(), RespondError> {
        let value = Settings {
            isolated: isolated as u32,
            blocks,
        };
        self.array::<Settings>("settings")?
            .set(0, value, 0)
            .map_err(map_err("settings"))
    }

    /// Connects/sends denied so far, by reason (DENY_ISOLATION, DENY_BLOCK).
    pub fn denied(&self, kind: u32) -> u64 {
        let Some(map) = self.ebpf.map("denied") else {
            return 0;
        };
        let Ok(counts) = PerCpuArray::<&MapData, u64>::try_from(map) else {
            return 0;
        };
        counts.get(&kind, 0).map(|v| v.iter().sum()).unwrap_or(0)
    }

    /// Kill reports the ring buffer could not take (the kills happened).
    pub fn kill_report_drops(&self) -> u64 {
        let Some(map) = self.ebpf.map("kill_report_drops") else {
            return 0;
        };
        let Ok(counts) = PerCpuArray::<&MapData, u64>::try_from(map) else {
            return 0;
        };
        counts.get(&0, 0).map(|v| v.iter().sum()).unwrap_or(0)
    }

    /// Blocks a destination. The block count in `settings` is raised
    /// first, so the hooks look the new entry up as soon as it exists.
    pub fn block(&mut self, dest: &Destination) -> Result<(), RespondError> {
        let key = AddrKey::of(dest);
        if self.hash::<AddrKey, u64>("blocked")?.get(&key, 0).is_ok() {
            return Ok(());
        }
        self.write_settings(self.isolated, self.blocks + 1)?;
        if let Err(e) = self.hash::<AddrKey, u64>("blocked")?.insert(key, 0, 0) {
            let _ = self.write_settings(self.isolated, self.blocks);
            return Err(map_err("blocked")(e));
        }
        self.blocks += 1;
        Ok(())
    }

    /// Removes a block; how many attempts it denied. The block count in
    /// `settings` is lowered after the entry is gone.
    pub fn unblock(&mut self, dest: &Destination) -> Result<u64, RespondError> {
        let mut map = self.hash::<AddrKey, u64>("blocked")?;
        let key = AddrKey::of(dest);
        let hits = map.get(&key, 0).unwrap_or(0);
        match map.remove(&key) {
            Ok(()) => {
                let blocks = self.blocks.saturating_sub(1);
                self.write_settings(self.isolated, blocks)?;
                self.blocks = blocks;
                Ok(hits)
            }
            Err(aya::maps::MapError::KeyNotFound) => Ok(hits),
            Err(e) => Err(map_err("blocked")(e)),
        }
    }

    /// Replaces the enforced predicate set. Enforcement is off while the maps
    /// are rewritten (a few map updates), then the new set is switched on.
    pub fn set_enforce(&mut self, set: &[Predicate], generation: u32) -> Result<(), RespondError> {
        let mut state = EnforceState {
            active: 0,
            has_exe: 0,
            has_name: 0,
            generation,
            pad: 0,
            pred_needles: [0; MAX_PREDICATES],
        };
        self.array::<EnforceState>("enforce")?
            .set(0, state, 0)
            .map_err(map_err("enforce"))?;
        self.clear::<[u8; KEY_LEN]>("exe_paths")?;
        self.clear::<[u8; KEY_LEN]>("names")?;
        self.clear::<InodeKey>("exe_inodes")?;

        let mut exe_paths: StdHashMap<[u8; KEY_LEN], u64> = StdHashMap::new();
        let mut names: StdHashMap<[u8; KEY_LEN], u64> = StdHashMap::new();
        let mut inodes: StdHashMap<InodeKey, u64> = StdHashMap::new();
        let mut needles: Vec<&str> = Vec::new();
        for (i, p) in set.iter().enumerate() {
            let bit = 1u64 << i;
            state.active |= bit;
            if let Some(exe) = &p.executable {
                state.has_exe |= bit;
                *exe_paths.entry(key_of(exe)).or_default() |= bit;
                if let Ok(meta) = std::fs::metadata(exe) {
                    let key = InodeKey {
                        dev: kernel_dev(meta.dev()),
                        ino: meta.ino(),
                    };
                    *inodes.entry(key).or_default() |= bit;
                }
            }
            if let Some(name) = &p.name {
                state.has_name |= bit;
                *names.entry(key_of(name)).or_default() |= bit;
            }
            for n in &p.argv_contains {
                let j = match needles.iter().position(|x| x == n) {
                    Some(j) => j,
                    None => {
                        needles.push(n);
                        needles.len() - 1
                    }
                };
                state.pred_needles[i] |= 1 << j;
            }
        }
        for (k, v) in exe_paths {
            self.hash::<[u8; KEY_LEN], u64>("exe_paths")?
                .insert(k, v, 0)
                .map_err(map_err("exe_paths"))?;
        }
        for (k, v) in names {
            self.hash::<[u8; KEY_LEN], u64>("names")?
                .insert(k, v, 0)
                .map_err(map_err("names"))?;
        }
        for (k, v) in inodes {
            self.hash::<InodeKey, u64>("exe_inodes")?
                .insert(k, v, 0)
                .map_err(map_err("exe_inodes"))?;
        }
        for pair in std::mem::take(&mut self.pairs_set) {
            self.array::<u32>("needle_pairs")?
                .set(pair, 0, 0)
                .map_err(map_err("needle_pairs"))?;
        }
        let mut pairs: StdHashMap<u32, u32> = StdHashMap::new();
        for (j, n) in needles.iter().enumerate() {
            let b = n.as_bytes();
            *pairs.entry(((b[0] as u32) << 8) | b[1] as u32).or_default() |= 1 << j;
        }
        for (&pair, &bits) in &pairs {
            self.array::<u32>("needle_pairs")?
                .set(pair, bits, 0)
                .map_err(map_err("needle_pairs"))?;
            self.pairs_set.push(pair);
        }
        for (j, n) in needles.iter().enumerate() {
            let mut needle = Needle {
                len: n.len() as u32,
                bytes: [0; MAX_NEEDLE_LEN],
            };
            needle.bytes[..n.len()].copy_from_slice(n.as_bytes());
            self.array::<Needle>("needles")?
                .set(j as u32, needle, 0)
                .map_err(map_err("needles"))?;
        }
        self.array::<EnforceState>("enforce")?
            .set(0, state, 0)
            .map_err(map_err("enforce"))
    }

    fn clear<K: Pod>(&mut self, name: &str) -> Result<(), RespondError> {
        let mut map = self.hash::<K, u64>(name)?;
        let keys: Vec<K> = map.keys().filter_map(Result::ok).collect();
        for k in keys {
            match map.remove(&k) {
                Ok(()) | Err(aya::maps::MapError::KeyNotFound) => {}
                Err(e) => return Err(map_err(name)(e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed object must match what build.rs compiled (it is what a
    /// machine without clang runs).
    #[test]
    fn committed_object_is_current() {
        let committed = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/bpf/respond.bpf.o")).unwrap();
        assert!(
            committed == object_bytes(),
            "bpf/respond.bpf.o is stale: run `clang -g -O2 -target bpf -D__TARGET_ARCH_x86 \
             -fdebug-prefix-map=$(dirname $PWD)=. -I../weir-sensor/bpf -c bpf/respond.bpf.c -o bpf/respond.bpf.o \
             && llvm-strip -g bpf/respond.bpf.o` in crates/weir-respond"
        );
    }

    /// glibc's makedev: the st_dev encoding userspace sees.
    fn glibc_makedev(major: u64, minor: u64) -> u64 {
        ((major & 0xfff) << 8) | ((major & !0xfff) << 32) | (minor & 0xff) | ((minor & !0xff) << 12)
    }

    #[test]
    fn kernel_dev_matches_mkdev() {
        assert_eq!(glibc_makedev(8, 1), 0x801);
        for (major, minor) in [(8u64, 1u64), (259, 65536), (0, 0), (4095, 1_048_575)] {
            assert_eq!(kernel_dev(glibc_makedev(major, minor)), (major << 20) | minor);
        }
        // This machine's root filesystem, as stat sees it, in the kernel's encoding.
        let root = std::fs::metadata("/").unwrap().dev();
        let (major, minor) = ((root >> 8) & 0xfff, (root & 0xff) | ((root >> 12) & 0xfff00));
        assert_eq!(kernel_dev(root), (major << 20) | minor);
    }

    #[test]
    fn parses_kill_records() {
        let mut rec = vec![0u8; 24 + KEY_LEN];
        rec[0..4].copy_from_slice(&42u32.to_ne_bytes());
        rec[4..8].copy_from_slice(&3u32.to_ne_bytes());
        rec[8..12].copy_from_slice(&7u32.to_ne_bytes());
        rec[16..24].copy_from_slice(&99u64.to_ne_bytes());
        rec[24..28].copy_from_slice(b"/x/y");
        let k = KillRecord::parse(&rec).unwrap();
        assert_eq!((k.pid, k.rule, k.generation, k.start_boottime_ns), (42, 3, 7, 99));
        assert_eq!(k.filename, "/x/y");
        assert!(KillRecord::parse(&rec[..100]).is_none());
    }

    proptest::proptest! {
        #[test]
        fn kill_record_parser_never_panics(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let parsed = KillRecord::parse(&b);
            proptest::prop_assert_eq!(parsed.is_some(), b.len() >= 24 + KEY_LEN);
        }
    }
}
