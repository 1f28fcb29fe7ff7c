//! Rule parsing and evaluation on small in-memory images, and the built-in profiles on the
//! shipped Alpine example layout.

use std::collections::BTreeMap;

use oci_core::{
    ConfigChange, EntryKind, EntryMeta, ImageConfig, ImageSource, MergedFs, OciLayout, testing::write_layers,
};
use serde_json::{Value, json};

use super::*;

// ---------------------------------------------------------------------------------------
// Parsing

fn err(toml: &str) -> String {
    RuleSet::from_str(toml, "t.toml").unwrap_err().to_string()
}

const EVERY_KIND: &str = r#"
[ruleset]
name = "all"

[[rule]]
id = "a"
kind = "strip-setuid"
allow = ["/usr/bin/passwd"]
severity = "high"

[[rule]]
id = "b"
kind = "remove-contents"
paths = ["/tmp", "/var/cache/apt"]

[[rule]]
id = "c"
kind = "user"
name = "app"
uid = 10001
gid = 10001
home = "/home/app"
shell = "/usr/sbin/nologin"
run-as = true
group = "apps"

[[rule]]
id = "d"
kind = "remove-paths"
paths = ["/**/*.pyc", "/opt/x"]

[[rule]]
id = "e"
kind = "lock-accounts"
allow = ["root"]

[[rule]]
id = "f"
kind = "nologin-shells"

[[rule]]
id = "g"
kind = "world-writable"
action = "check"

[[rule]]
id = "h"
kind = "file-mode"
path = "/etc/motd"
mode = "0640"
uid = 0
gid = 42
content = "hi\n"

[[rule]]
id = "h2"
kind = "file-mode"
path = "/etc/localtime"
file-type = "symlink"
target = "/usr/share/zoneinfo/UTC"

[[rule]]
id = "i"
kind = "remove-shells"
force = true

[[rule]]
id = "j"
kind = "remove-package-manager"

[[rule]]
id = "k"
kind = "secrets"

[[rule]]
id = "l"
kind = "labels"
set = { "org.opencontainers.image.base.name" = "alpine:3.20" }

[[rule]]
id = "m"
kind = "annotations"
set = { "org.opencontainers.image.base.digest" = "sha256:00" }

[[rule]]
id = "n"
kind = "env"
set = { LANG = "C.UTF-8" }
unset = ["DEBUG"]

[[rule]]
id = "o"
kind = "healthcheck"
test = ["CMD", "/healthz"]
interval = "30s"
timeout = "1m30s"
retries = 3

[[rule]]
id = "p"
kind = "volumes"
"#;

#[test]
fn every_kind_parses() {
    let set = RuleSet::from_str(EVERY_KIND, "all.toml").unwrap();
    let kinds: Vec<&str> = set.rules.iter().map(|r| r.kind.name()).collect();
    assert_eq!(
        kinds,
        [
            "strip-setuid",
            "remove-contents",
            "user",
            "remove-paths",
            "lock-accounts",
            "nologin-shells",
            "world-writable",
            "file-mode",
            "file-mode",
            "remove-shells",
            "remove-package-manager",
            "secrets",
            "labels",
            "annotations",
            "env",
            "healthcheck",
            "volumes"
        ]
    );
    assert_eq!(set.rules[0].severity, RuleSeverity::High);
    assert_eq!(set.rules[1].severity, RuleSeverity::Medium);
    assert_eq!(set.rules[6].action, Action::Check);
    assert_eq!(
        set.rules[2].kind,
        RuleKind::User {
            name: "app".into(),
            uid: 10001,
            gid: 10001,
            home: "/home/app".into(),
            shell: "/usr/sbin/nologin".into(),
            run_as: true,
            group: Some("apps".into())
        }
    );
    let RuleKind::FileMode { mode, file_type, .. } = &set.rules[7].kind else { panic!() };
    assert_eq!((*mode, *file_type), (Some(0o640), Some(FileType::File)));
    assert_eq!(set.rules[5].kind, RuleKind::NologinShells { shell: "/usr/sbin/nologin".into() });
    assert_eq!(set.rules[16].kind, RuleKind::Volumes { deny: vec!["/proc".into(), "/sys".into(), "/dev".into()] });
    assert_eq!(set.rules[9].kind, RuleKind::RemoveShells { force: true });
}

#[test]
fn unknown_kind_names_line_and_rule() {
    let e = err("[ruleset]\nname = \"x\"\n\n[[rule]]\nid = \"r1\"\nkind = \"strip-setiud\"\n");
    assert!(e.contains("t.toml line 6") && e.contains("\"r1\"") && e.contains("unknown kind"), "{e}");
    assert!(e.contains("did you mean `strip-setuid`"), "{e}");
}

#[test]
fn typo_keys_are_refused_with_their_line() {
    let e = err(
        "[ruleset]\nname = \"x\"\n[[rule]]\nid = \"app-user\"\nkind = \"user\"\nname = \"app\"\nuid = 1\ngid = 1\nrun_as = true\n",
    );
    assert!(e.contains("line 9") && e.contains("\"app-user\"") && e.contains("unknown key `run_as`"), "{e}");
    assert!(e.contains("did you mean `run-as`"), "{e}");

    let e = err("[ruleset]\nname = \"x\"\n[[rule]]\nid = \"s\"\nkind = \"strip-setuid\"\nalow = [\"/bin/su\"]\n");
    assert!(e.contains("line 6") && e.contains("\"s\"") && e.contains("`alow`; did you mean `allow`"), "{e}");

    let e = err("[ruleset]\nname = \"x\"\nnmae = \"y\"\n");
    assert!(e.contains("line 3") && e.contains("unknown key `nmae`"), "{e}");
}

#[test]
fn missing_and_mistyped_keys() {
    let e = err("[ruleset]\nname = \"x\"\n\n[[rule]]\nid = \"u\"\nkind = \"user\"\nname = \"app\"\ngid = 1\n");
    assert!(e.contains("line 4") && e.contains("\"u\"") && e.contains("missing required key `uid`"), "{e}");
    let e =
        err("[ruleset]\nname = \"x\"\n[[rule]]\nid = \"u\"\nkind = \"user\"\nname = \"app\"\nuid = \"1\"\ngid = 1\n");
    assert!(e.contains("line 7") && e.contains("`uid` must be an integer"), "{e}");
    let e = err("[ruleset]\nname = \"x\"\n[[rule]]\nid = \"m\"\nkind = \"file-mode\"\npath = \"/x\"\nmode = \"999\"\n");
    assert!(e.contains("line 7") && e.contains("octal"), "{e}");
    let e = err("[ruleset]\nname = \"x\"\n[[rule]]\nkind = \"secrets\"\n");
    assert!(e.contains("line 3") && e.contains("without an `id`"), "{e}");
    let e = err("[ruleset]\nname = \"x\"\n[[rule]]\nid = \"s\"\nkind = \"secrets\"\nseverity = \"urgent\"\n");
    assert!(e.contains("line 6") && e.contains("unknown severity"), "{e}");
    let e = err("[ruleset]\nname = \"x\"\n[[rule]\nid = \"s\"\n");
    assert!(e.contains("line 3"), "TOML syntax errors carry the line: {e}");
}

#[test]
fn duplicate_ids_and_unsafe_paths() {
    let e = err(
        "[ruleset]\nname = \"x\"\n[[rule]]\nid = \"a\"\nkind = \"secrets\"\n\n[[rule]]\nid = \"a\"\nkind = \"secrets\"\n",
    );
    assert!(e.contains("line 7") && e.contains("duplicate rule id") && e.contains("line 3"), "{e}");
    let e = err(
        "[ruleset]\nname = \"x\"\n[[rule]]\nid = \"c\"\nkind = \"remove-contents\"\npaths = [\"/var/cache/../../etc\"]\n",
    );
    assert!(e.contains("line 6") && e.contains("\"c\"") && e.contains("`..`"), "{e}");
    let e = err("[ruleset]\nname = \"x\"\n[[rule]]\nid = \"p\"\nkind = \"file-mode\"\npath = \"etc/motd\"\n");
    assert!(e.contains("line 6") && e.contains("not absolute"), "{e}");
    let e = err("[ruleset]\nname = \"x\"\n[[rule]]\nid = \"s\"\nkind = \"strip-setuid\"\nallow = [\"/a/../b\"]\n");
    assert!(e.contains("`..`"), "{e}");
}

#[test]
fn extends_merges_and_overrides_by_id() {
    let set = RuleSet::from_str(
        "[ruleset]\nname = \"mine\"\nextends = \"builtin:baseline\"\n\n[[rule]]\nid = \"no-setuid\"\nkind = \"strip-setuid\"\n\n[[rule]]\nid = \"extra\"\nkind = \"env\"\nunset = [\"X\"]\n",
        "t.toml",
    )
    .unwrap();
    let base = RuleSet::builtin("baseline").unwrap();
    let ids: Vec<&str> = set.rules.iter().map(|r| r.id.as_str()).collect();
    let mut want: Vec<&str> = base.rules.iter().map(|r| r.id.as_str()).collect();
    want.push("extra");
    assert_eq!(ids, want, "base rules first, in place when overridden, then the file's");
    assert!(set.rules[0].allow.is_empty(), "the override replaced the base rule");
    assert!(!base.rules[0].allow.is_empty());
    let e = err("[ruleset]\nname = \"x\"\nextends = \"builtin:nope\"\n");
    assert!(e.contains("line 3") && e.contains("no such built-in"), "{e}");
}

#[test]
fn builtins_parse_and_load() {
    for name in RuleSet::builtin_names() {
        let set = RuleSet::load(&format!("builtin:{name}")).unwrap();
        assert_eq!(set.name, name);
    }
    let strict = RuleSet::builtin("strict").unwrap();
    assert!(strict.rules.iter().any(|r| r.id == "app-user"));
    assert!(RuleSet::load("builtin:missing").unwrap_err().to_string().contains("known: baseline, strict"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.toml");
    std::fs::write(&path, EVERY_KIND).unwrap();
    assert_eq!(RuleSet::load(path.to_str().unwrap()).unwrap().rules.len(), 17);
}

#[test]
fn digest_ignores_layout_and_follows_rules() {
    let a = RuleSet::from_str("[ruleset]\nname = \"x\"\n[[rule]]\nid = \"s\"\nkind = \"strip-setuid\"\n", "a").unwrap();
    let b = RuleSet::from_str(
        "# comment\n[ruleset]\n  name=\"x\"   # trailing\n\n\n[[rule]]\nkind = \"strip-setuid\"\nid = \"s\"\nseverity = \"medium\"\n",
        "b",
    )
    .unwrap();
    assert_eq!(a.digest(), b.digest());
    let c = RuleSet::from_str(
        "[ruleset]\nname = \"x\"\n[[rule]]\nid = \"s\"\nkind = \"strip-setuid\"\nallow = [\"/x\"]\n",
        "c",
    )
    .unwrap();
    assert_ne!(a.digest(), c.digest());
    assert_ne!(RuleSet::builtin("baseline").unwrap().digest(), RuleSet::builtin("strict").unwrap().digest());
}

#[test]
fn durations_like_go() {
    assert_eq!(parse::parse_duration_ns("1m30s"), Some(90_000_000_000));
    assert_eq!(parse::parse_duration_ns("500ms"), Some(500_000_000));
    assert_eq!(parse::parse_duration_ns("30"), None);
    assert_eq!(parse::parse_duration_ns(""), None);
}

// ---------------------------------------------------------------------------------------
// Evaluation helpers

type Entry = (String, EntryMeta, Vec<u8>);

fn file(path: &str, mode: u32, content: &[u8]) -> Entry {
    (path.into(), EntryMeta::file(mode, content.len() as u64), content.to_vec())
}
fn dir(path: &str, mode: u32) -> Entry {
    (path.into(), EntryMeta::dir(mode), Vec::new())
}
fn link(path: &str, target: &str) -> Entry {
    (path.into(), EntryMeta::symlink(target), Vec::new())
}

/// A test image: its layers (kept to add a fix layer on top), filesystem and config.
struct Img {
    layers: Vec<Vec<Entry>>,
    config: ImageConfig,
    fs: MergedFs,
    _dir: tempfile::TempDir,
}

fn build(layers: Vec<Vec<Entry>>, config: ImageConfig) -> Img {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).unwrap();
    let borrowed: Vec<Vec<(&str, EntryMeta, &[u8])>> =
        layers.iter().map(|l| l.iter().map(|(p, m, c)| (p.as_str(), m.clone(), c.as_slice())).collect()).collect();
    write_layers(&layout, "t", &borrowed).unwrap();
    let source = ImageSource::open(&format!("oci:{}:t", dir.path().display()).parse().unwrap()).unwrap();
    let fs = MergedFs::build_capturing(&source.image(None).unwrap(), |p| p.starts_with("etc/")).unwrap();
    Img { layers, config, fs, _dir: dir }
}

fn config(runtime: Value) -> ImageConfig {
    let doc = json!({"architecture": "amd64", "os": "linux", "config": runtime, "rootfs": {"type": "layers", "diff_ids": []}});
    ImageConfig::parse(&serde_json::to_vec(&doc).unwrap(), "test config").unwrap()
}

fn rules(body: &str) -> RuleSet {
    RuleSet::from_str(&format!("[ruleset]\nname = \"t\"\n{body}"), "t.toml").unwrap()
}

fn eval(img: &Img, set: &RuleSet) -> Evaluation {
    evaluate(set, &CheckInput { fs: &img.fs, config: &img.config, media_type_is_docker: false })
}

/// Applies the fixes as the patch writer would: one layer on top, config edits in place.
fn apply(img: &Img, fixes: &[Fix]) -> Img {
    let mut cfg = img.config.clone();
    apply_config(&mut cfg, fixes);
    let mut layers = img.layers.clone();
    layers.push(fix_entries(&img.fs, fixes));
    build(layers, cfg)
}

/// The layer entries of the fixes (paths relative, whiteouts as `.wh.` files).
fn fix_entries(fs: &MergedFs, fixes: &[Fix]) -> Vec<Entry> {
    let mut layer = Vec::new();
    for fix in fixes {
        match fix {
            Fix::SetMeta { path, meta } => {
                let content = if meta.kind == EntryKind::File { fs.read(path).unwrap() } else { Vec::new() };
                layer.push((path[1..].to_owned(), meta.clone(), content));
            }
            Fix::WriteFile { path, meta, content } => {
                assert_eq!(meta.size, content.len() as u64);
                layer.push((path[1..].to_owned(), meta.clone(), content.clone()));
            }
            Fix::Mkdir { path, meta } => layer.push((path[1..].to_owned(), meta.clone(), Vec::new())),
            Fix::Symlink { path, target, meta } => {
                let mut meta = meta.clone();
                meta.link = Some(target.clone());
                layer.push((path[1..].to_owned(), meta, Vec::new()));
            }
            Fix::Whiteout { path } => {
                let (parent, name) = path.rsplit_once('/').unwrap();
                let wh = format!("{}/.wh.{name}", parent.trim_start_matches('/'));
                layer.push((wh.trim_start_matches('/').to_owned(), EntryMeta::file(0o644, 0), Vec::new()));
            }
            Fix::Config(_) | Fix::Annotation { .. } => {}
        }
    }
    layer
}

fn apply_config(cfg: &mut ImageConfig, fixes: &[Fix]) {
    for fix in fixes {
        if let Fix::Config(edit) = fix {
            edit_config(cfg, edit);
        }
    }
}

fn edit_config(cfg: &mut ImageConfig, edit: &ConfigChange) {
    let mut env: Vec<String> = cfg.env().into_iter().map(str::to_owned).collect();
    match edit {
        ConfigChange::User(u) => cfg.set_user(u),
        ConfigChange::SetLabel(k, v) => cfg.set_label(k, v),
        ConfigChange::SetEnv(k, v) => {
            env.retain(|e| !e.starts_with(&format!("{k}=")));
            env.push(format!("{k}={v}"));
            cfg.set_runtime("Env", json!(env));
        }
        ConfigChange::UnsetEnv(k) => {
            env.retain(|e| !e.starts_with(&format!("{k}=")));
            cfg.set_runtime("Env", json!(env));
        }
        ConfigChange::Healthcheck(h) => cfg.set_runtime("Healthcheck", h.clone()),
        ConfigChange::RemoveVolume(v) => {
            let mut vols = cfg.runtime().and_then(|r| r.get("Volumes")).cloned().unwrap_or(json!({}));
            vols.as_object_mut().unwrap().remove(v);
            cfg.set_runtime("Volumes", vols);
        }
    }
}

fn only(e: &Evaluation) -> &RuleResult {
    assert_eq!(e.results.len(), 1);
    &e.results[0]
}

fn paths(fixes: &[Fix]) -> Vec<String> {
    fixes.iter().filter_map(|f| f.path().map(str::to_owned)).collect()
}

/// Evaluates, applies the fixes, and checks that a second evaluation passes with no fixes.
fn fixed_then_idempotent(img: &Img, set: &RuleSet) -> (Evaluation, Img) {
    let first = eval(img, set);
    let fixed = apply(img, &first.fixes());
    let again = eval(&fixed, set);
    for r in &again.results {
        if r.action == Action::Fix && !matches!(r.outcome, RuleOutcome::Skip { .. }) {
            assert_eq!(r.outcome, RuleOutcome::Pass, "{}: {:?}", r.rule_id, r.findings);
        }
        assert!(r.fixes.is_empty(), "{}: {:?}", r.rule_id, r.fixes);
    }
    (first, fixed)
}

fn text(img: &Img, path: &str) -> String {
    String::from_utf8(img.fs.read(path).unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------
// Evaluation, per kind

#[test]
fn strip_setuid_clears_bits_outside_allow_and_breaks_hardlinks() {
    let mut hard = EntryMeta::file(0o4755, 0);
    hard.kind = EntryKind::Hardlink;
    hard.link = Some("usr/bin/passwd".into());
    let img = build(
        vec![vec![
            file("usr/bin/passwd", 0o4755, b"pw"),
            file("usr/bin/su", 0o4755, b"su"),
            file("usr/bin/wall", 0o2755, b"wall"),
            file("usr/bin/ok", 0o755, b"ok"),
            ("usr/bin/passwd2".into(), hard, Vec::new()),
            dir("srv", 0o2775),
        ]],
        config(json!({})),
    );
    let set = rules("[[rule]]\nid = \"s\"\nkind = \"strip-setuid\"\nallow = [\"/usr/bin/su\"]\n");
    let (first, fixed) = fixed_then_idempotent(&img, &set);
    let r = only(&first);
    assert_eq!(r.outcome, RuleOutcome::Fail);
    assert_eq!(paths(&r.fixes), ["/usr/bin/passwd", "/usr/bin/passwd2", "/usr/bin/wall"]);
    let Fix::SetMeta { meta, .. } = &r.fixes[1] else { panic!() };
    assert_eq!((meta.kind, meta.mode), (EntryKind::File, 0o755), "a hardlink is re-added as a file");
    assert!(r.findings[2].message.contains("setgid (mode 2755"), "{}", r.findings[2].message);
    assert_eq!(fixed.fs.get("usr/bin/su").unwrap().meta.mode, 0o4755);
    assert_eq!(fixed.fs.get("srv").unwrap().meta.mode, 0o2775, "directories keep setgid");
}

#[test]
fn remove_contents_whiteouts_children_and_keeps_directories() {
    let img = build(
        vec![vec![
            dir("tmp", 0o1777),
            file("tmp/a", 0o644, b"a"),
            dir("tmp/sub", 0o755),
            file("tmp/sub/b", 0o644, b"b"),
            dir("var/cache/apt/archives", 0o755),
            file("var/cache/apt/pkgcache.bin", 0o644, b"c"),
            link("var/tmp", "/tmp"),
            file("var/keep", 0o644, b"k"),
        ]],
        config(json!({})),
    );
    let set = rules(
        "[[rule]]\nid = \"c\"\nkind = \"remove-contents\"\npaths = [\"/tmp\", \"/var/tmp\", \"/var/cache/apt\", \"/nope\"]\n",
    );
    let (first, fixed) = fixed_then_idempotent(&img, &set);
    assert_eq!(
        paths(&only(&first).fixes),
        ["/tmp/a", "/tmp/sub", "/var/cache/apt/archives", "/var/cache/apt/pkgcache.bin"]
    );
    assert_eq!(fixed.fs.get("tmp").unwrap().meta.mode, 0o1777);
    assert!(fixed.fs.get("var/cache/apt").is_some() && fixed.fs.get("var/keep").is_some());
    assert_eq!(fixed.fs.walk("tmp").count(), 1);
}

const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/bin/sh\nsync:x:4:65534:sync:/bin:/bin/sync\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const GROUP: &[u8] = b"root:x:0:\ndaemon:x:1:\nusers:x:100:\nnogroup:x:65534:\n";
const SHADOW: &[u8] = b"root:$6$salt$hash:19000:0:99999:7:::\ndaemon::19000:0:99999:7:::\nsync:*:19000:0:99999:7:::\nnobody:!:19000:0:99999:7:::\n";

fn accounts_image(cfg: ImageConfig) -> Img {
    build(
        vec![vec![
            dir("etc", 0o755),
            file("etc/passwd", 0o644, PASSWD),
            file("etc/group", 0o644, GROUP),
            (
                "etc/shadow".into(),
                EntryMeta { gid: 42, ..EntryMeta::file(0o640, SHADOW.len() as u64) },
                SHADOW.to_vec(),
            ),
            dir("home", 0o755),
            file("usr/sbin/nologin", 0o755, b"\x7fELF"),
        ]],
        cfg,
    )
}

const APP_USER: &str = "[[rule]]\nid = \"u\"\nkind = \"user\"\nname = \"app\"\nuid = 10001\ngid = 10001\nhome = \"/home/app\"\nshell = \"/usr/sbin/nologin\"\nrun-as = true\n";

#[test]
fn user_is_added_with_group_locked_shadow_home_and_run_as() {
    let img = accounts_image(config(json!({"User": "root"})));
    let (first, fixed) = fixed_then_idempotent(&img, &rules(APP_USER));
    let r = only(&first);
    assert_eq!(paths(&r.fixes), ["/etc/group", "/etc/passwd", "/etc/shadow", "/home/app"]);
    assert_eq!(r.fixes.last(), Some(&Fix::Config(ConfigChange::User("10001:10001".into()))));
    assert!(text(&fixed, "etc/passwd").ends_with(
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\napp:x:10001:10001::/home/app:/usr/sbin/nologin\n"
    ));
    assert!(text(&fixed, "etc/group").ends_with("app:x:10001:\n"));
    assert!(text(&fixed, "etc/shadow").ends_with("app:!:::::::\n"));
    let shadow = &fixed.fs.get("etc/shadow").unwrap().meta;
    assert_eq!((shadow.mode, shadow.gid), (0o640, 42), "a rewritten file keeps its mode and owner");
    let home = &fixed.fs.get("home/app").unwrap().meta;
    assert_eq!((home.kind, home.mode, home.uid, home.gid), (EntryKind::Dir, 0o750, 10001, 10001));
    assert_eq!(fixed.config.user(), Some("10001:10001"));
}

#[test]
fn user_collisions_are_errors_without_fixes() {
    let img = accounts_image(config(json!({})));
    let collide = |body: &str| {
        let e = eval(&img, &rules(body));
        let r = only(&e);
        assert!(r.fixes.is_empty());
        match &r.outcome {
            RuleOutcome::Error { message } => message.clone(),
            other => panic!("{other:?}"),
        }
    };
    let m = collide(&APP_USER.replace("uid = 10001", "uid = 1"));
    assert!(m.contains("uid 1 is already used by account \"daemon\""), "{m}");
    let m = collide(&APP_USER.replace("gid = 10001", "gid = 100"));
    assert!(m.contains("gid 100 is already used by group \"users\"") && m.contains("group = \"users\""), "{m}");
    let m = collide(&APP_USER.replace("name = \"app\"", "name = \"daemon\""));
    assert!(m.contains("account \"daemon\" already exists") && m.contains("1:1, not 10001:10001"), "{m}");
    // Joining an existing group by name is fine.
    let e = eval(&img, &rules(&format!("{}group = \"users\"\n", APP_USER.replace("gid = 10001", "gid = 100"))));
    assert_eq!(only(&e).outcome, RuleOutcome::Fail);
    assert!(!paths(&only(&e).fixes).contains(&"/etc/group".to_owned()));
}

#[test]
fn passwd_and_shadow_edits_compose_into_one_write_each() {
    let img = accounts_image(config(json!({})));
    let set = rules(&format!(
        "{APP_USER}\n[[rule]]\nid = \"l\"\nkind = \"lock-accounts\"\n\n[[rule]]\nid = \"n\"\nkind = \"nologin-shells\"\n"
    ));
    let (first, fixed) = fixed_then_idempotent(&img, &set);
    let lock = &first.results[1];
    assert_eq!(lock.findings.len(), 2, "{:?}", lock.findings);
    assert!(lock.findings.iter().any(|f| f.message.contains("daemon has an empty password")));
    assert!(lock.findings.iter().any(|f| f.message.contains("root has a usable password hash")));
    let nologin = &first.results[2];
    assert_eq!(nologin.findings.len(), 1, "root and /bin/sync are left alone: {:?}", nologin.findings);
    let all = first.fixes();
    let writes: Vec<&str> = all.iter().filter(|f| matches!(f, Fix::WriteFile { .. })).filter_map(Fix::path).collect();
    assert_eq!(writes, ["/etc/group", "/etc/passwd", "/etc/shadow"], "one write per file");
    assert_eq!(
        text(&fixed, "etc/passwd"),
        "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nsync:x:4:65534:sync:/bin:/bin/sync\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\napp:x:10001:10001::/home/app:/usr/sbin/nologin\n"
    );
    assert_eq!(
        text(&fixed, "etc/shadow"),
        "root:!$6$salt$hash:19000:0:99999:7:::\ndaemon:!:19000:0:99999:7:::\nsync:*:19000:0:99999:7:::\nnobody:!:19000:0:99999:7:::\napp:!:::::::\n"
    );
}

#[test]
fn lock_accounts_allow_list_and_missing_files() {
    let img = accounts_image(config(json!({})));
    let e = eval(&img, &rules("[[rule]]\nid = \"l\"\nkind = \"lock-accounts\"\nallow = [\"root\", \"daemon\"]\n"));
    assert_eq!(only(&e).outcome, RuleOutcome::Pass);
    let empty = build(vec![vec![file("bin/app", 0o755, b"x")]], config(json!({})));
    let e = eval(&empty, &rules("[[rule]]\nid = \"l\"\nkind = \"lock-accounts\"\n"));
    assert!(matches!(only(&e).outcome, RuleOutcome::Skip { .. }));
}

#[test]
fn nologin_falls_back_to_sbin_nologin() {
    let img = build(
        vec![vec![
            file("etc/passwd", 0o644, b"root:x:0:0::/root:/bin/ash\nbob:x:1000:1000::/home/bob:/bin/ash\n"),
            link("sbin/nologin", "/bin/busybox"),
            file("bin/busybox", 0o755, b"bb"),
        ]],
        config(json!({})),
    );
    let (first, fixed) =
        fixed_then_idempotent(&img, &rules("[[rule]]\nid = \"n\"\nkind = \"nologin-shells\"\nallow = []\n"));
    assert_eq!(only(&first).findings.len(), 1);
    assert!(text(&fixed, "etc/passwd").contains("bob:x:1000:1000::/home/bob:/sbin/nologin"));
}

#[test]
fn remove_paths_whiteouts_topmost_matches() {
    let img = build(
        vec![vec![
            file("app/a.pyc", 0o644, b"1"),
            file("app/lib/b.pyc", 0o644, b"2"),
            file("app/lib/b.py", 0o644, b"3"),
            dir("opt/x", 0o755),
            file("opt/x/y.pyc", 0o644, b"4"),
            file("keep/c.pyc", 0o644, b"5"),
        ]],
        config(json!({})),
    );
    let set = rules(
        "[[rule]]\nid = \"p\"\nkind = \"remove-paths\"\npaths = [\"/**/*.pyc\", \"/opt/x\"]\nallow = [\"/keep/**\"]\n",
    );
    let (first, _) = fixed_then_idempotent(&img, &set);
    assert_eq!(paths(&only(&first).fixes), ["/app/a.pyc", "/app/lib/b.pyc", "/opt/x"]);
}

#[test]
fn world_writable_spares_sticky_dirs_symlinks_and_allow() {
    let img = build(
        vec![vec![
            dir("tmp", 0o1777),
            dir("data", 0o777),
            file("data/f", 0o666, b"f"),
            file("shared/ok", 0o666, b"o"),
            link("l", "/data"),
        ]],
        config(json!({})),
    );
    let set = rules("[[rule]]\nid = \"w\"\nkind = \"world-writable\"\nallow = [\"/shared/*\"]\n");
    let (first, fixed) = fixed_then_idempotent(&img, &set);
    assert_eq!(paths(&only(&first).fixes), ["/data", "/data/f"]);
    assert_eq!(fixed.fs.get("data").unwrap().meta.mode, 0o775);
    assert_eq!(fixed.fs.read("data/f").unwrap(), b"f", "content is kept");
    // Check action: findings, no fixes.
    let e = eval(&img, &rules("[[rule]]\nid = \"w\"\nkind = \"world-writable\"\naction = \"check\"\n"));
    assert_eq!((only(&e).outcome.clone(), only(&e).findings.len(), only(&e).fixes.len()), (RuleOutcome::Fail, 3, 0));
}

#[test]
fn file_mode_creates_and_adjusts() {
    let img = build(
        vec![vec![file("etc/motd", 0o666, b"old\n"), file("usr/bin/tool", 0o777, b"t"), link("etc/localtime", "/x")]],
        config(json!({})),
    );
    let set = rules(concat!(
        "[[rule]]\nid = \"a\"\nkind = \"file-mode\"\npath = \"/etc/motd\"\nmode = \"0644\"\ncontent = \"hardened\\n\"\n",
        "[[rule]]\nid = \"b\"\nkind = \"file-mode\"\npath = \"/usr/bin/tool\"\nmode = \"0755\"\nuid = 0\ngid = 0\n",
        "[[rule]]\nid = \"c\"\nkind = \"file-mode\"\npath = \"/srv/data\"\nfile-type = \"dir\"\nmode = \"0700\"\nuid = 10001\n",
        "[[rule]]\nid = \"d\"\nkind = \"file-mode\"\npath = \"/etc/localtime\"\nfile-type = \"symlink\"\ntarget = \"/usr/share/zoneinfo/UTC\"\n",
        "[[rule]]\nid = \"e\"\nkind = \"file-mode\"\npath = \"/missing\"\nmode = \"0600\"\naction = \"check\"\n",
    ));
    let first = eval(&img, &set);
    let fixed = apply(&img, &first.fixes());
    assert_eq!(text(&fixed, "etc/motd"), "hardened\n");
    assert_eq!(fixed.fs.get("etc/motd").unwrap().meta.mode, 0o644);
    assert_eq!(fixed.fs.get("usr/bin/tool").unwrap().meta.mode, 0o755);
    assert_eq!(fixed.fs.read("usr/bin/tool").unwrap(), b"t");
    let d = &fixed.fs.get("srv/data").unwrap().meta;
    assert_eq!((d.kind, d.mode, d.uid), (EntryKind::Dir, 0o700, 10001));
    assert_eq!(fixed.fs.get("etc/localtime").unwrap().meta.link.as_deref(), Some("/usr/share/zoneinfo/UTC"));
    let again = eval(&fixed, &set);
    for r in &again.results[..4] {
        assert_eq!((r.outcome.clone(), r.fixes.len()), (RuleOutcome::Pass, 0), "{}", r.rule_id);
    }
    assert_eq!(again.results[4].outcome, RuleOutcome::Fail, "a missing path without file-type is a finding");
}

fn shell_image(cfg: ImageConfig) -> Img {
    build(
        vec![vec![
            file("bin/busybox", 0o755, b"bb"),
            link("bin/sh", "/bin/busybox"),
            link("bin/ash", "/bin/busybox"),
            file("usr/bin/bash", 0o755, b"bash"),
            link("usr/bin/sh", "bash"),
            file("app/run.sh", 0o755, b"#!/usr/bin/env bash\nexec /app/server\n"),
            file("app/server", 0o755, b"\x7fELF"),
        ]],
        cfg,
    )
}

#[test]
fn remove_shells_refuses_a_shell_entrypoint_unless_forced() {
    let body = "[[rule]]\nid = \"s\"\nkind = \"remove-shells\"\n";
    for (cfg, why) in [
        (json!({"Entrypoint": ["/bin/sh", "-c", "x"]}), "runs /bin/sh"),
        (json!({"Cmd": ["sh"]}), "runs sh"),
        (json!({"Entrypoint": ["/app/run.sh"]}), "script run by /usr/bin/env bash"),
    ] {
        let img = shell_image(config(cfg));
        let e = eval(&img, &rules(body));
        match &only(&e).outcome {
            RuleOutcome::Error { message } => {
                assert!(message.contains(why) && message.contains("force = true"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert!(only(&e).fixes.is_empty());
        let forced = eval(&img, &rules(&format!("{body}force = true\n")));
        assert_eq!(only(&forced).outcome, RuleOutcome::Fail);
        assert_eq!(paths(&only(&forced).fixes), ["/bin/ash", "/bin/sh", "/usr/bin/bash", "/usr/bin/sh"]);
    }
    let img = shell_image(config(json!({"Entrypoint": ["/app/server"]})));
    let (first, fixed) = fixed_then_idempotent(&img, &rules(body));
    assert!(only(&first).findings.iter().any(|f| f.message.contains("busybox applet")));
    assert!(fixed.fs.get("bin/busybox").is_some());
    let check = eval(&shell_image(config(json!({"Cmd": ["/bin/sh"]}))), &rules(&format!("{body}action = \"check\"\n")));
    assert_eq!(only(&check).outcome, RuleOutcome::Fail, "a check reports instead of refusing");
}

#[test]
fn remove_package_manager_keeps_databases() {
    let img = build(
        vec![vec![
            file("usr/bin/apt-get", 0o755, b"a"),
            file("usr/bin/dpkg", 0o755, b"d"),
            file("var/lib/dpkg/status", 0o644, b"Package: x\n"),
            link("bin", "usr/bin"),
        ]],
        config(json!({"Cmd": ["/app"]})),
    );
    let (first, fixed) =
        fixed_then_idempotent(&img, &rules("[[rule]]\nid = \"p\"\nkind = \"remove-package-manager\"\n"));
    assert_eq!(paths(&only(&first).fixes), ["/usr/bin/apt-get", "/usr/bin/dpkg"]);
    assert!(fixed.fs.get("var/lib/dpkg/status").is_some());
    let e = eval(
        &build(img.layers.clone(), config(json!({"Entrypoint": ["apt-get", "install"]}))),
        &rules("[[rule]]\nid = \"p\"\nkind = \"remove-package-manager\"\n"),
    );
    assert!(matches!(only(&e).outcome, RuleOutcome::Error { .. }));
}

#[test]
fn secrets_in_files_and_env() {
    let key = b"-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n";
    let img = build(
        vec![vec![
            file("root/.ssh/id_rsa", 0o600, key),
            file("root/.ssh/id_rsa.pub", 0o644, b"ssh-rsa AAA"),
            file("srv/tls/server.key", 0o600, b"-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"),
            file("etc/ssl/certs/ca.pem", 0o644, b"-----BEGIN CERTIFICATE-----\nx\n"),
            file("app/.env", 0o644, b"DB=x"),
            file("app/.env.example", 0o644, b"DB="),
            file("app/.git/config", 0o644, b"[core]"),
            file("app/.git/HEAD", 0o644, b"ref"),
            file("home/u/.aws/credentials", 0o600, b"[default]"),
            file("root/.docker/config.json", 0o600, br#"{"auths":{"r":{"auth":"eDp5"}}}"#),
            file("etc/vendor/.docker/config.json", 0o644, br#"{"credsStore":"x"}"#),
        ]],
        config(
            json!({"Env": ["PATH=/bin", "AWS_SECRET_ACCESS_KEY=abc", "GPG_KEY=ABCD", "DB_PASSWORD_FILE=/run/s", "API_TOKEN="]}),
        ),
    );
    let (first, _) = fixed_then_idempotent(&img, &rules("[[rule]]\nid = \"s\"\nkind = \"secrets\"\n"));
    let r = only(&first);
    assert_eq!(
        paths(&r.fixes),
        [
            "/app/.env",
            "/app/.git",
            "/home/u/.aws/credentials",
            "/root/.docker/config.json",
            "/root/.ssh/id_rsa",
            "/srv/tls/server.key"
        ]
    );
    assert!(r.fixes.contains(&Fix::Config(ConfigChange::UnsetEnv("AWS_SECRET_ACCESS_KEY".into()))));
    assert_eq!(r.fixes.iter().filter(|f| f.path().is_none()).count(), 1);
    assert!(r.findings[0].message.contains("lower layers"), "{}", r.findings[0].message);
    let allowed = eval(
        &img,
        &rules(
            "[[rule]]\nid = \"s\"\nkind = \"secrets\"\nallow = [\"/app/**\", \"/app/.git\", \"/app/.env\", \"AWS_SECRET_ACCESS_KEY\"]\n",
        ),
    );
    assert_eq!(paths(&only(&allowed).fixes).len(), 4, "{:?}", only(&allowed).fixes);
    assert!(only(&allowed).fixes.iter().all(|f| f.path().is_some()));
}

#[test]
fn config_rules_labels_env_volumes_healthcheck_annotations() {
    let img = build(
        vec![vec![file("x", 0o644, b"x")]],
        config(
            json!({"Env": ["DEBUG=1", "LANG=C"], "Labels": {"a": "1"}, "Volumes": {"/data": {}, "/proc/sys": {}, "/dev": {}}}),
        ),
    );
    let set = rules(concat!(
        "[[rule]]\nid = \"l\"\nkind = \"labels\"\nset = { a = \"1\", b = \"2\" }\n",
        "[[rule]]\nid = \"e\"\nkind = \"env\"\nset = { LANG = \"C.UTF-8\" }\nunset = [\"DEBUG\", \"ABSENT\"]\n",
        "[[rule]]\nid = \"v\"\nkind = \"volumes\"\n",
        "[[rule]]\nid = \"h\"\nkind = \"healthcheck\"\ntest = [\"CMD\", \"/healthz\"]\ninterval = \"30s\"\nretries = 3\n",
        "[[rule]]\nid = \"a\"\nkind = \"annotations\"\nset = { \"org.opencontainers.image.base.name\" = \"x\" }\n",
    ));
    let e = eval(&img, &set);
    assert_eq!(e.results[0].fixes, [Fix::Config(ConfigChange::SetLabel("b".into(), "2".into()))]);
    assert_eq!(
        e.results[1].fixes,
        [
            Fix::Config(ConfigChange::SetEnv("LANG".into(), "C.UTF-8".into())),
            Fix::Config(ConfigChange::UnsetEnv("DEBUG".into()))
        ]
    );
    assert_eq!(
        e.results[2].fixes,
        [
            Fix::Config(ConfigChange::RemoveVolume("/dev".into())),
            Fix::Config(ConfigChange::RemoveVolume("/proc/sys".into()))
        ]
    );
    match &e.results[3].outcome {
        RuleOutcome::Skip { reason } => assert!(reason.contains("not part of the OCI image config"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        e.results[4].fixes,
        [Fix::Annotation { key: "org.opencontainers.image.base.name".into(), value: "x".into() }]
    );

    let docker = evaluate(&set, &CheckInput { fs: &img.fs, config: &img.config, media_type_is_docker: true });
    assert_eq!(
        docker.results[3].fixes,
        [Fix::Config(ConfigChange::Healthcheck(
            json!({"Test": ["CMD", "/healthz"], "Interval": 30_000_000_000u64, "Retries": 3})
        ))]
    );
    let fixed = apply(&img, &docker.fixes());
    let again = evaluate(&set, &CheckInput { fs: &fixed.fs, config: &fixed.config, media_type_is_docker: true });
    for r in &again.results[..4] {
        assert_eq!(r.outcome, RuleOutcome::Pass, "{}", r.rule_id);
    }
}

#[test]
fn composed_fixes_drop_plans_below_a_later_whiteout() {
    let img = build(vec![vec![dir("opt/app", 0o777), file("opt/app/f", 0o666, b"f")]], config(json!({})));
    let set = rules(concat!(
        "[[rule]]\nid = \"w\"\nkind = \"world-writable\"\n",
        "[[rule]]\nid = \"p\"\nkind = \"remove-paths\"\npaths = [\"/opt/app\"]\n"
    ));
    let e = eval(&img, &set);
    assert_eq!(e.fixes(), [Fix::Whiteout { path: "/opt/app".into() }]);
    let first: BTreeMap<_, _> = e.results.iter().map(|r| (r.rule_id.as_str(), r.fixes.len())).collect();
    assert_eq!(first, BTreeMap::from([("p", 1), ("w", 2)]));
}

// ---------------------------------------------------------------------------------------
// Built-in profiles on the shipped Alpine 3.20.3 minirootfs (examples/alpine, tag 3.20).

#[test]
fn builtin_profiles_on_alpine() {
    let layout = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/alpine");
    let source = ImageSource::open(&format!("oci:{layout}:3.20").parse().unwrap()).unwrap();
    let image = source.image(None).unwrap();
    let strict = RuleSet::builtin("strict").unwrap();
    let fs = MergedFs::build_capturing(&image, strict.capture()).unwrap();
    let input = CheckInput { fs: &fs, config: image.config(), media_type_is_docker: false };
    let outcome = |e: &Evaluation, id: &str| e.results.iter().find(|r| r.rule_id == id).unwrap().clone();

    let base = evaluate(&RuleSet::builtin("baseline").unwrap(), &input);
    assert!(base.results.iter().all(|r| !matches!(r.outcome, RuleOutcome::Error { .. })), "{base:?}");
    // Alpine 3.20.3's minirootfs has no setuid file (busybox is 0755, no bbsuid), root is
    // `*` and every other account `!` in /etc/shadow, and /tmp, /var/tmp are sticky 1777.
    for id in ["no-setuid", "locked-accounts", "no-world-writable", "no-sensitive-volumes", "no-secrets"] {
        assert_eq!(outcome(&base, id).outcome, RuleOutcome::Pass, "{id}: {:?}", outcome(&base, id).findings);
    }
    // /var/cache/apk, /tmp and /var/tmp are empty directories already.
    assert_eq!(outcome(&base, "no-caches").outcome, RuleOutcome::Pass);
    assert!(base.fixes().is_empty());

    let e = evaluate(&strict, &input);
    assert!(e.results.iter().all(|r| !matches!(r.outcome, RuleOutcome::Error { .. })), "{e:?}");
    let user = outcome(&e, "app-user");
    assert_eq!(paths(&user.fixes), ["/etc/group", "/etc/passwd", "/etc/shadow", "/home/app"]);
    assert_eq!(outcome(&e, "nologin-shells").outcome, RuleOutcome::Pass, "only root has a shell");
    // Cmd ["/bin/sh"]: the shells check reports the applets and that a fix would be refused.
    let shells = outcome(&e, "no-shells");
    assert_eq!((shells.outcome, shells.fixes.len()), (RuleOutcome::Fail, 0));
    assert!(shells.findings.iter().any(|f| f.message.contains("the entrypoint runs /bin/sh")));
    assert!(shells.findings.iter().any(|f| f.path.as_deref() == Some("/bin/ash")));
    let pm = outcome(&e, "no-package-manager");
    assert_eq!(pm.findings.iter().filter_map(|f| f.path.as_deref()).collect::<Vec<_>>(), ["/sbin/apk"]);
    let fixes = e.fixes();
    assert_eq!(
        paths(&fixes),
        ["/etc/group", "/etc/passwd", "/etc/shadow", "/home/app"],
        "strict on Alpine changes only the account files and the home"
    );
    assert!(fixes.contains(&Fix::Config(ConfigChange::User("10001:10001".into()))));
}

/// Strict (with the shells and package manager fixed, forced) on Alpine, applied as a layer
/// over the real base layer, then evaluated again: nothing left to fix.
#[test]
fn strict_fixes_on_alpine_are_idempotent() {
    let example = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/alpine"));
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).unwrap();
    for blob in std::fs::read_dir(example.join("blobs/sha256")).unwrap() {
        let blob = blob.unwrap();
        std::fs::copy(blob.path(), dir.path().join("blobs/sha256").join(blob.file_name())).unwrap();
    }
    let reference = format!("oci:{}:3.20", example.display());
    let base = ImageSource::open(&reference.parse().unwrap()).unwrap().image(None).unwrap();
    let set = RuleSet::from_str(
        concat!(
            "[ruleset]\nname = \"s\"\nextends = \"builtin:strict\"\n",
            "[[rule]]\nid = \"no-shells\"\nkind = \"remove-shells\"\nforce = true\n",
            "[[rule]]\nid = \"no-package-manager\"\nkind = \"remove-package-manager\"\n",
        ),
        "t.toml",
    )
    .unwrap();
    let fs = MergedFs::build_capturing(&base, set.capture()).unwrap();
    let first = evaluate(&set, &CheckInput { fs: &fs, config: base.config(), media_type_is_docker: false });
    assert!(first.results.iter().all(|r| !matches!(r.outcome, RuleOutcome::Error { .. })), "{first:?}");
    let fixes = first.fixes();
    let passwd = fixes.iter().find_map(|f| match f {
        Fix::WriteFile { path, content, .. } if path == "/etc/passwd" => {
            Some(String::from_utf8(content.clone()).unwrap())
        }
        _ => None,
    });
    assert!(passwd.unwrap().ends_with("app:x:10001:10001::/home/app:/sbin/nologin\n"), "Alpine's nologin is used");

    // One layer over the base, as the patch writer would write it.
    let mut entries = fix_entries(&fs, &fixes);
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut w = oci_core::LayerWriter::new(layout.blob_writer().unwrap(), oci_core::Compression::Gzip, 0).unwrap();
    for (path, meta, content) in &entries {
        w.append(path, meta, content.as_slice()).unwrap();
    }
    let (blob, written) = w.finish().unwrap();
    blob.finish().unwrap();
    let mut config = base.config().clone();
    apply_config(&mut config, &fixes);
    config.push_layer(&written.diff_id, json!({"created_by": "test"}));
    let config_bytes = config.to_bytes();
    let config_digest = layout.write_blob(&config_bytes).unwrap();
    let mut manifest = serde_json::to_value(base.manifest()).unwrap();
    manifest["config"]["digest"] = json!(config_digest.to_string());
    manifest["config"]["size"] = json!(config_bytes.len());
    manifest["layers"].as_array_mut().unwrap().push(json!(oci_core::Descriptor::new(
        oci_core::MediaType::OciLayerGzip,
        written.digest,
        written.size
    )));
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let digest = layout.write_blob(&manifest).unwrap();
    layout
        .set_tag(
            Some("hardened"),
            &oci_core::Descriptor::new(oci_core::MediaType::OciManifest, digest, manifest.len() as u64),
        )
        .unwrap();

    let hardened = ImageSource::open(&format!("oci:{}:hardened", dir.path().display()).parse().unwrap())
        .unwrap()
        .image(None)
        .unwrap();
    let fs = MergedFs::build_capturing(&hardened, set.capture()).unwrap();
    let again = evaluate(&set, &CheckInput { fs: &fs, config: hardened.config(), media_type_is_docker: false });
    for r in &again.results {
        assert_eq!((&r.outcome, r.fixes.len()), (&RuleOutcome::Pass, 0), "{}: {:?}", r.rule_id, r.findings);
    }
    assert!(fs.get("bin/sh").is_none() && fs.get("sbin/apk").is_none() && fs.get("lib/apk/db/installed").is_some());
    assert_eq!(hardened.config().user(), Some("10001:10001"));
}

#[test]
fn a_later_mode_change_keeps_an_earlier_rewrite() {
    let img = accounts_image(config(json!({})));
    let set = rules(&format!(
        "{APP_USER}\n[[rule]]\nid = \"m\"\nkind = \"file-mode\"\npath = \"/etc/passwd\"\nmode = \"0600\"\n"
    ));
    let (first, fixed) = fixed_then_idempotent(&img, &set);
    let all = first.fixes();
    let Some(Fix::WriteFile { meta, content, .. }) = all.iter().find(|f| f.path() == Some("/etc/passwd")) else {
        panic!("{all:?}")
    };
    assert_eq!((meta.mode, meta.size), (0o600, content.len() as u64));
    assert!(text(&fixed, "etc/passwd").contains("app:x:10001"));
}

mod prop {
    use proptest::prelude::*;

    use super::super::RuleSet;

    const KEYS: &[&str] =
        &["id", "kind", "allow", "paths", "name", "uid", "gid", "run-as", "mode", "severity", "action"];
    const VALUES: &[&str] =
        &["\"x\"", "1", "true", "[\"/a\"]", "\"user\"", "\"strip-setuid\"", "\"/../x\"", "{ a = \"b\" }"];

    proptest! {
        /// Any input is parsed or refused, never a panic; errors name the rule file.
        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
            if let Err(e) = RuleSet::from_str(&s, "p.toml") {
                prop_assert!(e.to_string().contains("p.toml"));
            }
        }

        /// Rule tables made of known keys and odd values: parsed or refused with a line.
        #[test]
        fn rule_tables_of_known_keys(pairs in proptest::collection::vec((0..KEYS.len(), 0..VALUES.len()), 0..8)) {
            let mut text = String::from("[ruleset]\nname = \"p\"\n[[rule]]\n");
            let mut seen = std::collections::BTreeSet::new();
            for (k, v) in pairs {
                if seen.insert(k) {
                    text.push_str(&format!("{} = {}\n", KEYS[k], VALUES[v]));
                }
            }
            match RuleSet::from_str(&text, "p.toml") {
                Ok(set) => prop_assert_eq!(RuleSet::from_str(&text, "q.toml").unwrap().digest(), set.digest()),
                Err(e) => prop_assert!(e.to_string().contains(" line "), "{}", e),
            }
        }
    }
}

#[test]
fn a_rule_file_past_the_limit_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.toml");
    let mut text = String::from("[ruleset]\nname = \"huge\"\n");
    while (text.len() as u64) <= MAX_RULE_FILE_BYTES {
        text.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    std::fs::write(&path, &text).unwrap();
    let err = RuleSet::from_path(&path).unwrap_err().to_string();
    assert!(err.contains("huge.toml") && err.contains(&format!("limit of {MAX_RULE_FILE_BYTES} bytes")), "{err}");
    // At the limit it is read.
    text.truncate(MAX_RULE_FILE_BYTES as usize);
    std::fs::write(&path, &text).unwrap();
    assert_eq!(RuleSet::from_path(&path).unwrap().name, "huge");
}
