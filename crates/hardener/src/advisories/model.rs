//! The advisory data model: what one advisory says about one source package in one
//! distribution release.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use crate::{Error, Result};

/// A distribution release that advisories apply to, named as OSV names its ecosystems.
///
/// `Display` and `FromStr` use the OSV spelling: `Debian:12`, `Alpine:v3.20`,
/// `Ubuntu:24.04:LTS`, `Ubuntu:24.10`, `Ubuntu:Pro:24.04:LTS`,
/// `Ubuntu:Pro:FIPS-updates:24.04:LTS`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Ecosystem {
    /// A Debian release by version number (`"12"`), or `"sid"`.
    Debian {
        /// `"12"`, `"11"`, … or `"sid"`.
        release: String,
    },
    /// An Alpine branch (`"3.20"`, `"edge"`).
    Alpine {
        /// `"3.20"`, without the `v` OSV puts in front.
        branch: String,
    },
    /// An Ubuntu release (`"24.04"`, `"24.10"`) in one of its package streams: the free
    /// archive, Ubuntu Pro (ESM) or another Pro stream (FIPS).
    Ubuntu {
        /// `"24.04"`, `"22.04"`, `"24.10"`: `YY.MM`, without a point release. Whether it is an
        /// LTS release follows from the number ([`Ecosystem::is_ubuntu_lts`]).
        release: String,
        /// Which packages the advisory speaks of.
        stream: UbuntuStream,
    },
}

/// The stream of Ubuntu packages an [`Ecosystem::Ubuntu`] advisory speaks of.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum UbuntuStream {
    /// The free archive every image can use: the release, `-updates` and `-security`
    /// pockets (OSV `Ubuntu:24.04:LTS`).
    Archive,
    /// Ubuntu Pro's Expanded Security Maintenance (`esm-infra`, `esm-apps`), which needs a
    /// subscription (OSV `Ubuntu:Pro:24.04:LTS`). A fix published only here is reported as
    /// "fix requires Ubuntu Pro" for an image on the free archive.
    Pro,
    /// Another Pro stream with its own package builds, such as `FIPS-updates`,
    /// `FIPS-preview` or `FIPS` (OSV `Ubuntu:Pro:FIPS-updates:24.04:LTS`): never a fix for
    /// an image on the plain archive, and never matched against one.
    ProVariant(String),
}

/// The `Ubuntu:` ecosystem from what follows it (`24.04:LTS`, `Pro:24.04:LTS`,
/// `Pro:FIPS-updates:24.04:LTS`, `24.10`); `None` when it is not of that shape.
fn parse_ubuntu(rest: &str) -> Option<Ecosystem> {
    let mut parts: Vec<&str> = rest.split(':').collect();
    if parts.last() == Some(&"LTS") {
        parts.pop();
    }
    let release = parts.pop()?;
    let stream = match parts.as_slice() {
        [] => UbuntuStream::Archive,
        ["Pro"] => UbuntuStream::Pro,
        ["Pro", variant] if !variant.is_empty() && !variant.contains(char::is_whitespace) => {
            UbuntuStream::ProVariant((*variant).to_owned())
        }
        _ => return None,
    };
    let (year, month) = release.split_once('.')?;
    let numeric = |s: &str| !s.is_empty() && s.len() <= 2 && s.chars().all(|c| c.is_ascii_digit());
    (numeric(year) && month.len() == 2 && numeric(month))
        .then(|| Ecosystem::Ubuntu { release: release.to_owned(), stream })
}

/// Debian codenames and the release numbers advisories are filed under.
const DEBIAN_CODENAMES: &[(&str, &str)] = &[
    ("hamm", "2"),
    ("slink", "2.1"),
    ("potato", "2.2"),
    ("woody", "3.0"),
    ("sarge", "3.1"),
    ("etch", "4"),
    ("lenny", "5"),
    ("squeeze", "6"),
    ("wheezy", "7"),
    ("jessie", "8"),
    ("stretch", "9"),
    ("buster", "10"),
    ("bullseye", "11"),
    ("bookworm", "12"),
    ("trixie", "13"),
    ("forky", "14"),
    ("duke", "15"),
    ("sid", "sid"),
];

/// The release number of a Debian codename (`bookworm` → `12`, `sid` → `sid`).
pub(crate) fn debian_release_of_codename(codename: &str) -> Option<&'static str> {
    DEBIAN_CODENAMES.iter().find(|(name, _)| name.eq_ignore_ascii_case(codename)).map(|(_, release)| *release)
}

impl Ecosystem {
    /// A Debian release from its version number (`"12"`, `"12.5"` → `"12"`) or its codename
    /// (`"bookworm"` → `"12"`; `"sid"`, `"unstable"` → `"sid"`). Anything else is kept as given.
    pub fn debian(release: &str) -> Self {
        let release = release.trim();
        let release = if let Some(number) = debian_release_of_codename(release) {
            number.to_owned()
        } else if release.eq_ignore_ascii_case("unstable") {
            "sid".to_owned()
        } else {
            match release.split_once('.') {
                // Point releases share their major release's advisories.
                Some((major, _)) if major.parse::<u32>().is_ok_and(|m| m >= 7) => major.to_owned(),
                _ => release.to_owned(),
            }
        };
        Ecosystem::Debian { release }
    }

    /// An Alpine branch from `"v3.20"`, `"3.20"` or a full release `"3.20.3"` (→ `"3.20"`).
    pub fn alpine(branch: &str) -> Self {
        let branch = branch.trim();
        let branch = branch.strip_prefix('v').unwrap_or(branch);
        let mut parts = branch.split('.');
        let branch = match (parts.next(), parts.next()) {
            (Some(major), Some(minor))
                if major.parse::<u32>().is_ok() && minor.chars().all(|c| c.is_ascii_digit()) && !minor.is_empty() =>
            {
                format!("{major}.{minor}")
            }
            _ => branch.to_owned(),
        };
        Ecosystem::Alpine { branch }
    }
}

impl Ecosystem {
    /// An Ubuntu release on the free archive from its version (`"24.04"`, or a point release
    /// `"24.04.1"` → `"24.04"`).
    pub fn ubuntu(release: &str) -> Self {
        let release = release.trim();
        let mut parts = release.split('.');
        let release = match (parts.next(), parts.next()) {
            (Some(year), Some(month)) => format!("{year}.{month}"),
            _ => release.to_owned(),
        };
        Ecosystem::Ubuntu { release, stream: UbuntuStream::Archive }
    }

    /// Whether this is an Ubuntu long-term-support release: April of an even year
    /// (`14.04`, …, `24.04`, `26.04`), written `:LTS` in OSV ecosystem names.
    pub fn is_ubuntu_lts(&self) -> bool {
        let Ecosystem::Ubuntu { release, .. } = self else {
            return false;
        };
        release
            .split_once('.')
            .and_then(|(year, month)| Some((year.parse::<u32>().ok()?, month)))
            .is_some_and(|(year, month)| month == "04" && year % 2 == 0)
    }

    /// For a release on Ubuntu's free archive, the same release's Ubuntu Pro ecosystem
    /// (where fixes that need a subscription are published); `None` for anything else.
    pub fn ubuntu_pro(&self) -> Option<Ecosystem> {
        match self {
            Ecosystem::Ubuntu { release, stream: UbuntuStream::Archive } => {
                Some(Ecosystem::Ubuntu { release: release.clone(), stream: UbuntuStream::Pro })
            }
            _ => None,
        }
    }

    /// The ecosystems whose advisories matching an image of this release needs: itself,
    /// and for Ubuntu's free archive also its Pro ecosystem (to report fixes that need
    /// Ubuntu Pro as such). Never another release, never a FIPS stream.
    pub fn for_matching(&self) -> Vec<Ecosystem> {
        std::iter::once(self.clone()).chain(self.ubuntu_pro()).collect()
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ecosystem::Debian { release } => write!(f, "Debian:{release}"),
            Ecosystem::Alpine { branch } if branch.starts_with(|c: char| c.is_ascii_digit()) => {
                write!(f, "Alpine:v{branch}")
            }
            Ecosystem::Alpine { branch } => write!(f, "Alpine:{branch}"),
            Ecosystem::Ubuntu { release, stream } => {
                f.write_str("Ubuntu:")?;
                match stream {
                    UbuntuStream::Archive => {}
                    UbuntuStream::Pro => f.write_str("Pro:")?,
                    UbuntuStream::ProVariant(variant) => write!(f, "Pro:{variant}:")?,
                }
                f.write_str(release)?;
                if self.is_ubuntu_lts() { f.write_str(":LTS") } else { Ok(()) }
            }
        }
    }
}

impl FromStr for Ecosystem {
    type Err = Error;

    /// Parses the OSV spelling (`Debian:12`, `Alpine:v3.20`, `Ubuntu:24.04:LTS`,
    /// `Ubuntu:Pro:24.04:LTS`, `Ubuntu:Pro:FIPS-updates:22.04:LTS`, `Ubuntu:24.10`); a Debian
    /// codename is accepted too, and Ubuntu's `:LTS` suffix may be left out.
    fn from_str(s: &str) -> Result<Self> {
        let unsupported =
            |reason: &str| Error::Advisory { source_name: format!("ecosystem {s:?}"), reason: reason.into() };
        let (name, release) = s.split_once(':').ok_or_else(|| {
            unsupported("expected a distribution and its release, such as `Debian:12` or `Alpine:v3.20`")
        })?;
        if release.trim().is_empty() {
            return Err(unsupported("the release is empty"));
        }
        match name {
            "Debian" => Ok(Ecosystem::debian(release)),
            "Alpine" => Ok(Ecosystem::alpine(release)),
            "Ubuntu" => parse_ubuntu(release).ok_or_else(|| {
                unsupported(
                    "expected an Ubuntu release such as `Ubuntu:24.04:LTS`, `Ubuntu:Pro:24.04:LTS` or `Ubuntu:24.10`",
                )
            }),
            _ => Err(unsupported("not a supported distribution (Debian, Alpine, Ubuntu)")),
        }
    }
}

/// What an advisory says about a package in one release.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AdvisoryStatus {
    /// Fixed in this version and later.
    Fixed {
        /// The first version (of the source package) with the fix.
        version: String,
    },
    /// Affected, no fix available yet (Trivy's `affected`, "unfixed").
    Affected,
    /// Affected, and the distribution has decided not to fix it in this release.
    WillNotFix,
    /// Affected, the fix is postponed (for a point release, for example).
    FixDeferred,
    /// This release's package was never affected (a fixed version of `"0"`).
    NotAffected,
}

impl AdvisoryStatus {
    /// The fixed version, for [`AdvisoryStatus::Fixed`].
    pub fn fixed_version(&self) -> Option<&str> {
        match self {
            AdvisoryStatus::Fixed { version } => Some(version),
            _ => None,
        }
    }

    /// The status name Trivy uses: `fixed`, `affected`, `will_not_fix`, `fix_deferred`,
    /// `not_affected`.
    pub fn as_str(&self) -> &'static str {
        match self {
            AdvisoryStatus::Fixed { .. } => "fixed",
            AdvisoryStatus::Affected => "affected",
            AdvisoryStatus::WillNotFix => "will_not_fix",
            AdvisoryStatus::FixDeferred => "fix_deferred",
            AdvisoryStatus::NotAffected => "not_affected",
        }
    }
}

impl fmt::Display for AdvisoryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How serious a vulnerability is, ordered `Unknown < Low < Medium < High < Critical`.
///
/// `Display` prints Trivy's upper-case names; `FromStr` accepts them in any case (and
/// `MODERATE` for `MEDIUM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Severity {
    /// Not rated.
    #[default]
    Unknown,
    /// Low, or Debian's `unimportant`.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical (CVSS 9.0 and above).
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 5] =
        [Severity::Unknown, Severity::Low, Severity::Medium, Severity::High, Severity::Critical];

    /// The severity band of a CVSS base score: 0.1–3.9 low, 4.0–6.9 medium, 7.0–8.9 high,
    /// 9.0–10.0 critical; 0.0 and anything out of range is unknown.
    pub fn from_cvss_score(score: f64) -> Self {
        match score {
            s if !(0.1..=10.0).contains(&s) => Severity::Unknown,
            s if s < 4.0 => Severity::Low,
            s if s < 7.0 => Severity::Medium,
            s if s < 9.0 => Severity::High,
            _ => Severity::Critical,
        }
    }

    /// The severity of a CVSS v3.x or v2 vector (base score computed), or of a bare numeric
    /// score; `None` when it is neither (CVSS v4 vectors included: their score needs the
    /// specification's lookup tables).
    pub fn from_cvss(vector_or_score: &str) -> Option<Self> {
        super::cvss::base_score(vector_or_score).map(Severity::from_cvss_score)
    }

    /// The severity of an Ubuntu priority, as Trivy maps them: `negligible` and `low` →
    /// low, `medium`, `high`, `critical` → themselves, `untriaged` → unknown. `None` for
    /// anything else.
    pub fn from_ubuntu_priority(priority: &str) -> Option<Self> {
        match priority.trim().to_ascii_lowercase().as_str() {
            "negligible" | "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            "untriaged" => Some(Severity::Unknown),
            _ => None,
        }
    }

    /// The upper-case name Trivy prints: `UNKNOWN`, `LOW`, `MEDIUM`, `HIGH`, `CRITICAL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "UNKNOWN",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let trimmed = s.trim();
        Severity::ALL
            .into_iter()
            .find(|sev| sev.as_str().eq_ignore_ascii_case(trimmed))
            .or_else(|| trimmed.eq_ignore_ascii_case("moderate").then_some(Severity::Medium))
            .ok_or_else(|| Error::Advisory {
                source_name: format!("severity {s:?}"),
                reason: "expected one of UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL".into(),
            })
    }
}

/// One advisory: what one source says about one vulnerability in one source package of
/// one release.
///
/// Several advisories for the same (vulnerability, package, ecosystem) from different
/// sources are all kept; the matcher merges them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advisory {
    /// The vulnerability id used for matching and reports: the CVE when there is one, else the
    /// advisory's own id (`DSA-…`, `DLA-…`, `ALPINE-…`, `TEMP-…`).
    pub id: String,
    /// The other ids of this advisory (the DSA/DLA/OSV record that named the CVE, non-CVE
    /// aliases). Never other CVEs: a DSA fixing five CVEs makes five advisories, each
    /// aliased to the DSA only.
    pub aliases: Vec<String>,
    /// The release this applies to.
    pub ecosystem: Ecosystem,
    /// The **source** package name (Debian source package, Alpine origin).
    pub package: String,
    /// Fixed (in which version), affected, will not fix, fix deferred, not affected.
    pub status: AdvisoryStatus,
    /// The distribution's rating (Debian urgency) if it gave one, else from CVSS; for Ubuntu,
    /// CVSS first, else Ubuntu's priority ([`Severity::from_ubuntu_priority`]).
    pub severity: Severity,
    /// A one-line description.
    pub summary: Option<String>,
    /// Qualifications: Debian's `nodsa` text and reason, `end-of-life`, `unimportant`,
    /// `undetermined`, OSV `last_affected` and `introduced` bounds.
    pub note: Option<String>,
    /// The data format it came from: `osv`, `alpine-secdb` or `debian-tracker`.
    pub source: String,
}

/// What one call to ingest advisory data did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestReport {
    /// The name ingested (the path or URL given).
    pub source: String,
    /// Advisories added.
    pub records: usize,
    /// Formats recognised: `osv`, `alpine-secdb`, `debian-tracker`.
    pub formats: Vec<String>,
    /// What was skipped or looked wrong, one sentence each. An ingest that adds no record
    /// always says why here.
    pub warnings: Vec<String>,
}

/// One ingested source as recorded in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    /// The path or URL given when it was ingested.
    pub name: String,
    /// Formats found in it (`osv`, `alpine-secdb`, `debian-tracker`).
    pub formats: Vec<String>,
    /// When it was ingested.
    pub ingested_at: SystemTime,
    /// Advisories it contributed.
    pub records: usize,
    /// Warnings its ingest produced.
    pub warnings: usize,
}

impl SourceInfo {
    /// [`SourceInfo::ingested_at`] as RFC 3339 UTC (`2025-06-01T12:00:00Z`).
    pub fn ingested_at_rfc3339(&self) -> String {
        oci_core::time::format_rfc3339(self.ingested_at)
    }
}

/// A summary of an advisory database, for `db info` and the age check.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DbInfo {
    /// Ingested sources, in ingest order.
    pub sources: Vec<SourceInfo>,
    /// Advisories in total.
    pub records: usize,
    /// Advisories per ecosystem, sorted by ecosystem.
    pub ecosystems: Vec<(Ecosystem, usize)>,
}

impl DbInfo {
    /// The ingest time of the oldest source: a scan warns when this is too long ago.
    pub fn oldest_ingest(&self) -> Option<SystemTime> {
        self.sources.iter().map(|s| s.ingested_at).min()
    }

    /// Whether the oldest source was ingested more than `max_age_days` whole days before
    /// `now`: the warning a scan with this database should give. `None` for a database
    /// without sources or ingested in the future.
    pub fn staleness(&self, max_age_days: u64, now: SystemTime) -> Option<StaleDatabase> {
        let age_days = now.duration_since(self.oldest_ingest()?).ok()?.as_secs() / 86_400;
        (age_days > max_age_days).then_some(StaleDatabase { age_days, max_age_days })
    }
}

/// The advisory database is older than accepted ([`DbInfo::staleness`]): findings may be
/// missing. `Display`: `the advisory database is 9 days old (over 7)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StaleDatabase {
    /// Whole days since the oldest source was ingested.
    pub age_days: u64,
    /// The age accepted.
    pub max_age_days: u64,
}

impl fmt::Display for StaleDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the advisory database is {} days old (over {})", self.age_days, self.max_age_days)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staleness_counts_whole_days_from_the_oldest_source() {
        let day = std::time::Duration::from_secs(86_400);
        let t0 = SystemTime::UNIX_EPOCH + 20_000 * day;
        let source =
            |at| SourceInfo { name: "s".into(), formats: Vec::new(), ingested_at: at, records: 0, warnings: 0 };
        let info = DbInfo { sources: vec![source(t0 + 2 * day), source(t0)], records: 0, ecosystems: Vec::new() };
        assert_eq!(info.staleness(7, t0 + 7 * day + day / 2), None);
        let stale = info.staleness(7, t0 + 8 * day).unwrap();
        assert_eq!(stale, StaleDatabase { age_days: 8, max_age_days: 7 });
        assert_eq!(stale.to_string(), "the advisory database is 8 days old (over 7)");
        assert_eq!(info.staleness(7, t0 - day), None);
        assert_eq!(DbInfo { sources: Vec::new(), records: 0, ecosystems: Vec::new() }.staleness(0, t0), None);
    }

    #[test]
    fn ecosystems_use_osv_names_and_map_debian_codenames() {
        assert_eq!(Ecosystem::debian("bookworm"), Ecosystem::Debian { release: "12".into() });
        assert_eq!(Ecosystem::debian("12.5"), Ecosystem::Debian { release: "12".into() });
        assert_eq!(Ecosystem::debian("sid").to_string(), "Debian:sid");
        assert_eq!(Ecosystem::debian("trixie").to_string(), "Debian:13");
        assert_eq!(Ecosystem::alpine("v3.20").to_string(), "Alpine:v3.20");
        assert_eq!(Ecosystem::alpine("3.20.3"), Ecosystem::Alpine { branch: "3.20".into() });
        assert_eq!(Ecosystem::alpine("edge").to_string(), "Alpine:edge");
        for s in ["Debian:12", "Debian:sid", "Alpine:v3.20", "Alpine:edge"] {
            assert_eq!(s.parse::<Ecosystem>().unwrap().to_string(), s);
        }
        assert_eq!("Debian:wheezy".parse::<Ecosystem>().unwrap().to_string(), "Debian:7");
        for bad in ["PyPI", "Fedora:40", "Debian:", "Debian"] {
            assert!(bad.parse::<Ecosystem>().is_err(), "{bad}");
        }
    }

    /// Every Ubuntu ecosystem form of the fixture records round-trips; the streams and
    /// releases are told apart; `:LTS` follows from the release.
    #[test]
    fn ubuntu_ecosystems_parse_and_display() {
        for s in [
            "Ubuntu:24.04:LTS",
            "Ubuntu:22.04:LTS",
            "Ubuntu:14.04:LTS",
            "Ubuntu:24.10",
            "Ubuntu:25.04",
            "Ubuntu:25.10",
            "Ubuntu:26.04:LTS",
            "Ubuntu:Pro:24.04:LTS",
            "Ubuntu:Pro:16.04:LTS",
            "Ubuntu:Pro:FIPS-updates:24.04:LTS",
            "Ubuntu:Pro:FIPS-preview:22.04:LTS",
            "Ubuntu:Pro:FIPS:20.04:LTS",
        ] {
            assert_eq!(s.parse::<Ecosystem>().unwrap().to_string(), s);
        }
        let noble = Ecosystem::Ubuntu { release: "24.04".into(), stream: UbuntuStream::Archive };
        assert_eq!("Ubuntu:24.04:LTS".parse::<Ecosystem>().unwrap(), noble);
        assert_eq!("Ubuntu:24.04".parse::<Ecosystem>().unwrap(), noble);
        assert_eq!(Ecosystem::ubuntu("24.04.1"), noble);
        assert_eq!(
            "Ubuntu:Pro:24.04:LTS".parse::<Ecosystem>().unwrap(),
            Ecosystem::Ubuntu { release: "24.04".into(), stream: UbuntuStream::Pro }
        );
        assert_eq!(
            "Ubuntu:Pro:FIPS-updates:24.04:LTS".parse::<Ecosystem>().unwrap(),
            Ecosystem::Ubuntu { release: "24.04".into(), stream: UbuntuStream::ProVariant("FIPS-updates".into()) }
        );
        assert!(noble.is_ubuntu_lts() && !Ecosystem::ubuntu("24.10").is_ubuntu_lts());
        assert!(!Ecosystem::ubuntu("25.04").is_ubuntu_lts() && !Ecosystem::debian("12").is_ubuntu_lts());
        assert_eq!(
            noble.for_matching().iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["Ubuntu:24.04:LTS", "Ubuntu:Pro:24.04:LTS"]
        );
        assert_eq!(Ecosystem::debian("12").for_matching(), [Ecosystem::debian("12")]);
        let fips: Ecosystem = "Ubuntu:Pro:FIPS-updates:24.04:LTS".parse().unwrap();
        assert_eq!(fips.ubuntu_pro(), None);
        for bad in ["Ubuntu:", "Ubuntu:noble", "Ubuntu:Pro:", "Ubuntu:24.04:LTS:x", "Ubuntu:X:24.04", "Ubuntu:24.4"] {
            assert!(bad.parse::<Ecosystem>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ubuntu_priorities_map_as_trivy_maps_them() {
        let got: Vec<Option<Severity>> = ["negligible", "low", "medium", "high", "critical", "untriaged", "important"]
            .into_iter()
            .map(Severity::from_ubuntu_priority)
            .collect();
        assert_eq!(
            got,
            [
                Some(Severity::Low),
                Some(Severity::Low),
                Some(Severity::Medium),
                Some(Severity::High),
                Some(Severity::Critical),
                Some(Severity::Unknown),
                None
            ]
        );
    }

    #[test]
    fn severities_order_and_bands() {
        assert!(Severity::Unknown < Severity::Low && Severity::High < Severity::Critical);
        assert_eq!(Severity::from_cvss_score(0.0), Severity::Unknown);
        assert_eq!(Severity::from_cvss_score(0.1), Severity::Low);
        assert_eq!(Severity::from_cvss_score(3.9), Severity::Low);
        assert_eq!(Severity::from_cvss_score(4.0), Severity::Medium);
        assert_eq!(Severity::from_cvss_score(6.9), Severity::Medium);
        assert_eq!(Severity::from_cvss_score(7.0), Severity::High);
        assert_eq!(Severity::from_cvss_score(8.9), Severity::High);
        assert_eq!(Severity::from_cvss_score(9.0), Severity::Critical);
        assert_eq!(Severity::from_cvss_score(10.0), Severity::Critical);
        assert_eq!("high".parse::<Severity>().unwrap(), Severity::High);
        assert_eq!("Moderate".parse::<Severity>().unwrap(), Severity::Medium);
        assert!("severe".parse::<Severity>().is_err());
        assert_eq!(Severity::Critical.to_string(), "CRITICAL");
    }

    #[test]
    fn statuses_use_trivy_names() {
        let fixed = AdvisoryStatus::Fixed { version: "1.2-3".into() };
        assert_eq!(fixed.to_string(), "fixed");
        assert_eq!(fixed.fixed_version(), Some("1.2-3"));
        assert_eq!(AdvisoryStatus::WillNotFix.to_string(), "will_not_fix");
        assert_eq!(AdvisoryStatus::FixDeferred.as_str(), "fix_deferred");
        assert_eq!(AdvisoryStatus::NotAffected.fixed_version(), None);
    }
}
