//! `--attach` of `harden` and `patch`, `referrers`, and `copy --referrers`: arguments in,
//! library calls, lines out.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use hardener::{AttachmentKind, VexDocument};
use oci_core::{Descriptor, Digest, ImageSource, Manifest, Platform, PullScope, Reference, Session};
use serde::Serialize;

use crate::remote::RegistryArgs;

/// What `harden` and `patch` attach to the image they write.
#[derive(Debug, Clone, Args)]
pub struct AttachArgs {
    /// After the image, push these as OCI referrers of it (comma-separated): sbom (CycloneDX
    /// 1.5 of the result), vex (OpenVEX of the patch; when patching), report (the JSON report).
    /// A registry's referrers API is used when it has one, else the sha256-<hex> tag index;
    /// an oci: layout lists them in its index.json.
    #[arg(long, value_delimiter = ',', value_name = "sbom,vex,report")]
    pub attach: Vec<AttachmentKind>,
}

impl AttachArgs {
    /// Refuses what cannot be attached, before any work: VEX without a patch, and
    /// destinations that hold no referrers.
    pub fn check(&self, patching: bool, destination: Option<&Reference>) -> Result<()> {
        if self.attach.is_empty() {
            return Ok(());
        }
        if !patching && self.attach.contains(&AttachmentKind::Vex) {
            bail!("--attach vex needs a patch (use `oci-harden patch` or `harden --patch`)");
        }
        if let Some(d @ Reference::DockerArchive { .. }) = destination {
            bail!("--attach: {d} cannot hold referrers (write to a registry or an oci: layout)");
        }
        Ok(())
    }

    pub fn wants(&self, kind: AttachmentKind) -> bool {
        self.attach.contains(&kind)
    }

    /// Whether any attachment was asked for.
    pub fn any(&self) -> bool {
        !self.attach.is_empty()
    }

    /// Builds and pushes the attachments of `result`, written to `destination` as
    /// `digest`; prints one line per attachment unless `quiet`.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &self,
        session: &Session,
        result: &ImageSource,
        destination: &Reference,
        digest: &Digest,
        report: &impl Serialize,
        vex: Option<&VexDocument>,
        quiet: bool,
    ) -> Result<()> {
        if self.attach.is_empty() {
            return Ok(());
        }
        let top = result.top().clone();
        if &top.digest != digest {
            bail!("--attach: {destination} holds {digest}, not the image built ({})", top.digest);
        }
        let mut attachments = Vec::new();
        let mut kinds = self.attach.clone();
        kinds.sort();
        kinds.dedup();
        for kind in kinds {
            match kind {
                AttachmentKind::Sbom => attachments.extend(
                    hardener::sbom_attachments(result, &destination.to_string(), &hardener::today_utc())
                        .context("making the SBOM to attach")?,
                ),
                AttachmentKind::Vex => {
                    let Some(vex) = vex else {
                        bail!(
                            "--attach vex: no VEX document, the images were not scanned before patching (use the advisory database or --from-report)"
                        );
                    };
                    attachments.push(hardener::document_attachment(kind, &top, vex));
                }
                AttachmentKind::Report => attachments.push(hardener::document_attachment(kind, &top, report)),
            }
        }
        let attached = hardener::attach(session, destination, &attachments)
            .with_context(|| format!("attaching to {destination}"))?;
        if !quiet {
            let mut out = std::io::stdout().lock();
            for (kind, a) in attached {
                writeln!(out, "attached {kind} {} ({})", a.descriptor.digest, a.via.as_str())?;
            }
        }
        Ok(())
    }
}

/// Output formats of `referrers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// A table: digest, artifact type, size.
    Table,
    /// JSON: subject, how they were found, the referrers' descriptors.
    Json,
}

#[derive(Debug, Args)]
pub struct ReferrersArgs {
    /// The image or index: a registry image or oci:DIR[:TAG].
    reference: Reference,
    /// Only referrers of this artifactType (e.g. application/vnd.cyclonedx+json).
    #[arg(long, value_name = "TYPE")]
    artifact_type: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    format: ListFormat,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReferrersJson<'a> {
    reference: String,
    subject: &'a Digest,
    via: &'static str,
    referrers: &'a [Descriptor],
}

/// `oci-harden referrers`.
pub fn referrers(args: ReferrersArgs) -> Result<ExitCode> {
    let session = args.registry.session(crate::remote::progress(true));
    let found = session
        .referrers(&args.reference, args.artifact_type.as_deref())
        .with_context(|| format!("listing the referrers of {}", args.reference))?;
    let mut out = std::io::stdout().lock();
    match args.format {
        ListFormat::Json => {
            let doc = ReferrersJson {
                reference: args.reference.to_string(),
                subject: &found.subject,
                via: found.via.as_str(),
                referrers: &found.descriptors,
            };
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        ListFormat::Table => {
            writeln!(out, "{} {} (via {})", args.reference, found.subject, found.via.as_str())?;
            writeln!(out, "  {:<71} {:<44} SIZE", "DIGEST", "ARTIFACT TYPE")?;
            for d in &found.descriptors {
                writeln!(out, "  {:<71} {:<44} {}", d.digest, d.artifact_type.as_deref().unwrap_or("-"), d.size)?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `copy --referrers`: the referrers of what `source` names (its top, when the copy kept
/// its digest, and the images of its index that `platforms` kept), copied unchanged to
/// `destination`, and between registries their cosign signature tags. Returns how many
/// referrers and tags were copied.
pub fn copy_referrers(
    session: &Session,
    source: &Reference,
    destination: &Reference,
    copied_top: &Digest,
    platforms: &[Platform],
) -> Result<(usize, usize)> {
    let opened = session.open(source, platforms, PullScope::Manifests)?;
    let top = opened.top_manifest()?;
    let mut subjects = Vec::new();
    if top.digest() == copied_top {
        subjects.push(top.digest().clone());
    }
    if let Manifest::Index(index) = top.parse()? {
        subjects.extend(
            index
                .manifests
                .iter()
                .filter(|d| {
                    platforms.is_empty()
                        || d.platform.as_ref().is_some_and(|p| platforms.iter().any(|w| p.satisfies(w)))
                })
                .map(|d| d.digest.clone()),
        );
    }
    let copied = session
        .copy_referrers(source, destination, &subjects)
        .with_context(|| format!("copying the referrers of {source} to {destination}"))?;
    let tags = session
        .copy_signature_tags(source, destination, &subjects)
        .with_context(|| format!("copying the signature tags of {source} to {destination}"))?;
    Ok((copied.len(), tags.len()))
}
