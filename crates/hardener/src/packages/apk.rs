//! apk's database of installed packages: `lib/apk/db/installed`.
//!
//! One block per package, blocks separated by blank lines; each line is `X:value` with a
//! one-letter key (`P` name, `V` version, `A` architecture, `o` origin, `F`/`R` files…),
//! as apk-tools writes it.

use super::dpkg::snippet;
use super::{Package, PackageFormat};
use crate::{Error, Result};

/// Parses `lib/apk/db/installed`. Every block with a name (`P:`) and a version (`V:`) is
/// an installed package; its source is the origin (`o:`, else the name) at the same
/// version. Blocks without a name or version are skipped with a warning naming their
/// first line. `path` names the file in messages and in [`Package::db_path`].
///
/// # Errors
/// [`Error::PackageDb`] with the line number when a line is not `X:value` (a corrupt
/// file). A file cut in its last line is a warning; the package that line belongs to is
/// dropped when the cut field is `P`, `V`, `A` or `o`.
pub fn parse_apk_installed(text: &str, path: &str) -> Result<(Vec<Package>, Vec<String>)> {
    let mut packages = Vec::new();
    let mut warnings = Vec::new();
    let cut = !text.is_empty() && !text.ends_with('\n');
    let last = text.split('\n').count();
    let mut block: Option<Block> = None;
    let mut seen_block = false;
    for (i, raw) in text.split('\n').enumerate() {
        let no = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            if let Some(b) = block.take() {
                b.finish(path, &mut packages, &mut warnings);
            }
            continue;
        }
        let bytes = line.as_bytes();
        if bytes.len() < 2 || bytes[1] != b':' || !bytes[0].is_ascii_alphanumeric() {
            if cut && no == last {
                break; // reported below as a cut file
            }
            return Err(Error::PackageDb {
                path: path.to_owned(),
                reason: format!("line {no}: expected `X:value`, found {}", snippet(line)),
            });
        }
        seen_block = true;
        let b = block.get_or_insert_with(|| Block { start: no, ..Block::default() });
        // `bytes[0]` is ASCII and `bytes[1]` is ':', so index 2 is a character boundary.
        let value = &line[2..];
        let slot = match bytes[0] {
            b'P' => &mut b.name,
            b'V' => &mut b.version,
            b'A' => &mut b.arch,
            b'o' => &mut b.origin,
            _ => continue,
        };
        if let Some((_, first)) = slot {
            warnings.push(format!(
                "{path}: line {no}: second {}: line in the entry of line {} (first on line {first}); ignored",
                bytes[0] as char, b.start
            ));
            continue;
        }
        *slot = Some((value.trim().to_owned(), no));
        if cut && no == last {
            b.truncated = Some((no, bytes[0] as char));
        }
    }
    if let Some(b) = block.take() {
        b.finish(path, &mut packages, &mut warnings);
    }
    if cut {
        warnings.push(format!("{path}: line {last}: the file ends without a newline: it may be truncated"));
    }
    if !seen_block {
        warnings.push(format!("{path}: no package entry: the database is empty"));
    }
    Ok((packages, warnings))
}

#[derive(Debug, Default)]
struct Block {
    start: usize,
    name: Option<(String, usize)>,
    version: Option<(String, usize)>,
    arch: Option<(String, usize)>,
    origin: Option<(String, usize)>,
    truncated: Option<(usize, char)>,
}

impl Block {
    fn finish(self, path: &str, out: &mut Vec<Package>, warnings: &mut Vec<String>) {
        let mut warn = |line: usize, msg: String| warnings.push(format!("{path}: line {line}: {msg}"));
        let Some((name, _)) = self.name.filter(|(n, _)| !n.is_empty()) else {
            warn(self.start, "entry without a package name (P:); skipped".into());
            return;
        };
        if let Some((line, key)) = self.truncated {
            warn(line, format!("the file ends inside package {name}'s {key}: line; package skipped"));
            return;
        }
        let Some((version, _)) = self.version.filter(|(v, _)| !v.is_empty()) else {
            warn(self.start, format!("package {name} has no version (V:); skipped"));
            return;
        };
        let source_name = self.origin.map(|(o, _)| o).filter(|o| !o.is_empty()).unwrap_or_else(|| name.clone());
        out.push(Package {
            source_version: version.clone(),
            name,
            version,
            architecture: self.arch.map(|(a, _)| a).filter(|a| !a.is_empty()),
            source_name,
            format: PackageFormat::Apk,
            layer: None,
            db_path: path.to_owned(),
            status: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/dpkg/");

    fn parse_fixture(name: &str) -> (Vec<Package>, Vec<String>) {
        let text = std::fs::read_to_string(format!("{DIR}{name}")).unwrap();
        parse_apk_installed(&text, "/lib/apk/db/installed").unwrap()
    }

    /// `name version (origin)` per package, sorted.
    fn listing(p: &[Package]) -> Vec<String> {
        let mut v: Vec<String> = p.iter().map(|p| format!("{} {} ({})", p.name, p.version, p.source_name)).collect();
        v.sort();
        v
    }

    // The package tables of ../shared/fixtures/README.md (from the tarballs' own
    // lib/apk/db/installed): name, version and origin of each package.
    #[test]
    fn alpine_3_19_4_minirootfs() {
        let (p, w) = parse_fixture("alpine-minirootfs-apk-installed/alpine-3.19.4-x86_64-installed");
        assert_eq!(
            listing(&p),
            [
                "alpine-baselayout 3.4.3-r2 (alpine-baselayout)",
                "alpine-baselayout-data 3.4.3-r2 (alpine-baselayout)",
                "alpine-keys 2.4-r1 (alpine-keys)",
                "apk-tools 2.14.4-r0 (apk-tools)",
                "busybox 1.36.1-r19 (busybox)",
                "busybox-binsh 1.36.1-r19 (busybox)",
                "ca-certificates-bundle 20240226-r0 (ca-certificates)",
                "libc-utils 0.7.2-r5 (libc-dev)",
                "libcrypto3 3.1.7-r0 (openssl)",
                "libssl3 3.1.7-r0 (openssl)",
                "musl 1.2.4_git20230717-r4 (musl)",
                "musl-utils 1.2.4_git20230717-r4 (musl)",
                "scanelf 1.3.7-r2 (pax-utils)",
                "ssl_client 1.36.1-r19 (busybox)",
                "zlib 1.3.1-r0 (zlib)",
            ]
        );
        assert!(w.is_empty(), "{w:?}");
        assert!(p.iter().all(|p| p.architecture.as_deref() == Some("x86_64") && p.source_version == p.version));
        assert!(p.iter().all(|p| p.format == PackageFormat::Apk && p.status.is_none()));
    }

    #[test]
    fn alpine_3_20_3_minirootfs() {
        let (p, w) = parse_fixture("alpine-minirootfs-apk-installed/alpine-3.20.3-x86_64-installed");
        assert_eq!(
            listing(&p),
            [
                "alpine-baselayout 3.6.5-r0 (alpine-baselayout)",
                "alpine-baselayout-data 3.6.5-r0 (alpine-baselayout)",
                "alpine-keys 2.4-r1 (alpine-keys)",
                "apk-tools 2.14.4-r0 (apk-tools)",
                "busybox 1.36.1-r29 (busybox)",
                "busybox-binsh 1.36.1-r29 (busybox)",
                "ca-certificates-bundle 20240705-r0 (ca-certificates)",
                "libcrypto3 3.3.2-r0 (openssl)",
                "libssl3 3.3.2-r0 (openssl)",
                "musl 1.2.5-r0 (musl)",
                "musl-utils 1.2.5-r0 (musl)",
                "scanelf 1.3.7-r2 (pax-utils)",
                "ssl_client 1.36.1-r29 (busybox)",
                "zlib 1.3.1-r1 (zlib)",
            ]
        );
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn trivy_database_with_an_entry_without_version() {
        let (p, w) = parse_fixture("trivy-apk/installed");
        assert_eq!(p.len(), 15, "16 entries, one without a version");
        assert!(listing(&p).contains(&"musl 1.1.14-r10 (musl)".to_owned()), "{:?}", listing(&p));
        assert!(listing(&p).contains(&"busybox 1.24.2-r9 (busybox)".to_owned()));
        assert_eq!(
            w[0],
            "/lib/apk/db/installed: line 23: package invalidPackageWithoutAVersion has no version (V:); skipped"
        );
        // This copy of the database lost its final newline: said, not hidden.
        assert!(w[1].ends_with("the file ends without a newline: it may be truncated"), "{w:?}");
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn corrupt_cut_and_empty() {
        let err = parse_apk_installed("P:a\nV:1\ngarbage line\n", "db").unwrap_err().to_string();
        assert_eq!(err, "package database db: line 3: expected `X:value`, found \"garbage line\"");
        let (p, w) = parse_apk_installed("P:a\nV:1-r0\n\nP:b\nV:2-r", "db").unwrap();
        assert_eq!(listing(&p), ["a 1-r0 (a)"]);
        assert_eq!(w[0], "db: line 5: the file ends inside package b's V: line; package skipped");
        let (p, w) = parse_apk_installed("C:x\nV:1\n\nP:only\r\nV:2\r\nP:again\r\n", "db").unwrap();
        assert_eq!(listing(&p), ["only 2 (only)"]);
        assert_eq!(w[0], "db: line 1: entry without a package name (P:); skipped");
        assert!(w[1].contains("line 6: second P: line in the entry of line 4"), "{w:?}");
        let (p, w) = parse_apk_installed("\n\n", "db").unwrap();
        assert!(p.is_empty());
        assert_eq!(w, ["db: no package entry: the database is empty"]);
    }
}
