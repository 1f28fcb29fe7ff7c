//! The harness's apt repositories and dpkg images, judged by the real tools: gpg verifies
//! the signatures and the exported keys, apt accepts the signed repositories (from a
//! directory and over HTTP) and refuses the hostile copies with its own messages, dpkg finds
//! the images' databases clean and lists exactly the versions installed.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::harness::{
    AptClient, AptRepo, Deb, IMAGE_KEYRING, KeyAlgo, NEW_SUITE, OLD_SUITE, Os, SCRIPT_LOG, SourcesStyle, Suite,
    USER_CONF_EDITED, Variant, apt_policy, blob_json, dpkg_audit, dpkg_image, dpkg_query_status, dpkg_query_versions,
    dpkg_verify, sha256_hex, standard_fixture, standard_repo, tagged, tool, unpack,
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
        ("libbar1", "1.0-1", vec!["1.0-1"]),
        ("unrelated", "1.0-1", vec!["1.0-1"]),
    ];
    for (pkg, candidate, versions) in &expect {
        let policy = apt_policy(&repo, pkg);
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
    for line in ["Source: tool (3.0-1)", "Version: 3.0-1+b1", "Filename: pool/main/t/tool/tool_3.0-1+b1_amd64.deb"] {
        assert!(tool_stanza.contains(&line), "{tool_stanza:?}");
    }
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

    let installed = unpack(layout, "installed");
    let root = &installed.path;
    assert_eq!(dpkg_verify(root), "");
    assert_eq!(dpkg_audit(root), "");
    let want: BTreeMap<String, String> = [
        ("hello:amd64", "1.0-1"),
        ("libfoo1:amd64", "2.0-1"),
        ("libfoo1:i386", "2.0-1"),
        ("man-lite:amd64", "1.0-1"),
        ("multiarch-support-lite:all", "1.0-1"),
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
    let apt = AptClient::new(&sources.replace(IMAGE_KEYRING, keyring.to_str().unwrap()), &["amd64", "i386"]);
    apt.update().ok();
    assert_eq!(apt.policy("hello").candidate.as_deref(), Some("1.0-1+deb12u1"));

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
    let keyring = root.join(IMAGE_KEYRING.trim_start_matches('/'));
    let apt = AptClient::new(&list.replace(IMAGE_KEYRING, keyring.to_str().unwrap()), &["amd64"]);
    apt.update().ok();
    assert_eq!(apt.policy("alpha").candidate.as_deref(), Some("1.0-2"));
    assert!(server.requests().iter().any(|r| r == "/dists/bookworm-security/InRelease"));
}
