//! Helpers shared by the fuzz targets: scratch files on tmpfs, small tar/gzip builders and
//! the layouts and signed packages some parsers need around the fuzzed bytes. Nothing here
//! parses: every target hands its bytes to the library's own public API.

#[path = "targets.rs"]
pub mod targets;

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::Digest as _;

/// A scratch directory for one fuzzing process, on tmpfs when there is one (targets that
/// need files write them here, not to the disk).
pub fn scratch() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
        tempfile::Builder::new().prefix("oci-harden-fuzz").tempdir_in(base).expect("scratch directory")
    })
    .path()
}

/// Writes `bytes` to `name` in the scratch directory and returns its path.
pub fn scratch_file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch().join(name);
    std::fs::write(&path, bytes).expect("scratch file");
    path
}

/// Lower-case hex SHA256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Splits fuzz input into up to `n` parts: one byte before each part but the last gives its
/// length, in 512-byte tar blocks when `blocks`, else in 16-byte units. Simple and stable,
/// so libFuzzer's mutations keep their effect.
pub fn split(data: &[u8], n: usize, blocks: bool) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    for _ in 1..n {
        let Some((&len, tail)) = rest.split_first() else { break };
        let len = if blocks { len as usize * 512 } else { len as usize * 16 };
        let cut = len.min(tail.len());
        parts.push(&tail[..cut]);
        rest = &tail[cut..];
    }
    parts.push(rest);
    parts
}

/// Gzip of `bytes` (fast level: the fuzzer's time goes to the parser).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).expect("in memory");
    gz.finish().expect("in memory")
}

/// A tar holding `files` (name, content) as regular files, without end-of-archive blocks
/// when `eof` is false (as apk's signature and control streams are written).
pub fn tar_of(files: &[(&str, &[u8])], eof: bool) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, content) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_path(name).expect("short name");
        h.set_cksum();
        b.append(&h, *content).expect("in memory");
    }
    let out = b.into_inner().expect("in memory");
    if eof { out } else { out[..out.len() - 1024].to_vec() }
}

/// Writes an OCI layout in `dir` (created afresh) whose one image has `layers` as plain,
/// uncompressed tar layers, tagged `t`, and returns the reference `oci:DIR:t`. Blobs are
/// written directly (correct digests, no fsync) so the fuzzer spends its time in the reader.
pub fn layout_with_layers(dir: &Path, layers: &[&[u8]]) -> String {
    let _ = std::fs::remove_dir_all(dir);
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("layout directory");
    let put = |bytes: &[u8]| {
        let hex = sha256_hex(bytes);
        std::fs::write(blobs.join(&hex), bytes).expect("blob");
        (format!("sha256:{hex}"), bytes.len())
    };
    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    for layer in layers {
        let (digest, size) = put(layer);
        descriptors.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": size
        }));
        diff_ids.push(digest);
    }
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": { "type": "layers", "diff_ids": diff_ids }
    });
    let (config_digest, config_size) = put(&serde_json::to_vec(&config).expect("json"));
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size },
        "layers": descriptors
    });
    let (manifest_digest, manifest_size) = put(&serde_json::to_vec(&manifest).expect("json"));
    let index = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
            "size": manifest_size, "annotations": { "org.opencontainers.image.ref.name": "t" }
        }]
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).expect("json")).expect("index.json");
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
    format!("oci:{}:t", dir.display())
}

/// The name the fuzz-only apk signing key is known by.
pub const APK_KEY_NAME: &str = "fuzz.rsa.pub";

/// A throw-away RSA key made for fuzzing only (it signs nothing outside this directory).
const APK_KEY_PEM: &str = include_str!("fuzz-only-key.pem");

fn apk_private_key() -> &'static rsa::RsaPrivateKey {
    use rsa::pkcs8::DecodePrivateKey;
    static KEY: std::sync::OnceLock<rsa::RsaPrivateKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| rsa::RsaPrivateKey::from_pkcs8_pem(APK_KEY_PEM).expect("fuzz key"))
}

/// The PEM public key matching the fuzz-only signing key, for `ApkKeys::add_pem`.
pub fn apk_public_pem() -> String {
    use rsa::pkcs8::EncodePublicKey;
    apk_private_key().to_public_key().to_public_key_pem(rsa::pkcs8::LineEnding::LF).expect("pem")
}

/// An apk signature stream (gzip of a tar with `.SIGN.RSA256.<key>`, no end blocks) over
/// `signed`, made with the fuzz-only key as `abuild-sign` makes one.
pub fn apk_signature_stream(signed: &[u8]) -> Vec<u8> {
    // DER DigestInfo prefix of SHA-256 (RFC 8017, section 9.2, note 1).
    const PREFIX: [u8; 19] = [
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04,
        0x20,
    ];
    let mut hashed = PREFIX.to_vec();
    hashed.extend_from_slice(&sha2::Sha256::digest(signed));
    let sig = apk_private_key().sign(rsa::Pkcs1v15Sign::new_unprefixed(), &hashed).expect("sign");
    gzip(&tar_of(&[(&format!(".SIGN.RSA256.{APK_KEY_NAME}"), &sig)], false))
}

/// SHA1 of `bytes` (an apk identity).
pub fn sha1(bytes: &[u8]) -> [u8; 20] {
    use sha1::Digest as _;
    sha1::Sha1::digest(bytes).into()
}
