//! The risk config (`risk.yaml`): which addresses count as Internet-facing, SLOs, alert thresholds,
//! reverse-uptime tolerances and the distro "won't fix" policy. Every field is optional; the values
//! shown are the defaults.
//!
//! ```yaml
//! public_cidrs: []                 # Internet-facing even inside a private range (e.g. 1:1 NAT)
//! private_cidrs: []                # never Internet-facing, added to RFC 1918, ULA, CGNAT, link-local...
//! any_address_is_public: true      # listeners on 0.0.0.0 / :: when the host sent no interface addresses
//! public_interfaces: []            # an any-address listener on a host with one of these is public
//!                                  # (otherwise: public when some interface address is public)
//! hosts:                           # per host id or name
//!   db-1: { any_address_is_public: false }
//! slo_days: { oldest_exposed_vuln: 30, reverse_uptime: 90 }
//! alert:
//!   oldest_exposed_vuln_days: 30   # per host; omit the key to keep the default
//!   reverse_uptime_days: 90
//!   fleet_p95_oldest_exposed_vuln_days: null
//!   fleet_p95_reverse_uptime_days: null
//!   review_flags: true             # reset claims, fresher-than-first-seen, disagreeing signals
//! worst_n: 10
//! signals_disagree_days: 365       # install signals further apart than this are flagged
//! claim_tolerance_hours: 24        # slack for clock skew before a fresher claim is flagged
//! distro_minor_issues: exclude     # Debian unimportant / no-dsa, Ubuntu negligible: exclude | include
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use weir_vuln::{MinorDistroPolicy, Policy};

use crate::cidr::{default_non_public, Cidr};
use crate::error::RiskError;

/// The file as written. Unknown keys are refused so a typo does not silently fall back to a default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    public_cidrs: Vec<String>,
    #[serde(default)]
    private_cidrs: Vec<String>,
    any_address_is_public: Option<bool>,
    #[serde(default)]
    public_interfaces: Vec<String>,
    #[serde(default)]
    hosts: BTreeMap<String, RawHost>,
    #[serde(default)]
    slo_days: RawSlo,
    #[serde(default)]
    alert: RawAlert,
    worst_n: Option<usize>,
    signals_disagree_days: Option<u32>,
    claim_tolerance_hours: Option<u32>,
    distro_minor_issues: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    any_address_is_public: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlo {
    oldest_exposed_vuln: Option<u32>,
    reverse_uptime: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlert {
    oldest_exposed_vuln_days: Option<u32>,
    reverse_uptime_days: Option<u32>,
    fleet_p95_oldest_exposed_vuln_days: Option<u32>,
    fleet_p95_reverse_uptime_days: Option<u32>,
    review_flags: Option<bool>,
}

/// Alert thresholds in days; `None` disables one.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    pub oldest_exposed_vuln_days: Option<u32>,
    pub reverse_uptime_days: Option<u32>,
    pub fleet_p95_oldest_exposed_vuln_days: Option<u32>,
    pub fleet_p95_reverse_uptime_days: Option<u32>,
    /// Raise an alert for reverse-uptime review flags (reset claims, disagreeing signals).
    pub review_flags: bool,
}

/// The loaded config with defaults applied.
#[derive(Debug, Clone)]
pub struct RiskConfig {
    /// Addresses listed here are Internet-facing even inside a private range (e.g. behind a 1:1 NAT).
    pub public_cidrs: Vec<Cidr>,
    /// Addresses never Internet-facing: the built-in private ranges plus the config's `private_cidrs`.
    pub non_public_cidrs: Vec<Cidr>,
    /// Whether a listener on any address (`0.0.0.0`, `::`) counts as Internet-facing. Default `true`: the
    /// inventory does not carry the host's interface addresses, so the collector cannot tell a host with
    /// only private addresses from one with a public one, and an unknown reach is counted rather than
    /// hidden. Fleets whose hosts sit behind NAT set it to `false` (globally or per host); the chains
    /// always say which listeners were any-address so the number can be read either way.
    pub any_address_is_public: bool,
    /// Per host id or host name overrides of `any_address_is_public`.
    pub host_any_address_is_public: BTreeMap<String, bool>,
    /// Interfaces (by name) that face the Internet: an any-address listener
    /// on a host that has one counts as public.
    pub public_interfaces: Vec<String>,
    pub slo_oldest_exposed_vuln_days: u32,
    pub slo_reverse_uptime_days: u32,
    pub thresholds: Thresholds,
    pub worst_n: usize,
    /// Host-age signals further apart than this are flagged "signals disagree".
    pub signals_disagree_days: u32,
    /// Slack before a claim later than the collector's first sighting, or a claim moving later, is flagged
    /// (clock skew, enrolment just before the first scan).
    pub claim_tolerance_hours: u32,
    pub policy: Policy,
}

impl Default for RiskConfig {
    fn default() -> RiskConfig {
        RiskConfig {
            public_cidrs: Vec::new(),
            non_public_cidrs: default_non_public(),
            any_address_is_public: true,
            host_any_address_is_public: BTreeMap::new(),
            public_interfaces: Vec::new(),
            slo_oldest_exposed_vuln_days: 30,
            slo_reverse_uptime_days: 90,
            thresholds: Thresholds {
                oldest_exposed_vuln_days: Some(30),
                reverse_uptime_days: Some(90),
                fleet_p95_oldest_exposed_vuln_days: None,
                fleet_p95_reverse_uptime_days: None,
                review_flags: true,
            },
            worst_n: 10,
            signals_disagree_days: 365,
            claim_tolerance_hours: 24,
            policy: Policy::default(),
        }
    }
}

/// How far a listening address reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    /// Bound to a specific public address.
    Public,
    /// Bound to every address; counted as public per `any_address_is_public`.
    AnyAddress,
    /// Bound to a specific non-public address (private, link-local, CGNAT, ...).
    Private,
    /// Loopback: never exposed.
    Loopback,
    /// The address could not be parsed; counted as exposed (an unknown reach is not hidden).
    Unknown,
}

impl RiskConfig {
    /// Reads a YAML config; errors name the file and the field.
    pub fn load(path: &Path) -> Result<RiskConfig, RiskError> {
        let text = std::fs::read_to_string(path).map_err(|source| RiskError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        RiskConfig::parse(&text, path)
    }

    /// Parses YAML text; `path` names it in errors. Empty text gives the defaults.
    pub fn parse(text: &str, path: &Path) -> Result<RiskConfig, RiskError> {
        let err = |field: &str, reason: String| RiskError::Config {
            path: path.to_path_buf(),
            field: field.to_string(),
            reason,
        };
        let raw: RawConfig = if text.trim().is_empty() {
            RawConfig::default()
        } else {
            serde_yaml::from_str(text).map_err(|e| {
                let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
                // serde_yaml appends the position to its message; it is in the error's own fields.
                let message = e.to_string();
                let message = match message.rfind(" at line ") {
                    Some(i) => message[..i].to_string(),
                    None => message,
                };
                RiskError::Yaml {
                    path: path.to_path_buf(),
                    line,
                    column,
                    message,
                }
            })?
        };
        let mut cfg = RiskConfig::default();
        for (i, c) in raw.public_cidrs.iter().enumerate() {
            cfg.public_cidrs
                .push(Cidr::parse(c).map_err(|r| err(&format!("public_cidrs[{i}]"), r))?);
        }
        for (i, c) in raw.private_cidrs.iter().enumerate() {
            cfg.non_public_cidrs
                .push(Cidr::parse(c).map_err(|r| err(&format!("private_cidrs[{i}]"), r))?);
        }
        if let Some(v) = raw.any_address_is_public {
            cfg.any_address_is_public = v;
        }
        cfg.public_interfaces = raw.public_interfaces;
        for (host, h) in raw.hosts {
            if let Some(v) = h.any_address_is_public {
                cfg.host_any_address_is_public.insert(host, v);
            }
        }
        if let Some(v) = raw.slo_days.oldest_exposed_vuln {
            cfg.slo_oldest_exposed_vuln_days = v;
        }
        if let Some(v) = raw.slo_days.reverse_uptime {
            cfg.slo_reverse_uptime_days = v;
        }
        let a = raw.alert;
        if a.oldest_exposed_vuln_days.is_some() {
            cfg.thresholds.oldest_exposed_vuln_days = a.oldest_exposed_vuln_days;
        }
        if a.reverse_uptime_days.is_some() {
            cfg.thresholds.reverse_uptime_days = a.reverse_uptime_days;
        }
        cfg.thresholds.fleet_p95_oldest_exposed_vuln_days = a.fleet_p95_oldest_exposed_vuln_days;
        cfg.thresholds.fleet_p95_reverse_uptime_days = a.fleet_p95_reverse_uptime_days;
        if let Some(v) = a.review_flags {
            cfg.thresholds.review_flags = v;
        }
        if let Some(n) = raw.worst_n {
            if n == 0 {
                return Err(err("worst_n", "must be at least 1".into()));
            }
            cfg.worst_n = n;
        }
        if let Some(d) = raw.signals_disagree_days {
            cfg.signals_disagree_days = d;
        }
        if let Some(h) = raw.claim_tolerance_hours {
            cfg.claim_tolerance_hours = h;
        }
        if let Some(p) = raw.distro_minor_issues {
            cfg.policy.minor_distro = match p.as_str() {
                "exclude" => MinorDistroPolicy::Exclude,
                "include" => MinorDistroPolicy::Include,
                other => {
                    return Err(err(
                        "distro_minor_issues",
                        format!("{other:?} is neither `exclude` nor `include`"),
                    ))
                }
            };
        }
        Ok(cfg)
    }

    /// The config at `explicit`, else `DATA/risk.yaml` when it exists, else the defaults.
    pub fn find(explicit: Option<&Path>, data_dir: &Path) -> Result<(RiskConfig, Option<PathBuf>), RiskError> {
        if let Some(p) = explicit {
            return Ok((RiskConfig::load(p)?, Some(p.to_path_buf())));
        }
        let p = data_dir.join("risk.yaml");
        if p.is_file() {
            return Ok((RiskConfig::load(&p)?, Some(p)));
        }
        Ok((RiskConfig::default(), None))
    }

    /// Classifies a listener's bound address.
    pub fn reach(&self, address: &str) -> Reach {
        let Some(ip) = crate::cidr::parse_listener_address(address) else {
            return Reach::Unknown;
        };
        if ip.is_loopback() {
            return Reach::Loopback;
        }
        if ip.is_unspecified() {
            return Reach::AnyAddress;
        }
        if self.public_cidrs.iter().any(|c| c.contains(ip)) {
            return Reach::Public;
        }
        if self.non_public_cidrs.iter().any(|c| c.contains(ip)) {
            return Reach::Private;
        }
        Reach::Public
    }

    /// Whether a listener with this reach counts as exposed on this host.
    pub fn is_exposed(&self, reach: Reach, host_id: &str, host_name: &str) -> bool {
        self.is_exposed_on(reach, host_id, host_name, &[])
    }

    /// [`Self::is_exposed`] knowing the host's interface addresses
    /// ("<ifname> <ip>/<prefix>", from its inventory). An any-address
    /// listener follows, in order: a per-host override; a public interface
    /// named in the config; whether any interface address is public (when
    /// the host sent its addresses); else `any_address_is_public`.
    pub fn is_exposed_on(&self, reach: Reach, host_id: &str, host_name: &str, addresses: &[String]) -> bool {
        match reach {
            Reach::Public | Reach::Unknown => true,
            Reach::Private | Reach::Loopback => false,
            Reach::AnyAddress => {
                if let Some(v) = self
                    .host_any_address_is_public
                    .get(host_id)
                    .or_else(|| self.host_any_address_is_public.get(host_name))
                {
                    return *v;
                }
                let parsed: Vec<(&str, &str)> = addresses
                    .iter()
                    .filter_map(|a| a.split_once(' '))
                    .map(|(ifname, cidr)| (ifname, cidr.split('/').next().unwrap_or(cidr)))
                    .collect();
                if parsed
                    .iter()
                    .any(|(ifname, _)| self.public_interfaces.iter().any(|p| p == ifname))
                {
                    return true;
                }
                if parsed.is_empty() {
                    return self.any_address_is_public;
                }
                parsed.iter().any(|(_, ip)| self.reach(ip) == Reach::Public)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RiskConfig, RiskError> {
        RiskConfig::parse(text, Path::new("risk.yaml"))
    }

    #[test]
    fn defaults_classify_addresses() {
        let c = RiskConfig::default();
        assert_eq!(c.reach("203.0.114.7"), Reach::Public);
        assert_eq!(c.reach("10.1.2.3"), Reach::Private);
        assert_eq!(c.reach("100.64.3.1"), Reach::Private);
        assert_eq!(c.reach("fd00::5"), Reach::Private);
        assert_eq!(c.reach("0.0.0.0"), Reach::AnyAddress);
        assert_eq!(c.reach("::"), Reach::AnyAddress);
        assert_eq!(c.reach("127.0.0.1"), Reach::Loopback);
        assert_eq!(c.reach("2a00:1450::1"), Reach::Public);
    }

    #[test]
    fn config_overrides_ranges_and_hosts() {
        let c = parse(
            "public_cidrs: [10.9.0.0/16]\nprivate_cidrs: [198.51.0.0/16]\nany_address_is_public: false\nhosts:\n  web-1: {any_address_is_public: true}\n",
        )
        .unwrap();
        assert_eq!(c.reach("10.9.1.1"), Reach::Public);
        assert_eq!(c.reach("10.8.1.1"), Reach::Private);
        assert_eq!(c.reach("198.51.7.7"), Reach::Private);
        assert!(c.is_exposed(Reach::AnyAddress, "id-1", "web-1"));
        assert!(!c.is_exposed(Reach::AnyAddress, "id-2", "db-1"));
    }

    #[test]
    fn any_address_follows_the_hosts_interface_addresses() {
        let c = RiskConfig::default();
        let private = vec!["lo 127.0.0.1/8".to_string(), "eth0 10.0.3.7/24".to_string()];
        let public = vec!["lo 127.0.0.1/8".to_string(), "eth0 203.0.114.9/24".to_string()];
        assert!(!c.is_exposed_on(Reach::AnyAddress, "h", "h", &private));
        assert!(c.is_exposed_on(Reach::AnyAddress, "h", "h", &public));
        // No addresses sent: the global default.
        assert!(c.is_exposed_on(Reach::AnyAddress, "h", "h", &[]));
        // A named public interface (1:1 NAT on a private address) and a host override.
        let c = parse(
            "public_interfaces: [eth0]
hosts:
  db-1: {any_address_is_public: false}
",
        )
        .unwrap();
        assert!(c.is_exposed_on(Reach::AnyAddress, "h", "h", &private));
        assert!(!c.is_exposed_on(Reach::AnyAddress, "x", "db-1", &public));
    }

    #[test]
    fn errors_name_file_and_field() {
        let e = parse("public_cidrs: [10.1.2.3/8]").unwrap_err().to_string();
        assert!(e.starts_with("risk.yaml: field `public_cidrs[0]`"), "{e}");
        let e = parse("slo_days: {oldest_exposd_vuln: 3}").unwrap_err().to_string();
        assert!(
            e.starts_with("risk.yaml: line 1 column") && e.contains("slo_days: unknown field `oldest_exposd_vuln`"),
            "{e}"
        );
        let e = parse("worst_n: [1]").unwrap_err().to_string();
        assert_eq!(
            e,
            "risk.yaml: line 1 column 10: worst_n: invalid type: sequence, expected usize"
        );
        let e = parse("distro_minor_issues: maybe").unwrap_err().to_string();
        assert!(e.contains("`distro_minor_issues`"), "{e}");
        let e = parse("worst_n: 0").unwrap_err().to_string();
        assert!(e.contains("`worst_n`"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_yaml_never_panics(s in "\\PC{0,200}") {
            let _ = parse(&s);
        }

        #[test]
        fn slo_values_round_trip(a in 0u32..10_000, b in 0u32..10_000) {
            let c = parse(&format!("slo_days:\n  oldest_exposed_vuln: {a}\n  reverse_uptime: {b}\n")).unwrap();
            proptest::prop_assert_eq!(c.slo_oldest_exposed_vuln_days, a);
            proptest::prop_assert_eq!(c.slo_reverse_uptime_days, b);
        }
    }
}
