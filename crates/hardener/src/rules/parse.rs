//! The rule file format: TOML with a `[ruleset]` header and `[[rule]]` tables, kebab-case keys.
//!
//! Every key is read with its span, so each error names the line it is about.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use toml::{Spanned, Value};

use super::{Action, FileType, Rule, RuleKind, RuleSet, RuleSeverity, invalid};
use crate::Result;

type Table = BTreeMap<Spanned<String>, Spanned<Value>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    ruleset: Spanned<Table>,
    #[serde(default)]
    rule: Vec<Spanned<Table>>,
}

/// Keys every rule may have.
const COMMON: &[&str] = &["id", "kind", "severity", "action", "allow"];

/// Every kind and its own keys.
const KINDS: &[(&str, &[&str])] = &[
    ("strip-setuid", &[]),
    ("remove-contents", &["paths"]),
    ("user", &["name", "uid", "gid", "home", "shell", "run-as", "group"]),
    ("remove-paths", &["paths"]),
    ("lock-accounts", &[]),
    ("nologin-shells", &["shell"]),
    ("world-writable", &[]),
    ("file-mode", &["path", "mode", "uid", "gid", "file-type", "content", "target"]),
    ("remove-shells", &["force"]),
    ("remove-package-manager", &["force"]),
    ("secrets", &[]),
    ("labels", &["set"]),
    ("annotations", &["set"]),
    ("env", &["set", "unset"]),
    ("healthcheck", &["test", "interval", "timeout", "retries"]),
    ("volumes", &["deny"]),
];

/// Kinds whose `allow` entries are path globs (the others take names or values).
const PATH_ALLOW: &[&str] = &["strip-setuid", "remove-contents", "remove-paths", "world-writable", "secrets"];

pub(super) fn parse(text: &str, source: &str) -> Result<RuleSet> {
    let line_of = |offset: usize| text.as_bytes()[..offset.min(text.len())].iter().filter(|b| **b == b'\n').count() + 1;
    let doc: Doc = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(s.start));
        invalid(source, line, None, e.message().trim().to_owned())
    })?;

    let header = Reader { table: doc.ruleset.get_ref(), source, rule: None, line_of: &line_of };
    let header_line = line_of(doc.ruleset.span().start);
    header.check_keys(&["name", "extends"], header_line)?;
    let name = header
        .string("name")?
        .ok_or_else(|| invalid(source, Some(header_line), None, "[ruleset] needs a `name`".into()))?;
    let mut rules: Vec<Rule> = Vec::new();
    if let Some(base) = header.string("extends")? {
        let line = header.line("extends");
        let base_name = base.strip_prefix("builtin:").ok_or_else(|| {
            invalid(
                source,
                line,
                None,
                format!("extends {base:?}: only built-in profiles (`builtin:NAME`) can be extended"),
            )
        })?;
        let base_set = RuleSet::builtin(base_name).ok_or_else(|| {
            let known: Vec<_> = RuleSet::builtin_names().collect();
            invalid(source, line, None, format!("extends {base:?}: no such built-in (known: {})", known.join(", ")))
        })?;
        rules = base_set.rules;
    }
    let base_ids: BTreeSet<String> = rules.iter().map(|r| r.id.clone()).collect();
    let mut own_ids: BTreeMap<String, usize> = BTreeMap::new();
    for raw in &doc.rule {
        let start = line_of(raw.span().start);
        let rule = parse_rule(raw.get_ref(), source, start, &line_of)?;
        if let Some(first) = own_ids.insert(rule.id.clone(), start) {
            return Err(invalid(
                source,
                Some(start),
                Some(&rule.id),
                format!("duplicate rule id (first defined at line {first})"),
            ));
        }
        match rules.iter_mut().find(|r| r.id == rule.id && base_ids.contains(&r.id)) {
            Some(slot) => *slot = rule,
            None => rules.push(rule),
        }
    }
    Ok(RuleSet { name, rules })
}

fn parse_rule(table: &Table, source: &str, start: usize, line_of: &dyn Fn(usize) -> usize) -> Result<Rule> {
    let mut r = Reader { table, source, rule: None, line_of };
    let id = r.string("id")?.ok_or_else(|| invalid(source, Some(start), None, "rule without an `id`".into()))?;
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(invalid(source, r.line("id"), Some(&id), "ids are non-empty [A-Za-z0-9._-]".into()));
    }
    r.rule = Some(id.clone());
    let kind_name = r.string("kind")?.ok_or_else(|| r.err(Some(start), "missing required key `kind`".into()))?;
    let Some((_, own)) = KINDS.iter().find(|(k, _)| *k == kind_name) else {
        let names: Vec<_> = KINDS.iter().map(|(k, _)| *k).collect();
        return Err(r.err(
            r.line("kind"),
            format!("unknown kind {kind_name:?}{} (kinds: {})", suggest(&kind_name, &names), names.join(", ")),
        ));
    };
    let allowed: Vec<&str> = COMMON.iter().chain(own.iter()).copied().collect();
    r.check_keys(&allowed, start)?;

    let severity = match r.string("severity")? {
        None => RuleSeverity::default(),
        Some(s) => s.parse().map_err(|e| r.err(r.line("severity"), e))?,
    };
    let action = match r.string("action")?.as_deref() {
        None | Some("fix") => Action::Fix,
        Some("check") => Action::Check,
        Some(other) => return Err(r.err(r.line("action"), format!("action {other:?}: `fix` or `check`"))),
    };
    let allow = r.strings("allow")?.unwrap_or_default();
    if PATH_ALLOW.contains(&kind_name.as_str()) {
        // `secrets` also takes environment variable names (entries not starting with `/`).
        for a in allow.iter().filter(|a| kind_name != "secrets" || a.starts_with('/')) {
            r.check_glob("allow", a)?;
        }
    }
    let req =
        |r: &Reader, key: &str| r.err(Some(start), format!("missing required key `{key}` for kind {kind_name:?}"));
    let kind = match kind_name.as_str() {
        "strip-setuid" => RuleKind::StripSetuid,
        "remove-contents" => {
            let paths = r.strings("paths")?.ok_or_else(|| req(&r, "paths"))?;
            for p in &paths {
                r.check_path("paths", p)?;
            }
            RuleKind::RemoveContents { paths }
        }
        "user" => {
            let name = r.string("name")?.ok_or_else(|| req(&r, "name"))?;
            if name.is_empty() || name.contains([':', '\n', '/']) {
                return Err(r.err(r.line("name"), format!("account name {name:?} is not valid")));
            }
            let uid = r.u32("uid")?.ok_or_else(|| req(&r, "uid"))?;
            let gid = r.u32("gid")?.ok_or_else(|| req(&r, "gid"))?;
            let home = r.string("home")?.unwrap_or_else(|| format!("/home/{name}"));
            r.check_path("home", &home)?;
            let shell = r.string("shell")?.unwrap_or_else(|| "/usr/sbin/nologin".into());
            r.check_path("shell", &shell)?;
            let group = r.string("group")?;
            if let Some(g) = &group
                && (g.is_empty() || g.contains([':', '\n']))
            {
                return Err(r.err(r.line("group"), format!("group name {g:?} is not valid")));
            }
            let run_as = r.bool("run-as")?.unwrap_or(false);
            RuleKind::User { name, uid, gid, home, shell, run_as, group }
        }
        "remove-paths" => {
            let paths = r.strings("paths")?.ok_or_else(|| req(&r, "paths"))?;
            for p in &paths {
                r.check_glob("paths", p)?;
            }
            RuleKind::RemovePaths { paths }
        }
        "lock-accounts" => RuleKind::LockAccounts,
        "nologin-shells" => {
            let shell = r.string("shell")?.unwrap_or_else(|| "/usr/sbin/nologin".into());
            r.check_path("shell", &shell)?;
            RuleKind::NologinShells { shell }
        }
        "world-writable" => RuleKind::WorldWritable,
        "file-mode" => {
            let path = r.string("path")?.ok_or_else(|| req(&r, "path"))?;
            r.check_path("path", &path)?;
            let mode = match r.string("mode")? {
                None => None,
                Some(m) => {
                    Some(u32::from_str_radix(m.trim_start_matches("0o"), 8).ok().filter(|m| *m <= 0o7777).ok_or_else(
                        || r.err(r.line("mode"), format!("mode {m:?} is not an octal mode like \"0644\"")),
                    )?)
                }
            };
            let file_type = match r.string("file-type")?.as_deref() {
                None => None,
                Some("dir") => Some(FileType::Dir),
                Some("file") => Some(FileType::File),
                Some("symlink") => Some(FileType::Symlink),
                Some(other) => {
                    return Err(r.err(r.line("file-type"), format!("file-type {other:?}: `dir`, `file` or `symlink`")));
                }
            };
            let content = r.string("content")?;
            let target = r.string("target")?;
            if content.is_some() && !matches!(file_type, None | Some(FileType::File)) {
                return Err(r.err(r.line("content"), "`content` is only for files".into()));
            }
            match (file_type, &target) {
                (Some(FileType::Symlink), None) => return Err(req(&r, "target")),
                (Some(FileType::Symlink), Some(_)) => {}
                (_, Some(_)) => return Err(r.err(r.line("target"), "`target` needs file-type = \"symlink\"".into())),
                _ => {}
            }
            if let Some(t) = &target
                && (t.is_empty() || t.contains('\0'))
            {
                return Err(r.err(r.line("target"), "empty symlink target".into()));
            }
            let file_type = if content.is_some() { Some(FileType::File) } else { file_type };
            RuleKind::FileMode { path, mode, uid: r.u32("uid")?, gid: r.u32("gid")?, file_type, content, target }
        }
        "remove-shells" => RuleKind::RemoveShells { force: r.bool("force")?.unwrap_or(false) },
        "remove-package-manager" => RuleKind::RemovePackageManager { force: r.bool("force")?.unwrap_or(false) },
        "secrets" => RuleKind::Secrets,
        "labels" => RuleKind::Labels { set: r.string_map("set")?.ok_or_else(|| req(&r, "set"))? },
        "annotations" => RuleKind::Annotations { set: r.string_map("set")?.ok_or_else(|| req(&r, "set"))? },
        "env" => {
            let set = r.string_map("set")?.unwrap_or_default();
            let unset = r.strings("unset")?.unwrap_or_default();
            if set.is_empty() && unset.is_empty() {
                return Err(r.err(Some(start), "an env rule needs `set` or `unset`".into()));
            }
            for k in set.keys().chain(&unset) {
                if k.is_empty() || k.contains('=') {
                    return Err(r.err(Some(start), format!("environment name {k:?} is not valid")));
                }
            }
            RuleKind::Env { set, unset }
        }
        "healthcheck" => {
            let test = r.strings("test")?.ok_or_else(|| req(&r, "test"))?;
            if !matches!(test.first().map(String::as_str), Some("CMD" | "CMD-SHELL" | "NONE")) {
                return Err(r.err(r.line("test"), "test starts with \"CMD\", \"CMD-SHELL\" or \"NONE\"".into()));
            }
            let interval = r.string("interval")?;
            let timeout = r.string("timeout")?;
            for (key, d) in [("interval", &interval), ("timeout", &timeout)] {
                if let Some(d) = d
                    && parse_duration_ns(d).is_none()
                {
                    return Err(r.err(r.line(key), format!("{key} {d:?} is not a duration like \"30s\" or \"1m30s\"")));
                }
            }
            RuleKind::Healthcheck { test, interval, timeout, retries: r.u32("retries")? }
        }
        "volumes" => {
            let deny = r.strings("deny")?.unwrap_or_else(|| vec!["/proc".into(), "/sys".into(), "/dev".into()]);
            for d in &deny {
                r.check_path("deny", d)?;
            }
            RuleKind::Volumes { deny }
        }
        _ => unreachable!("kind names come from KINDS"),
    };
    Ok(Rule { id, severity, action, allow, kind })
}

/// A Go duration (`1h2m3s`, `500ms`, `1.5s`) in nanoseconds, as Docker stores it.
pub(super) fn parse_duration_ns(s: &str) -> Option<u64> {
    let mut rest = s;
    let mut total: f64 = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * scale;
    }
    (total < u64::MAX as f64).then_some(total as u64)
}

struct Reader<'a> {
    table: &'a Table,
    source: &'a str,
    rule: Option<String>,
    line_of: &'a dyn Fn(usize) -> usize,
}

impl Reader<'_> {
    fn err(&self, line: Option<usize>, reason: String) -> crate::Error {
        invalid(self.source, line, self.rule.as_deref(), reason)
    }

    fn get(&self, key: &str) -> Option<&Spanned<Value>> {
        self.table.iter().find(|(k, _)| k.get_ref() == key).map(|(_, v)| v)
    }

    fn line(&self, key: &str) -> Option<usize> {
        self.get(key).map(|v| (self.line_of)(v.span().start))
    }

    fn check_keys(&self, allowed: &[&str], start: usize) -> Result<()> {
        for key in self.table.keys() {
            if !allowed.contains(&key.get_ref().as_str()) {
                let line = (self.line_of)(key.span().start);
                return Err(self.err(
                    Some(line.max(start)),
                    format!("unknown key `{}`{}", key.get_ref(), suggest(key.get_ref(), allowed)),
                ));
            }
        }
        Ok(())
    }

    fn typed<T>(&self, key: &str, what: &str, f: impl Fn(&Value) -> Option<T>) -> Result<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => f(v.get_ref()).map(Some).ok_or_else(|| {
                self.err(self.line(key), format!("`{key}` must be {what}, not {}", v.get_ref().type_str()))
            }),
        }
    }

    fn string(&self, key: &str) -> Result<Option<String>> {
        self.typed(key, "a string", |v| v.as_str().map(str::to_owned))
    }

    fn bool(&self, key: &str) -> Result<Option<bool>> {
        self.typed(key, "a boolean", Value::as_bool)
    }

    fn u32(&self, key: &str) -> Result<Option<u32>> {
        self.typed(key, "an integer from 0 to 4294967295", |v| v.as_integer().and_then(|i| u32::try_from(i).ok()))
    }

    fn strings(&self, key: &str) -> Result<Option<Vec<String>>> {
        self.typed(key, "an array of strings", |v| {
            v.as_array()?.iter().map(|s| s.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>()
        })
    }

    fn string_map(&self, key: &str) -> Result<Option<BTreeMap<String, String>>> {
        self.typed(key, "a table of strings", |v| {
            v.as_table()?.iter().map(|(k, s)| Some((k.clone(), s.as_str()?.to_owned()))).collect()
        })
    }

    /// Absolute, normalised: starts with `/`, no `.`/`..` components, no empty components.
    fn check_path(&self, key: &str, path: &str) -> Result<()> {
        check_path(path).map_err(|reason| self.err(self.line(key), format!("{key}: path {path:?} {reason}")))
    }

    fn check_glob(&self, key: &str, glob: &str) -> Result<()> {
        self.check_path(key, glob)?;
        super::eval::glob(glob)
            .map(|_| ())
            .map_err(|e| self.err(self.line(key), format!("{key}: glob {glob:?} is not valid: {e}")))
    }
}

pub(super) fn check_path(path: &str) -> std::result::Result<(), &'static str> {
    if !path.starts_with('/') {
        return Err("is not absolute");
    }
    if path.contains('\0') {
        return Err("contains a NUL byte");
    }
    if path.len() > 1 && path.ends_with('/') {
        return Err("ends with `/`");
    }
    for c in path[1..].split('/') {
        match c {
            ".." => return Err("contains `..`"),
            "." => return Err("contains `.`"),
            "" if path != "/" => return Err("contains `//`"),
            _ => {}
        }
    }
    Ok(())
}

/// `; did you mean `run-as`?` for the closest known name.
fn suggest(got: &str, known: &[&str]) -> String {
    let best = known.iter().map(|k| (distance(got, k), *k)).min();
    match best {
        Some((d, k)) if d <= 2 || got.replace('_', "-") == k => format!("; did you mean `{k}`?"),
        _ => String::new(),
    }
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
