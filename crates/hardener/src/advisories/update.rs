//! Updating the advisory database from URLs, files and directories in one call
//! ([`update_db`]).

use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{AdvisoryDb, DEFAULT_SOURCES, DbInfo, IngestReport};
use crate::{Error, Result};

/// Where advisories come from: a URL (downloaded) or a local file or directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DbSource {
    /// An `http://` or `https://` URL, downloaded to a temporary file in the database
    /// directory (streamed; needs the `download` feature).
    Url(String),
    /// A file (JSON or zip) or a directory of them.
    Path(PathBuf),
}

impl DbSource {
    /// `http://…` and `https://…` are URLs; anything else is a path.
    pub fn parse(s: &str) -> DbSource {
        if s.starts_with("http://") || s.starts_with("https://") {
            DbSource::Url(s.to_owned())
        } else {
            DbSource::Path(PathBuf::from(s))
        }
    }

    /// The public sources ([`DEFAULT_SOURCES`]).
    pub fn defaults() -> Vec<DbSource> {
        DEFAULT_SOURCES.iter().map(|(_, url)| DbSource::Url((*url).to_owned())).collect()
    }
}

impl std::str::FromStr for DbSource {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(DbSource::parse(s))
    }
}

impl fmt::Display for DbSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbSource::Url(url) => f.write_str(url),
            DbSource::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

/// What [`update_db`] is doing, for progress displays.
#[derive(Debug)]
#[non_exhaustive]
pub enum DbUpdateEvent<'a> {
    /// About to download or read this source.
    Reading(&'a DbSource),
    /// This source was ingested (its records replace those of its previous ingest).
    Ingested(&'a DbSource, &'a IngestReport),
    /// Every source was ingested; the database is being written.
    Saving(&'a Path),
}

/// The result of [`update_db`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DbUpdate {
    /// One per source, in the order given.
    pub sources: Vec<IngestReport>,
    /// The database as saved.
    pub info: DbInfo,
}

/// Updates the database in `dir` (created when missing) from `sources`, in order: each
/// source's records replace those of its previous ingest (a source is known by its URL or
/// path as given), other sources' records stay. The database is saved once, atomically,
/// after every source was read: on any error nothing is written.
///
/// # Errors
/// [`Error::Database`] when `dir` holds a database that cannot be read,
/// [`Error::Download`] when a URL cannot be fetched, [`Error::Advisory`] when a source
/// cannot be parsed, [`Error::Io`] for local files.
pub fn update_db(dir: &Path, sources: &[DbSource], on_event: &dyn Fn(DbUpdateEvent<'_>)) -> Result<DbUpdate> {
    let mut database = match AdvisoryDb::open(dir) {
        Ok(db) => db,
        Err(Error::MissingDatabase { .. }) => AdvisoryDb::new(),
        Err(e) => return Err(e),
    };
    let created = !dir.exists();
    let result = ingest_all(&mut database, dir, sources, on_event);
    let reports = match result {
        Ok(reports) => reports,
        Err(e) => {
            if created {
                // A directory made for a download only: leave nothing behind (it is empty).
                let _ = fs::remove_dir(dir);
            }
            return Err(e);
        }
    };
    on_event(DbUpdateEvent::Saving(dir));
    database.save(dir)?;
    Ok(DbUpdate { sources: reports, info: database.info() })
}

fn ingest_all(
    database: &mut AdvisoryDb,
    dir: &Path,
    sources: &[DbSource],
    on_event: &dyn Fn(DbUpdateEvent<'_>),
) -> Result<Vec<IngestReport>> {
    let mut reports = Vec::with_capacity(sources.len());
    for source in sources {
        on_event(DbUpdateEvent::Reading(source));
        let report = match source {
            DbSource::Path(path) => database.ingest_path(path)?,
            DbSource::Url(url) => {
                fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
                let temp = TempFile::new(dir);
                download(url, temp.file()?)?;
                let reader =
                    File::open(&temp.0).map_err(|e| Error::io(format!("reopening {}", temp.0.display()), e))?;
                database.ingest_reader(url, reader)?
            }
        };
        on_event(DbUpdateEvent::Ingested(source, &report));
        reports.push(report);
    }
    Ok(reports)
}

/// A download's temporary file in the database directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(dir: &Path) -> TempFile {
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
        TempFile(dir.join(format!(".download-{}-{nanos}", std::process::id())))
    }

    fn file(&self) -> Result<File> {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&self.0)
            .map_err(|e| Error::io(format!("creating {}", self.0.display()), e))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// How long connecting may take before a download fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Downloads `url` into `file`, chunk by chunk (the body is never held whole).
#[cfg(feature = "download")]
fn download(url: &str, mut file: File) -> Result<()> {
    use std::io::Write as _;
    let failed = |e: &dyn std::error::Error| Error::download(url, e);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the download runtime", e))?;
    runtime.block_on(async {
        let client = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT).build().map_err(|e| failed(&e))?;
        let mut response = client.get(url).send().await.map_err(|e| failed(&e))?;
        if !response.status().is_success() {
            return Err(Error::Download { url: url.to_owned(), reason: format!("HTTP {}", response.status()) });
        }
        while let Some(chunk) = response.chunk().await.map_err(|e| failed(&e))? {
            file.write_all(&chunk).map_err(|e| Error::io(format!("writing the download of {url}"), e))?;
        }
        file.sync_all().map_err(|e| Error::io(format!("writing the download of {url}"), e))
    })
}

/// Without the `download` feature, URLs are refused.
#[cfg(not(feature = "download"))]
fn download(url: &str, _file: File) -> Result<()> {
    let _ = CONNECT_TIMEOUT;
    Err(Error::Download {
        url: url.to_owned(),
        reason: "this build of hardener cannot download (feature `download`)".into(),
    })
}

#[cfg(test)]
mod tests {
    #[cfg(feature = "download")]
    use std::io::{BufRead, BufReader, Read, Write};
    #[cfg(feature = "download")]
    use std::net::TcpListener;
    use std::sync::Mutex;

    use super::*;
    use crate::{Ecosystem, Severity};

    const SECDB: &str = r#"{"distroversion":"v3.20","reponame":"main","urlprefix":"https://dl-cdn.alpinelinux.org/alpine","apkurl":"{{urlprefix}}/{{distroversion}}/{{reponame}}/{{arch}}/{{pkg.name}}-{{pkg.ver}}.apk","archs":["x86_64"],"packages":[{"pkg":{"name":"openssl","secfixes":{"3.3.2-r0":["CVE-2024-6119"]}}}]}"#;
    const OSV: &str = r#"{"id":"DSA-5000-1","aliases":["CVE-2024-0001"],"affected":[{"package":{"ecosystem":"Debian:12","name":"zlib"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:1.2.13.dfsg-2"}]}]}]}"#;

    fn ids(dir: &Path, ecosystem: Ecosystem, package: &str) -> Vec<String> {
        let db = AdvisoryDb::open(dir).unwrap();
        db.advisories_for(&ecosystem, package).iter().map(|a| a.id.clone()).collect()
    }

    #[test]
    fn from_a_directory_then_reingest_replaces_only_that_source() {
        let src = tempfile::tempdir().unwrap();
        fs::write(src.path().join("secdb.json"), SECDB).unwrap();
        fs::write(src.path().join("osv.json"), OSV).unwrap();
        let db = tempfile::tempdir().unwrap();
        let dir = db.path().join("advisories");
        let events = Mutex::new(Vec::new());
        let record = |e: DbUpdateEvent<'_>| {
            events.lock().unwrap().push(match e {
                DbUpdateEvent::Reading(s) => format!("reading {s}"),
                DbUpdateEvent::Ingested(s, r) => format!("{s}: {}", r.records),
                DbUpdateEvent::Saving(_) => "saving".to_owned(),
            })
        };
        let source = DbSource::parse(&src.path().display().to_string());
        assert_eq!(source, DbSource::Path(src.path().to_owned()));
        let update = update_db(&dir, std::slice::from_ref(&source), &record).unwrap();
        assert_eq!(update.sources.len(), 1);
        assert_eq!(update.sources[0].records, 2);
        assert_eq!(update.info.records, 2);
        assert_eq!(*events.lock().unwrap(), [format!("reading {source}"), format!("{source}: 2"), "saving".to_owned()]);
        assert_eq!(ids(&dir, Ecosystem::alpine("v3.20"), "openssl"), ["CVE-2024-6119"]);
        assert_eq!(ids(&dir, Ecosystem::debian("12"), "zlib"), ["CVE-2024-0001"]);
        assert_eq!(
            AdvisoryDb::open(&dir).unwrap().advisories_for(&Ecosystem::debian("12"), "zlib")[0].severity,
            Severity::Unknown
        );

        // The same source again, now without the OSV file: its records are replaced, not added.
        fs::remove_file(src.path().join("osv.json")).unwrap();
        let update = update_db(&dir, &[source], &|_| {}).unwrap();
        assert_eq!(update.info.records, 1);
        assert_eq!(update.info.sources.len(), 1);
        assert!(ids(&dir, Ecosystem::debian("12"), "zlib").is_empty());
        // No temporary file left behind.
        let mut names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, ["advisories.jsonl", "metadata.json"]);
    }

    #[test]
    fn a_broken_source_writes_nothing() {
        let src = tempfile::tempdir().unwrap();
        fs::write(src.path().join("bad.json"), "{not json").unwrap();
        let db = tempfile::tempdir().unwrap();
        let err = update_db(db.path(), &[DbSource::Path(src.path().join("bad.json"))], &|_| {}).unwrap_err();
        assert!(matches!(err, Error::Advisory { .. }), "{err:?}");
        assert_eq!(fs::read_dir(db.path()).unwrap().count(), 0);
        assert!(matches!(AdvisoryDb::read_info(db.path()), Err(Error::MissingDatabase { .. })));
    }

    #[cfg(not(feature = "download"))]
    #[test]
    fn without_the_download_feature_urls_are_refused_and_nothing_is_written() {
        let db = tempfile::tempdir().unwrap();
        let dir = db.path().join("advisories");
        let err = update_db(&dir, &[DbSource::parse("https://example.invalid/x.json")], &|_| {}).unwrap_err();
        assert!(matches!(&err, Error::Download { url, .. } if url == "https://example.invalid/x.json"), "{err:?}");
        assert!(!dir.exists(), "the directory made for the download is removed");
    }

    #[cfg(feature = "download")]
    /// Serves `body` for `/ok` and 404 for anything else, to `requests` requests.
    fn serve(body: &'static str, requests: usize) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let mut paths = Vec::new();
            for stream in listener.incoming().take(requests) {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    if header.trim().is_empty() {
                        break;
                    }
                }
                let path = request_line.split(' ').nth(1).unwrap_or_default().to_owned();
                let response = if path == "/ok" {
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                } else {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
                };
                stream.write_all(response.as_bytes()).unwrap();
                let _ = stream.read(&mut [0; 1]);
                paths.push(path);
            }
            paths
        });
        (base, handle)
    }

    #[cfg(feature = "download")]
    #[test]
    fn from_a_local_http_server() {
        let (base, server) = serve(SECDB, 3);
        let db = tempfile::tempdir().unwrap();
        let url = format!("{base}/ok");
        let update = update_db(db.path(), &[DbSource::parse(&url)], &|_| {}).unwrap();
        assert_eq!(update.sources[0].source, url);
        assert_eq!(update.sources[0].formats, ["alpine-secdb"]);
        assert_eq!(update.info.sources[0].name, url);
        assert_eq!(ids(db.path(), Ecosystem::alpine("v3.20"), "openssl"), ["CVE-2024-6119"]);

        let missing = format!("{base}/missing");
        let err = update_db(db.path(), &[DbSource::parse(&missing)], &|_| {}).unwrap_err();
        match &err {
            Error::Download { url, reason } => {
                assert_eq!(url, &missing);
                assert_eq!(reason, "HTTP 404 Not Found");
            }
            other => panic!("{other:?}"),
        }
        let fresh = db.path().join("fresh");
        assert!(matches!(update_db(&fresh, &[DbSource::parse(&missing)], &|_| {}), Err(Error::Download { .. })));
        assert!(!fresh.exists(), "nothing left behind for a failed first update");
        assert_eq!(server.join().unwrap(), ["/ok", "/missing", "/missing"]);
        // The failed update left the saved database as it was, and no download behind.
        assert_eq!(AdvisoryDb::read_info(db.path()).unwrap().records, 1);
        let mut names: Vec<_> =
            fs::read_dir(db.path()).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n != "fresh").collect();
        names.sort();
        assert_eq!(names, ["advisories.jsonl", "metadata.json"]);
    }
}
