//! Real multi-layer images built with umoci from the Alpine minirootfs tarballs.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{TarLayer, alpine_319, alpine_320, oci_ref, require_root, require_tool, tempdir, tool};

/// An image layout built with umoci, in a temporary directory removed on drop.
pub struct UmociImage {
    /// Holds everything; removed on drop.
    _tmp: tempfile::TempDir,
    /// The layout.
    pub layout: PathBuf,
}

impl UmociImage {
    /// `oci:LAYOUT:TAG`.
    pub fn reference(&self, tag: &str) -> String {
        oci_ref(&self.layout, Some(tag))
    }
}

fn sh(args: &[&str]) {
    let (program, rest) = args.split_first().expect("a command");
    tool(program, rest).ok();
}

fn write(path: &Path, content: &[u8], mode: u32) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("mkdir -p");
    }
    fs::write(path, content).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

fn remove(path: &Path) {
    let md = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{} must exist: {e}", path.display()));
    if md.is_dir() {
        fs::remove_dir_all(path).expect("rm -r");
    } else {
        fs::remove_file(path).expect("rm");
    }
}

/// Builds a real multi-layer image with umoci from the Alpine 3.20 minirootfs (about two
/// seconds), in a fresh temporary directory.
///
/// Tags:
/// - `base`: the minirootfs as one layer;
/// - `v2`: plus a layer (umoci's own diff) that deletes files and whole directories,
///   replaces a file by a directory, a directory by a file and a symlink by a file, adds
///   a hardlink, setuid/setgid/sticky and odd modes, a file owned by 1234:5678, a path
///   longer than 100 bytes, a long symlink target and a fifo, and empties a directory
///   and adds one file back (so it is recorded as deleted entries plus one new one);
/// - `v3`: plus another umoci layer: deletes a hardlink's target, brings back a deleted
///   file, changes only the metadata of files, replaces a directory from `v2` by a
///   symlink, a file by a hardlink;
/// - `raw`: `v3` plus two hand-written layers added with `umoci raw add-layer`: explicit
///   `.wh.` whiteouts (of a file, a directory and a path that does not exist), an opaque
///   directory with one new file, a file below a symlinked directory, hardlinks to lower
///   files that are later replaced or whited out, and a directory whited out and made
///   again.
pub fn umoci_image() -> UmociImage {
    require_root();
    require_tool("umoci");
    let tmp = tempdir();
    let layout = tmp.path().join("layout");
    let bundle = tmp.path().join("bundle");
    let (l, b) = (layout.to_str().expect("UTF-8"), bundle.to_str().expect("UTF-8"));
    let img = |tag: &str| format!("{l}:{tag}");
    let r = bundle.join("rootfs");
    sh(&["umoci", "init", "--layout", l]);
    sh(&["umoci", "new", "--image", &img("base")]);
    sh(&["umoci", "unpack", "--image", &img("base"), b]);
    sh(&["tar", "-xzf", alpine_320().to_str().expect("UTF-8"), "-C", r.to_str().expect("UTF-8")]);
    let repack = |tag: &str| sh(&["umoci", "repack", "--refresh-bundle", "--image", &img(tag), b]);
    repack("base");

    // Layer 2.
    remove(&r.join("etc/motd"));
    remove(&r.join("etc/apk/keys")); // a whole directory
    remove(&r.join("usr/share/apk")); // a directory tree
    remove(&r.join("etc/hostname")); // file -> directory
    write(&r.join("etc/hostname/inside"), b"a file inside a directory where a file was\n", 0o644);
    remove(&r.join("etc/opt")); // directory -> file
    write(&r.join("etc/opt"), b"a file where a directory was\n", 0o600);
    remove(&r.join("etc/mtab")); // symlink -> file
    write(&r.join("etc/mtab"), b"not a symlink any more\n", 0o644);
    write(&r.join("opt/app/bin/tool"), b"#!/bin/sh\necho tool\n", 0o755);
    fs::hard_link(r.join("opt/app/bin/tool"), r.join("opt/app/bin/tool-again")).expect("ln");
    write(&r.join("opt/app/bin/suid"), b"setuid\n", 0o4755);
    write(&r.join("opt/app/bin/sgid"), b"setgid\n", 0o2711);
    write(&r.join("opt/app/odd/none"), b"mode 0\n", 0o000);
    write(&r.join("opt/app/odd/exec-only"), b"mode 0111\n", 0o111);
    write(&r.join("opt/app/odd/all-special"), b"mode 7777\n", 0o7777);
    fs::create_dir_all(r.join("opt/app/sticky")).expect("mkdir");
    chmod(&r.join("opt/app/sticky"), 0o1777);
    write(&r.join("opt/app/owned"), b"owned by 1234:5678\n", 0o640);
    std::os::unix::fs::chown(r.join("opt/app/owned"), Some(1234), Some(5678)).expect("chown");
    std::os::unix::fs::lchown(r.join("opt/app/sticky"), Some(1234), Some(0)).expect("chown");
    let long_dir = format!("opt/app/{}/{}", "d".repeat(60), "e".repeat(60));
    write(&r.join(&long_dir).join("long-file-name.txt"), b"a path longer than 100 bytes\n", 0o644);
    let long_target = format!("../app/{}/{}/long-file-name.txt", "d".repeat(60), "e".repeat(60));
    std::os::unix::fs::symlink(&long_target, r.join("opt/app/long-link")).expect("ln -s");
    std::os::unix::fs::symlink("../../etc/os-release", r.join("opt/app/rel-link")).expect("ln -s");
    std::os::unix::fs::symlink("/does/not/exist", r.join("opt/app/dangling")).expect("ln -s");
    sh(&["mkfifo", "-m", "0620", r.join("opt/app/fifo").to_str().expect("UTF-8")]);
    // Empty etc/network (subdirectories and all) and put one file back.
    for e in fs::read_dir(r.join("etc/network")).expect("ls") {
        remove(&e.expect("entry").path());
    }
    write(&r.join("etc/network/interfaces"), b"auto lo\n", 0o644);
    repack("v2");

    // Layer 3.
    remove(&r.join("opt/app/bin/tool")); // the hardlink's other name stays
    write(&r.join("etc/motd"), b"welcome back\n", 0o644); // deleted in v2, back now
    chmod(&r.join("etc/passwd"), 0o600); // metadata-only changes
    std::os::unix::fs::chown(r.join("etc/group"), Some(42), Some(42)).expect("chown");
    remove(&r.join("etc/hostname")); // directory (from v2) -> symlink
    std::os::unix::fs::symlink("/proc/sys/kernel/hostname", r.join("etc/hostname")).expect("ln -s");
    remove(&r.join("etc/issue")); // file -> hardlink to another file
    fs::hard_link(r.join("etc/alpine-release"), r.join("etc/issue")).expect("ln");
    repack("v3");

    // Layers 4 and 5, written by hand with explicit whiteouts and opaque markers.
    let layer4 = TarLayer::new()
        .dir("etc", 0o755)
        .whiteout("etc/hosts") // a file
        .whiteout("etc/periodic") // a directory with subdirectories
        .whiteout("etc/no-such-file") // nothing to hide
        .dir("etc/apk", 0o755)
        .opaque("etc/apk")
        .file("etc/apk/world", 0o644, b"alpine-base\n")
        // Hardlinks carry their target's metadata, as tar writers do (one inode).
        .hardlink("etc/shells-link", "etc/shells")
        .hardlink("etc/protocols-link", "etc/protocols")
        .file_owned("etc/setuid-owned", 0o4750, 1234, 5678, b"from a tar header\n")
        .fifo("etc/pipe", 0o600)
        .finish();
    let layer5 = TarLayer::new()
        .dir("etc", 0o755)
        .file("etc/shells", 0o644, b"/bin/sh\n") // replaced: etc/shells-link keeps the old bytes
        .whiteout("etc/protocols") // whited out: etc/protocols-link keeps the bytes
        .dir("etc/periodic", 0o700) // whited out below, made again
        .file("etc/periodic/new", 0o644, b"new\n")
        // etc/ssl1.1/certs is a symlink to /etc/ssl/certs: the file lands there.
        .file("etc/ssl1.1/certs/via-symlink.pem", 0o644, b"through a symlink\n")
        .file("usr/lib/libfoo.so.1", 0o755, b"\x7fELF")
        .symlink("usr/lib/libfoo.so", "libfoo.so.1")
        .finish();
    let raw_dir = tmp.path().join("raw-layers");
    fs::create_dir_all(&raw_dir).expect("mkdir");
    let mut from = "v3".to_owned();
    for (i, layer) in [layer4, layer5].iter().enumerate() {
        let path = raw_dir.join(format!("layer{}.tar", i + 4));
        fs::write(&path, layer).expect("writing a layer");
        let to = if i == 1 { "raw".to_owned() } else { format!("raw{}", i + 4) };
        sh(&["umoci", "raw", "add-layer", "--image", &img(&from), "--tag", &to, path.to_str().expect("UTF-8")]);
        from = to;
    }
    UmociImage { _tmp: tmp, layout }
}

/// An upgrade as a layer, built with umoci: tag `3.19` is the Alpine 3.19 minirootfs, tag
/// `upgraded` adds umoci's diff from it to the 3.20 minirootfs (the rootfs emptied and
/// re-extracted): changed files, new ones, and whiteouts for the files and directories
/// 3.20 no longer has (`etc/init.d`, `etc/ssl/misc`, `lib/mdev`, …).
pub fn umoci_upgrade_image() -> UmociImage {
    require_root();
    require_tool("umoci");
    let tmp = tempdir();
    let layout = tmp.path().join("layout");
    let bundle = tmp.path().join("bundle");
    let (l, b) = (layout.to_str().expect("UTF-8"), bundle.to_str().expect("UTF-8"));
    let rootfs = bundle.join("rootfs");
    let r = rootfs.to_str().expect("UTF-8");
    sh(&["umoci", "init", "--layout", l]);
    sh(&["umoci", "new", "--image", &format!("{l}:3.19")]);
    sh(&["umoci", "unpack", "--image", &format!("{l}:3.19"), b]);
    sh(&["tar", "-xzf", alpine_319().to_str().expect("UTF-8"), "-C", r]);
    sh(&["umoci", "repack", "--refresh-bundle", "--image", &format!("{l}:3.19"), b]);
    for e in fs::read_dir(&rootfs).expect("ls rootfs") {
        remove(&e.expect("entry").path());
    }
    sh(&["tar", "-xzf", alpine_320().to_str().expect("UTF-8"), "-C", r]);
    sh(&["umoci", "repack", "--image", &format!("{l}:upgraded"), b]);
    UmociImage { _tmp: tmp, layout }
}
