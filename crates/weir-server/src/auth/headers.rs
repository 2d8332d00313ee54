//! Security headers on every response of the HTTP listener: a strict
//! Content-Security-Policy (scripts and styles only from /assets, no inline
//! code), no sniffing, no framing, no referrer, and no caching of anything
//! but the static assets. A header a route already set is kept (the triage
//! page sends its own nonce-based policy).

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The console's policy: everything from this origin, nothing inline.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'; object-src 'none'";

/// The middleware (`axum::middleware::from_fn(security_headers)`).
pub async fn security_headers(request: Request, next: Next) -> Response {
    let is_asset = request.uri().path().starts_with("/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let mut set = |name: header::HeaderName, value: &'static str| {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::X_FRAME_OPTIONS, "DENY");
    // same-origin, not no-referrer: under no-referrer Chromium sends
    // `Origin: null` on form posts and the CSRF origin check refuses sign-in.
    // No URL leaves for another site either way.
    set(header::REFERRER_POLICY, "same-origin");
    set(
        header::HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        header::HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    set(header::CACHE_CONTROL, if is_asset { "no-cache" } else { "no-store" });
    response
}
