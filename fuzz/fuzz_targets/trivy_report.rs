//! Trivy JSON reports read back (`from_trivy_json`), and written again.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(report) = hardener::from_trivy_json(data, "report.json") {
        let _ = hardener::to_trivy_json(&report);
        let _ = hardener::to_table(&report);
    }
});
