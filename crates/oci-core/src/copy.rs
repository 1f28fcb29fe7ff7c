//! Copying images between local transports, keeping digests.

use std::collections::HashSet;
use std::path::Path;

use serde_json::Value;

use crate::layout::walk;
use crate::{
    Descriptor, Digest, Error, ImageSource, MediaType, OciLayout, Platform, RawManifest, Reference, Result,
    write_docker_archive,
};

/// Options for [`copy`].
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// Platforms to keep from an index; empty keeps all (and the index digest).
    pub platforms: Vec<Platform>,
}

/// What [`copy`] or [`copy_image`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// The digest of the top manifest or index written.
    pub digest: Digest,
    /// Its media type.
    pub media_type: MediaType,
    /// Blobs written (uploaded to a registry, or written to a local destination).
    pub blobs_written: u64,
    /// Blobs already present at the destination.
    pub blobs_skipped: u64,
    /// Blobs mounted from another repository of the destination registry.
    pub blobs_mounted: u64,
    /// Bytes written (uploaded, or written locally; hard links count as written).
    pub bytes_written: u64,
    /// Bytes not moved because the destination (or the cache) had them.
    pub bytes_skipped: u64,
    /// Bytes downloaded from a source registry.
    pub bytes_downloaded: u64,
}

impl CopyReport {
    /// A report of nothing moved yet, for `digest`.
    pub fn empty(digest: Digest, media_type: MediaType) -> CopyReport {
        CopyReport {
            digest,
            media_type,
            blobs_written: 0,
            blobs_skipped: 0,
            blobs_mounted: 0,
            bytes_written: 0,
            bytes_skipped: 0,
            bytes_downloaded: 0,
        }
    }

    /// The report of a push to a registry that wrote `digest` with these transfer stats.
    #[cfg(feature = "registry")]
    pub(crate) fn pushed(digest: Digest, media_type: MediaType, stats: &crate::TransferStats) -> CopyReport {
        CopyReport {
            blobs_written: stats.blobs_uploaded,
            blobs_skipped: stats.blobs_skipped,
            blobs_mounted: stats.blobs_mounted,
            bytes_written: stats.bytes_uploaded,
            bytes_skipped: stats.bytes_skipped,
            bytes_downloaded: stats.bytes_downloaded,
            ..CopyReport::empty(digest, media_type)
        }
    }
}

#[cfg(feature = "registry")]
/// Copies between any two transports: registries, `oci:` layouts, `docker-archive:` files.
///
/// A registry source is pulled into `cache` first (blobs already cached cost no
/// network), then copied like a local one; a registry destination gets blobs skipped
/// when present and mounted across repositories of the same registry. See [`copy`] for
/// the local guarantees and [`crate::push`] for the registry ones.
pub async fn copy_image(
    src: &Reference,
    dst: &Reference,
    options: &CopyOptions,
    registry: &crate::Registry,
    cache: &OciLayout,
    progress: std::sync::Arc<dyn crate::Progress>,
) -> Result<CopyReport> {
    let (source, pulled, fresh) = match src {
        Reference::Registry(name) => {
            // To a registry, layers are fetched only when they must be uploaded.
            let scope = if matches!(dst, Reference::Registry(_)) {
                crate::PullScope::Manifests
            } else {
                crate::PullScope::Everything
            };
            crate::registry::pull_tracking(
                registry,
                name,
                cache,
                &options.platforms,
                scope,
                std::sync::Arc::clone(&progress),
            )
            .await?
        }
        local => {
            (ImageSource::open_with(local, registry.options().limits)?, crate::TransferStats::default(), HashSet::new())
        }
    };
    let mut report = match dst {
        Reference::Registry(name) => {
            let (digest, media_type, stats) =
                crate::push(registry, &source, name, &options.platforms, cache, progress).await?;
            CopyReport::pushed(digest, media_type, &stats)
        }
        local => {
            let (local, options, cache) = (local.clone(), options.clone(), cache.clone());
            tokio::task::spawn_blocking(move || copy_inner(&source, &local, &options, Some((&cache, &fresh))))
                .await
                .map_err(|e| Error::Invalid { what: "copy".into(), reason: format!("the copy task failed: {e}") })??
        }
    };
    report.bytes_downloaded += pulled.bytes_downloaded;
    if matches!(src, Reference::Registry(_)) && !matches!(dst, Reference::Registry(_)) {
        report.bytes_skipped += pulled.bytes_skipped;
    }
    Ok(report)
}

/// Copies the image or index `src` names to `dst` (`oci:` or `docker-archive:`).
///
/// To a layout, every blob is streamed and verified before it becomes visible, children
/// before the manifests that reference them, and the tag is set last: a reader never
/// sees a tag whose blobs are missing. With no platform filter an index is copied
/// whole and keeps its digest. A `docker save` archive holds one image, so an index is
/// narrowed to one platform (the first asked for, or the host's).
pub fn copy(src: &ImageSource, dst: &Reference, options: &CopyOptions) -> Result<CopyReport> {
    copy_inner(src, dst, options, None)
}

/// [`copy`], copying the `fresh` blobs (downloaded and verified by this process into
/// `cache` moments ago) file to file without hashing them again.
fn copy_inner(
    src: &ImageSource,
    dst: &Reference,
    options: &CopyOptions,
    fresh: Option<(&OciLayout, &HashSet<Digest>)>,
) -> Result<CopyReport> {
    match dst {
        Reference::Layout { dir, tag } => copy_to_layout(src, dir, tag.as_deref(), options, fresh),
        Reference::DockerArchive { path, image } => {
            let img = src.image(options.platforms.first())?;
            let tags: Vec<String> = image.iter().cloned().collect();
            write_docker_archive(path, &img, &tags)?;
            Ok(CopyReport {
                blobs_written: 2 + img.layers().len() as u64,
                bytes_written: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
                ..CopyReport::empty(img.digest().clone(), img.raw_manifest().media_type().clone())
            })
        }
        Reference::Registry(name) => Err(Error::Invalid {
            what: format!("destination {name}"),
            reason: "copy writes local destinations only (oci:DIR[:TAG] or docker-archive:FILE)".into(),
        }),
    }
}

fn copy_to_layout(
    src: &ImageSource,
    dir: &Path,
    tag: Option<&str>,
    options: &CopyOptions,
    fresh: Option<(&OciLayout, &HashSet<Digest>)>,
) -> Result<CopyReport> {
    let layout = OciLayout::create(dir)?;
    let top_raw = src.top_manifest()?;
    let mut report = CopyReport::empty(top_raw.digest().clone(), top_raw.media_type().clone());
    let (roots, new_top): (Vec<Descriptor>, Option<RawManifest>) =
        if top_raw.media_type().is_index() && !options.platforms.is_empty() {
            let (children, filtered) = filter_index(&top_raw, &options.platforms)?;
            (children, Some(filtered))
        } else {
            (vec![src.top().clone()], None)
        };
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    for root in &roots {
        walk(&**src.blobs(), root, src.limits(), 0, &mut |d| {
            let first_visit = seen.insert(d.digest.clone());
            if first_visit {
                order.push(d.clone());
            }
            first_visit
        })?;
    }
    // Children first: a manifest lands only after everything it references.
    for d in order.iter().rev() {
        if layout.has_blob(&d.digest) {
            report.blobs_skipped += 1;
            report.bytes_skipped += d.size;
            continue;
        }
        if d.media_type.is_non_distributable() && src.blobs().open_blob(d).is_err() {
            continue; // foreign layers that were never shipped stay foreign
        }
        if let Some((cache, fresh)) = fresh
            && fresh.contains(&d.digest)
        {
            layout.copy_verified_file(d, &cache.blob_path(&d.digest))?;
            report.blobs_written += 1;
            report.bytes_written += d.size;
            continue;
        }
        src.copy_blob_to(d, &layout)?;
        report.blobs_written += 1;
        report.bytes_written += d.size;
    }
    let mut top = src.top().clone();
    if let Some(filtered) = new_top {
        layout.write_blob(filtered.bytes())?;
        report.blobs_written += 1;
        report.bytes_written += filtered.bytes().len() as u64;
        report.digest = filtered.digest().clone();
        top = filtered.descriptor();
    }
    top.annotations = top.annotations.take().map(|mut a| {
        a.remove(crate::ANNOTATION_REF_NAME);
        a
    });
    if top.annotations.as_ref().is_some_and(|a| a.is_empty()) {
        top.annotations = None;
    }
    layout.set_tag(tag, &top)?;
    Ok(report)
}

/// A copy of an index keeping only the entries for `platforms` (other keys untouched).
pub(crate) fn filter_index(raw: &RawManifest, platforms: &[Platform]) -> Result<(Vec<Descriptor>, RawManifest)> {
    let mut value: Value = serde_json::from_slice(raw.bytes())
        .map_err(|source| Error::Json { what: format!("index {}", raw.digest()), source })?;
    let manifests = value.get_mut("manifests").and_then(Value::as_array_mut).ok_or_else(|| Error::Invalid {
        what: format!("index {}", raw.digest()),
        reason: "no manifests array".into(),
    })?;
    let mut kept = Vec::new();
    manifests.retain(|m| {
        let Ok(d) = serde_json::from_value::<Descriptor>(m.clone()) else {
            return false;
        };
        let keep = d.platform.as_ref().is_some_and(|p| platforms.iter().any(|w| p.satisfies(w)));
        if keep {
            kept.push(d);
        }
        keep
    });
    if kept.is_empty() {
        return Err(Error::NotFound {
            what: format!(
                "platforms {} in index {}",
                platforms.iter().map(Platform::to_string).collect::<Vec<_>>().join(", "),
                raw.digest()
            ),
            hint: String::new(),
        });
    }
    let bytes = serde_json::to_vec(&value).expect("serialisable");
    Ok((kept, RawManifest::from_bytes(bytes)?))
}
