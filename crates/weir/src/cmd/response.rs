//! Automated response wired into a running collector: the detection stage's
//! hooks (send a command down a host's stream, keep collector-side action
//! records in the evidence log, hand opened alerts on), and the task that
//! keeps every connected sensor's in-kernel enforcement set current.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{Map, Value};
use weir_detect::{ResponseHooks, RuleMatch};
use weir_event::{event::Body, Action, Command, Event};

/// Called for each opened alert (notification, triage); must not block.
pub type AlertListener = Arc<dyn Fn(i64, &RuleMatch, &Map<String, Value>) + Send + Sync>;

/// The detection stage's way out to hosts and to the evidence log. It is
/// created before the collector starts (detection is the collector's event
/// hook) and attached to it once it runs.
#[derive(Default)]
pub struct CollectorHooks {
    control: Arc<OnceLock<weir_server::Control>>,
    listeners: OnceLock<Vec<AlertListener>>,
}

impl std::fmt::Debug for CollectorHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CollectorHooks")
    }
}

impl CollectorHooks {
    /// Connects the hooks to the running collector.
    pub fn attach(&self, control: weir_server::Control) {
        let _ = self.control.set(control);
    }

    /// The collector handle, shared with the HTTP routes that need it.
    pub fn control(&self) -> Arc<OnceLock<weir_server::Control>> {
        self.control.clone()
    }

    /// Sets who hears about opened alerts (once).
    pub fn on_alert(&self, listeners: Vec<AlertListener>) {
        let _ = self.listeners.set(listeners);
    }
}

impl ResponseHooks for CollectorHooks {
    fn send_command(&self, host_id: &str, command: Command) -> Result<(), String> {
        let control = self.control.get().ok_or("the collector is not running yet")?;
        control.try_send_command(host_id, command).map_err(|e| e.to_string())
    }

    fn record_action(&self, action: Action) {
        let Some(control) = self.control.get() else {
            tracing::error!(command = %action.command_id, "action not recorded: the collector is not running");
            return;
        };
        let event = Event {
            time_unix_ns: super::now_ns(),
            body: Some(Body::Action(action)),
            ..Default::default()
        };
        if let Err(e) = control.record_event(event) {
            tracing::error!("recording an action in the evidence log: {e}");
        }
    }

    fn alert_opened(&self, alert_id: i64, m: &RuleMatch, ecs: &Map<String, Value>) {
        for listener in self.listeners.get().map(Vec::as_slice).unwrap_or_default() {
            listener(alert_id, m, ecs);
        }
    }
}

/// Pushes the enforcement set to every connected sensor when it changes and
/// when a sensor (re)connects; runs until the runtime stops.
pub fn spawn_enforce_pusher(
    control: weir_server::Control,
    detection: Arc<super::detection::DetectionSink>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // (host, stream number) -> the payload that stream was sent.
        let mut pushed: HashMap<(String, u64), String> = HashMap::new();
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            let set = detection.0.enforce_set();
            let connected = control.connections();
            pushed.retain(|stream, _| connected.contains(stream));
            for (host, connection) in connected {
                let stream = (host.clone(), connection);
                if pushed.get(&stream) == Some(&set.payload) {
                    continue;
                }
                let command = Command {
                    command_id: format!("enforce-{}", set.version),
                    action: "enforce_set".into(),
                    target: host.clone(),
                    policy_version: set.version.clone(),
                    payload: set.payload.clone(),
                    ..Default::default()
                };
                match control.try_send_command(&host, command) {
                    Ok(()) => {
                        pushed.insert(stream, set.payload.clone());
                    }
                    Err(e) => tracing::debug!(host = %host, "enforcement set not pushed yet: {e}"),
                }
            }
        }
    })
}
