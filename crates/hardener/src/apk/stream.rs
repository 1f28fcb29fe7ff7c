//! The raw bytes under apk's gzip streams: a buffered reader that digests and counts exactly
//! the compressed bytes a decoder consumes, so that each gzip member's own bytes can be
//! hashed (the signed control stream, the `C:` identity, `datahash`) while it is decoded.

use std::io::{self, BufRead, Read};

use super::SignedHasher;

/// Buffer size of the reader under the decoders.
pub(crate) const BUF: usize = 64 * 1024;

/// A [`BufRead`] passing through `inner`, feeding every consumed byte to its hashers.
pub(crate) struct Tap<R> {
    inner: R,
    /// The digests being computed over the consumed bytes.
    pub(crate) hashers: Vec<SignedHasher>,
    /// The bytes consumed since the last [`Tap::reset`].
    pub(crate) count: u64,
}

impl<R: BufRead> Tap<R> {
    pub(crate) fn new(inner: R) -> Tap<R> {
        Tap { inner, hashers: Vec::new(), count: 0 }
    }

    /// Starts a new stretch: the previous hashers are returned with the byte count.
    pub(crate) fn reset(&mut self, hashers: Vec<SignedHasher>) -> (Vec<SignedHasher>, u64) {
        let old = std::mem::replace(&mut self.hashers, hashers);
        (old, std::mem::take(&mut self.count))
    }

    /// Whether the underlying stream is at its end.
    pub(crate) fn at_end(&mut self) -> io::Result<bool> {
        Ok(self.inner.fill_buf()?.is_empty())
    }
}

impl<R: BufRead> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Tap<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if amt > 0 {
            // The buffer holds at least `amt` bytes (they were just returned by fill_buf), so
            // this returns them without reading.
            if let Ok(buf) = self.inner.fill_buf() {
                let seen = &buf[..amt.min(buf.len())];
                for h in &mut self.hashers {
                    h.update(seen);
                }
            }
            self.count += amt as u64;
        }
        self.inner.consume(amt);
    }
}

/// Decodes one gzip member from `tap` (leaving `tap` just after its trailer) and hands the
/// decoded bytes to `read`, then drains what `read` left so the whole member is consumed.
pub(crate) fn with_member<R: BufRead, T>(
    tap: &mut Tap<R>,
    read: impl FnOnce(&mut dyn Read) -> io::Result<T>,
) -> io::Result<T> {
    let mut decoder = flate2::bufread::GzDecoder::new(tap);
    let out = read(&mut decoder)?;
    io::copy(&mut decoder, &mut io::sink())?;
    Ok(out)
}
