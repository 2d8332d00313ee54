//! The public confirm route, `GET|POST /triage/{token}`: the link token is the
//! capability. GET renders the question with a fresh anti-forgery nonce; POST
//! takes the form-encoded answer, records it with the peer address and user
//! agent, and tells the hooks about confirmations and escalations.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use rand::RngCore;
use serde::Deserialize;

use crate::error::TriageError;
use crate::page;
use crate::store::Triage;
use crate::types::{Answer, Confirmation, Escalation, Outcome};

/// Largest answer body accepted.
const MAX_FORM_BYTES: usize = 4096;

/// What the collector does with transitions (notify on-call, update alerts.db).
/// Called after the answer is stored, outside the store lock, on tokio's blocking pool.
pub trait TriageHooks: Send + Sync {
    /// Send to the security on-call outputs at high priority.
    fn escalate(&self, escalation: &Escalation);
    /// An authenticated yes (possibly with a suppression grant to apply).
    fn confirmed(&self, confirmation: &Confirmation);
}

#[derive(Clone)]
struct AppState {
    triage: Arc<Mutex<Triage>>,
    hooks: Arc<dyn TriageHooks>,
    trusted_proxies: Arc<[IpAddr]>,
}

/// The confirm page routes. Serve with
/// `into_make_service_with_connect_info::<SocketAddr>()` so answers carry their source address.
pub fn router(triage: Arc<Mutex<Triage>>, hooks: Arc<dyn TriageHooks>) -> Router {
    let trusted_proxies = lock(&triage).config().trusted_proxies.clone().into();
    Router::new()
        .route("/triage/{token}", get(show).post(submit))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .with_state(AppState {
            triage,
            hooks,
            trusted_proxies,
        })
}

/// The answering client's address: the TCP peer, or, when the peer is a
/// trusted reverse proxy, the last address it appended to `X-Forwarded-For`.
fn answer_source(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpAddr]) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted_proxies.iter().any(|p| p.to_canonical() == peer) {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()
        .and_then(|last| last.trim().parse::<IpAddr>().ok())
        .map_or(peer, |ip| ip.to_canonical())
}

#[derive(Deserialize)]
struct AnswerForm {
    answer: String,
    nonce: Option<String>,
    code: Option<String>,
    suppress_hours: Option<u32>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn lock(triage: &Mutex<Triage>) -> MutexGuard<'_, Triage> {
    triage.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn random_nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// An HTML response with the security headers every triage page carries.
fn html(status: StatusCode, style_nonce: &str, body: String) -> Response {
    let csp = format!(
        "default-src 'none'; style-src 'nonce-{style_nonce}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

fn message(status: StatusCode, title: &str, text: &str, good: bool) -> Response {
    let style_nonce = random_nonce();
    html(
        status,
        &style_nonce,
        page::message_page(&style_nonce, title, text, good),
    )
}

fn error_page(error: &TriageError) -> Response {
    let status = match error {
        TriageError::BadToken => StatusCode::NOT_FOUND,
        TriageError::TokenUsed { .. } => StatusCode::CONFLICT,
        TriageError::DeadlinePassed => StatusCode::GONE,
        TriageError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        TriageError::BadFormNonce => StatusCode::FORBIDDEN,
        TriageError::Invalid(_) => StatusCode::BAD_REQUEST,
        _ => {
            tracing::error!(%error, "triage page failed");
            return message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Your answer could not be recorded. Tell the security team.",
                false,
            );
        }
    };
    message(status, "Cannot answer", &error.to_string(), false)
}

fn confirm_form(triage: &Triage, token: &str, notice: Option<&str>) -> Response {
    let view = match triage.view(token) {
        Ok(view) => view,
        Err(e) => return error_page(&e),
    };
    if view.state != "pending" {
        return error_page(&TriageError::TokenUsed { state: view.state });
    }
    let now = now();
    if now > view.deadline {
        return error_page(&TriageError::DeadlinePassed);
    }
    let style_nonce = random_nonce();
    let form_nonce = triage.form_nonce(token, now);
    html(
        StatusCode::OK,
        &style_nonce,
        page::confirm_page(&view, &form_nonce, &style_nonce, notice),
    )
}

/// Runs a section that locks the store (SQLite blocks) on the blocking pool,
/// off the async runtime; a section that panicked gets a 500 page.
async fn off_runtime(section: impl FnOnce() -> Response + Send + 'static) -> Response {
    tokio::task::spawn_blocking(section).await.unwrap_or_else(|error| {
        tracing::error!(%error, "triage page failed");
        message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "This request could not be handled. Tell the security team.",
            false,
        )
    })
}

async fn show(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    off_runtime(move || confirm_form(&lock(&state.triage), &token, None)).await
}

async fn submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>().copied() else {
        tracing::error!("triage answers need the peer address: serve with into_make_service_with_connect_info");
        return message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The server cannot record where this answer came from, so it was not accepted.",
            false,
        );
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let form = match Form::<AnswerForm>::from_request(request, &()).await {
        Ok(Form(form)) => form,
        Err(rejection) => {
            let text = format!("bad form: {}", rejection.body_text());
            return message(rejection.status(), "Cannot answer", &text, false);
        }
    };
    let yes = match form.answer.as_str() {
        "yes" => true,
        "no" => false,
        _ => {
            return message(
                StatusCode::BAD_REQUEST,
                "Cannot answer",
                "field `answer` must be yes or no",
                false,
            )
        }
    };
    let answer = Answer {
        yes,
        code: form.code,
        suppress_for: form
            .suppress_hours
            .filter(|&h| h > 0)
            .map(|h| Duration::from_secs(u64::from(h) * 3600)),
        source: answer_source(peer.ip(), &headers, &state.trusted_proxies),
        user_agent,
    };
    let now = now();
    let hooks = state.hooks.clone();
    off_runtime(move || {
        let outcome = {
            let mut triage = lock(&state.triage);
            let nonce = form.nonce.unwrap_or_default();
            if let Err(e) = triage.check_form_nonce(&token, &nonce, now) {
                return error_page(&e);
            }
            match triage.answer(&token, &answer, now) {
                Ok(Outcome::CodeRejected(rejected)) => {
                    let notice = format!(
                        "That code was not accepted ({}). {} attempt(s) left before this goes to the security team.",
                        rejected.reason.as_str(),
                        rejected.remaining
                    );
                    return confirm_form(&triage, &token, Some(&notice));
                }
                Ok(outcome) => outcome,
                Err(e) => return error_page(&e),
            }
        };
        // Outside the store lock; the hooks may write to other stores too.
        match &outcome {
            Outcome::Confirmed(confirmation) => hooks.confirmed(confirmation),
            Outcome::Escalated(escalation) => hooks.escalate(escalation),
            Outcome::CodeRejected(_) => {}
        }
        outcome_page(outcome)
    })
    .await
}

/// The page that tells the person what their answer did.
fn outcome_page(outcome: Outcome) -> Response {
    match outcome {
        Outcome::Confirmed(confirmation) => {
            let mut text = String::from("Thank you: your answer is recorded and the alert is closed as confirmed.");
            if let Some(grant) = &confirmation.suppression {
                text.push_str(&format!(
                    " Repeats of this rule for you are silenced until {}.",
                    page::utc(grant.until)
                ));
            }
            if confirmation.answer.from_flagged_host {
                text.push_str(" Note: this answer came from the flagged host itself and is marked as such.");
            }
            message(StatusCode::OK, "Confirmed", &text, true)
        }
        Outcome::Escalated(escalation) => {
            let text = match escalation.reason {
                crate::types::EscalationReason::Denied => {
                    "Thank you. The security team has been alerted at high priority and will contact you."
                }
                _ => "Too many codes were not accepted. The security team has been alerted at high priority.",
            };
            message(StatusCode::OK, "Sent to the security team", text, false)
        }
        // Answered above with the form again; kept for completeness.
        Outcome::CodeRejected(_) => message(
            StatusCode::OK,
            "Code not accepted",
            "Reload the page and try again.",
            false,
        ),
    }
}
