//! Both version schemes against the vectors of dpkg, apk-tools and osv-scalibr (read from
//! `tests/fixtures/versions/` at test time), and their order properties.

use std::cmp::Ordering;
use std::hash::{BuildHasher, Hash, RandomState};

use proptest::prelude::*;

use super::apk;
use crate::{ApkVersion, DpkgVersion, Error};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/versions/");

/// The meaningful lines of a vector file, with their line numbers: `#` comments removed,
/// blanks trimmed, empty lines skipped (as apk's `vertest` reads its data).
fn vectors(file: &str) -> Vec<(usize, String)> {
    let path = format!("{FIXTURES}{file}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.split('#').next().unwrap_or_default().trim().to_owned()))
        .filter(|(_, line)| !line.is_empty())
        .collect()
}

/// Checks every line of `files`, asserting how many there are, and fails once with every
/// failing line.
fn check_vectors(files: &[&str], expected: usize, check: impl Fn(&str) -> Result<(), String>) {
    let mut count = 0;
    let mut failures = Vec::new();
    for file in files {
        for (number, line) in vectors(file) {
            count += 1;
            if let Err(why) = check(&line) {
                failures.push(format!("{file}:{number}: `{line}`: {why}"));
            }
        }
    }
    assert_eq!(count, expected, "vector lines read from {files:?}");
    assert!(failures.is_empty(), "{} of {count} vectors fail:\n{}", failures.len(), failures.join("\n"));
}

/// `a <op> b` with op `<`, `=` or `>` (osv-scalibr's format).
fn split_relation(line: &str) -> Result<(&str, Ordering, &str), String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [a, op, b] = fields[..] else { return Err("expected `a <op> b`".into()) };
    let op = match op {
        "<" => Ordering::Less,
        "=" => Ordering::Equal,
        ">" => Ordering::Greater,
        _ => return Err(format!("unknown operator {op}")),
    };
    Ok((a, op, b))
}

fn hash_of<T: Hash>(state: &RandomState, value: &T) -> u64 {
    state.hash_one(value)
}

/// Everything the typed API promises about one comparison whose answer is `expected`.
fn check_pair<T: Ord + Hash>(a: &T, b: &T, expected: Ordering) -> Result<(), String> {
    let state = RandomState::new();
    let (found, reverse) = (a.cmp(b), b.cmp(a));
    if found != expected {
        return Err(format!("compared {found:?}, expected {expected:?}"));
    }
    if reverse != expected.reverse() {
        return Err(format!("reverse comparison gave {reverse:?}"));
    }
    if (a == b) != (expected == Ordering::Equal) {
        return Err("== disagrees with cmp".into());
    }
    if expected == Ordering::Equal && hash_of(&state, a) != hash_of(&state, b) {
        return Err("equal versions hash differently".into());
    }
    Ok(())
}

fn parse<T: std::str::FromStr<Err = Error> + std::fmt::Display>(s: &str) -> Result<T, String> {
    let v: T = s.parse().map_err(|e: Error| e.to_string())?;
    if v.to_string() != s {
        return Err(format!("{s} displays as {v}"));
    }
    Ok(v)
}

/// dpkg's own vectors (`scripts/t/Dpkg_Version.t`): `a b expected`, with -1, 0 or 1. Every
/// version there is valid (the Perl test parses them with `check => 1`).
#[test]
fn dpkg_version_vectors() {
    check_vectors(&["dpkg-Dpkg_Version.data"], 43, |line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [a, b, expected] = fields[..] else { return Err("expected `a b result`".into()) };
        let expected = match expected {
            "-1" => Ordering::Less,
            "0" => Ordering::Equal,
            "1" => Ordering::Greater,
            _ => return Err(format!("unknown result {expected}")),
        };
        check_pair(&parse::<DpkgVersion>(a)?, &parse::<DpkgVersion>(b)?, expected)
    });
}

/// osv-scalibr's Debian vectors, hand-written and generated from real package histories.
#[test]
fn dpkg_osv_scalibr_vectors() {
    let files = ["osv-scalibr/debian-versions.txt", "osv-scalibr/debian-versions-generated.txt"];
    check_vectors(&files, 30 + 14442, |line| {
        let (a, expected, b) = split_relation(line)?;
        check_pair(&parse::<DpkgVersion>(a)?, &parse::<DpkgVersion>(b)?, expected)
    });
}

/// apk-tools' `test/unit/version.data`, run with the semantics of apk's `vertest` applet
/// (`src/app_vertest.c`): `ver1 op ver2` must hold (`!op`: must not), with `op` a mask of
/// `<`, `>`, `=` and `~` (fuzzy: a version equals the versions it starts with); a bare
/// `version` must be valid, `!version` invalid. The comparison itself runs on the raw
/// strings, as apk compares invalid versions too; where both sides are valid and the
/// operator is not fuzzy, the typed API must agree.
#[test]
fn apk_tools_vectors() {
    check_vectors(&["apk-tools-version.data"], 785, |line| {
        let mut parts = line.splitn(3, ' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(op), Some(b)) => {
                let (invert, op) = op.strip_prefix('!').map_or((false, op), |op| (true, op));
                let (mut mask, mut fuzzy) = (0u8, false);
                for c in op.chars() {
                    mask |= match c {
                        '<' => 1,
                        '=' => 2,
                        '>' => 4,
                        '~' => {
                            fuzzy = true;
                            2
                        }
                        _ => return Err(format!("unknown operator {op}")),
                    };
                }
                let found = apk::compare(a, b, fuzzy);
                let bit = match found {
                    Ordering::Less => 1,
                    Ordering::Equal => 2,
                    Ordering::Greater => 4,
                };
                if (mask & bit != 0) == invert {
                    return Err(format!("apk comparison gave {found:?}"));
                }
                if let (Ok(va), Ok(vb), false) = (a.parse::<ApkVersion>(), b.parse::<ApkVersion>(), fuzzy) {
                    check_pair(&va, &vb, found)?;
                }
                Ok(())
            }
            (Some(version), None, None) => {
                let (must_fail, version) = version.strip_prefix('!').map_or((false, version), |v| (true, v));
                match (version.parse::<ApkVersion>(), must_fail) {
                    (Ok(v), false) => parse::<ApkVersion>(&v.to_string()).map(drop),
                    (Err(_), true) => Ok(()),
                    (Ok(_), true) => Err("accepted an invalid version".into()),
                    (Err(e), false) => Err(format!("refused a valid version: {e}")),
                }
            }
            _ => Err("expected `ver1 op ver2` or `[!]version`".into()),
        }
    });
}

/// osv-scalibr's Alpine vectors. Where both versions are valid (14,662 lines), the typed API
/// must agree. The other 95 lines compare versions that apk-tools refuses: 37 hand-written
/// ones (no digit first: `a`, `.2`; empty components: `0..1`; `.r2`; capitals; unknown
/// suffixes; `-r` without digits or twice) and 58 generated from real package histories of
/// old Alpine releases with digits after a letter (`6.6.2p1-r0`, `1.9.5p1-r1`, `3.3.3p1-r0`).
/// [`ApkVersion`] refuses them all. On the raw strings, apk's algorithm gives osv-scalibr's
/// answer for 51 of them and another one for 44: it stops at the first invalid token, so
/// `6.0.2p1-r0` "equals" `6.0.2p1-r1`, where osv-scalibr orders them. Those disagreements are
/// counted, not hidden.
#[test]
fn apk_osv_scalibr_vectors() {
    let files = ["osv-scalibr/alpine-versions.txt", "osv-scalibr/alpine-versions-generated.txt"];
    let invalid = std::cell::RefCell::new((0, Vec::new()));
    check_vectors(&files, 778 + 13979, |line| {
        let (a, expected, b) = split_relation(line)?;
        match (a.parse::<ApkVersion>(), b.parse::<ApkVersion>()) {
            (Ok(va), Ok(vb)) => check_pair(&va, &vb, expected),
            _ => {
                let mut invalid = invalid.borrow_mut();
                invalid.0 += 1;
                if apk::compare(a, b, false) != expected {
                    invalid.1.push(line.to_owned());
                }
                Ok(())
            }
        }
    });
    let (invalid, disagreements) = invalid.into_inner();
    assert_eq!(
        (invalid, disagreements.len()),
        (95, 44),
        "lines with an invalid version; disagreements: {disagreements:#?}"
    );
}

#[test]
fn dpkg_parse_errors_follow_parseversion() {
    let refused = [
        ("", "version string is empty"),
        (" \t ", "version string is empty"),
        ("1 0", "version string has embedded spaces"),
        ("1.0\t-1", "version string has embedded spaces"),
        (":1.0", "epoch in version is empty"),
        ("a:1.0", "epoch in version is not a number"),
        ("1.0-1:2", "epoch in version is not a number"),
        ("-1:1.0", "epoch in version is negative"),
        ("9999999999:1.0", "epoch in version is too big"),
        ("2147483648:1.0", "epoch in version is too big"),
        ("2:", "nothing after colon in version number"),
        ("1.0-", "revision number is empty"),
        ("-1", "upstream version is empty"),
        ("2:-1", "upstream version is empty"),
        ("1.0\0", "version string contains a NUL byte"),
    ];
    for (input, reason) in refused {
        match input.parse::<DpkgVersion>() {
            Err(Error::InvalidVersion { scheme: "dpkg", input: i, reason: r }) if i == input && r == reason => {}
            other => panic!("{input:?}: {other:?}, expected {reason:?}"),
        }
    }
    // dpkg only warns about these, and compares them.
    let accepted = [
        (" 1.0 ", 0, "1.0", None, "1.0"),
        ("1:2:3", 1, "2:3", None, "1:2:3"),
        ("a", 0, "a", None, "a"),
        ("1_0-1_0", 0, "1_0", Some("1_0"), "1_0-1_0"),
        ("2147483647:1", i32::MAX as u32, "1", None, "2147483647:1"),
        ("-0:1", 0, "1", None, "-0:1"),
        ("+7:1", 7, "1", None, "+7:1"),
        ("007:1.0-2-3", 7, "1.0-2", Some("3"), "007:1.0-2-3"),
    ];
    for (input, epoch, upstream, revision, display) in accepted {
        let v: DpkgVersion = input.parse().unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(
            (v.epoch(), v.upstream(), v.revision(), v.to_string().as_str()),
            (epoch, upstream, revision, display)
        );
    }
}

#[test]
fn dpkg_equality_follows_verrevcmp() {
    let state = RandomState::new();
    let groups: &[&[&str]] = &[
        &["1.0", "0:1.0", "1.0-0", "0:1.0-00", "1.00", "01.0"],
        &["1.", "1.0", "1.000"],
        &["a", "a0", "a000"],
        &["0", "00", "0:0-0"],
    ];
    for group in groups {
        let versions: Vec<DpkgVersion> = group.iter().map(|s| s.parse().unwrap()).collect();
        for (a, b) in versions.iter().zip(&versions[1..]) {
            assert_eq!(a, b);
            assert_eq!(hash_of(&state, a), hash_of(&state, b), "{a} and {b}");
        }
    }
    for [a, b] in [["a0b", "ab"], ["1.0", "1.0.0"], ["1~", "1"], ["1.0", "1.0a"]] {
        assert_ne!(a.parse::<DpkgVersion>().unwrap(), b.parse::<DpkgVersion>().unwrap(), "{a} {b}");
    }
}

#[test]
fn dpkg_without_binnmu() {
    for (version, source) in [
        ("1:2.66-4+b1", "1:2.66-4"),
        ("2.36-9+deb12u4+b12", "2.36-9+deb12u4"),
        ("3.1+b2", "3.1"),
        ("1.0+b1-1", "1.0+b1-1"),
        ("1.0-1", "1.0-1"),
        ("1.0-+b1", "1.0-+b1"),
        ("1.0-1+b", "1.0-1+b"),
        ("1.0-1+bx1", "1.0-1+bx1"),
        ("+b1", "+b1"),
    ] {
        let v: DpkgVersion = version.parse().unwrap();
        let s = v.without_binnmu();
        assert_eq!(s.to_string(), source, "{version}");
        let reparsed: DpkgVersion = source.parse().unwrap();
        assert_eq!(
            (s.epoch(), s.upstream(), s.revision()),
            (reparsed.epoch(), reparsed.upstream(), reparsed.revision())
        );
    }
}

#[test]
fn apk_errors_say_what_and_where() {
    let err = "1.2_foo".parse::<ApkVersion>().unwrap_err();
    assert!(
        matches!(&err, Error::InvalidVersion { scheme: "apk", input, reason } if input == "1.2_foo" && reason.contains("suffix") && reason.contains("byte 4")),
        "{err}"
    );
}

#[test]
fn versions_serialize_as_strings() {
    let d: DpkgVersion = "1:2.0-1".parse().unwrap();
    let a: ApkVersion = "2.0-r1".parse().unwrap();
    assert_eq!(serde_json::to_string(&(&d, &a)).unwrap(), r#"["1:2.0-1","2.0-r1"]"#);
    let (d2, a2): (DpkgVersion, ApkVersion) = serde_json::from_str(r#"["1:2.0-1","2.0-r1"]"#).unwrap();
    assert_eq!((d2.to_string(), a2.to_string()), (d.to_string(), a.to_string()));
    assert!(serde_json::from_str::<ApkVersion>(r#""2.0-x""#).is_err());
}

/// Debian versions from a small alphabet, so that equal and nearly equal versions are common.
fn dpkg_version() -> impl Strategy<Value = String> {
    "([0-9]{1,2}:)?[0-9][0-9a.+~]{0,6}(-[0-9a+~][0-9a.+~]{0,3})?"
}

/// Valid Alpine versions, with leading zeros, letters, every suffix, hashes and releases.
fn apk_version() -> impl Strategy<Value = String> {
    "[0-9]{1,2}(\\.[0-9]{1,2}){0,3}[a-c]?(_(alpha|beta|pre|rc|cvs|svn|git|hg|p)[0-9]{0,2}){0,2}(~[0-9a-f]{1,3})?(-r[0-9]{1,2})?"
}

/// The laws of a total order whose equality and hash agree with it, on parsed versions.
fn check_order<T: Ord + Hash + std::fmt::Debug>(a: &T, b: &T, c: &T) -> Result<(), TestCaseError> {
    let state = RandomState::new();
    prop_assert_eq!(a.cmp(a), Ordering::Equal);
    prop_assert_eq!(a.cmp(b), b.cmp(a).reverse());
    prop_assert_eq!(a == b, a.cmp(b) == Ordering::Equal);
    if a == b {
        prop_assert_eq!(hash_of(&state, a), hash_of(&state, b));
    }
    let mut sorted = [a, b, c];
    sorted.sort();
    let [x, y, z] = sorted;
    prop_assert_eq!(x.cmp(z), x.cmp(y).then(y.cmp(z)), "not transitive: {:?} {:?} {:?}", x, y, z);
    Ok(())
}

/// Inserts a zero before every digit run: the same numbers, so for dpkg the same version.
fn dpkg_zero_padded(s: &str) -> String {
    let mut out = String::new();
    let mut previous_digit = false;
    for c in s.chars() {
        if c.is_ascii_digit() && !previous_digit {
            out.push('0');
        }
        out.push(c);
        previous_digit = c.is_ascii_digit();
    }
    out
}

/// Inserts a zero before the numbers apk compares numerically whatever their zeros: the
/// first one, suffix numbers and the release (not those after `.`, nor in the hash).
fn apk_zero_padded(s: &str) -> String {
    let mut out = String::from("0");
    let (mut in_hash, mut previous) = (false, None);
    for c in s.chars() {
        in_hash = (in_hash || c == '~') && c != '-';
        if c.is_ascii_digit() && !in_hash && previous.is_some_and(|p: char| p.is_ascii_lowercase()) {
            out.push('0');
        }
        out.push(c);
        previous = Some(c);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn dpkg_order_laws(a in dpkg_version(), b in dpkg_version(), c in dpkg_version()) {
        let [a, b, c] = [a, b, c].map(|s| s.parse::<DpkgVersion>().unwrap());
        check_order(&a, &b, &c)?;
    }

    #[test]
    fn dpkg_round_trips(s in dpkg_version()) {
        let v: DpkgVersion = s.parse().unwrap();
        prop_assert_eq!(v.to_string(), s);
        let again: DpkgVersion = v.to_string().parse().unwrap();
        prop_assert_eq!(again.cmp(&v), Ordering::Equal);
        prop_assert_eq!((again.epoch(), again.upstream(), again.revision()), (v.epoch(), v.upstream(), v.revision()));
    }

    /// Zero-padded digit runs, a `0:` epoch and a `-0` revision change nothing.
    #[test]
    fn dpkg_equivalent_spellings(s in dpkg_version()) {
        let state = RandomState::new();
        let v: DpkgVersion = s.parse().unwrap();
        let mut spellings = vec![dpkg_zero_padded(&s)];
        if v.epoch() == 0 && !s.contains(':') {
            spellings.push(format!("0:{s}"));
        }
        if v.revision().is_none() {
            spellings.push(format!("{s}-0"));
        }
        for other in spellings {
            let w: DpkgVersion = other.parse().unwrap();
            prop_assert_eq!(&v, &w, "{} vs {}", s, other);
            prop_assert_eq!(hash_of(&state, &v), hash_of(&state, &w));
        }
    }

    #[test]
    fn dpkg_parser_never_panics(s in "\\PC{0,24}") {
        if let Ok(v) = s.parse::<DpkgVersion>() {
            prop_assert_eq!(v.to_string().parse::<DpkgVersion>().unwrap().to_string(), v.to_string());
            let _ = v.without_binnmu();
        }
    }

    #[test]
    fn apk_order_laws(a in apk_version(), b in apk_version(), c in apk_version()) {
        let [a, b, c] = [a, b, c].map(|s| s.parse::<ApkVersion>().unwrap());
        check_order(&a, &b, &c)?;
    }

    #[test]
    fn apk_round_trips(s in apk_version()) {
        let v: ApkVersion = s.parse().unwrap();
        prop_assert_eq!(v.to_string(), s);
        prop_assert_eq!(v.to_string().parse::<ApkVersion>().unwrap(), v);
    }

    /// Zeros before the first number, a suffix number or the release number change nothing.
    #[test]
    fn apk_equivalent_spellings(s in apk_version()) {
        let state = RandomState::new();
        let v: ApkVersion = s.parse().unwrap();
        let padded = apk_zero_padded(&s);
        let w: ApkVersion = padded.parse().unwrap();
        prop_assert_eq!(&v, &w, "{} vs {}", s, padded);
        prop_assert_eq!(hash_of(&state, &v), hash_of(&state, &w));
    }

    #[test]
    fn apk_parser_never_panics(s in "[0-9a-z._~-]{0,16}|\\PC{0,16}", t in "[0-9a-z._~-]{0,16}") {
        let _ = apk::compare(&s, &t, false);
        let _ = apk::compare(&s, &t, true);
        if let Ok(v) = s.parse::<ApkVersion>() {
            prop_assert_eq!(v.to_string(), s);
        }
    }
}
