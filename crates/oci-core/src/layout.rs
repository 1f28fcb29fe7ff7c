//! The OCI image layout store: `oci-layout`, `index.json`, `blobs/<alg>/<hex>`.
//!
//! Blobs are written to a temporary file in the layout and renamed into place only after
//! their digest (and size, when known) has been checked, so a reader never sees a partial
//! or wrong blob. `index.json` is rewritten atomically under an exclusive `flock` of the
//! layout directory, so several processes can write the same layout at once.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::atomic::{AtomicFile, FileMode, remove_orphaned_temp_files, write_atomic};
use crate::error::IoContext;
use crate::referrers::{Attached, ReferrersVia, blobs_of, filter, referrer_entry};
use crate::{
    ANNOTATION_REF_NAME, BlobSource, Descriptor, Digest, DigestWriter, Error, ImageIndex, Limits, Manifest,
    RawManifest, Result, VerifyingReader,
};
use serde_json::Value;

const LAYOUT_FILE: &str = "oci-layout";
const INDEX_FILE: &str = "index.json";

/// An OCI image layout on disk.
///
/// ```
/// # fn main() -> oci_core::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let layout = oci_core::OciLayout::create(dir.path())?;
/// let digest = layout.write_blob(b"{}")?;
/// assert!(layout.has_blob(&digest));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct OciLayout {
    root: PathBuf,
    limits: Limits,
}

impl OciLayout {
    /// Opens an existing layout, checking its `oci-layout` marker.
    pub fn open(dir: impl AsRef<Path>) -> Result<OciLayout> {
        let root = dir.as_ref().to_path_buf();
        let invalid = |reason: String| Error::InvalidLayout { path: root.clone(), reason };
        let marker = match fs::read(root.join(LAYOUT_FILE)) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(invalid(format!("no {LAYOUT_FILE} file")));
            }
            Err(e) => return Err(Error::io(format!("reading {}", root.join(LAYOUT_FILE).display()), e)),
        };
        let v: Value = serde_json::from_slice(&marker)
            .map_err(|source| Error::Json { what: root.join(LAYOUT_FILE).display().to_string(), source })?;
        match v.get("imageLayoutVersion").and_then(Value::as_str) {
            Some("1.0.0") => {}
            other => return Err(invalid(format!("unsupported imageLayoutVersion {other:?}"))),
        }
        if !root.join(INDEX_FILE).is_file() {
            return Err(invalid(format!("no {INDEX_FILE}")));
        }
        Ok(OciLayout { root, limits: Limits::default() })
    }

    /// Creates a layout (or opens the one already there) for writing.
    ///
    /// Temporary files that a crashed or killed writer left in an existing layout are
    /// removed (those of live writers, which hold a lock on them, are kept).
    pub fn create(dir: impl AsRef<Path>) -> Result<OciLayout> {
        let root = dir.as_ref().to_path_buf();
        fs::create_dir_all(root.join("blobs/sha256")).context(|| format!("creating {}", root.display()))?;
        let layout = OciLayout { root, limits: Limits::default() };
        if !layout.root.join(LAYOUT_FILE).exists() {
            layout.atomic_write(LAYOUT_FILE, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        let _lock = layout.lock()?;
        if !layout.root.join(INDEX_FILE).exists() {
            let empty = serde_json::to_vec(&ImageIndex::new()).expect("serialisable");
            layout.atomic_write(INDEX_FILE, &empty)?;
        }
        drop(_lock);
        remove_orphaned_temp_files(&layout.root)?;
        OciLayout::open(&layout.root)
    }

    /// Uses other limits for what this layout reads.
    pub fn with_limits(mut self, limits: Limits) -> OciLayout {
        self.limits = limits;
        self
    }

    /// The limits applied to what this layout reads.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The layout directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join(digest.algorithm().as_str()).join(digest.hex())
    }

    /// Whether the blob is present.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Opens a blob's raw bytes, unverified.
    pub fn open_blob_file(&self, digest: &Digest) -> Result<File> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => {
                Error::NotFound { what: format!("blob {digest} in {}", self.root.display()), hint: String::new() }
            }
            _ => Error::io(format!("opening {}", path.display()), e),
        })
    }

    /// Starts writing a blob; see [`BlobWriter`].
    pub fn blob_writer(&self) -> Result<BlobWriter> {
        let tmp = AtomicFile::in_dir(&self.root, self.root.join("blobs"), FileMode::Public)?;
        Ok(BlobWriter { layout: self.clone(), out: DigestWriter::new(tmp) })
    }

    /// Writes a small blob from memory and returns its digest.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = Digest::sha256(bytes);
        if self.has_blob(&digest) {
            return Ok(digest);
        }
        let mut w = self.blob_writer()?;
        w.write_all(bytes).context(|| "writing blob".into())?;
        w.finish()?;
        Ok(digest)
    }

    /// Streams a blob described by `descriptor` from `reader` into the layout, verifying its
    /// digest and size before it becomes visible (reading at most one byte past the size).
    /// Returns `false` when it was already there.
    pub fn write_blob_from(&self, descriptor: &Descriptor, reader: &mut dyn Read) -> Result<bool> {
        if self.has_blob(&descriptor.digest) {
            return Ok(false);
        }
        let mut w = self.blob_writer()?;
        // One byte past the size is enough to know it is too long; read in large pieces (a
        // 190 MB layer in 8 KiB reads spent more time in the kernel than hashing it).
        let bounded = reader.take(descriptor.size.saturating_add(1));
        io::copy(&mut io::BufReader::with_capacity(1 << 20, bounded), &mut w)
            .map_err(|e| Error::io(format!("copying blob {} into {}", descriptor.digest, self.root.display()), e))?;
        w.finish_expected(descriptor)?;
        Ok(true)
    }

    /// Adds the blob `desc` by copying `file` (with `copy_file_range` where the kernel
    /// has it) into a temporary file and renaming it into place. The caller vouches for
    /// the content: use it only for a file this process has just verified, such as a
    /// blob it downloaded into its cache. Only the size is checked here.
    pub(crate) fn copy_verified_file(&self, desc: &Descriptor, file: &Path) -> Result<()> {
        if self.has_blob(&desc.digest) {
            return Ok(());
        }
        let tmp = AtomicFile::in_dir(&self.root, self.blob_path(&desc.digest), FileMode::Public)?;
        let copied = fs::copy(file, tmp.temp_path())
            .context(|| format!("copying {} into {}", file.display(), self.root.display()))?;
        if copied != desc.size {
            return Err(Error::SizeMismatch {
                what: format!("blob {} copied from {}", desc.digest, file.display()),
                expected: desc.size,
                found: copied,
            });
        }
        commit(self, tmp, &desc.digest)
    }

    /// Reads and verifies a JSON blob (manifest, index, config) within the size limit.
    pub fn read_json_blob(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        read_verified(self, descriptor, &self.limits)
    }

    /// `index.json`, parsed.
    pub fn index(&self) -> Result<ImageIndex> {
        let value = self.index_value()?;
        serde_json::from_value(value)
            .map_err(|source| Error::Json { what: self.root.join(INDEX_FILE).display().to_string(), source })
    }

    fn index_value(&self) -> Result<Value> {
        let path = self.root.join(INDEX_FILE);
        let file = File::open(&path).context(|| format!("opening {}", path.display()))?;
        let mut bytes = Vec::new();
        file.take(self.limits.max_json_bytes + 1)
            .read_to_end(&mut bytes)
            .context(|| format!("reading {}", path.display()))?;
        if bytes.len() as u64 > self.limits.max_json_bytes {
            return Err(Error::TooLarge {
                what: path.display().to_string(),
                limit: self.limits.max_json_bytes,
                hint: "",
            });
        }
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|source| Error::Json { what: path.display().to_string(), source })?;
        if !v.get("manifests").is_some_and(Value::is_array) {
            return Err(Error::Invalid { what: path.display().to_string(), reason: "no \"manifests\" array".into() });
        }
        Ok(v)
    }

    /// The tags in `index.json`, in order.
    pub fn tags(&self) -> Result<Vec<String>> {
        Ok(self.index()?.manifests.iter().filter_map(|d| d.ref_name().map(str::to_owned)).collect())
    }

    /// The descriptor tagged `tag`, or with no tag the layout's only entry.
    pub fn resolve(&self, tag: Option<&str>) -> Result<Descriptor> {
        let index = self.index()?;
        let tags: Vec<&str> = index.manifests.iter().filter_map(|d| d.ref_name()).collect();
        match tag {
            Some(tag) => index.manifests.iter().rev().find(|d| d.ref_name() == Some(tag)).cloned().ok_or_else(|| {
                Error::NotFound {
                    what: format!("tag {tag:?} in {}", self.root.display()),
                    hint: format!("; tags there: {}", list_or_none(&tags)),
                }
            }),
            // Referrers (untagged entries naming a subject) are not what `oci:DIR` means.
            None => {
                match index.manifests.iter().filter(|d| !self.is_referrer(d)).cloned().collect::<Vec<_>>().as_slice() {
                    [only] => Ok(only.clone()),
                    [] => Err(Error::NotFound {
                        what: format!("an image in {}", self.root.display()),
                        hint: " (index.json lists no manifests)".into(),
                    }),
                    many => Err(Error::Invalid {
                        what: format!("reference oci:{}", self.root.display()),
                        reason: format!(
                            "the layout holds {} manifests; name one with oci:DIR:TAG (tags: {})",
                            many.len(),
                            list_or_none(&tags)
                        ),
                    }),
                }
            }
        }
    }

    /// Records `descriptor` in `index.json` under `tag` (replacing what had that tag), or
    /// untagged when `tag` is `None` (once per digest). The manifest blob must exist.
    pub fn set_tag(&self, tag: Option<&str>, descriptor: &Descriptor) -> Result<()> {
        if let Some(t) = tag
            && (t.is_empty() || t.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(Error::Invalid {
                what: format!("tag {t:?}"),
                reason: "tags must be non-empty, without spaces or control characters".into(),
            });
        }
        if !self.has_blob(&descriptor.digest) {
            return Err(Error::NotFound {
                what: format!("manifest {} in {}", descriptor.digest, self.root.display()),
                hint: " (write the blob before tagging it)".into(),
            });
        }
        let mut desc = descriptor.clone();
        if let Some(t) = tag {
            desc.annotations.get_or_insert_with(Default::default).insert(ANNOTATION_REF_NAME.into(), t.into());
        }
        let entry = serde_json::to_value(&desc).expect("serialisable");
        let _lock = self.lock()?;
        let mut index = self.index_value()?;
        let manifests = index["manifests"].as_array_mut().expect("checked by index_value");
        manifests.retain(|m| {
            let name = m.pointer("/annotations/org.opencontainers.image.ref.name").and_then(Value::as_str);
            match tag {
                Some(t) => name != Some(t),
                None => name.is_some() || m.get("digest").and_then(Value::as_str) != Some(&desc.digest.to_string()),
            }
        });
        manifests.push(entry);
        self.atomic_write(INDEX_FILE, &serde_json::to_vec(&index).expect("serialisable"))
    }

    /// Stores the artifact manifest `raw` (it names a `subject`) and its blobs, read from
    /// `blobs` and verified, and lists it untagged in `index.json` with its `artifactType`
    /// and annotations: how an image layout holds referrers. The subject itself need not
    /// be in the layout. Storing the same manifest again changes nothing.
    pub fn attach(&self, raw: &RawManifest, blobs: &dyn BlobSource) -> Result<Attached> {
        let Some((_, entry)) = referrer_entry(raw)? else {
            return Err(Error::Invalid {
                what: format!("manifest {}", raw.digest()),
                reason: "it has no subject, so it refers to nothing".into(),
            });
        };
        for d in blobs_of(raw)? {
            let mut reader = blobs.open_blob(&d)?;
            self.write_blob_from(&d, &mut reader)?;
        }
        self.write_blob(raw.bytes())?;
        self.set_tag(None, &entry)?;
        Ok(Attached { descriptor: entry, via: ReferrersVia::Layout })
    }

    /// The referrers of `subject` in this layout: the manifests listed in `index.json`
    /// whose `subject` is it (with `artifact_type`, only those of that type).
    pub fn referrers(&self, subject: &Digest, artifact_type: Option<&str>) -> Result<Vec<Descriptor>> {
        let mut out: Vec<Descriptor> = Vec::new();
        for d in self.index()?.manifests {
            // A layout may lack blobs that an external store holds: those are not looked at.
            if !(d.media_type.is_manifest() || d.media_type.is_index())
                || out.iter().any(|o| o.digest == d.digest)
                || !self.has_blob(&d.digest)
            {
                continue;
            }
            let what = format!("manifest {} in {}", d.digest, self.root.display());
            let raw = RawManifest::verified(self.read_json_blob(&d)?, &d, &what)?;
            if let Some((of, entry)) = referrer_entry(&raw)?
                && &of == subject
            {
                out.push(entry);
            }
        }
        filter(&mut out, artifact_type);
        Ok(out)
    }

    /// Whether the entry `d` of `index.json` is a referrer (its manifest has a subject).
    fn is_referrer(&self, d: &Descriptor) -> bool {
        if d.ref_name().is_some() || !(d.media_type.is_manifest() || d.media_type.is_index()) {
            return false;
        }
        let Ok(bytes) = self.read_json_blob(d) else { return false };
        RawManifest::verified(bytes, d, "manifest").is_ok_and(|raw| referrer_entry(&raw).is_ok_and(|e| e.is_some()))
    }

    /// Removes `tag` from `index.json`. Returns whether it was there.
    pub fn remove_tag(&self, tag: &str) -> Result<bool> {
        let _lock = self.lock()?;
        let mut index = self.index_value()?;
        let manifests = index["manifests"].as_array_mut().expect("checked by index_value");
        let before = manifests.len();
        manifests.retain(|m| {
            m.pointer("/annotations/org.opencontainers.image.ref.name").and_then(Value::as_str) != Some(tag)
        });
        let removed = manifests.len() != before;
        if removed {
            self.atomic_write(INDEX_FILE, &serde_json::to_vec(&index).expect("serialisable"))?;
        }
        Ok(removed)
    }

    /// Every blob digest reachable from `index.json` (manifests, nested indexes, configs,
    /// layers; not the subjects of referrers, which are reachable only if tagged too).
    pub fn reachable(&self) -> Result<HashSet<Digest>> {
        let mut seen = HashSet::new();
        for d in self.index()?.manifests {
            walk(self, &d, &self.limits, 0, &mut |d| seen.insert(d.digest.clone()))?;
        }
        Ok(seen)
    }

    /// Deletes blobs that nothing in `index.json` reaches, temporary files that no live
    /// writer holds, and the layer indexes ([`INDEX_CACHE_DIR`]) of layers no longer here.
    ///
    /// Blobs younger than `grace` are kept: another process may have written them and not
    /// yet tagged the manifest that references them.
    pub fn gc(&self, grace: Duration) -> Result<GcStats> {
        let _lock = self.lock()?;
        let keep = self.reachable()?;
        let now = SystemTime::now();
        let young = |path: &Path| -> bool {
            fs::symlink_metadata(path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).unwrap_or_default() < grace)
        };
        let mut stats = GcStats::default();
        remove_orphaned_temp_files(&self.root)?;
        let blobs = self.root.join("blobs");
        for alg in fs::read_dir(&blobs).context(|| format!("listing {}", blobs.display()))? {
            let alg = alg.context(|| format!("listing {}", blobs.display()))?;
            if !alg.path().is_dir() {
                continue;
            }
            for blob in fs::read_dir(alg.path()).context(|| format!("listing {}", alg.path().display()))? {
                let blob = blob.context(|| format!("listing {}", alg.path().display()))?;
                let name = format!("{}:{}", alg.file_name().to_string_lossy(), blob.file_name().to_string_lossy());
                let reachable = name.parse::<Digest>().is_ok_and(|d| keep.contains(&d));
                if reachable || young(&blob.path()) {
                    stats.kept += 1;
                    continue;
                }
                let size = blob.metadata().map(|m| m.len()).unwrap_or(0);
                fs::remove_file(blob.path()).context(|| format!("removing {}", blob.path().display()))?;
                stats.removed += 1;
                stats.bytes_freed += size;
            }
        }
        let indexes = crate::IndexCache::new(self.root.join(INDEX_CACHE_DIR));
        stats.indexes_removed = indexes.remove_unless(|layer| self.has_blob(layer))? as u64;
        Ok(stats)
    }

    fn lock(&self) -> Result<File> {
        let dir = File::open(&self.root).context(|| format!("opening {}", self.root.display()))?;
        dir.lock().context(|| format!("locking {}", self.root.display()))?;
        Ok(dir)
    }

    fn atomic_write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        write_atomic(self.root.join(name), bytes, FileMode::Public)
    }
}

fn list_or_none(tags: &[&str]) -> String {
    if tags.is_empty() { "none".into() } else { tags.join(", ") }
}

impl BlobSource for OciLayout {
    fn open_blob(&self, descriptor: &Descriptor) -> Result<Box<dyn Read + Send>> {
        Ok(Box::new(self.open_blob_file(&descriptor.digest)?))
    }

    fn name(&self) -> String {
        format!("oci:{}", self.root.display())
    }
}

/// Reads a JSON document (manifest, index or config) from `source` within the size limit
/// and verifies its digest and size.
pub(crate) fn read_verified(source: &dyn BlobSource, descriptor: &Descriptor, limits: &Limits) -> Result<Vec<u8>> {
    let what = format!("blob {} in {}", descriptor.digest, source.name());
    if descriptor.size > limits.max_json_bytes {
        return Err(Error::TooLarge {
            what: format!("{what} ({} bytes)", descriptor.size),
            limit: limits.max_json_bytes,
            hint: " (Limits::max_json_bytes)",
        });
    }
    let raw = source.open_blob(descriptor)?;
    let mut reader = VerifyingReader::new(raw, descriptor.digest.clone(), Some(descriptor.size), what.clone());
    let mut bytes = Vec::with_capacity(descriptor.size as usize);
    reader.read_to_end(&mut bytes).map_err(|e| Error::io(format!("reading {what}"), e))?;
    Ok(bytes)
}

/// Visits `descriptor` and, for manifests and indexes, everything they reference.
///
/// A `subject` is not followed: it names another image that this one refers to (a
/// signature's or SBOM's target), not content this one is made of. Copying or keeping a
/// referrer does not copy or keep its subject, as with crane and skopeo.
pub(crate) fn walk(
    source: &dyn BlobSource,
    descriptor: &Descriptor,
    limits: &Limits,
    depth: usize,
    visit: &mut dyn FnMut(&Descriptor) -> bool,
) -> Result<()> {
    if !visit(descriptor) {
        return Ok(()); // already seen
    }
    if !(descriptor.media_type.is_index() || descriptor.media_type.is_manifest()) {
        return Ok(());
    }
    if depth > limits.max_index_depth {
        return Err(Error::Invalid {
            what: format!("index {} in {}", descriptor.digest, source.name()),
            reason: format!("indexes nested deeper than {} levels (a cycle?)", limits.max_index_depth),
        });
    }
    let what = format!("manifest {} in {}", descriptor.digest, source.name());
    let raw = RawManifest::verified(read_verified(source, descriptor, limits)?, descriptor, &what)?;
    match raw.parse()? {
        Manifest::Index(index) => {
            for child in &index.manifests {
                if child.digest == descriptor.digest {
                    return Err(Error::Invalid { what, reason: "the index references itself".into() });
                }
                walk(source, child, limits, depth + 1, visit)?;
            }
        }
        Manifest::Image(m) => {
            visit(&m.config);
            for l in &m.layers {
                visit(l);
            }
        }
    }
    Ok(())
}

/// What [`OciLayout::gc`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcStats {
    /// Blobs removed.
    pub removed: u64,
    /// Bytes freed.
    pub bytes_freed: u64,
    /// Blobs kept.
    pub kept: u64,
    /// Layer indexes removed from [`INDEX_CACHE_DIR`] because their layer is no longer
    /// here (see [`crate::IndexCache`]).
    pub indexes_removed: u64,
}

/// The directory of a blob cache (an OCI layout) that holds its layer index cache.
pub const INDEX_CACHE_DIR: &str = "index-cache";

/// Writes one blob into a layout, hashing as it goes; the blob becomes visible only when
/// [`BlobWriter::finish`] or [`BlobWriter::finish_expected`] succeeds.
#[derive(Debug)]
pub struct BlobWriter {
    layout: OciLayout,
    out: DigestWriter<AtomicFile>,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.out.written()
    }

    /// Another descriptor of the file being written, for reading what was flushed so far
    /// (a blob read while it downloads).
    #[cfg_attr(not(feature = "registry"), allow(dead_code))]
    pub(crate) fn reader(&mut self) -> io::Result<File> {
        self.out.get_mut().reopen()
    }

    /// Commits the blob under the digest of what was written.
    pub fn finish(self) -> Result<(Digest, u64)> {
        let (tmp, digest, size) = self.out.finish();
        commit(&self.layout, tmp, &digest)?;
        Ok((digest, size))
    }

    /// Commits the blob only if it matches `expected`'s digest and size.
    pub fn finish_expected(self, expected: &Descriptor) -> Result<()> {
        let (tmp, digest, size) = self.out.finish();
        let what = || format!("blob {} written to {}", expected.digest, self.layout.root.display());
        if size != expected.size {
            return Err(Error::SizeMismatch { what: what(), expected: expected.size, found: size });
        }
        if digest != expected.digest {
            return Err(Error::DigestMismatch { what: what(), expected: expected.digest.clone(), found: digest });
        }
        commit(&self.layout, tmp, &digest)
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Moves a finished blob into place with the policy of [`AtomicFile`] (fsync of the file,
/// rename, fsync of the directory).
fn commit(layout: &OciLayout, tmp: AtomicFile, digest: &Digest) -> Result<()> {
    let target = layout.blob_path(digest);
    let dir = target.parent().expect("blob paths have a parent");
    fs::create_dir_all(dir).context(|| format!("creating {}", dir.display()))?;
    tmp.commit_as(&target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atomic::TMP_PREFIX;
    use crate::testing::write_image;

    fn layout() -> (tempfile::TempDir, OciLayout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path()).unwrap();
        (dir, layout)
    }

    #[test]
    fn tags_resolve_and_replace() {
        let (_d, l) = layout();
        let a = write_image(&l, "a", &[&[("f", b"1")]]).unwrap();
        let b = write_image(&l, "b", &[&[("f", b"2")]]).unwrap();
        assert_eq!(l.resolve(Some("a")).unwrap().digest, a.digest);
        let err = l.resolve(None).unwrap_err().to_string();
        assert!(err.contains("2 manifests") && err.contains("a, b"), "{err}");
        let err = l.resolve(Some("zz")).unwrap_err().to_string();
        assert!(err.contains("\"zz\"") && err.contains("tags there: a, b"), "{err}");
        l.set_tag(Some("a"), &b).unwrap();
        assert_eq!(l.tags().unwrap(), ["b", "a"]);
        assert_eq!(l.resolve(Some("a")).unwrap().digest, b.digest);
        assert!(l.remove_tag("a").unwrap());
        assert!(!l.remove_tag("a").unwrap());
        assert!(l.set_tag(Some("bad tag"), &b).is_err());
    }

    #[test]
    fn blob_writes_are_verified_before_they_are_visible() {
        let (_d, l) = layout();
        let good = Descriptor::new(crate::MediaType::OciEmpty, Digest::sha256(b"{}"), 2);
        let mut wrong = &b"{ }"[..];
        let err = l.write_blob_from(&good, &mut wrong).unwrap_err();
        assert!(matches!(err, Error::SizeMismatch { .. }), "{err}");
        assert!(!l.has_blob(&good.digest));
        let mut tampered = &b"[]"[..];
        let err = l.write_blob_from(&good, &mut tampered).unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
        assert!(!l.has_blob(&good.digest));
        assert!(l.write_blob_from(&good, &mut &b"{}"[..]).unwrap());
        assert!(!l.write_blob_from(&good, &mut &b"{}"[..]).unwrap(), "second write is skipped");
        // No temporary files are left behind.
        let leftovers: Vec<_> = fs::read_dir(l.root())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(TMP_PREFIX))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn gc_removes_only_unreachable_old_blobs() {
        let (_d, l) = layout();
        write_image(&l, "keep", &[&[("a", b"kept")]]).unwrap();
        let orphan = l.write_blob(b"orphan").unwrap();
        let fresh = l.write_blob(b"fresh orphan").unwrap();
        let old = SystemTime::now() - Duration::from_secs(3600);
        File::options().write(true).open(l.blob_path(&orphan)).unwrap().set_modified(old).unwrap();
        let stats = l.gc(Duration::from_secs(600)).unwrap();
        assert_eq!((stats.removed, stats.bytes_freed), (1, 6));
        assert!(!l.has_blob(&orphan) && l.has_blob(&fresh));
        assert_eq!(l.reachable().unwrap().len(), 3);
        for d in l.reachable().unwrap() {
            assert!(l.has_blob(&d));
        }
    }

    #[test]
    fn concurrent_writers_keep_every_tag() {
        let (_d, l) = layout();
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let root = l.root().to_path_buf();
                std::thread::spawn(move || {
                    let mine = OciLayout::open(&root).unwrap();
                    for j in 0..5 {
                        let content = format!("{i}-{j}");
                        write_image(&mine, &format!("t{i}-{j}"), &[&[("f", content.as_bytes())], &[("g", b"shared")]])
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(l.tags().unwrap().len(), 40);
        for tag in l.tags().unwrap() {
            l.resolve(Some(&tag)).unwrap();
        }
    }

    #[test]
    fn open_refuses_what_is_not_a_layout() {
        let dir = tempfile::tempdir().unwrap();
        let err = OciLayout::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no oci-layout file"), "{err}");
        fs::write(dir.path().join("oci-layout"), br#"{"imageLayoutVersion":"2.0.0"}"#).unwrap();
        assert!(OciLayout::open(dir.path()).unwrap_err().to_string().contains("imageLayoutVersion"));
        fs::write(dir.path().join("oci-layout"), b"{").unwrap();
        assert!(matches!(OciLayout::open(dir.path()), Err(Error::Json { .. })));
        let (_d, l) = layout();
        fs::write(l.root().join("index.json"), b"{\"manifests\": 1}").unwrap();
        assert!(l.index().unwrap_err().to_string().contains("manifests"));
    }
}
