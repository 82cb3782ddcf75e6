//! The reviewed catalogue in `tools/` is exactly what a 2025-11-25 client receives from
//! `tools/list`, and what every client receives is a schema each real client accepts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::common::*;

/// `tools/list` over stdio, as raw JSON-RPC, after an `initialize` at `version`.
async fn listed_tools(version: &str) -> (String, Vec<Value>) {
    let sb = sandbox().await;
    let mut child = command(&sb, &["stdio"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for m in [
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":version,"capabilities":{},"clientInfo":{"name":"catalogue-test","version":"0"}}}),
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
    ] {
        stdin.write_all(format!("{m}\n").as_bytes()).await.unwrap();
    }
    stdin.flush().await.unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut negotiated = String::new();
    let tools = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            let line = lines.next_line().await.unwrap().expect("an answer");
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == 1 {
                negotiated = v["result"]["protocolVersion"].as_str().unwrap().to_owned();
            }
            if v["id"] == 2 {
                return v["result"]["tools"].as_array().unwrap().clone();
            }
        }
    })
    .await
    .expect("tools/list answers");
    drop(stdin);
    let _ = child.kill().await;
    (negotiated, tools)
}

fn on_disk() -> BTreeMap<String, Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools");
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (v["name"].as_str().unwrap().to_owned(), v)
        })
        .collect()
}

#[tokio::test]
async fn tools_dir_is_what_a_2025_11_25_client_receives() {
    let (version, tools) = listed_tools("2025-11-25").await;
    assert_eq!(version, "2025-11-25");
    let received: BTreeMap<String, Value> = tools
        .into_iter()
        .map(|t| (t["name"].as_str().unwrap().to_owned(), t))
        .collect();
    let files = on_disk();
    assert_eq!(
        received.keys().collect::<Vec<_>>(),
        files.keys().collect::<Vec<_>>(),
        "the tools listed and the files in tools/"
    );
    for (name, tool) in &received {
        assert_eq!(
            tool, &files[name],
            "tools/{name}.json differs from what a 2025-11-25 client receives"
        );
    }
}

#[tokio::test]
async fn every_protocol_version_receives_every_output_schema() {
    for version in ["2025-06-18", "2025-11-25"] {
        let (_, tools) = listed_tools(version).await;
        assert_eq!(tools.len(), on_disk().len(), "{version}: every tool");
        for t in &tools {
            let out = &t["outputSchema"];
            assert_eq!(
                out["type"], "object",
                "{version}: {} output schema",
                t["name"]
            );
        }
    }
}
