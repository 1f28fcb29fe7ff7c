//! A layout's `index.json` (and `oci-layout`): tags, resolution, reachability.
#![no_main]
use libfuzzer_sys::fuzz_target;
use oci_core::OciLayout;

fuzz_target!(|data: &[u8]| {
    let dir = oci_harden_fuzz::scratch().join("layout");
    let _ = std::fs::create_dir_all(dir.join("blobs/sha256"));
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
    std::fs::write(dir.join("index.json"), data).expect("index.json");
    let Ok(layout) = OciLayout::open(&dir) else { return };
    let _ = layout.index();
    if let Ok(tags) = layout.tags() {
        for tag in tags.iter().take(8) {
            let _ = layout.resolve(Some(tag));
        }
    }
    let _ = layout.resolve(None);
    let _ = layout.reachable();
});
