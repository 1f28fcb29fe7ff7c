//! Where blobs were last seen: which repositories of which registries hold each digest,
//! remembered in the blob cache so a later push can mount instead of upload (like
//! skopeo's blob-info cache).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use crate::{Digest, ImageName, OciLayout};

const FILE: &str = ".oci-harden-blob-locations";
/// Most repositories remembered per digest (the latest win).
const PER_DIGEST: usize = 8;

/// A digest → `registry/repository` memory, appended to by concurrent processes safely
/// (one short `O_APPEND` write per line).
#[derive(Debug)]
pub(crate) struct BlobLocations {
    path: PathBuf,
    seen: Mutex<HashMap<Digest, Vec<String>>>,
}

impl BlobLocations {
    /// Loads what `cache` remembers. Unreadable or odd lines are ignored: this is a hint.
    pub(crate) fn load(cache: &OciLayout) -> BlobLocations {
        let path = cache.root().join(FILE);
        let mut seen: HashMap<Digest, Vec<String>> = HashMap::new();
        if let Ok(f) = File::open(&path) {
            for line in BufReader::new(f).lines().map_while(Result::ok) {
                let Some((d, repo)) = line.split_once(' ') else { continue };
                let Ok(d) = d.parse::<Digest>() else { continue };
                let list = seen.entry(d).or_default();
                list.retain(|r| r != repo);
                list.push(repo.to_owned());
                if list.len() > PER_DIGEST {
                    list.remove(0);
                }
            }
        }
        BlobLocations { path, seen: Mutex::new(seen) }
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

    /// Remembers that `name`'s repository holds `digest`.
    pub(crate) fn record(&self, digest: &Digest, name: &ImageName) {
        let repo = format!("{}/{}", name.registry(), name.repository());
        let mut seen = self.seen.lock().expect("not poisoned");
        let list = seen.entry(digest.clone()).or_default();
        if list.last() == Some(&repo) {
            return;
        }
        list.retain(|r| *r != repo);
        list.push(repo.clone());
        if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(&self.path) {
            let _ = f.write_all(format!("{digest} {repo}\n").as_bytes());
        }
    }
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
}
