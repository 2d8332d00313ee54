//! cargo-auditable data: the zlib-compressed JSON dependency list Rust binaries built with `cargo auditable`
//! carry in their `.dep-v0` section.

use std::io::Read;

use crate::error::HostScanError;

pub const SECTION: &str = ".dep-v0";

/// One crate compiled into the binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditableCrate {
    pub name: String,
    pub version: String,
    /// `crates.io`, `git`, `local`, `registry`, ...
    pub source: String,
}

/// Decompresses (at most `max_bytes` of output) and parses the section contents.
pub fn parse(compressed: &[u8], max_bytes: u64, src: &str) -> Result<Vec<AuditableCrate>, HostScanError> {
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(compressed)
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut json)
        .map_err(|e| HostScanError::parse(src, 0, format!("{SECTION}: not zlib data: {e}")))?;
    if json.len() as u64 > max_bytes {
        return Err(HostScanError::parse(
            src,
            0,
            format!("{SECTION}: decompresses past the {max_bytes}-byte limit"),
        ));
    }
    parse_json(&json, src)
}

/// Parses the decompressed JSON: `{"packages": [{"name", "version", "source", ...}, ...]}`.
pub fn parse_json(json: &[u8], src: &str) -> Result<Vec<AuditableCrate>, HostScanError> {
    let v: serde_json::Value = serde_json::from_slice(json)
        .map_err(|e| HostScanError::parse(src, e.line(), format!("{SECTION}: invalid JSON: {e}")))?;
    let packages = v
        .get("packages")
        .and_then(|p| p.as_array())
        .ok_or_else(|| HostScanError::parse(src, 0, format!("{SECTION}: no `packages` array")))?;
    let mut out = Vec::with_capacity(packages.len());
    for (i, p) in packages.iter().enumerate() {
        let field = |k: &str| -> Result<String, HostScanError> {
            match p.get(k) {
                Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                _ => Err(HostScanError::parse(
                    src,
                    0,
                    format!("{SECTION}: packages[{i}].{k} missing or not a non-empty string"),
                )),
            }
        };
        out.push(AuditableCrate {
            name: field("name")?,
            version: field("version")?,
            source: p.get("source").and_then(|s| s.as_str()).unwrap_or("").to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn parses_the_dependency_list() {
        let json = br#"{"packages":[{"name":"app","version":"0.1.0","source":"local","root":true,"dependencies":[1]},
            {"name":"serde","version":"1.0.200","source":"crates.io"}]}"#;
        let crates = parse(&zlib(json), 1 << 20, "/usr/bin/app").unwrap();
        assert_eq!(crates.len(), 2);
        assert_eq!(crates[1].name, "serde");
        assert_eq!(crates[1].source, "crates.io");
    }

    #[test]
    fn errors_name_the_binary() {
        let err = parse(b"not zlib", 1 << 20, "/usr/bin/app").unwrap_err().to_string();
        assert!(err.starts_with("/usr/bin/app: line 0: .dep-v0: not zlib data"), "{err}");
        let err = parse(&zlib(br#"{"packages":[{"name":"x"}]}"#), 1 << 20, "/b")
            .unwrap_err()
            .to_string();
        assert!(err.contains("packages[0].version"), "{err}");
        let err = parse(&zlib(&[b' '; 4096]), 100, "/b").unwrap_err().to_string();
        assert!(err.contains("100-byte limit"), "{err}");
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&bytes, 1 << 16, "fuzz");
            let _ = parse(&zlib(&bytes), 1 << 16, "fuzz");
        }

        #[test]
        fn json_shapes_never_panic(json in r#"\{"packages":\[(\{("name"|"version"|"source"):("[a-z0-9.]{0,5}"|1|null|\[\]),?\},?){0,4}\]\}"#) {
            let _ = parse_json(json.as_bytes(), "fuzz");
        }
    }
}
