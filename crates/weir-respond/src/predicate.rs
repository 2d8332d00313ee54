//! Parses and checks the enforce_set payload: a JSON list of exec predicates
//! that the kernel side matches at exec. The bounds here are the kernel's
//! (map sizes, key lengths, argv scan window), so a set that passes fits.
//! The limits and checks are weir_rules::exec_predicate's, the same ones the
//! collector applies when it builds the set.

use std::collections::HashSet;

use serde::Deserialize;
use weir_rules::exec_predicate as limits;

/// Most predicates in one set (bits of the kernel's u64 masks).
pub const MAX_PREDICATES: usize = limits::MAX_PREDICATES;
/// Most distinct argv substrings over the whole set.
pub const MAX_NEEDLES: usize = limits::MAX_DISTINCT_WORDS;
/// Longest argv substring, in bytes.
pub const MAX_NEEDLE_LEN: usize = limits::MAX_WORD_BYTES;
/// Shortest argv substring: a shorter one would match nearly every exec.
pub const MIN_NEEDLE_LEN: usize = limits::MIN_WORD_BYTES;
/// Longest executable path or name, in bytes (the kernel key is 256 with a NUL).
pub const MAX_PATH_LEN: usize = limits::MAX_PATH_BYTES;
/// Bytes of the argument area the kernel searches for argv substrings.
pub const ARGV_WINDOW: usize = 1024;
/// Longest rule id.
pub const MAX_RULE_ID_LEN: usize = limits::MAX_RULE_ID_BYTES;

/// One exec predicate: every given condition must hold.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Predicate {
    pub rule_id: String,
    /// Absolute path of the executable: matches the path given to execve
    /// (for a script, the script) or the same file (device and inode) under
    /// any other name.
    #[serde(default)]
    pub executable: Option<String>,
    /// Base name of the file run or of the path given to execve.
    #[serde(default)]
    pub name: Option<String>,
    /// Substrings that must all occur in one argument each, within the first
    /// ARGV_WINDOW bytes of the argument area.
    #[serde(default)]
    pub argv_contains: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PredicateError {
    #[error("payload: not a JSON list of predicates: {0}")]
    Json(String),
    #[error("payload: {0} predicates; at most {MAX_PREDICATES}")]
    TooMany(usize),
    #[error("payload: {0} distinct argv_contains strings; at most {MAX_NEEDLES}")]
    TooManyNeedles(usize),
    #[error("predicate {index} ({rule_id:?}): field {field}: {why}")]
    Field {
        index: usize,
        rule_id: String,
        field: &'static str,
        why: String,
    },
}

/// Parses and checks a payload; `protected` names may not be targeted.
pub fn parse_predicates(payload: &str, protected: &[String]) -> Result<Vec<Predicate>, PredicateError> {
    let list: Vec<Predicate> = if payload.trim().is_empty() {
        Vec::new()
    } else {
        serde_json::from_str(payload).map_err(|e| PredicateError::Json(e.to_string()))?
    };
    if list.len() > MAX_PREDICATES {
        return Err(PredicateError::TooMany(list.len()));
    }
    let mut needles = HashSet::new();
    for (index, p) in list.iter().enumerate() {
        let bad = |field: &'static str, why: String| PredicateError::Field {
            index,
            rule_id: p.rule_id.clone(),
            field,
            why,
        };
        limits::check_rule_id(&p.rule_id).map_err(|why| bad("rule_id", why))?;
        if p.executable.is_none() && p.name.is_none() && p.argv_contains.is_empty() {
            return Err(bad(
                "executable",
                "a predicate needs executable, name or argv_contains".into(),
            ));
        }
        if let Some(exe) = &p.executable {
            limits::check_executable(exe).map_err(|why| bad("executable", why))?;
            if let Some(base) = limits::protected_target(Some(exe), None, protected) {
                return Err(bad("executable", format!("{base:?} is a protected process name")));
            }
        }
        if let Some(name) = &p.name {
            limits::check_name(name).map_err(|why| bad("name", why))?;
            if limits::protected_target(None, Some(name), protected).is_some() {
                return Err(bad("name", format!("{name:?} is a protected process name")));
            }
        }
        for n in &p.argv_contains {
            limits::check_word(n).map_err(|why| bad("argv_contains", why))?;
            needles.insert(n.clone());
        }
    }
    if needles.len() > MAX_NEEDLES {
        return Err(PredicateError::TooManyNeedles(needles.len()));
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn protected() -> Vec<String> {
        vec!["sshd".into(), "systemd".into()]
    }

    #[test]
    fn parses_a_set() {
        let set = parse_predicates(
            r#"[{"rule_id":"a","executable":"/usr/bin/nc"},{"rule_id":"b","name":"curl","argv_contains":["-d","@/etc/shadow"]}]"#,
            &protected(),
        )
        .unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(set[0].executable.as_deref(), Some("/usr/bin/nc"));
        assert_eq!(set[1].argv_contains, vec!["-d", "@/etc/shadow"]);
        assert_eq!(parse_predicates("", &protected()).unwrap(), vec![]);
        assert_eq!(parse_predicates("[]", &protected()).unwrap(), vec![]);
    }

    #[test]
    fn errors_name_the_predicate_and_field() {
        let e = parse_predicates(r#"[{"rule_id":"x","name":"sshd"}]"#, &protected()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "predicate 0 (\"x\"): field name: \"sshd\" is a protected process name"
        );
        let e = parse_predicates(r#"[{"rule_id":"x","executable":"/usr/sbin/sshd"}]"#, &protected()).unwrap_err();
        assert!(e.to_string().contains("field executable"), "{e}");
        let e = parse_predicates(r#"[{"rule_id":"x"}]"#, &protected()).unwrap_err();
        assert!(e.to_string().contains("needs executable, name or argv_contains"), "{e}");
        let e = parse_predicates(r#"[{"rule_id":"x","executable":"bin/nc"}]"#, &protected()).unwrap_err();
        assert!(e.to_string().contains("absolute path"), "{e}");
        let e = parse_predicates(r#"[{"rule_id":"x","argv_contains":["a"]}]"#, &protected()).unwrap_err();
        assert!(e.to_string().contains("argv_contains"), "{e}");
        let e = parse_predicates(r#"[{"rule_id":"x","nmae":"a"}]"#, &protected()).unwrap_err();
        assert!(e.to_string().contains("nmae"), "{e}");
        let long = format!(r#"[{{"rule_id":"x","executable":"/{}"}}]"#, "a".repeat(MAX_PATH_LEN));
        assert!(parse_predicates(&long, &protected()).is_err());
    }

    #[test]
    fn enforces_set_bounds() {
        let many: Vec<String> = (0..MAX_PREDICATES + 1)
            .map(|i| format!(r#"{{"rule_id":"r{i}","name":"n{i}"}}"#))
            .collect();
        let e = parse_predicates(&format!("[{}]", many.join(",")), &protected()).unwrap_err();
        assert_eq!(e, PredicateError::TooMany(MAX_PREDICATES + 1));
        let needles: Vec<String> = (0..MAX_NEEDLES + 1).map(|i| format!(r#""needle{i}""#)).collect();
        let payload = format!(r#"[{{"rule_id":"r","argv_contains":[{}]}}]"#, needles.join(","));
        assert_eq!(
            parse_predicates(&payload, &protected()).unwrap_err(),
            PredicateError::TooManyNeedles(MAX_NEEDLES + 1)
        );
    }

    proptest! {
        #[test]
        fn never_panics_on_text(s in ".{0,200}") {
            if let Err(e) = parse_predicates(&s, &protected()) {
                prop_assert!(!e.to_string().is_empty());
            }
        }

        #[test]
        fn accepted_sets_respect_every_bound(
            exe in proptest::option::of("/[a-z/]{0,300}"),
            name in proptest::option::of("[a-z/]{0,10}"),
            argv in proptest::collection::vec(".{0,80}", 0..4),
        ) {
            let p = serde_json::json!([{"rule_id": "r", "executable": exe, "name": name, "argv_contains": argv}]);
            if let Ok(set) = parse_predicates(&p.to_string(), &protected()) {
                let p = &set[0];
                prop_assert!(p.executable.is_some() || p.name.is_some() || !p.argv_contains.is_empty());
                prop_assert!(p.executable.as_ref().is_none_or(|e| e.len() <= MAX_PATH_LEN && e.starts_with('/')));
                prop_assert!(p.name.as_ref().is_none_or(|n| !n.contains('/') && !n.is_empty()));
                prop_assert!(p.argv_contains.iter().all(|n| n.len() >= MIN_NEEDLE_LEN && n.len() <= MAX_NEEDLE_LEN));
            }
        }
    }
}
