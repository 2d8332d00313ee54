//! Host-age signals: evidence of when this host was last installed clean (machine-id, root filesystem
//! creation, installer logs, first dpkg log line, cloud-init instance id, boot time, read-only root).
//! Every field is 0 (or empty) when unknown, with a note saying why.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use sha2::{Digest, Sha256};
use weir_event::HostAge;

use crate::budget::read_text;
use crate::config::ScanConfig;
use crate::dpkg_log;
use crate::superblock;

const NS: u64 = 1_000_000_000;

/// Birth and modification times of a file in ns since the epoch; birth 0 when the filesystem does not
/// record it (statx without STATX_BTIME in the mask, or a zero birth time, which is "unknown", not 1970).
pub fn birth_and_mtime(path: &Path) -> std::io::Result<(u64, u64)> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "path holds a NUL byte"))?;
    // SAFETY: a zeroed statx is a valid output buffer.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid NUL-terminated path and stx a valid, writable buffer for the call.
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            0,
            libc::STATX_BTIME | libc::STATX_MTIME,
            &mut stx,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let ns = |t: libc::statx_timestamp| -> u64 {
        if t.tv_sec <= 0 {
            0
        } else {
            (t.tv_sec as u64)
                .saturating_mul(NS)
                .saturating_add(u64::from(t.tv_nsec))
        }
    };
    let birth = if stx.stx_mask & libc::STATX_BTIME != 0 {
        ns(stx.stx_btime)
    } else {
        0
    };
    let mtime = if stx.stx_mask & libc::STATX_MTIME != 0 {
        ns(stx.stx_mtime)
    } else {
        0
    };
    Ok((birth, mtime))
}

fn mtime_ns(path: &Path) -> Option<u64> {
    birth_and_mtime(path).ok().map(|(_, m)| m).filter(|m| *m > 0)
}

/// `btime` of /proc/stat, in seconds since the epoch.
pub fn parse_boot_time(proc_stat: &str) -> Option<u64> {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn machine_id(config: &ScanConfig, age: &mut HostAge) {
    let path = config.host_path("/etc/machine-id");
    match read_text(&path, 4096) {
        Ok(text) if !text.trim().is_empty() => {
            age.machine_id_hash = hex::encode(Sha256::digest(text.trim().as_bytes()));
        }
        Ok(_) => age.notes.push("machine_id: /etc/machine-id is empty".into()),
        Err(e) => age.notes.push(format!("machine_id: {e}")),
    }
    match birth_and_mtime(&path) {
        Ok((birth, mtime)) => {
            age.machine_id_birth_ns = birth;
            age.machine_id_mtime_ns = mtime;
            if birth == 0 {
                age.notes
                    .push("machine_id_birth: the filesystem does not record a birth time for /etc/machine-id".into());
            }
        }
        Err(e) => age.notes.push(format!("machine_id_birth: /etc/machine-id: {e}")),
    }
}

fn rootfs(config: &ScanConfig, age: &mut HostAge) {
    let mountinfo_path = config.proc_root.join("self/mountinfo");
    let mountinfo = match std::fs::read_to_string(&mountinfo_path) {
        Ok(t) => t,
        Err(e) => {
            age.notes
                .push(format!("rootfs_created: {}: {e}", mountinfo_path.display()));
            return;
        }
    };
    let Some(mount) = superblock::root_mount(&mountinfo) else {
        age.notes
            .push(format!("rootfs_created: {}: no mount at /", mountinfo_path.display()));
        return;
    };
    age.rootfs_type = mount.fstype.clone();
    if config.root != Path::new("/") {
        age.notes.push(format!(
            "rootfs_created: scan root is {}, not the mounted /",
            config.root.display()
        ));
        return;
    }
    if !matches!(mount.fstype.as_str(), "ext2" | "ext3" | "ext4") {
        age.notes
            .push(format!("rootfs_created: unsupported fs type {}", mount.fstype));
        return;
    }
    let mut last_err = String::from("no device file found");
    for dev in superblock::device_candidates(&mount) {
        match std::fs::File::open(&dev) {
            Ok(mut f) => match superblock::ext4_created(&mut f) {
                Ok(Some(secs)) => {
                    age.rootfs_created_ns = secs.saturating_mul(NS);
                    return;
                }
                Ok(None) => {
                    age.notes.push(format!(
                        "rootfs_created: {}: superblock records no creation time",
                        dev.display()
                    ));
                    return;
                }
                Err(e) => last_err = format!("{}: {e}", dev.display()),
            },
            Err(e) => last_err = format!("{}: {e}", dev.display()),
        }
    }
    // mke2fs gives the root directory the filesystem's creation time as its birth time (when inodes are
    // large enough to record one): a fallback when the device cannot be opened.
    match birth_and_mtime(&config.root) {
        Ok((birth, _)) if birth > 0 => {
            age.rootfs_created_ns = birth;
            age.notes
                .push(format!("rootfs_created: {last_err}; used the birth time of /"));
        }
        _ => age
            .notes
            .push(format!("rootfs_created: {last_err}; / has no birth time either")),
    }
}

/// Earliest mtime among installer leftovers: Debian/Ubuntu's /var/log/installer/*, Anaconda's
/// /root/anaconda-ks.cfg and /var/log/anaconda/*. (Installer syslogs carry no year, so file times are used.)
fn installer(config: &ScanConfig, age: &mut HostAge) {
    let mut best: Option<u64> = None;
    let mut consider = |p: &Path| {
        if let Some(t) = mtime_ns(p) {
            best = Some(best.map_or(t, |b| b.min(t)));
        }
    };
    for dir in ["/var/log/installer", "/var/log/anaconda"] {
        if let Ok(rd) = std::fs::read_dir(config.host_path(dir)) {
            for e in rd.flatten().take(10_000) {
                consider(&e.path());
            }
        }
    }
    consider(&config.host_path("/root/anaconda-ks.cfg"));
    match best {
        Some(t) => age.installer_log_ns = t,
        None => age
            .notes
            .push("installer_log: no /var/log/installer, /var/log/anaconda or /root/anaconda-ks.cfg".into()),
    }
}

fn first_dpkg_log(config: &ScanConfig, age: &mut HostAge) {
    let (best, errors) = dpkg_log::earliest(&config.host_path("/var/log"));
    for e in errors {
        age.notes.push(format!("first_dpkg_log: {e}"));
    }
    match best {
        Some(t) => age.first_dpkg_log_ns = t.saturating_mul(NS),
        None => age.notes.push("first_dpkg_log: no readable /var/log/dpkg.log*".into()),
    }
}

fn cloud_instance(config: &ScanConfig, age: &mut HostAge) {
    let path = config.host_path("/var/lib/cloud/data/instance-id");
    if !path.exists() {
        age.notes
            .push("cloud_instance_id: no /var/lib/cloud/data/instance-id".into());
        return;
    }
    match read_text(&path, 1024) {
        Ok(t) => {
            let id: String = t.trim().chars().filter(|c| !c.is_control()).take(256).collect();
            if id.is_empty() {
                age.notes
                    .push("cloud_instance_id: /var/lib/cloud/data/instance-id is empty".into());
            }
            age.cloud_instance_id = id;
        }
        Err(e) => age.notes.push(format!("cloud_instance_id: {e}")),
    }
}

fn boot_and_readonly(config: &ScanConfig, age: &mut HostAge) {
    let stat_path = config.proc_root.join("stat");
    match std::fs::read_to_string(&stat_path) {
        Ok(t) => match parse_boot_time(&t) {
            Some(b) => age.boot_time_ns = b.saturating_mul(NS),
            None => age
                .notes
                .push(format!("boot_time: {}: no btime line", stat_path.display())),
        },
        Err(e) => age.notes.push(format!("boot_time: {}: {e}", stat_path.display())),
    }
    let Ok(c) = CString::new(config.root.as_os_str().as_bytes()) else {
        return;
    };
    // SAFETY: zeroed statvfs is a valid output buffer; c is NUL-terminated.
    let mut vfs: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: see above.
    if unsafe { libc::statvfs(c.as_ptr(), &mut vfs) } == 0 {
        age.rootfs_read_only = vfs.f_flag & libc::ST_RDONLY != 0;
    } else {
        let e = std::io::Error::last_os_error();
        age.notes
            .push(format!("rootfs_read_only: statvfs {}: {e}", config.root.display()));
    }
}

/// All host-age signals.
pub fn collect(config: &ScanConfig) -> HostAge {
    let mut age = HostAge::default();
    machine_id(config, &mut age);
    rootfs(config, &mut age);
    installer(config, &mut age);
    first_dpkg_log(config, &mut age);
    cloud_instance(config, &mut age);
    boot_and_readonly(config, &mut age);
    age
}
