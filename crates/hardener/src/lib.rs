//! `hardener`: scanning and hardening OCI images on top of [`oci_core`], without running
//! them.
//!
//! - Versions: [`DpkgVersion`] and [`ApkVersion`], ordered exactly as dpkg and apk-tools do.
//! - Inventory: OS detection and package databases (dpkg, apk) read from an image's
//!   merged filesystem.
//! - Advisories: OSV, Alpine secdb and Debian security tracker data ([`AdvisoryDb`]),
//!   updated from URLs, files and directories in one call ([`update_db`]), matched on source
//!   packages and source versions ([`scan()`], [`scan_with_db_dir`], [`match_packages`]; [`inventory_report`] without a database, for an SBOM);
//!   [`DbInfo::staleness`] says when the database is too old.
//! - Reports: a table, Trivy-compatible JSON, SARIF 2.1.0 and CycloneDX 1.5
//!   ([`to_table`], [`to_trivy_json`], [`to_sarif`], [`to_cyclonedx`]), typed values that
//!   serialise to those formats; Trivy reports read back with [`from_trivy_json`].
//! - Rules: [`RuleSet`], [`evaluate`] / [`evaluate_image`], and the typed [`CheckReport`]
//!   and SARIF ([`evaluation_to_sarif`], built with the one SARIF builder, [`sarif`]).
//! - Hardening: an image or a whole index in one call ([`harden_source`], its dry run
//!   [`plan`]), one image ([`harden()`]); the typed [`HardenReport`]. Errors are one
//!   matchable [`Error`] (missing database, refused rule, download…), without command-line
//!   advice.
//! - Fleets (issue 12): up to date means no work ([`destination_freshness`],
//!   [`patch_freshness`] compare a destination's labels with what a job would make); many
//!   jobs from a TOML file ([`BatchFile`]), sharded by a stable hash of the destination
//!   ([`Shard`]), run in parallel through one session ([`run_batch`]) into a typed
//!   [`BatchReport`].
//! - Repositories and packages (issue 9): signed apt metadata ([`Keyring`], [`verify_clearsigned`],
//!   [`Release`], [`read_packages`], [`Sources`]) and `.deb` files ([`VerifiedDeb`]), each verified
//!   before use; upgrades applied as files and database entries ([`apply_upgrades`]) and
//!   written with rule fixes as one layer ([`patch_image`]).
//! - Alpine repositories and packages (issue 10): apk signing keys and signatures ([`ApkKeys`],
//!   [`read_signatures`]), signed indexes ([`ApkIndex`]) and
//!   packages ([`VerifiedApk`]), `installed`
//!   records ([`InstalledRecord`], [`rewrite_installed`]).

mod advisories;
mod apk;
mod apt;
mod atomic;
mod attach;
mod batch;
mod deb;
mod error;
mod fleet;
mod harden;
mod os;
mod packages;
mod patch;
mod report;
mod restore;
mod rules;
mod runtime;
pub mod sarif;
mod scan;
mod upgrade;
mod version;

pub use advisories::{
    Advisory, AdvisoryDb, AdvisoryStatus, DEFAULT_SOURCES, DbInfo, DbSource, DbUpdate, DbUpdateEvent, Ecosystem,
    IngestReport, Severity, SourceInfo, StaleDatabase, UbuntuStream, default_db_dir, update_db,
};
pub use apk::{
    APK_SCRIPTS, ApkAcl, ApkChecksum, ApkDataEntry, ApkDepOp, ApkDependency, ApkError, ApkIndex, ApkIndexEntry,
    ApkKeys, ApkNameKind, ApkResult, ApkScript, ApkScriptClass, ApkSignature, InstalledDir, InstalledFile,
    InstalledRecord, MAX_APK_CONTROL_SIZE, MAX_APKINDEX_SIZE, PkgInfo, SignatureHash, SignedHasher, VerifiedApk,
    classify_apk_script, read_signatures, rewrite_installed,
};
pub use apt::{
    AptError, AptResult, ArchQualifier, Compression, Dependency, Fingerprint, IndexLocation, KeyInfo, Keyring,
    MAX_FUTURE_SECS, MirrorRule, MultiArch, PackageEntry, Relation, Release, ReleaseFile, SignedBy, Source, SourceKind,
    Sources, VerifiedText, VersionOp, deb822, is_apt_keyring_name, names_any, parse_packages, parse_relations,
    parse_rfc2822, read_packages, read_packages_filtered, verify_clearsigned, verify_detached,
};
pub use attach::{
    Attachment, AttachmentKind, REPORT_ARTIFACT_TYPE, SBOM_ARTIFACT_TYPE, VEX_ARTIFACT_TYPE, attach,
    document_attachment, sbom_attachments,
};
pub use batch::{
    BatchEvent, BatchFile, BatchJob, BatchOptions, BatchReport, BatchSummary, DEFAULT_RULES, JobReport, JobResult,
    Shard, UpgradeKind, run_batch, run_job,
};
pub use deb::{Conffile, ControlMember, DebControl, MAINTAINER_SCRIPTS, MAX_CONTROL_SIZE, VerifiedDeb};
pub use error::{Error, Result};
pub use fleet::{
    Freshness, PackagesWanted, StaleReason, Wanted, destination_freshness, freshness, open_destination, patch_freshness,
};
pub use harden::{
    HardenOptions, HardenOutcome, HardenReport, HardenedImage, HardenedImageReport, PlannedImage, evaluate_image,
    harden_source, plan,
};
pub use oci_core;
pub use os::{Eol, OsFamily, OsInfo, detect_os, parse_os_release, today_utc};
pub use packages::{
    ConffileRecord, Inventory, Package, PackageFormat, StatusEntry, info_file_name, inventory, inventory_paths,
    list_file, parse_apk_installed, parse_dpkg_status, parse_dpkg_status_d, rewrite_status,
};
pub use patch::{
    Hardened, LABEL_BASE_DIGEST, LABEL_BASE_NAME, LABEL_RESTORE, LABEL_RULES, LABEL_RULES_DIGEST, PatchEntry, harden,
    hardened_source, plan_entries,
};
pub use report::{
    BomAffects, BomAnalysis, BomComponent, BomMetadata, BomProperty, BomRating, BomSource, BomTools, BomVulnerability,
    CycloneDxBom, OPENVEX_CONTEXT, TrivyCustom, TrivyImageConfig, TrivyLayer, TrivyMetadata, TrivyOs,
    TrivyPkgIdentifier, TrivyReport, TrivyResult, TrivyVulnerability, VexDocument, VexProduct, VexStatement, VexStatus,
    VexSubcomponent, VexVulnerability, from_trivy_json, oci_purl, parse_severity, purl, to_cyclonedx, to_openvex,
    to_sarif, to_table, to_trivy_json,
};
pub use restore::RestoreRecord;
pub use rules::{
    Action, CheckInput, CheckReport, Evaluation, FileType, Fix, MAX_RULE_FILE_BYTES, Rule, RuleFinding, RuleKind,
    RuleOutcome, RuleReport, RuleResult, RuleSet, RuleSetId, RuleSeverity, RuleStatus, evaluate, evaluation_sarif_run,
    evaluation_to_sarif,
};
pub use runtime::{ExposedPort, ProfileFormat, RuntimeProfile, runtime_profile};
pub use sarif::{SarifLog, SarifSeverity};
pub use scan::{
    Coverage, Finding, FindingStatus, Gate, PRO_FIX_NOTE, ScanReport, compare_versions, coverage_of, ecosystem_of,
    inventory_report, match_packages, scan, scan_with_db_dir,
};
pub use upgrade::{
    AppliedUpgrades, ConffileAction, ConffileOutcome, FileAction, FileChange, FileCounts, FilesSummary,
    HARMLESS_DEBHELPER, HARMLESS_INTEREST, Installed, LABEL_PACKAGES, LABEL_SOURCES, PackageFiles, PackageLocation,
    PatchJob, PatchJobImage, PatchJobOptions, PatchOptions, PatchOutcome, PatchReport, Patched, PatchedImage,
    PatchedImageReport, PlanReport, PlannedChanges, PlannedImageReport, PlannedPackage, PlannedUpgrades,
    RemainingFinding, RepoOptions, ScriptClass, ScriptDisposition, ScriptOutcome, ScriptPolicy, Spool, Spooled,
    TriggerClass, UpgradePlan, UpgradeReason, UpgradeRequest, UpgradeSelection, UpgradeTarget, UpgradedPackage,
    after_upgrades, apply_capture, apply_upgrades, classify_script, classify_trigger, fetch_apk_packages,
    fetch_packages, library_names, packages_label, patch_base, patch_image, patch_job, patch_source, plan_deb_files,
    plan_package_files, plan_patch, plan_report, plan_upgrades, resolve_upgrades, targets_from_findings,
};
pub use version::{ApkVersion, DpkgVersion};
