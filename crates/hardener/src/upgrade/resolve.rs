//! Choosing the new versions: the image's installed packages (dpkg database), the candidates
//! of the image's own release in the verified repositories, and the dependencies of every new
//! version satisfied without removing or downgrading anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use oci_core::{Descriptor, Digest, MediaType, MergedFs, OciLayout};

use super::ahead::cores;
use super::fetch::Transport;
use super::plan::{PackageLocation, PlannedPackage, UpgradePlan, UpgradeReason, UpgradeRequest, UpgradeTarget};
use super::repo::{RepoOptions, Repositories, Repository, open_repositories};
use crate::apt::deb822::paragraphs;
use crate::apt::{
    ArchQualifier, Dependency, IndexLocation, MultiArch, PackageEntry, Relation, VersionOp, names_any, parse_relations,
    read_packages_file,
};
use crate::{AptError, DpkgVersion, Error, Result};

/// One package as the resolution sees it: installed, or a candidate from a repository.
#[derive(Debug, Clone)]
struct Pkg {
    name: String,
    arch: String,
    version: DpkgVersion,
    multi_arch: MultiArch,
    source_version: DpkgVersion,
    depends: Vec<Dependency>,
    provides: Vec<Dependency>,
    breaks: Vec<Dependency>,
    /// Index into the candidates (`None` for what is installed).
    candidate: Option<usize>,
    /// Installed and held (`Status: hold …`): upgraded only when named.
    held: bool,
}

impl Pkg {
    fn from_entry(e: &PackageEntry, index: usize) -> Pkg {
        Pkg {
            name: e.package.clone(),
            arch: e.architecture.clone(),
            version: e.version.clone(),
            multi_arch: e.multi_arch,
            source_version: e.source_version.clone(),
            depends: e.pre_depends.iter().chain(&e.depends).cloned().collect(),
            provides: e.provides.clone(),
            breaks: e.breaks.iter().chain(&e.conflicts).cloned().collect(),
            candidate: Some(index),
            held: false,
        }
    }

    fn show(&self) -> String {
        format!("{}:{} {}", self.name, self.arch, self.version)
    }
}

/// The installed packages (status, or distroless `status.d/`), and the architectures.
fn installed(fs: &MergedFs) -> Result<(Vec<Pkg>, Vec<String>)> {
    let mut texts = Vec::new();
    if fs.resolve("var/lib/dpkg/status").is_some() {
        texts.push(("/var/lib/dpkg/status".to_owned(), fs.read("var/lib/dpkg/status")?, true));
    }
    let mut statusd: Vec<String> = fs
        .walk("var/lib/dpkg/status.d")
        .map(|(p, _)| p.to_owned())
        .filter(|p| p.matches('/').count() == 4 && !p.ends_with(".md5sums"))
        .collect();
    statusd.sort();
    for p in statusd {
        let bytes = fs.read(&p)?;
        texts.push((format!("/{p}"), bytes, false));
    }
    let mut out = Vec::new();
    for (file, bytes, needs_status) in &texts {
        out.extend(parse_installed(&String::from_utf8_lossy(bytes), file, *needs_status)?);
    }
    // Native first: dpkg's own architecture, else the first of `arch`, else the most common.
    let mut archs: Vec<String> = Vec::new();
    if let Some(dpkg) = out.iter().find(|p| p.name == "dpkg") {
        archs.push(dpkg.arch.clone());
    }
    if fs.resolve("var/lib/dpkg/arch").is_some() {
        let text = String::from_utf8_lossy(&fs.read("var/lib/dpkg/arch")?).into_owned();
        archs.extend(text.split_whitespace().map(str::to_owned));
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for p in out.iter().filter(|p| p.arch != "all") {
        *counts.entry(&p.arch).or_default() += 1;
    }
    let mut by_count: Vec<(&str, usize)> = counts.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    archs.extend(by_count.into_iter().map(|(a, _)| a.to_owned()));
    let mut seen = BTreeSet::new();
    archs.retain(|a| seen.insert(a.clone()));
    Ok((out, archs))
}

/// The installed packages of a dpkg status text (`needs_status`: skip stanzas whose `Status`
/// is not an installed state; distroless `status.d` files have none).
fn parse_installed(text: &str, file: &str, needs_status: bool) -> Result<Vec<Pkg>> {
    let mut out = Vec::new();
    for para in paragraphs(text, file, false) {
        let para = para?;
        let db = |reason: String| Error::PackageDb { path: file.to_owned(), reason };
        let Some(name) = para.get("Package") else { continue };
        let held = para.get("Status").is_some_and(|s| s.starts_with("hold "));
        if needs_status {
            let state = para.get("Status").and_then(|s| s.split_whitespace().nth(2)).unwrap_or("");
            if matches!(state, "not-installed" | "config-files" | "") {
                continue;
            }
        }
        let version: DpkgVersion = para.get("Version").unwrap_or("").parse()?;
        let rel = |field: &str| -> Result<Vec<Dependency>> {
            para.field(field)
                .map(|f| parse_relations(&f.folded()).map_err(|e| db(format!("{name} {field}: {e}"))))
                .transpose()
                .map(Option::unwrap_or_default)
        };
        let source_version = match para.get("Source").and_then(|s| s.split_once('(')) {
            None => version.clone(),
            Some((_, v)) => v.trim_end_matches(')').trim().parse()?,
        };
        out.push(Pkg {
            name: name.to_owned(),
            arch: para.get("Architecture").unwrap_or("all").to_owned(),
            version,
            multi_arch: match para.get("Multi-Arch") {
                Some("same") => MultiArch::Same,
                Some("foreign") => MultiArch::Foreign,
                Some("allowed") => MultiArch::Allowed,
                _ => MultiArch::No,
            },
            source_version,
            depends: [rel("Pre-Depends")?, rel("Depends")?].concat(),
            provides: rel("Provides")?,
            breaks: [rel("Breaks")?, rel("Conflicts")?].concat(),
            candidate: None,
            held,
        });
    }
    Ok(out)
}

/// The candidates read from the indexes so far, and the means to read more: each index is
/// decompressed at most once per run, its text kept in the blob cache by the SHA256 the
/// `Release` gives for it uncompressed (a later pass, or a later run, reads it as it is).
struct Pool<'a> {
    repos: &'a [Repository],
    layout: &'a OciLayout,
    /// The entries kept, in the order of one reading of every index (repository, index,
    /// line), whichever pass read them.
    entries: Vec<(PackageEntry, usize)>,
    /// (index number, line) of each entry, parallel to `entries`.
    order: Vec<(usize, usize)>,
    /// The names read for.
    loaded: BTreeSet<String>,
    /// Per index (repositories' indexes in order): the uncompressed text's location and its
    /// path in the cache, once there.
    plain: Vec<Option<(IndexLocation, PathBuf)>>,
}

impl<'a> Pool<'a> {
    fn new(repos: &'a [Repository], layout: &'a OciLayout) -> Pool<'a> {
        let count = repos.iter().map(|r| r.indexes.len()).sum();
        Pool {
            repos,
            layout,
            entries: Vec::new(),
            order: Vec::new(),
            loaded: BTreeSet::new(),
            plain: vec![None; count],
        }
    }

    /// Reads the entries named in `names` or providing one of them that earlier calls did
    /// not read.
    fn load(&mut self, names: &BTreeSet<String>) -> Result<()> {
        let new: BTreeSet<&str> = names.iter().filter(|n| !self.loaded.contains(*n)).map(String::as_str).collect();
        if new.is_empty() {
            return Ok(());
        }
        let seen: BTreeSet<(usize, usize)> = self.order.iter().copied().collect();
        let mut i = 0;
        for (r, repo) in self.repos.iter().enumerate() {
            for (path, loc, url) in &repo.indexes {
                let keep = |p: &crate::apt::deb822::Paragraph<'_>| {
                    !seen.contains(&(i, p.line()))
                        && (p.get("Package").is_some_and(|n| new.contains(n))
                            || p.field("Provides").is_some_and(|f| {
                                f.folded().split(',').any(|d| {
                                    d.split([' ', '(', ':']).find(|w| !w.is_empty()).is_some_and(|n| new.contains(n))
                                })
                            }))
                };
                let prefilter = |raw: &str| names_any(raw, |n| new.contains(n));
                let read = self.read_index(i, path, loc, url, prefilter, keep)?;
                for e in read {
                    self.order.push((i, e.line));
                    self.entries.push((e, r));
                }
                i += 1;
            }
        }
        // One reading's order, so ties between candidates fall as before.
        let mut both: Vec<((usize, usize), (PackageEntry, usize))> =
            std::mem::take(&mut self.order).into_iter().zip(std::mem::take(&mut self.entries)).collect();
        both.sort_by_key(|(k, _)| *k);
        (self.order, self.entries) = both.into_iter().unzip();
        self.loaded.extend(new.into_iter().map(str::to_owned));
        Ok(())
    }

    /// One index's entries that `keep` accepts: from its uncompressed text in the cache
    /// when there (verified), else decompressed, the text kept in the cache on the way when
    /// the `Release` says what it must hash to.
    fn read_index(
        &mut self,
        i: usize,
        path: &Path,
        loc: &IndexLocation,
        url: &str,
        prefilter: impl FnMut(&str) -> bool,
        keep: impl FnMut(&crate::apt::deb822::Paragraph<'_>) -> bool,
    ) -> Result<Vec<PackageEntry>> {
        if self.plain[i].is_none()
            && let Some(plain) = &loc.uncompressed
            && let Ok(digest) = format!("sha256:{}", plain.sha256).parse::<Digest>()
        {
            let plain_loc = IndexLocation {
                path: plain.path.clone(),
                fetch_path: plain.path.clone(),
                compression: crate::apt::Compression::None,
                size: plain.size,
                sha256: plain.sha256.clone(),
                uncompressed: None,
            };
            if !self.layout.has_blob(&digest) {
                // Decompress once, keeping the text.
                let mut writer = self.layout.blob_writer()?;
                let entries = read_packages_file(path, loc, url, cores(), prefilter, Some(&mut writer), keep)?;
                let descriptor = Descriptor::new(MediaType::Other(INDEX_TEXT.into()), digest.clone(), plain.size);
                match writer.finish_expected(&descriptor) {
                    Ok(()) => {}
                    Err(oci_core::Error::DigestMismatch { found, .. }) => {
                        return Err(Error::Apt(AptError::Mismatch {
                            file: format!("{url} (decompressed)"),
                            what: "SHA256",
                            expected: plain.sha256.clone(),
                            actual: found.hex().to_owned(),
                        }));
                    }
                    Err(oci_core::Error::SizeMismatch { found, .. }) => {
                        return Err(Error::Apt(AptError::Mismatch {
                            file: format!("{url} (decompressed)"),
                            what: "size",
                            expected: plain.size.to_string(),
                            actual: found.to_string(),
                        }));
                    }
                    Err(e) => return Err(e.into()),
                }
                self.plain[i] = Some((plain_loc, self.layout.blob_path(&digest)));
                return Ok(entries);
            }
            self.plain[i] = Some((plain_loc, self.layout.blob_path(&digest)));
        }
        Ok(match &self.plain[i] {
            Some((plain_loc, plain_path)) => {
                read_packages_file(plain_path, plain_loc, url, cores(), prefilter, None, keep)?
            }
            None => read_packages_file(path, loc, url, cores(), prefilter, None, keep)?,
        })
    }
}

/// The media type the cache records for an index's uncompressed text.
const INDEX_TEXT: &str = "text/plain";

/// Plans the upgrade `request` asks for on the image `fs`: the image's (or the options')
/// sources verified as apt verifies them, candidates only from the image's own release
/// (`VERSION_CODENAME` of os-release: `bookworm`, `bookworm-security`, `bookworm-updates`),
/// the highest version and never a downgrade; each new version's `Pre-Depends`/`Depends`
/// satisfied by what stays installed, what is upgraded or a few new packages; `Breaks` and
/// `Conflicts` with what stays installed resolved by upgrading it or refused. Packages come
/// dependencies first. Indexes are fetched into the blob cache (`options.cache`); `.deb`s are
/// not (see [`super::fetch_packages`]).
///
/// [`UpgradeRequest::Packages`] names installed packages as `NAME` (every architecture
/// installed) or `NAME:ARCH`. Held packages (`Status: hold …`) are upgraded only when named
/// there: [`UpgradeRequest::All`] and vulnerable targets leave them (with a warning; a held
/// target is unfixable), and a dependency that needs one refuses the upgrade.
///
/// Memory: indexes are read one paragraph at a time keeping only the entries of the names
/// involved (installed, asked for, and those the new versions' relations name), read again
/// for the new names only when new names appear; never a whole index. Time: a compressed
/// index is decompressed once, its text kept in the blob cache by the SHA256 its `Release`
/// gives for it uncompressed, and only the paragraphs naming a wanted name are parsed.
///
/// An Alpine image (`lib/apk/db/installed`, no dpkg database) is resolved the apk way: its
/// `/etc/apk/repositories` of the image's branch, each `APKINDEX.tar.gz` verified against
/// `/etc/apk/keys` and [`RepoOptions::keyrings`], `D:` dependencies with their `so:`/`cmd:`/
/// `pc:` provides and `!` conflicts; the plan's format is [`crate::PackageFormat::Apk`].
///
/// # Errors
/// [`Error::NoAptSources`] when neither the image nor the options name a source
/// ([`Error::NoApkRepositories`] for Alpine; [`Error::ApkBranch`] for a given repository of
/// another branch; [`Error::Apk`] for an index refused);
/// [`Error::Apt`] for a refused repository (signature, key, expiry, future date, index hash
/// or size); [`Error::Resolution`] when the upgrade would need a removal or a downgrade, with
/// the chain of dependencies that leads there; [`Error::Download`] when a file cannot be
/// fetched.
pub fn resolve_upgrades(fs: &MergedFs, request: &UpgradeRequest, options: &RepoOptions) -> Result<UpgradePlan> {
    if fs.resolve(crate::apk::INSTALLED_DB).is_some() && fs.resolve("var/lib/dpkg/status").is_none() {
        return crate::apk::resolve_apk(fs, request, options);
    }
    let (installed, architectures) = installed(fs)?;
    let codename = crate::detect_os(fs, &crate::today_utc())?.and_then(|o| o.codename);
    let layout = oci_core::open_cache(&options.cache)?;
    let mut transport = Transport::default();
    let native = architectures.first().cloned().unwrap_or_else(|| "amd64".into());
    let archs = if architectures.is_empty() { vec![native.clone()] } else { architectures.clone() };
    let Repositories { repos, warnings } =
        open_repositories(fs, options, &layout, &mut transport, &archs, codename.as_deref())?;

    let mut names: BTreeSet<String> = installed.iter().map(|p| p.name.clone()).collect();
    match request {
        UpgradeRequest::Packages(list) => {
            names.extend(list.iter().map(|n| n.split(':').next().unwrap_or(n).to_owned()))
        }
        UpgradeRequest::Vulnerable(targets) => names.extend(targets.iter().map(|t| t.package.clone())),
        _ => {}
    }
    // Read what the names need; read again while new names appear.
    let mut pool = Pool::new(&repos, &layout);
    for _ in 0..32 {
        pool.load(&names)?;
        let pool = &pool.entries;
        let mut solver = Solver::new(&installed, pool, &native, &names);
        match solver.run(request)? {
            Step::Need(more) => {
                let before = names.len();
                names.extend(more);
                if names.len() == before {
                    return Err(Error::Resolution { reason: "the dependency search did not settle".into() });
                }
            }
            Step::Done => {
                let mut plan = UpgradePlan {
                    architectures: archs,
                    sources: repos.iter().map(|r| r.line.clone()).collect(),
                    warnings: [warnings, std::mem::take(&mut solver.warnings)].concat(),
                    unfixable: solver.unfixable.clone(),
                    ..UpgradePlan::default()
                };
                for key in solver.order() {
                    let (pkg, reason) = &solver.planned[&key];
                    let Some(i) = pkg.candidate else { continue };
                    let (entry, r) = &pool[i];
                    let old = installed.iter().find(|p| p.name == pkg.name && p.arch == pkg.arch);
                    plan.packages.push(PlannedPackage {
                        name: entry.package.clone(),
                        architecture: entry.architecture.clone(),
                        multi_arch_same: entry.multi_arch == MultiArch::Same,
                        installed: old.map(|p| p.version.to_string()),
                        version: entry.version.to_string(),
                        source: entry.source.clone(),
                        source_version: entry.source_version.to_string(),
                        reason: reason.clone(),
                        file: PackageLocation {
                            repository: repos[*r].uri.clone(),
                            suite: repos[*r].suite.clone(),
                            filename: entry.filename.clone(),
                            size: entry.size,
                            sha256: entry.sha256.clone(),
                            control_checksum: None,
                            local: None,
                        },
                    });
                }
                return Ok(plan);
            }
        }
    }
    Err(Error::Resolution { reason: "the dependency search did not settle".into() })
}

enum Step {
    Done,
    Need(BTreeSet<String>),
}

type Key = (String, String);

struct Solver<'a> {
    installed: &'a [Pkg],
    candidates: Vec<Pkg>,
    native: &'a str,
    /// What the image has after the plan, by (name, arch).
    state: BTreeMap<Key, Pkg>,
    planned: BTreeMap<Key, (Pkg, UpgradeReason)>,
    /// Why each planned package is there, for messages.
    chain: BTreeMap<Key, String>,
    unfixable: Vec<UpgradeTarget>,
    loaded: BTreeSet<String>,
    missing: BTreeSet<String>,
    /// Names the caller asked for by name (held packages among them may be upgraded).
    named: BTreeSet<String>,
    /// A held package some new version would need upgraded.
    held_needed: Option<String>,
    warnings: Vec<String>,
}

impl<'a> Solver<'a> {
    fn new(
        installed: &'a [Pkg],
        pool: &[(PackageEntry, usize)],
        native: &'a str,
        names: &BTreeSet<String>,
    ) -> Solver<'a> {
        let candidates: Vec<Pkg> = pool.iter().enumerate().map(|(i, (e, _))| Pkg::from_entry(e, i)).collect();
        let loaded = names.clone();
        let state = installed.iter().map(|p| ((p.name.clone(), p.arch.clone()), p.clone())).collect();
        Solver {
            installed,
            candidates,
            native,
            state,
            planned: BTreeMap::new(),
            chain: BTreeMap::new(),
            unfixable: Vec::new(),
            loaded,
            missing: BTreeSet::new(),
            named: BTreeSet::new(),
            held_needed: None,
            warnings: Vec::new(),
        }
    }

    /// The newest candidate for `name` on `arch` (or `all`) newer than `above` that `accept`s.
    fn best(&self, name: &str, arch: &str, above: Option<&DpkgVersion>, accept: impl Fn(&Pkg) -> bool) -> Option<Pkg> {
        self.candidates
            .iter()
            .filter(|c| c.name == name && (c.arch == arch || c.arch == "all" || arch == "all"))
            .filter(|c| above.is_none_or(|v| c.version > *v))
            .filter(|c| accept(c))
            .max_by(|a, b| a.version.cmp(&b.version))
            .cloned()
    }

    fn plan(&mut self, old_key: Option<Key>, pkg: Pkg, reason: UpgradeReason, why: String) {
        if let Some(k) = old_key
            && let Some(old) = self.state.remove(&k)
            && old.held
            && !self.named.contains(&old.name)
            && self.held_needed.is_none()
        {
            self.held_needed = Some(format!("{why} → {} is held", old.show()));
        }
        let key = (pkg.name.clone(), pkg.arch.clone());
        self.state.insert(key.clone(), pkg.clone());
        self.chain.insert(key.clone(), why);
        self.planned.insert(key, (pkg, reason));
    }

    fn run(&mut self, request: &UpgradeRequest) -> Result<Step> {
        let installed = self.installed;
        match request {
            UpgradeRequest::All => {
                for p in installed {
                    if p.held {
                        if self.best(&p.name, &p.arch, Some(&p.version), |_| true).is_some() {
                            self.warnings.push(format!("{} is held: not upgraded", p.show()));
                        }
                        continue;
                    }
                    if let Some(c) = self.best(&p.name, &p.arch, Some(&p.version), |_| true) {
                        let why = format!("{} → {} (newer)", p.show(), c.version);
                        self.plan(Some((p.name.clone(), p.arch.clone())), c, UpgradeReason::Newer, why);
                    }
                }
            }
            UpgradeRequest::Packages(names) => {
                for asked in names {
                    // `NAME` (every installed architecture) or `NAME:ARCH`.
                    let (name, arch) = asked.split_once(':').map_or((asked.as_str(), None), |(n, a)| (n, Some(a)));
                    self.named.insert(name.to_owned());
                    let mine: Vec<&Pkg> =
                        installed.iter().filter(|p| p.name == name && arch.is_none_or(|a| a == p.arch)).collect();
                    if mine.is_empty() {
                        return Err(Error::Resolution { reason: format!("{asked} is not installed in the image") });
                    }
                    for p in mine {
                        if let Some(c) = self.best(&p.name, &p.arch, Some(&p.version), |_| true) {
                            let why = format!("{} → {} (requested)", p.show(), c.version);
                            self.plan(Some((p.name.clone(), p.arch.clone())), c, UpgradeReason::Requested, why);
                        }
                    }
                }
            }
            UpgradeRequest::Vulnerable(targets) => {
                for t in targets {
                    let fixed: DpkgVersion = t.fixed_version.parse()?;
                    let mine: Vec<&Pkg> = installed
                        .iter()
                        .filter(|p| p.name == t.package && t.architecture.as_ref().is_none_or(|a| *a == p.arch))
                        .collect();
                    let mut fixable = !mine.is_empty();
                    let mut chosen = Vec::new();
                    for p in mine {
                        if p.source_version >= fixed {
                            continue;
                        }
                        if p.held {
                            self.warnings.push(format!("{} is held: not upgraded", p.show()));
                            fixable = false;
                            continue;
                        }
                        match self.best(&p.name, &p.arch, Some(&p.version), |_| true) {
                            Some(c) if c.source_version >= fixed => chosen.push((p, c)),
                            _ => fixable = false,
                        }
                    }
                    if !fixable {
                        self.unfixable.push(t.clone());
                        continue;
                    }
                    for (p, c) in chosen {
                        let why = format!("{} → {} (fixes {})", p.show(), c.version, t.vulnerabilities.join(", "));
                        let reason = UpgradeReason::Fixes { vulnerabilities: t.vulnerabilities.clone() };
                        self.plan(Some((p.name.clone(), p.arch.clone())), c, reason, why);
                    }
                }
            }
        }
        // Settle: every check may plan more; stop when a pass changes nothing.
        for _ in 0..10_000 {
            let before = self.planned.len();
            let changed_versions: Vec<String> = self.planned.values().map(|(p, _)| p.show()).collect();
            self.multi_arch_same()?;
            self.forward_dependencies()?;
            if !self.missing.is_empty() {
                return Ok(Step::Need(std::mem::take(&mut self.missing)));
            }
            self.reverse_dependencies()?;
            self.breaks()?;
            if let Some(why) = self.held_needed.take() {
                return Err(refused(why));
            }
            if !self.missing.is_empty() {
                return Ok(Step::Need(std::mem::take(&mut self.missing)));
            }
            let after: Vec<String> = self.planned.values().map(|(p, _)| p.show()).collect();
            if self.planned.len() == before && after == changed_versions {
                return Ok(Step::Done);
            }
        }
        Err(Error::Resolution { reason: "the dependency search did not settle".into() })
    }

    /// `Multi-Arch: same` instances move together: the other architectures installed get the
    /// same version.
    fn multi_arch_same(&mut self) -> Result<()> {
        let planned: Vec<Pkg> = self.planned.values().map(|(p, _)| p.clone()).collect();
        for p in planned.iter().filter(|p| p.multi_arch == MultiArch::Same) {
            let others: Vec<Pkg> = self
                .state
                .values()
                .filter(|o| o.name == p.name && o.arch != p.arch && o.version != p.version)
                .cloned()
                .collect();
            for o in others {
                let why = format!("{} → needs {} at the same version (Multi-Arch: same)", self.chain_of(p), o.show());
                match self.best(&o.name, &o.arch, Some(&o.version), |c| c.version == p.version) {
                    Some(c) => {
                        let reason = UpgradeReason::Dependency { by: p.name.clone() };
                        self.plan(Some((o.name.clone(), o.arch.clone())), c, reason, why);
                    }
                    None => return Err(refused(format!("{why} → {} is not available for {}", p.version, o.arch))),
                }
            }
        }
        Ok(())
    }

    fn chain_of(&self, p: &Pkg) -> String {
        self.chain.get(&(p.name.clone(), p.arch.clone())).cloned().unwrap_or_else(|| p.show())
    }

    /// The architecture a package's dependencies are resolved for.
    fn dep_arch<'p>(&'p self, p: &'p Pkg) -> &'p str {
        if p.arch == "all" { self.native } else { &p.arch }
    }

    /// Whether `candidate` (a real package) can satisfy `rel` for a depender of `arch`.
    fn arch_ok(rel: &Relation, arch: &str, candidate: &Pkg) -> bool {
        match &rel.arch_qualifier {
            Some(ArchQualifier::Arch(a)) => &candidate.arch == a || candidate.arch == "all",
            Some(ArchQualifier::Any) => {
                matches!(candidate.multi_arch, MultiArch::Allowed | MultiArch::Foreign)
                    || candidate.arch == arch
                    || candidate.arch == "all"
            }
            _ => candidate.arch == arch || candidate.arch == "all" || candidate.multi_arch == MultiArch::Foreign,
        }
    }

    /// Whether `pkg` satisfies `rel` (by name and version, or by a `Provides`).
    fn satisfies(rel: &Relation, arch: &str, pkg: &Pkg) -> bool {
        if !Self::arch_ok(rel, arch, pkg) {
            return false;
        }
        if pkg.name == rel.name && rel.accepts(&pkg.version) {
            return true;
        }
        pkg.provides.iter().flat_map(|d| &d.alternatives).any(|pr| {
            pr.name == rel.name
                && match (&rel.version, &pr.version) {
                    (None, _) => true,
                    (Some(_), Some((VersionOp::Eq, v))) => rel.accepts(v),
                    (Some(_), _) => false,
                }
        })
    }

    fn applies(rel: &Relation, arch: &str) -> bool {
        rel.architectures.is_empty() || {
            let negated = rel.architectures.iter().all(|a| a.starts_with('!'));
            let listed = rel.architectures.iter().any(|a| a.trim_start_matches('!') == arch);
            if negated { !listed } else { listed }
        }
    }

    fn satisfied(&self, dep: &Dependency, arch: &str) -> bool {
        dep.alternatives
            .iter()
            .filter(|r| Self::applies(r, arch))
            .any(|r| self.state.values().any(|p| Self::satisfies(r, arch, p)))
            || dep.alternatives.iter().all(|r| !Self::applies(r, arch))
    }

    fn note_missing(&mut self, name: &str) -> bool {
        if self.loaded.contains(name) {
            false
        } else {
            self.missing.insert(name.to_owned());
            true
        }
    }

    fn forward_dependencies(&mut self) -> Result<()> {
        let planned: Vec<Pkg> = self.planned.values().map(|(p, _)| p.clone()).collect();
        for p in planned {
            let arch = self.dep_arch(&p).to_owned();
            for dep in &p.depends {
                if self.satisfied(dep, &arch) {
                    continue;
                }
                let mut waiting = false;
                for r in dep.alternatives.iter().filter(|r| Self::applies(r, &arch)) {
                    waiting |= self.note_missing(&r.name);
                }
                if waiting {
                    continue;
                }
                let why = format!("{} → needs {dep}", self.chain_of(&p));
                if !self.satisfy(dep, &arch, &p.name, &why) {
                    return Err(refused(format!("{why} → {}", self.explain(dep, &arch))));
                }
            }
        }
        Ok(())
    }

    /// Upgrades or adds one package so that `dep` holds; false when nothing can.
    fn satisfy(&mut self, dep: &Dependency, arch: &str, by: &str, why: &str) -> bool {
        for r in dep.alternatives.iter().filter(|r| Self::applies(r, arch)) {
            // An installed package of that name: a newer version of it.
            // Installed for a compatible architecture: a newer version of it.
            let present: Vec<Pkg> =
                self.state.values().filter(|p| p.name == r.name && Self::arch_ok(r, arch, p)).cloned().collect();
            for old in &present {
                if let Some(c) = self.best(&r.name, &old.arch, Some(&old.version), |c| Self::satisfies(r, arch, c)) {
                    let reason = UpgradeReason::Dependency { by: by.to_owned() };
                    self.plan(Some((old.name.clone(), old.arch.clone())), c, reason, why.to_owned());
                    return true;
                }
            }
            if !present.is_empty() {
                continue;
            }
            // A new package: the name itself, else a provider.
            let new_arch = match &r.arch_qualifier {
                Some(ArchQualifier::Arch(a)) => a.clone(),
                _ => arch.to_owned(),
            };
            let by_name = self.best(&r.name, &new_arch, None, |c| Self::satisfies(r, arch, c));
            let chosen = by_name.or_else(|| {
                let mut providers: Vec<&Pkg> =
                    self.candidates.iter().filter(|c| c.name != r.name && Self::satisfies(r, arch, c)).collect();
                providers.sort_by(|a, b| a.name.cmp(&b.name).then(b.version.cmp(&a.version)));
                providers.first().map(|p| (*p).clone())
            });
            if let Some(c) = chosen {
                // Another architecture of it may join only a `Multi-Arch: same` package.
                let taken = self
                    .state
                    .values()
                    .any(|p| p.name == c.name && (c.multi_arch != MultiArch::Same || p.arch == c.arch));
                if taken {
                    continue;
                }
                self.plan(None, c, UpgradeReason::Dependency { by: by.to_owned() }, why.to_owned());
                return true;
            }
        }
        false
    }

    /// Why no alternative of `dep` can be had.
    fn explain(&self, dep: &Dependency, arch: &str) -> String {
        let mut parts = Vec::new();
        for r in dep.alternatives.iter().filter(|r| Self::applies(r, arch)) {
            let installed: Vec<String> =
                self.state.values().filter(|p| p.name == r.name).map(|p| p.version.to_string()).collect();
            let mut available: Vec<&DpkgVersion> = self
                .candidates
                .iter()
                .filter(|c| c.name == r.name && (c.arch == arch || c.arch == "all"))
                .map(|c| &c.version)
                .collect();
            available.sort();
            available.dedup();
            let available = if available.is_empty() {
                "none available".to_owned()
            } else {
                format!("only {} available", available.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", "))
            };
            let installed =
                if installed.is_empty() { String::new() } else { format!("{} installed, ", installed.join(", ")) };
            parts.push(format!("{}: {installed}{available}", r.name));
        }
        format!("{} (it would need a removal or a downgrade)", parts.join("; "))
    }

    /// What stays installed must still have its dependencies: upgrade it when a newer version
    /// does, else refuse.
    fn reverse_dependencies(&mut self) -> Result<()> {
        let staying: Vec<Pkg> = self.state.values().filter(|p| p.candidate.is_none()).cloned().collect();
        for p in staying {
            let arch = self.dep_arch(&p).to_owned();
            for dep in &p.depends {
                if self.satisfied(dep, &arch) {
                    continue;
                }
                // The planned package whose installed version satisfied it (by name or by a
                // `Provides` the new version dropped); a dependency broken before is not ours.
                let installed = self.installed;
                let culprit = self
                    .planned
                    .values()
                    .find(|(c, _)| {
                        installed.iter().any(|old| {
                            old.name == c.name
                                && old.arch == c.arch
                                && dep.alternatives.iter().any(|r| Self::satisfies(r, &arch, old))
                        })
                    })
                    .map(|(c, _)| c.clone());
                let Some(culprit) = culprit else { continue };
                let why = format!("{} → {} needs {dep}", self.chain_of(&culprit), p.show());
                if let Some(c) = self.best(&p.name, &p.arch, Some(&p.version), |_| true) {
                    let reason = UpgradeReason::Dependency { by: culprit.name.clone() };
                    self.plan(Some((p.name.clone(), p.arch.clone())), c, reason, why);
                    break;
                }
                return Err(refused(format!("{why} → no newer {} is available (it would need a removal)", p.name)));
            }
        }
        Ok(())
    }

    /// `Breaks`/`Conflicts` between the new versions and what stays installed.
    fn breaks(&mut self) -> Result<()> {
        let all: Vec<Pkg> = self.state.values().cloned().collect();
        for p in &all {
            let arch = self.dep_arch(p).to_owned();
            for dep in &p.breaks {
                for r in dep.alternatives.iter().filter(|r| Self::applies(r, &arch)) {
                    let hit: Vec<Pkg> =
                        all.iter().filter(|o| o.name != p.name && Self::satisfies(r, &arch, o)).cloned().collect();
                    for o in hit {
                        if p.candidate.is_none() && o.candidate.is_none() {
                            continue;
                        }
                        // Upgrade whichever side stays at its installed version.
                        let (stay, other) = if o.candidate.is_none() { (&o, p) } else { (p, &o) };
                        let stay_is_broken = o.name == stay.name;
                        let why = if stay_is_broken {
                            format!("{} → breaks {}", self.chain_of(other), stay.show())
                        } else {
                            format!("{} → is broken by {}", self.chain_of(other), stay.show())
                        };
                        let fixes = |c: &Pkg| {
                            let still_broken = stay_is_broken && Self::satisfies(r, &arch, c);
                            let breaks_other =
                                c.breaks.iter().flat_map(|d| &d.alternatives).any(|b| Self::satisfies(b, &arch, other));
                            !still_broken && !breaks_other
                        };
                        if stay.candidate.is_none()
                            && let Some(c) = self.best(&stay.name, &stay.arch, Some(&stay.version), fixes)
                        {
                            let reason = UpgradeReason::Dependency { by: other.name.clone() };
                            self.plan(Some((stay.name.clone(), stay.arch.clone())), c, reason, why);
                            return Ok(());
                        }
                        return Err(refused(format!(
                            "{why} ({}: {r}) and no version without the conflict is available (it would need a \
                             removal)",
                            p.name
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// The planned packages, dependencies first (then by name and architecture).
    fn order(&self) -> Vec<Key> {
        let mut done: BTreeSet<Key> = BTreeSet::new();
        let mut out = Vec::new();
        for key in self.planned.keys() {
            self.visit(key, &mut done, &mut out, &mut BTreeSet::new());
        }
        out
    }

    fn visit(&self, key: &Key, done: &mut BTreeSet<Key>, out: &mut Vec<Key>, path: &mut BTreeSet<Key>) {
        if done.contains(key) || !path.insert(key.clone()) {
            return;
        }
        let (p, _) = &self.planned[key];
        let arch = self.dep_arch(p).to_owned();
        for dep in &p.depends {
            for r in &dep.alternatives {
                let deps: Vec<&Key> = self
                    .planned
                    .iter()
                    .filter(|(k, (c, _))| *k != key && Self::satisfies(r, &arch, c))
                    .map(|(k, _)| k)
                    .collect();
                for d in deps {
                    self.visit(d, done, out, path);
                }
            }
        }
        path.remove(key);
        if done.insert(key.clone()) {
            out.push(key.clone());
        }
    }
}

fn refused(reason: String) -> Error {
    Error::Resolution { reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apt::parse_packages;

    /// Installed packages from status stanzas (`Status` added).
    fn installed(text: &str) -> Vec<Pkg> {
        let text: String =
            text.trim().split("\n\n").map(|p| format!("{p}\nStatus: install ok installed\n\n")).collect();
        parse_installed(&text, "status", true).expect("status")
    }

    /// Candidates from `Packages` stanzas (the file fields added).
    fn pool(text: &str) -> Vec<(PackageEntry, usize)> {
        let text: String = text
            .trim()
            .split("\n\n")
            .map(|p| format!("{p}\nFilename: pool/x.deb\nSize: 1\nSHA256: {}\n\n", "0".repeat(64)))
            .collect();
        parse_packages(&text, "Packages").expect("packages").into_iter().map(|e| (e, 0)).collect()
    }

    /// Resolves `request`, every name loaded; the plan as `name:arch version (reason)`, in order.
    fn solve(installed: &[Pkg], pool: &[(PackageEntry, usize)], request: UpgradeRequest) -> Result<Vec<String>> {
        let mut names: BTreeSet<String> = installed.iter().map(|p| p.name.clone()).collect();
        for (e, _) in pool {
            names.insert(e.package.clone());
            for d in e.depends.iter().chain(&e.pre_depends).chain(&e.provides) {
                names.extend(d.alternatives.iter().map(|r| r.name.clone()));
            }
        }
        let mut solver = Solver::new(installed, pool, "amd64", &names);
        let Step::Done = solver.run(&request)? else { panic!("names missing") };
        Ok(solver
            .order()
            .iter()
            .map(|k| {
                let (p, reason) = &solver.planned[k];
                let why = match reason {
                    UpgradeReason::Dependency { by } => format!("for {by}"),
                    other => format!("{other:?}"),
                };
                format!("{}:{} {} ({why})", p.name, p.arch, p.version)
            })
            .collect())
    }

    fn packages(names: &[&str]) -> UpgradeRequest {
        UpgradeRequest::Packages(names.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn same_source_pins_and_newer_dependencies_upgrade_the_sibling() {
        let inst = installed(
            "Package: openssl\nVersion: 3.0.1-1\nArchitecture: amd64\nDepends: libssl3 (= 3.0.1-1)\n\n\
             Package: libssl3\nVersion: 3.0.1-1\nArchitecture: amd64\nSource: openssl\n\n\
             Package: app\nVersion: 1\nArchitecture: amd64\nDepends: libx (>= 1)\n\n\
             Package: libx\nVersion: 1\nArchitecture: amd64",
        );
        let cands = pool(
            "Package: openssl\nVersion: 3.0.2-1\nArchitecture: amd64\nDepends: libssl3 (= 3.0.2-1)\n\n\
             Package: libssl3\nVersion: 3.0.2-1\nArchitecture: amd64\nSource: openssl\n\n\
             Package: app\nVersion: 2\nArchitecture: amd64\nDepends: libx (>= 2)\n\n\
             Package: libx\nVersion: 2\nArchitecture: amd64\n\n\
             Package: libx\nVersion: 0.9\nArchitecture: amd64",
        );
        // The library alone: the binary pinned to it follows.
        assert_eq!(
            solve(&inst, &cands, packages(&["libssl3"])).unwrap(),
            ["libssl3:amd64 3.0.2-1 (Requested)", "openssl:amd64 3.0.2-1 (for libssl3)"]
        );
        // The binary alone: the library it needs follows, before it.
        assert_eq!(
            solve(&inst, &cands, packages(&["openssl"])).unwrap(),
            ["libssl3:amd64 3.0.2-1 (for openssl)", "openssl:amd64 3.0.2-1 (Requested)"]
        );
        assert_eq!(
            solve(&inst, &cands, packages(&["app"])).unwrap(),
            ["libx:amd64 2 (for app)", "app:amd64 2 (Requested)"]
        );
    }

    #[test]
    fn a_dropped_provides_upgrades_its_users() {
        let inst = installed(
            "Package: libold\nVersion: 1\nArchitecture: amd64\nProvides: libapi\n\n\
             Package: user\nVersion: 1\nArchitecture: amd64\nDepends: libapi\n\n\
             Package: broken\nVersion: 1\nArchitecture: amd64\nDepends: nothing-installed",
        );
        let cands = pool(
            "Package: libold\nVersion: 2\nArchitecture: amd64\n\n\
             Package: user\nVersion: 2\nArchitecture: amd64\nDepends: libold (>= 2)",
        );
        // `broken` was broken before: left as it is.
        assert_eq!(
            solve(&inst, &cands, packages(&["libold"])).unwrap(),
            ["libold:amd64 2 (Requested)", "user:amd64 2 (for libold)"]
        );
        let alone = pool("Package: libold\nVersion: 2\nArchitecture: amd64");
        let err = solve(&inst, &alone, packages(&["libold"])).unwrap_err().to_string();
        assert!(err.contains("user:amd64 1 needs libapi → no newer user is available"), "{err}");
    }

    #[test]
    fn an_impossible_dependency_is_refused_with_its_chain() {
        let inst = installed(
            "Package: app\nVersion: 1\nArchitecture: amd64\nDepends: libx (>= 1)\n\n\
             Package: libx\nVersion: 1\nArchitecture: amd64",
        );
        let cands = pool(
            "Package: app\nVersion: 2\nArchitecture: amd64\nDepends: libx (>= 3) | liby\n\n\
             Package: libx\nVersion: 2\nArchitecture: amd64",
        );
        let err = solve(&inst, &cands, packages(&["app"])).unwrap_err().to_string();
        assert_eq!(
            err,
            "cannot resolve the upgrade: app:amd64 1 → 2 (requested) → needs libx (>= 3) | liby → libx: 1 \
             installed, only 2 available; liby: none available (it would need a removal or a downgrade)"
        );
        // Not installed at all: refused, not guessed.
        let err = solve(&inst, &cands, packages(&["nothing"])).unwrap_err().to_string();
        assert!(err.contains("nothing is not installed"), "{err}");
    }

    #[test]
    fn virtual_packages_any_qualifiers_and_no_downgrades() {
        let inst = installed(
            "Package: mailer\nVersion: 1\nArchitecture: amd64\n\n\
             Package: perl\nVersion: 5.36\nArchitecture: amd64\nMulti-Arch: allowed\n\n\
             Package: newer\nVersion: 9\nArchitecture: all",
        );
        let cands = pool(
            "Package: mailer\nVersion: 2\nArchitecture: amd64\nDepends: perl:any (>= 5), default-mta | mail-transport-agent\n\n\
             Package: exim4\nVersion: 4.96\nArchitecture: amd64\nProvides: mail-transport-agent\n\n\
             Package: newer\nVersion: 8\nArchitecture: all",
        );
        assert_eq!(
            solve(&inst, &cands, UpgradeRequest::All).unwrap(),
            ["exim4:amd64 4.96 (for mailer)", "mailer:amd64 2 (Newer)"]
        );
    }

    #[test]
    fn breaks_upgrade_what_stays_or_refuse() {
        let inst = installed(
            "Package: libx\nVersion: 1\nArchitecture: amd64\n\n\
             Package: plugin\nVersion: 1\nArchitecture: amd64\nDepends: libx",
        );
        let with_fix = pool(
            "Package: libx\nVersion: 2\nArchitecture: amd64\nBreaks: plugin (<< 2)\n\n\
             Package: plugin\nVersion: 2\nArchitecture: amd64\nDepends: libx (>= 2)",
        );
        assert_eq!(
            solve(&inst, &with_fix, packages(&["libx"])).unwrap(),
            ["libx:amd64 2 (Requested)", "plugin:amd64 2 (for libx)"]
        );
        let without = pool("Package: libx\nVersion: 2\nArchitecture: amd64\nBreaks: plugin (<< 2)");
        let err = solve(&inst, &without, packages(&["libx"])).unwrap_err().to_string();
        assert!(err.contains("libx:amd64 1 → 2 (requested) → breaks plugin:amd64 1"), "{err}");
        assert!(err.contains("removal"), "{err}");

        // An installed package that breaks the new version: its newer version does not.
        let inst = installed(
            "Package: libx\nVersion: 1\nArchitecture: amd64\n\n\
             Package: tool\nVersion: 1\nArchitecture: amd64\nBreaks: libx (>= 2)",
        );
        let cands = pool(
            "Package: libx\nVersion: 2\nArchitecture: amd64\n\n\
             Package: tool\nVersion: 2\nArchitecture: amd64\nBreaks: libx (>= 3)",
        );
        assert_eq!(
            solve(&inst, &cands, packages(&["libx"])).unwrap(),
            ["libx:amd64 2 (Requested)", "tool:amd64 2 (for libx)"]
        );
        let err = solve(&inst, &without, packages(&["libx"])).unwrap_err().to_string();
        assert!(err.contains("libx:amd64 1 → 2 (requested) → is broken by tool:amd64 1"), "{err}");
    }

    #[test]
    fn multi_arch_same_moves_together_or_not_at_all() {
        let inst = installed(
            "Package: libm\nVersion: 1\nArchitecture: amd64\nMulti-Arch: same\n\n\
             Package: libm\nVersion: 1\nArchitecture: i386\nMulti-Arch: same",
        );
        let both = pool(
            "Package: libm\nVersion: 2\nArchitecture: amd64\nMulti-Arch: same\n\n\
             Package: libm\nVersion: 2\nArchitecture: i386\nMulti-Arch: same",
        );
        let t = UpgradeTarget {
            package: "libm".into(),
            architecture: Some("amd64".into()),
            fixed_version: "2".into(),
            vulnerabilities: vec!["CVE-1".into()],
        };
        let plan = solve(&inst, &both, UpgradeRequest::Vulnerable(vec![t.clone()])).unwrap();
        assert_eq!(plan[0], "libm:amd64 2 (Fixes { vulnerabilities: [\"CVE-1\"] })");
        assert_eq!(plan[1], "libm:i386 2 (for libm)");
        let one = pool("Package: libm\nVersion: 2\nArchitecture: amd64\nMulti-Arch: same");
        let err = solve(&inst, &one, UpgradeRequest::Vulnerable(vec![t])).unwrap_err().to_string();
        assert!(err.contains("Multi-Arch: same") && err.contains("not available for i386"), "{err}");
    }

    #[test]
    fn architectures_of_dependencies() {
        let inst = installed(
            "Package: app\nVersion: 1\nArchitecture: i386\n\n\
             Package: libm\nVersion: 1\nArchitecture: amd64\nMulti-Arch: same\n\n\
             Package: libm\nVersion: 1\nArchitecture: i386\nMulti-Arch: same\n\n\
             Package: tool\nVersion: 1\nArchitecture: amd64\nMulti-Arch: foreign",
        );
        let cands = pool(
            "Package: app\nVersion: 2\nArchitecture: i386\nDepends: libq, tool (>= 1), libm (>= 1)\n\n\
             Package: libq\nVersion: 1\nArchitecture: amd64\nMulti-Arch: same\n\n\
             Package: libq\nVersion: 1\nArchitecture: i386\nMulti-Arch: same\n\n\
             Package: libm\nVersion: 2\nArchitecture: amd64\nMulti-Arch: same\n\n\
             Package: libm\nVersion: 2\nArchitecture: i386\nMulti-Arch: same",
        );
        // The i386 package gets the i386 library; the foreign tool serves it as it is.
        assert_eq!(
            solve(&inst, &cands, packages(&["app"])).unwrap(),
            ["libq:i386 1 (for app)", "app:i386 2 (Requested)"]
        );
        // NAME:ARCH names one architecture; Multi-Arch: same brings the other along.
        assert_eq!(
            solve(&inst, &cands, packages(&["libm:i386"])).unwrap(),
            ["libm:amd64 2 (for libm)", "libm:i386 2 (Requested)"]
        );
        let err = solve(&inst, &cands, packages(&["libm:arm64"])).unwrap_err().to_string();
        assert!(err.contains("libm:arm64 is not installed"), "{err}");
    }

    #[test]
    fn held_packages_move_only_when_named() {
        let inst = parse_installed(
            "Package: app\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\nDepends: libx\n\n\
             Package: libx\nStatus: hold ok installed\nVersion: 1\nArchitecture: amd64\n",
            "status",
            true,
        )
        .expect("status");
        let cands = pool(
            "Package: app\nVersion: 2\nArchitecture: amd64\nDepends: libx (>= 2)\n\n\
             Package: libx\nVersion: 2\nArchitecture: amd64",
        );
        let err = solve(&inst, &cands, UpgradeRequest::All).unwrap_err().to_string();
        assert!(err.ends_with("app:amd64 1 → 2 (newer) → needs libx (>= 2) → libx:amd64 1 is held"), "{err}");
        assert_eq!(
            solve(&inst, &cands, packages(&["app", "libx"])).unwrap(),
            ["libx:amd64 2 (Requested)", "app:amd64 2 (Requested)"]
        );
        let t = UpgradeTarget {
            package: "libx".into(),
            architecture: None,
            fixed_version: "2".into(),
            vulnerabilities: vec![],
        };
        let names = BTreeSet::from(["app".to_owned(), "libx".to_owned()]);
        let mut solver = Solver::new(&inst, &cands, "amd64", &names);
        assert!(matches!(solver.run(&UpgradeRequest::Vulnerable(vec![t.clone()])).unwrap(), Step::Done));
        assert_eq!((solver.planned.len(), &solver.unfixable[..]), (0, &[t][..]));
        assert_eq!(solver.warnings, ["libx:amd64 1 is held: not upgraded"]);
    }

    #[test]
    fn unknown_names_are_asked_for_before_deciding() {
        let inst = installed("Package: app\nVersion: 1\nArchitecture: amd64");
        let cands = pool("Package: app\nVersion: 2\nArchitecture: amd64\nDepends: libnew | libalt");
        let names: BTreeSet<String> = ["app".to_owned()].into();
        let mut solver = Solver::new(&inst, &cands, "amd64", &names);
        let Step::Need(more) = solver.run(&UpgradeRequest::All).unwrap() else { panic!("should ask for names") };
        assert_eq!(more.into_iter().collect::<Vec<_>>(), ["libalt", "libnew"]);
    }
}
