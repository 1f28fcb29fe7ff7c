//! Mapping rules on the real fixtures (`tests/fixtures/advisories/`), bad input, persistence
//! and memory.

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use super::*;
use crate::Error;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/advisories")
}

fn fixture(relative: &str) -> PathBuf {
    fixtures().join(relative)
}

fn debian(release: &str) -> Ecosystem {
    Ecosystem::debian(release)
}

fn fixed(version: &str) -> AdvisoryStatus {
    AdvisoryStatus::Fixed { version: version.into() }
}

/// The one advisory for (ecosystem, package, id) from `source`.
fn one<'a>(db: &'a AdvisoryDb, ecosystem: &Ecosystem, package: &str, id: &str) -> &'a Advisory {
    let found: Vec<&Advisory> = db.advisories_for(ecosystem, package).iter().filter(|a| a.id == id).collect();
    assert_eq!(found.len(), 1, "{ecosystem} {package} {id}: {found:#?}");
    found[0]
}

fn ingest(relative: &str) -> (AdvisoryDb, IngestReport) {
    let mut db = AdvisoryDb::new();
    let report = db.ingest_path(&fixture(relative)).unwrap();
    (db, report)
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        writer.start_file(*name, options).unwrap();
        writer.write_all(data).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

// ---- Debian tracker -------------------------------------------------------------------

#[test]
fn tracker_resolved_zero_is_not_affected_and_unimportant_is_low_with_a_note() {
    let (db, report) = ingest("debian-tracker/osv-dev-debian_security_tracker_mock.json");
    assert_eq!(report.formats, ["debian-tracker"]);
    // apparmor: 3 CVEs × 5 releases.
    assert_eq!(report.records, 15);
    let advisory = one(&db, &debian("12"), "apparmor", "CVE-2014-1424");
    assert_eq!(advisory.status, AdvisoryStatus::NotAffected);
    assert_eq!(advisory.severity, Severity::Low);
    assert_eq!(advisory.note.as_deref(), Some("unimportant"));
    assert_eq!(advisory.source, "debian-tracker");
    assert_eq!(advisory.package, "apparmor");
    assert!(advisory.aliases.is_empty());
    assert!(advisory.summary.as_deref().unwrap().starts_with("apparmor_parser in the apparmor package"));
}

#[test]
fn tracker_open_is_affected_and_resolved_with_a_version_is_fixed() {
    let (db, _) = ingest("debian-tracker/osv-dev-debian_security_tracker_mock.json");
    // CVE-2016-1585: open in bookworm/bullseye/buster, fixed in 3.0.12-1 in trixie and sid.
    assert_eq!(one(&db, &debian("12"), "apparmor", "CVE-2016-1585").status, AdvisoryStatus::Affected);
    assert_eq!(one(&db, &debian("10"), "apparmor", "CVE-2016-1585").status, AdvisoryStatus::Affected);
    assert_eq!(one(&db, &debian("13"), "apparmor", "CVE-2016-1585").status, fixed("3.0.12-1"));
    assert_eq!(one(&db, &debian("sid"), "apparmor", "CVE-2016-1585").status, fixed("3.0.12-1"));
    // "not yet assigned" → UNKNOWN, no note.
    let advisory = one(&db, &debian("11"), "apparmor", "CVE-2017-6507");
    assert_eq!(
        (advisory.status.clone(), advisory.severity, advisory.note.clone()),
        (fixed("2.11.0-3"), Severity::Unknown, None)
    );
}

#[test]
fn tracker_urgency_markers_end_of_life_and_empty_releases() {
    let (db, report) = ingest("debian-tracker/vunnel-debian.json");
    // prototypejs 2×4 + txt2man 4 + backupninja 4 + chromium 5 + sope 4 + chromium-browser 0.
    assert_eq!(report.records, 25, "{report:#?}");
    // "high**" → HIGH; stretch is Debian 9.
    let advisory = one(&db, &debian("9"), "prototypejs", "CVE-2008-7220");
    assert_eq!((advisory.status.clone(), advisory.severity), (fixed("1.6.0.2-1"), Severity::High));
    assert_eq!(one(&db, &debian("8"), "txt2man", "CVE-2013-1444").severity, Severity::Low);
    assert_eq!(one(&db, &debian("10"), "backupninja", "CVE-2005-3111").severity, Severity::Medium);
    assert_eq!(one(&db, &debian("8"), "prototypejs", "CVE-2007-2383").status, AdvisoryStatus::NotAffected);
    // chromium in buster: open, urgency end-of-life → affected, noted.
    let advisory = one(&db, &debian("10"), "chromium", "CVE-2022-0456");
    assert_eq!(advisory.status, AdvisoryStatus::Affected);
    assert_eq!(advisory.note.as_deref(), Some("end-of-life"));
    assert_eq!(advisory.severity, Severity::Unknown);
    assert_eq!(one(&db, &debian("11"), "chromium", "CVE-2022-0456").status, fixed("98.0.4758.80-1~deb11u1"));
    assert_eq!(one(&db, &debian("12"), "sope", "CVE-2025-53603").status, fixed("5.8.0-1+deb12u1"));
    // `"releases": []` is accepted: no advisory, no error.
    assert!(db.info().ecosystems.iter().all(|(e, _)| matches!(e, Ecosystem::Debian { .. })));
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
}

#[test]
fn tracker_nodsa_reasons_map_to_will_not_fix_and_fix_deferred() {
    let tracker = br#"{"bash": {
        "CVE-2026-2000": {"description": "d", "releases": {
            "trixie": {"status": "open", "urgency": "low", "nodsa": "Minor issue", "nodsa_reason": "postponed"},
            "bookworm": {"status": "open", "urgency": "unimportant", "nodsa": "Minor issue", "nodsa_reason": "ignored"},
            "bullseye": {"status": "open", "urgency": "medium", "nodsa": "Minor issue", "nodsa_reason": ""},
            "sid": {"status": "undetermined", "urgency": "not yet assigned"},
            "forky": {"status": "resolved"},
            "buster": {"status": "itsfine"}
        }}}}"#;
    let mut db = AdvisoryDb::new();
    let report = db.ingest_reader("tracker.json", &tracker[..]).unwrap();
    let get = |release: &str| one(&db, &debian(release), "bash", "CVE-2026-2000").clone();
    let deferred = get("13");
    assert_eq!(deferred.status, AdvisoryStatus::FixDeferred);
    assert_eq!(deferred.note.as_deref(), Some("no DSA: Minor issue; nodsa_reason: postponed"));
    let ignored = get("12");
    assert_eq!(ignored.status, AdvisoryStatus::WillNotFix);
    assert_eq!(ignored.note.as_deref(), Some("unimportant; no DSA: Minor issue; nodsa_reason: ignored"));
    let plain_nodsa = get("11");
    assert_eq!(
        (plain_nodsa.status, plain_nodsa.note.as_deref()),
        (AdvisoryStatus::Affected, Some("no DSA: Minor issue"))
    );
    let undetermined = get("sid");
    assert_eq!((undetermined.status, undetermined.note.as_deref()), (AdvisoryStatus::Affected, Some("undetermined")));
    // Resolved without a version: kept as affected, and said.
    assert_eq!(get("14").status, AdvisoryStatus::Affected);
    assert!(report.warnings.iter().any(|w| w.contains("resolved without a usable fixed version")), "{report:#?}");
    // An unknown status is skipped, and said.
    assert!(db.advisories_for(&debian("10"), "bash").is_empty());
    assert!(report.warnings.iter().any(|w| w.contains("unknown status \"itsfine\"")), "{report:#?}");
}

// ---- OSV --------------------------------------------------------------------------------

#[test]
fn osv_fixed_range_makes_one_advisory_per_cve_aliased_to_the_dsa() {
    let (db, report) = ingest("osv/DSA-3029-1.json");
    assert_eq!((report.records, report.formats.clone()), (1, vec!["osv".to_owned()]));
    // Debian:7 is wheezy.
    let advisory = one(&db, &debian("wheezy"), "nginx", "CVE-2014-3616");
    assert_eq!(advisory.status, fixed("1.2.1-2.2+wheezy3"));
    assert_eq!(advisory.aliases, ["DSA-3029-1"]);
    assert_eq!(advisory.summary.as_deref(), Some("nginx - security update"));
    assert_eq!(advisory.source, "osv");
    assert_eq!(advisory.severity, Severity::Unknown);
}

#[test]
fn osv_record_without_affected_packages_yields_nothing_and_says_so() {
    let (db, report) = ingest("osv/DLA-3623-1.json");
    assert_eq!(report.records, 0);
    assert!(db.is_empty());
    assert!(
        report.warnings.iter().any(|w| w.contains("DLA-3623-1 has no affected package") && w.contains("44 upstream")),
        "{:?}",
        report.warnings
    );
    assert!(report.warnings.iter().any(|w| w.contains("no advisories were ingested")));
}

#[test]
fn osv_upstream_cves_unfixed_last_affected_severity_and_unknown_ranges() {
    let record = br#"[{
        "id": "DEBIAN-CVE-2024-1111",
        "upstream": ["CVE-2024-1111"],
        "details": "First paragraph\nof the details.\n\nSecond paragraph.",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [
          {"package": {"ecosystem": "Debian:12", "name": "curl"}, "ecosystem_specific": {"urgency": "low"},
           "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "7.88.1-10+deb12u6"}]}]},
          {"package": {"ecosystem": "Debian:11", "name": "curl"},
           "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]},
          {"package": {"ecosystem": "Debian:13", "name": "curl"},
           "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "7.0-1"}, {"last_affected": "8.0-1"}]}]},
          {"package": {"ecosystem": "Alpine:v3.20", "name": "curl"},
           "ranges": [{"type": "GIT", "repo": "https://github.com/curl/curl", "events": [{"introduced": "0"}]},
                      {"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "8.0.0"}]},
                      {"type": "QUANTUM", "events": [{"introduced": "0"}]}]},
          {"package": {"ecosystem": "PyPI", "name": "curl"},
           "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}
        ]},
        {"id": "ALPINE-13661", "summary": "no CVE here",
         "affected": [{"package": {"ecosystem": "Alpine:v3.20", "name": "busybox"},
           "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.35.0-r7"}]}]}]}]"#;
    let mut db = AdvisoryDb::new();
    let report = db.ingest_reader("list.json", &record[..]).unwrap();
    assert_eq!(report.records, 4, "{report:#?}");

    let fixed_12 = one(&db, &debian("12"), "curl", "CVE-2024-1111");
    assert_eq!(fixed_12.status, fixed("7.88.1-10+deb12u6"));
    assert_eq!(fixed_12.aliases, ["DEBIAN-CVE-2024-1111"]);
    // The distribution's urgency wins over CVSS …
    assert_eq!(fixed_12.severity, Severity::Low);
    assert_eq!(fixed_12.summary.as_deref(), Some("First paragraph of the details."));
    // … which applies when there is none.
    let unfixed_11 = one(&db, &debian("11"), "curl", "CVE-2024-1111");
    assert_eq!((unfixed_11.status.clone(), unfixed_11.severity), (AdvisoryStatus::Affected, Severity::Critical));
    let last_affected = one(&db, &debian("13"), "curl", "CVE-2024-1111");
    assert_eq!(last_affected.status, AdvisoryStatus::Affected);
    assert_eq!(last_affected.note.as_deref(), Some("introduced in 7.0-1; last affected version 8.0-1"));
    // GIT and unknown range types: skipped with a warning each, never a panic or silence.
    assert!(db.advisories_for(&Ecosystem::alpine("3.20"), "curl").is_empty());
    let warned = |needle: &str| report.warnings.iter().any(|w| w.contains(needle));
    assert!(warned("a GIT range has no meaning"), "{report:#?}");
    assert!(warned("a SEMVER range has no meaning"), "{report:#?}");
    assert!(warned("unknown range type \"QUANTUM\""), "{report:#?}");
    assert!(warned("ecosystem \"PyPI\" skipped"), "{report:#?}");
    // No CVE: the record's own id.
    let own_id = one(&db, &Ecosystem::alpine("v3.20"), "busybox", "ALPINE-13661");
    assert_eq!((own_id.status.clone(), own_id.aliases.len()), (fixed("1.35.0-r7"), 0));
}

#[test]
fn osv_zip_archive_reads_every_entry() {
    let archive = zip_of(&[
        ("DSA-3029-1.json", &std::fs::read(fixture("osv/DSA-3029-1.json")).unwrap()),
        ("DLA-3623-1.json", &std::fs::read(fixture("osv/DLA-3623-1.json")).unwrap()),
        ("README.txt", b"not json"),
    ]);
    let mut db = AdvisoryDb::new();
    let report = db.ingest_reader("https://example.invalid/Debian/all.zip", &archive[..]).unwrap();
    assert_eq!(report.records, 1);
    assert_eq!(one(&db, &debian("7"), "nginx", "CVE-2014-3616").status, fixed("1.2.1-2.2+wheezy3"));
    assert!(report.warnings.iter().any(|w| w.contains("all.zip!DLA-3623-1.json")), "{report:#?}");
    assert!(report.warnings.iter().any(|w| w.contains("not .json skipped (1×)")), "{report:#?}");

    // The same archive as a file, read in place.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.zip");
    std::fs::write(&path, &archive).unwrap();
    let mut db = AdvisoryDb::new();
    assert_eq!(db.ingest_path(&path).unwrap().records, 1);
}

// ---- Ubuntu OSV ------------------------------------------------------------------------------

fn ubuntu(ecosystem: &str) -> Ecosystem {
    ecosystem.parse().unwrap()
}

/// The ten real Ubuntu records (`ubuntu-osv/`, CC BY-SA 4.0), both shapes: the CVE is the
/// advisory id; each ecosystem (free archive, Pro, FIPS, interim releases) is kept apart;
/// `introduced: 0` alone is affected however short the `versions` list; severity is CVSS,
/// else Ubuntu's priority (entry-level in schema 1.6, record-level `Ubuntu` score in 1.7).
#[test]
fn ubuntu_records_of_both_shapes_map_to_cve_advisories_per_ecosystem() {
    let (db, report) = ingest("ubuntu-osv");
    assert_eq!(report.formats, ["osv"]);
    assert!(!report.warnings.iter().any(|w| w.contains("not a valid OSV record")), "{report:#?}");
    let noble = ubuntu("Ubuntu:24.04:LTS");

    // Old shape: `"id": "CVE-2024-4741"`, map-shaped `binaries`; no CVSS, priority low.
    let old = one(&db, &noble, "openssl", "CVE-2024-4741");
    assert_eq!((&old.status, old.severity, old.aliases.len()), (&fixed("3.0.13-0ubuntu3.2"), Severity::Low, 0));
    // Schema 1.6.3 with the CVE only in `related`: from the id; the USN is an alias.
    let related = one(&db, &noble, "openssl", "CVE-2024-4603");
    assert_eq!(related.status, fixed("3.0.13-0ubuntu3.2"));
    assert_eq!(related.aliases, ["UBUNTU-CVE-2024-4603", "USN-6937-1"]);
    assert_eq!(related.severity, Severity::Low);
    assert_eq!(one(&db, &ubuntu("Ubuntu:24.10"), "openssl", "CVE-2024-4603").status, fixed("3.2.2-1ubuntu1"));
    // Schema 1.7.0 (`upstream`); CVSS 9.8 wins over the priority `medium`.
    let newest = one(&db, &noble, "openssl", "CVE-2025-15467");
    assert_eq!((&newest.status, newest.severity), (&fixed("3.0.13-0ubuntu3.7"), Severity::Critical));
    assert_eq!(newest.aliases, ["UBUNTU-CVE-2025-15467", "USN-7980-1"]);
    assert_eq!(one(&db, &noble, "openssl", "CVE-2024-6119").status, fixed("3.0.13-0ubuntu3.4"));
    // `introduced: 0` only: affected, whatever the `versions` list (it stops at …3.9).
    let unfixed = one(&db, &noble, "openssl", "CVE-2024-41996");
    assert_eq!((&unfixed.status, unfixed.severity), (&AdvisoryStatus::Affected, Severity::High));
    assert_eq!(one(&db, &noble, "coreutils", "CVE-2016-2781").status, AdvisoryStatus::Affected);
    // CVSS v4 only (not computed): the record's `Ubuntu` score `medium`.
    let xz = one(&db, &noble, "xz-utils", "CVE-2025-31115");
    assert_eq!((&xz.status, xz.severity), (&fixed("5.6.1+really5.4.5-1ubuntu0.2"), Severity::Medium));
    // No CVSS, entry priority `medium`.
    let perl = one(&db, &noble, "perl", "CVE-2024-56406");
    assert_eq!((&perl.status, perl.severity), (&fixed("5.38.2-3.2ubuntu0.1"), Severity::Medium));
    assert_eq!(one(&db, &ubuntu("Ubuntu:24.10"), "perl", "CVE-2024-56406").status, fixed("5.38.2-5ubuntu0.1"));
    assert_eq!(one(&db, &noble, "libcap2", "CVE-2025-1390").status, fixed("1:2.66-5ubuntu2.2"));
    // Pro-only fix: the free archive says affected, Pro has the fix.
    assert_eq!(one(&db, &noble, "tomcat9", "CVE-2025-24813").status, AdvisoryStatus::Affected);
    let pro = one(&db, &ubuntu("Ubuntu:Pro:24.04:LTS"), "tomcat9", "CVE-2025-24813");
    assert_eq!((&pro.status, pro.severity), (&fixed("9.0.70-2ubuntu0.1+esm1"), Severity::Critical));
    // FIPS streams are their own ecosystems, never the archive's.
    let fips = ubuntu("Ubuntu:Pro:FIPS-updates:24.04:LTS");
    assert_eq!(one(&db, &fips, "openssl-fips", "CVE-2025-15467").status, fixed("3.0.13-0ubuntu3.12+Fips1"));
    assert!(db.advisories_for(&noble, "openssl-fips").is_empty());
    assert!(db.advisories_for(&noble, "libssl3t64").is_empty(), "advisories are filed under source packages");
    // Every noble openssl advisory, and nothing else, under that key.
    let ids: Vec<&str> = db.advisories_for(&noble, "openssl").iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["CVE-2024-41996", "CVE-2024-4603", "CVE-2024-4741", "CVE-2024-6119", "CVE-2025-15467"]);
}

/// Ubuntu's priority when there is no CVSS, on a crafted record (not Ubuntu's data):
/// `negligible` is low, `untriaged` unknown, an entry's `database_specific` is read too.
#[test]
fn ubuntu_priority_is_the_severity_when_no_cvss_is_given() {
    let crafted = br#"{"schema_version": "1.6.3", "id": "UBUNTU-CVE-2099-0001",
      "details": "CRAFTED for a test; not Ubuntu data.", "related": ["CVE-2099-0001"],
      "affected": [
        {"package": {"ecosystem": "Ubuntu:24.04:LTS", "name": "a"}, "ecosystem_specific": {"ubuntu_priority": "negligible"},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]},
        {"package": {"ecosystem": "Ubuntu:24.04:LTS", "name": "b"}, "ecosystem_specific": {"ubuntu_priority": "untriaged"},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]},
        {"package": {"ecosystem": "Ubuntu:24.04:LTS", "name": "c"}, "database_specific": {"ubuntu_priority": "high"},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]}"#;
    let mut db = AdvisoryDb::new();
    assert_eq!(db.ingest_reader("crafted.json", &crafted[..]).unwrap().records, 3);
    let noble = ubuntu("Ubuntu:24.04:LTS");
    let severity = |package: &str| one(&db, &noble, package, "CVE-2099-0001").severity;
    assert_eq!([severity("a"), severity("b"), severity("c")], [Severity::Low, Severity::Unknown, Severity::High]);
}

/// osv.dev's `Ubuntu/all.zip` shape: the same records in a zip give the same advisories.
#[test]
fn ubuntu_all_zip_reads_like_the_directory() {
    let mut names: Vec<PathBuf> = std::fs::read_dir(fixture("ubuntu-osv"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 10);
    let files: Vec<(String, Vec<u8>)> = names
        .iter()
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(p).unwrap()))
        .collect();
    let entries: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
    let archive = zip_of(&entries);
    let mut zipped = AdvisoryDb::new();
    let report =
        zipped.ingest_reader("https://osv-vulnerabilities.storage.googleapis.com/Ubuntu/all.zip", &archive[..]);
    let report = report.unwrap();
    let (dir, dir_report) = ingest("ubuntu-osv");
    assert_eq!(report.records, dir_report.records);
    assert_eq!(zipped.info().ecosystems, dir.info().ecosystems);
    for (ecosystem, _) in dir.info().ecosystems {
        for package in ["openssl", "openssl-fips", "perl", "coreutils", "xz-utils", "libcap2", "tomcat9", "tomcat10"] {
            assert_eq!(zipped.advisories_for(&ecosystem, package), dir.advisories_for(&ecosystem, package));
        }
    }
    assert!(
        DEFAULT_SOURCES.contains(&("osv-ubuntu", "https://osv-vulnerabilities.storage.googleapis.com/Ubuntu/all.zip"))
    );
}

/// A noble image's database: the free archive and Pro for 24.04, nothing of 22.04, the
/// interim releases or the FIPS streams.
#[test]
fn open_for_noble_loads_the_archive_and_pro_only() {
    let (db, _) = ingest("ubuntu-osv");
    let dir = tempfile::tempdir().unwrap();
    db.save(dir.path()).unwrap();
    let noble = ubuntu("Ubuntu:24.04:LTS");
    let pro = ubuntu("Ubuntu:Pro:24.04:LTS");
    let loaded = AdvisoryDb::open_for(dir.path(), std::slice::from_ref(&noble)).unwrap();
    let count = |ecosystem: &Ecosystem| db.info().ecosystems.iter().find(|(e, _)| e == ecosystem).unwrap().1;
    assert_eq!(loaded.len(), count(&noble) + count(&pro));
    assert_eq!(loaded.advisories_for(&noble, "openssl"), db.advisories_for(&noble, "openssl"));
    assert_eq!(loaded.advisories_for(&pro, "tomcat9"), db.advisories_for(&pro, "tomcat9"));
    for (other, package) in [
        ("Ubuntu:22.04:LTS", "openssl"),
        ("Ubuntu:24.10", "openssl"),
        ("Ubuntu:25.04", "xz-utils"),
        ("Ubuntu:Pro:FIPS-updates:24.04:LTS", "openssl-fips"),
        ("Ubuntu:Pro:22.04:LTS", "tomcat9"),
    ] {
        assert!(!db.advisories_for(&ubuntu(other), package).is_empty(), "{other}");
        assert!(loaded.advisories_for(&ubuntu(other), package).is_empty(), "{other}");
    }
}

// ---- Alpine secdb -------------------------------------------------------------------------

#[test]
fn secdb_fixed_versions_and_zero_key_not_affected() {
    let (db, report) = ingest("alpine-secdb/3.20/main/openssl.json");
    assert_eq!(report.formats, ["alpine-secdb"]);
    let v320 = Ecosystem::alpine("v3.20");
    assert_eq!(one(&db, &v320, "openssl", "CVE-2024-5535").status, fixed("3.3.1-r1"));
    assert_eq!(one(&db, &v320, "openssl", "CVE-2022-1292").status, AdvisoryStatus::NotAffected);
    let advisory = one(&db, &v320, "openssl", "CVE-2021-3711");
    assert_eq!((advisory.status.clone(), advisory.source.as_str()), (fixed("1.1.1l-r0"), "alpine-secdb"));
    assert_eq!(advisory.severity, Severity::Unknown);
    // Every id of the file is there once.
    let text = std::fs::read_to_string(fixture("alpine-secdb/3.20/main/openssl.json")).unwrap();
    assert_eq!(report.records, text.matches("\"CVE-").count());
    assert!(db.advisories_for(&Ecosystem::alpine("3.19"), "openssl").is_empty());
}

#[test]
fn secdb_non_cve_ids_and_branch_files() {
    let (db, _) = ingest("alpine-secdb/3.20/main/busybox.json");
    assert_eq!(one(&db, &Ecosystem::alpine("3.20"), "busybox", "ALPINE-13661").status, fixed("1.35.0-r7"));
    assert_eq!(one(&db, &Ecosystem::alpine("3.20"), "busybox", "CVE-2021-42373").status, AdvisoryStatus::NotAffected);

    let branch = br#"{"apkurl": "{{urlprefix}}/...", "archs": ["x86_64"], "reponame": "main",
        "urlprefix": "https://dl-cdn.alpinelinux.org/alpine", "distroversion": "v3.19",
        "packages": [{"pkg": {"name": "musl", "secfixes": {"1.2.4_git20230717-r5": ["CVE-2025-26519"]}}},
                     {"pkg": {"name": "zlib", "secfixes": {"0": ["CVE-2023-6992"]}}},
                     {"oops": true}]}"#;
    let mut db = AdvisoryDb::new();
    let report = db.ingest_reader("https://secdb.alpinelinux.org/v3.19/main.json", &branch[..]).unwrap();
    assert_eq!(report.records, 2);
    let v319 = Ecosystem::alpine("3.19");
    assert_eq!(one(&db, &v319, "musl", "CVE-2025-26519").status, fixed("1.2.4_git20230717-r5"));
    assert_eq!(one(&db, &v319, "zlib", "CVE-2023-6992").status, AdvisoryStatus::NotAffected);
    assert!(report.warnings.iter().any(|w| w.contains("packages[2]")), "{report:#?}");
}

#[test]
fn a_directory_ingests_every_file_and_warns_about_unknown_formats() {
    let (db, report) = ingest(".");
    let info = db.info();
    assert_eq!(report.formats, ["alpine-secdb", "debian-tracker", "osv"]);
    // Both branches' and both trackers' packages are there.
    assert!(!db.advisories_for(&Ecosystem::alpine("3.19"), "musl").is_empty());
    assert!(!db.advisories_for(&Ecosystem::alpine("3.20"), "zlib").is_empty());
    assert!(!db.advisories_for(&debian("12"), "apparmor").is_empty());
    assert!(!db.advisories_for(&debian("7"), "nginx").is_empty());
    assert_eq!(info.records, report.records);
    assert_eq!(info.sources.len(), 1);
    // vuln-list-debian and Trivy report files are valid JSON in other formats: warned about.
    assert!(report.warnings.iter().any(|w| w.contains("CVE-2021-3450.json") && w.contains("not an advisory format")));
    assert!(report.warnings.iter().any(|w| w.contains("trivy_valid.json")), "{:#?}", report.warnings);
}

// ---- Bad input ------------------------------------------------------------------------------

#[test]
fn malformed_json_is_an_error_naming_the_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.json");
    std::fs::write(&path, "{\n  \"apparmor\": {\n    \"CVE-1\": {\"releases\": {,}}\n").unwrap();
    let error = AdvisoryDb::new().ingest_path(&path).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, Error::Advisory { .. }), "{error:?}");
    assert!(message.contains("broken.json") && message.contains("line 3 column"), "{message}");

    let truncated = &std::fs::read(fixture("debian-tracker/vunnel-debian.json")).unwrap()[..4000];
    let message = AdvisoryDb::new().ingest_reader("tracker-download", truncated).unwrap_err().to_string();
    assert!(message.contains("tracker-download") && message.contains("truncated?"), "{message}");

    let message = AdvisoryDb::new().ingest_reader("empty", &b""[..]).unwrap_err().to_string();
    assert!(message.contains("empty: malformed JSON (truncated?)"), "{message}");
}

#[test]
fn a_failed_ingest_changes_nothing() {
    let mut db = AdvisoryDb::new();
    db.ingest_path(&fixture("osv/DSA-3029-1.json")).unwrap();
    let before = db.info();
    let good = std::fs::read(fixture("alpine-secdb/3.20/main/zlib.json")).unwrap();
    let archive = zip_of(&[("a.json", &good), ("b.json", b"{\"id\": ")]);
    assert!(db.ingest_reader("mixed.zip", &archive[..]).is_err());
    assert_eq!(db.info(), before);
}

#[test]
fn a_zip_with_a_path_traversal_entry_is_refused_as_a_whole() {
    let good = std::fs::read(fixture("osv/DSA-3029-1.json")).unwrap();
    let archive = zip_of(&[("DSA-3029-1.json", &good), ("../../evil.json", &good)]);
    let mut db = AdvisoryDb::new();
    let message = db.ingest_reader("all.zip", &archive[..]).unwrap_err().to_string();
    assert!(message.contains("\"../../evil.json\"") && message.contains("refusing the whole archive"), "{message}");
    assert!(db.is_empty());
    let absolute = zip_of(&[("/etc/evil.json", &good)]);
    assert!(db.ingest_reader("all.zip", &absolute[..]).is_err());
}

#[test]
fn a_truncated_zip_is_a_clear_error() {
    let good = std::fs::read(fixture("osv/DSA-3029-1.json")).unwrap();
    let archive = zip_of(&[("DSA-3029-1.json", &good)]);
    for cut in [archive.len() - 10, archive.len() / 2, 4] {
        let message = AdvisoryDb::new().ingest_reader("all.zip", &archive[..cut]).unwrap_err().to_string();
        assert!(message.contains("all.zip") && message.contains("truncated or corrupted"), "{cut}: {message}");
    }
    // Not truncated, but a corrupted entry: the CRC check names the entry.
    let mut corrupted = zip_of(&[("r.json", &[b' '; 5000])]);
    let flip = corrupted.len() / 3;
    corrupted[flip] ^= 0xff;
    let error = AdvisoryDb::new().ingest_reader("all.zip", &corrupted[..]).unwrap_err().to_string();
    assert!(error.contains("all.zip"), "{error}");
}

#[test]
fn an_oversized_zip_entry_is_refused() {
    // 33 MiB of whitespace deflates to a few kilobytes: a compression bomb in miniature.
    let archive = zip_of(&[("bomb.json", &vec![b' '; 33 << 20])]);
    assert!(archive.len() < 1 << 20);
    let message = AdvisoryDb::new().ingest_reader("all.zip", &archive[..]).unwrap_err().to_string();
    assert!(message.contains("all.zip!bomb.json") && message.contains("allowed per entry"), "{message}");
}

#[test]
fn gzip_and_non_advisory_documents() {
    let message = AdvisoryDb::new().ingest_reader("x.json.gz", &[0x1f, 0x8b, 8, 0][..]).unwrap_err().to_string();
    assert!(message.contains("gzip"), "{message}");
    for document in [&b"42"[..], b"\"text\"", b"null", b"[1, 2]", b"{\"Header\": {\"ID\": \"CVE-1\"}}"] {
        let report = AdvisoryDb::new().ingest_reader("other.json", document).unwrap();
        assert_eq!(report.records, 0);
        assert!(report.warnings.iter().any(|w| w.contains("not an advisory format")), "{report:#?}");
    }
}

// ---- The database -------------------------------------------------------------------------------

#[test]
fn save_then_open_round_trips_every_advisory() {
    let (db, _) = ingest(".");
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("db");
    db.save(&target).unwrap();
    let reopened = AdvisoryDb::open(&target).unwrap();
    assert_eq!(reopened.len(), db.len());
    for (ecosystem, _) in db.info().ecosystems {
        for package in ["apparmor", "nginx", "openssl", "busybox", "zlib", "musl", "apk-tools", "chromium", "sope"] {
            assert_eq!(reopened.advisories_for(&ecosystem, package), db.advisories_for(&ecosystem, package));
        }
    }
    let info = AdvisoryDb::read_info(&target).unwrap();
    assert_eq!(info, db.info());
    assert_eq!(reopened.info(), db.info());
    // Only the two files; no temporary file left behind.
    let mut names: Vec<String> =
        std::fs::read_dir(&target).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["advisories.jsonl", "metadata.json"]);
    let metadata = std::fs::read_to_string(target.join("metadata.json")).unwrap();
    assert!(metadata.contains("\"ingested_at\"") && metadata.contains("Alpine:v3.20"), "{metadata}");
}

#[test]
fn open_for_loads_one_release_and_cannot_be_saved() {
    let (db, _) = ingest(".");
    let dir = tempfile::tempdir().unwrap();
    db.save(dir.path()).unwrap();
    let bookworm = AdvisoryDb::open_for(dir.path(), &[debian("12")]).unwrap();
    assert_eq!(bookworm.advisories_for(&debian("12"), "apparmor"), db.advisories_for(&debian("12"), "apparmor"));
    assert_eq!(bookworm.len(), 5);
    assert!(bookworm.advisories_for(&debian("13"), "apparmor").is_empty());
    assert!(bookworm.advisories_for(&Ecosystem::alpine("3.20"), "zlib").is_empty());
    assert_eq!(bookworm.info().sources, db.info().sources);
    let message = bookworm.save(dir.path()).unwrap_err().to_string();
    assert!(message.contains("some ecosystems only"), "{message}");
    assert_eq!(AdvisoryDb::open(dir.path()).unwrap().len(), db.len());
}

#[test]
fn opening_a_missing_or_damaged_database_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let err = AdvisoryDb::open(dir.path()).unwrap_err();
    assert!(matches!(&err, Error::MissingDatabase { path } if path == dir.path()), "{err:?}");
    let (db, _) = ingest("osv/DSA-3029-1.json");
    db.save(dir.path()).unwrap();
    let data = dir.path().join("advisories.jsonl");
    let text = std::fs::read_to_string(&data).unwrap();
    let header_only = text.lines().next().unwrap().to_owned() + "\n";
    std::fs::write(&data, header_only).unwrap();
    let message = AdvisoryDb::open(dir.path()).unwrap_err().to_string();
    assert!(message.contains("truncated or was modified"), "{message}");
    assert!(!message.contains("oci-harden"), "no command-line advice in library messages: {message}");
    std::fs::write(&data, text.replace("\"version\":1", "\"version\":99")).unwrap();
    let err = AdvisoryDb::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::Database { .. }), "{err:?}");
    assert!(err.to_string().contains("format version 99"), "{err}");
}

#[test]
fn ingesting_a_source_again_replaces_its_advisories() {
    let mut db = AdvisoryDb::new();
    let first = br#"{"name": "zlib", "distroversion": "v3.20", "secfixes": {"1.2.12-r1": ["CVE-2022-37434"]}}"#;
    let second = br#"{"name": "zlib", "distroversion": "v3.20", "secfixes": {"1.2.12-r3": ["CVE-2022-37434"]}}"#;
    db.ingest_reader("https://example.invalid/zlib.json", &first[..]).unwrap();
    db.ingest_path(&fixture("alpine-secdb/3.20/main/zlib.json")).unwrap();
    db.ingest_reader("https://example.invalid/zlib.json", &second[..]).unwrap();
    let from_url: Vec<&Advisory> =
        db.advisories_for(&Ecosystem::alpine("3.20"), "zlib").iter().filter(|a| a.id == "CVE-2022-37434").collect();
    // The fixture's record (fixed in 1.2.12-r2) and the URL's latest one, both kept (the
    // matcher merges); the URL's first one is gone.
    let mut statuses: Vec<AdvisoryStatus> = from_url.iter().map(|a| a.status.clone()).collect();
    statuses.sort_by_key(|s| s.fixed_version().map(str::to_owned));
    assert_eq!(statuses, [fixed("1.2.12-r2"), fixed("1.2.12-r3")]);
    assert_eq!(db.info().sources.len(), 2);
}

#[test]
fn inserted_advisories_are_looked_up_and_saved() {
    let mut db = AdvisoryDb::new();
    db.insert(Advisory {
        id: "CVE-2099-0001".into(),
        aliases: vec!["DSA-9999-1".into()],
        ecosystem: debian("bookworm"),
        package: "util-linux".into(),
        status: fixed("2.38.1-5+deb12u4"),
        severity: Severity::High,
        summary: Some("s".into()),
        note: None,
        source: "test".into(),
    });
    let dir = tempfile::tempdir().unwrap();
    db.save(dir.path()).unwrap();
    let reopened = AdvisoryDb::open(dir.path()).unwrap();
    assert_eq!(reopened.advisories_for(&debian("12"), "util-linux"), db.advisories_for(&debian("12"), "util-linux"));
    assert_eq!(reopened.advisories_for(&debian("12"), "util-linux")[0].severity, Severity::High);
    assert!(reopened.advisories_for(&debian("12"), "bsdutils").is_empty());
}

#[test]
fn default_db_dir_prefers_xdg_cache_home_then_home() {
    let dir = |xdg: Option<&str>, home: Option<&str>| super::db_dir_from(xdg.map(Into::into), home.map(Into::into));
    assert_eq!(dir(Some("/x/cache"), Some("/home/u")), Path::new("/x/cache/oci-harden/advisories"));
    assert_eq!(dir(Some("relative"), Some("/home/u")), Path::new("/home/u/.cache/oci-harden/advisories"));
    assert_eq!(dir(None, Some("/home/u")), Path::new("/home/u/.cache/oci-harden/advisories"));
    assert_eq!(dir(None, None), Path::new(".cache/oci-harden/advisories"));
    assert!(default_db_dir().ends_with("oci-harden/advisories"));
}

// ---- Memory -------------------------------------------------------------------------------------

/// Generates Debian-tracker JSON on the fly: `packages` source packages with `cves` CVE
/// entries each, every entry with a `description_len`-byte description and five releases.
/// Unless `unique_descriptions`, descriptions repeat per package (as real ones repeat per
/// release), so what is kept is small while the document is large: memory must follow what
/// is kept, not the input.
struct TrackerStream {
    packages: usize,
    cves: usize,
    description: String,
    unique_descriptions: bool,
    package: usize,
    chunk: Vec<u8>,
    position: usize,
}

impl TrackerStream {
    fn new(packages: usize, cves: usize, description_len: usize, unique_descriptions: bool) -> Self {
        TrackerStream {
            packages,
            cves,
            description: "x".repeat(description_len),
            unique_descriptions,
            package: 0,
            chunk: b"{".to_vec(),
            position: 0,
        }
    }

    fn next_chunk(&mut self) {
        self.chunk.clear();
        self.position = 0;
        if self.package > self.packages {
            return;
        }
        if self.package == self.packages {
            self.chunk.extend_from_slice(b"}");
            self.package += 1;
            return;
        }
        let separator = if self.package == 0 { "" } else { "," };
        let mut text = format!("{separator}\"pkg{}\":{{", self.package);
        for cve in 0..self.cves {
            let separator = if cve == 0 { "" } else { "," };
            // Distinct text first: summaries keep the first 240 characters.
            let unique = if self.unique_descriptions { format!(" {cve}") } else { String::new() };
            text.push_str(&format!(
                "{separator}\"CVE-2024-{cve}\":{{\"description\":\"{}{unique} {}\",\"scope\":\"remote\",\"releases\":{{",
                self.package, self.description
            ));
            for (i, (codename, status)) in [
                ("bullseye", "open"),
                ("bookworm", "resolved"),
                ("trixie", "resolved"),
                ("forky", "resolved"),
                ("sid", "undetermined"),
            ]
            .iter()
            .enumerate()
            {
                let separator = if i == 0 { "" } else { "," };
                text.push_str(&format!(
                    "{separator}\"{codename}\":{{\"status\":\"{status}\",\"repositories\":{{\"{codename}\":\"1.0-{cve}\"}},\"fixed_version\":\"1.0-{cve}\",\"urgency\":\"low\"}}"
                ));
            }
            text.push_str("}}");
        }
        text.push('}');
        self.chunk = text.into_bytes();
        self.package += 1;
    }
}

impl Read for TrackerStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.position == self.chunk.len() {
            self.next_chunk();
        }
        let n = buf.len().min(self.chunk.len() - self.position);
        buf[..n].copy_from_slice(&self.chunk[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The memory measurements, run by [`a_large_tracker_document_is_streamed_with_bounded_memory`]
/// in child processes, each alone so no other test moves the peak; a no-op otherwise.
///
/// With `$HARDENER_TRACKER_DB` unset: ingests a generated tracker document of
/// `$HARDENER_TRACKER_MEGABYTES` and saves the database to `$HARDENER_TRACKER_SAVE`. With it
/// set: opens that database (only `$HARDENER_TRACKER_ONLY`'s ecosystem if set). Either way writes "bytes records peak-growth-KiB" to
/// `$HARDENER_TRACKER_MEMORY_OUT`.
#[test]
fn large_tracker_child() {
    let Some(out) = std::env::var_os("HARDENER_TRACKER_MEMORY_OUT") else { return };
    let before = peak_rss_kib().unwrap_or(0);
    if let Some(dir) = std::env::var_os("HARDENER_TRACKER_DB") {
        let db = match std::env::var("HARDENER_TRACKER_ONLY") {
            Ok(ecosystem) => AdvisoryDb::open_for(Path::new(&dir), &[ecosystem.parse().unwrap()]).unwrap(),
            Err(_) => AdvisoryDb::open(Path::new(&dir)).unwrap(),
        };
        let after = peak_rss_kib().unwrap_or(0);
        let bytes = std::fs::metadata(Path::new(&dir).join("advisories.jsonl")).unwrap().len();
        std::fs::write(out, format!("{bytes} {} {}", db.len(), after.saturating_sub(before))).unwrap();
        return;
    }
    let megabytes: usize = std::env::var("HARDENER_TRACKER_MEGABYTES").ok().and_then(|s| s.parse().ok()).unwrap_or(64);
    // By default ~2.5 KB per CVE entry (a 2,000-byte description shared by a package's CVEs,
    // five releases). `$HARDENER_TRACKER_REALISTIC` makes descriptions 300 bytes and
    // distinct per CVE, like the real tracker's (~1 KB per entry), for the report's figures.
    // `$HARDENER_TRACKER_DESCRIPTION_LEN` sets the shared description's length instead (few
    // records in a huge document: memory must stay flat however large the input).
    let realistic = std::env::var_os("HARDENER_TRACKER_REALISTIC").is_some();
    let (description_len, entry_bytes) = match std::env::var("HARDENER_TRACKER_DESCRIPTION_LEN") {
        Ok(len) => (len.parse().unwrap(), len.parse::<usize>().unwrap() + 500),
        Err(_) if realistic => (300, 1_050),
        Err(_) => (2_000, 2_500),
    };
    let cves_per_package = 20;
    let packages = megabytes * 1_000_000 / (entry_bytes * cves_per_package);
    let stream = TrackerStream::new(packages, cves_per_package, description_len, realistic);
    let mut counted = CountingReader { inner: stream, bytes: 0 };
    let mut db = AdvisoryDb::new();
    let report = db.ingest_reader("generated-tracker.json", &mut counted).unwrap();
    let after = peak_rss_kib().unwrap_or(0);
    assert_eq!(report.records, packages * cves_per_package * 5);
    std::fs::write(out, format!("{} {} {}", counted.bytes, report.records, after.saturating_sub(before))).unwrap();
    if let Some(save) = std::env::var_os("HARDENER_TRACKER_SAVE") {
        db.save(Path::new(&save)).unwrap();
    }
}

struct CountingReader<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Runs [`large_tracker_child`] in a child process; returns (bytes, records, peak growth KiB).
fn measure_in_child(env: &[(&str, &std::ffi::OsStr)]) -> (u64, u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("memory");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "advisories::tests::large_tracker_child", "--test-threads=1", "--quiet"])
        .env("HARDENER_TRACKER_MEMORY_OUT", &out)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let result = std::fs::read_to_string(&out).unwrap();
    let numbers: Vec<u64> = result.split_whitespace().map(|n| n.parse().unwrap()).collect();
    (numbers[0], numbers[1], numbers[2])
}

#[test]
fn a_large_tracker_document_is_streamed_with_bounded_memory() {
    if peak_rss_kib().is_none() {
        return; // No /proc: nothing to measure here.
    }
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("db");
    let (bytes, records, growth_kib) =
        measure_in_child(&[("HARDENER_TRACKER_MEGABYTES", "48".as_ref()), ("HARDENER_TRACKER_SAVE", saved.as_ref())]);
    assert!(bytes > 45_000_000, "{bytes}");
    // 48 MB in, 96,000 advisories kept (~100 bytes each, one description per package):
    // about 20 MiB. Holding the document, or even its parsed values, would take far more.
    assert!(growth_kib < 32 * 1024, "ingest: peak RSS grew by {growth_kib} KiB for {bytes} bytes, {records} records");
    let (file_bytes, reopened, growth_kib) = measure_in_child(&[("HARDENER_TRACKER_DB", saved.as_ref())]);
    assert_eq!(reopened, records);
    assert!(
        growth_kib < 24 * 1024,
        "open: peak RSS grew by {growth_kib} KiB for {file_bytes} bytes, {records} records"
    );
}

#[test]
fn a_missing_database_is_its_own_error_without_command_line_words() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none");
    for err in [AdvisoryDb::open(&missing).unwrap_err(), AdvisoryDb::read_info(&missing).unwrap_err()] {
        match &err {
            Error::MissingDatabase { path } => assert_eq!(path, &missing),
            other => panic!("expected MissingDatabase, got {other:?}"),
        }
        assert_eq!(err.to_string(), format!("no advisory database in {}", missing.display()));
    }
}
