//! Alpine package versions, validated and ordered like apk-tools' `src/version.c`
//! (`apk_version_validate()`, `apk_version_compare()`).
//!
//! The grammar is `digits{.digits}[letter]{_suffix[digits]}[~hash][-r digits]`. apk reads a
//! version as a stream of tokens and compares the streams token by token; this module
//! follows it step by step, including what apk does with invalid versions (used by the
//! tests, which replay apk's own vectors), while [`ApkVersion`] only holds valid ones.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::Error;

/// An Alpine package version, ordered exactly as apk-tools orders it.
///
/// Valid versions follow apk's grammar: digits separated by dots (`1.2.10`), an optional
/// lowercase letter (`1.2a`), any number of suffixes, each with an optional number
/// (`_alpha`, `_beta`, `_pre`, `_rc` sort before the release; `_cvs`, `_svn`, `_git`, `_hg`,
/// `_p` after it), an optional commit hash of lowercase hex digits (`~1234abcd`), and an
/// optional release (`-r3`). Anything else is refused with [`Error::InvalidVersion`].
///
/// Ordering is `apk_version_compare()`'s, token by token: numbers compare numerically,
/// except that after the first component a number with a leading zero compares as a string
/// (`1.05 < 1.5`). Where the versions go on with different kinds of token (or one ends), a
/// pre-release suffix is the smaller, and otherwise the token that comes earlier in the
/// grammar is the greater (`1.2 < 1.2a < 1.2.1`, `1.2_rc1 < 1.2 < 1.2_p1 < 1.2a`). Numbers are
/// read into 64 bits with wrap-around, as apk does. Equality agrees with the ordering
/// (`1.0-r01 == 1.0-r1`, `01.2 == 1.2`), and equal versions hash alike.
///
/// [`Display`](fmt::Display) prints the string that was parsed.
///
/// ```
/// use hardener::ApkVersion;
///
/// let v = |s: &str| s.parse::<ApkVersion>();
/// assert!(v("1.2_rc1")? < v("1.2")?);
/// assert!(v("1.2")? < v("1.2_p1")?);
/// assert!(v("1.2_p1")? < v("1.2a")?);
/// assert!(v("1.2.9-r3")? < v("1.2.10-r0")?);
/// assert_eq!(v("1.0-r01")?, v("1.0-r1")?);
/// assert!(v("1.0A").is_err());
/// # Ok::<(), hardener::Error>(())
/// ```
#[derive(Clone)]
pub struct ApkVersion {
    raw: Box<str>,
}

impl ApkVersion {
    /// The version as parsed (what [`Display`](fmt::Display) prints).
    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

impl FromStr for ApkVersion {
    type Err = Error;

    /// Validates like `apk_version_validate()`; the reason says what is wrong and where.
    fn from_str(input: &str) -> Result<Self, Error> {
        let mut t = Tokens::new(input.as_bytes());
        while t.kind < Kind::End {
            t.advance();
        }
        match t.kind {
            Kind::End => Ok(ApkVersion { raw: input.into() }),
            _ => Err(Error::InvalidVersion {
                scheme: "apk",
                input: input.to_owned(),
                reason: format!("{} (at byte {})", t.invalid, t.invalid_at),
            }),
        }
    }
}

/// Token kinds, in the order of apk's `enum PARTS`: a version's tokens never go back to an
/// earlier kind (except `_suffix` after a suffix number), and when two versions diverge the
/// one at the later kind is the smaller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    CommitHash,
    RevisionNo,
    End,
    Invalid,
}

/// Suffixes in apk's order; the pre-release ones come before the release (`SUFFIX_NONE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Suffix {
    Alpha,
    Beta,
    Pre,
    Rc,
    Cvs,
    Svn,
    Git,
    Hg,
    P,
}

impl Suffix {
    fn parse(name: &[u8]) -> Option<Suffix> {
        Some(match name {
            b"alpha" => Suffix::Alpha,
            b"beta" => Suffix::Beta,
            b"pre" => Suffix::Pre,
            b"rc" => Suffix::Rc,
            b"cvs" => Suffix::Cvs,
            b"svn" => Suffix::Svn,
            b"git" => Suffix::Git,
            b"hg" => Suffix::Hg,
            b"p" => Suffix::P,
            _ => return None,
        })
    }

    fn is_pre_release(self) -> bool {
        self <= Suffix::Rc
    }
}

/// apk's `struct token_state` together with the rest of the input: the current token.
struct Tokens<'a> {
    rest: &'a [u8],
    /// Where `rest` starts in the input.
    offset: usize,
    kind: Kind,
    /// The token's text (digits without the `.`, the letter, the suffix name, the hash).
    value: &'a [u8],
    number: u64,
    suffix: Suffix,
    /// Why the token is [`Kind::Invalid`], and where.
    invalid: &'static str,
    invalid_at: usize,
}

impl<'a> Tokens<'a> {
    /// `token_first()`: the version must start with digits.
    fn new(input: &'a [u8]) -> Self {
        let mut t = Tokens {
            rest: input,
            offset: 0,
            kind: Kind::InitialDigit,
            value: b"",
            number: 0,
            suffix: Suffix::Alpha,
            invalid: "",
            invalid_at: 0,
        };
        t.digits("a version starts with a digit");
        t
    }

    fn consume(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        self.offset += n;
        head
    }

    fn fail(&mut self, reason: &'static str) {
        self.kind = Kind::Invalid;
        self.invalid = reason;
        self.invalid_at = self.offset;
    }

    /// `token_parse_digits()`: apk reads numbers into a `uint64_t` without overflow checks.
    fn digits(&mut self, missing: &'static str) {
        let n = self.rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return self.fail(missing);
        }
        self.value = self.consume(n);
        self.number = self.value.iter().fold(0u64, |acc, &d| acc.wrapping_mul(10).wrapping_add(u64::from(d - b'0')));
    }

    /// `token_next()`: reads the next token and checks that it may follow the current one.
    fn advance(&mut self) {
        let Some(&c) = self.rest.first() else {
            self.kind = Kind::End;
            return;
        };
        match c {
            b'a'..=b'z' => {
                if self.kind > Kind::Digit {
                    return self.fail("a letter may only follow a number");
                }
                self.value = self.consume(1);
                self.kind = Kind::Letter;
            }
            b'.' | b'0'..=b'9' => {
                if c == b'.' {
                    if self.kind > Kind::Digit {
                        return self.fail("`.` may only follow a number");
                    }
                    self.consume(1);
                }
                self.kind = match self.kind {
                    Kind::InitialDigit | Kind::Digit => Kind::Digit,
                    Kind::Suffix => Kind::SuffixNo,
                    _ => return self.fail("a number may only follow `.` or a suffix"),
                };
                self.digits("`.` must be followed by digits");
            }
            b'_' => {
                if self.kind > Kind::SuffixNo {
                    return self.fail("a `_` suffix may not follow a commit hash or a release");
                }
                self.consume(1);
                let rest = self.rest;
                let n = rest.iter().take_while(|b| b.is_ascii_lowercase()).count();
                match Suffix::parse(&rest[..n]) {
                    Some(suffix) => {
                        self.value = self.consume(n);
                        self.suffix = suffix;
                        self.kind = Kind::Suffix;
                    }
                    None => self.fail("unknown suffix (apk knows _alpha, _beta, _pre, _rc, _cvs, _svn, _git, _hg, _p)"),
                }
            }
            b'~' => {
                if self.kind >= Kind::CommitHash {
                    return self.fail("a `~` commit hash may not follow another hash or a release");
                }
                self.consume(1);
                let n = self.rest.iter().take_while(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')).count();
                if n == 0 {
                    return self.fail("`~` must be followed by lowercase hex digits");
                }
                self.value = self.consume(n);
                self.kind = Kind::CommitHash;
            }
            b'-' => {
                if self.kind >= Kind::RevisionNo {
                    return self.fail("a version has at most one `-r` release");
                }
                if !self.rest.starts_with(b"-r") {
                    return self.fail("`-` must start a release `-r<digits>`");
                }
                self.consume(2);
                self.kind = Kind::RevisionNo;
                self.digits("`-r` must be followed by digits");
            }
            _ => self.fail("unexpected character"),
        }
    }
}

/// `token_cmp()`: compares two tokens of the same kind.
fn token_cmp(a: &Tokens<'_>, b: &Tokens<'_>) -> Ordering {
    match a.kind {
        // After the first component, a leading zero means a string comparison (as Gentoo).
        Kind::Digit if a.value[0] == b'0' || b.value[0] == b'0' => a.value.cmp(b.value),
        Kind::InitialDigit | Kind::Digit | Kind::SuffixNo | Kind::RevisionNo => a.number.cmp(&b.number),
        Kind::Letter => a.value[0].cmp(&b.value[0]),
        Kind::Suffix => a.suffix.cmp(&b.suffix),
        Kind::CommitHash | Kind::End | Kind::Invalid => a.value.cmp(b.value),
    }
}

/// `apk_version_compare_fuzzy()` on any two strings, valid or not. With `fuzzy`, `a` equals
/// every `b` whose tokens it starts with: `3.6.9` is "equal" to `3.6` (apk's `~` operator).
pub(super) fn compare(a: &str, b: &str, fuzzy: bool) -> Ordering {
    let (mut ta, mut tb) = (Tokens::new(a.as_bytes()), Tokens::new(b.as_bytes()));
    while ta.kind == tb.kind && ta.kind < Kind::End {
        match token_cmp(&ta, &tb) {
            Ordering::Equal => {}
            unequal => return unequal,
        }
        ta.advance();
        tb.advance();
    }
    // Both ended, or both turned invalid at the same token.
    if ta.kind == tb.kind || (fuzzy && tb.kind == Kind::End) {
        return Ordering::Equal;
    }
    // Equal so far: the one that goes on is greater, unless it goes on with a pre-release.
    if ta.kind == Kind::Suffix && ta.suffix.is_pre_release() {
        return Ordering::Less;
    }
    if tb.kind == Kind::Suffix && tb.suffix.is_pre_release() {
        return Ordering::Greater;
    }
    tb.kind.cmp(&ta.kind)
}

impl Ord for ApkVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(&self.raw, &other.raw, false)
    }
}

impl PartialOrd for ApkVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for ApkVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for ApkVersion {}

impl Hash for ApkVersion {
    /// Hashes what `token_cmp()` compares, so that equal versions hash alike.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut t = Tokens::new(self.raw.as_bytes());
        while t.kind < Kind::End {
            state.write_u8(t.kind as u8);
            match t.kind {
                Kind::Digit if t.value[0] == b'0' => {
                    state.write_u8(0);
                    t.value.hash(state);
                }
                Kind::Digit => {
                    state.write_u8(1);
                    state.write_u64(t.number);
                }
                Kind::InitialDigit | Kind::SuffixNo | Kind::RevisionNo => state.write_u64(t.number),
                Kind::Letter => state.write_u8(t.value[0]),
                Kind::Suffix => state.write_u8(t.suffix as u8),
                Kind::CommitHash | Kind::End | Kind::Invalid => t.value.hash(state),
            }
            t.advance();
        }
    }
}

impl fmt::Display for ApkVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl fmt::Debug for ApkVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ApkVersion").field(&&*self.raw).finish()
    }
}

impl serde::Serialize for ApkVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.raw)
    }
}

impl<'de> serde::Deserialize<'de> for ApkVersion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
