//! Property tests for the package database parsers, which read untrusted image content:
//! no input may panic them, and what they return must be consistent.

use proptest::prelude::*;

use super::{parse_apk_installed, parse_dpkg_status, parse_dpkg_status_d};
use crate::os::parse_os_release;

/// Text made of database-like lines: fields, continuations, blank lines, junk, CR, and
/// multi-byte characters, so generated inputs reach every branch.
fn db_like() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        "(Package|Status|Version|Source|Architecture|Description): [ -~]{0,20}",
        "(install|deinstall|purge) (ok|reinstreq) (installed|unpacked|config-files|half-installed|x)",
        "Source: [a-z]{0,5} ?\\(?[0-9.:~+-]{0,6}\\)?",
        "[PVAoCFRZ]:[ -~é]{0,16}",
        "[ \t][ -~]{0,16}",
        "",
        "\r",
        "[^\n]{0,12}",
    ];
    prop::collection::vec(line, 0..40).prop_map(|lines| lines.join("\n")).prop_flat_map(|s| {
        let len = s.len();
        // Also cut the text anywhere (at a character boundary), as a truncated file is.
        (Just(s), 0..=len).prop_map(|(s, cut)| {
            let mut end = cut;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s[..end].to_owned()
        })
    })
}

fn check(result: crate::Result<(Vec<super::Package>, Vec<String>)>) -> Result<(), TestCaseError> {
    match result {
        Ok((packages, _)) => {
            for p in packages {
                prop_assert!(!p.name.is_empty() && !p.version.is_empty());
                prop_assert!(!p.source_name.is_empty() && !p.source_version.is_empty());
                prop_assert!(!p.name.contains(char::is_whitespace) || p.format == super::PackageFormat::Apk);
            }
        }
        Err(e) => prop_assert!(e.to_string().contains("line "), "errors name a line: {}", e),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// Arbitrary text never panics the parsers; errors always name a line.
    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
        check(parse_dpkg_status(&s, "s"))?;
        check(parse_dpkg_status_d(&s, "s"))?;
        check(parse_apk_installed(&s, "s"))?;
        let _ = parse_os_release(&s);
    }

    /// Database-like text, cut anywhere, never panics the parsers.
    #[test]
    fn database_like_text_never_panics(s in db_like()) {
        check(parse_dpkg_status(&s, "s"))?;
        check(parse_dpkg_status_d(&s, "s"))?;
        check(parse_apk_installed(&s, "s"))?;
        let _ = parse_os_release(&s);
    }

    /// Arbitrary bytes, decoded as the inventory decodes them, never panic either.
    #[test]
    fn arbitrary_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..300)) {
        let s = String::from_utf8_lossy(&b);
        check(parse_dpkg_status(&s, "s"))?;
        check(parse_apk_installed(&s, "s"))?;
    }
}
