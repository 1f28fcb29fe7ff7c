//! OpenPGP keyrings as apt uses them (`trusted.gpg.d/*.{gpg,asc}`, `Signed-By`), and the
//! policy deciding which of their keys may sign a repository.
//!
//! `pgp`'s own `verify_bindings()` insists that *every* signature on a certificate verifies,
//! which fails on Debian's archive keys (they carry third-party certifications). The policy
//! here is the one apt relies on gpgv/sqv for, reduced to what signing needs:
//!
//! - a primary key is usable when its newest valid self-signature (user ID certification or
//!   direct-key signature, made by the primary itself) verifies, says the key may sign
//!   (key flags), and neither that signature nor the key has expired; a verified key
//!   revocation makes the whole certificate unusable;
//! - a subkey is usable when its primary is valid, its newest subkey binding signature by the
//!   primary verifies, says it may sign, carries a valid primary-key binding (back)
//!   signature, and neither is expired nor revoked;
//! - algorithms: RSA of at least 2048 bits, ECDSA, EdDSA (Ed25519, Ed448); DSA is refused, as
//!   apt's default Sequoia policy does; MD5 and SHA-1 self-signatures are not trusted.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::SystemTime;

use pgp::composed::{Deserializable, SignedPublicKey, SignedPublicSubKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{PublicKey, PublicSubkey, Signature, SignatureType};
use pgp::ser::Serialize;
use pgp::types::{KeyDetails, PublicParams, Tag, Timestamp};

use super::error::{AptError, AptResult};

/// An OpenPGP key fingerprint: 40 (v4) or 64 (v6) upper-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The fingerprint as upper-case hex digits without spaces.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last 16 hex digits: the (long) key id gpg prints.
    pub fn key_id(&self) -> &str {
        &self.0[self.0.len() - 16..]
    }

    fn from_pgp(fp: &pgp::types::Fingerprint) -> Self {
        Fingerprint(hex::encode_upper(fp.as_bytes()))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Fingerprint {
    type Err = String;

    /// Accepts the forms `Signed-By` and gpg print: upper or lower case, spaces between
    /// groups, an optional `0x` prefix. Short and long key ids are refused (they are not
    /// unique).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        let trimmed = trimmed.strip_prefix("0x").or_else(|| trimmed.strip_prefix("0X")).unwrap_or(trimmed);
        let hex: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
        if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("{s:?} is not a hexadecimal fingerprint"));
        }
        if hex.len() != 40 && hex.len() != 64 {
            return Err(format!("{s:?} has {} hex digits; a fingerprint has 40 (v4) or 64 (v6)", hex.len()));
        }
        Ok(Fingerprint(hex.to_ascii_uppercase()))
    }
}

/// Whether apt reads a file of this name from `trusted.gpg.d/` (apt-pkg/contrib/gpgv.cc and
/// `GetListOfFilesInDir`): a `.gpg` or `.asc` extension, and a name of letters, digits, `_`,
/// `-` and `.` only, not starting with `.` (editor backups like `x.gpg~` and `x.gpg.dpkg-old`
/// are skipped).
pub fn is_apt_keyring_name(name: &str) -> bool {
    (name.ends_with(".gpg") || name.ends_with(".asc"))
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

/// One certificate (primary key, its user IDs and subkeys) from a keyring file.
#[derive(Debug, Clone)]
struct Cert {
    file: String,
    key: SignedPublicKey,
    fingerprint: Fingerprint,
    /// When the keyring was restricted to a subkey fingerprint, only that key may sign.
    only: Option<Fingerprint>,
}

/// What a keyring holds about one certificate, for listings and error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The primary key's fingerprint.
    pub fingerprint: Fingerprint,
    /// The subkeys' fingerprints, in certificate order.
    pub subkeys: Vec<Fingerprint>,
    /// The user IDs (`Debian Archive Automatic Signing Key (12/bookworm) <ftpmaster@debian.org>`).
    pub user_ids: Vec<String>,
    /// The keyring file it came from.
    pub file: String,
}

/// A set of OpenPGP certificates trusted to sign repositories, each knowing the file it came
/// from and its fingerprints.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    certs: Vec<Cert>,
}

const ARMOR_BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";

impl Keyring {
    /// An empty keyring (trusts nothing).
    pub fn new() -> Self {
        Keyring::default()
    }

    /// Parses one keyring file's bytes; `file` names it in errors.
    pub fn from_bytes(bytes: &[u8], file: &str) -> AptResult<Self> {
        let mut ring = Keyring::new();
        ring.add_bytes(bytes, file)?;
        Ok(ring)
    }

    /// Reads a keyring file (binary `.gpg`/`.pgp` or armored `.asc`) and adds its keys.
    /// Returns how many certificates were added.
    pub fn add_file(&mut self, path: &Path) -> AptResult<usize> {
        let bytes = std::fs::read(path).map_err(|e| AptError::io(format!("reading keyring {}", path.display()), e))?;
        self.add_bytes(&bytes, &path.display().to_string())
    }

    /// Adds the certificates of one keyring file's bytes, binary or armored (several keys,
    /// several armor blocks). Keybox files (`pubring.kbx`) and anything else are refused, as
    /// apt refuses them. Returns how many certificates were added.
    pub fn add_bytes(&mut self, bytes: &[u8], file: &str) -> AptResult<usize> {
        let err = |reason: String| AptError::Keyring { file: file.to_owned(), reason };
        let keys: Vec<SignedPublicKey> = match bytes.first() {
            None => return Err(err("the file is empty".into())),
            Some(0x98 | 0x99 | 0xC6) => SignedPublicKey::from_bytes_many(bytes)
                .map_err(|e| err(format!("not a binary OpenPGP keyring: {e}")))?
                .collect::<Result<_, _>>()
                .map_err(|e| err(format!("not a binary OpenPGP keyring: {e}")))?,
            Some(_) if bytes.len() >= 8 && &bytes[4..8] == b"\x01KBX" || bytes.get(8..12) == Some(b"KBXf") => {
                return Err(err(
                    "is a GnuPG keybox (pubring.kbx), which apt does not accept: export its keys as a binary \
                                (.gpg) or armored (.asc) keyring"
                        .into(),
                ));
            }
            Some(_) => {
                let text = std::str::from_utf8(bytes)
                    .map_err(|_| err("neither a binary OpenPGP keyring nor an armored (.asc) key".into()))?;
                let mut keys = Vec::new();
                let mut blocks = text.match_indices(ARMOR_BEGIN).map(|(i, _)| i).peekable();
                if blocks.peek().is_none() {
                    return Err(err(format!(
                        "neither a binary OpenPGP keyring nor an armored key ({ARMOR_BEGIN:?} not found)"
                    )));
                }
                while let Some(start) = blocks.next() {
                    let end = blocks.peek().copied().unwrap_or(text.len());
                    let (many, _) = SignedPublicKey::from_armor_many(&text.as_bytes()[start..end])
                        .map_err(|e| err(format!("bad armored key block: {e}")))?;
                    for key in many {
                        keys.push(key.map_err(|e| err(format!("bad armored key block: {e}")))?);
                    }
                }
                keys
            }
        };
        if keys.is_empty() {
            return Err(err("holds no public key".into()));
        }
        let added = keys.len();
        for key in keys {
            let fingerprint = Fingerprint::from_pgp(&key.primary_key.fingerprint());
            self.certs.push(Cert { file: file.to_owned(), key, fingerprint, only: None });
        }
        Ok(added)
    }

    /// Merges another keyring's certificates into this one.
    pub fn extend(&mut self, other: Keyring) {
        self.certs.extend(other.certs);
    }

    /// Whether the keyring holds no certificate.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// The certificates, in the order they were added.
    pub fn keys(&self) -> Vec<KeyInfo> {
        self.certs
            .iter()
            .map(|c| KeyInfo {
                fingerprint: c.fingerprint.clone(),
                subkeys: c.key.public_subkeys.iter().map(|s| Fingerprint::from_pgp(&s.key.fingerprint())).collect(),
                user_ids: c.key.details.users.iter().map(|u| String::from_utf8_lossy(u.id.id()).into_owned()).collect(),
                file: c.file.clone(),
            })
            .collect()
    }

    /// The primary fingerprints of all certificates.
    pub fn fingerprints(&self) -> Vec<Fingerprint> {
        self.certs.iter().map(|c| c.fingerprint.clone()).collect()
    }

    /// Keeps only what `Signed-By` fingerprints allow, as apt does: a primary fingerprint keeps
    /// that certificate (primary and subkeys), a subkey fingerprint keeps only that subkey as a
    /// signer. A fingerprint found in no certificate is an error naming it.
    pub fn restrict_to(&self, allowed: &[Fingerprint]) -> AptResult<Keyring> {
        let mut out = Keyring::new();
        for fp in allowed {
            let mut found = false;
            for cert in &self.certs {
                if &cert.fingerprint == fp {
                    out.certs.push(Cert { only: None, ..cert.clone() });
                    found = true;
                } else if cert.key.public_subkeys.iter().any(|s| &Fingerprint::from_pgp(&s.key.fingerprint()) == fp) {
                    out.certs.push(Cert { only: Some(fp.clone()), ..cert.clone() });
                    found = true;
                }
            }
            if !found {
                let files: Vec<&str> = self.certs.iter().map(|c| c.file.as_str()).collect();
                return Err(AptError::Keyring {
                    file: if files.is_empty() { "(empty keyring)".into() } else { dedup(files).join(", ") },
                    reason: format!("no key with fingerprint {fp} (named by Signed-By)"),
                });
            }
        }
        Ok(out)
    }

    /// Checks one data signature against the keyring under the policy above.
    pub(crate) fn check(&self, sig: &Signature, data: &[u8], now: SystemTime) -> SigCheck {
        let now = unix(now);
        let issuers = issuer_names(sig);
        if let Some(hash) = sig.hash_alg()
            && weak_hash(hash)
        {
            return SigCheck::Unusable {
                key: issuers,
                reason: format!("signature uses the {hash} digest, which is not trusted (apt refuses MD5 and SHA-1)"),
            };
        }
        if !matches!(sig.typ(), Some(SignatureType::Binary | SignatureType::Text)) {
            return SigCheck::Unusable {
                key: issuers,
                reason: format!("not a document signature (type {:?})", sig.typ()),
            };
        }
        let Some(created) = sig.created().map(|t| u64::from(t.as_secs())) else {
            return SigCheck::Unusable { key: issuers, reason: "signature has no creation time".into() };
        };
        if created > now + super::release::MAX_FUTURE_SECS {
            return SigCheck::Unusable {
                key: issuers,
                reason: format!("signature made in the future ({}; is the clock right?)", date(created)),
            };
        }
        if let Some(exp) = sig.signature_expiration_time().map(|d| u64::from(d.as_secs()))
            && exp != 0
            && now >= created + exp
        {
            return SigCheck::Unusable {
                key: issuers,
                reason: format!("signature expired on {}", date(created + exp)),
            };
        }
        // Without issuer subpackets every key is a candidate, and one that fails to verify
        // says nothing about tampering.
        let anonymous = sig.issuer_fingerprint().is_empty() && sig.issuer_key_id().is_empty();
        let mut unusable: Option<SigCheck> = None;
        for cert in &self.certs {
            let primary = &cert.key.primary_key;
            let candidates = std::iter::once(KeyRef::Primary(primary))
                .chain(cert.key.public_subkeys.iter().map(KeyRef::Subkey))
                .filter(|k| issued_by(sig, k.fingerprint(), k.key_id()))
                .filter(|k| cert.only.as_ref().is_none_or(|only| &Fingerprint::from_pgp(&k.fingerprint()) == only));
            for key in candidates {
                let name = format!("{} ({})", Fingerprint::from_pgp(&key.fingerprint()), cert.file);
                let status = match key {
                    KeyRef::Primary(_) => primary_status(&cert.key, now, created, true),
                    KeyRef::Subkey(sub) => primary_status(&cert.key, now, created, false)
                        .map_err(|r| format!("its primary key {}: {r}", cert.fingerprint))
                        .and_then(|_| subkey_status(primary, sub, now, created)),
                };
                if let Err(reason) = status {
                    unusable = Some(SigCheck::Unusable { key: name, reason });
                    continue;
                }
                let verified = match key {
                    KeyRef::Primary(k) => sig.verify(k, data),
                    KeyRef::Subkey(s) => sig.verify(&s.key, data),
                };
                return match verified {
                    Ok(()) => SigCheck::Good {
                        primary: cert.fingerprint.clone(),
                        signer: Fingerprint::from_pgp(&key.fingerprint()),
                    },
                    Err(_) if anonymous => continue,
                    Err(_) => SigCheck::Bad {
                        key: name,
                        reason: "does not match the signed data (changed data, or a signature of other data)".into(),
                    },
                };
            }
        }
        unusable.unwrap_or(SigCheck::NoKey { key: issuers })
    }
}

/// The outcome for one signature.
#[derive(Debug)]
pub(crate) enum SigCheck {
    /// Verified by a usable key.
    Good { primary: Fingerprint, signer: Fingerprint },
    /// A usable key of the keyring was named, but the signature does not verify: tampering.
    Bad { key: String, reason: String },
    /// The signature or its key is not acceptable (expired, revoked, weak digest…).
    Unusable { key: String, reason: String },
    /// No key of the keyring issued it.
    NoKey { key: String },
}

#[derive(Clone, Copy)]
enum KeyRef<'a> {
    Primary(&'a PublicKey),
    Subkey(&'a SignedPublicSubKey),
}

impl KeyRef<'_> {
    fn fingerprint(&self) -> pgp::types::Fingerprint {
        match self {
            KeyRef::Primary(k) => k.fingerprint(),
            KeyRef::Subkey(s) => s.key.fingerprint(),
        }
    }
    fn key_id(&self) -> pgp::types::KeyId {
        match self {
            KeyRef::Primary(k) => k.legacy_key_id(),
            KeyRef::Subkey(s) => s.key.legacy_key_id(),
        }
    }
}

fn dedup(mut v: Vec<&str>) -> Vec<&str> {
    v.sort_unstable();
    v.dedup();
    v
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `YYYY-MM-DD` (UTC) of a Unix time, for messages.
pub(crate) fn date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn weak_hash(hash: HashAlgorithm) -> bool {
    matches!(hash, HashAlgorithm::None | HashAlgorithm::Md5 | HashAlgorithm::Sha1 | HashAlgorithm::Ripemd160)
}

fn issuer_names(sig: &Signature) -> String {
    let fps: Vec<String> = sig.issuer_fingerprint().iter().map(|f| hex::encode_upper(f.as_bytes())).collect();
    if !fps.is_empty() {
        return fps.join(", ");
    }
    let ids: Vec<String> = sig.issuer_key_id().iter().map(|k| hex::encode_upper(k.as_ref())).collect();
    if ids.is_empty() { "(no issuer recorded)".into() } else { ids.join(", ") }
}

fn issued_by(sig: &Signature, fp: pgp::types::Fingerprint, id: pgp::types::KeyId) -> bool {
    let fps = sig.issuer_fingerprint();
    let ids = sig.issuer_key_id();
    (fps.is_empty() && ids.is_empty()) || fps.iter().any(|f| **f == fp) || ids.iter().any(|i| **i == id)
}

/// Whether the key material itself is acceptable for signing.
fn algorithm_ok(params: &PublicParams) -> Result<(), String> {
    match params {
        PublicParams::RSA(_) => {
            let bytes = params.to_bytes().map_err(|e| format!("unreadable RSA key: {e}"))?;
            let bits = bytes.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])).unwrap_or(0);
            if bits < 2048 { Err(format!("RSA key of {bits} bits (at least 2048 needed)")) } else { Ok(()) }
        }
        PublicParams::DSA(_) => Err("DSA keys are not trusted".into()),
        PublicParams::ECDSA(_) | PublicParams::EdDSALegacy(_) | PublicParams::Ed25519(_) | PublicParams::Ed448(_) => {
            Ok(())
        }
        _ => Err("not a signing algorithm".into()),
    }
}

/// Checks a binding/self-signature's time window: made before `now`, not expired at `now`.
fn sig_current(sig: &Signature, now: u64) -> bool {
    let Some(created) = sig.created().map(|t| u64::from(t.as_secs())) else { return false };
    let expired =
        sig.signature_expiration_time().map(|d| u64::from(d.as_secs())).is_some_and(|e| e != 0 && now >= created + e);
    created <= now && !expired && sig.hash_alg().is_some_and(|h| !weak_hash(h))
}

/// Key expiry relative to the key creation time, from the binding signature chosen.
fn check_expiry(created_at: Timestamp, binding: &Signature, now: u64, sig_time: u64) -> Result<(), String> {
    let created = u64::from(created_at.as_secs());
    if sig_time < created {
        return Err(format!("the signature ({}) predates the key ({})", date(sig_time), date(created)));
    }
    if let Some(exp) = binding.key_expiration_time().map(|d| u64::from(d.as_secs()))
        && exp != 0
    {
        let end = created + exp;
        if now >= end || sig_time >= end {
            return Err(format!("key expired on {}", date(end)));
        }
    }
    Ok(())
}

fn newest(sigs: impl Iterator<Item = Signature>) -> Option<Signature> {
    sigs.max_by_key(|s| s.created().map(|t| t.as_secs()).unwrap_or(0))
}

/// Whether the primary key is valid (and, with `signing`, may sign data itself).
fn primary_status(cert: &SignedPublicKey, now: u64, sig_time: u64, signing: bool) -> Result<(), String> {
    let primary = &cert.primary_key;
    algorithm_ok(primary.public_params())?;
    for rev in &cert.details.revocation_signatures {
        if rev.typ() == Some(SignatureType::KeyRevocation) && rev.verify_key(primary).is_ok() {
            let when = rev.created().map(|t| date(u64::from(t.as_secs()))).unwrap_or_default();
            return Err(format!("key revoked on {when}"));
        }
    }
    let own = |s: &Signature| issued_by(s, primary.fingerprint(), primary.legacy_key_id()) && sig_current(s, now);
    let user_sigs = cert.details.users.iter().flat_map(|u| {
        u.signatures
            .iter()
            .filter(|s| s.is_certification() && own(s))
            .filter(|s| s.verify_certification(primary, Tag::UserId, &u.id).is_ok())
            .cloned()
    });
    let direct = cert.details.direct_signatures.iter().filter(|s| own(s) && s.verify_key(primary).is_ok()).cloned();
    let Some(selfsig) = newest(user_sigs.chain(direct)) else {
        return Err("no valid self-signature".into());
    };
    check_expiry(primary.created_at(), &selfsig, now, sig_time)?;
    if signing && !selfsig.key_flags().sign() {
        return Err("primary key is not signing-capable (key flags)".into());
    }
    Ok(())
}

/// Whether a subkey may sign data, given a valid primary.
fn subkey_status(primary: &PublicKey, sub: &SignedPublicSubKey, now: u64, sig_time: u64) -> Result<(), String> {
    let key: &PublicSubkey = &sub.key;
    algorithm_ok(key.public_params())?;
    for rev in &sub.signatures {
        if rev.typ() == Some(SignatureType::SubkeyRevocation) && rev.verify_subkey_binding(primary, key).is_ok() {
            let when = rev.created().map(|t| date(u64::from(t.as_secs()))).unwrap_or_default();
            return Err(format!("subkey revoked on {when}"));
        }
    }
    let bindings = sub
        .signatures
        .iter()
        .filter(|s| s.typ() == Some(SignatureType::SubkeyBinding) && sig_current(s, now))
        .filter(|s| s.verify_subkey_binding(primary, key).is_ok())
        .cloned();
    let Some(binding) = newest(bindings) else {
        return Err("no valid binding signature by its primary key".into());
    };
    check_expiry(key.created_at(), &binding, now, sig_time)?;
    if !binding.key_flags().sign() {
        return Err("subkey is not signing-capable (key flags)".into());
    }
    match binding.embedded_signature() {
        Some(back) if back.verify_primary_key_binding(key, primary).is_ok() => Ok(()),
        Some(_) => Err("its primary-key binding (back) signature does not verify".into()),
        None => Err("signing subkey without a primary-key binding (back) signature".into()),
    }
}
