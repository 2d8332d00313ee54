//! Weir's own rule pack (`rules/` at the repository root): every rule loads,
//! is supported on Weir events, and passes its inline tests.

use std::path::Path;

use weir_rules::RuleSet;

#[test]
fn weir_rule_pack_loads_and_passes_inline_tests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let (set, report) = RuleSet::load_paths(&[dir]);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.unsupported.is_empty(), "{:?}", report.unsupported);
    assert!(set.rules().len() >= 10);
    let outcomes = set.run_inline_tests();
    for m in set.rules() {
        assert!(
            !m.weir.tests.matches.is_empty() && !m.weir.tests.no_match.is_empty(),
            "{} lacks tests",
            m.origin
        );
    }
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.passed)
        .map(|o| {
            format!(
                "{} match={} case {}",
                set.rules()[o.rule.0 as usize].origin,
                o.expect_match,
                o.case
            )
        })
        .collect();
    assert!(failed.is_empty(), "failing inline tests: {failed:#?}");
    println!("{} rules, {} inline cases passed", set.rules().len(), outcomes.len());
}
