//! See `oci_harden_fuzz::targets::merged_fs` (fuzz/src/targets.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| oci_harden_fuzz::targets::merged_fs::run(data));
