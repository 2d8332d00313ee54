//! Property tests: the rule parser never panics on arbitrary or mutated
//! input, and errors always name the origin.

use proptest::prelude::*;
use weir_rules::RuleSet;

const VALID: &str = "title: t\nid: x\nlogsource:\n    product: linux\n    category: process_creation\ndetection:\n    sel:\n        Image|endswith: '/sh'\n        CommandLine|contains|all: [a, b]\n    filter:\n        User: root\n    condition: sel and not filter\n";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,400}") {
        if let Err(e) = RuleSet::from_yaml(&s, "fuzz.yml") {
            prop_assert_eq!(e.location.file.as_str(), "fuzz.yml");
        }
    }

    #[test]
    fn mutated_rules_never_panic(pos in 0usize..VALID.len(), len in 0usize..20, insert in "[\\[\\]{}:|*?'\"\\\\ a-z0-9\\n-]{0,12}") {
        let mut s = VALID.to_string();
        let start = pos.min(s.len());
        let end = (start + len).min(s.len());
        if s.is_char_boundary(start) && s.is_char_boundary(end) {
            s.replace_range(start..end, &insert);
        }
        let _ = RuleSet::from_yaml(&s, "m.yml");
    }

    #[test]
    fn arbitrary_modifiers_and_values(mods in proptest::collection::vec("[a-z0-9]{1,12}", 0..4), value in "\\PC{0,40}") {
        let text = format!(
            "title: t\nlogsource:\n    product: windows\ndetection:\n    sel:\n        F{}: {}\n    condition: sel\n",
            mods.iter().map(|m| format!("|{m}")).collect::<String>(),
            serde_json::to_string(&value).unwrap()
        );
        if let Ok(set) = RuleSet::from_yaml(&text, "v.yml") {
            let ev = serde_json::json!({"F": value}).as_object().unwrap().clone();
            let mut m = set.matcher();
            let mut out = Vec::new();
            m.matches(&ev, &mut out);
        }
    }

    #[test]
    fn arbitrary_conditions(cond in "[a-z_ ()*0-9|]{0,60}") {
        let text = format!("title: t\ndetection:\n    sel_a:\n        A: 1\n    sel_b:\n        B: 1\n    condition: '{cond}'\n");
        let _ = RuleSet::from_yaml(&text, "c.yml");
    }
}

#[test]
fn deep_nesting_gives_an_error_not_a_stack_overflow() {
    let deep = format!(
        "title: t\ndetection:\n    sel: {}1{}\n    condition: sel\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert!(RuleSet::from_yaml(&deep, "deep.yml").is_err());
    let cond = format!(
        "title: t\ndetection:\n    sel:\n        A: 1\n    condition: {}sel{}\n",
        "(".repeat(5_000),
        ")".repeat(5_000)
    );
    let e = RuleSet::from_yaml(&cond, "deep.yml").err().unwrap();
    assert!(e.to_string().contains("nested"), "{e}");
    let nots = format!(
        "title: t\ndetection:\n    sel:\n        A: 1\n    condition: {}sel\n",
        "not ".repeat(5_000)
    );
    assert!(RuleSet::from_yaml(&nots, "deep.yml").is_err());
}
