//! The `oci-harden` command. Its arguments, progress and output live in the
//! `oci-harden-cli` crate (crates/cli); the work is done by `oci-core` and `hardener`.

fn main() -> std::process::ExitCode {
    oci_harden_cli::main()
}
