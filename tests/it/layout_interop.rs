//! Layouts that `oci-harden copy` writes are read by independent peers: skopeo copies them
//! (with the same manifest and index digests) and umoci unpacks their images.

use std::path::Path;

use serde_json::Value;

use crate::harness::{
    blob_json, digest_of, example_layout, fixture, oci_harden, oci_ref, tagged, tempdir, tool, umoci_image,
};

/// Copies `src` into `dst:tag` with `oci-harden copy` (plus `extra` arguments) and returns
/// the digest it reports.
fn copy(src: &str, dst: &Path, tag: &str, extra: &[&str]) -> String {
    let mut args = vec!["copy", "--format", "json"];
    args.extend_from_slice(extra);
    let dst_ref = oci_ref(dst, Some(tag));
    args.extend([src, dst_ref.as_str()]);
    let report = oci_harden(&args).ok().json();
    let digest = report["digest"].as_str().expect("copy --format json reports a digest").to_owned();
    assert_eq!(tagged(dst, tag)["digest"], digest.as_str(), "{dst_ref}: index.json must tag what copy reported");
    digest
}

/// The digest (sha256 of the raw bytes) that `skopeo inspect --raw` shows for `reference`.
fn skopeo_raw_digest(reference: &str) -> String {
    digest_of(&tool("skopeo", &["inspect", "--raw", reference]).ok().stdout)
}

/// Asserts skopeo can copy `ours:tag` (whole, with `--all`) to a fresh layout, and that
/// both copies show `digest`.
fn assert_skopeo_accepts(ours: &Path, tag: &str, digest: &str) {
    let tmp = tempdir();
    let theirs = tmp.path().join("skopeo");
    let (ours_ref, theirs_ref) = (oci_ref(ours, Some(tag)), oci_ref(&theirs, Some(tag)));
    tool("skopeo", &["copy", "--quiet", "--all", &ours_ref, &theirs_ref]).ok();
    assert_eq!(skopeo_raw_digest(&ours_ref), digest, "skopeo reads another digest from {ours_ref}");
    assert_eq!(skopeo_raw_digest(&theirs_ref), digest, "skopeo's copy of {ours_ref} has another digest");
}

/// Asserts umoci unpacks `ours:tag`.
fn assert_umoci_unpacks(ours: &Path, tag: &str) {
    let tmp = tempdir();
    let bundle = tmp.path().join("bundle");
    let image = format!("{}:{tag}", ours.display());
    tool("umoci", &["unpack", "--image", &image, bundle.to_str().expect("UTF-8")]).ok();
    assert!(bundle.join("rootfs/etc/os-release").is_file(), "umoci unpacked no /etc/os-release from {image}");
}

/// Single images copied from the shipped example and from the umoci-built multi-layer image
/// keep their manifest digest, skopeo copies them with that digest, and umoci unpacks them.
#[test]
fn copied_images_are_accepted_by_skopeo_and_umoci() {
    let image = umoci_image();
    let sources = [
        (oci_ref(&example_layout(), Some("3.20")), tagged(&example_layout(), "3.20")),
        (image.reference("raw"), tagged(&image.layout, "raw")),
    ];
    for (src, descriptor) in sources {
        let tmp = tempdir();
        let ours = tmp.path().join("ours");
        let digest = copy(&src, &ours, "t", &[]);
        assert_eq!(descriptor["digest"], digest.as_str(), "copying {src} changed its digest");
        assert_skopeo_accepts(&ours, "t", &digest);
        assert_umoci_unpacks(&ours, "t");
    }
}

/// A multi-platform index (regclient's `v1`, `v2` and `v3` tags: with attestation-like
/// `unknown/unknown` entries, and three or four platforms) copied whole keeps its digest,
/// and skopeo copies it, every child included, with the same digest.
#[test]
fn copied_indexes_keep_their_digest_for_skopeo() {
    let repo = fixture("regclient-testrepo");
    for tag in ["v1", "v2", "v3"] {
        let tmp = tempdir();
        let ours = tmp.path().join("ours");
        let digest = copy(&oci_ref(&repo, Some(tag)), &ours, tag, &[]);
        assert_eq!(tagged(&repo, tag)["digest"], digest.as_str(), "copying regclient {tag} changed its digest");
        assert_eq!(blob_json(&ours, &digest)["mediaType"], "application/vnd.oci.image.index.v1+json");
        assert_skopeo_accepts(&ours, tag, &digest);
    }
}

/// `copy --platform linux/arm64` of a multi-platform index writes an index that holds only
/// that platform (with the child manifest's digest unchanged), which skopeo copies.
#[test]
fn platform_filtered_copy_holds_only_that_platform() {
    let repo = fixture("regclient-testrepo");
    let source_index = blob_json(&repo, tagged(&repo, "v2")["digest"].as_str().expect("digest"));
    let arm64: Vec<&Value> = source_index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .filter(|d| d["platform"]["architecture"] == "arm64" && d["platform"]["os"] == "linux")
        .collect();
    assert_eq!(arm64.len(), 1, "regclient v2 has one linux/arm64 image");

    let tmp = tempdir();
    let ours = tmp.path().join("ours");
    let digest = copy(&oci_ref(&repo, Some("v2")), &ours, "arm", &["--platform", "linux/arm64"]);
    assert_ne!(tagged(&repo, "v2")["digest"], digest.as_str(), "a filtered index is a new document");
    let index = blob_json(&ours, &digest);
    let manifests = index["manifests"].as_array().expect("manifests");
    assert_eq!(manifests.len(), 1, "only linux/arm64 must remain: {index}");
    assert_eq!(manifests[0]["digest"], arm64[0]["digest"]);
    assert_eq!(manifests[0]["platform"]["architecture"], "arm64");
    assert_skopeo_accepts(&ours, "arm", &digest);

    let inspect = oci_harden(&["inspect", "--format", "json", &oci_ref(&ours, Some("arm"))]).ok().json();
    let platforms: Vec<String> = inspect["manifests"]
        .as_array()
        .expect("an index lists its manifests")
        .iter()
        .map(|d| {
            format!(
                "{}/{}",
                d["platform"]["os"].as_str().unwrap_or("?"),
                d["platform"]["architecture"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert_eq!(platforms, ["linux/arm64"]);
}

/// Several `oci-harden copy` processes writing one layout at once (same blobs, different
/// tags, plus a multi-platform index) lose no tag and leave a layout skopeo reads whole:
/// blobs land by atomic rename, `index.json` is rewritten under a lock.
#[test]
fn concurrent_copies_into_one_layout_keep_every_tag() {
    let tmp = tempdir();
    let shared = tmp.path().join("shared");
    let example = oci_ref(&example_layout(), Some("3.20"));
    let multi = oci_ref(&fixture("regclient-testrepo"), Some("v1"));
    let children: Vec<_> = (0..6)
        .map(|i| {
            let src = if i % 2 == 0 { &example } else { &multi };
            std::process::Command::new(crate::harness::bin())
                .args(["copy", "--quiet", src, &oci_ref(&shared, Some(&format!("t{i}")))])
                .spawn()
                .expect("spawning oci-harden")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().expect("waiting").success(), "a concurrent copy failed");
    }
    for i in 0..6 {
        let digest = tagged(&shared, &format!("t{i}"))["digest"].as_str().expect("tagged").to_owned();
        assert_skopeo_accepts(&shared, &format!("t{i}"), &digest);
    }
    let index: Value =
        serde_json::from_slice(&std::fs::read(shared.join("index.json")).expect("index.json")).expect("JSON");
    assert_eq!(index["manifests"].as_array().expect("manifests").len(), 6);
}

/// Regression: copies once hard-linked blobs from the source layout, so a tool that then
/// edited a destination blob in place (as `bad_input` does to its copies) corrupted the
/// source too — `examples/alpine` was damaged that way. A copy owns its bytes.
#[test]
fn editing_a_copy_in_place_leaves_the_source_intact() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let dst = tmp.path().join("dst");
    copy(&oci_ref(&example_layout(), Some("3.20")), &src, "t", &[]);
    copy(&oci_ref(&src, Some("t")), &dst, "t", &[]);
    for entry in std::fs::read_dir(dst.join("blobs/sha256")).expect("blobs") {
        let path = entry.expect("entry").path();
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[0] ^= 0xff;
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, &bytes))
            .expect("in-place edit");
    }
    for entry in std::fs::read_dir(src.join("blobs/sha256")).expect("blobs") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("name").to_string_lossy().into_owned();
        assert_eq!(digest_of(&std::fs::read(&path).expect("read")), format!("sha256:{name}"), "source blob changed");
    }
}
