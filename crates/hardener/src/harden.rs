//! Hardening a whole image source — one image, or every (chosen) platform of an index,
//! the index rebuilt — in one call ([`harden_source`]), its dry-run plan ([`plan`]) and its
//! typed report ([`HardenReport`]).

use std::collections::BTreeMap;

use oci_core::{Descriptor, Digest, Image, ImageSource, Manifest, MergedFs, OciLayout, Platform, RawManifest};
use serde::Serialize;

use crate::sarif::SarifLog;
use crate::{
    CheckInput, Evaluation, Fix, Hardened, PatchEntry, Result, RuleReport, RuleSet, RuleSetId, evaluate,
    evaluation_sarif_run, harden, hardened_source, plan_entries,
};

/// What [`harden_source`] and [`plan`] harden, and what they report.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct HardenOptions {
    /// Harden only the images of an index for these platforms (the others are kept
    /// unchanged); empty: every image.
    pub platforms: Vec<Platform>,
    /// The registry reference hardened, recorded in the `org.opencontainers.image.base.name`
    /// label and annotation ([`crate::LABEL_BASE_NAME`]); `None` for local sources.
    pub base_name: Option<String>,
    /// Evaluate the rules again on each hardened image (a full read of it) for
    /// [`HardenedImage::after`].
    pub evaluate_after: bool,
}

/// One image hardened by [`harden_source`].
#[derive(Debug)]
#[non_exhaustive]
pub struct HardenedImage {
    /// Its platform, when the index names one.
    pub platform: Option<Platform>,
    /// The manifest digest of the image hardened.
    pub base: Digest,
    /// The hardened image, its evaluation before and its patch layer.
    pub hardened: Hardened,
    /// The rules on the hardened image, with [`HardenOptions::evaluate_after`].
    pub after: Option<Evaluation>,
}

/// The result of [`harden_source`].
#[derive(Debug)]
#[non_exhaustive]
pub struct HardenOutcome {
    /// The new top descriptor: the hardened image, or the rebuilt index.
    pub descriptor: Descriptor,
    /// A source reading the result (from the working layout, falling back to the original
    /// source for blobs left unchanged), ready to be copied or pushed to a destination.
    pub result: ImageSource,
    /// One per hardened image, in index order.
    pub images: Vec<HardenedImage>,
}

impl HardenOutcome {
    /// The typed report, once the result was written to `destination` (a reference, as
    /// given) which now names `digest`. `source` is the source reference as given.
    pub fn report(&self, source: &str, destination: &str, digest: Digest, rules: &RuleSet) -> HardenReport {
        HardenReport {
            source: source.to_owned(),
            destination: destination.to_owned(),
            digest,
            rules: RuleSetId::from(rules),
            images: self
                .images
                .iter()
                .map(|i| HardenedImageReport {
                    platform: i.platform.as_ref().map(Platform::to_string),
                    base: i.base.clone(),
                    digest: i.hardened.descriptor.digest.clone(),
                    unchanged: i.hardened.unchanged,
                    layer_entries: i.hardened.entries.iter().map(|e| e.path.clone()).collect(),
                    before: i.hardened.before.report(),
                    after: i.after.as_ref().map(Evaluation::report),
                })
                .collect(),
        }
    }

    /// SARIF 2.1.0 of the findings before hardening: one run per hardened image. `source`
    /// is the source reference as given.
    pub fn sarif(&self, source: &str, rules: &RuleSet) -> SarifLog {
        SarifLog::new(self.images.iter().map(|i| evaluation_sarif_run(source, rules, &i.hardened.before)).collect())
    }
}

/// Evaluates `rules` on `image`: its merged filesystem built in one pass over the layers
/// (keeping the files the rules read, [`RuleSet::capture`]), then [`evaluate`].
pub fn evaluate_image(image: &Image, rules: &RuleSet) -> Result<Evaluation> {
    let fs = MergedFs::build_capturing(image, rules.capture())?;
    Ok(evaluate(rules, &CheckInput::new(&fs, image)))
}

/// The images of `source` to harden: the image, or those of the index matching `platforms`
/// (all when empty). An index none of whose images matches is an error naming the
/// platforms it has.
pub(crate) fn selected_images(source: &ImageSource, platforms: &[Platform]) -> Result<(RawManifest, Vec<Image>)> {
    let top = source.top_manifest()?;
    let images = match top.parse()? {
        Manifest::Image(_) => vec![source.image_at(source.top())?],
        Manifest::Index(_) => {
            let all = source.images()?;
            let available: Vec<String> = all.iter().filter_map(|i| i.platform().map(|p| p.to_string())).collect();
            let chosen: Vec<Image> = all
                .into_iter()
                .filter(|i| {
                    platforms.is_empty() || i.platform().is_some_and(|p| platforms.iter().any(|w| p.satisfies(w)))
                })
                .collect();
            if chosen.is_empty() {
                let asked: Vec<String> = platforms.iter().map(Platform::to_string).collect();
                return Err(oci_core::Error::NotFound {
                    what: format!("an image for {} in {}", asked.join(", "), source.reference()),
                    hint: format!(" (it has: {})", available.join(", ")),
                }
                .into());
            }
            chosen
        }
    };
    Ok((top, images))
}

/// Hardens `source` with `rules` ([`harden()`] on each image): one image, or every image of
/// an index for [`HardenOptions::platforms`] (all when empty), the index rebuilt with
/// [`oci_core::replace_in_index`] keeping its other entries. New blobs are written into
/// `layout` (the working layout); nothing is written anywhere else — copy or push
/// [`HardenOutcome::result`] to a destination.
///
/// # Errors
/// [`crate::Error::RuleRefused`] when a `fix` rule refuses an image (nothing usable is
/// left: the new blobs are unreferenced), image errors otherwise.
pub fn harden_source(
    source: &ImageSource,
    rules: &RuleSet,
    layout: &OciLayout,
    options: &HardenOptions,
) -> Result<HardenOutcome> {
    let (top, selected) = selected_images(source, &options.platforms)?;
    let mut replaced = BTreeMap::new();
    let mut images = Vec::with_capacity(selected.len());
    for image in &selected {
        let hardened = harden(image, rules, layout, options.base_name.as_deref())?;
        // The rules again on the result (a full read of the image).
        let after = if options.evaluate_after {
            let new_source = hardened_source(layout, hardened.descriptor.clone(), Some(source));
            Some(evaluate_image(&new_source.image_at(&hardened.descriptor)?, rules)?)
        } else {
            None
        };
        let mut desc = hardened.descriptor.clone();
        desc.platform = image.descriptor().platform.clone();
        replaced.insert(image.digest().clone(), desc);
        images.push(HardenedImage { platform: image.platform(), base: image.digest().clone(), hardened, after });
    }
    let descriptor = if top.media_type().is_index() {
        oci_core::replace_in_index(&top, &replaced, layout)?
    } else {
        replaced.into_values().next().expect("one image")
    };
    let result = hardened_source(layout, descriptor.clone(), Some(source));
    Ok(HardenOutcome { descriptor, result, images })
}

/// What hardening one image would do (a dry run).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlannedImage {
    /// The image's manifest digest.
    pub digest: Digest,
    /// Its platform, when the index names one.
    pub platform: Option<Platform>,
    /// The patch layer's entries, in order (the layer is empty when there are none).
    pub entries: Vec<PatchEntry>,
    /// The config edits, in rule order.
    pub config: Vec<oci_core::ConfigChange>,
}

/// The dry run of [`harden_source`]: per image chosen by `options`, the patch layer's
/// entries and the config edits the rules plan. Reads the images; writes nothing.
pub fn plan(source: &ImageSource, rules: &RuleSet, options: &HardenOptions) -> Result<Vec<PlannedImage>> {
    let (_, images) = selected_images(source, &options.platforms)?;
    images
        .iter()
        .map(|image| {
            let fs = MergedFs::build_capturing(image, rules.capture())?;
            let fixes = evaluate(rules, &CheckInput::new(&fs, image)).fixes();
            let entries = plan_entries(&fs, &fixes)?.into_iter().map(|(e, _)| e).collect();
            let config =
                fixes.into_iter().filter_map(|f| if let Fix::Config(e) = f { Some(e) } else { None }).collect();
            Ok(PlannedImage { digest: image.digest().clone(), platform: image.platform(), entries, config })
        })
        .collect()
}

/// The report of hardening an image or index (`harden --report`), as documented in
/// `crates/hardener/rules/README.md`:
/// `{"source", "destination", "digest", "rules", "images"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HardenReport {
    /// The source reference, as given.
    pub source: String,
    /// The destination reference, as given.
    pub destination: String,
    /// What the destination now names (the new top manifest or index digest).
    pub digest: Digest,
    /// The rule set.
    pub rules: RuleSetId,
    /// One per hardened image (platform), in index order.
    pub images: Vec<HardenedImageReport>,
}

/// One hardened image of a [`HardenReport`]:
/// `{"platform", "base", "digest", "unchanged", "layerEntries", "before", "after"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct HardenedImageReport {
    /// `os/arch[/variant]`, when the index names it.
    pub platform: Option<String>,
    /// The manifest digest of the image hardened.
    pub base: Digest,
    /// The manifest digest of the hardened image.
    pub digest: Digest,
    /// Whether it was already hardened with these rules.
    pub unchanged: bool,
    /// The patch layer's paths, in order.
    pub layer_entries: Vec<String>,
    /// The rules on the image before hardening.
    pub before: Vec<RuleReport>,
    /// The rules on the hardened image, when evaluated.
    pub after: Option<Vec<RuleReport>>,
}

#[cfg(test)]
mod tests {
    use oci_core::{Append, MediaType};

    use super::*;
    use crate::RuleOutcome;

    /// A layout holding the shipped Alpine image (amd64) and a second image made from it
    /// (a label added, "arm64"), both in an index tagged `multi`.
    fn two_platform_index(dir: &std::path::Path) -> (OciLayout, Image, Image) {
        let example = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/alpine"));
        let layout = OciLayout::create(dir).unwrap();
        for blob in std::fs::read_dir(example.join("blobs/sha256")).unwrap() {
            let blob = blob.unwrap();
            std::fs::copy(blob.path(), dir.join("blobs/sha256").join(blob.file_name())).unwrap();
        }
        let open = |r: String| ImageSource::open(&r.parse().unwrap()).unwrap();
        let amd64 = open(format!("oci:{}:3.20", example.display())).image(None).unwrap();
        let spec = Append {
            layer: None,
            created: "2024-01-01T00:00:00Z".into(),
            created_by: "test".into(),
            comment: None,
            labels: vec![("test".into(), "arm64".into())],
            annotations: Vec::new(),
            changes: Vec::new(),
        };
        let other = oci_core::append(&amd64, &layout, spec).unwrap();
        let mut entries = Vec::new();
        for (desc, platform) in [(amd64.descriptor().clone(), "linux/amd64"), (other, "linux/arm64")] {
            let mut desc = desc;
            desc.platform = Some(platform.parse().unwrap());
            entries.push(desc);
        }
        let index = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries,
        });
        let bytes = serde_json::to_vec(&index).unwrap();
        let digest = layout.write_blob(&bytes).unwrap();
        layout.set_tag(Some("multi"), &Descriptor::new(MediaType::OciIndex, digest, bytes.len() as u64)).unwrap();
        let images = open(format!("oci:{}:multi", dir.display())).images().unwrap();
        let (a, b) = (images[0].clone(), images[1].clone());
        (layout, a, b)
    }

    #[test]
    fn harden_source_hardens_the_chosen_platform_and_rebuilds_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let (layout, amd64, arm64) = two_platform_index(dir.path());
        let source = ImageSource::open(&format!("oci:{}:multi", dir.path().display()).parse().unwrap()).unwrap();
        let rules = RuleSet::builtin("strict").unwrap();
        let options =
            HardenOptions { platforms: vec!["linux/arm64".parse().unwrap()], base_name: None, evaluate_after: true };

        let planned = plan(&source, &rules, &options).unwrap();
        assert_eq!(planned.len(), 1);
        assert_eq!(planned[0].digest, *arm64.digest());
        assert_eq!(planned[0].config, [oci_core::ConfigChange::User("10001:10001".into())]);

        let outcome = harden_source(&source, &rules, &layout, &options).unwrap();
        assert_eq!(outcome.images.len(), 1);
        let image = &outcome.images[0];
        assert_eq!(
            (image.platform.as_ref().map(Platform::to_string), &image.base),
            (Some("linux/arm64".into()), arm64.digest())
        );
        let entries: Vec<&str> = image.hardened.entries.iter().map(|e| e.path.as_str()).collect();
        let planned_entries: Vec<&str> = planned[0].entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(entries, planned_entries, "the dry run plans what hardening writes");
        let after = image.after.as_ref().unwrap();
        assert!(
            after.results.iter().all(|r| r.outcome != RuleOutcome::Fail || r.action == crate::Action::Check),
            "{after:?}"
        );

        // The new index: amd64 untouched, arm64 replaced by the hardened image.
        let result = outcome.result.images().unwrap();
        assert_eq!(outcome.result.top(), &outcome.descriptor);
        assert!(outcome.descriptor.media_type.is_index());
        assert_eq!(result.len(), 2);
        assert_eq!(result[0].digest(), amd64.digest());
        assert_eq!(result[1].digest(), &image.hardened.descriptor.digest);
        assert_eq!(result[1].platform().map(|p| p.to_string()).as_deref(), Some("linux/arm64"));
        let base_label = result[1].config().labels().into_iter().find(|(k, _)| *k == crate::LABEL_BASE_DIGEST);
        assert_eq!(base_label.map(|(_, v)| v.to_owned()), Some(arm64.digest().to_string()));

        // Its report, as `harden --report` writes it.
        let report = outcome.report("oci:src:multi", "oci:dst:h", outcome.descriptor.digest.clone(), &rules);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["digest"], outcome.descriptor.digest.to_string());
        assert_eq!(json["images"][0]["platform"], "linux/arm64");
        assert_eq!(json["images"][0]["layerEntries"], serde_json::json!(entries));
        assert_eq!(json["images"][0]["after"].as_array().unwrap().len(), rules.rules.len());
        let sarif = serde_json::to_value(outcome.sarif("oci:src:multi", &rules)).unwrap();
        assert_eq!(sarif["runs"].as_array().unwrap().len(), 1);

        // A platform the index does not have is an error naming what it has.
        let none = HardenOptions { platforms: vec!["linux/s390x".parse().unwrap()], ..HardenOptions::default() };
        let err = harden_source(&source, &rules, &layout, &none).unwrap_err().to_string();
        assert!(err.contains("linux/s390x") && err.contains("linux/amd64, linux/arm64"), "{err}");
    }

    #[test]
    fn harden_report_has_the_documented_field_names() {
        let d = |s: &[u8]| Digest::sha256(s);
        let report = HardenReport {
            source: "oci:a:1".into(),
            destination: "oci:b:1".into(),
            digest: d(b"top"),
            rules: RuleSetId { name: "baseline".into(), digest: d(b"rules") },
            images: vec![HardenedImageReport {
                platform: Some("linux/amd64".into()),
                base: d(b"base"),
                digest: d(b"new"),
                unchanged: false,
                layer_entries: vec!["etc".into(), "etc/passwd".into()],
                before: Vec::new(),
                after: None,
            }],
        };
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(
            json,
            format!(
                concat!(
                    r#"{{"source":"oci:a:1","destination":"oci:b:1","digest":"{}","rules":{{"name":"baseline","digest":"{}"}},"#,
                    r#""images":[{{"platform":"linux/amd64","base":"{}","digest":"{}","unchanged":false,"#,
                    r#""layerEntries":["etc","etc/passwd"],"before":[],"after":null}}]}}"#
                ),
                d(b"top"),
                d(b"rules"),
                d(b"base"),
                d(b"new")
            )
        );
    }
}
