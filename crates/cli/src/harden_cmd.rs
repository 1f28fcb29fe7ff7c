//! `check` and `harden`: arguments in, library calls, reports out.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use hardener::{
    CheckReport, Evaluation, HardenReport, HardenedImageReport, RuleSet, RuleSetId, RuleSeverity, RuleStatus, SarifLog,
};
use oci_core::{CopyOptions, Descriptor, Image, Manifest, MergedFs, Platform, PullScope, Reference};

use crate::remote::{RegistryArgs, fetch_layers, open_source, progress};

/// Report formats of `check` and `harden`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RulesFormat {
    /// A table for people.
    Table,
    /// JSON (documented in crates/hardener/rules/README.md).
    Json,
    /// SARIF 2.1.0 (GitHub code scanning).
    Sarif,
}

/// Formats of `harden --report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// JSON: rules before and after, per platform.
    Json,
    /// SARIF 2.1.0: the findings before hardening.
    Sarif,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Image reference: a registry image, oci:DIR[:TAG] or docker-archive:FILE.
    reference: Reference,
    /// Rule set: a TOML file or builtin:baseline / builtin:strict.
    #[arg(long, default_value = "builtin:baseline")]
    rules: String,
    /// Exit 1 when a failing rule at or above this severity remains (low, medium, high, critical).
    #[arg(long, value_name = "SEVERITY")]
    fail_on: Option<RuleSeverity>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = RulesFormat::Table)]
    format: RulesFormat,
    /// For an index, the platform to check (default: the only one, or the host's).
    #[arg(long)]
    platform: Option<Platform>,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct HardenArgs {
    /// The image to harden: a registry image, oci:DIR[:TAG] or docker-archive:FILE.
    source: Reference,
    /// Where to write the hardened image: a registry image, oci:DIR[:TAG] or docker-archive:FILE.
    destination: Option<Reference>,
    /// Rule set: a TOML file or builtin:baseline / builtin:strict.
    #[arg(long, default_value = "builtin:baseline")]
    rules: String,
    /// Show the patch layer's entries and the planned config changes; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Write a report of the rules before and after here (see --format).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Format of --report: json (before and after, per platform) or sarif (the findings
    /// before hardening).
    #[arg(long, value_enum, default_value_t = ReportFormat::Json)]
    format: ReportFormat,
    /// Harden only this platform of an index (repeatable); the others are kept unchanged.
    #[arg(long = "platform")]
    platforms: Vec<Platform>,
    /// Print only the new digest.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

fn load_rules(spec: &str) -> Result<RuleSet> {
    Ok(RuleSet::load(spec)?)
}

fn evaluate_image(image: &Image, rules: &RuleSet) -> Result<Evaluation> {
    let fs = MergedFs::build_capturing(image, rules.capture())
        .with_context(|| format!("reading the layers of image {}", image.digest()))?;
    Ok(hardener::evaluate(rules, &hardener::CheckInput::new(&fs, image)))
}

fn evaluation_table(out: &mut impl Write, title: &str, e: &Evaluation) -> std::io::Result<()> {
    writeln!(out, "{title}")?;
    writeln!(out, "  {:<22} {:<24} {:<9} {:<6} {:<6} FINDINGS", "RULE", "KIND", "SEVERITY", "ACTION", "RESULT")?;
    for r in &e.results {
        writeln!(
            out,
            "  {:<22} {:<24} {:<9} {:<6} {:<6} {}",
            r.rule_id,
            r.kind,
            r.severity.to_string(),
            r.action.as_str(),
            r.outcome.status().as_str(),
            r.findings.len()
        )?;
        match (r.outcome.status(), r.outcome.detail()) {
            (RuleStatus::Skip, Some(reason)) => writeln!(out, "      skipped: {reason}")?,
            (RuleStatus::Error, Some(message)) => writeln!(out, "      error: {message}")?,
            _ => {}
        }
        for f in r.findings.iter().take(10) {
            writeln!(out, "      {}{}", f.path.as_deref().map(|p| format!("{p}: ")).unwrap_or_default(), f.message)?;
        }
        if r.findings.len() > 10 {
            writeln!(out, "      … and {} more", r.findings.len() - 10)?;
        }
    }
    Ok(())
}

pub fn check(args: CheckArgs) -> Result<ExitCode> {
    let rules = load_rules(&args.rules)?;
    let platforms: Vec<Platform> = args.platform.iter().cloned().collect();
    let (source, remote) = open_source(&args.reference, &args.registry, &platforms, PullScope::Metadata)?;
    let image = source.image(args.platform.as_ref())?;
    fetch_layers(remote.as_ref(), &args.reference, &image)?;
    let evaluation = evaluate_image(&image, &rules)?;
    let mut out = std::io::stdout().lock();
    match args.format {
        RulesFormat::Json => {
            let report = CheckReport::new(args.reference.to_string(), image.digest().clone(), &rules, &evaluation);
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        RulesFormat::Sarif => {
            let doc = hardener::evaluation_to_sarif(&args.reference.to_string(), &rules, &evaluation);
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        RulesFormat::Table => evaluation_table(
            &mut out,
            &format!("{} ({}) — rules {}", args.reference, image.digest(), rules.name),
            &evaluation,
        )?,
    }
    out.flush()?;
    Ok(match args.fail_on {
        Some(t) if evaluation.fails(t) => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}

pub fn harden(args: HardenArgs) -> Result<ExitCode> {
    let rules = load_rules(&args.rules)?;
    if args.destination.is_none() && !args.dry_run {
        bail!("harden needs a destination (or --dry-run)");
    }
    let remote = args.registry.connect()?;
    let layout = remote.cache.clone();
    let source = match &args.source {
        Reference::Registry(name) => {
            remote
                .runtime
                .block_on(oci_core::pull(
                    &remote.registry,
                    name,
                    &layout,
                    &args.platforms,
                    PullScope::Everything,
                    progress(true),
                ))
                .with_context(|| format!("pulling {name}"))?
                .0
        }
        local => oci_core::ImageSource::open(local).with_context(|| format!("opening {local}"))?,
    };
    let base_name = match &args.source {
        Reference::Registry(name) => Some(name.to_string()),
        _ => None,
    };
    let top = source.top_manifest()?;
    let mut out = std::io::stdout().lock();
    // One image, or every (selected) image of an index; the others are kept unchanged.
    let images: Vec<Image> = match top.parse()? {
        Manifest::Image(_) => vec![source.image_at(source.top())?],
        Manifest::Index(_) => source
            .images()?
            .into_iter()
            .filter(|i| {
                args.platforms.is_empty() || i.platform().is_some_and(|p| args.platforms.iter().any(|w| p.satisfies(w)))
            })
            .collect(),
    };
    if images.is_empty() {
        bail!("no image of {} matches the platforms asked for", args.source);
    }
    if args.dry_run {
        for image in &images {
            let fs = MergedFs::build_capturing(image, rules.capture())?;
            let evaluation = hardener::evaluate(&rules, &hardener::CheckInput::new(&fs, image));
            let fixes = evaluation.fixes();
            let entries = hardener::plan_entries(&fs, &fixes)?;
            writeln!(
                out,
                "{} ({}): {} patch layer entries",
                image.digest(),
                image.platform().map(|p| p.to_string()).unwrap_or_default(),
                entries.len()
            )?;
            for (e, _) in &entries {
                writeln!(out, "  {} {}/{} {}", e.meta.mode_string(), e.meta.uid, e.meta.gid, e.path)?;
            }
            for f in &fixes {
                if let hardener::Fix::Config(edit) = f {
                    writeln!(out, "  config: {edit:?}")?;
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut replaced = std::collections::BTreeMap::new();
    let mut reports = Vec::new();
    let mut sarif_runs = Vec::new();
    for image in &images {
        let hardened = hardener::harden(image, &rules, &layout, base_name.as_deref())
            .with_context(|| format!("hardening {} ({})", args.source, image.digest()))?;
        // The rules again on the result (a full read of the image): shown, and reported.
        let after = if args.quiet && args.report.is_none() {
            None
        } else {
            let new_source = hardener::hardened_source(&layout, hardened.descriptor.clone(), Some(&source));
            Some(evaluate_image(&new_source.image_at(&hardened.descriptor)?, &rules)?)
        };
        if let Some(after) = after.as_ref().filter(|_| !args.quiet) {
            evaluation_table(&mut out, &format!("before: {} ({})", args.source, image.digest()), &hardened.before)?;
            evaluation_table(&mut out, &format!("after: {}", hardened.descriptor.digest), after)?;
            writeln!(
                out,
                "{} → {} ({})",
                image.digest(),
                hardened.descriptor.digest,
                if hardened.unchanged {
                    "already hardened with these rules".to_owned()
                } else {
                    format!("{} patch layer entries", hardened.entries.len())
                }
            )?;
        }
        reports.push(HardenedImageReport {
            platform: image.platform().map(|p| p.to_string()),
            base: image.digest().clone(),
            digest: hardened.descriptor.digest.clone(),
            unchanged: hardened.unchanged,
            layer_entries: hardened.entries.iter().map(|e| e.path.clone()).collect(),
            before: hardened.before.report(),
            after: after.as_ref().map(Evaluation::report),
        });
        sarif_runs.push(hardener::evaluation_sarif_run(&args.source.to_string(), &rules, &hardened.before));
        let mut desc = hardened.descriptor.clone();
        desc.platform = image.descriptor().platform.clone();
        replaced.insert(image.digest().clone(), desc);
    }
    let top_desc: Descriptor = if top.media_type().is_index() {
        oci_core::replace_in_index(&top, &replaced, &layout)?
    } else {
        replaced.into_values().next().expect("one image")
    };
    let result = hardener::hardened_source(&layout, top_desc.clone(), Some(&source));
    let destination = args.destination.as_ref().expect("checked above");
    let report = match destination {
        Reference::Registry(name) => remote
            .runtime
            .block_on(oci_core::push(&remote.registry, &result, name, &[], &layout, progress(true)))
            .map(|(d, _, _)| d),
        local => oci_core::copy(&result, local, &CopyOptions::default()).map(|r| r.digest),
    }
    .with_context(|| format!("writing the hardened image to {destination}"))?;
    writeln!(out, "{destination} {report}")?;
    out.flush()?;
    if let Some(path) = &args.report {
        let doc = if args.format == ReportFormat::Sarif {
            serde_json::to_vec_pretty(&SarifLog::new(sarif_runs))?
        } else {
            serde_json::to_vec_pretty(&HardenReport {
                source: args.source.to_string(),
                destination: destination.to_string(),
                digest: report,
                rules: RuleSetId::from(&rules),
                images: reports,
            })?
        };
        std::fs::write(path, doc).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
