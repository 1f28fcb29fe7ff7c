//! Verifying a repository's signed `Release`: clearsigned `InRelease`, or `Release` with its
//! detached `Release.gpg`.
//!
//! Only the signed text is ever returned: data before the `BEGIN PGP SIGNED MESSAGE` line or
//! after the signature is refused, never parsed (the source of APT's past InRelease bugs,
//! USN-1762-1 and CVE-2016-1252). Several signatures are allowed, as Debian signs with more
//! than one key: at least one must verify with a usable key of the keyring, and none may fail
//! to verify with a key the keyring holds (apt's `BADSIG`).

use std::time::SystemTime;

use pgp::composed::{Deserializable, DetachedSignature};
use pgp::packet::Signature;

use super::error::{AptError, AptResult};
use super::keyring::{Fingerprint, Keyring, SigCheck};

/// Text whose signature verified, with who signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedText {
    text: String,
    signers: Vec<Fingerprint>,
    signing_keys: Vec<Fingerprint>,
}

impl VerifiedText {
    /// The signed text only (for `InRelease`: dash-unescaped, trailing blanks of each line
    /// removed as the signature covers them, `\n` line ends, ending with a newline).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Consumes it, returning the signed text.
    pub fn into_text(self) -> String {
        self.text
    }

    /// The primary fingerprints of the certificates whose keys made a good signature.
    pub fn signers(&self) -> &[Fingerprint] {
        &self.signers
    }

    /// The fingerprints of the keys (primary or subkey) that made each good signature.
    pub fn signing_keys(&self) -> &[Fingerprint] {
        &self.signing_keys
    }
}

const BEGIN_MESSAGE: &str = "-----BEGIN PGP SIGNED MESSAGE-----";
const BEGIN_SIGNATURE: &str = "-----BEGIN PGP SIGNATURE-----";
const END_SIGNATURE: &str = "-----END PGP SIGNATURE-----";

/// Verifies a clearsigned `InRelease` file against `keyring` at time `now`, returning only
/// the signed text. `file` names the file in errors.
pub fn verify_clearsigned(input: &[u8], file: &str, keyring: &Keyring, now: SystemTime) -> AptResult<VerifiedText> {
    let err = |reason: String| AptError::Signature { file: file.to_owned(), reason };
    let input = std::str::from_utf8(input).map_err(|e| err(format!("not UTF-8 text ({e})")))?;
    let mut lines = input.split('\n').enumerate().map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)));

    // Nothing but blank lines before the header.
    loop {
        match lines.next() {
            None => return Err(err("not a clearsigned file (no \"-----BEGIN PGP SIGNED MESSAGE-----\" line)".into())),
            Some((_, l)) if l.trim().is_empty() => continue,
            Some((_, l)) if l.trim_end() == BEGIN_MESSAGE => break,
            Some((n, _)) => {
                return Err(err(format!(
                    "line {n}: unsigned data before the signed message (a clearsigned file must start with \
                     {BEGIN_MESSAGE:?})"
                )));
            }
        }
    }
    // Armor headers: only `Hash:`.
    loop {
        match lines.next() {
            None => return Err(err("truncated: no signed text after the header".into())),
            Some((_, "")) => break,
            Some((_, l)) if l.starts_with("Hash: ") => continue,
            Some((n, l)) => return Err(err(format!("line {n}: unexpected armor header {l:?}"))),
        }
    }
    // The signed body, dash-escaped.
    let mut body: Vec<&str> = Vec::new();
    loop {
        match lines.next() {
            None => return Err(err(format!("truncated: no {BEGIN_SIGNATURE:?} line"))),
            Some((_, l)) if l.trim_end() == BEGIN_SIGNATURE => break,
            Some((_, l)) if l.starts_with("- ") => body.push(&l[2..]),
            Some((n, l)) if l.starts_with('-') => {
                return Err(err(format!("line {n}: {l:?} is neither dash-escaped text nor the signature")));
            }
            Some((_, l)) => body.push(l),
        }
    }
    let mut armor = String::from(BEGIN_SIGNATURE);
    armor.push('\n');
    loop {
        match lines.next() {
            None => return Err(err(format!("truncated: no {END_SIGNATURE:?} line"))),
            Some((_, l)) => {
                armor.push_str(l);
                armor.push('\n');
                if l.trim_end() == END_SIGNATURE {
                    break;
                }
            }
        }
    }
    if let Some((n, _)) = lines.find(|(_, l)| !l.trim().is_empty()) {
        return Err(err(format!("line {n}: unsigned data after the signature")));
    }
    let (sigs, _) =
        DetachedSignature::from_armor_many(armor.as_bytes()).map_err(|e| err(format!("unreadable signature: {e}")))?;
    let sigs = sigs
        .map(|s| s.map(|d| d.signature))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(format!("unreadable signature: {e}")))?;

    // The signature covers the lines without trailing blanks, joined by CR LF, without the
    // last line end.
    let trimmed: Vec<&str> = body.iter().map(|l| l.trim_end_matches([' ', '\t'])).collect();
    let hashed = trimmed.join("\r\n");
    let verified = decide(&sigs, hashed.as_bytes(), file, keyring, now)?;
    let mut text = trimmed.join("\n");
    text.push('\n');
    Ok(VerifiedText { text, ..verified })
}

/// Verifies `data` (a `Release` file) against its detached signature (`Release.gpg`, armored
/// or binary) at time `now`. `file` names the signed file in errors.
pub fn verify_detached(
    data: &[u8],
    signature: &[u8],
    file: &str,
    keyring: &Keyring,
    now: SystemTime,
) -> AptResult<VerifiedText> {
    let err = |reason: String| AptError::Signature { file: file.to_owned(), reason };
    let (sigs, _) = DetachedSignature::from_reader_many(signature)
        .map_err(|e| err(format!("unreadable detached signature: {e}")))?;
    let sigs = sigs
        .map(|s| s.map(|d| d.signature))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(format!("unreadable detached signature: {e}")))?;
    let verified = decide(&sigs, data, file, keyring, now)?;
    let text = String::from_utf8(data.to_vec()).map_err(|e| err(format!("signed data is not UTF-8 text ({e})")))?;
    Ok(VerifiedText { text, ..verified })
}

/// apt's rule: no bad signature by a known key, at least one good one.
fn decide(sigs: &[Signature], data: &[u8], file: &str, keyring: &Keyring, now: SystemTime) -> AptResult<VerifiedText> {
    let err = |reason: String| AptError::Signature { file: file.to_owned(), reason };
    if sigs.is_empty() {
        return Err(err("no signature found".into()));
    }
    if keyring.is_empty() {
        return Err(err("no trusted key to check it with (empty keyring)".into()));
    }
    let mut signers = Vec::new();
    let mut signing_keys = Vec::new();
    let mut problems = Vec::new();
    let mut bad = Vec::new();
    for sig in sigs {
        match keyring.check(sig, data, now) {
            SigCheck::Good { primary, signer } => {
                signers.push(primary);
                signing_keys.push(signer);
            }
            SigCheck::Bad { key, reason } => bad.push(format!("BAD signature by key {key}: {reason}")),
            SigCheck::Unusable { key, reason } => {
                problems.push(format!("signature by key {key} not trusted: {reason}"))
            }
            SigCheck::NoKey { key } => problems.push(format!("signed by key {key}, which is not in the keyring")),
        }
    }
    if !bad.is_empty() {
        return Err(err(bad.join("; ")));
    }
    if signers.is_empty() {
        return Err(err(problems.join("; ")));
    }
    Ok(VerifiedText { text: String::new(), signers, signing_keys })
}
