//! One registry session: clients per host, credentials, retries, error mapping.

use std::collections::HashMap;
use std::future::Future;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};

use super::retry::RetryPolicy;
use super::token::parse_bearer_challenge;
use super::transfer::{Progress, TransferOutcome};
use crate::{
    Credential, CredentialStore, Descriptor, Digest, Error, ImageIndex, ImageName, Limits, OciLayout, RawManifest,
    Result,
};

/// The manifest media types we ask registries for (never Docker schema 1).
const ACCEPT: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

const USER_AGENT: &str = concat!("oci-harden/", env!("CARGO_PKG_VERSION"));

/// Redirects followed for one request (a loop ends with an error).
pub(super) const MAX_REDIRECTS: usize = 10;

/// Size of the chunks uploads are streamed in.
const UPLOAD_CHUNK: usize = 256 << 10;

/// How a [`Registry`] connects and authenticates.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Registries (`host[:port]`) reached over plain HTTP although not on loopback.
    pub insecure_registries: Vec<String>,
    /// Extra PEM CA certificates to trust, besides the system roots.
    pub ca_certs: Vec<PathBuf>,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
    /// Blobs transferred at once.
    pub jobs: usize,
    /// Where credentials come from.
    pub credentials: CredentialStore,
    /// Bounds on what registries may send.
    pub limits: Limits,
    /// How long establishing a connection (TCP and TLS) may take.
    pub connect_timeout: Duration,
    /// How long a connection may stay silent (no byte of a response head or body)
    /// before the request fails as timed out; a transfer that keeps moving never does.
    pub idle_timeout: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            insecure_registries: Vec::new(),
            ca_certs: Vec::new(),
            retry: RetryPolicy::default(),
            jobs: 4,
            credentials: CredentialStore::from_env(),
            limits: Limits::default(),
            connect_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// A bearer challenge's realm and service (`WWW-Authenticate: Bearer realm=…,service=…`).
pub(super) type Challenge = (String, Option<String>);

/// A session with one or more registries: a client per host, credentials looked up once,
/// tokens cached, transient failures retried.
///
/// Plain HTTP is used for loopback hosts and for [`RegistryOptions::insecure_registries`];
/// everything else is HTTPS with the system roots plus [`RegistryOptions::ca_certs`].
pub struct Registry {
    options: RegistryOptions,
    clients: Mutex<HashMap<String, Client>>,
    auths: Mutex<HashMap<String, (RegistryAuth, ProbeAuth)>>,
    /// Hosts pinged (`GET /v2/`) in this session, with the bearer challenge (realm,
    /// service) each answered with, if any: the token service is a property of the host, so
    /// it is asked for once, not once per repository.
    pub(super) pinged: tokio::sync::Mutex<HashMap<String, Option<Challenge>>>,
    http: std::sync::OnceLock<reqwest::Client>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("options", &self.options).finish_non_exhaustive()
    }
}

/// What a request was about: for error messages, and for the `Retry-After` probe.
pub(crate) struct Ctx<'a> {
    pub name: &'a ImageName,
    pub what: String,
    /// The resource under `/v2/<repository>/` (`manifests/<ref>`, `blobs/<digest>`).
    pub resource: Option<String>,
    /// Whether the request needs push access.
    pub push: bool,
}

impl<'a> Ctx<'a> {
    fn new(name: &'a ImageName, what: String) -> Ctx<'a> {
        Ctx { name, what, resource: None, push: false }
    }

    fn on(mut self, resource: String, push: bool) -> Ctx<'a> {
        self.resource = Some(resource);
        self.push = push;
        self
    }
}

/// What a `Retry-After` probe authenticates with.
#[derive(Clone)]
enum ProbeAuth {
    None,
    Basic(String, String),
    Bearer(String),
}

impl Registry {
    /// A session with `options`. Fails only when a CA certificate cannot be read.
    pub fn new(options: RegistryOptions) -> Result<Registry> {
        for ca in &options.ca_certs {
            std::fs::metadata(ca).map_err(|e| Error::io(format!("reading CA certificate {}", ca.display()), e))?;
        }
        Ok(Registry {
            options,
            clients: Mutex::new(HashMap::new()),
            auths: Mutex::new(HashMap::new()),
            pinged: tokio::sync::Mutex::new(HashMap::new()),
            http: std::sync::OnceLock::new(),
        })
    }

    /// The options.
    pub fn options(&self) -> &RegistryOptions {
        &self.options
    }

    /// Whether `host` is reached over plain HTTP.
    pub fn is_plain_http(&self, host: &str) -> bool {
        super::is_loopback(host) || self.options.insecure_registries.iter().any(|h| h == host)
    }

    fn client(&self, host: &str) -> Result<Client> {
        let mut clients = self.clients.lock().expect("not poisoned");
        if let Some(c) = clients.get(host) {
            return Ok(c.clone());
        }
        let mut extra = Vec::new();
        for ca in &self.options.ca_certs {
            let data =
                std::fs::read(ca).map_err(|e| Error::io(format!("reading CA certificate {}", ca.display()), e))?;
            extra.push(Certificate { encoding: CertificateEncoding::Pem, data });
        }
        let config = ClientConfig {
            protocol: if self.is_plain_http(host) { ClientProtocol::Http } else { ClientProtocol::Https },
            extra_root_certificates: extra,
            use_monolithic_push: true,
            connect_timeout: Some(self.options.connect_timeout),
            read_timeout: Some(self.options.idle_timeout),
            user_agent: USER_AGENT,
            platform_resolver: None,
            ..ClientConfig::default()
        };
        let client = Client::try_from(config).map_err(|e| Error::Registry {
            registry: host.to_owned(),
            repository: String::new(),
            what: "setting up the HTTP client".into(),
            status: None,
            message: e.to_string(),
        })?;
        clients.insert(host.to_owned(), client.clone());
        Ok(client)
    }

    /// Authenticates for `operation` on `name`'s repository (once per session and scope),
    /// with the credentials the store has for its registry, or anonymously.
    pub(crate) async fn authenticate(&self, name: &ImageName, push: bool) -> Result<(Client, RegistryAuth)> {
        let host = name.registry();
        let client = self.client(host)?;
        let key = format!("{host}/{}#{push}", name.repository());
        if let Some((auth, _)) = self.auths.lock().expect("not poisoned").get(&key).cloned() {
            return Ok((client, auth));
        }
        self.ping(name).await?;
        let op = if push { RegistryOperation::Push } else { RegistryOperation::Pull };
        let ctx = Ctx::new(name, if push { "authenticating to push".into() } else { "authenticating to pull".into() });
        let credential = self.options.credentials.lookup(host)?;
        let oref = oci_ref(name, &name.reference());
        // oci-client fetches a token by itself when its copy expires, with the credentials
        // stored in it, from whatever realm the registry names then: it is only ever given
        // anonymity, so credentials go nowhere but to the token service vetted here (a 401
        // comes back through here).
        client.store_auth_if_needed(host, &RegistryAuth::Anonymous).await;
        let service = self.token_service(&ctx, credential.is_some()).await?;
        let (auth, probe) = match (service, credential) {
            (Some(service), credential) => {
                let scope = format!("repository:{}:{}", name.repository(), if push { "pull,push" } else { "pull" });
                let (auth, token) = match credential {
                    Some(Credential::IdentityToken(refresh)) => {
                        let token = self.exchange_identity_token(&ctx, &service, &refresh, push).await?;
                        (RegistryAuth::Bearer(token.clone()), token)
                    }
                    Some(Credential::Basic { username, password }) => {
                        let auth = RegistryAuth::Basic(username, password);
                        let token = self.fetch_token(&ctx, &service, &[scope], &auth).await?;
                        (auth, token)
                    }
                    None => (
                        RegistryAuth::Anonymous,
                        self.fetch_token(&ctx, &service, &[scope], &RegistryAuth::Anonymous).await?,
                    ),
                };
                // With a bearer token given, oci-client only caches it: no request.
                let bearer = RegistryAuth::Bearer(token.clone());
                self.retrying(&ctx, || client.auth(&oref, &bearer, op)).await?;
                (auth, ProbeAuth::Bearer(token))
            }
            (None, None) => (RegistryAuth::Anonymous, ProbeAuth::None),
            (None, Some(Credential::Basic { username, password })) => {
                let auth = RegistryAuth::Basic(username.clone(), password.clone());
                self.retrying(&ctx, || client.auth(&oref, &auth, op)).await?;
                (auth, ProbeAuth::Basic(username, password))
            }
            (None, Some(Credential::IdentityToken(_))) => {
                return Err(self.fail(
                    &ctx,
                    None,
                    "the registry offers no bearer token service for the identity token".into(),
                ));
            }
        };
        self.auths.lock().expect("not poisoned").insert(key, (auth.clone(), probe));
        Ok((client, auth))
    }

    /// `GET /v2/` once per registry and session, retrying what is transient and honouring
    /// `Retry-After`: a registry that asks us to wait is waited for before anything else.
    async fn ping(&self, name: &ImageName) -> Result<()> {
        let host = name.registry();
        let mut pinged = self.pinged.lock().await;
        if pinged.contains_key(host) {
            return Ok(());
        }
        let ctx = Ctx::new(name, "contacting the registry".into());
        let http = self.http(&ctx)?;
        let url = format!("{}://{host}/v2/", if self.is_plain_http(host) { "http" } else { "https" });
        let policy = self.options.retry;
        let mut attempt = 1;
        loop {
            let (status, retry_after, error, challenge) = match http.get(&url).send().await {
                Ok(r) => {
                    let challenge = r
                        .headers()
                        .get(reqwest::header::WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_bearer_challenge);
                    (Some(r.status().as_u16()), retry_after(r.headers()), None, challenge)
                }
                Err(e) => (None, None, Some(self.transport(&e)), None),
            };
            let transient = match status {
                Some(code) => matches!(code, 408 | 429 | 500 | 502 | 503 | 504),
                None => true,
            };
            if !transient {
                pinged.insert(host.to_owned(), challenge);
                return Ok(());
            }
            if attempt >= policy.attempts {
                let message = error.unwrap_or_else(|| "the registry is unavailable".into());
                return Err(self.fail(&ctx, status, format!("{message}; gave up after {attempt} attempts")));
            }
            tokio::time::sleep(self.wait(attempt, status, retry_after)).await;
            attempt += 1;
        }
    }

    /// How long to wait before attempt `attempt + 1`: what `Retry-After` says (bounded by
    /// the policy's longest delay), else the policy's backoff (at least a second for 429).
    fn wait(&self, attempt: u32, status: Option<u16>, retry_after: Option<Duration>) -> Duration {
        let policy = self.options.retry;
        match retry_after {
            Some(d) => d.min(policy.max_delay.max(Duration::from_secs(60))),
            None => policy.delay(attempt, if status == Some(429) { Duration::from_secs(1) } else { Duration::ZERO }),
        }
    }

    /// oci-client does not show response headers, so after a 429 or 503 the same
    /// resource is asked again with `HEAD` to read the registry's `Retry-After`.
    async fn probe_retry_after(&self, ctx: &Ctx<'_>) -> Option<Duration> {
        let resource = ctx.resource.as_ref()?;
        let host = ctx.name.registry();
        let key = format!("{host}/{}#{}", ctx.name.repository(), ctx.push);
        let auth =
            self.auths.lock().expect("not poisoned").get(&key).map(|(_, p)| p.clone()).unwrap_or(ProbeAuth::None);
        let scheme = if self.is_plain_http(host) { "http" } else { "https" };
        let url = format!("{scheme}://{host}/v2/{}/{resource}", ctx.name.repository());
        let mut req = self.http(ctx).ok()?.head(url).timeout(Duration::from_secs(10));
        req = match auth {
            ProbeAuth::None => req,
            ProbeAuth::Basic(u, p) => req.basic_auth(u, Some(p)),
            ProbeAuth::Bearer(t) => req.bearer_auth(t),
        };
        let response = req.send().await.ok()?;
        retry_after(response.headers())
    }

    /// Checks `username`/`password` against `host` as `docker login` does: `GET /v2/` with
    /// them, following a bearer challenge to its token service. Nothing is saved here.
    pub async fn verify_login(&self, host: &str, username: &str, password: &str) -> Result<()> {
        let name: ImageName = format!("{host}/login-check").parse()?;
        let ctx = Ctx::new(&name, "checking credentials".into());
        let http = self.http(&ctx)?;
        let scheme = if self.is_plain_http(host) { "http" } else { "https" };
        let url = format!("{scheme}://{host}/v2/");
        let send = |req: reqwest::RequestBuilder| async {
            req.basic_auth(username, Some(password)).send().await.map_err(|e| self.fail(&ctx, None, e.to_string()))
        };
        let first = send(http.get(&url)).await?;
        let status = first.status();
        if status.is_success() {
            return Ok(());
        }
        let challenge = first
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_bearer_challenge);
        let refused = |status: u16| {
            self.auth_failed(&ctx, format!("the registry refused the credentials of {username:?} (HTTP {status})"))
        };
        match (status.as_u16(), challenge) {
            (401, Some((realm, service))) => {
                let realm = self.vet_realm(&ctx, &realm, true)?;
                let mut req = http.get(realm).query(&[("account", username)]);
                if let Some(s) = &service {
                    req = req.query(&[("service", s.as_str())]);
                }
                let token = send(req).await?;
                if token.status().is_success() { Ok(()) } else { Err(refused(token.status().as_u16())) }
            }
            (401, None) => Err(refused(401)),
            (code, _) => Err(self.fail(&ctx, Some(code), "unexpected answer to GET /v2/".into())),
        }
    }

    pub(super) fn http(&self, ctx: &Ctx<'_>) -> Result<reqwest::Client> {
        if let Some(c) = self.http.get() {
            return Ok(c.clone());
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(self.options.connect_timeout)
            .read_timeout(self.options.idle_timeout)
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                if !matches!(attempt.url().scheme(), "http" | "https") {
                    let url = attempt.url().to_string();
                    attempt.error(format!("refusing a redirect to the non-HTTP URL {url}"))
                } else if attempt.previous().len() >= MAX_REDIRECTS {
                    attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
                } else {
                    // reqwest drops `Authorization` when the host, port or scheme changes.
                    attempt.follow()
                }
            }));
        for ca in &self.options.ca_certs {
            let pem =
                std::fs::read(ca).map_err(|e| Error::io(format!("reading CA certificate {}", ca.display()), e))?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| self.fail(ctx, None, e.to_string()))?;
            builder = builder.tls_certs_merge([cert]);
        }
        let client = builder.build().map_err(|e| self.fail(ctx, None, e.to_string()))?;
        Ok(self.http.get_or_init(|| client).clone())
    }

    pub(super) fn auth_failed(&self, ctx: &Ctx<'_>, detail: String) -> Error {
        Error::AuthenticationRequired {
            registry: ctx.name.registry().to_owned(),
            repository: ctx.name.repository().to_owned(),
            what: ctx.what.clone(),
            detail,
        }
    }

    pub(super) fn fail(&self, ctx: &Ctx<'_>, status: Option<u16>, message: String) -> Error {
        Error::Registry {
            registry: ctx.name.registry().to_owned(),
            repository: ctx.name.repository().to_owned(),
            what: ctx.what.clone(),
            status,
            message,
        }
    }

    /// Runs `op`, retrying transient failures with backoff; maps the final error.
    pub(crate) async fn retrying<T, F, Fut>(&self, ctx: &Ctx<'_>, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, OciDistributionError>>,
    {
        let policy = self.options.retry;
        let mut attempt = 1;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let class = classify(&e);
                    if class.retryable && attempt < policy.attempts {
                        tokio::time::sleep(self.backoff(ctx, attempt, class).await).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(self.map_error(ctx, e, class, attempt));
                }
            }
        }
    }

    /// The wait before retrying after a failure of class `class`.
    async fn backoff(&self, ctx: &Ctx<'_>, attempt: u32, class: Class) -> Duration {
        let retry_after = match class.status {
            Some(429 | 503) => self.probe_retry_after(ctx).await,
            _ => None,
        };
        self.wait(attempt, class.status, retry_after)
    }

    fn map_error(&self, ctx: &Ctx<'_>, e: OciDistributionError, class: Class, attempts: u32) -> Error {
        let host = ctx.name.registry();
        let detail = match &e {
            OciDistributionError::RegistryError { envelope, .. } => {
                envelope.errors.iter().map(|e| format!("{:?}: {}", e.code, e.message)).collect::<Vec<_>>().join("; ")
            }
            OciDistributionError::ServerError { message, .. } => message.chars().take(300).collect(),
            OciDistributionError::RequestError(re) => self.transport(re),
            other => other.to_string(),
        };
        let message = match class.status {
            Some(401) => return self.auth_failed(ctx, detail),
            Some(403) => format!("access denied ({detail}); the credentials for {host} lack permission"),
            Some(404) => format!("not found ({detail})"),
            _ if class.retryable => format!("{detail}; gave up after {attempts} attempts"),
            _ => detail,
        };
        self.fail(ctx, class.status, message)
    }

    /// Fetches a manifest or index by tag or digest, checks its digest (against the
    /// registry's `Docker-Content-Digest` and, when asked by digest, against that) and
    /// its size: a body larger than [`Limits::max_json_bytes`] is refused before it is
    /// read whole (at once when its `Content-Length` says so).
    pub async fn get_manifest(&self, name: &ImageName, reference: &str) -> Result<RawManifest> {
        self.authenticate(name, false).await?;
        let ctx = Ctx::new(name, format!("fetching manifest {reference}")).on(format!("manifests/{reference}"), false);
        let url = format!("{}/v2/{}/manifests/{reference}", self.base_url(name.registry()), name.repository());
        let limit = self.options.limits.max_json_bytes;
        let (headers, bytes) = self.get_bounded(&ctx, &url, &ACCEPT.join(", "), limit).await.map_err(|e| {
            e.naming(|| format!("manifest {reference} from {url} ({}/{})", name.registry(), name.repository()))
        })?;
        let digest = match headers.get("docker-content-digest").and_then(|v| v.to_str().ok()) {
            Some(d) => d.to_owned(),
            None => Digest::sha256(&bytes).to_string(),
        };
        let raw = RawManifest::from_bytes(bytes)
            .map_err(|e| self.fail(&ctx, None, format!("the registry sent an invalid manifest: {e}")))?;
        let claimed: Digest = digest
            .parse()
            .map_err(|_| self.fail(&ctx, None, format!("the registry sent an invalid digest header {digest:?}")))?;
        if &claimed != raw.digest() {
            return Err(Error::DigestMismatch {
                what: format!("manifest {reference} from {}/{}", name.registry(), name.repository()),
                expected: claimed,
                found: raw.digest().clone(),
            });
        }
        if let Ok(wanted) = reference.parse::<Digest>()
            && &wanted != raw.digest()
        {
            return Err(Error::DigestMismatch {
                what: format!("manifest from {}/{}", name.registry(), name.repository()),
                expected: wanted,
                found: raw.digest().clone(),
            });
        }
        Ok(raw)
    }

    /// `GET url` with the session's token or credentials for `ctx`'s repository, the body
    /// read whole under `limit` bytes ([`Error::TooLarge`] past it). Transient failures
    /// (connection errors, timeouts, 408, 429, 5xx) are retried, honouring `Retry-After`;
    /// a 401 re-authenticates once (the token may have expired).
    async fn get_bounded(
        &self,
        ctx: &Ctx<'_>,
        url: &str,
        accept: &str,
        limit: u64,
    ) -> Result<(reqwest::header::HeaderMap, Vec<u8>)> {
        let http = self.http(ctx)?;
        let policy = self.options.retry;
        let (mut attempt, mut reauthenticated) = (1, false);
        loop {
            let request = self.with_probe_auth(ctx, http.get(url).header(reqwest::header::ACCEPT, accept));
            let result: std::result::Result<_, Failed> = async {
                let response = request.send().await.map_err(|e| Failed::Answer(None, None, self.transport(&e)))?;
                let status = response.status().as_u16();
                if status != 200 {
                    let wait = retry_after(response.headers());
                    let detail = super::body::read_bounded(response, 4096)
                        .await
                        .ok()
                        .map(|b| String::from_utf8_lossy(&b).chars().take(300).collect::<String>())
                        .filter(|t| !t.trim().is_empty())
                        .map_or_else(|| format!("HTTP {status}"), |t| t.trim().to_owned());
                    return Err(Failed::Answer(Some(status), wait, detail));
                }
                let headers = response.headers().clone();
                match super::body::read_bounded(response, limit).await {
                    Ok(body) => Ok((headers, body)),
                    Err(super::body::BodyError::TooLarge) => Err(Failed::TooLarge),
                    Err(super::body::BodyError::Transport(e)) => Err(Failed::Answer(None, None, self.transport(&e))),
                }
            }
            .await;
            let (status, wait_hint, message) = match result {
                Ok(done) => return Ok(done),
                Err(Failed::Answer(status, wait_hint, message)) => (status, wait_hint, message),
                Err(Failed::TooLarge) => {
                    return Err(Error::TooLarge { what: url.to_owned(), limit, hint: " (Limits::max_json_bytes)" });
                }
                Err(Failed::Stopped) => unreachable!("only a fed download stops"),
            };
            if status == Some(401) && !reauthenticated {
                reauthenticated = true;
                self.forget_auth(ctx.name, ctx.push);
                self.authenticate(ctx.name, ctx.push).await?;
                continue;
            }
            let transient = status.is_none_or(|code| matches!(code, 408 | 429 | 500 | 502 | 503 | 504));
            if transient && attempt < policy.attempts {
                tokio::time::sleep(self.wait(attempt, status, wait_hint)).await;
                attempt += 1;
                continue;
            }
            let message = match status {
                Some(401) => return Err(self.auth_failed(ctx, message)),
                Some(403) => {
                    format!("access denied ({message}); the credentials for {} lack permission", ctx.name.registry())
                }
                Some(404) => format!("not found ({message})"),
                _ if transient => format!("{message}; gave up after {attempt} attempts"),
                _ => message,
            };
            return Err(self.fail(ctx, status, message));
        }
    }

    /// `http://host` for loopback and insecure registries, else `https://host`.
    pub(super) fn base_url(&self, host: &str) -> String {
        format!("{}://{host}", if self.is_plain_http(host) { "http" } else { "https" })
    }

    /// A transport failure in words (timeouts with their durations).
    pub(super) fn transport(&self, e: &reqwest::Error) -> String {
        super::body::describe(e, self.options.connect_timeout, self.options.idle_timeout)
    }

    /// Whether the repository has the blob (a `HEAD` request).
    pub async fn has_blob(&self, name: &ImageName, digest: &Digest) -> Result<bool> {
        let (client, _) = self.authenticate(name, false).await?;
        let ctx = Ctx::new(name, format!("checking blob {digest}")).on(format!("blobs/{digest}"), false);
        let oref = oci_ref(name, &name.reference());
        let d = digest.to_string();
        self.retrying(&ctx, || client.blob_exists(&oref, &d)).await
    }

    /// Downloads a blob into `layout`, verifying digest and size while it streams, and
    /// resuming with an HTTP range after a dropped connection. Nothing becomes visible in
    /// the layout unless the whole blob verified.
    ///
    /// This request is our own (same TLS setup, oci-client's token) rather than
    /// oci-client's blob stream, because oci-client does not show response headers:
    /// `Retry-After`, `Content-Length` and `Content-Range` are needed here.
    pub async fn fetch_blob(
        &self,
        name: &ImageName,
        desc: &Descriptor,
        layout: &OciLayout,
        progress: &dyn Progress,
    ) -> Result<TransferOutcome> {
        self.fetch_blob_feeding(name, desc, layout, progress, None)
            .await?
            .ok_or_else(|| Error::Invalid { what: format!("fetching blob {}", desc.digest), reason: "stopped".into() })
    }

    /// [`Registry::fetch_blob`], letting `feed`'s readers read the blob as it is written
    /// (see `feed.rs`); the feed ends with the download, either way. `None` when the feed
    /// asked the download to stop (nothing is kept).
    pub(crate) async fn fetch_blob_feeding(
        &self,
        name: &ImageName,
        desc: &Descriptor,
        layout: &OciLayout,
        progress: &dyn Progress,
        feed: Option<&super::feed::Feed>,
    ) -> Result<Option<TransferOutcome>> {
        let result: Result<Option<TransferOutcome>> = async {
            let stopped = || feed.is_some_and(super::feed::Feed::stopped);
            use futures_util::StreamExt;
            if layout.has_blob(&desc.digest) {
                if let Some(feed) = feed {
                    // Cached meanwhile (another process): readers read it from there.
                    feed.start(layout.open_blob_file(&desc.digest)?);
                    feed.advance(desc.size);
                }
                progress.finished(desc, &TransferOutcome::Cached);
                return Ok(Some(TransferOutcome::Cached));
            }
            self.authenticate(name, false).await?;
            let ctx =
                Ctx::new(name, format!("fetching blob {}", desc.digest)).on(format!("blobs/{}", desc.digest), false);
            let host = name.registry();
            let url = format!(
                "{}://{host}/v2/{}/blobs/{}",
                if self.is_plain_http(host) { "http" } else { "https" },
                name.repository(),
                desc.digest
            );
            let http = self.http(&ctx)?;
            let policy = self.options.retry;
            progress.started(desc, false);
            // Readers of the feed read what is flushed: at least every FEED_STEP bytes.
            const FEED_STEP: u64 = 256 << 10;
            let start_feed = |writer: &mut crate::BlobWriter| -> std::io::Result<()> {
                if let Some(feed) = feed {
                    feed.start(writer.reader()?);
                }
                Ok(())
            };
            let mut writer = layout.blob_writer()?;
            start_feed(&mut writer).map_err(|e| Error::io("reading back a blob being fetched", e))?;
            let mut fed = 0u64;
            let mut attempt = 1;
            let mut reauthenticated = false;
            loop {
                if stopped() {
                    return Ok(None);
                }
                let offset = writer.written();
                let mut request = self.with_probe_auth(&ctx, http.get(&url));
                if offset > 0 {
                    request = request.header(reqwest::header::RANGE, format!("bytes={offset}-"));
                }
                let result: std::result::Result<(), Failed> = async {
                    let response = request.send().await.map_err(|e| Failed::Answer(None, None, self.transport(&e)))?;
                    let status = response.status().as_u16();
                    match status {
                        200 => {
                            if offset > 0 {
                                writer = layout.blob_writer().map_err(|e| Failed::Answer(None, None, e.to_string()))?;
                                start_feed(&mut writer).map_err(|e| Failed::Answer(None, None, e.to_string()))?;
                                fed = 0;
                            }
                            if let Some(len) = response.content_length()
                                && len != desc.size
                            {
                                return Err(Failed::Answer(
                                    Some(200),
                                    None,
                                    format!("the registry announced {len} bytes, the descriptor says {}", desc.size),
                                ));
                            }
                        }
                        206 => {
                            let start = response
                                .headers()
                                .get(reqwest::header::CONTENT_RANGE)
                                .and_then(|v| v.to_str().ok())
                                .and_then(|v| v.strip_prefix("bytes "))
                                .and_then(|v| v.split('-').next())
                                .and_then(|v| v.parse::<u64>().ok());
                            if start != Some(offset) {
                                writer = layout.blob_writer().map_err(|e| Failed::Answer(None, None, e.to_string()))?;
                                start_feed(&mut writer).map_err(|e| Failed::Answer(None, None, e.to_string()))?;
                                fed = 0;
                                return Err(Failed::Answer(
                                    Some(206),
                                    None,
                                    "the registry answered another range than asked".into(),
                                ));
                            }
                        }
                        _ => {
                            return Err(Failed::Answer(
                                Some(status),
                                retry_after(response.headers()),
                                format!("HTTP {status}"),
                            ));
                        }
                    }
                    let mut body = response.bytes_stream();
                    while let Some(chunk) = body.next().await {
                        if stopped() {
                            return Err(Failed::Stopped);
                        }
                        let bytes = chunk.map_err(|e| Failed::Answer(None, None, self.transport(&e)))?;
                        if writer.written() + bytes.len() as u64 > desc.size {
                            return Err(Failed::TooLarge);
                        }
                        writer
                            .write_all(&bytes)
                            .map_err(|e| Failed::Answer(None, None, format!("writing to the cache: {e}")))?;
                        progress.advanced(desc, bytes.len() as u64);
                        if let Some(feed) = feed
                            && (writer.written() - fed >= FEED_STEP || writer.written() == desc.size)
                        {
                            writer
                                .flush()
                                .map_err(|e| Failed::Answer(None, None, format!("writing to the cache: {e}")))?;
                            fed = writer.written();
                            feed.advance(fed);
                        }
                    }
                    if writer.written() != desc.size {
                        return Err(Failed::Answer(
                            None,
                            None,
                            format!("the stream ended after {} of {} bytes", writer.written(), desc.size),
                        ));
                    }
                    Ok(())
                }
                .await;
                let (status, wait_hint, message) = match result {
                    Ok(()) => break,
                    Err(Failed::Answer(status, wait_hint, message)) => (status, wait_hint, message),
                    Err(Failed::Stopped) => return Ok(None),
                    Err(Failed::TooLarge) => {
                        return Err(Error::SizeMismatch {
                            what: format!("blob {} from {}/{}", desc.digest, name.registry(), name.repository()),
                            expected: desc.size,
                            found: writer.written(),
                        });
                    }
                };
                if status == Some(401) && !reauthenticated {
                    // The token expired mid-transfer: get a fresh one, once.
                    reauthenticated = true;
                    self.forget_auth(name, false);
                    self.authenticate(name, false).await?;
                    continue;
                }
                let transient = match status {
                    None => true,
                    Some(code) => matches!(code, 206 | 408 | 429 | 500 | 502 | 503 | 504),
                };
                if transient && attempt < policy.attempts {
                    let delay = self.wait(attempt, status, wait_hint);
                    progress.retrying(desc, attempt, delay, &message);
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                    continue;
                }
                let hint = match status {
                    Some(401) => return Err(self.auth_failed(&ctx, message)),
                    Some(404) => "not found (blob unknown to the registry)".to_owned(),
                    _ if transient => format!("{message}; gave up after {attempt} attempts"),
                    _ => message,
                };
                return Err(self.fail(&ctx, status.filter(|s| *s != 206), hint));
            }
            let size = writer.written();
            writer
                .finish_expected(desc)
                .map_err(|e| e.naming(|| format!("blob from {}/{}", name.registry(), name.repository())))?;
            let outcome = TransferOutcome::Downloaded(size);
            progress.finished(desc, &outcome);
            Ok(Some(outcome))
        }
        .await;
        if let Some(feed) = feed {
            feed.finish(match &result {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err(format!("the download of blob {} was stopped", desc.digest)),
                Err(e) => Err(e.to_string()),
            });
        }
        result
    }

    fn with_probe_auth(&self, ctx: &Ctx<'_>, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let key = format!("{}/{}#{}", ctx.name.registry(), ctx.name.repository(), ctx.push);
        let auth = self.auths.lock().expect("not poisoned").get(&key).map(|(_, p)| p.clone());
        match auth {
            Some(ProbeAuth::Basic(u, p)) => request.basic_auth(u, Some(p)),
            Some(ProbeAuth::Bearer(t)) => request.bearer_auth(t),
            Some(ProbeAuth::None) | None => request,
        }
    }

    fn forget_auth(&self, name: &ImageName, push: bool) {
        let key = format!("{}/{}#{push}", name.registry(), name.repository());
        self.auths.lock().expect("not poisoned").remove(&key);
    }

    /// Asks the registry to mount `desc` into `name`'s repository from `from` (another
    /// repository of the same registry). Returns whether it did; a registry that cannot
    /// answers 202 (an upload session) and we upload instead.
    ///
    /// With a token-auth registry the mount needs one token scoped to both repositories
    /// (`repository:DST:pull,push` and `repository:SRC:pull`); oci-client's push token
    /// has only the first, so that token is asked for here.
    pub async fn mount_blob(&self, name: &ImageName, desc: &Descriptor, from: &ImageName) -> Result<bool> {
        if from.registry() != name.registry() || from.repository() == name.repository() {
            return Ok(false);
        }
        let (client, auth) = self.authenticate(name, true).await?;
        let ctx = Ctx::new(name, format!("mounting blob {} from {}", desc.digest, from.repository()));
        let host = name.registry();
        let scheme = if self.is_plain_http(host) { "http" } else { "https" };
        let http = self.http(&ctx)?;
        let uses_tokens = matches!(
            self.auths.lock().expect("not poisoned").get(&format!("{host}/{}#true", name.repository())),
            Some((_, ProbeAuth::Bearer(_)))
        );
        if !uses_tokens {
            let (oref, from_ref) = (oci_ref(name, &name.reference()), oci_ref(from, &from.reference()));
            return Ok(client.mount_blob(&oref, &from_ref, &desc.digest.to_string()).await.is_ok());
        }
        let Some(token) = self.two_scope_token(&ctx, name, from, &auth).await else {
            return Ok(false);
        };
        let url = format!("{scheme}://{host}/v2/{}/blobs/uploads/", name.repository());
        let response = http
            .post(&url)
            .query(&[("mount", desc.digest.to_string()), ("from", from.repository().to_owned())])
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_LENGTH, "0")
            .send()
            .await;
        Ok(response.is_ok_and(|r| r.status() == reqwest::StatusCode::CREATED))
    }

    /// Streams a blob to the registry in one request, from `open` (called again for each
    /// retry), and returns [`TransferOutcome::Uploaded`]. Does not check whether it exists first.
    pub async fn upload_blob(
        &self,
        name: &ImageName,
        desc: &Descriptor,
        open: &(dyn Fn() -> Result<Box<dyn Read + Send>> + Sync),
        progress: &Arc<dyn Progress>,
    ) -> Result<TransferOutcome> {
        let (client, _) = self.authenticate(name, true).await?;
        let oref = oci_ref(name, &name.reference());
        let digest = desc.digest.to_string();
        let ctx = Ctx::new(name, format!("pushing blob {}", desc.digest)).on(format!("blobs/{}", desc.digest), true);
        progress.started(desc, true);
        let size = desc.size;
        self.retrying(&ctx, || {
            let stream = upload_stream(open, desc.clone(), Arc::clone(progress));
            let client = client.clone();
            let oref = oref.clone();
            let digest = digest.clone();
            async move {
                let stream = stream?;
                client.push_blob_stream(&oref, stream, &digest, Some(size)).await
            }
        })
        .await?;
        let outcome = TransferOutcome::Uploaded(size);
        progress.finished(desc, &outcome);
        Ok(outcome)
    }

    /// Uploads a manifest or index under `reference` (a tag, or its digest).
    pub async fn put_manifest(&self, name: &ImageName, reference: &str, raw: &RawManifest) -> Result<()> {
        let (client, _) = self.authenticate(name, true).await?;
        let ctx = Ctx::new(name, format!("pushing manifest {} as {reference}", raw.digest()))
            .on(format!("manifests/{reference}"), true);
        let oref = oci_ref(name, reference);
        let content_type = reqwest::header::HeaderValue::from_str(raw.media_type().as_str())
            .map_err(|e| self.fail(&ctx, None, e.to_string()))?;
        let bytes = bytes::Bytes::copy_from_slice(raw.bytes());
        self.retrying(&ctx, || client.push_manifest_raw(&oref, bytes.clone(), content_type.clone())).await?;
        Ok(())
    }
}

impl Registry {
    /// Uploads a manifest under `reference` with a request of our own, to read the answer's
    /// headers: returns the `OCI-Subject` the registry sent back (a registry with the
    /// referrers API sends it for a manifest with a `subject`). Transient failures are
    /// retried; a 401 re-authenticates once.
    pub async fn put_manifest_subject(
        &self,
        name: &ImageName,
        reference: &str,
        raw: &RawManifest,
    ) -> Result<Option<Digest>> {
        self.authenticate(name, true).await?;
        let ctx = Ctx::new(name, format!("pushing manifest {} as {reference}", raw.digest()))
            .on(format!("manifests/{reference}"), true);
        let url = format!("{}/v2/{}/manifests/{reference}", self.base_url(name.registry()), name.repository());
        let http = self.http(&ctx)?;
        let policy = self.options.retry;
        let (mut attempt, mut reauthenticated) = (1, false);
        loop {
            let request = self.with_probe_auth(
                &ctx,
                http.put(&url)
                    .header(reqwest::header::CONTENT_TYPE, raw.media_type().as_str())
                    .body(raw.bytes().to_vec()),
            );
            let (status, wait, message) = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    let subject = response
                        .headers()
                        .get("oci-subject")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<Digest>().ok());
                    return Ok(subject);
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let wait = retry_after(response.headers());
                    let body = super::body::read_bounded(response, 4096).await.unwrap_or_default();
                    let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
                    (Some(status), wait, if text.trim().is_empty() { format!("HTTP {status}") } else { text })
                }
                Err(e) => (None, None, self.transport(&e)),
            };
            if status == Some(401) && !reauthenticated {
                reauthenticated = true;
                self.forget_auth(name, true);
                self.authenticate(name, true).await?;
                continue;
            }
            let transient = status.is_none_or(|code| matches!(code, 408 | 429 | 500 | 502 | 503 | 504));
            if transient && attempt < policy.attempts {
                tokio::time::sleep(self.wait(attempt, status, wait)).await;
                attempt += 1;
                continue;
            }
            return Err(match status {
                Some(401) => self.auth_failed(&ctx, message),
                _ => self.fail(&ctx, status, message),
            });
        }
    }

    /// `GET /v2/<name>/referrers/<subject>[?artifactType=…]`: the referrers index when the
    /// registry has the referrers API (it answers 200 with an index), `None` when it has
    /// not (404, or anything but an index).
    pub async fn get_referrers(
        &self,
        name: &ImageName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Option<ImageIndex>> {
        self.authenticate(name, false).await?;
        let ctx =
            Ctx::new(name, format!("listing the referrers of {subject}")).on(format!("referrers/{subject}"), false);
        let mut url = format!("{}/v2/{}/referrers/{subject}", self.base_url(name.registry()), name.repository());
        if let Some(t) = artifact_type {
            url = reqwest::Url::parse_with_params(&url, &[("artifactType", t)])
                .map_err(|e| self.fail(&ctx, None, e.to_string()))?
                .to_string();
        }
        let accept = "application/vnd.oci.image.index.v1+json";
        let (mut headers, body) = match self.get_bounded(&ctx, &url, accept, self.options.limits.max_json_bytes).await {
            Ok(answer) => answer,
            Err(Error::Registry { status: Some(400 | 404 | 405 | 501), .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(mut index) = serde_json::from_slice::<ImageIndex>(&body).ok().filter(|i| i.schema_version == 2) else {
            return Ok(None);
        };
        // A long list comes in pages, each naming the next in `Link: <URL>; rel="next"`.
        for _ in 1..MAX_REFERRER_PAGES {
            let Some(next) = next_link(&headers).and_then(|l| reqwest::Url::parse(&url).ok()?.join(&l).ok()) else {
                return Ok(Some(index));
            };
            let (h, body) = self.get_bounded(&ctx, next.as_str(), accept, self.options.limits.max_json_bytes).await?;
            let page: ImageIndex = serde_json::from_slice(&body)
                .map_err(|e| self.fail(&ctx, None, format!("a page of the referrers list is not an index: {e}")))?;
            index.manifests.extend(page.manifests);
            headers = h;
        }
        Err(self.fail(&ctx, None, format!("the referrers list runs past {MAX_REFERRER_PAGES} pages")))
    }
}

/// Pages of a referrers list followed before giving up.
const MAX_REFERRER_PAGES: usize = 100;

/// The target of `Link: <URL>; rel="next"`, if the answer has one.
fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers.get_all(reqwest::header::LINK).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).find_map(
        |link| {
            let (target, params) = link.trim().split_once(';')?;
            let next = params.split(';').any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            next.then(|| target.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
        },
    )
}

/// A stream of the blob's bytes for an upload, read on a blocking thread in chunks.
fn upload_stream(
    open: &(dyn Fn() -> Result<Box<dyn Read + Send>> + Sync),
    desc: Descriptor,
    progress: Arc<dyn Progress>,
) -> std::result::Result<
    impl futures_util::Stream<Item = std::result::Result<bytes::Bytes, OciDistributionError>> + Send + 'static,
    OciDistributionError,
> {
    let mut reader = open().map_err(|e| OciDistributionError::GenericError(Some(e.to_string())))?;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::result::Result<bytes::Bytes, OciDistributionError>>(4);
    tokio::task::spawn_blocking(move || {
        loop {
            let mut buf = vec![0u8; UPLOAD_CHUNK];
            let item = match read_full(&mut reader, &mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    progress.advanced(&desc, n as u64);
                    Ok(bytes::Bytes::from(buf))
                }
                Err(e) => Err(OciDistributionError::GenericError(Some(
                    Error::io("reading the blob to upload", e).to_string(),
                ))),
            };
            let failed = item.is_err();
            if tx.blocking_send(item).is_err() || failed {
                return;
            }
        }
    });
    Ok(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }))
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// How an error should be handled.
#[derive(Debug, Clone, Copy)]
struct Class {
    status: Option<u16>,
    retryable: bool,
}

fn classify(e: &OciDistributionError) -> Class {
    let transient = |code: u16| matches!(code, 408 | 429 | 500 | 502 | 503 | 504);
    let (status, retryable) = match e {
        OciDistributionError::RequestError(re) => {
            let status = re.status().map(|s| s.as_u16());
            let network = re.is_timeout() || re.is_connect() || re.is_request() || re.is_body() || re.is_decode();
            (status, network || status.is_some_and(transient))
        }
        OciDistributionError::ServerError { code, .. } => (Some(*code), transient(*code)),
        OciDistributionError::RegistryError { envelope, .. } => {
            let code = envelope.errors.first().map(|e| &e.code);
            match code {
                Some(OciErrorCode::Toomanyrequests) => (Some(429), true),
                Some(OciErrorCode::Unauthorized) => (Some(401), false),
                Some(OciErrorCode::Denied) => (Some(403), false),
                Some(
                    OciErrorCode::ManifestUnknown
                    | OciErrorCode::BlobUnknown
                    | OciErrorCode::NameUnknown
                    | OciErrorCode::NotFound,
                ) => (Some(404), false),
                _ => (None, false),
            }
        }
        OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_) => {
            (Some(401), false)
        }
        OciDistributionError::ImageManifestNotFoundError(_) => (Some(404), false),
        OciDistributionError::IoError(_) => (None, true),
        _ => (None, false),
    };
    Class { status, retryable }
}

/// `Retry-After`, in seconds or as an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    super::retry::parse_retry_after(v, std::time::SystemTime::now())
}

pub(crate) fn oci_ref(name: &ImageName, reference: &str) -> oci_client::Reference {
    if reference.contains(':') && reference.parse::<Digest>().is_ok() {
        oci_client::Reference::with_digest(
            name.registry().to_owned(),
            name.repository().to_owned(),
            reference.to_owned(),
        )
    } else {
        oci_client::Reference::with_tag(name.registry().to_owned(), name.repository().to_owned(), reference.to_owned())
    }
}

/// Why one attempt of a request failed.
enum Failed {
    /// The registry's answer (its status and `Retry-After`), or with no status the
    /// transport, and what went wrong in words.
    Answer(Option<u16>, Option<Duration>, String),
    /// The body ran past its bound (the descriptor's size, a limit).
    TooLarge,
    /// The feed's readers asked the download to stop.
    Stopped,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_statuses_are_retried() {
        for code in [408, 429, 500, 502, 503, 504] {
            let c = classify(&OciDistributionError::ServerError { code, url: String::new(), message: String::new() });
            assert!(c.retryable, "{code}");
        }
        let c = classify(&OciDistributionError::ServerError { code: 400, url: String::new(), message: String::new() });
        assert!(!c.retryable);
        assert_eq!(classify(&OciDistributionError::UnauthorizedError { url: String::new() }).status, Some(401));
    }

    #[test]
    fn the_next_page_of_a_list_is_read_from_link() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(next_link(&headers), None);
        headers.insert(
            reqwest::header::LINK,
            "</v2/app/referrers/sha256:ab?last=x>; rel=\"next\"".parse().expect("a header value"),
        );
        assert_eq!(next_link(&headers).as_deref(), Some("/v2/app/referrers/sha256:ab?last=x"));
        headers.insert(reqwest::header::LINK, "</other>; rel=\"prev\"".parse().expect("a header value"));
        assert_eq!(next_link(&headers), None);
    }

    #[test]
    fn a_401_is_authentication_required_without_command_line_words() {
        let registry = Registry::new(RegistryOptions::default()).unwrap();
        let name: ImageName = "r.example:5000/team/app:1".parse().unwrap();
        let ctx = Ctx::new(&name, "pulling manifest 1".into());
        let e = OciDistributionError::UnauthorizedError { url: "https://r.example:5000/v2/".into() };
        let class = classify(&e);
        let err = registry.map_error(&ctx, e, class, 1);
        let Error::AuthenticationRequired { registry: host, repository, what, .. } = &err else {
            panic!("not AuthenticationRequired: {err:?}");
        };
        assert_eq!(
            (host.as_str(), repository.as_str(), what.as_str()),
            ("r.example:5000", "team/app", "pulling manifest 1")
        );
        let shown = err.to_string();
        assert!(shown.contains("authentication failed") && shown.contains("r.example:5000"), "{shown}");
        assert!(!shown.contains("oci-harden") && !shown.contains("login"), "{shown}");
    }
}
