//! Turns a Sigma rule into an in-kernel exec predicate when the rule is that
//! simple: a process_creation rule whose condition is one selection (or all
//! selections ANDed), each a single map of tests on the executable (exact
//! path, or `endswith: /name`) and on the command line (`contains` one word,
//! or `contains|all` several). Such a rule can be enforced at exec by the
//! sensor without a network hop; any other rule says why it cannot.
//!
//! In-kernel comparison is byte-exact (Linux paths are case-sensitive),
//! where Sigma compares case-insensitively; the collector still applies the
//! rule's full Sigma semantics to what it receives.

use serde::Serialize;

use crate::condition::{Cond, Quant};
use crate::rule::{Detection, FieldCond, Logsource, Scalar};

/// Longest path or word the kernel side compares.
pub const MAX_PREDICATE_BYTES: usize = 255;
/// Most command-line words one predicate may require.
pub const MAX_ARGV_WORDS: usize = 4;

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
        if v.is_empty() || v.len() > MAX_PREDICATE_BYTES {
            return Err(format!("{field}: values must be 1 to {MAX_PREDICATE_BYTES} bytes"));
        }
    }
    match field {
        "Image" | "process.executable" => {
            let [value] = values.as_slice() else {
                return Err(format!("{field}: one value only (a list means any of them)"));
            };
            match mods.as_slice() {
                [] if value.starts_with('/') => set_once(&mut out.executable, value, field),
                [] => Err(format!("{field}: an exact executable must be an absolute path")),
                ["endswith"] => match value.strip_prefix('/') {
                    Some(name) if !name.is_empty() && !name.contains('/') => set_once(&mut out.name, name, field),
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
                "  sel:\n    CommandLine|contains: x\n  condition: sel",
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
}
