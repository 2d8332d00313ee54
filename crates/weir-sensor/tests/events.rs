//! One test per event kind: each makes the thing happen for real (exec,
//! fork/exit, file changes in a watched directory, loopback TCP over IPv4 and
//! IPv6, setuid, ptrace, fileless exec, bpf loads) and asserts the exact
//! fields of the event the sensor delivers. Run as root.

mod common;
#[path = "common/helpers.rs"]
mod helpers;

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};

use common::*;
use weir_event::event::Body;
use weir_event::{FileOp, NetOp, PrivOp};

#[test]
fn helper_entry() {
    if let Ok(action) = std::env::var("WEIR_HELPER") {
        helpers::run(&action, &helper_args());
    }
}

fn args_of(e: &weir_event::Event) -> Vec<Vec<u8>> {
    e.process.as_ref().map(|p| p.args.clone()).unwrap_or_default()
}

fn proc_text(leaf: &str) -> String {
    std::fs::read_to_string(format!("/proc/self/{leaf}"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn exec_carries_identity_argv_and_cwd() {
    let h = Harness::start(config(&["/nonexistent-weir/"]));
    let marker = unique("exec");
    let dir = tempfile::tempdir().unwrap();
    let odd = OsStr::from_bytes(b"\xffweir\xfe");
    let child = Command::new("/bin/sh")
        .args(["-c", "exit 0", &marker])
        .arg(odd)
        .current_dir(dir.path())
        .spawn()
        .unwrap();
    let pid = child.id();
    child.wait_with_output().unwrap();
    let ev = h.wait_for("exec", |e| is_exec_of(e, pid));
    let exit = h.wait_for("exit", |e| matches!(e.body, Some(Body::Exit(_))) && pid_of(e) == pid);
    let p = ev.process.clone().unwrap();
    let sh = std::fs::canonicalize("/bin/sh").unwrap();
    assert_eq!(p.executable, sh.to_str().unwrap());
    assert_eq!(
        p.args,
        vec![
            b"/bin/sh".to_vec(),
            b"-c".to_vec(),
            b"exit 0".to_vec(),
            marker.clone().into_bytes(),
            b"\xffweir\xfe".to_vec()
        ]
    );
    assert!(!p.args_truncated);
    assert_eq!(p.cwd, std::fs::canonicalize(dir.path()).unwrap().as_os_str().as_bytes());
    assert_eq!(p.ppid, std::process::id());
    assert_eq!(p.parent_entity_id, proc_entity_id(std::process::id()));
    assert_eq!(p.entity_id.len(), 32);
    assert_eq!((p.uid, p.euid, p.gid, p.egid), (0, 0, 0, 0));
    assert_eq!(p.user_name, "root");
    assert_eq!(p.loginuid.to_string(), proc_text("loginuid"));
    assert_eq!(p.sessionid.to_string(), proc_text("sessionid"));
    assert_eq!(p.comm, "sh");
    assert_eq!(ev.host_id, HOST);
    let ns = |n: &str| {
        let l = std::fs::read_link(format!("/proc/self/ns/{n}")).unwrap();
        let l = l.to_str().unwrap().to_string();
        l[l.find('[').unwrap() + 1..l.len() - 1].parse::<u32>().unwrap()
    };
    assert_eq!((p.mnt_ns, p.net_ns), (ns("mnt"), ns("net")));
    assert_eq!(p.pid_ns, ns("pid_for_children"));
    assert!(p.cgroup_id > 0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    assert!(ev.time_unix_ns <= now && ev.time_unix_ns > now - 120_000_000_000);
    assert_eq!(ev.seq, 0);
    let Some(Body::Exec(x)) = ev.body else { unreachable!() };
    assert!(!x.memfd);
    let Some(Body::Exit(x)) = exit.body else { unreachable!() };
    assert_eq!((x.exit_code, x.signal, x.core_dumped), (0, 0, false));
    assert_eq!(exit.process.unwrap().entity_id, p.entity_id);
}

#[test]
fn snapshot_and_exec_give_the_same_entity_id() {
    let marker = unique("snap");
    let script = format!("read x; exec /bin/true {marker}");
    let mut child = Command::new("/bin/sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let expected = proc_entity_id(pid);
    // The sensor starts after the process: it knows it from the /proc snapshot only.
    let h = Harness::start(config(&["/nonexistent-weir/"]));
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    child.wait().unwrap();
    let ev = h.wait_for("exec", |e| {
        is_exec_of(e, pid) && args_of(e).get(1) == Some(&marker.clone().into_bytes())
    });
    let p = ev.process.unwrap();
    assert_eq!(p.entity_id, expected);
    assert_eq!(p.parent_entity_id, proc_entity_id(std::process::id()));
    // The exec's ancestors start with this test process, known from the snapshot.
    assert_eq!(p.ancestors[0].pid, std::process::id());
    assert_eq!(p.ancestors[0].entity_id, proc_entity_id(std::process::id()));
}

#[test]
fn loginuid_survives_setresuid_and_exec() {
    let h = Harness::start(config(&["/nonexistent-weir/"]));
    let marker = unique("login");
    let (pid, _) = helper("login-then-exec", &["4242", "1000", &marker]);
    let ev = h.wait_for("exec", |e| {
        is_exec_of(e, pid) && args_of(e).get(1) == Some(&marker.clone().into_bytes())
    });
    let p = ev.process.unwrap();
    assert_eq!((p.uid, p.euid, p.gid, p.egid), (1000, 1000, 1000, 1000));
    assert_eq!(p.loginuid, 4242);
    let priv_ev = h.wait_for("setresuid", |e| {
        // glibc runs setresuid on every thread; the one that logged in carries the login uid.
        pid_of(e) == pid
            && e.process.as_ref().unwrap().loginuid == 4242
            && matches!(&e.body, Some(Body::Privilege(x)) if x.op == PrivOp::Setresuid as i32)
    });
    let Some(Body::Privilege(x)) = priv_ev.body else {
        unreachable!()
    };
    assert_eq!(x.old_ids, vec![0, 0, 0]);
    assert_eq!(x.new_ids, vec![1000, 1000, 1000]);
    assert_eq!(x.result, 0);
    assert_eq!(priv_ev.process.unwrap().loginuid, 4242);
}

#[test]
fn three_level_chain_has_its_lineage() {
    let h = Harness::start(config(&["/nonexistent-weir/"]));
    let marker = unique("chain");
    let c = format!("/bin/true {marker}; true");
    let b = format!("sh -c \"{c}\"; true");
    let a = format!("sh -c '{b}'; true");
    Command::new("/bin/sh").args(["-c", &a]).status().unwrap();
    let ev = h.wait_for("exec", |e| {
        matches!(e.body, Some(Body::Exec(_))) && args_of(e) == vec![b"/bin/true".to_vec(), marker.clone().into_bytes()]
    });
    let p = ev.process.unwrap();
    let anc = &p.ancestors;
    assert!(anc.len() >= 4, "{anc:?}");
    assert_eq!(anc[0].command_line, format!("sh -c {c}"));
    assert_eq!(anc[1].command_line, format!("sh -c {b}"));
    assert_eq!(anc[2].command_line, format!("/bin/sh -c {a}"));
    assert_eq!(anc[3].pid, std::process::id());
    assert_eq!(anc[3].entity_id, proc_entity_id(std::process::id()));
    let sh = std::fs::canonicalize("/bin/sh").unwrap();
    for a in &anc[..3] {
        assert_eq!(a.executable, sh.to_str().unwrap());
    }
    assert_eq!(p.parent_entity_id, anc[0].entity_id);
    assert_eq!(p.ppid, anc[0].pid);
}

#[test]
fn fork_exit_code_and_signal() {
    let h = Harness::start(config(&["/nonexistent-weir/"]));
    let marker = unique("fork");
    let child = Command::new("/bin/sh")
        .args(["-c", &format!("/bin/true {marker}; exit 7")])
        .spawn()
        .unwrap();
    let pid = child.id();
    child.wait_with_output().unwrap();
    let exec = h.wait_for("exec", |e| {
        args_of(e).get(1) == Some(&marker.clone().into_bytes()) && matches!(e.body, Some(Body::Exec(_)))
    });
    let fork = h.wait_for("fork", |e| {
        pid_of(e) == pid && matches!(&e.body, Some(Body::Fork(f)) if f.child_pid == pid_of(&exec))
    });
    let Some(Body::Fork(f)) = &fork.body else {
        unreachable!()
    };
    assert_eq!(f.child_entity_id, exec.process.as_ref().unwrap().entity_id);
    assert_eq!(
        exec.process.as_ref().unwrap().parent_entity_id,
        fork.process.as_ref().unwrap().entity_id
    );
    let exit = h.wait_for("exit", |e| pid_of(e) == pid && matches!(e.body, Some(Body::Exit(_))));
    let Some(Body::Exit(x)) = exit.body else { unreachable!() };
    assert_eq!((x.exit_code, x.signal), (7, 0));

    let killed = Command::new("/bin/sh").args(["-c", "kill -9 $$"]).spawn().unwrap();
    let kpid = killed.id();
    killed.wait_with_output().unwrap();
    let exit = h.wait_for("exit", |e| pid_of(e) == kpid && matches!(e.body, Some(Body::Exit(_))));
    let Some(Body::Exit(x)) = exit.body else { unreachable!() };
    assert_eq!((x.exit_code, x.signal, x.core_dumped), (0, 9, false));
}

fn file_event(e: &weir_event::Event, op: FileOp, path: &[u8]) -> bool {
    matches!(&e.body, Some(Body::File(f)) if f.op == op as i32 && f.path == path)
}

#[test]
fn file_changes_under_a_watched_prefix() {
    let watched = tempfile::Builder::new().prefix("weir-watched-").tempdir().unwrap();
    let outside = tempfile::Builder::new().prefix("weir-outside-").tempdir().unwrap();
    let w = watched.path().to_str().unwrap().to_string();
    let o = outside.path().to_str().unwrap().to_string();
    let h = Harness::start(config(&[&format!("{w}/")]));
    std::fs::write(format!("{o}/src"), b"x").unwrap();
    let script = format!(
        "mv {o}/src {w}/dst && chmod 640 {w}/dst && chown 1:2 {w}/dst && echo x > {w}/new && \
         echo y > {o}/unwatched && ln -s /etc/passwd {w}/sym && rm {w}/dst"
    );
    let child = Command::new("/bin/sh").args(["-c", &script]).spawn().unwrap();
    let pid = child.id();
    assert!(child.wait_with_output().unwrap().status.success());
    let dst = format!("{w}/dst").into_bytes();

    let e = h.wait_for("rename", |e| file_event(e, FileOp::Rename, &dst));
    let Some(Body::File(f)) = &e.body else { unreachable!() };
    assert_eq!(f.source_path, format!("{o}/src").into_bytes());
    assert_eq!(e.process.as_ref().unwrap().comm, "mv");
    assert_eq!(e.process.as_ref().unwrap().ppid, pid);

    let e = h.wait_for("chmod", |e| file_event(e, FileOp::Chmod, &dst));
    let Some(Body::File(f)) = &e.body else { unreachable!() };
    assert_eq!(f.mode & 0o7777, 0o640);

    let e = h.wait_for("chown", |e| file_event(e, FileOp::Chown, &dst));
    let Some(Body::File(f)) = &e.body else { unreachable!() };
    assert_eq!((f.owner_uid, f.owner_gid), (1, 2));

    let e = h.wait_for("create", |e| {
        file_event(e, FileOp::Create, format!("{w}/new").as_bytes())
    });
    let Some(Body::File(f)) = &e.body else { unreachable!() };
    assert_eq!(f.flags & 0o3, libc::O_WRONLY as u32);
    assert_ne!(f.flags & libc::O_TRUNC as u32, 0);
    assert_eq!(e.process.as_ref().unwrap().pid, pid); // the shell's own redirection

    let e = h.wait_for("symlink", |e| {
        file_event(e, FileOp::Symlink, format!("{w}/sym").as_bytes())
    });
    let Some(Body::File(f)) = &e.body else { unreachable!() };
    assert_eq!(f.source_path, b"/etc/passwd");

    h.wait_for("unlink", |e| file_event(e, FileOp::Unlink, &dst));
    let all = h.finish();
    let stray = all.iter().filter_map(|e| match &e.body {
        Some(Body::File(f)) => Some(f),
        _ => None,
    });
    for f in stray {
        assert!(
            f.path.starts_with(w.as_bytes()),
            "unwatched path reported: {:?}",
            String::from_utf8_lossy(&f.path)
        );
    }
}

#[test]
fn relative_and_dotted_names_are_resolved_before_the_prefix_test() {
    let watched = tempfile::Builder::new().prefix("weir-watched-").tempdir().unwrap();
    let outside = tempfile::Builder::new().prefix("weir-outside-").tempdir().unwrap();
    let watched = std::fs::canonicalize(watched.keep()).unwrap();
    let outside = std::fs::canonicalize(outside.keep()).unwrap();
    let w = watched.to_str().unwrap().to_string();
    let o = outside.to_str().unwrap().to_string();
    let wbase = watched.file_name().unwrap().to_str().unwrap().to_string();
    let obase = outside.file_name().unwrap().to_str().unwrap().to_string();
    let u = unique("rel");
    std::fs::create_dir(format!("{w}/sub")).unwrap();
    let h = Harness::start(config(&[&format!("{w}/")]));
    let script = format!(
        "cd {w} && echo x > rel-{u} && cd sub && echo x > ./../up-{u} && cd {o} && echo x > ../{wbase}/dd-{u} && \
         echo x > {o}/../{wbase}/./abs-{u} && echo x > {o}//..//{wbase}/sub/../slash-{u} && \
         cd {w} && echo x > ../{obase}/out-{u} && mv rel-{u} ../{obase}/moved-{u}"
    );
    let child = Command::new("/bin/sh").args(["-c", &script]).spawn().unwrap();
    let pid = child.id();
    assert!(child.wait_with_output().unwrap().status.success());
    for leaf in ["rel", "up", "dd", "abs", "slash"] {
        let path = format!("{w}/{leaf}-{u}");
        let e = h.wait_for(leaf, |e| file_event(e, FileOp::Create, path.as_bytes()));
        assert_eq!(e.process.as_ref().unwrap().pid, pid);
    }
    // openat on a directory descriptor: the name is resolved against that directory.
    let (hpid, _) = helper("openat-dirfd", &[&o, &format!("../{wbase}/fd-{u}")]);
    let path = format!("{w}/fd-{u}");
    let e = h.wait_for("openat dirfd", |e| file_event(e, FileOp::Create, path.as_bytes()));
    assert_eq!(e.process.as_ref().unwrap().pid, hpid);
    // A rename out of the watched directory names both ends by absolute path.
    let moved = format!("{o}/moved-{u}");
    let e = h.wait_for(
        "rename",
        |e| matches!(&e.body, Some(Body::File(f)) if f.op == FileOp::Rename as i32 && f.path == moved.as_bytes()),
    );
    let Some(Body::File(f)) = &e.body else { unreachable!() };
    assert_eq!(f.source_path, format!("{w}/rel-{u}").into_bytes());
    let all = h.finish();
    for e in &all {
        if let Some(Body::File(f)) = &e.body {
            let p = String::from_utf8_lossy(&f.path);
            assert!(
                !p.contains(&format!("out-{u}")),
                "a name outside the prefix was reported: {p}"
            );
            assert!(!p.contains(".."), "unnormalised path reported: {p}");
        }
    }
    std::fs::remove_dir_all(&watched).ok();
    std::fs::remove_dir_all(&outside).ok();
}

fn net_event(e: &weir_event::Event, pid: u32, op: NetOp) -> bool {
    pid_of(e) == pid && matches!(&e.body, Some(Body::Network(n)) if n.op == op as i32)
}

fn check_tcp(version: &str, ip: &str) {
    let h = Harness::start(config(&["/nonexistent-weir/"]));
    let (pid, ports) = helper("net", &[version]);
    let mut it = ports.split(' ').map(|p| p.parse::<u32>().unwrap());
    let (lport, cport) = (it.next().unwrap(), it.next().unwrap());
    let get = |op| {
        let e = h.wait_for("network", |e| net_event(e, pid, op));
        let Some(Body::Network(n)) = e.body else { unreachable!() };
        n
    };
    let n = get(NetOp::Bind);
    assert_eq!(
        (n.source_ip.as_str(), n.source_port, n.result, n.transport.as_str()),
        (ip, lport, 0, "tcp")
    );
    let n = get(NetOp::Listen);
    assert_eq!((n.source_ip.as_str(), n.source_port, n.result), (ip, lport, 0));
    assert_eq!(n.destination_ip, "");
    let n = get(NetOp::Connect);
    assert_eq!((n.destination_ip.as_str(), n.destination_port), (ip, lport));
    assert_eq!(
        (n.source_ip.as_str(), n.source_port, n.result, n.transport.as_str()),
        (ip, cport, 0, "tcp")
    );
    let n = get(NetOp::Accept);
    assert_eq!((n.source_ip.as_str(), n.source_port), (ip, cport));
    assert_eq!((n.destination_ip.as_str(), n.destination_port), (ip, lport));
    assert!(n.result >= 0);
}

#[test]
fn tcp_over_ipv4() {
    check_tcp("4", "127.0.0.1");
}

#[test]
fn tcp_over_ipv6() {
    check_tcp("6", "::1");
}

#[test]
fn setuid_reports_old_and_new_ids() {
    let h = Harness::start(config(&["/nonexistent-weir/"]));
    let (pid, r) = helper("setuid", &["65534"]);
    assert_eq!(r, "0");
    let e = h.wait_for("setuid", |e| {
        pid_of(e) == pid && matches!(&e.body, Some(Body::Privilege(x)) if x.op == PrivOp::Setuid as i32)
    });
    let Some(Body::Privilege(x)) = e.body else {
        unreachable!()
    };
    assert_eq!((x.old_ids, x.new_ids, x.result), (vec![0, 0, 0], vec![65534], 0));
}

#[test]
fn ptrace_attach_names_its_target() {
    let h = Harness::start(config(&["/nonexistent-weir/"]));
    let (pid, target) = helper("ptrace", &[]);
    let target: u32 = target.parse().unwrap();
    let e = h.wait_for("ptrace", |e| {
        pid_of(e) == pid && matches!(e.body, Some(Body::Ptrace(_)))
    });
    let Some(Body::Ptrace(p)) = e.body else { unreachable!() };
    assert_eq!((p.request, p.target_pid), (libc::PTRACE_ATTACH as u64, target));
    let fork = h.wait_for("fork", |e| {
        pid_of(e) == pid && matches!(&e.body, Some(Body::Fork(f)) if f.child_pid == target)
    });
    let Some(Body::Fork(f)) = fork.body else { unreachable!() };
    assert_eq!(p.target_entity_id, f.child_entity_id);
}

#[test]
fn fileless_exec_from_a_memfd() {
    let h = Harness::start(config(&["/nonexistent-weir/"]));
    let name = unique("memfd");
    let argv0 = unique("fileless");
    let (pid, _) = helper("memfd-exec", &[&name, &argv0]);
    let m = h.wait_for("memfd", |e| pid_of(e) == pid && matches!(e.body, Some(Body::Memfd(_))));
    let Some(Body::Memfd(m)) = m.body else { unreachable!() };
    assert_eq!((m.name.as_str(), m.flags), (name.as_str(), libc::MFD_CLOEXEC));
    let e = h.wait_for("exec", |e| {
        is_exec_of(e, pid) && args_of(e) == vec![argv0.clone().into_bytes()]
    });
    let Some(Body::Exec(x)) = &e.body else { unreachable!() };
    assert!(x.memfd, "{:?}", e.process);
    assert_eq!(e.process.unwrap().executable, format!("/memfd:{name} (deleted)"));
}

#[test]
fn bpf_program_load_from_another_process() {
    let h = Harness::start(config(&["/nonexistent-weir/"]));
    let (pid, _) = helper("bpf-load", &["weirtestprog"]);
    let e = h.wait_for("bpf", |e| pid_of(e) == pid && matches!(e.body, Some(Body::Bpf(_))));
    let Some(Body::Bpf(b)) = e.body else { unreachable!() };
    assert_eq!((b.cmd, b.prog_type, b.prog_name.as_str()), (5, 1, "weirtestprog"));
}

#[test]
fn long_and_odd_argv_is_bounded_and_flagged() {
    let h = Harness::start(config(&["/nonexistent-weir/"]));
    let marker = unique("long");
    let big: Vec<Vec<u8>> = (0..100)
        .map(|i| format!("{marker}-{i:03}-{}", "x".repeat(80)).into_bytes())
        .collect();
    let mut cmd = Command::new("/bin/true");
    cmd.arg(OsStr::from_bytes(b"\xff\xfe\xfd"));
    for a in &big {
        cmd.arg(OsStr::from_bytes(a));
    }
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    child.wait_with_output().unwrap();
    let e = h.wait_for("exec", |e| is_exec_of(e, pid));
    let p = e.process.unwrap();
    assert!(p.args_truncated);
    assert!(p.args.len() <= 64);
    assert_eq!(p.args[0], b"/bin/true");
    assert_eq!(p.args[1], b"\xff\xfe\xfd");
    assert_eq!(p.args[2], big[0]);

    // Many short arguments: cut by count, not by bytes.
    let many: Vec<String> = (0..70).map(|i| format!("a{i}")).collect();
    let child = Command::new("/bin/true").args(&many).spawn().unwrap();
    let pid = child.id();
    child.wait_with_output().unwrap();
    let p = h.wait_for("exec", |e| is_exec_of(e, pid)).process.unwrap();
    assert_eq!(p.args.len(), 64);
    assert!(p.args_truncated);
    assert_eq!(p.args[63], b"a62");
}

#[test]
fn kernel_check_reports_what_works_here() {
    let k = weir_sensor::check();
    assert!(k.usable("tracepoint"), "{k}");
    assert!(k.usable("tp_btf"), "{k}");
    assert!(k.usable("ringbuf"), "{k}");
    assert_eq!(
        k.usable("modules"),
        std::path::Path::new("/proc/modules").exists(),
        "{k}"
    );
    assert!(k.to_string().contains("fentry"));
}

#[test]
fn degraded_mode_uses_the_process_connector() {
    let mut c = config(&["/nonexistent-weir/"]);
    c.force_proc_connector = true;
    let h = Harness::start(c);
    let marker = unique("degraded");
    // Lives until the sensor has reported it: in this mode the sensor reads
    // argv from /proc after the notification, so the process must still be
    // there however late that read comes on a loaded machine.
    let mut child = Command::new("/bin/sh")
        .args(["-c", "read line", &marker])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let e = h.wait_for("exec", |e| is_exec_of(e, pid));
    drop(child.stdin.take());
    child.wait().unwrap();
    let p = e.process.unwrap();
    assert_eq!(p.args[3], marker.as_bytes());
    assert_eq!(p.entity_id.len(), 32);
    assert_eq!(p.parent_entity_id, proc_entity_id(std::process::id()));
    let exit = h.wait_for("exit", |e| pid_of(e) == pid && matches!(e.body, Some(Body::Exit(_))));
    assert_eq!(exit.process.unwrap().entity_id, p.entity_id);
    let started = h.wait_for("health", |e| matches!(&e.body, Some(Body::Health(x)) if x.state == 1));
    let Some(Body::Health(x)) = started.body else {
        unreachable!()
    };
    assert!(x.degraded);
    assert_eq!(x.mode, "proc-connector");
}
