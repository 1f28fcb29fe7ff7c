//! Changing images: one layer (or only config changes) appended on top of a base, and
//! indexes rebuilt around the changed manifests — reproducibly, byte for byte.
//!
//! Manifests, indexes and configs are edited as order-preserving JSON, never re-encoded
//! through a lossy struct: the base's layer descriptors, unknown keys and index entries
//! that do not change stay exactly as they were.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::time::{format_rfc3339, parse_rfc3339};
use crate::{
    Compression, ConfigChange, Descriptor, Digest, Error, Image, ImageConfig, MediaType, OciLayout, RawManifest, Result,
};

/// What [`append`] adds on top of a base image.
#[derive(Debug, Clone)]
pub struct Append {
    /// The layer to add, or `None` for a change of the config alone (an image where
    /// nothing needs fixing gets no layer).
    pub layer: Option<AppendedLayer>,
    /// When (RFC 3339, UTC): the config's `created` and the new history entry's. Pass
    /// [`source_date_rfc3339`] to be reproducible.
    pub created: String,
    /// The history entry's `created_by`, e.g. `oci-harden 0.1.0 rules sha256:…`.
    pub created_by: String,
    /// The history entry's `comment`.
    pub comment: Option<String>,
    /// Labels to set in the config (`config.Labels`), in this order.
    pub labels: Vec<(String, String)>,
    /// Annotations to set on the manifest, in this order.
    pub annotations: Vec<(String, String)>,
    /// Other config changes (`User`, `Env`…), applied in order after the labels.
    pub changes: Vec<ConfigChange>,
}

/// A layer already written into the destination layout (e.g. by a [`crate::LayerWriter`]
/// over [`OciLayout::blob_writer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendedLayer {
    /// The blob's digest and size. Its media type is chosen by [`append`] to follow the
    /// base manifest (Docker or OCI); other fields (annotations, urls) are kept.
    pub descriptor: Descriptor,
    /// The digest of the uncompressed tar.
    pub diff_id: Digest,
    /// How the blob is compressed.
    pub compression: Compression,
}

impl AppendedLayer {
    /// The layer a [`crate::LayerWriter`] reported writing.
    pub fn from_written(written: &crate::WrittenLayer) -> AppendedLayer {
        AppendedLayer {
            // The media type is replaced by `append`; this one only says "a layer".
            descriptor: Descriptor::new(
                MediaType::OciManifest.layer_for(written.compression),
                written.digest.clone(),
                written.size,
            ),
            diff_id: written.diff_id.clone(),
            compression: written.compression,
        }
    }
}

/// Writes a new image into `layout`: the base's layers, then `spec.layer` (if any), with
/// a new config and manifest. Returns the new manifest's descriptor, with the base's
/// platform; tag it with [`OciLayout::set_tag`] or put it in an index with
/// [`replace_in_index`].
///
/// - The layer blob must already be in `layout`; the base's layer blobs are copied into
///   `layout` from the base's source when missing, verified as they stream.
/// - The manifest is edited as order-preserving JSON: the base's layer descriptors and
///   any other keys stay exactly as they were; one layer descriptor is pushed and the
///   config descriptor's digest and size replaced. The layer's media type follows the
///   base manifest: Docker → `application/vnd.docker.image.rootfs.diff.tar.gzip`, OCI →
///   `application/vnd.oci.image.layer.v1.tar+gzip` (or `+zstd`, or plain tar).
/// - The config keeps every key it had (in order); `created` is set, the diff_id and a
///   history entry (`created`, `created_by`, `comment`; `"empty_layer": true` when no
///   layer is added) appended, the labels set, then `spec.changes` applied. A base whose
///   history lists fewer layers than it has is left as it is, not repaired.
/// - Everything is serialised as compact JSON: the same inputs give the same digest.
///
/// # Errors
/// [`Error::NotFound`] when the layer blob is not in `layout`; [`Error::Invalid`] when
/// `created` is not an RFC 3339 UTC time; [`Error::UnsupportedMediaType`] for a zstd layer
/// on a Docker manifest (Docker schema 2 has no zstd layer type); and errors reading or
/// verifying the base's blobs.
pub fn append(base: &Image, layout: &OciLayout, spec: Append) -> Result<Descriptor> {
    let Append { layer, created, created_by, comment, labels, annotations, changes } = spec;
    if parse_rfc3339(&created).is_none() {
        return Err(Error::Invalid {
            what: format!("creation time {created:?}"),
            reason: "expected an RFC 3339 UTC time such as 1970-01-01T00:00:00Z (see source_date_rfc3339)".into(),
        });
    }
    let manifest_type = base.raw_manifest().media_type().clone();
    let what = format!("manifest {}", base.digest());

    // The new layer's descriptor, typed after the base.
    let layer_json = match &layer {
        Some(l) => {
            if manifest_type.is_docker() && l.compression == Compression::Zstd {
                return Err(Error::UnsupportedMediaType {
                    media_type: format!("{manifest_type} with a zstd layer"),
                    what: format!("{what} (Docker schema 2 has no zstd layers; write the layer with gzip)"),
                });
            }
            if !layout.has_blob(&l.descriptor.digest) {
                return Err(Error::NotFound {
                    what: format!("layer {} in {}", l.descriptor.digest, layout.root().display()),
                    hint: " (write the layer into the destination layout before appending it)".into(),
                });
            }
            let mut d = l.descriptor.clone();
            d.media_type = manifest_type.layer_for(l.compression);
            d.platform = None;
            Some(serde_json::to_value(&d).expect("a descriptor serialises"))
        }
        None => None,
    };

    let mut manifest = json_object(base.raw_manifest().bytes(), &what)?;
    copy_layers(base, &base.manifest().layers, layout)?;

    // The config.
    let mut config = base.config().clone();
    config.set("created", Value::String(created.clone()));
    let mut entry = Map::new();
    entry.insert("created".into(), Value::String(created));
    entry.insert("created_by".into(), Value::String(created_by));
    if let Some(c) = comment {
        entry.insert("comment".into(), Value::String(c));
    }
    match &layer {
        Some(l) => config.push_layer(&l.diff_id, Value::Object(entry)),
        None => {
            entry.insert("empty_layer".into(), Value::Bool(true));
            let mut history = config.history().to_vec();
            history.push(Value::Object(entry));
            config.set("history", Value::Array(history));
        }
    }
    for (k, v) in &labels {
        config.set_label(k, v);
    }
    config.apply(&changes);
    let config_bytes = config.to_bytes();
    let config_digest = layout.write_blob(&config_bytes)?;

    // The manifest.
    set_config(&mut manifest, &config_digest, config_bytes.len(), &what)?;
    if let Some(l) = layer_json {
        match manifest.entry("layers").or_insert_with(|| Value::Array(Vec::new())) {
            Value::Array(layers) => layers.push(l),
            _ => return Err(Error::Invalid { what, reason: "\"layers\" is not an array".into() }),
        }
    }
    set_annotations(&mut manifest, annotations.into_iter().map(|(k, v)| (k, Some(v))));
    let bytes = serde_json::to_vec(&manifest).expect("a JSON map serialises");
    let digest = layout.write_blob(&bytes)?;
    let mut descriptor = Descriptor::new(manifest_type, digest, bytes.len() as u64);
    descriptor.platform = base.platform();
    Ok(descriptor)
}

/// Copies `layers` of `image` into `layout` when missing, verifying each as it streams.
/// Foreign layers that were never shipped stay foreign.
fn copy_layers(image: &Image, layers: &[Descriptor], layout: &OciLayout) -> Result<()> {
    for d in layers {
        if layout.has_blob(&d.digest) {
            continue;
        }
        if d.media_type.is_non_distributable() && image.source().blobs().open_blob(d).is_err() {
            continue;
        }
        image.source().copy_blob_to(d, layout)?;
    }
    Ok(())
}

/// Parses a manifest or index as an order-preserving JSON object.
fn json_object(bytes: &[u8], what: &str) -> Result<Map<String, Value>> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Error::Invalid { what: what.to_owned(), reason: "not a JSON object".into() }),
        Err(source) => Err(Error::Json { what: what.to_owned(), source }),
    }
}

/// Points the manifest's config descriptor at a new config (its other keys kept).
fn set_config(manifest: &mut Map<String, Value>, digest: &Digest, size: usize, what: &str) -> Result<()> {
    let Some(Value::Object(config)) = manifest.get_mut("config") else {
        return Err(Error::Invalid { what: what.to_owned(), reason: "the manifest has no config descriptor".into() });
    };
    config.insert("digest".into(), Value::String(digest.to_string()));
    config.insert("size".into(), Value::from(size as u64));
    Ok(())
}

/// Sets (or with `None` removes) manifest annotations; an `annotations` object left
/// empty is removed.
fn set_annotations(manifest: &mut Map<String, Value>, annotations: impl IntoIterator<Item = (String, Option<String>)>) {
    let mut annotations = annotations.into_iter().peekable();
    if annotations.peek().is_none() {
        return;
    }
    let slot = manifest.entry("annotations").or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    let map = slot.as_object_mut().expect("made an object above");
    for (k, v) in annotations {
        match v {
            Some(v) => map.insert(k, Value::String(v)),
            None => map.shift_remove(&k),
        };
    }
    if map.is_empty() {
        manifest.shift_remove("annotations");
    }
}

/// Rebuilds an index: a copy of `index` in which each manifest entry whose digest is a key
/// of `replaced` takes the new descriptor's `mediaType`, `digest` and `size` (keeping its
/// platform, annotations and any other key), every other entry and key staying as it
/// was, in order. The new index is written into `layout` (the blobs it references must be
/// there already) and its descriptor returned.
///
/// # Errors
/// [`Error::Invalid`] when `index` is not an index, and [`Error::NotFound`] when a key of
/// `replaced` is not among its entries (nothing is written then).
pub fn replace_in_index(
    index: &RawManifest,
    replaced: &BTreeMap<Digest, Descriptor>,
    layout: &OciLayout,
) -> Result<Descriptor> {
    let what = format!("index {}", index.digest());
    if !index.media_type().is_index() {
        return Err(Error::Invalid { what, reason: format!("expected an index, found {}", index.media_type()) });
    }
    let mut value = json_object(index.bytes(), &what)?;
    let Some(Value::Array(manifests)) = value.get_mut("manifests") else {
        return Err(Error::Invalid { what, reason: "no \"manifests\" array".into() });
    };
    let mut seen = std::collections::BTreeSet::new();
    for entry in manifests.iter_mut().filter_map(Value::as_object_mut) {
        let digest = entry.get("digest").and_then(Value::as_str).and_then(|d| d.parse::<Digest>().ok());
        let Some((old, new)) = digest.and_then(|d| replaced.get_key_value(&d)) else {
            continue;
        };
        seen.insert(old);
        entry.insert("mediaType".into(), Value::String(new.media_type.to_string()));
        entry.insert("digest".into(), Value::String(new.digest.to_string()));
        entry.insert("size".into(), Value::from(new.size));
    }
    if let Some(missing) = replaced.keys().find(|d| !seen.contains(d)) {
        return Err(Error::NotFound { what: format!("manifest {missing} in {what}"), hint: String::new() });
    }
    let bytes = serde_json::to_vec(&value).expect("a JSON map serialises");
    let digest = layout.write_blob(&bytes)?;
    Ok(Descriptor::new(index.media_type().clone(), digest, bytes.len() as u64))
}

/// What [`strip`] removes from the top of an image and which values it puts back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Strip {
    /// Filesystem layers to remove from the top, with their diff_ids.
    pub layers: usize,
    /// History entries to remove from the end (one per [`append`]: a layer's entry, or
    /// an `empty_layer` one for a change of the config alone).
    pub history: usize,
    /// Config values to restore, as JSON pointers (RFC 6901) into the config, such as
    /// `/created`, `/config/User` or `/config/Labels/org.example~1key`: `Some` sets the
    /// value (creating missing objects on the way), `None` removes the key. A key that
    /// was there keeps its position; one put back after being removed goes last.
    pub config: Vec<(String, Option<Value>)>,
    /// Manifest annotations to restore (`None` removes one). An `annotations` object
    /// left empty is removed.
    pub annotations: Vec<(String, Option<String>)>,
}

/// Writes into `layout` the image `image` was built from: its top `spec.layers` layers
/// (and their diff_ids) and last `spec.history` history entries removed, and the given
/// config values and annotations restored; returns the manifest's descriptor, with the
/// image's platform. The basis for re-hardening from the recorded base when the
/// original base is not at hand: undoing an [`append`] with the values it changed gives
/// the base back byte for byte when the base was serialised compactly.
///
/// The kept layers' blobs are copied into `layout` when missing, verified.
///
/// # Errors
/// [`Error::Invalid`] when the image has fewer layers or history entries than asked,
/// when a removed layer is not a filesystem layer, when the history described every
/// layer and the removed entries do not describe exactly the removed layers, or when a
/// pointer does not lead through objects.
pub fn strip(image: &Image, layout: &OciLayout, spec: Strip) -> Result<Descriptor> {
    let what = format!("image {}", image.digest());
    let invalid = |reason: String| Error::Invalid { what: what.clone(), reason };
    let mut manifest = json_object(image.raw_manifest().bytes(), &what)?;
    let Some(Value::Array(layers)) = manifest.get_mut("layers") else {
        return Err(invalid("the manifest has no layers array".into()));
    };
    if spec.layers > layers.len() {
        return Err(invalid(format!("cannot remove {} layers from {}", spec.layers, layers.len())));
    }
    let removed = layers.split_off(layers.len() - spec.layers);
    let kept: Vec<Descriptor> = image.manifest().layers[..layers.len()].to_vec();
    if image.manifest().layers[kept.len()..].iter().any(|l| !l.media_type.is_layer()) {
        return Err(invalid("a layer to remove is not a filesystem layer".into()));
    }
    debug_assert_eq!(removed.len(), spec.layers);

    let mut config = image.config().as_json().clone();
    let ids = config.get_mut("rootfs").and_then(|r| r.get_mut("diff_ids")).and_then(Value::as_array_mut);
    match ids {
        Some(ids) if ids.len() >= spec.layers => ids.truncate(ids.len() - spec.layers),
        _ if spec.layers == 0 => {}
        _ => return Err(invalid(format!("the config has fewer than {} diff_ids", spec.layers))),
    }
    let history = config.get_mut("history").and_then(Value::as_array_mut);
    match history {
        Some(h) if h.len() >= spec.history => {
            let non_empty = |e: &Value| e.get("empty_layer").and_then(Value::as_bool) != Some(true);
            let described = h.iter().filter(|e| non_empty(e)).count() == image.layers().len();
            let dropped = h.split_off(h.len() - spec.history);
            let dropped_layers = dropped.iter().filter(|e| non_empty(e)).count();
            if described && dropped_layers != spec.layers {
                return Err(invalid(format!(
                    "the last {} history entries describe {dropped_layers} layers, not {}",
                    spec.history, spec.layers
                )));
            }
        }
        _ if spec.history == 0 => {}
        _ => return Err(invalid(format!("the config has fewer than {} history entries", spec.history))),
    }
    for (pointer, value) in spec.config {
        set_pointer(&mut config, &pointer, value)
            .map_err(|reason| Error::Invalid { what: format!("config pointer {pointer:?} for {what}"), reason })?;
    }
    let config_bytes = serde_json::to_vec(&config).expect("a JSON map serialises");
    ImageConfig::parse(&config_bytes, &format!("restored config of {what}"))?;

    copy_layers(image, &kept, layout)?;
    let config_digest = layout.write_blob(&config_bytes)?;
    set_config(&mut manifest, &config_digest, config_bytes.len(), &what)?;
    set_annotations(&mut manifest, spec.annotations);
    let bytes = serde_json::to_vec(&manifest).expect("a JSON map serialises");
    let digest = layout.write_blob(&bytes)?;
    let mut descriptor = Descriptor::new(image.raw_manifest().media_type().clone(), digest, bytes.len() as u64);
    descriptor.platform = image.platform();
    Ok(descriptor)
}

/// Sets (or with `None` removes) the value `pointer` names in `root`.
fn set_pointer(root: &mut Map<String, Value>, pointer: &str, value: Option<Value>) -> Result<(), String> {
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err("a JSON pointer starts with /".into());
    };
    let tokens: Vec<String> = rest.split('/').map(|t| t.replace("~1", "/").replace("~0", "~")).collect();
    let (last, parents) = tokens.split_last().expect("split yields at least one token");
    let mut map = root;
    for token in parents {
        if value.is_none() && !map.contains_key(token) {
            return Ok(()); // nothing to remove
        }
        let next = map.entry(token.clone()).or_insert_with(|| Value::Object(Map::new()));
        if next.is_null() && value.is_some() {
            *next = Value::Object(Map::new());
        }
        map = match next {
            Value::Object(m) => m,
            Value::Null => return Ok(()), // removing below null: nothing there
            _ => return Err(format!("{token:?} is not an object")),
        };
    }
    match value {
        Some(v) => {
            map.insert(last.clone(), v);
        }
        None => {
            map.shift_remove(last);
        }
    }
    Ok(())
}

/// The `SOURCE_DATE_EPOCH` to build with, in seconds: the environment variable when it is
/// set to a number, else the base config's `created`, else 0. Layers written with it (see
/// [`crate::LayerWriter::new`]) and the matching [`source_date_rfc3339`] are the same on
/// every run.
pub fn source_date_epoch(base: &Image) -> u64 {
    pick_epoch(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref(), base.config().created())
}

/// [`source_date_epoch`] as an RFC 3339 UTC time, for [`Append::created`].
pub fn source_date_rfc3339(base: &Image) -> String {
    format_rfc3339(UNIX_EPOCH + Duration::from_secs(source_date_epoch(base)))
}

fn pick_epoch(env: Option<&str>, created: Option<&str>) -> u64 {
    env.and_then(|e| e.trim().parse::<u64>().ok())
        .or_else(|| {
            let t = parse_rfc3339(created?)?;
            Some(t.duration_since(UNIX_EPOCH).ok()?.as_secs())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{EntryMeta, ImageSource, LayerWriter, MergedFs, Reference};

    /// A base image in `layout` tagged `base`: two layers, a config with keys we do not
    /// know and labels, a layer descriptor with an extra key; Docker-typed when asked.
    fn base(layout: &OciLayout, docker: bool) -> Image {
        let desc = crate::testing::write_image(layout, "tmp", &[&[("etc/issue", b"hi\n")], &[("etc/motd", b"old\n")]])
            .unwrap();
        layout.remove_tag("tmp").unwrap();
        let mut manifest: Value = serde_json::from_slice(&layout.read_json_blob(&desc).unwrap()).unwrap();
        let config_desc: Descriptor = serde_json::from_value(manifest["config"].clone()).unwrap();
        let mut config: Map<String, Value> =
            serde_json::from_slice(&layout.read_json_blob(&config_desc).unwrap()).unwrap();
        config.insert("zeta".into(), json!({"unknown": [1, 2]}));
        config.insert("config".into(), json!({"OnBuild": null, "Labels": {"keep": "1"}, "ArgsEscaped": true}));
        let config = serde_json::to_vec(&config).unwrap();
        manifest["config"]["digest"] = json!(layout.write_blob(&config).unwrap());
        manifest["config"]["size"] = json!(config.len());
        manifest["layers"][0]["x-extra"] = json!({"b": 1, "a": 2});
        if docker {
            manifest["mediaType"] = json!(MediaType::DockerManifest);
            manifest["config"]["mediaType"] = json!(MediaType::DockerConfig);
            for l in manifest["layers"].as_array_mut().unwrap() {
                l["mediaType"] = json!(MediaType::DockerLayerGzip);
            }
        }
        let bytes = serde_json::to_vec(&manifest).unwrap();
        let raw = RawManifest::from_bytes(bytes).unwrap();
        layout.write_blob(raw.bytes()).unwrap();
        layout.set_tag(Some("base"), &raw.descriptor()).unwrap();
        open(layout, "base")
    }

    fn open(layout: &OciLayout, tag: &str) -> Image {
        let reference = Reference::Layout { dir: layout.root().to_path_buf(), tag: Some(tag.into()) };
        ImageSource::open(&reference).unwrap().image(None).unwrap()
    }

    fn layer(layout: &OciLayout, compression: Compression) -> AppendedLayer {
        let mut w = LayerWriter::new(layout.blob_writer().unwrap(), compression, 0).unwrap();
        w.append("etc", &EntryMeta::dir(0o755), std::io::empty()).unwrap();
        w.append("etc/.wh.issue", &EntryMeta::file(0o644, 0), std::io::empty()).unwrap();
        w.append("etc/motd", &EntryMeta::file(0o644, 4), &b"new\n"[..]).unwrap();
        let (blob, written) = w.finish().unwrap();
        blob.finish().unwrap();
        AppendedLayer::from_written(&written)
    }

    fn spec(layer: Option<AppendedLayer>, created: &str) -> Append {
        Append {
            layer,
            created: created.into(),
            created_by: "oci-harden test rules sha256:0".into(),
            comment: Some("hardened".into()),
            labels: vec![("org.example.hardened".into(), "yes".into()), ("keep".into(), "2".into())],
            annotations: vec![("org.opencontainers.image.base.name".into(), "base".into())],
            changes: vec![ConfigChange::User("10001".into())],
        }
    }

    fn json_of(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    fn layouts() -> (tempfile::TempDir, OciLayout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path()).unwrap();
        (dir, layout)
    }

    #[test]
    fn mutate_append_adds_one_layer_and_keeps_the_base() {
        let (_d, layout) = layouts();
        let base = base(&layout, false);
        let new_layer = layer(&layout, Compression::Gzip);
        let desc = append(&base, &layout, spec(Some(new_layer.clone()), "2024-01-02T03:04:05Z")).unwrap();
        assert_eq!(desc.platform.as_ref().map(ToString::to_string).as_deref(), Some("linux/amd64"));
        assert_eq!(desc.media_type, MediaType::OciManifest);
        layout.set_tag(Some("new"), &desc).unwrap();
        let image = open(&layout, "new");

        let (old_m, new_m) = (json_of(base.raw_manifest().bytes()), json_of(image.raw_manifest().bytes()));
        let (old_l, new_l) = (old_m["layers"].as_array().unwrap(), new_m["layers"].as_array().unwrap());
        assert_eq!(new_l.len(), old_l.len() + 1);
        for (a, b) in old_l.iter().zip(new_l) {
            assert_eq!(a.to_string(), b.to_string());
        }
        let added = &new_l[old_l.len()];
        assert_eq!(added["mediaType"], MediaType::OciLayerGzip.as_str());
        assert_eq!(added["digest"], new_layer.descriptor.digest.to_string());
        assert_eq!(new_m["annotations"]["org.opencontainers.image.base.name"], "base");

        let config = image.config();
        let mut ids = base.config().diff_ids().unwrap();
        ids.push(new_layer.diff_id.clone());
        assert_eq!(config.diff_ids().unwrap(), ids);
        assert_eq!(config.created(), Some("2024-01-02T03:04:05Z"));
        let history = config.history();
        assert_eq!(history.len(), base.config().history().len() + 1);
        assert_eq!(
            history.last().unwrap().to_string(),
            r#"{"created":"2024-01-02T03:04:05Z","created_by":"oci-harden test rules sha256:0","comment":"hardened"}"#
        );
        assert_eq!(config.labels(), [("keep", "2"), ("org.example.hardened", "yes")]);
        assert_eq!(config.user(), Some("10001"));
        // Unknown keys survive, in their order.
        let keys = |c: &ImageConfig| c.as_json().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(config), keys(base.config()));
        assert_eq!(config.as_json()["zeta"], json!({"unknown": [1, 2]}));
        assert_eq!(config.runtime().unwrap()["OnBuild"], Value::Null);

        // The filesystem: the new file, the whiteout applied.
        let fs = MergedFs::build(&image).unwrap();
        assert_eq!(fs.read("etc/motd").unwrap(), b"new\n");
        assert!(fs.read("etc/issue").is_err());
    }

    #[test]
    fn mutate_append_follows_a_docker_base() {
        let (_d, layout) = layouts();
        let base = base(&layout, true);
        let desc =
            append(&base, &layout, spec(Some(layer(&layout, Compression::Gzip)), "1970-01-01T00:00:00Z")).unwrap();
        assert_eq!(desc.media_type, MediaType::DockerManifest);
        layout.set_tag(Some("new"), &desc).unwrap();
        let image = open(&layout, "new");
        let layers = &image.manifest().layers;
        assert_eq!(layers.len(), 3);
        assert!(layers.iter().all(|l| l.media_type == MediaType::DockerLayerGzip));
        assert_eq!(image.manifest().config.media_type, MediaType::DockerConfig);

        let zstd = layer(&layout, Compression::Zstd);
        let err = append(&base, &layout, spec(Some(zstd), "1970-01-01T00:00:00Z")).unwrap_err();
        assert!(matches!(err, Error::UnsupportedMediaType { .. }), "{err}");
    }

    #[test]
    fn mutate_append_is_reproducible_and_copies_the_base() {
        let (_s, source) = layouts();
        let base = base(&source, false);
        let digests: Vec<Digest> = (0..2)
            .map(|_| {
                let (_d, layout) = layouts();
                let desc =
                    append(&base, &layout, spec(Some(layer(&layout, Compression::Gzip)), "2000-01-01T00:00:00Z"))
                        .unwrap();
                for l in &base.manifest().layers {
                    assert!(layout.has_blob(&l.digest), "base layer {} copied", l.digest);
                }
                layout.set_tag(Some("new"), &desc).unwrap();
                MergedFs::build(&open(&layout, "new")).unwrap();
                desc.digest
            })
            .collect();
        assert_eq!(digests[0], digests[1]);

        // Another time gives another image.
        let (_d, layout) = layouts();
        let other = append(&base, &layout, spec(Some(layer(&layout, Compression::Gzip)), "2000-01-01T00:00:01Z"));
        assert_ne!(other.unwrap().digest, digests[0]);
    }

    #[test]
    fn mutate_source_date_epoch_prefers_the_environment() {
        assert_eq!(pick_epoch(Some("1700000000"), Some("2000-01-01T00:00:00Z")), 1_700_000_000);
        assert_eq!(pick_epoch(Some("not a number"), Some("2000-01-01T00:00:00Z")), 946_684_800);
        assert_eq!(pick_epoch(None, Some("2000-01-01T00:00:00.5Z")), 946_684_800);
        assert_eq!(pick_epoch(None, Some("yesterday")), 0);
        assert_eq!(pick_epoch(None, None), 0);
        let (_d, layout) = layouts();
        let base = base(&layout, false);
        if std::env::var_os("SOURCE_DATE_EPOCH").is_none() {
            assert_eq!(source_date_epoch(&base), 0);
            assert_eq!(source_date_rfc3339(&base), "1970-01-01T00:00:00Z");
        }
    }

    #[test]
    fn mutate_config_only_append_adds_no_layer() {
        let (_d, layout) = layouts();
        let base = base(&layout, false);
        let desc = append(&base, &layout, spec(None, "1970-01-01T00:00:00Z")).unwrap();
        layout.set_tag(Some("new"), &desc).unwrap();
        let image = open(&layout, "new");
        assert_eq!(image.manifest().layers, base.manifest().layers);
        assert_eq!(image.config().diff_ids().unwrap(), base.config().diff_ids().unwrap());
        let last = image.config().history().last().unwrap().clone();
        assert_eq!(last["empty_layer"], true);
        assert_eq!(image.config().user(), Some("10001"));
    }

    #[test]
    fn mutate_append_refuses_bad_input() {
        let (_d, layout) = layouts();
        let base = base(&layout, false);
        let (_o, other) = layouts();
        let elsewhere = layer(&other, Compression::Gzip);
        let err = append(&base, &layout, spec(Some(elsewhere), "1970-01-01T00:00:00Z")).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        let err = append(&base, &layout, spec(None, "yesterday")).unwrap_err();
        assert!(err.to_string().contains("RFC 3339"), "{err}");
    }

    #[test]
    fn mutate_replace_in_index_changes_only_the_replaced_entry() {
        let (_d, layout) = layouts();
        let amd = crate::testing::write_image(&layout, "amd", &[&[("a", b"amd64")]]).unwrap();
        let arm = crate::testing::write_image(&layout, "arm", &[&[("a", b"arm64")]]).unwrap();
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": MediaType::OciIndex,
            "manifests": [
                {"mediaType": MediaType::OciManifest, "digest": amd.digest, "size": amd.size,
                 "platform": {"architecture": "amd64", "os": "linux"}, "annotations": {"z": "1", "a": "2"}},
                {"mediaType": MediaType::OciManifest, "digest": arm.digest, "size": arm.size,
                 "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
            ],
            "annotations": {"org.example": "kept"},
        }))
        .unwrap();
        let index = RawManifest::from_bytes(index).unwrap();
        layout.write_blob(index.bytes()).unwrap();

        let base = open(&layout, "amd");
        let new =
            append(&base, &layout, spec(Some(layer(&layout, Compression::Gzip)), "1970-01-01T00:00:00Z")).unwrap();
        let replaced = BTreeMap::from([(amd.digest.clone(), new.clone())]);
        let desc = replace_in_index(&index, &replaced, &layout).unwrap();
        assert_eq!(desc.media_type, MediaType::OciIndex);
        let (old, out) = (json_of(index.bytes()), json_of(&std::fs::read(layout.blob_path(&desc.digest)).unwrap()));
        assert_eq!(
            out["manifests"][0].to_string(),
            format!(
                r#"{{"mediaType":"{}","digest":"{}","size":{},"platform":{{"architecture":"amd64","os":"linux"}},"annotations":{{"z":"1","a":"2"}}}}"#,
                new.media_type, new.digest, new.size
            )
        );
        assert_eq!(out["manifests"][1].to_string(), old["manifests"][1].to_string());
        assert_eq!(out["annotations"], old["annotations"]);

        layout.set_tag(Some("index"), &desc).unwrap();
        let reference = Reference::Layout { dir: layout.root().to_path_buf(), tag: Some("index".into()) };
        let images = ImageSource::open(&reference).unwrap().images().unwrap();
        assert_eq!(images[0].digest(), &new.digest);
        assert_eq!(images[1].digest(), &arm.digest);

        let missing = BTreeMap::from([(Digest::sha256(b"nothing"), new)]);
        assert!(matches!(replace_in_index(&index, &missing, &layout), Err(Error::NotFound { .. })));
        assert!(replace_in_index(base.raw_manifest(), &BTreeMap::new(), &layout).is_err());
    }

    fn undo() -> Strip {
        Strip {
            layers: 1,
            history: 1,
            config: vec![
                ("/created".into(), Some(json!("1970-01-01T00:00:00Z"))),
                ("/config/Labels/keep".into(), Some(json!("1"))),
                ("/config/Labels/org.example.hardened".into(), None),
                ("/config/User".into(), None),
            ],
            annotations: vec![("org.opencontainers.image.base.name".into(), None)],
        }
    }

    #[test]
    fn mutate_strip_undoes_an_append_byte_for_byte() {
        let (_d, layout) = layouts();
        let base = base(&layout, false);
        let desc =
            append(&base, &layout, spec(Some(layer(&layout, Compression::Gzip)), "2024-01-01T00:00:00Z")).unwrap();
        layout.set_tag(Some("new"), &desc).unwrap();
        let hardened = open(&layout, "new");

        let (_e, elsewhere) = layouts();
        let back = strip(&hardened, &elsewhere, undo()).unwrap();
        assert_eq!(&back.digest, base.digest());
        assert_eq!(back.platform.as_ref().map(ToString::to_string).as_deref(), Some("linux/amd64"));
        for l in &base.manifest().layers {
            assert!(elsewhere.has_blob(&l.digest), "kept layer {} copied", l.digest);
        }
        assert!(!elsewhere.has_blob(&hardened.manifest().layers[2].digest), "the removed layer is not copied");

        // A change of the config alone is undone by removing its history entry only.
        let desc = append(&base, &layout, spec(None, "2024-01-01T00:00:00Z")).unwrap();
        layout.set_tag(Some("config-only"), &desc).unwrap();
        let back = strip(&open(&layout, "config-only"), &layout, Strip { layers: 0, ..undo() }).unwrap();
        assert_eq!(&back.digest, base.digest());
    }

    #[test]
    fn mutate_strip_refuses_what_does_not_add_up() {
        let (_d, layout) = layouts();
        let base = base(&layout, false);
        let too_many = Strip { layers: 3, history: 3, ..Strip::default() };
        assert!(strip(&base, &layout, too_many).unwrap_err().to_string().contains("cannot remove 3 layers"));
        let no_history = Strip { layers: 1, history: 0, ..Strip::default() };
        assert!(strip(&base, &layout, no_history).unwrap_err().to_string().contains("describe 0 layers"));
        let bad_pointer = Strip { config: vec![("created".into(), None)], ..Strip::default() };
        assert!(strip(&base, &layout, bad_pointer).unwrap_err().to_string().contains("starts with /"));
        let through_string = Strip { config: vec![("/created/x".into(), Some(json!(1)))], ..Strip::default() };
        assert!(strip(&base, &layout, through_string).unwrap_err().to_string().contains("not an object"));
        let bad_config = Strip { config: vec![("/rootfs/diff_ids".into(), Some(json!(["x"])))], ..Strip::default() };
        assert!(strip(&base, &layout, bad_config).is_err());
    }

    #[test]
    fn mutate_json_pointers_set_and_remove() {
        let mut root = json!({"config": {"Labels": {"a/b": "1", "c": "2"}}, "n": null}).as_object().unwrap().clone();
        set_pointer(&mut root, "/config/Labels/a~1b", None).unwrap();
        set_pointer(&mut root, "/config/Labels/d~0e", Some(json!("3"))).unwrap();
        set_pointer(&mut root, "/missing/deep", None).unwrap();
        set_pointer(&mut root, "/n/x", None).unwrap();
        set_pointer(&mut root, "/new/key", Some(json!(true))).unwrap();
        assert_eq!(
            Value::Object(root).to_string(),
            r#"{"config":{"Labels":{"c":"2","d~e":"3"}},"n":null,"new":{"key":true}}"#
        );
    }
}
