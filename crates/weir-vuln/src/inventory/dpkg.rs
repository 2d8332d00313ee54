//! The dpkg status database (`/var/lib/dpkg/status`): binary packages with their source name and version.

use crate::error::InventoryError;
use crate::inventory::Package;

/// One stanza of the status file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpkgPackage {
    pub name: String,
    pub version: Option<String>,
    pub architecture: Option<String>,
    /// The `Status:` field (`want flag status`), e.g. `install ok installed`.
    pub status: Option<String>,
    /// Source package name (`Source:`), defaulting to the binary name.
    pub source_name: String,
    /// Source version (`Source: name (version)`), defaulting to the binary version.
    pub source_version: Option<String>,
    /// 1-based line of the stanza's first field.
    pub line: usize,
}

impl DpkgPackage {
    /// True when dpkg considers the package unpacked and configured (or in a state that keeps its files).
    pub fn is_installed(&self) -> bool {
        let Some(status) = &self.status else { return false };
        matches!(
            status.split_whitespace().nth(2),
            Some("installed" | "half-configured" | "unpacked" | "triggers-awaited" | "triggers-pending")
        )
    }
}

#[derive(Default)]
struct Stanza {
    line: usize,
    fields: Vec<(String, String, usize)>,
}

impl Stanza {
    fn get(&self, name: &str) -> Option<&(String, String, usize)> {
        self.fields.iter().find(|(k, _, _)| k.eq_ignore_ascii_case(name))
    }
}

fn finish(stanza: Stanza, src: &str, out: &mut Vec<DpkgPackage>) -> Result<(), InventoryError> {
    if stanza.fields.is_empty() {
        return Ok(());
    }
    let Some((_, name, _)) = stanza.get("Package") else {
        return Err(InventoryError::new(src, stanza.line, "stanza without a Package field"));
    };
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(InventoryError::new(
            src,
            stanza.line,
            format!("invalid package name {name:?}"),
        ));
    }
    let version = stanza.get("Version").map(|(_, v, _)| v.clone());
    let (source_name, source_version) = match stanza.get("Source") {
        None => (name.clone(), version.clone()),
        Some((_, v, line)) => match v.split_once('(') {
            None => (v.trim().to_string(), version.clone()),
            Some((n, rest)) => {
                let Some(sv) = rest.trim().strip_suffix(')') else {
                    return Err(InventoryError::new(
                        src,
                        *line,
                        format!("Source field {v:?} has no closing ')'"),
                    ));
                };
                (n.trim().to_string(), Some(sv.trim().to_string()))
            }
        },
    };
    if source_name.is_empty() {
        return Err(InventoryError::new(src, stanza.line, "empty Source name"));
    }
    out.push(DpkgPackage {
        name: name.clone(),
        version,
        architecture: stanza.get("Architecture").map(|(_, v, _)| v.clone()),
        status: stanza.get("Status").map(|(_, v, _)| v.clone()),
        source_name,
        source_version,
        line: stanza.line,
    });
    Ok(())
}

/// Parses a dpkg status file (deb822 stanzas). `src` names the input in errors.
pub fn parse_status(text: &str, src: &str) -> Result<Vec<DpkgPackage>, InventoryError> {
    let mut out = Vec::new();
    let mut stanza = Stanza::default();
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            finish(std::mem::take(&mut stanza), src, &mut out)?;
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if stanza.fields.is_empty() {
                return Err(InventoryError::new(src, lineno, "continuation line outside a field"));
            }
            continue; // multi-line values (Description, Conffiles) are not needed
        }
        if line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(InventoryError::new(
                src,
                lineno,
                format!("expected `Field: value`, found {:?}", trunc(line)),
            ));
        };
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic() && b != b':') || key.starts_with('-') {
            return Err(InventoryError::new(
                src,
                lineno,
                format!("invalid field name {:?}", trunc(key)),
            ));
        }
        if stanza.fields.is_empty() {
            stanza.line = lineno;
        }
        if stanza.get(key).is_some() {
            return Err(InventoryError::new(
                src,
                lineno,
                format!("duplicate field {key:?} in one stanza"),
            ));
        }
        stanza.fields.push((key.to_string(), value.trim().to_string(), lineno));
    }
    finish(stanza, src, &mut out)?;
    Ok(out)
}

fn trunc(s: &str) -> String {
    s.chars().take(60).collect()
}

/// Installed packages as OSV queries them: distro advisories are keyed by *source* package and version.
/// One entry per (source, version); `origin` names the first binary package built from it.
pub fn to_packages(pkgs: &[DpkgPackage], ecosystem: &str) -> Vec<Package> {
    let mut out: Vec<Package> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for p in pkgs.iter().filter(|p| p.is_installed()) {
        let Some(v) = &p.source_version else { continue };
        if seen.insert((p.source_name.clone(), v.clone())) {
            out.push(Package {
                ecosystem: ecosystem.to_string(),
                name: p.source_name.clone(),
                version: v.clone(),
                origin: Some(format!("dpkg:{}", p.name)),
            });
        }
    }
    out
}
