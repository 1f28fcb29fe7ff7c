//! `docker save` archives: read in both forms, written in the Docker 25+ form.
//!
//! - **Docker 25+ form**: an OCI image layout inside the tar (`oci-layout`, `index.json`,
//!   `blobs/<alg>/<hex>`) plus a `manifest.json` for older loaders. Blobs are served
//!   from `blobs/` and images resolved through `index.json`, so manifest digests are
//!   exactly those `docker save` wrote.
//! - **Legacy form**: only `manifest.json` (`[{"Config", "RepoTags", "Layers"}]`). A Docker
//!   schema-2 manifest is synthesised from the stored config and layer files, so the
//!   image reads like any other; its digest is stable for a given archive.
//!
//! An archive is indexed once, from tar headers: layers are never held in memory, each
//! blob is a byte range of the archive file, read again on demand.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

mod write;

pub use write::write_docker_archive;

use crate::error::IoContext;
use crate::{
    ANNOTATION_REF_NAME, Algorithm, BlobSource, Compression, Descriptor, Digest, DigestReader, Error, Image,
    ImageIndex, ImageManifest, ImageName, Limits, MediaType, Result, normalize_path,
};

const MANIFEST_JSON: &str = "manifest.json";
const INDEX_JSON: &str = "index.json";
const OCI_LAYOUT: &str = "oci-layout";
/// The annotation Docker 25+ and containerd give an image's full name in `index.json`.
const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// Symlinks and hardlinks followed to reach an entry's data.
const MAX_LINK_HOPS: usize = 16;
const BUF: usize = 128 << 10;

/// A `docker save` tarball opened for reading: an index of its entries and the images
/// it holds.
///
/// ```no_run
/// # fn main() -> oci_core::Result<()> {
/// use oci_core::{DockerArchive, Limits};
/// let archive = DockerArchive::open("hello.tar".as_ref(), &Limits::default())?;
/// let tagged = archive.images().into_iter().filter(|(tags, _)| !tags.is_empty()).count();
/// let manifest = archive.resolve(Some("hello-world:latest"))?;
/// # let _ = (tagged, manifest);
/// # Ok(()) }
/// ```
pub struct DockerArchive {
    path: PathBuf,
    limits: Limits,
    /// Normalised entry name → where its data is (or which entry it links to).
    members: HashMap<String, Member>,
    /// Every blob this archive can serve, by digest.
    blobs: HashMap<Digest, Blob>,
    images: Vec<ArchiveImage>,
}

/// One tar entry worth remembering.
#[derive(Debug, Clone)]
enum Member {
    /// A regular file: its data's byte range in the archive file.
    File { offset: u64, size: u64 },
    /// A symlink or hardlink, with its target resolved to an entry name.
    Link(String),
}

/// Where a blob's bytes come from.
#[derive(Debug, Clone)]
enum Blob {
    /// An entry of the archive, by name.
    Entry(String),
    /// A manifest synthesised at open time.
    Memory(Arc<[u8]>),
}

#[derive(Debug, Clone)]
struct ArchiveImage {
    tags: Vec<String>,
    descriptor: Descriptor,
}

/// One element of `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LegacyEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Option<Vec<String>>,
}

/// `index.json`, tolerating the `"manifests": null` that some Docker versions write.
#[derive(Debug, Deserialize)]
struct IndexJson {
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

impl DockerArchive {
    /// Opens and indexes the archive at `path`.
    ///
    /// In the Docker 25+ form, images are the entries of `index.json`; when it lists none,
    /// `manifest.json` is used, preferring a manifest stored in `blobs/` that names the
    /// same config and layers. In the legacy form, each config and layer file is hashed
    /// once (streamed, not held) to synthesise a Docker schema-2 manifest per image.
    ///
    /// # Security
    /// The archive is untrusted. Entry names that are absolute or contain `..`, and link
    /// targets that leave the archive, are refused with [`Error::UnsafeEntry`]; links are
    /// followed at most 16 hops. `manifest.json`, `index.json` and configs larger than
    /// [`Limits::max_json_bytes`] are refused with [`Error::TooLarge`] before being read;
    /// malformed JSON gives [`Error::Json`]. Compressed archives are refused. Every error
    /// names the archive file.
    pub fn open(path: &Path, limits: &Limits) -> Result<DockerArchive> {
        let mut archive = DockerArchive {
            path: path.to_owned(),
            limits: *limits,
            members: index_members(path)?,
            blobs: HashMap::new(),
            images: Vec::new(),
        };
        archive.index_blob_dir();
        let oci_form = archive.members.contains_key(INDEX_JSON);
        if oci_form {
            archive.images = archive.images_from_index()?;
        }
        if archive.images.is_empty() {
            if archive.members.contains_key(MANIFEST_JSON) {
                archive.images = archive.images_from_manifest_json(oci_form)?;
            } else if !oci_form {
                return Err(Error::NotFound {
                    what: format!("{MANIFEST_JSON} in {}", path.display()),
                    hint: format!(
                        " (nor {INDEX_JSON}: is this a `docker save` archive? it holds {})",
                        archive.sample_names()
                    ),
                });
            }
        }
        Ok(archive)
    }

    /// The archive file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The images the archive holds, in order: their tags (`RepoTags`, or the names
    /// `index.json` gives) and their manifest's descriptor. `@N` names the N-th one.
    pub fn images(&self) -> Vec<(Vec<String>, Descriptor)> {
        self.images.iter().map(|i| (i.tags.clone(), i.descriptor.clone())).collect()
    }

    /// The manifest descriptor of `image`, or of the only image when `None`.
    ///
    /// `image` is a tag as written in the archive (`test:latest`), the same name
    /// normalised (`docker.io/library/test:latest`; a missing tag means `latest`), or
    /// `@N` for the N-th image (skopeo's `docker-archive:FILE:@N`).
    pub fn resolve(&self, image: Option<&str>) -> Result<Descriptor> {
        let Some(want) = image else {
            return match self.images.as_slice() {
                [only] => Ok(only.descriptor.clone()),
                [] => Err(Error::NotFound {
                    what: format!("an image in {}", self.path.display()),
                    hint: " (the archive lists no images)".into(),
                }),
                many => Err(Error::Invalid {
                    what: format!("reference {}", self.name()),
                    reason: format!(
                        "the archive holds {} images; name one with docker-archive:FILE:NAME:TAG \
                         or docker-archive:FILE:@N ({})",
                        many.len(),
                        self.listing()
                    ),
                }),
            };
        };
        self.find(want).map(|i| i.descriptor.clone()).ok_or_else(|| Error::NotFound {
            what: format!("image {want:?} in {}", self.path.display()),
            hint: format!("; the archive holds {}", self.listing()),
        })
    }

    fn find(&self, want: &str) -> Option<&ArchiveImage> {
        if let Some(n) = want.strip_prefix('@')
            && let Ok(n) = n.parse::<usize>()
        {
            return self.images.get(n);
        }
        let normalised = normalise_name(want);
        self.images.iter().find(|image| {
            image.tags.iter().any(|tag| tag == want || (normalised.is_some() && normalise_name(tag) == normalised))
        })
    }

    /// `@0 = a:1 a:2, @1 = sha256:…` for messages.
    fn listing(&self) -> String {
        if self.images.is_empty() {
            return "no images".into();
        }
        let one = |(n, image): (usize, &ArchiveImage)| {
            let names = if image.tags.is_empty() { image.descriptor.digest.to_string() } else { image.tags.join(" ") };
            format!("@{n} = {names}")
        };
        self.images.iter().enumerate().map(one).collect::<Vec<_>>().join(", ")
    }

    /// A few entry names, for the message about an archive that is not a docker archive.
    fn sample_names(&self) -> String {
        let mut names: Vec<&str> = self.members.keys().map(String::as_str).collect();
        if names.is_empty() {
            return "no files".into();
        }
        names.sort_unstable();
        let more = names.len().saturating_sub(5);
        names.truncate(5);
        let mut out = names.join(", ");
        if more > 0 {
            out.push_str(&format!(" and {more} more"));
        }
        out
    }

    /// Registers every `blobs/<alg>/<hex>` entry under its digest.
    fn index_blob_dir(&mut self) {
        for name in self.members.keys() {
            let Some((alg, hex)) = name.strip_prefix("blobs/").and_then(|r| r.split_once('/')) else {
                continue;
            };
            if let Ok(digest) = format!("{alg}:{hex}").parse::<Digest>() {
                self.blobs.insert(digest, Blob::Entry(name.clone()));
            }
        }
    }

    /// The images `index.json` lists, one per manifest digest, with the names its
    /// annotations give.
    fn images_from_index(&self) -> Result<Vec<ArchiveImage>> {
        let bytes = self.read_json(INDEX_JSON)?;
        let index: IndexJson =
            serde_json::from_slice(&bytes).map_err(|source| Error::Json { what: self.describe(INDEX_JSON), source })?;
        let mut images: Vec<ArchiveImage> = Vec::new();
        for d in index.manifests.unwrap_or_default() {
            if !(d.media_type.is_manifest() || d.media_type.is_index()) {
                continue;
            }
            let tag = d.annotation(ANNOTATION_IMAGE_NAME).or_else(|| d.ref_name()).map(str::to_owned);
            add_image(&mut images, d, tag);
        }
        Ok(images)
    }

    /// The images `manifest.json` lists, with manifests found in `blobs/` (Docker 25+
    /// form) or synthesised from the stored files.
    fn images_from_manifest_json(&mut self, oci_form: bool) -> Result<Vec<ArchiveImage>> {
        let bytes = self.read_json(MANIFEST_JSON)?;
        let what = || self.describe(MANIFEST_JSON);
        let entries: Option<Vec<LegacyEntry>> =
            serde_json::from_slice(&bytes).map_err(|source| Error::Json { what: what(), source })?;
        let Some(entries) = entries else {
            return Err(Error::Invalid { what: what(), reason: "it is null, not a list of images".into() });
        };
        let mut hashed = HashMap::new();
        let mut images = Vec::new();
        for (n, entry) in entries.iter().enumerate() {
            let descriptor = self.legacy_image(n, entry, oci_form, &mut hashed)?;
            let tags = entry.repo_tags.clone().unwrap_or_default();
            if tags.is_empty() {
                add_image(&mut images, descriptor, None);
                continue;
            }
            for tag in tags {
                add_image(&mut images, descriptor.clone(), Some(tag));
            }
        }
        Ok(images)
    }

    /// The manifest of one `manifest.json` element: a stored one that matches, else one
    /// synthesised (and kept in memory) from the config and layer files.
    fn legacy_image(
        &mut self,
        n: usize,
        entry: &LegacyEntry,
        oci_form: bool,
        hashed: &mut HashMap<u64, Descriptor>,
    ) -> Result<Descriptor> {
        let config_name = self.referenced_name(n, "Config", &entry.config)?;
        let config_bytes = self.read_json(&config_name)?;
        let config = Descriptor::new(MediaType::DockerConfig, Digest::sha256(&config_bytes), config_bytes.len() as u64);
        self.blobs.entry(config.digest.clone()).or_insert(Blob::Entry(config_name));

        let mut layers = Vec::new();
        for raw in entry.layers.iter().flatten() {
            let name = self.referenced_name(n, "Layers", raw)?;
            let (offset, _) = self.locate(&name)?;
            let layer = match hashed.get(&offset) {
                Some(d) => d.clone(),
                None => {
                    let (digest, size, compression) = self.hash_member(&name)?;
                    let d = Descriptor::new(MediaType::DockerManifest.layer_for(compression), digest, size);
                    hashed.insert(offset, d.clone());
                    d
                }
            };
            self.blobs.entry(layer.digest.clone()).or_insert(Blob::Entry(name));
            layers.push(layer);
        }

        if oci_form && let Some(stored) = self.find_stored_manifest(&config, &layers)? {
            return Ok(stored);
        }
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(MediaType::DockerManifest),
            artifact_type: None,
            config,
            layers,
            subject: None,
            annotations: None,
        };
        let bytes = serde_json::to_vec(&manifest).expect("a manifest always serialises");
        let digest = Digest::sha256(&bytes);
        let descriptor = Descriptor::new(MediaType::DockerManifest, digest.clone(), bytes.len() as u64);
        self.blobs.insert(digest, Blob::Memory(bytes.into()));
        Ok(descriptor)
    }

    /// A manifest in `blobs/` whose config and layers are exactly `config` and `layers`
    /// (for Docker 25+ archives whose `index.json` lists nothing).
    fn find_stored_manifest(&self, config: &Descriptor, layers: &[Descriptor]) -> Result<Option<Descriptor>> {
        let referenced: HashSet<&Digest> = layers.iter().map(|l| &l.digest).chain([&config.digest]).collect();
        let mut candidates: Vec<(&Digest, &str)> = self
            .blobs
            .iter()
            .filter_map(|(digest, blob)| match blob {
                Blob::Entry(name) if !referenced.contains(digest) => Some((digest, name.as_str())),
                _ => None,
            })
            .collect();
        candidates.sort_unstable_by_key(|&(_, name)| name);
        for (digest, name) in candidates {
            if self.locate(name)?.1 > self.limits.max_json_bytes {
                continue;
            }
            let bytes = self.read_json(name)?;
            let Ok(manifest) = serde_json::from_slice::<ImageManifest>(&bytes) else {
                continue;
            };
            let same = manifest.config.digest == config.digest
                && manifest.layers.len() == layers.len()
                && manifest.layers.iter().zip(layers).all(|(a, b)| a.digest == b.digest);
            if !same || Digest::of(digest.algorithm(), &bytes) != *digest {
                continue;
            }
            let media_type = manifest.media_type.unwrap_or(MediaType::OciManifest);
            return Ok(Some(Descriptor::new(media_type, digest.clone(), bytes.len() as u64)));
        }
        Ok(None)
    }

    /// The entry name a `manifest.json` field refers to, normalised.
    fn referenced_name(&self, n: usize, field: &str, raw: &str) -> Result<String> {
        normalize_path(raw).map_err(|reason| Error::UnsafeEntry {
            layer: format!("{} (image {n}, {field})", self.describe(MANIFEST_JSON)),
            path: raw.to_owned(),
            reason: reason.into(),
        })
    }

    /// `NAME in /path/to/archive.tar`.
    fn describe(&self, name: &str) -> String {
        format!("{name} in {}", self.path.display())
    }

    /// The byte range of `name`'s data, following links.
    fn locate(&self, name: &str) -> Result<(u64, u64)> {
        let mut current = name;
        for _ in 0..=MAX_LINK_HOPS {
            match self.members.get(current) {
                Some(Member::File { offset, size }) => return Ok((*offset, *size)),
                Some(Member::Link(target)) => current = target,
                None => {
                    return Err(Error::NotFound {
                        what: self.describe(current),
                        hint: if current == name { String::new() } else { format!(" (linked from {name})") },
                    });
                }
            }
        }
        Err(Error::Invalid {
            what: self.describe(name),
            reason: format!("more than {MAX_LINK_HOPS} links to follow (a cycle?)"),
        })
    }

    /// A reader of `size` bytes of the archive file from `offset`.
    fn open_range(&self, offset: u64, size: u64) -> Result<io::Take<BufReader<File>>> {
        let mut file = File::open(&self.path).context(|| format!("opening {}", self.path.display()))?;
        file.seek(SeekFrom::Start(offset)).context(|| format!("seeking in {}", self.path.display()))?;
        Ok(BufReader::with_capacity(BUF, file).take(size))
    }

    /// Reads a small entry whole, within [`Limits::max_json_bytes`].
    fn read_json(&self, name: &str) -> Result<Vec<u8>> {
        let (offset, size) = self.locate(name)?;
        if size > self.limits.max_json_bytes {
            return Err(Error::TooLarge {
                what: format!("{} ({size} bytes)", self.describe(name)),
                limit: self.limits.max_json_bytes,
                hint: " (Limits::max_json_bytes)",
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        self.open_range(offset, size)?
            .read_to_end(&mut bytes)
            .context(|| format!("reading {}", self.describe(name)))?;
        self.check_complete(name, size, bytes.len() as u64)?;
        Ok(bytes)
    }

    /// Streams an entry once: its SHA-256, size and compression (from its magic number).
    fn hash_member(&self, name: &str) -> Result<(Digest, u64, Compression)> {
        let (offset, size) = self.locate(name)?;
        let context = || format!("reading {}", self.describe(name));
        let mut reader = DigestReader::new(self.open_range(offset, size)?, Algorithm::Sha256);
        let mut head = Vec::with_capacity(4);
        (&mut reader).take(4).read_to_end(&mut head).context(context)?;
        io::copy(&mut reader, &mut io::sink()).context(context)?;
        let (digest, read) = reader.finish();
        self.check_complete(name, size, read)?;
        Ok((digest, size, Compression::sniff(&head)))
    }

    fn check_complete(&self, name: &str, expected: u64, found: u64) -> Result<()> {
        if expected == found {
            return Ok(());
        }
        Err(Error::Invalid {
            what: self.describe(name),
            reason: format!("the archive is truncated: the entry has {expected} bytes, only {found} are there"),
        })
    }
}

impl fmt::Debug for DockerArchive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerArchive")
            .field("path", &self.path)
            .field("entries", &self.members.len())
            .field("blobs", &self.blobs.len())
            .field("images", &self.images)
            .finish()
    }
}

impl BlobSource for DockerArchive {
    fn open_blob(&self, descriptor: &Descriptor) -> Result<Box<dyn Read + Send>> {
        match self.blobs.get(&descriptor.digest) {
            Some(Blob::Entry(name)) => {
                let (offset, size) = self.locate(name)?;
                Ok(Box::new(self.open_range(offset, size)?))
            }
            Some(Blob::Memory(bytes)) => Ok(Box::new(io::Cursor::new(Arc::clone(bytes)))),
            None => Err(Error::NotFound {
                what: format!("blob {} in {}", descriptor.digest, self.name()),
                hint: if descriptor.media_type.is_non_distributable() {
                    " (a non-distributable layer: the archive does not ship it)".into()
                } else {
                    String::new()
                },
            }),
        }
    }

    fn name(&self) -> String {
        format!("docker-archive:{}", self.path.display())
    }
}

/// Adds `tag` to the image with `descriptor`'s digest, or a new image.
fn add_image(images: &mut Vec<ArchiveImage>, descriptor: Descriptor, tag: Option<String>) {
    let image = match images.iter_mut().position(|i| i.descriptor.digest == descriptor.digest) {
        Some(i) => &mut images[i],
        None => {
            images.push(ArchiveImage { tags: Vec::new(), descriptor });
            images.last_mut().expect("just pushed")
        }
    };
    if let Some(tag) = tag
        && !image.tags.contains(&tag)
    {
        image.tags.push(tag);
    }
}

/// `name` as docker resolves it (`test` → `docker.io/library/test:latest`), if it is a
/// valid image name.
fn normalise_name(name: &str) -> Option<String> {
    let parsed: ImageName = name.parse().ok()?;
    let parsed = if parsed.tag().is_none() && parsed.digest().is_none() { parsed.with_tag("latest") } else { parsed };
    Some(parsed.to_string())
}

/// Indexes the tar's regular files and links by normalised name, from headers alone.
fn index_members(path: &Path) -> Result<HashMap<String, Member>> {
    let shown = path.display();
    let mut file = File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Error::NotFound { what: format!("docker archive {shown}"), hint: String::new() },
        _ => Error::io(format!("opening {shown}"), e),
    })?;
    let mut head = Vec::with_capacity(4);
    (&mut file).take(4).read_to_end(&mut head).context(|| format!("reading {shown}"))?;
    let compression = Compression::sniff(&head);
    if compression != Compression::None {
        return Err(Error::Invalid {
            what: format!("docker archive {shown}"),
            reason: format!(
                "it is {compression}-compressed; decompress it first (docker load accepts it, this tool reads plain tars)"
            ),
        });
    }
    file.seek(SeekFrom::Start(0)).context(|| format!("reading {shown}"))?;

    let tar_error = |e| Error::io(format!("reading the tar archive {shown}"), e);
    let unsafe_entry = |path: &str, reason: String| Error::UnsafeEntry {
        layer: format!("docker archive {shown}"),
        path: path.to_owned(),
        reason,
    };
    let mut tar = tar::Archive::new(crate::TarGuard::new(file, format!("docker archive {shown}")));
    let mut members = HashMap::new();
    for entry in tar.entries_with_seek().map_err(tar_error)? {
        let entry = entry.map_err(tar_error)?;
        let raw = entry.path_bytes();
        let Ok(raw) = std::str::from_utf8(&raw) else {
            continue; // JSON cannot name it
        };
        let name = normalize_path(raw).map_err(|reason| unsafe_entry(raw, reason.into()))?;
        if name.is_empty() {
            continue;
        }
        let kind = entry.header().entry_type();
        let member = if kind.is_file() || kind == tar::EntryType::Continuous {
            Member::File { offset: entry.raw_file_position(), size: entry.size() }
        } else if kind.is_symlink() || kind.is_hard_link() {
            let target = entry.link_name_bytes().unwrap_or_default();
            let target =
                std::str::from_utf8(&target).map_err(|_| unsafe_entry(raw, "link target is not UTF-8".into()))?;
            // Symlinks are relative to their directory, hardlinks to the archive root.
            let base = if kind.is_symlink() { name.rsplit_once('/').map_or("", |(dir, _)| dir) } else { "" };
            let resolved =
                join_link(base, target).map_err(|reason| unsafe_entry(raw, format!("link to {target:?}: {reason}")))?;
            Member::Link(resolved)
        } else {
            continue;
        };
        members.insert(name, member);
    }
    Ok(members)
}

/// `target` taken relative to the directory `base`, lexically, without leaving the root.
fn join_link(base: &str, target: &str) -> std::result::Result<String, &'static str> {
    if target.starts_with('/') {
        return Err("absolute link target");
    }
    if target.contains('\0') {
        return Err("link target contains a NUL byte");
    }
    let mut parts: Vec<&str> = base.split('/').filter(|c| !c.is_empty()).collect();
    for component in target.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                parts.pop().ok_or("link target leaves the archive")?;
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::write::file_header;
    use super::*;
    use crate::{ImageSource, OciLayout, Reference};
    use serde_json::{Value, json};

    const TARBALL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/ggcr-tarball");
    const MUTATE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/ggcr-mutate");

    fn open(path: &str, image: Option<&str>) -> Result<ImageSource> {
        let reference = match image {
            Some(i) => format!("docker-archive:{path}:{i}"),
            None => format!("docker-archive:{path}"),
        };
        ImageSource::open(&reference.parse::<Reference>()?)
    }

    /// Reads every layer to its end, which checks its digest, size and diff_id.
    fn read_layers(image: &Image) -> Result<usize> {
        for layer in image.layers() {
            let mut r = image.open_layer(&layer)?;
            io::copy(&mut r, &mut io::sink()).map_err(|e| Error::io("reading layer", e))?;
        }
        Ok(image.layers().len())
    }

    #[test]
    fn legacy_archives_read_and_verify() -> Result<()> {
        for (dir, file, layers) in [
            (TARBALL, "test_image_1.tar", 1),
            (TARBALL, "test_image_2.tar", 1),
            (TARBALL, "test_load_manifest.tar", 1),
            (MUTATE, "whiteout_image.tar", 3),
            (MUTATE, "overwritten_file.tar", 3),
            (MUTATE, "whiteout_dir.tar", 4),
        ] {
            let image = open(&format!("{dir}/{file}"), None)?.image(None)?;
            assert_eq!(image.raw_manifest().media_type(), &MediaType::DockerManifest, "{file}");
            assert_eq!(read_layers(&image)?, layers, "{file}");
        }
        Ok(())
    }

    #[test]
    fn gzip_layers_get_the_gzip_media_type() -> Result<()> {
        let image = open(&format!("{MUTATE}/whiteout_dir.tar"), Some("localhost:5000/whiteout:latest"))?.image(None)?;
        assert!(image.layers().iter().all(|l| l.descriptor.media_type == MediaType::DockerLayerGzip));
        // The config file is named after its digest: the synthesised descriptor agrees.
        let config: Digest = "sha256:92f1e3d53acdc7e137e73869abc4e87aba6614440a31723423790ca0d5db9111".parse()?;
        assert_eq!(image.manifest().config.digest, config);
        Ok(())
    }

    #[test]
    fn synthesised_manifest_is_deterministic() -> Result<()> {
        let path = format!("{TARBALL}/test_image_1.tar");
        let a = open(&path, None)?.image(None)?;
        let b = open(&path, Some("bazel/v1/tarball:test_image_1"))?.image(None)?;
        assert_eq!(a.digest(), b.digest());
        let text = std::str::from_utf8(a.raw_manifest().bytes()).unwrap();
        assert!(text.starts_with(r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:6e0b05049ed9c17d02e1a55e80d6599dbfcce7f4f4b022e3c673e685789c470e""#), "{text}");
        Ok(())
    }

    #[test]
    fn docker_25_archive_keeps_the_stored_manifest() -> Result<()> {
        // Its index.json says `"manifests":null` and manifest.json has no RepoTags: the
        // manifest is the stored blob that names manifest.json's config and layers.
        let path = format!("{TARBALL}/hello-world-v25.tar");
        let source = open(&path, None)?;
        let want: Digest = "sha256:411caf340c828657e915a83ed561a79d2b8150dabad4dc079d881cbfe6f86afe".parse()?;
        assert_eq!(source.top().digest, want);
        let image = source.image(None)?;
        assert_eq!(image.digest(), &want);
        assert_eq!(image.raw_manifest().media_type(), &MediaType::OciManifest);
        assert_eq!(read_layers(&image)?, 1);
        let archive = DockerArchive::open(path.as_ref(), &Limits::default())?;
        assert_eq!(archive.images().len(), 1);
        assert!(archive.images()[0].0.is_empty());
        Ok(())
    }

    #[test]
    fn bundle_needs_a_name() -> Result<()> {
        let path = format!("{TARBALL}/test_bundle.tar");
        let err = open(&path, None).unwrap_err().to_string();
        assert!(err.contains("test_image_1") && err.contains("test_image_2") && err.contains("@1"), "{err}");
        let one = open(&path, Some("test_image_1"))?.image(None)?;
        let two = open(&path, Some("test_image_2"))?.image(None)?;
        assert_ne!(one.digest(), two.digest());
        assert_eq!(read_layers(&one)? + read_layers(&two)?, 2);
        for alias in ["test_image_1:latest", "docker.io/library/test_image_1:latest", "@1"] {
            assert_eq!(open(&path, Some(alias))?.image(None)?.digest(), one.digest(), "{alias}");
        }
        // Same content as the single-image archive: same synthesised manifest.
        let single = open(&format!("{TARBALL}/test_image_1.tar"), None)?.image(None)?;
        assert_eq!(single.digest(), one.digest());
        let err = open(&path, Some("test_image_3")).unwrap_err().to_string();
        assert!(err.contains("test_bundle.tar") && err.contains("@0 = test_image_2"), "{err}");
        Ok(())
    }

    #[test]
    fn symlinked_layers_are_followed() -> Result<()> {
        let path = format!("{TARBALL}/test_link.tar");
        let base = open(&path, Some("bazel/v1/tarball:test_image_1"))?.image(None)?;
        let image = open(&path, Some("bazel/v1/tarball:test_image_3"))?.image(None)?;
        assert_eq!(read_layers(&base)?, 1);
        assert_eq!(read_layers(&image)?, 2);
        // b159…/layer.tar links to 6e77…/layer.tar: the same blob.
        assert_eq!(image.layers()[0].descriptor, base.layers()[0].descriptor);
        Ok(())
    }

    #[test]
    fn bad_archives_name_the_file() {
        for (file, needle) in [("no_manifest.tar", "manifest.json"), ("null_manifest.tar", "null")] {
            let err = open(&format!("{TARBALL}/{file}"), None).unwrap_err().to_string();
            assert!(err.contains(file) && err.contains(needle), "{err}");
        }
        let err = open("/nonexistent/x.tar", None).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/x.tar"), "{err}");
    }

    fn tar_with(dir: &Path, file: &str, entries: &[(&str, &[u8])]) -> String {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = file_header(data.len() as u64);
            let raw = &mut h.as_old_mut().name;
            raw[..name.len()].copy_from_slice(name.as_bytes()); // no checks: `..` is allowed
            h.set_cksum();
            tar.append(&h, *data).unwrap();
        }
        let path = dir.join(file);
        std::fs::write(&path, tar.into_inner().unwrap()).unwrap();
        path.display().to_string()
    }

    #[test]
    fn hostile_archives_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("malformed.tar", vec![("manifest.json", &b"[{\"Config\": 1"[..])], "malformed JSON"),
            ("dotdot.tar", vec![("../manifest.json", &b"[]"[..])], "unsafe entry"),
            ("absolute.tar", vec![("/manifest.json", &b"[]"[..])], "absolute"),
            ("escape.tar", vec![("manifest.json", &br#"[{"Config":"../c.json","Layers":[]}]"#[..])], "'..'"),
            ("missing.tar", vec![("manifest.json", &br#"[{"Config":"c.json","Layers":[]}]"#[..])], "c.json"),
            ("empty-list.tar", vec![("manifest.json", &b"[]"[..])], "no images"),
        ];
        for (file, entries, needle) in cases {
            let path = tar_with(dir.path(), file, &entries);
            let err = open(&path, None).unwrap_err().to_string();
            assert!(err.contains(file) && err.contains(needle), "{file}: {err}");
        }
        let path = dir.path().join("garbage.tar");
        std::fs::write(&path, vec![b'x'; 1024]).unwrap();
        let err = open(&path.display().to_string(), None).unwrap_err().to_string();
        assert!(err.contains("garbage.tar"), "{err}");
        let path = dir.path().join("compressed.tar.gz");
        std::fs::write(&path, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0]).unwrap();
        let err = open(&path.display().to_string(), None).unwrap_err().to_string();
        assert!(err.contains("compressed.tar.gz") && err.contains("gzip"), "{err}");
        let limits = Limits { max_json_bytes: 100, ..Limits::default() };
        let err = DockerArchive::open(format!("{TARBALL}/test_bundle.tar").as_ref(), &limits).unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }) && err.to_string().contains("test_bundle.tar"), "{err}");
    }

    #[test]
    fn link_targets_resolve_lexically() {
        assert_eq!(join_link("b", "../a/layer.tar"), Ok("a/layer.tar".into()));
        assert_eq!(join_link("", "./a//x"), Ok("a/x".into()));
        assert!(join_link("b", "../../etc/passwd").is_err());
        assert!(join_link("b", "/etc/passwd").is_err());
    }

    fn layout_image(dir: &Path) -> Result<Image> {
        let layout = OciLayout::create(dir)?;
        crate::testing::write_image(
            &layout,
            "v1",
            &[&[("etc/", b""), ("etc/motd", b"hello\n")], &[("usr/bin/tool", b"#!/bin/sh\n")]],
        )?;
        open_layout(dir)
    }

    fn open_layout(dir: &Path) -> Result<Image> {
        ImageSource::open(&format!("oci:{}:v1", dir.display()).parse()?)?.image(None)
    }

    #[test]
    fn round_trip_from_a_layout_keeps_digests_and_is_reproducible() -> Result<()> {
        let tmp = tempfile::tempdir().unwrap();
        let image = layout_image(&tmp.path().join("layout"))?;
        let (a, b) = (tmp.path().join("a.tar"), tmp.path().join("b.tar"));
        let tags = ["example.com/app:v1".to_owned(), "app".to_owned()];
        write_docker_archive(&a, &image, &tags)?;
        write_docker_archive(&b, &image, &tags)?;
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());

        let archive = DockerArchive::open(&a, &Limits::default())?;
        let images = archive.images();
        assert_eq!(images.len(), 1);
        assert_eq!(images[0].0, ["example.com/app:v1", "docker.io/library/app:latest"]);
        assert_eq!(&images[0].1.digest, image.digest());
        for name in [None, Some("example.com/app:v1"), Some("app:latest"), Some("@0")] {
            let back = open(&a.display().to_string(), name)?.image(None)?;
            assert_eq!(back.digest(), image.digest(), "{name:?}");
            assert_eq!(back.config_bytes(), image.config_bytes());
            assert_eq!(read_layers(&back)?, 2);
        }

        let listing: Vec<(String, u32, u64, u64)> = tar::Archive::new(File::open(&a).unwrap())
            .entries()
            .unwrap()
            .map(|e| {
                let h = e.unwrap().header().clone();
                (h.path().unwrap().display().to_string(), h.mode().unwrap(), h.mtime().unwrap(), h.uid().unwrap())
            })
            .collect();
        let names: Vec<&str> = listing.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names[..3], ["oci-layout", "blobs/", "blobs/sha256/"]);
        assert_eq!(names[names.len() - 2..], ["index.json", "manifest.json"]);
        assert_eq!(names.len(), 3 + 2 + 1 + 1 + 2);
        assert!(listing.iter().all(|(n, mode, mtime, uid)| {
            *mode == if n.ends_with('/') { 0o755 } else { 0o644 } && *mtime == 0 && *uid == 0
        }));

        // Legacy loaders read manifest.json: check it stands on its own.
        let mut tar = tar::Archive::new(File::open(&a).unwrap());
        let mut legacy = Vec::new();
        for e in tar.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path().unwrap().to_str() == Some(MANIFEST_JSON) {
                e.read_to_end(&mut legacy).unwrap();
            }
        }
        let legacy: Value = serde_json::from_slice(&legacy).unwrap();
        assert_eq!(legacy[0]["Config"], format!("blobs/sha256/{}", image.manifest().config.digest.hex()));
        assert_eq!(legacy[0]["Layers"].as_array().unwrap().len(), 2);
        assert_eq!(legacy[0]["RepoTags"][1], "docker.io/library/app:latest");
        Ok(())
    }

    #[test]
    fn round_trip_of_a_legacy_archive_keeps_the_synthesised_digest() -> Result<()> {
        let tmp = tempfile::tempdir().unwrap();
        for (file, tag) in [("test_image_1.tar", "bazel/v1/tarball:test_image_1"), ("whiteout_dir.tar", "")] {
            let dir = if file.starts_with("whiteout") { MUTATE } else { TARBALL };
            let image = open(&format!("{dir}/{file}"), None)?.image(None)?;
            let out = tmp.path().join(file);
            let tags: Vec<String> = [tag].iter().filter(|t| !t.is_empty()).map(|t| t.to_string()).collect();
            write_docker_archive(&out, &image, &tags)?;
            let back = open(&out.display().to_string(), None)?.image(None)?;
            assert_eq!(back.digest(), image.digest(), "{file}");
            assert_eq!(back.raw_manifest().bytes(), image.raw_manifest().bytes());
            read_layers(&back)?;
        }
        Ok(())
    }

    #[test]
    fn missing_foreign_layer_is_an_error_and_leaves_nothing() -> Result<()> {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("layout");
        let layout = OciLayout::create(&dir)?;
        let foreign = Descriptor {
            urls: Some(vec!["https://example.invalid/base.tar.gz".into()]),
            ..Descriptor::new(MediaType::DockerForeignLayerGzip, Digest::sha256(b"not here"), 8)
        };
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "windows",
            "rootfs": {"type": "layers", "diff_ids": [Digest::sha256(b"tar")]},
        }))
        .unwrap();
        let config = Descriptor::new(MediaType::DockerConfig, layout.write_blob(&config)?, config.len() as u64);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": MediaType::DockerManifest.as_str(),
            "config": config, "layers": [foreign],
        }))
        .unwrap();
        let digest = layout.write_blob(&manifest)?;
        layout.set_tag(Some("v1"), &Descriptor::new(MediaType::DockerManifest, digest, manifest.len() as u64))?;
        let image = open_layout(&dir)?;
        let out = tmp.path().join("out.tar");
        let err = write_docker_archive(&out, &image, &[]).unwrap_err().to_string();
        assert!(err.contains("non-distributable") && err.contains("example.invalid"), "{err}");
        assert!(!out.exists());
        let leftovers = std::fs::read_dir(tmp.path()).unwrap().count();
        assert_eq!(leftovers, 1, "only the layout remains");
        Ok(())
    }

    #[test]
    fn digest_tags_are_refused() -> Result<()> {
        let tmp = tempfile::tempdir().unwrap();
        let image = layout_image(&tmp.path().join("layout"))?;
        let tag = format!("app@{}", image.digest());
        let err = write_docker_archive(&tmp.path().join("x.tar"), &image, &[tag]).unwrap_err();
        assert!(matches!(err, Error::InvalidReference { .. }), "{err}");
        Ok(())
    }
}
