//! The layer index cache: what one full read of a layer learns (every entry's path, header
//! and position, and the bytes of the files that were captured) kept on disk by the layer's
//! diff_id, so [`crate::MergedFs`] is built again without decompressing the layer.
//!
//! One file per layer, `<dir>/<diff_id hex>`: a magic line naming the format's version,
//! the layer's digest and diff_id, the entries, and the SHA-256 of everything before it.
//! An entry is used only after that hash checks and the whole file parses; anything else
//! (truncated, corrupted, another version, another layer) is ignored and rebuilt. Files are
//! written atomically, so processes filling the same entry at once leave one whole file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use crate::{Digest, EntryKind, EntryMeta};

/// The first bytes of every index file; another version is ignored.
const MAGIC: &[u8; 16] = b"oci-harden-idx1\n";

/// The fewest bytes one entry takes in an index file (an empty path, no link, device,
/// xattrs or content).
const MIN_ENTRY_BYTES: u64 = 8 + 8 + 1 + 4 + 4 * 8 + 1 + 1 + 8 + 1;

/// A directory of layer indexes (see the module documentation).
#[derive(Debug, Clone)]
pub struct IndexCache {
    dir: PathBuf,
}

/// One entry of a layer as its index keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexedEntry {
    pub(crate) path: String,
    pub(crate) meta: EntryMeta,
    pub(crate) index: u64,
    /// The file's bytes, when they were captured.
    pub(crate) content: Option<Arc<[u8]>>,
}

impl IndexCache {
    /// A cache in `dir` (created when the first index is stored).
    pub fn new(dir: impl Into<PathBuf>) -> IndexCache {
        IndexCache { dir: dir.into() }
    }

    /// Where the indexes are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, diff_id: &Digest) -> PathBuf {
        self.dir.join(diff_id.hex())
    }

    /// Whether an index of the layer `diff_id` is there (whole or not: [`IndexCache::load`]
    /// says).
    pub(crate) fn has(&self, diff_id: &Digest) -> bool {
        self.path(diff_id).is_file()
    }

    /// The entries of the layer `diff_id` (blob `digest`), when a whole, verified index of
    /// it is there.
    pub(crate) fn load(&self, digest: &Digest, diff_id: &Digest) -> Option<Vec<IndexedEntry>> {
        let path = self.path(diff_id);
        let file = File::open(&path).ok()?;
        let body = file.metadata().ok()?.len().checked_sub(32)?;
        // One pass: parsed and hashed together, used only once the trailer matches (the
        // parser checks every length against what is left, so damaged bytes allocate
        // nothing large before they are refused).
        let hashing = HashReader { inner: BufReader::with_capacity(256 << 10, file), hasher: Sha256::new() };
        let mut r = Parser { inner: hashing.take(body) };
        let mut magic = [0u8; 16];
        r.inner.read_exact(&mut magic).ok()?;
        if &magic != MAGIC || r.string()? != digest.to_string() || r.string()? != diff_id.to_string() {
            return None;
        }
        let count = r.u64()?;
        if count > r.inner.limit() / MIN_ENTRY_BYTES {
            return None;
        }
        let mut entries = Vec::with_capacity(usize::try_from(count).ok()?);
        for _ in 0..count {
            entries.push(r.entry()?);
        }
        if r.inner.limit() != 0 {
            return None;
        }
        let mut hashing = r.inner.into_inner();
        let mut trailer = [0u8; 32];
        hashing.inner.read_exact(&mut trailer).ok()?;
        (hashing.hasher.finalize().as_slice() == trailer).then_some(entries)
    }

    /// Stores the index of the layer `diff_id` (blob `digest`). Failures are ignored: the
    /// cache only ever saves work.
    pub(crate) fn store(&self, digest: &Digest, diff_id: &Digest, entries: &[IndexedEntry]) {
        let _ = self.try_store(digest, diff_id, entries);
    }

    fn try_store(&self, digest: &Digest, diff_id: &Digest, entries: &[IndexedEntry]) -> crate::Result<()> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| crate::Error::io(format!("creating {}", self.dir.display()), e))?;
        let target = self.path(diff_id);
        // Renamed into place whole, not fsynced: after a crash a torn file fails its hash
        // check and is written anew, so the cache costs no sync.
        let failed = |e| crate::Error::io(format!("writing {}", target.display()), e);
        let mut file =
            tempfile::Builder::new().prefix(crate::atomic::TMP_PREFIX).tempfile_in(&self.dir).map_err(failed)?;
        let mut hasher = Sha256::new();
        {
            let mut w = BufWriter::with_capacity(256 << 10, Tee { file: file.as_file_mut(), hasher: &mut hasher });
            w.write_all(MAGIC).map_err(failed)?;
            write_string(&mut w, &digest.to_string()).map_err(failed)?;
            write_string(&mut w, &diff_id.to_string()).map_err(failed)?;
            w.write_all(&(entries.len() as u64).to_le_bytes()).map_err(failed)?;
            for e in entries {
                write_entry(&mut w, e).map_err(failed)?;
            }
            w.flush().map_err(failed)?;
        }
        file.write_all(&hasher.finalize()).map_err(failed)?;
        file.persist(&target).map_err(|e| failed(e.error))?;
        Ok(())
    }

    /// Adds the bytes of entries (by position) read after the layer was indexed, so later
    /// builds find them in the index. Nothing happens when there is no whole index of it.
    pub(crate) fn add_contents(&self, digest: &Digest, diff_id: &Digest, read: &[(u64, Arc<[u8]>)]) {
        let Some(mut entries) = self.load(digest, diff_id) else { return };
        let mut changed = false;
        for (index, bytes) in read {
            if let Some(e) = entries.iter_mut().find(|e| e.index == *index && e.meta.kind == EntryKind::File)
                && e.content.is_none()
                && e.meta.size == bytes.len() as u64
            {
                e.content = Some(Arc::clone(bytes));
                changed = true;
            }
        }
        if changed {
            self.store(digest, diff_id, &entries);
        }
    }

    /// Removes the indexes whose layer `keep` rejects (given the layer's blob digest), files
    /// that are not indexes, and temporary files; returns how many indexes and other files
    /// were removed.
    pub fn remove_unless(&self, keep: impl Fn(&Digest) -> bool) -> crate::Result<usize> {
        let listing = match std::fs::read_dir(&self.dir) {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(crate::Error::io(format!("listing {}", self.dir.display()), e)),
        };
        let mut removed = 0;
        for item in listing {
            let item = item.map_err(|e| crate::Error::io(format!("listing {}", self.dir.display()), e))?;
            let path = item.path();
            if crate::atomic::is_temp_name(&item.file_name()) {
                // Left by a crash (or a writer at work, whose store is then skipped: the
                // cache only saves work).
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if layer_of(&path).is_some_and(|d| keep(&d)) {
                continue;
            }
            std::fs::remove_file(&path).map_err(|e| crate::Error::io(format!("removing {}", path.display()), e))?;
            removed += 1;
        }
        Ok(removed)
    }
}

/// The layer digest an index file names (its header only; the rest is checked on load).
fn layer_of(path: &Path) -> Option<Digest> {
    let mut r = Parser { inner: BufReader::new(File::open(path).ok()?).take(4096) };
    let mut magic = [0u8; 16];
    r.inner.read_exact(&mut magic).ok()?;
    if &magic != MAGIC {
        return None;
    }
    r.string()?.parse().ok()
}

/// Hashes what is read through it.
struct HashReader<R: Read> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

struct Tee<'a> {
    file: &'a mut File,
    hasher: &'a mut Sha256,
}

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn write_bytes(w: &mut impl Write, b: &[u8]) -> io::Result<()> {
    w.write_all(&(b.len() as u64).to_le_bytes())?;
    w.write_all(b)
}

fn write_string(w: &mut impl Write, s: &str) -> io::Result<()> {
    write_bytes(w, s.as_bytes())
}

fn kind_code(kind: EntryKind) -> u8 {
    match kind {
        EntryKind::File => 0,
        EntryKind::Dir => 1,
        EntryKind::Symlink => 2,
        EntryKind::Hardlink => 3,
        EntryKind::CharDevice => 4,
        EntryKind::BlockDevice => 5,
        EntryKind::Fifo => 6,
    }
}

fn write_entry(w: &mut impl Write, e: &IndexedEntry) -> io::Result<()> {
    let m = &e.meta;
    write_string(w, &e.path)?;
    w.write_all(&e.index.to_le_bytes())?;
    w.write_all(&[kind_code(m.kind)])?;
    w.write_all(&m.mode.to_le_bytes())?;
    for n in [m.uid, m.gid, m.size, m.mtime] {
        w.write_all(&n.to_le_bytes())?;
    }
    match &m.link {
        Some(l) => {
            w.write_all(&[1])?;
            write_string(w, l)?;
        }
        None => w.write_all(&[0])?,
    }
    match m.device {
        Some((major, minor)) => {
            w.write_all(&[1])?;
            w.write_all(&major.to_le_bytes())?;
            w.write_all(&minor.to_le_bytes())?;
        }
        None => w.write_all(&[0])?,
    }
    w.write_all(&(m.xattrs.len() as u64).to_le_bytes())?;
    for (k, v) in &m.xattrs {
        write_string(w, k)?;
        write_bytes(w, v)?;
    }
    match &e.content {
        Some(c) => {
            w.write_all(&[1])?;
            write_bytes(w, c)
        }
        None => w.write_all(&[0]),
    }
}

/// Reads what [`write_entry`] wrote; `None` on anything malformed. Lengths are checked
/// against what is left of the file before anything is allocated.
struct Parser<R: Read> {
    inner: io::Take<R>,
}

impl<R: Read> Parser<R> {
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let mut b = [0u8; N];
        self.inner.read_exact(&mut b).ok()?;
        Some(b)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let len = self.u64()?;
        if len > self.inner.limit() {
            return None;
        }
        let mut b = vec![0u8; usize::try_from(len).ok()?];
        self.inner.read_exact(&mut b).ok()?;
        Some(b)
    }
    fn string(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?).ok()
    }
    fn flag(&mut self) -> Option<bool> {
        match self.u8()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
    fn entry(&mut self) -> Option<IndexedEntry> {
        let path = self.string()?;
        let index = self.u64()?;
        let kind = match self.u8()? {
            0 => EntryKind::File,
            1 => EntryKind::Dir,
            2 => EntryKind::Symlink,
            3 => EntryKind::Hardlink,
            4 => EntryKind::CharDevice,
            5 => EntryKind::BlockDevice,
            6 => EntryKind::Fifo,
            _ => return None,
        };
        let mode = self.u32()?;
        let (uid, gid, size, mtime) = (self.u64()?, self.u64()?, self.u64()?, self.u64()?);
        let link = if self.flag()? { Some(self.string()?) } else { None };
        let device = if self.flag()? { Some((self.u32()?, self.u32()?)) } else { None };
        let count = self.u64()?;
        if count > self.inner.limit() {
            return None;
        }
        let mut xattrs = BTreeMap::new();
        for _ in 0..count {
            let k = self.string()?;
            xattrs.insert(k, self.bytes()?);
        }
        let content = if self.flag()? { Some(Arc::from(self.bytes()?)) } else { None };
        let meta = EntryMeta { kind, mode, uid, gid, size, mtime, link, device, xattrs };
        Some(IndexedEntry { path, meta, index, content })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<IndexedEntry> {
        let mut link = EntryMeta::file(0o644, 0);
        link.kind = EntryKind::Symlink;
        link.link = Some("../b".into());
        let mut file = EntryMeta::file(0o4755, 5);
        file.xattrs.insert("security.capability".into(), vec![1, 2, 3]);
        file.uid = 1000;
        file.mtime = 1_700_000_000;
        let mut dev = EntryMeta::file(0o600, 0);
        dev.kind = EntryKind::CharDevice;
        dev.device = Some((1, 3));
        vec![
            IndexedEntry { path: "etc".into(), meta: EntryMeta::dir(0o755), index: 0, content: None },
            IndexedEntry { path: "etc/passwd".into(), meta: file, index: 1, content: Some(Arc::from(&b"root\n"[..])) },
            IndexedEntry { path: "etc/l".into(), meta: link, index: 2, content: None },
            IndexedEntry { path: "dev/null".into(), meta: dev, index: 3, content: None },
        ]
    }

    fn digests() -> (Digest, Digest) {
        (Digest::sha256(b"blob"), Digest::sha256(b"tar"))
    }

    #[test]
    fn stored_entries_come_back_and_damage_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let cache = IndexCache::new(dir.path().join("index"));
        let (digest, diff_id) = digests();
        assert_eq!(cache.load(&digest, &diff_id), None, "nothing stored yet");
        cache.store(&digest, &diff_id, &sample());
        assert_eq!(cache.load(&digest, &diff_id), Some(sample()));
        // Another blob of the same diff_id (another compression) does not use it.
        assert_eq!(cache.load(&Digest::sha256(b"other"), &diff_id), None);

        let path = cache.path(&diff_id);
        let good = std::fs::read(&path).unwrap();
        // Every truncation and every flipped byte is refused.
        for cut in [0, 10, good.len() / 2, good.len() - 1] {
            std::fs::write(&path, &good[..cut]).unwrap();
            assert_eq!(cache.load(&digest, &diff_id), None, "cut at {cut}");
        }
        for at in [0, 20, good.len() / 2, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x40;
            std::fs::write(&path, &bad).unwrap();
            assert_eq!(cache.load(&digest, &diff_id), None, "byte {at} flipped");
        }
        // Another format version, even with a matching hash, is ignored.
        let mut other = good[..good.len() - 32].to_vec();
        other[14] = b'9';
        let hash = Sha256::digest(&other);
        other.extend_from_slice(&hash);
        std::fs::write(&path, &other).unwrap();
        assert_eq!(cache.load(&digest, &diff_id), None, "another version");
        // Stored again, it is whole again.
        cache.store(&digest, &diff_id, &sample());
        assert_eq!(cache.load(&digest, &diff_id), Some(sample()));
    }

    #[test]
    fn writers_at_once_leave_one_whole_index() {
        let dir = tempfile::tempdir().unwrap();
        let cache = IndexCache::new(dir.path());
        let (digest, diff_id) = digests();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let cache = cache.clone();
                let (digest, diff_id) = (digest.clone(), diff_id.clone());
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        cache.store(&digest, &diff_id, &sample());
                        if let Some(read) = cache.load(&digest, &diff_id) {
                            assert_eq!(read, sample());
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(cache.load(&digest, &diff_id), Some(sample()));
    }

    #[test]
    fn indexes_of_layers_not_kept_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = IndexCache::new(dir.path());
        let (digest, diff_id) = digests();
        cache.store(&digest, &diff_id, &sample());
        let other = (Digest::sha256(b"b2"), Digest::sha256(b"t2"));
        cache.store(&other.0, &other.1, &sample());
        std::fs::write(dir.path().join("stray"), b"not an index").unwrap();
        assert_eq!(cache.remove_unless(|d| *d == digest).unwrap(), 2);
        assert!(cache.load(&digest, &diff_id).is_some());
        assert!(cache.load(&other.0, &other.1).is_none());
    }
}
