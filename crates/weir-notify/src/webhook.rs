//! Generic webhook output: the notification as JSON, POSTed with an
//! HMAC-SHA256 signature over `timestamp "." body` (see [`crate::signature`]).

use crate::config::WebhookSettings;
use crate::error::DeliveryError;
use crate::notification::Notification;
use crate::signature::{sign_webhook, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER};

/// Sends one notification; 2xx is success, the rest is classified by status.
pub async fn deliver(settings: &WebhookSettings, notification: &Notification) -> Result<(), DeliveryError> {
    let body = serde_json::to_vec(notification)
        .map_err(|error| DeliveryError::Permanent(format!("encoding notification: {error}")))?;
    let mut headers = vec![("Content-Type", "application/json".to_string())];
    if let Some(secret) = &settings.secret {
        let timestamp = crate::notification::now_unix_ns() / 1_000_000_000;
        headers.push((WEBHOOK_TIMESTAMP_HEADER, timestamp.to_string()));
        headers.push((
            WEBHOOK_SIGNATURE_HEADER,
            sign_webhook(secret.as_bytes(), timestamp, &body),
        ));
    }
    let response = crate::http::post(&settings.url, &headers, body, &settings.tls_client).await?;
    if (200..300).contains(&response.status) {
        Ok(())
    } else {
        Err(DeliveryError::from_response("webhook", &response))
    }
}
