//! The indexed columns of one event: what search filters on. Extracted from
//! the protobuf event (exact values) next to its ECS rendering (for output).

use weir_event::event::Body;
use weir_event::{Event, LOGINUID_UNSET};

/// One row of the `events` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub host_id: String,
    pub host_name: String,
    pub seq: i64,
    pub time_ns: i64,
    pub kind: &'static str,
    pub user_name: Option<String>,
    pub uid: Option<i64>,
    pub login: Option<String>,
    pub pid: Option<i64>,
    pub exe: Option<String>,
    pub cmdline: Option<String>,
    pub parent_exe: Option<String>,
    pub file_path: Option<String>,
    pub dst_ip: Option<String>,
    pub dst_port: Option<i64>,
    pub container_id: Option<String>,
}

fn some(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn lossy(b: &[u8]) -> Option<String> {
    (!b.is_empty()).then(|| String::from_utf8_lossy(b).into_owned())
}

/// Nanosecond timestamps past the year 2262 do not fit SQLite's i64; they are clamped.
pub fn time_key(unix_ns: u64) -> i64 {
    i64::try_from(unix_ns).unwrap_or(i64::MAX)
}

impl Row {
    pub fn of(event: &Event) -> Row {
        let p = event.process.as_ref();
        let mut row = Row {
            host_id: event.host_id.clone(),
            host_name: event.host_name.clone(),
            // Bit-cast: keeps (host, seq) unique for every u64.
            seq: event.seq as i64,
            time_ns: time_key(event.time_unix_ns),
            kind: weir_event::kind_name(event),
            user_name: p.and_then(|p| some(&p.user_name)),
            uid: p.map(|p| i64::from(p.uid)),
            login: p.and_then(|p| {
                if p.loginuid == LOGINUID_UNSET {
                    None
                } else if p.login_name.is_empty() {
                    Some(p.loginuid.to_string())
                } else {
                    Some(p.login_name.clone())
                }
            }),
            pid: p.map(|p| i64::from(p.pid)),
            exe: p.and_then(|p| some(&p.executable)),
            cmdline: p.and_then(|p| {
                (!p.args.is_empty()).then(|| {
                    p.args
                        .iter()
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
            }),
            parent_exe: p.and_then(|p| p.ancestors.first()).and_then(|a| some(&a.executable)),
            file_path: None,
            dst_ip: None,
            dst_port: None,
            container_id: p.and_then(|p| some(&p.container_id)),
        };
        match &event.body {
            Some(Body::File(f)) => row.file_path = lossy(&f.path),
            Some(Body::Network(n)) => {
                row.dst_ip = some(&n.destination_ip);
                row.dst_port = (n.destination_port != 0).then_some(i64::from(n.destination_port));
            }
            _ => {}
        }
        row
    }
}
