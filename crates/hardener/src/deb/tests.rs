//! `.deb` files built at test time by `dpkg-deb --build`, read back and compared with what
//! `dpkg-deb --field`, `--contents` and `--ctrl-tarfile | tar -t` say; hand-made unsafe ones
//! refused.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

const CONTROL: &str = "Package: hello-test
Version: 1:1.0-1
Architecture: all
Maintainer: Test <test@example.org>
Installed-Size: 12
Depends: libc6 (>= 2.34), libssl3 (>= 3.0.0) | libssl1.1
Multi-Arch: foreign
Section: misc
Priority: optional
Description: a test package
 with a long description
 .
 over several lines.
";

const POSTINST: &[u8] = b"#!/bin/sh\nset -e\necho configured\n";

pub(crate) fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e} (apt-get install dpkg-dev xz-utils zstd)"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn write(root: &Path, rel: &str, data: &[u8], mode: u32) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, data).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

pub(crate) fn sha256_file(path: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(path));
    String::from_utf8(out).expect("utf8").split_whitespace().next().expect("hash").to_owned()
}

/// Builds the test package with `dpkg-deb -Z<compression>` and returns its path.
pub(crate) fn build(dir: &Path, compression: &str) -> PathBuf {
    let root = dir.join(format!("root-{compression}"));
    write(&root, "DEBIAN/control", CONTROL.as_bytes(), 0o644);
    write(&root, "DEBIAN/conffiles", b"/etc/hello.conf\nremove-on-upgrade /etc/hello.d/old.conf\n", 0o644);
    write(&root, "DEBIAN/postinst", POSTINST, 0o755);
    write(&root, "DEBIAN/prerm", b"#!/bin/sh\nexit 0\n", 0o755);
    write(&root, "DEBIAN/triggers", b"activate-noawait ldconfig\n", 0o644);
    write(&root, "DEBIAN/shlibs", b"libhello 1 hello-test (>= 1.0)\n", 0o644);
    write(&root, "etc/hello.conf", b"greeting=hello\n", 0o644);
    write(&root, "etc/hello.d/new.conf", b"x=1\n", 0o644);
    write(&root, "usr/bin/hello", b"#!/bin/sh\necho hello\n", 0o4755);
    std::fs::hard_link(root.join("usr/bin/hello"), root.join("usr/bin/hello-again")).expect("hardlink");
    std::fs::create_dir_all(root.join("usr/share/doc/hello-test")).expect("mkdir");
    std::os::unix::fs::symlink("../../../bin/hello", root.join("usr/share/doc/hello-test/hello")).expect("symlink");
    let md5 = run(Command::new("sh")
        .arg("-c")
        .arg("cd \"$1\" && find etc usr -type f | LC_ALL=C sort | xargs md5sum")
        .arg("sh")
        .arg(&root));
    write(&root, "DEBIAN/md5sums", &md5, 0o644);
    let deb = dir.join(format!("hello-{compression}.deb"));
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", &format!("-Z{compression}"), "--build"])
        .arg(&root)
        .arg(&deb));
    deb
}

fn open(deb: &Path) -> VerifiedDeb {
    let size = std::fs::metadata(deb).expect("stat").len();
    VerifiedDeb::open(deb, size, &sha256_file(deb)).expect("verified")
}

/// `dpkg-deb --contents` as `path -> (mode string, size, link)`.
pub(crate) fn dpkg_contents(deb: &Path) -> BTreeMap<String, (String, u64, Option<String>)> {
    let out = String::from_utf8(run(Command::new("dpkg-deb").arg("--contents").arg(deb))).expect("utf8");
    out.lines()
        .map(|l| {
            let mut words = l.split_whitespace();
            let mode = words.next().expect("mode").to_owned();
            let _owner = words.next();
            let size: u64 = words.next().expect("size").parse().expect("size");
            let rest: Vec<&str> = words.skip(2).collect();
            let rest = rest.join(" ");
            let (path, link) = if let Some((p, t)) = rest.split_once(" -> ") {
                (p.to_owned(), Some(t.to_owned()))
            } else if let Some((p, t)) = rest.split_once(" link to ") {
                (p.to_owned(), Some(oci_core::normalize_path(t).expect("target")))
            } else {
                (rest, None)
            };
            (oci_core::normalize_path(&path).expect("path"), (mode, size, link))
        })
        .collect()
}

/// Checks everything `dpkg-deb` says about the package at `path` against what `deb` reads:
/// each control field (`--field`), the control members (`--ctrl-tarfile | tar -t`), every data
/// entry's type, mode, size and link (`--contents`); and that `md5sums` names only regular
/// files of the data. Returns our data listing.
pub(crate) fn judge_with_dpkg_deb(path: &Path, deb: &VerifiedDeb) -> BTreeMap<String, (String, u64, Option<String>)> {
    let name = path.display();
    let control = deb.control().expect("control");
    for f in control.fields().expect("fields").fields() {
        let judged = run(Command::new("dpkg-deb").arg("--field").arg(path).arg(f.name));
        assert_eq!(format!("{}\n", f.value), String::from_utf8(judged).expect("utf8"), "{name} {}", f.name);
    }
    let listed = run(Command::new("sh").arg("-c").arg("dpkg-deb --ctrl-tarfile \"$1\" | tar -t").arg("sh").arg(path));
    let mut listed: Vec<String> = String::from_utf8(listed)
        .expect("utf8")
        .lines()
        .map(|l| oci_core::normalize_path(l).expect("path"))
        .filter(|p| !p.is_empty())
        .collect();
    listed.sort();
    let mut members: Vec<String> = control.members().iter().map(|m| m.name.clone()).collect();
    members.sort();
    assert_eq!(members, listed, "{name}");

    let judged = dpkg_contents(path);
    let mut ours = BTreeMap::new();
    deb.data(|e| {
        let mut mode = e.meta.mode_string();
        if e.meta.kind == EntryKind::Hardlink {
            mode.replace_range(0..1, "h");
        }
        ours.insert(e.path.clone(), (mode, e.meta.size, e.meta.link.clone()));
        Ok(())
    })
    .expect("data");
    assert_eq!(ours, judged, "{name}");
    for (file, _) in control.md5sums().expect("md5sums") {
        let entry = ours.get(&oci_core::normalize_path(&file).expect("path"));
        assert!(entry.is_some_and(|(mode, _, _)| mode.starts_with(['-', 'h'])), "{name}: md5sums names {file:?}");
    }
    // Our MD5s are md5sum's on the files dpkg-deb extracts, and agree with the shipped md5sums.
    let ours_md5: BTreeMap<String, String> = deb.file_md5sums().expect("md5").into_iter().collect();
    let tree = tempfile::tempdir().expect("tmp");
    run(Command::new("dpkg-deb").arg("-x").arg(path).arg(tree.path()));
    let judged = run(Command::new("sh")
        .arg("-c")
        .arg("cd \"$1\" && find . -type f -print0 | xargs -0 -r md5sum")
        .arg("sh")
        .arg(tree.path()));
    let judged: BTreeMap<String, String> = String::from_utf8(judged)
        .expect("utf8")
        .lines()
        .map(|l| {
            let (md5, file) = l.split_once("  ").expect("md5sum line");
            (oci_core::normalize_path(file).expect("path"), md5.to_owned())
        })
        .collect();
    assert_eq!(ours_md5, judged, "{name}");
    for (file, md5) in control.md5sums().expect("md5sums") {
        assert_eq!(ours_md5.get(&file), Some(&md5), "{name}: shipped md5sums for {file}");
    }
    ours
}

#[test]
fn debs_built_by_dpkg_deb_read_as_dpkg_deb_reads_them() {
    let dir = tempfile::tempdir().expect("tmp");
    for compression in ["xz", "gzip", "zstd", "none"] {
        let path = build(dir.path(), compression);
        let deb = open(&path);
        let (control_member, data_member) = deb.member_names();
        let suffix = match compression {
            "xz" => ".xz",
            "gzip" => ".gz",
            "zstd" => ".zst",
            _ => "",
        };
        assert_eq!(
            (control_member, data_member),
            (format!("control.tar{suffix}").as_str(), format!("data.tar{suffix}").as_str())
        );
        assert_eq!(deb.sha256(), sha256_file(&path));

        let ours = judge_with_dpkg_deb(&path, &deb);
        let control = deb.control().expect("control");
        assert_eq!(control.fields().expect("fields").fields().len(), 10);
        assert_eq!(control.control_text(), CONTROL);

        let names: Vec<&str> = control.members().iter().map(|m| m.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(sorted, ["conffiles", "control", "md5sums", "postinst", "prerm", "shlibs", "triggers"]);
        let mut scripts: Vec<(&str, u32)> = control.scripts().map(|s| (s.name.as_str(), s.mode)).collect();
        scripts.sort();
        assert_eq!(scripts, [("postinst", 0o755), ("prerm", 0o755)]);
        assert_eq!(control.member("postinst").expect("postinst").data, POSTINST);
        assert_eq!(control.triggers().expect("utf8"), Some("activate-noawait ldconfig\n"));
        assert_eq!(control.shlibs().expect("utf8"), Some("libhello 1 hello-test (>= 1.0)\n"));
        assert_eq!(control.symbols().expect("utf8"), None);
        assert_eq!(
            control.conffiles().expect("conffiles"),
            [
                Conffile { path: "/etc/hello.conf".into(), remove_on_upgrade: false },
                Conffile { path: "/etc/hello.d/old.conf".into(), remove_on_upgrade: true },
            ]
        );
        let md5 = control.md5sums().expect("md5sums");
        assert_eq!(md5.len(), 4);
        assert!(md5.contains(&("usr/bin/hello".into(), format!("{:x}", md5_of(b"#!/bin/sh\necho hello\n")))));

        let mut hello = Vec::new();
        deb.data(|e| {
            assert_eq!((e.meta.uid, e.meta.gid), (0, 0));
            if e.path == "usr/bin/hello" {
                e.data().read_to_end(&mut hello).expect("read");
            }
            Ok(())
        })
        .expect("data");
        assert_eq!(ours["usr/bin/hello"].0, "-rwsr-xr-x");
        assert_eq!(ours["usr/share/doc/hello-test/hello"].2.as_deref(), Some("../../../bin/hello"));
        assert!(ours.contains_key(""), "the ./ root entry");
        assert_eq!(hello, b"#!/bin/sh\necho hello\n");
    }
}

fn md5_of(data: &[u8]) -> u128 {
    let out = {
        use std::io::Write;
        let mut child = Command::new("md5sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("md5sum");
        child.stdin.take().expect("stdin").write_all(data).expect("write");
        child.wait_with_output().expect("md5sum").stdout
    };
    u128::from_str_radix(String::from_utf8(out).expect("utf8").split_whitespace().next().expect("md5"), 16)
        .expect("hex")
}

#[test]
fn size_and_digest_are_checked_first() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = build(dir.path(), "xz");
    let size = std::fs::metadata(&path).expect("stat").len();
    let sha = sha256_file(&path);
    let err = VerifiedDeb::open(&path, size + 1, &sha).expect_err("size").to_string();
    assert_eq!(err, format!("{}: size mismatch: expected {}, got {size}", path.display(), size + 1));
    let wrong = "0".repeat(64);
    let err = VerifiedDeb::open(&path, size, &wrong).expect_err("sha").to_string();
    assert_eq!(err, format!("{}: SHA256 mismatch: expected {wrong}, got {sha}", path.display()));
    VerifiedDeb::open(&path, size, &sha.to_ascii_uppercase()).expect("upper-case hex accepted");
}

/// An `ar` archive of `members`.
fn ar_archive(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = ar::MAGIC.to_vec();
    for (name, data) in members {
        out.extend(format!("{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n", name, 0, 0, 0, "100644", data.len()).as_bytes());
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

/// A tar entry written raw: name, type, link target, content.
type RawEntry<'a> = (&'a str, tar::EntryType, &'a str, &'a [u8]);

/// A tar with entries whose names are written raw (the tar crate refuses to write `..`).
fn raw_tar(entries: &[RawEntry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, link, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(*kind);
        h.set_mode(if *kind == tar::EntryType::Directory { 0o755 } else { 0o644 });
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn hand_made(dir: &Path, name: &str, data_tar: &[u8]) -> VerifiedDeb {
    let control = raw_tar(&[("./control", tar::EntryType::Regular, "", b"Package: evil\nVersion: 1\n")]);
    let bytes = ar_archive(&[("debian-binary", b"2.0\n"), ("control.tar", &control), ("data.tar", data_tar)]);
    let path = dir.join(name);
    std::fs::write(&path, &bytes).expect("write");
    open(&path)
}

#[test]
fn unsafe_entries_are_refused_naming_the_deb_and_entry() {
    let dir = tempfile::tempdir().expect("tmp");
    let cases: [(&str, Vec<RawEntry<'_>>, &str); 6] = [
        (
            "dotdot.deb",
            vec![("./../../etc/passwd", tar::EntryType::Regular, "", b"x")],
            " entry \"./../../etc/passwd\": path contains a '..' component (in data.tar; refused)",
        ),
        (
            "abs.deb",
            vec![("/etc/passwd", tar::EntryType::Regular, "", b"x")],
            " entry \"/etc/passwd\": absolute path (in data.tar; refused)",
        ),
        (
            "hardlink.deb",
            vec![("./etc/x", tar::EntryType::Link, "../../etc/shadow", b"")],
            " entry \"./etc/x\": hardlink target \"../../etc/shadow\" escapes the root: path contains a '..' component (in data.tar; refused)",
        ),
        (
            "hardlink-into-image.deb",
            vec![("./etc/copy", tar::EntryType::Link, "etc/shadow", b"")],
            " entry \"etc/copy\": hard link to \"etc/shadow\", which is not a file earlier in the package (refused)",
        ),
        (
            "hardlink-to-dir.deb",
            vec![("./etc/", tar::EntryType::Directory, "", b""), ("./x", tar::EntryType::Link, "./etc", b"")],
            " entry \"x\": hard link to \"etc\", which is not a file earlier in the package (refused)",
        ),
        (
            "through-symlink.deb",
            vec![
                ("./etc/", tar::EntryType::Directory, "", b""),
                ("./etc/a", tar::EntryType::Symlink, "/root", b""),
                ("./etc/a/.ssh/authorized_keys", tar::EntryType::Regular, "", b"k"),
            ],
            " entry \"etc/a/.ssh/authorized_keys\": lies below \"etc/a\", a symlink of the same package (refused)",
        ),
    ];
    for (name, entries, expected) in cases {
        let deb = hand_made(dir.path(), name, &raw_tar(&entries));
        assert_eq!(deb.control().expect("control").fields().expect("fields").get("Package"), Some("evil"));
        let mut seen = Vec::new();
        let err = deb.data(|e| {
            seen.push(e.path.clone());
            Ok(())
        });
        let msg = err.expect_err(name).to_string();
        assert_eq!(msg, format!("package {}{expected}", dir.path().join(name).display()), "{name}");
    }
}

#[test]
fn malformed_archives_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = raw_tar(&[("./", tar::EntryType::Directory, "", b"")]);
    let control = raw_tar(&[("./control", tar::EntryType::Regular, "", b"Package: p\n")]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not-ar.deb", b"hello world".to_vec(), ": not an ar archive (bad magic)"),
        (
            "v1.deb",
            ar_archive(&[("debian-binary", b"1.0\n"), ("control.tar", &control), ("data.tar", &data)]),
            " entry \"debian-binary\": format \"1.0\" is not 2.x",
        ),
        (
            "order.deb",
            ar_archive(&[("control.tar", &control), ("debian-binary", b"2.0\n"), ("data.tar", &data)]),
            " entry \"control.tar\": the first member must be debian-binary",
        ),
        ("nodata.deb", ar_archive(&[("debian-binary", b"2.0\n"), ("control.tar", &control)]), ": no data.tar member"),
        (
            "bz2.deb",
            ar_archive(&[("debian-binary", b"2.0\n"), ("control.tar", &control), ("data.tar.bz2", &data)]),
            " entry \"data.tar.bz2\": .bz2 compression is not supported (gz, xz, zst or none)",
        ),
        (
            "extra.deb",
            ar_archive(&[("debian-binary", b"2.0\n"), ("control.tar", &control), ("data.tar", &data), ("evil", b"x")]),
            " entry \"evil\": unexpected member after data.tar",
        ),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).expect("write");
        let err = VerifiedDeb::open(&path, bytes.len() as u64, &sha256_file(&path)).expect_err(name).to_string();
        assert_eq!(err, format!("package {}{expected}", path.display()), "{name}");
    }
    // `_`-prefixed members are ignored, as dpkg does.
    let bytes = ar_archive(&[
        ("debian-binary", b"2.0\n"),
        ("_gpgbuilder", b"sig"),
        ("control.tar", &control),
        ("data.tar", &data),
    ]);
    let path = dir.path().join("sig.deb");
    std::fs::write(&path, &bytes).expect("write");
    assert_eq!(open(&path).control().expect("control").fields().expect("fields").get("Package"), Some("p"));
}
