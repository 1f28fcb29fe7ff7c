//! Pulling images into the blob cache and pushing images to registries.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};

use super::Registry;
use super::locations::BlobLocations;
use crate::copy::filter_index;
use crate::{
    Descriptor, Digest, Error, Image, ImageName, ImageSource, Manifest, MediaType, OciLayout, Platform, RawManifest,
    Reference, Result,
};

/// What happened to one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferOutcome {
    /// Downloaded this many bytes.
    Downloaded(u64),
    /// Already in the local cache: no network.
    Cached,
    /// Uploaded this many bytes.
    Uploaded(u64),
    /// The registry already had it (`HEAD`), so nothing was sent.
    Exists,
    /// Mounted from another repository of the same registry: nothing was sent.
    Mounted,
}

/// Receives transfer events, to draw progress bars or log lines. All methods have empty
/// defaults; `()` ignores everything.
pub trait Progress: Send + Sync {
    /// A blob transfer begins (`upload` tells the direction).
    fn started(&self, _desc: &Descriptor, _upload: bool) {}
    /// `bytes` more bytes of the blob moved.
    fn advanced(&self, _desc: &Descriptor, _bytes: u64) {}
    /// The blob is done.
    fn finished(&self, _desc: &Descriptor, _outcome: &TransferOutcome) {}
    /// A transient failure; the transfer resumes after `delay`.
    fn retrying(&self, _desc: &Descriptor, _attempt: u32, _delay: Duration, _error: &str) {}
}

impl Progress for () {}

/// Byte and blob counts of a transfer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransferStats {
    /// Blobs downloaded.
    pub blobs_downloaded: u64,
    /// Bytes downloaded.
    pub bytes_downloaded: u64,
    /// Blobs uploaded.
    pub blobs_uploaded: u64,
    /// Bytes uploaded.
    pub bytes_uploaded: u64,
    /// Blobs not moved because the destination (cache or registry) had them.
    pub blobs_skipped: u64,
    /// Bytes not moved because the destination had them.
    pub bytes_skipped: u64,
    /// Blobs mounted from another repository.
    pub blobs_mounted: u64,
}

impl TransferStats {
    fn record(&mut self, desc: &Descriptor, outcome: &TransferOutcome) {
        match outcome {
            TransferOutcome::Downloaded(n) => {
                self.blobs_downloaded += 1;
                self.bytes_downloaded += n;
            }
            TransferOutcome::Uploaded(n) => {
                self.blobs_uploaded += 1;
                self.bytes_uploaded += n;
            }
            TransferOutcome::Cached | TransferOutcome::Exists => {
                self.blobs_skipped += 1;
                self.bytes_skipped += desc.size;
            }
            TransferOutcome::Mounted => {
                self.blobs_mounted += 1;
                self.bytes_skipped += desc.size;
            }
        }
    }
}

/// How much of an image [`pull`] fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullScope {
    /// Manifests and indexes only: enough to push elsewhere.
    Manifests,
    /// Manifests, indexes and configs: enough to inspect.
    Metadata,
    /// Everything, layers included.
    Everything,
}

/// Pulls `name` into `cache` and returns a source that reads it from there.
///
/// Manifests are fetched by digest after the first, each verified; blobs stream into the
/// cache, verified, `jobs` at a time. Blobs already cached cost no network. An index is
/// followed for the `platforms` asked (all when empty); foreign (non-distributable)
/// layers are not fetched.
pub async fn pull(
    registry: &Registry,
    name: &ImageName,
    cache: &OciLayout,
    platforms: &[Platform],
    scope: PullScope,
    progress: Arc<dyn Progress>,
) -> Result<(ImageSource, TransferStats)> {
    let (source, stats, _) = pull_tracking(registry, name, cache, platforms, scope, progress).await?;
    Ok((source, stats))
}

/// [`pull`], also returning the blobs downloaded (and so verified) by this call.
pub(crate) async fn pull_tracking(
    registry: &Registry,
    name: &ImageName,
    cache: &OciLayout,
    platforms: &[Platform],
    scope: PullScope,
    progress: Arc<dyn Progress>,
) -> Result<(ImageSource, TransferStats, HashSet<Digest>)> {
    let (source, stats, fresh, _) = pull_inner(registry, name, cache, platforms, scope, false, progress).await?;
    Ok((source, stats, fresh))
}

/// [`pull`] of everything but the layers, which are returned (those the cache lacks, in
/// image order) for the caller to fetch while it reads them ([`fetch_feeding`]).
pub(crate) async fn pull_deferring_layers(
    registry: &Registry,
    name: &ImageName,
    cache: &OciLayout,
    platforms: &[Platform],
    progress: Arc<dyn Progress>,
) -> Result<(ImageSource, Vec<Descriptor>)> {
    let (source, _, _, layers) =
        pull_inner(registry, name, cache, platforms, PullScope::Everything, true, progress).await?;
    Ok((source, layers))
}

/// Fetches `blobs` into `cache` as a pull does, `jobs` at a time in their order, each
/// feeding the readers of its entry in `feeds` as it is written; a download its feed asks
/// to stop stops (nothing kept, no error). Every feed is ended when this returns, whatever
/// happened.
pub(crate) async fn fetch_feeding(
    registry: &Registry,
    name: &ImageName,
    cache: &OciLayout,
    blobs: Vec<Descriptor>,
    feeds: &std::collections::HashMap<Digest, Arc<super::feed::Feed>>,
    progress: &Arc<dyn Progress>,
) -> Result<TransferStats> {
    let _ending = super::feed::FinishAll(feeds, "the download of the image's layers stopped".into());
    let jobs = registry.options().jobs.max(1);
    let results: Vec<(Descriptor, Option<TransferOutcome>)> = futures_util::stream::iter(blobs)
        .map(|d| async move {
            let feed = feeds.get(&d.digest).map(|f| &**f);
            let outcome = registry.fetch_blob_feeding(name, &d, cache, &**progress, feed).await?;
            Ok::<_, Error>((d, outcome))
        })
        .buffered(jobs)
        .try_collect()
        .await?;
    let mut stats = TransferStats::default();
    for (d, o) in &results {
        if let Some(o) = o {
            stats.record(d, o);
        }
    }
    Ok(stats)
}

async fn pull_inner(
    registry: &Registry,
    name: &ImageName,
    cache: &OciLayout,
    platforms: &[Platform],
    scope: PullScope,
    defer_layers: bool,
    progress: Arc<dyn Progress>,
) -> Result<(ImageSource, TransferStats, HashSet<Digest>, Vec<Descriptor>)> {
    let mut deferred: Vec<Descriptor> = Vec::new();
    let top = registry.get_manifest(name, &name.reference()).await?;
    cache.write_blob(top.bytes())?;
    let limits = registry.options().limits;
    let mut blobs: Vec<Descriptor> = Vec::new();
    let mut seen: HashSet<Digest> = HashSet::new();
    // Children wait as descriptors and are fetched when their turn comes, so one manifest
    // at a time is held however many entries an index has; each is visited once.
    let mut visited: HashSet<Digest> = HashSet::from([top.digest().clone()]);
    let mut queue: Vec<(Option<Descriptor>, usize)> = vec![(None, 0)];
    while let Some((child, depth)) = queue.pop() {
        let raw = match child {
            None => top.clone(),
            Some(desc) => manifest_via_cache(registry, name, cache, &desc).await?,
        };
        match raw.parse()? {
            Manifest::Index(index) => {
                if depth >= limits.max_index_depth {
                    return Err(Error::Invalid {
                        what: format!("index {} from {}/{}", raw.digest(), name.registry(), name.repository()),
                        reason: format!("indexes nested deeper than {} levels", limits.max_index_depth),
                    });
                }
                for child in &index.manifests {
                    let wanted = depth > 0
                        || platforms.is_empty()
                        || child.platform.as_ref().is_some_and(|p| platforms.iter().any(|w| p.satisfies(w)));
                    if !wanted || !(child.media_type.is_index() || child.media_type.is_manifest()) {
                        if wanted && seen.insert(child.digest.clone()) {
                            blobs.push(child.clone()); // an artifact blob listed in the index
                        }
                        continue;
                    }
                    if child.digest == *raw.digest() {
                        return Err(Error::Invalid {
                            what: format!("index {}", raw.digest()),
                            reason: "the index references itself".into(),
                        });
                    }
                    if visited.insert(child.digest.clone()) {
                        queue.push((Some(child.clone()), depth + 1));
                    }
                }
            }
            Manifest::Image(m) => {
                let config = (scope != PullScope::Manifests).then_some(&m.config);
                let wanted = config.into_iter().chain(match scope {
                    PullScope::Manifests | PullScope::Metadata => [].iter(),
                    PullScope::Everything => m.layers.iter(),
                });
                for d in wanted {
                    if !d.media_type.is_non_distributable() && seen.insert(d.digest.clone()) {
                        if defer_layers && d.digest != m.config.digest {
                            if !cache.has_blob(&d.digest) {
                                deferred.push(d.clone());
                            }
                        } else {
                            blobs.push(d.clone());
                        }
                    }
                }
            }
        }
    }
    let (stats, fresh) = fetch_all(registry, name, cache, blobs, &progress).await?;
    let locations = BlobLocations::load(cache);
    for d in &seen {
        locations.record(d, name);
    }
    let source =
        ImageSource::from_parts(Reference::Registry(name.clone()), Arc::new(cache.clone()), top.descriptor(), limits);
    Ok((source, stats, fresh, deferred))
}

/// Fetches the layers of `image` (read from the cache after a [`PullScope::Metadata`]
/// pull) into `cache`.
pub async fn fetch_image_layers(
    registry: &Registry,
    name: &ImageName,
    image: &Image,
    cache: &OciLayout,
    progress: Arc<dyn Progress>,
) -> Result<TransferStats> {
    let blobs =
        image.layers().into_iter().map(|l| l.descriptor).filter(|d| !d.media_type.is_non_distributable()).collect();
    Ok(fetch_all(registry, name, cache, blobs, &progress).await?.0)
}

async fn manifest_via_cache(
    registry: &Registry,
    name: &ImageName,
    cache: &OciLayout,
    desc: &Descriptor,
) -> Result<RawManifest> {
    if cache.has_blob(&desc.digest) {
        let what = format!("cached manifest {}", desc.digest);
        return RawManifest::verified(cache.read_json_blob(desc)?, desc, &what);
    }
    let raw = registry.get_manifest(name, &desc.digest.to_string()).await?;
    cache.write_blob(raw.bytes())?;
    Ok(raw)
}

async fn fetch_all(
    registry: &Registry,
    name: &ImageName,
    cache: &OciLayout,
    blobs: Vec<Descriptor>,
    progress: &Arc<dyn Progress>,
) -> Result<(TransferStats, HashSet<Digest>)> {
    let jobs = registry.options().jobs.max(1);
    let results: Vec<(Descriptor, TransferOutcome)> = futures_util::stream::iter(blobs)
        .map(|d| async move {
            let outcome = registry.fetch_blob(name, &d, cache, &**progress).await?;
            Ok::<_, Error>((d, outcome))
        })
        .buffer_unordered(jobs)
        .try_collect()
        .await?;
    let mut stats = TransferStats::default();
    let mut fresh = HashSet::new();
    for (d, o) in &results {
        stats.record(d, o);
        if matches!(o, TransferOutcome::Downloaded(_)) {
            fresh.insert(d.digest.clone());
        }
    }
    Ok((stats, fresh))
}

/// Pushes the image or index `source` names to `dst`: blobs first (`jobs` at a time),
/// then manifests by digest, children before the index, and the top manifest last under
/// `dst`'s tag. With `platforms`, an index is narrowed to them (a new index, with a new
/// digest); without, it keeps its digest.
///
/// For each blob: nothing is sent when the registry has it (`HEAD`); it is mounted when
/// another repository of the same registry is known to hold it (the source, or where
/// `cache` remembers seeing it); otherwise it is uploaded in one streaming request. When
/// `source` is a registry image, blobs not yet in `cache` are fetched only if they must
/// be uploaded, so a copy within one registry moves no layer bytes.
///
/// Returns the digest and media type of what `dst` now names.
pub async fn push(
    registry: &Registry,
    source: &ImageSource,
    dst: &ImageName,
    platforms: &[Platform],
    cache: &OciLayout,
    progress: Arc<dyn Progress>,
) -> Result<(Digest, MediaType, TransferStats)> {
    let top = source.top_manifest()?;
    let (roots, new_top) = if top.media_type().is_index() && !platforms.is_empty() {
        let (children, filtered) = filter_index(&top, platforms)?;
        (children, Some(filtered))
    } else {
        (vec![source.top().clone()], None)
    };
    let mut blobs = Vec::new();
    let mut manifests: Vec<RawManifest> = Vec::new(); // children first
    let mut seen = HashSet::new();
    for root in &roots {
        collect_for_push(source, root, 0, &mut seen, &mut blobs, &mut manifests)?;
    }
    let remote_source = match source.reference() {
        Reference::Registry(src) => Some(src.clone()),
        _ => None,
    };
    let locations = BlobLocations::load(cache);
    let jobs = registry.options().jobs.max(1);
    let results: Vec<(Descriptor, TransferOutcome, u64)> = futures_util::stream::iter(blobs)
        .map(|d| {
            let progress = Arc::clone(&progress);
            let (remote_source, locations) = (remote_source.as_ref(), &locations);
            async move {
                let (outcome, fetched) =
                    push_one(registry, source, remote_source, dst, &d, cache, locations, &progress).await?;
                locations.record(&d.digest, dst);
                Ok::<_, Error>((d, outcome, fetched))
            }
        })
        .buffer_unordered(jobs)
        .try_collect()
        .await?;
    let mut stats = TransferStats::default();
    for (d, o, fetched) in &results {
        stats.record(d, o);
        stats.bytes_downloaded += fetched;
    }
    let top = new_top.unwrap_or(top);
    for m in manifests.iter().filter(|m| m.digest() != top.digest()) {
        registry.put_manifest(dst, &m.digest().to_string(), m).await?;
    }
    let reference = match (dst.tag(), dst.digest()) {
        (Some(tag), _) => tag.to_owned(),
        (None, Some(d)) if d == top.digest() => d.to_string(),
        (None, Some(d)) => {
            return Err(Error::DigestMismatch {
                what: format!("destination {dst}"),
                expected: d.clone(),
                found: top.digest().clone(),
            });
        }
        (None, None) => "latest".to_owned(),
    };
    registry.put_manifest(dst, &reference, &top).await?;
    Ok((top.digest().clone(), top.media_type().clone(), stats))
}

/// One blob of a push: skip, mount, or (fetch if needed and) upload. Returns the
/// outcome and the bytes fetched from the source registry for it.
#[allow(clippy::too_many_arguments)]
async fn push_one(
    registry: &Registry,
    source: &ImageSource,
    remote_source: Option<&ImageName>,
    dst: &ImageName,
    d: &Descriptor,
    cache: &OciLayout,
    locations: &BlobLocations,
    progress: &Arc<dyn Progress>,
) -> Result<(TransferOutcome, u64)> {
    if registry.has_blob(dst, &d.digest).await? {
        progress.finished(d, &TransferOutcome::Exists);
        return Ok((TransferOutcome::Exists, 0));
    }
    let mut candidates: Vec<ImageName> = remote_source.into_iter().cloned().collect();
    candidates.extend(locations.candidates(&d.digest, dst));
    for from in candidates.iter().take(3) {
        if registry.mount_blob(dst, d, from).await? {
            progress.finished(d, &TransferOutcome::Mounted);
            return Ok((TransferOutcome::Mounted, 0));
        }
    }
    let mut fetched = 0;
    if let Some(src) = remote_source
        && !cache.has_blob(&d.digest)
        && let TransferOutcome::Downloaded(n) = registry.fetch_blob(src, d, cache, &**progress).await?
    {
        fetched = n;
    }
    let open = || -> Result<Box<dyn std::io::Read + Send>> { Ok(Box::new(source.open_blob(d)?)) };
    Ok((registry.upload_blob(dst, d, &open, progress).await?, fetched))
}

/// Collects the blobs and manifests under `desc`, manifests children first.
fn collect_for_push(
    source: &ImageSource,
    desc: &Descriptor,
    depth: usize,
    seen: &mut HashSet<Digest>,
    blobs: &mut Vec<Descriptor>,
    manifests: &mut Vec<RawManifest>,
) -> Result<()> {
    if !seen.insert(desc.digest.clone()) {
        return Ok(());
    }
    if !(desc.media_type.is_index() || desc.media_type.is_manifest()) {
        if !desc.media_type.is_non_distributable() {
            blobs.push(desc.clone());
        }
        return Ok(());
    }
    if depth > source.limits().max_index_depth {
        return Err(Error::Invalid {
            what: format!("index {}", desc.digest),
            reason: format!("indexes nested deeper than {} levels", source.limits().max_index_depth),
        });
    }
    let raw = source.manifest(desc)?;
    match raw.parse()? {
        Manifest::Index(index) => {
            for child in &index.manifests {
                collect_for_push(source, child, depth + 1, seen, blobs, manifests)?;
            }
        }
        Manifest::Image(m) => {
            for d in std::iter::once(&m.config).chain(&m.layers) {
                collect_for_push(source, d, depth + 1, seen, blobs, manifests)?;
            }
        }
    }
    manifests.push(raw);
    Ok(())
}
