//! The repositories an apk upgrade may use, as apk-tools would trust them: the image's
//! `/etc/apk/repositories` (or the caller's), keys from `/etc/apk/keys/` and the caller's
//! key files, each `ARCH/APKINDEX.tar.gz` verified against them, and only repositories of
//! the image's own branch (`v3.20` never becomes `v3.21`).
//!
//! Parsing ([`RepositoryLine::parse_list`], [`branch_of`], [`suite_of`]) is separate
//! from the I/O ([`open_apk_repositories`]).

use oci_core::{EntryKind, MergedFs};

use super::{ApkIndex, ApkKeys};
use crate::upgrade::{RepoOptions, Transport};
use crate::{Error, Result};

/// One repository line: `[@tag] URL`, as apk-tools reads `/etc/apk/repositories`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RepositoryLine {
    /// The URL (or local directory), without trailing `/`.
    pub url: String,
    /// `@tag`: packages from it only when a dependency names the tag.
    pub tag: Option<String>,
    /// `[trusted=yes]` (caller's repositories only): its index may be unsigned.
    pub trusted: bool,
    /// Where it was written (`/etc/apk/repositories line 3`, `repository 1`).
    pub origin: String,
}

impl RepositoryLine {
    /// The lines of a repositories text: `#` comments and blank lines skipped, `@tag URL`
    /// kept with its tag. `file` names it in [`RepositoryLine::origin`].
    pub fn parse_list(text: &str, file: &str) -> Vec<RepositoryLine> {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            let first = words.next().unwrap_or("");
            let (tag, url) = match first.strip_prefix('@') {
                Some(tag) => (Some(tag.to_owned()), words.next().unwrap_or("")),
                None => (None, first),
            };
            if url.is_empty() {
                continue;
            }
            let origin = format!("{file} line {}", i + 1);
            out.push(RepositoryLine { url: url.trim_end_matches('/').to_owned(), tag, trusted: false, origin });
        }
        out
    }

    /// A caller's repository: `URL`, `file:DIR`, `/DIR`, or `[trusted=yes] URL` for one whose
    /// index may be unsigned or signed by an unknown key (used with a warning).
    pub fn parse_option(spec: &str, index: usize) -> RepositoryLine {
        let spec = spec.trim();
        let (trusted, url) = match spec.strip_prefix("[trusted=yes]") {
            Some(rest) => (true, rest.trim()),
            None => (false, spec),
        };
        RepositoryLine {
            url: url.trim_end_matches('/').to_owned(),
            tag: None,
            trusted,
            origin: format!("repository {index}"),
        }
    }
}

/// The branch a repository URL names: its path segment `vMAJOR.MINOR` or `edge`, if any.
pub(crate) fn branch_of(url: &str) -> Option<&str> {
    url.split('/').find(|seg| {
        *seg == "edge"
            || seg.strip_prefix('v').and_then(|v| v.split_once('.')).is_some_and(|(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && a.bytes().all(|c| c.is_ascii_digit())
                    && b.bytes().all(|c| c.is_ascii_digit())
            })
    })
}

/// A repository's "suite" for the plan: the last two path segments of its URL (`v3.20/main`),
/// or the host of a URL with a shorter path.
pub(crate) fn suite_of(url: &str) -> String {
    let url = url.trim_end_matches('/');
    let (host, path) = match url.split_once("://") {
        Some((_, rest)) => rest.split_once('/').unwrap_or((rest, "")),
        None => ("", url),
    };
    let segments: Vec<&str> = path.rsplit('/').filter(|s| !s.is_empty()).take(2).collect();
    match segments.len() {
        0 => host.to_owned(),
        1 if host.is_empty() => url.to_owned(),
        _ => segments.into_iter().rev().collect::<Vec<_>>().join("/"),
    }
}

/// A verified repository and its index.
#[derive(Debug)]
pub(crate) struct ApkRepository {
    /// The (mirror-rewritten) URL.
    pub url: String,
    /// See [`suite_of`].
    pub suite: String,
    /// The verified index of the image's architecture.
    pub index: ApkIndex,
}

/// Everything [`open_apk_repositories`] found.
#[derive(Debug)]
pub(crate) struct ApkRepositories {
    /// The repositories in configuration order (the image's, then the caller's).
    pub repos: Vec<ApkRepository>,
    /// Things the user should know (tagged repositories, skipped branches, trusted indexes).
    pub warnings: Vec<String>,
}

fn read_text(fs: &MergedFs, path: &str) -> Result<Option<String>> {
    match fs.resolve(path) {
        Some((real, node)) if matches!(node.meta.kind, EntryKind::File | EntryKind::Hardlink) => {
            Ok(Some(String::from_utf8_lossy(&fs.read(&real)?).into_owned()))
        }
        _ => Ok(None),
    }
}

/// The image's architecture: `/etc/apk/arch`, else the most common `A:` of the database.
pub(crate) fn image_arch(fs: &MergedFs, installed: &ApkIndex) -> String {
    if let Ok(Some(text)) = read_text(fs, "etc/apk/arch")
        && let Some(arch) = text.split_whitespace().next()
    {
        return arch.to_owned();
    }
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for e in &installed.entries {
        if let Some(a) = e.arch.as_deref().filter(|a| *a != "noarch") {
            *counts.entry(a).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
        .map_or_else(|| "x86_64".into(), |(a, _)| a.into())
}

/// The keys apk-tools would trust: every regular file of the image's `/etc/apk/keys/`
/// (symlinks resolved inside the image), named by file name, and the caller's key files
/// ([`RepoOptions::keyrings`], PEM public keys named by their file name). An image key that
/// is not an RSA public key is skipped with a warning.
pub(crate) fn image_keys(fs: &MergedFs, options: &RepoOptions, warnings: &mut Vec<String>) -> Result<ApkKeys> {
    let mut keys = ApkKeys::new();
    let mut files: Vec<String> =
        fs.walk("etc/apk/keys").map(|(p, _)| p.to_owned()).filter(|p| p.matches('/').count() == 3).collect();
    files.sort();
    for path in files {
        let name = path.rsplit('/').next().unwrap_or(&path).to_owned();
        let Some(text) = read_bytes(fs, &path)? else { continue };
        if let Err(e) = keys.add_pem(&name, &text) {
            warnings.push(format!("key /{path} of the image ignored: {e}"));
        }
    }
    for file in &options.keyrings {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let bytes = std::fs::read(file).map_err(|e| Error::io(format!("reading apk key {}", file.display()), e))?;
        keys.add_pem(&name, &bytes)?;
    }
    Ok(keys)
}

fn read_bytes(fs: &MergedFs, path: &str) -> Result<Option<Vec<u8>>> {
    match fs.resolve(path) {
        Some((real, node)) if matches!(node.meta.kind, EntryKind::File | EntryKind::Hardlink) => {
            Ok(Some(fs.read(&real)?))
        }
        _ => Ok(None),
    }
}

/// Rewrites `url` by the first mirror rule whose `from` is it or a prefix of it at a `/`.
fn rewrite(url: &str, options: &RepoOptions) -> String {
    for rule in &options.mirrors {
        if let Some(rest) = url.strip_prefix(&rule.from).filter(|r| r.is_empty() || r.starts_with('/')) {
            return format!("{}{rest}", rule.to);
        }
    }
    url.to_owned()
}

/// Reads the repositories (the image's unless [`RepoOptions::replace_sources`], then
/// [`RepoOptions::repos`]), applies the mirror rules, and fetches and verifies each
/// repository's `ARCH/APKINDEX.tar.gz`.
///
/// Branches: an image repository of another branch than `branch` is skipped with a
/// warning (a stale line the image never used); a caller's repository of another branch is
/// refused ([`Error::ApkBranch`]). A URL naming no branch (a local directory) is used.
/// `@tag` lines are noted in the warnings and not used.
pub(crate) fn open_apk_repositories(
    fs: &MergedFs,
    options: &RepoOptions,
    transport: &mut Transport,
    arch: &str,
    branch: Option<&str>,
) -> Result<ApkRepositories> {
    let mut warnings = Vec::new();
    let mut lines = Vec::new();
    if !options.replace_sources
        && let Some(text) = read_text(fs, "etc/apk/repositories")?
    {
        lines.extend(RepositoryLine::parse_list(&text, "/etc/apk/repositories"));
    }
    let image_lines = lines.len();
    lines.extend(options.repos.iter().enumerate().map(|(i, s)| RepositoryLine::parse_option(s, i + 1)));
    let keys = image_keys(fs, options, &mut warnings)?;
    let mut repos: Vec<ApkRepository> = Vec::new();
    for (i, line) in lines.into_iter().enumerate() {
        let from_caller = i >= image_lines;
        if let Some(tag) = &line.tag {
            warnings
                .push(format!("{}: @{tag} {} is a tagged repository: not used for upgrades", line.origin, line.url));
            continue;
        }
        let url = rewrite(&line.url, options);
        if let (Some(theirs), Some(ours)) = (branch_of(&url), branch)
            && theirs != ours
        {
            if from_caller {
                return Err(Error::ApkBranch { url: url.clone(), branch: theirs.to_owned(), image: ours.to_owned() });
            }
            warnings.push(format!("{}: {url} skipped, it is for {theirs} and the image is {ours}", line.origin));
            continue;
        }
        if repos.iter().any(|r| r.url == url) {
            continue;
        }
        let index_url = format!("{url}/{arch}/APKINDEX.tar.gz");
        let index = read_index(transport, &index_url, &keys, line.trusted, &mut warnings)?;
        repos.push(ApkRepository { suite: suite_of(&url), url, index });
    }
    if repos.is_empty() {
        return Err(Error::NoApkRepositories);
    }
    Ok(ApkRepositories { repos, warnings })
}

/// The verified index at `url`, downloaded into a temporary file (never held whole). When
/// `trusted`, an index that is unsigned or signed by an unknown key is used with a warning.
fn read_index(
    transport: &mut Transport,
    url: &str,
    keys: &ApkKeys,
    trusted: bool,
    warnings: &mut Vec<String>,
) -> Result<ApkIndex> {
    let mut tmp = tempfile::tempfile().map_err(|e| Error::io("creating a temporary file for an apk index", e))?;
    if !transport.copy_to(url, &mut tmp, super::MAX_APKINDEX_SIZE)? {
        return Err(Error::Download { url: url.to_owned(), reason: "not found".into() });
    }
    let rewind = |f: &mut std::fs::File| {
        use std::io::Seek as _;
        f.rewind().map_err(|e| Error::io(format!("reading the download of {url}"), e))
    };
    rewind(&mut tmp)?;
    match ApkIndex::read(std::io::BufReader::new(&tmp), url, keys) {
        Ok(index) => Ok(index),
        // Unsigned (the first stream is the index itself), signed by an unknown key, or badly
        // signed: the index as it is, when the user trusts the repository.
        Err(e @ (super::ApkError::Signature { .. } | super::ApkError::Archive { .. })) if trusted => {
            rewind(&mut tmp)?;
            let Ok(index) = ApkIndex::read_unverified(std::io::BufReader::new(&tmp), url) else { return Err(e.into()) };
            warnings
                .push(format!("{url}: used without a valid signature because its repository is marked trusted ({e})"));
            Ok(index)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_lines_tags_and_comments() {
        let text = "# main\nhttps://dl-cdn.alpinelinux.org/alpine/v3.20/main/\n\n  @edge https://dl-cdn.alpinelinux.org/alpine/edge/testing # t\n/local/repo\n";
        let lines = RepositoryLine::parse_list(text, "/etc/apk/repositories");
        let urls: Vec<(&str, Option<&str>, &str)> =
            lines.iter().map(|l| (l.url.as_str(), l.tag.as_deref(), l.origin.as_str())).collect();
        assert_eq!(
            urls,
            [
                ("https://dl-cdn.alpinelinux.org/alpine/v3.20/main", None, "/etc/apk/repositories line 2"),
                ("https://dl-cdn.alpinelinux.org/alpine/edge/testing", Some("edge"), "/etc/apk/repositories line 4"),
                ("/local/repo", None, "/etc/apk/repositories line 5"),
            ]
        );
        let t = RepositoryLine::parse_option(" [trusted=yes] file:/srv/alpine/ ", 2);
        assert_eq!((t.url.as_str(), t.trusted, t.origin.as_str()), ("file:/srv/alpine", true, "repository 2"));
        assert!(!RepositoryLine::parse_option("http://m/alpine/v3.20/main", 1).trusted);
    }

    #[test]
    fn branches_and_suites() {
        assert_eq!(branch_of("https://dl-cdn.alpinelinux.org/alpine/v3.20/main"), Some("v3.20"));
        assert_eq!(branch_of("http://m/alpine/edge/community"), Some("edge"));
        assert_eq!(branch_of("file:/srv/repo"), None);
        assert_eq!(branch_of("http://m/v3/x"), None);
        assert_eq!(suite_of("https://dl-cdn.alpinelinux.org/alpine/v3.20/main"), "v3.20/main");
        assert_eq!(suite_of("/repo"), "/repo");
        assert_eq!(suite_of("http://127.0.0.1:8080"), "127.0.0.1:8080");
        assert_eq!(suite_of("http://127.0.0.1:8080/main/"), "main");
        assert_eq!(suite_of("/srv/alpine/v3.20/main"), "v3.20/main");
    }

    #[test]
    fn mirror_rules_rewrite_at_path_boundaries() {
        let options = RepoOptions {
            mirrors: vec!["https://dl-cdn.alpinelinux.org/alpine=http://mirror.local/a".parse().unwrap()],
            ..RepoOptions::default()
        };
        assert_eq!(
            rewrite("https://dl-cdn.alpinelinux.org/alpine/v3.20/main", &options),
            "http://mirror.local/a/v3.20/main"
        );
        assert_eq!(
            rewrite("https://dl-cdn.alpinelinux.org/alpinex/v3.20", &options),
            "https://dl-cdn.alpinelinux.org/alpinex/v3.20"
        );
    }
}

#[cfg(test)]
mod index_tests {
    use std::io::Write as _;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn an_unsigned_index_is_refused_unless_trusted() {
        let text = format!("C:Q1{}=\nP:a\nV:1.0-r0\nA:x86_64\nS:1\nI:1\nT:t\n\n", "A".repeat(27));
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "APKINDEX", text.as_bytes()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("APKINDEX.tar.gz");
        std::fs::write(&path, gzip(&b.into_inner().unwrap())).unwrap();
        let url = format!("file:{}", path.display());
        let mut warnings = Vec::new();
        let err = read_index(&mut Transport::default(), &url, &ApkKeys::new(), false, &mut warnings).unwrap_err();
        assert!(err.to_string().contains(&url), "{err}");
        let index = read_index(&mut Transport::default(), &url, &ApkKeys::new(), true, &mut warnings).unwrap();
        assert_eq!(index.entries[0].name, "a");
        assert!(warnings[0].contains("without a valid signature"), "{warnings:?}");
    }
}
