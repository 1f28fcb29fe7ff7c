//! `oci-harden harden` and `check` end to end (issue 5): real images (the Alpine example,
//! the mmdebstrap Debian image, the regclient multi-platform index) hardened by the CLI and
//! verified with independent tools (`umoci unpack`, `skopeo inspect`), reproducibility across
//! processes, registry to registry against the real distribution registry, dry-run snapshots
//! of the patch layer, and bad rule sets.
//!
//! Every `harden` runs with an isolated cache (`--cache TMPDIR` or [`Home`]).

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use crate::harness::{
    Auth, Home, Registry, Run, bin, example_layout, fixture, oci_ref, repo_root, require_root, skopeo_digest,
    skopeo_push, tempdir, tool,
};
use crate::inventory::debian;

// ---------------------------------------------------------------------------------------
// Helpers

/// A writable copy of the layout `src` at `dst` (`cp -a`), so nothing is written next to
/// the fixtures.
fn copy_layout(src: &Path, dst: &Path) {
    tool("cp", &[OsStr::new("-a"), src.as_os_str(), dst.as_os_str()]).ok();
}

/// A copy of the Alpine example under `dir/src`; returns `oci:DIR/src:3.20`.
fn alpine_copy(dir: &Path) -> String {
    let src = dir.join("src");
    copy_layout(&example_layout(), &src);
    oci_ref(&src, Some("3.20"))
}

/// `oci-harden ARGS --cache DIR/cache-N` (a fresh cache directory under `dir` per call).
fn harden_cached(dir: &Path, args: &[&str]) -> Run {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let cache = dir.join(format!("cache-{n}"));
    let mut all: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    all.push(OsStr::new("--cache"));
    all.push(cache.as_os_str());
    crate::harness::oci_harden(&all)
}

/// Writes `text` to `dir/NAME` and returns the path as a string.
fn write_rules(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    fs::write(&p, text).expect("writing a rule set");
    p.to_str().expect("UTF-8").to_owned()
}

/// `skopeo inspect --raw REF` parsed.
fn skopeo_raw(reference: &str) -> Value {
    let mut args = vec!["inspect", "--raw"];
    if reference.starts_with("docker://") {
        args.push("--tls-verify=false");
    }
    args.push(reference);
    tool("skopeo", &args).ok().json()
}

/// `skopeo inspect --config REF` parsed.
fn skopeo_config(reference: &str) -> Value {
    let mut args = vec!["inspect", "--config"];
    if reference.starts_with("docker://") {
        args.push("--tls-verify=false");
    }
    args.push(reference);
    tool("skopeo", &args).ok().json()
}

/// The layer digests of a manifest.
fn layer_digests(manifest: &Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .unwrap_or_else(|| panic!("not an image manifest: {manifest}"))
        .iter()
        .map(|l| l["digest"].as_str().expect("a layer digest").to_owned())
        .collect()
}

/// `umoci unpack --image LAYOUT:TAG DIR/bundle`; returns the rootfs.
fn umoci_unpack(layout: &Path, tag: &str, dir: &Path) -> PathBuf {
    let bundle = dir.join("bundle");
    let image = format!("{}:{tag}", layout.display());
    tool("umoci", &["unpack", "--image", image.as_str(), bundle.to_str().expect("UTF-8")]).ok();
    bundle.join("rootfs")
}

/// The line of a colon database (`etc/passwd`, `etc/group`) for `name`.
fn db_line(rootfs: &Path, db: &str, name: &str) -> Option<String> {
    let text = fs::read_to_string(rootfs.join(db)).unwrap_or_else(|e| panic!("reading {db}: {e}"));
    text.lines().find(|l| l.split(':').next() == Some(name)).map(str::to_owned)
}

/// Every regular file under `root` with a setuid or setgid bit (relative paths).
fn setid_files(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
            let entry = entry.expect("a directory entry");
            let meta = fs::symlink_metadata(entry.path()).expect("lstat");
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() && meta.mode() & 0o6000 != 0 {
                found.push(entry.path().strip_prefix(root).expect("under root").display().to_string());
            }
        }
    }
    found.sort();
    found
}

/// The digest a `harden` run printed last (`DEST DIGEST`).
fn printed_digest(run: &Run) -> String {
    run.text().lines().last().and_then(|l| l.split_whitespace().last()).expect("a digest line").to_owned()
}

// ---------------------------------------------------------------------------------------
// 1. Alpine + builtin:strict, checked with umoci and skopeo

/// The Alpine example hardened with `builtin:strict` into a layout: umoci's unpack shows the
/// `app` account (10001:10001, Alpine's `/sbin/nologin` for the missing `/usr/sbin/nologin`)
/// in `/etc/passwd` and `/etc/group` and its home (0750, 10001:10001); skopeo shows the
/// config `User`, the rule set and base digest labels; the base layers are byte-identical
/// and exactly one layer is added.
#[test]
fn alpine_strict_verified_by_umoci_and_skopeo() {
    require_root();
    let t = tempdir();
    let src = alpine_copy(t.path());
    let out = t.path().join("out");
    let dst = oci_ref(&out, Some("hardened"));
    harden_cached(t.path(), &["harden", &src, &dst, "--rules", "builtin:strict", "-q"]).ok();

    let rootfs = umoci_unpack(&out, "hardened", t.path());
    assert_eq!(
        db_line(&rootfs, "etc/passwd", "app").as_deref(),
        Some("app:x:10001:10001::/home/app:/sbin/nologin"),
        "etc/passwd"
    );
    assert_eq!(db_line(&rootfs, "etc/group", "app").as_deref(), Some("app:x:10001:"), "etc/group");
    assert!(
        db_line(&rootfs, "etc/shadow", "app").is_some_and(|l| l.starts_with("app:!")),
        "a locked shadow entry for app"
    );
    let home = fs::symlink_metadata(rootfs.join("home/app")).expect("home/app exists");
    assert!(home.is_dir(), "home/app is a directory");
    assert_eq!((home.uid(), home.gid(), home.mode() & 0o7777), (10001, 10001, 0o750), "home/app owner and mode");
    // The rest of the image is still there (root's account kept).
    assert!(db_line(&rootfs, "etc/passwd", "root").is_some_and(|l| l.starts_with("root:x:0:0:")));

    let base_digest = skopeo_digest(&src, None);
    let config = skopeo_config(&dst);
    assert_eq!(config["config"]["User"], "10001:10001", "config User: {config:#}");
    let labels = &config["config"]["Labels"];
    assert_eq!(labels["io.oci-harden.rules"], "strict", "labels: {labels:#}");
    assert_eq!(labels["org.opencontainers.image.base.digest"], base_digest.as_str(), "labels: {labels:#}");
    assert!(labels["io.oci-harden.rules.digest"].as_str().is_some_and(|d| d.starts_with("sha256:")));
    let history = config["history"].as_array().expect("history");
    assert!(
        history.last().and_then(|h| h["created_by"].as_str()).is_some_and(|c| c.contains("oci-harden")),
        "a history entry naming oci-harden: {history:#?}"
    );

    let base = layer_digests(&skopeo_raw(&src));
    let hardened = layer_digests(&skopeo_raw(&dst));
    assert_eq!(hardened.len(), base.len() + 1, "exactly one layer added: {base:?} → {hardened:?}");
    assert_eq!(hardened[..base.len()], base[..], "base layers unchanged");
    assert_eq!(config["rootfs"]["diff_ids"].as_array().map(Vec::len), Some(hardened.len()), "diff_ids");
}

// ---------------------------------------------------------------------------------------
// 2. Debian + the peer rule set, and baseline's allow list

/// The mmdebstrap Debian image hardened with `benches/peer-rules.toml`: umoci's unpack has
/// no setuid/setgid regular file, the apt caches and `/tmp` exist with their original modes
/// and are empty, and `app` exists; `builtin:baseline` keeps setuid on `passwd` and `su`
/// (its allow list) but clears it on `mount`.
#[test]
fn debian_peer_rules_and_baseline_allow_list() {
    require_root();
    let deb = debian();
    let t = tempdir();
    let src = oci_ref(&deb.layout, Some("bookworm"));
    let rules = repo_root().join("benches/peer-rules.toml");
    let out = t.path().join("out");
    harden_cached(
        t.path(),
        &["harden", &src, &oci_ref(&out, Some("peer")), "--rules", rules.to_str().expect("UTF-8"), "-q"],
    )
    .ok();

    let orig_dir = t.path().join("orig");
    fs::create_dir_all(&orig_dir).expect("mkdir");
    let original = umoci_unpack(&deb.layout, "bookworm", &orig_dir);
    let orig_setid = setid_files(&original);
    for p in ["usr/bin/passwd", "usr/bin/su", "usr/bin/mount"] {
        assert!(orig_setid.iter().any(|f| f == p), "the Debian image should have setuid {p}: {orig_setid:?}");
    }

    let peer_dir = t.path().join("peer");
    fs::create_dir_all(&peer_dir).expect("mkdir");
    let rootfs = umoci_unpack(&out, "peer", &peer_dir);
    assert_eq!(setid_files(&rootfs), Vec::<String>::new(), "setuid/setgid files left");
    for dir in ["var/cache/apt", "var/lib/apt/lists", "tmp"] {
        let before = fs::symlink_metadata(original.join(dir)).unwrap_or_else(|e| panic!("original {dir}: {e}"));
        let after = fs::symlink_metadata(rootfs.join(dir)).unwrap_or_else(|e| panic!("hardened {dir} is gone: {e}"));
        assert!(after.is_dir(), "{dir} is still a directory");
        assert_eq!(
            (after.mode() & 0o7777, after.uid(), after.gid()),
            (before.mode() & 0o7777, before.uid(), before.gid()),
            "{dir} keeps its mode and owner"
        );
        let left: Vec<_> =
            fs::read_dir(rootfs.join(dir)).expect("read_dir").map(|e| e.expect("entry").file_name()).collect();
        assert!(left.is_empty(), "{dir} is not empty: {left:?}");
    }
    assert_eq!(fs::symlink_metadata(rootfs.join("tmp")).expect("tmp").mode() & 0o7777, 0o1777, "tmp stays 1777");
    assert_eq!(
        db_line(&rootfs, "etc/passwd", "app").as_deref(),
        Some("app:x:10001:10001::/home/app:/usr/sbin/nologin"),
        "etc/passwd"
    );
    assert_eq!(db_line(&rootfs, "etc/group", "app").as_deref(), Some("app:x:10001:"), "etc/group");
    assert_eq!(skopeo_config(&oci_ref(&out, Some("peer")))["config"]["User"], "10001:10001");

    harden_cached(t.path(), &["harden", &src, &oci_ref(&out, Some("baseline")), "--rules", "builtin:baseline", "-q"])
        .ok();
    let base_dir = t.path().join("baseline");
    fs::create_dir_all(&base_dir).expect("mkdir");
    let rootfs = umoci_unpack(&out, "baseline", &base_dir);
    let left = setid_files(&rootfs);
    for kept in ["usr/bin/passwd", "usr/bin/su"] {
        assert!(left.iter().any(|f| f == kept), "baseline allows setuid {kept}: {left:?}");
    }
    assert!(!left.iter().any(|f| f == "usr/bin/mount"), "baseline clears setuid on mount: {left:?}");
    assert!(
        left.iter().all(|f| f == "usr/bin/passwd" || f == "usr/bin/su" || f == "bin/su"),
        "only the allow list keeps setuid/setgid: {left:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 3. Reproducibility

/// Runs `oci-harden harden ARGS --cache CACHE` in `cwd` with `TZ` and (optionally)
/// `SOURCE_DATE_EPOCH`.
fn harden_in(cwd: &Path, tz: &str, epoch: Option<&str>, cache: &Path, args: &[&str]) -> Run {
    let mut command = Command::new(bin());
    command.args(args).arg("--cache").arg(cache).current_dir(cwd).env("TZ", tz).env_remove("SOURCE_DATE_EPOCH");
    if let Some(e) = epoch {
        command.env("SOURCE_DATE_EPOCH", e);
    }
    let out = command.output().expect("running oci-harden");
    Run {
        command: format!("oci-harden {} (cwd {}, TZ={tz}, SOURCE_DATE_EPOCH={epoch:?})", args.join(" "), cwd.display()),
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Hardening is reproducible: two processes with other working directories, `TZ` values
/// and caches give the same digest; hardening the result again gives it back; hardening the
/// strict result with other rules equals hardening the original with them (our layer
/// dropped, never piled up); `SOURCE_DATE_EPOCH=0` changes `created` (and the digest) and
/// is reproducible too.
#[test]
fn harden_is_reproducible_and_idempotent() {
    let t = tempdir();
    let p = t.path();
    let src = alpine_copy(p);
    for d in ["cwd-a", "cwd-b", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10"] {
        fs::create_dir_all(p.join(d)).expect("mkdir");
    }
    let out = |name: &str| oci_ref(&p.join(name), Some("h"));
    let strict = ["--rules", "builtin:strict", "-q"];
    let run = |cwd: &str, tz: &str, epoch: Option<&str>, cache: &str, src: &str, dst: &str, rules: &[&str]| {
        let mut args = vec!["harden", src, dst];
        args.extend(rules);
        harden_in(&p.join(cwd), tz, epoch, &p.join(cache), &args).ok();
        skopeo_digest(dst, None)
    };

    let d1 = run("cwd-a", "UTC", None, "c1", &src, &out("o1"), &strict);
    let d2 = run("cwd-b", "America/Los_Angeles", None, "c2", &src, &out("o2"), &strict);
    assert_eq!(d1, d2, "two runs (other cwd, TZ, cache) give other digests");
    assert_ne!(d1, skopeo_digest(&src, None), "strict changes the Alpine image");

    let base_layers = layer_digests(&skopeo_raw(&src)).len();
    let baseline = ["--rules", "builtin:baseline", "-q"];
    let b_orig = run("cwd-a", "UTC", None, "c4", &src, &out("o4"), &baseline);
    let b_strict = run("cwd-a", "UTC", None, "c5", &out("o1"), &out("o5"), &baseline);
    assert_eq!(b_strict, b_orig, "strict then baseline differs from baseline on the original");
    // Baseline has nothing to fix on the Alpine minirootfs (see the dry-run snapshot): no layer.
    assert_eq!(layer_digests(&skopeo_raw(&out("o5"))).len(), base_layers, "strict's layer was not dropped");

    // Rules with a file change: still exactly one layer over the original base.
    let marker = write_rules(
        p,
        "marker.toml",
        "[ruleset]\nname = \"marker\"\n\n[[rule]]\nid = \"motd\"\nkind = \"file-mode\"\npath = \"/etc/motd\"\n\
         mode = \"0644\"\ncontent = \"hardened\\n\"\n",
    );
    let marker_args = ["--rules", marker.as_str(), "-q"];
    let m_orig = run("cwd-a", "UTC", None, "c6", &src, &out("o6"), &marker_args);
    let m_strict = run("cwd-b", "UTC", None, "c7", &out("o1"), &out("o7"), &marker_args);
    assert_eq!(m_strict, m_orig, "strict then marker differs from marker on the original");
    let layers = layer_digests(&skopeo_raw(&out("o7")));
    assert_eq!(layers.len(), base_layers + 1, "one layer over the base, not {layers:?}");
    assert_eq!(layers[..base_layers], layer_digests(&skopeo_raw(&src))[..], "base layers kept");
    let cfg = skopeo_config(&out("o7"));
    assert!(cfg["config"]["User"].as_str().unwrap_or("").is_empty(), "strict's User was not restored: {cfg:#}");

    let e1 = run("cwd-a", "UTC", Some("0"), "c8", &src, &out("o8"), &strict);
    let e2 = run("cwd-b", "Europe/Paris", Some("0"), "c9", &src, &out("o9"), &strict);
    assert_eq!(e1, e2, "SOURCE_DATE_EPOCH=0 is not reproducible");
    assert_ne!(e1, d1, "SOURCE_DATE_EPOCH=0 gives the same digest as the default epoch");
    let created = skopeo_config(&out("o8"))["created"].clone();
    assert_eq!(created, "1970-01-01T00:00:00Z", "created with SOURCE_DATE_EPOCH=0");
    assert_ne!(skopeo_config(&out("o1"))["created"], created);

    // Last, in a fresh cache (the input is not in it): the same rules again give the same image.
    let again = run("cwd-b", "Asia/Kolkata", None, "c3", &out("o1"), &out("o3"), &strict);
    assert_eq!(again, d1, "hardening the hardened image with the same rules changes it");
}

// ---------------------------------------------------------------------------------------
// 4. Registry to registry, docker-archive

/// Against the real distribution registry: `harden HOST/alpine:3.20 HOST/hardened/alpine:3.20`
/// pushes an image whose config skopeo reads with the labels (base name and digest included)
/// and the `User`; a `docker-archive:` destination and source work too.
#[test]
fn registry_to_registry_and_docker_archive() {
    let t = tempdir();
    let src = alpine_copy(t.path());
    let registry = Registry::start(Auth::Anonymous);
    let home = Home::new();
    skopeo_push(&src, &registry.image("alpine:3.20"), None);
    let base_digest = skopeo_digest(&format!("docker://{}", registry.image("alpine:3.20")), None);

    let run = home.oci_harden(&[
        "harden",
        &registry.image("alpine:3.20"),
        &registry.image("hardened/alpine:3.20"),
        "--rules",
        "builtin:strict",
        "-q",
    ]);
    let run = run.ok();
    let pushed = format!("docker://{}", registry.image("hardened/alpine:3.20"));
    assert_eq!(printed_digest(&run), skopeo_digest(&pushed, None), "the printed digest is the pushed one");
    let config = skopeo_config(&pushed);
    assert_eq!(config["config"]["User"], "10001:10001");
    let labels = &config["config"]["Labels"];
    assert_eq!(labels["io.oci-harden.rules"], "strict", "{labels:#}");
    assert_eq!(labels["org.opencontainers.image.base.digest"], base_digest.as_str(), "{labels:#}");
    assert_eq!(labels["org.opencontainers.image.base.name"], registry.image("alpine:3.20").as_str(), "{labels:#}");
    let base = layer_digests(&skopeo_raw(&format!("docker://{}", registry.image("alpine:3.20"))));
    let hardened = layer_digests(&skopeo_raw(&pushed));
    assert_eq!((hardened.len(), &hardened[..base.len()]), (base.len() + 1, &base[..]), "one layer over the base");

    // docker-archive destination.
    let archive = t.path().join("hardened.tar");
    let archive_ref = format!("docker-archive:{}", archive.display());
    harden_cached(t.path(), &["harden", &src, &archive_ref, "--rules", "builtin:strict", "-q"]).ok();
    let config = skopeo_config(&archive_ref);
    assert_eq!(config["config"]["User"], "10001:10001", "docker-archive destination: {config:#}");
    assert_eq!(config["config"]["Labels"]["io.oci-harden.rules"], "strict");

    // docker-archive source (the original, as skopeo writes it: a Docker schema 2 image).
    // Written to a docker-archive too: skopeo 1.9 does not see Docker manifests in an OCI
    // layout, and the hardened image keeps the base's (Docker) media types.
    let plain = t.path().join("alpine.tar");
    let plain_ref = format!("docker-archive:{}", plain.display());
    tool("skopeo", &["copy", "--quiet", &src, &plain_ref]).ok();
    let out = t.path().join("from-archive.tar");
    let dst = format!("docker-archive:{}", out.display());
    harden_cached(t.path(), &["harden", &plain_ref, &dst, "--rules", "builtin:strict", "-q"]).ok();
    let config = skopeo_config(&dst);
    assert_eq!(config["config"]["User"], "10001:10001", "docker-archive source: {config:#}");
    assert_eq!(config["config"]["Labels"]["io.oci-harden.rules"], "strict", "docker-archive source: {config:#}");
    let base = layer_digests(&skopeo_raw(&plain_ref));
    let hardened = layer_digests(&skopeo_raw(&dst));
    assert_eq!((hardened.len(), &hardened[..base.len()]), (base.len() + 1, &base[..]), "one layer over the base");
}

// ---------------------------------------------------------------------------------------
// 5. Multi-platform

/// A rule that applies to any image: write `/etc/hardened`.
const MARKER_RULES: &str = "[ruleset]\nname = \"marker\"\n\n[[rule]]\nid = \"marker\"\nkind = \"file-mode\"\n\
                            path = \"/etc/hardened\"\nmode = \"0644\"\ncontent = \"yes\\n\"\n";

/// The platform entries (`os/arch`) of an index, skipping attestations (`unknown/unknown`).
fn platform_entries(index: &Value) -> Vec<(String, Value)> {
    index["manifests"]
        .as_array()
        .expect("an index")
        .iter()
        .map(|d| {
            (
                format!(
                    "{}/{}",
                    d["platform"]["os"].as_str().unwrap_or("?"),
                    d["platform"]["architecture"].as_str().unwrap_or("?")
                ),
                d.clone(),
            )
        })
        .collect()
}

/// The regclient index `v1` (linux/amd64, linux/arm64 and two `unknown/unknown` build
/// attestations) hardened with a file-writing rule: every platform's entry changes and
/// `skopeo copy --all` copies the new index; with `--platform linux/amd64` only that entry
/// changes and every other entry stays byte-identical.
#[test]
fn multi_platform_index() {
    let t = tempdir();
    let src_dir = t.path().join("src");
    copy_layout(&fixture("regclient-testrepo"), &src_dir);
    let src = oci_ref(&src_dir, Some("v1"));
    let rules = write_rules(t.path(), "marker.toml", MARKER_RULES);
    let before = platform_entries(&skopeo_raw(&src));
    let platforms: Vec<&str> = before.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64", "unknown/unknown", "unknown/unknown"], "fixture changed");

    let out = t.path().join("all");
    harden_cached(t.path(), &["harden", &src, &oci_ref(&out, Some("v1")), "--rules", &rules, "-q"]).ok();
    let after = platform_entries(&skopeo_raw(&oci_ref(&out, Some("v1"))));
    for ((p, old), (q, new)) in before.iter().zip(&after).filter(|((p, _), _)| !p.starts_with("unknown")) {
        assert_eq!(p, q, "platform order");
        assert_ne!(old["digest"], new["digest"], "{p} was not hardened");
        // skopeo 1.9's oci: transport cannot name a manifest by digest: read the blobs.
        let manifest = crate::harness::blob_json(&out, new["digest"].as_str().expect("digest"));
        let cfg = crate::harness::blob_json(&out, manifest["config"]["digest"].as_str().expect("config digest"));
        assert_eq!(cfg["config"]["Labels"]["io.oci-harden.rules"], "marker", "{p}: {cfg:#}");
    }
    let copy = t.path().join("copy");
    tool("skopeo", &["copy", "--quiet", "--all", &oci_ref(&out, Some("v1")), &oci_ref(&copy, Some("v1"))]).ok();

    let one = t.path().join("one");
    harden_cached(
        t.path(),
        &["harden", &src, &oci_ref(&one, Some("v1")), "--rules", &rules, "--platform", "linux/amd64", "-q"],
    )
    .ok();
    let after = platform_entries(&skopeo_raw(&oci_ref(&one, Some("v1"))));
    assert_eq!(after.len(), before.len(), "entries kept");
    for ((p, old), (_, new)) in before.iter().zip(&after) {
        if p == "linux/amd64" {
            assert_ne!(old["digest"], new["digest"], "linux/amd64 was not hardened");
        } else {
            assert_eq!(old, new, "{p} changed although only linux/amd64 was asked for");
        }
    }
    tool("skopeo", &["copy", "--quiet", "--all", &oci_ref(&one, Some("v1")), &oci_ref(&copy, Some("one"))]).ok();
}

// ---------------------------------------------------------------------------------------
// 6. Snapshots and check

/// The dry-run listing of the patch layer on the Alpine example. Baseline: nothing (the
/// minirootfs has no setuid file, empty caches and /tmp, locked accounts, no world-writable
/// file, no volumes). Strict adds the `app` account:
/// - `etc` (parent, with its metadata from the image),
/// - `etc/group`, `etc/passwd` (rewritten with the app lines),
/// - `etc/shadow` (root:shadow 0640 as in Alpine, with a locked `app:!` entry),
/// - `home` (parent, as in the image),
/// - `home/app` (0750, 10001:10001),
///
/// and the config edit `User = 10001:10001`.
#[test]
fn dry_run_snapshots() {
    let t = tempdir();
    let src = alpine_copy(t.path());
    let base = "sha256:cb1fa5c5f27b86c4cd4b24399f9693cabefb98c689258961e7c43ecc69973ed0 (linux/amd64)";
    let baseline = harden_cached(t.path(), &["harden", &src, "--dry-run", "--rules", "builtin:baseline"]).ok();
    assert_eq!(baseline.text().lines().collect::<Vec<_>>(), [format!("{base}: 0 patch layer entries")]);
    let strict = harden_cached(t.path(), &["harden", &src, "--dry-run", "--rules", "builtin:strict"]).ok();
    assert_eq!(
        strict.text().lines().collect::<Vec<_>>(),
        [
            format!("{base}: 6 patch layer entries"),
            "  drwxr-xr-x 0/0 etc".into(),
            "  -rw-r--r-- 0/0 etc/group".into(),
            "  -rw-r--r-- 0/0 etc/passwd".into(),
            "  -rw-r----- 0/42 etc/shadow".into(),
            "  drwxr-xr-x 0/0 home".into(),
            "  drwxr-x--- 10001/10001 home/app".into(),
            "  config: User(\"10001:10001\")".into(),
        ]
    );
}

/// `check --format json`: image, digest, rules (name, digest) and one result per rule with
/// id, kind, severity, action, result, detail, findings (path, message) and fixes; and
/// `--fail-on high` exits 1 on strict (app-user, high, fails) and 0 on baseline.
#[test]
fn check_json_shape_and_fail_on() {
    let t = tempdir();
    let src = alpine_copy(t.path());
    let home = Home::new();
    let doc = home.oci_harden(&["check", &src, "--rules", "builtin:strict", "--format", "json"]).ok().json();
    let mut keys: Vec<&str> = doc.as_object().expect("an object").keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["digest", "image", "results", "rules"]);
    assert_eq!(doc["digest"], skopeo_digest(&src, None).as_str());
    assert_eq!(doc["rules"]["name"], "strict");
    assert!(doc["rules"]["digest"].as_str().is_some_and(|d| d.starts_with("sha256:") && d.len() == 71));
    let results = doc["results"].as_array().expect("results");
    let ids: Vec<&str> = results.iter().map(|r| r["id"].as_str().expect("id")).collect();
    assert_eq!(
        ids,
        [
            "no-setuid",
            "no-caches",
            "locked-accounts",
            "no-world-writable",
            "no-sensitive-volumes",
            "no-secrets",
            "nologin-shells",
            "app-user",
            "no-package-manager",
            "no-shells"
        ]
    );
    for r in results {
        let mut k: Vec<&str> = r.as_object().expect("object").keys().map(String::as_str).collect();
        k.sort();
        assert_eq!(k, ["action", "detail", "findings", "fixes", "id", "kind", "result", "severity"], "{r:#}");
    }
    let app = results.iter().find(|r| r["id"] == "app-user").expect("app-user");
    assert_eq!(
        (&app["kind"], &app["severity"], &app["action"], &app["result"]),
        (&"user".into(), &"high".into(), &"fix".into(), &"fail".into())
    );
    assert_eq!(app["findings"].as_array().map(Vec::len), Some(5), "{app:#}");
    assert_eq!(
        app["findings"][0],
        serde_json::json!({"path": "/etc/passwd", "message": "account app (10001:10001) added"})
    );
    assert_eq!(results[0]["result"], "pass");
    assert_eq!(results[0]["detail"], Value::Null);

    let strict = home.oci_harden(&["check", &src, "--rules", "builtin:strict", "--fail-on", "high"]);
    assert_eq!(strict.code, Some(1), "strict --fail-on high:\n{}", strict.describe());
    home.oci_harden(&["check", &src, "--rules", "builtin:baseline", "--fail-on", "high"]).ok();
}

// ---------------------------------------------------------------------------------------
// 7. Bad input

/// Bad rule sets exit 2 naming the file line and rule, and write nothing: an unknown kind,
/// a typo in a key (`run_as`), a path with `..`. Rules that refuse on this image — a user
/// whose uid is root's or `bin`'s, `remove-shells` (fix, not forced) when the Cmd is
/// `/bin/sh` — make `harden` fail with the rule's message and write no image.
#[test]
fn bad_rule_sets_are_refused() {
    let t = tempdir();
    let p = t.path();
    let src = alpine_copy(p);
    let head = "[ruleset]\nname = \"bad\"\n\n[[rule]]\n";
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "kind",
            "id = \"x\"\nkind = \"strip-setuidd\"\n",
            &["line 6 (rule \"x\")", "unknown kind \"strip-setuidd\"", "did you mean `strip-setuid`"],
        ),
        (
            "typo",
            "id = \"app-user\"\nkind = \"user\"\nname = \"app\"\nuid = 10001\ngid = 10001\nrun_as = true\n",
            &["line 10 (rule \"app-user\")", "unknown key `run_as`", "did you mean `run-as`"],
        ),
        (
            "dotdot",
            "id = \"caches\"\nkind = \"remove-contents\"\npaths = [\"/var/cache/../etc\"]\n",
            &["line 7 (rule \"caches\")", "contains `..`"],
        ),
        (
            "uid0",
            "id = \"dup-uid\"\nkind = \"user\"\nname = \"app\"\nuid = 0\ngid = 10001\n",
            &["dup-uid", "uid 0 is already used by account \"root\""],
        ),
        (
            "uid1",
            "id = \"dup-uid\"\nkind = \"user\"\nname = \"app\"\nuid = 1\ngid = 10001\n",
            &["dup-uid", "uid 1 is already used by account \"bin\""],
        ),
        (
            "shells",
            "id = \"no-shells\"\nkind = \"remove-shells\"\nforce = false\naction = \"fix\"\n",
            &["no-shells", "the entrypoint runs /bin/sh", "force = true"],
        ),
    ];
    let mut failures = Vec::new();
    for (name, rule, needles) in cases {
        let rules = write_rules(p, &format!("{name}.toml"), &format!("{head}{rule}"));
        let out = p.join(format!("out-{name}"));
        let run = harden_cached(p, &["harden", &src, &oci_ref(&out, Some("x")), "--rules", &rules]);
        let problem = if run.code != Some(2) {
            Some(format!("exit code {:?}, not 2", run.code))
        } else if let Some(n) = needles.iter().find(|n| !run.stderr.contains(*n)) {
            Some(format!("stderr lacks {n:?}"))
        } else if out.exists() {
            Some("an image was written".to_owned())
        } else {
            None
        };
        if let Some(problem) = problem {
            failures.push(format!("{name}: {problem}\n{}", run.describe()));
        }
    }
    assert!(failures.is_empty(), "{} bad rule set(s) not refused:\n{}", failures.len(), failures.join("\n\n"));
}

// ---------------------------------------------------------------------------------------
// 8. The kinds the built-in profiles do not use

/// One rule set with `remove-paths`, `env`, `labels`, `annotations` and `file-mode`
/// (a written file and a symlink), for the Alpine example.
const KINDS_RULES: &str = r#"[ruleset]
name = "kinds"

[[rule]]
id = "trim"
kind = "remove-paths"
paths = ["/etc/motd", "/usr/share/apk/keys/*", "/etc/apk/keys/*.rsa.pub"]

[[rule]]
id = "env"
kind = "env"
set = { FOO = "bar" }
unset = ["PATH"]

[[rule]]
id = "team"
kind = "labels"
set = { "org.example.team" = "platform" }

[[rule]]
id = "note"
kind = "annotations"
set = { "org.example.note" = "hardened" }

[[rule]]
id = "issue-net"
kind = "file-mode"
path = "/etc/issue.net"
file-type = "file"
content = "Authorised use only.\n"
mode = "0600"
uid = 0
gid = 0

[[rule]]
id = "banner"
kind = "file-mode"
path = "/etc/banner"
file-type = "symlink"
target = "/etc/issue.net"
"#;

/// The names in a directory, sorted.
fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The Alpine example hardened with [`KINDS_RULES`], checked with umoci, skopeo and tar:
/// the removed paths (`/etc/motd`, every child of `/usr/share/apk/keys`, the `*.rsa.pub`
/// files of `/etc/apk/keys`) are gone from umoci's unpack while their directories and the
/// neighbours stay, and the added layer carries `.wh.` entries for them (not for the
/// directories); `/etc/issue.net` is a regular file with the content, 0600, 0:0;
/// `/etc/banner` is a symlink to `/etc/issue.net`; the config `Env` is exactly `FOO=bar`
/// (PATH unset) and has the label; the manifest has the annotation; exactly one layer is
/// added over the byte-identical base layer.
#[test]
fn alpine_kinds_not_in_profiles_verified_by_umoci_and_skopeo() {
    require_root();
    let t = tempdir();
    let src = alpine_copy(t.path());
    let rules = write_rules(t.path(), "kinds.toml", KINDS_RULES);
    let out = t.path().join("out");
    let dst = oci_ref(&out, Some("kinds"));
    harden_cached(t.path(), &["harden", &src, &dst, "--rules", &rules, "-q"]).ok();

    // The original has what is removed (so its absence below means something).
    let orig_dir = t.path().join("orig");
    fs::create_dir_all(&orig_dir).expect("mkdir");
    let original = umoci_unpack(&t.path().join("src"), "3.20", &orig_dir);
    assert!(original.join("etc/motd").is_file(), "the example has etc/motd");
    let orig_keys = dir_names(&original.join("usr/share/apk/keys"));
    assert!(orig_keys.iter().any(|k| k == "x86_64") && orig_keys.len() > 10, "usr/share/apk/keys: {orig_keys:?}");
    let orig_etc_keys = dir_names(&original.join("etc/apk/keys"));
    assert_eq!(orig_etc_keys.len(), 5, "etc/apk/keys: {orig_etc_keys:?}");
    assert!(!original.join("etc/issue.net").exists() && !original.join("etc/banner").exists());

    let hard_dir = t.path().join("hardened");
    fs::create_dir_all(&hard_dir).expect("mkdir");
    let rootfs = umoci_unpack(&out, "kinds", &hard_dir);
    assert!(fs::symlink_metadata(rootfs.join("etc/motd")).is_err(), "etc/motd is still there");
    for dir in ["usr/share/apk/keys", "etc/apk/keys"] {
        assert!(rootfs.join(dir).is_dir(), "{dir} (the parent of removed paths) is gone");
        assert_eq!(dir_names(&rootfs.join(dir)), Vec::<String>::new(), "{dir} still has children");
    }
    for kept in ["etc/issue", "etc/os-release", "etc/apk/world", "usr/share/apk"] {
        assert!(fs::symlink_metadata(rootfs.join(kept)).is_ok(), "{kept} was removed too");
    }
    let issue = fs::symlink_metadata(rootfs.join("etc/issue.net")).expect("etc/issue.net exists");
    assert!(issue.is_file(), "etc/issue.net is a regular file");
    assert_eq!((issue.mode() & 0o7777, issue.uid(), issue.gid()), (0o600, 0, 0), "etc/issue.net mode and owner");
    assert_eq!(fs::read_to_string(rootfs.join("etc/issue.net")).expect("read"), "Authorised use only.\n");
    let banner = fs::symlink_metadata(rootfs.join("etc/banner")).expect("etc/banner exists");
    assert!(banner.file_type().is_symlink(), "etc/banner is a symlink");
    assert_eq!(fs::read_link(rootfs.join("etc/banner")).expect("readlink"), Path::new("/etc/issue.net"));

    let config = skopeo_config(&dst);
    assert_eq!(config["config"]["Env"], serde_json::json!(["FOO=bar"]), "Env: {config:#}");
    assert_eq!(config["config"]["Labels"]["org.example.team"], "platform", "labels: {config:#}");
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["/bin/sh"]), "Cmd kept: {config:#}");
    let manifest = skopeo_raw(&dst);
    assert_eq!(manifest["annotations"]["org.example.note"], "hardened", "manifest: {manifest:#}");

    let base = layer_digests(&skopeo_raw(&src));
    let hardened = layer_digests(&manifest);
    assert_eq!(hardened.len(), base.len() + 1, "exactly one layer added: {base:?} → {hardened:?}");
    assert_eq!(hardened[..base.len()], base[..], "base layers unchanged");

    // The added layer, listed by tar: whiteouts for the removed paths only.
    let layer = crate::harness::blob_path(&out, hardened.last().expect("a layer"));
    let listing = tool("tar", &[OsStr::new("-tzf"), layer.as_os_str()]).ok();
    let names: Vec<&str> = listing.text().lines().map(|l| l.trim_start_matches("./").trim_end_matches('/')).collect();
    let whiteouts: Vec<&str> = names.iter().copied().filter(|n| n.contains(".wh.")).collect();
    assert!(names.contains(&"etc/.wh.motd"), "no etc/.wh.motd in {names:?}");
    assert!(names.contains(&"usr/share/apk/keys/.wh.x86_64"), "no whiteout for keys/x86_64 in {names:?}");
    assert_eq!(whiteouts.len(), 1 + orig_keys.len() + orig_etc_keys.len(), "whiteouts: {whiteouts:?}");
    assert!(
        !whiteouts.iter().any(|w| w.ends_with(".wh.keys") || w.ends_with(".wh.apk") || w.contains(".wh..wh..opq")),
        "a whiteout of a kept directory: {whiteouts:?}"
    );
    assert!(names.contains(&"etc/issue.net") && names.contains(&"etc/banner"), "{names:?}");
}

/// `env` rules chain: the second rule unsets `BAZ`, which the first one set ("rules see the
/// changes planned by the fix rules before them"), so the hardened config has `PATH` and
/// `FOO=bar` and no `BAZ` (regression: config rules read the original config). The two
/// rules contradict each other, so a fresh `check` of the result flags the first one
/// again (and only it, for BAZ); hardening the result with the same rules is still a no-op.
#[test]
fn env_rules_see_earlier_env_rules() {
    let t = tempdir();
    let src = alpine_copy(t.path());
    let rules = write_rules(
        t.path(),
        "env.toml",
        "[ruleset]\nname = \"env-chain\"\n\n[[rule]]\nid = \"env-set\"\nkind = \"env\"\n\
         set = { FOO = \"bar\", BAZ = \"qux\" }\n\n[[rule]]\nid = \"env-unset\"\nkind = \"env\"\nunset = [\"BAZ\"]\n",
    );
    let out = t.path().join("out");
    let dst = oci_ref(&out, Some("env"));
    harden_cached(t.path(), &["harden", &src, &dst, "--rules", &rules, "-q"]).ok();
    let env = skopeo_config(&dst)["config"]["Env"].clone();
    assert_eq!(
        env,
        serde_json::json!(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "FOO=bar"]),
        "Env after set {{FOO, BAZ}} then unset [BAZ]"
    );
    let doc = harden_cached(t.path(), &["check", &dst, "--rules", &rules, "--format", "json"]).ok().json();
    let results: Vec<(String, String)> = doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| (r["id"].as_str().unwrap_or("?").to_owned(), r["result"].as_str().unwrap_or("?").to_owned()))
        .collect();
    assert_eq!(
        results,
        [("env-set".to_owned(), "fail".to_owned()), ("env-unset".to_owned(), "fail".to_owned())],
        "{doc:#}"
    );
    let findings = doc["results"][0]["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 1, "only BAZ is flagged: {doc:#}");
    let again = oci_ref(&t.path().join("again"), Some("env"));
    let first = harden_cached(t.path(), &["harden", &dst, &again, "--rules", &rules, "-q"]).ok();
    assert!(
        first.text().contains(doc["digest"].as_str().expect("digest")),
        "re-hardening changed the image: {}",
        first.text()
    );
}

/// A `healthcheck` rule: every duration and the retry count.
const HEALTHCHECK_RULES: &str = "[ruleset]\nname = \"health\"\n\n[[rule]]\nid = \"health\"\nkind = \"healthcheck\"\n\
                                 test = [\"CMD\", \"/bin/true\"]\ninterval = \"30s\"\ntimeout = \"1m30s\"\nretries = 3\n";

/// An OCI layout at `dst` (tag `latest`) holding the Docker schema 2 busybox fixture: its
/// manifest, config and layer copied into `blobs/sha256` under the digests its manifest
/// gives (checked), and an `index.json` entry with the Docker manifest media type.
fn busybox_docker_layout(dst: &Path) {
    let fx = fixture("images/busybox-v2s2");
    let manifest_bytes = fs::read(fx.join("manifest.json")).expect("reading the manifest");
    let manifest: Value = serde_json::from_slice(&manifest_bytes).expect("manifest JSON");
    let blobs = dst.join("blobs/sha256");
    fs::create_dir_all(&blobs).expect("mkdir");
    let put = |bytes: &[u8], want: Option<&str>| {
        let digest = crate::harness::digest_of(bytes);
        if let Some(w) = want {
            assert_eq!(digest, w, "fixture blob digest");
        }
        fs::write(crate::harness::blob_path(dst, &digest), bytes).expect("writing a blob");
        digest
    };
    let manifest_digest = put(&manifest_bytes, None);
    put(&fs::read(fx.join("config.json")).expect("config"), manifest["config"]["digest"].as_str());
    put(&fs::read(fx.join("blob.tar.gz")).expect("layer"), manifest["layers"][0]["digest"].as_str());
    fs::write(dst.join("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}").expect("oci-layout");
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": manifest["mediaType"],
            "digest": manifest_digest,
            "size": manifest_bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": "latest"}
        }]
    });
    fs::write(dst.join("index.json"), index.to_string()).expect("index.json");
}

/// `healthcheck` on the OCI-typed Alpine example: `check --format json` gives `skip` with
/// a reason saying HEALTHCHECK is Docker-only, and `harden` writes no Healthcheck. On the
/// Docker schema 2 busybox image (in an OCI layout): `harden` writes a Docker-typed
/// manifest and config whose `Healthcheck` has the Test array, the durations in
/// nanoseconds and the retries, adds no layer, and `check` then passes.
#[test]
fn healthcheck_skipped_on_oci_and_set_on_docker() {
    let t = tempdir();
    let src = alpine_copy(t.path());
    let rules = write_rules(t.path(), "health.toml", HEALTHCHECK_RULES);

    let doc = harden_cached(t.path(), &["check", &src, "--rules", &rules, "--format", "json"]).ok().json();
    let r = &doc["results"][0];
    assert_eq!(
        (&r["id"], &r["kind"], &r["result"]),
        (&"health".into(), &"healthcheck".into(), &"skip".into()),
        "{r:#}"
    );
    let detail = r["detail"].as_str().unwrap_or_else(|| panic!("no skip reason: {r:#}"));
    assert!(detail.contains("Docker images only") && detail.contains("OCI"), "skip reason: {detail}");
    assert_eq!(r["findings"], serde_json::json!([]), "{r:#}");
    let oci_out = oci_ref(&t.path().join("oci-out"), Some("h"));
    harden_cached(t.path(), &["harden", &src, &oci_out, "--rules", &rules, "-q"]).ok();
    let cfg = skopeo_config(&oci_out);
    assert!(cfg["config"].get("Healthcheck").is_none(), "an OCI image got a Healthcheck: {cfg:#}");

    let docker = t.path().join("busybox");
    busybox_docker_layout(&docker);
    let docker_src = oci_ref(&docker, Some("latest"));
    let before = harden_cached(t.path(), &["check", &docker_src, "--rules", &rules, "--format", "json"]).ok().json();
    assert_eq!(before["results"][0]["result"], "fail", "{before:#}");
    let out = t.path().join("docker-out");
    let dst = oci_ref(&out, Some("h"));
    harden_cached(t.path(), &["harden", &docker_src, &dst, "--rules", &rules, "-q"]).ok();

    let desc = crate::harness::tagged(&out, "h");
    assert_eq!(desc["mediaType"], "application/vnd.docker.distribution.manifest.v2+json", "{desc:#}");
    let manifest_digest = desc["digest"].as_str().expect("digest");
    let manifest_bytes = fs::read(crate::harness::blob_path(&out, manifest_digest)).expect("manifest blob");
    assert_eq!(crate::harness::digest_of(&manifest_bytes), manifest_digest, "manifest blob digest");
    let manifest: Value = serde_json::from_slice(&manifest_bytes).expect("manifest JSON");
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.docker.container.image.v1+json", "{manifest:#}");
    let config_digest = manifest["config"]["digest"].as_str().expect("config digest");
    let config_bytes = fs::read(crate::harness::blob_path(&out, config_digest)).expect("config blob");
    assert_eq!(crate::harness::digest_of(&config_bytes), config_digest, "config blob digest");
    assert_eq!(manifest["config"]["size"], config_bytes.len(), "config size");
    let config: Value = serde_json::from_slice(&config_bytes).expect("config JSON");
    assert_eq!(
        config["config"]["Healthcheck"],
        serde_json::json!({"Test": ["CMD", "/bin/true"], "Interval": 30_000_000_000u64,
                           "Timeout": 90_000_000_000u64, "Retries": 3}),
        "config: {config:#}"
    );
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["sh"]), "Cmd kept");
    let base = layer_digests(&read_manifest_fixture());
    assert_eq!(layer_digests(&manifest), base, "a config-only change added or changed a layer");
    let after = harden_cached(t.path(), &["check", &dst, "--rules", &rules, "--format", "json"]).ok().json();
    assert_eq!(after["results"][0]["result"], "pass", "{after:#}");
}

/// The busybox fixture's manifest.
fn read_manifest_fixture() -> Value {
    crate::harness::read_json(&fixture("images/busybox-v2s2/manifest.json"))
}

/// The Alpine example plus `/usr/local/bin/start.sh` (`#!/bin/sh`, 0755), with
/// `Entrypoint = ["/usr/local/bin/start.sh"]` and no Cmd, built with umoci
/// (unpack, repack, config) in `dir/script`; returns `oci:DIR/script:script`.
fn alpine_with_script_entrypoint(dir: &Path) -> String {
    let layout = dir.join("script");
    copy_layout(&example_layout(), &layout);
    let bundle = dir.join("script-bundle");
    let l = layout.to_str().expect("UTF-8");
    let b = bundle.to_str().expect("UTF-8");
    tool("umoci", &["unpack", "--image", &format!("{l}:3.20"), b]).ok();
    let script = bundle.join("rootfs/usr/local/bin/start.sh");
    fs::create_dir_all(script.parent().expect("parent")).expect("mkdir");
    fs::write(&script, "#!/bin/sh\nexec echo started\n").expect("writing start.sh");
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    tool("umoci", &["repack", "--image", &format!("{l}:script"), b]).ok();
    tool(
        "umoci",
        &[
            "config",
            "--image",
            &format!("{l}:script"),
            "--config.entrypoint",
            "/usr/local/bin/start.sh",
            "--clear=config.cmd",
        ],
    )
    .ok();
    oci_ref(&layout, Some("script"))
}

/// `remove-shells` when the Entrypoint is a shell script (`#!/bin/sh`) and there is no Cmd:
/// with `force = false` `harden` exits 2 naming the rule, the script and `/bin/sh` and
/// pointing at `force = true`, and writes nothing (`check` reports `error`); with
/// `force = true` it succeeds: `/bin/sh` is gone from umoci's unpack, `busybox` and the
/// script stay, the Entrypoint is kept.
#[test]
fn remove_shells_refuses_a_shell_script_entrypoint_unless_forced() {
    require_root();
    let t = tempdir();
    let src = alpine_with_script_entrypoint(t.path());
    let cfg = skopeo_config(&src);
    assert_eq!(cfg["config"]["Entrypoint"], serde_json::json!(["/usr/local/bin/start.sh"]), "{cfg:#}");
    assert!(cfg["config"].get("Cmd").is_none_or(Value::is_null), "the Cmd must be cleared: {cfg:#}");

    let rules = |force: bool| {
        write_rules(
            t.path(),
            &format!("shells-{force}.toml"),
            &format!(
                "[ruleset]\nname = \"shells\"\n\n[[rule]]\nid = \"no-shells\"\nkind = \"remove-shells\"\n\
                 action = \"fix\"\nforce = {force}\n"
            ),
        )
    };
    let refused = t.path().join("refused");
    let stderr = harden_cached(t.path(), &["harden", &src, &oci_ref(&refused, Some("x")), "--rules", &rules(false)])
        .fails_with(&["no-shells", "/usr/local/bin/start.sh", "/bin/sh", "force = true"]);
    assert!(stderr.contains("entrypoint"), "the refusal does not mention the entrypoint: {stderr}");
    assert!(!refused.exists(), "an image was written although the rule refused");
    let doc = harden_cached(t.path(), &["check", &src, "--rules", &rules(false), "--format", "json"]).json();
    assert_eq!(doc["results"][0]["result"], "error", "check of the refusing rule: {doc:#}");

    let out = t.path().join("forced");
    harden_cached(t.path(), &["harden", &src, &oci_ref(&out, Some("x")), "--rules", &rules(true), "-q"]).ok();
    let rootfs = umoci_unpack(&out, "x", t.path());
    assert!(fs::symlink_metadata(rootfs.join("bin/sh")).is_err(), "bin/sh is still there");
    assert!(rootfs.join("bin/busybox").is_file(), "busybox itself stays");
    assert!(rootfs.join("usr/local/bin/start.sh").is_file(), "the script stays");
    let cfg = skopeo_config(&oci_ref(&out, Some("x")));
    assert_eq!(cfg["config"]["Entrypoint"], serde_json::json!(["/usr/local/bin/start.sh"]), "{cfg:#}");
}

/// The Alpine example plus work for the rules the fixtures never give any (built with umoci
/// in `dir/work`): a world-writable file and a world-writable non-sticky directory, an
/// account `guest` with an empty password and a login shell, a private key in
/// `/root/.ssh/id_rsa`, and `VOLUME /proc`. Returns `oci:DIR/work:work`.
fn alpine_with_work(dir: &Path) -> String {
    let layout = dir.join("work");
    copy_layout(&example_layout(), &layout);
    let bundle = dir.join("work-bundle");
    let (l, b) = (layout.to_str().expect("UTF-8"), bundle.to_str().expect("UTF-8"));
    tool("umoci", &["unpack", "--image", &format!("{l}:3.20"), b]).ok();
    let root = bundle.join("rootfs");
    let mode =
        |p: &Path, m: u32| fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(m)).expect("chmod");
    mode(&root.join("etc/issue"), 0o666);
    fs::create_dir_all(root.join("opt/pub")).expect("mkdir");
    mode(&root.join("opt/pub"), 0o777);
    let append = |rel: &str, line: &str| {
        let mut text = fs::read_to_string(root.join(rel)).expect("read");
        text.push_str(line);
        fs::write(root.join(rel), text).expect("write");
    };
    append("etc/passwd", "guest:x:1100:1100::/home/guest:/bin/sh\n");
    append("etc/group", "guest:x:1100:\n");
    append("etc/shadow", "guest::19000:0:99999:7:::\n");
    fs::create_dir_all(root.join("root/.ssh")).expect("mkdir");
    fs::write(
        root.join("root/.ssh/id_rsa"),
        "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
    )
    .expect("key");
    tool("umoci", &["repack", "--image", &format!("{l}:work"), b]).ok();
    tool("umoci", &["config", "--image", &format!("{l}:work"), "--config.volume", "/proc"]).ok();
    oci_ref(&layout, Some("work"))
}

/// The six kinds that find nothing to change on the fixture images, each given work and
/// verified with independent tools after one `harden`: `world-writable` (file and
/// non-sticky directory lose o+w; sticky /tmp keeps it), `lock-accounts` (the empty
/// password becomes locked), `nologin-shells` (guest's shell), `secrets` (the key is
/// whited out), `volumes` (/proc removed from the config), `remove-package-manager`
/// with `force` (apk gone, its database kept); exactly one layer added.
#[test]
fn kinds_with_work_verified_by_umoci_and_skopeo() {
    require_root();
    let t = tempdir();
    let src = alpine_with_work(t.path());
    assert!(skopeo_config(&src)["config"]["Volumes"].get("/proc").is_some(), "the fixture must declare VOLUME /proc");
    let rules = write_rules(
        t.path(),
        "work.toml",
        "[ruleset]\nname = \"work\"\n\n[[rule]]\nid = \"ww\"\nkind = \"world-writable\"\n\n\
         [[rule]]\nid = \"lock\"\nkind = \"lock-accounts\"\n\n[[rule]]\nid = \"nologin\"\nkind = \"nologin-shells\"\n\n\
         [[rule]]\nid = \"secrets\"\nkind = \"secrets\"\n\n[[rule]]\nid = \"vol\"\nkind = \"volumes\"\n\n\
         [[rule]]\nid = \"pm\"\nkind = \"remove-package-manager\"\nforce = true\n",
    );
    let out = t.path().join("out");
    let dst = oci_ref(&out, Some("x"));
    harden_cached(t.path(), &["harden", &src, &dst, "--rules", &rules, "-q"]).ok();

    let root = umoci_unpack(&out, "x", t.path());
    let perm = |rel: &str| {
        std::os::unix::fs::PermissionsExt::mode(&fs::symlink_metadata(root.join(rel)).expect(rel).permissions())
            & 0o7777
    };
    assert_eq!(perm("etc/issue") & 0o002, 0, "etc/issue still world-writable: {:o}", perm("etc/issue"));
    assert_eq!(perm("opt/pub") & 0o002, 0, "opt/pub still world-writable: {:o}", perm("opt/pub"));
    assert_eq!(perm("tmp"), 0o1777, "the sticky /tmp keeps its mode");
    let shadow = fs::read_to_string(root.join("etc/shadow")).expect("shadow");
    let guest = shadow.lines().find(|l| l.starts_with("guest:")).expect("guest in shadow");
    assert!(guest.split(':').nth(1).is_some_and(|p| p.starts_with('!')), "guest not locked: {guest}");
    let passwd = fs::read_to_string(root.join("etc/passwd")).expect("passwd");
    let guest = passwd.lines().find(|l| l.starts_with("guest:")).expect("guest in passwd");
    assert!(guest.ends_with("nologin"), "guest keeps a login shell: {guest}");
    assert!(passwd.lines().next().is_some_and(|l| l.ends_with("/bin/sh")), "root keeps its shell");
    assert!(fs::symlink_metadata(root.join("root/.ssh/id_rsa")).is_err(), "the private key is still there");
    assert!(fs::symlink_metadata(root.join("sbin/apk")).is_err(), "apk is still there");
    assert!(root.join("lib/apk/db/installed").is_file(), "the package database must stay for scanners");

    let cfg = skopeo_config(&dst);
    assert!(cfg["config"]["Volumes"].get("/proc").is_none(), "VOLUME /proc kept: {cfg:#}");
    let (before, after) = (layer_digests(&skopeo_raw(&src)), layer_digests(&skopeo_raw(&dst)));
    assert_eq!(after.len(), before.len() + 1, "exactly one layer added");
    assert_eq!(after[..before.len()], before[..], "base layers unchanged");
}
