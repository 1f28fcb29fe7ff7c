//! The in-memory index: compact records with shared strings, grouped by ecosystem and source
//! package, materialised as [`Advisory`] values only for the packages a scan asks about.
//!
//! A full Debian tracker ingest is hundreds of thousands of (CVE, package, release)
//! records that repeat the same CVE ids, descriptions, versions and notes. Each string is
//! stored once ([`Interner`]) and a record is a few reference-counted pointers (~100 bytes),
//! so a full database stays well under the 128 MiB a scan may use.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use super::model::{Advisory, AdvisoryStatus, Ecosystem, Severity};

/// A shared, immutable string.
pub(crate) type Str = Arc<str>;

/// Hands out one shared copy of each distinct string.
#[derive(Default)]
pub(crate) struct Interner(HashSet<Str>);

impl Interner {
    pub(crate) fn intern(&mut self, s: &str) -> Str {
        if let Some(shared) = self.0.get(s) {
            return shared.clone();
        }
        let shared: Str = Arc::from(s);
        self.0.insert(shared.clone());
        shared
    }
}

/// The status without its version, which [`Record::fixed`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum StatusKind {
    Fixed,
    Affected,
    WillNotFix,
    FixDeferred,
    NotAffected,
}

impl StatusKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StatusKind::Fixed => "fixed",
            StatusKind::Affected => "affected",
            StatusKind::WillNotFix => "will_not_fix",
            StatusKind::FixDeferred => "fix_deferred",
            StatusKind::NotAffected => "not_affected",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        [Self::Fixed, Self::Affected, Self::WillNotFix, Self::FixDeferred, Self::NotAffected]
            .into_iter()
            .find(|kind| kind.as_str() == s)
    }
}

/// One advisory, without its ecosystem and package (the bucket's key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) id: Str,
    pub(crate) aliases: Box<[Str]>,
    pub(crate) kind: StatusKind,
    /// The fixed version, for [`StatusKind::Fixed`].
    pub(crate) fixed: Option<Str>,
    pub(crate) severity: Severity,
    pub(crate) summary: Option<Str>,
    pub(crate) note: Option<Str>,
    pub(crate) source: Str,
    /// Which ingested source it came from (an index into the database's sources).
    pub(crate) origin: u32,
}

impl Record {
    fn status(&self) -> AdvisoryStatus {
        match (self.kind, &self.fixed) {
            (StatusKind::Fixed, Some(version)) => AdvisoryStatus::Fixed { version: version.to_string() },
            (StatusKind::Fixed, None) => AdvisoryStatus::Affected,
            (StatusKind::Affected, _) => AdvisoryStatus::Affected,
            (StatusKind::WillNotFix, _) => AdvisoryStatus::WillNotFix,
            (StatusKind::FixDeferred, _) => AdvisoryStatus::FixDeferred,
            (StatusKind::NotAffected, _) => AdvisoryStatus::NotAffected,
        }
    }

    fn sort_key(&self) -> impl Ord + '_ {
        (&self.id, &self.source, self.origin, self.kind, &self.fixed, &self.aliases, &self.note)
    }
}

/// The records of one (ecosystem, source package), and their public form once asked for.
#[derive(Default)]
pub(crate) struct Bucket {
    pub(crate) records: Vec<Record>,
    view: OnceLock<Vec<Advisory>>,
}

impl Bucket {
    pub(crate) fn view(&self, ecosystem: &Ecosystem, package: &str) -> &[Advisory] {
        self.view.get_or_init(|| {
            let mut records: Vec<&Record> = self.records.iter().collect();
            records.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
            records
                .into_iter()
                .map(|r| Advisory {
                    id: r.id.to_string(),
                    aliases: r.aliases.iter().map(|a| a.to_string()).collect(),
                    ecosystem: ecosystem.clone(),
                    package: package.to_owned(),
                    status: r.status(),
                    severity: r.severity,
                    summary: r.summary.as_deref().map(str::to_owned),
                    note: r.note.as_deref().map(str::to_owned),
                    source: r.source.to_string(),
                })
                .collect()
        })
    }
}

/// Records by ecosystem, then source package.
#[derive(Default)]
pub(crate) struct Index {
    pub(crate) ecosystems: BTreeMap<Ecosystem, HashMap<Str, Bucket>>,
    pub(crate) len: usize,
}

impl Index {
    pub(crate) fn push(&mut self, ecosystem: &Ecosystem, package: Str, record: Record) {
        let packages = match self.ecosystems.get_mut(ecosystem) {
            Some(packages) => packages,
            None => self.ecosystems.entry(ecosystem.clone()).or_default(),
        };
        let bucket = packages.entry(package).or_default();
        bucket.view.take();
        bucket.records.push(record);
        self.len += 1;
    }

    pub(crate) fn get(&self, ecosystem: &Ecosystem, package: &str) -> Option<&Bucket> {
        self.ecosystems.get(ecosystem)?.get(package)
    }

    /// Drops every record of `origin`.
    pub(crate) fn remove_origin(&mut self, origin: u32) {
        let mut removed = 0;
        for packages in self.ecosystems.values_mut() {
            packages.retain(|_, bucket| {
                let before = bucket.records.len();
                bucket.records.retain(|r| r.origin != origin);
                if bucket.records.len() != before {
                    removed += before - bucket.records.len();
                    bucket.view.take();
                }
                !bucket.records.is_empty()
            });
        }
        self.ecosystems.retain(|_, packages| !packages.is_empty());
        self.len -= removed;
    }

    /// Moves every record of `other` in (whole buckets where this index has none).
    pub(crate) fn merge(&mut self, other: Index) {
        self.len += other.len;
        for (ecosystem, packages) in other.ecosystems {
            let Some(existing) = self.ecosystems.get_mut(&ecosystem) else {
                self.ecosystems.insert(ecosystem, packages);
                continue;
            };
            for (package, mut bucket) in packages {
                match existing.entry(package) {
                    Entry::Vacant(vacant) => {
                        vacant.insert(bucket);
                    }
                    Entry::Occupied(mut occupied) => {
                        let target = occupied.get_mut();
                        target.view.take();
                        target.records.append(&mut bucket.records);
                    }
                }
            }
        }
    }

    /// Adds one package's records (drained from `records`), each bucket allocated once.
    pub(crate) fn add_package(&mut self, package: Str, records: &mut Vec<(Ecosystem, Record)>) {
        records.sort_by(|a, b| a.0.cmp(&b.0));
        let mut drain = records.drain(..).peekable();
        while let Some((ecosystem, first)) = drain.next() {
            let mut run = vec![first];
            while let Some((_, record)) = drain.next_if(|(next, _)| *next == ecosystem) {
                run.push(record);
            }
            run.shrink_to_fit();
            self.len += run.len();
            let packages = self.ecosystems.entry(ecosystem).or_default();
            match packages.entry(package.clone()) {
                Entry::Vacant(vacant) => {
                    vacant.insert(Bucket { records: run, view: OnceLock::new() });
                }
                Entry::Occupied(mut occupied) => {
                    let bucket = occupied.get_mut();
                    bucket.view.take();
                    bucket.records.reserve_exact(run.len());
                    bucket.records.append(&mut run);
                }
            }
        }
    }

    /// Gives back the spare capacity of growing vectors: records are many and small.
    pub(crate) fn shrink_to_fit(&mut self) {
        for packages in self.ecosystems.values_mut() {
            packages.shrink_to_fit();
            for bucket in packages.values_mut() {
                bucket.records.shrink_to_fit();
            }
        }
    }

    pub(crate) fn ecosystem_counts(&self) -> Vec<(Ecosystem, usize)> {
        self.ecosystems
            .iter()
            .map(|(ecosystem, packages)| (ecosystem.clone(), packages.values().map(|b| b.records.len()).sum()))
            .collect()
    }
}

/// An advisory on its way into the index, borrowing from the parser's data.
pub(crate) struct NewAdvisory<'a> {
    pub(crate) id: &'a str,
    pub(crate) aliases: &'a [&'a str],
    pub(crate) ecosystem: &'a Ecosystem,
    pub(crate) package: &'a str,
    pub(crate) status: AdvisoryStatus,
    pub(crate) severity: Severity,
    pub(crate) summary: Option<&'a str>,
    pub(crate) note: Option<&'a str>,
    pub(crate) source: &'a str,
}

/// A summary as stored: whitespace collapsed to single spaces, at most 240 characters (cut
/// with `…`). The same text from two sources (the tracker's description, OSV's details)
/// becomes the same string, stored once.
pub(crate) fn one_line(text: &str) -> Option<String> {
    const MAX: usize = 240;
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return None;
    }
    Some(match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", line[..cut].trim_end()),
        None => line,
    })
}

/// At most this many warnings are kept word for word; the rest are counted.
const MAX_WARNINGS: usize = 200;

/// Where parsers put what they read: records staged for one ingest, warnings, the formats
/// recognised. Nothing reaches the database unless the whole ingest succeeds.
pub(crate) struct Sink<'i> {
    interner: &'i mut Interner,
    origin: u32,
    staged: Index,
    formats: BTreeSet<&'static str>,
    warnings: Vec<String>,
    omitted_warnings: usize,
    /// Repetitive skips, counted per reason and reported once each.
    tallies: BTreeMap<String, usize>,
}

/// What a finished [`Sink`] holds.
pub(crate) struct Staged {
    pub(crate) index: Index,
    pub(crate) formats: Vec<String>,
    pub(crate) warnings: Vec<String>,
}

impl<'i> Sink<'i> {
    pub(crate) fn new(interner: &'i mut Interner, origin: u32) -> Self {
        Sink {
            interner,
            origin,
            staged: Index::default(),
            formats: BTreeSet::new(),
            warnings: Vec::new(),
            omitted_warnings: 0,
            tallies: BTreeMap::new(),
        }
    }

    pub(crate) fn push(&mut self, new: NewAdvisory<'_>) {
        let (kind, fixed) = match new.status {
            AdvisoryStatus::Fixed { version } => (StatusKind::Fixed, Some(self.interner.intern(&version))),
            AdvisoryStatus::Affected => (StatusKind::Affected, None),
            AdvisoryStatus::WillNotFix => (StatusKind::WillNotFix, None),
            AdvisoryStatus::FixDeferred => (StatusKind::FixDeferred, None),
            AdvisoryStatus::NotAffected => (StatusKind::NotAffected, None),
        };
        let record = Record {
            id: self.interner.intern(new.id),
            aliases: new.aliases.iter().map(|a| self.interner.intern(a)).collect(),
            kind,
            fixed,
            severity: new.severity,
            summary: new.summary.map(|s| self.interner.intern(s)),
            note: new.note.map(|s| self.interner.intern(s)),
            source: self.interner.intern(new.source),
            origin: self.origin,
        };
        let package = self.interner.intern(new.package);
        self.staged.push(new.ecosystem, package, record);
    }

    pub(crate) fn recognized(&mut self, format: &'static str) {
        self.formats.insert(format);
    }

    pub(crate) fn warn(&mut self, warning: impl Into<String>) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(warning.into());
        } else {
            self.omitted_warnings += 1;
        }
    }

    /// Counts a skip that may repeat thousands of times; reported once with its count.
    pub(crate) fn tally(&mut self, reason: impl Into<String>) {
        *self.tallies.entry(reason.into()).or_default() += 1;
    }

    pub(crate) fn finish(mut self, name: &str) -> Staged {
        let tallies = std::mem::take(&mut self.tallies);
        for (reason, count) in tallies {
            self.warn(format!("{reason} ({count}×)"));
        }
        if self.staged.len == 0 {
            self.warn(format!("no advisories were ingested from {name}"));
        }
        if self.omitted_warnings > 0 {
            let omitted = self.omitted_warnings;
            self.warnings.push(format!("… and {omitted} more warnings"));
        }
        self.staged.shrink_to_fit();
        Staged {
            index: self.staged,
            formats: self.formats.into_iter().map(str::to_owned).collect(),
            warnings: self.warnings,
        }
    }
}
