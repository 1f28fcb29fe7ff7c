//! What ships with a hardened or patched image: its SBOM, the OpenVEX statements of the
//! patch and the JSON report, attached to it as OCI 1.1 referrers.
//!
//! Each attachment is an artifact manifest whose `subject` is the image (or index) it
//! describes, with one document and its own `artifactType`:
//!
//! | kind | `artifactType` | document |
//! | --- | --- | --- |
//! | `sbom` | [`SBOM_ARTIFACT_TYPE`] | CycloneDX 1.5, the packages of the result (after patching); one per image |
//! | `vex` | [`VEX_ARTIFACT_TYPE`] | OpenVEX of the patch (only when patching) |
//! | `report` | [`REPORT_ARTIFACT_TYPE`] | the `harden --report` / `patch --report` JSON |

use std::fmt;
use std::str::FromStr;

use oci_core::{Artifact, Attached, Descriptor, ImageSource, Manifest, Reference, Session};
use serde::Serialize;

use crate::{Result, inventory_report, to_cyclonedx};

/// The `artifactType` of an attached SBOM (CycloneDX JSON).
pub const SBOM_ARTIFACT_TYPE: &str = "application/vnd.cyclonedx+json";
/// The `artifactType` of attached OpenVEX statements.
pub const VEX_ARTIFACT_TYPE: &str = "application/openvex+json";
/// The `artifactType` of an attached harden or patch report (this project's JSON).
pub const REPORT_ARTIFACT_TYPE: &str = "application/vnd.oci-harden.report.v1+json";

/// What can be attached to a hardened or patched image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttachmentKind {
    /// The CycloneDX SBOM of the result.
    Sbom,
    /// The OpenVEX statements of the patch.
    Vex,
    /// The harden or patch JSON report.
    Report,
}

impl AttachmentKind {
    /// `sbom`, `vex` or `report`.
    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentKind::Sbom => "sbom",
            AttachmentKind::Vex => "vex",
            AttachmentKind::Report => "report",
        }
    }

    /// The `artifactType` its artifacts carry.
    pub fn artifact_type(self) -> &'static str {
        match self {
            AttachmentKind::Sbom => SBOM_ARTIFACT_TYPE,
            AttachmentKind::Vex => VEX_ARTIFACT_TYPE,
            AttachmentKind::Report => REPORT_ARTIFACT_TYPE,
        }
    }
}

impl fmt::Display for AttachmentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AttachmentKind {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "sbom" => Ok(AttachmentKind::Sbom),
            "vex" => Ok(AttachmentKind::Vex),
            "report" => Ok(AttachmentKind::Report),
            other => Err(format!("unknown attachment {other:?} (sbom, vex or report)")),
        }
    }
}

/// One document to attach, and what it is attached to.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// What it is.
    pub kind: AttachmentKind,
    /// The manifest or index it describes, as the destination holds it.
    pub subject: Descriptor,
    /// The document and its `artifactType`.
    pub artifact: Artifact,
}

/// The SBOMs of `result` (what was written to `target`): for an image, its packages;
/// for an index, one per platform image, each attached to that image's manifest.
/// Needs no advisory database ([`inventory_report`]); `today` (`YYYY-MM-DD`) dates the
/// end-of-life checks.
pub fn sbom_attachments(result: &ImageSource, target: &str, today: &str) -> Result<Vec<Attachment>> {
    let top = result.top_manifest()?;
    let subjects = match top.parse()? {
        Manifest::Image(_) => vec![result.top().clone()],
        Manifest::Index(index) => index
            .manifests
            .into_iter()
            .filter(|d| d.media_type.is_manifest())
            .filter(|d| d.platform.as_ref().is_none_or(|p| p.os != "unknown")) // attestations
            .collect(),
    };
    let mut out = Vec::with_capacity(subjects.len());
    for subject in subjects {
        let image = result.image_at(&subject)?;
        let report = inventory_report(target, &image, today)?;
        let bytes = serde_json::to_vec_pretty(&to_cyclonedx(&report)).expect("serialisable");
        out.push(Attachment {
            kind: AttachmentKind::Sbom,
            subject,
            artifact: Artifact::new(SBOM_ARTIFACT_TYPE, bytes),
        });
    }
    Ok(out)
}

/// A JSON document (a VEX document, a report) as an attachment of `kind` to `subject`.
pub fn document_attachment(kind: AttachmentKind, subject: &Descriptor, document: &impl Serialize) -> Attachment {
    let bytes = serde_json::to_vec_pretty(document).expect("serialisable");
    Attachment { kind, subject: subject.clone(), artifact: Artifact::new(kind.artifact_type(), bytes) }
}

/// Pushes `attachments` to `destination` (a registry image or an `oci:` layout, where
/// their subjects were just written), in order, as [`Session::attach`] does: the
/// registry's referrers API when it has one, else the tag-schema fallback; a layout's
/// `index.json`.
pub fn attach(
    session: &Session,
    destination: &Reference,
    attachments: &[Attachment],
) -> Result<Vec<(AttachmentKind, Attached)>> {
    let mut out = Vec::with_capacity(attachments.len());
    for a in attachments {
        let attached = session.attach(destination, &a.subject, std::slice::from_ref(&a.artifact))?;
        out.extend(attached.into_iter().map(|x| (a.kind, x)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_name_their_artifact_types() {
        for kind in [AttachmentKind::Sbom, AttachmentKind::Vex, AttachmentKind::Report] {
            assert_eq!(kind.as_str().parse::<AttachmentKind>(), Ok(kind));
        }
        assert!("spdx".parse::<AttachmentKind>().is_err());
        assert_eq!(AttachmentKind::Sbom.artifact_type(), "application/vnd.cyclonedx+json");
    }

    /// The SBOM attachment of the shipped Alpine image is attached to that image and lists
    /// its packages; attached to a copy of it in a layout, the layout lists it.
    #[test]
    fn the_sbom_of_an_image_is_attached_to_it() {
        let example = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/alpine"));
        let dir = tempfile::tempdir().unwrap();
        let copy = format!("oci:{}:3.20", dir.path().display()).parse::<Reference>().unwrap();
        let src = format!("oci:{}:3.20", example.display()).parse::<Reference>().unwrap();
        let session = Session::new(oci_core::SessionOptions::default());
        session.copy(&src, &copy, &oci_core::CopyOptions::default()).unwrap();
        let source = ImageSource::open(&copy).unwrap();
        let sboms = sbom_attachments(&source, "alpine", "2026-12-07").unwrap();
        assert_eq!(sboms.len(), 1);
        assert_eq!(sboms[0].subject.digest, source.top().digest);
        let bom: serde_json::Value = serde_json::from_slice(&sboms[0].artifact.bytes).unwrap();
        assert_eq!(bom["bomFormat"], "CycloneDX");
        assert!(bom["components"].as_array().unwrap().iter().any(|c| c["name"] == "busybox"), "{bom}");
        let report = document_attachment(AttachmentKind::Report, source.top(), &serde_json::json!({"x": 1}));
        let attached = attach(&session, &copy, &[sboms[0].clone(), report]).unwrap();
        assert_eq!(attached.len(), 2);
        let listed = session.referrers(&copy, Some(SBOM_ARTIFACT_TYPE)).unwrap();
        assert_eq!(listed.descriptors.len(), 1);
        assert_eq!(listed.descriptors[0].digest, attached[0].1.descriptor.digest);
    }
}
