//! Alpine secdb: per-package files as vuln-list mirrors them
//! (`{"name", "secfixes": {version: [ids]}, "distroversion": "v3.20", "reponame"}`) and
//! per-branch files as `https://secdb.alpinelinux.org/v3.20/main.json` publishes them
//! (`{"distroversion", "reponame", "packages": [{"pkg": {"name", "secfixes"}}]}`).
//!
//! Each id under a version key is fixed in that version; the key `"0"` means the branch
//! was never affected. An entry may carry more than one id or a comment
//! (`"CVE-2020-1234 GHSA-xxxx (comment)"`): the first CVE is the advisory id, other ids are
//! aliases, the rest is the note. The package is the apk origin (source) name.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::index::{NewAdvisory, Sink};
use super::model::{AdvisoryStatus, Ecosystem, Severity};

/// [`super::Advisory::source`] of secdb advisories.
pub(crate) const SOURCE: &str = "alpine-secdb";

type Secfixes = BTreeMap<String, Vec<Option<String>>>;

fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

#[derive(Deserialize)]
struct PackageFile {
    name: String,
    #[serde(default, deserialize_with = "nullable")]
    secfixes: Secfixes,
    #[serde(default)]
    distroversion: Option<String>,
}

#[derive(Deserialize)]
struct BranchFile {
    distroversion: String,
    #[serde(default, deserialize_with = "nullable")]
    packages: Vec<Value>,
}

#[derive(Deserialize)]
struct BranchEntry {
    pkg: BranchPackage,
}

#[derive(Deserialize)]
struct BranchPackage {
    name: String,
    #[serde(default, deserialize_with = "nullable")]
    secfixes: Secfixes,
}

pub(crate) fn ingest_package_file(value: Value, context: &str, sink: &mut Sink<'_>) {
    sink.recognized(SOURCE);
    let file: PackageFile = match serde_json::from_value(value) {
        Ok(file) => file,
        Err(e) => return sink.warn(format!("{context}: not a valid Alpine secdb package file: {e}; skipped")),
    };
    let Some(distroversion) = file.distroversion.as_deref().filter(|d| !d.trim().is_empty()) else {
        return sink
            .warn(format!("{context}: secdb file for {} has no distroversion, so no branch; skipped", file.name));
    };
    package(&Ecosystem::alpine(distroversion), &file.name, &file.secfixes, context, sink);
}

pub(crate) fn ingest_branch_file(value: Value, context: &str, sink: &mut Sink<'_>) {
    sink.recognized(SOURCE);
    let file: BranchFile = match serde_json::from_value(value) {
        Ok(file) => file,
        Err(e) => return sink.warn(format!("{context}: not a valid Alpine secdb branch file: {e}; skipped")),
    };
    let ecosystem = Ecosystem::alpine(&file.distroversion);
    for (index, entry) in file.packages.into_iter().enumerate() {
        match serde_json::from_value::<BranchEntry>(entry) {
            Ok(entry) => package(&ecosystem, &entry.pkg.name, &entry.pkg.secfixes, context, sink),
            Err(e) => sink.warn(format!("{context}: packages[{index}]: {e}; skipped")),
        }
    }
}

fn package(ecosystem: &Ecosystem, name: &str, secfixes: &Secfixes, context: &str, sink: &mut Sink<'_>) {
    for (version, entries) in secfixes {
        let version = version.trim();
        let status = match version {
            "0" => AdvisoryStatus::NotAffected,
            "" => {
                sink.warn(format!("{context}: {name}: ids under an empty version; skipped"));
                continue;
            }
            _ => AdvisoryStatus::Fixed { version: version.to_owned() },
        };
        for entry in entries {
            let Some((id, aliases, note)) = entry.as_deref().and_then(parse_entry) else {
                sink.warn(format!("{context}: {name} {version}: entry {entry:?} names no vulnerability id; skipped"));
                continue;
            };
            sink.push(NewAdvisory {
                id,
                aliases: &aliases,
                ecosystem,
                package: name,
                status: status.clone(),
                severity: Severity::Unknown,
                summary: None,
                note: note.as_deref(),
                source: SOURCE,
            });
        }
    }
}

/// Splits `"CVE-2020-1234 GHSA-xxxx (comment)"` into the advisory id (the first CVE, else the
/// first id), the other ids, and the remaining text.
fn parse_entry(entry: &str) -> Option<(&str, Vec<&str>, Option<String>)> {
    let mut ids = Vec::new();
    let mut rest = Vec::new();
    for token in entry.split_whitespace() {
        let trimmed = token.trim_end_matches([',', ';']);
        if looks_like_id(trimmed) {
            ids.push(trimmed);
        } else {
            rest.push(token);
        }
    }
    let primary = ids.iter().position(|id| id.starts_with("CVE-")).unwrap_or(0);
    if ids.is_empty() {
        return None;
    }
    let id = ids.remove(primary);
    let note = rest.join(" ");
    let note = note.trim().trim_start_matches('(').trim_end_matches(')').trim();
    Some((id, ids, (!note.is_empty()).then(|| note.to_owned())))
}

/// `CVE-2021-3711`, `ALPINE-13661`, `GHSA-…`, `XSA-123`: upper-case letters, a dash, then
/// letters, digits and dashes.
fn looks_like_id(token: &str) -> bool {
    let Some((prefix, rest)) = token.split_once('-') else { return false };
    !prefix.is_empty()
        && prefix.chars().all(|c| c.is_ascii_uppercase())
        && !rest.is_empty()
        && rest.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

#[cfg(test)]
mod tests {
    use super::parse_entry;

    #[test]
    fn entries_split_into_id_aliases_and_note() {
        assert_eq!(parse_entry("CVE-2021-3711"), Some(("CVE-2021-3711", vec![], None)));
        assert_eq!(parse_entry("ALPINE-13661"), Some(("ALPINE-13661", vec![], None)));
        assert_eq!(
            parse_entry("GHSA-abcd-efgh-ijkl CVE-2020-1234, (not in this branch)"),
            Some(("CVE-2020-1234", vec!["GHSA-abcd-efgh-ijkl"], Some("not in this branch".to_owned())))
        );
        assert_eq!(parse_entry("  "), None);
        assert_eq!(parse_entry("see upstream"), None);
    }
}
