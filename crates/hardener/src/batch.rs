//! Fleets: many images kept current in one run ([`run_batch`]), from a TOML file of jobs
//! ([`BatchFile`]), split over machines by a stable hash of each destination ([`Shard`]),
//! reported as one typed, serialisable [`BatchReport`].
//!
//! Each job is independent: one failure does not stop the others, and a job whose
//! destination is up to date ([`crate::fleet`]) builds and pushes nothing. Jobs share one
//! [`Session`]: one registry client, one async runtime and one blob cache.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use oci_core::{CopyOptions, Digest, Platform, PullScope, Reference, Session};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::{
    Error, Freshness, Gate, HardenOptions, PatchJobOptions, Result, RuleSet, RuleSeverity, RuleStatus, ScriptPolicy,
    Severity, UpgradeSelection, Wanted, destination_freshness, harden_source, patch_freshness, patch_job,
};

/// The rule set of a job that names none.
pub const DEFAULT_RULES: &str = "builtin:baseline";

/// One job of a batch: harden (and with `patch`, also patch) `src` into `dst`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BatchJob {
    /// The image to harden.
    pub src: Reference,
    /// Where the result goes (a registry image or `oci:DIR:TAG`).
    pub dst: Reference,
    /// `dst` exactly as the file spells it: what [`Shard`] hashes.
    pub dst_text: String,
    /// The rule set (`builtin:NAME` or a file, relative to the batch file's directory);
    /// `None` for a patch job without rules (`rules = "none"`).
    pub rules: Option<String>,
    /// Also upgrade vulnerable packages (as `harden --patch`).
    pub patch: bool,
    /// What a patch job upgrades: `vulnerable` (the default) or `all`.
    pub upgrade: UpgradeKind,
    /// The advisory database of a `vulnerable` patch job (default: [`crate::default_db_dir`]).
    pub db: Option<PathBuf>,
    /// Extra package repositories of a patch job (as `patch --repo`).
    pub repos: Vec<String>,
    /// Only these platforms of an index (the others are kept unchanged); empty: all.
    pub platforms: Vec<Platform>,
    /// The gate: a failing rule (and for a patch job, a vulnerability) at or above this
    /// severity remaining after the job trips it.
    pub fail_on: Option<RuleSeverity>,
    /// Rebuild even when the destination is up to date.
    pub force: bool,
}

/// What a patch job upgrades.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum UpgradeKind {
    /// What a scan finds fixable.
    #[default]
    Vulnerable,
    /// Every package with a newer version in the image's release.
    All,
}

/// One `[[image]]` table (after `[defaults]` are merged in), as written.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawJob {
    src: String,
    dst: String,
    rules: Option<String>,
    #[serde(default)]
    patch: bool,
    #[serde(default)]
    upgrade: UpgradeKind,
    db: Option<PathBuf>,
    #[serde(default)]
    repos: Vec<String>,
    #[serde(default)]
    platforms: Vec<String>,
    fail_on: Option<String>,
    #[serde(default)]
    force: bool,
}

/// A batch file: `[defaults]` (any job key; a job's own value wins) and `[[image]]` jobs.
///
/// ```toml
/// [defaults]
/// rules = "builtin:baseline"
/// [[image]]
/// src = "docker.io/library/debian:12"
/// dst = "registry.example.com/hardened/debian:12"
/// # rules, patch = true, upgrade = "all", db, repos = […], platforms = ["linux/amd64"],
/// # fail-on = "high", force = true
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BatchFile {
    /// The jobs, in file order.
    pub jobs: Vec<BatchJob>,
}

impl BatchFile {
    /// Parses a batch file; `source_name` names it in errors and `base_dir` is where rule
    /// files and databases named by relative paths are found.
    ///
    /// # Errors
    /// [`Error::InvalidBatch`]: TOML syntax, an unknown key, a bad reference, platform or
    /// severity, or two jobs with one destination (they would race).
    pub fn parse(text: &str, source_name: &str, base_dir: &Path) -> Result<BatchFile> {
        let invalid = |job: Option<usize>, reason: String| Error::InvalidBatch {
            source_name: source_name.to_owned(),
            job,
            reason,
        };
        let mut top: toml::Table = toml::from_str(text).map_err(|e| invalid(None, e.to_string()))?;
        let defaults = match top.remove("defaults") {
            None => toml::Table::new(),
            Some(toml::Value::Table(t)) => t,
            Some(_) => return Err(invalid(None, "[defaults] must be a table".into())),
        };
        let images = match top.remove("image") {
            None => Vec::new(),
            Some(toml::Value::Array(a)) => a,
            Some(_) => return Err(invalid(None, "image must be an array of tables ([[image]])".into())),
        };
        if let Some(key) = top.keys().next() {
            return Err(invalid(None, format!("unknown key {key:?} (expected [defaults] and [[image]])")));
        }
        let mut jobs = Vec::with_capacity(images.len());
        let mut seen = BTreeSet::new();
        for (i, image) in images.into_iter().enumerate() {
            let number = i + 1;
            let toml::Value::Table(own) = image else {
                return Err(invalid(Some(number), "each [[image]] must be a table".into()));
            };
            let mut merged = defaults.clone();
            merged.extend(own);
            let raw: RawJob =
                toml::Value::Table(merged).try_into().map_err(|e| invalid(Some(number), e.to_string()))?;
            let job = raw.into_job(base_dir).map_err(|reason| invalid(Some(number), reason))?;
            if !seen.insert(job.dst.to_string()) {
                return Err(invalid(
                    Some(number),
                    format!("destination {} is already written by another job", job.dst),
                ));
            }
            jobs.push(job);
        }
        Ok(BatchFile { jobs })
    }

    /// Reads and parses a batch file (relative paths in it are relative to its directory).
    ///
    /// # Errors
    /// [`Error::Io`] reading it, and those of [`BatchFile::parse`].
    pub fn from_path(path: &Path) -> Result<BatchFile> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading batch file {}", path.display()), e))?;
        let dir = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        BatchFile::parse(&text, &path.display().to_string(), &dir)
    }

    /// The jobs of `shard`, in file order.
    pub fn shard(&self, shard: Shard) -> Vec<BatchJob> {
        self.jobs.iter().filter(|j| shard.contains(&j.dst_text)).cloned().collect()
    }
}

impl RawJob {
    fn into_job(self, base_dir: &Path) -> std::result::Result<BatchJob, String> {
        let src: Reference = self.src.parse().map_err(|e| format!("src {:?}: {e}", self.src))?;
        let dst: Reference = self.dst.parse().map_err(|e| format!("dst {:?}: {e}", self.dst))?;
        if matches!(dst, Reference::Layout { tag: None, .. }) {
            return Err(format!("dst {:?}: name a tag (oci:DIR:TAG), so jobs can share a layout", self.dst));
        }
        let rules = match self.rules.as_deref() {
            None => Some(DEFAULT_RULES.to_owned()),
            Some("none") if self.patch => None,
            Some("none") => return Err("rules = \"none\" needs patch = true (there is nothing else to do)".into()),
            Some(spec) if spec.starts_with("builtin:") => Some(spec.to_owned()),
            Some(path) => Some(base_dir.join(path).display().to_string()),
        };
        let platforms = self
            .platforms
            .iter()
            .map(|p| p.parse::<Platform>().map_err(|e| format!("platform {p:?}: {e}")))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let fail_on = self.fail_on.as_deref().map(str::parse::<RuleSeverity>).transpose()?;
        if !self.patch && (self.db.is_some() || !self.repos.is_empty()) {
            return Err("db and repos are for patch = true".into());
        }
        Ok(BatchJob {
            src,
            dst,
            dst_text: self.dst,
            rules,
            patch: self.patch,
            upgrade: self.upgrade,
            db: self.db.map(|d| base_dir.join(d)),
            repos: self.repos,
            platforms,
            fail_on,
            force: self.force,
        })
    }
}

/// Shard `index` of `count` (`I/N`, I from 0 to N-1): the jobs whose destination falls
/// there by [`Shard::of`]. N machines each running one shard cover a file exactly once,
/// without talking to each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, from 0.
    pub index: u64,
    /// How many shards.
    pub count: u64,
}

impl Shard {
    /// The whole file.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// The shard of `count` a destination belongs to: the first 8 bytes of the SHA-256 of
    /// the destination as written in the file, read as a big-endian u64, modulo `count`.
    /// Stable across runs, machines, versions and job order.
    pub fn of(dst: &str, count: u64) -> u64 {
        let hash = sha2::Sha256::digest(dst.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&hash[..8]);
        u64::from_be_bytes(first) % count.max(1)
    }

    /// Whether the destination `dst` (as written) is in this shard.
    pub fn contains(&self, dst: &str) -> bool {
        Shard::of(dst, self.count) == self.index
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Shard, String> {
        let bad = || format!("shard {s:?}: expected I/N with 0 <= I < N (e.g. 0/4)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u64, u64) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// How [`run_batch`] runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BatchOptions {
    /// Jobs run at once (at least 1).
    pub parallel: usize,
    /// Rebuild every job, up to date or not.
    pub force: bool,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions { parallel: 4, force: false }
    }
}

/// What happened to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum JobResult {
    /// Built and written.
    Updated,
    /// The destination was up to date: nothing built or written.
    UpToDate,
    /// It failed (see the error).
    Failed,
}

impl JobResult {
    /// `updated`, `up-to-date`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobResult::Updated => "updated",
            JobResult::UpToDate => "up-to-date",
            JobResult::Failed => "failed",
        }
    }
}

/// One job's line of a [`BatchReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct JobReport {
    /// The source, as given.
    pub src: String,
    /// The destination, as given.
    pub dst: String,
    /// What happened.
    pub result: JobResult,
    /// The destination's digest now (`None` when the job failed).
    pub digest: Option<Digest>,
    /// The destination's digest before (`None` when there was nothing, or it is unknown).
    pub previous: Option<Digest>,
    /// Why an updated job was not up to date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why it failed, with its causes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Findings before: of failing rules, plus vulnerabilities for a patch job (`None` when
    /// nothing was evaluated: up to date, or failed).
    pub findings_before: Option<usize>,
    /// Findings after, counted the same way.
    pub findings_after: Option<usize>,
    /// Whether the job's `fail-on` gate tripped.
    pub gate_tripped: bool,
    /// Wall time of the job, in milliseconds.
    pub duration_ms: u64,
}

/// Totals of a [`BatchReport`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BatchSummary {
    /// Jobs run (this shard's).
    pub jobs: usize,
    /// Jobs built and written.
    pub updated: usize,
    /// Jobs that were up to date.
    pub up_to_date: usize,
    /// Jobs that failed.
    pub failed: usize,
    /// Jobs whose gate tripped.
    pub gate_tripped: usize,
    /// The shard run (`I/N`).
    pub shard: String,
    /// Wall time of the whole batch, in milliseconds.
    pub duration_ms: u64,
}

/// The result of [`run_batch`]: `{"jobs": [...], "summary": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BatchReport {
    /// One per job, in file order.
    pub jobs: Vec<JobReport>,
    /// The totals.
    pub summary: BatchSummary,
}

impl BatchReport {
    /// 0 all fine, 1 a gate tripped, 2 a job failed.
    pub fn exit_code(&self) -> u8 {
        if self.summary.failed > 0 {
            2
        } else if self.summary.gate_tripped > 0 {
            1
        } else {
            0
        }
    }
}

/// What [`run_batch`] reports as it goes.
#[derive(Debug)]
#[non_exhaustive]
pub enum BatchEvent<'a> {
    /// Job `index` (of the jobs given) started.
    Started {
        /// Its position.
        index: usize,
        /// The job.
        job: &'a BatchJob,
    },
    /// Job `index` finished.
    Finished {
        /// Its position.
        index: usize,
        /// Its report.
        report: &'a JobReport,
    },
}

/// Runs `jobs`, `options.parallel` at once, through `session` (one registry client and
/// blob cache for all), calling `events` as each starts and finishes (from the worker
/// threads). Each job is independent: a failure is recorded in its report and the others
/// go on. `shard` is only recorded in the summary (choose the jobs with
/// [`BatchFile::shard`]).
pub fn run_batch(
    session: &Session,
    jobs: &[BatchJob],
    shard: Shard,
    options: &BatchOptions,
    events: &(dyn Fn(BatchEvent<'_>) + Sync),
) -> BatchReport {
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let done: Mutex<BTreeMap<usize, JobReport>> = Mutex::new(BTreeMap::new());
    let workers = options.parallel.clamp(1, jobs.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(index) else { break };
                    events(BatchEvent::Started { index, job });
                    let report = run_job(session, job, options.force);
                    events(BatchEvent::Finished { index, report: &report });
                    done.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(index, report);
                }
            });
        }
    });
    let jobs: Vec<JobReport> =
        done.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner).into_values().collect();
    let count = |r: JobResult| jobs.iter().filter(|j| j.result == r).count();
    let summary = BatchSummary {
        jobs: jobs.len(),
        updated: count(JobResult::Updated),
        up_to_date: count(JobResult::UpToDate),
        failed: count(JobResult::Failed),
        gate_tripped: jobs.iter().filter(|j| j.gate_tripped).count(),
        shard: shard.to_string(),
        duration_ms: millis(started),
    };
    BatchReport { jobs, summary }
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// What a job that did not fail did.
struct Done {
    result: JobResult,
    digest: Digest,
    previous: Option<Digest>,
    reason: Option<String>,
    before: Option<usize>,
    after: Option<usize>,
    gate_tripped: bool,
}

/// Runs one job to its report (a failure becomes [`JobResult::Failed`] with its error).
pub fn run_job(session: &Session, job: &BatchJob, force: bool) -> JobReport {
    let started = Instant::now();
    let outcome = if job.patch {
        patch_one(session, job, force || job.force)
    } else {
        harden_one(session, job, force || job.force)
    };
    let (src, dst) = (job.src.to_string(), job.dst_text.clone());
    let duration_ms = millis(started);
    match outcome {
        Ok(d) => JobReport {
            src,
            dst,
            result: d.result,
            digest: Some(d.digest),
            previous: d.previous,
            reason: d.reason,
            error: None,
            findings_before: d.before,
            findings_after: d.after,
            gate_tripped: d.gate_tripped,
            duration_ms,
        },
        Err(e) => JobReport {
            src,
            dst,
            result: JobResult::Failed,
            digest: None,
            previous: None,
            reason: None,
            error: Some(chain(&e)),
            findings_before: None,
            findings_after: None,
            gate_tripped: false,
            duration_ms,
        },
    }
}

/// An error and its causes on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

fn failing(e: &crate::Evaluation) -> usize {
    e.results.iter().filter(|r| r.outcome.status() == RuleStatus::Fail).map(|r| r.findings.len().max(1)).sum()
}

fn up_to_date(digest: Digest) -> Done {
    Done {
        result: JobResult::UpToDate,
        previous: Some(digest.clone()),
        digest,
        reason: None,
        before: None,
        after: None,
        gate_tripped: false,
    }
}

fn stale(freshness: Freshness) -> (Option<Digest>, Option<String>) {
    match freshness {
        Freshness::Stale { previous, reason } => (previous, Some(reason.to_string())),
        Freshness::UpToDate { digest } => (Some(digest), Some("forced".into())),
    }
}

fn base_name(src: &Reference) -> Option<String> {
    matches!(src, Reference::Registry(_)).then(|| src.to_string())
}

fn harden_one(session: &Session, job: &BatchJob, force: bool) -> Result<Done> {
    let rules = RuleSet::load(job.rules.as_deref().unwrap_or(DEFAULT_RULES))?;
    let (previous, reason) = if force {
        (None, Some("forced".to_owned()))
    } else {
        // Manifests and configs (images are read with their config); on an up-to-date run
        // both are in the cache already, so this costs the one manifest GET.
        let probe = session.open(&job.src, &job.platforms, PullScope::Metadata)?;
        let wanted = Wanted::hardened(rules.digest(), job.platforms.clone());
        match destination_freshness(session, &probe, &job.dst, &wanted)? {
            Freshness::UpToDate { digest } => return Ok(up_to_date(digest)),
            other => stale(other),
        }
    };
    // Every platform is pulled: the new index keeps those not chosen, and its destination
    // needs their blobs. The layers download while they are read.
    let options =
        HardenOptions { platforms: job.platforms.clone(), base_name: base_name(&job.src), evaluate_after: true };
    let cache = session.cache()?;
    let outcome = session.open_streaming(&job.src, |source| harden_source(source, &rules, cache, &options))?;
    let digest = session.write(&outcome.result, &job.dst, &CopyOptions::default())?.digest;
    let before = outcome.images.iter().map(|i| failing(&i.hardened.before)).sum();
    let after = outcome.images.iter().filter_map(|i| i.after.as_ref()).map(failing).sum();
    let gate_tripped =
        job.fail_on.is_some_and(|t| outcome.images.iter().any(|i| i.after.as_ref().is_some_and(|a| a.fails(t))));
    Ok(Done {
        result: JobResult::Updated,
        digest,
        previous,
        reason,
        before: Some(before),
        after: Some(after),
        gate_tripped,
    })
}

fn patch_one(session: &Session, job: &BatchJob, force: bool) -> Result<Done> {
    let rules = job.rules.as_deref().map(RuleSet::load).transpose()?;
    let selection = match job.upgrade {
        UpgradeKind::All => UpgradeSelection::All,
        UpgradeKind::Vulnerable => {
            UpgradeSelection::Vulnerable { db_dir: job.db.clone().unwrap_or_else(crate::default_db_dir) }
        }
    };
    let mut options = PatchJobOptions::new(job.src.to_string(), selection);
    options.repo.repos = job.repos.clone();
    options.repo.cache = session.options().cache_dir.clone();
    options.patch.platforms = job.platforms.clone();
    options.patch.scripts = ScriptPolicy::Refuse;
    options.patch.base_name = base_name(&job.src);
    let layout = session.cache()?;
    // Every platform is pulled: the new index keeps those not chosen, and its destination
    // needs their blobs. The layers download while they are read.
    let done = session.open_streaming(&job.src, |source| -> Result<std::result::Result<_, Done>> {
        let (previous, reason) = if force {
            (None, Some("forced".to_owned()))
        } else {
            match patch_freshness(session, source, &job.dst, rules.as_ref(), layout, &options)? {
                Freshness::UpToDate { digest } => return Ok(Err(up_to_date(digest))),
                other => stale(other),
            }
        };
        Ok(Ok((previous, reason, patch_job(source, rules.as_ref(), layout, &options)?)))
    })?;
    let (previous, reason, patched) = match done {
        Ok(parts) => parts,
        Err(up_to_date) => return Ok(up_to_date),
    };
    let digest = session.write(&patched.outcome.result, &job.dst, &CopyOptions::default())?.digest;
    let rules_before: usize =
        patched.outcome.images.iter().filter_map(|i| i.patched.before.as_ref()).map(failing).sum();
    let vulns_before: usize =
        patched.images.iter().filter_map(|i| i.planned.before.as_ref()).map(|r| r.findings.len()).sum();
    let vulns_after: usize = patched.images.iter().filter_map(|i| i.after.as_ref()).map(|r| r.findings.len()).sum();
    let gate_tripped = job.fail_on.is_some_and(|t| {
        let severity = match t {
            RuleSeverity::Low => Severity::Low,
            RuleSeverity::Medium => Severity::Medium,
            RuleSeverity::High => Severity::High,
            RuleSeverity::Critical => Severity::Critical,
        };
        patched.images.iter().any(|i| i.after.as_ref().is_some_and(|a| a.gate(severity, false) != Gate::Pass))
    });
    Ok(Done {
        result: JobResult::Updated,
        digest,
        previous,
        reason,
        before: Some(rules_before + vulns_before),
        after: Some(vulns_after),
        gate_tripped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(n: usize) -> String {
        let mut text = String::from("[defaults]\nrules = \"builtin:strict\"\n");
        for i in 0..n {
            text.push_str(&format!("[[image]]\nsrc = \"r.example/src/img{i}:1\"\ndst = \"r.example/dst/img{i}:1\"\n"));
        }
        text
    }

    #[test]
    fn defaults_merge_and_a_job_wins() {
        let text = "[defaults]\nrules = \"builtin:strict\"\nplatforms = [\"linux/amd64\"]\n\
                    [[image]]\nsrc = \"debian:12\"\ndst = \"r.example/h/debian:12\"\n\
                    [[image]]\nsrc = \"alpine:3.20\"\ndst = \"oci:out:alpine\"\nrules = \"my.toml\"\npatch = true\nfail-on = \"high\"\n";
        let f = BatchFile::parse(text, "b.toml", Path::new("/etc/fleet")).unwrap();
        assert_eq!(f.jobs.len(), 2);
        assert_eq!(f.jobs[0].rules.as_deref(), Some("builtin:strict"));
        assert_eq!(f.jobs[0].src.to_string(), "docker.io/library/debian:12");
        assert_eq!(f.jobs[0].platforms, vec!["linux/amd64".parse::<Platform>().unwrap()]);
        assert_eq!(f.jobs[1].rules.as_deref(), Some("/etc/fleet/my.toml"));
        assert!(f.jobs[1].patch && !f.jobs[0].patch);
        assert_eq!(f.jobs[1].fail_on, Some(RuleSeverity::High));
        assert_eq!(f.jobs[1].dst_text, "oci:out:alpine");
    }

    #[test]
    fn bad_files_name_the_job() {
        let cases = [
            ("[[image]]\nsrc = \"a:1\"\n", "job 1", "dst"),
            ("[[image]]\nsrc = \"a:1\"\ndst = \"b:1\"\ncolour = 1\n", "job 1", "colour"),
            ("[[image]]\nsrc = \"a:1\"\ndst = \"b:1\"\n[[image]]\nsrc = \"c:1\"\ndst = \"b:1\"\n", "job 2", "already"),
            ("[[image]]\nsrc = \"a:1\"\ndst = \"b:1\"\nfail-on = \"severe\"\n", "job 1", "severe"),
            ("[[image]]\nsrc = \"a:1\"\ndst = \"b:1\"\nrules = \"none\"\n", "job 1", "patch = true"),
            ("[[image]]\nsrc = \"a:1\"\ndst = \"oci:out\"\n", "job 1", "tag"),
            ("[job]\nsrc = 1\n", "b.toml", "unknown key"),
        ];
        for (text, who, what) in cases {
            let e = BatchFile::parse(text, "b.toml", Path::new(".")).unwrap_err().to_string();
            assert!(e.contains(who) && e.contains(what), "{text:?}: {e}");
        }
    }

    /// N shards together hold every job exactly once, for several N; the same file and N
    /// give the same assignment (a hash of the destination, not of the job's position).
    #[test]
    fn shards_cover_each_job_once() {
        let f = BatchFile::parse(&file(200), "b.toml", Path::new(".")).unwrap();
        for n in [1u64, 2, 3, 4, 7, 16, 64] {
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            let mut sizes = Vec::new();
            for i in 0..n {
                let jobs = f.shard(Shard { index: i, count: n });
                sizes.push(jobs.len());
                for j in jobs {
                    *seen.entry(j.dst_text).or_default() += 1;
                }
            }
            assert_eq!(seen.len(), 200, "N={n}: every job is in some shard");
            assert!(seen.values().all(|&c| c == 1), "N={n}: each job in one shard only");
            if n <= 4 {
                assert!(sizes.iter().all(|&s| s > 0), "N={n}: 200 jobs spread over every shard: {sizes:?}");
            }
        }
        // Deterministic and independent of order: reversed jobs, the same shards.
        let mut reversed = f.clone();
        reversed.jobs.reverse();
        for i in 0..4 {
            let s = Shard { index: i, count: 4 };
            let mut a: Vec<String> = f.shard(s).into_iter().map(|j| j.dst_text).collect();
            let mut b: Vec<String> = reversed.shard(s).into_iter().map(|j| j.dst_text).collect();
            a.sort();
            b.sort();
            assert_eq!(a, b);
        }
        // Pinned: the hash is part of the interface (machines running different versions
        // must agree).
        // sha256("r.example/dst/img0:1") starts 57e9c713dbaa0f6a.
        assert_eq!(Shard::of("r.example/dst/img0:1", u64::MAX), 0x57e9_c713_dbaa_0f6a);
        assert_eq!(Shard::of("r.example/dst/img0:1", 4), 0x57e9_c713_dbaa_0f6a % 4);
    }

    #[test]
    fn shard_syntax() {
        assert_eq!("2/5".parse::<Shard>().unwrap(), Shard { index: 2, count: 5 });
        assert_eq!(Shard { index: 2, count: 5 }.to_string(), "2/5");
        for bad in ["5/5", "1/0", "x/2", "3", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn report_shape_and_exit_codes() {
        let job = |result, gate_tripped| JobReport {
            src: "a".into(),
            dst: "b".into(),
            result,
            digest: None,
            previous: None,
            reason: None,
            error: None,
            findings_before: None,
            findings_after: None,
            gate_tripped,
            duration_ms: 1,
        };
        let mut report = BatchReport {
            jobs: vec![job(JobResult::UpToDate, false)],
            summary: BatchSummary { jobs: 1, up_to_date: 1, shard: "0/1".into(), ..BatchSummary::default() },
        };
        assert_eq!(report.exit_code(), 0);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["jobs"][0]["result"], "up-to-date");
        assert!(json["jobs"][0].get("error").is_none());
        assert_eq!(json["summary"]["upToDate"], 1);
        report.summary.gate_tripped = 1;
        assert_eq!(report.exit_code(), 1);
        report.summary.failed = 1;
        assert_eq!(report.exit_code(), 2);
    }
}
