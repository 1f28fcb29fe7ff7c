//! Credential configuration files (`~/.docker/config.json`, `auth.json`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use oci_core::DockerConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(config) = DockerConfig::parse("config.json", text) else { return };
    let _ = config.creds_store();
    for host in ["docker.io", "registry-1.docker.io", "localhost:5000", "ghcr.io"] {
        let _ = config.cred_helper(host);
        let _ = config.credential(host);
    }
});
