//! File telemetry completeness against the real kernel: repeated writes are
//! folded in the kernel and every one is still counted, events carry the
//! syscall's result, a write through a symlink to a watched file is reported
//! with the file's real path, and paths too long or too deep to resolve are
//! reported flagged (and counted in the health report) instead of dropped.
//! Run as root.

mod common;
#[path = "common/helpers.rs"]
mod helpers;

use std::time::Duration;

use common::*;
use weir_event::event::Body;
use weir_event::{Event, File, FileOp};

#[test]
fn helper_entry() {
    if let Ok(action) = std::env::var("WEIR_HELPER") {
        helpers::run(&action, &helper_args());
    }
}

fn file_of(e: &Event) -> Option<&File> {
    match &e.body {
        Some(Body::File(f)) => Some(f),
        _ => None,
    }
}

fn watched_and_outside() -> (tempfile::TempDir, tempfile::TempDir, String, String) {
    let watched = tempfile::Builder::new().prefix("weir-watched-").tempdir().unwrap();
    let outside = tempfile::Builder::new().prefix("weir-outside-").tempdir().unwrap();
    let w = std::fs::canonicalize(watched.path())
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let o = std::fs::canonicalize(outside.path())
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    (watched, outside, w, o)
}

#[test]
fn repeated_writes_are_folded_and_all_counted() {
    let (_wd, _od, w, _o) = watched_and_outside();
    let mut c = config(&[&format!("{w}/")]);
    c.file_repeat_window = Duration::from_millis(300);
    c.loss_interval = Duration::from_millis(100);
    let h = Harness::start(c);
    let path = format!("{w}/hot");
    let (pid, n) = helper("open-loop", &[&path, "20000"]);
    let n: u64 = n.parse().unwrap();
    // Past the window and a few flush ticks: the tail count is flushed.
    std::thread::sleep(Duration::from_millis(900));
    let all = h.finish();
    let mine: Vec<&File> = all
        .iter()
        .filter(|e| pid_of(e) == pid)
        .filter_map(file_of)
        .filter(|f| f.path == path.as_bytes())
        .collect();
    let lost: u64 = all
        .iter()
        .filter_map(|e| match &e.body {
            Some(Body::Loss(l)) => Some(l.kernel_ring.get("file").copied().unwrap_or(0)),
            _ => None,
        })
        .sum();
    let accounted: u64 = mine.iter().map(|f| 1 + f.repeat_count).sum();
    eprintln!("{n} opens: {} events, {accounted} accounted, {lost} lost", mine.len());
    assert_eq!(lost, 0);
    assert_eq!(accounted, n, "every open is an event or part of a count");
    assert!(mine.len() < 100, "{} events for {n} identical opens", mine.len());
    assert!(mine.iter().any(|f| f.repeat_count > 0), "no event carried a count");
    assert!(mine.iter().all(|f| f.op == FileOp::Create as i32 && f.result == 0));
}

#[test]
fn file_events_carry_the_result() {
    let (_wd, _od, w, _o) = watched_and_outside();
    let h = Harness::start(config(&[&format!("{w}/")]));
    let missing = format!("{w}/missing");
    let made = format!("{w}/made");
    let (p1, r1) = helper("open-flags", &[&missing, "1"]);
    assert_eq!(r1, format!("-1 {}", libc::ENOENT));
    let (p2, _) = helper("open-flags", &[&made, "101"]);
    let (p3, r3) = helper("unlink", &[&format!("{w}/never")]);
    assert_eq!(r3, format!("-1 {}", libc::ENOENT));
    let (p4, r4) = helper("unlink", &[&made]);
    assert_eq!(r4, "0 0");
    let find = |pid: u32, op: FileOp, path: &str| {
        let e = h.wait_for(path, |e| {
            pid_of(e) == pid && file_of(e).is_some_and(|f| f.op == op as i32 && f.path == path.as_bytes())
        });
        file_of(&e).unwrap().result
    };
    assert_eq!(find(p1, FileOp::OpenWrite, &missing), -libc::ENOENT);
    assert_eq!(find(p2, FileOp::Create, &made), 0);
    assert_eq!(find(p3, FileOp::Unlink, &format!("{w}/never")), -libc::ENOENT);
    assert_eq!(find(p4, FileOp::Unlink, &made), 0);
}

#[test]
fn a_write_through_a_symlink_names_the_watched_target() {
    let (_wd, _od, w, o) = watched_and_outside();
    let target = format!("{w}/target");
    std::fs::write(&target, b"").unwrap();
    std::os::unix::fs::symlink(&target, format!("{o}/link")).unwrap();
    std::os::unix::fs::symlink(&w, format!("{o}/dirlink")).unwrap();
    let h = Harness::start(config(&[&format!("{w}/")]));
    let (p1, r1) = helper("open-flags", &[&format!("{o}/link"), "1"]);
    assert!(!r1.starts_with('-'), "open through the link failed: {r1}");
    let e = h.wait_for("open through a file symlink", |e| {
        pid_of(e) == p1 && file_of(e).is_some_and(|f| f.path == target.as_bytes())
    });
    let f = file_of(&e).unwrap();
    assert!(f.resolved);
    assert_eq!((f.op, f.result), (FileOp::OpenWrite as i32, 0));
    let made = format!("{w}/via-dir");
    let (p2, _) = helper("open-flags", &[&format!("{o}/dirlink/via-dir"), "101"]);
    let e = h.wait_for("create through a directory symlink", |e| {
        pid_of(e) == p2 && file_of(e).is_some_and(|f| f.path == made.as_bytes())
    });
    assert!(file_of(&e).unwrap().resolved);
    let (p3, _) = helper("open-flags", &[&format!("{o}/plain"), "101"]);
    let all = h.finish();
    assert!(
        !all.iter().any(|e| pid_of(e) == p3 && file_of(e).is_some()),
        "a file outside the watched prefix was reported"
    );

    // With the check turned off, only the name given counts.
    let mut c = config(&[&format!("{w}/")]);
    c.resolve_opened_files = false;
    let h = Harness::start(c);
    let (p4, r4) = helper("open-flags", &[&format!("{o}/link"), "1"]);
    assert!(!r4.starts_with('-'), "open through the link failed: {r4}");
    let (p5, _) = helper("open-flags", &[&target, "1"]);
    h.wait_for("direct open", |e| pid_of(e) == p5 && file_of(e).is_some());
    let all = h.finish();
    assert!(!all.iter().any(|e| pid_of(e) == p4 && file_of(e).is_some()));
}

#[test]
fn long_and_deep_paths_are_reported_flagged_and_counted() {
    let (_wd, _od, w, _o) = watched_and_outside();
    let seg = "s".repeat(60);
    let long_dir = format!("{w}/{seg}/{seg}/{seg}/{seg}/{seg}");
    std::fs::create_dir_all(&long_dir).unwrap();
    let deep_dir = format!("{w}{}", "/d".repeat(30));
    std::fs::create_dir_all(&deep_dir).unwrap();
    let h = Harness::start(config(&[&format!("{w}/")]));

    let long = format!("{long_dir}/file");
    assert!(long.len() > 255);
    let (p1, _) = helper("open-flags", &[&long, "101"]);
    let e = h.wait_for("long path", |e| pid_of(e) == p1 && file_of(e).is_some());
    let f = file_of(&e).unwrap();
    assert!(f.truncated);
    assert_eq!(f.path.len(), 255);
    assert!(long.as_bytes().starts_with(&f.path));

    let rel = unique("deep");
    let (p2, _) = helper("create-in", &[&deep_dir, &rel]);
    let e = h.wait_for("deep relative path", |e| pid_of(e) == p2 && file_of(e).is_some());
    let f = file_of(&e).unwrap();
    assert!(f.truncated);
    assert_eq!(f.path, rel.as_bytes());
    assert_eq!(f.op, FileOp::Create as i32);

    let all = h.finish();
    let Some(Body::Health(last)) = &all.last().unwrap().body else {
        panic!("last event is not health")
    };
    let counted: u64 = last
        .detail
        .split("file paths truncated or unresolved: ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no truncation count in {:?}", last.detail));
    assert!(counted >= 2, "{counted} truncated paths counted");
}

#[test]
fn dotfile_names_are_reported_exactly_and_dot_segments_still_normalised() {
    // The watched directory is itself a dot directory, so every name below
    // it holds "/." without any "." or ".." segment.
    let watched = tempfile::Builder::new().prefix(".weir-watched-").tempdir().unwrap();
    let w = std::fs::canonicalize(watched.path())
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    std::fs::create_dir(format!("{w}/.sub")).unwrap();
    let h = Harness::start(config(&[&format!("{w}/")]));

    let dotfile = format!("{w}/.sub/.dotfile");
    let (p1, r1) = helper("open-flags", &[&dotfile, "101"]);
    assert!(!r1.starts_with('-'), "creating the dotfile failed: {r1}");
    let e = h.wait_for("write-open of a dotfile", |e| {
        pid_of(e) == p1 && file_of(e).is_some_and(|f| f.path == dotfile.as_bytes())
    });
    assert!(!file_of(&e).unwrap().truncated);
    // Unlinks are judged on the name alone (no check of an opened file).
    let (p2, r2) = helper("unlink", &[&dotfile]);
    assert!(!r2.starts_with('-'), "unlinking the dotfile failed: {r2}");
    h.wait_for("unlink of a dotfile", |e| {
        pid_of(e) == p2 && file_of(e).is_some_and(|f| f.op == FileOp::Unlink as i32 && f.path == dotfile.as_bytes())
    });
    let dotdots = format!("{w}/..x");
    std::fs::write(&dotdots, b"").unwrap();
    let (p3, _) = helper("unlink", &[&dotdots]);
    h.wait_for("unlink of a name starting with two dots", |e| {
        pid_of(e) == p3 && file_of(e).is_some_and(|f| f.path == dotdots.as_bytes())
    });

    // "." and ".." segments and "//" next to dot names are still normalised.
    let target = format!("{w}/.gone");
    for (i, name) in [
        format!("{w}/./.sub/../.gone"),
        format!("{w}/.sub//..//.gone"),
        format!("/tmp/../{}/.gone", w.trim_start_matches('/')),
    ]
    .iter()
    .enumerate()
    {
        std::fs::write(&target, b"").unwrap();
        let (p, r) = helper("unlink", &[name]);
        assert!(!r.starts_with('-'), "unlinking {name} failed: {r}");
        let e = h.wait_for(&format!("unlink {i} through {name}"), |e| {
            pid_of(e) == p && file_of(e).is_some_and(|f| f.op == FileOp::Unlink as i32)
        });
        assert_eq!(
            String::from_utf8_lossy(&file_of(&e).unwrap().path),
            target,
            "from {name}"
        );
    }
    h.finish();
}
