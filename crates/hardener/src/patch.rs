//! Hardening: the planned fixes become exactly one reproducible layer plus config
//! changes, appended to the base image.

use std::collections::BTreeMap;

use oci_core::{
    Append, AppendedLayer, Compression, ConfigChange, Descriptor, EntryKind, EntryMeta, Image, ImageSource,
    LayerWriter, MergedFs, OciLayout, Reference,
};
use serde_json::Value;

use crate::{CheckInput, Error, Evaluation, Fix, RestoreRecord, Result, RuleSet, evaluate};

/// Label: the manifest digest of the image that was hardened.
pub const LABEL_BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
/// Label: the reference of the image that was hardened, when it came from a registry.
pub const LABEL_BASE_NAME: &str = "org.opencontainers.image.base.name";
/// Label: the rule set's name.
pub const LABEL_RULES: &str = "io.oci-harden.rules";
/// Label: the rule set's digest.
pub const LABEL_RULES_DIGEST: &str = "io.oci-harden.rules.digest";
/// Label: what to undo to get the base back (layers, config values, annotations).
pub const LABEL_RESTORE: &str = "io.oci-harden.restore";

/// One entry of a patch layer, for dry-run listings and snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchEntry {
    /// The path in the layer (relative, as in the tar).
    pub path: String,
    /// Its metadata.
    pub meta: EntryMeta,
}

/// The result of [`harden`].
#[derive(Debug)]
pub struct Hardened {
    /// The hardened image's manifest descriptor, in the working layout (the input's own
    /// descriptor when nothing changed).
    pub descriptor: Descriptor,
    /// The rules evaluated on the image before hardening (its base, when the input was
    /// already hardened with other rules).
    pub before: Evaluation,
    /// The patch layer's entries (empty when no layer was needed).
    pub entries: Vec<PatchEntry>,
    /// Whether the input was already hardened with these rules (returned as is).
    pub unchanged: bool,
}

/// Turns the filesystem fixes into the sorted entries of one layer, with their bytes.
/// Parent directories are included with the metadata they have in the image, so
/// extraction never invents modes; whiteouts become `.wh.` entries.
pub fn plan_entries(fs: &MergedFs, fixes: &[Fix]) -> Result<Vec<(PatchEntry, Vec<u8>)>> {
    // Contents of files whose metadata changes, read in one pass per layer.
    let to_read: Vec<&str> = fixes
        .iter()
        .filter_map(|f| match f {
            Fix::SetMeta { path, meta } if matches!(meta.kind, EntryKind::File | EntryKind::Hardlink) => {
                Some(path.as_str())
            }
            _ => None,
        })
        .collect();
    let mut contents = fs.read_many(&to_read)?;
    let mut entries: BTreeMap<String, (EntryMeta, Vec<u8>)> = BTreeMap::new();
    for fix in fixes {
        let (path, meta, content) = match fix {
            Fix::SetMeta { path, meta } => {
                let content = contents.remove(path.as_str()).unwrap_or_default();
                let mut meta = meta.clone();
                if meta.kind == EntryKind::Hardlink {
                    meta.kind = EntryKind::File;
                    meta.link = None;
                }
                meta.size = content.len() as u64;
                (rel(path), meta, content)
            }
            Fix::WriteFile { path, meta, content } => {
                let mut meta = meta.clone();
                meta.size = content.len() as u64;
                (rel(path), meta, content.clone())
            }
            Fix::Mkdir { path, meta } => (rel(path), meta.clone(), Vec::new()),
            Fix::Symlink { path, target, meta } => {
                let mut meta = meta.clone();
                meta.kind = EntryKind::Symlink;
                meta.link = Some(target.clone());
                (rel(path), meta, Vec::new())
            }
            Fix::Whiteout { path } => {
                let p = rel(path);
                let (dir, name) = p.rsplit_once('/').unwrap_or(("", p.as_str()));
                let wh = if dir.is_empty() { format!(".wh.{name}") } else { format!("{dir}/.wh.{name}") };
                (wh, EntryMeta::file(0o644, 0), Vec::new())
            }
            _ => continue,
        };
        entries.insert(path, (meta, content));
    }
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
            entries.insert(parent.to_owned(), (meta, Vec::new()));
        }
    }
    Ok(entries.into_iter().map(|(path, (meta, content))| (PatchEntry { path, meta }, content)).collect())
}

fn rel(path: &str) -> String {
    path.trim_start_matches('/').to_owned()
}

/// Hardens `image` with `rules`: evaluates them, writes the fixes as exactly one gzip layer
/// (sorted, mtimes clamped to `SOURCE_DATE_EPOCH` or the base's `created`, numeric ids,
/// fixed gzip header) into `layout`, and appends it with a history entry naming the rule
/// set digest, labels recording the base and the rules, and the config edits. Base
/// layers stay byte-identical; an image that needs no file change gets no layer.
///
/// Idempotent: an image already hardened with these rules is returned unchanged; one
/// hardened with other rules is first taken back to its base (recorded in a label), so
/// patches never pile up.
pub fn harden(image: &Image, rules: &RuleSet, layout: &OciLayout, base_name: Option<&str>) -> Result<Hardened> {
    let labels: BTreeMap<String, String> =
        image.config().labels().into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let digest = rules.digest().to_string();
    if labels.get(LABEL_RULES_DIGEST) == Some(&digest) {
        let fs = MergedFs::build_capturing(image, rules.capture())?;
        let before = evaluate(rules, &CheckInput::new(&fs, image));
        return Ok(Hardened { descriptor: image.descriptor().clone(), before, entries: Vec::new(), unchanged: true });
    }
    let base = base_of(image, layout)?;
    let (fs, before) = evaluate_for_fixing(&base, rules, &base.digest().to_string())?;
    let fixes = before.fixes();
    let planned = plan_entries(&fs, &fixes)?;
    let epoch = oci_core::source_date_epoch(&base);
    let layer = if planned.is_empty() {
        None
    } else {
        let mut writer = LayerWriter::new(layout.blob_writer()?, Compression::Gzip, epoch)?;
        for (entry, content) in &planned {
            writer.append(&entry.path, &entry.meta, &content[..])?;
        }
        let (blob, written) = writer.finish()?;
        blob.finish()?;
        Some(AppendedLayer::from_written(&written))
    };
    let config_edits: Vec<ConfigChange> =
        fixes.iter().filter_map(|f| if let Fix::Config(e) = f { Some(e.clone()) } else { None }).collect();
    let mut annotations: Vec<(String, String)> = fixes
        .iter()
        .filter_map(|f| if let Fix::Annotation { key, value } = f { Some((key.clone(), value.clone())) } else { None })
        .collect();
    let mut our_labels = vec![
        (LABEL_BASE_DIGEST.to_owned(), base.digest().to_string()),
        (LABEL_RULES.to_owned(), rules.name.clone()),
        (LABEL_RULES_DIGEST.to_owned(), digest.clone()),
    ];
    if let Some(name) = base_name {
        our_labels.push((LABEL_BASE_NAME.to_owned(), name.to_owned()));
    }
    annotations.extend(our_labels.iter().filter(|(k, _)| k.starts_with("org.opencontainers")).cloned());
    let restore = restore_record(&base, layer.is_some(), &config_edits, &our_labels, &annotations);
    our_labels.push((LABEL_RESTORE.to_owned(), restore));
    let spec = Append {
        layer,
        created: oci_core::source_date_rfc3339(&base),
        created_by: format!("oci-harden {} rules {} ({})", env!("CARGO_PKG_VERSION"), digest, rules.name),
        comment: Some(format!("hardened with rule set {}", rules.name)),
        labels: our_labels,
        annotations,
        changes: config_edits.clone(),
    };
    let descriptor = oci_core::append(&base, layout, spec)?;
    Ok(Hardened { descriptor, before, entries: planned.into_iter().map(|(e, _)| e).collect(), unchanged: false })
}

/// The image `image` was hardened or patched from (its [`LABEL_RESTORE`] undone into
/// `layout`), or `image` itself when it carries no such label.
pub(crate) fn base_of(image: &Image, layout: &OciLayout) -> Result<Image> {
    Ok(match image.config().labels().into_iter().find(|(k, _)| *k == LABEL_RESTORE) {
        Some((_, restore)) => {
            let desc = oci_core::strip(image, layout, RestoreRecord::parse(restore)?.strip())?;
            let source = ImageSource::from_parts(
                image.source().reference().clone(),
                std::sync::Arc::new(layout.clone()),
                desc,
                *image.source().limits(),
            )
            .with_index_cache(image.source().index_cache().cloned());
            source.image_at(source.top())?
        }
        None => image.clone(),
    })
}

/// The merged filesystem of `image` (keeping, from this one pass, the bytes the patch will
/// rewrite: the rules' files and setuid files) and the rules' evaluation on it. A `fix` rule
/// that refuses is an [`Error::RuleRefused`] naming `named` (the image being hardened).
pub(crate) fn evaluate_for_fixing(image: &Image, rules: &RuleSet, named: &str) -> Result<(MergedFs, Evaluation)> {
    let by_path = rules.capture();
    let strips_setuid = rules.rules.iter().any(|r| r.kind == crate::RuleKind::StripSetuid);
    let fs = MergedFs::build_capturing_with(image, move |path, meta| {
        by_path(path) || (strips_setuid && meta.mode & 0o6000 != 0 && meta.size <= 64 << 20)
    })?;
    let evaluation = evaluate(rules, &CheckInput::new(&fs, image));
    if let Some((rule, message)) = evaluation.results.iter().find_map(|r| match &r.outcome {
        crate::RuleOutcome::Error { message } if r.action == crate::Action::Fix => {
            Some((r.rule_id.clone(), message.clone()))
        }
        _ => None,
    }) {
        return Err(Error::RuleRefused { rule, image: named.to_owned(), message });
    }
    Ok((fs, evaluation))
}

fn pointer_escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// What undoing this hardening takes: the layer, the history entry, and the previous
/// values of every config key and annotation it sets.
pub(crate) fn restore_record(
    base: &Image,
    layer: bool,
    edits: &[ConfigChange],
    labels: &[(String, String)],
    annotations: &[(String, String)],
) -> String {
    let config = base.config().as_json();
    let runtime = config.get("config").and_then(Value::as_object);
    let old = |pointer: &str| -> Value {
        serde_json::Value::Object(config.clone()).pointer(pointer).cloned().unwrap_or(Value::Null)
    };
    let mut values: Vec<(String, Value)> = vec![("/created".into(), old("/created"))];
    if runtime.is_none() {
        values.push(("/config".into(), Value::Null));
    } else {
        let mut keys: Vec<String> = Vec::new();
        for e in edits {
            keys.push(match e {
                ConfigChange::User(_) => "User".into(),
                ConfigChange::SetEnv(..) | ConfigChange::UnsetEnv(_) => "Env".into(),
                ConfigChange::Healthcheck(_) => "Healthcheck".into(),
                ConfigChange::RemoveVolume(_) => "Volumes".into(),
                ConfigChange::SetLabel(..) => "Labels".into(),
            });
        }
        keys.push("Labels".into());
        keys.sort();
        keys.dedup();
        let had_labels = runtime.is_some_and(|r| r.get("Labels").is_some_and(Value::is_object));
        for key in keys {
            if key == "Labels" && had_labels {
                let mut names: Vec<&str> = labels.iter().map(|(k, _)| k.as_str()).collect();
                names.push(LABEL_RESTORE);
                names.extend(
                    edits
                        .iter()
                        .filter_map(|e| if let ConfigChange::SetLabel(k, _) = e { Some(k.as_str()) } else { None }),
                );
                names.sort();
                names.dedup();
                for n in names {
                    let p = format!("/config/Labels/{}", pointer_escape(n));
                    values.push((p.clone(), old(&p)));
                }
            } else {
                let p = format!("/config/{key}");
                values.push((p.clone(), old(&p)));
            }
        }
    }
    let base_annotations = base.manifest().annotations.clone().unwrap_or_default();
    RestoreRecord {
        layers: usize::from(layer),
        history: 1,
        config: values,
        annotations: annotations.iter().map(|(k, _)| (k.clone(), base_annotations.get(k).cloned())).collect(),
    }
    .to_label()
}

/// Builds an `ImageSource` reading `descriptor` from `layout` (for copying a hardened
/// image onwards), falling back to `original` for blobs `layout` does not hold: manifests
/// of platforms left unchanged, attestations, an image that needed no change.
pub fn hardened_source(layout: &OciLayout, descriptor: Descriptor, original: Option<&ImageSource>) -> ImageSource {
    match original {
        Some(o) => ImageSource::derived(layout, descriptor, o),
        None => ImageSource::from_parts(
            Reference::Layout { dir: layout.root().to_path_buf(), tag: None },
            std::sync::Arc::new(layout.clone()),
            descriptor,
            *layout.limits(),
        ),
    }
}
