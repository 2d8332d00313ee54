//! Fleet aggregates of the two risk metrics (max, p95, histogram, worst hosts, share within SLO), the
//! daily series, threshold breaches for the alert path, and Prometheus gauges.

use serde::{Deserialize, Serialize};
use weir_vuln::VulnDb;

use crate::config::RiskConfig;
use crate::error::RiskError;
use crate::store::{HostRisk, RiskStore};

const NS_PER_DAY: u64 = 86_400 * 1_000_000_000;

/// Hosts per age bucket: `<7`, `7–30`, `30–90`, `>90` days (lower bound inclusive), and hosts with no value.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Histogram {
    /// Hosts with nothing to age (no exposed vulnerability).
    pub none: usize,
    pub under_7: usize,
    pub from_7_to_30: usize,
    pub from_30_to_90: usize,
    pub over_90: usize,
}

impl Histogram {
    fn add(&mut self, days: Option<i64>) {
        match days {
            None => self.none += 1,
            Some(d) if d < 7 => self.under_7 += 1,
            Some(d) if d < 30 => self.from_7_to_30 += 1,
            Some(d) if d <= 90 => self.from_30_to_90 += 1,
            Some(_) => self.over_90 += 1,
        }
    }
}

/// A host's value for one metric.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostValue {
    pub host_id: String,
    pub host_name: String,
    pub days: i64,
    /// What the number comes from (advisory and package, or the install signal).
    pub detail: String,
}

/// One metric over the fleet. Hosts without a value count as 0 days.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MetricSummary {
    pub max: i64,
    /// Nearest-rank 95th percentile.
    pub p95: i64,
    pub histogram: Histogram,
    pub slo_days: u32,
    pub within_slo: usize,
    /// Share of hosts at or under the SLO (1.0 for an empty fleet).
    pub share_within_slo: f64,
    /// The highest values first.
    pub worst: Vec<HostValue>,
}

/// The per-host numbers behind the fleet view.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostSummary {
    pub host_id: String,
    pub host_name: String,
    pub oldest_exposed_vuln_days: Option<i64>,
    pub oldest_exposed_advisory: Option<String>,
    pub oldest_exposed_package: Option<String>,
    pub oldest_exposed_has_fix: Option<bool>,
    /// The oldest exposed chain in one line (advisory, package, listener, process, fix).
    pub oldest_exposed_detail: Option<String>,
    pub reverse_uptime_days: i64,
    /// Where the reverse uptime comes from, in one line.
    pub reverse_uptime_detail: String,
    /// Kinds of the reverse-uptime flags (`no_signals` included).
    pub review_flags: Vec<String>,
    pub inventory_received_unix_ns: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FleetRisk {
    pub at_unix_ns: u64,
    /// Hosts with an inventory.
    pub hosts: usize,
    /// Hosts known to the collector without an inventory yet.
    pub hosts_without_inventory: usize,
    /// Hosts whose latest inventory is older than a day.
    pub stale_inventories: usize,
    pub oldest_exposed_vuln: MetricSummary,
    pub reverse_uptime: MetricSummary,
    /// Hosts with a reverse-uptime flag other than `no_signals` (a note, not a finding).
    pub hosts_flagged_for_review: usize,
    pub per_host: Vec<HostSummary>,
}

/// One day of the series.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DailyPoint {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub hosts: usize,
    pub oldest_exposed_vuln_max: i64,
    pub oldest_exposed_vuln_p95: i64,
    pub oldest_exposed_vuln_share_within_slo: f64,
    pub reverse_uptime_max: i64,
    pub reverse_uptime_p95: i64,
    pub reverse_uptime_share_within_slo: f64,
    pub hosts_flagged_for_review: usize,
}

/// A threshold crossed, for the lead's alert path.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Breach {
    /// `oldest_exposed_vuln`, `reverse_uptime`, `fleet_p95_oldest_exposed_vuln`, `fleet_p95_reverse_uptime`,
    /// `reverse_uptime_review`.
    pub metric: String,
    /// `None` for fleet-wide breaches.
    pub host_id: Option<String>,
    pub host_name: Option<String>,
    pub value_days: i64,
    pub threshold_days: u32,
    pub detail: String,
}

/// Nearest-rank percentile of ascending-sorted values.
pub fn percentile(sorted: &[i64], pct: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((pct / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summarize(values: Vec<(Option<i64>, HostValue)>, slo_days: u32, worst_n: usize) -> MetricSummary {
    let mut s = MetricSummary {
        slo_days,
        ..MetricSummary::default()
    };
    let mut days: Vec<i64> = values.iter().map(|(d, _)| d.unwrap_or(0)).collect();
    days.sort_unstable();
    s.max = days.last().copied().unwrap_or(0);
    s.p95 = percentile(&days, 95.0);
    s.within_slo = days.iter().filter(|d| **d <= slo_days as i64).count();
    s.share_within_slo = if days.is_empty() {
        1.0
    } else {
        s.within_slo as f64 / days.len() as f64
    };
    for (d, _) in &values {
        s.histogram.add(*d);
    }
    let mut worst: Vec<HostValue> = values
        .into_iter()
        .filter(|(d, _)| d.is_some())
        .map(|(_, v)| v)
        .collect();
    worst.sort_by(|a, b| b.days.cmp(&a.days).then_with(|| a.host_name.cmp(&b.host_name)));
    worst.truncate(worst_n);
    s.worst = worst;
    s
}

/// The per-host numbers of a host's risk (the chains themselves are left behind).
pub fn summary_of(h: &HostRisk) -> HostSummary {
    let oldest = h.exposure.oldest.as_ref();
    let mut kinds: Vec<String> = h.reverse_uptime.flags.iter().map(|f| f.kind.clone()).collect();
    kinds.sort();
    kinds.dedup();
    let u = &h.reverse_uptime;
    HostSummary {
        host_id: h.host_id.clone(),
        host_name: h.host_name.clone(),
        oldest_exposed_vuln_days: oldest.map(|c| c.age_days),
        oldest_exposed_advisory: oldest.map(|c| c.advisory_id.clone()),
        oldest_exposed_package: oldest.map(|c| format!("{} {} {}", c.ecosystem, c.package, c.version)),
        oldest_exposed_has_fix: oldest.map(|c| c.has_fix()),
        oldest_exposed_detail: oldest.map(|c| {
            format!(
                "{} in {} {} {} via {}:{} ({}){}",
                c.advisory_id,
                c.ecosystem,
                c.package,
                c.version,
                c.address,
                c.port,
                c.executable,
                if c.has_fix() { "" } else { ", no fix" }
            )
        }),
        reverse_uptime_days: u.days,
        reverse_uptime_detail: format!(
            "claim: {}; {} flag(s)",
            u.claim_basis.as_deref().unwrap_or("no host signal"),
            u.flags.len()
        ),
        review_flags: kinds,
        inventory_received_unix_ns: h.inventory_received_unix_ns,
    }
}

/// The UTC day label (`YYYY-MM-DD`) of a time: the date part of its RFC 3339 form.
pub fn day_label(unix_ns: u64) -> String {
    weir_event::ecs::rfc3339_nanos(unix_ns)[..10].to_string()
}

impl RiskStore {
    /// The fleet view at `now_unix_ns`. The summaries read only each host's oldest chains, so no chain
    /// list is written out.
    pub fn fleet(&self, db: &VulnDb, cfg: &RiskConfig, now_unix_ns: u64) -> Result<FleetRisk, RiskError> {
        let mut summaries = Vec::new();
        let mut without_inventory = 0;
        for h in self.hosts()? {
            match self.host_risk_up_to(&h.host_id, db, cfg, now_unix_ns, 0)? {
                Some(r) => summaries.push(summary_of(&r)),
                None => without_inventory += 1,
            }
        }
        Ok(fleet_of(summaries, without_inventory, cfg, now_unix_ns))
    }

    /// Computes the fleet view and stores it as today's point (replacing an earlier one of the same day).
    pub fn record_daily(&self, fleet: &FleetRisk) -> Result<DailyPoint, RiskError> {
        let point = DailyPoint {
            day: day_label(fleet.at_unix_ns),
            hosts: fleet.hosts,
            oldest_exposed_vuln_max: fleet.oldest_exposed_vuln.max,
            oldest_exposed_vuln_p95: fleet.oldest_exposed_vuln.p95,
            oldest_exposed_vuln_share_within_slo: fleet.oldest_exposed_vuln.share_within_slo,
            reverse_uptime_max: fleet.reverse_uptime.max,
            reverse_uptime_p95: fleet.reverse_uptime.p95,
            reverse_uptime_share_within_slo: fleet.reverse_uptime.share_within_slo,
            hosts_flagged_for_review: fleet.hosts_flagged_for_review,
        };
        let json = serde_json::to_string(&point).expect("a daily point serializes");
        self.put_daily(&point.day, &json, fleet.at_unix_ns)?;
        Ok(point)
    }

    /// The daily points of the `days` days up to `now_unix_ns`, oldest first.
    pub fn series(&self, days: u32, now_unix_ns: u64) -> Result<Vec<DailyPoint>, RiskError> {
        let first = day_label(now_unix_ns.saturating_sub(days.saturating_sub(1) as u64 * NS_PER_DAY));
        self.daily_since(&first)?
            .into_iter()
            .map(|s| {
                serde_json::from_str(&s).map_err(|e| RiskError::Corrupt {
                    path: self.path().to_path_buf(),
                    what: "daily point".into(),
                    reason: e.to_string(),
                })
            })
            .collect()
    }
}

/// Aggregates per-host summaries into the fleet view.
pub fn fleet_of(
    per_host: Vec<HostSummary>,
    hosts_without_inventory: usize,
    cfg: &RiskConfig,
    now_unix_ns: u64,
) -> FleetRisk {
    let value = |h: &HostSummary, days: i64, detail: &str| HostValue {
        host_id: h.host_id.clone(),
        host_name: h.host_name.clone(),
        days,
        detail: detail.to_string(),
    };
    let exposure = per_host
        .iter()
        .map(|h| {
            let days = h.oldest_exposed_vuln_days;
            let detail = h.oldest_exposed_detail.as_deref().unwrap_or("no exposed vulnerability");
            (days, value(h, days.unwrap_or(0), detail))
        })
        .collect();
    let uptime = per_host
        .iter()
        .map(|h| {
            (
                Some(h.reverse_uptime_days),
                value(h, h.reverse_uptime_days, &h.reverse_uptime_detail),
            )
        })
        .collect();
    let stale = per_host
        .iter()
        .filter(|h| now_unix_ns.saturating_sub(h.inventory_received_unix_ns) > NS_PER_DAY)
        .count();
    FleetRisk {
        at_unix_ns: now_unix_ns,
        hosts: per_host.len(),
        hosts_without_inventory,
        stale_inventories: stale,
        oldest_exposed_vuln: summarize(exposure, cfg.slo_oldest_exposed_vuln_days, cfg.worst_n),
        reverse_uptime: summarize(uptime, cfg.slo_reverse_uptime_days, cfg.worst_n),
        hosts_flagged_for_review: per_host
            .iter()
            .filter(|h| h.review_flags.iter().any(|k| k != crate::uptime::FLAG_NO_SIGNALS))
            .count(),
        per_host,
    }
}

/// Thresholds crossed by hosts and by the fleet, per the config.
pub fn breaches(fleet: &FleetRisk, cfg: &RiskConfig) -> Vec<Breach> {
    let t = &cfg.thresholds;
    let mut out = Vec::new();
    for h in &fleet.per_host {
        let host = |metric: &str, value: i64, threshold: u32, detail: String| Breach {
            metric: metric.into(),
            host_id: Some(h.host_id.clone()),
            host_name: Some(h.host_name.clone()),
            value_days: value,
            threshold_days: threshold,
            detail,
        };
        if let (Some(limit), Some(days)) = (t.oldest_exposed_vuln_days, h.oldest_exposed_vuln_days) {
            if days > limit as i64 {
                out.push(host(
                    "oldest_exposed_vuln",
                    days,
                    limit,
                    format!(
                        "{} exposed for {days} days in {}",
                        h.oldest_exposed_advisory.as_deref().unwrap_or("?"),
                        h.oldest_exposed_package.as_deref().unwrap_or("?")
                    ),
                ));
            }
        }
        if let Some(limit) = t.reverse_uptime_days {
            if h.reverse_uptime_days > limit as i64 {
                out.push(host(
                    "reverse_uptime",
                    h.reverse_uptime_days,
                    limit,
                    format!("last clean install {} days ago", h.reverse_uptime_days),
                ));
            }
        }
        // `no_signals` is a note (the collector's first sighting stands in), not a reason to alert.
        let review: Vec<&str> = h
            .review_flags
            .iter()
            .map(String::as_str)
            .filter(|k| *k != crate::uptime::FLAG_NO_SIGNALS)
            .collect();
        if t.review_flags && !review.is_empty() {
            out.push(host(
                "reverse_uptime_review",
                h.reverse_uptime_days,
                0,
                format!("review: {}", review.join(", ")),
            ));
        }
    }
    let fleet_breach = |metric: &str, value: i64, threshold: Option<u32>| {
        threshold.filter(|l| value > *l as i64).map(|l| Breach {
            metric: metric.into(),
            host_id: None,
            host_name: None,
            value_days: value,
            threshold_days: l,
            detail: format!("fleet p95 is {value} days over {} hosts", fleet.hosts),
        })
    };
    out.extend(fleet_breach(
        "fleet_p95_oldest_exposed_vuln",
        fleet.oldest_exposed_vuln.p95,
        t.fleet_p95_oldest_exposed_vuln_days,
    ));
    out.extend(fleet_breach(
        "fleet_p95_reverse_uptime",
        fleet.reverse_uptime.p95,
        t.fleet_p95_reverse_uptime_days,
    ));
    out
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Prometheus text exposition of the risk gauges.
pub fn prometheus_text(fleet: &FleetRisk) -> String {
    let mut s = String::new();
    s.push_str("# HELP weir_risk_oldest_exposed_vuln_days Age in days of the oldest Internet-exposed vulnerability on the host (0: none).\n");
    s.push_str("# TYPE weir_risk_oldest_exposed_vuln_days gauge\n");
    for h in &fleet.per_host {
        s.push_str(&format!(
            "weir_risk_oldest_exposed_vuln_days{{host=\"{}\",host_id=\"{}\"}} {}\n",
            escape_label(&h.host_name),
            escape_label(&h.host_id),
            h.oldest_exposed_vuln_days.unwrap_or(0)
        ));
    }
    s.push_str("# HELP weir_risk_reverse_uptime_days Days since the host's last clean install (conservative).\n");
    s.push_str("# TYPE weir_risk_reverse_uptime_days gauge\n");
    for h in &fleet.per_host {
        s.push_str(&format!(
            "weir_risk_reverse_uptime_days{{host=\"{}\",host_id=\"{}\"}} {}\n",
            escape_label(&h.host_name),
            escape_label(&h.host_id),
            h.reverse_uptime_days
        ));
    }
    for (name, help, m) in [
        (
            "oldest_exposed_vuln",
            "oldest exposed vulnerability",
            &fleet.oldest_exposed_vuln,
        ),
        ("reverse_uptime", "reverse uptime", &fleet.reverse_uptime),
    ] {
        for (stat, v) in [
            ("max", m.max as f64),
            ("p95", m.p95 as f64),
            ("share_within_slo", m.share_within_slo),
        ] {
            s.push_str(&format!(
                "# HELP weir_risk_fleet_{name}_{stat} Fleet {stat} of the {help} metric.\n# TYPE weir_risk_fleet_{name}_{stat} gauge\nweir_risk_fleet_{name}_{stat} {v}\n"
            ));
        }
    }
    s.push_str(&format!(
        "# HELP weir_risk_fleet_hosts Hosts with an inventory.\n# TYPE weir_risk_fleet_hosts gauge\nweir_risk_fleet_hosts {}\n",
        fleet.hosts
    ));
    s.push_str(&format!(
        "# HELP weir_risk_fleet_hosts_flagged_for_review Hosts whose reverse uptime needs review.\n# TYPE weir_risk_fleet_hosts_flagged_for_review gauge\nweir_risk_fleet_hosts_flagged_for_review {}\n",
        fleet.hosts_flagged_for_review
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentile() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 95.0), 95);
        assert_eq!(percentile(&[3], 95.0), 3);
        assert_eq!(percentile(&[], 95.0), 0);
        let v: Vec<i64> = (1..=20).collect();
        assert_eq!(percentile(&v, 95.0), 19);
    }

    #[test]
    fn histogram_bucket_edges() {
        let mut h = Histogram::default();
        for d in [None, Some(0), Some(6), Some(7), Some(29), Some(30), Some(90), Some(91)] {
            h.add(d);
        }
        assert_eq!(
            h,
            Histogram {
                none: 1,
                under_7: 2,
                from_7_to_30: 2,
                from_30_to_90: 2,
                over_90: 1
            }
        );
    }

    use proptest::prelude::*;

    proptest! {
        /// The label is the calendar date the time crate gives for the same instant, for any u64 time.
        #[test]
        fn day_label_is_the_utc_calendar_date(unix_ns in any::<u64>()) {
            let d = time::OffsetDateTime::from_unix_timestamp_nanos(unix_ns as i128).unwrap().date();
            prop_assert_eq!(day_label(unix_ns), format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day()));
        }
    }

    #[test]
    fn day_label_at_day_edges() {
        assert_eq!(day_label(0), "1970-01-01");
        // 2024-02-29T23:59:59.999999999Z and one nanosecond later.
        let leap_day_end = 1_709_251_199_999_999_999;
        assert_eq!(day_label(leap_day_end), "2024-02-29");
        assert_eq!(day_label(leap_day_end + 1), "2024-03-01");
    }
}
