//! Tests of the repository side. Keys and signatures are made by `gpg` at test time; the
//! real Debian archive keys are checked against the machine's apt lists and, when the
//! machine's mirror answers, against freshly fetched `InRelease`/`Release`/`Release.gpg`.

#![allow(clippy::print_stderr)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::SystemTime;

use super::*;

/// A throw-away GnuPG home with the keys the tests need, generated once per test process.
pub(crate) struct Gpg {
    dir: tempfile::TempDir,
}

/// A test's own GnuPG home holding the fixture's keys; dropping it stops its gpg-agent and
/// removes the directory.
pub(crate) struct Keys {
    pub gpg: Gpg,
    revocations: &'static BTreeMap<String, String>,
}

impl Keys {
    /// The revocation certificate gpg made for the key with primary fingerprint `fp`.
    pub fn revocation(&self, fp: &str) -> &str {
        &self.revocations[fp]
    }
}

/// What key generation left: the secret keys (armored) and the revocation certificates.
struct Generated {
    secret_keys: Vec<u8>,
    revocations: BTreeMap<String, String>,
}

const TEXT: &str = "Origin: Test\nLabel: Test\nSuite: stable\nCodename: test\n- a line that starts with a dash\n\
                    Description: x\n";

impl Gpg {
    fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("gpg").tempdir().expect("tempdir");
        let mut perm = std::fs::metadata(dir.path()).expect("stat").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o700);
        std::fs::set_permissions(dir.path(), perm).expect("chmod");
        Gpg { dir }
    }

    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    /// Runs gpg with `args`, feeding `stdin`; panics with gpg's stderr when it fails.
    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut child = Command::new("gpg")
            .args(["--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", "", "--homedir"])
            .arg(self.home())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gpg must be installed (apt-get install gnupg)");
        child.stdin.take().expect("stdin").write_all(stdin).expect("write to gpg");
        let out = child.wait_with_output().expect("gpg");
        assert!(out.status.success(), "gpg {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    /// Generates a key and returns its primary fingerprint.
    fn generate(&self, uid: &str, algo: &str, usage: &str, faked_time: Option<&str>) -> String {
        let mut args = Vec::new();
        if let Some(t) = faked_time {
            args.extend(["--faked-system-time", t]);
        }
        args.extend(["--quick-gen-key", uid, algo, usage, "1y"]);
        self.run(&args, b"");
        self.fingerprint(uid)
    }

    /// The fingerprints (primary first, then subkeys) of the key with `uid`.
    pub fn fingerprints(&self, uid: &str) -> Vec<String> {
        let out = self.run(&["--with-colons", "--list-keys", uid], b"");
        String::from_utf8(out)
            .expect("utf8")
            .lines()
            .filter(|l| l.starts_with("fpr:"))
            .map(|l| l.split(':').nth(9).expect("fpr field").to_owned())
            .collect()
    }

    fn fingerprint(&self, uid: &str) -> String {
        self.fingerprints(uid).into_iter().next().expect("a fingerprint")
    }

    pub fn export(&self, uids: &[&str], armor: bool) -> Vec<u8> {
        let mut args = vec!["--export"];
        if armor {
            args.insert(0, "--armor");
        }
        args.extend(uids);
        self.run(&args, b"")
    }

    pub fn clearsign(&self, uids: &[&str], text: &str, extra: &[&str]) -> Vec<u8> {
        let mut args: Vec<&str> = extra.to_vec();
        for u in uids {
            args.extend(["-u", u]);
        }
        args.extend(["--clearsign", "-o", "-"]);
        self.run(&args, text.as_bytes())
    }

    pub fn detach_sign(&self, uid: &str, text: &[u8], armor: bool) -> Vec<u8> {
        let mut args = vec!["-u", uid, "--detach-sign", "-o", "-"];
        if armor {
            args.insert(0, "--armor");
        }
        self.run(&args, text)
    }

    pub fn keyring(&self, uids: &[&str]) -> Keyring {
        Keyring::from_bytes(&self.export(uids, false), "test.gpg").expect("keyring")
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home())
            .args(["--kill", "all"])
            .stderr(Stdio::null())
            .status();
    }
}

/// The fixture: keys generated once per test process (in a GnuPG home removed, and its agent
/// stopped, right after), imported into a fresh home for each test.
pub(crate) fn keys() -> Keys {
    static GENERATED: OnceLock<Generated> = OnceLock::new();
    let generated = GENERATED.get_or_init(|| {
        let gpg = Gpg::new();
        gpg.generate("Main <main@test>", "rsa2048", "sign", None);
        gpg.generate("Ed <ed@test>", "ed25519", "sign", None);
        gpg.generate("Other <other@test>", "ed25519", "sign", None);
        // An Ed25519 primary that only certifies, with an RSA-4096 signing subkey (Debian's shape).
        let sub = gpg.generate("Sub <sub@test>", "ed25519", "cert", None);
        gpg.run(&["--quick-add-key", &sub, "rsa4096", "sign", "1y"], b"");
        // Made in 2020, valid for a year.
        gpg.generate("Old <old@test>", "rsa2048", "sign", Some("20200101T000000!"));
        gpg.generate("Revoked <revoked@test>", "ed25519", "sign", None);
        gpg.generate("Dsa <dsa@test>", "dsa2048", "sign", None);
        gpg.generate("Small <small@test>", "rsa1024", "sign", None);
        let secret_keys = gpg.run(&["--armor", "--export-secret-keys"], b"");
        let revocations = std::fs::read_dir(gpg.home().join("openpgp-revocs.d"))
            .expect("revocation certificates")
            .map(|e| {
                let path = e.expect("entry").path();
                let fp = path.file_stem().expect("name").to_string_lossy().into_owned();
                (fp, std::fs::read_to_string(&path).expect("read"))
            })
            .collect();
        Generated { secret_keys, revocations }
    });
    let gpg = Gpg::new();
    gpg.run(&["--import"], &generated.secret_keys);
    Keys { gpg, revocations: &generated.revocations }
}

fn now() -> SystemTime {
    SystemTime::now()
}

fn signature_error(r: AptResult<VerifiedText>) -> String {
    match r {
        Err(e @ AptError::Signature { .. }) => e.to_string(),
        other => panic!("expected a signature error, got {other:?}"),
    }
}

#[test]
fn good_clearsigned_signatures_return_exactly_the_signed_text() {
    let k = keys();
    for uid in ["<main@test>", "<ed@test>", "<sub@test>"] {
        let signed = k.gpg.clearsign(&[uid], TEXT, &[]);
        let ring = k.gpg.keyring(&[uid]);
        let v = verify_clearsigned(&signed, "InRelease", &ring, now()).expect(uid);
        assert_eq!(v.text(), TEXT, "{uid}");
        let fps = k.gpg.fingerprints(uid);
        assert_eq!(v.signers().iter().map(|f| f.as_str()).collect::<Vec<_>>(), [fps[0].as_str()]);
        // The subkey signed for sub@test, the primary for the others.
        let expected_signer = if uid == "<sub@test>" { &fps[1] } else { &fps[0] };
        assert_eq!(v.signing_keys()[0].as_str(), expected_signer, "{uid}");
        assert_eq!(v.signing_keys()[0].key_id(), &expected_signer[24..]);
    }
}

#[test]
fn crlf_clearsigned_text_verifies() {
    let k = keys();
    let crlf = TEXT.replace('\n', "\r\n");
    let signed = k.gpg.clearsign(&["<ed@test>"], &crlf, &[]);
    let v = verify_clearsigned(&signed, "InRelease", &k.gpg.keyring(&["<ed@test>"]), now()).expect("verifies");
    assert_eq!(v.text(), TEXT);
}

#[test]
fn detached_signatures_armored_and_binary() {
    let k = keys();
    for (uid, armor) in [("<main@test>", true), ("<sub@test>", false), ("<ed@test>", false)] {
        let sig = k.gpg.detach_sign(uid, TEXT.as_bytes(), armor);
        let v = verify_detached(TEXT.as_bytes(), &sig, "Release", &k.gpg.keyring(&[uid]), now()).expect(uid);
        assert_eq!(v.text(), TEXT);
        assert_eq!(v.signers()[0].as_str(), k.gpg.fingerprints(uid)[0]);
        let tampered = TEXT.replace("stable", "stablf");
        let msg = signature_error(verify_detached(tampered.as_bytes(), &sig, "Release", &k.gpg.keyring(&[uid]), now()));
        assert!(msg.starts_with("signature of Release: BAD signature by key"), "{msg}");
    }
}

#[test]
fn tampered_clearsigned_text_is_refused_naming_the_key() {
    let k = keys();
    let signed = String::from_utf8(k.gpg.clearsign(&["<sub@test>"], TEXT, &[])).expect("utf8");
    let tampered = signed.replace("Suite: stable", "Suite: stabl3");
    assert_ne!(signed, tampered);
    let msg = signature_error(verify_clearsigned(
        tampered.as_bytes(),
        "dists/x/InRelease",
        &k.gpg.keyring(&["<sub@test>"]),
        now(),
    ));
    let subkey = &k.gpg.fingerprints("<sub@test>")[1];
    assert!(msg.starts_with("signature of dists/x/InRelease: BAD signature by key"), "{msg}");
    assert!(msg.contains(subkey.as_str()), "{msg}");
}

#[test]
fn wrong_key_is_refused() {
    let k = keys();
    let signed = k.gpg.clearsign(&["<ed@test>"], TEXT, &[]);
    let msg = signature_error(verify_clearsigned(&signed, "InRelease", &k.gpg.keyring(&["<other@test>"]), now()));
    let fp = &k.gpg.fingerprints("<ed@test>")[0];
    assert_eq!(msg, format!("signature of InRelease: signed by key {fp}, which is not in the keyring"));
    let msg = signature_error(verify_clearsigned(&signed, "InRelease", &Keyring::new(), now()));
    assert!(msg.contains("empty keyring"), "{msg}");
}

#[test]
fn one_good_signature_among_unknown_ones_is_enough() {
    let k = keys();
    let signed = k.gpg.clearsign(&["<ed@test>", "<other@test>"], TEXT, &[]);
    let v = verify_clearsigned(&signed, "InRelease", &k.gpg.keyring(&["<ed@test>"]), now()).expect("one good");
    assert_eq!(v.signers().len(), 1);
    assert_eq!(v.signers()[0].as_str(), k.gpg.fingerprints("<ed@test>")[0]);
    let v =
        verify_clearsigned(&signed, "InRelease", &k.gpg.keyring(&["<ed@test>", "<other@test>"]), now()).expect("two");
    assert_eq!(v.signers().len(), 2);
}

#[test]
fn expired_key_is_refused() {
    let k = keys();
    let signed = k.gpg.clearsign(&["<old@test>"], TEXT, &["--faked-system-time", "20200601T000000!"]);
    let ring = k.gpg.keyring(&["<old@test>"]);
    let msg = signature_error(verify_clearsigned(&signed, "InRelease", &ring, now()));
    assert!(msg.contains("not trusted: key expired on 2020-12-31"), "{msg}");
    // At the time it was valid, the same signature verifies.
    let then = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_591_000_000); // 2020-06-01
    let v = verify_clearsigned(&signed, "InRelease", &ring, then).expect("valid in 2020");
    assert_eq!(v.text(), TEXT);
}

#[test]
fn revoked_key_is_refused() {
    let k = keys();
    let signed = k.gpg.clearsign(&["<revoked@test>"], TEXT, &[]);
    let fp = &k.gpg.fingerprints("<revoked@test>")[0];
    let before = k.gpg.keyring(&["<revoked@test>"]);
    verify_clearsigned(&signed, "InRelease", &before, now()).expect("valid before the revocation");
    // gpg made a revocation certificate at generation; import it (it is escaped with ':').
    let rev = k.revocation(fp).replace(":-----BEGIN", "-----BEGIN");
    let scratch = Gpg::new();
    scratch.run(&["--import"], &k.gpg.export(&["<revoked@test>"], false));
    scratch.run(&["--import"], rev.as_bytes());
    let after = Keyring::from_bytes(&scratch.export(&["<revoked@test>"], false), "revoked.gpg").expect("keyring");
    let msg = signature_error(verify_clearsigned(&signed, "InRelease", &after, now()));
    assert!(msg.contains("not trusted: key revoked on"), "{msg}");
    assert!(msg.contains("revoked.gpg"), "{msg}");
}

#[test]
fn weak_digest_and_weak_algorithms_are_refused() {
    let k = keys();
    let signed = k.gpg.clearsign(&["<main@test>"], TEXT, &["--digest-algo", "SHA1"]);
    let msg = signature_error(verify_clearsigned(&signed, "InRelease", &k.gpg.keyring(&["<main@test>"]), now()));
    assert!(msg.contains("uses the SHA1 digest, which is not trusted"), "{msg}");
    let signed = k.gpg.clearsign(&["<dsa@test>"], TEXT, &[]);
    let msg = signature_error(verify_clearsigned(&signed, "InRelease", &k.gpg.keyring(&["<dsa@test>"]), now()));
    assert!(msg.contains("not trusted: DSA keys are not trusted"), "{msg}");
    let signed = k.gpg.clearsign(&["<small@test>"], TEXT, &[]);
    let msg = signature_error(verify_clearsigned(&signed, "InRelease", &k.gpg.keyring(&["<small@test>"]), now()));
    assert!(msg.contains("RSA key of 1024 bits (at least 2048 needed)"), "{msg}");
}

#[test]
fn unsigned_leading_or_trailing_data_is_refused() {
    let k = keys();
    let ring = k.gpg.keyring(&["<ed@test>"]);
    let signed = String::from_utf8(k.gpg.clearsign(&["<ed@test>"], TEXT, &[])).expect("utf8");
    let trailing = format!("{signed}\nPackage: evil\nVersion: 1\n");
    let msg = signature_error(verify_clearsigned(trailing.as_bytes(), "InRelease", &ring, now()));
    assert!(msg.contains("unsigned data after the signature"), "{msg}");
    let leading = format!("Package: evil\n\n{signed}");
    let msg = signature_error(verify_clearsigned(leading.as_bytes(), "InRelease", &ring, now()));
    assert!(msg.contains("line 1: unsigned data before the signed message"), "{msg}");
    // Blank lines around are harmless.
    let padded = format!("\n\n{signed}\n\n");
    assert_eq!(verify_clearsigned(padded.as_bytes(), "InRelease", &ring, now()).expect("ok").text(), TEXT);
    // An unsigned Release is refused.
    let msg = signature_error(verify_clearsigned(TEXT.as_bytes(), "InRelease", &ring, now()));
    assert!(msg.contains("line 1: unsigned data before"), "{msg}");
    // Truncated.
    let cut = &signed[..signed.find("-----END").expect("end")];
    let msg = signature_error(verify_clearsigned(cut.as_bytes(), "InRelease", &ring, now()));
    assert!(msg.contains("truncated"), "{msg}");
}

#[test]
fn keyrings_binary_armored_several_keys_and_keybox_refused() {
    let k = keys();
    let uids = ["<main@test>", "<ed@test>", "<sub@test>"];
    let expected: Vec<String> = uids.iter().map(|u| k.gpg.fingerprints(u)[0].clone()).collect();
    let binary = Keyring::from_bytes(&k.gpg.export(&uids, false), "k.gpg").expect("binary");
    let armored = Keyring::from_bytes(&k.gpg.export(&uids, true), "k.asc").expect("armored");
    // Several armor blocks in one file.
    let mut blocks = k.gpg.export(&["<main@test>"], true);
    blocks.extend(k.gpg.export(&["<ed@test>", "<sub@test>"], true));
    let multi = Keyring::from_bytes(&blocks, "multi.asc").expect("blocks");
    for ring in [&binary, &armored, &multi] {
        let fps: Vec<String> = ring.fingerprints().iter().map(|f| f.to_string()).collect();
        assert_eq!(fps, expected);
    }
    let info = binary.keys();
    assert_eq!(info[2].user_ids, ["Sub <sub@test>"]);
    assert_eq!(info[2].subkeys[0].as_str(), k.gpg.fingerprints("<sub@test>")[1]);
    assert_eq!(info[0].file, "k.gpg");

    let kbx = std::fs::read(k.gpg.home().join("pubring.kbx")).expect("kbx");
    let msg = Keyring::from_bytes(&kbx, "pubring.kbx").expect_err("keybox").to_string();
    assert!(msg.starts_with("keyring pubring.kbx: is a GnuPG keybox"), "{msg}");
    let msg = Keyring::from_bytes(b"hello", "x.asc").expect_err("garbage").to_string();
    assert!(msg.contains("neither a binary OpenPGP keyring nor an armored key"), "{msg}");
    let msg = Keyring::from_bytes(b"", "e.gpg").expect_err("empty").to_string();
    assert_eq!(msg, "keyring e.gpg: the file is empty");
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("k.asc");
    std::fs::write(&path, k.gpg.export(&uids, true)).expect("write");
    let mut ring = Keyring::new();
    assert_eq!(ring.add_file(&path).expect("add"), 3);
    assert_eq!(ring.keys()[0].file, path.display().to_string());
}

#[test]
fn signed_by_fingerprints_restrict_the_keyring() {
    let k = keys();
    let all = k.gpg.keyring(&["<main@test>", "<ed@test>", "<sub@test>"]);
    let ed: Fingerprint = k.gpg.fingerprints("<ed@test>")[0].parse().expect("fp");
    let only_ed = all.restrict_to(std::slice::from_ref(&ed)).expect("restrict");
    assert_eq!(only_ed.fingerprints(), std::slice::from_ref(&ed));
    let by_main = k.gpg.clearsign(&["<main@test>"], TEXT, &[]);
    let msg = signature_error(verify_clearsigned(&by_main, "InRelease", &only_ed, now()));
    assert!(msg.contains("which is not in the keyring"), "{msg}");
    let by_ed = k.gpg.clearsign(&["<ed@test>"], TEXT, &[]);
    verify_clearsigned(&by_ed, "InRelease", &only_ed, now()).expect("allowed key");
    // A subkey fingerprint keeps that subkey only.
    let sub_fps = k.gpg.fingerprints("<sub@test>");
    let subkey: Fingerprint = sub_fps[1].parse().expect("fp");
    let only_sub = all.restrict_to(&[subkey]).expect("subkey");
    let by_sub = k.gpg.clearsign(&["<sub@test>"], TEXT, &[]);
    let v = verify_clearsigned(&by_sub, "InRelease", &only_sub, now()).expect("subkey allowed");
    assert_eq!(v.signers()[0].as_str(), sub_fps[0]);
    let missing: Fingerprint = "0123 4567 89AB CDEF 0123  4567 89AB CDEF 0123 4567".parse().expect("fp");
    let msg = all.restrict_to(&[missing]).expect_err("missing").to_string();
    assert_eq!(
        msg,
        "keyring test.gpg: no key with fingerprint 0123456789ABCDEF0123456789ABCDEF01234567 (named by Signed-By)"
    );
}

#[test]
fn fingerprint_parsing() {
    let fp: Fingerprint = "0x4d64fec119c2029067d6e791f8d2585b8783d481".parse().expect("fp");
    assert_eq!(fp.as_str(), "4D64FEC119C2029067D6E791F8D2585B8783D481");
    assert_eq!(fp.key_id(), "F8D2585B8783D481");
    assert!("8783D481".parse::<Fingerprint>().expect_err("short").contains("has 8 hex digits"));
    assert!("XYZ".parse::<Fingerprint>().is_err());
}

#[test]
fn signatures_from_the_future_are_refused() {
    let k = keys();
    let signed = k.gpg.clearsign(&["<ed@test>"], TEXT, &[]);
    let ring = k.gpg.keyring(&["<ed@test>"]);
    let an_hour_ago = now() - std::time::Duration::from_secs(3600);
    let msg = signature_error(verify_clearsigned(&signed, "InRelease", &ring, an_hour_ago));
    assert!(msg.contains("not trusted: signature made in the future"), "{msg}");
}

#[test]
fn apt_keyring_file_names() {
    for ok in ["debian-archive-keyring.gpg", "nodesource.asc", "x_y-1.2.gpg"] {
        assert!(is_apt_keyring_name(ok), "{ok}");
    }
    for skipped in ["trixie.pgp", "x.gpg~", "x.gpg.dpkg-old", ".hidden.gpg", "pubring.kbx", "a b.gpg", "README"] {
        assert!(!is_apt_keyring_name(skipped), "{skipped}");
    }
}

#[test]
fn date_formatting() {
    assert_eq!(keyring::date(0), "1970-01-01");
    assert_eq!(keyring::date(1_609_372_800), "2020-12-31");
    assert_eq!(keyring::date(951_782_400), "2000-02-29");
}

// --- Debian's real archive keys -------------------------------------------------------

const DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

fn debian_keyring() -> Option<Keyring> {
    match std::fs::read(DEBIAN_KEYRING) {
        Ok(bytes) => Some(Keyring::from_bytes(&bytes, DEBIAN_KEYRING).expect("Debian's keyring parses")),
        Err(e) => {
            eprintln!("{DEBIAN_KEYRING} not readable ({e}); install debian-archive-keyring to run this test");
            None
        }
    }
}

/// What gpgv says is the signed text of a clearsigned file (and whether it verifies).
fn gpgv_text(keyring: &str, file: &Path) -> Option<Vec<u8>> {
    let out = Command::new("gpgv").args(["--keyring", keyring, "--output", "-"]).arg(file).output().expect("gpgv");
    out.status.success().then_some(out.stdout)
}

/// The fingerprints of the keys whose signatures gpgv calls good, sorted.
fn gpgv_good_keys(keyring: &str, file: &Path) -> Vec<String> {
    let out = Command::new("gpgv").args(["--keyring", keyring]).arg(file).output().expect("gpgv");
    let log = String::from_utf8_lossy(&out.stderr);
    let mut good = Vec::new();
    let mut using = None;
    for line in log.lines() {
        if let Some(rest) = line.split_once(" key ").filter(|_| line.contains("using ")).map(|(_, k)| k) {
            using = Some(rest.trim().to_owned());
        } else if line.contains("Good signature from") {
            good.extend(using.take());
        }
    }
    good.sort();
    good
}

#[test]
fn real_debian_inrelease_files_from_apt_lists() {
    let Some(ring) = debian_keyring() else { return };
    let lists: Vec<PathBuf> = std::fs::read_dir("/var/lib/apt/lists")
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.to_string_lossy().ends_with("_InRelease")).collect()
        })
        .unwrap_or_default();
    if lists.is_empty() {
        eprintln!("no /var/lib/apt/lists/*_InRelease (apt-get update has not run); nothing to check");
        return;
    }
    for path in lists {
        let bytes = std::fs::read(&path).expect("read");
        let file = path.display().to_string();
        let v = verify_clearsigned(&bytes, &file, &ring, now()).unwrap_or_else(|e| panic!("{e}"));
        // gpgv is the judge of both the verdict and the text.
        let judged = gpgv_text(DEBIAN_KEYRING, &path).expect("gpgv accepts it too");
        assert_eq!(v.text().as_bytes(), judged.as_slice(), "{file}");
        // Every signature gpgv calls good (RSA-4096 subkeys, the Ed25519 release key) is
        // good for us too, and no other.
        let mut ours: Vec<String> = v.signing_keys().iter().map(|f| f.to_string()).collect();
        ours.sort();
        assert_eq!(ours, gpgv_good_keys(DEBIAN_KEYRING, &path), "{file}");
        assert!(v.text().starts_with("Origin: Debian"), "{file}");
        // Debian signs with an RSA-4096 subkey of the archive key and with an Ed25519 or RSA
        // primary release key: every signature here must be one of the keyring's.
        let all: Vec<Fingerprint> =
            ring.keys().iter().flat_map(|k| std::iter::once(k.fingerprint.clone()).chain(k.subkeys.clone())).collect();
        assert!(v.signing_keys().iter().all(|s| all.contains(s)), "{file}");
        assert!(!v.signers().is_empty());
        // Tampering one byte of the signed text is caught.
        let text = String::from_utf8(bytes).expect("utf8");
        let tampered = text.replacen("Origin: Debian", "Origin: Debiam", 1);
        let msg = signature_error(verify_clearsigned(tampered.as_bytes(), &file, &ring, now()));
        assert!(msg.contains("BAD signature by key"), "{msg}");
    }
}

/// `(URI, suite)` of every `deb` source of the machine, read from its apt configuration.
pub(crate) fn machine_sources() -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Ok(list) = std::fs::read_to_string("/etc/apt/sources.list") {
        for line in list.lines().map(str::trim).filter(|l| l.starts_with("deb ")) {
            let words: Vec<&str> =
                line.split_whitespace().filter(|w| !w.starts_with('[') && !w.ends_with(']')).collect();
            if words.len() >= 3 {
                out.push((words[1].to_owned(), words[2].to_owned()));
            }
        }
    }
    let dir = std::fs::read_dir("/etc/apt/sources.list.d").map(|d| d.filter_map(|e| e.ok()).collect::<Vec<_>>());
    for entry in dir.unwrap_or_default() {
        if entry.file_name().to_string_lossy().ends_with(".sources") {
            out.extend(sources_in(&std::fs::read_to_string(entry.path()).unwrap_or_default()));
        }
    }
    out
}

/// `(URI, suite)` of the `deb` paragraphs of a deb822 `.sources` text, read naively (an
/// independent reading to check [`Sources::parse_deb822`] against).
pub(crate) fn sources_in(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for para in text.split("\n\n") {
        let field = |name: &str| -> Vec<String> {
            para.lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.split_whitespace().map(str::to_owned).collect()))
                .unwrap_or_default()
        };
        if !field("Types:").iter().any(|t| t == "deb") || field("Enabled:").iter().any(|e| e == "no") {
            continue;
        }
        for uri in field("URIs:") {
            for suite in field("Suites:") {
                out.push((uri.clone(), suite));
            }
        }
    }
    out
}

/// A plain HTTP/1.1 GET (the machine's Debian mirrors speak http); `None` when unreachable.
pub(crate) fn http_get(url: &str) -> Option<Vec<u8>> {
    use std::io::{Read, Write};
    use std::net::ToSocketAddrs;
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let addr = if host.contains(':') { host.to_owned() } else { format!("{host}:80") };
    let timeout = std::time::Duration::from_secs(15);
    let mut stream =
        addr.to_socket_addrs().ok()?.find_map(|a| std::net::TcpStream::connect_timeout(&a, timeout).ok())?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: hardener-tests\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let end = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
    head.lines().next().filter(|l| l.split_whitespace().nth(1) == Some("200"))?;
    let body = &response[end + 4..];
    if !head.lines().any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked")) {
        return Some(body.to_vec());
    }
    let (mut out, mut rest) = (Vec::new(), body);
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

#[test]
fn real_debian_release_files_fetched_from_the_machines_mirror() {
    let Some(ring) = debian_keyring() else { return };
    let sources = machine_sources();
    if sources.is_empty() {
        eprintln!("the machine has no apt deb sources; nothing to fetch");
        return;
    }
    for (uri, suite) in sources {
        let base = format!("{}/dists/{suite}", uri.trim_end_matches('/'));
        let (Some(inrelease), Some(release), Some(sig)) = (
            http_get(&format!("{base}/InRelease")),
            http_get(&format!("{base}/Release")),
            http_get(&format!("{base}/Release.gpg")),
        ) else {
            eprintln!("could not reach {base} (offline?); not checked");
            continue;
        };
        // gpgv judges each file; we must reach the same verdict (a mirror may serve a
        // Release.gpg that does not match its Release: both then refuse it).
        let dir = tempfile::tempdir().expect("tmp");
        for (name, bytes) in [("InRelease", &inrelease), ("Release", &release), ("Release.gpg", &sig)] {
            std::fs::write(dir.path().join(name), bytes).expect("write");
        }
        let gpgv = |args: &[&str]| {
            let mut cmd = Command::new("gpgv");
            cmd.args(["--keyring", DEBIAN_KEYRING]);
            args.iter().for_each(|a| {
                cmd.arg(dir.path().join(a));
            });
            cmd.output().expect("gpgv").status.success()
        };
        let ours = verify_clearsigned(&inrelease, &format!("{base}/InRelease"), &ring, now());
        assert_eq!(ours.is_ok(), gpgv(&["InRelease"]), "{base}/InRelease: {ours:?}");
        match ours {
            Ok(v) => {
                assert!(v.text().starts_with("Origin: Debian"), "{base}");
                assert!(v.text().contains(&format!("\nCodename: {suite}\n")), "{base}");
            }
            Err(e) => eprintln!("{base}/InRelease refused by gpgv and by us: {e}"),
        }
        let ours = verify_detached(&release, &sig, &format!("{base}/Release"), &ring, now());
        assert_eq!(ours.is_ok(), gpgv(&["Release.gpg", "Release"]), "{base}/Release: {ours:?}");
        match ours {
            Ok(d) => {
                assert_eq!(d.text().as_bytes(), release.as_slice());
                let mut bad = release.clone();
                let i = bad.iter().position(|&b| b == b'\n').expect("a line") + 1;
                bad[i] ^= 1;
                let msg = signature_error(verify_detached(&bad, &sig, "Release", &ring, now()));
                assert!(msg.contains("BAD signature by key"), "{msg}");
            }
            Err(e) => eprintln!("{base}/Release refused by gpgv and by us: {e}"),
        }
    }
}

// --- Packages indexes ----------------------------------------------------------------------

#[test]
fn multi_stream_and_multi_block_compressed_indexes() {
    let (a, b) = PACKAGES.split_at(PACKAGES.find("\nPackage: systemd").expect("second stanza") + 1);
    // Concatenated streams (xz, gzip), and one xz stream cut into small blocks.
    let mut xz = compress(Some("xz"), a.as_bytes());
    xz.extend(compress(Some("xz"), b.as_bytes()));
    let mut gz = compress(Some("gzip"), a.as_bytes());
    gz.extend(compress(Some("gzip"), b.as_bytes()));
    let blocks = {
        let saved = tempfile::NamedTempFile::new().expect("tmp");
        std::fs::write(saved.path(), PACKAGES).expect("write");
        crate::deb::tests::run(Command::new("xz").args(["-c", "--block-size=300", "-T1"]).arg(saved.path()))
    };
    let expected = parse_packages(PACKAGES, "P").expect("plain");
    for (bytes, compression) in [(xz, Compression::Xz), (gz, Compression::Gzip), (blocks, Compression::Xz)] {
        let got = read_packages(bytes.as_slice(), &location(&bytes, compression), "P", |_| true).expect("read");
        assert_eq!(got, expected, "{compression:?}");
    }
}

/// Two real bookworm stanzas (shortened descriptions) and a binNMU one.
pub(crate) const PACKAGES: &str = "\
Package: libssl3
Source: openssl
Version: 3.0.15-1~deb12u1
Installed-Size: 6229
Maintainer: Debian OpenSSL Team <openssl@example.org>
Architecture: amd64
Multi-Arch: same
Depends: libc6 (>= 2.34)
Breaks: nodejs (<< 12.22.12~dfsg-1~)
Description: Secure Sockets Layer toolkit - shared libraries
 This package is part of the OpenSSL project's implementation of the SSL
 and TLS cryptographic protocols.
Homepage: https://www.openssl.org/
Description-md5: 88547c6206c7fbc4fcc7d09ce100d210
Section: libs
Priority: optional
Filename: pool/updates/main/o/openssl/libssl3_3.0.15-1~deb12u1_amd64.deb
Size: 2028760
SHA256: 3bbee63e3a8d2a4d8b7c3da7a1bcd6cee0ec1a4b4e1a4bd8f3d7ea1b1d1ac8f3

Package: systemd
Version: 252.36-1~deb12u1
Installed-Size: 14281
Maintainer: Debian systemd Maintainers <systemd@example.org>
Architecture: amd64
Multi-Arch: foreign
Provides: systemd-sysusers (= 252.36-1~deb12u1), systemd-tmpfiles (= 252.36-1~deb12u1)
Depends: libacl1 (>= 2.2.23), libapparmor1 (>= 2.13),
 libsystemd-shared (= 252.36-1~deb12u1), mount
Pre-Depends: libblkid1 (>= 2.24), libc6 (>= 2.34), libsystemd0 (= 252.36-1~deb12u1)
Conflicts: consolekit, libpam-ck-connector
Breaks: resolvconf (<< 1.83~), udev (<< 247~)
Replaces: systemd-timesyncd (<< 245.4-2~)
Description: system and service manager
Filename: pool/main/s/systemd/systemd_252.36-1~deb12u1_amd64.deb
Size: 3033944
SHA256: 9c6b1a6a1f3c8f1b2b7dfe1a2d9c0e44b6f5b5ac2e5b6f1cbe2d1e4c8b7a6f50

Package: libfoo1
Source: foo (1.0-1)
Version: 1.0-1+b2
Architecture: arm64
Filename: pool/main/f/foo/libfoo1_1.0-1+b2_arm64.deb
Size: 1234
SHA256: 00000000000000000000000000000000000000000000000000000000000000aa
";

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Compresses with the real tool (`gzip -n`, `xz`, `zstd`) or not at all.
pub(crate) fn compress(tool: Option<&str>, data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let Some(tool) = tool else { return data.to_vec() };
    let args: &[&str] = match tool {
        "gzip" => &["-n", "-c"],
        "xz" => &["-c"],
        _ => &["-q", "-c"],
    };
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool} must be installed: {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().expect(tool);
    writer.join().expect("writer").expect("write");
    assert!(out.status.success());
    out.stdout
}

fn location(bytes: &[u8], compression: Compression) -> IndexLocation {
    let path = format!("main/binary-amd64/Packages{}", compression.suffix());
    IndexLocation {
        fetch_path: path.clone(),
        path,
        compression,
        size: bytes.len() as u64,
        sha256: sha256_hex(bytes),
        uncompressed: None,
    }
}

#[test]
fn packages_from_plain_gzip_xz_and_zstd() {
    for (tool, compression) in [
        (None, Compression::None),
        (Some("gzip"), Compression::Gzip),
        (Some("xz"), Compression::Xz),
        (Some("zstd"), Compression::Zstd),
    ] {
        let bytes = compress(tool, PACKAGES.as_bytes());
        let loc = location(&bytes, compression);
        let all = read_packages(bytes.as_slice(), &loc, "Packages", |_| true).expect("read");
        assert_eq!(all.len(), 3, "{tool:?}");
        assert_eq!(all, parse_packages(PACKAGES, "Packages").expect("plain"));
        let ssl = &all[0];
        assert_eq!((ssl.package.as_str(), ssl.version.as_str()), ("libssl3", "3.0.15-1~deb12u1"));
        assert_eq!((ssl.source.as_str(), ssl.source_version.as_str()), ("openssl", "3.0.15-1~deb12u1"));
        assert_eq!(ssl.multi_arch, MultiArch::Same);
        assert_eq!(ssl.size, 2_028_760);
        assert_eq!(ssl.filename, "pool/updates/main/o/openssl/libssl3_3.0.15-1~deb12u1_amd64.deb");
        assert_eq!(ssl.breaks[0].to_string(), "nodejs (<< 12.22.12~dfsg-1~)");
        assert_eq!(ssl.line, 1);
        let systemd = &all[1];
        assert_eq!(systemd.line, 21);
        assert_eq!(systemd.depends.len(), 4, "folded Depends");
        assert_eq!(systemd.depends[2].to_string(), "libsystemd-shared (= 252.36-1~deb12u1)");
        assert_eq!(systemd.pre_depends.len(), 3);
        assert_eq!(systemd.provides[1].alternatives[0].name, "systemd-tmpfiles");
        assert_eq!(systemd.conflicts.len(), 2);
        assert_eq!(systemd.replaces[0].to_string(), "systemd-timesyncd (<< 245.4-2~)");
        assert_eq!((systemd.source.as_str(), systemd.multi_arch), ("systemd", MultiArch::Foreign));
        let foo = &all[2];
        assert_eq!(
            (foo.source.as_str(), foo.source_version.as_str(), foo.version.as_str()),
            ("foo", "1.0-1", "1.0-1+b2")
        );
        // A filter keeps only what the caller wants.
        let some =
            read_packages(bytes.as_slice(), &loc, "Packages", |p| p.get("Package") == Some("systemd")).expect("filter");
        assert_eq!(some.len(), 1);
        assert_eq!(some[0].package, "systemd");
    }
}

#[test]
fn packages_prefiltered_and_copied_as_decompressed() {
    // `names_any`: the Package, or any word of a (folded) Provides, version and
    // architecture qualifiers split off.
    let para =
        "Package: systemd\nVersion: 1\nProvides: libnss-myhostname (= 1),\n systemd-tmpfiles:any, x\nDepends: zzz\n";
    for (name, found) in
        [("systemd", true), ("libnss-myhostname", true), ("systemd-tmpfiles", true), ("x", true), ("zzz", false)]
    {
        assert_eq!(names_any(para, |n| n == name), found, "{name}");
    }
    assert!(!names_any("Package: a\nDescription: systemd\n systemd\n", |n| n == "systemd"));
    let bytes = compress(Some("xz"), PACKAGES.as_bytes());
    let loc = location(&bytes, Compression::Xz);
    let mut copy = Vec::new();
    let mut offered = Vec::new();
    let kept = read_packages_filtered(
        bytes.as_slice(),
        &loc,
        "Packages.xz",
        |raw| names_any(raw, |n| n == "systemd-tmpfiles"),
        Some(&mut copy),
        |p| {
            offered.push(p.get("Package").unwrap_or("").to_owned());
            true
        },
    )
    .expect("read");
    // Only the paragraph providing the name was parsed; the copy is the whole text.
    assert_eq!(offered, ["systemd"]);
    assert_eq!(kept.len(), 1);
    assert_eq!((kept[0].package.as_str(), kept[0].line), ("systemd", 21));
    assert_eq!(copy, PACKAGES.as_bytes());
}

#[test]
fn a_multi_block_index_file_reads_the_same_on_several_threads() {
    let text = format!("{}\n\n", PACKAGES.trim_end()).repeat(40);
    let saved = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(saved.path(), &text).expect("write");
    let packed = crate::deb::tests::run(Command::new("xz").args(["-c", "--block-size=2000", "-T1"]).arg(saved.path()));
    let file = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(file.path(), &packed).expect("write");
    let loc = location(&packed, Compression::Xz);
    let one = read_packages(packed.as_slice(), &loc, "P.xz", |_| true).expect("one thread");
    assert_eq!(one.len(), 40 * parse_packages(PACKAGES, "P").expect("plain").len());
    for threads in [1, 2, 4] {
        let mut copy = Vec::new();
        let got = super::read_packages_file(file.path(), &loc, "P.xz", threads, |_| true, Some(&mut copy), |_| true)
            .expect("threads");
        assert_eq!(got, one, "{threads} threads");
        assert!(copy == text.as_bytes(), "the copy is the text");
    }
    // A flipped byte: refused by its digest, nothing decoded on the threads.
    let mut bad = packed.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x55;
    std::fs::write(file.path(), &bad).expect("write");
    let mut copy = Vec::new();
    let err = super::read_packages_file(file.path(), &loc, "P.xz", 2, |_| true, Some(&mut copy), |_| true)
        .expect_err("flipped");
    assert!(matches!(&err, AptError::Mismatch { what: "SHA256", .. }), "{err}");
    assert!(copy.is_empty(), "nothing decompressed before the digest matched");
}

#[test]
fn packages_digest_and_size_are_checked_before_anything_is_returned() {
    let bytes = compress(Some("xz"), PACKAGES.as_bytes());
    let loc = location(&bytes, Compression::Xz);
    // Truncated download.
    let err = read_packages(&bytes[..bytes.len() - 10], &loc, "P.xz", |_| true).expect_err("short");
    assert_eq!(err.to_string(), format!("P.xz: size mismatch: expected {}, got {}", bytes.len(), bytes.len() - 10));
    // Longer than promised.
    let mut long = bytes.clone();
    long.extend_from_slice(b"trailing");
    let err = read_packages(long.as_slice(), &loc, "P.xz", |_| true).expect_err("long");
    assert_eq!(
        err.to_string(),
        format!("P.xz: size mismatch: expected {}, got more than {}", bytes.len(), bytes.len())
    );
    // A flipped byte in the compressed stream: a digest mismatch, not a decoder error.
    let mut bad = bytes.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x55;
    let err = read_packages(bad.as_slice(), &loc, "P.xz", |_| true).expect_err("flipped");
    assert!(
        matches!(&err, AptError::Mismatch { what: "SHA256", expected, actual, .. } if *expected == loc.sha256 && *actual == sha256_hex(&bad)),
        "{err}"
    );
    // Right digest, but a different (tampered) text under it is still caught by the digest.
    let other = compress(Some("xz"), PACKAGES.replace("3.0.15-1~deb12u1", "9.9.9-1").as_bytes());
    let own = read_packages(other.as_slice(), &location(&other, Compression::Xz), "P.xz", |_| true);
    assert_eq!(own.expect("own digest")[0].version.as_str(), "9.9.9-1");
    let err =
        read_packages(other.as_slice(), &IndexLocation { size: other.len() as u64, ..loc.clone() }, "P.xz", |_| true);
    assert!(matches!(err, Err(AptError::Mismatch { what: "SHA256", .. })));
}

#[test]
fn packages_entry_errors_name_the_line() {
    let text = "Package: a\nVersion: 1\nArchitecture: all\nFilename: pool/a.deb\nSize: 1\n\nPackage: b\n";
    let bytes = text.as_bytes();
    let err = read_packages(bytes, &location(bytes, Compression::None), "Packages", |_| true).expect_err("missing");
    assert_eq!(err.to_string(), "Packages line 1: missing SHA256 of package \"a\"");
    let text =
        format!("Package: a\nVersion: 1\nArchitecture: all\nFilename: ../a.deb\nSize: 1\nSHA256: {}\n", "a".repeat(64));
    assert_eq!(parse_packages(&text, "P").expect_err("unsafe").to_string(), "P line 4: unsafe Filename \"../a.deb\"");
    let text = text.replace("../a.deb", "pool/a.deb").replace("Size: 1\n", "Size: 1\nDepends: b (>= 1\n");
    assert_eq!(
        parse_packages(&text, "P").expect_err("dep").to_string(),
        "P line 6: Depends: relation \"b (>= 1\": unclosed \"(\""
    );
    let text = text.replace("Depends: b (>= 1\n", "Version: 2\n");
    assert_eq!(parse_packages(&text, "P").expect_err("dup").to_string(), "P line 6: duplicate field \"Version\"");
}

// --- A whole signed repository built by apt-ftparchive ---------------------------------------

#[test]
fn signed_repository_from_apt_ftparchive_end_to_end() {
    use crate::deb::tests::{build, run, sha256_file};
    let k = keys();
    let dir = tempfile::tempdir().expect("tmp");
    let repo = dir.path().join("repo");
    let pool = repo.join("pool/main/h");
    std::fs::create_dir_all(&pool).expect("mkdir");
    let built = build(dir.path(), "xz");
    std::fs::copy(&built, pool.join("hello-test_1.0-1_all.deb")).expect("copy");
    let index_dir = repo.join("dists/stable/main/binary-all");
    std::fs::create_dir_all(&index_dir).expect("mkdir");
    let packages = run(Command::new("apt-ftparchive").arg("packages").arg("pool").current_dir(&repo));
    std::fs::write(index_dir.join("Packages"), &packages).expect("write");
    std::fs::write(index_dir.join("Packages.xz"), compress(Some("xz"), &packages)).expect("write");
    std::fs::write(index_dir.join("Packages.gz"), compress(Some("gzip"), &packages)).expect("write");
    let release = run(Command::new("apt-ftparchive")
        .args(["-o", "APT::FTPArchive::Release::Origin=Test", "-o", "APT::FTPArchive::Release::Codename=stable"])
        .args(["-o", "APT::FTPArchive::Release::Components=main", "-o", "APT::FTPArchive::Release::Architectures=all"])
        .args(["release", "dists/stable"])
        .current_dir(&repo));
    let release = String::from_utf8(release).expect("utf8");
    let inrelease = k.gpg.clearsign(&["<sub@test>"], &release, &[]);

    // Verify, parse, locate, stream, verify the .deb: all on the repository as apt would.
    let ring = k.gpg.keyring(&["<sub@test>"]);
    let text = verify_clearsigned(&inrelease, "dists/stable/InRelease", &ring, now()).expect("verified");
    assert_eq!(text.text(), release);
    let rel = Release::parse(text.text(), "dists/stable/InRelease").expect("parse");
    rel.check_validity("dists/stable/InRelease", now(), false).expect("valid");
    assert_eq!((rel.origin.as_deref(), rel.codename.as_deref()), (Some("Test"), Some("stable")));
    let loc = rel.packages_index("main", "all").expect("listed");
    assert_eq!((loc.path.as_str(), loc.compression), ("main/binary-all/Packages.xz", Compression::Xz));
    let index_path = repo.join("dists/stable").join(&loc.fetch_path);
    assert_eq!(loc.sha256, sha256_file(&index_path));
    let file = std::fs::File::open(&index_path).expect("open");
    let entries = read_packages(file, &loc, &index_path.display().to_string(), |_| true).expect("read");
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!((e.package.as_str(), e.version.as_str(), e.architecture.as_str()), ("hello-test", "1:1.0-1", "all"));
    assert_eq!(e.depends[1].to_string(), "libssl3 (>= 3.0.0) | libssl1.1");
    assert_eq!(e.filename, "pool/main/h/hello-test_1.0-1_all.deb");
    let deb = crate::deb::VerifiedDeb::open(&repo.join(&e.filename), e.size, &e.sha256).expect("deb verified");
    assert_eq!(deb.control().expect("control").fields().expect("fields").get("Package"), Some("hello-test"));

    // The plain index, found when it is the only one listed.
    let plain = Release { files: rel.files.iter().filter(|f| !f.path.contains(".")).cloned().collect(), ..rel.clone() };
    let loc = plain.packages_index("main", "all").expect("plain listed");
    assert_eq!(loc.compression, Compression::None);
    let bytes = std::fs::read(repo.join("dists/stable").join(&loc.fetch_path)).expect("read");
    assert_eq!(read_packages(bytes.as_slice(), &loc, "Packages", |_| true).expect("plain"), entries);

    // An index replaced on the mirror (not matching the signed Release) is refused.
    let forged =
        compress(Some("xz"), String::from_utf8(packages).expect("utf8").replace("1:1.0-1", "1:9.0-1").as_bytes());
    let loc = rel.packages_index("main", "all").expect("listed");
    let err = read_packages(forged.as_slice(), &loc, "Packages.xz", |_| true).expect_err("forged");
    assert!(matches!(err, AptError::Mismatch { .. }), "{err}");
}

#[test]
fn real_packages_indexes_from_the_machines_mirror() {
    let Some(ring) = debian_keyring() else { return };
    let arch =
        String::from_utf8(crate::deb::tests::run(Command::new("dpkg").arg("--print-architecture"))).expect("utf8");
    let arch = arch.trim();
    for (uri, suite) in machine_sources() {
        let base = format!("{}/dists/{suite}", uri.trim_end_matches('/'));
        let Some(inrelease) = http_get(&format!("{base}/InRelease")) else {
            eprintln!("could not reach {base} (offline?); not checked");
            continue;
        };
        let text = match verify_clearsigned(&inrelease, &format!("{base}/InRelease"), &ring, now()) {
            Ok(text) => text,
            Err(e) => {
                // Only a file gpgv refuses too may be refused (a truncated or stale download).
                let saved = tempfile::NamedTempFile::new().expect("tmp");
                std::fs::write(saved.path(), &inrelease).expect("write");
                assert!(gpgv_text(DEBIAN_KEYRING, saved.path()).is_none(), "gpgv accepts what we refuse: {e}");
                eprintln!("{base}/InRelease refused by gpgv and by us ({e}); not checked further");
                continue;
            }
        };
        let rel = Release::parse(text.text(), &format!("{base}/InRelease")).expect("parse");
        rel.check_suite(&format!("{base}/InRelease"), &suite).expect("the suite asked for");
        assert!(rel.has_component("main"), "{base}");
        let loc = rel.packages_index("main", arch).expect("main is listed");
        if loc.size > 8 << 20 {
            eprintln!("{base}: {} is {} bytes; too large for a unit test, not fetched", loc.path, loc.size);
            continue;
        }
        let url = format!("{base}/{}", loc.fetch_path);
        let Some(bytes) = http_get(&url).or_else(|| http_get(&format!("{base}/{}", loc.path))) else {
            eprintln!("could not fetch {url}; not checked");
            continue;
        };
        if sha256_hex(&bytes) != loc.sha256 {
            // The mirror changed between the two downloads, or the download was cut short.
            let err = read_packages(bytes.as_slice(), &loc, &url, |_| true).expect_err("not what the Release says");
            assert!(matches!(err, AptError::Mismatch { .. }), "{err}");
            eprintln!("{url} is not what the signed Release lists (mirror changing?): refused; not checked further");
            continue;
        }
        let entries = read_packages(bytes.as_slice(), &loc, &url, |_| true).expect("verified index");
        // The real xz/gzip tool decodes the same number of stanzas.
        let saved = tempfile::NamedTempFile::new().expect("tmp");
        std::fs::write(saved.path(), &bytes).expect("write");
        let decoder = match loc.compression {
            Compression::Xz => "xz -dc",
            Compression::Gzip => "gzip -dc",
            _ => "cat",
        };
        let plain = crate::deb::tests::run(
            Command::new("sh")
                .arg("-c")
                .arg(format!("{decoder} \"$1\" | grep -c '^Package:'"))
                .arg("sh")
                .arg(saved.path()),
        );
        let count: usize = String::from_utf8(plain).expect("utf8").trim().parse().expect("count");
        assert_eq!(entries.len(), count, "{url}");
        assert!(entries.iter().all(|e| e.architecture == arch || e.architecture == "all"), "{url}");
        eprintln!("{url}: {count} entries verified");
        check_real_debs(&uri, &entries);
    }
}

/// Fetches a few real `.deb`s a verified index lists (small ones, of several sizes), verifies
/// each against its entry and compares what we read with what dpkg-deb says.
fn check_real_debs(uri: &str, entries: &[PackageEntry]) {
    let mut small: Vec<&PackageEntry> = entries.iter().filter(|e| e.size < 3 << 20).collect();
    small.sort_by_key(|e| (e.size, e.package.clone()));
    let picks: Vec<&PackageEntry> = [0, small.len() / 3, small.len() * 2 / 3, small.len().saturating_sub(1)]
        .into_iter()
        .filter_map(|i| small.get(i).copied())
        .collect();
    let dir = tempfile::tempdir().expect("tmp");
    for e in picks {
        let url = format!("{}/{}", uri.trim_end_matches('/'), e.filename);
        let Some(bytes) = http_get(&url) else {
            eprintln!("could not fetch {url}; not checked");
            continue;
        };
        let path = dir.path().join(format!("{}.deb", e.package));
        std::fs::write(&path, &bytes).expect("write");
        if crate::deb::tests::sha256_file(&path) != e.sha256 {
            let err = crate::deb::VerifiedDeb::open(&path, e.size, &e.sha256).expect_err("not the listed .deb");
            assert!(matches!(err, AptError::Mismatch { .. }), "{err}");
            eprintln!("{url} is not the .deb the index lists (cut short?): refused; not checked further");
            continue;
        }
        let deb = crate::deb::VerifiedDeb::open(&path, e.size, &e.sha256).expect("the .deb matches its entry");
        let listing = crate::deb::tests::judge_with_dpkg_deb(&path, &deb);
        let control = deb.control().expect("control");
        let fields = control.fields().expect("fields");
        assert_eq!(fields.get("Package"), Some(e.package.as_str()));
        assert_eq!(fields.get("Version"), Some(e.version.as_str()));
        eprintln!("{url}: {} entries, {} control members, as dpkg-deb says", listing.len(), control.members().len());
        // One byte changed: refused before anything is read.
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        std::fs::write(&path, &bad).expect("write");
        let err = crate::deb::VerifiedDeb::open(&path, e.size, &e.sha256).expect_err("changed");
        assert!(matches!(err, AptError::Mismatch { what: "SHA256", .. }), "{err}");
    }
}
