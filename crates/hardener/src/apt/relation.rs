//! Package relationship fields (`Depends`, `Pre-Depends`, `Provides`, `Breaks`, `Conflicts`,
//! `Replaces`…): `a (>= 1.2) | b:any, c [amd64]` as typed values (Debian Policy §7.1).

use std::fmt;

use crate::DpkgVersion;

/// A version relation operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionOp {
    /// `<<`: strictly earlier.
    Lt,
    /// `<=` (or the obsolete `<`): earlier or equal.
    Le,
    /// `=`: exactly equal.
    Eq,
    /// `>=` (or the obsolete `>`): later or equal.
    Ge,
    /// `>>`: strictly later.
    Gt,
}

impl VersionOp {
    /// The operator as Policy writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionOp::Lt => "<<",
            VersionOp::Le => "<=",
            VersionOp::Eq => "=",
            VersionOp::Ge => ">=",
            VersionOp::Gt => ">>",
        }
    }

    /// Whether `candidate OP required` holds.
    pub fn matches(self, candidate: &DpkgVersion, required: &DpkgVersion) -> bool {
        let ord = candidate.cmp(required);
        match self {
            VersionOp::Lt => ord.is_lt(),
            VersionOp::Le => ord.is_le(),
            VersionOp::Eq => ord.is_eq(),
            VersionOp::Ge => ord.is_ge(),
            VersionOp::Gt => ord.is_gt(),
        }
    }
}

/// The architecture qualifier after a package name (`name:any`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ArchQualifier {
    /// `:any`: any architecture, for `Multi-Arch: allowed` packages.
    Any,
    /// `:native`: the native architecture.
    Native,
    /// `:<arch>`: a named architecture.
    Arch(String),
}

/// One package relation: a name with optional qualifier, version constraint, architecture
/// restriction and build profiles.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Relation {
    /// The package (or virtual package) name.
    pub name: String,
    /// The `:any` / `:native` / `:<arch>` qualifier.
    pub arch_qualifier: Option<ArchQualifier>,
    /// The version constraint, `(>= 1.2)`.
    pub version: Option<(VersionOp, DpkgVersion)>,
    /// The architecture restriction list, `[amd64 !i386]`, as written (with `!`).
    pub architectures: Vec<String>,
    /// Build profile formulas, `<!nocheck>`, each group as written between the brackets.
    pub profiles: Vec<String>,
}

impl Relation {
    /// Whether `version` satisfies the constraint (always true without one).
    pub fn accepts(&self, version: &DpkgVersion) -> bool {
        self.version.as_ref().is_none_or(|(op, v)| op.matches(version, v))
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        match &self.arch_qualifier {
            None => {}
            Some(ArchQualifier::Any) => f.write_str(":any")?,
            Some(ArchQualifier::Native) => f.write_str(":native")?,
            Some(ArchQualifier::Arch(a)) => write!(f, ":{a}")?,
        }
        if let Some((op, v)) = &self.version {
            write!(f, " ({} {v})", op.as_str())?;
        }
        if !self.architectures.is_empty() {
            write!(f, " [{}]", self.architectures.join(" "))?;
        }
        for p in &self.profiles {
            write!(f, " <{p}>")?;
        }
        Ok(())
    }
}

/// One comma-separated element of a relationship field: alternatives separated by `|`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dependency {
    /// The alternatives, in preference order (one for a plain relation).
    pub alternatives: Vec<Relation>,
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.alternatives.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// Parses a relationship field value (folded or not). Empty elements (a trailing comma) are
/// skipped, as dpkg does.
pub fn parse_relations(value: &str) -> Result<Vec<Dependency>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            let alternatives = d.split('|').map(|r| parse_relation(r.trim())).collect::<Result<Vec<_>, _>>()?;
            Ok(Dependency { alternatives })
        })
        .collect()
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-._".contains(&b))
}

fn parse_relation(s: &str) -> Result<Relation, String> {
    let bad = |why: String| format!("relation {s:?}: {why}");
    let end = s.find(|c: char| c.is_whitespace() || "([<:".contains(c)).unwrap_or(s.len());
    let name = &s[..end];
    if !valid_name(name) {
        return Err(bad(format!("invalid package name {name:?}")));
    }
    let mut rest = &s[end..];
    let mut arch_qualifier = None;
    if let Some(r) = rest.strip_prefix(':') {
        let end = r.find(|c: char| c.is_whitespace() || "([<".contains(c)).unwrap_or(r.len());
        arch_qualifier = Some(match &r[..end] {
            "any" => ArchQualifier::Any,
            "native" => ArchQualifier::Native,
            a if valid_name(a) => ArchQualifier::Arch(a.to_owned()),
            a => return Err(bad(format!("invalid architecture qualifier {a:?}"))),
        });
        rest = &r[end..];
    }
    rest = rest.trim_start();
    let mut version = None;
    if let Some(r) = rest.strip_prefix('(') {
        let close = r.find(')').ok_or_else(|| bad("unclosed \"(\"".into()))?;
        let inner = r[..close].trim();
        let (op, v) = [("<<", VersionOp::Lt), ("<=", VersionOp::Le), (">=", VersionOp::Ge), (">>", VersionOp::Gt)]
            .into_iter()
            .chain([("=", VersionOp::Eq), ("<", VersionOp::Le), (">", VersionOp::Ge)])
            .find_map(|(text, op)| inner.strip_prefix(text).map(|v| (op, v.trim())))
            .ok_or_else(|| bad(format!("{inner:?} has no version operator (<<, <=, =, >=, >>)")))?;
        let v: DpkgVersion = v.parse().map_err(|e: crate::Error| bad(e.to_string()))?;
        version = Some((op, v));
        rest = r[close + 1..].trim_start();
    }
    let mut architectures = Vec::new();
    if let Some(r) = rest.strip_prefix('[') {
        let close = r.find(']').ok_or_else(|| bad("unclosed \"[\"".into()))?;
        architectures = r[..close].split_whitespace().map(str::to_owned).collect();
        if architectures.is_empty() {
            return Err(bad("empty architecture list".into()));
        }
        rest = r[close + 1..].trim_start();
    }
    let mut profiles = Vec::new();
    while let Some(r) = rest.strip_prefix('<') {
        let close = r.find('>').ok_or_else(|| bad("unclosed \"<\"".into()))?;
        profiles.push(r[..close].trim().to_owned());
        rest = r[close + 1..].trim_start();
    }
    if !rest.is_empty() {
        return Err(bad(format!("unexpected {rest:?}")));
    }
    Ok(Relation { name: name.to_owned(), arch_qualifier, version, architectures, profiles })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> DpkgVersion {
        s.parse().expect("version")
    }

    #[test]
    fn real_packages_lines() {
        // libc6 2.36-9+deb12u10 (bookworm), openssl, systemd, perl-base.
        let deps = parse_relations("libgcc-s1, libc6 (>= 2.36)").expect("libc6");
        assert_eq!(deps.len(), 2);
        assert_eq!(deps[1].alternatives[0].version, Some((VersionOp::Ge, v("2.36"))));
        let deps = parse_relations("libc6 (>= 2.34), libssl3 (>= 3.0.9)").expect("openssl");
        assert_eq!(deps[1].alternatives[0].name, "libssl3");
        let deps = parse_relations(
            "libsystemd0 (= 252.36-1~deb12u1), libacl1 (>= 2.2.23), libaudit1 (>= 1:2.2.1), systemd-sysv | \
             systemd-standalone-sysusers:any",
        )
        .expect("systemd");
        assert_eq!(deps[0].alternatives[0].version, Some((VersionOp::Eq, v("252.36-1~deb12u1"))));
        assert_eq!(deps[2].alternatives[0].version.as_ref().map(|(_, v)| v.epoch()), Some(1));
        assert_eq!(deps[3].alternatives.len(), 2);
        assert_eq!(deps[3].alternatives[1].arch_qualifier, Some(ArchQualifier::Any));
        let deps = parse_relations("perl-base (<< 5.36.0-7+deb12u2~), libc6:amd64 (>> 2.0), dpkg:native").expect("x");
        assert_eq!(deps[0].alternatives[0].version.as_ref().map(|(o, _)| *o), Some(VersionOp::Lt));
        assert_eq!(deps[1].alternatives[0].arch_qualifier, Some(ArchQualifier::Arch("amd64".into())));
        assert_eq!(deps[2].alternatives[0].arch_qualifier, Some(ArchQualifier::Native));
        // Build-Depends style: architecture lists and profiles.
        let deps = parse_relations(
            "debhelper-compat (= 13), libseccomp-dev [amd64 arm64 !hurd-any], python3 <!nocheck> <cross>,",
        )
        .expect("bd");
        assert_eq!(deps.len(), 3);
        assert_eq!(deps[1].alternatives[0].architectures, ["amd64", "arm64", "!hurd-any"]);
        assert_eq!(deps[2].alternatives[0].profiles, ["!nocheck", "cross"]);
        // Obsolete single < and >.
        let deps = parse_relations("a (< 1), b (> 2)").expect("old ops");
        assert_eq!(deps[0].alternatives[0].version.as_ref().map(|(o, _)| *o), Some(VersionOp::Le));
        assert_eq!(deps[1].alternatives[0].version.as_ref().map(|(o, _)| *o), Some(VersionOp::Ge));
    }

    #[test]
    fn display_round_trips() {
        let text = "a (>= 1.2) | b:any, c [amd64], d:native (<< 2:1.0-1~) [!i386] <!nocheck>";
        let deps = parse_relations(text).expect("parse");
        let shown: Vec<String> = deps.iter().map(ToString::to_string).collect();
        assert_eq!(shown.join(", "), text);
        assert_eq!(parse_relations(&shown.join(", ")).expect("again"), deps);
    }

    #[test]
    fn accepts_versions() {
        let deps = parse_relations("a (>= 1.2), b (<< 2), c (= 1:1.0), d").expect("parse");
        let r = |i: usize| &deps[i].alternatives[0];
        assert!(r(0).accepts(&v("1.2")) && r(0).accepts(&v("1.10")) && !r(0).accepts(&v("1.1")));
        assert!(r(1).accepts(&v("1.9")) && !r(1).accepts(&v("2")) && r(1).accepts(&v("2~rc1")));
        assert!(r(2).accepts(&v("1:1.0")) && !r(2).accepts(&v("1.0")));
        assert!(r(3).accepts(&v("0")));
    }

    #[test]
    fn errors() {
        let err = |s: &str| parse_relations(s).expect_err(s);
        assert_eq!(err("a (>= 1"), "relation \"a (>= 1\": unclosed \"(\"");
        assert_eq!(err("a (~ 1)"), "relation \"a (~ 1)\": \"~ 1\" has no version operator (<<, <=, =, >=, >>)");
        assert_eq!(err("a b"), "relation \"a b\": unexpected \"b\"");
        assert_eq!(err("| a"), "relation \"\": invalid package name \"\"");
        assert!(err("a (>= 1 2)").contains("embedded spaces"));
        assert_eq!(err("a []"), "relation \"a []\": empty architecture list");
    }
}
