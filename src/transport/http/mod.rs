//! Streamable HTTP transport, safe by default.
//!
//! MCP is served at `/mcp` by rmcp's [`StreamableHttpService`]; `GET /healthz` answers load
//! balancers; every other path is 404. Every error answer carries a JSON-RPC error body.
//! Around rmcp sit, outermost first:
//!
//! 1. **Connections** (`conn.rs`): a connection must make progress from its first byte — with
//!    no request in flight it is closed after [`HttpOptions::header_read_timeout`], on
//!    HTTP/1.1 and h2c alike; at [`HttpOptions::max_connections`] the longest-idle
//!    connection makes room for a new one.
//! 2. **Host / Origin guard** (`guards.rs`, all paths): every `Host` header and the request
//!    target's authority must agree, carry no userinfo and be in
//!    [`HttpOptions::allowed_hosts`]; an `Origin` must be in [`HttpOptions::allowed_origins`].
//!    Otherwise 403 before anything else runs (DNS-rebinding and cross-site protection).
//! 3. **Front end** (`front.rs`, `/mcp`): bearer auth when [`HttpOptions::auth_token`] is set
//!    (constant-time, 401 with `WWW-Authenticate: Bearer realm="capsule-mcp"`); the body read
//!    whole under [`HttpOptions::max_body_bytes`] (413) and [`HttpOptions::body_read_timeout`]
//!    (408, connection closed); POST bodies screened as JSON-RPC (400 `-32700` / `-32600`,
//!    `-32602` for bad params) before rmcp sees them; rmcp's answers reshaped for real
//!    clients (`responses.rs`): JSON-RPC error bodies, 204 for DELETE, `-32601` naming the
//!    method, the SSE priming event only for protocol versions from 2025-11-25.
//! 4. **Sessions** (`sessions.rs`): kept by the front end, with rmcp's [`LocalSessionManager`]
//!    worker started only while a request needs it; a cap that evicts the longest-idle
//!    session, and one request in flight per JSON-RPC id in a session.
//!
//! Nothing here logs `Authorization` headers or request/response bodies.

mod conn;
mod direct;
mod front;
mod guards;
mod responses;
mod sessions;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use axum::{
    Json, Router,
    http::StatusCode,
    middleware,
    response::{IntoResponse, Response},
    routing::get,
};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use direct::{BoxFuture, DirectCalls};
pub(crate) use responses::error_response;

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
    /// The team server's OAuth authorization server (`--oauth`): its routes are served, and
    /// every `/mcp` request needs one of its access tokens and runs as that token's person.
    /// Excludes `auth_token`; allows a non-loopback address.
    pub oauth: Option<Arc<crate::team::oauth::AuthServer>>,
    /// Largest accepted request body in bytes; larger ones get 413. Default 1 MiB.
    pub max_body_bytes: usize,
    /// A session without any traffic for this long is closed (the client then gets 404 and
    /// re-initializes). Default 30 minutes.
    pub session_idle_timeout: Duration,
    /// Most live sessions at once; one more `initialize` closes the session idle the longest
    /// (503 only when every session has a request in flight). Default 100.
    pub max_sessions: usize,
    /// No sessions at all: every request is served on its own and answered with JSON where
    /// possible. Suits load balancers; a client disconnect cancels the running call.
    /// Default `false` (stateful sessions for pre-2026-07-28 clients).
    pub stateless: bool,
    /// Longest a connection may go without a request in flight before it is closed: from
    /// accept to the first request's complete headers (HTTP/2 preface included), and between
    /// requests (slowloris, idle keep-alive). Default 10 s.
    pub header_read_timeout: Duration,
    /// Longest a request body may take to arrive once its headers have; slower requests get
    /// 408 and their connection is closed. Default 30 s.
    pub body_read_timeout: Duration,
    /// Most open connections at once; at the cap a new connection closes the one idle the
    /// longest, or is closed itself when all are busy. Default 512.
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
            oauth: None,
            max_body_bytes: 1024 * 1024,
            session_idle_timeout: Duration::from_secs(30 * 60),
            max_sessions: 100,
            stateless: false,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 512,
        }
    }
}

impl HttpOptions {
    /// Refuses settings that are unsafe or cannot work: a non-loopback listen address without
    /// an auth token, an empty or unparsable host list, unparsable origins, an empty token,
    /// zero limits. The message says what to set.
    pub fn validate(&self) -> Result<(), String> {
        if self.oauth.is_some() && self.auth_token.is_some() {
            return Err(
                "--oauth and CAPSULE_MCP_AUTH_TOKEN are two ways to authenticate /mcp: with \
                 --oauth every person signs in with OAuth, so unset CAPSULE_MCP_AUTH_TOKEN"
                    .into(),
            );
        }
        match &self.auth_token {
            None if self.oauth.is_some() => {}
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
            .find(|h| guards::AllowedHost::parse(h).is_none())
        {
            return Err(format!(
                "allowed host {bad:?} is not a host name, IP address or host:port"
            ));
        }
        if let Some(bad) = self
            .allowed_origins
            .iter()
            .find(|o| guards::AllowedOrigin::parse(o).is_none())
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
        if self.body_read_timeout.is_zero() {
            return Err("the body read timeout must be above zero".into());
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
    /// streams and sessions, and waits (up to 10 s) for in-flight responses to finish.
    pub async fn serve(self) -> anyhow::Result<()> {
        use hyper_util::{
            rt::{TokioExecutor, TokioIo, TokioTimer},
            server::conn::auto,
            service::TowerToHyperService,
        };
        let registry = Arc::new(conn::Registry::new(self.max_connections));
        let idle_timeout = self.header_read_timeout;
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(Duration::from_secs(20)))
            .keep_alive_timeout(Duration::from_secs(20));
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
            // Answers go out as several small writes (SSE events, chunk ends): with Nagle's
            // algorithm each one after the first waits for the client's delayed ACK (~40 ms).
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
            }
            let Some(admitted) = registry.admit() else {
                tracing::warn!(%peer, "connection limit reached and every connection is busy; closing a new connection");
                drop(stream);
                continue;
            };
            let state = admitted.state.subscribe();
            let service = TowerToHyperService::new(conn::Tracked {
                app: self.app.clone(),
                state: Arc::new(admitted.state),
            });
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            let registry = registry.clone();
            let shutdown = self.shutdown.clone();
            let kill = admitted.kill;
            let id = admitted.id;
            tokio::spawn(async move {
                let mut connection = std::pin::pin!(connection);
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                    }
                    _ = conn::idle_expired(state, idle_timeout) => {
                        tracing::debug!(%peer, "closing a connection without a request in flight for the header read timeout");
                    }
                    _ = kill.cancelled() => {
                        tracing::debug!(%peer, "closed an idle connection to make room for a new one");
                    }
                    _ = shutdown.cancelled() => {
                        connection.as_mut().graceful_shutdown();
                        let _ = tokio::time::timeout(Duration::from_secs(10), connection).await;
                    }
                }
                registry.remove(id);
            });
        }
        // Open SSE streams end with the sessions (rmcp holds a child of the same token).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while registry.len() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if registry.len() > 0 {
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
    bind_with(factory, None, opts, shutdown).await
}

/// [`bind`], and the `tools/call`s [`direct::eligible`] allows are answered by `direct`
/// without rmcp's per-request service (stateless) or session worker (sessions whose handler
/// state the call cannot touch): the same answer, less work.
pub async fn bind_with<S, F>(
    factory: F,
    direct: Option<Arc<dyn DirectCalls>>,
    opts: HttpOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<BoundHttp>
where
    S: rmcp::ServerHandler + Send + 'static,
    F: Fn() -> S + Send + Sync + 'static,
{
    opts.validate().map_err(anyhow::Error::msg)?;
    let guard = Arc::new(guards::Guard::new(&opts)?);
    let mut local = LocalSessionManager::default();
    // Direct calls bypass a session's rmcp worker, whose keep-alive would then close sessions
    // in use: idle sessions are reaped by the wrapper instead.
    let wrapper_reaps = direct.is_some() && !opts.stateless;
    local.session_config.keep_alive = (!wrapper_reaps).then_some(opts.session_idle_timeout);
    let factory = Arc::new(factory);
    let sessions = Arc::new(sessions::Sessions::new(
        local,
        start_worker(factory.clone(), shutdown.child_token()),
        opts.max_sessions,
    ));
    if wrapper_reaps {
        sessions.spawn_reaper(opts.session_idle_timeout, shutdown.child_token());
    }
    let front = Arc::new(front::Front {
        token: opts.auth_token.clone(),
        oauth: opts.oauth.clone(),
        max_body_bytes: opts.max_body_bytes,
        body_read_timeout: opts.body_read_timeout,
        max_sessions: opts.max_sessions,
        stateless: opts.stateless,
        sessions: (!opts.stateless).then(|| sessions.clone()),
        direct,
    });

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
    let service = StreamableHttpService::new(move || Ok(factory()), sessions, config);

    let mut app = Router::new()
        .route_service("/mcp", service)
        .route_layer(middleware::from_fn_with_state(front, front::mcp_front))
        .route("/healthz", get(healthz).fallback(method_not_allowed));
    if let Some(auth) = &opts.oauth {
        app = app.merge(oauth_routes(auth.clone()));
    }
    let app = app
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            guard,
            guards::check_host_and_origin,
        ));

    let listener = TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback()
        && opts
            .allowed_hosts
            .iter()
            .filter_map(|h| guards::AllowedHost::parse(h))
            .all(|h| guards::is_loopback_name(&h.host))
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
        oauth = opts.oauth.is_some(),
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

/// Starts a woken session's service: a new handler from `factory`, served on the worker's
/// transport until the session stops or `shutdown`.
fn start_worker<S, F>(factory: Arc<F>, shutdown: CancellationToken) -> sessions::Start
where
    S: rmcp::ServerHandler + Send + 'static,
    F: Fn() -> S + Send + Sync + 'static,
{
    Box::new(move |transport| {
        let service = factory();
        let ct = shutdown.child_token();
        let (started, heard) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            match rmcp::service::serve_server_with_ct::<
                S,
                _,
                _,
                rmcp::transport::TransportAdapterIdentity,
            >(service, transport, ct)
            .await
            {
                Ok(running) => {
                    let _ = started.send(());
                    let _ = running.waiting().await;
                }
                Err(e) => tracing::warn!(error = %e, "a session's rmcp worker did not start"),
            }
        });
        heard
    })
}

/// The authorization server's endpoints (`--oauth` only): discovery, registration,
/// authorization with consent, Capsule's callback, tokens and revocation.
fn oauth_routes(auth: Arc<crate::team::oauth::AuthServer>) -> Router {
    use axum::routing::post;

    use crate::team::oauth::{authorize, callback, clients, metadata, revoke, token};
    Router::new()
        .route(
            "/.well-known/oauth-protected-resource",
            get(metadata::protected_resource_handler),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(metadata::protected_resource_handler),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(metadata::authorization_server_handler),
        )
        .route(
            "/.well-known/openid-configuration",
            get(metadata::authorization_server_handler),
        )
        .route("/register", post(clients::register))
        .route("/authorize", get(authorize::authorize))
        .route("/authorize/decision", post(authorize::decision))
        .route("/oauth/callback", get(callback::callback))
        .route("/token", post(token::token))
        .route("/revoke", post(revoke::revoke))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(auth)
}

/// `GET /healthz`: the process is up and serving HTTP. No bearer needed; the Host check
/// still applies.
async fn healthz() -> Response {
    Json(serde_json::json!({ "status": "ok" })).into_response()
}

async fn method_not_allowed() -> Response {
    let mut response = error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "use GET",
    );
    response.headers_mut().insert(
        axum::http::header::ALLOW,
        axum::http::HeaderValue::from_static("GET, HEAD"),
    );
    response
}

async fn not_found() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "not_found",
        "nothing here; MCP is served at /mcp",
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
