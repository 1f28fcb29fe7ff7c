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

/// The advisory database of [`write_advisories`], made by `db update` in `dir/db` from
/// `dir/osv`.
pub(crate) fn advisory_db(dir: &Path) -> std::path::PathBuf {
    let (osv, db) = (dir.join("osv"), dir.join("db"));
    write_advisories(&osv);
    oci_harden(&["db", "update", "--db", db.to_str().unwrap(), "--from", osv.to_str().unwrap()]).ok();
    db
}

/// OSV records (ecosystem `Debian:12`) for the fixture's sources: `hello-src` and `libfoo`
/// fixed in the security suite's versions, `unrelated` affected with no fix.
pub(crate) fn write_advisories(dir: &Path) {
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
    let db = advisory_db(tmp.path());
    let db = db.to_str().unwrap();
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
    let status = |cve: &str| vex_status(&vex, cve);
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

/// The dry run shows each package's files and scripts: unknown while the package files are
/// not in the cache (nothing beyond metadata fetched), exact once they are
/// (`--fetch-packages` fetches only them), and then what the real patch reports.
#[test]
fn dry_run_shows_the_files_and_scripts_the_patch_then_reports() {
    let fixture = standard_fixture();
    let tmp = tempdir();
    let cache = tmp.path().join("cache");
    let cache = cache.to_str().unwrap();
    let src = fixture.image.reference();
    let out = tmp.path().join("out");
    let dry_report = tmp.path().join("dry.json");
    let dry = |extra: &[&str]| {
        let mut args = vec!["patch", &src, "--upgrade", "all", "--cache", cache, "--dry-run"];
        args.extend_from_slice(&["--report", dry_report.to_str().unwrap()]);
        args.extend_from_slice(extra);
        let run = oci_harden(&args).ok();
        (run.text().to_owned(), read_json(&dry_report))
    };
    let deb_blob = |package: &Value| {
        Path::new(cache).join("blobs/sha256").join(package["file"]["sha256"].as_str().expect("sha256"))
    };

    // Metadata only: the plan says the changes are not known yet, and no package file is there.
    let (text, report) = dry(&["--scripts", "warn"]);
    let image = &report["images"][0];
    let planned = image["plan"]["packages"].as_array().expect("planned packages");
    assert!(planned.len() >= 4, "{report}");
    assert_eq!(image["changes"]["known"], "notFetched", "{report}");
    assert_eq!(image["changes"]["missing"].as_array().unwrap().len(), planned.len());
    assert!(text.contains("files and scripts known once the package files are fetched"), "{text}");
    assert!(planned.iter().all(|p| !deb_blob(p).exists()), "a dry run fetches no package file");

    // --fetch-packages: the verified package files in the cache, the changes exact.
    let (text, report) = dry(&["--scripts", "warn", "--fetch-packages"]);
    let image = &report["images"][0];
    assert!(planned.iter().all(|p| deb_blob(p).exists()), "fetched into the cache");
    assert_eq!(image["changes"]["known"], "exact", "{report}");
    assert_eq!(image["changes"]["refused"], Value::Null);
    let changes = image["changes"]["packages"].as_array().expect("per package").clone();
    assert_eq!(changes.len(), planned.len());
    let hello = changes.iter().find(|p| p["name"] == "hello").expect("hello");
    assert!(
        hello["files"]["counts"]["added"].as_u64().unwrap() + hello["files"]["counts"]["replaced"].as_u64().unwrap()
            > 0
    );
    for path in hello["files"]["added"].as_array().unwrap().iter().chain(hello["files"]["replaced"].as_array().unwrap())
    {
        let sign = if hello["files"]["added"].as_array().unwrap().contains(path) { "+" } else { "~" };
        assert!(text.contains(&format!("        {sign} /{}", path.as_str().unwrap())), "{path} in:\n{text}");
    }
    assert!(text.contains("NOT RUN"), "hello's scripts are listed as not run:\n{text}");
    assert!(!out.exists(), "a dry run writes no image");

    // Warm, without --fetch-packages: exact too; under the default policy the refusal is said.
    let (text, refused) = dry(&[]);
    assert_eq!(refused["images"][0]["changes"]["known"], "exact");
    let why = refused["images"][0]["changes"]["refused"].as_str().expect("refused");
    assert!(why.contains("hello"), "{why}");
    assert!(text.contains("the patch would be refused"), "{text}");

    // The real patch reports exactly what the dry run showed.
    let real_report = tmp.path().join("real.json");
    let dst = oci_ref(&out, Some("patched"));
    let args = ["patch", &src, &dst, "--upgrade", "all", "--cache", cache, "--scripts", "warn"];
    oci_harden(&[&args[..], &["--report", real_report.to_str().unwrap()]].concat()).ok();
    let real: Value = read_json(&real_report);
    assert_eq!(real["images"][0]["packages"], Value::Array(changes));
}

/// The status an OpenVEX document gives `cve`, if it has a statement for it.
pub(crate) fn vex_status(vex: &Value, cve: &str) -> Option<Value> {
    vex["statements"]
        .as_array()
        .expect("OpenVEX statements")
        .iter()
        .find(|s| s["vulnerability"]["name"] == cve)
        .map(|s| s["status"].clone())
}
