//! Every route the `weir` binary adds to the collector's API (detection,
//! risk, triage, Slack) is described in the OpenAPI document the collector
//! serves. The routes are read from the source that registers them, so a new
//! route without documentation fails here.

const SOURCES: &[(&str, &str)] = &[
    ("alerts_api.rs", include_str!("../src/cmd/alerts_api.rs")),
    ("risk_flow.rs", include_str!("../src/cmd/risk_flow.rs")),
    (
        "slack_interactions.rs",
        include_str!("../src/cmd/slack_interactions.rs"),
    ),
];

#[test]
fn every_route_of_the_binary_is_in_the_openapi_document() {
    let doc: serde_json::Value = serde_json::from_str(weir_server::http::OPENAPI).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let mut checked = 0;
    for (file, source) in SOURCES {
        for piece in source.split(".route(\"").skip(1) {
            let path = piece.split('"').next().unwrap();
            assert!(paths.contains_key(path), "{file}: route {path} is not in openapi.json");
            checked += 1;
        }
    }
    assert!(checked >= 14, "only {checked} routes found: the extraction broke");
}
