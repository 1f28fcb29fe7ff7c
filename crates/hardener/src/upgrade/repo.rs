//! The repositories an upgrade may use, as apt would trust them: the image's sources (or
//! the caller's), keys from `Signed-By` or the image's trusted keyrings, each suite's
//! `InRelease` (or `Release` + `Release.gpg`) verified, its validity checked, and its
//! `Packages` indexes fetched into the blob cache by the SHA256 the signed `Release` gives.

use std::path::PathBuf;
use std::time::SystemTime;

use oci_core::{MergedFs, OciLayout};

use super::fetch::{Transport, cached};
use crate::apt::{
    AptError, IndexLocation, Keyring, MirrorRule, Release, Source, SourceKind, Sources, is_apt_keyring_name,
    verify_clearsigned, verify_detached,
};
use crate::{Error, Result};

/// Where packages may come from and how far they are trusted (see [`super::resolve_upgrades`]).
///
/// Every field applies to Debian (apt) and Alpine (apk) images; where apk reads it
/// differently, the field says so.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RepoOptions {
    /// Further sources: one-line specs (`deb [signed-by=/k.gpg] file:/dir bookworm main`) or
    /// paths of deb822 `.sources` files on this machine. Their `Signed-By` files are read on
    /// this machine (else in the image).
    ///
    /// apk: repository URLs as `/etc/apk/repositories` lines name them
    /// (`https://mirror/alpine/v3.20/main`), `file:DIR` or an absolute directory (air-gapped
    /// copies), after the image's. `[trusted=yes] URL` marks a repository whose
    /// `APKINDEX.tar.gz` may be unsigned or signed by an unknown key: it is used with a
    /// warning in the plan (otherwise refused). A repository whose URL names another branch
    /// than the image's (`/v3.21/`, `/edge/`) is refused.
    pub repos: Vec<String>,
    /// Use only [`RepoOptions::repos`], not the image's sources (apk: not its
    /// `/etc/apk/repositories`).
    pub replace_sources: bool,
    /// URI prefix rewrites applied to every source (apk: to every repository URL, the
    /// image's and the given ones, before the branch check).
    pub mirrors: Vec<MirrorRule>,
    /// Keyring files on this machine, trusted for every source in addition to its own keys.
    ///
    /// apk: PEM RSA public key files, trusted in addition to the image's `/etc/apk/keys/`,
    /// each known by its file name as apk-tools names keys (the `.SIGN.RSA256.<name>` of a
    /// signature must match it).
    pub keyrings: Vec<PathBuf>,
    /// Accept a `Release` whose `Valid-Until` has passed (snapshot archives); a warning is
    /// recorded in the plan. apk indexes have no validity period: unused.
    pub allow_expired: bool,
    /// The time signatures and validity are judged at (`None`: now).
    pub now: Option<SystemTime>,
    /// The blob cache directory (an OCI layout) indexes and packages are stored in (apk:
    /// verified `.apk`s, with `apk/<hex of C:>` naming each one's SHA256; indexes are read
    /// fresh every time, as their signature covers them and no hash is known in advance).
    pub cache: PathBuf,
}

impl Default for RepoOptions {
    fn default() -> Self {
        RepoOptions {
            repos: Vec::new(),
            replace_sources: false,
            mirrors: Vec::new(),
            keyrings: Vec::new(),
            allow_expired: false,
            now: None,
            cache: oci_core::default_cache_dir(),
        }
    }
}

/// One verified suite of one repository, with its indexes in the blob cache.
#[derive(Debug)]
pub(crate) struct Repository {
    /// The (rewritten) URI.
    pub uri: String,
    /// The suite as the source names it.
    pub suite: String,
    /// `URI SUITE COMPONENT…`.
    pub line: String,
    /// Verified `Packages` indexes: the cache file, what it must hash to, and its URL.
    pub indexes: Vec<(PathBuf, IndexLocation, String)>,
}

/// A source with where it was named (the image or the caller).
struct Named {
    source: Source,
    from_host: bool,
}

fn image_sources(fs: &MergedFs) -> Result<Vec<Named>> {
    let mut out = Vec::new();
    let mut files = Vec::new();
    if fs.resolve("etc/apt/sources.list").is_some() {
        files.push("etc/apt/sources.list".to_owned());
    }
    let mut dir: Vec<String> = fs
        .walk("etc/apt/sources.list.d")
        .map(|(p, _)| p.to_owned())
        .filter(|p| p.matches('/').count() == 3 && (p.ends_with(".list") || p.ends_with(".sources")))
        .collect();
    dir.sort();
    files.extend(dir);
    for path in files {
        let Some((_, node)) = fs.resolve(&path) else { continue };
        if node.meta.kind != oci_core::EntryKind::File && node.meta.kind != oci_core::EntryKind::Hardlink {
            continue;
        }
        let text = String::from_utf8_lossy(&fs.read(&path)?).into_owned();
        let shown = format!("/{path}");
        let parsed = if path.ends_with(".sources") {
            Sources::parse_deb822(&text, &shown)?
        } else {
            Sources::parse_list(&text, &shown)?
        };
        out.extend(parsed.entries.into_iter().map(|source| Named { source, from_host: false }));
    }
    Ok(out)
}

fn option_sources(options: &RepoOptions) -> Result<Vec<Named>> {
    let mut out = Vec::new();
    for (i, spec) in options.repos.iter().enumerate() {
        let trimmed = spec.trim_start();
        let parsed = if trimmed.starts_with("deb ") || trimmed.starts_with("deb-src ") {
            Sources::parse_list(spec, &format!("repository {}", i + 1))?
        } else {
            let text =
                std::fs::read_to_string(spec).map_err(|e| Error::io(format!("reading sources file {spec}"), e))?;
            if spec.ends_with(".list") {
                Sources::parse_list(&text, spec)?
            } else {
                Sources::parse_deb822(&text, spec)?
            }
        };
        out.extend(parsed.entries.into_iter().map(|source| Named { source, from_host: true }));
    }
    Ok(out)
}

/// The image's default keys (`trusted.gpg.d/*` by apt's name rule, then `trusted.gpg`) and
/// the caller's; unreadable image keyrings are skipped with a warning, as apt does.
fn default_keyring(fs: &MergedFs, options: &RepoOptions, warnings: &mut Vec<String>) -> Result<Keyring> {
    let mut ring = Keyring::new();
    let mut files: Vec<String> = fs
        .walk("etc/apt/trusted.gpg.d")
        .map(|(p, _)| p.to_owned())
        .filter(|p| p.matches('/').count() == 3 && p.rsplit('/').next().is_some_and(is_apt_keyring_name))
        .collect();
    files.sort();
    files.push("etc/apt/trusted.gpg".into());
    for path in files {
        let Some((_, node)) = fs.resolve(&path) else { continue };
        if !matches!(node.meta.kind, oci_core::EntryKind::File | oci_core::EntryKind::Hardlink) {
            continue;
        }
        let bytes = fs.read(&path)?;
        if let Err(e) = ring.add_bytes(&bytes, &format!("/{path}")) {
            warnings.push(format!("keyring /{path} of the image ignored: {e}"));
        }
    }
    ring.extend(host_keyrings(options)?);
    Ok(ring)
}

fn host_keyrings(options: &RepoOptions) -> Result<Keyring> {
    let mut ring = Keyring::new();
    for k in &options.keyrings {
        ring.add_file(k)?;
    }
    Ok(ring)
}

/// Everything [`open_repositories`] found.
pub(crate) struct Repositories {
    pub repos: Vec<Repository>,
    pub warnings: Vec<String>,
}

/// Whether a `Release`'s codename or suite belongs to the image's release `codename`
/// (`bookworm`, `bookworm-security`, `bookworm-updates`…).
fn belongs(release: &Release, codename: &str) -> bool {
    [&release.codename, &release.suite]
        .into_iter()
        .flatten()
        .any(|v| v == codename || v.split_once(['-', '/']).is_some_and(|(head, _)| head == codename))
}

/// Reads the sources, verifies every suite and brings its `Packages` indexes for
/// `architectures` into the cache. Suites of another release than `codename` (without one:
/// the release of the first suite) are skipped, with a warning.
pub(crate) fn open_repositories(
    fs: &MergedFs,
    options: &RepoOptions,
    layout: &OciLayout,
    transport: &mut Transport,
    architectures: &[String],
    codename: Option<&str>,
) -> Result<Repositories> {
    let mut warnings = Vec::new();
    let mut codename = codename.map(str::to_owned);
    let mut named = if options.replace_sources { Vec::new() } else { image_sources(fs)? };
    named.extend(option_sources(options)?);
    named.retain(|n| n.source.kind == SourceKind::Deb);
    if named.is_empty() {
        return Err(Error::NoAptSources);
    }
    for rule in &options.mirrors {
        for n in &mut named {
            let mut one = Sources { entries: vec![n.source.clone()] };
            if one.rewrite_mirror(rule) > 0 {
                n.source = one.entries.remove(0);
            }
        }
    }
    let default = default_keyring(fs, options, &mut warnings)?;
    let extra = host_keyrings(options)?;
    let now = options.now.unwrap_or_else(SystemTime::now);
    let mut repos = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for Named { source, from_host } in named {
        let line = format!("{} {} {}", source.uri, source.suite, source.components.join(" ")).trim_end().to_owned();
        if !seen.insert(line.clone()) {
            continue;
        }
        let read = |path: &str| -> crate::AptResult<Vec<u8>> {
            if from_host && let Ok(bytes) = std::fs::read(path) {
                return Ok(bytes);
            }
            fs.read(path)
                .map_err(|e| AptError::io(format!("reading keyring {path} in the image"), std::io::Error::other(e)))
        };
        let mut keyring = source.keyring(&default, read)?;
        if source.signed_by.is_some() {
            keyring.extend(extra.clone());
        }
        let base = source.release_base();
        let (release, file) = match signed_release(transport, &base, &keyring, now, source.trusted == Some(true))? {
            (text, file, None) => (Release::parse(&text, &file)?, file),
            (text, file, Some(warning)) => {
                warnings.push(warning);
                (Release::parse(&text, &file)?, file)
            }
        };
        if !source.is_flat() {
            release.check_suite(&file, &source.suite)?;
        }
        let skip_expiry = options.allow_expired || source.check_valid_until == Some(false);
        release.check_validity(&file, now, skip_expiry)?;
        let now_secs = now.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        if let Some(until) = release.valid_until
            && until < now_secs
        {
            warnings.push(format!("{file}: expired (Valid-Until has passed), accepted as asked"));
        }
        if codename.is_none()
            && !source.is_flat()
            && let Some(c) = release.codename.as_deref().or(release.suite.as_deref())
        {
            // No os-release codename: the first suite's release is the image's.
            codename = Some(c.split(['-', '/']).next().unwrap_or(c).to_owned());
        }
        if let Some(codename) = codename.as_deref()
            && !source.is_flat()
            && !belongs(&release, codename)
        {
            warnings.push(format!(
                "{line}: skipped, its Release is for {} and the image is {codename}",
                release.codename.as_deref().or(release.suite.as_deref()).unwrap_or("another release")
            ));
            continue;
        }
        let locations = index_locations(&release, &source, architectures);
        let mut indexes = Vec::new();
        for loc in locations {
            let mut urls = vec![format!("{base}/{}", loc.fetch_path)];
            if loc.fetch_path != loc.path {
                urls.push(format!("{base}/{}", loc.path));
            }
            let path = cached(layout, transport, &urls, &loc.sha256, loc.size)?;
            indexes.push((path, loc, urls.swap_remove(0)));
        }
        repos.push(Repository { uri: source.uri.clone(), suite: source.suite.clone(), line, indexes });
    }
    Ok(Repositories { repos, warnings })
}

/// The `Packages` indexes apt reads for `source` on `architectures`: each component's
/// `binary-ARCH` and, when the `Release` lists the `all` architecture (or no architectures),
/// `binary-all`; a flat repository's `Packages`.
fn index_locations(release: &Release, source: &Source, architectures: &[String]) -> Vec<IndexLocation> {
    if source.is_flat() {
        return release.index("Packages").into_iter().collect();
    }
    // The security archive lists `binary-all` indexes but not the `all` architecture, and
    // its mirrors do not keep those current: apt does not read them.
    let all_listed = release.architectures.is_empty() || release.architectures.iter().any(|a| a == "all");
    let mut locations: Vec<IndexLocation> = Vec::new();
    for component in &source.components {
        for arch in architectures.iter().filter(|a| source.architectures.is_empty() || source.architectures.contains(a))
        {
            for loc in release.packages_indexes(component, arch) {
                if loc.path.contains("/binary-all/") && !all_listed {
                    continue;
                }
                if !locations.iter().any(|l| l.path == loc.path) {
                    locations.push(loc);
                }
            }
        }
    }
    locations
}

/// The verified text of a suite's `Release` and the file it came from: `InRelease` first,
/// then `Release` + `Release.gpg`. Unsigned (or not verifiable) metadata is accepted only
/// when `trusted` (then with a warning).
fn signed_release(
    transport: &mut Transport,
    base: &str,
    keyring: &Keyring,
    now: SystemTime,
    trusted: bool,
) -> Result<(String, String, Option<String>)> {
    let inrelease = format!("{base}/InRelease");
    if let Some(bytes) = transport.get_small(&inrelease)? {
        match verify_clearsigned(&bytes, &inrelease, keyring, now) {
            Ok(v) => return Ok((v.into_text(), inrelease, None)),
            Err(e) if !trusted => return Err(e.into()),
            Err(_) => {}
        }
    }
    let release_url = format!("{base}/Release");
    let Some(release) = transport.get_small(&release_url)? else {
        return Err(Error::Apt(AptError::Signature {
            file: inrelease,
            reason: "the repository has neither InRelease nor Release".into(),
        }));
    };
    let signature_url = format!("{base}/Release.gpg");
    let signature = transport.get_small(&signature_url)?;
    let verified = match &signature {
        Some(sig) => verify_detached(&release, sig, &release_url, keyring, now).map(|v| v.into_text()),
        None => Err(AptError::Signature {
            file: release_url.clone(),
            reason: "the repository is not signed (no InRelease, no Release.gpg)".into(),
        }),
    };
    match verified {
        Ok(text) => Ok((text, release_url, None)),
        Err(e) if !trusted => Err(e.into()),
        Err(e) => {
            let text = String::from_utf8(release)
                .map_err(|_| Error::Apt(AptError::parse(&release_url, None, "not UTF-8 text")))?;
            let warning =
                format!("{release_url}: used without a valid signature because its source says trusted=yes ({e})");
            Ok((text, release_url, Some(warning)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(archs: &str) -> Release {
        let sha = "0".repeat(64);
        let text = format!(
            "Suite: bookworm-security\nCodename: bookworm-security\nArchitectures: {archs}\nComponents: updates/main\n\
             Acquire-By-Hash: yes\nSHA256:\n {sha} 10 main/binary-amd64/Packages.xz\n {sha} 10 main/binary-all/Packages.xz\n \
             {sha} 10 main/binary-i386/Packages.gz\n"
        );
        Release::parse(&text, "Release").expect("release")
    }

    #[test]
    fn indexes_as_apt_reads_them() {
        let source = &Sources::parse_list("deb http://a.example/debian-security bookworm-security main", "x.list")
            .expect("source")
            .entries[0];
        let archs = ["amd64".to_owned(), "i386".to_owned()];
        let paths = |r: &Release, s: &Source| -> Vec<String> {
            index_locations(r, s, &archs).into_iter().map(|l| l.fetch_path).collect()
        };
        let h = "0".repeat(64);
        assert_eq!(
            paths(&release("amd64 i386"), source),
            [format!("main/binary-amd64/by-hash/SHA256/{h}"), format!("main/binary-i386/by-hash/SHA256/{h}")]
        );
        assert_eq!(
            paths(&release("all amd64 i386"), source),
            [
                format!("main/binary-amd64/by-hash/SHA256/{h}"),
                format!("main/binary-all/by-hash/SHA256/{h}"),
                format!("main/binary-i386/by-hash/SHA256/{h}")
            ]
        );
        let amd64_only =
            &Sources::parse_list("deb [arch=amd64] http://a.example/debian-security bookworm-security main", "x.list")
                .expect("source")
                .entries[0];
        assert_eq!(paths(&release("amd64 i386"), amd64_only), [format!("main/binary-amd64/by-hash/SHA256/{h}")]);
    }

    #[test]
    fn suites_of_the_images_release_only() {
        let r = |suite: &str, codename: &str| Release {
            suite: Some(suite.into()),
            codename: Some(codename.into()),
            ..release("amd64")
        };
        assert!(belongs(&r("oldstable-security", "bookworm-security"), "bookworm"));
        assert!(belongs(&r("oldstable-updates", "bookworm-updates"), "bookworm"));
        assert!(belongs(&r("oldstable", "bookworm"), "bookworm"));
        assert!(!belongs(&r("stable", "trixie"), "bookworm"));
        assert!(!belongs(&r("stable-security", "trixie-security"), "bookworm"));
    }
}
