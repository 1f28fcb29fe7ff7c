//! `docker save` archives: `manifest.json`, `index.json`, `repositories`, links between
//! members, and the images they name, read through to the merged filesystem.
#![no_main]
use libfuzzer_sys::fuzz_target;
use oci_core::{DockerArchive, ImageSource, Limits, MergedFs, Reference};

fuzz_target!(|data: &[u8]| {
    let path = oci_harden_fuzz::scratch_file("archive.tar", data);
    let Ok(archive) = DockerArchive::open(&path, &Limits::default()) else { return };
    let images = archive.images();
    for (tags, _) in images.iter().take(4) {
        for tag in tags.iter().take(2) {
            let _ = archive.resolve(Some(tag));
        }
    }
    let _ = archive.resolve(Some("@0"));
    let Ok(reference) = format!("docker-archive:{}", path.display()).parse::<Reference>() else { return };
    let Ok(source) = ImageSource::open(&reference) else { return };
    let Ok(images) = source.images() else { return };
    for image in images.iter().take(2) {
        if let Ok(fs) = MergedFs::build(image) {
            let _ = fs.iter().count();
        }
    }
});
