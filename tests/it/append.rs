//! `oci_core::append` and `oci_core::replace_in_index` write images that independent
//! peers accept: umoci unpacks the appended layer (files added, whiteouts applied),
//! skopeo reads the labels and layers and copies the images and indexes keeping their
//! digests, and the same inputs give the same digest in another layout; `oci_core::strip`
//! undoes an append exactly.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use oci_core::{
    Append, AppendedLayer, Compression, ConfigChange, EntryMeta, ImageSource, LayerWriter, OciLayout, Platform, Strip,
    append, replace_in_index, source_date_epoch, source_date_rfc3339, strip,
};
use serde_json::Value;

use crate::harness::{blob_json, example_layout, fixture, oci_harden, oci_ref, tagged, tempdir, tool};

/// Copies `src` into the layout `dst` as `tag` with `oci-harden copy`.
fn copy_into(src: &str, dst: &Path, tag: &str) {
    oci_harden(&["copy", src, oci_ref(dst, Some(tag)).as_str()]).ok();
}

/// Writes the test layer into `layout`: `etc/motd` replaced, `etc/issue` whited out.
fn write_layer(layout: &OciLayout, epoch: u64) -> AppendedLayer {
    let mut w = LayerWriter::new(layout.blob_writer().unwrap(), Compression::Gzip, epoch).unwrap();
    w.append("etc", &EntryMeta::dir(0o755), std::io::empty()).unwrap();
    w.append("etc/.wh.issue", &EntryMeta::file(0o644, 0), std::io::empty()).unwrap();
    let motd = b"hardened by oci-harden\n";
    w.append("etc/motd", &EntryMeta::file(0o644, motd.len() as u64), &motd[..]).unwrap();
    let (blob, written) = w.finish().unwrap();
    blob.finish().unwrap();
    AppendedLayer::from_written(&written)
}

fn spec(layer: Option<AppendedLayer>, created: String) -> Append {
    Append {
        layer,
        created,
        created_by: "oci-harden test rules sha256:0000".into(),
        comment: Some("append test".into()),
        labels: vec![("org.example.hardened".into(), "true".into())],
        annotations: vec![("org.opencontainers.image.base.name".into(), "alpine:3.20".into())],
        changes: vec![ConfigChange::User("65534".into())],
    }
}

/// Copies `examples/alpine:3.20` into `dir`, appends the test layer and tags the result
/// `hardened`; returns the new manifest's digest.
fn harden_alpine(dir: &Path) -> String {
    copy_into(&oci_ref(&example_layout(), Some("3.20")), dir, "3.20");
    let base = ImageSource::open(&oci_ref(dir, Some("3.20")).parse().unwrap()).unwrap().image(None).unwrap();
    let layout = OciLayout::open(dir).unwrap();
    let layer = write_layer(&layout, source_date_epoch(&base));
    let desc = append(&base, &layout, spec(Some(layer), source_date_rfc3339(&base))).unwrap();
    layout.set_tag(Some("hardened"), &desc).unwrap();
    desc.digest.to_string()
}

/// The appended layer is what umoci and skopeo see: one more layer, the new file, the
/// whited-out file gone, our labels and user; skopeo copies it keeping the digest; the
/// same base and layer give the same digest in another layout.
#[test]
fn appended_alpine_layer_is_unpacked_by_umoci_and_copied_by_skopeo() {
    let tmp = tempdir();
    let dir = tmp.path().join("layout");
    let digest = harden_alpine(&dir);
    let reference = oci_ref(&dir, Some("hardened"));

    let base_manifest = blob_json(&dir, tagged(&dir, "3.20")["digest"].as_str().unwrap());
    let manifest = blob_json(&dir, &digest);
    let (base_layers, layers) = (base_manifest["layers"].as_array().unwrap(), manifest["layers"].as_array().unwrap());
    assert_eq!(layers.len(), base_layers.len() + 1, "exactly one layer added");
    for (a, b) in base_layers.iter().zip(layers) {
        assert_eq!(a.to_string(), b.to_string(), "base layer descriptors unchanged");
    }
    assert_eq!(manifest["annotations"]["org.opencontainers.image.base.name"], "alpine:3.20");

    let bundle = tmp.path().join("bundle");
    tool("umoci", &["unpack", "--image", &format!("{}:hardened", dir.display()), bundle.to_str().unwrap()]).ok();
    let rootfs = bundle.join("rootfs");
    assert_eq!(fs::read(rootfs.join("etc/motd")).unwrap(), b"hardened by oci-harden\n");
    assert!(!rootfs.join("etc/issue").exists(), "the whiteout hides etc/issue");
    assert!(rootfs.join("etc/os-release").exists(), "the base is there");

    let inspect = tool("skopeo", &["inspect", &reference]).ok().json();
    assert_eq!(inspect["Labels"]["org.example.hardened"], "true");
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), base_layers.len() + 1);
    assert_eq!(inspect["Digest"], digest.as_str());
    let config = tool("skopeo", &["inspect", "--config", &reference]).ok().json();
    assert_eq!(config["config"]["User"], "65534");
    let history = config["history"].as_array().unwrap();
    assert_eq!(history.last().unwrap()["created_by"], "oci-harden test rules sha256:0000");

    let theirs = tmp.path().join("skopeo");
    tool("skopeo", &["copy", "--quiet", "--preserve-digests", &reference, &oci_ref(&theirs, Some("x"))]).ok();
    assert_eq!(tagged(&theirs, "x")["digest"], digest.as_str(), "skopeo's copy keeps the digest");

    let again = tempdir();
    assert_eq!(harden_alpine(&again.path().join("layout")), digest, "the same inputs give the same digest");
}

/// Undoing the append (our layer and history entry dropped, the values we changed put
/// back) gives the original Alpine manifest back, digest for digest: the basis for
/// re-hardening an already hardened image from its recorded base.
#[test]
fn stripping_the_appended_layer_gives_the_base_back() {
    let tmp = tempdir();
    let dir = tmp.path().join("layout");
    harden_alpine(&dir);
    let hardened = ImageSource::open(&oci_ref(&dir, Some("hardened")).parse().unwrap()).unwrap().image(None).unwrap();
    let base_digest = tagged(&dir, "3.20")["digest"].as_str().unwrap().to_owned();
    let base_config = blob_json(&dir, blob_json(&dir, &base_digest)["config"]["digest"].as_str().unwrap());
    let undo = Strip {
        layers: 1,
        history: 1,
        config: vec![
            ("/created".into(), Some(base_config["created"].clone())),
            ("/config/Labels".into(), None),
            ("/config/User".into(), None),
        ],
        annotations: vec![("org.opencontainers.image.base.name".into(), None)],
    };
    let other = tmp.path().join("other");
    let layout = OciLayout::create(&other).unwrap();
    let desc = strip(&hardened, &layout, undo).unwrap();
    assert_eq!(desc.digest.to_string(), base_digest);
    layout.set_tag(Some("base"), &desc).unwrap();
    let bundle = tmp.path().join("bundle");
    tool("umoci", &["unpack", "--image", &format!("{}:base", other.display()), bundle.to_str().unwrap()]).ok();
    assert!(bundle.join("rootfs/etc/issue").exists(), "the base's files are back");
}

/// Replacing one platform of the regclient multi-platform index keeps every other entry
/// and the index's annotations as they were, and skopeo copies the new index whole.
#[test]
fn replace_in_index_changes_one_platform_of_a_real_index() {
    let tmp = tempdir();
    let dir = tmp.path().join("layout");
    copy_into(&oci_ref(&fixture("regclient-testrepo"), Some("v1")), &dir, "v1");
    let source = ImageSource::open(&oci_ref(&dir, Some("v1")).parse().unwrap()).unwrap();
    let index = source.top_manifest().unwrap();
    let amd64: Platform = "linux/amd64".parse().unwrap();
    let base = source.image(Some(&amd64)).unwrap();
    let layout = OciLayout::open(&dir).unwrap();
    let layer = write_layer(&layout, source_date_epoch(&base));
    let new = append(&base, &layout, spec(Some(layer), source_date_rfc3339(&base))).unwrap();
    let replaced = BTreeMap::from([(base.digest().clone(), new.clone())]);
    let desc = replace_in_index(&index, &replaced, &layout).unwrap();
    layout.set_tag(Some("hardened"), &desc).unwrap();

    let old: Value = serde_json::from_slice(index.bytes()).unwrap();
    let out = blob_json(&dir, &desc.digest.to_string());
    let (old_m, new_m) = (old["manifests"].as_array().unwrap(), out["manifests"].as_array().unwrap());
    assert_eq!(old_m.len(), new_m.len());
    let mut changed = 0;
    for (a, b) in old_m.iter().zip(new_m) {
        if a["digest"] == base.digest().to_string().as_str() {
            changed += 1;
            assert_eq!(b["digest"], new.digest.to_string().as_str());
            assert_eq!(b["size"], new.size);
            assert_eq!(a["platform"].to_string(), b["platform"].to_string());
        } else {
            assert_eq!(a.to_string(), b.to_string(), "entries not replaced stay as they were");
        }
    }
    assert_eq!(changed, 1);
    assert_eq!(out["annotations"], old["annotations"]);

    let reference = oci_ref(&dir, Some("hardened"));
    let theirs = tmp.path().join("skopeo");
    tool("skopeo", &["copy", "--quiet", "--all", "--preserve-digests", &reference, &oci_ref(&theirs, Some("x"))]).ok();
    assert_eq!(tagged(&theirs, "x")["digest"], desc.digest.to_string().as_str(), "skopeo's copy keeps the digest");
    let inspect =
        tool("skopeo", &["inspect", "--override-arch", "amd64", "--override-os", "linux", &reference]).ok().json();
    assert_eq!(inspect["Digest"], desc.digest.to_string().as_str(), "skopeo names the index");
    assert_eq!(inspect["Labels"]["org.example.hardened"], "true", "the amd64 image is ours");
    assert_eq!(inspect["Labels"]["version"], "1", "the base's labels are kept");
    let arm64 =
        tool("skopeo", &["inspect", "--override-arch", "arm64", "--override-os", "linux", &reference]).ok().json();
    assert!(arm64["Labels"].get("org.example.hardened").is_none(), "the arm64 image is not changed");
}
