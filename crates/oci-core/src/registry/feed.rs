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
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::growing::GrowingFile;
use crate::image::BlobSource;
use crate::{Descriptor, Digest, Result};

/// Where one blob's download stands, shared by the download and its readers: the cache's
/// temporary file as a [`GrowingFile`], and whether to go on.
#[derive(Debug, Default)]
pub(crate) struct Feed {
    file: Arc<GrowingFile>,
    /// Set when a reader opened the blob.
    opened: AtomicBool,
    /// Set when the download should stop: nothing will read the blob.
    stopped: AtomicBool,
}

impl Feed {
    /// The download (re)starts writing into `file`, from its first byte.
    pub(crate) fn start(&self, file: File) {
        self.file.start(file);
    }

    /// The first `written` bytes of the file are written (flushed).
    pub(crate) fn advance(&self, written: u64) {
        self.file.advance(written);
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
        self.file.finish(result);
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
        Ok(Box::new(feed.file.reader()))
    }

    fn name(&self) -> String {
        self.name.clone()
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
        let mut reader = feed.file.reader();
        drop(FinishAll(&feeds, "the download stopped: HTTP 500".into()));
        let err = reader.read(&mut [0u8; 10]).unwrap_err();
        assert_eq!(err.to_string(), "the download stopped: HTTP 500");
        // The first end counts.
        feed.finish(Ok(()));
        assert!(reader.read(&mut [0u8; 10]).is_err());
    }
}
