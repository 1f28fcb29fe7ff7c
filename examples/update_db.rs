//! Updates an advisory database from URLs, files and directories in one library call, then
//! scans an image with it.
//!
//! ```sh
//! cargo run --example update_db -- /tmp/advisories tests/fixtures/advisories/alpine-secdb/3.20
//! cargo run --example update_db -- /tmp/advisories https://osv-vulnerabilities.storage.googleapis.com/Alpine/all.zip
//! ```
//!
//! Without sources it fetches the public defaults (`hardener::DEFAULT_SOURCES`).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;

use hardener::{DbSource, DbUpdateEvent};
use oci_core::{ImageSource, Reference};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "/tmp/advisories".into()));
    let mut sources: Vec<DbSource> = args.map(|s| DbSource::parse(&s)).collect();
    if sources.is_empty() {
        sources = DbSource::defaults();
    }
    let update = hardener::update_db(&dir, &sources, &|event| {
        if let DbUpdateEvent::Ingested(source, report) = event {
            eprintln!("{source:?}: {} records", report.records);
        }
    })?;
    println!("{}: {} records", dir.display(), update.info.records);

    let reference: Reference = "oci:examples/alpine:3.20".parse()?;
    let image = ImageSource::open(&reference)?.image(None)?;
    let report = hardener::scan_with_db_dir(&reference.to_string(), &image, &dir, &hardener::today_utc())?;
    println!("{} findings in {reference}", report.findings.len());
    Ok(())
}
