//! The people directory (`people.yaml`): who a login name or uid belongs to,
//! and how to reach them. A top-level YAML list:
//!
//! ```yaml
//! - id: alice
//!   name: Alice Example
//!   email: alice@example.com
//!   slack_id: U0123ABC
//!   logins: [alice, adm-alice]
//!   uids: [1000]
//!   oncall: false
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::DirectoryError;

/// One person: the human behind one or more login names and uids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// Stable identifier (no spaces or `:`), used in triage records.
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub slack_id: Option<String>,
    #[serde(default)]
    pub logins: Vec<String>,
    #[serde(default)]
    pub uids: Vec<u32>,
    /// On the security on-call rota (receives escalations).
    #[serde(default)]
    pub oncall: bool,
}

/// The loaded directory with its lookup indexes.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    people: Vec<Person>,
    by_id: HashMap<String, usize>,
    by_login: HashMap<String, usize>,
    by_uid: HashMap<u32, usize>,
}

impl Directory {
    /// Reads and checks a `people.yaml` file.
    pub fn load(path: &Path) -> Result<Directory, DirectoryError> {
        let text = std::fs::read_to_string(path).map_err(|source| DirectoryError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Directory::parse(&text, path)
    }

    /// Parses directory text; `path` is only used to name errors.
    pub fn parse(text: &str, path: &Path) -> Result<Directory, DirectoryError> {
        let parse_error = |e: serde_yaml::Error| DirectoryError::Parse {
            path: path.to_path_buf(),
            line: e.location().map(|l| l.line()),
            message: e.to_string(),
        };
        let people: Vec<Person> = if text.trim().is_empty() {
            Vec::new()
        } else {
            let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(parse_error)?;
            if value.is_null() {
                Vec::new()
            } else if !value.is_sequence() {
                return Err(DirectoryError::Parse {
                    path: path.to_path_buf(),
                    line: Some(1),
                    message: "expected a list of people (`- id: ...`)".into(),
                });
            } else {
                serde_yaml::from_str(text).map_err(parse_error)?
            }
        };
        Directory::index(people, path)
    }

    fn index(people: Vec<Person>, path: &Path) -> Result<Directory, DirectoryError> {
        let mut dir = Directory::default();
        for (index, person) in people.iter().enumerate() {
            let invalid = |field: &'static str, message: String| DirectoryError::Invalid {
                path: PathBuf::from(path),
                index: index + 1,
                id: person.id.clone(),
                field,
                message,
            };
            if person.id.is_empty() || person.id.len() > 128 {
                return Err(invalid("id", "must be 1 to 128 characters".into()));
            }
            if person
                .id
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == ':')
            {
                return Err(invalid(
                    "id",
                    "must not contain spaces, control characters or `:`".into(),
                ));
            }
            if let Some(&other) = dir.by_id.get(&person.id) {
                return Err(invalid("id", format!("duplicate of person #{}", other + 1)));
            }
            dir.by_id.insert(person.id.clone(), index);
            for login in &person.logins {
                if login.is_empty() {
                    return Err(invalid("logins", "a login name must not be empty".into()));
                }
                if let Some(&other) = dir.by_login.get(login) {
                    if other != index {
                        return Err(invalid(
                            "logins",
                            format!("`{login}` is already person #{} ({})", other + 1, people[other].id),
                        ));
                    }
                }
                dir.by_login.insert(login.clone(), index);
            }
            for &uid in &person.uids {
                if let Some(&other) = dir.by_uid.get(&uid) {
                    if other != index {
                        return Err(invalid(
                            "uids",
                            format!("{uid} is already person #{} ({})", other + 1, people[other].id),
                        ));
                    }
                }
                dir.by_uid.insert(uid, index);
            }
        }
        dir.people = people;
        Ok(dir)
    }

    pub fn people(&self) -> &[Person] {
        &self.people
    }

    pub fn get(&self, id: &str) -> Option<&Person> {
        self.by_id.get(id).map(|&i| &self.people[i])
    }

    /// The person behind a login: the login name wins when it is known (names
    /// are the same across hosts, uids may not be), else the uid.
    pub fn person_for(&self, login_name: Option<&str>, uid: Option<u32>) -> Option<&Person> {
        if let Some(&i) = login_name.and_then(|name| self.by_login.get(name)) {
            return Some(&self.people[i]);
        }
        uid.and_then(|uid| self.by_uid.get(&uid)).map(|&i| &self.people[i])
    }
}
