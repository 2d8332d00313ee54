//! kill_process and kill_tree: find the process by entity id (never trusting
//! a pid alone), respect the protected list, and signal through pidfds.

use std::collections::{HashMap, HashSet};

use crate::procs::{self, Pidfd, Proc, Protection};

/// Most processes one kill_tree touches.
pub const MAX_TREE: usize = 4096;
/// Most /proc rescans while stopping a tree (each finds the children born
/// before their parent stopped).
const MAX_ROUNDS: usize = 16;

/// What a kill action did, before it becomes an Action result string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok(String),
    Refused(String),
    Error(String),
    DryRun(String),
}

impl Outcome {
    pub fn into_result(self) -> String {
        match self {
            Outcome::Ok(s) => format!("ok: {s}"),
            Outcome::Refused(s) => format!("refused: {s}"),
            Outcome::Error(s) => format!("error: {s}"),
            Outcome::DryRun(s) => format!("dry-run: would {s}"),
        }
    }
}

/// Checks that `entity_id` looks like one (32 hex digits).
fn check_entity(entity_id: &str) -> Result<(), Outcome> {
    if entity_id.len() == 32 && entity_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Outcome::Refused(format!(
            "target {entity_id:?} is not a process entity id (32 hex digits)"
        )))
    }
}

/// Finds the target and holds it by pidfd, checking identity and protection.
fn resolve(
    host_id: &str,
    entity_id: &str,
    pid_hint: u32,
    protection: &Protection,
    responder_chain: &[u32],
) -> Result<(Pidfd, Proc), Outcome> {
    check_entity(entity_id)?;
    let pid = if pid_hint != 0 {
        pid_hint
    } else {
        match procs::find_entity(host_id, entity_id) {
            Some(p) => p.pid,
            None => return Err(Outcome::Refused(format!("no live process is entity {entity_id}"))),
        }
    };
    let (fd, p) = procs::open_entity(host_id, pid, entity_id).map_err(Outcome::Refused)?;
    if let Some(why) = protection.why(&p, responder_chain) {
        return Err(Outcome::Refused(why));
    }
    Ok((fd, p))
}

/// Kills the process that is `entity_id` (pid `pid_hint`, or 0 to look it up).
pub fn kill_process(host_id: &str, entity_id: &str, pid_hint: u32, dry_run: bool, protection: &Protection) -> Outcome {
    let (fd, p) = match resolve(host_id, entity_id, pid_hint, protection, &procs::self_and_ancestors()) {
        Ok(found) => found,
        Err(outcome) => return outcome,
    };
    if dry_run {
        return Outcome::DryRun(format!("kill pid {} ({})", p.pid, p.comm));
    }
    match fd.signal(libc::SIGKILL) {
        Ok(()) => Outcome::Ok(format!("killed pid {} ({})", p.pid, p.comm)),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
            Outcome::Refused(format!("pid {} exited before it could be killed", p.pid))
        }
        Err(e) => Outcome::Error(format!("signalling pid {}: {e}", p.pid)),
    }
}

/// A member of a tree being killed.
struct Member {
    fd: Option<Pidfd>,
    proc: Proc,
    depth: usize,
}

/// Kills the process that is `entity_id` and all its descendants: the tree
/// is stopped first (SIGSTOP, so nothing forks away), then killed children
/// first. Protected members and everything under them are left alone and
/// reported.
pub fn kill_tree(host_id: &str, entity_id: &str, pid_hint: u32, dry_run: bool, protection: &Protection) -> Outcome {
    // The responder's own chain, read once for the whole tree.
    let responder_chain = procs::self_and_ancestors();
    let (root_fd, root) = match resolve(host_id, entity_id, pid_hint, protection, &responder_chain) {
        Ok(found) => found,
        Err(outcome) => return outcome,
    };
    if !dry_run {
        if let Err(e) = root_fd.signal(libc::SIGSTOP) {
            return Outcome::Error(format!("stopping pid {}: {e}", root.pid));
        }
    }
    let mut members: Vec<Member> = vec![Member {
        fd: Some(root_fd),
        proc: root.clone(),
        depth: 0,
    }];
    let mut in_tree: HashMap<u32, usize> = HashMap::from([(root.pid, 0)]);
    let mut skipped: Vec<String> = Vec::new();
    let mut skipped_pids: HashSet<u32> = HashSet::new();
    let mut truncated = false;
    for _ in 0..MAX_ROUNDS {
        let mut found_new = false;
        for p in procs::snapshot(host_id) {
            if in_tree.contains_key(&p.pid) || skipped_pids.contains(&p.pid) {
                continue;
            }
            let Some(&parent_depth) = in_tree.get(&p.ppid) else {
                continue;
            };
            if members.len() >= MAX_TREE {
                truncated = true;
                break;
            }
            if let Some(why) = protection.why(&p, &responder_chain) {
                skipped.push(why);
                skipped_pids.insert(p.pid);
                continue;
            }
            found_new = true;
            let fd = if dry_run {
                None
            } else {
                // Re-check after opening: the pidfd must hold the process seen.
                match procs::open_entity(host_id, p.pid, &p.entity_id) {
                    Ok((fd, _)) => {
                        let _ = fd.signal(libc::SIGSTOP);
                        Some(fd)
                    }
                    Err(_) => continue,
                }
            };
            in_tree.insert(p.pid, parent_depth + 1);
            members.push(Member {
                fd,
                proc: p,
                depth: parent_depth + 1,
            });
        }
        if !found_new || truncated {
            break;
        }
    }
    // Deepest first, the root last.
    members.sort_by_key(|m| std::cmp::Reverse(m.depth));
    let pids: Vec<String> = members.iter().map(|m| m.proc.pid.to_string()).collect();
    let mut note = String::new();
    if !skipped.is_empty() {
        note.push_str(&format!("; skipped (with their descendants): {}", skipped.join(", ")));
    }
    if truncated {
        note.push_str(&format!(
            "; tree larger than {MAX_TREE} processes, the rest left running"
        ));
    }
    if dry_run {
        return Outcome::DryRun(format!(
            "kill {} processes under pid {} ({}): {}{note}",
            members.len(),
            root.pid,
            root.comm,
            pids.join(" ")
        ));
    }
    let mut failed = Vec::new();
    for m in &members {
        if let Some(fd) = &m.fd {
            match fd.signal(libc::SIGKILL) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(e) => failed.push(format!("pid {}: {e}", m.proc.pid)),
            }
        }
    }
    if !failed.is_empty() {
        return Outcome::Error(format!("could not kill {}{note}", failed.join(", ")));
    }
    Outcome::Ok(format!(
        "killed {} processes under pid {} ({}): {}{note}",
        members.len(),
        root.pid,
        root.comm,
        pids.join(" ")
    ))
}
