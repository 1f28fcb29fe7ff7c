//! Peak memory stays bounded on large inputs: `oci-harden scan` of an image whose one
//! layer holds 200,000 entries (about 300 MiB of tar) and a dpkg status of 50,000 packages,
//! measured with GNU `time` on the binary Cargo built. Layer contents stream; what grows
//! with the entry count is the merged filesystem's metadata index (a few hundred bytes an
//! entry), which the bound allows for.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use super::harness::{bin, oci_ref, require_tool, tempdir};
use super::inventory::{Layer, write_image};

const ENTRIES: usize = 200_000;
const PACKAGES: usize = 50_000;
/// Content of every entry: a 512-byte header and two 512-byte blocks of tar each.
const CONTENT: usize = 1000;
/// The bound on the scan's peak RSS (about 150 MiB measured). The layer's tar alone is
/// larger: a scan that held it would fail.
const MAX_RSS_KIB: u64 = 224 << 10;

/// Streams the layer straight to a gzip file (the test never holds it either).
fn write_layer(path: &Path) -> u64 {
    let gz =
        flate2::write::GzEncoder::new(File::create(path).expect("creating the layer"), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let add = |tar: &mut tar::Builder<_>, name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, name, data).expect("appending an entry");
    };
    add(
        &mut tar,
        "etc/os-release",
        b"ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
    );
    add(&mut tar, "etc/debian_version", b"12.8\n");
    let mut status = Vec::with_capacity(PACKAGES * 200);
    for i in 0..PACKAGES {
        write!(
            status,
            "Package: pkg{i:05}\nStatus: install ok installed\nPriority: optional\nSection: misc\nInstalled-Size: 1\n\
             Maintainer: Nobody <nobody@example.com>\nArchitecture: amd64\nVersion: 1.0-{i}\n\
             Description: synthetic package {i}\n a package of the memory-bound test\n\n"
        )
        .expect("writing the status");
    }
    add(&mut tar, "var/lib/dpkg/status", &status);
    let content = [b'x'; CONTENT];
    for i in 0..ENTRIES {
        add(&mut tar, &format!("usr/share/many/d{:03}/file-{i:06}", i % 1000), &content);
    }
    tar.into_inner().expect("finishing the tar").finish().expect("finishing the gzip");
    status.len() as u64
}

#[test]
fn scan_of_a_huge_layer_and_status_keeps_peak_memory_bounded() {
    let time = require_tool("time");
    let tmp = tempdir();
    let layer = tmp.path().join("layer.tar.gz");
    let status_bytes = write_layer(&layer);
    let layout = tmp.path().join("layout");
    write_image(&layout, "t", &[Layer::Tarball(&layer)]);
    let db = tmp.path().join("db");
    let osv = super::harness::fixture("advisories/osv");
    let run = Command::new(bin())
        .args(["db", "update", "--db", db.to_str().expect("UTF-8"), "--from", osv.to_str().expect("UTF-8")])
        .output()
        .expect("running db update");
    assert!(run.status.success(), "db update: {}", String::from_utf8_lossy(&run.stderr));

    let rss = tmp.path().join("rss");
    let out = Command::new(time)
        .args(["-f", "%M", "-o", rss.to_str().expect("UTF-8")])
        .arg(bin())
        .args(["scan", "--db", db.to_str().expect("UTF-8"), "--format", "cyclonedx", &oci_ref(&layout, Some("t"))])
        .output()
        .expect("running the scan under time");
    assert!(out.status.success(), "scan failed: {}", String::from_utf8_lossy(&out.stderr));
    let sbom: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a CycloneDX SBOM");
    let names: Vec<&str> = sbom["components"]
        .as_array()
        .expect("components")
        .iter()
        .map(|c| c["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(names.len(), PACKAGES, "every package of the status is in the SBOM");
    assert!(names.contains(&"pkg00000") && names.contains(&"pkg49999"));
    let peak_kib: u64 = std::fs::read_to_string(&rss).expect("time's output").trim().parse().expect("a number of KiB");
    let tar_bytes = (ENTRIES as u64) * (512 + CONTENT.div_ceil(512) as u64 * 512) + status_bytes;
    assert!(tar_bytes > (MAX_RSS_KIB << 10), "the bound would not catch a layer held whole");
    assert!(
        peak_kib < MAX_RSS_KIB,
        "peak RSS {peak_kib} KiB for {ENTRIES} entries and {PACKAGES} packages, bound {MAX_RSS_KIB} KiB"
    );
}
