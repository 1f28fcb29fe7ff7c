//! Layers and layouts written by hand, so tests can make them as wrong as they like.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{blob_path, digest_of};

/// Builds an uncompressed tar layer entry by entry, including entries that no well-behaved
/// writer would produce (`..`, absolute paths): their names are written into the header
/// bytes directly, bypassing the `tar` crate's checks.
pub struct TarLayer {
    builder: tar::Builder<Vec<u8>>,
}

impl Default for TarLayer {
    fn default() -> Self {
        TarLayer::new()
    }
}

impl TarLayer {
    /// An empty layer.
    pub fn new() -> TarLayer {
        let mut builder = tar::Builder::new(Vec::new());
        builder.mode(tar::HeaderMode::Deterministic);
        TarLayer { builder }
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_size(size);
        h
    }

    /// A directory.
    pub fn dir(self, path: &str, mode: u32) -> TarLayer {
        self.entry(Self::header(tar::EntryType::Directory, mode, 0), path, &[])
    }

    /// A regular file owned by root.
    pub fn file(self, path: &str, mode: u32, content: &[u8]) -> TarLayer {
        self.file_owned(path, mode, 0, 0, content)
    }

    /// A regular file with an owner.
    pub fn file_owned(self, path: &str, mode: u32, uid: u64, gid: u64, content: &[u8]) -> TarLayer {
        let mut h = Self::header(tar::EntryType::Regular, mode, content.len() as u64);
        h.set_uid(uid);
        h.set_gid(gid);
        self.entry(h, path, content)
    }

    /// A symlink (the target is written as given, `..` and all; long targets use GNU
    /// long-link records).
    pub fn symlink(mut self, path: &str, target: &str) -> TarLayer {
        let mut h = Self::header(tar::EntryType::Symlink, 0o777, 0);
        self.builder.append_link(&mut h, path, target).expect("appending a symlink");
        self
    }

    /// A hardlink to `target` (written as given).
    pub fn hardlink(mut self, path: &str, target: &str) -> TarLayer {
        let mut h = Self::header(tar::EntryType::Link, 0o644, 0);
        if target.len() < 100 {
            h.set_link_name_literal(target).expect("short link name");
            self.raw_entry(h, path.as_bytes(), &[])
        } else {
            self.builder.append_link(&mut h, path, target).expect("appending a hardlink");
            self
        }
    }

    /// A whiteout for `path` (`dir/.wh.name`).
    pub fn whiteout(self, path: &str) -> TarLayer {
        let (dir, name) = path.rsplit_once('/').map_or(("", path), |(d, n)| (d, n));
        let wh = if dir.is_empty() { format!(".wh.{name}") } else { format!("{dir}/.wh.{name}") };
        self.file(&wh, 0o644, b"")
    }

    /// An opaque marker making `dir` opaque.
    pub fn opaque(self, dir: &str) -> TarLayer {
        self.file(&format!("{dir}/.wh..wh..opq"), 0o644, b"")
    }

    /// A named pipe.
    pub fn fifo(self, path: &str, mode: u32) -> TarLayer {
        self.entry(Self::header(tar::EntryType::Fifo, mode, 0), path, &[])
    }

    fn entry(mut self, mut h: tar::Header, path: &str, content: &[u8]) -> TarLayer {
        self.builder.append_data(&mut h, path, content).expect("appending an entry");
        self
    }

    /// An entry whose name is written into the header verbatim (up to 100 bytes), so it
    /// may be absolute or contain `..`.
    pub fn raw_entry(mut self, mut h: tar::Header, name: &[u8], content: &[u8]) -> TarLayer {
        assert!(name.len() < 100, "raw names must fit the header");
        let slot = &mut h.as_old_mut().name;
        slot.fill(0);
        slot[..name.len()].copy_from_slice(name);
        h.set_size(content.len() as u64);
        h.set_cksum();
        self.builder.append(&h, content).expect("appending a raw entry");
        self
    }

    /// A regular file whose name is written verbatim (see [`TarLayer::raw_entry`]).
    pub fn raw_file(self, name: &str, content: &[u8]) -> TarLayer {
        let h = Self::header(tar::EntryType::Regular, 0o644, content.len() as u64);
        self.raw_entry(h, name.as_bytes(), content)
    }

    /// The finished tar bytes.
    pub fn finish(self) -> Vec<u8> {
        self.builder.into_inner().expect("finishing the tar")
    }
}

/// gzip-compresses `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

/// An OCI image layout written byte by byte, so tests can make it as wrong as they like:
/// blobs are stored under whatever name the test says.
pub struct RawLayout {
    /// The layout directory.
    pub dir: PathBuf,
    tags: Vec<Value>,
}

/// A descriptor as JSON, with its digest at hand.
#[derive(Debug, Clone)]
pub struct Desc {
    /// `sha256:…`
    pub digest: String,
    /// The JSON descriptor.
    pub json: Value,
}

impl RawLayout {
    /// Creates `dir` with `oci-layout` and an empty `index.json`.
    pub fn create(dir: &Path) -> RawLayout {
        fs::create_dir_all(dir.join("blobs/sha256")).expect("creating the layout");
        fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("writing oci-layout");
        let layout = RawLayout { dir: dir.to_owned(), tags: Vec::new() };
        layout.write_index();
        layout
    }

    /// Stores `bytes` under their own digest.
    pub fn blob(&self, media_type: &str, bytes: &[u8]) -> Desc {
        let digest = digest_of(bytes);
        self.blob_named(&digest, bytes);
        Desc { json: json!({"mediaType": media_type, "digest": digest, "size": bytes.len()}), digest }
    }

    /// Stores `bytes` under `digest`, whatever they hash to.
    pub fn blob_named(&self, digest: &str, bytes: &[u8]) {
        fs::write(blob_path(&self.dir, digest), bytes).expect("writing a blob");
    }

    /// Writes an OCI image whose layers are the given uncompressed tars (gzip-compressed
    /// here), with a matching config; returns the manifest's descriptor.
    pub fn image(&self, layers: &[Vec<u8>]) -> Desc {
        let mut descs = Vec::new();
        let mut diff_ids = Vec::new();
        for tar in layers {
            diff_ids.push(digest_of(tar));
            descs.push(self.blob("application/vnd.oci.image.layer.v1.tar+gzip", &gzip(tar)).json);
        }
        let config = serde_json::to_vec(&json!({
            "created": "2024-01-01T00:00:00Z",
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .expect("JSON");
        let config = self.blob("application/vnd.oci.image.config.v1+json", &config);
        self.manifest(&config.json, &descs)
    }

    /// Writes a manifest with the given config and layer descriptors.
    pub fn manifest(&self, config: &Value, layers: &[Value]) -> Desc {
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config,
            "layers": layers,
        }))
        .expect("JSON");
        self.blob("application/vnd.oci.image.manifest.v1+json", &manifest)
    }

    /// Tags a descriptor in `index.json`.
    pub fn tag(&mut self, tag: &str, desc: &Desc) {
        let mut d = desc.json.clone();
        d["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        self.tags.push(d);
        self.write_index();
    }

    fn write_index(&self) {
        let index =
            json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": self.tags});
        fs::write(self.dir.join("index.json"), serde_json::to_vec(&index).expect("JSON")).expect("writing index.json");
    }
}
