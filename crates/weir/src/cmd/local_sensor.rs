//! A sensor on this host shipping into a collector: the sensor's event
//! channel feeds the shipper. Used by `weir up` (collector in-process) and by
//! `weir sensor --collector URL` (collector elsewhere).

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

/// A running sensor and its shipper.
pub struct LocalSensor {
    sensor: weir_sensor::Sensor,
    shipper: weir_ship::ShipperHandle,
    url: String,
}

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
        let mut ship = weir_ship::ShipConfig::new(collector.url, collector.ca_pem, state_dir, sensor.host_id.clone());
        ship.enroll_token = collector.enroll_token;
        ship.machine_id = identity.machine_id;
        ship.host_name = sensor.host_name.clone();
        let (sensor, events) =
            weir_sensor::Sensor::start(sensor).context("starting the sensor (needs root and BPF)")?;
        let shipper = weir_ship::Shipper::start(ship, events)
            .await
            .context("starting the shipper")?;
        Ok(LocalSensor { sensor, shipper, url })
    }

    /// The collector URL events go to.
    pub fn collector(&self) -> &str {
        &self.url
    }

    /// Stops the sensor (its final health event is still shipped) and flushes
    /// what the shipper holds, within a few seconds.
    pub async fn stop(self) {
        if let Err(e) = self.sensor.stop() {
            tracing::warn!("stopping the sensor: {e}");
        }
        self.shipper.shutdown(Duration::from_secs(5)).await;
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
