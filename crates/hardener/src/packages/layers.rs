//! Which layer introduced each package: one pass over the layers, base first, up to the
//! last one that changed a package database, reading only database entries.
//!
//! After each layer that writes or deletes a database file, the packages the databases
//! then list are compared with those listed before: a package (format, name,
//! architecture, version) seen for the first time gets this layer; one no longer listed
//! loses its layer, so a package removed and installed again is attributed to the layer
//! that installed it again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;

use oci_core::{EntryKind, MergedFs, OPAQUE_MARKER, WHITEOUT_PREFIX, read_entries};

use super::{APK_INSTALLED, DPKG_STATUS, DPKG_STATUS_D, DbFile, DbKind, MAX_DB_BYTES, PackageKey, too_large};
use crate::{Error, Result};

/// What the pass found.
pub(crate) struct Scan {
    /// The first layer of each package listed at the top layer.
    pub first_layer: HashMap<PackageKey, usize>,
    /// The bytes of the final database files (by real path), read on the way.
    pub contents: HashMap<String, Vec<u8>>,
}

/// Where database files live, under their usual and their resolved paths.
struct Targets {
    status: Vec<String>,
    status_d: Vec<String>,
    apk: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    Status,
    StatusD(String),
    Apk,
}

impl Slot {
    fn kind(&self) -> DbKind {
        match self {
            Slot::Status => DbKind::DpkgStatus,
            Slot::StatusD(_) => DbKind::DpkgStatusD,
            Slot::Apk => DbKind::Apk,
        }
    }

    fn display(&self) -> String {
        match self {
            Slot::Status => format!("/{DPKG_STATUS}"),
            Slot::StatusD(name) => format!("/{DPKG_STATUS_D}/{name}"),
            Slot::Apk => format!("/{APK_INSTALLED}"),
        }
    }
}

impl Targets {
    fn new(fs: &MergedFs) -> Targets {
        let with_real = |path: &str| {
            let mut v = vec![path.to_owned()];
            if let Some((real, _)) = fs.resolve(path)
                && real != path
            {
                v.push(real);
            }
            v
        };
        Targets { status: with_real(DPKG_STATUS), status_d: with_real(DPKG_STATUS_D), apk: with_real(APK_INSTALLED) }
    }

    fn slot(&self, path: &str) -> Option<Slot> {
        if self.status.iter().any(|p| p == path) {
            return Some(Slot::Status);
        }
        if self.apk.iter().any(|p| p == path) {
            return Some(Slot::Apk);
        }
        let (dir, name) = path.rsplit_once('/')?;
        (self.status_d.iter().any(|d| d == dir) && !name.ends_with(".md5sums")).then(|| Slot::StatusD(name.to_owned()))
    }
}

/// Whiteouts and opaque markers of one layer.
enum Removal {
    /// `.wh.NAME`: the path and everything below it.
    At(String),
    /// `.wh..wh..opq`: everything below the directory.
    Below(String),
}

impl Removal {
    fn hits(&self, target: &str) -> bool {
        match self {
            Removal::At(p) => target == p || target.strip_prefix(p.as_str()).is_some_and(|r| r.starts_with('/')),
            Removal::Below(d) => d.is_empty() || target.strip_prefix(d.as_str()).is_some_and(|r| r.starts_with('/')),
        }
    }
}

/// The packages the databases list after some layer.
#[derive(Default)]
struct State {
    status: HashSet<PackageKey>,
    status_d: BTreeMap<String, HashSet<PackageKey>>,
    apk: HashSet<PackageKey>,
}

impl State {
    /// Applies a whiteout or opaque marker; returns whether it removed a database.
    fn remove(&mut self, targets: &Targets, r: &Removal) -> bool {
        let mut touched = false;
        if targets.status.iter().any(|t| r.hits(t)) {
            touched |= !self.status.is_empty();
            self.status.clear();
        }
        if targets.apk.iter().any(|t| r.hits(t)) {
            touched |= !self.apk.is_empty();
            self.apk.clear();
        }
        if targets.status_d.iter().any(|d| r.hits(d) || matches!(r, Removal::Below(b) if b == d)) {
            touched |= !self.status_d.is_empty();
            self.status_d.clear();
        } else if let Removal::At(p) = r {
            for d in &targets.status_d {
                if let Some(name) = p.strip_prefix(d.as_str()).and_then(|r| r.strip_prefix('/')) {
                    touched |= self.status_d.remove(name).is_some();
                }
            }
        }
        touched
    }

    fn write(&mut self, slot: Slot, keys: HashSet<PackageKey>) {
        match slot {
            Slot::Status => self.status = keys,
            Slot::StatusD(name) => {
                self.status_d.insert(name, keys);
            }
            Slot::Apk => self.apk = keys,
        }
    }

    fn listed(&self) -> HashSet<&PackageKey> {
        self.status.iter().chain(self.status_d.values().flatten()).chain(&self.apk).collect()
    }
}

/// Streams layers `0..=top` of the filesystem's image, reading database entries only.
pub(crate) fn scan(fs: &MergedFs, dbs: &[DbFile], top: usize, warnings: &mut Vec<String>) -> Result<Scan> {
    let image = fs.image();
    let targets = Targets::new(fs);
    let wanted: HashMap<(usize, u64), &str> = dbs.iter().filter_map(|d| Some((d.data?, d.real.as_str()))).collect();
    let mut state = State::default();
    let mut first_layer: HashMap<PackageKey, usize> = HashMap::new();
    let mut contents = HashMap::new();
    for layer in image.layers().into_iter().take(top + 1) {
        let i = layer.index;
        let what = format!("layer {} ({i} of image {})", layer.descriptor.digest, image.digest());
        let mut removals = Vec::new();
        let mut writes: Vec<(Slot, Option<HashSet<PackageKey>>)> = Vec::new();
        let mut failure: Option<Error> = None;
        read_entries(image.open_layer(&layer)?, &what, |entry| {
            let path = std::mem::take(&mut entry.path);
            let path = path.as_str();
            let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
            if name == OPAQUE_MARKER {
                removals.push(Removal::Below(parent.to_owned()));
                return Ok(());
            }
            if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
                let p = if parent.is_empty() { hidden.to_owned() } else { format!("{parent}/{hidden}") };
                removals.push(Removal::At(p));
                return Ok(());
            }
            let slot = targets.slot(path);
            let final_copy = wanted.get(&(i, entry.index)).copied();
            if slot.is_none() && final_copy.is_none() {
                return Ok(());
            }
            if entry.meta.kind != EntryKind::File {
                if entry.meta.kind != EntryKind::Hardlink && slot.is_some() {
                    // A directory or symlink where a database was: it is gone.
                    removals.push(Removal::At(path.to_owned()));
                }
                return Ok(());
            }
            if entry.meta.size > MAX_DB_BYTES {
                failure = Some(too_large(&format!("/{path} (layer {i})"), entry.meta.size));
                return Err(oci_core::Error::Invalid { what: format!("/{path}"), reason: "too large".into() });
            }
            let mut buf = Vec::with_capacity(entry.meta.size as usize);
            entry
                .data()
                .take(MAX_DB_BYTES)
                .read_to_end(&mut buf)
                .map_err(|e| oci_core::Error::io(format!("reading /{path} from {what}"), e))?;
            if let Some(slot) = slot {
                let display = slot.display();
                let keys = match slot.kind().parse(&String::from_utf8_lossy(&buf), &display) {
                    Ok((packages, _)) => Some(packages.iter().map(|p| p.key()).collect()),
                    // The final copy's errors are reported when it is parsed for the inventory.
                    Err(_) if final_copy.is_some() => None,
                    Err(e) => {
                        warnings.push(format!("layer {i}: {e}; the layers of its packages may be approximate"));
                        None
                    }
                };
                writes.push((slot, keys));
            }
            if let Some(real) = final_copy {
                contents.insert(real.to_owned(), buf);
            }
            Ok(())
        })
        .map_err(|e| failure.take().unwrap_or(Error::Image(e)))?;

        let mut touched = false;
        for r in &removals {
            touched |= state.remove(&targets, r);
        }
        for (slot, keys) in writes {
            touched = true;
            if let Some(keys) = keys {
                state.write(slot, keys);
            }
        }
        if touched {
            let listed = state.listed();
            first_layer.retain(|k, _| listed.contains(k));
            for k in listed {
                first_layer.entry(k.clone()).or_insert(i);
            }
        }
    }
    Ok(Scan { first_layer, contents })
}
