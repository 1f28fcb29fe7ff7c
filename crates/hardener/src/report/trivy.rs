//! Trivy-compatible JSON (`SchemaVersion: 2`): written from typed values, read back for
//! `scan --from-report`.

use serde::Serialize;
use serde_json::Value;

use super::{os_type, parse_severity, purl};
use crate::scan::{Finding, FindingStatus, ScanReport};
use crate::{Error, OsInfo, Package, PackageFormat, Result, Severity};

/// A Trivy JSON report. Like Trivy (Go's `omitempty`), absent values are left out rather
/// than written as `null`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrivyReport {
    /// Always 2.
    pub schema_version: u32,
    /// The reference scanned.
    pub artifact_name: String,
    /// `container_image`.
    pub artifact_type: &'static str,
    /// OS, image and layer ids.
    pub metadata: TrivyMetadata,
    /// One result of class `os-pkgs`.
    pub results: Vec<TrivyResult>,
    /// Our extension, present only when the image was NOT scanned (an OS or release the
    /// advisory database does not cover, no package database): why, so that an empty
    /// `Vulnerabilities` list is never read as "nothing vulnerable".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<crate::Coverage>,
}

/// Trivy's `Metadata`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct TrivyMetadata {
    /// The OS, when detected.
    #[serde(rename = "OS", skip_serializing_if = "Option::is_none")]
    pub os: Option<TrivyOs>,
    /// The config digest.
    #[serde(rename = "ImageID", skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// The layers' diff_ids.
    #[serde(rename = "DiffIDs", skip_serializing_if = "Vec::is_empty")]
    pub diff_ids: Vec<String>,
    /// `registry/repository@digest`, for registry images.
    #[serde(rename = "RepoDigests", skip_serializing_if = "Option::is_none")]
    pub repo_digests: Option<Vec<String>>,
    /// Architecture and OS.
    #[serde(rename = "ImageConfig", skip_serializing_if = "Option::is_none")]
    pub image_config: Option<TrivyImageConfig>,
}

/// Trivy's `Metadata.OS`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrivyOs {
    /// `debian`, `alpine`, …
    pub family: String,
    /// The version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Present (true) when the release reached its end of life.
    #[serde(rename = "EOSL", skip_serializing_if = "Option::is_none")]
    pub eosl: Option<bool>,
}

/// Trivy's `Metadata.ImageConfig`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrivyImageConfig {
    /// `amd64`, …
    pub architecture: String,
    /// `linux`.
    pub os: &'static str,
}

/// One Trivy result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrivyResult {
    /// `REFERENCE (os version)`.
    pub target: String,
    /// `os-pkgs`.
    pub class: &'static str,
    /// The OS id.
    #[serde(rename = "Type")]
    pub kind: String,
    /// One per installed package and vulnerability.
    pub vulnerabilities: Vec<TrivyVulnerability>,
}

/// One Trivy vulnerability.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrivyVulnerability {
    /// The vulnerability id.
    #[serde(rename = "VulnerabilityID")]
    pub vulnerability_id: String,
    /// `NAME@VERSION`.
    #[serde(rename = "PkgID")]
    pub pkg_id: String,
    /// The binary package.
    #[serde(rename = "PkgName")]
    pub pkg_name: String,
    /// Its version.
    #[serde(rename = "InstalledVersion")]
    pub installed_version: String,
    /// The fixed version (empty when none).
    #[serde(rename = "FixedVersion")]
    pub fixed_version: String,
    /// `fixed`, `affected`, `will_not_fix`, `fix_deferred`.
    #[serde(rename = "Status")]
    pub status: &'static str,
    /// The OS id.
    #[serde(rename = "SeveritySource")]
    pub severity_source: String,
    /// `CRITICAL`, …
    #[serde(rename = "Severity")]
    pub severity: &'static str,
    /// DSA/DLA/OSV ids.
    #[serde(rename = "VendorIDs", skip_serializing_if = "Vec::is_empty")]
    pub vendor_ids: Vec<String>,
    /// The package URL.
    #[serde(rename = "PkgIdentifier", skip_serializing_if = "Option::is_none")]
    pub pkg_identifier: Option<TrivyPkgIdentifier>,
    /// The layer that installed the package.
    #[serde(rename = "Layer", skip_serializing_if = "Option::is_none")]
    pub layer: Option<TrivyLayer>,
    /// The summary.
    #[serde(rename = "Title", skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// For CVEs, the Aqua page.
    #[serde(rename = "PrimaryURL", skip_serializing_if = "Option::is_none")]
    pub primary_url: Option<String>,
    /// Trivy's free-form `Custom` field: here, a fix that exists only in Ubuntu Pro
    /// (`{"ProFixedVersion": …, "Note": "fix requires Ubuntu Pro"}`).
    #[serde(rename = "Custom", skip_serializing_if = "Option::is_none")]
    pub custom: Option<TrivyCustom>,
}

/// `{"PURL": …}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrivyPkgIdentifier {
    /// The package URL.
    #[serde(rename = "PURL")]
    pub purl: String,
}

/// `{"DiffID": …}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrivyLayer {
    /// The layer's diff_id.
    #[serde(rename = "DiffID")]
    pub diff_id: String,
}

/// A Trivy-compatible JSON report (`SchemaVersion: 2`): one result of class `os-pkgs`,
/// one vulnerability per installed binary package and vulnerability — the shape copa and
/// other Trivy consumers read. Like Trivy (Go's `omitempty`), absent values are left out
/// rather than written as `null`.
pub fn to_trivy_json(report: &ScanReport) -> TrivyReport {
    let os = report.os.as_ref();
    let target = match os {
        Some(o) => format!("{} ({} {})", report.target, o.id, o.version_id.as_deref().unwrap_or("")),
        None => report.target.clone(),
    };
    let vulnerabilities = report
        .findings
        .iter()
        .map(|f| {
            let package = report.packages.iter().find(|p| p.name == f.package && p.version == f.installed_version);
            TrivyVulnerability {
                vulnerability_id: f.vulnerability_id.clone(),
                pkg_id: format!("{}@{}", f.package, f.installed_version),
                pkg_name: f.package.clone(),
                installed_version: f.installed_version.clone(),
                fixed_version: f.fixed_version.clone().unwrap_or_default(),
                status: f.status.as_str(),
                severity_source: os_type(report).to_owned(),
                severity: f.severity.as_str(),
                vendor_ids: f.advisory_ids.clone(),
                pkg_identifier: package
                    .filter(|p| !p.db_path.is_empty())
                    .map(|p| TrivyPkgIdentifier { purl: purl(p, os) }),
                layer: f
                    .layer
                    .and_then(|l| report.diff_ids.get(l))
                    .map(|diff_id| TrivyLayer { diff_id: diff_id.clone() }),
                title: f.summary.clone(),
                primary_url: f
                    .vulnerability_id
                    .starts_with("CVE-")
                    .then(|| format!("https://avd.aquasec.com/nvd/{}", f.vulnerability_id.to_lowercase())),
                custom: f
                    .pro_fixed_version
                    .clone()
                    .map(|v| TrivyCustom { pro_fixed_version: v, note: crate::PRO_FIX_NOTE }),
            }
        })
        .collect();
    let repo_digests = match (&report.image_digest, report.target.parse::<oci_core::Reference>()) {
        (Some(digest), Ok(oci_core::Reference::Registry(name))) => {
            Some(vec![format!("{}/{}@{digest}", name.registry(), name.repository())])
        }
        _ => None,
    };
    TrivyReport {
        schema_version: 2,
        artifact_name: report.target.clone(),
        artifact_type: "container_image",
        metadata: TrivyMetadata {
            os: os.map(|o| TrivyOs {
                family: o.id.clone(),
                name: o.version_id.clone(),
                eosl: o.eol.as_ref().is_some_and(|e| e.reached).then_some(true),
            }),
            image_id: report.config_digest.clone(),
            diff_ids: report.diff_ids.clone(),
            repo_digests,
            image_config: report
                .architecture
                .as_ref()
                .map(|a| TrivyImageConfig { architecture: a.clone(), os: "linux" }),
        },
        results: vec![TrivyResult { target, class: "os-pkgs", kind: os_type(report).to_owned(), vulnerabilities }],
        coverage: (!report.coverage.is_scanned()).then(|| report.coverage.clone()),
    }
}

/// What a vulnerability's `Custom` field holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrivyCustom {
    /// The version that fixes it in Ubuntu Pro (ESM).
    pub pro_fixed_version: String,
    /// [`crate::PRO_FIX_NOTE`].
    pub note: &'static str,
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
                status,
                severity: parse_severity(&s("Severity")).unwrap_or(Severity::Unknown),
                summary: Some(s("Title")).filter(|t| !t.is_empty()),
                layer: None,
                format,
                architecture: None,
                pro_fixed_version: None,
            });
        }
    }
    // The other scanner decided what it covered; a report without an OS matched nothing.
    let coverage = match &os {
        Some(os) => crate::Coverage::Scanned {
            ecosystem: format!("{} {} (from {name})", os.id, os.version_id.as_deref().unwrap_or("")),
            advisories: None,
        },
        None => {
            crate::Coverage::NotScanned { os: None, reason: format!("the report {name} names no operating system") }
        }
    };
    Ok(ScanReport {
        coverage,
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

#[cfg(test)]
mod tests {
    use super::*;

    const INPUT: &str = r#"{"SchemaVersion":2,"ArtifactName":"registry.example/app:1","Metadata":{"OS":{"Family":"alpine","Name":"3.20.3"},"ImageID":"sha256:c","DiffIDs":["sha256:d"],"ImageConfig":{"architecture":"amd64"}},"Results":[{"Class":"os-pkgs","Vulnerabilities":[{"VulnerabilityID":"CVE-2024-1","PkgName":"zlib","InstalledVersion":"1.3-r0","FixedVersion":"1.3-r1","Severity":"HIGH","Title":"t"},{"VulnerabilityID":"ALPINE-1","PkgName":"musl","InstalledVersion":"1","Severity":"LOW"}]}]}"#;

    #[test]
    fn trivy_json_names_fields_as_trivy_and_omits_absent_values() {
        let report = from_trivy_json(INPUT.as_bytes(), "in.json").unwrap();
        let json = serde_json::to_string(&to_trivy_json(&report)).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"{"SchemaVersion":2,"ArtifactName":"registry.example/app:1","ArtifactType":"container_image","#,
                r#""Metadata":{"OS":{"Family":"alpine","Name":"3.20.3"},"ImageID":"sha256:c","DiffIDs":["sha256:d"],"#,
                r#""ImageConfig":{"architecture":"amd64","os":"linux"}},"Results":[{"Target":"registry.example/app:1 (alpine 3.20.3)","#,
                r#""Class":"os-pkgs","Type":"alpine","Vulnerabilities":[{"VulnerabilityID":"CVE-2024-1","PkgID":"zlib@1.3-r0","#,
                r#""PkgName":"zlib","InstalledVersion":"1.3-r0","FixedVersion":"1.3-r1","Status":"fixed","SeveritySource":"alpine","#,
                r#""Severity":"HIGH","Title":"t","PrimaryURL":"https://avd.aquasec.com/nvd/cve-2024-1"},"#,
                r#"{"VulnerabilityID":"ALPINE-1","PkgID":"musl@1","PkgName":"musl","InstalledVersion":"1","FixedVersion":"","#,
                r#""Status":"affected","SeveritySource":"alpine","Severity":"LOW"}]}]}"#
            )
        );
    }

    #[test]
    fn cyclonedx_names_fields_as_the_specification() {
        let report = from_trivy_json(INPUT.as_bytes(), "in.json").unwrap();
        let bom = serde_json::to_value(super::super::to_cyclonedx(&report)).unwrap();
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            keys(&bom),
            ["bomFormat", "specVersion", "serialNumber", "version", "metadata", "components", "vulnerabilities"]
        );
        assert_eq!(
            bom["metadata"]["tools"]["components"][0],
            serde_json::json!({"type": "application", "name": "oci-harden", "version": env!("CARGO_PKG_VERSION")})
        );
        assert_eq!(keys(&bom["metadata"]["component"]), ["type", "bom-ref", "name", "version"]);
        let components = bom["components"].as_array().unwrap();
        assert_eq!(components[0]["bom-ref"], "pkg:apk/alpine/musl@1?distro=alpine-3.20.3");
        assert_eq!(keys(&components[1]), ["type", "bom-ref", "name", "version", "purl", "properties"]);
        let vulns = bom["vulnerabilities"].as_array().unwrap();
        assert_eq!(keys(&vulns[0]), ["bom-ref", "id", "source", "ratings", "affects"]);
        assert_eq!(keys(&vulns[1]), ["bom-ref", "id", "source", "ratings", "affects", "recommendation"]);
        assert_eq!(vulns[1]["ratings"], serde_json::json!([{"severity": "high", "method": "other"}]));
        assert_eq!(
            vulns[1]["affects"],
            serde_json::json!([{"ref": "pkg:apk/alpine/zlib@1.3-r0?distro=alpine-3.20.3"}])
        );
    }
}
