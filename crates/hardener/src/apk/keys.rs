//! apk's signing keys and the signature stream: `.SIGN.RSA.<key>` (PKCS#1 v1.5 over SHA1),
//! `.SIGN.RSA256.<key>` (SHA256) and `.SIGN.RSA512.<key>` (SHA512) tar entries, each checked
//! against the PEM public key of that name, as apk-tools' `apk_sign_ctx_process_file` does.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, RsaPublicKey};

use super::{ApkError, ApkResult};

/// Signature entries larger than this are refused (an RSA-8192 signature is 1 KiB).
const MAX_SIGNATURE_SIZE: u64 = 64 << 10;
/// Key files larger than this are refused.
const MAX_KEY_SIZE: u64 = 64 << 10;

/// The digest an apk signature is made over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SignatureHash {
    /// `.SIGN.RSA.`: SHA1.
    Sha1,
    /// `.SIGN.RSA256.`: SHA256.
    Sha256,
    /// `.SIGN.RSA512.`: SHA512.
    Sha512,
}

impl SignatureHash {
    /// The type word of the entry name (`RSA`, `RSA256`, `RSA512`).
    pub fn entry_type(self) -> &'static str {
        match self {
            SignatureHash::Sha1 => "RSA",
            SignatureHash::Sha256 => "RSA256",
            SignatureHash::Sha512 => "RSA512",
        }
    }

    /// The digest's name (`SHA1`, `SHA256`, `SHA512`).
    pub fn name(self) -> &'static str {
        match self {
            SignatureHash::Sha1 => "SHA1",
            SignatureHash::Sha256 => "SHA256",
            SignatureHash::Sha512 => "SHA512",
        }
    }

    /// A fresh hasher of this digest.
    pub fn hasher(self) -> SignedHasher {
        match self {
            SignatureHash::Sha1 => SignedHasher::Sha1(<sha1::Sha1 as sha1::Digest>::new()),
            SignatureHash::Sha256 => SignedHasher::Sha256(<sha2::Sha256 as sha2::Digest>::new()),
            SignatureHash::Sha512 => SignedHasher::Sha512(<sha2::Sha512 as sha2::Digest>::new()),
        }
    }

    /// The DER `DigestInfo` prefix PKCS#1 v1.5 puts before the digest (RFC 8017, 9.2).
    fn scheme(self) -> Pkcs1v15Sign {
        let (prefix, len): (&[u8], usize) = match self {
            SignatureHash::Sha1 => {
                (&[0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14], 20)
            }
            SignatureHash::Sha256 => (
                &[
                    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
                    0x00, 0x04, 0x20,
                ],
                32,
            ),
            SignatureHash::Sha512 => (
                &[
                    0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05,
                    0x00, 0x04, 0x40,
                ],
                64,
            ),
        };
        Pkcs1v15Sign { hash_len: Some(len), prefix: prefix.into() }
    }
}

/// A running digest of signed bytes (see [`SignatureHash::hasher`]).
#[derive(Debug, Clone)]
pub enum SignedHasher {
    /// SHA1.
    Sha1(sha1::Sha1),
    /// SHA256.
    Sha256(sha2::Sha256),
    /// SHA512.
    Sha512(sha2::Sha512),
}

impl SignedHasher {
    /// Adds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            SignedHasher::Sha1(h) => sha1::Digest::update(h, data),
            SignedHasher::Sha256(h) => sha2::Digest::update(h, data),
            SignedHasher::Sha512(h) => sha2::Digest::update(h, data),
        }
    }

    /// The digest.
    pub fn finalize(self) -> Vec<u8> {
        match self {
            SignedHasher::Sha1(h) => sha1::Digest::finalize(h).to_vec(),
            SignedHasher::Sha256(h) => sha2::Digest::finalize(h).to_vec(),
            SignedHasher::Sha512(h) => sha2::Digest::finalize(h).to_vec(),
        }
    }
}

/// One entry of a signature stream: `.SIGN.<type>.<key name>` and the signature bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApkSignature {
    /// The digest signed.
    pub hash: SignatureHash,
    /// The key's file name (`alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub`).
    pub key: String,
    /// The raw RSA signature.
    pub bytes: Vec<u8>,
}

impl ApkSignature {
    /// Parses an entry name `.SIGN.RSA.<key>`, `.SIGN.RSA256.<key>` or `.SIGN.RSA512.<key>`
    /// into its digest and key name; `None` for other names (`.SIGN.DSA.…`, no key, a `/`).
    pub fn parse_entry_name(name: &str) -> Option<(SignatureHash, &str)> {
        let rest = name.strip_prefix(".SIGN.")?;
        let (kind, key) = rest.split_once('.')?;
        let hash = match kind {
            "RSA" => SignatureHash::Sha1,
            "RSA256" => SignatureHash::Sha256,
            "RSA512" => SignatureHash::Sha512,
            _ => return None,
        };
        (!key.is_empty() && !key.contains('/') && key != "." && key != "..").then_some((hash, key))
    }

    /// The entry name: `.SIGN.RSA256.<key>`.
    pub fn entry_name(&self) -> String {
        format!(".SIGN.{}.{}", self.hash.entry_type(), self.key)
    }
}

/// Reads a signature stream: an uncompressed tar (with or without end blocks) of
/// `.SIGN.*` entries. `file` names the signed file in errors.
///
/// # Errors
/// [`ApkError::Archive`] for a corrupt tar, an entry that is not a regular `.SIGN.*` file
/// or a signature larger than 64 KiB; [`ApkError::Signature`] when the stream holds no
/// signature. Entries of other signature types (`.SIGN.DSA.`) are skipped, as apk-tools does.
pub fn read_signatures(stream: impl Read, file: &str) -> ApkResult<Vec<ApkSignature>> {
    let corrupt = |e: std::io::Error| ApkError::archive(file, Some("signature stream"), format!("corrupt: {e}"));
    let mut archive = tar::Archive::new(oci_core::TarGuard::new(stream, file));
    let mut out = Vec::new();
    let mut seen = 0usize;
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if !name.starts_with(".SIGN.") || entry.header().entry_type() != tar::EntryType::Regular {
            return Err(ApkError::archive(file, Some(&name), "not a signature (.SIGN.*) file in the signature stream"));
        }
        seen += 1;
        let size = entry.size();
        if size > MAX_SIGNATURE_SIZE {
            return Err(ApkError::archive(file, Some(&name), format!("signature of {size} bytes (refused)")));
        }
        let Some((hash, key)) = ApkSignature::parse_entry_name(&name) else { continue };
        let key = key.to_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(corrupt)?;
        out.push(ApkSignature { hash, key, bytes });
    }
    if out.is_empty() {
        let why = if seen == 0 {
            "unsigned: no .SIGN.* entry".to_owned()
        } else {
            format!("{seen} signature(s), none of type RSA, RSA256 or RSA512")
        };
        return Err(ApkError::signature(file, why));
    }
    Ok(out)
}

/// A set of trusted apk public keys, by file name, as `/etc/apk/keys/` holds them.
///
/// # Example
/// ```no_run
/// use hardener::ApkKeys;
///
/// # fn f() -> Result<(), hardener::ApkError> {
/// let mut keys = ApkKeys::new();
/// keys.load_dir("rootfs/etc/apk/keys".as_ref())?;
/// println!("{:?}", keys.names().collect::<Vec<_>>());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct ApkKeys {
    keys: BTreeMap<String, RsaPublicKey>,
}

impl ApkKeys {
    /// An empty key set.
    pub fn new() -> ApkKeys {
        ApkKeys::default()
    }

    /// Adds the PEM public key (`BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`) known as
    /// `name` (its file name in `/etc/apk/keys`), replacing a key of the same name.
    ///
    /// # Errors
    /// [`ApkError::Key`] when the name is not a plain file name or the text is not an RSA
    /// public key.
    pub fn add_pem(&mut self, name: &str, pem: &[u8]) -> ApkResult<()> {
        let bad = |reason: String| ApkError::Key { file: name.to_owned(), reason };
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(bad("not a plain file name".into()));
        }
        let text = std::str::from_utf8(pem).map_err(|_| bad("not PEM text".into()))?;
        let key = RsaPublicKey::from_public_key_pem(text.trim())
            .or_else(|_| RsaPublicKey::from_pkcs1_pem(text.trim()))
            .map_err(|e| bad(format!("not a PEM RSA public key ({e})")))?;
        self.keys.insert(name.to_owned(), key);
        Ok(())
    }

    /// Adds every regular file of `dir` (symlinks followed) as a key named after the file,
    /// as apk-tools reads `/etc/apk/keys`. Returns how many keys were added.
    ///
    /// # Errors
    /// [`ApkError::Io`] when the directory or a file cannot be read, [`ApkError::Key`] for
    /// a file that is not an RSA public key.
    pub fn load_dir(&mut self, dir: &Path) -> ApkResult<usize> {
        let ctx = |what: &str| format!("{what} {}", dir.display());
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| ApkError::io(ctx("reading key directory"), e))? {
            let entry = entry.map_err(|e| ApkError::io(ctx("reading key directory"), e))?;
            let path = entry.path();
            if path.is_file() {
                names.push((entry.file_name().to_string_lossy().into_owned(), path));
            }
        }
        names.sort();
        for (name, path) in &names {
            let mut bytes = Vec::new();
            std::fs::File::open(path)
                .and_then(|f| f.take(MAX_KEY_SIZE + 1).read_to_end(&mut bytes))
                .map_err(|e| ApkError::io(format!("reading key {}", path.display()), e))?;
            if bytes.len() as u64 > MAX_KEY_SIZE {
                return Err(ApkError::Key { file: path.display().to_string(), reason: "larger than 64 KiB".into() });
            }
            self.add_pem(name, &bytes).map_err(|e| match e {
                ApkError::Key { reason, .. } => ApkError::Key { file: path.display().to_string(), reason },
                other => other,
            })?;
        }
        Ok(names.len())
    }

    /// The key names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Whether a key of this name is in the set.
    pub fn contains(&self, name: &str) -> bool {
        self.keys.contains_key(name)
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Picks the signature apk-tools would check: the first, in stream order, whose key is
    /// in the set. The caller then hashes the signed bytes with its [`SignatureHash`] and
    /// calls [`ApkKeys::verify`].
    ///
    /// # Errors
    /// [`ApkError::Signature`] naming the keys when none is trusted, or when there is no
    /// signature.
    pub fn select<'a>(&self, file: &str, signatures: &'a [ApkSignature]) -> ApkResult<&'a ApkSignature> {
        if signatures.is_empty() {
            return Err(ApkError::signature(file, "unsigned: no .SIGN.* entry"));
        }
        signatures.iter().find(|s| self.contains(&s.key)).ok_or_else(|| {
            let names: Vec<String> = signatures.iter().map(|s| format!("{:?}", s.key)).collect();
            ApkError::signature(
                file,
                format!("signed by unknown key {} (not among the trusted keys)", names.join(", ")),
            )
        })
    }

    /// Checks `signature` over data whose digest (of `signature.hash`) is `digest`.
    ///
    /// # Errors
    /// [`ApkError::Signature`] naming the file and key when the key is unknown or the
    /// signature does not verify.
    pub fn verify(&self, file: &str, signature: &ApkSignature, digest: &[u8]) -> ApkResult<()> {
        let key = self.keys.get(&signature.key).ok_or_else(|| {
            ApkError::signature(file, format!("signed by unknown key {:?} (not among the trusted keys)", signature.key))
        })?;
        key.verify(signature.hash.scheme(), digest, &signature.bytes).map_err(|_| {
            ApkError::signature(
                file,
                format!(
                    "bad {} signature {} by key {:?}",
                    signature.hash.entry_type(),
                    signature.entry_name(),
                    signature.key
                ),
            )
        })
    }

    /// [`ApkKeys::select`] then [`ApkKeys::verify`] over `data` held in memory.
    ///
    /// # Errors
    /// As [`ApkKeys::select`] and [`ApkKeys::verify`].
    pub fn verify_bytes(&self, file: &str, signatures: &[ApkSignature], data: &[u8]) -> ApkResult<()> {
        let sig = self.select(file, signatures)?;
        let mut h = sig.hash.hasher();
        h.update(data);
        self.verify(file, sig, &h.finalize())
    }
}
