//! Property tests for the parsers that see untrusted input: none may panic, and what
//! they accept must be safe and round-trip.

use proptest::prelude::*;

use crate::{Digest, ImageConfig, ImageName, RawManifest, Reference, normalize_path, read_entries};

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// An accepted tar path never escapes the root.
    #[test]
    fn normalised_paths_stay_inside(raw in "[a-z./]{0,24}") {
        if let Ok(p) = normalize_path(&raw) {
            prop_assert!(!p.starts_with('/'));
            prop_assert!(p.split('/').all(|c| c != ".." && c != "."));
            prop_assert!(p.is_empty() || p.split('/').all(|c| !c.is_empty()));
        }
    }

    /// Registry names that parse print back to a string that parses to the same name.
    #[test]
    fn image_names_round_trip(
        host in prop::option::of("[a-z]{1,8}\\.[a-z]{2,3}(:[0-9]{2,4})?"),
        path in "[a-z0-9]{1,6}([._-][a-z0-9]{1,4})?(/[a-z0-9]{1,6}){0,2}",
        tag in prop::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,10}"),
    ) {
        let mut s = host.map(|h| format!("{h}/")).unwrap_or_default() + &path;
        if let Some(t) = tag { s = format!("{s}:{t}"); }
        let name: ImageName = s.parse().unwrap();
        let again: ImageName = name.to_string().parse().unwrap();
        prop_assert_eq!(&name, &again);
        let r: Reference = s.parse().unwrap();
        prop_assert_eq!(r.to_string(), name.to_string());
    }

    /// Arbitrary strings never panic the reference and digest parsers.
    #[test]
    fn reference_parser_never_panics(s in ".{0,80}") {
        let _ = s.parse::<Reference>();
        let _ = s.parse::<Digest>();
    }

    /// Arbitrary bytes never panic the manifest and config parsers.
    #[test]
    fn json_parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(raw) = RawManifest::from_bytes(bytes.clone()) {
            let _ = raw.parse();
        }
        let _ = ImageConfig::parse(&bytes, "fuzz");
    }

    /// Structurally plausible manifests never panic the parser either.
    #[test]
    fn manifest_shapes_never_panic(
        schema in 0u32..4,
        media in prop::sample::select(vec!["application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json", "x"]),
        size in any::<i64>(),
    ) {
        let doc = format!(r#"{{"schemaVersion":{schema},"mediaType":"{media}","manifests":[{{"mediaType":"x","digest":"sha256:{}","size":{size}}}],"config":{{"mediaType":"x","digest":"sha256:00","size":1}},"layers":[]}}"#, "a".repeat(64));
        if let Ok(raw) = RawManifest::from_bytes(doc.into_bytes()) {
            let _ = raw.parse();
        }
    }

    /// Arbitrary bytes, and tar streams with corrupted headers, never panic the entry
    /// reader; every entry it yields has a safe path.
    #[test]
    fn tar_reader_never_panics(noise in prop::collection::vec(any::<u8>(), 0..2048), at in 0usize..1536, byte in any::<u8>()) {
        let _ = read_entries(&noise[..], "fuzz", |e| { prop_assert_safe(&e.path); Ok(()) });
        let mut tar = valid_tar();
        let i = at % tar.len();
        tar[i] = byte;
        let _ = read_entries(&tar[..], "fuzz", |e| { prop_assert_safe(&e.path); Ok(()) });
    }
}

fn prop_assert_safe(path: &str) {
    assert!(!path.starts_with('/') && !path.split('/').any(|c| c == ".."), "unsafe path {path:?} accepted");
}

fn valid_tar() -> Vec<u8> {
    let mut w = crate::LayerWriter::new(Vec::new(), crate::Compression::None, 0).unwrap();
    w.append("etc", &crate::EntryMeta::dir(0o755), std::io::empty()).unwrap();
    w.append("etc/passwd", &crate::EntryMeta::file(0o644, 5), &b"root\n"[..]).unwrap();
    w.finish().unwrap().0
}
