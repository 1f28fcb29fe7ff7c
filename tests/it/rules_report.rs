//! Reports of rule evaluations: `check --format json|sarif` and `harden --report FILE
//! --format json|sarif`.

use serde_json::Value;

use crate::harness::{example_layout, oci_harden, oci_ref, tempdir};
use crate::scan::{assert_valid, sarif_schema};

/// `check --format sarif` and `harden --report --format sarif` validate against the OASIS
/// SARIF 2.1.0 schema, with one SARIF rule per rule of the set and one result per finding
/// of a failing rule (strict on Alpine: app-user 5, no-package-manager 1, no-shells 3).
#[test]
fn rule_reports_in_sarif_validate_and_count_the_findings() {
    let tmp = tempdir();
    let example = oci_ref(&example_layout(), Some("3.20"));
    let cache = tmp.path().join("cache");
    let cache = cache.to_str().expect("UTF-8");
    let check =
        oci_harden(&["check", "--cache", cache, "--rules", "builtin:strict", "--format", "sarif", &example]).ok();
    let doc: Value = check.json();
    let validator = sarif_schema();
    assert_valid(&validator, "check SARIF", &doc);
    let run = &doc["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 10, "one SARIF rule per rule of builtin:strict (10 rules)");
    let results = run["results"].as_array().expect("results");
    let count = |id: &str| results.iter().filter(|r| r["ruleId"] == id).count();
    assert_eq!((count("app-user"), count("no-package-manager"), count("no-shells")), (5, 1, 3), "{doc:#}");
    assert_eq!(results.len(), 9);

    let report = tmp.path().join("report.sarif");
    let out = oci_ref(&tmp.path().join("out"), Some("h"));
    oci_harden(&[
        "harden",
        "-q",
        "--cache",
        cache,
        "--rules",
        "builtin:strict",
        "--report",
        report.to_str().expect("UTF-8"),
        "--format",
        "sarif",
        &example,
        &out,
    ])
    .ok();
    let doc: Value = serde_json::from_slice(&std::fs::read(&report).expect("the report")).expect("JSON");
    assert_valid(&validator, "harden SARIF", &doc);
    assert_eq!(doc["runs"][0]["results"].as_array().expect("results").len(), 9);

    let json_report = tmp.path().join("report.json");
    oci_harden(&[
        "harden",
        "-q",
        "--cache",
        cache,
        "--rules",
        "builtin:strict",
        "--report",
        json_report.to_str().expect("UTF-8"),
        &example,
        &out,
    ])
    .ok();
    let doc: Value = serde_json::from_slice(&std::fs::read(&json_report).expect("the report")).expect("JSON");
    let image = &doc["images"][0];
    assert_eq!(doc["rules"]["name"], "strict");
    assert!(image["before"].as_array().expect("before").iter().any(|r| r["result"] == "fail"));
    assert!(
        image["after"].as_array().expect("after").iter().all(|r| r["result"] != "fail" || r["action"] == "check"),
        "after hardening only check-only rules may still fail: {doc:#}"
    );
}
