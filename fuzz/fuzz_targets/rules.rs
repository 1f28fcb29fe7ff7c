//! Rule files (TOML): kinds, keys, paths, ids.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = hardener::RuleSet::from_str(text, "rules.toml");
});
