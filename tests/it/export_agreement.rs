//! `oci-harden export` agrees with `umoci unpack`, entry by entry: the same paths, and for
//! each the same type, permission bits (with setuid/setgid/sticky), owner, size, symlink
//! target and content. umoci is an independent implementation of the OCI layer rules
//! (whiteouts, opaque directories, replacement of files by directories and back), so an
//! agreement on real multi-layer images is strong evidence that our merge is right.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::Path;

use crate::harness::{
    Kind, Tree, assert_same_tree, blob_json, blob_path, example_layout, export_tree, fixture, ls_long_paths,
    oci_harden, oci_ref, sha256_hex, tagged, tempdir, tool, tree_from_tar, tree_mismatch, umoci_image, umoci_tree,
    umoci_upgrade_image,
};

/// Exports `tag` of `layout` with oci-harden and unpacks it with umoci, and lists it with
/// `oci-harden ls --long`. Describes every disagreement in `failures` (the trees differ, or
/// ls and export list different paths) and returns umoci's tree.
fn compare(layout: &Path, tag: &str, failures: &mut Vec<String>) -> Tree {
    let tmp = tempdir();
    let reference = oci_ref(layout, Some(tag));
    let ours = export_tree(&reference, tmp.path());
    let theirs = umoci_tree(layout, tag, tmp.path());
    failures.extend(tree_mismatch(&reference, "oci-harden export", &ours, "umoci unpack", &theirs));
    failures.extend(ls_mismatch(&reference, &ours));
    theirs
}

/// Asserts that oci-harden exports `tag` of `layout` as umoci unpacks it and lists the same
/// paths with `ls --long`.
#[track_caller]
fn agree(layout: &Path, tag: &str) -> Tree {
    let mut failures = Vec::new();
    let tree = compare(layout, tag, &mut failures);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    tree
}

/// Whether `oci-harden ls --long REFERENCE` lists exactly the paths of `exported`.
fn ls_mismatch(reference: &str, exported: &Tree) -> Option<String> {
    let exported: BTreeSet<&str> = exported.keys().map(String::as_str).collect();
    let run = oci_harden(&["ls", "--long", reference]).ok();
    let listed = ls_long_paths(run.text());
    let listed: BTreeSet<&str> = listed.iter().map(String::as_str).collect();
    let only_ls: Vec<_> = listed.difference(&exported).take(20).collect();
    let only_export: Vec<_> = exported.difference(&listed).take(20).collect();
    (!only_ls.is_empty() || !only_export.is_empty()).then(|| {
        format!(
            "{reference}: ls --long and export disagree\n  only in ls: {only_ls:?}\n  only in export: {only_export:?}"
        )
    })
}

/// The umoci-built Alpine image (see [`crate::harness::umoci_image`]: umoci's own whiteouts for deleted
/// files and directories, type changes, hardlinks, special modes, owners, long names,
/// fifos, then hand-written `.wh.` and opaque entries) exports exactly as umoci unpacks
/// it, at every tag.
///
/// The image really holds what its layers promise, which is checked on umoci's side:
/// otherwise both sides dropping a case would agree vacuously.
///
/// Regression: a file below a symlink to a directory (`etc/ssl1.1/certs/x`, where
/// `etc/ssl1.1/certs -> /etc/ssl/certs`) must land in the symlink's target, as umoci and
/// container runtimes put it, not replace the symlink by a directory.
#[test]
fn umoci_built_image_exports_like_umoci_unpacks() {
    let image = umoci_image();
    let mut failures = Vec::new();
    let kind = |t: &Tree, p: &str| t.get(p).map(|m| m.kind);
    let mode = |t: &Tree, p: &str| t.get(p).and_then(|m| m.mode);

    let v2 = compare(&image.layout, "v2", &mut failures);
    assert_eq!(kind(&v2, "etc/motd"), None);
    assert_eq!(kind(&v2, "etc/apk/keys"), None);
    assert!(!v2.keys().any(|k| k.starts_with("usr/share/apk")));
    assert_eq!(kind(&v2, "etc/hostname"), Some(Kind::Dir));
    assert_eq!(kind(&v2, "etc/hostname/inside"), Some(Kind::File));
    assert_eq!(kind(&v2, "etc/opt"), Some(Kind::File));
    assert_eq!(kind(&v2, "etc/mtab"), Some(Kind::File));
    assert_eq!(mode(&v2, "opt/app/bin/suid"), Some(0o4755));
    assert_eq!(mode(&v2, "opt/app/bin/sgid"), Some(0o2711));
    assert_eq!(mode(&v2, "opt/app/odd/none"), Some(0));
    assert_eq!(mode(&v2, "opt/app/odd/all-special"), Some(0o7777));
    assert_eq!(mode(&v2, "opt/app/sticky"), Some(0o1777));
    assert_eq!(v2.get("opt/app/owned").map(|m| (m.uid, m.gid)), Some((1234, 5678)));
    assert_eq!(kind(&v2, "opt/app/fifo"), Some(Kind::Fifo));
    assert!(v2.keys().any(|k| k.len() > 100 && k.ends_with("long-file-name.txt")));
    assert!(v2["opt/app/long-link"].link.as_ref().is_some_and(|l| l.len() > 100));
    let network: Vec<&String> = v2.keys().filter(|k| k.starts_with("etc/network/")).collect();
    assert_eq!(network, ["etc/network/interfaces"]);
    assert_eq!(v2["opt/app/bin/tool"].sha256, v2["opt/app/bin/tool-again"].sha256);

    let v3 = compare(&image.layout, "v3", &mut failures);
    assert_eq!(kind(&v3, "opt/app/bin/tool"), None);
    assert_eq!(kind(&v3, "opt/app/bin/tool-again"), Some(Kind::File));
    assert_eq!(kind(&v3, "etc/hostname"), Some(Kind::Symlink));
    assert_eq!(mode(&v3, "etc/passwd"), Some(0o600));
    assert_eq!(v3["etc/issue"].sha256, v3["etc/alpine-release"].sha256);

    let raw = compare(&image.layout, "raw", &mut failures);
    assert_eq!(kind(&raw, "etc/hosts"), None);
    let apk: Vec<&String> = raw.keys().filter(|k| k.starts_with("etc/apk/")).collect();
    assert_eq!(apk, ["etc/apk/world"]);
    let periodic: Vec<&String> = raw.keys().filter(|k| k.starts_with("etc/periodic/")).collect();
    assert_eq!(periodic, ["etc/periodic/new"]);
    assert_eq!(mode(&raw, "etc/periodic"), Some(0o700));
    assert_eq!(kind(&raw, "etc/protocols"), None);
    assert_eq!(raw["etc/protocols-link"].sha256, v3["etc/protocols"].sha256);
    assert_eq!(raw["etc/shells-link"].sha256, v3["etc/shells"].sha256);
    assert_ne!(raw["etc/shells"].sha256, v3["etc/shells"].sha256);
    assert_eq!(kind(&raw, "etc/ssl/certs/via-symlink.pem"), Some(Kind::File));
    assert_eq!(kind(&raw, "etc/ssl1.1/certs"), Some(Kind::Symlink));
    let owned = &raw["etc/setuid-owned"];
    assert_eq!((owned.mode, owned.uid, owned.gid), (Some(0o4750), 1234, 5678));

    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// An Alpine 3.19 → 3.20 upgrade recorded by umoci as one layer over 3.19 (hundreds of
/// replaced files, new ones, whiteouts for removed files and whole directories) exports
/// exactly as umoci unpacks it.
#[test]
fn alpine_upgrade_layer_exports_like_umoci_unpacks() {
    let image = umoci_upgrade_image();
    let manifest = blob_json(&image.layout, tagged(&image.layout, "upgraded")["digest"].as_str().expect("digest"));
    let top = manifest["layers"].as_array().and_then(|l| l.last()).expect("layers")["digest"].as_str().expect("digest");
    let whiteouts = gzip_tar_paths(&blob_path(&image.layout, top)).into_iter().filter(|p| p.contains(".wh.")).count();
    assert!(whiteouts >= 5, "the upgrade layer should hold whiteouts, it has {whiteouts}");

    let tree = agree(&image.layout, "upgraded");
    assert_eq!(tree["etc/alpine-release"].sha256.as_deref(), Some(sha256_hex(b"3.20.3\n").as_str()));
    for gone in ["etc/init.d", "etc/ssl/misc", "lib/mdev", "etc/udhcpd.conf"] {
        assert!(!tree.contains_key(gone), "/{gone} was removed in 3.20");
    }
}

/// The paths in a gzip-compressed tar.
fn gzip_tar_paths(path: &Path) -> Vec<String> {
    let file = std::fs::File::open(path).expect("layer blob");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    archive
        .entries()
        .expect("tar")
        .map(|e| String::from_utf8(e.expect("tar entry").path_bytes().into_owned()).expect("UTF-8"))
        .collect()
}

/// The shipped example (`examples/alpine:3.20`) exports exactly as umoci unpacks it.
#[test]
fn shipped_example_exports_like_umoci_unpacks() {
    let tree = agree(&example_layout(), "3.20");
    assert!(tree.len() > 400, "the Alpine rootfs has more than {} paths", tree.len());
}

/// The ggcr `docker save` tarballs with whiteouts, whited-out directories and overwritten
/// files export as umoci unpacks them. We read them with `oci-harden copy docker-archive:F
/// oci:DIR:t`; umoci 0.4 refuses Docker media types, so its side is the same archive
/// converted to OCI by skopeo (an independent reader of `docker save` archives).
#[test]
fn docker_archives_export_like_umoci_unpacks() {
    let cases: [(&str, &[&str]); 3] = [
        ("whiteout_image.tar", &["bar.txt"]),
        ("whiteout_dir.tar", &["a", "a/baz", "b", "b/bar"]),
        ("overwritten_file.tar", &["bar.txt", "foo.txt"]),
    ];
    for (name, expected) in cases {
        let archive = fixture(&format!("ggcr-mutate/{name}"));
        let tmp = tempdir();
        let ours = tmp.path().join("ours");
        let theirs = tmp.path().join("theirs");
        let src = format!("docker-archive:{}", archive.display());
        oci_harden(&["copy", "--quiet", &src, &oci_ref(&ours, Some("t"))]).ok();
        tool("skopeo", &["copy", "--quiet", &src, &oci_ref(&theirs, Some("t"))]).ok();
        let ours_tree = export_tree(&oci_ref(&ours, Some("t")), tmp.path());
        let theirs_tree = umoci_tree(&theirs, "t", tmp.path());
        assert_same_tree(name, "oci-harden export", &ours_tree, "umoci unpack (via skopeo)", &theirs_tree);
        assert_eq!(theirs_tree.keys().collect::<Vec<_>>(), expected, "{name}: the fixture's final paths");
        if let Some(m) = ls_mismatch(&oci_ref(&ours, Some("t")), &ours_tree) {
            panic!("{m}");
        }
        // Exporting straight from the archive gives the same tar as from the copy.
        let direct = tmp.path().join("direct.tar");
        oci_harden(&[OsStr::new("export"), src.as_ref(), direct.as_os_str()]).ok();
        assert_same_tree(name, "export of the archive", &tree_from_tar(&direct), "export of the copy", &ours_tree);
    }
}
