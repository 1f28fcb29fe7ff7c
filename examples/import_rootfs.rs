//! Turns a root filesystem tarball into a one-layer image in an OCI layout, the way
//! `examples/alpine/` was made:
//!
//! ```sh
//! cargo run --example import_rootfs -- tests/fixtures/images/alpine-minirootfs-3.20.3-x86_64.tar.gz \
//!     examples/alpine 3.20 2024-09-06T00:00:00Z
//! ```
//!
//! The tarball becomes the layer blob unchanged (gzip or plain), so its digest is the
//! file's sha256; the diff_id is computed by streaming it once through the decompressor.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fs::File;
use std::io;

use oci_core::{Compression, Descriptor, DigestReader, Limits, MediaType, OciLayout, Result, decompress};
use serde_json::json;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [rootfs, dir, tag, created] = args.as_slice() else {
        eprintln!("usage: import_rootfs ROOTFS.tar[.gz] LAYOUT_DIR TAG CREATED(RFC 3339)");
        std::process::exit(2);
    };
    let layout = OciLayout::create(dir)?;

    // The layer blob: the tarball as it is, verified and committed by digest.
    let mut blob = layout.blob_writer()?;
    let mut file = File::open(rootfs).map_err(|e| oci_core::Error::io(format!("opening {rootfs}"), e))?;
    io::copy(&mut file, &mut blob).map_err(|e| oci_core::Error::io("copying the rootfs", e))?;
    let (digest, size) = blob.finish()?;

    // The diff_id: sha256 of the uncompressed tar.
    let mut head = [0u8; 4];
    io::Read::read_exact(&mut File::open(rootfs).map_err(|e| oci_core::Error::io(rootfs.clone(), e))?, &mut head)
        .map_err(|e| oci_core::Error::io(rootfs.clone(), e))?;
    let compression = Compression::sniff(&head);
    let raw = layout.open_blob_file(&digest)?;
    let mut hashing =
        DigestReader::new(decompress(raw, compression, &Limits::default(), rootfs), oci_core::Algorithm::Sha256);
    io::copy(&mut hashing, &mut io::sink()).map_err(|e| oci_core::Error::io("hashing the rootfs", e))?;
    let (diff_id, _) = hashing.finish();

    let media_type = MediaType::OciManifest.layer_for(compression);
    let config = serde_json::to_vec(&json!({
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": format!("import_rootfs {}", rootfs.rsplit('/').next().unwrap_or(rootfs))}],
    }))
    .expect("serialisable");
    let config_digest = layout.write_blob(&config)?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MediaType::OciManifest,
        "config": Descriptor::new(MediaType::OciConfig, config_digest, config.len() as u64),
        "layers": [Descriptor::new(media_type, digest, size)],
    }))
    .expect("serialisable");
    let manifest_digest = layout.write_blob(&manifest)?;
    let mut desc = Descriptor::new(MediaType::OciManifest, manifest_digest, manifest.len() as u64);
    desc.platform = Some(oci_core::Platform::new("linux", "amd64", None));
    layout.set_tag(Some(tag), &desc)?;
    println!("oci:{dir}:{tag} {}", desc.digest);
    Ok(())
}
