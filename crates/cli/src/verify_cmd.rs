//! `oci-harden verify`: the integrity check of a layout, an archive or a registry image.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use oci_core::{Location, OciLayout, Platform, ProblemKind, Reference, VerifyReport};
use serde_json::json;

use crate::commands::Format;
use crate::output::human_bytes;
use crate::remote::{RegistryArgs, open_whole, progress};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// What to check: oci:DIR (the whole layout: every tag, temporary files, every blob),
    /// oci:DIR:TAG, docker-archive:FILE, or a registry image (pulled through the cache).
    reference: Reference,
    #[command(flatten)]
    registry: RegistryArgs,
    /// For a registry index, pull and check only this platform (repeatable); default: all.
    #[arg(long = "platform")]
    platforms: Vec<Platform>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Exit code 0 when all is well, 1 when problems were found (2, from the caller, when the
/// check could not run).
pub fn verify(args: VerifyArgs) -> Result<ExitCode> {
    let report = match &args.reference {
        Reference::Layout { dir, tag: None } => {
            let layout = OciLayout::open(dir)?;
            oci_core::verify_layout(&layout).with_context(|| format!("verifying {}", args.reference))?
        }
        reference => {
            let session = args.registry.session(progress(true));
            let source = open_whole(&session, reference, &args.platforms)?;
            oci_core::verify(&source).with_context(|| format!("verifying {reference}"))?
        }
    };
    let mut out = crate::commands::stdout();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(
                &mut out,
                &json!({
                    "reference": args.reference.to_string(),
                    "clean": report.is_clean(),
                    "stats": report.stats,
                    "problems": report.problems,
                }),
            )?;
            writeln!(out)?;
        }
        Format::Text => write_text(&mut out, &args.reference, &report)?,
    }
    out.flush()?;
    if report.is_clean() {
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(hint) = hint(&args.reference, &report) {
        eprintln!("hint: {hint}");
    }
    Ok(ExitCode::from(1))
}

fn write_text(out: &mut impl Write, reference: &Reference, report: &VerifyReport) -> Result<()> {
    let s = &report.stats;
    let verdict = match report.problems.len() {
        0 => "ok".to_owned(),
        1 => "1 problem".to_owned(),
        n => format!("{n} problems"),
    };
    writeln!(
        out,
        "{reference}: {verdict} ({} manifests, {} configs, {} layers, {} blobs, {} read)",
        s.manifests,
        s.configs,
        s.layers,
        s.blobs,
        human_bytes(s.bytes)
    )?;
    for p in &report.problems {
        let place = match &p.location {
            Location::Blob(d) => format!("blob {d}"),
            other => other.to_string(),
        };
        writeln!(out, "\n{}", p.kind)?;
        writeln!(out, "  where   {place}")?;
        if !p.via.is_empty() {
            writeln!(out, "  via     {}", p.via)?;
        }
        writeln!(out, "  detail  {}", p.detail)?;
    }
    Ok(())
}

fn hint(reference: &Reference, report: &VerifyReport) -> Option<String> {
    let Reference::Layout { dir, .. } = reference else { return None };
    let only_leftovers = report.problems.iter().all(|p| p.kind == ProblemKind::OrphanedTempFile);
    only_leftovers.then(|| {
        format!(
            "only files of interrupted writes: the next write to the layout, or `oci-harden gc {}`, removes them",
            dir.display()
        )
    })
}
