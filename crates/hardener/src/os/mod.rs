//! Which operating system an image holds, and whether its release still gets security
//! fixes.
//!
//! Detection reads a handful of small files from the merged filesystem (symlinks resolved
//! inside the root): `etc/os-release` then `usr/lib/os-release`, `etc/debian_version`,
//! `etc/alpine-release` and `etc/apk/repositories`. The pure part, [`identify`], works on
//! their texts.

use std::collections::BTreeMap;

use oci_core::{EntryKind, MergedFs};
use serde::Serialize;

use crate::Result;

mod eol;

pub use eol::Eol;
use eol::eol_for;
#[cfg(test)]
use eol::{ALPINE_EOL, DEBIAN_CSV, UBUNTU_CSV};

/// Files larger than this are not OS identification files.
const MAX_OS_FILE_BYTES: u64 = 1 << 20;

/// The family of an operating system: which package manager and advisory sources apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum OsFamily {
    /// Debian and its derivatives (Ubuntu, …): dpkg.
    Debian,
    /// Alpine Linux: apk.
    Alpine,
    /// Anything else.
    Other,
}

/// The operating system of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OsInfo {
    /// `ID` of os-release, lower case: `debian`, `ubuntu`, `alpine`, …
    pub id: String,
    /// `VERSION_ID`: `12`, `22.04`, `3.20.3` (`None` for Debian testing/unstable).
    pub version_id: Option<String>,
    /// `VERSION_CODENAME` (or the codename in `VERSION`, or Debian's `etc/debian_version`
    /// for testing): `bookworm`.
    pub codename: Option<String>,
    /// `PRETTY_NAME`.
    pub pretty_name: Option<String>,
    /// The family, from `ID` and `ID_LIKE`.
    pub family: OsFamily,
    /// A Debian image without `var/lib/dpkg/status` but with `var/lib/dpkg/status.d/`
    /// (Google's distroless images).
    pub distroless: bool,
    /// End of security support, when known for this release.
    pub eol: Option<Eol>,
}

impl OsInfo {
    /// The Alpine branch (`v3.20`, or `edge`) of an Alpine system.
    pub fn alpine_branch(&self) -> Option<String> {
        if self.family != OsFamily::Alpine {
            return None;
        }
        alpine_branch(self.version_id.as_deref()?)
    }

    /// A short human name: `PRETTY_NAME`, else `ID VERSION_ID`.
    pub fn display_name(&self) -> String {
        match (&self.pretty_name, &self.version_id) {
            (Some(p), _) => p.clone(),
            (None, Some(v)) => format!("{} {v}", self.id),
            (None, None) => self.id.clone(),
        }
    }
}

/// The texts of the OS identification files of a filesystem, and what its dpkg database
/// looks like.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OsFiles {
    /// `etc/os-release`, else `usr/lib/os-release`.
    pub os_release: Option<String>,
    /// `etc/debian_version`.
    pub debian_version: Option<String>,
    /// `etc/alpine-release`.
    pub alpine_release: Option<String>,
    /// `etc/apk/repositories`.
    pub apk_repositories: Option<String>,
    /// Whether `var/lib/dpkg/status` is a regular file.
    pub dpkg_status: bool,
    /// Whether `var/lib/dpkg/status.d` is a directory.
    pub dpkg_status_d: bool,
}

impl OsFiles {
    /// Reads the identification files from `fs`.
    pub fn read(fs: &MergedFs) -> Result<OsFiles> {
        let os_release = match read_small(fs, "etc/os-release")? {
            Some(t) => Some(t),
            None => read_small(fs, "usr/lib/os-release")?,
        };
        Ok(OsFiles {
            os_release,
            debian_version: read_small(fs, "etc/debian_version")?,
            alpine_release: read_small(fs, "etc/alpine-release")?,
            apk_repositories: read_small(fs, "etc/apk/repositories")?,
            dpkg_status: is_kind(fs, "var/lib/dpkg/status", &[EntryKind::File, EntryKind::Hardlink]),
            dpkg_status_d: is_kind(fs, "var/lib/dpkg/status.d", &[EntryKind::Dir]),
        })
    }
}

fn is_kind(fs: &MergedFs, path: &str, kinds: &[EntryKind]) -> bool {
    fs.resolve(path).is_some_and(|(_, n)| kinds.contains(&n.meta.kind))
}

/// The text of a small regular file (following symlinks inside the root), or `None` when
/// there is none.
fn read_small(fs: &MergedFs, path: &str) -> Result<Option<String>> {
    match fs.resolve(path) {
        Some((real, node))
            if matches!(node.meta.kind, EntryKind::File | EntryKind::Hardlink)
                && node.meta.size <= MAX_OS_FILE_BYTES =>
        {
            Ok(Some(String::from_utf8_lossy(&fs.read(&real)?).into_owned()))
        }
        _ => Ok(None),
    }
}

/// Detects the operating system of a merged filesystem, with its end of life relative to
/// `today` (`YYYY-MM-DD`, injected so results are reproducible; see [`today_utc`]).
///
/// Returns `None` when nothing identifies an OS (a `scratch` image, a static binary).
///
/// # Security
/// Reads at most 1 MiB from each of five fixed paths; symlinks are resolved inside the
/// image root, never on the host.
pub fn detect_os(fs: &MergedFs, today: &str) -> Result<Option<OsInfo>> {
    Ok(identify(&OsFiles::read(fs)?, today).0)
}

/// Identifies the OS from the texts of its identification files; also returns warnings
/// (end of life reached, an Alpine repository branch that disagrees with the release).
pub(crate) fn identify(files: &OsFiles, today: &str) -> (Option<OsInfo>, Vec<String>) {
    let mut warnings = Vec::new();
    let release = files.os_release.as_deref().map(parse_os_release).unwrap_or_default();
    let get = |k: &str| release.get(k).map(|v| v.trim()).filter(|v| !v.is_empty()).map(str::to_owned);
    let mut id = get("ID").map(|s| s.to_ascii_lowercase());
    let id_like: Vec<String> =
        get("ID_LIKE").map(|s| s.split_whitespace().map(str::to_ascii_lowercase).collect()).unwrap_or_default();
    let mut version_id = get("VERSION_ID");
    let mut codename = get("VERSION_CODENAME").or_else(|| get("UBUNTU_CODENAME")).or_else(|| {
        // Debian 8 and older: `VERSION="8 (jessie)"`.
        let v = get("VERSION")?;
        let inner = v.get(v.find('(')? + 1..v.rfind(')')?)?.trim();
        (!inner.is_empty() && !inner.contains(char::is_whitespace)).then(|| inner.to_ascii_lowercase())
    });
    let pretty_name = get("PRETTY_NAME");

    let debian_version = files.debian_version.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if let Some(dv) = debian_version
        && id.as_deref().is_none_or(|i| i == "debian")
    {
        id = Some("debian".into());
        match dv.split_once('/') {
            // `trixie/sid`: testing or unstable, before its release.
            Some((next, _)) => {
                codename.get_or_insert_with(|| next.to_ascii_lowercase());
            }
            None if dv.starts_with(|c: char| c.is_ascii_digit()) => {
                version_id.get_or_insert_with(|| debian_release(dv));
            }
            None => {}
        }
    }
    let alpine_release = files.alpine_release.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if let Some(ar) = alpine_release
        && id.as_deref().is_none_or(|i| i == "alpine")
    {
        id = Some("alpine".into());
        version_id.get_or_insert_with(|| ar.to_owned());
    }
    let repo_branch = files.apk_repositories.as_deref().and_then(repositories_branch);
    if let Some(branch) = &repo_branch
        && id.as_deref().is_none_or(|i| i == "alpine")
    {
        id = Some("alpine".into());
        if version_id.is_none() {
            version_id = Some(branch.strip_prefix('v').unwrap_or(branch).to_owned());
        }
    }

    let Some(id) = id else { return (None, warnings) };
    let family = match id.as_str() {
        "debian" | "ubuntu" => OsFamily::Debian,
        "alpine" => OsFamily::Alpine,
        _ if id_like.iter().any(|l| l == "debian" || l == "ubuntu") => OsFamily::Debian,
        _ if id_like.iter().any(|l| l == "alpine") => OsFamily::Alpine,
        _ => OsFamily::Other,
    };
    let eol = eol_for(&id, version_id.as_deref(), today);
    let os = OsInfo {
        distroless: family == OsFamily::Debian && !files.dpkg_status && files.dpkg_status_d,
        id,
        version_id,
        codename,
        pretty_name,
        family,
        eol,
    };
    if let (Some(repo), Some(own)) = (&repo_branch, os.alpine_branch())
        && *repo != own
    {
        warnings.push(format!(
            "etc/apk/repositories uses Alpine {repo} but the system is {}: packages may come from another release",
            os.display_name()
        ));
    }
    if let Some(eol) = &os.eol
        && eol.reached
    {
        let extended = match &eol.extended {
            Some(x) if x.as_str() >= today => format!("; extended support (LTS/ESM) continues until {x}"),
            Some(x) => format!("; extended support (LTS/ESM) also ended on {x}"),
            None => String::new(),
        };
        warnings.push(format!(
            "{} reached its end of life on {}: no more security updates{extended}; scanning continues",
            os.display_name(),
            eol.date
        ));
    }
    (Some(os), warnings)
}

/// Parses an os-release file (`KEY=value` lines, values optionally quoted with shell
/// quoting; `#` comments).
pub fn parse_os_release(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else { continue };
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        out.insert(key.to_owned(), unquote(raw.trim()));
    }
    out
}

/// Removes shell quoting: `"a \"b\""` → `a "b"`, `'x'` → `x`.
fn unquote(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    let mut quote = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some('"') | None, '\\') => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            (None, '#') if out.is_empty() || out.ends_with(char::is_whitespace) => break,
            (_, c) => out.push(c),
        }
    }
    out.trim_end().to_owned()
}

/// Debian's release number from `etc/debian_version`: `12.7` → `12`; before Debian 7,
/// releases were `major.minor` (`6.0.10` → `6.0`).
fn debian_release(debian_version: &str) -> String {
    let mut parts = debian_version.split('.');
    let major = parts.next().unwrap_or_default();
    match (major.parse::<u32>(), parts.next()) {
        (Ok(m), Some(minor)) if m < 7 => format!("{major}.{minor}"),
        _ => major.to_owned(),
    }
}

/// The Alpine branch named by `etc/apk/repositories`: the first untagged repository URL
/// with a `vX.Y` or `edge` path component.
fn repositories_branch(text: &str) -> Option<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('@')).find_map(
        |line| {
            line.split('/').find_map(|c| {
                let is_branch = c == "edge"
                    || c.strip_prefix('v').is_some_and(|v| {
                        let mut p = v.split('.');
                        p.next().is_some_and(is_number) && p.next().is_some_and(is_number) && p.next().is_none()
                    });
                is_branch.then(|| c.to_owned())
            })
        },
    )
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `3.20.3` → `v3.20`; an edge snapshot (`3.21_alpha20240807`, or `edge`) → `edge`.
fn alpine_branch(version_id: &str) -> Option<String> {
    if version_id == "edge" || version_id.contains("_alpha") {
        return Some("edge".into());
    }
    let mut parts = version_id.split('.');
    let (major, minor) = (parts.next()?, parts.next()?);
    (is_number(major) && is_number(minor)).then(|| format!("v{major}.{minor}"))
}

/// Today's date in UTC as `YYYY-MM-DD`, from the system clock (for callers of
/// [`detect_os`] and [`crate::inventory`]; tests inject a fixed date instead).
pub fn today_utc() -> String {
    oci_core::time::format_date(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALPINE_320: &str = "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME=\"Alpine Linux v3.20\"\n\
        HOME_URL=\"https://alpinelinux.org/\"\n";
    const BOOKWORM: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
        VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n";

    fn files(os_release: Option<&str>) -> OsFiles {
        OsFiles { os_release: os_release.map(str::to_owned), ..OsFiles::default() }
    }

    #[test]
    fn os_release_quoting() {
        let m = parse_os_release(
            "# comment\nA=plain\nB=\"double \\\"q\\\" $x\"\nC='single'\n bad line\nD=x # trailing\nE=http://x/#y\n=v\n",
        );
        assert_eq!(m["A"], "plain");
        assert_eq!(m["B"], "double \"q\" $x");
        assert_eq!(m["C"], "single");
        assert_eq!(m["D"], "x");
        assert_eq!(m["E"], "http://x/#y");
        assert_eq!(m.len(), 5);
    }

    #[test]
    fn debian_from_os_release_with_eol_and_lts() {
        let (os, warnings) = identify(&OsFiles { dpkg_status: true, ..files(Some(BOOKWORM)) }, "2026-07-11");
        let os = os.unwrap();
        assert_eq!(
            (os.id.as_str(), os.version_id.as_deref(), os.codename.as_deref()),
            ("debian", Some("12"), Some("bookworm"))
        );
        assert_eq!(os.family, OsFamily::Debian);
        assert!(!os.distroless);
        assert_eq!(
            os.eol,
            Some(Eol { date: "2026-07-11".into(), reached: false, extended: Some("2028-06-30".into()) })
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        let (os, warnings) = identify(&files(Some(BOOKWORM)), "2026-07-12");
        assert!(os.unwrap().eol.unwrap().reached, "the day after the last supported day");
        assert_eq!(
            warnings,
            ["Debian GNU/Linux 12 (bookworm) reached its end of life on 2026-07-11: no more security updates; \
              extended support (LTS/ESM) continues until 2028-06-30; scanning continues"]
        );
    }

    #[test]
    fn debian_version_alone_and_testing() {
        let only =
            |dv: &str| identify(&OsFiles { debian_version: Some(dv.into()), ..OsFiles::default() }, "2020-01-01");
        let os = only("10.13\n").0.unwrap();
        assert_eq!((os.id.as_str(), os.version_id.as_deref()), ("debian", Some("10")));
        assert_eq!(os.eol.as_ref().map(|e| e.date.as_str()), Some("2022-09-10"));
        assert_eq!(only("6.0.10").0.unwrap().eol.unwrap().date, "2014-05-31", "6.0 is a major.minor release");
        let testing = only("bookworm/sid").0.unwrap();
        assert_eq!((testing.version_id, testing.codename.as_deref(), testing.eol), (None, Some("bookworm"), None));
        // Debian 8's os-release has the codename only in VERSION; debian_version adds nothing.
        let jessie = "ID=debian\nVERSION_ID=\"8\"\nVERSION=\"8 (jessie)\"\n";
        let (os, w) = identify(&OsFiles { debian_version: Some("8.11".into()), ..files(Some(jessie)) }, "2024-01-01");
        let os = os.unwrap();
        assert_eq!((os.version_id.as_deref(), os.codename.as_deref()), (Some("8"), Some("jessie")));
        assert!(w[0].contains("also ended on 2020-06-30"), "{w:?}");
    }

    #[test]
    fn ubuntu_uses_server_eol_and_esm() {
        let text = "ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"22.04\"\nVERSION_CODENAME=jammy\n";
        // debian_version on Ubuntu says `bookworm/sid`; it must not turn Ubuntu into Debian.
        let f = OsFiles { debian_version: Some("bookworm/sid".into()), ..files(Some(text)) };
        let os = identify(&f, "2025-01-01").0.unwrap();
        assert_eq!((os.id.as_str(), os.codename.as_deref(), os.family), ("ubuntu", Some("jammy"), OsFamily::Debian));
        assert_eq!(
            os.eol,
            Some(Eol { date: "2027-06-01".into(), reached: false, extended: Some("2032-04-21".into()) })
        );
    }

    #[test]
    fn alpine_sources_and_table() {
        let os = identify(&files(Some(ALPINE_320)), "2026-04-01").0.unwrap();
        assert_eq!((os.family, os.alpine_branch().as_deref()), (OsFamily::Alpine, Some("v3.20")));
        assert_eq!(os.eol, Some(Eol { date: "2026-04-01".into(), reached: false, extended: None }));
        assert!(identify(&files(Some(ALPINE_320)), "2026-04-02").0.unwrap().eol.unwrap().reached);

        let release_only = OsFiles { alpine_release: Some("3.19.4\n".into()), ..OsFiles::default() };
        let os = identify(&release_only, "2024-01-01").0.unwrap();
        assert_eq!((os.id.as_str(), os.version_id.as_deref(), os.pretty_name), ("alpine", Some("3.19.4"), None));
        assert_eq!(os.eol.unwrap().date, "2025-11-01");

        let repos = "# mirror\n@testing https://dl-cdn.alpinelinux.org/alpine/edge/testing\n\
            https://dl-cdn.alpinelinux.org/alpine/v3.18/main\n";
        let os =
            identify(&OsFiles { apk_repositories: Some(repos.into()), ..OsFiles::default() }, "2024-01-01").0.unwrap();
        assert_eq!((os.version_id.as_deref(), os.alpine_branch().as_deref()), (Some("3.18"), Some("v3.18")));
        assert_eq!(os.eol.unwrap().date, "2025-05-09");

        let (_, w) =
            identify(&OsFiles { apk_repositories: Some(repos.into()), ..files(Some(ALPINE_320)) }, "2024-01-01");
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("Alpine v3.18 but the system is Alpine Linux v3.20"), "{w:?}");

        let edge = "ID=alpine\nVERSION_ID=3.21_alpha20240807\nPRETTY_NAME=\"Alpine Linux edge\"\n";
        let os = identify(&files(Some(edge)), "2024-01-01").0.unwrap();
        assert_eq!((os.alpine_branch().as_deref(), os.eol), (Some("edge"), None));
    }

    #[test]
    fn distroless_and_unknown() {
        let f = OsFiles { dpkg_status_d: true, ..files(Some(BOOKWORM)) };
        assert!(identify(&f, "2024-01-01").0.unwrap().distroless);
        let f = OsFiles { dpkg_status: true, dpkg_status_d: true, ..files(Some(BOOKWORM)) };
        assert!(!identify(&f, "2024-01-01").0.unwrap().distroless);
        let wolfi = identify(&files(Some("ID=wolfi\nNAME=Wolfi\n")), "2024-01-01").0.unwrap();
        assert_eq!((wolfi.family, wolfi.eol), (OsFamily::Other, None));
        let mint = identify(&files(Some("ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n")), "2024-01-01").0.unwrap();
        assert_eq!(mint.family, OsFamily::Debian);
        assert_eq!(identify(&OsFiles { dpkg_status: true, ..OsFiles::default() }, "2024-01-01").0, None);
    }

    #[test]
    fn civil_dates() {
        let date = |days: u64| {
            oci_core::time::format_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(days * 86_400))
        };
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(19_723), "2024-01-01");
        assert_eq!(date(19_782), "2024-02-29");
        assert_eq!(today_utc().len(), 10);
    }

    #[test]
    fn embedded_tables_are_well_formed() {
        for csv in [DEBIAN_CSV, UBUNTU_CSV] {
            let width = csv.lines().next().unwrap().split(',').count();
            for line in csv.lines() {
                assert!(line.split(',').count() <= width, "{line}");
            }
        }
        for pair in ALPINE_EOL.windows(2) {
            assert!(pair[0].1 < pair[1].1, "Alpine dates increase: {pair:?}");
        }
    }
}
