//! Host identity: a stable host id (a one-way hash of /etc/machine-id, or
//! generated once and stored), the host name and the machine id.

use std::path::Path;

use crate::SensorError;

/// Where a generated host id is kept when the machine has no machine-id.
pub const GENERATED_ID_PATH: &str = "/var/lib/weir/host-id";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostIdentity {
    pub host_id: String,
    pub host_name: String,
    /// /etc/machine-id, empty when the machine has none.
    pub machine_id: String,
}

/// Reads (or creates) this host's identity.
pub fn host_identity() -> Result<HostIdentity, SensorError> {
    let machine_id = read_id(Path::new("/etc/machine-id")).unwrap_or_default();
    let host_id = if !machine_id.is_empty() {
        weir_event::entity::host_id_from_machine_id(&machine_id)
    } else if let Some(id) = read_id(Path::new(GENERATED_ID_PATH)) {
        id
    } else {
        let id = random_id()?;
        let path = Path::new(GENERATED_ID_PATH);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| SensorError::Io(format!("creating {}", dir.display()), e))?;
        }
        std::fs::write(path, format!("{id}\n"))
            .map_err(|e| SensorError::Io(format!("writing {}", path.display()), e))?;
        id
    };
    Ok(HostIdentity {
        host_id,
        host_name: host_name(),
        machine_id,
    })
}

/// A 32-hex-digit id from a file, if it holds one.
fn read_id(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let id = text.trim();
    (id.len() == 32 && id.bytes().all(|c| c.is_ascii_hexdigit())).then(|| id.to_ascii_lowercase())
}

fn random_id() -> Result<String, SensorError> {
    let mut buf = [0u8; 16];
    let f = "/dev/urandom";
    use std::io::Read;
    std::fs::File::open(f)
        .and_then(|mut fh| fh.read_exact(&mut buf))
        .map_err(|e| SensorError::Io(format!("reading {f}"), e))?;
    Ok(hex::encode(buf))
}

/// The kernel's node name.
pub fn host_name() -> String {
    // SAFETY: uname fills the struct we pass; it is zero-initialised.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return String::new();
    }
    let raw: Vec<u8> = u.nodename.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&raw).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_stable() {
        let a = host_identity().unwrap();
        let b = host_identity().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.host_id.len(), 32);
        assert!(!a.host_name.is_empty());
    }
}
