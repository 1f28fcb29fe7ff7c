//! Reading and editing a docker `config.json` (or containers `auth.json`), keeping every
//! key this crate does not interpret.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose;
use serde::Serialize;
use serde_json::{Map, Value};

use super::helpers::{Helper, Setting};
use super::{check_login, parse_key, registry_host, server_url};
use crate::atomic::{FileMode, write_atomic};
use crate::error::IoContext;
use crate::{Error, Result};

/// A docker `config.json` (or containers `auth.json`), kept as parsed JSON so that a
/// rewrite preserves every key, in order, that this crate does not interpret.
///
/// `Debug` shows the path only.
pub struct DockerConfig {
    pub(super) path: PathBuf,
    pub(super) root: Map<String, Value>,
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

    /// Writes the configuration to its file atomically ([`crate::write_atomic`]) with mode
    /// 0600 ([`FileMode::Private`]), creating the directory with mode 0700.
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

        write_atomic(&target, &json, FileMode::Private)
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

    pub(super) fn cred_helper_entry(&self, host: &str) -> Option<&str> {
        let helpers = self.root.get("credHelpers")?.as_object()?;
        let value = helpers
            .get(server_url(host))
            .or_else(|| helpers.get(host))
            .or_else(|| helpers.iter().find(|(key, _)| parse_key(key) == (host, None)).map(|(_, value)| value))?;
        value.as_str()
    }

    /// The helper that holds `host`'s credential: its `credHelpers` entry, else `credsStore`.
    pub(super) fn helper_for(&self, host: &str) -> Option<Helper<'_>> {
        let (name, setting) = match self.cred_helper_entry(host) {
            Some(name) => (name, Setting::CredHelpers),
            None => (self.creds_store()?, Setting::CredsStore),
        };
        (!name.is_empty()).then_some(Helper { name, setting, file: &self.path })
    }

    /// Sets `host`'s entry under docker's key for it, dropping other spellings of the same
    /// registry (which would shadow or contradict it). An existing entry keeps its place.
    pub(super) fn set_entry(&mut self, host: &str, entry: Map<String, Value>) {
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

pub(super) fn invalid_file(path: &Path, reason: &str) -> Error {
    Error::Invalid { what: format!("credentials file {}", path.display()), reason: reason.to_owned() }
}
