//! The OSV JSON schema as serde types: tolerant of unknown fields, unknown ecosystems and `null` lists.

use std::path::Path;

use serde::{Deserialize, Deserializer};

use crate::error::LoadError;

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// One OSV record as written on disk.
#[derive(Debug, Clone, Deserialize)]
pub struct OsvRecord {
    pub id: String,
    #[serde(default)]
    pub schema_version: Option<String>,
    #[serde(default)]
    pub modified: Option<String>,
    #[serde(default)]
    pub published: Option<String>,
    #[serde(default)]
    pub withdrawn: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub aliases: Vec<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub upstream: Vec<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub related: Vec<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub severity: Vec<OsvSeverity>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub affected: Vec<OsvAffected>,
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OsvSeverity {
    #[serde(rename = "type")]
    pub kind: String,
    pub score: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OsvAffected {
    #[serde(default)]
    pub package: Option<OsvPackage>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub severity: Vec<OsvSeverity>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub ranges: Vec<OsvRange>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub versions: Vec<String>,
    #[serde(default)]
    pub ecosystem_specific: Option<serde_json::Value>,
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OsvPackage {
    pub ecosystem: String,
    pub name: String,
    #[serde(default)]
    pub purl: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OsvRange {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub repo: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub events: Vec<OsvEvent>,
}

/// One range event; the schema requires exactly one of the four keys.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OsvEvent {
    #[serde(default)]
    pub introduced: Option<String>,
    #[serde(default)]
    pub fixed: Option<String>,
    #[serde(default)]
    pub last_affected: Option<String>,
    #[serde(default)]
    pub limit: Option<String>,
}

/// Parses one OSV JSON document; the error names the file, the JSON path of the bad field, and its position.
pub fn parse_record(path: &Path, text: &[u8]) -> Result<OsvRecord, LoadError> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let rec: OsvRecord = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        LoadError::Json {
            path: path.to_path_buf(),
            field,
            line: inner.line(),
            column: inner.column(),
            message: inner.to_string(),
        }
    })?;
    de.end().map_err(|e| LoadError::Json {
        path: path.to_path_buf(),
        field: ".".into(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    Ok(rec)
}
