//! A spool for package contents: the bytes of every file a patch layer will hold, copied
//! once from the package archives into one temporary file while they are planned, and read
//! back in layer order. Memory stays flat whatever the packages' size.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};

/// Where one file's bytes are in a [`Spool`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spooled {
    offset: u64,
    len: u64,
}

impl Spooled {
    /// The content's length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the content is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// An append-only temporary file of contents (deleted when dropped).
pub struct Spool {
    out: BufWriter<File>,
    len: u64,
}

impl Spool {
    /// A new, empty spool in the system's temporary directory.
    pub fn new() -> io::Result<Spool> {
        Ok(Spool { out: BufWriter::with_capacity(256 << 10, tempfile::tempfile()?), len: 0 })
    }

    /// Copies exactly `len` bytes of `data` into the spool.
    ///
    /// # Errors
    /// An I/O error, or [`io::ErrorKind::UnexpectedEof`] when `data` holds fewer bytes.
    pub fn append(&mut self, data: &mut dyn Read, len: u64) -> io::Result<Spooled> {
        let offset = self.len;
        let copied = io::copy(&mut data.take(len), &mut self.out)?;
        if copied != len {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("{copied} of {len} bytes")));
        }
        self.len += len;
        Ok(Spooled { offset, len })
    }

    /// A reader of one content.
    pub fn reader(&mut self, at: &Spooled) -> io::Result<impl Read + '_> {
        self.out.flush()?;
        let file = self.out.get_mut();
        file.seek(SeekFrom::Start(at.offset))?;
        Ok(file.take(at.len))
    }

    /// The md5 (hex) of one content, as dpkg records conffiles and md5sums.
    pub fn md5_hex(&mut self, at: &Spooled) -> io::Result<String> {
        use md5::Digest as _;
        let mut hasher = md5::Md5::new();
        let mut reader = self.reader(at)?;
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        drop(reader);
        // Appends continue at the end.
        self.out.get_mut().seek(SeekFrom::End(0))?;
        Ok(hex::encode(hasher.finalize()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_come_back_and_hash_like_md5sum() {
        let mut spool = Spool::new().unwrap();
        let a = spool.append(&mut &b"hello\n"[..], 6).unwrap();
        let b = spool.append(&mut &b"world and more"[..], 5).unwrap();
        assert_eq!(spool.md5_hex(&a).unwrap(), "b1946ac92492d2347c6235b4d2611184");
        let c = spool.append(&mut &b"!"[..], 1).unwrap();
        let mut text = String::new();
        spool.reader(&b).unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "world");
        text.clear();
        spool.reader(&c).unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "!");
        let err = spool.append(&mut &b"ab"[..], 3).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
