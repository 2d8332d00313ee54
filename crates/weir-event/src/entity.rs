//! Process entity ids: stable and unique per process on a host, so that a
//! reused pid can never be confused with the process that had it before.

use sha2::{Digest, Sha256};

/// Entity id of the process `pid` that started at `start_time_ns` (nanoseconds
/// since boot, as the kernel reports it) on host `host_id`: 32 hex characters.
pub fn entity_id(host_id: &str, pid: u32, start_time_ns: u64) -> String {
    let mut hasher = Sha256::new();
    hasher.update(host_id.as_bytes());
    hasher.update([0]);
    hasher.update(pid.to_be_bytes());
    hasher.update(start_time_ns.to_be_bytes());
    hex::encode(&hasher.finalize()[..16])
}

/// Weir's host id for a machine: derived from /etc/machine-id by a one-way
/// hash, so the machine id itself (which other software treats as a secret
/// key material) never travels in events, alerts or exports. 32 hex characters.
pub fn host_id_from_machine_id(machine_id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"weir host id\0");
    hasher.update(machine_id.trim().as_bytes());
    hex::encode(&hasher.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differs_by_every_input() {
        let base = entity_id("h", 10, 5);
        assert_eq!(base.len(), 32);
        assert_eq!(base, entity_id("h", 10, 5));
        assert_ne!(base, entity_id("g", 10, 5));
        assert_ne!(base, entity_id("h", 11, 5));
        assert_ne!(base, entity_id("h", 10, 6));
    }

    #[test]
    fn host_id_hides_the_machine_id() {
        let machine = "3d1219c7c4c5404aaa1f6d2a48adfda4";
        let id = host_id_from_machine_id(machine);
        assert_eq!(id.len(), 32);
        assert_ne!(id, machine);
        assert_eq!(id, host_id_from_machine_id(&format!("{machine}\n")));
        assert_ne!(id, host_id_from_machine_id("3d1219c7c4c5404aaa1f6d2a48adfda5"));
    }
}
