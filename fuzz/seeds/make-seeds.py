#!/usr/bin/env python3
"""Writes the committed seed corpora under fuzz/seeds/TARGET/. Every seed is made here, by
this script, from text written for it (no third-party data): run it again after changing
it. Real files (fixtures, the machine's apt lists, the repository's rule files) are added
by run.sh at run time instead."""
import gzip, hashlib, io, json, os, shutil, subprocess, tarfile, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def tar(entries, fmt=tarfile.PAX_FORMAT, eof=True):
    """entries: (name, kind, payload) with kind file|dir|sym|hard|fifo|chr."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, kind, payload in entries:
            i = tarfile.TarInfo(name)
            i.mtime, i.mode = 1700000000, 0o644
            if kind == "file":
                i.size = len(payload)
                if fmt == tarfile.PAX_FORMAT:  # as abuild writes data streams (others ignore it)
                    i.pax_headers = {"APK-TOOLS.checksum.SHA1": hashlib.sha1(payload).hexdigest()}
                t.addfile(i, io.BytesIO(payload))
                continue
            i.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE,
                      "fifo": tarfile.FIFOTYPE, "chr": tarfile.CHRTYPE}[kind]
            if kind == "dir":
                i.mode = 0o755
            if kind in ("sym", "hard"):
                i.linkname = payload
            t.addfile(i)
    out = buf.getvalue()
    return out if eof else out.rstrip(b"\0")


def blocks(data):
    """merged_fs/docker layers: one length byte (in 512-byte blocks) before each but the last."""
    assert len(data) % 512 == 0 and len(data) // 512 < 256
    return bytes([len(data) // 512])


# --- oci-core -------------------------------------------------------------------------------
for i, r in enumerate(["alpine", "docker.io/library/alpine:3.20", "localhost:5000/a/b@sha256:" + "a" * 64,
                       "oci:dir:tag", "docker-archive:x.tar:img:1", "ghcr.io/o/r:v1@sha256:" + "b" * 64,
                       "linux/arm64/v8", "application/vnd.oci.image.manifest.v1+json"]):
    put("reference", f"seed-{i}", r)

config = {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
          "config": {"User": "1000", "Env": ["PATH=/bin"], "Entrypoint": ["/bin/sh"], "Cmd": ["-c", "true"],
                     "WorkingDir": "/", "Labels": {"a": "b"}},
          "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "c" * 64]},
          "history": [{"created_by": "x"}, {"empty_layer": True}]}
put("config", "seed-0", json.dumps(config))
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "d" * 64,
                       "size": 10},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + "e" * 64,
                        "size": 20, "annotations": {"k": "v"}}]}
put("manifest", "seed-0", json.dumps(manifest))
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + "f" * 64,
                        "size": 30, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
                        "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}
put("manifest", "seed-1", json.dumps(index))
put("layout_index", "seed-0", json.dumps(index))
put("docker_config", "seed-0", json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": "dXNlcjpwYXNz"},
                                                     "localhost:5000": {"username": "u", "password": "p"},
                                                     "quay.io/org": {"auth": "YTpi"}},
                                           "credHelpers": {"ghcr.io": "gh"}, "credsStore": "desktop"}))

# Layers: PAX and GNU long names, links, devices, whiteouts and an opaque directory.
long = "d/" + "x" * 120 + "/" + "y" * 110
base = tar([("etc/", "dir", None), ("etc/os-release", "file", b"ID=alpine\n"), ("bin/", "dir", None),
            ("bin/sh", "file", b"\x7fELF"), ("bin/ash", "hard", "bin/sh"), ("lib", "sym", "usr/lib"),
            ("usr/lib/libc.so", "file", b"c"), ("dev/null", "chr", None), ("run/fifo", "fifo", None),
            (long, "file", b"long")], tarfile.PAX_FORMAT)
upper = tar([("etc/.wh.os-release", "file", b""), ("usr/lib/.wh..wh..opq", "file", b""),
             ("lib/new.so", "file", b"n"), ("etc/os-release", "sym", "../usr/lib/os-release")], tarfile.GNU_FORMAT)
put("merged_fs", "seed-0", blocks(base) + base + upper)
gnu_long = tar([(long + "/z", "file", b"z"), (long + "/l", "sym", "../../../" + "q" * 120)], tarfile.GNU_FORMAT)
put("merged_fs", "seed-1", bytes([0]) + gnu_long)

# A docker-archive: manifest.json, config and one layer.
layer = tar([("a", "file", b"a\n")])
cfg = json.dumps({"architecture": "amd64", "os": "linux",
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()
cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
archive = tar([("manifest.json", "file",
                json.dumps([{"Config": cfg_name, "RepoTags": ["t:1"], "Layers": ["l/layer.tar"]}]).encode()),
               (cfg_name, "file", cfg), ("l/", "dir", None), ("l/layer.tar", "file", layer),
               ("repositories", "file", b'{"t":{"1":"x"}}')])
put("docker_archive", "seed-0", archive)

# --- hardener: package databases and versions ------------------------------------------------
put("dpkg_status", "seed-0", """Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Source: glibc (2.36-9)
Version: 2.36-9+deb12u4
Depends: libgcc-s1
Conffiles:
 /etc/ld.so.conf.d/x86_64-linux-gnu.conf d4e7a7b88a71b5ffd9e2644e71a0cfab
Description: GNU C Library
 Contains the standard libraries.
 .
 More.

Package: gone
Status: deinstall ok config-files
Architecture: all
Version: 1:1.0~rc1-2

""")
put("apk_installed", "seed-0", """C:Q1hvfkN/qlp/zhXR3cuerq6jd2Z7g=
P:musl
V:1.2.5-r0
A:x86_64
S:383152
I:622592
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Natanael Copa <ncopa@alpinelinux.org>
t:1712245306
c:e7ee7e5ef5fff7f6a9e3ae2b1b9b8e4cd7a3da1f
p:so:libc.musl-x86_64.so.1=1
r:foo
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1Kx6K/dqcQGI5m1vHl7TQ1Jmq0OI=
R:libc.musl-x86_64.so.1
a:0:0:777
Z:Q17yJ3JFNypA4mxhJJr0ou6CzsJVI=
M:0:0:755

""")
put("dpkg_version", "seed-0", "1:2.36-9+deb12u4\n2.36-9+b1\n2.36~rc1-1")
put("dpkg_version", "seed-1", "0:1.0\n1.0-0\n1.0+dfsg1-2ubuntu0.1~esm1")
put("apk_version", "seed-0", "1.2.4_git20230717-r4\n1.2.5-r0\n1.2.5_rc1-r1")
put("apk_version", "seed-1", "3.1.4_p1-r5\n3.1.4a_alpha2_pre1\n1.0_cvs20240101-r0")

# --- hardener: advisories and reports ---------------------------------------------------------
put("advisories", "seed-0", json.dumps({"id": "DSA-1-1", "modified": "2024-01-01T00:00:00Z",
                                        "aliases": ["CVE-2024-1"], "affected": [
                                            {"package": {"ecosystem": "Debian:12", "name": "openssl"},
                                             "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                                                                         {"fixed": "3.0.11-1"}]}]}]}))
put("advisories", "seed-1", json.dumps({"distroversion": "v3.20", "reponame": "main", "packages": [
    {"pkg": {"name": "musl", "secfixes": {"1.2.5-r1": ["CVE-2025-26519"], "0": ["CVE-2000-1"]}}}]}))
put("advisories", "seed-2", json.dumps({"openssl": {"CVE-2024-2": {"description": "x", "scope": "remote",
                                                                   "releases": {"bookworm": {
                                                                       "status": "resolved",
                                                                       "fixed_version": "3.0.13-1~deb12u1",
                                                                       "urgency": "medium",
                                                                       "repositories": {"bookworm": "3.0.11-1"}}}}}}))
put("trivy_report", "seed-0", json.dumps({"SchemaVersion": 2, "ArtifactName": "alpine:3.20", "ArtifactType":
                                          "container_image", "Metadata": {"OS": {"Family": "alpine",
                                                                                 "Name": "3.20.3"}},
                                          "Results": [{"Target": "alpine:3.20 (alpine 3.20.3)", "Class": "os-pkgs",
                                                       "Type": "alpine", "Vulnerabilities": [
                                                           {"VulnerabilityID": "CVE-2024-1", "PkgName": "musl",
                                                            "InstalledVersion": "1.2.5-r0",
                                                            "FixedVersion": "1.2.5-r1", "Severity": "HIGH",
                                                            "Status": "fixed"}]}]}))

# --- hardener: apt ------------------------------------------------------------------------------
sha = "0" * 64
put("apt_release", "seed-0", f"""Origin: Debian
Label: Debian
Suite: stable
Version: 12.8
Codename: bookworm
Date: Sat, 09 Nov 2024 10:46:17 UTC
Valid-Until: Sat, 16 Nov 2024 10:46:17 UTC
Acquire-By-Hash: yes
No-Support-for-Architecture-all: Packages
Architectures: all amd64 arm64
Components: main contrib
Description: Debian 12.8 Released 09 November 2024
SHA256:
 {sha}   123 main/binary-amd64/Packages
 {sha}   45 main/binary-amd64/Packages.xz
 {sha}   46 main/binary-all/Packages.gz
""")
put("apt_release", "seed-1", "deb [arch=amd64 signed-by=/usr/share/keyrings/debian.gpg] http://deb.debian.org/debian "
                             "bookworm main contrib\ndeb-src http://deb.debian.org/debian bookworm main\n")
put("apt_release", "seed-2", "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n"
                             "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
put("apt_release", "seed-3", "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nOrigin: Test\n- dash\n"
                             "-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAdFiEE\n=abcd\n-----END PGP SIGNATURE-----\n")
packages = f"""Package: libssl3
Source: openssl (3.0.15-1~deb12u1)
Version: 3.0.15-1~deb12u1
Installed-Size: 6000
Architecture: amd64
Multi-Arch: same
Depends: libc6 (>= 2.34), debconf (>= 0.5) | debconf-2.0
Pre-Depends: dpkg (>= 1.19)
Breaks: libssl1.1 (<< 1.1.1~)
Provides: libssl (= 3)
Filename: pool/main/o/openssl/libssl3_3.0.15-1~deb12u1_amd64.deb
Size: 2024000
SHA256: {sha}
Description: Secure Sockets Layer toolkit

Package: tzdata
Version: 2024a-0+deb12u1
Architecture: all
Filename: pool/main/t/tzdata/tzdata_2024a-0+deb12u1_all.deb
Size: 1
SHA256: {sha}
"""
put("apt_packages", "seed-0", b"\0" + packages.encode())
put("apt_packages", "seed-1", b"\3" + gzip.compress(packages.encode(), mtime=0))

# A .deb made by dpkg-deb from a tiny package of our own.
if shutil.which("dpkg-deb"):
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(f"{d}/p/DEBIAN")
        os.makedirs(f"{d}/p/etc")
        os.makedirs(f"{d}/p/usr/bin")
        open(f"{d}/p/DEBIAN/control", "w").write(
            "Package: fuzz-seed\nVersion: 1.0-1\nArchitecture: all\nMaintainer: x <x@y>\nDescription: seed\n")
        open(f"{d}/p/DEBIAN/conffiles", "w").write("/etc/seed.conf\n")
        open(f"{d}/p/DEBIAN/postinst", "w").write("#!/bin/sh\nexit 0\n")
        os.chmod(f"{d}/p/DEBIAN/postinst", 0o755)
        open(f"{d}/p/etc/seed.conf", "w").write("a=1\n")
        os.symlink("../../etc/seed.conf", f"{d}/p/usr/bin/seed")
        for i, comp in enumerate(["gzip", "xz", "none"]):
            subprocess.run(["dpkg-deb", "--root-owner-group", f"-Z{comp}", "--build", f"{d}/p", f"{d}/o.deb"],
                           check=True, capture_output=True, env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"})
            put("deb", f"seed-{i}", open(f"{d}/o.deb", "rb").read())

# --- hardener: apk --------------------------------------------------------------------------------
apkindex = """C:Q1hvfkN/qlp/zhXR3cuerq6jd2Z7g=
P:musl
V:1.2.5-r1
A:x86_64
S:411323
I:636928
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Natanael Copa <ncopa@alpinelinux.org>
t:1712245306
c:e7ee7e5ef5fff7f6a9e3ae2b1b9b8e4cd7a3da1f
D:so:libc.so>=1 !conflict
p:so:libc.musl-x86_64.so.1=1 cmd:ldd=1.2.5-r1
i:busybox

"""
put("apkindex", "seed-0", b"\0" + apkindex.encode())
put("apkindex", "seed-1", b"\2" + tar([("DESCRIPTION", "file", b"v3.20"), ("APKINDEX", "file", apkindex.encode())]))
pkginfo = b"""pkgname = seed
pkgver = 1.0-r0
pkgdesc = a seed
url = https://example.invalid/
builddate = 1700000000
size = 4
arch = noarch
license = MIT
depend = musl
"""
data_tar = tar([("usr/", "dir", None), ("usr/share/", "dir", None), ("usr/share/seed", "file", b""),
                ("usr/share/link", "sym", "seed")])
script = b"#!/bin/sh\nexit 0\n"
pad = lambda b: b + b"\n" * (-len(b) % 16)  # the harness cuts parts in 16-byte units
put("apk_package", "seed-0", b"\1" + bytes([len(pad(pkginfo)) // 16]) + pad(pkginfo) + bytes([len(pad(script)) // 16])
    + pad(script) + data_tar)
print("seeds written under", HERE)
