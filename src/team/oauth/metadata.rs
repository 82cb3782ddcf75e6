//! Discovery documents: protected resource metadata (RFC 9728) for `/mcp`, and the
//! authorization server metadata (RFC 8414), also served as `openid-configuration` for
//! clients that probe that first.

use std::sync::Arc;

use axum::{extract::State, http::StatusCode, response::Response};
use serde_json::{Value, json};

use super::{AuthServer, SCOPES, json_answer};

/// `/.well-known/oauth-protected-resource[/mcp]`.
pub fn protected_resource(server: &AuthServer) -> Value {
    json!({
        "resource": server.resource(),
        "authorization_servers": [server.issuer()],
        "bearer_methods_supported": ["header"],
        "scopes_supported": SCOPES,
        "resource_name": "capsule-mcp",
    })
}

/// `/.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`.
pub fn authorization_server(server: &AuthServer) -> Value {
    let base = server.issuer();
    json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "registration_endpoint": format!("{base}/register"),
        "revocation_endpoint": format!("{base}/revoke"),
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": true,
    })
}

pub async fn protected_resource_handler(State(server): State<Arc<AuthServer>>) -> Response {
    json_answer(StatusCode::OK, &protected_resource(&server))
}

pub async fn authorization_server_handler(State(server): State<Arc<AuthServer>>) -> Response {
    json_answer(StatusCode::OK, &authorization_server(&server))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::team::oauth::tests::server;

    #[test]
    fn the_documents_point_at_each_other() {
        let (s, _) = server();
        let prm = protected_resource(&s);
        assert_eq!(prm["resource"], "https://mcp.example.com/mcp");
        assert_eq!(
            prm["authorization_servers"],
            json!(["https://mcp.example.com"])
        );
        assert_eq!(prm["bearer_methods_supported"], json!(["header"]));
        let asm = authorization_server(&s);
        assert_eq!(asm["issuer"], prm["authorization_servers"][0]);
        assert_eq!(asm["token_endpoint"], "https://mcp.example.com/token");
        assert_eq!(
            asm["authorization_endpoint"],
            "https://mcp.example.com/authorize"
        );
        assert_eq!(
            asm["registration_endpoint"],
            "https://mcp.example.com/register"
        );
        assert_eq!(asm["revocation_endpoint"], "https://mcp.example.com/revoke");
        assert_eq!(asm["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(asm["response_types_supported"], json!(["code"]));
        assert_eq!(
            asm["grant_types_supported"],
            json!(["authorization_code", "refresh_token"])
        );
        assert_eq!(asm["client_id_metadata_document_supported"], true);
        assert_eq!(
            s.resource_metadata_url(),
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
        );
    }
}
