//! Patching an image: package upgrades ([`apply_upgrades`]) and rule fixes in exactly one
//! reproducible layer appended to the base.

use std::collections::BTreeMap;

use oci_core::{
    Append, AppendedLayer, Compression, ConfigChange, Descriptor, Digest, EntryKind, EntryMeta, Image, ImageSource,
    LayerWriter, MergedFs, OciLayout, Platform,
};
use serde::Serialize;

use super::apply::{UpgradedPackage, apply_capture, apply_upgrades};
use super::files::FileAction;
use super::plan::UpgradePlan;
use super::scripts::ScriptPolicy;
use super::spool::{Spool, Spooled};
use crate::patch::{base_of, restore_record};
use crate::{
    Error, Evaluation, Fix, LABEL_BASE_DIGEST, LABEL_BASE_NAME, LABEL_RESTORE, LABEL_RULES, LABEL_RULES_DIGEST,
    PatchEntry, Result, RuleSet, harden, plan_entries,
};

/// Label: the upgraded packages, compact JSON
/// `[{"name","architecture","from","to","sha256"},…]` in plan order.
pub const LABEL_PACKAGES: &str = "io.oci-harden.packages";
/// Label: the package sources used, compact JSON `["URI SUITE COMPONENT…",…]`.
pub const LABEL_SOURCES: &str = "io.oci-harden.sources";

/// How [`patch_image`] patches.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PatchOptions {
    /// The registry reference patched ([`LABEL_BASE_NAME`]); `None` for local sources.
    pub base_name: Option<String>,
    /// What to do about maintainer scripts and triggers not known to be harmless.
    pub scripts: ScriptPolicy,
    /// [`patch_source`]: patch only the images of an index for these platforms (the others
    /// are kept unchanged); empty: every image.
    pub platforms: Vec<Platform>,
}

/// The result of [`patch_image`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Patched {
    /// The patched image's manifest descriptor (the input's when nothing changed).
    pub descriptor: oci_core::Descriptor,
    /// The rules evaluated on the image with its packages upgraded, when rules were given.
    pub before: Option<Evaluation>,
    /// The patch layer's entries.
    pub entries: Vec<PatchEntry>,
    /// What was done per package, in plan order.
    pub upgrades: Vec<UpgradedPackage>,
    /// Whether the image was already patched with this plan and these rules.
    pub unchanged: bool,
}

#[derive(Serialize)]
struct PackageLabel<'a> {
    name: &'a str,
    architecture: &'a str,
    from: Option<&'a str>,
    to: &'a str,
    sha256: &'a str,
}

/// The [`LABEL_PACKAGES`] value an image patched with `plan` carries, `None` for an empty plan
/// (which writes no such label): what [`crate::patch_freshness`] compares.
pub fn packages_label(plan: &UpgradePlan) -> Option<String> {
    if plan.packages.is_empty() {
        return None;
    }
    let label: Vec<PackageLabel<'_>> = plan
        .packages
        .iter()
        .map(|p| PackageLabel {
            name: &p.name,
            architecture: &p.architecture,
            from: p.installed.as_deref(),
            to: &p.version,
            sha256: &p.file.sha256,
        })
        .collect();
    Some(serde_json::to_string(&label).expect("labels serialise"))
}

/// Patches `image`: the packages of `plan` upgraded as dpkg would leave them (see
/// [`apply_upgrades`]) and the fixes of `rules` — evaluated on the image as upgraded, so a
/// rule sees the new files; on a path both touch the rule's fix wins — written as exactly
/// one layer (sorted, mtimes clamped as [`harden()`] does, reproducible) appended to the base,
/// with labels recording the base, the packages (name, old → new version, `.deb` SHA256),
/// the sources, the rules, and a restore record.
///
/// `plan` must be resolved against the base: an image carrying a restore record
/// ([`LABEL_RESTORE`], from an earlier patch or hardening) is first taken back to its base
/// ([`patch_base`]), so patches never pile up. An image already patched with the same plan
/// and rules comes back unchanged. With no plan (or an empty one) this is [`harden()`]
/// exactly.
///
/// # Errors
/// Those of [`apply_upgrades`] and [`harden()`]; nothing is referenced in `layout` on error.
pub fn patch_image(
    image: &Image,
    plan: Option<&UpgradePlan>,
    rules: Option<&RuleSet>,
    layout: &OciLayout,
    options: &PatchOptions,
) -> Result<Patched> {
    patch_image_on(image, plan, None, rules, layout, options)
}

/// [`patch_image`], with the merged filesystem of the image's base when the caller has one
/// (built capturing at least what [`apply_capture`] names), so the layers are not read again.
fn patch_image_on(
    image: &Image,
    plan: Option<&UpgradePlan>,
    base_fs: Option<MergedFs>,
    rules: Option<&RuleSet>,
    layout: &OciLayout,
    options: &PatchOptions,
) -> Result<Patched> {
    let plan = plan.filter(|p| !p.packages.is_empty());
    let Some(plan) = plan else {
        return match rules {
            Some(rules) => {
                let h = harden(image, rules, layout, options.base_name.as_deref())?;
                Ok(Patched {
                    descriptor: h.descriptor,
                    before: Some(h.before),
                    entries: h.entries,
                    upgrades: Vec::new(),
                    unchanged: h.unchanged,
                })
            }
            None => Ok(Patched {
                descriptor: image.descriptor().clone(),
                before: None,
                entries: Vec::new(),
                upgrades: Vec::new(),
                unchanged: true,
            }),
        };
    };
    let packages_label = packages_label(plan).expect("a plan with packages");
    let sources_label = serde_json::to_string(&plan.sources).expect("labels serialise");
    let labels: BTreeMap<&str, &str> = image.config().labels().into_iter().collect();
    let rules_digest = rules.map(|r| r.digest().to_string());
    if labels.get(LABEL_PACKAGES) == Some(&packages_label.as_str())
        && labels.get(LABEL_RULES_DIGEST).copied() == rules_digest.as_deref()
    {
        return Ok(Patched {
            descriptor: image.descriptor().clone(),
            before: None,
            entries: Vec::new(),
            upgrades: Vec::new(),
            unchanged: true,
        });
    }
    let base = base_of(image, layout)?;
    let fs = match base_fs {
        Some(fs) => fs,
        None => MergedFs::build_capturing(&base, apply_capture)?,
    };
    let mut applied = apply_upgrades(&fs, plan, options.scripts)?;

    // The package changes as layer entries.
    let mut entries: BTreeMap<String, (EntryMeta, Content)> = BTreeMap::new();
    for change in &applied.changes {
        match &change.action {
            FileAction::Write { meta, content } => {
                let content = content.clone().map_or(Content::None, Content::Spooled);
                entries.insert(change.path.clone(), (meta.clone(), content));
            }
            FileAction::Remove => {
                entries.insert(whiteout(&change.path), (EntryMeta::file(0o644, 0), Content::None));
            }
        }
    }
    add_parents(&fs, &mut entries);
    let epoch = oci_core::source_date_epoch(&base);
    // (No bytes held yet: the package contents are in the spool, so the copy is small.)
    let package_layer = write_layer(layout, epoch, entries.clone(), &mut applied.spool)?;
    let mut listing: Option<Vec<PatchEntry>> = None;

    // The rules, on the image as upgraded.
    let mut before = None;
    let mut config_edits: Vec<ConfigChange> = Vec::new();
    let mut annotations: Vec<(String, String)> = Vec::new();
    let layer = match rules {
        None => package_layer,
        Some(rules) => {
            let upgraded = oci_core::append(
                &base,
                layout,
                Append {
                    layer: Some(package_layer.clone()),
                    created: oci_core::source_date_rfc3339(&base),
                    created_by: "oci-harden package upgrades (intermediate)".into(),
                    comment: None,
                    labels: Vec::new(),
                    annotations: Vec::new(),
                    changes: Vec::new(),
                },
            )?;
            let source = ImageSource::from_parts(
                base.source().reference().clone(),
                std::sync::Arc::new(layout.clone()),
                upgraded,
                *base.source().limits(),
            )
            .with_index_cache(base.source().index_cache().cloned());
            let upgraded = source.image_at(source.top())?;
            let (fs2, evaluation) = crate::patch::evaluate_for_fixing(&upgraded, rules, &base.digest().to_string())?;
            let fixes = evaluation.fixes();
            config_edits =
                fixes.iter().filter_map(|f| if let Fix::Config(e) = f { Some(e.clone()) } else { None }).collect();
            annotations = fixes
                .iter()
                .filter_map(|f| {
                    if let Fix::Annotation { key, value } = f { Some((key.clone(), value.clone())) } else { None }
                })
                .collect();
            let rule_entries = plan_entries(&fs2, &fixes)?;
            before = Some(evaluation);
            if rule_entries.is_empty() {
                package_layer
            } else {
                for (entry, bytes) in rule_entries {
                    // A rule's entry replaces the package's at the same path, and its
                    // whiteout.
                    entries.remove(&whiteout(&entry.path));
                    if let Some(name) = unwhiteout(&entry.path) {
                        entries.remove(&name);
                    }
                    entries.insert(entry.path, (entry.meta, Content::Bytes(bytes)));
                }
                listing = Some(list_entries(&entries));
                write_layer(layout, epoch, std::mem::take(&mut entries), &mut applied.spool)?
            }
        }
    };

    let mut our_labels = vec![(LABEL_BASE_DIGEST.to_owned(), base.digest().to_string())];
    if let Some(rules) = rules {
        our_labels.push((LABEL_RULES.to_owned(), rules.name.clone()));
        our_labels.push((LABEL_RULES_DIGEST.to_owned(), rules.digest().to_string()));
    }
    our_labels.push((LABEL_PACKAGES.to_owned(), packages_label));
    our_labels.push((LABEL_SOURCES.to_owned(), sources_label));
    if let Some(name) = &options.base_name {
        our_labels.push((LABEL_BASE_NAME.to_owned(), name.clone()));
    }
    annotations.extend(our_labels.iter().filter(|(k, _)| k.starts_with("org.opencontainers")).cloned());
    let restore = restore_record(&base, true, &config_edits, &our_labels, &annotations);
    our_labels.push((LABEL_RESTORE.to_owned(), restore));
    let upgraded: Vec<String> = plan.packages.iter().map(|p| format!("{} {}", p.name, p.version)).collect();
    let created_by = match rules {
        Some(r) => format!(
            "oci-harden {} packages {} rules {} ({})",
            env!("CARGO_PKG_VERSION"),
            upgraded.join(", "),
            r.digest(),
            r.name
        ),
        None => format!("oci-harden {} packages {}", env!("CARGO_PKG_VERSION"), upgraded.join(", ")),
    };
    let spec = Append {
        layer: Some(layer),
        created: oci_core::source_date_rfc3339(&base),
        created_by,
        comment: Some(format!("patched: {} package(s) upgraded", plan.packages.len())),
        labels: our_labels,
        annotations,
        changes: config_edits,
    };
    let descriptor = oci_core::append(&base, layout, spec)?;
    Ok(Patched {
        descriptor,
        before,
        entries: listing.unwrap_or_else(|| list_entries(&entries)),
        upgrades: applied.packages,
        unchanged: false,
    })
}

/// One image patched by [`patch_source`].
#[derive(Debug)]
#[non_exhaustive]
pub struct PatchedImage {
    /// Its platform, when the index names one.
    pub platform: Option<Platform>,
    /// The manifest digest of the image patched.
    pub base: Digest,
    /// The result.
    pub patched: Patched,
}

/// The result of [`patch_source`].
#[derive(Debug)]
#[non_exhaustive]
pub struct PatchOutcome {
    /// The new top descriptor: the patched image, or the rebuilt index.
    pub descriptor: Descriptor,
    /// A source reading the result (from the working layout, falling back to the original
    /// source for blobs left unchanged), ready to be copied or pushed.
    pub result: ImageSource,
    /// One per patched image, in index order.
    pub images: Vec<PatchedImage>,
}

/// [`patch_image`] on `source`: one image, or every image of an index for
/// [`PatchOptions::platforms`] (all when empty), each with its own plan, the index
/// rebuilt with [`oci_core::replace_in_index`] keeping its other entries. `plan_for` is
/// called with the base of each image ([`patch_base`]) and returns its plan (`None`: rules
/// only). New blobs go into `layout`; nothing is written anywhere else.
///
/// # Errors
/// Those of `plan_for` and [`patch_image`], for the first image that fails.
pub fn patch_source(
    source: &ImageSource,
    mut plan_for: impl FnMut(&Image) -> Result<Option<UpgradePlan>>,
    rules: Option<&RuleSet>,
    layout: &OciLayout,
    options: &PatchOptions,
) -> Result<PatchOutcome> {
    patch_source_with(source, |base| Ok((plan_for(base)?, None)), rules, layout, options)
}

/// [`patch_source`] with a `plan_for` that may hand back the merged filesystem of the base
/// it planned on (capturing what [`apply_capture`] names), read once for both.
pub(crate) fn patch_source_with(
    source: &ImageSource,
    mut plan_for: impl FnMut(&Image) -> Result<(Option<UpgradePlan>, Option<MergedFs>)>,
    rules: Option<&RuleSet>,
    layout: &OciLayout,
    options: &PatchOptions,
) -> Result<PatchOutcome> {
    let (top, selected) = crate::harden::selected_images(source, &options.platforms)?;
    let mut replaced = BTreeMap::new();
    let mut images = Vec::with_capacity(selected.len());
    for image in &selected {
        let (plan, fs) = plan_for(&patch_base(image, layout)?)?;
        let patched = patch_image_on(image, plan.as_ref(), fs, rules, layout, options)?;
        let mut desc = patched.descriptor.clone();
        desc.platform = image.descriptor().platform.clone();
        replaced.insert(image.digest().clone(), desc);
        images.push(PatchedImage { platform: image.platform(), base: image.digest().clone(), patched });
    }
    let descriptor = if top.media_type().is_index() {
        oci_core::replace_in_index(&top, &replaced, layout)?
    } else {
        replaced.into_values().next().expect("one image")
    };
    let result = crate::hardened_source(layout, descriptor.clone(), Some(source));
    Ok(PatchOutcome { descriptor, result, images })
}

/// The image a plan for `image` is to be resolved against: its base when it was patched
/// or hardened before (the restore record undone into `layout`), else itself.
///
/// # Errors
/// An invalid restore record, or a layout error.
pub fn patch_base(image: &Image, layout: &OciLayout) -> Result<Image> {
    base_of(image, layout)
}

fn list_entries(entries: &BTreeMap<String, (EntryMeta, Content)>) -> Vec<PatchEntry> {
    entries.iter().map(|(path, (meta, _))| PatchEntry { path: path.clone(), meta: meta.clone() }).collect()
}

/// Where a layer entry's bytes come from.
#[derive(Clone)]
enum Content {
    None,
    Spooled(Spooled),
    Bytes(Vec<u8>),
}

fn whiteout(path: &str) -> String {
    match path.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/.wh.{name}"),
        None => format!(".wh.{path}"),
    }
}

fn unwhiteout(path: &str) -> Option<String> {
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    let name = name.strip_prefix(".wh.")?;
    Some(if dir.is_empty() { name.to_owned() } else { format!("{dir}/{name}") })
}

/// Parent directories of every entry, with the metadata they have in the image, so
/// extraction never invents modes.
fn add_parents(fs: &MergedFs, entries: &mut BTreeMap<String, (EntryMeta, Content)>) {
    let paths: Vec<String> = entries.keys().cloned().collect();
    for path in paths {
        let mut parent = path.as_str();
        while let Some((p, _)) = parent.rsplit_once('/') {
            parent = p;
            if entries.contains_key(parent) {
                continue;
            }
            let meta = fs.get(parent).map_or_else(|| EntryMeta::dir(0o755), |n| n.meta.clone());
            let meta = if meta.kind == EntryKind::Dir { meta } else { EntryMeta::dir(0o755) };
            entries.insert(parent.to_owned(), (meta, Content::None));
        }
    }
}

/// Writes the entries as one gzip layer. A hard link must follow its target in the tar:
/// when one sorts before the file it links to, the first of the group in path order holds
/// the bytes and the others link to it.
fn write_layer(
    layout: &OciLayout,
    epoch: u64,
    mut entries: BTreeMap<String, (EntryMeta, Content)>,
    spool: &mut Spool,
) -> Result<AppendedLayer> {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, (meta, _)) in &entries {
        if meta.kind == EntryKind::Hardlink
            && let Some(target) = &meta.link
        {
            groups.entry(target.clone()).or_default().push(path.clone());
        }
    }
    for (target, links) in groups {
        let Some(first) = links.iter().min().filter(|f| **f < target).cloned() else { continue };
        let Some(file) = entries.get(&target).cloned() else { continue };
        entries.insert(first.clone(), file);
        for other in links.iter().filter(|l| **l != first).chain(std::iter::once(&target)) {
            if let Some((meta, content)) = entries.get_mut(other) {
                meta.kind = EntryKind::Hardlink;
                meta.link = Some(first.clone());
                *content = Content::None;
            }
        }
    }
    let mut writer = LayerWriter::new(layout.blob_writer()?, Compression::Gzip, epoch)?;
    for (path, (meta, content)) in &entries {
        match content {
            Content::None => writer.append(path, meta, std::io::empty())?,
            Content::Bytes(b) => writer.append(path, meta, &b[..])?,
            Content::Spooled(s) => {
                let reader = spool.reader(s).map_err(|e| Error::io(format!("reading back {path}"), e))?;
                writer.append(path, meta, reader)?;
            }
        }
    }
    let (blob, written) = writer.finish()?;
    blob.finish()?;
    Ok(AppendedLayer::from_written(&written))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hard link that sorts before the file it links to: the first of the group in path
    /// order holds the bytes, the others link to it, so extraction never meets a link to
    /// a file not written yet.
    #[test]
    fn hard_links_follow_their_target_in_the_layer() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path()).unwrap();
        let mut spool = Spool::new().unwrap();
        let content = spool.append(&mut &b"bytes\n"[..], 6).unwrap();
        let link = |target: &str| EntryMeta {
            kind: EntryKind::Hardlink,
            link: Some(target.to_owned()),
            ..EntryMeta::file(0o755, 0)
        };
        let entries: BTreeMap<String, (EntryMeta, Content)> = [
            ("usr".to_owned(), (EntryMeta::dir(0o755), Content::None)),
            ("usr/b".to_owned(), (EntryMeta::file(0o755, 6), Content::Spooled(content))),
            ("usr/a".to_owned(), (link("usr/b"), Content::None)),
            ("usr/c".to_owned(), (link("usr/b"), Content::None)),
        ]
        .into_iter()
        .collect();
        let written = write_layer(&layout, 0, entries, &mut spool).unwrap();
        let blob = layout.open_blob_file(&written.descriptor.digest).unwrap();
        let mut seen = Vec::new();
        oci_core::read_entries(flate2::read::GzDecoder::new(blob), "layer", |e| {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut e.data(), &mut text).unwrap();
            seen.push(format!("{} {:?} {:?} {text:?}", e.path, e.meta.kind, e.meta.link));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            [
                "usr Dir None \"\"",
                "usr/a File None \"bytes\\n\"",
                "usr/b Hardlink Some(\"usr/a\") \"\"",
                "usr/c Hardlink Some(\"usr/a\") \"\"",
            ]
        );
    }
}
