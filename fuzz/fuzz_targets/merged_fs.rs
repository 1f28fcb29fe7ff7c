//! Layers read into the merged filesystem: tar headers (PAX and GNU long names, links,
//! devices), whiteouts and opaque directories across up to three layers, symlink
//! resolution, and reading file contents back.
#![no_main]
use libfuzzer_sys::fuzz_target;
use oci_core::{EntryKind, ImageSource, MergedFs, Reference};

fuzz_target!(|data: &[u8]| {
    let layers = oci_harden_fuzz::split(data, 3, true);
    let dir = oci_harden_fuzz::scratch().join("merged");
    let reference: Reference = oci_harden_fuzz::layout_with_layers(&dir, &layers).parse().expect("reference");
    let source = ImageSource::open(&reference).expect("the harness's layout opens");
    let image = source.image(None).expect("the harness's image reads");
    let Ok(fs) = MergedFs::build_capturing(&image, |path| path.len() % 2 == 0) else { return };
    let mut read = 0;
    for (path, node) in fs.iter() {
        let _ = fs.resolve(path);
        if matches!(node.meta.kind, EntryKind::File | EntryKind::Hardlink) && read < 8 {
            read += 1;
            let bytes = fs.read(path).expect("a file the index lists reads back");
            assert_eq!(bytes.len() as u64, node.meta.size, "/{path}: size as the header says");
        }
    }
    let _ = fs.walk("").count();
    let _ = fs.resolve("etc/os-release");
});
