//! Comparable filesystem trees: what an export tar holds and what an unpacked rootfs holds,
//! reduced to the properties that must agree, and readable differences between two.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::{oci_harden, sha256_reader, tool};

/// The type of a filesystem entry, as it is on disk (a tar hardlink is a regular file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A regular file (or a hardlink to one).
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A named pipe.
    Fifo,
    /// A character device.
    Char,
    /// A block device.
    Block,
}

/// What the tests compare of one path. Timestamps are deliberately absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// The type.
    pub kind: Kind,
    /// `mode & 0o7777`; `None` for symlinks (Linux has no symlink permissions).
    pub mode: Option<u32>,
    /// Numeric owner.
    pub uid: u64,
    /// Numeric group.
    pub gid: u64,
    /// Size of regular files.
    pub size: Option<u64>,
    /// Symlink target as written.
    pub link: Option<String>,
    /// sha256 of a regular file's content.
    pub sha256: Option<String>,
    /// Device numbers.
    pub device: Option<(u64, u64)>,
}

impl fmt::Display for Meta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.kind)?;
        if let Some(m) = self.mode {
            write!(f, " {m:04o}")?;
        }
        write!(f, " {}:{}", self.uid, self.gid)?;
        if let Some(s) = self.size {
            write!(f, " {s}B")?;
        }
        if let Some(h) = &self.sha256 {
            write!(f, " sha256:{}", &h[..12])?;
        }
        if let Some(l) = &self.link {
            write!(f, " -> {l}")?;
        }
        if let Some((a, b)) = self.device {
            write!(f, " dev {a},{b}")?;
        }
        Ok(())
    }
}

/// Path (relative, no leading or trailing `/`) → metadata. The root is not included.
pub type Tree = BTreeMap<String, Meta>;

fn normalize_tar_path(raw: &str) -> String {
    let mut p = raw;
    while let Some(r) = p.strip_prefix("./") {
        p = r;
    }
    p.trim_end_matches('/').to_owned()
}

/// Reads a tar file (an export) into a [`Tree`]. Hardlinks become regular files with their
/// target's content and size (their mode and owner are their own header's). Panics if a
/// path is absolute or has a `..` component (an export must be safe to extract), occurs
/// twice, or is a hardlink whose target is not an earlier regular file.
pub fn tree_from_tar(path: &Path) -> Tree {
    let file = fs::File::open(path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    let mut tree = Tree::new();
    for entry in archive.entries().expect("reading tar") {
        let mut entry = entry.unwrap_or_else(|e| panic!("{}: corrupt tar: {e}", path.display()));
        let raw = String::from_utf8(entry.path_bytes().into_owned()).expect("UTF-8 path");
        assert!(
            !raw.starts_with('/') && !raw.split('/').any(|c| c == ".."),
            "{}: unsafe path {raw:?} in the export",
            path.display()
        );
        let p = normalize_tar_path(&raw);
        if p.is_empty() || p == "." {
            continue;
        }
        let h = entry.header();
        let mode = h.mode().expect("mode") & 0o7777;
        let (uid, gid) = (h.uid().expect("uid"), h.gid().expect("gid"));
        let et = h.entry_type();
        let mut meta =
            Meta { kind: Kind::File, mode: Some(mode), uid, gid, size: None, link: None, sha256: None, device: None };
        if et.is_file() {
            meta.size = Some(entry.size());
            meta.sha256 = Some(sha256_reader(&mut entry).expect("reading tar entry"));
        } else if et.is_dir() {
            meta.kind = Kind::Dir;
        } else if et.is_symlink() {
            meta.kind = Kind::Symlink;
            meta.mode = None;
            let target = entry.link_name_bytes().expect("symlink target").into_owned();
            meta.link = Some(String::from_utf8(target).expect("UTF-8 link target"));
        } else if et.is_hard_link() {
            let target = entry.link_name_bytes().expect("hardlink target").into_owned();
            let target = normalize_tar_path(std::str::from_utf8(&target).expect("UTF-8 link target"));
            let t = tree.get(&target).filter(|t| t.kind == Kind::File).unwrap_or_else(|| {
                panic!("{}: hardlink /{p} to /{target}, which is not an earlier file", path.display())
            });
            meta.size = t.size;
            meta.sha256 = t.sha256.clone();
        } else if et.is_fifo() {
            meta.kind = Kind::Fifo;
        } else if et.is_character_special() || et.is_block_special() {
            meta.kind = if et.is_character_special() { Kind::Char } else { Kind::Block };
            let major = h.device_major().ok().flatten().unwrap_or(0);
            let minor = h.device_minor().ok().flatten().unwrap_or(0);
            meta.device = Some((major.into(), minor.into()));
        } else {
            continue; // PAX or GNU metadata records are not files
        }
        assert!(tree.insert(p.clone(), meta).is_none(), "{}: /{p} occurs twice", path.display());
    }
    tree
}

/// Walks a directory (an unpacked rootfs) into a [`Tree`], never following symlinks.
pub fn tree_from_dir(root: &Path) -> Tree {
    fn walk(root: &Path, dir: &Path, tree: &mut Tree) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
            .map(|e| e.expect("directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let md = fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("lstat {}: {e}", path.display()));
            let rel = path.strip_prefix(root).expect("below the root");
            let rel = rel.to_str().unwrap_or_else(|| panic!("non-UTF-8 path {}", rel.display())).to_owned();
            let ft = md.file_type();
            let mut meta = Meta {
                kind: Kind::File,
                mode: Some(md.mode() & 0o7777),
                uid: md.uid().into(),
                gid: md.gid().into(),
                size: None,
                link: None,
                sha256: None,
                device: None,
            };
            if ft.is_file() {
                meta.size = Some(md.len());
                let f = fs::File::open(&path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
                meta.sha256 = Some(sha256_reader(f).expect("reading a file"));
            } else if ft.is_dir() {
                meta.kind = Kind::Dir;
                walk(root, &path, tree);
            } else if ft.is_symlink() {
                meta.kind = Kind::Symlink;
                meta.mode = None;
                let target = fs::read_link(&path).expect("readlink");
                meta.link = Some(target.to_str().expect("UTF-8 link target").to_owned());
            } else if ft.is_fifo() {
                meta.kind = Kind::Fifo;
            } else if ft.is_char_device() || ft.is_block_device() {
                meta.kind = if ft.is_char_device() { Kind::Char } else { Kind::Block };
                let rdev = md.rdev();
                let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
                let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
                meta.device = Some((major, minor));
            } else {
                panic!("{}: unexpected file type {ft:?}", path.display());
            }
            tree.insert(rel, meta);
        }
    }
    let mut tree = Tree::new();
    walk(root, root, &mut tree);
    tree
}

/// The differences between two trees, one line each (`left` and `right` name the sides).
pub fn diff_trees(left_name: &str, left: &Tree, right_name: &str, right: &Tree) -> Vec<String> {
    let keys: BTreeSet<&String> = left.keys().chain(right.keys()).collect();
    let mut out = Vec::new();
    for k in keys {
        match (left.get(k), right.get(k)) {
            (Some(a), None) => out.push(format!("/{k}: only in {left_name} ({a})")),
            (None, Some(b)) => out.push(format!("/{k}: only in {right_name} ({b})")),
            (Some(a), Some(b)) if a != b => out.push(format!("/{k}: {left_name} has {a}, {right_name} has {b}")),
            _ => {}
        }
    }
    out
}

/// A readable report of the first 20 differences between two trees, if they differ.
pub fn tree_mismatch(what: &str, left_name: &str, left: &Tree, right_name: &str, right: &Tree) -> Option<String> {
    let diff = diff_trees(left_name, left, right_name, right);
    (!diff.is_empty()).then(|| {
        let shown: Vec<&str> = diff.iter().take(20).map(String::as_str).collect();
        format!(
            "{what}: {} difference(s) between {left_name} ({} paths) and {right_name} ({} paths); first {}:\n  {}",
            diff.len(),
            left.len(),
            right.len(),
            shown.len(),
            shown.join("\n  ")
        )
    })
}

/// Panics with a readable diff (the first 20 differences) unless the trees are equal.
#[track_caller]
pub fn assert_same_tree(what: &str, left_name: &str, left: &Tree, right_name: &str, right: &Tree) {
    if let Some(report) = tree_mismatch(what, left_name, left, right_name, right) {
        panic!("{report}");
    }
}

/// The paths `oci-harden ls --long` prints (parsing `MODE UID/GID SIZE DATE TIME PATH[/] [-> T]`).
pub fn ls_long_paths(output: &str) -> BTreeSet<String> {
    output
        .lines()
        .map(|line| {
            let mut rest = line;
            let mut first = "";
            for i in 0..5 {
                rest = rest.trim_start();
                let end = rest.find(' ').unwrap_or_else(|| panic!("short ls --long line {line:?}"));
                if i == 0 {
                    first = &rest[..end];
                }
                rest = &rest[end + 1..];
            }
            let path = match first.chars().next() {
                Some('l') => rest.split_once(" -> ").map_or(rest, |(p, _)| p),
                _ => rest.split_once(" link to ").map_or(rest, |(p, _)| p),
            };
            path.trim_end_matches('/').to_owned()
        })
        .collect()
}

/// Unpacks `tag` of `layout` with umoci into `dir/bundle` and returns its rootfs tree.
pub fn umoci_tree(layout: &Path, tag: &str, dir: &Path) -> Tree {
    let bundle = dir.join("bundle");
    tool(
        "umoci",
        &[OsStr::new("unpack"), OsStr::new("--image"), oci_image_arg(layout, tag).as_os_str(), bundle.as_os_str()],
    )
    .ok();
    tree_from_dir(&bundle.join("rootfs"))
}

fn oci_image_arg(layout: &Path, tag: &str) -> PathBuf {
    let mut s = layout.as_os_str().to_owned();
    s.push(":");
    s.push(tag);
    PathBuf::from(s)
}

/// Exports `reference` with `oci-harden export` into `dir/export.tar` and returns its tree.
pub fn export_tree(reference: &str, dir: &Path) -> Tree {
    fs::create_dir_all(dir).expect("mkdir -p");
    let out = dir.join("export.tar");
    oci_harden(&[OsStr::new("export"), OsStr::new(reference), out.as_os_str()]).ok();
    tree_from_tar(&out)
}
