//! The Capsule HTTP client: one generic request path (auth, rate-limit gate, retries, timeouts)
//! and list/show/create/update/delete/search/filter helpers over an [`Endpoint`].

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use url::Url;

use super::{
    auth::TokenProvider,
    endpoint::{self, Endpoint},
    error::{CapsuleError, RateInfo, RateReason, Unsure},
    page,
    rate_share::{RateShare, now_epoch_ms},
    retry::{self, Attempt, Decision, Method, Op, Outcome},
};

pub const DEFAULT_API_URL: &str = "https://api.capsulecrm.com/api/v2";

/// Headers worth handing back to callers (the proxy shows them; pagination reads them).
pub const SELECTED_HEADERS: &[&str] = &[
    "link",
    "location",
    "retry-after",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-pagination-has-more",
];

#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// API root, e.g. `https://api.capsulecrm.com/api/v2`.
    pub api_url: String,
    pub connect_timeout: Duration,
    /// Longest one attempt may take, answer body included.
    pub attempt_timeout: Duration,
    /// Longest a whole call may take, retries and rate-limit waits included.
    pub call_budget: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            api_url: DEFAULT_API_URL.to_owned(),
            connect_timeout: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(20),
            call_budget: Duration::from_secs(60),
        }
    }
}

/// A request relative to the API root.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// What it does at Capsule: retries and messages follow this, not the method.
    pub op: Op,
    /// Path under the API root starting with `/` (already percent-encoded), or an absolute
    /// URL under the API root (a `Link` to follow, resolved by [`Response::next_link`]).
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    /// Goes on the wire at most once: not even a 429 is waited out and sent again (the raw
    /// proxy's writes, which promise to be sent once).
    pub once: bool,
}

impl Request {
    /// A request doing what its method says: GET reads, POST creates, PUT updates, DELETE
    /// deletes. A read Capsule serves by POST is [`Request::post_read`].
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            op: Op::of(method),
            path: path.into(),
            query: Vec::new(),
            body: None,
            once: false,
        }
    }

    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::Get, path)
    }

    /// A read that Capsule serves by POST (`…/filters/results`): retried like any read.
    pub fn post_read(path: impl Into<String>) -> Self {
        let mut r = Self::new(Method::Post, path);
        r.op = Op::Read;
        r
    }

    pub fn query(mut self, key: &str, value: impl Into<String>) -> Self {
        self.query.push((key.to_owned(), value.into()));
        self
    }

    pub fn queries(mut self, pairs: &[(String, String)]) -> Self {
        self.query.extend_from_slice(pairs);
        self
    }

    pub fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// Never send this request twice, whatever happens.
    pub fn once(mut self) -> Self {
        self.once = true;
        self
    }

    /// What this request was about, for a write whose outcome is unknown.
    fn unsure(&self) -> Unsure {
        let absolute = self.path.starts_with("http://") || self.path.starts_with("https://");
        let what = if absolute || self.once {
            format!("`{} {}`", self.method.as_str(), self.path)
        } else {
            endpoint::describe(&self.path)
        };
        Unsure { op: self.op, what }
    }

    /// The envelope key of a create or update body (`{"party": {...}}` → `party`): Capsule
    /// answers in the same envelope.
    fn envelope(&self) -> Option<&str> {
        match &self.body {
            Some(Value::Object(m)) if m.len() == 1 => m.keys().next().map(String::as_str),
            _ => None,
        }
    }
}

/// Capsule's answer: status, the selected headers and the JSON body (`null` when empty; a
/// string holding the start of the text when it is not JSON).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    /// Whether the body was JSON (or empty).
    pub json: bool,
    /// The URL the request went to; relative links resolve against it.
    pub url: Url,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `Link rel="next"` target resolved against the request URL (RFC 3986: `?page=2`,
    /// `/api/v2/...`, `//host/...` and absolute URLs alike). Whether it stays under the API
    /// root is checked when it is followed.
    pub fn next_link(&self) -> Option<String> {
        let link = self.header("link").and_then(page::next_link)?;
        Some(match self.url.join(link.trim()) {
            Ok(url) => url.to_string(),
            // Not resolvable: kept as sent, and refused when followed.
            Err(_) => link,
        })
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The error this answer stands for, `Retry-After` included.
    pub fn to_error(&self) -> CapsuleError {
        let mut e = CapsuleError::from_response(self.status, &self.body);
        if let CapsuleError::Api {
            retry_after_secs, ..
        } = &mut e
        {
            *retry_after_secs = retry_after(self).map(|d| d.as_secs());
        }
        e
    }
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Value>,
    /// The `Link rel="next"` URL, when there is a next page.
    pub next: Option<String>,
}

#[derive(Debug, Default)]
struct RateState {
    limit: Option<u64>,
    /// What the last answer said remains, less the requests sent since.
    remaining: Option<u64>,
    /// Epoch seconds when the window resets.
    reset: Option<i64>,
    /// No request may be sent before this instant (a 429 was seen).
    blocked_until: Option<Instant>,
    /// When the last request went out. Only requests actually sent are booked here: a call
    /// the gate refuses books nothing.
    last_sent: Option<Instant>,
}

impl RateState {
    fn info(&self, now: i64) -> RateInfo {
        RateInfo {
            limit: self.limit,
            remaining: self.remaining,
            reset_in_secs: self
                .reset
                .map(|r| u64::try_from(r.saturating_sub(now).clamp(0, 3600)).unwrap_or(0)),
        }
    }
}

struct Inner {
    http: reqwest::Client,
    api_url: String,
    tokens: Arc<dyn TokenProvider>,
    rate: Mutex<RateState>,
    /// The rate budget other processes acting for the same user share, when there are any.
    rate_share: Option<Arc<dyn RateShare>>,
    opts: ClientOptions,
}

tokio::task_local! {
    static TALLY: std::sync::Arc<std::sync::atomic::AtomicU64>;
}

/// Counts the HTTP requests sent while `fut` runs on this task (for the MCP log events).
pub async fn tally<F: std::future::Future>(fut: F) -> (F::Output, u64) {
    let n = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let out = TALLY.scope(n.clone(), fut).await;
    (out, n.load(std::sync::atomic::Ordering::Relaxed))
}

fn tally_one() {
    let _ = TALLY.try_with(|n| n.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
}

/// A Capsule API client for one credential. Cheap to clone; clones share the rate-limit state.
#[derive(Clone)]
pub struct CapsuleClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CapsuleClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CapsuleClient")
            .field("api_url", &self.inner.api_url)
            .field("credential", &self.inner.tokens.describe())
            .finish()
    }
}

/// Checks that `api_url` is an absolute http(s) URL and returns it without a trailing slash.
pub fn validate_api_url(api_url: &str) -> Result<String, CapsuleError> {
    let url = Url::parse(api_url).map_err(|e| {
        CapsuleError::Config(format!(
            "CAPSULE_API_URL `{api_url}` is not a URL ({e}); expected e.g. {DEFAULT_API_URL}"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(CapsuleError::Config(format!(
            "CAPSULE_API_URL `{api_url}` must be an http(s) URL such as {DEFAULT_API_URL}"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(CapsuleError::Config(format!(
            "CAPSULE_API_URL `{api_url}` must not carry a query or fragment"
        )));
    }
    Ok(api_url.trim_end_matches('/').to_owned())
}

fn now_epoch() -> i64 {
    chrono::Utc::now().timestamp()
}

impl CapsuleClient {
    pub fn new(opts: ClientOptions, tokens: Arc<dyn TokenProvider>) -> Result<Self, CapsuleError> {
        Self::build(opts, tokens, None)
    }

    /// A client whose rate budget is shared through `share`: a hold another process set stops
    /// requests here too, and a spent window seen here is held for the others.
    pub fn with_rate_share(
        opts: ClientOptions,
        tokens: Arc<dyn TokenProvider>,
        share: Arc<dyn RateShare>,
    ) -> Result<Self, CapsuleError> {
        Self::build(opts, tokens, Some(share))
    }

    fn build(
        opts: ClientOptions,
        tokens: Arc<dyn TokenProvider>,
        rate_share: Option<Arc<dyn RateShare>>,
    ) -> Result<Self, CapsuleError> {
        let api_url = validate_api_url(&opts.api_url)?;
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        let http = reqwest::Client::builder()
            .user_agent(concat!(
                "capsule-mcp/",
                env!("CARGO_PKG_VERSION"),
                " (+https://github.com/capsule-mcp/capsule-mcp)"
            ))
            .default_headers(headers)
            .connect_timeout(opts.connect_timeout)
            // Never follow redirects: the bearer token must not travel to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| CapsuleError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                api_url,
                tokens,
                rate: Mutex::new(RateState::default()),
                rate_share,
                opts,
            }),
        })
    }

    pub fn api_url(&self) -> &str {
        &self.inner.api_url
    }

    pub fn options(&self) -> &ClientOptions {
        &self.inner.opts
    }

    pub fn describe_credential(&self) -> String {
        self.inner.tokens.describe()
    }

    fn root(&self) -> Result<Url, CapsuleError> {
        Url::parse(&format!("{}/", self.inner.api_url))
            .map_err(|e| CapsuleError::Config(format!("bad API URL: {e}")))
    }

    /// The URL for a path under the API root or a followed link. Whatever its form, the
    /// result must stay under the API root, or the token would go somewhere else.
    fn url_for(&self, path: &str) -> Result<Url, CapsuleError> {
        let root = self.root()?;
        if path.starts_with("http://") || path.starts_with("https://") {
            let url = Url::parse(path).map_err(|_| CapsuleError::Decode {
                path: "Link".into(),
                message: "Capsule sent a next-page link that is not a URL".into(),
            })?;
            return under_root(&root, url).ok_or_else(|| CapsuleError::Decode {
                path: "Link".into(),
                message: "Capsule sent a next-page link outside the API root; it was not \
                          followed"
                    .into(),
            });
        }
        let full = if path.starts_with('/') {
            format!("{}{}", self.inner.api_url, path)
        } else {
            format!("{}/{}", self.inner.api_url, path)
        };
        let url = Url::parse(&full)
            .map_err(|e| CapsuleError::Config(format!("bad request path: {e}")))?;
        under_root(&root, url).ok_or_else(|| {
            CapsuleError::Config(format!("the path `{path}` leaves the API root; not sent"))
        })
    }

    /// Sends a request with the full policy (auth, rate-limit gate, retries, timeouts) and
    /// returns Capsule's final answer whatever its status. Errors are for answers that never
    /// came or must not be waited for (429 beyond the budget, a write whose outcome is unknown,
    /// a read whose `Retry-After` is longer than the budget).
    pub async fn execute(&self, req: &Request) -> Result<Response, CapsuleError> {
        let started = Instant::now();
        let deadline = started + self.inner.opts.call_budget;
        let url = self.url_for(&req.path)?;
        let mut number = 1u32;
        let mut rate_limit_waits = 0u32;
        let mut refreshed = false;
        loop {
            self.wait_for_rate_gate(deadline).await?;
            let token = self.inner.tokens.token().await?;
            let time_left = deadline.saturating_duration_since(Instant::now());
            let attempt_timeout = self.inner.opts.attempt_timeout.min(time_left);
            let result =
                tokio::time::timeout(attempt_timeout, self.attempt(req, &url, &token)).await;
            let (outcome, response) = match result {
                Err(_) => (Outcome::TimedOut, None),
                Ok(Err(e)) => (e, None),
                Ok(Ok(resp)) => {
                    self.record_rate(&resp);
                    self.share_spent_window(&resp).await;
                    (
                        Outcome::Status {
                            status: resp.status,
                            retry_after: retry_after(&resp),
                            reset_in: reset_in(&resp),
                        },
                        Some(resp),
                    )
                }
            };
            tracing::debug!(
                method = req.method.as_str(),
                op = ?req.op,
                path = %url.path(),
                ?outcome,
                attempt = number,
                "capsule request"
            );
            if let Some(resp) = &response
                && resp.status == 401
                && !refreshed
            {
                refreshed = true;
                if self.inner.tokens.refused(&token).await? {
                    continue;
                }
            }
            let decision = retry::decide(&Attempt {
                op: req.op,
                once: req.once,
                outcome,
                number,
                rate_limit_waits,
                time_left: deadline.saturating_duration_since(Instant::now()),
                jitter: fastrand::f64(),
            });
            match decision {
                Decision::Done => {
                    return match response {
                        Some(resp) => Ok(resp),
                        None => Err(self.failure(outcome, attempt_timeout, req)),
                    };
                }
                Decision::Retry(pause) => {
                    number += 1;
                    tokio::time::sleep(pause).await;
                }
                Decision::WaitForReset(wait) => {
                    rate_limit_waits += 1;
                    // The gate holds every other call on this credential too.
                    self.block_until(Instant::now() + wait);
                    self.share_hold_for(wait).await;
                }
                Decision::RateLimited(wait) => {
                    self.block_until(Instant::now() + wait);
                    self.share_hold_for(wait).await;
                    return Err(CapsuleError::RateLimited {
                        retry_after_secs: wait.as_secs_f64().ceil() as u64,
                        reason: RateReason::Exhausted,
                        info: self.rate_info(),
                    });
                }
                Decision::RetryLater(_) => {
                    return match response {
                        Some(resp) => Ok(resp),
                        None => Err(self.failure(outcome, attempt_timeout, req)),
                    };
                }
                Decision::OutcomeUnknown => {
                    return Err(match response {
                        Some(resp) => {
                            let mut e = resp.to_error();
                            if let CapsuleError::Api {
                                outcome_unknown, ..
                            } = &mut e
                            {
                                *outcome_unknown = Some(req.unsure());
                            }
                            e
                        }
                        None => self.failure(outcome, attempt_timeout, req),
                    });
                }
            }
        }
    }

    fn failure(&self, outcome: Outcome, timeout: Duration, req: &Request) -> CapsuleError {
        let unknown =
            (!matches!(outcome, Outcome::NotSent) && !req.op.is_read()).then(|| req.unsure());
        match outcome {
            Outcome::TimedOut => CapsuleError::Timeout {
                after: timeout,
                outcome_unknown: unknown,
            },
            Outcome::NotSent => CapsuleError::Transport {
                message: "the connection to Capsule could not be made".into(),
                outcome_unknown: None,
            },
            _ => CapsuleError::Transport {
                message: "the connection to Capsule broke before it answered".into(),
                outcome_unknown: unknown,
            },
        }
    }

    async fn attempt(
        &self,
        req: &Request,
        url: &Url,
        token: &SecretString,
    ) -> Result<Response, Outcome> {
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut url = url.clone();
        if !req.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(req.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
        let sent_url = url.clone();
        let mut builder = self
            .inner
            .http
            .request(method, url)
            .bearer_auth(token.expose_secret());
        if let Some(body) = &req.body {
            builder = builder.json(body);
        }
        tally_one();
        let resp = builder.send().await.map_err(|e| classify(&e))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .filter(|(k, _)| SELECTED_HEADERS.contains(&k.as_str()))
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let Some(bytes) = read_capped(resp).await? else {
            // Not a transient fault: answered once, with a status no policy retries.
            return Ok(Response {
                status: 413,
                headers,
                body: json!({ "message": format!(
                    "Capsule's answer was larger than {} MiB and was not read; ask for less \
                     (a smaller page)", MAX_BODY_BYTES / (1024 * 1024)) }),
                json: true,
                url: sent_url,
            });
        };
        let (body, json) = if bytes.iter().all(u8::is_ascii_whitespace) {
            (Value::Null, true)
        } else {
            match serde_json::from_slice(&bytes) {
                Ok(v) => (v, true),
                // Keep a short, non-JSON text (e.g. a proxy's HTML page) as a string.
                Err(_) => (
                    Value::String(String::from_utf8_lossy(&bytes).chars().take(500).collect()),
                    false,
                ),
            }
        };
        Ok(Response {
            status,
            headers,
            body,
            json,
            url: sent_url,
        })
    }

    fn record_rate(&self, resp: &Response) {
        let parse = |name| resp.header(name).and_then(|v| v.trim().parse::<i64>().ok());
        let Ok(mut state) = self.inner.rate.lock() else {
            return;
        };
        if let Some(limit) = parse("x-ratelimit-limit") {
            state.limit = u64::try_from(limit).ok();
        }
        if let Some(remaining) = parse("x-ratelimit-remaining") {
            state.remaining = u64::try_from(remaining).ok();
        }
        if let Some(reset) = parse("x-ratelimit-reset") {
            state.reset = Some(reset);
        }
    }

    fn block_until(&self, until: Instant) {
        if let Ok(mut state) = self.inner.rate.lock()
            && state.blocked_until.is_none_or(|b| b < until)
        {
            state.blocked_until = Some(until);
        }
    }

    fn rate_info(&self) -> RateInfo {
        self.inner
            .rate
            .lock()
            .map(|s| s.info(now_epoch()))
            .unwrap_or_default()
    }

    /// Tells the share (if any) that no request may go for `wait`.
    async fn share_hold_for(&self, wait: Duration) {
        if let Some(share) = &self.inner.rate_share {
            let ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
            share.hold(now_epoch_ms().saturating_add(ms)).await;
        }
    }

    /// Capsule said no requests remain in the window: hold the share until it resets.
    async fn share_spent_window(&self, resp: &Response) {
        if self.inner.rate_share.is_none()
            || resp
                .header("x-ratelimit-remaining")
                .is_none_or(|v| v.trim() != "0")
        {
            return;
        }
        if let Some(wait) = reset_in(resp) {
            self.share_hold_for(wait).await;
        }
    }

    /// Waits while the window is known to be exhausted (here, or by a hold another process
    /// shared), and paces requests when the remaining budget runs low so that it lasts evenly
    /// to the reset. Fails at once when the wait would not fit the call's budget; a refused
    /// call books nothing, only a request let through is counted (as sent now, one fewer
    /// remaining).
    async fn wait_for_rate_gate(&self, deadline: Instant) -> Result<(), CapsuleError> {
        loop {
            if let Some(share) = &self.inner.rate_share
                && let Some(until) = share.held_until().await
            {
                let left = until.saturating_sub(now_epoch_ms());
                if left > 0 {
                    let wait = Duration::from_millis(u64::try_from(left).unwrap_or(0));
                    if Instant::now() + wait > deadline {
                        return Err(CapsuleError::RateLimited {
                            retry_after_secs: (wait.as_secs_f64().ceil() as u64).max(1),
                            reason: RateReason::Exhausted,
                            info: self.rate_info(),
                        });
                    }
                    tracing::debug!(
                        wait_ms = wait.as_millis() as u64,
                        "waiting for a rate-limit hold another process shared"
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            match self.rate_gate_step(deadline)? {
                None => return Ok(()),
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    /// One look at this client's own gate: `None` when the request may go now (and it is
    /// booked), the wait before looking again, or the refusal when that wait would not fit.
    fn rate_gate_step(&self, deadline: Instant) -> Result<Option<Duration>, CapsuleError> {
        let (wait, reason, info) = {
            let Ok(mut state) = self.inner.rate.lock() else {
                return Ok(None);
            };
            let now = Instant::now();
            let epoch = now_epoch();
            if state.blocked_until.is_some_and(|b| b <= now) {
                state.blocked_until = None;
            }
            match next_slot(&state, now, epoch) {
                None => {
                    state.last_sent = Some(now);
                    if let Some(r) = state.remaining.as_mut() {
                        *r = r.saturating_sub(1);
                    }
                    return Ok(None);
                }
                Some((at, reason)) => (at - now, reason, state.info(epoch)),
            }
        };
        if Instant::now() + wait > deadline {
            return Err(CapsuleError::RateLimited {
                retry_after_secs: (wait.as_secs_f64().ceil() as u64).max(1),
                reason,
                info,
            });
        }
        tracing::debug!(
            wait_ms = wait.as_millis() as u64,
            ?reason,
            "waiting for the rate limit"
        );
        Ok(Some(wait))
    }

    /// Sends and maps any non-2xx answer to a [`CapsuleError`]. A create or update must come
    /// back in its envelope: when the 2xx answer cannot be read (HTML, truncated JSON), a create
    /// is read back from its `Location`, and otherwise the outcome is reported unknown rather
    /// than as a plain error, since Capsule most likely applied it.
    pub async fn send(&self, req: &Request) -> Result<Response, CapsuleError> {
        let resp = self.execute(req).await?;
        if !resp.is_success() {
            return Err(resp.to_error());
        }
        let Some(key) = req
            .envelope()
            .filter(|_| matches!(req.op, Op::Create | Op::Update))
        else {
            return Ok(resp);
        };
        if resp.body.get(key).is_some_and(Value::is_object) {
            return Ok(resp);
        }
        let detail = if resp.json {
            format!("it has no `{key}` record")
        } else {
            "it is not JSON".to_owned()
        };
        let unreadable = |detail: String| CapsuleError::Unreadable {
            status: resp.status,
            detail,
            write: req.unsure(),
        };
        let location = match (req.op, resp.header("location")) {
            (Op::Create, Some(location)) => location.trim().to_owned(),
            _ => return Err(unreadable(detail)),
        };
        // The record exists at Location: read it (a read, retried like any other) with the
        // same query (`embed`) the create asked for.
        let Ok(at) = resp.url.join(&location) else {
            return Err(unreadable(format!(
                "{detail}, and its Location is not a URL"
            )));
        };
        let read = Request::get(at.as_str()).queries(&req.query);
        let back = match self.execute(&read).await {
            Ok(back) if back.is_success() && back.body.get(key).is_some_and(Value::is_object) => {
                back
            }
            Ok(back) if !back.is_success() => {
                return Err(unreadable(format!(
                    "{detail}, and reading it back from {} failed: {}",
                    at.path(),
                    back.to_error()
                )));
            }
            Ok(_) => {
                return Err(unreadable(format!(
                    "{detail}, and reading it back from {} gave no `{key}` record",
                    at.path()
                )));
            }
            Err(e) => {
                return Err(unreadable(format!(
                    "{detail}, and reading it back from {} failed: {e}",
                    at.path()
                )));
            }
        };
        tracing::warn!(
            status = resp.status,
            "a create's answer could not be read; the record was read back from Location"
        );
        Ok(Response {
            status: resp.status,
            headers: resp.headers,
            body: back.body,
            json: true,
            url: resp.url,
        })
    }

    /// One page of a list at `path` (or a `Link` URL), with the list under `plural`.
    pub async fn list_page(&self, req: &Request, plural: &str) -> Result<Page, CapsuleError> {
        let resp = self.send(req).await?;
        page_from(resp, plural)
    }

    /// Every record of a list, following `Link rel="next"` until the end or `max` records.
    pub async fn list_all(
        &self,
        first: Request,
        plural: &str,
        max: usize,
    ) -> Result<Vec<Value>, CapsuleError> {
        let mut items = Vec::new();
        let mut req = first;
        loop {
            let page = self.list_page(&req, plural).await?;
            items.extend(page.items);
            match page.next {
                Some(next) if items.len() < max => req = Request::get(next),
                _ => break,
            }
        }
        items.truncate(max);
        Ok(items)
    }

    pub async fn show(
        &self,
        ep: &Endpoint,
        id: i64,
        query: &[(String, String)],
    ) -> Result<Value, CapsuleError> {
        let resp = self
            .send(&Request::get(format!("{}/{id}", ep.path)).queries(query))
            .await?;
        unwrap_key(resp.body, ep.single)
    }

    /// Several records by id, 10 per request as Capsule allows.
    pub async fn show_many(
        &self,
        ep: &Endpoint,
        ids: &[i64],
        query: &[(String, String)],
    ) -> Result<Vec<Value>, CapsuleError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(10) {
            let joined = chunk
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let resp = self
                .send(&Request::get(format!("{}/{joined}", ep.path)).queries(query))
                .await?;
            match unwrap_key(resp.body, ep.plural)? {
                Value::Array(items) => out.extend(items),
                _ => {
                    return Err(CapsuleError::Decode {
                        path: ep.plural.into(),
                        message: "expected a list".into(),
                    });
                }
            }
        }
        Ok(out)
    }

    pub async fn create(&self, ep: &Endpoint, record: Value) -> Result<Value, CapsuleError> {
        let resp = self
            .send(&Request::new(Method::Post, ep.path).body(json!({ ep.single: record })))
            .await?;
        unwrap_key(resp.body, ep.single)
    }

    pub async fn update(
        &self,
        ep: &Endpoint,
        id: i64,
        record: Value,
    ) -> Result<Value, CapsuleError> {
        let resp = self
            .send(
                &Request::new(Method::Put, format!("{}/{id}", ep.path))
                    .body(json!({ ep.single: record })),
            )
            .await?;
        unwrap_key(resp.body, ep.single)
    }

    pub async fn delete(&self, ep: &Endpoint, id: i64) -> Result<(), CapsuleError> {
        self.send(&Request::new(Method::Delete, format!("{}/{id}", ep.path)))
            .await?;
        Ok(())
    }

    /// `GET {path}/search?q=` — one page.
    pub async fn search(
        &self,
        ep: &Endpoint,
        q: &str,
        query: &[(String, String)],
    ) -> Result<Page, CapsuleError> {
        let req = Request::get(format!("{}/search", ep.path))
            .query("q", q)
            .queries(query);
        self.list_page(&req, ep.plural).await
    }

    /// `POST {path}/filters/results` with `conditions` — one page.
    pub async fn filter(
        &self,
        ep: &Endpoint,
        conditions: Value,
        query: &[(String, String)],
    ) -> Result<Page, CapsuleError> {
        let req = Request::post_read(format!("{}/filters/results", ep.path))
            .queries(query)
            .body(json!({ "filter": { "conditions": conditions } }));
        self.list_page(&req, ep.plural).await
    }

    /// `GET {path}/deleted?since=` — the raw answer (tombstones and restricted records).
    pub async fn deleted(&self, ep: &Endpoint, since: &str) -> Result<Value, CapsuleError> {
        let resp = self
            .send(&Request::get(format!("{}/deleted", ep.path)).query("since", since))
            .await?;
        Ok(resp.body)
    }
}

/// When the next request may go (and why it must wait), or `None` for now: a 429 blocks until
/// its reset, no requests remaining blocks until the window resets, and a low budget spaces
/// requests evenly from the last one sent.
fn next_slot(state: &RateState, now: Instant, epoch: i64) -> Option<(Instant, RateReason)> {
    let mut at = state.blocked_until.filter(|b| *b > now);
    if state.remaining == Some(0)
        && let Some(reset) = state.reset.filter(|r| *r > epoch)
    {
        let secs = u64::try_from((reset - epoch).min(3600)).unwrap_or(0);
        let until = now + Duration::from_secs(secs) + Duration::from_millis(250);
        at = Some(at.map_or(until, |b| b.max(until)));
    }
    if let Some(at) = at {
        return Some((at, RateReason::Exhausted));
    }
    let slot = state.last_sent? + pacing_interval(state, epoch)?;
    (slot > now).then_some((slot, RateReason::Paced))
}

/// The spacing between requests while the remaining budget is low (at or below 5% of the
/// limit, and at least 5 requests): what is left, spread evenly over the time to the reset.
/// `None` when there is no need to pace.
fn pacing_interval(state: &RateState, now: i64) -> Option<Duration> {
    let remaining = state.remaining?;
    let reset = state.reset?;
    let low_water = state.limit.map_or(0, |l| l / 20).max(5);
    if remaining > low_water || remaining == 0 {
        return None;
    }
    let secs_left = u64::try_from(reset.saturating_sub(now).min(3600))
        .ok()
        .filter(|s| *s > 0)?;
    Some(Duration::from_secs(secs_left).div_f64(remaining as f64))
}

/// Resolves dot segments (percent-encoded ones too) and returns the URL if it is still under
/// the API root: same scheme, host and port, a path inside the root's, and no encoded
/// separator or dot segment left for a server to decode later.
fn under_root(root: &Url, url: Url) -> Option<Url> {
    if url.origin() != root.origin()
        || url.username() != root.username()
        || url.password().is_some()
        || !url.path().starts_with(root.path())
    {
        return None;
    }
    let sneaky = url.path().split('/').any(|seg| {
        let decoded = percent_encoding::percent_decode_str(seg).decode_utf8_lossy();
        decoded == "."
            || decoded == ".."
            || decoded.contains('/')
            || decoded.contains('\\')
            || decoded.chars().any(char::is_control)
    });
    (!sneaky).then_some(url)
}

/// `Retry-After` as delay-seconds or an HTTP date, capped at a day.
fn retry_after(resp: &Response) -> Option<Duration> {
    let v = resp.header("retry-after")?.trim();
    let secs = match v.parse::<u64>() {
        Ok(secs) => secs,
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(v).ok()?.timestamp();
            u64::try_from(at.saturating_sub(now_epoch())).unwrap_or(0)
        }
    };
    Some(Duration::from_secs(secs.min(86_400)))
}

fn reset_in(resp: &Response) -> Option<Duration> {
    let reset = resp
        .header("x-ratelimit-reset")
        .and_then(|v| v.trim().parse::<i64>().ok())?;
    // Capsule's window is an hour: a reset further out (or a nonsense header) is capped there.
    let secs = reset.saturating_sub(now_epoch()).clamp(0, 3600);
    // A small margin so the request lands after the window turned over.
    Some(Duration::from_secs(secs as u64) + Duration::from_millis(250))
}

/// The most of a Capsule answer read into memory.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Reads the body up to [`MAX_BODY_BYTES`]; `None` when it is larger.
async fn read_capped(mut resp: reqwest::Response) -> Result<Option<Vec<u8>>, Outcome> {
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Ok(None);
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|_| Outcome::Broken)? {
        if out.len() + chunk.len() > MAX_BODY_BYTES {
            return Ok(None);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Some(out))
}

fn classify(e: &reqwest::Error) -> Outcome {
    if e.is_connect() {
        Outcome::NotSent
    } else if e.is_timeout() {
        Outcome::TimedOut
    } else {
        Outcome::Broken
    }
}

fn page_from(resp: Response, plural: &str) -> Result<Page, CapsuleError> {
    let next = resp.next_link();
    let items = match unwrap_key(resp.body, plural)? {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        _ => {
            return Err(CapsuleError::Decode {
                path: plural.into(),
                message: "expected a list".into(),
            });
        }
    };
    Ok(Page { items, next })
}

/// Takes `body[key]`, failing with the key's name when absent.
pub fn unwrap_key(body: Value, key: &str) -> Result<Value, CapsuleError> {
    match body {
        Value::Object(mut map) => map.remove(key).ok_or_else(|| CapsuleError::Decode {
            path: key.into(),
            message: format!("the answer has no `{key}` key"),
        }),
        _ => Err(CapsuleError::Decode {
            path: key.into(),
            message: "the answer is not a JSON object".into(),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_api_urls() {
        for bad in [
            "ftp://x/api/v2",
            "not a url",
            "/api/v2",
            "https://x/api/v2?x=1",
        ] {
            assert!(validate_api_url(bad).is_err(), "{bad}");
        }
        assert_eq!(
            validate_api_url("http://127.0.0.1:9/api/v2/")
                .ok()
                .as_deref(),
            Some("http://127.0.0.1:9/api/v2")
        );
    }

    fn client() -> CapsuleClient {
        CapsuleClient::new(
            ClientOptions {
                api_url: "http://127.0.0.1:9/api/v2".into(),
                ..Default::default()
            },
            crate::capsule::auth::StaticToken::new("t".to_owned().into(), "test"),
        )
        .unwrap()
    }

    fn answer(headers: Vec<(&str, &str)>) -> Response {
        Response {
            status: 200,
            headers: headers
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            body: Value::Null,
            json: true,
            url: Url::parse("http://127.0.0.1:9/api/v2/parties?page=1&perPage=2").unwrap(),
        }
    }

    #[test]
    fn relative_links_resolve_against_the_request_and_stay_under_the_root() {
        let c = client();
        let follow = |link: &str| {
            let next = answer(vec![("link", &format!("<{link}>; rel=\"next\""))])
                .next_link()
                .unwrap();
            c.url_for(&next).map(|u| u.to_string())
        };
        assert_eq!(
            follow("?page=2&perPage=2").unwrap(),
            "http://127.0.0.1:9/api/v2/parties?page=2&perPage=2"
        );
        assert_eq!(
            follow("/api/v2/parties?page=2").unwrap(),
            "http://127.0.0.1:9/api/v2/parties?page=2"
        );
        assert_eq!(
            follow("parties?page=3").unwrap(),
            "http://127.0.0.1:9/api/v2/parties?page=3"
        );
        for bad in [
            "/../../_sandbox/stats",
            "/%2e%2e/%2e%2e/oauth/token",
            "/api/v2/%2E%2e/oauth/token",
            "/api/v2/.%2e/oauth/token",
            "../../oauth/token",
            "../v20/parties",
            "/api/v2/..%2f..%2foauth/token",
            "/api/v2/%2e%2e%5c..%5coauth",
            "//evil.example/api/v2/parties",
            "https://127.0.0.1:9/api/v2/parties",
            "/oauth/token",
        ] {
            assert!(follow(bad).is_err(), "{bad} must not be followed");
        }
        // Paths built in code are held to the same rule.
        assert!(c.url_for("/parties/../../oauth/token").is_err());
        assert!(c.url_for("/parties/12").is_ok());
    }

    #[test]
    fn follows_links_only_under_the_api_root() {
        let c = client();
        assert!(
            c.url_for("http://127.0.0.1:9/api/v2/parties?page=2")
                .is_ok()
        );
        for bad in [
            "http://127.0.0.1:9/api/v2/../../oauth/token?page=2",
            "http://127.0.0.1:9/api/v2/%2e%2e/oauth/token",
            "http://127.0.0.1:9/api/v20/parties",
            "http://127.0.0.1:10/api/v2/parties",
            "https://127.0.0.1:9/api/v2/parties",
            "http://evil.example/api/v2/parties",
            "http://127.0.0.1:9@evil.example/api/v2/parties",
        ] {
            assert!(c.url_for(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn nonsense_reset_headers_are_bounded() {
        let resp = |reset: &str| answer(vec![("x-ratelimit-reset", reset)]);
        let max = Duration::from_secs(3600) + Duration::from_millis(250);
        assert_eq!(reset_in(&resp("9223372036854775807")), Some(max));
        assert_eq!(
            reset_in(&resp("-9223372036854775808")),
            Some(Duration::from_millis(250))
        );
        assert_eq!(reset_in(&resp("soon")), None);
    }

    #[tokio::test]
    async fn answers_over_the_cap_are_not_read_into_memory() {
        let small = reqwest::Response::from(http::Response::new(b"{}".to_vec()));
        assert_eq!(
            read_capped(small).await.ok().flatten(),
            Some(b"{}".to_vec())
        );
        let big = reqwest::Response::from(http::Response::new(vec![b' '; MAX_BODY_BYTES + 1]));
        assert_eq!(read_capped(big).await.ok(), Some(None));
    }

    #[test]
    fn paces_only_when_low_and_evenly_to_the_reset() {
        let mut s = RateState {
            limit: Some(4000),
            remaining: Some(3000),
            reset: Some(1000 + 600),
            ..Default::default()
        };
        assert_eq!(pacing_interval(&s, 1000), None);
        s.remaining = Some(100);
        assert_eq!(pacing_interval(&s, 1000), Some(Duration::from_secs(6)));
        // No cap: 5 left for an hour are one every 12 minutes, not one every 30 s.
        s.limit = Some(100);
        s.remaining = Some(5);
        s.reset = Some(1000 + 3600);
        assert_eq!(pacing_interval(&s, 1000), Some(Duration::from_secs(720)));
        s.remaining = Some(0);
        assert_eq!(pacing_interval(&s, 1000), None);
    }

    #[test]
    fn no_requests_left_blocks_until_the_reset_and_says_so() {
        let now = Instant::now();
        let s = RateState {
            limit: Some(100),
            remaining: Some(0),
            reset: Some(1000 + 40),
            ..Default::default()
        };
        let (at, reason) = next_slot(&s, now, 1000).unwrap();
        assert_eq!(reason, RateReason::Exhausted);
        assert!(at - now >= Duration::from_secs(40));
        // A stale window (the reset passed) does not block.
        assert_eq!(next_slot(&s, now, 1041), None);
    }

    #[tokio::test]
    async fn refused_calls_book_nothing_and_the_wait_does_not_grow() {
        let c = client();
        {
            let mut s = c.inner.rate.lock().unwrap();
            s.limit = Some(4000);
            s.remaining = Some(195);
            s.reset = Some(now_epoch() + 3600);
            s.last_sent = Some(Instant::now());
        }
        let mut waits = Vec::new();
        for _ in 0..40 {
            let deadline = Instant::now() + Duration::from_millis(1);
            match c.wait_for_rate_gate(deadline).await {
                Err(CapsuleError::RateLimited {
                    retry_after_secs,
                    reason,
                    info,
                }) => {
                    assert_eq!(reason, RateReason::Paced);
                    assert_eq!(info.limit, Some(4000));
                    assert_eq!(info.remaining, Some(195), "a refusal spends nothing");
                    waits.push(retry_after_secs);
                }
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
        // 3600 s / 195 ≈ 18.5 s apart, the first as the fortieth.
        assert!(waits.iter().all(|w| (18..=19).contains(w)), "{waits:?}");
        // A call that can wait goes when its slot comes, and only then is it counted.
        c.inner.rate.lock().unwrap().last_sent =
            Some(Instant::now() - Duration::from_millis(18_400));
        let started = Instant::now();
        c.wait_for_rate_gate(Instant::now() + Duration::from_secs(5))
            .await
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(c.inner.rate.lock().unwrap().remaining, Some(194));
    }
}
