//! Who a Capsule access token acts as: `GET /users/current`, read for the user's id.

use secrecy::SecretString;

use super::{
    CapsuleClient, CapsuleError, ClientOptions, Request,
    auth::{StaticToken, TokenProvider},
};

/// The Capsule user id `token` acts as.
pub async fn current_user_id(
    options: ClientOptions,
    token: SecretString,
) -> Result<i64, CapsuleError> {
    let tokens: std::sync::Arc<dyn TokenProvider> = StaticToken::new(token, "a new login");
    let client = CapsuleClient::new(options, tokens)?;
    let resp = client.send(&Request::get("/users/current")).await?;
    resp.body["user"]["id"].as_i64().ok_or_else(|| {
        CapsuleError::Config("Capsule's /users/current answer carries no user id".into())
    })
}
