//! The guarded GET of a metadata document. The host is resolved by [`GuardedResolver`], which
//! refuses a name when any of its addresses is not public (so the connection can only go to
//! an address that was checked: no DNS rebinding between check and connect); no proxy; 5 s in
//! all; no redirects (a `3xx` is refused: the document must be served at its URL, as the
//! draft's discovery section says); only `200` with a JSON `Content-Type`; at most 64 KiB.

use std::{net::SocketAddr, time::Duration};

use reqwest::{
    StatusCode,
    dns::{Addrs, Name, Resolve, Resolving},
    header,
};

use super::address;

/// The largest document accepted.
pub const MAX_BYTES: usize = 64 * 1024;
/// How long a fetch may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// How long a document is kept when its answer has no `Cache-Control: max-age`.
pub const DEFAULT_KEEP: Duration = Duration::from_secs(300);

/// A fetched document and how long it may be kept (`None`: not at all).
pub struct Fetched {
    pub body: Vec<u8>,
    pub keep_for: Option<Duration>,
}

/// Fetches metadata documents.
pub struct Fetcher {
    http: reqwest::Client,
    allow_loopback: bool,
}

impl Fetcher {
    pub fn new(allow_loopback: bool) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .no_proxy()
            .dns_resolver(GuardedResolver { allow_loopback })
            .user_agent(concat!("capsule-mcp/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the metadata document HTTP client: {e}"))?;
        Ok(Self {
            http,
            allow_loopback,
        })
    }

    pub fn allows_loopback(&self) -> bool {
        self.allow_loopback
    }

    /// GETs `url` (already checked by [`super::id_url::check`]).
    pub async fn get(&self, url: &url::Url) -> Result<Fetched, String> {
        let mut response = self
            .http
            .get(url.as_str())
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("the metadata document cannot be fetched: {}", causes(&e)))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(format!(
                "the metadata document's URL answered {status} with a redirect; it must serve \
                 the document itself (redirects are not followed)"
            ));
        }
        if status != StatusCode::OK {
            return Err(format!(
                "the metadata document's URL answered {status}, not 200"
            ));
        }
        let headers = response.headers();
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !is_json(content_type) {
            return Err(format!(
                "the metadata document is served as {:?}; it must be application/json",
                content_type
            ));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BYTES as u64)
        {
            return Err(too_large());
        }
        let keep_for = keep_for(
            headers
                .get_all(header::CACHE_CONTROL)
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_BYTES {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(format!(
                        "the metadata document could not be read: {}",
                        causes(&e)
                    ));
                }
            }
        }
        Ok(Fetched { body, keep_for })
    }
}

fn too_large() -> String {
    format!(
        "the metadata document is larger than {} KiB",
        MAX_BYTES / 1024
    )
}

/// `application/json` or an `application/…+json` type, whatever its parameters.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// How long `Cache-Control` lets the document be kept: `None` for `no-store`/`no-cache` or a
/// zero `max-age`; [`DEFAULT_KEEP`] when it says nothing (the caller caps it).
fn keep_for<'a>(values: impl Iterator<Item = &'a str>) -> Option<Duration> {
    let mut max_age = None;
    for directive in values.flat_map(|v| v.split(',')) {
        let directive = directive.trim().to_ascii_lowercase();
        if directive == "no-store" || directive == "no-cache" {
            return None;
        }
        if let Some(n) = directive.strip_prefix("max-age=") {
            max_age = Some(n.trim_matches('"').parse::<u64>().unwrap_or(0));
        }
    }
    match max_age {
        Some(0) => None,
        Some(n) => Some(Duration::from_secs(n)),
        None => Some(DEFAULT_KEEP),
    }
}

/// An error and its causes, for the person: reqwest's own message says only "error sending
/// request".
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out = format!("{out}: {text}");
        }
        source = s.source();
    }
    out
}

/// Resolves a document's host and refuses it when any of its addresses is not public.
struct GuardedResolver {
    allow_loopback: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| format!("{host} does not resolve ({e})"))?
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no address").into());
            }
            for a in &addrs {
                if let Some(why) = address::refusal(a.ip(), allow_loopback) {
                    return Err(format!("{host} resolves to {why}").into());
                }
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use axum::{Router, http::HeaderValue, response::IntoResponse, routing::get};

    use super::*;

    #[test]
    fn cache_control_sets_how_long_a_document_is_kept() {
        let k = |v: &[&str]| keep_for(v.iter().copied());
        assert_eq!(k(&[]), Some(DEFAULT_KEEP));
        assert_eq!(k(&["public, max-age=60"]), Some(Duration::from_secs(60)));
        assert_eq!(k(&["max-age=86400"]), Some(Duration::from_secs(86_400)));
        assert_eq!(k(&["max-age=0"]), None);
        assert_eq!(k(&["max-age=60", "no-store"]), None);
        assert_eq!(k(&["No-Cache"]), None);
        assert_eq!(k(&["max-age=soon"]), None);
    }

    #[test]
    fn only_json_is_a_document() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/client-metadata+json"));
        assert!(!is_json("text/html"));
        assert!(!is_json("text/json+html"));
        assert!(!is_json(""));
    }

    /// A loopback server with a route per case; its base URL.
    async fn serve() -> String {
        let doc = r#"{"client_id":"x"}"#;
        let app = Router::new()
            .route(
                "/ok",
                get(move || async move {
                    (
                        [
                            (header::CONTENT_TYPE, "application/json"),
                            (header::CACHE_CONTROL, "max-age=120"),
                        ],
                        doc,
                    )
                }),
            )
            .route(
                "/html",
                get(|| async { ([(header::CONTENT_TYPE, "text/html")], "<p>hi</p>") }),
            )
            .route(
                "/big",
                get(|| async {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        format!("\"{}\"", "a".repeat(MAX_BYTES)),
                    )
                }),
            )
            .route(
                "/moved",
                get(|| async {
                    let mut r = axum::http::StatusCode::FOUND.into_response();
                    r.headers_mut()
                        .insert(header::LOCATION, HeaderValue::from_static("/ok"));
                    r
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(TIMEOUT + Duration::from_secs(2)).await;
                    "late"
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[tokio::test]
    async fn fetches_are_json_small_direct_and_quick() {
        let base = serve().await;
        let f = Fetcher::new(true).unwrap();
        let ok = f.get(&url(&format!("{base}/ok"))).await.unwrap();
        assert_eq!(ok.body, br#"{"client_id":"x"}"#);
        assert_eq!(ok.keep_for, Some(Duration::from_secs(120)));
        for (path, says) in [
            ("/html", "application/json"),
            ("/big", "larger than 64 KiB"),
            ("/moved", "redirects are not followed"),
            ("/missing", "404"),
        ] {
            let e = f.get(&url(&format!("{base}{path}"))).await.err().unwrap();
            assert!(e.contains(says), "{path}: {e}");
        }
        let started = std::time::Instant::now();
        let e = f.get(&url(&format!("{base}/slow"))).await.err().unwrap();
        assert!(started.elapsed() < TIMEOUT + Duration::from_secs(1), "{e}");
        assert!(e.contains("cannot be fetched"), "{e}");
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_unless_allowed() {
        let base = serve().await;
        let port = url(&base).port().unwrap();
        let by_name = url(&format!("http://localhost:{port}/ok"));
        let e = Fetcher::new(false)
            .unwrap()
            .get(&by_name)
            .await
            .err()
            .unwrap();
        assert!(e.contains("loopback"), "{e}");
        assert!(Fetcher::new(true).unwrap().get(&by_name).await.is_ok());
    }
}
