//! Renders stored events for people: one line per event (time, host, kind,
//! user, pid, and what happened: command line, file path or destination),
//! cut to the terminal width; and the JSON line form (`--json`).

use serde_json::{Map, Value};

use super::StoredEvent;

fn field(ecs: &Map<String, Value>, key: &str) -> Option<String> {
    match ecs.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// "2026-11-27 19:01:02.123" (UTC) from the event's @timestamp.
fn short_time(ecs: &Map<String, Value>) -> String {
    let ts = field(ecs, "@timestamp").unwrap_or_default();
    let ts = ts.replace('T', " ");
    ts.get(..23).map(str::to_string).unwrap_or(ts)
}

/// What the event is about, in one phrase.
pub fn summary(ecs: &Map<String, Value>) -> String {
    let action = field(ecs, "event.action").unwrap_or_default();
    let exe = || field(ecs, "process.command_line").or_else(|| field(ecs, "process.executable"));
    match field(ecs, "event.kind").as_deref() {
        Some("file") => {
            let mut s = format!("{action} {}", field(ecs, "file.path").unwrap_or_default());
            if let Some(src) = field(ecs, "file.source_path") {
                s = format!("{action} {src} -> {}", field(ecs, "file.path").unwrap_or_default());
            }
            s
        }
        Some("network") => {
            let dst = match (field(ecs, "destination.ip"), field(ecs, "destination.port")) {
                (Some(ip), Some(port)) if ip.contains(':') => format!("[{ip}]:{port}"),
                (Some(ip), Some(port)) => format!("{ip}:{port}"),
                (Some(ip), None) => ip,
                (None, Some(port)) => format!("port {port}"),
                (None, None) => String::new(),
            };
            let by = field(ecs, "process.executable").unwrap_or_default();
            format!("{action} {dst} by {by}")
        }
        Some("integrity") => format!(
            "{}: {} (host {})",
            field(ecs, "integrity.problem").unwrap_or_default(),
            field(ecs, "integrity.detail").unwrap_or_default(),
            field(ecs, "integrity.host_id").unwrap_or_default()
        ),
        Some("loss") => format!("lost {} events", field(ecs, "loss.total").unwrap_or_default()),
        Some("exec") | Some("fork") | Some("exit") => exe().unwrap_or_default(),
        _ => {
            let what = exe().unwrap_or_default();
            if action.is_empty() {
                what
            } else {
                format!("{action} {what}")
            }
        }
    }
}

fn user(ecs: &Map<String, Value>) -> String {
    let user = field(ecs, "user.name")
        .or_else(|| field(ecs, "user.id"))
        .unwrap_or_default();
    match field(ecs, "user.login") {
        Some(login) if login != user => format!("{login}>{user}"),
        _ => user,
    }
}

/// Cuts `line` to `width` characters, marking the cut with '…'.
pub fn trim(line: &str, width: usize) -> String {
    if line.chars().count() <= width {
        return line.to_string();
    }
    let mut out: String = line.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The table, header first; lines cut to `width` when given.
pub fn render(events: &[StoredEvent], width: Option<usize>) -> String {
    let rows: Vec<[String; 6]> = events
        .iter()
        .map(|e| {
            [
                short_time(&e.ecs),
                field(&e.ecs, "host.name").unwrap_or_else(|| e.host_id.clone()),
                e.kind.clone(),
                user(&e.ecs),
                field(&e.ecs, "process.pid").unwrap_or_default(),
                summary(&e.ecs).replace(['\n', '\r', '\t'], " "),
            ]
        })
        .collect();
    let header = ["TIME (UTC)", "HOST", "KIND", "USER", "PID", "WHAT"].map(String::from);
    let mut widths = [0usize; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count().min(24));
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i < 5 {
                let cell = trim(cell, widths[i]);
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            } else {
                line.push_str(cell);
            }
        }
        let line = line.trim_end();
        out.push_str(&match width {
            Some(w) => trim(line, w),
            None => line.to_string(),
        });
        out.push('\n');
    }
    out
}

/// The JSON line form: the ECS map plus `evidence.leaf`.
pub fn json_line(event: &StoredEvent) -> String {
    let mut map = event.ecs.clone();
    map.insert("evidence.leaf".into(), Value::from(event.leaf));
    Value::Object(map).to_string()
}
