//! What happens to an alert once it is opened: it goes to the configured
//! outputs (webhook, Slack, PagerDuty, syslog, email, file), and when its rule
//! says `confirm: actor` the person behind it is asked "was this you?" with a
//! single-use link that needs a TOTP code for a yes. A no, failed codes, or
//! silence past the deadline escalate to on-call at high priority. Every
//! step is an alert transition. Work happens on one thread fed by a bounded
//! queue, so the detection worker never waits on a network.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};
use weir_detect::{AlertStore, NewSuppression, RuleMatch};
use weir_notify::{Kind, Notification, Notifier, Priority, Recipient, Severity};
use weir_triage::{Directory, Escalation, Triage, TriageAlert, TriageHooks};

use super::alerts_api::RuleInfo;

/// One opened alert, as queued for the flow thread.
struct Opened {
    alert_id: i64,
    m: RuleMatch,
    ecs: Map<String, Value>,
}

/// Outputs and triage, as set up for a collector.
pub struct AlertFlow {
    queue: SyncSender<Opened>,
    pub triage: Option<Arc<Mutex<Triage>>>,
    shared: Arc<Shared>,
}

/// What the flow thread and the triage hooks share.
struct Shared {
    notifier: Option<Notifier>,
    alerts: PathBuf,
    directory: Option<Directory>,
    rules: HashMap<String, RuleInfo>,
    console: Mutex<String>,
    dropped: std::sync::atomic::AtomicU64,
}

impl AlertFlow {
    /// Loads outputs (when given) and the people directory (when present),
    /// opens triage in `data`, and starts the flow thread.
    pub fn start(
        data: &Path,
        outputs: Option<&Path>,
        people: Option<&Path>,
        rules: &[RuleInfo],
    ) -> anyhow::Result<AlertFlow> {
        let notifier = match outputs {
            Some(path) => {
                let config = weir_notify::OutputsConfig::load(path)?;
                tracing::info!(outputs = config.outputs.len(), "alert outputs from {}", path.display());
                Some(Notifier::start(config)?)
            }
            None => None,
        };
        let directory = match people {
            Some(path) => {
                let d = Directory::load(path)?;
                tracing::info!(people = d.people().len(), "people directory {}", path.display());
                Some(d)
            }
            None => None,
        };
        let wants_triage = rules.iter().any(|r| r.confirm.as_deref() == Some("actor"));
        let triage = if wants_triage || directory.is_some() {
            Some(Arc::new(Mutex::new(weir_triage::layout::open_in(
                data,
                "http://127.0.0.1",
            )?)))
        } else {
            None
        };
        let shared = Arc::new(Shared {
            notifier,
            alerts: super::detection::alerts_path(data),
            directory,
            rules: rules.iter().map(|r| (r.id.clone(), r.clone())).collect(),
            console: Mutex::new(String::new()),
            dropped: Default::default(),
        });
        let (queue, opened) = sync_channel::<Opened>(4096);
        let thread_shared = shared.clone();
        let thread_triage = triage.clone();
        std::thread::Builder::new()
            .name("weir-alert-flow".into())
            .spawn(move || flow(opened, thread_shared, thread_triage))?;
        Ok(AlertFlow { queue, triage, shared })
    }

    /// Where links point once the console's address is known.
    pub fn set_console_url(&self, url: &str) {
        *self.shared.console.lock().unwrap() = url.trim_end_matches('/').to_string();
        if let Some(triage) = &self.triage {
            triage.lock().unwrap().set_public_base_url(url);
        }
    }

    /// The detection stage's listener: queues the alert, never waits.
    pub fn listener(&self) -> super::response::AlertListener {
        let queue = self.queue.clone();
        let shared = self.shared.clone();
        Arc::new(move |alert_id, m: &RuleMatch, ecs: &Map<String, Value>| {
            let opened = Opened {
                alert_id,
                m: m.clone(),
                ecs: ecs.clone(),
            };
            if queue.try_send(opened).is_err() {
                let n = shared.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                tracing::error!(
                    alert = alert_id,
                    dropped = n,
                    "alert flow queue full: notification dropped"
                );
            }
        })
    }

    /// The public routes, when triage is on: the confirm page
    /// (`/triage/{token}`) and, given Slack's signing secret, the Yes/No
    /// buttons of Slack DMs (`/api/slack/interactions`).
    pub fn routes(&self, slack_signing_secret: Option<String>) -> Option<axum::Router> {
        let triage = self.triage.clone()?;
        let mut routes = weir_triage::router(triage.clone(), self.shared.clone());
        if let Some(secret) = slack_signing_secret {
            let shared = self.shared.clone();
            let console = Arc::new(move || shared.console.lock().unwrap().clone());
            routes = routes.merge(super::slack_interactions::routes(
                secret,
                triage,
                self.shared.clone(),
                console,
            ));
        }
        Some(routes)
    }

    /// Sends a notification of a collector-raised alert (risk threshold).
    pub fn notify(&self, n: &Notification) {
        if let Some(notifier) = &self.shared.notifier {
            notifier.send(n);
        }
    }

    /// Prometheus text of the outputs.
    pub fn prometheus(&self) -> String {
        let mut out = self
            .shared
            .notifier
            .as_ref()
            .map(Notifier::prometheus_text)
            .unwrap_or_default();
        out.push_str(&format!(
            "# HELP weir_alert_flow_dropped_total Opened alerts not notified because the flow queue was full.\n# TYPE weir_alert_flow_dropped_total counter\nweir_alert_flow_dropped_total {}\n",
            self.shared.dropped.load(std::sync::atomic::Ordering::Relaxed)
        ));
        out
    }
}

/// The flow thread: notifies and asks actors as alerts open, and turns
/// unanswered requests into escalations every second.
fn flow(opened: Receiver<Opened>, shared: Arc<Shared>, triage: Option<Arc<Mutex<Triage>>>) {
    loop {
        match opened.recv_timeout(Duration::from_secs(1)) {
            Ok(o) => shared.opened(&o, triage.as_deref()),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if let Some(triage) = &triage {
            let due = triage.lock().unwrap().due(super::now_s());
            match due {
                Ok(escalations) => {
                    for e in escalations {
                        TriageHooks::escalate(&*shared, &e);
                    }
                }
                Err(e) => tracing::error!("triage deadlines: {e}"),
            }
        }
    }
}

impl Shared {
    /// The flagged host's own addresses (from its latest inventory), so an
    /// answer coming from the host itself is flagged.
    fn host_addresses(&self, host_id: &str) -> Vec<std::net::IpAddr> {
        let data = self.alerts.parent().unwrap_or(Path::new("."));
        let addresses = weir_risk::RiskStore::open_in(data).and_then(|s| s.host_addresses(host_id));
        addresses
            .unwrap_or_default()
            .iter()
            .filter_map(|a| a.split_once(' '))
            .filter_map(|(_, cidr)| cidr.split('/').next()?.parse().ok())
            .collect()
    }

    fn link(&self, alert_id: i64) -> Option<String> {
        let base = self.console.lock().unwrap().clone();
        (!base.is_empty()).then(|| format!("{base}/alerts/{alert_id}"))
    }

    fn notification(&self, kind: Kind, alert_id: i64, m: &RuleMatch) -> Notification {
        let mut n = Notification::new(
            kind,
            Severity::from_level(&m.level),
            &m.rule_id,
            &m.rule_title,
            &m.host_id,
            &m.summary,
        );
        n.alert_id = Some(alert_id);
        n.actor = (!m.actor.is_empty()).then(|| m.actor.clone());
        n.dedup_key = format!("{}|{}", m.rule_id, m.group_key);
        n.time_unix_ns = m.time_unix_ns;
        n.url = self.link(alert_id);
        n
    }

    fn transition(&self, alert_id: i64, state: &str, note: &str) {
        let result = AlertStore::open(&self.alerts)
            .and_then(|mut s| s.transition(alert_id, state, "triage", note, super::now_ns()));
        if let Err(e) = result {
            tracing::warn!(alert = alert_id, "recording {state}: {e}");
        }
    }

    fn opened(&self, o: &Opened, triage: Option<&Mutex<Triage>>) {
        let mut n = self.notification(
            if o.m.rule_id == weir_detect::BREAKER_RULE_ID {
                Kind::Breaker
            } else {
                Kind::Alert
            },
            o.alert_id,
            &o.m,
        );
        for key in [
            "process.command_line",
            "process.entity_id",
            "process.parent.command_line",
            "file.path",
            "destination.ip",
        ] {
            if let Some(v) = o.ecs.get(key) {
                n.details.insert(key.to_string(), v.clone());
            }
        }
        if let Some(notifier) = &self.notifier {
            notifier.send(&n);
        }
        let confirm = self.rules.get(&o.m.rule_id).and_then(|r| r.confirm.clone());
        if confirm.as_deref() != Some("actor") {
            return;
        }
        let Some(triage) = triage else { return };
        let person = self.directory.as_ref().and_then(|d| weir_triage::actor_of(d, &o.ecs));
        let alert = TriageAlert {
            alert_id: o.alert_id,
            rule_id: o.m.rule_id.clone(),
            rule_title: o.m.rule_title.clone(),
            severity: o.m.level.clone(),
            host_id: o.m.host_id.clone(),
            host_name: o
                .ecs
                .get("host.name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            host_addresses: self.host_addresses(&o.m.host_id),
            summary: o.m.summary.clone(),
            person_id: person.map(|p| p.id.clone()).unwrap_or_default(),
        };
        let Some(person) = person else {
            let escalated = triage.lock().unwrap().escalate_without_actor(
                &alert,
                "the actor is not in the people directory",
                super::now_s(),
            );
            match escalated {
                Ok(e) => TriageHooks::escalate(self, &e),
                Err(e) => tracing::error!(alert = o.alert_id, "escalating: {e}"),
            }
            return;
        };
        let request = triage.lock().unwrap().request(&alert, super::now_s());
        match request {
            Ok(request) => {
                self.transition(o.alert_id, "pending_confirmation", &format!("asked {}", person.id));
                let mut ask = self.notification(Kind::TriageRequest, o.alert_id, &o.m);
                ask.url = Some(request.url.clone());
                ask.summary = format!("Was this you? {}", o.m.summary);
                ask.recipient = Some(Recipient {
                    email: person.email.clone(),
                    slack_user_id: person.slack_id.clone(),
                    triage_token: Some(request.token.clone()),
                });
                if let Some(notifier) = &self.notifier {
                    notifier.send(&ask);
                }
                let _ = triage
                    .lock()
                    .unwrap()
                    .mark_notified(o.alert_id, "outputs", super::now_s());
            }
            Err(e) => tracing::error!(alert = o.alert_id, "asking the actor: {e}"),
        }
    }
}

impl TriageHooks for Shared {
    fn escalate(&self, e: &Escalation) {
        self.transition(
            e.alert_id,
            "escalated",
            &format!("{} ({})", e.reason.as_str(), e.person_id),
        );
        let mut n = Notification::new(
            Kind::Escalation,
            Severity::from_level(&e.severity),
            &e.rule_id,
            &e.rule_title,
            &e.host_id,
            &format!("{}: {}", e.reason.as_str(), e.summary),
        );
        n.priority = Priority::High;
        n.alert_id = Some(e.alert_id);
        n.host_name = e.host_name.clone();
        n.actor = (!e.person_id.is_empty()).then(|| e.person_id.clone());
        n.dedup_key = format!("escalation|{}", e.alert_id);
        n.url = self.link(e.alert_id);
        match &self.notifier {
            Some(notifier) => {
                notifier.send(&n);
            }
            None => tracing::error!(
                alert = e.alert_id,
                "ESCALATION with no outputs configured: {}",
                n.summary
            ),
        }
    }

    fn confirmed(&self, c: &weir_triage::Confirmation) {
        self.transition(
            c.alert_id,
            "confirmed",
            &format!("confirmed by {} with a second factor", c.person_id),
        );
        let Some(grant) = &c.suppression else { return };
        let logins = self
            .directory
            .as_ref()
            .and_then(|d| d.get(&grant.person_id))
            .map(|p| p.logins.clone())
            .unwrap_or_default();
        let now = super::now_ns();
        for login in logins {
            let s = NewSuppression {
                rule_id: grant.rule_id.clone(),
                group_key: None,
                host_id: Some(grant.host_id.clone()),
                reason: format!("confirmed by {login} with a second factor (alert {})", grant.alert_id),
                author: format!("triage:{}", grant.person_id),
                created_unix_ns: now,
                expires_unix_ns: grant.until.saturating_mul(1_000_000_000),
            };
            if let Err(e) = AlertStore::open(&self.alerts).and_then(|mut st| st.suppress(&s)) {
                tracing::error!(alert = c.alert_id, "suppression after a confirmed yes: {e}");
            }
        }
    }
}
