//! Inventories of small images written in a temporary layout.

use oci_core::testing::write_layers;
use oci_core::{EntryMeta, ImageSource, MergedFs, OciLayout};

use super::*;
use crate::os::OsFamily;

const BOOKWORM: &[u8] = b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n\
    VERSION_CODENAME=bookworm\n";
const ALPINE: &[u8] = b"ID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME=\"Alpine Linux v3.20\"\n";

/// One layer: entries (path, metadata, content); `None` metadata means a regular file.
type Layer<'a> = Vec<(&'a str, Option<EntryMeta>, &'a [u8])>;

/// A layout holding one image, and its merged filesystem.
struct Fixture {
    _dir: tempfile::TempDir,
    fs: MergedFs,
}

fn image(layers: &[Layer<'_>]) -> Fixture {
    image_with(layers, |_| false)
}

fn image_with(layers: &[Layer<'_>], capture: impl Fn(&str) -> bool + Send + Sync + 'static) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).unwrap();
    let layers: Vec<Vec<(&str, EntryMeta, &[u8])>> = layers
        .iter()
        .map(|l| {
            l.iter()
                .map(|(p, m, c)| (*p, m.clone().unwrap_or_else(|| EntryMeta::file(0o644, c.len() as u64)), *c))
                .collect()
        })
        .collect();
    write_layers(&layout, "t", &layers).unwrap();
    let source = ImageSource::open(&format!("oci:{}:t", dir.path().display()).parse().unwrap()).unwrap();
    let fs = MergedFs::build_capturing(&source.image(None).unwrap(), capture).unwrap();
    Fixture { _dir: dir, fs }
}

fn stanza(name: &str, version: &str) -> String {
    format!("Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n\n")
}

fn status(packages: &[(&str, &str)]) -> Vec<u8> {
    packages.iter().map(|(n, v)| stanza(n, v)).collect::<String>().into_bytes()
}

/// `name version @layer` per package.
fn layers_of(inv: &Inventory) -> Vec<String> {
    inv.packages.iter().map(|p| format!("{} {} @{}", p.name, p.version, p.layer.map_or(-1, |l| l as i64))).collect()
}

const STATUS: &str = "var/lib/dpkg/status";

#[test]
fn single_layer_alpine_needs_no_layer_pass() {
    let installed = include_bytes!(
        "../../../../tests/fixtures/dpkg/alpine-minirootfs-apk-installed/alpine-3.20.3-x86_64-installed"
    );
    let f = image_with(
        &[vec![("etc/os-release", None, ALPINE), ("lib/apk/db/installed", None, installed)]],
        crate::inventory_paths,
    );
    let inv = inventory(&f.fs, "2025-01-01").unwrap();
    let os = inv.os.as_ref().unwrap();
    assert_eq!((os.id.as_str(), os.version_id.as_deref(), os.family), ("alpine", Some("3.20.3"), OsFamily::Alpine));
    assert_eq!(inv.packages.len(), 14);
    assert!(inv.packages.iter().all(|p| p.layer == Some(0) && p.db_path == "/lib/apk/db/installed"));
    assert_eq!(inv.packages[0].name, "alpine-baselayout", "sorted by name");
    assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);
}

#[test]
fn layers_follow_installs_upgrades_and_reinstalls() {
    let s0 = status(&[("a", "1.0"), ("b", "1.0"), ("c", "1.0")]);
    let s1 = status(&[("a", "1.0"), ("b", "2.0"), ("c", "1.0")]);
    let s2 = status(&[("a", "1.0"), ("b", "2.0")]);
    let s3 = status(&[("a", "1.0"), ("b", "2.0"), ("c", "1.0"), ("d", "1:0.1-1")]);
    let f = image(&[
        vec![("etc/os-release", None, BOOKWORM), (STATUS, None, &s0)],
        vec![(STATUS, None, &s1), ("usr/bin/b", None, b"b2")],
        vec![(STATUS, None, &s2)],
        vec![("srv/unrelated", None, b"x")],
        vec![(STATUS, None, &s3)],
        vec![("srv/app", None, b"app")],
    ]);
    let inv = inventory(&f.fs, "2025-01-01").unwrap();
    assert_eq!(layers_of(&inv), ["a 1.0 @0", "b 2.0 @1", "c 1.0 @4", "d 1:0.1-1 @4"]);
    assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);
}

#[test]
fn whiteouts_and_opaque_directories_reset_layers() {
    let s = status(&[("a", "1.0")]);
    let f = image(&[
        vec![(STATUS, None, &s)],
        vec![("var/lib/dpkg/.wh.status", None, b"")],
        vec![(STATUS, None, &s)],
        vec![("var/lib/.wh..wh..opq", None, b""), ("var/lib/keep", None, b"k")],
        vec![(STATUS, None, &s)],
    ]);
    assert_eq!(layers_of(&inventory(&f.fs, "2025-01-01").unwrap()), ["a 1.0 @4"]);
}

#[test]
fn distroless_status_d() {
    let garbage = b"this is not a stanza\n\xff\xfe";
    let f = image(&[
        vec![
            ("etc/os-release", None, BOOKWORM),
            (
                "var/lib/dpkg/status.d/base-files",
                None,
                b"Package: base-files\nVersion: 12.4+deb12u7\nArchitecture: amd64\n",
            ),
            ("var/lib/dpkg/status.d/base-files.md5sums", None, b"0123  etc/os-release\n"),
            ("var/lib/dpkg/status.d/tzdata", None, b"Package: tzdata\nVersion: 2024a-0+deb12u1\n"),
        ],
        vec![
            (
                "var/lib/dpkg/status.d/libssl3",
                None,
                b"Package: libssl3\nStatus: install ok installed\nSource: openssl\nVersion: 3.0.14-1~deb12u2\n",
            ),
            ("var/lib/dpkg/status.d/broken", None, garbage),
        ],
        vec![("var/lib/dpkg/status.d/.wh.tzdata", None, b"")],
    ]);
    let inv = inventory(&f.fs, "2025-01-01").unwrap();
    let os = inv.os.as_ref().unwrap();
    assert!(os.distroless && os.family == OsFamily::Debian);
    assert_eq!(layers_of(&inv), ["base-files 12.4+deb12u7 @0", "libssl3 3.0.14-1~deb12u2 @1"]);
    let ssl = &inv.packages[1];
    assert_eq!((ssl.source_name.as_str(), ssl.db_path.as_str()), ("openssl", "/var/lib/dpkg/status.d/libssl3"));
    assert_eq!(ssl.status.as_deref(), Some("installed"));
    assert_eq!(inv.packages[0].status, None);
    assert_eq!(
        inv.warnings,
        ["package database /var/lib/dpkg/status.d/broken: line 1: expected `Field: value`, found \"this is not a \
          stanza\"; file skipped"]
    );
}

#[test]
fn usr_merged_apk_database_is_found_through_the_symlink() {
    let db = b"P:musl\nV:1.2.5-r0\nA:x86_64\no:musl\n\n";
    let db2 = b"P:musl\nV:1.2.5-r1\nA:x86_64\no:musl\n\nP:zlib\nV:1.3.1-r1\n\n";
    let f = image(&[
        vec![
            ("etc/os-release", None, ALPINE),
            ("lib", Some(EntryMeta::symlink("usr/lib")), b""),
            ("usr/lib/apk/db/installed", None, db),
        ],
        vec![("usr/lib/apk/db/installed", None, db2)],
    ]);
    let inv = inventory(&f.fs, "2025-01-01").unwrap();
    assert_eq!(layers_of(&inv), ["musl 1.2.5-r1 @1", "zlib 1.3.1-r1 @1"]);
    assert_eq!(inv.packages[0].db_path, "/lib/apk/db/installed");
}

#[test]
fn corrupt_status_is_an_error_naming_file_and_line() {
    let f = image(&[vec![(STATUS, None, b"Package: a\nVersion: 1\nStatus: install ok installed\nnonsense\n")]]);
    let err = inventory(&f.fs, "2025-01-01").unwrap_err().to_string();
    assert_eq!(err, "package database /var/lib/dpkg/status: line 4: expected `Field: value`, found \"nonsense\"");
}

#[test]
fn os_without_database_and_eol_are_warnings() {
    let old = b"PRETTY_NAME=\"Debian GNU/Linux 10 (buster)\"\nID=debian\nVERSION_ID=\"10\"\n";
    let f = image(&[vec![("etc/os-release", None, old)]]);
    let inv = inventory(&f.fs, "2025-01-01").unwrap();
    assert!(inv.packages.is_empty());
    assert_eq!(
        inv.warnings,
        [
            "Debian GNU/Linux 10 (buster) reached its end of life on 2022-09-10: no more security updates; \
             extended support (LTS/ESM) also ended on 2024-06-30; scanning continues",
            "Debian GNU/Linux 10 (buster) has no package database (/var/lib/dpkg/status, /var/lib/dpkg/status.d/, \
             /lib/apk/db/installed): its OS packages cannot be checked",
        ]
    );
    let scratch = image(&[vec![("app", None, b"bin")]]);
    let inv = inventory(&scratch.fs, "2025-01-01").unwrap();
    assert_eq!((inv.os, inv.packages.len(), inv.warnings.len()), (None, 0, 0));
}

#[test]
fn oversized_database_is_refused_before_reading() {
    let big = vec![b'#'; (MAX_DB_BYTES + 1) as usize];
    let f = image(&[vec![(STATUS, None, &big)]]);
    let err = inventory(&f.fs, "2025-01-01").unwrap_err().to_string();
    assert_eq!(
        err,
        "package database /var/lib/dpkg/status: 67108865 bytes, more than the 64 MiB a package database may have"
    );
}

#[test]
fn inventory_paths_cover_what_is_read() {
    for p in [
        "etc/os-release",
        "/usr/lib/os-release",
        "var/lib/dpkg/status",
        "var/lib/dpkg/status.d/libc6",
        "lib/apk/db/installed",
        "usr/lib/apk/db/installed",
    ] {
        assert!(inventory_paths(p), "{p}");
    }
    for p in ["var/lib/dpkg/status.dx", "var/lib/dpkg/status-old", "etc/passwd"] {
        assert!(!inventory_paths(p), "{p}");
    }
}

#[test]
fn status_d_opaque_markers_and_directory_whiteouts() {
    let pkg = |n: &str| format!("Package: {n}\nVersion: 1\n").into_bytes();
    let (a, b, c) = (pkg("a"), pkg("b"), pkg("c"));
    let f = image(&[
        vec![("var/lib/dpkg/status.d/a", None, &a), ("var/lib/dpkg/status.d/b", None, &b)],
        vec![("var/lib/dpkg/status.d/.wh..wh..opq", None, b""), ("var/lib/dpkg/status.d/c", None, &c)],
        vec![("var/lib/dpkg/.wh.status.d", None, b"")],
        vec![("var/lib/dpkg/status.d/a", None, &a), ("var/lib/dpkg/status.d/c", None, &c)],
    ]);
    // a: dropped by the opaque marker (layer 1) and the whiteout (layer 2), back in layer 3;
    // c: from layer 1, removed with the directory in layer 2, back in layer 3.
    assert_eq!(layers_of(&inventory(&f.fs, "2025-01-01").unwrap()), ["a 1 @3", "c 1 @3"]);
    let f = image(&[
        vec![("var/lib/dpkg/status.d/a", None, &a), ("var/lib/dpkg/status.d/b", None, &b)],
        vec![("var/lib/dpkg/status.d/.wh..wh..opq", None, b""), ("var/lib/dpkg/status.d/c", None, &c)],
    ]);
    assert_eq!(layers_of(&inventory(&f.fs, "2025-01-01").unwrap()), ["c 1 @1"]);
}
