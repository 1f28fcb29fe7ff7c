//! One function per subcommand: arguments in, library calls, output out.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use oci_core::{
    AtomicFile, CopyOptions, CopyReport, EntryKind, FileMode, Image, Manifest, MergedFs, Node, Platform, PullScope,
    Reference,
};
use serde_json::{Value, json};

use crate::output::{human_bytes, timestamp};
use crate::remote::{RegistryArgs, open_source, progress, with_layers};

/// Output format for commands that report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// JSON, stable for scripts.
    Json,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Image reference: a registry image, oci:DIR[:TAG] or docker-archive:FILE[:NAME:TAG].
    reference: Reference,
    #[command(flatten)]
    registry: RegistryArgs,
    /// For an index, describe the image for this platform (os/arch[/variant]).
    #[arg(long)]
    platform: Option<Platform>,
    /// Print the manifest (or index) bytes exactly as stored.
    #[arg(long, conflicts_with = "config")]
    raw: bool,
    /// Print the image config bytes exactly as stored.
    #[arg(long)]
    config: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Image reference: a registry image, oci:DIR[:TAG] or docker-archive:FILE[:NAME:TAG].
    reference: Reference,
    #[command(flatten)]
    registry: RegistryArgs,
    /// List only this path and what is below it.
    path: Option<String>,
    /// Show type, mode, owner, size, time and link targets, like `tar -tv`.
    #[arg(short, long)]
    long: bool,
    /// For an index, the platform to list (default: the only one, or the host's).
    #[arg(long)]
    platform: Option<Platform>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Image reference: a registry image, oci:DIR[:TAG] or docker-archive:FILE[:NAME:TAG].
    reference: Reference,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Where to write the tar; `-` for standard output.
    output: PathBuf,
    /// For an index, the platform to export (default: the only one, or the host's).
    #[arg(long)]
    platform: Option<Platform>,
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Source: a registry image (HOST[:PORT]/REPO[:TAG][@DIGEST]), oci:DIR[:TAG] or docker-archive:FILE.
    source: Reference,
    /// Destination: a registry image, oci:DIR[:TAG] or docker-archive:FILE[:NAME:TAG].
    destination: Reference,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Keep only this platform of an index (repeatable); default: all, keeping the index digest.
    #[arg(long = "platform")]
    platforms: Vec<Platform>,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Print nothing on success.
    #[arg(short, long)]
    quiet: bool,
    /// Also copy the image's OCI referrers (SBOMs, VEX, reports, signatures: manifests and
    /// blobs unchanged, same digests), through the destination's referrers API or its tag
    /// fallback.
    #[arg(long)]
    referrers: bool,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// The OCI layout directory.
    layout: PathBuf,
    /// Keep unreferenced blobs younger than this many seconds (another process may be
    /// about to tag them).
    #[arg(long, default_value_t = 600)]
    grace: u64,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// The registry image to pull into the blob cache.
    reference: Reference,
    /// Pull only this platform of an index (repeatable); default: all.
    #[arg(long = "platform")]
    platforms: Vec<Platform>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry: HOST[:PORT] (docker.io for Docker Hub).
    registry: String,
    /// User name.
    #[arg(short, long)]
    username: String,
    /// Read the password (or token) from standard input; it is never taken as an argument.
    #[arg(long, required = true)]
    password_stdin: bool,
    /// Save to this docker config file [default: $DOCKER_CONFIG/config.json or ~/.docker/config.json]
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Save without checking the credentials against the registry.
    #[arg(long)]
    no_verify: bool,
    #[command(flatten)]
    remote: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry: HOST[:PORT].
    registry: String,
    /// The docker config file [default: $DOCKER_CONFIG/config.json or ~/.docker/config.json]
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

pub(crate) fn stdout() -> BufWriter<io::StdoutLock<'static>> {
    BufWriter::with_capacity(64 << 10, io::stdout().lock())
}

fn merged(image: &Image) -> Result<MergedFs> {
    let fs = MergedFs::build(image).with_context(|| format!("reading the layers of image {}", image.digest()))?;
    for w in fs.warnings() {
        crate::style::warn(w);
    }
    Ok(fs)
}

pub fn inspect(args: InspectArgs) -> Result<ExitCode> {
    let platforms: Vec<Platform> = args.platform.iter().cloned().collect();
    let (source, _remote) = open_source(&args.reference, &args.registry, &platforms, PullScope::Metadata)?;
    let top = source.top_manifest()?;
    let is_index = top.media_type().is_index();
    let image = if !is_index || args.platform.is_some() || args.config {
        Some(source.image(args.platform.as_ref())?)
    } else {
        None
    };
    let mut out = stdout();
    if args.raw {
        let bytes =
            image.as_ref().filter(|_| args.platform.is_some()).map_or(top.bytes(), |i| i.raw_manifest().bytes());
        out.write_all(bytes)?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.config {
        out.write_all(image.as_ref().expect("selected above").config_bytes())?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let index_entries = match top.parse()? {
        Manifest::Index(index) => Some(index.manifests),
        Manifest::Image(_) => None,
    };
    match args.format {
        Format::Json => {
            let mut v = json!({
                "reference": args.reference.to_string(),
                "digest": top.digest(),
                "mediaType": top.media_type(),
                "size": top.bytes().len(),
            });
            if let Some(entries) = &index_entries {
                v["manifests"] = serde_json::to_value(entries)?;
            }
            if let Some(image) = &image {
                v["image"] = image_json(image);
            }
            serde_json::to_writer_pretty(&mut out, &v)?;
            writeln!(out)?;
        }
        Format::Text => {
            writeln!(out, "Reference:   {}", args.reference)?;
            writeln!(out, "Digest:      {}", top.digest())?;
            writeln!(out, "Media type:  {}", top.media_type())?;
            writeln!(out, "Size:        {} bytes", top.bytes().len())?;
            if let Some(entries) = &index_entries {
                writeln!(out, "Manifests:   {}", entries.len())?;
                for d in entries {
                    let platform = d.platform.as_ref().map_or_else(|| "-".to_owned(), Platform::to_string);
                    writeln!(out, "  {platform:<18} {}  {}", d.digest, d.media_type)?;
                }
            }
            if let Some(image) = &image {
                if is_index {
                    writeln!(out, "\nImage:       {}", image.digest())?;
                }
                image_text(&mut out, image)?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn image_json(image: &Image) -> Value {
    let c = image.config();
    json!({
        "digest": image.digest(),
        "mediaType": image.raw_manifest().media_type(),
        "platform": image.platform().map(|p| p.to_string()),
        "config": {"digest": image.manifest().config.digest, "size": image.manifest().config.size},
        "created": c.created(),
        "user": c.user(),
        "entrypoint": c.entrypoint(),
        "cmd": c.cmd(),
        "env": c.env(),
        "workingDir": c.working_dir(),
        "labels": c.labels().into_iter().map(|(k, v)| (k.to_owned(), Value::from(v))).collect::<serde_json::Map<_, _>>(),
        "history": c.history().len(),
        "layers": image.layers().iter().map(|l| json!({
            "digest": l.descriptor.digest,
            "mediaType": l.descriptor.media_type,
            "size": l.descriptor.size,
            "diffId": l.diff_id,
        })).collect::<Vec<_>>(),
    })
}

fn image_text(out: &mut impl Write, image: &Image) -> Result<()> {
    let c = image.config();
    let m = image.manifest();
    let or_dash = |v: Option<&str>| v.unwrap_or("-").to_owned();
    writeln!(out, "Platform:    {}", image.platform().map_or_else(|| "-".to_owned(), |p| p.to_string()))?;
    writeln!(out, "Created:     {}", or_dash(c.created()))?;
    writeln!(out, "Config:      {} ({} bytes)", m.config.digest, m.config.size)?;
    writeln!(out, "User:        {}", c.user().unwrap_or("(root)"))?;
    writeln!(out, "Entrypoint:  {}", c.entrypoint().join(" "))?;
    writeln!(out, "Cmd:         {}", c.cmd().join(" "))?;
    writeln!(out, "WorkingDir:  {}", or_dash(c.working_dir()))?;
    for (i, e) in c.env().iter().enumerate() {
        writeln!(out, "{}{e}", if i == 0 { "Env:         " } else { "             " })?;
    }
    for (i, (k, v)) in c.labels().iter().enumerate() {
        writeln!(out, "{}{k}={v}", if i == 0 { "Labels:      " } else { "             " })?;
    }
    writeln!(out, "History:     {} entries", c.history().len())?;
    let layers = image.layers();
    let total: u64 = layers.iter().map(|l| l.descriptor.size).sum();
    writeln!(out, "Layers:      {} ({})", layers.len(), human_bytes(total))?;
    for l in &layers {
        writeln!(
            out,
            "  {:>3}  {:>10}  {}  diff_id {}  {}",
            l.index,
            human_bytes(l.descriptor.size),
            l.descriptor.digest,
            l.diff_id,
            l.descriptor.media_type
        )?;
    }
    Ok(())
}

pub fn ls(args: LsArgs) -> Result<ExitCode> {
    let platforms: Vec<Platform> = args.platform.iter().cloned().collect();
    let (source, remote) = open_source(&args.reference, &args.registry, &platforms, PullScope::Metadata)?;
    let image = source.image(args.platform.as_ref())?;
    let fs = with_layers(remote.as_ref(), &args.reference, &image, merged)?;
    let dir = args.path.as_deref().unwrap_or("/");
    let mut out = stdout();
    let mut any = dir.trim_matches('/').is_empty();
    for (path, node) in fs.walk(dir) {
        any = true;
        if args.long {
            write_long(&mut out, path, node)?;
        } else if node.meta.kind == EntryKind::Dir {
            writeln!(out, "{path}/")?;
        } else {
            writeln!(out, "{path}")?;
        }
    }
    out.flush()?;
    if !any {
        bail!("{dir}: no such file or directory in image {}", image.digest());
    }
    Ok(ExitCode::SUCCESS)
}

fn write_long(out: &mut impl Write, path: &str, node: &Node) -> io::Result<()> {
    let m = &node.meta;
    let size = match m.device {
        Some((major, minor)) => format!("{major},{minor}"),
        None => m.size.to_string(),
    };
    let slash = if m.kind == EntryKind::Dir { "/" } else { "" };
    write!(out, "{} {}/{} {:>9} {} {path}{slash}", m.mode_string(), m.uid, m.gid, size, timestamp(m.mtime))?;
    match (m.kind, &m.link) {
        (EntryKind::Symlink, Some(t)) => writeln!(out, " -> {t}"),
        (EntryKind::Hardlink, Some(t)) => writeln!(out, " link to {t}"),
        _ => writeln!(out),
    }
}

pub fn export(args: ExportArgs) -> Result<ExitCode> {
    let platforms: Vec<Platform> = args.platform.iter().cloned().collect();
    let (source, remote) = open_source(&args.reference, &args.registry, &platforms, PullScope::Metadata)?;
    let image = source.image(args.platform.as_ref())?;
    let fs = with_layers(remote.as_ref(), &args.reference, &image, merged)?;
    if args.output == Path::new("-") {
        let mut out = stdout();
        oci_core::export(&fs, &mut out)?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut w = AtomicFile::create(&args.output, FileMode::Public)?;
    oci_core::export(&fs, &mut w)?;
    w.commit()?;
    Ok(ExitCode::SUCCESS)
}

pub fn copy(args: CopyArgs) -> Result<ExitCode> {
    if args.referrers {
        for end in [&args.source, &args.destination] {
            if let Reference::DockerArchive { .. } = end {
                bail!("--referrers: {end} cannot hold referrers (registries and oci: layouts do)");
            }
        }
    }
    let options = CopyOptions { platforms: args.platforms.clone() };
    let session = args.registry.session(progress(args.quiet));
    let report = session
        .copy(&args.source, &args.destination, &options)
        .with_context(|| format!("copying {} to {}", args.source, args.destination))?;
    let referrers = if args.referrers {
        Some(crate::attach_cmd::copy_referrers(
            &session,
            &args.source,
            &args.destination,
            &report.digest,
            &args.platforms,
        )?)
    } else {
        None
    };
    if !args.quiet {
        print_report(&args.source.to_string(), &args.destination.to_string(), &report, referrers, args.format)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(
    source: &str,
    destination: &str,
    report: &CopyReport,
    referrers: Option<(usize, usize)>,
    format: Format,
) -> Result<()> {
    let mut out = stdout();
    match format {
        Format::Json => {
            let mut doc = json!({
                    "source": source,
                    "destination": destination,
                    "digest": report.digest,
                    "mediaType": report.media_type,
                    "blobsWritten": report.blobs_written,
                    "blobsSkipped": report.blobs_skipped,
                    "blobsMounted": report.blobs_mounted,
                    "bytesWritten": report.bytes_written,
                    "bytesDownloaded": report.bytes_downloaded,
                    "bytesSkipped": report.bytes_skipped,
            });
            if let Some((n, tags)) = referrers {
                doc["referrersCopied"] = json!(n);
                doc["signatureTagsCopied"] = json!(tags);
            }
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        Format::Text => writeln!(
            out,
            "{source} -> {destination}\n  digest {}\n  {} blobs written ({}), {} already there, {} mounted; {} downloaded, {} not moved",
            report.digest,
            report.blobs_written,
            human_bytes(report.bytes_written),
            report.blobs_skipped,
            report.blobs_mounted,
            human_bytes(report.bytes_downloaded),
            human_bytes(report.bytes_skipped),
        )?,
    }
    if let (Some((n, tags)), Format::Text) = (referrers, format) {
        writeln!(out, "  {n} referrers copied, {tags} signature tags")?;
    }
    out.flush()?;
    Ok(())
}

pub fn pull(args: PullArgs) -> Result<ExitCode> {
    let Reference::Registry(name) = &args.reference else {
        bail!("pull takes a registry image (to copy local images, use `oci-harden copy`)");
    };
    let session = args.registry.session(progress(args.quiet));
    let (source, stats) =
        session.pull(name, &args.platforms, PullScope::Everything).with_context(|| format!("pulling {name}"))?;
    if args.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    let report = CopyReport {
        bytes_downloaded: stats.bytes_downloaded,
        bytes_skipped: stats.bytes_skipped,
        blobs_skipped: stats.blobs_skipped,
        ..CopyReport::empty(source.top().digest.clone(), source.top().media_type.clone())
    };
    let cache = session.cache()?.root().display().to_string();
    print_report(&name.to_string(), &format!("oci:{cache}"), &report, None, args.format)?;
    Ok(ExitCode::SUCCESS)
}

pub fn push(args: CopyArgs) -> Result<ExitCode> {
    copy(args)
}

pub fn login(args: LoginArgs) -> Result<ExitCode> {
    let mut password = String::new();
    io::stdin().read_line(&mut password).context("reading the password from standard input")?;
    let password = password.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        bail!("no password on standard input");
    }
    let host = oci_core::normalize_registry_host(&args.registry)?;
    if !args.no_verify {
        let session = args.remote.session(progress(true));
        session.block_on(session.registry()?.verify_login(&host, &args.username, &password))??;
    }
    let path = args.config.unwrap_or_else(oci_core::default_docker_config_path);
    oci_core::login(&path, &host, &args.username, &password)?;
    eprintln!("Login succeeded for {host} (saved in {})", path.display());
    Ok(ExitCode::SUCCESS)
}

pub fn logout(args: LogoutArgs) -> Result<ExitCode> {
    let host = oci_core::normalize_registry_host(&args.registry)?;
    let path = args.config.unwrap_or_else(oci_core::default_docker_config_path);
    if oci_core::logout(&path, &host)? {
        eprintln!("Removed the credentials for {host} from {}", path.display());
    } else {
        eprintln!("No credentials for {host} in {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn gc(args: GcArgs) -> Result<ExitCode> {
    let layout = oci_core::OciLayout::open(&args.layout)?;
    let stats = layout.gc(std::time::Duration::from_secs(args.grace))?;
    let mut out = stdout();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(
                &mut out,
                &json!({
                    "removed": stats.removed,
                    "bytesFreed": stats.bytes_freed,
                    "kept": stats.kept,
                    "indexesRemoved": stats.indexes_removed,
                }),
            )?;
            writeln!(out)?;
        }
        Format::Text => writeln!(
            out,
            "{}: removed {} blobs ({}), kept {}; removed {} layer indexes",
            args.layout.display(),
            stats.removed,
            human_bytes(stats.bytes_freed),
            stats.kept,
            stats.indexes_removed
        )?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
