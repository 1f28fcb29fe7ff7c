//! Advisory ingest recognised by content: OSV records, Alpine secdb, the Debian security
//! tracker's JSON, vuln-list trees' files, and zip archives of them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut db = hardener::AdvisoryDb::new();
    if let Ok(report) = db.ingest_reader("fuzz.json", data) {
        assert_eq!(report.records, db.len(), "the report counts what the database holds");
        let _ = db.info();
    }
});
