//! `.deb` files (ar, control and data tarballs in any compression dpkg-deb writes),
//! given with their real size and SHA256 so parsing is reached: control fields,
//! md5sums, conffiles, scripts, triggers, and the data entries.
#![no_main]
use std::io::Read;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = oci_harden_fuzz::scratch_file("package.deb", data);
    let file = std::fs::File::open(&path).expect("scratch file");
    let sha256 = oci_harden_fuzz::sha256_hex(data);
    let Ok(deb) = hardener::VerifiedDeb::from_file(file, "package.deb", data.len() as u64, &sha256) else { return };
    let _ = deb.member_names();
    if let Ok(control) = deb.control() {
        let _ = control.fields();
        let _ = (control.md5sums(), control.conffiles(), control.triggers(), control.shlibs(), control.symbols());
        let _ = control.scripts().count();
    }
    let _ = deb.file_md5sums();
    let _ = deb.data(|entry| {
        let mut sink = Vec::new();
        let _ = entry.data().take(1 << 20).read_to_end(&mut sink);
        Ok(())
    });
});
