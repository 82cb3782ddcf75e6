//! Unit tests of the HTTP transport: the library server (a one-tool echo handler) on loopback.

use super::*;
use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use axum::body::{Body, Bytes};

use super::front::LimitedBody;
use rmcp::{
    ClientHandler, ServiceExt,
    handler::server::wrapper::Parameters,
    model::CallToolRequestParams,
    schemars, tool, tool_router,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};

#[derive(Clone)]
struct Echo;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct EchoArgs {
    text: String,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct WaitArgs {
    ms: u64,
}

#[tool_router(server_handler)]
impl Echo {
    #[tool(description = "Echo the text back", annotations(read_only_hint = true))]
    fn echo(&self, Parameters(args): Parameters<EchoArgs>) -> String {
        args.text
    }

    #[tool(description = "Wait that long", annotations(read_only_hint = true))]
    async fn wait(&self, Parameters(args): Parameters<WaitArgs>) -> String {
        tokio::time::sleep(Duration::from_millis(args.ms)).await;
        "waited".into()
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
    assert_eq!(tools.len(), 2);
    assert!(tools.iter().any(|t| t.name == "echo"));
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
async fn connections_at_the_cap_make_room_or_are_closed() {
    let server = start(HttpOptions {
        max_connections: 2,
        ..opts()
    })
    .await;
    let a = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let b = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let c = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let started = std::time::Instant::now();
    assert!(
        closed_by_server(a).await,
        "the longest-idle connection makes room"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    drop((b, c));
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Two connections each with a call in flight: a third is closed at once.
    let sid = session_id(&initialize(&server.url()).await);
    let slow = |id: u64| {
        let req = mcp_post(&server.url())
            .header("Mcp-Session-Id", &sid)
            .header("MCP-Protocol-Version", "2025-06-18")
            .body(
                json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                    "params": {"name": "wait", "arguments": {"ms": 1500}}})
                .to_string(),
            );
        tokio::spawn(async move { req.send().await.unwrap().text().await.unwrap() })
    };
    let calls = [slow(2), slow(3)];
    tokio::time::sleep(Duration::from_millis(400)).await;
    let d = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let started = std::time::Instant::now();
    assert!(closed_by_server(d).await);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "closed at once when every connection is busy"
    );
    for call in calls {
        assert!(call.await.unwrap().contains("waited"));
    }
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
    assert_eq!(body["error"]["data"]["reason"], "forbidden");

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
    assert_eq!(body["error"]["data"]["reason"], "unauthorized");

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
    assert_eq!(body["error"]["data"]["reason"], "unauthorized");

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
    rmcp_round_trip(StreamableHttpClientTransportConfig::with_uri(server.url()).auth_header(token))
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
    assert_eq!(body["error"]["data"]["reason"], "payload_too_large");
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
async fn session_cap_evicts_the_longest_idle_session() {
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
    let second_id = session_id(&second);

    let third = initialize(&server.url()).await;
    assert_eq!(third.status(), 200, "a new client is not locked out");
    let ping = |sid: &str| {
        mcp_post(&server.url())
            .header("Mcp-Session-Id", sid)
            .header("MCP-Protocol-Version", "2025-06-18")
            .body(json!({"jsonrpc": "2.0", "id": 9, "method": "ping"}).to_string())
            .send()
    };
    assert_eq!(
        ping(&first_id).await.unwrap().status(),
        404,
        "the oldest went"
    );
    assert_eq!(ping(&second_id).await.unwrap().status(), 200);

    let resp = reqwest::Client::new()
        .delete(server.url())
        .header("Mcp-Session-Id", &second_id)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
}

#[tokio::test]
async fn session_cap_refuses_when_every_session_is_busy() {
    let server = start(HttpOptions {
        max_sessions: 1,
        ..opts()
    })
    .await;
    let first = initialize(&server.url()).await;
    let sid = session_id(&first);
    let slow = mcp_post(&server.url())
        .header("Mcp-Session-Id", &sid)
        .header("MCP-Protocol-Version", "2025-06-18")
        .body(
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": "wait", "arguments": {"ms": 1500}}})
            .to_string(),
        )
        .send();
    let slow = tokio::spawn(slow);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = initialize(&server.url()).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "30");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["error"]["data"]["reason"], "session_limit_reached");
    let done = slow.await.unwrap().unwrap();
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("waited"));
    // Idle again: the next client evicts it.
    assert_eq!(initialize(&server.url()).await.status(), 200);
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
    // OAuth tokens are the auth of a team server: any address, but not two schemes at once.
    let team = HttpOptions {
        oauth: Some(crate::team::oauth::tests::server().0),
        ..public.clone()
    };
    assert_eq!(team.validate(), Ok(()));
    let both = HttpOptions {
        auth_token: with_token.auth_token.clone(),
        ..team
    };
    assert!(both.validate().unwrap_err().contains("two ways"));

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
        let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(half.clone()), Ok(half)]);
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

#[tokio::test]
async fn json_answers_name_the_missing_method() {
    for stateless in [false, true] {
        let server = start(HttpOptions {
            stateless,
            ..opts()
        })
        .await;
        let body = json!({"jsonrpc": "2.0", "id": 8, "method": "no/such", "params": {
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "0"},
                "io.modelcontextprotocol/clientCapabilities": {}}}});
        let resp = mcp_post(&server.url())
            .header("MCP-Protocol-Version", "2026-07-28")
            .header("Mcp-Method", "no/such")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["content-type"], "application/json");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["id"], 8, "{v}");
        assert_eq!(v["error"]["code"], -32601, "{v}");
        assert_eq!(v["error"]["message"], "Method not found: no/such", "{v}");
    }
}

/// Answers `echo` itself, with a mark rmcp's Echo never gives, so a test can tell who
/// answered a stateless call.
struct Marked;

impl DirectCalls for Marked {
    fn knows(&self, tool: &str) -> bool {
        tool == "echo"
    }

    fn asks(&self, _tool: &str) -> bool {
        false
    }

    fn tool_list(&self) -> String {
        r#"{"tools":[{"name":"direct-list","inputSchema":{"type":"object"}}]}"#.into()
    }

    fn initialize(
        &self,
        params: &rmcp::model::InitializeRequestParams,
    ) -> Result<rmcp::model::InitializeResult, rmcp::ErrorData> {
        rmcp::ServerHandler::negotiate_initialize(&Echo, params)
    }

    fn call(
        &self,
        params: CallToolRequestParams,
        _parts: axum::http::request::Parts,
    ) -> BoxFuture<'_, Result<rmcp::model::CallToolResult, rmcp::ErrorData>> {
        Box::pin(async move {
            let text = params
                .arguments
                .and_then(|a| a.get("text").cloned())
                .unwrap_or_default();
            Ok(rmcp::model::CallToolResult::success(vec![
                rmcp::model::ContentBlock::text(format!("direct:{}", text.as_str().unwrap_or(""))),
            ]))
        })
    }
}

async fn start_direct(opts: HttpOptions) -> Running {
    let shutdown = CancellationToken::new();
    let bound = bind_with(|| Echo, Some(Arc::new(Marked)), opts, shutdown.clone())
        .await
        .unwrap();
    let addr = bound.addr;
    let task = tokio::spawn(bound.serve());
    Running {
        addr,
        shutdown,
        task,
    }
}

async fn echo_text(url: &str, params: Value, version: Option<&str>) -> String {
    let mut req = mcp_post(url);
    if let Some(v) = version {
        req = req.header("mcp-protocol-version", v);
    }
    let resp = req
        .body(
            json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": params})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["id"], 5, "{body}");
    body["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn stateless_calls_that_need_nothing_of_rmcp_are_answered_directly_and_the_rest_by_rmcp() {
    let server = start_direct(HttpOptions {
        stateless: true,
        ..opts()
    })
    .await;
    let url = server.url();
    let plain = json!({"name": "echo", "arguments": {"text": "hi"}});
    assert_eq!(echo_text(&url, plain.clone(), None).await, "direct:hi");
    assert_eq!(
        echo_text(&url, plain.clone(), Some("2025-11-25")).await,
        "direct:hi"
    );
    // Metadata (here a progress token) needs rmcp's stream: rmcp answers.
    let with_meta =
        json!({"name": "echo", "arguments": {"text": "hi"}, "_meta": {"progressToken": 1}});
    assert_eq!(echo_text(&url, with_meta, None).await, "hi");
}

/// A call on the session `sid`, answered as text (JSON or SSE).
async fn session_call(url: &str, sid: &str, body: Value) -> (u16, String) {
    let resp = mcp_post(url)
        .header("mcp-session-id", sid)
        .header("mcp-protocol-version", "2025-06-18")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// `logging/setLevel` on the session `sid`: from then on its requests go through rmcp.
async fn set_log_level(url: &str, sid: &str) {
    let (status, _) = session_call(
        url,
        sid,
        json!({"jsonrpc": "2.0", "id": 7, "method": "logging/setLevel", "params": {"level": "info"}}),
    )
    .await;
    assert_eq!(status, 200);
}

async fn open_session(url: &str, capabilities: Value) -> String {
    let mut init = init_body();
    init["params"]["capabilities"] = capabilities;
    let resp = mcp_post(url).body(init.to_string()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let sid = session_id(&resp);
    let _ = resp.text().await.unwrap();
    let (status, _) = session_call(
        url,
        &sid,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(status, 202);
    sid
}

#[tokio::test]
async fn session_calls_run_directly_until_the_session_sets_a_log_level() {
    let server = start_direct(opts()).await;
    let url = server.url();
    let call = |id: u32| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "hi"}}})
    };
    let sid = open_session(&url, json!({})).await;
    let (status, text) = session_call(&url, &sid, call(5)).await;
    assert_eq!(status, 200);
    assert!(text.contains("direct:hi"), "{text}");
    // An unknown session is rmcp's to refuse, as before.
    let (status, _) = session_call(&url, "no-such-session", call(6)).await;
    assert_eq!(status, 404);
    // Once the client asks for logs, its calls go through its session's handler.
    set_log_level(&url, &sid).await;
    let (_, text) = session_call(&url, &sid, call(8)).await;
    assert!(
        text.contains("\"text\":\"hi\"") && !text.contains("direct:"),
        "{text}"
    );
    // Another session is not affected.
    let other = open_session(&url, json!({})).await;
    let (_, text) = session_call(&url, &other, call(9)).await;
    assert!(text.contains("direct:hi"), "{text}");
}

#[tokio::test]
async fn sessions_used_only_by_direct_calls_live_and_idle_ones_are_reaped() {
    let server = start_direct(HttpOptions {
        session_idle_timeout: Duration::from_millis(800),
        ..opts()
    })
    .await;
    let url = server.url();
    let sid = open_session(&url, json!({})).await;
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "x"}}});
    // Direct calls keep the session alive past its idle timeout...
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (status, text) = session_call(&url, &sid, call.clone()).await;
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("direct:x"), "{text}");
    }
    // ...and without them it is closed.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let (status, _) = session_call(&url, &sid, call).await;
    assert_eq!(status, 404);
}

/// The names a `tools/list` answer (JSON or SSE) lists.
fn listed_names(text: &str) -> Vec<String> {
    let body = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("data:")
                .map(str::trim)
                .filter(|d| !d.is_empty())
        })
        .unwrap_or(text);
    let v: Value = serde_json::from_str(body).unwrap();
    v["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn plain_tool_lists_are_answered_directly_and_the_rest_by_rmcp() {
    let list = |params: Value| json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": params});
    let server = start_direct(HttpOptions {
        stateless: true,
        ..opts()
    })
    .await;
    let url = server.url();
    for (params, version, who) in [
        (json!({}), None, "direct-list"),
        (json!({"cursor": "c"}), Some("2025-11-25"), "direct-list"),
        (json!({"_meta": {"k": 1}}), None, "echo"),
    ] {
        let mut req = mcp_post(&url);
        if let Some(v) = version {
            req = req.header("mcp-protocol-version", v);
        }
        let resp = req
            .body(list(params.clone()).to_string())
            .send()
            .await
            .unwrap();
        let text = resp.text().await.unwrap();
        assert!(
            listed_names(&text).contains(&who.to_owned()),
            "{params} {version:?}: {text}"
        );
    }
    // In a session: direct until a log level is set, as calls are.
    let server = start_direct(opts()).await;
    let url = server.url();
    let sid = open_session(&url, json!({})).await;
    let (status, text) = session_call(&url, &sid, list(json!({}))).await;
    assert_eq!(status, 200);
    assert_eq!(listed_names(&text), ["direct-list"]);
    set_log_level(&url, &sid).await;
    let (_, text) = session_call(&url, &sid, list(json!({}))).await;
    assert!(listed_names(&text).contains(&"echo".to_owned()), "{text}");
}
