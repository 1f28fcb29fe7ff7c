//! OSV records (<https://ossf.github.io/osv-schema/>) for the `Debian:N` and `Alpine:vX.Y`
//! ecosystems.
//!
//! Mapping, per `affected[]` entry with an `ECOSYSTEM` range:
//! - the last event `fixed: X` → fixed in X; no `fixed` (or an `introduced` after the last
//!   one) → affected; `last_affected: X` → affected, noted; an `introduced` other than `"0"`
//!   is noted (the lower bound is not modelled);
//! - `GIT` and `SEMVER` ranges mean nothing for distribution packages, and unknown types
//!   are unknown: both are skipped with a warning, as are entries listing only `versions`;
//! - ids: one advisory per CVE named by the record (`id`, `aliases`, `upstream`), each
//!   aliased to the record's own id and its non-CVE aliases; a record naming no CVE makes
//!   one advisory under its own id;
//! - severity: the Debian urgency in `ecosystem_specific`, else CVSS (`severity[]` of the
//!   entry, then of the record), else `database_specific.severity`;
//! - a record with no `affected` entry (DLA-3623-1 lists 44 upstream CVEs and none) adds
//!   nothing and says so; withdrawn records are skipped.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::index::{NewAdvisory, Sink};
use super::model::{AdvisoryStatus, Ecosystem, Severity};

/// [`super::Advisory::source`] of OSV advisories.
pub(crate) const SOURCE: &str = "osv";

/// `null` reads as the default, as OSV exporters write either.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

#[derive(Deserialize)]
struct Record {
    id: String,
    #[serde(default, deserialize_with = "nullable")]
    aliases: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    upstream: Vec<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    severity: Vec<ScoreEntry>,
    #[serde(default, deserialize_with = "nullable")]
    affected: Vec<Affected>,
    #[serde(default)]
    database_specific: Option<Value>,
}

#[derive(Deserialize)]
struct ScoreEntry {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    score: String,
}

#[derive(Deserialize)]
struct Affected {
    #[serde(default)]
    package: Option<Package>,
    #[serde(default, deserialize_with = "nullable")]
    ranges: Vec<Range>,
    #[serde(default, deserialize_with = "nullable")]
    versions: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    severity: Vec<ScoreEntry>,
    #[serde(default)]
    ecosystem_specific: Option<Value>,
    #[serde(default)]
    database_specific: Option<Value>,
}

#[derive(Deserialize)]
struct Package {
    ecosystem: String,
    name: String,
}

#[derive(Deserialize)]
struct Range {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    events: Vec<Event>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(default)]
    introduced: Option<String>,
    #[serde(default)]
    fixed: Option<String>,
    #[serde(default)]
    last_affected: Option<String>,
    #[serde(default)]
    limit: Option<String>,
}

pub(crate) fn ingest_record(value: Value, context: &str, sink: &mut Sink<'_>) {
    sink.recognized(SOURCE);
    let record: Record = match serde_json::from_value(value) {
        Ok(record) => record,
        Err(e) => {
            sink.warn(format!("{context}: not a valid OSV record: {e}; skipped"));
            return;
        }
    };
    let id = record.id.as_str();
    if record.withdrawn.is_some() {
        sink.tally("withdrawn OSV records skipped");
        return;
    }
    if record.affected.is_empty() {
        let upstream = match record.upstream.len() {
            0 => String::new(),
            n => format!(" (it names {n} upstream ids, first {})", record.upstream[0]),
        };
        sink.warn(format!("{context}: OSV record {id} has no affected package{upstream}; nothing ingested from it"));
        return;
    }

    let mut cves: Vec<&str> = Vec::new();
    for candidate in std::iter::once(&record.id).chain(&record.aliases).chain(&record.upstream) {
        if candidate.starts_with("CVE-") && !cves.contains(&candidate.as_str()) {
            cves.push(candidate);
        }
    }
    let other_ids: Vec<&str> =
        record.aliases.iter().map(String::as_str).filter(|a| !a.starts_with("CVE-") && *a != id).collect();
    // (advisory id, its aliases)
    let ids: Vec<(&str, Vec<&str>)> = if cves.is_empty() {
        vec![(id, other_ids)]
    } else {
        cves.iter()
            .map(|cve| {
                let mut aliases: Vec<&str> = Vec::new();
                if id != *cve {
                    aliases.push(id);
                }
                aliases.extend(other_ids.iter().copied());
                (*cve, aliases)
            })
            .collect()
    };
    let summary = summary_of(&record);
    let record_severity = cvss_severity(&record.severity).or_else(|| text_severity(record.database_specific.as_ref()));

    for affected in &record.affected {
        let Some(package) = &affected.package else {
            sink.warn(format!("{context}: {id}: an affected entry without a package; skipped"));
            continue;
        };
        let Ok(ecosystem) = package.ecosystem.parse::<Ecosystem>() else {
            sink.tally(format!(
                "OSV affected entries in ecosystem {:?} skipped (only Debian:N and Alpine:vX.Y are used)",
                package.ecosystem
            ));
            continue;
        };
        let where_ = format!("{context}: {id}: {} ({})", package.name, package.ecosystem);
        let urgency = matches!(ecosystem, Ecosystem::Debian { .. })
            .then(|| affected.ecosystem_specific.as_ref()?.get("urgency")?.as_str())
            .flatten()
            .and_then(super::debian::urgency);
        let severity = urgency
            .map(|(severity, _)| severity)
            .or_else(|| cvss_severity(&affected.severity))
            .or_else(|| text_severity(affected.database_specific.as_ref()))
            .or(record_severity)
            .unwrap_or_default();
        let urgency_note = urgency.and_then(|(_, note)| note);

        let mut statuses = Vec::new();
        for range in &affected.ranges {
            match range.kind.as_deref() {
                Some("ECOSYSTEM") => match range_status(&range.events) {
                    Some(status) => statuses.push(status),
                    None => sink.warn(format!("{where_}: an ECOSYSTEM range without events; skipped")),
                },
                Some(kind @ ("GIT" | "SEMVER")) => {
                    sink.warn(format!("{where_}: a {kind} range has no meaning for distribution packages; skipped"))
                }
                Some(kind) => sink.warn(format!("{where_}: unknown range type {kind:?}; skipped")),
                None => sink.warn(format!("{where_}: a range without a type; skipped")),
            }
        }
        if affected.ranges.is_empty() {
            let what = if affected.versions.is_empty() { "no ranges" } else { "only a list of versions, no range" };
            sink.warn(format!("{where_}: {what}; skipped"));
        }
        for (status, range_notes) in statuses {
            let notes: Vec<&str> = urgency_note.into_iter().chain(range_notes.iter().map(String::as_str)).collect();
            let note = (!notes.is_empty()).then(|| notes.join("; "));
            for (advisory_id, aliases) in &ids {
                sink.push(NewAdvisory {
                    id: advisory_id,
                    aliases,
                    ecosystem: &ecosystem,
                    package: &package.name,
                    status: status.clone(),
                    severity,
                    summary: summary.as_deref(),
                    note: note.as_deref(),
                    source: SOURCE,
                });
            }
        }
    }
}

/// The status an ECOSYSTEM range leaves the newest versions in, with notes on what the
/// model cannot say. `None` for a range without events.
fn range_status(events: &[Event]) -> Option<(AdvisoryStatus, Vec<String>)> {
    if events.is_empty() {
        return None;
    }
    let mut status = AdvisoryStatus::Affected;
    let mut notes = Vec::new();
    for event in events {
        if let Some(version) = &event.introduced {
            if version != "0" {
                notes.push(format!("introduced in {version}"));
            }
            status = AdvisoryStatus::Affected;
        }
        if let Some(version) = &event.fixed {
            status = AdvisoryStatus::Fixed { version: version.clone() };
        }
        if let Some(version) = &event.last_affected {
            notes.push(format!("last affected version {version}"));
            status = AdvisoryStatus::Affected;
        }
        if let Some(version) = &event.limit {
            notes.push(format!("range limit {version}"));
        }
    }
    Some((status, notes))
}

/// The summary, else the first paragraph of the details (a Debian CVE record's details are
/// the tracker's description), as [`super::index::one_line`].
fn summary_of(record: &Record) -> Option<String> {
    let text = record
        .summary
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| record.details.as_deref()?.trim().split("\n\n").next())?;
    super::index::one_line(text)
}

/// The severity from CVSS scores: v3 vectors first, then v4 numeric scores, then v2, then any
/// other entry whose score is a number or a severity name; the highest of the kind found.
fn cvss_severity(scores: &[ScoreEntry]) -> Option<Severity> {
    let of_kind = |kinds: &[&str]| {
        scores.iter().filter(|s| kinds.contains(&s.kind.as_str())).filter_map(|s| Severity::from_cvss(&s.score)).max()
    };
    of_kind(&["CVSS_V3"]).or_else(|| of_kind(&["CVSS_V4"])).or_else(|| of_kind(&["CVSS_V2"])).or_else(|| {
        scores
            .iter()
            .filter_map(|s| Severity::from_cvss(&s.score).or_else(|| s.score.parse().ok()))
            .filter(|s| *s != Severity::Unknown)
            .max()
    })
}

/// `database_specific.severity` as GitHub and others write it (`HIGH`, `Moderate`).
fn text_severity(database_specific: Option<&Value>) -> Option<Severity> {
    database_specific?.get("severity")?.as_str()?.parse().ok().filter(|s| *s != Severity::Unknown)
}
