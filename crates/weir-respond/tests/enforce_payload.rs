//! The collector's enforcement set against the host's parser: whatever
//! rules are in enforce mode, the payload weir-detect builds is one every
//! host with the default protected list accepts, and the rules left out of
//! it are named with a reason.

use proptest::prelude::*;
use weir_respond::config::DEFAULT_PROTECTED_NAMES;
use weir_respond::predicate::{MAX_NEEDLES, MAX_PREDICATES};
use weir_respond::{parse_predicates, Predicate};
use weir_rules::{Mode, RuleSet};

/// One process_creation rule on `/name`, requiring `words` in its arguments.
fn rule_yaml(id: &str, name: &str, words: &[String]) -> String {
    let mut text = format!(
        "title: {id}\nid: {id}\nlogsource: {{product: linux, category: process_creation}}\n\
         detection:\n  sel:\n    Image|endswith: '/{name}'\n"
    );
    if !words.is_empty() {
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        text.push_str(&format!("    CommandLine|contains|all: [{}]\n", quoted.join(", ")));
    }
    text.push_str("  condition: sel\n");
    text
}

fn rules(docs: &[String]) -> RuleSet {
    RuleSet::from_yaml(&docs.join("---\n"), "rules.yml").unwrap()
}

/// The payload and the rules left out, all rules in enforce mode.
fn payload(set: &RuleSet) -> (String, Vec<(String, String)>) {
    weir_detect::response::enforce_payload(set.rules().iter().map(|m| (m, Mode::Enforce)))
}

fn host_parse(payload: &str) -> Vec<Predicate> {
    let protected: Vec<String> = DEFAULT_PROTECTED_NAMES.iter().map(|s| s.to_string()).collect();
    parse_predicates(payload, &protected).unwrap_or_else(|e| panic!("host refused the set: {e}\n{payload}"))
}

#[test]
fn seventy_rules_fill_the_set_and_the_rest_are_named() {
    let docs: Vec<String> = (0..70)
        .map(|i| rule_yaml(&format!("r{i:02}"), &format!("tool{i}"), &[]))
        .collect();
    let (payload, left_out) = payload(&rules(&docs));
    let set = host_parse(&payload);
    assert_eq!(set.len(), MAX_PREDICATES);
    let ids: Vec<&str> = left_out.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["r64", "r65", "r66", "r67", "r68", "r69"]);
    assert!(left_out.iter().all(|(_, why)| why.contains("full")), "{left_out:?}");
}

#[test]
fn words_past_the_cap_leave_their_rule_out() {
    let docs: Vec<String> = (0..20)
        .map(|i| rule_yaml(&format!("r{i:02}"), "curl", &[format!("-a{i}"), format!("-b{i}")]))
        .collect();
    let (payload, left_out) = payload(&rules(&docs));
    let set = host_parse(&payload);
    assert_eq!(set.len(), MAX_NEEDLES / 2);
    assert_eq!(left_out.len(), 20 - MAX_NEEDLES / 2);
    assert!(
        left_out.iter().all(|(_, why)| why.contains("distinct words")),
        "{left_out:?}"
    );
}

#[test]
fn a_rule_out_of_limits_does_not_break_the_others() {
    let docs = vec![
        rule_yaml("bad-short", "nc", &["x".into()]),
        rule_yaml("bad-long", "nc", &["y".repeat(100)]),
        rule_yaml("bad-protected", "sshd", &[]),
        rule_yaml("good", "nc", &["-e".into()]),
    ];
    let (payload, left_out) = payload(&rules(&docs));
    let set = host_parse(&payload);
    assert_eq!(set.iter().map(|p| p.rule_id.as_str()).collect::<Vec<_>>(), ["good"]);
    let ids: Vec<&str> = left_out.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["bad-long", "bad-protected", "bad-short"]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any mix of rules, within limits or not, gives a payload the host loads.
    #[test]
    fn the_host_accepts_every_payload_the_collector_builds(
        rules_spec in proptest::collection::vec(
            (
                prop_oneof![Just("sshd".to_string()), "[a-z]{1,12}"],
                proptest::collection::vec("[a-z-]{1,70}", 0..5),
            ),
            1..90,
        )
    ) {
        let docs: Vec<String> = rules_spec
            .iter()
            .enumerate()
            .map(|(i, (name, words))| rule_yaml(&format!("r{i:03}"), name, words))
            .collect();
        let (payload, left_out) = payload(&rules(&docs));
        let set = host_parse(&payload);
        prop_assert_eq!(set.len() + left_out.len(), docs.len());
    }
}
