//! The console's static files, compiled into the binary (the console works
//! with no Internet access): `/assets/console.css`, `/assets/console.js`
//! (shared helpers and charts) and `/assets/pages/{name}` (one script per page).

use axum::extract::Path;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::http::Route;

const STYLES: &str = include_str!("../console.css");
const SCRIPT: &str = include_str!("../console.js");

const JS: &str = "text/javascript; charset=utf-8";

/// (file name, content) of each page script.
const PAGE_SCRIPTS: &[(&str, &str)] = &[
    ("overview.js", include_str!("js/overview.js")),
    ("hosts.js", include_str!("js/hosts.js")),
    ("host.js", include_str!("js/host.js")),
    ("alerts.js", include_str!("js/alerts.js")),
    ("alert.js", include_str!("js/alert.js")),
    ("rules.js", include_str!("js/rules.js")),
    ("search.js", include_str!("js/search.js")),
    ("audit.js", include_str!("js/audit.js")),
];

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::public(Method::GET, "/assets/console.js", get(script)),
        Route::public(Method::GET, "/assets/console.css", get(styles)),
        Route::public(Method::GET, "/assets/pages/{name}", get(page_script)),
    ]
}

async fn script() -> Response {
    ([(header::CONTENT_TYPE, JS)], SCRIPT).into_response()
}

async fn styles() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLES).into_response()
}

/// The page script named exactly `name`; nothing else is ever served.
fn page_script_named(name: &str) -> Option<&'static str> {
    PAGE_SCRIPTS
        .iter()
        .find(|(script, _)| *script == name)
        .map(|(_, body)| *body)
}

async fn page_script(Path(name): Path<String>) -> Response {
    match page_script_named(&name) {
        Some(body) => ([(header::CONTENT_TYPE, JS)], body).into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_has_its_script() {
        for page in super::super::layout::PAGES {
            let script = page_script_named(&format!("{}.js", page.name));
            assert!(script.is_some_and(|s| s.contains("\"use strict\"")), "{}", page.name);
        }
    }

    proptest::proptest! {
        #[test]
        fn only_listed_names_are_served(name in "[./a-z%]{0,24}(\\.js)?") {
            let listed = PAGE_SCRIPTS.iter().any(|(script, _)| *script == name);
            proptest::prop_assert_eq!(page_script_named(&name).is_some(), listed);
        }
    }
}
