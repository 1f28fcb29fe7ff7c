//! Account rules: `user`, `lock-accounts`, `nologin-shells` (edits of `/etc/passwd`,
//! `/etc/group`, `/etc/shadow`, `/etc/gshadow` through the working view).

use oci_core::{ConfigChange, EntryKind, EntryMeta};

use super::RuleKind;
use super::eval::{Cx, Fix, abs, file_meta};

/// Shells a login could use (basenames); `/etc/shells` adds to these.
const SHELLS: &[&str] = &["sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "rbash"];

/// A colon-separated account database, lines kept as they are unless edited.
struct Db {
    path: &'static str,
    old: Option<EntryMeta>,
    lines: Vec<String>,
    changed: bool,
}

impl Db {
    fn open(cx: &Cx, path: &'static str) -> Option<Db> {
        let old = cx.view.meta(path);
        let bytes = cx.view.read(path)?;
        let text = String::from_utf8_lossy(&bytes);
        Some(Db { path, old, lines: text.lines().map(str::to_owned).collect(), changed: false })
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.lines.iter().position(|l| l.split(':').next() == Some(name))
    }

    fn records(&self) -> impl Iterator<Item = (usize, Vec<&str>)> {
        self.lines
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|(i, l)| (i, l.split(':').collect()))
    }

    fn set(&mut self, i: usize, line: String) {
        self.lines[i] = line;
        self.changed = true;
    }

    fn push(&mut self, line: String) {
        self.lines.push(line);
        self.changed = true;
    }

    fn fix(self, default_mode: u32) -> Option<Fix> {
        if !self.changed {
            return None;
        }
        let mut content = self.lines.join("\n").into_bytes();
        content.push(b'\n');
        let meta = file_meta(self.old.as_ref(), default_mode, content.len());
        Some(Fix::WriteFile { path: abs(self.path), meta, content })
    }
}

pub(super) fn user(cx: &mut Cx) -> Result<(), String> {
    let RuleKind::User { name, uid, gid, home, shell, run_as, group } = &cx.rule.kind else { unreachable!() };
    let (uid, gid) = (*uid, *gid);
    let group_name = group.as_deref().unwrap_or(name);
    // A nologin path the image lacks (`/usr/sbin/nologin` on Alpine) becomes the one it has.
    let shell = &if shell.ends_with("/nologin") && !exists(cx, shell) {
        ["/usr/sbin/nologin", "/sbin/nologin"].into_iter().find(|s| exists(cx, s)).unwrap_or(shell).to_owned()
    } else {
        shell.clone()
    };

    let mut passwd =
        Db::open(cx, "etc/passwd").unwrap_or(Db { path: "etc/passwd", old: None, lines: Vec::new(), changed: false });
    let wanted = format!("{name}:x:{uid}:{gid}::{home}:{shell}");
    match passwd.find(name) {
        Some(i) => {
            let f: Vec<&str> = passwd.lines[i].split(':').collect();
            if f.get(2) != Some(&uid.to_string().as_str()) || f.get(3) != Some(&gid.to_string().as_str()) {
                return Err(format!(
                    "account {name:?} already exists in /etc/passwd with uid:gid {}:{}, not {uid}:{gid}; \
                     change the rule's uid/gid or name",
                    f.get(2).unwrap_or(&"?"),
                    f.get(3).unwrap_or(&"?")
                ));
            }
            if f.len() != 7 || f[5] != home || f[6] != shell {
                let line = format!(
                    "{}:{}:{uid}:{gid}:{}:{home}:{shell}",
                    f[0],
                    f.get(1).unwrap_or(&"x"),
                    f.get(4).unwrap_or(&"")
                );
                cx.find(Some("/etc/passwd"), format!("account {name}: home/shell set to {home} and {shell}"));
                passwd.set(i, line);
            }
        }
        None => {
            if let Some((_, f)) = passwd.records().find(|(_, f)| f.get(2) == Some(&uid.to_string().as_str())) {
                return Err(format!(
                    "uid {uid} is already used by account {:?} in /etc/passwd; pick another uid",
                    f[0]
                ));
            }
            cx.find(Some("/etc/passwd"), format!("account {name} ({uid}:{gid}) added"));
            passwd.push(wanted);
        }
    }

    let mut groups =
        Db::open(cx, "etc/group").unwrap_or(Db { path: "etc/group", old: None, lines: Vec::new(), changed: false });
    match groups.find(group_name) {
        Some(i) => {
            let f: Vec<&str> = groups.lines[i].split(':').collect();
            if f.get(2) != Some(&gid.to_string().as_str()) {
                return Err(format!(
                    "group {group_name:?} already exists in /etc/group with gid {}, not {gid}",
                    f.get(2).unwrap_or(&"?")
                ));
            }
        }
        None => {
            if let Some((_, f)) = groups.records().find(|(_, f)| f.get(2) == Some(&gid.to_string().as_str())) {
                return Err(format!(
                    "gid {gid} is already used by group {:?} in /etc/group; pick another gid or set group = {:?}",
                    f[0], f[0]
                ));
            }
            cx.find(Some("/etc/group"), format!("group {group_name} ({gid}) added"));
            groups.push(format!("{group_name}:x:{gid}:"));
        }
    }

    let mut shadow = Db::open(cx, "etc/shadow");
    if let Some(s) = shadow.as_mut()
        && s.find(name).is_none()
    {
        cx.find(Some("/etc/shadow"), format!("locked shadow entry for {name} added"));
        s.push(format!("{name}:!:::::::"));
    }
    let mut gshadow = Db::open(cx, "etc/gshadow");
    if let Some(s) = gshadow.as_mut()
        && s.find(group_name).is_none()
    {
        cx.find(Some("/etc/gshadow"), format!("gshadow entry for {group_name} added"));
        s.push(format!("{group_name}:!::"));
    }

    let mut fixes: Vec<Fix> = [passwd.fix(0o644), groups.fix(0o644)].into_iter().flatten().collect();
    fixes.extend(shadow.and_then(|s| s.fix(0o640)));
    fixes.extend(gshadow.and_then(|s| s.fix(0o640)));

    // The home directory and any missing parents.
    if cx.view.meta(&cx.view.real(home)).is_none() && home != "/" {
        let real = cx.view.real(home);
        let mut parent = String::new();
        let components: Vec<&str> = real.split('/').collect();
        for (i, c) in components.iter().enumerate() {
            parent = if parent.is_empty() { (*c).to_owned() } else { format!("{parent}/{c}") };
            if cx.view.meta(&parent).is_some() {
                continue;
            }
            let mut meta = EntryMeta::dir(0o755);
            if i + 1 == components.len() {
                meta.mode = 0o750;
                meta.uid = uid.into();
                meta.gid = gid.into();
            }
            fixes.push(Fix::Mkdir { path: abs(&parent), meta });
        }
        cx.find(Some(home), format!("home directory created (0750, {uid}:{gid})"));
    } else if let Some(m) = cx.view.meta(&cx.view.real(home))
        && m.kind != EntryKind::Dir
    {
        return Err(format!("home {home} exists and is not a directory"));
    }

    if *run_as {
        let want = format!("{uid}:{gid}");
        if cx.input.config.user() != Some(want.as_str()) {
            cx.find(None, format!("config User {:?} set to {want:?}", cx.input.config.user().unwrap_or("")));
            fixes.push(Fix::Config(ConfigChange::User(want)));
        }
    }
    cx.fixes.extend(fixes);
    Ok(())
}

/// Whether a program exists (symlinks followed inside the root, planned removals honoured).
fn exists(cx: &Cx, path: &str) -> bool {
    cx.view.fs.resolve(path).is_some_and(|(real, _)| cx.view.meta(&real).is_some())
}

fn locked(pw: &str) -> bool {
    pw.starts_with('!') || pw.starts_with('*')
}

pub(super) fn lock_accounts(cx: &mut Cx) -> Result<(), String> {
    let allow = cx.rule.allow.clone();
    let mut any = false;
    for (path, absent_ok) in [("etc/shadow", false), ("etc/passwd", true)] {
        let Some(mut db) = Db::open(cx, path) else { continue };
        any = true;
        let edits: Vec<(usize, String, String)> = db
            .records()
            .filter(|(_, f)| f.len() >= 2 && !allow.iter().any(|a| a == f[0]))
            .filter(|(_, f)| !(locked(f[1]) || (absent_ok && f[1] == "x")))
            .map(|(i, f)| {
                let why = if f[1].is_empty() { "has an empty password" } else { "has a usable password hash" };
                let mut g: Vec<String> = f.iter().map(|s| (*s).to_owned()).collect();
                g[1] = format!("!{}", g[1]);
                (i, g.join(":"), format!("account {} {why}; locked", f[0]))
            })
            .collect();
        for (i, line, message) in edits {
            cx.find(Some(&abs(path)), message);
            db.set(i, line);
        }
        cx.fixes.extend(db.fix(if path == "etc/shadow" { 0o640 } else { 0o644 }));
    }
    if !any {
        cx.skip = Some("no /etc/shadow or /etc/passwd in the image".into());
    }
    Ok(())
}

pub(super) fn nologin_shells(cx: &mut Cx, shell: &str) -> Result<(), String> {
    let Some(mut passwd) = Db::open(cx, "etc/passwd") else {
        cx.skip = Some("no /etc/passwd in the image".into());
        return Ok(());
    };
    let nologin = if exists(cx, shell) {
        shell.to_owned()
    } else if exists(cx, "/sbin/nologin") {
        "/sbin/nologin".to_owned()
    } else {
        shell.to_owned()
    };
    let listed: Vec<String> = cx
        .view
        .read("etc/shells")
        .map(|b| String::from_utf8_lossy(&b).lines().map(|l| l.trim().to_owned()).collect())
        .unwrap_or_default();
    let is_shell = |s: &str| {
        let base = s.rsplit('/').next().unwrap_or(s);
        !s.ends_with("nologin")
            && !s.ends_with("/false")
            && (SHELLS.contains(&base) || listed.iter().any(|l| !l.starts_with('#') && l == s))
    };
    let allow = cx.rule.allow.clone();
    let edits: Vec<(usize, String, String)> = passwd
        .records()
        .filter(|(_, f)| f.len() == 7 && f[0] != "root" && f[2] != "0" && !allow.iter().any(|a| a == f[0]))
        .filter(|(_, f)| is_shell(f[6]))
        .map(|(i, f)| {
            let mut g: Vec<String> = f.iter().map(|s| (*s).to_owned()).collect();
            let msg = format!("account {} has the login shell {}; set to {nologin}", f[0], f[6]);
            g[6] = nologin.clone();
            (i, g.join(":"), msg)
        })
        .collect();
    for (i, line, msg) in edits {
        cx.find(Some("/etc/passwd"), msg);
        passwd.set(i, line);
    }
    cx.fixes.extend(passwd.fix(0o644));
    Ok(())
}
