//! Roles (viewer < analyst < admin) and the rule that says which role a
//! request needs: reads need viewer, writes need analyst, `/api/admin/` and
//! `/api/audit` need admin; route owners may override by path prefix.

use std::fmt;
use std::str::FromStr;

use axum::http::Method;
use serde::{Deserialize, Serialize};

/// What a user or API token may do. Ordered: a higher role may do all a
/// lower one may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything: events, hosts, alerts, rules, metrics.
    Viewer,
    /// Also changes detection state: resolves and suppresses alerts, edits
    /// suppressions.
    Analyst,
    /// Also manages users, API tokens and rule modes; reads the audit log.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Ok(Role::Viewer),
            "analyst" => Ok(Role::Analyst),
            "admin" => Ok(Role::Admin),
            other => Err(format!("role {other:?} is not one of viewer, analyst, admin")),
        }
    }
}

/// One override of the default rule: requests whose path starts with
/// `prefix` (and whose method is `method`, when given) need `role`. The
/// longest matching prefix wins; a rule with a method beats one without for
/// the same prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRole {
    pub method: Option<Method>,
    pub prefix: String,
    pub role: Role,
}

impl RouteRole {
    pub fn new(method: Option<Method>, prefix: impl Into<String>, role: Role) -> RouteRole {
        RouteRole {
            method,
            prefix: prefix.into(),
            role,
        }
    }
}

/// Whether a method changes state (and so needs CSRF proof and an audit row).
pub fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The built-in prefix rules, consulted after the configured ones.
fn builtin_rules() -> [RouteRole; 4] {
    [
        // Anyone signed in may change their own password.
        RouteRole::new(Some(Method::POST), "/api/me/", Role::Viewer),
        RouteRole::new(None, "/api/admin/", Role::Admin),
        RouteRole::new(None, "/api/audit", Role::Admin),
        // Anyone signed in may end their own session.
        RouteRole::new(Some(Method::POST), "/logout", Role::Viewer),
    ]
}

/// The role a request needs: the most specific matching rule among
/// `overrides` and the built-in ones (overrides win ties), else viewer for
/// reads and analyst for writes.
pub fn required_role(method: &Method, path: &str, overrides: &[RouteRole]) -> Role {
    let builtin = builtin_rules();
    let mut best: Option<(usize, bool, &RouteRole)> = None;
    for rule in overrides.iter().chain(builtin.iter()) {
        if !path.starts_with(&rule.prefix) {
            continue;
        }
        match &rule.method {
            Some(m) if m != method => continue,
            _ => {}
        }
        let key = (rule.prefix.len(), rule.method.is_some());
        // Strictly better only, so earlier rules (overrides) win ties.
        if best.is_none_or(|(len, has_method, _)| key > (len, has_method)) {
            best = Some((key.0, key.1, rule));
        }
    }
    if let Some((_, _, rule)) = best {
        return rule.role;
    }
    if is_state_changing(method) {
        Role::Analyst
    } else {
        Role::Viewer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_by_method_and_admin_prefix() {
        assert_eq!(required_role(&Method::GET, "/api/events", &[]), Role::Viewer);
        assert_eq!(required_role(&Method::HEAD, "/", &[]), Role::Viewer);
        assert_eq!(
            required_role(&Method::POST, "/api/alerts/x/resolve", &[]),
            Role::Analyst
        );
        assert_eq!(
            required_role(&Method::DELETE, "/api/suppressions/1", &[]),
            Role::Analyst
        );
        assert_eq!(required_role(&Method::GET, "/api/admin/users", &[]), Role::Admin);
        assert_eq!(required_role(&Method::GET, "/api/audit", &[]), Role::Admin);
        assert_eq!(required_role(&Method::POST, "/logout", &[]), Role::Viewer);
        assert_eq!(required_role(&Method::POST, "/api/me/password", &[]), Role::Viewer);
    }

    #[test]
    fn longest_override_wins() {
        let overrides = vec![
            RouteRole::new(None, "/api/rules/", Role::Admin),
            RouteRole::new(Some(Method::POST), "/api/rules/test", Role::Analyst),
        ];
        assert_eq!(required_role(&Method::GET, "/api/rules/x", &overrides), Role::Admin);
        assert_eq!(
            required_role(&Method::POST, "/api/rules/test", &overrides),
            Role::Analyst
        );
        assert_eq!(required_role(&Method::GET, "/api/rules/test", &overrides), Role::Admin);
        // An override may also lower a built-in rule.
        let lower = vec![RouteRole::new(None, "/api/admin/whoami", Role::Viewer)];
        assert_eq!(required_role(&Method::GET, "/api/admin/whoami", &lower), Role::Viewer);
    }

    #[test]
    fn role_names_round_trip() {
        for role in [Role::Viewer, Role::Analyst, Role::Admin] {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().unwrap_err().contains("root"));
        assert!(Role::Viewer < Role::Analyst && Role::Analyst < Role::Admin);
    }

    proptest::proptest! {
        #[test]
        fn role_parse_and_rule_lookup_never_panic(text in ".{0,40}", path in "/[ -~]{0,60}") {
            let _ = text.parse::<Role>();
            for method in [Method::GET, Method::POST, Method::DELETE] {
                let role = required_role(&method, &path, &[]);
                // Writes never need less than reads of the same path.
                proptest::prop_assert!(role >= required_role(&Method::GET, &path, &[]));
            }
        }
    }
}
