//! Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document), which the MCP
//! authorization specification (2025-11-25) prefers to dynamic registration: a client whose
//! `client_id` is an https URL is described by the JSON document served at that URL, so it
//! needs no registration with this server.
//!
//! When `/authorize`, `/token` or `/revoke` meet such a `client_id`, the server checks the URL
//! ([`id_url`]), fetches the document ([`fetch`]: only public addresses, 5 s, 64 KiB, JSON,
//! `200` only — redirects are not followed), validates it ([`document`]: its `client_id` is
//! the URL exactly, its redirect URIs pass the registration rules, it is a public client) and
//! keeps the resulting client in the store for `Cache-Control: max-age` (5 minutes when the
//! document says nothing, at most an hour; `no-store`/`no-cache` are not kept), so the
//! `/token` request that follows an `/authorize` does not fetch it again.
//!
//! Loopback documents (`http` or `https` on 127.0.0.1, `::1` or `localhost`) are accepted only
//! with `CAPSULE_MCP_OAUTH_ALLOW_LOOPBACK_CLIENT_IDS=1` or `--sandbox`, for local tests.

mod address;
mod document;
mod fetch;
mod id_url;

use std::time::Duration;

pub use fetch::Fetcher;

use super::{AuthServer, clients::ClientRecord};
use crate::team::{seal::token_hash, store::StoreError};

/// Why a metadata document client cannot be used.
pub enum Refusal {
    /// What is wrong with the URL or its document, to show the person or the client.
    Invalid(String),
    Store(StoreError),
}

/// Whether `client_id` names a metadata document (a registered client's id never does).
pub fn is_document_url(client_id: &str) -> bool {
    let lower = client_id.get(..8).unwrap_or(client_id).to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

fn cache_key(url: &str) -> String {
    format!("oauth:cimd:{}", token_hash(url))
}

/// The client the document at `client_id` describes: from the store while a validated copy is
/// fresh, else fetched and validated now.
pub(super) async fn client(server: &AuthServer, client_id: &str) -> Result<ClientRecord, Refusal> {
    let url =
        id_url::check(client_id, server.documents.allows_loopback()).map_err(Refusal::Invalid)?;
    let key = cache_key(client_id);
    if let Some(record) = server
        .get_json::<ClientRecord>(&key)
        .await
        .map_err(Refusal::Store)?
        && record.client_id == client_id
    {
        return Ok(record);
    }
    let fetched = server.documents.get(&url).await.map_err(|e| {
        tracing::info!(client_id, error = %e, "cannot fetch a client ID metadata document");
        Refusal::Invalid(e)
    })?;
    let record = document::validate(client_id, &fetched.body).map_err(|e| {
        tracing::info!(client_id, error = %e, "refused a client ID metadata document");
        Refusal::Invalid(e)
    })?;
    if let Some(ttl) = fetched.keep_for.filter(|t| !t.is_zero()) {
        server
            .put_json(&key, &record, Some(ttl.min(Duration::from_secs(3600))))
            .await
            .map_err(Refusal::Store)?;
    }
    tracing::info!(client_id, client = ?record.client_name, "using a client ID metadata document");
    Ok(record)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn only_urls_are_document_ids() {
        assert!(is_document_url("https://app.example/client.json"));
        assert!(is_document_url("HTTPS://app.example/client.json"));
        assert!(is_document_url("http://127.0.0.1:5/c"));
        assert!(!is_document_url("kq3Jx0_random-client-id"));
        assert!(!is_document_url("https"));
        assert!(!is_document_url(""));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod cache_tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use axum::{Router, extract::Path, http::header, routing::get};

    use super::*;
    use crate::team::oauth::tests::server;

    /// Serves `/{cache}/client.json` (its `Cache-Control` the path's first segment) on
    /// loopback, counting fetches; the base URL.
    async fn host(hits: Arc<AtomicUsize>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let me = base.clone();
        let app = Router::new().route(
            "/{cache}/client.json",
            get(move |Path(cache): Path<String>| {
                hits.fetch_add(1, Ordering::SeqCst);
                let doc = serde_json::json!({
                    "client_id": format!("{me}/{cache}/client.json"),
                    "client_name": "Cached",
                    "redirect_uris": ["http://127.0.0.1:9/cb"],
                });
                async move {
                    (
                        [
                            (header::CONTENT_TYPE, "application/json".to_owned()),
                            (header::CACHE_CONTROL, cache.replace('_', "=")),
                        ],
                        doc.to_string(),
                    )
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }

    #[tokio::test]
    async fn a_validated_document_is_kept_as_long_as_it_may_be() {
        let hits = Arc::new(AtomicUsize::new(0));
        let base = host(hits.clone()).await;
        let (s, _) = server();
        let kept = format!("{base}/max-age_60/client.json");
        for _ in 0..3 {
            let Ok(c) = client(&s, &kept).await else {
                panic!("the document was refused")
            };
            assert_eq!(c.client_name.as_deref(), Some("Cached"));
        }
        assert_eq!(hits.load(Ordering::SeqCst), 1, "fetched once, then kept");
        let unkept = format!("{base}/no-store/client.json");
        for _ in 0..2 {
            assert!(client(&s, &unkept).await.is_ok());
        }
        assert_eq!(
            hits.load(Ordering::SeqCst),
            3,
            "no-store is fetched each time"
        );
    }
}
