//! The merged filesystem of an image: an index of the final tree built from tar headers.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Read;
use std::ops::Bound;
use std::sync::Arc;

use crate::index_cache::IndexedEntry;
use crate::{Digest, EntryKind, EntryMeta, Error, Image, Layer, OPAQUE_MARKER, Result, WHITEOUT_PREFIX, read_entries};

/// Most symlinks followed while resolving one path (as Linux's `MAXSYMLINKS` × 6, like
/// umoci's securejoin).
const MAX_SYMLINKS: usize = 255;

/// One path of the merged filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The entry's metadata, as its tar header gave it. For a hardlink, `link` is the
    /// resolved target path and `size` the target's size.
    pub meta: EntryMeta,
    /// The layer whose entry defines this node (base = 0).
    pub layer: usize,
    /// The entry's position in that layer.
    pub index: u64,
    /// For regular files and hardlinks: where the bytes are (layer, entry index).
    pub data: Option<(usize, u64)>,
    /// A directory no layer has an entry for, made because something lives below it.
    pub implicit: bool,
    content: Option<Arc<[u8]>>,
}

/// Something odd but harmless found while merging layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The layer's digest.
    pub layer: Digest,
    /// The entry's path.
    pub path: String,
    /// What was odd.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "layer {}: /{}: {}", self.layer, self.path, self.message)
    }
}

type Capture = Box<dyn Fn(&str, &EntryMeta) -> bool + Send + Sync>;

/// What to do with a regular file's bytes while indexing.
#[derive(Clone, Copy)]
struct Want {
    /// Keep them in the node (the caller's capture).
    node: bool,
    /// Hand them back for the layer index cache.
    record: bool,
}

/// The final filesystem of an image, as an index from path to [`Node`].
///
/// Built by reading every layer's tar headers base first, applying `.wh.NAME` whiteouts
/// and `.wh..wh..opq` opaque directories to lower layers, replacing what upper layers
/// redefine, and resolving parent directories through symlinks inside the root as
/// container runtimes do. Nothing is extracted; ownership and modes are exactly the tar
/// headers'. File contents are read on demand by reopening the layer that holds them, or
/// kept from the indexing pass for paths chosen with [`MergedFs::build_capturing`].
///
/// Paths are relative to the root, without a leading `/` (methods accept either form).
pub struct MergedFs {
    image: Image,
    root: EntryMeta,
    nodes: BTreeMap<String, Node>,
    warnings: Vec<Warning>,
    /// Bytes the layer indexes hold that the capture did not ask for (files read on demand
    /// by an earlier run), by (layer, entry index): reads use them instead of the layer.
    indexed: std::sync::Mutex<ByLocation>,
    /// Bytes read on demand in this run, to add to their layers' indexes when it is dropped.
    pending: std::sync::Mutex<ByLayer>,
}

/// File bytes by (layer, entry index).
type ByLocation = BTreeMap<(usize, u64), Arc<[u8]>>;
/// File bytes by layer, then entry index.
type ByLayer = BTreeMap<usize, Vec<(u64, Arc<[u8]>)>>;

/// The largest file whose bytes, read on demand, are added to its layer's index.
const INDEXED_READ_BYTES: u64 = 1 << 20;

impl std::fmt::Debug for MergedFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MergedFs").field("image", self.image.digest()).field("nodes", &self.nodes.len()).finish()
    }
}

impl Drop for MergedFs {
    /// Adds the bytes read on demand to their layers' indexes (one rewrite per layer; any
    /// failure only means the next run reads them from the layer again).
    fn drop(&mut self) {
        let pending = std::mem::take(self.pending.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner));
        let Some(cache) = self.image.source().index_cache() else { return };
        let layers = self.image.layers();
        for (layer, read) in pending {
            let Some(layer) = layers.get(layer) else { continue };
            cache.add_contents(&layer.descriptor.digest, &layer.diff_id, &read);
        }
    }
}

impl MergedFs {
    /// Indexes the image's layers.
    ///
    /// # Security
    /// Every layer is verified (digest, size, diff_id) and bounded (see [`crate::Limits`]).
    /// Entries with absolute or `..` paths, and hardlinks whose target is unsafe or
    /// missing, are refused with [`Error::UnsafeEntry`]. Symlinks are recorded as
    /// written; resolving them never leaves the root (`..` stops at `/`, absolute
    /// targets start at the image root).
    pub fn build(image: &Image) -> Result<MergedFs> {
        MergedFs::build_capturing(image, |_| false)
    }

    /// Indexes the image's layers, keeping in memory the content of the regular files
    /// whose path `capture` selects (up to [`crate::Limits::max_file_bytes`] each), so
    /// [`MergedFs::read`] needs no second pass for them.
    pub fn build_capturing(image: &Image, capture: impl Fn(&str) -> bool + Send + Sync + 'static) -> Result<MergedFs> {
        MergedFs::build_capturing_with(image, move |path, _| capture(path))
    }

    /// [`MergedFs::build_capturing`] with a predicate that also sees each entry's metadata
    /// (to keep, say, every setuid file's bytes for a later rewrite without another pass).
    pub fn build_capturing_with(
        image: &Image,
        capture: impl Fn(&str, &EntryMeta) -> bool + Send + Sync + 'static,
    ) -> Result<MergedFs> {
        let capture: Capture = Box::new(capture);
        let Some(cache) = image.source().index_cache() else {
            let mut fs = MergedFs::empty(image);
            for layer in image.layers() {
                fs.read_layer(&layer, &capture, &BTreeSet::new(), None)?;
            }
            return Ok(fs);
        };
        // Through the layer index cache: a layer indexed before is replayed from its index;
        // one whose index lacks the bytes of a file `capture` now selects is read again (all
        // from the start, since replaying it changed the tree), capturing those files and
        // the ones its index held, and its index stored anew.
        //
        // Layers the cache lacks, after the first, are indexed on the other cores while the
        // ones before them are read here (each on its own, with no lower layer: a file whose
        // path a lower layer's symlink changes is then found missing when replayed, and its
        // layer read again here).
        let layers = image.layers();
        let alone: Vec<usize> = layers.iter().skip(1).filter(|l| !cache.has(&l.diff_id)).map(|l| l.index).collect();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).saturating_sub(1).min(alone.len());
        let passes = Passes::new(&alone);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let (passes, capture, layers) = (&passes, &capture, &layers);
                let spawned = std::thread::Builder::new().name("index-layer".into()).spawn_scoped(scope, move || {
                    while let Some(i) = passes.claim() {
                        // Handed over even if indexing panics, so the build never waits for it.
                        let mut handover = Handover { passes, layer: i, record: None };
                        let layer = &layers[i];
                        handover.record = index_alone(image, layer, capture).ok();
                        if let Some(record) = &handover.record {
                            cache.store(&layer.descriptor.digest, &layer.diff_id, record);
                        }
                    }
                });
                if spawned.is_err() {
                    break; // the layers are read here
                }
            }
            let built = MergedFs::build_through(image, &layers, cache, &capture, &passes);
            passes.stop();
            built
        })
    }

    /// The cached build of [`MergedFs::build_capturing_with`], taking the layers `passes`
    /// indexes from it.
    fn build_through(
        image: &Image,
        layers: &[Layer],
        cache: &crate::IndexCache,
        capture: &Capture,
        passes: &Passes,
    ) -> Result<MergedFs> {
        let mut reread: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
        'build: loop {
            let mut fs = MergedFs::empty(image);
            for layer in layers {
                let held = reread.get(&layer.index);
                let indexed = match held {
                    None => passes.take(layer.index).or_else(|| cache.load(&layer.descriptor.digest, &layer.diff_id)),
                    Some(_) => None,
                };
                let Some(entries) = indexed else {
                    let mut record = Vec::new();
                    fs.read_layer(layer, capture, held.unwrap_or(&BTreeSet::new()), Some(&mut record))?;
                    cache.store(&layer.descriptor.digest, &layer.diff_id, &record);
                    continue;
                };
                if let Some(held) = fs.replay_layer(layer, entries, capture)? {
                    reread.insert(layer.index, held);
                    continue 'build;
                }
            }
            return Ok(fs);
        }
    }

    fn empty(image: &Image) -> MergedFs {
        MergedFs {
            image: image.clone(),
            root: EntryMeta::dir(0o755),
            nodes: BTreeMap::new(),
            warnings: Vec::new(),
            indexed: Default::default(),
            pending: Default::default(),
        }
    }

    /// Applies one layer from its index. Bytes the index holds go to the nodes `capture`
    /// selects and, for the others, aside for reads. When `capture` selects a file whose
    /// bytes the index lacks, returns the paths whose bytes it held (the layer must be read
    /// again; the tree is then incomplete).
    fn replay_layer(
        &mut self,
        layer: &Layer,
        entries: Vec<IndexedEntry>,
        capture: &Capture,
    ) -> Result<Option<BTreeSet<String>>> {
        let limit = self.image.source().limits().max_file_bytes;
        let what =
            format!("layer {} ({} of image {}, indexed)", layer.descriptor.digest, layer.index, self.image.digest());
        let mut missing = false;
        let mut held: BTreeSet<String> = BTreeSet::new();
        let mut extra = BTreeMap::new();
        for IndexedEntry { path, meta, index, content } in entries {
            let mut bytes: &[u8] = content.as_deref().unwrap_or(&[]);
            let mut entry = crate::TarEntry { path: String::new(), meta, index, data: &mut bytes };
            let mut wanted = |full: &str, meta: &EntryMeta| {
                let want = capture(full, meta);
                if content.is_some() {
                    held.insert(full.to_owned());
                } else if want && meta.size <= limit {
                    missing = true;
                }
                Want { node: want && content.is_some(), record: false }
            };
            if self.apply(layer, &what, path, &mut entry, &mut wanted)?.is_none()
                && let Some(bytes) = content
            {
                extra.insert((layer.index, index), bytes);
            }
        }
        if missing {
            return Ok(Some(held));
        }
        self.indexed.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner).extend(extra);
        Ok(None)
    }

    /// Reads one layer in full, applying its entries; with `record`, notes each entry (and
    /// the bytes of the files `capture` selects or `held` names) for the layer index cache.
    fn read_layer(
        &mut self,
        layer: &Layer,
        capture: &dyn Fn(&str, &EntryMeta) -> bool,
        held: &BTreeSet<String>,
        mut record: Option<&mut Vec<IndexedEntry>>,
    ) -> Result<()> {
        let stream = self.image.open_layer(layer)?;
        let what = format!("layer {} ({} of image {})", layer.descriptor.digest, layer.index, self.image.digest());
        let recording = record.is_some();
        let mut wanted = |full: &str, meta: &EntryMeta| {
            let node = capture(full, meta);
            Want { node, record: recording && (node || held.contains(full)) }
        };
        read_entries(stream, &what, |entry| {
            let path = std::mem::take(&mut entry.path);
            let noted = record.is_some().then(|| (path.clone(), entry.meta.clone(), entry.index));
            let captured = self.apply(layer, &what, path, entry, &mut wanted)?;
            if let (Some(record), Some((path, meta, index))) = (record.as_deref_mut(), noted) {
                record.push(IndexedEntry { path, meta, index, content: captured });
            }
            Ok(())
        })
    }

    /// Applies one entry; returns the bytes it captured (a file `capture` selected).
    fn apply(
        &mut self,
        layer: &Layer,
        what: &str,
        path: String,
        entry: &mut crate::TarEntry<'_>,
        capture: &mut dyn FnMut(&str, &EntryMeta) -> Want,
    ) -> Result<Option<Arc<[u8]>>> {
        let l = layer.index;
        if path.is_empty() {
            if entry.meta.kind == EntryKind::Dir {
                self.root = entry.meta.clone();
            }
            return Ok(None);
        }
        let (parent, name) = match path.rsplit_once('/') {
            Some((p, n)) => (p, n),
            None => ("", path.as_str()),
        };
        let unsafe_entry = |reason: String| Error::UnsafeEntry { layer: what.to_owned(), path: path.clone(), reason };
        let parent = self.resolve_components(parent, true).map_err(unsafe_entry)?;
        if name == OPAQUE_MARKER {
            let removed = self.remove_below(&parent, l);
            if removed == 0 && !self.is_dir(&parent) {
                self.warn(layer, &path, "opaque marker in a directory that does not exist");
            }
            return Ok(None);
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            let target = join(&parent, hidden);
            match self.nodes.get(&target) {
                Some(node) if node.layer < l => {
                    self.nodes.remove(&target);
                    self.remove_below(&target, l);
                }
                Some(_) => {} // defined by this layer: whiteouts only hide lower layers
                None => self.warn(layer, &path, "whiteout for a path that no lower layer has"),
            }
            return Ok(None);
        }
        let full = join(&parent, name);
        self.ensure_parents(&parent, layer, &path);
        let mut meta = entry.meta.clone();
        let mut data = (meta.kind == EntryKind::File).then_some((l, entry.index));
        let mut content = None;
        let mut captured = None;
        if meta.kind == EntryKind::Hardlink {
            let raw = meta.link.clone().unwrap_or_default();
            let target = self.resolve_components(&raw, false).map_err(unsafe_entry)?;
            let Some(t) =
                self.nodes.get(&target).filter(|t| matches!(t.meta.kind, EntryKind::File | EntryKind::Hardlink))
            else {
                return Err(unsafe_entry(format!(
                    "hardlink target {raw:?} is not a regular file of this or a lower layer"
                )));
            };
            meta.size = t.meta.size;
            data = t.data;
            content = t.content.clone();
            meta.link = Some(target);
        } else if meta.kind == EntryKind::File {
            let want = capture(&full, &meta);
            let limit = self.image.source().limits().max_file_bytes;
            if (want.node || want.record) && meta.size <= limit {
                let bytes = read_captured(entry, limit, &full, what)?;
                captured = want.record.then(|| Arc::clone(&bytes));
                content = want.node.then_some(bytes);
            }
        }
        match self.nodes.get_mut(&full) {
            Some(old) if old.meta.kind == EntryKind::Dir && meta.kind == EntryKind::Dir => {
                old.meta = meta;
                old.layer = l;
                old.index = entry.index;
                old.implicit = false;
                return Ok(None);
            }
            Some(old) if old.meta.kind == EntryKind::Dir => {
                self.remove_below(&full, usize::MAX);
            }
            _ => {}
        }
        self.nodes.insert(full, Node { meta, layer: l, index: entry.index, data, implicit: false, content });
        Ok(captured)
    }

    fn warn(&mut self, layer: &Layer, path: &str, message: &str) {
        self.warnings.push(Warning {
            layer: layer.descriptor.digest.clone(),
            path: path.to_owned(),
            message: message.to_owned(),
        });
    }

    fn is_dir(&self, path: &str) -> bool {
        path.is_empty() || self.nodes.get(path).is_some_and(|n| n.meta.kind == EntryKind::Dir)
    }

    /// Creates the missing ancestors of `dir` (and `dir`) as implicit directories, and
    /// replaces non-directories standing in their way.
    fn ensure_parents(&mut self, dir: &str, layer: &Layer, entry_path: &str) {
        if dir.is_empty() {
            return;
        }
        let mut end = 0;
        loop {
            end = dir[end..].find('/').map_or(dir.len(), |i| end + i);
            let prefix = &dir[..end];
            match self.nodes.get(prefix) {
                Some(n) if n.meta.kind == EntryKind::Dir => {}
                other => {
                    if other.is_some() {
                        self.warn(layer, entry_path, &format!("/{prefix} is not a directory; replaced by one"));
                    }
                    self.nodes.insert(
                        prefix.to_owned(),
                        Node {
                            meta: EntryMeta::dir(0o755),
                            layer: layer.index,
                            index: u64::MAX,
                            data: None,
                            implicit: true,
                            content: None,
                        },
                    );
                }
            }
            if end == dir.len() {
                return;
            }
            end += 1;
        }
    }

    /// Removes every node strictly below `dir` whose layer is lower than `below_layer`.
    fn remove_below(&mut self, dir: &str, below_layer: usize) -> usize {
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        let doomed: Vec<String> = self
            .nodes
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(_, n)| n.layer < below_layer)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &doomed {
            self.nodes.remove(k);
        }
        doomed.len()
    }

    /// Resolves `path` inside the root, following symlinks in every component but the
    /// last (or the last too, with `follow_last`). `..` never climbs above the root and
    /// absolute symlink targets start at the root, as in a container.
    fn resolve_components(&self, path: &str, follow_last: bool) -> std::result::Result<String, String> {
        let mut queue: VecDeque<String> = path.split('/').map(str::to_owned).collect();
        let mut current: Vec<String> = Vec::new();
        let mut followed = 0;
        while let Some(c) = queue.pop_front() {
            match c.as_str() {
                "" | "." => continue,
                ".." => {
                    current.pop();
                    continue;
                }
                _ => {}
            }
            let is_last = queue.iter().all(|q| q.is_empty() || q == ".");
            let candidate = if current.is_empty() { c.clone() } else { format!("{}/{c}", current.join("/")) };
            match self.nodes.get(&candidate) {
                Some(n) if n.meta.kind == EntryKind::Symlink && (!is_last || follow_last) => {
                    followed += 1;
                    if followed > MAX_SYMLINKS {
                        return Err(format!("too many levels of symbolic links resolving {path:?}"));
                    }
                    let target = n.meta.link.as_deref().unwrap_or("");
                    if target.starts_with('/') {
                        current.clear();
                    }
                    for (i, t) in target.split('/').enumerate() {
                        queue.insert(i, t.to_owned());
                    }
                }
                _ => current.push(c),
            }
        }
        Ok(current.join("/"))
    }

    /// The image this filesystem belongs to.
    pub fn image(&self) -> &Image {
        &self.image
    }

    /// The root directory's metadata.
    pub fn root(&self) -> &EntryMeta {
        &self.root
    }

    /// Odd but harmless things met while merging (whiteouts for missing paths, …).
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Number of paths (not counting the root).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the filesystem is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node at exactly `path` (symlinks are not followed).
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path.trim_start_matches('/').trim_end_matches('/'))
    }

    /// The node `path` leads to, following symlinks inside the root, with its real path.
    pub fn resolve(&self, path: &str) -> Option<(String, &Node)> {
        let real = self.resolve_components(path.trim_start_matches('/'), true).ok()?;
        let node = self.nodes.get(&real)?;
        Some((real, node))
    }

    /// Every node in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The nodes at and below `dir` (a directory, or a single node), in path order.
    pub fn walk<'a>(&'a self, dir: &str) -> impl Iterator<Item = (&'a str, &'a Node)> + 'a {
        let dir = dir.trim_matches('/').to_owned();
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        let this = self.nodes.get_key_value(&dir).map(|(k, v)| (k.as_str(), v));
        let below = self
            .nodes
            .range::<str, _>((Bound::Included(prefix.clone().as_str()), Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(k, v)| (k.as_str(), v));
        this.into_iter().chain(below)
    }

    /// Reads a regular file's content (following symlinks inside the root).
    pub fn read(&self, path: &str) -> Result<Vec<u8>> {
        let (real, node) = self.resolve(path).ok_or_else(|| Error::NotFound {
            what: format!("{path} in image {}", self.image.digest()),
            hint: String::new(),
        })?;
        if let Some(c) = &node.content {
            return Ok(c.to_vec());
        }
        let Some(location) = node.data else {
            return Err(Error::Invalid {
                what: format!("/{real} in image {}", self.image.digest()),
                reason: format!("not a regular file ({:?})", node.meta.kind),
            });
        };
        let limit = self.image.source().limits().max_file_bytes;
        if node.meta.size > limit {
            return Err(Error::TooLarge { what: format!("/{real}"), limit, hint: " (Limits::max_file_bytes)" });
        }
        if let Some(bytes) = self.indexed_bytes(location) {
            return Ok(bytes.to_vec());
        }
        let mut out = Vec::with_capacity(node.meta.size as usize);
        self.copy_data(location, &mut out)?;
        self.remember(location, &out);
        Ok(out)
    }

    /// The bytes at `location` held by a layer index (or read earlier in this run).
    fn indexed_bytes(&self, location: (usize, u64)) -> Option<Arc<[u8]>> {
        self.indexed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&location).cloned()
    }

    /// Keeps bytes read on demand for the rest of the run and, with a layer index cache,
    /// for its layer's index (added when the filesystem is dropped).
    fn remember(&self, location: (usize, u64), bytes: &[u8]) {
        if self.image.source().index_cache().is_none() || bytes.len() as u64 > INDEXED_READ_BYTES {
            return;
        }
        let bytes: Arc<[u8]> = Arc::from(bytes);
        self.indexed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(location, Arc::clone(&bytes));
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(location.0)
            .or_default()
            .push((location.1, bytes));
    }

    /// Reads several regular files (following symlinks inside the root) with one pass per
    /// layer that holds any of them, instead of one pass per file. Returns the contents by
    /// the paths as given.
    pub fn read_many(&self, paths: &[&str]) -> Result<BTreeMap<String, Vec<u8>>> {
        let limit = self.image.source().limits().max_file_bytes;
        let mut out = BTreeMap::new();
        let mut wanted: BTreeMap<usize, BTreeMap<u64, Vec<String>>> = BTreeMap::new();
        for path in paths {
            let (real, node) = self.resolve(path).ok_or_else(|| Error::NotFound {
                what: format!("{path} in image {}", self.image.digest()),
                hint: String::new(),
            })?;
            if let Some(c) = &node.content {
                out.insert((*path).to_owned(), c.to_vec());
                continue;
            }
            let Some((layer, index)) = node.data else {
                return Err(Error::Invalid {
                    what: format!("/{real} in image {}", self.image.digest()),
                    reason: format!("not a regular file ({:?})", node.meta.kind),
                });
            };
            if node.meta.size > limit {
                return Err(Error::TooLarge { what: format!("/{real}"), limit, hint: " (Limits::max_file_bytes)" });
            }
            if let Some(bytes) = self.indexed_bytes((layer, index)) {
                out.insert((*path).to_owned(), bytes.to_vec());
                continue;
            }
            wanted.entry(layer).or_default().entry(index).or_default().push((*path).to_owned());
        }
        let layers = self.image.layers();
        for (layer, entries) in wanted {
            let l = &layers[layer];
            let what = format!("layer {}", l.descriptor.digest);
            read_entries(self.image.open_layer(l)?, &what, |e| {
                if let Some(names) = entries.get(&e.index) {
                    let mut buf = Vec::new();
                    e.data().read_to_end(&mut buf).map_err(|err| Error::io(format!("reading {what}"), err))?;
                    self.remember((layer, e.index), &buf);
                    for name in names {
                        out.insert(name.clone(), buf.clone());
                    }
                }
                Ok(())
            })?;
        }
        Ok(out)
    }

    /// Streams the bytes stored at `location` (layer, entry index) into `out`, reading the
    /// layer again.
    pub(crate) fn copy_data(&self, location: (usize, u64), out: &mut dyn std::io::Write) -> Result<()> {
        let layers = self.image.layers();
        let layer = &layers[location.0];
        let what = format!("layer {}", layer.descriptor.digest);
        let mut done = false;
        read_entries(self.image.open_layer(layer)?, &what, |e| {
            if e.index == location.1 {
                std::io::copy(e.data(), out).map_err(|err| Error::io(format!("reading {what}"), err))?;
                done = true;
            }
            Ok(())
        })?;
        if !done {
            return Err(Error::NotFound { what: format!("entry {} of {what}", location.1), hint: String::new() });
        }
        Ok(())
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_owned() } else { format!("{dir}/{name}") }
}

/// Indexes `layer` on its own, as [`MergedFs::read_layer`] records it for the cache: every
/// entry, with the bytes of the regular files `capture` selects by their path as written.
fn index_alone(image: &Image, layer: &Layer, capture: &Capture) -> Result<Vec<IndexedEntry>> {
    let stream = image.open_layer(layer)?;
    let what = format!("layer {} ({} of image {})", layer.descriptor.digest, layer.index, image.digest());
    let limit = image.source().limits().max_file_bytes;
    let mut record = Vec::new();
    read_entries(stream, &what, |entry| {
        let path = std::mem::take(&mut entry.path);
        let name = path.rsplit('/').next().unwrap_or(&path);
        let wanted = entry.meta.kind == EntryKind::File
            && !name.starts_with(WHITEOUT_PREFIX)
            && entry.meta.size <= limit
            && capture(&path, &entry.meta);
        let content = if wanted { Some(read_captured(entry, limit, &path, &what)?) } else { None };
        record.push(IndexedEntry { path, meta: entry.meta.clone(), index: entry.index, content });
        Ok(())
    })?;
    Ok(record)
}

/// The bytes of a file entry a capture selected (at most `limit`; the caller checked its
/// size), for the tree and the layer's index.
fn read_captured(entry: &mut crate::TarEntry<'_>, limit: u64, path: &str, what: &str) -> Result<Arc<[u8]>> {
    let mut buf = Vec::with_capacity(entry.meta.size as usize);
    entry.data().take(limit).read_to_end(&mut buf).map_err(|e| Error::io(format!("reading /{path} from {what}"), e))?;
    Ok(Arc::from(buf))
}

/// Marks a claimed layer done with what was indexed (nothing, when dropped by a panic).
struct Handover<'a> {
    passes: &'a Passes,
    layer: usize,
    record: Option<Vec<IndexedEntry>>,
}

impl Drop for Handover<'_> {
    fn drop(&mut self) {
        self.passes.done(self.layer, self.record.take());
    }
}

/// Layers indexed on other threads for a build: each is claimed once, by a thread of its
/// own or, when the build reaches it first, by the build (which then reads it itself).
struct Passes {
    slots: std::sync::Mutex<BTreeMap<usize, Slot>>,
    changed: std::sync::Condvar,
}

enum Slot {
    Waiting,
    Claimed,
    /// Indexed (`None`: it failed; the build reads it and reports why).
    Done(Option<Vec<IndexedEntry>>),
    Taken,
}

impl Passes {
    fn new(layers: &[usize]) -> Passes {
        Passes {
            slots: std::sync::Mutex::new(layers.iter().map(|&i| (i, Slot::Waiting)).collect()),
            changed: std::sync::Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<usize, Slot>> {
        self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The next layer waiting, for a thread to index.
    fn claim(&self) -> Option<usize> {
        let mut slots = self.lock();
        let (&i, slot) = slots.iter_mut().find(|(_, s)| matches!(s, Slot::Waiting))?;
        *slot = Slot::Claimed;
        Some(i)
    }

    fn done(&self, i: usize, record: Option<Vec<IndexedEntry>>) {
        self.lock().insert(i, Slot::Done(record));
        self.changed.notify_all();
    }

    /// The index of layer `i` when a thread made it (waiting for it if one is at it);
    /// `None` when the build is to read it (nobody took it, or indexing it failed).
    fn take(&self, i: usize) -> Option<Vec<IndexedEntry>> {
        let mut slots = self.lock();
        loop {
            match slots.get_mut(&i) {
                None | Some(Slot::Taken) => return None,
                Some(slot @ Slot::Waiting) => {
                    *slot = Slot::Taken;
                    return None;
                }
                Some(Slot::Claimed) => {
                    slots = self.changed.wait(slots).unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                Some(slot @ Slot::Done(_)) => {
                    let Slot::Done(record) = std::mem::replace(slot, Slot::Taken) else { unreachable!() };
                    return record;
                }
            }
        }
    }

    /// No more layers are to be claimed (the build ended).
    fn stop(&self) {
        for slot in self.lock().values_mut() {
            if matches!(slot, Slot::Waiting) {
                *slot = Slot::Taken;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::write_layers;
    use crate::{Compression, ImageSource, IndexCache, OciLayout};

    fn build(layers: &[Vec<(&str, EntryMeta, &[u8])>]) -> MergedFs {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path()).unwrap();
        write_layers(&layout, "t", layers).unwrap();
        let source = ImageSource::open(&format!("oci:{}:t", dir.path().display()).parse().unwrap()).unwrap();
        let fs = MergedFs::build_capturing(&source.image(None).unwrap(), |p| p.starts_with("etc/")).unwrap();
        std::mem::forget(dir); // the layout must outlive lazy reads in the test
        fs
    }

    fn file(content: &[u8]) -> EntryMeta {
        EntryMeta::file(0o644, content.len() as u64)
    }

    fn paths(fs: &MergedFs) -> Vec<&str> {
        fs.iter().map(|(p, _)| p).collect()
    }

    #[test]
    fn whiteouts_hide_lower_layers_only() {
        let fs = build(&[
            vec![
                ("a", EntryMeta::dir(0o755), b""),
                ("a/x", file(b"1"), b"1"),
                ("a/y", file(b"2"), b"2"),
                ("b", file(b"b"), b"b"),
            ],
            vec![("a/.wh.x", file(b""), b""), (".wh.b", file(b""), b""), ("b", file(b"new"), b"new")],
        ]);
        assert_eq!(paths(&fs), ["a", "a/y", "b"]);
        assert_eq!(fs.read("/b").unwrap(), b"new", "an entry beside its own whiteout survives");
        assert!(fs.warnings().is_empty());
    }

    #[test]
    fn opaque_directory_drops_lower_children_and_keeps_its_own() {
        let fs = build(&[
            vec![("d", EntryMeta::dir(0o755), b""), ("d/old", file(b"o"), b"o"), ("d/sub/deep", file(b"x"), b"x")],
            vec![("d", EntryMeta::dir(0o700), b""), ("d/.wh..wh..opq", file(b""), b""), ("d/new", file(b"n"), b"n")],
        ]);
        assert_eq!(paths(&fs), ["d", "d/new"]);
        assert_eq!(fs.get("d").unwrap().meta.mode, 0o700);
    }

    #[test]
    fn whiteout_of_a_missing_path_is_a_warning() {
        let fs = build(&[vec![("a", file(b"a"), b"a")], vec![(".wh.ghost", file(b""), b"")]]);
        assert_eq!(fs.warnings().len(), 1);
        assert!(fs.warnings()[0].to_string().contains("/.wh.ghost"), "{}", fs.warnings()[0]);
    }

    #[test]
    fn replacing_a_directory_with_a_file_drops_its_children() {
        let fs = build(&[
            vec![("x", EntryMeta::dir(0o755), b""), ("x/child", file(b"c"), b"c")],
            vec![("x", file(b"f"), b"f")],
        ]);
        assert_eq!(paths(&fs), ["x"]);
        assert_eq!(fs.get("x").unwrap().meta.kind, EntryKind::File);
    }

    #[test]
    fn parents_resolve_through_symlinks_inside_the_root() {
        // usrmerge: /lib -> usr/lib; a later `lib/libz.so` lands in usr/lib.
        // An escaping link `evil -> ../../../tmp` stays inside the root.
        let fs = build(&[
            vec![
                ("lib", EntryMeta::symlink("usr/lib"), b""),
                ("usr/lib", EntryMeta::dir(0o755), b""),
                ("evil", EntryMeta::symlink("../../../tmp"), b""),
                ("abs", EntryMeta::symlink("/etc"), b""),
            ],
            vec![("lib/libz.so", file(b"z"), b"z"), ("evil/x", file(b"x"), b"x"), ("abs/conf", file(b"c"), b"c")],
        ]);
        assert!(fs.get("usr/lib/libz.so").is_some());
        assert!(fs.get("tmp/x").is_some());
        assert_eq!(fs.read("/abs/conf").unwrap(), b"c");
        assert_eq!(fs.get("evil").unwrap().meta.link.as_deref(), Some("../../../tmp"));
        assert!(fs.get("usr").unwrap().implicit);
    }

    #[test]
    fn symlink_loops_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path()).unwrap();
        write_layers(
            &layout,
            "t",
            &[
                vec![("a", EntryMeta::symlink("b"), b""), ("b", EntryMeta::symlink("a"), b"")],
                vec![("a/x", file(b"x"), b"x")],
            ],
        )
        .unwrap();
        let source = ImageSource::open(&format!("oci:{}:t", dir.path().display()).parse().unwrap()).unwrap();
        let err = MergedFs::build(&source.image(None).unwrap()).unwrap_err().to_string();
        assert!(err.contains("too many levels of symbolic links") && err.contains("a/x"), "{err}");
    }

    #[test]
    fn hardlinks_share_data_and_need_a_target() {
        let mut link = EntryMeta::file(0o755, 0);
        link.kind = EntryKind::Hardlink;
        link.link = Some("bin/tool".into());
        let fs = build(&[vec![("bin/tool", EntryMeta::file(0o4755, 4), b"tool"), ("bin/tool2", link.clone(), b"")]]);
        let n = fs.get("bin/tool2").unwrap();
        assert_eq!((n.meta.size, n.data), (4, fs.get("bin/tool").unwrap().data));
        assert_eq!(fs.read("bin/tool2").unwrap(), b"tool");

        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path()).unwrap();
        link.link = Some("nowhere".into());
        write_layers(&layout, "t", &[vec![("x", link, b"")]]).unwrap();
        let source = ImageSource::open(&format!("oci:{}:t", dir.path().display()).parse().unwrap()).unwrap();
        let err = MergedFs::build(&source.image(None).unwrap()).unwrap_err().to_string();
        assert!(err.contains("hardlink target \"nowhere\""), "{err}");
    }

    type Tree = (EntryMeta, Vec<(String, Node)>, Vec<Warning>);

    fn tree(fs: &MergedFs) -> Tree {
        (fs.root().clone(), fs.iter().map(|(p, n)| (p.to_owned(), n.clone())).collect(), fs.warnings().to_vec())
    }

    fn build_in(dir: &std::path::Path, cache: Option<&IndexCache>, capture: &'static str) -> Result<Tree> {
        let source =
            ImageSource::open(&format!("oci:{}:t", dir.display()).parse().unwrap())?.with_index_cache(cache.cloned());
        let fs =
            MergedFs::build_capturing(&source.image(None)?, move |p| capture.split('|').any(|c| p.starts_with(c)))?;
        Ok(tree(&fs))
    }

    #[test]
    fn the_index_cache_gives_the_same_tree_without_reading_the_layers_again() {
        let mut link = EntryMeta::file(0o755, 0);
        link.kind = EntryKind::Hardlink;
        link.link = Some("etc/shadow".into());
        let mut sym = EntryMeta::file(0o777, 0);
        sym.kind = EntryKind::Symlink;
        sym.link = Some("../etc".into());
        let layers = vec![
            vec![
                ("etc", EntryMeta::dir(0o755), &b""[..]),
                ("etc/passwd", file(b"root:x:0:0\n"), b"root:x:0:0\n"),
                ("etc/shadow", EntryMeta::file(0o640, 4), b"root"),
                ("etc/shadow-", link, b""),
                ("opt/app/data", file(b"data"), b"data"),
                ("opt/old/x", file(b"x"), b"x"),
                ("usr/conf", sym, b""),
            ],
            vec![
                ("etc/passwd", file(b"root:x:0:0\nu:x:1:1\n"), b"root:x:0:0\nu:x:1:1\n"),
                ("opt/old/.wh..wh..opq", file(b""), b""),
                ("opt/.wh.app", file(b""), b""),
                ("usr/conf/new", file(b"n"), b"n"),
                ("var/.wh.nothing", file(b""), b""),
            ],
        ];
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path().join("l")).unwrap();
        write_layers(&layout, "t", &layers).unwrap();
        let root = dir.path().join("l");
        let cache = IndexCache::new(dir.path().join("index"));

        let plain = build_in(&root, None, "etc/").unwrap();
        let (passwd, opt) = (build_in(&root, None, "etc/passwd").unwrap(), build_in(&root, None, "opt/").unwrap());
        assert!(!plain.2.is_empty(), "the image has a warning to keep");
        assert_eq!(build_in(&root, Some(&cache), "etc/").unwrap(), plain, "the run that fills the cache");
        // With the layers gone, the tree still comes back: from the indexes alone.
        let blobs = root.join("blobs/sha256");
        let layers: Vec<_> = std::fs::read_dir(&blobs)
            .unwrap()
            .map(|f| f.unwrap().path())
            .filter(|p| {
                std::fs::metadata(p).unwrap().len() > 1024
                    || Compression::sniff(&std::fs::read(p).unwrap()) == Compression::Gzip
            })
            .collect();
        assert_eq!(layers.len(), 2);
        let hide = || layers.iter().for_each(|p| std::fs::rename(p, p.with_extension("away")).unwrap());
        let show = || layers.iter().for_each(|p| std::fs::rename(p.with_extension("away"), p).unwrap());
        hide();
        assert_eq!(build_in(&root, Some(&cache), "etc/").unwrap(), plain, "replayed from the indexes");
        assert_eq!(build_in(&root, Some(&cache), "etc/passwd").unwrap(), passwd, "a narrower capture");
        // A file the indexes do not hold is wanted: its layer must be read again.
        assert!(build_in(&root, Some(&cache), "opt/").is_err(), "a layer was not read again");
        show();
        assert_eq!(build_in(&root, Some(&cache), "opt/").unwrap(), opt, "read again for the wider capture");
        // That layer's index now holds both captures: with the layers gone, both replay.
        hide();
        assert_eq!(build_in(&root, Some(&cache), "etc/").unwrap(), plain);
        assert_eq!(build_in(&root, Some(&cache), "opt/").unwrap(), opt);
        show();

        // Bytes read on demand join their layer's index when the filesystem is dropped.
        let open = || {
            ImageSource::open(&format!("oci:{}:t", root.display()).parse().unwrap())
                .unwrap()
                .with_index_cache(Some(cache.clone()))
                .image(None)
                .unwrap()
        };
        let fs = MergedFs::build_capturing(&open(), |p| p == "etc/passwd").unwrap();
        assert_eq!(fs.read("etc/shadow").unwrap(), b"root");
        drop(fs);
        hide();
        let fs = MergedFs::build_capturing(&open(), |p| p == "etc/passwd").unwrap();
        assert!(fs.get("etc/shadow").unwrap().content.is_none(), "the tree is the same as without a cache");
        assert_eq!(fs.read("etc/shadow").unwrap(), b"root", "read from the index, the layers gone");
        assert_eq!(fs.read_many(&["etc/shadow-"]).unwrap()["etc/shadow-"], b"root", "and through its hard link");
        drop(fs);
        show();
    }

    #[test]
    fn the_example_image_is_the_same_through_the_index_cache() {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/alpine");
        let dir = tempfile::tempdir().unwrap();
        let cache = IndexCache::new(dir.path());
        let open = |cache: Option<&IndexCache>| {
            ImageSource::open(&format!("oci:{example}:3.20").parse().unwrap())
                .unwrap()
                .with_index_cache(cache.cloned())
                .image(None)
                .unwrap()
        };
        for capture in ["etc/", "lib/apk/db/", "etc/|lib/apk/db/|usr/lib/os-release", "nothing"] {
            let want = |p: &str| capture.split('|').any(|c| p.starts_with(c));
            let plain = tree(&MergedFs::build_capturing(&open(None), want).unwrap());
            for run in ["cold or widened", "warm"] {
                let cached = tree(&MergedFs::build_capturing(&open(Some(&cache)), want).unwrap());
                assert!(cached == plain, "{capture}: {run} run differs");
            }
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "one index for the one layer");
    }

    #[test]
    fn captured_and_lazy_reads_agree() {
        let fs =
            build(&[vec![("etc/passwd", file(b"root:x:0:0"), b"root:x:0:0"), ("opt/big", file(b"lazy"), b"lazy")]]);
        assert!(fs.get("etc/passwd").unwrap().content.is_some());
        assert!(fs.get("opt/big").unwrap().content.is_none());
        assert_eq!(fs.read("etc/passwd").unwrap(), b"root:x:0:0");
        assert_eq!(fs.read("opt/big").unwrap(), b"lazy");
        assert!(fs.read("etc").is_err());
        assert_eq!(fs.walk("/etc").map(|(p, _)| p).collect::<Vec<_>>(), ["etc", "etc/passwd"]);
    }
}
