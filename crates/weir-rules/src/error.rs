//! Typed errors for loading Sigma rules: every error names the file, the
//! line and column when known, and the rule field it is about.

use std::fmt;

/// Where in a rule file an error is.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Location {
    /// File path or origin name given by the caller.
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}", self.file),
            (l, 0) => write!(f, "{}:{l}", self.file),
            (l, c) => write!(f, "{}:{l}:{c}", self.file),
        }
    }
}

/// What went wrong while reading or compiling a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RuleErrorKind {
    #[error("cannot read file: {0}")]
    Io(String),
    #[error("invalid YAML: {0}")]
    Yaml(String),
    #[error("field `{field}`: {message}")]
    Field { field: String, message: String },
    #[error("unknown modifier `{modifier}` on field `{field}`")]
    UnknownModifier { field: String, modifier: String },
    #[error("field `{field}`: invalid regular expression: {message}")]
    Regex { field: String, message: String },
    #[error("condition `{condition}`: {message}")]
    Condition { condition: String, message: String },
}

/// A rule that could not be loaded, with its location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("{location}: {kind}")]
pub struct RuleError {
    pub location: Location,
    pub kind: RuleErrorKind,
}

impl RuleError {
    pub(crate) fn new(file: &str, kind: RuleErrorKind) -> Self {
        RuleError {
            location: Location {
                file: file.to_string(),
                line: 0,
                column: 0,
            },
            kind,
        }
    }

    /// Points the error at the first line of `text` that mentions `needle`
    /// as a YAML key (or anywhere, as a fallback).
    pub(crate) fn locate(mut self, text: &str, needle: &str) -> Self {
        if needle.is_empty() {
            return self;
        }
        let mut fallback = None;
        for (i, line) in text.lines().enumerate() {
            if let Some(col) = line.find(needle) {
                let rest = line[col + needle.len()..].trim_start();
                let is_key = rest.starts_with(':') || rest.starts_with('|');
                if is_key {
                    self.location.line = i + 1;
                    self.location.column = col + 1;
                    return self;
                }
                if fallback.is_none() {
                    fallback = Some((i + 1, col + 1));
                }
            }
        }
        if let Some((l, c)) = fallback {
            self.location.line = l;
            self.location.column = c;
        }
        self
    }
}

pub(crate) fn field_err(field: &str, message: impl Into<String>) -> RuleErrorKind {
    RuleErrorKind::Field {
        field: field.to_string(),
        message: message.into(),
    }
}
