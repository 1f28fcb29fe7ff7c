//! See `oci_harden_fuzz::targets::apt_release` (fuzz/src/targets.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| oci_harden_fuzz::targets::apt_release::run(data));
