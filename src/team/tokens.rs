//! A team member's Capsule tokens as the Capsule client asks for them: read from the shared
//! store (cached for a moment), refreshed before expiry or on a 401 — once per expiry for the
//! person however many calls and replicas want it.
//!
//! Single flight has two layers. In a process, one mutex per person: the calls behind it find
//! the new grant when they get in. Across replicas, a store lock `lock:refresh:{person}`
//! (`put_new` with a lease, `delete_if` its nonce to release it): the replica that takes it
//! reads the grant again (another may have just refreshed) and refreshes only if it must;
//! the others poll the grant until the access token changed or the lock is gone.
//!
//! A refresh token Capsule refused (`invalid_grant`) is remembered under
//! `person:{person}:refused-refresh` (its hash), so no replica sends it again and every
//! waiting call gets the same "link again" error; a new link brings a new refresh token.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use secrecy::{ExposeSecret, SecretString};

use super::{
    person::{CapsuleGrant, load_grant, save_grant},
    seal::{Sealer, random_secret, token_hash},
    store::StateStore,
};
use crate::capsule::{
    auth::{BoxFuture, TokenProvider},
    error::CapsuleError,
    oauth::{self, OAuthApp, OAuthError},
};

/// What every person's tokens are kept and refreshed with.
pub(crate) struct Grants {
    pub store: Arc<dyn StateStore>,
    pub sealer: Arc<Sealer>,
    /// The server's own Capsule OAuth application (one for every person).
    pub capsule: OAuthApp,
    pub http: reqwest::Client,
}

pub(crate) const RELINK: &str = "your Capsule link has expired or was revoked: disconnect this \
server in your MCP client and connect again to link your Capsule account";

/// How long a grant read from the store is used without reading it again. A token another
/// replica rotated is picked up after this, or at once on a 401.
const CACHE_FOR: Duration = Duration::from_secs(2);
/// The lease of a refresh lock: longer than a refresh takes, short enough that a replica that
/// died holding it does not keep the person waiting long.
const LEASE: Duration = Duration::from_secs(30);
/// How long a refused refresh token is remembered (it never works again; after this, one
/// more request to Capsule would find that out again).
const REFUSED_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

pub(crate) fn refresh_lock_key(person_id: &str) -> String {
    format!("lock:refresh:{person_id}")
}

pub(crate) fn refused_key(person_id: &str) -> String {
    format!("person:{person_id}:refused-refresh")
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn same(a: &SecretString, b: &SecretString) -> bool {
    a.expose_secret() == b.expose_secret()
}

fn store_error(e: impl std::fmt::Display) -> CapsuleError {
    CapsuleError::Auth(format!(
        "your Capsule link could not be read from this server's state store ({e}); try again, \
         and if it persists tell the server's operator"
    ))
}

pub(crate) struct PersonTokens {
    grants: Arc<Grants>,
    person_id: String,
    /// How long a call waits for another replica's refresh (the client's call budget).
    wait_for: Duration,
    cached: Mutex<Option<(Instant, Arc<CapsuleGrant>)>>,
    refreshing: tokio::sync::Mutex<()>,
}

impl PersonTokens {
    pub(crate) fn new(grants: Arc<Grants>, person_id: String, wait_for: Duration) -> Self {
        Self {
            grants,
            person_id,
            wait_for,
            cached: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self) -> Option<Arc<CapsuleGrant>> {
        let cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        cached
            .as_ref()
            .filter(|(at, _)| at.elapsed() < CACHE_FOR)
            .map(|(_, g)| g.clone())
    }

    fn remember(&self, grant: Arc<CapsuleGrant>) {
        *self.cached.lock().unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), grant));
    }

    /// The grant as the store holds it now (and cached).
    async fn load(&self) -> Result<Arc<CapsuleGrant>, CapsuleError> {
        let grant = load_grant(&*self.grants.store, &self.grants.sealer, &self.person_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| CapsuleError::Auth(RELINK.into()))?;
        let grant = Arc::new(grant);
        self.remember(grant.clone());
        Ok(grant)
    }

    async fn current(&self) -> Result<Arc<CapsuleGrant>, CapsuleError> {
        match self.cached() {
            Some(g) => Ok(g),
            None => self.load().await,
        }
    }

    /// Whether Capsule already refused this grant's refresh token.
    async fn refused(&self, grant: &CapsuleGrant) -> Result<bool, CapsuleError> {
        let Some(refresh) = &grant.refresh_token else {
            return Ok(true);
        };
        let marked = self
            .grants
            .store
            .get(&refused_key(&self.person_id))
            .await
            .map_err(store_error)?;
        Ok(marked.is_some_and(|m| m == token_hash(refresh.expose_secret()).as_bytes()))
    }

    /// A grant to use instead of `used`, which expired or was refused: what another call or
    /// replica already stored, or a new one from Capsule — one refresh per person at a time.
    async fn replace(&self, used: &SecretString) -> Result<Arc<CapsuleGrant>, CapsuleError> {
        let _flight = self.refreshing.lock().await;
        let deadline = Instant::now() + self.wait_for;
        let mut used = used.clone();
        loop {
            let current = self.load().await?;
            if !same(&current.access_token, &used) {
                if !current.needs_refresh(now()) {
                    return Ok(current);
                }
                // Replaced, but by a grant that is about to expire too.
                used = current.access_token.clone();
            }
            if self.refused(&current).await? {
                return Err(CapsuleError::Auth(RELINK.into()));
            }
            let lock = refresh_lock_key(&self.person_id);
            let nonce = random_secret();
            let nonce = nonce.expose_secret().as_bytes();
            let took = self
                .grants
                .store
                .put_new(&lock, nonce.to_vec(), Some(LEASE))
                .await
                .map_err(store_error)?;
            if took {
                let result = self.refresh_holding_lock(&used).await;
                if let Err(e) = self.grants.store.delete_if(&lock, nonce).await {
                    // The lease ends it anyway.
                    tracing::warn!(error = %e, "a refresh lock could not be released");
                }
                return result;
            }
            self.wait_for_other(&lock, &used, deadline).await?;
        }
    }

    /// Another replica holds the refresh lock: wait until the access token changed or the lock
    /// is gone (then the caller looks again), within the call's budget.
    async fn wait_for_other(
        &self,
        lock: &str,
        used: &SecretString,
        deadline: Instant,
    ) -> Result<(), CapsuleError> {
        loop {
            let pause = Duration::from_millis(25 + fastrand::u64(0..25));
            if Instant::now() + pause > deadline {
                return Err(CapsuleError::Auth(format!(
                    "another replica of this server is refreshing your Capsule token and did \
                     not finish within {} s; try the call again",
                    self.wait_for.as_secs()
                )));
            }
            tokio::time::sleep(pause).await;
            let current = self.load().await?;
            if !same(&current.access_token, used) {
                return Ok(());
            }
            let held = self.grants.store.get(lock).await.map_err(store_error)?;
            if held.is_none() {
                return Ok(());
            }
        }
    }

    /// Holding the lock: read the grant once more (a replica may have refreshed between our
    /// read and our lock) and refresh only if it is still `used`.
    async fn refresh_holding_lock(
        &self,
        used: &SecretString,
    ) -> Result<Arc<CapsuleGrant>, CapsuleError> {
        let current = self.load().await?;
        if !same(&current.access_token, used) && !current.needs_refresh(now()) {
            return Ok(current);
        }
        if self.refused(&current).await? {
            return Err(CapsuleError::Auth(RELINK.into()));
        }
        let Some(refresh_token) = current.refresh_token.clone() else {
            return Err(CapsuleError::Auth(RELINK.into()));
        };
        let g = &self.grants;
        tracing::info!("refreshing a team member's Capsule access token");
        match oauth::refresh(&g.capsule, &g.http, &refresh_token).await {
            Ok(t) => {
                let obtained = now();
                let next = CapsuleGrant {
                    access_token: t.access_token,
                    // Capsule rotates refresh tokens: keep the newest one.
                    refresh_token: t.refresh_token.or(Some(refresh_token)),
                    expires_at: t
                        .expires_in
                        .and_then(|s| obtained.checked_add(i64::try_from(s).ok()?)),
                    scope: t.scope.or_else(|| current.scope.clone()),
                    obtained_at: Some(obtained),
                };
                save_grant(&*g.store, &g.sealer, &self.person_id, &next)
                    .await
                    .map_err(store_error)?;
                let next = Arc::new(next);
                self.remember(next.clone());
                Ok(next)
            }
            Err(OAuthError::InvalidGrant(_)) => {
                let mark = token_hash(refresh_token.expose_secret()).into_bytes();
                if let Err(e) = g
                    .store
                    .put(&refused_key(&self.person_id), mark, Some(REFUSED_FOR))
                    .await
                {
                    tracing::warn!(error = %e, "a refused refresh could not be remembered");
                }
                Err(CapsuleError::Auth(RELINK.into()))
            }
            Err(OAuthError::Other(m)) => Err(CapsuleError::Auth(format!(
                "your Capsule access token could not be refreshed ({m}); try again in a moment"
            ))),
        }
    }
}

impl TokenProvider for PersonTokens {
    fn token(&self) -> BoxFuture<'_, Result<SecretString, CapsuleError>> {
        Box::pin(async move {
            let grant = self.current().await?;
            if grant.needs_refresh(now()) {
                return Ok(self
                    .replace(&grant.access_token)
                    .await?
                    .access_token
                    .clone());
            }
            Ok(grant.access_token.clone())
        })
    }

    fn refused(&self, used: &SecretString) -> BoxFuture<'_, Result<bool, CapsuleError>> {
        let used = used.clone();
        Box::pin(async move {
            self.replace(&used).await?;
            Ok(true)
        })
    }

    fn describe(&self) -> String {
        "a team member's linked Capsule account".into()
    }
}
