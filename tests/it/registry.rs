//! The registry transport against the real CNCF distribution registry (anonymous, htpasswd
//! and token auth) with skopeo as the peer, and through a fault-injecting proxy: interop
//! both ways, multi-platform indexes, dedupe and cross-repository mounts, the blob cache,
//! credentials, retries, and refusals of bad answers that leave the destination clean.
//!
//! Every `oci-harden` run here goes through [`Home`], so it sees its own docker config,
//! auth file and cache, never the user's.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{
    Auth, FOREVER, Fault, FaultPlan, FaultProxy, Home, On, Registry, Route, Run, TarLayer, basic_credentials,
    blob_json, blob_path, example_layout, fixture, oci_ref, read_json, sha256_hex, skopeo_digest, skopeo_push, tagged,
    tempdir, tool,
};

const USER: &str = "alice";
const PASSWORD: &str = "correct-horse-battery-staple-7c1";
const WRONG_PASSWORD: &str = "wrong-horse-battery-staple-9f3";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

// ---------------------------------------------------------------------------------------
// Helpers

/// `oci:examples/alpine:3.20`.
fn example() -> String {
    oci_ref(&example_layout(), Some("3.20"))
}

/// The example's manifest digest.
fn example_digest() -> String {
    tagged(&example_layout(), "3.20")["digest"].as_str().expect("a digest").to_owned()
}

/// The example's (only) layer: digest and size.
fn example_layer() -> (String, u64) {
    let manifest = blob_json(&example_layout(), &example_digest());
    let layer = &manifest["layers"][0];
    (layer["digest"].as_str().expect("digest").to_owned(), layer["size"].as_u64().expect("size"))
}

/// An anonymous registry holding the example as `alpine:3.20`, pushed by skopeo directly.
fn registry_with_example() -> Registry {
    let registry = Registry::start(Auth::Anonymous);
    skopeo_push(&example(), &registry.image("alpine:3.20"), None);
    registry
}

/// The keys `copy --format json` reports.
const REPORT_KEYS: [&str; 10] = [
    "source",
    "destination",
    "digest",
    "mediaType",
    "blobsWritten",
    "blobsSkipped",
    "blobsMounted",
    "bytesWritten",
    "bytesDownloaded",
    "bytesSkipped",
];

/// `oci-harden copy --format json EXTRA… SRC DST` in `home`, which must succeed and report
/// every summary key.
#[track_caller]
fn copy(home: &Home, src: &str, dst: &str, extra: &[&str]) -> Value {
    let mut args = vec!["copy", "--format", "json"];
    args.extend_from_slice(extra);
    args.extend([src, dst]);
    let report = home.oci_harden(&args).ok().json();
    for key in REPORT_KEYS {
        assert!(report.get(key).is_some(), "copy --format json lacks {key:?}: {report}");
    }
    report
}

/// A number of a copy report.
#[track_caller]
fn num(report: &Value, key: &str) -> u64 {
    report[key].as_u64().unwrap_or_else(|| panic!("{key} is not a count in {report}"))
}

/// The `digest` of a copy report.
fn digest(report: &Value) -> String {
    report["digest"].as_str().expect("a digest").to_owned()
}

/// `oci-harden login HOST -u USER --password-stdin` with `password` on standard input.
fn login(home: &Home, host: &str, user: &str, password: &str) -> Run {
    home.oci_harden_stdin(&["login", host, "-u", user, "--password-stdin"], format!("{password}\n").as_bytes())
}

/// Asserts the run failed with exit code 2 and its stderr holds each needle (ignoring
/// case); returns stderr.
#[track_caller]
fn assert_fails(run: Run, needles: &[&str]) -> String {
    assert_eq!(run.code, Some(2), "{}: expected exit code 2:\n{}", run.command, run.describe());
    let lower = run.stderr.to_lowercase();
    for n in needles {
        assert!(lower.contains(&n.to_lowercase()), "{}: stderr lacks {n:?}:\n{}", run.command, run.stderr);
    }
    run.stderr
}

/// Asserts an authentication failure that names the registry.
#[track_caller]
fn assert_auth_fails(run: Run, host: &str) -> String {
    assert_fails(run, &[host, "authentication"])
}

/// Asserts no secret shows in what the run printed.
#[track_caller]
fn assert_no_secret(run: &Run, secrets: &[&str]) {
    let stdout = String::from_utf8_lossy(&run.stdout);
    for s in secrets {
        assert!(
            !stdout.contains(s) && !run.stderr.contains(s),
            "{}: a secret was printed:\n{}",
            run.command,
            run.describe()
        );
    }
}

/// Every blob file of a layout (`sha256/HEX`), with its bytes.
fn blob_files(layout: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for alg in fs::read_dir(layout.join("blobs")).expect("reading blobs/") {
        let alg = alg.expect("entry");
        for blob in fs::read_dir(alg.path()).expect("reading blobs/ALG") {
            let blob = blob.expect("entry");
            let name = format!("{}/{}", alg.file_name().to_string_lossy(), blob.file_name().to_string_lossy());
            files.insert(name, fs::read(blob.path()).expect("reading a blob"));
        }
    }
    files
}

/// Asserts two layouts hold the same blob files, byte for byte.
#[track_caller]
fn assert_same_blobs(expected: &Path, actual: &Path) {
    let (e, a) = (blob_files(expected), blob_files(actual));
    assert_eq!(
        e.keys().collect::<Vec<_>>(),
        a.keys().collect::<Vec<_>>(),
        "{} and {} hold different blobs",
        expected.display(),
        actual.display()
    );
    for (name, bytes) in &e {
        assert!(&a[name] == bytes, "blob {name} differs between {} and {}", expected.display(), actual.display());
    }
}

/// Every file and directory below `dir`, as paths relative to it.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap_or_else(|e| panic!("reading {}: {e}", d.display())) {
            let path = e.expect("entry").path();
            if path.is_dir() && !path.is_symlink() {
                todo.push(path.clone());
            }
            out.push(path.strip_prefix(dir).expect("below dir").to_owned());
        }
    }
    out.sort();
    out
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Asserts a failed copy to `layout` left nothing that matters: no `tag` in `index.json`,
/// and nothing but `oci-layout`, `index.json` and blobs whose bytes hash to their names (no
/// temporary or partial files). A layout that was never created is clean too.
#[track_caller]
fn assert_clean_layout(layout: &Path, tag: &str) {
    if !layout.exists() {
        return;
    }
    for rel in walk(layout) {
        let path = layout.join(&rel);
        let parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        match parts.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["oci-layout"] | ["index.json"] | ["blobs"] | ["blobs", "sha256"] => {}
            ["blobs", "sha256", hex] if is_sha256_hex(hex) => {
                let found = sha256_hex(&fs::read(&path).expect("reading a blob"));
                assert_eq!(found, hex, "{} holds other bytes than its name says (a partial blob)", path.display());
            }
            _ => panic!("{} was left behind by a failed copy (a temporary or partial file?)", path.display()),
        }
    }
    if layout.join("index.json").exists() {
        let index = read_json(&layout.join("index.json"));
        let tagged = index["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag);
        assert!(!tagged, "a failed copy tagged {tag} in {}/index.json: {index}", layout.display());
    }
}

/// Asserts every file of the blob cache named by a sha256 (`HEX`, `sha256:HEX` or
/// `sha256-HEX`) holds exactly those bytes: no partial blob is visible.
#[track_caller]
fn assert_cache_verified(cache: &Path) {
    for rel in walk(cache) {
        let path = cache.join(&rel);
        if !path.is_file() {
            continue;
        }
        let name = rel.file_name().expect("a name").to_string_lossy().into_owned();
        let hex = name.strip_prefix("sha256:").or_else(|| name.strip_prefix("sha256-")).unwrap_or(&name);
        if is_sha256_hex(hex) {
            let found = sha256_hex(&fs::read(&path).expect("reading a cached blob"));
            assert_eq!(found, hex, "the cache shows {} with other bytes (a partial blob)", path.display());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Interop with skopeo

/// The harness's fault proxy with an empty plan is transparent to a peer client: skopeo
/// pushes through it (chunked uploads, keep-alive) and reads back the same digest, and the
/// proxy counts the layer's bytes going up. (A check of the harness the fault tests rely on.)
#[test]
fn fault_proxy_is_transparent_to_skopeo() {
    let registry = Registry::start(Auth::Anonymous);
    let proxy = FaultProxy::start(&registry.host(), FaultPlan::none());
    skopeo_push(&example(), &proxy.image("alpine:3.20"), None);
    let traffic = proxy.take_traffic();
    assert!(traffic.upload_bytes() as u64 >= example_layer().1, "uploads not counted:\n{}", traffic.describe());
    assert_eq!(skopeo_digest(&format!("docker://{}", proxy.image("alpine:3.20")), None), example_digest());
    assert_eq!(skopeo_digest(&format!("docker://{}", registry.image("alpine:3.20")), None), example_digest());
    let tmp = tempdir();
    let theirs = tmp.path().join("skopeo");
    let src = format!("docker://{}", proxy.image("alpine:3.20"));
    tool("skopeo", &["copy", "--quiet", "--src-tls-verify=false", &src, &oci_ref(&theirs, Some("t"))]).ok();
    assert_same_blobs(&example_layout(), &theirs);
    assert!(proxy.traffic().blob_bytes_downloaded() as u64 >= example_layer().1);
}

/// An image we push to a real registry is what skopeo reads back: `skopeo inspect --raw`
/// and `skopeo copy … oci:` both give our manifest digest.
#[test]
fn pushed_image_reads_back_in_skopeo_with_the_same_digest() {
    let registry = Registry::start(Auth::Anonymous);
    let home = Home::new();
    let target = registry.image("alpine:3.20");
    let report = copy(&home, &example(), &target, &[]);
    assert_eq!(digest(&report), example_digest(), "pushing the example changed its digest");
    assert_eq!(report["mediaType"], OCI_MANIFEST);
    assert!(num(&report, "blobsWritten") >= 2, "config and layer must be uploaded: {report}");
    assert!(num(&report, "bytesWritten") >= example_layer().1, "the layer's bytes must be uploaded: {report}");

    assert_eq!(skopeo_digest(&format!("docker://{target}"), None), example_digest());
    let tmp = tempdir();
    let theirs = tmp.path().join("skopeo");
    let theirs_ref = oci_ref(&theirs, Some("t"));
    tool("skopeo", &["copy", "--quiet", "--src-tls-verify=false", &format!("docker://{target}"), &theirs_ref]).ok();
    assert_eq!(skopeo_digest(&theirs_ref, None), example_digest(), "skopeo's copy of our push has another digest");
    assert_same_blobs(&example_layout(), &theirs);
}

/// An image skopeo pushes is pulled by us into a layout with the identical manifest digest
/// and every blob file identical to the source's.
#[test]
fn image_pushed_by_skopeo_pulls_with_identical_manifest_and_blobs() {
    let registry = Registry::start(Auth::Anonymous);
    skopeo_push(&example(), &registry.image("from-skopeo:3.20"), None);
    let home = Home::new();
    let tmp = tempdir();
    let ours = tmp.path().join("ours");
    let report = copy(&home, &registry.image("from-skopeo:3.20"), &oci_ref(&ours, Some("t")), &[]);
    assert_eq!(digest(&report), example_digest());
    assert_eq!(tagged(&ours, "t")["digest"], example_digest().as_str(), "index.json must tag what copy reported");
    assert_same_blobs(&example_layout(), &ours);
    assert!(num(&report, "bytesDownloaded") >= example_layer().1, "the layer must be downloaded: {report}");
}

/// `inspect`, `ls` and `export` accept registry references and show exactly what they show
/// for the same image in a layout.
#[test]
fn inspect_ls_and_export_accept_registry_references() {
    let registry = registry_with_example();
    let home = Home::new();
    let remote = registry.image("alpine:3.20");
    let shown = home.oci_harden(&["inspect", "--format", "json", &remote]).ok().json();
    assert_eq!(shown["digest"], example_digest().as_str());
    assert_eq!(shown["mediaType"], OCI_MANIFEST);

    let remote_ls = home.oci_harden(&["ls", "--long", &remote]).ok();
    let local_ls = home.oci_harden(&["ls", "--long", &example()]).ok();
    assert!(remote_ls.stdout == local_ls.stdout, "ls of the registry image differs from ls of the layout");

    let tmp = tempdir();
    let (remote_tar, local_tar) = (tmp.path().join("remote.tar"), tmp.path().join("local.tar"));
    home.oci_harden(&["export", &remote, remote_tar.to_str().expect("UTF-8")]).ok();
    home.oci_harden(&["export", &example(), local_tar.to_str().expect("UTF-8")]).ok();
    assert!(
        fs::read(&remote_tar).expect("remote export") == fs::read(&local_tar).expect("local export"),
        "export of the registry image differs from export of the layout"
    );
}

/// A multi-platform index (regclient's `v1`: linux/amd64, linux/arm64 and two
/// attestation-like `unknown/unknown` manifests) goes layout → registry → layout → another
/// repository with the same index digest at every step, skopeo agreeing, and every child
/// manifest, config and layer arriving in the layout.
#[test]
fn multi_platform_index_round_trips_with_its_digest() {
    let repo = fixture("regclient-testrepo");
    let v1 = tagged(&repo, "v1")["digest"].as_str().expect("digest").to_owned();
    let registry = Registry::start(Auth::Anonymous);
    let home = Home::new();

    let pushed = copy(&home, &oci_ref(&repo, Some("v1")), &registry.image("testrepo:v1"), &[]);
    assert_eq!(digest(&pushed), v1, "pushing regclient v1 changed the index digest");
    assert_eq!(pushed["mediaType"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(skopeo_digest(&format!("docker://{}", registry.image("testrepo:v1")), None), v1);

    let tmp = tempdir();
    let ours = tmp.path().join("ours");
    let pulled = copy(&home, &registry.image("testrepo:v1"), &oci_ref(&ours, Some("v1")), &[]);
    assert_eq!(digest(&pulled), v1, "pulling regclient v1 changed the index digest");
    assert_eq!(tagged(&ours, "v1")["digest"], v1.as_str());
    let index = blob_json(&ours, &v1);
    let children = index["manifests"].as_array().expect("manifests");
    assert_eq!(children.len(), 4, "every platform must be pulled by default: {index}");
    for child in children {
        let child = child["digest"].as_str().expect("digest");
        let manifest = blob_json(&ours, child);
        let blobs = std::iter::once(&manifest["config"]).chain(manifest["layers"].as_array().into_iter().flatten());
        for d in blobs {
            let d = d["digest"].as_str().expect("digest");
            assert!(blob_path(&ours, d).is_file(), "blob {d} of {child} was not pulled");
        }
    }
    let source = blob_files(&repo);
    for (name, bytes) in blob_files(&ours) {
        assert!(source.get(&name) == Some(&bytes), "pulled blob {name} is not the source's");
    }

    let again = copy(&home, &oci_ref(&ours, Some("v1")), &registry.image("again:v1"), &[]);
    assert_eq!(digest(&again), v1, "pushing the pulled index changed its digest");
    assert_eq!(skopeo_digest(&format!("docker://{}", registry.image("again:v1")), None), v1);
}

/// `--platform linux/arm64` on a registry index pulls that platform only: an index holding
/// the arm64 manifest (unchanged digest), as for a layout source, and no amd64 blob.
#[test]
fn platform_selection_from_a_registry_index() {
    let repo = fixture("regclient-testrepo");
    let v1 = tagged(&repo, "v1")["digest"].as_str().expect("digest").to_owned();
    let index = blob_json(&repo, &v1);
    let child = |arch: &str| {
        index["manifests"]
            .as_array()
            .expect("manifests")
            .iter()
            .find(|d| d["platform"]["os"] == "linux" && d["platform"]["architecture"] == arch)
            .unwrap_or_else(|| panic!("regclient v1 has linux/{arch}"))["digest"]
            .as_str()
            .expect("digest")
            .to_owned()
    };
    let (arm64, amd64) = (child("arm64"), child("amd64"));
    let registry = Registry::start(Auth::Anonymous);
    skopeo_push(&oci_ref(&repo, Some("v1")), &registry.image("testrepo:v1"), None);

    let home = Home::new();
    let tmp = tempdir();
    let ours = tmp.path().join("ours");
    let report =
        copy(&home, &registry.image("testrepo:v1"), &oci_ref(&ours, Some("arm")), &["--platform", "linux/arm64"]);
    let written = blob_json(&ours, &digest(&report));
    let manifests = written["manifests"].as_array().expect("an index");
    assert_eq!(manifests.len(), 1, "only linux/arm64 must remain: {written}");
    assert_eq!(manifests[0]["digest"], arm64.as_str());
    assert!(blob_path(&ours, &arm64).is_file(), "the arm64 manifest was not pulled");
    assert!(!blob_path(&ours, &amd64).exists(), "the amd64 manifest was pulled although not selected");
    let amd64_config = blob_json(&repo, &amd64)["config"]["digest"].as_str().expect("digest").to_owned();
    assert!(!blob_path(&ours, &amd64_config).exists(), "the amd64 config was pulled although not selected");
}

// ---------------------------------------------------------------------------------------
// Dedupe, mounts and the cache

/// Pushing the same image twice uploads zero blob bytes the second time: the report says so
/// (`bytesWritten` 0, blobs skipped) and the proxy saw no upload at all (HEAD first).
#[test]
fn second_push_of_the_same_image_uploads_no_blob_bytes() {
    let registry = Registry::start(Auth::Anonymous);
    let proxy = FaultProxy::start(&registry.host(), FaultPlan::none());
    let home = Home::new();
    let target = proxy.image("alpine:3.20");

    let first = copy(&home, &example(), &target, &[]);
    let traffic = proxy.take_traffic();
    assert!(num(&first, "bytesWritten") > 0, "the first push must upload: {first}");
    assert!(
        traffic.upload_bytes() as u64 >= example_layer().1,
        "the first push uploaded too little:\n{}",
        traffic.describe()
    );

    let second = copy(&home, &example(), &target, &[]);
    let traffic = proxy.take_traffic();
    assert_eq!(digest(&second), example_digest());
    assert_eq!(num(&second, "bytesWritten"), 0, "the second push uploaded blob bytes: {second}");
    assert_eq!(num(&second, "blobsWritten"), 0, "the second push uploaded blobs: {second}");
    assert!(num(&second, "blobsSkipped") > 0, "the second push must report skipped blobs: {second}");
    assert_eq!(traffic.upload_bytes(), 0, "the proxy saw upload bytes:\n{}", traffic.describe());
    assert!(traffic.of(Route::Upload).is_empty(), "the second push started uploads:\n{}", traffic.describe());
}

/// A second image on the same base (the example plus one layer added by `umoci raw
/// add-layer`) pushed to another repository of the same registry mounts or skips the base
/// layer: the report counts it, and the proxy saw none of its bytes uploaded.
#[test]
fn image_on_the_same_base_mounts_or_skips_the_base_layer() {
    let registry = Registry::start(Auth::Anonymous);
    let proxy = FaultProxy::start(&registry.host(), FaultPlan::none());
    let home = Home::new();
    copy(&home, &example(), &proxy.image("alpine:3.20"), &[]);

    let tmp = tempdir();
    let layout = tmp.path().join("derived");
    // skopeo writes fresh files: umoci then changes this layout, never the shipped example.
    tool("skopeo", &["copy", "--quiet", &example(), &oci_ref(&layout, Some("3.20"))]).ok();
    let layer = tmp.path().join("layer.tar");
    let tar = TarLayer::new().dir("etc", 0o755).file("etc/derived", 0o644, b"on top of alpine\n").finish();
    fs::write(&layer, tar).expect("writing the layer");
    let image = format!("{}:3.20", layout.display());
    tool("umoci", &["raw", "add-layer", "--image", &image, "--tag", "derived", layer.to_str().expect("UTF-8")]).ok();
    let derived = tagged(&layout, "derived")["digest"].as_str().expect("digest").to_owned();
    let (base, base_size) = example_layer();
    assert_eq!(blob_json(&layout, &derived)["layers"][0]["digest"], base.as_str(), "the derived image keeps the base");

    proxy.take_traffic();
    let report = copy(&home, &oci_ref(&layout, Some("derived")), &proxy.image("derived:1"), &[]);
    let traffic = proxy.take_traffic();
    assert_eq!(digest(&report), derived);
    assert!(
        num(&report, "blobsMounted") + num(&report, "blobsSkipped") >= 1,
        "the base layer was neither mounted nor skipped: {report}\n{}",
        traffic.describe()
    );
    let base_uploaded =
        traffic.of(Route::Upload).iter().any(|e| e.method == "PUT" && e.digest().as_deref() == Some(&base));
    assert!(!base_uploaded, "the base layer was uploaded again:\n{}", traffic.describe());
    assert!(
        (traffic.upload_bytes() as u64) < base_size / 2,
        "{} bytes uploaded for a tiny layer and a config:\n{}",
        traffic.upload_bytes(),
        traffic.describe()
    );
    assert_eq!(skopeo_digest(&format!("docker://{}", registry.image("derived:1")), None), derived);
}

/// A copy between two repositories of one registry mounts the blobs (cross-repository
/// mount) instead of moving them: no blob downloaded, no blob byte uploaded.
#[test]
fn copy_within_one_registry_mounts_instead_of_moving_bytes() {
    let registry = registry_with_example();
    let proxy = FaultProxy::start(&registry.host(), FaultPlan::none());
    let home = Home::new();
    let report = copy(&home, &proxy.image("alpine:3.20"), &proxy.image("mirror:3.20"), &[]);
    let traffic = proxy.traffic();
    assert_eq!(digest(&report), example_digest());
    assert!(num(&report, "blobsMounted") >= 1, "nothing was mounted: {report}\n{}", traffic.describe());
    assert!(!traffic.mounts().is_empty(), "the proxy saw no mount request:\n{}", traffic.describe());
    assert_eq!(traffic.upload_bytes(), 0, "blob bytes were uploaded:\n{}", traffic.describe());
    assert_eq!(traffic.blob_gets(), 0, "blobs were downloaded although they could be mounted:\n{}", traffic.describe());
    assert_eq!(skopeo_digest(&format!("docker://{}", registry.image("mirror:3.20")), None), example_digest());
}

/// A second pull of the same image with the same `--cache` downloads no blob (manifests
/// may be fetched), and neither does a copy to a layout from that cache.
#[test]
fn second_pull_with_the_same_cache_downloads_no_blobs() {
    let registry = registry_with_example();
    let proxy = FaultProxy::start(&registry.host(), FaultPlan::none());
    let home = Home::new();
    let cache_dir = tempdir();
    let cache = cache_dir.path().to_str().expect("UTF-8");
    let image = proxy.image("alpine:3.20");

    let first = home.oci_harden(&["pull", "--cache", cache, &image]).ok();
    assert!(first.text().contains(&example_digest()), "pull must print the digest:\n{}", first.describe());
    let traffic = proxy.take_traffic();
    assert!(
        traffic.blob_bytes_downloaded() as u64 >= example_layer().1,
        "the first pull did not download the layer:\n{}",
        traffic.describe()
    );
    assert_cache_verified(cache_dir.path());

    let second = home.oci_harden(&["pull", "--cache", cache, &image]).ok();
    assert!(second.text().contains(&example_digest()), "pull must print the digest:\n{}", second.describe());
    let traffic = proxy.take_traffic();
    assert_eq!(traffic.blob_gets(), 0, "the second pull downloaded blobs:\n{}", traffic.describe());

    let tmp = tempdir();
    let ours = tmp.path().join("ours");
    let report = copy(&home, &image, &oci_ref(&ours, Some("t")), &["--cache", cache]);
    let traffic = proxy.take_traffic();
    assert_eq!(traffic.blob_gets(), 0, "a copy from a filled cache downloaded blobs:\n{}", traffic.describe());
    assert_eq!(num(&report, "bytesDownloaded"), 0, "{report}");
    assert_same_blobs(&example_layout(), &ours);
}

// ---------------------------------------------------------------------------------------
// Credentials

/// An htpasswd registry: a push without credentials fails naming the registry and
/// authentication; `login --password-stdin` stores credentials (and prints no password)
/// after which `push` works and skopeo reads the image; `logout` forgets them, and a pull
/// fails again.
#[test]
fn htpasswd_registry_needs_login_and_forgets_on_logout() {
    let registry = Registry::start(Auth::htpasswd(USER, PASSWORD));
    let host = registry.host();
    let home = Home::new();
    let target = registry.image("alpine:3.20");
    assert_auth_fails(home.oci_harden(&["copy", &example(), &target]), &host);

    let run = login(&home, &host, USER, PASSWORD).ok();
    assert_no_secret(&run, &[PASSWORD, &basic_credentials(USER, PASSWORD)]);
    let config = read_json(&home.docker_config());
    assert!(config["auths"][&host].is_object(), "login stored nothing for {host}: {config}");

    let run = home.oci_harden(&["push", &example(), &target]).ok();
    assert_no_secret(&run, &[PASSWORD]);
    assert_eq!(skopeo_digest(&format!("docker://{target}"), registry.credentials()), example_digest());
    let tmp = tempdir();
    let pulled = tmp.path().join("pulled");
    assert_eq!(digest(&copy(&home, &target, &oci_ref(&pulled, Some("t")), &[])), example_digest());

    home.oci_harden(&["logout", &host]).ok();
    if home.docker_config().exists() {
        let config = read_json(&home.docker_config());
        assert!(config["auths"].get(&host).is_none(), "logout left credentials for {host}: {config}");
    }
    let again = tmp.path().join("again");
    assert_auth_fails(home.oci_harden(&["copy", &target, &oci_ref(&again, Some("t"))]), &host);
    assert_clean_layout(&again, "t");
}

/// Wrong credentials (from `login`, or stored in the docker config) against htpasswd and
/// token registries give a clear authentication error naming the registry; the password
/// never shows in the output, and a failed login stores nothing.
#[test]
fn wrong_password_is_a_clear_401_naming_the_registry() {
    for auth in [Auth::htpasswd(USER, PASSWORD), Auth::token(USER, PASSWORD)] {
        let registry = Registry::start(auth.clone());
        skopeo_push(&example(), &registry.image("alpine:3.20"), registry.credentials());
        let host = registry.host();
        let secrets = [WRONG_PASSWORD, &basic_credentials(USER, WRONG_PASSWORD)];
        let home = Home::new();

        let run = login(&home, &host, USER, WRONG_PASSWORD);
        assert_no_secret(&run, &secrets);
        assert_auth_fails(run, &host);
        if home.docker_config().exists() {
            let config = read_json(&home.docker_config());
            assert!(config["auths"].get(&host).is_none(), "{auth:?}: a failed login stored credentials: {config}");
        }

        home.write_docker_config(&json!({"auths": {&host: {"auth": basic_credentials(USER, WRONG_PASSWORD)}}}));
        let tmp = tempdir();
        let out = tmp.path().join("out");
        let run = home.oci_harden(&["copy", &registry.image("alpine:3.20"), &oci_ref(&out, Some("t"))]);
        assert_no_secret(&run, &secrets);
        assert_auth_fails(run, &host);
        assert_clean_layout(&out, "t");
        let run = home.oci_harden(&["copy", &example(), &registry.image("other:1")]);
        assert_no_secret(&run, &secrets);
        assert_auth_fails(run, &host);
    }
}

/// A token-auth registry (bearer tokens from the test's issuer): no credentials fails
/// naming the registry; after `login` a push and a pull work through tokens; after
/// `logout` a pull fails again.
#[test]
fn token_registry_login_push_pull_logout() {
    let registry = Registry::start(Auth::token(USER, PASSWORD));
    let host = registry.host();
    let home = Home::new();
    let target = registry.image("alpine:3.20");
    assert_auth_fails(home.oci_harden(&["copy", &example(), &target]), &host);

    let run = login(&home, &host, USER, PASSWORD).ok();
    assert_no_secret(&run, &[PASSWORD, &basic_credentials(USER, PASSWORD)]);
    let run = home.oci_harden(&["push", &example(), &target]).ok();
    assert_no_secret(&run, &[PASSWORD]);
    assert_eq!(skopeo_digest(&format!("docker://{target}"), registry.credentials()), example_digest());
    let tmp = tempdir();
    let pulled = tmp.path().join("pulled");
    assert_eq!(digest(&copy(&home, &target, &oci_ref(&pulled, Some("t")), &[])), example_digest());
    assert_same_blobs(&example_layout(), &pulled);
    let counts = registry.issuer().counts();
    assert!(counts.basic + counts.password > 0, "no token was issued for the credentials: {counts:?}");

    home.oci_harden(&["logout", &host]).ok();
    let again = tmp.path().join("again");
    assert_auth_fails(home.oci_harden(&["copy", &target, &oci_ref(&again, Some("t"))]), &host);
}

/// A docker config holding an `identitytoken` for a token registry (as `docker login`
/// writes for OAuth2 registries) works: the token is exchanged with `grant_type=
/// refresh_token` for access tokens, for push and pull. A wrong identity token fails
/// naming the registry, the identity token and the 401, and is not printed.
#[test]
fn identity_token_in_docker_config_is_exchanged_for_access_tokens() {
    let registry = Registry::start(Auth::token(USER, PASSWORD));
    let host = registry.host();
    let identity = registry.issuer().identity_token().to_owned();
    let home = Home::new();
    home.write_docker_config(
        &json!({"auths": {&host: {"auth": basic_credentials("<token>", ""), "identitytoken": identity}}}),
    );
    let target = registry.image("alpine:3.20");
    let run = home.oci_harden(&["copy", &example(), &target]).ok();
    assert_no_secret(&run, &[&identity]);
    let tmp = tempdir();
    let pulled = tmp.path().join("pulled");
    assert_eq!(digest(&copy(&home, &target, &oci_ref(&pulled, Some("t")), &[])), example_digest());
    let counts = registry.issuer().counts();
    assert!(counts.refresh > 0, "the identity token was never exchanged: {counts:?}");

    let wrong = "oci-harden-test-identity-not-this-one";
    let other = Home::new();
    other.write_docker_config(
        &json!({"auths": {&host: {"auth": basic_credentials("<token>", ""), "identitytoken": wrong}}}),
    );
    let run = other.oci_harden(&["copy", &target, &oci_ref(&tmp.path().join("other"), Some("t"))]);
    assert_no_secret(&run, &[wrong]);
    assert_fails(run, &[&host, "identity token", "401"]);
}

/// Credentials in `$REGISTRY_AUTH_FILE` (containers' `auth.json`) are used.
#[test]
fn registry_auth_file_credentials_are_used() {
    let registry = Registry::start(Auth::htpasswd(USER, PASSWORD));
    let home = Home::new();
    let auth = json!({"auths": {registry.host(): {"auth": basic_credentials(USER, PASSWORD)}}});
    fs::write(home.auth_file(), auth.to_string()).expect("writing auth.json");
    let run = home.oci_harden(&["copy", &example(), &registry.image("alpine:3.20")]).ok();
    assert_no_secret(&run, &[PASSWORD]);
    assert_eq!(
        skopeo_digest(&format!("docker://{}", registry.image("alpine:3.20")), registry.credentials()),
        example_digest()
    );
}

// ---------------------------------------------------------------------------------------
// Faults

/// Pulls `proxy`'s `alpine:3.20` into a fresh layout; returns the run, the layout's
/// directory (kept alive by the returned tempdir) and how long it took.
fn pull_through(home: &Home, proxy: &FaultProxy, extra: &[&str]) -> (Run, tempfile::TempDir, PathBuf, Duration) {
    let tmp = tempdir();
    let out = tmp.path().join("pulled");
    let mut args = vec!["copy", "--format", "json"];
    args.extend_from_slice(extra);
    let (src, dst) = (proxy.image("alpine:3.20"), oci_ref(&out, Some("t")));
    args.extend([src.as_str(), dst.as_str()]);
    let start = Instant::now();
    let run = home.oci_harden(&args);
    (run, tmp, out, start.elapsed())
}

/// Connections dropped mid-blob (twice) are retried: the copy succeeds with the digest and
/// blobs of the source.
#[test]
fn connections_dropped_mid_blob_are_retried() {
    let registry = registry_with_example();
    let proxy = FaultProxy::start(&registry.host(), FaultPlan::none().drop_blob_bodies(64 << 10, 2));
    let home = Home::new();
    let (run, _tmp, out, _) = pull_through(&home, &proxy, &[]);
    let traffic = proxy.traffic();
    assert_eq!(run.code, Some(0), "{}\n--- proxy\n{}", run.describe(), traffic.describe());
    assert_eq!(traffic.faults().len(), 2, "the proxy did not drop twice:\n{}", traffic.describe());
    assert_eq!(tagged(&out, "t")["digest"], example_digest().as_str());
    assert_same_blobs(&example_layout(), &out);
}

/// An interrupted blob download resumes with an HTTP `Range` request from where the data
/// is, instead of starting again.
#[test]
fn interrupted_blob_download_resumes_with_range() {
    let registry = registry_with_example();
    let proxy = FaultProxy::start(&registry.host(), FaultPlan::none().drop_blob_bodies(1 << 20, 1));
    let home = Home::new();
    let (run, _tmp, out, _) = pull_through(&home, &proxy, &[]);
    let traffic = proxy.traffic();
    assert_eq!(run.code, Some(0), "{}\n--- proxy\n{}", run.describe(), traffic.describe());
    let (layer, _) = example_layer();
    let resumed = traffic.of(Route::BlobGet).into_iter().any(|e| {
        e.digest().as_deref() == Some(&layer)
            && e.range.as_deref().is_some_and(|r| r.starts_with("bytes=") && !r.starts_with("bytes=0-"))
    });
    assert!(resumed, "no Range request resumed the layer:\n{}", traffic.describe());
    assert_same_blobs(&example_layout(), &out);
}

/// `harden` of `src` into a new layout (`out`, tag `t`) with `home`: the run and the layout.
fn harden_into(home: &Home, src: &str, out: &Path) -> Run {
    home.oci_harden(&["harden", "-q", "--rules", "builtin:strict", src, &oci_ref(out, Some("t"))])
}

/// `harden` reads a registry image's layer while it downloads (`Session::open_streaming`):
/// a connection dropped mid-layer is resumed with a `Range` request under the reader, and
/// the hardened image is byte for byte the one a harden without faults makes.
#[test]
fn harden_reads_a_layer_as_it_downloads_through_a_dropped_connection() {
    let registry = registry_with_example();
    // The reference: the same source name (it is recorded in the labels), no faults.
    let proxy = FaultProxy::start(&registry.host(), FaultPlan::none());
    let reference = tempdir();
    let run = harden_into(&Home::new(), &proxy.image("alpine:3.20"), &reference.path().join("h"));
    assert_eq!(run.code, Some(0), "{}", run.describe());
    proxy.take_traffic();

    proxy.set_plan(FaultPlan::none().drop_blob_bodies(256 << 10, 1));
    let home = Home::new();
    let tmp = tempdir();
    let out = tmp.path().join("h");
    let run = harden_into(&home, &proxy.image("alpine:3.20"), &out);
    let traffic = proxy.traffic();
    assert_eq!(run.code, Some(0), "{}\n--- proxy\n{}", run.describe(), traffic.describe());
    assert_eq!(traffic.faults().len(), 1, "the proxy did not drop the layer:\n{}", traffic.describe());
    let (layer, _) = example_layer();
    let resumed = traffic.of(Route::BlobGet).into_iter().any(|e| {
        e.digest().as_deref() == Some(&layer) && e.range.as_deref().is_some_and(|r| !r.starts_with("bytes=0-"))
    });
    assert!(resumed, "no Range request resumed the layer:\n{}", traffic.describe());
    assert_eq!(tagged(&out, "t")["digest"], tagged(&reference.path().join("h"), "t")["digest"]);
    assert_same_blobs(&reference.path().join("h"), &out);
    // The layer is in the cache, whole and verified, as after a pull.
    assert!(home.cache().join("oci-harden/blobs/sha256").join(layer.trim_start_matches("sha256:")).is_file());
}

/// `ls` (like `scan`, `check`, `sbom`, `export`) of a registry image builds its merged
/// filesystem while the layer downloads (`Session::stream_layers`): through a connection
/// dropped mid-layer and resumed, it lists exactly what `ls` of the local image lists.
#[test]
fn ls_reads_a_layer_as_it_downloads_through_a_dropped_connection() {
    let registry = registry_with_example();
    let proxy = FaultProxy::start(&registry.host(), FaultPlan::none().drop_blob_bodies(256 << 10, 1));
    let home = Home::new();
    let run = home.oci_harden(&["ls", "-l", &proxy.image("alpine:3.20"), "/"]);
    let traffic = proxy.traffic();
    assert_eq!(run.code, Some(0), "{}\n--- proxy\n{}", run.describe(), traffic.describe());
    assert_eq!(traffic.faults().len(), 1, "the proxy did not drop the layer:\n{}", traffic.describe());
    let local = Home::new().oci_harden(&["ls", "-l", &example(), "/"]);
    assert_eq!(local.code, Some(0), "{}", local.describe());
    assert!(run.stdout.iter().filter(|&&b| b == b'\n').count() > 10, "{}", run.describe());
    assert_eq!(run.stdout, local.stdout);
}

/// When the work given to `Session::open_streaming` fails before opening a layer, that
/// layer's download is stopped: the call returns the work's error, and the cache holds the
/// layer whole or not at all (no temporary file). The same session then opens it whole.
#[test]
fn a_failed_streaming_work_stops_the_downloads_it_never_read() {
    let registry = registry_with_example();
    let cache = tempdir();
    let options = oci_core::SessionOptions { cache_dir: cache.path().to_path_buf(), ..Default::default() };
    let session = oci_core::Session::new(options);
    let reference: oci_core::Reference = registry.image("alpine:3.20").parse().expect("a reference");
    type Failure = Box<dyn std::error::Error + Send + Sync>;
    let failed: Result<(), Failure> = session.open_streaming(&reference, |_| Err("the work failed".into()));
    assert_eq!(failed.expect_err("the work's error").to_string(), "the work failed");
    let (layer, _) = example_layer();
    let blobs = cache.path().join("blobs/sha256");
    for entry in fs::read_dir(&blobs).expect("the cache's blobs") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().expect("a name").to_string_lossy().into_owned();
        assert!(is_sha256_hex(&name), "a temporary file was left: {}", path.display());
        assert_eq!(sha256_hex(&fs::read(&path).expect("a blob")), name, "{} is partial", path.display());
    }
    let whole = session.open_streaming(&reference, |source| -> Result<_, oci_core::Error> {
        let image = source.image(None)?;
        Ok(oci_core::MergedFs::build(&image)?.walk("/").count())
    });
    assert!(whole.expect("opened whole") > 10);
    assert!(blobs.join(layer.trim_start_matches("sha256:")).is_file(), "the layer is cached after a full read");
}

/// A layer that fails while `harden` reads it as it downloads (one byte flipped by the
/// proxy, after the manifest and config were cached by an `inspect`) fails the run as a
/// digest mismatch naming the layer; the destination is not created and the cache holds no
/// unverified blob. A later run without faults hardens it.
#[test]
fn a_corrupted_layer_read_as_it_downloads_fails_harden_and_writes_nothing() {
    let registry = registry_with_example();
    let proxy = FaultProxy::start(&registry.host(), FaultPlan::none());
    let home = Home::new();
    let run = home.oci_harden(&["inspect", &proxy.image("alpine:3.20")]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    proxy.set_plan(FaultPlan::none().corrupt_blobs(FOREVER));
    let tmp = tempdir();
    let out = tmp.path().join("h");
    let run = harden_into(&home, &proxy.image("alpine:3.20"), &out);
    let traffic = proxy.take_traffic();
    let (layer, _) = example_layer();
    assert!(
        traffic.0.iter().any(|e| e.fault == Some(Fault::Corrupted) && e.digest().as_deref() == Some(&layer)),
        "the layer was not corrupted:\n{}",
        traffic.describe()
    );
    // The download's error, not what reading the damaged bytes ran into.
    let stderr = assert_fails(run, &[&layer, "digest mismatch"]);
    assert!(!out.exists(), "the destination was created:\n{stderr}");
    assert!(
        !home.cache().join("oci-harden/blobs/sha256").join(layer.trim_start_matches("sha256:")).exists(),
        "the corrupted layer entered the cache"
    );
    assert_cache_verified(&home.cache().join("oci-harden/blobs"));

    proxy.set_plan(FaultPlan::none());
    let run = harden_into(&home, &proxy.image("alpine:3.20"), &out);
    assert_eq!(run.code, Some(0), "{}", run.describe());
}

/// 429 with `Retry-After` is retried no sooner than the registry asks: on the first two
/// requests (`Retry-After: 1`, whatever they are, `/v2/` included) the copy succeeds and
/// takes at least about a second; on a blob download (`Retry-After: 2`) at least about two,
/// so the header is read, not replaced by a fixed pause. Behavioural checks, not speed tests.
#[test]
fn retry_after_on_429_is_honoured() {
    let registry = registry_with_example();
    let proxy = FaultProxy::start(&registry.host(), FaultPlan::none().status(429, 2, On::Any).retry_after(1));
    let home = Home::new();
    let (run, _tmp, out, elapsed) = pull_through(&home, &proxy, &[]);
    let traffic = proxy.take_traffic();
    assert_eq!(run.code, Some(0), "{}\n--- proxy\n{}", run.describe(), traffic.describe());
    assert_eq!(traffic.faults().len(), 2, "{}", traffic.describe());
    assert!(
        elapsed >= Duration::from_millis(900),
        "Retry-After: 1 was not honoured: done in {elapsed:?}\n{}",
        traffic.describe()
    );
    assert_same_blobs(&example_layout(), &out);

    proxy.set_plan(FaultPlan::none().status(429, 1, On::BlobGets).retry_after(2));
    let (run, _tmp, out, elapsed) = pull_through(&Home::new(), &proxy, &[]);
    let traffic = proxy.take_traffic();
    assert_eq!(run.code, Some(0), "{}\n--- proxy\n{}", run.describe(), traffic.describe());
    assert_eq!(traffic.faults().len(), 1, "{}", traffic.describe());
    assert!(
        elapsed >= Duration::from_millis(1900),
        "Retry-After: 2 on a blob was not honoured: done in {elapsed:?}\n{}",
        traffic.describe()
    );
    assert_same_blobs(&example_layout(), &out);
}

/// 503 on the first three requests of a pull, and on the first three upload requests of a
/// push: both succeed.
#[test]
fn a_few_503s_are_retried() {
    let registry = registry_with_example();
    let proxy = FaultProxy::start(&registry.host(), FaultPlan::none().status(503, 3, On::Any));
    let home = Home::new();
    let (run, _tmp, out, _) = pull_through(&home, &proxy, &[]);
    let traffic = proxy.take_traffic();
    assert_eq!(run.code, Some(0), "{}\n--- proxy\n{}", run.describe(), traffic.describe());
    assert_eq!(traffic.faults().len(), 3, "{}", traffic.describe());
    assert_same_blobs(&example_layout(), &out);

    proxy.set_plan(FaultPlan::none().status(503, 3, On::Uploads));
    let run = home.oci_harden(&["copy", &example(), &proxy.image("pushed:1")]);
    let traffic = proxy.take_traffic();
    assert_eq!(run.code, Some(0), "{}\n--- proxy\n{}", run.describe(), traffic.describe());
    assert_eq!(traffic.faults().len(), 3, "{}", traffic.describe());
    assert_eq!(skopeo_digest(&format!("docker://{}", registry.image("pushed:1")), None), example_digest());
}

/// 503 forever on blob downloads: the copy gives up within its retry budget with an error
/// naming the registry and the status, leaves no tag and no partial blob in the destination
/// or the cache, and a later run (the registry healthy again) completes.
#[test]
fn persistent_503_fails_cleanly_and_a_later_run_completes() {
    let registry = registry_with_example();
    let proxy = FaultProxy::start(&registry.host(), FaultPlan::none().status(503, FOREVER, On::BlobGets));
    let home = Home::new();
    let (run, tmp, out, elapsed) = pull_through(&home, &proxy, &["--retries", "2"]);
    let traffic = proxy.take_traffic();
    assert!(!traffic.faults().is_empty(), "no 503 was injected:\n{}", traffic.describe());
    assert_fails(run, &[&proxy.host(), "503"]);
    assert!(elapsed < Duration::from_secs(60), "giving up took {elapsed:?}");
    assert_clean_layout(&out, "t");
    assert_cache_verified(&home.cache());

    proxy.set_plan(FaultPlan::none());
    let report = copy(&home, &proxy.image("alpine:3.20"), &oci_ref(&out, Some("t")), &[]);
    assert_eq!(digest(&report), example_digest());
    assert_same_blobs(&example_layout(), &out);
    drop(tmp);
}

// ---------------------------------------------------------------------------------------
// Bad input

/// An unknown tag is a clear "not found" naming the tag, the repository and the registry,
/// and writes nothing.
#[test]
fn unknown_tag_is_a_clear_not_found() {
    let registry = registry_with_example();
    let home = Home::new();
    let tmp = tempdir();
    let out = tmp.path().join("out");
    let run = home.oci_harden(&["copy", &registry.image("alpine:no-such-tag"), &oci_ref(&out, Some("t"))]);
    assert_fails(run, &["no-such-tag", "not found", "alpine", &registry.host()]);
    assert_clean_layout(&out, "t");
    let run = home.oci_harden(&["inspect", &registry.image("alpine:no-such-tag")]);
    assert_fails(run, &["no-such-tag", "not found"]);
}

/// A manifest larger than any sane limit (9 MiB of valid JSON; the registry itself refuses
/// manifests over 4 MiB, so the proxy serves it) is refused as too large (or over the
/// limit), naming the registry and the repository, writing nothing.
#[test]
fn oversized_manifest_is_refused() {
    let pad = "x".repeat(9 << 20);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
            "size": 2,
        },
        "layers": [],
        "annotations": {"padding": pad},
    });
    let body = serde_json::to_vec(&manifest).expect("JSON");
    let registry = Registry::start(Auth::Anonymous);
    let proxy = FaultProxy::start(
        &registry.host(),
        FaultPlan::none().serve_manifest("/v2/big/manifests/t", OCI_MANIFEST, body),
    );
    let home = Home::new();
    let tmp = tempdir();
    let out = tmp.path().join("out");
    let run = home.oci_harden(&["copy", &proxy.image("big:t"), &oci_ref(&out, Some("t"))]);
    let traffic = proxy.traffic();
    assert!(
        traffic.0.iter().any(|e| e.fault == Some(Fault::Served)),
        "the manifest was never asked for:\n{}",
        traffic.describe()
    );
    let stderr = assert_fails(run, &[&proxy.host(), "big"]).to_lowercase();
    assert!(
        stderr.contains("too large") || (stderr.contains("exceeds") && stderr.contains("limit")),
        "the error does not say the manifest is too large:\n{stderr}"
    );
    assert_clean_layout(&out, "t");
}

/// A blob whose bytes do not match its digest (the proxy flips one byte of every blob it
/// passes) is refused naming the digest; the destination gets no tag, no such blob and no
/// partial file, and the cache shows no unverified blob.
#[test]
fn corrupted_blob_is_refused_and_leaves_nothing_behind() {
    let registry = registry_with_example();
    let proxy = FaultProxy::start(&registry.host(), FaultPlan::none().corrupt_blobs(FOREVER));
    let home = Home::new();
    let (run, _tmp, out, _) = pull_through(&home, &proxy, &[]);
    let traffic = proxy.traffic();
    let corrupted: Vec<String> =
        traffic.0.iter().filter(|e| e.fault == Some(Fault::Corrupted)).filter_map(|e| e.digest()).collect();
    assert!(!corrupted.is_empty(), "no blob was corrupted:\n{}", traffic.describe());
    let stderr = assert_fails(run, &[&proxy.host()]);
    assert!(
        corrupted.iter().any(|d| stderr.contains(d.as_str())),
        "the error names none of the corrupted blobs {corrupted:?}:\n{stderr}"
    );
    assert_clean_layout(&out, "t");
    for d in &corrupted {
        assert!(!blob_path(&out, d).exists(), "the corrupted blob {d} was kept");
    }
    assert_cache_verified(&home.cache());
}

/// On a token-auth registry, a copy between two repositories mounts the blobs: the mount
/// request carries one token scoped to push on the destination and pull on the source
/// (a push-only token makes the registry answer 202 and the bytes would be uploaded).
#[test]
fn token_registry_mounts_across_repositories() {
    let registry = Registry::start(Auth::token(USER, PASSWORD));
    let host = registry.host();
    let home = Home::new();
    login(&home, &host, USER, PASSWORD).ok();
    copy(&home, &example(), &registry.image("base/alpine:3.20"), &[]);
    let report = copy(&home, &registry.image("base/alpine:3.20"), &registry.image("team/alpine:3.20"), &[]);
    assert_eq!(report["blobsMounted"], 2, "both blobs should be mounted: {report}");
    assert_eq!(report["bytesWritten"], 0, "nothing should be uploaded: {report}");
    assert_eq!(report["bytesDownloaded"], 0, "nothing should be downloaded: {report}");
    assert_eq!(
        skopeo_digest(&format!("docker://{}", registry.image("team/alpine:3.20")), registry.credentials()),
        example_digest()
    );
}
