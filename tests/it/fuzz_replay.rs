//! The fuzz targets (`fuzz/`, issue 11) replayed on their seed corpora: every target's body
//! (`fuzz/src/targets.rs`, shared with the libFuzzer build) runs on every file of
//! `fuzz/seeds/TARGET/` and on the real files `fuzz/run.sh` adds to its corpora (the
//! repository's rule files, the fixtures), with the same assertions the fuzzer checks. This
//! is CI's short
//! form of the fuzzing (no mutation: `fuzz/run.sh SECONDS` fuzzes); it keeps the targets
//! building with the product and every seed — including each crash found, kept as a seed —
//! passing.

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code, missing_docs, reason = "the fuzz crate's helpers, compiled here for the replay")]
mod fuzz_lib;

use std::path::{Path, PathBuf};

use crate::harness::fixture;

/// The real files `fuzz/run.sh` seeds a target with besides its committed seeds, and the
/// bytes put in front of each (a target's mode byte).
fn real_seeds(target: &str, root: &Path) -> (Vec<PathBuf>, &'static [u8]) {
    let files_in = |dir: PathBuf| -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
        files.sort();
        files
    };
    match target {
        "rules" => (
            files_in(root.join("crates/hardener/rules"))
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect(),
            b"",
        ),
        "dpkg_status" => (files_in(fixture("dpkg/osv-scalibr-dpkg")), b""),
        "apk_installed" => (files_in(fixture("dpkg/alpine-minirootfs-apk-installed")), b""),
        "advisories" => (files_in(fixture("advisories/osv")), b""),
        "manifest" => (vec![fixture("images/busybox-v2s2/manifest.json")], b""),
        "config" => (vec![fixture("images/busybox-v2s2/config.json")], b""),
        "trivy_report" => (vec![fixture("advisories/trivy-report/trivy_valid.json")], b""),
        "docker_archive" => {
            (vec![fixture("ggcr-mutate/overwritten_file.tar"), fixture("ggcr-mutate/whiteout_dir.tar")], b"")
        }
        "merged_fs" => (vec![fixture("regclient-layers/layer.tar"), fixture("regclient-layers/layer-wh.tar")], b"\0"),
        _ => (Vec::new(), b""),
    }
}

#[test]
fn every_fuzz_target_passes_on_every_seed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let seeds = root.join("fuzz/seeds");
    let mut replayed = Vec::new();
    for (name, run) in fuzz_lib::targets::TARGETS {
        let dir = seeds.join(name);
        let mut files: Vec<(PathBuf, &[u8])> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries.map(|e| (e.unwrap().path(), &b""[..])).collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        let (real, prefix) = real_seeds(name, root);
        files.extend(real.into_iter().map(|p| (p, prefix)));
        assert!(!files.is_empty(), "target {name} has no seeds");
        for (file, prefix) in &files {
            let mut bytes = prefix.to_vec();
            bytes.extend(std::fs::read(file).unwrap());
            if std::panic::catch_unwind(|| run(&bytes)).is_err() {
                panic!("fuzz target {name} fails on its seed {}", file.display());
            }
        }
        replayed.push((*name, files.len()));
    }
    // Every target of fuzz/fuzz_targets is in the table.
    let mut on_disk: Vec<String> = std::fs::read_dir(seeds.parent().unwrap().join("fuzz_targets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<&str> = replayed.iter().map(|(n, _)| *n).collect();
    listed.sort();
    assert_eq!(listed, on_disk);
}
