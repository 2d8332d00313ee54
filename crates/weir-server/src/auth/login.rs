//! Signing in and out: `GET /login` (the form), `POST /login` (password
//! check with per-user and per-address rate limits, equal work for unknown
//! users, then a `weir_session` cookie) and `POST /logout`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Extension;

use super::counters::bump;
use super::guard::{audit, audit_record, audit_unauthenticated, cross_site, Origin, Principal};
use super::parse::{form_field, MAX_FORM_BYTES, SESSION_COOKIE};
use super::password::{dummy_hash, verify_password};
use super::store::secret_hash;
use super::AuthState;
use crate::http::Route;
use crate::Shared;

const PAGE: &str = include_str!("login.html");

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(status: StatusCode, username: &str, error: &str) -> Response {
    let html = PAGE
        .replace("{{username}}", &html_escape(username))
        .replace("{{error}}", &html_escape(error));
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

/// `GET /login` and `POST /login` (public), `POST /logout` (behind the
/// guard: it needs the session and its CSRF token).
pub(crate) fn routes() -> Vec<Route> {
    vec![
        Route::public(Method::GET, "/login", get(login_page)),
        Route::public(Method::POST, "/login", post(login)),
        Route::guarded(Method::POST, "/logout", post(logout)),
    ]
}

async fn login_page() -> Response {
    page(StatusCode::OK, "", "")
}

fn session_cookie(auth: &AuthState, value: &str, max_age_secs: u64) -> HeaderValue {
    let secure = if auth.config.secure_cookies { "; Secure" } else { "" };
    let cookie = format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}");
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("weir_session=; Max-Age=0"))
}

async fn login(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let auth = shared.auth.clone();
    let origin = Origin::of(request.headers(), request.extensions().get::<ConnectInfo<SocketAddr>>());
    if let Some(reason) = cross_site(request.headers()) {
        return page(StatusCode::FORBIDDEN, "", reason);
    }
    let body = match axum::body::to_bytes(request.into_body(), MAX_FORM_BYTES).await {
        Ok(body) => body,
        Err(_) => return page(StatusCode::PAYLOAD_TOO_LARGE, "", "The form is too large."),
    };
    let (Some(username), Some(password)) = (form_field(&body, "username"), form_field(&body, "password")) else {
        return page(StatusCode::BAD_REQUEST, "", "Both username and password are required.");
    };
    let username: String = username.trim().chars().take(64).collect();
    let user_key = format!("user:{username}");
    let ip_key = format!("ip:{}", origin.source_ip);
    let keys = [user_key.as_str(), ip_key.as_str()];

    let blocked = auth
        .limiter
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .blocked_for(&keys, Instant::now());
    if let Some(wait) = blocked {
        bump(&auth.counters.logins_rate_limited);
        let record = audit_record(
            &username,
            None,
            "login".into(),
            username.clone(),
            &origin,
            "rate-limited".into(),
        );
        audit_unauthenticated(&auth, record).await;
        let mut response = page(
            StatusCode::TOO_MANY_REQUESTS,
            &username,
            "Too many failed sign-ins. Try again later.",
        );
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        return response;
    }
    let Ok(permit) = auth.hashing.clone().try_acquire_owned() else {
        bump(&auth.counters.logins_busy);
        let mut response = page(
            StatusCode::SERVICE_UNAVAILABLE,
            &username,
            "Busy; try again in a moment.",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(1u64));
        return response;
    };

    let lookup = username.clone();
    let secret = match auth.with_db(move |db| db.user_secret(&lookup)).await {
        Ok(secret) => secret,
        Err(error) => {
            tracing::error!(%error, "login: auth database unavailable");
            return page(StatusCode::SERVICE_UNAVAILABLE, &username, "Sign-in is unavailable.");
        }
    };
    // Unknown and disabled users are checked against a dummy hash: same work.
    let (role, stored, usable) = match secret {
        Some((role, stored, disabled)) => (Some(role), stored, !disabled),
        None => (None, dummy_hash().to_string(), false),
    };
    let verified = tokio::task::spawn_blocking(move || {
        let ok = verify_password(&password, &stored);
        drop(permit);
        ok
    })
    .await
    .unwrap_or(false);

    let (Some(role), true, true) = (role, verified, usable) else {
        bump(&auth.counters.logins_refused);
        auth.limiter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record_failure(&keys, Instant::now());
        let record = audit_record(
            &username,
            None,
            "login".into(),
            username.clone(),
            &origin,
            "refused".into(),
        );
        audit_unauthenticated(&auth, record).await;
        return page(StatusCode::UNAUTHORIZED, &username, "Wrong username or password.");
    };

    bump(&auth.counters.logins_ok);
    auth.limiter.lock().unwrap_or_else(|p| p.into_inner()).clear(&user_key);
    let session_id = crate::pki::random_token("");
    let hash = secret_hash(&session_id);
    let owner = username.clone();
    if let Err(error) = auth
        .with_db(move |db| db.insert_session(&hash, &owner, crate::now_unix_ns()))
        .await
    {
        tracing::error!(%error, "login: could not store the session");
        return page(StatusCode::SERVICE_UNAVAILABLE, &username, "Sign-in is unavailable.");
    }
    audit(
        &auth,
        audit_record(
            &username,
            Some(role),
            "login".into(),
            username.clone(),
            &origin,
            "ok".into(),
        ),
    )
    .await;
    let cookie = session_cookie(&auth, &session_id, auth.config.session_lifetime.as_secs());
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, HeaderValue::from_static("/")),
            (header::SET_COOKIE, cookie),
        ],
    )
        .into_response()
}

async fn logout(State(shared): State<Arc<Shared>>, Extension(principal): Extension<Principal>) -> Response {
    let auth = shared.auth.clone();
    let Some(hash) = principal.session_hash.clone() else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({ "error": "not a session: bearer tokens are revoked, not signed out" })),
        )
            .into_response();
    };
    if let Err(error) = auth.with_db(move |db| db.delete_session(&hash)).await {
        tracing::error!(%error, "logout: could not delete the session");
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, HeaderValue::from_static("/login")),
            (header::SET_COOKIE, session_cookie(&auth, "", 0)),
        ],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            html_escape("<a href=\"x\">'&"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
        );
    }
}
