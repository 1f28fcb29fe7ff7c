//! Scans an image for vulnerable OS packages with the library, and prints a table:
//!
//! ```sh
//! cargo run -q --bin oci-harden -- db update --db /tmp/advisories --from tests/fixtures/advisories/alpine-secdb
//! cargo run --example scan -- oci:examples/alpine:3.20 /tmp/advisories
//! ```

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;

use oci_core::{ImageSource, Reference};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let reference: Reference = args.next().unwrap_or_else(|| "oci:examples/alpine:3.20".into()).parse()?;
    let db_dir = args.next().map_or_else(hardener::default_db_dir, PathBuf::from);

    let image = ImageSource::open(&reference)?.image(None)?;
    let report = hardener::scan_with_db_dir(&reference.to_string(), &image, &db_dir, &hardener::today_utc())?;
    print!("{}", hardener::to_table(&report));
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    Ok(())
}
