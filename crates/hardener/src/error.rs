//! The one error type of `hardener`.

use std::path::PathBuf;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `hardener`. Each variant says what failed and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the image failed.
    #[error(transparent)]
    Image(#[from] oci_core::Error),
    /// A version string is not valid for its scheme.
    #[error("invalid {scheme} version {input:?}: {reason}")]
    InvalidVersion {
        /// `dpkg` or `apk`.
        scheme: &'static str,
        /// The offending input.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// A package database in the image could not be parsed.
    #[error("package database {path}: {reason}")]
    PackageDb {
        /// The database file in the image (`/var/lib/dpkg/status`).
        path: String,
        /// What is wrong, with the line number where there is one.
        reason: String,
    },
    /// An advisory source could not be read or parsed.
    #[error("advisory source {source_name}: {reason}")]
    Advisory {
        /// The file, URL or record concerned.
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// Downloading an advisory source failed (connection, HTTP status, or a build without
    /// the `download` feature).
    #[error("downloading {url}: {reason}")]
    Download {
        /// The URL.
        url: String,
        /// What went wrong (`HTTP 404 Not Found`, the connection error…).
        reason: String,
    },
    /// A package repository or package file was refused or could not be read: a bad or
    /// missing signature, an unknown key, an expired Release, a hash or size mismatch, an
    /// unsafe `.deb` entry…
    #[error(transparent)]
    Apt(#[from] crate::AptError),
    /// An apk repository, package or database was refused or could not be read: an unknown
    /// key, a bad signature, a checksum mismatch, an unsafe entry…
    #[error(transparent)]
    Apk(#[from] crate::ApkError),
    /// A rule set file is invalid: unknown kind or key, wrong type, unsafe path…
    #[error("invalid rule set {source_name}{}{}: {reason}", line.map(|l| format!(" line {l}")).unwrap_or_default(), rule.as_ref().map(|r| format!(" (rule {r:?})")).unwrap_or_default())]
    RuleSet {
        /// The file (or `builtin:NAME`).
        source_name: String,
        /// The 1-based line, when known.
        line: Option<usize>,
        /// The rule id, when known.
        rule: Option<String>,
        /// What is wrong, and the fix when there is an obvious one (`did you mean …`).
        reason: String,
    },
    /// A `fix` rule refused to act on this image (a uid already taken, an entrypoint that
    /// needs the shell it would remove…): nothing was written.
    #[error("rule {rule:?} refused to fix image {image}: {message}")]
    RuleRefused {
        /// The rule id.
        rule: String,
        /// The image's manifest digest.
        image: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A maintainer script or trigger of a package to upgrade would have to run and is not
    /// known to be harmless: the upgrade was refused and nothing was written.
    #[error("package {package}: the {script} is not run, and its effect is unknown ({reason})")]
    ScriptRefused {
        /// The package.
        package: String,
        /// Which script (`new postinst`, `old prerm`, `activate-noawait foo trigger`).
        script: String,
        /// Why it is not known to be harmless.
        reason: String,
    },
    /// A local file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// There is no advisory database in this directory (it was never updated, or another
    /// directory was meant).
    #[error("no advisory database in {}", path.display())]
    MissingDatabase {
        /// The directory.
        path: PathBuf,
    },
    /// The advisory database directory holds a database that cannot be used (truncated,
    /// modified, or of another format version): updating it again rebuilds it.
    #[error("advisory database {}: {reason}", path.display())]
    Database {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The image names no apt sources (a distroless image, say): repositories and their keys
    /// must be given.
    #[error("the image names no apt sources: the repositories and the keys to trust must be given")]
    NoAptSources,
    /// The Alpine image names no apk repositories (or only tagged ones): repositories and
    /// the keys to trust must be given.
    #[error("the image names no apk repositories: the repositories and the keys to trust must be given")]
    NoApkRepositories,
    /// An apk repository given for the upgrade is of another Alpine branch than the image:
    /// upgrades stay on the image's branch.
    #[error("apk repository {url} is for {branch} and the image is {image}: upgrades stay on the image's branch")]
    ApkBranch {
        /// The repository URL.
        url: String,
        /// The branch its URL names (`v3.21`, `edge`).
        branch: String,
        /// The image's branch (`v3.20`).
        image: String,
    },
    /// A batch file is not valid.
    #[error("invalid batch file {source_name}{}: {reason}", job.map(|j| format!(" (job {j})")).unwrap_or_default())]
    InvalidBatch {
        /// The file's name.
        source_name: String,
        /// The `[[image]]` (from 1), when the problem is in one.
        job: Option<usize>,
        /// What is wrong.
        reason: String,
    },
    /// A package upgrade cannot be resolved without removing or downgrading something.
    #[error("cannot resolve the upgrade: {reason}")]
    Resolution {
        /// The chain of dependencies that leads there.
        reason: String,
    },
}

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }

    /// [`Error::Download`] for `url`, with the whole cause chain of `error` as the reason.
    #[cfg(feature = "download")]
    pub(crate) fn download(url: &str, error: &dyn std::error::Error) -> Error {
        let mut reason = error.to_string();
        let mut cause = error.source();
        while let Some(c) = cause {
            reason.push_str(": ");
            reason.push_str(&c.to_string());
            cause = c.source();
        }
        Error::Download { url: url.to_owned(), reason }
    }
}
