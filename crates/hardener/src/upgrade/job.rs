//! The patch job's first half for one image: what to upgrade (the fixable findings of a
//! scan or of a report, named packages, or everything), resolved against the image's own
//! signed repositories and fetched — the plan [`crate::patch_source`] applies.

use std::collections::BTreeMap;
use std::path::PathBuf;

use oci_core::{Image, MergedFs};

use super::{RepoOptions, UpgradePlan, UpgradeRequest, UpgradeTarget, fetch_debs, resolve_upgrades};
use crate::scan::{FindingStatus, ScanReport};
use crate::{DpkgVersion, PackageFormat, Result};

/// Where the packages to upgrade come from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum UpgradeSelection {
    /// Scan the image against the advisory database in this directory (as `scan` does) and
    /// upgrade every package with a fixed version.
    Vulnerable {
        /// The advisory database directory.
        db_dir: PathBuf,
    },
    /// The fixable findings of a report read back (a Trivy JSON report, as copa takes).
    Report(Box<ScanReport>),
    /// These packages (`NAME` or `NAME:ARCH`), to the newest version of the image's release.
    Packages(Vec<String>),
    /// Every installed package with a newer version in the image's release.
    All,
}

/// A plan for one image, and the scan it came from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PlannedUpgrades {
    /// The resolved plan, its `.deb`s fetched and verified (`deb.local` set).
    pub plan: UpgradePlan,
    /// The findings before patching (a scan, or the report given), when the selection had
    /// them.
    pub before: Option<ScanReport>,
}

/// Selects, resolves and fetches the upgrades of `image` (the image as it is to be patched:
/// its base, for an image patched before). `target` names the image in reports; `today`
/// (YYYY-MM-DD) is the scan's end-of-life date.
///
/// # Errors
/// The scan's ([`crate::Error::MissingDatabase`]…), [`resolve_upgrades`]'s (no sources, a
/// resolution that needs a removal…), and [`fetch_debs`]'s (a hash mismatch…).
pub fn plan_upgrades(
    image: &Image,
    target: &str,
    selection: &UpgradeSelection,
    repo: &RepoOptions,
    today: &str,
) -> Result<PlannedUpgrades> {
    let (request, before) = match selection {
        UpgradeSelection::Vulnerable { db_dir } => {
            let report = crate::scan_with_db_dir(target, image, db_dir, today)?;
            (UpgradeRequest::Vulnerable(targets_from_findings(&report)), Some(report))
        }
        UpgradeSelection::Report(report) => {
            (UpgradeRequest::Vulnerable(targets_from_findings(report)), Some((**report).clone()))
        }
        UpgradeSelection::Packages(names) => (UpgradeRequest::Packages(names.clone()), None),
        UpgradeSelection::All => (UpgradeRequest::All, None),
    };
    let mut plan = match &request {
        UpgradeRequest::Vulnerable(targets) if targets.is_empty() => UpgradePlan::default(),
        _ => {
            let fs = MergedFs::build(image)?;
            resolve_upgrades(&fs, &request, repo)?
        }
    };
    if let Some(report) = &before
        && let crate::Coverage::NotScanned { reason, .. } = &report.coverage
    {
        plan.warnings.push(format!("the image was not scanned ({reason}): no vulnerable package is known"));
    }
    fetch_debs(&mut plan, repo)?;
    Ok(PlannedUpgrades { plan, before })
}

/// The upgrade targets of a scan: every dpkg package with a fixed version, at least to the
/// highest fixed version among its findings (a source version), with the vulnerabilities
/// it fixes. Findings without a fix (affected, will-not-fix, a fix only in Ubuntu Pro) are
/// not targets: they stay, and the report says so.
pub fn targets_from_findings(report: &ScanReport) -> Vec<UpgradeTarget> {
    let mut by_package: BTreeMap<(String, Option<String>), (String, Vec<String>)> = BTreeMap::new();
    for f in &report.findings {
        let (FindingStatus::Fixed, Some(fixed), PackageFormat::Dpkg) = (f.status, &f.fixed_version, f.format) else {
            continue;
        };
        let entry = by_package
            .entry((f.package.clone(), f.architecture.clone()))
            .or_insert_with(|| (fixed.clone(), Vec::new()));
        let higher = match (fixed.parse::<DpkgVersion>(), entry.0.parse::<DpkgVersion>()) {
            (Ok(a), Ok(b)) => a > b,
            _ => false,
        };
        if higher {
            entry.0 = fixed.clone();
        }
        if !entry.1.contains(&f.vulnerability_id) {
            entry.1.push(f.vulnerability_id.clone());
        }
    }
    by_package
        .into_iter()
        .map(|((package, architecture), (fixed_version, mut vulnerabilities))| {
            vulnerabilities.sort();
            UpgradeTarget { package, architecture, fixed_version, vulnerabilities }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Finding, Severity};

    fn finding(package: &str, id: &str, status: FindingStatus, fixed: Option<&str>) -> Finding {
        Finding {
            vulnerability_id: id.into(),
            advisory_ids: vec![],
            package: package.into(),
            installed_version: "1.0-1".into(),
            source_name: "src".into(),
            source_version: "1.0-1".into(),
            fixed_version: fixed.map(Into::into),
            pro_fixed_version: None,
            status,
            severity: Severity::High,
            summary: None,
            layer: None,
            format: PackageFormat::Dpkg,
            architecture: Some("amd64".into()),
        }
    }

    #[test]
    fn targets_take_the_highest_fix_in_dpkg_order_and_skip_what_has_none() {
        let report = ScanReport {
            target: "t".into(),
            image_digest: None,
            config_digest: None,
            diff_ids: vec![],
            architecture: None,
            os: None,
            packages: vec![],
            findings: vec![
                finding("libssl3", "CVE-2", FindingStatus::Fixed, Some("1.0-1+deb12u10")),
                finding("libssl3", "CVE-1", FindingStatus::Fixed, Some("1.0-1+deb12u9")),
                finding("libssl3", "CVE-3", FindingStatus::Affected, None),
                finding("zlib1g", "CVE-4", FindingStatus::WillNotFix, None),
            ],
            warnings: vec![],
            database: None,
            coverage: crate::Coverage::Scanned { ecosystem: "Debian:12".into(), advisories: Some(4) },
        };
        let targets = targets_from_findings(&report);
        assert_eq!(
            targets,
            [UpgradeTarget {
                package: "libssl3".into(),
                architecture: Some("amd64".into()),
                // u10 > u9 in dpkg's order (a string comparison would say otherwise).
                fixed_version: "1.0-1+deb12u10".into(),
                vulnerabilities: vec!["CVE-1".into(), "CVE-2".into()],
            }]
        );
    }
}
