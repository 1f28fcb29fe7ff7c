//! Criterion benchmarks of oci-core's hot paths.
//!
//! The Debian benchmarks need the image that `benches/prepare-debian.sh` builds (Debian
//! bookworm minbase, one ~60 MB gzip layer, ~170 MB unpacked) at `target/bench/debian`
//! (or `OCI_HARDEN_BENCH_LAYOUT`); without it they fall back to the Alpine example.

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use std::hint::black_box;
use std::io;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use oci_core::{Digest, ImageSource, MergedFs, Reference};

fn bench_image() -> (String, oci_core::Image) {
    let layout = std::env::var("OCI_HARDEN_BENCH_LAYOUT").unwrap_or_else(|_| "target/bench/debian".into());
    let candidates = [format!("oci:{layout}:base"), "oci:examples/alpine:3.20".to_owned()];
    for r in candidates {
        let reference: Reference = r.parse().unwrap();
        if let Ok(src) = ImageSource::open(&reference) {
            return (r, src.image(None).unwrap());
        }
    }
    panic!("no benchmark image: run benches/prepare-debian.sh");
}

/// sha256 of a 64 MiB blob in memory. The physical limit is the SHA-NI instruction
/// throughput, ~1.5–2 GB/s per core; sha2 uses it when the CPU has it.
fn sha256(c: &mut Criterion) {
    let data = vec![0x5au8; 64 << 20];
    let mut g = c.benchmark_group("sha256");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(20);
    g.bench_function("64MiB", |b| b.iter(|| Digest::sha256(black_box(&data))));
    g.finish();
}

/// Decompressing and verifying a real layer (digest of the compressed bytes and diff_id
/// of the tar) into a sink: the floor under every operation that reads layers. Measured
/// in uncompressed bytes; zlib-rs inflate runs at roughly 400–800 MB/s per core.
fn gzip_decode(c: &mut Criterion) {
    let (name, image) = bench_image();
    let layer = image.layers().into_iter().next().unwrap();
    let mut stream = image.open_layer(&layer).unwrap();
    let size = io::copy(&mut stream, &mut io::sink()).unwrap();
    let mut g = c.benchmark_group("layer_decode");
    g.throughput(Throughput::Bytes(size));
    g.sample_size(10);
    g.bench_function(format!("gzip+verify {name}"), |b| {
        b.iter(|| {
            let mut s = image.open_layer(&layer).unwrap();
            io::copy(&mut s, &mut io::sink()).unwrap()
        })
    });
    g.finish();
}

/// Indexing the merged filesystem (every tar header, whiteouts applied) of the benchmark
/// image: dominated by decompression, since contents are skipped, not copied.
fn merged_fs(c: &mut Criterion) {
    let (name, image) = bench_image();
    let compressed: u64 = image.layers().iter().map(|l| l.descriptor.size).sum();
    let mut g = c.benchmark_group("merged_fs");
    g.throughput(Throughput::Bytes(compressed));
    g.sample_size(10);
    g.bench_function(format!("build {name}"), |b| b.iter(|| MergedFs::build(&image).unwrap().len()));
    g.finish();
}

/// `export` of the merged filesystem into a sink (index pass plus one streaming pass per
/// layer). The peer is `umoci unpack`, compared by `benches/export-vs-umoci.sh`.
fn export(c: &mut Criterion) {
    let (name, image) = bench_image();
    let fs = MergedFs::build(&image).unwrap();
    let mut out = CountingSink(0);
    oci_core::export(&fs, &mut out).unwrap();
    let mut g = c.benchmark_group("export");
    g.throughput(Throughput::Bytes(out.0));
    g.sample_size(10);
    g.bench_function(format!("to sink {name}"), |b| {
        b.iter(|| {
            let fs = MergedFs::build(&image).unwrap();
            oci_core::export(&fs, CountingSink(0)).unwrap()
        })
    });
    g.finish();
}

/// Writing a layer: the benchmark image's layer (its tar, as one file entry of a new
/// layer, streamed) through `LayerWriter` (gzip level 6 in 1 MiB blocks on every core), next
/// to the same bytes through flate2's single-threaded gzip encoder at the same level.
/// Measured in uncompressed bytes.
fn layer_write(c: &mut Criterion) {
    let (name, image) = bench_image();
    let layer = image.layers().into_iter().next().unwrap();
    let size = io::copy(&mut image.open_layer(&layer).unwrap(), &mut io::sink()).unwrap();
    let mut g = c.benchmark_group("layer_write");
    g.throughput(Throughput::Bytes(size));
    g.sample_size(10);
    g.bench_function(format!("LayerWriter gzip {name}"), |b| {
        b.iter(|| {
            let mut w = oci_core::LayerWriter::new(CountingSink(0), oci_core::Compression::Gzip, 0).unwrap();
            let meta = oci_core::EntryMeta::file(0o644, size);
            w.append("layer.tar", &meta, image.open_layer(&layer).unwrap()).unwrap();
            w.finish().unwrap().1.size
        })
    });
    g.bench_function(format!("flate2 GzEncoder (one thread) {name}"), |b| {
        b.iter(|| {
            let mut gz = flate2::write::GzEncoder::new(CountingSink(0), flate2::Compression::new(6));
            io::copy(&mut image.open_layer(&layer).unwrap(), &mut gz).unwrap();
            gz.finish().unwrap().0
        })
    });
    g.finish();
}

struct CountingSink(u64);

impl io::Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

criterion_group!(benches, sha256, gzip_decode, merged_fs, export, layer_write);
criterion_main!(benches);
