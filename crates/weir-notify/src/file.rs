//! JSON-lines file output: one object per notification, appended with
//! O_APPEND (so concurrent writers and log rotation by rename are safe),
//! created 0600 because alerts carry command lines.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use crate::config::FileSettings;
use crate::error::DeliveryError;
use crate::notification::Notification;

/// Appends one line (written with a single `write` call) and flushes it to the file.
pub async fn deliver(settings: &FileSettings, notification: &Notification) -> Result<(), DeliveryError> {
    let mut line = serde_json::to_vec(notification)
        .map_err(|error| DeliveryError::Permanent(format!("encoding notification: {error}")))?;
    line.push(b'\n');
    let path = settings.path.clone();
    let write = move || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(&line)?;
        file.flush()
    };
    match tokio::task::spawn_blocking(write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(DeliveryError::Transient(format!(
            "{}: {error}",
            settings.path.display()
        ))),
        Err(error) => Err(DeliveryError::Transient(format!(
            "{}: writer stopped: {error}",
            settings.path.display()
        ))),
    }
}
