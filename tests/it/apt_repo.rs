//! The harness's apt repositories and dpkg images, judged by the real tools: gpg verifies
//! the signatures and the exported keys, apt accepts the signed repositories (from a
//! directory and over HTTP) and refuses the hostile copies with its own messages, dpkg finds
//! the images' databases clean and lists exactly the versions installed.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::harness::{
    AptClient, AptRepo, Compression, Deb, IMAGE_KEYRING, KeyAlgo, NEW_SUITE, OLD_SUITE, Os, SCRIPT_LOG, SourcesStyle,
    Suite, USER_CONF_EDITED, Variant, apt_policy, blob_json, dpkg_audit, dpkg_image, dpkg_query_status,
    dpkg_query_versions, dpkg_verify, escaping_deb, sha256_hex, standard_distroless, standard_fixture, standard_repo,
    tagged, tempdir, tool, unpack,
};

/// A small repository signed by an Ed25519 key: `bookworm` has `alpha 1.0-1` (amd64) and
/// `beta 1.0-1` (all), `bookworm-security` has `alpha 1.0-2`.
fn small_repo() -> AptRepo {
    let alpha = |v: &str| {
        Deb::new("alpha", v, "amd64")
            .file("usr/bin/alpha", 0o755, format!("#!/bin/sh\necho alpha {v}\n").as_bytes())
            .conffile("etc/alpha.conf", format!("version = {v}\n").as_bytes())
    };
    let beta = Deb::new("beta", "1.0-1", "all").file("usr/share/beta/data", 0o644, b"beta\n");
    AptRepo::builder()
        .key(KeyAlgo::Ed25519)
        .architectures(&["amd64"])
        .suite(Suite::new(OLD_SUITE).debs([alpha("1.0-1"), beta]))
        .suite(Suite::new(NEW_SUITE).debs([alpha("1.0-2")]))
        .build()
}

fn client(repo: &AptRepo, uri: &str) -> AptClient {
    AptClient::new(&repo.deb822_sources(uri, repo.key().public_binary()), &repo.architectures())
}

/// Runs `apt-get update` and expects apt's refusal: exit code 100 and every needle in stderr.
#[track_caller]
fn update_refused(repo: &AptRepo, needles: &[&str]) -> String {
    let run = client(repo, &repo.file_uri()).update();
    assert_eq!(run.code, Some(100), "apt-get update should fail:\n{}", run.describe());
    for n in needles {
        assert!(run.stderr.contains(n), "apt's stderr lacks {n:?}:\n{}", run.stderr);
    }
    run.stderr
}

#[test]
fn keys_and_signatures_verify_with_gpg() {
    let repo = small_repo();
    let key = repo.key();
    // The binary and armored exports are the same key, of the asked-for algorithm.
    let dearmored = tool("gpg", &["--dearmor", "--output", "-", key.public_armored().to_str().unwrap()]).ok();
    assert_eq!(dearmored.stdout, fs::read(key.public_binary()).unwrap(), "key.asc and key.gpg differ");
    let shown = tool("gpg", &["--show-keys", "--with-colons", key.public_binary().to_str().unwrap()]).ok();
    let pub_line = shown.text().lines().find(|l| l.starts_with("pub:")).expect("a pub line").to_owned();
    assert_eq!(pub_line.split(':').nth(3), Some("22"), "not EdDSA: {pub_line}");
    assert!(shown.text().contains(&format!("fpr:::::::::{}:", key.fingerprint())), "{}", shown.text());

    for suite in repo.suites() {
        let dist = repo.root().join("dists").join(suite);
        let keyring = key.public_binary().to_str().unwrap();
        let inrelease = dist.join("InRelease");
        let run = tool("gpgv", &["--keyring", keyring, inrelease.to_str().unwrap()]).ok();
        assert!(run.stderr.contains("Good signature"), "{}", run.stderr);
        let (sig, release) = (dist.join("Release.gpg"), dist.join("Release"));
        let run = tool("gpgv", &["--keyring", keyring, sig.to_str().unwrap(), release.to_str().unwrap()]).ok();
        assert!(run.stderr.contains("Good signature"), "{}", run.stderr);
        // The clearsigned text is the Release, field for field.
        let release_text = fs::read_to_string(&release).unwrap();
        assert!(fs::read_to_string(&inrelease).unwrap().contains(&release_text), "InRelease is not Release signed");
        for field in ["Origin: oci-harden-tests", "Label: oci-harden-tests", &format!("Suite: {suite}")] {
            assert!(release_text.contains(field), "Release lacks {field}:\n{release_text}");
        }
        assert!(release_text.contains("Acquire-By-Hash: yes"), "{release_text}");
        // Every SHA256 line names a file (and its by-hash copy) with that hash and size.
        let sha256: Vec<&str> =
            release_text.lines().skip_while(|l| *l != "SHA256:").skip(1).take_while(|l| l.starts_with(' ')).collect();
        assert_eq!(sha256.len(), 3, "Packages, .gz and .xz for amd64:\n{release_text}");
        for line in sha256 {
            let f: Vec<&str> = line.split_whitespace().collect();
            let bytes = fs::read(dist.join(f[2])).unwrap();
            assert_eq!((sha256_hex(&bytes), bytes.len().to_string()), (f[0].to_owned(), f[1].to_owned()), "{line}");
            let by_hash = dist.join(f[2]).parent().unwrap().join("by-hash/SHA256").join(f[0]);
            assert_eq!(fs::read(&by_hash).unwrap(), bytes, "{}", by_hash.display());
        }
    }
    // A key of another algorithm.
    let rsa = crate::harness::SigningKey::generate("rsa <rsa@oci-harden.invalid>", KeyAlgo::Rsa4096);
    let shown = tool("gpg", &["--show-keys", "--with-colons", rsa.public_armored().to_str().unwrap()]).ok();
    let pub_line = shown.text().lines().find(|l| l.starts_with("pub:")).expect("a pub line").to_owned();
    assert_eq!((pub_line.split(':').nth(2), pub_line.split(':').nth(3)), (Some("4096"), Some("1")), "{pub_line}");
}

#[test]
fn apt_accepts_the_standard_repo_from_a_directory_and_over_http() {
    let repo = standard_repo();
    let expect = [
        ("hello", "1.0-1+deb12u1", vec!["1.0-1+deb12u1", "1.0-1"]),
        ("libfoo1", "2.0-1+deb12u1", vec!["2.0-1+deb12u1", "2.0-1"]),
        ("libfoo1:i386", "2.0-1+deb12u1", vec!["2.0-1+deb12u1", "2.0-1"]),
        ("tool", "3.0-1+b1", vec!["3.0-1+b1", "3.0-1"]),
        ("tool-data", "3.0-1", vec!["3.0-1"]),
        ("epochal", "1:1.2-1+deb12u1", vec!["1:1.2-1+deb12u1", "1:1.2-1"]),
        ("libbar1", "1.0-1", vec!["1.0-1"]),
        ("unrelated", "1.0-1", vec!["1.0-1"]),
    ];
    let hello = apt_policy(&repo, "hello");
    assert_eq!(hello.candidate.as_deref(), Some("1.0-1+deb12u1"), "{}", hello.text);
    let apt = client(&repo, &repo.file_uri());
    apt.update().ok();
    for (pkg, candidate, versions) in &expect {
        let policy = apt.policy(pkg);
        assert_eq!(policy.candidate.as_deref(), Some(*candidate), "{}", policy.text);
        assert_eq!(&policy.versions, versions, "{}", policy.text);
    }
    // The binNMU keeps its source's version; the new hello's new dependency.
    let packages = fs::read_to_string(repo.root().join("dists/bookworm-security/main/binary-amd64/Packages")).unwrap();
    let stanza = |name: &str| {
        let start = format!("Package: {name}\n");
        packages.split("\n\n").find(|s| s.starts_with(&start)).unwrap_or_else(|| panic!("no {name}:\n{packages}"))
    };
    let tool_stanza = stanza("tool").lines().collect::<Vec<_>>();
    for line in [
        "Source: tool (3.0-1)",
        "Version: 3.0-1+b1",
        "Depends: tool-data (= 3.0-1)",
        "Filename: pool/main/t/tool/tool_3.0-1+b1_amd64.deb",
    ] {
        assert!(tool_stanza.contains(&line), "{tool_stanza:?}");
    }
    assert!(stanza("epochal").contains("\nFilename: pool/main/e/epochal/epochal_1.2-1+deb12u1_amd64.deb\n"));
    assert!(stanza("hello").contains("\nDepends: libfoo1 (>= 2.0), libbar1 (>= 1.0)\n"), "{packages}");
    let i386 = fs::read_to_string(repo.root().join("dists/bookworm/main/binary-i386/Packages")).unwrap();
    assert!(i386.contains("Package: unrelated\n") && i386.contains("Architecture: i386\n"), "{i386}");
    assert!(!i386.contains("Package: hello\n"), "amd64-only hello listed for i386:\n{i386}");

    // Over HTTP, by hash, with the .asc key.
    let server = repo.serve();
    let apt = AptClient::new(&repo.deb822_sources(server.url(), repo.key().public_armored()), &["amd64", "i386"]);
    apt.update().ok();
    assert_eq!(apt.policy("hello").candidate.as_deref(), Some("1.0-1+deb12u1"));
    let requests = server.requests();
    for want in ["/dists/bookworm/InRelease", "/dists/bookworm-security/InRelease"] {
        assert!(requests.iter().any(|r| r == want), "no {want} in {requests:?}");
    }
    assert!(
        requests.iter().any(|r| r.starts_with("/dists/bookworm-security/main/binary-amd64/by-hash/SHA256/")),
        "apt fetched no index by hash: {requests:?}"
    );
    // apt downloads the package and its bytes are the pool's.
    let run = apt.download("tool").ok();
    let got = fs::read(apt.downloads().join("tool_3.0-1+b1_amd64.deb")).unwrap_or_else(|e| panic!("{e}: {run:?}"));
    assert_eq!(sha256_hex(&got), repo.deb(NEW_SUITE, "tool", "amd64").sha256);
    drop(server);

    // Release + Release.gpg only: apt falls back to the detached signature.
    let detached = repo.variant(Variant::DetachedOnly);
    assert!(!detached.root().join("dists/bookworm/InRelease").exists());
    let apt = client(&detached, &detached.file_uri());
    let run = apt.update().ok();
    assert!(run.text().contains("bookworm Release.gpg"), "{}", run.text());
    assert_eq!(apt.policy("hello").candidate.as_deref(), Some("1.0-1+deb12u1"));
}

#[test]
fn apt_refuses_the_hostile_variants() {
    let repo = small_repo();
    let ok = client(&repo, &repo.file_uri());
    ok.update().ok();
    assert_eq!(ok.policy("alpha").versions, ["1.0-2", "1.0-1"]);

    update_refused(&repo.variant(Variant::Unsigned), &["is not signed"]);
    let short_id = &repo.key().fingerprint()[24..];
    let other = update_refused(&repo.variant(Variant::OtherKey), &["NO_PUBKEY", "is not signed"]);
    assert!(!other.contains(short_id), "the impostor's key id is the real one:\n{other}");
    update_refused(&repo.variant(Variant::Expired { suite: NEW_SUITE.into() }), &["bookworm-security", "is expired"]);
    let tampered = repo.variant(Variant::TamperedPackages { suite: OLD_SUITE.into() });
    update_refused(&tampered, &["Hash Sum mismatch", "/dists/bookworm/main/binary-amd64/by-hash/"]);

    // Indexes fine, package bytes not.
    let mismatch = repo.variant(Variant::DebMismatch { suite: NEW_SUITE.into(), name: "alpha".into() });
    let apt = client(&mismatch, &mismatch.file_uri());
    apt.update().ok();
    let run = apt.download("alpha");
    assert_eq!(run.code, Some(100), "{}", run.describe());
    assert!(run.stderr.contains("Hash Sum mismatch"), "{}", run.stderr);
    assert!(!apt.downloads().join("alpha_1.0-2_amd64.deb").exists());
    let old = apt.download("alpha=1.0-1").ok();
    assert!(apt.downloads().join("alpha_1.0-1_amd64.deb").exists(), "{old:?}");

    let truncated = repo.variant(Variant::TruncatedDeb { suite: NEW_SUITE.into(), name: "alpha".into() });
    let apt = client(&truncated, &truncated.file_uri());
    apt.update().ok();
    let run = apt.download("alpha");
    assert_eq!(run.code, Some(100), "{}", run.describe());
    let size = repo.deb(NEW_SUITE, "alpha", "amd64").size;
    for needle in ["Hash Sum mismatch", &format!("Filesize:{size} "), &format!("Filesize:{} ", size / 2)] {
        assert!(run.stderr.contains(needle), "no {needle:?} in\n{}", run.stderr);
    }

    // No by-hash copies: apt asks for them, gets 404s and falls back to the plain names.
    let plain = repo.variant(Variant::NoByHashCopies);
    let server = plain.serve();
    client(&plain, server.url()).update().ok();
    let requests = server.requests();
    let index = "/dists/bookworm/main/binary-amd64/";
    assert!(requests.iter().any(|r| r.starts_with(&format!("{index}by-hash/SHA256/"))), "{requests:?}");
    assert!(requests.iter().any(|r| r == &format!("{index}Packages.xz")), "{requests:?}");
    drop(server);

    // Under a snapshot-like prefix: found there, and only there.
    let snapshot = repo.serve_under("/archive/debian/20240101T000000Z");
    assert!(snapshot.url().ends_with("/archive/debian/20240101T000000Z"));
    let apt = client(&repo, snapshot.url());
    apt.update().ok();
    assert_eq!(apt.policy("alpha").candidate.as_deref(), Some("1.0-2"));
    let root_url = snapshot.url().trim_end_matches("/archive/debian/20240101T000000Z").to_owned();
    let run = client(&repo, &root_url).update();
    assert_eq!(run.code, Some(100), "{}", run.describe());
    assert!(run.stderr.contains("does not have a Release file"), "{}", run.stderr);
    assert!(snapshot.requests().iter().any(|r| r == "/dists/bookworm/InRelease"), "{:?}", snapshot.requests());
    drop(snapshot);

    // Signed and indexed properly; only the package's content escapes its root.
    let escaping =
        repo.variant(Variant::EscapingDeb { suite: NEW_SUITE.into(), name: "evil".into(), version: "6.6-6".into() });
    let apt = client(&escaping, &escaping.file_uri());
    apt.update().ok();
    assert_eq!(apt.policy("evil").candidate.as_deref(), Some("6.6-6"));
    apt.download("evil").ok();
    let deb = apt.downloads().join("evil_6.6-6_amd64.deb");
    let fields = tool("dpkg-deb", &["--field", deb.to_str().unwrap(), "Package", "Version"]).ok();
    assert_eq!(fields.text(), "Package: evil\nVersion: 6.6-6\n");
    let data = tool("dpkg-deb", &["--fsys-tarfile", deb.to_str().unwrap()]).ok().stdout;
    let mut names = Vec::new();
    let mut links = Vec::new();
    for entry in tar::Archive::new(&data[..]).entries().unwrap() {
        let entry = entry.unwrap();
        names.push(String::from_utf8_lossy(&entry.path_bytes()).into_owned());
        if let Some(l) = entry.link_name_bytes() {
            links.push(String::from_utf8_lossy(&l).into_owned());
        }
    }
    assert!(names.contains(&"./../evil-escaped".to_owned()), "{names:?}");
    assert_eq!(links, ["../../../../etc"]);
}

#[test]
fn fresh_image_is_clean_for_dpkg_and_lists_the_old_versions() {
    let fixture = standard_fixture();
    let layout = &fixture.image.layout;
    assert_eq!(fixture.image.tag, "old");
    let manifest = |tag: &str| blob_json(layout, tagged(layout, tag)["digest"].as_str().unwrap());
    assert_eq!(manifest("installed")["layers"].as_array().unwrap().len(), 1);
    assert_eq!(manifest("old")["layers"].as_array().unwrap().len(), 2);
    let raw = tool("skopeo", &["inspect", "--raw", &fixture.image.reference()]).ok();
    assert_eq!(format!("sha256:{}", sha256_hex(&raw.stdout)), tagged(layout, "old")["digest"].as_str().unwrap());

    let installed = unpack(layout, "installed");
    let root = &installed.path;
    assert_eq!(dpkg_verify(root), "");
    assert_eq!(dpkg_audit(root), "");
    let want: BTreeMap<String, String> = [
        ("hello:amd64", "1.0-1"),
        ("libfoo1:amd64", "2.0-1"),
        ("libfoo1:i386", "2.0-1"),
        ("epochal:amd64", "1:1.2-1"),
        ("man-lite:amd64", "1.0-1"),
        ("multiarch-support-lite:all", "1.0-1"),
        ("tool-data:all", "3.0-1"),
        ("tool:amd64", "3.0-1"),
        ("unrelated:all", "1.0-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(dpkg_query_versions(root), want);
    assert!(dpkg_query_status(root).values().all(|s| s == "install ok installed"), "{:?}", dpkg_query_status(root));
    assert_eq!(fs::read_to_string(root.join("var/lib/dpkg/arch")).unwrap(), "amd64\ni386\n");

    // What dpkg made of the packages' files, as the patching tests will compare.
    let md = |p: &str| fs::symlink_metadata(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(md("usr/bin/hello-suid").permissions().mode() & 0o7777, 0o4755);
    assert_eq!(fs::read_link(root.join("usr/bin/hi")).unwrap(), Path::new("hello"));
    assert_eq!(md("usr/bin/hello").ino(), md("usr/bin/hello-again").ino(), "the hardlink is not one");
    assert_eq!(md("var/lib/hello").permissions().mode() & 0o7777, 0o750);
    assert!(root.join("usr/share/hello/dropped.txt").is_file());
    assert!(root.join("usr/lib/i386-linux-gnu/libfoo.so.1.0").is_file());
    let info = root.join("var/lib/dpkg/info");
    for f in [
        "hello.preinst",
        "hello.postinst",
        "hello.prerm",
        "hello.postrm",
        "hello.conffiles",
        "hello.md5sums",
        "libfoo1:amd64.triggers",
        "libfoo1:i386.shlibs",
        "man-lite.triggers",
    ] {
        assert!(info.join(f).is_file(), "no info/{f}");
    }
    let status = fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap();
    assert!(status.contains("Conffiles:\n /etc/hello.conf "), "{status}");
    assert!(status.contains("Source: hello-src\n"), "{status}");
    let log = fs::read_to_string(root.join(SCRIPT_LOG)).unwrap();
    for line in ["hello preinst install", "hello postinst configure", "man-lite postinst configure"] {
        assert!(log.lines().any(|l| l.trim_end() == line), "no {line:?} in the script log:\n{log}");
    }

    // The image's apt configuration: Debian bookworm, its sources and key work as written.
    let os_release = fs::read_to_string(root.join("etc/os-release")).unwrap();
    assert!(os_release.contains("VERSION_CODENAME=bookworm\nID=debian\n"), "{os_release}");
    let keyring = root.join(IMAGE_KEYRING.trim_start_matches('/'));
    assert_eq!(fs::read(&keyring).unwrap(), fs::read(fixture.repo.key().public_binary()).unwrap());
    let sources = fs::read_to_string(root.join("etc/apt/sources.list.d/test.sources")).unwrap();
    assert!(sources.contains(&format!("Signed-By: {IMAGE_KEYRING}\n")), "{sources}");
    let apt = AptClient::for_image(root);
    apt.update().ok();
    assert_eq!(apt.policy("hello").candidate.as_deref(), Some("1.0-1+deb12u1"));

    // The distroless variant of the same packages.
    let distroless = standard_distroless(&fixture.repo);
    let rootfs = unpack(&distroless.layout, &distroless.tag);
    let statusd = rootfs.path.join("var/lib/dpkg/status.d");
    let mut names: Vec<String> =
        fs::read_dir(&statusd).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    let want_names = [
        "epochal",
        "epochal.md5sums",
        "hello",
        "hello.md5sums",
        "libfoo1",
        "libfoo1.md5sums",
        "man-lite",
        "man-lite.md5sums",
        "multiarch-support-lite",
        "multiarch-support-lite.md5sums",
        "tool",
        "tool-data",
        "tool-data.md5sums",
        "tool.md5sums",
        "unrelated",
        "unrelated.md5sums",
    ];
    assert_eq!(names, want_names);
    assert!(!rootfs.path.join("var/lib/dpkg/status").exists());
    let hello = fs::read_to_string(statusd.join("hello")).unwrap();
    assert!(hello.starts_with("Package: hello\n") && hello.contains("\nVersion: 1.0-1\n"), "{hello}");
    assert!(!hello.contains("Status:"), "{hello}");
    assert_eq!(
        fs::symlink_metadata(rootfs.path.join("usr/bin/hello-suid")).unwrap().permissions().mode() & 0o7777,
        0o4755
    );

    // The user's edit in the second layer: dpkg sees exactly that conffile changed.
    let old = unpack(layout, "old");
    assert_eq!(fs::read(old.path.join("etc/hello/user.conf")).unwrap(), USER_CONF_EDITED);
    let verify = dpkg_verify(&old.path);
    assert_eq!(verify.lines().collect::<Vec<_>>(), ["??5?????? c /etc/hello/user.conf"], "{verify}");
    assert_eq!(dpkg_audit(&old.path), "");
    assert_eq!(dpkg_query_versions(&old.path), want);
}

#[test]
fn distroless_and_ubuntu_images() {
    let repo = small_repo();
    let server = repo.serve();

    let distroless = dpkg_image(&repo).install(repo.debs(OLD_SUITE)).distroless().build();
    let rootfs = unpack(&distroless.layout, &distroless.tag);
    let root = &rootfs.path;
    let dpkg = root.join("var/lib/dpkg");
    assert!(!dpkg.join("status").exists() && !dpkg.join("info").exists(), "distroless has a dpkg database");
    assert!(!root.join("etc/apt").join("sources.list.d/test.sources").exists());
    let mut listed: Vec<String> =
        fs::read_dir(dpkg.join("status.d")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    listed.sort();
    assert_eq!(listed, ["alpha", "alpha.md5sums", "beta", "beta.md5sums"]);
    for name in ["alpha", "beta"] {
        let deb = repo.deb(OLD_SUITE, name, if name == "alpha" { "amd64" } else { "all" });
        let fields = tool("dpkg-deb", &["--field", deb.path.to_str().unwrap()]).ok();
        assert_eq!(fs::read(dpkg.join("status.d").join(name)).unwrap(), fields.stdout);
    }
    // The md5sums describe the files as they are (conffiles are not listed, as dh_md5sums does).
    let md5sums = fs::read_to_string(dpkg.join("status.d/alpha.md5sums")).unwrap();
    assert_eq!(md5sums.lines().map(|l| l.split_whitespace().nth(1).unwrap()).collect::<Vec<_>>(), ["usr/bin/alpha"]);
    for line in md5sums.lines() {
        let (sum, path) = line.split_once("  ").unwrap();
        let run = tool("md5sum", &[root.join(path).to_str().unwrap()]).ok();
        assert!(run.text().starts_with(sum), "{path}: {}", run.text());
    }

    // Ubuntu noble, one-line sources pointing at the HTTP server.
    let noble = dpkg_image(&repo)
        .install([repo.deb(OLD_SUITE, "alpha", "amd64")])
        .os(Os::UbuntuNoble)
        .sources(SourcesStyle::OneLine)
        .uri(server.url())
        .build();
    let rootfs = unpack(&noble.layout, &noble.tag);
    let root = &rootfs.path;
    assert_eq!(dpkg_verify(root), "");
    assert_eq!(dpkg_audit(root), "");
    assert_eq!(dpkg_query_versions(root).into_iter().collect::<Vec<_>>(), [("alpha:amd64".into(), "1.0-1".into())]);
    let os_release = fs::read_to_string(root.join("etc/os-release")).unwrap();
    assert!(os_release.contains("VERSION_CODENAME=noble\nID=ubuntu\n"), "{os_release}");
    let list = fs::read_to_string(root.join("etc/apt/sources.list")).unwrap();
    assert_eq!(
        list,
        format!(
            "deb [signed-by={IMAGE_KEYRING}] {0} bookworm main\ndeb [signed-by={IMAGE_KEYRING}] {0} bookworm-security main\n",
            server.url()
        )
    );
    let apt = AptClient::for_image(root);
    apt.update().ok();
    assert_eq!(apt.policy("alpha").candidate.as_deref(), Some("1.0-2"));
    assert!(server.requests().iter().any(|r| r == "/dists/bookworm-security/InRelease"));
}

#[test]
fn deb_builder_writes_what_dpkg_deb_reads() {
    let tmp = tempdir();
    for (compression, member) in [
        (Compression::Gzip, "data.tar.gz"),
        (Compression::Xz, "data.tar.xz"),
        (Compression::Zstd, "data.tar.zst"),
        (Compression::None, "data.tar"),
    ] {
        let deb = Deb::new("full", "1:2.0-1", "amd64")
            .multi_arch("same")
            .source("full-src", Some("2.0-1"))
            .depends("libc6 (>= 2.36)")
            .pre_depends("dpkg (>= 1.17)")
            .provides("full-virtual")
            .breaks("old-full (<< 2)")
            .conflicts("other-full")
            .replaces("old-full (<< 2)")
            .dir("var/lib/full", 0o700)
            .file("usr/bin/full", 0o755, b"#!/bin/sh\n")
            .file("usr/bin/full-suid", 0o4755, b"suid\n")
            .hardlink("usr/bin/full-again", "usr/bin/full")
            .symlink("usr/bin/f", "full")
            .conffile("etc/full.conf", b"x = 1\n")
            .logging_scripts()
            .trigger("activate-noawait ldconfig")
            .trigger("interest-noawait /usr/share/man")
            .shlibs("libfull 2 full (>= 2.0)")
            .compression(compression);
        let dir = tmp.path().join(member);
        fs::create_dir_all(&dir).unwrap();
        let built = deb.build(&dir);
        assert_eq!(built.path.file_name().unwrap(), "full_2.0-1_amd64.deb");
        let bytes = fs::read(&built.path).unwrap();
        assert_eq!((sha256_hex(&bytes), bytes.len() as u64), (built.sha256.clone(), built.size));
        // Reproducible: the same description builds the same bytes a second later
        // (SOURCE_DATE_EPOCH clamps the staging files' times).
        if compression == Compression::Xz {
            let again_dir = tmp.path().join(format!("{member}-again"));
            fs::create_dir_all(&again_dir).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(1100));
            assert_eq!(deb.build(&again_dir).sha256, built.sha256, "{member}: two builds differ");
        }
        let path = built.path.to_str().unwrap();
        let members = tool("ar", &["t", path]).ok();
        assert_eq!(members.text().lines().collect::<Vec<_>>()[2], member, "{}", members.text());

        let fields = tool("dpkg-deb", &["--field", path]).ok();
        for line in [
            "Package: full",
            "Version: 1:2.0-1",
            "Architecture: amd64",
            "Multi-Arch: same",
            "Source: full-src (2.0-1)",
            "Depends: libc6 (>= 2.36)",
            "Pre-Depends: dpkg (>= 1.17)",
            "Provides: full-virtual",
            "Breaks: old-full (<< 2)",
            "Conflicts: other-full",
            "Replaces: old-full (<< 2)",
        ] {
            assert!(fields.text().lines().any(|l| l == line), "no {line:?} in\n{}", fields.text());
        }
        let control = tmp.path().join(format!("control-{member}"));
        tool("dpkg-deb", &["--control", path, control.to_str().unwrap()]).ok();
        let mut names: Vec<String> =
            fs::read_dir(&control).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(
            names,
            ["conffiles", "control", "md5sums", "postinst", "postrm", "preinst", "prerm", "shlibs", "triggers"]
        );
        assert_eq!(fs::read_to_string(control.join("conffiles")).unwrap(), "/etc/full.conf\n");
        assert_eq!(
            fs::read_to_string(control.join("triggers")).unwrap(),
            "activate-noawait ldconfig\ninterest-noawait /usr/share/man\n"
        );
        let md5sums = fs::read_to_string(control.join("md5sums")).unwrap();
        let listed: Vec<&str> = md5sums.lines().map(|l| l.split_once("  ").unwrap().1).collect();
        assert_eq!(listed, ["usr/bin/full", "usr/bin/full-suid", "usr/bin/full-again"]);
        assert_eq!(fs::metadata(control.join("postinst")).unwrap().permissions().mode() & 0o777, 0o755);

        // The data as tar tells it: owners root, modes, links.
        let data = tool("dpkg-deb", &["--fsys-tarfile", path]).ok().stdout;
        let mut entries = BTreeMap::new();
        for e in tar::Archive::new(&data[..]).entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0), "{:?}", e.path());
            let link = e.link_name().unwrap().map(|l| l.display().to_string());
            let name = e.path().unwrap().display().to_string();
            entries.insert(name, (h.entry_type(), h.mode().unwrap() & 0o7777, link));
        }
        use tar::EntryType as T;
        assert_eq!(entries["./var/lib/full/"], (T::Directory, 0o700, None));
        assert_eq!(entries["./usr/bin/full-suid"], (T::Regular, 0o4755, None));
        assert_eq!(entries["./usr/bin/f"].0, T::Symlink);
        assert_eq!(entries["./usr/bin/f"].2.as_deref(), Some("full"));
        let (full, again) = (&entries["./usr/bin/full"], &entries["./usr/bin/full-again"]);
        // One of the two names is the file, the other a hard link to it.
        let linked = [full, again].iter().filter(|e| e.0 == T::Link).count();
        assert_eq!(linked, 1, "{full:?} {again:?}");
    }
}

#[test]
fn escaping_deb_writes_outside_the_root_of_a_trusting_extractor() {
    let tmp = tempdir();
    let deb = escaping_deb(tmp.path(), "evil", "1.0", "amd64");
    let path = deb.to_str().unwrap();
    let fields = tool("dpkg-deb", &["--field", path, "Package"]).ok();
    assert_eq!(fields.text(), "evil\n");
    let contents = tool("dpkg-deb", &["--contents", path]).ok();
    assert!(contents.text().contains("./../evil-escaped"), "{}", contents.text());
    // It is really hostile: dpkg itself trusts the package and writes beside its root (still
    // inside this test's directory), which is what the patching code must refuse to do.
    let root = tmp.path().join("root");
    fs::create_dir_all(root.join("var/lib/dpkg/info")).unwrap();
    fs::create_dir_all(root.join("var/lib/dpkg/updates")).unwrap();
    fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    let rootarg = format!("--root={}", root.display());
    tool("dpkg", &[rootarg.as_str(), "--force-not-root", "--log=/dev/null", "--install", path]).ok();
    assert_eq!(fs::read(tmp.path().join("evil-escaped")).unwrap(), b"outside the root\n");
    assert_eq!(fs::read_link(root.join("usr/share/evil/out")).unwrap(), Path::new("../../../../etc"));
}

#[test]
fn release_fields_signatures_and_validity_as_apt_judges_them() {
    let future = "Fri, 01 Jan 2100 00:00:00 UTC";
    let past = "Mon, 01 Jan 2024 00:00:00 UTC";
    let repo = AptRepo::builder()
        .key(KeyAlgo::Ed25519WithRsaSubkey)
        .origin("Test Origin")
        .label("Test Label")
        .component("contrib")
        .architectures(&["amd64"])
        .by_hash(false)
        .suite(
            Suite::new("noble-security")
                .codename("noble")
                .date(past)
                .valid_until(future)
                .debs([Deb::new("one", "1.0", "amd64").file("usr/share/one", 0o644, b"1\n")]),
        )
        .build();
    assert_eq!(repo.component(), "contrib");
    let dist = repo.root().join("dists/noble-security");
    let release = fs::read_to_string(dist.join("Release")).unwrap();
    for line in [
        "Origin: Test Origin",
        "Label: Test Label",
        "Suite: noble-security",
        "Codename: noble",
        "Architectures: amd64",
        "Components: contrib",
        &format!("Date: {past}"),
        &format!("Valid-Until: {future}"),
    ] {
        assert!(release.lines().any(|l| l == line), "no {line:?} in\n{release}");
    }
    assert!(!release.contains("Acquire-By-Hash") && !release.contains("SHA1:") && !release.contains("SHA512:"));
    assert!(dist.join("contrib/binary-amd64/Packages.xz").is_file());
    assert!(!dist.join("contrib/binary-amd64/by-hash").exists());

    // The signatures are the RSA subkey's, not the Ed25519 primary's.
    let shown = tool("gpg", &["--show-keys", "--with-colons", repo.key().public_binary().to_str().unwrap()]).ok();
    let fprs: Vec<&str> = shown.text().lines().filter_map(|l| l.strip_prefix("fpr:")).collect();
    assert_eq!(fprs.len(), 2, "{}", shown.text());
    let subkey_id = &fprs[1].trim_matches(':')[24..];
    let packets = tool("gpg", &["--list-packets", dist.join("Release.gpg").to_str().unwrap()]);
    assert!(packets.text().contains(&format!("keyid {subkey_id}")), "{}", packets.text());
    let apt = client(&repo, &repo.file_uri());
    apt.update().ok();
    assert_eq!(apt.policy("one").candidate.as_deref(), Some("1.0"));
    // The key inline in Signed-By.
    let inline = AptClient::new(&repo.deb822_sources_inline_key(&repo.file_uri()), &["amd64"]);
    inline.update().ok();
    assert_eq!(inline.policy("one").candidate.as_deref(), Some("1.0"));

    // Expired: refused, accepted once the check is off (only Valid-Until is wrong).
    let expired = repo.variant(Variant::Expired { suite: "noble-security".into() });
    update_refused(&expired, &["is expired"]);
    client(&expired, &expired.file_uri()).run("apt-get", &["-o", "Acquire::Check-Valid-Until=false", "update"]).ok();
    update_refused(&repo.variant(Variant::FutureDate { suite: "noble-security".into() }), &["is not valid yet"]);
    update_refused(&repo.variant(Variant::Sha1Signatures), &["is not signed"]);
    update_refused(&repo.variant(Variant::TrailingData { suite: "noble-security".into() }), &["is not signed"]);
    // A revoked key.
    let revoked = repo.key().export_revoked();
    let apt = AptClient::new(&repo.deb822_sources(&repo.file_uri(), &revoked), &["amd64"]);
    let run = apt.update();
    assert_eq!(run.code, Some(100), "{}", run.describe());
    assert!(run.stderr.contains("REVKEYSIG"), "{}", run.stderr);
}

#[test]
fn dpkg_upgrade_layer_is_the_oracle_of_a_patch() {
    let mut fixture = standard_fixture();
    let new = fixture.repo.debs(NEW_SUITE).into_iter().cloned().collect::<Vec<_>>();
    fixture.image.dpkg_upgrade("upgraded-by-dpkg", &new);
    let layout = &fixture.image.layout;
    assert_eq!(fixture.image.tag, "upgraded-by-dpkg");
    let manifest = blob_json(layout, tagged(layout, "upgraded-by-dpkg")["digest"].as_str().unwrap());
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 3);

    let rootfs = unpack(layout, "upgraded-by-dpkg");
    let root = &rootfs.path;
    let versions = dpkg_query_versions(root);
    let want: BTreeMap<String, String> = [
        ("epochal:amd64", "1:1.2-1+deb12u1"),
        ("hello:amd64", "1.0-1+deb12u1"),
        ("libbar1:amd64", "1.0-1"),
        ("libfoo1:amd64", "2.0-1+deb12u1"),
        ("libfoo1:i386", "2.0-1+deb12u1"),
        ("man-lite:amd64", "1.0-1"),
        ("multiarch-support-lite:all", "1.0-1"),
        ("tool-data:all", "3.0-1"),
        ("tool:amd64", "3.0-1+b1"),
        ("unrelated:all", "1.0-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(versions, want);
    assert_eq!(dpkg_audit(root), "");
    // --force-confold: the user's conffile kept (so still reported), the package's beside it.
    let verify = dpkg_verify(root);
    assert_eq!(verify.lines().collect::<Vec<_>>(), ["??5?????? c /etc/hello/user.conf"], "{verify}");
    assert_eq!(fs::read(root.join("etc/hello/user.conf")).unwrap(), USER_CONF_EDITED);
    assert_eq!(
        fs::read_to_string(root.join("etc/hello/user.conf.dpkg-dist")).unwrap(),
        "# defaults 1.0-1+deb12u1\ncolour = red\n"
    );
    assert_eq!(
        fs::read_to_string(root.join("etc/hello.conf")).unwrap(),
        "# hello defaults 1.0-1+deb12u1\ngreeting = hi\n"
    );
    assert!(!root.join("usr/share/hello/dropped.txt").exists());
    assert!(root.join("usr/share/hello/new.txt").is_file());
    assert_eq!(fs::symlink_metadata(root.join("usr/bin/hello-suid")).unwrap().permissions().mode() & 0o7777, 0o4755);
    // The upgrade's scripts ran as dpkg runs them on an upgrade.
    let log = fs::read_to_string(root.join(SCRIPT_LOG)).unwrap();
    for line in [
        "hello prerm upgrade 1.0-1+deb12u1",
        "hello preinst upgrade 1.0-1 1.0-1+deb12u1",
        "hello postrm upgrade 1.0-1+deb12u1",
        "hello postinst configure 1.0-1",
        "man-lite postinst triggered /usr/share/man",
    ] {
        assert!(log.lines().any(|l| l.trim_end() == line), "no {line:?} in the script log:\n{log}");
    }
    // The layer umoci recorded removes the dropped file with a whiteout.
    let layer = manifest["layers"][2]["digest"].as_str().unwrap();
    let file = fs::File::open(crate::harness::blob_path(layout, layer)).unwrap();
    let mut names = Vec::new();
    for e in tar::Archive::new(flate2::read::GzDecoder::new(file)).entries().unwrap() {
        names.push(e.unwrap().path().unwrap().display().to_string());
    }
    assert!(names.iter().any(|n| n.trim_start_matches("./") == "usr/share/hello/.wh.dropped.txt"), "{names:?}");
}
