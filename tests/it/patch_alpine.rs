//! `oci-harden patch` on an Alpine image end to end (issue 10): the image's own busybox
//! (1.36.1-r29 in the 3.20.3 minirootfs, two CVEs in the real secdb fixtures, fixed in
//! 1.36.1-r31) is upgraded from a signed repository the image's `/etc/apk/repositories`
//! names, served over HTTP on loopback. The repository's busybox 1.36.1-r31 is the real
//! busybox package rebuilt (the minirootfs's own files, scripts and triggers) and signed
//! with a test key, as a distribution's rebuild would be. Judges: apk-tools in a chroot of
//! the patched rootfs (`apk info`, `apk audit`, `apk verify` of the cached packages), the
//! patched busybox itself running, and a
//! re-scan with the secdb fixtures.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::harness::apk_repo::{ApkImage, ApkPackage, ApkRepo, ApkSigningKey, TarItem, alpine_root, apk_chroot};
use crate::harness::apt_repo::{HttpServer, unpack};
use crate::harness::{fixture, oci_harden, oci_ref, read_json, tempdir};

const FIXED: &str = "1.36.1-r31";

/// A package of the minirootfs rebuilt as `FIXED`: every directory (with `M:` modes),
/// file (with `a:` modes) and symlink its `installed` record lists, as the minirootfs has
/// them.
fn rebuilt(root: &Path, name: &str, depends: &[&str], provides: &[&str]) -> ApkPackage {
    rebuilt_as(root, name, FIXED, depends, provides)
}

/// The `installed` record of `name` in the rootfs `root`.
fn installed_record(root: &Path, name: &str) -> String {
    let installed = fs::read_to_string(root.join("lib/apk/db/installed")).unwrap();
    installed.split("\n\n").find(|r| r.contains(&format!("\nP:{name}\n"))).expect("installed").to_owned()
}

/// [`rebuilt`] as `version`.
fn rebuilt_as(root: &Path, name: &str, version: &str, depends: &[&str], provides: &[&str]) -> ApkPackage {
    let record = installed_record(root, name);
    let mut p = ApkPackage::new(name, version);
    p.depends = depends.iter().map(|d| d.to_string()).collect();
    p.provides = provides.iter().map(|d| d.to_string()).collect();
    let (mut dir, mut file) = (String::new(), None::<String>);
    let mut items: Vec<TarItem> = Vec::new();
    let flush = |items: &mut Vec<TarItem>, file: &mut Option<String>, mode: u32| {
        if let Some(path) = file.take() {
            let on_disk = root.join(&path);
            items.push(match fs::read_link(&on_disk) {
                Ok(target) => TarItem::symlink(&path, target.to_str().unwrap()),
                Err(_) => TarItem::file(&path, mode, &fs::read(&on_disk).unwrap()),
            });
        }
    };
    let mut file_mode = 0o644;
    for line in record.lines() {
        let (key, value) = line.split_once(':').unwrap();
        match key {
            "F" => {
                flush(&mut items, &mut file, file_mode);
                dir = value.to_owned();
                items.push(TarItem::dir(&format!("{dir}/"), 0o755));
            }
            "M" => {
                let mode = u32::from_str_radix(value.rsplit(':').next().unwrap(), 8).unwrap();
                items.last_mut().unwrap().mode = mode;
            }
            "R" => {
                flush(&mut items, &mut file, file_mode);
                file = Some(format!("{dir}/{value}"));
                file_mode = 0o644;
            }
            "a" if file.is_some() => file_mode = u32::from_str_radix(value.rsplit(':').next().unwrap(), 8).unwrap(),
            _ => {}
        }
    }
    flush(&mut items, &mut file, file_mode);
    p.items = items;
    p
}

/// busybox rebuilt as `FIXED`, with its scripts from `scripts.tar` and its triggers.
fn rebuilt_busybox(root: &Path) -> ApkPackage {
    let mut p = rebuilt(root, "busybox", &["so:libc.musl-x86_64.so.1"], &[&format!("cmd:busybox={FIXED}")]);
    p.description = "Size optimized toolbox of many common UNIX utilities".into();
    for script in ["post-install", "post-upgrade", "trigger"] {
        let out = Command::new("tar")
            .arg("-xOf")
            .arg(root.join("lib/apk/db/scripts.tar"))
            .arg("--wildcards")
            .arg(format!("busybox-*.{script}"))
            .output()
            .unwrap();
        assert!(out.status.success() && !out.stdout.is_empty(), "busybox's {script} in scripts.tar");
        p.scripts.push((script.to_owned(), String::from_utf8(out.stdout).unwrap()));
    }
    p.triggers = ["/bin", "/usr/bin", "/sbin", "/usr/sbin", "/lib/modules/*"].map(String::from).to_vec();
    p
}

fn run_in(root: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new("chroot").arg(root).arg(program).args(args).output().unwrap();
    assert!(out.status.success(), "chroot {program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn findings(report: &Value) -> BTreeMap<String, Vec<String>> {
    let mut by_package: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in report["Results"].as_array().into_iter().flatten() {
        for v in r["Vulnerabilities"].as_array().into_iter().flatten() {
            by_package
                .entry(v["PkgName"].as_str().unwrap().to_owned())
                .or_default()
                .push(v["VulnerabilityID"].as_str().unwrap().to_owned());
        }
    }
    by_package
}

/// The scan's fixable busybox findings are fixed from the image's own repository; musl's and
/// openssl's, which no configured repository fixes, stay and are reported; apk-tools agrees
/// with the database written; the patched busybox runs; the same patch from a Trivy report
/// gives the same image.
#[test]
fn alpine_image_patched_from_its_own_repository() {
    let tmp = tempdir();
    let w = tmp.path();
    let mini = w.join("mini");
    fs::create_dir(&mini).unwrap();
    alpine_root(&mini);
    let key = ApkSigningKey::generate(w, "ocih-test-5f00d1e5");
    let mut hello_old = ApkPackage::new("ocih-hello", "1.0-r0");
    hello_old.items = vec![TarItem::dir("usr/", 0o755), TarItem::file("usr/ocih-hello", 0o644, b"1.0\n")];
    let old = ApkRepo::write(&w.join("old"), &key, std::slice::from_ref(&hello_old), "RSA", "RSA256");
    // busybox-binsh needs exactly its busybox's version: it is rebuilt too (else the upgrade
    // would need its removal, which the resolver refuses).
    let binsh =
        rebuilt(&mini, "busybox-binsh", &[&format!("busybox={FIXED}")], &["/bin/sh", &format!("cmd:sh={FIXED}")]);
    let repo = ApkRepo::write(&w.join("repo"), &key, &[hello_old, rebuilt_busybox(&mini), binsh], "RSA", "RSA256");
    let server = HttpServer::start(&repo.dir, "");
    let image = ApkImage::build(&key, &old, &format!("{}\n", server.url()), &["ocih-hello"], "old");
    let src = image.reference();

    let db = w.join("db");
    let secdb = fixture("advisories/alpine-secdb");
    oci_harden(&["db", "update", "--db", db.to_str().unwrap(), "--from", secdb.to_str().unwrap()]).ok();
    let before = findings(&oci_harden(&["scan", &src, "--db", db.to_str().unwrap(), "--format", "json"]).ok().json());
    assert_eq!(before["busybox"].len(), 2, "{before:?}");

    let dst_layout = w.join("dst");
    let dst = oci_ref(&dst_layout, Some("patched"));
    let (report, vex) = (w.join("report.json"), w.join("vex.json"));
    let cache = w.join("cache");
    // Without `--scripts warn` the patch is refused: busybox's post-upgrade would add the
    // klogd account, which this minirootfs lacks, and that is not done natively.
    oci_harden(&["patch", &src, &dst, "--db", db.to_str().unwrap(), "--cache", w.join("c0").to_str().unwrap()])
        .fails_with(&["package busybox: the new post-upgrade is not run"]);
    assert!(!dst_layout.join("index.json").exists());
    oci_harden(&[
        "patch",
        &src,
        &dst,
        "--scripts",
        "warn",
        "--db",
        db.to_str().unwrap(),
        "--cache",
        cache.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        "--vex",
        vex.to_str().unwrap(),
    ])
    .ok();
    let report = read_json(&report);
    let image_report = &report["images"][0];
    let upgraded: Vec<(&str, &str, &str)> = image_report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["oldVersion"].as_str().unwrap(), p["newVersion"].as_str().unwrap()))
        .collect();
    assert_eq!(upgraded, [("busybox", "1.36.1-r29", FIXED), ("busybox-binsh", "1.36.1-r29", FIXED)]);
    let scripts: Vec<(&str, &str)> = image_report["packages"][0]["scripts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["kind"].as_str().unwrap(), s["disposition"].as_str().unwrap()))
        .collect();
    assert!(scripts.contains(&("post-upgrade", "not-run")), "{scripts:?}");
    let unfixable: Vec<&str> =
        image_report["unfixable"].as_array().unwrap().iter().map(|u| u["package"].as_str().unwrap()).collect();
    assert!(unfixable.contains(&"musl") && unfixable.contains(&"libssl3"), "{unfixable:?}");
    let vex = read_json(&vex);
    let statements = vex["statements"].as_array().unwrap();
    let fixed: Vec<&str> = statements
        .iter()
        .filter(|s| s["status"] == "fixed")
        .map(|s| s["vulnerability"]["name"].as_str().unwrap())
        .collect();
    let mut want_fixed = before["busybox"].iter().map(String::as_str).collect::<Vec<_>>();
    want_fixed.sort();
    let mut fixed_sorted = fixed.clone();
    fixed_sorted.sort();
    assert_eq!(fixed_sorted, want_fixed);
    assert!(statements.iter().any(|s| s["status"] == "affected"), "musl and openssl stay affected");

    // The judges, on the patched rootfs.
    let rootfs = unpack(&dst_layout, "patched");
    let info = String::from_utf8(apk_chroot(&rootfs.path, &["info", "-v"]).stdout).unwrap();
    assert!(info.lines().any(|l| l == format!("busybox-{FIXED}")), "{info}");
    assert!(info.lines().any(|l| l == format!("busybox-binsh-{FIXED}")), "{info}");
    assert!(info.lines().any(|l| l == "ocih-hello-1.0-r0"), "{info}");
    // apk audit finds on the patched image exactly what it finds on the image as built (the
    // minirootfs's own edits of /etc): nothing of the upgraded packages differs from the
    // database written.
    let audit = |root: &Path| {
        fs::write(root.join("tmp/no-repositories"), "").unwrap();
        let out = apk_chroot(root, &["audit", "--no-network", "--repositories-file", "/tmp/no-repositories"]);
        let text = String::from_utf8(out.stdout).unwrap();
        text.lines().filter(|l| !l.contains("tmp/no-repositories")).map(str::to_owned).collect::<Vec<_>>()
    };
    let original = unpack(&image.layout, "old");
    let (patched_audit, original_audit) = (audit(&rootfs.path), audit(&original.path));
    assert!(original_audit.iter().any(|l| l == "U etc/shadow"), "{original_audit:?}");
    assert_eq!(patched_audit, original_audit);
    assert_eq!(run_in(&rootfs.path, "/bin/busybox", &["echo", "patched busybox runs"]), "patched busybox runs\n");
    assert_eq!(run_in(&rootfs.path, "/bin/sh", &["-c", "echo $((6 * 7))"]), "42\n");

    // apk-tools accepts the packages the patch fetched, as cached (cache/apk/IDENTITY names
    // the blob), with the keys of the patched image; one byte changed and it refuses.
    let maps: Vec<_> = fs::read_dir(cache.join("apk")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(maps.len(), 2, "busybox and busybox-binsh fetched: {maps:?}");
    for (i, map) in maps.iter().enumerate() {
        let sha256 = fs::read_to_string(map).unwrap();
        let blob = fs::read(cache.join("blobs/sha256").join(sha256.trim())).unwrap();
        let name = format!("tmp/cached-{i}.apk");
        fs::write(rootfs.path.join(&name), &blob).unwrap();
        let out = apk_chroot(&rootfs.path, &["verify", &format!("/{name}")]);
        let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && said.contains("OK"), "apk verify {name}: {said}");
        let mut tampered = blob.clone();
        let at = tampered.len() - 100;
        tampered[at] ^= 1;
        fs::write(rootfs.path.join(&name), &tampered).unwrap();
        let out = apk_chroot(&rootfs.path, &["verify", &format!("/{name}")]);
        assert!(
            !out.status.success(),
            "apk verify accepted a changed package: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        fs::remove_file(rootfs.path.join(&name)).unwrap();
    }

    // The re-scan: busybox's findings are gone, the others stay.
    let after = findings(&oci_harden(&["scan", &dst, "--db", db.to_str().unwrap(), "--format", "json"]).ok().json());
    assert!(!after.contains_key("busybox"), "{after:?}");
    assert_eq!(after["musl"], before["musl"]);

    // A dry run after the packages are in the cache says exactly what each changes: the
    // files of the new busybox and its scripts, found in the cache by their index checksum.
    let dry_run = |cache: &Path, more: &[&str]| {
        let mut args = vec!["patch", &src, "--dry-run", "--db", db.to_str().unwrap()];
        args.extend(["--cache", cache.to_str().unwrap()]);
        args.extend(more);
        oci_harden(&args).ok().text().to_owned()
    };
    let dry = dry_run(&cache, &["--scripts", "warn"]);
    assert!(dry.contains("        ~ /bin/busybox\n"), "{dry}");
    assert!(dry.contains("      post-upgrade new: NOT RUN"), "{dry}");
    assert!(!dry.contains("not in the cache"), "{dry}");
    let cold = dry_run(&w.join("c1"), &[]);
    assert!(cold.contains("not in the cache: busybox:x86_64 1.36.1-r31"), "{cold}");

    // The same patch from a Trivy report (copa's input) is the same image.
    let trivy = w.join("trivy.json");
    oci_harden(&["scan", &src, "--db", db.to_str().unwrap(), "--format", "json", "-o", trivy.to_str().unwrap()]).ok();
    let again = oci_ref(&w.join("again"), Some("patched"));
    let out = oci_harden(&[
        "patch",
        &src,
        &again,
        "--scripts",
        "warn",
        "--from-report",
        trivy.to_str().unwrap(),
        "--cache",
        cache.to_str().unwrap(),
    ])
    .ok();
    assert!(out.text().contains(report["digest"].as_str().unwrap()), "{}", out.text());
}

/// Not a test: the fixture of `benches/patch-apk-vs-peer.sh`, written when
/// `OCI_HARDEN_APK_BENCH_DIR` names a directory (skipped otherwise). Every package of the
/// minirootfs but alpine-baselayout, alpine-keys and apk-tools rebuilt one release later
/// (`-rN` → `-rN+1`, dependencies, provides and install_if pinned, provider priorities kept to the new releases, scripts from
/// `scripts.tar`), signed with a fresh key, in `DIR/repo`; the key in `DIR/keys/`; the image
/// (the minirootfs, its repositories naming `OCI_HARDEN_APK_BENCH_URL`, the key trusted) in
/// the layout `DIR/layout` tagged `old`; the rebuilt names in `DIR/packages`.
#[test]
#[ignore = "a benchmark's fixture, run by benches/patch-apk-vs-peer.sh"]
fn bench_fixture() {
    let Ok(out) = std::env::var("OCI_HARDEN_APK_BENCH_DIR") else { return };
    let url = std::env::var("OCI_HARDEN_APK_BENCH_URL").expect("OCI_HARDEN_APK_BENCH_URL");
    let out = Path::new(&out);
    let tmp = tempdir();
    let mini = tmp.path().join("mini");
    fs::create_dir(&mini).unwrap();
    alpine_root(&mini);
    fs::create_dir_all(out.join("keys")).unwrap();
    let key = ApkSigningKey::generate(&out.join("keys"), "ocih-bench-5f00d1e5");
    let bump = |v: &str| {
        let (base, release) = v.rsplit_once("-r").expect("a release");
        format!("{base}-r{}", release.parse::<u32>().unwrap() + 1)
    };
    let names = [
        "busybox",
        "busybox-binsh",
        "ssl_client",
        "libcrypto3",
        "libssl3",
        "musl",
        "musl-utils",
        "scanelf",
        "zlib",
        "ca-certificates-bundle",
    ];
    let old_versions: Vec<String> = names
        .iter()
        .map(|n| installed_record(&mini, n).lines().find_map(|l| l.strip_prefix("V:")).unwrap().to_owned())
        .collect();
    // `X=V` with V one of the rebuilt versions becomes `X=bump(V)`.
    let pin = |token: &str| match token.split_once('=') {
        Some((what, v)) if old_versions.iter().any(|o| o == v) => format!("{what}={}", bump(v)),
        _ => token.to_owned(),
    };
    let scripts_tar = mini.join("lib/apk/db/scripts.tar");
    let listing = Command::new("tar").arg("-tf").arg(&scripts_tar).output().unwrap();
    let listing = String::from_utf8(listing.stdout).unwrap();
    let mut packages = Vec::new();
    for (name, old) in names.iter().zip(&old_versions) {
        let record = installed_record(&mini, name);
        let field = |key: &str| -> Vec<String> {
            record
                .lines()
                .filter_map(|l| l.strip_prefix(key))
                .flat_map(|v| v.split_whitespace().map(pin).collect::<Vec<_>>())
                .collect()
        };
        let (depends, provides) = (field("D:"), field("p:"));
        let depends: Vec<&str> = depends.iter().map(String::as_str).collect();
        let provides: Vec<&str> = provides.iter().map(String::as_str).collect();
        let mut p = rebuilt_as(&mini, name, &bump(old), &depends, &provides);
        // ssl_client is installed by its install_if (busybox and libssl3): without it apk-tools
        // would purge it rather than upgrade it.
        p.install_if = field("i:");
        // busybox-binsh is /bin/sh's preferred provider (k:100); without it apk-tools keeps the
        // old one.
        p.provider_priority = record.lines().find_map(|l| l.strip_prefix("k:")).map(|k| k.parse().unwrap());
        for entry in listing.lines().filter(|e| e.starts_with(&format!("{name}-{old}."))) {
            let script = entry.rsplit('.').next().unwrap();
            let text = Command::new("tar").arg("-xOf").arg(&scripts_tar).arg(entry).output().unwrap().stdout;
            p.scripts.push((script.to_owned(), String::from_utf8(text).unwrap()));
        }
        if *name == "busybox" {
            p.triggers = ["/bin", "/usr/bin", "/sbin", "/usr/sbin", "/lib/modules/*"].map(String::from).to_vec();
        }
        packages.push(p);
    }
    let repo = ApkRepo::write(&out.join("repo"), &key, &packages, "RSA", "RSA256");
    // The image installs nothing new: an empty repository is enough for the build.
    let empty = ApkRepo::write(&tmp.path().join("empty"), &key, &[], "RSA", "RSA256");
    let image = ApkImage::build(&key, &empty, &format!("{url}\n"), &[], "old");
    let copied = Command::new("cp").arg("-a").arg(&image.layout).arg(out.join("layout")).status().unwrap();
    assert!(copied.success());
    fs::write(out.join("packages"), names.join("\n") + "\n").unwrap();
    assert!(repo.index_path().exists());
}
