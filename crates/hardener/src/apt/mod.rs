//! Debian repositories without apt: keyrings and signatures, `Release` files, `Packages`
//! indexes and sources, each verified before it is trusted (issue 9).
//!
//! - [`Keyring`], [`verify_clearsigned`], [`verify_detached`]: OpenPGP verification of
//!   `InRelease` / `Release` + `Release.gpg` with apt's key and algorithm policy.
//! - [`Release`]: a suite's metadata, validity window and index list ([`IndexLocation`]).
//! - [`read_packages`]: a `Packages` index streamed and verified ([`PackageEntry`]), with
//!   typed relationship fields ([`parse_relations`]).
//! - [`Sources`]: one-line and deb822 sources, `Signed-By`, mirror rewrites ([`MirrorRule`]).
//! - [`deb822`]: the control-file format shared with `.deb` control files and the dpkg
//!   database.

mod compression;
pub mod deb822;
mod error;
mod keyring;
mod packages;
mod relation;
mod release;
mod sources;
mod verify;
mod xz;

pub use compression::Compression;
pub use error::{AptError, AptResult};
pub use keyring::{Fingerprint, KeyInfo, Keyring, is_apt_keyring_name};
pub(crate) use packages::read_packages_file;
pub use packages::{MultiArch, PackageEntry, names_any, parse_packages, read_packages, read_packages_filtered};
pub use relation::{ArchQualifier, Dependency, Relation, VersionOp, parse_relations};
pub use release::{IndexLocation, MAX_FUTURE_SECS, Release, ReleaseFile, parse_rfc2822};
pub use sources::{MirrorRule, SignedBy, Source, SourceKind, Sources};
pub use verify::{VerifiedText, verify_clearsigned, verify_detached};

#[cfg(test)]
mod tests;
