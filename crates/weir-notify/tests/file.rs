//! JSON-lines file output: one parseable object per line, appended (existing
//! content kept), file created 0600, and an unwritable path counted as failed.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{config, sample_alert, FLUSH};
use weir_notify::{Kind, Notification, Notifier};

#[test]
fn appends_one_json_object_per_line_to_a_private_file() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("alerts.jsonl");
    let notifier = Notifier::start(config(&format!(
        "outputs:\n  - name: archive\n    type: file\n    path: {}\n",
        path.display()
    )))
    .unwrap();
    let first = sample_alert();
    let mut second = sample_alert();
    second.kind = Kind::Escalation;
    second.summary = "line one\nline two \"quoted\"".into();
    notifier.send(&first);
    notifier.send(&second);
    assert!(notifier.flush(FLUSH));

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(serde_json::from_str::<Notification>(lines[0]).unwrap(), first);
    assert_eq!(serde_json::from_str::<Notification>(lines[1]).unwrap(), second);
    assert!(text.ends_with('\n'));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // A second notifier appends to what is there.
    drop(notifier);
    let notifier = Notifier::start(config(&format!(
        "outputs:\n  - name: archive\n    type: file\n    path: {}\n",
        path.display()
    )))
    .unwrap();
    notifier.send(&first);
    assert!(notifier.flush(FLUSH));
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
    assert_eq!(notifier.stats()[0].sent, 1);
}

#[test]
fn unwritable_path_is_counted_as_failed() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("missing-dir").join("alerts.jsonl");
    let notifier = Notifier::start(config(&format!(
        "outputs:\n  - name: archive\n    type: file\n    path: {}\n    retries: 1\n    backoff: 10ms\n",
        path.display()
    )))
    .unwrap();
    notifier.send(&sample_alert());
    assert!(notifier.flush(FLUSH));
    let stats = &notifier.stats()[0];
    assert_eq!((stats.sent, stats.retried, stats.failed), (0, 1, 1));
    assert!(
        stats.last_error.as_deref().unwrap().contains("missing-dir"),
        "{:?}",
        stats.last_error
    );
}
