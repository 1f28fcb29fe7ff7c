//! Media types of manifests, indexes, configs and layers, OCI and Docker.

use std::fmt;
use std::str::FromStr;

use crate::Compression;

macro_rules! media_types {
    ($($(#[$doc:meta])* $variant:ident => $s:literal,)*) => {
        /// A media type, with the OCI and Docker ones named and any other kept verbatim.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum MediaType {
            $($(#[$doc])* $variant,)*
            /// Any other media type (artifacts, signatures, vendor types), kept as written.
            Other(String),
        }

        impl MediaType {
            /// The media type as written in JSON.
            pub fn as_str(&self) -> &str {
                match self {
                    $(MediaType::$variant => $s,)*
                    MediaType::Other(s) => s,
                }
            }
        }

        impl From<&str> for MediaType {
            fn from(s: &str) -> Self {
                match s {
                    $($s => MediaType::$variant,)*
                    other => MediaType::Other(other.to_owned()),
                }
            }
        }
    };
}

media_types! {
    /// `application/vnd.oci.image.manifest.v1+json`
    OciManifest => "application/vnd.oci.image.manifest.v1+json",
    /// `application/vnd.oci.image.index.v1+json`
    OciIndex => "application/vnd.oci.image.index.v1+json",
    /// `application/vnd.oci.image.config.v1+json`
    OciConfig => "application/vnd.oci.image.config.v1+json",
    /// `application/vnd.oci.image.layer.v1.tar`
    OciLayer => "application/vnd.oci.image.layer.v1.tar",
    /// `application/vnd.oci.image.layer.v1.tar+gzip`
    OciLayerGzip => "application/vnd.oci.image.layer.v1.tar+gzip",
    /// `application/vnd.oci.image.layer.v1.tar+zstd`
    OciLayerZstd => "application/vnd.oci.image.layer.v1.tar+zstd",
    /// `application/vnd.oci.image.layer.nondistributable.v1.tar` (deprecated, kept as-is)
    OciLayerNonDistributable => "application/vnd.oci.image.layer.nondistributable.v1.tar",
    /// `application/vnd.oci.image.layer.nondistributable.v1.tar+gzip` (deprecated, kept as-is)
    OciLayerNonDistributableGzip => "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    /// `application/vnd.oci.image.layer.nondistributable.v1.tar+zstd` (deprecated, kept as-is)
    OciLayerNonDistributableZstd => "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    /// `application/vnd.oci.empty.v1+json`
    OciEmpty => "application/vnd.oci.empty.v1+json",
    /// `application/vnd.docker.distribution.manifest.v2+json` (Docker schema 2)
    DockerManifest => "application/vnd.docker.distribution.manifest.v2+json",
    /// `application/vnd.docker.distribution.manifest.list.v2+json`
    DockerManifestList => "application/vnd.docker.distribution.manifest.list.v2+json",
    /// `application/vnd.docker.container.image.v1+json`
    DockerConfig => "application/vnd.docker.container.image.v1+json",
    /// `application/vnd.docker.image.rootfs.diff.tar.gzip`
    DockerLayerGzip => "application/vnd.docker.image.rootfs.diff.tar.gzip",
    /// `application/vnd.docker.image.rootfs.diff.tar` (uncompressed; `docker save` layers)
    DockerLayer => "application/vnd.docker.image.rootfs.diff.tar",
    /// `application/vnd.docker.image.rootfs.foreign.diff.tar.gzip` (Windows base layers, kept as-is)
    DockerForeignLayerGzip => "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    /// `application/vnd.docker.distribution.manifest.v1+prettyjws` (schema 1, refused)
    DockerSchema1Signed => "application/vnd.docker.distribution.manifest.v1+prettyjws",
}

impl MediaType {
    /// An image index or Docker manifest list.
    pub fn is_index(&self) -> bool {
        matches!(self, MediaType::OciIndex | MediaType::DockerManifestList)
    }

    /// An image manifest (OCI or Docker schema 2).
    pub fn is_manifest(&self) -> bool {
        matches!(self, MediaType::OciManifest | MediaType::DockerManifest)
    }

    /// A Docker (rather than OCI) media type.
    pub fn is_docker(&self) -> bool {
        self.as_str().starts_with("application/vnd.docker.")
    }

    /// A filesystem layer whose contents we can read (tar, possibly compressed).
    pub fn is_layer(&self) -> bool {
        self.layer_compression().is_some()
    }

    /// A layer that must not be pushed to other registries (foreign or non-distributable).
    pub fn is_non_distributable(&self) -> bool {
        matches!(
            self,
            MediaType::OciLayerNonDistributable
                | MediaType::OciLayerNonDistributableGzip
                | MediaType::OciLayerNonDistributableZstd
                | MediaType::DockerForeignLayerGzip
        )
    }

    /// The compression of a layer media type, or `None` when it is not a layer.
    pub fn layer_compression(&self) -> Option<Compression> {
        Some(match self {
            MediaType::OciLayer | MediaType::OciLayerNonDistributable | MediaType::DockerLayer => Compression::None,
            MediaType::OciLayerGzip
            | MediaType::OciLayerNonDistributableGzip
            | MediaType::DockerLayerGzip
            | MediaType::DockerForeignLayerGzip => Compression::Gzip,
            MediaType::OciLayerZstd | MediaType::OciLayerNonDistributableZstd => Compression::Zstd,
            // Vendor layer types such as `application/vnd.cncf.helm…` are not filesystems;
            // accept only the tar family with a suffix we know.
            MediaType::Other(s) if s.starts_with("application/vnd.oci.image.layer.") => {
                if s.ends_with(".tar") {
                    Compression::None
                } else if s.ends_with("+gzip") {
                    Compression::Gzip
                } else if s.ends_with("+zstd") {
                    Compression::Zstd
                } else {
                    return None;
                }
            }
            _ => return None,
        })
    }

    /// The layer media type for `compression` in the family (Docker or OCI) of `self`,
    /// which is a manifest media type.
    pub fn layer_for(&self, compression: Compression) -> MediaType {
        match (self.is_docker(), compression) {
            (true, Compression::Gzip) => MediaType::DockerLayerGzip,
            (true, Compression::None) => MediaType::DockerLayer,
            (_, Compression::None) => MediaType::OciLayer,
            (_, Compression::Gzip) => MediaType::OciLayerGzip,
            (_, Compression::Zstd) => MediaType::OciLayerZstd,
        }
    }
}

impl FromStr for MediaType {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(MediaType::from(s))
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for MediaType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for MediaType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(MediaType::from(&*s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_classify() {
        for s in [
            "application/vnd.oci.image.layer.v1.tar+zstd",
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            "application/x-custom",
        ] {
            assert_eq!(MediaType::from(s).as_str(), s);
        }
        assert!(MediaType::DockerManifestList.is_index());
        assert_eq!(MediaType::DockerForeignLayerGzip.layer_compression(), Some(Compression::Gzip));
        assert!(MediaType::DockerForeignLayerGzip.is_non_distributable());
        assert_eq!(MediaType::OciConfig.layer_compression(), None);
        assert_eq!(MediaType::DockerManifest.layer_for(Compression::Gzip), MediaType::DockerLayerGzip);
    }
}
