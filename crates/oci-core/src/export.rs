//! Exporting the merged filesystem as one tar stream (like `crane export`).

use std::collections::BTreeMap;
use std::io::{self, Seek, Write};

use crate::layer_writer::append_entry;
use crate::{EntryKind, EntryMeta, Error, MergedFs, Result, read_entries};

/// What [`export`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Tar entries written.
    pub entries: u64,
    /// File content bytes written.
    pub content_bytes: u64,
}

/// Writes the merged filesystem as a single uncompressed tar: first every directory in
/// path order (so parents always precede children), then files, links and devices, read
/// layer by layer in one streaming pass each. Whiteouts are applied, not written.
///
/// Headers carry the exact mode, numeric uid/gid, mtime, link target, device numbers and
/// extended attributes of the merged view. A hardlink whose target was later replaced or
/// deleted becomes a regular file with the bytes it pointed to, as on an unpacked rootfs.
/// Memory stays bounded: contents are streamed, never held whole.
pub fn export(fs: &MergedFs, out: impl Write) -> Result<ExportStats> {
    let mut tar = tar::Builder::new(out);
    let mut stats = ExportStats::default();
    let werr = |path: &str, e: io::Error| Error::io(format!("writing export entry /{path}"), e);

    let mut per_layer: Vec<BTreeMap<u64, &str>> = vec![BTreeMap::new(); fs.image().layers().len()];
    for (path, node) in fs.iter() {
        if node.meta.kind == EntryKind::Dir {
            append_entry(&mut tar, path, &node.meta, io::empty()).map_err(|e| werr(path, e))?;
            stats.entries += 1;
        } else {
            per_layer[node.layer].insert(node.index, path);
        }
    }

    let image = fs.image();
    for layer in image.layers() {
        let wanted = &per_layer[layer.index];
        if wanted.is_empty() {
            continue;
        }
        let what = format!("layer {}", layer.descriptor.digest);
        read_entries(image.open_layer(&layer)?, &what, |entry| {
            let Some(&path) = wanted.get(&entry.index) else {
                return Ok(());
            };
            let node = fs.get(path).expect("indexed above");
            if node.meta.kind == EntryKind::Hardlink {
                let target = node.meta.link.as_deref().unwrap_or_default();
                let intact = fs
                    .get(target)
                    .is_some_and(|t| t.data == node.data && (t.layer, t.index) < (node.layer, node.index));
                if !intact {
                    // The target was replaced or removed after the link was made: the
                    // link's inode still holds the old bytes.
                    let mut spill = tempfile::tempfile().map_err(|e| Error::io("creating a temporary file", e))?;
                    fs.copy_data(node.data.expect("hardlinks have data"), &mut spill)?;
                    spill.rewind().map_err(|e| Error::io("rewinding a temporary file", e))?;
                    let meta = EntryMeta { kind: EntryKind::File, link: None, ..node.meta.clone() };
                    append_entry(&mut tar, path, &meta, spill).map_err(|e| werr(path, e))?;
                    stats.content_bytes += meta.size;
                    stats.entries += 1;
                    return Ok(());
                }
            }
            append_entry(&mut tar, path, &node.meta, entry.data()).map_err(|e| werr(path, e))?;
            if node.meta.kind == EntryKind::File {
                stats.content_bytes += node.meta.size;
            }
            stats.entries += 1;
            Ok(())
        })?;
    }
    tar.into_inner().and_then(|mut w| w.flush()).map_err(|e| Error::io("finishing the export tar", e))?;
    Ok(stats)
}
