//! `batch`: a file of jobs in, one library call, a table and a report out.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use hardener::{BatchEvent, BatchFile, BatchOptions, BatchReport, JobResult, Shard};
use indicatif::{ProgressBar, ProgressStyle};

use crate::remote::RegistryArgs;

#[derive(Debug, Args)]
// The registry options' `--jobs` (blobs at once) is `--blob-jobs` here: `--jobs` is images.
#[command(mut_arg("jobs", |a| a.long("blob-jobs")))]
pub struct BatchArgs {
    /// The batch file (TOML): `[defaults]` (any job key) and one `[[image]]` per job with
    /// `src` and `dst`, and optionally rules, patch, upgrade, db, repos, platforms,
    /// fail-on, force.
    file: PathBuf,
    /// Jobs (images) run at once.
    #[arg(long = "jobs", id = "parallel", value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    parallel: u16,
    /// Run only shard I of N (I from 0): the jobs whose destination hashes there (the
    /// first 8 bytes of the SHA-256 of `dst` as written, modulo N), so N machines split
    /// one file without talking to each other.
    #[arg(long, value_name = "I/N", default_value = "0/1")]
    shard: Shard,
    /// Rebuild every job, even those whose destination is up to date.
    #[arg(long)]
    force: bool,
    /// Print the jobs of this shard (destination, source, rules) and run nothing.
    #[arg(long)]
    list: bool,
    /// Write the JSON report here: per job src, dst, result (updated, up-to-date, failed),
    /// digest, previous, error, findings before and after, duration; and a summary.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// Runs the batch: exit 0 when every job is updated or up to date, 1 when a `fail-on`
/// gate tripped, 2 when a job failed.
pub fn batch(args: BatchArgs) -> Result<ExitCode> {
    let file = BatchFile::from_path(&args.file)?;
    let jobs = file.shard(args.shard);
    if args.list {
        let mut out = std::io::stdout().lock();
        for job in &jobs {
            let rules = job.rules.as_deref().unwrap_or("no rules");
            let patch = if job.patch { " +patch" } else { "" };
            writeln!(out, "{} {} ({rules}{patch})", job.dst_text, job.src)?;
        }
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    // Blob transfers are not shown per blob: many jobs at once, a line (or a bar) per job.
    let session = args.registry.session(Arc::new(()));
    let mut options = BatchOptions::default();
    options.parallel = usize::from(args.parallel);
    options.force = args.force;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(jobs.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} jobs {elapsed} {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar
    });
    let events = |event: BatchEvent<'_>| match event {
        BatchEvent::Started { job, .. } => {
            if let Some(bar) = &bar {
                bar.set_message(job.dst_text.clone());
            }
        }
        BatchEvent::Finished { report, .. } => {
            let line = match (&report.error, &report.digest) {
                (Some(e), _) => format!("{:<10} {} ({e})", report.result.as_str(), report.dst),
                (None, Some(d)) => {
                    format!("{:<10} {} {d} ({} ms)", report.result.as_str(), report.dst, report.duration_ms)
                }
                (None, None) => format!("{:<10} {}", report.result.as_str(), report.dst),
            };
            match &bar {
                Some(bar) => {
                    bar.inc(1);
                    bar.println(line);
                }
                None => eprintln!("{line}"),
            }
        }
        _ => {}
    };
    let report = hardener::run_batch(&session, &jobs, args.shard, &options, &events);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let mut out = std::io::stdout().lock();
    table(&mut out, &report)?;
    out.flush()?;
    if let Some(path) = &args.report {
        oci_core::write_atomic(path, &serde_json::to_vec_pretty(&report)?, oci_core::FileMode::Public)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::from(report.exit_code()))
}

/// The summary table: one line per job, then the totals.
fn table(out: &mut impl Write, report: &BatchReport) -> std::io::Result<()> {
    writeln!(out, "{:<10} {:<8} {:<9} {:<21} DESTINATION", "RESULT", "TIME", "FINDINGS", "DIGEST")?;
    for job in &report.jobs {
        let findings = match (job.findings_before, job.findings_after) {
            (Some(b), Some(a)) => format!("{b}→{a}"),
            _ => "-".to_owned(),
        };
        let digest = job.digest.as_ref().map_or_else(|| "-".to_owned(), |d| format!("sha256:{}", &d.hex()[..12]));
        let result = if job.gate_tripped { "gated" } else { job.result.as_str() };
        writeln!(
            out,
            "{result:<10} {:<8} {findings:<9} {digest:<21} {}",
            format!("{:.1}s", job.duration_ms as f64 / 1000.0),
            job.dst
        )?;
        if let Some(e) = &job.error {
            writeln!(out, "  error: {e}")?;
        }
    }
    let s = &report.summary;
    writeln!(
        out,
        "{} jobs (shard {}): {} updated, {} up to date, {} failed, {} gated, in {:.1}s",
        s.jobs,
        s.shard,
        s.updated,
        s.up_to_date,
        s.failed,
        s.gate_tripped,
        s.duration_ms as f64 / 1000.0
    )?;
    if report.jobs.iter().any(|j| j.result == JobResult::Failed) {
        writeln!(out, "failed jobs do not stop the others; re-running is safe (up-to-date jobs do nothing)")?;
    }
    Ok(())
}
