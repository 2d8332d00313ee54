//! Loads the BPF object with aya, fills its configuration (own tgid, wake
//! threshold, watched prefixes), attaches every program and hands back the
//! ring buffer and the kernel drop counters.

use std::path::Path;

use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Array, HashMap, MapData, PerCpuArray, RingBuf};
use aya::programs::{BtfTracePoint, Program, TracePoint};
use aya::{Btf, Ebpf, EbpfLoader};

use crate::config::{SensorConfig, MAX_PREFIXES, MAX_PREFIX_LEN};
use crate::SensorError;

#[repr(C, align(8))]
struct Aligned<B: ?Sized> {
    bytes: B,
}

static OBJECT: &Aligned<[u8]> = &Aligned {
    bytes: *include_bytes!(concat!(env!("OUT_DIR"), "/sensor.bpf.o")),
};

/// The compiled BPF object this build carries.
pub fn object_bytes() -> &'static [u8] {
    &OBJECT.bytes
}

const TRACEFS: &[&str] = &["/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"];

/// Mounts tracefs at /sys/kernel/tracing when no tracefs is mounted (tracepoint
/// attachment needs it to look up tracepoint ids). Harmless when it is.
pub fn ensure_tracefs() {
    if TRACEFS.iter().any(|root| Path::new(root).exists()) {
        return;
    }
    let (src, target, fstype) = (c"tracefs", c"/sys/kernel/tracing", c"tracefs");
    // SAFETY: all pointers are NUL-terminated constants; no data argument.
    let r = unsafe { libc::mount(src.as_ptr(), target.as_ptr(), fstype.as_ptr(), 0, std::ptr::null()) };
    if r != 0 {
        tracing::warn!(
            "mounting tracefs on /sys/kernel/tracing: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// True when the tracepoint `category/name` exists on this kernel.
pub fn tracepoint_exists(category: &str, name: &str) -> bool {
    TRACEFS
        .iter()
        .any(|root| Path::new(root).join(category).join(name).exists())
}

pub struct Loaded {
    /// Keeps programs and links alive; dropping it detaches everything.
    pub ebpf: Ebpf,
    pub ring: RingBuf<MapData>,
    pub drops: PerCpuArray<MapData, u64>,
    /// Kernel aggregation of repeated file operations: key bytes as in
    /// `crate::repeats::AggKey::to_bytes`, value [window start (boot ns), total].
    pub file_agg: HashMap<MapData, [u8; 24], [u64; 2]>,
    /// Per-CPU file counters, indexed by the `FS_*` constants.
    pub file_stats: PerCpuArray<MapData, u64>,
    pub attached: Vec<String>,
    /// Programs not attached because the kernel lacks their hook, with why.
    pub skipped: Vec<(String, String)>,
}

/// Loads and attaches the sensor's programs.
pub fn load(config: &SensorConfig, self_tgid: u32) -> Result<Loaded, SensorError> {
    let ring = config.ring_size();
    let wake: u64 = (ring / 4) as u64;
    if config.file_repeat_window > std::time::Duration::from_secs(60) {
        return Err(SensorError::Config(format!(
            "file_repeat_window {:?} is longer than 60 s",
            config.file_repeat_window
        )));
    }
    let agg_window: u64 = config.file_repeat_window.as_nanos() as u64;
    let resolve_opens: u32 = config.resolve_opened_files.into();
    let mut ebpf = EbpfLoader::new()
        .override_global("self_tgid", &self_tgid, true)
        .override_global("wake_bytes", &wake, true)
        .override_global("agg_window_ns", &agg_window, true)
        .override_global("resolve_opens", &resolve_opens, true)
        // Task storage (file_pending) is created by the kernel from the
        // object; aya only lacks a typed wrapper for it.
        .allow_unsupported_maps()
        .map_max_entries("events", ring)
        .load(object_bytes())
        .map_err(|e| SensorError::Load(e.to_string()))?;

    set_prefixes(&mut ebpf, &config.watch_prefixes)?;
    ensure_tracefs();

    let btf = Btf::from_sys_fs().map_err(|e| SensorError::Load(format!("reading kernel BTF: {e}")))?;
    let mut attached = Vec::new();
    let mut skipped = Vec::new();
    for (name, prog) in ebpf.programs_mut() {
        let name = name.to_string();
        match prog {
            Program::BtfTracePoint(p) => {
                let tp = btf_tracepoint_of(&name)
                    .ok_or_else(|| SensorError::Load(format!("unexpected BTF program {name}")))?;
                attach_btf(p, tp, &btf).map_err(|e| SensorError::Attach(name.clone(), e))?;
                attached.push(name);
            }
            Program::TracePoint(p) => {
                if !tracepoint_exists("syscalls", &name)
                    && !name.ends_with("init_module")
                    && !name.ends_with("_fchmodat2")
                {
                    return Err(SensorError::Attach(
                        name.clone(),
                        "tracepoint not found (is tracefs mounted?)".into(),
                    ));
                }
                if !tracepoint_exists("syscalls", &name) {
                    skipped.push((name.clone(), "no such tracepoint on this kernel".to_string()));
                    continue;
                }
                attach_tp(p, &name).map_err(|e| SensorError::Attach(name.clone(), e))?;
                attached.push(name);
            }
            _ => return Err(SensorError::Load(format!("unexpected program type for {name}"))),
        }
    }
    let ring = RingBuf::try_from(ebpf.take_map("events").ok_or_else(|| missing("events"))?)
        .map_err(|e| SensorError::Load(format!("ring buffer: {e}")))?;
    let drops = PerCpuArray::try_from(ebpf.take_map("drops").ok_or_else(|| missing("drops"))?)
        .map_err(|e| SensorError::Load(format!("drop counters: {e}")))?;
    let file_agg = HashMap::try_from(ebpf.take_map("file_agg").ok_or_else(|| missing("file_agg"))?)
        .map_err(|e| SensorError::Load(format!("file aggregation map: {e}")))?;
    let file_stats = PerCpuArray::try_from(ebpf.take_map("file_stats").ok_or_else(|| missing("file_stats"))?)
        .map_err(|e| SensorError::Load(format!("file counters: {e}")))?;
    Ok(Loaded {
        ebpf,
        ring,
        drops,
        file_agg,
        file_stats,
        attached,
        skipped,
    })
}

/// The scheduler tracepoint a BTF-typed program of the object attaches to
/// (syscall programs are named after their tracepoint).
pub fn btf_tracepoint_of(program: &str) -> Option<&'static str> {
    match program {
        "on_exec" => Some("sched_process_exec"),
        "on_fork" => Some("sched_process_fork"),
        "on_exit" => Some("sched_process_exit"),
        _ => None,
    }
}

fn missing(map: &str) -> SensorError {
    SensorError::Load(format!("map {map} missing from the BPF object"))
}

fn attach_btf(p: &mut BtfTracePoint, tp: &str, btf: &Btf) -> Result<(), String> {
    p.load(tp, btf).map_err(|e| format!("load: {e:?}"))?;
    p.attach().map_err(|e| format!("attach: {e:?}"))?;
    Ok(())
}

fn attach_tp(p: &mut TracePoint, name: &str) -> Result<(), String> {
    p.load().map_err(|e| format!("load: {e:?}"))?;
    p.attach("syscalls", name).map_err(|e| format!("attach: {e:?}"))?;
    Ok(())
}

/// Checks and writes the watched prefixes into the kernel's LPM trie.
fn set_prefixes(ebpf: &mut Ebpf, prefixes: &[String]) -> Result<(), SensorError> {
    if prefixes.len() > MAX_PREFIXES {
        return Err(SensorError::Config(format!(
            "{} watch prefixes; at most {MAX_PREFIXES}",
            prefixes.len()
        )));
    }
    let mut trie: LpmTrie<&mut MapData, [u8; 256], u8> =
        LpmTrie::try_from(ebpf.map_mut("watched").ok_or_else(|| missing("watched"))?)
            .map_err(|e| SensorError::Load(format!("watched map: {e}")))?;
    for p in prefixes {
        let b = p.as_bytes();
        if !p.starts_with('/') || b.is_empty() || b.len() > MAX_PREFIX_LEN || b.contains(&0) {
            return Err(SensorError::Config(format!(
                "watch prefix {p:?} must be an absolute path of at most {MAX_PREFIX_LEN} bytes"
            )));
        }
        let mut data = [0u8; 256];
        data[..b.len()].copy_from_slice(b);
        trie.insert(&Key::new((b.len() * 8) as u32, data), 1, 0)
            .map_err(|e| SensorError::Load(format!("adding watch prefix {p:?}: {e}")))?;
    }
    let mut first2: Array<&mut MapData, [u64; 1024]> =
        Array::try_from(ebpf.map_mut("first2").ok_or_else(|| missing("first2"))?)
            .map_err(|e| SensorError::Load(format!("first2 map: {e}")))?;
    first2
        .set(0, first_two_bytes(prefixes), 0)
        .map_err(|e| SensorError::Load(format!("filling first2: {e}")))?;
    Ok(())
}

/// The kernel's pre-filter bitmap: bit (b1 << 8 | b2) is set when a path
/// whose bytes 1 and 2 are b1, b2 may fall under one of `prefixes`.
pub fn first_two_bytes(prefixes: &[String]) -> [u64; 1024] {
    let mut bits = [0u64; 1024];
    let mut set = |idx: usize| bits[idx >> 6] |= 1 << (idx & 63);
    for p in prefixes {
        let b = p.as_bytes();
        match b.len() {
            0 | 1 => (0..65536).for_each(&mut set),
            2 => (0..256).for_each(|x| set((b[1] as usize) << 8 | x)),
            _ => set((b[1] as usize) << 8 | b[2] as usize),
        }
    }
    bits
}

/// Sum over CPUs of the kernel's ring drop counter of each record kind.
pub fn kernel_drops(drops: &PerCpuArray<MapData, u64>) -> [u64; crate::probe::record::K_MAX as usize] {
    let mut out = [0u64; crate::probe::record::K_MAX as usize];
    for (i, slot) in out.iter_mut().enumerate() {
        if let Ok(v) = drops.get(&(i as u32), 0) {
            *slot = v.iter().sum();
        }
    }
    out
}

/// Index of the kernel's file counters (`FS_*` in bpf/sensor.bpf.c).
pub const FS_FOLDED: u32 = 0;
pub const FS_UNRESOLVED: u32 = 1;
pub const FS_STALE: u32 = 2;

/// Sum over CPUs of one of the kernel's file counters.
pub fn file_stat(stats: &PerCpuArray<MapData, u64>, which: u32) -> u64 {
    stats.get(&which, 0).map(|v| v.iter().sum()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(bits: &[u64; 1024], path: &str) -> bool {
        let b = path.as_bytes();
        let idx = (*b.get(1).unwrap_or(&0) as usize) << 8 | *b.get(2).unwrap_or(&0) as usize;
        bits[idx >> 6] >> (idx & 63) & 1 == 1
    }

    /// The committed object must match what build.rs compiled (it is what a
    /// machine without clang runs). Rebuild it with the command in README.
    #[test]
    fn committed_object_is_current() {
        let committed = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/bpf/sensor.bpf.o")).unwrap();
        assert!(
            committed == object_bytes(),
            "bpf/sensor.bpf.o is stale: run `clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -fdebug-prefix-map=$PWD=. \
             -I$PWD/bpf -c $PWD/bpf/sensor.bpf.c -o bpf/sensor.bpf.o && llvm-strip -g bpf/sensor.bpf.o` in crates/weir-sensor"
        );
    }

    #[test]
    fn prefilter_passes_every_watched_path() {
        let bits = first_two_bytes(&["/etc/".into(), "/lib".into(), "/x".into()]);
        assert!(hit(&bits, "/etc/passwd"));
        assert!(hit(&bits, "/lib64/ld.so"));
        assert!(hit(&bits, "/xy/z"));
        assert!(hit(&bits, "/x"));
        assert!(!hit(&bits, "/tmp/a"));
        assert!(!hit(&bits, "/e"));
        let all = first_two_bytes(&["/".into()]);
        assert!(hit(&all, "/tmp/a"));
    }
}
