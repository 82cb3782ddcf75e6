//! `POST /token`: the authorization_code grant (client authenticated as registered, the code
//! one use, redirect URI equal, PKCE S256 verifier checked, `resource` = `{public}/mcp`) and
//! the refresh_token grant with rotation (the old refresh token is taken, so a second use
//! fails). Tokens are stored only as hashes, bound to person, client and audience.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

use super::{
    AuthServer,
    callback::{CodeRecord, code_key},
    clients::{ClientAuth, ClientRecord, authenticate},
    form::Params,
    json_answer, now, oauth_error, store_failed,
};
use crate::team::{
    person::Person,
    seal::{random_secret, token_hash},
};

/// What the store keeps of an access or refresh token, under [`access_key`] / [`refresh_key`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    pub person: Person,
    pub client_id: String,
    /// The audience: `{public}/mcp`.
    pub resource: String,
    pub scope: String,
    /// Unix seconds.
    pub expires_at: i64,
}

pub fn access_key(token: &str) -> String {
    format!("oauth:access:{}", token_hash(token))
}

pub fn refresh_key(token: &str) -> String {
    format!("oauth:refresh:{}", token_hash(token))
}

/// RFC 7636 §4.6: `BASE64URL(SHA256(verifier)) == challenge`, the verifier 43–128 characters
/// of the unreserved set.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !well_formed {
        return false;
    }
    let digest = Sha256::digest(verifier.as_bytes());
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
    bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

fn invalid_grant(description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

fn invalid_request(description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_request", description)
}

pub async fn token(
    State(server): State<Arc<AuthServer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match Params::parse(&body) {
        Ok(p) => p,
        Err(e) => return invalid_request(&e),
    };
    let client = match authenticate(&server, &headers, &params).await {
        ClientAuth::Ok(c) => c,
        ClientAuth::Refused(r) => return r,
    };
    if let Some(resource) = params.get("resource")
        && resource != server.resource()
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            &format!("resource must be {}", server.resource()),
        );
    }
    match params.get("grant_type") {
        Some("authorization_code") => authorization_code(&server, &client, &params).await,
        Some("refresh_token") => refresh(&server, &client, &params).await,
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token",
        ),
    }
}

async fn authorization_code(
    server: &AuthServer,
    client: &ClientRecord,
    params: &Params,
) -> Response {
    let Some(code) = params.get("code") else {
        return invalid_request("code is required");
    };
    // One use: taken whatever happens next.
    let record: CodeRecord = match server.take_json(&code_key(code)).await {
        Ok(Some(r)) => r,
        Ok(None) => return invalid_grant("the code is unknown, expired or already used"),
        Err(e) => return store_failed(&e),
    };
    if record.client_id != client.client_id {
        return invalid_grant("the code was issued to another client");
    }
    if params.get("redirect_uri") != Some(record.redirect_uri.as_str()) {
        return invalid_grant("redirect_uri must equal the one sent to /authorize");
    }
    let Some(verifier) = params.get("code_verifier") else {
        return invalid_request("code_verifier is required (PKCE)");
    };
    if !pkce_matches(verifier, &record.code_challenge) {
        return invalid_grant("code_verifier does not match the code_challenge");
    }
    issue(
        server,
        record.person,
        &client.client_id,
        &record.resource,
        &record.scope,
    )
    .await
}

async fn refresh(server: &AuthServer, client: &ClientRecord, params: &Params) -> Response {
    let Some(token) = params.get("refresh_token") else {
        return invalid_request("refresh_token is required");
    };
    // Rotation: the refresh token is taken, so it works once.
    let record = match server.take_json::<TokenRecord>(&refresh_key(token)).await {
        Ok(Some(r)) if r.expires_at > now() => r,
        Ok(_) => {
            return invalid_grant(
                "the refresh token is unknown, expired, revoked or already used; sign in again",
            );
        }
        Err(e) => return store_failed(&e),
    };
    if record.client_id != client.client_id {
        return invalid_grant("the refresh token was issued to another client");
    }
    let scope = match params.get("scope") {
        None => record.scope.clone(),
        Some(asked) => {
            let granted: Vec<&str> = record.scope.split_whitespace().collect();
            if asked.split_whitespace().any(|s| !granted.contains(&s)) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "a refresh may only narrow the granted scope",
                );
            }
            asked.to_owned()
        }
    };
    issue(
        server,
        record.person,
        &client.client_id,
        &record.resource,
        &scope,
    )
    .await
}

/// A new access and refresh token pair, stored as hashes.
async fn issue(
    server: &AuthServer,
    person: Person,
    client_id: &str,
    resource: &str,
    scope: &str,
) -> Response {
    let access = random_secret();
    let refresh = random_secret();
    let issued = now();
    let secs = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4);
    let mut record = TokenRecord {
        person,
        client_id: client_id.to_owned(),
        resource: resource.to_owned(),
        scope: scope.to_owned(),
        expires_at: issued.saturating_add(secs(server.access_ttl)),
    };
    if let Err(e) = server
        .put_json(
            &access_key(access.expose_secret()),
            &record,
            Some(server.access_ttl),
        )
        .await
    {
        return store_failed(&e);
    }
    record.expires_at = issued.saturating_add(secs(server.refresh_ttl));
    if let Err(e) = server
        .put_json(
            &refresh_key(refresh.expose_secret()),
            &record,
            Some(server.refresh_ttl),
        )
        .await
    {
        return store_failed(&e);
    }
    answer(&access, &refresh, server.access_ttl.as_secs(), scope)
}

fn answer(access: &SecretString, refresh: &SecretString, expires_in: u64, scope: &str) -> Response {
    json_answer(
        StatusCode::OK,
        &json!({
            "access_token": access.expose_secret(),
            "token_type": "Bearer",
            "expires_in": expires_in,
            "refresh_token": refresh.expose_secret(),
            "scope": scope,
        }),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::{sync::Mutex, time::Duration};

    use super::*;
    use crate::team::{
        oauth::{clients::client_key, tests::server_on},
        store::{BoxFuture, MemoryStore, StateStore, StoreError},
    };

    /// A memory store that keeps a copy of every key and value written to it.
    #[derive(Default)]
    struct Recording {
        inner: MemoryStore,
        written: Mutex<Vec<(String, Vec<u8>)>>,
    }

    impl Recording {
        fn saw(&self, key: &str, value: &[u8]) {
            self.written
                .lock()
                .unwrap()
                .push((key.to_owned(), value.to_vec()));
        }

        /// Whether `secret` appears in any key or value written so far.
        fn holds(&self, secret: &str) -> bool {
            self.written.lock().unwrap().iter().any(|(k, v)| {
                k.contains(secret) || v.windows(secret.len()).any(|w| w == secret.as_bytes())
            })
        }
    }

    impl StateStore for Recording {
        fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
            self.inner.get(key)
        }
        fn put<'a>(
            &'a self,
            key: &'a str,
            value: Vec<u8>,
            ttl: Option<Duration>,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            self.saw(key, &value);
            self.inner.put(key, value, ttl)
        }
        fn put_new<'a>(
            &'a self,
            key: &'a str,
            value: Vec<u8>,
            ttl: Option<Duration>,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            self.saw(key, &value);
            self.inner.put_new(key, value, ttl)
        }
        fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
            self.inner.take(key)
        }
        fn delete_if<'a>(
            &'a self,
            key: &'a str,
            expected: &'a [u8],
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            self.inner.delete_if(key, expected)
        }
        fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
            self.inner.delete(key)
        }
        fn raise<'a>(
            &'a self,
            key: &'a str,
            value: i64,
            ttl: Duration,
        ) -> BoxFuture<'a, Result<i64, StoreError>> {
            self.inner.raise(key, value, ttl)
        }
        fn describe(&self) -> String {
            "recording".into()
        }
    }

    async fn post(
        server: &Arc<AuthServer>,
        form: &[(&str, &str)],
    ) -> (StatusCode, serde_json::Value) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let r = token(State(server.clone()), HeaderMap::new(), Bytes::from(body)).await;
        let status = r.status();
        assert_eq!(r.headers()["cache-control"], "no-store");
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn the_store_keeps_only_hashes_of_codes_and_tokens() {
        let store = Arc::new(Recording::default());
        let server = server_on(store.clone());
        let client = ClientRecord {
            client_id: "client-1".into(),
            client_name: None,
            redirect_uris: vec!["http://127.0.0.1:5/cb".into()],
            auth_method: "none".into(),
            secret_hash: None,
            issued_at: 0,
        };
        server
            .put_json(&client_key("client-1"), &client, None)
            .await
            .unwrap();
        let code = "the-authorization-code-0123456789";
        let record = CodeRecord {
            client_id: "client-1".into(),
            redirect_uri: "http://127.0.0.1:5/cb".into(),
            code_challenge: "k0ZvaQg6mU2v55Woyr-E1JJRf6mE4P7uOspnlIzTE6g".into(),
            resource: "https://mcp.example.com/mcp".into(),
            scope: "read write".into(),
            person: Person {
                id: "6@sandbox".into(),
                capsule_user_id: 6,
            },
        };
        server
            .put_json(&code_key(code), &record, None)
            .await
            .unwrap();
        let grant = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", "client-1"),
            ("redirect_uri", "http://127.0.0.1:5/cb"),
            (
                "code_verifier",
                "dBjftJeZ4CVP-mB92K27uhbUJU1p1r5W3ZR5m7ck0Rs",
            ),
            ("resource", "https://mcp.example.com/mcp"),
        ];
        let (status, body) = post(&server, &grant).await;
        assert_eq!(status, 200, "{body}");
        let access = body["access_token"].as_str().unwrap().to_owned();
        let refresh = body["refresh_token"].as_str().unwrap().to_owned();
        // The code was one use.
        let (status, again) = post(&server, &grant).await;
        assert_eq!(
            (status.as_u16(), again["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let (status, rotated) = post(
            &server,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("client_id", "client-1"),
            ],
        )
        .await;
        assert_eq!(status, 200, "{rotated}");
        let secrets = [
            code,
            &access,
            &refresh,
            rotated["access_token"].as_str().unwrap(),
            rotated["refresh_token"].as_str().unwrap(),
        ];
        assert!(store.written.lock().unwrap().len() >= 6);
        assert!(store.holds(&token_hash(&access)), "stored by hash");
        for s in secrets {
            assert!(!store.holds(s), "a code or token is stored in clear");
        }
    }

    #[test]
    fn pkce_s256_matches_openssl() {
        // printf VERIFIER | openssl dgst -sha256 -binary | base64url
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r5W3ZR5m7ck0Rs";
        let challenge = "k0ZvaQg6mU2v55Woyr-E1JJRf6mE4P7uOspnlIzTE6g";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(
            verifier,
            "k0ZvaQg6mU2v55Woyr-E1JJRf6mE4P7uOspnlIzTE6h"
        ));
        // `plain` (verifier == challenge) is not S256.
        assert!(!pkce_matches(challenge, challenge));
        assert!(!pkce_matches("short", challenge));
        assert!(!pkce_matches(&"a".repeat(129), challenge));
    }
}
