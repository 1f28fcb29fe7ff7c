//! Helpers that build small images in a layout, for tests, examples and benchmarks.

use serde_json::json;

use crate::{Compression, Descriptor, EntryMeta, LayerWriter, MediaType, OciLayout, Result};

/// Writes an image whose layers hold the given files, tags it, and returns its manifest
/// descriptor.
///
/// Each layer is a list of `(path, content)`. A path ending in `/` is a directory; a
/// file named `.wh.NAME` is a whiteout and `.wh..wh..opq` an opaque marker. Entries are
/// sorted, files are mode 0644 and owned by root, and everything is reproducible.
pub fn write_image(layout: &OciLayout, tag: &str, layers: &[&[(&str, &[u8])]]) -> Result<Descriptor> {
    let layers: Vec<Vec<(&str, EntryMeta, &[u8])>> = layers
        .iter()
        .map(|files| {
            files
                .iter()
                .map(|(path, content)| match path.strip_suffix('/') {
                    Some(dir) => (dir, EntryMeta::dir(0o755), &b""[..]),
                    None => (*path, EntryMeta::file(0o644, content.len() as u64), *content),
                })
                .collect()
        })
        .collect();
    write_layers(layout, tag, &layers)
}

/// Writes an image whose layers hold exactly the given entries (sorted here), tags it, and
/// returns its manifest descriptor. Regular files take their content from the slice.
pub fn write_layers(layout: &OciLayout, tag: &str, layers: &[Vec<(&str, EntryMeta, &[u8])>]) -> Result<Descriptor> {
    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    for entries in layers {
        let mut entries = entries.clone();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        let mut w = LayerWriter::new(layout.blob_writer()?, Compression::Gzip, 0)?;
        for (path, meta, content) in entries {
            w.append(path, &meta, content)?;
        }
        let (blob, written) = w.finish()?;
        blob.finish()?;
        descriptors.push(Descriptor::new(MediaType::OciLayerGzip, written.digest, written.size));
        diff_ids.push(written.diff_id.to_string());
    }
    let config = serde_json::to_vec(&json!({
        "created": "1970-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": layers.iter().map(|_| json!({"created": "1970-01-01T00:00:00Z", "created_by": "oci_core::testing"})).collect::<Vec<_>>(),
    }))
    .expect("serialisable");
    let config_digest = layout.write_blob(&config)?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MediaType::OciManifest.as_str(),
        "config": Descriptor::new(MediaType::OciConfig, config_digest, config.len() as u64),
        "layers": descriptors,
    }))
    .expect("serialisable");
    let digest = layout.write_blob(&manifest)?;
    let desc = Descriptor::new(MediaType::OciManifest, digest, manifest.len() as u64);
    layout.set_tag(Some(tag), &desc)?;
    Ok(desc)
}
