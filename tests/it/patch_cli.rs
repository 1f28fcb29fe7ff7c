//! `oci-harden patch` end to end (issue #9) on the standard fixture: a signed apt
//! repository built by the tests, an image whose packages dpkg itself installed from its
//! old suite, and advisories (OSV records written here for the fixture's own packages)
//! saying which of them the security suite fixes. Judges: dpkg (`--verify`, `--audit`,
//! `dpkg-query` on umoci's unpack of the result), a re-scan, the OpenVEX schema.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};

use crate::harness::{
    dpkg_audit, dpkg_query_versions, dpkg_verify, oci_harden, oci_ref, read_json, standard_fixture, tempdir, unpack,
};

/// OSV records (ecosystem `Debian:12`) for the fixture's sources: `hello-src` and `libfoo`
/// fixed in the security suite's versions, `unrelated` affected with no fix.
fn write_advisories(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let record = |id: &str, cve: &str, package: &str, fixed: Option<&str>| {
        let mut events = vec![json!({"introduced": "0"})];
        if let Some(f) = fixed {
            events.push(json!({"fixed": f}));
        }
        json!({
            "id": id,
            "aliases": [cve],
            "summary": format!("{package} test advisory"),
            "affected": [{"package": {"ecosystem": "Debian:12", "name": package},
                          "ranges": [{"type": "ECOSYSTEM", "events": events}]}],
        })
    };
    for (id, cve, package, fixed) in [
        ("DSA-9001-1", "CVE-2099-0001", "hello-src", Some("1.0-1+deb12u1")),
        ("DSA-9002-1", "CVE-2099-0002", "libfoo", Some("2.0-1+deb12u1")),
        ("DLA-9003-1", "CVE-2099-0003", "unrelated", None),
    ] {
        let path = dir.join(format!("{id}.json"));
        std::fs::write(path, serde_json::to_vec(&record(id, cve, package, fixed)).unwrap()).unwrap();
    }
}

fn layers(layout: &Path, tag: &str) -> usize {
    let run = oci_harden(&["inspect", "--format", "json", &oci_ref(layout, Some(tag))]).ok();
    run.json()["image"]["layers"].as_array().expect("layers").len()
}

#[test]
fn patch_upgrades_what_the_scan_finds_fixable_and_dpkg_agrees() {
    let fixture = standard_fixture();
    let tmp = tempdir();
    let osv = tmp.path().join("osv");
    write_advisories(&osv);
    let db = tmp.path().join("db");
    let db = db.to_str().unwrap();
    oci_harden(&["db", "update", "--db", db, "--from", osv.to_str().unwrap()]).ok();
    let cache = tmp.path().join("cache");
    let cache = cache.to_str().unwrap();
    let src = fixture.image.reference();
    let out = tmp.path().join("out");
    let dst = oci_ref(&out, Some("patched"));

    // The dry run: the plan, nothing written.
    let dry = oci_harden(&["patch", &src, "--db", db, "--cache", cache, "--dry-run"]).ok();
    for needle in
        ["hello:amd64 1.0-1 → 1.0-1+deb12u1", "libbar1:amd64 (new) → 1.0-1", "libfoo1:i386 2.0-1 → 2.0-1+deb12u1"]
    {
        assert!(dry.text().contains(needle), "dry run lacks {needle:?}:\n{}", dry.text());
    }
    assert!(!out.exists(), "a dry run writes nothing");

    // hello's maintainer scripts are not known to be harmless: refused by default, nothing written.
    oci_harden(&["patch", &src, &dst, "--db", db, "--cache", cache]).fails_with(&["hello"]);
    assert!(!out.exists(), "a refused patch writes nothing");

    let report = tmp.path().join("report.json");
    let vex = tmp.path().join("vex.json");
    let run = oci_harden(&[
        "patch",
        &src,
        &dst,
        "--db",
        db,
        "--cache",
        cache,
        "--scripts",
        "warn",
        "--report",
        report.to_str().unwrap(),
        "--vex",
        vex.to_str().unwrap(),
    ])
    .ok();
    assert!(run.text().contains("findings: 4 before, 1 after (3 fixed)"), "{}", run.text());
    assert_eq!(layers(&out, "patched"), layers(&fixture.image.layout, &fixture.image.tag) + 1, "exactly one layer");

    // dpkg's view of the result.
    let rootfs = unpack(&out, "patched");
    assert_eq!(dpkg_audit(&rootfs.path), "", "dpkg --audit");
    let verify = dpkg_verify(&rootfs.path);
    assert!(verify.lines().all(|l| l.ends_with(" c /etc/hello/user.conf")), "dpkg --verify:\n{verify}");
    let versions = dpkg_query_versions(&rootfs.path);
    for (package, version) in [
        ("hello:amd64", "1.0-1+deb12u1"),
        ("libbar1:amd64", "1.0-1"),
        ("libfoo1:amd64", "2.0-1+deb12u1"),
        ("libfoo1:i386", "2.0-1+deb12u1"),
        ("unrelated:all", "1.0-1"),
    ] {
        assert_eq!(versions.get(package).map(String::as_str), Some(version), "{package} in {versions:?}");
    }
    // The user's conffile kept, the package's new one beside it.
    assert!(rootfs.path.join("etc/hello/user.conf.dpkg-dist").exists());

    // A re-scan with the same database: only the finding without a fix remains.
    let rescan = oci_harden(&["scan", &dst, "--db", db, "--format", "json"]).ok().json();
    let ids: BTreeSet<&str> = rescan["Results"][0]["Vulnerabilities"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|v| v["VulnerabilityID"].as_str().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from(["CVE-2099-0003"]));

    // The report and the VEX document.
    let report: Value = read_json(&report);
    let image = &report["images"][0];
    assert_eq!(image["findingsBefore"], 4);
    assert_eq!(image["findingsAfter"], 1);
    let packages: BTreeSet<String> = image["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}:{} {}",
                p["name"].as_str().unwrap(),
                p["architecture"].as_str().unwrap(),
                p["newVersion"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        packages,
        BTreeSet::from([
            "hello:amd64 1.0-1+deb12u1".to_owned(),
            "libbar1:amd64 1.0-1".to_owned(),
            "libfoo1:amd64 2.0-1+deb12u1".to_owned(),
            "libfoo1:i386 2.0-1+deb12u1".to_owned(),
        ])
    );
    assert_eq!(image["remaining"][0]["vulnerability"], "CVE-2099-0003");
    let vex: Value = read_json(&vex);
    crate::scan::assert_valid(&crate::scan::openvex_schema(), "OpenVEX", &vex);
    let status = |cve: &str| {
        vex["statements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["vulnerability"]["name"] == cve)
            .map(|s| s["status"].clone())
    };
    assert_eq!(status("CVE-2099-0001"), Some(json!("fixed")));
    assert_eq!(status("CVE-2099-0002"), Some(json!("fixed")));
    assert_eq!(status("CVE-2099-0003"), Some(json!("affected")));

    // The gate sees what remains (UNKNOWN severity: OSV records without a score).
    let gated = oci_harden(&[
        "patch",
        &src,
        &oci_ref(&out, Some("again")),
        "--db",
        db,
        "--cache",
        cache,
        "--scripts",
        "warn",
        "--fail-on",
        "unknown",
    ]);
    assert_eq!(gated.code, Some(1), "{}", gated.describe());
    // Reproducible: the same inputs give the same digest.
    let first = crate::harness::tagged(&out, "patched")["digest"].clone();
    assert_eq!(crate::harness::tagged(&out, "again")["digest"], first);
}
