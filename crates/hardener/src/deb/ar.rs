//! The `ar` archive container of `.deb` files (deb(5)): a magic line, then members each with a
//! 60-byte header and data padded to an even length.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

/// The global header of an `ar` archive.
pub(crate) const MAGIC: &[u8; 8] = b"!<arch>\n";
const HEADER_LEN: u64 = 60;

/// One member: its name (without the GNU `/` terminator), where its data starts and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub name: String,
    pub offset: u64,
    pub size: u64,
}

/// Reads a byte range of a file without moving any shared position.
pub(crate) struct RangeReader<'f> {
    file: &'f File,
    pos: u64,
    end: u64,
}

impl<'f> RangeReader<'f> {
    pub(crate) fn new(file: &'f File, offset: u64, len: u64) -> Self {
        RangeReader { file, pos: offset, end: offset + len }
    }
}

impl Read for RangeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end.saturating_sub(self.pos);
        if left == 0 {
            return Ok(0);
        }
        let max = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.file.read_at(&mut buf[..max], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shorter than its ar headers say"));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// Lists the members of the `ar` archive in `file` of length `len`.
pub(crate) fn members(file: &File, len: u64) -> Result<Vec<Member>, String> {
    let mut magic = [0u8; 8];
    file.read_exact_at(&mut magic, 0).map_err(|_| "too short to be an ar archive".to_owned())?;
    if &magic != MAGIC {
        return Err("not an ar archive (bad magic)".into());
    }
    let mut out = Vec::new();
    let mut pos = MAGIC.len() as u64;
    while pos < len {
        if len - pos < HEADER_LEN {
            return Err(format!("truncated ar header at offset {pos}"));
        }
        let mut h = [0u8; HEADER_LEN as usize];
        file.read_exact_at(&mut h, pos).map_err(|e| format!("reading the ar header at offset {pos}: {e}"))?;
        if &h[58..60] != b"`\n" {
            return Err(format!("corrupt ar header at offset {pos}"));
        }
        let name = std::str::from_utf8(&h[..16]).map_err(|_| format!("ar member name at offset {pos} is not text"))?;
        let name = name.trim_end_matches(' ').trim_end_matches('/').to_owned();
        let size_text = std::str::from_utf8(&h[48..58]).unwrap_or("").trim();
        let size: u64 =
            size_text.parse().map_err(|_| format!("ar member {name:?}: size {size_text:?} is not a number"))?;
        let offset = pos + HEADER_LEN;
        if size > len - offset {
            return Err(format!("ar member {name:?} claims {size} bytes, beyond the end of the file"));
        }
        out.push(Member { name, offset, size });
        pos = offset + size + (size & 1);
    }
    Ok(out)
}
