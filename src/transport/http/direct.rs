//! Stateless `tools/call` without rmcp's per-request service.
//!
//! In stateless mode rmcp serves each request by building a one-shot transport, spawning a
//! service loop for it and passing the answer back over channels — about a tenth of a call's
//! CPU (issue 14). A `tools/call` that needs nothing of that machinery is answered here
//! instead, from the message the front end already parsed: same handler
//! ([`DirectCalls::call`] is the server's own tool path), same JSON-RPC answer, same status.
//!
//! In a session, rmcp hands each request to the session's worker task over channels and
//! answers over an SSE stream. A call that cannot touch the session's handler state (no log
//! level set, no delete the client would be asked to confirm; see `sessions.rs`) is answered
//! here too, as one JSON response, which the transport allows for any POSTed request.
//!
//! A `tools/list` without `_meta` is answered here too, in both modes, from the catalogue
//! encoded once ([`DirectCalls::tool_list`]): the same bytes rmcp would send. So is a plain
//! `initialize` that opens a session ([`opens_session`]): the handler negotiates it as rmcp's
//! handshake would, and the session starts without an rmcp worker (`sessions.rs`).
//!
//! "Needs nothing of it" is narrow on purpose ([`eligible`]); anything else goes to rmcp as
//! before: a protocol version from 2026-07-28 (per-request metadata, standard headers), any
//! `_meta` (a progress token needs a stream to notify on), an `Accept` rmcp would refuse, an
//! unknown tool (rmcp words that error), input responses or request state.
//! Cancellation is the same: a client that disconnects drops this future, and with it the
//! call and its Capsule request.

use std::{future::Future, pin::Pin};

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::Response,
};
use rmcp::{
    ErrorData as McpError,
    model::{
        CallToolRequestParams, CallToolResult, InitializeRequestParams, InitializeResult,
        ProtocolVersion, RequestId, ServerJsonRpcMessage, ServerResult,
    },
};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A server that can run a tool call on its own, outside rmcp's service.
pub trait DirectCalls: Send + Sync + 'static {
    /// Whether `tool` is one this server serves.
    fn knows(&self, tool: &str) -> bool;

    /// Whether `tool` asks the client before it acts, when the client can be asked (a
    /// delete): in a session whose client can, the call stays with rmcp, which holds the peer.
    fn asks(&self, tool: &str) -> bool;

    /// The `tools/list` result as JSON (the same for every client and session).
    fn tool_list(&self) -> String;

    /// The `initialize` result for a client that sent `params`, as the server's handler
    /// negotiates it; `Err` when it cannot agree to the version (rmcp then answers).
    fn initialize(&self, params: &InitializeRequestParams) -> Result<InitializeResult, McpError>;

    /// Runs the call as `tools/call` would in a stateless request: no peer, no progress.
    /// `parts` are the request's, with whatever the front end put into their extensions.
    fn call(
        &self,
        params: CallToolRequestParams,
        parts: Parts,
    ) -> BoxFuture<'_, Result<CallToolResult, McpError>>;
}

/// Whether a request of these headers can be answered without rmcp, with the same answer: one
/// JSON message to a client that accepts it, before the 2026-07-28 protocol.
pub(super) fn plain(headers: &HeaderMap) -> bool {
    accepts_json_and_sse(headers) && pre_2026_version(headers)
}

/// Whether this `initialize` (of a request without a session) can open a session without
/// rmcp: a plain request of a version before 2026-07-28, whose `MCP-Protocol-Version` header,
/// if any, names the version in its body, and without the standard headers rmcp would check.
pub(super) fn opens_session(headers: &HeaderMap, init: &InitializeRequestParams) -> bool {
    let version = init.protocol_version.as_str();
    plain(headers)
        && !headers.contains_key("mcp-session-id")
        && !headers.contains_key("mcp-method")
        && !headers.contains_key("mcp-name")
        && headers
            .get("mcp-protocol-version")
            .is_none_or(|v| v.as_bytes() == version.as_bytes())
        && ProtocolVersion::KNOWN_VERSIONS
            .iter()
            .any(|v| v.as_str() == version && *v < ProtocolVersion::V_2026_07_28)
}

/// Whether this stateless `tools/call` can be answered without rmcp, with the same answer.
pub(super) fn eligible(
    headers: &HeaderMap,
    call: &CallToolRequestParams,
    direct: &dyn DirectCalls,
) -> bool {
    plain(headers)
        && call.meta.as_ref().is_none_or(|m| m.0.0.is_empty())
        && call.input_responses.is_none()
        && call.request_state.is_none()
        && direct.knows(&call.name)
}

/// rmcp answers 406 unless the client accepts both (its test: exact media-type essences).
fn accepts_json_and_sse(headers: &HeaderMap) -> bool {
    let (mut json, mut sse) = (false, false);
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else {
            return false;
        };
        for item in value.split(',') {
            let essence = item.split(';').next().unwrap_or_default().trim();
            json |= essence.eq_ignore_ascii_case("application/json");
            sse |= essence.eq_ignore_ascii_case("text/event-stream");
        }
    }
    json && sse
}

/// One `MCP-Protocol-Version` header naming a known version before 2026-07-28, or none
/// (which rmcp reads as 2025-03-26).
fn pre_2026_version(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all("mcp-protocol-version").iter();
    let Some(first) = values.next() else {
        return true;
    };
    if values.next().is_some() {
        return false;
    }
    let Ok(version) = first.to_str() else {
        return false;
    };
    ProtocolVersion::KNOWN_VERSIONS
        .iter()
        .any(|v| v.as_str() == version && *v < ProtocolVersion::V_2026_07_28)
}

/// Answers a `tools/list` as rmcp's JSON mode does, from the catalogue encoded once: rmcp
/// would read every output schema into `serde_json` trees and encode them all again.
pub(super) fn answer_list(direct: &dyn DirectCalls, id: RequestId) -> Response {
    let result = direct.tool_list();
    let body = serde_json::to_string(&id)
        .map(|id| format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#));
    json_body(body.map(String::into_bytes))
}

/// Answers an `initialize` with the message rmcp's handshake sends, as one JSON response
/// (rmcp's is an SSE stream of that one message; clients take either).
pub(super) fn answer_initialize(id: RequestId, result: InitializeResult) -> Response {
    let message = ServerJsonRpcMessage::response(ServerResult::InitializeResult(result), id);
    json_body(serde_json::to_vec(&message))
}

fn json_body(body: Result<Vec<u8>, serde_json::Error>) -> Response {
    match body {
        Ok(body) => {
            let mut response = Response::new(Body::from(body));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(e) => {
            tracing::warn!(error = %e, "an answer could not be serialised");
            super::error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Internal error",
            )
        }
    }
}

/// Runs the call and answers as rmcp's stateless JSON mode does: 200, one JSON-RPC message.
pub(super) async fn answer(
    direct: &dyn DirectCalls,
    id: RequestId,
    call: CallToolRequestParams,
    parts: Parts,
) -> Response {
    let message = match direct.call(call, parts).await {
        Ok(result) => {
            // As rmcp's handler answers a peer before 2026-07-28: no `resultType`, no
            // non-object structured output.
            let mut result = ServerResult::CallToolResult(result);
            result.strip_result_type_for_legacy_peer();
            result.strip_non_object_output_for_legacy_peer();
            ServerJsonRpcMessage::response(result, id)
        }
        Err(error) => ServerJsonRpcMessage::error(error, Some(id)),
    };
    json_body(serde_json::to_vec(&message))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    struct Knows;
    impl DirectCalls for Knows {
        fn knows(&self, tool: &str) -> bool {
            tool == "t"
        }
        fn asks(&self, _: &str) -> bool {
            false
        }
        fn tool_list(&self) -> String {
            r#"{"tools":[]}"#.into()
        }
        fn initialize(&self, _: &InitializeRequestParams) -> Result<InitializeResult, McpError> {
            Err(McpError::internal_error("not here", None))
        }
        fn call(
            &self,
            _: CallToolRequestParams,
            _: Parts,
        ) -> BoxFuture<'_, Result<CallToolResult, McpError>> {
            Box::pin(async { Ok(CallToolResult::success(vec![])) })
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    const ACCEPT: (&str, &str) = ("accept", "application/json, text/event-stream");

    #[test]
    fn only_calls_rmcp_would_answer_the_same_way_are_taken() {
        let call = CallToolRequestParams::new("t");
        assert!(eligible(&headers(&[ACCEPT]), &call, &Knows));
        assert!(eligible(
            &headers(&[ACCEPT, ("mcp-protocol-version", "2025-11-25")]),
            &call,
            &Knows
        ));
        // Split Accept headers count together, as rmcp reads them.
        assert!(eligible(
            &headers(&[
                ("accept", "application/json"),
                ("accept", "text/event-stream")
            ]),
            &call,
            &Knows
        ));
        for refused in [
            headers(&[("accept", "application/json")]),
            headers(&[("accept", "*/*")]),
            headers(&[ACCEPT, ("mcp-protocol-version", "2026-07-28")]),
            headers(&[ACCEPT, ("mcp-protocol-version", "1999-01-01")]),
            headers(&[
                ACCEPT,
                ("mcp-protocol-version", "2025-06-18"),
                ("mcp-protocol-version", "2025-06-18"),
            ]),
        ] {
            assert!(!eligible(&refused, &call, &Knows), "{refused:?}");
        }
        assert!(!eligible(
            &headers(&[ACCEPT]),
            &CallToolRequestParams::new("other"),
            &Knows
        ));
        let mut with_meta = CallToolRequestParams::new("t");
        with_meta.meta = Some(rmcp::model::RequestMetaObject::with_progress_token(
            rmcp::model::ProgressToken(rmcp::model::NumberOrString::Number(1)),
        ));
        assert!(!eligible(&headers(&[ACCEPT]), &with_meta, &Knows));
    }
}
