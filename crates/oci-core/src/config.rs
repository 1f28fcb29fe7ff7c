//! Image configuration, edited as order-preserving JSON so unknown keys survive.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::{Digest, Error, Platform, Result};

/// One change of an image config's runtime section, as data (planned by a rule, shown in
/// a report, applied by [`ImageConfig::apply`] or [`crate::Append::changes`]).
///
/// Serialised in kebab case: `{"set-env": ["LANG", "C.UTF-8"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConfigChange {
    /// Set `config.User`.
    User(String),
    /// Set an environment variable in `config.Env` (replacing every earlier `KEY=`
    /// entry; the new one goes last).
    SetEnv(String, String),
    /// Remove an environment variable from `config.Env`.
    UnsetEnv(String),
    /// Set a label in `config.Labels`.
    SetLabel(String, String),
    /// Set Docker's `config.Healthcheck` object.
    Healthcheck(Value),
    /// Remove a volume from `config.Volumes` (nothing happens when there is none).
    RemoveVolume(String),
}

/// An image configuration (OCI or Docker), kept as an ordered JSON object.
///
/// Typed accessors read the well-known fields; edits go through [`ImageConfig::set`] and
/// friends, so keys we do not know (`ArgsEscaped`, `OnBuild`, Docker's `Healthcheck`,
/// `container_config`…) are kept in their original order on a round trip.
///
/// ```
/// use oci_core::ImageConfig;
/// let mut c = ImageConfig::parse(br#"{"architecture":"amd64","os":"linux","config":{"OnBuild":null},
///   "rootfs":{"type":"layers","diff_ids":[]}}"#, "config").unwrap();
/// c.set_user("10001:10001");
/// assert_eq!(c.user(), Some("10001:10001"));
/// assert!(String::from_utf8(c.to_bytes()).unwrap().contains("OnBuild"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ImageConfig {
    root: Map<String, Value>,
}

impl ImageConfig {
    /// Parses a config blob; `what` names it in errors.
    ///
    /// # Security
    /// Refuses malformed JSON ([`Error::Json`]) and documents that are not objects or
    /// whose `rootfs.diff_ids` are not digests ([`Error::Invalid`]).
    pub fn parse(bytes: &[u8], what: &str) -> Result<ImageConfig> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|source| Error::Json { what: what.to_owned(), source })?;
        let Value::Object(root) = value else {
            return Err(Error::Invalid { what: what.to_owned(), reason: "config is not a JSON object".into() });
        };
        let config = ImageConfig { root };
        config.diff_ids().map_err(|e| Error::Invalid { what: what.to_owned(), reason: e.to_string() })?;
        Ok(config)
    }

    /// The config as a JSON object.
    pub fn as_json(&self) -> &Map<String, Value> {
        &self.root
    }

    /// Serialises compactly, keys in their order.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.root).expect("a JSON map always serialises")
    }

    fn str_field(&self, key: &str) -> Option<&str> {
        self.root.get(key)?.as_str()
    }

    /// `architecture`.
    pub fn architecture(&self) -> Option<&str> {
        self.str_field("architecture")
    }

    /// `os`.
    pub fn os(&self) -> Option<&str> {
        self.str_field("os")
    }

    /// The platform the config declares.
    pub fn platform(&self) -> Option<Platform> {
        Some(Platform::new(self.os()?, self.architecture()?, self.str_field("variant")))
    }

    /// `created` (RFC 3339).
    pub fn created(&self) -> Option<&str> {
        self.str_field("created")
    }

    /// `rootfs.diff_ids`: the uncompressed digests of the layers, base first.
    pub fn diff_ids(&self) -> Result<Vec<Digest>> {
        let Some(rootfs) = self.root.get("rootfs") else {
            return Ok(Vec::new());
        };
        let ids = rootfs.get("diff_ids").and_then(Value::as_array).ok_or_else(|| Error::Invalid {
            what: "config".into(),
            reason: "rootfs.diff_ids is missing or not an array".into(),
        })?;
        ids.iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| Error::Invalid {
                        what: "config".into(),
                        reason: "rootfs.diff_ids holds a non-string".into(),
                    })?
                    .parse()
            })
            .collect()
    }

    /// The runtime section (`config`), if any.
    pub fn runtime(&self) -> Option<&Map<String, Value>> {
        self.root.get("config")?.as_object()
    }

    fn runtime_mut(&mut self) -> &mut Map<String, Value> {
        let entry = self.root.entry("config").or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        entry.as_object_mut().expect("made an object above")
    }

    fn runtime_str(&self, key: &str) -> Option<&str> {
        self.runtime()?.get(key)?.as_str()
    }

    fn runtime_list(&self, key: &str) -> Vec<&str> {
        self.runtime()
            .and_then(|r| r.get(key))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// `config.User`, when set and non-empty.
    pub fn user(&self) -> Option<&str> {
        self.runtime_str("User").filter(|u| !u.is_empty())
    }

    /// Sets `config.User`.
    pub fn set_user(&mut self, user: &str) {
        self.runtime_mut().insert("User".into(), Value::String(user.into()));
    }

    /// `config.Env` entries (`KEY=value`).
    pub fn env(&self) -> Vec<&str> {
        self.runtime_list("Env")
    }

    /// `config.Entrypoint`.
    pub fn entrypoint(&self) -> Vec<&str> {
        self.runtime_list("Entrypoint")
    }

    /// `config.Cmd`.
    pub fn cmd(&self) -> Vec<&str> {
        self.runtime_list("Cmd")
    }

    /// `config.WorkingDir`.
    pub fn working_dir(&self) -> Option<&str> {
        self.runtime_str("WorkingDir").filter(|w| !w.is_empty())
    }

    /// `config.ExposedPorts` keys (`80/tcp`, `53/udp`, `8080`), in document order.
    pub fn exposed_ports(&self) -> Vec<&str> {
        self.runtime_keys("ExposedPorts")
    }

    /// `config.Volumes` keys (`/data`), in document order.
    pub fn volumes(&self) -> Vec<&str> {
        self.runtime_keys("Volumes")
    }

    fn runtime_keys(&self, key: &str) -> Vec<&str> {
        self.runtime()
            .and_then(|r| r.get(key))
            .and_then(Value::as_object)
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// `config.Labels`, in document order.
    pub fn labels(&self) -> Vec<(&str, &str)> {
        self.runtime()
            .and_then(|r| r.get("Labels"))
            .and_then(Value::as_object)
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.as_str(), v.as_str()?))).collect())
            .unwrap_or_default()
    }

    /// Sets a label in `config.Labels`.
    pub fn set_label(&mut self, key: &str, value: &str) {
        let labels = self.runtime_mut().entry("Labels").or_insert_with(|| Value::Object(Map::new()));
        if !labels.is_object() {
            *labels = Value::Object(Map::new());
        }
        labels.as_object_mut().expect("made an object above").insert(key.into(), Value::String(value.into()));
    }

    /// `history` entries, as JSON.
    pub fn history(&self) -> &[Value] {
        self.root.get("history").and_then(Value::as_array).map_or(&[], Vec::as_slice)
    }

    /// Sets a top-level key (for fields without a typed setter).
    pub fn set(&mut self, key: &str, value: Value) {
        self.root.insert(key.into(), value);
    }

    /// Sets a key of the runtime section `config` (for fields without a typed setter).
    pub fn set_runtime(&mut self, key: &str, value: Value) {
        self.runtime_mut().insert(key.into(), value);
    }

    /// Applies `changes` in order.
    ///
    /// ```
    /// use oci_core::{ConfigChange, ImageConfig};
    /// let mut c = ImageConfig::parse(br#"{"config":{"Env":["A=1","B=2"]}}"#, "config").unwrap();
    /// c.apply(&[ConfigChange::SetEnv("A".into(), "3".into()), ConfigChange::UnsetEnv("B".into())]);
    /// assert_eq!(c.env(), ["A=3"]);
    /// ```
    pub fn apply(&mut self, changes: &[ConfigChange]) {
        for change in changes {
            match change {
                ConfigChange::User(u) => self.set_user(u),
                ConfigChange::SetLabel(k, v) => self.set_label(k, v),
                ConfigChange::SetEnv(k, v) => {
                    let mut env = self.env_without(k);
                    env.push(format!("{k}={v}"));
                    self.set_runtime("Env", Value::from(env));
                }
                ConfigChange::UnsetEnv(k) => {
                    let env = self.env_without(k);
                    self.set_runtime("Env", Value::from(env));
                }
                ConfigChange::Healthcheck(v) => self.set_runtime("Healthcheck", v.clone()),
                ConfigChange::RemoveVolume(path) => {
                    if let Some(Value::Object(mut volumes)) = self.runtime().and_then(|r| r.get("Volumes")).cloned() {
                        volumes.remove(path);
                        self.set_runtime("Volumes", Value::Object(volumes));
                    }
                }
            }
        }
    }

    fn env_without(&self, key: &str) -> Vec<String> {
        self.env().into_iter().filter(|e| e.split('=').next() != Some(key)).map(str::to_owned).collect()
    }

    /// Appends a layer: its diff_id to `rootfs.diff_ids` and an entry to `history`.
    pub fn push_layer(&mut self, diff_id: &Digest, history: Value) {
        let rootfs = self.root.entry("rootfs").or_insert_with(|| serde_json::json!({"type": "layers", "diff_ids": []}));
        if let Some(ids) = rootfs.get_mut("diff_ids").and_then(Value::as_array_mut) {
            ids.push(Value::String(diff_id.to_string()));
        }
        let hist = self.root.entry("history").or_insert_with(|| Value::Array(Vec::new()));
        if let Some(h) = hist.as_array_mut() {
            h.push(history);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_unknown_keys_in_order() {
        let src = br#"{"zeta":1,"architecture":"arm64","os":"linux","config":{"Healthcheck":{"Test":["CMD","true"]},"ArgsEscaped":true,"Env":["A=1"]},"rootfs":{"type":"layers","diff_ids":[]},"alpha":[1,2]}"#;
        let c = ImageConfig::parse(src, "c").unwrap();
        assert_eq!(c.to_bytes(), src.to_vec());
        assert_eq!(c.env(), vec!["A=1"]);
        assert_eq!(c.platform().unwrap().to_string(), "linux/arm64");
    }

    /// Found by `fuzz/` (target `config`): without serde_json's `float_roundtrip`, `5e90` was
    /// read as a neighbouring double, so a config written back changed its numbers.
    #[test]
    fn numbers_survive_a_round_trip() {
        let c = ImageConfig::parse(b"{\"a\":\n\n5e90\n}", "c").unwrap();
        assert_eq!(c.to_bytes(), b"{\"a\":5e+90}".to_vec());
        let again = ImageConfig::parse(&c.to_bytes(), "c").unwrap();
        assert_eq!(again.to_bytes(), c.to_bytes());
    }

    #[test]
    fn refuses_bad_configs() {
        assert!(matches!(ImageConfig::parse(b"[1]", "c"), Err(Error::Invalid { .. })));
        assert!(matches!(ImageConfig::parse(b"{", "c"), Err(Error::Json { .. })));
        let bad = br#"{"rootfs":{"type":"layers","diff_ids":["sha256:xyz"]}}"#;
        assert!(ImageConfig::parse(bad, "c").is_err());
    }

    #[test]
    fn changes_apply_in_order_and_keep_other_keys() {
        let src = br#"{"os":"linux","config":{"Env":["A=1","B=2","A=0"],"Volumes":{"/data":{},"/dev":{}},"ArgsEscaped":true}}"#;
        let mut c = ImageConfig::parse(src, "c").unwrap();
        c.apply(&[
            ConfigChange::SetEnv("A".into(), "3".into()),
            ConfigChange::UnsetEnv("B".into()),
            ConfigChange::User("10001:10001".into()),
            ConfigChange::SetLabel("k".into(), "v".into()),
            ConfigChange::RemoveVolume("/dev".into()),
            ConfigChange::RemoveVolume("/absent".into()),
            ConfigChange::Healthcheck(serde_json::json!({"Test": ["NONE"]})),
        ]);
        assert_eq!(
            String::from_utf8(c.to_bytes()).unwrap(),
            r#"{"os":"linux","config":{"Env":["A=3"],"Volumes":{"/data":{}},"ArgsEscaped":true,"User":"10001:10001","Labels":{"k":"v"},"Healthcheck":{"Test":["NONE"]}}}"#
        );
        let mut bare = ImageConfig::parse(br#"{"os":"linux"}"#, "c").unwrap();
        bare.apply(&[ConfigChange::RemoveVolume("/dev".into())]);
        assert_eq!(bare.to_bytes(), br#"{"os":"linux"}"#.to_vec(), "removing a volume creates no config section");
        let json = serde_json::to_string(&ConfigChange::SetEnv("LANG".into(), "C".into())).unwrap();
        assert_eq!(json, r#"{"set-env":["LANG","C"]}"#);
    }
}
