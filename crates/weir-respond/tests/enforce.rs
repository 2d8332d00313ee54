//! In-kernel enforcement against real execs: a process matching a predicate
//! is killed in its exec (its script never runs, so its marker file is never
//! created) and the kill is reported; other execs run normally.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command as Proc;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use common::*;
use weir_event::Action;

/// A shell script that creates the file named by its first argument.
fn toucher(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, "#!/bin/sh\ntouch \"$1\"\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn enforce(r: &weir_respond::Responder, payload: serde_json::Value) -> String {
    let mut cmd = command("enforce_set", "");
    cmd.payload = payload.to_string();
    r.execute(&cmd).result
}

/// Runs `program args...`; (killed by SIGKILL, marker created).
fn run(program: &Path, args: &[&str], marker: &Path) -> (bool, bool) {
    let status = Proc::new(program).args(args).status().unwrap();
    (status.signal() == Some(libc::SIGKILL), marker.exists())
}

fn next_kill(reports: &Receiver<Action>) -> Action {
    loop {
        let a = reports
            .recv_timeout(Duration::from_secs(5))
            .expect("an enforce_kill report");
        if a.action == "enforce_kill" {
            return a;
        }
    }
}

#[test]
fn exec_of_a_matching_path_is_killed_before_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let evil = toucher(dir.path(), "evil.sh");
    let fine = toucher(dir.path(), "fine.sh");
    let cg = TestCgroup::new();
    let r = start(&cg, vec![]);
    let reports = r.enforced().unwrap();

    let result = enforce(&r, serde_json::json!([{"rule_id": "deny-evil", "executable": evil}]));
    assert_eq!(result, "ok: enforcing 1 predicates at exec: deny-evil");

    let marker = dir.path().join("evil-ran");
    let marker_arg = marker.to_str().unwrap();
    assert_eq!(run(&evil, &[marker_arg], &marker), (true, false));
    let kill = next_kill(&reports);
    assert_eq!(kill.rule_id, "deny-evil");
    assert!(kill.result.starts_with("ok: killed pid "), "{}", kill.result);
    assert!(
        kill.result
            .ends_with(&format!("at exec of {} (in kernel)", evil.display())),
        "{}",
        kill.result
    );
    assert_eq!(kill.target.len(), 32);
    assert_eq!(kill.host_id, host_id());

    let fine_marker = dir.path().join("fine-ran");
    assert_eq!(
        run(&fine, &[fine_marker.to_str().unwrap()], &fine_marker),
        (false, true)
    );

    // A binary is caught under any other name (device and inode); a script
    // only by the path given to execve, since its exec runs the interpreter.
    let sleep_copy = dir.path().join("napper");
    std::fs::copy("/bin/sleep", &sleep_copy).unwrap();
    let link = dir.path().join("napper-link");
    std::fs::hard_link(&sleep_copy, &link).unwrap();
    let result = enforce(
        &r,
        serde_json::json!([{"rule_id": "deny-napper", "executable": sleep_copy}]),
    );
    assert!(result.starts_with("ok"), "{result}");
    let status = Proc::new(&link).arg("5").status().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "the hard link ran");
    assert_eq!(next_kill(&reports).rule_id, "deny-napper");

    // Clearing the set lets everything run again.
    assert_eq!(
        enforce(&r, serde_json::json!([])),
        "ok: enforcing 0 predicates at exec: "
    );
    assert_eq!(run(&evil, &[marker_arg], &marker), (false, true));
    assert_eq!((r.kill_reports_lost_in_kernel(), r.reports_dropped()), (0, 0));
}

#[test]
fn argv_and_name_predicates() {
    let dir = tempfile::tempdir().unwrap();
    let needle = format!("--weir-needle-{}", std::process::id());
    let cg = TestCgroup::new();
    let r = start(&cg, vec![]);
    let reports = r.enforced().unwrap();
    let result = enforce(
        &r,
        serde_json::json!([
            {"rule_id": "deny-argv", "argv_contains": [needle, "touch"]},
            {"rule_id": "deny-name", "name": format!("zap-{}", std::process::id()), "argv_contains": ["now"]},
        ]),
    );
    assert_eq!(result, "ok: enforcing 2 predicates at exec: deny-argv, deny-name");

    let sh = Path::new("/bin/sh");
    let m1 = dir.path().join("m1");
    let script = format!("touch \"{}\"", m1.display());
    assert_eq!(run(sh, &["-c", &script, "x", &needle], &m1), (true, false));
    assert_eq!(next_kill(&reports).rule_id, "deny-argv");
    // Only one of the two strings: runs.
    assert_eq!(run(sh, &["-c", &script, "x", "--other"], &m1), (false, true));

    let zap = toucher(dir.path(), &format!("zap-{}", std::process::id()));
    let m2 = dir.path().join("m2");
    assert_eq!(run(&zap, &[m2.to_str().unwrap(), "now"], &m2), (true, false));
    assert_eq!(next_kill(&reports).rule_id, "deny-name");
    assert_eq!(run(&zap, &[m2.to_str().unwrap(), "later"], &m2), (false, true));
}

#[test]
fn bad_or_protected_sets_are_refused_and_dry_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let evil = toucher(dir.path(), "evil.sh");
    let cg = TestCgroup::new();
    let r = start(&cg, vec![]);

    let result = enforce(&r, serde_json::json!([{"rule_id": "x", "name": "sshd"}]));
    assert_eq!(
        result,
        "refused: predicate 0 (\"x\"): field name: \"sshd\" is a protected process name"
    );
    let mut cmd = command("enforce_set", "");
    cmd.payload = "{not json".into();
    assert!(r
        .execute(&cmd)
        .result
        .starts_with("refused: payload: not a JSON list of predicates"));

    let mut cmd = command("enforce_set", "");
    cmd.payload = serde_json::json!([{"rule_id": "deny-evil", "executable": evil}]).to_string();
    cmd.dry_run = true;
    assert_eq!(
        r.execute(&cmd).result,
        "dry-run: would enforce 1 predicates at exec: deny-evil"
    );
    let marker = dir.path().join("ran");
    assert_eq!(run(&evil, &[marker.to_str().unwrap()], &marker), (false, true));
}

/// Cost of the exec hook: time for 400 execs of /bin/true (with a 1000-byte
/// argument) with no responder,
/// with an empty set, and with the worst case (64 argv-only predicates over
/// 32 needles, so every exec scans its argv for every needle). Run with
/// `cargo test -p weir-respond --test enforce -- --ignored --nocapture`.
#[test]
#[ignore]
fn exec_hook_cost() {
    fn execs(n: usize) -> Duration {
        // A 1000-byte argument: the whole scan window is searched.
        let long = "n".repeat(1000);
        let start = std::time::Instant::now();
        for _ in 0..n {
            let s = Proc::new("/bin/true").arg(&long).status().unwrap();
            assert!(s.success());
        }
        start.elapsed()
    }
    let cg = TestCgroup::new();
    let worst: Vec<serde_json::Value> = (0..64)
        .map(|i| serde_json::json!({"rule_id": format!("r{i}"), "argv_contains": [format!("never-seen-{}", i % 32)]}))
        .collect();
    let n = 400;
    let mut none = Duration::ZERO;
    let mut empty = Duration::ZERO;
    let mut full = Duration::ZERO;
    for _ in 0..3 {
        none += execs(n);
        let r = start(&cg, vec![]);
        empty += execs(n);
        assert!(enforce(&r, serde_json::Value::Array(worst.clone())).starts_with("ok: enforcing 64"));
        full += execs(n);
        drop(r);
    }
    let per = |d: Duration| d.as_micros() as f64 / (3 * n) as f64;
    println!(
        "exec /bin/true: no hook {:.0} us, empty set {:.0} us (x{:.3}), 64 argv predicates {:.0} us (x{:.3})",
        per(none),
        per(empty),
        per(empty) / per(none),
        per(full),
        per(full) / per(none)
    );
}
