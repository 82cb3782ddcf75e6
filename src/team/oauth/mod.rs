//! The team server's OAuth 2.1 authorization server (`capsule-mcp http --oauth`), as the MCP
//! authorization specification (2025-11-25) describes it, in front of Capsule's own OAuth.
//!
//! An MCP client discovers the server ([`metadata`]), registers ([`clients`]) or names itself
//! by the URL of its client ID metadata document ([`cimd`]), and sends its
//! person to `/authorize` ([`authorize`]), which shows a consent page naming the client
//! ([`consent`]) and then sends them on to Capsule's `/oauth/authorise` with the server's own
//! Capsule application. Capsule's redirect comes back to `/oauth/callback` ([`callback`]): the
//! server stores the person's Capsule tokens (sealed) and redirects to the MCP client with its
//! own one-use code, which `/token` ([`token`]) trades for MCP tokens bound to `{public}/mcp`.
//! `/mcp` verifies them ([`bearer`]); `/revoke` ([`revoke`]) ends them.
//!
//! What the store holds (keys under `oauth:`): registered clients, validated metadata
//! documents for a few minutes, one-use consent
//! transactions and flows (sealed: they carry a PKCE verifier), codes and tokens only as
//! [`token_hash`](super::seal::token_hash)es. No Capsule token ever reaches an MCP client and
//! no MCP token ever reaches Capsule.

pub mod authorize;
pub mod bearer;
pub mod callback;
pub mod cimd;
pub mod clients;
pub mod consent;
pub mod metadata;
pub mod revoke;
pub mod token;

mod form;

use std::{sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{HeaderValue, StatusCode, header},
    response::Response,
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::json;

use super::{
    seal::Sealer,
    store::{StateStore, StoreError},
};
use crate::capsule::{ClientOptions, oauth::OAuthApp};

/// The scopes an MCP client may ask for; they are asked of Capsule as they are.
pub const SCOPES: [&str; 2] = ["read", "write"];

/// What the authorization server is built from.
pub struct AuthSettings {
    /// The base URL clients reach (checked by [`public_url`]).
    pub public_url: String,
    /// The server's own Capsule application.
    pub capsule: OAuthApp,
    /// How to reach Capsule's API (for `/users/current` after a login).
    pub client_options: ClientOptions,
    /// Lifetime of MCP access tokens.
    pub access_ttl: Duration,
    /// Lifetime of MCP refresh tokens.
    pub refresh_ttl: Duration,
    /// Whether client ID metadata documents may be fetched from loopback addresses (local
    /// tests and `--sandbox`; off otherwise, see [`cimd`]).
    pub allow_loopback_client_ids: bool,
}

/// The authorization server's state: settings, the store and the sealing key.
pub struct AuthServer {
    /// `https://mcp.example.com`, without a trailing slash: the issuer.
    public: String,
    /// `{public}/mcp`: the only audience tokens are issued for.
    resource: String,
    capsule: OAuthApp,
    client_options: ClientOptions,
    access_ttl: Duration,
    refresh_ttl: Duration,
    store: Arc<dyn StateStore>,
    sealer: Arc<Sealer>,
    /// For Capsule's token endpoint: no redirects.
    http: reqwest::Client,
    /// Fetches client ID metadata documents, guarded against reaching private addresses.
    documents: cimd::Fetcher,
}

impl std::fmt::Debug for AuthServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServer")
            .field("public", &self.public)
            .field("store", &self.store.describe())
            .finish_non_exhaustive()
    }
}

impl AuthServer {
    pub fn new(
        settings: AuthSettings,
        store: Arc<dyn StateStore>,
        sealer: Arc<Sealer>,
    ) -> Result<Arc<Self>, String> {
        let public = public_url(&settings.public_url)?;
        let http = crate::capsule::oauth::http_client().map_err(|e| e.to_string())?;
        let documents = cimd::Fetcher::new(settings.allow_loopback_client_ids)?;
        Ok(Arc::new(Self {
            resource: format!("{public}/mcp"),
            public,
            capsule: settings.capsule,
            client_options: settings.client_options,
            access_ttl: settings.access_ttl,
            refresh_ttl: settings.refresh_ttl,
            store,
            sealer,
            http,
            documents,
        }))
    }

    /// The issuer: the public base URL without a trailing slash.
    pub fn issuer(&self) -> &str {
        &self.public
    }

    /// `{public}/mcp`, the audience of every token this server issues.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// Where `/mcp`'s 401 points clients: the protected resource metadata of `/mcp`.
    pub fn resource_metadata_url(&self) -> String {
        format!("{}/.well-known/oauth-protected-resource/mcp", self.public)
    }

    /// Where Capsule sends the person back.
    fn callback_url(&self) -> String {
        format!("{}/oauth/callback", self.public)
    }

    async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        match self.store.get(key).await? {
            Some(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            None => Ok(None),
        }
    }

    async fn take_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        match self.store.take(key).await? {
            Some(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            None => Ok(None),
        }
    }

    async fn put_json<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| StoreError(format!("cannot encode a value: {e}")))?;
        self.store.put(key, bytes, ttl).await
    }

    /// Stores `value` sealed under `key` (it carries a secret, such as a PKCE verifier).
    async fn put_sealed<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| StoreError(format!("cannot encode a value: {e}")))?;
        self.store
            .put(key, self.sealer.seal(key, &bytes), Some(ttl))
            .await
    }

    /// Takes (one use) what [`Self::put_sealed`] stored.
    async fn take_sealed<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        let Some(sealed) = self.store.take(key).await? else {
            return Ok(None);
        };
        let Ok(plain) = self.sealer.open(key, &sealed) else {
            return Ok(None);
        };
        Ok(serde_json::from_slice(&plain).ok())
    }
}

/// Checks the public base URL and returns it without a trailing slash: https, or http on a
/// loopback host (local tries and tests); no user name, query, fragment or path.
pub fn public_url(raw: &str) -> Result<String, String> {
    const WHAT: &str = "CAPSULE_MCP_PUBLIC_URL (--public-url)";
    let url = url::Url::parse(raw.trim()).map_err(|e| {
        format!("{WHAT} is not a URL ({e}): set it to the https base URL clients reach, e.g. https://mcp.example.com")
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{WHAT} must not contain a user name or password"));
    }
    if url.query().is_some() || url.fragment().is_some() || url.path() != "/" {
        return Err(format!(
            "{WHAT} must be a bare origin such as https://mcp.example.com (no path, query or \
             fragment): MCP is served at its /mcp"
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if clients::is_loopback(&url) => {}
        _ => {
            return Err(format!(
                "{WHAT} must use https (http is accepted only on a loopback host such as \
                 127.0.0.1, for trying the server locally): OAuth tokens must not cross a \
                 network in clear"
            ));
        }
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn no_store(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

/// A JSON answer (`Cache-Control: no-store`).
fn json_answer(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    no_store(r)
}

/// An OAuth error answer (RFC 6749 §5.2).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_answer(
        status,
        &json!({ "error": error, "error_description": description }),
    )
}

/// The store could not answer: say so without details a client cannot act on.
fn store_failed(e: &StoreError) -> Response {
    tracing::error!(error = %e, "the state store failed during OAuth");
    oauth_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the server's state store is not answering; try again shortly",
    )
}

/// A 302 to `location`.
fn redirect(location: &str) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::FOUND;
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    no_store(r)
}

/// `redirect_uri` with `pairs` added to its query.
fn with_query(redirect_uri: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(mut u) => {
            u.query_pairs_mut().extend_pairs(pairs);
            u.to_string()
        }
        Err(_) => redirect_uri.to_owned(),
    }
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An HTML page that may not be framed or cached.
fn html_page(status: StatusCode, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    no_store(r)
}

/// An error page for the person in the browser (never a redirect: the redirect URI is not
/// trusted when this is shown).
fn error_page(status: StatusCode, message: &str) -> Response {
    html_page(
        status,
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>capsule-mcp: sign-in \
             failed</title></head><body><h1>Sign-in failed</h1><p>{}</p></body></html>",
            html_escape(message)
        ),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub(crate) mod tests {
    use std::sync::Arc;

    use base64::Engine as _;
    use secrecy::SecretString;

    use super::*;
    use crate::team::store::MemoryStore;

    /// An authorization server over a fresh memory store (Capsule unreachable).
    pub(crate) fn server() -> (Arc<AuthServer>, Arc<MemoryStore>) {
        let store = Arc::new(MemoryStore::new());
        (server_on(store.clone()), store)
    }

    /// An authorization server over `store` (Capsule unreachable).
    pub(crate) fn server_on(store: Arc<dyn StateStore>) -> Arc<AuthServer> {
        let key = SecretString::from(base64::engine::general_purpose::STANDARD.encode([9u8; 32]));
        let capsule = OAuthApp::for_api_url(
            "http://127.0.0.1:9/api/v2",
            "app".into(),
            SecretString::from("app-secret"),
        )
        .unwrap();
        AuthServer::new(
            AuthSettings {
                public_url: "https://mcp.example.com/".into(),
                capsule,
                client_options: ClientOptions::default(),
                access_ttl: Duration::from_secs(3600),
                refresh_ttl: Duration::from_secs(86_400),
                allow_loopback_client_ids: true,
            },
            store,
            Arc::new(Sealer::from_base64(&key).unwrap()),
        )
        .unwrap()
    }

    #[test]
    fn public_urls_are_https_or_loopback_origins() {
        assert_eq!(
            public_url("https://mcp.example.com/").unwrap(),
            "https://mcp.example.com"
        );
        assert_eq!(
            public_url("http://127.0.0.1:8787").unwrap(),
            "http://127.0.0.1:8787"
        );
        assert_eq!(
            public_url("http://localhost:1").unwrap(),
            "http://localhost:1"
        );
        for bad in [
            "http://mcp.example.com",
            "https://mcp.example.com/mcp",
            "https://u:p@mcp.example.com",
            "https://mcp.example.com/?x=1",
            "ftp://127.0.0.1",
            "not a url",
        ] {
            assert!(public_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            html_escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
