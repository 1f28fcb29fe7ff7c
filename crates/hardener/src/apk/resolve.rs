//! Choosing the new apk versions: the installed packages (`lib/apk/db/installed`), the
//! candidates of the image's branch in the verified repositories, and every `D:` dependency
//! (names, `so:`/`cmd:`/`pc:` provides, version constraints, `!` conflicts) satisfied by
//! what is installed, upgraded or newly added — never by a removal or a downgrade.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use oci_core::MergedFs;

use super::repositories::{ApkRepositories, image_arch, open_apk_repositories};
use super::{ApkDepOp, ApkDependency, ApkIndex, ApkIndexEntry};
use crate::upgrade::{
    PackageLocation, PlannedPackage, RepoOptions, Transport, UpgradePlan, UpgradeReason, UpgradeRequest, UpgradeTarget,
};
use crate::{ApkVersion, Error, PackageFormat, Result};

/// The apk database path.
pub(crate) const INSTALLED_DB: &str = "lib/apk/db/installed";

/// The index fields of the installed database's records (the rest, `F:`/`R:`/`Z:`…, repeat
/// and are not needed to resolve).
const INDEX_FIELDS: &str = "CPVASITULomtckDpi";

/// The installed packages of a `lib/apk/db/installed` text, as index entries.
pub(crate) fn parse_installed(text: &str, file: &str) -> Result<ApkIndex> {
    let mut filtered = String::with_capacity(text.len() / 4);
    for line in text.lines() {
        let keep = line.is_empty()
            || (line.as_bytes().get(1) == Some(&b':') && INDEX_FIELDS.contains(line.chars().next().unwrap_or(' ')));
        if keep {
            filtered.push_str(line);
            filtered.push('\n');
        }
    }
    Ok(ApkIndex::parse(&filtered, file)?)
}

/// One package as the resolution sees it: installed, or a candidate.
#[derive(Debug, Clone)]
struct Pkg {
    name: String,
    version: ApkVersion,
    checksum: String,
    depends: Vec<ApkDependency>,
    provides: Vec<ApkDependency>,
    priority: u64,
    /// `(repository, entry)` of a candidate; `None` for what is installed.
    candidate: Option<(usize, usize)>,
}

impl Pkg {
    fn new(e: &ApkIndexEntry, candidate: Option<(usize, usize)>) -> Pkg {
        Pkg {
            name: e.name.clone(),
            version: e.version.clone(),
            checksum: e.checksum.to_string(),
            depends: e.depends.clone(),
            provides: e.provides.clone(),
            priority: e.provider_priority,
            candidate,
        }
    }

    fn show(&self) -> String {
        format!("{}-{}", self.name, self.version)
    }
}

/// Whether `version` (of a package whose identity is `checksum`) meets `dep`'s constraint.
fn version_ok(dep: &ApkDependency, version: &ApkVersion, checksum: &str) -> bool {
    let Some((op, want)) = &dep.constraint else { return true };
    if *op == ApkDepOp::Checksum {
        return checksum == want;
    }
    if *op == ApkDepOp::Fuzzy {
        let v = version.as_str();
        return v == want
            || v.strip_prefix(want.as_str()).is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_digit()));
    }
    let Ok(want) = want.parse::<ApkVersion>() else { return false };
    let ord = version.cmp(&want);
    match op {
        ApkDepOp::Less => ord == Ordering::Less,
        ApkDepOp::LessEq => ord != Ordering::Greater,
        ApkDepOp::Equal => ord == Ordering::Equal,
        ApkDepOp::GreaterEq => ord != Ordering::Less,
        ApkDepOp::Greater => ord == Ordering::Greater,
        _ => false,
    }
}

/// Whether `pkg` satisfies `dep` read positively (its name and version, or a provide; a
/// versioned dependency needs a versioned provide, as apk-tools has it).
fn provides(dep: &ApkDependency, pkg: &Pkg) -> bool {
    if pkg.name == dep.name {
        return version_ok(dep, &pkg.version, &pkg.checksum);
    }
    pkg.provides.iter().any(|p| {
        p.name == dep.name
            && match (&dep.constraint, &p.constraint) {
                (None, _) => true,
                (Some(_), Some((ApkDepOp::Equal, v))) => v.parse::<ApkVersion>().is_ok_and(|v| version_ok(dep, &v, "")),
                (Some(_), _) => false,
            }
    })
}

struct Solver<'a> {
    installed: &'a [Pkg],
    candidates: Vec<Pkg>,
    /// Name → the package there after the plan (installed or planned).
    state: BTreeMap<String, Pkg>,
    planned: BTreeMap<String, (Pkg, UpgradeReason)>,
    chain: BTreeMap<String, String>,
    unfixable: Vec<UpgradeTarget>,
}

impl Solver<'_> {
    /// The newest candidate named `name` above `above` that `accept`s (the first repository
    /// wins a tie).
    fn best(&self, name: &str, above: Option<&ApkVersion>, accept: impl Fn(&Pkg) -> bool) -> Option<Pkg> {
        let mut best: Option<&Pkg> = None;
        for c in self.candidates.iter().filter(|c| c.name == name) {
            if above.is_some_and(|v| c.version <= *v) || !accept(c) {
                continue;
            }
            if best.is_none_or(|b| c.version > b.version) {
                best = Some(c);
            }
        }
        best.cloned()
    }

    fn plan(&mut self, pkg: Pkg, reason: UpgradeReason, why: String) {
        self.state.insert(pkg.name.clone(), pkg.clone());
        self.chain.insert(pkg.name.clone(), why);
        self.planned.insert(pkg.name.clone(), (pkg, reason));
    }

    fn chain_of(&self, name: &str) -> String {
        self.chain.get(name).cloned().unwrap_or_else(|| name.to_owned())
    }

    fn satisfied(&self, dep: &ApkDependency) -> bool {
        self.state.values().any(|p| provides(dep, p))
    }

    fn start(&mut self, request: &UpgradeRequest) -> Result<()> {
        let installed = self.installed;
        match request {
            UpgradeRequest::All => {
                for p in installed {
                    if let Some(c) = self.best(&p.name, Some(&p.version), |_| true) {
                        let why = format!("{} → {} (newer)", p.show(), c.version);
                        self.plan(c, UpgradeReason::Newer, why);
                    }
                }
            }
            UpgradeRequest::Packages(names) => {
                for asked in names {
                    let name = asked.split(':').next().unwrap_or(asked);
                    let Some(p) = installed.iter().find(|p| p.name == name) else {
                        return Err(refused(format!("{asked} is not installed in the image")));
                    };
                    if let Some(c) = self.best(&p.name, Some(&p.version), |_| true) {
                        let why = format!("{} → {} (requested)", p.show(), c.version);
                        self.plan(c, UpgradeReason::Requested, why);
                    }
                }
            }
            UpgradeRequest::Vulnerable(targets) => {
                for t in targets {
                    let fixed: ApkVersion = t.fixed_version.parse()?;
                    let Some(p) = installed.iter().find(|p| p.name == t.package) else {
                        self.unfixable.push(t.clone());
                        continue;
                    };
                    if p.version >= fixed {
                        continue;
                    }
                    match self.best(&p.name, Some(&p.version), |c| c.version >= fixed) {
                        Some(c) => {
                            let why = format!("{} → {} (fixes {})", p.show(), c.version, t.vulnerabilities.join(", "));
                            let reason = UpgradeReason::Fixes { vulnerabilities: t.vulnerabilities.clone() };
                            self.plan(c, reason, why);
                        }
                        None => self.unfixable.push(t.clone()),
                    }
                }
            }
        }
        Ok(())
    }

    /// Plans until every dependency and conflict holds; each pass may plan more.
    fn settle(&mut self) -> Result<()> {
        for _ in 0..10_000 {
            let before: Vec<String> = self.planned.values().map(|(p, _)| p.show()).collect();
            self.forward()?;
            self.reverse()?;
            let after: Vec<String> = self.planned.values().map(|(p, _)| p.show()).collect();
            if before == after {
                return Ok(());
            }
        }
        Err(refused("the dependency search did not settle".into()))
    }

    /// Every planned package's dependencies and conflicts.
    fn forward(&mut self) -> Result<()> {
        let planned: Vec<Pkg> = self.planned.values().map(|(p, _)| p.clone()).collect();
        for p in planned {
            for dep in &p.depends {
                let why = format!("{} → needs {dep}", self.chain_of(&p.name));
                if dep.conflict {
                    self.clear_conflict(&p, dep, &why)?;
                } else if !self.satisfied(dep) {
                    self.satisfy(dep, &p.name, &why)?;
                }
            }
        }
        Ok(())
    }

    /// `!dep` of `p`: what stays installed and matches it is upgraded to a version that does
    /// not, else the plan is refused.
    fn clear_conflict(&mut self, p: &Pkg, dep: &ApkDependency, why: &str) -> Result<()> {
        let hit: Vec<Pkg> = self.state.values().filter(|o| o.name != p.name && provides(dep, o)).cloned().collect();
        for o in hit {
            if o.candidate.is_none()
                && let Some(c) = self.best(&o.name, Some(&o.version), |c| !provides(dep, c))
            {
                let reason = UpgradeReason::Dependency { by: p.name.clone() };
                self.plan(c, reason, format!("{why} → conflicts with {}", o.show()));
                continue;
            }
            return Err(refused(format!(
                "{why} → conflicts with {} and no version without the conflict is available (it would need a removal)",
                o.show()
            )));
        }
        Ok(())
    }

    /// Upgrades or adds one package so that `dep` holds.
    fn satisfy(&mut self, dep: &ApkDependency, by: &str, why: &str) -> Result<()> {
        let reason = UpgradeReason::Dependency { by: by.to_owned() };
        if let Some(old) = self.state.get(&dep.name).cloned() {
            if let Some(c) = self.best(&dep.name, Some(&old.version), |c| provides(dep, c)) {
                self.plan(c, reason, why.to_owned());
                return Ok(());
            }
        } else if let Some(c) = self.best(&dep.name, None, |c| provides(dep, c)) {
            self.plan(c, reason, why.to_owned());
            return Ok(());
        }
        // A provider: the highest priority, then by name; one installed is upgraded.
        let mut providers: Vec<&Pkg> =
            self.candidates.iter().filter(|c| c.name != dep.name && provides(dep, c)).collect();
        providers.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.name.cmp(&b.name)).then(b.version.cmp(&a.version)));
        let chosen = providers
            .into_iter()
            .find(|c| self.state.get(&c.name).is_none_or(|old| old.candidate.is_none() && c.version > old.version))
            .cloned();
        if let Some(c) = chosen {
            self.plan(c, reason, why.to_owned());
            return Ok(());
        }
        Err(refused(format!("{why} → {}", self.explain(dep))))
    }

    fn explain(&self, dep: &ApkDependency) -> String {
        let installed = self.state.get(&dep.name).map(|p| format!("{} installed, ", p.version)).unwrap_or_default();
        let mut available: Vec<&ApkVersion> =
            self.candidates.iter().filter(|c| c.name == dep.name).map(|c| &c.version).collect();
        available.sort();
        available.dedup();
        let available = if available.is_empty() {
            "none available".to_owned()
        } else {
            format!("only {} available", available.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", "))
        };
        format!("{}: {installed}{available} (it would need a removal or a downgrade)", dep.name)
    }

    /// What stays installed keeps its dependencies and is not in conflict with a new
    /// version: it is upgraded when a newer version helps, else the plan is refused.
    fn reverse(&mut self) -> Result<()> {
        let staying: Vec<Pkg> = self.state.values().filter(|p| p.candidate.is_none()).cloned().collect();
        for p in staying {
            for dep in &p.depends {
                let culprit = if dep.conflict {
                    self.planned.values().find(|(c, _)| c.name != p.name && provides(dep, c)).map(|(c, _)| c.clone())
                } else if self.satisfied(dep) {
                    None
                } else {
                    // The planned package whose installed version satisfied it; a
                    // dependency broken before is not the plan's doing.
                    let installed = self.installed;
                    self.planned
                        .values()
                        .find(|(c, _)| installed.iter().any(|old| old.name == c.name && provides(dep, old)))
                        .map(|(c, _)| c.clone())
                };
                let Some(culprit) = culprit else { continue };
                let why = format!("{} → {} needs {dep}", self.chain_of(&culprit.name), p.show());
                let ok = |c: &Pkg| !c.depends.iter().any(|d| d == dep);
                if let Some(c) = self.best(&p.name, Some(&p.version), ok) {
                    self.plan(c, UpgradeReason::Dependency { by: culprit.name.clone() }, why);
                    break;
                }
                return Err(refused(format!(
                    "{why} → no newer {} without it is available (it would need a removal)",
                    p.name
                )));
            }
        }
        Ok(())
    }

    /// The planned packages, dependencies first (then by name).
    fn order(&self) -> Vec<String> {
        let mut done = BTreeSet::new();
        let mut out = Vec::new();
        for name in self.planned.keys() {
            self.visit(name, &mut done, &mut out, &mut BTreeSet::new());
        }
        out
    }

    fn visit(&self, name: &str, done: &mut BTreeSet<String>, out: &mut Vec<String>, path: &mut BTreeSet<String>) {
        if done.contains(name) || !path.insert(name.to_owned()) {
            return;
        }
        let (p, _) = &self.planned[name];
        for dep in p.depends.iter().filter(|d| !d.conflict) {
            let deps: Vec<&String> =
                self.planned.iter().filter(|(k, (c, _))| *k != name && provides(dep, c)).map(|(k, _)| k).collect();
            for d in deps {
                self.visit(d, done, out, path);
            }
        }
        path.remove(name);
        if done.insert(name.to_owned()) {
            out.push(name.to_owned());
        }
    }
}

fn refused(reason: String) -> Error {
    Error::Resolution { reason }
}

/// Resolves `request` for an Alpine image (one with `lib/apk/db/installed`): see
/// [`crate::resolve_upgrades`].
pub(crate) fn resolve_apk(fs: &MergedFs, request: &UpgradeRequest, options: &RepoOptions) -> Result<UpgradePlan> {
    let text = String::from_utf8_lossy(&fs.read(INSTALLED_DB)?).into_owned();
    let db = parse_installed(&text, &format!("/{INSTALLED_DB}"))?;
    let arch = image_arch(fs, &db);
    let branch = crate::detect_os(fs, &crate::today_utc())?.and_then(|o| o.alpine_branch());
    let mut transport = Transport::default();
    let ApkRepositories { repos, warnings, .. } =
        open_apk_repositories(fs, options, &mut transport, &arch, branch.as_deref())?;
    let installed: Vec<Pkg> = db.entries.iter().map(|e| Pkg::new(e, None)).collect();
    let plan = solve(&installed, &repos.iter().map(|r| &r.index).collect::<Vec<_>>(), &arch, request)?;
    let mut out = UpgradePlan {
        format: PackageFormat::Apk,
        architectures: vec![arch.clone()],
        sources: repos.iter().map(|r| r.url.clone()).collect(),
        unfixable: plan.unfixable,
        warnings,
        ..UpgradePlan::default()
    };
    for (pkg, reason) in plan.packages {
        let (r, i) = pkg.candidate.expect("planned packages are candidates");
        let (repo, entry) = (&repos[r], &repos[r].index.entries[i]);
        out.packages.push(PlannedPackage {
            name: entry.name.clone(),
            architecture: entry.arch.clone().unwrap_or_else(|| arch.clone()),
            multi_arch_same: false,
            installed: installed.iter().find(|p| p.name == entry.name).map(|p| p.version.to_string()),
            version: entry.version.to_string(),
            source: entry.origin.clone().unwrap_or_else(|| entry.name.clone()),
            source_version: entry.version.to_string(),
            reason,
            file: PackageLocation {
                repository: repo.url.clone(),
                suite: repo.suite.clone(),
                filename: format!("{arch}/{}-{}.apk", entry.name, entry.version),
                size: entry.size,
                sha256: String::new(),
                control_checksum: Some(entry.checksum.to_string()),
                local: None,
            },
        });
    }
    Ok(out)
}

/// What [`solve`] decided.
struct Solved {
    packages: Vec<(Pkg, UpgradeReason)>,
    unfixable: Vec<UpgradeTarget>,
}

/// The resolution itself, on parsed data: `indexes` in repository order, entries of `arch`
/// or `noarch` only.
fn solve(installed: &[Pkg], indexes: &[&ApkIndex], arch: &str, request: &UpgradeRequest) -> Result<Solved> {
    let mut candidates = Vec::new();
    for (r, index) in indexes.iter().enumerate() {
        for (i, e) in index.entries.iter().enumerate() {
            if e.arch.as_deref().is_none_or(|a| a == arch || a == "noarch") {
                candidates.push(Pkg::new(e, Some((r, i))));
            }
        }
    }
    let mut solver = Solver {
        installed,
        candidates,
        state: installed.iter().map(|p| (p.name.clone(), p.clone())).collect(),
        planned: BTreeMap::new(),
        chain: BTreeMap::new(),
        unfixable: Vec::new(),
    };
    solver.start(request)?;
    solver.settle()?;
    let order = solver.order();
    let packages = order.into_iter().filter_map(|n| solver.planned.remove(&n)).collect();
    Ok(Solved { packages, unfixable: solver.unfixable })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(text: &str) -> ApkIndex {
        ApkIndex::parse(text, "APKINDEX").unwrap()
    }

    /// `name version [D:…] [p:…]` records.
    fn records(list: &[(&str, &str, &str, &str)]) -> String {
        let mut out = String::new();
        for (i, (name, version, deps, provides)) in list.iter().enumerate() {
            let q = format!("Q1{}{i:03}A=", "A".repeat(23));
            out.push_str(&format!("C:{q}\nP:{name}\nV:{version}\nA:x86_64\nS:10\nI:10\n"));
            if !deps.is_empty() {
                out.push_str(&format!("D:{deps}\n"));
            }
            if !provides.is_empty() {
                out.push_str(&format!("p:{provides}\n"));
            }
            out.push('\n');
        }
        out
    }

    fn solve_names(installed: &str, repo: &str, request: UpgradeRequest) -> Result<Vec<String>> {
        let db = index(installed);
        let installed: Vec<Pkg> = db.entries.iter().map(|e| Pkg::new(e, None)).collect();
        let repo = index(repo);
        let solved = solve(&installed, &[&repo], "x86_64", &request)?;
        Ok(solved.packages.iter().map(|(p, _)| p.show()).collect())
    }

    fn packages(names: &[&str]) -> UpgradeRequest {
        UpgradeRequest::Packages(names.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn installed_database_records_read_as_index_entries() {
        let text = "C:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=\nP:musl\nV:1.2.5-r0\nA:x86_64\nS:1\nI:2\nT:libc\no:musl\n\
                    D:so:libc.musl-x86_64.so.1\nF:lib\nR:ld-musl-x86_64.so.1\na:0:0:755\nZ:Q1BBBBBBBBBBBBBBBBBBBBBBBBBBB=\nR:libc.so\n\n";
        let db = parse_installed(text, "installed").unwrap();
        assert_eq!(db.entries.len(), 1);
        assert_eq!((db.entries[0].name.as_str(), db.entries[0].version.as_str()), ("musl", "1.2.5-r0"));
        assert_eq!(db.entries[0].depends[0].name, "so:libc.musl-x86_64.so.1");
    }

    #[test]
    fn newest_candidate_and_a_new_dependency_through_a_provide() {
        let installed = records(&[("app", "1.0-r0", "", ""), ("libold", "1.0-r0", "", "so:libold.so.1=1")]);
        let repo = records(&[
            ("app", "1.0-r0", "", ""),
            ("app", "1.1-r0", "so:libnew.so.2", ""),
            ("app", "1.2-r0", "so:libnew.so.2 !libold", ""),
            ("libnew", "2.0-r0", "", "so:libnew.so.2=2"),
        ]);
        // 1.2 conflicts with libold, which has no newer version: refused, the chain named.
        let err = solve_names(&installed, &repo, packages(&["app"])).unwrap_err().to_string();
        assert!(
            err.contains("app-1.0-r0 → 1.2-r0 (requested) → needs !libold → conflicts with libold-1.0-r0"),
            "{err}"
        );
        // A fixed version: the lowest ≥ fixed is not the point, the newest is; 1.1 when the
        // repository has nothing newer.
        let repo11 = records(&[("app", "1.1-r0", "so:libnew.so.2", ""), ("libnew", "2.0-r0", "", "so:libnew.so.2=2")]);
        let target = UpgradeTarget {
            package: "app".into(),
            architecture: None,
            fixed_version: "1.0-r1".into(),
            vulnerabilities: vec!["CVE-1".into()],
        };
        let names = solve_names(&installed, &repo11, UpgradeRequest::Vulnerable(vec![target.clone()])).unwrap();
        assert_eq!(names, ["libnew-2.0-r0", "app-1.1-r0"]);
        // No fix in the repository: unfixable, nothing planned.
        let high = UpgradeTarget { fixed_version: "1.5-r0".into(), ..target };
        let db = index(&installed);
        let inst: Vec<Pkg> = db.entries.iter().map(|e| Pkg::new(e, None)).collect();
        let r = index(&repo11);
        let solved = solve(&inst, &[&r], "x86_64", &UpgradeRequest::Vulnerable(vec![high.clone()])).unwrap();
        assert!(solved.packages.is_empty());
        assert_eq!(solved.unfixable, [high]);
    }

    #[test]
    fn reverse_dependencies_upgrade_or_refuse() {
        // lib 2 drops the so: that tool 1.0 needs: tool is upgraded to 1.1 that needs the new one.
        let installed = records(&[
            ("lib", "1.0-r0", "", "so:libx.so.1=1"),
            ("tool", "1.0-r0", "so:libx.so.1", ""),
            ("other", "1.0-r0", "lib<2", ""),
        ]);
        let repo = records(&[("lib", "2.0-r0", "", "so:libx.so.2=2"), ("tool", "1.1-r0", "so:libx.so.2", "")]);
        let err = solve_names(&installed, &repo, packages(&["lib"])).unwrap_err().to_string();
        assert!(err.contains("lib-1.0-r0 → 2.0-r0 (requested) → other-1.0-r0 needs lib<2 → no newer other"), "{err}");
        let installed2 = records(&[("lib", "1.0-r0", "", "so:libx.so.1=1"), ("tool", "1.0-r0", "so:libx.so.1", "")]);
        let names = solve_names(&installed2, &repo, packages(&["lib"])).unwrap();
        assert_eq!(names, ["lib-2.0-r0", "tool-1.1-r0"]);
        // Never a downgrade: a repository with only older versions plans nothing.
        let older = records(&[("lib", "0.9-r0", "", "")]);
        assert!(solve_names(&installed2, &older, UpgradeRequest::All).unwrap().is_empty());
    }

    #[test]
    fn constraints() {
        let p = |v: &str| Pkg {
            name: "a".into(),
            version: v.parse().unwrap(),
            checksum: "Q1x".into(),
            depends: vec![],
            provides: vec![],
            priority: 0,
            candidate: None,
        };
        let d = |s: &str| ApkDependency::parse(s).unwrap();
        assert!(provides(&d("a>=1.2"), &p("1.10-r0")));
        assert!(!provides(&d("a<1.2"), &p("1.10-r0")));
        assert!(provides(&d("a~1.2"), &p("1.2.3-r0")));
        assert!(!provides(&d("a~1.2"), &p("1.20-r0")));
        assert!(provides(&d("a=1.0-r1"), &p("1.0-r01")));
        assert!(!provides(&d("b"), &p("1")));
    }
}
