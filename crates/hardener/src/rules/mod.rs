//! Hardening rule sets: a declarative TOML file ([`RuleSet`]) and its evaluation against an
//! image's merged filesystem and config ([`evaluate`]) into findings and planned fixes.
//!
//! Parsing is pure ([`RuleSet::from_str`]); errors name the file, the 1-based line and the
//! rule id. Evaluation reads the image through [`oci_core::MergedFs`] only and never writes:
//! the fixes it plans ([`Fix`]) are turned into one patch layer by the caller.

mod accounts;
mod config_rules;
mod eval;
mod files;
mod parse;
mod report;
mod sarif;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

pub use eval::{CheckInput, Evaluation, Fix, RuleFinding, RuleOutcome, RuleResult, evaluate};
pub use report::{CheckReport, RuleReport, RuleSetId, RuleStatus};
pub use sarif::{evaluation_sarif_run, evaluation_to_sarif};

use crate::{Error, Result};

/// How serious a rule's findings are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RuleSeverity {
    /// Informational hygiene.
    Low,
    /// The default.
    #[default]
    Medium,
    /// Exploitable weakness.
    High,
    /// Exposed secret or equivalent.
    Critical,
}

impl RuleSeverity {
    /// The name used in rule files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleSeverity::Low => "low",
            RuleSeverity::Medium => "medium",
            RuleSeverity::High => "high",
            RuleSeverity::Critical => "critical",
        }
    }
}

impl std::str::FromStr for RuleSeverity {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "low" => Ok(RuleSeverity::Low),
            "medium" => Ok(RuleSeverity::Medium),
            "high" => Ok(RuleSeverity::High),
            "critical" => Ok(RuleSeverity::Critical),
            _ => Err(format!("unknown severity {s:?} (low, medium, high, critical)")),
        }
    }
}

impl std::fmt::Display for RuleSeverity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a rule does with its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Report and plan fixes (the default).
    #[default]
    Fix,
    /// Report only.
    Check,
}

impl Action {
    /// The name used in rule files and reports: `fix` or `check`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Fix => "fix",
            Action::Check => "check",
        }
    }
}

/// The type a `file-mode` rule wants at its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileType {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symbolic link.
    Symlink,
}

/// One rule of a [`RuleSet`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Unique within the rule set.
    pub id: String,
    /// Default `medium`.
    pub severity: RuleSeverity,
    /// Default `fix`.
    pub action: Action,
    /// Paths (globs) or values (account names, env names, volumes) left alone.
    pub allow: Vec<String>,
    /// What the rule checks and fixes.
    pub kind: RuleKind,
}

/// What a rule checks and fixes. Paths are absolute and normalised (no `..`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RuleKind {
    /// Clears setuid/setgid bits (`mode & !0o6000`) on regular files not in `allow`.
    StripSetuid,
    /// Empties these directories (a whiteout per child); the directories and their modes stay.
    RemoveContents {
        /// Directories.
        paths: Vec<String>,
    },
    /// Ensures an account (passwd, group, shadow locked), its home, and optionally runs as it.
    User {
        /// Account name.
        name: String,
        /// Numeric user id.
        uid: u32,
        /// Numeric primary group id.
        gid: u32,
        /// Home directory (created 0750, owned uid:gid, when missing).
        home: String,
        /// Login shell.
        shell: String,
        /// Set the config's `User` to `uid:gid`.
        run_as: bool,
        /// Primary group name (default: the account name).
        group: Option<String>,
    },
    /// Whiteouts for every path matching these globs.
    RemovePaths {
        /// Globs (`*` within a component, `**` across, `?`).
        paths: Vec<String>,
    },
    /// Locks accounts with an empty or usable password (`!` prefix); `allow` = account names.
    LockAccounts,
    /// Gives every account but root a nologin shell when it has a real shell; `allow` = names.
    NologinShells {
        /// The nologin program (`/usr/sbin/nologin`, falling back to `/sbin/nologin`).
        shell: String,
    },
    /// Clears `o+w` on files and directories, except sticky directories and `allow`.
    WorldWritable,
    /// Ensures one path's type, mode, owner, content or link target.
    FileMode {
        /// The path.
        path: String,
        /// Permission bits (`"0644"` in TOML).
        mode: Option<u32>,
        /// Owner.
        uid: Option<u32>,
        /// Group.
        gid: Option<u32>,
        /// Type (`dir`, `file`, `symlink`).
        file_type: Option<FileType>,
        /// Content of a file.
        content: Option<String>,
        /// Target of a symlink.
        target: Option<String>,
    },
    /// Removes shells (distro-aware); refused when the entrypoint needs one unless `force`.
    RemoveShells {
        /// Remove even when the entrypoint or command needs a shell.
        force: bool,
    },
    /// Removes apt/dpkg or apk binaries, keeping their databases for scanners.
    RemovePackageManager {
        /// Remove even when the entrypoint or command runs the package manager.
        force: bool,
    },
    /// Private keys, credential files, `.env`, `.git` and secret-looking env vars.
    Secrets,
    /// Config labels.
    Labels {
        /// Labels to set.
        set: BTreeMap<String, String>,
    },
    /// Manifest annotations.
    Annotations {
        /// Annotations to set.
        set: BTreeMap<String, String>,
    },
    /// Config environment.
    Env {
        /// Variables to set.
        set: BTreeMap<String, String>,
        /// Variables to remove.
        unset: Vec<String>,
    },
    /// A Docker `HEALTHCHECK` (not part of the OCI config: skipped for OCI images).
    Healthcheck {
        /// `["CMD", …]`, `["CMD-SHELL", "…"]` or `["NONE"]`.
        test: Vec<String>,
        /// Go duration (`30s`, `1m30s`).
        interval: Option<String>,
        /// Go duration.
        timeout: Option<String>,
        /// Consecutive failures before unhealthy.
        retries: Option<u32>,
    },
    /// Volumes at or below these paths are refused (the fix removes them from the config).
    Volumes {
        /// Default `/proc`, `/sys`, `/dev`.
        deny: Vec<String>,
    },
}

impl RuleKind {
    /// The kind's name in rule files (`strip-setuid`, …).
    pub fn name(&self) -> &'static str {
        match self {
            RuleKind::StripSetuid => "strip-setuid",
            RuleKind::RemoveContents { .. } => "remove-contents",
            RuleKind::User { .. } => "user",
            RuleKind::RemovePaths { .. } => "remove-paths",
            RuleKind::LockAccounts => "lock-accounts",
            RuleKind::NologinShells { .. } => "nologin-shells",
            RuleKind::WorldWritable => "world-writable",
            RuleKind::FileMode { .. } => "file-mode",
            RuleKind::RemoveShells { .. } => "remove-shells",
            RuleKind::RemovePackageManager { .. } => "remove-package-manager",
            RuleKind::Secrets => "secrets",
            RuleKind::Labels { .. } => "labels",
            RuleKind::Annotations { .. } => "annotations",
            RuleKind::Env { .. } => "env",
            RuleKind::Healthcheck { .. } => "healthcheck",
            RuleKind::Volumes { .. } => "volumes",
        }
    }
}

/// A named, ordered list of rules, with a digest of its canonical form.
///
/// ```
/// let rules: hardener::RuleSet = r#"
/// [ruleset]
/// name = "example"
/// extends = "builtin:baseline"
///
/// [[rule]]
/// id = "no-setuid"
/// kind = "strip-setuid"
/// allow = ["/usr/bin/passwd"]
/// "#.parse().unwrap();
/// assert_eq!(rules.name, "example");
/// assert!(rules.rules.iter().any(|r| r.id == "no-setuid"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    /// The rule set's name.
    pub name: String,
    /// Rules in evaluation order (a base's rules first when it `extends` one).
    pub rules: Vec<Rule>,
}

/// The built-in profiles: name and TOML source.
const BUILTINS: &[(&str, &str)] =
    &[("baseline", include_str!("../../rules/baseline.toml")), ("strict", include_str!("../../rules/strict.toml"))];

impl RuleSet {
    /// Parses a rule file; `source` names it in errors.
    ///
    /// # Security
    /// Refuses unknown kinds and keys, missing or mistyped keys, duplicate rule ids, and
    /// paths that are relative or contain `..`, naming the line and rule id.
    #[allow(clippy::should_implement_trait)] // FromStr is implemented too (source "<string>")
    pub fn from_str(toml: &str, source: &str) -> Result<RuleSet> {
        parse::parse(toml, source)
    }

    /// Reads and parses a rule file (at most [`MAX_RULE_FILE_BYTES`]).
    pub fn from_path(path: &Path) -> Result<RuleSet> {
        use std::io::Read as _;
        let what = || format!("reading rule file {}", path.display());
        let file = std::fs::File::open(path).map_err(|e| Error::io(what(), e))?;
        let mut text = String::new();
        file.take(MAX_RULE_FILE_BYTES + 1).read_to_string(&mut text).map_err(|e| Error::io(what(), e))?;
        if text.len() as u64 > MAX_RULE_FILE_BYTES {
            return Err(invalid(
                &path.display().to_string(),
                None,
                None,
                format!("the file is larger than the limit of {MAX_RULE_FILE_BYTES} bytes"),
            ));
        }
        RuleSet::from_str(&text, &path.display().to_string())
    }

    /// A built-in profile: `baseline` or `strict`.
    pub fn builtin(name: &str) -> Option<RuleSet> {
        let (_, text) = BUILTINS.iter().find(|(n, _)| *n == name)?;
        Some(parse::parse(text, &format!("builtin:{name}")).expect("built-in profiles parse (tested)"))
    }

    /// The names of the built-in profiles.
    pub fn builtin_names() -> impl Iterator<Item = &'static str> {
        BUILTINS.iter().map(|(n, _)| *n)
    }

    /// `builtin:NAME` or a path to a rule file.
    pub fn load(spec: &str) -> Result<RuleSet> {
        match spec.strip_prefix("builtin:") {
            Some(name) => RuleSet::builtin(name).ok_or_else(|| {
                let known: Vec<_> = RuleSet::builtin_names().collect();
                invalid(spec, None, None, format!("no built-in rule set {name:?} (known: {})", known.join(", ")))
            }),
            None => RuleSet::from_path(Path::new(spec)),
        }
    }

    /// SHA-256 of the canonical JSON form (name and effective rules, base rules included):
    /// unchanged by whitespace, comments, key order or defaults written out.
    pub fn digest(&self) -> oci_core::Digest {
        #[derive(Serialize)]
        struct Canonical<'a> {
            name: &'a str,
            rules: &'a [Rule],
        }
        let json = serde_json::to_vec(&Canonical { name: &self.name, rules: &self.rules }).expect("serialisable");
        oci_core::Digest::sha256(&json)
    }

    /// A capture predicate for [`oci_core::MergedFs::build_capturing`]: the files these rules
    /// read (account databases, `/etc/shells`, secret candidates), kept in memory during
    /// indexing so evaluation needs no second pass over the layers.
    pub fn capture(&self) -> impl Fn(&str) -> bool + Send + Sync + 'static {
        let secrets = self.rules.iter().any(|r| r.kind == RuleKind::Secrets);
        move |path: &str| {
            matches!(path, "etc/passwd" | "etc/group" | "etc/shadow" | "etc/gshadow" | "etc/shells")
                || (secrets && files::secret_content_candidate(path))
        }
    }
}

impl std::str::FromStr for RuleSet {
    type Err = Error;
    fn from_str(s: &str) -> Result<RuleSet> {
        parse::parse(s, "<string>")
    }
}

/// The error for a bad rule file. One place, so the message shape is uniform:
/// `invalid rule set FILE line N (rule "ID"): REASON`.
/// The largest rule file read (4 MiB: the built-in strict profile is a few KiB).
pub const MAX_RULE_FILE_BYTES: u64 = 4 << 20;

pub(crate) fn invalid(source: &str, line: Option<usize>, rule: Option<&str>, reason: String) -> Error {
    Error::RuleSet { source_name: source.to_owned(), line, rule: rule.map(str::to_owned), reason }
}
