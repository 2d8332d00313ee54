//! Host-age signals: the ext4 superblock creation time of real images made with mkfs.ext4, and every signal
//! this machine has, checked against what the system's own tools report.

mod common;

use std::io::{Seek, SeekFrom, Write};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use common::run;
use weir_hostscan::ext4_created;

const NS: u64 = 1_000_000_000;

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn mkfs(image: &std::path::Path, fake_time: Option<u64>) {
    let f = std::fs::File::create(image).unwrap();
    f.set_len(8 << 20).unwrap();
    let mut cmd = Command::new("mkfs.ext4");
    cmd.args(["-q", "-F", "-E", "lazy_itable_init=1", image.to_str().unwrap()]);
    if let Some(t) = fake_time {
        cmd.env("E2FSPROGS_FAKE_TIME", t.to_string());
    }
    let out = cmd
        .output()
        .expect("mkfs.ext4 not found: install e2fsprogs (apt-get install -y e2fsprogs)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn ext4_image_creation_time_from_the_superblock() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("fs.img");

    let before = now();
    mkfs(&img, None);
    let after = now();
    let t = ext4_created(&mut std::fs::File::open(&img).unwrap())
        .unwrap()
        .expect("mkfs time");
    assert!((before..=after).contains(&t), "{before} <= {t} <= {after}");

    // mke2fs takes its clock from E2FSPROGS_FAKE_TIME; dumpe2fs must agree with us.
    mkfs(&img, Some(1_234_567_890));
    let t = ext4_created(&mut std::fs::File::open(&img).unwrap()).unwrap();
    assert_eq!(t, Some(1_234_567_890));
    let dump = run("dumpe2fs", &["-h", img.to_str().unwrap()]);
    let created = dump.lines().find(|l| l.starts_with("Filesystem created:")).unwrap();
    let stamp = created.trim_start_matches("Filesystem created:").trim();
    let as_epoch = run("date", &["-u", "-d", stamp, "+%s"]);
    assert_eq!(as_epoch.trim(), "1234567890");

    // Past 2038: the high byte (s_mkfs_time_hi, superblock offset 0x276) extends the 32-bit field.
    let mut f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    f.seek(SeekFrom::Start(1024 + 0x276)).unwrap();
    f.write_all(&[1]).unwrap();
    drop(f);
    let t = ext4_created(&mut std::fs::File::open(&img).unwrap()).unwrap();
    assert_eq!(t, Some((1u64 << 32) + 1_234_567_890));

    // Not an ext filesystem: a clear error, not a time.
    let junk = dir.path().join("junk.img");
    std::fs::write(&junk, vec![0xA5u8; 4096]).unwrap();
    let err = ext4_created(&mut std::fs::File::open(&junk).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("not an ext2/3/4 superblock (magic 0xa5a5"), "{err}");
}

fn stat_field(fmt: &str, path: &str) -> u64 {
    run("stat", &["-c", fmt, path]).trim().parse().unwrap()
}

#[test]
fn this_machines_host_age() {
    let config = weir_hostscan::ScanConfig::default();
    let age = weir_hostscan::host_age::collect(&config);
    let notes = age.notes.join("\n");

    let id = std::fs::read_to_string("/etc/machine-id").unwrap();
    let sum = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(id.trim().as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    let sum = String::from_utf8(sum.stdout).unwrap();
    assert_eq!(age.machine_id_hash, sum.split_whitespace().next().unwrap());
    assert!(!age.machine_id_hash.contains(id.trim()));

    assert_eq!(age.machine_id_mtime_ns / NS, stat_field("%Y", "/etc/machine-id"));
    let birth = stat_field("%W", "/etc/machine-id");
    assert_eq!(
        age.machine_id_birth_ns / NS,
        birth,
        "statx birth 0 must stay 0 (unknown), not 1970"
    );
    if birth == 0 {
        assert!(notes.contains("machine_id_birth:"), "{notes}");
    }

    let fstype = run("findmnt", &["-n", "-o", "FSTYPE", "/"]);
    assert_eq!(age.rootfs_type, fstype.lines().last().unwrap().trim());
    assert!(
        age.rootfs_created_ns > 0 || notes.contains("rootfs_created:"),
        "{age:?}"
    );
    if age.rootfs_created_ns > 0 {
        assert!(age.rootfs_created_ns / NS <= now());
    }
    let opts = run("findmnt", &["-n", "-o", "OPTIONS", "/"]);
    let opts = opts.lines().last().unwrap();
    assert_eq!(age.rootfs_read_only, opts.split(',').any(|o| o == "ro"));

    // Boot time: now minus uptime, within a couple of seconds.
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let boot = now() as f64 - uptime;
    assert!(
        (age.boot_time_ns as f64 / NS as f64 - boot).abs() < 3.0,
        "{} vs {boot}",
        age.boot_time_ns
    );

    // First dpkg.log line, converted by date(1) in the same local time zone.
    let mut earliest: Option<u64> = None;
    for e in std::fs::read_dir("/var/log").unwrap().flatten() {
        let name = e.file_name().into_string().unwrap();
        if !name.starts_with("dpkg.log") || name.ends_with(".gz") {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap();
        if let Some(first) = text.lines().next().and_then(|l| l.get(..19)) {
            let t: u64 = run("date", &["-d", first, "+%s"]).trim().parse().unwrap();
            earliest = Some(earliest.map_or(t, |b: u64| b.min(t)));
        }
    }
    if let Some(t) = earliest {
        assert!(age.first_dpkg_log_ns > 0);
        assert!(
            age.first_dpkg_log_ns / NS <= t,
            "plain logs give {t}, we found {}",
            age.first_dpkg_log_ns
        );
    } else {
        assert!(notes.contains("first_dpkg_log:"), "{notes}");
    }

    let cloud = std::path::Path::new("/var/lib/cloud/data/instance-id");
    if cloud.exists() {
        assert_eq!(age.cloud_instance_id, std::fs::read_to_string(cloud).unwrap().trim());
    } else {
        assert!(
            age.cloud_instance_id.is_empty() && notes.contains("cloud_instance_id:"),
            "{notes}"
        );
    }
}

#[test]
fn fixture_root_signals_and_notes() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::fs::write(r.join("etc/machine-id"), "0123456789abcdef0123456789abcdef\n").unwrap();
    std::fs::create_dir_all(r.join("var/lib/cloud/data")).unwrap();
    std::fs::write(r.join("var/lib/cloud/data/instance-id"), "i-0abc123\n").unwrap();
    std::fs::create_dir_all(r.join("var/log/installer")).unwrap();
    std::fs::write(r.join("var/log/installer/syslog"), "Jan  1 00:00:00 install\n").unwrap();
    std::fs::write(
        r.join("var/log/dpkg.log"),
        "2024-02-03 04:05:06 startup archives unpack\n",
    )
    .unwrap();
    let config = weir_hostscan::ScanConfig {
        root: r.to_path_buf(),
        ..Default::default()
    };
    let age = weir_hostscan::host_age::collect(&config);
    assert_eq!(age.cloud_instance_id, "i-0abc123");
    assert_eq!(age.machine_id_hash.len(), 64);
    let syslog_mtime = stat_field("%Y", r.join("var/log/installer/syslog").to_str().unwrap());
    assert_eq!(age.installer_log_ns / NS, syslog_mtime);
    let t: u64 = run("date", &["-d", "2024-02-03 04:05:06", "+%s"])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(age.first_dpkg_log_ns, t * NS);
    assert_eq!(age.rootfs_created_ns, 0);
    assert!(
        age.notes.iter().any(|n| n.starts_with("rootfs_created: scan root is")),
        "{:?}",
        age.notes
    );
}
