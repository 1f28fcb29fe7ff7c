//! Alpine repositories and packages without apk-tools (issue 10): signing keys and signature
//! streams, each checked before the bytes they cover are used.
//!
//! - [`ApkKeys`], [`ApkSignature`], [`read_signatures`]: `.SIGN.RSA.`, `.SIGN.RSA256.` and
//!   `.SIGN.RSA512.` signatures (RSA PKCS#1 v1.5 over SHA1, SHA256, SHA512) checked against
//!   the PEM public key of that name, as `/etc/apk/keys/` holds them.
//! - [`ApkIndex`]: `APKINDEX.tar.gz` verified and parsed into [`ApkIndexEntry`] records with
//!   typed dependencies ([`ApkDependency`]) and checksums ([`ApkChecksum`]).
//! - [`VerifiedApk`]: an `.apk` checked (signature, `C:` identity, `datahash`, per-file
//!   checksums, safe paths) before its `.PKGINFO`, scripts and data entries are handed out.
//! - [`InstalledRecord`], [`rewrite_installed`]: `lib/apk/db/installed` records in apk-tools'
//!   own field order, one package's record replaced with every other byte kept.
//! - Applying an apk upgrade plan (`apply`, reached through [`crate::apply_upgrades`]): data
//!   entries, `.apk-new` files, removals and the database as apk-tools 2.14 leaves them; scripts
//!   classified by [`classify_apk_script`], never run.

mod apply;
mod error;
mod index;
mod installed;
mod keys;
mod package;
mod repositories;
mod resolve;
mod stream;

pub(crate) use apply::apply_apk_upgrades;
pub use apply::{ApkScriptClass, classify_apk_script};
pub use error::{ApkError, ApkResult};
pub use index::{ApkChecksum, ApkDepOp, ApkDependency, ApkIndex, ApkIndexEntry, ApkNameKind, MAX_APKINDEX_SIZE};
pub use installed::{ApkAcl, InstalledDir, InstalledFile, InstalledRecord, rewrite_installed};
pub use keys::{ApkKeys, ApkSignature, SignatureHash, SignedHasher, read_signatures};
pub use package::{APK_SCRIPTS, ApkDataEntry, ApkScript, MAX_APK_CONTROL_SIZE, PkgInfo, VerifiedApk};
pub(crate) use repositories::image_keys;
pub(crate) use resolve::{INSTALLED_DB, resolve_apk};

#[cfg(test)]
mod tests;
