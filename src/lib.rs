//! Workspace root: holds the top-level examples, integration tests and benches of oci-harden.
