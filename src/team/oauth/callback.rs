//! `GET /oauth/callback`: Capsule sends the person back here. The state names the flow (one
//! use); Capsule's code is exchanged, `/users/current` says who the person is, their Capsule
//! tokens are stored sealed, and the MCP client gets this server's own one-use code.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
};
use oauth2::PkceCodeVerifier;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::{
    AuthServer,
    authorize::{Flow, error_redirect, flow_key},
    error_page,
    form::Params,
    now, redirect, store_failed, with_query,
};
use crate::{
    capsule::{
        identity,
        oauth::{self, OAuthError},
    },
    team::{
        person::{CapsuleGrant, Person, save_grant},
        seal::{random_secret, token_hash},
    },
};

/// How long an MCP authorization code lives.
pub const CODE_TTL: Duration = Duration::from_secs(60);

/// An MCP authorization code, stored under [`code_key`]: one use, bound to all of this.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeRecord {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub resource: String,
    pub scope: String,
    pub person: Person,
}

pub fn code_key(code: &str) -> String {
    format!("oauth:code:{}", token_hash(code))
}

/// The person's id: `{capsule user id}@{account subdomain}`, the subdomain from Capsule's
/// token answer (or, when it gave none, the API host).
fn person_id(user_id: i64, subdomain: Option<&str>, api_url: &str) -> String {
    let site = subdomain
        .map(str::to_owned)
        .filter(|s| !s.is_empty())
        .or_else(|| {
            url::Url::parse(api_url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
        })
        .unwrap_or_else(|| "capsule".into());
    format!("{user_id}@{site}")
}

pub async fn callback(State(server): State<Arc<AuthServer>>, RawQuery(q): RawQuery) -> Response {
    let params = match Params::parse(q.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e),
    };
    let Some(state) = params.get("state") else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Capsule's answer carries no state; start again from your MCP client",
        );
    };
    let flow: Flow = match server.take_sealed(&flow_key(state)).await {
        Ok(Some(f)) => f,
        Ok(None) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "this sign-in has expired or was already completed; start again from your \
                 MCP client",
            );
        }
        Err(e) => return store_failed(&e),
    };
    let req = &flow.request;
    let fail = |error: &str, description: &str| {
        error_redirect(
            &server,
            &req.redirect_uri,
            req.state.as_deref(),
            error,
            description,
        )
    };
    if let Some(error) = params.get("error") {
        tracing::info!(error, "Capsule did not authorise");
        return if error == "access_denied" {
            fail(
                "access_denied",
                "the person did not authorise access in Capsule",
            )
        } else {
            fail(
                "server_error",
                &format!("Capsule refused the authorisation ({error})"),
            )
        };
    }
    let Some(code) = params.get("code") else {
        return fail("server_error", "Capsule's answer carries no code");
    };
    let verifier = PkceCodeVerifier::new(flow.capsule_verifier.clone());
    let tokens = match oauth::exchange_code(
        &server.capsule,
        &server.http,
        code,
        verifier,
        &server.callback_url(),
    )
    .await
    {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "Capsule did not exchange its code");
            let text = match e {
                OAuthError::InvalidGrant(_) => "Capsule refused its authorization code",
                OAuthError::Other(_) => "Capsule could not be reached or refused the exchange",
            };
            return fail("server_error", text);
        }
    };
    let user_id =
        match identity::current_user_id(server.client_options.clone(), tokens.access_token.clone())
            .await
        {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read who logged in at Capsule");
                return fail("server_error", "Capsule did not say who signed in");
            }
        };
    let person = Person {
        id: person_id(
            user_id,
            tokens.subdomain.as_deref(),
            &server.client_options.api_url,
        ),
        capsule_user_id: user_id,
    };
    let obtained = now();
    let grant = CapsuleGrant {
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        expires_at: tokens
            .expires_in
            .and_then(|s| obtained.checked_add(i64::try_from(s).ok()?)),
        scope: tokens.scope,
        obtained_at: Some(obtained),
    };
    if let Err(e) = save_grant(&*server.store, &server.sealer, &person.id, &grant).await {
        tracing::error!(error = %e, "cannot store a person's Capsule tokens");
        return fail(
            "temporarily_unavailable",
            "the server could not store the login",
        );
    }
    let mcp_code = random_secret();
    let record = CodeRecord {
        client_id: req.client_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        code_challenge: req.code_challenge.clone(),
        resource: req.resource.clone(),
        scope: req.scope.clone(),
        person: person.clone(),
    };
    if let Err(e) = server
        .put_json(&code_key(mcp_code.expose_secret()), &record, Some(CODE_TTL))
        .await
    {
        return store_failed(&e);
    }
    tracing::info!(person = %person.id, client = %req.client_id, "linked a Capsule account");
    let mut pairs = vec![("code", mcp_code.expose_secret())];
    if let Some(s) = req.state.as_deref() {
        pairs.push(("state", s));
    }
    pairs.push(("iss", server.issuer()));
    redirect(&with_query(&req.redirect_uri, &pairs))
}

#[cfg(test)]
mod tests {
    use super::person_id;

    #[test]
    fn a_person_is_a_user_at_a_site() {
        assert_eq!(
            person_id(7, Some("acme"), "https://api.capsulecrm.com"),
            "7@acme"
        );
        assert_eq!(
            person_id(7, None, "https://api.capsulecrm.com/api/v2"),
            "7@api.capsulecrm.com"
        );
        assert_eq!(person_id(7, Some(""), "x"), "7@capsule");
    }
}
