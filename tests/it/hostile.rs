//! A misbehaving registry on loopback: an in-process HTTP/1.1 server whose every answer a
//! test scripts (wrong token realms, redirects to other hosts, loops and odd schemes,
//! endless or stalled bodies, `Retry-After` dates, blobs longer than their descriptor),
//! driven through the library's [`oci_core::Registry`] and, for the timeout, the CLI.
//!
//! Each test asserts what the server saw (which requests carried credentials, how many
//! bytes it could push before the client hung up) as well as the error the client gave.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oci_core::{
    CredentialStore, Descriptor, Digest, Error, ImageName, Limits, MediaType, OciLayout, Registry, RegistryOptions,
    RetryPolicy,
};

use super::harness::{Home, basic_credentials, oci_ref, tempdir};

// ---------------------------------------------------------------------------------------
// The server

/// One request as the server read it.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    /// Path and query.
    target: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// How the server answers one request.
enum Reply {
    /// A complete response with `Content-Length`.
    Full(u16, Vec<(String, String)>, Vec<u8>),
    /// A chunked 200 response of `chunk` repeated until the client hangs up.
    Endless(Vec<(String, String)>, Vec<u8>),
    /// The head, `prefix` of the body, then silence (the connection stays open).
    Stall(Vec<(String, String)>, Vec<u8>),
}

fn full(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Reply {
    Reply::Full(status, headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(), body.into())
}

fn owned(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// A scripted HTTP/1.1 server on `ip`:free port; one request per connection.
struct Fake {
    host: String,
    requests: Arc<Mutex<Vec<Request>>>,
    /// Body bytes written (for endless and stalled bodies: how far the client let us get).
    written: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Fake {
    fn start(ip: &str, handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Fake {
        let listener = TcpListener::bind((ip, 0)).expect("binding a loopback port");
        let host = listener.local_addr().expect("local address").to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let written = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let (r, w, s) = (Arc::clone(&requests), Arc::clone(&written), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (r, w, s, handler) = (Arc::clone(&r), Arc::clone(&w), Arc::clone(&s), Arc::clone(&handler));
                std::thread::spawn(move || serve(stream, &*handler, &r, &w, &s));
            }
        });
        Fake { host, requests, written, stop }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("not poisoned").clone()
    }

    fn written(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }

    fn image(&self, repository_and_tag: &str) -> ImageName {
        format!("{}/{repository_and_tag}", self.host).parse().expect("an image name")
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.host); // wakes the accept loop
    }
}

fn serve(stream: TcpStream, handler: &Handler, log: &Mutex<Vec<Request>>, written: &AtomicU64, stop: &AtomicBool) {
    let mut reader = BufReader::new(stream.try_clone().expect("cloning the stream"));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or_default().to_owned(), parts.next().unwrap_or_default().to_owned());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((n, v)) = h.trim_end().split_once(':') {
            headers.push((n.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let request = Request { method, target, headers };
    if let Some(len) = request.header("content-length").and_then(|v| v.parse::<u64>().ok()) {
        let _ = std::io::copy(&mut (&mut reader).take(len), &mut std::io::sink());
    }
    log.lock().expect("not poisoned").push(request.clone());
    let mut out = stream;
    let head = |status: u16, headers: &[(String, String)], extra: &str| {
        let mut h = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n{extra}");
        for (n, v) in headers {
            h.push_str(&format!("{n}: {v}\r\n"));
        }
        h + "\r\n"
    };
    match handler(&request) {
        Reply::Full(status, headers, body) => {
            let _ = out.write_all(head(status, &headers, &format!("Content-Length: {}\r\n", body.len())).as_bytes());
            if request.method != "HEAD" && out.write_all(&body).is_ok() {
                written.fetch_add(body.len() as u64, Ordering::SeqCst);
            }
        }
        Reply::Endless(headers, chunk) => {
            let _ = out.write_all(head(200, &headers, "Transfer-Encoding: chunked\r\n").as_bytes());
            let framed = [format!("{:x}\r\n", chunk.len()).into_bytes(), chunk.clone(), b"\r\n".to_vec()].concat();
            while !stop.load(Ordering::SeqCst) && out.write_all(&framed).is_ok() {
                written.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            }
        }
        Reply::Stall(headers, prefix) => {
            let _ = out.write_all(head(200, &headers, "").as_bytes());
            let _ = out.write_all(&prefix);
            written.fetch_add(prefix.len() as u64, Ordering::SeqCst);
            let _ = out.flush();
            let until = Instant::now() + Duration::from_secs(30);
            while !stop.load(Ordering::SeqCst) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    let _ = out.flush();
}

// ---------------------------------------------------------------------------------------
// The client side

const USER: &str = "hostile-user";
const PASSWORD: &str = "hostile-secret-password";

/// A session with short timeouts, one attempt per request (unless `attempts`), and the
/// test user's credentials for `host` when `with_credentials`.
fn registry(
    host: &str,
    with_credentials: bool,
    tweak: impl FnOnce(&mut RegistryOptions),
) -> (Registry, tempfile::TempDir) {
    let dir = tempdir();
    let config = dir.path().join("config.json");
    let auths = if with_credentials {
        serde_json::json!({ host: { "auth": basic_credentials(USER, PASSWORD) } })
    } else {
        serde_json::json!({})
    };
    std::fs::write(&config, serde_json::json!({ "auths": auths }).to_string()).expect("writing the docker config");
    let mut options = RegistryOptions {
        credentials: CredentialStore::with_files(vec![config]),
        retry: RetryPolicy { attempts: 1, base_delay: Duration::from_millis(1), max_delay: Duration::from_millis(1) },
        connect_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(10),
        ..RegistryOptions::default()
    };
    tweak(&mut options);
    (Registry::new(options).expect("a registry session"), dir)
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime").block_on(f)
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A small valid image manifest (its config digest need not exist: only the manifest is read).
fn manifest_json(layers: usize) -> Vec<u8> {
    let layer = |i: usize| {
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": format!("sha256:{:064x}", i + 1),
            "size": 1000 + i,
        })
    };
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{:064x}", 0),
            "size": 2,
        },
        "layers": (0..layers).map(layer).collect::<Vec<_>>(),
    }))
    .expect("JSON")
}

/// `/v2/` open, `Basic` auth wanted when `basic`.
fn v2(request: &Request, basic: bool) -> Option<Reply> {
    if request.path() != "/v2/" {
        return None;
    }
    Some(if basic && request.header("authorization").is_none() {
        full(401, &[("WWW-Authenticate", "Basic realm=\"fake\"")], "")
    } else {
        full(200, &[], "{}")
    })
}

fn blob_descriptor(bytes: &[u8]) -> Descriptor {
    Descriptor::new(
        MediaType::from("application/vnd.oci.image.layer.v1.tar"),
        Digest::sha256(bytes),
        bytes.len() as u64,
    )
}

// ---------------------------------------------------------------------------------------
// Credentials and token realms

/// A registry whose bearer challenge names a plain-HTTP token service on a host that is
/// neither loopback nor marked insecure gets no request with credentials: the pull fails
/// naming the realm and why, before anything is sent there. The same challenge without
/// credentials, and a loopback realm with them, are accepted (the controls).
#[test]
fn credentials_never_go_to_a_plain_http_token_realm() {
    let token = Arc::new(Mutex::new(None::<String>));
    let realm_server = {
        let token = Arc::clone(&token);
        Fake::start("127.0.0.1", move |r| {
            *token.lock().expect("not poisoned") = r.header("authorization").map(str::to_owned);
            full(200, &[], r#"{"token":"t0k3n"}"#)
        })
    };
    let realm = Arc::new(Mutex::new("http://tokens.example.com/token".to_owned()));
    let body = manifest_json(1);
    let registry_server = {
        let (realm, body) = (Arc::clone(&realm), body.clone());
        Fake::start("127.0.0.1", move |r| {
            let challenge = format!("Bearer realm=\"{}\",service=\"fake\"", realm.lock().expect("not poisoned"));
            match r.header("authorization") {
                Some("Bearer t0k3n") => full(200, &[("Content-Type", OCI_MANIFEST)], body.clone()),
                _ => full(401, &[("WWW-Authenticate", challenge.as_str())], ""),
            }
        })
    };
    let name = registry_server.image("app:1");
    let (session, _dir) = registry(&registry_server.host, true, |_| {});
    let err = block_on(session.get_manifest(&name, "1")).expect_err("a plain-HTTP realm was accepted").to_string();
    for needle in ["http://tokens.example.com/token", "plain HTTP", &registry_server.host] {
        assert!(err.contains(needle), "{needle:?} missing from: {err}");
    }
    assert!(!err.contains(PASSWORD));
    assert!(
        registry_server.requests().iter().all(|r| r.header("authorization").is_none()),
        "the registry got credentials before the realm was vetted"
    );
    // A login check (which sends the password to the realm) refuses it too.
    let err = block_on(session.verify_login(&registry_server.host, USER, PASSWORD)).expect_err("login").to_string();
    assert!(err.contains("plain HTTP") && err.contains("tokens.example.com"), "{err}");

    // Without credentials nothing secret is at stake: the anonymous flow proceeds (and
    // fails only because the realm does not exist).
    let (anonymous, _dir2) = registry(&registry_server.host, false, |_| {});
    let err = block_on(anonymous.get_manifest(&name, "1")).expect_err("tokens.example.com answered").to_string();
    assert!(!err.contains("plain HTTP"), "{err}");

    // A loopback realm is fine, and gets the credentials.
    *realm.lock().expect("not poisoned") = format!("http://{}/token", realm_server.host);
    let (session, _dir3) = registry(&registry_server.host, true, |_| {});
    let raw = block_on(session.get_manifest(&name, "1")).expect("pulling through a loopback token service");
    assert_eq!(raw.bytes(), body.as_slice());
    assert_eq!(
        token.lock().expect("not poisoned").as_deref(),
        Some(basic_credentials(USER, PASSWORD).as_str()).map(|b| format!("Basic {b}")).as_deref()
    );
}

/// Token realms that are not HTTP(S) URLs are refused, naming the realm and the registry;
/// the registry gets no credentials.
#[test]
fn token_realm_with_a_non_http_scheme_is_refused() {
    for realm in ["file:///etc/passwd", "ftp://127.0.0.1/token", "not a url"] {
        let challenge = format!("Bearer realm=\"{realm}\"");
        let server = Fake::start("127.0.0.1", move |_| full(401, &[("WWW-Authenticate", challenge.as_str())], ""));
        let (session, _dir) = registry(&server.host, true, |_| {});
        let err = block_on(session.get_manifest(&server.image("app:1"), "1")).expect_err(realm).to_string();
        assert!(err.contains(realm) && err.contains("refusing the token service"), "{realm}: {err}");
        assert!(err.contains(&server.host), "{err}");
        assert!(server.requests().iter().all(|r| r.header("authorization").is_none()));
    }
}

/// A registry that answers token requests with an endless body is cut off at the limit:
/// a clear "exceeds the limit" naming the token service, after at most a few chunks past it.
#[test]
fn endless_token_response_is_refused_at_the_limit() {
    let tokens = Fake::start("127.0.0.1", |_| Reply::Endless(vec![], vec![b' '; 16 << 10]));
    let realm = format!("http://{}/token", tokens.host);
    let server = Fake::start("127.0.0.1", move |_| {
        full(401, &[("WWW-Authenticate", format!("Bearer realm=\"{realm}\"").as_str())], "")
    });
    let limit = 256 << 10;
    let (session, _dir) =
        registry(&server.host, false, |o| o.limits = Limits { max_json_bytes: limit, ..Limits::default() });
    let err = block_on(session.get_manifest(&server.image("app:1"), "1")).expect_err("endless token").to_string();
    assert!(
        err.contains("token service") && err.contains(&tokens.host) && err.contains(&format!("limit of {limit}")),
        "{err}"
    );
    assert_cut_off(&tokens);
}

// ---------------------------------------------------------------------------------------
// Redirects

/// A blob redirected to another host (a CDN, as registries do) is fetched from there
/// without the registry's credentials; the registry itself got them.
#[test]
fn credentials_are_not_forwarded_on_a_redirect_to_another_host() {
    let blob = b"the blob bytes, served by another host".to_vec();
    let desc = blob_descriptor(&blob);
    let cdn = {
        let blob = blob.clone();
        Fake::start("127.0.0.2", move |_| full(200, &[], blob.clone()))
    };
    let location = format!("http://{}/cdn/blob", cdn.host);
    let server = Fake::start("127.0.0.1", move |r| {
        v2(r, true).unwrap_or_else(|| {
            if r.header("authorization").is_none() {
                full(401, &[("WWW-Authenticate", "Basic realm=\"fake\"")], "")
            } else {
                full(307, &[("Location", location.as_str())], "")
            }
        })
    });
    let (session, _dir) = registry(&server.host, true, |_| {});
    let cache_dir = tempdir();
    let cache = OciLayout::create(cache_dir.path()).expect("a layout");
    block_on(session.fetch_blob(&server.image("app:1"), &desc, &cache, &())).expect("fetching through the redirect");
    assert!(cache.has_blob(&desc.digest));
    let basic = format!("Basic {}", basic_credentials(USER, PASSWORD));
    let blob_gets: Vec<Request> = server.requests().into_iter().filter(|r| r.path().contains("/blobs/")).collect();
    assert!(blob_gets.iter().any(|r| r.header("authorization") == Some(basic.as_str())), "{blob_gets:?}");
    let at_cdn = cdn.requests();
    assert_eq!(at_cdn.len(), 1, "{at_cdn:?}");
    assert_eq!(at_cdn[0].header("authorization"), None, "credentials were forwarded to {}", cdn.host);
}

/// A redirect loop ends after a bounded number of hops with an error naming it; a
/// redirect to a non-HTTP scheme is refused. Nothing lands in the cache.
#[test]
fn redirect_loops_and_non_http_redirects_are_refused() {
    let blob = b"never served".to_vec();
    let desc = blob_descriptor(&blob);
    for (target, needle) in [("loop", "redirects"), ("ftp://127.0.0.1/blob", "non-HTTP")] {
        let target = target.to_owned();
        let server = Fake::start("127.0.0.1", move |r| {
            v2(r, false).unwrap_or_else(|| {
                let to = if target == "loop" { r.target.clone() } else { target.clone() };
                full(302, &[("Location", to.as_str())], "")
            })
        });
        let (session, _dir) = registry(&server.host, false, |_| {});
        let cache_dir = tempdir();
        let cache = OciLayout::create(cache_dir.path()).expect("a layout");
        let err = block_on(session.fetch_blob(&server.image("app:1"), &desc, &cache, &()))
            .expect_err("the redirect was followed")
            .to_string();
        assert!(err.contains(needle) && err.contains(&server.host), "{needle}: {err}");
        let hops = server.requests().iter().filter(|r| r.path().contains("/blobs/")).count();
        assert!((1..=11).contains(&hops), "{hops} requests for one blob");
        assert!(!cache.has_blob(&desc.digest));
    }
}

// ---------------------------------------------------------------------------------------
// Sizes

/// A manifest larger than the limit is refused before it is read whole: with a
/// `Content-Length` over the limit at once (the body is never sent in full: the server
/// stalls after a few bytes, so a client reading it would hang), and without one as soon
/// as the count passes the limit (the body is endless). The error names the limit and the
/// URL. A manifest with 5,000 layers under the limit is read.
#[test]
fn oversized_manifests_are_refused_before_they_are_read_whole() {
    let limit: u64 = 1 << 20;
    let announced = Fake::start("127.0.0.1", |r| {
        v2(r, false).unwrap_or_else(|| {
            Reply::Stall(owned(&[("Content-Length", "1073741824"), ("Content-Type", OCI_MANIFEST)]), b"{".to_vec())
        })
    });
    let endless = Fake::start("127.0.0.1", |r| {
        v2(r, false).unwrap_or_else(|| Reply::Endless(owned(&[("Content-Type", OCI_MANIFEST)]), vec![b' '; 16 << 10]))
    });
    for server in [&announced, &endless] {
        let (session, _dir) = registry(&server.host, false, |o| {
            o.limits = Limits { max_json_bytes: limit, ..Limits::default() };
        });
        let started = Instant::now();
        let err = block_on(session.get_manifest(&server.image("big:t"), "t")).expect_err("too large").to_string();
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
        let url = format!("http://{}/v2/big/manifests/t", server.host);
        assert!(err.contains(&url) && err.contains(&format!("exceeds the limit of {limit} bytes")), "{err}");
    }
    assert_cut_off(&endless);

    let body = manifest_json(5000);
    assert!((body.len() as u64) < limit);
    let many = {
        let body = body.clone();
        Fake::start("127.0.0.1", move |r| {
            v2(r, false).unwrap_or_else(|| full(200, &[("Content-Type", OCI_MANIFEST)], body.clone()))
        })
    };
    let (session, _dir) =
        registry(&many.host, false, |o| o.limits = Limits { max_json_bytes: limit, ..Limits::default() });
    let raw = block_on(session.get_manifest(&many.image("many:t"), "t")).expect("a 5,000-layer manifest");
    assert_eq!(raw.bytes(), body.as_slice());
    let oci_core::Manifest::Image(m) = raw.parse().expect("parses") else { panic!("not an image manifest") };
    assert_eq!(m.layers.len(), 5000);
}

/// An index with 20,000 entries naming 4 manifests of 256 KiB each is pulled fetching each
/// manifest once, and every manifest lands in the cache. Children wait as descriptors and
/// are fetched one at a time: holding a manifest per entry would take 5 GB, and the test
/// process's peak memory (`VmHWM`, every test of the binary included) stays under 2 GiB.
#[test]
fn an_index_with_many_entries_holds_one_child_at_a_time() {
    let pad = |i: usize| {
        let mut m: serde_json::Value = serde_json::from_slice(&manifest_json(i + 1)).expect("JSON");
        m["annotations"] = serde_json::json!({ "padding": "p".repeat(256 << 10) });
        serde_json::to_vec(&m).expect("JSON")
    };
    let children: Vec<Vec<u8>> = (0..4).map(pad).collect();
    let digests: Vec<String> = children.iter().map(|c| Digest::sha256(c).to_string()).collect();
    let entries: Vec<serde_json::Value> = (0..20_000)
        .map(|i| {
            let k = i % children.len();
            serde_json::json!({
                "mediaType": OCI_MANIFEST,
                "digest": digests[k],
                "size": children[k].len(),
                "platform": {"os": "linux", "architecture": format!("arch{i}")},
            })
        })
        .collect();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    }))
    .expect("JSON");
    let server = {
        let (index, children, digests) = (index.clone(), children.clone(), digests.clone());
        Fake::start("127.0.0.1", move |r| {
            if let Some(reply) = v2(r, false) {
                return reply;
            }
            let reference = r.path().rsplit('/').next().unwrap_or_default();
            match digests.iter().position(|d| d == reference) {
                Some(k) => full(200, &[("Content-Type", OCI_MANIFEST)], children[k].clone()),
                None => full(200, &[("Content-Type", "application/vnd.oci.image.index.v1+json")], index.clone()),
            }
        })
    };
    let (session, _dir) = registry(&server.host, false, |_| {});
    let cache_dir = tempdir();
    let cache = OciLayout::create(cache_dir.path()).expect("a layout");
    let name = server.image("many:t");
    block_on(oci_core::pull(&session, &name, &cache, &[], oci_core::PullScope::Manifests, Arc::new(())))
        .expect("pulling the index");
    let gets = server.requests().iter().filter(|r| r.path().contains("/manifests/")).count();
    assert_eq!(gets, 1 + children.len(), "one GET for the index and one per distinct manifest");
    assert!(cache.has_blob(&Digest::sha256(&index)));
    for d in &digests {
        assert!(cache.has_blob(&d.parse().expect("a digest")), "{d} is not cached");
    }
    let status = std::fs::read_to_string("/proc/self/status").expect("reading /proc/self/status");
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    assert!(peak_kib < 2 << 20, "peak memory {peak_kib} KiB");
}

/// A blob longer than its descriptor says stops at the size: without `Content-Length`
/// (an endless body) the download is cut once it passes the size, and with a wrong
/// `Content-Length` it is refused before the body; nothing reaches the cache.
#[test]
fn a_blob_longer_than_its_descriptor_stops_at_the_size() {
    let blob = vec![b'b'; 4096];
    let desc = blob_descriptor(&blob);
    let endless =
        Fake::start("127.0.0.1", |r| v2(r, false).unwrap_or_else(|| Reply::Endless(vec![], vec![b'b'; 4096])));
    let longer = Fake::start("127.0.0.1", |r| v2(r, false).unwrap_or_else(|| full(200, &[], vec![b'b'; 8192])));
    for (server, needle) in [(&endless, "4096"), (&longer, "announced 8192 bytes")] {
        let (session, _dir) = registry(&server.host, false, |_| {});
        let cache_dir = tempdir();
        let cache = OciLayout::create(cache_dir.path()).expect("a layout");
        let err = block_on(session.fetch_blob(&server.image("app:1"), &desc, &cache, &())).expect_err("too long");
        let shown = err.to_string();
        assert!(shown.contains(needle) && shown.contains(&server.host), "{shown}");
        assert!(!cache.has_blob(&desc.digest));
        let leftovers: Vec<_> = walk_files(cache_dir.path()).into_iter().filter(|p| p.contains("blobs")).collect();
        assert!(leftovers.is_empty(), "partial files left: {leftovers:?}");
    }
    assert_cut_off(&endless);
}

/// The client hung up on `server`'s endless body: the server's writes stopped (what it
/// managed to write fits in the sockets' buffers, a few MiB on loopback).
#[track_caller]
fn assert_cut_off(server: &Fake) {
    let mut before = server.written();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let now = server.written();
        if now == before {
            break;
        }
        before = now;
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.written(), before, "the endless body is still being read");
    assert!(before < 32 << 20, "{before} bytes of an endless body were taken");
}

fn walk_files(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Time

/// `Retry-After` as an HTTP date (the form RFC 9110 allows besides seconds) is honoured:
/// after a 503 carrying a date two seconds ahead (written by `date`), the retry waits for
/// it although the backoff policy alone would wait a millisecond.
#[test]
fn retry_after_as_an_http_date_is_honoured() {
    let body = manifest_json(1);
    let answered = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let server = {
        let (body, answered) = (body.clone(), Arc::clone(&answered));
        Fake::start("127.0.0.1", move |r| {
            if let Some(reply) = v2(r, false) {
                return reply;
            }
            let mut seen = answered.lock().expect("not poisoned");
            seen.push(Instant::now());
            if seen.len() > 1 {
                return full(200, &[("Content-Type", OCI_MANIFEST)], body.clone());
            }
            let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() + 2;
            let out = std::process::Command::new("date")
                .args(["-u", "-d", &format!("@{at}"), "+%a, %d %b %Y %H:%M:%S GMT"])
                .output()
                .expect("running date");
            let date = String::from_utf8(out.stdout).expect("UTF-8").trim().to_owned();
            full(503, &[("Retry-After", date.as_str())], "")
        })
    };
    let (session, _dir) = registry(&server.host, false, |o| o.retry.attempts = 3);
    let raw = block_on(session.get_manifest(&server.image("app:1"), "1")).expect("pulled after the wait");
    assert_eq!(raw.bytes(), body.as_slice());
    let seen = answered.lock().expect("not poisoned").clone();
    assert_eq!(seen.len(), 2);
    let waited = seen[1] - seen[0];
    assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(5), "waited {waited:?}");
}

/// A registry whose listen queue is full never completes the TCP handshake: the request
/// fails after the connect timeout, naming the registry and the timeout.
#[test]
fn an_unanswered_connection_ends_with_the_connect_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
    let addr = listener.local_addr().expect("address");
    // Fill the accept queue (nobody accepts): later handshakes get no answer.
    let mut held = Vec::new();
    while let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
        held.push(s);
        assert!(held.len() < 4096, "the listen queue never filled");
    }
    let (session, _dir) = registry(&addr.to_string(), false, |o| o.connect_timeout = Duration::from_millis(500));
    let name: ImageName = format!("{addr}/app:1").parse().expect("a name");
    let started = Instant::now();
    let err = block_on(session.get_manifest(&name, "1")).expect_err("connected").to_string();
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(err.contains(&addr.to_string()) && err.contains("connect timeout") && err.contains("0.5 s"), "{err}");
}

/// A registry that stalls (the head of a manifest sent, then nothing; or nothing at all)
/// fails after the idle timeout with an error naming the registry and the timeout, through
/// the library and through the CLI's `--idle-timeout` (exit code 2).
#[test]
fn stalled_responses_end_with_an_idle_timeout_naming_the_registry() {
    let head_only = Fake::start("127.0.0.1", |r| {
        v2(r, false).unwrap_or_else(|| Reply::Stall(owned(&[("Content-Length", "100")]), b"{\"schema".to_vec()))
    });
    let silent = Fake::start("127.0.0.1", |r| v2(r, false).unwrap_or_else(|| Reply::Stall(vec![], vec![])));
    for server in [&head_only, &silent] {
        let (session, _dir) = registry(&server.host, false, |o| o.idle_timeout = Duration::from_millis(500));
        let started = Instant::now();
        let err = block_on(session.get_manifest(&server.image("app:1"), "1")).expect_err("a stall");
        let shown = err.to_string();
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
        assert!(matches!(err, Error::Registry { .. }), "{err:?}");
        assert!(shown.contains(&server.host) && shown.contains("idle timeout"), "{shown}");
    }

    let home = Home::new();
    let out = tempdir();
    let run = home.oci_harden(&[
        "copy",
        "--idle-timeout",
        "0.5",
        "--retries",
        "1",
        &format!("{}/app:1", silent.host),
        &oci_ref(&out.path().join("out"), Some("t")),
    ]);
    let stderr = run.fails_with(&[&silent.host, "idle timeout"]);
    assert!(stderr.contains("0.5 s"), "{stderr}");
    assert!(!out.path().join("out").join("index.json").exists(), "a partial layout is visible");
}
