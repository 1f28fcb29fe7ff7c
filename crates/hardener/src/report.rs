//! Scan reports for people (a table) and for tools: Trivy-compatible JSON, SARIF 2.1.0 and
//! CycloneDX 1.5. Every format is deterministic for a given report.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::scan::{Finding, FindingStatus, ScanReport};
use crate::{Error, OsInfo, Package, PackageFormat, Result, Severity};

const TOOL: &str = "oci-harden";
const TOOL_URI: &str = "https://example.invalid/oci-harden";

fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Unknown => "UNKNOWN",
        Severity::Low => "LOW",
        Severity::Medium => "MEDIUM",
        Severity::High => "HIGH",
        Severity::Critical => "CRITICAL",
    }
}

/// Parses a severity name as Trivy writes it (case-insensitive).
pub fn parse_severity(s: &str) -> Option<Severity> {
    Some(match s.to_ascii_uppercase().as_str() {
        "UNKNOWN" => Severity::Unknown,
        "LOW" => Severity::Low,
        "MEDIUM" => Severity::Medium,
        "HIGH" => Severity::High,
        "CRITICAL" => Severity::Critical,
        _ => return None,
    })
}

/// The package URL of an installed package (`pkg:deb/debian/NAME@VER?arch=…&distro=…`).
pub fn purl(p: &Package, os: Option<&OsInfo>) -> String {
    let (kind, namespace) = match p.format {
        PackageFormat::Dpkg => ("deb", os.map_or("debian", |o| o.id.as_str())),
        PackageFormat::Apk => ("apk", os.map_or("alpine", |o| o.id.as_str())),
    };
    let mut q = Vec::new();
    if let Some(a) = &p.architecture {
        q.push(format!("arch={}", encode(a)));
    }
    if let Some(o) = os {
        let distro = match (&o.codename, &o.version_id) {
            (Some(c), _) if p.format == PackageFormat::Dpkg => format!("{}-{}", o.id, c),
            (_, Some(v)) => format!("{}-{}", o.id, v),
            _ => o.id.clone(),
        };
        q.push(format!("distro={}", encode(&distro)));
    }
    let query = if q.is_empty() { String::new() } else { format!("?{}", q.join("&")) };
    format!("pkg:{kind}/{namespace}/{}@{}{query}", encode(&p.name), encode(&p.version))
}

/// Percent-encodes what package URLs reserve (`:` in epochs becomes `%3A`).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~' | b'+') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A fixed-width table: package, installed, fixed, vulnerability, severity, status, and
/// a summary line. Warnings are not included: the CLI prints them on standard error.
pub fn to_table(report: &ScanReport) -> String {
    let mut out = String::new();
    if let Some(os) = &report.os {
        let _ = writeln!(out, "{} ({} {})", report.target, os.id, os.version_id.as_deref().unwrap_or("?"));
    } else {
        let _ = writeln!(out, "{}", report.target);
    }
    let rows: Vec<[String; 6]> = report
        .findings
        .iter()
        .map(|f| {
            [
                f.package.clone(),
                f.installed_version.clone(),
                f.fixed_version.clone().unwrap_or_default(),
                f.vulnerability_id.clone(),
                severity_name(f.severity).to_owned(),
                f.status.as_str().to_owned(),
            ]
        })
        .collect();
    let header = ["PACKAGE", "INSTALLED", "FIXED", "VULNERABILITY", "SEVERITY", "STATUS"];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ");
            }
        }
        l.trim_end().to_owned()
    };
    let _ = writeln!(out, "{}", line(&header));
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        let _ = writeln!(out, "{}", line(&cells));
    }
    let mut counts = [0usize; 5];
    for f in &report.findings {
        counts[f.severity as usize] += 1;
    }
    let _ = writeln!(
        out,
        "\n{} packages, {} findings (CRITICAL {}, HIGH {}, MEDIUM {}, LOW {}, UNKNOWN {})",
        report.packages.len(),
        report.findings.len(),
        counts[Severity::Critical as usize],
        counts[Severity::High as usize],
        counts[Severity::Medium as usize],
        counts[Severity::Low as usize],
        counts[Severity::Unknown as usize]
    );
    out
}

fn os_type(report: &ScanReport) -> &str {
    report.os.as_ref().map_or("unknown", |o| o.id.as_str())
}

/// A Trivy-compatible JSON report (`SchemaVersion: 2`): one result of class `os-pkgs`,
/// one vulnerability per installed binary package and vulnerability — the shape copa and
/// other Trivy consumers read. Like Trivy (Go's `omitempty`), absent values are left out
/// rather than written as `null`.
pub fn to_trivy_json(report: &ScanReport) -> Value {
    let os = report.os.as_ref();
    let target = match os {
        Some(o) => format!("{} ({} {})", report.target, o.id, o.version_id.as_deref().unwrap_or("")),
        None => report.target.clone(),
    };
    let vulns: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let package = report.packages.iter().find(|p| p.name == f.package && p.version == f.installed_version);
            let mut v = json!({
                "VulnerabilityID": f.vulnerability_id,
                "PkgID": format!("{}@{}", f.package, f.installed_version),
                "PkgName": f.package,
                "InstalledVersion": f.installed_version,
                "FixedVersion": f.fixed_version.clone().unwrap_or_default(),
                "Status": f.status.as_str(),
                "SeveritySource": os_type(report),
                "Severity": severity_name(f.severity),
            });
            if !f.advisory_ids.is_empty() {
                v["VendorIDs"] = json!(f.advisory_ids);
            }
            if let Some(p) = package.filter(|p| !p.db_path.is_empty()) {
                v["PkgIdentifier"] = json!({"PURL": purl(p, os)});
            }
            if let Some(diff_id) = f.layer.and_then(|l| report.diff_ids.get(l)) {
                v["Layer"] = json!({"DiffID": diff_id});
            }
            if let Some(s) = &f.summary {
                v["Title"] = json!(s);
            }
            if f.vulnerability_id.starts_with("CVE-") {
                v["PrimaryURL"] = json!(format!("https://avd.aquasec.com/nvd/{}", f.vulnerability_id.to_lowercase()));
            }
            v
        })
        .collect();
    let mut metadata = serde_json::Map::new();
    if let Some(o) = os {
        let mut os_json = json!({"Family": o.id});
        if let Some(name) = &o.version_id {
            os_json["Name"] = json!(name);
        }
        if o.eol.as_ref().is_some_and(|e| e.reached) {
            os_json["EOSL"] = json!(true);
        }
        metadata.insert("OS".into(), os_json);
    }
    if let Some(id) = &report.config_digest {
        metadata.insert("ImageID".into(), json!(id));
    }
    if !report.diff_ids.is_empty() {
        metadata.insert("DiffIDs".into(), json!(report.diff_ids));
    }
    if let (Some(digest), Ok(oci_core::Reference::Registry(name))) =
        (&report.image_digest, report.target.parse::<oci_core::Reference>())
    {
        metadata.insert("RepoDigests".into(), json!([format!("{}/{}@{digest}", name.registry(), name.repository())]));
    }
    if let Some(arch) = &report.architecture {
        metadata.insert("ImageConfig".into(), json!({"architecture": arch, "os": "linux"}));
    }
    json!({
        "SchemaVersion": 2,
        "ArtifactName": report.target,
        "ArtifactType": "container_image",
        "Metadata": metadata,
        "Results": [{
            "Target": target,
            "Class": "os-pkgs",
            "Type": os_type(report),
            "Vulnerabilities": vulns,
        }],
    })
}

/// SARIF 2.1.0 for code scanning: one rule per vulnerability id (stable ids), one result
/// per finding located at the package database that lists the package.
pub fn to_sarif(report: &ScanReport) -> Value {
    let mut rule_ids: Vec<&str> = report.findings.iter().map(|f| f.vulnerability_id.as_str()).collect();
    rule_ids.sort();
    rule_ids.dedup();
    let rules: Vec<Value> = rule_ids
        .iter()
        .map(|id| {
            let f = report.findings.iter().find(|f| f.vulnerability_id == *id).expect("collected from findings");
            let score = match f.severity {
                Severity::Critical => "9.5",
                Severity::High => "8.0",
                Severity::Medium => "5.5",
                Severity::Low => "2.0",
                Severity::Unknown => "0.0",
            };
            json!({
                "id": id,
                "name": "OsPackageVulnerability",
                "shortDescription": {"text": f.summary.clone().unwrap_or_else(|| format!("{id} in {}", f.source_name))},
                "helpUri": format!("https://avd.aquasec.com/nvd/{}", id.to_lowercase()),
                "properties": {"security-severity": score, "tags": ["vulnerability", "security", severity_name(f.severity)]},
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let db_path = report
                .packages
                .iter()
                .find(|p| p.name == f.package && p.version == f.installed_version)
                .map_or_else(|| "var/lib/dpkg/status".to_owned(), |p| p.db_path.trim_start_matches('/').to_owned());
            json!({
                "ruleId": f.vulnerability_id,
                "ruleIndex": rule_ids.binary_search(&f.vulnerability_id.as_str()).unwrap_or(0),
                "level": match f.severity {
                    Severity::Critical | Severity::High => "error",
                    Severity::Medium => "warning",
                    _ => "note",
                },
                "message": {"text": format!(
                    "Package: {}\nInstalled Version: {}\nVulnerability {}\nSeverity: {}\nFixed Version: {}\nStatus: {}",
                    f.package, f.installed_version, f.vulnerability_id, severity_name(f.severity),
                    f.fixed_version.as_deref().unwrap_or(""), f.status.as_str()
                )},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": db_path, "uriBaseId": "ROOTPATH"},
                        "region": {"startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 1},
                    },
                    "message": {"text": format!("{}: {}@{}", report.target, f.package, f.installed_version)},
                }],
            })
        })
        .collect();
    json!({
        "version": "2.1.0",
        "$schema": "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/main/sarif-2.1/schema/sarif-schema-2.1.0.json",
        "runs": [{
            "tool": {"driver": {
                "name": TOOL,
                "informationUri": TOOL_URI,
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
            "originalUriBaseIds": {"ROOTPATH": {"uri": "file:///"}},
            "properties": {"imageName": report.target, "imageDigest": report.image_digest},
        }],
    })
}

/// A CycloneDX 1.5 JSON SBOM: every installed package (name and version exactly as the
/// package database has them), with package URLs, and the findings as vulnerabilities.
pub fn to_cyclonedx(report: &ScanReport) -> Value {
    let os = report.os.as_ref();
    let mut components: Vec<Value> = report
        .packages
        .iter()
        .map(|p| {
            let purl = purl(p, os);
            let mut props = vec![
                json!({"name": "oci-harden:package:source_name", "value": p.source_name}),
                json!({"name": "oci-harden:package:source_version", "value": p.source_version}),
            ];
            if let Some(l) = p.layer.and_then(|l| report.diff_ids.get(l)) {
                props.push(json!({"name": "oci-harden:layer:diff_id", "value": l}));
            }
            json!({"type": "library", "bom-ref": purl, "name": p.name, "version": p.version, "purl": purl, "properties": props})
        })
        .collect();
    components.sort_by(|a, b| a["bom-ref"].as_str().cmp(&b["bom-ref"].as_str()));
    components.dedup_by(|a, b| a["bom-ref"] == b["bom-ref"]);
    let mut by_id: std::collections::BTreeMap<&str, Vec<&Finding>> = std::collections::BTreeMap::new();
    for f in &report.findings {
        by_id.entry(f.vulnerability_id.as_str()).or_default().push(f);
    }
    let vulnerabilities: Vec<Value> = by_id
        .iter()
        .map(|(id, fs)| {
            let affects: Vec<Value> = fs
                .iter()
                .filter_map(|f| {
                    report.packages.iter().find(|p| p.name == f.package && p.version == f.installed_version)
                })
                .map(|p| json!({"ref": purl(p, os)}))
                .collect();
            let worst = fs.iter().map(|f| f.severity).max().unwrap_or(Severity::Unknown);
            let mut v = json!({
                "bom-ref": id,
                "id": id,
                "source": {"name": os_type(report)},
                "ratings": [{"severity": severity_name(worst).to_lowercase(), "method": "other"}],
                "affects": affects,
            });
            if let Some(fix) = fs.iter().find_map(|f| f.fixed_version.clone()) {
                v["recommendation"] = json!(format!("upgrade to {fix}"));
            }
            if fs.iter().all(|f| f.status == FindingStatus::WillNotFix) {
                v["analysis"] = json!({"state": "exploitable", "response": ["will_not_fix"]});
            }
            v
        })
        .collect();
    let digest = report.image_digest.clone().unwrap_or_default();
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial_number(&digest),
        "version": 1,
        "metadata": {
            "tools": {"components": [{"type": "application", "name": TOOL, "version": env!("CARGO_PKG_VERSION")}]},
            "component": {"type": "container", "bom-ref": report.target, "name": report.target, "version": digest},
        },
        "components": components,
        "vulnerabilities": vulnerabilities,
    })
}

/// A stable `urn:uuid:` from the image digest (same image, same serial number).
fn serial_number(digest: &str) -> String {
    let d = oci_core::Digest::sha256(digest.as_bytes());
    let h = d.hex();
    format!("urn:uuid:{}-{}-5{}-8{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

/// Reads a Trivy JSON report (as copa does) into a report of findings: only
/// `Class: os-pkgs` results count. Packages are those the findings name.
///
/// # Security
/// Untrusted JSON: malformed input or a wrong shape is an error naming `name`.
pub fn from_trivy_json(bytes: &[u8], name: &str) -> Result<ScanReport> {
    let bad = |reason: String| Error::Advisory { source_name: name.to_owned(), reason };
    let v: Value = serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
    if v.get("SchemaVersion").and_then(Value::as_u64) != Some(2) {
        return Err(bad("not a Trivy report with SchemaVersion 2".into()));
    }
    let family = v.pointer("/Metadata/OS/Family").and_then(Value::as_str);
    let os = family.map(|id| OsInfo {
        id: id.to_owned(),
        version_id: v.pointer("/Metadata/OS/Name").and_then(Value::as_str).map(str::to_owned),
        codename: None,
        pretty_name: None,
        family: match id {
            "debian" | "ubuntu" => crate::OsFamily::Debian,
            "alpine" => crate::OsFamily::Alpine,
            _ => crate::OsFamily::Other,
        },
        distroless: false,
        eol: v.pointer("/Metadata/OS/EOSL").and_then(Value::as_bool).filter(|e| *e).map(|_| crate::Eol {
            date: String::new(),
            reached: true,
            extended: None,
        }),
    });
    let format = match family {
        Some("alpine" | "wolfi" | "chainguard") => PackageFormat::Apk,
        _ => PackageFormat::Dpkg,
    };
    let mut findings = Vec::new();
    let mut packages: Vec<Package> = Vec::new();
    for result in v.get("Results").and_then(Value::as_array).into_iter().flatten() {
        if result.get("Class").and_then(Value::as_str) != Some("os-pkgs") {
            continue;
        }
        for vuln in result.get("Vulnerabilities").and_then(Value::as_array).into_iter().flatten() {
            let s = |k: &str| vuln.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
            let (id, name, installed) = (s("VulnerabilityID"), s("PkgName"), s("InstalledVersion"));
            if id.is_empty() || name.is_empty() || installed.is_empty() {
                return Err(bad("a vulnerability lacks VulnerabilityID, PkgName or InstalledVersion".into()));
            }
            let fixed = Some(s("FixedVersion")).filter(|f| !f.is_empty());
            let status = match s("Status").as_str() {
                "will_not_fix" => FindingStatus::WillNotFix,
                "fix_deferred" => FindingStatus::FixDeferred,
                "affected" => FindingStatus::Affected,
                _ if fixed.is_some() => FindingStatus::Fixed,
                _ => FindingStatus::Affected,
            };
            if !packages.iter().any(|p| p.name == name && p.version == installed) {
                packages.push(Package {
                    name: name.clone(),
                    version: installed.clone(),
                    architecture: None,
                    source_name: name.clone(),
                    source_version: installed.clone(),
                    format,
                    layer: None,
                    db_path: String::new(),
                    status: None,
                });
            }
            findings.push(Finding {
                vulnerability_id: id,
                advisory_ids: Vec::new(),
                package: name.clone(),
                installed_version: installed.clone(),
                source_name: name,
                source_version: installed,
                fixed_version: fixed,
                pro_fixed_version: None,
                status,
                severity: parse_severity(&s("Severity")).unwrap_or(Severity::Unknown),
                summary: Some(s("Title")).filter(|t| !t.is_empty()),
                layer: None,
                format,
                architecture: None,
            });
        }
    }
    Ok(ScanReport {
        target: v.get("ArtifactName").and_then(Value::as_str).unwrap_or(name).to_owned(),
        image_digest: None,
        config_digest: v.pointer("/Metadata/ImageID").and_then(Value::as_str).map(str::to_owned),
        diff_ids: v
            .pointer("/Metadata/DiffIDs")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default(),
        architecture: v.pointer("/Metadata/ImageConfig/architecture").and_then(Value::as_str).map(str::to_owned),
        os,
        packages,
        findings,
        warnings: Vec::new(),
        database: None,
    })
}

/// SARIF 2.1.0 of a rule evaluation: one SARIF rule per rule of the set (stable ids), one
/// result per finding of a failing or refusing rule, located at the path it names.
pub fn evaluation_to_sarif(target: &str, rules: &crate::RuleSet, evaluation: &crate::Evaluation) -> Value {
    use crate::{Outcome, RuleSeverity};
    let level = |s: RuleSeverity| match s {
        RuleSeverity::Critical | RuleSeverity::High => "error",
        RuleSeverity::Medium => "warning",
        RuleSeverity::Low => "note",
    };
    let score = |s: RuleSeverity| match s {
        RuleSeverity::Critical => "9.5",
        RuleSeverity::High => "8.0",
        RuleSeverity::Medium => "5.5",
        RuleSeverity::Low => "2.0",
    };
    let sarif_rules: Vec<Value> = evaluation
        .results
        .iter()
        .map(|r| {
            json!({
                "id": r.rule_id,
                "name": r.kind,
                "shortDescription": {"text": format!("{} ({})", r.rule_id, r.kind)},
                "properties": {"security-severity": score(r.severity), "tags": ["hardening", r.kind]},
            })
        })
        .collect();
    let mut results = Vec::new();
    for (index, r) in evaluation.results.iter().enumerate() {
        let mut findings: Vec<(Option<&str>, String)> =
            r.findings.iter().map(|f| (f.path.as_deref(), f.message.clone())).collect();
        if let Outcome::Error { message } = &r.outcome {
            findings.push((None, format!("refused: {message}")));
        }
        if !matches!(r.outcome, Outcome::Fail | Outcome::Error { .. }) {
            continue;
        }
        for (path, message) in findings {
            let uri = path.map_or_else(|| "config.json".to_owned(), |p| p.trim_start_matches('/').to_owned());
            results.push(json!({
                "ruleId": r.rule_id,
                "ruleIndex": index,
                "level": level(r.severity),
                "message": {"text": message},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri, "uriBaseId": "ROOTPATH"}}}],
            }));
        }
    }
    json!({
        "version": "2.1.0",
        "$schema": "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/main/sarif-2.1/schema/sarif-schema-2.1.0.json",
        "runs": [{
            "tool": {"driver": {"name": TOOL, "informationUri": TOOL_URI, "version": env!("CARGO_PKG_VERSION"), "rules": sarif_rules}},
            "results": results,
            "originalUriBaseIds": {"ROOTPATH": {"uri": "file:///"}},
            "properties": {"imageName": target, "ruleSet": rules.name, "ruleSetDigest": rules.digest().to_string()},
        }],
    })
}
