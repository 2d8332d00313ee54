//! kill_process and kill_tree against real processes: the right process dies
//! by SIGKILL, a stale entity id or a protected process is refused and the
//! process lives, dry-run changes nothing.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command as Proc, Stdio};
use std::time::Duration;

use common::*;

fn sleeper() -> std::process::Child {
    Proc::new("sleep").arg("60").spawn().expect("spawning sleep")
}

#[test]
fn kills_by_entity_id_with_and_without_pid() {
    let cg = TestCgroup::new();
    let r = start(&cg, vec![]);
    for with_pid in [true, false] {
        let mut child = sleeper();
        let pid = child.id();
        let entity = entity_of(pid);
        let mut cmd = command("kill_process", &entity);
        cmd.pid_hint = if with_pid { pid } else { 0 };
        let action = r.execute(&cmd);
        assert_eq!(action.result, format!("ok: killed pid {pid} (sleep)"));
        assert_eq!(action.command_id, cmd.command_id);
        assert_eq!(action.target, entity);
        assert_eq!(
            (action.rule_id.as_str(), action.policy_version.as_str()),
            ("test-rule", "pv1")
        );
        assert_eq!((action.alert_id, action.dry_run), (7, false));
        assert_eq!(action.host_id, host_id());
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    }
}

#[test]
fn stale_entity_or_missing_pid_is_refused_and_the_process_lives() {
    let cg = TestCgroup::new();
    let r = start(&cg, vec![]);
    let mut child = sleeper();
    let pid = child.id();
    let real = entity_of(pid);
    let p = weir_respond::procs::read_proc(&host_id(), pid).unwrap();
    // The entity of an earlier process that had this pid.
    let stale = weir_event::entity::entity_id(&host_id(), pid, p.start_ns.saturating_sub(10_000_000));
    let mut cmd = command("kill_process", &stale);
    cmd.pid_hint = pid;
    let action = r.execute(&cmd);
    assert_eq!(action.result, format!("refused: pid {pid} is no longer entity {stale}"));
    let mut cmd = command("kill_process", &stale);
    cmd.pid_hint = 0;
    assert_eq!(
        r.execute(&cmd).result,
        format!("refused: no live process is entity {stale}")
    );
    let action = r.execute(&command("kill_process", "not-an-entity"));
    assert!(
        action.result.starts_with("refused: target \"not-an-entity\""),
        "{}",
        action.result
    );
    std::thread::sleep(Duration::from_millis(100));
    assert!(alive(pid, &real));
    assert!(child.try_wait().unwrap().is_none());
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn protected_names_pids_and_self_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sshd = dir.path().join("sshd");
    std::fs::copy("/bin/sleep", &sshd).unwrap();
    let cg = TestCgroup::new();
    let mut config = config(&cg, vec![]);
    let mut other = sleeper();
    config.protected_pids.push(other.id());
    let r = weir_respond::Responder::start(config).unwrap();

    let mut child = Proc::new(&sshd).arg("60").spawn().unwrap();
    let pid = child.id();
    let entity = entity_of(pid);
    let mut cmd = command("kill_process", &entity);
    cmd.pid_hint = pid;
    let action = r.execute(&cmd);
    assert_eq!(action.result, format!("refused: pid {pid} (sshd) has a protected name"));

    let mut cmd = command("kill_process", &entity_of(other.id()));
    cmd.pid_hint = other.id();
    assert_eq!(
        r.execute(&cmd).result,
        format!("refused: pid {} is on the protected list", other.id())
    );

    let me = std::process::id();
    let mut cmd = command("kill_tree", &entity_of(me));
    cmd.pid_hint = me;
    assert_eq!(
        r.execute(&cmd).result,
        format!("refused: pid {me} is the responder or one of its ancestors")
    );
    let mut cmd = command("kill_process", &entity_of(1));
    cmd.pid_hint = 1;
    assert_eq!(r.execute(&cmd).result, "refused: pid 1 is protected");

    std::thread::sleep(Duration::from_millis(100));
    assert!(alive(pid, &entity));
    for c in [&mut child, &mut other] {
        assert!(c.try_wait().unwrap().is_none());
        c.kill().unwrap();
        c.wait().unwrap();
    }
}

/// bash -> bash -> sleep, each level forked (not exec'd) so three processes.
fn chain() -> (std::process::Child, Vec<u32>) {
    let root = Proc::new("bash")
        .arg("-c")
        .arg("bash -c 'sleep 60 & wait' & wait")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut pids = vec![root.id()];
    assert!(wait_for(Duration::from_secs(5), || {
        pids.truncate(1);
        let Some(&mid) = children(root.id()).first() else {
            return false;
        };
        let Some(&leaf) = children(mid).first() else {
            return false;
        };
        pids.extend([mid, leaf]);
        true
    }));
    (root, pids)
}

#[test]
fn kill_tree_kills_a_three_level_chain() {
    let cg = TestCgroup::new();
    let r = start(&cg, vec![]);
    let (mut root, pids) = chain();
    let entities: Vec<String> = pids.iter().map(|&p| entity_of(p)).collect();
    let mut cmd = command("kill_tree", &entities[0]);
    cmd.pid_hint = pids[0];
    let action = r.execute(&cmd);
    assert!(
        action.result.starts_with(&format!(
            "ok: killed 3 processes under pid {} (bash): {} {} {}",
            pids[0], pids[2], pids[1], pids[0]
        )),
        "{}",
        action.result
    );
    assert_eq!(root.wait().unwrap().signal(), Some(libc::SIGKILL));
    for (pid, entity) in pids.iter().zip(&entities) {
        assert!(
            wait_for(Duration::from_secs(3), || !alive(*pid, entity)),
            "pid {pid} survived"
        );
    }
}

#[test]
fn kill_tree_spares_a_protected_member_and_its_subtree() {
    let dir = tempfile::tempdir().unwrap();
    let sshd = dir.path().join("sshd");
    std::fs::copy("/bin/sleep", &sshd).unwrap();
    let cg = TestCgroup::new();
    let r = start(&cg, vec![]);
    let mut root = Proc::new("bash")
        .arg("-c")
        .arg("\"$0\" 60 & sleep 60 & wait")
        .arg(&sshd)
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(5), || children(root.id()).len() == 2));
    let kids = children(root.id());
    let protected_pid = *kids
        .iter()
        .find(|&&p| weir_respond::procs::read_proc(&host_id(), p).unwrap().comm == "sshd")
        .unwrap();
    let protected_entity = entity_of(protected_pid);
    let mut cmd = command("kill_tree", &entity_of(root.id()));
    cmd.pid_hint = root.id();
    let action = r.execute(&cmd);
    assert!(action.result.starts_with("ok: killed 2 processes"), "{}", action.result);
    assert!(
        action.result.contains(&format!(
            "skipped (with their descendants): pid {protected_pid} (sshd) has a protected name"
        )),
        "{}",
        action.result
    );
    root.wait().unwrap();
    assert!(alive(protected_pid, &protected_entity));
    // SAFETY: plain kill(2) of the pid we just checked is our leftover sshd copy.
    unsafe { libc::kill(protected_pid as i32, libc::SIGKILL) };
}

#[test]
fn dry_run_changes_nothing() {
    let cg = TestCgroup::new();
    let r = start(&cg, vec![]);
    let (mut root, pids) = chain();
    let entities: Vec<String> = pids.iter().map(|&p| entity_of(p)).collect();
    let mut cmd = command("kill_process", &entities[2]);
    cmd.pid_hint = pids[2];
    cmd.dry_run = true;
    let action = r.execute(&cmd);
    assert_eq!(action.result, format!("dry-run: would kill pid {} (sleep)", pids[2]));
    assert!(action.dry_run);
    let mut cmd = command("kill_tree", &entities[0]);
    cmd.pid_hint = pids[0];
    cmd.dry_run = true;
    let action = r.execute(&cmd);
    assert!(
        action
            .result
            .starts_with(&format!("dry-run: would kill 3 processes under pid {}", pids[0])),
        "{}",
        action.result
    );
    // Dry-run is refused exactly where the real action would be.
    let mut cmd = command("kill_process", &entity_of(1));
    cmd.pid_hint = 1;
    cmd.dry_run = true;
    assert_eq!(r.execute(&cmd).result, "refused: pid 1 is protected");
    std::thread::sleep(Duration::from_millis(100));
    for (pid, entity) in pids.iter().zip(&entities) {
        assert!(alive(*pid, entity), "pid {pid} was touched by a dry run");
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let state = stat.rsplit_once(')').unwrap().1.trim_start().chars().next();
        assert_ne!(state, Some('T'), "pid {pid} was stopped by a dry run");
    }
    root.kill().unwrap();
    root.wait().unwrap();
    for pid in &pids[1..] {
        // SAFETY: kill(2) of our own leftover test processes.
        unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
    }
}

#[test]
fn unknown_action_is_refused() {
    let cg = TestCgroup::new();
    let r = start(&cg, vec![]);
    let action = r.execute(&command("reboot_host", ""));
    assert_eq!(action.result, "refused: unknown action \"reboot_host\"");
    assert_eq!(action.action, "reboot_host");
}

/// Latency of execute(kill_process) from receipt to the signal sent, over
/// 200 kills. Run with `cargo test -p weir-respond --test kill -- --ignored --nocapture`.
#[test]
#[ignore]
fn kill_latency() {
    let cg = TestCgroup::new();
    let r = start(&cg, vec![]);
    let mut by_pid = Vec::new();
    let mut by_scan = Vec::new();
    for i in 0..200 {
        let mut child = sleeper();
        let mut cmd = command("kill_process", &entity_of(child.id()));
        cmd.pid_hint = if i % 2 == 0 { child.id() } else { 0 };
        let action = r.execute(&cmd);
        assert!(action.result.starts_with("ok: killed"), "{}", action.result);
        child.wait().unwrap();
        if i % 2 == 0 { &mut by_pid } else { &mut by_scan }.push(action.latency_us);
    }
    for (name, mut v) in [("pid hint", by_pid), ("scan /proc", by_scan)] {
        v.sort_unstable();
        let processes = weir_respond::procs::all_pids().len();
        println!(
            "kill_process latency ({name}, {} kills, {processes} processes): p50 {} us, p99 {} us, max {} us",
            v.len(),
            v[v.len() / 2],
            v[v.len() * 99 / 100],
            v[v.len() - 1]
        );
    }
}
