//! [`AdvisoryDb`]: ingest, look up, save and open.
//!
//! On disk a database is a directory with two files:
//! - `advisories.jsonl`: a header line (format, version, sources, record count), then one
//!   JSON object per (source package, vulnerability, source) with its per-release entries.
//!   It is the only file [`AdvisoryDb::open`] reads.
//! - `metadata.json`: the header's sources with per-ecosystem counts, pretty-printed, for
//!   people and for [`AdvisoryDb::read_info`] (`db info`, the age check) without loading the
//!   records.
//!
//! Both are written to a temporary file in the same directory and renamed into place, so a
//! reader sees the old database or the new one, never a mix.

use std::borrow::Cow;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::index::{Index, Interner, NewAdvisory, Record, Sink, StatusKind, Str};
use super::ingest;
use super::model::{Advisory, DbInfo, Ecosystem, IngestReport, Severity, SourceInfo};
use crate::atomic::write_file_atomic;
use crate::{Error, Result};
use oci_core::time::{format_rfc3339, parse_rfc3339};

const DATA_FILE: &str = "advisories.jsonl";
const METADATA_FILE: &str = "metadata.json";
const FORMAT_NAME: &str = "oci-harden-advisories";
const FORMAT_VERSION: u32 = 1;
/// The source that [`AdvisoryDb::insert`] files records under.
const INSERTED_SOURCE: &str = "(inserted)";

/// A local advisory database: OSV, Alpine secdb and Debian security tracker advisories,
/// indexed by ecosystem and **source** package.
///
/// Ingesting a source again (the same path or URL) replaces what it contributed before, so
/// `db update` can open a database, re-ingest its sources and save it.
///
/// ```
/// use hardener::{AdvisoryDb, AdvisoryStatus, Ecosystem};
///
/// let mut db = AdvisoryDb::new();
/// let secdb = r#"{"name": "zlib", "distroversion": "v3.20",
///                 "secfixes": {"1.2.12-r2": ["CVE-2022-37434"]}}"#;
/// let report = db.ingest_reader("zlib.json", secdb.as_bytes())?;
/// assert_eq!(report.records, 1);
/// let advisories = db.advisories_for(&Ecosystem::alpine("v3.20"), "zlib");
/// assert_eq!(advisories[0].id, "CVE-2022-37434");
/// assert_eq!(advisories[0].status, AdvisoryStatus::Fixed { version: "1.2.12-r2".into() });
/// # Ok::<(), hardener::Error>(())
/// ```
#[derive(Default)]
pub struct AdvisoryDb {
    index: Index,
    interner: Interner,
    sources: Vec<SourceInfo>,
    /// Opened for some ecosystems only ([`AdvisoryDb::open_for`]).
    partial: bool,
}

impl std::fmt::Debug for AdvisoryDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdvisoryDb").field("records", &self.index.len).field("sources", &self.sources).finish()
    }
}

impl AdvisoryDb {
    /// An empty database.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of advisories.
    pub fn len(&self) -> usize {
        self.index.len
    }

    /// Whether there is no advisory at all.
    pub fn is_empty(&self) -> bool {
        self.index.len == 0
    }

    /// The advisories for a **source** package in one release, sorted by id then source.
    /// Empty when there are none.
    pub fn advisories_for(&self, ecosystem: &Ecosystem, source_package: &str) -> &[Advisory] {
        self.index.get(ecosystem, source_package).map_or(&[], |bucket| bucket.view(ecosystem, source_package))
    }

    /// Sources, counts and ecosystems.
    pub fn info(&self) -> DbInfo {
        DbInfo { sources: self.sources.clone(), records: self.index.len, ecosystems: self.index.ecosystem_counts() }
    }

    /// Adds one advisory by hand (tests, local additions), filed under the source
    /// `(inserted)`.
    pub fn insert(&mut self, advisory: Advisory) {
        let origin = self.origin_of(INSERTED_SOURCE);
        if origin as usize == self.sources.len() {
            self.sources.push(SourceInfo {
                name: INSERTED_SOURCE.into(),
                formats: Vec::new(),
                ingested_at: now(),
                records: 0,
                warnings: 0,
            });
        }
        let info = &mut self.sources[origin as usize];
        info.records += 1;
        if !info.formats.contains(&advisory.source) {
            info.formats.push(advisory.source.clone());
        }
        let aliases: Vec<&str> = advisory.aliases.iter().map(String::as_str).collect();
        let mut sink = Sink::new(&mut self.interner, origin);
        sink.push(NewAdvisory {
            id: &advisory.id,
            aliases: &aliases,
            ecosystem: &advisory.ecosystem,
            package: &advisory.package,
            status: advisory.status.clone(),
            severity: advisory.severity,
            summary: advisory.summary.as_deref(),
            note: advisory.note.as_deref(),
            source: &advisory.source,
        });
        self.index.merge(sink.finish(INSERTED_SOURCE).index);
    }

    /// Ingests a file or a directory.
    ///
    /// A file is recognised by its content, whatever its name: an OSV record or a JSON list
    /// of them, an Alpine secdb file (per package, as vuln-list has them, or per branch, as
    /// secdb.alpinelinux.org publishes them), Debian security tracker JSON, or a zip archive
    /// of any of these (OSV's `all.zip`). A directory is walked recursively for `*.json` and
    /// `*.zip` files (hidden entries and symbolic links to directories are not followed).
    /// Nothing is added unless the whole ingest succeeds; ingesting the same path again
    /// replaces what it added before.
    ///
    /// Malformed JSON is an error naming the file (and the zip entry) with line and column.
    /// Records that are well-formed JSON but cannot be used (an unknown OSV range type, a
    /// tracker entry of the wrong shape, an unsupported ecosystem) are skipped with a
    /// warning; a source that yields no advisory always says so in the warnings.
    ///
    /// # Security
    ///
    /// The input is untrusted. JSON is parsed streaming (the Debian tracker one CVE entry at
    /// a time), so memory follows the advisories kept, not the file size; nesting is limited
    /// to 128 levels. Zip archives are read through their central directory and never
    /// extracted: an archive whose entry names are absolute or climb out with `..` is refused
    /// as a whole, as are encrypted entries and entries larger than 32 MiB uncompressed.
    pub fn ingest_path(&mut self, path: &Path) -> Result<IngestReport> {
        let name = path.display().to_string();
        self.ingest_with(&name, |sink| ingest::path(path, sink))
    }

    /// Ingests a download (or any stream), recognised by content as [`Self::ingest_path`]
    /// recognises a file. `name` (the URL) names the source in messages and metadata.
    ///
    /// # Security
    ///
    /// As for [`Self::ingest_path`]. A zip archive is first copied to a temporary file (zip
    /// needs random access), which is removed afterwards.
    pub fn ingest_reader(&mut self, name: &str, reader: impl Read) -> Result<IngestReport> {
        self.ingest_with(name, |sink| ingest::reader(name, reader, sink))
    }

    fn origin_of(&self, name: &str) -> u32 {
        let position = self.sources.iter().position(|s| s.name == name).unwrap_or(self.sources.len());
        u32::try_from(position).expect("fewer than 2^32 sources")
    }

    fn ingest_with(&mut self, name: &str, read: impl FnOnce(&mut Sink<'_>) -> Result<()>) -> Result<IngestReport> {
        let origin = self.origin_of(name);
        let mut sink = Sink::new(&mut self.interner, origin);
        read(&mut sink)?;
        let staged = sink.finish(name);
        let records = staged.index.len;
        self.index.remove_origin(origin);
        self.index.merge(staged.index);
        let info = SourceInfo {
            name: name.to_owned(),
            formats: staged.formats.clone(),
            ingested_at: now(),
            records,
            warnings: staged.warnings.len(),
        };
        match self.sources.get_mut(origin as usize) {
            Some(existing) => *existing = info,
            None => self.sources.push(info),
        }
        Ok(IngestReport { source: name.to_owned(), records, formats: staged.formats, warnings: staged.warnings })
    }

    /// Loads a database that [`Self::save`] wrote.
    ///
    /// Memory is proportional to the records (about 100 bytes each, plus each distinct string
    /// once); the file is read line by line. A scan that knows its image's release should use
    /// [`Self::open_for`], which keeps a fraction of that.
    pub fn open(dir: &Path) -> Result<Self> {
        Self::load(dir, None)
    }

    /// Loads only the advisories of `ecosystems` (the image's release) and of what matching
    /// them needs besides ([`Ecosystem::for_matching`]: for Ubuntu's `Ubuntu:24.04:LTS`,
    /// also `Ubuntu:Pro:24.04:LTS`): what a scan needs, in a fifth of the memory of a
    /// database holding five releases. Nothing of other releases or streams (FIPS) is kept.
    /// [`Self::info`] still lists every source; such a database cannot be saved.
    pub fn open_for(dir: &Path, ecosystems: &[Ecosystem]) -> Result<Self> {
        let mut wanted: Vec<Ecosystem> = ecosystems.iter().flat_map(Ecosystem::for_matching).collect();
        wanted.sort();
        wanted.dedup();
        Self::load(dir, Some(&wanted))
    }

    fn load(dir: &Path, only: Option<&[Ecosystem]>) -> Result<Self> {
        let path = dir.join(DATA_FILE);
        let database_error = |reason: String| Error::Database { path: dir.to_owned(), reason };
        let file = File::open(&path).map_err(|e| missing_or_io(dir, DATA_FILE, e))?;
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let mut line = String::new();
        let mut line_number = 1;
        read_line(&mut reader, &mut line, &path)?;
        let header: Header = serde_json::from_str(&line)
            .map_err(|e| database_error(format!("{DATA_FILE} line 1: not a database header: {e}")))?;
        header.check().map_err(database_error)?;
        let sources =
            header.sources.iter().map(SourceLine::to_info).collect::<Result<Vec<_>, _>>().map_err(database_error)?;

        let mut db = AdvisoryDb { sources, partial: only.is_some(), ..Self::default() };
        let mut pending: Vec<Placed> = Vec::new();
        let mut pending_package: Option<Str> = None;
        let mut entries = 0;
        loop {
            line.clear();
            line_number += 1;
            if read_line(&mut reader, &mut line, &path)? == 0 {
                break;
            }
            if line.trim().is_empty() {
                continue;
            }
            let group: GroupLine = serde_json::from_str(&line)
                .map_err(|e| database_error(format!("{DATA_FILE} line {line_number}: {e}")))?;
            entries += group.entries.len();
            let Some((package, records)) = db
                .load_group(group, only)
                .map_err(|reason| database_error(format!("{DATA_FILE} line {line_number}: {reason}")))?
            else {
                continue;
            };
            // Lines are sorted by package: a package's buckets are built once, exactly sized.
            if pending_package.as_ref() != Some(&package)
                && let Some(previous) = pending_package.replace(package)
            {
                db.index.add_package(previous, &mut pending);
            }
            pending.extend(records);
        }
        if let Some(package) = pending_package {
            db.index.add_package(package, &mut pending);
        }
        if entries != header.records {
            return Err(database_error(format!(
                "{DATA_FILE} holds {entries} advisories but its header says {}: the file is truncated or was modified",
                header.records
            )));
        }
        Ok(db)
    }

    /// Checks one line and returns its package and the records to keep (`None` when `only`
    /// keeps none of them).
    fn load_group(
        &mut self,
        group: GroupLine<'_>,
        only: Option<&[Ecosystem]>,
    ) -> Result<Option<(Str, Vec<Placed>)>, String> {
        if group.origin as usize >= self.sources.len() {
            return Err(format!("source number {} is not in the header", group.origin));
        }
        if group.entries.is_empty() {
            return Err("a line without entries".into());
        }
        let mut kept = Vec::with_capacity(group.entries.len());
        for entry in &group.entries {
            let ecosystem: Ecosystem = entry.ecosystem.parse().map_err(|e: Error| e.to_string())?;
            let kind = StatusKind::parse(&entry.status).ok_or_else(|| format!("unknown status {:?}", entry.status))?;
            if (kind == StatusKind::Fixed) != entry.fixed.is_some() {
                return Err(format!("status {:?} with fixed version {:?}", entry.status, entry.fixed));
            }
            let severity: Severity = entry.severity.parse().map_err(|e: Error| e.to_string())?;
            if only.is_none_or(|only| only.contains(&ecosystem)) {
                kept.push((ecosystem, kind, severity, entry));
            }
        }
        if kept.is_empty() {
            return Ok(None);
        }
        // Interned only now, so filtered-out lines leave nothing behind.
        let interner = &mut self.interner;
        let package = interner.intern(&group.package);
        let id = interner.intern(&group.id);
        let aliases: Box<[Str]> = group.aliases.iter().map(|a| interner.intern(a)).collect();
        let summary = group.summary.as_deref().map(|s| interner.intern(s));
        let source = interner.intern(&group.source);
        let records = kept
            .into_iter()
            .map(|(ecosystem, kind, severity, entry)| {
                let record = Record {
                    id: id.clone(),
                    aliases: aliases.clone(),
                    kind,
                    fixed: entry.fixed.as_deref().map(|s| interner.intern(s)),
                    severity,
                    summary: summary.clone(),
                    note: entry.note.as_deref().map(|s| interner.intern(s)),
                    source: source.clone(),
                    origin: group.origin,
                };
                (ecosystem, record)
            })
            .collect();
        Ok(Some((package, records)))
    }

    /// Writes the database to `dir` (created if needed), replacing what was there
    /// atomically: temporary files in `dir`, then renames.
    ///
    /// A database from [`Self::open_for`] holds only part of its sources' advisories and is
    /// refused.
    pub fn save(&self, dir: &Path) -> Result<()> {
        if self.partial {
            return Err(Error::Database {
                path: dir.to_owned(),
                reason: "this database was opened for some ecosystems only; saving it would lose the others (use AdvisoryDb::open)".into(),
            });
        }
        fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let header = Header {
            format: FORMAT_NAME.into(),
            version: FORMAT_VERSION,
            saved_at: format_rfc3339(SystemTime::now()),
            records: self.index.len,
            sources: self.sources.iter().map(SourceLine::from_info).collect(),
            ecosystems: self
                .index
                .ecosystem_counts()
                .into_iter()
                .map(|(ecosystem, records)| EcosystemLine { ecosystem: ecosystem.to_string(), records })
                .collect(),
        };
        write_file_atomic(&dir.join(DATA_FILE), false, |mut out| {
            serde_json::to_writer(&mut out, &Header { ecosystems: Vec::new(), ..header.clone() })?;
            out.write_all(b"\n")?;
            self.write_groups(&mut out)
        })?;
        write_file_atomic(&dir.join(METADATA_FILE), false, |mut out| {
            serde_json::to_writer_pretty(&mut out, &header)?;
            out.write_all(b"\n")
        })
    }

    /// Writes the records as lines: one per (package, id, source, origin, aliases, summary)
    /// with its per-ecosystem entries, in a stable order, one line in memory at a time.
    fn write_groups(&self, out: &mut impl Write) -> std::io::Result<()> {
        type Item<'a> = (&'a Str, &'a Ecosystem, &'a Record);
        fn group_key<'a>(item: &Item<'a>) -> (&'a Str, &'a Str, &'a Str, u32, &'a [Str], &'a Option<Str>) {
            let (package, _, r) = *item;
            (package, &r.id, &r.source, r.origin, &r.aliases, &r.summary)
        }
        fn entry_key<'a>(item: &Item<'a>) -> impl Ord + 'a {
            let (_, ecosystem, r) = *item;
            (ecosystem, r.kind, &r.fixed, &r.note, r.severity)
        }
        let mut all: Vec<Item<'_>> = Vec::with_capacity(self.index.len);
        for (ecosystem, packages) in &self.index.ecosystems {
            for (package, bucket) in packages {
                all.extend(bucket.records.iter().map(|record| (package, ecosystem, record)));
            }
        }
        all.sort_by(|a, b| group_key(a).cmp(&group_key(b)).then_with(|| entry_key(a).cmp(&entry_key(b))));
        for group in all.chunk_by(|a, b| group_key(a) == group_key(b)) {
            let (package, _, first) = group[0];
            let line = GroupLine {
                package: Cow::Borrowed(package),
                id: Cow::Borrowed(&first.id),
                aliases: first.aliases.iter().map(|a| Cow::Borrowed(&**a)).collect(),
                source: Cow::Borrowed(&first.source),
                origin: first.origin,
                summary: first.summary.as_deref().map(Cow::Borrowed),
                entries: group
                    .iter()
                    .map(|(_, ecosystem, record)| EntryLine {
                        ecosystem: Cow::Owned(ecosystem.to_string()),
                        status: Cow::Borrowed(record.kind.as_str()),
                        fixed: record.fixed.as_deref().map(Cow::Borrowed),
                        severity: Cow::Borrowed(record.severity.as_str()),
                        note: record.note.as_deref().map(Cow::Borrowed),
                    })
                    .collect(),
            };
            serde_json::to_writer(&mut *out, &line)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// Reads only the metadata of a saved database: sources, counts, ingest times. Cheap
    /// enough for every scan's age check.
    pub fn read_info(dir: &Path) -> Result<DbInfo> {
        let path = dir.join(METADATA_FILE);
        let database_error = |reason: String| Error::Database { path: dir.to_owned(), reason };
        let text = fs::read_to_string(&path).map_err(|e| missing_or_io(dir, METADATA_FILE, e))?;
        let header: Header =
            serde_json::from_str(&text).map_err(|e| database_error(format!("{METADATA_FILE}: {e}")))?;
        header.check().map_err(database_error)?;
        let sources =
            header.sources.iter().map(SourceLine::to_info).collect::<Result<Vec<_>, _>>().map_err(database_error)?;
        let ecosystems = header
            .ecosystems
            .iter()
            .map(|e| Ok((e.ecosystem.parse::<Ecosystem>().map_err(|e| e.to_string())?, e.records)))
            .collect::<Result<Vec<_>, String>>()
            .map_err(database_error)?;
        Ok(DbInfo { sources, records: header.records, ecosystems })
    }
}

/// A record and the ecosystem it belongs to, while loading.
type Placed = (Ecosystem, Record);

/// Now, to the second: what the metadata can hold, so `info()` round-trips through `save`.
fn now() -> SystemTime {
    let secs = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs();
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs)
}

fn read_line(reader: &mut impl BufRead, line: &mut String, path: &Path) -> Result<usize> {
    reader.read_line(line).map_err(|e| Error::io(format!("reading {}", path.display()), e))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    saved_at: String,
    records: usize,
    sources: Vec<SourceLine>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ecosystems: Vec<EcosystemLine>,
}

impl Header {
    fn check(&self) -> Result<(), String> {
        if self.format != FORMAT_NAME {
            return Err(format!("not an oci-harden advisory database (format {:?})", self.format));
        }
        if self.version != FORMAT_VERSION {
            return Err(format!(
                "database format version {} is not the supported version {FORMAT_VERSION}: it must be rebuilt",
                self.version
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SourceLine {
    name: String,
    formats: Vec<String>,
    ingested_at: String,
    records: usize,
    warnings: usize,
}

impl SourceLine {
    fn from_info(info: &SourceInfo) -> Self {
        SourceLine {
            name: info.name.clone(),
            formats: info.formats.clone(),
            ingested_at: format_rfc3339(info.ingested_at),
            records: info.records,
            warnings: info.warnings,
        }
    }

    fn to_info(&self) -> Result<SourceInfo, String> {
        Ok(SourceInfo {
            name: self.name.clone(),
            formats: self.formats.clone(),
            ingested_at: parse_rfc3339(&self.ingested_at)
                .ok_or_else(|| format!("source {:?}: bad ingested_at {:?}", self.name, self.ingested_at))?,
            records: self.records,
            warnings: self.warnings,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct EcosystemLine {
    ecosystem: String,
    records: usize,
}

#[derive(Debug, Serialize, Deserialize)]
struct GroupLine<'a> {
    package: Cow<'a, str>,
    id: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    aliases: Vec<Cow<'a, str>>,
    source: Cow<'a, str>,
    origin: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    summary: Option<Cow<'a, str>>,
    entries: Vec<EntryLine<'a>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct EntryLine<'a> {
    ecosystem: Cow<'a, str>,
    status: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fixed: Option<Cow<'a, str>>,
    severity: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<Cow<'a, str>>,
}

/// The error for a database file that cannot be read: [`Error::MissingDatabase`] when it
/// is missing, the I/O error otherwise.
fn missing_or_io(dir: &Path, file: &str, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::NotFound => Error::MissingDatabase { path: dir.to_owned() },
        _ => Error::io(format!("reading {}", dir.join(file).display()), e),
    }
}
