//! The `oci-harden` command line: pull, inspect, scan, harden and push OCI images without
//! a daemon.
//!
//! This crate only parses arguments, calls the `oci-core` and `hardener` libraries, shows
//! progress and formats their results; the domain logic lives in those crates. The binary
//! itself is the workspace root's `src/main.rs`, which calls [`main`].

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod advice;
mod commands;
mod harden_cmd;
mod output;
mod patch_cmd;
mod remote;
mod scan_cmd;
mod verify_cmd;

/// Daemonless, rootless OCI image hardening: read, inspect, export and copy images.
#[derive(Debug, Parser)]
#[command(name = "oci-harden", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show an image or index: digest, media type, platforms, layers, config summary.
    Inspect(commands::InspectArgs),
    /// List the merged filesystem of an image, like `tar -t` (or `tar -tv` with --long).
    Ls(commands::LsArgs),
    /// Write the merged filesystem of an image as one tar (like `crane export`).
    Export(commands::ExportArgs),
    /// Copy an image or index between registries, oci:DIR[:TAG] and docker-archive:FILE, keeping digests.
    Copy(commands::CopyArgs),
    /// Pull a registry image into the blob cache (every platform, or those asked for).
    Pull(commands::PullArgs),
    /// Push an image to a registry: the same as `copy SRC REGISTRY/REPO:TAG`.
    Push(commands::CopyArgs),
    /// Save credentials for a registry in the docker config (password from standard input).
    Login(commands::LoginArgs),
    /// Remove the saved credentials for a registry.
    Logout(commands::LogoutArgs),
    /// Scan an image's OS packages for vulnerabilities (dpkg, apk) against the advisory database.
    Scan(scan_cmd::ScanArgs),
    /// Manage the advisory database: `db update`, `db info`.
    Db(scan_cmd::DbArgs),
    /// Evaluate a rule set on an image: findings per rule, pass/fail/skip.
    Check(harden_cmd::CheckArgs),
    /// Harden an image with a rule set: one reproducible patch layer plus config changes.
    Harden(harden_cmd::HardenArgs),
    /// Upgrade an image's vulnerable packages from its distribution's own signed
    /// repositories, as one reproducible layer, without running anything from the image.
    Patch(patch_cmd::PatchArgs),
    /// Delete blobs of an OCI layout that no tag or index entry reaches.
    Gc(commands::GcArgs),
    /// Check the integrity of a layout, archive or registry image: digests, sizes, manifests,
    /// configs, diff_ids, and a layout's tags and leftover temporary files (exit 1 on problems).
    Verify(verify_cmd::VerifyArgs),
}

/// Parses the command line, runs the command and returns its exit code: 0 success,
/// 1 a gate tripped (`--fail-on`) or `verify` found problems, 2 an error (printed with
/// its causes).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(a) => commands::inspect(a),
        Command::Ls(a) => commands::ls(a),
        Command::Export(a) => commands::export(a),
        Command::Copy(a) => commands::copy(a),
        Command::Pull(a) => commands::pull(a),
        Command::Push(a) => commands::push(a),
        Command::Login(a) => commands::login(a),
        Command::Logout(a) => commands::logout(a),
        Command::Scan(a) => scan_cmd::scan(a),
        Command::Db(a) => scan_cmd::db(a),
        Command::Check(a) => harden_cmd::check(a),
        Command::Harden(a) => harden_cmd::harden(a),
        Command::Patch(a) => patch_cmd::patch(a),
        Command::Gc(a) => commands::gc(a),
        Command::Verify(a) => verify_cmd::verify(a),
    };
    match result {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let mut stderr = io::stderr().lock();
            let _ = write!(stderr, "error: {err}");
            for cause in err.chain().skip(1) {
                let _ = write!(stderr, "\n  caused by: {cause}");
            }
            let _ = writeln!(stderr);
            if let Some(hint) = advice::advice(&err) {
                let _ = writeln!(stderr, "hint: {hint}");
            }
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<oci_core::Error>().is_some_and(
                |e| matches!(e, oci_core::Error::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe),
            )
    })
}
