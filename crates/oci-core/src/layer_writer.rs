//! Writing layers: deterministic tar, compressed and hashed in one pass.

use std::io::{self, Read, Write};

use crate::compression::Compressor;
use crate::{Compression, Digest, DigestWriter, EntryKind, EntryMeta, Error, Result};

/// The digests and size of a written layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenLayer {
    /// sha256 of the uncompressed tar (`rootfs.diff_ids`).
    pub diff_id: Digest,
    /// sha256 of the compressed blob (the manifest's layer digest).
    pub digest: Digest,
    /// Size of the compressed blob.
    pub size: u64,
    /// The compression used.
    pub compression: Compression,
}

/// Writes a reproducible layer: entries in strictly increasing path order, mtimes clamped
/// to `source_date_epoch`, numeric ids without user or group names, no varying PAX
/// records, and a fixed gzip header. One pass computes the diff_id, the digest and the
/// size. Finish it with [`LayerWriter::finish`]; an unfinished layer has no digests.
///
/// ```
/// use oci_core::{Compression, EntryMeta, LayerWriter};
/// let mut w = LayerWriter::new(Vec::new(), Compression::Gzip, 0).unwrap();
/// w.append("etc", &EntryMeta::dir(0o755), &b""[..]).unwrap();
/// w.append("etc/motd", &EntryMeta::file(0o644, 3), &b"hi\n"[..]).unwrap();
/// let (bytes, layer) = w.finish().unwrap();
/// assert_eq!(layer.size, bytes.len() as u64);
/// ```
pub struct LayerWriter<W: Write> {
    tar: tar::Builder<DigestWriter<Compressor<DigestWriter<W>>>>,
    last: Option<String>,
    epoch: u64,
    compression: Compression,
}

impl<W: Write> LayerWriter<W> {
    /// Starts a layer written to `out`.
    pub fn new(out: W, compression: Compression, source_date_epoch: u64) -> Result<Self> {
        let compressor = Compressor::new(DigestWriter::new(out), compression, None)
            .map_err(|e| Error::io("starting the layer compressor", e))?;
        let mut tar = tar::Builder::new(DigestWriter::new(compressor));
        tar.mode(tar::HeaderMode::Complete);
        tar.follow_symlinks(false);
        Ok(LayerWriter { tar, last: None, epoch: source_date_epoch, compression })
    }

    /// Appends one entry. `path` is relative to the root (normalised, no leading `/`);
    /// paths must come in strictly increasing byte order. `data` must hold exactly
    /// `meta.size` bytes for regular files and is ignored otherwise.
    pub fn append(&mut self, path: &str, meta: &EntryMeta, data: impl Read) -> Result<()> {
        if crate::normalize_path(path).as_deref() != Ok(path) || path.is_empty() {
            return Err(Error::Invalid {
                what: format!("layer entry {path:?}"),
                reason: "paths must be normalised and relative (no leading /, no . or ..)".into(),
            });
        }
        if let Some(last) = &self.last
            && path.as_bytes() <= last.as_bytes()
        {
            return Err(Error::Invalid {
                what: format!("layer entry {path:?}"),
                reason: format!("entries must be sorted and unique; it follows {last:?}"),
            });
        }
        let mut meta = meta.clone();
        meta.mtime = meta.mtime.min(self.epoch);
        append_entry(&mut self.tar, path, &meta, data)
            .map_err(|e| Error::io(format!("writing layer entry {path}"), e))?;
        self.last = Some(path.to_owned());
        Ok(())
    }

    /// Ends the tar stream and compression, returning the output and the digests.
    pub fn finish(self) -> Result<(W, WrittenLayer)> {
        let ctx = |e| Error::io("finishing the layer", e);
        let tar_out = self.tar.into_inner().map_err(ctx)?;
        let (compressor, diff_id, _) = tar_out.finish();
        let (out, digest, size) = compressor.finish().map_err(ctx)?.finish();
        Ok((out, WrittenLayer { diff_id, digest, size, compression: self.compression }))
    }
}

/// Appends one entry with a deterministic GNU header (long names and link targets use GNU
/// extensions, extended attributes a PAX record).
pub(crate) fn append_entry<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    meta: &EntryMeta,
    data: impl Read,
) -> io::Result<()> {
    if !meta.xattrs.is_empty() {
        let records: Vec<(String, &[u8])> =
            meta.xattrs.iter().map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice())).collect();
        tar.append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), *v)))?;
    }
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(meta.kind.tar_type());
    header.set_mode(meta.mode);
    header.set_uid(meta.uid);
    header.set_gid(meta.gid);
    header.set_mtime(meta.mtime);
    header.set_size(if meta.kind == EntryKind::File { meta.size } else { 0 });
    if let Some((major, minor)) = meta.device {
        header.set_device_major(major)?;
        header.set_device_minor(minor)?;
    }
    let name = if meta.kind == EntryKind::Dir { format!("{path}/") } else { path.to_owned() };
    match (&meta.kind, &meta.link) {
        (EntryKind::Symlink | EntryKind::Hardlink, Some(target)) => tar.append_link(&mut header, &name, target),
        (EntryKind::File, _) => tar.append_data(&mut header, &name, data.take(meta.size)),
        _ => tar.append_data(&mut header, &name, io::empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer() -> (Vec<u8>, WrittenLayer) {
        let mut w = LayerWriter::new(Vec::new(), Compression::Gzip, 100).unwrap();
        let mut f = EntryMeta::file(0o4755, 5);
        f.mtime = 5000;
        w.append("a", &EntryMeta::dir(0o755), io::empty()).unwrap();
        w.append("a/file", &f, &b"hello"[..]).unwrap();
        let long = format!("a/{}", "x".repeat(200));
        w.append(&long, &EntryMeta::symlink(&"y".repeat(150)), io::empty()).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn deterministic_and_digests_match() {
        let (a, la) = layer();
        let (b, lb) = layer();
        assert_eq!(a, b);
        assert_eq!(la, lb);
        assert_eq!(la.digest, Digest::sha256(&a));
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&a[..]).read_to_end(&mut tar).unwrap();
        assert_eq!(la.diff_id, Digest::sha256(&tar));
        let mut seen = Vec::new();
        crate::read_entries(&tar[..], "t", |e| {
            seen.push((e.path.clone(), e.meta.mtime, e.meta.mode));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen[1], ("a/file".to_owned(), 100, 0o4755));
        assert_eq!(seen[2].0.len(), 202);
    }

    #[test]
    fn refuses_unsorted_and_unsafe_paths() {
        let mut w = LayerWriter::new(Vec::new(), Compression::None, 0).unwrap();
        w.append("b", &EntryMeta::dir(0o755), io::empty()).unwrap();
        assert!(w.append("a", &EntryMeta::dir(0o755), io::empty()).is_err());
        assert!(w.append("/c", &EntryMeta::dir(0o755), io::empty()).is_err());
        assert!(w.append("c/../d", &EntryMeta::dir(0o755), io::empty()).is_err());
    }
}
