//! Criterion benchmarks of version parsing and ordering: the inner loop of advisory
//! matching, which compares every installed package with the fixed versions of every
//! advisory about its source package (tens of thousands of comparisons per image, each on
//! strings read from the package database and the advisory feed).
//!
//! The inputs are real: the version pairs of the vector files in
//! `tests/fixtures/versions/` (osv-scalibr's Debian and Alpine package histories, dpkg's
//! own cases), so the mix of lengths, epochs, revisions and suffixes is the archives' one.

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use std::hint::black_box;
use std::str::FromStr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hardener::{ApkVersion, DpkgVersion};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/versions/");

/// The `(a, b)` pairs of `a <op> b` and `a b result` lines whose versions are both valid.
fn pairs<T: FromStr>(files: &[&str]) -> Vec<(T, T)> {
    let mut pairs = Vec::new();
    for file in files {
        let path = format!("{FIXTURES}{file}");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        for line in text.lines().map(|l| l.split('#').next().unwrap_or_default()) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (a, b) = match fields[..] {
                [a, "<" | "=" | ">", b] | [a, b, "-1" | "0" | "1"] => (a, b),
                _ => continue,
            };
            if let (Ok(a), Ok(b)) = (a.parse(), b.parse()) {
                pairs.push((a, b));
            }
        }
    }
    assert!(pairs.len() > 10_000, "{} version pairs in {files:?}", pairs.len());
    pairs
}

fn bench_scheme<T: FromStr + Ord + ToString>(c: &mut Criterion, name: &str, files: &[&str]) {
    let pairs: Vec<(T, T)> = pairs(files);
    let strings: Vec<String> = pairs.iter().flat_map(|(a, b)| [a.to_string(), b.to_string()]).collect();
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(pairs.len() as u64));
    g.bench_function("compare", |bench| {
        bench.iter(|| pairs.iter().filter(|(a, b)| black_box(a) < black_box(b)).count())
    });
    g.throughput(Throughput::Elements(strings.len() as u64));
    g.bench_function("parse", |bench| {
        bench.iter(|| strings.iter().filter(|s| black_box(s.as_str()).parse::<T>().is_ok()).count())
    });
    g.finish();
}

/// Debian versions (14,515 pairs): comparisons and parses per second. A comparison is
/// dpkg's `verrevcmp` on the upstream version and then the revision, one pass over the
/// bytes with no allocation, the same loop as dpkg's C; a parse copies the string once.
fn dpkg(c: &mut Criterion) {
    let files =
        ["osv-scalibr/debian-versions.txt", "osv-scalibr/debian-versions-generated.txt", "dpkg-Dpkg_Version.data"];
    bench_scheme::<DpkgVersion>(c, "dpkg_version", &files);
}

/// Alpine versions (14,662 pairs of valid versions): comparisons and parses per second. A
/// comparison tokenizes both strings as it goes, as apk-tools' `apk_version_compare` does;
/// a parse is a full validation pass and one copy.
fn apk(c: &mut Criterion) {
    let files = ["osv-scalibr/alpine-versions.txt", "osv-scalibr/alpine-versions-generated.txt"];
    bench_scheme::<ApkVersion>(c, "apk_version", &files);
}

criterion_group!(benches, dpkg, apk);
criterion_main!(benches);
