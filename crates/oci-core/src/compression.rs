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

/// Size of the chunks [`ReadAhead`] reads.
const AHEAD_CHUNK: usize = 256 << 10;
/// Chunks [`ReadAhead`] reads before the consumer takes them.
const AHEAD_DEPTH: usize = 4;

/// Reads `inner` on a thread of its own, up to four 256 KiB chunks ahead of the consumer,
/// so that decompression (and the compressed digest under it) runs on one core while the
/// consumer parses and hashes on another. The bytes and errors are those of `inner`, in
/// order. Dropping it stops the thread and waits for it, so nothing `inner` owns (a
/// temporary file) outlives it.
pub(crate) struct ReadAhead {
    chunks: Option<std::sync::mpsc::Receiver<io::Result<Vec<u8>>>>,
    recycle: std::sync::mpsc::SyncSender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    failed: bool,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ReadAhead {
    /// Starts the thread; when no thread can be started, reading fails with that error.
    pub(crate) fn wrap<R: Read + Send + 'static>(mut inner: R) -> Box<dyn Read + Send> {
        let (send, chunks) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(AHEAD_DEPTH);
        let (recycle, recycled) = std::sync::mpsc::sync_channel::<Vec<u8>>(AHEAD_DEPTH + 2);
        let spawned = std::thread::Builder::new().name("layer-read".into()).spawn(move || {
            loop {
                let mut buf = recycled.try_recv().unwrap_or_default();
                buf.resize(AHEAD_CHUNK, 0);
                let mut n = 0;
                let mut failure = None;
                while n < AHEAD_CHUNK {
                    match inner.read(&mut buf[n..]) {
                        Ok(0) => break,
                        Ok(k) => n += k,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    }
                }
                buf.truncate(n);
                let end = n < AHEAD_CHUNK;
                if n > 0 && send.send(Ok(buf)).is_err() {
                    return;
                }
                if let Some(e) = failure {
                    let _ = send.send(Err(e));
                    return;
                }
                if end {
                    return;
                }
            }
        });
        match spawned {
            Ok(thread) => Box::new(ReadAhead {
                chunks: Some(chunks),
                recycle,
                current: Vec::new(),
                pos: 0,
                failed: false,
                thread: Some(thread),
            }),
            Err(e) => Box::new(FailingReader(Some(e))),
        }
    }
}

impl Read for ReadAhead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        while self.pos == self.current.len() {
            if self.failed {
                return Err(io::Error::other("reading past an earlier error"));
            }
            let Some(chunks) = &self.chunks else { return Ok(0) };
            match chunks.recv() {
                Ok(Ok(next)) => {
                    let used = std::mem::replace(&mut self.current, next);
                    let _ = self.recycle.try_send(used);
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.failed = true;
                    return Err(e);
                }
                Err(_) => {
                    self.chunks = None; // the end
                    return Ok(0);
                }
            }
        }
        let n = out.len().min(self.current.len() - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.chunks = None; // a send waiting for room fails: the thread ends
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
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

    /// Gives `data` in reads of at most `step` bytes, then fails with `error` if set;
    /// records that it was dropped.
    struct Source {
        data: Vec<u8>,
        at: usize,
        step: usize,
        error: Option<&'static str>,
        dropped: Arc<std::sync::atomic::AtomicBool>,
    }
    impl Read for Source {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.step).min(self.data.len() - self.at);
            if n == 0 {
                return match self.error {
                    Some(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e)),
                    None => Ok(0),
                };
            }
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }
    impl Drop for Source {
        fn drop(&mut self) {
            self.dropped.store(true, Ordering::SeqCst);
        }
    }

    fn source(len: usize, step: usize, error: Option<&'static str>) -> (Source, Arc<std::sync::atomic::AtomicBool>) {
        let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let data = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
        (Source { data, at: 0, step, error, dropped: dropped.clone() }, dropped)
    }

    #[test]
    fn read_ahead_gives_the_bytes_then_the_error_in_order() {
        for (len, step) in [(0, 1), (1, 1), (AHEAD_CHUNK, 4096), (3 * AHEAD_CHUNK + 5, 1000), (5_000_000, 65536)] {
            let (inner, _) = source(len, step, None);
            let want = inner.data.clone();
            let mut got = Vec::new();
            ReadAhead::wrap(inner).read_to_end(&mut got).unwrap();
            assert!(got == want, "{len} bytes read {step} at a time");
        }
        let (inner, _) = source(AHEAD_CHUNK * 2 + 10, 8192, Some("digest mismatch (test)"));
        let want = inner.data.clone();
        let mut reader = ReadAhead::wrap(inner);
        let mut got = vec![0; want.len()];
        reader.read_exact(&mut got).unwrap();
        assert!(got == want);
        let err = reader.read(&mut [0; 16]).unwrap_err();
        assert_eq!(err.to_string(), "digest mismatch (test)");
        assert!(reader.read(&mut [0; 16]).is_err(), "an error is not followed by an end of stream");
    }

    #[test]
    fn a_dropped_read_ahead_stops_its_thread_and_drops_the_reader() {
        let (inner, dropped) = source(64 * AHEAD_CHUNK, 4096, None);
        let mut reader = ReadAhead::wrap(inner);
        reader.read_exact(&mut [0; 1000]).unwrap();
        drop(reader);
        assert!(dropped.load(Ordering::SeqCst), "the inner reader is dropped before drop returns");
    }
}
