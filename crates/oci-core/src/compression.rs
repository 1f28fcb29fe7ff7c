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
/// so that decompression runs on one core while the consumer parses and hashes on another
/// (a layer's compressed digest is checked on a third: [`CheckedAtEnd`]). The bytes and
/// errors are those of `inner`, in order. Dropping it stops the thread and waits for it, so nothing `inner` owns (a
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

/// A stream whose end waits for a check running beside it: `check` reads the same bytes
/// a second time on a thread of its own (the compressed blob, verified against its digest,
/// from the page cache), so the thread decompressing `inner` does nothing else. The
/// consumer sees the end of `inner` only once the check passed; when `inner` fails, the
/// check's error, if it has one, is the one reported. Dropping it early stops the check.
pub(crate) struct CheckedAtEnd {
    inner: Box<dyn Read + Send>,
    check: Option<std::thread::JoinHandle<io::Result<()>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl CheckedAtEnd {
    /// Starts reading `check` to its end on a thread; when no thread can be started,
    /// reading fails with that error.
    pub(crate) fn wrap(inner: Box<dyn Read + Send>, mut check: Box<dyn Read + Send>) -> Box<dyn Read + Send> {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let spawned = std::thread::Builder::new().name("layer-check".into()).spawn(move || {
            let mut buf = vec![0u8; AHEAD_CHUNK];
            while !stopped.load(Ordering::Relaxed) {
                match check.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        });
        match spawned {
            Ok(thread) => Box::new(CheckedAtEnd { inner, check: Some(thread), stop }),
            Err(e) => Box::new(FailingReader(Some(e))),
        }
    }
}

impl CheckedAtEnd {
    /// Waits for the check (once): its error, if any.
    fn checked(&mut self) -> io::Result<()> {
        match self.check.take() {
            Some(check) => check.join().map_err(|_| io::Error::other("the check of the compressed blob panicked"))?,
            None => Ok(()),
        }
    }
}

impl Read for CheckedAtEnd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(0) if !buf.is_empty() => self.checked().map(|()| 0),
            Ok(n) => Ok(n),
            // A blob that is not what its digest names (truncated, damaged) is reported as
            // that, rather than as what decompressing it met.
            Err(e) => Err(self.checked().err().unwrap_or(e)),
        }
    }
}

impl Drop for CheckedAtEnd {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(check) = self.check.take() {
            let _ = check.join();
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
    Gzip(ParallelGzip<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Compressor<W> {
    pub(crate) fn new(inner: W, compression: Compression, level: Option<u32>) -> io::Result<Self> {
        Ok(match compression {
            Compression::None => Compressor::None(inner),
            Compression::Gzip => Compressor::Gzip(ParallelGzip::new(inner, level.unwrap_or(6))),
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

/// Input bytes of one independently compressed piece of a gzip stream ([`ParallelGzip`]).
/// Part of the output format: changing it changes the bytes of every layer larger than it.
const GZIP_BLOCK: usize = 1 << 20;

/// The deflate window: each block is compressed with the previous block's last 32 KiB as
/// its dictionary, so back-references cross block boundaries as in one stream.
const DEFLATE_WINDOW: usize = 32 << 10;

/// A gzip writer that compresses on every core, with output that depends only on the input
/// and the level, never on the number of cores (the way pigz does it): the input is cut
/// into [`GZIP_BLOCK`]-byte blocks, each deflated on its own thread with the previous
/// block's last 32 KiB as dictionary and ended with a sync flush (an empty stored block, so
/// the next block starts on a byte boundary), the last with the final block; the pieces are
/// written in order between one gzip header (no name, mtime 0, OS "unknown") and the CRC-32
/// and length of the whole input. An input of one block or less is one plain deflate stream.
/// Each block is deflated whole, so the output does not depend on how the input was cut
/// into writes either (zlib-rs's streaming output does).
///
/// At most as many blocks as there are cores are compressed at once; memory stays at a few
/// blocks whatever the input's size.
pub(crate) struct ParallelGzip<W: Write> {
    inner: W,
    level: u32,
    header_written: bool,
    /// The block being filled; dispatched when a byte beyond it arrives (only `finish`
    /// knows the last one).
    block: Vec<u8>,
    /// The last [`DEFLATE_WINDOW`] bytes of the block before `block`.
    dictionary: Vec<u8>,
    crc: flate2::Crc,
    in_flight: std::collections::VecDeque<std::thread::JoinHandle<io::Result<Vec<u8>>>>,
    max_in_flight: usize,
}

impl<W: Write> ParallelGzip<W> {
    pub(crate) fn new(inner: W, level: u32) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        ParallelGzip {
            inner,
            level: level.min(9),
            header_written: false,
            block: Vec::new(),
            dictionary: Vec::new(),
            crc: flate2::Crc::new(),
            in_flight: std::collections::VecDeque::new(),
            max_in_flight: cores.clamp(1, 8),
        }
    }

    /// The fixed 10-byte header: no flags, mtime 0, the level's XFL, OS 255.
    fn header(&self) -> [u8; 10] {
        let xfl = match self.level {
            9 => 2,
            0 | 1 => 4,
            _ => 0,
        };
        [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255]
    }

    fn write_out(&mut self, piece: &[u8]) -> io::Result<()> {
        if !self.header_written {
            let header = self.header();
            self.inner.write_all(&header)?;
            self.header_written = true;
        }
        self.inner.write_all(piece)
    }

    /// Writes the oldest block in flight.
    fn drain_one(&mut self) -> io::Result<()> {
        let Some(job) = self.in_flight.pop_front() else { return Ok(()) };
        let piece = job.join().map_err(|_| io::Error::other("a gzip compression thread panicked"))??;
        self.write_out(&piece)
    }

    /// Hands the full block to a thread (it is not the last: a byte beyond it has arrived).
    fn dispatch(&mut self) -> io::Result<()> {
        while self.in_flight.len() >= self.max_in_flight {
            self.drain_one()?;
        }
        let block = std::mem::replace(&mut self.block, Vec::with_capacity(GZIP_BLOCK));
        let dictionary =
            std::mem::replace(&mut self.dictionary, block[block.len().saturating_sub(DEFLATE_WINDOW)..].to_vec());
        let level = self.level;
        let job = std::thread::Builder::new()
            .name("gzip".into())
            .spawn(move || deflate_block(&block, &dictionary, false, level))?;
        self.in_flight.push_back(job);
        Ok(())
    }

    /// Compresses the last block here, writes every piece in order and the trailer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        let last = deflate_block(&self.block, &self.dictionary, true, self.level)?;
        while !self.in_flight.is_empty() {
            self.drain_one()?;
        }
        self.write_out(&last)?;
        let mut trailer = [0u8; 8];
        trailer[..4].copy_from_slice(&self.crc.sum().to_le_bytes());
        trailer[4..].copy_from_slice(&self.crc.amount().to_le_bytes());
        self.inner.write_all(&trailer)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.block.len() == GZIP_BLOCK {
            self.dispatch()?;
        }
        if self.block.capacity() == 0 {
            self.block.reserve_exact(GZIP_BLOCK);
        }
        let n = buf.len().min(GZIP_BLOCK - self.block.len());
        self.block.extend_from_slice(&buf[..n]);
        self.crc.update(&buf[..n]);
        Ok(n)
    }

    /// Writes the blocks already compressed and flushes the inner writer; the block being
    /// filled stays (cutting it here would make the output depend on when flush is called).
    fn flush(&mut self) -> io::Result<()> {
        while self.in_flight.front().is_some_and(|j| j.is_finished()) {
            self.drain_one()?;
        }
        self.inner.flush()
    }
}

/// Raw deflate of one block with `dictionary` (the input before it), ended with the final
/// block when `last`, else with a sync flush (byte-aligned, so pieces concatenate).
///
/// Output goes through a 32 KiB buffer as in flate2's writers: zlib-rs ends deflate blocks
/// by the room left in the output, so this keeps a one-block stream identical to theirs.
fn deflate_block(input: &[u8], dictionary: &[u8], last: bool, level: u32) -> io::Result<Vec<u8>> {
    use flate2::{FlushCompress, Status};
    const OUT: usize = 32 << 10;
    let failed = |e: flate2::CompressError| io::Error::other(format!("deflate: {e}"));
    let mut deflate = flate2::Compress::new(flate2::Compression::new(level), false);
    if !dictionary.is_empty() {
        deflate.set_dictionary(dictionary).map_err(failed)?;
    }
    let mut out = Vec::with_capacity(input.len() / 2 + OUT);
    let mut chunk = Vec::with_capacity(OUT);
    let consumed = |d: &flate2::Compress| usize::try_from(d.total_in()).expect("a block fits in memory");
    while consumed(&deflate) < input.len() {
        chunk.clear();
        deflate.compress_vec(&input[consumed(&deflate)..], &mut chunk, FlushCompress::None).map_err(failed)?;
        out.extend_from_slice(&chunk);
    }
    let flush = if last { FlushCompress::Finish } else { FlushCompress::Sync };
    loop {
        chunk.clear();
        let status = deflate.compress_vec(&[], &mut chunk, flush).map_err(failed)?;
        out.extend_from_slice(&chunk);
        // Done when the stream ended (last), or when a sync flush left room in the output
        // (zlib's rule for a completed flush).
        if status == Status::StreamEnd || (!last && chunk.len() < OUT) {
            return Ok(out);
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

    /// A reader of `bytes` that then fails with `error`, if any.
    fn then_fails(bytes: &'static [u8], error: Option<&'static str>) -> Box<dyn Read + Send> {
        let tail: Box<dyn Read + Send> = match error {
            Some(e) => Box::new(FailingReader(Some(io::Error::other(e)))),
            None => Box::new(io::empty()),
        };
        Box::new(bytes.chain(tail))
    }

    #[test]
    fn a_checked_stream_ends_only_when_its_check_passed() {
        let read = |inner, check| {
            let mut out = Vec::new();
            CheckedAtEnd::wrap(inner, check).read_to_end(&mut out).map(|_| out).map_err(|e| e.to_string())
        };
        // Both fine: the bytes of the stream.
        assert_eq!(read(then_fails(b"data", None), then_fails(b"blob", None)), Ok(b"data".to_vec()));
        // The check fails: the stream's end is that error.
        assert_eq!(
            read(then_fails(b"data", None), then_fails(b"bl", Some("digest mismatch"))),
            Err("digest mismatch".into())
        );
        // Both fail: the check's error names what is wrong with the blob.
        assert_eq!(
            read(then_fails(b"da", Some("incomplete deflate stream")), then_fails(b"bl", Some("size mismatch"))),
            Err("size mismatch".into())
        );
        // Only the stream fails: its own error.
        assert_eq!(read(then_fails(b"da", Some("corrupt")), then_fails(b"blob", None)), Err("corrupt".into()));
    }

    #[test]
    fn dropping_a_checked_stream_early_stops_its_check() {
        // A check that would never end: dropping the stream returns all the same.
        let mut stream = CheckedAtEnd::wrap(Box::new(&b"data"[..]), Box::new(io::repeat(7)));
        let mut first = [0u8; 2];
        stream.read_exact(&mut first).unwrap();
        drop(stream);
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

    /// Text-like data: words from a small vocabulary, compressible like a tar of files.
    fn text(len: usize) -> Vec<u8> {
        const WORDS: [&str; 12] = [
            "usr",
            "lib",
            "share",
            "debian ",
            "package\n",
            "x86_64",
            "-linux-gnu/",
            "libssl",
            ".so.3 ",
            "doc",
            "copyright",
            "0123",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut out = Vec::with_capacity(len + 16);
        while out.len() < len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            out.extend_from_slice(WORDS[(state % 12) as usize].as_bytes());
            if state.is_multiple_of(97) {
                out.extend_from_slice(&state.to_le_bytes());
            }
        }
        out.truncate(len);
        out
    }

    /// What flate2's single-threaded encoder writes with the header we promise, given the whole
    /// input in one write (zlib-rs's output also depends on how the input is cut into writes;
    /// ours does not: a block is deflated whole).
    fn single_stream(data: &[u8], level: u32) -> Vec<u8> {
        let mut g =
            flate2::GzBuilder::new().mtime(0).operating_system(255).write(Vec::new(), flate2::Compression::new(level));
        g.write_all(data).unwrap();
        g.finish().unwrap()
    }

    fn parallel(data: &[u8], level: u32, max_in_flight: usize, step: usize) -> Vec<u8> {
        let mut g = ParallelGzip::new(Vec::new(), level);
        g.max_in_flight = max_in_flight;
        for chunk in data.chunks(step.max(1)) {
            g.write_all(chunk).unwrap();
        }
        g.finish().unwrap()
    }

    #[test]
    fn one_block_or_less_is_exactly_the_single_stream() {
        for len in [0, 11, 100_000, GZIP_BLOCK - 1, GZIP_BLOCK] {
            let data = text(len);
            for level in [1, 6, 9] {
                assert!(
                    parallel(&data, level, 2, 7919) == single_stream(&data, level),
                    "{len} bytes at level {level} differ from the single stream"
                );
            }
        }
    }

    #[test]
    fn blocks_give_the_same_bytes_on_any_number_of_cores_and_gzip_reads_them() {
        let data = text(3 * GZIP_BLOCK + 12_345);
        let one = parallel(&data, 6, 1, 65_536);
        for (cores, step) in [(2, 512), (3, GZIP_BLOCK + 1), (8, 10_000_000)] {
            assert!(parallel(&data, 6, cores, step) == one, "{cores} cores, writes of {step} bytes");
        }
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(&one[..]).read_to_end(&mut back).unwrap();
        assert!(back == data, "flate2 reads back other bytes");
        // An independent judge: gzip(1) itself, checking the CRC and length too.
        let mut gunzip = std::process::Command::new("gzip")
            .args(["-dc"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("gzip(1) runs");
        let mut stdin = gunzip.stdin.take().unwrap();
        let feed = std::thread::spawn(move || stdin.write_all(&one));
        let out = gunzip.wait_with_output().unwrap();
        feed.join().unwrap().unwrap();
        assert!(out.status.success(), "gzip -dc failed: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout == data, "gzip -dc gives other bytes");
    }

    #[test]
    fn blocks_cost_almost_nothing_in_size() {
        let data = text(6 * GZIP_BLOCK);
        let (blocks, single) = (parallel(&data, 6, 2, 1 << 16).len(), single_stream(&data, 6).len());
        assert!(blocks as f64 <= single as f64 * 1.005, "{blocks} bytes in blocks vs {single} in one stream");
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
