//! Finding the credential for a registry across the files podman and docker read.

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::GeneralPurpose;
use base64::engine::{DecodePaddingMode, GeneralPurposeConfig};
use serde_json::Value;

use super::helpers::Setting;
use super::{Credential, DockerConfig, auth_files, canonical_host, parse_key, server_url};
use crate::{Error, ImageName, Result};

/// Go's `StdEncoding` wants padding; other writers drop it. Accept both.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Where credentials are looked up, in order; the first file that yields one wins.
///
/// [`CredentialStore::from_env`] reads what podman (containers/image) and docker read:
///
/// 1. `$REGISTRY_AUTH_FILE` if set, else `$XDG_RUNTIME_DIR/containers/auth.json`;
/// 2. `$XDG_CONFIG_HOME/containers/auth.json` (default `~/.config/containers/auth.json`);
/// 3. `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
///
/// Missing files are skipped. Within one file, a `credHelpers` helper for the registry
/// is asked first; then the `auths` entry (the most specific `host/namespace` key for
/// [`lookup_image`](Self::lookup_image), then the host in any of its spellings); then the
/// `credsStore` helper. A helper that answers "credentials not found" sends the search
/// on to the next file.
///
/// ```
/// # fn main() -> oci_core::Result<()> {
/// use oci_core::{Credential, CredentialStore};
/// let dir = tempfile::tempdir().unwrap();
/// let file = dir.path().join("config.json");
/// // base64("alice:secret")
/// std::fs::write(&file, r#"{"auths": {"https://ghcr.io/v2/": {"auth": "YWxpY2U6c2VjcmV0"}}}"#).unwrap();
/// let store = CredentialStore::with_files(vec![dir.path().join("missing.json"), file]);
/// let Some(Credential::Basic { username, .. }) = store.lookup("ghcr.io")? else { panic!() };
/// assert_eq!(username, "alice");
/// assert_eq!(store.lookup("quay.io")?, None);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct CredentialStore {
    files: Vec<PathBuf>,
    /// Where to look for helpers; `None` means `$PATH` at the time of the lookup.
    helper_dirs: Option<Vec<PathBuf>>,
}

impl CredentialStore {
    /// The files podman and docker read, from the process environment (see the type's
    /// documentation for the order).
    pub fn from_env() -> CredentialStore {
        CredentialStore::with_files(auth_files(&|name| std::env::var_os(name), std::env::home_dir()))
    }

    /// Reads exactly `files`, in this order.
    pub fn with_files(files: Vec<PathBuf>) -> CredentialStore {
        CredentialStore { files, helper_dirs: None }
    }

    /// Looks for `docker-credential-*` helpers in `dirs` instead of `$PATH`.
    pub fn with_helper_path(mut self, dirs: Vec<PathBuf>) -> CredentialStore {
        self.helper_dirs = Some(dirs);
        self
    }

    /// The files searched, in order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The credential for `registry`, or `None` to go anonymous.
    ///
    /// `registry` is a host with an optional port, as [`ImageName::registry`] gives it
    /// (`docker.io`, `localhost:5000`); Docker Hub's other names (`index.docker.io`,
    /// `registry-1.docker.io`, `https://index.docker.io/v1/`) mean the same registry. A
    /// `host/namespace` is looked up as a containers `auth.json` key.
    ///
    /// # Errors
    ///
    /// A file that cannot be read or parsed, an entry whose `auth` is not base64 of
    /// `user:password`, or a helper that is missing or fails for another reason than
    /// "credentials not found".
    pub fn lookup(&self, registry: &str) -> Result<Option<Credential>> {
        let (host, namespace) = parse_key(registry);
        self.find(host, namespace)
    }

    /// The credential for an image: like [`lookup`](Self::lookup), but `auths` keys naming
    /// a namespace of the image's repository (`quay.io/org`, as podman writes them) are
    /// tried first, most specific first.
    pub fn lookup_image(&self, name: &ImageName) -> Result<Option<Credential>> {
        self.find(canonical_host(name.registry()), Some(name.repository()))
    }

    fn find(&self, host: &str, repository: Option<&str>) -> Result<Option<Credential>> {
        for file in &self.files {
            let config = DockerConfig::load(file)?;
            if let Some(credential) = config.lookup(host, repository, self.helper_dirs.as_deref())? {
                return Ok(Some(credential));
            }
        }
        Ok(None)
    }
}

impl DockerConfig {
    /// The credential written in this file's `auths` entry for `registry`, without asking
    /// any helper; `None` if there is no entry or it holds no credential (`{}`).
    ///
    /// # Errors
    ///
    /// An entry whose fields are not strings, or whose `auth` is not base64 of
    /// `user:password`.
    pub fn credential(&self, registry: &str) -> Result<Option<Credential>> {
        let (host, namespace) = parse_key(registry);
        match self.find_entry(host, namespace) {
            Some((key, entry)) => self.entry_credential(key, entry),
            None => Ok(None),
        }
    }

    /// This file's credential for `host` (canonical): its `credHelpers` helper, its
    /// `auths` entry, then its `credsStore` helper.
    pub(super) fn lookup(
        &self,
        host: &str,
        repository: Option<&str>,
        helper_dirs: Option<&[PathBuf]>,
    ) -> Result<Option<Credential>> {
        let helper = self.helper_for(host);
        if let Some(helper) = helper.as_ref().filter(|h| h.setting == Setting::CredHelpers) {
            return helper.get(helper_dirs, host);
        }
        if let Some((key, entry)) = self.find_entry(host, repository)
            && let Some(credential) = self.entry_credential(key, entry)?
        {
            return Ok(Some(credential));
        }
        match helper {
            Some(helper) => helper.get(helper_dirs, host),
            None => Ok(None),
        }
    }

    /// The `auths` entry for `host` and the most specific namespace of `repository` that
    /// has one: exact spellings first, then any key that normalises to the same.
    pub(super) fn find_entry(&self, host: &str, repository: Option<&str>) -> Option<(&str, &Value)> {
        let auths = self.root.get("auths")?.as_object()?;
        let namespaces = std::iter::successors(repository.filter(|r| !r.is_empty()), |ns| {
            ns.rsplit_once('/').map(|(parent, _)| parent)
        });
        for namespace in namespaces.map(Some).chain([None]) {
            let exact = match namespace {
                Some(ns) => vec![format!("{host}/{ns}")],
                None => vec![host.to_owned(), server_url(host).to_owned()],
            };
            let found = exact
                .iter()
                .find_map(|key| auths.get_key_value(key.as_str()))
                .or_else(|| auths.iter().find(|(key, _)| parse_key(key) == (host, namespace)));
            if let Some((key, entry)) = found {
                return Some((key, entry));
            }
        }
        None
    }

    pub(super) fn entry_credential(&self, key: &str, entry: &Value) -> Result<Option<Credential>> {
        let Some(entry) = entry.as_object() else { return Ok(None) };
        let invalid = |reason: &str| Error::Invalid {
            what: format!("auths entry {key:?} in {}", self.path.display()),
            reason: reason.to_owned(),
        };
        let field = |name: &str| match entry.get(name) {
            None | Some(Value::Null) => Ok(""),
            Some(Value::String(s)) => Ok(s.as_str()),
            Some(_) => Err(invalid(&format!("`{name}` is not a string"))),
        };
        let token = field("identitytoken")?;
        if !token.is_empty() {
            return Ok(Some(Credential::IdentityToken(token.to_owned())));
        }
        let auth = field("auth")?;
        if !auth.is_empty() {
            // Never show the decoder's error: it quotes the offending byte.
            let decoded = BASE64_LENIENT.decode(auth.trim()).map_err(|_| invalid("`auth` is not valid base64"))?;
            let decoded = String::from_utf8(decoded).map_err(|_| invalid("`auth` is not base64 of UTF-8 text"))?;
            let Some((username, password)) = decoded.split_once(':') else {
                return Err(invalid("`auth` is not base64 of `username:password` (no colon)"));
            };
            if username.is_empty() {
                return Err(invalid("`auth` has an empty username"));
            }
            let password = password.trim_matches('\0');
            return Ok(Some(Credential::Basic { username: username.to_owned(), password: password.to_owned() }));
        }
        let (username, password) = (field("username")?, field("password")?);
        if username.is_empty() || password.is_empty() {
            return Ok(None);
        }
        Ok(Some(Credential::Basic { username: username.to_owned(), password: password.to_owned() }))
    }
}
