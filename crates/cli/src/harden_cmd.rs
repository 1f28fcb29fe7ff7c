//! `check` and `harden`: arguments in, library calls, reports out.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use hardener::{CheckReport, Evaluation, HardenOptions, RuleSet, RuleSeverity, RuleStatus};
use oci_core::{CopyOptions, Image, Platform, PullScope, Reference};

use crate::remote::{RegistryArgs, open_source, progress, with_layers};

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
    /// Build and write even when the destination is up to date (its labels name the
    /// source's current digest and this rule set; with --patch, also the same upgrades).
    #[arg(long)]
    force: bool,
    /// Also upgrade the image's vulnerable packages (see `oci-harden patch`), in the same
    /// single layer as the rule fixes.
    #[arg(long)]
    patch: bool,
    #[command(flatten)]
    upgrade: crate::patch_cmd::UpgradeArgs,
    /// With --patch: write an OpenVEX document of the upgrade here.
    #[arg(long, value_name = "FILE", requires = "patch")]
    vex: Option<PathBuf>,
    #[command(flatten)]
    profile: ProfileArgs,
    #[command(flatten)]
    attach: crate::attach_cmd::AttachArgs,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// Formats of `--runtime-profile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileFormatArg {
    /// A Kubernetes Pod manifest.
    Kubernetes,
    /// A Compose service.
    Compose,
    /// A `docker run` command line.
    Docker,
}

#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// Write the runtime settings matching the hardened image here: non-root user, read-only
    /// root filesystem, all capabilities dropped, no privilege escalation, RuntimeDefault
    /// seccomp, writable mounts for its volumes and temporary directories.
    #[arg(long, value_name = "FILE")]
    runtime_profile: Option<PathBuf>,
    /// The format of --runtime-profile.
    #[arg(long, value_enum, default_value_t = ProfileFormatArg::Kubernetes, requires = "runtime_profile")]
    profile_format: ProfileFormatArg,
}

impl ProfileArgs {
    /// Whether a runtime profile is asked for.
    pub fn wanted(&self) -> bool {
        self.runtime_profile.is_some()
    }

    /// Writes the profile of the first image written (`descriptor` in `result`), run as
    /// `destination` (pinned to `digest`, what was written there, for a registry), when
    /// asked for.
    pub fn write(
        &self,
        result: &oci_core::ImageSource,
        descriptor: &oci_core::Descriptor,
        destination: &Reference,
        digest: &oci_core::Digest,
    ) -> Result<()> {
        let Some(path) = &self.runtime_profile else { return Ok(()) };
        let format = match self.profile_format {
            ProfileFormatArg::Kubernetes => hardener::ProfileFormat::Kubernetes,
            ProfileFormatArg::Compose => hardener::ProfileFormat::Compose,
            ProfileFormatArg::Docker => hardener::ProfileFormat::Docker,
        };
        let image = result.image_at(descriptor)?;
        let run_as = match destination {
            Reference::Registry(name) if name.digest().is_none() => format!("{destination}@{digest}"),
            _ => destination.to_string(),
        };
        let profile = hardener::runtime_profile(&image, &run_as)?;
        for w in &profile.warnings {
            crate::style::warn(format_args!("runtime profile: {w}"));
        }
        oci_core::write_atomic(path, profile.render(format).as_bytes(), oci_core::FileMode::Public)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

fn load_rules(spec: &str) -> Result<RuleSet> {
    Ok(RuleSet::load(spec)?)
}

fn evaluate_image(image: &Image, rules: &RuleSet) -> Result<Evaluation> {
    hardener::evaluate_image(image, rules).with_context(|| format!("reading the layers of image {}", image.digest()))
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
    let evaluation = with_layers(remote.as_ref(), &args.reference, &image, |image| evaluate_image(image, &rules))?;
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
    args.attach.check(args.patch, args.destination.as_ref())?;
    if args.patch {
        if args.format == ReportFormat::Sarif && args.report.is_some() {
            bail!("harden --patch writes its report as JSON (the patch report)");
        }
        return crate::patch_cmd::run(crate::patch_cmd::Run {
            source: args.source,
            destination: args.destination,
            upgrade: args.upgrade,
            rules: Some(rules),
            dry_run: args.dry_run,
            report: args.report,
            vex: args.vex,
            fail_on: None,
            allow_unsupported: false,
            platforms: args.platforms,
            quiet: args.quiet,
            force: args.force,
            registry: args.registry,
            profile: Some(args.profile),
            attach: args.attach,
        });
    }
    if args.destination.is_none() && !args.dry_run {
        bail!("harden needs a destination (or --dry-run)");
    }
    let session = args.registry.session(progress(true));
    let mut out = std::io::stdout().lock();
    // A report, runtime profile or attachment asked for is work wanted: they are written
    // from the build.
    let outputs = args.report.is_some() || args.profile.wanted() || args.attach.any();
    if let (Some(destination), false, false, false) = (&args.destination, args.force, args.dry_run, outputs) {
        // Up to date means no work: manifests and configs only (cached ones cost nothing),
        // compared by their labels.
        let probe = crate::remote::open_metadata(&session, &args.source, &args.platforms)?;
        let wanted = hardener::Wanted::hardened(rules.digest(), args.platforms.clone());
        let freshness = hardener::destination_freshness(&session, &probe, destination, &wanted)
            .with_context(|| format!("reading {destination}"))?;
        if let hardener::Freshness::UpToDate { digest } = freshness {
            writeln!(out, "up to date: {destination} {digest}")?;
            out.flush()?;
            return Ok(ExitCode::SUCCESS);
        }
    }
    // The hardened image is built in the blob cache, then written to the destination.
    let layout = session.cache()?.clone();
    let mut options = HardenOptions::default();
    options.platforms = args.platforms.clone();
    if let Reference::Registry(name) = &args.source {
        options.base_name = Some(name.to_string());
    }
    // The rules again on each result (a full read of the image): shown, and reported.
    options.evaluate_after =
        !args.quiet || args.report.is_some() || args.attach.wants(hardener::AttachmentKind::Report);
    // A registry image's layers download while they are read (see `Session::open_streaming`).
    let hardened = session.open_streaming(&args.source, |source| -> Result<Option<hardener::HardenOutcome>> {
        if args.dry_run {
            for planned in hardener::plan(source, &rules, &options)? {
                writeln!(
                    out,
                    "{} ({}): {} patch layer entries",
                    planned.digest,
                    planned.platform.map(|p| p.to_string()).unwrap_or_default(),
                    planned.entries.len()
                )?;
                for e in &planned.entries {
                    writeln!(out, "  {} {}/{} {}", e.meta.mode_string(), e.meta.uid, e.meta.gid, e.path)?;
                }
                for edit in &planned.config {
                    writeln!(out, "  config: {edit:?}")?;
                }
            }
            return Ok(None);
        }
        let hardened = hardener::harden_source(source, &rules, &layout, &options)
            .with_context(|| format!("hardening {}", args.source))?;
        Ok(Some(hardened))
    })?;
    let Some(hardened) = hardened else { return Ok(ExitCode::SUCCESS) };
    if !args.quiet {
        for image in &hardened.images {
            let Some(after) = &image.after else { continue };
            let h = &image.hardened;
            evaluation_table(&mut out, &format!("before: {} ({})", args.source, image.base), &h.before)?;
            evaluation_table(&mut out, &format!("after: {}", h.descriptor.digest), after)?;
            writeln!(
                out,
                "{} → {} ({})",
                image.base,
                h.descriptor.digest,
                if h.unchanged {
                    "already hardened with these rules".to_owned()
                } else {
                    format!("{} patch layer entries", h.entries.len())
                }
            )?;
        }
    }
    let destination = args.destination.as_ref().expect("checked above");
    let digest = session
        .write(&hardened.result, destination, &CopyOptions::default())
        .with_context(|| format!("writing the hardened image to {destination}"))?
        .digest;
    writeln!(out, "{destination} {digest}")?;
    out.flush()?;
    if let Some(first) = hardened.images.first() {
        args.profile.write(&hardened.result, &first.hardened.descriptor, destination, &digest)?;
    }
    let source = args.source.to_string();
    let report = hardened.report(&source, &destination.to_string(), digest.clone(), &rules);
    if let Some(path) = &args.report {
        let doc = match args.format {
            ReportFormat::Sarif => serde_json::to_vec_pretty(&hardened.sarif(&source, &rules))?,
            ReportFormat::Json => serde_json::to_vec_pretty(&report)?,
        };
        oci_core::write_atomic(path, &doc, oci_core::FileMode::Public)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    args.attach.push(&session, &hardened.result, destination, &digest, &report, None, args.quiet)?;
    Ok(ExitCode::SUCCESS)
}
