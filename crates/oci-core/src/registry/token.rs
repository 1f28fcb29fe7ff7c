//! Bearer tokens: parsing a registry's `WWW-Authenticate` challenge, trading an identity
//! token (an OAuth2 refresh token) for an access token, and asking the token service for
//! a token scoped to two repositories (a cross-repository mount).

use oci_client::secrets::RegistryAuth;

use super::client::{Ctx, Registry};
use crate::{ImageName, Result};

impl Registry {
    /// Trades an identity token (an OAuth2 refresh token, as `docker login` stores for
    /// some registries) for an access token scoped to the repository.
    pub(super) async fn exchange_identity_token(
        &self,
        ctx: &Ctx<'_>,
        refresh_token: &str,
        push: bool,
    ) -> Result<String> {
        let host = ctx.name.registry();
        let scheme = if self.is_plain_http(host) { "http" } else { "https" };
        let http = self.http(ctx)?;
        let probe = http
            .get(format!("{scheme}://{host}/v2/"))
            .send()
            .await
            .map_err(|e| self.fail(ctx, e.status().map(|s| s.as_u16()), e.to_string()))?;
        let challenge = probe
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_bearer_challenge)
            .ok_or_else(|| {
                self.fail(
                    ctx,
                    Some(probe.status().as_u16()),
                    "the registry offers no bearer token service for the identity token".into(),
                )
            })?;
        let scope = format!("repository:{}:{}", ctx.name.repository(), if push { "pull,push" } else { "pull" });
        let mut params = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", "oci-harden"),
            ("scope", scope.as_str()),
        ];
        if let Some(service) = &challenge.1 {
            params.push(("service", service.as_str()));
        }
        let body = reqwest::Url::parse_with_params("http://form.invalid/", &params)
            .map_err(|e| self.fail(ctx, None, e.to_string()))?
            .query()
            .unwrap_or_default()
            .to_owned();
        let response = http
            .post(&challenge.0)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| self.fail(ctx, None, format!("token service {}: {e}", challenge.0)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(self.auth_failed(
                ctx,
                format!("the token service {} refused the identity token (HTTP {})", challenge.0, status.as_u16()),
            ));
        }
        let json: serde_json::Value =
            response.json().await.map_err(|e| self.fail(ctx, None, format!("token service answered garbage: {e}")))?;
        json.get("access_token")
            .or_else(|| json.get("token"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| self.fail(ctx, None, "token service answered without an access token".into()))
    }

    /// A bearer token for pushing to `name` and pulling from `from`, from the registry's
    /// token service, with the session's credentials. `None` when it cannot be had.
    pub(super) async fn two_scope_token(
        &self,
        http: &reqwest::Client,
        scheme: &str,
        name: &ImageName,
        from: &ImageName,
        auth: &RegistryAuth,
    ) -> Option<String> {
        let probe = http.get(format!("{scheme}://{}/v2/", name.registry())).send().await.ok()?;
        let (realm, service) = probe
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_bearer_challenge)?;
        let mut query = vec![
            ("scope", format!("repository:{}:pull,push", name.repository())),
            ("scope", format!("repository:{}:pull", from.repository())),
        ];
        if let Some(s) = service {
            query.push(("service", s));
        }
        let mut request = http.get(&realm).query(&query);
        match auth {
            RegistryAuth::Basic(u, p) => request = request.basic_auth(u, Some(p)),
            RegistryAuth::Bearer(t) => request = request.bearer_auth(t),
            _ => {}
        }
        let response = request.send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        let json: serde_json::Value = response.json().await.ok()?;
        json.get("token").or_else(|| json.get("access_token")).and_then(serde_json::Value::as_str).map(str::to_owned)
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
