//! The `/mcp` front end, between the guards and rmcp: bearer auth, the body read under a
//! size limit and a deadline, JSON-RPC screening of POST bodies, what it answers without rmcp
//! (a plain `initialize`, which opens a dormant session, and the calls and lists of
//! `direct.rs`), and the reshaping of rmcp's answers (see `responses.rs`).

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::Response,
};
use http_body::{Frame, SizeHint};
use rmcp::model::{InitializeRequestParams, RequestId};
use secrecy::SecretString;

use super::{
    guards::bearer_rejection,
    responses::{self, Exchange, closing, error_response, jsonrpc_error, message_response},
};
use crate::transport::jsonrpc::{self, INVALID_PARAMS, INVALID_REQUEST, Inbound, SERVER_ERROR};

/// Settings the front end needs.
pub(super) struct Front {
    pub token: Option<SecretString>,
    /// With `--oauth`: every request needs one of its access tokens.
    pub oauth: Option<Arc<crate::team::oauth::AuthServer>>,
    pub max_body_bytes: usize,
    pub body_read_timeout: Duration,
    pub max_sessions: usize,
    /// Answers eligible `tools/call`s without rmcp.
    pub direct: Option<Arc<dyn super::DirectCalls>>,
    pub stateless: bool,
    /// The session manager, with sessions.
    pub sessions: Option<Arc<super::sessions::Sessions>>,
}

/// Raised by the session manager while it serves one `/mcp` request.
#[derive(Default)]
pub(super) struct Signals {
    /// Every session has a request in flight: no session could be created.
    pub cap_hit: AtomicBool,
    /// The request reuses an id still in flight in its session.
    pub duplicate_id: AtomicBool,
}

tokio::task_local! {
    /// Set for the duration of one `/mcp` request, so the session manager can tell the
    /// middleware why it refused (rmcp turns any session error into a 500).
    pub(super) static SIGNALS: Arc<Signals>;
}

enum BodyError {
    TooLarge,
    TooSlow,
    Broken,
}

/// Reads the whole request body: at most `limit` bytes, within `deadline`.
async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    deadline: Duration,
) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let tripped = Arc::new(AtomicBool::new(false));
    let limited = Body::new(LimitedBody {
        inner: body,
        remaining: limit,
        tripped: tripped.clone(),
    });
    match tokio::time::timeout(deadline, axum::body::to_bytes(limited, usize::MAX)).await {
        Err(_) => Err(BodyError::TooSlow),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) if tripped.load(Ordering::Relaxed) => Err(BodyError::TooLarge),
        Ok(Err(_)) => Err(BodyError::Broken),
    }
}

fn too_large(limit: usize) -> Response {
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("request body exceeds {limit} bytes"),
    )
}

/// Whether rmcp will parse this POST's body as JSON-RPC (it answers 415 otherwise).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|e| e.trim().eq_ignore_ascii_case("application/json"))
        })
}

fn header_version(headers: &HeaderMap) -> Option<String> {
    headers
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
}

/// `/mcp` only: bearer auth, body limits, screening, and the answer reshaped.
pub(super) async fn mcp_front(
    State(front): State<Arc<Front>>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(expected) = &front.token
        && let Some(response) = bearer_rejection(req.headers(), expected)
    {
        return response;
    }
    if let Some(auth) = &front.oauth {
        match crate::team::oauth::bearer::person_for(auth, req.headers()).await {
            // rmcp hands the request's parts to the handler, which acts as this person.
            Ok(person) => {
                req.extensions_mut().insert(person);
            }
            Err(response) => return response,
        }
    }
    let (parts, body) = req.into_parts();
    let bytes = match read_body(
        &parts.headers,
        body,
        front.max_body_bytes,
        front.body_read_timeout,
    )
    .await
    {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge) => {
            tracing::warn!(
                limit = front.max_body_bytes,
                "rejected request: body above the limit"
            );
            return closing(too_large(front.max_body_bytes));
        }
        Err(BodyError::TooSlow) => {
            tracing::warn!(
                timeout = ?front.body_read_timeout,
                "closing a connection whose request body did not arrive in time"
            );
            return closing(error_response(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!(
                    "the request body did not arrive within {} s",
                    front.body_read_timeout.as_secs_f32()
                ),
            ));
        }
        Err(BodyError::Broken) => {
            return closing(error_response(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the request body could not be read",
            ));
        }
    };

    // An `initialize` (and whether its client can answer elicitations), once screened.
    let mut initialize = None;
    let mut exchange = Exchange {
        method: parts.method.clone(),
        id: None,
        version: header_version(&parts.headers),
    };
    if parts.method == Method::POST && is_json(&parts.headers) {
        let screened = jsonrpc::screen(&bytes);
        if let (
            Ok(Inbound::Request {
                id,
                initialize: Some(init),
                ..
            }),
            Some(direct),
            Some(sessions),
        ) = (&screened, &front.direct, &front.sessions)
            && super::direct::opens_session(&parts.headers, init)
            && let Some(response) = open_session(&front, &**direct, sessions, id, init).await
        {
            return response;
        }
        let route = match (&screened, &front.direct) {
            (
                Ok(Inbound::Request {
                    id,
                    call: Some(call),
                    ..
                }),
                Some(direct),
            ) if super::direct::eligible(&parts.headers, call, &**direct) => {
                route(&front, &parts.headers, id, direct.asks(&call.name)).await
            }
            (
                Ok(Inbound::Request {
                    id,
                    list_tools: true,
                    ..
                }),
                Some(_),
            ) if super::direct::plain(&parts.headers) => {
                route(&front, &parts.headers, id, false).await
            }
            _ => Route::Rmcp,
        };
        let screened = match (route, screened, &front.direct) {
            (Route::Direct(booked), Ok(Inbound::Request { id, call, .. }), Some(direct)) => {
                let answer = match call {
                    Some(call) => super::direct::answer(&**direct, id, *call, parts).await,
                    None => super::direct::answer_list(&**direct, id),
                };
                drop(booked);
                return answer;
            }
            (Route::Duplicate, Ok(Inbound::Request { id, .. }), _) => {
                return duplicate_id(Some(&id));
            }
            (_, screened, _) => screened,
        };
        match screened {
            Ok(Inbound::Request {
                id,
                method,
                initialize: init,
                ..
            }) => {
                exchange.id = Some(id);
                if let Some(init) = init {
                    exchange.version = Some(init.protocol_version.as_str().to_owned());
                    initialize = Some(init);
                }
                if method == "logging/setLevel"
                    && let (Some(sessions), Some(sid)) = (
                        &front.sessions,
                        parts
                            .headers
                            .get("mcp-session-id")
                            .and_then(|v| v.to_str().ok()),
                    )
                {
                    // Before rmcp sets it: from now on this session's calls notify logs.
                    sessions.record_log_level(sid);
                }
            }
            Ok(_) => {}
            Err(rejection) => {
                tracing::debug!(code = rejection.code, "answered a POST without rmcp");
                let status = if rejection.code == INVALID_PARAMS {
                    StatusCode::OK
                } else {
                    StatusCode::BAD_REQUEST
                };
                return message_response(status, &rejection.to_value());
            }
        }
    }

    let req = Request::from_parts(parts, Body::from(bytes));
    let signals = Arc::new(Signals::default());
    let response = SIGNALS.scope(signals.clone(), next.run(req)).await;
    if let (Some(init), Some(sessions)) = (initialize, &front.sessions)
        && let Some(sid) = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
    {
        sessions.record_initialize(sid, &init);
    }

    if signals.duplicate_id.load(Ordering::Relaxed) {
        return duplicate_id(exchange.id.as_ref());
    }
    if signals.cap_hit.load(Ordering::Relaxed) {
        return session_limit(front.max_sessions, exchange.id.as_ref());
    }
    responses::reshape(response, &exchange).await
}

/// 503: every session has a request in flight, so none can make room for a new one.
fn session_limit(max_sessions: usize, id: Option<&RequestId>) -> Response {
    let mut response = jsonrpc_error(
        StatusCode::SERVICE_UNAVAILABLE,
        id,
        SERVER_ERROR,
        "session_limit_reached",
        &format!(
            "the server already has its maximum of {max_sessions} live sessions, each with a \
             request in flight; retry later"
        ),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
    response
}

/// Answers a plain `initialize` and opens a dormant session for it (see `sessions.rs`);
/// `None` leaves it to rmcp, which words a version it cannot agree to.
async fn open_session(
    front: &Front,
    direct: &dyn super::DirectCalls,
    sessions: &super::sessions::Sessions,
    id: &RequestId,
    init: &InitializeRequestParams,
) -> Option<Response> {
    let result = direct.initialize(init).ok()?;
    let Ok(sid) = sessions.open(init.clone()).await else {
        return Some(session_limit(front.max_sessions, Some(id)));
    };
    let mut response = super::direct::answer_initialize(id.clone(), result);
    match HeaderValue::from_str(&sid) {
        Ok(value) => {
            response.headers_mut().insert("mcp-session-id", value);
        }
        Err(_) => {
            use rmcp::transport::streamable_http_server::SessionManager as _;
            let _ = sessions.close_session(&sid).await;
            return None;
        }
    }
    Some(response)
}

/// Where an eligible `tools/call` or `tools/list` goes.
enum Route {
    /// Run it here; in a session, booked in flight until this drops.
    Direct(Option<super::sessions::InFlightGuard>),
    /// Its id is in flight in its session.
    Duplicate,
    Rmcp,
}

async fn route(front: &Front, headers: &HeaderMap, id: &RequestId, asks: bool) -> Route {
    let session = headers.get("mcp-session-id").and_then(|v| v.to_str().ok());
    match (session, &front.sessions) {
        (None, _) if front.stateless => Route::Direct(None),
        (Some(sid), Some(sessions)) => match sessions.begin_direct(sid, id, asks) {
            super::sessions::Begin::Go(booked) => Route::Direct(Some(booked)),
            super::sessions::Begin::Duplicate => Route::Duplicate,
            super::sessions::Begin::Rmcp => Route::Rmcp,
        },
        _ => Route::Rmcp,
    }
}

fn duplicate_id(id: Option<&RequestId>) -> Response {
    let shown = id.map_or_else(String::new, RequestId::to_string);
    jsonrpc_error(
        StatusCode::BAD_REQUEST,
        id,
        INVALID_REQUEST,
        "duplicate_request_id",
        &format!(
            "Invalid Request: request id {shown} is already in flight in this session; \
             use a new id for each request"
        ),
    )
}

/// A request body that fails once more than `remaining` bytes have streamed through, and
/// records that it did so the middleware can answer 413.
pub(super) struct LimitedBody {
    pub inner: Body,
    pub remaining: usize,
    pub tripped: Arc<AtomicBool>,
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
