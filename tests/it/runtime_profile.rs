//! `harden --runtime-profile`: the runtime settings written for the hardened image, judged by
//! the real validators (kubernetes-validate for the Pod, check-jsonschema with the Compose
//! spec's schema) and checked against the image's own user, ports, volumes and temporary
//! directories.

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::process::Command;

use crate::harness::{example_layout, oci_harden, oci_ref, require_tool, tempdir, tool};

/// A rule set that leaves the user, ports and volumes alone.
const RULES: &str = "[ruleset]\nname = \"setuid only\"\n[[rule]]\nid = \"setuid\"\nkind = \"strip-setuid\"\n";

/// The example with `User nobody` (resolved through its /etc/passwd), ports 80 and
/// 8080/udp, and a volume `/data/` set by umoci; returns its reference.
fn configured_example(dir: &Path) -> String {
    let layout = dir.join("src");
    tool("cp", &[OsStr::new("-a"), example_layout().as_os_str(), layout.as_os_str()]).ok();
    let image = format!("{}:3.20", layout.display());
    tool(
        "umoci",
        &[
            "config",
            "--image",
            &image,
            "--tag",
            "configured",
            "--config.user",
            "nobody",
            "--config.exposedports",
            "80/tcp",
            "--config.exposedports",
            "8080/udp",
            "--config.volume",
            "/data/",
        ],
    )
    .ok();
    oci_ref(&layout, Some("configured"))
}

fn harden_with_profile(dir: &Path, source: &str, format: &str) -> (String, String) {
    let rules = dir.join("rules.toml");
    fs::write(&rules, RULES).unwrap();
    let out = dir.join(format!("profile-{format}.yaml"));
    let dst = oci_ref(&dir.join("dst"), Some(format));
    let run = oci_harden(&[
        "harden",
        source,
        &dst,
        "--rules",
        rules.to_str().unwrap(),
        "--runtime-profile",
        out.to_str().unwrap(),
        "--profile-format",
        format,
        "--cache",
        dir.join("cache").to_str().unwrap(),
        "-q",
    ])
    .ok();
    (fs::read_to_string(&out).unwrap(), run.stderr)
}

fn validator(name: &str, args: &[&str], file: &Path) {
    let out = Command::new(require_tool(name)).args(args).arg(file).output().unwrap();
    assert!(
        out.status.success(),
        "{name} refused {}:\n{}{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Pod, the Compose service and the docker command carry the image's uid/gid (nobody:
/// 65534), NET_BIND_SERVICE for port 80 only, and writable mounts for the volume and the
/// image's sticky temporary directories; the validators accept them, and a changed document
/// is refused by them (so they do look).
#[test]
fn profiles_match_the_image_and_validate() {
    let tmp = tempdir();
    let source = configured_example(tmp.path());

    let (pod, _) = harden_with_profile(tmp.path(), &source, "kubernetes");
    let pod_file = tmp.path().join("profile-kubernetes.yaml");
    validator("kubernetes-validate", &["--strict"], &pod_file);
    for line in [
        "    runAsNonRoot: true\n    runAsUser: 65534\n    runAsGroup: 65534\n",
        "      type: RuntimeDefault\n",
        "        allowPrivilegeEscalation: false\n",
        "        readOnlyRootFilesystem: true\n",
        "          drop:\n            - ALL\n          add:\n            - NET_BIND_SERVICE\n",
        "        - containerPort: 80\n          protocol: TCP\n        - containerPort: 8080\n          protocol: UDP\n",
        "          mountPath: \"/data\"\n",
        "          mountPath: \"/tmp\"\n",
        "          mountPath: \"/var/tmp\"\n",
    ] {
        assert!(pod.contains(line), "{line:?} not in\n{pod}");
    }
    let broken = tmp.path().join("broken.yaml");
    fs::write(&broken, pod.replace("runAsUser: 65534", "runAsUser: nobody")).unwrap();
    let out = Command::new(require_tool("kubernetes-validate")).arg("--strict").arg(&broken).output().unwrap();
    assert!(!out.status.success(), "kubernetes-validate accepted a string uid");

    let (compose, _) = harden_with_profile(tmp.path(), &source, "compose");
    let compose_file = tmp.path().join("profile-compose.yaml");
    validator("check-jsonschema", &["--builtin-schema", "vendor.compose-spec"], &compose_file);
    for line in ["    user: \"65534:65534\"\n", "    read_only: true\n", "    cap_add:\n      - NET_BIND_SERVICE\n"] {
        assert!(compose.contains(line), "{line:?} not in\n{compose}");
    }
    assert!(compose.contains("    tmpfs:\n      - \"/data\"\n      - \"/tmp\"\n      - \"/var/tmp\"\n"), "{compose}");
    fs::write(&broken, compose.replace("read_only: true", "read_only: [true]")).unwrap();
    let out = Command::new(require_tool("check-jsonschema"))
        .args(["--builtin-schema", "vendor.compose-spec"])
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!out.status.success(), "check-jsonschema accepted a list for read_only");

    let (docker, _) = harden_with_profile(tmp.path(), &source, "docker");
    let dst = oci_ref(&tmp.path().join("dst"), Some("docker"));
    assert_eq!(
        docker,
        format!(
            "docker run --rm --read-only --user 65534:65534 --cap-drop ALL --cap-add NET_BIND_SERVICE --security-opt \
             no-new-privileges --tmpfs /data --tmpfs /tmp --tmpfs /var/tmp --expose 80/tcp --expose 8080/udp {dst}\n"
        )
    );
}

/// An image that runs as root gets a profile that does not claim otherwise, and a warning.
#[test]
fn a_root_image_is_not_called_non_root() {
    let tmp = tempdir();
    let source = oci_ref(&example_layout(), Some("3.20"));
    let (pod, stderr) = harden_with_profile(tmp.path(), &source, "kubernetes");
    assert!(pod.contains("    runAsNonRoot: false\n    runAsUser: 0\n"), "{pod}");
    assert!(!pod.contains("NET_BIND_SERVICE"), "{pod}");
    assert!(stderr.contains("runtime profile: the image runs as root"), "{stderr}");
    validator("kubernetes-validate", &["--strict"], &tmp.path().join("profile-kubernetes.yaml"));
}
