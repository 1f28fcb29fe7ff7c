//! What to do about an error, in this command line's words.
//!
//! The libraries' messages state facts only; the advice a user of `oci-harden` needs
//! (which command to run, which flag to pass) is added here, when an error is printed.

use oci_core::Error;

/// Advice for the first error in `err`'s chain that this command line knows what to do
/// about, as one line without a trailing newline.
pub fn advice(err: &anyhow::Error) -> Option<String> {
    err.chain()
        .filter_map(|cause| cause.downcast_ref::<Error>())
        .find_map(core_advice)
        .or_else(|| err.chain().filter_map(|cause| cause.downcast_ref::<hardener::Error>()).find_map(patch_advice))
}

fn patch_advice(err: &hardener::Error) -> Option<String> {
    match err {
        hardener::Error::NoApkRepositories => {
            Some("pass --repo URL (or --repo DIR) and --keyring FILE with the repository's public key".into())
        }
        hardener::Error::ApkBranch { image, .. } => Some(format!("pass a --repo of the image's branch ({image})")),
        _ => None,
    }
}

fn core_advice(err: &Error) -> Option<String> {
    match err {
        Error::AuthenticationRequired { registry, .. } => {
            Some(format!("check the credentials for {registry}, or log in with `oci-harden login {registry}`"))
        }
        Error::PlatformNotFound { available, .. } if !available.is_empty() => Some(format!(
            "pass --platform with one of: {}",
            available.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        )),
        Error::InvalidLayout { reason, .. } if reason.starts_with("no oci-layout") => {
            Some("create a layout with `oci-harden copy SOURCE oci:DIR:TAG`".into())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    use super::*;

    fn wrapped(err: Error) -> anyhow::Error {
        Err::<(), _>(err).context("copying r.example/team/app:1").unwrap_err()
    }

    #[test]
    fn authentication_required_names_the_login_command() {
        let err = wrapped(Error::AuthenticationRequired {
            registry: "r.example:5000".into(),
            repository: "team/app".into(),
            what: "pulling manifest 1".into(),
            detail: "UNAUTHORIZED".into(),
        });
        let advice = advice(&err).expect("advice for a 401");
        assert!(advice.contains("`oci-harden login r.example:5000`"), "{advice}");
        assert!(!err.root_cause().to_string().contains("oci-harden"), "the library message stays plain");
    }

    #[test]
    fn platform_not_found_lists_the_platforms_to_pass() {
        let err = wrapped(Error::PlatformNotFound {
            index: oci_core::Digest::sha256(b"index"),
            wanted: Some(Box::new("linux/s390x".parse().unwrap())),
            available: vec!["linux/amd64".parse().unwrap(), "linux/arm/v7".parse().unwrap()],
        });
        assert_eq!(advice(&err).as_deref(), Some("pass --platform with one of: linux/amd64, linux/arm/v7"));
        let none = wrapped(Error::PlatformNotFound {
            index: oci_core::Digest::sha256(b"index"),
            wanted: None,
            available: vec![],
        });
        assert_eq!(advice(&none), None, "nothing to choose from, nothing to advise");
    }

    #[test]
    fn a_directory_without_a_layout_gets_the_copy_command() {
        let dir = tempfile::tempdir().unwrap();
        let err = anyhow::Error::from(oci_core::OciLayout::open(dir.path()).unwrap_err());
        assert_eq!(advice(&err).as_deref(), Some("create a layout with `oci-harden copy SOURCE oci:DIR:TAG`"));
    }

    #[test]
    fn other_errors_get_no_advice() {
        let err = wrapped(Error::NotFound { what: "tag \"x\"".into(), hint: String::new() });
        assert_eq!(advice(&err), None);
        assert_eq!(advice(&anyhow::anyhow!("plain")), None);
    }
}
