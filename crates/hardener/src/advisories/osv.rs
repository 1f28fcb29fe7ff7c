//! OSV records (<https://ossf.github.io/osv-schema/>) for the `Debian:N`, `Alpine:vX.Y` and
//! `Ubuntu:…` ecosystems.
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
//!   entry, then of the record), else `database_specific.severity`; for Ubuntu, CVSS, else
//!   Ubuntu's priority (`ecosystem_specific.ubuntu_priority` or `database_specific.ubuntu_priority`
//!   of the entry, else the record's `severity[]` entry of type `Ubuntu`), mapped by
//!   [`Severity::from_ubuntu_priority`];
//! - Ubuntu records (<https://github.com/canonical/ubuntu-security-notices>, `osv/cve/`) come
//!   in two shapes: `"id": "CVE-…"` (older files), and `"id": "UBUNTU-CVE-…"` with the CVE in
//!   `upstream` or only in `related`. The CVE is the advisory id either way (taken from the
//!   `UBUNTU-CVE-…` id itself), aliased to the record id and the `USN-…` notices in
//!   `related`. Each ecosystem (`Ubuntu:24.04:LTS`, `Ubuntu:Pro:24.04:LTS`,
//!   `Ubuntu:Pro:FIPS-updates:24.04:LTS`, …) is kept apart; the `versions` lists, which stop
//!   at the last version published when the record was written, are never read;
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
    #[serde(default, deserialize_with = "nullable")]
    related: Vec<String>,
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

    // An Ubuntu record's id names its CVE (`UBUNTU-CVE-2024-4603`), which the older schema
    // lists only in `related`.
    let ubuntu_cve = id.strip_prefix("UBUNTU-").filter(|cve| cve.starts_with("CVE-"));
    let mut cves: Vec<&str> = Vec::new();
    for candidate in std::iter::once(id)
        .chain(ubuntu_cve)
        .chain(record.aliases.iter().map(String::as_str))
        .chain(record.upstream.iter().map(String::as_str))
    {
        if candidate.starts_with("CVE-") && !cves.contains(&candidate) {
            cves.push(candidate);
        }
    }
    let ubuntu_notices =
        record.related.iter().map(String::as_str).filter(|r| ubuntu_cve.is_some() && r.starts_with("USN-"));
    let other_ids: Vec<&str> = record
        .aliases
        .iter()
        .map(String::as_str)
        .chain(ubuntu_notices)
        .filter(|a| !a.starts_with("CVE-") && *a != id)
        .collect();
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
    let record_cvss = cvss_severity(&record.severity);
    let record_severity = record_cvss.or_else(|| text_severity(record.database_specific.as_ref()));
    let record_ubuntu_priority = record
        .severity
        .iter()
        .filter(|s| s.kind == UBUNTU_SCORE)
        .find_map(|s| Severity::from_ubuntu_priority(&s.score));

    for affected in &record.affected {
        let Some(package) = &affected.package else {
            sink.warn(format!("{context}: {id}: an affected entry without a package; skipped"));
            continue;
        };
        let Ok(ecosystem) = package.ecosystem.parse::<Ecosystem>() else {
            sink.tally(format!(
                "OSV affected entries in ecosystem {:?} skipped (only Debian:N, Alpine:vX.Y and Ubuntu:… are used)",
                package.ecosystem
            ));
            continue;
        };
        let where_ = format!("{context}: {id}: {} ({})", package.name, package.ecosystem);
        let urgency = matches!(ecosystem, Ecosystem::Debian { .. })
            .then(|| affected.ecosystem_specific.as_ref()?.get("urgency")?.as_str())
            .flatten()
            .and_then(super::debian::urgency);
        let severity = if matches!(ecosystem, Ecosystem::Ubuntu { .. }) {
            cvss_severity(&affected.severity)
                .or(record_cvss)
                .or_else(|| ubuntu_priority(affected))
                .or(record_ubuntu_priority)
                .unwrap_or_default()
        } else {
            urgency
                .map(|(severity, _)| severity)
                .or_else(|| cvss_severity(&affected.severity))
                .or_else(|| text_severity(affected.database_specific.as_ref()))
                .or(record_severity)
                .unwrap_or_default()
        };
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

/// The `severity[]` type under which Ubuntu records give their priority (schema 1.7).
const UBUNTU_SCORE: &str = "Ubuntu";

/// Ubuntu's priority for one affected entry (schema 1.6 records), in `ecosystem_specific`
/// or `database_specific`.
fn ubuntu_priority(affected: &Affected) -> Option<Severity> {
    [&affected.ecosystem_specific, &affected.database_specific]
        .into_iter()
        .find_map(|specific| specific.as_ref()?.get("ubuntu_priority")?.as_str())
        .and_then(Severity::from_ubuntu_priority)
}

/// The severity from CVSS scores: v3 vectors first, then v4 numeric scores, then v2, then any
/// other entry whose score is a number or a severity name (Ubuntu's priority excepted: see
/// [`ubuntu_priority`]); the highest of the kind found.
fn cvss_severity(scores: &[ScoreEntry]) -> Option<Severity> {
    let of_kind = |kinds: &[&str]| {
        scores.iter().filter(|s| kinds.contains(&s.kind.as_str())).filter_map(|s| Severity::from_cvss(&s.score)).max()
    };
    of_kind(&["CVSS_V3"]).or_else(|| of_kind(&["CVSS_V4"])).or_else(|| of_kind(&["CVSS_V2"])).or_else(|| {
        scores
            .iter()
            .filter(|s| s.kind != UBUNTU_SCORE)
            .filter_map(|s| Severity::from_cvss(&s.score).or_else(|| s.score.parse().ok()))
            .filter(|s| *s != Severity::Unknown)
            .max()
    })
}

/// `database_specific.severity` as GitHub and others write it (`HIGH`, `Moderate`).
fn text_severity(database_specific: Option<&Value>) -> Option<Severity> {
    database_specific?.get("severity")?.as_str()?.parse().ok().filter(|s| *s != Severity::Unknown)
}
