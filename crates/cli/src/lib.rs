//! The `oci-harden` command line: pull, inspect, scan, harden and push OCI images without
//! a daemon.
//!
//! This crate only parses arguments, calls the `oci-core` and `hardener` libraries, shows
//! progress and formats their results; the domain logic lives in those crates. The binary
//! itself is the workspace root's `src/main.rs`, which calls [`main`].

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod advice;
mod attach_cmd;
mod batch_cmd;
mod commands;
mod harden_cmd;
mod output;
mod patch_cmd;
mod remote;
mod scan_cmd;
mod style;
mod verify_cmd;

/// Daemonless, rootless OCI image hardening: read, inspect, export and copy images.
#[derive(Debug, Parser)]
#[command(name = "oci-harden", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// When to colour output: auto (a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, default_value = "auto", value_name = "WHEN")]
    color: style::ColorWhen,
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
    /// Write an image's installed packages as a CycloneDX 1.5 SBOM (no advisory database needed).
    Sbom(scan_cmd::SbomArgs),
    /// Manage the advisory database: `db update`, `db info`.
    Db(scan_cmd::DbArgs),
    /// Evaluate a rule set on an image: findings per rule, pass/fail/skip.
    Check(harden_cmd::CheckArgs),
    /// Harden an image with a rule set: one reproducible patch layer plus config changes.
    Harden(harden_cmd::HardenArgs),
    /// Upgrade an image's vulnerable packages from its distribution's own signed
    /// repositories, as one reproducible layer, without running anything from the image.
    Patch(patch_cmd::PatchArgs),
    /// List the OCI referrers of an image (SBOMs, VEX, reports, signatures attached to it).
    Referrers(attach_cmd::ReferrersArgs),
    /// Keep many images hardened: run the jobs of a TOML file in parallel (those whose
    /// destination is up to date do nothing), one shard of it with --shard I/N; exit 1 when
    /// a gate tripped, 2 when a job failed.
    Batch(batch_cmd::BatchArgs),
    /// Delete blobs of an OCI layout that no tag or index entry reaches.
    Gc(commands::GcArgs),
    /// Check the integrity of a layout, archive or registry image: digests, sizes, manifests,
    /// configs, diff_ids, and a layout's tags and leftover temporary files (exit 1 on problems).
    Verify(verify_cmd::VerifyArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(CompletionsArgs),
    /// Write man pages (oci-harden.1 and one per command) into a directory.
    Manpages(ManpagesArgs),
}

#[derive(Debug, clap::Args)]
struct CompletionsArgs {
    /// The shell: `source <(oci-harden completions bash)`, or save it where the shell loads
    /// completions from (`/usr/share/bash-completion/completions/oci-harden`).
    shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
struct ManpagesArgs {
    /// The directory (created if missing), e.g. `/usr/local/share/man/man1`.
    dir: std::path::PathBuf,
}

/// Parses the command line, runs the command and returns its exit code: 0 success,
/// 1 a gate tripped (`--fail-on`) or `verify` found problems, 2 an error (printed with
/// its causes).
pub fn main() -> ExitCode {
    // The colour choice is read first so that clap's own help and errors follow it.
    let color = style::ColorWhen::from_args(std::env::args_os());
    color.install();
    let matches = Cli::command().color(color.clap()).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
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
        Command::Sbom(a) => scan_cmd::sbom(a),
        Command::Db(a) => scan_cmd::db(a),
        Command::Check(a) => harden_cmd::check(a),
        Command::Harden(a) => harden_cmd::harden(a),
        Command::Patch(a) => patch_cmd::patch(a),
        Command::Referrers(a) => attach_cmd::referrers(a),
        Command::Batch(a) => batch_cmd::batch(a),
        Command::Gc(a) => commands::gc(a),
        Command::Verify(a) => verify_cmd::verify(a),
        Command::Completions(a) => completions(a),
        Command::Manpages(a) => manpages(a),
    };
    match result {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let mut stderr = anstream::stderr().lock();
            let (e, h) = (style::ERROR, style::HINT);
            let _ = write!(stderr, "{e}error:{e:#} {err}");
            for cause in err.chain().skip(1) {
                let _ = write!(stderr, "\n  caused by: {cause}");
            }
            let _ = writeln!(stderr);
            if let Some(hint) = advice::advice(&err) {
                let _ = writeln!(stderr, "{h}hint:{h:#} {hint}");
            }
            ExitCode::from(2)
        }
    }
}

fn completions(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    // Generated into memory first: clap_complete panics on a write error (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "oci-harden", &mut script);
    if args.shell == clap_complete::Shell::Bash {
        // clap_complete spells a hyphenated binary's states two ways in bash (the loop says
        // `oci__harden__subcmd__patch`, the arms `oci__subcmd__harden__subcmd__patch`), so no
        // command's options would complete (clap-rs/clap#6421): use the loop's spelling.
        script = String::from_utf8(script)?.replace("oci__subcmd__harden", "oci__harden").into_bytes();
    }
    let mut out = io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `oci-harden.1` and `oci-harden-COMMAND.1` for each command (as git names its pages),
/// each written atomically.
fn manpages(args: ManpagesArgs) -> anyhow::Result<ExitCode> {
    use anyhow::Context as _;
    std::fs::create_dir_all(&args.dir).with_context(|| format!("creating {}", args.dir.display()))?;
    let top = Cli::command();
    let mut pages = vec![("oci-harden".to_owned(), top.clone())];
    for sub in top.get_subcommands().filter(|c| c.get_name() != "help") {
        let name = format!("oci-harden-{}", sub.get_name());
        let command = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("oci-harden {}", sub.get_name()))
            .version(top.get_version().unwrap_or_default().to_owned());
        pages.push((name, command));
    }
    let mut out = io::stdout().lock();
    for (name, command) in pages {
        let mut page = Vec::new();
        clap_mangen::Man::new(command).render(&mut page)?;
        let path = args.dir.join(format!("{name}.1"));
        oci_core::write_atomic(&path, &page, oci_core::FileMode::Public)
            .with_context(|| format!("writing {}", path.display()))?;
        writeln!(out, "{}", path.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<oci_core::Error>().is_some_and(
                |e| matches!(e, oci_core::Error::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe),
            )
    })
}
