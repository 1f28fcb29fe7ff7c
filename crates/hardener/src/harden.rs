//! The typed report of hardening an image or index ([`HardenReport`]).

use oci_core::Digest;
use serde::Serialize;

use crate::{RuleReport, RuleSetId};

/// The report of hardening an image or index (`harden --report`), as documented in
/// `crates/hardener/rules/README.md`:
/// `{"source", "destination", "digest", "rules", "images"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HardenReport {
    /// The source reference, as given.
    pub source: String,
    /// The destination reference, as given.
    pub destination: String,
    /// What the destination now names (the new top manifest or index digest).
    pub digest: Digest,
    /// The rule set.
    pub rules: RuleSetId,
    /// One per hardened image (platform), in index order.
    pub images: Vec<HardenedImageReport>,
}

/// One hardened image of a [`HardenReport`]:
/// `{"platform", "base", "digest", "unchanged", "layerEntries", "before", "after"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HardenedImageReport {
    /// `os/arch[/variant]`, when the index names it.
    pub platform: Option<String>,
    /// The manifest digest of the image hardened.
    pub base: Digest,
    /// The manifest digest of the hardened image.
    pub digest: Digest,
    /// Whether it was already hardened with these rules.
    pub unchanged: bool,
    /// The patch layer's paths, in order.
    pub layer_entries: Vec<String>,
    /// The rules on the image before hardening.
    pub before: Vec<RuleReport>,
    /// The rules on the hardened image, when evaluated.
    pub after: Option<Vec<RuleReport>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harden_report_has_the_documented_field_names() {
        let d = |s: &[u8]| Digest::sha256(s);
        let report = HardenReport {
            source: "oci:a:1".into(),
            destination: "oci:b:1".into(),
            digest: d(b"top"),
            rules: RuleSetId { name: "baseline".into(), digest: d(b"rules") },
            images: vec![HardenedImageReport {
                platform: Some("linux/amd64".into()),
                base: d(b"base"),
                digest: d(b"new"),
                unchanged: false,
                layer_entries: vec!["etc".into(), "etc/passwd".into()],
                before: Vec::new(),
                after: None,
            }],
        };
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(
            json,
            format!(
                concat!(
                    r#"{{"source":"oci:a:1","destination":"oci:b:1","digest":"{}","rules":{{"name":"baseline","digest":"{}"}},"#,
                    r#""images":[{{"platform":"linux/amd64","base":"{}","digest":"{}","unchanged":false,"#,
                    r#""layerEntries":["etc","etc/passwd"],"before":[],"after":null}}]}}"#
                ),
                d(b"top"),
                d(b"rules"),
                d(b"base"),
                d(b"new")
            )
        );
    }
}
