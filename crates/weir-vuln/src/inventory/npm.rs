//! Node packages: `node_modules/**/package.json` name and version.

use crate::error::InventoryError;
use crate::inventory::Package;

/// Reads `name` and `version` from a package.json; JSON errors carry their line.
pub fn parse_package_json(text: &[u8], src: &str) -> Result<Package, InventoryError> {
    let v: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| InventoryError::new(src, e.line(), format!("invalid JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| InventoryError::new(src, 1, "package.json is not a JSON object"))?;
    let field = |k: &str| -> Result<String, InventoryError> {
        match obj.get(k) {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            Some(serde_json::Value::String(_)) => Err(InventoryError::new(src, 0, format!("field `{k}` is empty"))),
            Some(_) => Err(InventoryError::new(src, 0, format!("field `{k}` is not a string"))),
            None => Err(InventoryError::new(src, 0, format!("no `{k}` field"))),
        }
    };
    Ok(Package {
        ecosystem: "npm".into(),
        name: field("name")?,
        version: field("version")?,
        origin: Some(src.into()),
    })
}
