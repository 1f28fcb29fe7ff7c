//! Writing `docker save` archives in the Docker 25+ form, so digests survive.

use std::io::{self, Write};
use std::path::Path;

use serde_json::{Value, json};

use super::*;
use crate::atomic::{AtomicFile, FileMode};

/// Writes `image` to `path` as a `docker save` archive in the Docker 25+ form, tagged
/// with `repo_tags` (normalised: `test` → `docker.io/library/test:latest`).
///
/// The archive holds `oci-layout`, `blobs/<alg>/<hex>` for every layer, the config and
/// the manifest exactly as stored (so the manifest digest survives a `docker load` with
/// the containerd store, or a read by this crate), `index.json` with one entry per tag
/// (annotated `io.containerd.image.name` and `org.opencontainers.image.ref.name`), and a
/// `manifest.json` for loaders that only know the legacy form.
///
/// The output is reproducible: fixed entry order, mtime 0, mode 0644 files and 0755
/// directories owned by 0:0. Layers are streamed from the source and verified against
/// their digest and size as they are copied; the archive is written to a temporary file
/// next to `path` and renamed into place only when complete, so `path` never holds a
/// partial or unverified archive. A non-distributable layer that the source does not
/// hold is an error, as is a tag with a digest.
pub fn write_docker_archive(path: &Path, image: &Image, repo_tags: &[String]) -> Result<()> {
    let names = repo_tags.iter().map(|t| repo_tag(t)).collect::<Result<Vec<ImageName>>>()?;
    let manifest = image.raw_manifest();
    let parsed = image.manifest();
    let shown = path.display();
    let werr = |e: io::Error| Error::io(format!("writing docker archive {shown}"), e);

    let tmp = AtomicFile::create(path, FileMode::Public)?;
    let mut tar = tar::Builder::new(tmp);

    append_bytes(&mut tar, OCI_LAYOUT, br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(werr)?;
    append_dir(&mut tar, "blobs/").map_err(werr)?;
    let all = parsed.layers.iter().chain([&parsed.config]).map(|d| &d.digest).chain([manifest.digest()]);
    let algorithms: BTreeSet<&str> = all.map(|d| d.algorithm().as_str()).collect();
    for alg in algorithms {
        append_dir(&mut tar, &format!("blobs/{alg}/")).map_err(werr)?;
    }

    let mut written = HashSet::new();
    for layer in &parsed.layers {
        if !written.insert(&layer.digest) {
            continue;
        }
        let reader = match image.source().open_blob(layer) {
            Ok(r) => r,
            Err(e) if layer.media_type.is_non_distributable() => {
                return Err(Error::NotFound {
                    what: format!(
                        "non-distributable layer {} of image {} in {}",
                        layer.digest,
                        image.digest(),
                        image.source().blobs().name()
                    ),
                    hint: format!(
                        " ({e}); a docker archive must hold every layer: fetch it{} into the source first",
                        layer.urls.as_ref().map(|u| format!(" from {}", u.join(" or "))).unwrap_or_default()
                    ),
                });
            }
            Err(e) => return Err(e),
        };
        let mut header = file_header(layer.size);
        tar.append_data(&mut header, blob_path(&layer.digest), reader).map_err(werr)?;
    }
    if written.insert(&parsed.config.digest) {
        append_bytes(&mut tar, &blob_path(&parsed.config.digest), image.config_bytes()).map_err(werr)?;
    }
    if written.insert(manifest.digest()) {
        append_bytes(&mut tar, &blob_path(manifest.digest()), manifest.bytes()).map_err(werr)?;
    }

    let mut entry = manifest.descriptor();
    entry.platform = image.descriptor().platform.clone();
    let mut index = ImageIndex::new();
    index.manifests = if names.is_empty() {
        vec![entry]
    } else {
        names
            .iter()
            .map(|name| {
                let mut d = entry.clone();
                d.annotations = Some(BTreeMap::from([
                    (ANNOTATION_IMAGE_NAME.to_owned(), name.to_string()),
                    (ANNOTATION_REF_NAME.to_owned(), name.reference()),
                ]));
                d
            })
            .collect()
    };
    let index = serde_json::to_vec(&index).expect("an index always serialises");
    append_bytes(&mut tar, INDEX_JSON, &index).map_err(werr)?;

    let repo_tags: Value =
        if names.is_empty() { Value::Null } else { names.iter().map(|n| Value::String(n.to_string())).collect() };
    let legacy = json!([{
        "Config": blob_path(&parsed.config.digest),
        "RepoTags": repo_tags,
        "Layers": image.layers().iter().map(|l| blob_path(&l.descriptor.digest)).collect::<Vec<_>>(),
    }]);
    let legacy = serde_json::to_vec(&legacy).expect("JSON values always serialise");
    append_bytes(&mut tar, MANIFEST_JSON, &legacy).map_err(werr)?;

    let tmp = tar.into_inner().map_err(werr)?;
    tmp.commit()
}

/// A tag for `RepoTags`, normalised; a digest is refused (tags only).
fn repo_tag(tag: &str) -> Result<ImageName> {
    let name: ImageName = tag.parse()?;
    if name.digest().is_some() {
        return Err(Error::InvalidReference {
            input: tag.to_owned(),
            reason: "a docker archive names images by tag, not by digest".into(),
        });
    }
    Ok(if name.tag().is_none() { name.with_tag("latest") } else { name })
}

fn blob_path(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm(), digest.hex())
}

/// A reproducible header: GNU format, owned by 0:0, mtime 0.
fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(size);
    h
}

pub(super) fn file_header(size: u64) -> tar::Header {
    header(tar::EntryType::Regular, 0o644, size)
}

fn append_bytes<W: Write>(tar: &mut tar::Builder<W>, name: &str, bytes: &[u8]) -> io::Result<()> {
    tar.append_data(&mut file_header(bytes.len() as u64), name, bytes)
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, name: &str) -> io::Result<()> {
    tar.append_data(&mut header(tar::EntryType::Directory, 0o755, 0), name, io::empty())
}
