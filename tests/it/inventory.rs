//! The OS package inventory (`hardener::inventory`) on real images: a Debian bookworm
//! rootfs built by `mmdebstrap` and compared with `dpkg-query` itself, the Alpine
//! minirootfs tarballs compared with their `lib/apk/db/installed`, an Alpine upgrade built
//! by umoci (layer attribution), and the shipped example layout.
//!
//! Needs `mmdebstrap` (and the Debian mirror it downloads from), `dpkg-query`, `tar` and
//! `umoci`, and root.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hardener::oci_core::{
    Algorithm, Compression, Descriptor, DigestReader, EntryMeta, ImageSource, LayerWriter, Limits, MediaType, MergedFs,
    OciLayout, Platform, decompress,
};
use hardener::{Eol, Inventory, OsFamily};
use serde_json::json;

use crate::harness::{
    alpine_319, alpine_320, example_layout, oci_ref, require_root, require_tool, tempdir, tool, umoci_upgrade_image,
};

/// One layer of an image written by [`write_image`].
pub(crate) enum Layer<'a> {
    /// A root filesystem tarball (plain or gzip), used as the layer blob unchanged.
    Tarball(&'a Path),
    /// Regular files (path, content), written as a reproducible gzip layer.
    Files(Vec<(&'a str, Vec<u8>)>),
}

/// Writes an image with these layers into the layout at `dir` (created if needed) and tags
/// it, as `examples/import_rootfs.rs` does for one tarball.
pub(crate) fn write_image(dir: &Path, tag: &str, layers: &[Layer<'_>]) {
    let layout = OciLayout::create(dir).expect("creating the layout");
    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    for layer in layers {
        match layer {
            Layer::Tarball(path) => {
                let mut blob = layout.blob_writer().expect("blob writer");
                io::copy(&mut File::open(path).expect("opening the tarball"), &mut blob).expect("copying the tarball");
                let (digest, size) = blob.finish().expect("committing the blob");
                let mut head = [0u8; 4];
                io::Read::read_exact(&mut File::open(path).expect("tarball"), &mut head).expect("reading its head");
                let compression = Compression::sniff(&head);
                let raw = layout.open_blob_file(&digest).expect("the blob");
                let what = path.display().to_string();
                let mut hashing =
                    DigestReader::new(decompress(raw, compression, &Limits::default(), &what), Algorithm::Sha256);
                io::copy(&mut hashing, &mut io::sink()).expect("hashing the uncompressed tar");
                diff_ids.push(hashing.finish().0.to_string());
                descriptors.push(Descriptor::new(MediaType::OciManifest.layer_for(compression), digest, size));
            }
            Layer::Files(files) => {
                let mut files: Vec<_> = files.iter().collect();
                files.sort_by_key(|(p, _)| *p);
                let mut w = LayerWriter::new(layout.blob_writer().expect("blob writer"), Compression::Gzip, 0)
                    .expect("layer writer");
                for (path, content) in files {
                    w.append(path, &EntryMeta::file(0o644, content.len() as u64), &content[..]).expect("appending");
                }
                let (blob, written) = w.finish().expect("finishing the layer");
                blob.finish().expect("committing the layer");
                diff_ids.push(written.diff_id.to_string());
                descriptors.push(Descriptor::new(MediaType::OciLayerGzip, written.digest, written.size));
            }
        }
    }
    let config = serde_json::to_vec(&json!({
        "created": "2024-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .expect("JSON");
    let config_digest = layout.write_blob(&config).expect("config blob");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MediaType::OciManifest,
        "config": Descriptor::new(MediaType::OciConfig, config_digest, config.len() as u64),
        "layers": descriptors,
    }))
    .expect("JSON");
    let digest = layout.write_blob(&manifest).expect("manifest blob");
    let mut desc = Descriptor::new(MediaType::OciManifest, digest, manifest.len() as u64);
    desc.platform = Some(Platform::new("linux", "amd64", None));
    layout.set_tag(Some(tag), &desc).expect("tagging");
}

/// The inventory of `oci:DIR:TAG` on `today`, reading the merged filesystem the way the
/// CLI should (capturing the inventory's files on the first pass).
fn inventory_of(dir: &Path, tag: &str, today: &str) -> Inventory {
    let reference = oci_ref(dir, Some(tag));
    let source = ImageSource::open(&reference.parse().expect("reference")).expect("opening the image");
    let image = source.image(None).expect("the image");
    let fs = MergedFs::build_capturing(&image, hardener::inventory_paths).expect("merging the layers");
    hardener::inventory(&fs, today).unwrap_or_else(|e| panic!("inventory of {reference}: {e}"))
}

/// `name version (origin) @layer` per package, sorted.
fn listing(inv: &Inventory) -> Vec<String> {
    let mut v: Vec<String> = inv
        .packages
        .iter()
        .map(|p| format!("{} {} ({}) @{}", p.name, p.version, p.source_name, p.layer.map_or(-1, |l| l as i64)))
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------
// Debian: agreement with dpkg-query

/// A Debian bookworm minbase rootfs built once per test run.
pub(crate) struct Debian {
    /// `mmdebstrap`'s tarball.
    pub(crate) rootfs: PathBuf,
    /// Its `var/lib/dpkg`, extracted for `dpkg-query --admindir`.
    pub(crate) admindir: PathBuf,
    /// A layout holding the rootfs as a one-layer image, tag `bookworm`.
    pub(crate) layout: PathBuf,
}

static DEBIAN: OnceLock<Debian> = OnceLock::new();

/// Builds the Debian image (about 15 s) under `target/tmp/inventory-debian/`, replaced on
/// each run; the tests of one run share it.
pub(crate) fn debian() -> &'static Debian {
    DEBIAN.get_or_init(|| {
        require_root();
        require_tool("mmdebstrap");
        require_tool("dpkg-query");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("inventory-debian");
        if dir.exists() {
            fs::remove_dir_all(&dir).expect("removing the previous run's Debian image");
        }
        fs::create_dir_all(&dir).expect("mkdir");
        let rootfs = dir.join("rootfs.tar");
        let run =
            tool("mmdebstrap", &["--variant=minbase", "--mode=root", "bookworm", rootfs.to_str().expect("UTF-8")]);
        assert_eq!(
            run.code,
            Some(0),
            "mmdebstrap could not build a Debian bookworm rootfs. It downloads from the Debian mirror \
             (the mirror of the host's apt sources), which this test needs (CI has it):\n{}",
            run.describe()
        );
        let extracted = dir.join("extracted");
        fs::create_dir_all(&extracted).expect("mkdir");
        tool(
            "tar",
            &["-xf", rootfs.to_str().expect("UTF-8"), "-C", extracted.to_str().expect("UTF-8"), "./var/lib/dpkg"],
        )
        .ok();
        let layout = dir.join("layout");
        write_image(&layout, "bookworm", &[Layer::Tarball(&rootfs)]);
        Debian { rootfs, admindir: extracted.join("var/lib/dpkg"), layout }
    })
}

/// `dpkg-query --admindir=ADMINDIR -W -f FORMAT`, as sorted lines.
pub(crate) fn dpkg_query(admindir: &Path, format: &str) -> Vec<String> {
    let admin = format!("--admindir={}", admindir.display());
    let run = tool("dpkg-query", &[admin.as_str(), "-W", "-f", format]).ok();
    let mut lines: Vec<String> = run.text().lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

/// The acceptance test: on a real Debian image, our package list equals
/// `dpkg-query -W -f '${Package} ${Version} ${source:Package} ${source:Version}\n'`
/// line for line (binNMU source versions, epochs and `Source:` names included).
#[test]
fn debian_inventory_agrees_with_dpkg_query() {
    let deb = debian();
    let inv = inventory_of(&deb.layout, "bookworm", "2025-01-01");
    let mut ours: Vec<String> = inv
        .packages
        .iter()
        .map(|p| format!("{} {} {} {}", p.name, p.version, p.source_name, p.source_version))
        .collect();
    ours.sort();
    let theirs = dpkg_query(&deb.admindir, "${Package} ${Version} ${source:Package} ${source:Version}\n");
    assert_eq!(ours, theirs, "our inventory differs from dpkg-query's");
    assert!(ours.len() > 80, "a minbase system has about 90 packages, not {}", ours.len());
    for expected in ["bsdutils 1:", "libacl1 "] {
        assert!(ours.iter().any(|l| l.starts_with(expected)), "{expected}… missing from {ours:#?}");
    }
    assert!(ours.iter().any(|l| l.starts_with("bsdutils 1:") && l.contains(" util-linux ")), "source of bsdutils");

    let os = inv.os.as_ref().expect("Debian is detected");
    assert_eq!(
        (os.id.as_str(), os.version_id.as_deref(), os.codename.as_deref(), os.family, os.distroless),
        ("debian", Some("12"), Some("bookworm"), OsFamily::Debian, false),
        "etc/os-release is a symlink to ../usr/lib/os-release: {os:?}"
    );
    assert_eq!(os.eol, Some(Eol { date: "2026-07-11".into(), reached: false, extended: Some("2028-06-30".into()) }));
    assert!(inv.packages.iter().all(|p| p.layer == Some(0) && p.status.as_deref() == Some("installed")));
    assert!(inv.packages.iter().all(|p| p.db_path == "/var/lib/dpkg/status" && p.architecture.is_some()));
    assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);
}

/// Package states and layers on the real image: a second layer rewrites dpkg's status
/// file with one package removed (`config-files`), one `unpacked`, one `half-configured`,
/// one upgraded and one new. Our list equals `dpkg-query -W` without the `config-files`
/// line; the upgraded and new packages come from layer 1, the rest (state changes keep
/// the version) from layer 0.
#[test]
fn debian_states_and_layers_agree_with_dpkg_query() {
    let deb = debian();
    let status = fs::read_to_string(deb.admindir.join("status")).expect("status");
    let mut stanzas: Vec<String> = status.split("\n\n").filter(|s| !s.trim().is_empty()).map(str::to_owned).collect();
    assert!(stanzas.len() > 80);
    let name_of = |s: &str| s.lines().find_map(|l| l.strip_prefix("Package: ")).expect("Package").to_owned();
    let set_status = |s: &mut String, state: &str| *s = s.replace("Status: install ok installed", state);
    set_status(&mut stanzas[1], "Status: deinstall ok config-files");
    set_status(&mut stanzas[2], "Status: install ok unpacked");
    set_status(&mut stanzas[3], "Status: install ok half-configured");
    let version_line = stanzas[4].lines().find(|l| l.starts_with("Version: ")).expect("Version").to_owned();
    stanzas[4] = stanzas[4].replace(&version_line, &format!("{version_line}+local1"));
    stanzas.push(
        "Package: oci-harden-probe\nStatus: install ok installed\nMaintainer: nobody <nobody@example.org>\n\
         Architecture: all\nSource: oci-harden (0.1-1)\nVersion: 1:0.1-1+b1\nDescription: test package"
            .into(),
    );
    let (removed, unpacked, half, upgraded) =
        (name_of(&stanzas[1]), name_of(&stanzas[2]), name_of(&stanzas[3]), name_of(&stanzas[4]));
    let new_status = stanzas.join("\n\n") + "\n";

    let tmp = tempdir();
    let admindir = tmp.path().join("admin");
    for d in ["updates", "info"] {
        fs::create_dir_all(admindir.join(d)).expect("mkdir");
    }
    fs::write(admindir.join("status"), &new_status).expect("writing status");
    let layout = tmp.path().join("layout");
    write_image(
        &layout,
        "states",
        &[Layer::Tarball(&deb.rootfs), Layer::Files(vec![("var/lib/dpkg/status", new_status.into_bytes())])],
    );

    let inv = inventory_of(&layout, "states", "2025-01-01");
    let mut ours: Vec<String> = inv
        .packages
        .iter()
        .map(|p| {
            let state = p.status.as_deref().unwrap_or("?");
            format!("{state} {} {} {} {}", p.name, p.version, p.source_name, p.source_version)
        })
        .collect();
    ours.sort();
    let theirs: Vec<String> =
        dpkg_query(&admindir, "${db:Status-Status} ${Package} ${Version} ${source:Package} ${source:Version}\n")
            .into_iter()
            .filter(|l| !l.starts_with("config-files "))
            .collect();
    assert_eq!(ours, theirs);
    assert!(ours.contains(&"installed oci-harden-probe 1:0.1-1+b1 oci-harden 0.1-1".to_owned()));
    assert!(!inv.packages.iter().any(|p| p.name == removed), "{removed} is config-files");

    for p in &inv.packages {
        let expected = if p.name == upgraded || p.name == "oci-harden-probe" { 1 } else { 0 };
        assert_eq!(p.layer, Some(expected), "layer of {} {}", p.name, p.version);
    }
    assert_eq!(inv.warnings.len(), 2, "{:?}", inv.warnings);
    assert!(inv.warnings[0].contains(&format!("package {unpacked} ")) && inv.warnings[0].contains("is unpacked"));
    assert!(inv.warnings[1].contains(&format!("package {half} ")) && inv.warnings[1].contains("half-configured"));
}

// ---------------------------------------------------------------------------------------
// Alpine

/// `lib/apk/db/installed` of the minirootfs tarballs, per ../shared/fixtures/README.md:
/// name, version, origin.
const ALPINE_319: &[&str] = &[
    "alpine-baselayout 3.4.3-r2 (alpine-baselayout)",
    "alpine-baselayout-data 3.4.3-r2 (alpine-baselayout)",
    "alpine-keys 2.4-r1 (alpine-keys)",
    "apk-tools 2.14.4-r0 (apk-tools)",
    "busybox 1.36.1-r19 (busybox)",
    "busybox-binsh 1.36.1-r19 (busybox)",
    "ca-certificates-bundle 20240226-r0 (ca-certificates)",
    "libc-utils 0.7.2-r5 (libc-dev)",
    "libcrypto3 3.1.7-r0 (openssl)",
    "libssl3 3.1.7-r0 (openssl)",
    "musl 1.2.4_git20230717-r4 (musl)",
    "musl-utils 1.2.4_git20230717-r4 (musl)",
    "scanelf 1.3.7-r2 (pax-utils)",
    "ssl_client 1.36.1-r19 (busybox)",
    "zlib 1.3.1-r0 (zlib)",
];
const ALPINE_320: &[&str] = &[
    "alpine-baselayout 3.6.5-r0 (alpine-baselayout)",
    "alpine-baselayout-data 3.6.5-r0 (alpine-baselayout)",
    "alpine-keys 2.4-r1 (alpine-keys)",
    "apk-tools 2.14.4-r0 (apk-tools)",
    "busybox 1.36.1-r29 (busybox)",
    "busybox-binsh 1.36.1-r29 (busybox)",
    "ca-certificates-bundle 20240705-r0 (ca-certificates)",
    "libcrypto3 3.3.2-r0 (openssl)",
    "libssl3 3.3.2-r0 (openssl)",
    "musl 1.2.5-r0 (musl)",
    "musl-utils 1.2.5-r0 (musl)",
    "scanelf 1.3.7-r2 (pax-utils)",
    "ssl_client 1.36.1-r29 (busybox)",
    "zlib 1.3.1-r1 (zlib)",
];

fn at_layer(table: &[&str], layer: usize) -> Vec<String> {
    table.iter().map(|l| format!("{l} @{layer}")).collect()
}

/// The minirootfs images: every `P:` record of the tarball's own database, with its
/// origin; Alpine detected from `etc/os-release`; end of life from our table, reached
/// only after its date (with a warning, and scanning goes on).
#[test]
fn alpine_minirootfs_inventories() {
    let cases = [
        (alpine_319(), ALPINE_319, "3.19.4", "Alpine Linux v3.19", "v3.19", "2025-11-01", "2025-11-02"),
        (alpine_320(), ALPINE_320, "3.20.3", "Alpine Linux v3.20", "v3.20", "2026-04-01", "2026-04-02"),
    ];
    for (tarball, table, version, pretty, branch, last_day, after) in cases {
        let tmp = tempdir();
        write_image(tmp.path(), "t", &[Layer::Tarball(&tarball)]);
        let inv = inventory_of(tmp.path(), "t", last_day);
        assert_eq!(listing(&inv), at_layer(table, 0), "{version}");
        // Independently of our parser: the number of `P:` lines of the database.
        let db = tool("tar", &["-xzOf", tarball.to_str().expect("UTF-8"), "./lib/apk/db/installed"]).ok();
        assert_eq!(db.text().lines().filter(|l| l.starts_with("P:")).count(), table.len(), "{version}");
        assert!(
            inv.packages.iter().all(|p| p.architecture.as_deref() == Some("x86_64") && p.version == p.source_version)
        );

        let os = inv.os.as_ref().expect("Alpine is detected");
        assert_eq!(
            (os.id.as_str(), os.version_id.as_deref(), os.pretty_name.as_deref(), os.family),
            ("alpine", Some(version), Some(pretty), OsFamily::Alpine)
        );
        assert_eq!(os.alpine_branch().as_deref(), Some(branch));
        assert_eq!(os.eol, Some(Eol { date: last_day.into(), reached: false, extended: None }));
        assert!(inv.warnings.is_empty(), "{version}: {:?}", inv.warnings);

        let later = inventory_of(tmp.path(), "t", after);
        assert!(later.os.as_ref().and_then(|o| o.eol.as_ref()).is_some_and(|e| e.reached));
        assert_eq!(
            later.warnings,
            [format!("{pretty} reached its end of life on {last_day}: no more security updates; scanning continues")]
        );
        assert_eq!(later.packages, inv.packages, "an end-of-life system is still scanned");
    }
}

/// A real upgrade as an image layer (umoci's diff from the 3.19.4 rootfs to 3.20.3):
/// packages whose version did not change keep layer 0, upgraded ones come from layer 1,
/// `libc-utils` (dropped by 3.20) is gone, and the OS is the upgraded one.
#[test]
fn alpine_upgrade_layer_attribution() {
    let img = umoci_upgrade_image();
    let base = inventory_of(&img.layout, "3.19", "2025-01-01");
    assert_eq!(listing(&base), at_layer(ALPINE_319, 0));
    let inv = inventory_of(&img.layout, "upgraded", "2025-01-01");
    let expected: Vec<String> = ALPINE_320
        .iter()
        .map(|l| {
            let unchanged = ALPINE_319.contains(l);
            format!("{l} @{}", if unchanged { 0 } else { 1 })
        })
        .collect();
    assert_eq!(listing(&inv), expected);
    assert_eq!(inv.os.as_ref().and_then(|o| o.version_id.as_deref()), Some("3.20.3"));
}

/// The shipped example layout (`examples/alpine:3.20`).
#[test]
fn example_layout_inventory() {
    let inv = inventory_of(&example_layout(), "3.20", "2025-01-01");
    assert_eq!(listing(&inv), at_layer(ALPINE_320, 0));
    let os = inv.os.expect("Alpine is detected");
    assert_eq!((os.id.as_str(), os.version_id.as_deref()), ("alpine", Some("3.20.3")));
}
