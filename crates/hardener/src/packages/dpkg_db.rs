//! Writing dpkg's database the way dpkg writes it, so that an upgrade done without dpkg
//! leaves a database that dpkg, apt and every scanner read as if dpkg had done it.
//!
//! Two pieces:
//! - [`StatusEntry::installed`] turns a package's `control` file (as in the `.deb`) into
//!   the stanza dpkg records in `var/lib/dpkg/status` for an installed package: fields in
//!   dpkg's own order (lib/dpkg/parse.c's field table, then the package's other fields in
//!   their original order), `Status: install ok installed` inserted, dependency fields in
//!   dpkg's canonical spelling, `Conffiles` with the hashes dpkg keeps, trailing blanks
//!   trimmed.
//! - [`rewrite_status`] replaces or inserts those stanzas in an existing status file,
//!   leaving every other stanza byte for byte as it was, in dpkg's order (by package
//!   name, then architecture).
//!
//! Both are pure functions over text, tested against dpkg itself (`dpkg --root -i` on the
//! same `.deb`s must produce the same bytes).

use std::fmt::Write as _;

// dpkg's status fields in the order dpkg writes them (lib/dpkg/parse.c); fields not listed
// there follow, in the order the package's control file has them.
use crate::apt::deb822::DPKG_FIELD_ORDER as FIELD_ORDER;
use crate::{Error, Result};

/// Fields whose value dpkg parses as a dependency list and writes back canonically.
const DEPENDENCY_FIELDS: &[&str] =
    &["Replaces", "Provides", "Depends", "Pre-Depends", "Recommends", "Suggests", "Breaks", "Conflicts", "Enhances"];

/// Fields of a `.deb`'s control file (or of the archive's indexes) that dpkg does not keep
/// in its status database.
const NOT_IN_STATUS: &[&str] = &["Filename", "Size", "MD5sum", "MSDOS-Filename", "Revision"];

/// A configuration file as dpkg records it in a package's `Conffiles` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConffileRecord {
    /// The absolute path (`/etc/foo.conf`).
    pub path: String,
    /// The md5 (hex) dpkg compares with to tell whether the user changed the file: the
    /// hash of the package's version of the file.
    pub md5: String,
    /// dpkg's `obsolete` flag: the current version of the package no longer ships it.
    pub obsolete: bool,
    /// dpkg's `remove-on-upgrade` flag.
    pub remove_on_upgrade: bool,
}

/// One package's stanza of dpkg's status database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEntry {
    package: String,
    architecture: String,
    multi_arch_same: bool,
    text: String,
}

/// One `Name: value` field of a stanza; `value` keeps its continuation lines (joined by
/// `\n`, each starting with its blank) with trailing blanks removed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field<'a> {
    name: &'a str,
    value: String,
}

impl StatusEntry {
    /// The stanza dpkg writes for `control` (a `.deb`'s control file) once the package is
    /// installed and configured, with `conffiles` as its `Conffiles` field (the order
    /// given, normally the package's `conffiles` member order).
    ///
    /// # Errors
    /// [`Error::PackageDb`] when `control` is not one deb822 stanza with `Package`,
    /// `Version` and `Architecture`, or a dependency field does not parse.
    pub fn installed(control: &str, conffiles: &[ConffileRecord]) -> Result<StatusEntry> {
        let fields = parse_stanza(control, "control")?;
        let get = |name: &str| fields.iter().find(|f| f.name.eq_ignore_ascii_case(name)).map(|f| f.value.as_str());
        let package = get("Package").ok_or_else(|| db_error("control", "no Package field"))?.to_owned();
        let architecture = get("Architecture")
            .ok_or_else(|| db_error("control", format!("package {package}: no Architecture field")))?
            .to_owned();
        get("Version").ok_or_else(|| db_error("control", format!("package {package}: no Version field")))?;
        let multi_arch_same = get("Multi-Arch").is_some_and(|m| m == "same");

        let mut known: Vec<(usize, String)> = Vec::new();
        let mut other: Vec<String> = Vec::new();
        for f in &fields {
            if NOT_IN_STATUS.iter().any(|n| n.eq_ignore_ascii_case(f.name))
                || ["Status", "Conffiles", "Config-Version", "Triggers-Pending", "Triggers-Awaited"]
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(f.name))
            {
                continue;
            }
            match FIELD_ORDER.iter().position(|n| n.eq_ignore_ascii_case(f.name)) {
                Some(i) => {
                    let name = FIELD_ORDER[i];
                    let value = if DEPENDENCY_FIELDS.contains(&name) {
                        canonical_dependencies(&f.value)
                            .map_err(|e| db_error("control", format!("package {package}: {name}: {e}")))?
                    } else {
                        f.value.clone()
                    };
                    // dpkg writes the boolean fields only when they are set, and Multi-Arch
                    // only when it is not the default.
                    let omitted = match name {
                        "Essential" | "Protected" => !value.eq_ignore_ascii_case("yes"),
                        "Multi-Arch" => value.eq_ignore_ascii_case("no"),
                        _ => value.is_empty(),
                    };
                    if !omitted {
                        known.push((i, line(name, &value)));
                    }
                }
                None => other.push(line(f.name, &f.value)),
            }
        }
        known.push((
            FIELD_ORDER.iter().position(|n| *n == "Status").expect("listed"),
            line("Status", "install ok installed"),
        ));
        if !conffiles.is_empty() {
            let mut value = String::new();
            for c in conffiles {
                let _ = write!(value, "\n {} {}", c.path, c.md5);
                if c.obsolete {
                    value.push_str(" obsolete");
                }
                if c.remove_on_upgrade {
                    value.push_str(" remove-on-upgrade");
                }
            }
            known.push((
                FIELD_ORDER.iter().position(|n| *n == "Conffiles").expect("listed"),
                format!("Conffiles:{value}\n"),
            ));
        }
        known.sort_by_key(|(i, _)| *i);
        let mut text: String = known.into_iter().map(|(_, l)| l).collect();
        for l in other {
            text.push_str(&l);
        }
        Ok(StatusEntry { package, architecture, multi_arch_same, text })
    }

    /// The package name.
    pub fn package(&self) -> &str {
        &self.package
    }

    /// The architecture (`amd64`, `all`…).
    pub fn architecture(&self) -> &str {
        &self.architecture
    }

    /// The stanza, every line ending in `\n`, without the blank line that separates
    /// stanzas.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether `stanza` (fields of an existing status entry) is the same package instance:
    /// the same name and, for `Multi-Arch: same` packages (several architectures
    /// installed side by side), the same architecture.
    fn is_instance(&self, package: &str, architecture: Option<&str>, multi_arch_same: bool) -> bool {
        package == self.package
            && (!(self.multi_arch_same && multi_arch_same) || architecture == Some(self.architecture.as_str()))
    }
}

/// `Name: value\n` as dpkg writes it (a value that starts with a continuation line, like
/// `Conffiles`, has nothing after the colon).
fn line(name: &str, value: &str) -> String {
    if value.starts_with('\n') { format!("{name}:{value}\n") } else { format!("{name}: {value}\n") }
}

fn db_error(path: &str, reason: impl std::fmt::Display) -> Error {
    Error::PackageDb { path: path.to_owned(), reason: reason.to_string() }
}

/// Parses one deb822 stanza (no blank lines inside). Values keep continuation lines.
fn parse_stanza<'a>(text: &'a str, path: &str) -> Result<Vec<Field<'a>>> {
    let mut fields: Vec<Field<'a>> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            if fields.is_empty() {
                continue;
            }
            // A blank line ends the stanza; only blank lines may follow.
            if text.lines().skip(i).any(|l| !l.trim().is_empty()) {
                return Err(db_error(path, format!("line {}: more than one stanza", i + 1)));
            }
            break;
        }
        if raw.starts_with([' ', '\t']) {
            let last = fields
                .last_mut()
                .ok_or_else(|| db_error(path, format!("line {}: continuation line before any field", i + 1)))?;
            last.value.push('\n');
            last.value.push_str(raw.trim_end());
            continue;
        }
        let (name, value) =
            raw.split_once(':').ok_or_else(|| db_error(path, format!("line {}: not a `Field: value` line", i + 1)))?;
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(db_error(path, format!("line {}: invalid field name {name:?}", i + 1)));
        }
        if fields.iter().any(|f| f.name.eq_ignore_ascii_case(name)) {
            return Err(db_error(path, format!("line {}: duplicate field {name}", i + 1)));
        }
        fields.push(Field { name, value: value.trim().to_owned() });
    }
    if fields.is_empty() {
        return Err(db_error(path, "empty stanza"));
    }
    Ok(fields)
}

/// A dependency field in dpkg's canonical spelling: `a (>= 1), b:any | c (= 2)`.
fn canonical_dependencies(value: &str) -> std::result::Result<String, String> {
    let flat = value.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut groups = Vec::new();
    for group in flat.split(',') {
        let group = group.trim();
        if group.is_empty() {
            // dpkg accepts an empty trailing element (`a, b,`) and drops it.
            continue;
        }
        let mut alternatives = Vec::new();
        for alt in group.split('|') {
            alternatives.push(canonical_relation(alt.trim())?);
        }
        groups.push(alternatives.join(" | "));
    }
    Ok(groups.join(", "))
}

fn canonical_relation(text: &str) -> std::result::Result<String, String> {
    let (name, rest) = match text.find(['(', '[', '<', ' ']) {
        Some(i) => (text[..i].trim(), text[i..].trim()),
        None => (text, ""),
    };
    if name.is_empty() {
        return Err(format!("missing package name in {text:?}"));
    }
    let mut out = name.to_owned();
    if let Some(inner) = rest.strip_prefix('(') {
        let inner = inner.strip_suffix(')').ok_or_else(|| format!("unclosed version in {text:?}"))?.trim();
        let op_len = inner.find(|c: char| !matches!(c, '<' | '>' | '=')).unwrap_or(inner.len());
        let (op, version) = (&inner[..op_len], inner[op_len..].trim());
        // dpkg still reads the obsolete `<` and `>` as `<=` and `>=`, and writes them so.
        let op = match op {
            "<" => "<=",
            ">" => ">=",
            "<<" | "<=" | "=" | ">=" | ">>" => op,
            "" => return Err(format!("missing version relation in {text:?}")),
            other => return Err(format!("unknown version relation {other:?} in {text:?}")),
        };
        if version.is_empty() {
            return Err(format!("missing version in {text:?}"));
        }
        let _ = write!(out, " ({op} {version})");
    } else if !rest.is_empty() {
        return Err(format!("unexpected {rest:?} after the package name in {text:?}"));
    }
    Ok(out)
}

/// `status` with each of `entries` in place of the stanza of the same package instance
/// (see [`StatusEntry`]), or inserted where dpkg would write it (stanzas are in package
/// name order, then architecture). Every other stanza is kept byte for byte; the result
/// separates stanzas by one blank line and ends with one, as dpkg writes it.
///
/// # Errors
/// [`Error::PackageDb`] (naming `path`) when a stanza has no `Package` field.
pub fn rewrite_status(status: &str, entries: &[StatusEntry], path: &str) -> Result<String> {
    struct Stanza<'a> {
        key: (String, String),
        text: std::borrow::Cow<'a, str>,
    }
    let mut stanzas: Vec<Stanza<'_>> = Vec::new();
    let mut pending: Vec<&StatusEntry> = entries.iter().collect();
    for (start_line, raw) in split_stanzas(status) {
        let fields = parse_stanza(raw, path).map_err(|e| match e {
            Error::PackageDb { reason, .. } => db_error(path, format!("stanza at line {start_line}: {reason}")),
            other => other,
        })?;
        let get = |name: &str| fields.iter().find(|f| f.name.eq_ignore_ascii_case(name)).map(|f| f.value.as_str());
        let package =
            get("Package").ok_or_else(|| db_error(path, format!("stanza at line {start_line}: no Package field")))?;
        let architecture = get("Architecture");
        let same = get("Multi-Arch") == Some("same");
        let key = (package.to_owned(), architecture.unwrap_or_default().to_owned());
        match pending.iter().position(|e| e.is_instance(package, architecture, same)) {
            Some(i) => {
                let entry = pending.remove(i);
                stanzas.push(Stanza {
                    key: (entry.package.clone(), entry.architecture.clone()),
                    text: entry.text.as_str().into(),
                });
            }
            None => stanzas.push(Stanza { key, text: raw.into() }),
        }
    }
    for entry in pending {
        let key = (entry.package.clone(), entry.architecture.clone());
        let at = stanzas.iter().position(|s| s.key > key).unwrap_or(stanzas.len());
        stanzas.insert(at, Stanza { key, text: entry.text.as_str().into() });
    }
    let mut out = String::with_capacity(status.len() + entries.iter().map(|e| e.text.len() + 1).sum::<usize>());
    for s in &stanzas {
        out.push_str(&s.text);
        if !s.text.ends_with('\n') {
            out.push('\n');
        }
        out.push('\n');
    }
    Ok(out)
}

/// The stanzas of a deb822 file with the line each starts on: each slice runs from its
/// first field to the end of its last line (newline included), blank lines excluded.
fn split_stanzas(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start: Option<(usize, usize)> = None;
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let blank = line.trim().is_empty();
        match (blank, start) {
            (false, None) => start = Some((i + 1, offset)),
            (true, Some((line_no, from))) => {
                out.push((line_no, &text[from..offset]));
                start = None;
            }
            _ => {}
        }
        offset += line.len();
    }
    if let Some((line_no, from)) = start {
        out.push((line_no, &text[from..]));
    }
    out
}

/// The name of a package's file in `var/lib/dpkg/info/`: `PKG.MEMBER`, or
/// `PKG:ARCH.MEMBER` for `Multi-Arch: same` packages (several instances side by side).
pub fn info_file_name(package: &str, architecture: &str, multi_arch_same: bool, member: &str) -> String {
    if multi_arch_same { format!("{package}:{architecture}.{member}") } else { format!("{package}.{member}") }
}

/// The `.list` file dpkg keeps for a package: `/.` then every path the package's data
/// archive holds (directories, files, links), absolute, in archive order.
pub fn list_file<'a>(paths: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::from("/.\n");
    for p in paths {
        let p = p.trim_start_matches("./").trim_start_matches('/').trim_end_matches('/');
        if p.is_empty() || p == "." {
            continue;
        }
        out.push('/');
        out.push_str(p);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTROL: &str = "Package: libfoo1\nVersion: 1.2-3\nArchitecture: amd64\nMaintainer: A <a@example.org>\n\
Installed-Size: 12\nDepends: libc6 (>=2.34),zlib1g|  libz ( >> 1:1.2 ) ,\nPre-Depends: dpkg (>= 1.15)\nSection: libs\n\
Priority: optional\nMulti-Arch: same\nHomepage: https://example.org/  \nSource: foo (1.2-3)\nDescription: a library\n \
with a longer description   \n .\n second paragraph\nBuilt-Using: bar (= 1)\n";

    #[test]
    fn installed_entry_orders_fields_as_dpkg_and_canonicalises_dependencies() {
        let conffiles = [ConffileRecord {
            path: "/etc/foo.conf".into(),
            md5: "d41d8cd98f00b204e9800998ecf8427e".into(),
            obsolete: false,
            remove_on_upgrade: false,
        }];
        let e = StatusEntry::installed(CONTROL, &conffiles).unwrap();
        assert_eq!(
            e.text(),
            "Package: libfoo1\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: 12\n\
Maintainer: A <a@example.org>\nArchitecture: amd64\nMulti-Arch: same\nSource: foo (1.2-3)\nVersion: 1.2-3\n\
Depends: libc6 (>= 2.34), zlib1g | libz (>> 1:1.2)\nPre-Depends: dpkg (>= 1.15)\n\
Conffiles:\n /etc/foo.conf d41d8cd98f00b204e9800998ecf8427e\nDescription: a library\n with a longer description\n .\n \
second paragraph\nHomepage: https://example.org/\nBuilt-Using: bar (= 1)\n"
        );
        assert_eq!(e.package(), "libfoo1");
        assert_eq!(e.architecture(), "amd64");
    }

    #[test]
    fn rewrite_replaces_the_instance_and_inserts_in_name_order() {
        let status = "Package: aaa\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n\n\
Package: libfoo1\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\nVersion: 1.0-1\n\n\
Package: libfoo1\nStatus: install ok installed\nArchitecture: i386\nMulti-Arch: same\nVersion: 1.0-1\n\n\
Package: zzz\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n\n";
        let upgraded = StatusEntry::installed(CONTROL, &[]).unwrap();
        let new = StatusEntry::installed(
            "Package: mmm\nVersion: 2\nArchitecture: all\nMaintainer: M <m@x>\nDescription: new\n",
            &[],
        )
        .unwrap();
        let out = rewrite_status(status, &[new, upgraded.clone()], "status").unwrap();
        let names: Vec<&str> = out.lines().filter(|l| l.starts_with("Package:") || l.starts_with("Version:")).collect();
        assert_eq!(
            names,
            [
                "Package: aaa",
                "Version: 1",
                "Package: libfoo1",
                "Version: 1.2-3",
                "Package: libfoo1",
                "Version: 1.0-1",
                "Package: mmm",
                "Version: 2",
                "Package: zzz",
                "Version: 1"
            ]
        );
        // The i386 instance and the others are untouched, byte for byte.
        assert!(out.contains(
            "Package: libfoo1\nStatus: install ok installed\nArchitecture: i386\nMulti-Arch: same\nVersion: 1.0-1\n\n"
        ));
        assert!(out.starts_with("Package: aaa\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n\n"));
        assert!(out.ends_with("Package: zzz\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n\n"));
        // Rewriting with the same entry again changes nothing.
        assert_eq!(rewrite_status(&out, &[upgraded], "status").unwrap(), out);
    }

    #[test]
    fn bad_input_is_refused_with_its_place() {
        let err = rewrite_status("Version: 1\n\n", &[], "var/lib/dpkg/status").unwrap_err().to_string();
        assert!(err.contains("var/lib/dpkg/status") && err.contains("line 1") && err.contains("no Package"), "{err}");
        let err = StatusEntry::installed("Package: a\nVersion: 1\nArchitecture: all\nDepends: b (>= )\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("Depends") && err.contains("missing version"), "{err}");
        let err = StatusEntry::installed("Package: a\nVersion: 1\n", &[]).unwrap_err().to_string();
        assert!(err.contains("no Architecture"), "{err}");
    }

    #[test]
    fn list_and_info_names() {
        assert_eq!(list_file(["./", "./usr/", "./usr/lib/libfoo.so.1"]), "/.\n/usr\n/usr/lib/libfoo.so.1\n");
        assert_eq!(info_file_name("libfoo1", "amd64", true, "list"), "libfoo1:amd64.list");
        assert_eq!(info_file_name("foo", "amd64", false, "md5sums"), "foo.md5sums");
    }
}

/// dpkg itself as the judge: the same `.deb`s installed by `dpkg --root` must leave the
/// same status file and `.list` files as [`rewrite_status`] and [`list_file`] compute.
#[cfg(test)]
mod dpkg_oracle {
    use std::path::Path;
    use std::process::Command;

    use super::*;

    fn run(cmd: &mut Command) -> String {
        let out = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e} (dpkg and dpkg-deb must be installed)"));
        assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Builds `NAME_VERSION.deb` in `dir` from a control file and `(path, content)` files.
    fn build_deb(dir: &Path, control: &str, files: &[(&str, &str)], conffiles: &[&str]) -> std::path::PathBuf {
        let tree = tempfile::tempdir_in(dir).unwrap();
        std::fs::create_dir(tree.path().join("DEBIAN")).unwrap();
        std::fs::write(tree.path().join("DEBIAN/control"), control).unwrap();
        if !conffiles.is_empty() {
            std::fs::write(tree.path().join("DEBIAN/conffiles"), conffiles.join("\n") + "\n").unwrap();
        }
        for (path, content) in files {
            let p = tree.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        let name = control.lines().next().unwrap().trim_start_matches("Package: ").to_owned();
        let deb = dir.join(format!("{name}-{}.deb", control.len()));
        run(Command::new("dpkg-deb").args(["--root-owner-group", "-Zgzip", "--build"]).arg(tree.path()).arg(&deb));
        deb
    }

    fn dpkg_install(root: &Path, debs: &[&Path]) {
        run(Command::new("dpkg")
            .arg(format!("--root={}", root.display()))
            .args(["--force-not-root", "--force-script-chrootless", "--force-unsafe-io", "--log=/dev/null", "-i"])
            .args(debs));
    }

    fn md5_hex(bytes: &[u8]) -> String {
        // `md5sum` is the reference implementation here; the crate has no md5 dependency yet.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, bytes).unwrap();
        run(Command::new("md5sum").arg(&p)).split_whitespace().next().unwrap().to_owned()
    }

    #[test]
    fn dpkg_writes_the_same_status_and_list_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
        std::fs::write(root.join("var/lib/dpkg/available"), "").unwrap();
        let arch = run(Command::new("dpkg").arg("--print-architecture")).trim().to_owned();
        let control = |name: &str, version: &str, extra: &str| {
            format!(
                "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: T <t@example.org>\n\
Installed-Size: 1\nSection: misc\nPriority: optional\n{extra}Description: test package {name}\n \
a longer description\n .\n more\n"
            )
        };
        let old_lib = build_deb(
            dir.path(),
            &control("libdemo1", "1.0-1", "Multi-Arch: same\nSource: demo\n"),
            &[("usr/lib/demo/libdemo.so.1", "old\n"), ("usr/share/doc/libdemo1/README", "r\n")],
            &[],
        );
        let other = build_deb(dir.path(), &control("zz-other", "1", ""), &[("usr/share/zz/x", "x\n")], &[]);
        dpkg_install(&root, &[&old_lib, &other]);
        let before = std::fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap();

        // The upgrade and a new dependency, with a conffile, odd dependency spacing and an
        // extra field.
        let new_control = control(
            "libdemo1",
            "1.0-1+deb12u1",
            "Multi-Arch: same\nSource: demo (1.0-1+deb12u1)\nDepends: demo-data(>=1.0) ,  zz-other| nothing\nHomepage: https://example.org/\n",
        );
        let new_lib = build_deb(
            dir.path(),
            &new_control,
            &[("usr/lib/demo/libdemo.so.1", "new\n"), ("etc/demo.conf", "conf\n")],
            &["/etc/demo.conf"],
        );
        let data_control = control("demo-data", "1.0-1+deb12u1", "Source: demo\n");
        let data = build_deb(dir.path(), &data_control, &[("usr/share/demo/data", "d\n")], &[]);
        dpkg_install(&root, &[&new_lib, &data]);
        let after = std::fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap();

        let field = |deb: &Path| run(Command::new("dpkg-deb").arg("--field").arg(deb));
        let entries = [
            StatusEntry::installed(
                &field(&new_lib),
                &[ConffileRecord {
                    path: "/etc/demo.conf".into(),
                    md5: md5_hex(b"conf\n"),
                    obsolete: false,
                    remove_on_upgrade: false,
                }],
            )
            .unwrap(),
            StatusEntry::installed(&field(&data), &[]).unwrap(),
        ];
        assert_eq!(rewrite_status(&before, &entries, "status").unwrap(), after);

        // The .list files: archive order, as `dpkg-deb --fsys-tarfile | tar -t` lists it.
        for (deb, name) in [(&new_lib, format!("libdemo1:{arch}.list")), (&data, "demo-data.list".to_owned())] {
            let listing =
                run(Command::new("sh").arg("-c").arg(format!("dpkg-deb --fsys-tarfile '{}' | tar -t", deb.display())));
            let ours = list_file(listing.lines());
            let dpkgs = std::fs::read_to_string(root.join("var/lib/dpkg/info").join(&name)).unwrap();
            let mut ours_sorted: Vec<&str> = ours.lines().collect();
            let mut dpkgs_sorted: Vec<&str> = dpkgs.lines().collect();
            ours_sorted.sort_unstable();
            dpkgs_sorted.sort_unstable();
            assert_eq!(ours_sorted, dpkgs_sorted, "{name}: the same paths");
            assert_eq!(ours, dpkgs, "{name}: in the same order");
        }
    }
}
