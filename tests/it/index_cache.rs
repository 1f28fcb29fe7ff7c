//! The layer index cache (issue 14) through the binary: the same results as reading every
//! layer, a damaged index ignored and written anew, `gc` removing the indexes of layers the
//! cache no longer holds.

use std::path::{Path, PathBuf};

use crate::harness::{example_layout, oci_harden, oci_ref, tempdir};

fn index_files(cache: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(cache.join("index-cache")) {
        Ok(dir) => dir.map(|e| e.expect("listing the index cache").path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn indexed_layers_give_the_same_results_and_damaged_indexes_are_rebuilt() {
    let t = tempdir();
    let cache = t.path().join("cache");
    let c = cache.to_str().expect("UTF-8 path");
    let src = oci_ref(&example_layout(), Some("3.20"));
    let ls = |extra: &[&str]| {
        let args = [&["ls", src.as_str(), "--cache", c][..], extra].concat();
        oci_harden(&args).ok().text().to_owned()
    };
    let harden = |n: usize, extra: &[&str]| {
        let dst = oci_ref(&t.path().join(format!("out-{n}")), Some("h"));
        let args =
            [&["harden", src.as_str(), dst.as_str(), "--rules", "builtin:strict", "-q", "--cache", c][..], extra]
                .concat();
        let run = oci_harden(&args).ok();
        run.text().split_whitespace().last().expect("a digest").to_owned()
    };

    let listing = ls(&["--no-index-cache"]);
    assert!(listing.lines().count() > 50 && listing.contains("etc/passwd"), "{listing}");
    assert!(index_files(&cache).is_empty(), "--no-index-cache wrote an index");
    assert_eq!(ls(&[]), listing, "the run that indexes the layer");
    let index = index_files(&cache);
    assert_eq!(index.len(), 1, "one index for the example's one layer");
    assert_eq!(ls(&[]), listing, "replayed from the index");

    // harden captures more than ls did: the layer is read again, then replayed.
    let digests = [harden(1, &["--no-index-cache"]), harden(2, &[]), harden(3, &[])];
    assert!(digests.iter().all(|d| *d == digests[0]), "{digests:?}");

    // Damage of every kind is ignored and the index written anew.
    let good = std::fs::read(&index[0]).expect("the index");
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 1;
    for (what, bytes) in
        [("a flipped byte", flipped), ("a cut", good[..good.len() / 3].to_vec()), ("nothing", Vec::new())]
    {
        std::fs::write(&index[0], &bytes).expect("damaging the index");
        assert_eq!(ls(&[]), listing, "with {what} in the index");
        let now = std::fs::read(&index[0]).expect("the index");
        let whole = now.len() > 32 && {
            let (body, trailer) = now.split_at(now.len() - 32);
            <sha2::Sha256 as sha2::Digest>::digest(body).as_slice() == trailer
        };
        assert!(now != bytes && whole, "{what}: the index was not written anew");
        assert_eq!(harden(4, &[]), digests[0], "{what}");
    }

    // The example's layer is not in the blob cache (it is read from its layout), and gc
    // with no grace removes the hardened layers' blobs: it removes their indexes too.
    let indexes = index_files(&cache).len();
    assert!(indexes >= 1);
    let gc = oci_harden(&["gc", c, "--grace", "0", "--format", "json"]).ok().json();
    assert_eq!(gc["indexesRemoved"], indexes, "{gc}");
    assert!(index_files(&cache).is_empty());
}
