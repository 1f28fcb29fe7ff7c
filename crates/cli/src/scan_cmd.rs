//! `scan` and `db`: arguments in, library calls, reports out.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use hardener::{
    AdvisoryDb, Coverage, DbSource, DbUpdateEvent, Gate, Severity, from_trivy_json, parse_severity, to_cyclonedx,
    to_sarif, to_table, to_trivy_json,
};
use oci_core::{Platform, PullScope, Reference};

use crate::remote::{RegistryArgs, open_source, with_layers};

/// Report formats of `scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    /// A table for people.
    Table,
    /// Trivy-compatible JSON (SchemaVersion 2).
    Json,
    /// SARIF 2.1.0 (GitHub code scanning).
    Sarif,
    /// CycloneDX 1.5 JSON SBOM with vulnerabilities.
    Cyclonedx,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Image reference: a registry image, oci:DIR[:TAG] or docker-archive:FILE. Not needed
    /// with --from-report.
    reference: Option<Reference>,
    /// Use the findings of this Trivy JSON report instead of scanning.
    #[arg(long, value_name = "FILE", conflicts_with = "reference")]
    from_report: Option<PathBuf>,
    /// The advisory database directory [default: $XDG_CACHE_HOME/oci-harden/advisories]
    #[arg(long, value_name = "DIR")]
    db: Option<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = ScanFormat::Table)]
    format: ScanFormat,
    /// Write the report here instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Report only these severities (comma-separated: UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL).
    #[arg(long, value_delimiter = ',')]
    severity: Vec<String>,
    /// Report only findings that have a fixed version.
    #[arg(long)]
    ignore_unfixed: bool,
    /// Exit 1 when a finding at or above this severity remains.
    #[arg(long, value_name = "SEVERITY")]
    fail_on: Option<String>,
    /// Let the --fail-on gate pass an image that was not scanned (an OS or release the
    /// advisory database does not cover, no package database); without it such an image
    /// fails the gate with exit code 2.
    #[arg(long)]
    allow_unsupported: bool,
    /// Warn when the database is older than this many days.
    #[arg(long, default_value_t = 7)]
    max_db_age_days: u64,
    /// For an index, the platform to scan (default: the only one, or the host's).
    #[arg(long)]
    platform: Option<Platform>,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct SbomArgs {
    /// Image reference: a registry image, oci:DIR[:TAG] or docker-archive:FILE.
    reference: Reference,
    /// Write the SBOM here instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// For an index, the platform (default: the only one, or the host's).
    #[arg(long)]
    platform: Option<Platform>,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// The installed packages as a CycloneDX 1.5 SBOM; no advisory database needed.
pub fn sbom(args: SbomArgs) -> Result<ExitCode> {
    let platforms: Vec<Platform> = args.platform.iter().cloned().collect();
    let (source, remote) = open_source(&args.reference, &args.registry, &platforms, PullScope::Metadata)?;
    let image = source.image(args.platform.as_ref())?;
    let report = with_layers(remote.as_ref(), &args.reference, &image, |image| {
        Ok(hardener::inventory_report(&args.reference.to_string(), image, &today())?)
    })?;
    for w in &report.warnings {
        crate::style::warn(w);
    }
    let text = serde_json::to_string_pretty(&to_cyclonedx(&report))? + "\n";
    write_output(args.output.as_deref(), text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct DbArgs {
    #[command(subcommand)]
    command: DbCommand,
}

#[derive(Debug, Subcommand)]
enum DbCommand {
    /// Download and ingest advisories (OSV, Alpine secdb, Debian security tracker).
    Update {
        /// Sources: URLs, files or directories (repeatable) [default: the public sources].
        #[arg(long, value_name = "URL|FILE|DIR")]
        from: Vec<String>,
        /// The advisory database directory.
        #[arg(long, value_name = "DIR")]
        db: Option<PathBuf>,
    },
    /// Show the database's sources, record counts and age.
    Info {
        /// The advisory database directory.
        #[arg(long, value_name = "DIR")]
        db: Option<PathBuf>,
    },
}

pub(crate) fn severity(s: &str) -> Result<Severity> {
    parse_severity(s).with_context(|| format!("unknown severity {s:?} (UNKNOWN, LOW, MEDIUM, HIGH or CRITICAL)"))
}

fn today() -> String {
    hardener::today_utc()
}

fn db_dir(dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(hardener::default_db_dir)
}

pub fn scan(args: ScanArgs) -> Result<ExitCode> {
    let fail_on = args.fail_on.as_deref().map(severity).transpose()?;
    let severities: Vec<Severity> = args.severity.iter().map(|s| severity(s)).collect::<Result<_>>()?;
    let mut report = match (&args.reference, &args.from_report) {
        (_, Some(path)) => {
            let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            from_trivy_json(&bytes, &path.display().to_string())?
        }
        (Some(reference), None) => {
            let dir = db_dir(args.db.clone());
            let info = AdvisoryDb::read_info(&dir).map_err(|e| advised(e, false))?;
            let platforms: Vec<Platform> = args.platform.iter().cloned().collect();
            let (source, remote) = open_source(reference, &args.registry, &platforms, PullScope::Metadata)?;
            let image = source.image(args.platform.as_ref())?;
            let mut report = with_layers(remote.as_ref(), reference, &image, |image| {
                hardener::scan_with_db_dir(&reference.to_string(), image, &dir, &today()).map_err(|e| advised(e, false))
            })?;
            if let Some(stale) = info.staleness(args.max_db_age_days, std::time::SystemTime::now()) {
                report.warnings.push(format!("{stale}: run `oci-harden db update`"));
            }
            report
        }
        (None, None) => bail!("scan needs an image reference or --from-report FILE"),
    };
    report.filter((!severities.is_empty()).then_some(&severities[..]), args.ignore_unfixed);
    for w in &report.warnings {
        crate::style::warn(w);
    }
    if let Coverage::NotScanned { reason, .. } = &report.coverage {
        crate::style::warn(format_args!("not scanned: {reason}"));
    }
    let text = match args.format {
        ScanFormat::Table if args.output.is_none() => crate::style::color_severities(&to_table(&report)),
        ScanFormat::Table => to_table(&report),
        ScanFormat::Json => serde_json::to_string_pretty(&to_trivy_json(&report))? + "\n",
        ScanFormat::Sarif => serde_json::to_string_pretty(&to_sarif(&report))? + "\n",
        ScanFormat::Cyclonedx => serde_json::to_string_pretty(&to_cyclonedx(&report))? + "\n",
    };
    write_output(args.output.as_deref(), text.as_bytes())?;
    let Some(threshold) = fail_on else { return Ok(ExitCode::SUCCESS) };
    match report.gate(threshold, args.allow_unsupported) {
        Gate::Pass => Ok(ExitCode::SUCCESS),
        Gate::Fail => Ok(ExitCode::from(1)),
        Gate::NotScanned => {
            let Coverage::NotScanned { os, reason } = &report.coverage else { unreachable!("the gate said so") };
            bail!(
                "{} was not scanned ({reason}): the --fail-on gate cannot pass it; pass --allow-unsupported to accept \
                 an image that was not scanned",
                os.as_deref().map_or_else(|| report.target.clone(), |os| format!("{} ({os})", report.target))
            )
        }
    }
}

fn write_output(path: Option<&Path>, bytes: &[u8]) -> Result<()> {
    match path {
        None => {
            // anstream strips colour unless it is on (a terminal, or --color always).
            let mut out = anstream::stdout().lock();
            out.write_all(bytes)?;
            out.flush()?;
        }
        Some(p) => oci_core::write_atomic(p, bytes, oci_core::FileMode::Public)
            .with_context(|| format!("writing {}", p.display()))?,
    }
    Ok(())
}

pub fn db(args: DbArgs) -> Result<ExitCode> {
    match args.command {
        DbCommand::Update { from, db } => {
            let dir = db_dir(db);
            let sources: Vec<DbSource> =
                if from.is_empty() { DbSource::defaults() } else { from.iter().map(|s| DbSource::parse(s)).collect() };
            let update = hardener::update_db(&dir, &sources, &|event| {
                if let DbUpdateEvent::Ingested(source, report) = event {
                    eprintln!("{source}: {} records", report.records);
                    for w in &report.warnings {
                        crate::style::warn(format_args!("{source}: {w}"));
                    }
                }
            })
            .map_err(|e| advised(e, true))?;
            print_info(&update.info, &dir);
        }
        DbCommand::Info { db } => {
            let dir = db_dir(db);
            let info = AdvisoryDb::read_info(&dir).map_err(|e| advised(e, false))?;
            print_info(&info, &dir);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The command line's advice for a library error about the advisory database (the library's
/// messages carry none): what to run. `updating` when the error came from `db update`
/// itself. One place, so the integrator can hook it into the one error printer.
pub fn db_advice(err: &hardener::Error, updating: bool) -> Option<String> {
    match err {
        hardener::Error::MissingDatabase { .. } => {
            Some("run `oci-harden db update` first, or pass --db DIR to name another directory".to_owned())
        }
        hardener::Error::Database { path, .. } if updating => {
            Some(format!("delete {} to start afresh", path.display()))
        }
        hardener::Error::Database { .. } => Some("run `oci-harden db update` to rebuild it".to_owned()),
        _ => None,
    }
}

/// `err` with [`db_advice`] appended to its message.
pub(crate) fn advised(err: hardener::Error, updating: bool) -> anyhow::Error {
    match db_advice(&err, updating) {
        Some(advice) => anyhow::anyhow!("{err}: {advice}"),
        None => err.into(),
    }
}

fn print_info(info: &hardener::DbInfo, dir: &Path) {
    println!("database {}: {} records", dir.display(), info.records);
    for (ecosystem, n) in &info.ecosystems {
        println!("  {ecosystem:<14} {n} records");
    }
    for s in &info.sources {
        println!(
            "  source {}  ({}; {} records, {} warnings; ingested {})",
            s.name,
            s.formats.join(", "),
            s.records,
            s.warnings,
            s.ingested_at_rfc3339()
        );
    }
}
