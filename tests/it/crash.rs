//! Crash consistency of what `oci-harden` writes, judged by `oci-harden verify`:
//!
//! - `pull`, `copy` and `harden` from the real CNCF registry on loopback into a layout and
//!   the blob cache, killed with SIGKILL after a random delay: afterwards the layout and
//!   the cache hold no corrupt blob and no tag to a missing blob (the only findings
//!   allowed are temporary files of the killed writer), and rerunning the command
//!   completes and leaves both clean. `OCI_HARDEN_CRASH_TRIALS=N` runs N trials instead
//!   of the short CI form; `OCI_HARDEN_CRASH_SEED` replays a run;
//! - a full filesystem (a small tmpfs): a clear error naming the path, no temporary files,
//!   `index.json` unchanged;
//! - processes hardening different tags into one layout at once: every tag kept.

#![allow(clippy::print_stderr)] // the crash trials print their seed (to replay) and their tally

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::harness::{
    Auth, RawLayout, Registry, Run, TarLayer, bin, example_layout, oci_harden, oci_ref, read_json, skopeo_push, tempdir,
};

/// A small deterministic generator (xorshift64*), seeded per run and printed, so a failing
/// run can be replayed.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("OCI_HARDEN_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1) | 1
        });
        eprintln!("crash trials: OCI_HARDEN_CRASH_SEED={seed}");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// `oci-harden ARGS` in an isolated environment (no user config, the cache given by
/// `--cache` in the arguments).
fn command(env: &Path, args: &[String]) -> Command {
    let mut c = Command::new(bin());
    c.args(args)
        .env("HOME", env)
        .env("DOCKER_CONFIG", env.join("docker"))
        .env("REGISTRY_AUTH_FILE", env.join("auth.json"))
        .env("XDG_CACHE_HOME", env.join("xdg-cache"))
        .env("XDG_CONFIG_HOME", env.join("config"))
        .env("XDG_RUNTIME_DIR", env.join("runtime"))
        .env_remove("OCI_HARDEN_CACHE")
        .stdin(Stdio::null());
    c
}

fn run(env: &Path, args: &[String]) -> Run {
    let out = command(env, args).output().expect("running oci-harden");
    Run {
        command: format!("oci-harden {}", args.join(" ")),
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `args` and kills it with SIGKILL after `delay`; returns whether it had finished
/// already.
fn run_and_kill(env: &Path, args: &[String], delay: Duration) -> bool {
    let mut child = command(env, args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawning");
    let deadline = Instant::now() + delay;
    while Instant::now() < deadline {
        if child.try_wait().expect("waiting").is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().expect("SIGKILL"); // std sends SIGKILL on Unix
    child.wait().expect("reaping");
    false
}

/// `oci-harden verify --format json` of the layout `dir`, if there is one yet: `None`
/// when the killed process had not created it (or only its `oci-layout` marker, in which
/// case there must be no `index.json` at all, not a partial one).
fn verify(dir: &Path) -> Option<(Option<i32>, Value)> {
    if !dir.join("index.json").exists() {
        return None;
    }
    let run = oci_harden(&["verify", "--format", "json", &oci_ref(dir, None)]);
    assert!(matches!(run.code, Some(0 | 1)), "verify {} could not run:\n{}", dir.display(), run.describe());
    Some((run.code, run.json()))
}

/// Panics unless the only problems are temporary files of the killed writer; returns
/// how many of those there were.
#[track_caller]
fn only_leftovers(dir: &Path, what: &str) -> usize {
    let Some((_, report)) = verify(dir) else { return 0 };
    let problems = report["problems"].as_array().expect("problems");
    let bad: Vec<&Value> = problems.iter().filter(|p| p["kind"] != "orphaned-temp-file").collect();
    assert!(bad.is_empty(), "{what}: {} is damaged after a kill: {report:#}", dir.display());
    problems.len()
}

#[track_caller]
fn clean(dir: &Path, what: &str) {
    let (code, report) = verify(dir).unwrap_or_else(|| panic!("{what}: {} is not a layout", dir.display()));
    assert_eq!(code, Some(0), "{what}: {} is not clean after the rerun: {report:#}", dir.display());
}

struct Job {
    name: &'static str,
    args: Vec<String>,
    /// The layout written, besides the cache.
    layout: Option<PathBuf>,
}

fn jobs(registry: &Registry, dir: &Path) -> Vec<Job> {
    let image = registry.image("alpine:3.20");
    let cache = dir.join("cache");
    let layout = dir.join("layout");
    let c = cache.to_str().unwrap().to_owned();
    let s = |v: &[&str]| v.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
    vec![
        Job { name: "pull", args: s(&["pull", "-q", &image, "--cache", &c]), layout: None },
        Job {
            name: "copy",
            args: s(&["copy", "-q", &image, &oci_ref(&layout, Some("copy")), "--cache", &c]),
            layout: Some(layout.clone()),
        },
        Job {
            name: "harden",
            args: s(&[
                "harden",
                "-q",
                &image,
                &oci_ref(&layout, Some("hard")),
                "--rules",
                "builtin:strict",
                "--cache",
                &c,
            ]),
            layout: Some(layout),
        },
    ]
}

#[test]
fn killed_pulls_copies_and_hardenings_leave_sound_layouts_and_reruns_complete() {
    let trials: usize = std::env::var("OCI_HARDEN_CRASH_TRIALS").ok().and_then(|s| s.parse().ok()).unwrap_or(12);
    let registry = Registry::start(Auth::Anonymous);
    skopeo_push(&oci_ref(&example_layout(), Some("3.20")), &registry.image("alpine:3.20"), None);
    let env = tempdir();
    let mut rng = Rng::new();

    // How long each job takes uninterrupted: kills are spread over that (and a bit more).
    let mut spans = Vec::new();
    for i in 0..3 {
        let dir = env.path().join(format!("calibrate-{i}"));
        let job = &jobs(&registry, &dir)[i];
        let started = Instant::now();
        run(env.path(), &job.args).ok();
        spans.push(started.elapsed().as_millis() as u64 * 5 / 4 + 5);
        let _ = job.layout.as_ref().map(|l| clean(l, job.name));
        clean(&dir.join("cache"), job.name);
    }

    let (mut finished, mut leftovers) = (0, 0);
    let started = Instant::now();
    for trial in 0..trials {
        let dir = env.path().join(format!("trial-{trial}"));
        let which = trial % 3;
        let job = &jobs(&registry, &dir)[which];
        let delay = Duration::from_millis(rng.below(spans[which]));
        let what = format!("trial {trial}: {} killed after {delay:?}", job.name);
        if run_and_kill(env.path(), &job.args, delay) {
            finished += 1;
        }
        leftovers += only_leftovers(&dir.join("cache"), &what);
        if let Some(layout) = &job.layout {
            leftovers += only_leftovers(layout, &what);
        }
        let rerun = run(env.path(), &job.args);
        assert_eq!(rerun.code, Some(0), "{what}: the rerun failed:\n{}", rerun.describe());
        clean(&dir.join("cache"), &what);
        if let Some(layout) = &job.layout {
            clean(layout, &what);
            let tag = if job.name == "copy" { "copy" } else { "hard" };
            let tags = read_json(&layout.join("index.json"))["manifests"].to_string();
            assert!(tags.contains(&format!("\"{tag}\"")), "{what}: tag {tag} missing after the rerun: {tags}");
        }
        let _ = fs::remove_dir_all(&dir);
    }
    eprintln!(
        "crash trials: {trials} kills ({finished} after the command had finished) in {:?}; {leftovers} temporary \
         files of killed writers found, removed by the reruns; no corrupt blob, no dangling tag",
        started.elapsed()
    );
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        crate::harness::require_root();
        let dir = tempdir();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("running mount");
        assert!(status.success(), "mounting a tmpfs on {} failed (the tests run as root)", dir.path().display());
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn temp_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".oci-harden-tmp-"))
        .collect();
    names.sort();
    names
}

#[test]
fn a_full_filesystem_gives_a_clear_error_and_leaves_the_layout_as_it_was() {
    let fs = Tmpfs::mount("1m");
    let dir = fs.path().join("layout");
    let mut small = RawLayout::create(&dir);
    let image = small.image(&[TarLayer::new().file("etc/motd", 0o644, b"small\n").finish()]);
    small.tag("small", &image);
    let index_before = fs::read(dir.join("index.json")).unwrap();

    // A 3.3 MiB layer does not fit in 1 MiB.
    let example = oci_ref(&example_layout(), Some("3.20"));
    let stderr = oci_harden(&["copy", "-q", &example, &oci_ref(&dir, Some("big"))])
        .fails_with(&["No space left on device", &format!("into {}: No space", dir.display())]);
    assert!(!stderr.contains(".oci-harden-tmp-"), "the error names no temporary file: {stderr}");
    assert_eq!(temp_files(&dir), Vec::<String>::new(), "{stderr}");
    assert_eq!(fs::read(dir.join("index.json")).unwrap(), index_before);
    oci_harden(&["verify", &oci_ref(&dir, None)]).ok();

    // The blobs are there but not even index.json can be rewritten: the tag is refused,
    // index.json is left whole.
    let filler = fs.path().join("filler");
    let mut f = fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 4096];
    while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
    drop(f);
    let again = oci_ref(&dir, Some("small-again"));
    let stderr = oci_harden(&["copy", "-q", &oci_ref(&dir, Some("small")), &again])
        .fails_with(&["No space left on device", "index.json"]);
    assert_eq!(temp_files(&dir), Vec::<String>::new(), "{stderr}");
    assert_eq!(fs::read(dir.join("index.json")).unwrap(), index_before);
    fs::remove_file(&filler).unwrap();
    oci_harden(&["verify", &oci_ref(&dir, None)]).ok();
}

#[test]
fn processes_hardening_into_one_layout_at_once_keep_every_tag() {
    const N: usize = 6;
    let t = tempdir();
    let layout = t.path().join("layout");
    let example = oci_ref(&example_layout(), Some("3.20"));
    let children: Vec<_> = (0..N)
        .map(|i| {
            let rules = if i % 2 == 0 { "builtin:strict" } else { "builtin:baseline" };
            let args: Vec<String> = [
                "harden",
                "-q",
                &example,
                &oci_ref(&layout, Some(&format!("t{i}"))),
                "--rules",
                rules,
                "--cache",
                t.path().join(format!("cache-{i}")).to_str().unwrap(),
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
            command(t.path(), &args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawning")
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "process {i}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let index = read_json(&layout.join("index.json"));
    let mut tags: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .collect();
    tags.sort();
    assert_eq!(tags, (0..N).map(|i| format!("t{i}")).collect::<Vec<_>>());
    let report = oci_harden(&["verify", "--format", "json", &oci_ref(&layout, None)]).ok().json();
    assert_eq!(report["clean"], true, "{report:#}");
    assert_eq!(temp_files(&layout), Vec::<String>::new());
}
