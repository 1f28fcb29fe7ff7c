//! Applying apk upgrades to an Alpine image without apk-tools (`hardener::patch_image` on an
//! apk plan, issue 10), judged by apk-tools itself: the image (the minirootfs with test
//! packages installed by apk-tools) patched from a hand-built plan must unpack (umoci) into a
//! rootfs where `apk info`, `apk audit` and the patched program agree with apk-tools' own
//! upgrade of the same image (the oracle, [`ApkImage::apk_layer`]), whose database files
//! (`installed`, `scripts.tar`, `triggers`) it must equal byte for byte.

use std::fs;
use std::path::Path;

use hardener::oci_core::{Image, ImageSource, OciLayout};
use hardener::{
    ApkIndex, ApkKeys, ConffileAction, Error, PackageFormat, PackageLocation, PatchOptions, Patched, PlannedPackage,
    ScriptDisposition, ScriptPolicy, UpgradePlan, UpgradeReason, patch_image,
};

use crate::harness::apk_repo::{ApkImage, ApkPackage, ApkRepo, ApkSigningKey, TarItem, apk_chroot};
use crate::harness::{oci_ref, sha256_hex, tempdir, unpack};

const USER_EDIT: &[u8] = b"# edited by the image's user\ncolour = blue\n";

fn app(version: &str) -> ApkPackage {
    let mut p = ApkPackage::new("ocih-app", version);
    let new = version != "1.0-r0";
    p.items = vec![
        TarItem::dir("etc/", 0o755),
        TarItem::dir("etc/ocih-app/", 0o755),
        TarItem::file("etc/ocih-app/user.conf", 0o644, format!("colour = red\n# {version}\n").as_bytes()),
        TarItem::file("etc/ocih-app/plain.conf", 0o644, format!("plain {version}\n").as_bytes()),
        TarItem::dir("usr/", 0o755),
        TarItem::dir("usr/bin/", 0o755),
        TarItem::file("usr/bin/ocih-app", 0o755, format!("#!/bin/sh\necho app {version}\n").as_bytes()),
        TarItem::symlink("usr/bin/ocih-app-link", "ocih-app"),
        TarItem::dir("usr/share/", 0o755),
        TarItem::dir("usr/share/ocih-app/", 0o755),
        TarItem::file("usr/share/ocih-app/kept", 0o644, format!("kept {version}\n").as_bytes()),
    ];
    p.scripts = vec![("post-upgrade".into(), "#!/bin/sh\n# nothing to do\n\nexit 0\n".into())];
    if new {
        p.depends = vec!["ocih-lib".into()];
        p.items.push(TarItem::file("usr/share/ocih-app/new", 0o600, b"new in 1.1\n"));
        p.items.push(TarItem::symlink("usr/share/ocih-app/current", "kept"));
        // Not known to be harmless: refused under Refuse, listed under Warn.
        p.scripts.push(("pre-upgrade".into(), "#!/bin/sh\necho upgrading ocih-app\n".into()));
    } else {
        p.items.push(TarItem::file("usr/share/ocih-app/dropped", 0o644, b"dropped in 1.1\n"));
        // A whole directory 1.1 no longer has: apk-tools removes it.
        p.items.push(TarItem::dir("usr/share/ocih-app/old/", 0o755));
        p.items.push(TarItem::file("usr/share/ocih-app/old/f", 0o644, b"old\n"));
    }
    p
}

fn lib() -> ApkPackage {
    let mut p = ApkPackage::new("ocih-lib", "1.0-r0");
    p.items = vec![
        TarItem::dir("usr/", 0o755),
        TarItem::dir("usr/lib/", 0o755),
        TarItem::file("usr/lib/libocih.so.1", 0o755, b"not really a library\n"),
    ];
    p.scripts = vec![("post-install".into(), "#!/bin/sh\n".into())];
    p
}

/// A package whose trigger watches the app's data directory; installed, never upgraded.
fn watcher() -> ApkPackage {
    let mut p = ApkPackage::new("ocih-watch", "1.0-r0");
    // (With no file its installed size is 0, and apk-tools takes it for a meta package whose
    // archive it does not unpack.)
    p.items = vec![
        TarItem::dir("usr/", 0o755),
        TarItem::dir("usr/share/", 0o755),
        TarItem::file("usr/share/ocih-watch.txt", 0o644, b"watching\n"),
    ];
    p.triggers = vec!["/usr/share/ocih-app".into()];
    p.scripts = vec![("trigger".into(), "#!/bin/sh\n# only a comment\n".into())];
    p
}

struct Fixture {
    tmp: tempfile::TempDir,
    key: ApkSigningKey,
    repo: ApkRepo,
    keys: ApkKeys,
    image: ApkImage,
}

/// The image (tag `old`: 1.0 installed by apk-tools, then the user's edit of user.conf), the
/// new repository, and the oracle (tag `oracle`: apk-tools' `apk upgrade` of `old`).
fn fixture() -> Fixture {
    fixture_with(|root| fs::write(root.join("etc/ocih-app/user.conf"), USER_EDIT).unwrap())
}

/// [`fixture`] with `user` as the user's changes on top of the installed packages.
fn fixture_with(user: impl FnOnce(&Path)) -> Fixture {
    let tmp = tempdir();
    let key = ApkSigningKey::generate(tmp.path(), "ocih-test-65a1b2c3");
    let old = ApkRepo::write(&tmp.path().join("old"), &key, &[app("1.0-r0"), watcher()], "RSA", "RSA256");
    let repo = ApkRepo::write(&tmp.path().join("new"), &key, &[app("1.1-r0"), lib(), watcher()], "RSA256", "RSA256");
    let mut image = ApkImage::build(
        &key,
        &old,
        "https://example.invalid/alpine/v3.20/main\n",
        &["ocih-app", "ocih-watch"],
        "installed",
    );
    image.layer("old", user);
    image.apk_layer("oracle", &repo, "upgrade", &[]);
    let mut keys = ApkKeys::new();
    keys.add_pem(&key.name, &key.public_pem).unwrap();
    Fixture { tmp, key, repo, keys, image }
}

fn planned(f: &Fixture, repo: &ApkRepo, name: &str, version: &str, installed: Option<&str>) -> PlannedPackage {
    let index = ApkIndex::read(fs::File::open(repo.index_path()).unwrap(), "APKINDEX.tar.gz", &f.keys).unwrap();
    let entry = index.named(name).next().unwrap();
    let path = repo.apk_path(name, version);
    let bytes = fs::read(&path).unwrap();
    PlannedPackage {
        name: name.into(),
        architecture: "x86_64".into(),
        multi_arch_same: false,
        installed: installed.map(str::to_owned),
        version: version.into(),
        source: name.into(),
        source_version: version.into(),
        reason: match installed {
            Some(_) => UpgradeReason::Requested,
            None => UpgradeReason::Dependency { by: "ocih-app".into() },
        },
        file: PackageLocation {
            repository: format!("file:{}", repo.dir.display()),
            suite: "v3.20/main".into(),
            filename: format!("x86_64/{name}-{version}.apk"),
            size: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
            control_checksum: Some(entry.checksum.to_string()),
            local: Some(path),
        },
    }
}

fn plan(f: &Fixture) -> UpgradePlan {
    UpgradePlan {
        format: PackageFormat::Apk,
        architectures: vec!["x86_64".into()],
        packages: vec![
            planned(f, &f.repo, "ocih-lib", "1.0-r0", None),
            planned(f, &f.repo, "ocih-app", "1.1-r0", Some("1.0-r0")),
        ],
        ..UpgradePlan::default()
    }
}

fn open(layout: &Path, tag: &str) -> Image {
    ImageSource::open(&oci_ref(layout, Some(tag)).parse().unwrap()).unwrap().image(None).unwrap()
}

fn patch(f: &Fixture, plan: &UpgradePlan, policy: ScriptPolicy) -> hardener::Result<Patched> {
    let layout = OciLayout::open(&f.image.layout).unwrap();
    let mut options = PatchOptions::default();
    options.scripts = policy;
    patch_image(&open(&f.image.layout, "old"), Some(plan), None, &layout, &options)
}

/// Every file of the layout (blobs and index), to prove nothing was written.
fn layout_files(layout: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![layout.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push((e.path().display().to_string(), e.metadata().unwrap().len()));
            }
        }
    }
    out.sort();
    out
}

fn apk_in(root: &Path, args: &[&str]) -> String {
    let out = apk_chroot(root, args);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The lines of `apk audit` (no network, no repository) that name the test packages' paths.
fn audit(root: &Path) -> Vec<String> {
    fs::write(root.join("tmp/no-repositories"), "").unwrap();
    let said = apk_in(root, &["audit", "--no-network", "--repositories-file", "/tmp/no-repositories"]);
    assert!(said.lines().any(|l| l == "A etc/apk/world"), "apk audit ran: {said}");
    // (The test key the image trusts is the user's file: left out.)
    let mut ours: Vec<String> =
        said.lines().filter(|l| l.contains("ocih") && !l.contains("etc/apk/keys/")).map(str::to_owned).collect();
    ours.sort();
    ours
}

/// The patched image equals apk-tools' own upgrade where it matters: the database files byte
/// for byte, `apk info`, `apk audit`, the files and the program; scripts classified; bad
/// package files and a refused script leave the layout untouched.
#[test]
fn apk_upgrade_applied_as_apk_tools_does() {
    let f = fixture();
    let good = plan(&f);

    // Under Refuse the unknown pre-upgrade script stops everything, and nothing is written.
    let before = layout_files(&f.image.layout);
    let err = patch(&f, &good, ScriptPolicy::Refuse).unwrap_err();
    assert!(matches!(&err, Error::ScriptRefused { package, .. } if package == "ocih-app"), "{err}");
    let said = err.to_string();
    assert!(said.contains("pre-upgrade") && said.contains("echo upgrading ocih-app"), "{said}");
    assert_eq!(layout_files(&f.image.layout), before);

    // Bad package files are refused before anything is written: a tampered file, a control
    // stream that is not the index's, a `../` entry, a file of another package.
    let tmp = f.tmp.path();

    // Tampered: one byte of the file changed after the plan was made.
    let mut plan = plan(&f);
    let copy = tmp.join("ocih-lib.apk");
    let mut bytes = fs::read(plan.packages[0].file.local.as_ref().unwrap()).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 0xff;
    fs::write(&copy, &bytes).unwrap();
    plan.packages[0].file.local = Some(copy);
    let err = patch(&f, &plan, ScriptPolicy::Warn).unwrap_err().to_string();
    assert!(err.contains("SHA256") && err.contains(&plan.packages[0].file.sha256), "{err}");

    // The control checksum of another package.
    let mut plan = self::plan(&f);
    plan.packages[1].file.control_checksum = plan.packages[0].file.control_checksum.clone();
    let err = patch(&f, &plan, ScriptPolicy::Warn).unwrap_err().to_string();
    assert!(err.contains("control stream SHA1") && err.contains("ocih-app"), "{err}");

    // A `../` entry in a validly signed package.
    let mut evil = lib();
    evil.items.push(TarItem::file("../evil", 0o644, b"out of the root\n"));
    let repo = ApkRepo::write(&tmp.join("evil"), &f.key, &[evil], "RSA", "RSA");
    let mut plan = self::plan(&f);
    plan.packages[0] = planned(&f, &repo, "ocih-lib", "1.0-r0", None);
    let err = patch(&f, &plan, ScriptPolicy::Warn).unwrap_err().to_string();
    assert!(err.contains("..") && err.contains("ocih-lib"), "{err}");

    // A file of another installed package, which the new one does not replace.
    let mut clash = lib();
    clash.items.push(TarItem::file("usr/share/ocih-watch.txt", 0o644, b"mine\n"));
    let repo = ApkRepo::write(&tmp.join("clash"), &f.key, &[clash], "RSA", "RSA");
    let mut plan = self::plan(&f);
    plan.packages[0] = planned(&f, &repo, "ocih-lib", "1.0-r0", None);
    let err = patch(&f, &plan, ScriptPolicy::Warn).unwrap_err().to_string();
    assert!(err.contains("usr/share/ocih-watch.txt") && err.contains("ocih-watch-1.0-r0"), "{err}");
    assert_eq!(layout_files(&f.image.layout), before);

    let plan = good;
    let patched = patch(&f, &plan, ScriptPolicy::Warn).unwrap();
    OciLayout::open(&f.image.layout).unwrap().set_tag(Some("patched"), &patched.descriptor).unwrap();

    // The report.
    let [lib, app] = &patched.upgrades[..] else { panic!("{:?}", patched.upgrades) };
    assert_eq!((lib.old_version.as_deref(), app.old_version.as_deref()), (None, Some("1.0-r0")));
    assert_eq!(lib.files.added, ["usr/lib/libocih.so.1"]);
    assert_eq!(app.files.removed, ["usr/share/ocih-app/dropped", "usr/share/ocih-app/old", "usr/share/ocih-app/old/f"]);
    assert_eq!(app.sha256, plan.packages[1].file.sha256);
    let conf: Vec<(&str, ConffileAction)> = app.conffiles.iter().map(|c| (c.path.as_str(), c.action)).collect();
    assert_eq!(
        conf,
        [
            ("/etc/ocih-app/user.conf", ConffileAction::KeptApkNewWritten),
            ("/etc/ocih-app/plain.conf", ConffileAction::Replaced)
        ]
    );
    let scripts: Vec<(&str, &str, ScriptDisposition)> =
        app.scripts.iter().map(|s| (s.kind.as_str(), s.name.as_str(), s.disposition)).collect();
    assert_eq!(
        scripts,
        [
            ("post-upgrade", "new", ScriptDisposition::Harmless),
            ("pre-upgrade", "new", ScriptDisposition::NotRun),
            ("trigger", "busybox (/usr/bin)", ScriptDisposition::Handled),
            ("trigger", "ocih-watch (/usr/share/ocih-app)", ScriptDisposition::Harmless),
        ],
        "{:#?}",
        app.scripts
    );
    assert_eq!(lib.scripts[0].kind, "post-install");
    assert_eq!(lib.scripts[0].disposition, ScriptDisposition::Harmless);

    let ours = unpack(&f.image.layout, "patched");
    let theirs = unpack(&f.image.layout, "oracle");
    let (root, oracle) = (&ours.path, &theirs.path);
    // The database, byte for byte.
    for db in ["lib/apk/db/installed", "lib/apk/db/scripts.tar", "lib/apk/db/triggers"] {
        let (a, b) = (fs::read(root.join(db)).unwrap(), fs::read(oracle.join(db)).unwrap());
        assert!(
            a == b,
            "{db} differs from apk-tools':\n{}\n---\n{}",
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b)
        );
    }
    // The files.
    let read = |r: &Path, p: &str| fs::read(r.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(read(root, "etc/ocih-app/user.conf"), USER_EDIT);
    assert_eq!(read(root, "etc/ocih-app/user.conf.apk-new"), read(oracle, "etc/ocih-app/user.conf.apk-new"));
    assert_eq!(read(root, "etc/ocih-app/plain.conf"), b"plain 1.1-r0\n");
    for gone in ["usr/share/ocih-app/dropped", "usr/share/ocih-app/old"] {
        assert!(!root.join(gone).exists() && !oracle.join(gone).exists(), "{gone}");
    }
    assert_eq!(fs::read_link(root.join("usr/share/ocih-app/current")).unwrap(), Path::new("kept"));
    assert_eq!(read(root, "usr/lib/libocih.so.1"), b"not really a library\n");

    // apk-tools' view.
    let info = apk_in(root, &["info", "-v", "--no-network"]);
    for p in ["ocih-app-1.1-r0", "ocih-lib-1.0-r0", "ocih-watch-1.0-r0"] {
        assert!(info.lines().any(|l| l == p), "{p} in {info}");
    }
    assert_eq!(info, apk_in(oracle, &["info", "-v", "--no-network"]));
    let audited = audit(root);
    assert_eq!(audited, audit(oracle));
    // Only the user's file, changed on purpose, is reported (apk audit skips `.apk-new` files).
    assert_eq!(audited, ["U etc/ocih-app/user.conf"], "{audited:?}");
    // The patched program runs.
    let out = std::process::Command::new("chroot").arg(root).arg("/usr/bin/ocih-app-link").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "app 1.1-r0\n");
}

/// An image that configures its own protected paths (`/etc/apk/protected_paths.d/*.list`, as
/// ca-certificates' package does) is patched as apk-tools upgrades it: the app's directory
/// under /etc is no longer protected, so the user's edit there is overwritten (no
/// `.apk-new`), while its data directory under /usr is, so the user's edit of a file there is
/// kept with the new version beside it; the database, files and `apk audit` equal apk-tools'.
#[test]
fn protected_paths_lists_are_applied_as_apk_tools_applies_them() {
    let f = fixture_with(|root| {
        let lists = root.join("etc/apk/protected_paths.d");
        fs::create_dir_all(&lists).unwrap();
        // The last line names a file, as ca-certificates' list does: on upgrade apk-tools
        // matches directories only, so the file stays protected with its directory.
        let list = "# the app's own rules\n-etc/ocih-app/\n+usr/share/ocih-*\n-usr/share/ocih-app/kept\n";
        fs::write(lists.join("ocih.list"), list).unwrap();
        fs::write(lists.join("README"), "+usr/lib\n").unwrap(); // not a .list: not read
        fs::write(root.join("etc/ocih-app/user.conf"), USER_EDIT).unwrap();
        fs::write(root.join("usr/share/ocih-app/kept"), b"kept, edited by the user\n").unwrap();
        // Left by an earlier upgrade beside a file 1.1 drops: apk-tools (2.14.4 here) keeps it.
        fs::write(root.join("usr/share/ocih-app/dropped.apk-new"), b"dropped, newer\n").unwrap();
    });
    let plan = plan(&f);
    let patched = patch(&f, &plan, ScriptPolicy::Warn).unwrap();
    OciLayout::open(&f.image.layout).unwrap().set_tag(Some("patched"), &patched.descriptor).unwrap();
    let app = &patched.upgrades[1];
    let conf: Vec<(&str, ConffileAction)> = app.conffiles.iter().map(|c| (c.path.as_str(), c.action)).collect();
    // Every file the package writes into a protected directory is reported; /etc/ocih-app's
    // are not protected any more.
    assert_eq!(
        conf,
        [
            ("/usr/share/ocih-app/kept", ConffileAction::KeptApkNewWritten),
            ("/usr/share/ocih-app/new", ConffileAction::Replaced),
            ("/usr/share/ocih-app/current", ConffileAction::Replaced)
        ]
    );

    let ours = unpack(&f.image.layout, "patched");
    let theirs = unpack(&f.image.layout, "oracle");
    let (root, oracle) = (&ours.path, &theirs.path);
    for db in ["lib/apk/db/installed", "lib/apk/db/scripts.tar", "lib/apk/db/triggers"] {
        assert!(fs::read(root.join(db)).unwrap() == fs::read(oracle.join(db)).unwrap(), "{db} differs from apk-tools'");
    }
    let read = |r: &Path, p: &str| fs::read(r.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    for path in ["etc/ocih-app/user.conf", "usr/share/ocih-app/kept", "usr/share/ocih-app/kept.apk-new"] {
        assert_eq!(read(root, path), read(oracle, path), "{path}");
    }
    assert_eq!(read(root, "etc/ocih-app/user.conf"), b"colour = red\n# 1.1-r0\n", "overwritten");
    assert_eq!(read(root, "usr/share/ocih-app/kept"), b"kept, edited by the user\n", "kept");
    assert!(
        !root.join("etc/ocih-app/user.conf.apk-new").exists()
            && !oracle.join("etc/ocih-app/user.conf.apk-new").exists()
    );
    assert!(!root.join("usr/share/ocih-app/dropped").exists() && !oracle.join("usr/share/ocih-app/dropped").exists());
    assert_eq!(read(root, "usr/share/ocih-app/dropped.apk-new"), read(oracle, "usr/share/ocih-app/dropped.apk-new"));
    let audited = audit(root);
    assert_eq!(audited, audit(oracle));
    // The user's list (added); the overwritten edit is gone, and the kept one is not
    // reported: `apk audit`, unlike the upgrade, applies the line naming the file.
    assert_eq!(audited, ["A etc/apk/protected_paths.d/ocih.list"], "{audited:?}");
}
