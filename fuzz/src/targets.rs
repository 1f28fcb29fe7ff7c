//! The fuzz targets' bodies, one module each with `run(bytes)`: libFuzzer drives them from
//! `fuzz_targets/` (`fuzz/run.sh`), and the product's test suite replays every seed of
//! `fuzz/seeds/` through them (`tests/it/fuzz_replay.rs`, in CI), so the targets build with
//! the product and their seeds stay passing.

/// Advisory ingest recognised by content: OSV records, Alpine secdb, the Debian security
/// tracker's JSON, vuln-list trees' files, and zip archives of them.
pub mod advisories {
    pub fn run(data: &[u8]) {
        let mut db = hardener::AdvisoryDb::new();
        if let Ok(report) = db.ingest_reader("fuzz.json", data) {
            assert_eq!(report.records, db.len(), "the report counts what the database holds");
            let _ = db.info();
        }
    }
}

/// apk's `lib/apk/db/installed` database: the scanner's reader and the patcher's records.
pub mod apk_installed {
    pub fn run(data: &[u8]) {
        let Ok(text) = std::str::from_utf8(data) else { return };
        if let Ok((packages, _warnings)) = hardener::parse_apk_installed(text, "lib/apk/db/installed") {
            for p in &packages {
                assert!(!p.name.is_empty(), "a package without a name was listed");
            }
        }
        // One record, as the patcher reads the stanza it replaces; what it writes reads back.
        if let Ok(record) = hardener::InstalledRecord::parse(text, "installed") {
            let mut written = String::new();
            record.write(&mut written);
            let again = hardener::InstalledRecord::parse(&written, "written").expect("a written record parses");
            let mut rewritten = String::new();
            again.write(&mut rewritten);
            assert_eq!(rewritten, written);
        }
        let _ = hardener::rewrite_installed(text, "installed", "musl", None);
    }
}

/// `.apk` packages: raw files against a known key, and packages built around fuzzed
/// `.PKGINFO` text and data tar, signed by that key with a correct `datahash` and identity,
/// so the checks after the signature (`.PKGINFO`, scripts, data entries, checksums, paths)
/// are reached.
pub mod apk_package {
    use std::io::Read;

    use hardener::{ApkChecksum, ApkKeys, VerifiedApk};

    pub fn run(data: &[u8]) {
        let (Some(&mode), Some(rest)) = (data.first(), data.get(1..)) else { return };
        let (file, identity) = if mode & 1 == 0 {
            (rest.to_vec(), ApkChecksum::Sha1([0; 20]))
        } else {
            let parts = super::super::split(rest, 3, false);
            let (pkginfo, script, data_tar) = (parts[0], parts.get(1).copied().unwrap_or(&[]), parts[parts.len() - 1]);
            let data_gz = super::super::gzip(data_tar);
            let mut pkginfo = pkginfo.to_vec();
            pkginfo.extend_from_slice(format!("\ndatahash = {}\n", super::super::sha256_hex(&data_gz)).as_bytes());
            let control =
                super::super::gzip(&super::super::tar_of(&[(".PKGINFO", &pkginfo), (".post-install", script)], false));
            let mut file = super::super::apk_signature_stream(&control);
            file.extend_from_slice(&control);
            file.extend_from_slice(&data_gz);
            (file, ApkChecksum::Sha1(super::super::sha1(&control)))
        };
        let path = super::super::scratch_file("package.apk", &file);
        let opened = std::fs::File::open(&path).expect("scratch file");
        let Ok(apk) = VerifiedApk::from_file(opened, "package.apk", keys(), &identity) else { return };
        let _ = (apk.pkginfo().get("pkgname"), apk.scripts().len(), apk.identity());
        let _ = apk.data(|entry| {
            let mut sink = Vec::new();
            let _ = entry.data().take(1 << 20).read_to_end(&mut sink);
            Ok(())
        });
    }

    fn keys() -> &'static ApkKeys {
        static KEYS: std::sync::OnceLock<ApkKeys> = std::sync::OnceLock::new();
        KEYS.get_or_init(|| {
            let mut keys = ApkKeys::new();
            keys.add_pem(super::super::APK_KEY_NAME, super::super::apk_public_pem().as_bytes()).expect("fuzz key");
            keys
        })
    }
}

/// Alpine (apk) versions: parsing, printing, and the ordering's laws on pairs and triples
/// (antisymmetry, transitivity, equality agreeing with the order).
pub mod apk_version {
    use hardener::ApkVersion;

    pub fn run(data: &[u8]) {
        let Ok(text) = std::str::from_utf8(data) else { return };
        let versions: Vec<ApkVersion> = text.split('\n').take(3).filter_map(|s| s.parse().ok()).collect();
        super::order_laws(&versions);
    }
}

/// `APKINDEX` text and signed `APKINDEX.tar.gz` files: the index parser directly, and the
/// signature and archive streams in front of it (with one known key, so a fuzzed stream can
/// carry a signature by an unknown key or a bad one).
pub mod apkindex {
    pub fn run(data: &[u8]) {
        let (Some(&mode), Some(rest)) = (data.first(), data.get(1..)) else { return };
        match mode % 3 {
            0 => {
                let Ok(text) = std::str::from_utf8(rest) else { return };
                if let Ok(index) = hardener::ApkIndex::parse(text, "APKINDEX") {
                    let _ = index.named("musl").count();
                }
                let _ = hardener::ApkDependency::parse_list(text);
                let _ = hardener::PkgInfo::parse(text, ".PKGINFO");
            }
            1 => {
                // A whole signed index as fetched (signature stream, then the index stream).
                let _ = hardener::ApkIndex::read(rest, "APKINDEX.tar.gz", keys());
                let _ = hardener::read_signatures(rest, "signature stream");
            }
            _ => {
                // The bytes as the index stream's tar, gzipped and signed by the known key:
                // reaches the parser through the verified path.
                let index = super::super::gzip(rest);
                let mut file = super::super::apk_signature_stream(&index);
                file.extend_from_slice(&index);
                let _ = hardener::ApkIndex::read(&file[..], "APKINDEX.tar.gz", keys());
            }
        }
    }

    fn keys() -> &'static hardener::ApkKeys {
        static KEYS: std::sync::OnceLock<hardener::ApkKeys> = std::sync::OnceLock::new();
        KEYS.get_or_init(|| {
            let mut keys = hardener::ApkKeys::new();
            keys.add_pem(super::super::APK_KEY_NAME, super::super::apk_public_pem().as_bytes()).expect("fuzz key");
            keys
        })
    }
}

/// apt `Packages` indexes: stanzas, fields, dependency relations; read compressed or not
/// through the size- and hash-checking reader.
pub mod apt_packages {
    pub fn run(data: &[u8]) {
        let (Some(&mode), Some(rest)) = (data.first(), data.get(1..)) else { return };
        if mode & 1 == 0 {
            if let Ok(text) = std::str::from_utf8(rest) {
                if let Ok(entries) = hardener::parse_packages(text, "Packages") {
                    for e in &entries {
                        assert!(!e.package.is_empty(), "an entry without a name at line {}", e.line);
                    }
                }
                let _ = hardener::parse_relations(text);
            }
        } else {
            // The bytes as the index a Release listed with their real size and hash, under
            // each compression apt knows.
            let compressions = ["Packages", "Packages.gz", "Packages.xz", "Packages.zst"];
            let path = compressions[(mode as usize >> 1) % compressions.len()];
            let location = hardener::IndexLocation {
                path: path.into(),
                fetch_path: path.into(),
                compression: hardener::Compression::from_name(path).expect("a known name"),
                size: rest.len() as u64,
                sha256: super::super::sha256_hex(rest),
                uncompressed: None,
            };
            let _ = hardener::read_packages(rest, &location, path, |_| true);
        }
    }
}

/// apt `Release`/`InRelease` text (the clearsigned armour's parsing, not its signature):
/// fields, file lists, dates, index selection; and `sources.list` in both formats.
pub mod apt_release {
    use std::time::{Duration, SystemTime};

    pub fn run(data: &[u8]) {
        // An empty keyring: the armour and packets are parsed, then refused as unsigned by a
        // known key.
        let _ = hardener::verify_clearsigned(data, "InRelease", &hardener::Keyring::new(), SystemTime::UNIX_EPOCH);
        let Ok(text) = std::str::from_utf8(data) else { return };
        if let Ok(release) = hardener::Release::parse(text, "Release") {
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000);
            let _ = release.check_validity("Release", now, false);
            let _ = release.check_suite("Release", "bookworm");
            let _ = release.has_component("main");
            let _ = release.packages_indexes("main", "amd64");
            let _ = release.index("main/binary-amd64/Packages.xz");
        }
        let _ = hardener::parse_rfc2822(text);
        let _ = hardener::Sources::parse_list(text, "sources.list");
        let _ = hardener::Sources::parse_deb822(text, "debian.sources");
    }
}

/// Image configs (`application/vnd.oci.image.config.v1+json` and Docker's).
pub mod config {
    use oci_core::ImageConfig;

    pub fn run(data: &[u8]) {
        let Ok(config) = ImageConfig::parse(data, "config") else { return };
        let _ = (config.architecture(), config.os(), config.platform(), config.created(), config.diff_ids());
        let _ = (config.user(), config.env(), config.entrypoint(), config.cmd(), config.working_dir());
        let _ = (config.labels(), config.history(), config.runtime());
        // What is written back parses again, to the same document.
        let again = ImageConfig::parse(&config.to_bytes(), "written config").expect("a written config parses");
        assert_eq!(again.to_bytes(), config.to_bytes());
    }
}

/// `.deb` files (ar, control and data tarballs in any compression dpkg-deb writes),
/// given with their real size and SHA256 so parsing is reached: control fields,
/// md5sums, conffiles, scripts, triggers, and the data entries.
pub mod deb {
    use std::io::Read;

    pub fn run(data: &[u8]) {
        let path = super::super::scratch_file("package.deb", data);
        let file = std::fs::File::open(&path).expect("scratch file");
        let sha256 = super::super::sha256_hex(data);
        let Ok(deb) = hardener::VerifiedDeb::from_file(file, "package.deb", data.len() as u64, &sha256) else { return };
        let _ = deb.member_names();
        if let Ok(control) = deb.control() {
            let _ = control.fields();
            let _ = (control.md5sums(), control.conffiles(), control.triggers(), control.shlibs(), control.symbols());
            let _ = control.scripts().count();
        }
        let _ = deb.file_md5sums();
        let _ = deb.data(|entry| {
            let mut sink = Vec::new();
            let _ = entry.data().take(1 << 20).read_to_end(&mut sink);
            Ok(())
        });
    }
}

/// `docker save` archives: `manifest.json`, `index.json`, `repositories`, links between
/// members, and the images they name, read through to the merged filesystem.
pub mod docker_archive {
    use oci_core::{DockerArchive, ImageSource, Limits, MergedFs, Reference};

    pub fn run(data: &[u8]) {
        let path = super::super::scratch_file("archive.tar", data);
        let Ok(archive) = DockerArchive::open(&path, &Limits::default()) else { return };
        let images = archive.images();
        for (tags, _) in images.iter().take(4) {
            for tag in tags.iter().take(2) {
                let _ = archive.resolve(Some(tag));
            }
        }
        let _ = archive.resolve(Some("@0"));
        let Ok(reference) = format!("docker-archive:{}", path.display()).parse::<Reference>() else { return };
        let Ok(source) = ImageSource::open(&reference) else { return };
        let Ok(images) = source.images() else { return };
        for image in images.iter().take(2) {
            if let Ok(fs) = MergedFs::build(image) {
                let _ = fs.iter().count();
            }
        }
    }
}

/// Credential configuration files (`~/.docker/config.json`, `auth.json`).
pub mod docker_config {
    use oci_core::DockerConfig;

    pub fn run(data: &[u8]) {
        let Ok(text) = std::str::from_utf8(data) else { return };
        let Ok(config) = DockerConfig::parse("config.json", text) else { return };
        let _ = config.creds_store();
        for host in ["docker.io", "registry-1.docker.io", "localhost:5000", "ghcr.io"] {
            let _ = config.cred_helper(host);
            let _ = config.credential(host);
        }
    }
}

/// dpkg's `status` and `status.d/*` databases, and `os-release`, as read from images.
pub mod dpkg_status {
    pub fn run(data: &[u8]) {
        let Ok(text) = std::str::from_utf8(data) else { return };
        if let Ok((packages, _warnings)) = hardener::parse_dpkg_status(text, "var/lib/dpkg/status") {
            for p in &packages {
                assert!(!p.name.is_empty(), "a package without a name was listed");
            }
            // Rewriting with no changes gives a status that parses. (Not asserted: the same
            // package count. On seeds/dpkg_status/rewrite-count-differs, a last stanza cut
            // inside its Version field, the reader skips the package as possibly truncated,
            // while the rewrite ends the file with a newline as dpkg's writer does: 0
            // before, 1 after, by design.)
            if let Ok(rewritten) = hardener::rewrite_status(text, &[], "var/lib/dpkg/status") {
                hardener::parse_dpkg_status(&rewritten, "rewritten").expect("a rewritten status parses");
            }
        }
        let _ = hardener::parse_dpkg_status_d(text, "var/lib/dpkg/status.d/x");
        let _ = hardener::parse_os_release(text);
    }
}

/// Debian versions: parsing, printing, and the ordering's laws on pairs and triples
/// (antisymmetry, transitivity, equality agreeing with the order).
pub mod dpkg_version {
    use hardener::DpkgVersion;

    pub fn run(data: &[u8]) {
        let Ok(text) = std::str::from_utf8(data) else { return };
        let versions: Vec<DpkgVersion> = text.split('\n').take(3).filter_map(|s| s.parse().ok()).collect();
        for v in &versions {
            let _ = (v.epoch(), v.upstream(), v.revision(), v.without_binnmu());
        }
        super::order_laws(&versions);
    }
}

/// Each version prints and parses back to itself, and the ordering is a total order on
/// them: antisymmetric, transitive, `==` agreeing with `cmp` (for dpkg and apk versions).
fn order_laws<V: Ord + std::fmt::Display + std::str::FromStr>(versions: &[V])
where
    V::Err: std::fmt::Debug,
{
    use std::cmp::Ordering;
    for v in versions {
        let again: V = v.to_string().parse().expect("a printed version parses");
        assert_eq!(again.cmp(v), Ordering::Equal, "{v} printed and parsed again");
        assert_eq!(v.cmp(v), Ordering::Equal);
    }
    for a in versions {
        for b in versions {
            assert_eq!(a.cmp(b), b.cmp(a).reverse(), "antisymmetry: {a} vs {b}");
            assert_eq!(a == b, a.cmp(b) == Ordering::Equal, "== agrees with cmp: {a} vs {b}");
            for c in versions {
                if a <= b && b <= c {
                    assert!(a <= c, "transitivity: {a} <= {b} <= {c}");
                }
            }
        }
    }
}

/// A layout's `index.json` (and `oci-layout`): tags, resolution, reachability.
pub mod layout_index {
    use oci_core::OciLayout;

    pub fn run(data: &[u8]) {
        let dir = super::super::scratch().join("layout");
        let _ = std::fs::create_dir_all(dir.join("blobs/sha256"));
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
        std::fs::write(dir.join("index.json"), data).expect("index.json");
        let Ok(layout) = OciLayout::open(&dir) else { return };
        let _ = layout.index();
        if let Ok(tags) = layout.tags() {
            for tag in tags.iter().take(8) {
                let _ = layout.resolve(Some(tag));
            }
        }
        let _ = layout.resolve(None);
        let _ = layout.reachable();
    }
}

/// Manifests and indexes (OCI and Docker schema 2), as a registry or a layout serves them.
pub mod manifest {
    use oci_core::{Manifest, RawManifest};

    pub fn run(data: &[u8]) {
        let Ok(raw) = RawManifest::from_bytes(data.to_vec()) else { return };
        let _ = raw.descriptor();
        match raw.parse() {
            Ok(Manifest::Image(m)) => {
                let _ = serde_json::to_vec(&m);
            }
            Ok(Manifest::Index(i)) => {
                let _ = serde_json::to_vec(&i);
            }
            Err(_) => {}
        }
    }
}

/// Layers read into the merged filesystem: tar headers (PAX and GNU long names, links,
/// devices), whiteouts and opaque directories across up to three layers, symlink
/// resolution, and reading file contents back.
pub mod merged_fs {
    use oci_core::{EntryKind, ImageSource, MergedFs, Reference};

    pub fn run(data: &[u8]) {
        let layers = super::super::split(data, 3, true);
        let dir = super::super::scratch().join("merged");
        let reference: Reference = super::super::layout_with_layers(&dir, &layers).parse().expect("reference");
        let source = ImageSource::open(&reference).expect("the harness's layout opens");
        let image = source.image(None).expect("the harness's image reads");
        let Ok(fs) = MergedFs::build_capturing(&image, |path| path.len() % 2 == 0) else { return };
        let mut read = 0;
        for (path, node) in fs.iter() {
            let _ = fs.resolve(path);
            if matches!(node.meta.kind, EntryKind::File | EntryKind::Hardlink) && read < 8 {
                read += 1;
                let bytes = fs.read(path).expect("a file the index lists reads back");
                assert_eq!(bytes.len() as u64, node.meta.size, "/{path}: size as the header says");
            }
        }
        let _ = fs.walk("").count();
        let _ = fs.resolve("etc/os-release");
    }
}

/// References (`oci:DIR[:TAG]`, `docker-archive:FILE[:NAME]`, registry names), image names,
/// digests, platforms and media types, as typed by users and found in documents.
pub mod reference {
    use oci_core::{Digest, ImageName, MediaType, Platform, Reference};

    pub fn run(data: &[u8]) {
        let Ok(s) = std::str::from_utf8(data) else { return };
        if let Ok(r) = s.parse::<Reference>() {
            // What Display prints parses back to the same reference.
            let again: Reference = r.to_string().parse().expect("a printed reference parses");
            assert_eq!(again.to_string(), r.to_string());
        }
        if let Ok(n) = s.parse::<ImageName>() {
            let _ = (n.registry(), n.repository(), n.tag(), n.digest(), n.reference());
            let again: ImageName = n.to_string().parse().expect("a printed name parses");
            assert_eq!(again, n);
        }
        if let Ok(d) = s.parse::<Digest>() {
            assert_eq!(d.to_string().parse::<Digest>().expect("a printed digest parses"), d);
        }
        let _ = s.parse::<Platform>();
        let _ = s.parse::<MediaType>();
        let _ = oci_core::normalize_registry_host(s);
    }
}

/// Rule files (TOML): kinds, keys, paths, ids.
pub mod rules {
    pub fn run(data: &[u8]) {
        let Ok(text) = std::str::from_utf8(data) else { return };
        let _ = hardener::RuleSet::from_str(text, "rules.toml");
    }
}

/// Trivy JSON reports read back (`from_trivy_json`), and written again.
pub mod trivy_report {
    pub fn run(data: &[u8]) {
        if let Ok(report) = hardener::from_trivy_json(data, "report.json") {
            let _ = hardener::to_trivy_json(&report);
            let _ = hardener::to_table(&report);
        }
    }
}

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target, by the name of its `fuzz_targets/` file and `seeds/` directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("advisories", advisories::run),
    ("apk_installed", apk_installed::run),
    ("apk_package", apk_package::run),
    ("apk_version", apk_version::run),
    ("apkindex", apkindex::run),
    ("apt_packages", apt_packages::run),
    ("apt_release", apt_release::run),
    ("config", config::run),
    ("deb", deb::run),
    ("docker_archive", docker_archive::run),
    ("docker_config", docker_config::run),
    ("dpkg_status", dpkg_status::run),
    ("dpkg_version", dpkg_version::run),
    ("layout_index", layout_index::run),
    ("manifest", manifest::run),
    ("merged_fs", merged_fs::run),
    ("reference", reference::run),
    ("rules", rules::run),
    ("trivy_report", trivy_report::run),
];
