//! Typed rule reports: their JSON is the shape documented in `crates/hardener/rules/README.md`
//! (section "Reports").

use oci_core::Digest;
use serde::Serialize;

use super::{Action, Evaluation, RuleFinding, RuleOutcome, RuleResult, RuleSet, RuleSeverity};

/// A rule's result as reports name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleStatus {
    /// Nothing found.
    Pass,
    /// Findings.
    Fail,
    /// Not applicable.
    Skip,
    /// The rule refused.
    Error,
}

impl RuleStatus {
    /// `pass`, `fail`, `skip` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleStatus::Pass => "pass",
            RuleStatus::Fail => "fail",
            RuleStatus::Skip => "skip",
            RuleStatus::Error => "error",
        }
    }
}

impl std::fmt::Display for RuleStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RuleOutcome {
    /// The status reports print.
    pub fn status(&self) -> RuleStatus {
        match self {
            RuleOutcome::Pass => RuleStatus::Pass,
            RuleOutcome::Fail => RuleStatus::Fail,
            RuleOutcome::Skip { .. } => RuleStatus::Skip,
            RuleOutcome::Error { .. } => RuleStatus::Error,
        }
    }

    /// Why the rule was skipped or refused.
    pub fn detail(&self) -> Option<&str> {
        match self {
            RuleOutcome::Skip { reason } => Some(reason),
            RuleOutcome::Error { message } => Some(message),
            RuleOutcome::Pass | RuleOutcome::Fail => None,
        }
    }
}

/// One rule's result in a report:
/// `{"id", "kind", "severity", "action", "result", "detail", "findings", "fixes"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RuleReport {
    /// The rule's id.
    pub id: String,
    /// Its kind (`strip-setuid`, …).
    pub kind: &'static str,
    /// Its severity.
    pub severity: RuleSeverity,
    /// Its action.
    pub action: Action,
    /// Pass, fail, skip or error.
    pub result: RuleStatus,
    /// Why it was skipped or refused (`null` otherwise).
    pub detail: Option<String>,
    /// What it found.
    pub findings: Vec<RuleFinding>,
    /// How many fixes it planned.
    pub fixes: usize,
}

impl From<&RuleResult> for RuleReport {
    fn from(r: &RuleResult) -> RuleReport {
        RuleReport {
            id: r.rule_id.clone(),
            kind: r.kind,
            severity: r.severity,
            action: r.action,
            result: r.outcome.status(),
            detail: r.outcome.detail().map(str::to_owned),
            findings: r.findings.clone(),
            fixes: r.fixes.len(),
        }
    }
}

impl Evaluation {
    /// One [`RuleReport`] per rule, in rule order: the `results` of a check report.
    pub fn report(&self) -> Vec<RuleReport> {
        self.results.iter().map(RuleReport::from).collect()
    }

    /// Whether a rule at or above `threshold` failed or refused.
    pub fn fails(&self, threshold: RuleSeverity) -> bool {
        self.results
            .iter()
            .any(|r| matches!(r.outcome, RuleOutcome::Fail | RuleOutcome::Error { .. }) && r.severity >= threshold)
    }
}

/// A rule set as reports name it: `{"name", "digest"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleSetId {
    /// The rule set's name.
    pub name: String,
    /// Its digest ([`RuleSet::digest`]).
    pub digest: Digest,
}

impl From<&RuleSet> for RuleSetId {
    fn from(rules: &RuleSet) -> RuleSetId {
        RuleSetId { name: rules.name.clone(), digest: rules.digest() }
    }
}

/// The report of evaluating a rule set on one image: `{"image", "digest", "rules", "results"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CheckReport {
    /// The image reference, as given.
    pub image: String,
    /// The image's manifest digest.
    pub digest: Digest,
    /// The rule set.
    pub rules: RuleSetId,
    /// One per rule, in rule-set order.
    pub results: Vec<RuleReport>,
}

impl CheckReport {
    /// The report of `evaluation` of `rules` on the image `image` (a reference) whose
    /// manifest digest is `digest`.
    pub fn new(image: impl Into<String>, digest: Digest, rules: &RuleSet, evaluation: &Evaluation) -> CheckReport {
        CheckReport { image: image.into(), digest, rules: RuleSetId::from(rules), results: evaluation.report() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(outcome: RuleOutcome, findings: Vec<RuleFinding>) -> RuleResult {
        RuleResult {
            rule_id: "app-user".into(),
            kind: "user",
            severity: RuleSeverity::High,
            action: Action::Fix,
            outcome,
            findings,
            fixes: Vec::new(),
        }
    }

    #[test]
    fn check_report_has_the_documented_field_names() {
        let rules = RuleSet { name: "strict".into(), rules: Vec::new() };
        let evaluation = Evaluation {
            results: vec![
                result(
                    RuleOutcome::Fail,
                    vec![RuleFinding { path: Some("/etc/passwd".into()), message: "no app".into() }],
                ),
                result(
                    RuleOutcome::Skip { reason: "why".into() },
                    vec![RuleFinding { path: None, message: "m".into() }],
                ),
            ],
        };
        let digest = oci_core::Digest::sha256(b"image");
        let json = serde_json::to_string(&CheckReport::new("oci:x:1", digest.clone(), &rules, &evaluation)).unwrap();
        assert_eq!(
            json,
            format!(
                concat!(
                    r#"{{"image":"oci:x:1","digest":"{}","rules":{{"name":"strict","digest":"{}"}},"results":["#,
                    r#"{{"id":"app-user","kind":"user","severity":"high","action":"fix","result":"fail","detail":null,"#,
                    r#""findings":[{{"path":"/etc/passwd","message":"no app"}}],"fixes":0}},"#,
                    r#"{{"id":"app-user","kind":"user","severity":"high","action":"fix","result":"skip","detail":"why","#,
                    r#""findings":[{{"path":null,"message":"m"}}],"fixes":0}}]}}"#
                ),
                digest,
                rules.digest()
            )
        );
        assert!(evaluation.fails(RuleSeverity::High));
        assert!(!evaluation.fails(RuleSeverity::Critical));
    }
}
