//! `POST /api/slack/interactions`: the Yes / No buttons of a triage request
//! sent as a Slack DM. The request must carry Slack's signature (signing
//! secret, HMAC-SHA256 over `v0:timestamp:body`, 5-minute window). "No"
//! escalates at once; "Yes" cannot count without the person's second factor,
//! so it answers with the confirm page link where the code is entered.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;
use weir_notify::slack;
use weir_triage::{Answer, Outcome, Triage, TriageHooks};

#[derive(Clone)]
struct Slack {
    secret: Arc<String>,
    triage: Arc<Mutex<Triage>>,
    hooks: Arc<dyn TriageHooks>,
    console: Arc<dyn Fn() -> String + Send + Sync>,
}

/// The route, verifying requests with `signing_secret`.
pub fn routes(
    signing_secret: String,
    triage: Arc<Mutex<Triage>>,
    hooks: Arc<dyn TriageHooks>,
    console: Arc<dyn Fn() -> String + Send + Sync>,
) -> Router {
    Router::new()
        .route("/api/slack/interactions", post(interaction))
        .with_state(Slack {
            secret: Arc::new(signing_secret),
            triage,
            hooks,
            console,
        })
}

fn ephemeral(text: String) -> Response {
    Json(json!({ "response_type": "ephemeral", "replace_original": false, "text": text })).into_response()
}

async fn interaction(
    State(slack): State<Slack>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let now = super::now_s();
    let (ts, sig) = (header("x-slack-request-timestamp"), header("x-slack-signature"));
    if let Err(e) = slack::verify_request(&slack.secret, &ts, &body, &sig, now) {
        return (StatusCode::UNAUTHORIZED, format!("slack signature: {e}")).into_response();
    }
    let action = match slack::parse_interaction(&body) {
        Ok(a) => a,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("slack interaction: {e}")).into_response(),
    };
    let token = action.value.clone();
    if action.action_id == slack::TRIAGE_YES_ACTION {
        let link = format!("{}/triage/{token}", (slack.console)());
        return ephemeral(format!(
            "A yes needs your second factor: open <{link}|the confirm page> and enter your authenticator code."
        ));
    }
    if action.action_id != slack::TRIAGE_NO_ACTION {
        return (StatusCode::BAD_REQUEST, "not a triage button").into_response();
    }
    let answer = Answer {
        yes: false,
        code: None,
        suppress_for: None,
        source: peer.ip(),
        user_agent: format!("slack user {}", action.user_id),
    };
    let (triage, hooks) = (slack.triage.clone(), slack.hooks.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        let outcome = triage.lock().unwrap().answer(&token, &answer, now);
        if let Ok(Outcome::Escalated(e)) = &outcome {
            hooks.escalate(e);
        }
        outcome
    })
    .await;
    match outcome {
        Ok(Ok(Outcome::Escalated(_))) => {
            ephemeral("Thank you. The security team has been paged about this alert.".to_string())
        }
        Ok(Ok(_)) => ephemeral("Your answer was recorded.".to_string()),
        Ok(Err(e)) => ephemeral(format!("This request cannot be answered: {e}")),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
