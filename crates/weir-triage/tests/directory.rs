//! The people directory parser (outside input): good files, errors that name
//! the file, line and field, lookups by login name and uid, actor resolution
//! from ECS fields, and property tests that it never panics.

use std::path::Path;

use proptest::prelude::*;
use serde_json::json;
use weir_triage::{actor_of, Directory, DirectoryError};

const PEOPLE: &str = "\
- id: alice
  name: Alice Example
  email: alice@example.com
  slack_id: U0ALICE
  logins: [alice, adm-alice]
  uids: [1000]
- id: bob
  name: Bob
  logins: [bob]
  uids: [1001, 2001]
  oncall: true
";

fn parse(text: &str) -> Result<Directory, DirectoryError> {
    Directory::parse(text, Path::new("/etc/weir/people.yaml"))
}

#[test]
fn loads_people_and_finds_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("people.yaml");
    std::fs::write(&path, PEOPLE).unwrap();
    let directory = Directory::load(&path).unwrap();
    assert_eq!(directory.people().len(), 2);
    let alice = directory.get("alice").unwrap();
    assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
    assert_eq!(alice.slack_id.as_deref(), Some("U0ALICE"));
    assert!(!alice.oncall);
    assert_eq!(directory.person_for(Some("adm-alice"), None).unwrap().id, "alice");
    assert_eq!(directory.person_for(None, Some(2001)).unwrap().id, "bob");
    // The login name wins over the uid (uids differ between hosts).
    assert_eq!(directory.person_for(Some("alice"), Some(1001)).unwrap().id, "alice");
    // An unknown name falls back to the uid.
    assert_eq!(directory.person_for(Some("root"), Some(1001)).unwrap().id, "bob");
    assert!(directory.person_for(Some("root"), Some(0)).is_none());
    assert!(directory.person_for(None, None).is_none());
    let oncall: Vec<&str> = directory
        .people()
        .iter()
        .filter(|p| p.oncall)
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(oncall, ["bob"]);
}

#[test]
fn empty_file_is_an_empty_directory() {
    assert!(parse("").unwrap().people().is_empty());
    assert!(parse("# nobody yet\n").unwrap().people().is_empty());
}

#[test]
fn missing_file_names_the_path() {
    let err = Directory::load(Path::new("/nonexistent/people.yaml")).unwrap_err();
    assert!(
        err.to_string().starts_with("/nonexistent/people.yaml: cannot read"),
        "{err}"
    );
}

#[test]
fn unknown_field_names_file_line_and_field() {
    let text = "- id: alice\n  logins: [alice]\n  phone: 123\n";
    let err = parse(text).unwrap_err().to_string();
    assert!(err.starts_with("/etc/weir/people.yaml:3:"), "{err}");
    assert!(err.contains("phone"), "{err}");
}

#[test]
fn wrong_type_names_the_line() {
    let err = parse("- id: alice\n- id: bob\n  uids: [1001, lots]\n").unwrap_err();
    match err {
        DirectoryError::Parse { line, ref message, .. } => {
            assert_eq!(line, Some(3), "{message}");
        }
        other => panic!("expected a parse error, got {other}"),
    }
}

#[test]
fn not_a_list_is_refused() {
    let err = parse("people:\n  - id: alice\n").unwrap_err().to_string();
    assert!(err.contains("expected a list of people"), "{err}");
}

#[test]
fn duplicates_name_the_person_and_field() {
    let err = parse("- id: a\n  logins: [x]\n- id: b\n  logins: [x]\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "/etc/weir/people.yaml: person #2 (b): field `logins`: `x` is already person #1 (a)"
    );
    let err = parse("- id: a\n  uids: [5]\n- id: b\n  uids: [5]\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("field `uids`") && err.contains("person #2 (b)"), "{err}");
    let err = parse("- id: a\n- id: a\n").unwrap_err().to_string();
    assert!(err.contains("field `id`: duplicate of person #1"), "{err}");
    let err = parse("- id: 'has space'\n").unwrap_err().to_string();
    assert!(err.contains("field `id`"), "{err}");
    let err = parse("- name: nobody\n").unwrap_err().to_string();
    assert!(err.contains("id"), "{err}");
}

#[test]
fn actor_comes_from_login_fields() {
    let directory = parse(PEOPLE).unwrap();
    let fields = |v: serde_json::Value| v.as_object().unwrap().clone();
    let named = fields(json!({"user.login": "adm-alice", "user.login_id": 4242}));
    assert_eq!(actor_of(&directory, &named).unwrap().id, "alice");
    // The sensor puts the uid as text when it has no name: resolved by uid.
    let unnamed = fields(json!({"user.login": "2001", "user.login_id": 2001}));
    assert_eq!(actor_of(&directory, &unnamed).unwrap().id, "bob");
    // `user.name` (the effective user, e.g. root after sudo) is not the actor.
    let sudo = fields(json!({"user.name": "alice", "user.id": 0}));
    assert!(actor_of(&directory, &sudo).is_none());
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let _ = parse(&text);
    }

    #[test]
    fn arbitrary_yamlish_never_panics(
        lines in proptest::collection::vec(
            prop_oneof![
                Just("- id: a".to_string()),
                Just("  logins: [a, b]".to_string()),
                Just("  uids: [1, 2]".to_string()),
                Just("  oncall: true".to_string()),
                Just("  email: ~".to_string()),
                "[ -~]{0,20}",
            ],
            0..12,
        )
    ) {
        let _ = parse(&lines.join("\n"));
    }

    #[test]
    fn generated_directories_round_trip(
        people in proptest::collection::vec(("[a-z]{1,8}", proptest::collection::vec(0u32..50, 0..3)), 0..8)
    ) {
        let mut text = String::new();
        for (i, (id, uids)) in people.iter().enumerate() {
            text.push_str(&format!("- id: {id}{i}\n  logins: [{id}{i}]\n  uids: {uids:?}\n"));
        }
        let mut seen = std::collections::HashMap::new();
        let clash = people.iter().enumerate().any(|(i, (_, uids))| {
            uids.iter().any(|u| *seen.entry(*u).or_insert(i) != i)
        });
        match parse(&text) {
            Ok(directory) => {
                prop_assert!(!clash);
                for (i, (id, _)) in people.iter().enumerate() {
                    let login = format!("{id}{i}");
                    prop_assert_eq!(&directory.person_for(Some(&login), None).unwrap().id, &login);
                }
            }
            Err(e) => {
                prop_assert!(clash, "unexpected error {}", e);
                prop_assert!(e.to_string().contains("field `uids`"), "{}", e);
            }
        }
    }
}

#[test]
fn shipped_example_directory_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("people.example.yaml");
    let directory = Directory::load(&path).unwrap();
    assert_eq!(directory.person_for(Some("adm-alice"), None).unwrap().id, "alice");
    assert_eq!(directory.people().iter().filter(|p| p.oncall).count(), 1);
}
