//! The one error type of `oci-core`.

use std::io;
use std::path::PathBuf;

use crate::{Digest, Platform};

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `oci-core`.
///
/// Every variant names what failed and where (a path, a digest, a layer entry), so
/// the message alone tells a user what to look at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, e.g. `reading /layout/index.json`.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Content did not hash to the digest that names it.
    #[error("digest mismatch for {what}: expected {expected}, content hashes to {found}")]
    DigestMismatch {
        /// The blob or layer concerned.
        what: String,
        /// The digest we were told.
        expected: Digest,
        /// The digest of the bytes we saw.
        found: Digest,
    },
    /// Content did not have the size its descriptor says.
    #[error("size mismatch for {what}: descriptor says {expected} bytes, found {found}")]
    SizeMismatch {
        /// The blob concerned.
        what: String,
        /// The size we were told.
        expected: u64,
        /// The size we saw (at least this many bytes).
        found: u64,
    },
    /// A string that should be a digest is not one.
    #[error("invalid digest {input:?}: {reason}")]
    InvalidDigest {
        /// The offending input.
        input: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A string that should be an image reference is not one.
    #[error("invalid image reference {input:?}: {reason}")]
    InvalidReference {
        /// The offending input.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// A string that should be a platform (`os/arch[/variant]`) is not one.
    #[error("invalid platform {input:?}: {reason}")]
    InvalidPlatform {
        /// The offending input.
        input: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A JSON document (manifest, index, config, `index.json`…) could not be parsed.
    #[error("malformed JSON in {what}: {source}")]
    Json {
        /// The document concerned.
        what: String,
        /// The parser's error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A document is well-formed JSON but not what the specification requires.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// The document or value concerned.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Input exceeded a configured limit (a JSON document, a decompressed layer…).
    #[error("{what} exceeds the limit of {limit} bytes{hint}")]
    TooLarge {
        /// What grew too large.
        what: String,
        /// The limit in bytes.
        limit: u64,
        /// How to raise the limit, if it can be raised.
        hint: &'static str,
    },
    /// A tar entry was refused because it could escape the image root or is otherwise unsafe.
    #[error("unsafe entry {path:?} in {layer}: {reason}")]
    UnsafeEntry {
        /// The layer holding the entry.
        layer: String,
        /// The entry's path as written in the archive.
        path: String,
        /// Why it was refused.
        reason: String,
    },
    /// A layer could not be read as a tar stream.
    #[error("corrupt {layer}: {source}")]
    CorruptLayer {
        /// The layer concerned, as messages name it (`layer sha256:… (0 of image sha256:…)`).
        layer: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Something that was asked for does not exist.
    #[error("{what} not found{hint}")]
    NotFound {
        /// What was looked for.
        what: String,
        /// What exists instead, or what to do.
        hint: String,
    },
    /// A media type that this operation cannot handle.
    #[error("unsupported media type {media_type} for {what}")]
    UnsupportedMediaType {
        /// The media type.
        media_type: String,
        /// Where it was found.
        what: String,
    },
    /// A registry refused a request or answered something we cannot accept.
    #[error("registry {registry}, repository {repository}: {what}: {message}{}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Registry {
        /// The registry host (`docker.io`, `localhost:5000`).
        registry: String,
        /// The repository.
        repository: String,
        /// What was being done (`pulling manifest 3.20`, `pushing blob sha256:…`).
        what: String,
        /// The HTTP status, when there was one.
        status: Option<u16>,
        /// What the registry or the connection said.
        message: String,
    },
    /// A registry wants credentials, or refused the ones it was given (HTTP 401, or a token
    /// service refusing an identity token).
    #[error("registry {registry}, repository {repository}: {what}: authentication failed ({detail})")]
    AuthenticationRequired {
        /// The registry host (`docker.io`, `localhost:5000`).
        registry: String,
        /// The repository.
        repository: String,
        /// What was being done.
        what: String,
        /// What the registry or its token service said.
        detail: String,
    },
    /// An index holds no image for the platform wanted.
    #[error(
        "{} not found in index {index}; it lists: {}",
        wanted.as_ref().map_or_else(|| format!("an image for this host ({})", Platform::host()), |p| format!("platform {p}")),
        list_platforms(available)
    )]
    PlatformNotFound {
        /// The index searched.
        index: Digest,
        /// The platform asked for; `None` when none was, and this host's was looked for.
        wanted: Option<Box<Platform>>,
        /// The platforms the index lists (entries without one are left out).
        available: Vec<Platform>,
    },
    /// A directory is not an OCI image layout.
    #[error("{} is not a valid OCI image layout: {reason}", path.display())]
    InvalidLayout {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl Error {
    /// Wraps an I/O error with what was being done, unwrapping an [`Error`] that a reader
    /// carried inside the `io::Error` (digest checks report through `io::Read`).
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        if source.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            let inner = source.into_inner().expect("checked above");
            return *inner.downcast::<Error>().expect("checked above");
        }
        Error::Io { context: context.into(), source }
    }

    /// The same error naming `what` as the content concerned, when it is a digest or size
    /// mismatch or a limit exceeded (a low-level check knows the bytes, its caller what
    /// they are); any other error unchanged.
    pub fn naming(self, what: impl FnOnce() -> String) -> Self {
        match self {
            Error::DigestMismatch { expected, found, .. } => Error::DigestMismatch { what: what(), expected, found },
            Error::SizeMismatch { expected, found, .. } => Error::SizeMismatch { what: what(), expected, found },
            Error::TooLarge { limit, hint, .. } => Error::TooLarge { what: what(), limit, hint },
            other => other,
        }
    }

    /// Wraps this error into an `io::Error`, to travel through `io::Read`/`io::Write`.
    pub fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }
}

/// Adds context to `io::Result`s.
pub(crate) trait IoContext<T> {
    /// Wraps the error with a description of what was being done.
    fn context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(context(), e))
    }
}

fn list_platforms(platforms: &[Platform]) -> String {
    if platforms.is_empty() {
        return "no platforms".into();
    }
    platforms.iter().map(Platform::to_string).collect::<Vec<_>>().join(", ")
}
