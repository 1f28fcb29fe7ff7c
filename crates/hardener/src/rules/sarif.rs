//! SARIF 2.1.0 of a rule evaluation, through the one SARIF builder ([`crate::sarif`]).

use super::{Evaluation, RuleOutcome, RuleSet};
use crate::sarif::{
    PhysicalLocation, RuleProperties, RunProperties, SarifLocation, SarifLog, SarifResult, SarifRule, SarifRun,
    SarifSeverity, Text,
};

/// SARIF 2.1.0 of a rule evaluation: one SARIF rule per rule of the set (stable ids), one
/// result per finding of a failing or refusing rule, located at the path it names
/// (`config.json` for config findings).
pub fn evaluation_to_sarif(target: &str, rules: &RuleSet, evaluation: &Evaluation) -> SarifLog {
    SarifLog::new(vec![evaluation_sarif_run(target, rules, evaluation)])
}

/// The one run of [`evaluation_to_sarif`]: several images' runs make one log
/// ([`SarifLog::new`]).
pub fn evaluation_sarif_run(target: &str, rules: &RuleSet, evaluation: &Evaluation) -> SarifRun {
    let sarif_rules: Vec<SarifRule> = evaluation
        .results
        .iter()
        .map(|r| SarifRule {
            id: r.rule_id.clone(),
            name: r.kind.to_owned(),
            short_description: Text::new(format!("{} ({})", r.rule_id, r.kind)),
            help_uri: None,
            properties: RuleProperties::new(&r.severity, vec!["hardening".to_owned(), r.kind.to_owned()]),
        })
        .collect();
    let mut results = Vec::new();
    for (index, r) in evaluation.results.iter().enumerate() {
        if !matches!(r.outcome, RuleOutcome::Fail | RuleOutcome::Error { .. }) {
            continue;
        }
        let mut findings: Vec<(Option<&str>, String)> =
            r.findings.iter().map(|f| (f.path.as_deref(), f.message.clone())).collect();
        if let RuleOutcome::Error { message } = &r.outcome {
            findings.push((None, format!("refused: {message}")));
        }
        for (path, message) in findings {
            results.push(SarifResult {
                rule_id: r.rule_id.clone(),
                rule_index: index,
                level: r.severity.sarif_level(),
                message: Text::new(message),
                locations: vec![SarifLocation {
                    physical_location: PhysicalLocation::in_image(path.unwrap_or("config.json"), None),
                    message: None,
                }],
            });
        }
    }
    SarifRun::new(
        sarif_rules,
        results,
        RunProperties::Rules {
            image_name: target.to_owned(),
            rule_set: rules.name.clone(),
            rule_set_digest: rules.digest().to_string(),
        },
    )
}
