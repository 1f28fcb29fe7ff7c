//! OpenVEX 0.2.0 (<https://github.com/openvex/spec>) for a patched image: what the patch
//! fixed and what still affects the result, and why.
//!
//! Built from two scans of the same image family: `before` (the image as it was) and
//! `after` (the patched result). A vulnerability a package had before and no longer has is
//! `fixed` in the new image; every finding that remains is `affected`, with an action
//! statement saying why it stays (no fix published yet, the distribution will not fix it,
//! a fix that needs Ubuntu Pro, a fix that was not applied). The product is the new image,
//! named by a `pkg:oci` purl with its digest; subcomponents are the packages' purls.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::purl;
use crate::scan::{Finding, FindingStatus, ScanReport};

/// The OpenVEX `@context` of version 0.2.0.
pub const OPENVEX_CONTEXT: &str = "https://openvex.dev/ns/v0.2.0";

/// An OpenVEX document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VexDocument {
    /// [`OPENVEX_CONTEXT`].
    #[serde(rename = "@context")]
    pub context: &'static str,
    /// A content-derived IRI (`urn:oci-harden:vex:sha256:…`): the same statements give the
    /// same id.
    #[serde(rename = "@id")]
    pub id: String,
    /// `oci-harden`.
    pub author: String,
    /// When the document was issued (RFC 3339).
    pub timestamp: String,
    /// Always 1: each patch writes a new document.
    pub version: u32,
    /// `oci-harden VERSION`.
    pub tooling: String,
    /// One statement per vulnerability and status.
    pub statements: Vec<VexStatement>,
}

/// One statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VexStatement {
    /// The vulnerability.
    pub vulnerability: VexVulnerability,
    /// The patched image, with the packages concerned as subcomponents.
    pub products: Vec<VexProduct>,
    /// `fixed` or `affected`.
    pub status: VexStatus,
    /// For `affected`: why it stays and what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_statement: Option<String>,
    /// How the status was determined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_notes: Option<String>,
}

/// `vulnerability`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VexVulnerability {
    /// `CVE-…` (or the advisory id when there is no CVE).
    pub name: String,
    /// The distribution's advisory ids (`DSA-…`, `USN-…`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

/// A product (the image) and its subcomponents (packages).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VexProduct {
    /// The image's purl (`pkg:oci/NAME@sha256%3A…`).
    #[serde(rename = "@id")]
    pub id: String,
    /// The packages concerned.
    pub subcomponents: Vec<VexSubcomponent>,
}

/// A package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct VexSubcomponent {
    /// Its purl, at the version in the patched image.
    #[serde(rename = "@id")]
    pub id: String,
}

/// The statuses a patch report uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VexStatus {
    /// The patch removed the vulnerability.
    Fixed,
    /// It remains.
    Affected,
}

/// The purl of an OCI image: `pkg:oci/NAME@sha256%3AHEX` (`name` is the repository's last
/// path component, as the purl spec's `oci` type says), with `repository_url` when known.
pub fn oci_purl(name: &str, digest: &str, repository_url: Option<&str>) -> String {
    let name = name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase();
    let mut purl = format!("pkg:oci/{name}@{}", digest.replace(':', "%3A"));
    if let Some(url) = repository_url {
        purl.push_str("?repository_url=");
        purl.push_str(&url.replace(':', "%3A"));
    }
    purl
}

/// The OpenVEX document of a patch: `before` and `after` scans, `product` the patched
/// image's purl ([`oci_purl`]), `timestamp` (RFC 3339) when it was made.
pub fn to_openvex(before: &ScanReport, after: &ScanReport, product: &str, timestamp: &str) -> VexDocument {
    // (vulnerability, status) → (aliases, subcomponents, notes)
    type Group = (Vec<String>, Vec<VexSubcomponent>, Vec<String>);
    let mut groups: BTreeMap<(String, VexStatus), Group> = BTreeMap::new();
    let purl_after = |package: &str| -> Option<String> {
        after.packages.iter().find(|p| p.name == package).map(|p| purl(p, after.os.as_ref()))
    };
    for f in &before.findings {
        let still = after.findings.iter().any(|a| a.package == f.package && a.vulnerability_id == f.vulnerability_id);
        if still {
            continue;
        }
        let entry = groups.entry((f.vulnerability_id.clone(), VexStatus::Fixed)).or_default();
        entry.0.extend(f.advisory_ids.iter().cloned());
        // A package removed by the patch has no purl after it: name the version it had.
        let id = purl_after(&f.package).unwrap_or_else(|| {
            before.packages.iter().find(|p| p.name == f.package).map_or_else(
                || format!("pkg:generic/{}@{}", f.package, f.installed_version),
                |p| purl(p, before.os.as_ref()),
            )
        });
        entry.1.push(VexSubcomponent { id });
        let now = after.packages.iter().find(|p| p.name == f.package).map_or("removed", |p| p.version.as_str());
        entry.2.push(format!("{} {} → {now}", f.package, f.installed_version));
    }
    for f in &after.findings {
        let entry = groups.entry((f.vulnerability_id.clone(), VexStatus::Affected)).or_default();
        entry.0.extend(f.advisory_ids.iter().cloned());
        let id = purl_after(&f.package).unwrap_or_else(|| format!("pkg:generic/{}@{}", f.package, f.installed_version));
        entry.1.push(VexSubcomponent { id });
        entry.2.push(action(f));
    }
    let statements: Vec<VexStatement> = groups
        .into_iter()
        .map(|((name, status), (mut aliases, mut subcomponents, mut notes))| {
            aliases.sort();
            aliases.dedup();
            aliases.retain(|a| *a != name);
            subcomponents.sort();
            subcomponents.dedup();
            notes.sort();
            notes.dedup();
            let products = vec![VexProduct { id: product.to_owned(), subcomponents }];
            let vulnerability = VexVulnerability { name, aliases };
            match status {
                VexStatus::Fixed => VexStatement {
                    vulnerability,
                    products,
                    status,
                    action_statement: None,
                    status_notes: Some(format!("upgraded by oci-harden: {}", notes.join(", "))),
                },
                VexStatus::Affected => VexStatement {
                    vulnerability,
                    products,
                    status,
                    action_statement: Some(notes.join("; ")),
                    status_notes: None,
                },
            }
        })
        .collect();
    let mut hasher = Sha256::new();
    hasher.update(product.as_bytes());
    hasher.update(serde_json::to_vec(&statements).expect("statements serialise"));
    VexDocument {
        context: OPENVEX_CONTEXT,
        id: format!("urn:oci-harden:vex:sha256:{}", hex::encode(hasher.finalize())),
        author: "oci-harden".to_owned(),
        timestamp: timestamp.to_owned(),
        version: 1,
        tooling: format!("oci-harden {}", env!("CARGO_PKG_VERSION")),
        statements,
    }
}

/// Why a finding stays, and what the user can do.
fn action(f: &Finding) -> String {
    let p = &f.package;
    if let Some(note) = f.note() {
        return format!("{p}: {note}; no fix in the image's own repositories");
    }
    match f.status {
        FindingStatus::Fixed => format!(
            "{p}: fixed in {} but not upgraded here (not available in the configured repositories, or not asked for)",
            f.fixed_version.as_deref().unwrap_or("a newer version")
        ),
        FindingStatus::Affected => format!("{p}: no fixed version published yet; upgrade when one is"),
        FindingStatus::WillNotFix => format!("{p}: the distribution will not fix this; mitigate or remove the package"),
        FindingStatus::FixDeferred => format!("{p}: the distribution deferred the fix; upgrade when it is published"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Package, PackageFormat, Severity};

    fn package(name: &str, version: &str) -> Package {
        Package {
            name: name.into(),
            version: version.into(),
            source_name: name.into(),
            source_version: version.into(),
            architecture: Some("x86_64".into()),
            format: PackageFormat::Apk,
            layer: Some(0),
            db_path: "lib/apk/db/installed".into(),
            status: None,
        }
    }

    fn finding(package: &str, version: &str, id: &str, status: FindingStatus, fixed: Option<&str>) -> Finding {
        Finding {
            vulnerability_id: id.into(),
            advisory_ids: vec![],
            package: package.into(),
            installed_version: version.into(),
            source_name: package.into(),
            source_version: version.into(),
            fixed_version: fixed.map(Into::into),
            pro_fixed_version: None,
            status,
            severity: Severity::High,
            summary: None,
            layer: Some(0),
            format: PackageFormat::Apk,
            architecture: Some("x86_64".into()),
        }
    }

    #[test]
    fn fixed_and_remaining_findings_become_statements() {
        let before = ScanReport {
            target: "oci:x:y".into(),
            image_digest: None,
            config_digest: None,
            diff_ids: vec![],
            architecture: None,
            os: None,
            packages: vec![package("busybox", "1.36.1-r29"), package("musl", "1.2.5-r0")],
            findings: vec![
                finding("busybox", "1.36.1-r29", "CVE-2024-1", FindingStatus::Fixed, Some("1.36.1-r31")),
                finding("musl", "1.2.5-r0", "CVE-2024-2", FindingStatus::Affected, None),
            ],
            warnings: vec![],
            database: None,
            coverage: crate::Coverage::Scanned { ecosystem: "Alpine:v3.20".into(), advisories: Some(2) },
        };
        let mut after = before.clone();
        after.packages[0].version = "1.36.1-r31".into();
        after.findings.remove(0);
        let product = oci_purl("registry.example/team/alpine", "sha256:abcd", None);
        assert_eq!(product, "pkg:oci/alpine@sha256%3Aabcd");
        let vex = to_openvex(&before, &after, &product, "2026-12-07T00:00:00Z");
        let json = serde_json::to_value(&vex).unwrap();
        assert_eq!(json["statements"][0]["vulnerability"]["name"], "CVE-2024-1");
        assert_eq!(json["statements"][0]["status"], "fixed");
        assert_eq!(
            json["statements"][0]["products"][0]["subcomponents"][0]["@id"],
            "pkg:apk/alpine/busybox@1.36.1-r31?arch=x86_64"
        );
        assert_eq!(json["statements"][0]["status_notes"], "upgraded by oci-harden: busybox 1.36.1-r29 → 1.36.1-r31");
        assert_eq!(json["statements"][1]["status"], "affected");
        assert_eq!(
            json["statements"][1]["action_statement"],
            "musl: no fixed version published yet; upgrade when one is"
        );
        // Deterministic: the same input, the same document.
        assert_eq!(to_openvex(&before, &after, &product, "2026-12-07T00:00:00Z"), vex);
    }
}
