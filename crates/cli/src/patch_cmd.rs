//! `patch` (and `harden --patch`): arguments in, one library call, reports out.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use hardener::{
    Gate, MirrorRule, PatchJob, PatchJobImage, PatchJobOptions, PlannedChanges, RepoOptions, RuleSet, ScriptPolicy,
    Severity, UpgradeReason, UpgradeSelection, UpgradedPackage,
};
use oci_core::{CopyOptions, Platform, Reference};

use crate::remote::{RegistryArgs, progress};

/// What to upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UpgradeMode {
    /// What a scan finds fixable (the advisory database, or --from-report), nothing else.
    Vulnerable,
    /// Every installed package with a newer version in the image's own release, like
    /// `apt-get upgrade` (new packages only when a new version needs them).
    All,
}

/// What to do about maintainer scripts and triggers that are not known to be harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScriptsArg {
    /// Refuse the upgrade, naming the package and script (nothing written).
    Refuse,
    /// Go on; the report lists them as not run.
    Warn,
}

/// The upgrade options `patch` and `harden --patch` share.
#[derive(Debug, Clone, Args)]
pub struct UpgradeArgs {
    /// What to upgrade.
    #[arg(long, value_enum, default_value_t = UpgradeMode::Vulnerable)]
    upgrade: UpgradeMode,
    /// Upgrade exactly these packages (NAME or NAME:ARCH, comma-separated), to the newest
    /// version of the image's release.
    #[arg(long, value_delimiter = ',', value_name = "NAME[:ARCH]")]
    packages: Vec<String>,
    /// Upgrade the fixable findings of this Trivy JSON report (as copa takes) instead of
    /// scanning.
    #[arg(long, value_name = "FILE", conflicts_with = "packages")]
    from_report: Option<PathBuf>,
    /// The advisory database directory [default: $XDG_CACHE_HOME/oci-harden/advisories]
    #[arg(long, value_name = "DIR")]
    db: Option<PathBuf>,
    /// An apt source: a one-line `deb [signed-by=FILE] URI SUITE COMPONENT…`, or a deb822
    /// `.sources` / `.list` file on this machine (repeatable); added to the image's sources.
    /// For Alpine: an apk repository URL of the image's branch, `file:DIR` or a directory;
    /// `[trusted=yes] URL` accepts its index unsigned or signed by an unknown key (warned).
    #[arg(long = "repo", value_name = "SPEC|FILE")]
    repos: Vec<String>,
    /// Use only the --repo sources, not the image's (air-gapped mirrors).
    #[arg(long, requires = "repos")]
    repos_only: bool,
    /// Rewrite a source URI prefix: FROM=TO (a corporate mirror, a snapshot archive; repeatable).
    #[arg(long = "mirror", value_name = "FROM=TO")]
    mirrors: Vec<MirrorRule>,
    /// Also trust the keys in this keyring file (binary or armored; repeatable). For Alpine:
    /// a PEM RSA public key, named by its file name as in /etc/apk/keys.
    #[arg(long = "keyring", value_name = "FILE")]
    keyrings: Vec<PathBuf>,
    /// Accept a Release whose Valid-Until has passed (snapshot archives); warned about.
    #[arg(long)]
    allow_expired: bool,
    /// Maintainer scripts and triggers not known to be harmless are never run: refuse the
    /// upgrade, or go on and report them.
    #[arg(long, value_enum, default_value_t = ScriptsArg::Refuse)]
    scripts: ScriptsArg,
    /// With --dry-run: fetch and verify the package files into the cache (nothing else is
    /// written), so the plan shows each package's files and scripts exactly.
    #[arg(long, requires = "dry_run")]
    fetch_packages: bool,
}

/// `oci-harden patch`.
#[derive(Debug, Args)]
pub struct PatchArgs {
    /// The image to patch: a registry image, oci:DIR[:TAG] or docker-archive:FILE.
    source: Reference,
    /// Where to write the patched image: a registry image, oci:DIR[:TAG] or docker-archive:FILE.
    destination: Option<Reference>,
    #[command(flatten)]
    upgrade: UpgradeArgs,
    /// Also apply this rule set, in the same single layer (TOML file or builtin:NAME).
    #[arg(long)]
    rules: Option<String>,
    /// Show the plan (each package: installed → new version, source, why; its files added,
    /// replaced and removed and its scripts when the package files are in the cache), from
    /// repository metadata only; fetch no package (unless --fetch-packages) and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Write the JSON report (packages, files, conffiles, scripts, what remains) here; with
    /// --dry-run, the plan and what is known of each package's changes.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Write an OpenVEX document here: `fixed` for what the upgrade fixed, `affected` (with
    /// the reason) for what remains.
    #[arg(long, value_name = "FILE")]
    vex: Option<PathBuf>,
    /// Exit 1 when a finding at or above this severity remains after patching.
    #[arg(long, value_name = "SEVERITY")]
    fail_on: Option<String>,
    /// Let the --fail-on gate pass an image that could not be scanned.
    #[arg(long)]
    allow_unsupported: bool,
    /// Patch only this platform of an index (repeatable); the others are kept unchanged.
    #[arg(long = "platform")]
    platforms: Vec<Platform>,
    /// Print only the new digest.
    #[arg(short, long)]
    quiet: bool,
    /// Patch and write even when the destination is up to date (its labels name the
    /// source's current digest, these rules and the upgrades the plan resolves now).
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    attach: crate::attach_cmd::AttachArgs,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub fn patch(args: PatchArgs) -> Result<ExitCode> {
    let rules = args.rules.as_deref().map(RuleSet::load).transpose()?;
    args.attach.check(true, args.destination.as_ref())?;
    run(Run {
        source: args.source,
        destination: args.destination,
        upgrade: args.upgrade,
        rules,
        dry_run: args.dry_run,
        report: args.report,
        vex: args.vex,
        fail_on: args.fail_on,
        allow_unsupported: args.allow_unsupported,
        platforms: args.platforms,
        quiet: args.quiet,
        force: args.force,
        registry: args.registry,
        profile: None,
        attach: args.attach,
    })
}

/// Everything a patch run needs (from `patch` or `harden --patch`).
pub struct Run {
    pub source: Reference,
    pub destination: Option<Reference>,
    pub upgrade: UpgradeArgs,
    pub rules: Option<RuleSet>,
    pub dry_run: bool,
    pub report: Option<PathBuf>,
    pub vex: Option<PathBuf>,
    pub fail_on: Option<String>,
    pub allow_unsupported: bool,
    pub platforms: Vec<Platform>,
    pub quiet: bool,
    /// Write even when the destination is up to date.
    pub force: bool,
    pub registry: RegistryArgs,
    /// `harden --patch --runtime-profile`.
    pub profile: Option<crate::harden_cmd::ProfileArgs>,
    /// `--attach`.
    pub attach: crate::attach_cmd::AttachArgs,
}

pub fn run(args: Run) -> Result<ExitCode> {
    let fail_on = args.fail_on.as_deref().map(crate::scan_cmd::severity).transpose()?;
    if args.destination.is_none() && !args.dry_run {
        bail!("patch needs a destination (or --dry-run)");
    }
    let session = args.registry.session(progress(args.quiet));
    let layout = session.cache()?.clone();
    let options = job_options(&args, &session)?;
    let mut out = std::io::stdout().lock();
    // A registry image's layers download while they are read (see `Session::open_streaming`).
    let job = session.open_streaming(&args.source, |source| -> Result<Option<hardener::PatchJob>> {
        if args.dry_run {
            let images = hardener::plan_patch(source, &layout, &options)?;
            for image in &images {
                print_plan(&mut out, image)?;
            }
            if let Some(path) = &args.report {
                let report = hardener::plan_report(&args.source.to_string(), &images);
                oci_core::write_atomic(path, &serde_json::to_vec_pretty(&report)?, oci_core::FileMode::Public)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            return Ok(None);
        }
        // A report, VEX document, runtime profile or attachment asked for is work wanted
        // (written from the patch itself).
        let outputs = args.report.is_some()
            || args.vex.is_some()
            || args.attach.any()
            || args.profile.as_ref().is_some_and(crate::harden_cmd::ProfileArgs::wanted);
        if let (Some(destination), false, false) = (&args.destination, args.force, outputs) {
            let freshness =
                hardener::patch_freshness(&session, source, destination, args.rules.as_ref(), &layout, &options)
                    .with_context(|| format!("comparing {destination} with {}", args.source))?;
            if let hardener::Freshness::UpToDate { digest } = freshness {
                writeln!(out, "up to date: {destination} {digest}")?;
                out.flush()?;
                return Ok(None);
            }
        }
        let job = hardener::patch_job(source, args.rules.as_ref(), &layout, &options)
            .with_context(|| format!("patching {}", args.source))?;
        Ok(Some(job))
    })?;
    let Some(job) = job else { return Ok(ExitCode::SUCCESS) };
    if !args.quiet {
        print_job(&mut out, &job)?;
    }
    let destination = args.destination.as_ref().expect("checked above");
    let written = session
        .write(&job.outcome.result, destination, &CopyOptions::default())
        .with_context(|| format!("writing the patched image to {destination}"))?;
    writeln!(out, "{destination} {}", written.digest)?;
    out.flush()?;
    if let (Some(profile), Some(first)) = (&args.profile, job.outcome.images.first()) {
        profile.write(&job.outcome.result, &first.patched.descriptor, destination, &written.digest)?;
    }
    let report =
        job.report(&destination.to_string(), written.digest.clone(), args.rules.as_ref(), &args.source.to_string());
    if let Some(path) = &args.report {
        oci_core::write_atomic(path, &serde_json::to_vec_pretty(&report)?, oci_core::FileMode::Public)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let (name, repository) = match destination {
        Reference::Registry(name) => (name.repository().to_owned(), Some(name.registry().to_owned())),
        other => (other.to_string().rsplit(['/', ':']).nth(1).unwrap_or("image").to_owned(), None),
    };
    let now = oci_core::time::format_rfc3339(std::time::SystemTime::now());
    let vex = job.vex(&name, repository.as_deref(), &now);
    if let Some(path) = &args.vex {
        let Some(vex) = &vex else {
            bail!(
                "no VEX document: the images were not scanned before patching (use the advisory database or --from-report)"
            );
        };
        oci_core::write_atomic(path, &serde_json::to_vec_pretty(vex)?, oci_core::FileMode::Public)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    args.attach.push(&session, &job.outcome.result, destination, &written.digest, &report, vex.as_ref(), args.quiet)?;
    let Some(threshold) = fail_on else { return Ok(ExitCode::SUCCESS) };
    gate(&job, threshold, args.allow_unsupported)
}

fn job_options(args: &Run, session: &oci_core::Session) -> Result<PatchJobOptions> {
    let u = &args.upgrade;
    let selection = if !u.packages.is_empty() {
        UpgradeSelection::Packages(u.packages.clone())
    } else if let Some(path) = &u.from_report {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        UpgradeSelection::Report(Box::new(hardener::from_trivy_json(&bytes, &path.display().to_string())?))
    } else if u.upgrade == UpgradeMode::All {
        UpgradeSelection::All
    } else {
        let dir = u.db.clone().unwrap_or_else(hardener::default_db_dir);
        hardener::AdvisoryDb::read_info(&dir).map_err(|e| crate::scan_cmd::advised(e, false))?;
        UpgradeSelection::Vulnerable { db_dir: dir }
    };
    let mut options = PatchJobOptions::new(args.source.to_string(), selection);
    let mut repo = RepoOptions::default();
    repo.repos = u.repos.clone();
    repo.replace_sources = u.repos_only;
    repo.mirrors = u.mirrors.clone();
    repo.keyrings = u.keyrings.clone();
    repo.allow_expired = u.allow_expired;
    repo.cache = session.options().cache_dir.clone();
    options.repo = repo;
    options.patch.platforms = args.platforms.clone();
    options.fetch_packages = u.fetch_packages;
    options.patch.scripts = match u.scripts {
        ScriptsArg::Refuse => ScriptPolicy::Refuse,
        ScriptsArg::Warn => ScriptPolicy::Warn,
    };
    if let Reference::Registry(name) = &args.source {
        options.patch.base_name = Some(name.to_string());
    }
    Ok(options)
}

fn reason(r: &UpgradeReason) -> String {
    match r {
        UpgradeReason::Fixes { vulnerabilities } => format!("fixes {}", vulnerabilities.join(" ")),
        UpgradeReason::Requested => "requested".into(),
        UpgradeReason::Newer => "newer".into(),
        UpgradeReason::Dependency { by } => format!("needed by {by}"),
        _ => String::new(),
    }
}

fn print_plan(out: &mut impl Write, image: &PatchJobImage) -> std::io::Result<()> {
    let plan = &image.planned.plan;
    let platform = image.platform.as_ref().map(|p| format!(" ({p})")).unwrap_or_default();
    writeln!(out, "{}{platform}: {} packages to upgrade", image.base, plan.packages.len())?;
    for p in &plan.packages {
        writeln!(
            out,
            "  {}:{} {} → {} (source {} {}; {}) from {} {}",
            p.name,
            p.architecture,
            p.installed.as_deref().unwrap_or("(new)"),
            p.version,
            p.source,
            p.source_version,
            reason(&p.reason),
            p.file.suite,
            p.file.filename
        )?;
        if let Some(PlannedChanges::Exact { packages, .. }) = &image.planned.changes
            && let Some(u) = packages.iter().find(|u| u.name == p.name && u.architecture == p.architecture)
        {
            print_changes(out, u)?;
        }
    }
    match &image.planned.changes {
        Some(PlannedChanges::Exact { refused: Some(why), .. }) => {
            writeln!(out, "  the patch would be refused: {why} (--scripts warn goes on without it)")?;
        }
        Some(PlannedChanges::NotFetched { missing }) => writeln!(
            out,
            "  files and scripts known once the package files are fetched (--fetch-packages); not in the cache: {}",
            missing.join(", ")
        )?,
        _ => {}
    }
    for t in &plan.unfixable {
        writeln!(
            out,
            "  no fix available: {} ({}; needs {})",
            t.package,
            t.vulnerabilities.join(" "),
            t.fixed_version
        )?;
    }
    for w in &plan.warnings {
        writeln!(out, "  warning: {w}")?;
    }
    Ok(())
}

/// One package's files, conffiles and scripts, as a dry run knows them.
fn print_changes(out: &mut impl Write, u: &UpgradedPackage) -> std::io::Result<()> {
    let c = &u.files.counts;
    writeln!(out, "      files: {} added, {} replaced, {} removed", c.added, c.replaced, c.removed)?;
    for (sign, paths) in [("+", &u.files.added), ("~", &u.files.replaced), ("-", &u.files.removed)] {
        for path in paths {
            writeln!(out, "        {sign} /{path}")?;
        }
    }
    for c in &u.conffiles {
        writeln!(out, "      conffile {}: {}", c.path, conffile_action(c.action))?;
    }
    for s in &u.scripts {
        writeln!(out, "      {} {}: {} ({})", s.kind, s.name, disposition(s.disposition), s.detail)?;
    }
    Ok(())
}

fn disposition(d: hardener::ScriptDisposition) -> &'static str {
    match d {
        hardener::ScriptDisposition::Handled => "done natively",
        hardener::ScriptDisposition::Harmless => "harmless, not run",
        hardener::ScriptDisposition::Stored => "stored (not run on an upgrade)",
        hardener::ScriptDisposition::NotRun => "NOT RUN",
        _ => "other",
    }
}

fn conffile_action(a: hardener::ConffileAction) -> &'static str {
    match a {
        hardener::ConffileAction::Replaced => "new version installed",
        hardener::ConffileAction::Unchanged => "unchanged",
        hardener::ConffileAction::KeptDistWritten => "changed in the image, kept; the new one as .dpkg-dist",
        hardener::ConffileAction::StaysDeleted => "deleted in the image, stays deleted",
        hardener::ConffileAction::Removed => "removed (remove-on-upgrade)",
        hardener::ConffileAction::SavedAsDpkgOld => "changed in the image, moved to .dpkg-old (remove-on-upgrade)",
        hardener::ConffileAction::KeptApkNewWritten => "changed in the image, kept; the new one as .apk-new",
    }
}

fn print_job(out: &mut impl Write, job: &PatchJob) -> std::io::Result<()> {
    for (patched, image) in job.outcome.images.iter().zip(&job.images) {
        let p = &patched.patched;
        let platform = image.platform.as_ref().map(|p| format!(" ({p})")).unwrap_or_default();
        writeln!(out, "{}{platform} → {}", image.base, p.descriptor.digest)?;
        writeln!(out, "  {:<28} {:<24} {:<24} WHY", "PACKAGE", "INSTALLED", "NEW")?;
        for u in &p.upgrades {
            writeln!(
                out,
                "  {:<28} {:<24} {:<24} {}",
                format!("{}:{}", u.name, u.architecture),
                u.old_version.as_deref().unwrap_or("(new)"),
                u.new_version,
                reason(&u.reason)
            )?;
            for s in u.scripts.iter().filter(|s| s.disposition == hardener::ScriptDisposition::NotRun) {
                writeln!(out, "      not run: {} {} ({})", s.kind, s.name, s.detail)?;
            }
            for c in &u.conffiles {
                if c.action == hardener::ConffileAction::KeptDistWritten {
                    writeln!(out, "      {}: changed in the image, kept; the new one is {}.dpkg-dist", c.path, c.path)?;
                }
                if c.action == hardener::ConffileAction::KeptApkNewWritten {
                    writeln!(out, "      {}: changed in the image, kept; the new one is {}.apk-new", c.path, c.path)?;
                }
            }
        }
        for t in &image.planned.plan.unfixable {
            writeln!(out, "  no fix available: {} ({})", t.package, t.vulnerabilities.join(" "))?;
        }
        for w in &image.planned.plan.warnings {
            writeln!(out, "  warning: {w}")?;
        }
        if let (Some(before), Some(after)) = (&image.planned.before, &image.after) {
            writeln!(
                out,
                "  findings: {} before, {} after ({} fixed)",
                before.findings.len(),
                after.findings.len(),
                before.findings.len().saturating_sub(after.findings.len())
            )?;
        }
    }
    Ok(())
}

fn gate(job: &PatchJob, threshold: Severity, allow_unsupported: bool) -> Result<ExitCode> {
    let mut code = ExitCode::SUCCESS;
    for image in &job.images {
        let Some(after) = &image.after else {
            bail!("--fail-on needs findings: the image was not scanned (use the advisory database or --from-report)");
        };
        match after.gate(threshold, allow_unsupported) {
            Gate::Pass => {}
            Gate::Fail => code = ExitCode::from(1),
            Gate::NotScanned => bail!(
                "{} was not scanned: the --fail-on gate cannot pass it; pass --allow-unsupported to accept that",
                image.base
            ),
        }
    }
    Ok(code)
}
