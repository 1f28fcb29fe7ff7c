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
//! - Files: [`AtomicFile`] and [`write_atomic`] write every file this crate writes
//!   (temporary file, fsync, rename, fsync of the directory).
//! - Integrity: [`verify`] checks everything an image reaches (digests, sizes, documents,
//!   diff_ids, streaming); [`verify_layout`] a whole layout, with its temporary files and
//!   tags; both return a [`VerifyReport`] of typed [`Problem`]s.
//! - Writing: [`LayerWriter`] produces reproducible layers; [`copy`] copies images
//!   between local transports keeping digests.
//! - Referrers (OCI 1.1): an [`Artifact`] attached to a manifest through its `subject`;
//!   stored and listed in layouts ([`OciLayout::attach`], [`OciLayout::referrers`]) and
//!   registries ([`push_referrer`], [`list_referrers`]: the referrers API, else the
//!   `sha256-<hex>` tag fallback); [`Session::attach`], [`Session::referrers`] and
//!   [`Session::copy_referrers`] for any reference.
//! - Transports (feature `registry`, on by default): [`Registry`], [`pull`], [`push`],
//!   [`copy_image`]; [`Session`] opens and writes any reference from synchronous code.
//!
//! ```
//! # fn main() -> oci_core::Result<()> {
//! use oci_core::{ImageSource, MergedFs};
//! let source = ImageSource::open(&"oci:../../examples/alpine:3.20".parse()?)?;
//! let image = source.image(None)?;
//! let fs = MergedFs::build(&image)?;
//! assert_eq!(fs.read("etc/alpine-release")?, b"3.20.3\n");
//! # Ok(()) }
//! ```

mod archive;
mod atomic;
mod auth;
mod compression;
mod config;
mod copy;
mod descriptor;
mod digest;
mod entry;
mod error;
mod export;
mod growing;
mod image;
mod index_cache;
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
mod referrers;
mod registry;
#[cfg(feature = "registry")]
mod session;
mod tar_guard;
#[cfg(any(test, feature = "test-support"))]
#[doc(hidden)]
pub mod testing;
pub mod time;
mod verify;

pub use archive::{DockerArchive, write_docker_archive};
pub use atomic::{AtomicFile, FileMode, write_atomic};
pub use auth::{
    Credential, CredentialStore, DockerConfig, default_docker_config_path, login, logout, normalize_registry_host,
};
pub use compression::{Compression, decompress};
pub use config::{ConfigChange, ImageConfig};
#[cfg(feature = "registry")]
pub use copy::copy_image;
pub use copy::{CopyOptions, CopyReport, copy};
pub use descriptor::{ANNOTATION_REF_NAME, Descriptor};
pub use digest::{Algorithm, Digest, DigestReader, DigestWriter, Hasher, VerifyingReader};
pub use entry::{EntryKind, EntryMeta, OPAQUE_MARKER, TarEntry, WHITEOUT_PREFIX, normalize_path, read_entries};
pub use error::{Error, Result};
pub use export::{ExportStats, export};
pub use growing::{GrowingFile, GrowingReader};
pub use image::{BlobSource, Image, ImageSource, Layer};
pub use index_cache::IndexCache;
pub use layer_writer::{LayerWriter, WrittenLayer};
pub use layout::{BlobWriter, GcStats, INDEX_CACHE_DIR, OciLayout};
pub use limits::Limits;
pub use manifest::{ImageIndex, ImageManifest, Manifest, RawManifest};
pub use media_type::MediaType;
pub use merged_fs::{MergedFs, Node, Warning};
pub use mutate::{
    Append, AppendedLayer, Strip, append, replace_in_index, source_date_epoch, source_date_rfc3339, strip,
};
pub use platform::Platform;
pub use reference::{DOCKER_HUB, ImageName, Reference};
pub use referrers::{
    Artifact, Attached, EMPTY_JSON, MemoryBlobs, ReferrerManifest, Referrers, ReferrersVia, empty_descriptor,
    fallback_tag, referrer_entry,
};
#[cfg(feature = "registry")]
pub use registry::{
    COSIGN_TAG_SUFFIXES, Progress, PullScope, Registry, RegistryOptions, RetryPolicy, TransferOutcome, TransferStats,
    copy_referrers, copy_signature_tags, fetch_image_layers, list_referrers, pull, push, push_referrer,
};
pub use registry::{default_cache_dir, is_loopback, open_cache};
#[cfg(feature = "registry")]
pub use session::{Session, SessionOptions};
pub use tar_guard::{MAX_PATH_BYTES, MAX_PAX_HEADER_BYTES, TarGuard};
pub use verify::{Location, Problem, ProblemKind, VerifyReport, VerifyStats, verify, verify_layout};
