//! Where blobs were last seen: which repositories of which registries hold each digest,
//! remembered in the blob cache so a later push can mount instead of upload (like
//! skopeo's blob-info cache).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::Mutex;

use crate::atomic::{FileMode, write_atomic};
use crate::{Digest, ImageName, OciLayout};

const FILE: &str = ".oci-harden-blob-locations";
/// Most repositories remembered per digest (the latest win).
const PER_DIGEST: usize = 8;
/// The file is a hint: past this size it is not read (and is rewritten from scratch).
const MAX_FILE_BYTES: u64 = 64 << 20;

type Seen = HashMap<Digest, Vec<String>>;

/// A digest → `registry/repository` memory. Each change rewrites the file atomically
/// under an `flock` of the cache directory, merging what other processes recorded
/// meanwhile.
#[derive(Debug)]
pub(crate) struct BlobLocations {
    root: PathBuf,
    seen: Mutex<Seen>,
}

impl BlobLocations {
    /// Loads what `cache` remembers. Unreadable or odd lines are ignored: this is a hint.
    pub(crate) fn load(cache: &OciLayout) -> BlobLocations {
        let root = cache.root().to_path_buf();
        let seen = read(&root);
        BlobLocations { root, seen: Mutex::new(seen) }
    }

    /// Repositories of `name`'s registry other than `name`'s own that hold `digest`,
    /// latest first.
    pub(crate) fn candidates(&self, digest: &Digest, name: &ImageName) -> Vec<ImageName> {
        let seen = self.seen.lock().expect("not poisoned");
        let own = format!("{}/{}", name.registry(), name.repository());
        seen.get(digest)
            .into_iter()
            .flatten()
            .rev()
            .filter(|r| **r != own && r.starts_with(&format!("{}/", name.registry())))
            .filter_map(|r| r.parse::<ImageName>().ok())
            .collect()
    }

    /// Remembers that `name`'s repository holds `digest`. Failures are ignored: this is a
    /// hint, and a push must not fail for it.
    pub(crate) fn record(&self, digest: &Digest, name: &ImageName) {
        let repo = format!("{}/{}", name.registry(), name.repository());
        let mut seen = self.seen.lock().expect("not poisoned");
        if seen.get(digest).and_then(|l| l.last()) == Some(&repo) {
            return;
        }
        remember(&mut seen, digest.clone(), repo.clone());
        let Ok(dir) = File::open(&self.root) else { return };
        if dir.lock().is_err() {
            return;
        }
        let mut on_disk = read(&self.root);
        remember(&mut on_disk, digest.clone(), repo);
        let _ = write_atomic(self.root.join(FILE), &serialise(&on_disk), FileMode::Public);
    }
}

/// Adds `repo` as the latest holder of `digest`.
fn remember(seen: &mut Seen, digest: Digest, repo: String) {
    let list = seen.entry(digest).or_default();
    list.retain(|r| *r != repo);
    list.push(repo);
    if list.len() > PER_DIGEST {
        list.remove(0);
    }
}

fn read(root: &std::path::Path) -> Seen {
    let mut seen = Seen::new();
    if let Ok(f) = File::open(root.join(FILE)) {
        for line in BufReader::new(f.take(MAX_FILE_BYTES)).lines().map_while(Result::ok) {
            let Some((d, repo)) = line.split_once(' ') else { continue };
            let Ok(d) = d.parse::<Digest>() else { continue };
            remember(&mut seen, d, repo.to_owned());
        }
    }
    seen
}

/// One `digest repository` line per holder, oldest first, digests sorted (deterministic).
fn serialise(seen: &Seen) -> Vec<u8> {
    let mut digests: Vec<&Digest> = seen.keys().collect();
    digests.sort_by_key(|d| d.to_string());
    let mut out = String::new();
    for d in digests {
        for repo in &seen[d] {
            out.push_str(&format!("{d} {repo}\n"));
        }
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_across_loads_and_filters_by_registry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = OciLayout::create(dir.path()).unwrap();
        let d = Digest::sha256(b"x");
        let a: ImageName = "r.example/team/a".parse().unwrap();
        let b: ImageName = "r.example/team/b".parse().unwrap();
        let other: ImageName = "other.example/team/a".parse().unwrap();
        let locations = BlobLocations::load(&cache);
        locations.record(&d, &a);
        locations.record(&d, &other);
        let again = BlobLocations::load(&cache);
        let found = again.candidates(&d, &b);
        assert_eq!(found.iter().map(ToString::to_string).collect::<Vec<_>>(), ["r.example/team/a"]);
        assert!(again.candidates(&d, &a).is_empty(), "its own repository is no mount source");
    }

    #[test]
    fn two_writers_keep_each_others_records() {
        let dir = tempfile::tempdir().unwrap();
        let cache = OciLayout::create(dir.path()).unwrap();
        let (d1, d2) = (Digest::sha256(b"1"), Digest::sha256(b"2"));
        let a: ImageName = "r.example/a".parse().unwrap();
        let b: ImageName = "r.example/b".parse().unwrap();
        let first = BlobLocations::load(&cache);
        let second = BlobLocations::load(&cache);
        first.record(&d1, &a);
        second.record(&d2, &b);
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        let mut want = [format!("{d1} r.example/a"), format!("{d2} r.example/b")];
        want.sort();
        assert_eq!(text, format!("{}\n{}\n", want[0], want[1]));
        let leftovers = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(".oci-harden-tmp-"))
            .count();
        assert_eq!(leftovers, 0);
    }
}
