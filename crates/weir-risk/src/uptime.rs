//! Reverse uptime: how long ago the host was last installed clean, from its own signals cross-checked
//! with when the collector first saw its identity. The conservative (oldest) answer wins.
//!
//! The host's claim is the earliest of the install signals it reports: root filesystem creation time,
//! `/etc/machine-id` birth time, installer log time and the earliest dpkg log line (0 = unknown, left out).
//! A host with a read-only root and none of those (an immutable image) claims its boot time. The
//! effective install time is the minimum of that claim, every earlier claim the collector stored for the
//! identity, and the collector's first sighting: a host cannot look fresher than the collector knows.

use serde::Serialize;
use weir_event::HostAge;

use crate::config::RiskConfig;

const NS_PER_DAY: u64 = 86_400 * 1_000_000_000;
const NS_PER_HOUR: u64 = 3_600 * 1_000_000_000;

/// One host-age signal as reported.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AgeSignal {
    pub name: String,
    pub unix_ns: u64,
}

/// Why a host's reverse uptime needs a human look.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct UptimeFlag {
    /// `claims_fresher_than_first_seen`, `claimed_reset_on_known_identity`, `signals_disagree`, `no_signals`.
    pub kind: String,
    pub detail: String,
    /// When the collector noticed it.
    pub at_unix_ns: u64,
}

pub const FLAG_FRESHER: &str = "claims_fresher_than_first_seen";
pub const FLAG_RESET: &str = "claimed_reset_on_known_identity";
pub const FLAG_DISAGREE: &str = "signals_disagree";
pub const FLAG_NO_SIGNALS: &str = "no_signals";

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReverseUptime {
    pub effective_install_unix_ns: u64,
    pub days: i64,
    /// The host's current claim (see the module doc); `None` when it reports no usable signal.
    pub claimed_install_unix_ns: Option<u64>,
    /// The signal the claim comes from.
    pub claim_basis: Option<String>,
    /// The earliest claim this identity ever made, as stored by the collector.
    pub earliest_claim_unix_ns: Option<u64>,
    /// The collector's first sighting of the identity (enrolment, or first inventory if earlier).
    pub first_seen_unix_ns: u64,
    pub signals: Vec<AgeSignal>,
    pub flags: Vec<UptimeFlag>,
}

/// The install signals a claim is made of, by name (0 = unknown is left out).
pub fn install_signals(age: &HostAge) -> Vec<AgeSignal> {
    [
        ("rootfs_created", age.rootfs_created_ns),
        ("machine_id_birth", age.machine_id_birth_ns),
        ("installer_log", age.installer_log_ns),
        ("first_dpkg_log", age.first_dpkg_log_ns),
    ]
    .into_iter()
    .filter(|(_, t)| *t != 0)
    .map(|(n, t)| AgeSignal {
        name: n.to_string(),
        unix_ns: t,
    })
    .collect()
}

/// The host's claim and the signal it comes from.
pub fn claim(age: &HostAge) -> Option<AgeSignal> {
    let install = install_signals(age);
    if let Some(s) = install.into_iter().min_by_key(|s| s.unix_ns) {
        return Some(s);
    }
    (age.rootfs_read_only && age.boot_time_ns != 0).then(|| AgeSignal {
        name: "boot_time (read-only root)".into(),
        unix_ns: age.boot_time_ns,
    })
}

fn day(ns: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ns as i128)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| ns.to_string())
}

/// Flags that need only this one inventory: no signals, signals far apart, signals after the receipt.
pub fn snapshot_flags(age: &HostAge, received_unix_ns: u64, cfg: &RiskConfig) -> Vec<UptimeFlag> {
    let mut flags = Vec::new();
    let flag = |kind: &str, detail: String| UptimeFlag {
        kind: kind.to_string(),
        detail,
        at_unix_ns: received_unix_ns,
    };
    if claim(age).is_none() {
        flags.push(flag(
            FLAG_NO_SIGNALS,
            "the host reports no install signal; the collector's first sighting is used".into(),
        ));
        return flags;
    }
    // The dpkg log rotates away, so its first line is naturally later than the install; it is not compared.
    let comparable: Vec<AgeSignal> = install_signals(age)
        .into_iter()
        .filter(|s| s.name != "first_dpkg_log")
        .collect();
    if let (Some(lo), Some(hi)) = (
        comparable.iter().min_by_key(|s| s.unix_ns),
        comparable.iter().max_by_key(|s| s.unix_ns),
    ) {
        let spread = hi.unix_ns - lo.unix_ns;
        if spread > cfg.signals_disagree_days as u64 * NS_PER_DAY {
            flags.push(flag(
                FLAG_DISAGREE,
                format!(
                    "{} ({}) is {} days before {} ({})",
                    lo.name,
                    day(lo.unix_ns),
                    spread / NS_PER_DAY,
                    hi.name,
                    day(hi.unix_ns)
                ),
            ));
        }
    }
    let tolerance = cfg.claim_tolerance_hours as u64 * NS_PER_HOUR;
    for s in install_signals(age) {
        if s.unix_ns > received_unix_ns.saturating_add(tolerance) {
            flags.push(flag(
                FLAG_DISAGREE,
                format!(
                    "{} ({}) is after the collector received the inventory ({})",
                    s.name,
                    day(s.unix_ns),
                    day(received_unix_ns)
                ),
            ));
        }
    }
    flags
}

/// Flags from comparing this inventory with what the identity reported before.
pub fn reset_flags(
    previous_machine_id_hash: Option<&str>,
    previous_cloud_instance_id: Option<&str>,
    previous_claim_unix_ns: Option<u64>,
    age: &HostAge,
    received_unix_ns: u64,
    cfg: &RiskConfig,
) -> Vec<UptimeFlag> {
    let mut flags = Vec::new();
    let mut push = |detail: String| {
        flags.push(UptimeFlag {
            kind: FLAG_RESET.into(),
            detail,
            at_unix_ns: received_unix_ns,
        })
    };
    if let Some(prev) = previous_machine_id_hash.filter(|p| !p.is_empty()) {
        if !age.machine_id_hash.is_empty() && age.machine_id_hash != prev {
            push(format!(
                "machine-id hash changed from {prev} to {} under the same host id",
                age.machine_id_hash
            ));
        }
    }
    if let Some(prev) = previous_cloud_instance_id.filter(|p| !p.is_empty()) {
        if !age.cloud_instance_id.is_empty() && age.cloud_instance_id != prev {
            push(format!(
                "cloud instance id changed from {prev} to {} under the same host id",
                age.cloud_instance_id
            ));
        }
    }
    if let (Some(prev), Some(now)) = (previous_claim_unix_ns, claim(age)) {
        let tolerance = cfg.claim_tolerance_hours as u64 * NS_PER_HOUR;
        if now.unix_ns > prev.saturating_add(tolerance) {
            push(format!(
                "claimed install moved later, from {} to {} ({})",
                day(prev),
                day(now.unix_ns),
                now.name
            ));
        }
    }
    flags
}

/// The reverse uptime at `now_unix_ns`, given the identity's stored history and sticky flags.
pub fn reverse_uptime(
    age: &HostAge,
    first_seen_unix_ns: u64,
    earliest_claim_unix_ns: Option<u64>,
    mut flags: Vec<UptimeFlag>,
    now_unix_ns: u64,
    cfg: &RiskConfig,
) -> ReverseUptime {
    let current = claim(age);
    let tolerance = cfg.claim_tolerance_hours as u64 * NS_PER_HOUR;
    if let Some(c) = &current {
        if c.unix_ns > first_seen_unix_ns.saturating_add(tolerance) {
            flags.push(UptimeFlag {
                kind: FLAG_FRESHER.into(),
                detail: format!(
                    "claims install at {} ({}) but the collector first saw this identity at {}",
                    day(c.unix_ns),
                    c.name,
                    day(first_seen_unix_ns)
                ),
                at_unix_ns: now_unix_ns,
            });
        }
    }
    let effective = [
        Some(first_seen_unix_ns),
        current.as_ref().map(|c| c.unix_ns),
        earliest_claim_unix_ns,
    ]
    .into_iter()
    .flatten()
    .min()
    .unwrap_or(first_seen_unix_ns);
    let mut signals = install_signals(age);
    for (name, t) in [
        ("machine_id_mtime", age.machine_id_mtime_ns),
        ("boot_time", age.boot_time_ns),
    ] {
        if t != 0 {
            signals.push(AgeSignal {
                name: name.into(),
                unix_ns: t,
            });
        }
    }
    ReverseUptime {
        effective_install_unix_ns: effective,
        days: (now_unix_ns.saturating_sub(effective) / NS_PER_DAY) as i64,
        claimed_install_unix_ns: current.as_ref().map(|c| c.unix_ns),
        claim_basis: current.map(|c| c.name),
        earliest_claim_unix_ns,
        first_seen_unix_ns,
        signals,
        flags,
    }
}
