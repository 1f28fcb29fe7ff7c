//! What installing a new version of a package changes in the image's files, decided the
//! way dpkg decides it, on the merged filesystem (nothing is extracted).
//!
//! For every entry of the new version's data archive: its real place in the image (parent
//! directories resolved through the image's symlinks, so `./lib/x` lands in `usr/lib/x`
//! on a merged-/usr image and never replaces the `lib -> usr/lib` link); directories that
//! exist are kept as they are (dpkg keeps existing directories and directory symlinks);
//! configuration files follow dpkg's `--force-confold` policy; files the old version had
//! and the new one lacks are removed (whiteouts) unless another package owns them.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use oci_core::{EntryKind, EntryMeta, MergedFs};

use super::spool::{Spool, Spooled};
use crate::VerifiedDeb;
use crate::packages::ConffileRecord;
use crate::{Error, Result};

/// One change to the image's filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// The real path in the image (relative, normalised, parents resolved).
    pub path: String,
    /// What happens there.
    pub action: FileAction,
}

/// What a [`FileChange`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileAction {
    /// The entry is written with this metadata (and, for regular files, these bytes).
    Write {
        /// Type, mode, owner, link target…
        meta: EntryMeta,
        /// The content of a regular file.
        content: Option<Spooled>,
    },
    /// The path is removed (a whiteout in the layer).
    Remove,
}

/// What happened to one configuration file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConffileOutcome {
    /// The conffile's path as the package names it (`/etc/foo.conf`).
    pub path: String,
    /// What was done.
    pub action: ConffileAction,
}

/// dpkg's `--force-confold` decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConffileAction {
    /// Not changed by the user (or new): the package's new version was installed.
    Replaced,
    /// Already identical to the new version: nothing to write.
    Unchanged,
    /// Changed by the user: kept, the new version written beside it as `PATH.dpkg-dist`.
    KeptDistWritten,
    /// Deleted by the user: stays deleted, as dpkg leaves it.
    StaysDeleted,
    /// Flagged `remove-on-upgrade` by the new version and not changed by the user: removed.
    Removed,
    /// Flagged `remove-on-upgrade` and changed by the user: moved to `PATH.dpkg-old`.
    SavedAsDpkgOld,
    /// apk: a file under a protected path (`/etc`) changed by the user (or owned by no
    /// package): kept, the new version written beside it as `PATH.apk-new`.
    KeptApkNewWritten,
}

/// The plan for one package: the file changes, and what its database entries need.
#[derive(Debug, Default)]
pub struct PackageFiles {
    /// Changes in the order they were decided (the layer writer sorts them).
    pub changes: Vec<FileChange>,
    /// The paths of the new version as the package names them, in archive order (for
    /// `info/PKG.list`).
    pub listed: Vec<String>,
    /// The listed paths that are not directories (files, links): what the package takes
    /// over from another package listing the same path.
    pub non_dirs: Vec<String>,
    /// The new `Conffiles` field's entries (hashes as dpkg records them).
    pub conffiles: Vec<ConffileRecord>,
    /// What happened to each configuration file.
    pub conffile_outcomes: Vec<ConffileOutcome>,
}

/// What the planner needs to know about the package's old version and the other installed
/// packages.
pub struct Installed<'a> {
    /// The paths the old version owns (its `.list`), as listed there (`/usr/bin/x`).
    pub old_paths: &'a [String],
    /// The old version's conffiles with the hashes in its status stanza.
    pub old_conffiles: &'a [ConffileRecord],
    /// Whether a path (as a package lists it) belongs to another installed package that
    /// stays installed.
    pub owned_by_others: &'a dyn Fn(&str) -> bool,
    /// Where dpkg puts a path of this package (relative, `usr/bin/x`) that a diversion
    /// (`/var/lib/dpkg/diversions`) of another package or of the administrator moves:
    /// `Some(relative new path)`, `None` when not diverted.
    pub divert: &'a dyn Fn(&str) -> Option<String>,
    /// Real paths already written by packages applied before this one in the same plan,
    /// with their kind (so this package's entries can be placed below their directories).
    pub earlier: &'a BTreeMap<String, EntryKind>,
}

impl<'a> Installed<'a> {
    /// A package new to the image, with nothing diverted and nothing applied before it.
    pub fn new_package(earlier: &'a BTreeMap<String, EntryKind>) -> Installed<'a> {
        Installed { old_paths: &[], old_conffiles: &[], owned_by_others: &|_| false, divert: &|_| None, earlier }
    }
}

/// Plans the installation of one package's new version from its data archive (an
/// uncompressed tar stream: `data.tar` of the `.deb`). Regular files' bytes go to `spool`.
/// `conffiles` is the new version's `conffiles` member (absolute paths). `what` names the
/// package in errors.
///
/// # Security
/// Entry paths are normalised and refused when they escape the root (`..`, absolute
/// paths after normalisation), as are hard links whose target escapes; parent directories
/// are resolved only inside the image root, and an entry whose parent is not a directory
/// in the image (a file, or a link out of the root) is refused.
///
/// # Errors
/// [`Error::Image`] for unsafe or unreadable entries, [`Error::PackageDb`] for an entry
/// that cannot be placed.
pub fn plan_package_files(
    fs: &MergedFs,
    data: impl Read,
    what: &str,
    conffiles: &[String],
    installed: &Installed<'_>,
    spool: &mut Spool,
) -> Result<PackageFiles> {
    plan_with(fs, what, conffiles, installed, spool, |step| {
        // Errors of ours are kept here while the tar reader, which speaks oci-core's
        // errors, unwinds.
        let mut failure: Option<Error> = None;
        let read = oci_core::read_entries(data, what, |entry| {
            step(entry).map_err(|e| {
                let stop = oci_core::Error::Invalid { what: what.to_owned(), reason: e.to_string() };
                failure = Some(e);
                stop
            })
        });
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(read?)
    })
}

/// [`plan_package_files`] for a verified package: its data archive streamed by
/// [`VerifiedDeb::data`] (which refuses `..` paths, links out of the package and entries
/// below the package's own symlinks before anything is placed).
///
/// # Errors
/// As [`plan_package_files`]; [`Error::Apt`] for an entry the package reader refuses.
pub fn plan_deb_files(
    fs: &MergedFs,
    deb: &VerifiedDeb,
    conffiles: &[String],
    installed: &Installed<'_>,
    spool: &mut Spool,
) -> Result<PackageFiles> {
    plan_deb_files_from(fs, deb, deb.data_reader()?, conffiles, installed, spool)
}

/// [`plan_deb_files`] with the data archive already decompressed
/// ([`VerifiedDeb::decompress_data`]).
pub(crate) fn plan_deb_files_from(
    fs: &MergedFs,
    deb: &VerifiedDeb,
    decoded: impl std::io::Read,
    conffiles: &[String],
    installed: &Installed<'_>,
    spool: &mut Spool,
) -> Result<PackageFiles> {
    let what = deb.name().to_owned();
    plan_with(fs, &what, conffiles, installed, spool, |step| {
        let mut failure: Option<Error> = None;
        let read = deb.data_from(decoded, |entry| {
            step(entry).map_err(|e| {
                let stop =
                    crate::AptError::Deb { deb: what.clone(), entry: Some(entry.path.clone()), reason: e.to_string() };
                failure = Some(e);
                stop
            })
        });
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(read?)
    })
}

type Step<'s> = dyn FnMut(&mut oci_core::TarEntry<'_>) -> Result<()> + 's;

fn plan_with(
    fs: &MergedFs,
    what: &str,
    conffiles: &[String],
    installed: &Installed<'_>,
    spool: &mut Spool,
    drive: impl FnOnce(&mut Step<'_>) -> Result<()>,
) -> Result<PackageFiles> {
    let mut plan = PackageFiles::default();
    // Real paths created by this package so far (directories and others), to place later
    // entries under directories the image does not have yet.
    let mut created: BTreeMap<String, EntryKind> = BTreeMap::new();
    let mut new_real: BTreeSet<String> = BTreeSet::new();
    let new_conffiles: BTreeSet<&str> = conffiles.iter().map(|c| c.trim_start_matches('/')).collect();
    // Raw path → real path, for hard link targets.
    let mut real_of: BTreeMap<String, String> = BTreeMap::new();

    let mut step = |entry: &mut oci_core::TarEntry<'_>| -> Result<()> {
        let raw = entry.path.clone();
        if raw.is_empty() {
            // The archive's root (`./`): the image's root stays as it is.
            plan.listed.push("/.".to_owned());
            return Ok(());
        }
        plan.listed.push(format!("/{raw}"));
        if entry.meta.kind != EntryKind::Dir {
            plan.non_dirs.push(format!("/{raw}"));
        }
        let placed = (installed.divert)(&raw).unwrap_or_else(|| raw.clone());
        let real =
            real_path(fs, &created, installed.earlier, &placed).map_err(|reason| place_error(what, &raw, &reason))?;
        real_of.insert(raw.clone(), real.clone());
        new_real.insert(real.clone());
        let mut meta = entry.meta.clone();
        match meta.kind {
            EntryKind::Dir => {
                let existing = fs.resolve(&real).map(|(_, n)| n.meta.kind);
                match existing {
                    // dpkg keeps an existing directory (or a link to one) as it is.
                    Some(EntryKind::Dir) => {}
                    Some(other) => {
                        return Err(place_error(
                            what,
                            &raw,
                            &format!("the image has a {other:?} where the package has a directory"),
                        ));
                    }
                    None if created.contains_key(&real) || installed.earlier.contains_key(&real) => {}
                    None => {
                        created.insert(real.clone(), EntryKind::Dir);
                        plan.changes.push(FileChange { path: real, action: FileAction::Write { meta, content: None } });
                    }
                }
            }
            EntryKind::File => {
                let spooled = spool
                    .append(entry.data(), meta.size)
                    .map_err(|e| Error::Io { context: format!("{what}: spooling {raw}"), source: e })?;
                created.insert(real.clone(), EntryKind::File);
                if new_conffiles.contains(raw.as_str()) {
                    let (outcome, record) = conffile(fs, &raw, &real, &meta, spooled.clone(), spool, installed)?;
                    plan.conffile_outcomes.push(ConffileOutcome { path: format!("/{raw}"), action: outcome.0 });
                    plan.conffiles.push(record);
                    plan.changes.extend(outcome.1);
                } else {
                    plan.changes
                        .push(FileChange { path: real, action: FileAction::Write { meta, content: Some(spooled) } });
                }
            }
            EntryKind::Hardlink => {
                let target = meta.link.clone().unwrap_or_default();
                let target_real = real_of.get(&target).cloned().ok_or_else(|| {
                    place_error(
                        what,
                        &raw,
                        &format!("hard link to {target}, which the package has not written before it"),
                    )
                })?;
                meta.link = Some(target_real);
                created.insert(real.clone(), EntryKind::Hardlink);
                plan.changes.push(FileChange { path: real, action: FileAction::Write { meta, content: None } });
            }
            _ => {
                created.insert(real.clone(), meta.kind);
                plan.changes.push(FileChange { path: real, action: FileAction::Write { meta, content: None } });
            }
        }
        Ok(())
    };
    drive(&mut step)?;

    // Files of the old version that the new one lacks, unless another package owns them.
    for old in installed.old_paths {
        let raw = old.trim_start_matches('/');
        if raw.is_empty() || raw == "." || (installed.owned_by_others)(old) {
            continue;
        }
        let placed = (installed.divert)(raw).unwrap_or_else(|| raw.to_owned());
        let Ok(real) = real_path(fs, &created, installed.earlier, &placed) else { continue };
        if new_real.contains(&real) {
            continue;
        }
        match fs.get(&real).map(|n| n.meta.kind) {
            // Directories stay (dpkg removes them only when empty); gone already: nothing.
            Some(EntryKind::Dir) | None => {}
            Some(_) => {
                // A conffile the new version dropped stays (dpkg keeps it as obsolete).
                if installed.old_conffiles.iter().any(|c| c.path.trim_start_matches('/') == raw) {
                    continue;
                }
                plan.changes.push(FileChange { path: real, action: FileAction::Remove });
            }
        }
    }
    Ok(plan)
}

fn place_error(what: &str, raw: &str, reason: &str) -> Error {
    Error::PackageDb { path: what.to_owned(), reason: format!("entry {raw}: {reason}") }
}

/// Where `raw` (a package path) is in the image: every parent directory resolved through
/// the image's symlinks (inside the root) or through directories this package creates.
pub(crate) fn real_path(
    fs: &MergedFs,
    created: &BTreeMap<String, EntryKind>,
    earlier: &BTreeMap<String, EntryKind>,
    raw: &str,
) -> std::result::Result<String, String> {
    let (parent, name) = match raw.rsplit_once('/') {
        Some((p, n)) => (p, n),
        None => ("", raw),
    };
    let mut cur = String::new();
    for component in parent.split('/').filter(|c| !c.is_empty()) {
        let candidate = if cur.is_empty() { component.to_owned() } else { format!("{cur}/{component}") };
        if created.get(&candidate) == Some(&EntryKind::Dir) || earlier.get(&candidate) == Some(&EntryKind::Dir) {
            cur = candidate;
            continue;
        }
        match fs.get(&candidate).map(|n| n.meta.kind) {
            Some(EntryKind::Dir) => cur = candidate,
            Some(EntryKind::Symlink) => match fs.resolve(&candidate) {
                Some((real, node)) if node.meta.kind == EntryKind::Dir => cur = real,
                _ => return Err(format!("{candidate} is a link that does not lead to a directory inside the image")),
            },
            Some(other) => return Err(format!("{candidate} is a {other:?} in the image, not a directory")),
            None => return Err(format!("its directory {candidate} exists neither in the image nor in the package")),
        }
    }
    Ok(if cur.is_empty() { name.to_owned() } else { format!("{cur}/{name}") })
}

type ConffileChanges = (ConffileAction, Vec<FileChange>);

/// dpkg's `--force-confold` for one conffile: the changes and the `Conffiles` record.
fn conffile(
    fs: &MergedFs,
    raw: &str,
    real: &str,
    meta: &EntryMeta,
    new: Spooled,
    spool: &mut Spool,
    installed: &Installed<'_>,
) -> Result<(ConffileChanges, ConffileRecord)> {
    let new_md5 = spool.md5_hex(&new).map_err(|e| Error::Io { context: format!("reading back {raw}"), source: e })?;
    let record =
        ConffileRecord { path: format!("/{raw}"), md5: new_md5.clone(), obsolete: false, remove_on_upgrade: false };
    let old_hash =
        installed.old_conffiles.iter().find(|c| c.path.trim_start_matches('/') == raw).map(|c| c.md5.as_str());
    let write = |path: String, content: Spooled| FileChange {
        path,
        action: FileAction::Write { meta: meta.clone(), content: Some(content) },
    };
    let current = match fs.resolve(real) {
        Some((_, node)) if matches!(node.meta.kind, EntryKind::File | EntryKind::Hardlink) => {
            Some(crate::upgrade::md5_hex(&fs.read(real)?))
        }
        Some(_) => None,
        None => None,
    };
    let outcome = match (current, old_hash) {
        // Deleted by the user: dpkg leaves it deleted.
        (None, Some(_)) => (ConffileAction::StaysDeleted, vec![]),
        (None, None) => (ConffileAction::Replaced, vec![write(real.to_owned(), new)]),
        (Some(cur), _) if cur == new_md5 => (ConffileAction::Unchanged, vec![]),
        (Some(cur), Some(old)) if cur == old => (ConffileAction::Replaced, vec![write(real.to_owned(), new)]),
        (Some(_), _) => (ConffileAction::KeptDistWritten, vec![write(format!("{real}.dpkg-dist"), new)]),
    };
    Ok((outcome, record))
}

#[cfg(test)]
mod tests {
    use oci_core::testing::write_layers;
    use oci_core::{ImageSource, OciLayout};

    use super::*;

    struct Image {
        _dir: tempfile::TempDir,
        fs: MergedFs,
    }

    fn image(layers: &[Vec<(&str, EntryMeta, &[u8])>]) -> Image {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path()).unwrap();
        write_layers(&layout, "t", layers).unwrap();
        let source = ImageSource::open(&format!("oci:{}:t", dir.path().display()).parse().unwrap()).unwrap();
        let fs = MergedFs::build(&source.image(None).unwrap()).unwrap();
        Image { _dir: dir, fs }
    }

    fn file(content: &[u8]) -> EntryMeta {
        EntryMeta::file(0o644, content.len() as u64)
    }

    /// A data archive as dpkg-deb writes one: `./` first, directories before their files.
    fn data_tar(entries: &[(&str, EntryMeta, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, meta, content) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(meta.mode);
            h.set_uid(meta.uid);
            h.set_gid(meta.gid);
            h.set_mtime(1);
            match meta.kind {
                EntryKind::Dir => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    b.append_data(&mut h, path, &b""[..]).unwrap();
                }
                EntryKind::Symlink => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    b.append_link(&mut h, path, meta.link.as_deref().unwrap()).unwrap();
                }
                EntryKind::Hardlink => {
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_size(0);
                    b.append_link(&mut h, path, meta.link.as_deref().unwrap()).unwrap();
                }
                _ => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(content.len() as u64);
                    b.append_data(&mut h, path, *content).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    fn conf(path: &str, content: &[u8]) -> ConffileRecord {
        ConffileRecord {
            path: path.into(),
            md5: crate::upgrade::md5_hex(content),
            obsolete: false,
            remove_on_upgrade: false,
        }
    }

    #[test]
    fn merged_usr_conffiles_dropped_files_and_shared_files() {
        let img = image(&[
            vec![
                ("etc", EntryMeta::dir(0o755), &b""[..]),
                ("etc/demo.conf", file(b"old\n"), b"old\n"),
                ("etc/kept.conf", file(b"old kept\n"), b"old kept\n"),
                ("etc/gone.conf", file(b"x\n"), b"x\n"),
                ("lib", EntryMeta::symlink("usr/lib"), b""),
                ("usr", EntryMeta::dir(0o755), b""),
                ("usr/lib", EntryMeta::dir(0o755), b""),
                ("usr/lib/demo", EntryMeta::dir(0o755), b""),
                ("usr/lib/demo/libdemo.so.1", file(b"old lib\n"), b"old lib\n"),
                ("usr/lib/demo/dropped", file(b"d\n"), b"d\n"),
                ("usr/lib/demo/shared", file(b"s\n"), b"s\n"),
            ],
            // The user edits one conffile in a later layer (and had deleted etc/deleted.conf).
            vec![("etc/kept.conf", file(b"edited\n"), b"edited\n")],
        ]);
        let old_paths: Vec<String> = [
            "/.",
            "/etc",
            "/etc/demo.conf",
            "/etc/kept.conf",
            "/lib/demo",
            "/lib/demo/libdemo.so.1",
            "/lib/demo/dropped",
            "/lib/demo/shared",
        ]
        .map(str::to_owned)
        .to_vec();
        let old_conffiles = [
            conf("/etc/demo.conf", b"old\n"),
            conf("/etc/kept.conf", b"old kept\n"),
            conf("/etc/deleted.conf", b"z\n"),
        ];
        let others = |p: &str| p == "/lib/demo/shared";
        let earlier = BTreeMap::new();
        let installed = Installed {
            old_paths: &old_paths,
            old_conffiles: &old_conffiles,
            owned_by_others: &others,
            divert: &|_| None,
            earlier: &earlier,
        };
        let data = data_tar(&[
            ("./", EntryMeta::dir(0o755), b""),
            ("./etc/", EntryMeta::dir(0o755), b""),
            ("./etc/demo.conf", file(b"new\n"), b"new\n"),
            ("./etc/kept.conf", file(b"new kept\n"), b"new kept\n"),
            ("./etc/deleted.conf", file(b"nz\n"), b"nz\n"),
            ("./lib/", EntryMeta::dir(0o755), b""),
            ("./lib/demo/", EntryMeta::dir(0o755), b""),
            ("./lib/demo/libdemo.so.1", EntryMeta::file(0o4755, 8), b"new lib\n"),
            ("./lib/demo/libdemo.so", EntryMeta::symlink("libdemo.so.1"), b""),
            ("./usr/", EntryMeta::dir(0o755), b""),
            ("./usr/share/", EntryMeta::dir(0o755), b""),
            ("./usr/share/demo/", EntryMeta::dir(0o700), b""),
            ("./usr/share/demo/a", file(b"a\n"), b"a\n"),
            (
                "./usr/share/demo/b",
                EntryMeta {
                    kind: EntryKind::Hardlink,
                    link: Some("usr/share/demo/a".into()),
                    ..EntryMeta::file(0o644, 0)
                },
                b"",
            ),
        ]);
        let mut spool = Spool::new().unwrap();
        let conffiles = ["/etc/demo.conf".to_owned(), "/etc/kept.conf".to_owned(), "/etc/deleted.conf".to_owned()];
        let plan =
            plan_package_files(&img.fs, &data[..], "demo_2_amd64.deb", &conffiles, &installed, &mut spool).unwrap();

        let summary: Vec<String> = plan
            .changes
            .iter()
            .map(|c| match &c.action {
                FileAction::Remove => format!("rm {}", c.path),
                FileAction::Write { meta, content } => format!(
                    "{} {:o} {}{}{}",
                    if meta.kind == EntryKind::Hardlink { 'h' } else { meta.kind.letter() },
                    meta.mode,
                    c.path,
                    meta.link.as_deref().map(|l| format!(" -> {l}")).unwrap_or_default(),
                    content.as_ref().map(|s| format!(" ({} bytes)", s.len())).unwrap_or_default()
                ),
            })
            .collect();
        assert_eq!(
            summary,
            [
                "- 644 etc/demo.conf (4 bytes)",
                "- 644 etc/kept.conf.dpkg-dist (9 bytes)",
                "- 4755 usr/lib/demo/libdemo.so.1 (8 bytes)",
                "l 777 usr/lib/demo/libdemo.so -> libdemo.so.1",
                "d 755 usr/share",
                "d 700 usr/share/demo",
                "- 644 usr/share/demo/a (2 bytes)",
                "h 644 usr/share/demo/b -> usr/share/demo/a",
                "rm usr/lib/demo/dropped",
            ]
        );
        assert_eq!(
            plan.conffile_outcomes.iter().map(|o| (o.path.as_str(), o.action)).collect::<Vec<_>>(),
            [
                ("/etc/demo.conf", ConffileAction::Replaced),
                ("/etc/kept.conf", ConffileAction::KeptDistWritten),
                ("/etc/deleted.conf", ConffileAction::StaysDeleted),
            ]
        );
        assert_eq!(plan.conffiles[1], conf("/etc/kept.conf", b"new kept\n"));
        assert_eq!(plan.listed[..3], ["/.".to_owned(), "/etc".to_owned(), "/etc/demo.conf".to_owned()]);
        // What was spooled comes back.
        let FileAction::Write { content: Some(c), .. } = &plan.changes[2].action else { panic!() };
        let mut bytes = Vec::new();
        spool.reader(c).unwrap().read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes, b"new lib\n");
    }

    #[test]
    fn entries_that_cannot_be_placed_are_refused() {
        let img = image(&[vec![("etc", file(b"not a dir\n"), b"not a dir\n")]]);
        let earlier = BTreeMap::new();
        let installed = Installed::new_package(&earlier);
        let data = data_tar(&[("./etc/", EntryMeta::dir(0o755), b""), ("./etc/x", file(b"x"), b"x")]);
        let err = plan_package_files(&img.fs, &data[..], "x.deb", &[], &installed, &mut Spool::new().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.deb") && err.contains("etc"), "{err}");
        let data = data_tar(&[("./usr/x", file(b"x"), b"x")]);
        let err = plan_package_files(&img.fs, &data[..], "y.deb", &[], &installed, &mut Spool::new().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("y.deb") && err.contains("usr") && err.contains("exists neither"), "{err}");
    }
}
