//! Alpine (apk) versions: parsing, printing, and the ordering's laws on pairs and triples
//! (antisymmetry, transitivity, equality agreeing with the order).
#![no_main]
use std::cmp::Ordering;

use hardener::ApkVersion;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let versions: Vec<ApkVersion> = text.split('\n').take(3).filter_map(|s| s.parse().ok()).collect();
    for v in &versions {
        let again: ApkVersion = v.to_string().parse().expect("a printed version parses");
        assert_eq!(again.cmp(v), Ordering::Equal, "{v} printed and parsed again");
        assert_eq!(v.cmp(v), Ordering::Equal);
    }
    for a in &versions {
        for b in &versions {
            assert_eq!(a.cmp(b), b.cmp(a).reverse(), "antisymmetry: {a} vs {b}");
            assert_eq!(a == b, a.cmp(b) == Ordering::Equal, "== agrees with cmp: {a} vs {b}");
            for c in &versions {
                if a <= b && b <= c {
                    assert!(a <= c, "transitivity: {a} <= {b} <= {c}");
                }
            }
        }
    }
});
