//! The advisory database: OSV records, Alpine secdb and the Debian security tracker, read
//! into one model ([`Advisory`]: vulnerability id, ecosystem, **source** package, status,
//! severity) and kept in a local directory ([`AdvisoryDb::save`], [`AdvisoryDb::open`]).
//!
//! Formats are recognised by content ([`AdvisoryDb::ingest_path`],
//! [`AdvisoryDb::ingest_reader`]); each parser's module documents its mapping.
//! [`update_db`] updates a database directory from URLs (downloaded with the `download`
//! feature), files and directories in one call; [`DEFAULT_SOURCES`] lists the public URLs.

mod cvss;
mod debian;
mod index;
mod ingest;
mod model;
mod osv;
mod secdb;
mod store;
mod update;

#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::path::PathBuf;

pub use model::{
    Advisory, AdvisoryStatus, DbInfo, Ecosystem, IngestReport, Severity, SourceInfo, StaleDatabase, UbuntuStream,
};
pub use store::AdvisoryDb;
pub use update::{DbSource, DbUpdate, DbUpdateEvent, update_db};

/// The sources `db update` downloads by default: (name, public URL). Each is one file that
/// [`AdvisoryDb::ingest_reader`] reads as it comes.
///
/// OSV's Debian and Alpine data are derived from the Debian tracker and Alpine secdb; both
/// are kept because each side sometimes knows what the other does not yet, and the matcher
/// merges advisories for the same vulnerability. Ubuntu's data is the Ubuntu Security
/// Team's own OSV records (free archive, Pro and FIPS ecosystems of every release).
pub const DEFAULT_SOURCES: &[(&str, &str)] = &[
    ("osv-debian", "https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip"),
    ("osv-alpine", "https://osv-vulnerabilities.storage.googleapis.com/Alpine/all.zip"),
    ("osv-ubuntu", "https://osv-vulnerabilities.storage.googleapis.com/Ubuntu/all.zip"),
    ("debian-tracker", "https://security-tracker.debian.org/tracker/data/json"),
    ("alpine-secdb-v3.16-main", "https://secdb.alpinelinux.org/v3.16/main.json"),
    ("alpine-secdb-v3.16-community", "https://secdb.alpinelinux.org/v3.16/community.json"),
    ("alpine-secdb-v3.17-main", "https://secdb.alpinelinux.org/v3.17/main.json"),
    ("alpine-secdb-v3.17-community", "https://secdb.alpinelinux.org/v3.17/community.json"),
    ("alpine-secdb-v3.18-main", "https://secdb.alpinelinux.org/v3.18/main.json"),
    ("alpine-secdb-v3.18-community", "https://secdb.alpinelinux.org/v3.18/community.json"),
    ("alpine-secdb-v3.19-main", "https://secdb.alpinelinux.org/v3.19/main.json"),
    ("alpine-secdb-v3.19-community", "https://secdb.alpinelinux.org/v3.19/community.json"),
    ("alpine-secdb-v3.20-main", "https://secdb.alpinelinux.org/v3.20/main.json"),
    ("alpine-secdb-v3.20-community", "https://secdb.alpinelinux.org/v3.20/community.json"),
    ("alpine-secdb-v3.21-main", "https://secdb.alpinelinux.org/v3.21/main.json"),
    ("alpine-secdb-v3.21-community", "https://secdb.alpinelinux.org/v3.21/community.json"),
    ("alpine-secdb-v3.22-main", "https://secdb.alpinelinux.org/v3.22/main.json"),
    ("alpine-secdb-v3.22-community", "https://secdb.alpinelinux.org/v3.22/community.json"),
];

/// Where the database lives unless the caller names another directory:
/// `$XDG_CACHE_HOME/oci-harden/advisories` (when set to an absolute path), else
/// `$HOME/.cache/oci-harden/advisories`, else `.cache/oci-harden/advisories` in the current
/// directory (never a shared temporary directory, where another user could plant one).
pub fn default_db_dir() -> PathBuf {
    db_dir_from(std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME"))
}

fn db_dir_from(xdg_cache_home: Option<OsString>, home: Option<OsString>) -> PathBuf {
    let cache = xdg_cache_home
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(|| home.filter(|home| !home.is_empty()).map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("oci-harden").join("advisories")
}
