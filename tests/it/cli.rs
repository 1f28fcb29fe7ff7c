//! The binary's own behaviour: help for every command, exit codes, errors naming what
//! failed.

use crate::harness::{example_layout, oci_harden, oci_ref};

fn example() -> String {
    oci_ref(&example_layout(), Some("3.20"))
}

/// Every subcommand the binary has, with its `--help` line. A new command must be added
/// here (the test below fails when `--help` lists one this list lacks).
const COMMANDS: &[&str] = &[
    "inspect", "ls", "export", "copy", "pull", "push", "login", "logout", "scan", "db", "check", "harden", "patch",
    "gc", "verify",
];

#[test]
fn help_lists_every_command_and_each_command_has_help() {
    let run = oci_harden(&["--help"]).ok();
    let text = run.text();
    let listed: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert_eq!(listed, COMMANDS, "--help lists other commands than this test knows:\n{text}");
    for cmd in COMMANDS {
        let run = oci_harden(&[*cmd, "--help"]).ok();
        assert!(run.text().contains("Usage: oci-harden"), "{cmd} --help:\n{}", run.text());
    }
    for sub in ["update", "info"] {
        let run = oci_harden(&["db", sub, "--help"]).ok();
        assert!(run.text().contains(&format!("Usage: oci-harden db {sub}")), "db {sub} --help:\n{}", run.text());
    }
}

#[test]
fn inspect_json_describes_the_shipped_example() {
    let v = oci_harden(&["inspect", "--format", "json", &example()]).ok().json();
    assert_eq!(v["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(v["image"]["platform"], "linux/amd64");
    assert_eq!(v["image"]["layers"].as_array().unwrap().len(), 1);
}

#[test]
fn errors_exit_2_and_name_what_failed() {
    oci_harden(&["inspect", "oci:/nonexistent/layout:x"]).fails_with(&["/nonexistent/layout"]);
    // A reference that cannot parse is refused before anything is tried (no network involved).
    oci_harden(&["ls", "UPPER/Case:tag"]).fails_with(&["UPPER/Case:tag"]);
}

#[test]
fn ls_of_a_missing_path_fails() {
    oci_harden(&["ls", &example(), "/no/such/path"]).fails_with(&["/no/such/path"]);
    let run = oci_harden(&["ls", &example(), "/etc/alpine-release"]).ok();
    assert_eq!(run.text(), "etc/alpine-release\n");
}
