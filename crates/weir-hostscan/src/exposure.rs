//! Exposure: sockets that accept traffic from other hosts (per network namespace), the process that owns
//! each, and what code it runs (executable, mapped shared objects, interpreter packages, embedded modules,
//! lockfiles in its working directory), each tied to the package that provides it.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use weir_event::{Listener, Loaded};
use weir_vuln::inventory::cargo_lock;

use crate::budget::{read_text, Budget};
use crate::config::ScanConfig;
use crate::dpkg_owners;
use crate::dpkg_status::DpkgNames;
use crate::package_table::{from_vuln, PackageTable, NO_PACKAGE};
use crate::proc_net::{self, Proto};
use crate::procfs;
use crate::{binaries, maps, node_modules, python_records};

/// An exposed socket before its owner is known.
struct OpenSocket {
    proto: Proto,
    address: std::net::IpAddr,
    port: u16,
    netns: u64,
    inode: u64,
}

/// What one listening process runs.
struct ProcessView {
    entity_id: String,
    executable: String,
    /// Mapped files (the executable first), deduplicated.
    files: Vec<String>,
    /// Extra (path, package) pairs: interpreter packages, embedded modules, lockfile entries.
    extra: Vec<(String, u32)>,
}

/// Interpreter families whose loaded language packages are looked for.
fn interpreter(exe: &str) -> Option<&'static str> {
    let base = Path::new(exe.strip_suffix(" (deleted)").unwrap_or(exe))
        .file_name()?
        .to_str()?;
    if base.starts_with("python") {
        Some("python")
    } else if base == "node" || base == "nodejs" {
        Some("node")
    } else {
        None
    }
}

/// Exposed sockets of every network namespace, reading the tables once per namespace.
fn open_sockets(config: &ScanConfig, pids: &[u32], budget: &mut Budget) -> Vec<OpenSocket> {
    let mut seen_ns = HashSet::new();
    let mut out = Vec::new();
    let mut seen_inodes = HashSet::new();
    for &pid in pids {
        if !budget.has_time("listeners") {
            break;
        }
        let Some(ns) = procfs::netns(&config.proc_root, pid) else {
            continue;
        };
        if !seen_ns.insert(ns) {
            continue;
        }
        for (table, proto) in proc_net::TABLES {
            let path = config.proc_root.join(pid.to_string()).join("net").join(table);
            let Ok(text) = read_text(&path, budget.limits.max_file_bytes) else {
                continue; // no IPv6 in this namespace, or the process just exited
            };
            let (rows, errors) = proc_net::parse_table(&text, &path.display().to_string());
            for e in errors {
                budget.note_err(&e);
            }
            for r in rows.into_iter().filter(|r| proc_net::is_exposed(r, proto)) {
                if out.len() >= budget.limits.max_listeners {
                    budget.note(format!(
                        "{}: more than {} listeners, rest skipped",
                        path.display(),
                        budget.limits.max_listeners
                    ));
                    return out;
                }
                if seen_inodes.insert((ns, r.inode)) {
                    out.push(OpenSocket {
                        proto,
                        address: r.address,
                        port: r.port,
                        netns: ns,
                        inode: r.inode,
                    });
                }
            }
        }
    }
    out
}

/// Lowest pid holding each wanted socket inode (scanning stops once all are found or the fd budget is spent).
fn socket_owners(config: &ScanConfig, pids: &[u32], wanted: &HashSet<u64>, budget: &mut Budget) -> HashMap<u64, u32> {
    let mut owners = HashMap::new();
    let mut fds_left = budget.limits.max_proc_fds;
    for &pid in pids {
        if owners.len() == wanted.len() || !budget.has_time("socket owners") {
            break;
        }
        if fds_left == 0 {
            budget.note(format!(
                "{}: fd limit of {} reached while looking for socket owners",
                config.proc_root.display(),
                budget.limits.max_proc_fds
            ));
            break;
        }
        fds_left -= procfs::socket_fds(&config.proc_root, pid, fds_left, |inode| {
            if wanted.contains(&inode) {
                owners.entry(inode).or_insert(pid);
            }
        });
    }
    owners
}

/// The process's own view of the filesystem (its mount namespace), as a scan config rooted there.
fn process_root_config(config: &ScanConfig, pid: u32) -> ScanConfig {
    let mut c = config.clone();
    c.root = config.proc_root.join(pid.to_string()).join("root");
    c
}

fn view_process(config: &ScanConfig, pid: u32, table: &mut PackageTable, budget: &mut Budget) -> Option<ProcessView> {
    let proc_dir = config.proc_root.join(pid.to_string());
    let start_ns = procfs::start_time_ns(&config.proc_root, pid)?;
    let executable = procfs::exe(&config.proc_root, pid)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let max = budget.limits.max_loaded_per_process;
    let mut files = Vec::new();
    if !executable.is_empty() {
        files.push(executable.clone());
    }
    let maps_path = proc_dir.join("maps");
    match read_text(&maps_path, budget.limits.max_file_bytes) {
        Ok(text) => {
            for f in maps::mapped_files(&text, max) {
                if f != executable {
                    files.push(f);
                }
            }
        }
        Err(e) => budget.note_err(&e),
    }
    files.truncate(max);

    let mut extra = Vec::new();
    if !executable.is_empty() {
        for i in binaries::embedded(&proc_dir.join("exe"), &executable, table, budget) {
            extra.push((executable.clone(), i));
        }
    }
    let in_ns = process_root_config(config, pid);
    match interpreter(&executable) {
        Some("python") => {
            for (path, i) in python_records::owners(&in_ns, &files, table, budget) {
                extra.push((path, i));
            }
        }
        Some("node") => {
            if let Some(cwd) = procfs::cwd(&config.proc_root, pid) {
                for p in node_modules::walk(&in_ns, &cwd.join("node_modules"), table, budget) {
                    extra.push((p.dir.display().to_string(), p.index));
                }
            }
        }
        _ => {}
    }
    if let Some(cwd) = procfs::cwd(&config.proc_root, pid) {
        extra.extend(lockfiles(&in_ns, &cwd, table, budget));
    }
    extra.truncate(max);
    Some(ProcessView {
        entity_id: weir_event::entity::entity_id(&config.host_id, pid, start_ns),
        executable,
        files,
        extra,
    })
}

/// Lockfiles in a working directory that weir-vuln can read (today: Cargo.lock).
fn lockfiles(in_ns: &ScanConfig, cwd: &Path, table: &mut PackageTable, budget: &mut Budget) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    let lock = cwd.join("Cargo.lock");
    let on_disk = in_ns.host_path(&lock);
    if !on_disk.is_file() {
        return out;
    }
    let src = lock.display().to_string();
    match read_text(&on_disk, budget.limits.max_file_bytes) {
        Ok(text) => match cargo_lock::parse(&text, &src) {
            Ok(parsed) => {
                for p in cargo_lock::to_packages(&parsed, &src) {
                    if let Some(i) = table.add(from_vuln(&p, &src), budget.limits.max_packages) {
                        out.push((src.clone(), i));
                    }
                }
            }
            Err(e) => budget.note(e.to_string()),
        },
        Err(e) => budget.note(format!("{src}: {e}")),
    }
    out
}

/// Every exposed listener with its owning process and what that process has loaded.
pub fn listeners(
    config: &ScanConfig,
    names: &DpkgNames,
    table: &mut PackageTable,
    budget: &mut Budget,
) -> Vec<Listener> {
    let pids = procfs::pids(&config.proc_root);
    let sockets = open_sockets(config, &pids, budget);
    let wanted: HashSet<u64> = sockets.iter().map(|s| s.inode).collect();
    let owners = socket_owners(config, &pids, &wanted, budget);

    let mut owner_pids: Vec<u32> = owners.values().copied().collect();
    owner_pids.sort_unstable();
    owner_pids.dedup();
    let mut views: HashMap<u32, ProcessView> = HashMap::new();
    for pid in owner_pids {
        if !budget.has_time("listening processes") {
            break;
        }
        if let Some(v) = view_process(config, pid, table, budget) {
            views.insert(pid, v);
        }
    }
    let all_files: Vec<String> = {
        let mut set: Vec<String> = views.values().flat_map(|v| v.files.iter().cloned()).collect();
        set.sort();
        set.dedup();
        set
    };
    let dpkg = dpkg_owners::owners(config, &all_files, names, budget);

    let loaded_of = |v: &ProcessView| -> Vec<Loaded> {
        let mut out: Vec<Loaded> = v
            .files
            .iter()
            .map(|f| Loaded {
                path: f.clone(),
                package_index: dpkg.get(f).copied().unwrap_or(NO_PACKAGE),
            })
            .collect();
        out.extend(v.extra.iter().map(|(path, i)| Loaded {
            path: path.clone(),
            package_index: *i,
        }));
        out
    };

    let mut out = Vec::with_capacity(sockets.len());
    for s in &sockets {
        let pid = owners.get(&s.inode).copied();
        let view = pid.and_then(|p| views.get(&p));
        out.push(Listener {
            protocol: s.proto.name().to_string(),
            address: s.address.to_string(),
            port: s.port as u32,
            netns: s.netns,
            pid: pid.unwrap_or(0),
            entity_id: view.map(|v| v.entity_id.clone()).unwrap_or_default(),
            executable: view.map(|v| v.executable.clone()).unwrap_or_default(),
            loaded: view.map(loaded_of).unwrap_or_default(),
        });
    }
    out
}
