//! The restore record: what undoing a hardening takes, kept in the hardened image's
//! [`crate::LABEL_RESTORE`] label so a later hardening with other rules
//! starts again from the base instead of piling patches up.

use oci_core::Strip;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, LABEL_RESTORE, Result};

/// What undoing a hardening takes: the layers and history entries it appended, and the
/// previous values of every config key and annotation it set. Its label form is compact
/// JSON: `{"layers":1,"history":1,"config":[["/created","…"],…],"annotations":[["k",null],…]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreRecord {
    /// Layers appended (0 or 1).
    #[serde(default)]
    pub layers: usize,
    /// History entries appended.
    #[serde(default = "one")]
    pub history: usize,
    /// Previous values of the config, by JSON pointer (`/config/Labels/a~1b`); `null` where
    /// the key was absent.
    #[serde(default)]
    pub config: Vec<(String, Value)>,
    /// Previous values of the manifest annotations set; `null` where absent.
    #[serde(default)]
    pub annotations: Vec<(String, Option<String>)>,
}

fn one() -> usize {
    1
}

impl RestoreRecord {
    /// Parses a label value.
    ///
    /// # Errors
    /// [`Error::Image`] (an invalid label) when it is not JSON of this shape.
    pub fn parse(label: &str) -> Result<RestoreRecord> {
        serde_json::from_str(label).map_err(|e| {
            Error::Image(oci_core::Error::Invalid { what: format!("label {LABEL_RESTORE}"), reason: e.to_string() })
        })
    }

    /// The label value: compact JSON, fields in declaration order.
    pub fn to_label(&self) -> String {
        serde_json::to_string(self).expect("a restore record serialises")
    }

    /// What [`oci_core::strip`] takes to undo the hardening.
    pub fn strip(&self) -> Strip {
        Strip {
            layers: self.layers,
            history: self.history,
            config: self.config.iter().map(|(p, v)| (p.clone(), Some(v.clone()).filter(|v| !v.is_null()))).collect(),
            annotations: self.annotations.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn label_round_trips_with_the_recorded_bytes() {
        let label = r#"{"layers":1,"history":1,"config":[["/created","2024-01-01T00:00:00Z"],["/config/User",null],["/config/Labels/io.oci-harden.rules",null]],"annotations":[["org.opencontainers.image.base.digest",null],["a","b"]]}"#;
        let record = RestoreRecord::parse(label).unwrap();
        assert_eq!(
            record,
            RestoreRecord {
                layers: 1,
                history: 1,
                config: vec![
                    ("/created".into(), json!("2024-01-01T00:00:00Z")),
                    ("/config/User".into(), Value::Null),
                    ("/config/Labels/io.oci-harden.rules".into(), Value::Null),
                ],
                annotations: vec![
                    ("org.opencontainers.image.base.digest".into(), None),
                    ("a".into(), Some("b".into()))
                ],
            }
        );
        assert_eq!(record.to_label(), label);
        let strip = record.strip();
        assert_eq!((strip.layers, strip.history), (1, 1));
        assert_eq!(strip.config[0], ("/created".to_owned(), Some(json!("2024-01-01T00:00:00Z"))));
        assert_eq!(strip.config[1], ("/config/User".to_owned(), None));
        assert_eq!(strip.annotations, record.annotations);
    }

    #[test]
    fn defaults_and_refusals() {
        let record = RestoreRecord::parse("{}").unwrap();
        assert_eq!((record.layers, record.history, record.config.len()), (0, 1, 0));
        for bad in ["not json", r#"{"config":[[1,2]]}"#, r#"{"annotations":[["k",3]]}"#, r#"{"layers":-1}"#] {
            let err = RestoreRecord::parse(bad).unwrap_err();
            assert!(err.to_string().starts_with("invalid label io.oci-harden.restore: "), "{bad}: {err}");
        }
    }
}
