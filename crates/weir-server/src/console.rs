//! The web console: one page (console.html) served at `/` behind the session,
//! filled in with the signed-in user and the session's CSRF token, and its
//! script and styles served from `/assets` (public, no secrets in them).

use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Extension;

use crate::auth::Principal;
use crate::http::Route;

const PAGE: &str = include_str!("console.html");
const SCRIPT: &str = include_str!("console.js");
const STYLES: &str = include_str!("console.css");

/// `GET /` (the page, behind the guard) and `GET /assets/console.js`,
/// `/assets/console.css` (public).
pub(crate) fn routes() -> Vec<Route> {
    vec![
        Route::guarded(Method::GET, "/", get(page)),
        Route::public(Method::GET, "/assets/console.js", get(script)),
        Route::public(Method::GET, "/assets/console.css", get(styles)),
    ]
}

async fn page(Extension(principal): Extension<Principal>) -> Response {
    let escape = crate::auth::html_escape;
    let html = PAGE
        .replace("{{user}}", &escape(&principal.actor))
        .replace("{{role}}", principal.role.as_str())
        .replace("{{csrf}}", &escape(principal.csrf_token().unwrap_or("")));
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT).into_response()
}

async fn styles() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLES).into_response()
}
