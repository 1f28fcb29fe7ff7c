//! Pulls an image from a registry into an OCI layout, then pushes the layout to another
//! repository, with the library's async API:
//!
//! ```sh
//! cargo run --example pull_push -- 127.0.0.1:5000/library/alpine:3.20 /tmp/alpine-layout 127.0.0.1:5000/mirror/alpine:3.20
//! ```
//!
//! Credentials come from the docker/podman config files (`oci-harden login`); loopback
//! registries are reached over plain HTTP.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Arc;

use oci_core::{CopyOptions, Reference, Registry, RegistryOptions};

#[tokio::main]
async fn main() -> oci_core::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [src, dir, dst] = args.as_slice() else {
        eprintln!("usage: pull_push SOURCE_IMAGE LAYOUT_DIR DESTINATION_IMAGE");
        std::process::exit(2);
    };
    let registry = Registry::new(RegistryOptions::default())?;
    let cache = oci_core::open_cache(&oci_core::default_cache_dir())?;
    let layout: Reference = format!("oci:{dir}:latest").parse()?;
    let options = CopyOptions::default(); // every platform; an index keeps its digest

    let pulled = oci_core::copy_image(&src.parse()?, &layout, &options, &registry, &cache, Arc::new(())).await?;
    println!("pulled {src} ({}) to {layout}, {} bytes downloaded", pulled.digest, pulled.bytes_downloaded);

    let pushed = oci_core::copy_image(&layout, &dst.parse()?, &options, &registry, &cache, Arc::new(())).await?;
    println!(
        "pushed {dst} ({}): {} bytes uploaded, {} blobs already there, {} mounted",
        pushed.digest, pushed.bytes_written, pushed.blobs_skipped, pushed.blobs_mounted
    );
    Ok(())
}
