//! Manifests and indexes (OCI and Docker schema 2), as a registry or a layout serves them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use oci_core::{Manifest, RawManifest};

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = RawManifest::from_bytes(data.to_vec()) else { return };
    let _ = raw.descriptor();
    match raw.parse() {
        Ok(Manifest::Image(m)) => {
            let _ = serde_json::to_vec(&m);
        }
        Ok(Manifest::Index(i)) => {
            let _ = serde_json::to_vec(&i);
        }
        Err(_) => {}
    }
});
