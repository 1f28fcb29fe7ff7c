//! Upgrading packages inside an image without running anything from it: the pieces that
//! turn a new package version into file changes and database entries, as dpkg would leave
//! them.
//!
//! - [`plan_package_files`]: where each entry of the new version goes on the merged
//!   filesystem (merged-/usr resolved, existing directories kept), dpkg's
//!   `--force-confold` conffile policy, and whiteouts for files the new version dropped.
//! - [`Spool`]: package contents copied once to a temporary file, read back in layer
//!   order, so memory stays flat.
//! - The database side is in [`crate::StatusEntry`] and [`crate::rewrite_status`].
//! - [`apply_upgrades`]: a whole [`UpgradePlan`] as file changes and database entries, with
//!   maintainer scripts and triggers classified, never run ([`classify_script`]).
//! - [`patch_image`]: package upgrades and rule fixes in exactly one reproducible layer.

mod ahead;
mod apply;
mod fetch;
mod files;
mod image;
mod job;
mod plan;
mod repo;
mod resolve;
mod scripts;
mod spool;

pub use apply::{AppliedUpgrades, FileCounts, FilesSummary, UpgradedPackage, apply_capture, apply_upgrades};
pub(crate) use fetch::Transport;
pub use fetch::{fetch_apk_packages, fetch_packages};
pub(crate) use files::real_path;
pub use files::{
    ConffileAction, ConffileOutcome, FileAction, FileChange, Installed, PackageFiles, plan_deb_files,
    plan_package_files,
};
pub use image::{
    LABEL_PACKAGES, LABEL_SOURCES, PatchOptions, PatchOutcome, Patched, PatchedImage, packages_label, patch_base,
    patch_image, patch_source,
};
pub use job::{
    PatchJob, PatchJobImage, PatchJobOptions, PatchReport, PatchedImageReport, PlanReport, PlannedChanges,
    PlannedImageReport, PlannedUpgrades, RemainingFinding, UpgradeSelection, after_upgrades, patch_job, plan_patch,
    plan_report, plan_upgrades, targets_from_findings,
};
pub use plan::{PackageLocation, PlannedPackage, UpgradePlan, UpgradeReason, UpgradeRequest, UpgradeTarget};
pub use repo::RepoOptions;
pub use resolve::resolve_upgrades;
pub use scripts::{
    HARMLESS_DEBHELPER, HARMLESS_INTEREST, ScriptClass, ScriptDisposition, ScriptOutcome, ScriptPolicy, TriggerClass,
    classify_script, classify_trigger, library_names,
};
pub use spool::{Spool, Spooled};

/// The md5 (hex) of `bytes`, as dpkg records it.
pub(crate) fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest as _;
    hex::encode(md5::Md5::digest(bytes))
}
