//! `POST /revoke` (RFC 7009): ends an access or refresh token of the requesting client.
//! Unknown tokens, and tokens of other clients, are answered 200 like any other.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};

use super::{
    AuthServer,
    clients::{ClientAuth, authenticate},
    form::Params,
    json_answer, oauth_error, store_failed,
    token::{TokenRecord, access_key, refresh_key},
};

pub async fn revoke(
    State(server): State<Arc<AuthServer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match Params::parse(&body) {
        Ok(p) => p,
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &e),
    };
    let client = match authenticate(&server, &headers, &params).await {
        ClientAuth::Ok(c) => c,
        ClientAuth::Refused(r) => return r,
    };
    let Some(token) = params.get("token") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is required",
        );
    };
    for key in [access_key(token), refresh_key(token)] {
        match server.get_json::<TokenRecord>(&key).await {
            Ok(Some(r)) if r.client_id == client.client_id => {
                if let Err(e) = server.store.delete(&key).await {
                    return store_failed(&e);
                }
                tracing::info!(person = %r.person.id, "revoked an MCP token");
            }
            Ok(_) => {}
            Err(e) => return store_failed(&e),
        }
    }
    json_answer(StatusCode::OK, &serde_json::json!({}))
}
