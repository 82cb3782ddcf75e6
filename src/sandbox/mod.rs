//! The sandbox Capsule: an in-process HTTP server that imitates Capsule CRM's
//! REST API v2 (`/api/v2/...`), with OAuth endpoints (`/oauth/...`), an
//! in-memory store seeded with deterministic demo data, and a test admin API
//! at `/_sandbox/...` (stats, fault injection, config, reset).

mod api;
mod common;
mod entries;
mod filter;
mod kases;
mod oauth;
mod opportunities;
mod parties;
mod refdata;
mod routes;
mod seed;
mod store;
mod tasks;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use api::{ApiError, Reply, Req};
use store::Store;

/// Token of the demo administrator (user 61 "ted"), read + write.
pub const ADMIN_TOKEN: &str = "sandbox-admin";
/// Token of a demo non-admin user (user 6 "scottspacey"), read + write.
pub const USER_TOKEN: &str = "sandbox-user";
/// Read-only token of the same non-admin user (user 6 "scottspacey").
pub const READONLY_TOKEN: &str = "sandbox-readonly";

/// The sandbox's demo OAuth application: any client id and secret are accepted at
/// `/oauth/token`, these are what `capsule-mcp http --oauth --sandbox` uses.
pub const DEMO_CLIENT_ID: &str = "capsule-mcp-sandbox";
/// The demo application's secret (not a secret: the sandbox accepts any).
pub const DEMO_CLIENT_SECRET: &str = "sandbox-demo-secret";

/// Start-up settings; the rate limit and token lifetime can be changed later through
/// `POST /_sandbox/config`.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Requests per token per hour before 429 (Capsule: 4000).
    pub rate_limit_per_hour: u32,
    /// Lifetime of OAuth access tokens (Capsule: about 7 days).
    pub access_token_ttl_seconds: u64,
    /// `/oauth/authorise` shows a page to choose which demo user approves (or to deny),
    /// as a browser would see Capsule's consent screen. Off: it approves at once as the
    /// admin user, unless the request names one with `sandbox_user=ID`.
    pub choose_user: bool,
    /// Redirect URIs the demo application registered (exact match). Loopback
    /// `http://…/callback` URIs on any port (the `auth login` listener) are always accepted;
    /// any other redirect URI is refused.
    pub redirect_uris: Vec<String>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            rate_limit_per_hour: 4000,
            access_token_ttl_seconds: 604_800,
            choose_user: false,
            redirect_uris: Vec::new(),
        }
    }
}

/// A queued fault for one route template.
#[derive(Debug, Clone)]
struct Fault {
    route: String,
    status: Option<u16>,
    remaining: u32,
    delay_ms: u64,
    reset_in_seconds: u64,
}

/// Mutable server state other than the CRM data.
#[derive(Debug, Default)]
pub(crate) struct Runtime {
    rate_limit: u32,
    pub(crate) ttl: u64,
    requests: BTreeMap<String, u64>,
    pub(crate) grants: BTreeMap<String, u64>,
    /// Every `POST /oauth/token` by grant type, refused ones included.
    token_requests: BTreeMap<String, u64>,
    total: u64,
    aborted: u64,
    faults: Vec<Fault>,
    /// Rate-limit windows per presented token: (window end epoch, count).
    buckets: HashMap<String, (i64, u32)>,
    pub(crate) oauth: oauth::OAuthState,
}

pub(crate) struct Shared {
    store: Mutex<Store>,
    rt: Mutex<Runtime>,
    opts: SandboxOptions,
    fallback_base: String,
}

/// Locks a mutex, recovering the data if another thread panicked with it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn rt(&self) -> MutexGuard<'_, Runtime> {
        lock(&self.rt)
    }

    /// The demo users: (id, username, name), by id.
    pub(crate) fn store_users(&self) -> Vec<(i64, String, String)> {
        let mut users: Vec<_> = lock(&self.store)
            .users
            .values()
            .map(|u| (u.id, u.username.clone(), u.name.clone()))
            .collect();
        users.sort_by_key(|u| u.0);
        users
    }
}

fn runtime_for(opts: &SandboxOptions) -> Runtime {
    Runtime {
        rate_limit: opts.rate_limit_per_hour,
        ttl: opts.access_token_ttl_seconds,
        ..Runtime::default()
    }
}

pub(crate) fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_default()
}

/// A running sandbox server. Dropping it stops the server.
pub struct Sandbox {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Sandbox {
    /// Bind on `addr` (use "127.0.0.1:0" for an ephemeral port) and serve in a background tokio task.
    pub async fn start(addr: SocketAddr, opts: SandboxOptions) -> std::io::Result<Sandbox> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            store: Mutex::new(seed::seed()),
            rt: Mutex::new(runtime_for(&opts)),
            opts,
            fallback_base: format!("http://{addr}"),
        });
        let app = router(shared);
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.await;
            });
            if let Err(e) = server.await {
                tracing::warn!("sandbox server stopped: {e}");
            }
        });
        Ok(Sandbox {
            addr,
            shutdown: Some(tx),
            handle: Some(handle),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// e.g. "http://127.0.0.1:43123/api/v2"
    pub fn api_url(&self) -> String {
        format!("{}/api/v2", self.base_url())
    }

    /// e.g. "http://127.0.0.1:43123"
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(mut h) = self.handle.take()
            && tokio::time::timeout(Duration::from_secs(3), &mut h)
                .await
                .is_err()
        {
            h.abort();
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.abort();
        }
    }
}

/// Runs the sandbox in the foreground (for `capsule-mcp sandbox --listen ADDR`):
/// prints its API URL and the demo tokens to stdout, serves until ctrl-c.
pub async fn run_standalone(addr: SocketAddr, opts: SandboxOptions) -> anyhow::Result<()> {
    let sandbox = Sandbox::start(addr, opts).await?;
    println!("Sandbox Capsule API listening at {}", sandbox.api_url());
    println!(
        "  OAuth:  {}/oauth/authorise, {}/oauth/token",
        sandbox.base_url(),
        sandbox.base_url()
    );
    println!("  Tokens: {ADMIN_TOKEN}    (admin user 61 \"ted\", read+write)");
    println!("          {USER_TOKEN}     (user 6 \"scottspacey\", read+write)");
    println!("          {READONLY_TOKEN} (user 6 \"scottspacey\", read only)");
    println!("Press ctrl-c to stop.");
    tokio::signal::ctrl_c().await?;
    sandbox.shutdown().await;
    Ok(())
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/oauth/authorise", get(oauth::authorise))
        .route("/oauth/authorize", get(oauth::authorise))
        .route("/oauth/token", post(counted_token))
        .route("/oauth/token/revoke", post(oauth::revoke))
        .route("/oauth/revoke", post(oauth::revoke))
        .route("/_sandbox/stats", get(admin_stats))
        .route("/_sandbox/faults", post(admin_faults))
        .route("/_sandbox/config", post(admin_config))
        .route("/_sandbox/reset", post(admin_reset))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(api_entry)
        .layer(DefaultBodyLimit::max(30 * 1024 * 1024))
        .with_state(shared)
}

/// `POST /oauth/token`, counted by grant type before it is answered: the grants in the stats
/// count only what was issued, this counts what was asked (a refused refresh too).
async fn counted_token(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let grant = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "grant_type")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    *shared.rt().token_requests.entry(grant).or_insert(0) += 1;
    oauth::token(State(shared), body).await
}

pub(crate) const JSON_CT: &str = "application/json;charset=UTF-8";

/// A compact JSON response with Capsule's content type.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_CT),
    );
    r
}

async fn method_not_allowed() -> Response {
    json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({ "message": "Method not allowed" }),
    )
}

// ---------------------------------------------------------------------------
// /api/v2

/// Counts the request as aborted if the handler future is dropped before it
/// finished (the client hung up).
struct AbortGuard {
    shared: Arc<Shared>,
    done: bool,
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if !self.done {
            self.shared.rt().aborted += 1;
        }
    }
}

async fn api_entry(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let rest = match path.strip_prefix("/api/v2") {
        Some(r) if r.is_empty() || r.starts_with('/') => r.to_string(),
        _ => {
            return json_response(
                StatusCode::NOT_FOUND,
                &json!({ "message": "Could not find resource" }),
            );
        }
    };
    let mut guard = AbortGuard {
        shared: shared.clone(),
        done: false,
    };
    let resp = handle_api(&shared, method, &uri, rest, headers, body).await;
    guard.done = true;
    resp
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() {
        Some(token.trim().to_string())
    } else {
        None
    }
}

/// Who a token acts as: (user id, may write).
fn resolve_token(shared: &Shared, token: &str, now: i64) -> Option<(i64, bool)> {
    match token {
        ADMIN_TOKEN => Some((seed::ADMIN_USER, true)),
        USER_TOKEN => Some((seed::STANDARD_USER, true)),
        READONLY_TOKEN => Some((seed::STANDARD_USER, false)),
        t => shared.rt().oauth.access_user(t, now).map(|u| (u, true)),
    }
}

async fn handle_api(
    shared: &Arc<Shared>,
    method: Method,
    uri: &Uri,
    rest: String,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let matched = routes::match_route(&rest);
    let key = match &matched {
        Some((t, _, _)) => format!("{method} {t}"),
        None => format!("{method} {rest}"),
    };
    let fault = {
        let mut rt = shared.rt();
        *rt.requests.entry(key.clone()).or_insert(0) += 1;
        rt.total += 1;
        let pos = rt.faults.iter().position(|f| f.route == key);
        pos.and_then(|p| {
            let f = rt.faults.get_mut(p).map(|f| {
                f.remaining = f.remaining.saturating_sub(1);
                f.clone()
            });
            if f.as_ref().is_some_and(|f| f.remaining == 0) {
                rt.faults.remove(p);
            }
            f
        })
    };
    if let Some(f) = &fault {
        if f.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(f.delay_ms)).await;
        }
        if let Some(status) = f.status {
            return fault_response(shared, status, f.reset_in_seconds);
        }
    }

    let now_ts = now();
    let token = bearer(&headers);
    let rate = rate_check(shared, token.as_deref().unwrap_or(""), now_ts.timestamp());
    let mut resp = answer(
        shared, method, uri, rest, matched, headers, body, token, now_ts, &rate,
    );
    rate.apply(resp.headers_mut());
    resp
}

struct RateInfo {
    limit: u32,
    remaining: u32,
    reset: i64,
    exceeded: bool,
}

impl RateInfo {
    fn apply(&self, h: &mut HeaderMap) {
        for (k, v) in [
            ("x-ratelimit-limit", self.limit.to_string()),
            ("x-ratelimit-remaining", self.remaining.to_string()),
            ("x-ratelimit-reset", self.reset.to_string()),
        ] {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(k, v);
            }
        }
    }
}

fn rate_check(shared: &Shared, token: &str, now: i64) -> RateInfo {
    let mut rt = shared.rt();
    let limit = rt.rate_limit;
    let bucket = rt
        .buckets
        .entry(token.to_string())
        .or_insert((now + 3600, 0));
    if now >= bucket.0 {
        *bucket = (now + 3600, 0);
    }
    let exceeded = bucket.1 >= limit;
    if !exceeded {
        bucket.1 += 1;
    }
    RateInfo {
        limit,
        remaining: limit.saturating_sub(bucket.1),
        reset: bucket.0,
        exceeded,
    }
}

fn fault_response(shared: &Shared, status: u16, reset_in: u64) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if code == StatusCode::TOO_MANY_REQUESTS {
        let limit = shared.rt().rate_limit;
        let mut r = json_response(code, &json!({ "error": "rate limit reached" }));
        RateInfo {
            limit,
            remaining: 0,
            reset: now().timestamp() + i64::try_from(reset_in).unwrap_or(3600),
            exceeded: true,
        }
        .apply(r.headers_mut());
        return r;
    }
    let message = code.canonical_reason().unwrap_or("Server error");
    json_response(code, &json!({ "message": message }))
}

#[allow(clippy::too_many_arguments)]
fn answer(
    shared: &Shared,
    method: Method,
    uri: &Uri,
    rest: String,
    matched: Option<routes::Matched>,
    headers: HeaderMap,
    body: Bytes,
    token: Option<String>,
    now_ts: DateTime<Utc>,
    rate: &RateInfo,
) -> Response {
    let Some((user, can_write)) = token
        .as_deref()
        .and_then(|t| resolve_token(shared, t, now_ts.timestamp()))
    else {
        let mut r = error_response(&ApiError::Unauthorized(
            "Unauthorized: missing, invalid or expired access token".into(),
        ));
        r.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static(
                "Bearer realm=\"Capsule\", error=\"invalid_token\", error_description=\"The access token is missing, invalid or expired\"",
            ),
        );
        return r;
    };
    if rate.exceeded {
        return json_response(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({ "error": "rate limit reached" }),
        );
    }
    let Some((template, params, methods)) = matched else {
        return error_response(&ApiError::NotFound("Could not find resource".into()));
    };
    if !methods.contains(&method.as_str()) {
        return error_response(&ApiError::MethodNotAllowed);
    }
    let is_read = method == Method::GET || template.ends_with("/filters/results");
    if !is_read && !can_write {
        return error_response(&ApiError::Forbidden(
            "Requires additional scope: write".into(),
        ));
    }
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_graphic()))
        .map(|h| format!("http://{h}"))
        .unwrap_or_else(|| shared.fallback_base.clone());
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let req = Req {
        method,
        template,
        path: rest,
        params,
        query,
        body,
        headers,
        api_base: format!("{host}/api/v2"),
    };
    let mut store = lock(&shared.store);
    let admin = store.users.get(&user).is_some_and(|u| u.admin);
    let mut ctx = routes::Ctx {
        store: &mut store,
        user,
        admin,
        now: now_ts,
    };
    match routes::dispatch(&mut ctx, &req) {
        Ok(reply) => reply_response(reply),
        Err(e) => error_response(&e),
    }
}

fn error_response(e: &ApiError) -> Response {
    json_response(e.status(), &e.body())
}

fn reply_response(reply: Reply) -> Response {
    let mut r = match (reply.raw, reply.body) {
        (Some((ct, bytes)), _) => {
            let mut r = Response::new(Body::from(bytes));
            if let Ok(v) = HeaderValue::from_str(&ct) {
                r.headers_mut().insert(http::header::CONTENT_TYPE, v);
            }
            r
        }
        (None, Some(body)) if reply.status != StatusCode::NO_CONTENT => {
            json_response(reply.status, &body)
        }
        _ => Response::new(Body::empty()),
    };
    *r.status_mut() = reply.status;
    for (k, v) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}

// ---------------------------------------------------------------------------
// /_sandbox admin API (no auth; not counted in stats)

async fn admin_stats(State(shared): State<Arc<Shared>>) -> Response {
    let rt = shared.rt();
    json_response(
        StatusCode::OK,
        &json!({
            "requests": rt.requests,
            "grants": rt.grants,
            "token_requests": rt.token_requests,
            "total_requests": rt.total,
            "aborted": rt.aborted,
            "rate_limit_per_hour": rt.rate_limit,
            "access_token_ttl_seconds": rt.ttl,
            "pending_faults": rt.faults.iter().map(|f| json!({
                "route": f.route, "status": f.status, "times": f.remaining, "delay_ms": f.delay_ms,
            })).collect::<Vec<_>>(),
        }),
    )
}

fn admin_error(message: &str) -> Box<Response> {
    Box::new(json_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        &json!({ "message": message }),
    ))
}

fn parse_admin_body(body: &Bytes) -> Result<serde_json::Map<String, Value>, Box<Response>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(admin_error("body must be a JSON object")),
        Err(e) => Err(Box::new(json_response(
            StatusCode::BAD_REQUEST,
            &json!({ "message": format!("Malformed JSON: {e}") }),
        ))),
    }
}

fn u64_field(m: &serde_json::Map<String, Value>, key: &str) -> Result<Option<u64>, Box<Response>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| admin_error(&format!("{key} must be a non-negative integer"))),
    }
}

async fn admin_faults(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let result = (|| -> Result<(), Box<Response>> {
        let m = parse_admin_body(&body)?;
        let route = match m.get("route") {
            Some(Value::String(r)) if !r.trim().is_empty() => {
                // Normalise "get /parties" and extra spaces.
                let r = r.trim();
                match r.split_once(char::is_whitespace) {
                    Some((meth, path)) => format!("{} {}", meth.to_uppercase(), path.trim()),
                    None => return Err(admin_error("route must look like \"GET /parties\"")),
                }
            }
            _ => return Err(admin_error("route is required, e.g. \"GET /parties\"")),
        };
        let status = u64_field(&m, "status")?;
        if let Some(s) = status
            && !(400..=599).contains(&s)
        {
            return Err(admin_error("status must be a 4xx or 5xx code"));
        }
        let delay_ms = u64_field(&m, "delay_ms")?.unwrap_or(0);
        if status.is_none() && delay_ms == 0 {
            return Err(admin_error("give a status, a delay_ms, or both"));
        }
        let times = u64_field(&m, "times")?.unwrap_or(1);
        let f = Fault {
            route,
            status: status.and_then(|s| u16::try_from(s).ok()),
            remaining: u32::try_from(times).unwrap_or(u32::MAX),
            delay_ms: delay_ms.min(600_000),
            reset_in_seconds: u64_field(&m, "reset_in_seconds")?.unwrap_or(60),
        };
        if f.remaining > 0 {
            shared.rt().faults.push(f);
        }
        Ok(())
    })();
    match result {
        Ok(()) => json_response(StatusCode::OK, &json!({ "ok": true })),
        Err(r) => *r,
    }
}

async fn admin_config(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let result = (|| -> Result<Value, Box<Response>> {
        let m = parse_admin_body(&body)?;
        let limit = u64_field(&m, "rate_limit_per_hour")?;
        let ttl = u64_field(&m, "access_token_ttl_seconds")?;
        let mut rt = shared.rt();
        if let Some(l) = limit {
            rt.rate_limit = u32::try_from(l).unwrap_or(u32::MAX);
        }
        if let Some(t) = ttl {
            rt.ttl = t;
        }
        Ok(json!({
            "ok": true,
            "rate_limit_per_hour": rt.rate_limit,
            "access_token_ttl_seconds": rt.ttl,
        }))
    })();
    match result {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(r) => *r,
    }
}

async fn admin_reset(State(shared): State<Arc<Shared>>) -> Response {
    *lock(&shared.store) = seed::seed();
    {
        let mut rt = shared.rt();
        // OAuth grants survive a reset so a connected client keeps working.
        let oauth = std::mem::take(&mut rt.oauth);
        *rt = runtime_for(&shared.opts);
        rt.oauth = oauth;
    }
    json_response(StatusCode::OK, &json!({ "ok": true }))
}
