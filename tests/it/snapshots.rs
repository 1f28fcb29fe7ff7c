//! The CLI's outputs pinned as insta snapshots (`tests/it/snapshots/`): tables and JSON of
//! `inspect`, `ls`, `check`, `harden`, `scan`, `copy` and `gc` on the shipped Alpine image.
//! Digests are left in on purpose: the outputs are reproducible, so a changed digest is a
//! changed image. Temporary directories and the checkout's path are filtered out.
//!
//! After an intended change: `INSTA_UPDATE=always cargo test --test it -- snapshots::`, then
//! review the diff of `tests/it/snapshots/` like code.

use std::path::Path;

use crate::harness::{Run, example_layout, fixture, oci_harden, oci_ref, repo_root, tempdir};

fn example() -> String {
    oci_ref(&example_layout(), Some("3.20"))
}

/// Runs `f` with filters for `tmp` (a test's temporary directory) and the checkout.
fn with_filters(tmp: &Path, f: impl FnOnce()) {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.add_filter(&regex_escape(&tmp.display().to_string()), "[TMP]");
    settings.add_filter(&regex_escape(&repo_root().display().to_string()), "[REPO]");
    settings.bind(f);
}

fn regex_escape(s: &str) -> String {
    s.chars().fold(String::new(), |mut out, c| {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

/// Standard output, then standard error when there is any, and the exit code.
fn show(run: &Run) -> String {
    let mut s = run.text().to_owned();
    if !run.stderr.is_empty() {
        s.push_str("--- stderr\n");
        s.push_str(&run.stderr);
    }
    s.push_str(&format!("--- exit code {:?}\n", run.code));
    s
}

#[test]
fn inspect_outputs() {
    let tmp = tempdir();
    with_filters(tmp.path(), || {
        insta::assert_snapshot!("inspect_text", show(&oci_harden(&["inspect", &example()])));
        insta::assert_snapshot!("inspect_json", show(&oci_harden(&["inspect", "--format", "json", &example()])));
    });
}

#[test]
fn ls_long_of_etc() {
    let tmp = tempdir();
    with_filters(tmp.path(), || {
        insta::assert_snapshot!("ls_long_etc", show(&oci_harden(&["ls", "--long", &example(), "/etc/apk"])));
    });
}

#[test]
fn check_outputs() {
    let tmp = tempdir();
    with_filters(tmp.path(), || {
        let strict = ["check", example().as_str(), "--rules", "builtin:strict"].map(str::to_owned);
        insta::assert_snapshot!("check_strict_table", show(&oci_harden(&strict)));
        let json: Vec<String> = strict.iter().cloned().chain(["--format".into(), "json".into()]).collect();
        insta::assert_snapshot!("check_strict_json", show(&oci_harden(&json)));
        let gate: Vec<String> = strict.iter().cloned().chain(["--fail-on".into(), "high".into()]).collect();
        let run = oci_harden(&gate);
        assert_eq!(run.code, Some(1), "strict rules fail on the unhardened image:\n{}", run.describe());
    });
}

#[test]
fn harden_outputs() {
    let tmp = tempdir();
    with_filters(tmp.path(), || {
        let dst = oci_ref(&tmp.path().join("out"), Some("hardened"));
        let dry = oci_harden(&["harden", &example(), "--rules", "builtin:strict", "--dry-run"]);
        insta::assert_snapshot!("harden_strict_dry_run", show(&dry));
        let report = tmp.path().join("report.json");
        let run = oci_harden(&[
            "harden",
            &example(),
            &dst,
            "--rules",
            "builtin:strict",
            "--report",
            report.to_str().unwrap(),
        ]);
        insta::assert_snapshot!("harden_strict_table", show(&run));
        let report = std::fs::read_to_string(&report).expect("harden wrote its report");
        insta::assert_snapshot!("harden_strict_report_json", report);
    });
}

#[test]
fn scan_outputs() {
    let tmp = tempdir();
    with_filters(tmp.path(), || {
        let db = tmp.path().join("db");
        let db = db.to_str().unwrap();
        let secdb = fixture("advisories/alpine-secdb/3.20");
        oci_harden(&["db", "update", "--db", db, "--from", secdb.to_str().unwrap()]).ok();
        let table = oci_harden(&["scan", &example(), "--db", db]);
        insta::assert_snapshot!("scan_table", show(&table));
        let json = oci_harden(&["scan", &example(), "--db", db, "--format", "json"]);
        insta::assert_snapshot!("scan_trivy_json", show(&json));
    });
}

#[test]
fn copy_and_gc_summaries() {
    let tmp = tempdir();
    with_filters(tmp.path(), || {
        let dst = oci_ref(&tmp.path().join("copy"), Some("v1"));
        insta::assert_snapshot!("copy_text", show(&oci_harden(&["copy", &example(), &dst])));
        let dst2 = oci_ref(&tmp.path().join("copy2"), Some("v1"));
        insta::assert_snapshot!("copy_json", show(&oci_harden(&["copy", "--format", "json", &example(), &dst2])));
        let gc = oci_harden(&["gc", "--format", "json", tmp.path().join("copy").to_str().unwrap()]);
        insta::assert_snapshot!("gc_json", show(&gc));
    });
}
