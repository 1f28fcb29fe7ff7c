//! `.apk` packages: raw files against a known key, and packages built around fuzzed
//! `.PKGINFO` text and data tar, signed by that key with a correct `datahash` and identity,
//! so the checks after the signature (`.PKGINFO`, scripts, data entries, checksums, paths)
//! are reached.
#![no_main]
use std::io::Read;

use hardener::{ApkChecksum, ApkKeys, VerifiedApk};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (Some(&mode), Some(rest)) = (data.first(), data.get(1..)) else { return };
    let (file, identity) = if mode & 1 == 0 {
        (rest.to_vec(), ApkChecksum::Sha1([0; 20]))
    } else {
        let parts = oci_harden_fuzz::split(rest, 3, false);
        let (pkginfo, script, data_tar) = (parts[0], parts.get(1).copied().unwrap_or(&[]), parts[parts.len() - 1]);
        let data_gz = oci_harden_fuzz::gzip(data_tar);
        let mut pkginfo = pkginfo.to_vec();
        pkginfo.extend_from_slice(format!("\ndatahash = {}\n", oci_harden_fuzz::sha256_hex(&data_gz)).as_bytes());
        let control = oci_harden_fuzz::gzip(&oci_harden_fuzz::tar_of(
            &[(".PKGINFO", &pkginfo), (".post-install", script)],
            false,
        ));
        let mut file = oci_harden_fuzz::apk_signature_stream(&control);
        file.extend_from_slice(&control);
        file.extend_from_slice(&data_gz);
        (file, ApkChecksum::Sha1(oci_harden_fuzz::sha1(&control)))
    };
    let path = oci_harden_fuzz::scratch_file("package.apk", &file);
    let opened = std::fs::File::open(&path).expect("scratch file");
    let Ok(apk) = VerifiedApk::from_file(opened, "package.apk", keys(), &identity) else { return };
    let _ = (apk.pkginfo().get("pkgname"), apk.scripts().len(), apk.identity());
    let _ = apk.data(|entry| {
        let mut sink = Vec::new();
        let _ = entry.data().take(1 << 20).read_to_end(&mut sink);
        Ok(())
    });
});

fn keys() -> &'static ApkKeys {
    static KEYS: std::sync::OnceLock<ApkKeys> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys = ApkKeys::new();
        keys.add_pem(oci_harden_fuzz::APK_KEY_NAME, oci_harden_fuzz::apk_public_pem().as_bytes()).expect("fuzz key");
        keys
    })
}
