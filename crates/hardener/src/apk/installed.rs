//! `lib/apk/db/installed` records written as apk-tools' `apk_db_write_fdb` writes them: the
//! index header (`C P V A S I T U L o m t c k D p i`), then `r q s f`, then each directory
//! (`F:`, with `M:` when its owner or mode is not root 0755) and its files (`R:`, with `a:`
//! when not root 0644, and `Z:` when the file has a checksum); and a whole file rewritten with
//! one package's record replaced, every other byte kept.

use std::fmt::Write as _;

use oci_core::{EntryKind, EntryMeta};

use super::index::records;
use super::{ApkChecksum, ApkDependency, ApkError, ApkIndexEntry, ApkResult};

/// Owner, group, permission bits and xattr checksum of an installed file or directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApkAcl {
    /// Permission bits (`0o755`), setuid/setgid/sticky included.
    pub mode: u32,
    /// Numeric owner.
    pub uid: u64,
    /// Numeric group.
    pub gid: u64,
    /// The checksum of the extended attributes, when there are any.
    pub xattr: Option<ApkChecksum>,
}

impl ApkAcl {
    /// apk's default for directories: root, 0755 (no `M:` line).
    pub const DIR: ApkAcl = ApkAcl { mode: 0o755, uid: 0, gid: 0, xattr: None };
    /// apk's default for files: root, 0644 (no `a:` line).
    pub const FILE: ApkAcl = ApkAcl { mode: 0o644, uid: 0, gid: 0, xattr: None };

    fn write(&self, key: char, out: &mut String) {
        let _ = write!(out, "{key}:{}:{}:{:o}", self.uid, self.gid, self.mode);
        if let Some(x) = &self.xattr {
            let _ = write!(out, ":{x}");
        }
        out.push('\n');
    }

    fn parse(value: &str) -> Result<ApkAcl, String> {
        let bad = || format!("{value:?} is not uid:gid:mode[:xattr checksum]");
        let mut parts = value.split(':');
        let uid = parts.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let gid = parts.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let mode = parts.next().and_then(|v| u32::from_str_radix(v, 8).ok()).ok_or_else(bad)?;
        let xattr = parts.next().map(|x| x.parse::<ApkChecksum>()).transpose()?;
        if parts.next().is_some() || mode > 0o7777 {
            return Err(bad());
        }
        Ok(ApkAcl { mode, uid, gid, xattr })
    }
}

/// A file (`R:`) an installed package owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledFile {
    /// The name within its directory.
    pub name: String,
    /// `a:` (written when not [`ApkAcl::FILE`]).
    pub acl: ApkAcl,
    /// `Z:`: the content's (or symlink target's) checksum.
    pub checksum: Option<ApkChecksum>,
}

/// A directory (`F:`) an installed package owns, with its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledDir {
    /// The path without leading or trailing `/` (`usr/bin`; `""` for the root).
    pub name: String,
    /// `M:` (written when not [`ApkAcl::DIR`]).
    pub acl: ApkAcl,
    /// The files, in order.
    pub files: Vec<InstalledFile>,
}

/// One package's record in `lib/apk/db/installed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledRecord {
    /// The index fields (`C P V A S I T U L o m t c k D p i`).
    pub package: ApkIndexEntry,
    /// `r:`: the packages whose files this one may replace.
    pub replaces: Vec<ApkDependency>,
    /// `q:` (0 when absent).
    pub replaces_priority: u64,
    /// `s:`: the repository tag it was installed from.
    pub repository_tag: Option<String>,
    /// `f:`: the broken-state letters (`f`, `s`, `x`, `S`), empty when none.
    pub broken: String,
    /// The directories and their files, in order.
    pub dirs: Vec<InstalledDir>,
}

impl InstalledRecord {
    /// A record with no files for `package`.
    pub fn new(package: ApkIndexEntry) -> InstalledRecord {
        InstalledRecord {
            package,
            replaces: Vec::new(),
            replaces_priority: 0,
            repository_tag: None,
            broken: String::new(),
            dirs: Vec::new(),
        }
    }

    /// Records one data entry of the package as apk-tools' `apk_db_install_archive_entry`
    /// does: a directory sets its directory's `M:`, any other entry becomes an `R:` of the
    /// directory named before it (hard links take their target's checksum); `.keep_*` files
    /// are skipped.
    ///
    /// # Errors
    /// [`ApkError::Archive`] naming the entry when its directory has no entry before it
    /// (apk-tools marks such a package broken), for a hard link to an unknown file, and for
    /// extended attributes (not supported yet).
    pub fn add_entry(&mut self, path: &str, meta: &EntryMeta, checksum: Option<ApkChecksum>) -> ApkResult<()> {
        let name = &self.package.name;
        let refuse = |why: &str| ApkError::archive(name, Some(path), why.to_owned());
        if !meta.xattrs.is_empty() {
            return Err(refuse("extended attributes are not supported in the database yet"));
        }
        let acl = ApkAcl { mode: meta.mode & 0o7777, uid: meta.uid, gid: meta.gid, xattr: None };
        if meta.kind == EntryKind::Dir {
            let dir = path.trim_end_matches('/');
            match self.dirs.iter_mut().find(|d| d.name == dir) {
                Some(d) => d.acl = acl,
                None => self.dirs.push(InstalledDir { name: dir.to_owned(), acl, files: Vec::new() }),
            }
            return Ok(());
        }
        let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
        if file.starts_with(".keep_") && file.len() > 6 {
            return Ok(());
        }
        let checksum = if meta.kind == EntryKind::Hardlink {
            let target = meta.link.as_deref().unwrap_or("");
            let (tdir, tfile) = target.rsplit_once('/').unwrap_or(("", target));
            let t = self.dirs.iter().find(|d| d.name == tdir).and_then(|d| d.files.iter().find(|f| f.name == tfile));
            t.ok_or_else(|| refuse("hard link to a file not recorded before it"))?.checksum
        } else {
            checksum
        };
        let d = match self.dirs.iter().position(|d| d.name == dir) {
            Some(i) => &mut self.dirs[i],
            None if dir.is_empty() => {
                self.dirs.push(InstalledDir { name: String::new(), acl: ApkAcl::DIR, files: Vec::new() });
                self.dirs.last_mut().expect("just pushed")
            }
            None => return Err(refuse("no directory entry before it in the package")),
        };
        d.files.push(InstalledFile { name: file.to_owned(), acl, checksum });
        Ok(())
    }

    /// The record's text, each line ending in `\n`, followed by the blank line that ends it.
    pub fn write(&self, out: &mut String) {
        self.package.write_header(out);
        if !self.replaces.is_empty() {
            let list: Vec<String> = self.replaces.iter().map(ToString::to_string).collect();
            let _ = writeln!(out, "r:{}", list.join(" "));
        }
        if self.replaces_priority != 0 {
            let _ = writeln!(out, "q:{}", self.replaces_priority);
        }
        if let Some(tag) = &self.repository_tag {
            let _ = writeln!(out, "s:{tag}");
        }
        if !self.broken.is_empty() {
            let _ = writeln!(out, "f:{}", self.broken);
        }
        for dir in &self.dirs {
            let _ = writeln!(out, "F:{}", dir.name);
            if dir.acl != ApkAcl::DIR {
                dir.acl.write('M', out);
            }
            for file in &dir.files {
                let _ = writeln!(out, "R:{}", file.name);
                if file.acl != ApkAcl::FILE {
                    file.acl.write('a', out);
                }
                if let Some(z) = &file.checksum {
                    let _ = writeln!(out, "Z:{z}");
                }
            }
        }
        out.push('\n');
    }

    /// Parses one record of `installed` (`text` holds exactly one record). `file` names the
    /// database in errors, with the line numbers of `text`.
    ///
    /// # Errors
    /// [`ApkError::Parse`] with the line: the errors of the index fields, an `M:`, `R:`, `a:`
    /// or `Z:` out of place, a bad ACL or checksum, an unknown field.
    pub fn parse(text: &str, file: &str) -> ApkResult<InstalledRecord> {
        let mut all = records(text, file)?;
        if all.len() != 1 {
            return Err(ApkError::parse(file, None, format!("{} records where one was expected", all.len())));
        }
        let fields = all.remove(0);
        let header: Vec<_> = fields.iter().copied().filter(|f| "CPVASITULomtckDpi".contains(f.1)).collect();
        let mut rec = InstalledRecord::new(ApkIndexEntry::from_fields(file, &header)?);
        for &(line, key, value) in &fields {
            let err = |why: String| ApkError::parse(file, Some(line), why);
            let last_dir = |rec: &mut InstalledRecord| -> ApkResult<usize> {
                rec.dirs.len().checked_sub(1).ok_or_else(|| err(format!("{key}: before any F:")))
            };
            match key {
                k if "CPVASITULomtckDpi".contains(k) => {}
                'r' => rec.replaces = ApkDependency::parse_list(value).map_err(err)?,
                'q' => rec.replaces_priority = value.parse().map_err(|_| err(format!("q: {value:?}")))?,
                's' => rec.repository_tag = Some(value.to_owned()),
                'f' => rec.broken = value.to_owned(),
                'F' => rec.dirs.push(InstalledDir { name: value.to_owned(), acl: ApkAcl::DIR, files: Vec::new() }),
                'M' => {
                    let i = last_dir(&mut rec)?;
                    rec.dirs[i].acl = ApkAcl::parse(value).map_err(err)?;
                }
                'R' => {
                    let i = last_dir(&mut rec)?;
                    rec.dirs[i].files.push(InstalledFile { name: value.to_owned(), acl: ApkAcl::FILE, checksum: None });
                }
                'a' | 'Z' => {
                    let i = last_dir(&mut rec)?;
                    let f = rec.dirs[i].files.last_mut().ok_or_else(|| err(format!("{key}: before any R:")))?;
                    if key == 'a' {
                        f.acl = ApkAcl::parse(value).map_err(err)?;
                    } else {
                        f.checksum = Some(value.parse().map_err(|w: String| err(format!("Z: {w}")))?);
                    }
                }
                other => return Err(err(format!("unknown field {other}:"))),
            }
        }
        Ok(rec)
    }
}

/// Rewrites the text of `lib/apk/db/installed`: the record of package `name` replaced by
/// `record` (removed when `None`; added before the first record whose name sorts after it
/// when there was none, as apk-tools keeps the file sorted), every other byte kept. `file`
/// names the database in errors.
///
/// # Errors
/// [`ApkError::Parse`] when the text does not end with a blank line, or when `name` has
/// more than one record.
pub fn rewrite_installed(text: &str, file: &str, name: &str, record: Option<&InstalledRecord>) -> ApkResult<String> {
    if !text.is_empty() && !text.ends_with("\n\n") {
        return Err(ApkError::parse(file, None, "does not end with a blank line (truncated?)"));
    }
    // Blocks as byte ranges, each with its trailing blank line.
    let mut blocks: Vec<(&str, Option<&str>)> = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest.find("\n\n").map_or(rest.len(), |i| i + 2);
        let (block, tail) = rest.split_at(end);
        let pname = block.lines().find_map(|l| l.strip_prefix("P:"));
        blocks.push((block, pname));
        rest = tail;
    }
    let matches = blocks.iter().filter(|(_, p)| *p == Some(name)).count();
    if matches > 1 {
        return Err(ApkError::parse(file, None, format!("{matches} records of package {name}")));
    }
    let new = record.map(|r| {
        let mut s = String::new();
        r.write(&mut s);
        s
    });
    let mut out = String::with_capacity(text.len() + new.as_ref().map_or(0, String::len));
    let mut placed = matches == 1 || new.is_none();
    for (block, pname) in blocks {
        if pname == Some(name) {
            out.push_str(new.as_deref().unwrap_or(""));
            continue;
        }
        if !placed && pname.is_some_and(|p| p > name) {
            out.push_str(new.as_deref().unwrap_or(""));
            placed = true;
        }
        out.push_str(block);
    }
    if !placed {
        out.push_str(new.as_deref().unwrap_or(""));
    }
    Ok(out)
}
