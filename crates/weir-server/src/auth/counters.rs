//! Counters of the authentication layer for `GET /metrics`, and the budget
//! that bounds audit rows written for unauthenticated callers (so refused
//! anonymous requests cannot fill the disk or queue fsyncs: past the budget
//! they are counted, and a summary row says how many were not recorded).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One counter per outcome the operator may want to alert on.
#[derive(Default)]
pub struct AuthCounters {
    pub logins_ok: AtomicU64,
    pub logins_refused: AtomicU64,
    pub logins_rate_limited: AtomicU64,
    pub logins_busy: AtomicU64,
    pub unauthenticated: AtomicU64,
    pub forbidden: AtomicU64,
    pub csrf_refused: AtomicU64,
    pub audit_rows: AtomicU64,
    pub audit_rows_not_recorded: AtomicU64,
    pub audit_write_errors: AtomicU64,
}

pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl AuthCounters {
    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP weir_auth_logins_total Sign-in attempts by outcome.\n# TYPE weir_auth_logins_total counter"
        );
        for (outcome, counter) in [
            ("ok", &self.logins_ok),
            ("refused", &self.logins_refused),
            ("rate_limited", &self.logins_rate_limited),
            ("busy", &self.logins_busy),
        ] {
            let _ = writeln!(
                out,
                "weir_auth_logins_total{{outcome=\"{outcome}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP weir_auth_refused_requests_total API and console requests refused, by reason.\n# TYPE weir_auth_refused_requests_total counter"
        );
        for (reason, counter) in [
            ("unauthenticated", &self.unauthenticated),
            ("forbidden", &self.forbidden),
            ("csrf", &self.csrf_refused),
        ] {
            let _ = writeln!(
                out,
                "weir_auth_refused_requests_total{{reason=\"{reason}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        for (name, help, counter) in [
            ("weir_audit_rows_total", "Audit rows written.", &self.audit_rows),
            (
                "weir_audit_rows_not_recorded_total",
                "Audit rows for unauthenticated callers past the budget (counted, not written).",
                &self.audit_rows_not_recorded,
            ),
            (
                "weir_audit_write_errors_total",
                "Audit rows that could not be written.",
                &self.audit_write_errors,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        out
    }
}

/// At most `per_minute` unauthenticated audit rows a minute.
pub struct AuditBudget {
    per_minute: u32,
    state: Mutex<(Instant, u32, u64)>,
}

/// What to do with one unauthenticated audit row.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    /// Write it; first write a summary of `skipped` rows not recorded since
    /// the last one written, if any.
    Write { skipped: u64 },
    /// Over budget: count it only.
    Skip,
}

impl AuditBudget {
    pub fn new(per_minute: u32) -> AuditBudget {
        AuditBudget {
            per_minute,
            state: Mutex::new((Instant::now(), 0, 0)),
        }
    }

    pub fn admit(&self, now: Instant) -> Admit {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (window_start, used, skipped) = &mut *state;
        if now.duration_since(*window_start) >= Duration::from_secs(60) {
            *window_start = now;
            *used = 0;
        }
        if *used >= self.per_minute {
            *skipped += 1;
            return Admit::Skip;
        }
        *used += 1;
        Admit::Write {
            skipped: std::mem::take(skipped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_admits_then_counts_then_reports_what_it_skipped() {
        let budget = AuditBudget::new(2);
        let t0 = Instant::now();
        assert_eq!(budget.admit(t0), Admit::Write { skipped: 0 });
        assert_eq!(budget.admit(t0), Admit::Write { skipped: 0 });
        assert_eq!(budget.admit(t0), Admit::Skip);
        assert_eq!(budget.admit(t0), Admit::Skip);
        let later = t0 + Duration::from_secs(61);
        assert_eq!(budget.admit(later), Admit::Write { skipped: 2 });
        assert_eq!(budget.admit(later), Admit::Write { skipped: 0 });
    }

    #[test]
    fn renders_prometheus_text() {
        let counters = AuthCounters::default();
        bump(&counters.logins_refused);
        let text = counters.render();
        assert!(text.contains("weir_auth_logins_total{outcome=\"refused\"} 1"), "{text}");
        assert!(text.contains("weir_audit_rows_not_recorded_total 0"));
    }
}
