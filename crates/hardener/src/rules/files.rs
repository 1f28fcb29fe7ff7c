//! Filesystem rules: `strip-setuid`, `remove-contents`, `remove-paths`, `world-writable`,
//! `file-mode`, `remove-shells`, `remove-package-manager`, `secrets`.

use std::collections::BTreeSet;

use oci_core::{ConfigChange, EntryKind, EntryMeta};

use super::eval::{Cx, Fix, abs, file_meta, glob, reowned};
use super::{Action, FileType, RuleKind};

/// Shells removed by `remove-shells` (in each of [`BIN_DIRS`]).
const SHELLS: &[&str] = &["sh", "bash", "rbash", "ash", "dash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish"];
const BIN_DIRS: &[&str] = &["bin", "usr/bin", "usr/local/bin", "sbin", "usr/sbin"];
/// Package manager programs removed by `remove-package-manager`; their databases
/// (`/var/lib/dpkg`, `/lib/apk/db`) stay so scanners still see the packages.
const PACKAGE_MANAGERS: &[&str] = &[
    "apt",
    "apt-get",
    "apt-cache",
    "apt-cdrom",
    "apt-config",
    "apt-key",
    "apt-mark",
    "dpkg",
    "dpkg-deb",
    "dpkg-query",
    "dpkg-divert",
    "dpkg-split",
    "dpkg-trigger",
    "dpkg-statoverride",
    "dpkg-maintscript-helper",
    "dpkg-realpath",
    "apk",
];
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Largest file read to look for a private key or a script's shebang.
const SMALL_FILE: u64 = 1 << 20;

fn allowed(globs: &globset::GlobSet, rel_path: &str) -> bool {
    globs.is_match(abs(rel_path))
}

pub(super) fn strip_setuid(cx: &mut Cx) -> Result<(), String> {
    let allow = cx.allow_globs();
    for (p, m) in cx.view.entries() {
        if matches!(m.kind, EntryKind::File | EntryKind::Hardlink) && m.mode & 0o6000 != 0 && !allowed(&allow, &p) {
            let mut meta = reowned(&m);
            meta.mode &= !0o6000;
            let bits = match m.mode & 0o6000 {
                0o6000 => "setuid and setgid",
                0o4000 => "setuid",
                _ => "setgid",
            };
            cx.find(
                Some(&abs(&p)),
                format!("{bits} (mode {:04o}, owner {}); cleared to {:04o}", m.mode, m.uid, meta.mode),
            );
            cx.fixes.push(Fix::SetMeta { path: abs(&p), meta });
        }
    }
    Ok(())
}

pub(super) fn world_writable(cx: &mut Cx) -> Result<(), String> {
    let allow = cx.allow_globs();
    for (p, m) in cx.view.entries() {
        let candidate = matches!(m.kind, EntryKind::File | EntryKind::Hardlink | EntryKind::Dir | EntryKind::Fifo);
        let sticky_dir = m.kind == EntryKind::Dir && m.mode & 0o1000 != 0;
        if candidate && m.mode & 0o002 != 0 && !sticky_dir && !allowed(&allow, &p) {
            let mut meta = reowned(&m);
            meta.mode &= !0o002;
            cx.find(Some(&abs(&p)), format!("world-writable (mode {:04o}); cleared to {:04o}", m.mode, meta.mode));
            cx.fixes.push(Fix::SetMeta { path: abs(&p), meta });
        }
    }
    Ok(())
}

pub(super) fn remove_contents(cx: &mut Cx, paths: &[String]) -> Result<(), String> {
    let allow = cx.allow_globs();
    let mut seen = BTreeSet::new();
    for dir in paths {
        // The directory itself may be a symlink (`/var/run -> /run`): empty its target.
        let Some((real, _)) = cx.view.fs.resolve(dir) else { continue };
        if cx.view.meta(&real).is_none_or(|m| m.kind != EntryKind::Dir) || !seen.insert(real.clone()) {
            continue;
        }
        for child in cx.view.children(&real) {
            if !allowed(&allow, &child) {
                cx.find(Some(&abs(&child)), format!("in {dir}; removed"));
                cx.fixes.push(Fix::Whiteout { path: abs(&child) });
            }
        }
    }
    Ok(())
}

pub(super) fn remove_paths(cx: &mut Cx, paths: &[String]) -> Result<(), String> {
    let allow = cx.allow_globs();
    let mut b = globset::GlobSetBuilder::new();
    for p in paths {
        b.add(glob(p).map_err(|e| e.to_string())?);
    }
    let set = b.build().map_err(|e| e.to_string())?;
    let mut removed: Option<String> = None;
    for (p, _) in cx.view.entries() {
        if removed.as_ref().is_some_and(|r| p.starts_with(&format!("{r}/"))) {
            continue;
        }
        if set.is_match(abs(&p)) && !allowed(&allow, &p) {
            cx.find(Some(&abs(&p)), "matches a removed path; removed");
            cx.fixes.push(Fix::Whiteout { path: abs(&p) });
            removed = Some(p);
        }
    }
    Ok(())
}

pub(super) fn file_mode(cx: &mut Cx) -> Result<(), String> {
    let RuleKind::FileMode { path, mode, uid, gid, file_type, content, target } = &cx.rule.kind else { unreachable!() };
    let real = cx.view.real(path);
    let current = cx.view.meta(&real);
    let apply = |m: &mut EntryMeta| {
        if let Some(mode) = mode {
            m.mode = *mode;
        }
        if let Some(u) = uid {
            m.uid = (*u).into();
        }
        if let Some(g) = gid {
            m.gid = (*g).into();
        }
    };
    let fix = match (file_type, &current) {
        (Some(FileType::Symlink), cur) => {
            let target = target.clone().unwrap_or_default();
            let mut meta = EntryMeta::symlink(&target);
            apply(&mut meta);
            meta.mode = 0o777;
            let ok = cur.as_ref().is_some_and(|c| {
                c.kind == EntryKind::Symlink
                    && c.link.as_deref() == Some(&*target)
                    && c.uid == meta.uid
                    && c.gid == meta.gid
            });
            (!ok).then(|| Fix::Symlink { path: abs(&real), target, meta })
        }
        (Some(FileType::Dir), Some(c)) if c.kind == EntryKind::Dir => {
            let mut meta = c.clone();
            apply(&mut meta);
            (meta != *c).then(|| Fix::SetMeta { path: abs(&real), meta })
        }
        (Some(FileType::Dir), _) => {
            let mut meta = EntryMeta::dir(0o755);
            apply(&mut meta);
            Some(Fix::Mkdir { path: abs(&real), meta })
        }
        (Some(FileType::File), cur) => {
            let is_file = cur.as_ref().is_some_and(|c| matches!(c.kind, EntryKind::File | EntryKind::Hardlink));
            let bytes = content.as_ref().map(|c| c.as_bytes().to_vec());
            let old = if is_file && bytes.is_some() { cx.view.read(&real) } else { None };
            if !is_file || (bytes.is_some() && old != bytes) {
                let content = bytes.unwrap_or_default();
                let mut meta = file_meta(cur.as_ref().filter(|_| is_file), 0o644, content.len());
                apply(&mut meta);
                Some(Fix::WriteFile { path: abs(&real), meta, content })
            } else {
                let c = cur.clone().unwrap_or_else(|| EntryMeta::file(0o644, 0));
                let mut meta = reowned(&c);
                apply(&mut meta);
                (meta != c).then(|| Fix::SetMeta { path: abs(&real), meta })
            }
        }
        (None, None) => {
            cx.find(Some(path), "does not exist (set file-type to create it)");
            None
        }
        (None, Some(c)) => {
            let mut meta = reowned(c);
            apply(&mut meta);
            (meta != *c).then(|| Fix::SetMeta { path: abs(&real), meta })
        }
    };
    if let Some(fix) = fix {
        let what = match &current {
            None => "missing; created".to_owned(),
            Some(c) => format!("is {} {}:{} mode {:04o}; changed", c.kind.letter(), c.uid, c.gid, c.mode),
        };
        cx.find(Some(path), what);
        cx.fixes.push(fix);
    }
    Ok(())
}

/// The program the config runs and its arguments (`Entrypoint` + `Cmd`).
fn argv(cx: &Cx) -> Vec<String> {
    let c = cx.input.config;
    c.entrypoint().into_iter().chain(c.cmd()).map(str::to_owned).collect()
}

/// The real (relative) path of a program named in the config, searched in `PATH`.
fn program_path(cx: &Cx, program: &str) -> Option<String> {
    if program.contains('/') {
        return Some(cx.view.real(program));
    }
    let env = cx.input.config.env();
    let path = env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH);
    path.split(':')
        .filter(|d| d.starts_with('/'))
        .map(|d| format!("{}/{program}", d.trim_end_matches('/')))
        .find(|p| cx.view.fs.resolve(p).is_some() && cx.view.meta(&cx.view.real(p)).is_some())
        .map(|p| cx.view.real(&p))
}

/// Why the entrypoint needs one of `names` (by basename), if it does: run directly, through
/// `busybox NAME`, or as a script's `#!` interpreter (also via `env`).
fn needs(cx: &Cx, names: &[&str], doomed: &BTreeSet<String>) -> Option<String> {
    let mut argv = argv(cx);
    let base = |s: &str| s.rsplit('/').next().unwrap_or(s).to_owned();
    // `env [-i] [NAME=value]… PROGRAM`: the program is the first other word.
    if argv.first().is_some_and(|p| base(p) == "env") {
        argv = argv.into_iter().skip(1).skip_while(|a| a.starts_with('-') || a.contains('=')).collect();
    }
    let program = argv.first()?;
    if names.contains(&base(program).as_str()) {
        return Some(format!("the entrypoint runs {program}"));
    }
    if base(program) == "busybox" && argv.get(1).is_some_and(|a| names.contains(&a.as_str())) {
        return Some(format!("the entrypoint runs busybox {}", argv[1]));
    }
    let real = program_path(cx, program)?;
    if doomed.contains(&real) {
        return Some(format!("the entrypoint runs {program} (/{real})"));
    }
    let (_, node) = cx.view.fs.resolve(&real)?;
    if node.meta.size > SMALL_FILE {
        return None;
    }
    let bytes = cx.view.read(&real)?;
    let first = bytes.split(|b| *b == b'\n').next()?;
    let shebang = String::from_utf8_lossy(first.strip_prefix(b"#!")?).into_owned();
    let mut words = shebang.split_whitespace();
    let mut interp = words.next()?.to_owned();
    if base(&interp) == "env" {
        interp = words.find(|w| !w.starts_with('-'))?.to_owned();
    }
    names
        .contains(&base(&interp).as_str())
        .then(|| format!("the entrypoint {program} is a script run by {}", shebang.trim()))
}

/// Existing entries named `names` in the usual bin directories, by real path.
fn present(cx: &Cx, names: &[&str]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for dir in BIN_DIRS {
        for name in names {
            let real = cx.view.real(&format!("{dir}/{name}"));
            if cx.view.meta(&real).is_some() {
                out.insert(real);
            }
        }
    }
    out
}

fn remove_programs(cx: &mut Cx, names: &[&str], what: &str, force: bool) -> Result<(), String> {
    let doomed = present(cx, names);
    if doomed.is_empty() {
        return Ok(());
    }
    if let Some(why) = needs(cx, names, &doomed) {
        if force {
            cx.find(None, format!("{why}; removing the {what} anyway (force = true): the image will not start as is"));
        } else if cx.rule.action == Action::Check {
            cx.find(None, format!("{why}: fixing this rule would be refused unless force = true"));
        } else {
            return Err(format!("{why}: removing the {what} would break the image; set force = true to remove anyway"));
        }
    }
    for p in &doomed {
        let meta = cx.view.meta(p).expect("present");
        let via_busybox = meta.link.as_deref().is_some_and(|l| l.ends_with("busybox"));
        let note = if via_busybox { " (a busybox applet: `busybox` itself stays)" } else { "" };
        cx.find(Some(&abs(p)), format!("{what} present; removed{note}"));
        cx.fixes.push(Fix::Whiteout { path: abs(p) });
    }
    Ok(())
}

pub(super) fn remove_shells(cx: &mut Cx, force: bool) -> Result<(), String> {
    remove_programs(cx, SHELLS, "shell", force)
}

pub(super) fn remove_package_manager(cx: &mut Cx, force: bool) -> Result<(), String> {
    remove_programs(cx, PACKAGE_MANAGERS, "package manager", force)
}

/// Whether a file's content is worth keeping in memory for the `secrets` rule.
pub(super) fn secret_content_candidate(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    KEY_NAMES.contains(&name)
        || KEY_EXTENSIONS.iter().any(|e| name.ends_with(e))
        || path.ends_with(".docker/config.json")
        || name == ".npmrc"
}

const KEY_NAMES: &[&str] = &["id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"];
const KEY_EXTENSIONS: &[&str] = &[".pem", ".key", ".p8"];
/// Files that are credentials by name alone.
const CREDENTIAL_FILES: &[&str] = &[".aws/credentials", ".git-credentials", ".netrc", ".pgpass", ".s3cfg"];
/// Parts of environment variable names that suggest a secret.
const SECRET_ENV: &[&str] =
    &["PASSWORD", "PASSWD", "SECRET", "TOKEN", "API_KEY", "APIKEY", "ACCESS_KEY", "PRIVATE_KEY"];

const LOWER_LAYERS: &str = "the bytes stay in the lower layers: rotate the secret and rebuild the image without it";

pub(super) fn secrets(cx: &mut Cx) -> Result<(), String> {
    let allow = cx.allow_globs();
    let mut removed: Option<String> = None;
    for (p, m) in cx.view.entries() {
        if removed.as_ref().is_some_and(|r| p.starts_with(&format!("{r}/"))) || allowed(&allow, &p) {
            continue;
        }
        let name = p.rsplit('/').next().unwrap_or(&p);
        let is_file = matches!(m.kind, EntryKind::File | EntryKind::Hardlink);
        let why = if m.kind == EntryKind::Dir && name == ".git" {
            Some("a git repository (history may hold secrets)".to_owned())
        } else if !is_file {
            None
        } else if CREDENTIAL_FILES
            .iter()
            .any(|c| p.ends_with(c) && (p.len() == c.len() || p[..p.len() - c.len()].ends_with('/')))
        {
            Some("a credentials file".to_owned())
        } else if name == ".env"
            || (name.starts_with(".env.") && !name.ends_with(".example") && !name.ends_with(".sample"))
        {
            Some("an environment file".to_owned())
        } else if secret_content_candidate(&p) && m.size <= SMALL_FILE {
            let text = cx.view.read(&p).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
            if text.contains("-----BEGIN") && text.contains("PRIVATE KEY-----") {
                Some("a private key".to_owned())
            } else if p.ends_with(".docker/config.json") && text.contains("\"auth\"") {
                Some("Docker registry credentials (`auths`)".to_owned())
            } else if name == ".npmrc" && (text.contains("_authToken") || text.contains("_auth=")) {
                Some("an npm token".to_owned())
            } else {
                None
            }
        } else {
            None
        };
        if let Some(why) = why {
            cx.find(Some(&abs(&p)), format!("{why}; removed from the final filesystem, but {LOWER_LAYERS}"));
            cx.fixes.push(Fix::Whiteout { path: abs(&p) });
            removed = Some(p);
        }
    }
    for e in cx.input.config.env() {
        let Some((k, v)) = e.split_once('=') else { continue };
        let upper = k.to_ascii_uppercase();
        let suspicious = (SECRET_ENV.iter().any(|s| upper.contains(s)) || upper.ends_with("_KEY"))
            && !upper.ends_with("_FILE")
            && !upper.contains("GPG")
            && !upper.contains("PUBLIC");
        if suspicious && !v.is_empty() && !cx.rule.allow.iter().any(|a| a == k) {
            cx.find(
                None,
                format!("environment variable {k} looks like a secret; removed, but the config history may still show it: rotate it"),
            );
            cx.fixes.push(Fix::Config(ConfigChange::UnsetEnv(k.to_owned())));
        }
    }
    Ok(())
}
