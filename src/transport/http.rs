//! Streamable HTTP transport, safe by default.
//!
//! MCP is served at `/mcp` by rmcp's [`StreamableHttpService`]; every other path is 404.
//! Around it sit, outermost first:
//!
//! 1. **Host / Origin guard** (all paths): a `Host` whose host part is not in
//!    [`HttpOptions::allowed_hosts`] or an `Origin` not in [`HttpOptions::allowed_origins`]
//!    gets 403 before anything else runs (DNS-rebinding and cross-site protection). rmcp is
//!    given the same lists and checks again.
//! 2. **Bearer auth** (`/mcp`, when [`HttpOptions::auth_token`] is set): constant-time
//!    comparison, 401 with `WWW-Authenticate: Bearer realm="capsule-mcp"` otherwise.
//! 3. **Body limit** (`/mcp`): a `Content-Length` above [`HttpOptions::max_body_bytes`] is
//!    refused at once; any other body is counted while it streams and the request is answered
//!    413 when it trips (rmcp's own `max_request_body_bytes` is set to the same value).
//! 4. **Session cap**: the session manager is rmcp's [`LocalSessionManager`] wrapped so that
//!    creating a session beyond [`HttpOptions::max_sessions`] fails; the failure is turned
//!    into a 503 with a JSON body.
//!
//! Nothing here logs `Authorization` headers or request/response bodies.

use std::{
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use anyhow::Context as _;
use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use futures_util::Stream;
use http_body::{Frame, SizeHint};
use rmcp::{
    model::{ClientJsonRpcMessage, ServerJsonRpcMessage},
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
        session::{
            ServerSseMessage, SessionId, SessionManager,
            local::{LocalSessionManager, LocalSessionManagerError},
        },
    },
};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The realm named in `WWW-Authenticate` challenges.
const REALM: &str = "capsule-mcp";

/// Options for the streamable HTTP transport. `Default` is the safe local setup:
/// loopback only, loopback Origins only, stateful sessions, 1 MiB bodies.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Address to listen on (port 0 picks a free port; see [`BoundHttp::addr`]).
    /// Default `127.0.0.1:8787`. A non-loopback address requires `auth_token`.
    pub listen: SocketAddr,
    /// Host names accepted in the `Host` header. An entry without a port matches any port;
    /// `host:port` matches that port only. Default: `localhost`, `127.0.0.1`, `::1`.
    pub allowed_hosts: Vec<String>,
    /// Origins accepted in the `Origin` header (`scheme://host[:port]`, `:*` = any port,
    /// `null` = the opaque origin). A request with an `Origin` not listed gets 403; a request
    /// without `Origin` (non-browser clients) is allowed. An empty list refuses every `Origin`.
    /// Default: `http://localhost:*`, `http://127.0.0.1:*`, `http://[::1]:*`.
    pub allowed_origins: Vec<String>,
    /// Bearer token every `/mcp` request must present (`CAPSULE_MCP_AUTH_TOKEN`).
    pub auth_token: Option<SecretString>,
    /// Largest accepted request body in bytes; larger ones get 413. Default 1 MiB.
    pub max_body_bytes: usize,
    /// A session without any traffic for this long is closed (the client then gets 404 and
    /// re-initializes). Default 30 minutes.
    pub session_idle_timeout: Duration,
    /// Most live sessions at once; one more `initialize` gets 503. Default 100.
    pub max_sessions: usize,
    /// No sessions at all: every request is served on its own and answered with JSON where
    /// possible. Suits load balancers; a client disconnect cancels the running call.
    /// Default `false` (stateful sessions for pre-2026-07-28 clients).
    pub stateless: bool,
    /// Longest a client may take to send a request's headers; slower connections are closed
    /// (slowloris). Default 10 s.
    pub header_read_timeout: Duration,
    /// Most open connections at once; more are closed at once. Default 512.
    pub max_connections: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allowed_origins: vec![
                "http://localhost:*".into(),
                "http://127.0.0.1:*".into(),
                "http://[::1]:*".into(),
            ],
            auth_token: None,
            max_body_bytes: 1024 * 1024,
            session_idle_timeout: Duration::from_secs(30 * 60),
            max_sessions: 100,
            stateless: false,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 512,
        }
    }
}

impl HttpOptions {
    /// Refuses settings that are unsafe or cannot work: a non-loopback listen address without
    /// an auth token, an empty or unparsable host list, unparsable origins, an empty token,
    /// zero limits. The message says what to set.
    pub fn validate(&self) -> Result<(), String> {
        match &self.auth_token {
            None if !self.listen.ip().is_loopback() => {
                return Err(format!(
                    "refusing to listen on {} without authentication: set CAPSULE_MCP_AUTH_TOKEN \
                     to a long random secret, or listen on a loopback address such as 127.0.0.1",
                    self.listen
                ));
            }
            None => {}
            Some(token) => {
                let token = token.expose_secret();
                if token.is_empty() {
                    return Err("CAPSULE_MCP_AUTH_TOKEN is set but empty: set it to a long \
                                random secret, or unset it on a loopback address"
                        .into());
                }
                if !token.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(
                        "CAPSULE_MCP_AUTH_TOKEN must be printable ASCII without spaces \
                                (it is sent as `Authorization: Bearer <token>`)"
                            .into(),
                    );
                }
            }
        }
        if self.allowed_hosts.is_empty() {
            return Err(
                "the allowed host list is empty: list the host names clients use to \
                        reach this server (e.g. localhost, or your public host name)"
                    .into(),
            );
        }
        if let Some(bad) = self
            .allowed_hosts
            .iter()
            .find(|h| AllowedHost::parse(h).is_none())
        {
            return Err(format!(
                "allowed host {bad:?} is not a host name, IP address or host:port"
            ));
        }
        if let Some(bad) = self
            .allowed_origins
            .iter()
            .find(|o| AllowedOrigin::parse(o).is_none())
        {
            return Err(format!(
                "allowed origin {bad:?} is not an origin: use scheme://host[:port], \
                 scheme://host:* for any port, or null"
            ));
        }
        if self.max_sessions == 0 {
            return Err("max_sessions must be at least 1".into());
        }
        if self.max_connections == 0 {
            return Err("max_connections must be at least 1".into());
        }
        if self.header_read_timeout.is_zero() {
            return Err("the header read timeout must be above zero".into());
        }
        if self.max_body_bytes == 0 {
            return Err("max_body_bytes must be at least 1 (default 1 MiB)".into());
        }
        if self.session_idle_timeout.is_zero() {
            return Err("session_idle_timeout must be longer than zero (default 30 min)".into());
        }
        Ok(())
    }
}

/// A bound server: the actual address (listen may use port 0) and a future that serves until
/// the shutdown token is cancelled.
pub struct BoundHttp {
    /// The address the listener is bound to.
    pub addr: SocketAddr,
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
    header_read_timeout: Duration,
    max_connections: usize,
}

impl std::fmt::Debug for BoundHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundHttp")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl BoundHttp {
    /// Serves until the shutdown token is cancelled, then stops accepting, ends open SSE
    /// streams and sessions, and waits for in-flight responses to finish.
    pub async fn serve(self) -> anyhow::Result<()> {
        use hyper_util::{
            rt::{TokioExecutor, TokioIo, TokioTimer},
            server::{conn::auto, graceful::GracefulShutdown},
            service::TowerToHyperService,
        };
        let graceful = GracefulShutdown::new();
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(self.max_connections));
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout);
        loop {
            let (stream, peer) = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                tracing::warn!(%peer, "connection limit reached; closing a new connection");
                drop(stream);
                continue;
            };
            let service = TowerToHyperService::new(self.app.clone());
            let conn = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                drop(slot);
            });
        }
        // Open SSE streams end with the sessions (rmcp holds a child of the same token).
        if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("some connections were still open after 10 s; closing them");
        }
        tracing::info!(addr = %self.addr, "MCP HTTP server stopped");
        Ok(())
    }
}

/// Validates `opts`, binds the listener and builds the service. `factory` is called once per
/// session (stateful) or once per request (stateless and 2026-07-28 requests): keep it cheap.
pub async fn bind<S, F>(
    factory: F,
    opts: HttpOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<BoundHttp>
where
    S: rmcp::ServerHandler + Send + 'static,
    F: Fn() -> S + Send + Sync + 'static,
{
    opts.validate().map_err(anyhow::Error::msg)?;
    let guard = Arc::new(Guard::new(&opts)?);

    let mut config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(opts.allowed_hosts.iter().cloned())
        .with_allowed_origins(opts.allowed_origins.iter().cloned())
        .with_max_request_body_bytes(opts.max_body_bytes)
        .with_cancellation_token(shutdown.child_token());
    if opts.allowed_origins.is_empty() {
        // rmcp treats an empty list as "no Origin check"; ours means "no Origin allowed".
        config = config.enforce_origin_validation();
    }
    if opts.stateless {
        config = config
            .with_legacy_session_mode(false)
            .with_json_response(true);
    }
    let mut local = LocalSessionManager::default();
    local.session_config.keep_alive = Some(opts.session_idle_timeout);
    let sessions = Arc::new(CappedSessionManager {
        inner: local,
        max_sessions: opts.max_sessions,
        create_lock: tokio::sync::Mutex::new(()),
    });
    let service = StreamableHttpService::new(move || Ok(factory()), sessions, config);

    let app = Router::new()
        .route_service("/mcp", service)
        .route_layer(middleware::from_fn_with_state(guard.clone(), guard_mcp))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(guard, check_host_and_origin));

    let listener = TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback()
        && opts
            .allowed_hosts
            .iter()
            .filter_map(|h| AllowedHost::parse(h))
            .all(|h| is_loopback_name(&h.host))
    {
        tracing::warn!(
            %addr,
            "listening on a non-loopback address but only loopback Host names are allowed: \
             requests using a public host name will get 403; add it to the allowed hosts"
        );
    }
    if opts
        .auth_token
        .as_ref()
        .is_some_and(|t| t.expose_secret().len() < 16)
    {
        tracing::warn!("the HTTP auth token is shorter than 16 characters; use a long random one");
    }
    tracing::info!(
        url = %format!("http://{addr}/mcp"),
        stateless = opts.stateless,
        auth = opts.auth_token.is_some(),
        "MCP streamable HTTP listening"
    );
    Ok(BoundHttp {
        addr,
        listener,
        app,
        shutdown,
        header_read_timeout: opts.header_read_timeout,
        max_connections: opts.max_connections,
    })
}

// ---------------------------------------------------------------------------------------------
// Middleware
// ---------------------------------------------------------------------------------------------

/// Parsed, immutable request policy shared by the middleware.
struct Guard {
    hosts: Vec<AllowedHost>,
    origins: Vec<AllowedOrigin>,
    token: Option<SecretString>,
    max_body_bytes: usize,
    max_sessions: usize,
}

impl Guard {
    fn new(opts: &HttpOptions) -> anyhow::Result<Self> {
        let hosts = opts
            .allowed_hosts
            .iter()
            .map(|h| AllowedHost::parse(h).ok_or_else(|| anyhow::anyhow!("bad host {h:?}")))
            .collect::<anyhow::Result<_>>()?;
        let origins = opts
            .allowed_origins
            .iter()
            .map(|o| AllowedOrigin::parse(o).ok_or_else(|| anyhow::anyhow!("bad origin {o:?}")))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            hosts,
            origins,
            token: opts.auth_token.clone(),
            max_body_bytes: opts.max_body_bytes,
            max_sessions: opts.max_sessions,
        })
    }
}

fn json_error(status: StatusCode, error: &str, message: impl Into<String>) -> Response {
    let message: String = message.into();
    (
        status,
        Json(serde_json::json!({ "error": error, "message": message })),
    )
        .into_response()
}

async fn not_found() -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        "not_found",
        "nothing here; MCP is served at /mcp",
    )
}

/// Outermost layer, every path: DNS-rebinding (`Host`) and cross-origin (`Origin`) checks.
async fn check_host_and_origin(
    State(guard): State<Arc<Guard>>,
    req: Request,
    next: Next,
) -> Response {
    let host = match req.headers().get(header::HOST) {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|s| http::uri::Authority::try_from(s).ok()),
        // HTTP/2 carries the authority in the URI instead.
        None => req.uri().authority().cloned(),
    };
    let Some(host) = host else {
        tracing::warn!("rejected request with a missing or malformed Host header");
        return json_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "missing or malformed Host header",
        );
    };
    let host_name = normalize_host(host.host());
    let port = host.port_u16();
    if !guard.hosts.iter().any(|a| a.matches(&host_name, port)) {
        tracing::warn!(host = %host, "rejected request: Host not allowed (possible DNS rebinding)");
        return json_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Host header is not allowed",
        );
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let allowed = origin
            .to_str()
            .ok()
            .and_then(Origin::parse)
            .is_some_and(|o| guard.origins.iter().any(|a| a.matches(&o)));
        if !allowed {
            tracing::warn!(origin = ?origin, "rejected request: Origin not allowed");
            return json_error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Origin header is not allowed",
            );
        }
    }
    next.run(req).await
}

tokio::task_local! {
    /// Set for the duration of one `/mcp` request; the capped session manager raises it when
    /// it refuses to create a session, so the middleware can answer 503 instead of rmcp's 500.
    static SESSION_CAP_HIT: Arc<AtomicBool>;
}

/// `/mcp` only: bearer auth, body limit, session-cap mapping.
async fn guard_mcp(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    if let Some(expected) = &guard.token
        && let Some(response) = bearer_rejection(&req, expected)
    {
        return response;
    }

    let limit = guard.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        tracing::warn!(
            limit,
            "rejected request: Content-Length above the body limit"
        );
        return too_large(limit);
    }
    let tripped = Arc::new(AtomicBool::new(false));
    let req = req.map(|body| {
        Body::new(LimitedBody {
            inner: body,
            remaining: limit,
            tripped: tripped.clone(),
        })
    });

    let cap_hit = Arc::new(AtomicBool::new(false));
    let response = SESSION_CAP_HIT.scope(cap_hit.clone(), next.run(req)).await;

    if tripped.load(Ordering::Relaxed) || response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        tracing::warn!(limit, "rejected request: body above the limit");
        return too_large(limit);
    }
    if cap_hit.load(Ordering::Relaxed) {
        let mut response = json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "session_limit_reached",
            format!(
                "the server already has its maximum of {} live sessions; close one \
                 (HTTP DELETE with its Mcp-Session-Id) or retry later",
                guard.max_sessions
            ),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        return response;
    }
    response
}

fn too_large(limit: usize) -> Response {
    json_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("request body exceeds {limit} bytes"),
    )
}

/// `None` when the request carries `Authorization: Bearer <expected>`; the 401 otherwise.
fn bearer_rejection(req: &Request, expected: &SecretString) -> Option<Response> {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let Some(presented) = presented else {
        tracing::warn!("rejected request: no bearer token");
        return Some(unauthorized(
            None,
            "this server requires Authorization: Bearer <CAPSULE_MCP_AUTH_TOKEN>",
        ));
    };
    if bool::from(
        presented
            .as_bytes()
            .ct_eq(expected.expose_secret().as_bytes()),
    ) {
        None
    } else {
        tracing::warn!("rejected request: wrong bearer token");
        Some(unauthorized(
            Some("invalid_token"),
            "the bearer token is not valid for this server",
        ))
    }
}

fn unauthorized(error: Option<&str>, message: &str) -> Response {
    let challenge = match error {
        Some(error) => format!(r#"Bearer realm="{REALM}", error="{error}""#),
        None => format!(r#"Bearer realm="{REALM}""#),
    };
    let mut response = json_error(StatusCode::UNAUTHORIZED, "unauthorized", message);
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// A request body that fails once more than `remaining` bytes have streamed through, and
/// records that it did so the middleware can answer 413 whatever the inner service said.
struct LimitedBody {
    inner: Body,
    remaining: usize,
    tripped: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("request body exceeds the configured limit")]
struct BodyTooLarge;

impl http_body::Body for LimitedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    if data.len() > this.remaining {
                        this.remaining = 0;
                        this.tripped.store(true, Ordering::Relaxed);
                        return Poll::Ready(Some(Err(axum::Error::new(BodyTooLarge))));
                    }
                    this.remaining -= data.len();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

// ---------------------------------------------------------------------------------------------
// Session cap
// ---------------------------------------------------------------------------------------------

/// rmcp's in-memory session manager with a ceiling on live sessions. Sessions leave the map
/// on DELETE, on idle timeout and when their worker ends (rmcp calls `close_session`), so the
/// map size is the live count.
struct CappedSessionManager {
    inner: LocalSessionManager,
    max_sessions: usize,
    /// Serializes count-then-create so concurrent `initialize`s cannot overshoot the cap.
    create_lock: tokio::sync::Mutex<()>,
}

#[derive(Debug, thiserror::Error)]
enum CappedSessionError {
    #[error("session limit of {0} live sessions reached")]
    LimitReached(usize),
    #[error(transparent)]
    Local(#[from] LocalSessionManagerError),
}

type LocalTransport = <LocalSessionManager as SessionManager>::Transport;

impl SessionManager for CappedSessionManager {
    type Error = CappedSessionError;
    type Transport = LocalTransport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let _serialized = self.create_lock.lock().await;
        let live = self.inner.sessions.read().await.len();
        if live >= self.max_sessions {
            let _ = SESSION_CAP_HIT.try_with(|hit| hit.store(true, Ordering::Relaxed));
            tracing::warn!(
                live,
                max = self.max_sessions,
                "refused a new session: session limit reached"
            );
            return Err(CappedSessionError::LimitReached(self.max_sessions));
        }
        let created = self.inner.create_session().await?;
        tracing::debug!(live = live + 1, "MCP session created");
        Ok(created)
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        Ok(self.inner.initialize_session(id, message).await?)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        Ok(self.inner.has_session(id).await?)
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        Ok(self.inner.close_session(id).await?)
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.create_stream(id, message).await?)
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        Ok(self.inner.accept_message(id, message).await?)
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.create_standalone_stream(id).await?)
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.resume(id, last_event_id).await?)
    }
    // `restore_session` keeps the trait default (NotSupported): there is no external session
    // store, and restoring would bypass the cap.
}

// ---------------------------------------------------------------------------------------------
// Host / Origin matching (same semantics as rmcp's own checks)
// ---------------------------------------------------------------------------------------------

fn normalize_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

fn is_loopback_name(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// An `allowed_hosts` entry: a host, with an optional port (none = any port).
#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    host: String,
    port: Option<u16>,
}

impl AllowedHost {
    fn parse(entry: &str) -> Option<Self> {
        let entry = entry.trim();
        if entry.is_empty() || entry.contains(['@', '/', '*']) {
            return None;
        }
        // A bare IPv6 address ("::1") is not an authority; accept it as a host.
        if let Ok(ip) = entry.parse::<std::net::Ipv6Addr>() {
            return Some(Self {
                host: ip.to_string(),
                port: None,
            });
        }
        let authority = http::uri::Authority::try_from(entry).ok()?;
        Some(Self {
            host: normalize_host(authority.host()),
            port: authority.port_u16(),
        })
    }

    fn matches(&self, host: &str, port: Option<u16>) -> bool {
        self.host == host && self.port.is_none_or(|p| port == Some(p))
    }
}

/// A parsed `Origin` header value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Null,
    Tuple {
        scheme: String,
        host: String,
        port: Option<u16>,
    },
}

impl Origin {
    fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("null") {
            return Some(Self::Null);
        }
        let uri = http::Uri::try_from(value).ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let authority = uri.authority()?;
        Some(Self::Tuple {
            scheme,
            host: normalize_host(authority.host()),
            port: authority.port_u16(),
        })
    }
}

/// An `allowed_origins` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AllowedOrigin {
    Null,
    Tuple {
        scheme: String,
        host: String,
        /// `None` = any port (`:*`, or no port given, as rmcp currently does).
        port: Option<u16>,
    },
}

impl AllowedOrigin {
    fn parse(entry: &str) -> Option<Self> {
        let entry = entry.trim();
        if let Some(base) = entry.strip_suffix(":*") {
            return match Origin::parse(base)? {
                Origin::Tuple {
                    scheme,
                    host,
                    port: None,
                } => Some(Self::Tuple {
                    scheme,
                    host,
                    port: None,
                }),
                _ => None,
            };
        }
        Some(match Origin::parse(entry)? {
            Origin::Null => Self::Null,
            Origin::Tuple { scheme, host, port } => Self::Tuple { scheme, host, port },
        })
    }

    fn matches(&self, origin: &Origin) -> bool {
        match (self, origin) {
            (Self::Null, Origin::Null) => true,
            (
                Self::Tuple { scheme, host, port },
                Origin::Tuple {
                    scheme: o_scheme,
                    host: o_host,
                    port: o_port,
                },
            ) => {
                scheme == o_scheme
                    && host == o_host
                    && port.is_none_or(|p| o_port.or_else(|| default_port(o_scheme)) == Some(p))
            }
            _ => false,
        }
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use rmcp::{
        ClientHandler, ServiceExt,
        handler::server::wrapper::Parameters,
        model::CallToolRequestParams,
        schemars, tool, tool_router,
        transport::{
            StreamableHttpClientTransport,
            streamable_http_client::StreamableHttpClientTransportConfig,
        },
    };
    use serde_json::{Value, json};

    #[derive(Clone)]
    struct Echo;

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct EchoArgs {
        text: String,
    }

    #[tool_router(server_handler)]
    impl Echo {
        #[tool(description = "Echo the text back", annotations(read_only_hint = true))]
        fn echo(&self, Parameters(args): Parameters<EchoArgs>) -> String {
            args.text
        }
    }

    #[derive(Clone, Default)]
    struct TestClient;
    impl ClientHandler for TestClient {}

    struct Running {
        addr: SocketAddr,
        shutdown: CancellationToken,
        task: tokio::task::JoinHandle<anyhow::Result<()>>,
    }

    impl Running {
        fn url(&self) -> String {
            format!("http://{}/mcp", self.addr)
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            self.shutdown.cancel();
        }
    }

    fn opts() -> HttpOptions {
        HttpOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..HttpOptions::default()
        }
    }

    async fn start(opts: HttpOptions) -> Running {
        let shutdown = CancellationToken::new();
        let bound = bind(|| Echo, opts, shutdown.clone()).await.unwrap();
        let addr = bound.addr;
        let task = tokio::spawn(bound.serve());
        Running {
            addr,
            shutdown,
            task,
        }
    }

    fn init_body() -> Value {
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"}}})
    }

    fn mcp_post(url: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .post(url)
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Type", "application/json")
    }

    async fn initialize(url: &str) -> reqwest::Response {
        mcp_post(url)
            .body(init_body().to_string())
            .send()
            .await
            .unwrap()
    }

    fn session_id(resp: &reqwest::Response) -> String {
        resp.headers()
            .get("mcp-session-id")
            .expect("session id header")
            .to_str()
            .unwrap()
            .to_owned()
    }

    fn echo_call(text: &str) -> CallToolRequestParams {
        CallToolRequestParams::new("echo")
            .with_arguments(json!({ "text": text }).as_object().unwrap().clone())
    }

    async fn rmcp_round_trip(config: StreamableHttpClientTransportConfig) {
        let client = TestClient
            .serve(StreamableHttpClientTransport::from_config(config))
            .await
            .unwrap();
        let tools = client.list_all_tools().await.unwrap();
        assert_eq!(tools.len(), 1);
        assert_eq!(tools[0].name, "echo");
        let res = client.call_tool(echo_call("hello")).await.unwrap();
        assert_eq!(res.content[0].as_text().unwrap().text, "hello");
        client.cancel().await.unwrap();
    }

    /// Reads until the server closes the connection (or 10 s pass); true when it closed.
    async fn closed_by_server(mut sock: tokio::net::TcpStream) -> bool {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 1024];
        let read = async {
            loop {
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn slow_headers_are_cut_off() {
        use tokio::io::AsyncWriteExt;
        let server = start(HttpOptions {
            header_read_timeout: Duration::from_millis(500),
            ..opts()
        })
        .await;
        let mut sock = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        sock.write_all(b"POST /mcp HTTP/1.1\r\nHost: localhost\r\n")
            .await
            .unwrap();
        let started = std::time::Instant::now();
        assert!(
            closed_by_server(sock).await,
            "a slowloris connection stays open"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        // The server still answers others.
        assert_eq!(initialize(&server.url()).await.status(), 200);
    }

    #[tokio::test]
    async fn connections_beyond_the_cap_are_closed() {
        let server = start(HttpOptions {
            max_connections: 2,
            ..opts()
        })
        .await;
        let _a = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let _b = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let c = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        assert!(
            closed_by_server(c).await,
            "a third connection is closed at once"
        );
        drop((_a, _b));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(initialize(&server.url()).await.status(), 200);
    }

    #[tokio::test]
    async fn rmcp_client_round_trip_stateful() {
        let server = start(opts()).await;
        rmcp_round_trip(StreamableHttpClientTransportConfig::with_uri(server.url())).await;
    }

    #[tokio::test]
    async fn rmcp_client_round_trip_stateless() {
        let server = start(HttpOptions {
            stateless: true,
            ..opts()
        })
        .await;
        rmcp_round_trip(StreamableHttpClientTransportConfig::with_uri(server.url())).await;

        // No session is minted and the answer is plain JSON.
        let resp = initialize(&server.url()).await;
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().get("mcp-session-id").is_none());
        assert_eq!(resp.headers()["content-type"], "application/json");
    }

    async fn modern_tool_call(url: &str) -> (u16, String) {
        let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
            "name": "echo", "arguments": {"text": "modern"},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "0"},
                "io.modelcontextprotocol/clientCapabilities": {}}}});
        let resp = mcp_post(url)
            .header("MCP-Protocol-Version", "2026-07-28")
            .header("Mcp-Method", "tools/call")
            .header("Mcp-Name", "echo")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    #[tokio::test]
    async fn protocol_2026_requests_work_in_both_modes() {
        for stateless in [false, true] {
            let server = start(HttpOptions {
                stateless,
                ..opts()
            })
            .await;
            let (status, text) = modern_tool_call(&server.url()).await;
            assert_eq!(status, 200, "stateless={stateless}: {text}");
            assert!(text.contains(r#""text":"modern""#), "{text}");
        }
    }

    #[tokio::test]
    async fn foreign_host_is_forbidden() {
        let server = start(opts()).await;
        let resp = mcp_post(&server.url())
            .header("Host", "evil.example")
            .body(init_body().to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403);
        // Same for paths that do not exist: the guard runs first.
        let resp = reqwest::Client::new()
            .get(format!("http://{}/other", server.addr))
            .header("Host", "evil.example:8787")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403);
        // A configured host works on any port.
        let resp = mcp_post(&server.url())
            .header("Host", "localhost:4242")
            .body(init_body().to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }

    #[tokio::test]
    async fn origins_are_checked() {
        let server = start(opts()).await;
        let resp = mcp_post(&server.url())
            .header("Origin", "https://evil.example")
            .body(init_body().to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "forbidden");

        let resp = mcp_post(&server.url())
            .header("Origin", "http://localhost:1234")
            .body(init_body().to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }

    #[tokio::test]
    async fn bearer_token_is_required() {
        let token = "s3cret-token-0123456789";
        let server = start(HttpOptions {
            auth_token: Some(SecretString::from(token)),
            ..opts()
        })
        .await;

        let resp = initialize(&server.url()).await;
        assert_eq!(resp.status(), 401);
        assert_eq!(
            resp.headers()["www-authenticate"],
            r#"Bearer realm="capsule-mcp""#
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");

        let wrong = "wrong-token-which-must-not-be-echoed";
        let resp = mcp_post(&server.url())
            .bearer_auth(wrong)
            .body(init_body().to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(
            resp.headers()["www-authenticate"],
            r#"Bearer realm="capsule-mcp", error="invalid_token""#
        );
        let text = resp.text().await.unwrap();
        assert!(!text.contains(wrong) && !text.contains(token), "{text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["error"], "unauthorized");

        // The Host check still comes first.
        let resp = mcp_post(&server.url())
            .header("Host", "evil.example")
            .body(init_body().to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403);

        let resp = mcp_post(&server.url())
            .bearer_auth(token)
            .body(init_body().to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        rmcp_round_trip(
            StreamableHttpClientTransportConfig::with_uri(server.url()).auth_header(token),
        )
        .await;
    }

    fn oversized_json(len: usize) -> String {
        let mut body = init_body();
        body["params"]["clientInfo"]["name"] = Value::String("x".repeat(len));
        body.to_string()
    }

    #[tokio::test]
    async fn oversized_body_with_content_length_is_413() {
        let server = start(HttpOptions {
            max_body_bytes: 1024,
            ..opts()
        })
        .await;
        let resp = mcp_post(&server.url())
            .body(oversized_json(8 * 1024))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 413);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "payload_too_large");
    }

    fn chunked(body: String, chunk: usize) -> reqwest::Body {
        let chunks: Vec<Result<Bytes, std::io::Error>> = body
            .into_bytes()
            .chunks(chunk)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
    }

    #[tokio::test]
    async fn oversized_chunked_body_is_413() {
        let server = start(HttpOptions {
            max_body_bytes: 1024,
            ..opts()
        })
        .await;
        let resp = mcp_post(&server.url())
            .body(chunked(oversized_json(8 * 1024), 300))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 413);

        // A chunked body under the limit goes through untouched.
        let resp = mcp_post(&server.url())
            .body(chunked(init_body().to_string(), 16))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }

    #[tokio::test]
    async fn session_cap_refuses_then_frees_a_slot_on_delete() {
        let server = start(HttpOptions {
            max_sessions: 2,
            ..opts()
        })
        .await;
        let first = initialize(&server.url()).await;
        assert_eq!(first.status(), 200);
        let first_id = session_id(&first);
        let second = initialize(&server.url()).await;
        assert_eq!(second.status(), 200);

        let third = initialize(&server.url()).await;
        assert_eq!(third.status(), 503);
        let body: Value = third.json().await.unwrap();
        assert_eq!(body["error"], "session_limit_reached");

        let resp = reqwest::Client::new()
            .delete(server.url())
            .header("Mcp-Session-Id", &first_id)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());

        let again = initialize(&server.url()).await;
        assert_eq!(again.status(), 200);
    }

    #[tokio::test]
    async fn idle_sessions_are_reaped() {
        let server = start(HttpOptions {
            session_idle_timeout: Duration::from_secs(1),
            ..opts()
        })
        .await;
        let resp = initialize(&server.url()).await;
        assert_eq!(resp.status(), 200);
        let sid = session_id(&resp);
        let _ = resp.text().await.unwrap();
        let list = || {
            mcp_post(&server.url())
                .header("Mcp-Session-Id", &sid)
                .header("MCP-Protocol-Version", "2025-06-18")
                .body(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string())
        };
        let resp = mcp_post(&server.url())
            .header("Mcp-Session-Id", &sid)
            .header("MCP-Protocol-Version", "2025-06-18")
            .body(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202);
        let resp = list().send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.text().await.unwrap().contains("echo"));

        tokio::time::sleep(Duration::from_millis(2200)).await;
        let resp = list().send().await.unwrap();
        assert_eq!(resp.status(), 404);
    }

    #[test]
    fn validate_refuses_unsafe_or_nonsense_options() {
        let public = HttpOptions {
            listen: "0.0.0.0:8787".parse().unwrap(),
            ..HttpOptions::default()
        };
        let err = public.validate().unwrap_err();
        assert!(err.contains("CAPSULE_MCP_AUTH_TOKEN"), "{err}");
        let with_token = HttpOptions {
            auth_token: Some(SecretString::from("a-long-random-secret-value")),
            ..public.clone()
        };
        assert_eq!(with_token.validate(), Ok(()));
        assert_eq!(HttpOptions::default().validate(), Ok(()));

        let bad = [
            HttpOptions {
                max_sessions: 0,
                ..HttpOptions::default()
            },
            HttpOptions {
                allowed_hosts: vec![],
                ..HttpOptions::default()
            },
            HttpOptions {
                allowed_origins: vec!["localhost".into()],
                ..HttpOptions::default()
            },
            HttpOptions {
                max_body_bytes: 0,
                ..HttpOptions::default()
            },
            HttpOptions {
                session_idle_timeout: Duration::ZERO,
                ..HttpOptions::default()
            },
            HttpOptions {
                auth_token: Some(SecretString::from("")),
                ..HttpOptions::default()
            },
            HttpOptions {
                auth_token: Some(SecretString::from("has space")),
                ..HttpOptions::default()
            },
        ];
        for opts in bad {
            assert!(opts.validate().is_err(), "{opts:?}");
        }
    }

    #[tokio::test]
    async fn bind_refuses_invalid_options() {
        let err = bind(
            || Echo,
            HttpOptions {
                listen: "0.0.0.0:0".parse().unwrap(),
                ..HttpOptions::default()
            },
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("CAPSULE_MCP_AUTH_TOKEN"));
    }

    #[tokio::test]
    async fn unknown_paths_are_404() {
        let server = start(opts()).await;
        let client = reqwest::Client::new();
        for path in ["/", "/other", "/mcp/extra"] {
            let resp = client
                .get(format!("http://{}{path}", server.addr))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 404, "{path}");
        }
    }

    #[tokio::test]
    async fn cancelling_the_token_stops_the_server() {
        let mut server = start(opts()).await;
        // An open session with its standalone SSE stream must not keep the server alive.
        let client = TestClient
            .serve(StreamableHttpClientTransport::from_uri(server.url()))
            .await
            .unwrap();
        client.list_all_tools().await.unwrap();
        server.shutdown.cancel();
        let done = tokio::time::timeout(Duration::from_secs(10), &mut server.task)
            .await
            .expect("server stops after shutdown");
        done.unwrap().unwrap();
        drop(client);
    }

    #[tokio::test]
    async fn limited_body_trips_on_the_byte_after_the_limit() {
        use http_body_util::BodyExt;
        let read = |len: usize| async move {
            let tripped = Arc::new(AtomicBool::new(false));
            let half = Bytes::from(vec![b'x'; len / 2]);
            let stream =
                futures_util::stream::iter([Ok::<_, std::io::Error>(half.clone()), Ok(half)]);
            let body = LimitedBody {
                inner: Body::from_stream(stream),
                remaining: 10,
                tripped: tripped.clone(),
            };
            let ok = body.collect().await.is_ok();
            (ok, tripped.load(Ordering::Relaxed))
        };
        assert_eq!(read(10).await, (true, false));
        assert_eq!(read(12).await, (false, true));
    }

    #[test]
    fn host_and_origin_matching() {
        let h = AllowedHost::parse("::1").unwrap();
        assert!(h.matches("::1", Some(9)));
        let h = AllowedHost::parse("[::1]").unwrap();
        assert!(h.matches("::1", None));
        let h = AllowedHost::parse("Example.com:8443").unwrap();
        assert!(h.matches("example.com", Some(8443)));
        assert!(!h.matches("example.com", Some(443)));
        assert!(AllowedHost::parse("user@host").is_none());

        let any = AllowedOrigin::parse("http://[::1]:*").unwrap();
        assert!(any.matches(&Origin::parse("http://[::1]:3000").unwrap()));
        assert!(!any.matches(&Origin::parse("https://[::1]:3000").unwrap()));
        let exact = AllowedOrigin::parse("https://app.example:443").unwrap();
        assert!(exact.matches(&Origin::parse("https://app.example").unwrap()));
        assert!(!exact.matches(&Origin::parse("https://app.example:8443").unwrap()));
        assert!(!exact.matches(&Origin::Null));
        assert!(AllowedOrigin::parse("null").unwrap().matches(&Origin::Null));
    }
}
