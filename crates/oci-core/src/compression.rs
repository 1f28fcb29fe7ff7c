//! Layer compression: detection, decompression with bomb guards, deterministic compression.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Error, Limits};

/// How a layer's tar stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (RFC 1952).
    Gzip,
    /// zstd (RFC 8878).
    Zstd,
}

impl Compression {
    /// Guesses the compression from the first bytes of a stream (magic numbers).
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        })
    }
}

const BUF: usize = 128 << 10;

/// Wraps `compressed` so that reading yields the decompressed tar stream.
///
/// `what` names the layer in errors.
///
/// # Security
/// Decompression stops with [`Error::TooLarge`] (carried in the `io::Error`) once the
/// output exceeds `limits.max_layer_bytes`, or exceeds `limits.max_ratio` times the
/// input after `limits.ratio_floor_bytes`: a gzip or zstd bomb costs bounded time and
/// no memory.
pub fn decompress<'a, R: Read + Send + 'a>(
    compressed: R,
    compression: Compression,
    limits: &Limits,
    what: &str,
) -> Box<dyn Read + Send + 'a> {
    let counter = Arc::new(AtomicU64::new(0));
    let counted = ConsumedCounter { inner: BufReader::with_capacity(BUF, compressed), count: Arc::clone(&counter) };
    let inner: Box<dyn Read + Send + 'a> = match compression {
        Compression::None => Box::new(counted),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(counted)),
        Compression::Zstd => match zstd::stream::read::Decoder::with_buffer(counted) {
            Ok(d) => Box::new(d),
            Err(e) => Box::new(FailingReader(Some(e))),
        },
    };
    Box::new(BombGuard {
        inner,
        compressed: counter,
        out: 0,
        limits: *limits,
        what: what.to_owned(),
        check_ratio: compression != Compression::None,
    })
}

struct FailingReader(Option<io::Error>);

impl Read for FailingReader {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(self.0.take().unwrap_or_else(|| io::Error::other("decoder failed")))
    }
}

/// Counts the compressed bytes the decoder has actually consumed (not those merely read
/// ahead into the buffer), so the ratio check is exact.
struct ConsumedCounter<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: BufRead> Read for ConsumedCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for ConsumedCounter<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.count.fetch_add(amt as u64, Ordering::Relaxed);
        self.inner.consume(amt);
    }
}

struct BombGuard<R> {
    inner: R,
    compressed: Arc<AtomicU64>,
    out: u64,
    limits: Limits,
    what: String,
    check_ratio: bool,
}

impl<R: Read> Read for BombGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out += n as u64;
        if self.out > self.limits.max_layer_bytes {
            return Err(Error::TooLarge {
                what: format!("decompressed {}", self.what),
                limit: self.limits.max_layer_bytes,
                hint: " (Limits::max_layer_bytes)",
            }
            .into_io());
        }
        if self.check_ratio && self.out > self.limits.ratio_floor_bytes {
            let input = self.compressed.load(Ordering::Relaxed).max(1);
            if self.out / input > self.limits.max_ratio {
                return Err(Error::TooLarge {
                    what: format!(
                        "decompressed {} ({} bytes from {} compressed: ratio above {}, likely a decompression bomb)",
                        self.what, self.out, input, self.limits.max_ratio
                    ),
                    limit: self.out,
                    hint: " (Limits::max_ratio)",
                }
                .into_io());
            }
        }
        Ok(n)
    }
}

/// A compressing writer with deterministic output: the same input gives the same bytes
/// on every machine (gzip header with no name, mtime 0 and OS "unknown").
pub(crate) enum Compressor<W: Write> {
    None(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Compressor<W> {
    pub(crate) fn new(inner: W, compression: Compression, level: Option<u32>) -> io::Result<Self> {
        Ok(match compression {
            Compression::None => Compressor::None(inner),
            Compression::Gzip => Compressor::Gzip(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .operating_system(255)
                    .write(inner, flate2::Compression::new(level.unwrap_or(6))),
            ),
            Compression::Zstd => {
                let mut enc = zstd::stream::write::Encoder::new(inner, level.unwrap_or(3) as i32)?;
                enc.include_checksum(false)?;
                Compressor::Zstd(enc)
            }
        })
    }

    pub(crate) fn finish(self) -> io::Result<W> {
        match self {
            Compressor::None(w) => Ok(w),
            Compressor::Gzip(g) => g.finish(),
            Compressor::Zstd(z) => z.finish(),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::None(w) => w.write(buf),
            Compressor::Gzip(g) => g.write(buf),
            Compressor::Zstd(z) => z.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::None(w) => w.flush(),
            Compressor::Gzip(g) => g.flush(),
            Compressor::Zstd(z) => z.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut c = Compressor::new(Vec::new(), Compression::Gzip, None).unwrap();
        c.write_all(data).unwrap();
        c.finish().unwrap()
    }

    #[test]
    fn gzip_is_deterministic_and_round_trips() {
        let a = gzip(b"hello world");
        assert_eq!(a, gzip(b"hello world"));
        assert_eq!(Compression::sniff(&a), Compression::Gzip);
        let mut out = Vec::new();
        decompress(&a[..], Compression::Gzip, &Limits::default(), "t").read_to_end(&mut out).unwrap();
        assert_eq!(out, b"hello world");
    }

    #[test]
    fn bomb_is_stopped() {
        let zeros = vec![0u8; 4 << 20];
        let z = gzip(&zeros);
        let limits = Limits { ratio_floor_bytes: 1 << 20, max_ratio: 100, ..Limits::default() };
        let err = decompress(&z[..], Compression::Gzip, &limits, "layer x").read_to_end(&mut Vec::new()).unwrap_err();
        let msg = Error::io("r", err).to_string();
        assert!(msg.contains("decompression bomb"), "{msg}");
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let z = gzip(&vec![7u8; 100_000]);
        let cut = &z[..z.len() / 2];
        let r = decompress(cut, Compression::Gzip, &Limits::default(), "t").read_to_end(&mut Vec::new());
        assert!(r.is_err());
    }
}
