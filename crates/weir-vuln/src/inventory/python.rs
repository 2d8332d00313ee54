//! Python installed-distribution metadata (`*.dist-info/METADATA`, `*.egg-info/PKG-INFO`): name and version.

use crate::error::InventoryError;
use crate::inventory::Package;

/// Parses the RFC 822-style header block of a core-metadata file and returns the `PyPI` package.
pub fn parse_metadata(text: &str, src: &str) -> Result<Package, InventoryError> {
    let mut name: Option<(String, usize)> = None;
    let mut version: Option<(String, usize)> = None;
    let mut in_header = false;
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            if in_header || lineno > 1 {
                break; // the body (long description) follows the first blank line
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if !in_header {
                return Err(InventoryError::new(src, lineno, "continuation line before any header"));
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(InventoryError::new(src, lineno, "expected `Header: value`"));
        };
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(InventoryError::new(
                src,
                lineno,
                format!("invalid header name {:?}", key),
            ));
        }
        in_header = true;
        let value = value.trim().to_string();
        if key.eq_ignore_ascii_case("Name") {
            if name.is_some() {
                return Err(InventoryError::new(src, lineno, "duplicate Name header"));
            }
            name = Some((value, lineno));
        } else if key.eq_ignore_ascii_case("Version") {
            if version.is_some() {
                return Err(InventoryError::new(src, lineno, "duplicate Version header"));
            }
            version = Some((value, lineno));
        }
    }
    let (name, nl) = name.ok_or_else(|| InventoryError::new(src, 0, "no Name header"))?;
    let (version, vl) = version.ok_or_else(|| InventoryError::new(src, 0, "no Version header"))?;
    if name.is_empty() {
        return Err(InventoryError::new(src, nl, "empty Name"));
    }
    if version.is_empty() {
        return Err(InventoryError::new(src, vl, "empty Version"));
    }
    Ok(Package {
        ecosystem: "PyPI".into(),
        name,
        version,
        origin: Some(src.to_string()),
    })
}
