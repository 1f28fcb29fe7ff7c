//! `oci-core`: read and write OCI and Docker images exactly, without a daemon, without
//! root, in bounded memory.
//!
//! - Names: [`Digest`], [`MediaType`], [`Platform`], [`Reference`] (registry names with
//!   Docker Hub normalisation, `oci:DIR[:TAG]`, `docker-archive:FILE`).
//! - Documents: [`Descriptor`], [`RawManifest`] (raw bytes, digest of those bytes),
//!   [`ImageManifest`], [`ImageIndex`], [`ImageConfig`] (order-preserving JSON).
//! - Stores: [`OciLayout`] (atomic, verified blob writes; tags; gc) and
//!   [`DockerArchive`] (`docker save` tarballs, legacy and Docker 25+ forms).
//! - Reading: [`ImageSource`] opens a reference; [`Image`] gives the manifest, config and
//!   layers, each opened as a verified, decompressed stream ([`Image::open_layer`]).
//! - Filesystems: [`MergedFs`] indexes the final filesystem (whiteouts, opaque
//!   directories, links) from tar headers alone; [`export`] writes it as one tar.
//! - Writing: [`LayerWriter`] produces reproducible layers; [`copy`] copies images
//!   between local transports keeping digests.
//!
//! ```
//! # fn main() -> oci_core::Result<()> {
//! use oci_core::{Compression, EntryMeta, ImageSource, LayerWriter, MergedFs, OciLayout};
//! # let dir = tempfile::tempdir().unwrap();
//! # let layout = OciLayout::create(dir.path())?;
//! # oci_core::testing::write_image(&layout, "v1", &[&[("etc/motd", b"hello\n")]])?;
//! let source = ImageSource::open(&format!("oci:{}:v1", dir.path().display()).parse()?)?;
//! let image = source.image(None)?;
//! let fs = MergedFs::build(&image)?;
//! assert_eq!(fs.read("etc/motd")?, b"hello\n");
//! # Ok(()) }
//! ```

mod archive;
mod auth;
mod compression;
mod config;
mod copy;
mod descriptor;
mod digest;
mod entry;
mod error;
mod export;
mod image;
mod layer_writer;
mod layout;
mod limits;
mod manifest;
mod media_type;
mod merged_fs;
mod mutate;
mod platform;
#[cfg(test)]
mod prop_tests;
mod reference;
mod registry;
pub mod testing;
pub mod time;

pub use archive::{DockerArchive, write_docker_archive};
pub use auth::{Credential, CredentialStore, DockerConfig, default_docker_config_path, login, logout};
pub use compression::{Compression, decompress};
pub use config::ImageConfig;
pub use copy::{CopyOptions, CopyReport, copy, copy_image};
pub use descriptor::{ANNOTATION_REF_NAME, Descriptor};
pub use digest::{Algorithm, Digest, DigestReader, DigestWriter, Hasher, VerifyingReader};
pub use entry::{EntryKind, EntryMeta, OPAQUE_MARKER, TarEntry, WHITEOUT_PREFIX, normalize_path, read_entries};
pub use error::{Error, Result};
pub use export::{ExportStats, export};
pub use image::{BlobSource, Image, ImageSource, Layer};
pub use layer_writer::{LayerWriter, WrittenLayer};
pub use layout::{BlobWriter, GcStats, OciLayout};
pub use limits::Limits;
pub use manifest::{ImageIndex, ImageManifest, Manifest, RawManifest};
pub use media_type::MediaType;
pub use merged_fs::{MergedFs, Node, Warning};
pub use mutate::{
    Append, AppendedLayer, ConfigEdit, Strip, append, replace_in_index, source_date_epoch, source_date_rfc3339, strip,
};
pub use platform::Platform;
pub use reference::{DOCKER_HUB, ImageName, Reference};
pub use registry::{
    Outcome, Progress, PullScope, Registry, RegistryOptions, RetryPolicy, TransferStats, default_cache_dir,
    fetch_image_layers, is_loopback, open_cache, pull, push,
};
