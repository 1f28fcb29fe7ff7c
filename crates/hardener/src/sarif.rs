//! The one SARIF 2.1.0 builder: typed log, run, rule and result values shared by the scan
//! report ([`crate::to_sarif`]) and the rule report ([`crate::evaluation_to_sarif`]), and
//! the one severity table (SARIF `level` and `security-severity`) both use.

use serde::Serialize;

use crate::{RuleSeverity, Severity};

/// The JSON schema a SARIF log names.
pub const SARIF_SCHEMA: &str =
    "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/main/sarif-2.1/schema/sarif-schema-2.1.0.json";
/// The tool name in every report.
pub(crate) const TOOL: &str = "oci-harden";
/// The tool's information URI in every report.
pub(crate) const TOOL_URI: &str = "https://example.invalid/oci-harden";

/// A severity as SARIF sees it: both advisory [`Severity`] and [`RuleSeverity`] map here,
/// so scan and rule reports rate alike.
pub trait SarifSeverity {
    /// `error` (critical, high), `warning` (medium) or `note` (low, unknown).
    fn sarif_level(&self) -> &'static str;
    /// The `security-severity` property GitHub code scanning reads: 9.5, 8.0, 5.5, 2.0, 0.0.
    fn security_severity(&self) -> &'static str;
}

/// The table: advisory severities.
impl SarifSeverity for Severity {
    fn sarif_level(&self) -> &'static str {
        match self {
            Severity::Critical | Severity::High => "error",
            Severity::Medium => "warning",
            Severity::Low | Severity::Unknown => "note",
        }
    }

    fn security_severity(&self) -> &'static str {
        match self {
            Severity::Critical => "9.5",
            Severity::High => "8.0",
            Severity::Medium => "5.5",
            Severity::Low => "2.0",
            Severity::Unknown => "0.0",
        }
    }
}

/// Rule severities rate as the advisory severity of the same name.
impl SarifSeverity for RuleSeverity {
    fn sarif_level(&self) -> &'static str {
        advisory_severity(*self).sarif_level()
    }

    fn security_severity(&self) -> &'static str {
        advisory_severity(*self).security_severity()
    }
}

fn advisory_severity(s: RuleSeverity) -> Severity {
    match s {
        RuleSeverity::Low => Severity::Low,
        RuleSeverity::Medium => Severity::Medium,
        RuleSeverity::High => Severity::High,
        RuleSeverity::Critical => Severity::Critical,
    }
}

/// A SARIF 2.1.0 log: `{"version", "$schema", "runs"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SarifLog {
    /// Always `2.1.0`.
    pub version: &'static str,
    /// [`SARIF_SCHEMA`].
    #[serde(rename = "$schema")]
    pub schema: &'static str,
    /// One run per image (several when a whole index was hardened).
    pub runs: Vec<SarifRun>,
}

impl SarifLog {
    /// A log of these runs.
    pub fn new(runs: Vec<SarifRun>) -> SarifLog {
        SarifLog { version: "2.1.0", schema: SARIF_SCHEMA, runs }
    }
}

/// One run of the tool over one image.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SarifRun {
    /// The tool and its rules.
    pub tool: SarifTool,
    /// One per finding.
    pub results: Vec<SarifResult>,
    /// `ROOTPATH` is `file:///`: locations are paths in the image.
    pub original_uri_base_ids: UriBaseIds,
    /// What was looked at.
    pub properties: RunProperties,
}

impl SarifRun {
    /// A run of this tool version with these rules and results.
    pub fn new(rules: Vec<SarifRule>, results: Vec<SarifResult>, properties: RunProperties) -> SarifRun {
        SarifRun {
            tool: SarifTool {
                driver: SarifDriver {
                    name: TOOL,
                    information_uri: TOOL_URI,
                    version: env!("CARGO_PKG_VERSION"),
                    rules,
                },
            },
            results,
            original_uri_base_ids: UriBaseIds { rootpath: ArtifactUri { uri: "file:///" } },
            properties,
        }
    }
}

/// `{"driver": …}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SarifTool {
    /// The tool.
    pub driver: SarifDriver,
}

/// The tool's name, version and rules.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SarifDriver {
    /// `oci-harden`.
    pub name: &'static str,
    /// Where to read about it.
    pub information_uri: &'static str,
    /// This crate's version.
    pub version: &'static str,
    /// Referenced by index from the results.
    pub rules: Vec<SarifRule>,
}

/// `{"ROOTPATH": {"uri": "file:///"}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UriBaseIds {
    /// The image root.
    #[serde(rename = "ROOTPATH")]
    pub rootpath: ArtifactUri,
}

/// `{"uri": …}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArtifactUri {
    /// The URI.
    pub uri: &'static str,
}

/// Run properties: the image scanned, or the image and rule set checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RunProperties {
    /// A vulnerability scan.
    #[serde(rename_all = "camelCase")]
    Scan {
        /// The image reference.
        image_name: String,
        /// Its manifest digest, when known (`null` otherwise).
        image_digest: Option<String>,
        /// Present only when the image was not scanned: why (so that no result is never
        /// read as "nothing vulnerable").
        #[serde(skip_serializing_if = "Option::is_none")]
        coverage: Option<crate::Coverage>,
    },
    /// A rule evaluation.
    #[serde(rename_all = "camelCase")]
    Rules {
        /// The image reference.
        image_name: String,
        /// The rule set's name.
        rule_set: String,
        /// The rule set's digest.
        rule_set_digest: String,
    },
}

/// A SARIF rule (`reportingDescriptor`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SarifRule {
    /// Stable across runs.
    pub id: String,
    /// A name for the kind of rule.
    pub name: String,
    /// One line.
    pub short_description: Text,
    /// More information, when there is a page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help_uri: Option<String>,
    /// `security-severity` and tags.
    pub properties: RuleProperties,
}

/// `{"text": …}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Text {
    /// The text.
    pub text: String,
}

impl Text {
    /// `{"text": text}`.
    pub fn new(text: impl Into<String>) -> Text {
        Text { text: text.into() }
    }
}

/// A rule's properties.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleProperties {
    /// From the severity table ([`SarifSeverity::security_severity`]).
    #[serde(rename = "security-severity")]
    pub security_severity: &'static str,
    /// Tags.
    pub tags: Vec<String>,
}

impl RuleProperties {
    /// The properties of a rule of this severity.
    pub fn new(severity: &dyn SarifSeverity, tags: Vec<String>) -> RuleProperties {
        RuleProperties { security_severity: severity.security_severity(), tags }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SarifResult {
    /// The rule's id.
    pub rule_id: String,
    /// The rule's index in the driver's rules.
    pub rule_index: usize,
    /// From the severity table ([`SarifSeverity::sarif_level`]).
    pub level: &'static str,
    /// What was found.
    pub message: Text,
    /// Where, in the image.
    pub locations: Vec<SarifLocation>,
}

/// A location in the image.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SarifLocation {
    /// The file.
    pub physical_location: PhysicalLocation,
    /// What is there, when said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Text>,
}

/// A file, and optionally a region of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhysicalLocation {
    /// The path relative to `ROOTPATH`.
    pub artifact_location: ArtifactLocation,
    /// The region, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
}

impl PhysicalLocation {
    /// The image path `path` (leading `/` dropped), relative to `ROOTPATH`.
    pub fn in_image(path: &str, region: Option<Region>) -> PhysicalLocation {
        PhysicalLocation {
            artifact_location: ArtifactLocation {
                uri: path.trim_start_matches('/').to_owned(),
                uri_base_id: "ROOTPATH",
            },
            region,
        }
    }
}

/// `{"uri", "uriBaseId"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactLocation {
    /// The path.
    pub uri: String,
    /// `ROOTPATH`.
    pub uri_base_id: &'static str,
}

/// A text region (1-based).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Region {
    /// First line.
    pub start_line: u32,
    /// First column.
    pub start_column: u32,
    /// Last line.
    pub end_line: u32,
    /// Last column.
    pub end_column: u32,
}

impl Region {
    /// The first character of the file.
    pub const START: Region = Region { start_line: 1, start_column: 1, end_line: 1, end_column: 1 };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_table_for_both_severities() {
        for (rule, advisory) in [
            (RuleSeverity::Low, Severity::Low),
            (RuleSeverity::Medium, Severity::Medium),
            (RuleSeverity::High, Severity::High),
            (RuleSeverity::Critical, Severity::Critical),
        ] {
            assert_eq!(rule.sarif_level(), advisory.sarif_level());
            assert_eq!(rule.security_severity(), advisory.security_severity());
        }
        assert_eq!(
            Severity::ALL.map(|s| (s.sarif_level(), s.security_severity())),
            [("note", "0.0"), ("note", "2.0"), ("warning", "5.5"), ("error", "8.0"), ("error", "9.5")]
        );
    }

    #[test]
    fn log_shape() {
        let run = SarifRun::new(
            vec![SarifRule {
                id: "r".into(),
                name: "k".into(),
                short_description: Text::new("d"),
                help_uri: None,
                properties: RuleProperties::new(&RuleSeverity::High, vec!["hardening".into()]),
            }],
            vec![SarifResult {
                rule_id: "r".into(),
                rule_index: 0,
                level: RuleSeverity::High.sarif_level(),
                message: Text::new("m"),
                locations: vec![SarifLocation {
                    physical_location: PhysicalLocation::in_image("/etc/x", None),
                    message: None,
                }],
            }],
            RunProperties::Scan { image_name: "i".into(), image_digest: None, coverage: None },
        );
        let json = serde_json::to_string(&SarifLog::new(vec![run])).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"version":"2.1.0","$schema":"{SARIF_SCHEMA}","runs":[{{"tool":{{"driver":{{"name":"oci-harden","informationUri":"https://example.invalid/oci-harden","version":"{}","rules":[{{"id":"r","name":"k","shortDescription":{{"text":"d"}},"properties":{{"security-severity":"8.0","tags":["hardening"]}}}}]}}}},"results":[{{"ruleId":"r","ruleIndex":0,"level":"error","message":{{"text":"m"}},"locations":[{{"physicalLocation":{{"artifactLocation":{{"uri":"etc/x","uriBaseId":"ROOTPATH"}}}}}}]}}],"originalUriBaseIds":{{"ROOTPATH":{{"uri":"file:///"}}}},"properties":{{"imageName":"i","imageDigest":null}}}}]}}"#,
                env!("CARGO_PKG_VERSION")
            )
        );
    }
}
