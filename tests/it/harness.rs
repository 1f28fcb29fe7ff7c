//! Helpers shared by the integration tests: the `oci-harden` binary and peer tools, fixture
//! paths and digests here; comparable filesystem trees (from a tar or from a directory) in
//! [`tree`]; tar layers with arbitrary (even hostile) entries and hand-written OCI layouts
//! in [`layers`]; real multi-layer images built with umoci in [`umoci`]; a real registry
//! (plain, htpasswd or token auth), a fault-injecting proxy and an isolated user
//! environment for registry tests in [`registry`]; signed apt repositories, images whose
//! dpkg database dpkg wrote, and dpkg/apt as judges in [`apt_repo`].

pub mod apk_repo;
pub mod apt_repo;
mod layers;
mod registry;
mod tree;
mod umoci;

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

pub use apt_repo::{
    AptClient, AptRepo, Compression, Deb, IMAGE_KEYRING, KeyAlgo, NEW_SUITE, OLD_SUITE, Os, SCRIPT_LOG, SigningKey,
    SourcesStyle, Suite, USER_CONF_EDITED, Variant, apt_policy, dpkg_audit, dpkg_image, dpkg_query_status,
    dpkg_query_versions, dpkg_verify, escaping_deb, standard_distroless, standard_fixture, standard_repo, unpack,
};
pub use layers::{Desc, RawLayout, TarLayer};
pub use registry::{
    Auth, FOREVER, Fault, FaultPlan, FaultProxy, Home, On, Registry, Route, Traffic, basic_credentials, skopeo_digest,
    skopeo_push,
};
pub use tree::{Kind, Tree, assert_same_tree, export_tree, ls_long_paths, tree_from_tar, tree_mismatch, umoci_tree};
pub use umoci::{umoci_image, umoci_upgrade_image};

// ---------------------------------------------------------------------------------------
// Paths

/// The repository root (the workspace package's directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path under `tests/fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    let p = repo_root().join("tests/fixtures").join(rel);
    assert!(p.exists(), "fixture {} is missing (see tests/fixtures/README.md)", p.display());
    p
}

/// The shipped example layout (`examples/alpine`, tag `3.20`).
pub fn example_layout() -> PathBuf {
    repo_root().join("examples/alpine")
}

/// The Alpine 3.20 minirootfs tarball.
pub fn alpine_320() -> PathBuf {
    fixture("images/alpine-minirootfs-3.20.3-x86_64.tar.gz")
}

/// The Alpine 3.19 minirootfs tarball.
pub fn alpine_319() -> PathBuf {
    fixture("images/alpine-minirootfs-3.19.4-x86_64.tar.gz")
}

/// `oci:DIR:TAG` (or `oci:DIR` without a tag).
pub fn oci_ref(dir: &Path, tag: Option<&str>) -> String {
    match tag {
        Some(t) => format!("oci:{}:{t}", dir.display()),
        None => format!("oci:{}", dir.display()),
    }
}

/// A fresh temporary directory, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("oci-harden-it-").tempdir().expect("creating a temporary directory")
}

// ---------------------------------------------------------------------------------------
// Running programs

/// The `oci-harden` binary Cargo built for this test run from the sources under test (the
/// root package owns it, so Cargo builds it before the tests and names it here).
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_oci-harden"))
}

/// What a finished process left.
#[derive(Debug)]
pub struct Run {
    /// What was run, for messages.
    pub command: String,
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output, raw.
    pub stdout: Vec<u8>,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Run {
    /// Standard output as text (panics if it is not UTF-8).
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.stdout).unwrap_or_else(|_| panic!("{}: stdout is not UTF-8", self.command))
    }

    /// Standard output parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("{}: stdout is not JSON ({e}):\n{}", self.command, self.text()))
    }

    /// Panics, showing everything, unless the process exited with 0.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, Some(0), "{} failed:\n{}", self.command, self.describe());
        self
    }

    /// Panics unless the process exited with 2 (the CLI's error code) and stderr contains
    /// every one of `needles`; returns stderr.
    #[track_caller]
    pub fn fails_with(self, needles: &[&str]) -> String {
        assert_eq!(self.code, Some(2), "{}: expected exit code 2:\n{}", self.command, self.describe());
        for n in needles {
            assert!(self.stderr.contains(n), "{}: stderr lacks {n:?}:\n{}", self.command, self.stderr);
        }
        self.stderr
    }

    /// Exit code, stderr and the start of stdout, for failure messages.
    pub fn describe(&self) -> String {
        let out = String::from_utf8_lossy(&self.stdout);
        let out: String = out.chars().take(4000).collect();
        format!("exit code: {:?}\n--- stderr\n{}\n--- stdout\n{out}", self.code, self.stderr)
    }
}

fn run(program: &Path, name: &str, args: &[&OsStr]) -> Run {
    let command = std::iter::once(name.to_owned())
        .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("cannot run {command}: {e}"));
    Run {
        command,
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `oci-harden ARGS`.
pub fn oci_harden<S: AsRef<OsStr>>(args: &[S]) -> Run {
    let args: Vec<&OsStr> = args.iter().map(AsRef::as_ref).collect();
    run(&bin(), "oci-harden", &args)
}

/// Finds `name` on `PATH`, or panics: CI installs the peers the tests compare against, so
/// a missing one is a failure, not a reason to skip.
pub fn require_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed (or not on PATH); these tests compare against it. \
                 Install it (Debian: apt-get install umoci skopeo), as .ci/run.sh does."
            )
        })
}

/// Runs a peer tool (which must be installed).
pub fn tool<S: AsRef<OsStr>>(name: &str, args: &[S]) -> Run {
    let program = require_tool(name);
    let args: Vec<&OsStr> = args.iter().map(AsRef::as_ref).collect();
    run(&program, name, &args)
}

/// Panics unless the tests run as root: building images whose files belong to other
/// users (`chown`) and unpacking them with their owners needs it, as in CI.
pub fn require_root() {
    let euid = fs::metadata("/proc/self").map(|m| m.uid()).expect("reading /proc/self");
    assert_eq!(euid, 0, "this test builds images with files owned by other users and must run as root (as CI does)");
}

// ---------------------------------------------------------------------------------------
// Digests and JSON

/// Lower-case hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `sha256:<hex>`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

pub(crate) fn sha256_reader(mut r: impl Read) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(hex::encode(h.finalize()));
        }
        h.update(&buf[..n]);
    }
}

/// The path of a blob in a layout.
pub fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    let (alg, hex) = digest.split_once(':').unwrap_or_else(|| panic!("not a digest: {digest}"));
    layout.join("blobs").join(alg).join(hex)
}

/// Parses a JSON file.
pub fn read_json(path: &Path) -> Value {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The descriptor `index.json` of `layout` gives `tag`.
pub fn tagged(layout: &Path, tag: &str) -> Value {
    let index = read_json(&layout.join("index.json"));
    index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .cloned()
        .unwrap_or_else(|| panic!("no tag {tag} in {}/index.json", layout.display()))
}

/// The blob `digest` of `layout`, parsed as JSON.
pub fn blob_json(layout: &Path, digest: &str) -> Value {
    read_json(&blob_path(layout, digest))
}
