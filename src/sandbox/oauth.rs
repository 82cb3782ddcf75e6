//! OAuth 2.0 authorization-code flow (auto-approved), refresh with rotation,
//! PKCE (S256 and plain) and revocation.

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
    let code = random_token(32);
    shared.rt().oauth.codes.insert(
        code.clone(),
        Code {
            client_id: client_id.to_string(),
            redirect_uri: redirect.to_string(),
            challenge,
            expires: now().timestamp() + 600,
        },
    );
    {
        let mut pairs = target.query_pairs_mut();
        pairs.append_pair("code", &code);
        if let Some(state) = q.get("state") {
            pairs.append_pair("state", state);
        }
    }
    let mut r = Response::new(axum::body::Body::empty());
    *r.status_mut() = StatusCode::FOUND;
    if let Ok(v) = HeaderValue::from_str(target.as_str()) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
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
            seed::ADMIN_USER
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
