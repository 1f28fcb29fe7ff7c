//! Unit tests of the apk module; keys and signatures are made with `openssl` at test time and
//! the real Alpine keys come from the minirootfs fixture.

use std::io::Read;
use std::path::Path;
use std::process::Command;

use super::*;

const MINIROOTFS: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/images/alpine-minirootfs-3.20.3-x86_64.tar.gz");

/// The files of the minirootfs under `prefix`, as `(name, bytes)`.
pub(super) fn minirootfs_files(prefix: &str) -> Vec<(String, Vec<u8>)> {
    let f = std::fs::File::open(MINIROOTFS).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let mut out = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().trim_start_matches("./").to_owned();
        if let Some(name) = path.strip_prefix(prefix)
            && e.header().entry_type() == tar::EntryType::Regular
        {
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            out.push((name.to_owned(), data));
        }
    }
    out
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A key pair made by openssl in `dir`: `name` (private) and `name.pub`.
fn keypair(dir: &Path, name: &str) -> Vec<u8> {
    openssl(dir, &["genrsa", "-out", name, "2048"]);
    openssl(dir, &["rsa", "-in", name, "-pubout", "-out", &format!("{name}.pub")]);
    std::fs::read(dir.join(format!("{name}.pub"))).unwrap()
}

fn sign(dir: &Path, key: &str, digest: &str, data: &[u8]) -> Vec<u8> {
    std::fs::write(dir.join("data"), data).unwrap();
    openssl(dir, &["dgst", digest, "-sign", key, "-out", "sig", "data"]);
    std::fs::read(dir.join("sig")).unwrap()
}

#[test]
fn entry_names() {
    assert_eq!(ApkSignature::parse_entry_name(".SIGN.RSA.k.rsa.pub"), Some((SignatureHash::Sha1, "k.rsa.pub")));
    assert_eq!(
        ApkSignature::parse_entry_name(".SIGN.RSA256.a@b-1.rsa.pub"),
        Some((SignatureHash::Sha256, "a@b-1.rsa.pub"))
    );
    assert_eq!(ApkSignature::parse_entry_name(".SIGN.RSA512.x"), Some((SignatureHash::Sha512, "x")));
    for bad in
        [".SIGN.DSA.k", ".SIGN.RSA.", ".SIGN.RSA.a/b", ".SIGN.RSA..", "SIGN.RSA.k", ".SIGN.RSA1024.k", ".PKGINFO"]
    {
        assert_eq!(ApkSignature::parse_entry_name(bad), None, "{bad}");
    }
    let s = ApkSignature { hash: SignatureHash::Sha256, key: "k.rsa.pub".into(), bytes: vec![] };
    assert_eq!(s.entry_name(), ".SIGN.RSA256.k.rsa.pub");
}

#[test]
fn the_real_alpine_keys_load() {
    let files = minirootfs_files("etc/apk/keys/");
    assert_eq!(files.len(), 5);
    let mut keys = ApkKeys::new();
    for (name, pem) in &files {
        keys.add_pem(name, pem).unwrap();
    }
    assert_eq!(
        keys.names().collect::<Vec<_>>(),
        [
            "alpine-devel@lists.alpinelinux.org-4a6a0840.rsa.pub",
            "alpine-devel@lists.alpinelinux.org-5243ef4b.rsa.pub",
            "alpine-devel@lists.alpinelinux.org-5261cecb.rsa.pub",
            "alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub",
            "alpine-devel@lists.alpinelinux.org-61666e3f.rsa.pub",
        ]
    );
    // A signature by a real key that does not match is a bad signature, named as such.
    let sig = ApkSignature {
        hash: SignatureHash::Sha256,
        key: "alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub".into(),
        bytes: vec![7; 512],
    };
    let err = keys.verify_bytes("APKINDEX.tar.gz", std::slice::from_ref(&sig), b"data").unwrap_err().to_string();
    assert_eq!(
        err,
        "signature of APKINDEX.tar.gz: bad RSA256 signature .SIGN.RSA256.alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub by key \"alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub\""
    );
}

#[test]
fn bad_keys_are_refused() {
    let mut keys = ApkKeys::new();
    let err = keys.add_pem("k.rsa.pub", b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").unwrap_err();
    assert!(err.to_string().starts_with("apk key k.rsa.pub: not a PEM RSA public key"), "{err}");
    let err = keys.add_pem("../k", b"x").unwrap_err();
    assert_eq!(err.to_string(), "apk key ../k: not a plain file name");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("junk.rsa.pub"), "hello").unwrap();
    let err = keys.load_dir(dir.path()).unwrap_err().to_string();
    assert!(err.starts_with(&format!("apk key {}/junk.rsa.pub: not", dir.path().display())), "{err}");
    assert!(keys.is_empty());
}

#[test]
fn openssl_signatures_verify_with_each_digest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pem = keypair(d, "test.rsa");
    let other = keypair(d, "other.rsa");
    let mut keys = ApkKeys::new();
    keys.add_pem("test.rsa.pub", &pem).unwrap();
    keys.add_pem("other.rsa.pub", &other).unwrap();
    let data = b"the bytes of a control stream".repeat(100);
    for (hash, flag) in
        [(SignatureHash::Sha1, "-sha1"), (SignatureHash::Sha256, "-sha256"), (SignatureHash::Sha512, "-sha512")]
    {
        let bytes = sign(d, "test.rsa", flag, &data);
        let sig = ApkSignature { hash, key: "test.rsa.pub".into(), bytes };
        keys.verify_bytes("f", std::slice::from_ref(&sig), &data).unwrap();
        // One byte changed: refused, naming the file and the key.
        let mut changed = data.clone();
        changed[3] ^= 1;
        let err = keys.verify_bytes("f.apk", std::slice::from_ref(&sig), &changed).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "signature of f.apk: bad {} signature .SIGN.{}.test.rsa.pub by key \"test.rsa.pub\"",
                hash.entry_type(),
                hash.entry_type()
            )
        );
        // Claimed as another key's signature: refused.
        let forged = ApkSignature { key: "other.rsa.pub".into(), ..sig.clone() };
        assert!(keys.verify_bytes("f", &[forged], &data).is_err());
        // Claimed with another digest: refused.
        let wrong = ApkSignature {
            hash: if hash == SignatureHash::Sha1 { SignatureHash::Sha256 } else { SignatureHash::Sha1 },
            ..sig.clone()
        };
        assert!(keys.verify_bytes("f", &[wrong], &data).is_err());
    }
    // Unknown keys and unsigned data.
    let sig = ApkSignature { hash: SignatureHash::Sha1, key: "nobody.rsa.pub".into(), bytes: vec![1; 256] };
    let err = keys.verify_bytes("f", &[sig], &data).unwrap_err().to_string();
    assert_eq!(err, "signature of f: signed by unknown key \"nobody.rsa.pub\" (not among the trusted keys)");
    let err = keys.verify_bytes("f", &[], &data).unwrap_err().to_string();
    assert_eq!(err, "signature of f: unsigned: no .SIGN.* entry");
    // load_dir reads the same keys from files.
    let kd = d.join("keys");
    std::fs::create_dir(&kd).unwrap();
    std::fs::write(kd.join("test.rsa.pub"), &pem).unwrap();
    let mut loaded = ApkKeys::new();
    assert_eq!(loaded.load_dir(&kd).unwrap(), 1);
    let bytes = sign(d, "test.rsa", "-sha256", &data);
    loaded
        .verify_bytes("f", &[ApkSignature { hash: SignatureHash::Sha256, key: "test.rsa.pub".into(), bytes }], &data)
        .unwrap();
}

/// A tar stream of `(name, bytes)` regular files, without end blocks when `cut`.
pub(super) fn tar_of(files: &[(&str, &[u8])], cut: bool) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_path(name).unwrap();
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    let mut out = b.into_inner().unwrap();
    if cut {
        out.truncate(out.len() - 1024);
    }
    out
}

#[test]
fn signature_streams() {
    let stream = tar_of(&[(".SIGN.DSA.old", b"x"), (".SIGN.RSA256.k.rsa.pub", b"sig")], true);
    let sigs = read_signatures(&stream[..], "f").unwrap();
    assert_eq!(sigs, [ApkSignature { hash: SignatureHash::Sha256, key: "k.rsa.pub".into(), bytes: b"sig".to_vec() }]);
    let err = read_signatures(&tar_of(&[(".SIGN.DSA.old", b"x")], false)[..], "f").unwrap_err().to_string();
    assert_eq!(err, "signature of f: 1 signature(s), none of type RSA, RSA256 or RSA512");
    let err = read_signatures(&tar_of(&[(".PKGINFO", b"x")], true)[..], "p.apk").unwrap_err().to_string();
    assert_eq!(err, "p.apk entry \".PKGINFO\": not a signature (.SIGN.*) file in the signature stream");
    let err = read_signatures(&[][..], "f").unwrap_err().to_string();
    assert_eq!(err, "signature of f: unsigned: no .SIGN.* entry");
}
