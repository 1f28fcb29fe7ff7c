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
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
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

/// `data` as one gzip member.
pub(super) fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A signed `APKINDEX.tar.gz` as abuild-sign makes it: the signature over the whole unsigned
/// `.tar.gz`, in a cut tar, gzipped, in front.
fn signed_index(d: &Path, key: &str, flag: &str, kind: &str, text: &str) -> Vec<u8> {
    let unsigned = gzip(&tar_of(&[("DESCRIPTION", b"v3.20.3-test"), ("APKINDEX", text.as_bytes())], false));
    let sig = sign(d, key, flag, &unsigned);
    let name = format!(".SIGN.{kind}.{key}.pub");
    let mut out = gzip(&tar_of(&[(&name, &sig)], true));
    out.extend_from_slice(&unsigned);
    out
}

const INDEX: &str = "C:Q1hvfkN/qlp/zhXR3cuerq6jd2Z7g=\nP:musl\nV:1.2.5-r1\nA:x86_64\nS:411323\nI:641536\n\
T:the musl c library (libc) implementation\nU:https://musl.libc.org/\nL:MIT\no:musl\n\
m:Natanael Copa <ncopa@alpinelinux.org>\nt:1729000000\nc:0123456789abcdef\n\
p:so:libc.musl-x86_64.so.1=1\n\nC:Q16dcfXufJLW3J6S/9rRe4vUlBj5g=\nP:busybox-binsh\nV:1.36.1-r30\nA:x86_64\n\
S:1574\nI:1\nT:busybox ash /bin/sh\nU:https://busybox.net/\nL:GPL-2.0-only\no:busybox\nk:100\n\
D:busybox=1.36.1-r30 !bash-binsh so:libc.musl-x86_64.so.1 cmd:x>=1.0 y<2 z~3.1 w@edge\n\
p:/bin/sh cmd:sh=1.36.1-r30\ni:busybox=1.36.1-r30 base\n\n";

#[test]
fn index_text_parses_and_writes_back() {
    let index = ApkIndex::parse(INDEX, "APKINDEX").unwrap();
    assert_eq!(index.entries.len(), 2);
    let b = &index.entries[1];
    assert_eq!((b.name.as_str(), b.version.as_str(), b.line), ("busybox-binsh", "1.36.1-r30", 16));
    assert_eq!(b.checksum.to_string(), "Q16dcfXufJLW3J6S/9rRe4vUlBj5g=");
    assert_eq!(b.provider_priority, 100);
    let dep = |name: &str, tag: Option<&str>, conflict, c: Option<(ApkDepOp, &str)>| ApkDependency {
        name: name.into(),
        tag: tag.map(Into::into),
        conflict,
        constraint: c.map(|(o, v)| (o, v.into())),
    };
    assert_eq!(
        b.depends,
        [
            dep("busybox", None, false, Some((ApkDepOp::Equal, "1.36.1-r30"))),
            dep("bash-binsh", None, true, None),
            dep("so:libc.musl-x86_64.so.1", None, false, None),
            dep("cmd:x", None, false, Some((ApkDepOp::GreaterEq, "1.0"))),
            dep("y", None, false, Some((ApkDepOp::Less, "2"))),
            dep("z", None, false, Some((ApkDepOp::Fuzzy, "3.1"))),
            dep("w", Some("edge"), false, None),
        ]
    );
    assert_eq!(b.depends[2].kind(), ApkNameKind::SharedObject);
    assert_eq!(b.provides[1].kind(), ApkNameKind::Command);
    assert_eq!(b.install_if.len(), 2);
    // apk_pkg_write_index_header gives back each record byte for byte.
    let mut out = String::new();
    for e in &index.entries {
        e.write_header(&mut out);
        out.push('\n');
    }
    assert_eq!(out, INDEX);
}

#[test]
fn bad_index_text_is_refused_with_its_line() {
    let cases = [
        ("P:a\nV:1\n", "x line 1: record without a checksum (C:)"),
        ("C:Q1hvfkN/qlp/zhXR3cuerq6jd2Z7g=\nP:a\n", "x line 1: record without a version (V:)"),
        ("C:Q1hvfkN/qlp/zhXR3cuerq6jd2Z7g=\nP:a\nV:1\nS:12x\n", "x line 4: S: \"12x\" is not a number"),
        ("C:Q1hvfkN/qlp/zhXR3cuerq6jd2Z7g=\nP:a\nV:1\nP:b\n", "x line 4: second P: field in the record of line 1"),
        (
            "C:Q1hvfkN/qlp/zhXR3cuerq6jd2Z7g=\nP:a\nV:1\nD:b>=\n",
            "x line 4: dependency \"b>=\": operator without a version",
        ),
        (
            "C:Q1hvfkN/qlp/zhXR3cuerq6jd2Z7g=\nP:a\nV:1\nD:b<>1\n",
            "x line 4: dependency \"b<>1\": unknown operator \"<>\"",
        ),
        ("C:Q1hvfkN/qlp/zhXR3cuerq6jd2Z7g=\nP:a\nV:1\nD:=1\n", "x line 4: dependency \"=1\": no name"),
        ("C:deadbeef\nP:a\nV:1\n", "x line 1: C: \"deadbeef\" is not a Q1 (SHA1) or Q2 (SHA256) base64 checksum"),
        ("\n\nC:Q1hvfkN/qlp/zhXR3cuerq6jd2Z7g=\nP:a\ngarbage\n", "x line 5: expected `X:value`, found \"garbage\""),
        ("C:Q1hvfkN/qlp/zhXR3cuerq6jd2Z7g=\nP:a\nV:1", "x line 3: the index ends without a newline (truncated?)"),
    ];
    for (text, want) in cases {
        assert_eq!(ApkIndex::parse(text, "x").unwrap_err().to_string(), want, "{text:?}");
    }
    assert!(ApkIndex::parse("C:Q1hvfkN/qlp/zhXR3cuerq6jd2Z7g=\nP:a\nV:1.0-rX\n", "x").is_err(), "invalid version");
}

/// The header of every record of the real minirootfs databases, written back, equals the
/// lines apk-tools wrote (up to the first field of the `installed` part: r q s f F).
#[test]
fn real_installed_headers_write_back_byte_for_byte() {
    for fixture in ["alpine-3.20.3-x86_64-installed", "alpine-3.19.4-x86_64-installed"] {
        let path = format!(
            "{}/../../tests/fixtures/dpkg/alpine-minirootfs-apk-installed/{fixture}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(path).unwrap();
        let mut count = 0;
        for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
            let block = format!("{block}\n");
            let header_len = block.lines().take_while(|l| !"rqsfFMRaZ".contains(&l[..1])).map(|l| l.len() + 1).sum();
            let fields = super::index::records(&block, fixture).unwrap().remove(0);
            let header: Vec<_> = fields.into_iter().filter(|f| !"rqsfFMRaZ".contains(f.1)).collect();
            let entry = ApkIndexEntry::from_fields(fixture, &header).unwrap();
            let mut out = String::new();
            entry.write_header(&mut out);
            assert_eq!(out, block[..header_len], "{fixture}");
            count += 1;
        }
        assert!(count >= 14, "{count}");
    }
}

#[test]
fn signed_indexes_verify_and_tampering_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pem = keypair(d, "test.rsa");
    let mut keys = ApkKeys::new();
    keys.add_pem("test.rsa.pub", &pem).unwrap();
    for (flag, kind) in [("-sha1", "RSA"), ("-sha256", "RSA256"), ("-sha512", "RSA512")] {
        let bytes = signed_index(d, "test.rsa", flag, kind, INDEX);
        let index = ApkIndex::read(&bytes[..], "APKINDEX.tar.gz", &keys).unwrap();
        assert_eq!(index.description.as_deref(), Some("v3.20.3-test"));
        assert_eq!(index.entries, ApkIndex::parse(INDEX, "x").unwrap().entries);
        // Every byte after the signature stream is signed: one flipped bit in the gzip
        // trailer (the index text still decodes) is refused.
        let mut flipped = bytes.clone();
        let n = flipped.len();
        flipped[n - 1] ^= 1;
        let err = ApkIndex::read(&flipped[..], "APKINDEX.tar.gz", &keys).unwrap_err().to_string();
        assert!(err.starts_with("APKINDEX.tar.gz entry \"index stream\": corrupt") || err.contains("bad"), "{err}");
        // Truncated.
        let err = ApkIndex::read(&bytes[..n - 30], "APKINDEX.tar.gz", &keys).unwrap_err().to_string();
        assert!(err.starts_with("APKINDEX.tar.gz entry \"index stream\": corrupt"), "{err}");
    }
    // A valid index signed over different bytes: the signature of one, the index of another.
    let a = signed_index(d, "test.rsa", "-sha256", "RSA256", INDEX);
    let b = signed_index(d, "test.rsa", "-sha256", "RSA256", &INDEX.replace("1.2.5-r1", "1.2.5-r9"));
    let sig_len =
        a.len() - gzip(&tar_of(&[("DESCRIPTION", b"v3.20.3-test"), ("APKINDEX", INDEX.as_bytes())], false)).len();
    let b_sig_len = b.len() - (a.len() - sig_len);
    let mut mixed = a[..sig_len].to_vec();
    mixed.extend_from_slice(&b[b_sig_len..]);
    let err = ApkIndex::read(&mixed[..], "APKINDEX.tar.gz", &keys).unwrap_err().to_string();
    assert_eq!(
        err,
        "signature of APKINDEX.tar.gz: bad RSA256 signature .SIGN.RSA256.test.rsa.pub by key \"test.rsa.pub\""
    );
    // Unknown key, unsigned, empty.
    let err = ApkIndex::read(&a[..], "i", &ApkKeys::new()).unwrap_err().to_string();
    assert_eq!(err, "signature of i: signed by unknown key \"test.rsa.pub\" (not among the trusted keys)");
    let unsigned = gzip(&tar_of(&[("DESCRIPTION", b"x"), ("APKINDEX", INDEX.as_bytes())], false));
    let err = ApkIndex::read(&unsigned[..], "i", &keys).unwrap_err().to_string();
    assert_eq!(err, "i entry \"DESCRIPTION\": not a signature (.SIGN.*) file in the signature stream");
    assert_eq!(ApkIndex::read(&[][..], "i", &keys).unwrap_err().to_string(), "i: empty file");
    let err = ApkIndex::read(&a[..sig_len], "i", &keys).unwrap_err().to_string();
    assert_eq!(err, "i: nothing after the signature stream (truncated?)");
}

/// An entry of a test package's data stream.
enum Item<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Link(&'a str, &'a str),
    Hard(&'a str, &'a str),
}

fn sha1_hex(data: &[u8]) -> String {
    let mut h = SignatureHash::Sha1.hasher();
    h.update(data);
    hex::encode(h.finalize())
}

/// A data tar as abuild-tar --hash writes it: a PAX `APK-TOOLS.checksum.SHA1` record before
/// each file (of the content) and symlink (of the target). `lie` replaces the checksum of
/// the file of that name. Paths are written raw (so `../x` can be made).
fn data_tar(items: &[Item<'_>], lie: Option<&str>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for item in items {
        let mut h = tar::Header::new_ustar();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        let (path, sum, data): (&str, Option<String>, &[u8]) = match item {
            Item::File(p, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o755);
                (p, Some(sha1_hex(data)), data)
            }
            Item::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                (p, None, b"")
            }
            Item::Link(p, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_link_name(t).unwrap();
                (p, Some(sha1_hex(t.as_bytes())), b"")
            }
            Item::Hard(p, t) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o755);
                h.set_link_name(t).unwrap();
                (p, None, b"")
            }
        };
        if let Some(sum) = sum {
            let sum = if lie == Some(path) { sha1_hex(b"lie") } else { sum };
            b.append_pax_extensions([("APK-TOOLS.checksum.SHA1", sum.as_bytes())]).unwrap();
        }
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A signed `.apk` as abuild makes it, and its identity (the control stream's SHA1).
fn build_apk(d: &Path, data: &[u8], pkginfo_extra: &str) -> (Vec<u8>, ApkChecksum) {
    let data_gz = gzip(data);
    let mut h = SignatureHash::Sha256.hasher();
    h.update(&data_gz);
    let pkginfo = format!(
        "# Generated by abuild\npkgname = demo\npkgver = 1.0-r1\narch = x86_64\nsize = 42\n{pkginfo_extra}datahash = {}\n",
        hex::encode(h.finalize())
    );
    let control = gzip(&tar_of(
        &[(".PKGINFO", pkginfo.as_bytes()), (".post-install", b"#!/bin/sh\necho hi\n"), (".trigger", b"#!/bin/sh\n")],
        true,
    ));
    let sig = sign(d, "test.rsa", "-sha256", &control);
    let mut out = gzip(&tar_of(&[(".SIGN.RSA256.test.rsa.pub", &sig)], true));
    let mut id = SignatureHash::Sha1.hasher();
    id.update(&control);
    out.extend_from_slice(&control);
    out.extend_from_slice(&data_gz);
    (out, ApkChecksum::Sha1(id.finalize().try_into().unwrap()))
}

/// The length of the first gzip member of `bytes`.
fn first_member_len(bytes: &[u8]) -> usize {
    let mut rest = bytes;
    let mut d = flate2::bufread::GzDecoder::new(&mut rest);
    std::io::copy(&mut d, &mut std::io::sink()).unwrap();
    drop(d);
    bytes.len() - rest.len()
}

fn open_apk(d: &Path, bytes: &[u8], keys: &ApkKeys, id: &ApkChecksum) -> ApkResult<VerifiedApk> {
    let path = d.join("demo-1.0-r1.apk");
    std::fs::write(&path, bytes).unwrap();
    VerifiedApk::open(&path, keys, id)
}

#[test]
fn apk_packages_verify_and_expose_their_parts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut keys = ApkKeys::new();
    keys.add_pem("test.rsa.pub", &keypair(d, "test.rsa")).unwrap();
    let items = [
        Item::Dir("usr/"),
        Item::Dir("usr/bin/"),
        Item::File("usr/bin/demo", b"#!/bin/sh\necho demo\n"),
        Item::Hard("usr/bin/demo2", "usr/bin/demo"),
        Item::Link("usr/bin/d", "demo"),
        Item::Link("usr/bin/abs", "/bin/busybox"),
        Item::Dir("etc/"),
        Item::File("etc/demo.conf", b"a=1\n"),
    ];
    let (bytes, id) = build_apk(d, &data_tar(&items, None), "triggers = /usr/share/demo/* /etc/x\ndepend = musl\n");
    let apk = open_apk(d, &bytes, &keys, &id).unwrap();
    assert_eq!(apk.identity(), &id);
    assert_eq!(apk.signed_by(), "test.rsa.pub");
    assert_eq!((apk.pkginfo().name(), apk.pkginfo().version()), (Some("demo"), Some("1.0-r1")));
    assert_eq!(apk.pkginfo().triggers(), ["/usr/share/demo/*", "/etc/x"]);
    assert_eq!(apk.pkginfo().get_all("depend").collect::<Vec<_>>(), ["musl"]);
    assert_eq!(apk.scripts().iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["post-install", "trigger"]);
    assert_eq!(apk.scripts()[0].data, b"#!/bin/sh\necho hi\n");
    let mut seen = Vec::new();
    apk.data(|e| {
        let mut content = Vec::new();
        e.data().read_to_end(&mut content).unwrap();
        seen.push((e.path.clone(), e.meta.kind, e.meta.link.clone(), e.checksum.map(|c| c.to_string()), content));
        Ok(())
    })
    .unwrap();
    let q1 = |data: &[u8]| {
        let mut h = SignatureHash::Sha1.hasher();
        h.update(data);
        Some(ApkChecksum::Sha1(h.finalize().try_into().unwrap()).to_string())
    };
    use oci_core::EntryKind as K;
    assert_eq!(
        seen,
        [
            ("usr".into(), K::Dir, None, None, vec![]),
            ("usr/bin".into(), K::Dir, None, None, vec![]),
            ("usr/bin/demo".into(), K::File, None, q1(b"#!/bin/sh\necho demo\n"), b"#!/bin/sh\necho demo\n".to_vec()),
            ("usr/bin/demo2".into(), K::Hardlink, Some("usr/bin/demo".into()), None, vec![]),
            ("usr/bin/d".into(), K::Symlink, Some("demo".into()), q1(b"demo"), vec![]),
            ("usr/bin/abs".into(), K::Symlink, Some("/bin/busybox".into()), q1(b"/bin/busybox"), vec![]),
            ("etc".into(), K::Dir, None, None, vec![]),
            ("etc/demo.conf".into(), K::File, None, q1(b"a=1\n"), b"a=1\n".to_vec()),
        ]
    );

    // The index promises another identity.
    let other = ApkChecksum::Sha1([9; 20]);
    let err = open_apk(d, &bytes, &keys, &other).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: control stream SHA1 (the index's C:) mismatch: expected {other}, got {id}",
            d.join("demo-1.0-r1.apk").display()
        )
    );
    // Unknown key.
    let err = open_apk(d, &bytes, &ApkKeys::new(), &id).unwrap_err().to_string();
    assert!(err.ends_with("signed by unknown key \"test.rsa.pub\" (not among the trusted keys)"), "{err}");
    // Another data stream behind a genuine signed control stream: datahash refuses it.
    let (other_bytes, _) = build_apk(d, &data_tar(&items[..3], None), "");
    let control_end = bytes.len() - gzip(&data_tar(&items, None)).len();
    let other_data = gzip(&data_tar(&items[..3], None));
    let mut swapped = bytes[..control_end].to_vec();
    swapped.extend_from_slice(&other_data);
    let err = open_apk(d, &swapped, &keys, &id).unwrap_err().to_string();
    assert!(err.contains("data stream SHA256 (.PKGINFO datahash) mismatch"), "{err}");
    // A control stream signed by the key, identity as promised, but the signature of another
    // package: bad signature.
    let mut forged = other_bytes[..first_member_len(&other_bytes)].to_vec();
    forged.extend_from_slice(&bytes[first_member_len(&bytes)..]);
    let err = open_apk(d, &forged, &keys, &id).unwrap_err().to_string();
    assert!(err.ends_with("bad RSA256 signature .SIGN.RSA256.test.rsa.pub by key \"test.rsa.pub\""), "{err}");
    // Truncated.
    let err = open_apk(d, &bytes[..bytes.len() - 20], &keys, &id).unwrap_err().to_string();
    assert!(err.contains("entry \"data stream\": corrupt"), "{err}");
}

#[test]
fn unsafe_or_lying_data_entries_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut keys = ApkKeys::new();
    keys.add_pem("test.rsa.pub", &keypair(d, "test.rsa")).unwrap();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (data_tar(&[Item::File("../etc/passwd", b"x")], None), "entry \"../etc/passwd\""),
        (data_tar(&[Item::File("/etc/passwd", b"x")], None), "entry \"/etc/passwd\""),
        (data_tar(&[Item::Link("a/b", "../../etc")], None), "symlink to \"../../etc\" climbs above the root (refused)"),
        (data_tar(&[Item::Link("a", "/etc"), Item::File("a/passwd", b"x")], None), "lies below \"a\", a symlink"),
        (data_tar(&[Item::Hard("a", "etc/shadow")], None), "hard link to \"etc/shadow\", not a file earlier"),
        (data_tar(&[Item::File("a", b"x")], Some("a")), "file SHA1 (APK-TOOLS.checksum.SHA1) mismatch"),
        (data_tar(&[Item::Link("l", "t")], Some("l")), "symlink target differs from its APK-TOOLS.checksum.SHA1"),
    ];
    for (data, want) in cases {
        let (bytes, id) = build_apk(d, &data, "");
        let err = open_apk(d, &bytes, &keys, &id).unwrap_err().to_string();
        assert!(err.contains(want), "{want}: {err}");
    }
    // A file without a checksum record.
    let plain = tar_of(&[("usr/x", b"x")], false);
    let (bytes, id) = build_apk(d, &plain, "");
    let err = open_apk(d, &bytes, &keys, &id).unwrap_err().to_string();
    assert!(err.ends_with("entry \"usr/x\": a file without APK-TOOLS.checksum.SHA1 (refused)"), "{err}");
    // .PKGINFO without datahash.
    assert_eq!(PkgInfo::parse("a = b\nbad\n", "p").unwrap_err().to_string(), "p line 2: \"bad\" is not `key = value`");
}

fn installed_fixture(name: &str) -> String {
    let path =
        format!("{}/../../tests/fixtures/dpkg/alpine-minirootfs-apk-installed/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

/// Every record of the real databases parsed and written back gives apk-tools' bytes.
#[test]
fn real_installed_records_round_trip_byte_for_byte() {
    for fixture in ["alpine-3.20.3-x86_64-installed", "alpine-3.19.4-x86_64-installed"] {
        let text = installed_fixture(fixture);
        let mut out = String::new();
        let mut acls = 0;
        for block in text.split_inclusive("\n\n") {
            let rec = InstalledRecord::parse(block, fixture).unwrap();
            acls += rec.dirs.iter().filter(|d| d.acl != ApkAcl::DIR).count();
            rec.write(&mut out);
        }
        assert_eq!(out, text, "{fixture}");
        assert!(acls >= 1, "the fixture exercises M: lines");
    }
}

#[test]
fn installed_rewrite_keeps_every_other_byte() {
    let text = installed_fixture("alpine-3.20.3-x86_64-installed");
    let block = text.split_inclusive("\n\n").find(|b| b.contains("\nP:zlib\n")).unwrap();
    let mut rec = InstalledRecord::parse(block, "installed").unwrap();
    rec.package.version = "1.3.1-r9".parse().unwrap();
    rec.dirs[0].files.push(InstalledFile { name: "new.so".into(), acl: ApkAcl::FILE, checksum: None });
    let out = rewrite_installed(&text, "installed", "zlib", Some(&rec)).unwrap();
    let mut want = String::new();
    rec.write(&mut want);
    assert_eq!(out, text.replace(block, &want));
    assert!(out.contains("V:1.3.1-r9\n") && out.contains("R:new.so\n"));
    // Removed, then added back in its sorted place.
    let removed = rewrite_installed(&text, "installed", "zlib", None).unwrap();
    assert_eq!(removed, text.replace(block, ""));
    let original = InstalledRecord::parse(block, "installed").unwrap();
    assert_eq!(rewrite_installed(&removed, "installed", "zlib", Some(&original)).unwrap(), text);
    let musl = text.split_inclusive("\n\n").find(|b| b.contains("\nP:musl\n")).unwrap();
    let without = text.replace(musl, "");
    let back = rewrite_installed(&without, "installed", "musl", Some(&InstalledRecord::parse(musl, "i").unwrap()));
    assert_eq!(back.unwrap(), text);
    // Bad input.
    let err = rewrite_installed("P:a\nV:1\n", "installed", "a", None).unwrap_err().to_string();
    assert_eq!(err, "installed: does not end with a blank line (truncated?)");
    let err = InstalledRecord::parse("C:Q1hvfkN/qlp/zhXR3cuerq6jd2Z7g=\nP:a\nV:1\nR:x\n", "i").unwrap_err().to_string();
    assert_eq!(err, "i line 4: R: before any F:");
    let err = InstalledRecord::parse("C:Q1hvfkN/qlp/zhXR3cuerq6jd2Z7g=\nP:a\nV:1\nF:x\nM:0:0:99\n", "i").unwrap_err();
    assert_eq!(err.to_string(), "i line 5: \"0:0:99\" is not uid:gid:mode[:xattr checksum]");
}

#[test]
fn installed_record_from_a_verified_package() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut keys = ApkKeys::new();
    keys.add_pem("test.rsa.pub", &keypair(d, "test.rsa")).unwrap();
    let items = [
        Item::Dir("usr/"),
        Item::Dir("usr/bin/"),
        Item::File("usr/bin/demo", b"#!/bin/sh\necho demo\n"),
        Item::Hard("usr/bin/demo2", "usr/bin/demo"),
        Item::Link("usr/bin/d", "demo"),
        Item::File("usr/bin/.keep_x", b""),
    ];
    let (bytes, id) = build_apk(d, &data_tar(&items, None), "");
    let apk = open_apk(d, &bytes, &keys, &id).unwrap();
    let entry = ApkIndex::parse(&format!("C:{id}\nP:demo\nV:1.0-r1\nA:x86_64\nS:1\nI:2\nT:t\nU:u\nL:MIT\n"), "i")
        .unwrap()
        .entries
        .remove(0);
    let mut rec = InstalledRecord::new(entry);
    apk.data(|e| rec.add_entry(&e.path, &e.meta, e.checksum)).unwrap();
    let mut out = String::new();
    rec.write(&mut out);
    let q1 = |data: &[u8]| {
        let mut h = SignatureHash::Sha1.hasher();
        h.update(data);
        ApkChecksum::Sha1(h.finalize().try_into().unwrap()).to_string()
    };
    let demo = q1(b"#!/bin/sh\necho demo\n");
    assert_eq!(
        out,
        format!(
            "C:{id}\nP:demo\nV:1.0-r1\nA:x86_64\nS:1\nI:2\nT:t\nU:u\nL:MIT\nF:usr\nF:usr/bin\nR:demo\na:0:0:755\nZ:{demo}\n\
             R:demo2\na:0:0:755\nZ:{demo}\nR:d\na:0:0:777\nZ:{}\n\n",
            q1(b"demo")
        )
    );
    let mut orphan = InstalledRecord::new(rec.package.clone());
    let err = orphan.add_entry("usr/x", &oci_core::EntryMeta::file(0o644, 0), None).unwrap_err().to_string();
    assert_eq!(err, "demo entry \"usr/x\": no directory entry before it in the package");
}
