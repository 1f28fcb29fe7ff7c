//! Resolving and fetching Alpine package upgrades (issue 10) against signed repositories
//! built at test time: an image whose packages apk-tools itself installed from the old
//! versions, its `/etc/apk/repositories` naming a repository with old and new versions served
//! over HTTP on loopback. The versions, the dependencies pulled through `so:` provides, the
//! refusals (conflicts, other branches, unknown keys, bad or missing signatures, tampered
//! packages) and the blob cache are checked.

use std::fs;
use std::path::Path;

use hardener::oci_core::{ImageSource, MergedFs};
use hardener::{
    ApkChecksum, ApkKeys, RepoOptions, UpgradePlan, UpgradeReason, UpgradeRequest, UpgradeSelection, UpgradeTarget,
    VerifiedApk, fetch_apk_packages, plan_upgrades, resolve_upgrades,
};

use crate::harness::apk_repo::{ApkImage, ApkPackage, ApkRepo, ApkSigningKey, TarItem, gzip, tar};
use crate::harness::apt_repo::{HttpServer, unpack};
use crate::harness::{oci_harden, sha256_hex, tempdir};

fn pkg(name: &str, version: &str, depends: &[&str], provides: &[&str]) -> ApkPackage {
    let mut p = ApkPackage::new(name, version);
    p.depends = depends.iter().map(|s| s.to_string()).collect();
    p.provides = provides.iter().map(|s| s.to_string()).collect();
    p.items = vec![
        TarItem::dir("usr/", 0o755),
        TarItem::dir("usr/share/", 0o755),
        TarItem::file(&format!("usr/share/{name}"), 0o644, format!("{name} {version}\n").as_bytes()),
    ];
    p
}

/// The versions the image is built from.
fn old_packages() -> Vec<ApkPackage> {
    vec![
        pkg("ocih-lib", "1.0-r0", &[], &["so:libocih.so.1=1"]),
        pkg("ocih-app", "1.0-r0", &["so:libocih.so.1"], &[]),
        pkg("ocih-tool", "1.0-r0", &[], &[]),
        pkg("ocih-bad", "1.0-r0", &[], &[]),
    ]
}

/// The old versions and the new: the app's new version needs a library only a new package
/// provides (`so:`), the tool has two newer versions.
fn new_packages() -> Vec<ApkPackage> {
    let mut all = old_packages();
    all.extend([
        pkg("ocih-app", "1.1-r0", &["so:libocih2.so.2"], &[]),
        pkg("ocih-lib2", "2.0-r0", &[], &["so:libocih2.so.2=2"]),
        pkg("ocih-tool", "1.1-r0", &[], &[]),
        pkg("ocih-tool", "1.2-r0", &[], &[]),
    ]);
    all
}

fn options(cache: &Path) -> RepoOptions {
    let mut o = RepoOptions::default();
    o.cache = cache.to_owned();
    o
}

fn names(plan: &UpgradePlan) -> Vec<String> {
    plan.packages.iter().map(|p| format!("{}-{}", p.name, p.version)).collect()
}

fn packages(names: &[&str]) -> UpgradeRequest {
    UpgradeRequest::Packages(names.iter().map(|s| s.to_string()).collect())
}

/// An `APKINDEX.tar.gz` for `dir` whose signature stream is `signature` (empty: unsigned).
fn odd_index(dir: &Path, signature: Vec<u8>) {
    fs::create_dir_all(dir.join("x86_64")).unwrap();
    let text = format!("C:Q1{}=\nP:ocih-tool\nV:9.0-r0\nA:x86_64\nS:1\nI:1\nT:t\n\n", "A".repeat(27));
    let unsigned = gzip(&tar(&[TarItem::file("APKINDEX", 0o644, text.as_bytes())], false));
    let mut bytes = signature;
    bytes.extend_from_slice(&unsigned);
    fs::write(dir.join("x86_64/APKINDEX.tar.gz"), bytes).unwrap();
}

/// `NAME-VERSION` of every record of an apk database.
fn name_versions(installed: &str) -> Vec<String> {
    installed
        .split("\n\n")
        .filter_map(|r| {
            let field = |k: &str| r.lines().find_map(|l| l.strip_prefix(k)).map(str::to_owned);
            Some(format!("{}-{}", field("P:")?, field("V:")?))
        })
        .collect()
}

fn blob_count(cache: &Path) -> usize {
    fs::read_dir(cache.join("blobs/sha256")).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn alpine_upgrades_resolve_on_the_images_branch_and_fetch_verified_apks() {
    let tmp = tempdir();
    let key = ApkSigningKey::generate(tmp.path(), "ocih-test-65a1b2c3");
    let old = ApkRepo::write(&tmp.path().join("old"), &key, &old_packages(), "RSA", "RSA256");
    // Served as http://HOST/alpine/v3.20/main.
    let www = tmp.path().join("www");
    let repo = ApkRepo::write(&www.join("alpine/v3.20/main"), &key, &new_packages(), "RSA256", "RSA256");
    let server = HttpServer::start(&www, "");
    let url = format!("{}/alpine/v3.20/main", server.url());
    let repositories = format!(
        "# the image's repositories\n{url}\n{}/alpine/v3.19/main\n@testing {}/alpine/edge/testing\n",
        server.url(),
        server.url()
    );
    let mut image = ApkImage::build(&key, &old, &repositories, &["ocih-app", "ocih-tool", "ocih-bad"], "old");
    let source = ImageSource::open(&image.reference().parse().unwrap()).unwrap();
    let img = source.image(None).unwrap();
    let fs = MergedFs::build(&img).unwrap();
    let cache = tmp.path().join("cache");

    // One package: its new version and, first, the new package providing its new so:.
    let plan = resolve_upgrades(&fs, &packages(&["ocih-app"]), &options(&cache)).expect("resolving ocih-app");
    assert_eq!(names(&plan), ["ocih-lib2-2.0-r0", "ocih-app-1.1-r0"]);
    assert_eq!(plan.format, hardener::PackageFormat::Apk);
    assert_eq!(
        (plan.architectures.as_slice(), plan.sources.as_slice()),
        (&["x86_64".to_owned()][..], &[url.clone()][..])
    );
    let (lib2, app) = (&plan.packages[0], &plan.packages[1]);
    assert_eq!((lib2.installed.as_deref(), &lib2.reason), (None, &UpgradeReason::Dependency { by: "ocih-app".into() }));
    assert_eq!((app.installed.as_deref(), &app.reason), (Some("1.0-r0"), &UpgradeReason::Requested));
    assert_eq!(
        (app.source.as_str(), app.source_version.as_str(), app.architecture.as_str()),
        ("ocih-app", "1.1-r0", "x86_64")
    );
    assert_eq!((app.file.repository.as_str(), app.file.suite.as_str()), (url.as_str(), "v3.20/main"));
    assert_eq!(app.file.filename, "x86_64/ocih-app-1.1-r0.apk");
    let built = repo.apk_path("ocih-app", "1.1-r0");
    assert_eq!(app.file.size, fs::metadata(&built).unwrap().len());
    assert_eq!((app.file.sha256.as_str(), app.file.local.is_none()), ("", true));
    // The plan's C: is the package's identity: the real package verifies against it.
    let mut keys = ApkKeys::new();
    keys.add_pem(&key.name, &key.public_pem).unwrap();
    let identity: ApkChecksum = app.file.control_checksum.as_deref().unwrap().parse().unwrap();
    VerifiedApk::open(&built, &keys, &identity).expect("the planned identity");
    // The other branch of the image's list is skipped, the tagged line noted.
    assert!(plan.warnings.iter().any(|w| w.contains("/alpine/v3.19/main skipped") && w.contains("v3.20")), "{plan:?}");
    assert!(plan.warnings.iter().any(|w| w.contains("@testing") && w.contains("not used")), "{plan:?}");
    assert!(!server.requests().iter().any(|r| r.contains("v3.19") || r.contains("edge")), "{:?}", server.requests());

    // The command line's dry run prints the same plan.
    let cli_cache = tmp.path().join("cli-cache");
    let dry = oci_harden(&[
        "patch",
        &image.reference(),
        "--packages",
        "ocih-app",
        "--cache",
        cli_cache.to_str().unwrap(),
        "--dry-run",
    ])
    .ok();
    for needle in [
        "ocih-app:x86_64 1.0-r0 → 1.1-r0 (source ocih-app 1.1-r0; requested) from v3.20/main x86_64/ocih-app-1.1-r0.apk",
        "ocih-lib2:x86_64 (new) → 2.0-r0 (source ocih-lib2 2.0-r0; needed by ocih-app)",
        "warning: /etc/apk/repositories line 4: @testing",
    ] {
        assert!(dry.text().contains(needle), "dry run lacks {needle:?}:\n{}", dry.text());
    }

    // A fix: the newest version at least the fixed one; a fix nobody has: unfixable.
    let target = |package: &str, fixed: &str| UpgradeTarget {
        package: package.into(),
        architecture: None,
        fixed_version: fixed.into(),
        vulnerabilities: vec![format!("CVE-{package}")],
    };
    let request = UpgradeRequest::Vulnerable(vec![target("ocih-tool", "1.1-r0"), target("ocih-lib", "9.0-r0")]);
    let plan = resolve_upgrades(&fs, &request, &options(&cache)).unwrap();
    assert_eq!(names(&plan), ["ocih-tool-1.2-r0"]);
    assert_eq!(plan.packages[0].reason, UpgradeReason::Fixes { vulnerabilities: vec!["CVE-ocih-tool".into()] });
    assert_eq!(plan.unfixable, [target("ocih-lib", "9.0-r0")]);

    // Everything newer (apk upgrade's choice): what apk-tools itself upgrades.
    let all = resolve_upgrades(&fs, &UpgradeRequest::All, &options(&cache)).unwrap();
    let before =
        name_versions(&fs::read_to_string(unpack(&image.layout, "old").path.join("lib/apk/db/installed")).unwrap());
    image.apk_layer("judge", &repo, "upgrade", &[]);
    let judged =
        name_versions(&fs::read_to_string(unpack(&image.layout, "judge").path.join("lib/apk/db/installed")).unwrap());
    let mut expected: Vec<String> = judged.into_iter().filter(|nv| !before.contains(nv)).collect();
    expected.sort();
    let mut got = names(&all);
    got.sort();
    assert_eq!(got, expected);

    // A mirror rewrite: the same repository read from a local directory, no request made.
    let asked = server.requests().len();
    let mut mirrored = options(&cache);
    mirrored.mirrors = vec![format!("{}/alpine=file:{}/alpine", server.url(), www.display()).parse().unwrap()];
    let plan = resolve_upgrades(&fs, &packages(&["ocih-tool"]), &mirrored).unwrap();
    assert_eq!(names(&plan), ["ocih-tool-1.2-r0"]);
    assert_eq!(plan.packages[0].file.repository, format!("file:{}/alpine/v3.20/main", www.display()));
    assert_eq!(server.requests().len(), asked);

    // Only a given directory (air-gapped): a new version conflicting with what stays is
    // refused, the chain named.
    let conflict = tmp.path().join("conflict");
    let mut with_bad = old_packages();
    with_bad.push(pkg("ocih-bad", "2.0-r0", &["!ocih-lib"], &[]));
    ApkRepo::write(&conflict, &key, &with_bad, "RSA", "RSA");
    let mut local = options(&cache);
    local.replace_sources = true;
    local.repos = vec![format!("file:{}", conflict.display())];
    let err = resolve_upgrades(&fs, &packages(&["ocih-bad"]), &local).unwrap_err().to_string();
    assert!(
        err.contains("ocih-bad-1.0-r0 → 2.0-r0 (requested) → needs !ocih-lib → conflicts with ocih-lib-1.0-r0"),
        "{err}"
    );
    assert!(err.contains("removal"), "{err}");

    // A given repository of another branch is refused.
    let mut other = options(&cache);
    other.repos = vec![format!("{}/alpine/v3.21/main", server.url())];
    let err = resolve_upgrades(&fs, &packages(&["ocih-tool"]), &other).unwrap_err().to_string();
    assert!(err.contains("/alpine/v3.21/main is for v3.21 and the image is v3.20"), "{err}");

    // Indexes signed by an unknown key, badly signed, or unsigned: refused naming the URL;
    // accepted with a warning only when the repository is marked trusted.
    let stranger = ApkSigningKey::generate(tmp.path(), "ocih-stranger-11111111");
    let cases = [
        ("unknown", stranger.signature_stream(b"x", "RSA256"), "ocih-stranger-11111111"),
        ("badsig", key.signature_stream(b"other bytes", "RSA256"), ""),
        ("unsigned", Vec::new(), ""),
    ];
    for (name, signature, mention) in cases {
        let dir = tmp.path().join(name);
        odd_index(&dir, signature);
        let mut o = options(&cache);
        o.replace_sources = true;
        o.repos = vec![format!("file:{}", dir.display())];
        let err = resolve_upgrades(&fs, &packages(&["ocih-tool"]), &o).unwrap_err().to_string();
        let index_url = format!("file:{}/x86_64/APKINDEX.tar.gz", dir.display());
        assert!(err.contains(&index_url) && err.contains(mention), "{name}: {err}");
        o.repos = vec![format!("[trusted=yes] file:{}", dir.display())];
        let plan = resolve_upgrades(&fs, &packages(&["ocih-tool"]), &o).unwrap();
        assert_eq!(names(&plan), ["ocih-tool-9.0-r0"], "{name}");
        assert!(
            plan.warnings.iter().any(|w| w.contains(&index_url) && w.contains("without a valid signature")),
            "{name}: {:?}",
            plan.warnings
        );
    }

    // Fetch (the patch job's first half, with the image's keys): the .apks in the cache,
    // byte for byte, named by their SHA256.
    let planned = plan_upgrades(
        &img,
        "t",
        &UpgradeSelection::Packages(vec!["ocih-app".into()]),
        &options(&cache),
        "2026-01-01",
        true,
    )
    .expect("planning and fetching");
    for p in &planned.plan.packages {
        let bytes = fs::read(repo.apk_path(&p.name, &p.version)).unwrap();
        let local = p.file.local.as_ref().expect("fetched");
        assert_eq!(fs::read(local).unwrap(), bytes);
        assert_eq!(p.file.sha256, sha256_hex(&bytes));
        assert_eq!(local.file_name().unwrap().to_str().unwrap(), p.file.sha256);
    }
    assert_eq!(blob_count(&cache), 2);
    let fetched = planned.plan.clone();

    // A tampered .apk (same size) is refused and nothing of it is kept.
    let bad = tmp.path().join("tampered");
    fs::create_dir_all(bad.join("x86_64")).unwrap();
    let mut bytes = fs::read(repo.apk_path("ocih-app", "1.1-r0")).unwrap();
    let last = bytes.len() - 20;
    bytes[last] ^= 0x55;
    fs::write(bad.join("x86_64/ocih-app-1.1-r0.apk"), bytes).unwrap();
    let bad_cache = tmp.path().join("bad-cache");
    let mut plan = fetched.clone();
    plan.packages.retain(|p| p.name == "ocih-app");
    for p in &mut plan.packages {
        p.file.repository = format!("file:{}", bad.display());
        p.file.sha256.clear();
        p.file.local = None;
    }
    let err = fetch_apk_packages(&mut plan, &options(&bad_cache), &keys).unwrap_err().to_string();
    assert!(err.contains(&format!("file:{}/x86_64/ocih-app-1.1-r0.apk", bad.display())), "{err}");
    assert_eq!(blob_count(&bad_cache), 0);
    assert!(!bad_cache.join("apk").exists() || fs::read_dir(bad_cache.join("apk")).unwrap().count() == 0);
    let leftovers: Vec<_> = fs::read_dir(&bad_cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !["blobs", "index.json", "oci-layout", "apk"].contains(&n.as_str()))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // A second run finds them in the cache without a download: the server is gone.
    drop(server);
    let mut again = fetched.clone();
    for p in &mut again.packages {
        p.file.sha256.clear();
        p.file.local = None;
    }
    fetch_apk_packages(&mut again, &options(&cache), &keys).expect("from the cache");
    assert_eq!(again, fetched);
}
