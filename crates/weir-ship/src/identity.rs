//! The host's identity on disk: its ed25519 key (state_dir/host.key, 0600,
//! created on first start and never replaced), the host id it was enrolled
//! under, and whether enrollment completed.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use ed25519_dalek::SigningKey;

use crate::error::ShipError;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ShipError + '_ {
    move |source| ShipError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub fn private_dir(dir: &Path) -> Result<(), ShipError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(dir))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ShipError> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}

/// Loads the host key, creating it on first start.
pub fn host_key(state_dir: &Path) -> Result<SigningKey, ShipError> {
    private_dir(state_dir)?;
    let path = state_dir.join("host.key");
    if !path.exists() {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        write_private(&path, &key.to_bytes())?;
    }
    let mode = fs::metadata(&path).map_err(io(&path))?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(ShipError::Corrupt {
            path,
            detail: format!(
                "host key is readable by others (mode {:o}); expected 0600",
                mode & 0o777
            ),
        });
    }
    let bytes = fs::read(&path).map_err(io(&path))?;
    let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| ShipError::Corrupt {
        path: path.clone(),
        detail: format!("expected 32 bytes, found {}", bytes.len()),
    })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The host id this state dir was enrolled as, if enrollment completed.
pub fn enrolled_as(state_dir: &Path) -> Result<Option<String>, ShipError> {
    let path = state_dir.join("enrolled");
    match fs::read_to_string(&path) {
        Ok(id) => Ok(Some(id.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ShipError::Io { path, source }),
    }
}

pub fn mark_enrolled(state_dir: &Path, host_id: &str) -> Result<(), ShipError> {
    let path = state_dir.join("enrolled");
    let _ = fs::remove_file(&path);
    write_private(&path, format!("{host_id}\n").as_bytes())
}
