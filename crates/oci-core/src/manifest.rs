//! Image manifests and indexes, kept as their raw bytes (the digest is of those bytes).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Descriptor, Digest, Error, MediaType, Result};

/// An image manifest (OCI, or Docker schema 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's own media type, when it states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<MediaType>,
    /// The artifact type, for artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The image configuration.
    pub config: Descriptor,
    /// The layers, base first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (referrers API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An image index (OCI) or manifest list (Docker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// The index's own media type, when it states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<MediaType>,
    /// The artifact type, for artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The referenced manifests and indexes.
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to (referrers API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl ImageIndex {
    /// An empty OCI index.
    pub fn new() -> ImageIndex {
        ImageIndex {
            schema_version: 2,
            media_type: Some(MediaType::OciIndex),
            artifact_type: None,
            manifests: Vec::new(),
            subject: None,
            annotations: None,
        }
    }
}

impl Default for ImageIndex {
    fn default() -> Self {
        ImageIndex::new()
    }
}

/// A parsed manifest: an image or an index.
#[allow(clippy::large_enum_variant)] // short-lived; boxing would only add indirection
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    /// An image manifest.
    Image(ImageManifest),
    /// An index or manifest list.
    Index(ImageIndex),
}

/// A manifest or index exactly as stored: its bytes, media type and digest.
///
/// The digest is always that of [`RawManifest::bytes`], never of a re-serialisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawManifest {
    bytes: Vec<u8>,
    media_type: MediaType,
    digest: Digest,
}

impl RawManifest {
    /// Wraps bytes read for `descriptor`, checking digest and size.
    pub fn verified(bytes: Vec<u8>, descriptor: &Descriptor, what: &str) -> Result<RawManifest> {
        if bytes.len() as u64 != descriptor.size {
            return Err(Error::SizeMismatch {
                what: what.to_owned(),
                expected: descriptor.size,
                found: bytes.len() as u64,
            });
        }
        descriptor.digest.verify(what, &bytes)?;
        let media_type = effective_media_type(&bytes, Some(&descriptor.media_type), what)?;
        Ok(RawManifest { digest: descriptor.digest.clone(), bytes, media_type })
    }

    /// Wraps bytes whose digest is computed here (for bytes we produced).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<RawManifest> {
        let media_type = effective_media_type(&bytes, None, "manifest")?;
        Ok(RawManifest { digest: Digest::sha256(&bytes), bytes, media_type })
    }

    /// The raw bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The media type (from the descriptor, the document, or its shape).
    pub fn media_type(&self) -> &MediaType {
        &self.media_type
    }

    /// The digest of the raw bytes.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// A descriptor for this manifest.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(self.media_type.clone(), self.digest.clone(), self.bytes.len() as u64)
    }

    /// Parses the bytes as an image manifest or an index.
    ///
    /// # Security
    /// The input is untrusted JSON: refused with [`Error::Json`] when malformed and
    /// [`Error::Invalid`] when it is not a schema-2 manifest or index.
    pub fn parse(&self) -> Result<Manifest> {
        let what = || format!("manifest {}", self.digest);
        let json = |source| Error::Json { what: what(), source };
        let m = if self.media_type.is_index() {
            Manifest::Index(serde_json::from_slice::<ImageIndex>(&self.bytes).map_err(json)?)
        } else {
            Manifest::Image(serde_json::from_slice::<ImageManifest>(&self.bytes).map_err(json)?)
        };
        let schema = match &m {
            Manifest::Image(i) => i.schema_version,
            Manifest::Index(i) => i.schema_version,
        };
        if schema != 2 {
            return Err(Error::Invalid { what: what(), reason: format!("schemaVersion is {schema}, expected 2") });
        }
        Ok(m)
    }
}

/// The media type of a manifest: the descriptor's when it names a manifest type, else the
/// document's `mediaType`, else guessed from its shape (`manifests` → OCI index).
fn effective_media_type(bytes: &[u8], from_descriptor: Option<&MediaType>, what: &str) -> Result<MediaType> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        schema_version: Option<u32>,
        media_type: Option<MediaType>,
        manifests: Option<serde::de::IgnoredAny>,
    }
    let probe: Probe = serde_json::from_slice(bytes).map_err(|source| Error::Json { what: what.to_owned(), source })?;
    if probe.schema_version == Some(1) || from_descriptor == Some(&MediaType::DockerSchema1Signed) {
        return Err(Error::UnsupportedMediaType {
            media_type: "Docker schema 1".into(),
            what: format!("{what} (convert it with a newer client; schema 1 is deprecated)"),
        });
    }
    if let Some(mt) = from_descriptor
        && (mt.is_index() || mt.is_manifest())
    {
        if let Some(doc) = &probe.media_type
            && doc != mt
        {
            return Err(Error::Invalid {
                what: what.to_owned(),
                reason: format!("descriptor says {mt} but the document says {doc}"),
            });
        }
        return Ok(mt.clone());
    }
    Ok(match probe.media_type {
        Some(mt) => mt,
        None if probe.manifests.is_some() => MediaType::OciIndex,
        None => MediaType::OciManifest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_raw_bytes_and_refuses_garbage() {
        let bytes = br#"{"schemaVersion":2,"manifests":[],"x-unknown":1}"#.to_vec();
        let raw = RawManifest::from_bytes(bytes.clone()).unwrap();
        assert_eq!(raw.bytes(), &bytes[..]);
        assert_eq!(raw.digest(), &Digest::sha256(&bytes));
        assert!(matches!(raw.parse().unwrap(), Manifest::Index(_)));
        assert!(matches!(RawManifest::from_bytes(b"not json".to_vec()), Err(Error::Json { .. })));
        let v1 = RawManifest::from_bytes(br#"{"schemaVersion":1}"#.to_vec());
        assert!(matches!(v1, Err(Error::UnsupportedMediaType { .. })));
    }
}
