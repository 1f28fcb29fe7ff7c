//! One call per job from synchronous code: open any reference, make its layers local,
//! write an image to any destination.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use crate::{
    Artifact, Attached, CopyOptions, CopyReport, Descriptor, Digest, Error, Image, ImageName, ImageSource, OciLayout,
    Platform, Progress, PullScope, Reference, Referrers, ReferrersVia, Registry, RegistryOptions, Result,
    TransferStats,
};

/// What a [`Session`] is made of.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// How registries are reached (credentials, retries, TLS, limits). Its
    /// [`limits`](RegistryOptions::limits) apply to local references too.
    pub registry: RegistryOptions,
    /// The blob cache registry images are pulled through (an OCI layout, created on
    /// first use); by default [`crate::default_cache_dir`].
    pub cache_dir: PathBuf,
    /// Threads of the session's async runtime.
    pub worker_threads: usize,
    /// Whether the sources it opens build [`crate::MergedFs`] through the layer index cache
    /// in the blob cache's [`crate::INDEX_CACHE_DIR`] (see [`crate::IndexCache`]).
    pub index_cache: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            registry: RegistryOptions::default(),
            cache_dir: crate::default_cache_dir(),
            worker_threads: 2,
            index_cache: true,
        }
    }
}

/// A registry session, its blob cache and an async runtime, behind synchronous calls
/// that take any [`Reference`]: a registry image, an `oci:` layout or a
/// `docker-archive:` file.
///
/// Nothing is set up until a registry reference needs it: a session that only ever
/// sees local references starts no runtime and creates no blob cache (only, once a merged
/// filesystem is built, the layer index cache in its directory, unless
/// [`SessionOptions::index_cache`] is off). The calls block the
/// current thread; from async code, use [`crate::pull`], [`crate::push`] and
/// [`crate::copy_image`] instead (a session's calls must not run inside a runtime).
///
/// ```
/// # fn main() -> oci_core::Result<()> {
/// use oci_core::{CopyOptions, MergedFs, PullScope, Session, SessionOptions};
/// let out = tempfile::tempdir().unwrap();
/// let session = Session::new(SessionOptions::default());
/// let source = "oci:../../examples/alpine:3.20".parse()?;
/// let opened = session.open(&source, &[], PullScope::Metadata)?;
/// let image = opened.image(None)?;
/// session.ensure_layers(&source, &image)?; // pulls the layers of a registry image
/// assert!(MergedFs::build(&image)?.read("etc/alpine-release")?.starts_with(b"3.20"));
/// let copy = format!("oci:{}:copy", out.path().display()).parse()?;
/// let report = session.write(&opened, &copy, &CopyOptions::default())?;
/// assert_eq!(&report.digest, image.digest());
/// # Ok(()) }
/// ```
pub struct Session {
    options: SessionOptions,
    progress: Arc<dyn Progress>,
    remote: OnceLock<Remote>,
}

struct Remote {
    runtime: tokio::runtime::Runtime,
    registry: Registry,
    cache: OciLayout,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("options", &self.options)
            .field("connected", &self.remote.get().is_some())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session that reports no progress.
    pub fn new(options: SessionOptions) -> Session {
        Session { options, progress: Arc::new(()), remote: OnceLock::new() }
    }

    /// Reports blob transfers to `progress`.
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Session {
        self.progress = progress;
        self
    }

    /// The options the session was made with.
    pub fn options(&self) -> &SessionOptions {
        &self.options
    }

    fn remote(&self) -> Result<&Remote> {
        if let Some(remote) = self.remote.get() {
            return Ok(remote);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.options.worker_threads.max(1))
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the async runtime", e))?;
        let cache = crate::open_cache(&self.options.cache_dir)?;
        let registry = Registry::new(self.options.registry.clone())?;
        // Another thread may have connected meanwhile: keep the first.
        Ok(self.remote.get_or_init(|| Remote { runtime, registry, cache }))
    }

    /// The registry session (connecting on first use).
    pub fn registry(&self) -> Result<&Registry> {
        Ok(&self.remote()?.registry)
    }

    /// The blob cache (created on first use).
    pub fn cache(&self) -> Result<&OciLayout> {
        Ok(&self.remote()?.cache)
    }

    /// Runs `future` on the session's runtime, for registry calls this type does not
    /// wrap ([`Registry::verify_login`], [`crate::push`] of a source of your own…).
    pub fn block_on<F: std::future::Future>(&self, future: F) -> Result<F::Output> {
        Ok(self.remote()?.runtime.block_on(future))
    }

    /// Opens `reference` for reading.
    ///
    /// A registry image is pulled into the cache first, as far as `scope` says (layers
    /// can follow with [`Session::ensure_layers`]), following an index for `platforms`
    /// (all when empty); the source then reads from the cache. A local reference is
    /// opened in place; `platforms` and `scope` do not apply to it (choose the image
    /// with [`ImageSource::image`]).
    pub fn open(&self, reference: &Reference, platforms: &[Platform], scope: PullScope) -> Result<ImageSource> {
        let source = match reference {
            Reference::Registry(name) => self.pull(name, platforms, scope)?.0,
            local => ImageSource::open_with(local, self.options.registry.limits)?,
        };
        Ok(source.with_index_cache(self.index_cache()))
    }

    /// Opens `reference` whole, as [`Session::open`] with [`PullScope::Everything`] and
    /// every platform, and runs `work` on it — but a registry image's layers download while
    /// `work` reads them: its manifests and configs are pulled first, then the layers the
    /// cache lacks are fetched in image order on the session's runtime, and a layer `work`
    /// opens before it is complete is read from the cache's temporary file as far as it is
    /// written (verified by its digest as it is read, as always), so decompressing the first
    /// layer overlaps its own download and the next ones'. Returns once `work` has returned
    /// and every download has ended: then every layer is in the cache, as after
    /// [`Session::open`] (blobs `work` wrote that name them read from there). A download
    /// that failed fails the call, with its own error rather than `work`'s (reading the
    /// layer failed because of it), and any read of its layer. When `work` fails, the
    /// downloads of layers it never opened stop (they are not cached) and the call returns
    /// once those it was reading have ended. A local reference is opened in place and given
    /// to `work`.
    ///
    /// # Errors
    /// Those of [`Session::open`], of the downloads, and `work`'s.
    pub fn open_streaming<T, E: From<Error>>(
        &self,
        reference: &Reference,
        work: impl FnOnce(&ImageSource) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let Reference::Registry(name) = reference else {
            return work(&self.open(reference, &[], PullScope::Everything)?);
        };
        let remote = self.remote()?;
        let (source, layers) = remote.runtime.block_on(crate::registry::pull_deferring_layers(
            &remote.registry,
            name,
            &remote.cache,
            &[],
            Arc::clone(&self.progress),
        ))?;
        let source = source.with_index_cache(self.index_cache());
        self.feeding(name, layers, &source, work, || self.open(reference, &[], PullScope::Everything))
    }

    /// Runs `work` on `image` (opened from `reference` by [`Session::open`] with
    /// [`PullScope::Metadata`]) with its layers local, as [`Session::ensure_layers`] then
    /// `work` would, but the layers the cache lacks download while `work` reads them (see
    /// [`Session::open_streaming`]; `work` gets the same image, reading through the
    /// downloads). For a local reference, `work` runs on `image` as it is.
    ///
    /// # Errors
    /// Those of the downloads (first: see [`Session::open_streaming`]), and `work`'s.
    pub fn stream_layers<T, E: From<Error>>(
        &self,
        reference: &Reference,
        image: &Image,
        work: impl FnOnce(&Image) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let Reference::Registry(name) = reference else { return work(image) };
        let remote = self.remote()?;
        let layers: Vec<Descriptor> = image
            .layers()
            .into_iter()
            .map(|l| l.descriptor)
            .filter(|d| !d.media_type.is_non_distributable() && !remote.cache.has_blob(&d.digest))
            .collect();
        if layers.is_empty() {
            return work(image);
        }
        let on_image = |source: &ImageSource| work(&source.image_at(image.descriptor())?);
        self.feeding(name, layers, image.source(), on_image, || {
            self.ensure_layers(reference, image)?;
            Ok(image.source().clone())
        })
    }

    /// Fetches `layers` of `name` on the runtime while `work` runs on `source` reading
    /// them through the downloads; with no thread to fetch on, `fallback` gives a source
    /// whose layers are local and `work` runs on it.
    fn feeding<T, E: From<Error>>(
        &self,
        name: &ImageName,
        layers: Vec<Descriptor>,
        source: &ImageSource,
        work: impl FnOnce(&ImageSource) -> std::result::Result<T, E>,
        fallback: impl FnOnce() -> Result<ImageSource>,
    ) -> std::result::Result<T, E> {
        let remote = self.remote()?;
        let feeds: std::collections::HashMap<Digest, Arc<crate::registry::Feed>> =
            layers.iter().map(|d| (d.digest.clone(), Arc::default())).collect();
        let streaming = Arc::new(crate::registry::FeedBlobs { feeds: feeds.clone(), name: name.to_string() });
        let source = ImageSource::from_parts(
            source.reference().clone(),
            Arc::new(crate::image::FallbackBlobs::new(remote.cache.clone(), streaming)),
            source.top().clone(),
            *source.limits(),
        )
        .with_index_cache(source.index_cache().cloned());
        let progress = Arc::clone(&self.progress);
        std::thread::scope(|scope| {
            let fetching = std::thread::Builder::new().name("fetch-layers".into()).spawn_scoped(scope, || {
                remote.runtime.block_on(crate::registry::fetch_feeding(
                    &remote.registry,
                    name,
                    &remote.cache,
                    layers,
                    &feeds,
                    &progress,
                ))
            });
            let fetching = match fetching {
                Ok(handle) => handle,
                Err(e) => {
                    // No thread: end the feeds (nothing reads them) and fetch first.
                    drop(crate::registry::FinishAll(&feeds, format!("no thread to fetch the layers: {e}")));
                    return work(&fallback()?);
                }
            };
            let worked = work(&source);
            if worked.is_err() {
                // Layers nothing has opened will not be read: stop fetching them.
                for feed in feeds.values() {
                    feed.stop_if_unread();
                }
            }
            let fetched = fetching.join().unwrap_or_else(|_| {
                Err(Error::Invalid { what: format!("pulling {name}"), reason: "the fetching thread panicked".into() })
            });
            // A failed download is the cause of whatever reading its layer ran into (a
            // tampered blob reads as a corrupt archive before its digest is complete).
            fetched?;
            worked
        })
    }

    /// The layer index cache the sources it opens use, if [`SessionOptions::index_cache`].
    pub fn index_cache(&self) -> Option<crate::IndexCache> {
        self.options.index_cache.then(|| crate::IndexCache::new(self.options.cache_dir.join(crate::INDEX_CACHE_DIR)))
    }

    /// Pulls `name` into the cache as [`crate::pull`] does (for `platforms`, all when
    /// empty, as far as `scope` says) and returns the source reading it from there with
    /// what the transfer cost.
    pub fn pull(
        &self,
        name: &ImageName,
        platforms: &[Platform],
        scope: PullScope,
    ) -> Result<(ImageSource, TransferStats)> {
        let remote = self.remote()?;
        remote.runtime.block_on(crate::pull(
            &remote.registry,
            name,
            &remote.cache,
            platforms,
            scope,
            Arc::clone(&self.progress),
        ))
    }

    /// Makes sure the layers of `image`, opened from `reference` by [`Session::open`],
    /// are local: for a registry image, fetches those the cache lacks; for a local
    /// reference, nothing to do.
    pub fn ensure_layers(&self, reference: &Reference, image: &Image) -> Result<TransferStats> {
        let Reference::Registry(name) = reference else { return Ok(TransferStats::default()) };
        let remote = self.remote()?;
        remote.runtime.block_on(crate::fetch_image_layers(
            &remote.registry,
            name,
            image,
            &remote.cache,
            Arc::clone(&self.progress),
        ))
    }

    /// Writes `source` (all of it, or the platforms `options` names) to `destination`:
    /// pushed to a registry (blobs the registry has are skipped, blobs in another of its
    /// repositories mounted), or copied to a layout or archive as [`crate::copy`] does.
    pub fn write(&self, source: &ImageSource, destination: &Reference, options: &CopyOptions) -> Result<CopyReport> {
        match destination {
            Reference::Registry(name) => {
                let remote = self.remote()?;
                let (digest, media_type, stats) = remote.runtime.block_on(crate::push(
                    &remote.registry,
                    source,
                    name,
                    &options.platforms,
                    &remote.cache,
                    Arc::clone(&self.progress),
                ))?;
                Ok(CopyReport::pushed(digest, media_type, &stats))
            }
            local => crate::copy(source, local, options),
        }
    }

    /// Copies `source` to `destination`, any transports: [`crate::copy_image`] when a
    /// registry is involved (a registry source is pulled through the cache, only as far
    /// as the destination needs), else [`crate::copy`].
    pub fn copy(&self, source: &Reference, destination: &Reference, options: &CopyOptions) -> Result<CopyReport> {
        if !matches!(source, Reference::Registry(_)) && !matches!(destination, Reference::Registry(_)) {
            let opened = ImageSource::open_with(source, self.options.registry.limits)?;
            return crate::copy(&opened, destination, options);
        }
        let remote = self.remote()?;
        remote.runtime.block_on(crate::copy_image(
            source,
            destination,
            options,
            &remote.registry,
            &remote.cache,
            Arc::clone(&self.progress),
        ))
    }

    /// Attaches each of `artifacts` to `subject` (a manifest or index at `destination`, a
    /// registry image or an `oci:` layout) as an OCI 1.1 referrer: a registry gets them
    /// through its referrers API or the tag-schema fallback ([`crate::push_referrer`]), a
    /// layout in its `index.json` ([`OciLayout::attach`]).
    pub fn attach(
        &self,
        destination: &Reference,
        subject: &Descriptor,
        artifacts: &[Artifact],
    ) -> Result<Vec<Attached>> {
        let mut out = Vec::with_capacity(artifacts.len());
        for artifact in artifacts {
            let made = artifact.manifest_for(subject)?;
            out.push(match destination {
                Reference::Registry(name) => {
                    let remote = self.remote()?;
                    remote.runtime.block_on(crate::push_referrer(
                        &remote.registry,
                        name,
                        &made.manifest,
                        &made.blobs,
                        &self.progress,
                    ))?
                }
                Reference::Layout { dir, .. } => OciLayout::create(dir)?.attach(&made.manifest, &made.blobs)?,
                other => return Err(no_referrers(other)),
            });
        }
        Ok(out)
    }

    /// The digest of the manifest or index `reference` names (its top), without reading
    /// more than that document.
    pub fn resolve(&self, reference: &Reference) -> Result<Descriptor> {
        match reference {
            Reference::Registry(name) => {
                let remote = self.remote()?;
                let raw = remote.runtime.block_on(remote.registry.get_manifest(name, &name.reference()))?;
                Ok(raw.descriptor())
            }
            local => Ok(ImageSource::open_with(local, self.options.registry.limits)?.top().clone()),
        }
    }

    /// The referrers of what `reference` names (of `artifact_type` only, when given).
    pub fn referrers(&self, reference: &Reference, artifact_type: Option<&str>) -> Result<Referrers> {
        let subject = self.resolve(reference)?.digest;
        let (via, descriptors) = match reference {
            Reference::Registry(name) => {
                let remote = self.remote()?;
                remote.runtime.block_on(crate::list_referrers(&remote.registry, name, &subject, artifact_type))?
            }
            Reference::Layout { dir, .. } => {
                (ReferrersVia::Layout, OciLayout::open(dir)?.referrers(&subject, artifact_type)?)
            }
            other => return Err(no_referrers(other)),
        };
        Ok(Referrers { subject, via, descriptors })
    }

    /// Copies the referrers of `subjects` (digests that `source` and `destination` both
    /// hold, such as the top of an image just copied and the manifests of its index) from
    /// `source` to `destination`, bytes and digests unchanged ([`crate::copy_referrers`]).
    pub fn copy_referrers(
        &self,
        source: &Reference,
        destination: &Reference,
        subjects: &[Digest],
    ) -> Result<Vec<Attached>> {
        let remote = if matches!(source, Reference::Registry(_)) || matches!(destination, Reference::Registry(_)) {
            Some(self.remote()?)
        } else {
            None
        };
        let future = crate::copy_referrers(
            remote.map(|r| (&r.registry, &r.cache)),
            source,
            destination,
            subjects,
            &self.progress,
        );
        match remote {
            Some(r) => r.runtime.block_on(future),
            // Local ends only: the future never waits on I/O of its own.
            None => futures_util::FutureExt::now_or_never(future).unwrap_or_else(|| {
                Err(Error::Invalid { what: "copying referrers".into(), reason: "local copy did not complete".into() })
            }),
        }
    }
}

impl Session {
    /// Copies the cosign signature, attestation and SBOM tags (`sha256-<hex>.sig`, `.att`,
    /// `.sbom`) of `subjects` from `source` to `destination`, untouched
    /// ([`crate::copy_signature_tags`]); both must be registries (elsewhere there are no
    /// such tags: nothing is copied). Returns the tags copied.
    pub fn copy_signature_tags(
        &self,
        source: &Reference,
        destination: &Reference,
        subjects: &[Digest],
    ) -> Result<Vec<String>> {
        let (Reference::Registry(src), Reference::Registry(dst)) = (source, destination) else {
            return Ok(Vec::new());
        };
        let remote = self.remote()?;
        remote.runtime.block_on(crate::copy_signature_tags(
            &remote.registry,
            &remote.cache,
            src,
            dst,
            subjects,
            &self.progress,
        ))
    }
}

fn no_referrers(at: &Reference) -> Error {
    Error::Invalid {
        what: format!("referrers at {at}"),
        reason: "only registries and oci: layouts hold referrers (not docker-archive files)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::write_image;

    #[test]
    fn local_references_need_no_runtime_and_no_cache() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path().join("src")).unwrap();
        let desc = write_image(&layout, "v1", &[&[("etc/motd", b"hi\n")]]).unwrap();
        let cache_dir = dir.path().join("cache");
        let small = crate::Limits { max_json_bytes: 1 << 20, ..crate::Limits::default() };
        let options = SessionOptions {
            registry: RegistryOptions { limits: small, ..RegistryOptions::default() },
            cache_dir: cache_dir.clone(),
            worker_threads: 1,
            index_cache: true,
        };
        let session = Session::new(options);
        let src: Reference = format!("oci:{}:v1", dir.path().join("src").display()).parse().unwrap();
        let source = session.open(&src, &[], PullScope::Metadata).unwrap();
        assert_eq!(source.limits().max_json_bytes, 1 << 20, "the session's limits apply");
        let image = source.image(None).unwrap();
        assert_eq!(session.ensure_layers(&src, &image).unwrap(), TransferStats::default());
        let archive = dir.path().join("out.tar");
        let dst: Reference = format!("docker-archive:{}", archive.display()).parse().unwrap();
        let report = session.write(&source, &dst, &CopyOptions::default()).unwrap();
        assert_eq!(report.digest, desc.digest);
        let back = ImageSource::open(&dst).unwrap().image(None).unwrap();
        assert_eq!(back.digest(), &desc.digest);
        let again: Reference = format!("oci:{}:again", dir.path().join("again").display()).parse().unwrap();
        assert_eq!(session.copy(&src, &again, &CopyOptions::default()).unwrap().digest, desc.digest);
        assert!(!cache_dir.exists(), "no cache was created for local work");
        assert!(session.remote.get().is_none(), "no runtime was started");
    }

    #[test]
    fn layouts_hold_referrers_in_their_index_and_copies_keep_them() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path().join("src")).unwrap();
        let image = write_image(&layout, "v1", &[&[("etc/motd", b"hi\n")]]).unwrap();
        let session = Session::new(SessionOptions { cache_dir: dir.path().join("cache"), ..SessionOptions::default() });
        let src: Reference = format!("oci:{}:v1", dir.path().join("src").display()).parse().unwrap();
        let sbom = Artifact::new("application/vnd.example.sbom+json", b"{\"sbom\":1}".to_vec());
        let note = Artifact::new("application/vnd.example.note+json", b"{\"note\":1}".to_vec());
        let attached = session.attach(&src, &image, &[sbom.clone(), note]).unwrap();
        assert!(attached.iter().all(|a| a.via == ReferrersVia::Layout));
        // Attaching again adds nothing; the image is still what the untagged reference means.
        session.attach(&src, &image, &[sbom]).unwrap();
        let untagged: Reference = format!("oci:{}", dir.path().join("src").display()).parse().unwrap();
        assert_eq!(session.resolve(&untagged).unwrap().digest, image.digest);
        let all = session.referrers(&src, None).unwrap();
        assert_eq!((all.subject.clone(), all.descriptors.len()), (image.digest.clone(), 2));
        let only = session.referrers(&src, Some("application/vnd.example.sbom+json")).unwrap();
        assert_eq!(only.descriptors.len(), 1);
        assert_eq!(only.descriptors[0].digest, attached[0].descriptor.digest);
        // A copy carries them, same digests; the copy's blobs verify.
        let dst: Reference = format!("oci:{}:v1", dir.path().join("dst").display()).parse().unwrap();
        session.copy(&src, &dst, &CopyOptions::default()).unwrap();
        assert!(session.referrers(&dst, None).unwrap().descriptors.is_empty());
        let copied = session.copy_referrers(&src, &dst, std::slice::from_ref(&image.digest)).unwrap();
        let mut want: Vec<_> = attached.iter().map(|a| a.descriptor.digest.clone()).collect();
        let mut got: Vec<_> = copied.iter().map(|a| a.descriptor.digest.clone()).collect();
        want.sort();
        got.sort();
        assert_eq!(want, got);
        assert_eq!(session.referrers(&dst, None).unwrap().descriptors.len(), 2);
        assert!(crate::verify_layout(&OciLayout::open(dir.path().join("dst")).unwrap()).unwrap().problems.is_empty());
        assert!(session.remote.get().is_none(), "no runtime was started");
        let archive: Reference = format!("docker-archive:{}", dir.path().join("a.tar").display()).parse().unwrap();
        assert!(session.referrers(&archive, None).is_err());
    }
}
