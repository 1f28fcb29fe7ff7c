//! Reading images from any local transport: sources, resolved manifests, images, layers.

use std::fmt;
use std::io::Read;
use std::sync::Arc;

use crate::compression::{CheckedAtEnd, ReadAhead};
use crate::index_cache::IndexCache;
use crate::layout::read_verified;
use crate::{
    Compression, Descriptor, Digest, DockerArchive, Error, ImageConfig, ImageIndex, ImageManifest, Limits, Manifest,
    MediaType, OciLayout, Platform, RawManifest, Reference, Result, VerifyingReader, decompress,
};

/// Somewhere blobs can be read from by digest: a layout, an archive, a registry cache.
pub trait BlobSource: Send + Sync + fmt::Debug {
    /// Opens the raw bytes of the blob `descriptor` names. Callers verify them (see
    /// [`VerifyingReader`]); implementations need not.
    fn open_blob(&self, descriptor: &Descriptor) -> Result<Box<dyn Read + Send>>;

    /// A name for messages, e.g. `oci:/path/to/layout`.
    fn name(&self) -> String;
}

/// An opened reference: where its blobs are and which manifest or index it names.
#[derive(Debug, Clone)]
pub struct ImageSource {
    reference: Reference,
    blobs: Arc<dyn BlobSource>,
    top: Descriptor,
    limits: Limits,
    index_cache: Option<IndexCache>,
}

impl ImageSource {
    /// Opens a local reference (`oci:` or `docker-archive:`).
    pub fn open(reference: &Reference) -> Result<ImageSource> {
        ImageSource::open_with(reference, Limits::default())
    }

    /// Opens a local reference with other limits.
    pub fn open_with(reference: &Reference, limits: Limits) -> Result<ImageSource> {
        let (blobs, top): (Arc<dyn BlobSource>, Descriptor) = match reference {
            Reference::Layout { dir, tag } => {
                let layout = OciLayout::open(dir)?.with_limits(limits);
                let top = layout.resolve(tag.as_deref())?;
                (Arc::new(layout), top)
            }
            Reference::DockerArchive { path, image } => {
                let archive = DockerArchive::open(path, &limits)?;
                let top = archive.resolve(image.as_deref())?;
                (Arc::new(archive), top)
            }
            Reference::Registry(name) => {
                return Err(Error::Invalid {
                    what: format!("reference {name}"),
                    reason: "ImageSource::open reads local images only (oci:DIR[:TAG] or docker-archive:FILE); \
                             a registry image is opened through its blob cache"
                        .into(),
                });
            }
        };
        Ok(ImageSource::from_parts(reference.clone(), blobs, top, limits))
    }

    /// A source from its parts (for other transports, such as a registry cache).
    pub fn from_parts(
        reference: Reference,
        blobs: Arc<dyn BlobSource>,
        top: Descriptor,
        limits: Limits,
    ) -> ImageSource {
        ImageSource { reference, blobs, top, limits, index_cache: None }
    }

    /// The same source, building [`crate::MergedFs`] through the layer index cache `cache`
    /// (`None`: every layer is read in full each time).
    #[must_use]
    pub fn with_index_cache(mut self, cache: Option<IndexCache>) -> ImageSource {
        self.index_cache = cache;
        self
    }

    /// The layer index cache in use, if any.
    pub fn index_cache(&self) -> Option<&IndexCache> {
        self.index_cache.as_ref()
    }

    /// An image written to `layout` on top of `base` (hardened, patched, rebuilt): blobs
    /// come from `layout` when it holds them, else from `base` (unchanged layers and
    /// manifests, attestations). `base`'s limits apply; the reference names the layout.
    pub fn derived(layout: &OciLayout, top: Descriptor, base: &ImageSource) -> ImageSource {
        let blobs = FallbackBlobs { primary: layout.clone(), secondary: Arc::clone(base.blobs()) };
        ImageSource::from_parts(
            Reference::Layout { dir: layout.root().to_path_buf(), tag: None },
            Arc::new(blobs),
            top,
            base.limits,
        )
        .with_index_cache(base.index_cache.clone())
    }

    /// The reference this source was opened from.
    pub fn reference(&self) -> &Reference {
        &self.reference
    }

    /// The descriptor of the manifest or index the reference names.
    pub fn top(&self) -> &Descriptor {
        &self.top
    }

    /// Where the blobs come from.
    pub fn blobs(&self) -> &Arc<dyn BlobSource> {
        &self.blobs
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Reads and verifies a manifest or index.
    pub fn manifest(&self, descriptor: &Descriptor) -> Result<RawManifest> {
        let what = format!("manifest {} in {}", descriptor.digest, self.blobs.name());
        RawManifest::verified(read_verified(&*self.blobs, descriptor, &self.limits)?, descriptor, &what)
    }

    /// Reads and verifies any small blob (a config) within the JSON size limit.
    pub fn small_blob(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        read_verified(&*self.blobs, descriptor, &self.limits)
    }

    /// Opens a blob as a stream that is verified against `descriptor` as it is read.
    pub fn open_blob(&self, descriptor: &Descriptor) -> Result<VerifyingReader<Box<dyn Read + Send>>> {
        let raw = self.blobs.open_blob(descriptor)?;
        Ok(VerifyingReader::new(
            raw,
            descriptor.digest.clone(),
            Some(descriptor.size),
            format!("blob {} in {}", descriptor.digest, self.blobs.name()),
        ))
    }

    /// Copies blob `descriptor` into `layout` unless it is there already (`false`), hashing
    /// its bytes once: [`OciLayout::write_blob_from`] checks digest and size as they are
    /// written, and the blob becomes visible only once both matched. A mismatch names this
    /// source.
    pub fn copy_blob_to(&self, descriptor: &Descriptor, layout: &crate::OciLayout) -> Result<bool> {
        if layout.has_blob(&descriptor.digest) {
            return Ok(false);
        }
        let mut raw = self.blobs.open_blob(descriptor)?;
        layout
            .write_blob_from(descriptor, &mut raw)
            .map_err(|e| e.naming(|| format!("blob {} in {}", descriptor.digest, self.blobs.name())))
    }

    /// The top-level manifest or index, raw.
    pub fn top_manifest(&self) -> Result<RawManifest> {
        self.manifest(&self.top)
    }

    /// The image for `platform`: the top manifest when it is an image, else the matching
    /// entry of the index (nested indexes are followed). With no platform, an index must
    /// hold exactly one runnable image, or one for the host's platform.
    pub fn image(&self, platform: Option<&Platform>) -> Result<Image> {
        let raw = self.top_manifest()?;
        let desc = match raw.parse()? {
            Manifest::Image(_) => self.top.clone(),
            Manifest::Index(index) => self.select(&raw, &index, platform, 0)?,
        };
        self.image_at(&desc)
    }

    /// Every image an index lists, with its platform, or the single image.
    pub fn images(&self) -> Result<Vec<Image>> {
        let raw = self.top_manifest()?;
        match raw.parse()? {
            Manifest::Image(_) => Ok(vec![self.image_at(&self.top)?]),
            Manifest::Index(index) => {
                let mut out = Vec::new();
                self.collect_images(&raw, &index, 0, &mut out)?;
                Ok(out)
            }
        }
    }

    fn collect_images(&self, raw: &RawManifest, index: &ImageIndex, depth: usize, out: &mut Vec<Image>) -> Result<()> {
        for child in runnable(index) {
            if child.media_type.is_index() {
                self.check_depth(raw, child, depth)?;
                let nested = self.manifest(child)?;
                if let Manifest::Index(i) = nested.parse()? {
                    self.collect_images(&nested, &i, depth + 1, out)?;
                }
            } else {
                out.push(self.image_at(child)?);
            }
        }
        Ok(())
    }

    fn check_depth(&self, raw: &RawManifest, child: &Descriptor, depth: usize) -> Result<()> {
        if &child.digest == raw.digest() {
            return Err(Error::Invalid {
                what: format!("index {} in {}", raw.digest(), self.blobs.name()),
                reason: "the index references itself".into(),
            });
        }
        if depth >= self.limits.max_index_depth {
            return Err(Error::Invalid {
                what: format!("index {} in {}", raw.digest(), self.blobs.name()),
                reason: format!("indexes nested deeper than {} levels", self.limits.max_index_depth),
            });
        }
        Ok(())
    }

    fn select(
        &self,
        raw: &RawManifest,
        index: &ImageIndex,
        platform: Option<&Platform>,
        depth: usize,
    ) -> Result<Descriptor> {
        let candidates: Vec<&Descriptor> = runnable(index).collect();
        let chosen = match platform {
            Some(want) => candidates
                .iter()
                .find(|d| d.platform.as_ref().is_some_and(|p| p.satisfies(want)))
                .or_else(|| candidates.iter().find(|d| d.platform.is_none() && d.media_type.is_index())),
            None if candidates.len() == 1 => candidates.first(),
            None => {
                let host = Platform::host();
                candidates.iter().find(|d| d.platform.as_ref().is_some_and(|p| p.satisfies(&host)))
            }
        };
        let Some(chosen) = chosen else {
            return Err(Error::PlatformNotFound {
                index: raw.digest().clone(),
                wanted: platform.cloned().map(Box::new),
                available: candidates.iter().filter_map(|d| d.platform.clone()).collect(),
            });
        };
        if chosen.media_type.is_index() {
            self.check_depth(raw, chosen, depth)?;
            let nested = self.manifest(chosen)?;
            return match nested.parse()? {
                Manifest::Index(i) => self.select(&nested, &i, platform, depth + 1),
                Manifest::Image(_) => Ok((*chosen).clone()),
            };
        }
        Ok((*chosen).clone())
    }

    /// The image whose manifest `descriptor` names.
    pub fn image_at(&self, descriptor: &Descriptor) -> Result<Image> {
        let manifest = self.manifest(descriptor)?;
        let Manifest::Image(parsed) = manifest.parse()? else {
            return Err(Error::Invalid {
                what: format!("manifest {}", descriptor.digest),
                reason: "expected an image manifest, found an index".into(),
            });
        };
        let config_bytes = self.small_blob(&parsed.config)?;
        let config = ImageConfig::parse(&config_bytes, &format!("config {}", parsed.config.digest))?;
        let diff_ids = config.diff_ids()?;
        let fs_layers = parsed.layers.iter().filter(|l| l.media_type.is_layer()).count();
        if diff_ids.len() != fs_layers {
            return Err(Error::Invalid {
                what: format!("image {}", descriptor.digest),
                reason: format!("the manifest lists {fs_layers} layers but the config has {} diff_ids", diff_ids.len()),
            });
        }
        Ok(Image {
            source: self.clone(),
            descriptor: descriptor.clone(),
            manifest,
            parsed,
            config_bytes,
            config,
            diff_ids,
        })
    }
}

/// Blobs from a layout, else from another source (see [`ImageSource::derived`]).
#[derive(Debug)]
pub(crate) struct FallbackBlobs {
    primary: OciLayout,
    secondary: Arc<dyn BlobSource>,
}

impl FallbackBlobs {
    #[cfg_attr(not(feature = "registry"), allow(dead_code))]
    pub(crate) fn new(primary: OciLayout, secondary: Arc<dyn BlobSource>) -> FallbackBlobs {
        FallbackBlobs { primary, secondary }
    }
}

impl BlobSource for FallbackBlobs {
    fn open_blob(&self, descriptor: &Descriptor) -> Result<Box<dyn Read + Send>> {
        if self.primary.has_blob(&descriptor.digest) {
            self.primary.open_blob(descriptor)
        } else {
            self.secondary.open_blob(descriptor)
        }
    }

    fn name(&self) -> String {
        format!("{} (and {})", self.primary.name(), self.secondary.name())
    }
}

/// Index entries that are images or nested indexes, without attestations and artifacts.
fn runnable(index: &ImageIndex) -> impl Iterator<Item = &Descriptor> {
    index.manifests.iter().filter(|d| {
        (d.media_type.is_manifest() || d.media_type.is_index())
            && d.annotation("vnd.docker.reference.type") != Some("attestation-manifest")
            && d.platform.as_ref().is_none_or(|p| p.os != "unknown")
    })
}

/// One image: its manifest (raw and parsed), config, and layers opened on demand.
#[derive(Debug, Clone)]
pub struct Image {
    source: ImageSource,
    descriptor: Descriptor,
    manifest: RawManifest,
    parsed: ImageManifest,
    config_bytes: Vec<u8>,
    config: ImageConfig,
    diff_ids: Vec<Digest>,
}

impl Image {
    /// The source the image was read from.
    pub fn source(&self) -> &ImageSource {
        &self.source
    }

    /// The descriptor of the manifest (with the platform an index gave it).
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    /// The manifest's digest.
    pub fn digest(&self) -> &Digest {
        self.manifest.digest()
    }

    /// The manifest exactly as stored.
    pub fn raw_manifest(&self) -> &RawManifest {
        &self.manifest
    }

    /// The parsed manifest.
    pub fn manifest(&self) -> &ImageManifest {
        &self.parsed
    }

    /// The config exactly as stored.
    pub fn config_bytes(&self) -> &[u8] {
        &self.config_bytes
    }

    /// The parsed config.
    pub fn config(&self) -> &ImageConfig {
        &self.config
    }

    /// The platform, from the index entry or else the config.
    pub fn platform(&self) -> Option<Platform> {
        self.descriptor.platform.clone().or_else(|| self.config.platform())
    }

    /// The filesystem layers, base first (non-filesystem blobs in `layers` are skipped).
    pub fn layers(&self) -> Vec<Layer> {
        self.parsed
            .layers
            .iter()
            .filter(|l| l.media_type.is_layer())
            .zip(&self.diff_ids)
            .enumerate()
            .map(|(index, (d, diff_id))| Layer { index, descriptor: d.clone(), diff_id: diff_id.clone() })
            .collect()
    }

    /// Opens a layer's decompressed tar stream.
    ///
    /// The compressed bytes are checked against the layer's digest and size, and the
    /// decompressed bytes against its diff_id, as they stream: a mismatch surfaces as an
    /// error when the stream is read to its end.
    ///
    /// # Security
    /// Decompression is bounded by [`Limits`]: see [`decompress`].
    pub fn open_layer(&self, layer: &Layer) -> Result<Box<dyn Read + Send>> {
        let verified = self.source.open_blob(&layer.descriptor)?;
        let compression =
            layer.descriptor.media_type.layer_compression().ok_or_else(|| Error::UnsupportedMediaType {
                media_type: layer.descriptor.media_type.to_string(),
                what: format!("layer {}", layer.descriptor.digest),
            })?;
        let compression = if compression == Compression::None && layer.descriptor.media_type == MediaType::DockerLayer {
            // `docker save` archives label gzip layers as plain tar at times: trust the bytes.
            let mut head = [0u8; 4];
            let mut peek = self.source.blobs().open_blob(&layer.descriptor)?;
            let n = read_up_to(&mut peek, &mut head);
            Compression::sniff(&head[..n])
        } else {
            compression
        };
        let what = format!("layer {} of image {}", layer.descriptor.digest, self.digest());
        let stream = if compression == Compression::None {
            decompress(verified, compression, self.source.limits(), &what)
        } else {
            // Decompression on a thread of its own, reading the blob as it is (never past
            // its size); the compressed digest checked on another, reading it again (from
            // the page cache), and awaited at the stream's end; the diff_id and the
            // consumer's work on this one.
            let raw = self.source.blobs().open_blob(&layer.descriptor)?.take(layer.descriptor.size);
            let stream = ReadAhead::wrap(decompress(raw, compression, self.source.limits(), &what));
            CheckedAtEnd::wrap(stream, Box::new(verified))
        };
        Ok(Box::new(VerifyingReader::new(
            stream,
            layer.diff_id.clone(),
            None,
            format!("uncompressed {what} (diff_id)"),
        )))
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

/// One filesystem layer of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// Position among the image's filesystem layers, base = 0.
    pub index: usize,
    /// The compressed blob's descriptor.
    pub descriptor: Descriptor,
    /// The digest of the uncompressed tar.
    pub diff_id: Digest,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::write_image;

    fn index_of(layout: &OciLayout, image: &Descriptor, platforms: &[&str]) -> Descriptor {
        let mut index = ImageIndex::new();
        for p in platforms {
            let mut d = image.clone();
            d.annotations = None;
            d.platform = Some(p.parse().unwrap());
            index.manifests.push(d);
        }
        let bytes = serde_json::to_vec(&index).unwrap();
        let desc = Descriptor::new(MediaType::OciIndex, layout.write_blob(&bytes).unwrap(), bytes.len() as u64);
        layout.set_tag(Some("index"), &desc).unwrap();
        desc
    }

    #[test]
    fn a_missing_platform_is_platform_not_found_listing_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path()).unwrap();
        let image = write_image(&layout, "one", &[&[("f", b"x")]]).unwrap();
        let index = index_of(&layout, &image, &["linux/amd64", "linux/arm/v7"]);
        let source = ImageSource::open(&format!("oci:{}:index", dir.path().display()).parse().unwrap()).unwrap();
        let err = source.image(Some(&"linux/s390x".parse().unwrap())).unwrap_err();
        let shown = err.to_string();
        let Error::PlatformNotFound { index: found, wanted, available } = err else { panic!("{shown}") };
        assert_eq!(found, index.digest);
        assert_eq!(wanted.map(|p| p.to_string()).as_deref(), Some("linux/s390x"));
        assert_eq!(available.iter().map(ToString::to_string).collect::<Vec<_>>(), ["linux/amd64", "linux/arm/v7"]);
        assert!(
            shown.contains("platform linux/s390x not found") && shown.contains("linux/amd64, linux/arm/v7"),
            "{shown}"
        );
        assert!(!shown.contains("--"), "{shown}");
        let arm = source.image(Some(&"linux/arm/v7".parse().unwrap())).unwrap();
        assert_eq!(arm.digest(), &image.digest);
    }

    #[test]
    fn a_derived_source_keeps_the_base_limits() {
        let dir = tempfile::tempdir().unwrap();
        let base_layout = OciLayout::create(dir.path().join("base")).unwrap();
        let image = write_image(&base_layout, "v1", &[&[("f", b"x")]]).unwrap();
        let out = OciLayout::create(dir.path().join("out")).unwrap();
        let reference: Reference = format!("oci:{}:v1", dir.path().join("base").display()).parse().unwrap();

        let roomy = ImageSource::open(&reference).unwrap();
        let derived = ImageSource::derived(&out, image.clone(), &roomy);
        assert_eq!(derived.image(None).unwrap().digest(), &image.digest, "blobs come from the base");
        assert!(derived.blobs().name().contains("(and oci:"), "{}", derived.blobs().name());

        let small = Limits { max_json_bytes: 16, ..Limits::default() };
        let tight = ImageSource::from_parts(reference, Arc::clone(roomy.blobs()), image.clone(), small);
        let derived = ImageSource::derived(&out, image.clone(), &tight);
        assert_eq!(derived.limits().max_json_bytes, 16);
        let err = derived.image(None).unwrap_err();
        assert!(matches!(err, Error::TooLarge { limit: 16, .. }), "{err}");
    }
}
