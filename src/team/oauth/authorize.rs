//! `GET /authorize`: checks the request (known client, registered redirect URI, PKCE S256,
//! `resource` = `{public}/mcp`) and shows the consent page; `POST /authorize/decision`:
//! the person's answer, which either sends them on to Capsule or back to the client with
//! `access_denied`.

use std::{sync::Arc, time::Duration};

use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::{
    AuthServer, SCOPES,
    clients::{self, ClientRecord, Found},
    consent, error_page,
    form::Params,
    redirect, store_failed, with_query,
};
use crate::{
    capsule::oauth,
    team::seal::{random_secret, token_hash},
};

/// How long the consent page and the trip through Capsule may take.
pub const TRANSACTION_TTL: Duration = Duration::from_secs(600);

/// A checked authorization request, waiting for the person's decision (under
/// [`transaction_key`]) and then for Capsule's answer (inside a [`Flow`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: String,
    /// The redirect URI as the client sent it (it must come back equal at `/token`).
    pub redirect_uri: String,
    pub state: Option<String>,
    pub code_challenge: String,
    pub resource: String,
    pub scope: String,
}

/// The trip through Capsule, stored sealed under [`flow_key`] of the state sent to Capsule.
#[derive(Serialize, Deserialize)]
pub struct Flow {
    pub request: AuthRequest,
    /// The PKCE verifier for Capsule's code.
    pub capsule_verifier: String,
}

pub fn transaction_key(transaction: &str) -> String {
    format!("oauth:tx:{}", token_hash(transaction))
}

pub fn flow_key(state: &str) -> String {
    format!("oauth:flow:{}", token_hash(state))
}

/// The error redirect to a client's (checked) redirect URI.
pub fn error_redirect(
    server: &AuthServer,
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Response {
    let mut pairs = vec![("error", error), ("error_description", description)];
    if let Some(s) = state {
        pairs.push(("state", s));
    }
    pairs.push(("iss", server.issuer()));
    redirect(&with_query(redirect_uri, &pairs))
}

/// A PKCE S256 challenge: the base64url SHA-256 of a verifier, 43 characters.
fn is_s256_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The scopes asked for, each one this server offers; all of them when none are asked.
fn checked_scope(asked: Option<&str>) -> Result<String, String> {
    let Some(asked) = asked else {
        return Ok(SCOPES.join(" "));
    };
    let mut out: Vec<&str> = Vec::new();
    for s in asked.split_whitespace() {
        if !SCOPES.contains(&s) {
            return Err(format!(
                "unknown scope {s:?}: this server offers {}",
                SCOPES.join(" and ")
            ));
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    if out.is_empty() {
        return Ok(SCOPES.join(" "));
    }
    Ok(out.join(" "))
}

/// `GET /authorize`.
pub async fn authorize(State(server): State<Arc<AuthServer>>, RawQuery(q): RawQuery) -> Response {
    let params = match Params::parse(q.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e),
    };
    let Some(client_id) = params.get("client_id") else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "the request names no client (client_id is missing); start again from your MCP client",
        );
    };
    let client: ClientRecord = match clients::find(&server, client_id).await {
        Found::Client(c) => c,
        Found::Unknown => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "this MCP client is not registered with this server (unknown client_id); \
                 remove the server from your MCP client and add it again",
            );
        }
        Found::Refused(why) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                &format!(
                    "this MCP client identifies itself by the document at {client_id}, which \
                     this server cannot use: {why}. Nothing was sent to the client; tell its \
                     publisher, or connect with another client."
                ),
            );
        }
        Found::StoreFailed(e) => return store_failed(&e),
    };
    let redirect_uri = match params.get("redirect_uri") {
        Some(given) if client.redirect_for(given).is_some() => given.to_owned(),
        Some(_) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "the redirect URI is not one this MCP client registered, so this server will \
                 not send you there",
            );
        }
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "the request has no redirect_uri and the client registered several",
            );
        }
    };
    let state = params.get("state");
    let fail = |error: &str, description: &str| {
        error_redirect(&server, &redirect_uri, state, error, description)
    };
    if params.get("response_type") != Some("code") {
        return fail("unsupported_response_type", "response_type must be code");
    }
    let Some(challenge) = params.get("code_challenge") else {
        return fail(
            "invalid_request",
            "PKCE is required: send code_challenge with code_challenge_method=S256",
        );
    };
    if params.get("code_challenge_method") != Some("S256") || !is_s256_challenge(challenge) {
        return fail(
            "invalid_request",
            "code_challenge_method must be S256, with a 43-character base64url challenge",
        );
    }
    if let Some(resource) = params.get("resource")
        && resource != server.resource()
    {
        return fail(
            "invalid_target",
            &format!("resource must be {}", server.resource()),
        );
    }
    let scope = match checked_scope(params.get("scope")) {
        Ok(s) => s,
        Err(e) => return fail("invalid_scope", &e),
    };
    let request = AuthRequest {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.clone(),
        state: state.map(str::to_owned),
        code_challenge: challenge.to_owned(),
        resource: server.resource().to_owned(),
        scope,
    };
    let transaction = random_secret();
    if let Err(e) = server
        .put_json(
            &transaction_key(transaction.expose_secret()),
            &request,
            Some(TRANSACTION_TTL),
        )
        .await
    {
        return store_failed(&e);
    }
    consent::page(&client, &request, transaction.expose_secret())
}

/// `POST /authorize/decision`: `transaction` and `decision` (`approve` or `deny`).
pub async fn decision(State(server): State<Arc<AuthServer>>, body: Bytes) -> Response {
    let params = match Params::parse(&body) {
        Ok(p) => p,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e),
    };
    let Some(transaction) = params.get("transaction") else {
        return error_page(StatusCode::BAD_REQUEST, "the form carries no transaction");
    };
    let request: AuthRequest = match server.take_json(&transaction_key(transaction)).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "this consent page has expired or was already answered; start again from \
                 your MCP client",
            );
        }
        Err(e) => return store_failed(&e),
    };
    if params.get("decision") != Some("approve") {
        tracing::info!(client = %request.client_id, "consent declined");
        return error_redirect(
            &server,
            &request.redirect_uri,
            request.state.as_deref(),
            "access_denied",
            "the person declined to connect this client",
        );
    }
    let capsule = match oauth::authorize(&server.capsule, &server.callback_url(), &request.scope) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "cannot build Capsule's authorisation URL");
            return error_redirect(
                &server,
                &request.redirect_uri,
                request.state.as_deref(),
                "server_error",
                "the server's Capsule application is misconfigured",
            );
        }
    };
    let flow = Flow {
        request,
        capsule_verifier: capsule.verifier.secret().clone(),
    };
    if let Err(e) = server
        .put_sealed(&flow_key(&capsule.state), &flow, TRANSACTION_TTL)
        .await
    {
        return store_failed(&e);
    }
    redirect(&capsule.url)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn challenges_and_scopes_are_checked() {
        assert!(is_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!is_s256_challenge("short"));
        assert!(!is_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"
        ));
        assert_eq!(checked_scope(None).unwrap(), "read write");
        assert_eq!(checked_scope(Some("read read")).unwrap(), "read");
        assert_eq!(checked_scope(Some(" ")).unwrap(), "read write");
        assert!(checked_scope(Some("read admin")).is_err());
    }
}
