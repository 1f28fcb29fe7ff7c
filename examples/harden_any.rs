//! Any reference in, any reference out, from synchronous code: a [`oci_core::Session`]
//! opens the source (a registry image pulled through the blob cache, an `oci:` layout or a
//! `docker-archive:` file, one platform or all), `hardener::harden_source` hardens every
//! selected image and rebuilds an index, and the session writes the result to the
//! destination (registry push, layout or archive). The typed report is printed as JSON.
//!
//! ```sh
//! cargo run --example harden_any -- oci:examples/alpine:3.20 oci:/tmp/hardened:3.20
//! cargo run --example harden_any -- docker.io/library/debian:12 docker-archive:/tmp/debian.tar:debian:12 linux/amd64
//! ```

#![allow(clippy::print_stdout, clippy::print_stderr)]

use hardener::{HardenOptions, RuleSet};
use oci_core::{CopyOptions, Platform, PullScope, Reference, Session, SessionOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (src, dst, platforms) = match args.as_slice() {
        [src, dst, platforms @ ..] => (src.parse::<Reference>()?, dst.parse::<Reference>()?, platforms),
        _ => {
            eprintln!("usage: harden_any SOURCE DESTINATION [PLATFORM…]");
            std::process::exit(2);
        }
    };
    let platforms: Vec<Platform> = platforms.iter().map(|p| p.parse()).collect::<Result<_, _>>()?;

    let session = Session::new(SessionOptions::default());
    let source = session.open(&src, &platforms, PullScope::Everything)?;
    let rules = RuleSet::builtin("strict").expect("built in");
    let mut options = HardenOptions::default();
    options.platforms = platforms;
    let hardened = hardener::harden_source(&source, &rules, session.cache()?, &options)?;
    let written = session.write(&hardened.result, &dst, &CopyOptions::default())?;

    let report = hardened.report(&src.to_string(), &dst.to_string(), written.digest, &rules);
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
