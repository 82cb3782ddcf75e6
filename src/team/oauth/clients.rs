//! MCP clients: dynamic registration (RFC 7591), the redirect URIs they may use (exact, with
//! loopback redirects on any port, RFC 8252 §7.3), and client authentication at `/token` and
//! `/revoke` (none, `client_secret_post`, `client_secret_basic`).

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::Response,
};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use subtle::ConstantTimeEq as _;

use super::{AuthServer, cimd, form::Params, json_answer, now, oauth_error, store_failed};
use crate::team::{
    seal::{random_secret, token_hash},
    store::StoreError,
};

const MAX_REDIRECT_URIS: usize = 10;
const MAX_URI_LEN: usize = 2000;
const MAX_NAME_LEN: usize = 200;

/// A registered client, as stored under [`client_key`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientRecord {
    pub client_id: String,
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    /// `none`, `client_secret_post` or `client_secret_basic`.
    pub auth_method: String,
    /// The secret's [`token_hash`], for confidential clients.
    pub secret_hash: Option<String>,
    pub issued_at: i64,
}

impl ClientRecord {
    /// What the consent page calls the client.
    pub fn display_name(&self) -> &str {
        self.client_name.as_deref().unwrap_or(&self.client_id)
    }

    /// For a client described by a metadata document: the host serving it (its `client_id`'s),
    /// the one thing about the client that is not self-asserted.
    pub fn document_host(&self) -> Option<String> {
        if !cimd::is_document_url(&self.client_id) {
            return None;
        }
        let url = url::Url::parse(&self.client_id).ok()?;
        let host = url.host_str()?;
        Some(match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        })
    }

    /// The registered redirect URI `given` matches, if any.
    pub fn redirect_for(&self, given: &str) -> Option<&str> {
        self.redirect_uris
            .iter()
            .find(|r| redirect_matches(r, given))
            .map(String::as_str)
    }
}

pub fn client_key(client_id: &str) -> String {
    format!("oauth:client:{client_id}")
}

/// A loopback host: `localhost`, 127.0.0.0/8 or `::1`.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A redirect URI a client may register: absolute https, or http on a loopback host; no
/// fragment (RFC 6749 §3.1.2), no user name.
pub fn check_redirect_uri(raw: &str) -> Result<(), String> {
    if raw.len() > MAX_URI_LEN {
        return Err("a redirect URI is longer than 2000 characters".into());
    }
    let url =
        url::Url::parse(raw).map_err(|e| format!("redirect URI {raw:?} is not a URL: {e}"))?;
    if url.fragment().is_some() || raw.contains('#') {
        return Err(format!("redirect URI {raw:?} must not have a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("redirect URI {raw:?} must not carry a user name"));
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        _ => Err(format!(
            "redirect URI {raw:?} must use https, or http on a loopback address such as \
             http://127.0.0.1:PORT/callback"
        )),
    }
}

/// Whether `given` is the registered redirect URI: exactly equal, or (RFC 8252 §7.3) both are
/// http loopback URIs that differ only in the port.
pub fn redirect_matches(registered: &str, given: &str) -> bool {
    if registered == given {
        return true;
    }
    let (Ok(r), Ok(g)) = (url::Url::parse(registered), url::Url::parse(given)) else {
        return false;
    };
    r.scheme() == "http"
        && g.scheme() == "http"
        && is_loopback(&r)
        && r.host() == g.host()
        && r.path() == g.path()
        && r.query() == g.query()
        && g.fragment().is_none()
        && g.username().is_empty()
        && g.password().is_none()
}

/// The redirect URIs a client lists (at registration or in its metadata document): 1 to 10,
/// each one [`check_redirect_uri`] accepts; else the OAuth error code and what is wrong.
pub fn check_redirect_uris(uris: &[String]) -> Result<(), (&'static str, String)> {
    if uris.is_empty() || uris.len() > MAX_REDIRECT_URIS {
        return Err((
            "invalid_redirect_uri",
            "list between 1 and 10 redirect_uris".into(),
        ));
    }
    for uri in uris {
        check_redirect_uri(uri).map_err(|e| ("invalid_redirect_uri", e))?;
    }
    Ok(())
}

/// `grant_types` and `response_types` this server can serve: the code flow and refreshes.
pub fn check_flows(grant_types: &[String], response_types: &[String]) -> Result<(), &'static str> {
    if grant_types
        .iter()
        .any(|g| g != "authorization_code" && g != "refresh_token")
    {
        return Err("grant_types may list only authorization_code and refresh_token");
    }
    if response_types.iter().any(|r| r != "code") {
        return Err("response_types may list only code");
    }
    Ok(())
}

/// A client's self-chosen name, without control characters and at most 200 characters; none
/// when blank.
pub fn clean_name(name: Option<String>) -> Option<String> {
    name.map(|n| {
        n.chars()
            .filter(|c| !c.is_control())
            .take(MAX_NAME_LEN)
            .collect::<String>()
    })
    .filter(|n| !n.trim().is_empty())
}

#[derive(Debug, Deserialize)]
struct RegistrationRequest {
    redirect_uris: Option<Vec<String>>,
    client_name: Option<String>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    scope: Option<String>,
}

fn invalid_metadata(error: &str, description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, error, description)
}

/// `POST /register` (RFC 7591): a JSON client metadata document in, 201 with the client id
/// (and a secret, once, for confidential clients) out.
pub async fn register(State(server): State<Arc<AuthServer>>, body: Bytes) -> Response {
    let req: RegistrationRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return invalid_metadata(
                "invalid_client_metadata",
                &format!("the registration body must be a JSON client metadata document: {e}"),
            );
        }
    };
    let redirect_uris = req.redirect_uris.unwrap_or_default();
    if let Err((error, description)) = check_redirect_uris(&redirect_uris) {
        return invalid_metadata(error, &description);
    }
    let auth_method = req
        .token_endpoint_auth_method
        .unwrap_or_else(|| "client_secret_basic".into());
    if !["none", "client_secret_post", "client_secret_basic"].contains(&auth_method.as_str()) {
        return invalid_metadata(
            "invalid_client_metadata",
            "token_endpoint_auth_method must be none, client_secret_post or client_secret_basic",
        );
    }
    let grant_types = req
        .grant_types
        .unwrap_or_else(|| vec!["authorization_code".into()]);
    let response_types = req.response_types.unwrap_or_else(|| vec!["code".into()]);
    if let Err(e) = check_flows(&grant_types, &response_types) {
        return invalid_metadata("invalid_client_metadata", e);
    }
    let client_name = clean_name(req.client_name);
    let client_id = random_secret().expose_secret().to_owned();
    let secret = (auth_method != "none").then(random_secret);
    let record = ClientRecord {
        client_id: client_id.clone(),
        client_name,
        redirect_uris,
        auth_method,
        secret_hash: secret.as_ref().map(|s| token_hash(s.expose_secret())),
        issued_at: now(),
    };
    if let Err(e) = server
        .put_json(&client_key(&client_id), &record, None)
        .await
    {
        return store_failed(&e);
    }
    tracing::info!(client = ?record.client_name, "registered an MCP client");
    let mut body = json!({
        "client_id": client_id,
        "client_id_issued_at": record.issued_at,
        "redirect_uris": record.redirect_uris,
        "token_endpoint_auth_method": record.auth_method,
        "grant_types": grant_types,
        "response_types": response_types,
    });
    if let Some(name) = &record.client_name {
        body["client_name"] = json!(name);
    }
    if let Some(scope) = req.scope {
        body["scope"] = json!(scope);
    }
    if let Some(secret) = &secret {
        body["client_secret"] = json!(secret.expose_secret());
        body["client_secret_expires_at"] = json!(0);
    }
    json_answer(StatusCode::CREATED, &body)
}

/// What a `client_id` names.
pub enum Found {
    Client(ClientRecord),
    /// No registered client has this id (and it is not a metadata document URL).
    Unknown,
    /// The id is a metadata document URL, but the document cannot be fetched or used: why,
    /// for the person or the client's publisher.
    Refused(String),
    StoreFailed(StoreError),
}

/// The client `client_id` names: a registered one, or (when the id is an https URL) the one
/// its client ID metadata document describes ([`cimd`]).
pub(super) async fn find(server: &AuthServer, client_id: &str) -> Found {
    if cimd::is_document_url(client_id) {
        return match cimd::client(server, client_id).await {
            Ok(record) => Found::Client(record),
            Err(cimd::Refusal::Invalid(why)) => Found::Refused(why),
            Err(cimd::Refusal::Store(e)) => Found::StoreFailed(e),
        };
    }
    match server
        .get_json::<ClientRecord>(&client_key(client_id))
        .await
    {
        Ok(Some(r)) => Found::Client(r),
        Ok(None) => Found::Unknown,
        Err(e) => Found::StoreFailed(e),
    }
}

/// The client a request comes from, authenticated as it registered.
pub enum ClientAuth {
    Ok(ClientRecord),
    /// An answer to send instead (400 or 401).
    Refused(Response),
}

fn invalid_client(basic: bool, description: &str) -> Response {
    let mut r = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", description);
    if basic {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="capsule-mcp""#),
        );
    }
    r
}

/// `Authorization: Basic` credentials (RFC 6749 §2.3.1: each part form-urlencoded).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, SecretString)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .map(|c| c.into_owned())
            .ok()
    };
    Some((unescape(id)?, SecretString::from(unescape(secret)?)))
}

/// Authenticates the client of a `/token` or `/revoke` request.
pub(super) async fn authenticate(
    server: &AuthServer,
    headers: &HeaderMap,
    params: &Params,
) -> ClientAuth {
    let basic = basic_credentials(headers);
    let used_basic = basic.is_some();
    let (client_id, secret) = match basic {
        Some((id, secret)) => {
            if params.get("client_id").is_some_and(|b| b != id) {
                return ClientAuth::Refused(invalid_client(
                    true,
                    "client_id in the body differs from the Basic credentials",
                ));
            }
            (id, Some(secret))
        }
        None => match params.get("client_id") {
            Some(id) => (
                id.to_owned(),
                params
                    .get("client_secret")
                    .map(|s| SecretString::from(s.to_owned())),
            ),
            None => {
                return ClientAuth::Refused(invalid_client(
                    false,
                    "send client_id (and the client_secret of a confidential client)",
                ));
            }
        },
    };
    let record = match find(server, &client_id).await {
        Found::Client(r) => r,
        Found::Unknown => {
            return ClientAuth::Refused(invalid_client(
                used_basic,
                "unknown client_id: register the client again",
            ));
        }
        Found::Refused(why) => {
            return ClientAuth::Refused(invalid_client(
                used_basic,
                &format!("the client's metadata document at its client_id cannot be used: {why}"),
            ));
        }
        Found::StoreFailed(e) => return ClientAuth::Refused(store_failed(&e)),
    };
    if let Some(expected) = &record.secret_hash {
        let ok = secret.is_some_and(|s| {
            bool::from(
                token_hash(s.expose_secret())
                    .as_bytes()
                    .ct_eq(expected.as_bytes()),
            )
        });
        if !ok {
            return ClientAuth::Refused(invalid_client(
                used_basic,
                "the client_secret is missing or wrong",
            ));
        }
    }
    ClientAuth::Ok(record)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_https_or_loopback_http_without_fragments() {
        for ok in [
            "https://claude.ai/api/mcp/auth_callback",
            "http://127.0.0.1:33418/callback",
            "http://localhost/cb",
            "http://[::1]:9/cb?x=1",
        ] {
            assert_eq!(check_redirect_uri(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://example.com/cb",
            "https://example.com/cb#frag",
            "https://u:p@example.com/cb",
            "javascript:alert(1)",
            "/relative",
            "file:///etc/passwd",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redirects_match_exactly_except_loopback_ports() {
        let m = redirect_matches;
        assert!(m("https://a.example/cb", "https://a.example/cb"));
        assert!(!m("https://a.example/cb", "https://a.example/cb/"));
        assert!(!m("https://a.example/cb", "https://a.example:444/cb"));
        assert!(!m("https://a.example/cb", "https://a.example/cb?x=1"));
        assert!(m("http://127.0.0.1:1000/cb", "http://127.0.0.1:2000/cb"));
        assert!(m("http://127.0.0.1/cb", "http://127.0.0.1:2000/cb"));
        assert!(m("http://localhost:1/cb", "http://localhost:2/cb"));
        assert!(!m(
            "http://127.0.0.1:1000/cb",
            "http://127.0.0.1:1000/other"
        ));
        assert!(!m("http://127.0.0.1:1000/cb", "http://localhost:1000/cb"));
        assert!(!m("http://127.0.0.1:1000/cb", "http://127.0.0.2:1000/cb"));
        assert!(!m("http://127.0.0.1:1000/cb", "https://127.0.0.1:1000/cb"));
        assert!(!m("http://127.0.0.1:1/cb", "http://127.0.0.1:2/cb#x"));
        assert!(!m("http://127.0.0.1:1/cb", "http://u@127.0.0.1:2/cb"));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut h = HeaderMap::new();
        let v = base64::engine::general_purpose::STANDARD.encode("my%20id:s%3Acret");
        h.insert(header::AUTHORIZATION, format!("Basic {v}").parse().unwrap());
        let (id, secret) = basic_credentials(&h).unwrap();
        assert_eq!(id, "my id");
        assert_eq!(secret.expose_secret(), "s:cret");
    }
}
