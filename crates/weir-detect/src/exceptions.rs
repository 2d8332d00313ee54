//! Exceptions: known-good activity a rule must not alert on, kept in their
//! own YAML files (not in the rule), so they survive rule updates. An
//! exception names the rule by id and the field values of the activity to
//! let through; every field listed must equal the event's (a list means any
//! of its values).
//!
//! ```yaml
//! exceptions:
//!   - rule: 7c1e2d3f-4a5b-4c6d-8e9f-0a1b2c3d4e04
//!     reason: the backup agent rewrites authorized_keys from the vault
//!     author: alice
//!     where:
//!       process.executable: /opt/backup/bin/agent
//!       host.name: [db-1, db-2]
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

/// Why an exceptions file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ExceptionError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: exception {index}: {message}")]
    Invalid {
        path: PathBuf,
        index: usize,
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    exceptions: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    rule: String,
    reason: String,
    author: String,
    #[serde(rename = "where")]
    conditions: HashMap<String, OneOrMany>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(Scalar),
    Many(Vec<Scalar>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Number(serde_json::Number),
    Bool(bool),
}

impl Scalar {
    fn into_string(self) -> String {
        match self {
            Scalar::Text(s) => s,
            Scalar::Number(n) => n.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// One exception as loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Exception {
    pub rule_id: String,
    pub reason: String,
    pub author: String,
    /// Field -> accepted values (the event's value must be one of them).
    pub conditions: Vec<(String, Vec<String>)>,
    /// `file:index` it came from.
    pub origin: String,
}

impl Exception {
    fn covers(&self, ecs: &Map<String, Value>) -> bool {
        self.conditions.iter().all(|(field, accepted)| {
            let Some(value) = ecs.get(field) else { return false };
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return false,
            };
            accepted.contains(&text)
        })
    }
}

/// All loaded exceptions, by rule id.
#[derive(Debug, Default, Clone)]
pub struct Exceptions {
    by_rule: HashMap<String, Vec<Exception>>,
}

impl Exceptions {
    /// Parses one exceptions file's text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Vec<Exception>, ExceptionError> {
        let file: File = serde_yaml::from_str(text).map_err(|e| ExceptionError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let mut out = Vec::with_capacity(file.exceptions.len());
        for (index, entry) in file.exceptions.into_iter().enumerate() {
            let invalid = |message: &str| ExceptionError::Invalid {
                path: path.to_path_buf(),
                index,
                message: message.to_string(),
            };
            if entry.rule.trim().is_empty() {
                return Err(invalid("`rule` (the rule id) is empty"));
            }
            if entry.reason.trim().is_empty() || entry.author.trim().is_empty() {
                return Err(invalid("an exception needs a `reason` and an `author`"));
            }
            if entry.conditions.is_empty() {
                return Err(invalid(
                    "`where` is empty: an exception must say which activity it lets through",
                ));
            }
            let mut conditions: Vec<(String, Vec<String>)> = entry
                .conditions
                .into_iter()
                .map(|(field, values)| {
                    let values = match values {
                        OneOrMany::One(v) => vec![v.into_string()],
                        OneOrMany::Many(vs) => vs.into_iter().map(Scalar::into_string).collect(),
                    };
                    (field, values)
                })
                .collect();
            if conditions.iter().any(|(_, values)| values.is_empty()) {
                return Err(invalid("a `where` field has an empty list of values"));
            }
            conditions.sort();
            out.push(Exception {
                rule_id: entry.rule,
                reason: entry.reason,
                author: entry.author,
                conditions,
                origin: format!("{}:{index}", path.display()),
            });
        }
        Ok(out)
    }

    /// Loads every `*.yml`/`*.yaml` file under the given files or directories.
    pub fn load(paths: &[PathBuf]) -> Result<Exceptions, ExceptionError> {
        let mut all = Exceptions::default();
        for path in paths {
            let (files, unlisted) = weir_rules::yaml_files(path);
            if let Some((dir, source)) = unlisted.into_iter().next() {
                return Err(ExceptionError::Io { path: dir, source });
            }
            for file in files {
                let text = std::fs::read_to_string(&file).map_err(|source| ExceptionError::Io {
                    path: file.clone(),
                    source,
                })?;
                for e in Exceptions::parse(&text, &file)? {
                    all.by_rule.entry(e.rule_id.clone()).or_default().push(e);
                }
            }
        }
        Ok(all)
    }

    /// What the files under `paths` look like now (names, sizes, times):
    /// when it changes, the exceptions are reloaded.
    pub fn signature(paths: &[PathBuf]) -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
        let mut out = Vec::new();
        for path in paths {
            for file in weir_rules::yaml_files(path).0 {
                let meta = std::fs::metadata(&file).ok();
                let len = meta.as_ref().map_or(0, |m| m.len());
                out.push((file, len, meta.and_then(|m| m.modified().ok())));
            }
        }
        out
    }

    /// Every loaded exception.
    pub fn all(&self) -> impl Iterator<Item = &Exception> {
        self.by_rule.values().flatten()
    }

    /// Appends one exception to a YAML file (created if absent), after
    /// checking that the whole file still parses; written to a temporary
    /// file and renamed, so a failure never leaves a broken file.
    pub fn append(path: &Path, e: &Exception) -> Result<(), ExceptionError> {
        let io = |source| ExceptionError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "exceptions:\n".to_string(),
            Err(e) => return Err(io(e)),
        };
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let quote = |v: &str| serde_json::to_string(v).unwrap_or_default();
        text.push_str(&format!(
            "  - rule: {}\n    reason: {}\n    author: {}\n    where:\n",
            quote(&e.rule_id),
            quote(&e.reason),
            quote(&e.author)
        ));
        for (field, values) in &e.conditions {
            let values: Vec<String> = values.iter().map(|v| quote(v)).collect();
            text.push_str(&format!("      {}: [{}]\n", quote(field), values.join(", ")));
        }
        let parsed = Exceptions::parse(&text, path)?;
        if !parsed
            .iter()
            .any(|p| p.rule_id == e.rule_id && p.conditions == e.conditions)
        {
            return Err(ExceptionError::Parse {
                path: path.to_path_buf(),
                message: "the new exception did not read back".into(),
            });
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("yml.tmp");
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// The exception that lets this event through for this rule, if any.
    pub fn covering(&self, rule_id: &str, ecs: &Map<String, Value>) -> Option<&Exception> {
        self.by_rule.get(rule_id)?.iter().find(|e| e.covers(ecs))
    }

    pub fn len(&self) -> usize {
        self.by_rule.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_rule.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "
exceptions:
  - rule: r1
    reason: backup agent
    author: alice
    where:
      process.executable: /opt/backup/agent
      host.name: [db-1, db-2]
";

    fn ecs(exe: &str, host: &str) -> Map<String, Value> {
        serde_json::json!({"process.executable": exe, "host.name": host})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn every_field_must_match_one_of_its_values() {
        let list = Exceptions::parse(FILE, Path::new("x.yml")).unwrap();
        let mut all = Exceptions::default();
        all.by_rule.insert("r1".into(), list);
        assert!(all.covering("r1", &ecs("/opt/backup/agent", "db-2")).is_some());
        assert!(all.covering("r1", &ecs("/opt/backup/agent", "web-1")).is_none());
        assert!(all.covering("r1", &ecs("/usr/bin/bash", "db-1")).is_none());
        assert!(
            all.covering("r2", &ecs("/opt/backup/agent", "db-1")).is_none(),
            "other rules unaffected"
        );
    }

    #[test]
    fn bad_files_say_which_file_and_entry() {
        let no_reason = "exceptions:\n  - rule: r1\n    reason: ''\n    author: a\n    where: {a: b}\n";
        let e = Exceptions::parse(no_reason, Path::new("ex/a.yml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ex/a.yml") && e.contains("exception 0") && e.contains("reason"),
            "{e}"
        );
        let empty_where = "exceptions:\n  - rule: r1\n    reason: r\n    author: a\n    where: {}\n";
        assert!(Exceptions::parse(empty_where, Path::new("b.yml"))
            .unwrap_err()
            .to_string()
            .contains("where"));
        let typo = "exceptions:\n  - rule: r1\n    reason: r\n    author: a\n    wher: {a: b}\n";
        let e = Exceptions::parse(typo, Path::new("c.yml")).unwrap_err().to_string();
        assert!(e.contains("c.yml") && e.contains("line"), "{e}");
    }

    #[test]
    fn loads_yaml_files_of_nested_directories_and_names_a_missing_path() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("team").join("db");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::write(nested.join("backup.yaml"), FILE).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not yaml: [").unwrap();
        let loaded = Exceptions::load(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(loaded.len(), 1);
        assert!(loaded.covering("r1", &ecs("/opt/backup/agent", "db-2")).is_some());
        let signature = Exceptions::signature(&[dir.path().to_path_buf()]);
        assert_eq!(signature.len(), 1);
        assert_eq!(signature[0].0, nested.join("backup.yaml"));

        let missing = dir.path().join("absent");
        let e = Exceptions::load(std::slice::from_ref(&missing))
            .unwrap_err()
            .to_string();
        assert!(e.contains(&missing.display().to_string()), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
            let _ = Exceptions::parse(&text, Path::new("p.yml"));
        }

        #[test]
        fn arbitrary_yaml_shapes_never_panic(rule in "[a-z0-9-]{0,12}", field in "[a-z.]{0,12}", value in "\\PC{0,20}") {
            let text = format!("exceptions:\n  - rule: '{rule}'\n    reason: x\n    author: y\n    where:\n      '{field}': {value:?}\n");
            let _ = Exceptions::parse(&text, Path::new("p.yml"));
        }

        /// What the API appends (text from the outside: reasons, fields,
        /// values with quotes, newlines, YAML syntax) reads back as exactly
        /// that one exception, never as something injected.
        #[test]
        fn appended_exceptions_read_back_exactly(
            reason in "\\PC{1,40}",
            field in "\\PC{1,16}",
            values in proptest::collection::vec("\\PC{0,20}", 1..3),
            author in "[a-z]{1,8}",
        ) {
            proptest::prop_assume!(!reason.trim().is_empty());
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("console.yml");
            let e = Exception {
                rule_id: "r1".into(),
                reason: reason.clone(),
                author: author.clone(),
                conditions: vec![(field.clone(), values.clone())],
                origin: String::new(),
            };
            Exceptions::append(&path, &e).unwrap();
            Exceptions::append(&path, &e).unwrap();
            let loaded = Exceptions::load(&[path]).unwrap();
            proptest::prop_assert_eq!(loaded.len(), 2);
            for got in loaded.all() {
                proptest::prop_assert_eq!(&got.rule_id, "r1");
                proptest::prop_assert_eq!(&got.reason, &reason);
                proptest::prop_assert_eq!(&got.author, &author);
                proptest::prop_assert_eq!(&got.conditions, &vec![(field.clone(), values.clone())]);
            }
        }
    }
}
