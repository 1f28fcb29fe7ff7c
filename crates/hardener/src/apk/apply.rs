//! Applying an apk [`UpgradePlan`] as file changes: each package's data entries placed as
//! apk-tools 2.14 places them and its database (`lib/apk/db/installed`, `scripts.tar`,
//! `triggers`) rewritten as apk-tools leaves it, with scripts and triggers classified, never
//! run ([`classify_apk_script`]). Nothing is written to the image: the result is the same
//! [`AppliedUpgrades`] as Debian's, for one layer.
//!
//! What apk-tools does that is reproduced here (`database.c` of apk-tools 2.14):
//! - protected paths: apk's defaults (`+etc`, `@etc/init.d`, `!etc/apk`) and the image's
//!   `etc/apk/protected_paths.d/*.list` (see [`Protection`]); a file in a protected
//!   directory that exists and is owned by no package, or whose content differs from its
//!   owner's `Z:` checksum (changed by the user), is kept and the new version written as
//!   `PATH.apk-new` — nothing when the new version equals it (`apk_db_migrate_files`);
//! - files the old version had and the new one lacks are removed, unless another installed
//!   package owns them or they lie under a protected path and were changed by the user
//!   (`apk_db_purge_pkg`); directories are kept;
//! - the `installed` record: the index fields apk-tools' `apk index` derives from `.PKGINFO`
//!   (`pkgname` P, `pkgver` V, `arch` A, `size` I, `pkgdesc` T, `url` U, `license` L, `origin`
//!   o, `maintainer` m, `builddate` t, `commit` c, `provider_priority` k, `depend` D,
//!   `provides` p, `install_if` i), `S:` the file's size and `C:` its verified identity, then
//!   `replaces` r and `replaces_priority` q, then the data entries;
//! - `scripts.tar`: every installed package's scripts in the database's package order (the
//!   upgraded ones last, in plan order), each type in apk's order, named
//!   `NAME-VERSION.Q1….TYPE`, mode 0755, root, mtime the build time, ustar headers with the
//!   old GNU magic and two zero blocks at the end (`apk_db_scriptdb_write`);
//! - `triggers`: `Q1… GLOB…` lines, the upgraded packages' lines dropped and the new versions'
//!   appended (`apk_db_triggers_write`).
//!
//! The package file is checked before use: size and SHA256 against the plan (the fetcher's
//! verified download), then [`VerifiedApk::open`] with the keys of the image's
//! `/etc/apk/keys` (the signature must verify with a key apk-tools in the image trusts: a
//! package signed by a key only the user supplied is refused here, as apk-tools in the image
//! would not verify it either) and the plan's `control_checksum` (the index's `C:`), and
//! `.PKGINFO`'s name and version against the plan.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use oci_core::{EntryKind, EntryMeta, MergedFs};
use sha1::Digest as _;

use super::{ApkChecksum, ApkIndex, ApkKeys, InstalledRecord, PkgInfo, VerifiedApk, rewrite_installed};
use crate::upgrade::{
    AppliedUpgrades, ConffileAction, ConffileOutcome, FileAction, FileChange, FileCounts, FilesSummary, PlannedPackage,
    ScriptClass, ScriptDisposition, ScriptOutcome, ScriptPolicy, Spool, UpgradePlan, UpgradedPackage, classify_script,
};
use crate::{Error, Result};

const INSTALLED: &str = "lib/apk/db/installed";
const SCRIPTS: &str = "lib/apk/db/scripts.tar";
const TRIGGERS: &str = "lib/apk/db/triggers";
const KEYS: &str = "etc/apk/keys";
const PROTECTED_D: &str = "etc/apk/protected_paths.d";

/// apk's script types, in the order apk-tools stores them (`apk_script_types`).
const SCRIPT_ORDER: [&str; 7] =
    ["pre-install", "post-install", "pre-deinstall", "post-deinstall", "pre-upgrade", "post-upgrade", "trigger"];

/// What is known about an apk script or trigger, from a small table (see
/// [`classify_apk_script`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApkScriptClass {
    /// Empty, comments, `#!`, `set -e`, `exit 0` only: nothing to do.
    Harmless,
    /// busybox's applet links (`busybox --install -s`): only creates links that are missing.
    BusyboxInstall,
    /// ca-certificates' `update-ca-certificates`: regenerates `/etc/ssl/certs/ca-certificates.crt`.
    CaCertificates,
    /// Anything else: the first line not understood.
    Unknown(String),
}

/// Classifies an apk script of package `package`:
///
/// | script | class |
/// |---|---|
/// | only `#!`, comments, blank lines, `set -e`, `exit 0` | [`ApkScriptClass::Harmless`] |
/// | busybox's `.trigger` and `.post-upgrade` (contain `/bin/busybox --install -s`) | [`ApkScriptClass::BusyboxInstall`] |
/// | ca-certificates' `.trigger`/`.post-*` (run `update-ca-certificates`) | [`ApkScriptClass::CaCertificates`] |
/// | anything else | [`ApkScriptClass::Unknown`] |
pub fn classify_apk_script(package: &str, text: &str) -> ApkScriptClass {
    if let ScriptClass::Harmless(blocks) = classify_script(text)
        && blocks.is_empty()
    {
        return ApkScriptClass::Harmless;
    }
    if package == "busybox" && text.contains("/bin/busybox --install -s") {
        return ApkScriptClass::BusyboxInstall;
    }
    if package == "ca-certificates" && text.contains("update-ca-certificates") {
        return ApkScriptClass::CaCertificates;
    }
    match classify_script(text) {
        ScriptClass::Unknown(line) => ApkScriptClass::Unknown(line),
        ScriptClass::Harmless(_) => ApkScriptClass::Unknown("a debhelper block".into()),
    }
}

/// One installed package as the database says.
struct Owner {
    name: String,
    identity: String,
    record: InstalledRecord,
}

/// Applies an apk plan (see the module documentation); called by
/// [`crate::apply_upgrades`] for [`crate::PackageFormat::Apk`] plans.
pub(crate) fn apply_apk_upgrades(fs: &MergedFs, plan: &UpgradePlan, policy: ScriptPolicy) -> Result<AppliedUpgrades> {
    let text = |path: &str| -> Result<String> {
        if fs.resolve(path).is_none() {
            return Ok(String::new());
        }
        String::from_utf8(fs.read(path)?).map_err(|_| db_error(&format!("/{path}"), "not UTF-8 text"))
    };
    let protection = Protection::of(fs)?;
    let protected = |path: &str| protection.protects(path);
    let mut installed = text(INSTALLED)?;
    if installed.is_empty() {
        return Err(db_error(&format!("/{INSTALLED}"), "the image has no apk database"));
    }
    let mut owners: Vec<Owner> = Vec::new();
    for block in installed.split_inclusive("\n\n") {
        let record = InstalledRecord::parse(block, &format!("/{INSTALLED}"))?;
        owners.push(Owner { name: record.package.name.clone(), identity: record.package.checksum.to_string(), record });
    }
    let triggers_text = text(TRIGGERS)?;
    let mut trigger_lines: Vec<String> = triggers_text.lines().map(str::to_owned).collect();
    // Scripts: (identity, NAME-VERSION, type, mtime, bytes) in the order apk-tools keeps them.
    let mut scripts = read_scripts(fs, &owners)?;
    let keys = image_keys(fs)?;

    let mut spool = Spool::new().map_err(|e| Error::io("creating the package spool", e))?;
    let mut changes: BTreeMap<String, FileChange> = BTreeMap::new();
    let mut earlier: BTreeMap<String, EntryKind> = BTreeMap::new();
    let mut reports = Vec::new();
    for p in &plan.packages {
        let apk = open_package(p, &keys)?;
        let old = owners.iter().position(|o| o.name == p.name);
        match (&p.installed, old.map(|i| owners[i].record.package.version.to_string())) {
            (Some(v), Some(have)) if *v != have => {
                return Err(db_error(&p.name, format!("the plan upgrades {v}, the image has {have}")));
            }
            (Some(v), None) => return Err(db_error(&p.name, format!("the plan upgrades {v}, the image has none"))),
            (None, Some(have)) => {
                return Err(db_error(&p.name, format!("the plan installs it new, the image has {have}")));
            }
            _ => {}
        }
        let mut record = InstalledRecord::new(index_entry(&apk, p)?);
        let info = apk.pkginfo();
        record.replaces = info
            .get_all("replaces")
            .flat_map(|v| v.split_whitespace())
            .map(|d| super::ApkDependency::parse(d).map_err(|w| db_error(apk.name(), format!("replaces: {w}"))))
            .collect::<Result<_>>()?;
        record.replaces_priority = info.get("replaces_priority").and_then(|v| v.trim().parse().ok()).unwrap_or(0);

        // Who owns what, before this package: path → (package, checksum).
        let mut owned: BTreeMap<String, (usize, Option<ApkChecksum>)> = BTreeMap::new();
        for (i, o) in owners.iter().enumerate() {
            for d in &o.record.dirs {
                for f in &d.files {
                    owned.insert(join(&d.name, &f.name), (i, f.checksum));
                }
            }
        }

        let mut files = PackageChanges::default();
        let mut created: BTreeMap<String, EntryKind> = BTreeMap::new();
        let mut real_of: BTreeMap<String, String> = BTreeMap::new();
        let mut new_paths: BTreeSet<String> = BTreeSet::new();
        // Files taken over from other installed packages: (owner, path).
        let mut taken: Vec<(usize, String)> = Vec::new();
        let mut failure: Option<Error> = None;
        let what = apk.name().to_owned();
        // apk-tools does not unpack a package whose installed size is 0 (a meta package): no
        // files, no scripts, no triggers.
        let unpack = record.package.installed_size != 0;
        let read = apk.data(|entry| {
            if !unpack {
                return Ok(());
            }
            let step = (|| -> Result<()> {
                let path = entry.path.clone();
                if path.is_empty() {
                    return Err(place_error(
                        &what,
                        "",
                        "an entry with an empty name (apk-tools ends the archive there)",
                    ));
                }
                if entry.meta.kind != EntryKind::Dir
                    && let Some((j, _)) = owned.get(&path)
                    && Some(*j) != old
                {
                    match take_over(&owners[*j], &record) {
                        Ownership::Take => taken.push((*j, path.clone())),
                        // The other package replaces this one: the file stays its.
                        Ownership::Skip => return Ok(()),
                        Ownership::Conflict => {
                            let o = &owners[*j].record.package;
                            return Err(place_error(
                                &what,
                                &path,
                                &format!(
                                    "the file belongs to {}-{}, which this package does not replace (apk-tools \
                                     refuses to overwrite it)",
                                    o.name, o.version
                                ),
                            ));
                        }
                    }
                }
                record.add_entry(&path, &entry.meta, entry.checksum)?;
                let real = crate::upgrade::real_path(fs, &created, &earlier, &path)
                    .map_err(|why| place_error(&what, &path, &why))?;
                new_paths.insert(path.clone());
                real_of.insert(path.clone(), real.clone());
                let mut meta = entry.meta.clone();
                match meta.kind {
                    EntryKind::Dir => {
                        match fs.resolve(&real).map(|(_, n)| n.meta.kind) {
                            Some(EntryKind::Dir) => {}
                            Some(other) => {
                                return Err(place_error(
                                    &what,
                                    &path,
                                    &format!("the image has a {other:?} where the package has a directory"),
                                ));
                            }
                            None if created.contains_key(&real) || earlier.contains_key(&real) => {}
                            None => {
                                created.insert(real.clone(), EntryKind::Dir);
                                files.push(real, meta, None);
                            }
                        }
                        return Ok(());
                    }
                    EntryKind::Hardlink => {
                        let target = meta.link.clone().unwrap_or_default();
                        meta.link = Some(real_of.get(&target).cloned().unwrap_or(target));
                    }
                    _ => {}
                }
                let content = if meta.kind == EntryKind::File {
                    Some(
                        spool
                            .append(entry.data(), meta.size)
                            .map_err(|e| Error::io(format!("{what}: spooling {path}"), e))?,
                    )
                } else {
                    None
                };
                created.insert(real.clone(), meta.kind);
                if protected(&path) && meta.kind != EntryKind::Hardlink {
                    let current = current_checksum(fs, &earlier, &real)?;
                    let owner_sum = owned.get(&path).and_then(|(_, c)| *c);
                    let user_changed = match (&current, owned.get(&path)) {
                        (None, _) => false,
                        (Some(_), None) => true,
                        (Some(cur), Some(_)) => owner_sum.as_ref() != Some(cur),
                    };
                    let action = if !user_changed {
                        files.push(real.clone(), meta, content);
                        if current.is_some() && current == entry.checksum {
                            ConffileAction::Unchanged
                        } else {
                            ConffileAction::Replaced
                        }
                    } else if current.is_some() && current == entry.checksum {
                        ConffileAction::Unchanged
                    } else {
                        files.push(format!("{real}.apk-new"), meta, content);
                        ConffileAction::KeptApkNewWritten
                    };
                    files.conffiles.push(ConffileOutcome { path: format!("/{path}"), action });
                } else {
                    files.push(real, meta, content);
                }
                Ok(())
            })();
            step.map_err(|e| {
                let stop = super::ApkError::archive(&what, Some(&entry.path), e.to_string());
                failure = Some(e);
                stop
            })
        });
        if let Some(e) = failure {
            return Err(e);
        }
        read?;

        // Files taken over leave their other owner's record, as apk-tools moves them.
        let mut touched: BTreeSet<usize> = BTreeSet::new();
        for (j, path) in &taken {
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
            for d in owners[*j].record.dirs.iter_mut().filter(|d| d.name == dir) {
                d.files.retain(|f| f.name != name);
            }
            touched.insert(*j);
        }
        for j in touched {
            let o = &owners[j];
            installed = rewrite_installed(&installed, &format!("/{INSTALLED}"), &o.name, Some(&o.record))?;
        }

        // The old version's files the new one lacks.
        let mut removed_dirs: BTreeSet<String> = BTreeSet::new();
        if let Some(i) = old {
            for d in &owners[i].record.dirs {
                for f in &d.files {
                    let path = join(&d.name, &f.name);
                    if new_paths.contains(&path) {
                        continue;
                    }
                    let elsewhere = owners.iter().enumerate().any(|(j, o)| {
                        j != i
                            && o.record
                                .dirs
                                .iter()
                                .any(|od| od.name == d.name && od.files.iter().any(|of| of.name == f.name))
                    });
                    if elsewhere {
                        continue;
                    }
                    let Ok(real) = crate::upgrade::real_path(fs, &created, &earlier, &path) else { continue };
                    if earlier.contains_key(&real) || fs.get(&real).is_none_or(|n| n.meta.kind == EntryKind::Dir) {
                        continue;
                    }
                    if protected(&path) && current_checksum(fs, &earlier, &real)? != f.checksum {
                        // apk keeps a protected file the user changed.
                        continue;
                    }
                    removed_dirs.insert(format!("/{}", d.name));
                    files.changes.push(FileChange { path: real, action: FileAction::Remove });
                }
            }
        }

        // The old version's directories no installed package has any more, once empty, as
        // apk-tools removes them (`apk_db_dir_unref`); a directory's whiteout replaces those of
        // its files.
        if let Some(i) = old {
            let mut kept: BTreeSet<&str> = BTreeSet::new();
            for (_, o) in owners.iter().enumerate().filter(|(j, _)| *j != i) {
                for d in &o.record.dirs {
                    kept.insert(d.name.as_str());
                }
            }
            for d in &record.dirs {
                kept.insert(d.name.as_str());
            }
            let ancestors: Vec<&str> =
                kept.iter().flat_map(|k| k.match_indices('/').map(move |(at, _)| &k[..at])).collect();
            kept.extend(ancestors);
            let mut gone: Vec<&str> = owners[i]
                .record
                .dirs
                .iter()
                .map(|d| d.name.as_str())
                .filter(|d| !d.is_empty() && !kept.contains(d))
                .collect();
            gone.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
            let mut removed: BTreeSet<String> =
                files.changes.iter().filter(|c| c.action == FileAction::Remove).map(|c| c.path.clone()).collect();
            let mut removed_here: Vec<String> = Vec::new();
            for dir in gone {
                if fs.get(dir).is_none_or(|n| n.meta.kind != EntryKind::Dir) || earlier.contains_key(dir) {
                    continue;
                }
                let empty = fs
                    .walk(dir)
                    .skip(1)
                    .all(|(p, _)| removed.contains(p) || removed.iter().any(|r| p.starts_with(&format!("{r}/"))));
                if empty {
                    removed.insert(dir.to_owned());
                    removed_here.push(dir.to_owned());
                }
            }
            for dir in &removed_here {
                files.changes.retain(|c| !(c.action == FileAction::Remove && c.path.starts_with(&format!("{dir}/"))));
            }
            for dir in removed_here {
                files
                    .collapsed
                    .extend(removed.iter().filter(|r| r.starts_with(&format!("{dir}/"))).cloned().collect::<Vec<_>>());
                files.changes.push(FileChange { path: dir, action: FileAction::Remove });
            }
        }

        // Scripts and triggers.
        let mut modified: BTreeSet<String> = record.dirs.iter().map(|d| format!("/{}", d.name)).collect();
        if let Some(i) = old {
            modified.extend(owners[i].record.dirs.iter().map(|d| format!("/{}", d.name)));
        }
        let all_dirs: BTreeSet<String> = owners
            .iter()
            .flat_map(|o| o.record.dirs.iter().map(|d| format!("/{}", d.name)))
            .chain(record.dirs.iter().map(|d| format!("/{}", d.name)))
            .collect();
        let identity = apk.identity().to_string();
        let own_triggers: Vec<String> = info.triggers().iter().filter(|_| unpack).map(|t| (*t).to_owned()).collect();
        let outcomes = classify_package(ClassifyInput {
            package: p,
            apk: &apk,
            fs,
            owners: &owners,
            old,
            scripts: &scripts,
            trigger_lines: &trigger_lines,
            own_triggers: &own_triggers,
            modified: &modified,
            all_dirs: &all_dirs,
            removed_dirs: &removed_dirs,
            unpack,
            policy,
        })?;

        // The database.
        let name_version = format!("{}-{}", p.name, p.version);
        if let Some(i) = old {
            let old_identity = owners[i].identity.clone();
            scripts.retain(|s| s.identity != old_identity);
            trigger_lines.retain(|l| l.split(' ').next() != Some(old_identity.as_str()));
        }
        let mtime = record.package.build_time;
        for kind in SCRIPT_ORDER.iter().copied().filter(|_| unpack) {
            if let Some(s) = apk.scripts().iter().find(|s| s.name == kind) {
                scripts.push(StoredScript {
                    identity: identity.clone(),
                    name_version: name_version.clone(),
                    kind: kind.to_owned(),
                    mtime,
                    data: s.data.clone(),
                });
            }
        }
        if unpack && !own_triggers.is_empty() {
            trigger_lines.push(format!("{identity} {}", own_triggers.join(" ")));
        }
        installed = rewrite_installed(&installed, &format!("/{INSTALLED}"), &p.name, Some(&record))?;
        let owner = Owner { name: p.name.clone(), identity, record };
        match old {
            Some(i) => owners[i] = owner,
            None => owners.push(owner),
        }

        // The report.
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
        summary.removed.extend(files.collapsed);
        summary.removed.sort();
        summary.counts =
            FileCounts { added: summary.added.len(), replaced: summary.replaced.len(), removed: summary.removed.len() };
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
            sha256: p.file.sha256.clone(),
            files: summary,
            conffiles: files.conffiles,
            scripts: outcomes,
        });
    }

    // The database files, each once.
    let mut trig = String::new();
    for l in &trigger_lines {
        trig.push_str(l);
        trig.push('\n');
    }
    let db_files =
        [(INSTALLED, installed.into_bytes()), (SCRIPTS, scripts_tar(&scripts)), (TRIGGERS, trig.into_bytes())];
    for (path, bytes) in db_files {
        let mut meta = fs.get(path).map_or_else(|| EntryMeta::file(0o644, 0), |n| n.meta.clone());
        let content =
            spool.append(&mut &bytes[..], bytes.len() as u64).map_err(|e| Error::io(format!("spooling /{path}"), e))?;
        meta.kind = EntryKind::File;
        meta.link = None;
        meta.size = bytes.len() as u64;
        changes.insert(
            path.to_owned(),
            FileChange { path: path.to_owned(), action: FileAction::Write { meta, content: Some(content) } },
        );
    }
    Ok(AppliedUpgrades { changes: changes.into_values().collect(), spool, packages: reports })
}

/// The changes of one package, in the order decided.
#[derive(Default)]
struct PackageChanges {
    changes: Vec<FileChange>,
    conffiles: Vec<ConffileOutcome>,
    /// Files removed with their directory (reported, no whiteout of their own).
    collapsed: BTreeSet<String>,
}

/// What apk-tools does with a file another installed package owns
/// (`apk_db_install_archive_entry`).
enum Ownership {
    /// Overwrite it and take it from the other package (same origin, or this package
    /// replaces the other one with at least its priority).
    Take,
    /// Leave it to the other package, which replaces this one with a higher priority.
    Skip,
    /// Refuse: apk-tools marks the package broken.
    Conflict,
}

/// `replaces` entries are matched by name only when unconstrained (a constrained one counts
/// as no match: the conservative answer, refusal).
fn take_over(other: &Owner, new: &InstalledRecord) -> Ownership {
    let (o, n) = (&other.record.package, &new.package);
    if o.origin.is_some() && o.origin == n.origin {
        return Ownership::Take;
    }
    let names = |deps: &[super::ApkDependency], name: &str| {
        deps.iter().any(|d| d.name == name && d.constraint.is_none() && !d.conflict)
    };
    let prio = |deps: &[super::ApkDependency], name: &str, priority: u64| {
        if names(deps, name) { i64::try_from(priority).unwrap_or(i64::MAX) } else { -1 }
    };
    let other_prio = prio(&other.record.replaces, &n.name, other.record.replaces_priority);
    let new_prio = prio(&new.replaces, &o.name, new.replaces_priority);
    if other_prio > new_prio {
        Ownership::Skip
    } else if new_prio >= 0 {
        Ownership::Take
    } else {
        Ownership::Conflict
    }
}

impl PackageChanges {
    fn push(&mut self, path: String, meta: EntryMeta, content: Option<crate::upgrade::Spooled>) {
        self.changes.push(FileChange { path, action: FileAction::Write { meta, content } });
    }
}

/// How apk treats the files of a directory on upgrade (`APK_PROTECT_*`): `-` ignore, `+`
/// protect changed files, `@` symlinks only, `!` all; for upgrades all but "none" and
/// "ignore" protect a changed file (`apk_protect_mode_none`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProtectMode {
    None,
    Ignore,
    Changed,
    SymlinksOnly,
    All,
}

/// apk-tools' protected paths (`apk_db_add_protected_path`, `apk_db_dir_get`): the
/// defaults `+etc`, `@etc/init.d`, `!etc/apk`, then each line of the image's
/// `etc/apk/protected_paths.d/*.list` (files in name order; apk-tools 2.14 takes them in
/// directory order). A pattern applies to directories, component by component (`fnmatch`
/// of each component); a directory starts with its parent's mode and takes that of the last
/// pattern naming it. A file is protected when its directory is.
#[derive(Debug, Clone)]
struct Protection {
    patterns: Vec<(String, ProtectMode)>,
}

impl Protection {
    fn of(fs: &MergedFs) -> Result<Protection> {
        let mut protection = Protection { patterns: Vec::new() };
        for line in ["+etc", "@etc/init.d", "!etc/apk"] {
            protection.add(line);
        }
        let mut lists: Vec<String> = fs
            .walk(PROTECTED_D)
            .filter(|(p, _)| {
                p.rsplit_once('/').is_some_and(|(dir, name)| dir == PROTECTED_D && name.ends_with(".list"))
            })
            .map(|(p, _)| p.to_owned())
            .collect();
        lists.sort();
        for list in lists {
            // What apk-tools can open as a file: a file, or a link to one.
            if fs.resolve(&list).is_none_or(|(_, n)| n.meta.kind != EntryKind::File) {
                continue;
            }
            let bytes = fs.read(&list)?;
            for line in String::from_utf8_lossy(&bytes).lines() {
                protection.add(line.trim());
            }
        }
        Ok(protection)
    }

    /// One line: an optional mode character (none means `+`), leading and trailing `/`
    /// dropped; empty lines and `#` comments skipped.
    fn add(&mut self, line: &str) {
        let (mode, rest) = match line.as_bytes().first() {
            None | Some(b'#') => return,
            Some(b'-') => (ProtectMode::Ignore, &line[1..]),
            Some(b'+') => (ProtectMode::Changed, &line[1..]),
            Some(b'@') => (ProtectMode::SymlinksOnly, &line[1..]),
            Some(b'!') => (ProtectMode::All, &line[1..]),
            Some(_) => (ProtectMode::Changed, line),
        };
        self.patterns.push((rest.trim_matches('/').to_owned(), mode));
    }

    /// The mode of directory `dir` (relative, `a/b/c`; empty for the root).
    fn mode(&self, dir: &str) -> ProtectMode {
        let mut mode = ProtectMode::None;
        let mut patterns: Vec<(&str, ProtectMode)> = self.patterns.iter().map(|(p, m)| (p.as_str(), *m)).collect();
        for name in dir.split('/').filter(|c| !c.is_empty()) {
            let mut below = Vec::new();
            for &(pattern, m) in &patterns {
                match pattern.split_once('/') {
                    Some((head, rest)) => {
                        if glob_match(head.as_bytes(), name.as_bytes()) {
                            below.push((rest, m));
                        }
                    }
                    None => {
                        if glob_match(pattern.as_bytes(), name.as_bytes()) {
                            mode = m;
                        }
                    }
                }
            }
            patterns = below;
        }
        mode
    }

    /// Whether apk keeps a changed file at `path` (relative) on upgrade.
    fn protects(&self, path: &str) -> bool {
        let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
        !matches!(self.mode(dir), ProtectMode::None | ProtectMode::Ignore)
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_owned() } else { format!("{dir}/{name}") }
}

/// The checksum apk-tools computes of what is at `real` now (not following a final
/// symlink): the SHA1 of a file's content or of a symlink's target; `None` when nothing is
/// there (or a directory, or a path an earlier package of the plan changed).
fn current_checksum(fs: &MergedFs, earlier: &BTreeMap<String, EntryKind>, real: &str) -> Result<Option<ApkChecksum>> {
    if earlier.contains_key(real) {
        return Ok(None);
    }
    let Some(node) = fs.get(real) else { return Ok(None) };
    let bytes = match node.meta.kind {
        EntryKind::File => fs.read(real)?,
        EntryKind::Symlink => node.meta.link.clone().unwrap_or_default().into_bytes(),
        _ => return Ok(None),
    };
    Ok(Some(ApkChecksum::Sha1(sha1::Sha1::digest(&bytes).into())))
}

/// The image's trusted keys (`/etc/apk/keys/*`).
fn image_keys(fs: &MergedFs) -> Result<ApkKeys> {
    let mut keys = ApkKeys::new();
    let names: Vec<String> = fs
        .walk(KEYS)
        .filter(|(p, n)| n.meta.kind == EntryKind::File && !p[KEYS.len() + 1..].contains('/'))
        .map(|(p, _)| p.to_owned())
        .collect();
    for path in names {
        let pem = fs.read(&path)?;
        keys.add_pem(&path[KEYS.len() + 1..], &pem)?;
    }
    Ok(keys)
}

/// The package file checked against the plan and opened ([`VerifiedApk`]).
fn open_package(p: &PlannedPackage, keys: &ApkKeys) -> Result<VerifiedApk> {
    let what = format!("{}-{}.apk", p.name, p.version);
    let local = p
        .file
        .local
        .as_ref()
        .ok_or_else(|| db_error(&what, format!("{} {}: the package file was not fetched", p.name, p.version)))?;
    let mut file = std::fs::File::open(local).map_err(|e| Error::io(format!("opening {}", local.display()), e))?;
    let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(format!("reading {}", local.display()), e))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        sha2::Digest::update(&mut hasher, &buf[..n]);
    }
    let sha256 = hex::encode(sha2::Digest::finalize(hasher));
    if size != p.file.size || sha256 != p.file.sha256 {
        return Err(super::ApkError::Mismatch {
            file: local.display().to_string(),
            what: "size and SHA256 (the plan's verified download)".into(),
            expected: format!("{} bytes, {}", p.file.size, p.file.sha256),
            actual: format!("{size} bytes, {sha256}"),
        }
        .into());
    }
    let identity: ApkChecksum = p
        .file
        .control_checksum
        .as_deref()
        .ok_or_else(|| db_error(&what, "the plan has no control checksum (the index's C:)"))?
        .parse()
        .map_err(|why: String| db_error(&what, format!("control checksum: {why}")))?;
    let apk = VerifiedApk::open(local, keys, &identity)?;
    let info = apk.pkginfo();
    if info.name() != Some(p.name.as_str()) || info.version() != Some(p.version.as_str()) {
        return Err(db_error(
            &what,
            format!(
                "the package is {} {}, the plan expects {} {}",
                info.name().unwrap_or("?"),
                info.version().unwrap_or("?"),
                p.name,
                p.version
            ),
        ));
    }
    Ok(apk)
}

/// The index entry `apk index` would write for the package (see the module documentation).
fn index_entry(apk: &VerifiedApk, p: &PlannedPackage) -> Result<super::ApkIndexEntry> {
    let info: &PkgInfo = apk.pkginfo();
    let mut text = format!("C:{}\n", apk.identity());
    let one = |key: &str, letter: char, text: &mut String| {
        if let Some(v) = info.get(key) {
            text.push_str(&format!("{letter}:{v}\n"));
        }
    };
    one("pkgname", 'P', &mut text);
    one("pkgver", 'V', &mut text);
    one("arch", 'A', &mut text);
    text.push_str(&format!("S:{}\n", p.file.size));
    for (key, letter) in [
        ("size", 'I'),
        ("pkgdesc", 'T'),
        ("url", 'U'),
        ("license", 'L'),
        ("origin", 'o'),
        ("maintainer", 'm'),
        ("builddate", 't'),
        ("commit", 'c'),
        ("provider_priority", 'k'),
    ] {
        one(key, letter, &mut text);
    }
    for (key, letter) in [("depend", 'D'), ("provides", 'p'), ("install_if", 'i')] {
        let all: Vec<&str> = info.get_all(key).flat_map(str::split_whitespace).collect();
        if !all.is_empty() {
            text.push_str(&format!("{letter}:{}\n", all.join(" ")));
        }
    }
    let index = ApkIndex::parse(&text, &format!("{}: .PKGINFO", apk.name()))?;
    Ok(index.entries.into_iter().next().expect("one record"))
}

/// A script stored in `scripts.tar`.
struct StoredScript {
    identity: String,
    name_version: String,
    kind: String,
    mtime: u64,
    data: Vec<u8>,
}

/// The scripts of `scripts.tar` that belong to installed packages, in the database's package
/// order and apk's type order (as apk-tools rewrites it).
fn read_scripts(fs: &MergedFs, owners: &[Owner]) -> Result<Vec<StoredScript>> {
    if fs.resolve(SCRIPTS).is_none() {
        return Ok(Vec::new());
    }
    let bytes = fs.read(SCRIPTS)?;
    let mut found: Vec<StoredScript> = Vec::new();
    let corrupt = |e: std::io::Error| db_error(&format!("/{SCRIPTS}"), format!("corrupt: {e}"));
    let mut archive = tar::Archive::new(&bytes[..]);
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some((rest, kind)) = name.rsplit_once('.') else { continue };
        let Some((name_version, identity)) = rest.rsplit_once('.') else { continue };
        if !SCRIPT_ORDER.contains(&kind) {
            continue;
        }
        let mtime = entry.header().mtime().unwrap_or(0);
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(corrupt)?;
        found.push(StoredScript {
            identity: identity.to_owned(),
            name_version: name_version.to_owned(),
            kind: kind.to_owned(),
            mtime,
            data,
        });
    }
    let mut out = Vec::new();
    for o in owners {
        for kind in SCRIPT_ORDER {
            if let Some(i) = found.iter().position(|s| s.identity == o.identity && s.kind == kind) {
                out.push(found.swap_remove(i));
            }
        }
    }
    Ok(out)
}

/// `scripts.tar` as apk-tools writes it (`apk_tar_write_entry`).
fn scripts_tar(scripts: &[StoredScript]) -> Vec<u8> {
    fn octal(field: &mut [u8], value: u64, nul: bool) {
        let mut end = field.len();
        if nul {
            end -= 1;
            field[end] = 0;
        }
        let mut v = value;
        for b in field[..end].iter_mut().rev() {
            *b = b'0' + (v % 8) as u8;
            v /= 8;
        }
    }
    let mut out = Vec::new();
    for s in scripts {
        let mut h = [0u8; 512];
        let name = format!("{}.{}.{}", s.name_version, s.identity, s.kind);
        let n = name.len().min(99);
        h[..n].copy_from_slice(&name.as_bytes()[..n]);
        octal(&mut h[100..108], 0o755, true);
        octal(&mut h[108..116], 0, true);
        octal(&mut h[116..124], 0, true);
        octal(&mut h[124..136], s.data.len() as u64, false);
        octal(&mut h[136..148], s.mtime, false);
        h[156] = b'0';
        h[257..265].copy_from_slice(b"ustar  \0");
        h[265..269].copy_from_slice(b"root");
        h[297..301].copy_from_slice(b"root");
        h[148..156].copy_from_slice(b"        ");
        let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
        octal(&mut h[148..155], sum, true);
        out.extend_from_slice(&h);
        out.extend_from_slice(&s.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// `fnmatch(pattern, name, FNM_PATHNAME)` for apk's trigger globs and protected paths: `*`
/// and `?` do not match `/`, `[...]` matches one character of a set (ranges, `!` or `^`
/// negating it; never `/`), a backslash escapes the next character; a `[` with no closing `]` matches
/// itself.
fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob_match(&pattern[1..], name)
                || (name.first().is_some_and(|&c| c != b'/') && glob_match(pattern, &name[1..]))
        }
        (Some(b'?'), Some(&c)) if c != b'/' => glob_match(&pattern[1..], &name[1..]),
        (Some(b'['), Some(&c)) if bracket(&pattern[1..]).is_some() => {
            let (matches, rest) = bracket(&pattern[1..]).expect("checked");
            c != b'/' && matches(c) && glob_match(rest, &name[1..])
        }
        (Some(b'\\'), Some(&c)) if pattern.len() > 1 => pattern[1] == c && glob_match(&pattern[2..], &name[1..]),
        (Some(&p), Some(&c)) if p == c && p != b'?' && p != b'*' => glob_match(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// The set of a bracket expression whose `[` was just read: a test of one character, and the
/// pattern after its `]`; `None` when it is not closed.
fn bracket(pattern: &[u8]) -> Option<(impl Fn(u8) -> bool + '_, &[u8])> {
    let negated = matches!(pattern.first(), Some(b'!' | b'^'));
    let body_start = usize::from(negated);
    // A `]` right after the opening (or its negation) is a member, not the end.
    let end = pattern.iter().skip(body_start + 1).position(|&c| c == b']')? + body_start + 1;
    let body = &pattern[body_start..end];
    let test = move |c: u8| {
        let mut i = 0;
        let mut found = false;
        while i < body.len() {
            if i + 2 < body.len() && body[i + 1] == b'-' {
                found |= (body[i]..=body[i + 2]).contains(&c);
                i += 3;
            } else {
                found |= body[i] == c;
                i += 1;
            }
        }
        found != negated
    };
    Some((test, &pattern[end + 1..]))
}

struct ClassifyInput<'a> {
    package: &'a PlannedPackage,
    apk: &'a VerifiedApk,
    fs: &'a MergedFs,
    owners: &'a [Owner],
    old: Option<usize>,
    scripts: &'a [StoredScript],
    trigger_lines: &'a [String],
    own_triggers: &'a [String],
    modified: &'a BTreeSet<String>,
    all_dirs: &'a BTreeSet<String>,
    removed_dirs: &'a BTreeSet<String>,
    /// Whether apk-tools unpacks the package (its scripts are read only then).
    unpack: bool,
    policy: ScriptPolicy,
}

/// Every script apk-tools would run for this package, and the triggers it fires: the new
/// version's `pre-upgrade`/`post-upgrade` (or `pre-install`/`post-install` for a package new to
/// the image); its other scripts stored; the `trigger` of every installed package whose globs
/// match a directory the package changes, and the package's own trigger when a directory of
/// the database matches its globs.
fn classify_package(input: ClassifyInput<'_>) -> Result<Vec<ScriptOutcome>> {
    let mut out = Vec::new();
    let upgrade = input.old.is_some();
    let run: &[&str] = if upgrade { &["pre-upgrade", "post-upgrade"] } else { &["pre-install", "post-install"] };
    let own: &[super::ApkScript] = if input.unpack { input.apk.scripts() } else { &[] };
    for s in own {
        if s.name == "trigger" {
            continue;
        }
        if run.contains(&s.name.as_str()) {
            let text = String::from_utf8_lossy(&s.data);
            judge(&input, &input.package.name, &s.name, "new", &text, &mut out)?;
        } else {
            out.push(ScriptOutcome {
                kind: s.name.clone(),
                name: "new".into(),
                disposition: ScriptDisposition::Stored,
                detail: "stored in scripts.tar; apk-tools does not run it on this operation".into(),
            });
        }
    }
    // Installed packages' triggers fired by the directories this package changes.
    for line in input.trigger_lines {
        let mut words = line.split(' ');
        let Some(identity) = words.next() else { continue };
        let Some(owner) = input.owners.iter().find(|o| o.identity == identity) else { continue };
        if input.old.is_some_and(|i| input.owners[i].identity == identity) {
            continue;
        }
        let globs: Vec<&str> = words.filter(|g| g.starts_with('/')).collect();
        let hits: Vec<&String> =
            input.modified.iter().filter(|d| globs.iter().any(|g| glob_match(g.as_bytes(), d.as_bytes()))).collect();
        if hits.is_empty() {
            continue;
        }
        let Some(script) = input.scripts.iter().find(|s| s.identity == identity && s.kind == "trigger") else {
            continue;
        };
        let text = String::from_utf8_lossy(&script.data).into_owned();
        let name = format!("{} ({})", owner.name, hits.iter().map(|h| h.as_str()).collect::<Vec<_>>().join(" "));
        judge_trigger(&input, &owner.name, name, &text, &hits, &mut out)?;
    }
    // The package's own trigger, run on every directory of the database its globs match.
    if let Some(script) = own.iter().find(|s| s.name == "trigger") {
        let hits: Vec<&String> = input
            .all_dirs
            .iter()
            .filter(|d| input.own_triggers.iter().any(|g| g.starts_with('/') && glob_match(g.as_bytes(), d.as_bytes())))
            .collect();
        if hits.is_empty() {
            out.push(ScriptOutcome {
                kind: "trigger".into(),
                name: "new".into(),
                disposition: ScriptDisposition::Stored,
                detail: "no directory matches its globs: apk-tools would not run it".into(),
            });
        } else {
            let text = String::from_utf8_lossy(&script.data).into_owned();
            let name = input.package.name.clone();
            judge_trigger(&input, &name, "new".into(), &text, &hits, &mut out)?;
        }
    }
    Ok(out)
}

fn judge_trigger(
    input: &ClassifyInput<'_>,
    package: &str,
    name: String,
    text: &str,
    hits: &[&String],
    out: &mut Vec<ScriptOutcome>,
) -> Result<()> {
    match classify_apk_script(package, text) {
        ApkScriptClass::Harmless => out.push(ScriptOutcome {
            kind: "trigger".into(),
            name,
            disposition: ScriptDisposition::Harmless,
            detail: "boilerplate only".into(),
        }),
        ApkScriptClass::BusyboxInstall => {
            let bin_removed: Vec<&String> = input
                .removed_dirs
                .iter()
                .filter(|d| ["/bin", "/sbin", "/usr/bin", "/usr/sbin"].contains(&d.as_str()))
                .collect();
            let modules = hits.iter().any(|h| h.starts_with("/lib/modules/"));
            if bin_removed.is_empty() && !modules {
                out.push(ScriptOutcome {
                    kind: "trigger".into(),
                    name,
                    disposition: ScriptDisposition::Handled,
                    detail: "busybox --install -s only creates missing applet links; no file was removed from \
                             /bin, /sbin, /usr/bin or /usr/sbin, so none is missing that was there before"
                        .into(),
                });
            } else {
                unknown(
                    input,
                    "trigger",
                    name,
                    format!(
                        "busybox --install -s (or depmod) would recreate applet links where files were removed \
                         ({bin_removed:?}) or index kernel modules; not done"
                    ),
                    out,
                )?;
            }
        }
        ApkScriptClass::CaCertificates => unknown(
            input,
            "trigger",
            name,
            "update-ca-certificates would regenerate /etc/ssl/certs/ca-certificates.crt; not done natively".into(),
            out,
        )?,
        ApkScriptClass::Unknown(line) => {
            unknown(input, "trigger", name, format!("unknown content: {line}"), out)?;
        }
    }
    Ok(())
}

/// One script apk-tools would run, classified ([`classify_apk_script`]).
fn judge(
    input: &ClassifyInput<'_>,
    package: &str,
    kind: &str,
    name: &str,
    text: &str,
    out: &mut Vec<ScriptOutcome>,
) -> Result<()> {
    let outcome = |disposition, detail: String| ScriptOutcome {
        kind: kind.to_owned(),
        name: name.to_owned(),
        disposition,
        detail,
    };
    match classify_apk_script(package, text) {
        ApkScriptClass::Harmless => out.push(outcome(ScriptDisposition::Harmless, "boilerplate only".into())),
        ApkScriptClass::BusyboxInstall if kind == "post-upgrade" && klogd_exists(input.fs)? => out.push(outcome(
            ScriptDisposition::Harmless,
            "busybox applet links kept as they are (they lead to /bin/busybox, replaced in place); links of \
             applets added or dropped by this version are not refreshed; the klogd user and group exist"
                .into(),
        )),
        ApkScriptClass::BusyboxInstall => unknown(
            input,
            kind,
            name.to_owned(),
            "busybox --install -s and the klogd user would be set up; not done".into(),
            out,
        )?,
        ApkScriptClass::CaCertificates => unknown(
            input,
            kind,
            name.to_owned(),
            "update-ca-certificates would regenerate /etc/ssl/certs/ca-certificates.crt; not done natively".into(),
            out,
        )?,
        ApkScriptClass::Unknown(line) => {
            unknown(input, kind, name.to_owned(), format!("unknown content: {line}"), out)?
        }
    }
    Ok(())
}

fn klogd_exists(fs: &MergedFs) -> Result<bool> {
    let has = |path: &str| -> Result<bool> {
        if fs.resolve(path).is_none() {
            return Ok(false);
        }
        Ok(String::from_utf8_lossy(&fs.read(path)?).lines().any(|l| l.starts_with("klogd:")))
    };
    Ok(has("etc/passwd")? && has("etc/group")?)
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

fn db_error(path: &str, reason: impl Into<String>) -> Error {
    Error::PackageDb { path: path.to_owned(), reason: reason.into() }
}

fn place_error(what: &str, raw: &str, reason: &str) -> Error {
    Error::PackageDb { path: what.to_owned(), reason: format!("entry {raw}: {reason}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(text: &str) -> Owner {
        let record = InstalledRecord::parse(text, "installed").unwrap();
        Owner { name: record.package.name.clone(), identity: record.package.checksum.to_string(), record }
    }

    /// `apk_db_install_archive_entry`'s rules for a file another package owns.
    #[test]
    fn files_of_other_packages_follow_origin_and_replaces() {
        let c = "C:Q1hvfkN/qlp/zhXR3cuerq6jd2Z7g=\n";
        let other = owner(&format!("{c}P:a\nV:1\no:x\n\n"));
        let same_origin = owner(&format!("{c}P:b\nV:1\no:x\n\n")).record;
        assert!(matches!(take_over(&other, &same_origin), Ownership::Take));
        let stranger = owner(&format!("{c}P:b\nV:1\no:y\n\n")).record;
        assert!(matches!(take_over(&other, &stranger), Ownership::Conflict));
        let replacing = owner(&format!("{c}P:b\nV:1\no:y\nr:a\n\n")).record;
        assert!(matches!(take_over(&other, &replacing), Ownership::Take));
        // A constrained replaces is not matched (refusal, the conservative answer).
        let constrained = owner(&format!("{c}P:b\nV:1\no:y\nr:a<1\n\n")).record;
        assert!(matches!(take_over(&other, &constrained), Ownership::Conflict));
        // The owner replaces the new package with a higher priority: its file stays.
        let keeper = owner(&format!("{c}P:a\nV:1\no:x\nr:b\nq:10\n\n"));
        assert!(matches!(take_over(&keeper, &replacing), Ownership::Skip));
        let mut equal = replacing.clone();
        equal.replaces_priority = 10;
        assert!(matches!(take_over(&keeper, &equal), Ownership::Take));
    }

    #[test]
    fn trigger_globs_match_as_fnmatch_with_pathname() {
        assert!(glob_match(b"/usr/bin", b"/usr/bin"));
        assert!(glob_match(b"/lib/modules/*", b"/lib/modules/6.1"));
        assert!(!glob_match(b"/lib/modules/*", b"/lib/modules/6.1/kernel"));
        assert!(glob_match(b"/usr/share/fonts/*", b"/usr/share/fonts/misc"));
        assert!(glob_match(b"/usr/?in", b"/usr/bin"));
        assert!(!glob_match(b"/usr/bin", b"/usr/bin/x"));
        assert!(!glob_match(b"/usr/*", b"/usr"));
        assert!(glob_match(b"[0-9a-f]*.[r0-9]*", b"3f2a.0"));
        assert!(!glob_match(b"[0-9a-f]*", b"g1"));
        assert!(glob_match(b"[!a]x", b"bx") && !glob_match(b"[!a]x", b"ax") && !glob_match(b"[^a]x", b"ax"));
        assert!(glob_match(b"[]]", b"]") && glob_match(b"a[", b"a["));
        assert!(glob_match(b"\\*", b"*") && !glob_match(b"\\*", b"x"));
        assert!(!glob_match(b"a[/]b", b"a/b"));
    }

    #[test]
    fn protected_paths_are_apk_tools_directory_modes() {
        let mut p = Protection { patterns: Vec::new() };
        for line in ["+etc", "@etc/init.d", "!etc/apk"] {
            p.add(line);
        }
        // The defaults: everything under /etc, the root and other trees not.
        assert!(p.protects("etc/motd") && p.protects("etc/init.d/x") && p.protects("etc/apk/world"));
        assert!(!p.protects("usr/bin/x") && !p.protects("motd") && !p.protects("etcetera/x"));
        assert_eq!(p.mode("etc/apk/keys"), ProtectMode::All, "a subdirectory takes its parent's mode");
        // ca-certificates' list: patterns naming files, which on upgrade match no directory
        // (apk-tools applies file patterns in `apk audit` only), so nothing changes.
        for line in [
            "-etc/ssl/certs/ca-certificates.crt",
            "-etc/ssl/certs/ca-cert-*.pem",
            "-etc/ssl/certs/[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f].[r0-9]*",
        ] {
            p.add(line);
        }
        assert!(p.protects("etc/ssl/certs/ca-certificates.crt") && p.protects("etc/ssl/certs/ca-cert-x.pem"));
        // Directories, and lines as users write them.
        for line in ["# certificates are regenerated", "-etc/ssl/certs/", "", "usr/local/*/conf", "/+not-a-mode"] {
            p.add(line);
        }
        assert!(!p.protects("etc/ssl/certs/ca-certificates.crt"), "the directory is ignored");
        assert!(!p.protects("etc/ssl/certs/sub/x.pem"), "and what is below it");
        assert!(p.protects("etc/ssl/openssl.cnf"), "its parent is not");
        assert!(p.protects("usr/local/app/conf/a.ini") && !p.protects("usr/local/app/a.ini"));
        assert!(p.protects("+not-a-mode/x"), "no mode character: protect changed files");
        // The last pattern naming a directory wins.
        p.add("+etc/ssl/certs");
        assert!(p.protects("etc/ssl/certs/x.pem"));
    }

    #[test]
    fn apk_scripts_are_classified_from_the_table() {
        assert_eq!(classify_apk_script("x", "#!/bin/sh\n# nothing\n\nexit 0\n"), ApkScriptClass::Harmless);
        assert_eq!(classify_apk_script("x", ""), ApkScriptClass::Harmless);
        assert_eq!(
            classify_apk_script("x", "#!/bin/sh\nadduser -S x\n"),
            ApkScriptClass::Unknown("adduser -S x".into())
        );
        let bb = "#!/bin/sh\nfor i in \"$@\"; do :; done\n/bin/busybox --install -s\n";
        assert_eq!(classify_apk_script("busybox", bb), ApkScriptClass::BusyboxInstall);
        assert!(matches!(classify_apk_script("other", bb), ApkScriptClass::Unknown(_)));
        assert_eq!(
            classify_apk_script("ca-certificates", "#!/bin/sh\n/usr/sbin/update-ca-certificates --fresh\n"),
            ApkScriptClass::CaCertificates
        );
    }

    /// The minirootfs's `scripts.tar`, written by apk-tools, comes back byte for byte.
    #[test]
    fn scripts_tar_is_written_as_apk_tools_writes_it() {
        let (_, original) = crate::apk::tests::minirootfs_files("lib/apk/db/scripts.tar").remove(0);
        let mut scripts = Vec::new();
        let mut archive = tar::Archive::new(&original[..]);
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let (rest, kind) = name.rsplit_once('.').unwrap();
            let (name_version, identity) = rest.rsplit_once('.').unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            scripts.push(StoredScript {
                identity: identity.into(),
                name_version: name_version.into(),
                kind: kind.into(),
                mtime: e.header().mtime().unwrap(),
                data,
            });
        }
        assert_eq!(scripts.len(), 7);
        assert!(scripts_tar(&scripts) == original);
    }

    #[test]
    fn scripts_tar_headers_are_apk_tools_ones() {
        let tar = scripts_tar(&[StoredScript {
            identity: "Q1yY8lhMF1VhgegJgkcXfqaNabDJw=".into(),
            name_version: "busybox-1.36.1-r29".into(),
            kind: "post-install".into(),
            mtime: 1718003460,
            data: b"#!/bin/sh\n".to_vec(),
        }]);
        assert_eq!(tar.len(), 512 + 512 + 1024);
        let mut archive = tar::Archive::new(&tar[..]);
        let mut entries = archive.entries().unwrap();
        let e = entries.next().unwrap().unwrap();
        assert_eq!(&*e.path_bytes(), b"busybox-1.36.1-r29.Q1yY8lhMF1VhgegJgkcXfqaNabDJw=.post-install");
        assert_eq!(e.header().mode().unwrap(), 0o755);
        assert_eq!(e.header().mtime().unwrap(), 1718003460);
        assert_eq!(&tar[257..265], b"ustar  \0");
        assert_eq!(&tar[100..108], b"0000755\0");
        assert_eq!(&tar[124..136], b"000000000012");
    }
}
