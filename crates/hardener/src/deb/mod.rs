//! Debian binary packages (`.deb`, deb(5)) read without dpkg: the `ar` container, the control
//! archive (fields, `md5sums`, `conffiles`, maintainer scripts, `triggers`, `shlibs`,
//! `symbols`) and the data archive streamed entry by entry.
//!
//! A `.deb` is only read as a [`VerifiedDeb`], which exists only once the whole file matched
//! the size and SHA256 its `Packages` entry promised.

pub(crate) mod ar;

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use oci_core::{EntryKind, TarEntry};
use sha2::{Digest, Sha256};

use crate::apt::deb822::Paragraph;
use crate::apt::{AptError, AptResult, Compression};

/// Decompressed control archives larger than this are refused (real ones are a few MiB at
/// most).
pub const MAX_CONTROL_SIZE: u64 = 64 << 20;

/// A `.deb` whose size and SHA256 matched what the repository promised.
///
/// # Example
/// ```no_run
/// use hardener::{PackageEntry, VerifiedDeb};
///
/// # fn show(entry: &PackageEntry) -> Result<(), Box<dyn std::error::Error>> {
/// let deb = VerifiedDeb::open("libssl3.deb".as_ref(), entry.size, &entry.sha256)?;
/// let control = deb.control()?;
/// println!("{:?} scripts: {:?}", control.fields()?.get("Version"), control.scripts().map(|s| &s.name).collect::<Vec<_>>());
/// deb.data(|e| {
///     println!("{} {}", e.meta.mode_string(), e.path);
///     Ok(())
/// })?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct VerifiedDeb {
    file: File,
    name: String,
    size: u64,
    sha256: String,
    control: ar::Member,
    data: ar::Member,
}

/// The names maintainer scripts have in the control archive.
pub const MAINTAINER_SCRIPTS: [&str; 5] = ["preinst", "postinst", "prerm", "postrm", "config"];

/// One file of the control archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlMember {
    /// Its name (`control`, `md5sums`, `postinst`…).
    pub name: String,
    /// Its permission bits.
    pub mode: u32,
    /// Its content.
    pub data: Vec<u8>,
}

/// One line of the `conffiles` control file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conffile {
    /// The absolute path (`/etc/foo.conf`).
    pub path: String,
    /// The `remove-on-upgrade` flag: the file is to be removed on upgrade.
    pub remove_on_upgrade: bool,
}

/// The control archive of a `.deb`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebControl {
    deb: String,
    control: String,
    members: Vec<ControlMember>,
}

impl DebControl {
    /// The `control` file's text.
    pub fn control_text(&self) -> &str {
        &self.control
    }

    /// The `control` file parsed (its single paragraph).
    pub fn fields(&self) -> AptResult<Paragraph<'_>> {
        let name = format!("{}: control", self.deb);
        Paragraph::parse(&self.control, &name, 1, false)?.ok_or_else(|| AptError::Deb {
            deb: self.deb.clone(),
            entry: Some("control".into()),
            reason: "empty".into(),
        })
    }

    /// Every member of the control archive, in archive order, `control` included.
    pub fn members(&self) -> &[ControlMember] {
        &self.members
    }

    /// The member called `name`.
    pub fn member(&self, name: &str) -> Option<&ControlMember> {
        self.members.iter().find(|m| m.name == name)
    }

    /// The maintainer scripts present (`preinst`, `postinst`, `prerm`, `postrm`, `config`),
    /// with their bytes.
    pub fn scripts(&self) -> impl Iterator<Item = &ControlMember> {
        self.members.iter().filter(|m| MAINTAINER_SCRIPTS.contains(&m.name.as_str()))
    }

    fn text(&self, name: &str) -> AptResult<Option<&str>> {
        self.member(name)
            .map(|m| {
                std::str::from_utf8(&m.data).map_err(|_| AptError::Deb {
                    deb: self.deb.clone(),
                    entry: Some(name.into()),
                    reason: "not UTF-8 text".into(),
                })
            })
            .transpose()
    }

    /// The `triggers` file, when there is one.
    pub fn triggers(&self) -> AptResult<Option<&str>> {
        self.text("triggers")
    }

    /// The `shlibs` file, when there is one.
    pub fn shlibs(&self) -> AptResult<Option<&str>> {
        self.text("shlibs")
    }

    /// The `symbols` file, when there is one.
    pub fn symbols(&self) -> AptResult<Option<&str>> {
        self.text("symbols")
    }

    /// The `md5sums` lines as `(path, md5)`: the path relative to the root as written
    /// (`usr/bin/foo`), the MD5 in lower-case hex. Empty when the package has none.
    pub fn md5sums(&self) -> AptResult<Vec<(String, String)>> {
        let Some(text) = self.text("md5sums")? else { return Ok(Vec::new()) };
        let bad = |n: usize, why: String| AptError::Deb {
            deb: self.deb.clone(),
            entry: Some("md5sums".into()),
            reason: format!("line {n}: {why}"),
        };
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                let (md5, path) = l.split_once(' ').ok_or_else(|| bad(i + 1, format!("{l:?} is not \"MD5  PATH\"")))?;
                let path = path.trim_start_matches(' ');
                if md5.len() != 32 || !md5.bytes().all(|b| b.is_ascii_hexdigit()) || path.is_empty() {
                    return Err(bad(i + 1, format!("{l:?} is not \"MD5  PATH\"")));
                }
                Ok((path.to_owned(), md5.to_ascii_lowercase()))
            })
            .collect()
    }

    /// The `conffiles` entries, in file order. Empty when the package has none.
    pub fn conffiles(&self) -> AptResult<Vec<Conffile>> {
        let Some(text) = self.text("conffiles")? else { return Ok(Vec::new()) };
        text.lines()
            .enumerate()
            .map(|(i, l)| (i, l.trim()))
            .filter(|(_, l)| !l.is_empty())
            .map(|(i, l)| {
                let (flag, path) = match l.split_once(' ') {
                    Some((flag, path)) => (Some(flag), path.trim()),
                    None => (None, l),
                };
                if !path.starts_with('/') || flag.is_some_and(|f| f != "remove-on-upgrade") {
                    return Err(AptError::Deb {
                        deb: self.deb.clone(),
                        entry: Some("conffiles".into()),
                        reason: format!("line {}: {l:?} is not \"[remove-on-upgrade] /PATH\"", i + 1),
                    });
                }
                Ok(Conffile { path: path.to_owned(), remove_on_upgrade: flag.is_some() })
            })
            .collect()
    }
}

fn deb_err(deb: &str, entry: Option<&str>, reason: impl Into<String>) -> AptError {
    AptError::Deb { deb: deb.to_owned(), entry: entry.map(str::to_owned), reason: reason.into() }
}

/// Maps `oci_core`'s tar errors onto the package and member concerned.
fn tar_err(deb: &str, member: &str, e: oci_core::Error) -> AptError {
    match e {
        oci_core::Error::UnsafeEntry { path, reason, .. } => {
            deb_err(deb, Some(&path), format!("{reason} (in {member}; refused)"))
        }
        oci_core::Error::CorruptLayer { source, .. } => deb_err(deb, Some(member), format!("corrupt: {source}")),
        other => deb_err(deb, Some(member), other.to_string()),
    }
}

impl VerifiedDeb {
    /// Opens the `.deb` at `path` and checks its size and SHA256 (lower-case or upper-case hex)
    /// against the `Packages` entry's before anything in it is used.
    pub fn open(path: &Path, size: u64, sha256: &str) -> AptResult<VerifiedDeb> {
        let file = File::open(path).map_err(|e| AptError::io(format!("opening {}", path.display()), e))?;
        VerifiedDeb::from_file(file, &path.display().to_string(), size, sha256)
    }

    /// As [`VerifiedDeb::open`], for an open file; `name` names it in errors.
    pub fn from_file(file: File, name: &str, size: u64, sha256: &str) -> AptResult<VerifiedDeb> {
        let len = file.metadata().map_err(|e| AptError::io(format!("reading {name}"), e))?.len();
        if len != size {
            return Err(AptError::Mismatch {
                file: name.to_owned(),
                what: "size",
                expected: size.to_string(),
                actual: len.to_string(),
            });
        }
        let mut hasher = Sha256::new();
        let mut reader = ar::RangeReader::new(&file, 0, len);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = reader.read(&mut buf).map_err(|e| AptError::io(format!("reading {name}"), e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let actual = hex::encode(hasher.finalize());
        if !actual.eq_ignore_ascii_case(sha256) {
            return Err(AptError::Mismatch {
                file: name.to_owned(),
                what: "SHA256",
                expected: sha256.to_ascii_lowercase(),
                actual,
            });
        }
        let members = ar::members(&file, len).map_err(|r| deb_err(name, None, r))?;
        let (control, data) = check_layout(&file, name, &members)?;
        Ok(VerifiedDeb { file, name: name.to_owned(), size, sha256: actual, control, data })
    }

    /// The name given at opening (the path or URL).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verified size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The verified SHA256, lower-case hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The `ar` member names of the control and data archives (`control.tar.xz`,
    /// `data.tar.xz`).
    pub fn member_names(&self) -> (&str, &str) {
        (&self.control.name, &self.data.name)
    }

    fn member_stream(&self, member: &ar::Member) -> AptResult<Box<dyn Read + '_>> {
        let compression = member_compression(&self.name, &member.name)?;
        compression
            .decoder(ar::RangeReader::new(&self.file, member.offset, member.size))
            .map_err(|e| deb_err(&self.name, Some(&member.name), format!("cannot decompress: {e}")))
    }

    /// Reads the control archive.
    pub fn control(&self) -> AptResult<DebControl> {
        let member = &self.control.name;
        let stream = self.member_stream(&self.control)?.take(MAX_CONTROL_SIZE + 1);
        let mut members = Vec::new();
        let mut total = 0u64;
        let mut failed = None;
        let read = oci_core::read_entries(stream, member, |e| {
            let mut check = || -> AptResult<Option<ControlMember>> {
                match e.meta.kind {
                    EntryKind::Dir if e.path.is_empty() => return Ok(None),
                    EntryKind::File => {}
                    _ => {
                        return Err(deb_err(
                            &self.name,
                            Some(&e.path),
                            format!("unexpected {:?} in {member}", e.meta.kind),
                        ));
                    }
                }
                if e.path.contains('/') {
                    return Err(deb_err(&self.name, Some(&e.path), format!("nested path in {member}")));
                }
                total += e.meta.size;
                if total > MAX_CONTROL_SIZE {
                    return Err(deb_err(&self.name, Some(member), "control archive larger than 64 MiB"));
                }
                let mut data = Vec::with_capacity(usize::try_from(e.meta.size).unwrap_or(0));
                e.data().read_to_end(&mut data).map_err(|err| deb_err(&self.name, Some(&e.path), err.to_string()))?;
                Ok(Some(ControlMember { name: e.path.clone(), mode: e.meta.mode, data }))
            };
            match check() {
                Ok(m) => {
                    members.extend(m);
                    Ok(())
                }
                Err(err) => {
                    failed = Some(err);
                    Err(oci_core::Error::io("", io::Error::other("stopped")))
                }
            }
        });
        if let Some(err) = failed {
            return Err(err);
        }
        read.map_err(|e| tar_err(&self.name, member, e))?;
        let control = members
            .iter()
            .find(|m| m.name == "control")
            .ok_or_else(|| deb_err(&self.name, Some(member), "no control file in the control archive"))?;
        let control = String::from_utf8(control.data.clone())
            .map_err(|_| deb_err(&self.name, Some("control"), "not UTF-8 text"))?;
        Ok(DebControl { deb: self.name.clone(), control, members })
    }

    /// The MD5 of every regular file (and hard link, with its target's) of the data archive,
    /// in archive order, as `(path, md5)` with the path as `md5sums` writes it (`usr/bin/foo`):
    /// what dpkg records when a package ships no `md5sums`, and what a shipped one is checked
    /// against.
    pub fn file_md5sums(&self) -> AptResult<Vec<(String, String)>> {
        use md5::Digest as _;
        let mut out: Vec<(String, String)> = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        self.data(|e| {
            match e.meta.kind {
                EntryKind::File => {
                    let mut hasher = md5::Md5::new();
                    loop {
                        let n = e
                            .data()
                            .read(&mut buf)
                            .map_err(|err| deb_err(&self.name, Some(&e.path), err.to_string()))?;
                        if n == 0 {
                            break;
                        }
                        hasher.update(&buf[..n]);
                    }
                    out.push((e.path.clone(), hex::encode(hasher.finalize())));
                }
                EntryKind::Hardlink => {
                    let target = e.meta.link.as_deref().unwrap_or("");
                    let md5 = out.iter().find(|(p, _)| p == target).map(|(_, m)| m.clone()).ok_or_else(|| {
                        deb_err(&self.name, Some(&e.path), format!("hard link to {target:?}, not a file before it"))
                    })?;
                    out.push((e.path.clone(), md5));
                }
                _ => {}
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Streams the data archive's entries in order, with normalised paths (`usr/bin/foo`, `""`
    /// for `./`), calling `visit` on each; see [`oci_core::read_entries`].
    ///
    /// # Security
    /// Refused with an error naming the package and entry: absolute paths or `..` components,
    /// hard links whose target escapes the root or is not a regular file earlier in the same
    /// package (a link into the rest of the image), and entries below a symlink this package
    /// itself created (writing through it could land outside the root).
    pub fn data(&self, visit: impl FnMut(&mut TarEntry<'_>) -> AptResult<()>) -> AptResult<()> {
        self.data_from(self.data_reader()?, visit)
    }

    /// The data archive's tar stream, decompressed as it is read: for
    /// [`VerifiedDeb::data_from`], or to decompress it ahead into a file.
    ///
    /// # Errors
    /// [`AptError::Deb`] when the member's compression is not supported.
    pub fn data_reader(&self) -> AptResult<Box<dyn Read + '_>> {
        self.member_stream(&self.data)
    }

    /// Decompresses the data archive into `out` (to be read later by [`VerifiedDeb::data_from`],
    /// e.g. while another package is being placed); returns the bytes written.
    ///
    /// # Errors
    /// [`AptError::Deb`] when the member does not decompress, or `out` cannot be written.
    pub fn decompress_data(&self, out: &mut dyn io::Write) -> AptResult<u64> {
        let member = &self.data.name;
        io::copy(&mut self.data_reader()?, out)
            .map_err(|e| deb_err(&self.name, Some(member), format!("cannot decompress: {e}")))
    }

    /// [`VerifiedDeb::data`], reading the data archive already decompressed from `decoded`
    /// (what [`VerifiedDeb::decompress_data`] wrote); the same checks apply.
    pub fn data_from(
        &self,
        decoded: impl Read,
        mut visit: impl FnMut(&mut TarEntry<'_>) -> AptResult<()>,
    ) -> AptResult<()> {
        let member = &self.data.name;
        let stream = decoded;
        let mut symlinks: HashSet<String> = HashSet::new();
        let mut files: HashSet<String> = HashSet::new();
        let mut failed = None;
        let read = oci_core::read_entries(stream, member, |e| {
            let mut check = || -> AptResult<()> {
                let mut prefix = e.path.as_str();
                while let Some((parent, _)) = prefix.rsplit_once('/') {
                    if symlinks.contains(parent) {
                        return Err(deb_err(
                            &self.name,
                            Some(&e.path),
                            format!("lies below {parent:?}, a symlink of the same package (refused)"),
                        ));
                    }
                    prefix = parent;
                }
                match e.meta.kind {
                    EntryKind::Symlink => {
                        symlinks.insert(e.path.clone());
                    }
                    EntryKind::File => {
                        files.insert(e.path.clone());
                    }
                    EntryKind::Hardlink => {
                        let target = e.meta.link.as_deref().unwrap_or("");
                        if !files.contains(target) {
                            return Err(deb_err(
                                &self.name,
                                Some(&e.path),
                                format!(
                                    "hard link to {target:?}, which is not a file earlier in the package (refused)"
                                ),
                            ));
                        }
                    }
                    _ => {}
                }
                visit(e)
            };
            check().map_err(|err| {
                failed = Some(err);
                oci_core::Error::io("", io::Error::other("stopped"))
            })
        });
        if let Some(err) = failed {
            return Err(err);
        }
        read.map_err(|e| tar_err(&self.name, member, e))
    }
}

fn member_compression(deb: &str, name: &str) -> AptResult<Compression> {
    Compression::from_name(name)
        .map_err(|ext| deb_err(deb, Some(name), format!("{ext} compression is not supported (gz, xz, zst or none)")))
}

/// Checks the member layout dpkg requires: `debian-binary` (format 2.x) first, then the
/// control archive, then the data archive; members starting with `_` are ignored.
fn check_layout(file: &File, deb: &str, members: &[ar::Member]) -> AptResult<(ar::Member, ar::Member)> {
    let mut iter = members.iter().filter(|m| !m.name.starts_with('_'));
    let first = iter.next().ok_or_else(|| deb_err(deb, None, "empty ar archive"))?;
    if first.name != "debian-binary" {
        return Err(deb_err(deb, Some(&first.name), "the first member must be debian-binary"));
    }
    let mut version = vec![0u8; usize::try_from(first.size.min(64)).unwrap_or(64)];
    io::Read::read_exact(&mut ar::RangeReader::new(file, first.offset, first.size), &mut version)
        .map_err(|e| deb_err(deb, Some("debian-binary"), e.to_string()))?;
    let version = String::from_utf8_lossy(&version);
    let major = version.trim_end().split('.').next().unwrap_or("");
    if major != "2" {
        return Err(deb_err(deb, Some("debian-binary"), format!("format {:?} is not 2.x", version.trim_end())));
    }
    let archive = |m: Option<&ar::Member>, base: &str| -> AptResult<ar::Member> {
        let m = m.ok_or_else(|| deb_err(deb, None, format!("no {base} member")))?;
        if m.name != base && !m.name.strip_prefix(base).is_some_and(|s| s.starts_with('.')) {
            return Err(deb_err(deb, Some(&m.name), format!("expected {base}.* here")));
        }
        member_compression(deb, &m.name)?;
        Ok(m.clone())
    };
    let control = archive(iter.next(), "control.tar")?;
    let data = archive(iter.next(), "data.tar")?;
    if let Some(extra) = iter.next() {
        return Err(deb_err(deb, Some(&extra.name), "unexpected member after data.tar"));
    }
    Ok((control, data))
}

#[cfg(test)]
pub(crate) mod tests;
