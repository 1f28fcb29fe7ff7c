//! SARIF 2.1.0 of a scan, through the one SARIF builder ([`crate::sarif`]).

use crate::sarif::{
    PhysicalLocation, Region, RuleProperties, RunProperties, SarifLocation, SarifLog, SarifResult, SarifRule, SarifRun,
    SarifSeverity, Text,
};
use crate::scan::ScanReport;

/// SARIF 2.1.0 for code scanning: one rule per vulnerability id (stable ids), one result
/// per finding located at the package database that lists the package.
pub fn to_sarif(report: &ScanReport) -> SarifLog {
    let mut rule_ids: Vec<&str> = report.findings.iter().map(|f| f.vulnerability_id.as_str()).collect();
    rule_ids.sort();
    rule_ids.dedup();
    let rules = rule_ids
        .iter()
        .map(|id| {
            let f = report.findings.iter().find(|f| f.vulnerability_id == *id).expect("collected from findings");
            SarifRule {
                id: (*id).to_owned(),
                name: "OsPackageVulnerability".to_owned(),
                short_description: Text::new(f.summary.clone().unwrap_or_else(|| format!("{id} in {}", f.source_name))),
                help_uri: Some(format!("https://avd.aquasec.com/nvd/{}", id.to_lowercase())),
                properties: RuleProperties::new(
                    &f.severity,
                    vec!["vulnerability".to_owned(), "security".to_owned(), f.severity.as_str().to_owned()],
                ),
            }
        })
        .collect();
    let results = report
        .findings
        .iter()
        .map(|f| {
            let db_path = report
                .packages
                .iter()
                .find(|p| p.name == f.package && p.version == f.installed_version)
                .map_or("var/lib/dpkg/status", |p| p.db_path.as_str());
            SarifResult {
                rule_id: f.vulnerability_id.clone(),
                rule_index: rule_ids.binary_search(&f.vulnerability_id.as_str()).unwrap_or(0),
                level: f.severity.sarif_level(),
                message: Text::new(format!(
                    "Package: {}\nInstalled Version: {}\nVulnerability {}\nSeverity: {}\nFixed Version: {}\nStatus: {}",
                    f.package,
                    f.installed_version,
                    f.vulnerability_id,
                    f.severity.as_str(),
                    f.fixed_version.as_deref().unwrap_or(""),
                    match f.note() {
                        Some(note) => format!("{} ({note})", f.status.as_str()),
                        None => f.status.as_str().to_owned(),
                    }
                )),
                locations: vec![SarifLocation {
                    physical_location: PhysicalLocation::in_image(db_path, Some(Region::START)),
                    message: Some(Text::new(format!("{}: {}@{}", report.target, f.package, f.installed_version))),
                }],
            }
        })
        .collect();
    SarifLog::new(vec![SarifRun::new(
        rules,
        results,
        RunProperties::Scan {
            image_name: report.target.clone(),
            image_digest: report.image_digest.clone(),
            coverage: (!report.coverage.is_scanned()).then(|| report.coverage.clone()),
        },
    )])
}
