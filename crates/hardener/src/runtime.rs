//! The runtime settings that go with a hardened image: what no image can carry (a
//! read-only root filesystem, dropped capabilities, no privilege escalation, the seccomp
//! profile) written for Kubernetes, Compose or `docker run`, with the values read from the
//! image itself: its user resolved to numeric ids through its own `/etc/passwd` and
//! `/etc/group`, its exposed ports, its declared volumes and the directories it expects to
//! write to (sticky, world-writable: `/tmp`, `/var/tmp`).

use std::fmt::Write as _;

use oci_core::{EntryKind, Image, MergedFs};
use serde::Serialize;

use crate::Result;

/// A runtime profile's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ProfileFormat {
    /// A Kubernetes Pod manifest (YAML) with pod and container security contexts.
    Kubernetes,
    /// A Compose file (YAML) with one service.
    Compose,
    /// A `docker run` command line (also right for podman and nerdctl).
    Docker,
}

/// One exposed port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExposedPort {
    /// The port number.
    pub port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
}

/// The runtime settings matching an image (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RuntimeProfile {
    /// The image reference the profile runs.
    pub image: String,
    /// A name for the workload (the repository's last segment, as a DNS label).
    pub name: String,
    /// The image's user as numeric uid, when it could be resolved.
    pub uid: Option<u32>,
    /// The image's group as numeric gid, when it could be resolved.
    pub gid: Option<u32>,
    /// Whether the image runs as a non-root user (uid ≠ 0).
    pub non_root: bool,
    /// Capabilities added back after dropping all: `NET_BIND_SERVICE` when a port below 1024
    /// is exposed.
    pub add_capabilities: Vec<String>,
    /// The exposed ports.
    pub ports: Vec<ExposedPort>,
    /// Paths given a writable, empty, non-persistent mount (declared volumes and sticky
    /// world-writable directories), sorted.
    pub writable: Vec<String>,
    /// What the user should know (a root user, a user that could not be resolved…).
    pub warnings: Vec<String>,
}

/// The runtime profile of `image`, run as `reference`.
///
/// # Errors
/// The image's layers cannot be read.
pub fn runtime_profile(image: &Image, reference: &str) -> Result<RuntimeProfile> {
    let fs = MergedFs::build_capturing(image, |p| p == "etc/passwd" || p == "etc/group")?;
    let config = image.config();
    let mut warnings = Vec::new();
    let text = |path: &str| fs.read(path).ok().map(|b| String::from_utf8_lossy(&b).into_owned());
    let (passwd, group) = (text("etc/passwd"), text("etc/group"));
    let (uid, gid) = match config.user() {
        None => (Some(0), Some(0)),
        Some(user) => {
            let (u, g) = user.split_once(':').map_or((user, None), |(u, g)| (u, Some(g)));
            let account = lookup(passwd.as_deref(), u);
            let uid = u.parse::<u32>().ok().or(account.map(|a| a.0));
            let gid = match g {
                Some(g) => g.parse::<u32>().ok().or_else(|| lookup(group.as_deref(), g).map(|a| a.0)),
                None => account.map(|a| a.1).or_else(|| lookup_uid(passwd.as_deref(), uid?)),
            };
            if uid.is_none() {
                warnings.push(format!("user {u:?} is not in the image's /etc/passwd: no uid could be set"));
            }
            if let (Some(g), None) = (g, gid) {
                warnings.push(format!("group {g:?} is not in the image's /etc/group: no gid could be set"));
            }
            (uid, gid)
        }
    };
    let non_root = uid.is_some_and(|u| u != 0);
    if uid == Some(0) {
        warnings.push("the image runs as root: harden it with a rule that sets a non-root user".into());
    }
    let mut ports: Vec<ExposedPort> = config
        .exposed_ports()
        .into_iter()
        .filter_map(|p| {
            let (port, protocol) = p.split_once('/').unwrap_or((p, "tcp"));
            Some(ExposedPort { port: port.parse().ok()?, protocol: protocol.to_ascii_lowercase() })
        })
        .collect();
    ports.sort_by(|a, b| (a.port, &a.protocol).cmp(&(b.port, &b.protocol)));
    ports.dedup();
    let add_capabilities =
        if ports.iter().any(|p| p.port < 1024) { vec!["NET_BIND_SERVICE".to_owned()] } else { Vec::new() };
    let mut writable: Vec<String> = config.volumes().into_iter().map(normalise).collect();
    writable.extend(
        fs.iter()
            .filter(|(_, n)| n.meta.kind == EntryKind::Dir && n.meta.mode & 0o1002 == 0o1002)
            .map(|(p, _)| format!("/{p}")),
    );
    writable.sort();
    writable.dedup();
    Ok(RuntimeProfile {
        image: reference.to_owned(),
        name: workload_name(reference),
        uid,
        gid,
        non_root,
        add_capabilities,
        ports,
        writable,
        warnings,
    })
}

/// `(id, primary gid)` of `name` in a passwd (or `(gid, _)` in a group) file.
fn lookup(file: Option<&str>, name: &str) -> Option<(u32, u32)> {
    file?.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&name) && f.len() >= 3)
            .then(|| Some((f[2].parse().ok()?, f.get(3).and_then(|g| g.parse().ok()).unwrap_or(0))))
            .flatten()
    })
}

/// The primary gid of the passwd entry with `uid`.
fn lookup_uid(passwd: Option<&str>, uid: u32) -> Option<u32> {
    passwd?.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 4 && f[2].parse() == Ok(uid)).then(|| f[3].parse().ok()).flatten()
    })
}

fn normalise(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.starts_with('/') { trimmed.to_owned() } else { format!("/{trimmed}") }
}

/// The repository's last path segment, as a DNS-1123 label (`hardened-debian`).
fn workload_name(reference: &str) -> String {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    let repo = last.split(':').next().unwrap_or(last);
    let mut name: String = repo
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect::<String>()
        .trim_matches('-')
        .to_owned();
    name.truncate(63);
    let name = name.trim_end_matches('-').to_owned();
    if name.is_empty() { "app".into() } else { name }
}

/// A double-quoted YAML (and JSON) string.
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// A volume name for a writable path (`/var/tmp` → `var-tmp`), unique among `all`.
fn volume_name(path: &str, index: usize) -> String {
    let base = workload_name(&path.trim_start_matches('/').replace('/', "-"));
    let base = if path == "/" { "root".to_owned() } else { base };
    format!("w{index}-{base}").chars().take(63).collect::<String>().trim_end_matches('-').to_owned()
}

/// A shell word, quoted when needed.
fn sh(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-:=@,+".contains(c)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

impl RuntimeProfile {
    /// The profile as text in `format` (deterministic: the same image gives the same bytes).
    pub fn render(&self, format: ProfileFormat) -> String {
        match format {
            ProfileFormat::Kubernetes => self.kubernetes(),
            ProfileFormat::Compose => self.compose(),
            ProfileFormat::Docker => self.docker(),
        }
    }

    fn user_spec(&self) -> Option<String> {
        let uid = self.uid?;
        Some(match self.gid {
            Some(gid) => format!("{uid}:{gid}"),
            None => uid.to_string(),
        })
    }

    fn kubernetes(&self) -> String {
        let mut y = String::new();
        let _ = writeln!(y, "# Runtime settings for {} (written by oci-harden from the image).", self.image);
        let _ = writeln!(y, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {}\nspec:", q(&self.name));
        let _ = writeln!(y, "  automountServiceAccountToken: false\n  securityContext:");
        let _ = writeln!(y, "    runAsNonRoot: {}", self.non_root);
        if let Some(uid) = self.uid {
            let _ = writeln!(y, "    runAsUser: {uid}");
        }
        if let Some(gid) = self.gid {
            let _ = writeln!(y, "    runAsGroup: {gid}\n    fsGroup: {gid}");
        }
        let _ = writeln!(y, "    seccompProfile:\n      type: RuntimeDefault");
        let _ = writeln!(y, "  containers:\n    - name: {}\n      image: {}", q(&self.name), q(&self.image));
        let _ = writeln!(y, "      securityContext:");
        let _ = writeln!(y, "        allowPrivilegeEscalation: false\n        privileged: false");
        let _ = writeln!(
            y,
            "        readOnlyRootFilesystem: true\n        capabilities:\n          drop:\n            - ALL"
        );
        if !self.add_capabilities.is_empty() {
            let _ = writeln!(y, "          add:");
            for c in &self.add_capabilities {
                let _ = writeln!(y, "            - {c}");
            }
        }
        if !self.ports.is_empty() {
            let _ = writeln!(y, "      ports:");
            for p in &self.ports {
                let _ = writeln!(
                    y,
                    "        - containerPort: {}\n          protocol: {}",
                    p.port,
                    p.protocol.to_uppercase()
                );
            }
        }
        if !self.writable.is_empty() {
            let _ = writeln!(y, "      volumeMounts:");
            for (i, path) in self.writable.iter().enumerate() {
                let _ = writeln!(y, "        - name: {}\n          mountPath: {}", volume_name(path, i), q(path));
            }
            let _ = writeln!(y, "  volumes:");
            for (i, path) in self.writable.iter().enumerate() {
                let _ = writeln!(y, "    - name: {}\n      emptyDir: {{}}", volume_name(path, i));
            }
        }
        y
    }

    fn compose(&self) -> String {
        let mut y = String::new();
        let _ = writeln!(y, "# Runtime settings for {} (written by oci-harden from the image).", self.image);
        let _ = writeln!(y, "services:\n  {}:\n    image: {}", q(&self.name), q(&self.image));
        if let Some(user) = self.user_spec() {
            let _ = writeln!(y, "    user: {}", q(&user));
        }
        let _ = writeln!(y, "    read_only: true\n    cap_drop:\n      - ALL");
        if !self.add_capabilities.is_empty() {
            let _ = writeln!(y, "    cap_add:");
            for c in &self.add_capabilities {
                let _ = writeln!(y, "      - {c}");
            }
        }
        let _ = writeln!(y, "    security_opt:\n      - \"no-new-privileges:true\"");
        if !self.ports.is_empty() {
            let _ = writeln!(y, "    expose:");
            for p in &self.ports {
                let _ = writeln!(y, "      - \"{}/{}\"", p.port, p.protocol);
            }
        }
        if !self.writable.is_empty() {
            let _ = writeln!(y, "    tmpfs:");
            for path in &self.writable {
                let _ = writeln!(y, "      - {}", q(path));
            }
        }
        y
    }

    fn docker(&self) -> String {
        let mut args = vec!["docker".to_owned(), "run".to_owned(), "--rm".to_owned(), "--read-only".to_owned()];
        if let Some(user) = self.user_spec() {
            args.extend(["--user".to_owned(), user]);
        }
        args.extend(["--cap-drop".to_owned(), "ALL".to_owned()]);
        for c in &self.add_capabilities {
            args.extend(["--cap-add".to_owned(), c.clone()]);
        }
        args.extend(["--security-opt".to_owned(), "no-new-privileges".to_owned()]);
        for path in &self.writable {
            args.extend(["--tmpfs".to_owned(), path.clone()]);
        }
        for p in &self.ports {
            args.extend(["--expose".to_owned(), format!("{}/{}", p.port, p.protocol)]);
        }
        args.push(self.image.clone());
        let words: Vec<String> = args.iter().map(|a| sh(a)).collect();
        format!("{}\n", words.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels() {
        assert_eq!(workload_name("registry.example.com/hardened/Debian_12:12"), "debian-12");
        assert_eq!(workload_name("oci:/tmp/layout:tag"), "layout");
        assert_eq!(workload_name("a/b@sha256:0123"), "b");
        assert_eq!(workload_name("___"), "app");
        assert_eq!(volume_name("/var/tmp", 1), "w1-var-tmp");
    }

    #[test]
    fn users_resolve_through_passwd_and_group() {
        let passwd = "root:x:0:0::/root:/bin/sh\napp:x:10001:10002::/home/app:/sbin/nologin\n";
        let group = "root:x:0:\nstaff:x:50:\n";
        assert_eq!(lookup(Some(passwd), "app"), Some((10001, 10002)));
        assert_eq!(lookup(Some(group), "staff"), Some((50, 0)));
        assert_eq!(lookup(Some(passwd), "nobody"), None);
        assert_eq!(lookup_uid(Some(passwd), 10001), Some(10002));
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(sh("registry.example.com/a/b:1"), "registry.example.com/a/b:1");
        assert_eq!(sh("it's"), "'it'\\''s'");
        assert_eq!(sh(""), "''");
    }
}
