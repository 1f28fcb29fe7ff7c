//! Reading other tools' layouts and archives: go-containerregistry's and regclient's test
//! layouts (indexes, nested and artifact indexes, many tags, Docker media types, broken
//! entries) and `docker save` tarballs, with `inspect` and `ls`.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::harness::{blob_json, blob_path, digest_of, example_layout, fixture, oci_harden, oci_ref, tagged};

/// `oci-harden inspect --format json ARGS…`, which must succeed.
fn inspect_json(args: &[&str]) -> Value {
    let mut all = vec!["inspect", "--format", "json"];
    all.extend_from_slice(args);
    oci_harden(&all).ok().json()
}

fn platform_string(p: &Value) -> String {
    let mut s = format!("{}/{}", p["os"].as_str().unwrap_or("?"), p["architecture"].as_str().unwrap_or("?"));
    if let Some(v) = p["variant"].as_str() {
        s = format!("{s}/{v}");
    }
    s
}

/// `inspect` of a multi-platform index shows the index's digest and media type and lists
/// each entry with its digest and platform, exactly as the index holds them (regclient's
/// `v1`, `v2`, `v3`, `b1`).
#[test]
fn inspect_of_an_index_lists_its_platforms() {
    let repo = fixture("regclient-testrepo");
    for tag in ["v1", "v2", "v3", "b1"] {
        let reference = oci_ref(&repo, Some(tag));
        let digest = tagged(&repo, tag)["digest"].as_str().expect("digest").to_owned();
        let stored = blob_json(&repo, &digest);
        let shown = inspect_json(&[&reference]);
        assert_eq!(shown["digest"], digest.as_str(), "{reference}");
        assert_eq!(shown["mediaType"], "application/vnd.oci.image.index.v1+json", "{reference}");
        let pairs = |v: &Value| -> Vec<(String, String)> {
            v["manifests"]
                .as_array()
                .unwrap_or_else(|| panic!("{reference}: no manifests in {v}"))
                .iter()
                .map(|d| (d["digest"].as_str().unwrap_or_default().to_owned(), platform_string(&d["platform"])))
                .collect()
        };
        assert_eq!(pairs(&shown), pairs(&stored), "{reference}: inspect lists other entries than the index holds");
        assert!(shown.get("image").is_none(), "{reference}: without --platform, inspect describes the index only");
    }
    let text = oci_harden(&["inspect", &oci_ref(&repo, Some("v2"))]).ok();
    for p in ["linux/amd64", "linux/arm64", "linux/arm/v7"] {
        assert!(text.text().contains(p), "the text output lacks {p}:\n{}", text.text());
    }
}

/// `inspect --platform` of an index describes that one image: its manifest digest is the
/// index entry's, and its config and layers are those its manifest names (for each
/// platform of regclient's `v2`, including the variant `arm/v7`).
#[test]
fn inspect_with_platform_describes_one_image() {
    let repo = fixture("regclient-testrepo");
    let index = blob_json(&repo, tagged(&repo, "v2")["digest"].as_str().expect("digest"));
    for entry in index["manifests"].as_array().expect("manifests") {
        let platform = platform_string(&entry["platform"]);
        let digest = entry["digest"].as_str().expect("digest");
        let manifest = blob_json(&repo, digest);
        let shown = inspect_json(&["--platform", &platform, &oci_ref(&repo, Some("v2"))]);
        let image = &shown["image"];
        assert_eq!(image["digest"], digest, "--platform {platform}");
        assert_eq!(image["platform"], platform.as_str());
        assert_eq!(image["config"]["digest"], manifest["config"]["digest"]);
        let layers: Vec<&Value> = image["layers"].as_array().expect("layers").iter().map(|l| &l["digest"]).collect();
        let expected: Vec<&Value> =
            manifest["layers"].as_array().expect("layers").iter().map(|l| &l["digest"]).collect();
        assert_eq!(layers, expected, "--platform {platform}");
    }
    let missing = oci_harden(&["inspect", "--platform", "linux/s390x", &oci_ref(&repo, Some("v2"))]);
    missing.fails_with(&["linux/s390x", "linux/arm64"]);
}

/// `inspect --raw` prints the stored bytes: their sha256 is the digest `inspect` shows and
/// `index.json` names, for indexes (OCI and Docker), nested and artifact indexes, images
/// and artifacts; with `--platform`, it is the chosen image's digest; and `--config`
/// prints bytes that hash to the config digest.
#[test]
fn raw_output_hashes_to_the_digest_shown() {
    let repo = fixture("regclient-testrepo");
    let nested = "sha256-8e54c6754f08d22f85c7552bb1951b228b8194d29b14a1639dbe50868da0273e";
    let mut cases: Vec<(&Path, Option<&str>)> =
        ["v1", "v2", "v3", "b1", "a-docker", "a-docker-oci", "ai", "loop", "child", nested]
            .into_iter()
            .map(|t| (repo.as_path(), Some(t)))
            .collect();
    let example = example_layout();
    let ggcr_index = fixture("ggcr-layout/test_index");
    let ggcr_one = fixture("ggcr-layout/test_index_one_image");
    cases.extend([(example.as_path(), Some("3.20")), (ggcr_index.as_path(), Some("4")), (ggcr_one.as_path(), None)]);
    for (layout, tag) in cases {
        let reference = oci_ref(layout, tag);
        let shown = inspect_json(&[&reference]);
        let raw = oci_harden(&["inspect", "--raw", &reference]).ok();
        assert_eq!(digest_of(&raw.stdout), shown["digest"].as_str().expect("digest"), "{reference}: --raw");
        let index = crate::harness::read_json(&layout.join("index.json"));
        let listed = match tag {
            Some(t) => tagged(layout, t)["digest"].clone(),
            None => index["manifests"][0]["digest"].clone(),
        };
        assert_eq!(shown["digest"], listed, "{reference}: inspect shows another digest than index.json");
    }

    let v2 = oci_ref(&repo, Some("v2"));
    let shown = inspect_json(&["--platform", "linux/arm/v7", &v2]);
    let raw = oci_harden(&["inspect", "--raw", "--platform", "linux/arm/v7", &v2]).ok();
    assert_eq!(digest_of(&raw.stdout), shown["image"]["digest"].as_str().expect("digest"));
    let config = oci_harden(&["inspect", "--config", "--platform", "linux/arm/v7", &v2]).ok();
    assert_eq!(digest_of(&config.stdout), shown["image"]["config"]["digest"].as_str().expect("digest"));
}

/// The paths of every regular layer entry, read straight from the layer blobs (no
/// whiteouts in these images), for comparison with `ls`.
fn layer_paths(layout: &Path, manifest: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for layer in manifest["layers"].as_array().expect("layers") {
        let blob = std::fs::read(blob_path(layout, layer["digest"].as_str().expect("digest"))).expect("layer blob");
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&blob[..]).read_to_end(&mut tar).expect("gzip layer");
        for entry in tar::Archive::new(&tar[..]).entries().expect("tar") {
            let entry = entry.expect("tar entry");
            let path = String::from_utf8(entry.path_bytes().into_owned()).expect("UTF-8");
            let path = path.trim_start_matches("./").trim_end_matches('/').to_owned();
            assert!(!path.contains(".wh."), "this helper does not apply whiteouts");
            if !path.is_empty() {
                out.insert(path);
            }
        }
    }
    out
}

/// `ls --platform` of each image of regclient's `v2` index lists the paths its layers hold,
/// and `ls PATH` narrows the listing.
#[test]
fn ls_lists_each_platform_of_an_index() {
    let repo = fixture("regclient-testrepo");
    let index = blob_json(&repo, tagged(&repo, "v2")["digest"].as_str().expect("digest"));
    for entry in index["manifests"].as_array().expect("manifests") {
        let platform = platform_string(&entry["platform"]);
        let manifest = blob_json(&repo, entry["digest"].as_str().expect("digest"));
        let listed: BTreeSet<String> = oci_harden(&["ls", "--platform", &platform, &oci_ref(&repo, Some("v2"))])
            .ok()
            .text()
            .lines()
            .map(|l| l.trim_end_matches('/').to_owned())
            .collect();
        assert_eq!(listed, layer_paths(&repo, &manifest), "ls --platform {platform}");
        assert!(!listed.is_empty());
    }
    let one = oci_harden(&["ls", "--platform", "linux/amd64", &oci_ref(&repo, Some("v2")), "/base.txt"]).ok();
    assert_eq!(one.text(), "base.txt\n");
}

/// A layout with many tags cannot be read without naming one: the error lists the tags.
/// An unknown tag is refused the same way.
#[test]
fn a_layout_with_many_tags_needs_one_named() {
    let repo = fixture("regclient-testrepo");
    oci_harden(&["inspect", &oci_ref(&repo, None)]).fails_with(&["oci:DIR:TAG", "v1", "v2", "a-docker"]);
    oci_harden(&["ls", &oci_ref(&repo, Some("no-such-tag"))]).fails_with(&["\"no-such-tag\"", "v1", "v2"]);
}

/// go-containerregistry's `test_index` has a manifest whose descriptor says OCI but whose
/// document says Docker: it is refused naming the digest and both media types. Its
/// `test_gc_image_unknown_mediatype` names a blob that is not there: the error names the
/// digest. Its Docker manifest list (`test_index:4`) is read.
#[test]
fn go_containerregistry_layouts() {
    let index = fixture("ggcr-layout/test_index");
    oci_harden(&["inspect", &oci_ref(&index, Some("1"))]).fails_with(&[
        "sha256:eebff607b1628d67459b0596643fc07de70d702eccf030f0bc7bb6fc2b278650",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]);
    let gc = fixture("ggcr-layout/test_gc_image_unknown_mediatype");
    oci_harden(&["inspect", &oci_ref(&gc, None)])
        .fails_with(&["sha256:32589985702551b6c56033bb3334432a0a513bf9d6aceda0f67c42b003850720", "not found"]);
    let list = inspect_json(&[&oci_ref(&index, Some("4"))]);
    assert_eq!(list["mediaType"], "application/vnd.docker.distribution.manifest.list.v2+json");
    assert_eq!(list["manifests"].as_array().map(Vec::len), Some(1));
    let one = inspect_json(&[&oci_ref(&fixture("ggcr-layout/test_index_one_image"), None)]);
    assert_eq!(one["image"]["platform"], "linux/amd64");
}

/// `docker save` tarballs from go-containerregistry: the legacy form and the Docker 25+
/// OCI form are read (the latter with the digest its own `index.json`/manifest gives),
/// and tarballs without a usable `manifest.json` are refused naming the file.
#[test]
fn docker_save_tarballs() {
    let v25 = fixture("ggcr-tarball/hello-world-v25.tar");
    let shown = inspect_json(&[&format!("docker-archive:{}", v25.display())]);
    assert_eq!(shown["digest"], "sha256:411caf340c828657e915a83ed561a79d2b8150dabad4dc079d881cbfe6f86afe");
    let raw = oci_harden(&["inspect", "--raw", &format!("docker-archive:{}", v25.display())]).ok();
    assert_eq!(digest_of(&raw.stdout), shown["digest"].as_str().expect("digest"));

    let legacy = fixture("ggcr-tarball/test_image_1.tar");
    let shown = inspect_json(&[&format!("docker-archive:{}", legacy.display())]);
    let raw = oci_harden(&["inspect", "--raw", &format!("docker-archive:{}", legacy.display())]).ok();
    assert_eq!(digest_of(&raw.stdout), shown["digest"].as_str().expect("digest"));
    assert_eq!(shown["image"]["layers"].as_array().map(Vec::len), Some(1));

    for bad in ["no_manifest.tar", "null_manifest.tar"] {
        let path = fixture(&format!("ggcr-tarball/{bad}"));
        oci_harden(&["inspect", &format!("docker-archive:{}", path.display())]).fails_with(&[bad]);
    }
}
