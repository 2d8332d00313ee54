//! Canonical JSON rendering of an event: a flat object with ECS-style dotted
//! field names (`process.executable`, `user.login`, `file.path`, ...). This is
//! what `weir sensor --stdout`, the query API and the detection rules see.
//!
//! Raw bytes (argv, paths) stay lossless in the protobuf event; here they are
//! rendered as UTF-8, lossily, and `event.lossy` says when that happened.

use serde_json::{json, Map, Value};

use crate::event::Body;
use crate::{Event, FileOp, NetOp, PrivOp, Process, LOGINUID_UNSET};

/// Renders `event` as a flat map of canonical dotted field names.
pub fn to_ecs(event: &Event) -> Map<String, Value> {
    let mut out = Map::new();
    let mut lossy = false;
    out.insert("@timestamp".into(), json!(rfc3339_nanos(event.time_unix_ns)));
    out.insert("event.sequence".into(), json!(event.seq));
    out.insert("event.kind".into(), json!(crate::kind_name(event)));
    if !event.host_id.is_empty() {
        out.insert("host.id".into(), json!(event.host_id));
    }
    if !event.host_name.is_empty() {
        out.insert("host.name".into(), json!(event.host_name));
    }
    if let Some(process) = &event.process {
        put_process(&mut out, process, &mut lossy);
    }
    match &event.body {
        Some(Body::Exec(exec)) => {
            put(&mut out, "event.action", "exec");
            out.insert("process.memfd".into(), json!(exec.memfd));
        }
        Some(Body::Fork(fork)) => {
            put(&mut out, "event.action", "fork");
            out.insert("process.child.pid".into(), json!(fork.child_pid));
            put(&mut out, "process.child.entity_id", &fork.child_entity_id);
        }
        Some(Body::Exit(exit)) => {
            put(&mut out, "event.action", "exit");
            out.insert("process.exit_code".into(), json!(exit.exit_code));
            out.insert("process.exit_signal".into(), json!(exit.signal));
            out.insert("process.core_dumped".into(), json!(exit.core_dumped));
        }
        Some(Body::File(file)) => {
            let op = FileOp::try_from(file.op).unwrap_or(FileOp::Unspecified);
            put(&mut out, "event.action", file_action(op));
            put(&mut out, "file.path", &text(&file.path, &mut lossy));
            if !file.source_path.is_empty() {
                put(&mut out, "file.source_path", &text(&file.source_path, &mut lossy));
            }
            if matches!(
                op,
                FileOp::Chmod | FileOp::Create | FileOp::OpenWrite | FileOp::Truncate
            ) {
                out.insert("file.mode".into(), json!(format!("{:o}", file.mode)));
            }
            if op == FileOp::Chown {
                out.insert("file.uid".into(), json!(file.owner_uid));
                out.insert("file.gid".into(), json!(file.owner_gid));
            }
            // Present when the operation failed: the negative errno.
            if file.result != 0 {
                out.insert("file.result".into(), json!(file.result));
            }
            if file.repeat_count > 0 {
                out.insert("file.repeat_count".into(), json!(file.repeat_count));
            }
            if file.truncated {
                out.insert("file.truncated".into(), json!(true));
            }
            if file.resolved {
                out.insert("file.resolved".into(), json!(true));
            }
        }
        Some(Body::Network(net)) => {
            let op = NetOp::try_from(net.op).unwrap_or(NetOp::Unspecified);
            let (action, direction) = match op {
                NetOp::Connect => ("connect", "egress"),
                NetOp::Accept => ("accept", "ingress"),
                NetOp::Listen => ("listen", "listen"),
                NetOp::Bind => ("bind", "listen"),
                NetOp::Unspecified => ("unknown", "unknown"),
            };
            put(&mut out, "event.action", action);
            put(&mut out, "network.direction", direction);
            put(&mut out, "network.transport", &net.transport);
            put(&mut out, "source.ip", &net.source_ip);
            if net.source_port != 0 {
                out.insert("source.port".into(), json!(net.source_port));
            }
            put(&mut out, "destination.ip", &net.destination_ip);
            if net.destination_port != 0 {
                out.insert("destination.port".into(), json!(net.destination_port));
            }
            out.insert("event.result".into(), json!(net.result));
        }
        Some(Body::Privilege(p)) => {
            let op = PrivOp::try_from(p.op).unwrap_or(PrivOp::Unspecified);
            put(&mut out, "event.action", priv_action(op));
            out.insert("privilege.old_ids".into(), json!(p.old_ids));
            out.insert("privilege.new_ids".into(), json!(p.new_ids));
            if op == PrivOp::Capset {
                out.insert(
                    "privilege.cap_effective".into(),
                    json!(format!("{:#x}", p.cap_effective)),
                );
                out.insert(
                    "privilege.cap_permitted".into(),
                    json!(format!("{:#x}", p.cap_permitted)),
                );
            }
            out.insert("event.result".into(), json!(p.result));
        }
        Some(Body::Ptrace(p)) => {
            put(&mut out, "event.action", "ptrace");
            out.insert("ptrace.request".into(), json!(p.request));
            out.insert("target.process.pid".into(), json!(p.target_pid));
            put(&mut out, "target.process.entity_id", &p.target_entity_id);
            put(&mut out, "target.process.executable", &p.target_executable);
        }
        Some(Body::Memfd(m)) => {
            put(&mut out, "event.action", "memfd_create");
            out.insert("memfd.name".into(), json!(m.name));
            out.insert("memfd.flags".into(), json!(m.flags));
        }
        Some(Body::Bpf(b)) => {
            put(&mut out, "event.action", "bpf");
            out.insert("bpf.cmd".into(), json!(b.cmd));
            out.insert("bpf.prog_type".into(), json!(b.prog_type));
            put(&mut out, "bpf.prog_name", &b.prog_name);
        }
        Some(Body::Module(m)) => {
            put(&mut out, "event.action", "module_load");
            put(&mut out, "module.name", &m.name);
            put(&mut out, "module.args", &m.args);
        }
        Some(Body::Loss(l)) => {
            put(&mut out, "event.action", "loss");
            out.insert("loss.from".into(), json!(rfc3339_nanos(l.from_unix_ns)));
            out.insert("loss.to".into(), json!(rfc3339_nanos(l.to_unix_ns)));
            out.insert("loss.kernel_ring".into(), json!(l.kernel_ring));
            out.insert("loss.user_queue".into(), json!(l.user_queue));
            out.insert("loss.spool_batches".into(), json!(l.spool_batches));
            out.insert("loss.spool_events".into(), json!(l.spool_events));
            if !l.spool.is_empty() {
                out.insert("loss.spool".into(), json!(l.spool));
            }
            let total = l.kernel_ring.values().sum::<u64>() + l.user_queue.values().sum::<u64>() + l.spool_events;
            out.insert("loss.total".into(), json!(total));
        }
        Some(Body::Health(h)) => {
            let state = match crate::health::State::try_from(h.state).unwrap_or_default() {
                crate::health::State::Started => "started",
                crate::health::State::Heartbeat => "heartbeat",
                crate::health::State::Stopped => "stopped",
                crate::health::State::Unspecified => "unknown",
            };
            put(&mut out, "event.action", state);
            out.insert("sensor.degraded".into(), json!(h.degraded));
            put(&mut out, "sensor.mode", &h.mode);
            out.insert("sensor.seen".into(), json!(h.seen));
            out.insert("sensor.dropped_kernel".into(), json!(h.dropped_kernel));
            out.insert("sensor.dropped_user".into(), json!(h.dropped_user));
            out.insert("sensor.cpu_seconds".into(), json!(h.cpu_seconds));
            out.insert("sensor.rss_bytes".into(), json!(h.rss_bytes));
            out.insert("sensor.processes_tracked".into(), json!(h.processes_tracked));
            put(&mut out, "sensor.version", &h.version);
            put(&mut out, "sensor.detail", &h.detail);
        }
        Some(Body::Integrity(i)) => {
            put(&mut out, "event.action", "integrity");
            put(&mut out, "integrity.problem", &i.problem);
            put(&mut out, "integrity.detail", &i.detail);
            out.insert("integrity.first_seq".into(), json!(i.first_seq));
            out.insert("integrity.last_seq".into(), json!(i.last_seq));
            put(&mut out, "integrity.host_id", &i.host_id);
            out.insert("integrity.batch_index".into(), json!(i.batch_index));
        }
        Some(Body::Action(a)) => {
            put(&mut out, "event.action", "response");
            put(&mut out, "response.action", &a.action);
            put(&mut out, "response.target", &a.target);
            put(&mut out, "response.rule_id", &a.rule_id);
            put(&mut out, "response.result", &a.result);
            out.insert("response.latency_us".into(), json!(a.latency_us));
            put(&mut out, "response.command_id", &a.command_id);
            put(&mut out, "response.host_id", &a.host_id);
            put(&mut out, "response.policy_version", &a.policy_version);
            out.insert("response.dry_run".into(), json!(a.dry_run));
            if a.alert_id != 0 {
                out.insert("response.alert_id".into(), json!(a.alert_id));
            }
        }
        Some(Body::Inventory(inv)) => {
            // The full lists stay in the protobuf; search sees a summary.
            put(&mut out, "event.action", "inventory");
            out.insert("inventory.packages".into(), json!(inv.packages.len()));
            out.insert("inventory.listeners".into(), json!(inv.listeners.len()));
            put(&mut out, "inventory.reason", &inv.reason);
            out.insert("inventory.errors".into(), json!(inv.errors.len()));
        }
        None => {}
    }
    if lossy {
        out.insert("event.lossy".into(), json!(true));
    }
    out
}

fn put_process(out: &mut Map<String, Value>, p: &Process, lossy: &mut bool) {
    out.insert("process.pid".into(), json!(p.pid));
    if p.tid != 0 && p.tid != p.pid {
        out.insert("process.thread.id".into(), json!(p.tid));
    }
    out.insert("process.parent.pid".into(), json!(p.ppid));
    put(out, "process.entity_id", &p.entity_id);
    put(out, "process.parent.entity_id", &p.parent_entity_id);
    put(out, "process.executable", &p.executable);
    if !p.executable.is_empty() {
        put(
            out,
            "process.name",
            p.executable.rsplit('/').next().unwrap_or(&p.executable),
        );
    }
    if !p.args.is_empty() {
        let args: Vec<String> = p.args.iter().map(|a| text(a, lossy)).collect();
        out.insert("process.command_line".into(), json!(args.join(" ")));
        out.insert("process.args".into(), json!(args));
        out.insert("process.args_count".into(), json!(p.args.len()));
    }
    if p.args_truncated {
        out.insert("process.args_truncated".into(), json!(true));
    }
    if !p.cwd.is_empty() {
        put(out, "process.working_directory", &text(&p.cwd, lossy));
    }
    put(out, "process.comm", &p.comm);
    put(out, "process.tty", &p.tty);
    out.insert("user.id".into(), json!(p.uid));
    put(out, "user.name", &p.user_name);
    out.insert("user.effective.id".into(), json!(p.euid));
    out.insert("group.id".into(), json!(p.gid));
    out.insert("group.effective.id".into(), json!(p.egid));
    if p.loginuid != LOGINUID_UNSET {
        out.insert("user.login_id".into(), json!(p.loginuid));
        let login = if p.login_name.is_empty() {
            p.loginuid.to_string()
        } else {
            p.login_name.clone()
        };
        out.insert("user.login".into(), json!(login));
    }
    if p.sessionid != u32::MAX {
        out.insert("process.session_id".into(), json!(p.sessionid));
    }
    if p.cgroup_id != 0 {
        out.insert("process.cgroup.id".into(), json!(p.cgroup_id));
    }
    put(out, "process.cgroup.path", &p.cgroup_path);
    put(out, "container.id", &p.container_id);
    for (name, value) in [("pid", p.pid_ns), ("mnt", p.mnt_ns), ("net", p.net_ns)] {
        if value != 0 {
            out.insert(format!("process.namespace.{name}"), json!(value));
        }
    }
    if let Some(parent) = p.ancestors.first() {
        put(out, "process.parent.executable", &parent.executable);
        put(out, "process.parent.command_line", &parent.command_line);
        if !parent.executable.is_empty() {
            put(
                out,
                "process.parent.name",
                parent.executable.rsplit('/').next().unwrap_or(""),
            );
        }
    }
    if !p.ancestors.is_empty() {
        let ancestors: Vec<Value> = p
            .ancestors
            .iter()
            .map(|a| json!({"pid": a.pid, "entity_id": a.entity_id, "executable": a.executable, "command_line": a.command_line}))
            .collect();
        out.insert("process.ancestors".into(), Value::Array(ancestors));
    }
}

fn put(out: &mut Map<String, Value>, key: &str, value: &str) {
    if !value.is_empty() {
        out.insert(key.to_string(), Value::String(value.to_string()));
    }
}

fn text(bytes: &[u8], lossy: &mut bool) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => {
            *lossy = true;
            String::from_utf8_lossy(bytes).into_owned()
        }
    }
}

/// `event.action` of a file operation.
pub fn file_action(op: FileOp) -> &'static str {
    match op {
        FileOp::OpenWrite => "open_write",
        FileOp::Create => "create",
        FileOp::Truncate => "truncate",
        FileOp::Unlink => "unlink",
        FileOp::Rename => "rename",
        FileOp::Chmod => "chmod",
        FileOp::Chown => "chown",
        FileOp::Link => "link",
        FileOp::Symlink => "symlink",
        FileOp::Unspecified => "unknown",
    }
}

/// `event.action` of a privilege change.
pub fn priv_action(op: PrivOp) -> &'static str {
    match op {
        PrivOp::Setuid => "setuid",
        PrivOp::Setgid => "setgid",
        PrivOp::Setreuid => "setreuid",
        PrivOp::Setregid => "setregid",
        PrivOp::Setresuid => "setresuid",
        PrivOp::Setresgid => "setresgid",
        PrivOp::Capset => "capset",
        PrivOp::Unspecified => "unknown",
    }
}

/// `2026-11-27T18:58:53.123456789Z` from nanoseconds since the Unix epoch.
pub fn rfc3339_nanos(unix_ns: u64) -> String {
    let secs = unix_ns / 1_000_000_000;
    let nanos = unix_ns % 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Ancestor, Exec};

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_nanos(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339_nanos(1_795_287_533_000_000_001),
            "2026-11-21T18:58:53.000000001Z"
        );
        assert_eq!(rfc3339_nanos(951_782_400_000_000_000), "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn exec_renders_canonical_fields() {
        let event = Event {
            seq: 7,
            host_id: "h".into(),
            process: Some(Process {
                pid: 10,
                executable: "/usr/bin/curl".into(),
                args: vec![b"curl".to_vec(), b"-s".to_vec(), vec![0xff, b'x']],
                loginuid: 1000,
                login_name: "alice".into(),
                uid: 0,
                ancestors: vec![Ancestor {
                    executable: "/bin/bash".into(),
                    command_line: "bash".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            body: Some(Body::Exec(Exec { memfd: false })),
            ..Default::default()
        };
        let ecs = to_ecs(&event);
        assert_eq!(ecs["event.kind"], "exec");
        assert_eq!(ecs["process.name"], "curl");
        assert_eq!(ecs["process.command_line"], "curl -s \u{fffd}x");
        assert_eq!(ecs["user.login"], "alice");
        assert_eq!(ecs["process.parent.executable"], "/bin/bash");
        assert_eq!(ecs["event.lossy"], true);
    }
}
