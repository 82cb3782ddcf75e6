//! One [`App`] per person on a team server: each with its own Capsule client over that
//! person's stored Capsule tokens ([`PersonTokens`]), its own reference-data and completion
//! caches, and the person's rate budget shared with every replica.
//!
//! [`People::app_for`] is what the server calls on every request that carries a [`Person`].
//! At most [`People::max_apps`] apps are kept; the least recently used goes first, and an
//! evicted person's next call makes a fresh app (their tokens and rate hold live in the
//! store, so nothing is lost but warm caches).

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use super::{
    person::Person,
    rate_hold::StoreRateHold,
    seal::Sealer,
    store::StateStore,
    tokens::{Grants, PersonTokens},
};
use crate::{
    app::App,
    capsule::{
        CapsuleClient,
        client::ClientOptions,
        error::CapsuleError,
        oauth::{self, OAuthApp},
    },
};

/// How many people's apps a server keeps by default.
pub const DEFAULT_MAX_APPS: usize = 1000;

/// What every person's app is built from.
pub struct People {
    grants: Arc<Grants>,
    client_options: ClientOptions,
    cache_ttl: Duration,
    read_only: bool,
    max_apps: AtomicUsize,
    apps: Mutex<Apps>,
}

/// The apps made so far, each with when it was last used (a counter, not a clock).
#[derive(Default)]
struct Apps {
    by_person: HashMap<String, (Arc<App>, u64)>,
    tick: u64,
}

impl Apps {
    fn get(&mut self, person_id: &str) -> Option<Arc<App>> {
        self.tick += 1;
        let tick = self.tick;
        self.by_person.get_mut(person_id).map(|(app, used)| {
            *used = tick;
            app.clone()
        })
    }

    /// Adds `app`, first evicting the least recently used while there are `max` or more.
    fn insert(&mut self, person_id: String, app: Arc<App>, max: usize) {
        while self.by_person.len() >= max.max(1) {
            let Some(oldest) = self
                .by_person
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(id, _)| id.clone())
            else {
                break;
            };
            self.by_person.remove(&oldest);
        }
        self.tick += 1;
        self.by_person.insert(person_id, (app, self.tick));
    }
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
            grants: Arc::new(Grants {
                store,
                sealer,
                capsule,
                http: oauth::http_client()?,
            }),
            client_options,
            cache_ttl,
            read_only,
            max_apps: AtomicUsize::new(DEFAULT_MAX_APPS),
            apps: Mutex::default(),
        }))
    }

    /// Keeps at most `max` people's apps (at least one) from the next app made on.
    pub fn set_max_apps(&self, max: usize) {
        self.max_apps.store(max.max(1), Ordering::Relaxed);
    }

    pub fn max_apps(&self) -> usize {
        self.max_apps.load(Ordering::Relaxed)
    }

    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.grants.store
    }

    pub fn sealer(&self) -> &Arc<Sealer> {
        &self.grants.sealer
    }

    /// How many people's apps are kept now.
    pub fn apps_kept(&self) -> usize {
        self.apps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_person
            .len()
    }

    /// The app that acts as `person`, made on first use (or again after an eviction).
    pub fn app_for(self: &Arc<Self>, person: &Person) -> Result<Arc<App>, CapsuleError> {
        let mut apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(app) = apps.get(&person.id) {
            return Ok(app);
        }
        let tokens = Arc::new(PersonTokens::new(
            self.grants.clone(),
            person.id.clone(),
            self.client_options.call_budget,
        ));
        let hold = Arc::new(StoreRateHold::new(
            self.grants.store.clone(),
            person.capsule_user_id,
        ));
        let client = CapsuleClient::with_rate_share(self.client_options.clone(), tokens, hold)?;
        let app = Arc::new(App::new(client, self.cache_ttl, self.read_only));
        apps.insert(person.id.clone(), app.clone(), self.max_apps());
        Ok(app)
    }
}
