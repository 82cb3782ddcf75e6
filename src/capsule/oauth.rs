//! Capsule's OAuth 2.0 endpoints (authorization code with `state` and PKCE, refresh, revoke),
//! through the `oauth2` crate with reqwest 0.13 as its HTTP client.
//!
//! The authorise and token URLs follow the API URL's origin, so the sandbox Capsule serves the
//! same flow as the real one.

use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ExtraTokenFields, HttpRequest, HttpResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RefreshToken, RequestTokenError, RevocationUrl, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenResponse, TokenUrl,
    basic::{
        BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse,
        BasicTokenIntrospectionResponse, BasicTokenType,
    },
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::CapsuleError;

/// Capsule adds the account's `subdomain` to token responses.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CapsuleTokenFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdomain: Option<String>,
}
impl ExtraTokenFields for CapsuleTokenFields {}

type CapsuleTokenResponse = StandardTokenResponse<CapsuleTokenFields, BasicTokenType>;
type Client = oauth2::Client<
    BasicErrorResponse,
    CapsuleTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
    EndpointSet,
>;

/// A registered Capsule application and where its OAuth endpoints are.
#[derive(Debug, Clone)]
pub struct OAuthApp {
    pub client_id: String,
    pub client_secret: SecretString,
    pub authorize_url: String,
    pub token_url: String,
    pub revoke_url: String,
}

impl OAuthApp {
    /// Endpoints at the origin of `api_url` (`https://api.capsulecrm.com/oauth/...`).
    pub fn for_api_url(
        api_url: &str,
        client_id: String,
        client_secret: SecretString,
    ) -> Result<Self, CapsuleError> {
        let url = url::Url::parse(api_url)
            .map_err(|e| CapsuleError::Config(format!("bad API URL `{api_url}`: {e}")))?;
        let origin = url.origin().ascii_serialization();
        if client_id.trim().is_empty() {
            return Err(CapsuleError::Config(
                "no OAuth client id: set CAPSULE_CLIENT_ID or pass --client-id".into(),
            ));
        }
        if client_secret.expose_secret().trim().is_empty() {
            return Err(CapsuleError::Config(
                "no OAuth client secret: set CAPSULE_CLIENT_SECRET or pass --client-secret".into(),
            ));
        }
        Ok(Self {
            client_id,
            client_secret,
            authorize_url: format!("{origin}/oauth/authorise"),
            token_url: format!("{origin}/oauth/token"),
            revoke_url: format!("{origin}/oauth/token/revoke"),
        })
    }

    fn client(&self) -> Result<Client, CapsuleError> {
        let bad = |e: url::ParseError| CapsuleError::Config(format!("bad OAuth URL: {e}"));
        Ok(oauth2::Client::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                self.client_secret.expose_secret().to_owned(),
            ))
            // Capsule documents client_id and client_secret in the form body.
            .set_auth_type(AuthType::RequestBody)
            .set_auth_uri(AuthUrl::new(self.authorize_url.clone()).map_err(bad)?)
            .set_token_uri(TokenUrl::new(self.token_url.clone()).map_err(bad)?)
            .set_revocation_url(RevocationUrl::new(self.revoke_url.clone()).map_err(bad)?))
    }
}

/// Tokens as Capsule issued them.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    /// Seconds until the access token expires.
    pub expires_in: Option<u64>,
    pub scope: Option<String>,
    pub subdomain: Option<String>,
}

/// The URL to send the user to, and what to check when Capsule sends them back.
pub struct Authorization {
    pub url: String,
    pub state: String,
    pub verifier: PkceCodeVerifier,
}

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The grant (code or refresh token) is invalid, expired or revoked.
    #[error("Capsule refused the grant ({0})")]
    InvalidGrant(String),
    #[error("{0}")]
    Other(String),
}

pub fn authorize(
    app: &OAuthApp,
    redirect_uri: &str,
    scope: &str,
) -> Result<Authorization, CapsuleError> {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let redirect = RedirectUrl::new(redirect_uri.to_owned())
        .map_err(|e| CapsuleError::Config(format!("bad redirect URI: {e}")))?;
    let client = app.client()?.set_redirect_uri(redirect);
    let mut req = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge);
    for s in scope.split_whitespace() {
        req = req.add_scope(Scope::new(s.to_owned()));
    }
    let (url, state) = req.url();
    Ok(Authorization {
        url: url.to_string(),
        state: state.secret().clone(),
        verifier,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum HttpFailure {
    #[error("{0}")]
    Request(#[from] reqwest::Error),
    #[error("{0}")]
    Response(#[from] oauth2::http::Error),
}

async fn send(http: &reqwest::Client, req: HttpRequest) -> Result<HttpResponse, HttpFailure> {
    let (parts, body) = req.into_parts();
    let resp = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut out = oauth2::http::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        out = out.header(k, v);
    }
    Ok(out.body(resp.bytes().await?.to_vec())?)
}

/// A sender whose futures own their client, so they are `Send` for any lifetime.
fn owned_sender(
    http: &reqwest::Client,
) -> impl Fn(
    HttpRequest,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<HttpResponse, HttpFailure>> + Send>,
> {
    let http = http.clone();
    move |req: HttpRequest| {
        let http = http.clone();
        Box::pin(async move { send(&http, req).await })
    }
}

/// An HTTP client for the token endpoint: no redirects (the oauth2 docs' SSRF advice).
pub fn http_client() -> Result<reqwest::Client, CapsuleError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| CapsuleError::Config(format!("cannot build the HTTP client: {e}")))
}

fn map_error<RE: std::error::Error + 'static>(
    e: RequestTokenError<RE, BasicErrorResponse>,
) -> OAuthError {
    match e {
        RequestTokenError::ServerResponse(r) => {
            let text = r
                .error_description()
                .cloned()
                .unwrap_or_else(|| r.error().to_string());
            match r.error() {
                BasicErrorResponseType::InvalidGrant => OAuthError::InvalidGrant(text),
                _ => OAuthError::Other(format!("Capsule refused the request: {text}")),
            }
        }
        RequestTokenError::Request(e) => OAuthError::Other(format!("cannot reach Capsule: {e}")),
        RequestTokenError::Parse(e, _) => {
            OAuthError::Other(format!("Capsule's token answer was not understood: {e}"))
        }
        RequestTokenError::Other(e) => OAuthError::Other(e),
    }
}

fn issued(t: CapsuleTokenResponse) -> IssuedTokens {
    IssuedTokens {
        access_token: SecretString::from(t.access_token().secret().clone()),
        refresh_token: t
            .refresh_token()
            .map(|r| SecretString::from(r.secret().clone())),
        expires_in: t.expires_in().map(|d| d.as_secs()),
        scope: t.scopes().map(|s| {
            s.iter()
                .map(|x| x.as_str().to_owned())
                .collect::<Vec<_>>()
                .join(" ")
        }),
        subdomain: t.extra_fields().subdomain.clone(),
    }
}

pub async fn exchange_code(
    app: &OAuthApp,
    http: &reqwest::Client,
    code: &str,
    verifier: PkceCodeVerifier,
    redirect_uri: &str,
) -> Result<IssuedTokens, OAuthError> {
    let redirect = RedirectUrl::new(redirect_uri.to_owned())
        .map_err(|e| OAuthError::Other(format!("bad redirect URI: {e}")))?;
    let client = app
        .client()
        .map_err(|e| OAuthError::Other(e.to_string()))?
        .set_redirect_uri(redirect);
    let http_fn = owned_sender(http);
    client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(verifier)
        .request_async(&http_fn)
        .await
        .map(issued)
        .map_err(map_error)
}

pub async fn refresh(
    app: &OAuthApp,
    http: &reqwest::Client,
    refresh_token: &SecretString,
) -> Result<IssuedTokens, OAuthError> {
    let client = app.client().map_err(|e| OAuthError::Other(e.to_string()))?;
    let http_fn = owned_sender(http);
    let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
    client
        .exchange_refresh_token(&token)
        .request_async(&http_fn)
        .await
        .map(issued)
        .map_err(map_error)
}

/// Revokes a token where Capsule allows it: `POST /oauth/token/revoke` with `token=` (sent
/// directly: the oauth2 crate only revokes over https, and the sandbox speaks http).
pub async fn revoke(
    app: &OAuthApp,
    http: &reqwest::Client,
    token: &SecretString,
) -> Result<(), OAuthError> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", token.expose_secret())
        .append_pair("client_id", &app.client_id)
        .append_pair("client_secret", app.client_secret.expose_secret())
        .finish();
    let resp = http
        .post(&app.revoke_url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| OAuthError::Other(format!("cannot reach Capsule: {e}")))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(OAuthError::Other(format!(
            "Capsule answered {}",
            resp.status()
        )))
    }
}
