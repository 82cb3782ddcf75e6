//! A short-lived cache of reference data that rarely changes (custom field definitions, tags,
//! pipelines, users, ...), so resolving a name does not cost a Capsule request on every call.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::Value;

use super::{CapsuleClient, CapsuleError, Request, page::MAX_PER_PAGE};

/// Reference lists are small; this bounds a runaway one.
const MAX_REFERENCE_RECORDS: usize = 5_000;

type Slot = Arc<tokio::sync::Mutex<Option<(Instant, Arc<Vec<Value>>)>>>;

pub struct RefData {
    ttl: Duration,
    slots: Mutex<HashMap<String, Slot>>,
}

impl RefData {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, key: &str) -> Slot {
        match self.slots.lock() {
            Ok(mut slots) => slots.entry(key.to_owned()).or_default().clone(),
            Err(_) => Slot::default(),
        }
    }

    /// Every record of the list at `path` (under `plural`), cached for the TTL. Concurrent
    /// callers for the same list wait for one fetch.
    pub async fn list(
        &self,
        client: &CapsuleClient,
        path: &str,
        plural: &str,
        query: &[(String, String)],
    ) -> Result<Arc<Vec<Value>>, CapsuleError> {
        self.list_since(client, (path, plural), query, None).await
    }

    /// As [`RefData::list`]; with `since`, a copy fetched before that moment is fetched again
    /// (a name missed it). A copy fetched since, by this call or a concurrent one, is kept, so
    /// one call refreshes a list at most once.
    pub async fn list_since(
        &self,
        client: &CapsuleClient,
        (path, plural): (&str, &str),
        query: &[(String, String)],
        since: Option<Instant>,
    ) -> Result<Arc<Vec<Value>>, CapsuleError> {
        let key = format!("{path}?{query:?}");
        let slot = self.slot(&key);
        let mut guard = slot.lock().await;
        if let Some((at, items)) = guard.as_ref()
            && at.elapsed() < self.ttl
            && since.is_none_or(|s| *at >= s)
        {
            return Ok(items.clone());
        }
        let mut req = Request::get(path).queries(query);
        if !plural.is_empty() && !query.iter().any(|(k, _)| k == "perPage") && paginated(path) {
            req = req.query("perPage", MAX_PER_PAGE.to_string());
        }
        let items = Arc::new(client.list_all(req, plural, MAX_REFERENCE_RECORDS).await?);
        *guard = Some((Instant::now(), items.clone()));
        Ok(items)
    }

    /// Forget everything (after a write that changes reference data).
    pub fn invalidate(&self, path_prefix: &str) {
        if let Ok(mut slots) = self.slots.lock() {
            slots.retain(|k, _| !k.starts_with(path_prefix));
        }
    }
}

/// `/users` and `/teams` are not paginated in Capsule.
fn paginated(path: &str) -> bool {
    !matches!(path, "/users" | "/teams")
}
