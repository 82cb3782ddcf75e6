//! One [`App`] per person on a team server: each with its own Capsule client (so its own
//! rate-limit state) over that person's stored Capsule tokens, and its own reference-data
//! cache.
//!
//! [`People::app_for`] is what the server calls on every request that carries a [`Person`].

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use secrecy::{ExposeSecret, SecretString};

use super::{
    person::{CapsuleGrant, Person, load_grant, save_grant},
    seal::Sealer,
    store::StateStore,
};
use crate::{
    app::App,
    capsule::{
        CapsuleClient,
        auth::{BoxFuture, TokenProvider},
        client::ClientOptions,
        error::CapsuleError,
        oauth::{self, OAuthApp, OAuthError},
    },
};

/// What every person's app is built from.
pub struct People {
    store: Arc<dyn StateStore>,
    sealer: Arc<Sealer>,
    /// The server's own Capsule OAuth application (one for every person).
    capsule: OAuthApp,
    http: reqwest::Client,
    client_options: ClientOptions,
    cache_ttl: Duration,
    read_only: bool,
    apps: Mutex<HashMap<String, Arc<App>>>,
}

const RELINK: &str = "your Capsule link has expired or was revoked: disconnect this server in \
your MCP client and connect again to link your Capsule account";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl People {
    pub fn new(
        store: Arc<dyn StateStore>,
        sealer: Arc<Sealer>,
        capsule: OAuthApp,
        client_options: ClientOptions,
        cache_ttl: Duration,
        read_only: bool,
    ) -> Result<Arc<Self>, CapsuleError> {
        Ok(Arc::new(Self {
            store,
            sealer,
            capsule,
            http: oauth::http_client()?,
            client_options,
            cache_ttl,
            read_only,
            apps: Mutex::default(),
        }))
    }

    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.store
    }

    pub fn sealer(&self) -> &Arc<Sealer> {
        &self.sealer
    }

    /// The app that acts as `person`, made on first use.
    pub fn app_for(self: &Arc<Self>, person: &Person) -> Result<Arc<App>, CapsuleError> {
        let mut apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(app) = apps.get(&person.id) {
            return Ok(app.clone());
        }
        let tokens = Arc::new(PersonTokens {
            people: self.clone(),
            person_id: person.id.clone(),
            refreshing: tokio::sync::Mutex::new(()),
        });
        let client = CapsuleClient::new(self.client_options.clone(), tokens)?;
        let app = Arc::new(App::new(client, self.cache_ttl, self.read_only));
        apps.insert(person.id.clone(), app.clone());
        Ok(app)
    }
}

/// A person's Capsule tokens, read from the store on every request (so a refresh made by
/// another replica is seen at once) and refreshed before expiry or on a 401.
struct PersonTokens {
    people: Arc<People>,
    person_id: String,
    refreshing: tokio::sync::Mutex<()>,
}

impl PersonTokens {
    async fn grant(&self) -> Result<CapsuleGrant, CapsuleError> {
        load_grant(&*self.people.store, &self.people.sealer, &self.person_id)
            .await
            .map_err(|e| CapsuleError::Auth(e.to_string()))?
            .ok_or_else(|| CapsuleError::Auth(RELINK.into()))
    }

    /// Refreshes unless someone already replaced `used`.
    async fn refresh_replacing(&self, used: &SecretString) -> Result<(), CapsuleError> {
        let _flight = self.refreshing.lock().await;
        let current = self.grant().await?;
        if current.access_token.expose_secret() != used.expose_secret() {
            return Ok(());
        }
        let Some(refresh_token) = current.refresh_token.clone() else {
            return Err(CapsuleError::Auth(RELINK.into()));
        };
        let people = &self.people;
        match oauth::refresh(&people.capsule, &people.http, &refresh_token).await {
            Ok(t) => {
                let obtained = now();
                let next = CapsuleGrant {
                    access_token: t.access_token,
                    refresh_token: t.refresh_token.or(Some(refresh_token)),
                    expires_at: t
                        .expires_in
                        .and_then(|s| obtained.checked_add(i64::try_from(s).ok()?)),
                    scope: t.scope.or(current.scope),
                };
                save_grant(&*people.store, &people.sealer, &self.person_id, &next)
                    .await
                    .map_err(|e| CapsuleError::Auth(e.to_string()))
            }
            Err(OAuthError::InvalidGrant(_)) => Err(CapsuleError::Auth(RELINK.into())),
            Err(OAuthError::Other(m)) => Err(CapsuleError::Auth(format!(
                "your Capsule access token could not be refreshed: {m}"
            ))),
        }
    }
}

impl TokenProvider for PersonTokens {
    fn token(&self) -> BoxFuture<'_, Result<SecretString, CapsuleError>> {
        Box::pin(async move {
            let grant = self.grant().await?;
            if grant.needs_refresh(now()) {
                self.refresh_replacing(&grant.access_token).await?;
                return Ok(self.grant().await?.access_token);
            }
            Ok(grant.access_token)
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
        "a team member's linked Capsule account".into()
    }
}
