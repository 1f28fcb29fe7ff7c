//! Ubuntu images through the CLI (issue #15): scanned against Ubuntu's own OSV records
//! (the real ones in `tests/fixtures/advisories/ubuntu-osv`), a fix that only Ubuntu Pro
//! has shown as such, and — the reason for the issue — an image whose OS the database does
//! not cover never passes a `--fail-on` gate as "0 findings".

use std::path::Path;

use serde_json::Value;

use crate::harness::{RawLayout, TarLayer, example_layout, fixture, oci_harden, oci_ref, tempdir};

const NOBLE: &[u8] = b"PRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\n\
VERSION=\"24.04.1 LTS (Noble Numbat)\"\nVERSION_CODENAME=noble\nID=ubuntu\nID_LIKE=debian\nUBUNTU_CODENAME=noble\n";

/// The release-pocket versions of a noble minbase image (as in the fixtures' README), plus
/// tomcat9, whose only fix for noble is in Ubuntu Pro.
const PACKAGES: &[(&str, &str, &str)] = &[
    ("coreutils", "", "9.4-3ubuntu6"),
    ("libssl3t64", "openssl", "3.0.13-0ubuntu3"),
    ("openssl", "", "3.0.13-0ubuntu3"),
    ("perl-base", "perl", "5.38.2-3.2build2"),
    ("tomcat9", "", "9.0.70-2"),
];

fn status() -> Vec<u8> {
    PACKAGES
        .iter()
        .map(|(name, source, version)| {
            let source = if source.is_empty() { String::new() } else { format!("Source: {source}\n") };
            format!(
                "Package: {name}\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\n{source}\
Version: {version}\nMaintainer: Ubuntu Developers <ubuntu-devel-discuss@lists.ubuntu.com>\nDescription: {name}\n\n"
            )
        })
        .collect::<String>()
        .into_bytes()
}

/// An image with Ubuntu's os-release and a dpkg status database, tagged `t`.
fn noble_image(dir: &Path) -> String {
    let layer = TarLayer::new()
        .dir("etc", 0o755)
        .file("etc/os-release", 0o644, NOBLE)
        .dir("var", 0o755)
        .dir("var/lib", 0o755)
        .dir("var/lib/dpkg", 0o755)
        .file("var/lib/dpkg/status", 0o644, &status())
        .finish();
    let path = dir.join("noble");
    let mut layout = RawLayout::create(&path);
    let image = layout.image(&[layer]);
    layout.tag("t", &image);
    oci_ref(&path, Some("t"))
}

fn db_from(dir: &Path, name: &str, sources: &[&Path]) -> String {
    let db = dir.join(name);
    let db = db.to_str().expect("UTF-8").to_owned();
    for source in sources {
        oci_harden(&["db", "update", "--db", &db, "--from", source.to_str().expect("UTF-8")]).ok();
    }
    db
}

#[test]
fn an_os_the_database_does_not_cover_never_passes_a_gate() {
    let tmp = tempdir();
    let image = noble_image(tmp.path());
    // A database with Alpine advisories only: Ubuntu is not covered.
    let db = db_from(tmp.path(), "alpine-only", &[&fixture("advisories/alpine-secdb/3.20")]);

    let gate = oci_harden(&["scan", &image, "--db", &db, "--fail-on", "low"]);
    let err = gate.fails_with(&["not scanned", "ubuntu 24.04", "Ubuntu:24.04:LTS", "--allow-unsupported"]);
    assert!(!err.contains("panicked"), "{err}");
    // The table says so in its footer, whatever the gate.
    let table = oci_harden(&["scan", &image, "--db", &db]).ok();
    assert!(table.text().contains("0 findings"), "{}", table.text());
    assert!(table.text().contains("NOT SCANNED: the advisory database holds no advisories for Ubuntu:24.04:LTS"));
    assert!(table.stderr.contains("warning: not scanned"), "{}", table.stderr);
    // The user who accepts it gets exit 0.
    oci_harden(&["scan", &image, "--db", &db, "--fail-on", "low", "--allow-unsupported"]).ok();
    // JSON and SARIF carry it too.
    let json = oci_harden(&["scan", &image, "--db", &db, "--format", "json"]).ok().json();
    assert_eq!(json["Coverage"]["status"], "notScanned", "{json:#}");
    assert_eq!(json["Coverage"]["os"], "ubuntu 24.04");
    let sarif = oci_harden(&["scan", &image, "--db", &db, "--format", "sarif"]).ok().json();
    assert_eq!(sarif["runs"][0]["properties"]["coverage"]["status"], "notScanned", "{sarif:#}");
    assert_eq!(sarif["runs"][0]["results"], Value::Array(vec![]));

    // An image without a package database (and without an OS the database covers) too.
    let layer = TarLayer::new().dir("bin", 0o755).file("bin/app", 0o755, b"\x7fELF").finish();
    let path = tmp.path().join("bare");
    let mut layout = RawLayout::create(&path);
    let bare = layout.image(&[layer]);
    layout.tag("t", &bare);
    oci_harden(&["scan", &oci_ref(&path, Some("t")), "--db", &db, "--fail-on", "critical"])
        .fails_with(&["not scanned", "operating system was not detected"]);

    // A covered image is gated as before: the shipped Alpine 3.20 against the same database.
    let alpine = oci_ref(&example_layout(), Some("3.20"));
    // (secdb gives no severities: its findings are UNKNOWN.)
    assert_eq!(oci_harden(&["scan", &alpine, "--db", &db, "--fail-on", "unknown"]).code, Some(1));
}

#[test]
fn noble_is_scanned_against_ubuntu_records_with_pro_only_fixes_marked() {
    let tmp = tempdir();
    let image = noble_image(tmp.path());
    let db = db_from(tmp.path(), "ubuntu", &[&fixture("advisories/ubuntu-osv")]);

    let json = oci_harden(&["scan", &image, "--db", &db, "--format", "json"]).ok().json();
    assert!(json.get("Coverage").is_none(), "a scanned image has no coverage note: {json:#}");
    let vulns = json["Results"][0]["Vulnerabilities"].as_array().expect("findings");
    let find = |pkg: &str, id: &str| {
        vulns
            .iter()
            .find(|v| v["PkgName"] == pkg && v["VulnerabilityID"] == id)
            .unwrap_or_else(|| panic!("no {pkg} {id} in {vulns:#?}"))
    };
    // The highest of noble's fixes, never an interim release's; t64 names through the source.
    assert_eq!(find("libssl3t64", "CVE-2025-15467")["FixedVersion"], "3.0.13-0ubuntu3.7");
    assert_eq!(find("perl-base", "CVE-2024-56406")["FixedVersion"], "5.38.2-3.2ubuntu0.1");
    assert_eq!(find("coreutils", "CVE-2016-2781")["Status"], "affected");
    // Tomcat's fix exists only in Ubuntu Pro: affected, no FixedVersion, the Pro version noted.
    let tomcat = find("tomcat9", "CVE-2025-24813");
    assert_eq!(tomcat["Status"], "affected");
    assert_eq!(tomcat["FixedVersion"], "");
    assert_eq!(tomcat["Custom"]["Note"], "fix requires Ubuntu Pro");
    assert!(tomcat["Custom"]["ProFixedVersion"].as_str().is_some_and(|v| v.contains("esm")), "{tomcat:#}");
    let table = oci_harden(&["scan", &image, "--db", &db]).ok();
    let line = table.text().lines().find(|l| l.starts_with("tomcat9")).expect("a tomcat9 row");
    assert!(line.contains("affected (fix requires Ubuntu Pro (fixed in 9.0.70-2ubuntu0.1+esm1))"), "{line}");
    assert!(!table.text().contains("NOT SCANNED"));
    // The gate trips on real findings (exit 1), and --ignore-unfixed drops the Pro-only one.
    assert_eq!(oci_harden(&["scan", &image, "--db", &db, "--fail-on", "high"]).code, Some(1));
    let fixed_only = oci_harden(&["scan", &image, "--db", &db, "--ignore-unfixed", "--format", "json"]).ok().json();
    let ids: Vec<&str> = fixed_only["Results"][0]["Vulnerabilities"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|v| v["PkgName"].as_str().unwrap_or_default())
        .collect();
    assert!(!ids.contains(&"tomcat9") && !ids.contains(&"coreutils"), "{ids:?}");
}
