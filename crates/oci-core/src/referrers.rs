//! OCI 1.1 referrers: artifacts (an SBOM, a signature, a report) attached to a manifest
//! through the `subject` of their own manifest.
//!
//! An [`Artifact`] is one document with its `artifactType`; [`Artifact::manifest_for`]
//! wraps it in an image manifest whose config is the empty descriptor and whose `subject`
//! is the manifest it describes. How referrers are stored and found depends on the
//! transport ([`ReferrersVia`]): a registry's referrers API, the distribution spec's
//! tag-schema fallback (an index tagged `sha256-<hex>`), or an image layout's
//! `index.json`, where a referrer is an untagged entry whose manifest names the subject.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use serde::Serialize;

use crate::{BlobSource, Descriptor, Digest, Error, ImageManifest, Manifest, MediaType, RawManifest, Result};

/// The empty JSON document, `{}`: the config of artifact manifests.
pub const EMPTY_JSON: &[u8] = b"{}";

/// The descriptor of [`EMPTY_JSON`] (`application/vnd.oci.empty.v1+json`, size 2, the
/// content embedded as `data`), as the image spec gives it.
pub fn empty_descriptor() -> Descriptor {
    let mut d = Descriptor::new(MediaType::OciEmpty, Digest::sha256(EMPTY_JSON), EMPTY_JSON.len() as u64);
    d.data = Some("e30=".into());
    d
}

/// The tag of the referrers index for `subject` when a registry has no referrers API:
/// `<alg>-<hex>` (`sha256-…`), cut to the 128 characters a tag may have.
pub fn fallback_tag(subject: &Digest) -> String {
    let mut tag = format!("{}-{}", subject.algorithm().as_str(), subject.hex());
    tag.truncate(128);
    tag
}

/// A document to attach to a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// What the artifact is (`application/vnd.cyclonedx+json`, …): the manifest's
    /// `artifactType`, and what referrers are filtered by.
    pub artifact_type: String,
    /// The media type of the document (its layer descriptor).
    pub media_type: MediaType,
    /// The document.
    pub bytes: Vec<u8>,
    /// Annotations of the artifact manifest (and of its entry in a referrers list).
    pub annotations: BTreeMap<String, String>,
}

impl Artifact {
    /// An artifact whose document has the media type `artifact_type` too.
    pub fn new(artifact_type: &str, bytes: Vec<u8>) -> Artifact {
        Artifact {
            artifact_type: artifact_type.to_owned(),
            media_type: MediaType::from(artifact_type),
            bytes,
            annotations: BTreeMap::new(),
        }
    }

    /// The artifact manifest with `subject` as its subject, and its blobs (the empty
    /// config and the document). The same artifact and subject give the same digest.
    pub fn manifest_for(&self, subject: &Descriptor) -> Result<ReferrerManifest> {
        let layer = Descriptor::new(self.media_type.clone(), Digest::sha256(&self.bytes), self.bytes.len() as u64);
        let mut subject = Descriptor::new(subject.media_type.clone(), subject.digest.clone(), subject.size);
        subject.artifact_type = None;
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(MediaType::OciManifest),
            artifact_type: Some(self.artifact_type.clone()),
            config: empty_descriptor(),
            layers: vec![layer],
            subject: Some(subject),
            annotations: (!self.annotations.is_empty()).then(|| self.annotations.clone()),
        };
        let raw = RawManifest::from_bytes(serde_json::to_vec(&manifest).expect("serialisable"))?;
        let mut blobs = MemoryBlobs::default();
        blobs.insert(EMPTY_JSON.to_vec());
        blobs.insert(self.bytes.clone());
        Ok(ReferrerManifest { manifest: raw, blobs })
    }
}

/// An artifact manifest and the blobs it references, in memory.
#[derive(Debug, Clone)]
pub struct ReferrerManifest {
    /// The manifest (its `subject` names what it refers to).
    pub manifest: RawManifest,
    /// Its config and layers.
    pub blobs: MemoryBlobs,
}

/// Blobs held in memory, by digest: a [`BlobSource`] for small documents.
#[derive(Debug, Clone, Default)]
pub struct MemoryBlobs(HashMap<Digest, Vec<u8>>);

impl MemoryBlobs {
    /// Adds `bytes` and returns their digest.
    pub fn insert(&mut self, bytes: Vec<u8>) -> Digest {
        let digest = Digest::sha256(&bytes);
        self.0.insert(digest.clone(), bytes);
        digest
    }
}

impl BlobSource for MemoryBlobs {
    fn open_blob(&self, descriptor: &Descriptor) -> Result<Box<dyn Read + Send>> {
        let bytes = self.0.get(&descriptor.digest).ok_or_else(|| Error::NotFound {
            what: format!("blob {} in memory", descriptor.digest),
            hint: String::new(),
        })?;
        Ok(Box::new(std::io::Cursor::new(bytes.clone())))
    }

    fn name(&self) -> String {
        "memory".into()
    }
}

/// Where referrers were stored or found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ReferrersVia {
    /// The registry's referrers API (`/v2/<name>/referrers/<digest>`).
    Api,
    /// The tag-schema fallback: an index tagged [`fallback_tag`].
    TagSchema,
    /// An image layout's `index.json`.
    Layout,
}

impl ReferrersVia {
    /// `api`, `tag-schema` or `layout`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReferrersVia::Api => "api",
            ReferrersVia::TagSchema => "tag-schema",
            ReferrersVia::Layout => "layout",
        }
    }
}

/// The referrers of one manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrers {
    /// The manifest they refer to.
    pub subject: Digest,
    /// How they were found.
    pub via: ReferrersVia,
    /// One descriptor per referrer: media type, digest, size, `artifactType` and the
    /// manifest's annotations, as a referrers list has them.
    pub descriptors: Vec<Descriptor>,
}

/// What [`crate::Session::attach`] or [`crate::push_referrer`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    /// The artifact manifest, as a referrers list shows it.
    pub descriptor: Descriptor,
    /// How it was made findable.
    pub via: ReferrersVia,
}

/// The entry of a referrers list for the manifest `raw`, and the subject it names; `None`
/// when it has no subject. `artifactType` is the manifest's, else its config's media
/// type, as the distribution spec says.
pub fn referrer_entry(raw: &RawManifest) -> Result<Option<(Digest, Descriptor)>> {
    let (subject, artifact_type, annotations) = match raw.parse()? {
        Manifest::Image(m) => {
            let t = m.artifact_type.clone().or_else(|| Some(m.config.media_type.as_str().to_owned()));
            (m.subject, t, m.annotations)
        }
        Manifest::Index(i) => (i.subject, i.artifact_type, i.annotations),
    };
    let Some(subject) = subject else { return Ok(None) };
    let mut d = raw.descriptor();
    d.artifact_type = artifact_type;
    d.annotations = annotations.filter(|a| !a.is_empty());
    Ok(Some((subject.digest, d)))
}

/// Keeps the entries whose `artifactType` is `wanted` (all when `None`).
pub(crate) fn filter(descriptors: &mut Vec<Descriptor>, wanted: Option<&str>) {
    if let Some(t) = wanted {
        descriptors.retain(|d| d.artifact_type.as_deref() == Some(t));
    }
}

/// The blobs an artifact manifest references (config and layers), those not embedded
/// twice; the subject is not among them.
pub(crate) fn blobs_of(raw: &RawManifest) -> Result<Vec<Descriptor>> {
    match raw.parse()? {
        Manifest::Image(m) => {
            let mut out: Vec<Descriptor> = Vec::new();
            for d in std::iter::once(m.config).chain(m.layers) {
                if !out.iter().any(|o| o.digest == d.digest) {
                    out.push(d);
                }
            }
            Ok(out)
        }
        Manifest::Index(_) => Err(Error::UnsupportedMediaType {
            media_type: raw.media_type().to_string(),
            what: format!("referrer {} (an index as a referrer is not copied)", raw.digest()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_descriptor_is_the_specs() {
        let d = empty_descriptor();
        assert_eq!(d.digest.to_string(), "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
        assert_eq!((d.size, d.media_type.as_str()), (2, "application/vnd.oci.empty.v1+json"));
        assert_eq!(d.data.as_deref(), Some("e30="));
    }

    #[test]
    fn an_artifact_manifest_names_its_subject_and_lists_like_a_referrer() {
        let subject = Descriptor::new(MediaType::OciManifest, Digest::sha256(b"image"), 5);
        let mut artifact = Artifact::new("application/vnd.cyclonedx+json", b"{\"bomFormat\":\"CycloneDX\"}".to_vec());
        artifact.annotations.insert("org.example".into(), "x".into());
        let made = artifact.manifest_for(&subject).unwrap();
        assert_eq!(made.manifest.digest(), artifact.manifest_for(&subject).unwrap().manifest.digest());
        let (of, entry) = referrer_entry(&made.manifest).unwrap().expect("a subject");
        assert_eq!(of, subject.digest);
        assert_eq!(entry.artifact_type.as_deref(), Some("application/vnd.cyclonedx+json"));
        assert_eq!(entry.annotation("org.example"), Some("x"));
        let blobs = blobs_of(&made.manifest).unwrap();
        assert_eq!(blobs.len(), 2);
        for b in &blobs {
            let mut bytes = Vec::new();
            made.blobs.open_blob(b).unwrap().read_to_end(&mut bytes).unwrap();
            assert_eq!(Digest::sha256(&bytes), b.digest);
        }
        assert_eq!(fallback_tag(&subject.digest), format!("sha256-{}", subject.digest.hex()));
    }
}
