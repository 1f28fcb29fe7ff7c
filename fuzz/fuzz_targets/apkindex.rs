//! `APKINDEX` text and signed `APKINDEX.tar.gz` files: the index parser directly, and the
//! signature and archive streams in front of it (with one known key, so a fuzzed stream can
//! carry a signature by an unknown key or a bad one).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
            let index = oci_harden_fuzz::gzip(rest);
            let mut file = oci_harden_fuzz::apk_signature_stream(&index);
            file.extend_from_slice(&index);
            let _ = hardener::ApkIndex::read(&file[..], "APKINDEX.tar.gz", keys());
        }
    }
});

fn keys() -> &'static hardener::ApkKeys {
    static KEYS: std::sync::OnceLock<hardener::ApkKeys> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys = hardener::ApkKeys::new();
        keys.add_pem(oci_harden_fuzz::APK_KEY_NAME, oci_harden_fuzz::apk_public_pem().as_bytes()).expect("fuzz key");
        keys
    })
}
