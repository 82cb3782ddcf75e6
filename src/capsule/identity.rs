//! Who a Capsule access token acts as: `GET /users/current`, for a token no client holds yet
//! (a new login's).

use secrecy::SecretString;
use serde_json::Value;

use super::{
    CapsuleClient, CapsuleError, ClientOptions, Request,
    auth::{StaticToken, TokenProvider},
};

/// The user `token` acts as, as Capsule describes it (`{"id", "username", "name", …}`).
pub async fn current_user(
    options: ClientOptions,
    token: SecretString,
) -> Result<Value, CapsuleError> {
    let tokens: std::sync::Arc<dyn TokenProvider> = StaticToken::new(token, "a new login");
    let client = CapsuleClient::new(options, tokens)?;
    let mut resp = client.send(&Request::get("/users/current")).await?;
    Ok(resp.body["user"].take())
}

/// The Capsule user id `token` acts as.
pub async fn current_user_id(
    options: ClientOptions,
    token: SecretString,
) -> Result<i64, CapsuleError> {
    current_user(options, token).await?["id"]
        .as_i64()
        .ok_or_else(|| {
            CapsuleError::Config("Capsule's /users/current answer carries no user id".into())
        })
}

/// How a person reads the user: `Name (username)`, or whichever of the two there is.
pub fn display_name(user: &Value) -> String {
    let name = user["name"]
        .as_str()
        .or_else(|| user["username"].as_str())
        .unwrap_or("unknown user");
    match user["username"].as_str() {
        Some(u) if u != name => format!("{name} ({u})"),
        _ => name.to_owned(),
    }
}
