//! OAuth 2.0 authorization-code flow, refresh with rotation, PKCE (S256 and plain) and
//! revocation.
//!
//! `/oauth/authorise` refuses a redirect URI the demo application did not register (see
//! [`SandboxOptions::redirect_uris`](super::SandboxOptions)), then approves as the demo user
//! the request names (`sandbox_user=ID`), denies (`sandbox_decision=deny`), shows a page to
//! choose a user when [`SandboxOptions::choose_user`](super::SandboxOptions) is on, or
//! approves at once as the admin user. The tokens act as the user who approved.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use base64::Engine;
use http::{HeaderValue, StatusCode, Uri};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Shared, json_response, now, seed};

#[derive(Debug, Clone)]
struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: Option<(String, String)>,
    expires: i64,
    /// The demo user who approved.
    user: i64,
}

#[derive(Debug, Default)]
pub(crate) struct OAuthState {
    codes: HashMap<String, Code>,
    /// access token → (user, expiry epoch seconds)
    access: HashMap<String, (i64, i64)>,
    /// refresh token → user
    refresh: HashMap<String, i64>,
}

impl OAuthState {
    /// The user an unexpired, unrevoked access token acts as.
    pub(crate) fn access_user(&self, token: &str, now: i64) -> Option<i64> {
        self.access
            .get(token)
            .filter(|(_, exp)| now < *exp)
            .map(|(u, _)| *u)
    }
}

fn random_token(len: usize) -> String {
    std::iter::repeat_with(fastrand::alphanumeric)
        .take(len)
        .collect::<String>()
        .to_lowercase()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        status,
        &json!({ "error": error, "error_description": description }),
    )
}

fn form(bytes: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn non_empty<'a>(m: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    m.get(k)
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
}

/// `GET /oauth/authorise`: approves at once and redirects back with a code.
pub(crate) async fn authorise(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    let q = form(uri.query().unwrap_or("").as_bytes());
    if q.get("response_type").map(String::as_str) != Some("code") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_response_type",
            "response_type must be code",
        );
    }
    let Some(client_id) = non_empty(&q, "client_id") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id is required",
        );
    };
    let Some(redirect) = non_empty(&q, "redirect_uri") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "redirect_uri is required",
        );
    };
    let Ok(mut target) = url::Url::parse(redirect) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "redirect_uri is not a valid URL",
        );
    };
    if !redirect_registered(&shared.opts.redirect_uris, &target) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "redirect_uri is not registered for this application",
        );
    }
    let challenge = match non_empty(&q, "code_challenge") {
        None => None,
        Some(c) => {
            let method = q
                .get("code_challenge_method")
                .cloned()
                .unwrap_or_else(|| "plain".into());
            if method != "S256" && method != "plain" {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "code_challenge_method must be S256 or plain",
                );
            }
            Some((c.to_string(), method))
        }
    };
    if q.get("sandbox_decision").map(String::as_str) == Some("deny") {
        target
            .query_pairs_mut()
            .append_pair("error", "access_denied")
            .extend_pairs(q.get("state").map(|s| ("state", s)));
        return found(target.as_str());
    }
    let user = match q.get("sandbox_user") {
        Some(u) => match u.parse::<i64>() {
            Ok(id) if shared.store_users().iter().any(|(uid, _, _)| *uid == id) => id,
            _ => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "sandbox_user is not a demo user id",
                );
            }
        },
        None if shared.opts.choose_user => return choose_page(&shared, &q),
        None => seed::ADMIN_USER,
    };
    let code = random_token(32);
    shared.rt().oauth.codes.insert(
        code.clone(),
        Code {
            client_id: client_id.to_string(),
            redirect_uri: redirect.to_string(),
            challenge,
            expires: now().timestamp() + 600,
            user,
        },
    );
    {
        let mut pairs = target.query_pairs_mut();
        pairs.append_pair("code", &code);
        if let Some(state) = q.get("state") {
            pairs.append_pair("state", state);
        }
    }
    found(target.as_str())
}

fn found(location: &str) -> Response {
    let mut r = Response::new(axum::body::Body::empty());
    *r.status_mut() = StatusCode::FOUND;
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    r
}

/// Registered exactly, or the `auth login` listener: `http://<loopback>:<any port>/callback`.
fn redirect_registered(registered: &[String], target: &url::Url) -> bool {
    if registered.iter().any(|r| r == target.as_str()) {
        return true;
    }
    let loopback = match target.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    target.scheme() == "http" && loopback && target.path() == "/callback"
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The page a browser sees: one approve link per demo user, and a deny link.
fn choose_page(shared: &Shared, q: &HashMap<String, String>) -> Response {
    let link = |extra: (&str, &str)| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in q {
            s.append_pair(k, v);
        }
        s.append_pair(extra.0, extra.1);
        html_escape(&format!("/oauth/authorise?{}", s.finish()))
    };
    let client = html_escape(q.get("client_id").map(String::as_str).unwrap_or_default());
    let mut body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sandbox Capsule: \
         authorise</title></head><body><h1>Sandbox Capsule</h1><p>The application \
         <b>{client}</b> asks to act in this demo Capsule account. Approve as:</p><ul>"
    );
    for (id, username, name) in shared.store_users() {
        let href = link(("sandbox_user", &id.to_string()));
        body += &format!(
            "<li><a class=\"approve\" data-user=\"{id}\" href=\"{href}\">{} ({})</a></li>",
            html_escape(&name),
            html_escape(&username)
        );
    }
    body += &format!(
        "</ul><p><a class=\"deny\" href=\"{}\">Deny</a></p></body></html>",
        link(("sandbox_decision", "deny"))
    );
    let mut r = Response::new(axum::body::Body::from(body));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    r
}

fn pkce_ok(challenge: &(String, String), verifier: &str) -> bool {
    match challenge.1.as_str() {
        "S256" => {
            let digest = Sha256::digest(verifier.as_bytes());
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest) == challenge.0
        }
        _ => verifier == challenge.0,
    }
}

/// `POST /oauth/token`: authorization_code and refresh_token grants.
pub(crate) async fn token(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let f = form(&body);
    let grant = f.get("grant_type").cloned().unwrap_or_default();
    let (Some(client_id), Some(_secret)) =
        (non_empty(&f, "client_id"), non_empty(&f, "client_secret"))
    else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id and client_secret are required",
        );
    };
    let now_ts = now().timestamp();
    let mut rt = shared.rt();
    let user = match grant.as_str() {
        "authorization_code" => {
            let Some(code) = non_empty(&f, "code") else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "code is required",
                );
            };
            // Codes are single-use: taken out whatever happens next.
            let Some(c) = rt.oauth.codes.remove(code) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "unknown or used code",
                );
            };
            if c.expires <= now_ts || c.client_id != client_id {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "code is expired or was issued to another client",
                );
            }
            if let Some(r) = non_empty(&f, "redirect_uri")
                && r != c.redirect_uri
            {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "redirect_uri does not match",
                );
            }
            if let Some(ch) = &c.challenge {
                let ok = non_empty(&f, "code_verifier").is_some_and(|v| pkce_ok(ch, v));
                if !ok {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "code_verifier does not match",
                    );
                }
            }
            c.user
        }
        "refresh_token" => {
            let Some(rtok) = non_empty(&f, "refresh_token") else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "refresh_token is required",
                );
            };
            // Rotation: a refresh token works once.
            match rt.oauth.refresh.remove(rtok) {
                Some(u) => u,
                None => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "unknown, used or revoked refresh token",
                    );
                }
            }
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "grant_type must be authorization_code or refresh_token",
            );
        }
    };
    let ttl = rt.ttl;
    let access = random_token(40);
    let refresh = random_token(40);
    let expires = now_ts.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX / 2));
    rt.oauth.access.insert(access.clone(), (user, expires));
    rt.oauth.refresh.insert(refresh.clone(), user);
    *rt.grants.entry(grant).or_insert(0) += 1;
    drop(rt);
    let mut r = json_response(
        StatusCode::OK,
        &json!({
            "access_token": access,
            "token_type": "bearer",
            "expires_in": ttl,
            "refresh_token": refresh,
            "scope": "read write",
            "subdomain": "sandbox",
        }),
    );
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    r
}

/// `POST /oauth/token/revoke` and `/oauth/revoke`: form `token=`.
pub(crate) async fn revoke(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let f = form(&body);
    let Some(t) = non_empty(&f, "token") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is required",
        );
    };
    let mut rt = shared.rt();
    rt.oauth.access.remove(t);
    rt.oauth.refresh.remove(t);
    json_response(StatusCode::OK, &json!({}))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn only_registered_or_login_listener_redirects_are_accepted() {
        let reg = vec!["https://mcp.example.com/oauth/callback".to_owned()];
        let ok = |u: &str| redirect_registered(&reg, &url::Url::parse(u).unwrap());
        assert!(ok("https://mcp.example.com/oauth/callback"));
        assert!(ok("http://127.0.0.1:4321/callback"));
        assert!(ok("http://localhost:9/callback"));
        assert!(!ok("https://mcp.example.com/oauth/callback2"));
        assert!(!ok("https://evil.example/callback"));
        assert!(!ok("http://127.0.0.1:4321/oauth/callback"));
        assert!(!ok("https://127.0.0.1:4321/callback"));
    }

    #[test]
    fn pkce_s256_matches_openssl() {
        // printf VERIFIER | openssl dgst -sha256 -binary | base64url
        let ch = (
            "k0ZvaQg6mU2v55Woyr-E1JJRf6mE4P7uOspnlIzTE6g".to_string(),
            "S256".to_string(),
        );
        assert!(pkce_ok(&ch, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r5W3ZR5m7ck0Rs"));
        assert!(!pkce_ok(&ch, "wrong"));
    }
}
