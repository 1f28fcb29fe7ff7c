//! References (`oci:DIR[:TAG]`, `docker-archive:FILE[:NAME]`, registry names), image names,
//! digests, platforms and media types, as typed by users and found in documents.
#![no_main]
use libfuzzer_sys::fuzz_target;
use oci_core::{Digest, ImageName, MediaType, Platform, Reference};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(r) = s.parse::<Reference>() {
        // What Display prints parses back to the same reference.
        let again: Reference = r.to_string().parse().expect("a printed reference parses");
        assert_eq!(again.to_string(), r.to_string());
    }
    if let Ok(n) = s.parse::<ImageName>() {
        let _ = (n.registry(), n.repository(), n.tag(), n.digest(), n.reference());
        let again: ImageName = n.to_string().parse().expect("a printed name parses");
        assert_eq!(again, n);
    }
    if let Ok(d) = s.parse::<Digest>() {
        assert_eq!(d.to_string().parse::<Digest>().expect("a printed digest parses"), d);
    }
    let _ = s.parse::<Platform>();
    let _ = s.parse::<MediaType>();
    let _ = oci_core::normalize_registry_host(s);
});
