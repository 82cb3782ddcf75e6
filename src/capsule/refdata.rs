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

    /// The address of the account's web app (`GET /site` → `url`, no trailing slash), cached
    /// for the TTL like the lists. `None` when `/site` cannot be read: records then come back
    /// without their `web_url`, and the next call asks again.
    pub async fn site_url(&self, client: &CapsuleClient) -> Option<String> {
        let slot = self.slot(SITE);
        let mut guard = slot.lock().await;
        if let Some((at, items)) = guard.as_ref()
            && at.elapsed() < self.ttl
        {
            return items.first().and_then(Value::as_str).map(str::to_owned);
        }
        let url = match client.send(&Request::get(SITE)).await {
            Ok(resp) => site_url_of(&resp.body),
            Err(e) => {
                tracing::debug!(error = %e, "GET /site failed; records go without web_url");
                return None;
            }
        };
        let Some(url) = url else {
            tracing::debug!("GET /site gave no usable url; records go without web_url");
            return None;
        };
        *guard = Some((Instant::now(), Arc::new(vec![Value::String(url.clone())])));
        Some(url)
    }

    /// Forget everything (after a write that changes reference data).
    pub fn invalidate(&self, path_prefix: &str) {
        if let Ok(mut slots) = self.slots.lock() {
            slots.retain(|k, _| !k.starts_with(path_prefix));
        }
    }
}

const SITE: &str = "/site";

/// `site.url` of a `/site` answer, when it is an http(s) address.
fn site_url_of(body: &Value) -> Option<String> {
    let site: super::wire::Site = super::wire::unwrap_single(body, "site").ok()?;
    let url = site.url?;
    let url = url.trim().trim_end_matches('/');
    let parsed = url::Url::parse(url).ok()?;
    (matches!(parsed.scheme(), "http" | "https") && parsed.host_str().is_some())
        .then(|| url.to_owned())
}

/// A record with a page in Capsule's web app (`{site}/party/{id}`, ...).
pub trait WebLinked {
    fn set_web_url(&mut self, site: &str);
}

/// The record with its `web_url` when the site is known.
pub fn linked<T: WebLinked>(site: Option<&str>, mut record: T) -> T {
    if let Some(site) = site {
        record.set_web_url(site);
    }
    record
}

/// `/users` and `/teams` are not paginated in Capsule.
fn paginated(path: &str) -> bool {
    !matches!(path, "/users" | "/teams")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_documented_site_answer() {
        let doc = crate::capsule::map::fixture("site_show.json");
        assert_eq!(
            site_url_of(&doc).as_deref(),
            Some("https://acme.capsulecrm.com")
        );
        let slash = json!({"site": {"url": "https://acme.capsulecrm.com/"}});
        assert_eq!(
            site_url_of(&slash).as_deref(),
            Some("https://acme.capsulecrm.com")
        );
        for bad in [
            json!({}),
            json!({"site": {"url": null}}),
            json!({"site": {"url": "javascript:alert(1)"}}),
            json!({"site": {"url": "acme"}}),
        ] {
            assert_eq!(site_url_of(&bad), None, "{bad}");
        }
    }
}
