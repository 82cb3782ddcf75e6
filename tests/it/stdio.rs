//! The stdio front end as a raw client sees it: every line gets an answer (parse errors
//! included), bad params are `-32602`, and a request id already in flight is refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout},
};

use super::common::*;

/// The binary on stdio, initialized by hand; stdout read line by line.
struct Raw {
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Raw {
    async fn start(sb: &capsule_mcp::sandbox::Sandbox) -> Self {
        let mut child = command(sb, &["stdio"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut raw = Self {
            _child: child,
            stdin,
            lines,
        };
        raw.send(
            &json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-06-18","capabilities":{},
            "clientInfo":{"name":"raw","version":"0"}}}),
        )
        .await;
        let init = raw.next().await;
        assert_eq!(init["id"], 0, "{init}");
        raw.send(&json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
            .await;
        raw
    }

    async fn send(&mut self, msg: &Value) {
        self.send_bytes(format!("{msg}\n").as_bytes()).await;
    }

    async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// The next JSON-RPC message on stdout (notifications included), or a panic after 20 s.
    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(20), self.lines.next_line())
            .await
            .expect("an answer on stdout within 20 s")
            .unwrap()
            .expect("stdout still open");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"))
    }

    /// The next response or error (notifications skipped).
    async fn answer(&mut self) -> Value {
        loop {
            let v = self.next().await;
            if v.get("id").is_some() {
                return v;
            }
        }
    }
}

fn assert_error(v: &Value, code: i64, id: &Value) {
    assert_eq!(v["jsonrpc"], "2.0", "{v}");
    assert_eq!(&v["id"], id, "{v}");
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
}

#[tokio::test]
async fn stdio_lines_that_are_not_json_get_parse_errors() {
    let sb = sandbox().await;
    let mut raw = Raw::start(&sb).await;
    let deep = format!("{}{}", "[".repeat(2000), "]".repeat(2000));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("plain text", b"this is not json".to_vec()),
        (
            "truncated JSON",
            br#"{"jsonrpc":"2.0","id":1,"method""#.to_vec(),
        ),
        ("nesting too deep", deep.into_bytes()),
        (
            "invalid UTF-8",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"x\":\"\xff\xfe\"}".to_vec(),
        ),
        (
            "number out of range",
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":1e309}}"#.to_vec(),
        ),
        (
            "lone surrogate",
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","x":"\ud800"}"#.to_vec(),
        ),
    ];
    for (what, bytes) in cases {
        let mut line = bytes;
        line.push(b'\n');
        raw.send_bytes(&line).await;
        let v = raw.answer().await;
        assert_error(&v, -32700, &Value::Null);
        eprintln!("{what}: {v}");
    }
    // The session still works afterwards.
    raw.send(&json!({"jsonrpc":"2.0","id":9,"method":"tools/list"}))
        .await;
    let v = raw.answer().await;
    assert_eq!(v["id"], 9);
    assert!(
        v["result"]["tools"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );
}

#[tokio::test]
async fn stdio_invalid_requests_params_and_methods_get_their_codes() {
    let sb = sandbox().await;
    let mut raw = Raw::start(&sb).await;
    // Bad params on known methods: -32602, not -32601.
    for (id, msg) in [
        (
            3,
            json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"nme":"x"}}),
        ),
        (
            4,
            json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"crm_list_contacts","arguments":"x"}}),
        ),
        (
            5,
            json!({"jsonrpc":"2.0","id":5,"method":"tools/list","params":{"cursor":5}}),
        ),
    ] {
        raw.send(&msg).await;
        let v = raw.answer().await;
        assert_error(&v, -32602, &json!(id));
    }
    // Unknown method: -32601 that names it.
    raw.send(&json!({"jsonrpc":"2.0","id":"m","method":"no/such"}))
        .await;
    let v = raw.answer().await;
    assert_error(&v, -32601, &json!("m"));
    assert_eq!(v["error"]["message"], "Method not found: no/such");
    // Valid JSON that is not a JSON-RPC message: -32600, with the id when there is one.
    raw.send(&json!([1, 2])).await;
    assert_error(&raw.answer().await, -32600, &Value::Null);
    raw.send(&json!({"jsonrpc":"2.0","id":6})).await;
    assert_error(&raw.answer().await, -32600, &json!(6));
    raw.send(&json!({"jsonrpc":"1.0","id":7,"method":"tools/list"}))
        .await;
    assert_error(&raw.answer().await, -32600, &json!(7));
}

#[tokio::test]
async fn stdio_refuses_a_second_request_whose_id_is_in_flight() {
    let sb = sandbox().await;
    let mut raw = Raw::start(&sb).await;
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
    raw.send(&create("First")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    raw.send(&create("Second")).await;

    let refused = raw.answer().await;
    assert_error(&refused, -32600, &json!(7));
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("in flight"),
        "{refused}"
    );
    let done = raw.answer().await;
    assert_eq!(done["id"], 7, "{done}");
    assert_eq!(
        done["result"]["structuredContent"]["first_name"], "First",
        "{done}"
    );
    assert_eq!(
        requests(&sb, "POST /parties").await,
        before + 1,
        "only the first create reached Capsule"
    );
    // Once answered, the id is free again.
    raw.send(&json!({"jsonrpc":"2.0","id":7,"method":"tools/list"}))
        .await;
    let v = raw.answer().await;
    assert_eq!(v["id"], 7);
    assert!(v["result"]["tools"].is_array(), "{v}");
}
