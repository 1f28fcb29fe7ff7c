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

mod config_file;
mod helpers;
mod lookup;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Map;

use crate::{DOCKER_HUB, Error, ImageName, Result};

pub use config_file::DockerConfig;
pub use lookup::CredentialStore;

/// The `auths` key and helper server URL docker uses for Docker Hub.
const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";
/// The username a helper returns when its secret is an identity token.
const TOKEN_USERNAME: &str = "<token>";

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

/// The registry `registry` names, as [`ImageName::registry`] spells it: a scheme and an
/// API path (`https://index.docker.io/v1/`) are dropped and Docker Hub's aliases become
/// `docker.io`. For the registry argument of a login or logout.
///
/// ```
/// assert_eq!(oci_core::normalize_registry_host("https://index.docker.io/v1/").unwrap(), "docker.io");
/// assert_eq!(oci_core::normalize_registry_host("localhost:5000").unwrap(), "localhost:5000");
/// assert!(oci_core::normalize_registry_host("quay.io/org").is_err());
/// ```
///
/// # Errors
///
/// [`Error::Invalid`] for an empty host, a repository path, or what is not a
/// `host[:port]`.
pub fn normalize_registry_host(registry: &str) -> Result<String> {
    let host = registry_host(registry)?;
    let probe: ImageName = format!("{host}/x")
        .parse()
        .map_err(|_| Error::Invalid { what: format!("registry {registry:?}"), reason: "not a host[:port]".into() })?;
    Ok(probe.registry().to_owned())
}
