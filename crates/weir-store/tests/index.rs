//! The SQLite event index on real files: inserts, dedup on replay, the
//! high-water mark, every filter, read-only access next to a writer, and
//! the rendering `weir query` prints.

mod common;

use common::event;
use weir_event::event::Body;
use weir_event::Event;
use weir_store::index::{table, EventIndex, EventQuery, EventStore, IndexError};

fn filled(dir: &std::path::Path) -> (EventIndex, Vec<Event>) {
    let mut index = EventIndex::open(&dir.join("index.db")).unwrap();
    let events: Vec<Event> = (0..60)
        .map(|seq| event("web-1", seq))
        .chain((0..30).map(|s| event("db-1", s)))
        .collect();
    let rows: Vec<(u64, &Event)> = events.iter().enumerate().map(|(i, e)| (i as u64 / 10, e)).collect();
    index.insert_through(&rows, 8).unwrap();
    (index, events)
}

fn q() -> EventQuery {
    EventQuery {
        limit: Some(1000),
        ..Default::default()
    }
}

#[test]
fn replaying_never_stores_twice_and_high_water_only_moves_forward() {
    let dir = tempfile::tempdir().unwrap();
    let (mut index, events) = filled(dir.path());
    assert_eq!(index.count().unwrap(), 90);
    assert_eq!(index.high_water().unwrap(), Some(8));
    let rows: Vec<(u64, &Event)> = events.iter().map(|e| (0, e)).collect();
    index.insert(&rows).unwrap();
    assert_eq!(index.count().unwrap(), 90);
    index.set_high_water(3).unwrap();
    assert_eq!(index.high_water().unwrap(), Some(8));
    index.set_high_water(12).unwrap();
    assert_eq!(index.high_water().unwrap(), Some(12));
    // Through the trait, as the collector holds it.
    let store: &mut dyn EventStore = &mut index;
    assert_eq!(store.count().unwrap(), 90);
}

#[test]
fn filters_select_exactly_the_matching_events_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let (index, events) = filled(dir.path());
    let all = index.query(&q()).unwrap();
    assert_eq!(all.len(), 90);
    assert!(all.windows(2).all(|w| w[0].time_unix_ns >= w[1].time_unix_ns));
    assert_eq!(index.query(&EventQuery { limit: Some(5), ..q() }).unwrap().len(), 5);

    let by = |query: EventQuery| -> Vec<(String, u64)> {
        let mut v: Vec<_> = index
            .query(&query)
            .unwrap()
            .into_iter()
            .map(|e| (e.host_id, e.seq))
            .collect();
        v.sort();
        v
    };
    let expect = |pred: &dyn Fn(&Event) -> bool| -> Vec<(String, u64)> {
        let mut v: Vec<_> = events
            .iter()
            .filter(|e| pred(e))
            .map(|e| (e.host_id.clone(), e.seq))
            .collect();
        v.sort();
        v
    };
    let host = by(EventQuery {
        host: Some("db-1".into()),
        ..q()
    });
    assert_eq!(host, expect(&|e| e.host_id == "db-1"));
    assert_eq!(
        by(EventQuery {
            host: Some("web-1".into()),
            seq: Some(42),
            ..q()
        }),
        vec![("web-1".to_string(), 42)],
        "host and sequence name one event"
    );
    assert_eq!(
        by(EventQuery { seq: Some(7), ..q() }),
        expect(&|e| e.seq == 7),
        "a sequence number alone matches it on every host"
    );
    assert_eq!(
        by(EventQuery {
            host: Some("db-1.example".into()),
            ..q()
        }),
        host,
        "host name works too"
    );
    assert_eq!(
        by(EventQuery {
            kind: Some("exec".into()),
            ..q()
        }),
        expect(&|e| matches!(e.body, Some(Body::Exec(_))))
    );
    let root = expect(&|e| e.process.as_ref().unwrap().uid == 0);
    assert_eq!(
        by(EventQuery {
            user: Some("root".into()),
            ..q()
        }),
        root
    );
    assert_eq!(
        by(EventQuery {
            user: Some("0".into()),
            ..q()
        }),
        root
    );
    assert_eq!(
        by(EventQuery {
            user: Some("alice".into()),
            ..q()
        })
        .len(),
        90,
        "login user behind sudo"
    );
    assert_eq!(
        by(EventQuery {
            exe: Some("/usr/bin/python3".into()),
            ..q()
        }),
        expect(&|e| e.process.as_ref().unwrap().executable == "/usr/bin/python3")
    );
    assert_eq!(
        by(EventQuery {
            exe: Some("python3".into()),
            ..q()
        }),
        expect(&|e| e.process.as_ref().unwrap().executable == "/usr/bin/python3")
    );
    assert_eq!(
        by(EventQuery {
            contains: Some("CRON.D/JOB-4".into()),
            ..q()
        }),
        expect(&|e| matches!(&e.body, Some(Body::File(f)) if f.path.starts_with(b"/etc/cron.d/job-4")))
    );
    assert_eq!(
        by(EventQuery {
            contains: Some("93.184.216.34".into()),
            ..q()
        }),
        expect(&|e| matches!(e.body, Some(Body::Network(_))))
    );
    let t0 = events[10].time_unix_ns;
    let t1 = events[20].time_unix_ns;
    assert_eq!(
        by(EventQuery {
            since_unix_ns: Some(t0),
            until_unix_ns: Some(t1),
            ..q()
        }),
        expect(&|e| e.time_unix_ns >= t0 && e.time_unix_ns <= t1)
    );
    // Filters combine.
    assert_eq!(
        by(EventQuery {
            host: Some("web-1".into()),
            kind: Some("network".into()),
            user: Some("root".into()),
            ..q()
        }),
        expect(&|e| e.host_id == "web-1"
            && matches!(e.body, Some(Body::Network(_)))
            && e.process.as_ref().unwrap().uid == 0)
    );
}

#[test]
fn the_default_limit_is_100_newest() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = EventIndex::open(&dir.path().join("index.db")).unwrap();
    let events: Vec<Event> = (0..150).map(|seq| event("h", seq)).collect();
    let rows: Vec<(u64, &Event)> = events.iter().map(|e| (0, e)).collect();
    index.insert(&rows).unwrap();
    let found = index.query(&EventQuery::default()).unwrap();
    assert_eq!(found.len(), 100);
    assert_eq!((found[0].seq, found[99].seq), (149, 50));
}

#[test]
fn like_wildcards_in_search_text_are_literal() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = EventIndex::open(&dir.path().join("index.db")).unwrap();
    let mut plain = event("h", 0);
    plain.process.as_mut().unwrap().args = vec![b"echo".to_vec(), b"abcdef".to_vec()];
    let mut percent = event("h", 3);
    percent.process.as_mut().unwrap().args = vec![b"echo".to_vec(), b"100%_done\\x".to_vec()];
    index.insert(&[(0, &plain), (1, &percent)]).unwrap();
    let hits = |text: &str| {
        index
            .query(&EventQuery {
                contains: Some(text.into()),
                ..q()
            })
            .unwrap()
            .into_iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>()
    };
    assert_eq!(hits("%"), vec![3]);
    assert_eq!(hits("_"), vec![3]);
    assert_eq!(hits("0%_d"), vec![3]);
    assert_eq!(hits("done\\x"), vec![3]);
    assert_eq!(hits("b_d"), Vec::<u64>::new());
    assert_eq!(hits("BCD"), vec![0]);
    // Not only ASCII case folds.
    assert_eq!(hits("100%_DONE"), vec![3]);
    // Key names are not content; numbers are.
    assert_eq!(hits("entity_id"), Vec::<u64>::new());
    assert_eq!(hits("1003"), vec![3]);
}

#[test]
fn contains_reaches_rendered_values_and_folds_unicode_case() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = EventIndex::open(&dir.path().join("index.db")).unwrap();
    let mut e = event("h", 0);
    e.process.as_mut().unwrap().args = vec![b"echo".to_vec(), "Ärger-Öl".as_bytes().to_vec()];
    let net = event("h", 2);
    index.insert(&[(0, &e), (0, &net)]).unwrap();
    let hits = |text: &str| {
        index
            .query(&EventQuery {
                contains: Some(text.into()),
                ..q()
            })
            .unwrap()
            .into_iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>()
    };
    assert_eq!(hits("ärger-öl"), vec![0]);
    // event.action and network.direction exist only in the rendering.
    assert_eq!(hits("egress"), vec![2]);
    assert_eq!(hits("sudo -s"), vec![2, 0]);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

    /// Query parameters come from URLs: any text is a valid (maybe empty) search.
    #[test]
    fn any_query_text_is_safe(host in "\\PC{0,12}", kind in "\\PC{0,8}", user in "[0-9a-z%_\\\\']{0,8}",
                              exe in "\\PC{0,12}", contains in "\\PC{0,12}", limit in 0usize..5,
                              since in proptest::option::of(proptest::num::u64::ANY)) {
        let dir = tempfile::tempdir().unwrap();
        let mut index = EventIndex::open(&dir.path().join("index.db")).unwrap();
        let events: Vec<Event> = (0..6).map(|s| event("h", s)).collect();
        let rows: Vec<(u64, &Event)> = events.iter().map(|e| (0, e)).collect();
        index.insert(&rows).unwrap();
        let query = EventQuery {
            since_unix_ns: since,
            host: Some(host),
            kind: Some(kind),
            user: Some(user),
            exe: Some(exe),
            contains: Some(contains),
            limit: Some(limit),
            ..Default::default()
        };
        let found = index.query(&query).unwrap();
        proptest::prop_assert!(found.len() <= limit);
    }
}

#[test]
fn a_reader_sees_committed_rows_while_the_writer_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.db");
    let mut writer = EventIndex::open(&path).unwrap();
    let reader = EventIndex::open_read_only(&path).unwrap();
    assert_eq!(reader.count().unwrap(), 0);
    let e = event("h", 0);
    writer.insert_through(&[(4, &e)], 4).unwrap();
    assert_eq!(reader.count().unwrap(), 1);
    assert_eq!(reader.high_water().unwrap(), Some(4));
    let found = reader.query(&q()).unwrap();
    assert_eq!(found[0].leaf, 4);
    assert_eq!(found[0].ecs["process.executable"], "/usr/bin/curl");
    assert_eq!(found[0].ecs["event.sequence"], 0);
}

#[test]
fn a_missing_index_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = EventIndex::open_read_only(&dir.path().join("index.db")).err().unwrap();
    assert!(matches!(err, IndexError::Missing(_)));
    assert!(err.to_string().contains("index.db"));
}

#[test]
fn extreme_values_are_stored_without_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = EventIndex::open(&dir.path().join("index.db")).unwrap();
    let e = Event {
        seq: u64::MAX,
        time_unix_ns: u64::MAX,
        host_id: "h".into(),
        ..Default::default()
    };
    index.insert(&[(u64::MAX >> 1, &e)]).unwrap();
    let found = index.query(&q()).unwrap();
    assert_eq!(found[0].seq, u64::MAX);
    assert_eq!(found[0].kind, "unknown");
}

#[test]
fn the_table_and_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (index, _) = filled(dir.path());
    let events = index
        .query(&EventQuery {
            limit: Some(3),
            host: Some("web-1".into()),
            ..q()
        })
        .unwrap();
    let text = table::render(&events, Some(80));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[0].starts_with("TIME (UTC)"));
    assert!(lines.iter().all(|l| l.chars().count() <= 80));
    // seq 59 (newest) is a connect, seq 58 a file write, seq 57 an exec.
    assert!(
        lines[1].contains("web-1.example") && lines[1].contains("network"),
        "{}",
        lines[1]
    );
    assert!(lines[1].ends_with('…'), "cut to 80 columns: {}", lines[1]);
    let wide = table::render(&events, None);
    assert!(wide.contains("connect 93.184.216.34:443 by /bin/bash"), "{wide}");
    assert!(wide.contains("open_write /etc/cron.d/job-58"), "{wide}");
    assert!(
        wide.contains("alice>root  1058  open_write"),
        "login user behind the effective user: {wide}"
    );
    assert!(wide.contains("1057  curl -s https://example.com/57"), "{wide}");
    let json: serde_json::Value = serde_json::from_str(&table::json_line(&events[0])).unwrap();
    assert_eq!(json["evidence.leaf"], events[0].leaf);
    assert_eq!(json["host.id"], "web-1");
}

#[test]
fn scan_since_visits_history_oldest_first_from_the_given_time() {
    let dir = tempfile::tempdir().unwrap();
    let (index, events) = filled(dir.path());
    let mut times = Vec::new();
    let all = index.scan_since(0, |e| times.push(e.time_unix_ns)).unwrap();
    assert_eq!(all, 90);
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    let cut = {
        let mut sorted: Vec<u64> = events.iter().map(|e| e.time_unix_ns).collect();
        sorted.sort_unstable();
        sorted[45]
    };
    let expected = events.iter().filter(|e| e.time_unix_ns >= cut).count() as u64;
    let mut seen = 0;
    assert_eq!(
        index
            .scan_since(cut, |e| {
                assert!(e.time_unix_ns >= cut);
                seen += 1;
            })
            .unwrap(),
        expected
    );
    assert_eq!(seen, expected);
}
