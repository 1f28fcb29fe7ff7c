//! Layers read while they download: a blob on its way into the cache can be read by a
//! consumer (the index pass of a merged filesystem) from the temporary file it is written
//! to, as far as it is written, so decompression overlaps the transfer instead of
//! following it ([`crate::Session::open_streaming`]).
//!
//! Nothing is trusted sooner than before: the consumer verifies the bytes it reads against
//! the descriptor's digest as it always does ([`crate::VerifyingReader`] under
//! [`crate::Image::open_layer`]), and the blob enters the cache only once the download has
//! checked the whole of it. A transfer resumed or restarted goes on feeding the same
//! reader: the bytes are the same by their digest, and any that are not fail the
//! consumer's check.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::image::BlobSource;
use crate::{Descriptor, Digest, Result};

/// Where one blob's download stands, shared by the download and its readers.
#[derive(Debug, Default)]
pub(crate) struct Feed {
    state: Mutex<FeedState>,
    changed: Condvar,
    /// Set when a reader opened the blob.
    opened: AtomicBool,
    /// Set when the download should stop: nothing will read the blob.
    stopped: AtomicBool,
}

#[derive(Debug, Default)]
struct FeedState {
    /// The file being written (a duplicate descriptor of the cache's temporary file).
    file: Option<Arc<File>>,
    /// Bytes in `file` that readers may read.
    written: u64,
    /// The download's end: `Ok` when the blob is in the cache, else why not.
    done: Option<std::result::Result<(), String>>,
}

impl Feed {
    fn lock(&self) -> MutexGuard<'_, FeedState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The download (re)starts writing into `file`, from its first byte.
    pub(crate) fn start(&self, file: File) {
        let mut s = self.lock();
        s.file = Some(Arc::new(file));
        s.written = 0;
        self.changed.notify_all();
    }

    /// The first `written` bytes of the file are written (flushed).
    pub(crate) fn advance(&self, written: u64) {
        self.lock().written = written;
        self.changed.notify_all();
    }

    /// Asks the download to stop when no reader has opened the blob (the work that would
    /// read it failed); a blob being read is left to finish, so that its own error, if any,
    /// is known.
    pub(crate) fn stop_if_unread(&self) {
        if !self.opened.load(Ordering::SeqCst) {
            self.stopped.store(true, Ordering::SeqCst);
        }
    }

    /// Whether the download should stop.
    pub(crate) fn stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// The download ended: the blob is in the cache (`Ok`), or failed. The first call
    /// counts.
    pub(crate) fn finish(&self, result: std::result::Result<(), String>) {
        let mut s = self.lock();
        if s.done.is_none() {
            s.done = Some(result);
        }
        self.changed.notify_all();
    }
}

/// Blobs being downloaded, by digest, read as they arrive.
#[derive(Debug, Default)]
pub(crate) struct FeedBlobs {
    pub(crate) feeds: HashMap<Digest, Arc<Feed>>,
    pub(crate) name: String,
}

impl BlobSource for FeedBlobs {
    fn open_blob(&self, descriptor: &Descriptor) -> Result<Box<dyn Read + Send>> {
        let Some(feed) = self.feeds.get(&descriptor.digest) else {
            return Err(crate::Error::Invalid {
                what: format!("blob {}", descriptor.digest),
                reason: format!("neither in the cache nor being fetched from {}", self.name),
            });
        };
        feed.opened.store(true, Ordering::SeqCst);
        Ok(Box::new(FeedReader { feed: Arc::clone(feed), pos: 0 }))
    }

    fn name(&self) -> String {
        self.name.clone()
    }
}

/// Reads a blob as its download writes it, waiting for bytes not yet there.
struct FeedReader {
    feed: Arc<Feed>,
    pos: u64,
}

impl Read for FeedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut s = self.feed.lock();
        loop {
            if self.pos < s.written
                && let Some(file) = s.file.clone()
            {
                let n = buf.len().min(usize::try_from(s.written - self.pos).unwrap_or(usize::MAX));
                drop(s);
                let n = file.read_at(&mut buf[..n], self.pos)?;
                if n == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the download's file is shorter"));
                }
                self.pos += n as u64;
                return Ok(n);
            }
            match &s.done {
                Some(Ok(())) => return Ok(0),
                Some(Err(reason)) => return Err(io::Error::other(reason.clone())),
                None => s = self.feed.changed.wait(s).unwrap_or_else(std::sync::PoisonError::into_inner),
            }
        }
    }
}

/// Ends every feed not ended yet with `reason` when dropped: a reader never waits for a
/// download that stopped (an error elsewhere, a panic).
pub(crate) struct FinishAll<'a>(pub(crate) &'a HashMap<Digest, Arc<Feed>>, pub(crate) String);

impl Drop for FinishAll<'_> {
    fn drop(&mut self) {
        for feed in self.0.values() {
            feed.finish(Err(self.1.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_reader_follows_the_download_and_its_restart() {
        let feed = Arc::new(Feed::default());
        let mut reader = FeedReader { feed: Arc::clone(&feed), pos: 0 };
        let mut first = tempfile::tempfile().unwrap();
        feed.start(first.try_clone().unwrap());
        let writer = {
            let feed = Arc::clone(&feed);
            std::thread::spawn(move || {
                first.write_all(b"hello ").unwrap();
                feed.advance(6);
                std::thread::sleep(std::time::Duration::from_millis(20));
                // Restarted from the first byte into another file, same content.
                let mut second = tempfile::tempfile().unwrap();
                feed.start(second.try_clone().unwrap());
                second.write_all(b"hello world").unwrap();
                feed.advance(11);
                feed.finish(Ok(()));
            })
        };
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        writer.join().unwrap();
        assert_eq!(got, b"hello world");
    }

    #[test]
    fn only_downloads_nobody_reads_are_stopped() {
        let digest = |c: char| format!("sha256:{}", c.to_string().repeat(64)).parse::<Digest>().unwrap();
        let (read, unread) = (Arc::new(Feed::default()), Arc::new(Feed::default()));
        let blobs = FeedBlobs {
            feeds: HashMap::from([(digest('a'), Arc::clone(&read)), (digest('b'), Arc::clone(&unread))]),
            name: "r/x".into(),
        };
        let desc = Descriptor::new(crate::MediaType::OciLayerGzip, digest('a'), 1);
        let _reader = blobs.open_blob(&desc).unwrap();
        read.stop_if_unread();
        unread.stop_if_unread();
        assert!(!read.stopped(), "a blob being read is left to finish");
        assert!(unread.stopped());
    }

    #[test]
    fn a_failed_or_abandoned_download_fails_the_reader() {
        let feed = Arc::new(Feed::default());
        let feeds = HashMap::from([("sha256:".to_owned() + &"a".repeat(64))
            .parse::<Digest>()
            .map(|d| (d, feed.clone()))
            .unwrap()]);
        let mut reader = FeedReader { feed: Arc::clone(&feed), pos: 0 };
        drop(FinishAll(&feeds, "the download stopped: HTTP 500".into()));
        let err = reader.read(&mut [0u8; 10]).unwrap_err();
        assert_eq!(err.to_string(), "the download stopped: HTTP 500");
        // The first end counts.
        feed.finish(Ok(()));
        assert!(reader.read(&mut [0u8; 10]).is_err());
    }
}
