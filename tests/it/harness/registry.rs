//! Real registries for the registry-transport tests, and the tools around them:
//!
//! - [`Registry`]: the CNCF distribution registry (`docker-registry serve`) on a free loopback
//!   port with its storage in a temporary directory: anonymous, behind htpasswd basic auth, or
//!   behind token auth with a [`TokenIssuer`] run here (JWTs signed with an RSA key that
//!   `openssl` makes, the certificate sent in `x5c` and trusted by the registry);
//! - [`FaultProxy`]: an HTTP/1.1 proxy to put between `oci-harden` and a registry, which records
//!   every exchange ([`Traffic`]) and injects the faults of a [`FaultPlan`] (connections dropped
//!   mid-blob, 429 with `Retry-After`, 503, corrupted blobs, an oversized manifest);
//! - [`Home`]: an isolated user environment (docker config, auth file, cache, `HOME`) in which
//!   `oci-harden` runs, with a timeout, so no test reads or writes the user's files;
//! - skopeo helpers to push and inspect with a peer.
//!
//! Everything is std: the proxy and the issuer are small threaded HTTP/1.1 servers (bodies are
//! buffered whole, which is fine for test images of a few MiB).

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::{Run, bin, digest_of, require_tool, sha256_hex, tempdir, tool};

// ---------------------------------------------------------------------------------------
// HTTP/1.1 on the wire

/// A message head: the start line and the header fields, in order.
#[derive(Debug, Clone)]
struct Head {
    line: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn get(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn remove(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    fn set(&mut self, name: &str, value: impl Into<String>) {
        self.remove(name);
        self.headers.push((name.to_owned(), value.into()));
    }

    /// The status of a response head (0 if the line is not a status line).
    fn status(&self) -> u16 {
        self.line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
    }

    fn write_to(&self, w: &mut impl Write) -> io::Result<()> {
        let mut out = format!("{}\r\n", self.line);
        for (n, v) in &self.headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str("\r\n");
        w.write_all(out.as_bytes())
    }
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// Reads a message head; `None` when the peer closed the connection before sending one.
fn read_head(r: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if !line.trim_end().is_empty() {
            break;
        }
    }
    let mut headers = Vec::new();
    loop {
        let mut field = String::new();
        if r.read_line(&mut field)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let field = field.trim_end_matches(['\r', '\n']);
        if field.is_empty() {
            break;
        }
        let (name, value) = field.split_once(':').ok_or_else(|| invalid(format!("bad header line {field:?}")))?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    Ok(Some(Head { line: line.trim_end().to_owned(), headers }))
}

/// Reads the body that follows `head`: chunked, `Content-Length`, or (responses only) up to
/// the end of the connection. `no_body` is for answers to HEAD and 204/304.
fn read_body(r: &mut impl BufRead, head: &Head, is_response: bool, no_body: bool) -> io::Result<Vec<u8>> {
    if no_body {
        return Ok(Vec::new());
    }
    if head.get("transfer-encoding").is_some_and(|te| te.to_ascii_lowercase().contains("chunked")) {
        return read_chunked(r);
    }
    if let Some(len) = head.get("content-length") {
        let len: usize = len.parse().map_err(|_| invalid(format!("bad Content-Length {len:?}")))?;
        let mut body = vec![0; len];
        r.read_exact(&mut body)?;
        return Ok(body);
    }
    let mut body = Vec::new();
    if is_response {
        r.read_to_end(&mut body)?;
    }
    Ok(body)
}

fn read_chunked(r: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        r.read_line(&mut size)?;
        let size = size.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size, 16).map_err(|_| invalid(format!("bad chunk size {size:?}")))?;
        if size == 0 {
            // Trailer fields, up to the empty line.
            loop {
                let mut trailer = String::new();
                if r.read_line(&mut trailer)? == 0 || trailer.trim_end().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        let mut crlf = [0; 2];
        r.read_exact(&mut crlf)?;
    }
}

/// Sends one request on a fresh connection (`Connection: close`) and reads the whole
/// answer, skipping interim 1xx answers.
fn round_trip(host: &str, mut request: Head, body: &[u8]) -> io::Result<(Head, Vec<u8>)> {
    let method = request.line.split(' ').next().unwrap_or("").to_owned();
    for hop in ["connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "te"] {
        request.remove(hop);
    }
    if !body.is_empty() || matches!(method.as_str(), "POST" | "PUT" | "PATCH") {
        request.set("Content-Length", body.len().to_string());
    }
    request.set("Connection", "close");
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    request.write_to(&mut stream)?;
    stream.write_all(body)?;
    stream.flush()?;
    let mut r = BufReader::new(stream);
    let head = loop {
        let head = read_head(&mut r)?.ok_or(io::ErrorKind::UnexpectedEof)?;
        if head.status() >= 200 {
            break head;
        }
    };
    let status = head.status();
    let body = read_body(&mut r, &head, true, method == "HEAD" || status == 204 || status == 304)?;
    Ok((head, body))
}

/// The status of `GET TARGET` on `host`.
fn get_status(host: &str, target: &str) -> io::Result<u16> {
    let request = Head { line: format!("GET {target} HTTP/1.1"), headers: vec![("Host".into(), host.into())] };
    Ok(round_trip(host, request, b"")?.0.status())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a=1&b=2` (a query string or a form body), decoded.
fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn form_value<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Base64 with padding (standard alphabet), or unpadded with the URL-safe alphabet (JWTs).
fn base64(bytes: &[u8], url_safe: bool) -> String {
    let alphabet: &[u8; 64] = if url_safe {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..=chunk.len() {
            out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        if !url_safe {
            out.push_str(&"=".repeat(3 - chunk.len()));
        }
    }
    out
}

/// `base64(user:password)`, as in `Authorization: Basic …` and docker's `auths.*.auth`.
pub fn basic_credentials(user: &str, password: &str) -> String {
    base64(format!("{user}:{password}").as_bytes(), false)
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970").as_secs()
}

/// Something unique enough to tell runs apart (not a secret worth protecting).
fn nonce() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_nanos();
    sha256_hex(format!("{nanos}-{}-{:?}", std::process::id(), thread::current().id()).as_bytes())[..24].to_owned()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A loopback listener that serves each connection on its own thread until dropped.
struct Server {
    host: String,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    fn start(what: &str, serve: impl Fn(TcpStream) + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("binding the {what}: {e}"));
        let host = listener.local_addr().expect("a bound address").to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let serve = Arc::new(serve);
        let accept = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let serve = Arc::clone(&serve);
                    thread::spawn(move || serve(stream));
                }
            })
        };
        Server { host, stop, accept: Some(accept) }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.host); // wakes the accept loop
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn respond(stream: &mut TcpStream, status: u16, reason: &str, headers: &[(&str, &str)], body: &[u8]) -> io::Result<()> {
    let mut head = Head { line: format!("HTTP/1.1 {status} {reason}"), headers: Vec::new() };
    for (n, v) in headers {
        head.set(n, *v);
    }
    head.set("Content-Length", body.len().to_string());
    head.write_to(stream)?;
    stream.write_all(body)?;
    stream.flush()
}

// ---------------------------------------------------------------------------------------
// The registry

/// How a [`Registry`] authenticates clients.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Anyone may pull and push.
    Anonymous,
    /// HTTP Basic against an htpasswd file (bcrypt, `htpasswd -B`) with one user.
    Htpasswd {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// Bearer tokens from a [`TokenIssuer`] that knows one user (and an identity token).
    Token {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
}

impl Auth {
    /// [`Auth::Htpasswd`].
    pub fn htpasswd(user: &str, password: &str) -> Auth {
        Auth::Htpasswd { user: user.into(), password: password.into() }
    }

    /// [`Auth::Token`].
    pub fn token(user: &str, password: &str) -> Auth {
        Auth::Token { user: user.into(), password: password.into() }
    }
}

/// A running `docker-registry serve` on `127.0.0.1:PORT`, killed on drop.
pub struct Registry {
    child: Child,
    port: u16,
    auth: Auth,
    issuer: Option<TokenIssuer>,
    dir: tempfile::TempDir,
}

/// The token service's name (the registry's `auth.token.service`, the tokens' `aud`).
pub const TOKEN_SERVICE: &str = "oci-harden-test";
/// The tokens' issuer (`iss`).
pub const TOKEN_ISSUER: &str = "oci-harden-test-issuer";

impl Registry {
    /// Starts a registry and waits (up to 10 s) until `GET /v2/` answers.
    pub fn start(auth: Auth) -> Registry {
        let program = require_tool("docker-registry");
        let mut dir = tempdir();
        let storage = dir.path().join("storage");
        fs::create_dir_all(&storage).expect("creating the registry storage");
        let (auth_yaml, issuer) = match &auth {
            Auth::Anonymous => (String::new(), None),
            Auth::Htpasswd { user, password } => {
                let line = tool("htpasswd", &["-Bbn", user, password]).ok();
                let path = dir.path().join("htpasswd");
                fs::write(&path, line.text().trim()).expect("writing htpasswd");
                (format!("auth:\n  htpasswd:\n    realm: basic-realm\n    path: \"{}\"\n", path.display()), None)
            }
            Auth::Token { user, password } => {
                let issuer = TokenIssuer::start(user, password, &dir.path().join("token"));
                let yaml = format!(
                    "auth:\n  token:\n    realm: \"{}\"\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    \
                     rootcertbundle: \"{}\"\n",
                    issuer.realm(),
                    issuer.certificate().display()
                );
                (yaml, Some(issuer))
            }
        };
        let log = dir.path().join("registry.log");
        for _attempt in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
            let config = dir.path().join("config.yml");
            fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    \
                     rootdirectory: \"{}\"\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  \
                     secret: oci-harden-test-secret\n{auth_yaml}",
                    storage.display()
                ),
            )
            .expect("writing the registry config");
            let out = fs::File::create(&log).expect("creating the registry log");
            let child = Command::new(&program)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("dup"))
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
            let mut registry = Registry { child, port, auth: auth.clone(), issuer: None, dir };
            match registry.wait_ready() {
                Ok(()) => {
                    registry.issuer = issuer;
                    return registry;
                }
                Err(why) => {
                    let text = registry.log();
                    if !text.contains("address already in use") {
                        panic!("the registry did not start ({why}):\n{text}");
                    }
                    // Another process took the port between our probe and the registry's bind.
                    dir = std::mem::replace(&mut registry.dir, tempdir());
                }
            }
        }
        panic!("the registry found no free port in 5 attempts")
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("it exited with {status}"));
            }
            if let Ok(200 | 401) = get_status(&self.host(), "/v2/") {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("GET /v2/ did not answer within 10 s".into());
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `HOST/REPO[:TAG]`: a reference to an image of this registry.
    pub fn image(&self, repository_and_tag: &str) -> String {
        format!("{}/{repository_and_tag}", self.host())
    }

    /// The user and password the registry accepts, if it wants any.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        match &self.auth {
            Auth::Anonymous => None,
            Auth::Htpasswd { user, password } | Auth::Token { user, password } => Some((user, password)),
        }
    }

    /// The token issuer of a token-auth registry.
    pub fn issuer(&self) -> &TokenIssuer {
        self.issuer.as_ref().expect("this registry has no token auth")
    }

    /// What the registry logged (errors only).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// The token issuer

/// How many token requests a [`TokenIssuer`] answered, by kind.
#[derive(Debug, Clone, Default)]
pub struct IssuerCounts {
    /// `GET /token` with the right Basic credentials.
    pub basic: usize,
    /// `POST /token` with `grant_type=password` and the right credentials.
    pub password: usize,
    /// `POST /token` with `grant_type=refresh_token` and the identity token.
    pub refresh: usize,
    /// Requests refused (wrong or missing credentials, wrong service).
    pub refused: usize,
}

struct IssuerState {
    user: String,
    password: String,
    identity_token: String,
    key: PathBuf,
    /// The certificate, base64 DER, for the JWS `x5c` header.
    x5c: String,
    counts: Mutex<IssuerCounts>,
}

/// A docker-style token service on a loopback port: `GET /token` with HTTP Basic
/// credentials, and the OAuth2 `POST /token` with `grant_type=password` or
/// `grant_type=refresh_token` (identity tokens). Tokens are RS256 JWTs granting every
/// requested scope, with the signing certificate in `x5c`.
pub struct TokenIssuer {
    server: Server,
    state: Arc<IssuerState>,
    certificate: PathBuf,
}

impl TokenIssuer {
    /// Makes a key and a self-signed certificate in `dir` with `openssl` and starts serving.
    pub fn start(user: &str, password: &str, dir: &Path) -> TokenIssuer {
        fs::create_dir_all(dir).expect("creating the issuer's directory");
        let (key, cert, der) = (dir.join("key.pem"), dir.join("cert.pem"), dir.join("cert.der"));
        let s = |p: &Path| p.to_str().expect("UTF-8 path").to_owned();
        let (key_arg, cert_arg) = (s(&key), s(&cert));
        let subject = "/CN=oci-harden-test-token";
        let args = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", subject];
        tool("openssl", &[&args[..], &["-keyout", &key_arg, "-out", &cert_arg]].concat()).ok();
        tool("openssl", &["x509", "-in", &s(&cert), "-outform", "DER", "-out", &s(&der)]).ok();
        let x5c = base64(&fs::read(&der).expect("reading the certificate"), false);
        let state = Arc::new(IssuerState {
            user: user.into(),
            password: password.into(),
            identity_token: format!("oci-harden-test-identity-{}", nonce()),
            key,
            x5c,
            counts: Mutex::new(IssuerCounts::default()),
        });
        let served = Arc::clone(&state);
        let server = Server::start("token issuer", move |stream| {
            let _ = serve_token(&served, stream);
        });
        TokenIssuer { server, state, certificate: cert }
    }

    /// `http://127.0.0.1:PORT/token`.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.server.host)
    }

    /// The PEM certificate whose key signs the tokens.
    pub fn certificate(&self) -> &Path {
        &self.certificate
    }

    /// The identity (refresh) token the issuer accepts in `grant_type=refresh_token`.
    pub fn identity_token(&self) -> &str {
        &self.state.identity_token
    }

    /// What it answered so far.
    pub fn counts(&self) -> IssuerCounts {
        lock(&self.state.counts).clone()
    }
}

fn serve_token(state: &IssuerState, mut stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut r = BufReader::new(stream.try_clone()?);
    let Some(head) = read_head(&mut r)? else { return Ok(()) };
    if head.get("expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue")) {
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let body = read_body(&mut r, &head, false, false)?;
    let mut parts = head.line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let json_type = [("Content-Type", "application/json"), ("Connection", "close")];
    if path != "/token" {
        return respond(&mut stream, 404, "Not Found", &json_type, br#"{"error":"not_found"}"#);
    }
    let refuse = |stream: &mut TcpStream, why: &str| {
        lock(&state.counts).refused += 1;
        let body = json!({"error": "unauthorized", "error_description": why}).to_string();
        let mut headers = json_type.to_vec();
        headers.push(("WWW-Authenticate", "Basic realm=\"oci-harden-test-token\""));
        respond(stream, 401, "Unauthorized", &headers, body.as_bytes())
    };
    let (form, scopes): (Vec<(String, String)>, Vec<String>) = match method {
        "GET" => {
            let form = parse_form(query);
            let scopes = form.iter().filter(|(k, _)| k == "scope").map(|(_, v)| v.clone()).collect();
            (form, scopes)
        }
        "POST" => {
            let form = parse_form(&String::from_utf8_lossy(&body));
            let scopes = form
                .iter()
                .filter(|(k, _)| k == "scope")
                .flat_map(|(_, v)| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
                .collect();
            (form, scopes)
        }
        _ => return respond(&mut stream, 405, "Method Not Allowed", &json_type, b"{}"),
    };
    if form_value(&form, "service") != Some(TOKEN_SERVICE) {
        return refuse(&mut stream, "missing or unknown service");
    }
    let mut refresh_token = None;
    let subject = match (method, form_value(&form, "grant_type")) {
        ("GET", _) => {
            let expected = format!("Basic {}", basic_credentials(&state.user, &state.password));
            if head.get("authorization") != Some(expected.as_str()) {
                return refuse(&mut stream, "wrong or missing credentials");
            }
            lock(&state.counts).basic += 1;
            state.user.clone()
        }
        (_, Some("password")) => {
            if form_value(&form, "username") != Some(&state.user)
                || form_value(&form, "password") != Some(&state.password)
            {
                return refuse(&mut stream, "wrong credentials");
            }
            lock(&state.counts).password += 1;
            if form_value(&form, "access_type") == Some("offline") {
                refresh_token = Some(state.identity_token.clone());
            }
            state.user.clone()
        }
        (_, Some("refresh_token")) => {
            if form_value(&form, "refresh_token") != Some(&state.identity_token) {
                return refuse(&mut stream, "unknown refresh token");
            }
            lock(&state.counts).refresh += 1;
            state.user.clone()
        }
        _ => return refuse(&mut stream, "unsupported grant_type"),
    };
    let token = sign_jwt(state, &subject, &scopes)?;
    let mut answer = json!({
        "token": token, "access_token": token, "expires_in": 300, "scope": scopes.join(" "),
    });
    if let Some(refresh) = refresh_token {
        answer["refresh_token"] = json!(refresh);
    }
    respond(&mut stream, 200, "OK", &json_type, answer.to_string().as_bytes())
}

/// An RS256 JWT for `scopes` (`type:name:action,action`), every action granted.
fn sign_jwt(state: &IssuerState, subject: &str, scopes: &[String]) -> io::Result<String> {
    let access: Vec<Value> = scopes
        .iter()
        .filter_map(|scope| {
            let (kind, rest) = scope.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            let actions: Vec<&str> = actions.split(',').filter(|a| !a.is_empty()).collect();
            Some(json!({"type": kind, "name": name, "actions": actions}))
        })
        .collect();
    let now = now_secs();
    let header = json!({"alg": "RS256", "typ": "JWT", "x5c": [state.x5c]});
    let claims = json!({
        "iss": TOKEN_ISSUER, "sub": subject, "aud": TOKEN_SERVICE,
        "exp": now + 300, "nbf": now - 10, "iat": now, "jti": nonce(), "access": access,
    });
    let signing_input =
        format!("{}.{}", base64(header.to_string().as_bytes(), true), base64(claims.to_string().as_bytes(), true));
    let mut openssl = Command::new(require_tool("openssl"))
        .args(["dgst", "-sha256", "-sign"])
        .arg(&state.key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    openssl.stdin.take().expect("piped stdin").write_all(signing_input.as_bytes())?;
    let out = openssl.wait_with_output()?;
    if !out.status.success() || out.stdout.is_empty() {
        return Err(io::Error::other(format!("openssl dgst -sign: {}", String::from_utf8_lossy(&out.stderr))));
    }
    Ok(format!("{signing_input}.{}", base64(&out.stdout, true)))
}

// ---------------------------------------------------------------------------------------
// The fault-injecting proxy

/// Times without end, for [`FaultPlan`] counts.
pub const FOREVER: usize = usize::MAX;

/// Which requests a status fault answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// Every request, `/v2/` included.
    Any,
    /// `GET /v2/NAME/blobs/DIGEST`.
    BlobGets,
    /// `POST`, `PATCH` and `PUT` under `/v2/NAME/blobs/uploads/`.
    Uploads,
}

/// What a request was, from its method and path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`.
    Ping,
    /// `GET /v2/NAME/blobs/DIGEST`.
    BlobGet,
    /// `HEAD /v2/NAME/blobs/DIGEST`.
    BlobHead,
    /// Anything under `/v2/NAME/blobs/uploads/` (starting, sending, finishing, mounting).
    Upload,
    /// `GET /v2/NAME/manifests/REF`.
    ManifestGet,
    /// `HEAD /v2/NAME/manifests/REF`.
    ManifestHead,
    /// `PUT /v2/NAME/manifests/REF`.
    ManifestPut,
    /// Anything else (tags, referrers, catalog, deletes).
    Other,
}

impl Route {
    fn of(method: &str, path: &str) -> Route {
        if path == "/v2/" || path == "/v2" {
            return Route::Ping;
        }
        if path.contains("/blobs/uploads") {
            return Route::Upload;
        }
        match (method, path.contains("/blobs/"), path.contains("/manifests/")) {
            ("GET", true, _) => Route::BlobGet,
            ("HEAD", true, _) => Route::BlobHead,
            ("GET", _, true) => Route::ManifestGet,
            ("HEAD", _, true) => Route::ManifestHead,
            ("PUT", _, true) => Route::ManifestPut,
            _ => Route::Other,
        }
    }

    fn matches(self, on: On) -> bool {
        match on {
            On::Any => true,
            On::BlobGets => self == Route::BlobGet,
            On::Uploads => self == Route::Upload,
        }
    }
}

#[derive(Debug, Clone)]
struct StatusFault {
    status: u16,
    retry_after: Option<u32>,
    left: usize,
    on: On,
}

#[derive(Debug, Clone)]
struct Served {
    path: String,
    media_type: String,
    body: Arc<Vec<u8>>,
}

/// The faults a [`FaultProxy`] injects; counts go down as faults are injected.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    /// (bytes of body sent before closing, how many more times).
    drop_blob_bodies: Option<(usize, usize)>,
    status: Option<StatusFault>,
    corrupt_blobs: usize,
    served: Vec<Served>,
    referrers_api: bool,
}

impl FaultPlan {
    /// Forward everything untouched.
    pub fn none() -> FaultPlan {
        FaultPlan::default()
    }

    /// Close the connection after `after` bytes of the body of the first `times` blob GETs
    /// whose body is longer than that (the headers announce the whole length).
    pub fn drop_blob_bodies(mut self, after: usize, times: usize) -> FaultPlan {
        self.drop_blob_bodies = Some((after, times));
        self
    }

    /// Answer `status` (with a small JSON error body) to the first `times` requests that
    /// match `on`, without forwarding them.
    pub fn status(mut self, status: u16, times: usize, on: On) -> FaultPlan {
        self.status = Some(StatusFault { status, retry_after: None, left: times, on });
        self
    }

    /// Send `Retry-After: SECS` with the injected status.
    pub fn retry_after(mut self, secs: u32) -> FaultPlan {
        self.status.as_mut().expect("retry_after() follows status()").retry_after = Some(secs);
        self
    }

    /// Flip one byte in the middle of the first `times` blob GET bodies (the headers,
    /// `Docker-Content-Digest` included, are the registry's).
    pub fn corrupt_blobs(mut self, times: usize) -> FaultPlan {
        self.corrupt_blobs = times;
        self
    }

    /// Answer GET and HEAD of `path` (e.g. `/v2/big/manifests/t`) with `body` as a
    /// `media_type` manifest (with its `Docker-Content-Digest`), without asking the registry.
    pub fn serve_manifest(mut self, path: &str, media_type: &str, body: Vec<u8>) -> FaultPlan {
        self.served.push(Served { path: path.into(), media_type: media_type.into(), body: Arc::new(body) });
        self
    }
}

impl FaultPlan {
    /// Give the registry behind the proxy the OCI 1.1 referrers API (which the distribution
    /// registry 2.x lacks): a manifest PUT with a `subject` that the registry accepts is
    /// remembered and answered with `OCI-Subject`, and `GET /v2/NAME/referrers/DIGEST`
    /// (with `?artifactType=`) is answered with an index of what was remembered, one
    /// referrer per page (`Link: <…?page=K>; rel="next"`).
    pub fn referrers_api(mut self) -> FaultPlan {
        self.referrers_api = true;
        self
    }
}

/// A fault the proxy injected into an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The connection was closed after this many body bytes.
    Dropped(usize),
    /// This status was answered instead of forwarding.
    Status(u16),
    /// One byte of the body was flipped.
    Corrupted,
    /// The body came from [`FaultPlan::serve_manifest`].
    Served,
}

/// One request and its answer, as the proxy saw them.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The request method.
    pub method: String,
    /// Path and query.
    pub target: String,
    /// What the request was.
    pub route: Route,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// The status sent back (0 if the registry could not be reached).
    pub status: u16,
    /// Request body bytes.
    pub request_bytes: usize,
    /// Response body bytes answered (logged before they are written: a client may close
    /// the connection before it has read them all).
    pub response_bytes: usize,
    /// What the proxy did to it.
    pub fault: Option<Fault>,
}

impl Exchange {
    /// The `sha256:…` a blob request names (in its path, or in `?digest=` / `?mount=`).
    pub fn digest(&self) -> Option<String> {
        let (path, query) = self.target.split_once('?').unwrap_or((&self.target, ""));
        if let Some((_, d)) = path.rsplit_once("/blobs/")
            && d.starts_with("sha256:")
        {
            return Some(d.to_owned());
        }
        let form = parse_form(query);
        form_value(&form, "digest").or_else(|| form_value(&form, "mount")).map(str::to_owned)
    }
}

/// What went through a [`FaultProxy`].
#[derive(Debug, Clone)]
pub struct Traffic(pub Vec<Exchange>);

impl Traffic {
    /// Exchanges of one kind.
    pub fn of(&self, route: Route) -> Vec<&Exchange> {
        self.0.iter().filter(|e| e.route == route).collect()
    }

    /// How many blob GETs there were (whatever their answer).
    pub fn blob_gets(&self) -> usize {
        self.of(Route::BlobGet).len()
    }

    /// Blob body bytes answered to the client.
    pub fn blob_bytes_downloaded(&self) -> usize {
        self.of(Route::BlobGet).iter().map(|e| e.response_bytes).sum()
    }

    /// Request body bytes of blob uploads (POST, PATCH and PUT under `blobs/uploads/`).
    pub fn upload_bytes(&self) -> usize {
        self.of(Route::Upload).iter().map(|e| e.request_bytes).sum()
    }

    /// Cross-repository mount requests (`POST …/blobs/uploads/?mount=…&from=…`).
    pub fn mounts(&self) -> Vec<&Exchange> {
        self.of(Route::Upload).into_iter().filter(|e| e.method == "POST" && e.target.contains("mount=")).collect()
    }

    /// The exchanges the proxy injected a fault into.
    pub fn faults(&self) -> Vec<&Exchange> {
        self.0.iter().filter(|e| e.fault.is_some()).collect()
    }

    /// One line per exchange, for failure messages.
    pub fn describe(&self) -> String {
        self.0
            .iter()
            .map(|e| {
                let range = e.range.as_deref().map(|r| format!(" [{r}]")).unwrap_or_default();
                let fault = e.fault.as_ref().map(|f| format!(" <- {f:?}")).unwrap_or_default();
                format!(
                    "{} {}{range} -> {} (sent {} B, got {} B){fault}",
                    e.method, e.target, e.status, e.request_bytes, e.response_bytes
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

struct ProxyState {
    upstream: String,
    host: Mutex<String>,
    plan: Mutex<FaultPlan>,
    log: Mutex<Vec<Exchange>>,
    /// (repository, subject digest, descriptor) of manifests pushed with a subject, for
    /// [`FaultPlan::referrers_api`].
    referrers: Mutex<Vec<(String, String, Value)>>,
}

/// An HTTP/1.1 proxy on a loopback port in front of `upstream`, injecting the faults of
/// its [`FaultPlan`] and recording every exchange. Clients talk to it as to a registry
/// (`proxy.image("repo:tag")`); it keeps their `Host` header, so the registry's `Location`
/// headers name the proxy (and any that name the registry are rewritten).
pub struct FaultProxy {
    server: Server,
    state: Arc<ProxyState>,
}

impl FaultProxy {
    /// Starts the proxy in front of `upstream` ("127.0.0.1:PORT").
    pub fn start(upstream: &str, plan: FaultPlan) -> FaultProxy {
        let state = Arc::new(ProxyState {
            upstream: upstream.into(),
            host: Mutex::new(String::new()),
            plan: Mutex::new(plan),
            log: Mutex::new(Vec::new()),
            referrers: Mutex::new(Vec::new()),
        });
        let served = Arc::clone(&state);
        let server = Server::start("fault proxy", move |stream| {
            let _ = serve_proxy(&served, stream);
        });
        *lock(&state.host) = server.host.clone();
        FaultProxy { server, state }
    }

    /// `127.0.0.1:PORT` of the proxy.
    pub fn host(&self) -> String {
        self.server.host.clone()
    }

    /// `HOST/REPO[:TAG]` through the proxy.
    pub fn image(&self, repository_and_tag: &str) -> String {
        format!("{}/{repository_and_tag}", self.server.host)
    }

    /// Replaces the plan (e.g. to let a later run through).
    pub fn set_plan(&self, plan: FaultPlan) {
        *lock(&self.state.plan) = plan;
    }

    /// Everything recorded so far.
    pub fn traffic(&self) -> Traffic {
        Traffic(lock(&self.state.log).clone())
    }

    /// Everything recorded so far, forgetting it.
    pub fn take_traffic(&self) -> Traffic {
        Traffic(std::mem::take(&mut *lock(&self.state.log)))
    }
}

fn serve_proxy(state: &ProxyState, mut client: TcpStream) -> io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut r = BufReader::new(client.try_clone()?);
    loop {
        let Some(mut head) = read_head(&mut r)? else { return Ok(()) };
        if head.get("expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue")) {
            client.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            head.remove("expect");
        }
        let body = read_body(&mut r, &head, false, false)?;
        let mut parts = head.line.split(' ');
        let (method, target) = (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
        let path = target.split_once('?').map_or(target.as_str(), |(p, _)| p);
        let route = Route::of(&method, path);
        let close =
            head.get("connection").is_some_and(|c| c.eq_ignore_ascii_case("close")) || head.line.ends_with("/1.0");
        let mut answer = answer(state, &head, &body, route);
        if close {
            answer.head.set("Connection", "close");
        }
        // Logged before a byte of the answer goes out: a client that has seen any of it
        // (and may have exited since, closing the connection mid-body) finds it logged.
        let sent = answer.cut_at.unwrap_or(answer.body.len());
        lock(&state.log).push(Exchange {
            range: head.get("range").map(str::to_owned),
            method,
            target,
            route,
            status: answer.head.status(),
            request_bytes: body.len(),
            response_bytes: sent,
            fault: answer.fault,
        });
        answer.head.write_to(&mut client)?;
        client.write_all(&answer.body[..sent])?;
        client.flush()?;
        if answer.cut_at.is_some() {
            let _ = client.shutdown(Shutdown::Both);
            return Ok(());
        }
        if close {
            return Ok(());
        }
    }
}

/// What the proxy sends back for one request: a head (with its `Content-Length`), the
/// body, where to cut the connection short, and what was injected.
struct Answer {
    head: Head,
    body: Vec<u8>,
    cut_at: Option<usize>,
    fault: Option<Fault>,
}

impl Answer {
    fn new(status: u16, reason: &str, headers: &[(&str, &str)], body: Vec<u8>, no_body: bool) -> Answer {
        let mut head = Head { line: format!("HTTP/1.1 {status} {reason}"), headers: Vec::new() };
        for (n, v) in headers {
            head.set(n, *v);
        }
        head.set("Content-Length", body.len().to_string());
        let body = if no_body { Vec::new() } else { body };
        Answer { head, body, cut_at: None, fault: None }
    }
}

/// Applies the plan to one request: an injected status, a served manifest, or the
/// registry's answer (cut short or corrupted for blob GETs).
fn answer(state: &ProxyState, head: &Head, body: &[u8], route: Route) -> Answer {
    let method = head.line.split(' ').next().unwrap_or("");
    let path = head.line.split(' ').nth(1).unwrap_or("").split('?').next().unwrap_or("");
    let no_body = method == "HEAD";
    let referrers_api = lock(&state.plan).referrers_api;
    if referrers_api && method == "GET" && path.contains("/referrers/") {
        return referrers_answer(state, head);
    }
    let (injected, served) = {
        let mut plan = lock(&state.plan);
        let injected = match &mut plan.status {
            Some(f) if f.left > 0 && route.matches(f.on) => {
                if f.left != FOREVER {
                    f.left -= 1;
                }
                Some((f.status, f.retry_after))
            }
            _ => None,
        };
        let served = plan.served.iter().find(|s| s.path == path && matches!(method, "GET" | "HEAD")).cloned();
        (injected, served)
    };
    if let Some((status, retry_after)) = injected {
        let (reason, code) = match status {
            429 => ("Too Many Requests", "TOOMANYREQUESTS"),
            503 => ("Service Unavailable", "UNAVAILABLE"),
            _ => ("Injected", "UNKNOWN"),
        };
        let error = json!({"errors": [{"code": code, "message": "injected by the test proxy"}]}).to_string();
        let retry = retry_after.map(|s| s.to_string());
        let mut headers = vec![("Content-Type", "application/json")];
        headers.extend(retry.as_deref().map(|r| ("Retry-After", r)));
        let mut answer = Answer::new(status, reason, &headers, error.into_bytes(), no_body);
        answer.fault = Some(Fault::Status(status));
        return answer;
    }
    if let Some(s) = served {
        let digest = digest_of(&s.body);
        let headers = [("Content-Type", s.media_type.as_str()), ("Docker-Content-Digest", &digest)];
        let mut answer = Answer::new(200, "OK", &headers, s.body.to_vec(), no_body);
        answer.fault = Some(Fault::Served);
        return answer;
    }
    let body_sent = body;
    let (mut head, mut body) = match round_trip(&state.upstream, head.clone(), body) {
        Ok(r) => r,
        Err(e) => return Answer::new(502, "Bad Gateway", &[], e.to_string().into_bytes(), no_body),
    };
    let proxy_host = lock(&state.host).clone();
    for (n, v) in &mut head.headers {
        if n.eq_ignore_ascii_case("location") {
            *v = v.replace(&state.upstream, &proxy_host);
        }
    }
    for hop in ["transfer-encoding", "connection", "keep-alive"] {
        head.remove(hop);
    }
    if !no_body {
        head.set("Content-Length", body.len().to_string()); // de-chunked
    }
    if referrers_api && route == Route::ManifestPut && head.status() == 201 {
        remember_referrer(state, path, &mut head, body_sent);
    }
    let mut answer = Answer { head, body: Vec::new(), cut_at: None, fault: None };
    if route == Route::BlobGet && matches!(answer.head.status(), 200 | 206) && !body.is_empty() {
        let mut plan = lock(&state.plan);
        if let Some((after, left)) = &mut plan.drop_blob_bodies
            && *left > 0
            && body.len() > *after
        {
            if *left != FOREVER {
                *left -= 1;
            }
            answer.cut_at = Some(*after);
            answer.fault = Some(Fault::Dropped(*after));
        }
        if answer.fault.is_none() && plan.corrupt_blobs > 0 {
            if plan.corrupt_blobs != FOREVER {
                plan.corrupt_blobs -= 1;
            }
            let middle = body.len() / 2;
            body[middle] ^= 0x55;
            answer.fault = Some(Fault::Corrupted);
        }
    }
    answer.body = body;
    answer
}

/// Records the manifest PUT to `path` (`/v2/NAME/manifests/REF`) when it has a subject,
/// and says so with `OCI-Subject` in the registry's answer `head`.
fn remember_referrer(state: &ProxyState, path: &str, head: &mut Head, manifest: &[u8]) {
    let Ok(doc) = serde_json::from_slice::<Value>(manifest) else { return };
    let Some(subject) = doc.pointer("/subject/digest").and_then(Value::as_str) else { return };
    let Some(repository) = path.strip_prefix("/v2/").and_then(|p| p.split_once("/manifests/")).map(|(r, _)| r) else {
        return;
    };
    let artifact_type = doc.get("artifactType").or_else(|| doc.pointer("/config/mediaType")).cloned();
    let mut descriptor = json!({
        "mediaType": doc.get("mediaType").cloned().unwrap_or(json!("application/vnd.oci.image.manifest.v1+json")),
        "digest": digest_of(manifest),
        "size": manifest.len(),
    });
    if let Some(t) = artifact_type {
        descriptor["artifactType"] = t;
    }
    if let Some(a) = doc.get("annotations") {
        descriptor["annotations"] = a.clone();
    }
    let mut known = lock(&state.referrers);
    if !known.iter().any(|(r, _, d)| r == repository && d["digest"] == descriptor["digest"]) {
        known.push((repository.to_owned(), subject.to_owned(), descriptor));
    }
    head.set("OCI-Subject", subject);
}

/// `GET /v2/NAME/referrers/DIGEST[?artifactType=T]` answered from what was remembered.
fn referrers_answer(state: &ProxyState, head: &Head) -> Answer {
    let target = head.line.split(' ').nth(1).unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (repository, subject) = path.strip_prefix("/v2/").and_then(|p| p.split_once("/referrers/")).unwrap_or(("", ""));
    let form = parse_form(query);
    let wanted = form_value(&form, "artifactType");
    let manifests: Vec<Value> = lock(&state.referrers)
        .iter()
        .filter(|(r, s, d)| r == repository && s == subject && wanted.is_none_or(|t| d["artifactType"] == t))
        .map(|(_, _, d)| d.clone())
        .collect();
    // One referrer per page, the next named by `Link` (`?page=K`), so clients must follow it.
    let page: usize = form_value(&form, "page").and_then(|p| p.parse().ok()).unwrap_or(0);
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests.get(page).into_iter().collect::<Vec<_>>(),
    });
    let mut headers = vec![("Content-Type", "application/vnd.oci.image.index.v1+json")];
    if wanted.is_some() {
        headers.push(("OCI-Filters-Applied", "artifactType"));
    }
    let filter =
        wanted.map(|t| format!("&artifactType={}", t.replace('+', "%2B").replace('/', "%2F"))).unwrap_or_default();
    let link = format!("<{path}?page={}{filter}>; rel=\"next\"", page + 1);
    if page + 1 < manifests.len() {
        headers.push(("Link", &link));
    }
    Answer::new(200, "OK", &headers, index.to_string().into_bytes(), false)
}

// ---------------------------------------------------------------------------------------
// An isolated user for oci-harden

/// How long one `oci-harden` run may take before it is killed (a hang is a failure).
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// An isolated user environment: `oci-harden` runs with `HOME`, `DOCKER_CONFIG`,
/// `REGISTRY_AUTH_FILE`, `XDG_CACHE_HOME`, `XDG_CONFIG_HOME` and `XDG_RUNTIME_DIR` in a
/// temporary directory (and without `OCI_HARDEN_CACHE`), so it never reads or writes the
/// user's credentials or cache.
pub struct Home {
    dir: tempfile::TempDir,
}

impl Default for Home {
    fn default() -> Self {
        Home::new()
    }
}

impl Home {
    /// A fresh environment with an empty docker config directory and cache.
    pub fn new() -> Home {
        let dir = tempdir();
        for sub in ["home", "docker", "containers", "cache", "config", "runtime"] {
            fs::create_dir_all(dir.path().join(sub)).expect("creating the isolated home");
        }
        Home { dir }
    }

    /// `$DOCKER_CONFIG/config.json` (it does not exist until written).
    pub fn docker_config(&self) -> PathBuf {
        self.dir.path().join("docker/config.json")
    }

    /// `$REGISTRY_AUTH_FILE` (it does not exist until written).
    pub fn auth_file(&self) -> PathBuf {
        self.dir.path().join("containers/auth.json")
    }

    /// `$XDG_CACHE_HOME`.
    pub fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// Writes `$DOCKER_CONFIG/config.json`.
    pub fn write_docker_config(&self, config: &Value) {
        fs::write(self.docker_config(), serde_json::to_vec_pretty(config).expect("JSON")).expect("writing config.json");
    }

    /// Runs `oci-harden ARGS` in this environment.
    pub fn oci_harden<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Run {
        self.run(args, None)
    }

    /// Runs `oci-harden ARGS` in this environment with `stdin` on standard input.
    pub fn oci_harden_stdin<S: AsRef<std::ffi::OsStr>>(&self, args: &[S], stdin: &[u8]) -> Run {
        self.run(args, Some(stdin))
    }

    fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S], stdin: Option<&[u8]>) -> Run {
        let d = self.dir.path();
        let mut command = Command::new(bin());
        command
            .args(args)
            .env("HOME", d.join("home"))
            .env("DOCKER_CONFIG", d.join("docker"))
            .env("REGISTRY_AUTH_FILE", self.auth_file())
            .env("XDG_CACHE_HOME", self.cache())
            .env("XDG_CONFIG_HOME", d.join("config"))
            .env("XDG_RUNTIME_DIR", d.join("runtime"))
            .env_remove("OCI_HARDEN_CACHE")
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        let mut name = String::from("oci-harden");
        for a in args {
            name.push(' ');
            name.push_str(&a.as_ref().to_string_lossy());
        }
        if stdin.is_some() {
            name.push_str(" <stdin");
        }
        run_with_timeout(command, name, stdin)
    }
}

fn run_with_timeout(mut command: Command, name: String, stdin: Option<&[u8]>) -> Run {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let _ = pipe.write_all(input); // the program may not read it all
    }
    let mut stdout_pipe = child.stdout.take().expect("piped stdout");
    let mut stderr_pipe = child.stderr.take().expect("piped stderr");
    let out = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout_pipe.read_to_end(&mut v);
        v
    });
    let err = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr_pipe.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + RUN_TIMEOUT;
    let (code, timed_out) = loop {
        match child.try_wait().expect("waiting for a child") {
            Some(status) => break (status.code(), false),
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break (None, true);
            }
            None => thread::sleep(Duration::from_millis(10)),
        }
    };
    let stdout = out.join().expect("stdout reader");
    let mut stderr = String::from_utf8_lossy(&err.join().expect("stderr reader")).into_owned();
    if timed_out {
        stderr.push_str(&format!("\n[killed by the test harness after {} s]", RUN_TIMEOUT.as_secs()));
    }
    Run { command: name, code, stdout, stderr }
}

// ---------------------------------------------------------------------------------------
// skopeo

/// `skopeo copy --all SRC docker://DEST` to a plain-HTTP registry (with `--dest-creds`).
pub fn skopeo_push(src: &str, dest: &str, creds: Option<(&str, &str)>) {
    let dest = format!("docker://{dest}");
    let creds = creds.map(|(u, p)| format!("{u}:{p}"));
    let mut args = vec!["copy", "--quiet", "--all", "--dest-tls-verify=false"];
    if let Some(c) = &creds {
        args.extend(["--dest-creds", c]);
    }
    args.extend([src, dest.as_str()]);
    tool("skopeo", &args).ok();
}

/// The digest of the manifest bytes `skopeo inspect --raw REFERENCE` shows (`docker://…`
/// over plain HTTP, `oci:…`).
pub fn skopeo_digest(reference: &str, creds: Option<(&str, &str)>) -> String {
    let creds = creds.map(|(u, p)| format!("{u}:{p}"));
    let mut args = vec!["inspect", "--raw"];
    if reference.starts_with("docker://") {
        args.push("--tls-verify=false");
    }
    if let Some(c) = &creds {
        args.extend(["--creds", c]);
    }
    args.push(reference);
    digest_of(&tool("skopeo", &args).ok().stdout)
}
