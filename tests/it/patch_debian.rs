//! `oci-harden patch` against the real Debian archive (issue #9): a bookworm image built by
//! `mmdebstrap` from the main suite only, whose own sources also name the security suite,
//! upgraded from those sources (`--upgrade all`) without running anything from it. Judges:
//! apt (`apt-cache policy` over the image's own sources: every package at its candidate),
//! dpkg (`--verify`, `--audit`) and the patched `openssl` binary itself.
//!
//! The mirror is the one this machine's apt sources name (read at run time). When the
//! machine cannot reach it, the test says so plainly and checks nothing.

#![allow(clippy::print_stderr)] // these tests say plainly when the archive they need is out of reach

use std::path::{Path, PathBuf};

use crate::harness::{
    AptClient, dpkg_audit, dpkg_query_versions, dpkg_verify, oci_harden, oci_ref, require_root, require_tool, tempdir,
    unpack,
};
use crate::inventory::{Layer, write_image};

/// The `URIs`/`deb` URIs of this machine's apt sources: (main archive, security archive).
fn host_mirrors() -> Option<(String, String)> {
    let mut texts = vec![std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default()];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        for e in dir.flatten() {
            texts.push(std::fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    let uris: Vec<String> = texts
        .iter()
        .flat_map(|t| t.lines())
        .filter_map(|l| {
            let l = l.trim();
            l.strip_prefix("URIs:").map(|u| u.trim().to_owned()).or_else(|| {
                l.strip_prefix("deb ").and_then(|r| r.split_whitespace().find(|w| w.contains("://"))).map(str::to_owned)
            })
        })
        .collect();
    let security = uris.iter().find(|u| u.trim_end_matches('/').ends_with("debian-security"))?.clone();
    let main = uris.iter().find(|u| u.trim_end_matches('/').ends_with("/debian"))?.clone();
    Some((main, security))
}

/// A bookworm minbase image with openssl from the main suite, its sources naming both
/// suites (signed by the archive keyring inside the image); `None` when the mirror is
/// out of reach.
fn old_bookworm(dir: &Path, main: &str, security: &str) -> Option<PathBuf> {
    let tar = dir.join("rootfs.tar");
    let sources = format!(
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {main} bookworm main\n\
         deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {security} bookworm-security main\n"
    );
    let hook = format!("printf '%s' '{sources}' > \"$1/etc/apt/sources.list\"");
    let out = std::process::Command::new("mmdebstrap")
        .args(["--variant=minbase", "--mode=root", "--include=openssl,ca-certificates", "--customize-hook"])
        .arg(&hook)
        .args(["bookworm", tar.to_str().expect("UTF-8"), &format!("deb {main} bookworm main")])
        .output()
        .expect("running mmdebstrap");
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        eprintln!("could not build the image from the Debian mirror {main} (unreachable?): {}", err.trim());
        return None;
    }
    let layout = dir.join("layout");
    write_image(&layout, "old", &[Layer::Tarball(&tar)]);
    Some(layout)
}

#[test]
fn real_archive_upgrades_from_the_images_own_sources() {
    require_root();
    require_tool("mmdebstrap");
    let Some((main, security)) = host_mirrors() else {
        eprintln!("this machine's apt sources name no Debian mirror: nothing checked");
        return;
    };
    let tmp = tempdir();
    let Some(layout) = old_bookworm(tmp.path(), &main, &security) else { return };
    let before = unpack(&layout, "old");
    let apt = AptClient::for_image(&before.path);
    if apt.update().code.is_none_or(|c| c != 0) {
        eprintln!("could not reach the Debian mirror {main}: nothing checked");
        return;
    }

    let report = tmp.path().join("report.json");
    let cache = tmp.path().join("cache");
    let run = oci_harden(&[
        "patch",
        &oci_ref(&layout, Some("old")),
        &oci_ref(&layout, Some("patched")),
        "--upgrade",
        "all",
        "--scripts",
        "warn",
        "--cache",
        cache.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.describe());

    let after = unpack(&layout, "patched");
    assert_eq!(dpkg_audit(&after.path), "", "dpkg --audit on the patched image");
    assert_eq!(dpkg_verify(&after.path), "", "dpkg --verify on the patched image");
    let versions = dpkg_query_versions(&after.path);
    let upgraded: Vec<String> = crate::harness::read_json(&report)["images"][0]["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| format!("{}:{}", p["name"].as_str().unwrap(), p["architecture"].as_str().unwrap()))
        .collect();
    eprintln!("upgraded from the security suite: {upgraded:?}");
    // apt's candidate over the image's own sources, for every installed package.
    for (package, version) in &versions {
        let name = package.split(':').next().unwrap();
        let candidate = apt.policy(package).candidate.or_else(|| apt.policy(name).candidate);
        assert_eq!(candidate.as_deref(), Some(version.as_str()), "{package}: apt's candidate vs the patched image");
    }
    // The patched image runs: its openssl reports the upstream version dpkg records.
    let openssl = &versions["openssl:amd64"];
    let upstream = openssl.split('-').next().unwrap();
    let out =
        std::process::Command::new("chroot").arg(&after.path).args(["/usr/bin/openssl", "version"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains(&format!("OpenSSL {upstream}")), "openssl version: {text}");
}
