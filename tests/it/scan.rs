//! `oci-harden scan` and `oci-harden db` end to end: findings on the real Alpine
//! minirootfs images against the real secdb fixtures (expectations written by reading the
//! fixtures), every report format against its schema, the CLI's exit codes and options,
//! the three image transports, `db update` from a local HTTP server, and a real Debian
//! bookworm image.
//!
//! Needs `tar`, `python3` (the HTTP server), `docker-registry` and, for Debian,
//! `mmdebstrap` and `dpkg-query` (see `inventory.rs`), and root.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jsonschema::{Resource, Validator};
use serde_json::{Value, json};

use crate::harness::{
    Auth, Home, Registry, Run, alpine_319, alpine_320, example_layout, fixture, oci_harden, oci_ref, read_json,
    require_tool, tempdir, tool,
};
use crate::inventory::{Layer, debian, dpkg_query, write_image};

// ---------------------------------------------------------------------------------------
// Images, databases and reports

/// A one-layer image of a minirootfs tarball and an advisory database holding the Alpine
/// secdb fixtures, in a temporary directory.
struct Alpine {
    tmp: tempfile::TempDir,
    /// `oci:DIR:t`.
    reference: String,
    /// The database directory.
    db: PathBuf,
}

impl Alpine {
    fn new(tarball: &Path) -> Alpine {
        let tmp = tempdir();
        let layout = tmp.path().join("layout");
        write_image(&layout, "t", &[Layer::Tarball(tarball)]);
        let db = tmp.path().join("db");
        let secdb = fixture("advisories/alpine-secdb");
        oci_harden(&["db", "update", "--db", path_str(&db), "--from", path_str(&secdb)]).ok();
        Alpine { reference: oci_ref(&layout, Some("t")), db, tmp }
    }

    /// `oci-harden scan --db DB REF ARGS`.
    fn scan(&self, args: &[&str]) -> Run {
        scan_with(&self.db, &self.reference, args)
    }

    /// `scan --format json`, which must succeed.
    fn json(&self) -> Value {
        self.scan(&["--format", "json"]).ok().json()
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// `oci-harden scan --db DB ARGS REFERENCE`.
fn scan_with(db: &Path, reference: &str, args: &[&str]) -> Run {
    let mut all = vec!["scan", "--db", path_str(db)];
    all.extend_from_slice(args);
    all.push(reference);
    oci_harden(&all)
}

/// (package, installed version, vulnerability, fixed version).
type Row = (String, String, String, String);

/// The vulnerabilities of a Trivy JSON report as rows; panics on a duplicate row.
fn rows(report: &Value) -> BTreeSet<Row> {
    let mut set = BTreeSet::new();
    for v in vulnerabilities(report) {
        let s = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("{k} is not a string in {v}")).to_owned();
        let row = (s("PkgName"), s("InstalledVersion"), s("VulnerabilityID"), s("FixedVersion"));
        assert!(set.insert(row.clone()), "reported twice: {row:?}");
    }
    set
}

/// Every `Results[].Vulnerabilities[]` object.
fn vulnerabilities(report: &Value) -> Vec<&Value> {
    report["Results"]
        .as_array()
        .unwrap_or_else(|| panic!("no Results array: {report}"))
        .iter()
        .flat_map(|r| r["Vulnerabilities"].as_array().into_iter().flatten())
        .collect()
}

/// The `(package, installed, CVE, fixed)` rows of expectation groups: each group is
/// (binary packages of one origin, installed version, fixed version, CVEs fixed there).
type Group = (&'static [&'static str], &'static str, &'static str, &'static [&'static str]);

fn expand(groups: &[Group]) -> BTreeSet<Row> {
    let mut out = BTreeSet::new();
    for (packages, installed, fixed, cves) in groups {
        for p in *packages {
            for cve in *cves {
                out.insert((p.to_string(), installed.to_string(), cve.to_string(), fixed.to_string()));
            }
        }
    }
    out
}

/// The binary packages built from origin `busybox`, `musl` and `openssl` in both
/// minirootfs (their `o:` lines; tests/fixtures/README.md and inventory.rs list them).
const BUSYBOX: &[&str] = &["busybox", "busybox-binsh", "ssl_client"];
const MUSL: &[&str] = &["musl", "musl-utils"];
const OPENSSL: &[&str] = &["libcrypto3", "libssl3"];

/// Alpine 3.19.4, read from `tests/fixtures/advisories/alpine-secdb/3.19/main/*.json`.
///
/// - apk-tools 2.14.4-r0: the fixes are at 2.12.5-r0 and 2.12.6-r0, both older: nothing.
/// - busybox 1.36.1-r19: only 1.36.1-r21 is newer (1.36.1-r19 < 1.36.1-r21). The
///   1.36.1-r19 entry itself (CVE-2023-42364, CVE-2023-42365) is the installed version,
///   hence fixed; r2, r16, r17 and every 1.27–1.35 entry are older.
/// - musl 1.2.4_git20230717-r4: 1.2.4_git20230717-r5 and -r6 are the same upstream
///   version with a higher package release (-r4 < -r5 < -r6); 1.2.2_pre2-r0, 1.1.23-r2
///   and 1.1.15-r4 are older.
/// - openssl 3.1.7-r0: the fixture's newest fix is 3.1.4-r5 (the README warns that this
///   mirror copy stops there), older than 3.1.7-r0: no openssl finding at all for 3.19.
/// - zlib 1.3.1-r0: fixes at 1.2.11-r4 and 1.2.12-r2, older: nothing.
const EXPECTED_319: &[Group] = &[
    (BUSYBOX, "1.36.1-r19", "1.36.1-r21", &["CVE-2024-58251", "CVE-2025-46394"]),
    (MUSL, "1.2.4_git20230717-r4", "1.2.4_git20230717-r5", &["CVE-2025-26519"]),
    (MUSL, "1.2.4_git20230717-r4", "1.2.4_git20230717-r6", &["CVE-2026-40200", "CVE-2026-6042"]),
];

/// Alpine 3.20.3, read from `tests/fixtures/advisories/alpine-secdb/3.20/main/*.json`.
///
/// - apk-tools 2.14.4-r0: fixes at 2.12.5-r0 and 2.12.6-r0 are older: nothing.
/// - busybox 1.36.1-r29: 1.36.1-r29 < 1.36.1-r31; the 1.36.1-r29 entry
///   (CVE-2023-42364/5) is the installed version; r2, r25, r27 and older are older.
/// - musl 1.2.5-r0: 1.2.5-r0 < 1.2.5-r1 < 1.2.5-r2 < 1.2.5-r3, one CVE each;
///   1.2.2_pre2-r0 and the 1.1.x entries are older.
/// - openssl 3.3.2-r0: newer are 3.3.2-r1 and 3.3.2-r2 (higher release), 3.3.3-r0,
///   3.3.5-r0, 3.3.6-r0 and 3.3.7-r0 (higher upstream version). 3.3.2-r0 itself
///   (CVE-2024-6119) is installed, hence fixed; 3.3.1-r1 and everything from 1.1.1a to
///   3.3.0-r3 is older.
/// - zlib 1.3.1-r1: fixes at 1.2.11-r4 and 1.2.12-r2, older: nothing.
const EXPECTED_320: &[Group] = &[
    (BUSYBOX, "1.36.1-r29", "1.36.1-r31", &["CVE-2024-58251", "CVE-2025-46394"]),
    (MUSL, "1.2.5-r0", "1.2.5-r1", &["CVE-2025-26519"]),
    (MUSL, "1.2.5-r0", "1.2.5-r2", &["CVE-2026-6042"]),
    (MUSL, "1.2.5-r0", "1.2.5-r3", &["CVE-2026-40200"]),
    (OPENSSL, "3.3.2-r0", "3.3.2-r1", &["CVE-2024-9143"]),
    (OPENSSL, "3.3.2-r0", "3.3.2-r2", &["CVE-2024-13176"]),
    (OPENSSL, "3.3.2-r0", "3.3.3-r0", &["CVE-2024-12797"]),
    (OPENSSL, "3.3.2-r0", "3.3.5-r0", &["CVE-2025-9230", "CVE-2025-9231", "CVE-2025-9232"]),
    (
        OPENSSL,
        "3.3.2-r0",
        "3.3.6-r0",
        &[
            "CVE-2025-15467",
            "CVE-2025-15468",
            "CVE-2025-66199",
            "CVE-2025-68160",
            "CVE-2025-69418",
            "CVE-2025-69419",
            "CVE-2025-69420",
            "CVE-2025-69421",
            "CVE-2026-22795",
            "CVE-2026-22796",
        ],
    ),
    (
        OPENSSL,
        "3.3.2-r0",
        "3.3.7-r0",
        &["CVE-2026-28387", "CVE-2026-28388", "CVE-2026-28389", "CVE-2026-28390", "CVE-2026-31789", "CVE-2026-31790"],
    ),
];

/// The secdb key `"0"` lists CVEs Alpine marks as not affecting the package (identical in
/// both branches' fixtures): busybox, openssl, zlib. None may ever be reported.
const NOT_AFFECTED: &[&str] = &[
    "CVE-2021-42373",
    "CVE-2021-42376",
    "CVE-2021-42377",
    "CVE-2022-1292",
    "CVE-2022-2068",
    "CVE-2022-2274",
    "CVE-2023-0466",
    "CVE-2023-4807",
    "CVE-2023-45853",
    "CVE-2023-6992",
];

// ---------------------------------------------------------------------------------------
// 1. Alpine secdb expectations

/// The Alpine acceptance test: scanning the real 3.19.4 and 3.20.3 minirootfs
/// images against the real secdb fixtures reports exactly (not a superset, not a subset)
/// the (binary package, CVE, fixed version) triples written above by reading the fixtures,
/// once per installed binary package of each origin, every one `fixed` with severity
/// `UNKNOWN` (secdb has no severities), and none of the not-affected (`"0"`) CVEs.
#[test]
fn alpine_findings_are_exactly_the_secdb_fixes_newer_than_installed() {
    for (version, tarball, groups, count) in
        [("3.19.4", alpine_319(), EXPECTED_319, 12), ("3.20.3", alpine_320(), EXPECTED_320, 56)]
    {
        let alpine = Alpine::new(&tarball);
        let report = alpine.json();
        let expected = expand(groups);
        assert_eq!(expected.len(), count, "{version}: the expectation tables themselves");
        let ours = rows(&report);
        let missing: Vec<_> = expected.difference(&ours).collect();
        let extra: Vec<_> = ours.difference(&expected).collect();
        assert!(missing.is_empty() && extra.is_empty(), "{version}: missing {missing:#?}\nunexpected {extra:#?}");
        for v in vulnerabilities(&report) {
            assert_eq!((&v["Status"], &v["Severity"]), (&json!("fixed"), &json!("UNKNOWN")), "{version}: {v}");
            let id = v["VulnerabilityID"].as_str().expect("id");
            assert!(!NOT_AFFECTED.contains(&id), "{version}: {id} is listed under \"0\" (not affected)");
        }
        if version == "3.19.4" {
            let openssl: Vec<_> = ours.iter().filter(|r| OPENSSL.contains(&r.0.as_str())).collect();
            assert!(openssl.is_empty(), "3.19's openssl fixture stops at 3.1.4-r5 < 3.1.7-r0: {openssl:?}");
        }
        assert_eq!(report["Metadata"]["OS"]["Family"], "alpine");
        assert_eq!(report["Metadata"]["OS"]["Name"], version);
    }
}

// ---------------------------------------------------------------------------------------
// 2. Formats and schemas

/// Validates `doc`, listing every error.
#[track_caller]
pub(crate) fn assert_valid(validator: &Validator, what: &str, doc: &Value) {
    let errors: Vec<String> = validator.iter_errors(doc).map(|e| format!("{e} (at {})", e.instance_path)).collect();
    assert!(errors.is_empty(), "{what}: {} schema error(s):\n  {}", errors.len(), errors.join("\n  "));
}

fn resource(doc: Value, name: &str) -> Resource {
    Resource::from_contents(doc).unwrap_or_else(|e| panic!("schema {name}: {e}"))
}

/// The OASIS SARIF 2.1.0 schema (draft-04), with formats checked.
pub(crate) fn sarif_schema() -> Validator {
    let schema = read_json(&fixture("schemas/sarif-schema-2.1.0.json"));
    jsonschema::options().should_validate_formats(true).build(&schema).expect("compiling the SARIF schema")
}

/// The CycloneDX 1.5 schema (draft-07). It names itself
/// `http://cyclonedx.org/schema/bom-1.5.schema.json` and refers to `spdx.schema.json` and
/// `jsf-0.82.schema.json` relatively, so both are registered under
/// `http://cyclonedx.org/schema/` (their own `$id`s): nothing is ever fetched.
pub(crate) fn cyclonedx_schema() -> Validator {
    let dir = fixture("schemas/cyclonedx");
    let mut options = jsonschema::options().should_validate_formats(true);
    for name in ["spdx.schema.json", "jsf-0.82.schema.json"] {
        let doc = read_json(&dir.join(name));
        options = options.with_resource(format!("http://cyclonedx.org/schema/{name}"), resource(doc, name));
    }
    options.build(&read_json(&dir.join("bom-1.5.schema.json"))).expect("compiling the CycloneDX schema")
}

/// Our subset schema of Trivy's report (see tests/fixtures/schemas/trivy/README.md).
fn trivy_schema() -> Validator {
    let schema = read_json(&fixture("schemas/trivy/report-subset.schema.json"));
    jsonschema::options().should_validate_formats(true).build(&schema).expect("compiling the Trivy schema")
}

/// `lib/apk/db/installed` of a minirootfs tarball, read with `tar` (not our parser):
/// (`P:`, `V:`) per record, sorted.
fn apk_installed(tarball: &Path) -> Vec<(String, String)> {
    let db = tool("tar", &["-xzOf", path_str(tarball), "./lib/apk/db/installed"]).ok();
    let mut out = Vec::new();
    for record in db.text().split("\n\n").filter(|r| !r.trim().is_empty()) {
        let field = |k: &str| record.lines().find_map(|l| l.strip_prefix(k)).map(str::to_owned);
        out.push((field("P:").expect("P:"), field("V:").expect("V:")));
    }
    out.sort();
    out
}

/// `--format sarif` of the 3.20 scan validates against the OASIS SARIF 2.1.0 schema
/// (which really checks: an unknown `level` is refused), has one result per finding of
/// the JSON report, and every result's `ruleIndex` points at the rule of its `ruleId`.
#[test]
fn sarif_report_validates_against_the_sarif_schema() {
    let alpine = Alpine::new(&alpine_320());
    let sarif = alpine.scan(&["--format", "sarif"]).ok().json();
    let schema = sarif_schema();
    assert_valid(&schema, "SARIF", &sarif);
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0]["level"] = json!("fatal");
    assert!(!schema.is_valid(&broken), "the SARIF schema must refuse level \"fatal\"");

    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    let results = run["results"].as_array().expect("results");
    assert_eq!(results.len(), expand(EXPECTED_320).len());
    for r in results {
        let index = r["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[index]["id"], r["ruleId"], "ruleIndex of {r}");
    }
    let ids: BTreeSet<&str> = rules.iter().map(|r| r["id"].as_str().expect("id")).collect();
    let cves: BTreeSet<String> = expand(EXPECTED_320).into_iter().map(|r| r.2).collect();
    assert_eq!(ids, cves.iter().map(String::as_str).collect(), "one rule per vulnerability");
}

/// `--format cyclonedx` of the 3.20 scan validates against the CycloneDX 1.5 schema
/// (whose `$ref`s to spdx.schema.json are followed: an unknown SPDX licence id is
/// refused), lists every one of the 14 packages with `name` and `version` exactly as the
/// tarball's own `lib/apk/db/installed` has them and a `pkg:apk/alpine/NAME@VERSION` purl,
/// and lists each finding's vulnerability affecting existing components.
#[test]
fn cyclonedx_lists_every_apk_package_and_validates() {
    let tarball = alpine_320();
    let alpine = Alpine::new(&tarball);
    let bom = alpine.scan(&["--format", "cyclonedx"]).ok().json();
    let schema = cyclonedx_schema();
    assert_valid(&schema, "CycloneDX", &bom);
    let mut broken = bom.clone();
    broken["components"][0]["licenses"] = json!([{"license": {"id": "Not-An-SPDX-Id"}}]);
    assert!(!schema.is_valid(&broken), "spdx.schema.json must be reached through the $ref");

    let components = bom["components"].as_array().expect("components");
    let mut ours: Vec<(String, String)> = components
        .iter()
        .map(|c| (c["name"].as_str().expect("name").to_owned(), c["version"].as_str().expect("version").to_owned()))
        .collect();
    ours.sort();
    let installed = apk_installed(&tarball);
    assert_eq!(installed.len(), 14);
    assert_eq!(ours, installed, "components differ from lib/apk/db/installed");
    for c in components {
        let purl = c["purl"].as_str().expect("purl");
        let prefix =
            format!("pkg:apk/alpine/{}@{}?", c["name"].as_str().expect("name"), c["version"].as_str().expect("v"));
        assert!(purl.starts_with(&prefix) && purl.contains("arch=x86_64"), "{purl}");
    }
    let refs: BTreeSet<&str> = components.iter().map(|c| c["bom-ref"].as_str().expect("bom-ref")).collect();
    let vulns = bom["vulnerabilities"].as_array().expect("vulnerabilities");
    let ids: BTreeSet<String> = vulns.iter().map(|v| v["id"].as_str().expect("id").to_owned()).collect();
    let cves: BTreeSet<String> = expand(EXPECTED_320).into_iter().map(|r| r.2).collect();
    assert_eq!(ids, cves);
    let affected: usize = vulns
        .iter()
        .map(|v| {
            let affects = v["affects"].as_array().expect("affects");
            assert!(affects.iter().all(|a| refs.contains(a["ref"].as_str().expect("ref"))), "{v}");
            affects.len()
        })
        .sum();
    assert_eq!(affected, expand(EXPECTED_320).len(), "one affects entry per finding");
}

/// What copa's Trivy parser (`pkg/report/trivy.go`, `ParseWithLibraryPatchLevel`) takes
/// from a report: the OS from `Metadata.OS` (`Family`, `Name`) and, from results of class
/// `os-pkgs`, every vulnerability that has a `FixedVersion`, as (PkgName,
/// InstalledVersion, FixedVersion, VulnerabilityID, the result's Type). Missing fields
/// read as empty strings, as Go's decoder leaves them.
fn copa_update_manifest(report: &Value) -> (String, String, BTreeSet<[String; 5]>) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let os = &report["Metadata"]["OS"];
    let mut updates = BTreeSet::new();
    for result in report["Results"].as_array().into_iter().flatten() {
        if result["Class"] != "os-pkgs" {
            continue;
        }
        for v in result["Vulnerabilities"].as_array().into_iter().flatten() {
            if s(&v["FixedVersion"]).is_empty() {
                continue;
            }
            updates.insert([
                s(&v["PkgName"]),
                s(&v["InstalledVersion"]),
                s(&v["FixedVersion"]),
                s(&v["VulnerabilityID"]),
                s(&result["Type"]),
            ]);
        }
    }
    (s(&os["Family"]), s(&os["Name"]), updates)
}

/// Our Trivy JSON validates against the subset schema written from Trivy's Go types, and
/// so does a real Trivy report (copa's `trivy_valid.json`), so the schema accepts what
/// Trivy writes; the schema refuses a wrong SchemaVersion, severity or status and a
/// vulnerability without PkgName. Read the way copa reads reports, ours yields the OS and
/// every expected fix, and copa's test input yields its one apk-tools update.
#[test]
fn trivy_json_validates_and_reads_like_copa() {
    let schema = trivy_schema();
    let theirs = read_json(&fixture("advisories/trivy-report/trivy_valid.json"));
    assert_valid(&schema, "trivy_valid.json", &theirs);
    let apk_tools = ["apk-tools", "2.12.5-r1", "2.12.6-r0", "CVE-2021-36159", "alpine"].map(String::from);
    assert_eq!(copa_update_manifest(&theirs), ("alpine".into(), "3.14.0".into(), BTreeSet::from([apk_tools])));

    let alpine = Alpine::new(&alpine_320());
    let ours = alpine.json();
    assert_valid(&schema, "our Trivy JSON", &ours);
    let expected: BTreeSet<[String; 5]> =
        expand(EXPECTED_320).into_iter().map(|(p, i, v, f)| [p, i, f, v, "alpine".into()]).collect();
    assert_eq!(copa_update_manifest(&ours), ("alpine".into(), "3.20.3".into(), expected));

    type Mutation = fn(&mut Value);
    let broken: [(&str, Mutation); 4] = [
        ("SchemaVersion 1", |r| r["SchemaVersion"] = json!(1)),
        ("Severity SEVERE", |r| r["Results"][0]["Vulnerabilities"][0]["Severity"] = json!("SEVERE")),
        ("Status bogus", |r| r["Results"][0]["Vulnerabilities"][0]["Status"] = json!("bogus")),
        ("no PkgName", |r| {
            r["Results"][0]["Vulnerabilities"][0].as_object_mut().expect("object").remove("PkgName");
        }),
    ];
    for (what, mutate) in broken {
        let mut doc = ours.clone();
        mutate(&mut doc);
        assert!(!schema.is_valid(&doc), "the Trivy subset schema accepts {what}");
    }
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().map(String::as_str).collect()
}

/// Snapshot of the report shapes: the exact key sets of the Trivy report, its result and
/// every vulnerability object (secdb gives no title, so no `Title`), and of the SARIF
/// run, every result and every rule. A key renamed or dropped breaks consumers.
#[test]
fn report_shapes_are_pinned() {
    let alpine = Alpine::new(&alpine_320());
    let trivy = alpine.json();
    assert_eq!(keys(&trivy), BTreeSet::from(["SchemaVersion", "ArtifactName", "ArtifactType", "Metadata", "Results"]));
    // `RepoDigests` only for registry images (as Trivy); `ImageConfig.architecture` is read by copa.
    assert_eq!(keys(&trivy["Metadata"]), BTreeSet::from(["OS", "ImageID", "DiffIDs", "ImageConfig"]));
    assert_eq!(keys(&trivy["Metadata"]["ImageConfig"]), BTreeSet::from(["architecture", "os"]));
    assert_eq!(keys(&trivy["Results"][0]), BTreeSet::from(["Target", "Class", "Type", "Vulnerabilities"]));
    // No `VendorIDs`: secdb names only CVEs, and empty lists are left out (as Trivy's omitempty).
    let vulnerability = BTreeSet::from([
        "VulnerabilityID",
        "PkgID",
        "PkgName",
        "PkgIdentifier",
        "InstalledVersion",
        "FixedVersion",
        "Status",
        "Layer",
        "SeveritySource",
        "Severity",
        "PrimaryURL",
    ]);
    for v in vulnerabilities(&trivy) {
        assert_eq!(keys(v), vulnerability, "{v}");
        assert_eq!(keys(&v["PkgIdentifier"]), BTreeSet::from(["PURL"]));
        assert_eq!(keys(&v["Layer"]), BTreeSet::from(["DiffID"]));
    }

    let sarif = alpine.scan(&["--format", "sarif"]).ok().json();
    assert_eq!(keys(&sarif), BTreeSet::from(["version", "$schema", "runs"]));
    let run = &sarif["runs"][0];
    assert_eq!(keys(run), BTreeSet::from(["tool", "results", "originalUriBaseIds", "properties"]));
    for r in run["results"].as_array().expect("results") {
        assert_eq!(keys(r), BTreeSet::from(["ruleId", "ruleIndex", "level", "message", "locations"]), "{r}");
    }
    for r in run["tool"]["driver"]["rules"].as_array().expect("rules") {
        assert_eq!(keys(r), BTreeSet::from(["id", "name", "shortDescription", "helpUri", "properties"]), "{r}");
    }
}

// ---------------------------------------------------------------------------------------
// 3. CLI behaviour

/// A Trivy report with one fixed HIGH finding and one unfixed MEDIUM finding, for the
/// thresholds and filters that the secdb findings (all UNKNOWN, all fixed) cannot show.
fn crafted_report(dir: &Path) -> PathBuf {
    let report = json!({
        "SchemaVersion": 2,
        "ArtifactName": "crafted",
        "Metadata": {"OS": {"Family": "alpine", "Name": "3.20.3"}},
        "Results": [{
            "Target": "crafted (alpine 3.20.3)",
            "Class": "os-pkgs",
            "Type": "alpine",
            "Vulnerabilities": [
                {"VulnerabilityID": "CVE-0000-0001", "PkgName": "busybox", "InstalledVersion": "1.36.1-r29",
                 "FixedVersion": "1.36.1-r31", "Severity": "HIGH", "Status": "fixed"},
                {"VulnerabilityID": "CVE-0000-0002", "PkgName": "zlib", "InstalledVersion": "1.3.1-r1",
                 "Severity": "MEDIUM", "Status": "affected"},
            ],
        }],
    });
    let path = dir.join("crafted.json");
    fs::write(&path, serde_json::to_vec(&report).expect("JSON")).expect("writing the crafted report");
    path
}

fn ids(report: &Value) -> Vec<&str> {
    vulnerabilities(report).iter().map(|v| v["VulnerabilityID"].as_str().expect("id")).collect()
}

/// `--fail-on SEVERITY` exits 1 exactly when a finding at or above it remains after the
/// filters, and 0 otherwise, with the report written either way: the Alpine findings are
/// all UNKNOWN (UNKNOWN → 1, LOW and HIGH → 0, lower case accepted); with one HIGH and one
/// MEDIUM finding, HIGH → 1, CRITICAL → 0, and HIGH with `--severity MEDIUM` → 0.
#[test]
fn fail_on_exits_1_only_when_a_finding_at_or_above_remains() {
    let alpine = Alpine::new(&alpine_320());
    for (threshold, code) in [("UNKNOWN", 1), ("unknown", 1), ("LOW", 0), ("HIGH", 0)] {
        let run = alpine.scan(&["--format", "json", "--fail-on", threshold]);
        assert_eq!(run.code, Some(code), "--fail-on {threshold}:\n{}", run.describe());
        assert_eq!(rows(&run.json()).len(), 56, "the report is written whatever the exit code");
    }
    let tmp = tempdir();
    let crafted = crafted_report(tmp.path());
    let from = |args: &[&str]| {
        let mut all = vec!["scan", "--format", "json", "--from-report", path_str(&crafted)];
        all.extend_from_slice(args);
        oci_harden(&all)
    };
    for (args, code) in [
        (&["--fail-on", "HIGH"][..], 1),
        (&["--fail-on", "MEDIUM"], 1),
        (&["--fail-on", "CRITICAL"], 0),
        (&["--fail-on", "HIGH", "--severity", "MEDIUM"], 0),
        (&["--fail-on", "MEDIUM", "--severity", "MEDIUM", "--ignore-unfixed"], 0),
    ] {
        let run = from(args);
        assert_eq!(run.code, Some(code), "{args:?}:\n{}", run.describe());
    }
}

/// `--severity` keeps only the listed severities (`CRITICAL`: no finding, exit 0 even with
/// `--fail-on UNKNOWN`; `LOW,UNKNOWN`: all 56), and `--ignore-unfixed` drops findings
/// without a fixed version (none of the secdb ones; the crafted report's `affected` one).
#[test]
fn severity_and_ignore_unfixed_filter_findings() {
    let alpine = Alpine::new(&alpine_320());
    let run = alpine.scan(&["--format", "json", "--severity", "CRITICAL", "--fail-on", "UNKNOWN"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(rows(&run.json()).is_empty());
    let all = alpine.scan(&["--format", "json", "--severity", "LOW,UNKNOWN"]).ok().json();
    assert_eq!(rows(&all), expand(EXPECTED_320));
    let fixed = alpine.scan(&["--format", "json", "--ignore-unfixed"]).ok().json();
    assert_eq!(rows(&fixed), expand(EXPECTED_320));

    let tmp = tempdir();
    let crafted = crafted_report(tmp.path());
    let report = |extra: &[&str]| {
        let mut args = vec!["scan", "--format", "json", "--from-report", path_str(&crafted)];
        args.extend_from_slice(extra);
        oci_harden(&args).ok().json()
    };
    assert_eq!(ids(&report(&[])), ["CVE-0000-0001", "CVE-0000-0002"]);
    assert_eq!(ids(&report(&["--ignore-unfixed"])), ["CVE-0000-0001"]);
    assert_eq!(ids(&report(&["--severity", "MEDIUM"])), ["CVE-0000-0002"]);
    assert_eq!(ids(&report(&["--severity", "HIGH", "--ignore-unfixed"])), ["CVE-0000-0001"]);
}

/// `--output FILE` writes the report to FILE (replacing what was there, leaving no
/// temporary file beside it) and nothing on standard output; the file holds exactly what
/// standard output would; a failing `--fail-on` still writes it; a usage error (unknown
/// severity) leaves an existing file untouched.
#[test]
fn output_writes_the_file_and_nothing_on_stdout() {
    let alpine = Alpine::new(&alpine_320());
    let out_dir = alpine.tmp.path().join("out");
    fs::create_dir(&out_dir).expect("mkdir");
    let file = out_dir.join("report.json");
    fs::write(&file, "previous content, longer than nothing at all\n".repeat(1000)).expect("writing");
    let stdout = alpine.scan(&["--format", "json"]).ok().stdout;

    let run = alpine.scan(&["--format", "json", "--output", path_str(&file)]).ok();
    assert!(run.stdout.is_empty(), "stdout must be empty with --output: {:?}", run.text());
    assert_eq!(fs::read(&file).expect("the report file"), stdout, "the file differs from stdout's report");
    let names: Vec<_> = fs::read_dir(&out_dir).expect("ls").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(names, ["report.json"], "only the report may be left in its directory");

    fs::remove_file(&file).expect("rm");
    let run = alpine.scan(&["--format", "sarif", "--fail-on", "UNKNOWN", "-o", path_str(&file)]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(run.stdout.is_empty());
    assert_eq!(read_json(&file)["version"], "2.1.0");

    let before = fs::read(&file).expect("report");
    alpine.scan(&["--format", "json", "--severity", "SEVERE", "--output", path_str(&file)]).fails_with(&["SEVERE"]);
    assert_eq!(fs::read(&file).expect("report"), before, "a failed run must not touch the output file");
}

/// An unknown severity in `--severity` or `--fail-on` is a usage error (exit 2) whose
/// message names the value and the valid ones.
#[test]
fn unknown_severity_is_a_clear_error() {
    let alpine = Alpine::new(&alpine_320());
    for args in [["--severity", "HIGH,SEVERE"], ["--fail-on", "SEVERE"]] {
        let stderr = alpine.scan(&args).fails_with(&["unknown severity \"SEVERE\"", "CRITICAL"]);
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// Scanning without a database fails with exit 2 and says to run `oci-harden db update`,
/// both with `--db DIR` and with the default directory under `$XDG_CACHE_HOME`.
#[test]
fn scanning_without_a_database_says_to_run_db_update() {
    let tmp = tempdir();
    let missing = tmp.path().join("no-db");
    let reference = oci_ref(&example_layout(), Some("3.20"));
    scan_with(&missing, &reference, &[]).fails_with(&["oci-harden db update", path_str(&missing)]);
    let home = Home::new();
    let default = home.cache().join("oci-harden/advisories");
    home.oci_harden(&["scan", &reference]).fails_with(&["oci-harden db update", path_str(&default)]);
}

/// `scan --from-report` reads a real Trivy report (copa's test input) and reproduces its
/// one finding: apk-tools 2.12.5-r1, CVE-2021-36159, fixed in 2.12.6-r0.
#[test]
fn from_report_reproduces_the_trivy_finding() {
    let input = fixture("advisories/trivy-report/trivy_valid.json");
    let report = oci_harden(&["scan", "--format", "json", "--from-report", path_str(&input)]).ok().json();
    let expected =
        ("apk-tools".to_owned(), "2.12.5-r1".to_owned(), "CVE-2021-36159".to_owned(), "2.12.6-r0".to_owned());
    assert_eq!(rows(&report), BTreeSet::from([expected]));
    assert_eq!(vulnerabilities(&report)[0]["Status"], "fixed");
    assert_eq!(report["Results"][0]["Class"], "os-pkgs");
}

/// A Trivy report read with `--from-report` and written back as `--format json` is still
/// a valid Trivy report that copa can use: it keeps the input's OS (`alpine` `3.14.0`, and
/// the result's `Type`, from which copa picks the package manager) and validates against
/// the subset schema (no `null` where Trivy writes a string or an object).
#[test]
fn from_report_round_trip_keeps_the_os_and_stays_valid() {
    let input = fixture("advisories/trivy-report/trivy_valid.json");
    let report = oci_harden(&["scan", "--format", "json", "--from-report", path_str(&input)]).ok().json();
    let (family, name, updates) = copa_update_manifest(&report);
    assert_eq!(updates.len(), 1, "{report}");
    let mut problems = Vec::new();
    if (family.as_str(), name.as_str()) != ("alpine", "3.14.0") {
        problems.push(format!("Metadata.OS is {} instead of the input's alpine 3.14.0", report["Metadata"]["OS"]));
    }
    if report["Results"][0]["Type"] != "alpine" {
        problems.push(format!("Results[0].Type is {} instead of \"alpine\"", report["Results"][0]["Type"]));
    }
    for e in trivy_schema().iter_errors(&report) {
        problems.push(format!("schema: {e} (at {})", e.instance_path));
    }
    assert!(problems.is_empty(), "--from-report round trip:\n  {}\n{report:#}", problems.join("\n  "));
}

/// The same image scanned as an OCI layout, as a docker-archive written by `oci-harden
/// copy`, and from a real registry it was pushed to gives identical findings, OS, image ID
/// and layer diff IDs (only names differ), and those findings are the expected ones.
#[test]
fn layout_docker_archive_and_registry_give_the_same_findings() {
    let alpine = Alpine::new(&alpine_320());
    let example = oci_ref(&example_layout(), Some("3.20"));
    let archive = alpine.tmp.path().join("alpine.tar");
    let archive_ref = format!("docker-archive:{}", archive.display());
    oci_harden(&["copy", "--quiet", &example, &archive_ref]).ok();
    let registry = Registry::start(Auth::Anonymous);
    let home = Home::new();
    let remote = registry.image("scan/alpine:3.20");
    home.oci_harden(&["copy", "--quiet", &example, &remote]).ok();

    let db = path_str(&alpine.db);
    let layout = scan_with(&alpine.db, &example, &["--format", "json"]).ok().json();
    let docker = scan_with(&alpine.db, &archive_ref, &["--format", "json"]).ok().json();
    let pulled = home.oci_harden(&["scan", "--db", db, "--format", "json", &remote]).ok().json();
    assert_eq!(rows(&layout), expand(EXPECTED_320));
    for (name, other) in [("docker-archive", &docker), ("registry", &pulled)] {
        assert_eq!(
            vulnerabilities(other),
            vulnerabilities(&layout),
            "{name}: the vulnerability objects differ from the layout's"
        );
        for key in ["OS", "ImageID", "DiffIDs"] {
            assert_eq!(other["Metadata"][key], layout["Metadata"][key], "{name}: Metadata.{key}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// 4. db update from a local HTTP server

/// `python3 -m http.server` serving a directory on a free loopback port; killed (by its
/// own process id) when dropped.
struct HttpServer {
    child: Child,
    port: u16,
}

impl HttpServer {
    /// Starts the server and waits (up to 15 s) until it answers `GET /`. A port taken
    /// between choosing and binding makes python exit: another port is tried.
    fn start(dir: &Path) -> HttpServer {
        let python = require_tool("python3");
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("address").port();
            let mut child = Command::new(&python)
                .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string(), "--directory", path_str(dir)])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting python3 -m http.server");
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if child.try_wait().expect("polling the server").is_some() {
                    break;
                }
                if http_status(port, "/") == Some(200) {
                    return HttpServer { child, port };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("python3 -m http.server did not start serving {}", dir.display());
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status of `GET PATH` on the loopback port, `None` if nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// `db info` without the ingest times (which change on every update).
fn db_info(db: &Path) -> Vec<String> {
    let run = oci_harden(&["db", "info", "--db", path_str(db)]).ok();
    run.text().lines().map(|l| l.split("; ingested ").next().unwrap_or(l).to_owned()).collect()
}

/// How many records a secdb file gives: one per (key, CVE), the `"0"` (not affected)
/// entries included, since the database keeps not-affected statuses too.
fn secdb_records(path: &Path) -> usize {
    read_json(path)["secfixes"].as_object().expect("secfixes").values().map(|v| v.as_array().expect("list").len()).sum()
}

/// `db update --from URL --from URL` downloads from a local HTTP server: `db info` lists
/// both URLs as sources with their formats and record counts (busybox.json: every
/// (key, CVE) of the file, 31; DSA-3029-1: one affected package, 1); running the same
/// update again replaces those records instead of adding them; a 404 fails with exit 2
/// naming the URL and the status, and saves nothing (a good source before it included).
#[test]
fn db_update_downloads_from_http_and_replaces_on_rerun() {
    let advisories = fixture("advisories");
    let server = HttpServer::start(&advisories);
    let busybox = server.url("alpine-secdb/3.20/main/busybox.json");
    let dsa = server.url("osv/DSA-3029-1.json");
    let busybox_records = secdb_records(&advisories.join("alpine-secdb/3.20/main/busybox.json"));
    assert_eq!(busybox_records, 31, "28 fixed entries and 3 not-affected ones in the fixture");
    let tmp = tempdir();
    let db = tmp.path().join("db");
    let update = |urls: &[&str]| {
        let mut args = vec!["db", "update", "--db", path_str(&db)];
        for u in urls {
            args.extend(["--from", u]);
        }
        oci_harden(&args)
    };

    update(&[&busybox, &dsa]).ok();
    let info = db_info(&db);
    let expected = [
        format!("database {}: {} records", db.display(), busybox_records + 1),
        format!("  source {busybox}  (alpine-secdb; {busybox_records} records, 0 warnings"),
        format!("  source {dsa}  (osv; 1 records, 0 warnings"),
    ];
    for line in &expected {
        assert!(info.contains(line), "db info lacks {line:?}:\n{}", info.join("\n"));
    }
    assert_eq!(info.iter().filter(|l| l.trim_start().starts_with("source ")).count(), 2, "{info:#?}");

    update(&[&busybox, &dsa]).ok();
    assert_eq!(db_info(&db), info, "a second identical update must replace, not add");

    let missing = server.url("alpine-secdb/3.20/main/no-such-package.json");
    let zlib = server.url("alpine-secdb/3.20/main/zlib.json");
    update(&[&zlib, &missing]).fails_with(&[&missing, "404"]);
    assert_eq!(db_info(&db), info, "a failed update must leave the database as it was");
}

// ---------------------------------------------------------------------------------------
// 5. Debian

/// Source packages that the tracker fixture (vunnel's debian.json) has a bookworm entry
/// for. The OSV fixtures are for Debian 7 (DSA-3029-1) and Debian 10 (DLA-3623-1) and can
/// give no bookworm finding.
fn tracker_bookworm_sources() -> BTreeSet<String> {
    let tracker = read_json(&fixture("advisories/debian-tracker/vunnel-debian.json"));
    tracker
        .as_object()
        .expect("source → CVEs")
        .iter()
        .filter(|(_, cves)| {
            cves.as_object().into_iter().flatten().any(|(_, c)| c["releases"].get("bookworm").is_some())
        })
        .map(|(source, _)| source.clone())
        .collect()
}

/// Percent-decoding, for purl versions (`1%3A2.38` → `1:2.38`).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ASCII");
            out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("UTF-8")
}

/// The real Debian bookworm image (mmdebstrap minbase) scanned against the Debian tracker
/// and OSV fixtures: the scan succeeds; the OS is debian 12 (codename bookworm in the
/// purls' `distro`); CycloneDX lists every package `dpkg-query -W` lists, with `version`
/// exactly as it prints `${Version}` (epochs included) and the same version in the purl;
/// both reports validate; and every finding (there may be none) is in a package whose
/// source package has a bookworm entry in the tracker fixture.
#[test]
fn debian_scan_lists_dpkg_versions_and_matches_only_tracked_sources() {
    let deb = debian();
    let tmp = tempdir();
    let db = tmp.path().join("db");
    let tracker = fixture("advisories/debian-tracker/vunnel-debian.json");
    let osv = fixture("advisories/osv");
    oci_harden(&["db", "update", "--db", path_str(&db), "--from", path_str(&tracker), "--from", path_str(&osv)]).ok();
    let reference = oci_ref(&deb.layout, Some("bookworm"));

    let report = scan_with(&db, &reference, &["--format", "json"]).ok().json();
    assert_valid(&trivy_schema(), "Debian Trivy JSON", &report);
    assert_eq!(
        (&report["Metadata"]["OS"]["Family"], &report["Metadata"]["OS"]["Name"]),
        (&json!("debian"), &json!("12"))
    );
    assert_eq!(report["Results"][0]["Type"], "debian");

    let bom = scan_with(&db, &reference, &["--format", "cyclonedx"]).ok().json();
    assert_valid(&cyclonedx_schema(), "Debian CycloneDX", &bom);
    let components = bom["components"].as_array().expect("components");
    let mut ours: Vec<String> = components
        .iter()
        .map(|c| format!("{} {}", c["name"].as_str().expect("name"), c["version"].as_str().expect("version")))
        .collect();
    ours.sort();
    let theirs = dpkg_query(&deb.admindir, "${Package} ${Version}\n");
    assert_eq!(ours, theirs, "CycloneDX components differ from dpkg-query -W");
    assert!(theirs.iter().any(|l| l.split(' ').nth(1).is_some_and(|v| v.contains(':'))), "no epoch in {theirs:?}");
    for c in components {
        let (name, version) = (c["name"].as_str().expect("name"), c["version"].as_str().expect("version"));
        let purl = c["purl"].as_str().expect("purl");
        let rest = purl.strip_prefix(&format!("pkg:deb/debian/{name}@")).unwrap_or_else(|| panic!("{purl}"));
        let (encoded, query) = rest.split_once('?').unwrap_or_else(|| panic!("no qualifiers in {purl}"));
        assert_eq!(percent_decode(encoded), version, "{purl}");
        assert!(query.split('&').any(|q| q == "distro=debian-bookworm"), "{purl}");
    }

    let sources: BTreeMap<String, String> = dpkg_query(&deb.admindir, "${Package} ${source:Package}\n")
        .into_iter()
        .map(|l| {
            let (p, s) = l.split_once(' ').expect("two fields");
            (p.to_owned(), s.to_owned())
        })
        .collect();
    let tracked = tracker_bookworm_sources();
    assert!(!tracked.is_empty());
    for v in vulnerabilities(&report) {
        let package = v["PkgName"].as_str().expect("PkgName");
        let source = sources.get(package).unwrap_or_else(|| panic!("{package} is not installed"));
        assert!(tracked.contains(source), "{package} (source {source}) has no bookworm entry in the tracker: {v}");
    }
}

/// The OpenVEX 0.2.0 schema (draft 2020-12), with formats checked.
pub(crate) fn openvex_schema() -> Validator {
    let schema = read_json(&fixture("schemas/openvex/openvex_json_schema.json"));
    jsonschema::options().should_validate_formats(true).build(&schema).expect("compiling the OpenVEX schema")
}

/// OpenVEX of a patch (library side; the patch command feeds it its before/after scans): a
/// scan of the shipped Alpine image as "before", the same scan with busybox upgraded past
/// its fixes as "after". busybox's CVEs are `fixed` for the new image, everything else
/// `affected` with the reason, and the document validates against the OpenVEX schema.
#[test]
fn openvex_of_a_patch_validates_and_says_what_was_fixed() {
    let alpine = Alpine::new(&alpine_320());
    let reference: oci_core::Reference = alpine.reference.parse().expect("a reference");
    let image = oci_core::ImageSource::open(&reference).expect("open").image(None).expect("an image");
    let before =
        hardener::scan_with_db_dir(&alpine.reference, &image, &alpine.db, &hardener::today_utc()).expect("a scan");
    let mut after = before.clone();
    for p in after.packages.iter_mut().filter(|p| p.name.starts_with("busybox")) {
        p.version = "1.36.1-r31".into();
    }
    after.findings.retain(|f| !f.package.starts_with("busybox"));
    let product = hardener::oci_purl("alpine", "sha256:0123456789abcdef", None);
    let vex = serde_json::to_value(hardener::to_openvex(&before, &after, &product, "2026-12-07T00:00:00Z")).unwrap();
    assert_valid(&openvex_schema(), "OpenVEX", &vex);
    let statements = vex["statements"].as_array().expect("statements");
    let fixed: BTreeSet<&str> = statements
        .iter()
        .filter(|s| s["status"] == "fixed")
        .map(|s| s["vulnerability"]["name"].as_str().expect("a name"))
        .collect();
    let busybox: BTreeSet<&str> =
        before.findings.iter().filter(|f| f.package == "busybox").map(|f| f.vulnerability_id.as_str()).collect();
    assert_eq!(fixed, busybox);
    for s in statements.iter().filter(|s| s["status"] == "fixed") {
        let subs = &s["products"][0]["subcomponents"];
        assert!(subs.as_array().expect("subcomponents").iter().all(|c| {
            c["@id"].as_str().is_some_and(|p| p.starts_with("pkg:apk/alpine/busybox") && p.contains("@1.36.1-r31"))
        }));
    }
    let affected = statements.iter().filter(|s| s["status"] == "affected").count();
    let remaining: BTreeSet<&str> = after.findings.iter().map(|f| f.vulnerability_id.as_str()).collect();
    assert_eq!(affected, remaining.len());
    assert!(statements.iter().filter(|s| s["status"] == "affected").all(|s| s["action_statement"].is_string()));
}

/// `sbom` needs no advisory database (it never opens one): the same 14 components as `lib/apk/db/installed`, a valid CycloneDX 1.5 document, no
/// vulnerabilities; the components equal those of a scan's CycloneDX output.
#[test]
fn sbom_needs_no_database_and_lists_every_package() {
    let tarball = alpine_320();
    let alpine = Alpine::new(&tarball);
    let empty = tempdir();
    let out = empty.path().join("sbom.json");
    let run = oci_harden(&["sbom", &alpine.reference, "--output", path_str(&out)]).ok();
    assert!(run.stdout.is_empty());
    let bom: Value = serde_json::from_slice(&fs::read(&out).unwrap()).unwrap();
    assert_valid(&cyclonedx_schema(), "CycloneDX", &bom);
    let mut ours: Vec<(String, String)> = bom["components"]
        .as_array()
        .expect("components")
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_owned(), c["version"].as_str().unwrap().to_owned()))
        .collect();
    ours.sort();
    assert_eq!(ours, apk_installed(&tarball));
    assert_eq!(bom["vulnerabilities"], json!([]));
    let scanned = alpine.scan(&["--format", "cyclonedx"]).ok().json();
    assert_eq!(bom["components"], scanned["components"]);
    assert_eq!(bom["metadata"]["component"], scanned["metadata"]["component"]);
}
