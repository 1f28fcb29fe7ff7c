//! Registry → hardened → registry in a few lines of async Rust: pull an image (every
//! platform of an index) into the blob cache, harden it with a rule set as one patch layer
//! per platform (the index rebuilt), and push the result.
//!
//! ```sh
//! cargo run --example harden_registry -- 127.0.0.1:5000/library/alpine:3.20 127.0.0.1:5000/hardened/alpine:3.20
//! ```
//!
//! Credentials come from the docker/podman config files (`oci-harden login`); loopback
//! registries are reached over plain HTTP.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Arc;

use hardener::{HardenOptions, RuleSet};
use oci_core::{ImageName, PullScope, Registry, RegistryOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [src, dst] = args.as_slice() else {
        eprintln!("usage: harden_registry SOURCE_IMAGE DESTINATION_IMAGE");
        std::process::exit(2);
    };
    let (src, dst): (ImageName, ImageName) = (src.parse()?, dst.parse()?);
    let registry = Registry::new(RegistryOptions::default())?;
    let cache = oci_core::open_cache(&oci_core::default_cache_dir())?;

    let (source, _) = oci_core::pull(&registry, &src, &cache, &[], PullScope::Everything, Arc::new(())).await?;
    // Hardening reads and writes files: off the async threads.
    let (working, name) = (cache.clone(), src.to_string());
    let hardened = tokio::task::spawn_blocking(move || {
        let mut options = HardenOptions::default();
        options.base_name = Some(name);
        hardener::harden_source(&source, &RuleSet::builtin("baseline").expect("built in"), &working, &options)
    })
    .await??;
    let (digest, _, _) = oci_core::push(&registry, &hardened.result, &dst, &[], &cache, Arc::new(())).await?;

    for image in &hardened.images {
        println!("{} → {}", image.base, image.hardened.descriptor.digest);
    }
    println!("pushed {dst} {digest}");
    Ok(())
}
