//! Fleets (issue 12): up to date means no work, `batch` over several images on the real
//! registry (counted through a recording proxy in front of it), and the `deploy/` files
//! judged by the real validators.
//!
//! The registry is the real CNCF distribution registry on loopback; the [`FaultProxy`] with
//! no faults only counts what `oci-harden` asks of it.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::harness::{
    Auth, FaultPlan, FaultProxy, Home, RawLayout, Registry, Route, TarLayer, Traffic, fixture, oci_harden, oci_ref,
    repo_root, require_tool, skopeo_digest, skopeo_push, standard_fixture, tempdir,
};

/// A rule that applies to any image: write `/etc/hardened`.
const MARKER_RULES: &str = "[ruleset]\nname = \"marker\"\n\n[[rule]]\nid = \"marker\"\nkind = \"file-mode\"\n\
                            path = \"/etc/hardened\"\nmode = \"0644\"\ncontent = \"yes\\n\"\n";

/// A layout with one small image per tag (`img0`, `img1`…), each with its own `/etc/motd`
/// saying `text` and its number.
fn small_images(dir: &Path, count: usize, text: &str) -> std::path::PathBuf {
    let layout_dir = dir.join(format!("images-{text}"));
    let mut layout = RawLayout::create(&layout_dir);
    for i in 0..count {
        let layer = TarLayer::new().dir("etc", 0o755).file("etc/motd", 0o644, format!("{text} {i}\n").as_bytes());
        let desc = layout.image(&[layer.finish()]);
        layout.tag(&format!("img{i}"), &desc);
    }
    layout_dir
}

/// Requests of each kind, for messages and assertions.
fn counts(t: &Traffic) -> String {
    [
        ("ping", Route::Ping),
        ("manifest GET", Route::ManifestGet),
        ("manifest HEAD", Route::ManifestHead),
        ("manifest PUT", Route::ManifestPut),
        ("blob GET", Route::BlobGet),
        ("blob HEAD", Route::BlobHead),
        ("upload", Route::Upload),
        ("other", Route::Other),
    ]
    .iter()
    .map(|(name, r)| format!("{name}: {}", t.of(*r).len()))
    .collect::<Vec<_>>()
    .join(", ")
}

fn report(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).expect("the report was written")).expect("the report is JSON")
}

/// The job of `report` writing `dst` (by its suffix).
fn job<'a>(report: &'a Value, dst: &str) -> &'a Value {
    report["jobs"].as_array().unwrap().iter().find(|j| j["dst"].as_str().unwrap().ends_with(dst)).unwrap()
}

/// `harden` into a registry and into an `oci:` layout: the second run finds the destination
/// up to date (prints it with the digest, exits 0) and pushes nothing — through the proxy,
/// it costs the source's and the destination's manifest (the config is in the blob cache)
/// and no upload or manifest PUT; `--force` builds and pushes again (the same digest:
/// hardening is reproducible); other rules are not up to date.
#[test]
fn harden_twice_is_up_to_date() {
    let t = tempdir();
    let registry = Registry::start(Auth::Anonymous);
    let proxy = FaultProxy::start(&registry.host(), FaultPlan::none());
    let home = Home::new();
    let images = small_images(t.path(), 1, "single");
    skopeo_push(&oci_ref(&images, Some("img0")), &registry.image("src/single:1"), None);
    let rules = t.path().join("marker.toml");
    fs::write(&rules, MARKER_RULES).unwrap();
    let rules = rules.to_str().unwrap();
    let (src, dst) = (proxy.image("src/single:1"), proxy.image("hardened/single:1"));

    let first = home.oci_harden(&["harden", &src, &dst, "--rules", rules, "-q"]).ok();
    let digest = first.text().split_whitespace().last().unwrap().to_owned();
    assert_eq!(digest, skopeo_digest(&format!("docker://{}", registry.image("hardened/single:1")), None));
    proxy.take_traffic();

    let second = home.oci_harden(&["harden", &src, &dst, "--rules", rules, "-q"]).ok();
    assert_eq!(second.text(), format!("up to date: {dst} {digest}\n"));
    let traffic = proxy.take_traffic();
    assert!(traffic.of(Route::ManifestPut).is_empty() && traffic.of(Route::Upload).is_empty(), "{}", counts(&traffic));
    assert_eq!(traffic.of(Route::ManifestGet).len(), 2, "source and destination: {}", counts(&traffic));
    assert_eq!(traffic.blob_gets(), 0, "the config is in the cache: {}", counts(&traffic));
    assert!(traffic.0.len() <= 3, "a handful of requests: {}\n{}", counts(&traffic), traffic.describe());

    let forced = home.oci_harden(&["harden", &src, &dst, "--rules", rules, "-q", "--force"]).ok();
    assert_eq!(forced.text(), format!("{dst} {digest}\n"), "rebuilt, the same bytes");
    assert_eq!(proxy.take_traffic().of(Route::ManifestPut).len(), 1, "--force pushes the manifest again");

    let other = home.oci_harden(&["harden", &src, &dst, "--rules", "builtin:baseline", "-q"]).ok();
    assert!(!other.text().starts_with("up to date"), "other rules: {}", other.text());

    // A new base under the source tag (its config not in the cache yet): rebuilt.
    let moved = small_images(t.path(), 1, "moved");
    skopeo_push(&oci_ref(&moved, Some("img0")), &registry.image("src/single:1"), None);
    let rebuilt = home.oci_harden(&["harden", &src, &dst, "--rules", rules, "-q"]).ok();
    assert!(!rebuilt.text().starts_with("up to date"), "a moved base: {}", rebuilt.text());
    assert_ne!(rebuilt.text().split_whitespace().last(), Some(digest.as_str()));

    // An oci: layout destination: the same, without a registry.
    let layout_dst = oci_ref(&t.path().join("out"), Some("single"));
    let local_src = oci_ref(&images, Some("img0"));
    let cache = t.path().join("cache");
    let cache = cache.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["harden", &local_src, &layout_dst, "--rules", rules, "-q", "--cache", cache];
        args.extend(extra);
        home.oci_harden(&args).ok()
    };
    let first = run(&[]);
    let digest = first.text().split_whitespace().last().unwrap().to_owned();
    assert!(!first.text().starts_with("up to date"), "{}", first.text());
    assert_eq!(run(&[]).text(), format!("up to date: {layout_dst} {digest}\n"));
    // A report asked for is work wanted: built (the same digest) and written.
    let report = t.path().join("report.json");
    let with_report = run(&["--report", report.to_str().unwrap()]);
    assert_eq!(with_report.text(), format!("{layout_dst} {digest}\n"));
    assert!(report.exists());
}

/// The batch of the issue: several images on the loopback registry. The first run updates
/// them all; the second finds all up to date and pushes nothing (at most 3 requests a
/// job); a new base pushed under one source tag re-hardens only that image; a job whose
/// source does not exist fails alone (exit 2) while another, whose base moved too, is
/// updated in the same run. The report's digests are the registry's.
#[test]
fn batch_updates_then_does_nothing() {
    let t = tempdir();
    let registry = Registry::start(Auth::Anonymous);
    let proxy = FaultProxy::start(&registry.host(), FaultPlan::none());
    let home = Home::new();
    let names = ["a", "b", "c", "d"];
    let v1 = small_images(t.path(), names.len(), "v1");
    let v2 = small_images(t.path(), names.len(), "v2");
    for (i, n) in names.iter().enumerate() {
        skopeo_push(&oci_ref(&v1, Some(&format!("img{i}"))), &registry.image(&format!("src/{n}:1")), None);
    }
    fs::write(t.path().join("marker.toml"), MARKER_RULES).unwrap();
    let mut file = String::from("[defaults]\nrules = \"marker.toml\"\n");
    for n in names {
        file.push_str(&format!(
            "\n[[image]]\nsrc = \"{}\"\ndst = \"{}\"\n",
            proxy.image(&format!("src/{n}:1")),
            proxy.image(&format!("hardened/{n}:1"))
        ));
    }
    let batch = t.path().join("fleet.toml");
    fs::write(&batch, &file).unwrap();
    let (batch, out) = (batch.to_str().unwrap().to_owned(), t.path().join("report.json"));
    let run = |extra: &[&str]| {
        let mut args = vec!["batch", batch.as_str(), "--jobs", "3", "--report", out.to_str().unwrap()];
        args.extend(extra);
        home.oci_harden(&args)
    };
    let pushed = |n: &str| skopeo_digest(&format!("docker://{}", registry.image(&format!("hardened/{n}:1"))), None);

    // 1. Everything is new.
    let first = run(&[]).ok();
    let r1 = report(&out);
    assert_eq!(r1["summary"]["updated"], 4, "{}", first.text());
    for n in names {
        let j = job(&r1, &format!("hardened/{n}:1"));
        assert_eq!((j["result"].as_str(), &j["previous"]), (Some("updated"), &Value::Null), "{j:#}");
        assert_eq!(j["digest"], pushed(n).as_str(), "{j:#}");
        assert_eq!(j["findingsBefore"], 1, "the marker rule fails before: {j:#}");
        assert_eq!(j["findingsAfter"], 0, "{j:#}");
    }
    assert!(
        first.stderr.lines().filter(|l| l.starts_with("updated")).count() == 4,
        "a line per job:\n{}",
        first.stderr
    );
    proxy.take_traffic();

    // 2. Nothing changed: nothing built or pushed.
    let second = run(&[]).ok();
    let traffic = proxy.take_traffic();
    let r2 = report(&out);
    assert_eq!(r2["summary"]["upToDate"], 4, "{}", second.text());
    for n in names {
        let (j1, j2) = (job(&r1, &format!("hardened/{n}:1")), job(&r2, &format!("hardened/{n}:1")));
        assert_eq!(
            (j2["result"].as_str(), &j2["digest"], &j2["previous"]),
            (Some("up-to-date"), &j1["digest"], &j1["digest"])
        );
    }
    assert!(traffic.of(Route::ManifestPut).is_empty() && traffic.of(Route::Upload).is_empty(), "{}", counts(&traffic));
    assert!(traffic.0.len() <= 3 * names.len(), "at most 3 requests a job: {}", counts(&traffic));

    // 3. A new base under src/b:1: only b is hardened again.
    skopeo_push(&oci_ref(&v2, Some("img1")), &registry.image("src/b:1"), None);
    run(&[]).ok();
    let traffic = proxy.take_traffic();
    let r3 = report(&out);
    assert_eq!((r3["summary"]["updated"].as_u64(), r3["summary"]["upToDate"].as_u64()), (Some(1), Some(3)));
    let b = job(&r3, "hardened/b:1");
    assert_eq!((b["result"].as_str(), &b["previous"]), (Some("updated"), &job(&r1, "hardened/b:1")["digest"]), "{b:#}");
    assert_ne!(b["digest"], b["previous"]);
    assert_eq!(b["digest"], pushed("b").as_str());
    let puts = traffic.of(Route::ManifestPut);
    assert!(!puts.is_empty() && puts.iter().all(|e| e.target.contains("/hardened/b/")), "{}", traffic.describe());

    // 4. A broken job fails alone; the others complete (d's base moved: it is updated).
    fs::write(
        &batch,
        format!(
            "{file}\n[[image]]\nsrc = \"{}\"\ndst = \"{}\"\n",
            proxy.image("src/missing:1"),
            proxy.image("hardened/missing:1")
        ),
    )
    .unwrap();
    skopeo_push(&oci_ref(&v2, Some("img3")), &registry.image("src/d:1"), None);
    let broken = run(&[]);
    assert_eq!(broken.code, Some(2), "{}", broken.describe());
    let r4 = report(&out);
    let missing = job(&r4, "hardened/missing:1");
    assert_eq!(missing["result"], "failed", "{missing:#}");
    assert!(missing["error"].as_str().unwrap().contains("src/missing"), "{missing:#}");
    assert_eq!(job(&r4, "hardened/d:1")["result"], "updated");
    assert_eq!(job(&r4, "hardened/d:1")["digest"], pushed("d").as_str());
    for n in ["a", "b", "c"] {
        assert_eq!(job(&r4, &format!("hardened/{n}:1"))["result"], "up-to-date");
    }
    assert_eq!(
        (r4["summary"]["failed"].as_u64(), r4["summary"]["updated"].as_u64(), r4["summary"]["upToDate"].as_u64()),
        (Some(1), Some(1), Some(3))
    );
    assert!(broken.text().contains("5 jobs (shard 0/1): 1 updated, 3 up to date, 1 failed"), "{}", broken.text());

    // The shards of the file: each job in exactly one of 3 shards, the same each time.
    let mut listed: Vec<String> = Vec::new();
    for i in 0..3 {
        let shard = format!("{i}/3");
        let run = home.oci_harden(&["batch", batch.as_str(), "--shard", &shard, "--list"]).ok();
        assert_eq!(home.oci_harden(&["batch", batch.as_str(), "--shard", &shard, "--list"]).ok().stdout, run.stdout);
        listed.extend(run.text().lines().map(|l| l.split_whitespace().next().unwrap().to_owned()));
    }
    listed.sort();
    let mut all: Vec<String> =
        names.iter().chain(&["missing"]).map(|n| proxy.image(&format!("hardened/{n}:1"))).collect();
    all.sort();
    assert_eq!(listed, all);
}

/// One platform of a multi-platform index (the regclient fixture: linux/amd64, linux/arm64
/// and two attestations, in a layout): hardened once, then up to date (the platform left
/// alone is compared by digest); with every platform asked for, not up to date, then up to
/// date.
#[test]
fn one_platform_of_an_index_twice() {
    let t = tempdir();
    let home = Home::new();
    let rules = t.path().join("marker.toml");
    fs::write(&rules, MARKER_RULES).unwrap();
    let rules = rules.to_str().unwrap();
    let src = oci_ref(&fixture("regclient-testrepo"), Some("v1"));
    let dst = oci_ref(&t.path().join("out"), Some("v1"));
    let cache = t.path().join("cache");
    let cache = cache.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["harden", &src, &dst, "--rules", rules, "-q", "--cache", cache];
        args.extend(extra);
        home.oci_harden(&args).ok()
    };
    let first = run(&["--platform", "linux/amd64"]);
    let digest = first.text().split_whitespace().last().unwrap().to_owned();
    assert!(!first.text().starts_with("up to date"), "{}", first.text());
    assert_eq!(run(&["--platform", "linux/amd64"]).text(), format!("up to date: {dst} {digest}\n"));
    let all = run(&[]);
    assert!(!all.text().starts_with("up to date"), "arm64 was not hardened yet: {}", all.text());
    let digest = all.text().split_whitespace().last().unwrap().to_owned();
    assert_eq!(run(&[]).text(), format!("up to date: {dst} {digest}\n"));
}

/// One platform of a registry index hardened into another repository: the new index keeps
/// the other platform, whose blobs the destination needs too, so skopeo copies the result
/// whole; the chosen platform's entry is new, the other's is the source's.
#[test]
fn one_platform_of_a_registry_index_into_another_repository() {
    let t = tempdir();
    let registry = Registry::start(Auth::Anonymous);
    let home = Home::new();
    skopeo_push(&oci_ref(&fixture("regclient-testrepo"), Some("v1")), &registry.image("src/multi:1"), None);
    let rules = t.path().join("marker.toml");
    fs::write(&rules, MARKER_RULES).unwrap();
    let (src, dst) = (registry.image("src/multi:1"), registry.image("hardened/multi:1"));
    let cache = t.path().join("cache");
    home.oci_harden(&[
        "harden",
        &src,
        &dst,
        "--rules",
        rules.to_str().unwrap(),
        "--platform",
        "linux/amd64",
        "-q",
        "--cache",
        cache.to_str().unwrap(),
    ])
    .ok();
    let entries = |reference: &str| -> Vec<(String, String)> {
        let raw = crate::harness::tool("skopeo", &["inspect", "--raw", "--tls-verify=false", reference]).ok();
        let index: Value = serde_json::from_slice(&raw.stdout).unwrap();
        index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let p = &m["platform"];
                (
                    format!("{}/{}", p["os"].as_str().unwrap(), p["architecture"].as_str().unwrap()),
                    m["digest"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let (before, after) = (entries(&format!("docker://{src}")), entries(&format!("docker://{dst}")));
    assert_eq!(before.len(), after.len(), "{after:?}");
    for ((platform, old), (same, new)) in before.iter().zip(&after) {
        assert_eq!(platform, same);
        assert_eq!(platform == "linux/amd64", old != new, "{platform}: {old} → {new}");
    }
    let copy = t.path().join("copy");
    crate::harness::tool(
        "skopeo",
        &[
            "copy",
            "--quiet",
            "--all",
            "--src-tls-verify=false",
            &format!("docker://{dst}"),
            &format!("oci:{}:c", copy.display()),
        ],
    )
    .ok();
}

/// `patch` twice into a layout: the second run resolves the same upgrade set and finds the
/// destination up to date; another upgrade set (`--packages hello`: one package, not the
/// three the scan selects) is not up to date, and `--force` patches again to the same
/// digest (reproducible).
#[test]
fn patch_twice_is_up_to_date_for_the_same_upgrades() {
    let fixture = standard_fixture();
    let tmp = tempdir();
    let db = crate::patch_cli::advisory_db(tmp.path());
    let db = db.to_str().unwrap();
    let cache = tmp.path().join("cache");
    let cache = cache.to_str().unwrap();
    let src = fixture.image.reference();
    let dst = oci_ref(&tmp.path().join("out"), Some("patched"));
    let patch = |extra: &[&str]| {
        let mut args = vec!["patch", &src, &dst, "--db", db, "--cache", cache, "--scripts", "warn", "-q"];
        args.extend(extra);
        oci_harden(&args).ok()
    };
    let first = patch(&[]);
    let digest = first.text().split_whitespace().last().unwrap().to_owned();
    assert!(!first.text().starts_with("up to date"), "{}", first.text());
    assert_eq!(patch(&[]).text(), format!("up to date: {dst} {digest}\n"));
    let forced = patch(&["--force"]);
    assert_eq!(forced.text().split_whitespace().last(), Some(digest.as_str()), "{}", forced.text());
    let other = patch(&["--packages", "hello"]);
    assert!(!other.text().starts_with("up to date"), "another upgrade set: {}", other.text());
    assert_ne!(other.text().split_whitespace().last(), Some(digest.as_str()));
}

/// A batch file with a mistake is refused before anything runs, naming the job.
#[test]
fn batch_file_errors_name_the_job() {
    let t = tempdir();
    let batch = t.path().join("bad.toml");
    fs::write(
        &batch,
        "[[image]]\nsrc = \"a.example/x:1\"\ndst = \"b.example/x:1\"\n[[image]]\nsrc = \"a.example/y:1\"\n",
    )
    .unwrap();
    Home::new().oci_harden(&["batch", batch.to_str().unwrap()]).fails_with(&["bad.toml", "job 2", "dst"]);
}

// ---------------------------------------------------------------------------------------
// deploy/

fn validate(tool_name: &str, args: &[&str], file: &Path) -> std::process::Output {
    std::process::Command::new(require_tool(tool_name)).args(args).arg(file).output().unwrap()
}

#[track_caller]
fn accepted(tool_name: &str, args: &[&str], file: &Path) {
    let out = validate(tool_name, args, file);
    assert!(
        out.status.success(),
        "{tool_name} refused {}:\n{}{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The deployment files pass the real validators (kubernetes-validate for the Job and the
/// CronJob, check-jsonschema with its GitHub-workflow and GitLab-CI schemas), and each
/// validator refuses a broken copy (so it does look). Each runs `batch --shard` over as
/// many shards as it starts, with the hardening the issue asks for; the fleet files parse.
#[test]
fn deploy_files_pass_the_validators() {
    let deploy = repo_root().join("deploy");
    let t = tempdir();
    let k8s = ["--strict"];
    let github = ["--builtin-schema", "vendor.github-workflows"];
    let gitlab = ["--builtin-schema", "vendor.gitlab-ci"];
    // (validator, its arguments, the file, (a line in it, the same line broken)).
    type Case<'a> = (&'a str, &'a [&'a str], &'a str, (&'a str, &'a str));
    let cases: [Case<'_>; 4] = [
        ("kubernetes-validate", &k8s, "kubernetes/job.yaml", ("completions: 4", "completions: four")),
        (
            "kubernetes-validate",
            &k8s,
            "kubernetes/cronjob.yaml",
            ("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: yes please"),
        ),
        ("check-jsonschema", &github, "ci/github-actions.yml", ("runs-on: ubuntu-latest", "runs-on: [[]]")),
        ("check-jsonschema", &gitlab, "ci/gitlab-ci.yml", ("parallel: 4", "parallel: four")),
    ];
    for (validator, args, rel, (good, bad)) in cases {
        let file = deploy.join(rel);
        accepted(validator, args, &file);
        let text = fs::read_to_string(&file).unwrap();
        assert!(text.contains(good), "{rel} lacks {good:?}");
        let broken = t.path().join(rel.replace('/', "-"));
        fs::write(&broken, text.replace(good, bad)).unwrap();
        assert!(!validate(validator, args, &broken).status.success(), "{validator} accepted a broken {rel}");
    }
    for rel in ["kubernetes/job.yaml", "kubernetes/cronjob.yaml"] {
        let text = fs::read_to_string(deploy.join(rel)).unwrap();
        for needle in [
            "completionMode: Indexed",
            "completions: 4",
            "- $(JOB_COMPLETION_INDEX)/4",
            "runAsNonRoot: true",
            "readOnlyRootFilesystem: true",
            "allowPrivilegeEscalation: false",
            "emptyDir:",
            "secretName: oci-harden-registry",
            "key: .dockerconfigjson",
            "value: /etc/oci-harden/docker",
        ] {
            assert!(text.contains(needle), "{rel} lacks {needle:?}");
        }
    }
    let gh = fs::read_to_string(deploy.join("ci/github-actions.yml")).unwrap();
    assert!(
        gh.contains("shard: [0, 1, 2, 3]")
            && gh.contains("SHARDS: \"4\"")
            && gh.contains("--shard \"${{ matrix.shard }}/$SHARDS\"")
    );
    let gl = fs::read_to_string(deploy.join("ci/gitlab-ci.yml")).unwrap();
    assert!(gl.contains("--shard \"$((CI_NODE_INDEX - 1))/$CI_NODE_TOTAL\""));

    // The fleet files parse (the ConfigMap's copy too), and 4 shards list each job once.
    let job = fs::read_to_string(deploy.join("kubernetes/job.yaml")).unwrap();
    let start = job.find("  fleet.toml: |\n").expect("the ConfigMap holds fleet.toml") + "  fleet.toml: |\n".len();
    let embedded: String = job[start..]
        .lines()
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
        .collect();
    let embedded_path = t.path().join("configmap-fleet.toml");
    fs::write(&embedded_path, embedded).unwrap();
    let home = Home::new();
    for file in [deploy.join("fleet.toml"), embedded_path] {
        let file = file.to_str().unwrap();
        let all = home.oci_harden(&["batch", file, "--list"]).ok();
        let mut shards: Vec<String> = (0..4)
            .flat_map(|i| {
                let run = home.oci_harden(&["batch", file, "--shard", &format!("{i}/4"), "--list"]).ok();
                run.text().lines().map(str::to_owned).collect::<Vec<_>>()
            })
            .collect();
        let mut whole: Vec<String> = all.text().lines().map(str::to_owned).collect();
        shards.sort();
        whole.sort();
        assert!(whole.len() >= 2);
        assert_eq!(shards, whole, "{file}");
    }
}
