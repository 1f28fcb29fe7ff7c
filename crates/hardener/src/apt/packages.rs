//! `Packages` indexes: streamed from `.xz`, `.gz` or plain files, verified against the
//! `Release`'s SHA256 and size before any entry is returned.

use std::io::{self, BufRead, BufReader, Read, Write};

use sha2::{Digest, Sha256};

use super::deb822::Paragraph;
use super::error::{AptError, AptResult};
use super::relation::{Dependency, parse_relations};
use super::release::IndexLocation;
use crate::DpkgVersion;

/// A package's `Multi-Arch` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MultiArch {
    /// No field, or `no`.
    #[default]
    No,
    /// `same`: co-installable for several architectures at the same version.
    Same,
    /// `foreign`: satisfies dependencies of packages of other architectures.
    Foreign,
    /// `allowed`: satisfies `name:any` dependencies.
    Allowed,
}

/// One entry of a `Packages` index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageEntry {
    /// `Package`.
    pub package: String,
    /// `Version`.
    pub version: DpkgVersion,
    /// `Architecture` (`amd64`, `all`…).
    pub architecture: String,
    /// `Multi-Arch`.
    pub multi_arch: MultiArch,
    /// The source package: `Source`'s name, or the package name without one.
    pub source: String,
    /// The source version: `Source: name (version)`, or the package version without one.
    pub source_version: DpkgVersion,
    /// `Filename`: the `.deb`'s path relative to the repository root.
    pub filename: String,
    /// `Size` of the `.deb` in bytes.
    pub size: u64,
    /// `SHA256` of the `.deb`, lower-case hex.
    pub sha256: String,
    /// `Depends`.
    pub depends: Vec<Dependency>,
    /// `Pre-Depends`.
    pub pre_depends: Vec<Dependency>,
    /// `Provides`.
    pub provides: Vec<Dependency>,
    /// `Breaks`.
    pub breaks: Vec<Dependency>,
    /// `Conflicts`.
    pub conflicts: Vec<Dependency>,
    /// `Replaces`.
    pub replaces: Vec<Dependency>,
    /// The line of the entry's first field in the (uncompressed) index.
    pub line: usize,
}

impl PackageEntry {
    /// Builds an entry from a `Packages` paragraph; `file` names the index in errors.
    pub fn from_paragraph(para: &Paragraph<'_>, file: &str) -> AptResult<PackageEntry> {
        let at = |line: usize, why: String| AptError::parse(file, Some(line), why);
        let required = |name: &str| {
            para.field(name).map(|f| (f.first_line(), f.line)).ok_or_else(|| {
                let pkg = para.get("Package").map(|p| format!(" of package {p:?}")).unwrap_or_default();
                at(para.line(), format!("missing {name}{pkg}"))
            })
        };
        let (package, _) = required("Package")?;
        let (version, vline) = required("Version")?;
        let version: DpkgVersion = version.parse().map_err(|e: crate::Error| at(vline, e.to_string()))?;
        let (architecture, _) = required("Architecture")?;
        let (filename, fline) = required("Filename")?;
        if filename.starts_with('/') || filename.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(at(fline, format!("unsafe Filename {filename:?}")));
        }
        let (size, sline) = required("Size")?;
        let size = size.parse().map_err(|_| at(sline, format!("Size {size:?} is not a number")))?;
        let (sha256, hline) = required("SHA256")?;
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(at(hline, format!("{sha256:?} is not a SHA256")));
        }
        let multi_arch = match para.field("Multi-Arch") {
            None => MultiArch::No,
            Some(f) => match f.first_line() {
                "no" => MultiArch::No,
                "same" => MultiArch::Same,
                "foreign" => MultiArch::Foreign,
                "allowed" => MultiArch::Allowed,
                other => return Err(at(f.line, format!("unknown Multi-Arch {other:?}"))),
            },
        };
        let (source, source_version) = match para.field("Source") {
            None => (package.to_owned(), version.clone()),
            Some(f) => parse_source(&f.folded(), &version).map_err(|why| at(f.line, why))?,
        };
        let relations = |name: &str| -> AptResult<Vec<Dependency>> {
            match para.field(name) {
                None => Ok(Vec::new()),
                Some(f) => parse_relations(&f.folded()).map_err(|why| at(f.line, format!("{name}: {why}"))),
            }
        };
        Ok(PackageEntry {
            package: package.to_owned(),
            architecture: architecture.to_owned(),
            multi_arch,
            source,
            source_version,
            filename: filename.to_owned(),
            size,
            sha256: sha256.to_ascii_lowercase(),
            depends: relations("Depends")?,
            pre_depends: relations("Pre-Depends")?,
            provides: relations("Provides")?,
            breaks: relations("Breaks")?,
            conflicts: relations("Conflicts")?,
            replaces: relations("Replaces")?,
            line: para.line(),
            version,
        })
    }
}

/// `Source: name` or `Source: name (version)` (binNMUs and source-version skew).
fn parse_source(value: &str, version: &DpkgVersion) -> Result<(String, DpkgVersion), String> {
    match value.split_once('(') {
        None if !value.is_empty() && !value.contains(' ') => Ok((value.to_owned(), version.clone())),
        None => Err(format!("invalid Source {value:?}")),
        Some((name, rest)) => {
            let v = rest.strip_suffix(')').ok_or_else(|| format!("invalid Source {value:?}"))?;
            let v = v.trim().parse().map_err(|e: crate::Error| e.to_string())?;
            Ok((name.trim().to_owned(), v))
        }
    }
}

/// Parses an uncompressed, already-trusted `Packages` text (every entry).
pub fn parse_packages(text: &str, file: &str) -> AptResult<Vec<PackageEntry>> {
    super::deb822::paragraphs(text, file, false).map(|p| PackageEntry::from_paragraph(&p?, file)).collect()
}

/// Whether `wanted` accepts one of the names a raw `Packages` paragraph answers to: its
/// `Package`, or any word of its `Provides` (version constraints and architecture
/// qualifiers split off). A superset of what the parsed paragraph provides, found without
/// parsing it: a cheap test before [`PackageEntry::from_paragraph`].
pub fn names_any(raw: &str, mut wanted: impl FnMut(&str) -> bool) -> bool {
    let mut in_provides = false;
    for line in raw.lines() {
        let value = if line.starts_with([' ', '\t']) {
            if !in_provides {
                continue;
            }
            line
        } else {
            in_provides = false;
            let Some((name, value)) = line.split_once(':') else { continue };
            if name.eq_ignore_ascii_case("Package") {
                if wanted(value.trim()) {
                    return true;
                }
                continue;
            }
            if !name.eq_ignore_ascii_case("Provides") {
                continue;
            }
            in_provides = true;
            value
        };
        let mut words = value.split([' ', '\t', ',', '|', '(', ')', ':']).filter(|w| !w.is_empty());
        if words.any(&mut wanted) {
            return true;
        }
    }
    false
}

/// Copies what is read from `inner` to `copy`.
struct Tee<'a, R> {
    inner: R,
    copy: Option<&'a mut dyn Write>,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(copy) = &mut self.copy {
            copy.write_all(&buf[..n])?;
        }
        Ok(n)
    }
}

/// Hashes and counts the raw bytes, refusing to read past the expected size.
struct Counted<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
    limit: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Read at most one byte past the limit, enough to know the file is too large.
        let room = (self.limit + 1).saturating_sub(self.read);
        if room == 0 {
            return Ok(0);
        }
        let max = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// Reads a `Packages` index as fetched (`location` says its compression, size and SHA256 from
/// the verified `Release`), keeping the entries `keep` accepts (called on each paragraph
/// before it is converted, so a caller interested in a few packages holds only those).
///
/// Nothing is returned unless the whole file had the promised size and SHA256: entries are
/// buffered and handed over only after the digest matched at the end. `file` names the index
/// (its URL or path) in errors.
///
/// Memory: the stream is read in 64 KiB pieces and one paragraph at a time; what stays is the
/// kept entries. Keeping all of a large index is costly (bookworm's `main` for amd64, 63,440
/// entries, takes about 290 MB): keep what the resolution needs, reading the index again if a
/// second pass needs other entries.
///
/// # Example
/// From a signed `InRelease` to the entries of one source package, as apt would trust them:
/// ```no_run
/// use std::time::SystemTime;
/// use hardener::{Keyring, Release, read_packages, verify_clearsigned};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let keys = "/usr/share/keyrings/debian-archive-keyring.gpg";
/// let ring = Keyring::from_bytes(&std::fs::read(keys)?, keys)?;
/// let signed = verify_clearsigned(&std::fs::read("InRelease")?, "InRelease", &ring, SystemTime::now())?;
/// let release = Release::parse(signed.text(), "InRelease")?;
/// release.check_validity("InRelease", SystemTime::now(), false)?;
/// let index = release.packages_index("main", "amd64").ok_or("no main/binary-amd64 index")?;
/// let file = std::fs::File::open(&index.fetch_path)?;
/// let openssl = read_packages(file, &index, &index.path, |p| p.get("Source") == Some("openssl"))?;
/// for entry in &openssl {
///     println!("{} {} {}", entry.package, entry.version, entry.filename);
/// }
/// # Ok(())
/// # }
/// ```
pub fn read_packages<R: Read>(
    reader: R,
    location: &IndexLocation,
    file: &str,
    keep: impl FnMut(&Paragraph<'_>) -> bool,
) -> AptResult<Vec<PackageEntry>> {
    read_packages_filtered(reader, location, file, |_| true, None, keep)
}

/// [`read_packages`] with two additions for a caller that reads a large index for a few
/// names: `prefilter` sees each paragraph's raw text first and only the paragraphs it
/// accepts are parsed and offered to `keep` (see [`names_any`] for a cheap test), and
/// `copy`, when given, receives the decompressed text as it is read (to keep it: it is
/// complete only when this returns `Ok`, and trustworthy then, the compressed file having
/// had its SHA256).
///
/// # Errors
/// As [`read_packages`]; an error writing to `copy` is reported as one reading the index.
pub fn read_packages_filtered<R: Read>(
    reader: R,
    location: &IndexLocation,
    file: &str,
    mut prefilter: impl FnMut(&str) -> bool,
    mut copy: Option<&mut dyn Write>,
    mut keep: impl FnMut(&Paragraph<'_>) -> bool,
) -> AptResult<Vec<PackageEntry>> {
    let mut raw = Counted { inner: reader, hasher: Sha256::new(), read: 0, limit: location.size };
    let mut entries = Vec::new();
    let parsed: AptResult<()> = (|| {
        let decoder =
            location.compression.decoder(&mut raw).map_err(|e| AptError::io(format!("decompressing {file}"), e))?;
        parse_paragraphs(decoder, file, &mut prefilter, copy.take(), &mut keep, &mut entries)
    })();
    // Whatever happened, hash the rest of the file so a corrupt or truncated download is
    // reported as such rather than as whatever the decoder or the parser tripped on.
    io::copy(&mut raw, &mut io::sink()).map_err(|e| AptError::io(format!("reading {file}"), e))?;
    check_file(&mut raw, location, file)?;
    parsed?;
    Ok(entries)
}

/// [`read_packages_filtered`] of an index file on disk. An `.xz` file of several blocks
/// (Debian's large indexes) has its size and SHA256 checked first and is then decompressed
/// on `threads` threads, one block each (see `xz.rs`); any other file is read as
/// [`read_packages_filtered`] reads it. Same entries, same errors.
pub(crate) fn read_packages_file(
    path: &std::path::Path,
    location: &IndexLocation,
    file: &str,
    threads: usize,
    mut prefilter: impl FnMut(&str) -> bool,
    copy: Option<&mut dyn Write>,
    mut keep: impl FnMut(&Paragraph<'_>) -> bool,
) -> AptResult<Vec<PackageEntry>> {
    let open = || std::fs::File::open(path).map_err(|e| AptError::io(format!("opening {}", path.display()), e));
    if location.compression == super::Compression::Xz && threads > 1 {
        let f = open()?;
        let mut raw = Counted { inner: &f, hasher: Sha256::new(), read: 0, limit: location.size };
        io::copy(&mut raw, &mut io::sink()).map_err(|e| AptError::io(format!("reading {file}"), e))?;
        check_file(&mut raw, location, file)?;
        let limit = location.uncompressed.as_ref().map_or(u64::MAX, |u| u.size);
        let decompressing = |e| AptError::io(format!("decompressing {file}"), e);
        if let Some(decoder) = super::xz::parallel_reader(f, threads, limit).map_err(decompressing)? {
            let mut entries = Vec::new();
            parse_paragraphs(decoder, file, &mut prefilter, copy, &mut keep, &mut entries)?;
            return Ok(entries);
        }
    }
    read_packages_filtered(open()?, location, file, prefilter, copy, keep)
}

/// Parses the decompressed text of `file` paragraph by paragraph into `entries` (see
/// [`read_packages_filtered`]).
fn parse_paragraphs(
    decoder: impl Read,
    file: &str,
    prefilter: &mut impl FnMut(&str) -> bool,
    copy: Option<&mut dyn Write>,
    keep: &mut impl FnMut(&Paragraph<'_>) -> bool,
    entries: &mut Vec<PackageEntry>,
) -> AptResult<()> {
    let decoder = Tee { inner: decoder, copy };
    let mut lines = BufReader::with_capacity(64 * 1024, decoder);
    let mut para: Vec<u8> = Vec::with_capacity(8 * 1024);
    let mut line_no = 0usize;
    let mut para_start = 1usize;
    loop {
        let before = para.len();
        let n = lines.read_until(b'\n', &mut para).map_err(|e| AptError::io(format!("decompressing {file}"), e))?;
        if n > 0 {
            line_no += 1;
        }
        let blank = n > 0 && para[before..].iter().all(u8::is_ascii_whitespace);
        if n > 0 && !blank {
            continue;
        }
        para.truncate(before);
        // End of a paragraph (blank line) or of the file.
        let text = std::str::from_utf8(&para)
            .map_err(|_| AptError::parse(file, Some(para_start), "paragraph is not UTF-8 text"))?;
        if prefilter(text)
            && let Some(p) = Paragraph::parse(text, file, para_start, false)?
            && keep(&p)
        {
            entries.push(PackageEntry::from_paragraph(&p, file)?);
        }
        para.clear();
        para_start = line_no + 1;
        if n == 0 {
            return Ok(());
        }
    }
}

/// Checks what `raw` read (all of it) against the size and SHA256 of `location`.
fn check_file<R>(raw: &mut Counted<R>, location: &IndexLocation, file: &str) -> AptResult<()> {
    let actual = hex::encode(raw.hasher.finalize_reset());
    if raw.read != location.size {
        let actual =
            if raw.read > location.size { format!("more than {}", location.size) } else { raw.read.to_string() };
        return Err(AptError::Mismatch {
            file: file.to_owned(),
            what: "size",
            expected: location.size.to_string(),
            actual,
        });
    }
    if actual != location.sha256 {
        return Err(AptError::Mismatch {
            file: file.to_owned(),
            what: "SHA256",
            expected: location.sha256.clone(),
            actual,
        });
    }
    Ok(())
}
