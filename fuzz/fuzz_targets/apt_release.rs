//! apt `Release`/`InRelease` text (the clearsigned armour's parsing, not its signature):
//! fields, file lists, dates, index selection; and `sources.list` in both formats.
#![no_main]
use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // An empty keyring: the armour and packets are parsed, then refused as unsigned by a
    // known key.
    let _ = hardener::verify_clearsigned(data, "InRelease", &hardener::Keyring::new(), SystemTime::UNIX_EPOCH);
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(release) = hardener::Release::parse(text, "Release") {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000);
        let _ = release.check_validity("Release", now, false);
        let _ = release.check_suite("Release", "bookworm");
        let _ = release.has_component("main");
        let _ = release.packages_indexes("main", "amd64");
        let _ = release.index("main/binary-amd64/Packages.xz");
    }
    let _ = hardener::parse_rfc2822(text);
    let _ = hardener::Sources::parse_list(text, "sources.list");
    let _ = hardener::Sources::parse_deb822(text, "debian.sources");
});
