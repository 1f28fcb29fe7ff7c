//! End-of-life tables (Debian and Ubuntu from `distro-info-data`, Alpine's release
//! page) and the lookup of a release in them.

use std::collections::BTreeMap;

use serde::Serialize;

use super::alpine_branch;

/// Debian releases from `distro-info-data` (see `data/README.md`).
pub(super) const DEBIAN_CSV: &str = include_str!("../../data/debian.csv");
/// Ubuntu releases from `distro-info-data`.
pub(super) const UBUNTU_CSV: &str = include_str!("../../data/ubuntu.csv");

/// End of support of each Alpine branch's `main` repository (the date after which no
/// security fixes are published), as listed on <https://alpinelinux.org/releases/> ("main
/// repository" end of support; branches 3.16–3.23 checked against that page's dates as
/// recorded by Trivy's `pkg/detector/ospkg/alpine/alpine.go` after its fix of the
/// 3.21/3.22 dates, and by the Alpine wiki's release list). Community repositories end
/// earlier (at the next stable release); `edge` is rolling and never ends.
pub(super) const ALPINE_EOL: &[(&str, &str)] = &[
    ("2.0", "2012-04-01"),
    ("2.1", "2012-11-01"),
    ("2.2", "2013-05-01"),
    ("2.3", "2013-11-01"),
    ("2.4", "2014-05-01"),
    ("2.5", "2014-11-01"),
    ("2.6", "2015-05-01"),
    ("2.7", "2015-11-01"),
    ("3.0", "2016-05-01"),
    ("3.1", "2016-11-01"),
    ("3.2", "2017-05-01"),
    ("3.3", "2017-11-01"),
    ("3.4", "2018-05-01"),
    ("3.5", "2018-11-01"),
    ("3.6", "2019-05-01"),
    ("3.7", "2019-11-01"),
    ("3.8", "2020-05-01"),
    ("3.9", "2020-11-01"),
    ("3.10", "2021-05-01"),
    ("3.11", "2021-11-01"),
    ("3.12", "2022-05-01"),
    ("3.13", "2022-11-01"),
    ("3.14", "2023-05-01"),
    ("3.15", "2023-11-01"),
    ("3.16", "2024-05-23"),
    ("3.17", "2024-11-22"),
    ("3.18", "2025-05-09"),
    ("3.19", "2025-11-01"),
    ("3.20", "2026-04-01"),
    ("3.21", "2026-11-01"),
    ("3.22", "2027-05-01"),
    ("3.23", "2027-11-01"),
];

/// When a release stops receiving security fixes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Eol {
    /// The last day of regular security support (`YYYY-MM-DD`): Debian's `eol` (DSAs),
    /// Ubuntu's `eol-server`, Alpine's end of support for `main`.
    pub date: String,
    /// Whether "today" is later than [`Eol::date`].
    pub reached: bool,
    /// The end of extended support, when the release has one: Debian LTS (`eol-lts`,
    /// DLAs) or Ubuntu ESM (`eol-esm`).
    pub extended: Option<String>,
}

/// The end of life of a release, by the rules in `data/README.md`.
pub(super) fn eol_for(id: &str, version_id: Option<&str>, today: &str) -> Option<Eol> {
    let version = version_id?;
    let (date, extended) = match id {
        "debian" => {
            let row = csv_find(DEBIAN_CSV, |r| r.get("version").is_some_and(|v| *v == version))?;
            (row.get("eol")?.to_string(), row.get("eol-lts").map(|s| s.to_string()))
        }
        "ubuntu" => {
            let row = csv_find(UBUNTU_CSV, |r| {
                r.get("version").and_then(|v| v.split_whitespace().next()).is_some_and(|v| v == version)
            })?;
            let date = row.get("eol-server").or_else(|| row.get("eol"))?;
            (date.to_string(), row.get("eol-esm").map(|s| s.to_string()))
        }
        "alpine" => {
            let branch = alpine_branch(version)?;
            let branch = branch.strip_prefix('v')?;
            let (_, date) = ALPINE_EOL.iter().find(|(b, _)| *b == branch)?;
            ((*date).to_owned(), None)
        }
        _ => return None,
    };
    Some(Eol { reached: today > date.as_str(), date, extended })
}

/// The first row of a CSV file (header line first; no quoting) that `pred` accepts, as a
/// map from column name to non-empty value.
fn csv_find<'a>(
    csv: &'a str,
    pred: impl Fn(&BTreeMap<&'a str, &'a str>) -> bool,
) -> Option<BTreeMap<&'a str, &'a str>> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next()?.split(',').collect();
    lines
        .map(|line| {
            header.iter().copied().zip(line.split(',')).filter(|(_, v)| !v.is_empty()).collect::<BTreeMap<_, _>>()
        })
        .find(|row| pred(row))
}
