//! `hardener`: scanning and hardening OCI images on top of [`oci_core`].
//!
//! This crate is a skeleton for now: package databases, advisories, rules and patch layers
//! land here (see the project's issues 4 and 5). It re-exports `oci_core` so programs can
//! depend on one crate.

pub use oci_core;
