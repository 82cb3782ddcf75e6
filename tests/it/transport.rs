//! The HTTP transport as real clients and hostile peers meet it: the real binary on loopback,
//! raw sockets where a client library would hide the behaviour.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::common::*;

const SSE_AND_JSON: &str = "application/json, text/event-stream";

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .parse()
        .unwrap()
}

fn init_body(version: &str) -> Value {
    json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion": version,"capabilities":{},
        "clientInfo":{"name":"raw-http","version":"0"}}})
}

fn post(url: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(url)
        .header("Accept", SSE_AND_JSON)
        .header("Content-Type", "application/json")
}

/// `initialize` + `notifications/initialized` by hand; returns the session id and the raw
/// text of the initialize answer.
async fn session(url: &str, version: &str) -> (String, String) {
    let resp = post(url)
        .body(init_body(version).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let sid = resp.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let text = resp.text().await.unwrap();
    let resp = post(url)
        .header("Mcp-Session-Id", &sid)
        .header("MCP-Protocol-Version", version)
        .body(json!({"jsonrpc":"2.0","method":"notifications/initialized"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    (sid, text)
}

/// An `initialize` left to rmcp: the `Mcp-Method` header keeps the front end from answering
/// it (it answers a plain one with JSON).
async fn rmcp_initialize(url: &str, version: &str) -> reqwest::Response {
    post(url)
        .header("Mcp-Method", "initialize")
        .body(init_body(version).to_string())
        .send()
        .await
        .unwrap()
}

fn in_session(url: &str, sid: &str, version: &str, body: Value) -> reqwest::RequestBuilder {
    post(url)
        .header("Mcp-Session-Id", sid)
        .header("MCP-Protocol-Version", version)
        .body(body.to_string())
}

/// The JSON-RPC messages of an SSE body, and whether it carried an empty-data priming event.
fn sse_messages(text: &str) -> (Vec<Value>, bool) {
    let mut messages = Vec::new();
    let mut priming = false;
    for event in text.split("\n\n") {
        let data: Vec<&str> = event
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(str::trim)
            .collect();
        if data.is_empty() {
            continue;
        }
        let joined = data.join("\n");
        if joined.is_empty() {
            priming = true;
        } else {
            messages.push(serde_json::from_str(&joined).unwrap());
        }
    }
    (messages, priming)
}

/// The JSON-RPC messages of a POST's answer: one JSON body (a call the server runs directly)
/// or an SSE stream (one rmcp's session worker answers).
fn answers(text: &str) -> Vec<Value> {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => vec![v],
        Err(_) => sse_messages(text).0,
    }
}

/// Asserts a JSON-RPC error body: `{"jsonrpc":"2.0","id":…,"error":{"code":int,"message":str}}`.
fn assert_jsonrpc_error(text: &str, what: &str) -> Value {
    let v: Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{what}: body is not JSON ({e}): {text:?}"));
    assert_eq!(v["jsonrpc"], "2.0", "{what}: {v}");
    assert!(v.get("id").is_some(), "{what}: no id: {v}");
    assert!(v["error"]["code"].is_i64(), "{what}: {v}");
    assert!(v["error"]["message"].is_string(), "{what}: {v}");
    v
}

/// Writes `bytes` on a fresh connection and reads until the server closes it or `wait`
/// passes; returns what was read and whether the server closed.
async fn raw_exchange(addr: SocketAddr, bytes: &[u8], wait: Duration) -> (String, bool) {
    let mut sock = TcpStream::connect(addr).await.unwrap();
    if !bytes.is_empty() {
        sock.write_all(bytes).await.unwrap();
    }
    read_until_closed(&mut sock, wait).await
}

async fn read_until_closed(sock: &mut TcpStream, wait: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(wait, async {
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

fn status_of(raw: &str) -> u16 {
    raw.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// What real clients need
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn http_delete_of_a_session_answers_204() {
    let sb = sandbox().await;
    let (_child, url) = http_server(&sb, &[], &[]).await;
    let (sid, _) = session(&url, "2025-06-18").await;
    let resp = reqwest::Client::new()
        .delete(&url)
        .header("Mcp-Session-Id", &sid)
        .header("MCP-Protocol-Version", "2025-06-18")
        .send()
        .await
        .unwrap();
    assert!(
        [200, 204].contains(&resp.status().as_u16()),
        "the Python SDK accepts 200 or 204, got {}",
        resp.status()
    );
    let resp = in_session(
        &url,
        &sid,
        "2025-06-18",
        json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 404, "the session is gone");
}

#[tokio::test]
async fn http_post_bodies_that_are_not_json_rpc_get_400_with_a_json_rpc_error() {
    let sb = sandbox().await;
    let (_child, url) = http_server(&sb, &[], &[]).await;
    for (body, code) in [
        ("this is not json", -32700),
        (r#"{"jsonrpc":"2.0","id":1,"method""#, -32700),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"x","p":"\ud800"}"#,
            -32700,
        ),
        ("[1, 2]", -32600),
        (r#"{"foo": 1}"#, -32600),
    ] {
        let resp = post(&url).body(body).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{body}");
        let v = assert_jsonrpc_error(&resp.text().await.unwrap(), body);
        assert_eq!(v["error"]["code"], code, "{body}: {v}");
        assert_eq!(v["id"], Value::Null, "{body}: {v}");
    }
}

#[tokio::test]
async fn http_error_responses_carry_json_rpc_error_bodies() {
    let sb = sandbox().await;
    let token = "transport-bearer-0123456789";
    let (_child, url) = http_server(
        &sb,
        &["--max-body-bytes", "2048"],
        &[("CAPSULE_MCP_AUTH_TOKEN", token)],
    )
    .await;
    let client = reqwest::Client::new();
    let authed = |b: reqwest::RequestBuilder| b.bearer_auth(token);
    let init = init_body("2025-06-18").to_string();
    let cases: Vec<(&str, u16, reqwest::RequestBuilder)> = vec![
        ("no bearer", 401, post(&url).body(init.clone())),
        (
            "foreign Host",
            403,
            authed(post(&url).header("Host", "evil.example").body(init.clone())),
        ),
        (
            "foreign Origin",
            403,
            authed(
                post(&url)
                    .header("Origin", "https://evil.example")
                    .body(init.clone()),
            ),
        ),
        (
            "unknown session",
            404,
            authed(
                post(&url)
                    .header("Mcp-Session-Id", "no-such-session")
                    .header("MCP-Protocol-Version", "2025-06-18")
                    .body(json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}).to_string()),
            ),
        ),
        (
            "no session id",
            400,
            authed(
                post(&url).body(json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}).to_string()),
            ),
        ),
        (
            "PUT",
            405,
            authed(
                client
                    .put(&url)
                    .header("Content-Type", "application/json")
                    .body(init.clone()),
            ),
        ),
        (
            "Accept JSON only",
            406,
            authed(
                client
                    .post(&url)
                    .header("Accept", "application/json")
                    .header("Content-Type", "application/json")
                    .body(init.clone()),
            ),
        ),
        (
            "body too large",
            413,
            authed(post(&url).body(format!("{{\"x\":\"{}\"}}", "y".repeat(4096)))),
        ),
        (
            "text/plain",
            415,
            authed(
                client
                    .post(&url)
                    .header("Accept", SSE_AND_JSON)
                    .header("Content-Type", "text/plain")
                    .body(init.clone()),
            ),
        ),
        (
            "unknown path",
            404,
            authed(client.get(format!("{}/nope", url.trim_end_matches("/mcp")))),
        ),
    ];
    for (what, status, req) in cases {
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{what}");
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        assert!(ct.starts_with("application/json"), "{what}: {ct}");
        let text = resp.text().await.unwrap();
        assert_jsonrpc_error(&text, what);
        assert!(!text.contains(token), "{what}: the token is echoed");
    }
}

#[tokio::test]
async fn http_unknown_methods_say_method_not_found() {
    let sb = sandbox().await;
    let (_child, url) = http_server(&sb, &[], &[]).await;
    let (sid, _) = session(&url, "2025-06-18").await;
    let resp = in_session(
        &url,
        &sid,
        "2025-06-18",
        json!({"jsonrpc":"2.0","id":5,"method":"no/such"}),
    )
    .send()
    .await
    .unwrap();
    let text = resp.text().await.unwrap();
    let (messages, _) = sse_messages(&text);
    let answer = messages
        .iter()
        .find(|m| m["id"] == 5)
        .unwrap_or_else(|| panic!("no answer for id 5: {text}"));
    assert_eq!(answer["error"]["code"], -32601, "{answer}");
    assert_eq!(answer["error"]["message"], "Method not found: no/such");

    // Bad params on a known method: -32602.
    let resp = in_session(
        &url,
        &sid,
        "2025-06-18",
        json!({"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"nme":"x"}}),
    )
    .send()
    .await
    .unwrap();
    let text = resp.text().await.unwrap();
    let answer = if text.trim_start().starts_with('{') {
        serde_json::from_str::<Value>(&text).unwrap()
    } else {
        sse_messages(&text)
            .0
            .into_iter()
            .find(|m| m["id"] == 6)
            .unwrap()
    };
    assert_eq!(answer["id"], 6, "{answer}");
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
}

#[tokio::test]
async fn http_healthz_answers_without_the_bearer_but_under_the_host_check() {
    let sb = sandbox().await;
    let (_child, url) = http_server(
        &sb,
        &[],
        &[("CAPSULE_MCP_AUTH_TOKEN", "transport-bearer-0123456789")],
    )
    .await;
    let health = format!("{}/healthz", url.trim_end_matches("/mcp"));
    let resp = reqwest::get(&health).await.unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["status"], "ok", "{v}");
    let resp = reqwest::Client::new()
        .get(&health)
        .header("Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // /mcp still needs the token.
    let resp = post(&url)
        .body(init_body("2025-06-18").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn http_sse_priming_event_only_for_clients_that_expect_it() {
    let sb = sandbox().await;
    let (_child, url) = http_server(&sb, &[], &[]).await;
    for (version, expects) in [("2025-06-18", false), ("2025-11-25", true)] {
        let init = rmcp_initialize(&url, version).await.text().await.unwrap();
        let (messages, priming) = sse_messages(&init);
        assert_eq!(priming, expects, "{version} initialize: {init:?}");
        assert_eq!(messages.len(), 1, "{init}");
        assert_eq!(messages[0]["result"]["protocolVersion"], version);
        let (sid, _) = session(&url, version).await;
        let resp = in_session(
            &url,
            &sid,
            version,
            // Answered by the session's rmcp worker, over SSE (a plain tools/list is not).
            json!({"jsonrpc":"2.0","id":2,"method":"prompts/list"}),
        )
        .send()
        .await
        .unwrap();
        let text = resp.text().await.unwrap();
        let (messages, priming) = sse_messages(&text);
        let head: String = text.chars().take(120).collect();
        assert_eq!(priming, expects, "{version} prompts/list: {head:?}");
        assert_eq!(messages[0]["id"], 2);
        assert!(
            !text.contains("data: \n") || expects,
            "{version}: an empty data line"
        );
    }
}

#[tokio::test]
async fn http_help_names_only_real_flags_for_the_token() {
    let out = tokio::process::Command::new(BIN)
        .args(["http", "--help"])
        .env_clear()
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("CAPSULE_MCP_AUTH_TOKEN"), "{help}");
    if help.contains("--auth-token") {
        // A flag that is named must exist.
        let out = tokio::process::Command::new(BIN)
            .args(["http", "--auth-token", "x", "--help"])
            .env_clear()
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{help}");
    }
}

/// At the default log level a stateless call logs one line (ours), not rmcp's three per
/// request (one with the client's whole `initialize` params in Debug form).
#[tokio::test]
async fn http_stateless_calls_log_one_line_each_at_the_default_level() {
    use tokio::io::AsyncBufReadExt;
    let sb = sandbox().await;
    let mut child = command(&sb, &["http", "--listen", "127.0.0.1:0", "--stateless"])
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = tx.send(line);
        }
    });
    let url = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let line = rx.recv().await.expect("listening line");
            if let Some(rest) = line.strip_prefix("capsule-mcp listening on ") {
                return rest.trim().to_owned();
            }
        }
    })
    .await
    .unwrap();
    for id in 1..=3 {
        let text = post(&url)
            .header("MCP-Protocol-Version", "2025-06-18")
            .body(
                json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
                    "params":{"name":"crm_list_users","arguments":{}}})
                .to_string(),
            )
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.contains("\"result\""), "{text}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().await.unwrap();
    let mut logged = Vec::new();
    while let Ok(line) = rx.try_recv() {
        logged.push(line);
    }
    let calls = logged.iter().filter(|l| l.contains("call ok")).count();
    assert_eq!(calls, 3, "{logged:#?}");
    assert!(
        !logged.iter().any(|l| l.contains("rmcp::")),
        "rmcp's per-request info lines: {logged:#?}"
    );
}

#[tokio::test]
async fn http_session_refuses_a_second_request_whose_id_is_in_flight() {
    let sb = sandbox().await;
    let (_child, url) = http_server(&sb, &[], &[]).await;
    let (sid, _) = session(&url, "2025-06-18").await;
    admin(
        &sb,
        "faults",
        json!({"route": "POST /parties", "delay_ms": 1500, "times": 1}),
    )
    .await;
    let before = requests(&sb, "POST /parties").await;
    let create = |name: &str| {
        json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{
            "name":"crm_create_contact","arguments":{"first_name": name}}})
    };
    let first_req = in_session(&url, &sid, "2025-06-18", create("First"));
    let first = tokio::spawn(async move { first_req.send().await?.text().await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = tokio::time::timeout(
        Duration::from_secs(10),
        in_session(&url, &sid, "2025-06-18", create("Second")).send(),
    )
    .await
    .expect("the second request is answered, not left hanging")
    .unwrap();
    assert_eq!(second.status(), 400);
    let v = assert_jsonrpc_error(&second.text().await.unwrap(), "duplicate id");
    assert_eq!(v["id"], 7, "{v}");
    assert_eq!(v["error"]["code"], -32600, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("in flight"),
        "{v}"
    );
    let text = tokio::time::timeout(Duration::from_secs(15), first)
        .await
        .expect("the first request is answered")
        .unwrap()
        .unwrap();
    assert!(!text.is_empty());
    let messages = answers(&text);
    let done = messages.iter().find(|m| m["id"] == 7).unwrap();
    assert_eq!(done["result"]["structuredContent"]["first_name"], "First");
    assert_eq!(requests(&sb, "POST /parties").await, before + 1);
}

// ---------------------------------------------------------------------------------------------
// Hostile peers
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn http_connections_that_make_no_progress_are_closed() {
    let sb = sandbox().await;
    let (_child, url) = http_server(&sb, &["--header-read-timeout", "1"], &[]).await;
    let addr = addr_of(&url);
    let preface: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    // An empty SETTINGS frame: length 0, type 4, flags 0, stream 0.
    let settings: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];
    let with_settings = [preface, settings].concat();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("no bytes at all", vec![]),
        ("part of the HTTP/2 preface", b"PRI * HTTP/2.0\r\n".to_vec()),
        ("the whole HTTP/2 preface", preface.to_vec()),
        ("preface and SETTINGS", with_settings),
        (
            "HTTP/1.1 headers never finished",
            b"POST /mcp HTTP/1.1\r\nHost: localhost\r\n".to_vec(),
        ),
    ];
    let tasks: Vec<_> = cases
        .into_iter()
        .map(|(what, bytes)| {
            tokio::spawn(async move {
                let started = Instant::now();
                let (_, closed) = raw_exchange(addr, &bytes, Duration::from_secs(8)).await;
                (what, closed, started.elapsed())
            })
        })
        .collect();
    for t in tasks {
        let (what, closed, took) = t.await.unwrap();
        assert!(closed, "{what}: still open after 8 s");
        assert!(
            took < Duration::from_secs(5),
            "{what}: closed after {took:?}"
        );
    }
}

#[tokio::test]
async fn http_idle_keep_alive_connections_are_closed() {
    let sb = sandbox().await;
    let (_child, url) = http_server(&sb, &["--header-read-timeout", "1"], &[]).await;
    let addr = addr_of(&url);
    let mut sock = TcpStream::connect(addr).await.unwrap();
    sock.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let (text, closed) = read_until_closed(&mut sock, Duration::from_secs(8)).await;
    assert_eq!(status_of(&text), 200, "{text}");
    assert!(closed, "an idle keep-alive connection stays open");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A body that yields one byte every 300 ms, forever.
fn dripping_body() -> reqwest::Body {
    let stream = futures_util::stream::unfold(0u64, |n| async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Some((Ok::<_, std::io::Error>(vec![b' ']), n + 1))
    });
    reqwest::Body::wrap_stream(stream)
}

#[tokio::test]
async fn http_bodies_dripped_slowly_are_cut_off_on_http1_and_h2c() {
    let sb = sandbox().await;
    let (_child, url) = http_server(
        &sb,
        &["--header-read-timeout", "1", "--body-read-timeout", "1"],
        &[],
    )
    .await;
    let addr = addr_of(&url);

    // HTTP/1.1 with a Content-Length, by hand; read while dripping.
    let sock = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = sock.into_split();
    wr.write_all(
        b"POST /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: application/json, text/event-stream\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let reader = tokio::spawn(async move {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        let closed = tokio::time::timeout(Duration::from_secs(8), async {
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await
        .is_ok();
        (
            String::from_utf8_lossy(&out).into_owned(),
            closed,
            started.elapsed(),
        )
    });
    let drip = tokio::spawn(async move {
        for _ in 0..30 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if wr.write_all(b" ").await.is_err() {
                break;
            }
        }
    });
    let (text, closed, took) = reader.await.unwrap();
    drip.abort();
    assert!(
        closed,
        "HTTP/1.1: a dripped body keeps the connection: {text}"
    );
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    assert_eq!(status_of(&text), 408, "{text}");

    // Chunked HTTP/1.1 and h2c (prior knowledge), through reqwest.
    for (what, client) in [
        ("http/1.1 chunked", reqwest::Client::new()),
        (
            "h2c",
            reqwest::Client::builder()
                .http2_prior_knowledge()
                .build()
                .unwrap(),
        ),
    ] {
        let started = Instant::now();
        let resp = tokio::time::timeout(
            Duration::from_secs(8),
            client
                .post(&url)
                .header("Accept", SSE_AND_JSON)
                .header("Content-Type", "application/json")
                .body(dripping_body())
                .send(),
        )
        .await
        .unwrap_or_else(|_| panic!("{what}: a dripped body is never cut off"));
        if let Ok(resp) = resp {
            assert_eq!(resp.status(), 408, "{what}");
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{what}");
    }

    // h2c works for a normal request.
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let resp = client
        .post(&url)
        .header("Accept", SSE_AND_JSON)
        .header("Content-Type", "application/json")
        .body(init_body("2025-06-18").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
}

#[tokio::test]
async fn http_idle_sockets_at_the_connection_cap_make_room_for_new_clients() {
    let sb = sandbox().await;
    let (_child, url) = http_server(&sb, &["--max-connections", "4"], &[]).await;
    let addr = addr_of(&url);
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let resp = tokio::time::timeout(
        Duration::from_secs(3),
        reqwest::get(format!("http://{addr}/healthz")),
    )
    .await
    .expect("answered at once")
    .expect("a new client is served while idle sockets hold every slot");
    assert_eq!(resp.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn http_session_cap_evicts_the_longest_idle_session() {
    let sb = sandbox().await;
    let (_child, url) = http_server(&sb, &["--max-sessions", "2"], &[]).await;
    let v = "2025-06-18";
    let list = |id: u64| json!({"jsonrpc":"2.0","id":id,"method":"tools/list"});

    // A has a slow call in flight; B was used more recently than A's call started.
    let (a, _) = session(&url, v).await;
    let (b, _) = session(&url, v).await;
    admin(
        &sb,
        "faults",
        json!({"route": "POST /parties/filters/results", "delay_ms": 2500, "times": 1}),
    )
    .await;
    let slow = tokio::spawn(
        in_session(
            &url,
            &a,
            v,
            json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{
                "name":"crm_list_contacts","arguments":{"limit":2}}}),
        )
        .send(),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let resp = in_session(&url, &b, v, list(9)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let _ = resp.text().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // A third client gets a session (not 503): B, the idle one, makes room.
    let (c, _) = session(&url, v).await;
    let resp = in_session(&url, &b, v, list(4)).send().await.unwrap();
    assert_eq!(resp.status(), 404, "the idle session was evicted");
    let resp = slow.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    let messages = answers(&resp.text().await.unwrap());
    assert!(
        messages
            .iter()
            .any(|m| m["id"] == 3 && m["result"].is_object())
    );
    for sid in [&a, &c] {
        let resp = in_session(&url, sid, v, list(5)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "session {sid}");
    }
}

#[tokio::test]
async fn http_host_check_looks_at_every_host_and_refuses_ambiguity() {
    let sb = sandbox().await;
    let (_child, url) = http_server(&sb, &[], &[]).await;
    let addr = addr_of(&url);
    let request = |target: &str, hosts: &[&str]| {
        let mut r = format!("GET {target} HTTP/1.1\r\n");
        for h in hosts {
            r.push_str(&format!("Host: {h}\r\n"));
        }
        r.push_str("Connection: close\r\n\r\n");
        r.into_bytes()
    };
    let cases = [
        (
            "two Host headers",
            request("/healthz", &["localhost", "evil.example"]),
        ),
        (
            "two Host headers, evil first",
            request("/healthz", &["evil.example", "localhost"]),
        ),
        (
            "absolute-form target on a foreign host",
            request("http://evil.example/healthz", &["localhost"]),
        ),
        ("userinfo in Host", request("/healthz", &["user@localhost"])),
        (
            "userinfo in Host with port",
            request("/healthz", &["user:pw@localhost:8787"]),
        ),
    ];
    for (what, bytes) in cases {
        let (text, _) = raw_exchange(addr, &bytes, Duration::from_secs(5)).await;
        assert_eq!(status_of(&text), 403, "{what}: {text}");
    }
    // The plain forms still work.
    for bytes in [
        request("/healthz", &["localhost"]),
        request("http://localhost/healthz", &["localhost"]),
    ] {
        let (text, _) = raw_exchange(addr, &bytes, Duration::from_secs(5)).await;
        assert_eq!(status_of(&text), 200, "{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// Operator mistakes refused at start-up
// ---------------------------------------------------------------------------------------------

async fn start_up_error(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(20), cmd.output())
        .await
        .expect("exits at start-up")
        .unwrap();
    assert!(!out.status.success(), "{args:?} {env:?} started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn an_empty_http_auth_token_is_a_start_up_error() {
    for empty in ["", "   "] {
        let stderr = start_up_error(
            &["http", "--sandbox", "--listen", "127.0.0.1:0"],
            &[("CAPSULE_MCP_AUTH_TOKEN", empty)],
        )
        .await;
        assert!(stderr.contains("CAPSULE_MCP_AUTH_TOKEN"), "{stderr}");
    }
}

#[tokio::test]
async fn a_capsule_token_with_control_characters_is_a_start_up_error() {
    for bad in [
        "CANARY-abc\ndef",
        "CANARY-abc\rdef",
        "CANARY\u{7}x",
        "CANARY x\ty",
    ] {
        let stderr = start_up_error(
            &["stdio"],
            &[
                ("CAPSULE_ACCESS_TOKEN", bad),
                ("CAPSULE_API_URL", "http://127.0.0.1:9/api/v2"),
            ],
        )
        .await;
        assert!(stderr.contains("CAPSULE_ACCESS_TOKEN"), "{stderr}");
        assert!(!stderr.contains("CANARY"), "the token is printed: {stderr}");
    }
}

#[tokio::test]
async fn userinfo_in_the_api_url_is_a_start_up_error() {
    for url in [
        "http://user:CANARY-pw@127.0.0.1:9/api/v2",
        "https://CANARY-user@api.capsulecrm.com/api/v2",
    ] {
        let stderr = start_up_error(
            &["stdio"],
            &[("CAPSULE_ACCESS_TOKEN", "tok"), ("CAPSULE_API_URL", url)],
        )
        .await;
        assert!(stderr.contains("CAPSULE_API_URL"), "{stderr}");
        assert!(
            !stderr.contains("CANARY"),
            "the URL's userinfo is echoed: {stderr}"
        );
    }
}

/// One POST at protocol 2025-06-18 (in the session `sid` when given): its status, content type
/// and body text.
async fn raw_post(url: &str, sid: Option<&str>, body: Value) -> (u16, String, String) {
    let mut req = post(url).header("mcp-protocol-version", "2025-06-18");
    if let Some(sid) = sid {
        req = req.header("mcp-session-id", sid);
    }
    let resp = req.body(body.to_string()).send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, resp.text().await.unwrap())
}

/// The answer to one stateless `tools/call`, as JSON, and its status and content type.
async fn stateless_call(url: &str, params: Value) -> (u16, String, Value) {
    let body = json!({"jsonrpc":"2.0","id":41,"method":"tools/call","params": params});
    let (status, ct, text) = raw_post(url, None, body).await;
    (status, ct, serde_json::from_str(&text).unwrap())
}

/// Stateless `tools/call`s are answered by the server's direct path (issue 14) unless they
/// carry `_meta`, which sends them through rmcp: the two answers must be the same, for a
/// record, a page, a tool error and a refused argument.
#[tokio::test]
async fn a_stateless_tool_call_answers_the_same_on_the_direct_path_as_through_rmcp() {
    let sb = sandbox().await;
    let (_child, url) = http_server(&sb, &["--stateless"], &[]).await;
    for (tool, args) in [
        ("crm_get_contact", json!({"id": "102"})),
        ("crm_list_contacts", json!({"limit": 3})),
        ("crm_get_contact", json!({"id": "101"})),
        ("crm_get_contact", json!({"id": "x", "nope": 1})),
    ] {
        let direct = stateless_call(&url, json!({"name": tool, "arguments": args})).await;
        let through_rmcp = stateless_call(
            &url,
            json!({"name": tool, "arguments": args, "_meta": {"io.example/trace": "t"}}),
        )
        .await;
        assert_eq!(direct, through_rmcp, "{tool} {args}");
        assert_eq!(direct.0, 200);
        assert!(direct.1.starts_with("application/json"), "{:?}", direct.1);
        assert_eq!(direct.2["id"], 41);
        assert!(
            direct.2["result"]["content"][0]["text"].is_string(),
            "{}",
            direct.2
        );
    }
    // An unknown tool is rmcp's to word, on either path.
    let unknown = stateless_call(&url, json!({"name": "crm_nope", "arguments": {}})).await;
    assert_eq!(unknown.2["error"]["code"], -32602, "{}", unknown.2);
}

/// The raw answer to one `tools/list` (a session's when `sid` is given).
async fn tool_list(url: &str, sid: Option<&str>, params: Value) -> (u16, String, String) {
    let body = json!({"jsonrpc":"2.0","id":"l\"1","method":"tools/list","params": params});
    raw_post(url, sid, body).await
}

/// A plain `tools/list` over HTTP is answered from the catalogue encoded once (issue 14); with
/// `_meta` it goes through rmcp, which encodes the tools itself. Byte for byte the same answer,
/// and the same tools as the reviewed catalogue, stateless and in a session.
#[tokio::test]
async fn a_tool_list_answers_the_same_bytes_on_the_direct_path_as_through_rmcp() {
    let sb = sandbox().await;
    let (_child, url) = http_server(&sb, &["--stateless"], &[]).await;
    let direct = tool_list(&url, None, json!({"cursor": "ignored"})).await;
    let through_rmcp = tool_list(&url, None, json!({"_meta": {"io.example/trace": "t"}})).await;
    assert_eq!(direct, through_rmcp);
    assert_eq!(direct.0, 200);
    assert!(direct.1.starts_with("application/json"), "{:?}", direct.1);
    let answer: Value = serde_json::from_str(&direct.2).unwrap();
    assert_eq!(answer["id"], "l\"1");
    assert!(answer["result"].get("resultType").is_none(), "{answer}");
    let names: Vec<&str> = answer["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let catalogue = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tools"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count();
    assert_eq!(names.len(), catalogue, "{names:?}");
    for t in answer["result"]["tools"].as_array().unwrap() {
        let file = format!(
            "{}/tools/{}.json",
            env!("CARGO_MANIFEST_DIR"),
            t["name"].as_str().unwrap()
        );
        let reviewed: Value =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        assert_eq!(t, &reviewed, "{}", t["name"]);
    }

    // In a session: the direct answer is JSON, rmcp's an SSE stream; the message is the same.
    let (_child, url) = http_server(&sb, &[], &[]).await;
    let (sid, _) = session(&url, "2025-06-18").await;
    let direct = tool_list(&url, Some(&sid), json!({})).await;
    let through_rmcp = tool_list(
        &url,
        Some(&sid),
        json!({"_meta": {"io.example/trace": "t"}}),
    )
    .await;
    assert_eq!(direct.0, 200);
    assert!(direct.1.starts_with("application/json"), "{:?}", direct.1);
    let (messages, _) = sse_messages(&through_rmcp.2);
    assert_eq!(messages, vec![answer], "{}", through_rmcp.2);
    assert_eq!(
        serde_json::from_str::<Value>(&direct.2).unwrap(),
        messages[0]
    );
}

/// A plain `initialize` is answered by the front end, which opens the session without an rmcp
/// worker (issue 14); one with an `Mcp-Method` header is left to rmcp. Both answers carry the
/// same message, and the front end's session serves what rmcp's does: direct calls, requests
/// only rmcp serves (which start its worker), the standalone stream, and DELETE.
#[tokio::test]
async fn an_initialize_answers_the_same_on_the_front_end_as_through_rmcp() {
    let sb = sandbox().await;
    let (_child, url) = http_server(&sb, &[], &[]).await;
    for version in ["2025-06-18", "2025-11-25"] {
        let front = post(&url)
            .body(init_body(version).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(front.status(), 200);
        assert_eq!(front.headers()["content-type"], "application/json");
        let sid = front.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let front: Value = front.json().await.unwrap();

        let rmcp = rmcp_initialize(&url, version).await;
        assert_eq!(rmcp.status(), 200);
        assert!(rmcp.headers().contains_key("mcp-session-id"));
        let (messages, _) = sse_messages(&rmcp.text().await.unwrap());
        assert_eq!(messages, vec![front.clone()], "{version}");
        assert_eq!(front["result"]["protocolVersion"], version, "{front}");

        let note = json!({"jsonrpc":"2.0","method":"notifications/initialized"});
        let resp = in_session(&url, &sid, version, note).send().await.unwrap();
        assert_eq!(resp.status(), 202);
        let stream = reqwest::Client::new()
            .get(&url)
            .header("Accept", "text/event-stream")
            .header("Mcp-Session-Id", &sid)
            .header("MCP-Protocol-Version", version)
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), 200);
        assert_eq!(stream.headers()["content-type"], "text/event-stream");

        let call = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{
            "name":"crm_get_contact","arguments":{"id":"150"}}});
        let resp = in_session(&url, &sid, version, call).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let answer = answers(&resp.text().await.unwrap());
        assert_eq!(answer[0]["result"]["isError"], false, "{answer:?}");
        let prompts = json!({"jsonrpc":"2.0","id":3,"method":"prompts/list"});
        let resp = in_session(&url, &sid, version, prompts)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let answer = answers(&resp.text().await.unwrap());
        assert!(answer[0]["result"]["prompts"].is_array(), "{answer:?}");

        let resp = reqwest::Client::new()
            .delete(&url)
            .header("Mcp-Session-Id", &sid)
            .header("MCP-Protocol-Version", version)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 204);
        // The standalone stream ends with the session.
        let rest = tokio::time::timeout(Duration::from_secs(5), stream.text()).await;
        assert!(
            rest.is_ok(),
            "the GET stream should end when the session does"
        );
        let ping = json!({"jsonrpc":"2.0","id":4,"method":"ping"});
        let resp = in_session(&url, &sid, version, ping).send().await.unwrap();
        assert_eq!(resp.status(), 404);
    }
}
