//! A short-lived cache of reference data that rarely changes (custom field definitions, tags,
//! pipelines, users, ...), so resolving a name does not cost a Capsule request on every call.

use std::{
    any::Any,
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::Value;

use super::{CapsuleClient, CapsuleError, Request, page::MAX_PER_PAGE};

/// Reference lists are small; this bounds a runaway one.
const MAX_REFERENCE_RECORDS: usize = 5_000;

/// One cached list: when it was fetched, its records, and (once asked for) a typed decoding
/// of those same records, which lives and dies with them.
struct Cached {
    at: Instant,
    items: Arc<Vec<Value>>,
    decoded: Option<Arc<dyn Any + Send + Sync>>,
}

impl Cached {
    fn new(items: Arc<Vec<Value>>) -> Self {
        Self {
            at: Instant::now(),
            items,
            decoded: None,
        }
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<Cached>>>;

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
        let cached = self
            .fresh(&mut guard, client, (path, plural), query, since)
            .await?;
        Ok(cached.items.clone())
    }

    /// As [`RefData::list_since`], decoded by `decode` into a `T` that is cached with the
    /// records it came from: the same TTL, the same refresh when `since` is given, and the
    /// same fetch shared with [`RefData::list`] callers. A decoding that fails is not kept
    /// (the next call decodes again). One `T` per list: every caller of a list must ask for
    /// the same `T` (another type is decoded afresh and replaces it).
    pub async fn decoded_since<T, E>(
        &self,
        client: &CapsuleClient,
        (path, plural): (&str, &str),
        since: Option<Instant>,
        decode: impl FnOnce(&[Value]) -> Result<T, E>,
    ) -> Result<Arc<T>, E>
    where
        T: Send + Sync + 'static,
        E: From<CapsuleError>,
    {
        let query: &[(String, String)] = &[];
        let key = format!("{path}?{query:?}");
        let slot = self.slot(&key);
        let mut guard = slot.lock().await;
        let cached = self
            .fresh(&mut guard, client, (path, plural), query, since)
            .await?;
        if let Some(typed) = cached
            .decoded
            .clone()
            .and_then(|d| Arc::downcast::<T>(d).ok())
        {
            return Ok(typed);
        }
        let typed = Arc::new(decode(&cached.items)?);
        cached.decoded = Some(typed.clone());
        Ok(typed)
    }

    /// The slot's list, fetched again when missing, past the TTL, or older than `since`.
    async fn fresh<'g>(
        &self,
        guard: &'g mut Option<Cached>,
        client: &CapsuleClient,
        (path, plural): (&str, &str),
        query: &[(String, String)],
        since: Option<Instant>,
    ) -> Result<&'g mut Cached, CapsuleError> {
        let keep = guard
            .as_ref()
            .is_some_and(|c| c.at.elapsed() < self.ttl && since.is_none_or(|s| c.at >= s));
        let cached = match guard.take() {
            Some(c) if keep => c,
            old => {
                let mut req = Request::get(path).queries(query);
                if !plural.is_empty()
                    && !query.iter().any(|(k, _)| k == "perPage")
                    && paginated(path)
                {
                    req = req.query("perPage", MAX_PER_PAGE.to_string());
                }
                match client.list_all(req, plural, MAX_REFERENCE_RECORDS).await {
                    Ok(items) => Cached::new(Arc::new(items)),
                    Err(e) => {
                        // As before: a failed fetch leaves what was cached in place.
                        *guard = old;
                        return Err(e);
                    }
                }
            }
        };
        Ok(guard.insert(cached))
    }

    /// The address of the account's web app (`GET /site` → `url`, no trailing slash), cached
    /// for the TTL like the lists. `None` when `/site` cannot be read: records then come back
    /// without their `web_url`, and the next call asks again.
    pub async fn site_url(&self, client: &CapsuleClient) -> Option<String> {
        let slot = self.slot(SITE);
        let mut guard = slot.lock().await;
        if let Some(cached) = guard.as_ref()
            && cached.at.elapsed() < self.ttl
        {
            return cached
                .items
                .first()
                .and_then(Value::as_str)
                .map(str::to_owned);
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
        *guard = Some(Cached::new(Arc::new(vec![Value::String(url.clone())])));
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

    #[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    #[tokio::test]
    async fn a_decoding_lives_and_dies_with_its_cached_list() {
        use crate::capsule::{auth::StaticToken, client::ClientOptions};
        use crate::sandbox::{ADMIN_TOKEN, Sandbox, SandboxOptions};
        use std::sync::atomic::{AtomicUsize, Ordering};

        let sb = Sandbox::start(([127, 0, 0, 1], 0).into(), SandboxOptions::default())
            .await
            .unwrap();
        let client = CapsuleClient::new(
            ClientOptions {
                api_url: sb.api_url(),
                ..Default::default()
            },
            StaticToken::new(ADMIN_TOKEN.to_owned().into(), "test"),
        )
        .unwrap();
        // Fetches as the upstream counts them.
        let fetches = || async {
            let stats: Value = reqwest::get(format!("{}/_sandbox/stats", sb.base_url()))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            stats["requests"]["GET /parties/fields/definitions"]
                .as_u64()
                .unwrap_or(0)
        };
        let refdata = RefData::new(Duration::from_secs(600));
        let ep = ("/parties/fields/definitions", "definitions");
        let decodes = AtomicUsize::new(0);
        let decode = |items: &[Value]| {
            decodes.fetch_add(1, Ordering::SeqCst);
            Ok::<_, CapsuleError>(items.len())
        };

        let first = refdata
            .decoded_since(&client, ep, None, decode)
            .await
            .unwrap();
        let again = refdata
            .decoded_since(&client, ep, None, decode)
            .await
            .unwrap();
        assert!(*first > 0, "the sandbox has party field definitions");
        assert!(
            Arc::ptr_eq(&first, &again),
            "the second call shares the first decoding"
        );
        assert_eq!(decodes.load(Ordering::SeqCst), 1);
        assert_eq!(fetches().await, 1);

        // The raw list is the same cached copy: no fetch, and the decoding stays.
        let raw = refdata.list(&client, ep.0, ep.1, &[]).await.unwrap();
        assert_eq!(raw.len(), *first);
        assert_eq!(fetches().await, 1);
        let kept = refdata
            .decoded_since(&client, ep, None, decode)
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&first, &kept));
        assert_eq!(decodes.load(Ordering::SeqCst), 1);

        // A miss (`since`) fetches once more and decodes the new copy.
        let since = Instant::now();
        let fresh = refdata
            .decoded_since(&client, ep, Some(since), decode)
            .await
            .unwrap();
        assert!(!Arc::ptr_eq(&first, &fresh));
        assert_eq!(decodes.load(Ordering::SeqCst), 2);
        assert_eq!(fetches().await, 2);
        let same = refdata
            .decoded_since(&client, ep, Some(since), decode)
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&fresh, &same), "one refresh per miss");
        assert_eq!(fetches().await, 2);

        // A decoding that fails is not kept; the list is.
        let other = RefData::new(Duration::from_secs(600));
        let failed = other
            .decoded_since(&client, ep, None, |_| {
                Err::<usize, _>(CapsuleError::Decode {
                    path: String::new(),
                    message: "x".into(),
                })
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(fetches().await, 3);
        let after = other
            .decoded_since(&client, ep, None, decode)
            .await
            .unwrap();
        assert_eq!(*after, *first);
        assert_eq!(decodes.load(Ordering::SeqCst), 3);
        assert_eq!(fetches().await, 3);

        // Past the TTL: fetched and decoded again.
        let short = RefData::new(Duration::ZERO);
        short
            .decoded_since(&client, ep, None, decode)
            .await
            .unwrap();
        short
            .decoded_since(&client, ep, None, decode)
            .await
            .unwrap();
        assert_eq!(decodes.load(Ordering::SeqCst), 5);
        assert_eq!(fetches().await, 5);
        sb.shutdown().await;
    }
}
