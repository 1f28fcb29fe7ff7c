//! Every OCI document in the layouts we write (and in the layout we ship) validates
//! against the image-spec JSON schemas in `tests/fixtures/image-spec-schema/`.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use jsonschema::{Resource, Validator};
use serde_json::Value;

use crate::harness::{
    blob_path, digest_of, example_layout, fixture, oci_harden, oci_ref, read_json, tempdir, umoci_image,
};

/// The image-spec schemas, compiled.
struct Schemas {
    manifest: Validator,
    index: Validator,
    config: Validator,
    layout: Validator,
}

impl Schemas {
    /// Compiles the schemas with every document they reference registered up front, so no
    /// reference is ever fetched (the crate is built without its HTTP and file resolvers:
    /// an unregistered reference is an error, not a download).
    ///
    /// The schemas are draft 4 and name themselves with `id`s such as
    /// `https://opencontainers.org/schema/image/manifest` and
    /// `https://opencontainers.org/schema/descriptor`, and reference each other by relative
    /// file names (`content-descriptor.json`, `defs-descriptor.json`, `defs.json`), which
    /// therefore resolve both below `/schema/image/` and below `/schema/`: each file is
    /// registered under both.
    fn load() -> Schemas {
        let dir = fixture("image-spec-schema");
        let mut options = jsonschema::options();
        for name in ["content-descriptor.json", "defs-descriptor.json", "defs.json"] {
            let doc = read_json(&dir.join(name));
            for base in ["https://opencontainers.org/schema/image/", "https://opencontainers.org/schema/"] {
                let resource = Resource::from_contents(doc.clone()).unwrap_or_else(|e| panic!("schema {name}: {e}"));
                options = options.with_resource(format!("{base}{name}"), resource);
            }
        }
        let build = |name: &str| {
            options.build(&read_json(&dir.join(name))).unwrap_or_else(|e| panic!("compiling the schema {name}: {e}"))
        };
        Schemas {
            manifest: build("image-manifest-schema.json"),
            index: build("image-index-schema.json"),
            config: build("config-schema.json"),
            layout: build("image-layout-schema.json"),
        }
    }
}

/// Validates `doc` with `validator`, describing every error.
fn check(validator: &Validator, what: &str, doc: &Value, errors: &mut Vec<String>) {
    for e in validator.iter_errors(doc) {
        errors.push(format!("{what}: {e} (at {})", e.instance_path));
    }
}

/// Validates a layout: `oci-layout`, `index.json`, and every manifest, index and config
/// reachable from it, and checks that every blob reached hashes to its name. Returns the
/// blobs reached (every descriptor, layers included).
///
/// A copy keeps the source's blobs byte for byte, so a blob that is invalid in the source
/// layout (one of `sources`) is invalid in the copy too, and not the writer's doing: such errors
/// are left out. (regclient's test repository has attestation-like manifests whose config
/// is `{}` under the OCI config media type.) Everything the writer authors itself
/// (`index.json`, `oci-layout`, filtered indexes) is always checked.
fn validate_layout(schemas: &Schemas, layout: &Path, sources: &[&Path], errors: &mut Vec<String>) -> BTreeSet<String> {
    check(&schemas.layout, &format!("{}/oci-layout", layout.display()), &read_json(&layout.join("oci-layout")), errors);
    let index = read_json(&layout.join("index.json"));
    check(&schemas.index, &format!("{}/index.json", layout.display()), &index, errors);
    let mut seen = BTreeSet::new();
    // The same blob may be reached under several media types (`{}` is an empty
    // descriptor's content and, in regclient's repository, a "config"): visit each pair.
    let mut visited = BTreeSet::new();
    let mut queue: Vec<Value> = index["manifests"].as_array().cloned().unwrap_or_default();
    // A `subject` (referrers) is validated when present, after everything else, but not
    // followed: copying an artifact need not copy the image it refers to.
    let mut subjects: Vec<Value> = Vec::new();
    let mut descend = true;
    loop {
        let Some(d) = queue.pop() else {
            descend = false;
            match subjects.pop() {
                Some(s) => {
                    queue.push(s);
                    continue;
                }
                None => break,
            }
        };
        let digest = d["digest"].as_str().expect("descriptors have a digest").to_owned();
        let path = blob_path(layout, &digest);
        let media_type = d["mediaType"].as_str().unwrap_or_default().to_owned();
        if (!descend && !path.exists()) || !visited.insert((digest.clone(), media_type.clone())) {
            continue;
        }
        seen.insert(digest.clone());
        let what = format!("{} blob {digest}", layout.display());
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{what}: {e}"));
        if digest_of(&bytes) != digest {
            errors.push(format!("{what}: content hashes to {}", digest_of(&bytes)));
        }
        let inherited = sources.iter().any(|src| fs::read(blob_path(src, &digest)).is_ok_and(|b| b == bytes));
        let mut local = Vec::new();
        let mut follow = |doc: &Value, children: Vec<Value>| {
            if descend {
                queue.extend(children);
                subjects.extend(doc.get("subject").cloned());
            }
        };
        // Docker media types (`application/vnd.docker.*`) are not OCI documents and are
        // not expected to validate against the OCI schemas: only OCI ones are checked.
        match media_type.as_str() {
            "application/vnd.oci.image.index.v1+json" => {
                let doc = read_json(&path);
                check(&schemas.index, &what, &doc, &mut local);
                follow(&doc, doc["manifests"].as_array().cloned().unwrap_or_default());
            }
            "application/vnd.oci.image.manifest.v1+json" => {
                let doc = read_json(&path);
                check(&schemas.manifest, &what, &doc, &mut local);
                let mut children = vec![doc["config"].clone()];
                children.extend(doc["layers"].as_array().cloned().unwrap_or_default());
                follow(&doc, children);
            }
            "application/vnd.oci.image.config.v1+json" => {
                check(&schemas.config, &what, &read_json(&path), &mut local);
            }
            _ => {}
        }
        if !inherited {
            errors.append(&mut local);
        }
    }
    seen
}

/// Every blob file under `layout/blobs`, as digests.
fn blob_files(layout: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for alg in fs::read_dir(layout.join("blobs")).expect("listing blobs") {
        let alg = alg.expect("entry");
        for blob in fs::read_dir(alg.path()).expect("listing blobs") {
            let blob = blob.expect("entry");
            out.insert(format!("{}:{}", alg.file_name().to_string_lossy(), blob.file_name().to_string_lossy()));
        }
    }
    out
}

#[track_caller]
fn assert_valid(errors: &[String]) {
    assert!(errors.is_empty(), "{} schema error(s):\n  {}", errors.len(), errors.join("\n  "));
}

/// The schemas really are strict, including through their cross-file references: a
/// manifest without `config`, index entries with a malformed digest or without a size,
/// a config whose `rootfs` lacks `diff_ids`, and an empty `oci-layout` are refused (so a
/// pass below means something).
#[test]
fn schemas_refuse_invalid_documents() {
    let schemas = Schemas::load();
    let bad_manifest = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": []});
    assert!(!schemas.manifest.is_valid(&bad_manifest));
    // Descriptors are checked through the `$ref`s to content-descriptor.json and
    // defs-descriptor.json: a malformed digest, and a missing size, are each refused.
    let entry = serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{}", "a".repeat(64)), "size": 1});
    assert!(schemas.index.is_valid(&serde_json::json!({"schemaVersion": 2, "manifests": [entry]})));
    let mut bad_digest = entry.clone();
    bad_digest["digest"] = "not a digest".into();
    assert!(!schemas.index.is_valid(&serde_json::json!({"schemaVersion": 2, "manifests": [bad_digest]})));
    let mut no_size = entry.clone();
    no_size.as_object_mut().expect("object").remove("size");
    assert!(!schemas.index.is_valid(&serde_json::json!({"schemaVersion": 2, "manifests": [no_size]})));
    let bad_config = serde_json::json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}});
    assert!(!schemas.config.is_valid(&bad_config));
    assert!(!schemas.layout.is_valid(&serde_json::json!({})));
}

/// The shipped example layout is valid.
#[test]
fn shipped_example_layout_is_valid() {
    let schemas = Schemas::load();
    let mut errors = Vec::new();
    let reached = validate_layout(&schemas, &example_layout(), &[], &mut errors);
    assert_valid(&errors);
    assert!(reached.len() >= 3, "the example has a manifest, a config and a layer");
}

/// Layouts written by `oci-harden copy` are valid, and hold nothing but the blobs their
/// `index.json` reaches: from the example, the umoci-built multi-layer image, regclient's
/// multi-platform indexes (whole, and filtered to one and to two platforms), its nested
/// referrers index and artifact index, and go-containerregistry's untagged single image.
#[test]
fn layouts_written_by_copy_are_valid() {
    let schemas = Schemas::load();
    let image = umoci_image();
    let regclient = fixture("regclient-testrepo");
    let ggcr = fixture("ggcr-layout/test_index_one_image");
    let nested = "sha256-8e54c6754f08d22f85c7552bb1951b228b8194d29b14a1639dbe50868da0273e";
    let example = example_layout();
    // (source layout, source tag, destination tag, extra arguments)
    let copies: Vec<(&Path, Option<&str>, &str, Vec<&str>)> = vec![
        (&example, Some("3.20"), "a", vec![]),
        (&image.layout, Some("raw"), "b", vec![]),
        (&regclient, Some("v1"), "v1", vec![]),
        (&regclient, Some("v3"), "v3", vec![]),
        (&regclient, Some("v2"), "arm", vec!["--platform", "linux/arm64"]),
        (&regclient, Some("v2"), "two", vec!["--platform", "linux/arm64", "--platform", "linux/amd64"]),
        (&regclient, Some(nested), "nested", vec![]),
        (&regclient, Some("ai"), "ai", vec![]),
        (&ggcr, None, "one", vec![]),
    ];
    let tmp = tempdir();
    let mut errors = Vec::new();
    for (i, (src_dir, src_tag, tag, extra)) in copies.iter().enumerate() {
        let src = oci_ref(src_dir, *src_tag);
        // Each copy into its own layout (to check for stray blobs), and all into one.
        for dst in [tmp.path().join(format!("own-{i}")), tmp.path().join("shared")] {
            let mut args = vec!["copy", "--quiet"];
            args.extend(extra.iter().copied());
            let dst_ref = oci_ref(&dst, Some(tag));
            args.extend([src.as_str(), dst_ref.as_str()]);
            oci_harden(&args).ok();
        }
        let own = tmp.path().join(format!("own-{i}"));
        let reached = validate_layout(&schemas, &own, &[src_dir], &mut errors);
        let stray: Vec<String> = blob_files(&own).difference(&reached).cloned().collect();
        assert!(stray.is_empty(), "copying {src} left blobs that nothing references: {stray:?}");
        let names: Vec<String> = fs::read_dir(&own)
            .expect("listing the layout")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| !matches!(n.as_str(), "blobs" | "index.json" | "oci-layout"))
            .collect();
        assert!(names.is_empty(), "copying {src} left other files in the layout: {names:?}");
    }
    let sources: Vec<&Path> = copies.iter().map(|c| c.0).collect();
    validate_layout(&schemas, &tmp.path().join("shared"), &sources, &mut errors);
    assert_valid(&errors);
}
