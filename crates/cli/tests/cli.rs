//! The binary's own smoke tests. They also make `cargo test --workspace` build the
//! `oci-harden` binary that the top-level integration tests (`tests/it`) run.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_oci-harden"))
}

fn example() -> String {
    format!("oci:{}/../../examples/alpine:3.20", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn help_lists_every_command() {
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for cmd in ["inspect", "ls", "export", "copy"] {
        assert!(text.contains(cmd), "--help lacks {cmd}:\n{text}");
    }
}

#[test]
fn inspect_json_describes_the_shipped_example() {
    let out = bin().args(["inspect", "--format", "json", &example()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(v["image"]["platform"], "linux/amd64");
    assert_eq!(v["image"]["layers"].as_array().unwrap().len(), 1);
}

#[test]
fn errors_exit_2_and_name_what_failed() {
    let out = bin().args(["inspect", "oci:/nonexistent/layout:x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("/nonexistent/layout"), "{err}");
    let out = bin().args(["ls", "debian:12"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn ls_of_a_missing_path_fails() {
    let out = bin().args(["ls", &example(), "/no/such/path"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin().args(["ls", &example(), "/etc/alpine-release"]).output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "etc/alpine-release\n");
}
