//! Where the bearer token comes from. A personal access token is static; OAuth plugs in behind
//! the same trait and refreshes when told the token was refused.

use std::{future::Future, pin::Pin, sync::Arc};

use secrecy::{ExposeSecret, SecretString};

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

/// Stored OAuth tokens, refreshed before expiry and on a 401 — once per expiry however many
/// calls are in flight (single flight in-process, a file lock across processes), with the
/// rotated refresh token persisted. A refresh Capsule refuses gives every waiting call the
/// same "log in again" error, leaves the stored file as it was, and is not retried.
pub struct OAuthTokens {
    file: crate::credentials::TokenFile,
    app: super::oauth::OAuthApp,
    http: reqwest::Client,
    current: std::sync::RwLock<Arc<crate::credentials::StoredCredentials>>,
    refreshing: tokio::sync::Mutex<()>,
    /// The refresh token Capsule refused, so it is not sent again.
    refused_refresh: std::sync::Mutex<Option<String>>,
}

const LOGIN_AGAIN: &str = "the stored Capsule login has expired or was revoked; run \
`capsule-mcp auth login` again";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl OAuthTokens {
    pub fn new(
        file: crate::credentials::TokenFile,
        creds: crate::credentials::StoredCredentials,
        client_secret_override: Option<SecretString>,
    ) -> Result<Arc<Self>, CapsuleError> {
        let secret = client_secret_override.unwrap_or_else(|| creds.client_secret.clone());
        let app =
            super::oauth::OAuthApp::for_api_url(&creds.api_url, creds.client_id.clone(), secret)?;
        Ok(Arc::new(Self {
            file,
            app,
            http: super::oauth::http_client()?,
            current: std::sync::RwLock::new(Arc::new(creds)),
            refreshing: tokio::sync::Mutex::new(()),
            refused_refresh: std::sync::Mutex::new(None),
        }))
    }

    fn current(&self) -> Arc<crate::credentials::StoredCredentials> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set_current(&self, c: crate::credentials::StoredCredentials) {
        if let Ok(mut cur) = self.current.write() {
            *cur = Arc::new(c);
        }
    }

    /// Refreshes unless someone already replaced `used` (here or in another process).
    async fn refresh_replacing(&self, used: &SecretString) -> Result<(), CapsuleError> {
        let _flight = self.refreshing.lock().await;
        if self.current().access_token.expose_secret() != used.expose_secret() {
            return Ok(());
        }
        let file = self.file.clone();
        let lock = tokio::task::spawn_blocking(move || file.lock())
            .await
            .map_err(|e| CapsuleError::Auth(format!("cannot lock the credentials file: {e}")))?
            .map_err(|e| CapsuleError::Auth(e.to_string()))?;
        // Another process may have refreshed while we waited for the lock: adopt what it
        // stored (its refresh token is the live one after a rotation), and stop there unless
        // that token needs refreshing too.
        if let Ok(Some(on_disk)) = self.file.load()
            && on_disk.access_token.expose_secret() != used.expose_secret()
        {
            let fresh = !on_disk.needs_refresh(now());
            self.set_current(on_disk);
            if fresh {
                drop(lock);
                return Ok(());
            }
        }
        let cur = self.current();
        let Some(refresh_token) = cur.refresh_token.clone() else {
            return Err(CapsuleError::Auth(LOGIN_AGAIN.into()));
        };
        if let Ok(refused) = self.refused_refresh.lock()
            && refused.as_deref() == Some(refresh_token.expose_secret())
        {
            return Err(CapsuleError::Auth(LOGIN_AGAIN.into()));
        }
        tracing::info!("refreshing the Capsule access token");
        match super::oauth::refresh(&self.app, &self.http, &refresh_token).await {
            Ok(t) => {
                let obtained = now();
                let mut next = (*cur).clone();
                next.access_token = t.access_token;
                // Capsule may rotate the refresh token: keep the newest one.
                if let Some(r) = t.refresh_token {
                    next.refresh_token = Some(r);
                }
                next.obtained_at = obtained;
                next.expires_at = t
                    .expires_in
                    .and_then(|s| obtained.checked_add(i64::try_from(s).ok()?));
                if t.scope.is_some() {
                    next.scope = t.scope;
                }
                if let Err(e) = self.file.save(&next) {
                    tracing::warn!(error = %e, "the refreshed token could not be stored");
                }
                self.set_current(next);
                drop(lock);
                Ok(())
            }
            Err(super::oauth::OAuthError::InvalidGrant(_)) => {
                if let Ok(mut refused) = self.refused_refresh.lock() {
                    *refused = Some(refresh_token.expose_secret().to_owned());
                }
                Err(CapsuleError::Auth(LOGIN_AGAIN.into()))
            }
            Err(super::oauth::OAuthError::Other(m)) => Err(CapsuleError::Auth(format!(
                "the Capsule access token could not be refreshed: {m}"
            ))),
        }
    }
}

impl TokenProvider for OAuthTokens {
    fn token(&self) -> BoxFuture<'_, Result<SecretString, CapsuleError>> {
        Box::pin(async move {
            let cur = self.current();
            if cur.needs_refresh(now()) {
                self.refresh_replacing(&cur.access_token).await?;
            }
            Ok(self.current().access_token.clone())
        })
    }

    fn refused(&self, used: &SecretString) -> BoxFuture<'_, Result<bool, CapsuleError>> {
        let used = used.clone();
        Box::pin(async move {
            self.refresh_replacing(&used).await?;
            Ok(true)
        })
    }

    fn describe(&self) -> String {
        format!("OAuth login stored in {}", self.file.describe())
    }
}
