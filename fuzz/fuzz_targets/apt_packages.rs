//! apt `Packages` indexes: stanzas, fields, dependency relations; read compressed or not
//! through the size- and hash-checking reader.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (Some(&mode), Some(rest)) = (data.first(), data.get(1..)) else { return };
    if mode & 1 == 0 {
        if let Ok(text) = std::str::from_utf8(rest) {
            if let Ok(entries) = hardener::parse_packages(text, "Packages") {
                for e in &entries {
                    assert!(!e.package.is_empty(), "an entry without a name at line {}", e.line);
                }
            }
            let _ = hardener::parse_relations(text);
        }
    } else {
        // The bytes as the index a Release listed with their real size and hash, under
        // each compression apt knows.
        let compressions = ["Packages", "Packages.gz", "Packages.xz", "Packages.zst"];
        let path = compressions[(mode as usize >> 1) % compressions.len()];
        let location = hardener::IndexLocation {
            path: path.into(),
            fetch_path: path.into(),
            compression: hardener::Compression::from_name(path).expect("a known name"),
            size: rest.len() as u64,
            sha256: oci_harden_fuzz::sha256_hex(rest),
        };
        let _ = hardener::read_packages(rest, &location, path, |_| true);
    }
});
