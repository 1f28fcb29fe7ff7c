//! dpkg's database: `var/lib/dpkg/status`, and the per-package files of distroless
//! images' `var/lib/dpkg/status.d/`.
//!
//! The format is deb822: stanzas of `Field: value` lines separated by blank lines, values
//! continued on lines that start with a space or a tab. Field names are case-insensitive.
//!
//! # Which packages are listed
//! The third word of `Status: want flag state` decides. Listed: every state in which the
//! package's files are on disk — `installed`, and also `half-configured`, `unpacked`,
//! `triggers-awaited`, `triggers-pending` and `half-installed`, each with a warning, since
//! their code is there and can be vulnerable. Not listed: `not-installed` and
//! `config-files` (removed; only configuration files remain). This is `dpkg-query -W`
//! (which lists every state but `not-installed`) minus `config-files`; `Package::status`
//! keeps the state (`dpkg-query -f '${db:Status-Status}'`) for callers that want only
//! `installed`, as Trivy does. A stanza without `Status` is not installed in `status`
//! (as dpkg reads it) and installed in `status.d/` (distroless files carry no status).

use super::{Package, PackageFormat};
use crate::{Error, Result};

/// States whose files are on disk: the package is listed.
const ON_DISK: &[&str] =
    &["installed", "half-configured", "unpacked", "triggers-awaited", "triggers-pending", "half-installed"];
/// States without the package's files: not listed.
const NOT_ON_DISK: &[&str] = &["not-installed", "config-files"];

/// Parses `var/lib/dpkg/status`, returning the listed packages (see the module docs) and
/// warnings for skipped or doubtful stanzas. `path` names the file in messages and in
/// [`Package::db_path`].
///
/// # Errors
/// [`Error::PackageDb`] with the line number when a line is neither `Field: value`, a
/// continuation nor blank (a corrupt file). A file cut in its last line (no final
/// newline) is a warning instead; the package that line belongs to is dropped when the
/// cut field is one the inventory uses.
pub fn parse_dpkg_status(text: &str, path: &str) -> Result<(Vec<Package>, Vec<String>)> {
    parse(text, path, Db::Status)
}

/// Parses one file of `var/lib/dpkg/status.d/` (distroless images): like
/// [`parse_dpkg_status`], but a stanza without `Status` is installed.
pub fn parse_dpkg_status_d(text: &str, path: &str) -> Result<(Vec<Package>, Vec<String>)> {
    parse(text, path, Db::StatusD)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Db {
    Status,
    StatusD,
}

/// The fields the inventory uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Package,
    Status,
    Version,
    Architecture,
    Source,
}

impl Key {
    const ALL: [(Key, &'static str); 5] = [
        (Key::Package, "Package"),
        (Key::Status, "Status"),
        (Key::Version, "Version"),
        (Key::Architecture, "Architecture"),
        (Key::Source, "Source"),
    ];

    fn of(name: &str) -> Option<Key> {
        Key::ALL.iter().find(|(_, n)| n.eq_ignore_ascii_case(name)).map(|(k, _)| *k)
    }

    fn name(self) -> &'static str {
        Key::ALL.iter().find(|(k, _)| *k == self).map_or("", |(_, n)| n)
    }
}

#[derive(Debug, Default)]
struct Stanza {
    start: usize,
    fields: [Option<(String, usize)>; 5],
    /// The line where the file was cut inside one of the fields above.
    truncated: Option<(usize, Key)>,
}

impl Stanza {
    fn get(&self, key: Key) -> Option<&(String, usize)> {
        self.fields[key as usize].as_ref()
    }
}

fn error(path: &str, line: usize, reason: impl std::fmt::Display) -> Error {
    Error::PackageDb { path: path.to_owned(), reason: format!("line {line}: {reason}") }
}

/// The start of a line for messages (at most 60 characters).
pub(super) fn snippet(line: &str) -> String {
    let short: String = line.chars().take(60).collect();
    if short.len() < line.len() { format!("{short:?}…") } else { format!("{short:?}") }
}

fn parse(text: &str, path: &str, db: Db) -> Result<(Vec<Package>, Vec<String>)> {
    let mut packages = Vec::new();
    let mut warnings = Vec::new();
    let cut = !text.is_empty() && !text.ends_with('\n');
    let last = text.split('\n').count();
    let mut stanza: Option<Stanza> = None;
    let mut seen_stanza = false;
    // The field continuation lines extend: `Some(Some(key))` for a used field,
    // `Some(None)` for another field, `None` outside fields.
    let mut current: Option<Option<Key>> = None;
    for (i, raw) in text.split('\n').enumerate() {
        let no = i + 1;
        let unterminated = cut && no == last;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            if let Some(s) = stanza.take() {
                finish(s, db, path, &mut packages, &mut warnings);
            }
            current = None;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match current {
                None if unterminated => {}
                None => return Err(error(path, no, "a continuation line (starting with a space) outside any field")),
                Some(None) => {}
                Some(Some(key)) => {
                    let s = stanza.as_mut().expect("a field is open, so is its stanza");
                    if let Some((value, _)) = &mut s.fields[key as usize] {
                        value.push('\n');
                        value.push_str(line.trim());
                    }
                    if unterminated {
                        s.truncated = Some((no, key));
                    }
                }
            }
            continue;
        }
        let Some((name, value)) =
            line.split_once(':').filter(|(n, _)| !n.is_empty() && !n.contains(char::is_whitespace))
        else {
            if unterminated {
                break; // reported below as a cut file
            }
            return Err(error(path, no, format_args!("expected `Field: value`, found {}", snippet(line))));
        };
        seen_stanza = true;
        let s = stanza.get_or_insert_with(|| Stanza { start: no, ..Stanza::default() });
        let key = Key::of(name);
        current = Some(key);
        if let Some(key) = key {
            let slot = &mut s.fields[key as usize];
            match slot {
                Some((_, first)) => {
                    warnings.push(format!(
                        "{path}: line {no}: second {} field in the stanza of line {} (first on line {first}); ignored",
                        key.name(),
                        s.start
                    ));
                    current = Some(None);
                }
                None => *slot = Some((value.trim().to_owned(), no)),
            }
            if unterminated {
                s.truncated = Some((no, key));
            }
        }
    }
    if let Some(s) = stanza.take() {
        finish(s, db, path, &mut packages, &mut warnings);
    }
    if cut {
        warnings.push(format!("{path}: line {last}: the file ends without a newline: it may be truncated"));
    }
    if !seen_stanza {
        warnings.push(format!("{path}: no package stanza: the database is empty"));
    }
    Ok((packages, warnings))
}

/// Turns a stanza into a package, or a warning saying why it is skipped.
fn finish(s: Stanza, db: Db, path: &str, out: &mut Vec<Package>, warnings: &mut Vec<String>) {
    let mut warn = |line: usize, msg: String| warnings.push(format!("{path}: line {line}: {msg}"));
    let Some((name, _)) = s.get(Key::Package) else {
        warn(s.start, "stanza without a Package field; skipped".into());
        return;
    };
    if name.is_empty() || name.contains(char::is_whitespace) {
        warn(s.start, format!("invalid package name {name:?}; skipped"));
        return;
    }
    if let Some((line, key)) = s.truncated {
        warn(line, format!("the file ends inside package {name}'s {} field; package skipped", key.name()));
        return;
    }
    let state = match (s.get(Key::Status), db) {
        (None, Db::StatusD) => None,
        (None, Db::Status) => {
            warn(s.start, format!("package {name} has no Status field; skipped (dpkg reads it as not installed)"));
            return;
        }
        (Some((status, line)), _) => {
            let words: Vec<&str> = status.split_whitespace().collect();
            let [_want, _flag, state] = words[..] else {
                warn(*line, format!("package {name}: Status {status:?} is not `want flag state`; skipped"));
                return;
            };
            if NOT_ON_DISK.contains(&state) {
                return;
            }
            if !ON_DISK.contains(&state) {
                warn(*line, format!("package {name}: unknown state {state:?} in Status; skipped"));
                return;
            }
            Some(state)
        }
    };
    let Some((version, vline)) = s.get(Key::Version).filter(|(v, _)| !v.is_empty()) else {
        warn(s.start, format!("package {name} has no Version field; skipped"));
        return;
    };
    if version.contains(char::is_whitespace) {
        warn(*vline, format!("package {name}: invalid Version {version:?}; skipped"));
        return;
    }
    if let Some(state) = state.filter(|s| *s != "installed") {
        warn(
            s.start,
            format!("package {name} {version} is {state}, not fully installed; listed, as its files are on disk"),
        );
    }
    let (source_name, source_version) = match s.get(Key::Source) {
        None => (name.clone(), version.clone()),
        Some((source, line)) => match parse_source(source) {
            Some((n, v)) => (n.to_owned(), v.unwrap_or(version).to_owned()),
            None => {
                warn(*line, format!("package {name}: invalid Source {source:?}; using the package's own name"));
                (name.clone(), version.clone())
            }
        },
    };
    out.push(Package {
        name: name.clone(),
        version: version.clone(),
        architecture: s.get(Key::Architecture).map(|(a, _)| a.clone()).filter(|a| !a.is_empty()),
        source_name,
        source_version,
        format: PackageFormat::Dpkg,
        layer: None,
        db_path: path.to_owned(),
        status: state.map(str::to_owned),
    });
}

/// `name` or `name (version)`, as `dpkg-query`'s `${source:Package}` and
/// `${source:Version}` read it.
fn parse_source(source: &str) -> Option<(&str, Option<&str>)> {
    let (name, rest) = match source.split_once('(') {
        Some((n, r)) => (n.trim(), Some(r)),
        None => (source.trim(), None),
    };
    if name.is_empty() || name.contains(char::is_whitespace) {
        return None;
    }
    let version = match rest {
        None => None,
        Some(r) => {
            let v = r.trim_end().strip_suffix(')')?.trim();
            if v.is_empty() || v.contains(char::is_whitespace) {
                return None;
            }
            Some(v)
        }
    };
    Some((name, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCALIBR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/dpkg/osv-scalibr-dpkg/");

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{SCALIBR}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// `name version source:Package source:Version [state]`, as `dpkg-query -W` prints it.
    fn lines(packages: &[Package]) -> Vec<String> {
        packages
            .iter()
            .map(|p| {
                let state = p.status.as_deref().unwrap_or("-");
                format!("{} {} {} {} {state}", p.name, p.version, p.source_name, p.source_version)
            })
            .collect()
    }

    fn status(name: &str) -> (Vec<String>, Vec<String>) {
        let (p, w) = parse_dpkg_status(&fixture(name), "/var/lib/dpkg/status").unwrap();
        (lines(&p), w)
    }

    /// Splits a txtar archive (`-- name --` lines start files) into its files.
    pub(crate) fn txtar(text: &str) -> Vec<(String, String)> {
        let mut files: Vec<(String, String)> = Vec::new();
        for line in text.split_inclusive('\n') {
            let trimmed = line.trim_end_matches('\n');
            if let Some(name) = trimmed.strip_prefix("-- ").and_then(|r| r.strip_suffix(" --")) {
                files.push((name.trim().to_owned(), String::new()));
            } else if let Some((_, content)) = files.last_mut() {
                content.push_str(line);
            }
        }
        files
    }

    #[test]
    fn valid_single_and_trailing_newlines() {
        // Expected lines are what `dpkg-query --admindir=… -W -f '${Package} ${Version}
        // ${source:Package} ${source:Version} ${db:Status-Status}\n'` printed for each file.
        let (valid, w) = status("valid");
        assert_eq!(
            valid,
            [
                "accountsservice 22.08.8-6 accountsservice 22.08.8-6 installed",
                "acl 2.3.1-3 acl 2.3.1-3 installed",
                "adduser 3.131 adduser 3.131 installed",
                "admin-session 2023.06.26.c543406313-00 admin-session 2023.06.26.c543406313-00 installed",
                "attr 1:2.5.1-4 attr 1:2.5.1-4 installed",
                "libacl1 2.3.1-3 acl 2.3.1-3 installed",
                "util-linux-extra 2.38.1-5+b1 util-linux 2.38.1-5 installed",
            ]
        );
        assert!(w.is_empty(), "{w:?}");
        for name in ["single", "trailingnewlines"] {
            let (p, w) = parse_dpkg_status(&fixture(name), "status").unwrap();
            assert_eq!(lines(&p), ["acl 2.3.1-3 acl 2.3.1-3 installed"]);
            assert_eq!(p[0].architecture.as_deref(), Some("amd64"));
            assert_eq!((p[0].format, p[0].layer, p[0].db_path.as_str()), (PackageFormat::Dpkg, None, "status"));
            assert!(w.is_empty(), "{name}: {w:?}");
        }
    }

    #[test]
    fn transitional_packages_take_their_source() {
        assert_eq!(
            status("transitional").0,
            ["iceweasel 78.13.0esr-1~deb10u1 firefox-esr 78.13.0esr-1~deb10u1 installed"]
        );
        assert_eq!(status("transitional_dummy").0, ["git-core 1:2.14.2-1 git 1:2.14.2-1 installed"], "epoch kept");
        assert_eq!(
            status("transitional_empty").0,
            ["runit-systemd 2.1.2-54+usrmerge runit 2.1.2-54+usrmerge installed"]
        );
    }

    #[test]
    fn status_states() {
        let (p, w) = status("statusfield");
        // dpkg-query -W lists these six; config-files is dropped, `wantnostatus` is not
        // installed for dpkg either.
        assert_eq!(
            p,
            [
                "wantinstall_installed 1.0 wantinstall_installed 1.0 installed",
                "wantdeinstall_installed 1.0 wantdeinstall_installed 1.0 installed",
                "wantinstall_unpacked 1.0 wantinstall_unpacked 1.0 unpacked",
                "wantpurge_installed 1.0 wantpurge_installed 1.0 installed",
                "wantinstall_halfinstalled 1.0 wantinstall_halfinstalled 1.0 half-installed",
            ]
        );
        assert_eq!(
            w,
            [
                "/var/lib/dpkg/status: line 13: package wantinstall_unpacked 1.0 is unpacked, not fully installed; \
                 listed, as its files are on disk",
                "/var/lib/dpkg/status: line 21: package wantinstall_halfinstalled 1.0 is half-installed, not fully \
                 installed; listed, as its files are on disk",
                "/var/lib/dpkg/status: line 25: package wantnostatus has no Status field; skipped (dpkg reads it as \
                 not installed)",
            ]
        );
        let more = "Package: a\nStatus: install ok half-configured\nVersion: 1\n\n\
                    Package: b\nStatus: install ok triggers-awaited\nVersion: 1\n\n\
                    Package: c\nStatus: install ok triggers-pending\nVersion: 1\n\n\
                    Package: d\nStatus: purge ok not-installed\n\n\
                    Package: e\nStatus: install ok exploded\nVersion: 1\n\n\
                    Package: f\nStatus: install ok\nVersion: 1\n";
        let (p, w) = parse_dpkg_status(more, "s").unwrap();
        let states: Vec<_> = p.iter().map(|p| (p.name.as_str(), p.status.as_deref().unwrap())).collect();
        assert_eq!(states, [("a", "half-configured"), ("b", "triggers-awaited"), ("c", "triggers-pending")]);
        assert!(w[3].contains("line 17: package e: unknown state \"exploded\""), "{w:?}");
        assert!(w[4].contains("line 21: package f: Status \"install ok\" is not `want flag state`"), "{w:?}");
        assert_eq!(w.len(), 5);
    }

    #[test]
    fn missing_fields_are_warnings_naming_the_line() {
        let (p, w) = status("nopackage");
        assert_eq!(p, ["foo 1.0 foo 1.0 installed", "bar 2.0 bar 2.0 installed"]);
        assert_eq!(w, ["/var/lib/dpkg/status: line 5: stanza without a Package field; skipped"]);
        let (p, w) = status("noversion");
        assert_eq!(p, ["foo 1.0 foo 1.0 installed", "bar 2.0 bar 2.0 installed"]);
        assert_eq!(w, ["/var/lib/dpkg/status: line 5: package acl has no Version field; skipped"]);
    }

    #[test]
    fn garbage_and_empty() {
        let err = parse_dpkg_status(&fixture("invalid"), "/var/lib/dpkg/status").unwrap_err().to_string();
        assert_eq!(err, "package database /var/lib/dpkg/status: line 1: expected `Field: value`, found \"asdf\"");
        let (p, w) = parse_dpkg_status(&fixture("empty"), "/var/lib/dpkg/status").unwrap();
        assert!(p.is_empty());
        assert_eq!(w, ["/var/lib/dpkg/status: no package stanza: the database is empty"]);
        let err = parse_dpkg_status(" leading continuation\n", "s").unwrap_err().to_string();
        assert!(err.contains("line 1: a continuation line"), "{err}");
    }

    #[test]
    fn status_d_files_need_no_status() {
        let (p, w) = parse_dpkg_status_d(&fixture("status.d/foo"), "/var/lib/dpkg/status.d/foo").unwrap();
        assert_eq!(lines(&p), ["foo 1.2.3 foo 1.2.3 -"], "bar is config-files");
        assert!(w.is_empty(), "{w:?}");
        assert!(parse_dpkg_status_d(&fixture("status.d/foo.md5sums"), "x").is_err(), "md5sums are not stanzas");
    }

    #[test]
    fn truncated_files() {
        let full = "Package: a\nStatus: install ok installed\nVersion: 1.0-1\nDescription: x\n more\n\n\
                    Package: b\nStatus: install ok installed\nVersion: 2.0-1\nDescription: y\n";
        let (p, w) = parse_dpkg_status(full, "s").unwrap();
        assert_eq!(p.len(), 2);
        assert!(w.is_empty());
        // Cut in every byte: never a panic; either an error naming a line, or warnings.
        for end in 1..full.len() {
            let part = &full[..end];
            match parse_dpkg_status(part, "s") {
                Err(e) => assert!(e.to_string().contains("line "), "{end}: {e}"),
                Ok((p, w)) => {
                    if !part.ends_with('\n') {
                        assert!(w.iter().any(|w| w.contains("it may be truncated")), "{end}: {w:?}");
                    }
                    assert!(p.iter().all(|p| p.version == "1.0-1" || p.version == "2.0-1"), "{end}: {p:?}");
                }
            }
        }
        let (p, w) = parse_dpkg_status(&full[..full.find("2.0-1").unwrap() + 2], "s").unwrap();
        assert_eq!(lines(&p), ["a 1.0-1 a 1.0-1 installed"]);
        assert_eq!(
            w,
            [
                "s: line 9: the file ends inside package b's Version field; package skipped",
                "s: line 9: the file ends without a newline: it may be truncated",
            ]
        );
    }

    #[test]
    fn source_binnmu_crlf_case_and_duplicates() {
        let text = "package: libfoo1\r\nSTATUS: install ok installed\r\nSource: foo (1.2-3)\r\nVersion: 1.2-3+b1\r\n\
                    Architecture: amd64\r\nVersion: 9\r\n\r\nPackage: bar\nStatus: install ok installed\n\
                    Source: bar (1.0\nVersion: 1.0\n";
        let (p, w) = parse_dpkg_status(text, "s").unwrap();
        assert_eq!(lines(&p), ["libfoo1 1.2-3+b1 foo 1.2-3 installed", "bar 1.0 bar 1.0 installed"]);
        assert_eq!(p[0].architecture.as_deref(), Some("amd64"));
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("line 6: second Version field"), "{w:?}");
        assert!(w[1].contains("line 10: package bar: invalid Source"), "{w:?}");
        assert_eq!(parse_source("gcc-5 (5.1.1-12ubuntu1)"), Some(("gcc-5", Some("5.1.1-12ubuntu1"))));
        assert_eq!(parse_source("x (1) junk"), None);
    }

    #[test]
    fn trivy_txtar_archives() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/dpkg/trivy-dpkg/");
        // (archive, packages, expected lines present, warnings)
        let cases: &[(&str, usize, &[&str], usize)] = &[
            (
                "valid.txtar",
                90,
                &[
                    "bsdutils 1:2.31.1-0.4ubuntu3.1 util-linux 2.31.1-0.4ubuntu3.1 installed",
                    "adduser 3.116ubuntu1 adduser 3.116ubuntu1 installed",
                ],
                0,
            ),
            (
                "corrupsed.txtar",
                4,
                &[
                    "libgcc1 1:5.1.1-12ubuntu1 gcc-5 5.1.1-12ubuntu1 installed",
                    "libpam-runtime 1.1.8-3.1ubuntu3 pam 1.1.8-3.1ubuntu3 installed",
                ],
                2,
            ),
            ("digest.txtar", 2, &["sed 4.4-2 sed 4.4-2 installed", "tar 1.34+dfsg-1 tar 1.34+dfsg-1 installed"], 0),
            ("md5sums.txtar", 1, &["tar 1.29b-2 tar 1.29b-2 installed"], 0),
            ("only-apt.txtar", 1, &["apt 1.6.3ubuntu0.1 apt 1.6.3ubuntu0.1 installed"], 0),
            (
                "third-party.txtar",
                2,
                &["docker-ce 5:20.10.7~3-0~debian-buster docker-ce 5:20.10.7~3-0~debian-buster installed"],
                0,
            ),
        ];
        for (archive, count, expected, warnings) in cases {
            let text = std::fs::read_to_string(format!("{dir}{archive}")).unwrap();
            let files = txtar(&text);
            let (_, status) = files.iter().find(|(n, _)| n == "var/lib/dpkg/status").expect("a status file");
            let (p, w) = parse_dpkg_status(status, "/var/lib/dpkg/status").unwrap();
            let got = lines(&p);
            assert_eq!(got.len(), *count, "{archive}: {got:#?}");
            for e in *expected {
                assert!(got.iter().any(|g| g == e), "{archive}: {e} missing from {got:#?}");
            }
            assert_eq!(w.len(), *warnings, "{archive}: {w:?}");
        }
    }
}
