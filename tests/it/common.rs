//! Shared test harness: the sandbox Capsule on loopback, the real binary, real MCP clients.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::process::Stdio;

use capsule_mcp::sandbox::{ADMIN_TOKEN, Sandbox, SandboxOptions};
use rmcp::{
    RoleClient, ServiceExt,
    model::{CallToolRequestParams, CallToolResult},
    service::RunningService,
    transport::{StreamableHttpClientTransport, TokioChildProcess},
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

pub const BIN: &str = env!("CARGO_BIN_EXE_capsule-mcp");

pub type Client = RunningService<RoleClient, ()>;
pub type Peer = rmcp::Peer<RoleClient>;

pub async fn sandbox() -> Sandbox {
    Sandbox::start("127.0.0.1:0".parse().unwrap(), SandboxOptions::default())
        .await
        .expect("sandbox starts")
}

/// The binary configured against `sb` with the admin demo token.
pub fn command(sb: &Sandbox, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CAPSULE_API_URL", sb.api_url())
        .env("CAPSULE_ACCESS_TOKEN", ADMIN_TOKEN)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    cmd
}

/// An rmcp client talking to the binary over stdio.
pub async fn stdio_client(sb: &Sandbox, extra: &[&str]) -> Client {
    let mut args = vec!["stdio"];
    args.extend_from_slice(extra);
    let (transport, _stderr) = TokioChildProcess::builder(command(sb, &args))
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn capsule-mcp stdio");
    ().serve(transport)
        .await
        .expect("MCP initialize over stdio")
}

/// The binary serving HTTP on an ephemeral port; returns the child and its /mcp URL.
pub async fn http_server(
    sb: &Sandbox,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (tokio::process::Child, String) {
    let mut args = vec!["http", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut cmd = command(sb, &args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn capsule-mcp http");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let url = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.strip_prefix("capsule-mcp listening on ") {
                return rest.trim().to_owned();
            }
        }
        panic!("capsule-mcp http exited before listening");
    })
    .await
    .expect("http server announces its address");
    // Keep draining stderr so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

pub async fn http_client(url: &str) -> Client {
    ().serve(StreamableHttpClientTransport::from_uri(url.to_owned()))
        .await
        .expect("MCP initialize over HTTP")
}

pub async fn call(client: &Peer, tool: &str, args: Value) -> CallToolResult {
    let args = args.as_object().cloned().unwrap_or_default();
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args))
        .await
        .unwrap_or_else(|e| panic!("{tool}: protocol error {e}"))
}

/// Structured content of a successful call.
pub async fn ok(client: &Peer, tool: &str, args: Value) -> Value {
    let r = call(client, tool, args.clone()).await;
    assert_ne!(
        r.is_error,
        Some(true),
        "{tool} {args} failed: {:?}",
        r.structured_content
    );
    r.structured_content.expect("structured content")
}

/// The `error` object of a failed call: an `isError` result whose one text block is the error
/// body, with no `structuredContent` (which would have to match the tool's output schema).
pub fn error_of(r: &CallToolResult) -> Value {
    assert_eq!(
        r.is_error,
        Some(true),
        "should fail: {:?}",
        r.structured_content
    );
    assert!(
        r.structured_content.is_none(),
        "an error carries no structuredContent: {:?}",
        r.structured_content
    );
    let text = r
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .expect("an error has a text block");
    let body: Value = serde_json::from_str(&text).expect("the error text is the JSON error body");
    body["error"].clone()
}

/// The `error` object of a failed call.
pub async fn err(client: &Peer, tool: &str, args: Value) -> Value {
    let r = call(client, tool, args.clone()).await;
    assert_eq!(
        r.is_error,
        Some(true),
        "{tool} {args} should fail: {:?}",
        r.structured_content
    );
    error_of(&r)
}

pub async fn stats(sb: &Sandbox) -> Value {
    reqwest::get(format!("{}/_sandbox/stats", sb.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Requests the sandbox has seen, by route template.
pub async fn requests(sb: &Sandbox, route: &str) -> u64 {
    stats(sb).await["requests"][route].as_u64().unwrap_or(0)
}

pub async fn total_requests(sb: &Sandbox) -> u64 {
    let s = stats(sb).await;
    s["total_requests"].as_u64().unwrap_or_else(|| {
        s["requests"]
            .as_object()
            .map(|m| m.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0)
    })
}

pub async fn admin(sb: &Sandbox, what: &str, body: Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/_sandbox/{what}", sb.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "/_sandbox/{what}: {}",
        resp.status()
    );
}

pub fn ids(list: &Value) -> Vec<String> {
    list["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

pub fn empty() -> Value {
    json!({})
}

/// A throwaway `redis-server` on a free loopback port for tests where replicas share a Redis
/// (`.url(db)`); killed on drop. Fails loudly, saying what to install, when there is none.
pub fn redis_server() -> capsule_mcp::team::store::redis_server::RedisServer {
    capsule_mcp::team::store::redis_server::RedisServer::start().unwrap_or_else(|e| panic!("{e}"))
}
