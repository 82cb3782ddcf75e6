//! Verifying `/mcp` bearer tokens: the hash looked up in the store, unexpired, and issued for
//! this server (`{public}/mcp`). Anything else is 401 with
//! `WWW-Authenticate: Bearer resource_metadata="…"`, which is how MCP clients find
//! [`metadata`](super::metadata) and start signing in.

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::Response,
};

use super::{
    AuthServer, SCOPES, now,
    token::{TokenRecord, access_key},
};
use crate::{team::person::Person, transport::http::error_response};

/// The 401 of `/mcp`: the metadata pointer, plus `error="invalid_token"` when a token was
/// presented.
pub fn unauthorized(server: &AuthServer, presented: bool, message: &str) -> Response {
    let mut challenge = format!(
        r#"Bearer resource_metadata="{}", scope="{}""#,
        server.resource_metadata_url(),
        SCOPES.join(" ")
    );
    if presented {
        challenge.push_str(r#", error="invalid_token""#);
    }
    let mut r = error_response(StatusCode::UNAUTHORIZED, "unauthorized", message);
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// The bearer token of `Authorization` (exactly one header, scheme `Bearer`).
fn presented(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = first.to_str().ok()?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The person a `/mcp` request acts as, or the 401 to answer.
pub async fn person_for(server: &AuthServer, headers: &HeaderMap) -> Result<Person, Response> {
    let Some(token) = presented(headers) else {
        return Err(unauthorized(
            server,
            headers.contains_key(header::AUTHORIZATION),
            "sign in: this server needs an OAuth access token (Authorization: Bearer); your \
             MCP client finds how from the resource_metadata in WWW-Authenticate",
        ));
    };
    let record: Option<TokenRecord> = match server.get_json(&access_key(token)).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "the state store failed while checking a token");
            return Err(error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the server's state store is not answering; try again shortly",
            ));
        }
    };
    match record {
        Some(r) if r.expires_at > now() && r.resource == server.resource() => Ok(r.person),
        Some(r) if r.resource != server.resource() => {
            tracing::warn!("rejected a token issued for another resource");
            Err(unauthorized(
                server,
                true,
                "the access token was issued for another server; sign in to this one",
            ))
        }
        _ => Err(unauthorized(
            server,
            true,
            "the access token is unknown, expired or revoked; refresh it or sign in again",
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::team::oauth::tests::server;

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        h
    }

    async fn put(s: &AuthServer, token: &str, resource: &str, expires_at: i64) {
        let record = TokenRecord {
            person: Person {
                id: "6@sandbox".into(),
                capsule_user_id: 6,
            },
            client_id: "c".into(),
            resource: resource.into(),
            scope: "read".into(),
            expires_at,
        };
        s.put_json(&access_key(token), &record, None).await.unwrap();
    }

    #[tokio::test]
    async fn only_live_tokens_for_this_resource_pass() {
        let (s, _) = server();
        put(&s, "good", "https://mcp.example.com/mcp", now() + 60).await;
        put(&s, "old", "https://mcp.example.com/mcp", now() - 1).await;
        put(&s, "foreign", "https://other.example.com/mcp", now() + 60).await;
        assert_eq!(
            person_for(&s, &bearer("good")).await.unwrap().id,
            "6@sandbox"
        );
        for (headers, presented) in [
            (bearer("old"), true),
            (bearer("foreign"), true),
            (bearer("unknown"), true),
            (HeaderMap::new(), false),
        ] {
            let r = person_for(&s, &headers).await.unwrap_err();
            assert_eq!(r.status(), 401);
            let challenge = r.headers()["www-authenticate"].to_str().unwrap();
            assert!(
                challenge.starts_with(
                    r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#
                ),
                "{challenge}"
            );
            assert_eq!(challenge.contains(r#"error="invalid_token""#), presented);
        }
    }
}
