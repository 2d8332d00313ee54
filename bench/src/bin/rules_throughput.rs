//! Rule-engine throughput: Weir's compiled matcher against rsigma-eval (the
//! baseline, run in the same process on the same events), for the full
//! SigmaHQ corpus and for its Linux subset. Single thread, so events/s is
//! per core. Events: synthetic Linux exec/file/network events (Sigma field
//! names, logsource set) plus the corpus regression events (flattened evtx).
//! Both engines must give identical match counts per event; the run fails
//! otherwise.
//!
//! Usage: rules_throughput [CORPUS_DIR] (default ../shared/corpora/sigma),
//! WEIR_BENCH_EVENTS=N to change the event count (default 200000).

use std::path::{Path, PathBuf};
use std::time::Instant;

use rsigma_eval::{Engine, JsonEvent};
use rsigma_parser::LogSource;
use serde_json::{json, Map, Value};
use weir_rules::{weir_fields, EventSource, LoadOptions, RuleSet, SourcedJson};

struct Ev {
    flat: Map<String, Value>,
    json: Value,
    /// The same event in Weir's canonical form (synthetic events only).
    canonical: Option<Map<String, Value>>,
    product: &'static str,
    category: Option<&'static str>,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[(self.next() % v.len() as u64) as usize]
    }
}

const PROGS: &[(&str, &[&str])] = &[
    (
        "/usr/bin/bash",
        &["bash", "bash -c ls -la /var/log", "bash /opt/app/start.sh", "bash -i"],
    ),
    (
        "/usr/bin/python3",
        &[
            "python3 manage.py runserver",
            "python3 -m pip install -r requirements.txt",
            "python3 /usr/bin/unattended-upgrade",
        ],
    ),
    (
        "/usr/bin/curl",
        &[
            "curl -fsSL https://deb.example.org/key.gpg",
            "curl -s http://169.254.169.254/latest/meta-data/",
            "curl -o /tmp/x https://example.com/x",
        ],
    ),
    (
        "/usr/bin/git",
        &["git fetch origin", "git status --porcelain", "git log -1 --format=%H"],
    ),
    ("/usr/sbin/sshd", &["sshd: alice [priv]", "/usr/sbin/sshd -D"]),
    ("/usr/bin/ls", &["ls -la", "ls /etc"]),
    (
        "/usr/bin/cat",
        &["cat /etc/os-release", "cat /proc/cpuinfo", "cat /etc/passwd"],
    ),
    (
        "/usr/bin/systemctl",
        &["systemctl status nginx", "systemctl restart app"],
    ),
    ("/usr/bin/apt-get", &["apt-get update", "apt-get install -y nginx"]),
    ("/usr/bin/crontab", &["crontab -l", "crontab -e"]),
    (
        "/usr/bin/wget",
        &["wget -q https://example.com/pkg.tar.gz", "wget -O- http://x/i.sh"],
    ),
    (
        "/usr/bin/chmod",
        &["chmod +x /tmp/run.sh", "chmod 644 /etc/app.conf", "chmod u+s /tmp/sh"],
    ),
    ("/usr/bin/base64", &["base64 -d /tmp/blob", "base64 /etc/hostname"]),
    ("/usr/bin/nc", &["nc -zv 10.0.0.5 22", "nc -l -p 4444"]),
];
const PARENTS: &[&str] = &[
    "/usr/bin/bash",
    "/usr/lib/systemd/systemd",
    "/usr/sbin/cron",
    "/usr/sbin/sshd",
    "/usr/bin/dockerd",
];
const USERS: &[&str] = &["root", "alice", "bob", "www-data", "postgres"];
const DIRS: &[&str] = &["/root", "/home/alice", "/tmp", "/var/www", "/opt/app"];
const FILES: &[&str] = &[
    "/tmp/build/out.o",
    "/var/log/app/app.log",
    "/home/alice/.bashrc",
    "/etc/cron.d/backup",
    "/root/.ssh/authorized_keys",
    "/etc/ld.so.preload",
    "/var/lib/dpkg/status",
    "/usr/lib/systemd/system/app.service",
    "/home/bob/.config/autostart/x.desktop",
    "/etc/sudoers.d/90-cloud",
];
const IPS: &[&str] = &[
    "10.0.0.5",
    "192.168.1.20",
    "93.184.216.34",
    "140.82.112.3",
    "127.0.0.1",
    "185.220.101.4",
];
const PORTS: &[u64] = &[443, 80, 22, 5432, 4444, 53, 8080];

fn synthetic(rng: &mut Rng) -> Ev {
    let kind = rng.next() % 10;
    let (image, cmds) = PROGS[(rng.next() % PROGS.len() as u64) as usize];
    let cmd = rng.pick(cmds);
    let parent = rng.pick(PARENTS);
    let user = rng.pick(USERS);
    let pid = 1000 + rng.next() % 30000;
    if kind < 6 {
        let cwd = rng.pick(DIRS);
        let flat = json!({"Image": image, "CommandLine": cmd, "ParentImage": parent, "ParentCommandLine": parent,
            "User": user, "CurrentDirectory": cwd, "ProcessId": pid});
        let canon = json!({"event.kind": "exec", "process.executable": image, "process.command_line": cmd,
            "process.parent.executable": parent, "process.parent.command_line": parent, "user.name": user,
            "process.working_directory": cwd, "process.pid": pid});
        mk(flat, Some(canon), "linux", Some("process_creation"))
    } else if kind < 8 {
        let f = rng.pick(FILES);
        let flat = json!({"Image": image, "TargetFilename": f, "User": user, "ProcessId": pid});
        let canon = json!({"event.kind": "file", "event.action": "open_write", "process.executable": image, "file.path": f, "user.name": user, "process.pid": pid});
        mk(flat, Some(canon), "linux", Some("file_event"))
    } else {
        let ip = rng.pick(IPS);
        let port = PORTS[(rng.next() % PORTS.len() as u64) as usize];
        let flat = json!({"Image": image, "DestinationIp": ip, "DestinationPort": port, "Initiated": "true", "User": user, "ProcessId": pid});
        let canon = json!({"event.kind": "network", "event.action": "connect", "process.executable": image, "destination.ip": ip, "destination.port": port, "user.name": user, "process.pid": pid});
        mk(flat, Some(canon), "linux", Some("network_connection"))
    }
}

fn mk(flat: Value, canon: Option<Value>, product: &'static str, category: Option<&'static str>) -> Ev {
    let flat = flat.as_object().cloned().unwrap_or_default();
    Ev {
        json: Value::Object(flat.clone()),
        flat,
        canonical: canon.and_then(|c| c.as_object().cloned()),
        product,
        category,
    }
}

fn flatten(ev: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(Value::Object(e)) = ev.get("Event") else {
        return ev.clone();
    };
    for section in ["System", "EventData"] {
        if let Some(Value::Object(s)) = e.get(section) {
            out.extend(s.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    if let Some(Value::Object(u)) = e.get("UserData") {
        for v in u.values() {
            if let Value::Object(inner) = v {
                out.extend(inner.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
    }
    out
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    v.sort();
    for p in v {
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.extension().and_then(|x| x.to_str()) == Some(ext) {
            out.push(p);
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

const RUNS: usize = 3;

fn weir_counts(set: &RuleSet, events: &[Ev]) -> (Vec<u32>, f64) {
    let mut m = set.matcher();
    let mut hits = Vec::new();
    let mut counts = vec![0u32; events.len()];
    let mut rates = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        for (i, e) in events.iter().enumerate() {
            let src = EventSource {
                product: Some(e.product),
                category: e.category,
                service: None,
            };
            m.matches(
                &SourcedJson {
                    map: &e.flat,
                    source: src,
                },
                &mut hits,
            );
            counts[i] = hits.len() as u32;
        }
        rates.push(events.len() as f64 / t.elapsed().as_secs_f64());
    }
    (counts, median(rates))
}

fn weir_canonical_rate(set: &RuleSet, events: &[Ev]) -> (f64, usize) {
    let mut m = set.matcher();
    let mut hits = Vec::new();
    let canon: Vec<&Map<String, Value>> = events.iter().filter_map(|e| e.canonical.as_ref()).collect();
    let mut rates = Vec::new();
    let mut total = 0;
    for _ in 0..RUNS {
        total = 0;
        let t = Instant::now();
        for e in &canon {
            m.matches(&weir_fields(e), &mut hits);
            total += hits.len();
        }
        rates.push(canon.len() as f64 / t.elapsed().as_secs_f64());
    }
    (median(rates), total)
}

fn rsigma_counts(engine: &Engine, events: &[Ev]) -> (Vec<u32>, f64) {
    let mut counts = vec![0u32; events.len()];
    let lss: Vec<LogSource> = events
        .iter()
        .map(|e| LogSource {
            product: Some(e.product.to_string()),
            category: e.category.map(str::to_string),
            ..Default::default()
        })
        .collect();
    let mut rates = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        for (i, e) in events.iter().enumerate() {
            let r = engine.evaluate_pruned(&JsonEvent::borrow(&e.json), &lss[i]);
            counts[i] = r.iter().filter(|r| r.is_detection()).count() as u32;
        }
        rates.push(events.len() as f64 / t.elapsed().as_secs_f64());
    }
    (counts, median(rates))
}

fn run(label: &str, rule_files: &[PathBuf], events: &[Ev]) -> bool {
    let t = Instant::now();
    let opts = LoadOptions {
        compile_unsupported: true,
        ..Default::default()
    };
    let (set, report) = RuleSet::load_paths_with(rule_files, &opts);
    let weir_load = t.elapsed();
    let t = Instant::now();
    let mut engine = Engine::new();
    for f in rule_files {
        if let Ok(c) = rsigma_parser::parse_sigma_file(f) {
            for r in &c.rules {
                let _ = engine.add_rule(r);
            }
        }
    }
    let rs_load = t.elapsed();
    let (wc, wr) = weir_counts(&set, events);
    // WEIR_BENCH_NO_BASELINE=1 skips the baseline (for profiling Weir alone).
    let (rc, rr) = if std::env::var_os("WEIR_BENCH_NO_BASELINE").is_some() {
        (wc.clone(), f64::NAN)
    } else {
        rsigma_counts(&engine, events)
    };
    let differing = wc.iter().zip(&rc).filter(|(a, b)| a != b).count();
    let total: u64 = wc.iter().map(|c| *c as u64).sum();
    println!(
        "{label}: {} rules ({} errors); load weir {:.2}s rsigma {:.2}s; {} events, {} matches",
        set.rules().len(),
        report.errors.len(),
        weir_load.as_secs_f64(),
        rs_load.as_secs_f64(),
        events.len(),
        total
    );
    println!("  weir    {:>12.0} events/s/core (median of {RUNS})", wr);
    println!("  rsigma  {:>12.0} events/s/core (median of {RUNS})", rr);
    println!(
        "  ratio   {:>12.2}x   events with differing match counts: {differing}",
        wr / rr
    );
    // Production configuration: rules Weir's events cannot satisfy are not compiled.
    let (prod, _) = RuleSet::load_paths(rule_files);
    let (cr, cm) = weir_canonical_rate(&prod, events);
    println!(
        "  weir on Weir canonical events (production load, mapping + routing): {cr:.0} events/s/core, {cm} matches per pass"
    );
    differing == 0
}

fn main() {
    let corpus = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/corpora/sigma"));
    let n: usize = std::env::var("WEIR_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let mut all = Vec::new();
    for d in ["rules", "rules-emerging-threats", "rules-threat-hunting"] {
        files(&corpus.join(d), "yml", &mut all);
    }
    if all.is_empty() {
        eprintln!("no rules under {}", corpus.display());
        std::process::exit(2);
    }
    let linux: Vec<PathBuf> = all
        .iter()
        .filter(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains("product: linux")))
        .cloned()
        .collect();
    let mut regression = Vec::new();
    let mut jsons = Vec::new();
    files(&corpus.join("regression_data"), "json", &mut jsons);
    for f in jsons {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for ev in serde_json::Deserializer::from_str(&text)
            .into_iter::<Map<String, Value>>()
            .flatten()
        {
            regression.push(mk(Value::Object(flatten(&ev)), None, "windows", None));
        }
    }
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let mut events = Vec::with_capacity(n);
    let mut r = 0;
    while events.len() < n {
        if events.len() % 1000 == 0 && !regression.is_empty() {
            let e = &regression[r % regression.len()];
            events.push(mk(Value::Object(e.flat.clone()), None, "windows", None));
            r += 1;
        } else {
            events.push(synthetic(&mut rng));
        }
    }
    println!(
        "events: {} ({} synthetic Linux, {} regression)",
        events.len(),
        events.len() - r,
        r
    );
    let ok_full = run("full corpus", &all, &events);
    let ok_linux = run("linux subset", &linux, &events);
    if !(ok_full && ok_linux) {
        eprintln!("match counts differ between engines");
        std::process::exit(1);
    }
}
