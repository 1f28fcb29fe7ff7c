//! Up to date means no work: before hardening or patching into a destination, read what the
//! destination holds and compare its labels with what this run would make
//! ([`freshness`], [`destination_freshness`]).
//!
//! What is compared, per image (each platform of an index, matched by platform):
//! - [`LABEL_BASE_DIGEST`] equals the manifest digest of the source image *now* (the tag
//!   is resolved again, so a base that moved under its tag is stale);
//! - [`LABEL_RULES_DIGEST`] equals the digest of the rule set (absent when no rules);
//! - [`LABEL_PACKAGES`] equals the label the upgrade plan resolved now would write
//!   (absent for hardening without patching, and for an empty plan): so a newer fixed
//!   version in the sources makes the destination stale. Computing that plan reads the
//!   source image and the repositories' metadata, so it is done only by the patch path
//!   ([`patch_freshness`]), after the cheap comparisons passed.
//!
//! An index must list the same platforms as the source's; images of platforms the job
//! leaves alone (not in [`Wanted::platforms`]) must be the source's own, byte for byte.
//! Labels are read from the destination's config, so an up-to-date registry check costs
//! the two manifest requests (source and destination) plus configs the blob cache does
//! not hold yet.

use std::collections::BTreeMap;

use oci_core::{
    Descriptor, Digest, Image, ImageIndex, ImageSource, Manifest, OciLayout, Platform, PullScope, Reference, Session,
};

use crate::{LABEL_BASE_DIGEST, LABEL_PACKAGES, LABEL_RULES_DIGEST, PatchJobOptions, Result, RuleSet, plan_patch};

/// What a job would make, for comparison with what a destination holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Wanted {
    /// The rule set's digest ([`crate::RuleSet::digest`]); `None` when patching without rules.
    pub rules_digest: Option<Digest>,
    /// The platforms the job changes (empty: all).
    pub platforms: Vec<Platform>,
    /// What [`LABEL_PACKAGES`] must say.
    pub packages: PackagesWanted,
}

/// What [`Wanted`] expects of [`LABEL_PACKAGES`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PackagesWanted {
    /// No such label: hardening alone.
    #[default]
    Absent,
    /// Not compared (the cheap first pass of [`patch_freshness`]).
    Unchecked,
    /// Per source image digest, the value its plan would write ([`crate::packages_label`];
    /// `None` for an empty plan, which writes none).
    Planned(BTreeMap<Digest, Option<String>>),
}

impl Wanted {
    /// What hardening with rules of digest `rules_digest` makes, for `platforms` (all when
    /// empty).
    pub fn hardened(rules_digest: Digest, platforms: Vec<Platform>) -> Wanted {
        Wanted { rules_digest: Some(rules_digest), platforms, packages: PackagesWanted::Absent }
    }
}

/// Whether a destination already holds what a job would write.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Freshness {
    /// The destination holds what the job would make: nothing to do.
    UpToDate {
        /// The destination's manifest (or index) digest.
        digest: Digest,
    },
    /// The job must run.
    Stale {
        /// The destination's digest, when it exists.
        previous: Option<Digest>,
        /// Why it is not up to date.
        reason: StaleReason,
    },
}

impl Freshness {
    /// Whether nothing needs doing.
    pub fn is_up_to_date(&self) -> bool {
        matches!(self, Freshness::UpToDate { .. })
    }
}

/// Why a destination is not up to date.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StaleReason {
    /// Nothing is there yet.
    Missing,
    /// An image there was not made by us from this source (no base label, or another kind
    /// of manifest).
    NotDerived,
    /// The source moved: the destination was made from `was`, the source is now `now`.
    BaseMoved {
        /// The base digest the destination records.
        was: String,
        /// The source image's digest now.
        now: Digest,
    },
    /// Another rule set made it.
    RulesChanged,
    /// Another upgrade set made it (or a newer fixed version is available).
    PackagesChanged,
    /// The destination's platforms are not the source's.
    PlatformsDiffer,
    /// The destination is a `docker-archive:` file, which is always rewritten.
    Archive,
}

impl std::fmt::Display for StaleReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StaleReason::Missing => f.write_str("no image there yet"),
            StaleReason::NotDerived => f.write_str("the image there was not made from this source"),
            StaleReason::BaseMoved { was, now } => write!(f, "the source moved from {was} to {now}"),
            StaleReason::RulesChanged => f.write_str("made with another rule set"),
            StaleReason::PackagesChanged => f.write_str("made with another upgrade set"),
            StaleReason::PlatformsDiffer => f.write_str("its platforms differ from the source's"),
            StaleReason::Archive => f.write_str("an archive destination is always rewritten"),
        }
    }
}

/// Compares `destination` (what is there now; `None` when nothing is) with what the job
/// `wanted` describes would make from `source`. Reads manifests and configs only.
///
/// # Errors
/// Reading a manifest or config of either side.
pub fn freshness(source: &ImageSource, destination: Option<&ImageSource>, wanted: &Wanted) -> Result<Freshness> {
    let Some(destination) = destination else {
        return Ok(Freshness::Stale { previous: None, reason: StaleReason::Missing });
    };
    let previous = destination.top().digest.clone();
    let stale = |reason| Ok(Freshness::Stale { previous: Some(previous.clone()), reason });
    let (src_top, dst_top) = (source.top_manifest()?.parse()?, destination.top_manifest()?.parse()?);
    let (src_index, dst_index) = match (src_top, dst_top) {
        (Manifest::Image(_), Manifest::Image(_)) => {
            let (src, dst) = (source.image_at(source.top())?, destination.image_at(destination.top())?);
            return match image_staleness(&src, &dst, wanted) {
                Some(reason) => stale(reason),
                None => Ok(Freshness::UpToDate { digest: previous }),
            };
        }
        (Manifest::Index(s), Manifest::Index(d)) => (s, d),
        _ => return stale(StaleReason::PlatformsDiffer),
    };
    let (src_entries, dst_entries) = (runnable(&src_index), runnable(&dst_index));
    if src_entries.len() != dst_entries.len() {
        return stale(StaleReason::PlatformsDiffer);
    }
    for src in src_entries {
        let Some(dst) = dst_entries.iter().find(|d| d.platform == src.platform) else {
            return stale(StaleReason::PlatformsDiffer);
        };
        let chosen = wanted.platforms.is_empty()
            || src.platform.as_ref().is_some_and(|p| wanted.platforms.iter().any(|w| p.satisfies(w)));
        // Images of platforms the job leaves alone are compared by digest only: the source
        // was opened for the chosen platforms, so only theirs are at hand.
        if !chosen || !src.media_type.is_manifest() {
            if dst.digest != src.digest {
                return stale(StaleReason::NotDerived);
            }
            continue;
        }
        let (src, dst) = (source.image_at(src)?, destination.image_at(dst)?);
        if let Some(reason) = image_staleness(&src, &dst, wanted) {
            return stale(reason);
        }
    }
    Ok(Freshness::UpToDate { digest: previous })
}

/// The entries of an index that are images or nested indexes, without attestations and
/// artifacts (as [`ImageSource::images`] sees them).
fn runnable(index: &ImageIndex) -> Vec<&Descriptor> {
    index
        .manifests
        .iter()
        .filter(|d| {
            (d.media_type.is_manifest() || d.media_type.is_index())
                && d.annotation("vnd.docker.reference.type") != Some("attestation-manifest")
                && d.platform.as_ref().is_none_or(|p| p.os != "unknown")
        })
        .collect()
}

/// Why `dst` is not what the job makes of `src`, or `None` when it is.
fn image_staleness(src: &Image, dst: &Image, wanted: &Wanted) -> Option<StaleReason> {
    let expected_packages: Option<&str> = match &wanted.packages {
        PackagesWanted::Planned(m) => m.get(src.digest()).and_then(|p| p.as_deref()),
        _ => None,
    };
    // An image the job leaves as it is (patched with nothing to do and no rules). Only
    // chosen images get here: of an index, [`freshness`] compares the others by digest.
    let untouched = wanted.rules_digest.is_none()
        && matches!(wanted.packages, PackagesWanted::Planned(_))
        && expected_packages.is_none();
    if untouched {
        return (dst.digest() != src.digest()).then_some(StaleReason::NotDerived);
    }
    let labels: BTreeMap<&str, &str> = dst.config().labels().into_iter().collect();
    match labels.get(LABEL_BASE_DIGEST) {
        None => return Some(StaleReason::NotDerived),
        Some(was) if *was != src.digest().to_string() => {
            return Some(StaleReason::BaseMoved { was: (*was).to_owned(), now: src.digest().clone() });
        }
        Some(_) => {}
    }
    let rules = wanted.rules_digest.as_ref().map(Digest::to_string);
    if labels.get(LABEL_RULES_DIGEST).copied() != rules.as_deref() {
        return Some(StaleReason::RulesChanged);
    }
    if wanted.packages != PackagesWanted::Unchecked && labels.get(LABEL_PACKAGES).copied() != expected_packages {
        return Some(StaleReason::PackagesChanged);
    }
    None
}

/// Opens what `destination` holds now through `session` (manifests and configs only), or
/// `None` when nothing is there: a registry's 404, a layout without that tag (or no layout
/// at all). A `docker-archive:` destination is never read (it is always rewritten).
///
/// # Errors
/// Any other failure to read it (authentication, a corrupt manifest…).
pub fn open_destination(session: &Session, destination: &Reference) -> Result<Option<ImageSource>> {
    match destination {
        Reference::DockerArchive { .. } => return Ok(None),
        Reference::Layout { dir, .. } if !dir.join("index.json").exists() => return Ok(None),
        _ => {}
    }
    match session.open(destination, &[], PullScope::Metadata) {
        Ok(source) => Ok(Some(source)),
        Err(oci_core::Error::NotFound { .. }) | Err(oci_core::Error::Registry { status: Some(404), .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// [`freshness`] of what `destination` holds now, read through `session`
/// ([`open_destination`]). A `docker-archive:` destination is always
/// [`StaleReason::Archive`].
///
/// # Errors
/// Those of [`open_destination`] and [`freshness`].
pub fn destination_freshness(
    session: &Session,
    source: &ImageSource,
    destination: &Reference,
    wanted: &Wanted,
) -> Result<Freshness> {
    if matches!(destination, Reference::DockerArchive { .. }) {
        return Ok(Freshness::Stale { previous: None, reason: StaleReason::Archive });
    }
    let current = open_destination(session, destination)?;
    freshness(source, current.as_ref(), wanted)
}

/// [`destination_freshness`] for a patch job (`patch`, `harden --patch`): the base and the
/// rules are compared first (manifests and configs only); when they match, the upgrade plan
/// is resolved now ([`plan_patch`]: the source's package database, the advisory database or
/// report, and the repositories' metadata; no package file is fetched) and its
/// [`LABEL_PACKAGES`] compared, so a newer fixed version makes the destination stale.
/// `source` must be opened whole (its layers local); `layout` is the working layout.
///
/// # Errors
/// Those of [`open_destination`], [`freshness`] and [`plan_patch`].
pub fn patch_freshness(
    session: &Session,
    source: &ImageSource,
    destination: &Reference,
    rules: Option<&RuleSet>,
    layout: &OciLayout,
    options: &PatchJobOptions,
) -> Result<Freshness> {
    if matches!(destination, Reference::DockerArchive { .. }) {
        return Ok(Freshness::Stale { previous: None, reason: StaleReason::Archive });
    }
    let Some(current) = open_destination(session, destination)? else {
        return Ok(Freshness::Stale { previous: None, reason: StaleReason::Missing });
    };
    let mut wanted = Wanted {
        rules_digest: rules.map(RuleSet::digest),
        platforms: options.patch.platforms.clone(),
        packages: PackagesWanted::Unchecked,
    };
    if rules.is_some() {
        let first = freshness(source, Some(&current), &wanted)?;
        if !first.is_up_to_date() {
            return Ok(first);
        }
    }
    let mut options = options.clone();
    options.fetch_packages = false;
    let planned = plan_patch(source, layout, &options)?;
    wanted.packages = PackagesWanted::Planned(
        planned.iter().map(|i| (i.base.clone(), crate::packages_label(&i.planned.plan))).collect(),
    );
    freshness(source, Some(&current), &wanted)
}

#[cfg(test)]
mod tests {
    use oci_core::OciLayout;
    use oci_core::testing::write_image;

    use super::*;
    use crate::{HardenOptions, RuleSet, harden_source};

    const RULES: &str = "[ruleset]\nname = \"marker\"\n\n[[rule]]\nid = \"marker\"\nkind = \"file-mode\"\n\
                         path = \"/etc/hardened\"\nmode = \"0644\"\ncontent = \"yes\\n\"\n";

    fn open(layout: &OciLayout, tag: &str) -> ImageSource {
        ImageSource::open(&Reference::Layout { dir: layout.root().to_path_buf(), tag: Some(tag.into()) }).unwrap()
    }

    /// A hardened image is up to date for the same base and rules; a moved base, other rules,
    /// a missing destination or an unrelated image are stale, each with its reason.
    #[test]
    fn labels_decide() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path().join("l")).unwrap();
        write_image(&layout, "v1", &[&[("etc/motd", b"one\n")]]).unwrap();
        write_image(&layout, "v2", &[&[("etc/motd", b"two\n")]]).unwrap();
        let rules: RuleSet = RULES.parse().unwrap();
        let v1 = open(&layout, "v1");
        let out = harden_source(&v1, &rules, &layout, &HardenOptions::default()).unwrap();
        let hardened = out.result;
        let wanted = Wanted::hardened(rules.digest(), Vec::new());

        assert_eq!(
            freshness(&v1, Some(&hardened), &wanted).unwrap(),
            Freshness::UpToDate { digest: out.descriptor.digest.clone() }
        );
        assert_eq!(
            freshness(&v1, None, &wanted).unwrap(),
            Freshness::Stale { previous: None, reason: StaleReason::Missing }
        );
        let v2 = open(&layout, "v2");
        match freshness(&v2, Some(&hardened), &wanted).unwrap() {
            Freshness::Stale { previous, reason: StaleReason::BaseMoved { was, now } } => {
                assert_eq!(previous.as_ref(), Some(&out.descriptor.digest));
                assert_eq!((was, &now), (v1.top().digest.to_string(), &v2.top().digest));
            }
            other => panic!("{other:?}"),
        }
        let other_rules = Wanted::hardened(oci_core::Digest::sha256(b"other"), Vec::new());
        assert!(matches!(
            freshness(&v1, Some(&hardened), &other_rules).unwrap(),
            Freshness::Stale { reason: StaleReason::RulesChanged, .. }
        ));
        assert!(matches!(
            freshness(&v1, Some(&v2), &wanted).unwrap(),
            Freshness::Stale { reason: StaleReason::NotDerived, .. }
        ));
        let planned = BTreeMap::from([(v1.top().digest.clone(), Some("[]".to_owned()))]);
        let patched = Wanted { packages: PackagesWanted::Planned(planned), ..wanted };
        assert!(matches!(
            freshness(&v1, Some(&hardened), &patched).unwrap(),
            Freshness::Stale { reason: StaleReason::PackagesChanged, .. }
        ));
    }
}
