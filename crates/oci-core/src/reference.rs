//! Image references and their transports: registry names, `oci:DIR[:TAG]`, `docker-archive:FILE`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::{Digest, Error, Result};

/// Docker Hub's canonical registry name.
pub const DOCKER_HUB: &str = "docker.io";

/// Where an image lives and how to reach it, as skopeo names it.
///
/// ```
/// use oci_core::Reference;
/// let r: Reference = "debian:12".parse().unwrap();
/// assert_eq!(r.to_string(), "docker.io/library/debian:12");
/// let r: Reference = "oci:/tmp/layout:v1".parse().unwrap();
/// assert!(matches!(r, Reference::Layout { ref tag, .. } if tag.as_deref() == Some("v1")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reference {
    /// An image in a registry (`host[:port]/repo[:tag][@digest]`, optionally `docker://`).
    Registry(ImageName),
    /// An OCI image layout directory, with an optional tag (`org.opencontainers.image.ref.name`).
    Layout {
        /// The layout directory.
        dir: PathBuf,
        /// The tag; `None` means the layout's only image.
        tag: Option<String>,
    },
    /// A `docker save` tarball, with an optional image name inside it (`name:tag`).
    DockerArchive {
        /// The archive file.
        path: PathBuf,
        /// Which image of a multi-image archive; `None` means the only one.
        image: Option<String>,
    },
}

impl FromStr for Reference {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        if let Some(rest) = s.strip_prefix("oci:") {
            let (dir, tag) = match rest.split_once(':') {
                Some((dir, tag)) => (dir, Some(tag.to_owned())),
                None => (rest, None),
            };
            if dir.is_empty() {
                return Err(bad(s, "oci: needs a directory (oci:DIR[:TAG])"));
            }
            if let Some(t) = &tag
                && t.is_empty()
            {
                return Err(bad(s, "empty tag after the directory"));
            }
            return Ok(Reference::Layout { dir: dir.into(), tag });
        }
        if let Some(rest) = s.strip_prefix("docker-archive:") {
            let (path, image) = match rest.split_once(':') {
                Some((p, i)) => (p, Some(i.to_owned())),
                None => (rest, None),
            };
            if path.is_empty() {
                return Err(bad(s, "docker-archive: needs a file (docker-archive:FILE[:NAME:TAG])"));
            }
            return Ok(Reference::DockerArchive { path: path.into(), image });
        }
        let name = s.strip_prefix("docker://").unwrap_or(s);
        if let Some((transport, _)) = name.split_once(':')
            && matches!(transport, "dir" | "oci-archive" | "docker-daemon" | "containers-storage")
        {
            return Err(bad(s, "this transport is not supported (use oci:, docker-archive: or a registry name)"));
        }
        Ok(Reference::Registry(name.parse().map_err(|e: Error| match e {
            Error::InvalidReference { reason, .. } => bad(s, &reason),
            other => other,
        })?))
    }
}

fn bad(input: &str, reason: &str) -> Error {
    Error::InvalidReference { input: input.to_owned(), reason: reason.to_owned() }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Registry(n) => n.fmt(f),
            Reference::Layout { dir, tag } => {
                write!(f, "oci:{}", dir.display())?;
                if let Some(t) = tag {
                    write!(f, ":{t}")?;
                }
                Ok(())
            }
            Reference::DockerArchive { path, image } => {
                write!(f, "docker-archive:{}", path.display())?;
                if let Some(i) = image {
                    write!(f, ":{i}")?;
                }
                Ok(())
            }
        }
    }
}

/// A registry image name, normalised as docker does (`debian` → `docker.io/library/debian:latest`
/// when resolved).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageName {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl ImageName {
    /// The registry host, with port if any (`docker.io`, `localhost:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path (`library/debian`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if one was given.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if one was given.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What to ask the registry for: the digest if given, else the tag, else `latest`.
    pub fn reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_owned(),
        }
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> ImageName {
        ImageName { tag: Some(tag.to_owned()), digest: None, ..self.clone() }
    }

    /// The same repository pinned to a digest (the tag is kept for display).
    pub fn with_digest(&self, digest: Digest) -> ImageName {
        ImageName { digest: Some(digest), ..self.clone() }
    }
}

impl FromStr for ImageName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        if s.is_empty() {
            return Err(bad(s, "empty reference"));
        }
        if s.len() > 4096 {
            return Err(bad(s, "reference longer than 4096 characters"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, d)) => (rest, Some(d.parse::<Digest>()?)),
            None => (s, None),
        };
        // A tag is after the last ':' that follows the last '/' (a ':' before it is a port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            let valid = !t.is_empty()
                && t.len() <= 128
                && t.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
                && t.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
            if !valid {
                return Err(bad(s, &format!("invalid tag {t:?} (letters, digits, _ . -; at most 128)")));
            }
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.')
                    || first.contains(':')
                    || first == "localhost"
                    || first.bytes().any(|b| b.is_ascii_uppercase()) =>
            {
                (first.to_owned(), path.to_owned())
            }
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_owned(),
            _ => registry,
        };
        validate_host(s, &registry)?;
        let repository = if registry == DOCKER_HUB && !path.contains('/') { format!("library/{path}") } else { path };
        validate_repository(s, &repository)?;
        Ok(ImageName { registry, repository, tag: tag.map(str::to_owned), digest })
    }
}

fn validate_host(input: &str, host: &str) -> Result<()> {
    let (h, port) = if let Some(rest) = host.strip_prefix('[') {
        // IPv6 literal: [::1]:5000
        let (addr, after) = rest.split_once(']').ok_or_else(|| bad(input, "unclosed '[' in registry host"))?;
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return Err(bad(input, "invalid IPv6 registry host"));
        }
        (None, after.strip_prefix(':'))
    } else {
        match host.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(host), None),
        }
    };
    if let Some(h) = h
        && (h.is_empty()
            || !h.split('.').all(|label| {
                !label.is_empty()
                    && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            }))
    {
        return Err(bad(input, &format!("invalid registry host {host:?}")));
    }
    if let Some(p) = port
        && p.parse::<u16>().is_err()
    {
        return Err(bad(input, &format!("invalid port in registry host {host:?}")));
    }
    Ok(())
}

fn validate_repository(input: &str, repo: &str) -> Result<()> {
    if repo.len() > 255 {
        return Err(bad(input, "repository name longer than 255 characters"));
    }
    for component in repo.split('/') {
        // [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
        let b = component.as_bytes();
        let ok_edge = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let mut ok = ok_edge(b.first()) && ok_edge(b.last());
        let mut i = 0;
        while ok && i < b.len() {
            let c = b[i];
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && !(b[i].is_ascii_lowercase() || b[i].is_ascii_digit()) {
                i += 1;
            }
            let sep = &component[start..i];
            ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        }
        if !ok {
            return Err(bad(
                input,
                &format!(
                    "invalid repository component {component:?} (lowercase letters, digits and . _ __ - separators)"
                ),
            ));
        }
    }
    Ok(())
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> ImageName {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn docker_hub_normalisation() {
        assert_eq!(name("debian:12").to_string(), "docker.io/library/debian:12");
        assert_eq!(name("debian").reference(), "latest");
        assert_eq!(name("bitnami/nginx").to_string(), "docker.io/bitnami/nginx");
        assert_eq!(name("index.docker.io/library/alpine:3").registry(), "docker.io");
        assert_eq!(name("docker.io/alpine").repository(), "library/alpine");
        let n = name("localhost:5000/a/b:v1");
        assert_eq!((n.registry(), n.repository(), n.tag()), ("localhost:5000", "a/b", Some("v1")));
        let n = name(&format!("ghcr.io/o/r@sha256:{}", "a".repeat(64)));
        assert!(n.digest().is_some() && n.tag().is_none());
        let n = name("[::1]:5000/x:1");
        assert_eq!(n.registry(), "[::1]:5000");
        assert_eq!(name("127.0.0.1:5000/x").registry(), "127.0.0.1:5000");
    }

    #[test]
    fn invalid_names() {
        for s in ["", "Debian", "debian:", "debian:-x", "a//b", "host:99999/x", "debian@sha256:12", "a/-b", "a/b-"] {
            assert!(s.parse::<ImageName>().is_err(), "{s:?} should be refused");
        }
    }

    #[test]
    fn transports() {
        let r: Reference = "docker-archive:/tmp/x.tar".parse().unwrap();
        assert_eq!(r.to_string(), "docker-archive:/tmp/x.tar");
        let r: Reference = "oci:dir".parse().unwrap();
        assert_eq!(r, Reference::Layout { dir: "dir".into(), tag: None });
        let r: Reference = "docker://alpine".parse().unwrap();
        assert_eq!(r.to_string(), "docker.io/library/alpine");
        assert!("oci:".parse::<Reference>().is_err());
        assert!("oci:d:".parse::<Reference>().is_err());
        assert!("dir:/x".parse::<Reference>().is_err());
    }
}
