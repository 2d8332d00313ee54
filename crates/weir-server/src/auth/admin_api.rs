//! JSON API over users, API tokens and the audit log: `/api/me` and
//! `/api/me/password` (anyone signed in), `/api/admin/users`,
//! `/api/admin/tokens` and `/api/audit` (admin, by the built-in role rules).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;

use super::guard::{AuditTarget, Credential, Principal};
use super::password::{check_password_policy, hash_password, verify_password};
use super::{check_username, AuthError, Role};
use crate::http::Route;
use crate::Shared;

/// Most audit rows one request returns.
pub const MAX_AUDIT_ROWS: usize = 1000;

pub(crate) fn routes() -> Vec<Route> {
    vec![
        Route::guarded(Method::GET, "/api/me", get(me)),
        Route::guarded(Method::POST, "/api/me/password", post(change_own_password)),
        Route::guarded(Method::GET, "/api/admin/users", get(list_users)),
        Route::guarded(Method::POST, "/api/admin/users", post(create_user)),
        Route::guarded(Method::POST, "/api/admin/users/{username}", post(update_user)),
        Route::guarded(Method::GET, "/api/admin/tokens", get(list_tokens)),
        Route::guarded(Method::POST, "/api/admin/tokens", post(create_token)),
        Route::guarded(Method::DELETE, "/api/admin/tokens/{name}", delete(revoke_token)),
        Route::guarded(Method::GET, "/api/audit", get(audit)),
    ]
}

fn failure(error: AuthError) -> Response {
    let status = match error {
        AuthError::BadUsername(_) | AuthError::BadTokenName(_) | AuthError::BadPassword(_) => StatusCode::BAD_REQUEST,
        AuthError::UserExists(_) | AuthError::TokenExists(_) => StatusCode::CONFLICT,
        AuthError::UnknownUser(_) | AuthError::UnknownToken(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, Json(json!({ "error": error.to_string() }))).into_response()
}

fn with_target(target: String, response: Response) -> Response {
    let mut response = response;
    response.extensions_mut().insert(AuditTarget(target));
    response
}

async fn me(Extension(principal): Extension<Principal>) -> Response {
    Json(json!({
        "actor": principal.actor,
        "role": principal.role,
        "credential": format!("{:?}", principal.credential).to_lowercase(),
        "csrf_token": principal.csrf_token(),
    }))
    .into_response()
}

#[derive(Deserialize)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// A signed-in user changes their own password (the current one is
/// checked, with the login rate limits). All their sessions end, this one
/// included: they sign in again with the new password.
async fn change_own_password(
    State(shared): State<Arc<Shared>>,
    Extension(principal): Extension<Principal>,
    Json(change): Json<PasswordChange>,
) -> Response {
    let auth = shared.auth.clone();
    let username = principal.actor.clone();
    let target = format!("user:{username}");
    if principal.credential != Credential::Session {
        let refusal = (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "only a signed-in user changes their own password" })),
        );
        return with_target(target, refusal.into_response());
    }
    let user_key = format!("user:{username}");
    let blocked = auth
        .limiter
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .blocked_for(&[&user_key], Instant::now());
    if blocked.is_some() {
        let refusal = (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({ "error": "too many wrong passwords; try again later" })),
        );
        return with_target(target, refusal.into_response());
    }
    let result = async {
        check_password_policy(&change.new_password)?;
        let name = username.clone();
        let stored = auth.with_db(move |db| db.user_secret(&name)).await?;
        let Some((_, stored, false)) = stored else {
            return Err(AuthError::UnknownUser(username.clone()));
        };
        let Ok(_permit) = auth.hashing.clone().try_acquire_owned() else {
            return Err(AuthError::Hash("busy; try again in a moment".into()));
        };
        let (current, new) = (change.current_password, change.new_password);
        let hash = tokio::task::spawn_blocking(move || {
            verify_password(&current, &stored)
                .then(|| hash_password(&new))
                .transpose()
        })
        .await
        .map_err(|_| AuthError::Stopped)??;
        let Some(hash) = hash else {
            auth.limiter
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .record_failure(&[&user_key], Instant::now());
            return Err(AuthError::BadPassword("the current password is wrong".into()));
        };
        let name = username.clone();
        auth.with_db(move |db| db.set_password_hash(&name, &hash)).await
    }
    .await;
    let response = match result {
        Ok(()) => Json(json!({ "changed": true, "signed_out": true })).into_response(),
        Err(e) => failure(e),
    };
    with_target(target, response)
}

async fn list_users(State(shared): State<Arc<Shared>>) -> Response {
    match shared.auth.with_db(|db| db.users()).await {
        Ok(users) => Json(json!({ "users": users })).into_response(),
        Err(e) => failure(e),
    }
}

#[derive(Deserialize)]
struct NewUser {
    username: String,
    role: Role,
    password: String,
}

async fn create_user(State(shared): State<Arc<Shared>>, Json(user): Json<NewUser>) -> Response {
    let target = format!("user:{}", user.username);
    let result = async {
        check_username(&user.username)?;
        check_password_policy(&user.password)?;
        let password = user.password;
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|_| AuthError::Stopped)??;
        let (username, role) = (user.username.clone(), user.role);
        shared
            .auth
            .with_db(move |db| db.insert_user(&username, role, &hash, crate::now_unix_ns()))
            .await
    }
    .await;
    let response = match result {
        Ok(()) => (
            StatusCode::CREATED,
            Json(json!({ "username": user.username, "role": user.role })),
        )
            .into_response(),
        Err(e) => failure(e),
    };
    with_target(target, response)
}

#[derive(Deserialize)]
struct UserChange {
    role: Option<Role>,
    disabled: Option<bool>,
    password: Option<String>,
}

async fn update_user(
    State(shared): State<Arc<Shared>>,
    Path(username): Path<String>,
    Json(change): Json<UserChange>,
) -> Response {
    let target = format!("user:{username}");
    let result = async {
        let hash = match change.password {
            Some(password) => {
                check_password_policy(&password)?;
                Some(
                    tokio::task::spawn_blocking(move || hash_password(&password))
                        .await
                        .map_err(|_| AuthError::Stopped)??,
                )
            }
            None => None,
        };
        let name = username.clone();
        shared
            .auth
            .with_db(move |db| {
                // Fails with UnknownUser before anything changes.
                if db.user_secret(&name)?.is_none() {
                    return Err(AuthError::UnknownUser(name));
                }
                if let Some(role) = change.role {
                    db.set_role(&name, role)?;
                }
                if let Some(disabled) = change.disabled {
                    db.set_disabled(&name, disabled)?;
                }
                if let Some(hash) = hash {
                    db.set_password_hash(&name, &hash)?;
                }
                Ok(())
            })
            .await
    }
    .await;
    let response = match result {
        Ok(()) => Json(json!({ "username": username })).into_response(),
        Err(e) => failure(e),
    };
    with_target(target, response)
}

async fn list_tokens(State(shared): State<Arc<Shared>>) -> Response {
    match shared.auth.with_db(|db| db.tokens()).await {
        Ok(tokens) => Json(json!({ "tokens": tokens })).into_response(),
        Err(e) => failure(e),
    }
}

#[derive(Deserialize)]
struct NewToken {
    name: String,
    role: Role,
    ttl_seconds: Option<u64>,
}

async fn create_token(State(shared): State<Arc<Shared>>, Json(request): Json<NewToken>) -> Response {
    let target = format!("token:{}", request.name);
    let (name, role) = (request.name.clone(), request.role);
    let ttl = request.ttl_seconds.map(Duration::from_secs);
    let response = match shared
        .auth
        .with_db(move |db| super::create_api_token_in(db, &name, role, ttl))
        .await
    {
        Ok(token) => (
            StatusCode::CREATED,
            Json(json!({ "name": request.name, "role": role, "token": token })),
        )
            .into_response(),
        Err(e) => failure(e),
    };
    with_target(target, response)
}

async fn revoke_token(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    let target = format!("token:{name}");
    let revoked = name.clone();
    let response = match shared
        .auth
        .with_db(move |db| db.revoke_token(&revoked, crate::now_unix_ns()))
        .await
    {
        Ok(()) => Json(json!({ "revoked": name })).into_response(),
        Err(e) => failure(e),
    };
    with_target(target, response)
}

#[derive(Deserialize)]
struct AuditQuery {
    limit: Option<usize>,
    before_id: Option<u64>,
}

async fn audit(State(shared): State<Arc<Shared>>, Query(q): Query<AuditQuery>) -> Response {
    let limit = q.limit.unwrap_or(100).min(MAX_AUDIT_ROWS);
    match shared.auth.with_db(move |db| db.audit(limit, q.before_id)).await {
        Ok(rows) => Json(json!({ "audit": rows })).into_response(),
        Err(e) => failure(e),
    }
}
