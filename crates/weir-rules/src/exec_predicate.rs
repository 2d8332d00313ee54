//! Turns a Sigma rule into an in-kernel exec predicate when the rule is that
//! simple: a process_creation rule whose condition is one selection (or all
//! selections ANDed), each a single map of tests on the executable (exact
//! path, or `endswith: /name`) and on the command line (`contains` one word,
//! or `contains|all` several). Such a rule can be enforced at exec by the
//! sensor without a network hop; any other rule says why it cannot.
//!
//! The limits of what hosts load (lengths, counts, protected names) are
//! defined here once: the host's payload parser, this derivation and the
//! collector's set builder all check the same ones, so a set the collector
//! sends is a set every host with the default protected list accepts.
//!
//! In-kernel comparison is byte-exact (Linux paths are case-sensitive),
//! where Sigma compares case-insensitively; the collector still applies the
//! rule's full Sigma semantics to what it receives.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::condition::{Cond, Quant};
use crate::rule::{Detection, FieldCond, Logsource, Scalar};

/// Longest executable path or name, in bytes (the kernel key is 256 with a NUL).
pub const MAX_PATH_BYTES: usize = 255;
/// Shortest command-line word: a shorter one would match nearly every exec.
pub const MIN_WORD_BYTES: usize = 2;
/// Longest command-line word, in bytes (the kernel's needle size).
pub const MAX_WORD_BYTES: usize = 64;
/// Most command-line words one predicate may require.
pub const MAX_ARGV_WORDS: usize = 4;
/// Most predicates in one set (bits of the kernel's u64 masks).
pub const MAX_PREDICATES: usize = 64;
/// Most distinct command-line words over a whole set (the kernel's needle slots).
pub const MAX_DISTINCT_WORDS: usize = 32;
/// Longest rule id a set may carry.
pub const MAX_RULE_ID_BYTES: usize = 256;
/// Process names no action touches unless a host's configuration replaces
/// them; a predicate naming one is never enforced.
pub const DEFAULT_PROTECTED_NAMES: &[&str] = &["systemd", "init", "sshd", "kubelet", "containerd", "dockerd", "weir"];

/// Checks an executable path a predicate may name.
pub fn check_executable(path: &str) -> Result<(), String> {
    if !path.starts_with('/') || path.len() > MAX_PATH_BYTES || path.contains('\0') {
        return Err(format!(
            "must be an absolute path of at most {MAX_PATH_BYTES} bytes without NUL"
        ));
    }
    if path.ends_with('/') {
        return Err("names a directory, not a file".into());
    }
    Ok(())
}

/// Checks an executable base name a predicate may name.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_PATH_BYTES || name.contains('/') || name.contains('\0') {
        return Err(format!(
            "must be a base name of 1 to {MAX_PATH_BYTES} bytes without '/' or NUL"
        ));
    }
    Ok(())
}

/// Checks a command-line word a predicate may require.
pub fn check_word(word: &str) -> Result<(), String> {
    if word.len() < MIN_WORD_BYTES || word.len() > MAX_WORD_BYTES || word.contains('\0') {
        return Err(format!(
            "{word:?}: each string must be {MIN_WORD_BYTES} to {MAX_WORD_BYTES} bytes without NUL"
        ));
    }
    Ok(())
}

/// Checks the id of the rule a predicate enforces.
pub fn check_rule_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_RULE_ID_BYTES {
        return Err(format!("must be 1 to {MAX_RULE_ID_BYTES} bytes"));
    }
    Ok(())
}

/// The protected name a predicate's executable or name targets, if any.
pub fn protected_target<'a>(
    executable: Option<&'a str>,
    name: Option<&'a str>,
    protected: &[impl AsRef<str>],
) -> Option<&'a str> {
    let base = executable.map(|e| e.rsplit('/').next().unwrap_or(e));
    [base, name]
        .into_iter()
        .flatten()
        .find(|n| protected.iter().any(|p| p.as_ref() == *n))
}

/// The set-level caps, filled predicate by predicate: a predicate that
/// would overflow them is turned away and the set stays as it was.
#[derive(Debug, Default)]
pub struct SetCaps {
    predicates: usize,
    words: BTreeSet<String>,
}

impl SetCaps {
    /// Counts a predicate needing `words` into the set, or says why it does not fit.
    pub fn admit(&mut self, words: &[String]) -> Result<(), String> {
        if self.predicates >= MAX_PREDICATES {
            return Err(format!(
                "the enforcement set is full ({MAX_PREDICATES} predicates); left out of it"
            ));
        }
        let new: BTreeSet<&String> = words.iter().filter(|w| !self.words.contains(*w)).collect();
        if self.words.len() + new.len() > MAX_DISTINCT_WORDS {
            return Err(format!(
                "its command-line words would take the set past {MAX_DISTINCT_WORDS} distinct words; left out of it"
            ));
        }
        self.words.extend(new.into_iter().cloned());
        self.predicates += 1;
        Ok(())
    }

    /// Predicates admitted so far.
    pub fn predicates(&self) -> usize {
        self.predicates
    }

    /// Distinct command-line words admitted so far.
    pub fn distinct_words(&self) -> usize {
        self.words.len()
    }
}

/// What the sensor checks at exec: every present part must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ExecPredicate {
    /// Full path of the new executable.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub executable: Option<String>,
    /// Base name of the new executable.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    /// Words that must all occur in the arguments.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub argv_contains: Vec<String>,
}

/// The rule's detection as an exec predicate, or why it is not one.
pub(crate) fn derive(logsource: &Logsource, detection: &Detection) -> Result<ExecPredicate, String> {
    if logsource.category.as_deref() != Some("process_creation") {
        return Err("only process_creation rules can be enforced at exec".into());
    }
    let names = anded_selections(&detection.condition, detection)?;
    let mut out = ExecPredicate::default();
    for name in names {
        let (_, selection) = detection
            .selections
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| format!("condition names unknown selection {name:?}"))?;
        let [tests] = selection.alternatives.as_slice() else {
            return Err(format!("selection {name:?} has alternatives (a list), not one map"));
        };
        for test in tests {
            add_test(&mut out, test)?;
        }
    }
    if out.executable.is_none() && out.name.is_none() && out.argv_contains.is_empty() {
        return Err("the selection tests nothing the kernel can check".into());
    }
    if out.executable.is_none() && out.name.is_none() {
        return Err("an enforced rule must name the executable (path or name), not only arguments".into());
    }
    if let Some(name) = protected_target(out.executable.as_deref(), out.name.as_deref(), DEFAULT_PROTECTED_NAMES) {
        return Err(format!(
            "{name:?} is a protected process name; hosts never enforce on it"
        ));
    }
    Ok(out)
}

/// Selection names the condition ANDs together, if that is all it does.
fn anded_selections(cond: &Cond, detection: &Detection) -> Result<Vec<String>, String> {
    match cond {
        Cond::Sel(name) => Ok(vec![name.clone()]),
        Cond::And(parts) => {
            let mut out = Vec::new();
            for p in parts {
                out.extend(anded_selections(p, detection)?);
            }
            Ok(out)
        }
        Cond::Of(Quant::All, pattern) => {
            let names: Vec<String> = detection
                .selections
                .iter()
                .map(|(n, _)| n.clone())
                .filter(|n| pattern == "them" || glob_prefix(pattern, n))
                .collect();
            if names.is_empty() {
                return Err(format!("`all of {pattern}` names no selection"));
            }
            Ok(names)
        }
        Cond::Of(Quant::AtLeast(_), _) => Err("`N of` conditions are not a single predicate".into()),
        Cond::Not(_) => Err("negations are not enforced in the kernel".into()),
        Cond::Or(_) => Err("`or` conditions are not enforced in the kernel".into()),
    }
}

fn glob_prefix(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

fn add_test(out: &mut ExecPredicate, test: &FieldCond) -> Result<(), String> {
    let field = test
        .field
        .as_deref()
        .ok_or("keyword selections are not enforced in the kernel")?;
    let mods: Vec<&str> = test.modifiers.iter().map(String::as_str).collect();
    let values: Vec<&str> = test
        .values
        .iter()
        .map(|v| match v {
            Scalar::Text(t) => Ok(t.as_str()),
            Scalar::Null => Err(format!("{field}: null values are not enforced in the kernel")),
        })
        .collect::<Result<_, _>>()?;
    for v in &values {
        if v.contains(['*', '?']) {
            return Err(format!("{field}: wildcards are not enforced in the kernel"));
        }
    }
    match field {
        "Image" | "process.executable" => {
            let [value] = values.as_slice() else {
                return Err(format!("{field}: one value only (a list means any of them)"));
            };
            match mods.as_slice() {
                [] if value.starts_with('/') => {
                    check_executable(value).map_err(|why| format!("{field}: {why}"))?;
                    set_once(&mut out.executable, value, field)
                }
                [] => Err(format!("{field}: an exact executable must be an absolute path")),
                ["endswith"] => match value.strip_prefix('/') {
                    Some(name) if !name.is_empty() && !name.contains('/') => {
                        check_name(name).map_err(|why| format!("{field}|endswith: {why}"))?;
                        set_once(&mut out.name, name, field)
                    }
                    _ => Err(format!(
                        "{field}|endswith: only `/name` (a base name) is enforced in the kernel"
                    )),
                },
                _ => Err(format!("{field}: modifiers {mods:?} are not enforced in the kernel")),
            }
        }
        "CommandLine" | "process.command_line" => {
            let all = match mods.as_slice() {
                ["contains"] if values.len() == 1 => true,
                ["contains", "all"] | ["all", "contains"] => true,
                ["contains"] => false,
                _ => false,
            };
            if !all {
                return Err(format!(
                    "{field}: only `contains` (one value) or `contains|all` is enforced in the kernel"
                ));
            }
            for v in values {
                if v.chars().any(char::is_whitespace) {
                    return Err(format!("{field}: {v:?} spans arguments; the kernel matches within one"));
                }
                check_word(v).map_err(|why| format!("{field}: {why}"))?;
                out.argv_contains.push(v.to_string());
            }
            if out.argv_contains.len() > MAX_ARGV_WORDS {
                return Err(format!("{field}: at most {MAX_ARGV_WORDS} words"));
            }
            Ok(())
        }
        other => Err(format!("field {other} is not checked at exec in the kernel")),
    }
}

fn set_once(slot: &mut Option<String>, value: &str, field: &str) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("{field}: tested twice"));
    }
    *slot = Some(value.to_string());
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::RuleSet;

    fn predicate(detection: &str) -> Result<super::ExecPredicate, String> {
        let text = format!(
            "title: t\nid: r1\nlogsource: {{product: linux, category: process_creation}}\ndetection:\n{detection}"
        );
        let set = RuleSet::from_yaml(&text, "t.yml").unwrap();
        set.rules()[0].exec_predicate.clone()
    }

    #[test]
    fn simple_rules_become_predicates() {
        let p = predicate("  sel:\n    Image|endswith: /nc\n    CommandLine|contains: '-e'\n  condition: sel").unwrap();
        assert_eq!(p.name.as_deref(), Some("nc"));
        assert_eq!(p.argv_contains, vec!["-e"]);
        let p = predicate(
            "  a:\n    Image: /tmp/x.sh\n  b:\n    CommandLine|contains|all: [one, two]\n  condition: a and b",
        )
        .unwrap();
        assert_eq!(p.executable.as_deref(), Some("/tmp/x.sh"));
        assert_eq!(p.argv_contains, vec!["one", "two"]);
        let p = predicate("  selection:\n    Image: /bin/x\n  condition: all of them").unwrap();
        assert_eq!(p.executable.as_deref(), Some("/bin/x"));
    }

    #[test]
    fn other_rules_say_why_not() {
        for (detection, why) in [
            (
                "  sel:\n    Image|endswith: /nc\n  f:\n    User: root\n  condition: sel and not f",
                "negation",
            ),
            (
                "  sel:\n    Image|endswith: [/nc, /ncat]\n  condition: sel",
                "one value",
            ),
            ("  sel:\n    Image|contains: nc\n  condition: sel", "modifiers"),
            ("  sel:\n    CommandLine|contains: [a, b]\n  condition: sel", "contains"),
            ("  sel:\n    CommandLine|contains: 'a b'\n  condition: sel", "spans"),
            (
                "  sel:\n    CommandLine|contains: '-x'\n  condition: sel",
                "name the executable",
            ),
            (
                "  sel:\n    - Image: /a\n    - Image: /b\n  condition: sel",
                "alternatives",
            ),
            ("  sel:\n    Image: '/tmp/*'\n  condition: sel", "wildcards"),
            ("  sel:\n    User: root\n  condition: sel", "not checked"),
        ] {
            let err = predicate(detection).unwrap_err();
            assert!(err.contains(why), "{detection}: {err}");
        }
        let text = "title: t\nid: r1\nlogsource: {product: linux, category: file_event}\ndetection:\n  sel:\n    TargetFilename: /etc/x\n  condition: sel";
        let set = RuleSet::from_yaml(text, "t.yml").unwrap();
        assert!(set.rules()[0]
            .exec_predicate
            .as_ref()
            .unwrap_err()
            .contains("process_creation"));
    }

    #[test]
    fn words_out_of_the_host_limits_are_refused_with_the_limits() {
        let long = "a".repeat(super::MAX_WORD_BYTES + 36);
        for word in ["x", long.as_str()] {
            let detection =
                format!("  sel:\n    Image|endswith: /nc\n    CommandLine|contains: '{word}'\n  condition: sel");
            let err = predicate(&detection).unwrap_err();
            assert!(
                err.contains("CommandLine") && err.contains("2 to 64 bytes"),
                "{word}: {err}"
            );
        }
        let at_limits = format!(
            "  sel:\n    Image|endswith: /nc\n    CommandLine|contains|all: ['-e', '{}']\n  condition: sel",
            "a".repeat(super::MAX_WORD_BYTES)
        );
        assert_eq!(predicate(&at_limits).unwrap().argv_contains.len(), 2);
        let long_path = format!(
            "  sel:\n    Image: '/{}'\n  condition: sel",
            "a".repeat(super::MAX_PATH_BYTES)
        );
        assert!(predicate(&long_path)
            .unwrap_err()
            .contains("absolute path of at most 255"));
        let long_name = format!(
            "  sel:\n    Image|endswith: '/{}'\n  condition: sel",
            "a".repeat(super::MAX_PATH_BYTES + 1)
        );
        assert!(predicate(&long_name).unwrap_err().contains("base name of 1 to 255"));
    }

    #[test]
    fn protected_names_are_refused() {
        for detection in [
            "  sel:\n    Image|endswith: /sshd\n  condition: sel",
            "  sel:\n    Image: /usr/sbin/sshd\n  condition: sel",
        ] {
            let err = predicate(detection).unwrap_err();
            assert!(
                err.contains("\"sshd\" is a protected process name"),
                "{detection}: {err}"
            );
        }
    }

    #[test]
    fn set_caps_turn_away_what_overflows_and_keep_the_rest() {
        let mut caps = super::SetCaps::default();
        let words = |range: std::ops::Range<usize>| range.map(|i| format!("w{i}")).collect::<Vec<_>>();
        caps.admit(&words(0..4)).unwrap();
        caps.admit(&words(0..4)).unwrap();
        for i in 1..8 {
            caps.admit(&words(i * 4..i * 4 + 4)).unwrap();
        }
        assert_eq!(caps.distinct_words(), super::MAX_DISTINCT_WORDS);
        let err = caps.admit(&words(32..33)).unwrap_err();
        assert!(err.contains("32 distinct words"), "{err}");
        assert_eq!((caps.predicates(), caps.distinct_words()), (9, 32));
        caps.admit(&words(3..5).into_iter().take(1).collect::<Vec<_>>())
            .unwrap();
        while caps.predicates() < super::MAX_PREDICATES {
            caps.admit(&[]).unwrap();
        }
        let err = caps.admit(&[]).unwrap_err();
        assert!(err.contains("full (64 predicates)"), "{err}");
        assert_eq!(caps.predicates(), super::MAX_PREDICATES);
    }
}
