//! The patch job's first half for one image: what to upgrade (the fixable findings of a
//! scan or of a report, named packages, or everything), resolved against the image's own
//! signed repositories and fetched — the plan [`crate::patch_source`] applies.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::PathBuf;

use oci_core::{Digest, Image, ImageSource, MergedFs, OciLayout, Platform};
use serde::Serialize;

use super::image::patch_source_with;
use super::{
    PatchOptions, PatchOutcome, RepoOptions, ScriptPolicy, UpgradePlan, UpgradeRequest, UpgradeTarget, UpgradedPackage,
    apply_capture, apply_upgrades, fetch_apk_packages, fetch_packages, patch_base, resolve_upgrades,
};
use crate::scan::{FindingStatus, ScanReport};
use crate::{ApkVersion, DpkgVersion, PackageFormat, Result, RuleSet, RuleSetId, VexDocument};

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
    /// For a dry run ([`plan_patch`]): what the patch will do to each package's files and
    /// about its scripts, or why that is not known yet. `None` otherwise.
    pub changes: Option<PlannedChanges>,
}

/// What a dry run knows of the planned packages' files and maintainer scripts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "known")]
#[non_exhaustive]
pub enum PlannedChanges {
    /// Every planned package file is in the cache (checked against its SHA256 when read):
    /// per package, the files added, replaced and removed, the conffiles, and every
    /// maintainer script and trigger with what is done about it, computed as the patch
    /// computes them ([`super::apply_upgrades`], nothing written).
    #[serde(rename_all = "camelCase")]
    Exact {
        /// One per planned package, in plan order, as the patch's report will list them.
        packages: Vec<UpgradedPackage>,
        /// Under [`ScriptPolicy::Refuse`], why the patch would be refused (the script
        /// concerned is then listed as not run).
        refused: Option<String>,
    },
    /// Some package files are not in the cache (nothing beyond repository metadata is
    /// fetched): the files and scripts are known once they are fetched
    /// ([`PatchJobOptions::fetch_packages`]).
    #[serde(rename_all = "camelCase")]
    NotFetched {
        /// `NAME:ARCH VERSION` of each planned package whose file is not in the cache.
        missing: Vec<String>,
    },
}

/// Selects and resolves the upgrades of `image` (the image as it is to be patched: its
/// base, for an image patched before), fetching the `.deb`s when `fetch` (a dry run reads
/// only repository metadata). `target` names the image in reports; `today` (YYYY-MM-DD) is
/// the scan's end-of-life date.
///
/// # Errors
/// The scan's ([`crate::Error::MissingDatabase`]…), [`resolve_upgrades`]'s (no sources, a
/// resolution that needs a removal…), and [`fetch_packages`]'s (a hash mismatch…).
pub fn plan_upgrades(
    image: &Image,
    target: &str,
    selection: &UpgradeSelection,
    repo: &RepoOptions,
    today: &str,
    fetch: bool,
) -> Result<PlannedUpgrades> {
    Ok(plan_on(image, target, selection, repo, today, fetch)?.0)
}

/// [`plan_upgrades`], and the merged filesystem of `image` when one was built (with what
/// [`super::apply_upgrades`] reads captured too).
fn plan_on(
    image: &Image,
    target: &str,
    selection: &UpgradeSelection,
    repo: &RepoOptions,
    today: &str,
    fetch: bool,
) -> Result<(PlannedUpgrades, Option<MergedFs>)> {
    let mut fs = None;
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
    let mut apk_keys = None;
    let mut plan = match &request {
        UpgradeRequest::Vulnerable(targets) if targets.is_empty() => UpgradePlan::default(),
        _ => {
            // The files the resolver reads (sources, keys, the dpkg or apk database,
            // os-release) are captured in the one indexing pass, with those the applier
            // reads: reading them later would reopen and decompress the layers once per file.
            let built = MergedFs::build_capturing(image, |p| resolve_capture(p) || apply_capture(p))?;
            let mut plan = resolve_upgrades(&built, &request, repo)?;
            if fetch && plan.format == PackageFormat::Apk {
                // `.apk`s are verified with the image's keys, as its indexes were.
                apk_keys = Some(crate::apk::image_keys(&built, repo, &mut Vec::new())?);
            } else if plan.format == PackageFormat::Apk
                && let Ok(keys) = crate::apk::image_keys(&built, repo, &mut Vec::new())
            {
                // A dry run: `.apk`s fetched by an earlier run are found (and verified) in
                // the cache, so the plan can say exactly what they change.
                super::fetch::locate_cached_apks(&mut plan, repo, &keys);
            }
            fs = Some(built);
            plan
        }
    };
    if let Some(report) = &before
        && let crate::Coverage::NotScanned { reason, .. } = &report.coverage
    {
        plan.warnings.push(format!("the image was not scanned ({reason}): no vulnerable package is known"));
    }
    if fetch {
        match &apk_keys {
            Some(keys) => fetch_apk_packages(&mut plan, repo, keys)?,
            None => fetch_packages(&mut plan, repo)?,
        }
    }
    Ok((PlannedUpgrades { plan, before, changes: None }, fs))
}

/// What the patch will do with `plan` on the image whose merged filesystem is `fs`, when
/// every package file is in the cache of `repo` (or was fetched).
fn planned_changes(
    fs: Option<&MergedFs>,
    plan: &mut UpgradePlan,
    repo: &RepoOptions,
    policy: ScriptPolicy,
) -> Result<PlannedChanges> {
    let layout = oci_core::open_cache(&repo.cache)?;
    let mut missing = Vec::new();
    for p in &mut plan.packages {
        if p.file.local.is_none()
            && let Ok(digest) = format!("sha256:{}", p.file.sha256).parse::<Digest>()
            && layout.has_blob(&digest)
        {
            p.file.local = Some(layout.blob_path(&digest));
        }
        if p.file.local.is_none() {
            missing.push(format!("{}:{} {}", p.name, p.architecture, p.version));
        }
    }
    let (Some(fs), true) = (fs, missing.is_empty()) else {
        return Ok(if missing.is_empty() {
            PlannedChanges::Exact { packages: Vec::new(), refused: None }
        } else {
            PlannedChanges::NotFetched { missing }
        });
    };
    match apply_upgrades(fs, plan, policy) {
        Ok(applied) => Ok(PlannedChanges::Exact { packages: applied.packages, refused: None }),
        Err(refused @ crate::Error::ScriptRefused { .. }) => {
            let applied = apply_upgrades(fs, plan, ScriptPolicy::Warn)?;
            Ok(PlannedChanges::Exact { packages: applied.packages, refused: Some(refused.to_string()) })
        }
        Err(e) => Err(e),
    }
}

/// The paths [`resolve_upgrades`] reads, captured while the merged filesystem is indexed.
fn resolve_capture(path: &str) -> bool {
    path.starts_with("etc/")
        || path.starts_with("var/lib/dpkg/")
        || path.starts_with("lib/apk/db/")
        || path.starts_with("usr/share/apk/keys/")
        || path.starts_with("usr/share/keyrings/")
        || path == "usr/lib/os-release"
}

/// What a patch job needs besides the source, the rules and the working layout.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PatchJobOptions {
    /// What to upgrade.
    pub selection: UpgradeSelection,
    /// The repositories, keys and cache.
    pub repo: RepoOptions,
    /// Platforms, script policy, base name.
    pub patch: PatchOptions,
    /// The source reference as given (reports name it).
    pub target: String,
    /// Today (YYYY-MM-DD), for end-of-life warnings of the scans.
    pub today: String,
    /// [`plan_patch`]: fetch the planned package files into the cache (verified; nothing
    /// else is written), so the dry run knows each package's files and scripts exactly.
    /// Without it, only files already in the cache are used.
    pub fetch_packages: bool,
}

impl PatchJobOptions {
    /// Options for `selection`, with default repositories, patch options and today's date.
    pub fn new(target: impl Into<String>, selection: UpgradeSelection) -> PatchJobOptions {
        PatchJobOptions {
            selection,
            repo: RepoOptions::default(),
            patch: PatchOptions::default(),
            target: target.into(),
            today: crate::today_utc(),
            fetch_packages: false,
        }
    }
}

/// One image of a patch job.
#[derive(Debug)]
#[non_exhaustive]
pub struct PatchJobImage {
    /// Its platform, when an index names one.
    pub platform: Option<Platform>,
    /// The manifest digest of the image as given.
    pub base: Digest,
    /// Its plan and the findings before.
    pub planned: PlannedUpgrades,
    /// The findings after patching: a new scan with the same database, or (for a report
    /// given) the report less what the upgrades fixed.
    pub after: Option<ScanReport>,
}

/// The result of [`patch_job`].
#[derive(Debug)]
#[non_exhaustive]
pub struct PatchJob {
    /// The layers, index and sources written to the working layout.
    pub outcome: PatchOutcome,
    /// One per patched image, in the same order as `outcome.images`.
    pub images: Vec<PatchJobImage>,
}

/// The dry run of [`patch_job`]: each selected image's plan, resolved from repository
/// metadata only (no `.deb` is fetched, nothing is written but cached metadata), with
/// [`PlannedUpgrades::changes`]: when every planned package file is already in the cache,
/// each package's files added, replaced and removed and its maintainer scripts and what is
/// done about them, exactly as the patch will report them; else which files are missing.
/// With [`PatchJobOptions::fetch_packages`] the package files are fetched into the cache
/// (verified) first, so the changes are always known.
///
/// # Errors
/// Those of [`plan_upgrades`], and of [`super::apply_upgrades`] for a cached package file
/// that does not verify or cannot be placed.
pub fn plan_patch(source: &ImageSource, layout: &OciLayout, options: &PatchJobOptions) -> Result<Vec<PatchJobImage>> {
    let (_, selected) = crate::harden::selected_images(source, &options.patch.platforms)?;
    selected
        .iter()
        .map(|image| {
            let base = patch_base(image, layout)?;
            let (mut planned, fs) = plan_on(
                &base,
                &options.target,
                &options.selection,
                &options.repo,
                &options.today,
                options.fetch_packages,
            )?;
            let changes = planned_changes(fs.as_ref(), &mut planned.plan, &options.repo, options.patch.scripts)?;
            planned.changes = Some(changes);
            Ok(PatchJobImage { platform: image.platform(), base: image.digest().clone(), planned, after: None })
        })
        .collect()
}

/// Patches `source` in one call: for each selected image (every platform of an index, or
/// those of [`PatchOptions::platforms`]) the upgrades are selected, resolved against the
/// image's own signed repositories, fetched and verified, then applied together with the
/// fixes of `rules` as exactly one layer ([`super::patch_source`]); the findings after are
/// computed for the report, the VEX document and gates.
///
/// # Errors
/// Those of [`plan_upgrades`] and [`super::patch_source`]; nothing is referenced in `layout` for
/// an image that failed.
pub fn patch_job(
    source: &ImageSource,
    rules: Option<&RuleSet>,
    layout: &OciLayout,
    options: &PatchJobOptions,
) -> Result<PatchJob> {
    let mut planned: Vec<PlannedUpgrades> = Vec::new();
    let outcome = patch_source_with(
        source,
        |base| {
            let (p, fs) = plan_on(base, &options.target, &options.selection, &options.repo, &options.today, true)?;
            let plan = p.plan.clone();
            planned.push(p);
            Ok((Some(plan), fs))
        },
        rules,
        layout,
        &options.patch,
    )?;
    let mut images = Vec::with_capacity(outcome.images.len());
    for (image, planned) in outcome.images.iter().zip(planned) {
        let after = match (&options.selection, &planned.before) {
            (UpgradeSelection::Vulnerable { db_dir }, Some(_)) => {
                let patched = outcome.result.image_at(&image.patched.descriptor)?;
                Some(crate::scan_with_db_dir(&options.target, &patched, db_dir, &options.today)?)
            }
            (_, Some(before)) => Some(after_upgrades(before, &image.patched.upgrades)),
            (_, None) => None,
        };
        images.push(PatchJobImage { platform: image.platform.clone(), base: image.base.clone(), planned, after });
    }
    Ok(PatchJob { outcome, images })
}

/// `before` with the upgrades done: each upgraded package at its new version, and the
/// findings its new source version fixes gone.
pub fn after_upgrades(before: &ScanReport, upgrades: &[UpgradedPackage]) -> ScanReport {
    let mut after = before.clone();
    let upgraded = |name: &str, arch: Option<&str>| {
        upgrades.iter().find(|u| u.name == name && arch.is_none_or(|a| a == u.architecture || u.architecture == "all"))
    };
    for p in &mut after.packages {
        if let Some(u) = upgraded(&p.name, p.architecture.as_deref()) {
            p.version = u.new_version.clone();
            p.source_version = u.source_version.clone();
        }
    }
    after.findings.retain(|f| {
        let Some(u) = upgraded(&f.package, f.architecture.as_deref()) else { return true };
        let Some(fixed) = &f.fixed_version else { return true };
        compare_versions(f.format, &u.source_version, fixed).is_none_or(|o| o == Ordering::Less)
    });
    after
}

/// `a` compared with `b` in the version order of `format` (dpkg's or apk's); `None` when
/// either does not parse.
fn compare_versions(format: PackageFormat, a: &str, b: &str) -> Option<Ordering> {
    match format {
        PackageFormat::Dpkg => Some(a.parse::<DpkgVersion>().ok()?.cmp(&b.parse::<DpkgVersion>().ok()?)),
        PackageFormat::Apk => Some(a.parse::<ApkVersion>().ok()?.cmp(&b.parse::<ApkVersion>().ok()?)),
    }
}

impl PatchJob {
    /// The typed report, once the result was written to `destination` (as given), which
    /// now names `digest`.
    pub fn report(&self, destination: &str, digest: Digest, rules: Option<&RuleSet>, source: &str) -> PatchReport {
        let images = self
            .outcome
            .images
            .iter()
            .zip(&self.images)
            .map(|(patched, job)| PatchedImageReport {
                platform: job.platform.as_ref().map(ToString::to_string),
                base: job.base.clone(),
                digest: patched.patched.descriptor.digest.clone(),
                unchanged: patched.patched.unchanged,
                packages: patched.patched.upgrades.clone(),
                unfixable: job.planned.plan.unfixable.clone(),
                sources: job.planned.plan.sources.clone(),
                warnings: job.planned.plan.warnings.clone(),
                findings_before: job.planned.before.as_ref().map(|r| r.findings.len()),
                findings_after: job.after.as_ref().map(|r| r.findings.len()),
                remaining: job.after.as_ref().map_or_else(Vec::new, |after| {
                    after
                        .findings
                        .iter()
                        .map(|f| RemainingFinding {
                            package: f.package.clone(),
                            installed_version: f.installed_version.clone(),
                            vulnerability: f.vulnerability_id.clone(),
                            severity: f.severity.as_str(),
                            status: f.status.as_str(),
                            fixed_version: f.fixed_version.clone(),
                            note: f.note(),
                        })
                        .collect()
                }),
            })
            .collect();
        PatchReport {
            source: source.to_owned(),
            destination: destination.to_owned(),
            digest,
            rules: rules.map(RuleSetId::from),
            images,
        }
    }

    /// The OpenVEX document of the patch: for each image with findings before and after,
    /// its statements with the image's purl (`name` is the destination's repository) as the
    /// product; `None` when no image had a scan to compare.
    pub fn vex(&self, name: &str, repository_url: Option<&str>, timestamp: &str) -> Option<VexDocument> {
        let mut doc: Option<VexDocument> = None;
        for (patched, job) in self.outcome.images.iter().zip(&self.images) {
            let (Some(before), Some(after)) = (&job.planned.before, &job.after) else { continue };
            let product = crate::oci_purl(name, &patched.patched.descriptor.digest.to_string(), repository_url);
            let one = crate::to_openvex(before, after, &product, timestamp);
            match &mut doc {
                None => doc = Some(one),
                Some(doc) => doc.statements.extend(one.statements),
            }
        }
        doc
    }
}

/// The report of a patch (`patch --report`, `harden --patch --report`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PatchReport {
    /// The source reference as given.
    pub source: String,
    /// The destination reference as given.
    pub destination: String,
    /// The digest written there (the image, or the index).
    pub digest: Digest,
    /// The rule set applied in the same layer, if any.
    pub rules: Option<RuleSetId>,
    /// One per patched image.
    pub images: Vec<PatchedImageReport>,
}

/// One image of a [`PatchReport`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PatchedImageReport {
    /// `os/arch[/variant]`, for an image of an index.
    pub platform: Option<String>,
    /// The image patched (its manifest digest).
    pub base: Digest,
    /// The patched image.
    pub digest: Digest,
    /// Whether it was already patched with this plan and these rules.
    pub unchanged: bool,
    /// Every package upgraded or added: versions, source, reason, `.deb` SHA256, files,
    /// conffiles, scripts and triggers and what was done about them.
    pub packages: Vec<UpgradedPackage>,
    /// Vulnerable packages no configured repository has a fixed version for.
    pub unfixable: Vec<UpgradeTarget>,
    /// The repositories used.
    pub sources: Vec<String>,
    /// Things to know (a trusted=yes source, an expired Release allowed, held packages…).
    pub warnings: Vec<String>,
    /// Findings before, when a scan or a report said.
    pub findings_before: Option<usize>,
    /// Findings after.
    pub findings_after: Option<usize>,
    /// The findings that remain, and why.
    pub remaining: Vec<RemainingFinding>,
}

/// The report of a dry run (`patch --dry-run --report`): each image's plan and what is
/// known of its packages' files and scripts.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PlanReport {
    /// The source reference as given.
    pub source: String,
    /// One per selected image.
    pub images: Vec<PlannedImageReport>,
}

/// One image of a [`PlanReport`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PlannedImageReport {
    /// `os/arch[/variant]`, for an image of an index.
    pub platform: Option<String>,
    /// The image planned for (its manifest digest).
    pub base: Digest,
    /// The plan: packages, versions, sources, reasons, unfixable targets, warnings.
    pub plan: UpgradePlan,
    /// The files, conffiles and scripts per package, or which package files are missing.
    pub changes: Option<PlannedChanges>,
    /// Findings before, when a scan or a report said.
    pub findings_before: Option<usize>,
}

/// The [`PlanReport`] of the dry run [`plan_patch`] of `source` (as given).
pub fn plan_report(source: &str, images: &[PatchJobImage]) -> PlanReport {
    PlanReport {
        source: source.to_owned(),
        images: images
            .iter()
            .map(|image| PlannedImageReport {
                platform: image.platform.as_ref().map(ToString::to_string),
                base: image.base.clone(),
                plan: image.planned.plan.clone(),
                changes: image.planned.changes.clone(),
                findings_before: image.planned.before.as_ref().map(|r| r.findings.len()),
            })
            .collect(),
    }
}

/// A finding that remains after patching.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemainingFinding {
    /// The package.
    pub package: String,
    /// Its version after patching.
    pub installed_version: String,
    /// `CVE-…`.
    pub vulnerability: String,
    /// Severity (`CRITICAL` … `UNKNOWN`).
    pub severity: &'static str,
    /// `affected`, `will_not_fix`, `fix_deferred`, or `fixed` (a fix exists but was not
    /// available in the configured repositories).
    pub status: &'static str,
    /// The fixed version, when one exists.
    pub fixed_version: Option<String>,
    /// A note ("fix requires Ubuntu Pro …").
    pub note: Option<String>,
}

/// The upgrade targets of a scan: every dpkg or apk package with a fixed version, at least to
/// the highest fixed version among its findings (a source version; compared in its format's
/// order), with the vulnerabilities
/// it fixes. Findings without a fix (affected, will-not-fix, a fix only in Ubuntu Pro) are
/// not targets: they stay, and the report says so.
pub fn targets_from_findings(report: &ScanReport) -> Vec<UpgradeTarget> {
    let mut by_package: BTreeMap<(String, Option<String>), (String, Vec<String>)> = BTreeMap::new();
    for f in &report.findings {
        let (FindingStatus::Fixed, Some(fixed)) = (f.status, &f.fixed_version) else {
            continue;
        };
        let entry = by_package
            .entry((f.package.clone(), f.architecture.clone()))
            .or_insert_with(|| (fixed.clone(), Vec::new()));
        let higher = compare_versions(f.format, fixed, &entry.0) == Some(Ordering::Greater);
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
        let mut apk = report.clone();
        apk.findings = vec![
            Finding { format: PackageFormat::Apk, ..finding("musl", "CVE-5", FindingStatus::Fixed, Some("1.2.5-r1")) },
            Finding {
                format: PackageFormat::Apk,
                ..finding("musl", "CVE-6", FindingStatus::Fixed, Some("1.2.5_p1-r0"))
            },
        ];
        // 1.2.5_p1 > 1.2.5-r1 in apk's order (dpkg cannot even read `_p1`'s order).
        let targets = targets_from_findings(&apk);
        assert_eq!(
            (targets.len(), targets[0].fixed_version.as_str(), targets[0].vulnerabilities.len()),
            (1, "1.2.5_p1-r0", 2)
        );
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
