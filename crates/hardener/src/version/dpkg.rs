//! Debian package versions: `[epoch:]upstream_version[-debian_revision]`, parsed like dpkg's
//! `parseversion()` (`lib/dpkg/parsehelp.c`) and ordered like `dpkg_version_compare()`
//! (`lib/dpkg/version.c`).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::Error;

/// A Debian package version, `[epoch:]upstream_version[-debian_revision]`, ordered exactly
/// as dpkg orders it.
///
/// Parsing accepts what dpkg accepts when it compares versions: the errors of dpkg's
/// `parseversion()` are refused (empty version, embedded blanks, an epoch that is empty,
/// not a number, negative or above `i32::MAX`, nothing after the epoch's colon, nothing after
/// the last `-`, an empty upstream version); what dpkg only warns about (an upstream
/// version that does not start with a digit, characters outside `[A-Za-z0-9.+~-:]`) is
/// accepted. The revision is everything after the *last* `-`.
///
/// Ordering is dpkg's: epochs numerically, then the upstream versions, then the revisions,
/// each with `verrevcmp` (`~` sorts before everything, even the end; letters before other
/// characters; digit runs compare numerically). Equality agrees with the ordering, so
/// `1.0`, `0:1.0`, `1.0-0` and `1.00` are all equal, and they hash alike.
///
/// [`Display`](fmt::Display) prints the string that was parsed (without the surrounding
/// blanks dpkg ignores), so `0:1.0` stays `0:1.0`.
///
/// ```
/// use hardener::DpkgVersion;
///
/// let binnmu: DpkgVersion = "1:2.66-4+b1".parse()?;
/// assert_eq!((binnmu.epoch(), binnmu.upstream(), binnmu.revision()), (1, "2.66", Some("4+b1")));
/// assert_eq!(binnmu.without_binnmu().to_string(), "1:2.66-4");
///
/// let rc: DpkgVersion = "2.2~rc1-1".parse()?;
/// assert!(rc < "2.2-1".parse()?);
/// assert_eq!("1.0".parse::<DpkgVersion>()?, "0:1.0-0".parse()?);
/// # Ok::<(), hardener::Error>(())
/// ```
#[derive(Clone)]
pub struct DpkgVersion {
    /// The parsed string, without surrounding blanks.
    raw: Box<str>,
    epoch: u32,
    /// `raw[upstream_start..upstream_end]` is the upstream version.
    upstream_start: usize,
    upstream_end: usize,
    /// Whether `raw[upstream_end + 1..]` (after the last `-`) is a revision.
    has_revision: bool,
}

impl DpkgVersion {
    /// The epoch; `0` when the version has none.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The upstream version: after the epoch's colon, up to the last `-`.
    pub fn upstream(&self) -> &str {
        &self.raw[self.upstream_start..self.upstream_end]
    }

    /// The Debian revision, after the last `-`; `None` for a native version (which orders
    /// like revision `0`).
    pub fn revision(&self) -> Option<&str> {
        self.has_revision.then(|| &self.raw[self.upstream_end + 1..])
    }

    /// The version as parsed (what [`Display`](fmt::Display) prints).
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The version of the source package this binNMU was built from: a trailing `+b<N>` is
    /// removed from the revision (`1:2.66-4+b1` → `1:2.66-4`), or from the upstream version
    /// of a native package, which has no revision (`3.1+b2` → `3.1`). Any other version is
    /// returned unchanged.
    pub fn without_binnmu(&self) -> DpkgVersion {
        let last_part = match self.revision() {
            Some(revision) => revision,
            None => self.upstream(),
        };
        let Some(cut) = binnmu_suffix_len(last_part) else {
            return self.clone();
        };
        let raw: Box<str> = self.raw[..self.raw.len() - cut].into();
        DpkgVersion {
            raw,
            epoch: self.epoch,
            upstream_start: self.upstream_start,
            upstream_end: if self.has_revision { self.upstream_end } else { self.upstream_end - cut },
            has_revision: self.has_revision,
        }
    }

    fn revision_or_empty(&self) -> &str {
        self.revision().unwrap_or("")
    }
}

/// The length of a trailing `+b<digits>` that leaves something before it.
fn binnmu_suffix_len(part: &str) -> Option<usize> {
    let digits = part.len() - part.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let before = part[..part.len() - digits].strip_suffix("+b")?;
    (digits > 0 && !before.is_empty()).then_some(digits + 2)
}

impl FromStr for DpkgVersion {
    type Err = Error;

    /// Parses like dpkg's `parseversion()`; see [`DpkgVersion`] for what is refused.
    fn from_str(input: &str) -> Result<Self, Error> {
        let invalid =
            |reason: &str| Error::InvalidVersion { scheme: "dpkg", input: input.to_owned(), reason: reason.to_owned() };
        // A C string cannot hold a NUL: dpkg never sees one, and we do not truncate.
        if input.contains('\0') {
            return Err(invalid("version string contains a NUL byte"));
        }
        let raw = input.trim_matches(is_blank);
        if raw.is_empty() {
            return Err(invalid("version string is empty"));
        }
        if raw.contains(is_blank) {
            return Err(invalid("version string has embedded spaces"));
        }
        let (epoch, upstream_start) = match raw.find(':') {
            None => (0, 0),
            Some(colon) => {
                let epoch = parse_epoch(&raw[..colon]).map_err(invalid)?;
                if colon + 1 == raw.len() {
                    return Err(invalid("nothing after colon in version number"));
                }
                (epoch, colon + 1)
            }
        };
        let (upstream_end, has_revision) = match raw[upstream_start..].rfind('-') {
            None => (raw.len(), false),
            Some(hyphen) => {
                let hyphen = upstream_start + hyphen;
                if hyphen + 1 == raw.len() {
                    return Err(invalid("revision number is empty"));
                }
                (hyphen, true)
            }
        };
        if upstream_start == upstream_end {
            return Err(invalid("upstream version is empty"));
        }
        Ok(DpkgVersion { raw: raw.into(), epoch, upstream_start, upstream_end, has_revision })
    }
}

/// `isblank()`: what dpkg trims around a version and refuses inside it.
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// The epoch before the first colon, read like dpkg does with `strtol()`: leading C
/// whitespace, an optional sign, decimal digits up to the colon, `0..=i32::MAX`.
fn parse_epoch(s: &str) -> Result<u32, &'static str> {
    let s = s.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return Err("epoch in version is empty");
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("epoch in version is not a number");
    }
    let significant = digits.trim_start_matches('0');
    // strtol() saturates; anything longer than 10 digits is out of range anyway.
    let value: u64 = if significant.len() > 10 { u64::MAX } else { significant.parse().unwrap_or(0) };
    if value == 0 {
        Ok(0)
    } else if negative {
        Err("epoch in version is negative")
    } else {
        u32::try_from(value).ok().filter(|&v| v <= i32::MAX as u32).ok_or("epoch in version is too big")
    }
}

/// dpkg's `order()`: the weight of a non-digit character in `verrevcmp`. `~` sorts before
/// the end of a part (weight 0), letters after it, every other character after the letters.
///
/// Bytes above 0x7f weigh what they weigh in dpkg on amd64, where `char` is signed: their
/// value, between the letters and the other characters. (On arm64, where `char` is
/// unsigned, dpkg weighs them `byte + 256`, after the other characters.) Debian policy allows
/// only ASCII, so real versions never tell the two apart.
fn order(c: u8) -> i32 {
    match c {
        b'~' => -1,
        b'0'..=b'9' => 0,
        b'A'..=b'Z' | b'a'..=b'z' | 0x80..=0xff => i32::from(c),
        _ => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp()`: compares upstream versions or revisions.
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // Non-digit prefixes, character by character; a digit or the end weighs 0.
        loop {
            let ac = a.get(i).copied().filter(|c| !c.is_ascii_digit());
            let bc = b.get(j).copied().filter(|c| !c.is_ascii_digit());
            if ac.is_none() && bc.is_none() {
                break;
            }
            let (ao, bo) = (ac.map_or(0, order), bc.map_or(0, order));
            if ao != bo {
                return ao.cmp(&bo);
            }
            i += 1;
            j += 1;
        }
        // Digit runs, numerically: skip leading zeros, then the longer run wins, then the
        // first differing digit.
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if a.get(i).is_some_and(u8::is_ascii_digit) {
            return Ordering::Greater;
        }
        if b.get(j).is_some_and(u8::is_ascii_digit) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

/// Feeds the canonical form of a part to `state`: two parts hash alike exactly when
/// `verrevcmp` finds them equal. Digit runs lose their leading zeros (a zero run becomes
/// `0`), and a zero run at the very end is dropped, since the end compares like a zero.
fn hash_part<H: Hasher>(part: &[u8], state: &mut H) {
    let mut rest = part;
    while let Some(&c) = rest.first() {
        let run = rest.iter().take_while(|b| b.is_ascii_digit() == c.is_ascii_digit()).count();
        let (chunk, tail) = rest.split_at(run);
        if c.is_ascii_digit() {
            let significant = &chunk[chunk.iter().take_while(|&&b| b == b'0').count()..];
            if !significant.is_empty() {
                state.write(significant);
            } else if !tail.is_empty() {
                state.write(b"0");
            }
        } else {
            state.write(chunk);
        }
        rest = tail;
    }
    // 0xff never occurs in UTF-8: the parts cannot run into each other.
    state.write_u8(0xff);
}

impl Ord for DpkgVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(self.upstream().as_bytes(), other.upstream().as_bytes()))
            .then_with(|| verrevcmp(self.revision_or_empty().as_bytes(), other.revision_or_empty().as_bytes()))
    }
}

impl PartialOrd for DpkgVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for DpkgVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for DpkgVersion {}

impl Hash for DpkgVersion {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u32(self.epoch);
        hash_part(self.upstream().as_bytes(), state);
        hash_part(self.revision_or_empty().as_bytes(), state);
    }
}

impl fmt::Display for DpkgVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl fmt::Debug for DpkgVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DpkgVersion").field(&&*self.raw).finish()
    }
}

impl serde::Serialize for DpkgVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.raw)
    }
}

impl<'de> serde::Deserialize<'de> for DpkgVersion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
