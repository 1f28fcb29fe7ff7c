//! The integration tests of `oci-harden`: one test binary that runs the real CLI against
//! real images and compares what it does with independent peers (umoci, skopeo, the
//! image-spec JSON schemas).
//!
//! Run with `cargo test --workspace` or `cargo test --test it`: Cargo builds the
//! `oci-harden` binary of the root package from the same sources first.
//! The tests need `umoci`, `skopeo`, `docker-registry` (the CNCF distribution registry,
//! started on loopback by the registry tests), `htpasswd` (apache2-utils) and `openssl`
//! (token-auth keys and JWT signatures) on `PATH`, and run as root (to build images whose
//! files have other owners); they fail, rather than skip, when one is missing.
//! `.ci/run` installs them all.

mod apk_repo;
mod append;
mod apt_repo;
mod bad_input;
mod cli;
mod crash;
mod export_agreement;
mod fixtures;
mod fleet;
mod fuzz_replay;
mod harden;
mod harness;
mod hostile;
mod index_cache;
mod inventory;
mod layout_interop;
mod memory_bound;
mod patch_alpine;
mod patch_apk_apply;
mod patch_apk_resolve;
mod patch_apply;
mod patch_cli;
mod patch_debian;
mod patch_resolve;
mod patch_ubuntu;
mod referrers;
mod registry;
mod rules_report;
mod runtime_profile;
mod scan;
mod schema;
mod snapshots;
mod ubuntu;
mod verify;
