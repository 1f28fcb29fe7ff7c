//! Bounds on the tar records that a reader holds in memory whole.
//!
//! The `tar` crate reads a GNU long name (`L`), long link (`K`) or PAX extended header
//! (`x`) into memory whole before the entry it describes, whatever size its header
//! claims. [`TarGuard`] sits between the byte stream and the tar reader, follows the
//! archive's block structure as the bytes pass (the same way the tar reader does: header
//! sizes, PAX `size` overrides, GNU sparse extension blocks) and fails the read as soon
//! as such a header announces more than [`MAX_PATH_BYTES`] of path or
//! [`MAX_PAX_HEADER_BYTES`] of PAX records — before their content is read.

use std::io::{self, Read, Seek, SeekFrom};

use crate::Error;

/// Longest path or link target accepted in a tar entry, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH_BYTES: usize = 4096;

/// Largest PAX extended header (`x` record) accepted before one entry, in bytes.
pub const MAX_PAX_HEADER_BYTES: u64 = 1 << 20;

const BLOCK: u64 = 512;

/// A reader of a tar stream that refuses over-long names and PAX headers while the bytes
/// flow (see the module documentation). Forward seeks over entry data (what
/// `tar::Archive::entries_with_seek` does) keep it in step; any other seek ends the
/// checks, as does the end of the archive or a header the tar reader itself will refuse.
pub struct TarGuard<R> {
    inner: R,
    what: String,
    /// Whether the guard still knows where the next header is.
    active: bool,
    /// Stream offset of the next byte read from `inner`.
    pos: u64,
    /// Offset of the next header block (or GNU sparse extension block).
    next: u64,
    block: Box<[u8; BLOCK as usize]>,
    filled: usize,
    /// Data bytes of the sparse entry whose extension blocks are being read.
    sparse_data: Option<u64>,
    /// A PAX `x` record being read: its bytes so far and how many remain.
    collecting: Option<(Vec<u8>, u64)>,
    /// The PAX records that apply to the next file entry.
    pax: Option<Vec<u8>>,
    /// Number of headers seen, for messages.
    headers: u64,
}

impl<R> TarGuard<R> {
    /// Wraps `inner`, a stream positioned at the start of a tar archive; `what` names it
    /// in errors.
    pub fn new(inner: R, what: impl Into<String>) -> Self {
        TarGuard {
            inner,
            what: what.into(),
            active: true,
            pos: 0,
            next: 0,
            block: Box::new([0; BLOCK as usize]),
            filled: 0,
            sparse_data: None,
            collecting: None,
            pax: None,
            headers: 0,
        }
    }

    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn too_large(&self, what: String, limit: u64) -> io::Error {
        Error::TooLarge { what: format!("{what} in header {} of {}", self.headers, self.what), limit, hint: "" }
            .into_io()
    }

    fn observe(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while self.active && !bytes.is_empty() {
            if self.pos < self.next {
                let n = (self.next - self.pos).min(bytes.len() as u64) as usize;
                if let Some((buf, remaining)) = &mut self.collecting {
                    let take = (*remaining).min(n as u64) as usize;
                    buf.extend_from_slice(&bytes[..take]);
                    *remaining -= take as u64;
                    if *remaining == 0 {
                        self.finish_pax()?;
                    }
                }
                bytes = &bytes[n..];
                self.pos += n as u64;
                continue;
            }
            let n = (BLOCK as usize - self.filled).min(bytes.len());
            self.block[self.filled..self.filled + n].copy_from_slice(&bytes[..n]);
            self.filled += n;
            bytes = &bytes[n..];
            self.pos += n as u64;
            if self.filled == BLOCK as usize {
                self.filled = 0;
                self.on_block()?;
            }
        }
        Ok(())
    }

    fn finish_pax(&mut self) -> io::Result<()> {
        let Some((records, _)) = self.collecting.take() else { return Ok(()) };
        for record in tar::PaxExtensions::new(&records).flatten() {
            if matches!(record.key(), Ok("path" | "linkpath")) && record.value_bytes().len() > MAX_PATH_BYTES {
                let key = record.key().unwrap_or_default();
                let len = record.value_bytes().len();
                return Err(self.too_large(format!("a PAX {key} of {len} bytes"), MAX_PATH_BYTES as u64));
            }
        }
        self.pax = Some(records);
        Ok(())
    }

    /// A whole block at the header position has been read (`self.pos` is its end).
    fn on_block(&mut self) -> io::Result<()> {
        if let Some(data) = self.sparse_data {
            // GNU sparse extension block: `isextended` at byte 504.
            if self.block[504] == 1 {
                self.next = self.pos;
            } else {
                self.sparse_data = None;
                self.skip_data(data);
            }
            return Ok(());
        }
        if self.block.iter().all(|&b| b == 0) {
            // The end of the archive for the tar reader (zeros are not ignored).
            self.active = false;
            return Ok(());
        }
        self.headers += 1;
        let header = tar::Header::from_byte_slice(&self.block[..]);
        let sum: u32 = self.block[..148].iter().chain(&self.block[156..]).map(|&b| u32::from(b)).sum::<u32>() + 8 * 32;
        let Ok(size) = header.entry_size() else {
            self.active = false; // the tar reader refuses it
            return Ok(());
        };
        if header.cksum().ok() != Some(sum) {
            self.active = false; // the tar reader refuses it
            return Ok(());
        }
        let kind = header.entry_type();
        let recognized = header.as_gnu().is_some() || header.as_ustar().is_some();
        let extension = kind.is_gnu_longname()
            || kind.is_gnu_longlink()
            || kind.is_pax_local_extensions()
            || kind.is_pax_global_extensions();
        let sparse_extended = kind.is_gnu_sparse() && header.as_gnu().is_some_and(|gnu| gnu.is_extended());
        let mut size = size;
        if !extension && let Some(pax) = self.pax.take() {
            // As the tar reader: a PAX `size` overrides the header's.
            if let Some(pax_size) = pax_size(&pax) {
                size = pax_size;
            }
        }
        if recognized && (kind.is_gnu_longname() || kind.is_gnu_longlink()) && size > MAX_PATH_BYTES as u64 + 1 {
            let name = if kind.is_gnu_longname() { "GNU long name" } else { "GNU long link name" };
            return Err(self.too_large(format!("a {name} of {size} bytes"), MAX_PATH_BYTES as u64));
        }
        if recognized && kind.is_pax_local_extensions() {
            if size > MAX_PAX_HEADER_BYTES {
                return Err(self.too_large(format!("a PAX extended header of {size} bytes"), MAX_PAX_HEADER_BYTES));
            }
            self.collecting = Some((Vec::with_capacity(size as usize), size));
            if size == 0 {
                self.finish_pax()?;
            }
        }
        if sparse_extended {
            self.sparse_data = Some(size);
            self.next = self.pos;
            return Ok(());
        }
        self.skip_data(size);
        Ok(())
    }

    fn skip_data(&mut self, size: u64) {
        match size.checked_add(BLOCK - 1).and_then(|s| self.pos.checked_add(s & !(BLOCK - 1))) {
            Some(next) => self.next = next,
            None => self.active = false, // the tar reader refuses it
        }
    }
}

/// The first `size` record, parsed as the tar reader parses it.
fn pax_size(records: &[u8]) -> Option<u64> {
    for record in tar::PaxExtensions::new(records) {
        let record = record.ok()?;
        if record.key() == Ok("size") {
            return record.value().ok()?.parse().ok();
        }
    }
    None
}

impl<R: Read> Read for TarGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.observe(&buf[..n])?;
        Ok(n)
    }
}

impl<R: Seek> Seek for TarGuard<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = self.inner.seek(to)?;
        let within_data = self.filled == 0 && self.collecting.is_none() && self.sparse_data.is_none();
        if new != self.pos && !(within_data && new > self.pos && new <= self.next) {
            self.active = false;
        }
        self.pos = new;
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: u8, name: &str, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::new(kind));
        h.set_path(name).unwrap();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        h
    }

    fn archive(records: &[(u8, &str, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (kind, name, data) in records {
            out.extend_from_slice(header(*kind, name, data.len() as u64).as_bytes());
            out.extend_from_slice(data);
            out.resize(out.len().next_multiple_of(512), 0);
        }
        out.extend_from_slice(&[0; 1024]);
        out
    }

    fn paths(bytes: &[u8]) -> io::Result<Vec<String>> {
        let mut archive = tar::Archive::new(TarGuard::new(bytes, "test"));
        let mut out = Vec::new();
        for entry in archive.entries()? {
            let entry = entry?;
            out.push(String::from_utf8_lossy(&entry.path_bytes()).into_owned());
        }
        Ok(out)
    }

    fn pax(key: &str, value: &[u8]) -> Vec<u8> {
        let rest = key.len() + value.len() + 3;
        let mut len = rest + rest.to_string().len();
        if len.to_string().len() + rest > len {
            len += 1;
        }
        let mut out = format!("{len} {key}=").into_bytes();
        out.extend_from_slice(value);
        out.push(b'\n');
        out
    }

    #[test]
    fn long_names_within_the_limit_pass_and_the_archive_reads_as_without_the_guard() {
        let long = "d/".repeat(1500) + "f";
        let mut name = long.clone().into_bytes();
        name.push(0);
        let bytes = archive(&[
            (b'0', "a", b"hello".to_vec()),
            (b'L', "././@LongLink", name),
            (b'0', "ignored", vec![7; 1000]),
            (b'x', "pax", [pax("path", b"p/q"), pax("size", b"3")].concat()),
            (b'0', "r", b"abc".to_vec()),
            (b'0', "s", Vec::new()),
        ]);
        let expected = vec!["a".to_owned(), long, "p/q".to_owned(), "s".to_owned()];
        assert_eq!(paths(&bytes).unwrap(), expected);
        // One byte at a time: header blocks split across reads.
        let mut archive = tar::Archive::new(TarGuard::new(OneByte(&bytes[..]), "test"));
        assert_eq!(archive.entries().unwrap().count(), 4);
    }

    struct OneByte<'a>(&'a [u8]);
    impl Read for OneByte<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(1);
            self.0.read(&mut buf[..n])
        }
    }

    #[test]
    fn an_over_long_gnu_name_is_refused_from_its_header_alone() {
        // The header claims 1 GiB; only the header is there: refused before any of it is read.
        let mut bytes = header(b'L', "././@LongLink", 1 << 30).as_bytes().to_vec();
        bytes.extend_from_slice(&[b'a'; 512]);
        let err = paths(&bytes).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("GNU long name of 1073741824 bytes") && msg.contains("4096"), "{msg}");
        let long = vec![b'a'; MAX_PATH_BYTES + 2];
        let err = paths(&archive(&[(b'K', "././@LongLink", long), (b'2', "l", vec![])])).unwrap_err();
        assert!(err.to_string().contains("GNU long link name of 4098 bytes"), "{err}");
    }

    #[test]
    fn an_over_long_pax_header_or_pax_path_is_refused() {
        let bytes = header(b'x', "pax", MAX_PAX_HEADER_BYTES + 1).as_bytes().to_vec();
        let err = paths(&bytes).unwrap_err();
        assert!(err.to_string().contains("PAX extended header of 1048577 bytes"), "{err}");
        let path = vec![b'p'; MAX_PATH_BYTES + 1];
        let err = paths(&archive(&[(b'x', "pax", pax("path", &path)), (b'0', "f", vec![])])).unwrap_err();
        assert!(err.to_string().contains("PAX path of 4097 bytes"), "{err}");
    }

    #[test]
    fn a_pax_size_override_keeps_the_guard_in_step() {
        // The header says 0 bytes, PAX says 1024: the "header" inside the data is data.
        let hidden = header(b'L', "././@LongLink", 1 << 30);
        let mut data = hidden.as_bytes().to_vec();
        data.extend_from_slice(&[0; 512]);
        let mut bytes = archive(&[(b'x', "pax", pax("size", b"1024"))]);
        bytes.truncate(bytes.len() - 1024);
        bytes.extend_from_slice(header(b'0', "f", 0).as_bytes());
        bytes.extend_from_slice(&data);
        bytes.extend_from_slice(&archive(&[(b'0', "g", b"x".to_vec())]));
        assert_eq!(paths(&bytes).unwrap(), ["f", "g"]);
    }

    #[test]
    fn gnu_sparse_extension_blocks_are_followed() {
        fn field(dst: &mut [u8], value: u64) {
            let text = format!("{value:0width$o}", width = dst.len() - 1);
            dst[..text.len()].copy_from_slice(text.as_bytes());
        }
        // A sparse file of 1536 bytes: 512 at 0 in the header, 512 at 1024 in an extension
        // block; 1024 data bytes, which hold what looks like an over-long GNU name header.
        let mut h = header(b'S', "sparse", 1024);
        let gnu = h.as_gnu_mut().unwrap();
        field(&mut gnu.sparse[0].offset, 0);
        field(&mut gnu.sparse[0].numbytes, 512);
        gnu.isextended[0] = 1;
        field(&mut gnu.realsize, 1536);
        h.set_cksum();
        let mut ext = tar::GnuExtSparseHeader::new();
        field(&mut ext.sparse[0].offset, 1024);
        field(&mut ext.sparse[0].numbytes, 512);
        let mut bytes = h.as_bytes().to_vec();
        bytes.extend_from_slice(ext.as_bytes());
        bytes.extend_from_slice(&[b'z'; 512]);
        bytes.extend_from_slice(header(b'L', "././@LongLink", 1 << 30).as_bytes());
        bytes.extend_from_slice(&archive(&[(b'0', "after", b"x".to_vec())]));
        let mut archive = tar::Archive::new(TarGuard::new(&bytes[..], "test"));
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            seen.push((String::from_utf8_lossy(&entry.path_bytes()).into_owned(), data.len()));
        }
        assert_eq!(seen, [("sparse".to_owned(), 1536), ("after".to_owned(), 1)]);
    }
}
