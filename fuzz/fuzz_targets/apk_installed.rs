//! apk's `lib/apk/db/installed` database: the scanner's reader and the patcher's records.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok((packages, _warnings)) = hardener::parse_apk_installed(text, "lib/apk/db/installed") {
        for p in &packages {
            assert!(!p.name.is_empty(), "a package without a name was listed");
        }
    }
    // One record, as the patcher reads the stanza it replaces; what it writes reads back.
    if let Ok(record) = hardener::InstalledRecord::parse(text, "installed") {
        let mut written = String::new();
        record.write(&mut written);
        let again = hardener::InstalledRecord::parse(&written, "written").expect("a written record parses");
        let mut rewritten = String::new();
        again.write(&mut rewritten);
        assert_eq!(rewritten, written);
    }
    let _ = hardener::rewrite_installed(text, "installed", "musl", None);
});
