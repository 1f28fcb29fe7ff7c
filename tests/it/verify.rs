//! `oci-harden verify`: clean on layouts and archives written by skopeo, umoci and us; each
//! injected corruption found, with exit code 1, the right kind, place and message; bad
//! input refused with exit code 2; the text and JSON outputs pinned as snapshots.

use std::fs;
use std::path::Path;

use serde_json::{Value, json};

use crate::harness::{
    Auth, Desc, RawLayout, Registry, TarLayer, blob_path, digest_of, example_layout, oci_harden, oci_ref, repo_root,
    skopeo_push, tempdir, tool, umoci_image,
};

/// `oci-harden verify --format json REFERENCE`: exit code and report.
fn verify_json(reference: &str) -> (Option<i32>, Value) {
    let run = oci_harden(&["verify", "--format", "json", reference]);
    assert!(matches!(run.code, Some(0 | 1)), "verify {reference} could not run:\n{}", run.describe());
    (run.code, run.json())
}

#[track_caller]
fn assert_clean(reference: &str) -> Value {
    let (code, report) = verify_json(reference);
    assert_eq!(code, Some(0), "verify {reference} found problems: {report:#}");
    assert_eq!(report["clean"], true);
    assert_eq!(report["problems"], json!([]));
    report
}

/// The one problem a report holds (panics unless there is exactly one).
#[track_caller]
fn only_problem(reference: &str) -> Value {
    let (code, report) = verify_json(reference);
    assert_eq!(code, Some(1), "verify {reference} should have found a problem: {report:#}");
    let problems = report["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 1, "expected one problem: {report:#}");
    problems[0].clone()
}

fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    files.iter().fold(TarLayer::new(), |t, (p, c)| t.file(p, 0o644, c)).finish()
}

/// A layout with one image tagged `t` (two layers); returns it with the manifest.
fn one_image(dir: &Path) -> (RawLayout, Desc) {
    let mut layout = RawLayout::create(dir);
    let image = layout.image(&[tar(&[("etc/a", b"first\n")]), tar(&[("etc/b", b"second\n")])]);
    layout.tag("t", &image);
    (layout, image)
}

fn manifest_of(layout: &RawLayout, image: &Desc) -> Value {
    serde_json::from_slice(&fs::read(blob_path(&layout.dir, &image.digest)).unwrap()).unwrap()
}

fn layer_digest(layout: &RawLayout, image: &Desc, i: usize) -> String {
    manifest_of(layout, image)["layers"][i]["digest"].as_str().unwrap().to_owned()
}

#[test]
fn layouts_and_archives_of_skopeo_umoci_and_ours_are_clean() {
    let t = tempdir();
    let example = oci_ref(&example_layout(), Some("3.20"));
    let report = assert_clean(&oci_ref(&example_layout(), None));
    assert_eq!(report["stats"]["layers"], 1);

    // skopeo's layout and docker-archive.
    let skopeo_layout = t.path().join("skopeo");
    tool("skopeo", &["copy", "--quiet", &example, &format!("oci:{}:s", skopeo_layout.display())]).ok();
    assert_clean(&oci_ref(&skopeo_layout, None));
    let skopeo_archive = t.path().join("skopeo.tar");
    tool("skopeo", &["copy", "--quiet", &example, &format!("docker-archive:{}:a/b:c", skopeo_archive.display())]).ok();
    assert_clean(&format!("docker-archive:{}", skopeo_archive.display()));

    // umoci's multi-layer layout: every tag.
    let umoci = umoci_image();
    let report = assert_clean(&oci_ref(&umoci.layout, None));
    assert!(report["stats"]["layers"].as_u64().unwrap() >= 4, "{report:#}");

    // Ours: a copy, a hardened image beside it, an archive.
    let ours = t.path().join("ours");
    oci_harden(&["copy", "-q", &example, &oci_ref(&ours, Some("copy"))]).ok();
    let cache = t.path().join("cache");
    let args = ["harden", &example, &oci_ref(&ours, Some("hard")), "--rules", "builtin:strict", "-q", "--cache"];
    let mut args: Vec<&str> = args.to_vec();
    args.push(cache.to_str().unwrap());
    oci_harden(&args).ok();
    let report = assert_clean(&oci_ref(&ours, None));
    assert_eq!(report["stats"]["manifests"], 2, "{report:#}");
    assert_clean(&oci_ref(&ours, Some("hard")));
    let archive = t.path().join("ours.tar");
    oci_harden(&["copy", "-q", &oci_ref(&ours, Some("hard")), &format!("docker-archive:{}", archive.display())]).ok();
    assert_clean(&format!("docker-archive:{}", archive.display()));
}

#[test]
fn a_registry_image_is_pulled_through_the_cache_and_checked_there() {
    let t = tempdir();
    let registry = Registry::start(Auth::Anonymous);
    skopeo_push(&oci_ref(&example_layout(), Some("3.20")), &registry.image("alpine:3.20"), None);
    let cache = t.path().join("cache");
    let run =
        oci_harden(&["verify", "--format", "json", &registry.image("alpine:3.20"), "--cache", cache.to_str().unwrap()])
            .ok();
    let report = run.json();
    assert_eq!((report["clean"].as_bool(), report["stats"]["layers"].as_u64()), (Some(true), Some(1)), "{report:#}");
    // The cache it went through is a sound layout too; a flipped byte there is found.
    assert_clean(&oci_ref(&cache, None));
    let manifest = crate::harness::skopeo_digest(&format!("oci:{}:3.20", example_layout().display()), None);
    let layer =
        crate::harness::blob_json(&example_layout(), &manifest)["layers"][0]["digest"].as_str().unwrap().to_owned();
    let path = blob_path(&cache, &layer);
    let mut bytes = fs::read(&path).unwrap();
    bytes[1000] ^= 0xff;
    fs::write(&path, &bytes).unwrap();
    // The cache tags nothing: its blobs are checked by name.
    let p = only_problem(&oci_ref(&cache, None));
    assert_eq!((p["kind"].as_str(), &p["location"]), (Some("misnamed-blob"), &json!({"file": path})));
    let run = oci_harden(&["verify", &registry.image("alpine:3.20"), "--cache", cache.to_str().unwrap()]);
    assert_eq!(run.code, Some(1), "the cached copy is what is checked:\n{}", run.describe());
}

#[test]
fn a_flipped_byte_in_a_layer_is_a_digest_mismatch_of_that_layer() {
    let t = tempdir();
    let (layout, image) = one_image(t.path());
    let layer = layer_digest(&layout, &image, 1);
    let path = blob_path(&layout.dir, &layer);
    let mut bytes = fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    fs::write(&path, &bytes).unwrap();
    let p = only_problem(&oci_ref(t.path(), None));
    assert_eq!(p["kind"], "digest-mismatch");
    assert_eq!(p["location"], json!({"blob": layer}));
    assert_eq!(p["via"], format!("tag t > {} > layer 1", image.digest));
    assert!(p["detail"].as_str().unwrap().contains(&format!("content hashes to {}", digest_of(&bytes))), "{p}");
    // The same image checked through its tag, and the text output.
    let run = oci_harden(&["verify", &oci_ref(t.path(), Some("t"))]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(
        run.text().contains("1 problem") && run.text().contains(&format!("where   blob {layer}")),
        "{}",
        run.text()
    );
}

#[test]
fn a_truncated_blob_and_a_wrong_size_in_a_descriptor_are_size_mismatches() {
    let t = tempdir();
    let (layout, image) = one_image(&t.path().join("truncated"));
    let layer = layer_digest(&layout, &image, 0);
    let path = blob_path(&layout.dir, &layer);
    let len = fs::metadata(&path).unwrap().len();
    fs::File::options().write(true).open(&path).unwrap().set_len(len - 7).unwrap();
    let p = only_problem(&oci_ref(&layout.dir, None));
    assert_eq!((p["kind"].as_str(), &p["location"]), (Some("size-mismatch"), &json!({"blob": layer})));
    assert!(p["detail"].as_str().unwrap().contains(&format!("descriptor says {len} bytes, found {}", len - 7)), "{p}");

    // The blob is sound but the manifest claims one byte more.
    let mut layout = RawLayout::create(&t.path().join("wrong-size"));
    let good = layout.image(&[tar(&[("f", b"x")])]);
    let mut manifest = manifest_of(&layout, &good);
    let size = manifest["layers"][0]["size"].as_u64().unwrap();
    manifest["layers"][0]["size"] = json!(size + 1);
    let bad = layout.manifest(&manifest["config"], &[manifest["layers"][0].clone()]);
    layout.tag("t", &bad);
    let p = only_problem(&oci_ref(&layout.dir, None));
    assert_eq!(p["kind"], "size-mismatch");
    assert!(
        p["detail"].as_str().unwrap().contains(&format!("descriptor says {} bytes, found {size}", size + 1)),
        "{p}"
    );
}

#[test]
fn a_config_whose_diff_id_does_not_match_is_found() {
    let t = tempdir();
    let mut layout = RawLayout::create(t.path());
    let good = layout.image(&[tar(&[("f", b"x")])]);
    let manifest = manifest_of(&layout, &good);
    let wrong = digest_of(b"not the layer");
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [wrong]},
    }))
    .unwrap();
    let config = layout.blob("application/vnd.oci.image.config.v1+json", &config);
    let bad = layout.manifest(&config.json, &[manifest["layers"][0].clone()]);
    layout.tag("t", &bad);
    let p = only_problem(&oci_ref(t.path(), None));
    assert_eq!(p["kind"], "diff-id-mismatch");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("diff_id says {wrong}")), "{p}");
    assert!(detail.contains(&digest_of(&tar(&[("f", b"x")]))), "the real diff_id is named: {p}");
}

#[test]
fn a_missing_layer_and_a_tag_to_a_missing_manifest_are_found() {
    let t = tempdir();
    let (layout, image) = one_image(&t.path().join("layer"));
    let layer = layer_digest(&layout, &image, 0);
    fs::remove_file(blob_path(&layout.dir, &layer)).unwrap();
    let p = only_problem(&oci_ref(&layout.dir, None));
    assert_eq!((p["kind"].as_str(), &p["location"]), (Some("missing-blob"), &json!({"blob": layer})));

    let (layout, image) = one_image(&t.path().join("manifest"));
    fs::remove_file(blob_path(&layout.dir, &image.digest)).unwrap();
    let (code, report) = verify_json(&oci_ref(&layout.dir, None));
    assert_eq!(code, Some(1));
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems[0]["kind"], "dangling-tag");
    assert_eq!(problems[0]["location"], json!({"tag": "t"}));
    assert!(problems[0]["detail"].as_str().unwrap().contains(&image.digest), "{report:#}");
    assert!(problems.iter().skip(1).all(|p| p["kind"] != "misnamed-blob"), "{report:#}");
}

#[test]
fn an_orphaned_temp_file_is_found_and_gc_removes_it() {
    let t = tempdir();
    one_image(t.path());
    let orphan = t.path().join(".oci-harden-tmp-Xy12ab");
    fs::write(&orphan, b"half a blob").unwrap();
    let p = only_problem(&oci_ref(t.path(), None));
    assert_eq!(p["kind"], "orphaned-temp-file");
    assert_eq!(p["location"], json!({"file": orphan}));
    let run = oci_harden(&["verify", &oci_ref(t.path(), None)]);
    assert!(run.stderr.contains("hint: only files of interrupted writes"), "{}", run.describe());
    oci_harden(&["gc", t.path().to_str().unwrap()]).ok();
    assert!(!orphan.exists());
    assert_clean(&oci_ref(t.path(), None));
}

#[test]
fn invalid_manifest_json_and_a_misnamed_blob_are_found() {
    let t = tempdir();
    let mut layout = RawLayout::create(t.path());
    let broken = layout.blob("application/vnd.oci.image.manifest.v1+json", br#"{"schemaVersion": 2, "config": "#);
    layout.tag("broken", &broken);
    let p = only_problem(&oci_ref(t.path(), None));
    assert_eq!((p["kind"].as_str(), &p["location"]), (Some("invalid-manifest"), &json!({"blob": broken.digest})));
    assert!(p["detail"].as_str().unwrap().contains("malformed JSON"), "{p}");

    let t = tempdir();
    let mut layout = RawLayout::create(t.path());
    let ok = layout.image(&[tar(&[("f", b"x")])]);
    layout.tag("ok", &ok);
    let name = digest_of(b"what the name says");
    layout.blob_named(&name, b"something else");
    let p = only_problem(&oci_ref(t.path(), None));
    assert_eq!(p["kind"], "misnamed-blob");
    assert_eq!(p["location"], json!({"file": blob_path(t.path(), &name)}));
    assert!(p["detail"].as_str().unwrap().contains(&digest_of(b"something else")), "{p}");
}

#[test]
fn what_is_not_an_image_is_bad_input() {
    let t = tempdir();
    let stderr = oci_harden(&["verify", &oci_ref(t.path(), None)]).fails_with(&["not a valid OCI image layout"]);
    assert!(stderr.contains(&t.path().display().to_string()), "{stderr}");
    oci_harden(&["verify", &oci_ref(&example_layout(), Some("nope"))]).fails_with(&["tag \"nope\"", "3.20"]);
    let not_tar = t.path().join("x.tar");
    fs::write(&not_tar, b"not a tar").unwrap();
    oci_harden(&["verify", &format!("docker-archive:{}", not_tar.display())]).fails_with(&["x.tar"]);
}

#[test]
fn outputs() {
    let t = tempdir();
    let (layout, image) = one_image(t.path());
    let path = blob_path(&layout.dir, &layer_digest(&layout, &image, 0));
    let mut bytes = fs::read(&path).unwrap();
    bytes[20] ^= 0x10;
    fs::write(&path, &bytes).unwrap();
    fs::write(t.path().join(".oci-harden-tmp-leftover"), b"x").unwrap();
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.add_filter(&regex_escape(&t.path().display().to_string()), "[TMP]");
    settings.add_filter(&regex_escape(&repo_root().display().to_string()), "[REPO]");
    settings.bind(|| {
        let show = |args: &[&str]| {
            let run = oci_harden(args);
            format!("{}--- stderr\n{}--- exit code {:?}\n", run.text(), run.stderr, run.code)
        };
        let reference = oci_ref(t.path(), None);
        insta::assert_snapshot!("verify_problems_text", show(&["verify", &reference]));
        insta::assert_snapshot!("verify_problems_json", show(&["verify", "--format", "json", &reference]));
        let example = oci_ref(&example_layout(), None);
        insta::assert_snapshot!("verify_clean_text", show(&["verify", &example]));
    });
}

fn regex_escape(s: &str) -> String {
    s.chars().fold(String::new(), |mut out, c| {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
        out
    })
}
