//! Reading advisory sources: files, directories, zip archives and streams, each JSON
//! document recognised by its content and handed to the parser of its format.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::path::{Path, PathBuf};

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::debian::{PackageSeed, TrackerState};
use super::index::Sink;
use super::{osv, secdb};
use crate::{Error, Result};

/// The largest zip entry read, uncompressed. OSV records are kilobytes; this stops a
/// compression bomb without refusing any real record.
const MAX_ZIP_ENTRY: u64 = 32 << 20;
const BUFFER: usize = 1 << 16;

pub(crate) fn path(path: &Path, sink: &mut Sink<'_>) -> Result<()> {
    let metadata =
        fs::metadata(path).map_err(|e| Error::io(format!("reading advisory source {}", path.display()), e))?;
    if !metadata.is_dir() {
        return file(path, sink);
    }
    let mut files = Vec::new();
    collect_files(path, &mut files)?;
    if files.is_empty() {
        sink.warn(format!("{}: no .json or .zip file in this directory", path.display()));
    }
    for file_path in files {
        file(&file_path, sink)?;
    }
    Ok(())
}

/// `*.json` and `*.zip` files under `dir`, sorted; hidden entries skipped, symbolic links to
/// directories not followed (no loops).
fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let context = || format!("listing {}", dir.display());
    let mut entries = fs::read_dir(dir)
        .map_err(|e| Error::io(context(), e))?
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| Error::io(context(), e))?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let entry_path = entry.path();
        let file_type = entry.file_type().map_err(|e| Error::io(context(), e))?;
        if file_type.is_dir() {
            collect_files(&entry_path, files)?;
        } else if (file_type.is_file() || (file_type.is_symlink() && entry_path.is_file()))
            && has_extension(&name, &["json", "zip"])
        {
            files.push(entry_path);
        }
    }
    Ok(())
}

fn has_extension(name: &str, extensions: &[&str]) -> bool {
    name.rsplit_once('.').is_some_and(|(_, ext)| extensions.iter().any(|e| ext.eq_ignore_ascii_case(e)))
}

fn file(path: &Path, sink: &mut Sink<'_>) -> Result<()> {
    let name = path.display().to_string();
    let handle = File::open(path).map_err(|e| Error::io(format!("opening advisory source {name}"), e))?;
    let mut reader = BufReader::with_capacity(BUFFER, handle);
    match sniff(&name, &mut reader)? {
        Content::Zip => zip(&name, reader, sink),
        Content::Json => json(&name, reader, sink),
    }
}

pub(crate) fn reader(name: &str, reader: impl Read, sink: &mut Sink<'_>) -> Result<()> {
    let mut reader = BufReader::with_capacity(BUFFER, reader);
    match sniff(name, &mut reader)? {
        Content::Json => json(name, reader, sink),
        Content::Zip => {
            let spool = Spool::create().map_err(|e| Error::io(format!("{name}: creating a temporary file"), e))?;
            let mut handle = &spool.file;
            io::copy(&mut reader, &mut handle).map_err(|e| Error::io(format!("{name}: reading"), e))?;
            handle.rewind().map_err(|e| Error::io(format!("{name}: rewinding the temporary file"), e))?;
            zip(name, BufReader::with_capacity(BUFFER, &spool.file), sink)
        }
    }
}

/// A temporary file, created exclusively and removed when dropped.
struct Spool {
    path: PathBuf,
    file: File,
}

impl Spool {
    fn create() -> io::Result<Self> {
        let dir = std::env::temp_dir();
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let mut attempt = 0u32;
        loop {
            let path = dir.join(format!("oci-harden-advisories-{}-{nanos}-{attempt}.zip", std::process::id()));
            match fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path) {
                Ok(file) => return Ok(Spool { path, file }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

enum Content {
    Json,
    Zip,
}

/// Looks at the first bytes: a zip archive, or else JSON (a UTF-8 byte-order mark is skipped).
fn sniff(name: &str, reader: &mut impl BufRead) -> Result<Content> {
    let head = reader.fill_buf().map_err(|e| Error::io(format!("reading {name}"), e))?;
    if head.starts_with(b"PK") {
        return Ok(Content::Zip);
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Err(Error::Advisory {
            source_name: name.to_owned(),
            reason: "gzip-compressed data: decompress it first (advisory sources are JSON or zip)".into(),
        });
    }
    if head.starts_with(b"\xEF\xBB\xBF") {
        reader.consume(3);
    }
    Ok(Content::Json)
}

/// Whether a zip entry name would leave the directory it were extracted to: absolute,
/// drive-prefixed, with a `..` component or a NUL byte. We never extract, but such a name
/// only appears in a crafted or corrupted archive.
fn escapes(name: &str) -> bool {
    name.starts_with(['/', '\\'])
        || name.contains('\0')
        || name.as_bytes().get(1) == Some(&b':')
        || name.split(['/', '\\']).any(|component| component == "..")
}

fn zip<R: Read + Seek>(name: &str, reader: R, sink: &mut Sink<'_>) -> Result<()> {
    let refuse = |reason: String| Error::Advisory { source_name: name.to_owned(), reason };
    let mut archive = zip::ZipArchive::new(reader)
        .map_err(|e| refuse(format!("not a readable zip archive (truncated or corrupted download?): {e}")))?;
    // Check every name before reading anything, so a crafted archive adds nothing.
    for index in 0..archive.len() {
        let entry_name = archive
            .name_for_index(index)
            .expect("index below len")
            .map_err(|e| refuse(format!("entry {index}: unreadable name: {e}")))?;
        if escapes(&entry_name) {
            return Err(refuse(format!(
                "entry {entry_name:?} has a path outside the archive (absolute or `..`): refusing the whole archive"
            )));
        }
    }
    for index in 0..archive.len() {
        let entry = archive.by_index(index).map_err(|e| refuse(format!("entry {index}: {e}")))?;
        let entry_name = format!("{name}!{}", entry.name().unwrap_or_default());
        if entry.is_dir() {
            continue;
        }
        if !has_extension(&entry_name, &["json"]) {
            sink.tally(format!("{name}: entries that are not .json skipped"));
            continue;
        }
        if entry.size() > MAX_ZIP_ENTRY {
            return Err(Error::Advisory {
                source_name: entry_name,
                reason: format!("{} bytes uncompressed, more than the {MAX_ZIP_ENTRY} allowed per entry", entry.size()),
            });
        }
        let limited = BufReader::with_capacity(BUFFER, entry.take(MAX_ZIP_ENTRY));
        json(&entry_name, limited, sink)?;
    }
    Ok(())
}

/// Parses one JSON document, streaming, and dispatches it by shape.
fn json(name: &str, reader: impl Read, sink: &mut Sink<'_>) -> Result<()> {
    let malformed =
        |e: serde_json::Error| Error::Advisory { source_name: name.to_owned(), reason: malformed_reason(&e) };
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    serde::Deserializer::deserialize_any(&mut deserializer, Document { name, sink }).map_err(malformed)?;
    deserializer.end().map_err(malformed)
}

fn malformed_reason(error: &serde_json::Error) -> String {
    match error.classify() {
        serde_json::error::Category::Io => format!("read error: {error}"),
        serde_json::error::Category::Eof => format!("malformed JSON (truncated?): {error}"),
        _ => format!("malformed JSON: {error}"),
    }
}

/// Top-level keys of OSV records and Alpine secdb files. Any other key of a top-level object
/// is taken for a Debian tracker source package.
const DOCUMENT_KEYS: &[&str] = &[
    "schema_version",
    "id",
    "modified",
    "published",
    "withdrawn",
    "aliases",
    "related",
    "upstream",
    "summary",
    "details",
    "severity",
    "affected",
    "references",
    "credits",
    "database_specific",
    "name",
    "secfixes",
    "distroversion",
    "reponame",
    "archs",
    "urlprefix",
    "apkurl",
    "packages",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Osv,
    SecdbPackage,
    SecdbBranch,
}

fn shape(fields: &Map<String, Value>) -> Option<Shape> {
    if fields.contains_key("secfixes") {
        Some(Shape::SecdbPackage)
    } else if fields.contains_key("packages") && fields.contains_key("distroversion") {
        Some(Shape::SecdbBranch)
    } else if fields.get("id").is_some_and(Value::is_string)
        && ["affected", "modified", "aliases", "upstream", "published", "summary", "details", "withdrawn"]
            .iter()
            .any(|key| fields.contains_key(*key))
    {
        Some(Shape::Osv)
    } else {
        None
    }
}

/// The top-level visitor. An object is an OSV record, a secdb file or the Debian tracker
/// (streamed one source package at a time); an array is a list of OSV records.
struct Document<'a, 's> {
    name: &'a str,
    sink: &'a mut Sink<'s>,
}

impl Document<'_, '_> {
    fn unrecognized(&mut self, what: &str) {
        self.sink.warn(format!(
            "{}: {what} is not an advisory format this tool reads (OSV, Alpine secdb, Debian tracker); skipped",
            self.name
        ));
    }
}

impl<'de> Visitor<'de> for Document<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an OSV record or list, an Alpine secdb file or Debian security tracker JSON")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut fields = Map::new();
        let mut tracker = TrackerState::default();
        let mut other_keys = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            // Until tracker entries have been seen, known document keys are kept aside.
            if DOCUMENT_KEYS.contains(&key.as_str()) && tracker.entries == 0 {
                fields.insert(key, map.next_value()?);
                continue;
            }
            let seed = PackageSeed { package: &key, state: &mut tracker, sink: self.sink, context: self.name };
            if !map.next_value_seed(seed)? {
                other_keys.push(key);
            }
        }
        if tracker.entries > 0 && (tracker.records > 0 || shape(&fields).is_none()) {
            self.sink.recognized(super::debian::SOURCE);
            for (key, value) in fields {
                let seed = PackageSeed { package: &key, state: &mut tracker, sink: self.sink, context: self.name };
                match seed.deserialize(value) {
                    Ok(true) => {}
                    Ok(false) => other_keys.push(key),
                    Err(e) => self.sink.warn(format!("{}: {key}: {e}; skipped", self.name)),
                }
            }
            for key in other_keys.iter().take(20) {
                self.sink.warn(format!(
                    "{}: top-level {key:?} is not a source package with CVE entries; skipped",
                    self.name
                ));
            }
            tracker.finish(self.name, self.sink);
            return Ok(());
        }
        match shape(&fields) {
            Some(Shape::Osv) => osv::ingest_record(Value::Object(fields), self.name, self.sink),
            Some(Shape::SecdbPackage) => secdb::ingest_package_file(Value::Object(fields), self.name, self.sink),
            Some(Shape::SecdbBranch) => secdb::ingest_branch_file(Value::Object(fields), self.name, self.sink),
            None => {
                let mut keys: Vec<&str> =
                    fields.keys().map(String::as_str).chain(other_keys.iter().map(String::as_str)).collect();
                keys.truncate(8);
                self.unrecognized(&format!("an object with keys {keys:?}"));
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let mut others = 0usize;
        let mut records = 0usize;
        while let Some(element) = seq.next_element::<Value>()? {
            match element {
                Value::Object(fields) if shape(&fields) == Some(Shape::Osv) => {
                    records += 1;
                    osv::ingest_record(Value::Object(fields), self.name, self.sink);
                }
                _ => others += 1,
            }
        }
        if others > 0 {
            let what = if records == 0 {
                "a list of non-OSV values".to_owned()
            } else {
                format!("{others} element(s) of this OSV list")
            };
            self.unrecognized(&what);
        }
        Ok(())
    }

    fn visit_str<E: serde::de::Error>(mut self, _: &str) -> Result<(), E> {
        self.unrecognized("a JSON string");
        Ok(())
    }

    fn visit_bool<E: serde::de::Error>(mut self, _: bool) -> Result<(), E> {
        self.unrecognized("a JSON boolean");
        Ok(())
    }

    fn visit_i64<E: serde::de::Error>(mut self, _: i64) -> Result<(), E> {
        self.unrecognized("a JSON number");
        Ok(())
    }

    fn visit_u64<E: serde::de::Error>(mut self, _: u64) -> Result<(), E> {
        self.unrecognized("a JSON number");
        Ok(())
    }

    fn visit_f64<E: serde::de::Error>(mut self, _: f64) -> Result<(), E> {
        self.unrecognized("a JSON number");
        Ok(())
    }

    fn visit_unit<E: serde::de::Error>(mut self) -> Result<(), E> {
        self.unrecognized("JSON null");
        Ok(())
    }
}

/// Drains and ignores a sequence (for visitors that accept one only to skip it).
pub(crate) fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::escapes;

    #[test]
    fn entry_names_that_escape_are_recognised() {
        // Stricter than extraction needs: any `..` component is refused.
        for name in ["../../evil.json", "/etc/passwd", "a/../b.json", "..\\evil.json", "C:evil.json", "a\0b"] {
            assert!(escapes(name), "{name:?}");
        }
        for name in ["DSA-3029-1.json", "a/b/c.json", "..json", "x..y/z.json"] {
            assert!(!escapes(name), "{name:?}");
        }
    }
}
