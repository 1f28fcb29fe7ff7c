//! Matching installed packages against advisories.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::{
    Advisory, AdvisoryDb, AdvisoryStatus, ApkVersion, DbInfo, DpkgVersion, Ecosystem, Inventory, OsFamily, OsInfo,
    Package, PackageFormat, Result, Severity,
};
use oci_core::{Image, MergedFs};

/// What a finding's fix situation is, as Trivy names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FindingStatus {
    /// A fixed version exists; the installed one is older.
    Fixed,
    /// No fix yet.
    Affected,
    /// The distribution will not fix it.
    WillNotFix,
    /// The distribution postponed the fix.
    FixDeferred,
}

impl FindingStatus {
    /// The name Trivy uses (`fixed`, `affected`, `will_not_fix`, `fix_deferred`).
    pub fn as_str(&self) -> &'static str {
        match self {
            FindingStatus::Fixed => "fixed",
            FindingStatus::Affected => "affected",
            FindingStatus::WillNotFix => "will_not_fix",
            FindingStatus::FixDeferred => "fix_deferred",
        }
    }
}

/// One vulnerability in one installed binary package (as Trivy reports them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The vulnerability (a CVE when there is one).
    pub vulnerability_id: String,
    /// Every advisory id that speaks of it (DSA, DLA, OSV ids…), sorted.
    pub advisory_ids: Vec<String>,
    /// The installed binary package's name.
    pub package: String,
    /// Its installed version.
    pub installed_version: String,
    /// Its source package.
    pub source_name: String,
    /// The source version compared.
    pub source_version: String,
    /// The version that fixes it (the highest any advisory names), if any. Only fixes the
    /// image's own archive publishes: never one that needs Ubuntu Pro.
    pub fixed_version: Option<String>,
    /// For an Ubuntu image, the version that fixes it in Ubuntu Pro (ESM) when the free
    /// archive has no fix: the finding is then [`FindingStatus::Affected`] and
    /// [`Finding::note`] says "fix requires Ubuntu Pro". Installing it needs a Pro
    /// subscription (or Pro repositories configured in the image).
    pub pro_fixed_version: Option<String>,
    /// The fix situation.
    pub status: FindingStatus,
    /// The severity (the highest any advisory gives).
    pub severity: Severity,
    /// A one-line summary, when an advisory has one.
    pub summary: Option<String>,
    /// The layer that introduced the package.
    pub layer: Option<usize>,
    /// The package format.
    pub format: PackageFormat,
    /// The package's architecture.
    pub architecture: Option<String>,
}

/// The note of a finding whose only fix is in Ubuntu Pro ([`Finding::pro_fixed_version`]).
pub const PRO_FIX_NOTE: &str = "fix requires Ubuntu Pro";

impl Finding {
    /// What a report should say next to the status, if anything: for a fix only Ubuntu Pro
    /// publishes, `fix requires Ubuntu Pro (fixed in VERSION)`.
    pub fn note(&self) -> Option<String> {
        self.pro_fixed_version.as_ref().map(|version| format!("{PRO_FIX_NOTE} (fixed in {version})"))
    }
}

/// The result of scanning one image.
#[derive(Debug, Clone)]
pub struct ScanReport {
    /// What was scanned (the reference as given).
    pub target: String,
    /// The image's manifest digest.
    pub image_digest: Option<String>,
    /// The image's config digest (Trivy's `ImageID`).
    pub config_digest: Option<String>,
    /// The layers' diff_ids, base first.
    pub diff_ids: Vec<String>,
    /// The image's CPU architecture (`amd64`), from its config.
    pub architecture: Option<String>,
    /// The operating system, when detected.
    pub os: Option<OsInfo>,
    /// Every installed package.
    pub packages: Vec<Package>,
    /// The findings, sorted by package, then severity (highest first), then id.
    pub findings: Vec<Finding>,
    /// Things the user should know (EOL distribution, old database, unparsable entries).
    pub warnings: Vec<String>,
    /// The advisory database used, if any.
    pub database: Option<DbInfo>,
    /// Whether the image's packages were matched at all: "0 findings" means nothing when
    /// they were not.
    pub coverage: Coverage,
}

/// Whether a scan could match the image's packages against advisories.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase", tag = "status")]
#[non_exhaustive]
pub enum Coverage {
    /// The packages were matched against the advisories of the image's release.
    #[serde(rename_all = "camelCase")]
    Scanned {
        /// The advisory ecosystem (`Debian:12`, `Ubuntu:24.04:LTS`, `Alpine:v3.20`), or
        /// the scanner a report was read from.
        ecosystem: String,
        /// How many advisories the database holds for it (`None` for a report read back).
        advisories: Option<usize>,
    },
    /// The packages were not matched: the findings are empty because nothing was looked
    /// at, not because nothing is vulnerable.
    #[serde(rename_all = "camelCase")]
    NotScanned {
        /// The operating system, as detected (`ubuntu 24.04`), when it was.
        os: Option<String>,
        /// Why (no package database, an OS or release the database does not cover…).
        reason: String,
    },
}

impl Coverage {
    /// Whether the packages were matched.
    pub fn is_scanned(&self) -> bool {
        matches!(self, Coverage::Scanned { .. })
    }
}

/// The outcome of a `--fail-on` gate: see [`ScanReport::gate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// No finding at or above the threshold remains.
    Pass,
    /// A finding at or above the threshold remains.
    Fail,
    /// The image was not scanned: the gate cannot pass it (see [`Coverage::NotScanned`]).
    NotScanned,
}

/// The advisory ecosystem of an operating system (`Debian:12`, `Alpine:v3.20`,
/// `Ubuntu:24.04:LTS`: Ubuntu's free archive; [`Ecosystem::for_matching`] adds its Pro
/// ecosystem).
pub fn ecosystem_of(os: &OsInfo) -> Option<Ecosystem> {
    let version = os.version_id.as_deref()?;
    match os.family {
        OsFamily::Debian if os.id == "debian" => {
            Some(Ecosystem::Debian { release: version.split('.').next()?.to_owned() })
        }
        OsFamily::Debian if os.id == "ubuntu" => Some(Ecosystem::ubuntu(version)),
        OsFamily::Alpine => {
            let branch = os.alpine_branch()?;
            Some(Ecosystem::Alpine { branch: branch.strip_prefix('v').unwrap_or(&branch).to_owned() })
        }
        _ => None,
    }
}

/// Compares two versions of a package format; `None` when either does not parse.
pub fn compare_versions(format: PackageFormat, a: &str, b: &str) -> Option<Ordering> {
    match format {
        PackageFormat::Dpkg => Some(a.parse::<DpkgVersion>().ok()?.cmp(&b.parse::<DpkgVersion>().ok()?)),
        PackageFormat::Apk => Some(a.parse::<ApkVersion>().ok()?.cmp(&b.parse::<ApkVersion>().ok()?)),
    }
}

/// The source version a package is compared with: dpkg's `Source: name (version)` when
/// given; otherwise the binary version, without a binNMU suffix (`+bN`), since binNMUs
/// rebuild the same source.
fn source_version_for_matching(p: &Package) -> String {
    match p.format {
        PackageFormat::Dpkg if p.source_version == p.version => p
            .version
            .parse::<DpkgVersion>()
            .map(|v| v.without_binnmu().to_string())
            .unwrap_or_else(|_| p.version.clone()),
        _ => p.source_version.clone(),
    }
}

/// Matches `packages` of an image running `os` against `db`. Advisories are indexed by
/// source package; the source version is compared with each fixed version using the
/// package format's own ordering. Several advisories for one vulnerability merge: the
/// highest fixed version wins, every advisory id is kept, the highest severity is used.
///
/// For Ubuntu, the release's free-archive advisories decide; its Ubuntu Pro advisories
/// count only where the free archive has no fix: a Pro fix newer than the installed version
/// makes the finding `affected` with [`Finding::pro_fixed_version`] set (an installed Pro
/// version at or above it is not vulnerable). Other releases and FIPS streams are never
/// consulted.
pub fn match_packages(os: &OsInfo, packages: &[Package], db: &AdvisoryDb) -> (Vec<Finding>, Vec<String>) {
    let mut findings = Vec::new();
    let mut warnings = Vec::new();
    let Some(ecosystem) = ecosystem_of(os) else {
        warnings.push(format!(
            "no advisory ecosystem for {} {}: packages not matched",
            os.id,
            os.version_id.as_deref().unwrap_or("?")
        ));
        return (findings, warnings);
    };
    let pro = ecosystem.ubuntu_pro();
    for p in packages {
        let advisories = db.advisories_for(&ecosystem, &p.source_name);
        let pro_advisories = pro.as_ref().map_or(&[][..], |pro| db.advisories_for(pro, &p.source_name));
        if advisories.is_empty() && pro_advisories.is_empty() {
            continue;
        }
        let installed = source_version_for_matching(p);
        // (the image's own archive, Ubuntu Pro) per vulnerability
        type Sides<'a> = (Vec<&'a Advisory>, Vec<&'a Advisory>);
        let mut by_id: BTreeMap<&str, Sides<'_>> = BTreeMap::new();
        for a in advisories {
            by_id.entry(a.id.as_str()).or_default().0.push(a);
        }
        for a in pro_advisories {
            by_id.entry(a.id.as_str()).or_default().1.push(a);
        }
        for (id, (own, pro_group)) in by_id {
            let verdict = evaluate_with_pro(p.format, &installed, &own, &pro_group);
            let group: Vec<&Advisory> = own.iter().chain(&pro_group).copied().collect();
            match verdict {
                Ok(Some((status, fixed, pro_fixed))) => findings.push(Finding {
                    vulnerability_id: id.to_owned(),
                    advisory_ids: {
                        let mut ids: Vec<String> =
                            group.iter().flat_map(|a| a.aliases.iter().cloned()).filter(|x| x != id).collect();
                        ids.sort();
                        ids.dedup();
                        ids
                    },
                    package: p.name.clone(),
                    installed_version: p.version.clone(),
                    source_name: p.source_name.clone(),
                    source_version: installed.clone(),
                    fixed_version: fixed,
                    pro_fixed_version: pro_fixed,
                    status,
                    severity: group.iter().map(|a| a.severity).max().unwrap_or(Severity::Unknown),
                    summary: group.iter().find_map(|a| a.summary.clone()),
                    layer: p.layer,
                    format: p.format,
                    architecture: p.architecture.clone(),
                }),
                Ok(None) => {}
                Err(bad) => warnings.push(format!(
                    "{id} for {} {}: cannot compare with version {bad:?}; skipped",
                    p.source_name, installed
                )),
            }
        }
    }
    findings.sort_by(|a, b| {
        (a.package.as_str(), std::cmp::Reverse(a.severity), a.vulnerability_id.as_str()).cmp(&(
            b.package.as_str(),
            std::cmp::Reverse(b.severity),
            b.vulnerability_id.as_str(),
        ))
    });
    (findings, warnings)
}

/// The verdict of the image's own advisories (`own`) and Ubuntu Pro's (`pro`) for one
/// vulnerability: `own` decides when it has a fix or says the package is not affected;
/// otherwise a Pro fix above the installed version makes it `affected` with that Pro
/// version (third), and a Pro fix at or below it means not vulnerable.
#[allow(clippy::type_complexity)]
fn evaluate_with_pro(
    format: PackageFormat,
    installed: &str,
    own: &[&Advisory],
    pro: &[&Advisory],
) -> std::result::Result<Option<(FindingStatus, Option<String>, Option<String>)>, String> {
    let own_fix = own.iter().any(|a| matches!(a.status, AdvisoryStatus::Fixed { .. }));
    let own_not_affected = !own.is_empty() && own.iter().all(|a| a.status == AdvisoryStatus::NotAffected);
    if pro.is_empty() || own_fix || own_not_affected {
        return Ok(evaluate(format, installed, own)?.map(|(status, fixed)| (status, fixed, None)));
    }
    match evaluate(format, installed, pro)? {
        Some((FindingStatus::Fixed, Some(pro_fix))) => {
            let status = evaluate(format, installed, own)?.map_or(FindingStatus::Affected, |(status, _)| status);
            Ok(Some((status, None, Some(pro_fix))))
        }
        // Pro's fix is installed (a Pro image): nothing left to fix.
        None if pro.iter().any(|a| matches!(a.status, AdvisoryStatus::Fixed { .. })) => Ok(None),
        pro_verdict => {
            Ok(evaluate(format, installed, own)?.or(pro_verdict).map(|(status, fixed)| (status, fixed, None)))
        }
    }
}

/// The verdict of the advisories for one vulnerability on one installed source version:
/// `None` when not vulnerable, else the status and the fixed version.
#[allow(clippy::type_complexity)]
fn evaluate(
    format: PackageFormat,
    installed: &str,
    group: &[&Advisory],
) -> std::result::Result<Option<(FindingStatus, Option<String>)>, String> {
    let mut highest_fix: Option<&str> = None;
    for a in group {
        if let AdvisoryStatus::Fixed { version } = &a.status {
            let higher = match highest_fix {
                None => true,
                Some(h) => compare_versions(format, version, h).ok_or_else(|| version.clone())? == Ordering::Greater,
            };
            if higher {
                highest_fix = Some(version);
            }
        }
    }
    if let Some(fix) = highest_fix {
        return match compare_versions(format, installed, fix).ok_or_else(|| fix.to_owned())? {
            Ordering::Less => Ok(Some((FindingStatus::Fixed, Some(fix.to_owned())))),
            _ => Ok(None),
        };
    }
    let open = group
        .iter()
        .filter_map(|a| match a.status {
            AdvisoryStatus::WillNotFix => Some(FindingStatus::WillNotFix),
            AdvisoryStatus::FixDeferred => Some(FindingStatus::FixDeferred),
            AdvisoryStatus::Affected => Some(FindingStatus::Affected),
            _ => None,
        })
        .max();
    Ok(open.map(|s| (s, None)))
}

/// Scans an image with a loaded advisory database: inventory from its merged filesystem
/// (one pass over the layers, keeping only the OS and package database files), then
/// [`match_packages`]. `today` (YYYY-MM-DD) decides end-of-life warnings.
pub fn scan(target: &str, image: &Image, db: &AdvisoryDb, today: &str) -> Result<ScanReport> {
    let (inventory, fs_warnings) = read_inventory(image, today)?;
    Ok(finish(target, image, inventory, fs_warnings, db))
}

/// [`scan`], loading from the database directory `dir` only the advisories of the
/// image's own distribution release (a fraction of the whole database in memory).
pub fn scan_with_db_dir(target: &str, image: &Image, dir: &std::path::Path, today: &str) -> Result<ScanReport> {
    let (inventory, fs_warnings) = read_inventory(image, today)?;
    let ecosystems: Vec<Ecosystem> = inventory.os.as_ref().and_then(ecosystem_of).into_iter().collect();
    let db = AdvisoryDb::open_for(dir, &ecosystems)?;
    Ok(finish(target, image, inventory, fs_warnings, &db))
}

/// The image's installed packages alone, with no advisory database (an SBOM needs none):
/// a report with no findings whose coverage says the packages were not matched
/// ([`Coverage::NotScanned`]), ready for [`crate::to_cyclonedx`].
pub fn inventory_report(target: &str, image: &Image, today: &str) -> Result<ScanReport> {
    let (inventory, fs_warnings) = read_inventory(image, today)?;
    let Inventory { os, packages, mut warnings } = inventory;
    warnings.extend(fs_warnings);
    let coverage = Coverage::NotScanned {
        os: os.as_ref().map(|o| format!("{} {}", o.id, o.version_id.as_deref().unwrap_or("?"))),
        reason: "inventory only: no advisory database was used".into(),
    };
    Ok(ScanReport {
        target: target.to_owned(),
        image_digest: Some(image.digest().to_string()),
        config_digest: Some(image.manifest().config.digest.to_string()),
        diff_ids: image.layers().iter().map(|l| l.diff_id.to_string()).collect(),
        architecture: image.config().architecture().map(str::to_owned),
        os,
        packages,
        findings: Vec::new(),
        warnings,
        database: None,
        coverage,
    })
}

fn read_inventory(image: &Image, today: &str) -> Result<(Inventory, Vec<String>)> {
    let fs = MergedFs::build_capturing(image, crate::inventory_paths)?;
    let inventory = crate::inventory(&fs, today)?;
    Ok((inventory, fs.warnings().iter().map(ToString::to_string).collect()))
}

fn finish(target: &str, image: &Image, inventory: Inventory, fs_warnings: Vec<String>, db: &AdvisoryDb) -> ScanReport {
    let Inventory { os, packages, mut warnings } = inventory;
    warnings.extend(fs_warnings);
    let mut findings = Vec::new();
    match &os {
        Some(os) => {
            let (f, w) = match_packages(os, &packages, db);
            findings = f;
            warnings.extend(w);
        }
        None => warnings.push("operating system not detected: packages were not matched".into()),
    }
    let coverage = coverage_of(os.as_ref(), &packages, &db.info());
    ScanReport {
        target: target.to_owned(),
        image_digest: Some(image.digest().to_string()),
        config_digest: Some(image.manifest().config.digest.to_string()),
        diff_ids: image.layers().iter().map(|l| l.diff_id.to_string()).collect(),
        architecture: image.config().architecture().map(str::to_owned),
        os,
        packages,
        findings,
        warnings,
        database: Some(db.info()),
        coverage,
    }
}

/// Whether `packages` of `os` could be matched with a database holding `info`.
pub fn coverage_of(os: Option<&OsInfo>, packages: &[Package], info: &DbInfo) -> Coverage {
    let Some(os) = os else {
        return Coverage::NotScanned { os: None, reason: "the operating system was not detected".into() };
    };
    let name = format!("{} {}", os.id, os.version_id.as_deref().unwrap_or("(no version)"));
    let not_scanned = |reason: String| Coverage::NotScanned { os: Some(name.clone()), reason };
    if packages.is_empty() {
        return not_scanned("no package database (dpkg or apk) was found in the image".into());
    }
    let Some(ecosystem) = ecosystem_of(os) else {
        return not_scanned(format!("no advisory source covers {name}"));
    };
    let advisories: usize = info.ecosystems.iter().filter(|(e, _)| *e == ecosystem).map(|(_, n)| n).sum();
    if advisories == 0 {
        return not_scanned(format!("the advisory database holds no advisories for {ecosystem}"));
    }
    Coverage::Scanned { ecosystem: ecosystem.to_string(), advisories: Some(advisories) }
}

impl ScanReport {
    /// Keeps only findings at or above `min` severity and, with `ignore_unfixed`, only
    /// those with a fix.
    pub fn filter(&mut self, severities: Option<&[Severity]>, ignore_unfixed: bool) {
        self.findings.retain(|f| {
            severities.is_none_or(|s| s.contains(&f.severity)) && (!ignore_unfixed || f.status == FindingStatus::Fixed)
        });
    }

    /// Whether a finding at or above `threshold` remains.
    pub fn fails(&self, threshold: Severity) -> bool {
        self.findings.iter().any(|f| f.severity >= threshold)
    }

    /// A CI gate at `threshold`: an image that was not scanned never passes, unless
    /// `allow_not_scanned` says the caller accepts that.
    pub fn gate(&self, threshold: Severity, allow_not_scanned: bool) -> Gate {
        if !self.coverage.is_scanned() && !allow_not_scanned {
            Gate::NotScanned
        } else if self.fails(threshold) {
            Gate::Fail
        } else {
            Gate::Pass
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bookworm() -> OsInfo {
        OsInfo {
            id: "debian".into(),
            version_id: Some("12".into()),
            codename: Some("bookworm".into()),
            pretty_name: None,
            family: OsFamily::Debian,
            distroless: false,
            eol: None,
        }
    }

    fn deb(name: &str, version: &str, source: Option<(&str, &str)>) -> Package {
        let (source_name, source_version) = source.unwrap_or((name, version));
        Package {
            name: name.into(),
            version: version.into(),
            architecture: Some("amd64".into()),
            source_name: source_name.into(),
            source_version: source_version.into(),
            format: PackageFormat::Dpkg,
            layer: Some(0),
            db_path: "/var/lib/dpkg/status".into(),
            status: Some("installed".into()),
        }
    }

    fn advisory(id: &str, package: &str, status: AdvisoryStatus, severity: Severity, alias: &str) -> Advisory {
        Advisory {
            id: id.into(),
            aliases: vec![alias.into()],
            ecosystem: Ecosystem::Debian { release: "12".into() },
            package: package.into(),
            status,
            severity,
            summary: None,
            note: None,
            source: "test".into(),
        }
    }

    fn fixed(v: &str) -> AdvisoryStatus {
        AdvisoryStatus::Fixed { version: v.into() }
    }

    /// bsdutils is built from util-linux, dmsetup from lvm2: advisories name the source
    /// package, and the *source* version is compared (the biggest source of false results
    /// when done wrong).
    #[test]
    fn binary_packages_match_through_their_source() {
        let mut db = AdvisoryDb::new();
        db.insert(advisory("CVE-2024-28085", "util-linux", fixed("2.38.1-5+deb12u1"), Severity::High, "DSA-5650-1"));
        db.insert(advisory("CVE-2022-1234", "lvm2", fixed("2.03.16-2+deb12u1"), Severity::Medium, "DLA-1"));
        db.insert(advisory("CVE-2099-0001", "bsdutils", fixed("9:9"), Severity::Critical, "X-1"));
        let packages = [
            deb("bsdutils", "1:2.38.1-5+deb12u3", Some(("util-linux", "2.38.1-5+deb12u3"))),
            deb("libmount1", "2.38.1-5", Some(("util-linux", "2.38.1-5"))),
            deb("dmsetup", "2:1.02.185-2", Some(("lvm2", "2.03.16-2"))),
        ];
        let (findings, warnings) = match_packages(&bookworm(), &packages, &db);
        assert!(warnings.is_empty(), "{warnings:?}");
        let got: Vec<(&str, &str, Option<&str>)> = findings
            .iter()
            .map(|f| (f.package.as_str(), f.vulnerability_id.as_str(), f.fixed_version.as_deref()))
            .collect();
        // bsdutils' own epoch-1 version would be "newer" than the fix; its source is not.
        // The advisory for a *binary* name (bsdutils) never matches.
        assert_eq!(
            got,
            [
                ("dmsetup", "CVE-2022-1234", Some("2.03.16-2+deb12u1")),
                ("libmount1", "CVE-2024-28085", Some("2.38.1-5+deb12u1")),
            ]
        );
        assert_eq!(findings[1].advisory_ids, ["DSA-5650-1"]);
    }

    /// A binNMU (`+b1`) rebuilds the same source: libcap2 1:2.66-4+b1 without a `Source:`
    /// version is source libcap2 1:2.66-4, fixed by 1:2.66-4+deb12u1.
    #[test]
    fn binnmu_versions_compare_as_their_source() {
        let mut db = AdvisoryDb::new();
        db.insert(advisory("CVE-2023-2603", "libcap2", fixed("1:2.66-4+deb12u1"), Severity::High, "DSA-1"));
        db.insert(advisory("CVE-2000-0001", "libcap2", fixed("1:2.66-4"), Severity::Low, "DSA-2"));
        let (findings, _) = match_packages(&bookworm(), &[deb("libcap2", "1:2.66-4+b1", None)], &db);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].vulnerability_id, "CVE-2023-2603");
        assert_eq!(findings[0].source_version, "1:2.66-4");
        assert_eq!(findings[0].installed_version, "1:2.66-4+b1");
    }

    /// Several advisories for one CVE: the highest fix wins, ids and severity merge;
    /// not-affected and already-fixed produce nothing; unfixed statuses are reported with
    /// the most specific status.
    #[test]
    fn advisories_merge_and_statuses_map() {
        let mut db = AdvisoryDb::new();
        db.insert(advisory("CVE-1", "openssl", fixed("3.0.11-1~deb12u1"), Severity::Medium, "DSA-a"));
        db.insert(advisory("CVE-1", "openssl", fixed("3.0.13-1~deb12u1"), Severity::High, "DSA-b"));
        db.insert(advisory("CVE-2", "openssl", AdvisoryStatus::NotAffected, Severity::High, "x"));
        db.insert(advisory("CVE-3", "openssl", fixed("3.0.1-1"), Severity::High, "y"));
        db.insert(advisory("CVE-4", "openssl", AdvisoryStatus::Affected, Severity::Low, "z"));
        db.insert(advisory("CVE-4", "openssl", AdvisoryStatus::WillNotFix, Severity::Low, "w"));
        db.insert(advisory("CVE-5", "openssl", AdvisoryStatus::FixDeferred, Severity::Unknown, "v"));
        let (findings, _) = match_packages(
            &bookworm(),
            &[deb("libssl3", "3.0.11-1~deb12u2", Some(("openssl", "3.0.11-1~deb12u2")))],
            &db,
        );
        let got: Vec<(&str, FindingStatus, Option<&str>, Severity)> = findings
            .iter()
            .map(|f| (f.vulnerability_id.as_str(), f.status, f.fixed_version.as_deref(), f.severity))
            .collect();
        assert_eq!(
            got,
            [
                ("CVE-1", FindingStatus::Fixed, Some("3.0.13-1~deb12u1"), Severity::High),
                ("CVE-4", FindingStatus::WillNotFix, None, Severity::Low),
                ("CVE-5", FindingStatus::FixDeferred, None, Severity::Unknown),
            ]
        );
        assert_eq!(findings[0].advisory_ids, ["DSA-a", "DSA-b"]);
    }

    /// A fixed version that does not parse is not silently dropped: it is a warning.
    #[test]
    fn uncomparable_versions_are_warned_about() {
        let mut db = AdvisoryDb::new();
        db.insert(advisory("CVE-9", "bash", fixed("not a version"), Severity::High, "a"));
        let (findings, warnings) = match_packages(&bookworm(), &[deb("bash", "5.2.15-2+b2", None)], &db);
        assert!(findings.is_empty());
        assert!(warnings[0].contains("CVE-9") && warnings[0].contains("not a version"), "{warnings:?}");
    }

    /// The OS detection's verdict on an Ubuntu os-release.
    fn ubuntu_os(os_release: &str) -> OsInfo {
        let files = crate::os::OsFiles {
            os_release: Some(os_release.to_owned()),
            debian_version: Some("trixie/sid\n".into()),
            dpkg_status: true,
            ..Default::default()
        };
        crate::os::identify(&files, "2025-01-01").0.unwrap()
    }

    /// Ubuntu 24.04's own `/usr/lib/os-release`.
    fn noble() -> OsInfo {
        ubuntu_os(concat!(
            "PRETTY_NAME=\"Ubuntu 24.04 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\n",
            "VERSION=\"24.04 LTS (Noble Numbat)\"\nVERSION_CODENAME=noble\nID=ubuntu\nID_LIKE=debian\n",
        ))
    }

    /// The real Ubuntu records, saved and opened for the image's release as a scan does.
    fn ubuntu_db(extra: &[u8]) -> (tempfile::TempDir, AdvisoryDb) {
        let fixtures =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/advisories/ubuntu-osv");
        let mut db = AdvisoryDb::new();
        db.ingest_path(&fixtures).unwrap();
        if !extra.is_empty() {
            db.ingest_reader("crafted.json", extra).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        db.save(dir.path()).unwrap();
        let ecosystems: Vec<Ecosystem> = ecosystem_of(&noble()).into_iter().collect();
        let loaded = AdvisoryDb::open_for(dir.path(), &ecosystems).unwrap();
        (dir, loaded)
    }

    fn status_db(stanzas: &[(&str, &str, &str)]) -> Vec<Package> {
        let text: String = stanzas
            .iter()
            .map(|(package, source, version)| {
                let source = if source.is_empty() { String::new() } else { format!("Source: {source}\n") };
                format!("Package: {package}\nStatus: install ok installed\nArchitecture: amd64\n{source}Version: {version}\n\n")
            })
            .collect();
        let (packages, warnings) = crate::parse_dpkg_status(&text, "/var/lib/dpkg/status").unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(packages.len(), stanzas.len());
        packages
    }

    type Row<'a> = (&'a str, &'a str, FindingStatus, Option<&'a str>, Severity);

    fn rows(findings: &[Finding]) -> Vec<Row<'_>> {
        findings
            .iter()
            .map(|f| {
                (f.package.as_str(), f.vulnerability_id.as_str(), f.status, f.fixed_version.as_deref(), f.severity)
            })
            .collect()
    }

    /// A noble image from the release pocket (every version below is in the records'
    /// `versions` lists for `Ubuntu:24.04:LTS`) against the ten real Ubuntu records: the
    /// 14 findings the fixtures' README describes, matched through source packages (the
    /// `t64` library, `liblzma5`, `perl-base`); the noble fixes, never an interim
    /// release's; no tomcat (not installed), no FIPS entry; `introduced: 0` affected.
    #[test]
    fn a_noble_release_pocket_image_gets_exactly_the_ubuntu_findings() {
        let os = noble();
        assert_eq!(ecosystem_of(&os).unwrap().to_string(), "Ubuntu:24.04:LTS");
        let (_dir, db) = ubuntu_db(b"");
        let packages = status_db(&[
            ("coreutils", "", "9.4-3ubuntu6"),
            ("libcap2", "", "1:2.66-5ubuntu2"),
            ("liblzma5", "xz-utils", "5.6.1+really5.4.5-1build0.1"),
            ("libssl3t64", "openssl", "3.0.13-0ubuntu3"),
            ("openssl", "", "3.0.13-0ubuntu3"),
            ("perl-base", "perl", "5.38.2-3.2build2"),
        ]);
        let (findings, warnings) = match_packages(&os, &packages, &db);
        assert!(warnings.is_empty(), "{warnings:?}");
        use FindingStatus::{Affected, Fixed};
        let openssl = |package| -> [Row<'_>; 5] {
            [
                (package, "CVE-2025-15467", Fixed, Some("3.0.13-0ubuntu3.7"), Severity::Critical),
                (package, "CVE-2024-41996", Affected, None, Severity::High),
                (package, "CVE-2024-6119", Fixed, Some("3.0.13-0ubuntu3.4"), Severity::High),
                (package, "CVE-2024-4603", Fixed, Some("3.0.13-0ubuntu3.2"), Severity::Low),
                (package, "CVE-2024-4741", Fixed, Some("3.0.13-0ubuntu3.2"), Severity::Low),
            ]
        };
        let mut expected: Vec<Row<'_>> = vec![
            ("coreutils", "CVE-2016-2781", Affected, None, Severity::Medium),
            ("libcap2", "CVE-2025-1390", Fixed, Some("1:2.66-5ubuntu2.2"), Severity::Medium),
            ("liblzma5", "CVE-2025-31115", Fixed, Some("5.6.1+really5.4.5-1ubuntu0.2"), Severity::Medium),
        ];
        expected.extend(openssl("libssl3t64"));
        expected.extend(openssl("openssl"));
        expected.push(("perl-base", "CVE-2024-56406", Fixed, Some("5.38.2-3.2ubuntu0.1"), Severity::Medium));
        assert_eq!(rows(&findings), expected);
        assert!(findings.iter().all(|f| f.pro_fixed_version.is_none() && f.note().is_none()));
        let t64 = findings.iter().find(|f| f.package == "libssl3t64").unwrap();
        assert_eq!((t64.source_name.as_str(), t64.source_version.as_str()), ("openssl", "3.0.13-0ubuntu3"));
        assert_eq!(t64.advisory_ids, ["UBUNTU-CVE-2025-15467", "USN-7980-1"]);

        // Patched past every fix: only the unfixed ones remain. CVE-2024-41996's `versions`
        // list stops at 3.0.13-0ubuntu3.9; a newer version than any listed is still affected.
        let patched =
            status_db(&[("libssl3t64", "openssl", "3.0.13-0ubuntu3.10"), ("perl-base", "perl", "5.38.2-3.2ubuntu0.1")]);
        let (findings, _) = match_packages(&os, &patched, &db);
        assert_eq!(rows(&findings), [("libssl3t64", "CVE-2024-41996", Affected, None, Severity::High)]);
    }

    /// dpkg as the judge: for every installed package of the noble image and every fixed
    /// version the records give for its source (noble's, and the interim releases' that
    /// must not be used), a `fixed` finding with that version exists exactly when dpkg says
    /// the installed source version is lower and the fix is noble's (or, for an interim
    /// release's fix, never).
    #[test]
    fn noble_verdicts_agree_with_dpkg_compare_versions() {
        let dpkg_lt = |a: &str, b: &str| {
            let status = std::process::Command::new("dpkg").args(["--compare-versions", a, "lt", b]).status();
            status.expect("dpkg --compare-versions runs").success()
        };
        let (_dir, db) = ubuntu_db(b"");
        let mut all = AdvisoryDb::new();
        let fixtures =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/advisories/ubuntu-osv");
        all.ingest_path(&fixtures).unwrap();
        let packages = status_db(&[
            ("coreutils", "", "9.4-3ubuntu6"),
            ("libcap2", "", "1:2.66-5ubuntu2"),
            ("liblzma5", "xz-utils", "5.6.1+really5.4.5-1build0.1"),
            ("libssl3t64", "openssl", "3.0.13-0ubuntu3"),
            ("perl-base", "perl", "5.38.2-3.2build2"),
        ]);
        let (findings, _) = match_packages(&noble(), &packages, &db);
        let mut judged = 0;
        for p in &packages {
            for ecosystem in ["Ubuntu:24.04:LTS", "Ubuntu:24.10", "Ubuntu:25.04"] {
                let ecosystem: Ecosystem = ecosystem.parse().unwrap();
                let noble_release = ecosystem == ecosystem_of(&noble()).unwrap();
                for a in all.advisories_for(&ecosystem, &p.source_name) {
                    let Some(fix) = a.status.fixed_version() else { continue };
                    let reported = findings.iter().any(|f| {
                        f.package == p.name && f.vulnerability_id == a.id && f.fixed_version.as_deref() == Some(fix)
                    });
                    let lower = dpkg_lt(&p.source_version, fix);
                    assert_eq!(reported, noble_release && lower, "{} {} {} {ecosystem} {fix}", p.name, p.version, a.id);
                    judged += 1;
                }
            }
        }
        // Seven noble fixes (openssl ×4, xz-utils, libcap2, perl) and four interim ones.
        assert_eq!(judged, 11);
    }

    /// A fix published only under `Ubuntu:Pro:24.04:LTS` is no fix for an image on the free
    /// archive: `affected`, with the Pro version and the note. Real record
    /// (UBUNTU-CVE-2025-24813: tomcat9 `introduced: 0` in noble, fixed in Pro), plus a
    /// crafted one (marked so) for a package the free ecosystem does not list at all.
    #[test]
    fn a_fix_only_in_ubuntu_pro_is_affected_with_the_pro_version() {
        let crafted = br#"{"schema_version": "1.7.0", "id": "UBUNTU-CVE-2099-0002", "upstream": ["CVE-2099-0002"],
          "details": "CRAFTED for a test in the shape of UBUNTU-CVE-2025-24813; not Ubuntu data.",
          "severity": [{"type": "Ubuntu", "score": "negligible"}],
          "affected": [{"package": {"ecosystem": "Ubuntu:Pro:24.04:LTS", "name": "crafted-src"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0-1ubuntu0.1~esm1"}]}],
            "ecosystem_specific": {"availability": "Available with Ubuntu Pro: https://ubuntu.com/pro"}}]}"#;
        let (_dir, db) = ubuntu_db(crafted);
        let packages = status_db(&[
            ("libtomcat9-java", "tomcat9", "9.0.70-2ubuntu0.1"),
            // Pro's own build installed (an image with Pro repositories): not vulnerable.
            ("tomcat10", "", "10.1.16-1ubuntu0.1~esm1"),
            ("crafted-bin", "crafted-src", "1.0-1"),
        ]);
        let (findings, warnings) = match_packages(&noble(), &packages, &db);
        assert!(warnings.is_empty(), "{warnings:?}");
        /// (package, vulnerability, status, fixed version, Pro's fixed version, severity)
        type ProRow<'a> = (&'a str, &'a str, FindingStatus, Option<&'a str>, Option<&'a str>, Severity);
        let got: Vec<ProRow<'_>> = findings
            .iter()
            .map(|f| {
                (
                    f.package.as_str(),
                    f.vulnerability_id.as_str(),
                    f.status,
                    f.fixed_version.as_deref(),
                    f.pro_fixed_version.as_deref(),
                    f.severity,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "crafted-bin",
                    "CVE-2099-0002",
                    FindingStatus::Affected,
                    None,
                    Some("1.0-1ubuntu0.1~esm1"),
                    Severity::Low
                ),
                (
                    "libtomcat9-java",
                    "CVE-2025-24813",
                    FindingStatus::Affected,
                    None,
                    Some("9.0.70-2ubuntu0.1+esm1"),
                    Severity::Critical
                ),
            ]
        );
        assert_eq!(findings[1].note().as_deref(), Some("fix requires Ubuntu Pro (fixed in 9.0.70-2ubuntu0.1+esm1)"));
        // The Pro record's ids are kept with the archive's.
        assert_eq!(findings[1].advisory_ids, ["UBUNTU-CVE-2025-24813", "USN-7525-1", "USN-7525-2"]);
    }

    /// Where the free archive has a fix, Ubuntu Pro's is not consulted; a Pro entry never
    /// turns a fixed version into an unfixed one.
    #[test]
    fn an_archive_fix_wins_over_a_pro_fix() {
        let ubuntu = |stream: &str| -> Ecosystem { format!("Ubuntu:{stream}24.04:LTS").parse().unwrap() };
        let mut db = AdvisoryDb::new();
        let mut pkg = advisory("CVE-7", "zlib", fixed("1:1.3-1ubuntu0.1"), Severity::High, "UBUNTU-CVE-7");
        pkg.ecosystem = ubuntu("");
        db.insert(pkg.clone());
        pkg.ecosystem = ubuntu("Pro:");
        pkg.status = fixed("1:1.3-1ubuntu0.1~esm1");
        db.insert(pkg.clone());
        pkg.ecosystem = ubuntu("Pro:FIPS-updates:");
        pkg.status = fixed("1:9.9");
        db.insert(pkg);
        let (findings, _) = match_packages(&noble(), &[deb("zlib1g", "1:1.3-1", Some(("zlib", "1:1.3-1")))], &db);
        let got: Vec<(Option<&str>, Option<&str>)> =
            findings.iter().map(|f| (f.fixed_version.as_deref(), f.pro_fixed_version.as_deref())).collect();
        assert_eq!(got, [(Some("1:1.3-1ubuntu0.1"), None)]);
        let (findings, _) =
            match_packages(&noble(), &[deb("zlib1g", "1:1.3-1ubuntu0.1", Some(("zlib", "1:1.3-1ubuntu0.1")))], &db);
        assert!(findings.is_empty(), "{findings:?}");
    }

    #[test]
    fn ecosystems_of_distributions() {
        assert_eq!(ecosystem_of(&bookworm()), Some(Ecosystem::Debian { release: "12".into() }));
        let alpine = OsInfo {
            id: "alpine".into(),
            version_id: Some("3.20.3".into()),
            codename: None,
            pretty_name: None,
            family: OsFamily::Alpine,
            distroless: false,
            eol: None,
        };
        assert_eq!(ecosystem_of(&alpine), Some(Ecosystem::Alpine { branch: "3.20".into() }));
        let jammy = ubuntu_os("ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"22.04\"\nVERSION_CODENAME=jammy\n");
        assert_eq!(ecosystem_of(&jammy).unwrap().to_string(), "Ubuntu:22.04:LTS");
        let oracular = ubuntu_os("ID=ubuntu\nVERSION_ID=\"24.10\"\n");
        assert_eq!(ecosystem_of(&oracular).unwrap().to_string(), "Ubuntu:24.10");
    }
}
