//! Atomic file writes, with one policy for every file this crate writes.
//!
//! The content goes to a temporary file in the target's directory; on commit the file is
//! flushed and `fsync`ed, renamed over the target, and the directory is `fsync`ed, so
//! after a crash the target holds either the old content or the whole new content,
//! never a part. A writer dropped without commit removes its temporary file.
//!
//! ```
//! # fn main() -> oci_core::Result<()> {
//! use std::io::Write;
//! use oci_core::{AtomicFile, FileMode, write_atomic};
//! let dir = tempfile::tempdir().unwrap();
//! write_atomic(&dir.path().join("small.json"), b"{}", FileMode::Public)?;
//! let mut big = AtomicFile::create(dir.path().join("big.txt"), FileMode::Public)?;
//! for i in 0..1000 {
//!     writeln!(big, "line {i}").unwrap();
//! }
//! big.commit()?;
//! assert_eq!(std::fs::read(dir.path().join("small.json")).unwrap(), b"{}");
//! # Ok(()) }
//! ```

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::IoContext;
use crate::{Error, Result};

/// The prefix of every temporary file (an [`crate::OciLayout::gc`] removes stale ones).
pub(crate) const TMP_PREFIX: &str = ".oci-harden-tmp-";

/// Who may read a file written by [`AtomicFile`] or [`write_atomic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileMode {
    /// Like a file a shell creates: mode 0666 less the process umask (images, archives,
    /// layouts, reports, databases).
    Public,
    /// Readable and writable by the owner only: mode 0600, whatever the umask
    /// (credentials).
    Private,
}

impl FileMode {
    fn bits(self) -> u32 {
        match self {
            FileMode::Public => 0o666,
            FileMode::Private => 0o600,
        }
    }
}

/// A file being written atomically.
///
/// The content goes to a temporary file in the target's directory; [`AtomicFile::commit`]
/// flushes and `fsync`s it, renames it over the target and `fsync`s the directory, so
/// after a crash the target holds either the old content or the whole new content.
/// Nothing is visible at the target until [`AtomicFile::commit`] succeeds; dropping the
/// writer (or a failed commit) removes the temporary file.
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    /// The temporary file (removed on drop unless persisted).
    tmp: NamedTempFile,
    /// Writes go to a duplicate of its descriptor, so that their errors carry no path of a
    /// temporary file that will be gone by the time the error is shown.
    out: BufWriter<SyncBehind>,
}

impl AtomicFile {
    /// Starts writing `path` (which need not exist; its directory must).
    pub fn create(path: impl AsRef<Path>, mode: FileMode) -> Result<AtomicFile> {
        let target = path.as_ref().to_path_buf();
        let dir = parent_dir(&target).to_path_buf();
        AtomicFile::in_dir(&dir, target, mode)
    }

    /// Starts writing a file in `dir` whose final name is given later, to
    /// [`AtomicFile::commit_as`] (a blob is named by the digest of what was written).
    ///
    /// The temporary file is locked (`flock`) while this process holds it, so that a
    /// cleaner can tell a live writer's file from one a crashed process left behind
    /// ([`remove_orphaned_temp_files`]).
    pub(crate) fn in_dir(dir: &Path, target: PathBuf, mode: FileMode) -> Result<AtomicFile> {
        let creating = || format!("creating a temporary file in {}", dir.display());
        loop {
            let tmp = tempfile::Builder::new()
                .prefix(TMP_PREFIX)
                .permissions(fs::Permissions::from_mode(mode.bits()))
                .tempfile_in(dir)
                .context(creating)?;
            tmp.as_file().lock().context(creating)?;
            // A cleaner may have removed the file between its creation and our lock: it
            // saw an unlocked temporary file. Start again with a new one.
            if tmp.as_file().metadata().context(creating)?.nlink() > 0 {
                let file = tmp.as_file().try_clone().context(creating)?;
                let out = BufWriter::with_capacity(256 << 10, SyncBehind { file, unsynced: 0, syncing: None });
                return Ok(AtomicFile { target, tmp, out });
            }
        }
    }

    /// The file the content will be committed to.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Another descriptor of the temporary file, for reading what was flushed so far.
    pub(crate) fn reopen(&self) -> std::io::Result<File> {
        self.tmp.as_file().try_clone()
    }

    /// The temporary file, for a caller that fills it by path (`fs::copy`).
    pub(crate) fn temp_path(&self) -> &Path {
        self.tmp.path()
    }

    /// Flushes, `fsync`s and renames the file over its target, then `fsync`s the
    /// directory.
    pub fn commit(self) -> Result<()> {
        let target = self.target.clone();
        self.commit_as(&target)
    }

    /// Like [`AtomicFile::commit`], to `target` instead (on the same filesystem).
    pub(crate) fn commit_as(self, target: &Path) -> Result<()> {
        let shown = target.display();
        let mut out = self.out.into_inner().map_err(|e| Error::io(format!("writing {shown}"), e.into_error()))?;
        out.synced().context(|| format!("writing {shown}"))?;
        out.file.sync_all().context(|| format!("writing {shown}"))?;
        drop(out);
        self.tmp.persist(target).map_err(|e| Error::io(format!("replacing {shown}"), e.error))?;
        sync_dir(parent_dir(target))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Bytes written between two syncs of a large file's data started in the background.
const SYNC_STEP: u64 = 32 << 20;

/// The temporary file, its data synced in the background as it grows: every
/// [`SYNC_STEP`] bytes a thread `fdatasync`s what was written so far (one at a time), so
/// that the `fsync` of the commit finds little left to write and does not stall a large
/// file's writer for the time it takes the disk to take it all.
#[derive(Debug)]
struct SyncBehind {
    file: File,
    unsynced: u64,
    syncing: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl SyncBehind {
    /// Waits for the sync in flight; its error, if it failed.
    fn synced(&mut self) -> io::Result<()> {
        match self.syncing.take() {
            Some(sync) => sync.join().unwrap_or_else(|_| Err(io::Error::other("a background sync panicked"))),
            None => Ok(()),
        }
    }
}

impl Write for SyncBehind {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.unsynced += n as u64;
        if self.unsynced >= SYNC_STEP && self.syncing.as_ref().is_none_or(std::thread::JoinHandle::is_finished) {
            self.synced()?;
            self.unsynced = 0;
            let file = self.file.try_clone()?;
            // No thread: the commit's fsync does it all, as without this.
            self.syncing = std::thread::Builder::new().name("sync".into()).spawn(move || file.sync_data()).ok();
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for SyncBehind {
    fn drop(&mut self) {
        let _ = self.synced();
    }
}

/// Writes `bytes` to `path` atomically, as [`AtomicFile`] does.
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8], mode: FileMode) -> Result<()> {
    let path = path.as_ref();
    let mut file = AtomicFile::create(path, mode)?;
    file.write_all(bytes).context(|| format!("writing {}", path.display()))?;
    file.commit()
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Whether `name` is the name of one of this crate's temporary files.
pub(crate) fn is_temp_name(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().starts_with(TMP_PREFIX.as_bytes())
}

/// Whether the temporary file at `path` was left behind by a writer that is gone (it is
/// not locked), as opposed to one a live writer holds. `None` when it no longer exists.
pub(crate) fn is_orphaned(path: &Path) -> Option<bool> {
    let file = File::open(path).ok()?;
    match file.try_lock() {
        Ok(()) => Some(true),
        Err(_) => Some(false),
    }
}

/// Removes the temporary files in `dir` that no live writer holds (left by a process
/// that crashed or was killed) and returns their paths, sorted. Files being written by
/// other processes at the same time are kept.
pub(crate) fn remove_orphaned_temp_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for entry in fs::read_dir(dir).context(|| format!("listing {}", dir.display()))? {
        let entry = entry.context(|| format!("listing {}", dir.display()))?;
        if !is_temp_name(&entry.file_name()) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = File::open(&path) else { continue };
        // Holding the lock while removing: a writer that created the file and has not
        // locked it yet sees it unlinked once it gets the lock, and starts over.
        if file.try_lock().is_ok() {
            match fs::remove_file(&path) {
                Ok(()) => removed.push(path),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(format!("removing {}", path.display()), e)),
            }
        }
    }
    removed.sort();
    Ok(removed)
}

/// Makes a rename or creation in `dir` durable.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).context(|| format!("syncing directory {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_file_synced_behind_its_writer_commits_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("large");
        let mut file = AtomicFile::create(&path, FileMode::Public).unwrap();
        // Past two sync steps, in odd-sized writes.
        let chunk: Vec<u8> = (0..1_000_003u32).map(|i| (i % 251) as u8).collect();
        let mut written = 0u64;
        while written < 2 * SYNC_STEP + 5 {
            file.write_all(&chunk).unwrap();
            written += chunk.len() as u64;
        }
        assert!(file.out.get_ref().syncing.is_some(), "a sync was started in the background");
        file.commit().unwrap();
        let content = fs::read(&path).unwrap();
        assert_eq!(content.len() as u64, written);
        assert!(content.chunks(chunk.len()).all(|c| c == chunk.as_slice()));
        // Only the target is left.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    fn umask() -> u32 {
        let status = fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find_map(|l| l.strip_prefix("Umask:")).expect("Umask: line");
        u32::from_str_radix(line.trim(), 8).unwrap()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn writes_content_and_replaces_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_atomic(&path, b"one", FileMode::Public).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        let mut w = AtomicFile::create(&path, FileMode::Public).unwrap();
        w.write_all(b"two, ").unwrap();
        w.write_all(&vec![b'x'; 1 << 20]).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one", "nothing visible before commit");
        w.commit().unwrap();
        let got = fs::read(&path).unwrap();
        assert_eq!(got.len(), 5 + (1 << 20));
        assert!(got.starts_with(b"two, x"));
        assert_eq!(names(dir.path()), ["f"]);
    }

    #[test]
    fn public_is_0666_less_umask_and_private_is_0600() {
        let dir = tempfile::tempdir().unwrap();
        let public = dir.path().join("public");
        let private = dir.path().join("private");
        write_atomic(&public, b"p", FileMode::Public).unwrap();
        write_atomic(&private, b"s", FileMode::Private).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!(mode(&public), 0o666 & !umask(), "umask {:o}", umask());
        assert_eq!(mode(&private), 0o600);
        // Replacing a file gives the new file the policy's mode, not the old file's.
        fs::set_permissions(&private, fs::Permissions::from_mode(0o644)).unwrap();
        write_atomic(&private, b"s2", FileMode::Private).unwrap();
        assert_eq!(mode(&private), 0o600);
    }

    #[test]
    fn drop_without_commit_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = AtomicFile::create(dir.path().join("f"), FileMode::Public).unwrap();
        w.write_all(b"partial").unwrap();
        w.flush().unwrap();
        assert_eq!(names(dir.path()).len(), 1, "the temporary file exists while writing");
        drop(w);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn only_temporary_files_without_a_live_writer_are_orphans() {
        let dir = tempfile::tempdir().unwrap();
        let mut live = AtomicFile::create(dir.path().join("live"), FileMode::Public).unwrap();
        live.write_all(b"in progress").unwrap();
        let live_tmp = live.temp_path().to_path_buf();
        // What a killed writer leaves: a temporary file nobody holds.
        let dead = dir.path().join(format!("{TMP_PREFIX}killed"));
        fs::write(&dead, b"half").unwrap();
        fs::write(dir.path().join("other"), b"not ours").unwrap();
        assert_eq!(is_orphaned(&live_tmp), Some(false));
        assert_eq!(is_orphaned(&dead), Some(true));
        assert_eq!(remove_orphaned_temp_files(dir.path()).unwrap(), std::slice::from_ref(&dead));
        assert!(!dead.exists() && live_tmp.exists());
        live.commit().unwrap();
        assert_eq!(fs::read(dir.path().join("live")).unwrap(), b"in progress");
        assert_eq!(names(dir.path()), ["live", "other"]);
    }

    #[test]
    fn failed_commit_leaves_the_target_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("taken");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("inside"), b"keep").unwrap();
        let err = write_atomic(&target, b"new", FileMode::Public).unwrap_err();
        assert!(err.to_string().contains("replacing") && err.to_string().contains("taken"), "{err}");
        assert_eq!(names(dir.path()), ["taken"]);
        assert_eq!(fs::read(target.join("inside")).unwrap(), b"keep");
        let err = write_atomic(dir.path().join("missing/f"), b"x", FileMode::Public).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
    }
}
