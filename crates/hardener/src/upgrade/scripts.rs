//! Maintainer scripts and triggers, which are never run: what each would have done on an
//! upgrade, classified from a small documented table.
//!
//! A maintainer script is read as shell text: the boilerplate every script has (the
//! `#!` line, comments, `set -e`, `exit 0`, the `case "$1" in … esac` skeleton) is
//! ignored, and each debhelper-generated block (`# Automatically added by dh_NAME/…` up
//! to `# End automatically added section`) is looked up in [`HARMLESS_DEBHELPER`]. A
//! script made only of those is *recorded* as harmless; anything else is *unknown*, and
//! refused under [`ScriptPolicy::Refuse`].
//!
//! Triggers (`DEBIAN/triggers` lines): `activate[-noawait] ldconfig` (and
//! `libc-upgrade`) is handled natively — nothing to do when the shared libraries the
//! package ships under the library directories are the same before and after (or the
//! image has no `/etc/ld.so.cache` to refresh) — and refused otherwise; `interest`
//! declarations whose path is in [`HARMLESS_INTEREST`] are recorded; anything else is
//! unknown.

use serde::Serialize;

/// What to do about a maintainer script or trigger that would have to run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ScriptPolicy {
    /// Refuse the upgrade (nothing written), naming the package and script.
    #[default]
    Refuse,
    /// Go on, listing the script as not run in the report.
    Warn,
}

/// What was done about one script or trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ScriptDisposition {
    /// Its effect was done natively (or there was nothing to do).
    Handled,
    /// Known to be harmless inside an image; recorded, not run.
    Harmless,
    /// Stored in the database only: dpkg does not run it on an upgrade either.
    Stored,
    /// Unknown and not run ([`ScriptPolicy::Warn`]).
    NotRun,
}

/// One maintainer script or trigger of an upgraded package, and what was done about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScriptOutcome {
    /// `preinst`, `postinst`, `prerm`, `postrm`, `config`, or `trigger`.
    pub kind: String,
    /// Which version's script (`new` or `old`), or the trigger line.
    pub name: String,
    /// What was done.
    pub disposition: ScriptDisposition,
    /// Why (the debhelper blocks seen, the first unknown line, the soname check…).
    pub detail: String,
}

/// debhelper blocks harmless to skip when a package is upgraded within itself (its files
/// are already in place, no service runs in an image build): the tool's name and why.
pub const HARMLESS_DEBHELPER: &[(&str, &str)] = &[
    ("dh_installmenu", "menu entries (update-menus): no menu system in an image"),
    ("dh_installmime", "MIME database (update-mime): a cache rebuilt on use"),
    ("dh_installsystemd", "systemd units enabled/started: no systemd runs during a build"),
    ("dh_installsystemduser", "systemd user units: no systemd runs during a build"),
    ("dh_systemd_enable", "systemd units enabled: already enabled by the installed version"),
    ("dh_systemd_start", "systemd units restarted: no systemd runs during a build"),
    ("dh_installinit", "init scripts restarted: no init runs during a build"),
    ("dh_installalternatives", "update-alternatives: the same alternatives, already registered"),
    ("dh_installdebconf", "debconf purge on removal only"),
    ("dh_icons", "icon cache (gtk-update-icon-cache): a cache"),
    ("dh_installdocs", "doc-base registration: documentation index"),
    ("dh_installxmlcatalogs", "XML catalogs: the same entries, already registered"),
    ("dh_usrlocal", "/usr/local directories: created by the installed version"),
];

/// File-trigger interests whose processing only rebuilds an index or cache.
pub const HARMLESS_INTEREST: &[(&str, &str)] = &[
    ("/usr/share/man", "man-db index (mandb): a cache"),
    ("/usr/share/info", "info directory index"),
    ("/usr/share/mime/packages", "shared MIME database: a cache"),
    ("/usr/lib/mime/packages", "mailcap entries (update-mime)"),
    ("/usr/share/applications", "desktop database: a cache"),
    ("/usr/share/icons/hicolor", "icon cache"),
    ("/usr/share/menu", "menu entries"),
    ("/usr/share/doc-base", "doc-base registration"),
];

/// Trigger names the dynamic linker cache answers to.
const LDCONFIG_TRIGGERS: &[&str] = &["ldconfig", "libc-upgrade"];

/// What a script holds, as far as the classifier can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptClass {
    /// Only boilerplate and the harmless debhelper blocks named.
    Harmless(Vec<&'static str>),
    /// Something else: the first line that is not understood (trimmed).
    Unknown(String),
}

/// Classifies a maintainer script's text (see the module documentation).
pub fn classify_script(text: &str) -> ScriptClass {
    let mut blocks: Vec<&'static str> = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, raw)) = lines.next() {
        let line = raw.trim();
        if let Some(rest) = line.strip_prefix("# Automatically added by ") {
            let tool = rest.split('/').next().unwrap_or(rest).trim();
            let Some((name, _)) = HARMLESS_DEBHELPER.iter().find(|(n, _)| *n == tool) else {
                return ScriptClass::Unknown(format!("a block added by {tool}"));
            };
            // Skip to the block's end.
            let mut closed = false;
            for (_, l) in lines.by_ref() {
                if l.trim() == "# End automatically added section" {
                    closed = true;
                    break;
                }
            }
            if !closed {
                return ScriptClass::Unknown(format!("an unterminated {tool} block"));
            }
            if !blocks.contains(name) {
                blocks.push(name);
            }
            continue;
        }
        if (i == 0 && line.starts_with("#!")) || is_boilerplate(line) {
            continue;
        }
        return ScriptClass::Unknown(line.to_owned());
    }
    ScriptClass::Harmless(blocks)
}

/// Lines every maintainer script may have that do nothing by themselves.
fn is_boilerplate(line: &str) -> bool {
    if line.is_empty() || line.starts_with('#') {
        return true;
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["set", flags] => flags.starts_with('-') && flags[1..].chars().all(|c| matches!(c, 'e' | 'u')),
        ["exit", "0"] | ["esac"] | [";;"] | [":"] | ["true"] => true,
        ["case", var, "in"] => matches!(*var, "\"$1\"" | "$1"),
        // A case label over dpkg's actions (`configure|abort-upgrade)`, `*)`), alone or
        // with an empty body (`configure) ;;`).
        [label] | [label, ";;"] | [label, ":", ";;"] => is_case_label(label),
        _ => false,
    }
}

fn is_case_label(label: &str) -> bool {
    let Some(alts) = label.strip_suffix(')') else { return false };
    alts.split('|').all(|a| {
        matches!(
            a.trim_matches('"'),
            "configure"
                | "install"
                | "upgrade"
                | "remove"
                | "purge"
                | "failed-upgrade"
                | "abort-install"
                | "abort-upgrade"
                | "abort-remove"
                | "abort-deconfigure"
                | "deconfigure"
                | "disappear"
                | "reconfigure"
                | "triggered"
                | "*"
        )
    })
}

/// One line of a `triggers` control file, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerClass {
    /// An activation of the dynamic linker cache (`ldconfig`, `libc-upgrade`).
    Ldconfig,
    /// An interest declared in a path or name known to be harmless.
    HarmlessInterest(&'static str),
    /// Anything else.
    Unknown,
}

/// Classifies one `triggers` line (`activate-noawait ldconfig`, `interest /usr/share/man`).
pub fn classify_trigger(line: &str) -> TriggerClass {
    let mut words = line.split_whitespace();
    let (Some(directive), Some(name)) = (words.next(), words.next()) else { return TriggerClass::Unknown };
    match directive {
        "activate" | "activate-await" | "activate-noawait" if LDCONFIG_TRIGGERS.contains(&name) => {
            TriggerClass::Ldconfig
        }
        "interest" | "interest-await" | "interest-noawait" => HARMLESS_INTEREST
            .iter()
            .find(|(p, _)| *p == name)
            .map_or(TriggerClass::Unknown, |(_, why)| TriggerClass::HarmlessInterest(why)),
        _ => TriggerClass::Unknown,
    }
}

/// The shared-library names among `paths` (as a package lists them): file names holding
/// `.so` directly under a library directory (`/lib`, `/usr/lib`, `/lib64`, their
/// multiarch subdirectories…), with `/lib` folded onto `/usr/lib`, sorted.
pub fn library_names<'a>(paths: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = paths
        .into_iter()
        .filter_map(|p| {
            let p = p.trim_start_matches('/');
            let p = p.strip_prefix("usr/").unwrap_or(p);
            let (dir, name) = p.rsplit_once('/')?;
            let top = dir.split('/').next()?;
            let lib_dir = matches!(top, "lib" | "lib32" | "lib64" | "libx32") && dir.split('/').count() <= 2;
            (lib_dir && (name.contains(".so.") || name.ends_with(".so"))).then(|| format!("{dir}/{name}"))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debhelper_only_scripts_are_harmless_and_anything_else_is_unknown() {
        let menu = "#!/bin/sh\nset -e\n# Automatically added by dh_installmenu/13.11.4\nif [ \"$1\" = \"configure\" ] && [ -x \"`command -v update-menus`\" ]; then\n\tupdate-menus\nfi\n# End automatically added section\n";
        assert_eq!(classify_script(menu), ScriptClass::Harmless(vec!["dh_installmenu"]));
        let skeleton = "#! /bin/sh\n# postinst\nset -e\ncase \"$1\" in\n    configure)\n    ;;\n    abort-upgrade|abort-remove|abort-deconfigure)\n    ;;\n    *)\n        echo \"postinst called with unknown argument\" >&2\n        exit 1\n    ;;\nesac\nexit 0\n";
        assert_eq!(
            classify_script(skeleton),
            ScriptClass::Unknown("echo \"postinst called with unknown argument\" >&2".into())
        );
        let conffile_move = "#!/bin/sh\nset -e\n# Automatically added by dh_installdeb/13.11.4\ndpkg-maintscript-helper rm_conffile /etc/x 1.0~ -- \"$@\"\n# End automatically added section\n";
        assert_eq!(classify_script(conffile_move), ScriptClass::Unknown("a block added by dh_installdeb".into()));
        assert_eq!(classify_script("#!/bin/sh\nset -e\nldconfig\n"), ScriptClass::Unknown("ldconfig".into()));
        assert_eq!(
            classify_script("#!/bin/sh\n# Automatically added by dh_installinit/13\nexit 0\n"),
            ScriptClass::Unknown("an unterminated dh_installinit block".into())
        );
        assert_eq!(classify_script("#!/bin/sh\nset -eu\n\nexit 0\n"), ScriptClass::Harmless(vec![]));
    }

    #[test]
    fn triggers_and_library_names() {
        assert_eq!(classify_trigger("activate-noawait ldconfig"), TriggerClass::Ldconfig);
        assert_eq!(classify_trigger("activate libc-upgrade"), TriggerClass::Ldconfig);
        assert!(matches!(classify_trigger("interest-noawait /usr/share/man"), TriggerClass::HarmlessInterest(_)));
        assert_eq!(classify_trigger("interest-noawait /usr/lib/python3/dist-packages"), TriggerClass::Unknown);
        assert_eq!(classify_trigger("activate-noawait update-initramfs"), TriggerClass::Unknown);
        assert_eq!(classify_trigger("garbage"), TriggerClass::Unknown);
        assert_eq!(
            library_names([
                "/.",
                "/usr/lib/x86_64-linux-gnu/libfoo.so.1.0",
                "/lib/x86_64-linux-gnu/libfoo.so.1",
                "/usr/lib/x86_64-linux-gnu/engines-3/afalg.so",
                "/usr/share/doc/libfoo1/copyright",
                "/usr/lib/libz.so",
            ]),
            ["lib/libz.so", "lib/x86_64-linux-gnu/libfoo.so.1", "lib/x86_64-linux-gnu/libfoo.so.1.0"]
        );
    }

    /// Real bookworm scripts (copied from `/var/lib/dpkg/info` of a bookworm machine), and the
    /// machine's own scripts when it has them.
    #[test]
    fn real_debian_scripts() {
        let bc_postinst = "#!/bin/sh\nset -e\n# Automatically added by dh_installmenu/13.5.1\nif [ \"$1\" = \"configure\" ] && [ -x \"`command -v update-menus`\" ]; then\n\tupdate-menus\nfi\n# End automatically added section\n";
        assert_eq!(classify_script(bc_postinst), ScriptClass::Harmless(vec!["dh_installmenu"]));
        let dpkg_prerm = "#!/bin/sh\nset -e\n# Automatically added by dh_installsystemd/13.11.4\nif [ -z \"${DPKG_ROOT:-}\" ] && [ \"$1\" = remove ] && [ -d /run/systemd/system ] ; then\n\tdeb-systemd-invoke stop 'dpkg-db-backup.service' 'dpkg-db-backup.timer' >/dev/null || true\nfi\n# End automatically added section\n";
        assert_eq!(classify_script(dpkg_prerm), ScriptClass::Harmless(vec!["dh_installsystemd"]));
        let apt_postinst_head = "#! /bin/sh\nset -e\n\nif [ \"$1\" = 'configure' ] && [ -z \"$DPKG_ROOT\" ] && ! getent passwd _apt >/dev/null; then\n\t# add unprivileged user for the apt methods\n\tadduser --force-badname --system --home /nonexistent  \\\n\t    --no-create-home --quiet _apt || true\nfi\n";
        assert_eq!(
            classify_script(apt_postinst_head),
            ScriptClass::Unknown(
                "if [ \"$1\" = 'configure' ] && [ -z \"$DPKG_ROOT\" ] && ! getent passwd _apt >/dev/null; then".into()
            )
        );
        // The machine's scripts: every one that uses dpkg-maintscript-helper (conffile moves)
        // is unknown; every one made only of harmless blocks is harmless.
        let Ok(dir) = std::fs::read_dir("/var/lib/dpkg/info") else { return };
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !["postinst", "preinst", "prerm", "postrm"].iter().any(|s| name.ends_with(&format!(".{s}"))) {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(entry.path()) else { continue };
            let class = classify_script(&text);
            if text.contains("dpkg-maintscript-helper") {
                assert!(matches!(class, ScriptClass::Unknown(_)), "{name}: {class:?}");
            }
            if let ScriptClass::Harmless(blocks) = &class {
                assert!(text.lines().all(|l| is_boilerplate(l.trim()) || l.starts_with("#!")) || !blocks.is_empty());
                assert!(!text.contains("adduser") && !text.contains("dpkg-maintscript-helper"), "{name}");
            }
        }
    }
}
