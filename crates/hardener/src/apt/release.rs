//! `Release` files (the signed text of `InRelease`, or `Release`): what a repository suite
//! offers and the SHA256 and size of each of its index files.

use std::time::SystemTime;

use super::compression::Compression;
use super::deb822::Paragraph;
use super::error::{AptError, AptResult};
use super::keyring::date;

/// apt's `Acquire::Max-FutureTime`: a `Date` further in the future than this is refused.
pub const MAX_FUTURE_SECS: u64 = 10;

/// One file the `Release` lists under `SHA256`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFile {
    /// The path relative to the suite directory (`main/binary-amd64/Packages.xz`).
    pub path: String,
    /// The size in bytes.
    pub size: u64,
    /// The SHA256, lower-case hex.
    pub sha256: String,
}

/// Where to fetch an index and what it must hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexLocation {
    /// The path as the `Release` lists it, relative to the suite directory.
    pub path: String,
    /// The path to fetch: `…/by-hash/SHA256/<hash>` when the `Release` says
    /// `Acquire-By-Hash: yes`, else [`IndexLocation::path`]. apt falls back to `path` when the
    /// by-hash file is missing.
    pub fetch_path: String,
    /// The compression its name says.
    pub compression: Compression,
    /// The expected size in bytes.
    pub size: u64,
    /// The expected SHA256, lower-case hex.
    pub sha256: String,
    /// For a compressed index, the uncompressed file as the `Release` lists it (when it
    /// does): what the decompressed text must hash to, so it can be kept and trusted
    /// without decompressing again.
    pub uncompressed: Option<ReleaseFile>,
}

/// A parsed `Release` file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Release {
    /// `Origin` (`Debian`).
    pub origin: Option<String>,
    /// `Label` (`Debian-Security`).
    pub label: Option<String>,
    /// `Suite` (`stable-security`).
    pub suite: Option<String>,
    /// `Codename` (`bookworm-security`).
    pub codename: Option<String>,
    /// `Version` (`12`).
    pub version: Option<String>,
    /// `Date`, as Unix seconds.
    pub date: Option<u64>,
    /// `Valid-Until`, as Unix seconds.
    pub valid_until: Option<u64>,
    /// `Acquire-By-Hash: yes`.
    pub acquire_by_hash: bool,
    /// `Architectures`.
    pub architectures: Vec<String>,
    /// `Components` as written (the security archive says `updates/main` while its paths are
    /// under `main/`: see [`Release::has_component`]).
    pub components: Vec<String>,
    /// `No-Support-for-Architecture-all` (`Packages`: architecture-`all` packages are listed in
    /// every `binary-<arch>/Packages` and there is no `binary-all` to fetch).
    pub no_support_for_architecture_all: Option<String>,
    /// The `SHA256` file list, in file order.
    pub files: Vec<ReleaseFile>,
}

impl Release {
    /// Parses a `Release` text (already verified: pass [`super::VerifiedText::text`]).
    /// `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> AptResult<Release> {
        let mut paras = super::deb822::paragraphs(text, file, false);
        let para: Paragraph<'_> = match paras.next() {
            Some(p) => p?,
            None => return Err(AptError::parse(file, None, "empty Release file")),
        };
        if let Some(extra) = paras.next() {
            let line = extra.map(|p| p.line()).ok();
            return Err(AptError::parse(file, line, "more than one paragraph in a Release file"));
        }
        let text_of = |name: &str| para.field(name).map(|f| f.folded());
        let list = |name: &str| text_of(name).map(|v| v.split(' ').map(str::to_owned).collect()).unwrap_or_default();
        let time = |name: &str| -> AptResult<Option<u64>> {
            match para.field(name) {
                None => Ok(None),
                Some(f) => parse_rfc2822(&f.folded())
                    .map(Some)
                    .map_err(|r| AptError::parse(file, Some(f.line), format!("{name}: {r}"))),
            }
        };
        let mut files = Vec::new();
        if let Some(sha) = para.field("SHA256") {
            for (line, entry) in sha.continuation_lines() {
                let mut words = entry.split_whitespace();
                let (Some(hash), Some(size), Some(path), None) =
                    (words.next(), words.next(), words.next(), words.next())
                else {
                    return Err(AptError::parse(
                        file,
                        Some(line),
                        format!("SHA256 entry {entry:?} is not \"HASH SIZE PATH\""),
                    ));
                };
                if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(AptError::parse(file, Some(line), format!("{hash:?} is not a SHA256")));
                }
                let size = size
                    .parse()
                    .map_err(|_| AptError::parse(file, Some(line), format!("size {size:?} is not a number")))?;
                if path.starts_with('/') || path.split('/').any(|c| c == ".." || c.is_empty()) {
                    return Err(AptError::parse(file, Some(line), format!("unsafe index path {path:?}")));
                }
                files.push(ReleaseFile { path: path.to_owned(), size, sha256: hash.to_ascii_lowercase() });
            }
        }
        Ok(Release {
            origin: text_of("Origin"),
            label: text_of("Label"),
            suite: text_of("Suite"),
            codename: text_of("Codename"),
            version: text_of("Version"),
            date: time("Date")?,
            valid_until: time("Valid-Until")?,
            acquire_by_hash: text_of("Acquire-By-Hash").is_some_and(|v| v.eq_ignore_ascii_case("yes")),
            architectures: list("Architectures"),
            components: list("Components"),
            no_support_for_architecture_all: text_of("No-Support-for-Architecture-all"),
            files,
        })
    }

    /// Refuses a `Release` whose `Valid-Until` has passed (unless `allow_expired`, for snapshot
    /// archives) or whose `Date` is more than [`MAX_FUTURE_SECS`] in the future. `file` names
    /// it in errors.
    pub fn check_validity(&self, file: &str, now: SystemTime, allow_expired: bool) -> AptResult<()> {
        let now = now.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        if let Some(until) = self.valid_until
            && until < now
            && !allow_expired
        {
            return Err(AptError::parse(
                file,
                None,
                format!(
                    "expired: Valid-Until {} has passed; updates from this repository are not applied (a snapshot \
                     archive needs the expiry check turned off)",
                    date_time(until)
                ),
            ));
        }
        if let Some(d) = self.date
            && d > now + MAX_FUTURE_SECS
        {
            return Err(AptError::parse(
                file,
                None,
                format!("Date {} is in the future (the clock is {})", date_time(d), date_time(now)),
            ));
        }
        Ok(())
    }

    /// Refuses a `Release` that is not for `suite` (the suite or codename the source names):
    /// Debian signs every suite with the same keys, so a signed `Release` of another suite
    /// (trixie's at bookworm's URL, say) would otherwise be accepted. apt reports this as a
    /// conflicting distribution. `file` names the file in errors.
    pub fn check_suite(&self, file: &str, suite: &str) -> AptResult<()> {
        let matches = |v: &Option<String>| v.as_deref() == Some(suite);
        if matches(&self.codename) || matches(&self.suite) {
            return Ok(());
        }
        let show = |v: &Option<String>| v.as_deref().unwrap_or("(none)").to_owned();
        Err(AptError::parse(
            file,
            None,
            format!(
                "conflicting distribution: expected {suite:?}, but the Release is for suite {} and codename {}",
                show(&self.suite),
                show(&self.codename)
            ),
        ))
    }

    /// Whether the suite has `component`: listed as written, or as the last part of a listed
    /// component (`main` for the security archive's `updates/main`).
    pub fn has_component(&self, component: &str) -> bool {
        self.components.iter().any(|c| c == component || c.rsplit('/').next() == Some(component))
    }

    /// The listed file at `path`.
    pub fn file(&self, path: &str) -> Option<&ReleaseFile> {
        self.files.iter().find(|f| f.path == path)
    }

    /// Where to fetch the index whose uncompressed path is `path` (`main/binary-amd64/Packages`):
    /// the `.xz` when listed, else `.gz`, else the plain file; the by-hash path when the
    /// `Release` says `Acquire-By-Hash: yes`. `None` when none of them is listed.
    pub fn index(&self, path: &str) -> Option<IndexLocation> {
        [Compression::Xz, Compression::Gzip, Compression::None].into_iter().find_map(|c| {
            let name = format!("{path}{}", c.suffix());
            let f = self.file(&name)?;
            let fetch_path = if self.acquire_by_hash {
                let dir = name.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                if dir.is_empty() {
                    format!("by-hash/SHA256/{}", f.sha256)
                } else {
                    format!("{dir}/by-hash/SHA256/{}", f.sha256)
                }
            } else {
                name.clone()
            };
            let uncompressed = if c == Compression::None { None } else { self.file(path).cloned() };
            Some(IndexLocation {
                path: name,
                fetch_path,
                compression: c,
                size: f.size,
                sha256: f.sha256.clone(),
                uncompressed,
            })
        })
    }

    /// The `Packages` index of `component` for `arch` (`binary-<arch>/Packages` under the
    /// component directory), as [`Release::index`].
    pub fn packages_index(&self, component: &str, arch: &str) -> Option<IndexLocation> {
        self.index(&format!("{component}/binary-{arch}/Packages"))
    }

    /// The `Packages` indexes apt reads for `component` on `arch`: `binary-<arch>`, plus
    /// `binary-all` when the `Release` lists one and does not say
    /// `No-Support-for-Architecture-all: Packages` (then `all` packages are already in every
    /// `binary-<arch>`).
    pub fn packages_indexes(&self, component: &str, arch: &str) -> Vec<IndexLocation> {
        let mut out: Vec<IndexLocation> = self.packages_index(component, arch).into_iter().collect();
        let all_inline = self.no_support_for_architecture_all.as_deref() == Some("Packages");
        if arch != "all" && !all_inline {
            out.extend(self.packages_index(component, "all"));
        }
        out
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` of a Unix time, for messages.
pub(crate) fn date_time(secs: u64) -> String {
    let rem = secs % 86_400;
    format!("{} {:02}:{:02}:{:02} UTC", date(secs), rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses the RFC 2822 dates of `Release` files: `Sat, 10 May 2025 08:52:38 UTC` (the day
/// name is optional; the zone may be `UTC`, `GMT`, `Z` or `+hhmm`/`-hhmm`).
pub fn parse_rfc2822(s: &str) -> Result<u64, String> {
    let bad = |why: &str| format!("{s:?} is not an RFC 2822 date ({why})");
    let rest = s.split_once(',').map(|(_, r)| r).unwrap_or(s);
    let words: Vec<&str> = rest.split_whitespace().collect();
    let [day, month, year, time, zone @ ..] = words.as_slice() else { return Err(bad("too few parts")) };
    let day: i64 = day.parse().map_err(|_| bad("day"))?;
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| m.eq_ignore_ascii_case(month))
        .ok_or_else(|| bad("month"))? as i64
        + 1;
    let year: i64 = year.parse().map_err(|_| bad("year"))?;
    let hms: Vec<i64> = time.split(':').map(|p| p.parse().map_err(|_| bad("time"))).collect::<Result<_, _>>()?;
    let (h, mi, sec) = match hms.as_slice() {
        [h, m, s] => (*h, *m, *s),
        [h, m] => (*h, *m, 0),
        _ => return Err(bad("time")),
    };
    if !(1..=31).contains(&day) || !(0..24).contains(&h) || !(0..60).contains(&mi) || !(0..=60).contains(&sec) {
        return Err(bad("out of range"));
    }
    let offset = match zone {
        [] | ["UTC" | "GMT" | "Z" | "UT"] => 0,
        [z] if z.len() == 5 && (z.starts_with('+') || z.starts_with('-')) => {
            let n: i64 = z[1..].parse().map_err(|_| bad("zone"))?;
            let secs = (n / 100) * 3600 + (n % 100) * 60;
            if z.starts_with('-') { -secs } else { secs }
        }
        _ => return Err(bad("zone")),
    };
    let t = days_from_civil(year, month, day) * 86_400 + h * 3600 + mi * 60 + sec - offset;
    u64::try_from(t).map_err(|_| bad("before 1970"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The head and two files of the real bookworm-security Release (Components: updates/main,
    /// paths under main/).
    const SECURITY: &str = "Origin: Debian
Label: Debian-Security
Suite: stable-security
Version: 12
Codename: bookworm-security
Date: Sat, 10 May 2025 08:52:38 UTC
Valid-Until: Sat, 17 May 2025 08:52:38 UTC
Acquire-By-Hash: yes
No-Support-for-Architecture-all: Packages
Architectures: amd64 arm64 armel armhf i386 ppc64el s390x
Components: updates/main updates/contrib updates/non-free updates/non-free-firmware
Description: Debian 12 - Security Updates
MD5Sum:
 0a2f8b4bc2e3cd9e44c4fc10a6a3bc6d   123 main/binary-amd64/Packages
SHA256:
 8b3bdcd4cbc8d6da0a0bea81bcbb2f7a6e26d4e2a2d15d6f6f8a2e1bb53d7c01  1432109 main/binary-amd64/Packages
 d4fbc1ae2b1c2ad5fe20eecbfc2a9a2cc56c2bc9ea0d0d7e0cba6e0c85a3a86e   301234 main/binary-amd64/Packages.xz
 11fbc1ae2b1c2ad5fe20eecbfc2a9a2cc56c2bc9ea0d0d7e0cba6e0c85a3a86e   401234 main/binary-amd64/Packages.gz
 22fbc1ae2b1c2ad5fe20eecbfc2a9a2cc56c2bc9ea0d0d7e0cba6e0c85a3a86e   501234 main/binary-arm64/Packages.gz
";

    #[test]
    fn parses_the_security_release() {
        let r = Release::parse(SECURITY, "InRelease").expect("parse");
        assert_eq!(r.origin.as_deref(), Some("Debian"));
        assert_eq!(r.label.as_deref(), Some("Debian-Security"));
        assert_eq!(r.suite.as_deref(), Some("stable-security"));
        assert_eq!(r.codename.as_deref(), Some("bookworm-security"));
        assert_eq!(r.version.as_deref(), Some("12"));
        assert_eq!(r.date, Some(1_746_867_158));
        assert_eq!(r.valid_until, Some(1_746_867_158 + 7 * 86_400));
        assert!(r.acquire_by_hash);
        assert_eq!(r.architectures.len(), 7);
        assert_eq!(r.components[0], "updates/main");
        assert!(r.has_component("main") && r.has_component("updates/main") && !r.has_component("universe"));
        assert_eq!(r.no_support_for_architecture_all.as_deref(), Some("Packages"));
        assert_eq!(r.files.len(), 4);
        assert_eq!(r.files[1].size, 301_234);

        let xz = r.packages_index("main", "amd64").expect("amd64");
        assert_eq!(xz.path, "main/binary-amd64/Packages.xz");
        assert_eq!(
            xz.fetch_path,
            "main/binary-amd64/by-hash/SHA256/d4fbc1ae2b1c2ad5fe20eecbfc2a9a2cc56c2bc9ea0d0d7e0cba6e0c85a3a86e"
        );
        assert_eq!(xz.compression, Compression::Xz);
        let gz = r.packages_index("main", "arm64").expect("arm64");
        assert_eq!(
            (gz.path.as_str(), gz.compression, gz.size),
            ("main/binary-arm64/Packages.gz", Compression::Gzip, 501_234)
        );
        assert!(r.packages_index("main", "s390x").is_none());
        assert_eq!(r.packages_indexes("main", "amd64"), std::slice::from_ref(&xz));
        let plain = Release { acquire_by_hash: false, ..r.clone() };
        assert_eq!(plain.index("main/binary-amd64/Packages").expect("x").fetch_path, "main/binary-amd64/Packages.xz");
        // Without No-Support-for-Architecture-all, a listed binary-all index is read too.
        let mut with_all = Release { no_support_for_architecture_all: None, ..plain.clone() };
        with_all.files.push(ReleaseFile { path: "main/binary-all/Packages.gz".into(), ..r.files[3].clone() });
        let paths: Vec<String> = with_all.packages_indexes("main", "amd64").into_iter().map(|l| l.path).collect();
        assert_eq!(paths, ["main/binary-amd64/Packages.xz", "main/binary-all/Packages.gz"]);
        let only_plain = Release { files: vec![r.files[0].clone()], ..plain };
        let p = only_plain.packages_index("main", "amd64").expect("plain");
        assert_eq!((p.path.as_str(), p.compression), ("main/binary-amd64/Packages", Compression::None));
    }

    #[test]
    fn validity_window() {
        let r = Release::parse(SECURITY, "InRelease").expect("parse");
        let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let date = r.date.expect("date");
        r.check_validity("InRelease", at(date + 3600), false).expect("fresh");
        let msg = r.check_validity("InRelease", at(date + 8 * 86_400), false).expect_err("expired").to_string();
        assert_eq!(
            msg,
            "InRelease: expired: Valid-Until 2025-05-17 08:52:38 UTC has passed; updates from this repository are \
             not applied (a snapshot archive needs the expiry check turned off)"
        );
        r.check_validity("InRelease", at(date + 8 * 86_400), true).expect("allowed");
        r.check_validity("InRelease", at(date - 10), false).expect("10 s ahead is tolerated");
        let msg = r.check_validity("InRelease", at(date - 11), true).expect_err("future").to_string();
        assert!(msg.contains("Date 2025-05-10 08:52:38 UTC is in the future"), "{msg}");
    }

    #[test]
    fn suite_must_be_the_one_asked_for() {
        let r = Release::parse(SECURITY, "InRelease").expect("parse");
        r.check_suite("InRelease", "bookworm-security").expect("codename");
        r.check_suite("InRelease", "stable-security").expect("suite");
        let msg = r.check_suite("InRelease", "trixie-security").expect_err("other").to_string();
        assert_eq!(
            msg,
            "InRelease: conflicting distribution: expected \"trixie-security\", but the Release is for suite \
             stable-security and codename bookworm-security"
        );
        let bare = Release::default();
        assert!(
            bare.check_suite("Release", "x")
                .expect_err("none")
                .to_string()
                .contains("suite (none) and codename (none)")
        );
    }

    #[test]
    fn bad_release_files() {
        let err = |t: &str| Release::parse(t, "Release").expect_err("bad").to_string();
        assert_eq!(err(""), "Release: empty Release file");
        assert_eq!(err("Origin: a\nSHA256:\n abc 12 main/x\n"), "Release line 3: \"abc\" is not a SHA256");
        let h = "a".repeat(64);
        assert_eq!(
            err(&format!("SHA256:\n {h} 12\n")),
            format!("Release line 2: SHA256 entry \"{h} 12\" is not \"HASH SIZE PATH\"")
        );
        assert_eq!(err(&format!("SHA256:\n {h} x main/P\n")), "Release line 2: size \"x\" is not a number");
        assert_eq!(err(&format!("SHA256:\n {h} 1 ../P\n")), "Release line 2: unsafe index path \"../P\"");
        assert!(err("Date: yesterday\n").starts_with("Release line 1: Date: \"yesterday\" is not an RFC 2822 date"));
        assert_eq!(err("A: 1\n\nB: 2\n"), "Release line 3: more than one paragraph in a Release file");
    }

    #[test]
    fn rfc2822_dates() {
        assert_eq!(parse_rfc2822("Thu, 01 Jan 1970 00:00:00 UTC"), Ok(0));
        assert_eq!(parse_rfc2822("Sat, 29 Feb 2020 12:00:00 +0100"), Ok(1_582_974_000));
        assert_eq!(parse_rfc2822("29 Feb 2020 11:00:00 GMT"), Ok(1_582_974_000));
        assert!(parse_rfc2822("Sat, 10 Foo 2025 08:52:38 UTC").is_err());
        assert!(parse_rfc2822("Sat, 10 May 2025 25:52:38 UTC").is_err());
    }
}
