//! The web console: server-rendered page shells (one per page, sharing one
//! layout with the navigation and the signed-in user) served behind the
//! session, and their scripts and styles served from `/assets` (public, no
//! secrets in them; no inline code, so the Content-Security-Policy forbids
//! any). The pages fill themselves from the JSON API.

mod assets;
mod layout;
mod live;

use axum::http::Method;
use axum::routing::get;

use crate::http::Route;

/// The console's routes: every page (guarded), `/assets/...` (public),
/// `GET /api/stats` and the live stream `GET /api/stream/stats` (guarded).
pub(crate) fn routes() -> Vec<Route> {
    let mut routes: Vec<Route> = layout::PAGES
        .iter()
        .map(|page| Route::guarded(Method::GET, page.path, get(layout::render(page))))
        .collect();
    routes.extend(assets::routes());
    routes.extend(live::routes());
    routes
}
