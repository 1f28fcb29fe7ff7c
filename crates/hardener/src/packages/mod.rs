//! The OS package inventory of an image: its operating system and the packages its
//! package databases list, each with its source package and the layer that introduced
//! it.

mod apk;
mod dpkg;
mod dpkg_db;
mod layers;

use std::collections::HashSet;

use oci_core::{EntryKind, MergedFs};
use serde::Serialize;

pub use apk::parse_apk_installed;
pub use dpkg::{parse_dpkg_status, parse_dpkg_status_d};
pub use dpkg_db::{ConffileRecord, StatusEntry, info_file_name, list_file, rewrite_status};

use crate::os::{self, OsFiles, OsInfo};
use crate::{Error, Result};

/// dpkg's database of installed packages.
pub(crate) const DPKG_STATUS: &str = "var/lib/dpkg/status";
/// distroless images' per-package dpkg files.
pub(crate) const DPKG_STATUS_D: &str = "var/lib/dpkg/status.d";
/// apk's database of installed packages.
pub(crate) const APK_INSTALLED: &str = "lib/apk/db/installed";
/// Largest package database file read into memory.
pub(crate) const MAX_DB_BYTES: u64 = 64 << 20;

/// The package manager whose database lists a package.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum PackageFormat {
    /// Debian's dpkg (`var/lib/dpkg/status`, `status.d/`).
    #[default]
    Dpkg,
    /// Alpine's apk (`lib/apk/db/installed`).
    Apk,
}

impl std::fmt::Display for PackageFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PackageFormat::Dpkg => "dpkg",
            PackageFormat::Apk => "apk",
        })
    }
}

/// One installed binary package.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Package {
    /// The binary package's name (`bsdutils`).
    pub name: String,
    /// Its version exactly as the database has it, epoch included (`1:2.38.1-5+deb12u3`).
    pub version: String,
    /// `amd64`, `all`, `x86_64`… when the database says.
    pub architecture: Option<String>,
    /// The source package (dpkg `Source:`, apk `o:` origin; else the package's name):
    /// advisories are indexed by it (`util-linux`).
    pub source_name: String,
    /// The source version: dpkg's `Source: name (version)` (so binNMUs `+bN` map to their
    /// source), else the package's version (`dpkg-query`'s `${source:Version}`).
    pub source_version: String,
    /// The database format.
    pub format: PackageFormat,
    /// The index of the first layer (base = 0) whose database lists this name, architecture
    /// and version without interruption up to the image's top; `None` from the bare
    /// parsers.
    pub layer: Option<usize>,
    /// The database file, absolute (`/var/lib/dpkg/status`).
    pub db_path: String,
    /// dpkg only: the state word of `Status` (`installed`, `unpacked`, …), `None` for
    /// distroless `status.d/` files without one.
    pub status: Option<String>,
}

impl Package {
    fn key(&self) -> PackageKey {
        (self.format, self.name.clone(), self.architecture.clone(), self.version.clone())
    }
}

/// What identifies a package across layers: format, name, architecture, version.
pub(crate) type PackageKey = (PackageFormat, String, Option<String>, String);

/// The OS and OS packages of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inventory {
    /// The operating system, when one is identified.
    pub os: Option<OsInfo>,
    /// Installed packages, sorted by format, name, architecture and version.
    pub packages: Vec<Package>,
    /// What the caller should know: end of life reached, skipped database entries (with
    /// their file and line), packages not fully installed, unreadable `status.d/` files,
    /// an identified OS without any package database.
    pub warnings: Vec<String>,
}

/// Whether `path` is one of the files [`inventory`] and [`crate::detect_os`] read: pass
/// it to [`MergedFs::build_capturing`] so they need no second pass over the layers.
///
/// ```
/// # fn main() -> hardener::Result<()> {
/// # let reference = format!("oci:{}/../../examples/alpine:3.20", env!("CARGO_MANIFEST_DIR")).parse()?;
/// # let image = hardener::oci_core::ImageSource::open(&reference)?.image(None)?;
/// let fs = hardener::oci_core::MergedFs::build_capturing(&image, hardener::inventory_paths)?;
/// let inventory = hardener::inventory(&fs, &hardener::today_utc())?;
/// assert_eq!(inventory.packages.len(), 14);
/// # Ok(()) }
/// ```
pub fn inventory_paths(path: &str) -> bool {
    let p = path.trim_start_matches('/');
    matches!(
        p,
        "etc/os-release"
            | "usr/lib/os-release"
            | "etc/debian_version"
            | "etc/alpine-release"
            | "etc/apk/repositories"
            | DPKG_STATUS
            | APK_INSTALLED
            | "usr/lib/apk/db/installed"
    ) || p.strip_prefix(DPKG_STATUS_D).is_some_and(|rest| rest.starts_with('/'))
}

/// A package database file of the final filesystem.
#[derive(Debug, Clone)]
pub(crate) struct DbFile {
    pub kind: DbKind,
    /// The path users know, absolute: `/var/lib/dpkg/status`.
    pub display: String,
    /// The real path in the merged filesystem (symlinks resolved), relative.
    pub real: String,
    /// The layer whose entry defines the file.
    pub layer: usize,
    /// Where its bytes are (layer, entry index).
    pub data: Option<(usize, u64)>,
    pub size: u64,
}

/// The kind of a package database file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum DbKind {
    DpkgStatus,
    DpkgStatusD,
    Apk,
}

impl DbKind {
    /// Parses a database file of this kind.
    pub fn parse(self, text: &str, path: &str) -> Result<(Vec<Package>, Vec<String>)> {
        match self {
            DbKind::DpkgStatus => parse_dpkg_status(text, path),
            DbKind::DpkgStatusD => parse_dpkg_status_d(text, path),
            DbKind::Apk => parse_apk_installed(text, path),
        }
    }
}

/// Lists the OS and the installed OS packages of a merged filesystem.
///
/// Reads `var/lib/dpkg/status`, every file of `var/lib/dpkg/status.d/` but `*.md5sums`,
/// and `lib/apk/db/installed` (symlinks resolved inside the root), plus the OS files of
/// [`crate::detect_os`]; `today` (`YYYY-MM-DD`) dates the end-of-life check. To find the
/// layer that introduced each package, the layers up to the last one that changed a
/// database are streamed once more, reading only database entries (no pass when that is
/// the base layer).
///
/// # Errors
/// [`Error::PackageDb`] for a corrupt `status` or `installed` file (with its line) or a
/// database file over 64 MiB; [`Error::Image`] when a layer cannot be read. A corrupt
/// `status.d/` file is a warning naming it.
///
/// # Security
/// Only database files are read into memory, each bounded by 64 MiB; parsing never
/// panics on arbitrary bytes (property-tested).
pub fn inventory(fs: &MergedFs, today: &str) -> Result<Inventory> {
    let (os, mut warnings) = os::identify(&OsFiles::read(fs)?, today);
    let dbs = locate(fs, &mut warnings);
    if dbs.is_empty() {
        if let Some(os) = &os {
            warnings.push(format!(
                "{} has no package database (/{DPKG_STATUS}, /{DPKG_STATUS_D}/, /{APK_INSTALLED}): its OS packages \
                 cannot be checked",
                os.display_name()
            ));
        }
        return Ok(Inventory { os, packages: Vec::new(), warnings });
    }
    for db in &dbs {
        if db.size > MAX_DB_BYTES {
            return Err(too_large(&db.display, db.size));
        }
    }

    let top = dbs.iter().map(|d| d.layer).max().unwrap_or(0);
    let needs_pass = top > 0 || dbs.len() > 1;
    let scan = if needs_pass { Some(layers::scan(fs, &dbs, top, &mut warnings)?) } else { None };

    let mut packages = Vec::new();
    for db in &dbs {
        let bytes = match scan.as_ref().and_then(|s| s.contents.get(&db.real)) {
            Some(b) => b.clone(),
            None => fs.read(&db.real)?,
        };
        let text = String::from_utf8_lossy(&bytes);
        match db.kind.parse(&text, &db.display) {
            Ok((found, w)) => {
                if db.kind == DbKind::DpkgStatusD && found.is_empty() && w.is_empty() {
                    warnings.push(format!("{}: lists no installed package", db.display));
                }
                packages.extend(found);
                warnings.extend(w);
            }
            Err(e) if db.kind == DbKind::DpkgStatusD => warnings.push(format!("{e}; file skipped")),
            Err(e) => return Err(e),
        }
    }

    for p in &mut packages {
        p.layer = match &scan {
            Some(s) => s.first_layer.get(&p.key()).copied(),
            None => Some(0),
        };
    }
    packages.sort_by(|a, b| a.key().cmp(&b.key()).then_with(|| a.db_path.cmp(&b.db_path)));
    let mut seen = HashSet::new();
    packages.retain(|p| {
        let fresh = seen.insert(p.key());
        if !fresh {
            warnings.push(format!(
                "{} {} ({}) is listed twice (again in {}); counted once",
                p.name, p.version, p.format, p.db_path
            ));
        }
        fresh
    });
    Ok(Inventory { os, packages, warnings })
}

pub(crate) fn too_large(path: &str, size: u64) -> Error {
    Error::PackageDb {
        path: path.to_owned(),
        reason: format!("{size} bytes, more than the {} MiB a package database may have", MAX_DB_BYTES >> 20),
    }
}

/// Finds the package database files of the final filesystem.
fn locate(fs: &MergedFs, warnings: &mut Vec<String>) -> Vec<DbFile> {
    let regular = |kind: EntryKind| matches!(kind, EntryKind::File | EntryKind::Hardlink);
    let mut dbs = Vec::new();
    for (kind, path) in [(DbKind::DpkgStatus, DPKG_STATUS), (DbKind::Apk, APK_INSTALLED)] {
        if let Some((real, node)) = fs.resolve(path)
            && regular(node.meta.kind)
        {
            let display = format!("/{path}");
            dbs.push(DbFile { kind, display, real, layer: node.layer, data: node.data, size: node.meta.size });
        }
    }
    if let Some((dir, node)) = fs.resolve(DPKG_STATUS_D)
        && node.meta.kind == EntryKind::Dir
    {
        let prefix = format!("{dir}/");
        for (path, node) in fs.walk(&dir) {
            let Some(name) = path.strip_prefix(&prefix).filter(|n| !n.contains('/')) else { continue };
            if name.ends_with(".md5sums") {
                continue;
            }
            let display = format!("/{DPKG_STATUS_D}/{name}");
            if !regular(node.meta.kind) {
                warnings.push(format!("{display}: not a regular file ({:?}); skipped", node.meta.kind));
                continue;
            }
            dbs.push(DbFile {
                kind: DbKind::DpkgStatusD,
                display,
                real: path.to_owned(),
                layer: node.layer,
                data: node.data,
                size: node.meta.size,
            });
        }
    }
    dbs
}

#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod tests;
