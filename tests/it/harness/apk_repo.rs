//! Signed apk repositories built at test time, as abuild and abuild-sign make them, and the
//! real apk-tools (the minirootfs's static `/sbin/apk`, run in a chroot) as the judge.
//!
//! - [`ApkSigningKey`]: an RSA key made by `openssl genrsa`; signatures by `openssl dgst`.
//! - [`ApkPackage`]: a declarative package (`.PKGINFO`, scripts, data entries) built as
//!   abuild does: a signature stream, a control stream (tar without end blocks) and a data
//!   stream whose files and symlinks carry `APK-TOOLS.checksum.SHA1` PAX records.
//! - [`ApkRepo`]: `<arch>/*.apk` and a signed `<arch>/APKINDEX.tar.gz`.
//! - [`alpine_root`]: the Alpine minirootfs unpacked into a directory, [`apk_chroot`]: apk-tools
//!   run in it.
//! - [`ApkImage`]: an OCI image (umoci) of the minirootfs with packages of an [`ApkRepo`]
//!   installed by apk-tools itself, and more layers made the same way (the oracle a patched
//!   image is compared with).
//!
//! A repository is served over HTTP on loopback with
//! [`super::apt_repo::HttpServer::start`]`(&repo.dir, "")`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use sha1::Digest as _;

use super::{fixture, oci_ref, require_root, require_tool, tempdir, tool};

/// An RSA signing key and its public half, named as `/etc/apk/keys/<name>` would hold it.
pub struct ApkSigningKey {
    /// The private key file (PEM).
    pub private: PathBuf,
    /// The public key (PEM, `BEGIN PUBLIC KEY`).
    pub public_pem: Vec<u8>,
    /// The key's file name (`test-1234.rsa.pub`).
    pub name: String,
}

fn openssl(args: &[&str], dir: &Path) {
    require_tool("openssl");
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("running openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl ApkSigningKey {
    /// Generates a 2048-bit key in `dir`, known as `<stem>.rsa.pub`.
    pub fn generate(dir: &Path, stem: &str) -> ApkSigningKey {
        let private = dir.join(format!("{stem}.rsa"));
        openssl(&["genrsa", "-out", &private.display().to_string(), "2048"], dir);
        let public = dir.join(format!("{stem}.rsa.pub"));
        openssl(&["rsa", "-in", &private.display().to_string(), "-pubout", "-out", &public.display().to_string()], dir);
        ApkSigningKey { private, public_pem: fs::read(public).unwrap(), name: format!("{stem}.rsa.pub") }
    }

    /// `openssl dgst -<digest> -sign` over `data` (`digest`: `sha1`, `sha256`, `sha512`).
    pub fn sign(&self, data: &[u8], digest: &str) -> Vec<u8> {
        let dir = self.private.parent().unwrap();
        let input = dir.join(format!("to-sign-{}", std::process::id()));
        let output = dir.join(format!("signature-{}", std::process::id()));
        fs::write(&input, data).unwrap();
        openssl(
            &[
                "dgst",
                &format!("-{digest}"),
                "-sign",
                &self.private.display().to_string(),
                "-out",
                &output.display().to_string(),
                &input.display().to_string(),
            ],
            dir,
        );
        let sig = fs::read(&output).unwrap();
        let _ = (fs::remove_file(input), fs::remove_file(output));
        sig
    }

    /// A signature stream as abuild-sign writes it: `.SIGN.<type>.<key name>` in a tar
    /// without end blocks, gzipped (`type`: `RSA`, `RSA256`, `RSA512`).
    pub fn signature_stream(&self, signed: &[u8], kind: &str) -> Vec<u8> {
        let digest = match kind {
            "RSA" => "sha1",
            "RSA256" => "sha256",
            "RSA512" => "sha512",
            other => panic!("signature type {other}"),
        };
        let sig = self.sign(signed, digest);
        gzip(&tar(&[TarItem::file(&format!(".SIGN.{kind}.{}", self.name), 0o644, &sig)], true))
    }
}

/// One entry of a test tar.
#[derive(Clone, Debug)]
pub struct TarItem {
    /// The path as written (`usr/bin/x`, `usr/` for directories).
    pub path: String,
    /// `'0'` file, `'5'` directory, `'2'` symlink.
    pub kind: u8,
    /// Permission bits.
    pub mode: u32,
    /// Owner and group.
    pub owner: (u64, u64),
    /// File content.
    pub data: Vec<u8>,
    /// Symlink target.
    pub target: String,
}

impl TarItem {
    /// A regular file owned by root.
    pub fn file(path: &str, mode: u32, data: &[u8]) -> TarItem {
        TarItem { path: path.into(), kind: b'0', mode, owner: (0, 0), data: data.to_vec(), target: String::new() }
    }

    /// A directory owned by root.
    pub fn dir(path: &str, mode: u32) -> TarItem {
        TarItem { path: path.into(), kind: b'5', mode, owner: (0, 0), data: Vec::new(), target: String::new() }
    }

    /// A symlink.
    pub fn symlink(path: &str, target: &str) -> TarItem {
        TarItem { path: path.into(), kind: b'2', mode: 0o777, owner: (0, 0), data: Vec::new(), target: target.into() }
    }

    /// The same entry with another owner.
    pub fn owned(mut self, uid: u64, gid: u64) -> TarItem {
        self.owner = (uid, gid);
        self
    }
}

/// `data` as one gzip member.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn sha1_bytes(data: &[u8]) -> Vec<u8> {
    sha1::Sha1::digest(data).to_vec()
}

/// `Q1` + base64 of the SHA1 of `data`, as apk writes checksums.
pub fn q1(data: &[u8]) -> String {
    format!("Q1{}", base64::engine::general_purpose::STANDARD.encode(sha1_bytes(data)))
}

/// A tar of `items` (ustar, mtime 0); without end blocks when `cut` (abuild-tar --cut); with
/// an `APK-TOOLS.checksum.SHA1` PAX record before files and symlinks when `hash`
/// (abuild-tar --hash) — see [`hashed_tar`].
pub fn tar(items: &[TarItem], cut: bool) -> Vec<u8> {
    build_tar(items, cut, false)
}

/// A data stream's tar as `abuild-tar --hash` writes it.
pub fn hashed_tar(items: &[TarItem]) -> Vec<u8> {
    build_tar(items, false, true)
}

fn build_tar(items: &[TarItem], cut: bool, hash: bool) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for item in items {
        let mut h = tar::Header::new_ustar();
        h.set_mtime(0);
        h.set_uid(item.owner.0);
        h.set_gid(item.owner.1);
        h.set_mode(item.mode);
        h.set_entry_type(tar::EntryType::new(item.kind));
        if h.set_path(&item.path).is_err() {
            // A path the tar crate refuses to write (`../x`): the raw name, for tests of unsafe
            // packages.
            let name = &mut h.as_old_mut().name;
            name[..item.path.len()].copy_from_slice(item.path.as_bytes());
        }
        if item.kind == b'2' {
            h.set_link_name(&item.target).unwrap();
        }
        if hash && matches!(item.kind, b'0' | b'2') {
            let summed = if item.kind == b'0' { &item.data[..] } else { item.target.as_bytes() };
            let sum = hex::encode(sha1_bytes(summed));
            // Named, as GNU tar's --format=posix headers that abuild-tar extends are: apk-tools
            // takes a header with an empty name for the end of the archive.
            let record = format!("68 APK-TOOLS.checksum.SHA1={sum}\n");
            let mut ph = tar::Header::new_ustar();
            let base = item.path.trim_end_matches('/').rsplit('/').next().unwrap_or("x");
            ph.set_path(format!("PaxHeaders/{base}")).unwrap();
            ph.set_entry_type(tar::EntryType::XHeader);
            ph.set_mode(0o644);
            ph.set_uid(0);
            ph.set_gid(0);
            ph.set_mtime(0);
            ph.set_size(record.len() as u64);
            ph.set_cksum();
            b.append(&ph, record.as_bytes()).unwrap();
        }
        h.set_size(item.data.len() as u64);
        h.set_cksum();
        b.append(&h, &item.data[..]).unwrap();
    }
    let mut out = b.into_inner().unwrap();
    if cut {
        out.truncate(out.len() - 1024);
    }
    out
}

/// A package to build.
#[derive(Clone, Debug)]
pub struct ApkPackage {
    /// `pkgname`.
    pub name: String,
    /// `pkgver`.
    pub version: String,
    /// `pkgdesc`.
    pub description: String,
    /// `depend` entries.
    pub depends: Vec<String>,
    /// `provides` entries.
    pub provides: Vec<String>,
    /// The data stream's entries.
    pub items: Vec<TarItem>,
    /// Scripts (`post-install` …) and their text.
    pub scripts: Vec<(String, String)>,
    /// `triggers` globs.
    pub triggers: Vec<String>,
    /// `install_if` entries (`i:`).
    pub install_if: Vec<String>,
    /// `provider_priority` (`k:`).
    pub provider_priority: Option<u32>,
}

/// A built package: its bytes and what its index entry says.
pub struct BuiltApk {
    /// The `.apk` file.
    pub bytes: Vec<u8>,
    /// `C:`: Q1 of the control stream.
    pub identity: String,
    /// `I:`: the installed size.
    pub installed_size: u64,
}

impl ApkPackage {
    /// A package with no files.
    pub fn new(name: &str, version: &str) -> ApkPackage {
        ApkPackage {
            name: name.into(),
            version: version.into(),
            description: format!("{name} test package"),
            depends: Vec::new(),
            provides: Vec::new(),
            items: Vec::new(),
            scripts: Vec::new(),
            triggers: Vec::new(),
            install_if: Vec::new(),
            provider_priority: None,
        }
    }

    /// Builds the `.apk` as abuild does, signing its control stream with `key` (`kind`:
    /// `RSA`, `RSA256`, `RSA512`).
    pub fn build(&self, key: &ApkSigningKey, kind: &str) -> BuiltApk {
        let data = gzip(&hashed_tar(&self.items));
        // As abuild measures it (du of the package directory): a block per directory and
        // symlink, file contents in whole blocks. Only a package with no entries at all is a
        // meta package (size 0), which apk-tools records without unpacking.
        let installed_size: u64 = self
            .items
            .iter()
            .map(|i| if i.kind == b'0' { (i.data.len() as u64).div_ceil(4096) * 4096 } else { 4096 })
            .sum();
        let mut pkginfo = format!(
            "# Generated by the oci-harden tests\npkgname = {}\npkgver = {}\npkgdesc = {}\nurl = https://example.invalid/\n\
             builddate = 1700000000\npackager = Test <test@example.invalid>\n\
             maintainer = Test <test@example.invalid>\nsize = {installed_size}\narch = x86_64\n\
             origin = {}\nlicense = MIT\n",
            self.name, self.version, self.description, self.name
        );
        for d in &self.depends {
            pkginfo.push_str(&format!("depend = {d}\n"));
        }
        for p in &self.provides {
            pkginfo.push_str(&format!("provides = {p}\n"));
        }
        if let Some(k) = self.provider_priority {
            pkginfo.push_str(&format!("provider_priority = {k}\n"));
        }
        if !self.install_if.is_empty() {
            pkginfo.push_str(&format!("install_if = {}\n", self.install_if.join(" ")));
        }
        if !self.triggers.is_empty() {
            pkginfo.push_str(&format!("triggers = {}\n", self.triggers.join(" ")));
        }
        pkginfo.push_str(&format!("datahash = {}\n", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data))));
        let mut control_items = vec![TarItem::file(".PKGINFO", 0o644, pkginfo.as_bytes())];
        for (name, text) in &self.scripts {
            control_items.push(TarItem::file(&format!(".{name}"), 0o755, text.as_bytes()));
        }
        let control = gzip(&tar(&control_items, true));
        let mut bytes = key.signature_stream(&control, kind);
        bytes.extend_from_slice(&control);
        bytes.extend_from_slice(&data);
        BuiltApk { bytes, identity: q1(&control), installed_size }
    }
}

/// A repository: `<dir>/x86_64/<name>-<version>.apk` and `<dir>/x86_64/APKINDEX.tar.gz`.
pub struct ApkRepo {
    /// The repository directory (what `--repository` names).
    pub dir: PathBuf,
}

impl ApkRepo {
    /// Builds every package (signed with `key`, `pkg_kind`) and the index (signed with `key`,
    /// `index_kind`) into `dir`.
    pub fn write(
        dir: &Path,
        key: &ApkSigningKey,
        packages: &[ApkPackage],
        pkg_kind: &str,
        index_kind: &str,
    ) -> ApkRepo {
        let arch = dir.join("x86_64");
        fs::create_dir_all(&arch).unwrap();
        let mut index = String::new();
        for p in packages {
            let built = p.build(key, pkg_kind);
            fs::write(arch.join(format!("{}-{}.apk", p.name, p.version)), &built.bytes).unwrap();
            index.push_str(&format!(
                "C:{}\nP:{}\nV:{}\nA:x86_64\nS:{}\nI:{}\nT:{}\nU:https://example.invalid/\nL:MIT\no:{}\n\
                 m:Test <test@example.invalid>\nt:1700000000\n",
                built.identity,
                p.name,
                p.version,
                built.bytes.len(),
                built.installed_size,
                p.description,
                p.name
            ));
            if !p.depends.is_empty() {
                index.push_str(&format!("D:{}\n", p.depends.join(" ")));
            }
            if !p.provides.is_empty() {
                index.push_str(&format!("p:{}\n", p.provides.join(" ")));
            }
            if let Some(k) = p.provider_priority {
                index.push_str(&format!("k:{k}\n"));
            }
            if !p.install_if.is_empty() {
                index.push_str(&format!("i:{}\n", p.install_if.join(" ")));
            }
            index.push('\n');
        }
        let unsigned = gzip(&tar(
            &[
                TarItem::file("DESCRIPTION", 0o644, b"oci-harden test repository"),
                TarItem::file("APKINDEX", 0o644, index.as_bytes()),
            ],
            false,
        ));
        let mut signed = key.signature_stream(&unsigned, index_kind);
        signed.extend_from_slice(&unsigned);
        fs::write(arch.join("APKINDEX.tar.gz"), signed).unwrap();
        ApkRepo { dir: dir.to_owned() }
    }

    /// The signed index.
    pub fn index_path(&self) -> PathBuf {
        self.dir.join("x86_64/APKINDEX.tar.gz")
    }

    /// The `.apk` of a package.
    pub fn apk_path(&self, name: &str, version: &str) -> PathBuf {
        self.dir.join(format!("x86_64/{name}-{version}.apk"))
    }
}

/// The Alpine 3.20.3 minirootfs unpacked into `dir` (as root: owners and modes kept).
pub fn alpine_root(dir: &Path) {
    require_root();
    let out = Command::new("tar")
        .args(["-xzf"])
        .arg(fixture("images/alpine-minirootfs-3.20.3-x86_64.tar.gz"))
        .args(["--numeric-owner", "-C"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "tar: {}", String::from_utf8_lossy(&out.stderr));
}

/// apk-tools (the minirootfs's static `/sbin/apk`) run in a chroot of `root`.
pub fn apk_chroot(root: &Path, args: &[&str]) -> Output {
    require_root();
    Command::new("chroot").arg(root).arg("/sbin/apk").args(args).output().expect("running chroot /sbin/apk")
}

/// An OCI image (a layout in a temporary directory) whose rootfs is the Alpine minirootfs
/// with packages installed by apk-tools itself, the umoci bundle kept to add layers.
pub struct ApkImage {
    _tmp: tempfile::TempDir,
    /// The layout.
    pub layout: PathBuf,
    bundle: PathBuf,
    /// The latest tag.
    pub tag: String,
}

impl ApkImage {
    /// The minirootfs, `key` trusted in `/etc/apk/keys`, `/etc/apk/repositories` holding
    /// `repositories` (what a patch reads), and `packages` (`NAME` or `NAME=VERSION`)
    /// installed from `repo` by `apk add` in a chroot, imported as one layer tagged `tag`.
    /// The repository is copied into the chroot for the install and removed afterwards.
    pub fn build(key: &ApkSigningKey, repo: &ApkRepo, repositories: &str, packages: &[&str], tag: &str) -> ApkImage {
        require_root();
        require_tool("umoci");
        let tmp = tempdir();
        let layout = tmp.path().join("layout");
        let bundle = tmp.path().join("bundle");
        let image = format!("{}:{tag}", layout.display());
        tool("umoci", &["init", "--layout", path_str(&layout)]).ok();
        tool("umoci", &["new", "--image", &image]).ok();
        tool("umoci", &["unpack", "--image", &image, path_str(&bundle)]).ok();
        let root = bundle.join("rootfs");
        alpine_root(&root);
        fs::write(root.join("etc/apk/keys").join(&key.name), &key.public_pem).unwrap();
        fs::write(root.join("etc/apk/repositories"), repositories).unwrap();
        let mut built = ApkImage { _tmp: tmp, layout, bundle, tag: String::new() };
        built.apk_layer(tag, repo, "add", packages);
        built
    }

    /// `oci:LAYOUT:TAG` of the latest tag.
    #[allow(dead_code, reason = "for the apk patch tests")]
    pub fn reference(&self) -> String {
        oci_ref(&self.layout, Some(&self.tag))
    }

    /// Adds a layer in which apk-tools runs `apk ACTION --no-network --repository REPO ARGS…`
    /// (`add NAME=VERSION`, `upgrade`…) with `repo` copied into the chroot as its only
    /// repository, tagged `tag`.
    pub fn apk_layer(&mut self, tag: &str, repo: &ApkRepo, action: &str, args: &[&str]) {
        self.layer(tag, |root| {
            let inside = root.join("tmp/ocih-repo");
            let out = Command::new("cp").arg("-a").arg(&repo.dir).arg(&inside).output().unwrap();
            assert!(out.status.success(), "cp: {}", String::from_utf8_lossy(&out.stderr));
            // Only the copied repository: the image's own list names servers not reached here.
            fs::write(root.join("tmp/ocih-repositories"), "").unwrap();
            let mut all = vec![
                action,
                "--no-network",
                "--no-cache",
                "--repositories-file",
                "/tmp/ocih-repositories",
                "--repository",
                "/tmp/ocih-repo",
            ];
            all.extend_from_slice(args);
            let out = apk_chroot(root, &all);
            fs::remove_dir_all(&inside).unwrap();
            fs::remove_file(root.join("tmp/ocih-repositories")).unwrap();
            assert!(
                out.status.success(),
                "apk {}: {}{}",
                all.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        });
    }

    /// Adds a layer: `edit` changes the rootfs, umoci records the difference, tagged `tag`
    /// (the earlier tags stay).
    pub fn layer(&mut self, tag: &str, edit: impl FnOnce(&Path)) {
        edit(&self.bundle.join("rootfs"));
        let image = format!("{}:{tag}", self.layout.display());
        tool("umoci", &["repack", "--refresh-bundle", "--image", &image, path_str(&self.bundle)]).ok();
        self.tag = tag.to_owned();
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}
