//! What `/mcp` answers, shaped for real clients: every error carries a JSON-RPC error body,
//! a DELETEd session answers 204, `-32601` names the method, and the SSE priming event goes
//! only to clients whose protocol version expects it.

use std::{
    collections::VecDeque,
    pin::Pin,
    task::{Context, Poll},
};

use axum::{
    Json,
    body::{Body, Bytes},
    http::{HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use http_body::{Frame, SizeHint};
use rmcp::model::RequestId;
use serde_json::{Value, json};

use crate::transport::jsonrpc::{
    self, INTERNAL_ERROR, INVALID_REQUEST, SERVER_ERROR, SESSION_NOT_FOUND,
};

/// The first revision whose clients expect the SSE priming event (an event with an `id`, a
/// `retry` and empty `data`). Older clients (the TypeScript SDK on 2025-06-18) try to parse
/// the empty data as JSON and fail.
const PRIMING_SINCE: &str = "2025-11-25";

/// Largest error body from rmcp that is read to become a JSON-RPC message.
const MAX_ERROR_TEXT: usize = 8 * 1024;
/// Largest JSON body from rmcp that is read to be rewritten; errors are far smaller, and
/// larger (result) bodies pass through untouched.
const MAX_JSON_REWRITE: usize = 64 * 1024;

/// The JSON-RPC error code for an HTTP error status.
fn code_for(status: StatusCode) -> i64 {
    match status {
        StatusCode::BAD_REQUEST
        | StatusCode::PAYLOAD_TOO_LARGE
        | StatusCode::UNSUPPORTED_MEDIA_TYPE => INVALID_REQUEST,
        s if s.is_server_error() && s != StatusCode::SERVICE_UNAVAILABLE => INTERNAL_ERROR,
        _ => SERVER_ERROR,
    }
}

/// An error answer with a JSON-RPC error body. `reason` is a stable machine-readable word,
/// kept in `error.data.reason`.
pub(crate) fn jsonrpc_error(
    status: StatusCode,
    id: Option<&RequestId>,
    code: i64,
    reason: &str,
    message: &str,
) -> Response {
    let body = jsonrpc::error_message(id, code, message, Some(json!({ "reason": reason })));
    (status, Json(body)).into_response()
}

/// An error answer for a request whose id is not known (or not read): `id: null`.
pub(crate) fn error_response(
    status: StatusCode,
    reason: &str,
    message: impl AsRef<str>,
) -> Response {
    jsonrpc_error(status, None, code_for(status), reason, message.as_ref())
}

/// A JSON-RPC message answered with HTTP 200 or an error status, as `application/json`.
pub(crate) fn message_response(status: StatusCode, message: &Value) -> Response {
    (status, Json(message.clone())).into_response()
}

fn reason_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_ACCEPTABLE => "not_acceptable",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        _ if status.is_server_error() => "internal_error",
        _ => "error",
    }
}

/// What the front end knows about the request a response answers.
#[derive(Debug, Clone)]
pub(super) struct Exchange {
    pub method: Method,
    /// The JSON-RPC id of a POSTed request.
    pub id: Option<RequestId>,
    /// The protocol version the client speaks: the `initialize` body's, else the
    /// `MCP-Protocol-Version` header's (absent = 2025-03-26).
    pub version: Option<String>,
}

impl Exchange {
    fn wants_priming(&self) -> bool {
        self.version.as_deref().is_some_and(|v| {
            let dated = v.len() == 10
                && v.bytes().enumerate().all(|(i, b)| {
                    if i == 4 || i == 7 {
                        b == b'-'
                    } else {
                        b.is_ascii_digit()
                    }
                });
            dated && v >= PRIMING_SINCE
        })
    }
}

fn content_type(response: &Response) -> String {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Turns rmcp's answer into what clients need (see the module docs).
pub(super) async fn reshape(response: Response, exchange: &Exchange) -> Response {
    let status = response.status();
    if exchange.method == Method::DELETE && status == StatusCode::ACCEPTED {
        let (mut parts, _) = response.into_parts();
        parts.status = StatusCode::NO_CONTENT;
        parts.headers.remove(header::CONTENT_TYPE);
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    }
    let ct = content_type(&response);
    if (status.is_client_error() || status.is_server_error()) && !ct.starts_with("application/json")
    {
        let (parts, body) = response.into_parts();
        let text = axum::body::to_bytes(body, MAX_ERROR_TEXT)
            .await
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
            .unwrap_or_default();
        let message = if status.is_server_error() {
            tracing::warn!(%status, detail = %text, "MCP request failed inside rmcp");
            "Internal error".to_owned()
        } else if text.is_empty() {
            status.canonical_reason().unwrap_or("error").to_owned()
        } else {
            text
        };
        let code = if status == StatusCode::NOT_FOUND && message.contains("Session not found") {
            SESSION_NOT_FOUND
        } else {
            code_for(status)
        };
        let mut answer = jsonrpc_error(
            status,
            exchange.id.as_ref(),
            code,
            reason_for(status),
            &message,
        );
        for name in [header::ALLOW, header::WWW_AUTHENTICATE, header::RETRY_AFTER] {
            if let Some(v) = parts.headers.get(&name) {
                answer.headers_mut().insert(name, v.clone());
            }
        }
        return answer;
    }
    // rmcp's JSON answers are whole in memory; only small ones can be a -32601 to fix.
    let small = http_body::Body::size_hint(response.body())
        .exact()
        .is_some_and(|n| n <= MAX_JSON_REWRITE as u64);
    if ct.starts_with("application/json") && small {
        let (mut parts, body) = response.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_JSON_REWRITE).await else {
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Internal error",
            );
        };
        let bytes = match fixed(&bytes) {
            Some(message) => {
                parts.headers.remove(header::CONTENT_LENGTH);
                Bytes::from(message.to_string())
            }
            None => bytes,
        };
        return Response::from_parts(parts, Body::from(bytes));
    }
    if ct.starts_with("text/event-stream") {
        let drop_priming = !exchange.wants_priming();
        return response.map(|body| {
            Body::new(SseRewrite {
                inner: body,
                pending: Vec::new(),
                ready: VecDeque::new(),
                drop_priming,
                ended: false,
            })
        });
    }
    response
}

/// The message with [`jsonrpc::fix_outgoing`] applied, when that changed it. Only a message
/// mentioning `-32601` can change, so nothing else is parsed (results pass through as bytes).
fn fixed(bytes: &[u8]) -> Option<Value> {
    if !bytes.windows(6).any(|w| w == b"-32601") {
        return None;
    }
    let mut message = serde_json::from_slice::<Value>(bytes).ok()?;
    jsonrpc::fix_outgoing(&mut message).then_some(message)
}

/// An SSE body passed through event by event: priming events dropped for clients that do
/// not expect them, `-32601` errors fixed. rmcp writes one event per frame, so nothing is
/// held back in practice; a split event waits for its end.
struct SseRewrite {
    inner: Body,
    pending: Vec<u8>,
    ready: VecDeque<Bytes>,
    drop_priming: bool,
    ended: bool,
}

impl SseRewrite {
    fn take_events(&mut self) {
        while let Some(end) = find(&self.pending, b"\n\n") {
            let event: Vec<u8> = self.pending.drain(..end + 2).collect();
            if let Some(out) = rewrite_event(&event, self.drop_priming) {
                self.ready.push_back(out);
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Whether a frame of whole events goes out untouched (the common case: rmcp writes one
/// event per frame): no `-32601` to fix, and no priming event to drop (an empty `data` line
/// only ever belongs to one; JSON messages are one line).
fn passes_as_is(frame: &[u8], drop_priming: bool) -> bool {
    frame.ends_with(b"\n\n")
        && find(frame, b"-32601").is_none()
        && !(drop_priming
            && (frame.starts_with(b"data:\n")
                || frame.starts_with(b"data: \n")
                || find(frame, b"\ndata:\n").is_some()
                || find(frame, b"\ndata: \n").is_some()))
}

/// One SSE event (with its blank-line terminator): `None` to drop it.
fn rewrite_event(event: &[u8], drop_priming: bool) -> Option<Bytes> {
    let Ok(text) = std::str::from_utf8(event) else {
        return Some(Bytes::copy_from_slice(event));
    };
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d))
        .collect();
    if drop_priming && !data.is_empty() && data.iter().all(|d| d.is_empty()) {
        return None;
    }
    if !text.contains("-32601") {
        return Some(Bytes::copy_from_slice(event));
    }
    let mut out = String::with_capacity(text.len() + 32);
    for line in text.lines() {
        match line.strip_prefix("data:") {
            Some(d) => {
                let d = d.strip_prefix(' ').unwrap_or(d);
                match fixed(d.as_bytes()) {
                    Some(message) => {
                        out.push_str("data: ");
                        out.push_str(&message.to_string());
                    }
                    None => out.push_str(line),
                }
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out.push('\n');
    Some(Bytes::from(out))
}

impl http_body::Body for SseRewrite {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        loop {
            if let Some(bytes) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(bytes))));
            }
            if this.ended {
                if this.pending.is_empty() {
                    return Poll::Ready(None);
                }
                let rest = std::mem::take(&mut this.pending);
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from(rest)))));
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => this.ended = true,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data)
                        if this.pending.is_empty() && passes_as_is(&data, this.drop_priming) =>
                    {
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    Ok(data) => {
                        this.pending.extend_from_slice(&data);
                        this.take_events();
                    }
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended && self.ready.is_empty() && self.pending.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// `Connection: close` on an answer after which the connection must not be reused.
pub(super) fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn exchange(version: Option<&str>) -> Exchange {
        Exchange {
            method: Method::POST,
            id: None,
            version: version.map(str::to_owned),
        }
    }

    #[test]
    fn priming_only_from_2025_11_25_on() {
        assert!(!exchange(None).wants_priming());
        assert!(!exchange(Some("2025-06-18")).wants_priming());
        assert!(!exchange(Some("2025-03-26")).wants_priming());
        assert!(exchange(Some("2025-11-25")).wants_priming());
        assert!(exchange(Some("2026-07-28")).wants_priming());
        assert!(!exchange(Some("zzzz")).wants_priming());
    }

    #[test]
    fn only_frames_of_whole_plain_events_pass_untouched() {
        let message = b"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\nid: 1/0\n\n";
        assert!(passes_as_is(message, true));
        assert!(!passes_as_is(&message[..message.len() - 1], false), "split");
        let error = b"data: {\"id\":1,\"error\":{\"code\":-32601}}\n\n";
        assert!(!passes_as_is(error, false));
        let priming = b"data: \nid: 0/0\nretry: 3000\n\n";
        assert!(!passes_as_is(priming, true));
        assert!(passes_as_is(priming, false));
        let both = [&message[..], &b"id: 0/0\ndata:\n\n"[..]].concat();
        assert!(!passes_as_is(&both, true));
        assert!(passes_as_is(b":\n\n", true), "keep-alives");
    }

    #[tokio::test]
    async fn sse_events_are_filtered_and_fixed_across_frames() {
        let frames = [
            "data: \nid: 0/0\nretry: 3000\n\n",
            ":\n\n",
            "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32601,\"message\":\"x/y\"}}\nid: 1/0",
            "\n\n",
        ];
        for drop_priming in [true, false] {
            let stream = futures_util::stream::iter(
                frames.map(|f| Ok::<_, std::io::Error>(Bytes::from_static(f.as_bytes()))),
            );
            let body = SseRewrite {
                inner: Body::from_stream(stream),
                pending: Vec::new(),
                ready: VecDeque::new(),
                drop_priming,
                ended: false,
            };
            let text = String::from_utf8(
                axum::body::to_bytes(Body::new(body), usize::MAX)
                    .await
                    .unwrap()
                    .to_vec(),
            )
            .unwrap();
            assert_eq!(text.contains("retry: 3000"), !drop_priming, "{text}");
            assert!(text.contains(":\n\n"), "keep-alives pass: {text}");
            assert!(text.contains("Method not found: x/y"), "{text}");
            assert!(text.contains("id: 1/0\n\n"), "{text}");
        }
    }

    #[tokio::test]
    async fn rmcp_text_errors_become_json_rpc_errors() {
        let rmcp = Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::from("Not Found: Session not found"))
            .unwrap();
        let ex = Exchange {
            method: Method::POST,
            id: Some(RequestId::Number(4)),
            version: None,
        };
        let resp = reshape(rmcp, &ex).await;
        assert_eq!(resp.status(), 404);
        let v: Value =
            serde_json::from_slice(&axum::body::to_bytes(resp.into_body(), 4096).await.unwrap())
                .unwrap();
        assert_eq!(v["id"], 4);
        assert_eq!(v["error"]["code"], SESSION_NOT_FOUND);
        assert_eq!(v["error"]["message"], "Not Found: Session not found");

        let deleted = Response::builder()
            .status(StatusCode::ACCEPTED)
            .body(Body::empty())
            .unwrap();
        let ex = Exchange {
            method: Method::DELETE,
            id: None,
            version: None,
        };
        assert_eq!(reshape(deleted, &ex).await.status(), StatusCode::NO_CONTENT);
    }
}
