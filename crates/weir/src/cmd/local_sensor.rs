//! A sensor on this host shipping into a collector: the sensor's events,
//! the responder's reports (in-kernel enforcement kills, automatic undos)
//! and the periodic host inventory share one channel into the shipper; the
//! collector's commands go to the responder. Used by `weir up` (collector
//! in-process) and by `weir sensor --collector URL` (collector elsewhere).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

/// A running sensor, its responder, the inventory scanner and the shipper.
pub struct LocalSensor {
    sensor: weir_sensor::Sensor,
    shipper: weir_ship::ShipperHandle,
    responder: Option<Arc<weir_respond::Responder>>,
    scanner: Option<weir_hostscan::Scanner>,
    url: String,
}

/// Bound of the channel into the shipper that the sensor's events (through
/// a forwarder: when it is full the sensor's own queue fills and the sensor
/// drops and counts) share with events made beside it (responder reports,
/// inventory), which are dropped and logged when it is full.
const SIDE_EVENTS: usize = 8192;

/// Where and how the shipper reaches its collector.
pub struct Collector {
    pub url: String,
    pub ca_pem: Vec<u8>,
    pub enroll_token: Option<String>,
}

impl LocalSensor {
    /// Starts the sensor and ships its events to `collector`; state (host key,
    /// spool) lives in `state_dir`.
    pub async fn start(
        collector: Collector,
        state_dir: &Path,
        sensor: weir_sensor::SensorConfig,
        identity: weir_sensor::HostIdentity,
    ) -> anyhow::Result<LocalSensor> {
        let url = collector.url.clone();
        let (host_id, host_name) = (sensor.host_id.clone(), sensor.host_name.clone());
        let mut ship = weir_ship::ShipConfig::new(collector.url, collector.ca_pem, state_dir, host_id.clone());
        ship.enroll_token = collector.enroll_token;
        ship.machine_id = identity.machine_id;
        ship.host_name = host_name.clone();

        // Response: without it (no cgroup v2, no BPF) the sensor still runs
        // and commands are answered with the reason.
        let mut responder_config = weir_respond::ResponderConfig::new(host_id.clone());
        responder_config
            .allow_collector_url(&url)
            .context("resolving the collector address (kept reachable during isolation)")?;
        let responder = match weir_respond::Responder::start(responder_config) {
            Ok(r) => Some(Arc::new(r)),
            Err(e) => {
                tracing::error!("automated response unavailable on this host: {e}");
                None
            }
        };
        ship.on_command = Some(match responder.clone() {
            Some(r) => Arc::new(move |command: weir_event::Command| r.execute(&command)),
            None => {
                let why = "refused: automated response is unavailable on this host (see the sensor log)";
                Arc::new(move |command: weir_event::Command| weir_event::Action {
                    action: command.action,
                    target: command.target,
                    rule_id: command.rule_id,
                    result: why.into(),
                    command_id: command.command_id,
                    policy_version: command.policy_version,
                    dry_run: command.dry_run,
                    alert_id: command.alert_id,
                    ..Default::default()
                })
            }
        });

        let (sensor, mut sensor_events) =
            weir_sensor::Sensor::start(sensor).context("starting the sensor (needs root and BPF)")?;
        let (tx, events) = tokio::sync::mpsc::channel(SIDE_EVENTS);
        let forward = tx.clone();
        tokio::spawn(async move {
            while let Some(event) = sensor_events.recv().await {
                if forward.send(event).await.is_err() {
                    break;
                }
            }
        });
        if let Some(reports) = responder.as_ref().and_then(|r| r.enforced()) {
            let (tx, host_id, host_name) = (tx.clone(), host_id.clone(), host_name.clone());
            std::thread::Builder::new()
                .name("weir-respond-reports".into())
                .spawn(move || {
                    for action in reports {
                        let event = weir_event::Event {
                            time_unix_ns: super::now_ns(),
                            host_id: host_id.clone(),
                            host_name: host_name.clone(),
                            body: Some(weir_event::event::Body::Action(action)),
                            ..Default::default()
                        };
                        if tx.blocking_send(event).is_err() {
                            break;
                        }
                    }
                })?;
        }
        let scanner = {
            let (tx, host_id, host_name) = (tx.clone(), host_id.clone(), host_name.clone());
            let config = weir_hostscan::ScannerConfig {
                scan: weir_hostscan::ScanConfig {
                    host_id: host_id.clone(),
                    ..Default::default()
                },
                ..Default::default()
            };
            weir_hostscan::Scanner::start(config, move |inventory| {
                let event = weir_event::Event {
                    time_unix_ns: super::now_ns(),
                    host_id: host_id.clone(),
                    host_name: host_name.clone(),
                    body: Some(weir_event::event::Body::Inventory(inventory)),
                    ..Default::default()
                };
                if tx.try_send(event).is_err() {
                    tracing::warn!("host inventory dropped: the event channel is full");
                }
            })
        };
        drop(tx);
        let shipper = weir_ship::Shipper::start(ship, events)
            .await
            .context("starting the shipper")?;
        Ok(LocalSensor {
            sensor,
            shipper,
            responder,
            scanner: Some(scanner),
            url,
        })
    }

    /// The collector URL events go to.
    pub fn collector(&self) -> &str {
        &self.url
    }

    /// Stops the sensor (its final health event is still shipped) and flushes
    /// what the shipper holds, within a few seconds.
    pub async fn stop(mut self) {
        if let Some(scanner) = self.scanner.take() {
            let _ = tokio::task::spawn_blocking(move || scanner.stop()).await;
        }
        if let Err(e) = self.sensor.stop() {
            tracing::warn!("stopping the sensor: {e}");
        }
        self.shipper.shutdown(Duration::from_secs(5)).await;
        // Lifts isolation, blocks and enforcement, and detaches its programs.
        if let Some(responder) = self.responder.take().and_then(Arc::into_inner) {
            let _ = tokio::task::spawn_blocking(move || responder.stop()).await;
        }
    }
}

/// Starts a sensor on this host shipping into the collector `server` runs in
/// this process, enrolling it on first start.
pub async fn start_for(server: &weir_server::ServerHandle, state_dir: &Path) -> anyhow::Result<LocalSensor> {
    let enrolled = weir_ship::enrolled_as(state_dir)?.is_some();
    let enroll_token = if enrolled {
        None
    } else {
        Some(server.create_enroll_token()?)
    };
    let collector = Collector {
        url: server.grpc_url(),
        ca_pem: server.ca_pem().as_bytes().to_vec(),
        enroll_token,
    };
    let identity = weir_sensor::host_identity().context("reading this host's identity")?;
    let mut config = weir_sensor::SensorConfig::new(identity.host_id.clone());
    config.host_name = identity.host_name.clone();
    LocalSensor::start(collector, state_dir, config, identity).await
}
