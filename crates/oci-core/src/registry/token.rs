//! Bearer tokens: parsing a registry's `WWW-Authenticate` challenge, trading an identity
//! token (an OAuth2 refresh token) for an access token, and asking the token service for
//! a token scoped to two repositories (a cross-repository mount).

use std::time::Duration;

use oci_client::secrets::RegistryAuth;

use super::body::{BodyError, read_bounded};
use super::client::{Ctx, Registry};
use crate::{Error, ImageName, Result};

/// A registry's bearer token service, as its challenge names it, vetted: an HTTP(S) URL,
/// and HTTPS unless it is on loopback or marked insecure when credentials go to it.
pub(super) struct TokenService {
    realm: reqwest::Url,
    service: Option<String>,
}

impl Registry {
    /// The bearer token service `GET /v2/` points to; `None` when the registry answers
    /// without a bearer challenge (it is open, or wants HTTP basic auth). A realm that is
    /// not an HTTP(S) URL is refused, and so is a plain-HTTP one on a host neither on
    /// loopback nor marked insecure when `with_credentials`.
    ///
    /// The challenge of the session's ping of the host is used when there was one (one
    /// `GET /v2/` per host and session, however many repositories).
    pub(super) async fn token_service(&self, ctx: &Ctx<'_>, with_credentials: bool) -> Result<Option<TokenService>> {
        let host = ctx.name.registry();
        let pinged = self.pinged.lock().await.get(host).cloned();
        let challenge = match pinged {
            Some(challenge) => challenge,
            None => {
                let http = self.http(ctx)?;
                let url = format!("{}/v2/", self.base_url(host));
                let response = http.get(&url).send().await.map_err(|e| self.fail(ctx, None, self.transport(&e)))?;
                response
                    .headers()
                    .get(reqwest::header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_bearer_challenge)
            }
        };
        let Some((realm, service)) = challenge else {
            return Ok(None);
        };
        let realm = self.vet_realm(ctx, &realm, with_credentials)?;
        Ok(Some(TokenService { realm, service }))
    }

    /// Checks a token realm before anything is sent to it.
    pub(super) fn vet_realm(&self, ctx: &Ctx<'_>, realm: &str, with_credentials: bool) -> Result<reqwest::Url> {
        let refuse = |why: String| self.fail(ctx, None, format!("refusing the token service {realm:?}: {why}"));
        let url = reqwest::Url::parse(realm).map_err(|e| refuse(format!("not a URL ({e})")))?;
        match url.scheme() {
            "https" => Ok(url),
            "http" => {
                let host = url.host_str().unwrap_or_default();
                let host_port = url.port().map_or_else(|| host.to_owned(), |p| format!("{host}:{p}"));
                if !with_credentials || self.is_plain_http(&host_port) || self.is_plain_http(host) {
                    Ok(url)
                } else {
                    Err(refuse(format!(
                        "credentials are never sent over plain HTTP to {host_port}, which is neither on loopback nor \
                         marked insecure"
                    )))
                }
            }
            other => Err(refuse(format!("{other}: is not an HTTP scheme"))),
        }
    }

    /// Asks `service` for a token with `scopes`, with `auth`'s credentials.
    /// Transient failures are retried; the answer is read under [`crate::Limits::max_json_bytes`].
    pub(super) async fn fetch_token(
        &self,
        ctx: &Ctx<'_>,
        service: &TokenService,
        scopes: &[String],
        auth: &RegistryAuth,
    ) -> Result<String> {
        let http = self.http(ctx)?;
        let mut query: Vec<(&str, &str)> = scopes.iter().map(|s| ("scope", s.as_str())).collect();
        if let Some(s) = &service.service {
            query.push(("service", s));
        }
        if let RegistryAuth::Basic(user, _) = auth {
            query.push(("account", user));
        }
        self.token_request(ctx, service, || {
            let request = http.get(service.realm.clone()).query(&query);
            match auth {
                RegistryAuth::Basic(u, p) => request.basic_auth(u, Some(p)),
                RegistryAuth::Bearer(t) => request.bearer_auth(t),
                _ => request,
            }
        })
        .await
    }

    /// Trades an identity token (an OAuth2 refresh token, as `docker login` stores for
    /// some registries) for an access token scoped to the repository.
    pub(super) async fn exchange_identity_token(
        &self,
        ctx: &Ctx<'_>,
        service: &TokenService,
        refresh_token: &str,
        push: bool,
    ) -> Result<String> {
        let http = self.http(ctx)?;
        let scope = format!("repository:{}:{}", ctx.name.repository(), if push { "pull,push" } else { "pull" });
        let mut params = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", "oci-harden"),
            ("scope", scope.as_str()),
        ];
        if let Some(s) = &service.service {
            params.push(("service", s.as_str()));
        }
        let body = reqwest::Url::parse_with_params("http://form.invalid/", &params)
            .map_err(|e| self.fail(ctx, None, e.to_string()))?
            .query()
            .unwrap_or_default()
            .to_owned();
        self.token_request(ctx, service, || {
            http.post(service.realm.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body.clone())
        })
        .await
        .map_err(|e| match e {
            Error::AuthenticationRequired { registry, repository, what, detail } => Error::AuthenticationRequired {
                registry,
                repository,
                what,
                detail: format!("the identity token was refused: {detail}"),
            },
            other => other,
        })
    }

    /// Sends what `request` builds to the token service (again after transient failures)
    /// and returns the `token` (or `access_token`) of its JSON answer.
    async fn token_request(
        &self,
        ctx: &Ctx<'_>,
        service: &TokenService,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<String> {
        let realm = &service.realm;
        let limit = self.options().limits.max_json_bytes;
        let policy = self.options().retry;
        let mut attempt = 1;
        loop {
            let (status, message) = match request().send().await {
                Err(e) => (None, self.transport(&e)),
                Ok(response) if response.status().is_success() => match read_bounded(response, limit).await {
                    Ok(body) => return self.token_from(ctx, realm, &body),
                    Err(BodyError::TooLarge) => {
                        return Err(Error::TooLarge {
                            what: format!("the answer of the token service {realm} for {}", ctx.name.registry()),
                            limit,
                            hint: " (Limits::max_json_bytes)",
                        });
                    }
                    Err(BodyError::Transport(e)) => (None, self.transport(&e)),
                },
                Ok(response) => (Some(response.status().as_u16()), String::new()),
            };
            let transient = status.is_none_or(|c| matches!(c, 408 | 429 | 500 | 502 | 503 | 504));
            if transient && attempt < policy.attempts {
                tokio::time::sleep(policy.delay(attempt, Duration::ZERO)).await;
                attempt += 1;
                continue;
            }
            return Err(match status {
                Some(code @ (401 | 403)) => {
                    self.auth_failed(ctx, format!("the token service {realm} refused the credentials (HTTP {code})"))
                }
                Some(code) => self.fail(ctx, Some(code), format!("token service {realm}")),
                None => {
                    self.fail(ctx, None, format!("token service {realm}: {message}; gave up after {attempt} attempts"))
                }
            });
        }
    }

    fn token_from(&self, ctx: &Ctx<'_>, realm: &reqwest::Url, body: &[u8]) -> Result<String> {
        let json: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| self.fail(ctx, None, format!("token service {realm} answered garbage: {e}")))?;
        json.get("token")
            .or_else(|| json.get("access_token"))
            .and_then(serde_json::Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| self.fail(ctx, None, format!("token service {realm} answered without a token")))
    }

    /// A bearer token for pushing to `name` and pulling from `from`, from the registry's
    /// token service, with the session's credentials. `None` when it cannot be had.
    pub(super) async fn two_scope_token(
        &self,
        ctx: &Ctx<'_>,
        name: &ImageName,
        from: &ImageName,
        auth: &RegistryAuth,
    ) -> Option<String> {
        let with_credentials = !matches!(auth, RegistryAuth::Anonymous);
        let service = self.token_service(ctx, with_credentials).await.ok()??;
        let scopes =
            [format!("repository:{}:pull,push", name.repository()), format!("repository:{}:pull", from.repository())];
        self.fetch_token(ctx, &service, &scopes, auth).await.ok()
    }
}

/// `Bearer realm="…",service="…"` → (realm, service).
pub(super) fn parse_bearer_challenge(header: &str) -> Option<(String, Option<String>)> {
    let rest = header.trim().strip_prefix("Bearer ").or_else(|| header.trim().strip_prefix("bearer "))?;
    let mut realm = None;
    let mut service = None;
    for part in split_params(rest) {
        let (k, v) = part.split_once('=')?;
        let v = v.trim().trim_matches('"').to_owned();
        match k.trim() {
            "realm" => realm = Some(v),
            "service" => service = Some(v),
            _ => {}
        }
    }
    Some((realm?, service))
}

/// Splits `a="x,y",b=z` at commas outside quotes.
fn split_params(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges() {
        let (realm, service) = parse_bearer_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a,b:pull""#,
        )
        .unwrap();
        assert_eq!(realm, "https://auth.docker.io/token");
        assert_eq!(service.as_deref(), Some("registry.docker.io"));
        assert!(parse_bearer_challenge(r#"Basic realm="x""#).is_none());
    }
}
