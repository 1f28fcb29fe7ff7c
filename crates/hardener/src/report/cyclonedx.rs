//! CycloneDX 1.5 JSON, written from typed values.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{os_type, purl};
use crate::Severity;
use crate::sarif::TOOL;
use crate::scan::{Finding, FindingStatus, ScanReport};

/// A CycloneDX 1.5 BOM.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CycloneDxBom {
    /// `CycloneDX`.
    pub bom_format: &'static str,
    /// `1.5`.
    pub spec_version: &'static str,
    /// A `urn:uuid:` derived from the image digest (same image, same serial number).
    pub serial_number: String,
    /// Always 1.
    pub version: u32,
    /// The tool and the image.
    pub metadata: BomMetadata,
    /// One per installed package (by package URL).
    pub components: Vec<BomComponent>,
    /// One per vulnerability id.
    pub vulnerabilities: Vec<BomVulnerability>,
}

/// The BOM's `metadata`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BomMetadata {
    /// `{"components": [the tool]}`.
    pub tools: BomTools,
    /// The image.
    pub component: BomComponent,
}

/// `{"components": […]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BomTools {
    /// The tools.
    pub components: Vec<BomComponent>,
}

/// A component: a package, the image or the tool.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BomComponent {
    /// `library`, `container` or `application`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The reference vulnerabilities use.
    #[serde(rename = "bom-ref", skip_serializing_if = "Option::is_none")]
    pub bom_ref: Option<String>,
    /// The name.
    pub name: String,
    /// The version.
    pub version: String,
    /// The package URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    /// `oci-harden:…` properties.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<Vec<BomProperty>>,
}

/// `{"name", "value"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BomProperty {
    /// The name.
    pub name: &'static str,
    /// The value.
    pub value: String,
}

/// One vulnerability and the packages it affects.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BomVulnerability {
    /// The id.
    #[serde(rename = "bom-ref")]
    pub bom_ref: String,
    /// The id.
    pub id: String,
    /// `{"name": OS id}`.
    pub source: BomSource,
    /// The worst severity of its findings.
    pub ratings: Vec<BomRating>,
    /// `{"ref": package URL}` of each affected package.
    pub affects: Vec<BomAffects>,
    /// `upgrade to VERSION`, when a fix exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<String>,
    /// Present when every finding is `will_not_fix`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<BomAnalysis>,
}

/// `{"name": …}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BomSource {
    /// The name.
    pub name: String,
}

/// `{"severity", "method"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BomRating {
    /// Lower-case severity.
    pub severity: String,
    /// `other`.
    pub method: &'static str,
}

/// `{"ref": …}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BomAffects {
    /// A component's `bom-ref`.
    #[serde(rename = "ref")]
    pub reference: String,
}

/// `{"state", "response"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BomAnalysis {
    /// `exploitable`.
    pub state: &'static str,
    /// `["will_not_fix"]`.
    pub response: Vec<&'static str>,
}

/// A CycloneDX 1.5 JSON SBOM: every installed package (name and version exactly as the
/// package database has them), with package URLs, and the findings as vulnerabilities.
pub fn to_cyclonedx(report: &ScanReport) -> CycloneDxBom {
    let os = report.os.as_ref();
    let mut components: Vec<BomComponent> = report
        .packages
        .iter()
        .map(|p| {
            let purl = purl(p, os);
            let mut props = vec![
                BomProperty { name: "oci-harden:package:source_name", value: p.source_name.clone() },
                BomProperty { name: "oci-harden:package:source_version", value: p.source_version.clone() },
            ];
            if let Some(l) = p.layer.and_then(|l| report.diff_ids.get(l)) {
                props.push(BomProperty { name: "oci-harden:layer:diff_id", value: l.clone() });
            }
            BomComponent {
                kind: "library",
                bom_ref: Some(purl.clone()),
                name: p.name.clone(),
                version: p.version.clone(),
                purl: Some(purl),
                properties: Some(props),
            }
        })
        .collect();
    components.sort_by(|a, b| a.bom_ref.cmp(&b.bom_ref));
    components.dedup_by(|a, b| a.bom_ref == b.bom_ref);
    let mut by_id: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in &report.findings {
        by_id.entry(f.vulnerability_id.as_str()).or_default().push(f);
    }
    let vulnerabilities = by_id
        .iter()
        .map(|(id, fs)| {
            let affects = fs
                .iter()
                .filter_map(|f| {
                    report.packages.iter().find(|p| p.name == f.package && p.version == f.installed_version)
                })
                .map(|p| BomAffects { reference: purl(p, os) })
                .collect();
            let worst = fs.iter().map(|f| f.severity).max().unwrap_or(Severity::Unknown);
            BomVulnerability {
                bom_ref: (*id).to_owned(),
                id: (*id).to_owned(),
                source: BomSource { name: os_type(report).to_owned() },
                ratings: vec![BomRating { severity: worst.as_str().to_lowercase(), method: "other" }],
                affects,
                recommendation: fs.iter().find_map(|f| f.fixed_version.as_ref()).map(|fix| format!("upgrade to {fix}")),
                analysis: fs
                    .iter()
                    .all(|f| f.status == FindingStatus::WillNotFix)
                    .then(|| BomAnalysis { state: "exploitable", response: vec!["will_not_fix"] }),
            }
        })
        .collect();
    let digest = report.image_digest.clone().unwrap_or_default();
    CycloneDxBom {
        bom_format: "CycloneDX",
        spec_version: "1.5",
        serial_number: serial_number(&digest),
        version: 1,
        metadata: BomMetadata {
            tools: BomTools {
                components: vec![BomComponent {
                    kind: "application",
                    bom_ref: None,
                    name: TOOL.to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    purl: None,
                    properties: None,
                }],
            },
            component: BomComponent {
                kind: "container",
                bom_ref: Some(report.target.clone()),
                name: report.target.clone(),
                version: digest,
                purl: None,
                properties: None,
            },
        },
        components,
        vulnerabilities,
    }
}

/// A stable `urn:uuid:` from the image digest (same image, same serial number).
fn serial_number(digest: &str) -> String {
    let d = oci_core::Digest::sha256(digest.as_bytes());
    let h = d.hex();
    format!("urn:uuid:{}-{}-5{}-8{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}
