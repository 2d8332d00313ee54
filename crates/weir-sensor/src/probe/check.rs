//! Kernel feature probe: which BPF hooks and facilities this kernel lets the
//! sensor use. Each item is tried for real where that is cheap (a two-
//! instruction program loaded and attached, a ring buffer map created) and
//! read from the system otherwise. `weir sensor --check` prints the table.

use std::fmt;
use std::path::Path;

use aya::Btf;
use aya_obj::btf::BtfKind;

use crate::config::SensorConfig;
use crate::probe::loader;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feature {
    pub name: &'static str,
    pub usable: bool,
    pub detail: String,
}

/// What the kernel supports, in the sensor's order of preference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelSupport {
    pub kernel: String,
    pub features: Vec<Feature>,
}

impl KernelSupport {
    pub fn usable(&self, name: &str) -> bool {
        self.features.iter().any(|f| f.name == name && f.usable)
    }
}

impl fmt::Display for KernelSupport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "kernel {}", self.kernel)?;
        writeln!(f, "{:<14} {:<6} detail", "feature", "usable")?;
        for x in &self.features {
            writeln!(
                f,
                "{:<14} {:<6} {}",
                x.name,
                if x.usable { "yes" } else { "no" },
                x.detail
            )?;
        }
        Ok(())
    }
}

fn feature(name: &'static str, r: Result<String, String>) -> Feature {
    match r {
        Ok(detail) => Feature {
            name,
            usable: true,
            detail,
        },
        Err(detail) => Feature {
            name,
            usable: false,
            detail,
        },
    }
}

/// Probes the kernel. Needs root (CAP_BPF/CAP_PERFMON) for the BPF items.
pub fn check() -> KernelSupport {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let btf = Btf::from_sys_fs();
    let func_id = |name: &str| -> Result<u32, String> {
        let btf = btf.as_ref().map_err(|e| format!("no kernel BTF: {e}"))?;
        btf.id_by_type_name_kind(name, BtfKind::Func)
            .map_err(|e| format!("{name} not in kernel BTF: {e}"))
    };
    let sensor = {
        let mut c = SensorConfig::new("check");
        c.ring_bytes = 4096;
        c.watch_prefixes = vec!["/nonexistent-weir-check/".into()];
        loader::load(&c, std::process::id()).map(|l| l.attached.len())
    };
    loader::ensure_tracefs();
    let features = vec![
        feature(
            "tracepoint",
            if loader::tracepoint_exists("syscalls", "sys_enter_openat") {
                match &sensor {
                    Ok(n) => Ok(format!("syscalls/sched tracepoints attach ({n} sensor programs)")),
                    Err(e) => Err(format!("present but the sensor failed: {e}")),
                }
            } else {
                Err("no syscalls tracepoints in tracefs".into())
            },
        ),
        feature("raw_tp", raw_tp()),
        feature(
            "tp_btf",
            match &sensor {
                Ok(_) => Ok("sched_process_exec/fork/exit attached".into()),
                Err(e) => Err(e.to_string()),
            },
        ),
        feature(
            "fentry",
            func_id("vfs_read").and_then(|id| tracing_prog(26, 24, id, "fentry")),
        ),
        feature(
            "bpf_lsm",
            lsm_listed()
                .and_then(|_| func_id("bpf_lsm_file_open"))
                .and_then(|id| tracing_prog(29, 27, id, "lsm")),
        ),
        feature("kprobe", kprobe()),
        feature("ringbuf", ringbuf()),
        feature(
            "modules",
            if Path::new("/proc/modules").exists() {
                Ok("loadable modules supported: init_module/finit_module are watched".into())
            } else {
                Err("kernel built without loadable modules: nothing to watch".into())
            },
        ),
    ];
    KernelSupport { kernel, features }
}

fn bpf(cmd: i64, attr: &mut [u8; 128]) -> Result<i32, String> {
    // SAFETY: the attr buffer is 128 bytes, as passed; the kernel reads only that.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len() as u32) };
    if r < 0 {
        Err(std::io::Error::last_os_error().to_string())
    } else {
        Ok(r as i32)
    }
}

fn close(fd: i32) {
    // SAFETY: closing an fd this module opened.
    unsafe { libc::close(fd) };
}

const BPF_MAP_CREATE: i64 = 0;
const BPF_PROG_LOAD: i64 = 5;
const BPF_RAW_TRACEPOINT_OPEN: i64 = 17;

/// Loads "r0 = 0; exit" as `prog_type`, returns its fd.
fn load_prog(prog_type: u32, attach_type: u32, attach_btf_id: u32) -> Result<i32, String> {
    let insns: [u64; 2] = [0x0000_0000_0000_00b7, 0x0000_0000_0000_0095];
    let license = b"GPL\0";
    let mut a = [0u8; 128];
    a[0..4].copy_from_slice(&prog_type.to_ne_bytes());
    a[4..8].copy_from_slice(&2u32.to_ne_bytes());
    a[8..16].copy_from_slice(&(insns.as_ptr() as u64).to_ne_bytes());
    a[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    a[68..72].copy_from_slice(&attach_type.to_ne_bytes());
    a[108..112].copy_from_slice(&attach_btf_id.to_ne_bytes());
    bpf(BPF_PROG_LOAD, &mut a).map_err(|e| format!("program load refused: {e}"))
}

fn raw_tp_open(name: Option<&[u8]>, prog_fd: i32) -> Result<i32, String> {
    let mut a = [0u8; 128];
    if let Some(n) = name {
        a[0..8].copy_from_slice(&(n.as_ptr() as u64).to_ne_bytes());
    }
    a[8..12].copy_from_slice(&(prog_fd as u32).to_ne_bytes());
    bpf(BPF_RAW_TRACEPOINT_OPEN, &mut a).map_err(|e| format!("attach refused: {e}"))
}

fn raw_tp() -> Result<String, String> {
    let fd = load_prog(17, 0, 0)?;
    let r = raw_tp_open(Some(b"sched_process_exec\0"), fd);
    close(fd);
    close(r?);
    Ok("raw_tracepoint/sched_process_exec attaches".into())
}

fn tracing_prog(prog_type: u32, attach_type: u32, btf_id: u32, what: &str) -> Result<String, String> {
    let fd = load_prog(prog_type, attach_type, btf_id)?;
    let r = raw_tp_open(None, fd);
    close(fd);
    close(r?);
    Ok(format!("{what} program loads and attaches"))
}

fn lsm_listed() -> Result<(), String> {
    let lsm =
        std::fs::read_to_string("/sys/kernel/security/lsm").map_err(|e| format!("/sys/kernel/security/lsm: {e}"))?;
    if lsm.split(',').any(|l| l.trim() == "bpf") {
        Ok(())
    } else {
        Err(format!("\"bpf\" not among active LSMs ({})", lsm.trim()))
    }
}

fn kprobe() -> Result<String, String> {
    if !Path::new("/sys/bus/event_source/devices/kprobe/type").exists()
        && !Path::new("/sys/kernel/tracing/kprobe_events").exists()
    {
        return Err("kernel has no kprobe PMU or kprobe_events".into());
    }
    let fd = load_prog(2, 0, 0)?;
    close(fd);
    Ok("kprobe programs load and the kprobe PMU exists".into())
}

fn ringbuf() -> Result<String, String> {
    let mut a = [0u8; 128];
    a[0..4].copy_from_slice(&27u32.to_ne_bytes()); // BPF_MAP_TYPE_RINGBUF
    a[12..16].copy_from_slice(&4096u32.to_ne_bytes());
    let fd = bpf(BPF_MAP_CREATE, &mut a)?;
    close(fd);
    Ok("BPF ring buffer maps can be created".into())
}
