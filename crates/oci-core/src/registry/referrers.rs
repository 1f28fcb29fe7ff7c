//! Referrers in registries: pushed and listed through the referrers API when the
//! registry has it, else through the tag-schema fallback index, as the distribution spec
//! (1.1) describes; and carried from one reference to another.

use std::sync::Arc;

use super::Registry;
use super::transfer::Progress;
use crate::referrers::{blobs_of, filter};
use crate::{
    Attached, BlobSource, Descriptor, Digest, Error, ImageIndex, ImageName, Manifest, OciLayout, RawManifest,
    Reference, ReferrersVia, Result, fallback_tag, referrer_entry,
};

/// How many times the fallback index is read, changed and written before giving up
/// when another writer keeps replacing it.
const FALLBACK_ATTEMPTS: usize = 3;

/// Referrers of referrers (a signature of an SBOM) are followed this deep.
const MAX_REFERRER_DEPTH: usize = 3;

/// Pushes the artifact manifest `raw` (it names a `subject`) to `name`'s repository with
/// its blobs from `blobs` (those the registry has are skipped), by digest.
///
/// The registry's answer decides how it becomes findable: an `OCI-Subject` header, or a
/// referrers API that answers with an index, means the registry lists it by itself
/// ([`ReferrersVia::Api`]); otherwise the tag-schema index `sha256-<hex>` of the subject is
/// read, extended and written back ([`ReferrersVia::TagSchema`]), and read again to make
/// sure a concurrent writer did not drop the entry (retried a few times if it did).
pub async fn push_referrer(
    registry: &Registry,
    name: &ImageName,
    raw: &RawManifest,
    blobs: &dyn BlobSource,
    progress: &Arc<dyn Progress>,
) -> Result<Attached> {
    let Some((subject, entry)) = referrer_entry(raw)? else {
        return Err(Error::Invalid {
            what: format!("manifest {}", raw.digest()),
            reason: "it has no subject, so it refers to nothing".into(),
        });
    };
    for d in blobs_of(raw)? {
        if registry.has_blob(name, &d.digest).await? {
            continue;
        }
        let open = || blobs.open_blob(&d);
        registry.upload_blob(name, &d, &open, progress).await?;
    }
    let answered = registry.put_manifest_subject(name, &raw.digest().to_string(), raw).await?;
    if answered.is_some() || registry.get_referrers(name, &subject, None).await?.is_some() {
        return Ok(Attached { descriptor: entry, via: ReferrersVia::Api });
    }
    add_to_fallback(registry, name, &subject, &entry).await?;
    Ok(Attached { descriptor: entry, via: ReferrersVia::TagSchema })
}

/// The referrers of `subject` in `name`'s repository (of `artifact_type` only, when
/// given): from the referrers API when the registry has it, else from the tag-schema
/// index (none when that tag does not exist).
pub async fn list_referrers(
    registry: &Registry,
    name: &ImageName,
    subject: &Digest,
    artifact_type: Option<&str>,
) -> Result<(ReferrersVia, Vec<Descriptor>)> {
    if let Some(index) = registry.get_referrers(name, subject, artifact_type).await? {
        let mut found = index.manifests;
        filter(&mut found, artifact_type); // the registry may not have applied the filter
        return Ok((ReferrersVia::Api, found));
    }
    let mut found = fallback_index(registry, name, subject).await?.map(|i| i.manifests).unwrap_or_default();
    filter(&mut found, artifact_type);
    Ok((ReferrersVia::TagSchema, found))
}

/// The tag-schema index of `subject`, `None` when the tag does not exist.
async fn fallback_index(registry: &Registry, name: &ImageName, subject: &Digest) -> Result<Option<ImageIndex>> {
    let tag = fallback_tag(subject);
    let raw = match registry.get_manifest(name, &tag).await {
        Ok(raw) => raw,
        Err(Error::Registry { status: Some(404), .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    match raw.parse()? {
        Manifest::Index(index) => Ok(Some(index)),
        Manifest::Image(_) => Err(Error::Invalid {
            what: format!("{}/{}:{tag}", name.registry(), name.repository()),
            reason: "the referrers tag names an image manifest, not an index".into(),
        }),
    }
}

async fn add_to_fallback(registry: &Registry, name: &ImageName, subject: &Digest, entry: &Descriptor) -> Result<()> {
    let tag = fallback_tag(subject);
    for _ in 0..FALLBACK_ATTEMPTS {
        let mut index = fallback_index(registry, name, subject).await?.unwrap_or_default();
        if index.manifests.iter().any(|d| d.digest == entry.digest) {
            return Ok(());
        }
        index.manifests.push(entry.clone());
        let raw = RawManifest::from_bytes(serde_json::to_vec(&index).expect("serialisable"))?;
        registry.put_manifest(name, &tag, &raw).await?;
        let back = fallback_index(registry, name, subject).await?.unwrap_or_default();
        if back.manifests.iter().any(|d| d.digest == entry.digest) {
            return Ok(());
        }
    }
    Err(Error::Registry {
        registry: name.registry().to_owned(),
        repository: name.repository().to_owned(),
        what: format!("updating the referrers index {tag}"),
        status: None,
        message: format!("another writer replaced it {FALLBACK_ATTEMPTS} times running"),
    })
}

/// Copies the referrers of each of `subjects` (and their own referrers, a few levels
/// deep) from `src` to `dst`, unchanged: the same manifest bytes and blobs, so the same
/// digests. Each end is a registry (its API or the fallback, as [`push_referrer`] and
/// [`list_referrers`] decide) or an `oci:` layout; `remote` (a registry session and the
/// blob cache registry blobs pass through) is needed when an end is a registry.
pub async fn copy_referrers(
    remote: Option<(&Registry, &OciLayout)>,
    src: &Reference,
    dst: &Reference,
    subjects: &[Digest],
    progress: &Arc<dyn Progress>,
) -> Result<Vec<Attached>> {
    let mut queue: Vec<(Digest, usize)> = subjects.iter().map(|d| (d.clone(), 0)).collect();
    let mut copied: Vec<Attached> = Vec::new();
    while let Some((subject, depth)) = queue.pop() {
        for d in list_at(remote, src, &subject).await? {
            if !d.media_type.is_manifest() || copied.iter().any(|a| a.descriptor.digest == d.digest) {
                continue; // an index as a referrer is not copied; each referrer once
            }
            let (raw, blobs) = read_referrer(remote, src, &d, progress).await?;
            let attached = match dst {
                Reference::Registry(name) => push_referrer(need(remote, dst)?.0, name, &raw, &*blobs, progress).await?,
                Reference::Layout { dir, .. } => OciLayout::create(dir)?.attach(&raw, &*blobs)?,
                other => return Err(no_referrers(other)),
            };
            copied.push(attached);
            if depth < MAX_REFERRER_DEPTH {
                queue.push((d.digest.clone(), depth + 1));
            }
        }
    }
    Ok(copied)
}

fn need<'a>(remote: Option<(&'a Registry, &'a OciLayout)>, at: &Reference) -> Result<(&'a Registry, &'a OciLayout)> {
    remote.ok_or_else(|| Error::Invalid {
        what: format!("referrers at {at}"),
        reason: "a registry session is needed to reach a registry".into(),
    })
}

fn no_referrers(at: &Reference) -> Error {
    Error::Invalid {
        what: format!("referrers at {at}"),
        reason: "only registries and oci: layouts hold referrers (not docker-archive files)".into(),
    }
}

async fn list_at(remote: Option<(&Registry, &OciLayout)>, at: &Reference, subject: &Digest) -> Result<Vec<Descriptor>> {
    match at {
        Reference::Registry(name) => Ok(list_referrers(need(remote, at)?.0, name, subject, None).await?.1),
        Reference::Layout { dir, .. } => OciLayout::open(dir)?.referrers(subject, None),
        other => Err(no_referrers(other)),
    }
}

/// The referrer `d` at `at`, and where its blobs can be read (the blob cache for a
/// registry, where they are fetched first).
async fn read_referrer(
    remote: Option<(&Registry, &OciLayout)>,
    at: &Reference,
    d: &Descriptor,
    progress: &Arc<dyn Progress>,
) -> Result<(RawManifest, Arc<dyn BlobSource>)> {
    match at {
        Reference::Registry(name) => {
            let (registry, cache) = need(remote, at)?;
            let raw = registry.get_manifest(name, &d.digest.to_string()).await?;
            cache.write_blob(raw.bytes())?;
            for b in blobs_of(&raw)? {
                registry.fetch_blob(name, &b, cache, &**progress).await?;
            }
            Ok((raw, Arc::new(cache.clone())))
        }
        Reference::Layout { dir, .. } => {
            let layout = OciLayout::open(dir)?;
            let what = format!("referrer {} in {}", d.digest, dir.display());
            let raw = RawManifest::verified(layout.read_json_blob(d)?, d, &what)?;
            Ok((raw, Arc::new(layout)))
        }
        other => Err(no_referrers(other)),
    }
}

/// The tag suffixes under which cosign stores what it attaches to a manifest without the
/// referrers API: `sha256-<hex>.sig` (signatures), `.att` (attestations), `.sbom`.
pub const COSIGN_TAG_SUFFIXES: [&str; 3] = [".sig", ".att", ".sbom"];

/// Copies the cosign tags ([`COSIGN_TAG_SUFFIXES`]) of each of `subjects` that `src`'s
/// repository has to `dst`'s, untouched (same manifest bytes, same blobs): the signatures
/// of a copied image stay valid because its digest did not change. Returns the tags
/// copied. Only image manifests are copied under those tags (what cosign writes).
pub async fn copy_signature_tags(
    registry: &Registry,
    cache: &OciLayout,
    src: &ImageName,
    dst: &ImageName,
    subjects: &[Digest],
    progress: &Arc<dyn Progress>,
) -> Result<Vec<String>> {
    let mut copied = Vec::new();
    for subject in subjects {
        for suffix in COSIGN_TAG_SUFFIXES {
            let tag = format!("{}{suffix}", fallback_tag(subject));
            let raw = match registry.get_manifest(src, &tag).await {
                Ok(raw) => raw,
                Err(Error::Registry { status: Some(404), .. }) => continue,
                Err(e) => return Err(e),
            };
            let Manifest::Image(m) = raw.parse()? else { continue };
            for d in std::iter::once(&m.config).chain(&m.layers) {
                if d.media_type.is_non_distributable() || registry.has_blob(dst, &d.digest).await? {
                    continue;
                }
                registry.fetch_blob(src, d, cache, &**progress).await?;
                let open = || cache.open_blob(d);
                registry.upload_blob(dst, d, &open, progress).await?;
            }
            registry.put_manifest(dst, &tag, &raw).await?;
            copied.push(tag);
        }
    }
    Ok(copied)
}
