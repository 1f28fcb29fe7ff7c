//! `hardener`: scanning and hardening OCI images on top of [`oci_core`], without running
//! them.
//!
//! - Versions: [`DpkgVersion`] and [`ApkVersion`], ordered exactly as dpkg and apk-tools do.
//! - Inventory: OS detection and package databases (dpkg, apk) read from an image's
//!   merged filesystem.
//! - Advisories: OSV, Alpine secdb and Debian security tracker data ([`AdvisoryDb`]),
//!   matched on source packages and source versions ([`scan`], [`match_packages`]).
//! - Reports: a table, Trivy-compatible JSON, SARIF 2.1.0 and CycloneDX 1.5
//!   ([`to_table`], [`to_trivy_json`], [`to_sarif`], [`to_cyclonedx`]); Trivy reports read
//!   back with [`from_trivy_json`].

mod advisories;
mod error;
mod os;
mod packages;
mod patch;
mod report;
mod rules;
mod scan;
mod version;

pub use advisories::{
    Advisory, AdvisoryDb, AdvisoryStatus, DEFAULT_SOURCES, DbInfo, Ecosystem, IngestReport, Severity, SourceInfo,
    UbuntuStream, default_db_dir,
};
pub use error::{Error, Result};
pub use oci_core;
pub use os::{Eol, OsFamily, OsInfo, detect_os, parse_os_release, today_utc};
pub use packages::{
    Conffile, Inventory, Package, PackageFormat, StatusEntry, info_file_name, inventory, inventory_paths, list_file,
    parse_apk_installed, parse_dpkg_status, parse_dpkg_status_d, rewrite_status,
};
pub use patch::{
    Hardened, LABEL_BASE_DIGEST, LABEL_BASE_NAME, LABEL_RESTORE, LABEL_RULES, LABEL_RULES_DIGEST, PatchEntry,
    apply_edits, harden, hardened_source, plan_entries,
};
pub use report::{
    evaluation_to_sarif, from_trivy_json, parse_severity, purl, to_cyclonedx, to_sarif, to_table, to_trivy_json,
};
pub use rules::{
    Action, CheckInput, ConfigEdit, Evaluation, FileType, Fix, Outcome, Rule, RuleFinding, RuleKind, RuleResult,
    RuleSet, RuleSeverity, evaluate,
};
pub use scan::{
    Finding, FindingStatus, PRO_FIX_NOTE, ScanReport, compare_versions, ecosystem_of, match_packages, scan,
    scan_with_db_dir,
};
pub use version::{ApkVersion, DpkgVersion};
