//! Hardens an image in an OCI layout with the built-in strict rule set, in a few lines:
//!
//! ```sh
//! cargo run --example harden -- oci:examples/alpine:3.20 /tmp/hardened
//! ```

#![allow(clippy::print_stdout)]

use hardener::RuleSet;
use oci_core::{ImageSource, OciLayout, Reference};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let reference: Reference = args.next().unwrap_or_else(|| "oci:examples/alpine:3.20".into()).parse()?;
    let out = args.next().unwrap_or_else(|| "/tmp/hardened".into());

    let image = ImageSource::open(&reference)?.image(None)?;
    let rules = RuleSet::builtin("strict").expect("a built-in profile");
    let layout = OciLayout::create(&out)?;
    let hardened = hardener::harden(&image, &rules, &layout, None)?;
    layout.set_tag(Some("hardened"), &hardened.descriptor)?;

    for result in &hardened.before.results {
        println!("{:<22} {:?} ({} findings)", result.rule_id, result.outcome, result.findings.len());
    }
    println!("oci:{out}:hardened {} ({} patch layer entries)", hardened.descriptor.digest, hardened.entries.len());
    Ok(())
}
