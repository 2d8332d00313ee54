//! Sensor configuration and its defaults.

use std::time::Duration;

/// Paths watched for file activity by default (prefix match, in the kernel).
pub const DEFAULT_WATCH: &[&str] = &[
    "/etc/",
    "/root/",
    "/home/",
    "/usr/bin/",
    "/usr/sbin/",
    "/bin/",
    "/sbin/",
    "/lib",
    "/usr/lib",
    "/boot/",
    "/var/spool/cron/",
    "/etc/cron",
    "/etc/systemd/",
    "/lib/systemd/system/",
    "/etc/ld.so.preload",
];

/// Most prefixes the kernel map holds.
pub const MAX_PREFIXES: usize = 64;
/// Longest prefix the kernel map holds, in bytes.
pub const MAX_PREFIX_LEN: usize = 255;

#[derive(Debug, Clone)]
pub struct SensorConfig {
    pub host_id: String,
    pub host_name: String,
    /// Kernel ring buffer size; rounded up to a power of two, at least a page.
    pub ring_bytes: usize,
    /// Bound of the userspace queue in events.
    pub queue_events: usize,
    /// Bound of the userspace queue in encoded bytes.
    pub queue_bytes: usize,
    pub watch_prefixes: Vec<String>,
    pub heartbeat: Duration,
    /// How often drops are checked and reported in a Loss event.
    pub loss_interval: Duration,
    /// Ring buffer poll timeout.
    pub poll_timeout: Duration,
    /// Under /home/, keep only .ssh/ and shell start-up files.
    pub home_filter: bool,
    /// Bound of the process table in entries.
    pub max_processes: usize,
    /// Skip BPF and run the degraded process-connector mode (for testing it).
    pub force_proc_connector: bool,
    /// Identical file operations (same process, op, path, flags)
    /// inside this window are folded in the kernel into one event plus a
    /// repeat count; zero sends every one. At most 60 s.
    pub file_repeat_window: Duration,
    /// Check a successful write-open whose name is not watched again on the
    /// opened file's real path, so a write through a symlink (or bind
    /// mount) to a watched file is reported. Costs a bounded walk at the
    /// exit of such opens.
    pub resolve_opened_files: bool,
}

impl SensorConfig {
    pub fn new(host_id: impl Into<String>) -> Self {
        SensorConfig {
            host_id: host_id.into(),
            host_name: crate::host::host_name(),
            ring_bytes: 4 << 20,
            queue_events: 65_536,
            queue_bytes: 64 << 20,
            watch_prefixes: DEFAULT_WATCH.iter().map(|s| s.to_string()).collect(),
            heartbeat: Duration::from_secs(10),
            loss_interval: Duration::from_secs(1),
            poll_timeout: Duration::from_millis(5),
            home_filter: true,
            max_processes: 65_536,
            force_proc_connector: false,
            file_repeat_window: Duration::from_secs(1),
            resolve_opened_files: true,
        }
    }

    /// Ring size as the kernel needs it: a power of two, at least one page.
    pub fn ring_size(&self) -> u32 {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
        self.ring_bytes.clamp(page, 1 << 30).next_power_of_two() as u32
    }
}

const SHELL_RC: &[&str] = &[
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".profile",
    ".zshrc",
    ".zprofile",
    ".zshenv",
    ".zlogin",
    ".cshrc",
    ".tcshrc",
    ".kshrc",
    ".xinitrc",
    ".xsession",
];

/// The userspace refinement of the "/home/" prefix: ssh material and shell
/// start-up files only.
pub fn home_path_kept(path: &[u8]) -> bool {
    if !path.starts_with(b"/home/") {
        return true;
    }
    if path.windows(6).any(|w| w == b"/.ssh/") || path.ends_with(b"/.ssh") {
        return true;
    }
    let name = path.rsplit(|&c| c == b'/').next().unwrap_or(b"");
    SHELL_RC.iter().any(|rc| rc.as_bytes() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_filter_keeps_ssh_and_rc_files() {
        assert!(home_path_kept(b"/home/a/.ssh/authorized_keys"));
        assert!(home_path_kept(b"/home/a/.bashrc"));
        assert!(!home_path_kept(b"/home/a/notes.txt"));
        assert!(home_path_kept(b"/etc/passwd"));
    }

    #[test]
    fn ring_size_is_a_power_of_two() {
        let mut c = SensorConfig::new("h");
        c.ring_bytes = 300_000;
        assert_eq!(c.ring_size(), 524_288);
        c.ring_bytes = 1;
        assert_eq!(c.ring_size(), 4096);
    }
}
