//! The binary's own behaviour: help for every command, exit codes, errors naming what
//! failed.

use std::process::Command;

use crate::harness::{example_layout, oci_harden, oci_ref, require_tool, tempdir};

fn example() -> String {
    oci_ref(&example_layout(), Some("3.20"))
}

/// Every subcommand the binary has, with its `--help` line. A new command must be added
/// here (the test below fails when `--help` lists one this list lacks).
const COMMANDS: &[&str] = &[
    "inspect",
    "ls",
    "export",
    "copy",
    "pull",
    "push",
    "login",
    "logout",
    "scan",
    "sbom",
    "db",
    "check",
    "harden",
    "patch",
    "referrers",
    "batch",
    "gc",
    "verify",
    "completions",
    "manpages",
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

/// The bash completion script parses, registers a completion for `oci-harden` once sourced,
/// and completes a command name and an option of that command.
#[test]
fn bash_completion_script_loads_and_completes() {
    let tmp = tempdir();
    let script = tmp.path().join("oci-harden.bash");
    std::fs::write(&script, oci_harden(&["completions", "bash"]).ok().text()).unwrap();
    let bash = |code: &str| {
        let out = Command::new(require_tool("bash")).arg("-c").arg(code).arg("-").arg(&script).output().unwrap();
        assert!(out.status.success(), "bash -c {code}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    bash("bash -n \"$1\"");
    let registered = bash("source \"$1\" && complete -p oci-harden");
    assert!(registered.trim_end().ends_with(" oci-harden") && registered.contains("-F "), "{registered}");
    // What bash would offer after `oci-harden pa<TAB>` and `oci-harden patch --dry<TAB>`.
    let complete = |words: &str| {
        bash(&format!(
            "source \"$1\"; f=$(complete -p oci-harden | sed -n 's/.*-F \\([^ ]*\\).*/\\1/p'); \
             COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); COMP_LINE=\"{words}\"; \
             COMP_POINT=${{#COMP_LINE}}; \"$f\" oci-harden \"${{COMP_WORDS[COMP_CWORD]}}\" \
             \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        ))
    };
    assert_eq!(complete("oci-harden pa").split_whitespace().collect::<Vec<_>>(), ["patch"]);
    assert!(complete("oci-harden patch --dry").split_whitespace().any(|w| w == "--dry-run"));
    // The other shells' scripts name the binary too.
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let text = oci_harden(&["completions", shell]).ok();
        assert!(text.text().contains("oci-harden"), "{shell}");
    }
}

/// One man page per command, each one groff reads without a warning, with the command's
/// options in it.
#[test]
fn man_pages_are_written_for_every_command() {
    let tmp = tempdir();
    let dir = tmp.path().join("man1");
    let listed = oci_harden(&["manpages", dir.to_str().unwrap()]).ok();
    let mut pages: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    pages.sort();
    let mut want: Vec<String> = COMMANDS.iter().map(|c| format!("oci-harden-{c}.1")).collect();
    want.push("oci-harden.1".into());
    want.sort();
    assert_eq!(pages, want);
    assert_eq!(listed.text().lines().count(), want.len());
    for page in &pages {
        let out = Command::new(require_tool("groff"))
            .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
            .arg(dir.join(page))
            .output()
            .unwrap();
        assert!(out.status.success() && out.stderr.is_empty(), "{page}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let patch = std::fs::read_to_string(dir.join("oci-harden-patch.1")).unwrap();
    assert!(patch.contains("oci\\-harden patch") && patch.contains("dry\\-run"), "{patch}");
}

/// `--color`: never coloured through a pipe by default or with `never`; `always` colours the
/// error label (and `NO_COLOR` does not override an explicit `always`).
#[test]
fn color_follows_the_color_option() {
    let missing = "oci:/nonexistent/layout:x";
    for args in [vec!["inspect", missing], vec!["--color", "never", "inspect", missing]] {
        let stderr = oci_harden(&args).fails_with(&["error:"]);
        assert!(!stderr.contains('\u{1b}'), "{args:?}: {stderr:?}");
    }
    let stderr = oci_harden(&["inspect", missing, "--color=always"]).fails_with(&["/nonexistent/layout"]);
    assert!(stderr.starts_with("\u{1b}[1m\u{1b}[31merror:\u{1b}[0m "), "{stderr:?}");
    let bad = oci_harden(&["--color", "sometimes", "inspect", missing]);
    assert_eq!(bad.code, Some(2));
    assert!(bad.stderr.contains("sometimes"), "{}", bad.stderr);
}
