//! `.apk` packages (apk-v2): three concatenated gzip streams — the signature stream, the
//! control stream (`.PKGINFO` and scripts, a tar without end blocks) and the data stream
//! (a tar whose files carry `APK-TOOLS.checksum.SHA1` PAX records). A [`VerifiedApk`] exists
//! only once the signature over the control stream, the control stream's SHA1 (the index's
//! `C:`), the data stream's SHA256 (`.PKGINFO`'s `datahash`), every file's checksum and
//! every entry's path were checked.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use oci_core::{EntryKind, EntryMeta, normalize_path};

use super::stream::{BUF, Tap, with_member};
use super::{ApkChecksum, ApkError, ApkKeys, ApkResult, SignatureHash, read_signatures};

/// Control streams larger than this (decompressed) are refused.
pub const MAX_APK_CONTROL_SIZE: u64 = 16 << 20;

/// The script names of a control stream, without the leading dot.
pub const APK_SCRIPTS: [&str; 7] =
    ["pre-install", "post-install", "pre-upgrade", "post-upgrade", "pre-deinstall", "post-deinstall", "trigger"];

/// A package's `.PKGINFO`: `key = value` lines in order (`#` comments dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkgInfo {
    /// The fields, in file order; keys repeat (`depend`, `provides`, `triggers`…).
    pub fields: Vec<(String, String)>,
}

impl PkgInfo {
    /// Parses `.PKGINFO`. `file` names it in errors.
    ///
    /// # Errors
    /// [`ApkError::Parse`] with the line for a line that is not `key = value`.
    pub fn parse(text: &str, file: &str) -> ApkResult<PkgInfo> {
        let mut fields = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line
                .split_once(" = ")
                .ok_or_else(|| ApkError::parse(file, Some(i + 1), format!("{line:?} is not `key = value`")))?;
            fields.push((k.to_owned(), v.to_owned()));
        }
        Ok(PkgInfo { fields })
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// `pkgname`.
    pub fn name(&self) -> Option<&str> {
        self.get("pkgname")
    }

    /// `pkgver`.
    pub fn version(&self) -> Option<&str> {
        self.get("pkgver")
    }

    /// The trigger globs (`triggers = /usr/share/fonts/* …`), split on spaces.
    pub fn triggers(&self) -> Vec<&str> {
        self.get_all("triggers").flat_map(|v| v.split_whitespace()).collect()
    }
}

/// A script of the control stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApkScript {
    /// The name without the dot (`post-install`, `trigger`).
    pub name: String,
    /// The permission bits.
    pub mode: u32,
    /// The content.
    pub data: Vec<u8>,
}

/// One entry of the data stream, as [`VerifiedApk::data`] hands it out.
pub struct ApkDataEntry<'a> {
    /// The normalised path (`usr/bin/foo`, `""` for the root).
    pub path: String,
    /// Type, mode, owner, size, mtime, link target, xattrs.
    pub meta: EntryMeta,
    /// The `APK-TOOLS.checksum.SHA1` record (of the content, or of a symlink's target), as
    /// apk-tools records it in `Z:`; already checked against the content.
    pub checksum: Option<ApkChecksum>,
    data: &'a mut dyn Read,
}

impl ApkDataEntry<'_> {
    /// The content (regular files).
    pub fn data(&mut self) -> &mut dyn Read {
        self.data
    }
}

/// A `.apk` whose signature, identity, data hash, file checksums and paths were checked.
///
/// # Example
/// ```no_run
/// use hardener::{ApkIndex, ApkKeys, VerifiedApk};
///
/// # fn f(keys: &ApkKeys, index: &ApkIndex) -> Result<(), hardener::ApkError> {
/// let entry = index.named("musl").next().unwrap();
/// let apk = VerifiedApk::open("musl-1.2.5-r1.apk".as_ref(), keys, &entry.checksum)?;
/// println!("{:?} {:?}", apk.pkginfo().version(), apk.scripts().iter().map(|s| &s.name).collect::<Vec<_>>());
/// apk.data(|e| {
///     println!("{} {:?}", e.path, e.checksum);
///     Ok(())
/// })?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct VerifiedApk {
    file: File,
    name: String,
    key: String,
    identity: ApkChecksum,
    pkginfo: PkgInfo,
    scripts: Vec<ApkScript>,
    data_offset: u64,
    datahash: [u8; 32],
}

impl VerifiedApk {
    /// Opens the `.apk` at `path` and checks it against `keys` and the identity its index
    /// entry promises (`C:`).
    ///
    /// # Errors
    /// See [`VerifiedApk::from_file`].
    pub fn open(path: &Path, keys: &ApkKeys, identity: &ApkChecksum) -> ApkResult<VerifiedApk> {
        let file = File::open(path).map_err(|e| ApkError::io(format!("opening {}", path.display()), e))?;
        VerifiedApk::from_file(file, &path.display().to_string(), keys, identity)
    }

    /// As [`VerifiedApk::open`], for an open file; `name` names it in errors.
    ///
    /// # Errors
    /// [`ApkError::Signature`] (unsigned, unknown key, bad signature), [`ApkError::Mismatch`]
    /// (identity, `datahash`, a file's checksum), [`ApkError::Archive`] (corrupt or truncated
    /// streams, unsafe entries, no `datahash`), [`ApkError::Parse`] (`.PKGINFO`).
    pub fn from_file(file: File, name: &str, keys: &ApkKeys, identity: &ApkChecksum) -> ApkResult<VerifiedApk> {
        let gz = |what: &str, e: io::Error| ApkError::archive(name, Some(what), format!("corrupt: {e}"));
        let mut tap = Tap::new(BufReader::with_capacity(BUF, &file));
        if tap.at_end().map_err(|e| ApkError::io(format!("reading {name}"), e))? {
            return Err(ApkError::archive(name, None, "empty file"));
        }
        let signatures =
            with_member(&mut tap, |r| Ok(read_signatures(r, name))).map_err(|e| gz("signature stream", e))??;
        let signature = keys.select(name, &signatures)?;
        let (_, sig_len) = tap.reset(vec![signature.hash.hasher(), SignatureHash::Sha1.hasher()]);
        if tap.at_end().map_err(|e| ApkError::io(format!("reading {name}"), e))? {
            return Err(ApkError::archive(name, None, "nothing after the signature stream (truncated?)"));
        }
        let members = with_member(&mut tap, |r| Ok(read_control(r, name))).map_err(|e| gz("control stream", e))??;
        let (hashers, control_len) = tap.reset(Vec::new());
        let mut digests = hashers.into_iter().map(|h| h.finalize());
        let (signed, sha1) = (digests.next().unwrap_or_default(), digests.next().unwrap_or_default());
        keys.verify(name, signature, &signed)?;
        let actual = ApkChecksum::Sha1(sha1.try_into().unwrap_or([0; 20]));
        let expected_sha1 = match identity {
            ApkChecksum::Sha1(_) => actual,
            ApkChecksum::Sha256(_) => {
                return Err(ApkError::archive(name, None, "the index gives a Q2 identity; only Q1 (SHA1) is checked"));
            }
        };
        if expected_sha1 != *identity {
            return Err(ApkError::Mismatch {
                file: name.to_owned(),
                what: "control stream SHA1 (the index's C:)".into(),
                expected: identity.to_string(),
                actual: actual.to_string(),
            });
        }
        // Only now, signed and identified, is the control stream's content used.
        let mut pkginfo = None;
        let mut scripts = Vec::new();
        for (entry, mode, data) in members {
            if entry == ".PKGINFO" {
                let text =
                    String::from_utf8(data).map_err(|_| ApkError::archive(name, Some(".PKGINFO"), "not UTF-8"))?;
                pkginfo = Some(PkgInfo::parse(&text, &format!("{name}: .PKGINFO"))?);
            } else if let Some(script) = entry.strip_prefix('.').filter(|s| APK_SCRIPTS.contains(s)) {
                scripts.push(ApkScript { name: script.to_owned(), mode, data });
            }
        }
        let pkginfo = pkginfo.ok_or_else(|| ApkError::archive(name, None, "no .PKGINFO in the control stream"))?;
        let datahash = pkginfo
            .get("datahash")
            .ok_or_else(|| ApkError::archive(name, Some(".PKGINFO"), "no datahash (refused)"))?;
        let datahash: [u8; 32] = hex::decode(datahash).ok().and_then(|d| d.try_into().ok()).ok_or_else(|| {
            ApkError::archive(name, Some(".PKGINFO"), format!("datahash {datahash:?} is not a SHA256"))
        })?;
        let data_offset = sig_len + control_len;
        let apk = VerifiedApk {
            file,
            name: name.to_owned(),
            key: signature.key.clone(),
            identity: actual,
            pkginfo,
            scripts,
            data_offset,
            datahash,
        };
        apk.data(|_| Ok(()))?;
        Ok(apk)
    }

    /// The name given at opening.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name of the key whose signature was verified.
    pub fn signed_by(&self) -> &str {
        &self.key
    }

    /// The identity: the SHA1 of the compressed control stream (`C:` in indexes and in
    /// `installed`).
    pub fn identity(&self) -> &ApkChecksum {
        &self.identity
    }

    /// The `.PKGINFO` fields.
    pub fn pkginfo(&self) -> &PkgInfo {
        &self.pkginfo
    }

    /// The scripts of the control stream, in stream order.
    pub fn scripts(&self) -> &[ApkScript] {
        &self.scripts
    }

    /// Streams the data stream's entries in order, calling `visit` on each; the data
    /// stream's SHA256 and each file's checksum are checked again as it is read, and an
    /// error is returned (after the entries read so far) if the file changed since opening.
    ///
    /// # Security
    /// Refused, naming the package and entry: absolute paths or `..` components, symlinks
    /// whose relative target climbs above the root, hard links to anything but a regular file
    /// earlier in the package, entries below a symlink of the same package, device files, a
    /// file whose content differs from its `APK-TOOLS.checksum.SHA1`.
    ///
    /// # Errors
    /// As above, and the errors `visit` returns.
    pub fn data(&self, mut visit: impl FnMut(&mut ApkDataEntry<'_>) -> ApkResult<()>) -> ApkResult<()> {
        let mut file = &self.file;
        file.seek(SeekFrom::Start(self.data_offset)).map_err(|e| ApkError::io(format!("reading {}", self.name), e))?;
        let mut tap = Tap::new(BufReader::with_capacity(BUF, file));
        tap.hashers = vec![SignatureHash::Sha256.hasher()];
        if tap.at_end().map_err(|e| ApkError::io(format!("reading {}", self.name), e))? {
            return Err(ApkError::archive(&self.name, None, "no data stream (truncated?)"));
        }
        let mut decoder = flate2::bufread::MultiGzDecoder::new(&mut tap);
        walk_data(&mut decoder, &self.name, &mut visit)?;
        io::copy(&mut decoder, &mut io::sink())
            .map_err(|e| ApkError::archive(&self.name, Some("data stream"), format!("corrupt: {e}")))?;
        drop(decoder);
        let (hashers, _) = tap.reset(Vec::new());
        let actual = hashers.into_iter().next().map(|h| h.finalize()).unwrap_or_default();
        if actual != self.datahash {
            return Err(ApkError::Mismatch {
                file: self.name.clone(),
                what: "data stream SHA256 (.PKGINFO datahash)".into(),
                expected: hex::encode(self.datahash),
                actual: hex::encode(actual),
            });
        }
        Ok(())
    }
}

/// The control stream's members `(name, mode, bytes)`: regular files named `.something`.
fn read_control(stream: &mut dyn Read, apk: &str) -> ApkResult<Vec<(String, u32, Vec<u8>)>> {
    let corrupt = |e: io::Error| ApkError::archive(apk, Some("control stream"), format!("corrupt: {e}"));
    let mut archive = tar::Archive::new(oci_core::TarGuard::new(stream, apk));
    let mut out = Vec::new();
    let mut total = 0u64;
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if !name.starts_with('.') || name.contains('/') || entry.header().entry_type() != tar::EntryType::Regular {
            return Err(ApkError::archive(apk, Some(&name), "not a control file (.PKGINFO, .post-install…)"));
        }
        if name.starts_with(".SIGN.") {
            return Err(ApkError::archive(apk, Some(&name), "a signature in the control stream"));
        }
        total += entry.size();
        if total > MAX_APK_CONTROL_SIZE {
            return Err(ApkError::archive(apk, Some("control stream"), "larger than 16 MiB (refused)"));
        }
        let mode = entry.header().mode().map_err(corrupt)? & 0o7777;
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(corrupt)?;
        out.push((name, mode, data));
    }
    Ok(out)
}

/// Whether the symlink at `path` pointing to `target` stays inside the root (absolute targets
/// are resolved from the root; relative ones may not climb above it).
fn link_inside_root(path: &str, target: &str) -> bool {
    if target.starts_with('/') {
        return true;
    }
    let mut depth = path.split('/').count().saturating_sub(1) as i64;
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => depth += 1,
        }
    }
    true
}

fn walk_data(
    stream: impl Read,
    apk: &str,
    visit: &mut dyn FnMut(&mut ApkDataEntry<'_>) -> ApkResult<()>,
) -> ApkResult<()> {
    let corrupt = |e: io::Error| ApkError::archive(apk, Some("data stream"), format!("corrupt: {e}"));
    let refuse = |path: &str, why: String| ApkError::archive(apk, Some(path), format!("{why} (refused)"));
    let mut archive = tar::Archive::new(oci_core::TarGuard::new(stream, apk));
    let mut symlinks: HashSet<String> = HashSet::new();
    let mut files: HashSet<String> = HashSet::new();
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let kind = match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => EntryKind::File,
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Symlink => EntryKind::Symlink,
            tar::EntryType::Link => EntryKind::Hardlink,
            tar::EntryType::Fifo => EntryKind::Fifo,
            tar::EntryType::XGlobalHeader => continue,
            other => {
                let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
                return Err(refuse(&raw, format!("unsupported entry type {other:?}")));
            }
        };
        let raw = String::from_utf8(entry.path_bytes().into_owned())
            .map_err(|_| ApkError::archive(apk, None, "an entry path is not UTF-8 (refused)"))?;
        let path = normalize_path(&raw).map_err(|why| refuse(&raw, why.to_owned()))?;
        let mut prefix = path.as_str();
        while let Some((parent, _)) = prefix.rsplit_once('/') {
            if symlinks.contains(parent) {
                return Err(refuse(&path, format!("lies below {parent:?}, a symlink of the same package")));
            }
            prefix = parent;
        }
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
            xattrs: Default::default(),
        };
        if matches!(kind, EntryKind::Symlink | EntryKind::Hardlink) {
            let target = entry.link_name_bytes().map(|t| String::from_utf8(t.into_owned()));
            let Some(Ok(target)) = target.filter(|t| t.as_ref().is_ok_and(|t| !t.is_empty())) else {
                return Err(refuse(&path, "link without a UTF-8 target".into()));
            };
            if kind == EntryKind::Hardlink {
                let t = normalize_path(&target).map_err(|why| refuse(&path, format!("hard link target: {why}")))?;
                if !files.contains(&t) {
                    return Err(refuse(&path, format!("hard link to {t:?}, not a file earlier in the package")));
                }
                meta.link = Some(t);
            } else {
                if !link_inside_root(&path, &target) {
                    return Err(refuse(&path, format!("symlink to {target:?} climbs above the root")));
                }
                symlinks.insert(path.clone());
                meta.link = Some(target);
            }
        }
        let mut checksum = None;
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
                    "APK-TOOLS.checksum.SHA1" => {
                        let sum: [u8; 20] = std::str::from_utf8(value)
                            .ok()
                            .and_then(|v| hex::decode(v).ok())
                            .and_then(|v| v.try_into().ok())
                            .ok_or_else(|| refuse(&path, "a malformed APK-TOOLS.checksum.SHA1".into()))?;
                        checksum = Some(ApkChecksum::Sha1(sum));
                    }
                    _ => {
                        if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                            meta.xattrs.insert(name.to_owned(), value.to_vec());
                        }
                    }
                }
            }
        }
        if kind == EntryKind::File {
            files.insert(path.clone());
            if checksum.is_none() {
                return Err(refuse(&path, "a file without APK-TOOLS.checksum.SHA1".into()));
            }
        }
        if kind == EntryKind::Symlink
            && let Some(ApkChecksum::Sha1(sum)) = checksum
        {
            let mut h = SignatureHash::Sha1.hasher();
            h.update(meta.link.as_deref().unwrap_or("").as_bytes());
            if h.finalize() != sum {
                return Err(refuse(&path, "symlink target differs from its APK-TOOLS.checksum.SHA1".into()));
            }
        }
        // Hash regular files' content as the visitor reads it; the rest is drained and
        // checked after the visit.
        let mut hashing = HashingRead { inner: &mut entry, hasher: SignatureHash::Sha1.hasher() };
        let mut e = ApkDataEntry { path: path.clone(), meta, checksum, data: &mut hashing };
        visit(&mut e)?;
        io::copy(&mut hashing, &mut io::sink()).map_err(corrupt)?;
        if kind == EntryKind::File {
            let actual = hashing.hasher.finalize();
            if let Some(ApkChecksum::Sha1(sum)) = checksum
                && actual[..] != sum[..]
            {
                return Err(ApkError::Mismatch {
                    file: format!("{apk}: {path}"),
                    what: "file SHA1 (APK-TOOLS.checksum.SHA1)".into(),
                    expected: hex::encode(sum),
                    actual: hex::encode(actual),
                });
            }
        }
    }
    Ok(())
}

struct HashingRead<'a, R> {
    inner: &'a mut R,
    hasher: super::SignedHasher,
}

impl<R: Read> Read for HashingRead<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
