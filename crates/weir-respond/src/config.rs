//! What the responder is told at start: host identity, what is protected, what
//! isolation must never cut, and the TTL bounds.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use crate::RespondError;

/// Process names no action touches unless the configuration replaces them
/// (the list the collector also refuses to build exec predicates on).
pub use weir_rules::exec_predicate::DEFAULT_PROTECTED_NAMES;

/// Host and port of a URL `scheme://host[:port][/path]` (port defaults from
/// the scheme: https 443, http 80); IPv6 hosts in brackets.
pub fn url_host_port(url: &str) -> Result<(String, u16), RespondError> {
    let bad = |why: &str| RespondError::Config(format!("collector URL {url:?}: {why}"));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("no scheme (want https://host:port)"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or("");
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| bad("bad port"))?,
        None => match scheme {
            "https" | "grpcs" => 443,
            "http" | "grpc" => 80,
            _ => return Err(bad("no port and an unknown scheme")),
        },
    };
    Ok((host.to_string(), port))
}

#[derive(Debug, Clone)]
pub struct ResponderConfig {
    /// Host id used in entity ids (the sensor's, so ids match its events).
    pub host_id: String,
    /// Process names (comm or executable base name) never killed, and never
    /// named by an enforce predicate. Pid 1, this process and its ancestors
    /// are always protected besides these.
    pub protected_names: Vec<String>,
    pub protected_pids: Vec<u32>,
    /// Destinations isolation never cuts (the collector). A port of 0 allows
    /// every port of the address.
    pub always_allow: Vec<SocketAddr>,
    /// TTL of isolate/block when the command gives none.
    pub default_ttl: Duration,
    /// Longest TTL accepted; longer ones are capped.
    pub max_ttl: Duration,
    /// cgroup v2 directory the network hooks attach to; `None` = the root of
    /// the cgroup v2 hierarchy (mounted if absent), i.e. the whole host.
    pub cgroup: Option<PathBuf>,
}

impl ResponderConfig {
    pub fn new(host_id: impl Into<String>) -> ResponderConfig {
        ResponderConfig {
            host_id: host_id.into(),
            protected_names: DEFAULT_PROTECTED_NAMES.iter().map(|s| s.to_string()).collect(),
            protected_pids: Vec::new(),
            always_allow: Vec::new(),
            default_ttl: Duration::from_secs(3600),
            max_ttl: Duration::from_secs(24 * 3600),
            cgroup: None,
        }
    }

    /// Adds every address the collector URL (e.g. `https://collector:7443`)
    /// resolves to now to `always_allow`, so isolation never cuts the
    /// evidence stream. Resolves the name once, at call time.
    pub fn allow_collector_url(&mut self, url: &str) -> Result<(), RespondError> {
        let (host, port) = url_host_port(url)?;
        let addrs = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| RespondError::Io(format!("resolving the collector address {host}:{port}"), e))?;
        self.always_allow.extend(addrs);
        Ok(())
    }

    /// The TTL to apply for a command's `ttl_seconds` (0 = default), and
    /// whether it was capped.
    pub fn effective_ttl(&self, ttl_seconds: u64) -> (Duration, bool) {
        let asked = if ttl_seconds == 0 {
            self.default_ttl
        } else {
            Duration::from_secs(ttl_seconds)
        };
        if asked > self.max_ttl {
            (self.max_ttl, true)
        } else {
            (asked, false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_host_and_port() {
        let hp = |u: &str| url_host_port(u).map_err(|e| e.to_string());
        assert_eq!(hp("https://127.0.0.1:7443"), Ok(("127.0.0.1".into(), 7443)));
        assert_eq!(hp("https://collector.example/x"), Ok(("collector.example".into(), 443)));
        assert_eq!(hp("http://[::1]:80/"), Ok(("::1".into(), 80)));
        assert_eq!(
            hp("127.0.0.1:7443"),
            Err("responder configuration: collector URL \"127.0.0.1:7443\": no scheme (want https://host:port)".into())
        );
        assert!(hp("https://h:0").is_err());
        assert!(hp("https://:443").is_err());
        assert!(hp("ftp://h").is_err());
    }

    #[test]
    fn allows_a_resolved_collector() {
        let mut c = ResponderConfig::new("h");
        c.allow_collector_url("https://localhost:7443").unwrap();
        assert!(c.always_allow.iter().any(|a| a.port() == 7443 && a.ip().is_loopback()));
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,80}") {
            if let Ok((host, port)) = url_host_port(&s) {
                prop_assert!(!host.is_empty() && port != 0);
            }
        }
    }
}
