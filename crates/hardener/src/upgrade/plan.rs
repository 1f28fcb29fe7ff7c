//! The upgrade plan: the hand-over between resolving (which packages, which versions,
//! from which signed repository — `resolve`) and applying (the files and database entries
//! of one layer — `apply`). Every field is what a report, a dry run or a VEX document
//! shows, so the plan serialises as it is.

use std::path::PathBuf;

use serde::Serialize;

use crate::PackageFormat;

/// What the user asked to upgrade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum UpgradeRequest {
    /// What a scan found fixable: each binary package at least to its fixed version.
    Vulnerable(Vec<UpgradeTarget>),
    /// These packages (`--packages`), to the newest version in the image's own suites.
    Packages(Vec<String>),
    /// Every installed package with a newer version in the image's own suites, like
    /// `apt-get upgrade`.
    All,
}

/// One package a scan found fixable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeTarget {
    /// The installed binary package (`libssl3`).
    pub package: String,
    /// Its architecture (`amd64`), for `Multi-Arch: same` packages installed twice.
    pub architecture: Option<String>,
    /// The lowest version that fixes every vulnerability below (a source version: the
    /// candidate's source version must be at least this).
    pub fixed_version: String,
    /// The vulnerabilities it fixes (`CVE-…`).
    pub vulnerabilities: Vec<String>,
}

/// Why a package is in the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
#[non_exhaustive]
pub enum UpgradeReason {
    /// It fixes these vulnerabilities.
    Fixes {
        /// `CVE-…` ids.
        vulnerabilities: Vec<String>,
    },
    /// The user named it.
    Requested,
    /// `--upgrade all`: a newer version exists.
    Newer,
    /// A new version in the plan needs it (`Depends`/`Pre-Depends`), or needs this newer
    /// version of it; `by` names that package.
    Dependency {
        /// The package whose new version needs this one.
        by: String,
    },
}

/// Where a planned package file (`.deb`, `.apk`) comes from and how it is checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageLocation {
    /// The repository's base URI as the (rewritten) source names it.
    pub repository: String,
    /// The suite it was found in (`bookworm-security`); for apk the repository's branch
    /// and name as its URL ends (`v3.20/main`).
    pub suite: String,
    /// The file's path under `repository`: `Filename` from the Packages index
    /// (`pool/main/o/openssl/libssl3_….deb`); for apk `ARCH/NAME-VERSION.apk`.
    pub filename: String,
    /// `Size` from the Packages index; for apk the index's `S:`.
    pub size: u64,
    /// The file's SHA256 (lower-case hex): for a `.deb` the Packages index's `SHA256`,
    /// checked before the file is used; for an `.apk`, whose index records no hash of the
    /// whole file, the SHA256 of the verified download (empty until fetched).
    pub sha256: String,
    /// apk only: the index's `C:` checksum (`Q1…`, the SHA1 of the package's control
    /// stream), which the package's signed control stream must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_checksum: Option<String>,
    /// The verified file once fetched (in the blob cache, named by its sha256).
    #[serde(skip)]
    pub local: Option<PathBuf>,
}

/// One package of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedPackage {
    /// The binary package.
    pub name: String,
    /// Its architecture (`amd64`, `all`).
    pub architecture: String,
    /// `Multi-Arch: same` (its database files carry `:ARCH`).
    pub multi_arch_same: bool,
    /// The installed version; `None` for a package new to the image.
    pub installed: Option<String>,
    /// The version installed by the plan.
    pub version: String,
    /// The source package and source version of the new version.
    pub source: String,
    /// See [`PlannedPackage::source`].
    pub source_version: String,
    /// Why it is upgraded (or added).
    pub reason: UpgradeReason,
    /// The package file.
    pub file: PackageLocation,
}

/// The resolved plan for one image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradePlan {
    /// The package manager whose packages these are (dpkg for Debian and Ubuntu, apk for
    /// Alpine).
    pub format: PackageFormat,
    /// The architectures of the image (native first): dpkg's, or apk's (`x86_64`).
    pub architectures: Vec<String>,
    /// The packages, upgraded and new, in the order they are applied (dependencies
    /// first).
    pub packages: Vec<PlannedPackage>,
    /// The sources used (`URI SUITE COMPONENT…`, after mirror rewrites), for labels and
    /// reports.
    pub sources: Vec<String>,
    /// Targets no source has a fixed version for: they stay (reported as affected).
    pub unfixable: Vec<UpgradeTarget>,
    /// Things the user should know (a `trusted=yes` source, an expired Release allowed…).
    pub warnings: Vec<String>,
}
