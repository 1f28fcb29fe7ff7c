//! Registry credentials, found where docker, podman and crane find them.
//!
//! Every file involved has docker's `config.json` shape (a containers `auth.json` is the
//! same `auths` map): [`CredentialStore`] reads them in order, runs the
//! `docker-credential-*` helper a file names, and returns the first credential found.
//! [`login`] and [`logout`] edit a docker `config.json` atomically through
//! [`DockerConfig`], keeping every key they do not know.
//!
//! # Secrets
//!
//! Passwords and tokens never reach `Debug` output or error messages: errors name the
//! file, the registry and the helper, never a value read from an entry. Helpers get
//! secrets on stdin, never on their command line, and a helper's failure message is
//! shown with the secret it was given blanked out.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::IoContext;
use crate::{DOCKER_HUB, Error, ImageName, Result};

/// The `auths` key and helper server URL docker uses for Docker Hub.
const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";
/// Helpers are programs named `docker-credential-<name>`.
const HELPER_PREFIX: &str = "docker-credential-";
/// The username a helper returns when its secret is an identity token.
const TOKEN_USERNAME: &str = "<token>";
/// Go's `StdEncoding` wants padding; other writers drop it. Accept both.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A credential for one registry.
///
/// `Debug` shows the username but never the password or token.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A username and password (or personal access token), for basic authentication or
    /// the registry's token endpoint.
    Basic {
        /// The username.
        username: String,
        /// The password.
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken` in `config.json`), exchanged at the
    /// registry's token endpoint for an access token.
    IdentityToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => {
                f.debug_struct("Basic").field("username", username).field("password", &"<redacted>").finish()
            }
            Credential::IdentityToken(_) => f.debug_tuple("IdentityToken").field(&"<redacted>").finish(),
        }
    }
}

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

/// The docker configuration file: `$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`.
pub fn default_docker_config_path() -> PathBuf {
    docker_config_path(&|name| std::env::var_os(name), std::env::home_dir())
        .unwrap_or_else(|| PathBuf::from(".docker/config.json"))
}

/// Stores a credential for `registry` in the docker configuration file `config_path`, as
/// `docker login` does.
///
/// If the file names a helper for the registry (`credHelpers`, else `credsStore`), the
/// helper stores it (`docker-credential-<name> store`) and the file gets an empty entry;
/// otherwise the entry's `auth` is base64 of `username:password`. Docker Hub's entry is
/// keyed `https://index.docker.io/v1/`, other registries by host; other spellings of the
/// same registry are dropped. The file is replaced atomically with mode 0600 (its
/// directory is created with mode 0700), keeping every other key.
///
/// # Errors
///
/// An empty username or password, a username with a colon, a file that cannot be parsed
/// or written, or a helper that fails.
pub fn login(config_path: &Path, registry: &str, username: &str, password: &str) -> Result<()> {
    login_with(config_path, registry, username, password, None)
}

/// Removes the credential for `registry` from the docker configuration file
/// `config_path` and from the helper that holds it (`docker-credential-<name> erase`), as
/// `docker logout` does. Returns whether anything was removed.
///
/// # Errors
///
/// A file that cannot be parsed or written, or a helper that fails for another reason
/// than "credentials not found".
pub fn logout(config_path: &Path, registry: &str) -> Result<bool> {
    logout_with(config_path, registry, None)
}

fn login_with(
    config_path: &Path,
    registry: &str,
    username: &str,
    password: &str,
    helper_dirs: Option<&[PathBuf]>,
) -> Result<()> {
    let host = registry_host(registry)?;
    check_login(host, username, password)?;
    let mut config = DockerConfig::load(config_path)?;
    match config.helper_for(host) {
        Some(helper) => {
            let input = serde_json::json!({"ServerURL": server_url(host), "Username": username, "Secret": password});
            if helper.run(helper_dirs, "store", host, input.to_string().as_bytes(), Some(password))?.is_none() {
                return Err(helper.failure("store", host, "it answered \"credentials not found\""));
            }
            // As docker does: the entry says a login exists; the helper holds the secret.
            config.set_entry(host, Map::new());
        }
        None => config.set_credential(host, username, password)?,
    }
    config.save()
}

fn logout_with(config_path: &Path, registry: &str, helper_dirs: Option<&[PathBuf]>) -> Result<bool> {
    let host = registry_host(registry)?;
    let mut config = DockerConfig::load(config_path)?;
    let mut removed = false;
    if let Some(helper) = config.helper_for(host) {
        removed = helper.run(helper_dirs, "erase", host, server_url(host).as_bytes(), None)?.is_some();
    }
    if config.remove_credential(host) {
        config.save()?;
        removed = true;
    }
    Ok(removed)
}

/// A docker `config.json` (or containers `auth.json`), kept as parsed JSON so that a
/// rewrite preserves every key, in order, that this crate does not interpret.
///
/// `Debug` shows the path only.
pub struct DockerConfig {
    path: PathBuf,
    root: Map<String, Value>,
}

impl fmt::Debug for DockerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerConfig").field("path", &self.path).finish_non_exhaustive()
    }
}

impl DockerConfig {
    /// Reads `path`; a missing file is an empty configuration, which
    /// [`save`](Self::save) creates.
    pub fn load(path: impl AsRef<Path>) -> Result<DockerConfig> {
        let path = path.as_ref();
        match fs::read_to_string(path) {
            Ok(json) => DockerConfig::parse(path, &json),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(DockerConfig { path: path.into(), root: Map::new() }),
            Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
        }
    }

    /// Parses `json` as the contents of `path`, which errors name and
    /// [`save`](Self::save) writes. An empty document is an empty configuration.
    pub fn parse(path: impl Into<PathBuf>, json: &str) -> Result<DockerConfig> {
        let path = path.into();
        let root = if json.trim().is_empty() {
            Map::new()
        } else {
            // Parsed as a `Value` and checked by hand: serde's type errors quote the
            // offending value, which may be a secret.
            match serde_json::from_str(json) {
                Ok(Value::Object(root)) => root,
                Ok(_) => return Err(invalid_file(&path, "not a JSON object")),
                Err(source) => return Err(Error::Json { what: path.display().to_string(), source }),
            }
        };
        let config = DockerConfig { path, root };
        config.validate()?;
        Ok(config)
    }

    /// The file this configuration was read from, and is saved to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The default helper (`credsStore`), if any.
    pub fn creds_store(&self) -> Option<&str> {
        self.root.get("credsStore").and_then(Value::as_str).filter(|name| !name.is_empty())
    }

    /// The helper configured for `registry` in `credHelpers`, if any. (An empty name
    /// there means "no helper, not even `credsStore`" and gives `None` here.)
    pub fn cred_helper(&self, registry: &str) -> Option<&str> {
        self.cred_helper_entry(parse_key(registry).0).filter(|name| !name.is_empty())
    }

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

    /// Writes `username:password` into the `auths` entry for `registry` (keyed as docker
    /// keys it), replacing other spellings of the same registry.
    ///
    /// # Errors
    ///
    /// An empty username or password, or a username with a colon.
    pub fn set_credential(&mut self, registry: &str, username: &str, password: &str) -> Result<()> {
        let host = registry_host(registry)?;
        check_login(host, username, password)?;
        let auth = general_purpose::STANDARD.encode(format!("{username}:{password}"));
        self.set_entry(host, Map::from_iter([("auth".to_owned(), Value::String(auth))]));
        Ok(())
    }

    /// Removes every `auths` entry for `registry` (in any spelling; `host/namespace`
    /// entries stay). Returns whether there was one.
    pub fn remove_credential(&mut self, registry: &str) -> bool {
        let host = parse_key(registry).0;
        let Some(auths) = self.root.get_mut("auths").and_then(Value::as_object_mut) else { return false };
        let before = auths.len();
        auths.retain(|key, _| parse_key(key) != (host, None));
        auths.len() != before
    }

    /// Writes the configuration to its file atomically (a temporary file in the same
    /// directory, renamed over it) with mode 0600, creating the directory with mode 0700.
    /// A symlinked file is replaced at its target, as docker does.
    pub fn save(&self) -> Result<()> {
        let target = fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .context(|| format!("creating {}", dir.display()))?;

        let mut json = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        self.root
            .serialize(&mut serde_json::Serializer::with_formatter(&mut json, formatter))
            .map_err(|source| Error::Json { what: target.display().to_string(), source })?;
        json.push(b'\n');

        let name = target.file_name().map_or_else(|| "config.json".into(), |n| n.to_string_lossy());
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .permissions(fs::Permissions::from_mode(0o600))
            .tempfile_in(dir)
            .context(|| format!("creating a temporary file in {}", dir.display()))?;
        tmp.write_all(&json).context(|| format!("writing {}", target.display()))?;
        tmp.as_file().sync_all().context(|| format!("writing {}", target.display()))?;
        tmp.persist(&target).map_err(|e| Error::io(format!("replacing {}", target.display()), e.error))?;
        Ok(())
    }

    /// Checks the shape of the keys this module reads, so that later lookups only fail
    /// on the entry concerned.
    fn validate(&self) -> Result<()> {
        match self.root.get("auths") {
            None | Some(Value::Null) => {}
            Some(Value::Object(auths)) => {
                if let Some((key, _)) = auths.iter().find(|(_, v)| !v.is_object() && !v.is_null()) {
                    return Err(invalid_file(&self.path, &format!("auths entry {key:?} is not an object")));
                }
            }
            Some(_) => return Err(invalid_file(&self.path, "`auths` is not an object")),
        }
        match self.root.get("credHelpers") {
            None | Some(Value::Null) => {}
            Some(Value::Object(helpers)) => {
                if let Some((key, _)) = helpers.iter().find(|(_, v)| !v.is_string()) {
                    return Err(invalid_file(&self.path, &format!("credHelpers entry {key:?} is not a string")));
                }
            }
            Some(_) => return Err(invalid_file(&self.path, "`credHelpers` is not an object")),
        }
        match self.root.get("credsStore") {
            None | Some(Value::Null | Value::String(_)) => Ok(()),
            Some(_) => Err(invalid_file(&self.path, "`credsStore` is not a string")),
        }
    }

    /// This file's credential for `host` (canonical): its `credHelpers` helper, its
    /// `auths` entry, then its `credsStore` helper.
    fn lookup(
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

    fn cred_helper_entry(&self, host: &str) -> Option<&str> {
        let helpers = self.root.get("credHelpers")?.as_object()?;
        let value = helpers
            .get(server_url(host))
            .or_else(|| helpers.get(host))
            .or_else(|| helpers.iter().find(|(key, _)| parse_key(key) == (host, None)).map(|(_, value)| value))?;
        value.as_str()
    }

    /// The helper that holds `host`'s credential: its `credHelpers` entry, else `credsStore`.
    fn helper_for(&self, host: &str) -> Option<Helper<'_>> {
        let (name, setting) = match self.cred_helper_entry(host) {
            Some(name) => (name, Setting::CredHelpers),
            None => (self.creds_store()?, Setting::CredsStore),
        };
        (!name.is_empty()).then_some(Helper { name, setting, file: &self.path })
    }

    /// The `auths` entry for `host` and the most specific namespace of `repository` that
    /// has one: exact spellings first, then any key that normalises to the same.
    fn find_entry(&self, host: &str, repository: Option<&str>) -> Option<(&str, &Value)> {
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

    fn entry_credential(&self, key: &str, entry: &Value) -> Result<Option<Credential>> {
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

    /// Sets `host`'s entry under docker's key for it, dropping other spellings of the same
    /// registry (which would shadow or contradict it). An existing entry keeps its place.
    fn set_entry(&mut self, host: &str, entry: Map<String, Value>) {
        let key = server_url(host);
        let auths = match self.root.get("auths") {
            Some(Value::Object(_)) => self.root.get_mut("auths").and_then(Value::as_object_mut),
            _ => {
                self.root.insert("auths".to_owned(), Value::Object(Map::new()));
                self.root.get_mut("auths").and_then(Value::as_object_mut)
            }
        }
        .expect("`auths` is an object");
        auths.retain(|k, _| k == key || parse_key(k) != (host, None));
        auths.insert(key.to_owned(), Value::Object(entry));
    }
}

/// Which setting named a helper, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setting {
    CredHelpers,
    CredsStore,
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Setting::CredHelpers => "credHelpers",
            Setting::CredsStore => "credsStore",
        })
    }
}

/// A `docker-credential-<name>` program named by a configuration file.
struct Helper<'a> {
    name: &'a str,
    setting: Setting,
    file: &'a Path,
}

impl Helper<'_> {
    fn program(&self) -> String {
        format!("{HELPER_PREFIX}{}", self.name)
    }

    /// Asks the helper for `host`'s credential (`get`, the server URL on stdin, JSON
    /// `{"ServerURL","Username","Secret"}` on stdout).
    fn get(&self, helper_dirs: Option<&[PathBuf]>, host: &str) -> Result<Option<Credential>> {
        let Some(stdout) = self.run(helper_dirs, "get", host, server_url(host).as_bytes(), None)? else {
            return Ok(None);
        };
        let what = || format!("the output of {} get for {host}", self.program());
        // A `Value`, checked by hand: serde's type errors would quote the secret.
        let reply: Value = serde_json::from_slice(&stdout).map_err(|source| Error::Json { what: what(), source })?;
        let field = |name: &str| match reply.get(name) {
            None | Some(Value::Null) => Ok(""),
            Some(Value::String(s)) => Ok(s.as_str()),
            Some(_) => Err(Error::Invalid { what: what(), reason: format!("`{name}` is not a string") }),
        };
        if !reply.is_object() {
            return Err(Error::Invalid { what: what(), reason: "not a JSON object".into() });
        }
        Ok(match (field("Username")?, field("Secret")?) {
            (_, "") => None,
            (TOKEN_USERNAME, token) => Some(Credential::IdentityToken(token.to_owned())),
            (username, password) => {
                Some(Credential::Basic { username: username.to_owned(), password: password.to_owned() })
            }
        })
    }

    /// Runs `docker-credential-<name> <action>` with `input` on stdin. Returns its stdout,
    /// or `None` if it answered "credentials not found". `secret` is blanked out of any
    /// failure message.
    fn run(
        &self,
        helper_dirs: Option<&[PathBuf]>,
        action: &str,
        host: &str,
        input: &[u8],
        secret: Option<&str>,
    ) -> Result<Option<Vec<u8>>> {
        let program = self.program();
        let valid_name = self.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !valid_name || self.name.starts_with('.') {
            return Err(Error::Invalid {
                what: format!("{} in {}", self.setting, self.file.display()),
                reason: format!("{:?} is not a credential helper name", self.name),
            });
        }
        let not_found = || Error::NotFound {
            what: format!("credential helper {program}"),
            hint: format!(
                " on the PATH (named by {} in {}): install it, or remove the setting",
                self.setting,
                self.file.display()
            ),
        };
        let path = find_program(&program, helper_dirs).ok_or_else(not_found)?;
        let context = || format!("running {program} {action} for {host}");
        let mut child = match spawn(Command::new(&path).arg(action)) {
            Ok(child) => child,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(not_found()),
            Err(e) => return Err(Error::io(context(), e)),
        };
        // The input is a URL or a small JSON document: it fits in the pipe, so writing it
        // all before reading the output cannot deadlock. A helper may exit unread.
        let mut stdin = child.stdin.take().expect("stdin is piped");
        match stdin.write_all(input) {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => return Err(Error::io(context(), e)),
            _ => drop(stdin),
        }
        let output = child.wait_with_output().context(context)?;
        if output.status.success() {
            return Ok(Some(output.stdout));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if [&stdout, &stderr].iter().any(|s| s.to_ascii_lowercase().contains("credentials not found")) {
            return Ok(None);
        }
        let mut message = if stdout.trim().is_empty() { stderr.trim() } else { stdout.trim() }.to_owned();
        if let Some(secret) = secret.filter(|s| !s.is_empty()) {
            // As given, and as it appears inside the JSON the helper may echo back.
            let quoted = Value::String(secret.to_owned()).to_string();
            message = message.replace(secret, "<redacted>").replace(&quoted[1..quoted.len() - 1], "<redacted>");
        }
        if let Some((cut, _)) = message.char_indices().nth(300) {
            message.truncate(cut);
            message.push('…');
        }
        let detail =
            if message.is_empty() { output.status.to_string() } else { format!("{}: {message}", output.status) };
        Err(self.failure(action, host, &detail))
    }

    fn failure(&self, action: &str, host: &str, detail: &str) -> Error {
        Error::io(
            format!(
                "running {} {action} for {host} (named by {} in {})",
                self.program(),
                self.setting,
                self.file.display()
            ),
            io::Error::other(detail.to_owned()),
        )
    }
}

/// Spawns with piped standard streams, retrying briefly while the program is busy being
/// written (`ETXTBSY`: another thread forked while it had the file open for writing).
fn spawn(command: &mut Command) -> io::Result<std::process::Child> {
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut attempt = 0;
    loop {
        match command.spawn() {
            Err(e) if e.kind() == io::ErrorKind::ExecutableFileBusy && attempt < 10 => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(10 * attempt));
            }
            result => return result,
        }
    }
}

/// The first executable file named `program` in `dirs`, else in `$PATH` (absolute entries
/// only: an empty or relative entry would run a program from the current directory).
fn find_program(program: &str, dirs: Option<&[PathBuf]>) -> Option<PathBuf> {
    let path_dirs: Vec<PathBuf>;
    let dirs = match dirs {
        Some(dirs) => dirs,
        None => {
            path_dirs = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
            &path_dirs
        }
    };
    dirs.iter().filter(|dir| dir.is_absolute()).map(|dir| dir.join(program)).find(|candidate| {
        fs::metadata(candidate).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    })
}

/// Splits an `auths` key (or a registry argument) into its host, with Docker Hub's
/// aliases made `docker.io`, and a repository namespace if it names one.
///
/// URLs (`https://host:port/v2/`) name a host: their path is an API path. Bare keys with
/// a path (`quay.io/org`) name a namespace, as in containers `auth.json`, except docker's
/// API paths `v1/` and `v2/`.
fn parse_key(key: &str) -> (&str, Option<&str>) {
    let (rest, is_url) = match key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")) {
        Some(rest) => (rest, true),
        None => (key, false),
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let namespace = match path.strip_suffix('/') {
        _ if is_url || path.is_empty() => None,
        Some("v1" | "v2" | "") => None,
        _ => Some(path.trim_end_matches('/')),
    };
    (canonical_host(host), namespace)
}

/// Docker Hub's names all mean `docker.io`.
fn canonical_host(host: &str) -> &str {
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB,
        host => host,
    }
}

/// The server URL helpers and docker's `auths` use for a (canonical) host.
fn server_url(host: &str) -> &str {
    if host == DOCKER_HUB { DOCKER_HUB_SERVER } else { host }
}

/// The canonical host of a registry given to [`login`] or [`logout`].
fn registry_host(registry: &str) -> Result<&str> {
    let (host, namespace) = parse_key(registry);
    let bad = |reason: &str| Error::Invalid { what: format!("registry {registry:?}"), reason: reason.to_owned() };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if namespace.is_some() {
        return Err(bad("expected a registry host[:port], not a repository"));
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control() || c == '@') {
        return Err(bad("not a host[:port]"));
    }
    Ok(host)
}

fn check_login(host: &str, username: &str, password: &str) -> Result<()> {
    let reason = if username.is_empty() {
        "the username is empty"
    } else if username.contains(':') {
        "the username contains a colon"
    } else if password.is_empty() {
        "the password is empty"
    } else {
        return Ok(());
    };
    Err(Error::Invalid { what: format!("login to {host}"), reason: reason.to_owned() })
}

fn invalid_file(path: &Path, reason: &str) -> Error {
    Error::Invalid { what: format!("credentials file {}", path.display()), reason: reason.to_owned() }
}

/// The files [`CredentialStore::from_env`] reads, given the environment and home directory.
fn auth_files(var: &dyn Fn(&str) -> Option<OsString>, home: Option<PathBuf>) -> Vec<PathBuf> {
    let path = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let mut files = Vec::new();
    // containers/image: `REGISTRY_AUTH_FILE` replaces the primary auth.json.
    match path("REGISTRY_AUTH_FILE") {
        Some(file) => files.push(file),
        None => files.extend(path("XDG_RUNTIME_DIR").map(|dir| dir.join("containers/auth.json"))),
    }
    let config_home = path("XDG_CONFIG_HOME").or_else(|| home.as_ref().map(|h| h.join(".config")));
    files.extend(config_home.map(|dir| dir.join("containers/auth.json")));
    files.extend(docker_config_path(var, home));
    files
}

fn docker_config_path(var: &dyn Fn(&str) -> Option<OsString>, home: Option<PathBuf>) -> Option<PathBuf> {
    match var("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => home.map(|home| home.join(".docker/config.json")),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const SECRET: &str = "pa:ss:w0rd-TOPSECRET";

    fn b64(s: &str) -> String {
        general_purpose::STANDARD.encode(s)
    }

    fn basic(username: &str, password: &str) -> Option<Credential> {
        Some(Credential::Basic { username: username.into(), password: password.into() })
    }

    /// Writes `json` to `dir/name` and returns the path.
    fn write(dir: &Path, name: &str, json: &str) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, json).unwrap();
        path
    }

    /// A store reading one file holding `json`.
    fn store_with(json: &str) -> (tempfile::TempDir, CredentialStore) {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "config.json", json);
        (dir, CredentialStore::with_files(vec![file]).with_helper_path(vec![]))
    }

    /// Writes a `docker-credential-<name>` shell script running `body` into `dir`.
    fn helper(dir: &Path, name: &str, body: &str) {
        let path = dir.join(format!("{HELPER_PREFIX}{name}"));
        let mut file = fs::File::create(&path).unwrap();
        write!(file, "#!/bin/sh\n{body}\n").unwrap();
        file.set_permissions(fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A helper that answers `get` with `alice`/`SECRET`, naming the server URL it was
    /// asked for in `ServerURL`, and logs every call to `calls.log` beside it.
    const ECHO_HELPER: &str = r#"input=$(cat)
echo "$1 $input" >> "$(dirname "$0")/calls.log"
case "$1" in
get) printf '{"ServerURL":"%s","Username":"alice","Secret":"pa:ss:w0rd-TOPSECRET"}' "$input" ;;
store|erase) ;;
esac"#;

    const NOT_FOUND_HELPER: &str = "cat >/dev/null; echo 'credentials not found in native keychain'; exit 1";

    #[test]
    fn every_key_form_matches_its_host() {
        let auth = b64(&format!("alice:{SECRET}"));
        for (key, registry) in [
            ("ghcr.io", "ghcr.io"),
            ("https://ghcr.io", "ghcr.io"),
            ("https://ghcr.io/", "ghcr.io"),
            ("https://ghcr.io/v2/", "ghcr.io"),
            ("http://ghcr.io/v1/", "ghcr.io"),
            ("ghcr.io/v2/", "ghcr.io"),
            ("localhost:5000", "localhost:5000"),
            ("https://localhost:5000/v2/", "localhost:5000"),
            ("http://localhost:5000", "localhost:5000"),
        ] {
            let (_dir, store) = store_with(&format!(r#"{{"auths": {{"{key}": {{"auth": "{auth}"}}}}}}"#));
            assert_eq!(store.lookup(registry).unwrap(), basic("alice", SECRET), "key {key}");
            for other in ["gcr.io", "localhost", "localhost:5001", "quay.io"] {
                assert_eq!(store.lookup(other).unwrap(), None, "key {key} looked up as {other}");
            }
        }
    }

    #[test]
    fn docker_hub_aliases_are_one_registry() {
        let names = ["docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/"];
        for key in names {
            let (_dir, store) = store_with(&format!(r#"{{"auths": {{"{key}": {{"auth": "{}"}}}}}}"#, b64("bob:pw")));
            for registry in names {
                assert_eq!(store.lookup(registry).unwrap(), basic("bob", "pw"), "key {key}, registry {registry}");
            }
            assert_eq!(store.lookup("quay.io").unwrap(), None);
        }
    }

    #[test]
    fn auth_splits_at_the_first_colon_and_beats_username_fields() {
        let json = format!(
            r#"{{"auths": {{"ghcr.io": {{"auth": "{}", "username": "mallory", "password": "x"}}}}}}"#,
            b64(&format!("alice:{SECRET}\0"))
        );
        let (_dir, store) = store_with(&json);
        assert_eq!(store.lookup("ghcr.io").unwrap(), basic("alice", SECRET));
    }

    #[test]
    fn unpadded_auth_is_accepted() {
        let auth = b64("ab:c").trim_end_matches('=').to_owned();
        let (_dir, store) = store_with(&format!(r#"{{"auths": {{"ghcr.io": {{"auth": "{auth}"}}}}}}"#));
        assert_eq!(store.lookup("ghcr.io").unwrap(), basic("ab", "c"));
    }

    #[test]
    fn username_and_password_fields() {
        let (_dir, store) = store_with(r#"{"auths": {"ghcr.io": {"username": "carol", "password": "pw"}}}"#);
        assert_eq!(store.lookup("ghcr.io").unwrap(), basic("carol", "pw"));
    }

    #[test]
    fn identity_token_wins_over_auth() {
        let json = format!(r#"{{"auths": {{"ghcr.io": {{"auth": "{}", "identitytoken": "tok"}}}}}}"#, b64("u:p"));
        let (_dir, store) = store_with(&json);
        assert_eq!(store.lookup("ghcr.io").unwrap(), Some(Credential::IdentityToken("tok".into())));
    }

    #[test]
    fn empty_entry_without_helper_is_anonymous() {
        let (_dir, store) = store_with(r#"{"auths": {"ghcr.io": {}, "quay.io": null}, "credHelpers": {}}"#);
        assert_eq!(store.lookup("ghcr.io").unwrap(), None);
        assert_eq!(store.lookup("quay.io").unwrap(), None);
    }

    #[test]
    fn repository_scoped_keys_most_specific_first() {
        let json = format!(
            r#"{{"auths": {{"quay.io": {{"auth": "{}"}}, "quay.io/org": {{"auth": "{}"}},
                "quay.io/org/app": {{"auth": "{}"}}, "docker.io/library": {{"auth": "{}"}}}}}}"#,
            b64("host:1"),
            b64("org:2"),
            b64("app:3"),
            b64("lib:4"),
        );
        let (_dir, store) = store_with(&json);
        let lookup = |name: &str| store.lookup_image(&name.parse().unwrap()).unwrap();
        assert_eq!(lookup("quay.io/org/app:1"), basic("app", "3"));
        assert_eq!(lookup("quay.io/org/other"), basic("org", "2"));
        assert_eq!(lookup("quay.io/orgx/app"), basic("host", "1"));
        assert_eq!(lookup("debian"), basic("lib", "4"));
        assert_eq!(lookup("someone/app"), None);
        // A registry lookup sees host keys only; a `host/namespace` argument sees namespaces.
        assert_eq!(store.lookup("quay.io").unwrap(), basic("host", "1"));
        assert_eq!(store.lookup("quay.io/org").unwrap(), basic("org", "2"));
    }

    #[test]
    fn first_file_with_a_credential_wins() {
        let dir = tempfile::tempdir().unwrap();
        let entry = |user: &str| format!(r#"{{"auths": {{"ghcr.io": {{"auth": "{}"}}}}}}"#, b64(&format!("{user}:p")));
        let first = write(dir.path(), "first.json", &entry("first"));
        let second = write(dir.path(), "second.json", &entry("second"));
        let third = write(dir.path(), "third.json", &entry("third"));
        let empty = write(dir.path(), "empty.json", r#"{"auths": {"ghcr.io": {}}}"#);
        let missing = dir.path().join("missing.json");

        let store = |files: &[&PathBuf]| CredentialStore::with_files(files.iter().map(|f| f.to_path_buf()).collect());
        assert_eq!(store(&[&first, &second, &third]).lookup("ghcr.io").unwrap(), basic("first", "p"));
        assert_eq!(store(&[&missing, &second, &third]).lookup("ghcr.io").unwrap(), basic("second", "p"));
        assert_eq!(store(&[&missing, &empty, &third]).lookup("ghcr.io").unwrap(), basic("third", "p"));
        assert_eq!(store(&[&missing, &empty]).lookup("ghcr.io").unwrap(), None);
        assert_eq!(store(&[]).lookup("ghcr.io").unwrap(), None);
    }

    #[test]
    fn environment_order() {
        let env: HashMap<&str, &str> = [
            ("REGISTRY_AUTH_FILE", "/override/auth.json"),
            ("XDG_RUNTIME_DIR", "/run/user/1000"),
            ("XDG_CONFIG_HOME", "/cfg"),
            ("DOCKER_CONFIG", "/dockercfg"),
        ]
        .into();
        let files = |keys: &[&str]| {
            let var = |name: &str| keys.contains(&name).then(|| env[name].into());
            auth_files(&var, Some("/home/u".into()))
        };
        let paths = |v: &[&str]| v.iter().map(PathBuf::from).collect::<Vec<_>>();
        assert_eq!(
            files(&["REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "DOCKER_CONFIG"]),
            paths(&["/override/auth.json", "/cfg/containers/auth.json", "/dockercfg/config.json"])
        );
        assert_eq!(
            files(&["XDG_RUNTIME_DIR"]),
            paths(&[
                "/run/user/1000/containers/auth.json",
                "/home/u/.config/containers/auth.json",
                "/home/u/.docker/config.json"
            ])
        );
        assert_eq!(auth_files(&|_| None, None), Vec::<PathBuf>::new());
        assert_eq!(docker_config_path(&|_| Some("".into()), Some("/h".into())), Some("/h/.docker/config.json".into()));
    }

    #[test]
    fn missing_file_is_skipped_but_malformed_ones_are_errors() {
        let (dir, store) = store_with("");
        assert_eq!(store.lookup("ghcr.io").unwrap(), None, "an empty file is an empty configuration");
        let missing = CredentialStore::with_files(vec![dir.path().join("nope.json")]);
        assert_eq!(missing.lookup("ghcr.io").unwrap(), None);

        for json in [
            "{not json",
            "[]",
            r#"{"auths": []}"#,
            r#"{"auths": {"ghcr.io": "x"}}"#,
            r#"{"credHelpers": {"ghcr.io": 1}}"#,
            r#"{"credsStore": true}"#,
        ] {
            let file = write(dir.path(), "bad.json", json);
            let err = CredentialStore::with_files(vec![file.clone()]).lookup("ghcr.io").unwrap_err().to_string();
            assert!(err.contains(&file.display().to_string()), "{json}: {err}");
        }
        let unreadable = CredentialStore::with_files(vec![dir.path().to_owned()]);
        let err = unreadable.lookup("ghcr.io").unwrap_err().to_string();
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
    }

    #[test]
    fn bad_entries_are_errors_naming_file_and_registry_but_not_the_secret() {
        for (entry, reason) in [
            (format!(r#"{{"auth": "{SECRET}!"}}"#), "not valid base64"),
            (format!(r#"{{"auth": "{}"}}"#, b64("TOPSECRETnocolon")), "no colon"),
            (format!(r#"{{"auth": "{}"}}"#, b64(":TOPSECRET")), "empty username"),
            (r#"{"auth": 123456789}"#.to_owned(), "`auth` is not a string"),
            (r#"{"password": ["TOPSECRET"], "username": "u"}"#.to_owned(), "`password` is not a string"),
        ] {
            let (_dir, store) = store_with(&format!(r#"{{"auths": {{"https://ghcr.io": {entry}}}}}"#));
            let err = store.lookup("ghcr.io").unwrap_err();
            let message = err.to_string();
            assert!(matches!(err, Error::Invalid { .. }), "{message}");
            assert!(message.contains(reason), "{message}");
            assert!(message.contains("ghcr.io") && message.contains("config.json"), "{message}");
            assert!(!message.contains("TOPSECRET") && !message.contains("123456789"), "{message}");
            assert!(!format!("{err:?}").contains("TOPSECRET"), "{err:?}");
        }
    }

    #[test]
    fn cred_helpers_beat_creds_store_and_auths() {
        let bin = tempfile::tempdir().unwrap();
        helper(bin.path(), "fake", ECHO_HELPER);
        helper(bin.path(), "other", "echo other helper was asked >&2; exit 1");
        let json = format!(
            r#"{{"auths": {{"ghcr.io": {{"auth": "{}"}}}}, "credsStore": "other", "credHelpers": {{"ghcr.io": "fake"}}}}"#,
            b64("inline:pw")
        );
        let (_dir, store) = store_with(&json);
        let store = store.with_helper_path(vec![bin.path().to_owned()]);
        assert_eq!(store.lookup("ghcr.io").unwrap(), basic("alice", SECRET));
        let calls = fs::read_to_string(bin.path().join("calls.log")).unwrap();
        assert_eq!(calls, "get ghcr.io\n");
    }

    #[test]
    fn inline_credential_beats_creds_store_and_empty_entry_asks_it() {
        let bin = tempfile::tempdir().unwrap();
        helper(bin.path(), "fake", ECHO_HELPER);
        let json = format!(
            r#"{{"auths": {{"quay.io": {{"auth": "{}"}}, "https://index.docker.io/v1/": {{}}}}, "credsStore": "fake"}}"#,
            b64("inline:pw")
        );
        let (_dir, store) = store_with(&json);
        let store = store.with_helper_path(vec![bin.path().to_owned()]);
        assert_eq!(store.lookup("quay.io").unwrap(), basic("inline", "pw"));
        assert_eq!(store.lookup("docker.io").unwrap(), basic("alice", SECRET));
        // credsStore holds credentials for registries without an entry too (ECR's helper).
        assert_eq!(store.lookup("localhost:5000").unwrap(), basic("alice", SECRET));
        let calls = fs::read_to_string(bin.path().join("calls.log")).unwrap();
        assert_eq!(calls, "get https://index.docker.io/v1/\nget localhost:5000\n");
    }

    #[test]
    fn helper_token_username_means_identity_token() {
        let bin = tempfile::tempdir().unwrap();
        helper(
            bin.path(),
            "tok",
            r#"cat >/dev/null; echo '{"ServerURL":"x","Username":"<token>","Secret":"refresh"}'"#,
        );
        let (_dir, store) = store_with(r#"{"credHelpers": {"ghcr.io": "tok"}}"#);
        let store = store.with_helper_path(vec![bin.path().to_owned()]);
        assert_eq!(store.lookup("ghcr.io").unwrap(), Some(Credential::IdentityToken("refresh".into())));
    }

    #[test]
    fn helper_not_found_falls_through_to_next_file() {
        let bin = tempfile::tempdir().unwrap();
        helper(bin.path(), "empty", NOT_FOUND_HELPER);
        let dir = tempfile::tempdir().unwrap();
        let first = write(dir.path(), "a.json", r#"{"auths": {"ghcr.io": {}}, "credsStore": "empty"}"#);
        let second =
            write(dir.path(), "b.json", &format!(r#"{{"auths": {{"ghcr.io": {{"auth": "{}"}}}}}}"#, b64("b:pw")));
        let store = CredentialStore::with_files(vec![first.clone()]).with_helper_path(vec![bin.path().to_owned()]);
        assert_eq!(store.lookup("ghcr.io").unwrap(), None);
        let store = CredentialStore::with_files(vec![first, second]).with_helper_path(vec![bin.path().to_owned()]);
        assert_eq!(store.lookup("ghcr.io").unwrap(), basic("b", "pw"));
    }

    #[test]
    fn failing_helper_is_an_error_naming_it() {
        let bin = tempfile::tempdir().unwrap();
        helper(bin.path(), "broken", "cat >/dev/null; echo 'keychain is locked' >&2; exit 3");
        helper(bin.path(), "garbage", "cat >/dev/null; echo 'not json'");
        for (name, expected) in [("broken", "keychain is locked"), ("garbage", "malformed JSON")] {
            let (_dir, store) = store_with(&format!(r#"{{"credHelpers": {{"ghcr.io": "{name}"}}}}"#));
            let store = store.with_helper_path(vec![bin.path().to_owned()]);
            let err = store.lookup("ghcr.io").unwrap_err().to_string();
            assert!(err.contains(&format!("docker-credential-{name}")) && err.contains(expected), "{err}");
        }
    }

    #[test]
    fn missing_helper_is_a_clear_error() {
        let (_dir, store) = store_with(r#"{"credsStore": "desktop"}"#);
        let err = store.lookup("ghcr.io").unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains("docker-credential-desktop") && message.contains("credsStore"), "{message}");

        let (_dir, store) = store_with(r#"{"credsStore": "../../bin/sh"}"#);
        let err = store.lookup("ghcr.io").unwrap_err().to_string();
        assert!(err.contains("not a credential helper name"), "{err}");
    }

    #[test]
    fn login_then_lookup_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let docker_dir = dir.path().join("new/.docker");
        let config = docker_dir.join("config.json");
        login(&config, "localhost:5000", "alice", SECRET).unwrap();
        assert_eq!(fs::metadata(&docker_dir).unwrap().permissions().mode() & 0o777, 0o700);

        // Unknown keys, in order, and other entries survive; an older spelling is replaced.
        let before = format!(
            r#"{{"psFormat": "table", "auths": {{"https://ghcr.io/v2/": {{"auth": "{}"}}, "quay.io": {{"auth": "{}"}}}},
                "plugins": {{"x": {{"y": "z"}}}}, "currentContext": "default"}}"#,
            b64("old:old"),
            b64("q:q"),
        );
        fs::write(&config, before).unwrap();
        login(&config, "ghcr.io", "alice", SECRET).unwrap();

        assert_eq!(fs::metadata(&config).unwrap().permissions().mode() & 0o777, 0o600);
        let written: Value = serde_json::from_str(&fs::read_to_string(&config).unwrap()).unwrap();
        let keys: Vec<_> = written.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["psFormat", "auths", "plugins", "currentContext"]);
        assert_eq!(written["plugins"]["x"]["y"], "z");
        let auths: Vec<_> = written["auths"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(auths, ["quay.io", "ghcr.io"]);
        assert_eq!(written["auths"]["ghcr.io"], serde_json::json!({"auth": b64(&format!("alice:{SECRET}"))}));
        let leftovers: Vec<_> = fs::read_dir(&docker_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, ["config.json"], "no temporary files left behind");

        let store = CredentialStore::with_files(vec![config.clone()]);
        assert_eq!(store.lookup("ghcr.io").unwrap(), basic("alice", SECRET));
        assert_eq!(store.lookup("quay.io").unwrap(), basic("q", "q"));
    }

    #[test]
    fn login_to_docker_hub_uses_dockers_key() {
        let dir = tempfile::tempdir().unwrap();
        let config = write(dir.path(), "config.json", r#"{"auths": {"docker.io": {"auth": "b2xkOm9sZA=="}}}"#);
        login(&config, "index.docker.io", "bob", "pw").unwrap();
        let written: Value = serde_json::from_str(&fs::read_to_string(&config).unwrap()).unwrap();
        assert_eq!(written, serde_json::json!({"auths": {DOCKER_HUB_SERVER: {"auth": b64("bob:pw")}}}));
        let store = CredentialStore::with_files(vec![config]);
        assert_eq!(store.lookup("docker.io").unwrap(), basic("bob", "pw"));
    }

    #[test]
    fn login_through_a_symlink_writes_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = write(dir.path(), "real.json", "{}");
        let link = dir.path().join("config.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        login(&link, "ghcr.io", "a", "b").unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert!(fs::read_to_string(&target).unwrap().contains(&b64("a:b")));
    }

    #[test]
    fn login_with_a_helper_stores_through_it() {
        let bin = tempfile::tempdir().unwrap();
        helper(bin.path(), "fake", ECHO_HELPER);
        let dir = tempfile::tempdir().unwrap();
        let config = write(dir.path(), "config.json", r#"{"credsStore": "fake"}"#);
        login_with(&config, "docker.io", "alice", SECRET, Some(&[bin.path().to_owned()])).unwrap();

        let written = fs::read_to_string(&config).unwrap();
        assert!(!written.contains("TOPSECRET") && !written.contains(&b64(&format!("alice:{SECRET}"))), "{written}");
        let written: Value = serde_json::from_str(&written).unwrap();
        assert_eq!(written, serde_json::json!({"credsStore": "fake", "auths": {DOCKER_HUB_SERVER: {}}}));
        let calls = fs::read_to_string(bin.path().join("calls.log")).unwrap();
        let (action, input) = calls.trim_end().split_once(' ').unwrap();
        assert_eq!(action, "store");
        let input: Value = serde_json::from_str(input).unwrap();
        assert_eq!(input, serde_json::json!({"ServerURL": DOCKER_HUB_SERVER, "Username": "alice", "Secret": SECRET}));
    }

    #[test]
    fn login_refuses_what_cannot_be_stored() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        for (registry, username, password) in
            [("ghcr.io", "", SECRET), ("ghcr.io", "a:b", SECRET), ("ghcr.io", "a", ""), ("quay.io/org", "a", SECRET)]
        {
            let err = login(&config, registry, username, password).unwrap_err().to_string();
            assert!(!err.contains("TOPSECRET"), "{err}");
        }
        assert!(!config.exists());
    }

    #[test]
    fn logout_removes_every_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let json = format!(
            r#"{{"auths": {{"https://ghcr.io": {{"auth": "{0}"}}, "ghcr.io": {{"auth": "{0}"}}, "ghcr.io/org": {{"auth": "{0}"}},
                "quay.io": {{"auth": "{0}"}}}}, "other": 1}}"#,
            b64("u:p")
        );
        let config = write(dir.path(), "config.json", &json);
        assert!(logout(&config, "ghcr.io").unwrap());
        let written: Value = serde_json::from_str(&fs::read_to_string(&config).unwrap()).unwrap();
        let auths: Vec<_> = written["auths"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(auths, ["ghcr.io/org", "quay.io"]);
        assert_eq!(written["other"], 1);
        assert!(!logout(&config, "ghcr.io").unwrap());
        assert!(!logout(&dir.path().join("missing.json"), "ghcr.io").unwrap());
        assert!(!dir.path().join("missing.json").exists());
    }

    #[test]
    fn logout_erases_from_the_helper() {
        let bin = tempfile::tempdir().unwrap();
        helper(bin.path(), "fake", ECHO_HELPER);
        helper(bin.path(), "empty", NOT_FOUND_HELPER);
        let dir = tempfile::tempdir().unwrap();
        let dirs = [bin.path().to_owned()];
        let config = write(dir.path(), "config.json", r#"{"credsStore": "fake", "credHelpers": {"quay.io": "empty"}}"#);
        assert!(logout_with(&config, "registry-1.docker.io", Some(&dirs)).unwrap());
        assert_eq!(fs::read_to_string(bin.path().join("calls.log")).unwrap(), "erase https://index.docker.io/v1/\n");
        assert!(!logout_with(&config, "quay.io", Some(&dirs)).unwrap());
    }

    #[test]
    fn secrets_never_appear_in_debug_or_errors() {
        let credentials = [
            Credential::Basic { username: "alice".into(), password: SECRET.into() },
            Credential::IdentityToken(SECRET.into()),
        ];
        for credential in credentials {
            let debug = format!("{credential:?} {credential:#?}");
            assert!(!debug.contains("TOPSECRET") && debug.contains("redacted"), "{debug}");
        }
        let config =
            DockerConfig::parse("c.json", &format!(r#"{{"auths": {{"x": {{"auth": "{}"}}}}}}"#, b64(SECRET))).unwrap();
        assert!(!format!("{config:?}").contains(&b64(SECRET)));

        // A helper that echoes what it is given when it fails.
        let bin = tempfile::tempdir().unwrap();
        helper(bin.path(), "echo", "cat; exit 1");
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "config.json", r#"{"credsStore": "echo"}"#);
        let err = login_with(&file, "ghcr.io", "alice", SECRET, Some(&[bin.path().to_owned()])).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("docker-credential-echo store") && message.contains("<redacted>"), "{message}");
        assert!(!message.contains("TOPSECRET") && !format!("{err:?}").contains("TOPSECRET"), "{message}");
        assert_eq!(fs::read_to_string(&file).unwrap(), r#"{"credsStore": "echo"}"#, "unchanged after a failure");
    }
}
