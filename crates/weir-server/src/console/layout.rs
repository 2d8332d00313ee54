//! The shared page layout (navigation, "signed in as NAME (role)", sign
//! out) and the table of pages it wraps: each page is a static HTML
//! fragment plus a script of the same name under `/assets/pages/`.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;

use crate::auth::{Principal, Role};

const LAYOUT: &str = include_str!("layout.html");

/// One console page.
pub struct Page {
    /// Route path (axum syntax).
    pub path: &'static str,
    /// Script name under `/assets/pages/` and the nav entry it lights up.
    pub name: &'static str,
    pub title: &'static str,
    body: &'static str,
}

/// Every page of the console.
pub const PAGES: &[Page] = &[
    Page {
        path: "/",
        name: "overview",
        title: "Overview",
        body: include_str!("pages/overview.html"),
    },
    Page {
        path: "/hosts",
        name: "hosts",
        title: "Hosts",
        body: include_str!("pages/hosts.html"),
    },
    Page {
        path: "/hosts/{id}",
        name: "host",
        title: "Host",
        body: include_str!("pages/host.html"),
    },
    Page {
        path: "/alerts",
        name: "alerts",
        title: "Alerts",
        body: include_str!("pages/alerts.html"),
    },
    Page {
        path: "/alerts/{id}",
        name: "alert",
        title: "Alert",
        body: include_str!("pages/alert.html"),
    },
    Page {
        path: "/rules",
        name: "rules",
        title: "Rules",
        body: include_str!("pages/rules.html"),
    },
    Page {
        path: "/search",
        name: "search",
        title: "Search",
        body: include_str!("pages/search.html"),
    },
    Page {
        path: "/audit",
        name: "audit",
        title: "Audit",
        body: include_str!("pages/audit.html"),
    },
];

/// Navigation entries: (href, label, the pages that light it up, least role).
const NAV: &[(&str, &str, &[&str], Role)] = &[
    ("/", "Overview", &["overview"], Role::Viewer),
    ("/hosts", "Hosts", &["hosts", "host"], Role::Viewer),
    ("/alerts", "Alerts", &["alerts", "alert"], Role::Viewer),
    ("/rules", "Rules", &["rules"], Role::Viewer),
    ("/search", "Search", &["search"], Role::Viewer),
    ("/audit", "Audit", &["audit"], Role::Admin),
];

/// The page as HTML for this caller.
pub fn html(page: &Page, principal: &Principal) -> String {
    let escape = crate::auth::html_escape;
    let nav: String = NAV
        .iter()
        .filter(|(_, _, _, least)| principal.role >= *least)
        .map(|(href, label, pages, _)| {
            let on = if pages.contains(&page.name) {
                " class=\"on\""
            } else {
                ""
            };
            format!("<a href=\"{href}\"{on}>{label}</a>")
        })
        .collect();
    LAYOUT
        .replace("{{nav}}", &nav)
        .replace("{{main}}", page.body)
        .replace("{{title}}", page.title)
        .replace("{{page}}", page.name)
        .replace("{{role}}", principal.role.as_str())
        .replace("{{csrf}}", &escape(principal.csrf_token().unwrap_or("")))
        // Last: nothing the caller's name contains is taken for a placeholder.
        .replace("{{user}}", &escape(&principal.actor))
}

/// The handler of one page.
pub fn render(
    page: &'static Page,
) -> impl Fn(Extension<Principal>) -> std::future::Ready<Response> + Clone + Send + Sync + 'static {
    move |Extension(principal): Extension<Principal>| {
        let body = html(page, &principal);
        std::future::ready(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response())
    }
}
