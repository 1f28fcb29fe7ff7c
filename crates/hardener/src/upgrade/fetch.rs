//! Getting repository files: `http(s)://` (streamed), `file:` URIs and plain paths
//! (air-gapped mirrors), and the blob cache every index and `.deb` passes through, named by
//! the SHA256 the signed metadata promises (a second run asks for nothing it has).

use std::io::{self, Read, Write};
use std::path::PathBuf;

use oci_core::{Descriptor, Digest, MediaType, OciLayout};

use super::ahead::Ahead;
use super::plan::UpgradePlan;
use super::repo::RepoOptions;
use crate::{ApkChecksum, ApkError, ApkKeys, AptError, Error, Result, VerifiedApk};

/// The most a signed metadata file (`InRelease`, `Release`, `Release.gpg`) may weigh.
const MAX_METADATA: u64 = 64 << 20;

/// How many times an HTTP request is tried when it fails before any byte arrives.
#[cfg(feature = "download")]
const RETRIES: u32 = 3;

/// The media type the cache records for repository files (only the digest matters there).
const MEDIA_TYPE: &str = "application/vnd.debian.binary-package";

/// Reads URLs of the supported schemes; the HTTP client and its runtime are made on first
/// use.
#[derive(Default)]
pub(crate) struct Transport {
    #[cfg(feature = "download")]
    http: Option<(tokio::runtime::Runtime, reqwest::Client)>,
    /// How many network requests were made (for messages and tests).
    pub(crate) requests: usize,
}

/// A local path for `file:` URIs and plain paths; `None` for other schemes.
fn local_path(url: &str) -> Option<PathBuf> {
    if let Some(rest) = url.strip_prefix("file://") {
        return Some(PathBuf::from(rest));
    }
    if let Some(rest) = url.strip_prefix("file:") {
        return Some(PathBuf::from(rest));
    }
    url.starts_with('/').then(|| PathBuf::from(url))
}

impl Transport {
    /// Copies the file at `url` into `out`; `Ok(false)` when it does not exist (HTTP 404 or
    /// 410, no such file). At most `limit` bytes are accepted.
    pub(crate) fn copy_to(&mut self, url: &str, out: &mut dyn Write, limit: u64) -> Result<bool> {
        if let Some(path) = local_path(url) {
            let file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(Error::io(format!("opening {url}"), e)),
            };
            let copied =
                io::copy(&mut file.take(limit + 1), out).map_err(|e| Error::io(format!("reading {url}"), e))?;
            if copied > limit {
                return Err(too_large(url, limit));
            }
            return Ok(true);
        }
        if url.starts_with("http://") || url.starts_with("https://") {
            self.requests += 1;
            return self.http_copy(url, out, limit);
        }
        Err(Error::Download {
            url: url.to_owned(),
            reason: "unsupported URI scheme (http, https and file only)".into(),
        })
    }

    /// The whole (small) file at `url`, `None` when it does not exist.
    pub(crate) fn get_small(&mut self, url: &str) -> Result<Option<Vec<u8>>> {
        let mut buf = Vec::new();
        Ok(self.copy_to(url, &mut buf, MAX_METADATA)?.then_some(buf))
    }

    #[cfg(feature = "download")]
    fn http_copy(&mut self, url: &str, out: &mut dyn Write, limit: u64) -> Result<bool> {
        let failed = |e: &dyn std::error::Error| Error::download(url, e);
        if self.http.is_none() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::io("starting the download runtime", e))?;
            let client = reqwest::Client::builder()
                .connect_timeout(std::time::Duration::from_secs(30))
                .build()
                .map_err(|e| failed(&e))?;
            self.http = Some((runtime, client));
        }
        let (runtime, client) = self.http.as_ref().expect("made above");
        runtime.block_on(async {
            // Transient failures (no connection, a server error) are tried again. A transfer
            // cut off while the body streams is resumed where it stopped: a `Range` request
            // for the rest, or, from a server that answers with the whole file again, its
            // bytes after those already written. What arrives is checked by the caller (size
            // and hash) either way.
            let mut written = 0u64;
            let mut resumes = 0;
            'request: loop {
                let mut attempt = 0;
                let mut response = loop {
                    attempt += 1;
                    let mut request = client.get(url);
                    if written > 0 {
                        request = request.header(reqwest::header::RANGE, format!("bytes={written}-"));
                    }
                    let transient = match request.send().await {
                        Ok(r)
                            if r.status().is_server_error() || r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS =>
                        {
                            Error::Download { url: url.to_owned(), reason: format!("HTTP {}", r.status()) }
                        }
                        Ok(r) => break r,
                        Err(e) if e.is_connect() || e.is_timeout() => failed(&e),
                        Err(e) => return Err(failed(&e)),
                    };
                    if attempt >= RETRIES {
                        return Err(transient);
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(250 << attempt)).await;
                };
                let status = response.status();
                if written == 0 && (status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE) {
                    return Ok(false);
                }
                let mut skip = match status {
                    reqwest::StatusCode::PARTIAL_CONTENT if written > 0 => {
                        let range = response
                            .headers()
                            .get(reqwest::header::CONTENT_RANGE)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("");
                        if !range.starts_with(&format!("bytes {written}-")) {
                            return Err(Error::Download {
                                url: url.to_owned(),
                                reason: format!("resuming at byte {written}, the server sent the range {range:?}"),
                            });
                        }
                        0
                    }
                    s if s.is_success() && s != reqwest::StatusCode::PARTIAL_CONTENT => written,
                    s => return Err(Error::Download { url: url.to_owned(), reason: format!("HTTP {s}") }),
                };
                loop {
                    match response.chunk().await {
                        Ok(Some(chunk)) => {
                            let drop = skip.min(chunk.len() as u64);
                            skip -= drop;
                            let chunk = &chunk[drop as usize..];
                            written += chunk.len() as u64;
                            if written > limit {
                                return Err(too_large(url, limit));
                            }
                            out.write_all(chunk).map_err(|e| Error::io(format!("storing the download of {url}"), e))?;
                        }
                        Ok(None) if skip > 0 => {
                            return Err(Error::Download {
                                url: url.to_owned(),
                                reason: format!("resuming at byte {written}, the server sent a shorter file"),
                            });
                        }
                        Ok(None) => return Ok(true),
                        Err(_) if resumes < RETRIES => {
                            resumes += 1;
                            tokio::time::sleep(std::time::Duration::from_millis(250 << resumes)).await;
                            continue 'request;
                        }
                        Err(e) => return Err(failed(&e)),
                    }
                }
            }
        })
    }

    #[cfg(not(feature = "download"))]
    fn http_copy(&mut self, url: &str, _out: &mut dyn Write, _limit: u64) -> Result<bool> {
        Err(Error::Download { url: url.to_owned(), reason: "built without the download feature".into() })
    }
}

fn too_large(url: &str, limit: u64) -> Error {
    Error::Apt(AptError::Mismatch {
        file: url.to_owned(),
        what: "size",
        expected: limit.to_string(),
        actual: format!("more than {limit}"),
    })
}

/// The blob cache's file for `sha256`, fetched from `urls` (the first that exists) when it is
/// not there yet. The bytes are streamed through the layout's blob writer and become
/// visible only when their size and SHA256 match; nothing else is ever left in the cache.
pub(crate) fn cached(
    layout: &OciLayout,
    transport: &mut Transport,
    urls: &[String],
    sha256: &str,
    size: u64,
) -> Result<PathBuf> {
    let what = urls.first().cloned().unwrap_or_default();
    let digest: Digest = format!("sha256:{}", sha256.to_ascii_lowercase())
        .parse()
        .map_err(|_| Error::Apt(AptError::parse(&what, None, format!("{sha256:?} is not a SHA256"))))?;
    if layout.has_blob(&digest) {
        return Ok(layout.blob_path(&digest));
    }
    for url in urls {
        let mut writer = layout.blob_writer()?;
        if !transport.copy_to(url, &mut writer, size)? {
            continue;
        }
        let written = writer.written();
        if written != size {
            return Err(Error::Apt(AptError::Mismatch {
                file: url.clone(),
                what: "size",
                expected: size.to_string(),
                actual: written.to_string(),
            }));
        }
        let descriptor = Descriptor::new(MediaType::Other(MEDIA_TYPE.into()), digest.clone(), size);
        return match writer.finish_expected(&descriptor) {
            Ok(()) => Ok(layout.blob_path(&digest)),
            Err(oci_core::Error::DigestMismatch { found, .. }) => Err(Error::Apt(AptError::Mismatch {
                file: url.clone(),
                what: "SHA256",
                expected: sha256.to_owned(),
                actual: found.hex().to_owned(),
            })),
            Err(e) => Err(e.into()),
        };
    }
    Err(Error::Download { url: what, reason: "not found".into() })
}

/// Fetches every planned `.deb` into the blob cache (`options.cache`), verified by the
/// `Packages` index's SHA256 and size, and records where each is in
/// [`super::PackageLocation::local`]. Files already in the cache are not fetched again.
///
/// # Errors
/// [`Error::Apt`] with a size or SHA256 mismatch (a tampered or truncated download: nothing
/// is kept), [`Error::Download`] when a file cannot be fetched, [`Error::Image`] when the cache
/// cannot be written.
///
/// An apk plan ([`crate::PackageFormat::Apk`]) is fetched by [`fetch_apk_packages`] with the
/// keys of [`RepoOptions::keyrings`] only (the patch job passes the image's keys too).
pub fn fetch_packages(plan: &mut UpgradePlan, options: &RepoOptions) -> Result<()> {
    if plan.format == crate::PackageFormat::Apk {
        let mut keys = ApkKeys::new();
        for file in &options.keyrings {
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let bytes = std::fs::read(file).map_err(|e| Error::io(format!("reading apk key {}", file.display()), e))?;
            keys.add_pem(&name, &bytes)?;
        }
        return fetch_apk_packages(plan, options, &keys);
    }
    let layout = oci_core::open_cache(&options.cache)?;
    // Several downloads at once (each on its own connection); the first error in plan order
    // is the one reported.
    let files: Vec<(String, String, u64)> = plan
        .packages
        .iter()
        .map(|p| (format!("{}/{}", p.file.repository, p.file.filename), p.file.sha256.clone(), p.file.size))
        .collect();
    let mut fetched = Ahead::start(files.len(), PARALLEL_DOWNLOADS, move |i| {
        let (url, sha256, size) = &files[i];
        cached(&layout, &mut Transport::default(), std::slice::from_ref(url), sha256, *size)
    });
    for package in &mut plan.packages {
        package.file.local = Some(fetched.next().expect("one result a package")?);
    }
    Ok(())
}

/// How many package downloads run at once.
const PARALLEL_DOWNLOADS: usize = 4;

/// Fetches every planned `.apk` of an apk plan into the blob cache (`options.cache`) and
/// records its SHA256 ([`super::PackageLocation::sha256`]) and place
/// ([`super::PackageLocation::local`]).
///
/// Each download goes to a temporary file, is checked by [`VerifiedApk::open`] (its
/// signature against `keys`, its control stream against the index's `C:`, its data stream
/// against `datahash`) and by the index's size, and only then enters the cache under its
/// SHA256. A small mapping `apk/<hex of the C: checksum>` in the cache directory names that
/// SHA256, so a second run finds the package without downloading it (verified again before
/// use; a mapping that no longer verifies is ignored and the package fetched again).
///
/// # Errors
/// [`Error::Apk`] for a package that does not verify or has the wrong size (nothing is
/// kept), [`Error::Download`] when it cannot be fetched, [`Error::Image`] when the cache
/// cannot be written.
pub fn fetch_apk_packages(plan: &mut UpgradePlan, options: &RepoOptions, keys: &ApkKeys) -> Result<()> {
    let layout = oci_core::open_cache(&options.cache)?;
    let mut transport = Transport::default();
    let maps = layout.root().join("apk");
    for package in &mut plan.packages {
        let file = &mut package.file;
        let url = format!("{}/{}", file.repository, file.filename);
        let identity: ApkChecksum = file
            .control_checksum
            .as_deref()
            .ok_or_else(|| ApkError::parse(&url, None, "the plan gives no control checksum (C:)"))?
            .parse()
            .map_err(|e: String| ApkError::parse(&url, None, format!("control checksum: {e}")))?;
        let map = maps.join(hex::encode(identity.bytes()));
        if let Some((sha256, path)) = cached_apk(&layout, &map, keys, &identity, file.size) {
            file.sha256 = sha256;
            file.local = Some(path);
            continue;
        }
        let mut tmp = tempfile::NamedTempFile::new_in(layout.root())
            .map_err(|e| Error::io(format!("creating a temporary file in {}", layout.root().display()), e))?;
        let mut hashing = HashingWriter { inner: tmp.as_file_mut(), hasher: sha2::Sha256::default(), written: 0 };
        if !transport.copy_to(&url, &mut hashing, file.size)? {
            return Err(Error::Download { url, reason: "not found".into() });
        }
        let (written, sha256) = (hashing.written, hex::encode(sha2::Digest::finalize(hashing.hasher)));
        if written != file.size {
            return Err(ApkError::Mismatch {
                file: url,
                what: "size (the index's S:)".into(),
                expected: file.size.to_string(),
                actual: written.to_string(),
            }
            .into());
        }
        tmp.as_file().sync_all().map_err(|e| Error::io(format!("storing the download of {url}"), e))?;
        VerifiedApk::open(tmp.path(), keys, &identity).map_err(|e| rename_file(e, &url))?;
        let digest: Digest = format!("sha256:{sha256}").parse()?;
        let descriptor = Descriptor::new(MediaType::Other(APK_MEDIA_TYPE.into()), digest.clone(), written);
        let mut reader = std::fs::File::open(tmp.path()).map_err(|e| Error::io(format!("reading {url}"), e))?;
        layout.write_blob_from(&descriptor, &mut reader)?;
        std::fs::create_dir_all(&maps).map_err(|e| Error::io(format!("creating {}", maps.display()), e))?;
        oci_core::write_atomic(&map, format!("{sha256}\n").as_bytes(), oci_core::FileMode::Public)?;
        file.sha256 = sha256;
        file.local = Some(layout.blob_path(&digest));
    }
    Ok(())
}

/// Fills [`super::PackageLocation::sha256`] and [`super::PackageLocation::local`] of each
/// planned `.apk` that an earlier [`fetch_apk_packages`] left in the cache and that still
/// verifies; fetches nothing, leaves the others as they are.
pub(crate) fn locate_cached_apks(plan: &mut UpgradePlan, options: &RepoOptions, keys: &ApkKeys) {
    let Ok(layout) = oci_core::open_cache(&options.cache) else { return };
    let maps = layout.root().join("apk");
    for package in &mut plan.packages {
        let file = &mut package.file;
        let Some(identity) = file.control_checksum.as_deref().and_then(|c| c.parse::<ApkChecksum>().ok()) else {
            continue;
        };
        if let Some((sha256, path)) =
            cached_apk(&layout, &maps.join(hex::encode(identity.bytes())), keys, &identity, file.size)
        {
            file.sha256 = sha256;
            file.local = Some(path);
        }
    }
}

/// The media type the cache records for `.apk` files.
const APK_MEDIA_TYPE: &str = "application/vnd.alpine.apk";

/// The cached `.apk` a mapping names, when it is there, has `size` bytes and verifies.
fn cached_apk(
    layout: &OciLayout,
    map: &std::path::Path,
    keys: &ApkKeys,
    identity: &ApkChecksum,
    size: u64,
) -> Option<(String, PathBuf)> {
    let sha256 = std::fs::read_to_string(map).ok()?.trim().to_owned();
    let digest: Digest = format!("sha256:{sha256}").parse().ok()?;
    let path = layout.blob_path(&digest);
    let meta = std::fs::metadata(&path).ok()?;
    if meta.len() != size {
        return None;
    }
    VerifiedApk::open(&path, keys, identity).ok()?;
    Some((sha256, path))
}

/// An [`ApkError`] about a temporary file, reworded to name the URL it came from.
fn rename_file(e: ApkError, url: &str) -> Error {
    match e {
        ApkError::Signature { reason, .. } => ApkError::Signature { file: url.to_owned(), reason },
        ApkError::Mismatch { what, expected, actual, .. } => {
            ApkError::Mismatch { file: url.to_owned(), what, expected, actual }
        }
        ApkError::Archive { entry, reason, .. } => ApkError::Archive { file: url.to_owned(), entry, reason },
        ApkError::Parse { line, reason, .. } => ApkError::Parse { file: url.to_owned(), line, reason },
        other => other,
    }
    .into()
}

/// Counts and hashes what passes through.
struct HashingWriter<'a> {
    inner: &'a mut std::fs::File,
    hasher: sha2::Sha256,
    written: u64,
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        sha2::Digest::update(&mut self.hasher, &buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keeps_only_verified_files_and_reads_them_once() {
        let dir = tempfile::tempdir().unwrap();
        let layout = oci_core::open_cache(&dir.path().join("cache")).unwrap();
        let src = dir.path().join("pool.deb");
        std::fs::write(&src, b"package bytes").unwrap();
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"package bytes"));
        let url = format!("file:{}", src.display());
        let mut t = Transport::default();
        // Wrong size and wrong hash: refused, nothing kept.
        let err = cached(&layout, &mut t, std::slice::from_ref(&url), &sha, 5).unwrap_err().to_string();
        assert!(err.contains("size mismatch") && err.contains("pool.deb"), "{err}");
        let other = "0".repeat(64);
        let err = cached(&layout, &mut t, std::slice::from_ref(&url), &other, 13).unwrap_err().to_string();
        assert!(err.contains("SHA256 mismatch") && err.contains(&sha), "{err}");
        let blobs = |l: &OciLayout| std::fs::read_dir(l.root().join("blobs/sha256")).map(|d| d.count()).unwrap_or(0);
        assert_eq!(blobs(&layout), 0);
        // Right: stored under its digest; then served from the cache even once the source is gone.
        let path = cached(&layout, &mut t, std::slice::from_ref(&url), &sha, 13).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"package bytes");
        std::fs::remove_file(&src).unwrap();
        assert_eq!(cached(&layout, &mut t, &[url], &sha, 13).unwrap(), path);
        assert_eq!(blobs(&layout), 1);
        // A missing file is reported as such.
        let gone = format!("file:{}", dir.path().join("nothing").display());
        assert!(cached(&layout, &mut t, &[gone], &other, 1).unwrap_err().to_string().contains("not found"));
    }

    /// A server on loopback answering each connection with the next canned response.
    #[cfg(feature = "download")]
    fn serve(responses: Vec<&'static str>) -> (String, std::thread::JoinHandle<Vec<String>>) {
        use std::io::{BufRead, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/x", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let mut requests = Vec::new();
            for response in responses {
                let (mut stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                let mut headers = String::new();
                while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                    headers.push_str(&line.to_ascii_lowercase());
                    line.clear();
                }
                stream.write_all(response.as_bytes()).unwrap();
                requests.push(headers);
            }
            requests
        });
        (url, handle)
    }

    #[cfg(feature = "download")]
    #[test]
    fn transient_http_failures_are_tried_again_and_404_is_missing() {
        let unavailable = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let ok = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
        let (url, server) = serve(vec![unavailable, ok]);
        let mut t = Transport::default();
        assert_eq!(t.get_small(&url).unwrap().as_deref(), Some(&b"hello"[..]));
        assert_eq!((server.join().unwrap().len(), t.requests), (2, 1));

        let (url, server) = serve(vec![unavailable; 3]);
        let err = Transport::default().get_small(&url).unwrap_err().to_string();
        assert!(err.contains("503") && err.contains(&url), "{err}");
        assert_eq!(server.join().unwrap().len(), 3);

        let (url, server) = serve(vec!["HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"]);
        assert_eq!(Transport::default().get_small(&url).unwrap(), None);
        assert_eq!(server.join().unwrap().len(), 1);
    }

    #[cfg(feature = "download")]
    #[test]
    fn a_cut_transfer_is_resumed_where_it_stopped() {
        // Cut after 5 of 10 bytes; the rest asked for with Range and sent as 206.
        let cut = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhello";
        let rest = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 5-9/10\r\nContent-Length: 5\r\n\
                    Connection: close\r\n\r\nworld";
        let (url, server) = serve(vec![cut, rest]);
        assert_eq!(Transport::default().get_small(&url).unwrap().as_deref(), Some(&b"helloworld"[..]));
        let requests = server.join().unwrap();
        assert!(!requests[0].contains("range:"), "{requests:?}");
        assert!(requests[1].contains("range: bytes=5-\r\n"), "{requests:?}");

        // A server that ignores Range sends the whole file again: its first 5 bytes are skipped.
        let whole = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhelloworld";
        let (url, server) = serve(vec![cut, whole]);
        assert_eq!(Transport::default().get_small(&url).unwrap().as_deref(), Some(&b"helloworld"[..]));
        assert_eq!(server.join().unwrap().len(), 2);

        // A range that does not start where the transfer stopped is refused.
        let wrong = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/10\r\nContent-Length: 10\r\n\
                     Connection: close\r\n\r\nhelloworld";
        let (url, server) = serve(vec![cut, wrong]);
        let err = Transport::default().get_small(&url).unwrap_err().to_string();
        assert!(err.contains("resuming at byte 5") && err.contains("bytes 0-9/10"), "{err}");
        server.join().unwrap();

        // Cut every time: given up after the retries, naming the URL.
        let (url, server) = serve(vec![cut; 4]);
        let err = Transport::default().get_small(&url).unwrap_err().to_string();
        assert!(err.contains(&url), "{err}");
        assert_eq!(server.join().unwrap().len(), 4);
    }
}
