//! The MCP server end to end: the real binary, real rmcp clients over stdio and HTTP, the
//! sandbox Capsule on loopback. Request counts come from the sandbox's own stats.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{collections::HashSet, time::Duration};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::common::*;

#[tokio::test]
async fn lists_contacts_across_two_pages_with_the_cursor() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let first = ok(&client, "crm_list_contacts", json!({"limit": 5})).await;
    assert_eq!(first["result_count"], 5);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    for c in first["result"].as_array().unwrap() {
        assert!(c["name"].as_str().is_some_and(|n| !n.is_empty()));
        assert!(
            c.get("remote_data").is_none(),
            "remote_data only when asked"
        );
    }
    let second = ok(&client, "crm_list_contacts", json!({"cursor": cursor})).await;
    assert_eq!(second["result_count"], 5);
    let a: HashSet<_> = ids(&first).into_iter().collect();
    let b: HashSet<_> = ids(&second).into_iter().collect();
    assert!(a.is_disjoint(&b), "the second page repeats the first");
    // Filters given with a cursor must be the cursor's.
    let e = err(
        &client,
        "crm_list_contacts",
        json!({"cursor": first["next_cursor"], "search": "zzz"}),
    )
    .await;
    assert_eq!(e["code"], "invalid_argument");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn fetch_all_reads_every_contact_up_to_the_bound() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let all = ok(
        &client,
        "crm_list_contacts",
        json!({"fetch_all": true, "limit": 25}),
    )
    .await;
    assert_eq!(all["result_count"], 60, "the sandbox seeds 60 people");
    assert!(all["next_cursor"].is_null());
    let some = ok(
        &client,
        "crm_list_contacts",
        json!({"fetch_all": true, "limit": 10, "max_records": 20}),
    )
    .await;
    assert_eq!(some["result_count"], 20);
    assert!(some["next_cursor"].is_string());
    // `max_records` alone asks for every page up to it, as `fetch_all` with it does.
    let alone = ok(&client, "crm_list_contacts", json!({"max_records": 30})).await;
    assert_eq!(alone["result_count"], 30);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn contact_round_trip_with_a_custom_field_by_name() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    // A text custom field that applies to people, found through the proxy.
    let defs = ok(
        &client,
        "capsule_api_request",
        json!({"method": "GET", "path": "/parties/fields/definitions"}),
    )
    .await;
    let field = defs["body"]["definitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["type"] == "text" && d["captureRule"] != "organisation" && d["tag"].is_null())
        .expect("a text party field in the seed")["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let account = ok(&client, "crm_list_accounts", json!({"limit": 1})).await["result"][0].clone();

    let created = ok(
        &client,
        "crm_create_contact",
        json!({
            "first_name": "Ada", "last_name": "Lovelace", "title": "Analyst",
            "account_id": account["id"],
            "email_addresses": [{"email": "ada@example.com", "type": "Work"}],
            "phone_numbers": [{"number": "+44 20 7946 0000", "type": "Mobile"}],
            "tags": ["Mathematician"]
        }),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (&created["first_name"], &created["last_name"]),
        (&json!("Ada"), &json!("Lovelace"))
    );
    assert_eq!(created["account"]["id"], account["id"]);
    assert_eq!(created["email_addresses"][0]["email"], "ada@example.com");

    let got = ok(&client, "crm_get_contact", json!({"id": id})).await;
    assert_eq!(got["title"], "Analyst");
    assert_eq!(got["phone_numbers"][0]["type"], "Mobile");
    assert!(
        got["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "Mathematician")
    );

    // Rows are addressed by value: the old address is removed by naming it.
    let updated = ok(
        &client,
        "crm_update_contact",
        json!({
            "id": id, "custom_fields": {field.clone(): "Analytical Engine"},
            "email_addresses": [{"email": "ada@example.com", "delete": true},
                                {"email": "ada@engine.org"}],
            "remove_tags": ["Mathematician"], "title": null
        }),
    )
    .await;
    assert_eq!(updated["custom_fields"][&field], "Analytical Engine");
    let emails: Vec<&str> = updated["email_addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, vec!["ada@engine.org"]);
    assert!(updated.get("title").is_none(), "null cleared the job title");
    assert!(
        updated
            .get("tags")
            .is_none_or(|t| t.as_array().unwrap().is_empty())
    );

    let deleted = ok(&client, "crm_delete_contact", json!({"id": id})).await;
    assert_eq!(deleted, json!({"id": id, "deleted": true}));
    let gone = err(&client, "crm_get_contact", json!({"id": id})).await;
    assert_eq!(gone["status"], 404);
    assert_eq!(gone["code"], "not_found");
    assert!(
        gone["message"]
            .as_str()
            .unwrap()
            .contains("crm_list_contacts")
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn account_round_trip_and_kind_checks() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let created = ok(&client, "crm_create_account", json!({
        "name": "Difference Engines Ltd", "description": "Brass and steam",
        "urls": [{"url": "https://engines.example"}],
        "addresses": [{"street_1": "1 Babbage Row", "city": "London", "country": "United Kingdom", "type": "Office"}]
    })).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["website"], "https://engines.example");
    assert_eq!(created["addresses"][0]["city"], "London");
    let updated = ok(
        &client,
        "crm_update_account",
        json!({"id": id, "name": "Analytical Engines Ltd"}),
    )
    .await;
    assert_eq!(updated["name"], "Analytical Engines Ltd");
    assert_eq!(
        updated["description"], "Brass and steam",
        "fields left out keep their value"
    );
    // An account id is not a contact.
    let e = err(&client, "crm_get_contact", json!({"id": id})).await;
    assert_eq!(e["code"], "not_found");
    let e = err(&client, "crm_delete_contact", json!({"id": id})).await;
    assert_eq!(
        e["code"], "not_found",
        "a contact delete must not delete an account"
    );
    ok(&client, "crm_get_account", json!({"id": id})).await;
    ok(&client, "crm_delete_account", json!({"id": id})).await;
    assert_eq!(
        err(&client, "crm_get_account", json!({"id": id})).await["status"],
        404
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn bad_arguments_never_reach_capsule() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let before = total_requests(&sb).await;
    let cases = [
        ("crm_get_contact", json!({})),
        ("crm_get_contact", json!({"id": "abc"})),
        ("crm_get_contact", json!({"id": "1", "bogus": true})),
        ("crm_list_contacts", json!({"limit": 1000})),
        ("crm_list_contacts", json!({"updated_after": "yesterday"})),
        ("crm_list_contacts", json!({"cursor": "garbage"})),
        ("crm_list_contacts", json!({"max_records": 5_001})),
        ("crm_create_contact", json!({"title": "No name"})),
        (
            "crm_create_contact",
            json!({"first_name": "X", "email_addresses": [{"id": "1", "email": "a@b"}]}),
        ),
        ("crm_update_contact", json!({"id": "1", "owner_id": " "})),
        ("crm_create_account", json!({})),
        (
            "capsule_api_request",
            json!({"method": "GET", "path": "/../oauth/token"}),
        ),
        (
            "capsule_api_request",
            json!({"method": "GET", "path": "//evil.example/x"}),
        ),
        (
            "capsule_api_request",
            json!({"method": "GET", "path": "/parties%2f..%2f..%2foauth"}),
        ),
        (
            "capsule_api_request",
            json!({"method": "PATCH", "path": "/parties"}),
        ),
    ];
    for (tool, args) in cases {
        let e = err(&client, tool, args.clone()).await;
        assert_eq!(e["code"], "invalid_argument", "{tool} {args}: {e}");
        assert_eq!(e["status"], 400);
    }
    assert_eq!(
        total_requests(&sb).await,
        before,
        "no request may reach Capsule"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn capsule_validation_errors_are_kept_in_details() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let e = err(
        &client,
        "crm_create_contact",
        json!({
            "first_name": "Bad", "addresses": [{"city": "Nowhere", "country": "Narnia"}]
        }),
    )
    .await;
    assert_eq!(e["status"], 422);
    assert_eq!(e["code"], "validation_failed");
    let details = e["details"].to_string();
    assert!(
        details.contains("country"),
        "Capsule's field error kept: {details}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn dry_run_sends_nothing() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let before = total_requests(&sb).await;
    let plan = ok(
        &client,
        "crm_create_contact",
        json!({"first_name": "Dry", "dry_run": true}),
    )
    .await;
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["method"], "POST");
    assert_eq!(plan["path"], "/parties");
    assert_eq!(plan["body"]["party"]["firstName"], "Dry");
    let plan = ok(
        &client,
        "crm_delete_account",
        json!({"id": "12", "dry_run": true}),
    )
    .await;
    assert_eq!(plan["method"], "DELETE");
    assert_eq!(total_requests(&sb).await, before);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn proxy_get_and_request_counts() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let r = ok(
        &client,
        "capsule_api_request",
        json!({"method": "GET", "path": "/parties", "query": {"perPage": "2"}}),
    )
    .await;
    assert_eq!(r["status"], 200);
    assert_eq!(r["body"]["parties"].as_array().unwrap().len(), 2);
    assert!(
        r["headers"]["Link"]
            .as_str()
            .unwrap()
            .contains("rel=\"next\"")
    );
    assert!(r["headers"]["X-RateLimit-Remaining"].is_string());
    let missing = err(
        &client,
        "capsule_api_request",
        json!({"method": "GET", "path": "/parties/999999999"}),
    )
    .await;
    assert_eq!(missing["status"], 404);

    // One Capsule request for a get; one for a list page.
    let id = ids(&ok(&client, "crm_list_contacts", json!({"limit": 1})).await)[0].clone();
    let shows = requests(&sb, "GET /parties/{id}").await;
    ok(&client, "crm_get_contact", json!({"id": id})).await;
    assert_eq!(requests(&sb, "GET /parties/{id}").await, shows + 1);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn unknown_tools_are_protocol_errors() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &["--read-only"]).await;
    let tools = client.list_all_tools().await.unwrap();
    assert!(
        tools
            .iter()
            .all(|t| t.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true))
    );
    let r = client
        .call_tool(rmcp::model::CallToolRequestParams::new(
            "crm_delete_contact",
        ))
        .await;
    assert!(r.is_err(), "a tool not served is an unknown tool");
    let e = err(
        &client,
        "capsule_api_request",
        json!({"method": "DELETE", "path": "/parties/1"}),
    )
    .await;
    assert_eq!(e["code"], "forbidden");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn every_stdout_line_is_json_rpc() {
    let sb = sandbox().await;
    let mut child = command(&sb, &["stdio"])
        .env("RUST_LOG", "debug")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let msgs = [
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}),
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
        json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"crm_list_contacts","arguments":{"limit":2},"_meta":{"progressToken":"p"}}}),
        json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"crm_get_contact","arguments":{"id":"nope"}}}),
        json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"no_such_tool","arguments":{}}}),
    ];
    for m in &msgs {
        stdin.write_all(format!("{m}\n").as_bytes()).await.unwrap();
    }
    stdin.write_all(b"this is not json\n").await.unwrap();
    stdin.flush().await.unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = HashSet::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while seen.len() < 5 {
            let Some(line) = lines.next_line().await.unwrap() else {
                break;
            };
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not JSON on stdout: {line:?}: {e}"));
            assert_eq!(v["jsonrpc"], "2.0", "{line}");
            if let Some(id) = v.get("id").and_then(Value::as_i64) {
                seen.insert(id);
            }
        }
    })
    .await;
    assert!(read.is_ok(), "answers to every request: saw {seen:?}");
    drop(stdin);
    let _ = child.kill().await;
}

#[tokio::test]
async fn http_round_trip_and_bearer() {
    let sb = sandbox().await;
    let (_child, url) = http_server(&sb, &[], &[]).await;
    let client = http_client(&url).await;
    let page = ok(&client, "crm_list_accounts", json!({"limit": 3})).await;
    assert_eq!(page["result_count"], 3);
    let id = ids(&page)[0].clone();
    let got = ok(&client, "crm_get_account", json!({"id": id})).await;
    assert_eq!(got["id"], id);
    client.cancel().await.unwrap();

    let (_child, url) = http_server(
        &sb,
        &["--stateless"],
        &[("CAPSULE_MCP_AUTH_TOKEN", "test-bearer-0123456789")],
    )
    .await;
    let resp = reqwest::Client::new()
        .post(&url)
        .header("Accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().contains_key("www-authenticate"));
    let resp = reqwest::Client::new()
        .post(&url)
        .header("Host", "evil.example")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn refuses_to_start_without_credentials_and_call_works_on_the_sandbox() {
    let out = tokio::process::Command::new(BIN)
        .args(["stdio"])
        .env_clear()
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("CAPSULE_ACCESS_TOKEN") && stderr.contains("--sandbox"),
        "{stderr}"
    );

    let out = tokio::process::Command::new(BIN)
        .args(["call", "crm_list_contacts", r#"{"limit": 2}"#, "--sandbox"])
        .env_clear()
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["result_count"], 2);

    let out = tokio::process::Command::new(BIN)
        .args(["call", "crm_get_contact", r#"{"id": "x"}"#, "--sandbox"])
        .env_clear()
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "a tool error exits non-zero");

    let out = tokio::process::Command::new(BIN)
        .args(["--api-url", "ftp://nope", "call", "crm_list_contacts"])
        .env_clear()
        .env("CAPSULE_ACCESS_TOKEN", "x")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("http(s)"));
}

type Seen = Vec<(f64, Option<String>)>;

#[derive(Clone, Default)]
struct ProgressRecorder(std::sync::Arc<std::sync::Mutex<Seen>>);

impl rmcp::ClientHandler for ProgressRecorder {
    async fn on_progress(
        &self,
        params: rmcp::model::ProgressNotificationParam,
        _ctx: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        self.0
            .lock()
            .unwrap()
            .push((params.progress, params.message));
    }
}

#[tokio::test]
async fn fetch_all_sends_progress_as_pages_arrive() {
    use rmcp::ServiceExt;
    let sb = sandbox().await;
    let (transport, _) = rmcp::transport::TokioChildProcess::builder(command(&sb, &["stdio"]))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let recorder = ProgressRecorder::default();
    let client = recorder.clone().serve(transport).await.unwrap();
    // fetch_all reads pages of 100 whatever the limit: 45 more people make two pages.
    for i in 0..45 {
        let r = reqwest::Client::new()
            .post(format!("{}/parties", sb.api_url()))
            .bearer_auth(capsule_mcp::sandbox::ADMIN_TOKEN)
            .json(&json!({"party": {"type": "person", "firstName": "Extra", "lastName": i.to_string()}}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let mut params = rmcp::model::CallToolRequestParams::new("crm_list_contacts").with_arguments(
        json!({"fetch_all": true, "limit": 20})
            .as_object()
            .cloned()
            .unwrap(),
    );
    params.meta = Some(rmcp::model::RequestMetaObject::with_progress_token(
        rmcp::model::ProgressToken(rmcp::model::NumberOrString::String("pages".into())),
    ));
    let before = requests(&sb, "POST /parties/filters/results").await;
    let r = client.call_tool(params).await.unwrap();
    assert_eq!(r.structured_content.unwrap()["result_count"], 105);
    assert_eq!(
        requests(&sb, "POST /parties/filters/results").await,
        before + 2,
        "two pages of 100, not six of 20"
    );
    // Notifications may trail the response by a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = recorder.0.lock().unwrap().clone();
    let progress: Vec<f64> = seen.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        progress,
        vec![100.0, 105.0],
        "one notification a page: {seen:?}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn contacts_and_accounts_cost_one_request_where_one_suffices() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let count = |r: &'static str| requests(&sb, r);
    let list = count("POST /parties/filters/results").await;
    ok(&client, "crm_list_accounts", json!({"limit": 10})).await;
    assert_eq!(
        count("POST /parties/filters/results").await,
        list + 1,
        "list: one request"
    );
    let posts = count("POST /parties").await;
    let created = ok(
        &client,
        "crm_create_account",
        json!({"name": "Counted Ltd"}),
    )
    .await;
    assert_eq!(
        count("POST /parties").await,
        posts + 1,
        "create: one request"
    );
    let id = created["id"].as_str().unwrap().to_owned();
    let (shows, puts) = (
        count("GET /parties/{id}").await,
        count("PUT /parties/{id}").await,
    );
    ok(
        &client,
        "crm_update_account",
        json!({"id": id, "description": "x"}),
    )
    .await;
    // One PUT, plus one GET that refuses to write account fields onto a person.
    assert_eq!(count("PUT /parties/{id}").await, puts + 1);
    assert_eq!(count("GET /parties/{id}").await, shows + 1);
    let deletes = count("DELETE /parties/{id}").await;
    ok(&client, "crm_delete_account", json!({"id": id})).await;
    assert_eq!(count("DELETE /parties/{id}").await, deletes + 1);
    // Custom field definitions were fetched once, by the first list, then cached.
    for _ in 0..3 {
        ok(&client, "crm_list_contacts", json!({"limit": 5})).await;
    }
    assert_eq!(
        count("GET /parties/fields/definitions").await,
        1,
        "definitions cached"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn field_options_are_taken_in_the_shape_they_are_read() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let plan = ok(
        &client,
        "crm_create_field",
        json!({
            "entity_type": "opportunity", "name": "Tier", "type": "enum",
            "options": [{"label": "Gold", "value": "gold"}, "silver"], "dry_run": true
        }),
    )
    .await;
    assert_eq!(
        plan["body"]["definition"]["options"],
        json!(["gold", "silver"])
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn remote_data_cannot_bypass_the_guards() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let before = total_requests(&sb).await;
    let e = err(
        &client,
        "crm_update_opportunity",
        json!({
            "id": "300", "remote_data": {"milestone": {"id": 2}}
        }),
    )
    .await;
    assert_eq!(e["code"], "invalid_argument");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("remote_data.milestone"),
        "{e}"
    );
    let e = err(
        &client,
        "crm_create_task",
        json!({
            "subject": "x", "due_date": "2026-12-01", "account_id": "101",
            "remote_data": {"opportunity": {"id": 300}}, "dry_run": true
        }),
    )
    .await;
    assert_eq!(e["code"], "invalid_argument");
    assert_eq!(
        total_requests(&sb).await,
        before,
        "refused before any request"
    );
    // A create whose linked record does not exist names the arguments to check.
    let e = err(
        &client,
        "crm_create_contact",
        json!({"first_name": "A", "account_id": "99999"}),
    )
    .await;
    assert_eq!(e["code"], "invalid_argument");
    assert!(e["message"].as_str().unwrap().contains("*_id"), "{e}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn output_into_a_closed_pipe_ends_quietly() {
    // `capsule-mcp tools --json | head -1`: the reader goes away after one line.
    let mut child = tokio::process::Command::new(BIN)
        .args(["tools", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    tokio::io::AsyncReadExt::read_exact(&mut stdout, &mut first)
        .await
        .unwrap();
    drop(stdout);
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?} {stderr}", out.status);
}
