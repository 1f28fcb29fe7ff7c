//! Tar entries of layers: their metadata, safe path normalisation, and reading a stream.

use std::collections::BTreeMap;
use std::io::{self, Read};

use crate::tar_guard::TarGuard;
use crate::{Error, Result};

/// The type of a filesystem entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A hard link to another entry.
    Hardlink,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A named pipe.
    Fifo,
}

impl EntryKind {
    /// The letter `ls -l` shows.
    pub fn letter(self) -> char {
        match self {
            EntryKind::File | EntryKind::Hardlink => '-',
            EntryKind::Dir => 'd',
            EntryKind::Symlink => 'l',
            EntryKind::CharDevice => 'c',
            EntryKind::BlockDevice => 'b',
            EntryKind::Fifo => 'p',
        }
    }

    pub(crate) fn tar_type(self) -> tar::EntryType {
        match self {
            EntryKind::File => tar::EntryType::Regular,
            EntryKind::Dir => tar::EntryType::Directory,
            EntryKind::Symlink => tar::EntryType::Symlink,
            EntryKind::Hardlink => tar::EntryType::Link,
            EntryKind::CharDevice => tar::EntryType::Char,
            EntryKind::BlockDevice => tar::EntryType::Block,
            EntryKind::Fifo => tar::EntryType::Fifo,
        }
    }
}

/// The metadata of one filesystem entry, as a tar header carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryMeta {
    /// The type.
    pub kind: EntryKind,
    /// Permission bits, including setuid/setgid/sticky (`0o7777` at most).
    pub mode: u32,
    /// Numeric owner.
    pub uid: u64,
    /// Numeric group.
    pub gid: u64,
    /// Content size (regular files only; 0 otherwise).
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: u64,
    /// Symlink target as written, or a hardlink's target path (normalised).
    pub link: Option<String>,
    /// Device major and minor numbers.
    pub device: Option<(u32, u32)>,
    /// Extended attributes (`security.capability`, …).
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

impl EntryMeta {
    /// A directory owned by root with the given mode.
    pub fn dir(mode: u32) -> EntryMeta {
        EntryMeta {
            kind: EntryKind::Dir,
            mode,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 0,
            link: None,
            device: None,
            xattrs: BTreeMap::new(),
        }
    }

    /// A regular file owned by root.
    pub fn file(mode: u32, size: u64) -> EntryMeta {
        EntryMeta { kind: EntryKind::File, size, ..EntryMeta::dir(mode) }
    }

    /// A symlink owned by root.
    pub fn symlink(target: &str) -> EntryMeta {
        EntryMeta { kind: EntryKind::Symlink, link: Some(target.to_owned()), ..EntryMeta::dir(0o777) }
    }

    /// The mode as `ls -l` prints it (`drwxr-xr-x`).
    pub fn mode_string(&self) -> String {
        let m = self.mode;
        let mut s = String::with_capacity(10);
        s.push(self.kind.letter());
        let bit = |mask: u32, c: char| if m & mask != 0 { c } else { '-' };
        let exec = |x: u32, special: u32, set: char, unset: char| match (m & x != 0, m & special != 0) {
            (true, true) => set,
            (false, true) => unset,
            (true, false) => 'x',
            (false, false) => '-',
        };
        s.push(bit(0o400, 'r'));
        s.push(bit(0o200, 'w'));
        s.push(exec(0o100, 0o4000, 's', 'S'));
        s.push(bit(0o040, 'r'));
        s.push(bit(0o020, 'w'));
        s.push(exec(0o010, 0o2000, 's', 'S'));
        s.push(bit(0o004, 'r'));
        s.push(bit(0o002, 'w'));
        s.push(exec(0o001, 0o1000, 't', 'T'));
        s
    }
}

/// The OCI whiteout prefix.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// The OCI opaque-directory marker.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// Normalises a tar entry path to a relative path without `.` components or trailing
/// slash (`""` is the root).
///
/// # Security
/// Refuses absolute paths, `..` components, NUL bytes and non-UTF-8 names, so no entry
/// can name anything outside the image root.
pub fn normalize_path(raw: &str) -> std::result::Result<String, &'static str> {
    if raw.contains('\0') {
        return Err("path contains a NUL byte");
    }
    let mut rest = raw;
    while let Some(r) = rest.strip_prefix("./") {
        rest = r;
    }
    if rest == "." {
        return Ok(String::new());
    }
    if rest.starts_with('/') {
        return Err("absolute path");
    }
    let mut out = String::with_capacity(rest.len());
    for component in rest.split('/') {
        match component {
            "" | "." => {}
            ".." => return Err("path contains a '..' component"),
            c => {
                if !out.is_empty() {
                    out.push('/');
                }
                out.push_str(c);
            }
        }
    }
    Ok(out)
}

/// One entry read from a layer.
pub struct TarEntry<'a> {
    /// The normalised path (see [`normalize_path`]).
    pub path: String,
    /// The metadata.
    pub meta: EntryMeta,
    /// Position of the entry in the layer (0-based, counting only real entries).
    pub index: u64,
    pub(crate) data: &'a mut dyn Read,
}

impl TarEntry<'_> {
    /// The entry's content (regular files).
    pub fn data(&mut self) -> &mut dyn Read {
        self.data
    }
}

/// Reads every entry of an uncompressed tar stream, in order, calling `visit` on each.
/// The stream is read to its end afterwards, so that readers that verify digests at the
/// end (see [`crate::Image::open_layer`]) run their checks. `what` names the layer in errors.
///
/// # Security
/// Entries with unsafe paths (absolute, `..`) and hardlinks whose targets are unsafe are
/// refused with [`Error::UnsafeEntry`]. Symlink targets are recorded as written and never
/// followed here.
pub fn read_entries<R: Read>(
    stream: R,
    what: &str,
    mut visit: impl FnMut(&mut TarEntry<'_>) -> Result<()>,
) -> Result<()> {
    let corrupt = |source: io::Error| match Error::io(String::new(), source) {
        Error::Io { source, .. } => Error::CorruptLayer { layer: what.to_owned(), source },
        other => other,
    };
    let mut archive = tar::Archive::new(TarGuard::new(stream, what));
    let mut index = 0u64;
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let header_type = entry.header().entry_type();
        let kind = match header_type {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => EntryKind::File,
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Symlink => EntryKind::Symlink,
            tar::EntryType::Link => EntryKind::Hardlink,
            tar::EntryType::Char => EntryKind::CharDevice,
            tar::EntryType::Block => EntryKind::BlockDevice,
            tar::EntryType::Fifo => EntryKind::Fifo,
            // Global PAX headers and other metadata-only records carry no file.
            _ => continue,
        };
        let raw_path = entry.path_bytes();
        let raw_path = std::str::from_utf8(&raw_path)
            .map_err(|_| Error::UnsafeEntry {
                layer: what.to_owned(),
                path: String::from_utf8_lossy(&raw_path).into_owned(),
                reason: "path is not valid UTF-8".into(),
            })?
            .to_owned();
        let unsafe_entry = |reason: &str| Error::UnsafeEntry {
            layer: what.to_owned(),
            path: raw_path.clone(),
            reason: reason.to_owned(),
        };
        let path = normalize_path(&raw_path).map_err(unsafe_entry)?;
        let header = entry.header();
        let mut meta = EntryMeta {
            kind,
            mode: header.mode().map_err(corrupt)? & 0o7777,
            uid: header.uid().map_err(corrupt)?,
            gid: header.gid().map_err(corrupt)?,
            size: if kind == EntryKind::File { entry.size() } else { 0 },
            mtime: header.mtime().unwrap_or(0),
            link: None,
            device: None,
            xattrs: BTreeMap::new(),
        };
        if matches!(kind, EntryKind::CharDevice | EntryKind::BlockDevice) {
            meta.device = Some((
                header.device_major().ok().flatten().unwrap_or(0),
                header.device_minor().ok().flatten().unwrap_or(0),
            ));
        }
        if matches!(kind, EntryKind::Symlink | EntryKind::Hardlink) {
            let target = entry.link_name_bytes().ok_or_else(|| unsafe_entry("link without a target"))?;
            let target =
                std::str::from_utf8(&target).map_err(|_| unsafe_entry("link target is not valid UTF-8"))?.to_owned();
            if target.is_empty() {
                return Err(unsafe_entry("link with an empty target"));
            }
            meta.link = Some(if kind == EntryKind::Hardlink {
                normalize_path(&target)
                    .map_err(|r| unsafe_entry(&format!("hardlink target {target:?} escapes the root: {r}")))?
            } else {
                target
            });
        }
        if let Some(pax) = entry.pax_extensions().map_err(corrupt)? {
            for ext in pax {
                let ext = ext.map_err(corrupt)?;
                let Ok(key) = ext.key() else { continue };
                let value = ext.value_bytes();
                let num = || std::str::from_utf8(value).ok()?.split('.').next()?.parse::<u64>().ok();
                match key {
                    "uid" => meta.uid = num().unwrap_or(meta.uid),
                    "gid" => meta.gid = num().unwrap_or(meta.gid),
                    "mtime" => meta.mtime = num().unwrap_or(meta.mtime),
                    _ => {
                        if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                            meta.xattrs.insert(name.to_owned(), value.to_vec());
                        }
                    }
                }
            }
        }
        let mut e = TarEntry { path, meta, index, data: &mut entry };
        visit(&mut e)?;
        index += 1;
    }
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(corrupt)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        assert_eq!(normalize_path("./etc/passwd").unwrap(), "etc/passwd");
        assert_eq!(normalize_path("etc//x/./y/").unwrap(), "etc/x/y");
        assert_eq!(normalize_path("./").unwrap(), "");
        assert_eq!(normalize_path(".").unwrap(), "");
        assert!(normalize_path("../../etc/passwd").is_err());
        assert!(normalize_path("a/../../b").is_err());
        assert!(normalize_path("/etc/passwd").is_err());
    }

    #[test]
    fn mode_strings() {
        let mut m = EntryMeta::file(0o4755, 0);
        assert_eq!(m.mode_string(), "-rwsr-xr-x");
        m.mode = 0o1777;
        m.kind = EntryKind::Dir;
        assert_eq!(m.mode_string(), "drwxrwxrwt");
    }
}
