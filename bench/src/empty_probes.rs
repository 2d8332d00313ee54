//! The cost floor of the sensor's attach points: a program that does nothing
//! (`r0 = 0; exit`) attached to every tracepoint the sensor's object attaches
//! to. A workload run under these shows what the hooks alone cost on this
//! kernel, before any of the sensor's own work, so a benchmark can tell the
//! sensor's code apart from the price of the kernel's tracing machinery.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use aya_obj::{Object, ProgramSection};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_RAW_TRACEPOINT_OPEN: libc::c_long = 17;
const BPF_PROG_TYPE_TRACEPOINT: u32 = 5;
const BPF_PROG_TYPE_RAW_TRACEPOINT: u32 = 17;
const PERF_TYPE_TRACEPOINT: u32 = 2;
const PERF_EVENT_IOC_ENABLE: libc::c_ulong = 0x2400;
const PERF_EVENT_IOC_SET_BPF: libc::c_ulong = 0x4004_2408;

/// `r0 = 0; exit`: the smallest program the verifier accepts.
const EMPTY: [u64; 2] = [0x0000_0000_0000_00b7, 0x0000_0000_0000_0095];

/// Empty programs attached while this lives; dropping it detaches them.
pub struct EmptyProbes {
    _fds: Vec<OwnedFd>,
    pub attached: usize,
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct RawTpAttr {
    name: u64,
    prog_fd: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    type_: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
    config2: u64,
    branch_sample_type: u64,
    sample_regs_user: u64,
    sample_stack_user: u32,
    clockid: i32,
    sample_regs_intr: u64,
    aux_watermark: u32,
    sample_max_stack: u16,
    _reserved: u16,
}

fn sys_bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<OwnedFd> {
    // SAFETY: attr is a live, initialised bpf_attr prefix of the given size.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn load_empty(prog_type: u32) -> std::io::Result<OwnedFd> {
    let license = c"GPL";
    let mut attr = ProgLoadAttr {
        prog_type,
        insn_cnt: EMPTY.len() as u32,
        insns: EMPTY.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..Default::default()
    };
    sys_bpf(BPF_PROG_LOAD, &mut attr)
}

fn tracepoint_id(category: &str, name: &str) -> Option<u64> {
    ["/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"]
        .iter()
        .find_map(|root| std::fs::read_to_string(format!("{root}/{category}/{name}/id")).ok())
        .and_then(|s| s.trim().parse().ok())
}

fn attach_tracepoint(category: &str, name: &str) -> std::io::Result<Vec<OwnedFd>> {
    let Some(id) = tracepoint_id(category, name) else {
        return Ok(Vec::new());
    };
    let prog = load_empty(BPF_PROG_TYPE_TRACEPOINT)?;
    let mut attr = PerfEventAttr {
        type_: PERF_TYPE_TRACEPOINT,
        size: std::mem::size_of::<PerfEventAttr>() as u32,
        config: id,
        sample_period: 1,
        wakeup_events: 1,
        ..Default::default()
    };
    // SAFETY: attr is a complete perf_event_attr of the size it declares.
    let fd = unsafe { libc::syscall(libc::SYS_perf_event_open, &mut attr as *mut _, -1, 0, -1, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new descriptor that nothing else owns.
    let event = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // SAFETY: ioctls on the perf event just opened, with a program fd.
    let ok = unsafe {
        libc::ioctl(event.as_raw_fd(), PERF_EVENT_IOC_SET_BPF, prog.as_raw_fd()) == 0
            && libc::ioctl(event.as_raw_fd(), PERF_EVENT_IOC_ENABLE, 0) == 0
    };
    if !ok {
        return Err(std::io::Error::last_os_error());
    }
    Ok(vec![prog, event])
}

fn attach_raw(name: &str) -> std::io::Result<Vec<OwnedFd>> {
    let prog = load_empty(BPF_PROG_TYPE_RAW_TRACEPOINT)?;
    let name = CString::new(name).expect("tracepoint name");
    let mut attr = RawTpAttr {
        name: name.as_ptr() as u64,
        prog_fd: prog.as_raw_fd() as u32,
        _pad: 0,
    };
    let link = sys_bpf(BPF_RAW_TRACEPOINT_OPEN, &mut attr)?;
    Ok(vec![prog, link])
}

impl EmptyProbes {
    /// Attaches an empty program wherever the sensor's object attaches one.
    pub fn attach() -> std::io::Result<EmptyProbes> {
        let obj = Object::parse(weir_sensor::probe::loader::object_bytes())
            .map_err(|e| std::io::Error::other(format!("parsing the sensor object: {e}")))?;
        let mut fds = Vec::new();
        let mut attached = 0;
        for (name, prog) in &obj.programs {
            let got = match prog.section {
                ProgramSection::TracePoint => attach_tracepoint("syscalls", name)?,
                ProgramSection::BtfTracePoint => match weir_sensor::probe::loader::btf_tracepoint_of(name) {
                    Some(tp) => attach_raw(tp)?,
                    None => continue,
                },
                _ => continue,
            };
            if !got.is_empty() {
                attached += 1;
            }
            fds.extend(got);
        }
        Ok(EmptyProbes { _fds: fds, attached })
    }
}
