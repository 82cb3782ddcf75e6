//! JSON-RPC screening shared by the stdio and HTTP front ends.
//!
//! rmcp drops a message it cannot parse without a word (the client then waits forever) and
//! answers a known method with bad `params` as an unknown method. Every inbound message is
//! screened here first: what rmcp would mishandle is answered with the JSON-RPC error the
//! spec asks for (`-32700` parse error, `-32600` invalid request, `-32602` invalid params);
//! the rest is handed to rmcp untouched. Outbound, [`fix_outgoing`] makes rmcp's `-32601`
//! name the method.

#[allow(deprecated)] // logging/setLevel and resources/(un)subscribe are still legacy methods
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CancelTaskRequest, ClientJsonRpcMessage,
    ClientNotification, ClientRequest, CompleteRequest, DiscoverRequest, GetPromptRequest,
    GetSkillRequest, GetTaskRequest, InitializeRequest, InitializeRequestParams, JsonRpcRequest,
    ListPromptsRequest, ListResourceTemplatesRequest, ListResourcesRequest, ListSkillsRequest,
    ListToolsRequest, PaginatedRequestParams, PingRequest, ReadResourceRequest, RequestId,
    RequestMetaObject, SetLevelRequest, SubscribeRequest, UnsubscribeRequest, UpdateTaskRequest,
};
use serde::{Deserialize as _, de::DeserializeOwned};
use serde_json::{Value, json};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// Implementation-defined server error (JSON-RPC reserves -32000..-32099).
pub const SERVER_ERROR: i64 = -32000;
/// The session named in `Mcp-Session-Id` does not exist (as the TypeScript SDK answers).
pub const SESSION_NOT_FOUND: i64 = -32001;

/// What a screened message is, when it may go on to rmcp.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// A request: it will be answered under `id`.
    Request {
        id: RequestId,
        method: String,
        /// An `initialize`'s params: the version it asks for, what the client can do.
        initialize: Option<Box<InitializeRequestParams>>,
        /// A `tools/call`'s params, parsed, so a stateless server can run it without parsing
        /// the body again.
        call: Option<Box<CallToolRequestParams>>,
        /// A `tools/list` without `_meta`: its answer is the catalogue whatever the cursor.
        list_tools: bool,
    },
    /// A notification; `cancelled` is the request a `notifications/cancelled` gives up.
    Notification { cancelled: Option<RequestId> },
    /// A response or error answering a request the server sent.
    Response,
}

/// A message answered by the front end instead of rmcp.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub id: Option<RequestId>,
    pub code: i64,
    pub message: String,
}

impl Rejection {
    pub fn new(id: Option<RequestId>, code: i64, message: impl Into<String>) -> Self {
        Self {
            id,
            code,
            message: message.into(),
        }
    }

    /// The JSON-RPC error message for this rejection.
    pub fn to_value(&self) -> Value {
        error_message(self.id.as_ref(), self.code, &self.message, None)
    }
}

/// `{"jsonrpc":"2.0","id":…,"error":{"code":…,"message":…[,"data":…]}}`; `id: null` when the
/// request's id is unknown.
pub fn error_message(
    id: Option<&RequestId>,
    code: i64,
    message: &str,
    data: Option<Value>,
) -> Value {
    let mut error = json!({ "code": code, "message": message });
    if let Some(data) = data {
        error["data"] = data;
    }
    json!({
        "jsonrpc": "2.0",
        "id": id.map_or(Value::Null, id_value),
        "error": error,
    })
}

pub fn id_value(id: &RequestId) -> Value {
    serde_json::to_value(id).unwrap_or(Value::Null)
}

/// Screens one inbound message (a stdio line or an HTTP POST body).
pub fn screen(bytes: &[u8]) -> Result<Inbound, Rejection> {
    match screen_fast(bytes) {
        Some(inbound) => Ok(inbound),
        None => screen_slow(bytes),
    }
}

/// The common case in one pass: an object that parses as a client message straight from the
/// bytes (as rmcp parses it), of a method whose params need no second look. `None` sends the
/// message through [`screen_slow`], which finds what is wrong or says the same.
fn screen_fast(bytes: &[u8]) -> Option<Inbound> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    match serde_json::from_slice::<ClientJsonRpcMessage>(bytes).ok()? {
        ClientJsonRpcMessage::Request(request) => {
            let method = request.request.method();
            if matches!(request.request, ClientRequest::CustomRequest(_))
                || PAGINATED.contains(&method)
            {
                return None;
            }
            let method = method.to_owned();
            Some(Inbound::Request {
                method,
                id: request.id,
                initialize: initialize_params(&request.request),
                call: tool_call(request.request),
                // `tools/list` is paginated: the slow path screens it.
                list_tools: false,
            })
        }
        ClientJsonRpcMessage::Notification(notification) => {
            let cancelled = match &notification.notification {
                ClientNotification::CancelledNotification(n) => n.params.request_id.clone(),
                _ => None,
            };
            Some(Inbound::Notification { cancelled })
        }
        ClientJsonRpcMessage::Response(_) | ClientJsonRpcMessage::Error(_) => {
            Some(Inbound::Response)
        }
    }
}

fn initialize_params(request: &ClientRequest) -> Option<Box<InitializeRequestParams>> {
    match request {
        ClientRequest::InitializeRequest(init) => Some(Box::new(init.params.clone())),
        _ => None,
    }
}

/// A `tools/list` with no `_meta` (its cursor does not change the answer: one page).
fn plain_tool_list(request: &ClientRequest) -> bool {
    match request {
        // rmcp moves a parsed `_meta` into the request's extensions.
        ClientRequest::ListToolsRequest(list) => {
            let empty = |m: &RequestMetaObject| m.0.0.is_empty();
            list.extensions.get::<RequestMetaObject>().is_none_or(empty)
                && list
                    .params
                    .as_ref()
                    .is_none_or(|p| p.meta.as_ref().is_none_or(empty))
        }
        _ => false,
    }
}

/// A `tools/call`'s params, with the `_meta` rmcp parsed into the request's extensions put
/// back, so whoever runs it sees a progress token or other metadata.
fn tool_call(request: ClientRequest) -> Option<Box<CallToolRequestParams>> {
    match request {
        ClientRequest::CallToolRequest(mut call) => {
            if let Some(meta) = call.extensions.remove::<RequestMetaObject>() {
                call.params.meta = Some(meta);
            }
            Some(Box::new(call.params))
        }
        _ => None,
    }
}

fn screen_slow(bytes: &[u8]) -> Result<Inbound, Rejection> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| Rejection::new(None, PARSE_ERROR, format!("Parse error: {e}")))?;
    let Value::Object(object) = &value else {
        return Err(Rejection::new(
            None,
            INVALID_REQUEST,
            "Invalid Request: a JSON-RPC message is a JSON object (batches are not supported)",
        ));
    };
    let id = object
        .get("id")
        .and_then(|v| serde_json::from_value::<RequestId>(v.clone()).ok());
    let message = ClientJsonRpcMessage::deserialize(&value).map_err(|e| {
        Rejection::new(id.clone(), INVALID_REQUEST, format!("Invalid Request: {e}"))
    })?;
    match message {
        ClientJsonRpcMessage::Request(request) => {
            let method = request.request.method();
            let problem = match &request.request {
                ClientRequest::CustomRequest(custom) => params_problem(&custom.method, &value),
                // rmcp reads unparsable optional params as none (a bad cursor lists from the
                // start); the spec wants -32602.
                _ if PAGINATED.contains(&method) => object
                    .get("params")
                    .filter(|p| !p.is_null())
                    .and_then(|p| serde_json::from_value::<PaginatedRequestParams>(p.clone()).err())
                    .map(|e| e.to_string()),
                _ => None,
            };
            if let Some(problem) = problem {
                return Err(Rejection::new(
                    Some(request.id),
                    INVALID_PARAMS,
                    format!("Invalid params for {method}: {problem}"),
                ));
            }
            let list_tools = plain_tool_list(&request.request);
            Ok(Inbound::Request {
                method: request.request.method().to_owned(),
                id: request.id,
                initialize: initialize_params(&request.request),
                call: tool_call(request.request),
                list_tools,
            })
        }
        ClientJsonRpcMessage::Notification(notification) => {
            let cancelled = match &notification.notification {
                ClientNotification::CancelledNotification(n) => n.params.request_id.clone(),
                _ => None,
            };
            Ok(Inbound::Notification { cancelled })
        }
        ClientJsonRpcMessage::Response(_) | ClientJsonRpcMessage::Error(_) => Ok(Inbound::Response),
    }
}

/// Methods whose params are an optional [`PaginatedRequestParams`].
const PAGINATED: &[&str] = &[
    "tools/list",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
    "skills/list",
];

/// rmcp parses a known method whose `params` do not fit as a custom request and answers it
/// "method not found". For a method rmcp knows, this says what is wrong with the params;
/// `None` for methods it does not know (those are unknown methods indeed).
#[allow(deprecated)]
fn params_problem(method: &str, message: &Value) -> Option<String> {
    fn problem<T: DeserializeOwned>(message: &Value) -> String {
        match serde_json::from_value::<JsonRpcRequest<T>>(message.clone()) {
            Err(e) => e.to_string(),
            Ok(_) => "the params do not match the method".to_owned(),
        }
    }
    Some(match method {
        "initialize" => problem::<InitializeRequest>(message),
        "server/discover" => problem::<DiscoverRequest>(message),
        "ping" => problem::<PingRequest>(message),
        "completion/complete" => problem::<CompleteRequest>(message),
        "logging/setLevel" => problem::<SetLevelRequest>(message),
        "prompts/get" => problem::<GetPromptRequest>(message),
        "prompts/list" => problem::<ListPromptsRequest>(message),
        "resources/list" => problem::<ListResourcesRequest>(message),
        "resources/templates/list" => problem::<ListResourceTemplatesRequest>(message),
        "resources/read" => problem::<ReadResourceRequest>(message),
        "resources/subscribe" => problem::<SubscribeRequest>(message),
        "resources/unsubscribe" => problem::<UnsubscribeRequest>(message),
        "tools/call" => problem::<CallToolRequest>(message),
        "tools/list" => problem::<ListToolsRequest>(message),
        "tasks/get" => problem::<GetTaskRequest>(message),
        "tasks/update" => problem::<UpdateTaskRequest>(message),
        "tasks/cancel" => problem::<CancelTaskRequest>(message),
        "skills/list" => problem::<ListSkillsRequest>(message),
        "skills/get" => problem::<GetSkillRequest>(message),
        "subscriptions/listen" | "resources/directory/read" => {
            "the params do not match the method".to_owned()
        }
        _ => return None,
    })
}

/// The id a server message answers, when it is a response or an error.
pub fn answered_id(message: &Value) -> Option<RequestId> {
    let object = message.as_object()?;
    if object.contains_key("method")
        || !(object.contains_key("result") || object.contains_key("error"))
    {
        return None;
    }
    serde_json::from_value(object.get("id")?.clone()).ok()
}

/// Rewrites an outbound message where clients need something other than what rmcp sends:
/// rmcp's `-32601` message is the bare method name; clients show "Method not found: <method>".
/// Returns whether the message changed.
pub fn fix_outgoing(message: &mut Value) -> bool {
    let Some(error) = message.get_mut("error").and_then(Value::as_object_mut) else {
        return false;
    };
    if error.get("code").and_then(Value::as_i64) != Some(METHOD_NOT_FOUND) {
        return false;
    }
    let Some(text) = error.get("message").and_then(Value::as_str) else {
        return false;
    };
    if text.starts_with("Method not found") {
        return false;
    }
    let fixed = format!("Method not found: {text}");
    error.insert("message".into(), Value::String(fixed));
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use rmcp::model::NumberOrString;

    fn code(bytes: &[u8]) -> (i64, Option<RequestId>) {
        let r = screen(bytes).unwrap_err();
        (r.code, r.id)
    }

    #[test]
    fn unparsable_input_is_a_parse_error_without_id() {
        let deep = "[".repeat(1000);
        for bad in [
            &b"nope"[..],
            b"",
            b"{\"id\":1,",
            deep.as_bytes(),
            b"{\"id\":1,\"method\":\"x\",\"s\":\"\xff\"}",
            b"1e309",
            br#"{"jsonrpc":"2.0","id":1,"method":"ping","x":"\ud800"}"#,
        ] {
            assert_eq!(
                code(bad),
                (PARSE_ERROR, None),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn json_that_is_not_a_message_is_an_invalid_request() {
        assert_eq!(code(b"[]"), (INVALID_REQUEST, None));
        assert_eq!(code(b"42"), (INVALID_REQUEST, None));
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":"a"}"#),
            (INVALID_REQUEST, Some(NumberOrString::String("a".into())))
        );
        assert_eq!(
            code(br#"{"jsonrpc":"1.0","id":3,"method":"ping"}"#),
            (INVALID_REQUEST, Some(NumberOrString::Number(3)))
        );
    }

    #[test]
    fn bad_params_on_a_known_method_are_invalid_params() {
        let (c, id) = code(br#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{}}"#);
        assert_eq!((c, id), (INVALID_PARAMS, Some(NumberOrString::Number(5))));
        let r = screen(br#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"nme":1}}"#)
            .unwrap_err();
        assert!(r.message.contains("name"), "{}", r.message);
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":6,"method":"tools/list","params":{"cursor":1}}"#).0,
            INVALID_PARAMS
        );
        // An unknown method goes on to rmcp, which answers -32601.
        assert!(matches!(
            screen(br#"{"jsonrpc":"2.0","id":7,"method":"no/such","params":{"x":1}}"#),
            Ok(Inbound::Request { .. })
        ));
    }

    #[test]
    fn a_tool_call_keeps_its_params_and_meta() {
        let call = br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"t","arguments":{"a":1},"_meta":{"progressToken":7}}}"#;
        let Ok(Inbound::Request {
            call: Some(params), ..
        }) = screen(call)
        else {
            panic!("a tools/call request");
        };
        assert_eq!(params.name, "t");
        assert_eq!(params.arguments.unwrap()["a"], 1);
        assert!(params.meta.unwrap().get_progress_token().is_some());
    }

    #[test]
    fn good_messages_are_classified() {
        let init = br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#;
        let Inbound::Request {
            id,
            method,
            initialize: Some(params),
            call: None,
            list_tools: false,
        } = screen(init).unwrap()
        else {
            panic!("an initialize request");
        };
        assert_eq!(
            (id, method.as_str()),
            (NumberOrString::Number(1), "initialize")
        );
        assert_eq!(params.protocol_version.as_str(), "2025-06-18");
        assert_eq!(params.client_info.name, "t");
        let cancel =
            br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"x"}}"#;
        assert_eq!(
            screen(cancel).unwrap(),
            Inbound::Notification {
                cancelled: Some(NumberOrString::String("x".into()))
            }
        );
        assert_eq!(
            screen(br#"{"jsonrpc":"2.0","id":9,"result":{}}"#).unwrap(),
            Inbound::Response
        );
    }

    /// Whatever the one-pass screen accepts, the full screen classifies the same way.
    #[test]
    fn the_one_pass_screen_agrees_with_the_full_one() {
        let messages: &[&[u8]] = &[
            br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#,
            br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"crm_get_contact","arguments":{"id":"1"}}}"#,
            br#"{"jsonrpc":"2.0","id":"s","method":"tools/call","params":{"name":"x"}}"#,
            br#" {"jsonrpc":"2.0","id":3,"method":"ping"}"#,
            br#"{"jsonrpc":"2.0","id":3,"method":"ping","id":4}"#,
            br#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{}}"#,
            br#"{"jsonrpc":"2.0","id":6,"method":"tools/list","params":{"cursor":1}}"#,
            br#"{"jsonrpc":"2.0","id":7,"method":"no/such","params":{"x":1}}"#,
            br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}}"#,
            br#"{"jsonrpc":"2.0","id":9,"result":{}}"#,
            br#"{"jsonrpc":"2.0","id":9,"error":{"code":1,"message":"m"}}"#,
            br#"{"jsonrpc":"1.0","id":3,"method":"ping"}"#,
            br#"["jsonrpc","2.0"]"#,
        ];
        let mut fast = 0;
        for m in messages {
            if let Some(inbound) = screen_fast(m) {
                fast += 1;
                assert_eq!(
                    Ok(inbound),
                    screen_slow(m),
                    "{}",
                    String::from_utf8_lossy(m)
                );
            }
        }
        assert!(fast >= 7, "the common messages take the one pass: {fast}");
        assert!(
            screen_fast(messages[5]).is_none(),
            "bad params are looked at"
        );
        assert!(
            screen_fast(messages[7]).is_none(),
            "custom methods are looked at"
        );
    }

    #[test]
    fn method_not_found_names_the_method_once() {
        let mut m =
            json!({"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"prompts/list"}});
        assert!(fix_outgoing(&mut m));
        assert_eq!(m["error"]["message"], "Method not found: prompts/list");
        assert!(!fix_outgoing(&mut m), "already fixed");
        let mut other = json!({"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"x"}});
        assert!(!fix_outgoing(&mut other));
        assert_eq!(answered_id(&m), Some(NumberOrString::Number(1)));
        assert_eq!(
            answered_id(&json!({"jsonrpc":"2.0","method":"x","id":1})),
            None
        );
    }
}
