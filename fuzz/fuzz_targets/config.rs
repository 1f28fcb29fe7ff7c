//! Image configs (`application/vnd.oci.image.config.v1+json` and Docker's).
#![no_main]
use libfuzzer_sys::fuzz_target;
use oci_core::ImageConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(config) = ImageConfig::parse(data, "config") else { return };
    let _ = (config.architecture(), config.os(), config.platform(), config.created(), config.diff_ids());
    let _ = (config.user(), config.env(), config.entrypoint(), config.cmd(), config.working_dir());
    let _ = (config.labels(), config.history(), config.runtime());
    // What is written back parses again, to the same document.
    let again = ImageConfig::parse(&config.to_bytes(), "written config").expect("a written config parses");
    assert_eq!(again.to_bytes(), config.to_bytes());
});
