//! Patches a registry image's vulnerable packages in a few lines: open it through a
//! `Session` (pulled into the blob cache), let `hardener::patch_job` scan it against the
//! advisory database, resolve the fixes from the image's own signed repositories, apply
//! them as one layer, and push the result; then print the typed report.
//!
//! ```sh
//! cargo run --example patch_registry -- 127.0.0.1:5000/lab/bookworm:old 127.0.0.1:5000/lab/bookworm:patched ~/.cache/oci-harden/advisories
//! ```

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;

use hardener::{PatchJobOptions, UpgradeSelection};
use oci_core::{CopyOptions, PullScope, Reference, Session, SessionOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [src, dst, db] = args.as_slice() else {
        eprintln!("usage: patch_registry SOURCE_IMAGE DESTINATION_IMAGE ADVISORY_DB_DIR");
        std::process::exit(2);
    };
    let (src, dst): (Reference, Reference) = (src.parse()?, dst.parse()?);
    let session = Session::new(SessionOptions::default());
    let source = session.open(&src, &[], PullScope::Everything)?;

    let mut options = PatchJobOptions::new(src.to_string(), UpgradeSelection::Vulnerable { db_dir: PathBuf::from(db) });
    options.repo.cache = session.options().cache_dir.clone();
    let job = hardener::patch_job(&source, None, session.cache()?, &options)?;
    let written = session.write(&job.outcome.result, &dst, &CopyOptions::default())?;

    let report = job.report(&dst.to_string(), written.digest, None, &src.to_string());
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
