//! Isolation and destination blocks against real sockets: the hooks refuse
//! new connections from processes in the attached cgroup (EPERM), let the
//! always-allowed collector address through, and lift after the TTL or on
//! command.

mod common;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::time::Duration;

use common::*;

fn listener(addr: &str) -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind(addr).expect("binding a test listener");
    let a = l.local_addr().unwrap();
    (l, a)
}

fn refused(r: Result<(), String>) -> bool {
    matches!(r, Err(e) if e.contains("Operation not permitted"))
}

#[test]
fn isolation_allows_only_the_collector_and_lifts_after_its_ttl() {
    let (_outside, outside) = listener("127.0.0.1:0");
    let (_collector, collector) = listener("127.0.0.1:0");
    let cg = TestCgroup::new();
    let r = start(&cg, vec![collector]);
    let reports = r.enforced().unwrap();
    assert!(r.enforced().is_none(), "the report channel is handed out once");
    assert_eq!(connect_from(&cg, outside), Ok(()));

    let mut cmd = command("isolate_host", "");
    cmd.ttl_seconds = 2;
    let action = r.execute(&cmd);
    assert!(action.result.starts_with("ok: isolated for 2s"), "{}", action.result);
    assert!(action.result.contains(&collector.to_string()), "{}", action.result);
    assert!(refused(connect_from(&cg, outside)));
    assert_eq!(connect_from(&cg, collector), Ok(()));
    assert!(r.denied_while_isolated() >= 1);

    // The TTL thread lifts it and says so.
    let undo = reports.recv_timeout(Duration::from_secs(10)).expect("TTL undo report");
    assert_eq!(undo.action, "unisolate_host");
    assert!(
        undo.result
            .starts_with("ok: TTL expired; isolation lifted; 1 connections denied while isolated"),
        "{}",
        undo.result
    );
    assert_eq!(connect_from(&cg, outside), Ok(()));
}

#[test]
fn unisolate_on_command_and_dry_run() {
    let (_outside, outside) = listener("127.0.0.1:0");
    let (_collector, collector) = listener("127.0.0.1:0");
    let cg = TestCgroup::new();
    let r = start(&cg, vec![collector]);

    let mut cmd = command("isolate_host", "");
    cmd.dry_run = true;
    let action = r.execute(&cmd);
    assert_eq!(
        action.result,
        format!("dry-run: would isolate the host for 3600s, allowing only {collector}")
    );
    assert_eq!(connect_from(&cg, outside), Ok(()), "a dry run isolated the host");

    let mut cmd = command("isolate_host", "");
    cmd.ttl_seconds = 10 * 24 * 3600;
    let action = r.execute(&cmd);
    assert!(
        action
            .result
            .starts_with("ok: isolated for 86400s (capped from 864000s)"),
        "{}",
        action.result
    );
    assert!(refused(connect_from(&cg, outside)));
    assert!(refused(udp_from(&cg, outside)), "UDP is cut too");
    let action = r.execute(&command("unisolate_host", ""));
    assert_eq!(
        action.result,
        "ok: isolation lifted; 2 connections denied while isolated"
    );
    assert_eq!(connect_from(&cg, outside), Ok(()));
    let action = r.execute(&command("unisolate_host", ""));
    assert_eq!(action.result, "ok: the host was not isolated");
}

#[test]
fn isolation_without_a_collector_address_is_refused() {
    let (_outside, outside) = listener("127.0.0.1:0");
    let cg = TestCgroup::new();
    let r = start(&cg, vec![]);
    let action = r.execute(&command("isolate_host", ""));
    assert_eq!(
        action.result,
        "refused: no collector address is always allowed; isolation would cut the evidence stream"
    );
    assert_eq!(connect_from(&cg, outside), Ok(()));
}

#[test]
fn block_one_destination_then_unblock() {
    let (_a, a) = listener("127.0.0.1:0");
    let (_b, b) = listener("127.0.0.1:0");
    let (_collector, collector) = listener("127.0.0.1:0");
    let cg = TestCgroup::new();
    let r = start(&cg, vec![collector]);

    let action = r.execute(&command("block_destination", &a.to_string()));
    assert_eq!(
        action.result,
        format!("ok: blocked {a} for 3600s (established connections are not cut)")
    );
    assert!(refused(connect_from(&cg, a)));
    assert_eq!(connect_from(&cg, b), Ok(()), "only {a} is blocked");
    let action = r.execute(&command("unblock_destination", &a.to_string()));
    assert_eq!(
        action.result,
        format!("ok: unblocked {a}; 1 attempts denied while blocked")
    );
    assert_eq!(connect_from(&cg, a), Ok(()));

    // The collector can never be blocked; bad targets say why.
    let action = r.execute(&command("block_destination", "127.0.0.1"));
    assert_eq!(
        action.result,
        format!("refused: 127.0.0.1 covers the always-allowed {collector} (the collector)")
    );
    let action = r.execute(&command("block_destination", "no-such-host:80"));
    assert_eq!(
        action.result,
        "refused: target \"no-such-host:80\": not an IP, IP:port or [IPv6]:port"
    );
    let mut cmd = command("block_destination", &b.to_string());
    cmd.dry_run = true;
    assert_eq!(r.execute(&cmd).result, format!("dry-run: would block {b} for 3600s"));
    assert_eq!(connect_from(&cg, b), Ok(()), "a dry run blocked {b}");
}

/// The hooks skip the block list when nothing is blocked and the allow list
/// when not isolated: each lift must leave the rest in force.
#[test]
fn blocks_and_isolation_lift_independently() {
    let (_a, a) = listener("127.0.0.1:0");
    let (_b, b) = listener("127.0.0.1:0");
    let (_outside, outside) = listener("127.0.0.1:0");
    let (_collector, collector) = listener("127.0.0.1:0");
    let cg = TestCgroup::new();
    let r = start(&cg, vec![collector]);
    let ok = |result: String| assert!(result.starts_with("ok:"), "{result}");

    ok(r.execute(&command("block_destination", &a.to_string())).result);
    ok(r.execute(&command("block_destination", &b.to_string())).result);
    ok(r.execute(&command("unblock_destination", &a.to_string())).result);
    assert_eq!(connect_from(&cg, a), Ok(()));
    assert!(
        refused(connect_from(&cg, b)),
        "{b} stays blocked after {a} is unblocked"
    );

    ok(r.execute(&command("isolate_host", "")).result);
    assert!(refused(connect_from(&cg, outside)));
    assert!(refused(connect_from(&cg, b)));
    assert_eq!(connect_from(&cg, collector), Ok(()));
    ok(r.execute(&command("unisolate_host", "")).result);
    assert_eq!(connect_from(&cg, outside), Ok(()));
    assert!(
        refused(connect_from(&cg, b)),
        "{b} stays blocked after isolation is lifted"
    );

    let action = r.execute(&command("unblock_destination", &b.to_string()));
    assert_eq!(
        action.result,
        format!("ok: unblocked {b}; 3 attempts denied while blocked")
    );
    assert_eq!(connect_from(&cg, b), Ok(()));
    assert_eq!(connect_from(&cg, outside), Ok(()));
}

#[test]
fn block_lifts_after_its_ttl_and_covers_ipv6_and_udp() {
    let (_a, a) = listener("[::1]:0");
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let u = udp.local_addr().unwrap();
    let cg = TestCgroup::new();
    let r = start(&cg, vec!["192.0.2.1:7443".parse().unwrap()]);
    let reports = r.enforced().unwrap();

    let action = r.execute(&command("block_destination", &u.ip().to_string()));
    assert!(
        action.result.starts_with("ok: blocked 127.0.0.1 for"),
        "{}",
        action.result
    );
    assert!(refused(udp_from(&cg, u)));

    let mut cmd = command("block_destination", &a.to_string());
    cmd.ttl_seconds = 1;
    let action = r.execute(&cmd);
    assert!(
        action.result.starts_with(&format!("ok: blocked {a} for 1s")),
        "{}",
        action.result
    );
    assert!(refused(connect_from(&cg, a)));
    let undo = reports.recv_timeout(Duration::from_secs(10)).expect("TTL undo report");
    assert_eq!(undo.action, "unblock_destination");
    assert_eq!(undo.target, a.to_string());
    assert_eq!(
        undo.result,
        format!("ok: TTL expired; unblocked {a}; 1 attempts denied while blocked")
    );
    assert_eq!(connect_from(&cg, a), Ok(()));
}

#[test]
fn dropping_the_responder_lifts_everything() {
    let (_outside, outside) = listener("127.0.0.1:0");
    let (_collector, collector) = listener("127.0.0.1:0");
    let cg = TestCgroup::new();
    let r = start(&cg, vec![collector]);
    assert!(r.execute(&command("isolate_host", "")).result.starts_with("ok"));
    assert!(refused(connect_from(&cg, outside)));
    r.stop();
    assert_eq!(connect_from(&cg, outside), Ok(()));
}

/// Helper run in a child process by `isolation_dies_with_the_process`: starts
/// a responder on the cgroup named in the environment, isolates, says so,
/// and waits to be killed.
#[test]
#[ignore]
fn helper_isolate_and_wait() {
    let Ok(cgroup) = std::env::var("WEIR_RESPOND_TEST_CGROUP") else {
        return;
    };
    let collector: SocketAddr = std::env::var("WEIR_RESPOND_TEST_ALLOW").unwrap().parse().unwrap();
    let mut config = weir_respond::ResponderConfig::new(host_id());
    config.cgroup = Some(cgroup.into());
    config.always_allow = vec![collector];
    let r = weir_respond::Responder::start(config).unwrap();
    let action = r.execute(&command("isolate_host", ""));
    assert!(action.result.starts_with("ok: isolated"), "{}", action.result);
    println!("ISOLATED");
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn isolation_dies_with_the_process() {
    use std::io::BufRead;
    let (_outside, outside) = listener("127.0.0.1:0");
    let (_collector, collector) = listener("127.0.0.1:0");
    let cg = TestCgroup::new();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_isolate_and_wait",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("WEIR_RESPOND_TEST_CGROUP", &cg.path)
        .env("WEIR_RESPOND_TEST_ALLOW", collector.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.map(|l| l.contains("ISOLATED")).unwrap_or(false)),
        "the helper did not isolate"
    );
    assert!(refused(connect_from(&cg, outside)));
    child.kill().unwrap();
    child.wait().unwrap();
    // The kernel dropped the BPF links with the process.
    assert!(wait_for(Duration::from_secs(5), || connect_from(&cg, outside).is_ok()));
}
