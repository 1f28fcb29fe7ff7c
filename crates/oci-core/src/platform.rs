//! Platforms (`linux/arm64/v8`) and how an index entry is matched against a request.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The platform an image runs on, as in an index's descriptors and an image config.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture (`amd64`, `arm64`, …).
    pub architecture: String,
    /// Operating system (`linux`, `windows`).
    pub os: String,
    /// OS version (Windows builds).
    #[serde(rename = "os.version", default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// OS features.
    #[serde(rename = "os.features", default, skip_serializing_if = "Option::is_none")]
    pub os_features: Option<Vec<String>>,
    /// CPU variant (`v7`, `v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// A platform from its parts, with architecture aliases normalised (`x86_64` → `amd64`).
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        let architecture = match architecture.to_ascii_lowercase().as_str() {
            "x86_64" | "x86-64" => "amd64".to_owned(),
            "aarch64" => "arm64".to_owned(),
            "i386" | "i686" => "386".to_owned(),
            other => other.to_owned(),
        };
        Platform {
            architecture,
            os: os.to_ascii_lowercase(),
            os_version: None,
            os_features: None,
            variant: variant.map(str::to_ascii_lowercase),
        }
    }

    /// The platform of the machine running this code (always `linux/…` for images).
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        Platform::new("linux", arch, None)
    }

    /// Whether an image for `self` satisfies a request for `wanted`.
    ///
    /// OS and architecture must be equal; a variant is compared only when the request
    /// names one, with the defaults `arm64` → `v8` and `arm` → `v7` applied to both sides.
    pub fn satisfies(&self, wanted: &Platform) -> bool {
        let (arch, variant) = normalize(&self.architecture, self.variant.as_deref());
        let (warch, wvariant) = normalize(&wanted.architecture, wanted.variant.as_deref());
        self.os.eq_ignore_ascii_case(&wanted.os) && arch == warch && (wanted.variant.is_none() || variant == wvariant)
    }
}

fn normalize(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let arch = arch.to_ascii_lowercase();
    let variant = variant.map(|v| v.to_ascii_lowercase());
    match arch.as_str() {
        "x86_64" | "x86-64" => ("amd64".into(), None),
        "aarch64" | "arm64" => (
            "arm64".into(),
            match variant.as_deref() {
                None | Some("8") | Some("v8") => Some("v8".into()),
                _ => variant,
            },
        ),
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "arm" => (
            "arm".into(),
            match variant.as_deref() {
                None | Some("7") | Some("v7") => Some("v7".into()),
                Some(v) if !v.starts_with('v') => Some(format!("v{v}")),
                _ => variant,
            },
        ),
        "i386" | "i686" => ("386".into(), variant),
        _ => (arch, variant),
    }
}

impl FromStr for Platform {
    type Err = Error;

    /// Parses `os/arch[/variant]`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason| Error::InvalidPlatform { input: s.to_owned(), reason };
        let parts: Vec<&str> = s.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad("empty component; expected os/arch[/variant]"));
        }
        match parts.as_slice() {
            [os, arch] => Ok(Platform::new(os, arch, None)),
            [os, arch, variant] => Ok(Platform::new(os, arch, Some(variant))),
            _ => Err(bad("expected os/arch[/variant]")),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        let want: Platform = "linux/arm64".parse().unwrap();
        let img = Platform {
            architecture: "arm64".into(),
            os: "linux".into(),
            os_version: None,
            os_features: None,
            variant: Some("v8".into()),
        };
        assert!(img.satisfies(&want));
        assert!(!img.satisfies(&"linux/amd64".parse().unwrap()));
        assert!(!img.satisfies(&"linux/arm/v7".parse().unwrap()));
        let v6: Platform = "linux/arm/v6".parse().unwrap();
        assert!(!Platform::new("linux", "arm", None).satisfies(&v6));
        assert!(Platform::new("linux", "arm", Some("v6")).satisfies(&v6));
        assert_eq!(want.to_string(), "linux/arm64");
        assert_eq!("linux/x86_64".parse::<Platform>().unwrap().to_string(), "linux/amd64");
        assert!("linux".parse::<Platform>().is_err());
        assert!("linux//v7".parse::<Platform>().is_err());
    }
}
