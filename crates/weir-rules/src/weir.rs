//! Weir's own events seen through Sigma: the logsource each event kind is
//! routed to, the mapping from Sigma's Linux field names to Weir's canonical
//! (ECS-style) names, and the support check that marks a Linux rule
//! unsupported when it needs a field Weir does not produce.

use serde_json::{Map, Value};

use crate::fields::{EventSource, FieldValue, Fields};
use crate::rule::Logsource;

/// Sigma logsource category for a Weir `event.kind`. Kinds without a Sigma
/// category use the kind name itself (e.g. `ptrace`, `privilege`).
pub fn category_of_kind(kind: &str) -> &str {
    match kind {
        "exec" => "process_creation",
        "file" => "file_event",
        "network" => "network_connection",
        other => other,
    }
}

/// The logsource `service` of Weir's own events: rules naming another
/// service (auditd, syslog, ...) are routed away from them.
pub const WEIR_SERVICE: &str = "weir";

/// Sigma field names (Linux) -> Weir canonical names (documentation and
/// test of `canonical`, which is the fast form of this table).
#[cfg_attr(not(test), allow(dead_code))]
const MAPPING: &[(&str, &str)] = &[
    ("Image", "process.executable"),
    ("CommandLine", "process.command_line"),
    ("ParentImage", "process.parent.executable"),
    ("ParentCommandLine", "process.parent.command_line"),
    ("User", "user.name"),
    ("LogonId", "user.login"),
    ("loginuid", "user.login"),
    ("CurrentDirectory", "process.working_directory"),
    ("ProcessId", "process.pid"),
    ("ParentProcessId", "process.parent.pid"),
    ("TargetFilename", "file.path"),
    ("SourceFilename", "file.source_path"),
    ("DestinationIp", "destination.ip"),
    ("DestinationPort", "destination.port"),
    ("SourceIp", "source.ip"),
    ("SourcePort", "source.port"),
    ("Protocol", "network.transport"),
    ("uid", "user.id"),
    ("euid", "user.effective.id"),
    ("exe", "process.executable"),
    ("comm", "process.comm"),
];

/// Sigma fields each supported Linux category can use.
const BY_CATEGORY: &[(&str, &[&str])] = &[
    (
        "process_creation",
        &[
            "Image",
            "CommandLine",
            "ParentImage",
            "ParentCommandLine",
            "User",
            "LogonId",
            "loginuid",
            "CurrentDirectory",
            "ProcessId",
            "ParentProcessId",
        ],
    ),
    (
        "file_event",
        &[
            "TargetFilename",
            "SourceFilename",
            "Image",
            "User",
            "ProcessId",
            "CommandLine",
        ],
    ),
    (
        "network_connection",
        &[
            "DestinationIp",
            "DestinationPort",
            "SourceIp",
            "SourcePort",
            "Initiated",
            "Protocol",
            "Image",
            "User",
            "ProcessId",
            "CommandLine",
        ],
    ),
];

/// Canonical name prefixes Weir produces; rules may use them directly.
const CANONICAL_PREFIXES: &[&str] = &[
    "process.",
    "user.",
    "file.",
    "destination.",
    "source.",
    "network.",
    "event.",
    "host.",
    "group.",
    "privilege.",
    "ptrace.",
    "target.",
    "memfd.",
    "bpf.",
    "module.",
    "container.",
    "loss.",
    "sensor.",
    "integrity.",
    "response.",
    "@timestamp",
];

/// The canonical name of a Sigma field, if it is mapped.
pub fn canonical(name: &str) -> Option<&'static str> {
    // A match compiles to a length switch plus one comparison: this runs
    // for every field lookup of every Weir event.
    Some(match name {
        "Image" | "exe" => "process.executable",
        "CommandLine" => "process.command_line",
        "ParentImage" => "process.parent.executable",
        "ParentCommandLine" => "process.parent.command_line",
        "User" => "user.name",
        "LogonId" | "loginuid" => "user.login",
        "CurrentDirectory" => "process.working_directory",
        "ProcessId" => "process.pid",
        "ParentProcessId" => "process.parent.pid",
        "TargetFilename" => "file.path",
        "SourceFilename" => "file.source_path",
        "DestinationIp" => "destination.ip",
        "DestinationPort" => "destination.port",
        "SourceIp" => "source.ip",
        "SourcePort" => "source.port",
        "Protocol" => "network.transport",
        "uid" => "user.id",
        "euid" => "user.effective.id",
        "comm" => "process.comm",
        _ => return None,
    })
}

fn is_canonical(name: &str) -> bool {
    CANONICAL_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Why a rule cannot fire on Weir's events, if it targets Linux but needs
/// a logsource or field Weir does not produce. Non-Linux rules are fine
/// (they are loaded and routed away from Weir's events).
pub fn unsupported_reason(ls: &Logsource, fields: &[String], has_keywords: bool) -> Option<String> {
    if ls.product.as_deref() != Some("linux") {
        return None;
    }
    if let Some(service) = &ls.service {
        return Some(format!("logsource linux/service:{service} is not produced by Weir"));
    }
    let Some(category) = ls.category.as_deref() else {
        return Some("logsource product linux without a category is not produced by Weir".into());
    };
    let known = BY_CATEGORY.iter().find(|(c, _)| *c == category).map(|(_, f)| *f);
    let weir_kinds = [
        "privilege",
        "ptrace",
        "memfd",
        "bpf",
        "module",
        "fork",
        "exit",
        "loss",
        "health",
        "integrity",
        "action",
    ];
    if known.is_none() && !weir_kinds.contains(&category) {
        return Some(format!("logsource linux/category:{category} is not produced by Weir"));
    }
    if has_keywords {
        return Some("keyword (full-text) selections need raw log lines; Weir events are structured".into());
    }
    // Every Weir event carries the acting process, so its fields exist in every category.
    let process = BY_CATEGORY[0].1;
    for f in fields {
        let ok = is_canonical(f) || process.contains(&f.as_str()) || known.is_some_and(|k| k.contains(&f.as_str()));
        if !ok {
            return Some(format!("field {f} is not produced by Weir for linux/{category}"));
        }
    }
    None
}

/// A Weir canonical event (as rendered by `weir_event::ecs::to_ecs`) seen
/// through the Sigma field mapping.
pub struct WeirFields<'a> {
    map: &'a Map<String, Value>,
    category: &'a str,
}

/// Wraps a canonical Weir event for the matcher: routes by `event.kind`
/// and maps Sigma field names onto canonical ones.
pub fn weir_fields(ecs: &Map<String, Value>) -> WeirFields<'_> {
    let kind = ecs.get("event.kind").and_then(Value::as_str).unwrap_or("unknown");
    WeirFields {
        map: ecs,
        category: category_of_kind(kind),
    }
}

impl Fields for WeirFields<'_> {
    fn get(&self, name: &str) -> Option<FieldValue<'_>> {
        if name == "Initiated" {
            let action = self.map.get("event.action").and_then(Value::as_str)?;
            return match action {
                "connect" => Some(FieldValue::Str("true")),
                "accept" => Some(FieldValue::Str("false")),
                _ => None,
            };
        }
        // Canonical events are flat: one map lookup, no nested-path search.
        let key = canonical(name).unwrap_or(name);
        self.map.get(key).map(FieldValue::from_json)
    }

    fn source(&self) -> Option<EventSource<'_>> {
        Some(EventSource {
            product: Some("linux"),
            category: Some(self.category),
            service: Some(WEIR_SERVICE),
        })
    }

    fn for_each_value(&self, f: &mut dyn FnMut(FieldValue<'_>)) {
        self.map.for_each_value(f)
    }
}

/// Is this JSON object a Weir canonical event?
pub fn is_weir_event(map: &Map<String, Value>) -> bool {
    map.get("event.kind").is_some_and(Value::is_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_table_and_match_agree() {
        for (sigma, ecs) in MAPPING {
            assert_eq!(canonical(sigma), Some(*ecs), "{sigma}");
        }
        assert_eq!(canonical("OriginalFileName"), None);
    }
}
