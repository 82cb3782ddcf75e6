//! Who a team server request acts as, and the Capsule tokens that person linked.
//!
//! The HTTP front end verifies the MCP bearer token and puts the [`Person`] into the request's
//! extensions (`http::request::Parts::extensions`, which rmcp hands to handlers); every tool
//! call then runs with that person's Capsule tokens, read from the store under
//! [`grant_key`] and opened with the [`Sealer`](super::seal::Sealer).

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{
    seal::Sealer,
    store::{StateStore, StoreError},
};

/// One Capsule identity. Two MCP clients of one person (Claude and Cursor) are one `Person`:
/// they share the Capsule tokens, the refresh and the rate budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// Stable across logins: `"{capsule_user_id}@{capsule site subdomain}"`.
    pub id: String,
    /// The Capsule user (`GET /api/v2/users/current`) the tokens act as.
    pub capsule_user_id: i64,
}

/// A person's Capsule tokens, as stored (sealed) under [`grant_key`].
#[derive(Clone, Serialize, Deserialize)]
pub struct CapsuleGrant {
    #[serde(with = "secret")]
    pub access_token: SecretString,
    #[serde(with = "secret_opt", default)]
    pub refresh_token: Option<SecretString>,
    /// Unix seconds when the access token expires, when Capsule said.
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub scope: Option<String>,
    /// Unix seconds when Capsule issued the access token, when known: it sets how early a
    /// short-lived token is refreshed.
    #[serde(default)]
    pub obtained_at: Option<i64>,
}

impl std::fmt::Debug for CapsuleGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CapsuleGrant")
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl CapsuleGrant {
    /// Refresh a minute before expiry, so a token never expires in flight — or, for a token
    /// issued to live less than two minutes, halfway through its life, so that a fresh one is
    /// not already due (which would refresh it on every call).
    pub fn needs_refresh(&self, now: i64) -> bool {
        let Some(expires) = self.expires_at else {
            return false;
        };
        let lead = self
            .obtained_at
            .map_or(60, |o| (expires.saturating_sub(o) / 2).clamp(0, 60));
        now >= expires.saturating_sub(lead)
    }
}

/// The store key of a person's sealed Capsule tokens.
pub fn grant_key(person_id: &str) -> String {
    format!("person:{person_id}:capsule")
}

#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Seal(#[from] super::seal::SealError),
    #[error("a stored Capsule grant is not readable: {0}")]
    Format(String),
}

/// The person's Capsule tokens, if they linked an account.
pub async fn load_grant(
    store: &dyn StateStore,
    sealer: &Sealer,
    person_id: &str,
) -> Result<Option<CapsuleGrant>, GrantError> {
    let key = grant_key(person_id);
    let Some(sealed) = store.get(&key).await? else {
        return Ok(None);
    };
    let plain = sealer.open(&key, &sealed)?;
    serde_json::from_slice(&plain)
        .map(Some)
        .map_err(|e| GrantError::Format(e.to_string()))
}

/// Stores the person's Capsule tokens, replacing what was there.
pub async fn save_grant(
    store: &dyn StateStore,
    sealer: &Sealer,
    person_id: &str,
    grant: &CapsuleGrant,
) -> Result<(), GrantError> {
    let key = grant_key(person_id);
    let plain = serde_json::to_vec(grant).map_err(|e| GrantError::Format(e.to_string()))?;
    store.put(&key, sealer.seal(&key, &plain), None).await?;
    Ok(())
}

mod secret {
    use super::*;
    pub fn serialize<S: serde::Serializer>(v: &SecretString, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.expose_secret())
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
        String::deserialize(d).map(SecretString::from)
    }
}

mod secret_opt {
    use super::*;
    pub fn serialize<S: serde::Serializer>(
        v: &Option<SecretString>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(v.expose_secret()),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SecretString>, D::Error> {
        Option::<String>::deserialize(d).map(|o| o.map(SecretString::from))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use base64::Engine as _;

    use super::*;
    use crate::team::store::MemoryStore;

    #[tokio::test]
    async fn a_grant_is_stored_sealed_and_read_back() {
        let store = MemoryStore::new();
        let key = SecretString::from(base64::engine::general_purpose::STANDARD.encode([3u8; 32]));
        let sealer = Sealer::from_base64(&key).unwrap();
        let grant = CapsuleGrant {
            access_token: SecretString::from("access-abc"),
            refresh_token: Some(SecretString::from("refresh-xyz")),
            expires_at: Some(1_000),
            scope: Some("read write".into()),
            obtained_at: None,
        };
        assert!(
            load_grant(&store, &sealer, "7@acme")
                .await
                .unwrap()
                .is_none()
        );
        save_grant(&store, &sealer, "7@acme", &grant).await.unwrap();
        let raw = store.get(&grant_key("7@acme")).await.unwrap().unwrap();
        assert!(!raw.windows(6).any(|w| w == b"access" || w == b"refres"));
        let back = load_grant(&store, &sealer, "7@acme")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back.access_token.expose_secret(), "access-abc");
        assert_eq!(back.refresh_token.unwrap().expose_secret(), "refresh-xyz");
        assert!(back.expires_at == Some(1_000) && !format!("{grant:?}").contains("abc"));
        assert!(grant.needs_refresh(950) && !grant.needs_refresh(900));
    }

    #[test]
    fn a_short_lived_token_is_refreshed_halfway_a_long_one_a_minute_early() {
        let grant = |obtained: Option<i64>, expires: i64| CapsuleGrant {
            access_token: SecretString::from("a"),
            refresh_token: None,
            expires_at: Some(expires),
            scope: None,
            obtained_at: obtained,
        };
        let week = grant(Some(0), 604_800);
        assert!(!week.needs_refresh(604_739) && week.needs_refresh(604_740));
        // A token of 30 s is not due when it arrives, only after 15 s.
        let short = grant(Some(1_000), 1_030);
        assert!(!short.needs_refresh(1_000) && !short.needs_refresh(1_014));
        assert!(short.needs_refresh(1_015));
        // Without the issue time, a minute early as before.
        assert!(grant(None, 1_030).needs_refresh(1_000));
        let never = CapsuleGrant {
            expires_at: None,
            ..grant(None, 0)
        };
        assert!(!never.needs_refresh(i64::MAX));
    }
}
