//! Go build information: the text of `go version -m` (or a binary's embedded modinfo) and the
//! `.go.buildinfo` blob of Go 1.18+ binaries.

use crate::error::InventoryError;
use crate::inventory::Package;
use crate::version::parse_go;

/// One module line (`mod`, `dep`, or the `=>` replacement that follows a `dep`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoModule {
    pub path: String,
    pub version: String,
    pub sum: Option<String>,
    /// The module that replaces this one, if any (`=>` line).
    pub replaced_by: Option<Box<GoModule>>,
}

impl GoModule {
    /// The module actually compiled in: the replacement when there is one.
    pub fn effective(&self) -> &GoModule {
        self.replaced_by.as_deref().unwrap_or(self)
    }
}

/// Parsed build info.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GoBuildInfo {
    /// Toolchain, e.g. `go1.21.3`.
    pub go_version: Option<String>,
    /// Main package path (`path` line).
    pub path: Option<String>,
    pub main: Option<GoModule>,
    pub deps: Vec<GoModule>,
}

fn module(fields: &[&str], src: &str, lineno: usize) -> Result<GoModule, InventoryError> {
    match fields {
        [path, version, rest @ ..] if rest.len() <= 1 => Ok(GoModule {
            path: path.to_string(),
            version: version.to_string(),
            sum: rest.first().map(|s| s.to_string()),
            replaced_by: None,
        }),
        // A main module built from a checkout has no version or sum: `mod example.com/m (devel)`.
        [path] => Ok(GoModule {
            path: path.to_string(),
            version: String::new(),
            sum: None,
            replaced_by: None,
        }),
        _ => Err(InventoryError::new(src, lineno, "expected `<path> <version> [<sum>]`")),
    }
}

/// Parses `go version -m` output or a bare modinfo string (tab-separated `path`/`mod`/`dep`/`=>`/`build` lines).
pub fn parse_text(text: &str, src: &str) -> Result<GoBuildInfo, InventoryError> {
    let mut info = GoBuildInfo::default();
    let mut last_dep_is_main = false;
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with('\t')
            && !line.starts_with("path\t")
            && !line.starts_with("mod\t")
            && !line.starts_with("dep\t")
            && !line.starts_with("=>\t")
            && !line.starts_with("build\t")
            && !line.starts_with("go\t")
        {
            // `go version -m` header: "<file>: go1.21.3"
            let Some((_, v)) = line.rsplit_once(": ") else {
                return Err(InventoryError::new(
                    src,
                    lineno,
                    "expected `<file>: <go version>` or a tab-indented field",
                ));
            };
            info.go_version = Some(v.trim().to_string());
            continue;
        }
        let fields: Vec<&str> = line.split('\t').filter(|f| !f.is_empty()).collect();
        let Some((&kind, rest)) = fields.split_first() else {
            continue;
        };
        match kind {
            "path" => info.path = rest.first().map(|s| s.to_string()),
            "go" => info.go_version = rest.first().map(|s| s.to_string()),
            "mod" => {
                info.main = Some(module(rest, src, lineno)?);
                last_dep_is_main = true;
            }
            "dep" => {
                info.deps.push(module(rest, src, lineno)?);
                last_dep_is_main = false;
            }
            "=>" => {
                let m = Box::new(module(rest, src, lineno)?);
                let target = if last_dep_is_main {
                    info.main.as_mut()
                } else {
                    info.deps.last_mut()
                };
                let Some(target) = target else {
                    return Err(InventoryError::new(
                        src,
                        lineno,
                        "`=>` replacement without a module before it",
                    ));
                };
                target.replaced_by = Some(m);
            }
            "build" => {}
            other => {
                return Err(InventoryError::new(
                    src,
                    lineno,
                    format!("unknown build info field {:?}", other),
                ));
            }
        }
    }
    Ok(info)
}

const MAGIC: &[u8; 14] = b"\xff Go buildinf:";

fn uvarint(b: &[u8]) -> Option<(usize, usize)> {
    let mut x: u64 = 0;
    for (i, &byte) in b.iter().enumerate().take(10) {
        x |= u64::from(byte & 0x7f).checked_shl(7 * i as u32)?;
        if byte < 0x80 {
            return Some((usize::try_from(x).ok()?, i + 1));
        }
    }
    None
}

/// Reads the Go 1.18+ build info blob from a binary's bytes (the `.go.buildinfo` section, found by its
/// 16-byte-aligned magic). The magic also appears as a constant inside binaries that link Go's own
/// `debug/buildinfo` package, so every aligned occurrence is tried and the first that decodes wins.
/// Older pointer-format blobs are reported as unsupported.
pub fn parse_binary(bytes: &[u8], src: &str) -> Result<GoBuildInfo, InventoryError> {
    let mut first_err = None;
    let mut start = 0;
    while start + MAGIC.len() <= bytes.len() {
        if bytes[start..].starts_with(MAGIC) {
            match parse_blob(&bytes[start..], src) {
                Ok(info) => return Ok(info),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        start += 16;
    }
    Err(first_err.unwrap_or_else(|| {
        InventoryError::new(
            src,
            0,
            "no Go build info (not a Go binary, or stripped of .go.buildinfo)",
        )
    }))
}

fn parse_blob(blob: &[u8], src: &str) -> Result<GoBuildInfo, InventoryError> {
    let err = |r: &str| InventoryError::new(src, 0, r.to_string());
    let header = blob.get(..32).ok_or_else(|| err("truncated build info header"))?;
    let flags = header[15];
    if flags & 2 == 0 {
        return Err(err("pre-Go 1.18 build info (pointer format) is not supported"));
    }
    let mut rest = &blob[32..];
    let mut read_bytes = |what: &str| -> Result<&[u8], InventoryError> {
        let (len, n) = uvarint(rest).ok_or_else(|| err(&format!("bad length of {what}")))?;
        let body = rest.get(n..n.checked_add(len).ok_or_else(|| err("length overflow"))?);
        let body = body.ok_or_else(|| err(&format!("{what} runs past the end of the file")))?;
        rest = &rest[n + len..];
        Ok(body)
    };
    let go_version = std::str::from_utf8(read_bytes("Go version")?).map_err(|_| err("Go version is not UTF-8"))?;
    if !go_version.starts_with("go") {
        return Err(err(&format!(
            "unexpected Go version {:?}",
            go_version.chars().take(20).collect::<String>()
        )));
    }
    let go_version = go_version.to_string();
    // The module info is framed by two 16-byte binary sentinels.
    let framed = read_bytes("module info")?;
    let inner = if framed.len() >= 32 {
        &framed[16..framed.len() - 16]
    } else {
        &[][..]
    };
    let modinfo = std::str::from_utf8(inner).map_err(|_| err("module info is not UTF-8"))?;
    let mut info = parse_text(modinfo, src)?;
    info.go_version = Some(go_version);
    Ok(info)
}

/// The release part of a toolchain string: `go1.22.1 X:loopvar` -> `go1.22.1`,
/// `go1.25-20250209-RC00 cl/1` -> `go1.25` (vendor builds append their own suffixes). `devel` toolchains
/// have no release and give `None`.
fn toolchain_release(v: &str) -> Option<&str> {
    let v = v.trim();
    if !v.starts_with("go") {
        return None;
    }
    let end = v
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .unwrap_or(v.len());
    Some(&v[..end])
}

/// The modules compiled into the binary as `Go` packages, plus the standard library as `stdlib`.
pub fn to_packages(info: &GoBuildInfo, origin: &str) -> Vec<Package> {
    let mut out = Vec::new();
    let mut push = |name: &str, version: &str| {
        out.push(Package {
            ecosystem: "Go".into(),
            name: name.to_string(),
            version: version.to_string(),
            origin: Some(origin.to_string()),
        })
    };
    if let Some(v) = info
        .go_version
        .as_deref()
        .and_then(toolchain_release)
        .and_then(|v| parse_go(v).ok())
    {
        push("stdlib", &format!("v{v}"));
    }
    for m in info.main.iter().chain(&info.deps) {
        let e = m.effective();
        if !e.version.is_empty() && e.version != "(devel)" && parse_go(&e.version).is_ok() {
            push(&e.path, &e.version);
        }
    }
    out
}
