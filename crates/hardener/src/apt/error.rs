//! The error type of the repository ([`crate::apt`]) and package-file ([`crate::deb`]) modules.

/// A `Result` whose error is [`AptError`].
pub type AptResult<T> = std::result::Result<T, AptError>;

/// Everything that can go wrong reading an apt repository or a `.deb`. Each variant names the
/// file (path or URL as the caller gave it) and says why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AptError {
    /// Reading a file or stream failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the file.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A keyring file could not be used.
    #[error("keyring {file}: {reason}")]
    Keyring {
        /// The keyring file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A signed file is not signed, or not by a usable trusted key.
    #[error("signature of {file}: {reason}")]
    Signature {
        /// The signed file (`…/InRelease`, `…/Release`).
        file: String,
        /// What is wrong, naming each signature's key id or fingerprint.
        reason: String,
    },
    /// A file in deb822 or another apt/dpkg text format could not be parsed, or is not
    /// acceptable (an expired `Release`…).
    #[error("{file}{}: {reason}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Parse {
        /// The file.
        file: String,
        /// The 1-based line, when known.
        line: Option<usize>,
        /// What is wrong.
        reason: String,
    },
    /// A file's size or digest differs from what the signed metadata says.
    #[error("{file}: {what} mismatch: expected {expected}, got {actual}")]
    Mismatch {
        /// The file.
        file: String,
        /// `size` or `SHA256`.
        what: &'static str,
        /// The value the metadata promises.
        expected: String,
        /// The value found.
        actual: String,
    },
    /// A `.deb` is malformed or unsafe.
    #[error("package {deb}{}: {reason}", entry.as_ref().map(|e| format!(" entry {e:?}")).unwrap_or_default())]
    Deb {
        /// The `.deb` file.
        deb: String,
        /// The member or tar entry concerned, when there is one.
        entry: Option<String>,
        /// What is wrong.
        reason: String,
    },
}

impl AptError {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        AptError::Io { context: context.into(), source }
    }

    /// A parse error in `file` at `line`.
    pub fn parse(file: impl Into<String>, line: Option<usize>, reason: impl Into<String>) -> Self {
        AptError::Parse { file: file.into(), line, reason: reason.into() }
    }
}
