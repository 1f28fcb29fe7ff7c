//! apt sources (sources.list(5)): one-line `deb [opts] URI SUITE COMPONENT…` files and deb822
//! `.sources` files, parsed from text, and mirror rewrites.

use std::fmt;
use std::str::FromStr;

use super::deb822::{Paragraph, paragraphs};
use super::error::{AptError, AptResult};
use super::keyring::{Fingerprint, Keyring};

/// `deb` (binary packages) or `deb-src` (source packages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// `deb`.
    Deb,
    /// `deb-src`.
    DebSrc,
}

/// What `Signed-By` says (debmetaindex.cc `NormalizeSignedBy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedBy {
    /// Keyring files (absolute paths, to be resolved inside the image) and/or fingerprints
    /// (restricting the default keyrings, or the listed files, to those keys).
    Keys {
        /// Keyring file paths.
        keyrings: Vec<String>,
        /// Key fingerprints.
        fingerprints: Vec<Fingerprint>,
    },
    /// An inline ASCII-armored public key block (deb822 only).
    Inline(String),
}

/// One repository: a type, a URI, a suite and its components, with options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// `deb` or `deb-src`.
    pub kind: SourceKind,
    /// The repository URI without trailing `/` (`http://mirror.example/debian`).
    pub uri: String,
    /// The suite (`bookworm-security`), or for a flat repository the path ending with `/`.
    pub suite: String,
    /// The components (`main contrib`); empty for a flat repository.
    pub components: Vec<String>,
    /// `arch=` / `Architectures`: restricts the architectures fetched.
    pub architectures: Vec<String>,
    /// `signed-by=` / `Signed-By`.
    pub signed_by: Option<SignedBy>,
    /// `trusted=yes|no` / `Trusted`: `yes` accepts an unsigned repository.
    pub trusted: Option<bool>,
    /// `check-valid-until=no` / `Check-Valid-Until: no` turns the `Valid-Until` check off.
    pub check_valid_until: Option<bool>,
    /// The file the source came from.
    pub file: String,
    /// The line of the entry (one-line) or of the paragraph (deb822).
    pub line: usize,
}

impl Source {
    /// Whether the suite is a flat-repository path (ends with `/`).
    pub fn is_flat(&self) -> bool {
        self.suite.ends_with('/')
    }

    /// The keys that may sign this source, as apt chooses them: an inline key; else the
    /// `Signed-By` keyring files, read through `read_keyring` (which resolves an absolute path
    /// inside the image) or, without any, `default` (the image's `trusted.gpg.d/*` and
    /// `trusted.gpg`); then restricted to the `Signed-By` fingerprints when there are some.
    pub fn keyring(
        &self,
        default: &Keyring,
        mut read_keyring: impl FnMut(&str) -> AptResult<Vec<u8>>,
    ) -> AptResult<Keyring> {
        match &self.signed_by {
            None => Ok(default.clone()),
            Some(SignedBy::Inline(key)) => {
                Keyring::from_bytes(key.as_bytes(), &format!("{} line {} (inline Signed-By key)", self.file, self.line))
            }
            Some(SignedBy::Keys { keyrings, fingerprints }) => {
                let mut ring = if keyrings.is_empty() { default.clone() } else { Keyring::new() };
                for path in keyrings {
                    ring.add_bytes(&read_keyring(path)?, path)?;
                }
                if fingerprints.is_empty() { Ok(ring) } else { ring.restrict_to(fingerprints) }
            }
        }
    }

    /// The URL of the directory holding `InRelease`/`Release`: `URI/dists/SUITE`, or for a
    /// flat repository `URI/SUITE` without the trailing `/`.
    pub fn release_base(&self) -> String {
        if self.is_flat() {
            let path = self.suite.trim_end_matches('/');
            if path.is_empty() || path == "." { self.uri.clone() } else { format!("{}/{path}", self.uri) }
        } else {
            format!("{}/dists/{}", self.uri, self.suite)
        }
    }
}

/// A mirror rewrite `FROM=TO`: sources whose URI is `FROM` or below it get `TO` instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorRule {
    /// The URI prefix replaced (without trailing `/`).
    pub from: String,
    /// Its replacement (without trailing `/`).
    pub to: String,
}

impl FromStr for MirrorRule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (from, to) = s.split_once('=').ok_or_else(|| format!("mirror rewrite {s:?} is not FROM=TO"))?;
        let (from, to) = (from.trim().trim_end_matches('/'), to.trim().trim_end_matches('/'));
        if !from.contains(':') || !to.contains(':') {
            return Err(format!("mirror rewrite {s:?}: both sides must be URIs (scheme:…)"));
        }
        Ok(MirrorRule { from: from.to_owned(), to: to.to_owned() })
    }
}

impl fmt::Display for MirrorRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.from, self.to)
    }
}

/// The sources of one or more files, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sources {
    /// The repositories. A deb822 paragraph with several types, URIs or suites gives one entry
    /// per combination, as apt expands them.
    pub entries: Vec<Source>,
}

fn yes_no(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" | "on" => Some(true),
        "no" | "false" | "0" | "off" => Some(false),
        _ => None,
    }
}

fn parse_kind(word: &str) -> Option<SourceKind> {
    match word {
        "deb" => Some(SourceKind::Deb),
        "deb-src" => Some(SourceKind::DebSrc),
        _ => None,
    }
}

fn check_uri(uri: &str) -> Result<String, String> {
    let scheme = uri.split_once(':').map(|(s, _)| s).unwrap_or("");
    if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b)) {
        return Err(format!("{uri:?} is not a URI"));
    }
    Ok(uri.trim_end_matches('/').to_owned())
}

/// `signed-by` values: an inline key, or paths and fingerprints separated by commas/blanks.
fn parse_signed_by(value: &str) -> Result<SignedBy, String> {
    if value.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
        return Ok(SignedBy::Inline(value.to_owned()));
    }
    let mut keyrings = Vec::new();
    let mut fingerprints = Vec::new();
    for item in value.split([',', ' ', '\t', '\n']).filter(|s| !s.is_empty()) {
        if item.starts_with('/') {
            keyrings.push(item.to_owned());
        } else {
            // A trailing `!` pins a subkey exactly; the fingerprint filter is exact anyway.
            fingerprints.push(item.trim_end_matches('!').parse()?);
        }
    }
    if keyrings.is_empty() && fingerprints.is_empty() {
        return Err("empty Signed-By".into());
    }
    Ok(SignedBy::Keys { keyrings, fingerprints })
}

impl Sources {
    /// Parses a one-line `sources.list` file; `file` names it in errors and in each entry.
    pub fn parse_list(text: &str, file: &str) -> AptResult<Sources> {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let err = |why: String| AptError::parse(file, Some(line_no), why);
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace().peekable();
            let kind_word = words.next().unwrap_or("");
            let kind =
                parse_kind(kind_word).ok_or_else(|| err(format!("unknown type {kind_word:?} (deb or deb-src)")))?;
            let mut source = Source {
                kind,
                uri: String::new(),
                suite: String::new(),
                components: Vec::new(),
                architectures: Vec::new(),
                signed_by: None,
                trusted: None,
                check_valid_until: None,
                file: file.to_owned(),
                line: line_no,
            };
            if words.peek().is_some_and(|w| w.starts_with('[')) {
                // Options: `[ a=b c=d ]`, brackets possibly attached to the first/last option.
                let mut options = Vec::new();
                loop {
                    let Some(w) = words.next() else { return Err(err("unclosed \"[\" in the options".into())) };
                    let (w, last) = match w.strip_suffix(']') {
                        Some(w) => (w, true),
                        None => (w, false),
                    };
                    let w = w.strip_prefix('[').unwrap_or(w);
                    if !w.is_empty() {
                        options.push(w);
                    }
                    if last {
                        break;
                    }
                }
                for option in options {
                    let (key, value) =
                        option.split_once('=').ok_or_else(|| err(format!("option {option:?} is not key=value")))?;
                    let key = key.trim_end_matches(['+', '-']);
                    match key {
                        "arch" => source.architectures = value.split(',').map(str::to_owned).collect(),
                        "signed-by" => source.signed_by = Some(parse_signed_by(value).map_err(err)?),
                        "trusted" => {
                            source.trusted = Some(yes_no(value).ok_or_else(|| err(format!("trusted={value:?}")))?)
                        }
                        "check-valid-until" => {
                            source.check_valid_until =
                                Some(yes_no(value).ok_or_else(|| err(format!("check-valid-until={value:?}")))?)
                        }
                        // lang=, target=, pdiffs=, by-hash=… do not change what is trusted or fetched here.
                        _ => {}
                    }
                }
            }
            let uri = words.next().ok_or_else(|| err("missing URI".into()))?;
            source.uri = check_uri(uri).map_err(err)?;
            source.suite = words.next().ok_or_else(|| err("missing suite".into()))?.to_owned();
            source.components = words.map(str::to_owned).collect();
            if source.is_flat() != source.components.is_empty() {
                return Err(err(if source.is_flat() {
                    "a flat repository (suite ending with /) takes no components".into()
                } else {
                    "missing components".into()
                }));
            }
            entries.push(source);
        }
        Ok(Sources { entries })
    }

    /// Parses a deb822 `.sources` file; `file` names it in errors and in each entry.
    /// Paragraphs with `Enabled: no` are skipped.
    pub fn parse_deb822(text: &str, file: &str) -> AptResult<Sources> {
        let mut entries = Vec::new();
        for para in paragraphs(text, file, true) {
            entries.extend(Self::paragraph(&para?, file)?);
        }
        Ok(Sources { entries })
    }

    fn paragraph(para: &Paragraph<'_>, file: &str) -> AptResult<Vec<Source>> {
        let at = |line: usize, why: String| AptError::parse(file, Some(line), why);
        let words = |name: &str| -> Vec<String> {
            para.field(name)
                .map(|f| f.folded().split(' ').filter(|w| !w.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let flag = |name: &str| -> AptResult<Option<bool>> {
            para.field(name)
                .map(|f| {
                    yes_no(&f.folded()).ok_or_else(|| at(f.line, format!("{name}: {:?} is not yes or no", f.folded())))
                })
                .transpose()
        };
        if flag("Enabled")? == Some(false) {
            return Ok(Vec::new());
        }
        let required = |name: &str| {
            let v = words(name);
            if v.is_empty() { Err(at(para.line(), format!("missing {name}"))) } else { Ok(v) }
        };
        let kinds = required("Types")?
            .iter()
            .map(|t| parse_kind(t).ok_or_else(|| at(para.line(), format!("unknown type {t:?} (deb or deb-src)"))))
            .collect::<AptResult<Vec<_>>>()?;
        let uris = required("URIs")?
            .iter()
            .map(|u| check_uri(u).map_err(|why| at(para.field("URIs").map_or(para.line(), |f| f.line), why)))
            .collect::<AptResult<Vec<_>>>()?;
        let suites = required("Suites")?;
        let components = words("Components");
        let signed_by = match para.field("Signed-By") {
            None => None,
            Some(f) => {
                // Inline keys are multiline; `.` stands for an empty line.
                let lines: Vec<&str> = std::iter::once(f.first_line())
                    .chain(f.continuation_lines().map(|(_, l)| l))
                    .filter(|l| !l.is_empty())
                    .map(|l| if l == "." { "" } else { l })
                    .collect();
                Some(parse_signed_by(&lines.join("\n")).map_err(|why| at(f.line, format!("Signed-By: {why}")))?)
            }
        };
        let trusted = flag("Trusted")?;
        let check_valid_until = flag("Check-Valid-Until")?;
        let architectures = words("Architectures");
        let mut out = Vec::new();
        for kind in &kinds {
            for uri in &uris {
                for suite in &suites {
                    let flat = suite.ends_with('/');
                    if flat != components.is_empty() {
                        return Err(at(
                            para.line(),
                            if flat {
                                format!("suite {suite:?} is a flat repository path and takes no Components")
                            } else {
                                "missing Components".into()
                            },
                        ));
                    }
                    out.push(Source {
                        kind: *kind,
                        uri: uri.clone(),
                        suite: suite.clone(),
                        components: components.clone(),
                        architectures: architectures.clone(),
                        signed_by: signed_by.clone(),
                        trusted,
                        check_valid_until,
                        file: file.to_owned(),
                        line: para.line(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Applies a mirror rewrite to every source whose URI is `rule.from` or lies below it;
    /// returns how many were rewritten.
    pub fn rewrite_mirror(&mut self, rule: &MirrorRule) -> usize {
        let mut count = 0;
        for s in &mut self.entries {
            let rest = s.uri.strip_prefix(&rule.from);
            if let Some(rest) = rest.filter(|r| r.is_empty() || r.starts_with('/')) {
                s.uri = format!("{}{rest}", rule.to);
                count += 1;
            }
        }
        count
    }

    /// Appends the entries of `other`.
    pub fn extend(&mut self, other: Sources) {
        self.entries.extend(other.entries);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of bookworm's `/etc/apt/sources.list.d/debian.sources` (hosts replaced).
    const DEBIAN_SOURCES: &str = "Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.example/archive/debian-security/20250520T000000Z
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
";

    #[test]
    fn bookworm_deb822_sources() {
        let s = Sources::parse_deb822(DEBIAN_SOURCES, "debian.sources").expect("parse");
        let got: Vec<(&str, &str, usize)> =
            s.entries.iter().map(|e| (e.uri.as_str(), e.suite.as_str(), e.line)).collect();
        assert_eq!(
            got,
            [
                ("http://mirror.example/debian", "bookworm", 1),
                ("http://mirror.example/debian", "bookworm-updates", 1),
                ("http://mirror.example/debian-security", "bookworm-security", 8),
            ]
        );
        let e = &s.entries[2];
        assert_eq!(e.kind, SourceKind::Deb);
        assert_eq!(e.components, ["main"]);
        assert_eq!(
            e.signed_by,
            Some(SignedBy::Keys {
                keyrings: vec!["/usr/share/keyrings/debian-archive-keyring.gpg".into()],
                fingerprints: vec![]
            })
        );
        assert_eq!(e.release_base(), "http://mirror.example/debian-security/dists/bookworm-security");
        assert_eq!((e.trusted, e.check_valid_until, e.file.as_str()), (None, None, "debian.sources"));
    }

    #[test]
    fn the_machines_own_sources_parse() {
        let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") else { return };
        for entry in dir.filter_map(Result::ok) {
            let path = entry.path();
            let name = path.display().to_string();
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            if name.ends_with(".sources") {
                let s = Sources::parse_deb822(&text, &name).expect("the machine's .sources parse");
                // Same repositories as the tests' independent reading of the file.
                let ours: Vec<(String, String)> = s
                    .entries
                    .iter()
                    .filter(|e| e.kind == SourceKind::Deb)
                    .map(|e| (e.uri.clone(), e.suite.clone()))
                    .collect();
                let theirs: Vec<(String, String)> = crate::apt::tests::sources_in(&text)
                    .into_iter()
                    .map(|(u, s)| (u.trim_end_matches('/').to_owned(), s))
                    .collect();
                assert_eq!(ours, theirs, "{name}");
            } else if name.ends_with(".list") {
                Sources::parse_list(&text, &name).expect("the machine's .list parse");
            }
        }
    }

    #[test]
    fn one_line_sources_with_options() {
        let text = "\
# a comment
deb [arch=amd64,arm64 signed-by=/etc/apt/keyrings/x.gpg] https://repo.example/apt/ stable main contrib # trailing
deb [ trusted=yes ] file:/srv/repo ./
deb-src http://mirror.example/debian bookworm main

deb [signed-by=4D64FEC119C2029067D6E791F8D2585B8783D481,/usr/share/keyrings/k.gpg check-valid-until=no lang=en] http://snapshot.example/archive/debian/20250520T000000Z bookworm main
";
        let s = Sources::parse_list(text, "sources.list").expect("parse");
        assert_eq!(s.entries.len(), 4);
        let a = &s.entries[0];
        assert_eq!((a.line, a.uri.as_str(), a.suite.as_str()), (2, "https://repo.example/apt", "stable"));
        assert_eq!(a.components, ["main", "contrib"]);
        assert_eq!(a.architectures, ["amd64", "arm64"]);
        assert_eq!(
            a.signed_by,
            Some(SignedBy::Keys { keyrings: vec!["/etc/apt/keyrings/x.gpg".into()], fingerprints: vec![] })
        );
        let flat = &s.entries[1];
        assert_eq!((flat.trusted, flat.is_flat(), flat.release_base().as_str()), (Some(true), true, "file:/srv/repo"));
        assert!(flat.components.is_empty());
        assert_eq!(s.entries[2].kind, SourceKind::DebSrc);
        let snap = &s.entries[3];
        assert_eq!(snap.check_valid_until, Some(false));
        assert_eq!(
            snap.signed_by,
            Some(SignedBy::Keys {
                keyrings: vec!["/usr/share/keyrings/k.gpg".into()],
                fingerprints: vec!["4D64FEC119C2029067D6E791F8D2585B8783D481".parse().expect("fp")],
            })
        );
        assert_eq!(snap.release_base(), "http://snapshot.example/archive/debian/20250520T000000Z/dists/bookworm");
    }

    #[test]
    fn one_line_errors() {
        let err = |t: &str| Sources::parse_list(t, "x.list").expect_err(t).to_string();
        assert_eq!(err("\ndeb http://a.example/debian\n"), "x.list line 2: missing suite");
        assert_eq!(err("deb http://a.example/debian bookworm"), "x.list line 1: missing components");
        assert_eq!(
            err("deb file:/srv ./ main"),
            "x.list line 1: a flat repository (suite ending with /) takes no components"
        );
        assert_eq!(err("rpm http://a.example/ x y"), "x.list line 1: unknown type \"rpm\" (deb or deb-src)");
        assert_eq!(err("deb [arch=amd64 http://a.example/ b main"), "x.list line 1: unclosed \"[\" in the options");
        assert_eq!(err("deb [trusted=maybe] http://a.example/ b main"), "x.list line 1: trusted=\"maybe\"");
        assert_eq!(err("deb nouri b main"), "x.list line 1: \"nouri\" is not a URI");
        assert!(err("deb [signed-by=ABCD] http://a.example/ b main").contains("has 4 hex digits"));
    }

    #[test]
    fn deb822_expansion_inline_keys_and_flags() {
        let keys = crate::apt::tests::keys();
        let armored = String::from_utf8(keys.gpg.export(&["<ed@test>"], true)).expect("armor");
        let indented: String =
            armored.lines().map(|l| if l.is_empty() { " .\n".to_owned() } else { format!(" {l}\n") }).collect();
        let text = format!(
            "Types: deb deb-src\nURIs: https://a.example/debian\nSuites: one two\nComponents: main\n\
             Architectures: amd64\nTrusted: no\nCheck-Valid-Until: no\nSigned-By:\n{indented}\n\
             Enabled: no\nTypes: deb\nURIs: http://disabled.example/\nSuites: x\nComponents: main\n"
        );
        let s = Sources::parse_deb822(&text, "inline.sources").expect("parse");
        let got: Vec<(SourceKind, &str)> = s.entries.iter().map(|e| (e.kind, e.suite.as_str())).collect();
        assert_eq!(
            got,
            [
                (SourceKind::Deb, "one"),
                (SourceKind::Deb, "two"),
                (SourceKind::DebSrc, "one"),
                (SourceKind::DebSrc, "two")
            ]
        );
        let e = &s.entries[0];
        assert_eq!((e.trusted, e.check_valid_until), (Some(false), Some(false)));
        assert_eq!(e.architectures, ["amd64"]);
        let Some(SignedBy::Inline(key)) = &e.signed_by else { panic!("inline key expected: {:?}", e.signed_by) };
        assert_eq!(key.trim_end(), armored.trim_end());
        let ring = crate::apt::Keyring::from_bytes(key.as_bytes(), "inline.sources").expect("inline key loads");
        assert_eq!(ring.fingerprints()[0].as_str(), keys.gpg.fingerprints("<ed@test>")[0]);

        let err = |t: &str| Sources::parse_deb822(t, "y.sources").expect_err(t).to_string();
        assert_eq!(err("Types: deb\nSuites: a\nComponents: main\n"), "y.sources line 1: missing URIs");
        assert_eq!(err("Types: deb\nURIs: http://a.example/\nSuites: a\n"), "y.sources line 1: missing Components");
        assert_eq!(
            err("Types: deb\nURIs: http://a.example/\nSuites: a\nComponents: x\nTrusted: perhaps\n"),
            "y.sources line 5: Trusted: \"perhaps\" is not yes or no"
        );
    }

    #[test]
    fn keyrings_chosen_as_apt_chooses_them() {
        let keys = crate::apt::tests::keys();
        let main = keys.gpg.export(&["<main@test>"], false);
        let ed_fp = keys.gpg.fingerprints("<ed@test>")[0].clone();
        let default = keys.gpg.keyring(&["<ed@test>", "<other@test>"]);
        let read = |path: &str| -> AptResult<Vec<u8>> {
            match path {
                "/etc/apt/keyrings/main.gpg" => Ok(main.clone()),
                other => {
                    Err(AptError::io(format!("reading {other} in the image"), std::io::ErrorKind::NotFound.into()))
                }
            }
        };
        let text = format!(
            "deb http://a.example/ x main\n\
             deb [signed-by=/etc/apt/keyrings/main.gpg] http://a.example/ x main\n\
             deb [signed-by={ed_fp}] http://a.example/ x main\n\
             deb [signed-by=/etc/apt/keyrings/missing.gpg] http://a.example/ x main\n"
        );
        let s = Sources::parse_list(&text, "k.list").expect("parse");
        let fps = |r: Keyring| r.fingerprints().iter().map(|f| f.to_string()).collect::<Vec<_>>();
        assert_eq!(fps(s.entries[0].keyring(&default, read).expect("default")), fps(default.clone()));
        assert_eq!(
            fps(s.entries[1].keyring(&default, read).expect("file")),
            [keys.gpg.fingerprints("<main@test>")[0].clone()]
        );
        let k = s.entries[1].keyring(&default, read).expect("file");
        assert_eq!(k.keys()[0].file, "/etc/apt/keyrings/main.gpg");
        assert_eq!(fps(s.entries[2].keyring(&default, read).expect("fingerprint")), [ed_fp]);
        let err = s.entries[3].keyring(&default, read).expect_err("missing").to_string();
        assert!(err.starts_with("reading /etc/apt/keyrings/missing.gpg in the image"), "{err}");
    }

    #[test]
    fn mirror_rewrites() {
        let mut s = Sources::parse_deb822(DEBIAN_SOURCES, "debian.sources").expect("parse");
        let rule: MirrorRule = "http://mirror.example/debian/=http://local.test/mirror/debian".parse().expect("rule");
        assert_eq!(rule.to_string(), "http://mirror.example/debian=http://local.test/mirror/debian");
        assert_eq!(s.rewrite_mirror(&rule), 2);
        let uris: Vec<&str> = s.entries.iter().map(|e| e.uri.as_str()).collect();
        assert_eq!(
            uris,
            [
                "http://local.test/mirror/debian",
                "http://local.test/mirror/debian",
                "http://mirror.example/debian-security"
            ]
        );
        let snapshot: MirrorRule = "http://mirror.example=http://snapshot.example/archive".parse().expect("rule");
        assert_eq!(s.rewrite_mirror(&snapshot), 1);
        assert_eq!(s.entries[2].uri, "http://snapshot.example/archive/debian-security");
        assert!("nothing".parse::<MirrorRule>().is_err());
        assert!("a=b".parse::<MirrorRule>().expect_err("not URIs").contains("both sides must be URIs"));
    }
}
