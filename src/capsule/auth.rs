//! Where the bearer token comes from. A personal access token is static; OAuth plugs in behind
//! the same trait and refreshes when told the token was refused.

use std::{future::Future, pin::Pin, sync::Arc};

use secrecy::SecretString;

use super::error::CapsuleError;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait TokenProvider: Send + Sync + 'static {
    /// The token to send now.
    fn token(&self) -> BoxFuture<'_, Result<SecretString, CapsuleError>>;

    /// Capsule refused `used` with 401. Return `true` when a new token is now available and the
    /// request should be sent once more; `false` when nothing can be done.
    fn refused(&self, used: &SecretString) -> BoxFuture<'_, Result<bool, CapsuleError>>;

    /// Describes the credential for humans and logs, never showing it.
    fn describe(&self) -> String;
}

/// A personal access token (`CAPSULE_ACCESS_TOKEN`).
pub struct StaticToken {
    token: SecretString,
    source: &'static str,
}

impl StaticToken {
    pub fn new(token: SecretString, source: &'static str) -> Arc<Self> {
        Arc::new(Self { token, source })
    }
}

impl TokenProvider for StaticToken {
    fn token(&self) -> BoxFuture<'_, Result<SecretString, CapsuleError>> {
        let token = self.token.clone();
        Box::pin(async move { Ok(token) })
    }

    fn refused(&self, _used: &SecretString) -> BoxFuture<'_, Result<bool, CapsuleError>> {
        Box::pin(async { Ok(false) })
    }

    fn describe(&self) -> String {
        format!("personal access token from {}", self.source)
    }
}
