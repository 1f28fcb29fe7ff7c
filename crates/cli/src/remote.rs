//! Registry options shared by the commands, the async runtime, and progress output.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use oci_core::{
    CredentialStore, Descriptor, ImageSource, Platform, Progress, PullScope, Reference, RegistryOptions, RetryPolicy,
    Session, SessionOptions, TransferOutcome,
};

use crate::output::human_bytes;

/// How to reach registries and where the blob cache is.
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// Blob cache shared by every command (an OCI layout) [default: $XDG_CACHE_HOME/oci-harden]
    #[arg(long, env = "OCI_HARDEN_CACHE", value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Blobs transferred at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,
    /// Reach this registry (HOST[:PORT]) over plain HTTP; loopback registries always are.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    insecure_registries: Vec<String>,
    /// Trust this PEM CA certificate for registries, besides the system roots (repeatable).
    #[arg(long = "ca-cert", value_name = "FILE")]
    ca_certs: Vec<PathBuf>,
    /// Attempts per request on transient failures (connection errors, 408, 429, 5xx).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    retries: u32,
    /// Seconds a connection to a registry may take to establish.
    #[arg(long, env = "OCI_HARDEN_CONNECT_TIMEOUT", value_name = "SECS", default_value_t = 30.0,
          value_parser = seconds)]
    connect_timeout: f64,
    /// Seconds a registry connection may stay silent before the request fails.
    #[arg(long, env = "OCI_HARDEN_IDLE_TIMEOUT", value_name = "SECS", default_value_t = 60.0, value_parser = seconds)]
    idle_timeout: f64,
    /// Read every layer in full instead of replaying what an earlier run indexed (the layer
    /// index cache in the blob cache; for measurements).
    #[arg(long, env = "OCI_HARDEN_NO_INDEX_CACHE")]
    no_index_cache: bool,
}

/// A timeout in seconds: positive and at most a day.
fn seconds(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds between 0 and 86400")),
    }
}

impl RegistryArgs {
    /// What a library [`Session`] needs: registry options and the cache directory.
    pub fn session_options(&self) -> SessionOptions {
        SessionOptions {
            registry: RegistryOptions {
                insecure_registries: self.insecure_registries.clone(),
                ca_certs: self.ca_certs.clone(),
                retry: RetryPolicy { attempts: self.retries, ..RetryPolicy::default() },
                jobs: usize::from(self.jobs),
                credentials: CredentialStore::from_env(),
                connect_timeout: Duration::from_secs_f64(self.connect_timeout),
                idle_timeout: Duration::from_secs_f64(self.idle_timeout),
                ..RegistryOptions::default()
            },
            cache_dir: self.cache.clone().unwrap_or_else(oci_core::default_cache_dir),
            index_cache: !self.no_index_cache,
            ..SessionOptions::default()
        }
    }

    /// A session reporting transfers to `progress` (it connects on first registry use).
    pub fn session(&self, progress: Arc<dyn Progress>) -> Session {
        Session::new(self.session_options()).with_progress(progress)
    }
}

/// Opens any reference for reading through a [`Session`]. A registry image is pulled into
/// the cache (only as far as `scope` says; layers follow through [`fetch_layers`]) and
/// the session is returned with it.
pub fn open_source(
    reference: &Reference,
    args: &RegistryArgs,
    platforms: &[Platform],
    scope: PullScope,
) -> Result<(ImageSource, Option<Session>)> {
    let session = args.session(progress(true));
    let source = session.open(reference, platforms, scope).with_context(|| match reference {
        Reference::Registry(name) => format!("pulling {name}"),
        local => format!("opening {local}"),
    })?;
    Ok((source, matches!(reference, Reference::Registry(_)).then_some(session)))
}

/// Opens `reference` whole (every layer local) through `session`, for commands that check
/// it (`verify`): only the images of `platforms` (all when empty).
pub fn open_whole(session: &Session, reference: &Reference, platforms: &[Platform]) -> Result<ImageSource> {
    session.open(reference, platforms, PullScope::Everything).with_context(|| match reference {
        Reference::Registry(name) => format!("pulling {name}"),
        local => format!("opening {local}"),
    })
}

/// Opens `reference` as far as its manifests and configs (a registry image: those pulled
/// into the cache, no layer), for comparing digests before any real work.
pub fn open_metadata(session: &Session, reference: &Reference, platforms: &[Platform]) -> Result<ImageSource> {
    session.open(reference, platforms, PullScope::Metadata).with_context(|| match reference {
        Reference::Registry(name) => format!("pulling {name}"),
        local => format!("opening {local}"),
    })
}

/// Runs `work` on `image` with its layers local: a registry image's layers download while
/// `work` reads them ([`Session::stream_layers`]); a local reference's image as it is.
pub fn with_layers<T>(
    session: Option<&Session>,
    reference: &Reference,
    image: &oci_core::Image,
    work: impl FnOnce(&oci_core::Image) -> Result<T>,
) -> Result<T> {
    match (session, reference) {
        (Some(session), Reference::Registry(_)) => session.stream_layers(reference, image, work),
        _ => work(image),
    }
}

/// Progress for blob transfers: bars on a terminal, a line per blob otherwise, nothing
/// when `quiet`.
pub fn progress(quiet: bool) -> Arc<dyn Progress> {
    if quiet {
        Arc::new(())
    } else if std::io::stderr().is_terminal() {
        Arc::new(Bars::default())
    } else {
        Arc::new(Lines)
    }
}

fn short(desc: &Descriptor) -> String {
    let hex = desc.digest.hex();
    format!("{}:{}", desc.digest.algorithm(), &hex[..12.min(hex.len())])
}

/// One line per blob, for CI logs.
struct Lines;

impl Progress for Lines {
    fn finished(&self, desc: &Descriptor, outcome: &TransferOutcome) {
        let what = match outcome {
            TransferOutcome::Downloaded(n) => format!("pulled   {} ({})", short(desc), human_bytes(*n)),
            TransferOutcome::Uploaded(n) => format!("pushed   {} ({})", short(desc), human_bytes(*n)),
            TransferOutcome::Cached => format!("cached   {}", short(desc)),
            TransferOutcome::Exists => format!("exists   {}", short(desc)),
            TransferOutcome::Mounted => format!("mounted  {}", short(desc)),
            _ => format!("done     {}", short(desc)),
        };
        eprintln!("{what}");
    }

    fn retrying(&self, desc: &Descriptor, attempt: u32, delay: Duration, error: &str) {
        eprintln!("retrying {} in {:.1}s (attempt {}): {error}", short(desc), delay.as_secs_f64(), attempt + 1);
    }
}

/// Progress bars per blob and overall.
#[derive(Default)]
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Progress for Bars {
    fn started(&self, desc: &Descriptor, upload: bool) {
        self.multi.set_draw_target(ProgressDrawTarget::stderr());
        let bar = self.multi.add(ProgressBar::new(desc.size));
        bar.set_style(
            ProgressStyle::with_template("{prefix} {msg:>8} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(short(desc));
        bar.set_message(if upload { "push" } else { "pull" });
        self.bars.lock().expect("not poisoned").insert(desc.digest.to_string(), bar);
    }

    fn advanced(&self, desc: &Descriptor, bytes: u64) {
        if let Some(bar) = self.bars.lock().expect("not poisoned").get(&desc.digest.to_string()) {
            bar.inc(bytes);
        }
    }

    fn finished(&self, desc: &Descriptor, outcome: &TransferOutcome) {
        let bar = self.bars.lock().expect("not poisoned").remove(&desc.digest.to_string());
        let text = match outcome {
            TransferOutcome::Cached => "cached",
            TransferOutcome::Exists => "exists",
            TransferOutcome::Mounted => "mounted",
            _ => "done",
        };
        match bar {
            Some(bar) => bar.finish_with_message(text),
            None => {
                let _ = self.multi.println(format!("{} {text}", short(desc)));
            }
        }
    }

    fn retrying(&self, desc: &Descriptor, attempt: u32, delay: Duration, error: &str) {
        let _ = self.multi.println(format!(
            "retrying {} in {:.1}s (attempt {}): {error}",
            short(desc),
            delay.as_secs_f64(),
            attempt + 1
        ));
    }
}
