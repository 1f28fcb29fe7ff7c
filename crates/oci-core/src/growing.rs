//! A file being written by one party and read by others as far as it is written: a blob
//! read while it downloads (`registry/feed.rs`), a block of a large `.xz` index read while
//! another thread decodes it (hardener's `apt/xz.rs`).
//!
//! The writer says where the bytes go ([`GrowingFile::start`], again when it starts over
//! from the first byte), how many are there to read ([`GrowingFile::advance`], after a
//! flush) and how it ended ([`GrowingFile::finish`]); a [`GrowingReader`] reads what is
//! there and waits for more until the end, which it reports as the end of the stream or as
//! the writer's error.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Where a file being written stands, shared by its writer and readers.
#[derive(Debug, Default)]
pub struct GrowingFile {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// The file being written (a descriptor of it of our own).
    file: Option<Arc<File>>,
    /// Bytes of `file` readers may read.
    written: u64,
    /// The writer's end: `Ok` when every byte is there, else why not.
    done: Option<std::result::Result<(), String>>,
}

impl GrowingFile {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The writer (re)starts writing into `file`, from its first byte.
    pub fn start(&self, file: File) {
        let mut s = self.lock();
        s.file = Some(Arc::new(file));
        s.written = 0;
        self.changed.notify_all();
    }

    /// The first `written` bytes of the file are written (flushed).
    pub fn advance(&self, written: u64) {
        self.lock().written = written;
        self.changed.notify_all();
    }

    /// The writer ended: every byte is there (`Ok`), or it failed with that reason. The
    /// first call counts.
    pub fn finish(&self, result: std::result::Result<(), String>) {
        let mut s = self.lock();
        if s.done.is_none() {
            s.done = Some(result);
        }
        self.changed.notify_all();
    }

    /// A reader from the first byte.
    pub fn reader(self: &Arc<Self>) -> GrowingReader {
        GrowingReader { file: Arc::clone(self), pos: 0 }
    }
}

/// Reads a [`GrowingFile`] as it is written, waiting for bytes not yet there.
#[derive(Debug)]
pub struct GrowingReader {
    file: Arc<GrowingFile>,
    pos: u64,
}

impl Read for GrowingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut s = self.file.lock();
        loop {
            if self.pos < s.written
                && let Some(file) = s.file.clone()
            {
                let n = buf.len().min(usize::try_from(s.written - self.pos).unwrap_or(usize::MAX));
                drop(s);
                let n = file.read_at(&mut buf[..n], self.pos)?;
                if n == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file being written is shorter"));
                }
                self.pos += n as u64;
                return Ok(n);
            }
            match &s.done {
                Some(Ok(())) => return Ok(0),
                Some(Err(reason)) => return Err(io::Error::other(reason.clone())),
                None => s = self.file.changed.wait(s).unwrap_or_else(std::sync::PoisonError::into_inner),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_reader_follows_the_writer_and_its_restart() {
        let growing = Arc::new(GrowingFile::default());
        let mut reader = growing.reader();
        let mut first = tempfile::tempfile().unwrap();
        growing.start(first.try_clone().unwrap());
        let writer = {
            let growing = Arc::clone(&growing);
            std::thread::spawn(move || {
                first.write_all(b"hello ").unwrap();
                growing.advance(6);
                std::thread::sleep(std::time::Duration::from_millis(20));
                // Restarted from the first byte into another file, same content.
                let mut second = tempfile::tempfile().unwrap();
                growing.start(second.try_clone().unwrap());
                second.write_all(b"hello world").unwrap();
                growing.advance(11);
                growing.finish(Ok(()));
            })
        };
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        writer.join().unwrap();
        assert_eq!(got, b"hello world");
    }

    #[test]
    fn a_failed_writer_fails_its_readers_and_the_first_end_counts() {
        let growing = Arc::new(GrowingFile::default());
        let mut reader = growing.reader();
        let waiting = {
            let mut reader = growing.reader();
            std::thread::spawn(move || reader.read(&mut [0u8; 4]).map_err(|e| e.to_string()))
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        growing.finish(Err("HTTP 500".into()));
        assert_eq!(waiting.join().unwrap(), Err("HTTP 500".into()), "a waiting reader is woken");
        growing.finish(Ok(()));
        assert_eq!(reader.read(&mut [0u8; 4]).unwrap_err().to_string(), "HTTP 500");
    }
}
