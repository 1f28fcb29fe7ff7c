//! Evaluating a rule set: findings per rule and the fixes planned, composed over one
//! working view so several rules editing one file yield one write.

use std::collections::BTreeMap;

use oci_core::{ConfigChange, EntryKind, EntryMeta, ImageConfig, MergedFs};
use serde::Serialize;

use super::{Action, Rule, RuleKind, RuleSet, RuleSeverity};

/// What a rule set is evaluated against.
#[derive(Debug, Clone, Copy)]
pub struct CheckInput<'a> {
    /// The image's merged filesystem (build it with [`RuleSet::capture`] to avoid re-reads).
    pub fs: &'a MergedFs,
    /// The image's config.
    pub config: &'a ImageConfig,
    /// Whether the image is a Docker (schema 2) image: `HEALTHCHECK` exists only there.
    pub media_type_is_docker: bool,
}

impl<'a> CheckInput<'a> {
    /// The input for `image`, whose merged filesystem is `fs`.
    pub fn new(fs: &'a MergedFs, image: &'a oci_core::Image) -> CheckInput<'a> {
        CheckInput { fs, config: image.config(), media_type_is_docker: image.raw_manifest().media_type().is_docker() }
    }
}

/// The result of one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum RuleOutcome {
    /// Nothing found.
    Pass,
    /// Findings (fixed by the planned fixes when the action is `fix`).
    Fail,
    /// Not applicable to this image.
    Skip {
        /// Why.
        reason: String,
    },
    /// The rule refused to act (uid collision, a shell entrypoint…); no fixes planned.
    Error {
        /// What is wrong and what to do.
        message: String,
    },
}

/// One thing a rule found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleFinding {
    /// The absolute path concerned, if any.
    pub path: Option<String>,
    /// What was found (and what the fix does).
    pub message: String,
}

/// A planned change. Paths are absolute and normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fix {
    /// Re-add the entry with this metadata; the content is copied from the image.
    SetMeta {
        /// The path.
        path: String,
        /// The new metadata (a former hardlink comes as a regular file).
        meta: EntryMeta,
    },
    /// A new or replaced regular file.
    WriteFile {
        /// The path.
        path: String,
        /// Its metadata (`size` matches `content`).
        meta: EntryMeta,
        /// Its bytes.
        content: Vec<u8>,
    },
    /// A new directory.
    Mkdir {
        /// The path.
        path: String,
        /// Its metadata.
        meta: EntryMeta,
    },
    /// A new or replaced symlink.
    Symlink {
        /// The path.
        path: String,
        /// The target, as written.
        target: String,
        /// Its metadata.
        meta: EntryMeta,
    },
    /// Remove the path and everything below it.
    Whiteout {
        /// The path.
        path: String,
    },
    /// A config change.
    Config(ConfigChange),
    /// A manifest annotation.
    Annotation {
        /// Key.
        key: String,
        /// Value.
        value: String,
    },
}

impl Fix {
    /// The filesystem path a fix touches (`None` for config and annotations).
    pub fn path(&self) -> Option<&str> {
        match self {
            Fix::SetMeta { path, .. }
            | Fix::WriteFile { path, .. }
            | Fix::Mkdir { path, .. }
            | Fix::Symlink { path, .. }
            | Fix::Whiteout { path } => Some(path),
            Fix::Config(_) | Fix::Annotation { .. } => None,
        }
    }
}

/// The result of one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleResult {
    /// The rule's id.
    pub rule_id: String,
    /// The rule's kind (`strip-setuid`, …).
    pub kind: &'static str,
    /// The rule's severity.
    pub severity: RuleSeverity,
    /// The rule's action.
    pub action: Action,
    /// Pass, fail, skip or error.
    pub outcome: RuleOutcome,
    /// What was found.
    pub findings: Vec<RuleFinding>,
    /// What a `fix` rule plans (empty for `check` rules), sorted by path. A file edited by
    /// an earlier rule too shows both rules' edits.
    pub fixes: Vec<Fix>,
}

/// The results of every rule, in rule order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// One per rule.
    pub results: Vec<RuleResult>,
}

impl Evaluation {
    /// Every planned fix of every `fix` rule, composed: one fix per path (the last state
    /// planned; a whiteout drops earlier plans below it), filesystem fixes sorted by path,
    /// then config edits and annotations in rule order.
    pub fn fixes(&self) -> Vec<Fix> {
        let mut by_path: BTreeMap<String, Fix> = BTreeMap::new();
        let mut other = Vec::new();
        for fix in self.results.iter().flat_map(|r| &r.fixes) {
            match fix.path() {
                Some(p) => {
                    if matches!(fix, Fix::Whiteout { .. }) {
                        let below = format!("{p}/");
                        by_path.retain(|k, _| !k.starts_with(&below));
                    }
                    let merged = merge(by_path.get(p), fix);
                    by_path.insert(p.to_owned(), merged);
                }
                None => {
                    if !other.contains(fix) {
                        other.push(fix.clone());
                    }
                }
            }
        }
        by_path.into_values().chain(other).collect()
    }

    /// Whether any rule failed or errored.
    pub fn has_findings(&self) -> bool {
        self.results.iter().any(|r| matches!(r.outcome, RuleOutcome::Fail | RuleOutcome::Error { .. }))
    }
}

/// Evaluates every rule in order. `fix` rules see the changes planned by the `fix` rules
/// before them (an account added by `user` is then locked by `lock-accounts`).
///
/// # Security
/// Reads only through [`MergedFs`]: paths never leave the image root and symlinks are
/// resolved inside it.
pub fn evaluate(rules: &RuleSet, input: &CheckInput) -> Evaluation {
    let mut view = View { fs: input.fs, overlay: BTreeMap::new() };
    // Config rules see the config with the edits earlier rules planned, as file rules see
    // the planned files: an `env` unset after an `env` set composes.
    let mut config = input.config.clone();
    let mut results = Vec::new();
    for rule in &rules.rules {
        let working = CheckInput { fs: input.fs, config: &config, media_type_is_docker: input.media_type_is_docker };
        let mut cx = Cx { view: &view, input: &working, rule, findings: Vec::new(), fixes: Vec::new(), skip: None };
        let error = run(&mut cx).err();
        let Cx { findings, mut fixes, skip, .. } = cx;
        let outcome = match (error, skip) {
            (Some(message), _) => RuleOutcome::Error { message },
            (None, Some(reason)) => RuleOutcome::Skip { reason },
            (None, None) if findings.is_empty() => RuleOutcome::Pass,
            (None, None) => RuleOutcome::Fail,
        };
        if rule.action == Action::Check || matches!(outcome, RuleOutcome::Error { .. } | RuleOutcome::Skip { .. }) {
            fixes.clear();
        }
        // Filesystem fixes by path, then config edits and annotations in the rule's order.
        fixes.sort_by(|a, b| (a.path().is_none(), a.path()).cmp(&(b.path().is_none(), b.path())));
        for fix in &fixes {
            view.plan(fix);
        }
        let edits: Vec<ConfigChange> =
            fixes.iter().filter_map(|f| if let Fix::Config(e) = f { Some(e.clone()) } else { None }).collect();
        config.apply(&edits);
        results.push(RuleResult {
            rule_id: rule.id.clone(),
            kind: rule.kind.name(),
            severity: rule.severity,
            action: rule.action,
            outcome,
            findings,
            fixes,
        });
    }
    Evaluation { results }
}

fn run(cx: &mut Cx) -> Result<(), String> {
    match &cx.rule.kind {
        RuleKind::StripSetuid => super::files::strip_setuid(cx),
        RuleKind::RemoveContents { paths } => super::files::remove_contents(cx, paths),
        RuleKind::User { .. } => super::accounts::user(cx),
        RuleKind::RemovePaths { paths } => super::files::remove_paths(cx, paths),
        RuleKind::LockAccounts => super::accounts::lock_accounts(cx),
        RuleKind::NologinShells { shell } => super::accounts::nologin_shells(cx, shell),
        RuleKind::WorldWritable => super::files::world_writable(cx),
        RuleKind::FileMode { .. } => super::files::file_mode(cx),
        RuleKind::RemoveShells { force } => super::files::remove_shells(cx, *force),
        RuleKind::RemovePackageManager { force } => super::files::remove_package_manager(cx, *force),
        RuleKind::Secrets => super::files::secrets(cx),
        RuleKind::Labels { .. }
        | RuleKind::Annotations { .. }
        | RuleKind::Env { .. }
        | RuleKind::Healthcheck { .. }
        | RuleKind::Volumes { .. } => super::config_rules::run(cx),
    }
}

/// The state of one rule's evaluation.
pub(super) struct Cx<'a> {
    pub view: &'a View<'a>,
    pub input: &'a CheckInput<'a>,
    pub rule: &'a Rule,
    pub findings: Vec<RuleFinding>,
    pub fixes: Vec<Fix>,
    pub skip: Option<String>,
}

impl Cx<'_> {
    pub fn find(&mut self, path: Option<&str>, message: impl Into<String>) {
        self.findings.push(RuleFinding { path: path.map(str::to_owned), message: message.into() });
    }

    /// The rule's `allow` list as a glob set (validated at parse time).
    pub fn allow_globs(&self) -> globset::GlobSet {
        let mut b = globset::GlobSetBuilder::new();
        for a in self.rule.allow.iter().filter(|a| a.starts_with('/')) {
            if let Ok(g) = glob(a) {
                b.add(g);
            }
        }
        b.build().unwrap_or_else(|_| globset::GlobSet::empty())
    }
}

/// `next` planned after `earlier` on the same path: a new mode or owner for an entry an
/// earlier rule creates or rewrites keeps that rule's content, type and target.
fn merge(earlier: Option<&Fix>, next: &Fix) -> Fix {
    let Fix::SetMeta { path, meta } = next else { return next.clone() };
    match earlier {
        Some(Fix::WriteFile { content, .. }) => Fix::WriteFile {
            path: path.clone(),
            meta: EntryMeta { kind: EntryKind::File, link: None, size: content.len() as u64, ..meta.clone() },
            content: content.clone(),
        },
        Some(Fix::Mkdir { .. }) => Fix::Mkdir { path: path.clone(), meta: meta.clone() },
        Some(Fix::Symlink { target, .. }) => {
            Fix::Symlink { path: path.clone(), target: target.clone(), meta: meta.clone() }
        }
        _ => next.clone(),
    }
}

/// A path glob: `*` and `?` stay within a component, `**` crosses them.
pub(super) fn glob(pattern: &str) -> Result<globset::Glob, globset::Error> {
    globset::GlobBuilder::new(pattern).literal_separator(true).backslash_escape(true).build()
}

/// A planned state of one path.
#[derive(Debug, Clone)]
enum Planned {
    Meta(EntryMeta),
    File(EntryMeta, Vec<u8>),
    Gone,
}

/// The image's filesystem with the fixes planned so far applied.
pub(super) struct View<'a> {
    pub fs: &'a MergedFs,
    overlay: BTreeMap<String, Planned>,
}

impl View<'_> {
    fn plan(&mut self, fix: &Fix) {
        match fix {
            Fix::SetMeta { path, meta } if matches!(self.overlay.get(rel(path)), Some(Planned::File(..))) => {
                let Some(Planned::File(old, content)) = self.overlay.remove(rel(path)) else { unreachable!() };
                let meta = EntryMeta { kind: EntryKind::File, link: None, size: old.size, ..meta.clone() };
                self.overlay.insert(rel(path).to_owned(), Planned::File(meta, content));
            }
            Fix::SetMeta { path, meta } | Fix::Mkdir { path, meta } | Fix::Symlink { path, meta, .. } => {
                let mut meta = meta.clone();
                if let Fix::Symlink { target, .. } = fix {
                    meta.link = Some(target.clone());
                }
                self.overlay.insert(rel(path).to_owned(), Planned::Meta(meta));
            }
            Fix::WriteFile { path, meta, content } => {
                self.overlay.insert(rel(path).to_owned(), Planned::File(meta.clone(), content.clone()));
            }
            Fix::Whiteout { path } => {
                let p = rel(path).to_owned();
                let below = format!("{p}/");
                self.overlay.retain(|k, _| !k.starts_with(&below));
                self.overlay.insert(p, Planned::Gone);
            }
            Fix::Config(_) | Fix::Annotation { .. } => {}
        }
    }

    fn hidden(&self, path: &str) -> bool {
        let mut p = path;
        loop {
            if matches!(self.overlay.get(p), Some(Planned::Gone)) {
                return true;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return false,
            }
        }
    }

    /// The metadata at exactly `path` (relative or absolute; symlinks not followed).
    pub fn meta(&self, path: &str) -> Option<EntryMeta> {
        let p = rel(path);
        match self.overlay.get(p) {
            Some(Planned::Meta(m) | Planned::File(m, _)) => return Some(m.clone()),
            Some(Planned::Gone) => return None,
            None => {}
        }
        if self.hidden(p) {
            return None;
        }
        self.fs.get(p).map(|n| n.meta.clone())
    }

    /// The path with every parent symlink resolved inside the root (the last component is
    /// kept as is), relative.
    pub fn real(&self, path: &str) -> String {
        let p = rel(path);
        match p.rsplit_once('/') {
            Some((parent, name)) => match self.fs.resolve(parent) {
                Some((real, _)) if real.is_empty() => name.to_owned(),
                Some((real, _)) => format!("{real}/{name}"),
                None => p.to_owned(),
            },
            None => p.to_owned(),
        }
    }

    /// A regular file's bytes (planned content first; symlinks followed inside the root).
    pub fn read(&self, path: &str) -> Option<Vec<u8>> {
        let p = rel(path);
        match self.overlay.get(p) {
            Some(Planned::File(_, c)) => return Some(c.clone()),
            Some(Planned::Gone) => return None,
            _ => {}
        }
        if self.hidden(p) {
            return None;
        }
        self.fs.read(p).ok()
    }

    /// Every entry (relative path, metadata), in path order, with planned changes applied.
    pub fn entries(&self) -> Vec<(String, EntryMeta)> {
        let mut out: BTreeMap<String, EntryMeta> = BTreeMap::new();
        for (p, n) in self.fs.iter() {
            if !self.overlay.contains_key(p) && !self.hidden(p) {
                out.insert(p.to_owned(), n.meta.clone());
            }
        }
        for (p, planned) in &self.overlay {
            if let Planned::Meta(m) | Planned::File(m, _) = planned
                && !self.hidden(p)
            {
                out.insert(p.clone(), m.clone());
            }
        }
        out.into_iter().collect()
    }

    /// The direct children of a directory (relative paths), planned changes applied.
    pub fn children(&self, dir: &str) -> Vec<String> {
        let d = rel(dir);
        let prefix = if d.is_empty() { String::new() } else { format!("{d}/") };
        let mut out: Vec<String> = self
            .fs
            .walk(d)
            .map(|(p, _)| p)
            .chain(self.overlay.keys().map(String::as_str))
            .filter(|p| p.strip_prefix(&prefix).is_some_and(|rest| !rest.is_empty() && !rest.contains('/')))
            .filter(|p| self.meta(p).is_some())
            .map(str::to_owned)
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// `"/etc/passwd"` → `"etc/passwd"`.
pub(super) fn rel(path: &str) -> &str {
    path.trim_start_matches('/').trim_end_matches('/')
}

/// `"etc/passwd"` → `"/etc/passwd"`.
pub(super) fn abs(path: &str) -> String {
    format!("/{}", rel(path))
}

/// Metadata for a rewritten regular file, keeping owner and mode of `old` when there is one.
pub(super) fn file_meta(old: Option<&EntryMeta>, default_mode: u32, size: usize) -> EntryMeta {
    let mut meta = EntryMeta::file(default_mode, size as u64);
    if let Some(old) = old.filter(|m| matches!(m.kind, EntryKind::File | EntryKind::Hardlink)) {
        meta.mode = old.mode;
        meta.uid = old.uid;
        meta.gid = old.gid;
        meta.mtime = old.mtime;
        meta.xattrs = old.xattrs.clone();
    }
    meta
}

/// Metadata for re-adding an entry with a new mode or owner: a hardlink becomes a regular
/// file (its data copied) so the lower layer's shared inode is not left as it was.
pub(super) fn reowned(old: &EntryMeta) -> EntryMeta {
    let mut meta = old.clone();
    if meta.kind == EntryKind::Hardlink {
        meta.kind = EntryKind::File;
        meta.link = None;
    }
    meta
}
