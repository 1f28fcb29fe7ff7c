//! Applying an [`UpgradePlan`] to an image as file changes: each package's files placed as
//! dpkg would place them ([`plan_deb_files`]) and dpkg's database rewritten as dpkg would
//! leave it, with maintainer scripts and triggers classified instead of run
//! ([`crate::classify_script`]). Nothing is written to the image: the result is a list of changes
//! whose contents wait in a [`Spool`], for one layer.
//!
//! What dpkg does that is reproduced here, each checked against dpkg 1.21: diversions
//! (`/var/lib/dpkg/diversions`) and stat overrides (`statoverride`, names resolved in the
//! image's passwd and group files) honoured; files taken over from another installed package
//! leave its `.list`; conffiles the new version drops stay, `obsolete`, listed last;
//! `remove-on-upgrade` conffiles removed (or kept as `.dpkg-old` when edited); the package's
//! `md5sums` kept as shipped, or computed (conffiles included) when it ships none; every
//! control member but `control` stored in `info/` with its mode, and the old version's
//! `info/` files the new one lacks removed. Not done: `Triggers-Pending` is not recorded
//! (activated file triggers are reported instead), and `status-old`/`available` are left
//! as they are.

use std::collections::{BTreeMap, BTreeSet};

use oci_core::{EntryKind, EntryMeta, MergedFs};
use serde::Serialize;

use super::ahead::Ahead;
use super::files::{ConffileAction, ConffileOutcome, FileAction, FileChange, Installed, plan_deb_files_from};
use super::plan::{PlannedPackage, UpgradePlan, UpgradeReason};
use super::scripts::{
    ScriptClass, ScriptDisposition, ScriptOutcome, ScriptPolicy, TriggerClass, classify_script, classify_trigger,
    library_names,
};
use super::spool::Spool;
use crate::packages::{ConffileRecord, StatusEntry, info_file_name, list_file, rewrite_status};
use crate::{DebControl, Error, Result, VerifiedDeb};

const ADMIN: &str = "var/lib/dpkg";
const STATUS: &str = "var/lib/dpkg/status";
const INFO: &str = "var/lib/dpkg/info";
const STATUS_D: &str = "var/lib/dpkg/status.d";
const DIVERSIONS: &str = "var/lib/dpkg/diversions";

/// The `info/` files dpkg keeps per package besides its control members: their suffixes.
const INFO_SUFFIXES: &[&str] = &[
    "list",
    "md5sums",
    "conffiles",
    "preinst",
    "postinst",
    "prerm",
    "postrm",
    "config",
    "templates",
    "triggers",
    "shlibs",
    "symbols",
];

/// Whether [`apply_upgrades`] reads a path of the image: build the [`MergedFs`] with this
/// as (part of) its capture so no second pass over the layers is needed (the dpkg
/// and apk databases and `/etc`, where configuration files live).
pub fn apply_capture(path: &str) -> bool {
    path.starts_with("var/lib/dpkg/") || path.starts_with("etc/") || path.starts_with("lib/apk/")
}

/// The result of [`apply_upgrades`]: the changes (one per real path, sorted, the
/// contents of written files in [`AppliedUpgrades::spool`]) and the report per package.
pub struct AppliedUpgrades {
    /// The file changes, sorted by path, one per path.
    pub changes: Vec<FileChange>,
    /// Where the written files' contents are.
    pub spool: Spool,
    /// One per planned package, in plan order.
    pub packages: Vec<UpgradedPackage>,
}

impl std::fmt::Debug for AppliedUpgrades {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppliedUpgrades")
            .field("changes", &self.changes.len())
            .field("packages", &self.packages)
            .finish()
    }
}

/// What was done for one package (serialised into reports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradedPackage {
    /// The binary package.
    pub name: String,
    /// Its architecture.
    pub architecture: String,
    /// The version before (`None`: new to the image).
    pub old_version: Option<String>,
    /// The version now.
    pub new_version: String,
    /// The source package and version of the new version.
    pub source: String,
    /// See [`UpgradedPackage::source`].
    pub source_version: String,
    /// Why it is in the plan.
    pub reason: UpgradeReason,
    /// The `.deb`'s verified SHA256.
    pub sha256: String,
    /// The package's files (database files not included).
    pub files: FilesSummary,
    /// What happened to each configuration file.
    pub conffiles: Vec<ConffileOutcome>,
    /// Every maintainer script and trigger concerned, and what was done about it.
    pub scripts: Vec<ScriptOutcome>,
}

/// The files of one package that were added, replaced and removed (real paths), with
/// their counts: `{"counts": {"added", "replaced", "removed"}, "added": […], …}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FilesSummary {
    /// How many of each.
    pub counts: FileCounts,
    /// Paths that did not exist (directories excluded).
    pub added: Vec<String>,
    /// Paths that existed and were written (directories excluded).
    pub replaced: Vec<String>,
    /// Paths removed (whiteouts).
    pub removed: Vec<String>,
}

/// The counts of a [`FilesSummary`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FileCounts {
    /// Files added.
    pub added: usize,
    /// Files replaced.
    pub replaced: usize,
    /// Files removed.
    pub removed: usize,
}

/// Which database the image has.
/// Which packages' lists name each path (dpkg's `info/*.list`, or a distroless
/// `status.d` package's `md5sums` paths), kept in step with the lists it indexes.
struct Owners {
    /// Path → the lists naming it, as indexes into `keys` (compact: an image's lists name
    /// tens of thousands of paths).
    by_path: std::collections::HashMap<Box<str>, Vec<u32>>,
    keys: Vec<String>,
    /// Key → its index in `keys`.
    index: std::collections::HashMap<String, u32>,
}

impl Owners {
    fn of(lists: &BTreeMap<String, Vec<String>>) -> Owners {
        let mut owners = Owners { by_path: Default::default(), keys: Vec::new(), index: Default::default() };
        for (key, paths) in lists {
            let k = owners.key(key);
            for path in paths {
                owners.by_path.entry(path.as_str().into()).or_default().push(k);
            }
        }
        owners
    }

    /// The index of `key`, added when new.
    fn key(&mut self, key: &str) -> u32 {
        if let Some(&i) = self.index.get(key) {
            return i;
        }
        let i = self.keys.len() as u32;
        self.keys.push(key.to_owned());
        self.index.insert(key.to_owned(), i);
        i
    }

    /// Whether a list other than those of `own` names `path`.
    fn listed_by_other(&self, path: &str, own: &BTreeSet<&str>) -> bool {
        self.by_path.get(path).is_some_and(|keys| keys.iter().any(|&k| !own.contains(self.keys[k as usize].as_str())))
    }

    /// Replaces (or, with `None`, removes) the list of `key`.
    fn set(&mut self, lists: &mut BTreeMap<String, Vec<String>>, key: &str, paths: Option<Vec<String>>) {
        let k = self.key(key);
        if let Some(old) = lists.remove(key) {
            for path in &old {
                if let Some(keys) = self.by_path.get_mut(path.as_str()) {
                    keys.retain(|&o| o != k);
                }
            }
        }
        if let Some(paths) = paths {
            for path in &paths {
                let keys = self.by_path.entry(path.as_str().into()).or_default();
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
            lists.insert(key.to_owned(), paths);
        }
    }

    /// Removes `taken` from the lists that name them, except those `skip` accepts; returns
    /// the keys of the lists that lost a path.
    fn take(
        &mut self,
        lists: &mut BTreeMap<String, Vec<String>>,
        taken: &[String],
        skip: impl Fn(&str) -> bool,
    ) -> BTreeSet<String> {
        let mut losers: BTreeSet<String> = BTreeSet::new();
        for path in taken {
            if let Some(keys) = self.by_path.get_mut(path.as_str()) {
                keys.retain(|&k| {
                    let key = &self.keys[k as usize];
                    if skip(key) || !lists.contains_key(key) {
                        return true;
                    }
                    losers.insert(key.clone());
                    false
                });
            }
        }
        if !losers.is_empty() {
            let taken: std::collections::HashSet<&str> = taken.iter().map(String::as_str).collect();
            for key in &losers {
                if let Some(paths) = lists.get_mut(key) {
                    paths.retain(|p| !taken.contains(p.as_str()));
                }
            }
        }
        losers
    }
}

enum Db {
    /// `var/lib/dpkg/status` and `info/`.
    Full { status: String, lists: BTreeMap<String, Vec<String>> },
    /// Distroless: `status.d/NAME` (+ `NAME.md5sums`); file name by package name.
    Distroless { files: BTreeMap<String, String>, lists: BTreeMap<String, Vec<String>> },
}

/// Applies `plan` to the image whose merged filesystem is `fs` (ideally built with
/// [`apply_capture`]): every planned package's `.deb` (opened again by
/// [`VerifiedDeb::open`] against the plan's size and SHA256) is placed on the filesystem
/// and recorded in dpkg's database, each package seeing the changes of those before it.
///
/// A plan of [`crate::PackageFormat::Apk`] packages is applied as apk-tools 2.14 would
/// leave the image instead: data entries, `.apk-new` files for what the user changed under
/// `/etc`, `lib/apk/db/installed`, `scripts.tar` and `triggers`, apk scripts classified by
/// [`crate::classify_apk_script`] (each `.apk` checked against the plan's size, SHA256 and
/// control checksum, and its signature against the image's `/etc/apk/keys`).
///
/// Maintainer scripts and triggers are never run: each is classified ([`crate::classify_script`])
/// and, when not known to be harmless or handled, the upgrade is refused under
/// [`ScriptPolicy::Refuse`] or listed as not run under [`ScriptPolicy::Warn`].
///
/// # Errors
/// [`Error::Apt`] for a `.deb` ([`Error::Apk`] for an `.apk`) that does not match the plan
/// or holds unsafe entries,
/// [`Error::PackageDb`] for a database that cannot be read or an entry that cannot be
/// placed, [`Error::ScriptRefused`] for a script or trigger refused. Nothing is written
/// in any case (the caller writes the changes).
pub fn apply_upgrades(fs: &MergedFs, plan: &UpgradePlan, policy: ScriptPolicy) -> Result<AppliedUpgrades> {
    if plan.format == crate::PackageFormat::Apk {
        return crate::apk::apply_apk_upgrades(fs, plan, policy);
    }
    let mut db = read_db(fs)?;
    let diversions = read_diversions(fs)?;
    let interests = read_interests(fs, &db)?;
    let has_ld_cache = fs.resolve("etc/ld.so.cache").is_some();
    let overrides = read_statoverrides(fs)?;
    let mut spool = Spool::new().map_err(|e| Error::io("creating the package spool", e))?;
    let mut changes: BTreeMap<String, FileChange> = BTreeMap::new();
    let mut earlier: BTreeMap<String, EntryKind> = BTreeMap::new();
    let mut entries: Vec<StatusEntry> = Vec::new();
    let mut db_files: BTreeMap<String, (EntryMeta, Vec<u8>)> = BTreeMap::new();
    let mut db_removed: BTreeSet<String> = BTreeSet::new();
    // Other packages whose lists lost files to a planned package.
    let mut taken_over: BTreeSet<String> = BTreeSet::new();
    let mut reports = Vec::new();
    // Who lists each path, kept in step with the lists (one lookup a path, instead of a set
    // of every other package's paths built for each package).
    let mut owners = Owners::of(match &db {
        Db::Full { lists, .. } | Db::Distroless { lists, .. } => lists,
    });

    // The packages' data archives are decompressed ahead, on the other cores, while the
    // ones before them are placed here in plan order (their data waits in files).
    let files: Vec<_> = plan
        .packages
        .iter()
        .map(|p| (p.name.clone(), p.version.clone(), p.file.local.clone(), p.file.size, p.file.sha256.clone()))
        .collect();
    // The largest first: the longest decompression does not end the phase alone.
    let sizes: Vec<u64> = files.iter().map(|f| f.3).collect();
    let mut decoded =
        Ahead::start_largest_first(&sizes, super::ahead::cores(), move |i| -> Result<(VerifiedDeb, std::fs::File)> {
            let (name, version, local, size, sha256) = &files[i];
            let local = local
                .as_ref()
                .ok_or_else(|| db_error(name, format!("{name} {version}: the package file was not fetched")))?;
            let deb = VerifiedDeb::open(local, *size, sha256)?;
            let mut data = tempfile::tempfile().map_err(|e| Error::io("creating a file for a package's data", e))?;
            deb.decompress_data(&mut std::io::BufWriter::with_capacity(256 << 10, &mut data))?;
            std::io::Seek::rewind(&mut data).map_err(|e| Error::io("reading back a package's data", e))?;
            Ok((deb, data))
        });

    for p in &plan.packages {
        let (deb, data) = decoded.next().expect("one result a package")?;
        let control = deb.control()?;
        check_control(&deb, &control, p)?;
        let conffiles = control.conffiles()?;
        let conffile_paths: Vec<String> = conffiles.iter().map(|c| c.path.clone()).collect();
        let key = instance_key(p);

        // The old version: its stanza, its paths, its conffiles.
        let (old_key, old_paths, old_conffiles) = match &db {
            Db::Full { status, lists } => {
                let stanza = find_stanza(status, &p.name, &p.architecture);
                let old_key = [format!("{}:{}", p.name, p.architecture), p.name.clone()]
                    .into_iter()
                    .find(|k| lists.contains_key(k));
                let paths = old_key.as_ref().and_then(|k| lists.get(k)).cloned().unwrap_or_default();
                let conffiles = stanza.as_deref().map(parse_conffiles).unwrap_or_default();
                (old_key, paths, conffiles)
            }
            Db::Distroless { lists, .. } => {
                (Some(p.name.clone()), lists.get(&p.name).cloned().unwrap_or_default(), Vec::new())
            }
        };
        let own: BTreeSet<&str> = [Some(key.as_str()), old_key.as_deref()].into_iter().flatten().collect();
        let others = |path: &str| owners.listed_by_other(path, &own);
        let name = p.name.clone();
        let divert = |raw: &str| {
            diversions
                .get(&format!("/{raw}"))
                .filter(|(_, by)| *by != name)
                .map(|(to, _)| to.trim_start_matches('/').to_owned())
        };
        let installed = Installed {
            old_paths: &old_paths,
            old_conffiles: &old_conffiles,
            owned_by_others: &others,
            divert: &divert,
            earlier: &earlier,
        };
        let data = std::io::BufReader::with_capacity(256 << 10, data);
        let mut files = plan_deb_files_from(fs, &deb, data, &conffile_paths, &installed, &mut spool)?;
        let removed_on_upgrade = remove_on_upgrade(fs, &conffiles, &old_conffiles, &mut files, &mut spool)?;
        apply_statoverrides(&overrides, &mut files);

        // The report of the package's files.
        let mut summary = FilesSummary::default();
        for c in &files.changes {
            match &c.action {
                FileAction::Remove => summary.removed.push(c.path.clone()),
                FileAction::Write { meta, .. } if meta.kind == EntryKind::Dir => {}
                FileAction::Write { .. } => {
                    let existed =
                        earlier.contains_key(&c.path) || fs.get(&c.path).is_some_and(|n| n.meta.kind != EntryKind::Dir);
                    if existed { summary.replaced.push(c.path.clone()) } else { summary.added.push(c.path.clone()) }
                }
            }
        }

        summary.counts =
            FileCounts { added: summary.added.len(), replaced: summary.replaced.len(), removed: summary.removed.len() };

        // Scripts and triggers.
        let new_paths: Vec<&str> = files.listed.iter().map(String::as_str).collect();
        let scripts = classify_package(ClassifyInput {
            package: p,
            control: &control,
            fs,
            old_key: old_key.as_deref(),
            old_paths: &old_paths,
            new_paths: &new_paths,
            removed: &summary.removed,
            interests: &interests,
            has_ld_cache,
            policy,
        })?;

        // The database.
        let mut records: Vec<ConffileRecord> = Vec::new();
        for c in &conffiles {
            if let Some(r) = files.conffiles.iter().find(|r| r.path == c.path) {
                records.push(ConffileRecord { remove_on_upgrade: c.remove_on_upgrade, ..r.clone() });
            } else if let Some(r) = removed_on_upgrade.iter().find(|r| r.path == c.path) {
                records.push(r.clone());
            }
        }
        for old in &old_conffiles {
            if !records.iter().any(|r| r.path == old.path) {
                records.push(ConffileRecord { obsolete: true, ..old.clone() });
            }
        }
        let md5sums = if control.member("md5sums").is_some() { String::new() } else { md5sums_text(&deb)? };
        match &mut db {
            Db::Full { lists, .. } => {
                entries.push(StatusEntry::installed(control.control_text(), &records)?);
                let mut written: BTreeSet<String> = BTreeSet::new();
                let mut put = |member: &str, mode: u32, bytes: Vec<u8>| {
                    let path =
                        format!("{INFO}/{}", info_file_name(&p.name, &p.architecture, p.multi_arch_same, member));
                    written.insert(path.clone());
                    db_files.insert(path, (EntryMeta::file(mode, bytes.len() as u64), bytes));
                };
                // Obsolete conffiles stay the package's: dpkg lists them last.
                let mut listed = files.listed.clone();
                for r in records.iter().filter(|r| r.obsolete) {
                    if !listed.contains(&r.path) {
                        listed.push(r.path.clone());
                    }
                }
                put("list", 0o644, list_file(listed.iter().map(String::as_str)).into_bytes());
                // dpkg keeps the package's own md5sums as it is, and computes one only for a
                // package that ships none.
                if control.member("md5sums").is_none() && !md5sums.is_empty() {
                    put("md5sums", 0o644, md5sums.into_bytes());
                }
                for m in control.members() {
                    if m.name == "control" {
                        continue;
                    }
                    put(&m.name, m.mode & 0o7777, m.data.clone());
                }
                // The old version's info files the new one lacks.
                if let Some(old) = &old_key {
                    for suffix in INFO_SUFFIXES {
                        let path = format!("{INFO}/{old}.{suffix}");
                        if !written.contains(&path) && fs.get(&path).is_some() {
                            db_removed.insert(path);
                        }
                    }
                }
                for path in &written {
                    db_removed.remove(path);
                }
                if let Some(old) = &old_key {
                    owners.set(lists, old, None);
                }
                // Files taken over from another package leave its list, as dpkg rewrites
                // it (unpack.c, write_filelist_except).
                // Instances of the same package (`Multi-Arch: same`) share files.
                let same = |other: &str| other.split(':').next() == Some(p.name.as_str());
                for other in owners.take(lists, &files.non_dirs, same) {
                    taken_over.insert(other);
                }
                taken_over.remove(&key);
                owners.set(lists, &key, Some(listed));
            }
            Db::Distroless { files: names, lists } => {
                let file = names.get(&p.name).cloned().unwrap_or_else(|| p.name.clone());
                let text = control.control_text().as_bytes().to_vec();
                db_files.insert(format!("{STATUS_D}/{file}"), (EntryMeta::file(0o644, text.len() as u64), text));
                if let Some(bytes) = control
                    .member("md5sums")
                    .map(|m| m.data.clone())
                    .or_else(|| (!md5sums.is_empty()).then(|| md5sums.into_bytes()))
                {
                    db_files.insert(
                        format!("{STATUS_D}/{file}.md5sums"),
                        (EntryMeta::file(0o644, bytes.len() as u64), bytes),
                    );
                }
                names.insert(p.name.clone(), file);
                owners.set(lists, &p.name, Some(files.listed.iter().filter(|l| *l != "/.").cloned().collect()));
            }
        }

        for c in files.changes {
            match &c.action {
                FileAction::Write { meta, .. } => {
                    earlier.insert(c.path.clone(), meta.kind);
                }
                FileAction::Remove => {
                    earlier.remove(&c.path);
                }
            }
            changes.insert(c.path.clone(), c);
        }
        reports.push(UpgradedPackage {
            name: p.name.clone(),
            architecture: p.architecture.clone(),
            old_version: p.installed.clone(),
            new_version: p.version.clone(),
            source: p.source.clone(),
            source_version: p.source_version.clone(),
            reason: p.reason.clone(),
            sha256: deb.sha256().to_owned(),
            files: summary,
            conffiles: files.conffile_outcomes,
            scripts,
        });
    }

    // The lists of packages that lost files to planned ones (planned packages' lists too,
    // when a later package took a file over).
    if let Db::Full { lists, .. } = &db {
        for key in &taken_over {
            let path = format!("{INFO}/{key}.list");
            if let Some(paths) = lists.get(key) {
                let text: String = paths.iter().map(|p| format!("{p}\n")).collect();
                let meta = fs.get(&path).map_or_else(|| EntryMeta::file(0o644, 0), |n| n.meta.clone());
                db_files.insert(path, (meta, text.into_bytes()));
            }
        }
    }
    // The status file, rewritten once with every new stanza.
    if let Db::Full { status, .. } = &db
        && !entries.is_empty()
    {
        let text = rewrite_status(status, &entries, &format!("/{STATUS}"))?;
        let meta = fs.get(STATUS).map_or_else(|| EntryMeta::file(0o644, 0), |n| n.meta.clone());
        db_files.insert(STATUS.to_owned(), (meta, text.into_bytes()));
    }
    for (path, (mut meta, bytes)) in db_files {
        let content =
            spool.append(&mut &bytes[..], bytes.len() as u64).map_err(|e| Error::io(format!("spooling /{path}"), e))?;
        meta.kind = EntryKind::File;
        meta.link = None;
        meta.size = bytes.len() as u64;
        changes.insert(path.clone(), FileChange { path, action: FileAction::Write { meta, content: Some(content) } });
    }
    for path in db_removed {
        changes.insert(path.clone(), FileChange { path, action: FileAction::Remove });
    }
    Ok(AppliedUpgrades { changes: changes.into_values().collect(), spool, packages: reports })
}

/// Conffiles the new version flags `remove-on-upgrade` (and does not ship): removed when
/// the user did not change them, else moved to `PATH.dpkg-old`; recorded with the old hash
/// and the flag, as dpkg 1.21 does.
fn remove_on_upgrade(
    fs: &MergedFs,
    conffiles: &[crate::Conffile],
    old_conffiles: &[ConffileRecord],
    files: &mut super::files::PackageFiles,
    spool: &mut Spool,
) -> Result<Vec<ConffileRecord>> {
    let mut out = Vec::new();
    for c in conffiles.iter().filter(|c| c.remove_on_upgrade) {
        if files.conffiles.iter().any(|r| r.path == c.path) {
            continue;
        }
        let Some(old) = old_conffiles.iter().find(|o| o.path == c.path) else { continue };
        out.push(ConffileRecord {
            path: c.path.clone(),
            md5: old.md5.clone(),
            obsolete: false,
            remove_on_upgrade: true,
        });
        let raw = c.path.trim_start_matches('/');
        let Some((real, node)) = fs.resolve(raw) else { continue };
        if node.meta.kind != EntryKind::File {
            continue;
        }
        let meta = node.meta.clone();
        let bytes = fs.read(&real)?;
        let action = if super::md5_hex(&bytes) == old.md5 {
            ConffileAction::Removed
        } else {
            let content = spool
                .append(&mut &bytes[..], bytes.len() as u64)
                .map_err(|e| Error::io(format!("spooling {}", c.path), e))?;
            files.changes.push(FileChange {
                path: format!("{real}.dpkg-old"),
                action: FileAction::Write { meta, content: Some(content) },
            });
            ConffileAction::SavedAsDpkgOld
        };
        files.changes.push(FileChange { path: real, action: FileAction::Remove });
        files.conffile_outcomes.push(ConffileOutcome { path: c.path.clone(), action });
    }
    Ok(out)
}

fn db_error(path: &str, reason: impl Into<String>) -> Error {
    Error::PackageDb { path: path.to_owned(), reason: reason.into() }
}

/// `NAME:ARCH` for `Multi-Arch: same` packages, else `NAME`: the `info/` file prefix.
fn instance_key(p: &PlannedPackage) -> String {
    info_file_name(&p.name, &p.architecture, p.multi_arch_same, "").trim_end_matches('.').to_owned()
}

/// The `.deb` must be the package the plan names.
fn check_control(deb: &VerifiedDeb, control: &DebControl, p: &PlannedPackage) -> Result<()> {
    let fields = control.fields()?;
    let get = |n: &str| fields.get(n).map(str::trim).unwrap_or("");
    let (name, version, arch) = (get("Package"), get("Version"), get("Architecture"));
    if name != p.name || version != p.version || arch != p.architecture {
        return Err(db_error(
            deb.name(),
            format!(
                "the package is {name} {version} ({arch}), the plan expects {} {} ({})",
                p.name, p.version, p.architecture
            ),
        ));
    }
    Ok(())
}

fn read_db(fs: &MergedFs) -> Result<Db> {
    let text = |path: &str| -> Result<String> {
        String::from_utf8(fs.read(path)?).map_err(|_| db_error(&format!("/{path}"), "not UTF-8 text"))
    };
    let is_file = |path: &str| fs.resolve(path).is_some_and(|(_, n)| n.meta.kind == EntryKind::File);
    if is_file(STATUS) {
        let status = text(STATUS)?;
        let names: Vec<String> = fs
            .walk(INFO)
            .filter(|(p, n)| {
                p.ends_with(".list") && n.meta.kind == EntryKind::File && !p[INFO.len() + 1..].contains('/')
            })
            .map(|(p, _)| p.to_owned())
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let contents = fs.read_many(&refs)?;
        let mut lists = BTreeMap::new();
        for (path, bytes) in contents {
            let key = path[INFO.len() + 1..path.len() - ".list".len()].to_owned();
            let text = String::from_utf8(bytes).map_err(|_| db_error(&format!("/{path}"), "not UTF-8 text"))?;
            lists.insert(key, text.lines().map(str::to_owned).collect());
        }
        return Ok(Db::Full { status, lists });
    }
    if fs.get(STATUS_D).is_some_and(|n| n.meta.kind == EntryKind::Dir) {
        let paths: Vec<String> = fs
            .walk(STATUS_D)
            .filter(|(p, n)| n.meta.kind == EntryKind::File && !p[STATUS_D.len() + 1..].contains('/'))
            .map(|(p, _)| p.to_owned())
            .collect();
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        let contents = fs.read_many(&refs)?;
        let mut files = BTreeMap::new();
        let mut md5sums: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (path, bytes) in &contents {
            let file = &path[STATUS_D.len() + 1..];
            let text = String::from_utf8_lossy(bytes);
            if let Some(base) = file.strip_suffix(".md5sums") {
                md5sums.insert(
                    base.to_owned(),
                    text.lines()
                        .filter_map(|l| l.split_once(' ').map(|(_, p)| format!("/{}", p.trim_start())))
                        .collect(),
                );
            } else if let Some(name) = field(&text, "Package") {
                files.insert(name, file.to_owned());
            }
        }
        let lists = files.iter().map(|(name, file)| (name.clone(), md5sums.remove(file).unwrap_or_default())).collect();
        return Ok(Db::Distroless { files, lists });
    }
    Err(db_error(&format!("/{ADMIN}"), "the image has no dpkg database (neither status nor status.d/)"))
}

/// `/var/lib/dpkg/statoverride`: real path → (uid, gid, mode), owner and group names
/// resolved through the image's `/etc/passwd` and `/etc/group` as dpkg does in the root.
fn read_statoverrides(fs: &MergedFs) -> Result<BTreeMap<String, (u64, u64, u32)>> {
    const FILE: &str = "var/lib/dpkg/statoverride";
    if fs.resolve(FILE).is_none() {
        return Ok(BTreeMap::new());
    }
    let text = String::from_utf8_lossy(&fs.read(FILE)?).into_owned();
    let ids = |file: &str| -> Result<BTreeMap<String, u64>> {
        if fs.resolve(file).is_none() {
            return Ok(BTreeMap::new());
        }
        Ok(String::from_utf8_lossy(&fs.read(file)?)
            .lines()
            .filter_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                let id = f.nth(1)?.parse().ok()?;
                Some((name.to_owned(), id))
            })
            .collect())
    };
    let (users, groups) = (ids("etc/passwd")?, ids("etc/group")?);
    let id = |word: &str, table: &BTreeMap<String, u64>, line: usize| -> Result<u64> {
        match word.strip_prefix('#') {
            Some(n) => n.parse().ok(),
            None => table.get(word).copied(),
        }
        .ok_or_else(|| db_error(&format!("/{FILE}"), format!("line {line}: unknown user or group {word:?}")))
    };
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let [user, group, mode, path] = words.as_slice() else {
            return Err(db_error(&format!("/{FILE}"), format!("line {}: not \"USER GROUP MODE PATH\"", i + 1)));
        };
        let mode = u32::from_str_radix(mode, 8)
            .map_err(|_| db_error(&format!("/{FILE}"), format!("line {}: bad mode {mode:?}", i + 1)))?;
        let path = path.trim_start_matches('/');
        let real = match path.rsplit_once('/') {
            Some((dir, name)) => fs.resolve(dir).map_or_else(|| path.to_owned(), |(d, _)| format!("{d}/{name}")),
            None => path.to_owned(),
        };
        out.insert(real, (id(user, &users, i + 1)?, id(group, &groups, i + 1)?, mode & 0o7777));
    }
    Ok(out)
}

/// dpkg applies the administrator's stat overrides to the files it unpacks.
fn apply_statoverrides(overrides: &BTreeMap<String, (u64, u64, u32)>, files: &mut super::files::PackageFiles) {
    for c in &mut files.changes {
        if let FileAction::Write { meta, .. } = &mut c.action
            && let Some((uid, gid, mode)) = overrides.get(&c.path)
        {
            meta.uid = *uid;
            meta.gid = *gid;
            meta.mode = *mode;
        }
    }
}

/// `/var/lib/dpkg/diversions`: diverted path → (new path, diverting package or `:`).
fn read_diversions(fs: &MergedFs) -> Result<BTreeMap<String, (String, String)>> {
    if fs.resolve(DIVERSIONS).is_none() {
        return Ok(BTreeMap::new());
    }
    let bytes = fs.read(DIVERSIONS)?;
    let text = String::from_utf8(bytes).map_err(|_| db_error(&format!("/{DIVERSIONS}"), "not UTF-8 text"))?;
    let lines: Vec<&str> = text.lines().collect();
    if !lines.len().is_multiple_of(3) {
        return Err(db_error(&format!("/{DIVERSIONS}"), "not groups of three lines (from, to, package)"));
    }
    Ok(lines.chunks(3).map(|c| (c[0].to_owned(), (c[1].to_owned(), c[2].to_owned()))).collect())
}

/// File-trigger interests of the installed packages: `(package, path)`.
fn read_interests(fs: &MergedFs, db: &Db) -> Result<Vec<(String, String)>> {
    if !matches!(db, Db::Full { .. }) {
        return Ok(Vec::new());
    }
    let names: Vec<String> = fs
        .walk(INFO)
        .filter(|(p, n)| p.ends_with(".triggers") && n.meta.kind == EntryKind::File)
        .map(|(p, _)| p.to_owned())
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    for (path, bytes) in fs.read_many(&refs)? {
        let package = path[INFO.len() + 1..path.len() - ".triggers".len()].to_owned();
        for line in String::from_utf8_lossy(&bytes).lines() {
            let mut w = line.split_whitespace();
            if let (Some(d), Some(name)) = (w.next(), w.next())
                && d.starts_with("interest")
                && name.starts_with('/')
            {
                out.push((package.clone(), name.to_owned()));
            }
        }
    }
    Ok(out)
}

/// The first value of a field in deb822 text (its first line).
fn field(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

/// The status stanza of `name` (for `Multi-Arch: same` packages, of `arch`).
fn find_stanza(status: &str, name: &str, arch: &str) -> Option<String> {
    let stanzas: Vec<&str> = status.split("\n\n").filter(|s| !s.trim().is_empty()).collect();
    let of_name: Vec<&&str> = stanzas.iter().filter(|s| field(s, "Package").as_deref() == Some(name)).collect();
    of_name
        .iter()
        .find(|s| field(s, "Architecture").as_deref() == Some(arch))
        .or_else(|| of_name.first())
        .map(|s| (**s).to_owned())
}

/// The `Conffiles` field of a status stanza.
fn parse_conffiles(stanza: &str) -> Vec<ConffileRecord> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in stanza.lines() {
        if line.starts_with("Conffiles:") {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        if !line.starts_with([' ', '\t']) {
            break;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [path, md5, flags @ ..] = words.as_slice() {
            out.push(ConffileRecord {
                path: (*path).to_owned(),
                md5: (*md5).to_owned(),
                obsolete: flags.contains(&"obsolete"),
                remove_on_upgrade: flags.contains(&"remove-on-upgrade"),
            });
        }
    }
    out
}

/// `info/PKG.md5sums` as dpkg writes it for a package without an `md5sums` member: the MD5
/// of every file of the package, conffiles included, in archive order (checked against
/// dpkg 1.21).
fn md5sums_text(deb: &VerifiedDeb) -> Result<String> {
    let mut out = String::new();
    for (path, md5) in deb.file_md5sums()? {
        out.push_str(&format!("{md5}  {path}\n"));
    }
    Ok(out)
}

struct ClassifyInput<'a> {
    package: &'a PlannedPackage,
    control: &'a DebControl,
    fs: &'a MergedFs,
    old_key: Option<&'a str>,
    old_paths: &'a [String],
    new_paths: &'a [&'a str],
    removed: &'a [String],
    interests: &'a [(String, String)],
    has_ld_cache: bool,
    policy: ScriptPolicy,
}

/// Every maintainer script dpkg would run or store on this upgrade, and every trigger,
/// with what is done about it; refused ones stop the upgrade under
/// [`ScriptPolicy::Refuse`].
fn classify_package(input: ClassifyInput<'_>) -> Result<Vec<ScriptOutcome>> {
    let mut out = Vec::new();
    // What dpkg runs on an upgrade: the old prerm and postrm, the new preinst and postinst
    // (and debconf's config); the new prerm and postrm are only stored.
    if let Some(old) = input.old_key {
        for kind in ["prerm", "postrm"] {
            let path = format!("{INFO}/{old}.{kind}");
            if input.fs.resolve(&path).is_some() {
                let text = input.fs.read(&path)?;
                judge(&input, kind, "old", &text, &mut out)?;
            }
        }
    }
    for m in input.control.scripts() {
        match m.name.as_str() {
            "preinst" | "postinst" | "config" => judge(&input, &m.name, "new", &m.data, &mut out)?,
            _ => out.push(ScriptOutcome {
                kind: m.name.clone(),
                name: "new".into(),
                disposition: ScriptDisposition::Stored,
                detail: "stored for a later removal; dpkg does not run it on an upgrade".into(),
            }),
        }
    }
    // The package's own triggers.
    let old_libs = library_names(input.old_paths.iter().map(String::as_str));
    let new_libs = library_names(input.new_paths.iter().copied());
    // deb-triggers(5): blank lines and `#` comments (debhelper writes one) are not triggers.
    for line in
        input.control.triggers()?.unwrap_or("").lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let outcome = |disposition, detail: &str| ScriptOutcome {
            kind: "trigger".into(),
            name: line.to_owned(),
            disposition,
            detail: detail.to_owned(),
        };
        match classify_trigger(line) {
            TriggerClass::Ldconfig if old_libs == new_libs => {
                out.push(outcome(ScriptDisposition::Handled, "the same shared libraries: the linker cache stays valid"))
            }
            TriggerClass::Ldconfig if !input.has_ld_cache => {
                out.push(outcome(ScriptDisposition::Handled, "no /etc/ld.so.cache in the image: nothing to refresh"))
            }
            TriggerClass::Ldconfig => unknown(
                &input,
                "trigger",
                line.to_owned(),
                format!("the shared libraries change ({old_libs:?} → {new_libs:?}): /etc/ld.so.cache would be stale"),
                &mut out,
            )?,
            TriggerClass::HarmlessInterest(why) => out.push(outcome(ScriptDisposition::Harmless, why)),
            TriggerClass::Unknown => {
                unknown(&input, "trigger", line.to_owned(), "unknown trigger".to_owned(), &mut out)?;
            }
        }
    }
    // File triggers of installed packages that the new (or removed) paths activate.
    let touched: Vec<&str> = input.new_paths.iter().copied().chain(input.removed.iter().map(String::as_str)).collect();
    let mut seen = BTreeSet::new();
    for (package, interest) in input.interests {
        let hit = touched.iter().any(|t| {
            let t = format!("/{}", t.trim_start_matches('/'));
            t == *interest || t.starts_with(&format!("{interest}/"))
        });
        if !hit || !seen.insert((package, interest)) {
            continue;
        }
        let name = format!("{package}: interest {interest}");
        match classify_trigger(&format!("interest {interest}")) {
            TriggerClass::HarmlessInterest(why) => out.push(ScriptOutcome {
                kind: "trigger".into(),
                name,
                disposition: ScriptDisposition::Harmless,
                detail: format!("activated, not processed: {why}"),
            }),
            _ => unknown(&input, "trigger", name, "activated file trigger of unknown effect".into(), &mut out)?,
        }
    }
    Ok(out)
}

/// An unknown script or trigger: refused under [`ScriptPolicy::Refuse`], else listed as not
/// run.
fn unknown(
    input: &ClassifyInput<'_>,
    kind: &str,
    name: String,
    detail: String,
    out: &mut Vec<ScriptOutcome>,
) -> Result<()> {
    if input.policy == ScriptPolicy::Refuse {
        return Err(Error::ScriptRefused {
            package: input.package.name.clone(),
            script: format!("{name} {kind}"),
            reason: detail,
        });
    }
    out.push(ScriptOutcome { kind: kind.to_owned(), name, disposition: ScriptDisposition::NotRun, detail });
    Ok(())
}

/// One maintainer script, classified ([`classify_script`]). Harmless debhelper blocks
/// count as harmless only on an upgrade within the same package: for a new package they
/// would set something up.
fn judge(input: &ClassifyInput<'_>, kind: &str, name: &str, text: &[u8], out: &mut Vec<ScriptOutcome>) -> Result<()> {
    let upgrade = input.package.installed.is_some();
    match classify_script(&String::from_utf8_lossy(text)) {
        ScriptClass::Harmless(blocks) if upgrade || blocks.is_empty() => {
            let detail = if blocks.is_empty() {
                "boilerplate only".to_owned()
            } else {
                format!("debhelper blocks of {}", blocks.join(", "))
            };
            out.push(ScriptOutcome {
                kind: kind.to_owned(),
                name: name.to_owned(),
                disposition: ScriptDisposition::Harmless,
                detail,
            });
            Ok(())
        }
        ScriptClass::Harmless(blocks) => unknown(
            input,
            kind,
            name.to_owned(),
            format!("a new package's {} blocks would set it up", blocks.join(", ")),
            out,
        ),
        ScriptClass::Unknown(line) => unknown(input, kind, name.to_owned(), format!("unknown content: {line}"), out),
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use oci_core::testing::write_layers;
    use oci_core::{ImageSource, OciLayout};

    use super::*;
    use crate::deb::tests::{run, sha256_file};
    use crate::upgrade::plan::PackageLocation;

    /// Builds `NAME_VERSION.deb` with dpkg-deb from `(path, mode, content)` entries
    /// (`content` `None`: a directory); `extra` adds control fields, and its
    /// `#MEMBER LINE` lines go to `DEBIAN/MEMBER` (`#triggers …`, `#conffiles …`).
    fn build(dir: &Path, name: &str, version: &str, extra: &str, entries: &[(&str, u32, Option<&str>)]) -> PathBuf {
        let tree = dir.join(format!("tree-{name}"));
        std::fs::create_dir_all(tree.join("DEBIAN")).unwrap();
        std::fs::write(
            tree.join("DEBIAN/control"),
            format!(
                "Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: T <t@example.org>\n{extra}\
Description: test\n"
            ),
        )
        .unwrap();
        for (path, mode, content) in entries {
            let p = tree.join(path);
            match content {
                None => std::fs::create_dir_all(&p).unwrap(),
                Some(c) => {
                    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                    std::fs::write(&p, c).unwrap();
                }
            }
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode)).unwrap();
        }
        // `#MEMBER LINE` lines of `extra` go to `DEBIAN/MEMBER`, not to the control file.
        let mut control = std::fs::read_to_string(tree.join("DEBIAN/control")).unwrap();
        for line in extra.lines().filter(|l| l.starts_with('#')) {
            let (member, text) = line[1..].split_once(' ').unwrap();
            let path = tree.join("DEBIAN").join(member);
            let before = std::fs::read_to_string(&path).unwrap_or_default();
            std::fs::write(&path, format!("{before}{text}\n")).unwrap();
            control = control.replace(&format!("{line}\n"), "").replace(line, "");
        }
        std::fs::write(tree.join("DEBIAN/control"), control).unwrap();
        let deb = dir.join(format!("{name}_{version}_all.deb"));
        run(Command::new("dpkg-deb").args(["--root-owner-group", "-Zgzip", "--build"]).arg(&tree).arg(&deb));
        deb
    }

    fn planned(deb: &Path, name: &str, version: &str, installed: Option<&str>) -> PlannedPackage {
        PlannedPackage {
            name: name.into(),
            architecture: "all".into(),
            multi_arch_same: false,
            installed: installed.map(str::to_owned),
            version: version.into(),
            source: name.into(),
            source_version: version.into(),
            reason: UpgradeReason::Requested,
            file: PackageLocation {
                repository: "file:/x".into(),
                suite: "s".into(),
                filename: "f".into(),
                size: std::fs::metadata(deb).unwrap().len(),
                sha256: sha256_file(deb),
                control_checksum: None,
                local: Some(deb.to_path_buf()),
            },
        }
    }

    /// Two packages in one plan: `a` 2 (its `/usr/bin/a` diverted by another package, its
    /// `/usr/bin/moved` handed over to `b`) and `b` 1, new, whose files lie in a directory
    /// `a` 2 creates.
    #[test]
    fn diversions_and_packages_that_see_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let status = "Package: a\nStatus: install ok installed\nMaintainer: T <t@example.org>\nArchitecture: all\n\
Version: 1\nConffiles:\n /etc/a.conf 0cc175b9c0f1b6a831c399e269772661\nDescription: test\n\nPackage: divpkg\nStatus: install ok installed\nMaintainer: T <t@example.org>\n\
Architecture: all\nVersion: 1\nDescription: test\n\n";
        let file = |c: &str| EntryMeta::file(0o755, c.len() as u64);
        let layout = OciLayout::create(dir.path().join("layout")).unwrap();
        write_layers(
            &layout,
            "t",
            &[vec![
                ("etc", EntryMeta::dir(0o755), b""),
                ("etc/a.conf", EntryMeta::file(0o644, 1), b"a"),
                ("usr", EntryMeta::dir(0o755), b""),
                ("usr/bin", EntryMeta::dir(0o755), b""),
                ("usr/bin/a", file("a1\n"), b"a1\n"),
                ("usr/bin/a.distrib", file("a1\n"), b"a1\n"),
                ("usr/bin/moved", file("m\n"), b"m\n"),
                ("var", EntryMeta::dir(0o755), b""),
                ("var/lib", EntryMeta::dir(0o755), b""),
                ("var/lib/dpkg", EntryMeta::dir(0o755), b""),
                ("var/lib/dpkg/info", EntryMeta::dir(0o755), b""),
                ("var/lib/dpkg/status", EntryMeta::file(0o644, status.len() as u64), status.as_bytes()),
                (
                    "var/lib/dpkg/info/a.list",
                    EntryMeta::file(0o644, 65),
                    b"/.\n/etc\n/etc/a.conf\n/usr\n/usr/bin\n/usr/bin/a\n/usr/bin/moved\n/x12\n",
                ),
                ("var/lib/dpkg/info/a.postrm", EntryMeta::file(0o755, 10), b"#!/bin/sh\n"),
                ("var/lib/dpkg/info/divpkg.list", EntryMeta::file(0o644, 3), b"/.\n"),
                ("usr/bin/shared", file("s\n"), b"s\n"),
                ("var/lib/dpkg/info/c.list", EntryMeta::file(0o644, 33), b"/.\n/usr\n/usr/bin\n/usr/bin/shared\n"),
                ("var/lib/dpkg/diversions", EntryMeta::file(0o644, 37), b"/usr/bin/a\n/usr/bin/a.distrib\ndivpkg\n"),
            ]],
        )
        .unwrap();
        let source = ImageSource::open(&format!("oci:{}:t", layout.root().display()).parse().unwrap()).unwrap();
        let fs = MergedFs::build_capturing(&source.image(None).unwrap(), apply_capture).unwrap();

        let a = build(dir.path(), "a", "2", "", &[("usr/bin/a", 0o755, Some("a2\n")), ("usr/lib/a", 0o750, None)]);
        let b = build(
            dir.path(),
            "b",
            "1",
            "Replaces: a (<< 2), c\n",
            &[
                ("usr/bin/moved", 0o755, Some("m2\n")),
                ("usr/bin/shared", 0o755, Some("s2\n")),
                ("usr/lib/a/plugin", 0o644, Some("p\n")),
            ],
        );
        let plan = UpgradePlan {
            packages: vec![planned(&a, "a", "2", Some("1")), planned(&b, "b", "1", None)],
            ..UpgradePlan::default()
        };
        let mut applied = apply_upgrades(&fs, &plan, ScriptPolicy::Refuse).unwrap();
        let mut summary = Vec::new();
        for c in &applied.changes {
            summary.push(match &c.action {
                FileAction::Remove => format!("rm {}", c.path),
                FileAction::Write { meta, content } => {
                    let text = content.as_ref().map(|s| {
                        let mut t = String::new();
                        std::io::Read::read_to_string(&mut applied.spool.reader(s).unwrap(), &mut t).unwrap();
                        t
                    });
                    format!(
                        "{} {:o} {}{}",
                        meta.kind.letter(),
                        meta.mode,
                        c.path,
                        match &text {
                            Some(t) if !c.path.starts_with("var/lib/dpkg/") => format!(" {t:?}"),
                            _ => String::new(),
                        }
                    )
                }
            });
        }
        assert_eq!(
            summary,
            [
                // The diverted file goes where dpkg puts it; /usr/bin/a stays divpkg's.
                "- 755 usr/bin/a.distrib \"a2\\n\"",
                // Handed over to b: written by b, not removed.
                "- 755 usr/bin/moved \"m2\\n\"",
                // Taken over from c, which stays installed: its list loses the file.
                "- 755 usr/bin/shared \"s2\\n\"",
                // Created once, by a, with a's mode; b's file lands inside it.
                "d 755 usr/lib",
                "d 750 usr/lib/a",
                "- 644 usr/lib/a/plugin \"p\\n\"",
                "- 644 var/lib/dpkg/info/a.list",
                // a ships no md5sums: computed, as dpkg does.
                "- 644 var/lib/dpkg/info/a.md5sums",
                "rm var/lib/dpkg/info/a.postrm",
                "- 644 var/lib/dpkg/info/b.list",
                "- 644 var/lib/dpkg/info/b.md5sums",
                "- 644 var/lib/dpkg/info/c.list",
                "- 644 var/lib/dpkg/status",
            ]
            .map(str::to_owned)
        );
        // The .list names the package's own path, not the diverted one.
        let list = applied.changes.iter().find(|c| c.path == "var/lib/dpkg/info/a.list").unwrap();
        let FileAction::Write { content: Some(s), .. } = &list.action else { panic!() };
        let mut text = String::new();
        std::io::Read::read_to_string(&mut applied.spool.reader(s).unwrap(), &mut text).unwrap();
        // The conffile a 2 dropped stays, listed last and marked obsolete in the status, as
        // dpkg 1.21 leaves it.
        assert_eq!(text, "/.\n/usr\n/usr/bin\n/usr/bin/a\n/usr/lib\n/usr/lib/a\n/etc/a.conf\n");
        let status = applied.changes.iter().find(|c| c.path == "var/lib/dpkg/status").unwrap();
        let FileAction::Write { content: Some(s), .. } = &status.action else { panic!() };
        let mut text = String::new();
        std::io::Read::read_to_string(&mut applied.spool.reader(s).unwrap(), &mut text).unwrap();
        assert!(
            text.contains("Version: 2\nConffiles:\n /etc/a.conf 0cc175b9c0f1b6a831c399e269772661 obsolete\n"),
            "{text}"
        );
        let sums = applied.changes.iter().find(|c| c.path == "var/lib/dpkg/info/a.md5sums").unwrap();
        let FileAction::Write { content: Some(s), .. } = &sums.action else { panic!() };
        let mut text = String::new();
        std::io::Read::read_to_string(&mut applied.spool.reader(s).unwrap(), &mut text).unwrap();
        assert_eq!(text, format!("{}  usr/bin/a\n", crate::upgrade::md5_hex(b"a2\n")));
        let c = applied.changes.iter().find(|c| c.path == "var/lib/dpkg/info/c.list").unwrap();
        let FileAction::Write { content: Some(s), .. } = &c.action else { panic!() };
        let mut text = String::new();
        std::io::Read::read_to_string(&mut applied.spool.reader(s).unwrap(), &mut text).unwrap();
        assert_eq!(text, "/.\n/usr\n/usr/bin\n");
        assert_eq!(applied.packages[0].scripts[0].kind, "postrm");
        assert_eq!(applied.packages[0].scripts[0].disposition, ScriptDisposition::Harmless);
        assert_eq!(applied.packages[1].old_version, None);
    }

    /// A new shared library with the `ldconfig` trigger: handled when the image has no
    /// linker cache; with one, refused under `Refuse` and listed as not run under `Warn`.
    #[test]
    fn ldconfig_trigger_with_a_changed_library_set() {
        let dir = tempfile::tempdir().unwrap();
        let deb = build(
            dir.path(),
            "libnew1",
            "1",
            "#triggers # Triggers added by dh_makeshlibs/13.11.4\n#triggers activate-noawait ldconfig",
            &[("usr/lib/libnew.so.1", 0o644, Some("\x7fELF\n"))],
        );
        let plan = UpgradePlan { packages: vec![planned(&deb, "libnew1", "1", None)], ..UpgradePlan::default() };
        for with_cache in [false, true] {
            let layout = OciLayout::create(dir.path().join(format!("layout-{with_cache}"))).unwrap();
            let mut entries: Vec<(&str, EntryMeta, &[u8])> = vec![
                ("etc", EntryMeta::dir(0o755), b""),
                ("usr", EntryMeta::dir(0o755), b""),
                ("usr/lib", EntryMeta::dir(0o755), b""),
                ("var", EntryMeta::dir(0o755), b""),
                ("var/lib", EntryMeta::dir(0o755), b""),
                ("var/lib/dpkg", EntryMeta::dir(0o755), b""),
                ("var/lib/dpkg/info", EntryMeta::dir(0o755), b""),
                ("var/lib/dpkg/status", EntryMeta::file(0o644, 0), b""),
            ];
            if with_cache {
                entries.push(("etc/ld.so.cache", EntryMeta::file(0o644, 4), b"ld.c"));
            }
            write_layers(&layout, "t", &[entries]).unwrap();
            let source = ImageSource::open(&format!("oci:{}:t", layout.root().display()).parse().unwrap()).unwrap();
            let fs = MergedFs::build_capturing(&source.image(None).unwrap(), apply_capture).unwrap();
            let warned = apply_upgrades(&fs, &plan, ScriptPolicy::Warn).unwrap();
            // The comment debhelper writes is no trigger.
            assert_eq!(warned.packages[0].scripts.len(), 1, "{:?}", warned.packages[0].scripts);
            let trigger = &warned.packages[0].scripts[0];
            assert_eq!(trigger.name, "activate-noawait ldconfig");
            if with_cache {
                assert_eq!(trigger.disposition, ScriptDisposition::NotRun, "{trigger:?}");
                let err = apply_upgrades(&fs, &plan, ScriptPolicy::Refuse).unwrap_err().to_string();
                assert!(err.contains("libnew1") && err.contains("ldconfig") && err.contains("libnew.so.1"), "{err}");
            } else {
                assert_eq!(trigger.disposition, ScriptDisposition::Handled, "{trigger:?}");
                apply_upgrades(&fs, &plan, ScriptPolicy::Refuse).unwrap();
            }
        }
    }

    /// Distroless: the package's `status.d` file keeps its name (here base64, as some
    /// distroless images name them), found by its `Package:` field; the dropped file goes.
    #[test]
    fn distroless_keeps_the_status_d_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let stanza = "Package: a\nVersion: 1\nArchitecture: all\nMaintainer: T <t@example.org>\nDescription: test\n";
        let sums = "d41d8cd98f00b204e9800998ecf8427e  usr/bin/old\n";
        let layout = OciLayout::create(dir.path().join("layout")).unwrap();
        write_layers(
            &layout,
            "t",
            &[vec![
                ("usr", EntryMeta::dir(0o755), b""),
                ("usr/bin", EntryMeta::dir(0o755), b""),
                ("usr/bin/old", EntryMeta::file(0o755, 0), b""),
                ("var", EntryMeta::dir(0o755), b""),
                ("var/lib", EntryMeta::dir(0o755), b""),
                ("var/lib/dpkg", EntryMeta::dir(0o755), b""),
                ("var/lib/dpkg/status.d", EntryMeta::dir(0o755), b""),
                ("var/lib/dpkg/status.d/YQ==", EntryMeta::file(0o644, stanza.len() as u64), stanza.as_bytes()),
                ("var/lib/dpkg/status.d/YQ==.md5sums", EntryMeta::file(0o644, sums.len() as u64), sums.as_bytes()),
            ]],
        )
        .unwrap();
        let source = ImageSource::open(&format!("oci:{}:t", layout.root().display()).parse().unwrap()).unwrap();
        let fs = MergedFs::build_capturing(&source.image(None).unwrap(), apply_capture).unwrap();
        let a = build(dir.path(), "a", "2", "Homepage: https://example.org/\n", &[("usr/bin/a", 0o755, Some("a2\n"))]);
        let plan = UpgradePlan { packages: vec![planned(&a, "a", "2", Some("1"))], ..UpgradePlan::default() };
        let mut applied = apply_upgrades(&fs, &plan, ScriptPolicy::Refuse).unwrap();
        let paths: Vec<String> = applied
            .changes
            .iter()
            .map(|c| format!("{}{}", if c.action == FileAction::Remove { "rm " } else { "" }, c.path))
            .collect();
        assert_eq!(
            paths,
            ["usr/bin/a", "rm usr/bin/old", "var/lib/dpkg/status.d/YQ==", "var/lib/dpkg/status.d/YQ==.md5sums"]
        );
        let mut read = |path: &str| {
            let c = applied.changes.iter().find(|c| c.path == path).unwrap();
            let FileAction::Write { content: Some(s), .. } = &c.action else { panic!() };
            let mut text = String::new();
            std::io::Read::read_to_string(&mut applied.spool.reader(s).unwrap(), &mut text).unwrap();
            text
        };
        // The control file as `dpkg-deb --field` prints it.
        let fields = String::from_utf8(run(Command::new("dpkg-deb").arg("--field").arg(&a))).unwrap();
        assert_eq!(read("var/lib/dpkg/status.d/YQ=="), fields);
        assert_eq!(
            read("var/lib/dpkg/status.d/YQ==.md5sums"),
            format!("{}  usr/bin/a\n", crate::upgrade::md5_hex(b"a2\n"))
        );
    }

    /// `remove-on-upgrade` conffiles as dpkg 1.21 handles them: the unchanged one removed,
    /// the edited one moved to `.dpkg-old`, both recorded with their old hash and the flag;
    /// and a stat override applied to a new file.
    #[test]
    fn remove_on_upgrade_conffiles_and_statoverride() {
        let dir = tempfile::tempdir().unwrap();
        let (r_hash, m_hash) = (crate::upgrade::md5_hex(b"r\n"), crate::upgrade::md5_hex(b"m\n"));
        let status = format!(
            "Package: a\nStatus: install ok installed\nMaintainer: T <t@example.org>\nArchitecture: all\n\
Version: 1\nConffiles:\n /etc/r.conf {r_hash}\n /etc/m.conf {m_hash}\nDescription: test\n\n"
        );
        let list = "/.\n/etc\n/etc/r.conf\n/etc/m.conf\n";
        let layout = OciLayout::create(dir.path().join("layout")).unwrap();
        write_layers(
            &layout,
            "t",
            &[vec![
                ("etc", EntryMeta::dir(0o755), b""),
                ("etc/r.conf", EntryMeta::file(0o644, 2), b"r\n"),
                ("etc/m.conf", EntryMeta::file(0o600, 7), b"edited\n"),
                ("etc/passwd", EntryMeta::file(0o644, 21), b"nobody:x:65534:65534:"),
                ("etc/group", EntryMeta::file(0o644, 12), b"staff:x:50:\n"),
                ("var/lib/dpkg/statoverride", EntryMeta::file(0o644, 24), b"nobody staff 4750 /usr/x"),
                ("usr", EntryMeta::dir(0o755), b""),
                ("var", EntryMeta::dir(0o755), b""),
                ("var/lib", EntryMeta::dir(0o755), b""),
                ("var/lib/dpkg", EntryMeta::dir(0o755), b""),
                ("var/lib/dpkg/info", EntryMeta::dir(0o755), b""),
                ("var/lib/dpkg/status", EntryMeta::file(0o644, status.len() as u64), status.as_bytes()),
                ("var/lib/dpkg/info/a.list", EntryMeta::file(0o644, list.len() as u64), list.as_bytes()),
            ]],
        )
        .unwrap();
        let source = ImageSource::open(&format!("oci:{}:t", layout.root().display()).parse().unwrap()).unwrap();
        let fs = MergedFs::build_capturing(&source.image(None).unwrap(), apply_capture).unwrap();
        let a = build(
            dir.path(),
            "a",
            "2",
            "#conffiles remove-on-upgrade /etc/r.conf\n#conffiles remove-on-upgrade /etc/m.conf\n",
            &[("usr/x", 0o644, Some("x\n"))],
        );
        let plan = UpgradePlan { packages: vec![planned(&a, "a", "2", Some("1"))], ..UpgradePlan::default() };
        let mut applied = apply_upgrades(&fs, &plan, ScriptPolicy::Refuse).unwrap();
        let paths: Vec<String> = applied
            .changes
            .iter()
            .filter(|c| !c.path.starts_with("var/"))
            .map(|c| format!("{}{}", if c.action == FileAction::Remove { "rm " } else { "" }, c.path))
            .collect();
        assert_eq!(paths, ["rm etc/m.conf", "etc/m.conf.dpkg-old", "rm etc/r.conf", "usr/x"]);
        // The administrator's stat override applies to the unpacked file.
        let x = applied.changes.iter().find(|c| c.path == "usr/x").unwrap();
        let FileAction::Write { meta, .. } = &x.action else { panic!() };
        assert_eq!((meta.uid, meta.gid, meta.mode), (65534, 50, 0o4750));
        let outcomes: Vec<(&str, ConffileAction)> =
            applied.packages[0].conffiles.iter().map(|c| (c.path.as_str(), c.action)).collect();
        assert_eq!(
            outcomes,
            [("/etc/r.conf", ConffileAction::Removed), ("/etc/m.conf", ConffileAction::SavedAsDpkgOld)]
        );
        let status = applied.changes.iter().find(|c| c.path == "var/lib/dpkg/status").unwrap();
        let FileAction::Write { content: Some(s), .. } = &status.action else { panic!() };
        let mut text = String::new();
        std::io::Read::read_to_string(&mut applied.spool.reader(s).unwrap(), &mut text).unwrap();
        assert!(
            text.contains(&format!(
                "Conffiles:\n /etc/r.conf {r_hash} remove-on-upgrade\n /etc/m.conf {m_hash} remove-on-upgrade\n"
            )),
            "{text}"
        );
        let old = applied.changes.iter().find(|c| c.path == "etc/m.conf.dpkg-old").unwrap();
        let FileAction::Write { meta, content: Some(s) } = &old.action else { panic!() };
        assert_eq!(meta.mode, 0o600);
        let mut text = String::new();
        std::io::Read::read_to_string(&mut applied.spool.reader(s).unwrap(), &mut text).unwrap();
        assert_eq!(text, "edited\n");
    }
}
