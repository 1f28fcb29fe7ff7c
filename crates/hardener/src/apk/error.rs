//! The error type of the apk repository and package module ([`crate::apk`]).

/// A `Result` whose error is [`ApkError`].
pub type ApkResult<T> = std::result::Result<T, ApkError>;

/// Everything that can go wrong reading apk keys, an `APKINDEX` or an `.apk`. Each variant
/// names the file (path or URL as the caller gave it) and says why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApkError {
    /// Reading a file or stream failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the file.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A public key file could not be used.
    #[error("apk key {file}: {reason}")]
    Key {
        /// The key file (or the name it was given under).
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A signed file is unsigned, signed by an unknown key, or its signature does not verify.
    #[error("signature of {file}: {reason}")]
    Signature {
        /// The signed file (`…/APKINDEX.tar.gz`, `…/foo-1.0-r0.apk`).
        file: String,
        /// What is wrong, naming the signature's key.
        reason: String,
    },
    /// A text format (`APKINDEX`, `.PKGINFO`, `installed`) could not be parsed.
    #[error("{file}{}: {reason}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Parse {
        /// The file.
        file: String,
        /// The 1-based line, when known.
        line: Option<usize>,
        /// What is wrong.
        reason: String,
    },
    /// A digest differs from what the signed metadata says.
    #[error("{file}: {what} mismatch: expected {expected}, got {actual}")]
    Mismatch {
        /// The file.
        file: String,
        /// What was compared (`control stream SHA1 (C:)`, `data stream SHA256 (datahash)`…).
        what: String,
        /// The value the metadata promises.
        expected: String,
        /// The value found.
        actual: String,
    },
    /// An archive (`APKINDEX.tar.gz`, `.apk`) is malformed or unsafe.
    #[error("{file}{}: {reason}", entry.as_ref().map(|e| format!(" entry {e:?}")).unwrap_or_default())]
    Archive {
        /// The archive.
        file: String,
        /// The stream or tar entry concerned, when there is one.
        entry: Option<String>,
        /// What is wrong.
        reason: String,
    },
}

impl ApkError {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ApkError::Io { context: context.into(), source }
    }

    /// A parse error in `file` at `line`.
    pub fn parse(file: impl Into<String>, line: Option<usize>, reason: impl Into<String>) -> Self {
        ApkError::Parse { file: file.into(), line, reason: reason.into() }
    }

    pub(crate) fn archive(file: &str, entry: Option<&str>, reason: impl Into<String>) -> Self {
        ApkError::Archive { file: file.to_owned(), entry: entry.map(str::to_owned), reason: reason.into() }
    }

    pub(crate) fn signature(file: &str, reason: impl Into<String>) -> Self {
        ApkError::Signature { file: file.to_owned(), reason: reason.into() }
    }
}
