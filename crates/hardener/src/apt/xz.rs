//! An `.xz` file of several blocks decompressed on every core.
//!
//! The `Packages.xz` of a large suite (Debian's main: 50 MB of text in two 24 MiB blocks)
//! takes most of a second to decompress on one core, and nothing else can happen meanwhile:
//! resolution needs the whole index. A multi-block `.xz` says in its index where each block
//! starts and how much it holds, and each block decompresses on its own (its dictionary
//! starts empty), so the blocks are handed to threads. Each block is decoded by liblzma as a
//! stream of its own: the file's stream header, the block's bytes, and a one-record index
//! and footer made here with the sizes the file's index gives, so liblzma checks the block
//! header, the block's CRC/SHA-256 check and both sizes exactly as it would in the whole file.
//!
//! Memory stays bounded: a block's output goes to an unnamed temporary file as it is decoded
//! and is read from there in order, so what is held is one dictionary per thread (8 MiB for
//! Debian's indexes) and a few buffers, never a block's output. Threads stay at most a few
//! blocks ahead of the reader.
//!
//! A file that is not one stream with at least two blocks and a well-formed index (or any
//! surprise while reading its index) is left to the one-thread decoder: the result is the
//! same bytes either way.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use oci_core::{GrowingFile, GrowingReader};

use crate::deb::ar::RangeReader;

const MAGIC: [u8; 6] = [0xfd, b'7', b'z', b'X', b'Z', 0];
const FOOTER_MAGIC: [u8; 2] = [b'Y', b'Z'];
/// The largest index read from the end of a file (Debian's have two records: 24 bytes).
const MAX_INDEX: u64 = 1 << 20;
/// Bytes a worker decodes between telling the reader about them.
const CHUNK: usize = 256 << 10;

/// One block of the file, from its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Block {
    /// Offset of the block header in the file.
    offset: u64,
    /// Block header + compressed data + check, without the padding.
    unpadded: u64,
    uncompressed: u64,
}

/// The layout of a single-stream `.xz` file: its stream header and blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Layout {
    header: [u8; 12],
    blocks: Vec<Block>,
}

/// A reader of the decompressed bytes of the `.xz` `file`, on `threads` threads, or `None`
/// when the file is not one stream of at least two blocks (decompress it on one thread
/// then). `limit` bounds the total the index may announce (refused above it, as the
/// one-thread decoder would be once it got there).
pub(crate) fn parallel_reader(file: File, threads: usize, limit: u64) -> io::Result<Option<ParallelXz>> {
    let Some(layout) = read_layout(&file)? else { return Ok(None) };
    if layout.blocks.len() < 2 || threads < 2 {
        return Ok(None);
    }
    let total: u64 = layout.blocks.iter().map(|b| b.uncompressed).sum();
    if total > limit {
        return Err(io::Error::other(format!(
            "its index announces {total} bytes of decompressed data, more than the {limit} expected"
        )));
    }
    Ok(Some(ParallelXz::start(Arc::new(file), layout, threads)))
}

/// Reads the variable-length integer of the `.xz` format at `*pos`.
fn vli(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..9 {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            // A multi-byte integer never ends with a zero byte.
            return (i == 0 || byte != 0).then_some(value);
        }
    }
    None
}

fn put_vli(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn crc32(bytes: &[u8]) -> [u8; 4] {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum().to_le_bytes()
}

fn round4(n: u64) -> u64 {
    n.div_ceil(4) * 4
}

/// The stream header and blocks of `file` when it is exactly one stream with no padding
/// and a valid index, else `None`.
fn read_layout(file: &File) -> io::Result<Option<Layout>> {
    let len = file.metadata()?.len();
    if len < 32 {
        return Ok(None);
    }
    let mut header = [0u8; 12];
    file.read_exact_at(&mut header, 0)?;
    let mut footer = [0u8; 12];
    file.read_exact_at(&mut footer, len - 12)?;
    if header[..6] != MAGIC
        || crc32(&header[6..8]) != header[8..12]
        || footer[10..] != FOOTER_MAGIC
        || crc32(&footer[4..10]) != footer[..4]
        || footer[8..10] != header[6..8]
    {
        return Ok(None);
    }
    let index_size = (u64::from(u32::from_le_bytes([footer[4], footer[5], footer[6], footer[7]])) + 1) * 4;
    if index_size > MAX_INDEX || index_size + 24 > len {
        return Ok(None);
    }
    let index_at = len - 12 - index_size;
    let mut index = vec![0u8; index_size as usize];
    file.read_exact_at(&mut index, index_at)?;
    let body = index.len() - 4;
    if index[0] != 0 || crc32(&index[..body]) != index[body..] {
        return Ok(None);
    }
    let mut pos = 1;
    let Some(count) = vli(&index[..body], &mut pos) else { return Ok(None) };
    let mut blocks = Vec::new();
    let mut offset = 12u64;
    for _ in 0..count {
        let (Some(unpadded), Some(uncompressed)) = (vli(&index[..body], &mut pos), vli(&index[..body], &mut pos))
        else {
            return Ok(None);
        };
        if unpadded < 5 || offset.checked_add(round4(unpadded)).is_none_or(|end| end > index_at) {
            return Ok(None);
        }
        blocks.push(Block { offset, unpadded, uncompressed });
        offset += round4(unpadded);
    }
    // Padding to a multiple of four, zeros; the blocks end where the index starts.
    if round4(pos as u64) as usize != body || index[pos..body].iter().any(|&b| b != 0) || offset != index_at {
        return Ok(None);
    }
    Ok(Some(Layout { header, blocks }))
}

/// The index and stream footer of a stream holding `block` alone, with the stream flags
/// of `header`.
fn one_block_tail(block: &Block, header: &[u8; 12]) -> Vec<u8> {
    let mut index = vec![0u8];
    put_vli(&mut index, 1);
    put_vli(&mut index, block.unpadded);
    put_vli(&mut index, block.uncompressed);
    while index.len() % 4 != 0 {
        index.push(0);
    }
    let crc = crc32(&index);
    index.extend_from_slice(&crc);
    let mut footer = Vec::with_capacity(12);
    footer.extend_from_slice(&[0; 4]);
    footer.extend_from_slice(&((index.len() as u32 / 4) - 1).to_le_bytes());
    footer.extend_from_slice(&header[6..8]);
    let crc = crc32(&footer[4..10]);
    footer[..4].copy_from_slice(&crc);
    footer.extend_from_slice(&FOOTER_MAGIC);
    index.extend_from_slice(&footer);
    index
}

/// Which blocks the threads have taken and where the reader is, so threads stay a few
/// blocks ahead of it.
struct State {
    /// The next block no thread has taken.
    next: usize,
    /// The block the reader is on.
    reading: usize,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    stop: AtomicBool,
    /// Each block's output, written by the thread that took it.
    blocks: Vec<Arc<GrowingFile>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The decompressed bytes of a multi-block `.xz` file, in order, its blocks decoded on
/// threads of their own (see the module). Dropping it stops the threads and waits for them.
pub(crate) struct ParallelXz {
    shared: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// The block being read and its reader.
    block: usize,
    reader: Option<GrowingReader>,
}

impl ParallelXz {
    fn start(file: Arc<File>, layout: Layout, threads: usize) -> ParallelXz {
        let count = layout.blocks.len();
        let shared = Arc::new(Shared {
            state: Mutex::new(State { next: 0, reading: 0 }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            blocks: (0..count).map(|_| Arc::new(GrowingFile::default())).collect(),
        });
        let layout = Arc::new(layout);
        let ahead = threads + 1;
        let mut handles = Vec::new();
        for _ in 0..threads.min(count) {
            let (mine, file, layout) = (Arc::clone(&shared), Arc::clone(&file), Arc::clone(&layout));
            let spawned =
                std::thread::Builder::new().name("xz".into()).spawn(move || worker(&mine, &file, &layout, ahead));
            match spawned {
                Ok(h) => handles.push(h),
                // No thread at all: the reader reports it on the first block.
                Err(e) if handles.is_empty() => shared.blocks[0].finish(Err(e.to_string())),
                Err(_) => {}
            }
        }
        let reader = Some(shared.blocks[0].reader());
        ParallelXz { shared, threads: handles, block: 0, reader }
    }
}

/// Ends a block's output when its thread leaves it, whatever happens: a reader never waits
/// for a block no thread works on (the first end counts).
struct Ended<'a>(&'a GrowingFile);

impl Drop for Ended<'_> {
    fn drop(&mut self) {
        self.0.finish(Err("its decoding thread stopped".into()));
    }
}

fn worker(shared: &Shared, file: &File, layout: &Layout, ahead: usize) {
    loop {
        let k = {
            let mut state = shared.lock();
            loop {
                if shared.stop.load(Ordering::Relaxed) || state.next >= shared.blocks.len() {
                    return;
                }
                if state.next < state.reading + ahead {
                    break;
                }
                state = shared.changed.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            state.next += 1;
            state.next - 1
        };
        let output = &shared.blocks[k];
        let _ended = Ended(output);
        let result = tempfile::tempfile().and_then(|out| {
            output.start(out.try_clone()?);
            decode_block(shared, file, layout, k, out)
        });
        output.finish(result.map_err(|e| e.to_string()));
    }
}

/// Decodes block `k` into `out`, telling the reader as output arrives.
fn decode_block(shared: &Shared, file: &File, layout: &Layout, k: usize, mut out: File) -> io::Result<()> {
    let block = &layout.blocks[k];
    let stream = io::Cursor::new(layout.header)
        .chain(RangeReader::new(file, block.offset, round4(block.unpadded)))
        .chain(io::Cursor::new(one_block_tail(block, &layout.header)));
    let mut decoder = liblzma::read::XzDecoder::new(stream);
    let mut buf = vec![0u8; CHUNK];
    let mut written = 0u64;
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return Err(io::Error::other("stopped"));
        }
        let mut n = 0;
        while n < CHUNK {
            match decoder.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if n == 0 {
            return Ok(());
        }
        out.write_all(&buf[..n])?;
        written += n as u64;
        shared.blocks[k].advance(written);
    }
}

impl Read for ParallelXz {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let count = self.shared.blocks.len();
        while let Some(reader) = &mut self.reader {
            match reader.read(buf) {
                Ok(0) => {
                    // This block is done: on to the next, and the threads may go further.
                    self.block += 1;
                    self.reader = self.shared.blocks.get(self.block).map(|b| b.reader());
                    self.shared.lock().reading = self.block;
                    self.shared.changed.notify_all();
                }
                Ok(n) => return Ok(n),
                Err(e) => return Err(io::Error::new(e.kind(), format!("block {} of {count}: {e}", self.block + 1))),
            }
        }
        Ok(0)
    }
}

impl Drop for ParallelXz {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.changed.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `data` compressed by the xz tool in blocks of `block` bytes, as Debian's archive
    /// software does.
    fn xz_blocks(data: &[u8], block: usize) -> Vec<u8> {
        let mut child = std::process::Command::new("xz")
            .args(["-z", "-c", "-T1", &format!("--block-size={block}")])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("xz");
        let mut stdin = child.stdin.take().unwrap();
        let data = data.to_vec();
        let feeder = std::thread::spawn(move || stdin.write_all(&data));
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap().unwrap();
        assert!(out.status.success());
        out.stdout
    }

    fn text(len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        let mut i = 0u64;
        while out.len() < len {
            out.extend_from_slice(format!("Package: p{i}\nVersion: {}.{}\n\n", i % 7, i * 31 % 1000).as_bytes());
            i += 1;
        }
        out.truncate(len);
        out
    }

    fn file_of(bytes: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    #[test]
    fn blocks_decode_to_the_same_bytes_on_several_threads() {
        let data = text(3 << 20);
        let packed = xz_blocks(&data, 300_000);
        let layout = read_layout(&file_of(&packed)).unwrap().expect("one stream");
        assert_eq!(layout.blocks.len(), 11);
        assert_eq!(layout.blocks.iter().map(|b| b.uncompressed).sum::<u64>(), data.len() as u64);
        for threads in [2, 3, 8] {
            let mut got = Vec::new();
            parallel_reader(file_of(&packed), threads, u64::MAX)
                .unwrap()
                .expect("several blocks")
                .read_to_end(&mut got)
                .unwrap();
            assert!(got == data, "{threads} threads gave other bytes");
        }
    }

    #[test]
    fn one_block_or_not_xz_is_left_to_one_thread() {
        let data = text(100_000);
        assert!(parallel_reader(file_of(&xz_blocks(&data, 1 << 20)), 2, u64::MAX).unwrap().is_none());
        assert!(parallel_reader(file_of(&data), 2, u64::MAX).unwrap().is_none());
        // Two streams one after the other: left to the multi-stream decoder.
        let mut two = xz_blocks(&data, 30_000);
        two.extend(xz_blocks(&data, 30_000));
        assert!(parallel_reader(file_of(&two), 2, u64::MAX).unwrap().is_none());
    }

    #[test]
    fn a_damaged_block_or_a_lying_index_is_an_error() {
        let data = text(1 << 20);
        let packed = xz_blocks(&data, 200_000);
        let layout = read_layout(&file_of(&packed)).unwrap().unwrap();
        // A byte inside the third block's compressed data.
        let mut bad = packed.clone();
        let at = (layout.blocks[2].offset + layout.blocks[2].unpadded / 2) as usize;
        bad[at] ^= 0x55;
        let err = parallel_reader(file_of(&bad), 2, u64::MAX).unwrap().unwrap().read_to_end(&mut Vec::new());
        assert!(err.unwrap_err().to_string().contains("block 3 of"), "names the block");
        // An index that claims one more byte in the first block (CRC recomputed).
        let len = packed.len();
        let footer = &packed[len - 12..];
        let index_size = (u32::from_le_bytes(footer[4..8].try_into().unwrap()) as usize + 1) * 4;
        let mut lying = packed.clone();
        let index = len - 12 - index_size;
        let mut pos = index + 1;
        vli(&lying, &mut pos).unwrap(); // the number of records
        vli(&lying, &mut pos).unwrap(); // the first block's unpadded size
        let start = pos;
        let uncompressed = vli(&lying, &mut pos).unwrap();
        let mut bumped = Vec::new();
        put_vli(&mut bumped, uncompressed + 1);
        assert_eq!(bumped.len(), pos - start, "same width");
        lying[start..pos].copy_from_slice(&bumped);
        let crc = crc32(&lying[index..len - 16]);
        lying[len - 16..len - 12].copy_from_slice(&crc);
        let err = parallel_reader(file_of(&lying), 2, u64::MAX).unwrap().unwrap().read_to_end(&mut Vec::new());
        assert!(err.is_err(), "a size the block does not have is refused");
        // More than the caller expects, before anything is decoded.
        let err = parallel_reader(file_of(&packed), 2, 1000).err().expect("over the limit");
        assert!(err.to_string().contains("more than the 1000 expected"), "{err}");
    }

    #[test]
    fn dropping_the_reader_midway_stops_the_threads() {
        let data = text(4 << 20);
        let packed = xz_blocks(&data, 100_000);
        let mut r = parallel_reader(file_of(&packed), 2, u64::MAX).unwrap().unwrap();
        let mut first = vec![0u8; 1000];
        r.read_exact(&mut first).unwrap();
        assert_eq!(first, data[..1000]);
        drop(r); // joins: a hang here fails the test by timeout
    }
}
