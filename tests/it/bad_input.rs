//! Hostile and broken input: each case fails with exit code 2 and a message that names
//! what is wrong (the path, digest or entry), or, where the input is legal but odd, is
//! accepted exactly as the OCI rules say, without anything escaping the image root.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::harness::{
    Kind, RawLayout, TarLayer, blob_path, example_layout, export_tree, oci_harden, oci_ref, tagged, tempdir, umoci_tree,
};

/// A layout at `dir/layout` holding one image (tag `t`) made of the given layer tars.
fn hostile_image(dir: &Path, layers: &[Vec<u8>]) -> (PathBuf, String) {
    let path = dir.join("layout");
    let mut layout = RawLayout::create(&path);
    let image = layout.image(layers);
    layout.tag("t", &image);
    let reference = oci_ref(&path, Some("t"));
    (path, reference)
}

/// A copy of the shipped example in `dir/copy` (tag `t`), and its one layer's digest.
fn example_copy(dir: &Path) -> (PathBuf, String) {
    let copy = dir.join("copy");
    oci_harden(&["copy", "--quiet", &oci_ref(&example_layout(), Some("3.20")), &oci_ref(&copy, Some("t"))]).ok();
    let manifest = crate::harness::blob_json(&copy, tagged(&copy, "t")["digest"].as_str().expect("digest"));
    let layer = manifest["layers"][0]["digest"].as_str().expect("a layer").to_owned();
    (copy, layer)
}

/// Runs `export REFERENCE dir/out/export.tar`, expecting failure with `needles` in the
/// message, and checks that nothing was left behind: no output file, no temporary file
/// (export writes atomically).
fn export_fails(reference: &str, dir: &Path, needles: &[&str]) -> String {
    let out_dir = dir.join("out");
    fs::create_dir_all(&out_dir).expect("mkdir");
    let out = out_dir.join("export.tar");
    let stderr = oci_harden(&["export", reference, out.to_str().expect("UTF-8")]).fails_with(needles);
    let left: Vec<_> = fs::read_dir(&out_dir).expect("ls").map(|e| e.expect("entry").file_name()).collect();
    assert!(left.is_empty(), "a failed export left files behind: {left:?}");
    stderr
}

/// A layer blob whose bytes no longer match its digest (one byte of the gzip header's
/// mtime changed: still valid gzip, same size, other bytes) is refused by `export` with
/// "digest mismatch" and the layer's digest, and no output file is left; `ls` refuses it
/// too when it reads the layer. With the layer's content indexed before (the layer index
/// cache, by digest and diff_id), `ls` reads no byte of the blob and lists what the digest
/// names, exactly as before the damage; `verify` is what finds a damaged layout.
#[test]
fn corrupt_layer_blob_is_a_digest_mismatch() {
    let tmp = tempdir();
    let (copy, layer) = example_copy(tmp.path());
    let cache = tmp.path().join("cache");
    let cache = cache.to_str().expect("UTF-8");
    let reference = oci_ref(&copy, Some("t"));
    let listing = oci_harden(&["ls", &reference, "--cache", cache]).ok().stdout;
    let path = blob_path(&copy, &layer);
    let mut bytes = fs::read(&path).expect("layer blob");
    assert_eq!(&bytes[..3], &[0x1f, 0x8b, 8], "a gzip layer");
    bytes[4] ^= 0x55; // MTIME: not covered by gzip's own checks
    fs::write(&path, &bytes).expect("corrupting the blob");
    export_fails(&reference, tmp.path(), &["digest mismatch", &layer]);
    oci_harden(&["ls", &reference, "--cache", cache, "--no-index-cache"]).fails_with(&["digest mismatch", &layer]);
    assert_eq!(oci_harden(&["ls", &reference, "--cache", cache]).ok().stdout, listing, "replayed from the index");
    let verify = oci_harden(&["verify", &reference]);
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.code == Some(1) && report.contains("digest-mismatch") && report.contains(&layer), "{report}");
}

/// The same damage met where the layer is only copied. With its content indexed before,
/// `harden` does not read the layer to evaluate the rules, so the copy of the base layer
/// into the destination is what meets it (from the cache, which holds the layer since the
/// first run, damaged there too; its bytes are hashed once, as they are written). It fails
/// with a digest mismatch naming the layer, and the destination holds no blob and no tag;
/// `copy` of the damaged source refuses it the same way, naming the source.
#[test]
fn a_damaged_base_layer_is_refused_when_copied_into_the_destination() {
    let tmp = tempdir();
    let (copy, layer) = example_copy(tmp.path());
    let cache = tmp.path().join("cache");
    let cache = cache.to_str().expect("UTF-8");
    let reference = oci_ref(&copy, Some("t"));
    let first = tmp.path().join("first");
    oci_harden(&["harden", "--quiet", "--cache", cache, &reference, &oci_ref(&first, Some("h"))]).ok();
    assert!(first.join("blobs/sha256").join(layer.trim_start_matches("sha256:")).is_file());
    for damaged in [blob_path(&copy, &layer), blob_path(Path::new(cache), &layer)] {
        let mut bytes = fs::read(&damaged).expect("layer blob");
        bytes[4] ^= 0x55; // the gzip header's MTIME: still valid gzip, other bytes
        fs::write(&damaged, &bytes).expect("corrupting the blob");
    }
    let source = format!("in {reference}", reference = oci_ref(&copy, None));
    for (command, dest, names) in [("harden", "hardened", "digest mismatch"), ("copy", "copied", source.as_str())] {
        let dest = tmp.path().join(dest);
        let args = [command, "--quiet", "--cache", cache, &reference, &oci_ref(&dest, Some("h"))];
        oci_harden(&args).fails_with(&["digest mismatch", &layer, names]);
        let blob = dest.join("blobs/sha256").join(layer.trim_start_matches("sha256:"));
        assert!(!blob.exists(), "{command} left the damaged layer in its destination");
        let index = fs::read_to_string(dest.join("index.json")).unwrap_or_default();
        assert!(!index.contains("\"h\""), "{command} tagged an image: {index}");
        let temporary: Vec<_> = walk(&dest)
            .into_iter()
            .filter(|p| !p.ends_with("index.json") && !p.ends_with("oci-layout"))
            .filter(|p| p.is_file())
            .collect();
        assert!(temporary.iter().all(|p| !p.to_string_lossy().contains(".tmp")), "{command} left {temporary:?}");
    }
}

/// Every path under `dir` (none when it does not exist).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

/// A layer blob with one byte flipped in the middle of its compressed data fails export
/// (as a corrupt layer, or a digest mismatch, whichever is seen first), naming the layer.
#[test]
fn corrupt_compressed_data_names_the_layer() {
    let tmp = tempdir();
    let (copy, layer) = example_copy(tmp.path());
    let path = blob_path(&copy, &layer);
    let mut bytes = fs::read(&path).expect("layer blob");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&path, &bytes).expect("corrupting the blob");
    let stderr = export_fails(&oci_ref(&copy, Some("t")), tmp.path(), &[&layer]);
    assert!(
        stderr.contains("digest mismatch") || stderr.contains("corrupt layer"),
        "expected a digest mismatch or a corrupt layer:\n{stderr}"
    );
}

/// A config blob whose bytes no longer match its digest (one letter changed, same size) is
/// refused by `inspect`, naming the config's digest.
#[test]
fn corrupt_config_is_a_digest_mismatch() {
    let tmp = tempdir();
    let (copy, _) = example_copy(tmp.path());
    let manifest = crate::harness::blob_json(&copy, tagged(&copy, "t")["digest"].as_str().expect("digest"));
    let config = manifest["config"]["digest"].as_str().expect("config").to_owned();
    let path = blob_path(&copy, &config);
    let text = fs::read_to_string(&path).expect("config").replacen("amd64", "amd65", 1);
    fs::write(&path, text).expect("corrupting the config");
    oci_harden(&["inspect", &oci_ref(&copy, Some("t"))]).fails_with(&["digest mismatch", &config]);
}

/// A truncated gzip layer (half its bytes, nothing else fixed up) is refused by `export`,
/// naming the layer: as a size mismatch, a corrupt layer or a digest mismatch.
#[test]
fn truncated_layer_is_refused() {
    let tmp = tempdir();
    let (copy, layer) = example_copy(tmp.path());
    let path = blob_path(&copy, &layer);
    let bytes = fs::read(&path).expect("layer blob");
    fs::write(&path, &bytes[..bytes.len() / 2]).expect("truncating the blob");
    let stderr = export_fails(&oci_ref(&copy, Some("t")), tmp.path(), &[&layer]);
    assert!(
        ["size mismatch", "corrupt layer", "digest mismatch"].iter().any(|n| stderr.contains(n)),
        "expected a size mismatch, corrupt layer or digest mismatch:\n{stderr}"
    );
}

/// A tar entry `../../etc/passwd` is refused (it would be written outside the root),
/// naming the entry.
#[test]
fn dot_dot_entry_is_refused() {
    let tmp = tempdir();
    let layer =
        TarLayer::new().file("ok", 0o644, b"fine\n").raw_file("../../etc/passwd", b"root::0:0::/:/bin/sh\n").finish();
    let (_, reference) = hostile_image(tmp.path(), &[layer]);
    export_fails(&reference, tmp.path(), &["\"../../etc/passwd\"", "unsafe entry"]);
    oci_harden(&["ls", &reference]).fails_with(&["\"../../etc/passwd\""]);
}

/// A GNU long name of 16 MiB (a header claiming it, then the bytes) is refused from its
/// header, before the name is read into memory, naming the layer and the limit: `export`,
/// `ls` and `sbom` exit 2 with nothing written. A long name within the limit (3000 bytes)
/// is read as the path.
#[test]
fn over_long_path_is_refused_before_it_is_read() {
    let tmp = tempdir();
    let mut layer = Vec::new();
    let long_name = |size: u64| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::GNULongName);
        h.set_path("././@LongLink").expect("path");
        h.set_size(size);
        h.set_cksum();
        h
    };
    let mut fine = "d/".repeat(1499).into_bytes();
    fine.extend_from_slice(b"f\0");
    layer.extend_from_slice(long_name(fine.len() as u64).as_bytes());
    layer.extend_from_slice(&fine);
    layer.resize(layer.len().next_multiple_of(512), 0);
    layer.extend_from_slice(&TarLayer::new().file("ignored", 0o644, b"ok\n").finish()[..1024]);
    let ok_layer = [layer.clone(), vec![0; 1024]].concat();
    let size = 16u64 << 20;
    layer.extend_from_slice(long_name(size).as_bytes());
    layer.resize(layer.len() + size as usize, b'a');
    layer.extend_from_slice(&TarLayer::new().file("victim", 0o644, b"x\n").finish());
    let (_, reference) = hostile_image(&tmp.path().join("bad"), &[layer]);
    let needles = ["GNU long name of 16777216 bytes", "exceeds the limit of 4096 bytes"];
    export_fails(&reference, tmp.path(), &needles);
    oci_harden(&["ls", &reference]).fails_with(&needles);
    oci_harden(&["sbom", &reference]).fails_with(&needles);
    let (_, reference) = hostile_image(&tmp.path().join("ok"), &[ok_layer]);
    let listing = oci_harden(&["ls", &reference]).ok();
    assert!(
        String::from_utf8_lossy(&listing.stdout).contains(&format!("{}f", "d/".repeat(1499))),
        "{}",
        listing.describe()
    );
}

/// A tar entry with an absolute path `/etc/passwd` is refused, naming the entry.
#[test]
fn absolute_entry_is_refused() {
    let tmp = tempdir();
    let layer = TarLayer::new().raw_file("/etc/passwd", b"root::0:0::/:/bin/sh\n").finish();
    let (_, reference) = hostile_image(tmp.path(), &[layer]);
    export_fails(&reference, tmp.path(), &["\"/etc/passwd\"", "unsafe entry"]);
}

/// A hardlink whose target is outside the root (`../../etc/shadow`) is refused, naming the
/// target.
#[test]
fn hardlink_outside_the_root_is_refused() {
    let tmp = tempdir();
    let layer = TarLayer::new().hardlink("shadow", "../../etc/shadow").finish();
    let (_, reference) = hostile_image(tmp.path(), &[layer]);
    export_fails(&reference, tmp.path(), &["../../etc/shadow", "shadow"]);
}

/// A symlink pointing outside the root is legal: it is accepted and recorded exactly as
/// written (`ls --long` shows the target), and never followed out of the image. A later
/// entry below a symlink to a directory (`evil -> ../../../../tmp`, then `evil/x`) lands in
/// the symlink's target resolved inside the root (`tmp/x`), as umoci puts it too; the
/// symlink stays a symlink, and nothing is written outside the image.
///
/// Regression: the parent of an entry was resolved without following its last component,
/// so `evil/x` replaced the symlink `evil` by a directory (a warning said so) instead of
/// landing in `tmp/x`.
#[test]
fn symlinks_out_of_the_root_are_recorded_and_never_followed() {
    let tmp = tempdir();
    let marker = format!("oci-harden-escape-{}", std::process::id());
    let layer1 = TarLayer::new()
        .symlink("passwd", "../../../../etc/passwd")
        .symlink("evil", "../../../../tmp")
        .dir("tmp", 0o1777)
        .finish();
    let layer2 = TarLayer::new().file(&format!("evil/{marker}"), 0o644, b"inside\n").finish();
    let (layout, reference) = hostile_image(tmp.path(), &[layer1, layer2]);

    let ls = oci_harden(&["ls", "--long", &reference]).ok();
    assert!(ls.text().contains("passwd -> ../../../../etc/passwd"), "ls --long:\n{}", ls.text());
    assert!(ls.text().contains("evil -> ../../../../tmp"), "ls --long:\n{}", ls.text());

    let ours = export_tree(&reference, &tmp.path().join("export"));
    let at_tmp = format!("tmp/{marker}");
    let under_evil = format!("evil/{marker}");
    assert!(!Path::new("/tmp").join(&marker).exists(), "a file was written outside the image");
    let theirs = umoci_tree(&layout, "t", tmp.path());
    assert_eq!(theirs.get("evil").map(|m| m.kind), Some(Kind::Symlink), "umoci keeps the symlink");
    assert!(theirs.contains_key(&at_tmp), "umoci puts the file in tmp/");
    assert_eq!(ours.get("passwd").and_then(|m| m.link.as_deref()), Some("../../../../etc/passwd"));
    assert_eq!(
        ours.get("evil").map(|m| (m.kind, m.link.as_deref())),
        Some((Kind::Symlink, Some("../../../../tmp"))),
        "the symlink must stay as written"
    );
    assert!(ours.contains_key(&at_tmp), "the export lacks /{at_tmp}; it has: {:?}", ours.keys().collect::<Vec<_>>());
    assert!(!ours.contains_key(&under_evil), "the export has /{under_evil}: the symlink was replaced");
}

/// A whiteout for a path that no lower layer has is accepted, with a `warning:` line on
/// stderr naming the path; the rest of the image is intact.
#[test]
fn whiteout_for_a_missing_path_warns() {
    let tmp = tempdir();
    let layer1 = TarLayer::new().file("here", 0o644, b"here\n").finish();
    let layer2 = TarLayer::new().whiteout("nothing-here").finish();
    let (_, reference) = hostile_image(tmp.path(), &[layer1, layer2]);
    let run = oci_harden(&["ls", &reference]).ok();
    assert_eq!(run.text(), "here\n");
    let warning =
        run.stderr.lines().find(|l| l.starts_with("warning:")).unwrap_or_else(|| panic!("no warning:\n{}", run.stderr));
    assert!(warning.contains("nothing-here"), "the warning does not name the path: {warning}");
    let out = tmp.path().join("export.tar");
    let export = oci_harden(&["export", &reference, out.to_str().expect("UTF-8")]).ok();
    assert!(export.stderr.contains("nothing-here"), "export does not warn:\n{}", export.stderr);
}

/// A manifest that is not JSON is refused, naming its digest.
#[test]
fn manifest_that_is_not_json_is_refused() {
    let tmp = tempdir();
    let mut layout = RawLayout::create(&tmp.path().join("layout"));
    let manifest = layout.blob("application/vnd.oci.image.manifest.v1+json", b"this is not JSON {");
    layout.tag("t", &manifest);
    let reference = oci_ref(&layout.dir, Some("t"));
    oci_harden(&["inspect", &reference]).fails_with(&[&manifest.digest]);
    oci_harden(&["ls", &reference]).fails_with(&[&manifest.digest]);
    export_fails(&reference, tmp.path(), &[&manifest.digest]);
}

/// An index cannot truly contain its own digest: content addressing makes the digest a
/// function of the bytes, so bytes naming their own digest would be a sha256 fixed point.
/// The closest a hostile layout can come is a blob stored under the name X whose content
/// lists X as a child. It must be refused (as a digest mismatch, or as a self-reference),
/// with an error naming X, never followed in a loop.
#[test]
fn index_that_references_itself_is_refused() {
    let tmp = tempdir();
    let mut layout = RawLayout::create(&tmp.path().join("layout"));
    let x = format!("sha256:{}", "5e1f".repeat(16));
    let index_with_size = |size: usize| {
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": x, "size": size,
                           "platform": {"os": "linux", "architecture": "amd64"}}],
        }))
        .expect("JSON")
    };
    // The child entry's size is the blob's own size, so the self-reference is exact but for
    // the digest.
    let mut size = 0;
    let body = loop {
        let body = index_with_size(size);
        if body.len() == size {
            break body;
        }
        size = body.len();
    };
    layout.blob_named(&x, &body);
    let desc = crate::harness::Desc {
        digest: x.clone(),
        json: json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": x, "size": body.len()}),
    };
    layout.tag("t", &desc);
    let reference = oci_ref(&layout.dir, Some("t"));
    oci_harden(&["inspect", &reference]).fails_with(&[&x]);
    oci_harden(&["ls", "--platform", "linux/amd64", &reference]).fails_with(&[&x]);
    let dst = oci_ref(&tmp.path().join("copy"), Some("t"));
    oci_harden(&["copy", &reference, &dst]).fails_with(&[&x]);
}

/// A chain of indexes nested deeper than the limit (8) is refused, naming an index of the
/// chain, instead of being followed without end.
#[test]
fn deeply_nested_indexes_are_refused() {
    let tmp = tempdir();
    let mut layout = RawLayout::create(&tmp.path().join("layout"));
    let mut child = layout.image(&[TarLayer::new().file("f", 0o644, b"f\n").finish()]);
    let mut chain = Vec::new();
    for _ in 0..12 {
        let mut entry = child.json.clone();
        entry["platform"] = json!({"os": "linux", "architecture": "amd64"});
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [entry],
        }))
        .expect("JSON");
        child = layout.blob("application/vnd.oci.image.index.v1+json", &index);
        chain.push(child.digest.clone());
    }
    layout.tag("t", &child);
    let reference = oci_ref(&layout.dir, Some("t"));
    let stderr = oci_harden(&["ls", "--platform", "linux/amd64", &reference]).fails_with(&["nested deeper"]);
    assert!(chain.iter().any(|d| stderr.contains(d.as_str())), "the error names no index of the chain:\n{stderr}");
    let dst = oci_ref(&tmp.path().join("copy"), Some("t"));
    oci_harden(&["copy", &reference, &dst]).fails_with(&["nested deeper"]);
}

/// A gzip bomb: 1 GiB of zeros from ~1 MiB of input (1024 identical gzip members, each
/// inflating 1 MiB of zeros). The guard stops it once 256 MiB are out and the ratio of
/// output to consumed input passes 250, naming the layer: bounded time, no memory growth.
/// The layer's diff_id is deliberately wrong: the check must trip before the end of the
/// stream, where the diff_id would be compared.
#[test]
fn gzip_bomb_is_stopped() {
    use std::io::Write;
    let mut member = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    member.write_all(&vec![0u8; 1 << 20]).expect("gzip");
    let member = member.finish().expect("gzip");
    let bomb: Vec<u8> = member.iter().copied().cycle().take(member.len() * 1024).collect();
    let tmp = tempdir();
    let layout = RawLayout::create(&tmp.path().join("layout"));
    let layer = layout.blob("application/vnd.oci.image.layer.v1.tar+gzip", &bomb);
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [crate::harness::digest_of(b"")]},
    }))
    .expect("JSON");
    let config = layout.blob("application/vnd.oci.image.config.v1+json", &config);
    let image = layout.manifest(&config.json, std::slice::from_ref(&layer.json));
    let mut layout = layout;
    layout.tag("t", &image);
    let stderr = export_fails(&oci_ref(&layout.dir, Some("t")), tmp.path(), &["decompression bomb", &layer.digest]);
    assert!(stderr.contains("max_ratio"), "the message should say which limit to raise:\n{stderr}");
}
