//! Compressions of repository indexes and `.deb` members, and streaming decoders for them.

use std::io::{self, Read};

/// How an index file or a `.deb` member is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compression {
    /// Not compressed.
    None,
    /// gzip (`.gz`).
    Gzip,
    /// xz (`.xz`), multi-stream and multi-block.
    Xz,
    /// Zstandard (`.zst`).
    Zstd,
}

impl Compression {
    /// The file name suffix, with its dot (`""` for none).
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => ".gz",
            Compression::Xz => ".xz",
            Compression::Zstd => ".zst",
        }
    }

    /// The compression a file name's suffix says, `None` for a name without one of
    /// `.gz`/`.xz`/`.zst`, and `Err` with the suffix for other known compressions
    /// (`.bz2`, `.lzma`, `.lz4`) that are not supported.
    pub fn from_name(name: &str) -> Result<Compression, &str> {
        if name.ends_with(".gz") {
            Ok(Compression::Gzip)
        } else if name.ends_with(".xz") {
            Ok(Compression::Xz)
        } else if name.ends_with(".zst") {
            Ok(Compression::Zstd)
        } else if let Some(ext) = [".bz2", ".lzma", ".lz4", ".Z"].into_iter().find(|e| name.ends_with(e)) {
            Err(ext)
        } else {
            Ok(Compression::None)
        }
    }

    /// A streaming decoder of `reader`.
    pub fn decoder<'r, R: Read + 'r>(self, reader: R) -> io::Result<Box<dyn Read + 'r>> {
        Ok(match self {
            Compression::None => Box::new(reader),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
            Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(reader)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(reader)?),
        })
    }
}
