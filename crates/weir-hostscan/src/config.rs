//! What a scan looks at and the limits that keep it cheap: every walk and read is bounded.

use std::path::PathBuf;
use std::time::Duration;

/// Bounds on one scan. Anything skipped because of them is counted and named in `Inventory.errors`.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Packages kept in one inventory (all ecosystems together).
    pub max_packages: usize,
    /// Directory entries and files visited by the file walks (site-packages, node_modules, binaries, dpkg lists).
    pub max_files_walked: usize,
    /// Largest text file read whole (dpkg status, metadata, package.json, Cargo.lock, dpkg .list).
    pub max_file_bytes: u64,
    /// Largest ELF section read from a binary (Go build info, cargo-auditable data, decompressed).
    pub max_section_bytes: u64,
    /// Nesting depth of `node_modules` inside `node_modules`.
    pub max_node_depth: usize,
    /// File descriptors examined in /proc/*/fd to find socket owners.
    pub max_proc_fds: usize,
    /// Listeners reported per scan.
    pub max_listeners: usize,
    /// Loaded entries per listening process.
    pub max_loaded_per_process: usize,
    /// Lines kept in `Inventory.errors`; the rest are counted in a final line.
    pub max_errors: usize,
    /// Wall-clock budget of one scan; work left when it runs out is skipped and noted.
    pub time_budget: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_packages: 50_000,
            max_files_walked: 200_000,
            max_file_bytes: 64 << 20,
            max_section_bytes: 16 << 20,
            max_node_depth: 8,
            max_proc_fds: 1_000_000,
            max_listeners: 4_096,
            max_loaded_per_process: 4_096,
            max_errors: 500,
            time_budget: Duration::from_secs(120),
        }
    }
}

/// One scan's configuration.
#[derive(Clone, Debug)]
pub struct ScanConfig {
    /// Prefix of every file-based source (dpkg database, site-packages, logs, machine-id); "/" on a host,
    /// a fixture tree in tests. /proc is read from `proc_root` instead.
    pub root: PathBuf,
    /// Where procfs is mounted (listeners, boot time, the root mount).
    pub proc_root: PathBuf,
    /// Weir's host id, for the listeners' process entity ids.
    pub host_id: String,
    /// Python site-packages / dist-packages directories (host paths, under `root`). `None` derives them from
    /// /usr/lib/python3*/ and /usr/local/lib/python3*/ plus /usr/lib/python3/dist-packages.
    pub site_packages: Option<Vec<PathBuf>>,
    /// Directories that hold a global `node_modules` tree (or are one).
    pub node_roots: Vec<PathBuf>,
    /// Directories whose executables are read for embedded Go build info and cargo-auditable data
    /// (not recursive).
    pub binary_dirs: Vec<PathBuf>,
    /// Whether to look at live sockets and processes (off for fixture-tree scans).
    pub listeners: bool,
    /// Whether to collect host-age signals.
    pub host_age: bool,
    pub limits: Limits,
}

impl Default for ScanConfig {
    fn default() -> ScanConfig {
        ScanConfig {
            root: PathBuf::from("/"),
            proc_root: PathBuf::from("/proc"),
            host_id: String::new(),
            site_packages: None,
            node_roots: vec![
                PathBuf::from("/usr/lib/node_modules"),
                PathBuf::from("/usr/local/lib/node_modules"),
                PathBuf::from("/usr/share/nodejs"),
            ],
            binary_dirs: vec![
                PathBuf::from("/usr/local/bin"),
                PathBuf::from("/usr/local/sbin"),
                PathBuf::from("/usr/bin"),
                PathBuf::from("/usr/sbin"),
            ],
            listeners: true,
            host_age: true,
            limits: Limits::default(),
        }
    }
}

impl ScanConfig {
    /// A host path (absolute, as seen on the scanned system) under the configured root.
    pub fn host_path(&self, path: impl AsRef<std::path::Path>) -> PathBuf {
        let p = path.as_ref();
        let rel = p.strip_prefix("/").unwrap_or(p);
        self.root.join(rel)
    }
}
