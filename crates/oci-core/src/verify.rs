//! Integrity checks of stored images: every reachable blob's digest and size, every
//! manifest, index and config against the image-spec, diff_ids against the layers'
//! uncompressed digests, and for a whole layout the files around them (temporary files a
//! crashed writer left, tags pointing at missing manifests, blobs not named by their
//! digest).
//!
//! Problems are collected, not raised: a check goes on past the first one and reports
//! them all as [`Problem`]s in a [`VerifyReport`]. An [`Error`] is returned only when the
//! check itself cannot run (the directory is not a layout, a file cannot be listed).
//!
//! Layers are streamed: the compressed bytes are hashed as the decompressor reads them
//! and the decompressed bytes as they come out, so memory stays bounded whatever the
//! layer's size; JSON documents are read within [`Limits::max_json_bytes`].
//!
//! ```
//! # fn main() -> oci_core::Result<()> {
//! let layout = oci_core::OciLayout::open("../../examples/alpine")?;
//! let report = oci_core::verify_layout(&layout)?;
//! assert!(report.is_clean(), "{:?}", report.problems);
//! assert_eq!(report.stats.layers, 1);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::atomic::{is_orphaned, is_temp_name};
use crate::error::IoContext;
use crate::{
    Algorithm, BlobSource, Compression, Descriptor, Digest, Error, Hasher, ImageConfig, ImageSource, Limits, Manifest,
    MediaType, OciLayout, RawManifest, Result, decompress,
};

/// What is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ProblemKind {
    /// A descriptor names a blob that is not there.
    MissingBlob,
    /// A tag (an `index.json` entry) names a manifest that is not there.
    DanglingTag,
    /// A blob's content does not hash to its digest.
    DigestMismatch,
    /// A blob does not have the size its descriptor says.
    SizeMismatch,
    /// A manifest or index is not valid JSON or not what the image-spec requires.
    InvalidManifest,
    /// A config is not valid JSON or not what the image-spec requires (or does not
    /// match its manifest's layers).
    InvalidConfig,
    /// A layer's decompressed content does not hash to its diff_id in the config.
    DiffIdMismatch,
    /// A layer cannot be decompressed, or its media type names no known compression.
    CorruptLayer,
    /// A JSON document is larger than the limit allows.
    TooLarge,
    /// A blob could not be read (an I/O error other than its absence).
    Unreadable,
    /// `index.json` is not valid JSON or not an image index.
    InvalidIndex,
    /// A temporary file that no live writer holds: left by a crashed or killed process.
    OrphanedTempFile,
    /// A file in `blobs/` whose name is not its content's digest.
    MisnamedBlob,
    /// A file in `blobs/` that is not a blob (a bad name, a directory).
    UnexpectedFile,
}

impl ProblemKind {
    /// A short name (`digest-mismatch`), as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::MissingBlob => "missing-blob",
            ProblemKind::DanglingTag => "dangling-tag",
            ProblemKind::DigestMismatch => "digest-mismatch",
            ProblemKind::SizeMismatch => "size-mismatch",
            ProblemKind::InvalidManifest => "invalid-manifest",
            ProblemKind::InvalidConfig => "invalid-config",
            ProblemKind::DiffIdMismatch => "diff-id-mismatch",
            ProblemKind::CorruptLayer => "corrupt-layer",
            ProblemKind::TooLarge => "too-large",
            ProblemKind::Unreadable => "unreadable",
            ProblemKind::InvalidIndex => "invalid-index",
            ProblemKind::OrphanedTempFile => "orphaned-temp-file",
            ProblemKind::MisnamedBlob => "misnamed-blob",
            ProblemKind::UnexpectedFile => "unexpected-file",
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a problem is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum Location {
    /// A blob, by the digest that names it.
    Blob(Digest),
    /// A tag of a layout.
    Tag(String),
    /// A file (a layout's `index.json`, a temporary file, a file in `blobs/`).
    File(PathBuf),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Blob(d) => write!(f, "{d}"),
            Location::Tag(t) => write!(f, "tag {t}"),
            Location::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// What is wrong.
    pub kind: ProblemKind,
    /// Where.
    pub location: Location,
    /// How it was reached, e.g. `tag 3.20 > manifest sha256:… > layer 0`; empty for
    /// files found by listing the layout.
    pub via: String,
    /// The details: expected and found digests or sizes, the parser's message…
    pub detail: String,
}

/// What was checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct VerifyStats {
    /// Manifests and indexes read.
    pub manifests: u64,
    /// Configs read.
    pub configs: u64,
    /// Layers hashed (compressed and decompressed).
    pub layers: u64,
    /// Blobs checked in all (each once, however often it is referenced).
    pub blobs: u64,
    /// Bytes of blobs read.
    pub bytes: u64,
}

/// The outcome of [`verify`] or [`verify_layout`]: what was checked and every problem
/// found, in the order found (deterministic for a given input).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// What was checked.
    pub stats: VerifyStats,
    /// What is wrong; empty when all is well.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// Whether no problem was found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// The problems of one kind.
    pub fn of_kind(&self, kind: ProblemKind) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(move |p| p.kind == kind)
    }
}

/// Checks everything `source`'s top manifest or index reaches: each blob's digest and
/// size, each manifest, index and config, each layer's diff_id.
pub fn verify(source: &ImageSource) -> Result<VerifyReport> {
    let mut checker = Checker::new(&**source.blobs(), *source.limits());
    checker.descriptor(source.top(), &format!("{}", source.reference()), 0);
    Ok(checker.report)
}

/// Checks a whole layout: every entry of `index.json` as [`verify`] does (a tag naming a
/// missing manifest is a [`ProblemKind::DanglingTag`]), then every file in `blobs/` (its
/// name must be its digest), and temporary files no live writer holds.
pub fn verify_layout(layout: &OciLayout) -> Result<VerifyReport> {
    let mut checker = Checker::new(layout, *layout.limits());
    match layout.index() {
        Ok(index) => {
            for (i, entry) in index.manifests.iter().enumerate() {
                let via = match entry.ref_name() {
                    Some(tag) => format!("tag {tag}"),
                    None => format!("index.json entry {i}"),
                };
                if !layout.has_blob(&entry.digest) {
                    let kind =
                        if entry.ref_name().is_some() { ProblemKind::DanglingTag } else { ProblemKind::MissingBlob };
                    let location = match entry.ref_name() {
                        Some(tag) => Location::Tag(tag.to_owned()),
                        None => Location::Blob(entry.digest.clone()),
                    };
                    checker.problem(
                        kind,
                        location,
                        &via,
                        format!("names {} {}, which is not in the layout", entry.media_type, entry.digest),
                    );
                    continue;
                }
                checker.descriptor(entry, &via, 0);
            }
        }
        Err(e) => {
            checker.problem(
                ProblemKind::InvalidIndex,
                Location::File(layout.root().join("index.json")),
                "",
                e.to_string(),
            );
        }
    }
    for dir in [layout.root().to_path_buf(), layout.root().join("blobs")] {
        temp_files(&dir, &mut checker)?;
    }
    let blobs = layout.root().join("blobs");
    for alg_dir in sorted_entries(&blobs)? {
        let name = alg_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if is_temp_name(alg_dir.file_name().unwrap_or_default()) {
            continue;
        }
        let algorithm = [Algorithm::Sha256, Algorithm::Sha512].into_iter().find(|a| a.as_str() == name);
        let Some(algorithm) = algorithm.filter(|_| alg_dir.is_dir()) else {
            checker.problem(
                ProblemKind::UnexpectedFile,
                Location::File(alg_dir),
                "",
                "not a digest algorithm's directory".into(),
            );
            continue;
        };
        temp_files(&alg_dir, &mut checker)?;
        for path in sorted_entries(&alg_dir)? {
            let file_name = path.file_name().unwrap_or_default();
            if is_temp_name(file_name) {
                continue;
            }
            let digest = format!("{algorithm}:{}", file_name.to_string_lossy()).parse::<Digest>();
            let digest = match digest {
                Ok(d) if path.is_file() => d,
                Ok(_) => {
                    checker.problem(ProblemKind::UnexpectedFile, Location::File(path), "", "not a regular file".into());
                    continue;
                }
                Err(e) => {
                    checker.problem(ProblemKind::UnexpectedFile, Location::File(path), "", e.to_string());
                    continue;
                }
            };
            if checker.seen.contains_key(&digest) {
                continue; // checked above, against the descriptor that named it
            }
            checker.unreferenced_blob(layout, &digest, &path);
        }
    }
    Ok(checker.report)
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).context(|| format!("listing {}", dir.display()))? {
        out.push(entry.context(|| format!("listing {}", dir.display()))?.path());
    }
    out.sort();
    Ok(out)
}

fn temp_files(dir: &Path, checker: &mut Checker<'_>) -> Result<()> {
    for path in sorted_entries(dir)? {
        if !is_temp_name(path.file_name().unwrap_or_default()) {
            continue;
        }
        if is_orphaned(&path) == Some(true) {
            let size = fs::symlink_metadata(&path).map(|m| m.len()).unwrap_or(0);
            checker.problem(
                ProblemKind::OrphanedTempFile,
                Location::File(path),
                "",
                format!("{size} bytes that no running writer holds (left by an interrupted write)"),
            );
        }
    }
    Ok(())
}

/// What is known of a blob already checked.
#[derive(Debug, Clone)]
enum Seen {
    /// Its digest and size are right; for a layer, the digest of its decompressed
    /// content (`None` when it could not be decompressed, already reported).
    Good(Option<Digest>),
    /// A sound config, with its diff_ids.
    Config(Vec<Digest>),
    /// A problem was reported for it.
    Bad,
}

struct Checker<'a> {
    blobs: &'a dyn BlobSource,
    limits: Limits,
    seen: HashMap<Digest, Seen>,
    report: VerifyReport,
}

impl<'a> Checker<'a> {
    fn new(blobs: &'a dyn BlobSource, limits: Limits) -> Checker<'a> {
        Checker { blobs, limits, seen: HashMap::new(), report: VerifyReport::default() }
    }

    fn problem(&mut self, kind: ProblemKind, location: Location, via: &str, detail: String) {
        self.report.problems.push(Problem { kind, location, via: via.to_owned(), detail });
    }

    /// Reports `err` (from reading or checking the blob `desc`) as a problem.
    fn blob_error(&mut self, desc: &Descriptor, via: &str, err: Error, invalid: ProblemKind) {
        let kind = match &err {
            Error::NotFound { .. } => ProblemKind::MissingBlob,
            Error::DigestMismatch { .. } => ProblemKind::DigestMismatch,
            Error::SizeMismatch { .. } => ProblemKind::SizeMismatch,
            Error::TooLarge { .. } => ProblemKind::TooLarge,
            Error::Json { .. } | Error::Invalid { .. } | Error::InvalidDigest { .. } => invalid,
            Error::UnsupportedMediaType { .. } => invalid,
            _ => ProblemKind::Unreadable,
        };
        self.seen.insert(desc.digest.clone(), Seen::Bad);
        self.problem(kind, Location::Blob(desc.digest.clone()), via, err.to_string());
    }

    fn descriptor(&mut self, desc: &Descriptor, via: &str, depth: usize) {
        if desc.media_type.is_index() || desc.media_type.is_manifest() {
            self.manifest(desc, via, depth);
        } else {
            self.plain_blob(desc, via);
        }
    }

    /// Reads a JSON document whole (within the limit), checking digest and size.
    fn json(&mut self, desc: &Descriptor, via: &str, invalid: ProblemKind) -> Option<Vec<u8>> {
        match crate::layout::read_verified(self.blobs, desc, &self.limits) {
            Ok(bytes) => {
                self.report.stats.blobs += 1;
                self.report.stats.bytes += bytes.len() as u64;
                Some(bytes)
            }
            Err(e) => {
                self.blob_error(desc, via, e, invalid);
                None
            }
        }
    }

    fn manifest(&mut self, desc: &Descriptor, via: &str, depth: usize) {
        if self.seen.contains_key(&desc.digest) {
            return;
        }
        let Some(bytes) = self.json(desc, via, ProblemKind::InvalidManifest) else { return };
        self.report.stats.manifests += 1;
        let what = format!("manifest {}", desc.digest);
        let parsed = RawManifest::verified(bytes, desc, &what).and_then(|raw| raw.parse());
        let parsed = match parsed {
            Ok(m) => m,
            Err(e) => return self.blob_error(desc, via, e, ProblemKind::InvalidManifest),
        };
        self.seen.insert(desc.digest.clone(), Seen::Good(None));
        let here = format!("{via} > {}", desc.digest);
        match parsed {
            Manifest::Index(index) => {
                if depth >= self.limits.max_index_depth {
                    let detail = format!("indexes nested deeper than {} levels", self.limits.max_index_depth);
                    return self.problem(
                        ProblemKind::InvalidManifest,
                        Location::Blob(desc.digest.clone()),
                        via,
                        detail,
                    );
                }
                for child in &index.manifests {
                    self.descriptor(child, &here, depth + 1);
                }
            }
            Manifest::Image(m) => {
                let diff_ids = self.config(&m.config, &format!("{here} > config"));
                let fs_layers: Vec<&Descriptor> = m.layers.iter().filter(|l| l.media_type.is_layer()).collect();
                if let Some(ids) = &diff_ids
                    && ids.len() != fs_layers.len()
                {
                    let detail = format!(
                        "the manifest {} lists {} layers but the config has {} diff_ids",
                        desc.digest,
                        fs_layers.len(),
                        ids.len()
                    );
                    self.problem(ProblemKind::InvalidConfig, Location::Blob(m.config.digest.clone()), &here, detail);
                }
                let mut fs_index = 0;
                for (i, layer) in m.layers.iter().enumerate() {
                    let layer_via = format!("{here} > layer {i}");
                    if layer.media_type.is_layer() {
                        let diff_id = diff_ids.as_ref().and_then(|ids| ids.get(fs_index));
                        fs_index += 1;
                        self.layer(layer, diff_id, &layer_via);
                    } else {
                        self.plain_blob(layer, &layer_via);
                    }
                }
            }
        }
    }

    /// Checks a config; returns its diff_ids when it is sound.
    fn config(&mut self, desc: &Descriptor, via: &str) -> Option<Vec<Digest>> {
        match self.seen.get(&desc.digest) {
            Some(Seen::Config(ids)) => return Some(ids.clone()),
            Some(_) => return None,
            None => {}
        }
        let bytes = self.json(desc, via, ProblemKind::InvalidConfig)?;
        self.report.stats.configs += 1;
        let config = match ImageConfig::parse(&bytes, &format!("config {}", desc.digest)) {
            Ok(c) => c,
            Err(e) => {
                self.blob_error(desc, via, e, ProblemKind::InvalidConfig);
                return None;
            }
        };
        if matches!(desc.media_type, MediaType::OciConfig | MediaType::DockerConfig) {
            let mut missing = Vec::new();
            if config.architecture().is_none() {
                missing.push("architecture");
            }
            if config.os().is_none() {
                missing.push("os");
            }
            let rootfs_type = config.as_json().get("rootfs").and_then(|r| r.get("type")).and_then(|t| t.as_str());
            if rootfs_type != Some("layers") {
                missing.push("rootfs.type \"layers\"");
            }
            if !missing.is_empty() {
                let detail = format!("config {} lacks {}", desc.digest, missing.join(", "));
                self.problem(ProblemKind::InvalidConfig, Location::Blob(desc.digest.clone()), via, detail);
                self.seen.insert(desc.digest.clone(), Seen::Bad);
                return None;
            }
        }
        let ids = config.diff_ids().ok()?;
        self.seen.insert(desc.digest.clone(), Seen::Config(ids.clone()));
        Some(ids)
    }

    /// Hashes a blob that is neither a manifest nor a layer.
    fn plain_blob(&mut self, desc: &Descriptor, via: &str) {
        if self.seen.contains_key(&desc.digest) {
            return;
        }
        let result = self.blobs.open_blob(desc).and_then(|raw| {
            let mut reader =
                crate::VerifyingReader::new(raw, desc.digest.clone(), Some(desc.size), format!("blob {}", desc.digest));
            io::copy(&mut reader, &mut io::sink()).map_err(|e| Error::io(format!("reading blob {}", desc.digest), e))
        });
        match result {
            Ok(n) => {
                self.report.stats.blobs += 1;
                self.report.stats.bytes += n;
                self.seen.insert(desc.digest.clone(), Seen::Good(None));
            }
            Err(e) => self.blob_error(desc, via, e, ProblemKind::Unreadable),
        }
    }

    /// Hashes a layer's compressed bytes and, as they are decompressed, its tar stream,
    /// then compares with the descriptor and with `diff_id`.
    fn layer(&mut self, desc: &Descriptor, diff_id: Option<&Digest>, via: &str) {
        let uncompressed = match self.seen.get(&desc.digest) {
            Some(Seen::Bad | Seen::Config(_)) => return,
            Some(Seen::Good(u)) => u.clone(),
            None => match self.hash_layer(desc, via) {
                Some(u) => u,
                None => return,
            },
        };
        if let (Some(found), Some(expected)) = (uncompressed, diff_id)
            && &found != expected
        {
            let detail = format!(
                "layer {} decompresses to content hashing to {found}; the config's diff_id says {expected}",
                desc.digest
            );
            self.problem(ProblemKind::DiffIdMismatch, Location::Blob(desc.digest.clone()), via, detail);
        }
    }

    /// Returns `Some(uncompressed digest, if it could be decompressed)` when digest and
    /// size are right, `None` when a problem was reported.
    fn hash_layer(&mut self, desc: &Descriptor, via: &str) -> Option<Option<Digest>> {
        let raw = match self.blobs.open_blob(desc) {
            Ok(r) => r,
            Err(e) => {
                self.blob_error(desc, via, e, ProblemKind::Unreadable);
                return None;
            }
        };
        let tee = Tee(Arc::new(Mutex::new(TeeState {
            inner: raw,
            hasher: Some(desc.digest.algorithm().hasher()),
            read: 0,
            error: None,
        })));
        let mut head = [0u8; 4];
        let mut head_reader = tee.clone();
        let n = read_up_to(&mut head_reader, &mut head);
        let compression = match desc.media_type.layer_compression() {
            Some(Compression::None) if desc.media_type == MediaType::DockerLayer => {
                Some(Compression::sniff(&head[..n]))
            }
            other => other,
        };
        let mut decompress_error = None;
        let mut uncompressed = None;
        match compression {
            Some(compression) => {
                let stream = Cursor::new(head[..n].to_vec()).chain(tee.clone());
                let what = format!("layer {}", desc.digest);
                let mut out = decompress(stream, compression, &self.limits, &what);
                let mut hasher = HashSink(desc.digest.algorithm().hasher(), 0);
                match io::copy(&mut out, &mut hasher) {
                    Ok(_) => uncompressed = Some(hasher.0.finish()),
                    Err(e) => decompress_error = Some(Error::io(format!("decompressing {what}"), e)),
                }
            }
            None => {
                decompress_error = Some(Error::UnsupportedMediaType {
                    media_type: desc.media_type.to_string(),
                    what: format!("layer {}", desc.digest),
                })
            }
        }
        // Hash what the decompressor left (trailing bytes, or all of it after an error).
        let (found, size, read_error) = tee.finish();
        self.report.stats.bytes += size;
        if let Some(e) = read_error {
            self.blob_error(desc, via, Error::io(format!("reading blob {}", desc.digest), e), ProblemKind::Unreadable);
            return None;
        }
        if size != desc.size {
            let err = Error::SizeMismatch { what: format!("blob {}", desc.digest), expected: desc.size, found: size };
            self.blob_error(desc, via, err, ProblemKind::Unreadable);
            return None;
        }
        if found != desc.digest {
            let err =
                Error::DigestMismatch { what: format!("blob {}", desc.digest), expected: desc.digest.clone(), found };
            self.blob_error(desc, via, err, ProblemKind::Unreadable);
            return None;
        }
        self.report.stats.blobs += 1;
        self.report.stats.layers += 1;
        if let Some(e) = decompress_error {
            let kind =
                if matches!(e, Error::TooLarge { .. }) { ProblemKind::TooLarge } else { ProblemKind::CorruptLayer };
            self.problem(kind, Location::Blob(desc.digest.clone()), via, e.to_string());
            self.seen.insert(desc.digest.clone(), Seen::Bad);
            return None;
        }
        self.seen.insert(desc.digest.clone(), Seen::Good(uncompressed.clone()));
        Some(uncompressed)
    }

    /// A file in `blobs/` that nothing checked so far referenced: its name must be its
    /// digest.
    fn unreferenced_blob(&mut self, layout: &OciLayout, digest: &Digest, path: &Path) {
        let hashed = layout.open_blob_file(digest).and_then(|file| {
            let mut sink = HashSink(digest.algorithm().hasher(), 0);
            io::copy(&mut io::BufReader::with_capacity(128 << 10, file), &mut sink)
                .context(|| format!("reading {}", path.display()))?;
            Ok((sink.0.finish(), sink.1))
        });
        match hashed {
            Ok((found, size)) => {
                self.report.stats.blobs += 1;
                self.report.stats.bytes += size;
                if &found != digest {
                    let detail = format!("the content hashes to {found}");
                    self.problem(ProblemKind::MisnamedBlob, Location::File(path.to_path_buf()), "", detail);
                }
            }
            Err(e) => self.problem(ProblemKind::Unreadable, Location::File(path.to_path_buf()), "", e.to_string()),
        }
        self.seen.insert(digest.clone(), Seen::Good(None));
    }
}

fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

/// A writer that only hashes and counts.
struct HashSink(Hasher, u64);

impl io::Write for HashSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        self.1 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A blob reader that hashes what passes through it, shared between the decompressor
/// and the caller, who reads what the decompressor left once it is done.
#[derive(Clone)]
struct Tee(Arc<Mutex<TeeState>>);

struct TeeState {
    inner: Box<dyn Read + Send>,
    hasher: Option<Hasher>,
    read: u64,
    error: Option<io::Error>,
}

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut state = self.0.lock().expect("not poisoned");
        match state.inner.read(buf) {
            Ok(n) => {
                if let Some(h) = state.hasher.as_mut() {
                    h.update(&buf[..n]);
                }
                state.read += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let shown = io::Error::new(e.kind(), e.to_string());
                state.error.get_or_insert(e);
                Err(shown)
            }
        }
    }
}

impl Tee {
    /// Reads the rest, and returns the digest and size of everything, or the read error.
    fn finish(self) -> (Digest, u64, Option<io::Error>) {
        let mut buf = vec![0u8; 128 << 10];
        let mut me = self;
        loop {
            match me.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let mut state = me.0.lock().expect("not poisoned");
        let digest = state.hasher.take().expect("finished once").finish();
        (digest, state.read, state.error.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::write_image;

    fn layout() -> (tempfile::TempDir, OciLayout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path()).unwrap();
        (dir, layout)
    }

    fn kinds(report: &VerifyReport) -> Vec<ProblemKind> {
        report.problems.iter().map(|p| p.kind).collect()
    }

    #[test]
    fn a_sound_layout_is_clean_and_every_blob_is_counted() {
        let (_d, l) = layout();
        write_image(&l, "a", &[&[("f", b"1")], &[("g", b"2")]]).unwrap();
        write_image(&l, "b", &[&[("f", b"1")]]).unwrap();
        let report = verify_layout(&l).unwrap();
        assert!(report.is_clean(), "{:?}", report.problems);
        let on_disk = fs::read_dir(l.root().join("blobs/sha256")).unwrap().count() as u64;
        assert_eq!(report.stats.blobs, on_disk);
        assert_eq!((report.stats.manifests, report.stats.layers), (2, 2));
    }

    #[test]
    fn a_flipped_byte_in_a_layer_is_a_digest_mismatch_of_that_layer() {
        let (_d, l) = layout();
        let desc = write_image(&l, "a", &[&[("f", b"1")]]).unwrap();
        let manifest: crate::ImageManifest = serde_json::from_slice(&l.read_json_blob(&desc).unwrap()).unwrap();
        let layer = &manifest.layers[0];
        let path = l.blob_path(&layer.digest);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 5;
        bytes[last] ^= 0x40;
        fs::write(&path, &bytes).unwrap();
        let report = verify_layout(&l).unwrap();
        assert_eq!(kinds(&report), [ProblemKind::DigestMismatch]);
        let p = &report.problems[0];
        assert_eq!(p.location, Location::Blob(layer.digest.clone()));
        assert!(p.via.starts_with("tag a > ") && p.via.ends_with("> layer 0"), "{}", p.via);
    }

    #[test]
    fn a_missing_manifest_is_a_dangling_tag_and_a_temp_file_of_a_dead_writer_is_an_orphan() {
        let (_d, l) = layout();
        let desc = write_image(&l, "a", &[&[("f", b"1")]]).unwrap();
        fs::remove_file(l.blob_path(&desc.digest)).unwrap();
        fs::write(l.root().join(".oci-harden-tmp-dead"), b"partial").unwrap();
        let live = l.blob_writer().unwrap();
        let report = verify_layout(&l).unwrap();
        assert_eq!(kinds(&report), [ProblemKind::DanglingTag, ProblemKind::OrphanedTempFile], "{:?}", report.problems);
        assert_eq!(report.problems[0].location, Location::Tag("a".into()));
        drop(live);
    }

    #[test]
    fn a_layer_that_does_not_decompress_is_corrupt_and_verify_of_a_source_reports_it() {
        let (_d, l) = layout();
        let not_gzip = b"plain bytes, not gzip";
        let layer = Descriptor::new(MediaType::OciLayerGzip, l.write_blob(not_gzip).unwrap(), not_gzip.len() as u64);
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [Digest::sha256(not_gzip)]},
        }))
        .unwrap();
        let config = Descriptor::new(MediaType::OciConfig, l.write_blob(&config).unwrap(), config.len() as u64);
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config, "layers": [layer, layer],
        }))
        .unwrap();
        let desc = Descriptor::new(MediaType::OciManifest, l.write_blob(&manifest).unwrap(), manifest.len() as u64);
        l.set_tag(Some("bad"), &desc).unwrap();
        let source = ImageSource::open(&format!("oci:{}:bad", l.root().display()).parse().unwrap()).unwrap();
        let report = verify(&source).unwrap();
        assert_eq!(kinds(&report), [ProblemKind::InvalidConfig, ProblemKind::CorruptLayer], "{:?}", report.problems);
        assert!(report.problems[0].detail.contains("2 layers but the config has 1 diff_ids"), "{:?}", report.problems);
        assert_eq!(report.problems[1].location, Location::Blob(layer.digest.clone()));
        assert!(report.problems[1].via.ends_with("> layer 0"), "reported once, where first reached");
    }
}
