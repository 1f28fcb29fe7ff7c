//! The Debian security tracker's JSON (`https://security-tracker.debian.org/tracker/data/json`):
//! `{source package: {CVE: {description, releases: {codename: {status, fixed_version,
//! urgency, nodsa, nodsa_reason, repositories}}}}}`.
//!
//! The document is a single object of about a hundred megabytes. It is read streaming:
//! [`PackageSeed`] receives one source package's value straight from the deserializer and
//! buffers one CVE entry at a time.
//!
//! Mapping, per (package, CVE, release):
//! - `resolved` with `fixed_version` `"0"` → not affected; with a version → fixed in it;
//!   without a usable version → affected, with a note and a warning;
//! - `open` → affected, unless `nodsa_reason` is `ignored` (→ will not fix) or `postponed`
//!   (→ fix deferred); `nodsa` text and reason are kept in the note;
//! - `undetermined` → affected, noted `undetermined`;
//! - urgency → severity: `low`/`medium`/`high` (the `**` marking an unreviewed urgency is
//!   ignored), `unimportant` → low and noted, `not yet assigned` → unknown, `end-of-life` →
//!   unknown and noted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::index::{NewAdvisory, Sink};
use super::model::{AdvisoryStatus, Ecosystem, Severity, debian_release_of_codename};

/// [`super::Advisory::source`] of tracker advisories.
pub(crate) const SOURCE: &str = "debian-tracker";

/// Severity and note for a Debian urgency. Unknown urgencies are `None`.
pub(crate) fn urgency(urgency: &str) -> Option<(Severity, Option<&'static str>)> {
    let normalized = urgency.trim().trim_end_matches("(**)").trim_end_matches("**").trim();
    Some(match normalized.to_ascii_lowercase().as_str() {
        "unimportant" => (Severity::Low, Some("unimportant")),
        "low" => (Severity::Low, None),
        "medium" => (Severity::Medium, None),
        "high" => (Severity::High, None),
        "critical" => (Severity::Critical, None),
        "not yet assigned" | "" => (Severity::Unknown, None),
        "end-of-life" => (Severity::Unknown, Some("end-of-life")),
        _ => return None,
    })
}

/// What the streaming pass has seen, for the format decision and the warnings.
#[derive(Default)]
pub(crate) struct TrackerState {
    /// CVE entries (objects with `releases`) seen.
    pub(crate) entries: usize,
    /// Advisories produced.
    pub(crate) records: usize,
    unknown_codenames: BTreeSet<String>,
    unknown_urgencies: BTreeSet<String>,
}

impl TrackerState {
    pub(crate) fn finish(self, name: &str, sink: &mut Sink<'_>) {
        if !self.unknown_codenames.is_empty() {
            sink.warn(format!(
                "{name}: unknown Debian codenames {:?} kept as release names (their advisories match no numbered release)",
                self.unknown_codenames
            ));
        }
        if !self.unknown_urgencies.is_empty() {
            sink.warn(format!("{name}: unknown urgencies {:?} rated UNKNOWN", self.unknown_urgencies));
        }
    }
}

/// Streams one source package's value. Returns whether it looked like a tracker package (an
/// object of CVE entries); anything else is consumed and ignored.
pub(crate) struct PackageSeed<'a, 's> {
    pub(crate) package: &'a str,
    pub(crate) state: &'a mut TrackerState,
    pub(crate) sink: &'a mut Sink<'s>,
    /// The file, for messages.
    pub(crate) context: &'a str,
}

impl<'de> DeserializeSeed<'de> for PackageSeed<'_, '_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PackageSeed<'_, '_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Debian tracker source package: an object of CVE entries")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<bool, A::Error> {
        let mut entries = 0;
        while let Some(cve) = map.next_key::<String>()? {
            let value: Value = map.next_value()?;
            let Value::Object(fields) = value else { continue };
            if !fields.contains_key("releases") {
                continue;
            }
            entries += 1;
            self.state.entries += 1;
            match serde_json::from_value::<TrackerCve>(Value::Object(fields)) {
                Ok(entry) => self.entry(&cve, entry),
                Err(e) => self
                    .sink
                    .warn(format!("{}: {}/{cve}: unexpected tracker entry: {e}; skipped", self.context, self.package)),
            }
        }
        Ok(entries > 0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<bool, A::Error> {
        super::ingest::skip_seq(seq).map(|()| false)
    }

    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
}

#[derive(Deserialize)]
struct TrackerCve {
    #[serde(default)]
    description: Option<String>,
    #[serde(deserialize_with = "releases")]
    releases: BTreeMap<String, TrackerRelease>,
}

#[derive(Deserialize)]
struct TrackerRelease {
    status: String,
    #[serde(default)]
    fixed_version: Option<String>,
    #[serde(default)]
    urgency: Option<String>,
    #[serde(default)]
    nodsa: Option<String>,
    #[serde(default)]
    nodsa_reason: Option<String>,
}

/// `releases` is an object, but an entry without releases has `[]` (seen in real data).
fn releases<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, TrackerRelease>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum MapOrList {
        Map(BTreeMap<String, TrackerRelease>),
        List(Vec<serde::de::IgnoredAny>),
    }
    match MapOrList::deserialize(deserializer)? {
        MapOrList::Map(map) => Ok(map),
        MapOrList::List(list) if list.is_empty() => Ok(BTreeMap::new()),
        MapOrList::List(_) => Err(serde::de::Error::custom("`releases` is a non-empty list, expected an object")),
    }
}

impl PackageSeed<'_, '_> {
    fn entry(&mut self, cve: &str, entry: TrackerCve) {
        let summary = entry.description.as_deref().and_then(super::index::one_line);
        for (codename, release) in &entry.releases {
            self.release(cve, summary.as_deref(), codename, release);
        }
    }

    fn release(&mut self, cve: &str, summary: Option<&str>, codename: &str, release: &TrackerRelease) {
        let (package, context) = (self.package, self.context);
        if codename.trim().is_empty() {
            self.sink.warn(format!("{context}: {package}/{cve}: a release without a name; skipped"));
            return;
        }
        let release_name = match debian_release_of_codename(codename) {
            Some(number) => number.to_owned(),
            None => {
                self.state.unknown_codenames.insert(codename.to_owned());
                codename.to_owned()
            }
        };
        let ecosystem = Ecosystem::Debian { release: release_name };
        let urgency_text = release.urgency.as_deref().unwrap_or("");
        let (severity, urgency_note) = urgency(urgency_text).unwrap_or_else(|| {
            self.state.unknown_urgencies.insert(urgency_text.to_owned());
            (Severity::Unknown, None)
        });
        let mut notes: Vec<String> = urgency_note.map(str::to_owned).into_iter().collect();
        let nodsa = release.nodsa.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let nodsa_reason = release.nodsa_reason.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let status = match release.status.as_str() {
            "resolved" => match release.fixed_version.as_deref().map(str::trim) {
                Some("0") => AdvisoryStatus::NotAffected,
                Some(version) if version.starts_with(|c: char| c.is_ascii_digit()) => {
                    AdvisoryStatus::Fixed { version: version.to_owned() }
                }
                other => {
                    self.sink.warn(format!(
                        "{context}: {package}/{cve} in {codename}: resolved without a usable fixed version ({other:?}); recorded as affected"
                    ));
                    notes.push(format!("resolved without a usable fixed version ({})", other.unwrap_or("none")));
                    AdvisoryStatus::Affected
                }
            },
            "open" => {
                if let Some(text) = nodsa {
                    notes.push(format!("no DSA: {text}"));
                }
                if let Some(reason) = nodsa_reason {
                    notes.push(format!("nodsa_reason: {reason}"));
                }
                match nodsa_reason {
                    Some("ignored") => AdvisoryStatus::WillNotFix,
                    Some("postponed") => AdvisoryStatus::FixDeferred,
                    _ => AdvisoryStatus::Affected,
                }
            }
            "undetermined" => {
                notes.push("undetermined".to_owned());
                AdvisoryStatus::Affected
            }
            other => {
                self.sink.tally(format!("{context}: release entries with unknown status {other:?} skipped"));
                return;
            }
        };
        let note = (!notes.is_empty()).then(|| notes.join("; "));
        self.sink.push(NewAdvisory {
            id: cve,
            aliases: &[],
            ecosystem: &ecosystem,
            package,
            status,
            severity,
            summary,
            note: note.as_deref(),
            source: SOURCE,
        });
        self.state.records += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urgencies_map_to_severities() {
        assert_eq!(urgency("high**"), Some((Severity::High, None)));
        assert_eq!(urgency("low (**)"), Some((Severity::Low, None)));
        assert_eq!(urgency("medium"), Some((Severity::Medium, None)));
        assert_eq!(urgency("unimportant"), Some((Severity::Low, Some("unimportant"))));
        assert_eq!(urgency("not yet assigned"), Some((Severity::Unknown, None)));
        assert_eq!(urgency("end-of-life"), Some((Severity::Unknown, Some("end-of-life"))));
        assert_eq!(urgency("dire"), None);
    }
}
