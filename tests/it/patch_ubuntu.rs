//! Patching an Ubuntu image (issue #15): an image shaped like noble's (Ubuntu os-release,
//! dpkg database written by dpkg, `t64` library names), a signed repository with the
//! release, `-updates` and `-security` pockets and a later release, and the REAL Ubuntu
//! OSV records as the advisories. The fix comes from the image's own release only, the
//! finding Ubuntu has no fix for stays. Judges: dpkg and a re-scan.

#![allow(clippy::print_stderr)] // these tests say plainly when the archive they need is out of reach

use std::collections::BTreeSet;

use crate::harness::{
    AptRepo, Deb, Os, Suite, dpkg_audit, dpkg_image, dpkg_query_versions, dpkg_verify, fixture, oci_harden, oci_ref,
    tempdir, unpack,
};

fn openssl(version: &str) -> [Deb; 2] {
    [
        Deb::new("openssl", version, "amd64").file("usr/bin/openssl", 0o755, format!("openssl {version}\n").as_bytes()),
        Deb::new("libssl3t64", version, "amd64").source("openssl", None).multi_arch("same").file(
            "usr/lib/x86_64-linux-gnu/libssl.so.3",
            0o644,
            format!("libssl {version}\n").as_bytes(),
        ),
    ]
}

#[test]
fn noble_is_patched_from_its_own_pockets_against_ubuntus_advisories() {
    let repo = AptRepo::builder()
        .suite(Suite::new("noble").debs(openssl("3.0.13-0ubuntu3")))
        .suite(Suite::new("noble-updates").debs(openssl("3.0.13-0ubuntu3.4")))
        .suite(Suite::new("noble-security").debs(openssl("3.0.13-0ubuntu3.7")))
        // A later release: newer, and never to be used for a noble image.
        .suite(Suite::new("oracular").debs(openssl("3.3.1-2ubuntu2")))
        .build();
    let image = dpkg_image(&repo).os(Os::UbuntuNoble).install(repo.debs("noble")).tag("old").build();
    let tmp = tempdir();
    let db = tmp.path().join("db");
    let db = db.to_str().unwrap();
    oci_harden(&["db", "update", "--db", db, "--from", fixture("advisories/ubuntu-osv").to_str().unwrap()]).ok();
    let before = oci_harden(&["scan", &image.reference(), "--db", db, "--format", "json"]).ok().json();
    let ids = |report: &serde_json::Value| -> BTreeSet<String> {
        report["Results"][0]["Vulnerabilities"]
            .as_array()
            .map(|v| {
                v.iter()
                    .map(|f| format!("{} {}", f["PkgName"].as_str().unwrap(), f["VulnerabilityID"].as_str().unwrap()))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(ids(&before).len(), 10, "5 openssl findings for each binary: {:?}", ids(&before));

    let out = tmp.path().join("out");
    let dst = oci_ref(&out, Some("patched"));
    let cache = tmp.path().join("cache");
    let run = oci_harden(&["patch", &image.reference(), &dst, "--db", db, "--cache", cache.to_str().unwrap()]).ok();
    assert!(run.text().contains("findings: 10 before, 2 after (8 fixed)"), "{}", run.text());
    assert!(
        run.stderr.contains("oracular") || run.text().contains("oracular"),
        "the later release is named as skipped:\n{}\n{}",
        run.text(),
        run.stderr
    );

    let rootfs = unpack(&out, "patched");
    assert_eq!(dpkg_audit(&rootfs.path), "");
    assert_eq!(dpkg_verify(&rootfs.path), "");
    let versions = dpkg_query_versions(&rootfs.path);
    assert_eq!(versions.get("openssl:amd64").map(String::as_str), Some("3.0.13-0ubuntu3.7"));
    assert_eq!(versions.get("libssl3t64:amd64").map(String::as_str), Some("3.0.13-0ubuntu3.7"));
    let after = oci_harden(&["scan", &dst, "--db", db, "--format", "json"]).ok().json();
    assert_eq!(
        ids(&after),
        BTreeSet::from(["libssl3t64 CVE-2024-41996".to_owned(), "openssl CVE-2024-41996".to_owned()]),
        "only the finding Ubuntu has no fix for remains"
    );
}

/// Against the real Ubuntu archive: a noble image from the release pocket (mmdebstrap with
/// the archive's keyring), its openssl patched from its own sources (`-security`,
/// `-updates`), judged by dpkg and by running the patched `openssl version`. The archive
/// and its keyring are named by `OCI_HARDEN_UBUNTU_MIRROR` (e.g. an Ubuntu mirror's
/// `/ubuntu` URL) and `OCI_HARDEN_UBUNTU_KEYRING` (the `ubuntu-archive-keyring.gpg` from the
/// archive's `ubuntu-keyring` package); without them, or when the mirror cannot be reached,
/// the test says so plainly and checks nothing.
#[test]
fn real_ubuntu_archive_when_one_is_reachable() {
    let (Ok(mirror), Ok(keyring)) =
        (std::env::var("OCI_HARDEN_UBUNTU_MIRROR"), std::env::var("OCI_HARDEN_UBUNTU_KEYRING"))
    else {
        eprintln!(
            "no Ubuntu archive configured (OCI_HARDEN_UBUNTU_MIRROR, OCI_HARDEN_UBUNTU_KEYRING): the real-archive Ubuntu \
             patch was not checked"
        );
        return;
    };
    crate::harness::require_root();
    crate::harness::require_tool("mmdebstrap");
    let tmp = tempdir();
    let tar = tmp.path().join("rootfs.tar");
    let key_in_image = "/usr/share/keyrings/ubuntu-archive-keyring.gpg";
    let sources = format!(
        "deb [signed-by={key_in_image}] {mirror} noble main\ndeb [signed-by={key_in_image}] {mirror} noble-updates main\n\
         deb [signed-by={key_in_image}] {mirror} noble-security main\n"
    );
    let out = std::process::Command::new("mmdebstrap")
        .args(["--variant=minbase", "--mode=root", "--include=openssl,ubuntu-keyring", &format!("--keyring={keyring}")])
        .arg(format!("--customize-hook=printf '%s' '{sources}' > \"$1/etc/apt/sources.list\""))
        .args(["noble", tar.to_str().unwrap(), &format!("deb {mirror} noble main")])
        .output()
        .expect("running mmdebstrap");
    if !out.status.success() {
        eprintln!("could not reach the Ubuntu archive {mirror}: {}", String::from_utf8_lossy(&out.stderr).trim());
        return;
    }
    let layout = tmp.path().join("layout");
    crate::inventory::write_image(&layout, "old", &[crate::inventory::Layer::Tarball(&tar)]);
    let cache = tmp.path().join("cache");
    oci_harden(&[
        "patch",
        &oci_ref(&layout, Some("old")),
        &oci_ref(&layout, Some("patched")),
        "--packages",
        "openssl,libssl3t64",
        "--scripts",
        "warn",
        "--cache",
        cache.to_str().unwrap(),
    ])
    .ok();
    let rootfs = unpack(&layout, "patched");
    assert_eq!(dpkg_audit(&rootfs.path), "");
    assert_eq!(dpkg_verify(&rootfs.path), "");
    let version = dpkg_query_versions(&rootfs.path)["openssl:amd64"].clone();
    let out =
        std::process::Command::new("chroot").arg(&rootfs.path).args(["/usr/bin/openssl", "version"]).output().unwrap();
    let upstream = version.split('-').next().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("OpenSSL {upstream}")), "{version}");
}
