//! The registry transport: the OCI distribution protocol over `oci-client`'s low-level
//! calls (raw manifests, blob streams, `blob_exists`, `mount_blob`), with our own
//! credentials, retries and verification.
//!
//! Blobs stream straight into an [`OciLayout`] (the content-addressed cache), verified
//! while they flow, and resume with HTTP ranges after a dropped connection. Uploads stream
//! from any [`crate::BlobSource`] in one request each; blobs the registry has are skipped,
//! and blobs in another repository of the same registry are mounted.
//!
//! The transport needs the `registry` feature (on by default); the cache location and
//! [`is_loopback`] do not.

#[cfg(feature = "registry")]
mod body;
#[cfg(feature = "registry")]
mod client;
#[cfg(feature = "registry")]
mod feed;
#[cfg(feature = "registry")]
mod locations;
#[cfg(feature = "registry")]
mod referrers;
#[cfg(feature = "registry")]
mod retry;
#[cfg(feature = "registry")]
mod token;
#[cfg(feature = "registry")]
mod transfer;

#[cfg(feature = "registry")]
pub use client::{Registry, RegistryOptions};
#[cfg(feature = "registry")]
pub(crate) use feed::{Feed, FeedBlobs, FinishAll};
#[cfg(feature = "registry")]
pub use referrers::{COSIGN_TAG_SUFFIXES, copy_referrers, copy_signature_tags, list_referrers, push_referrer};
#[cfg(feature = "registry")]
pub use retry::RetryPolicy;
#[cfg(feature = "registry")]
pub use transfer::{Progress, PullScope, TransferOutcome, TransferStats, fetch_image_layers, pull, push};
#[cfg(feature = "registry")]
pub(crate) use transfer::{fetch_feeding, pull_deferring_layers, pull_tracking};

use crate::OciLayout;

/// The default blob cache: `$XDG_CACHE_HOME/oci-harden` or `~/.cache/oci-harden`, an OCI
/// layout shared by every command (safe for concurrent use).
pub fn default_cache_dir() -> std::path::PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("oci-harden")
}

/// Opens (creating if needed) the blob cache at `dir`.
pub fn open_cache(dir: &std::path::Path) -> crate::Result<OciLayout> {
    OciLayout::create(dir)
}

/// Whether `host` (a registry `host[:port]`) is on the loopback interface, where plain
/// HTTP is used by default, as docker does.
pub fn is_loopback(host: &str) -> bool {
    let h = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, port)| if port.chars().all(|c| c.is_ascii_digit()) { h } else { host })
    };
    h == "localhost" || h == "::1" || h.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_hosts() {
        for h in ["localhost", "localhost:5000", "127.0.0.1:5000", "127.1.2.3", "[::1]:5000"] {
            assert!(super::is_loopback(h), "{h}");
        }
        for h in ["docker.io", "10.0.0.1:5000", "ghcr.io", "localhost.example.com"] {
            assert!(!super::is_loopback(h), "{h}");
        }
    }
}
