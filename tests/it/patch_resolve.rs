//! Resolving package upgrades (issue #9) against the harness's real signed repositories:
//! the versions chosen are the ones apt's own `apt-cache policy` names as candidates, the
//! hostile repositories are refused with their reason, and the blob cache holds nothing but
//! verified files and is not fetched twice.

use std::fs;
use std::path::Path;

use hardener::oci_core::{ImageSource, MergedFs};
use hardener::{
    RepoOptions, UpgradePlan, UpgradeReason, UpgradeRequest, UpgradeTarget, fetch_packages, resolve_upgrades,
};

use crate::harness::apt_repo::DpkgImage;
use crate::harness::{
    AptRepo, NEW_SUITE, OLD_SUITE, Variant, apt_policy, sha256_hex, standard_distroless, standard_fixture, tempdir,
};

fn merged(image: &DpkgImage) -> MergedFs {
    let source = ImageSource::open(&image.reference().parse().expect("reference")).expect("opening the image");
    MergedFs::build(&source.image(None).expect("the image")).expect("merging the layers")
}

fn options(cache: &Path) -> RepoOptions {
    let mut o = RepoOptions::default();
    o.cache = cache.to_owned();
    o
}

/// Options reading the image's own sources through a mirror rewrite to `to`.
fn mirrored(cache: &Path, repo: &AptRepo, to: &str) -> RepoOptions {
    let mut o = options(cache);
    o.mirrors = vec![format!("{}={to}", repo.file_uri()).parse().expect("mirror rule")];
    o
}

fn names(plan: &UpgradePlan) -> Vec<String> {
    plan.packages.iter().map(|p| format!("{}:{} {}", p.name, p.architecture, p.version)).collect()
}

/// Every file in the cache's blob directory is named by its own SHA256.
#[track_caller]
fn cache_is_verified(cache: &Path) -> usize {
    let listing = |d: &Path| -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(d)
            .map(|r| r.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        names
    };
    // No temporary or partial file anywhere.
    assert!(listing(cache).iter().all(|n| ["blobs", "index.json", "oci-layout"].contains(&n.as_str())), "{cache:?}");
    assert!(listing(&cache.join("blobs")).iter().all(|n| n == "sha256"), "{:?}", listing(&cache.join("blobs")));
    let dir = cache.join("blobs/sha256");
    let Ok(entries) = fs::read_dir(&dir) else { return 0 };
    let mut count = 0;
    for e in entries {
        let path = e.expect("entry").path();
        if path.is_dir() {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        assert_eq!(sha256_hex(&fs::read(&path).expect("reading a blob")), name, "unverified blob in the cache");
        count += 1;
    }
    count
}

#[test]
fn standard_fixture_resolves_to_apts_candidates_and_fetches_verified_debs() {
    let fixture = standard_fixture();
    let (repo, fs) = (&fixture.repo, merged(&fixture.image));
    let tmp = tempdir();
    let cache = tmp.path().join("cache");

    // One package: its new version and the new dependency, dependencies first.
    let plan = resolve_upgrades(&fs, &UpgradeRequest::Packages(vec!["hello".into()]), &options(&cache))
        .expect("resolving hello");
    assert_eq!(names(&plan), ["libbar1:amd64 1.0-1", "hello:amd64 1.0-1+deb12u1"]);
    assert_eq!(Some(plan.packages[1].version.clone()), apt_policy(repo, "hello").candidate);
    let libbar = &plan.packages[0];
    assert_eq!(libbar.reason, UpgradeReason::Dependency { by: "hello".into() });
    assert_eq!((libbar.installed.as_deref(), libbar.file.suite.as_str()), (None, NEW_SUITE));
    let hello = &plan.packages[1];
    assert_eq!((hello.installed.as_deref(), &hello.reason), (Some("1.0-1"), &UpgradeReason::Requested));
    assert_eq!((hello.source.as_str(), hello.source_version.as_str()), ("hello-src", "1.0-1+deb12u1"));
    assert_eq!(plan.architectures, ["amd64", "i386"]);
    assert_eq!(
        plan.sources,
        [format!("{} {OLD_SUITE} main", repo.file_uri()), format!("{} {NEW_SUITE} main", repo.file_uri())]
    );
    assert!(plan.warnings.is_empty() && plan.unfixable.is_empty(), "{plan:?}");

    // Everything with a newer version, like apt-get upgrade: apt's candidates, exactly.
    let mut plan = resolve_upgrades(&fs, &UpgradeRequest::All, &options(&cache)).expect("resolving all");
    let got = names(&plan);
    for (name, arch) in [("hello", "amd64"), ("libfoo1", "amd64"), ("libfoo1", "i386"), ("tool", "amd64")] {
        let candidate = apt_policy(repo, &format!("{name}:{arch}")).candidate.expect("apt has a candidate");
        assert!(got.contains(&format!("{name}:{arch} {candidate}")), "{name}:{arch} {candidate} not in {got:?}");
    }
    let epochal = apt_policy(repo, "epochal").candidate.expect("candidate");
    assert_eq!(epochal, "1:1.2-1+deb12u1");
    assert!(got.contains(&format!("epochal:amd64 {epochal}")), "{got:?}");
    assert_eq!(got.len(), 6, "{got:?}");
    assert!(!got.iter().any(|n| n.starts_with("unrelated") || n.starts_with("tool-data")), "{got:?}");
    let pos = |n: &str| got.iter().position(|g| g.starts_with(n)).expect(n);
    assert!(pos("libbar1:") < pos("hello:") && pos("libfoo1:amd64") < pos("hello:"), "{got:?}");
    let libfoo: Vec<_> = plan.packages.iter().filter(|p| p.name == "libfoo1").collect();
    assert!(libfoo.iter().all(|p| p.multi_arch_same && p.reason == UpgradeReason::Newer), "{libfoo:?}");
    let tool = plan.packages.iter().find(|p| p.name == "tool").expect("tool");
    assert_eq!((tool.version.as_str(), tool.source_version.as_str()), ("3.0-1+b1", "3.0-1"));

    // The .debs: in the cache, byte for byte what the repository built.
    fetch_packages(&mut plan, &options(&cache)).expect("fetching");
    for p in &plan.packages {
        let built = repo.deb(NEW_SUITE, &p.name, &p.architecture);
        let local = p.file.local.as_ref().expect("fetched");
        assert_eq!(fs::read(local).expect("reading"), fs::read(&built.path).expect("reading the built deb"));
        assert_eq!((p.file.sha256.as_str(), p.file.size), (built.sha256.as_str(), built.size));
        hardener::VerifiedDeb::open(local, p.file.size, &p.file.sha256).expect("a verified .deb");
    }
    // Six .debs, the indexes (bookworm and bookworm-security × amd64, i386) and their
    // decompressed texts (under the SHA256 the Release gives them, read instead next time).
    assert_eq!(cache_is_verified(&cache), 6 + 4 + 4);
}

#[test]
fn vulnerable_targets_fixed_or_unfixable() {
    let fixture = standard_fixture();
    let fs = merged(&fixture.image);
    let tmp = tempdir();
    let target = |package: &str, fixed: &str, cve: &str| UpgradeTarget {
        package: package.into(),
        architecture: None,
        fixed_version: fixed.into(),
        vulnerabilities: vec![cve.into()],
    };
    let request = UpgradeRequest::Vulnerable(vec![
        target("epochal", "1:9.9-1", "CVE-2099-0001"),
        target("libfoo1", "2.0-1+deb12u1", "CVE-2099-0002"),
    ]);
    let plan = resolve_upgrades(&fs, &request, &options(&tmp.path().join("cache"))).expect("resolving");
    assert_eq!(names(&plan), ["libfoo1:amd64 2.0-1+deb12u1", "libfoo1:i386 2.0-1+deb12u1"]);
    assert_eq!(
        plan.packages[0].reason,
        UpgradeReason::Fixes { vulnerabilities: vec!["CVE-2099-0002".into()] },
        "{plan:?}"
    );
    assert_eq!(plan.unfixable, [target("epochal", "1:9.9-1", "CVE-2099-0001")]);
}

#[test]
fn over_http_with_a_cache_that_is_not_fetched_twice_and_air_gapped() {
    let fixture = standard_fixture();
    let (repo, fs) = (&fixture.repo, merged(&fixture.image));
    let tmp = tempdir();
    let cache = tmp.path().join("cache");
    let server = repo.serve();
    let opts = mirrored(&cache, repo, server.url());
    let mut plan = resolve_upgrades(&fs, &UpgradeRequest::All, &opts).expect("resolving over HTTP");
    assert_eq!(plan.packages.len(), 6, "{plan:?}");
    assert!(plan.packages.iter().all(|p| p.file.repository == server.url()), "{plan:?}");
    assert!(plan.sources.iter().all(|s| s.starts_with(server.url())), "{:?}", plan.sources);
    fetch_packages(&mut plan, &opts).expect("fetching over HTTP");
    let first = server.requests();
    assert!(first.contains(&"/dists/bookworm-security/InRelease".to_owned()), "{first:?}");
    assert!(!first.iter().any(|r| r.ends_with("/Release.gpg")), "InRelease was enough: {first:?}");
    assert!(first.iter().any(|r| r.contains("/binary-i386/by-hash/SHA256/")), "{first:?}");
    assert_eq!(first.iter().filter(|r| r.ends_with(".deb")).count(), 6, "{first:?}");

    // Again with the same cache: only the signed metadata is asked for.
    let mut again = resolve_upgrades(&fs, &UpgradeRequest::All, &opts).expect("resolving again");
    fetch_packages(&mut again, &opts).expect("fetching again");
    assert_eq!(names(&again), names(&plan));
    let second: Vec<String> = server.requests().split_off(first.len());
    assert_eq!(second, ["/dists/bookworm/InRelease", "/dists/bookworm-security/InRelease"]);
    assert_eq!(cache_is_verified(&cache), 6 + 4 + 4);
    drop(server);

    // Air-gapped, from a directory, instead of the image's sources, with a key from this machine.
    let dir_cache = tmp.path().join("cache-dir");
    let mut opts = options(&dir_cache);
    opts.replace_sources = true;
    opts.repos =
        vec![format!("deb {} {OLD_SUITE} main\ndeb {} {NEW_SUITE} main", repo.file_uri(), repo.root().display())];
    let err = resolve_upgrades(&fs, &UpgradeRequest::All, &opts).expect_err("a plain path is not a URI").to_string();
    assert!(err.contains("is not a URI"), "{err}");
    opts.repos = vec![format!(
        "deb [signed-by={}] {} {OLD_SUITE} main\ndeb {} {NEW_SUITE} main",
        repo.key().public_binary().display(),
        repo.file_uri(),
        repo.file_uri()
    )];
    // The second line has no Signed-By: the image's trusted.gpg.d is empty, so without a
    // keyring it is not trusted.
    let err = resolve_upgrades(&fs, &UpgradeRequest::All, &opts).expect_err("no key for bookworm-security");
    assert!(err.to_string().contains("bookworm-security/InRelease"), "{err}");
    opts.keyrings = vec![repo.key().public_binary().to_owned()];
    let plan = resolve_upgrades(&fs, &UpgradeRequest::All, &opts).expect("resolving from a directory");
    assert_eq!(plan.packages.len(), 6, "{plan:?}");
    // Or a deb822 file on this machine whose Signed-By names a key on this machine.
    let sources = tmp.path().join("air-gapped.sources");
    fs::write(&sources, repo.deb822_sources(&repo.file_uri(), repo.key().public_binary())).expect("writing");
    let mut deb822 = options(&dir_cache);
    deb822.replace_sources = true;
    deb822.repos = vec![sources.display().to_string()];
    let from_file = resolve_upgrades(&fs, &UpgradeRequest::All, &deb822).expect("resolving from a deb822 file");
    assert_eq!(names(&from_file), names(&plan));

    // A distroless image names no sources at all.
    let distroless = standard_distroless(repo);
    let dfs = merged(&distroless);
    let err = resolve_upgrades(&dfs, &UpgradeRequest::All, &options(&dir_cache)).expect_err("no sources");
    assert!(matches!(err, hardener::Error::NoAptSources), "{err}");
    assert!(err.to_string().contains("names no apt sources"), "{err}");
    let mut plan = resolve_upgrades(&dfs, &UpgradeRequest::Packages(vec!["hello".into()]), &opts)
        .expect("resolving a distroless image from given sources");
    assert_eq!(names(&plan), ["libbar1:amd64 1.0-1", "hello:amd64 1.0-1+deb12u1"]);
    assert_eq!(plan.architectures, ["amd64"]);
    fetch_packages(&mut plan, &opts).expect("fetching from a directory");
    assert!(plan.packages.iter().all(|p| p.file.local.is_some()));
}

#[test]
fn hostile_repositories_are_refused_and_nothing_unverified_is_kept() {
    let fixture = standard_fixture();
    let (repo, fs) = (&fixture.repo, merged(&fixture.image));
    let tmp = tempdir();
    let all = UpgradeRequest::All;
    // A fresh cache each time: a cache holding the genuine indexes would (rightly) serve them
    // by their hash instead of the tampered ones.
    let runs = std::cell::Cell::new(0);
    let refused = |variant: &AptRepo, allow_expired: bool| -> String {
        runs.set(runs.get() + 1);
        let cache = tmp.path().join(format!("cache-{}", runs.get()));
        let mut opts = mirrored(&cache, repo, &variant.file_uri());
        opts.allow_expired = allow_expired;
        let err = match resolve_upgrades(&fs, &all, &opts) {
            Err(e) => e.to_string(),
            Ok(mut plan) => fetch_packages(&mut plan, &opts).expect_err("refused at fetch time").to_string(),
        };
        cache_is_verified(&cache);
        err
    };

    let unsigned = repo.variant(Variant::Unsigned);
    let err = refused(&unsigned, false);
    assert!(err.contains("not signed") && err.contains("dists/bookworm/Release"), "{err}");
    let err = refused(&repo.variant(Variant::OtherKey), false);
    assert!(err.starts_with("signature of ") && err.contains("/dists/bookworm/InRelease"), "{err}");
    let expired = repo.variant(Variant::Expired { suite: NEW_SUITE.into() });
    let err = refused(&expired, false);
    assert!(err.contains("bookworm-security/InRelease") && err.contains("expired"), "{err}");
    let err = refused(&repo.variant(Variant::FutureDate { suite: OLD_SUITE.into() }), false);
    assert!(err.contains("dists/bookworm/InRelease") && err.contains("in the future"), "{err}");
    let err = refused(&repo.variant(Variant::TamperedPackages { suite: OLD_SUITE.into() }), false);
    // The tampered index is longer than the Release says: refused by its size already.
    assert!(err.contains("size mismatch: expected") && err.contains("/dists/bookworm/main/binary-"), "{err}");
    let err = refused(&repo.variant(Variant::DebMismatch { suite: NEW_SUITE.into(), name: "hello".into() }), false);
    assert!(err.contains("SHA256 mismatch") && err.contains("hello_1.0-1+deb12u1_amd64.deb"), "{err}");
    let err = refused(&repo.variant(Variant::TruncatedDeb { suite: NEW_SUITE.into(), name: "hello".into() }), false);
    let size = repo.deb(NEW_SUITE, "hello", "amd64").size;
    assert!(err.contains("size mismatch") && err.contains(&format!("expected {size}, got {}", size / 2)), "{err}");

    // Accepted when asked: an expired Release, an unsigned source marked trusted=yes.
    let cache = tmp.path().join("cache-ok");
    let mut opts = mirrored(&cache, repo, &expired.file_uri());
    opts.allow_expired = true;
    let plan = resolve_upgrades(&fs, &all, &opts).expect("expired allowed");
    assert_eq!(plan.packages.len(), 6);
    assert!(plan.warnings.iter().any(|w| w.contains("bookworm-security/InRelease: expired")), "{:?}", plan.warnings);
    let mut opts = options(&cache);
    opts.replace_sources = true;
    opts.repos = vec![format!("deb [trusted=yes] {} {NEW_SUITE} main", unsigned.file_uri())];
    let plan = resolve_upgrades(&fs, &UpgradeRequest::Packages(vec!["epochal".into()]), &opts).expect("trusted=yes");
    assert_eq!(names(&plan), ["epochal:amd64 1:1.2-1+deb12u1"]);
    assert!(plan.warnings.iter().any(|w| w.contains("trusted=yes")), "{:?}", plan.warnings);

    // A stale Release.gpg beside a good InRelease (as real mirrors serve): InRelease wins; no
    // by-hash copies: the plain index names are used.
    let stale = repo.variant(Variant::NoByHashCopies);
    for suite in [OLD_SUITE, NEW_SUITE] {
        fs::write(stale.root().join("dists").join(suite).join("Release.gpg"), b"stale\n").expect("writing");
    }
    let plan = resolve_upgrades(&fs, &all, &mirrored(&tmp.path().join("cache-stale"), repo, &stale.file_uri()))
        .expect("InRelease wins");
    assert_eq!(plan.packages.len(), 6);
    // Detached signatures alone are enough.
    let detached = repo.variant(Variant::DetachedOnly);
    let plan = resolve_upgrades(&fs, &all, &mirrored(&cache, repo, &detached.file_uri())).expect("Release.gpg");
    assert_eq!(plan.packages.len(), 6);
    cache_is_verified(&cache);
}

#[test]
fn keys_from_the_image_as_apt_finds_them() {
    let mut fixture = standard_fixture();
    let repo = &fixture.repo;
    let tmp = tempdir();
    let opts = options(&tmp.path().join("cache"));
    let hello = UpgradeRequest::Packages(vec!["hello".into()]);
    let key = fs::read(repo.key().public_binary()).expect("reading the key");
    let plain: String = repo.suites().iter().map(|s| format!("deb {} {s} main\n", repo.file_uri())).collect();

    // One-line sources without Signed-By, the key under a name apt skips: not trusted.
    fixture.image.layer("skipped-key", |root| {
        fs::remove_file(root.join("etc/apt/sources.list.d/test.sources")).expect("rm");
        fs::write(root.join("etc/apt/sources.list"), &plain).expect("writing sources.list");
        fs::write(root.join("etc/apt/trusted.gpg.d/test.gpg~"), &key).expect("writing a backup key");
    });
    let err = resolve_upgrades(&merged(&fixture.image), &hello, &opts).expect_err("no trusted key").to_string();
    assert!(err.starts_with("signature of ") && err.contains("dists/bookworm/InRelease"), "{err}");

    // The same key under a name apt reads.
    fixture.image.layer("trusted-gpg-d", |root| {
        fs::write(root.join("etc/apt/trusted.gpg.d/test.gpg"), &key).expect("writing the key");
    });
    let plan = resolve_upgrades(&merged(&fixture.image), &hello, &opts).expect("trusted.gpg.d");
    assert_eq!(names(&plan), ["libbar1:amd64 1.0-1", "hello:amd64 1.0-1+deb12u1"]);

    // Signed-By naming another key's fingerprint restricts the trusted keys to none that signed.
    let other = "0123456789ABCDEF0123456789ABCDEF01234567";
    let restricted: String =
        repo.suites().iter().map(|s| format!("deb [signed-by={other}] {} {s} main\n", repo.file_uri())).collect();
    fixture.image.layer("fingerprint", |root| {
        fs::write(root.join("etc/apt/sources.list"), &restricted).expect("writing sources.list");
    });
    let err = resolve_upgrades(&merged(&fixture.image), &hello, &opts).expect_err("restricted").to_string();
    assert!(err.contains(other), "{err}");

    // deb822 with the key inline (and the trusted.gpg.d key gone).
    let inline = repo.deb822_sources_inline_key(&repo.file_uri());
    fixture.image.layer("inline", |root| {
        fs::remove_file(root.join("etc/apt/sources.list")).expect("rm");
        fs::remove_file(root.join("etc/apt/trusted.gpg.d/test.gpg")).expect("rm");
        fs::write(root.join("etc/apt/sources.list.d/inline.sources"), &inline).expect("writing inline.sources");
    });
    let plan = resolve_upgrades(&merged(&fixture.image), &hello, &opts).expect("inline key");
    assert_eq!(names(&plan), ["libbar1:amd64 1.0-1", "hello:amd64 1.0-1+deb12u1"]);
}

#[test]
fn candidates_come_only_from_the_images_own_release() {
    use crate::harness::{Deb, KeyAlgo, Suite};
    let fixture = standard_fixture();
    let fs = merged(&fixture.image);
    let epochal = |v: &str| Deb::new("epochal", v, "amd64").file("usr/bin/epochal", 0o755, b"#!/bin/sh\n");
    let other = AptRepo::builder()
        .key(KeyAlgo::Ed25519)
        .architectures(&["amd64"])
        .suite(Suite::new(NEW_SUITE).debs([epochal("1:1.2-1+deb12u2")]))
        .suite(Suite::new("trixie").debs([epochal("1:1.3-1")]))
        .suite(Suite::new("bookworm-backports").debs([epochal("1:1.2-1")]))
        .build();
    let tmp = tempdir();
    let mut opts = options(&tmp.path().join("cache"));
    opts.replace_sources = true;
    opts.keyrings = vec![other.key().public_binary().to_owned()];
    opts.repos = vec![other.suites().iter().map(|s| format!("deb {} {s} main\n", other.file_uri())).collect()];
    let plan = resolve_upgrades(&fs, &UpgradeRequest::All, &opts).expect("resolving");
    // Trixie's newer version is not a candidate; the backports suite has only an older one.
    assert_eq!(names(&plan), ["epochal:amd64 1:1.2-1+deb12u2"]);
    assert_eq!(plan.packages[0].file.suite, NEW_SUITE);
    assert!(plan.warnings.iter().any(|w| w.contains("trixie main: skipped") && w.contains("bookworm")), "{plan:?}");
    assert_eq!(plan.sources.len(), 2, "{:?}", plan.sources);
}
