//! Version-order tables taken from each ecosystem's rules, and property tests of the orders.

use std::cmp::Ordering::{self, Equal, Greater, Less};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use weir_vuln::version::{parse_go, DebVersion, Pep440, Scheme, Semver};

fn check(scheme: Scheme, cases: &[(&str, &str, Ordering)]) {
    let mut failures = Vec::new();
    for (a, b, want) in cases {
        let va = scheme
            .parse(a)
            .unwrap_or_else(|e| panic!("{scheme:?} {a:?} should parse: {e}"));
        let vb = scheme
            .parse(b)
            .unwrap_or_else(|e| panic!("{scheme:?} {b:?} should parse: {e}"));
        let got = va.cmp(&vb);
        if got != *want {
            failures.push(format!("{a} vs {b}: want {want:?}, got {got:?}"));
        }
        if vb.cmp(&va) != want.reverse() {
            failures.push(format!("{b} vs {a}: not antisymmetric"));
        }
    }
    assert!(
        failures.is_empty(),
        "{scheme:?} order failures:\n{}",
        failures.join("\n")
    );
}

fn check_sorted(scheme: Scheme, list: &[&str]) {
    for w in list.windows(2) {
        let (a, b) = (scheme.parse(w[0]).unwrap(), scheme.parse(w[1]).unwrap());
        assert_eq!(a.cmp(&b), Less, "{:?}: expected {} < {}", scheme, w[0], w[1]);
    }
    // Every pair, not only neighbours.
    for (i, a) in list.iter().enumerate() {
        for (j, b) in list.iter().enumerate() {
            let got = scheme.parse(a).unwrap().cmp(&scheme.parse(b).unwrap());
            assert_eq!(got, i.cmp(&j), "{scheme:?}: {a} vs {b}");
        }
    }
}

#[test]
fn debian_order_follows_dpkg() {
    check(
        Scheme::Debian,
        &[
            // dpkg's own test suite (lib/dpkg/t/t-version.c)
            ("0:0-0", "0:0-0", Equal),
            ("0:0-0", "0:0-1", Less),
            ("1:0-0", "0:0-0", Greater),
            ("0:0.0-0", "0:0-0", Greater),
            ("0:a-0", "0:b-0", Less),
            ("0:1.2.3-0", "0:1.2.3-0", Equal),
            ("0:0-0", "0:00-0", Equal),
            ("0:0-00", "0:0-0", Equal),
            ("0:0~-0", "0:0-0", Less),
            ("0:0-0~", "0:0-0", Less),
            ("0:a~-0", "0:a-0", Less),
            ("0:0~~-0", "0:0~-0", Less),
            ("0:0a-0", "0:0-0", Greater),
            // epoch
            ("1.0", "0:1.0", Equal),
            ("1:1.0", "1.0", Greater),
            ("2:1.0", "1:9.9", Greater),
            ("1:0.1", "2.0", Greater),
            // numeric runs compare as numbers
            ("1.01", "1.1", Equal),
            ("1.10", "1.9", Greater),
            ("1.0", "1.0.1", Less),
            ("10", "9", Greater),
            ("1.0.99999999999999999999999", "1.0.100000000000000000000000", Less),
            // tilde sorts before everything, even the end; letters before other symbols
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~~", "1.0~~a", Less),
            ("1.0~~a", "1.0~", Less),
            ("1.0~", "1.0", Less),
            ("1.0", "1.0a", Less),
            ("1.0a", "1.0+", Less),
            ("1.0+", "1.0.", Less),
            ("1.0a", "1.0b", Less),
            ("1.0Z", "1.0a", Less),
            ("1.0+dfsg", "1.0", Greater),
            ("1.0+dfsg", "1.0.1", Less),
            // revisions
            ("1.0", "1.0-0", Equal),
            ("1.0-1", "1.0-2", Less),
            ("1.0-1", "1.0-1.1", Less),
            ("1.0-1", "1.0-1ubuntu1", Less),
            ("1.0-1~bpo12+1", "1.0-1", Less),
            ("1.0-1+deb12u1", "1.0-1", Greater),
            ("1.0-1+deb12u1", "1.0-1+deb12u2", Less),
            ("3.0.11-1~deb12u2", "3.0.11-1~deb12u1", Greater),
            ("3.0.11-1~deb12u2", "3.0.11-1", Less),
            ("1.0-1-1", "1.0-1", Greater),
            ("2.36.1-8+deb11u1", "2.36.1-8", Greater),
            ("5.2.15-2+b2", "5.2.15-2", Greater),
            ("5.2.15-2+b2", "5.2.15-2+b10", Less),
            ("1:2.38.1-5+deb12u1", "1:2.38.1-5+b1", Greater),
        ],
    );
    // dpkg accepts (with a warning) and orders characters outside policy; so does Weir.
    check(
        Scheme::Debian,
        &[
            ("1.0_1", "1.0+1", Greater),
            ("1.0_1", "1.0a", Greater),
            ("a1.0", "1.0", Greater),
        ],
    );
    for bad in [
        "",
        "  ",
        ":1.0",
        "a:1.0",
        "1.0-",
        "1.0 1",
        "1:",
        "-1",
        "99999999999:1.0",
        "1.0\u{e9}",
    ] {
        assert!(DebVersion::parse(bad).is_err(), "{bad:?} should be rejected");
    }
    let v = DebVersion::parse("1:2.38.1-5+deb12u1").unwrap();
    assert_eq!((v.epoch(), v.upstream(), v.revision()), (1, "2.38.1", "5+deb12u1"));
    assert_eq!(v.to_string(), "1:2.38.1-5+deb12u1");
    let v = DebVersion::parse("1.2-3-4").unwrap();
    assert_eq!((v.upstream(), v.revision()), ("1.2-3", "4"));
}

#[test]
fn pep440_order_follows_the_specification() {
    // The ordering example of PEP 440 / packaging's test suite, strictly increasing.
    check_sorted(
        Scheme::Pep440,
        &[
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0b2-346",
            "1.0c1.dev456",
            "1.0c1",
            "1.0rc2",
            "1.0c3",
            "1.0",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.1.dev1",
            "1.2+123abc",
            "1.2+123abc456",
            "1.2+abc",
            "1.2+abc123",
            "1.2+abc123def",
            "1.2+1234.abc",
            "1.2+123456",
            "1.2.r32+123456",
            "1.2.rev33+123456",
            "1!1.0.dev456",
            "1!1.0a1",
            "1!1.0b2.post345",
            "1!1.0",
            "1!1.2.rev33+123456",
        ],
    );
    check(
        Scheme::Pep440,
        &[
            ("1.0", "1.0.0", Equal),
            ("1.0", "1.0.0.0", Equal),
            ("1.0alpha1", "1.0a1", Equal),
            ("1.0-alpha-1", "1.0a1", Equal),
            ("1.0ALPHA1", "1.0a1", Equal),
            ("1.0beta2", "1.0b2", Equal),
            ("1.0.c1", "1.0rc1", Equal),
            ("1.0pre1", "1.0rc1", Equal),
            ("1.0preview1", "1.0rc1", Equal),
            ("1.0a", "1.0a0", Equal),
            ("1.0-r4", "1.0.post4", Equal),
            ("1.0rev4", "1.0.post4", Equal),
            ("1.0-1", "1.0.post1", Equal),
            ("1.0.post", "1.0.post0", Equal),
            ("1.0-dev", "1.0.dev0", Equal),
            ("1.0_dev_2", "1.0.dev2", Equal),
            ("v1.0", "1.0", Equal),
            (" 1.0 ", "1.0", Equal),
            ("0!1.0", "1.0", Equal),
            ("01.02", "1.2", Equal),
            ("1.0+ubuntu-1", "1.0+ubuntu.1", Equal),
            ("1.0+ubuntu_1", "1.0+UBUNTU.1", Equal),
            ("1.0+1", "1.0+01", Equal),
            ("1.0.dev0", "1.0a0", Less),
            ("1.0a1.dev0", "1.0a1", Less),
            ("1.0+local", "1.0", Greater),
            ("1.0+local", "1.0.post0", Less),
            ("1.0.post1.dev0", "1.0.post1", Less),
            ("1.0.post1.dev0", "1.0", Greater),
            ("1.0rc1", "1.0", Less),
            ("1.0", "1.0.1", Less),
            ("1.0.1", "1.1", Less),
            ("2.0", "10.0", Less),
            ("1!0.1", "2.0", Greater),
            ("1.0a2", "1.0a10", Less),
            ("99999999999999999999999.0", "100000000000000000000000.0", Less),
        ],
    );
    for bad in [
        "", "1.0+", "1.0-", "abc", "1.0.x", "1.0+a..b", "1..0", "1.0 a", "1.0+_", "!1.0", "1!", "1.0a1a1",
    ] {
        assert!(Pep440::parse(bad).is_err(), "{bad:?} should be rejected");
    }
    assert_eq!(
        Pep440::parse("1.0-ALPHA_1-R2-DEV3+Ub.1").unwrap().to_string(),
        "1.0a1.post2.dev3+ub.1"
    );
}

#[test]
fn semver_precedence_follows_semver_2() {
    // SemVer 2.0.0 section 11.
    check_sorted(
        Scheme::Semver,
        &[
            "0.9.9",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1-0",
            "1.0.1",
            "2.0.0",
            "2.1.0",
            "2.1.1",
            "10.0.0",
        ],
    );
    check(
        Scheme::Semver,
        &[
            ("1.0.0+a", "1.0.0+b", Equal),
            ("1.0.0-alpha+001", "1.0.0-alpha", Equal),
            ("1.0.0+20130313144700", "1.0.0", Equal),
            ("1.0.0-1", "1.0.0-a", Less),
            ("1.0.0-2", "1.0.0-10", Less),
            ("1.0.0-a2", "1.0.0-a10", Greater),
            ("1.0.0-a.b", "1.0.0-a.b.c", Less),
            ("1.0.0-A", "1.0.0-a", Less),
            ("1.0.0--", "1.0.0-0", Greater),
            ("0.0.0-0", "0.0.0", Less),
            ("99999999999999999999999.0.0", "100000000000000000000000.0.0", Less),
            ("v1.2.3", "1.2.3", Equal),
            ("=1.2.3", "1.2.3", Equal),
        ],
    );
    for good in [
        "1.0.0-0A.is.legal",
        "1.0.0-alpha-a.b-c-somethinglong+build.1-aef.1-its-okay",
        "1.1.2+meta-valid",
        "1.0.0-x-y-z.--",
        "2.0.0+build.1848",
    ] {
        assert!(Semver::parse(good).is_ok(), "{good:?} is valid SemVer");
        assert_eq!(Semver::parse(good).unwrap().to_string(), good);
    }
    for bad in [
        "",
        "1",
        "1.2",
        "1.2.3.4",
        "01.1.1",
        "1.01.1",
        "1.1.01",
        "1.0.0-01",
        "1.0.0-",
        "1.0.0+",
        "1.0.0-a..b",
        "1.0.0+a..b",
        "1.0.0-α",
        "a.b.c",
        "-1.0.0",
        "1.0.0 ",
        "v1.2.3",
        "1.2.3-+",
    ] {
        assert!(Semver::parse(bad).is_err(), "{bad:?} is not valid SemVer");
    }
}

#[test]
fn go_order_handles_prefix_shorthand_pseudo_versions_and_incompatible() {
    check(
        Scheme::Go,
        &[
            ("v1.2.3", "1.2.3", Equal),
            ("v1", "v1.0.0", Equal),
            ("v1.2", "v1.2.0", Equal),
            ("v0.0.0-20191109021931-daa7c04131f5", "v0.1.0", Less),
            (
                "v0.0.0-20191109021931-daa7c04131f5",
                "v0.0.0-20200101000000-000000000000",
                Less,
            ),
            ("v1.2.4-0.20191109021931-daa7c04131f5", "v1.2.3", Greater),
            ("v1.2.4-0.20191109021931-daa7c04131f5", "v1.2.4", Less),
            ("v1.2.4-0.20191109021931-daa7c04131f5", "v1.2.4-rc.1", Less),
            ("v1.2.3-pre.0.20191109021931-daa7c04131f5", "v1.2.3-pre", Greater),
            ("v1.2.3-pre.0.20191109021931-daa7c04131f5", "v1.2.3", Less),
            ("v2.0.0+incompatible", "v2.0.0", Equal),
            ("v2.0.0+incompatible", "v1.9.9", Greater),
            ("10.11.0-rc1+incompatible", "10.11.0", Less),
            ("go1.21.3", "1.21.3", Equal),
            ("go1.21", "1.21.0", Equal),
            ("go1.21rc2", "1.21.0-rc.2", Equal),
            ("go1.21rc2", "1.21.0", Less),
            ("1.21.0-0", "go1.21rc1", Less),
            ("go1.9beta1", "1.9.0-beta.1", Equal),
            ("go1.20.14", "go1.21.0", Less),
        ],
    );
    for bad in [
        "",
        "v",
        "vx",
        "v1.2.3.4",
        "v01.2.3",
        "v1-pre",
        "v1.2+meta",
        "go1.x",
        "go",
        "go1.21xyz1",
    ] {
        assert!(parse_go(bad).is_err(), "{bad:?} should be rejected");
    }
}

// ---------------------------------------------------------------------------------------------------
// Properties: every order is total, antisymmetric and transitive on generated versions; parsing never
// panics on arbitrary input; printing and re-parsing gives an equal version.

fn deb_strategy() -> impl Strategy<Value = String> {
    (
        prop::option::of(0u32..4),
        "[0-9][0-9a-zA-Z.+~]{0,8}[_@=]?[0-9a-z.~]{0,2}",
        prop::option::of("[0-9a-zA-Z.+~]{1,6}"),
    )
        .prop_map(|(e, u, r)| {
            let mut s = String::new();
            if let Some(e) = e {
                s.push_str(&format!("{e}:"));
            }
            s.push_str(&u);
            if let Some(r) = r {
                s.push('-');
                s.push_str(&r);
            }
            s
        })
}

fn pep440_strategy() -> impl Strategy<Value = String> {
    (
        prop::option::of(0u8..3),
        prop::collection::vec(0u16..12, 1..4),
        prop::option::of((prop::sample::select(vec!["a", "b", "rc", "alpha", "c", "pre"]), 0u8..4)),
        prop::option::of(0u8..4),
        prop::option::of(0u8..4),
        prop::option::of("[a-z0-9]{1,3}(\\.[a-z0-9]{1,3}){0,2}"),
    )
        .prop_map(|(epoch, rel, pre, post, dev, local)| {
            let mut s = String::new();
            if let Some(e) = epoch {
                s.push_str(&format!("{e}!"));
            }
            s.push_str(&rel.iter().map(|n| n.to_string()).collect::<Vec<_>>().join("."));
            if let Some((l, n)) = pre {
                s.push_str(&format!("{l}{n}"));
            }
            if let Some(p) = post {
                s.push_str(&format!(".post{p}"));
            }
            if let Some(d) = dev {
                s.push_str(&format!(".dev{d}"));
            }
            if let Some(l) = local {
                s.push_str(&format!("+{l}"));
            }
            s
        })
}

fn semver_strategy() -> impl Strategy<Value = String> {
    (
        0u8..3,
        0u8..3,
        0u8..3,
        prop::option::of(prop::collection::vec(
            prop_oneof!["(0|[1-9][0-9]?)", "[a-zA-Z-][0-9a-zA-Z-]{0,3}"],
            1..4,
        )),
        prop::option::of("[0-9a-zA-Z-]{1,4}"),
    )
        .prop_map(|(a, b, c, pre, build)| {
            let mut s = format!("{a}.{b}.{c}");
            if let Some(p) = pre {
                s.push('-');
                s.push_str(&p.join("."));
            }
            if let Some(b) = build {
                s.push('+');
                s.push_str(&b);
            }
            s
        })
}

fn go_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        semver_strategy().prop_map(|s| format!("v{s}")),
        (0u8..3, 0u8..3).prop_map(|(a, b)| format!("v{a}.{b}")),
        (0u8..3, 0u8..3, 0u8..3, "[0-9]{14}", "[0-9a-f]{12}")
            .prop_map(|(a, b, c, t, h)| format!("v{a}.{b}.{c}-0.{t}-{h}")),
        (0u8..3, "[0-9]{14}", "[0-9a-f]{12}").prop_map(|(a, t, h)| format!("v{a}.0.0-{t}-{h}")),
        (2u8..5, 0u8..3, 0u8..3).prop_map(|(a, b, c)| format!("v{a}.{b}.{c}+incompatible")),
        (1u8..2, 0u8..30, prop::option::of(0u8..20)).prop_map(|(a, b, c)| match c {
            Some(c) => format!("go{a}.{b}.{c}"),
            None => format!("go{a}.{b}rc1"),
        }),
    ]
}

fn assert_order_laws(scheme: Scheme, a: &str, b: &str, c: &str) -> Result<(), TestCaseError> {
    let (va, vb, vc) = (scheme.parse(a), scheme.parse(b), scheme.parse(c));
    prop_assert!(va.is_ok(), "{:?} {a:?}: {:?}", scheme, va);
    prop_assert!(vb.is_ok() && vc.is_ok());
    let (va, vb, vc) = (va.unwrap(), vb.unwrap(), vc.unwrap());
    prop_assert_eq!(va.cmp(&va), Equal);
    prop_assert_eq!(va.cmp(&vb), vb.cmp(&va).reverse(), "antisymmetry {} {}", a, b);
    prop_assert_eq!(va == vb, va.cmp(&vb) == Equal);
    let mut v = [(&va, a), (&vb, b), (&vc, c)];
    v.sort_by(|x, y| x.0.cmp(y.0));
    prop_assert!(
        v[0].0 <= v[2].0,
        "transitivity: {} <= {} <= {} but not {} <= {}",
        v[0].1,
        v[1].1,
        v[2].1,
        v[0].1,
        v[2].1
    );
    // Printing then parsing again gives an equal version.
    for x in [&va, &vb, &vc] {
        let again = scheme.parse(&x.to_string());
        prop_assert!(again.is_ok(), "{} does not re-parse", x);
        prop_assert_eq!(again.unwrap().cmp(x), Equal);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn debian_order_is_a_total_order(a in deb_strategy(), b in deb_strategy(), c in deb_strategy()) {
        assert_order_laws(Scheme::Debian, &a, &b, &c)?;
    }

    #[test]
    fn pep440_order_is_a_total_order(a in pep440_strategy(), b in pep440_strategy(), c in pep440_strategy()) {
        assert_order_laws(Scheme::Pep440, &a, &b, &c)?;
    }

    #[test]
    fn semver_order_is_a_total_order(a in semver_strategy(), b in semver_strategy(), c in semver_strategy()) {
        assert_order_laws(Scheme::Semver, &a, &b, &c)?;
    }

    #[test]
    fn go_order_is_a_total_order(a in go_strategy(), b in go_strategy(), c in go_strategy()) {
        assert_order_laws(Scheme::Go, &a, &b, &c)?;
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(s in "\\PC{0,40}", t in "[0-9a-zA-Z.+~:!_-]{0,24}") {
        for scheme in [Scheme::Debian, Scheme::Pep440, Scheme::Semver, Scheme::Go] {
            let _ = scheme.parse(&s);
            let _ = scheme.parse(&t);
        }
    }
}

/// Differential test against the real `dpkg --compare-versions` of this machine.
#[test]
fn debian_order_agrees_with_dpkg_binary() {
    let dpkg = std::process::Command::new("dpkg").arg("--version").output();
    assert!(
        dpkg.is_ok_and(|o| o.status.success()),
        "this test needs the dpkg binary (Debian/Ubuntu host): apt-get install -y dpkg"
    );
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strat = (deb_strategy(), deb_strategy());
    let mut checked = 0;
    for _ in 0..300 {
        let (a, b): (String, String) = strat.new_tree(&mut runner).unwrap().current();
        let ours = DebVersion::parse(&a).unwrap().cmp(&DebVersion::parse(&b).unwrap());
        let op = match ours {
            Less => "lt",
            Equal => "eq",
            Greater => "gt",
        };
        let st = std::process::Command::new("dpkg")
            .args(["--compare-versions", &a, op, &b])
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "dpkg disagrees: we say {a} {op} {b}");
        checked += 1;
    }
    assert_eq!(checked, 300);
}

/// Generated version-like strings that mix valid and invalid shapes, to compare parse acceptance.
fn pep440_noise() -> impl Strategy<Value = String> {
    prop_oneof![
        pep440_strategy(),
        "[vV]?[0-9]{1,3}(!?[0-9]{1,2})?(\\.[0-9]{1,2}){0,3}([._-]?(a|b|c|rc|alpha|beta|pre|preview|post|rev|r|dev)[._-]?[0-9]{0,2}){0,3}(\\+[a-z0-9._-]{0,6})?",
        "[0-9a-z.!+_ -]{0,12}",
    ]
}

/// Differential test against the reference implementation, Python's `packaging` (python3-packaging):
/// same acceptance of version strings and the same order.
#[test]
fn pep440_agrees_with_python_packaging() {
    use std::io::Write;
    let python = "/usr/bin/python3";
    let probe = std::process::Command::new(python)
        .args(["-c", "import packaging.version"])
        .status();
    assert!(
        probe.is_ok_and(|s| s.success()),
        "this test needs the reference PEP 440 implementation: apt-get install -y python3-packaging"
    );
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strat = (pep440_noise(), pep440_noise());
    let pairs: Vec<(String, String)> = (0..3000)
        .map(|_| strat.new_tree(&mut runner).unwrap().current())
        .collect();
    let script = r#"
import sys
from packaging.version import Version, InvalidVersion
def p(s):
    try:
        return Version(s)
    except InvalidVersion:
        return None
for line in sys.stdin:
    a, b = line.rstrip("\n").split("\t")
    va, vb = p(a), p(b)
    if va is None or vb is None:
        print("%s %s" % ("ok" if va else "err", "ok" if vb else "err"))
    else:
        print((va > vb) - (va < vb))
"#;
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input: String = pairs.iter().map(|(a, b)| format!("{a}\t{b}\n")).collect();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let answers: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(answers.len(), pairs.len(), "python did not answer every pair");
    let mut disagreements = Vec::new();
    let mut compared = 0;
    for ((a, b), want) in pairs.iter().zip(&answers) {
        let (pa, pb) = (Pep440::parse(a), Pep440::parse(b));
        let ours = match (&pa, &pb) {
            (Ok(x), Ok(y)) => {
                compared += 1;
                (x.cmp(y) as i8).to_string()
            }
            _ => format!(
                "{} {}",
                if pa.is_ok() { "ok" } else { "err" },
                if pb.is_ok() { "ok" } else { "err" }
            ),
        };
        if &ours != want {
            disagreements.push(format!("{a:?} vs {b:?}: packaging says {want}, we say {ours}"));
        }
    }
    println!("{} pairs, {compared} compared by order", pairs.len());
    assert!(compared > 500, "too few valid pairs ({compared})");
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements[..disagreements.len().min(30)].join("\n")
    );
}

fn semver_noise() -> impl Strategy<Value = String> {
    prop_oneof![
        semver_strategy(),
        "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(-[0-9A-Za-z.-]{0,8})?(\\+[0-9A-Za-z.-]{0,6})?",
        "[0-9.+a-z-]{0,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Differential test against the `semver` crate (Cargo's own version type): same acceptance and the
    /// same precedence.
    #[test]
    fn semver_agrees_with_the_semver_crate(a in semver_noise(), b in semver_noise()) {
        let (ours_a, ours_b) = (Semver::parse(&a), Semver::parse(&b));
        let (ref_a, ref_b) = (semver::Version::parse(&a), semver::Version::parse(&b));
        prop_assert_eq!(ours_a.is_ok(), ref_a.is_ok(), "acceptance of {:?}: ours {:?}", a, ours_a);
        prop_assert_eq!(ours_b.is_ok(), ref_b.is_ok(), "acceptance of {:?}", b);
        if let (Ok(x), Ok(y), Ok(rx), Ok(ry)) = (ours_a, ours_b, ref_a, ref_b) {
            prop_assert_eq!(x.cmp(&y), rx.cmp_precedence(&ry), "{} vs {}", a, b);
        }
    }
}
