//! `APKINDEX.tar.gz`: a signature stream (a gzip member holding a tar without end blocks)
//! followed by the unsigned index (gzip with the `APKINDEX` and `DESCRIPTION` tar entries).
//! abuild-sign signs the whole unsigned `.tar.gz` as it stood, so the signature covers every
//! raw byte after the signature stream.

use std::fmt;
use std::io::{self, BufReader, Read};
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::stream::{BUF, Tap};
use super::{ApkError, ApkKeys, ApkResult, read_signatures};
use crate::ApkVersion;

/// Decompressed `APKINDEX` entries larger than this are refused (Alpine's largest is ~20 MiB).
pub const MAX_APKINDEX_SIZE: u64 = 512 << 20;

/// A package checksum as apk writes it: `Q1` + base64 of a SHA1 (the `C:` identity, `Z:`
/// file checksums), or `Q2` + base64 of a SHA256.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ApkChecksum {
    /// `Q1…`: SHA1.
    Sha1([u8; 20]),
    /// `Q2…`: SHA256.
    Sha256([u8; 32]),
}

impl ApkChecksum {
    /// The digest bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            ApkChecksum::Sha1(b) => b,
            ApkChecksum::Sha256(b) => b,
        }
    }
}

impl FromStr for ApkChecksum {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a Q1 (SHA1) or Q2 (SHA256) base64 checksum");
        let (kind, b64) = s.split_at_checked(2).ok_or_else(bad)?;
        let bytes = B64.decode(b64).map_err(|_| bad())?;
        match kind {
            "Q1" => Ok(ApkChecksum::Sha1(bytes.try_into().map_err(|_| bad())?)),
            "Q2" => Ok(ApkChecksum::Sha256(bytes.try_into().map_err(|_| bad())?)),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for ApkChecksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApkChecksum::Sha1(b) => write!(f, "Q1{}", B64.encode(b)),
            ApkChecksum::Sha256(b) => write!(f, "Q2{}", B64.encode(b)),
        }
    }
}

/// A version constraint's operator, as apk-tools writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApkDepOp {
    /// `<`
    Less,
    /// `<=`
    LessEq,
    /// `=`
    Equal,
    /// `>=`
    GreaterEq,
    /// `>`
    Greater,
    /// `~`: the version starts with the given components (fuzzy match).
    Fuzzy,
    /// `><`: the package's identity checksum.
    Checksum,
}

impl ApkDepOp {
    /// The operator as written (`>=`).
    pub fn as_str(self) -> &'static str {
        match self {
            ApkDepOp::Less => "<",
            ApkDepOp::LessEq => "<=",
            ApkDepOp::Equal => "=",
            ApkDepOp::GreaterEq => ">=",
            ApkDepOp::Greater => ">",
            ApkDepOp::Fuzzy => "~",
            ApkDepOp::Checksum => "><",
        }
    }
}

/// What a dependency or provide names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApkNameKind {
    /// A package or virtual name.
    Package,
    /// `so:libc.musl-x86_64.so.1`: a shared library.
    SharedObject,
    /// `cmd:busybox`: a command.
    Command,
    /// `pc:zlib`: a pkg-config module.
    PkgConfig,
}

/// One entry of a `D:` (depends), `p:` (provides) or `i:` (install-if) field, or of
/// `.PKGINFO`'s `depend`/`provides`/`install_if`: `[!]name[@tag][op version]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApkDependency {
    /// The name (`musl`, `so:libc.musl-x86_64.so.1`, `cmd:sh`).
    pub name: String,
    /// The repository tag (`@edge`), without the `@`.
    pub tag: Option<String>,
    /// `!name`: a conflict.
    pub conflict: bool,
    /// The operator and version (or checksum), when constrained.
    pub constraint: Option<(ApkDepOp, String)>,
}

impl ApkDependency {
    /// What the name designates, from its `so:`, `cmd:` or `pc:` prefix.
    pub fn kind(&self) -> ApkNameKind {
        if self.name.starts_with("so:") {
            ApkNameKind::SharedObject
        } else if self.name.starts_with("cmd:") {
            ApkNameKind::Command
        } else if self.name.starts_with("pc:") {
            ApkNameKind::PkgConfig
        } else {
            ApkNameKind::Package
        }
    }

    /// Parses one dependency token, as apk-tools' `apk_blob_pull_dep` does.
    ///
    /// # Errors
    /// The reason, when the token has no name, an unknown operator or an invalid version.
    pub fn parse(token: &str) -> Result<ApkDependency, String> {
        let bad = |why: &str| format!("dependency {token:?}: {why}");
        let (conflict, rest) = match token.strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, token),
        };
        let (name_tag, constraint) = match rest.find(['<', '>', '=', '~']) {
            Some(i) => {
                let (nt, opv) = rest.split_at(i);
                let end = opv.find(|c| !"<>=~".contains(c)).unwrap_or(opv.len());
                let (op, version) = opv.split_at(end);
                let op = match op {
                    "<" => ApkDepOp::Less,
                    "<=" | "=<" => ApkDepOp::LessEq,
                    "=" => ApkDepOp::Equal,
                    ">=" | "=>" => ApkDepOp::GreaterEq,
                    ">" => ApkDepOp::Greater,
                    "~" | "=~" | "~=" => ApkDepOp::Fuzzy,
                    "><" => ApkDepOp::Checksum,
                    _ => return Err(bad(&format!("unknown operator {op:?}"))),
                };
                if version.is_empty() {
                    return Err(bad("operator without a version"));
                }
                if op == ApkDepOp::Checksum {
                    version.parse::<ApkChecksum>().map_err(|e| bad(&e))?;
                } else {
                    ApkVersion::from_str(version).map_err(|e| bad(&e.to_string()))?;
                }
                (nt, Some((op, version.to_owned())))
            }
            None => (rest, None),
        };
        let (name, tag) = match name_tag.split_once('@') {
            Some((n, t)) => (n, Some(t.to_owned())),
            None => (name_tag, None),
        };
        if name.is_empty() {
            return Err(bad("no name"));
        }
        Ok(ApkDependency { name: name.to_owned(), tag, conflict, constraint })
    }

    /// Parses a space-separated list (`D:`, `p:`, `i:` values).
    ///
    /// # Errors
    /// As [`ApkDependency::parse`].
    pub fn parse_list(text: &str) -> Result<Vec<ApkDependency>, String> {
        text.split([' ', '\t', ',', '\n']).filter(|t| !t.is_empty()).map(ApkDependency::parse).collect()
    }
}

impl fmt::Display for ApkDependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.conflict {
            f.write_str("!")?;
        }
        f.write_str(&self.name)?;
        if let Some(tag) = &self.tag {
            write!(f, "@{tag}")?;
        }
        if let Some((op, v)) = &self.constraint {
            write!(f, "{}{v}", op.as_str())?;
        }
        Ok(())
    }
}

/// One package of an `APKINDEX` (the same fields start its record in `lib/apk/db/installed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApkIndexEntry {
    /// `C:`: the SHA1 of the package's compressed control stream (its identity).
    pub checksum: ApkChecksum,
    /// `P:`
    pub name: String,
    /// `V:`
    pub version: ApkVersion,
    /// `A:`
    pub arch: Option<String>,
    /// `S:`: the `.apk` file's size.
    pub size: u64,
    /// `I:`: the installed size.
    pub installed_size: u64,
    /// `T:`
    pub description: String,
    /// `U:`
    pub url: String,
    /// `L:`
    pub license: String,
    /// `o:`
    pub origin: Option<String>,
    /// `m:`
    pub maintainer: Option<String>,
    /// `t:`: the build time (0 when absent).
    pub build_time: u64,
    /// `c:`: the aports commit.
    pub commit: Option<String>,
    /// `k:`: the provider priority (0 when absent).
    pub provider_priority: u64,
    /// `D:`
    pub depends: Vec<ApkDependency>,
    /// `p:`
    pub provides: Vec<ApkDependency>,
    /// `i:`
    pub install_if: Vec<ApkDependency>,
    /// Other fields (letter, value), in order; apk-tools ignores lower-case ones.
    pub extra: Vec<(char, String)>,
    /// The 1-based line of the record's first field.
    pub line: usize,
}

impl ApkIndexEntry {
    /// The record's header as apk-tools' `apk_pkg_write_index_header` writes it: `C P V A S
    /// I T U L o m t c k D p i`, each line ending in `\n` (`A`, `o`, `m`, `c` only when set,
    /// `t`, `k` only when not 0, `D`, `p`, `i` only when not empty).
    pub fn write_header(&self, out: &mut String) {
        use fmt::Write as _;
        let _ = write!(out, "C:{}\nP:{}\nV:{}\n", self.checksum, self.name, self.version);
        if let Some(a) = &self.arch {
            let _ = writeln!(out, "A:{a}");
        }
        let _ = write!(
            out,
            "S:{}\nI:{}\nT:{}\nU:{}\nL:{}\n",
            self.size, self.installed_size, self.description, self.url, self.license
        );
        for (key, value) in [('o', &self.origin), ('m', &self.maintainer)] {
            if let Some(v) = value {
                let _ = writeln!(out, "{key}:{v}");
            }
        }
        if self.build_time != 0 {
            let _ = writeln!(out, "t:{}", self.build_time);
        }
        if let Some(c) = &self.commit {
            let _ = writeln!(out, "c:{c}");
        }
        if self.provider_priority != 0 {
            let _ = writeln!(out, "k:{}", self.provider_priority);
        }
        for (key, deps) in [('D', &self.depends), ('p', &self.provides), ('i', &self.install_if)] {
            if !deps.is_empty() {
                let list: Vec<String> = deps.iter().map(ToString::to_string).collect();
                let _ = writeln!(out, "{key}:{}", list.join(" "));
            }
        }
    }

    /// Builds an entry from one record's `(line, key, value)` fields. `file` names the index.
    pub(crate) fn from_fields(file: &str, fields: &[(usize, char, &str)]) -> ApkResult<ApkIndexEntry> {
        let start = fields.first().map_or(0, |f| f.0);
        let mut seen: Vec<char> = Vec::new();
        let mut e = ApkIndexEntry {
            checksum: ApkChecksum::Sha1([0; 20]),
            name: String::new(),
            version: ApkVersion::from_str("0").map_err(|e| ApkError::parse(file, None, e.to_string()))?,
            arch: None,
            size: 0,
            installed_size: 0,
            description: String::new(),
            url: String::new(),
            license: String::new(),
            origin: None,
            maintainer: None,
            build_time: 0,
            commit: None,
            provider_priority: 0,
            depends: Vec::new(),
            provides: Vec::new(),
            install_if: Vec::new(),
            extra: Vec::new(),
            line: start,
        };
        for &(line, key, value) in fields {
            let err = |why: String| ApkError::parse(file, Some(line), why);
            if "CPVASITULomtckDpi".contains(key) {
                if seen.contains(&key) {
                    return Err(err(format!("second {key}: field in the record of line {start}")));
                }
                seen.push(key);
            }
            let num = || value.parse::<u64>().map_err(|_| err(format!("{key}: {value:?} is not a number")));
            let deps = || ApkDependency::parse_list(value).map_err(err);
            match key {
                'C' => e.checksum = value.parse().map_err(|w| err(format!("C: {w}")))?,
                'P' => e.name = value.to_owned(),
                'V' => e.version = ApkVersion::from_str(value).map_err(|w| err(w.to_string()))?,
                'A' => e.arch = Some(value.to_owned()),
                'S' => e.size = num()?,
                'I' => e.installed_size = num()?,
                'T' => e.description = value.to_owned(),
                'U' => e.url = value.to_owned(),
                'L' => e.license = value.to_owned(),
                'o' => e.origin = Some(value.to_owned()),
                'm' => e.maintainer = Some(value.to_owned()),
                't' => e.build_time = num()?,
                'c' => e.commit = Some(value.to_owned()),
                'k' => e.provider_priority = num()?,
                'D' => e.depends = deps()?,
                'p' => e.provides = deps()?,
                'i' => e.install_if = deps()?,
                other => e.extra.push((other, value.to_owned())),
            }
        }
        for (key, what) in [('C', "checksum"), ('P', "name"), ('V', "version")] {
            if !seen.contains(&key) {
                return Err(ApkError::parse(file, Some(start), format!("record without a {what} ({key}:)")));
            }
        }
        if e.name.is_empty() {
            return Err(ApkError::parse(file, Some(start), "record with an empty name (P:)"));
        }
        Ok(e)
    }
}

/// One record's fields: `(line, key, value)`.
pub(crate) type Record<'a> = Vec<(usize, char, &'a str)>;

/// Splits apk's `X:value` text into records of `(line, key, value)`, blank lines between
/// records. Refuses lines that are not `X:value`, naming the line.
pub(crate) fn records<'a>(text: &'a str, file: &str) -> ApkResult<Vec<Record<'a>>> {
    let mut out = Vec::new();
    let mut current: Vec<(usize, char, &str)> = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        let b = line.as_bytes();
        if b.len() < 2 || b[1] != b':' || !b[0].is_ascii_alphanumeric() {
            let shown: String = line.chars().take(60).collect();
            return Err(ApkError::parse(file, Some(i + 1), format!("expected `X:value`, found {shown:?}")));
        }
        current.push((i + 1, b[0] as char, &line[2..]));
    }
    if !current.is_empty() {
        out.push(current);
    }
    Ok(out)
}

/// A verified and parsed `APKINDEX.tar.gz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApkIndex {
    /// The `DESCRIPTION` entry (`v3.20.3-…`), when present.
    pub description: Option<String>,
    /// The packages, in index order.
    pub entries: Vec<ApkIndexEntry>,
}

impl ApkIndex {
    /// Parses the text of an `APKINDEX` entry. `file` names it in errors.
    ///
    /// # Errors
    /// [`ApkError::Parse`] with the line: a line that is not `X:value`, a record without
    /// `C:`, `P:` or `V:`, a repeated field, a bad checksum, number, version or dependency.
    pub fn parse(text: &str, file: &str) -> ApkResult<ApkIndex> {
        if !text.is_empty() && !text.ends_with('\n') {
            let lines = text.split('\n').count();
            return Err(ApkError::parse(file, Some(lines), "the index ends without a newline (truncated?)"));
        }
        let entries = records(text, file)?
            .iter()
            .map(|fields| ApkIndexEntry::from_fields(file, fields))
            .collect::<ApkResult<Vec<_>>>()?;
        Ok(ApkIndex { description: None, entries })
    }

    /// The entries named `name`.
    pub fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a ApkIndexEntry> + 'a {
        self.entries.iter().filter(move |e| e.name == name)
    }

    /// Reads an `APKINDEX.tar.gz` from `reader`, streaming: the signature stream first, then
    /// the unsigned index, whose raw bytes are hashed as they are decompressed; the signature
    /// is checked against `keys` before the index text is parsed. `file` names it in errors.
    ///
    /// # Errors
    /// [`ApkError::Signature`] when unsigned, signed by no key of `keys` or badly signed;
    /// [`ApkError::Archive`] for a corrupt or truncated stream or an index without
    /// `APKINDEX`; the errors of [`ApkIndex::parse`].
    pub fn read(reader: impl Read, file: &str, keys: &ApkKeys) -> ApkResult<ApkIndex> {
        let mut tap = Tap::new(BufReader::with_capacity(BUF, reader));
        let gz = |what: &str, e: io::Error| ApkError::archive(file, Some(what), format!("corrupt: {e}"));
        if tap.at_end().map_err(|e| ApkError::io(format!("reading {file}"), e))? {
            return Err(ApkError::archive(file, None, "empty file"));
        }
        let signatures = super::stream::with_member(&mut tap, |r| Ok(read_signatures(r, file)))
            .map_err(|e| gz("signature stream", e))??;
        let signature = keys.select(file, &signatures)?;
        tap.reset(vec![signature.hash.hasher()]);
        if tap.at_end().map_err(|e| ApkError::io(format!("reading {file}"), e))? {
            return Err(ApkError::archive(file, None, "nothing after the signature stream (truncated?)"));
        }
        let (index, description) = {
            let mut decoder = flate2::bufread::MultiGzDecoder::new(&mut tap);
            let read = read_index_tar(&mut decoder, file).map_err(|e| match e {
                ApkError::Io { source, .. } => gz("index stream", source),
                other => other,
            })?;
            io::copy(&mut decoder, &mut io::sink()).map_err(|e| gz("index stream", e))?;
            read
        };
        let (hashers, _) = tap.reset(Vec::new());
        let digest = hashers.into_iter().next().map(|h| h.finalize()).unwrap_or_default();
        keys.verify(file, signature, &digest)?;
        let index = index.ok_or_else(|| ApkError::archive(file, None, "no APKINDEX entry in the index stream"))?;
        let text = String::from_utf8(index).map_err(|_| ApkError::archive(file, Some("APKINDEX"), "not UTF-8"))?;
        let description = description.map(|d| String::from_utf8_lossy(&d).trim_end().to_owned());
        Ok(ApkIndex { description, ..ApkIndex::parse(&text, &format!("{file}: APKINDEX"))? })
    }
    /// Reads an `APKINDEX.tar.gz` without checking its signature: for a repository the user
    /// explicitly trusts although its index is unsigned or signed by an unknown key. The
    /// signature stream, when present, is skipped as a tar entry of the concatenated streams.
    ///
    /// # Errors
    /// [`ApkError::Archive`] for a corrupt stream or one without `APKINDEX`; the errors of
    /// [`ApkIndex::parse`].
    pub fn read_unverified(reader: impl Read, file: &str) -> ApkResult<ApkIndex> {
        let mut decoder = flate2::read::MultiGzDecoder::new(reader);
        let (index, description) = read_index_tar(&mut decoder, file).map_err(|e| match e {
            ApkError::Io { source, .. } => ApkError::archive(file, None, format!("corrupt: {source}")),
            other => other,
        })?;
        let index = index.ok_or_else(|| ApkError::archive(file, None, "no APKINDEX entry in the index stream"))?;
        let text = String::from_utf8(index).map_err(|_| ApkError::archive(file, Some("APKINDEX"), "not UTF-8"))?;
        let description = description.map(|d| String::from_utf8_lossy(&d).trim_end().to_owned());
        Ok(ApkIndex { description, ..ApkIndex::parse(&text, &format!("{file}: APKINDEX"))? })
    }
}

/// The `APKINDEX` and `DESCRIPTION` entries of the index tar; other entries are skipped, as
/// apk-tools does.
/// The `APKINDEX` and `DESCRIPTION` bytes, when present.
type IndexParts = (Option<Vec<u8>>, Option<Vec<u8>>);

fn read_index_tar(stream: &mut dyn Read, file: &str) -> ApkResult<IndexParts> {
    let io_err = |e: io::Error| ApkError::io(format!("reading {file}"), e);
    let mut archive = tar::Archive::new(oci_core::TarGuard::new(stream, file));
    let (mut index, mut description) = (None, None);
    for entry in archive.entries().map_err(io_err)? {
        let mut entry = entry.map_err(io_err)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let slot = match name.as_str() {
            "APKINDEX" => &mut index,
            "DESCRIPTION" => &mut description,
            _ => continue,
        };
        if slot.is_some() {
            return Err(ApkError::archive(file, Some(&name), "twice in the index"));
        }
        if entry.size() > MAX_APKINDEX_SIZE {
            return Err(ApkError::archive(file, Some(&name), format!("{} bytes (refused)", entry.size())));
        }
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(io_err)?;
        *slot = Some(data);
    }
    Ok((index, description))
}
