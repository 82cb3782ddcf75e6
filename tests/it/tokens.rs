//! What the model pays on every turn, counted with its tokenizer (`o200k_base`): the catalogue
//! as a client receives it (compact `{name, description, inputSchema}` per tool) and the server
//! instructions. The targets are issue 10's; `cargo bench --bench context` prints the figures
//! and the result-side ratios.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use capsule_mcp::{
    server::{INSTRUCTIONS, Registry, Selection},
    tools::catalogue::model_view,
};

fn count(text: &str) -> usize {
    static BPE: OnceLock<tiktoken_rs::CoreBPE> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::o200k_base().unwrap())
        .encode_with_special_tokens(text)
        .len()
}

fn per_tool(selection: &Selection) -> Vec<(String, usize)> {
    Registry::build(selection)
        .unwrap()
        .tools()
        .unwrap()
        .iter()
        .map(|t| (t.name.to_string(), count(&model_view(t))))
        .collect()
}

fn total(selection: &Selection) -> usize {
    per_tool(selection).iter().map(|(_, n)| n).sum()
}

#[test]
fn the_instructions_fit_in_150_tokens() {
    let n = count(INSTRUCTIONS);
    assert!(n <= 150, "instructions are {n} tokens");
}

#[test]
fn capsule_api_request_fits_in_200_tokens() {
    let tools = per_tool(&Selection::default());
    let (_, n) = tools
        .iter()
        .find(|(name, _)| name == "capsule_api_request")
        .unwrap();
    assert!(*n <= 200, "capsule_api_request is {n} tokens");
}

#[test]
fn the_whole_catalogue_fits_in_5000_tokens() {
    let n = total(&Selection::default());
    assert!(n <= 5_000, "the catalogue is {n} tokens");
}

#[test]
fn the_read_only_surface_fits_in_2000_tokens() {
    let n = total(&Selection {
        read_only: true,
        ..Default::default()
    });
    assert!(n <= 2_000, "the read-only surface is {n} tokens");
}

#[test]
fn no_tool_takes_more_than_250_tokens() {
    let over: Vec<_> = per_tool(&Selection::default())
        .into_iter()
        .filter(|(_, n)| *n > 250)
        .collect();
    assert!(over.is_empty(), "over 250 tokens: {over:?}");
}

// ---------------------------------------------------------------- results (issue 10)
// Computed as the bench does: the text block of the result against the raw Capsule JSON of the
// same sandbox records (`embed=tags,fields`).

use crate::common::{call, ok, sandbox, stdio_client};
use capsule_mcp::sandbox::ADMIN_TOKEN;
use serde_json::{Value, json};

/// The text content the model reads.
async fn text_of(client: &crate::common::Peer, tool: &str, args: Value) -> String {
    let r = call(client, tool, args.clone()).await;
    assert_ne!(r.is_error, Some(true), "{tool} {args} failed");
    r.content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .expect("a text block")
}

async fn raw(sb: &capsule_mcp::sandbox::Sandbox, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}{path}", sb.api_url()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_50_contact_page_costs_at_most_035x_the_raw_parties() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let page = text_of(&client, "crm_list_contacts", json!({"limit": 50})).await;
    let v: Value = serde_json::from_str(&page).unwrap();
    let mut parties = Vec::new();
    for r in v["result"].as_array().unwrap() {
        let id = r["id"].as_str().unwrap();
        parties.push(raw(&sb, &format!("/parties/{id}?embed=tags,fields")).await["party"].clone());
    }
    assert_eq!(parties.len(), 50);
    let (ours, theirs) = (
        count(&page),
        count(&json!({ "parties": parties }).to_string()),
    );
    let ratio = ours as f64 / theirs as f64;
    assert!(ratio <= 0.35, "{ours} vs raw {theirs}: {ratio:.2}x");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_contact_get_costs_at_most_06x_the_raw_party() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let got = text_of(&client, "crm_get_contact", json!({"id": "120"})).await;
    let theirs = count(&raw(&sb, "/parties/120?embed=tags,fields").await.to_string());
    let ratio = count(&got) as f64 / theirs as f64;
    assert!(ratio <= 0.6, "{} vs raw {theirs}: {ratio:.2}x", count(&got));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn every_default_argument_list_fits_in_8000_tokens() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    for tool in [
        "crm_list_contacts",
        "crm_list_accounts",
        "crm_list_opportunities",
        "crm_list_projects",
        "crm_list_tasks",
        "crm_list_notes",
        "crm_list_engagements",
        "crm_list_users",
        "crm_list_pipelines",
        "crm_list_stages",
        "crm_list_engagement_types",
        "directory_list_users",
    ] {
        let n = count(&text_of(&client, tool, json!({})).await);
        assert!(n <= 8_000, "{tool}: {n} tokens");
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_full_page_over_the_budget_is_cut_and_the_cursor_resumes_at_the_cut() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    // 100 more people with long backgrounds: 100 whole records pass 8,000 tokens.
    for i in 0..100 {
        let r = reqwest::Client::new()
            .post(format!("{}/parties", sb.api_url()))
            .bearer_auth(ADMIN_TOKEN)
            .json(
                &json!({"party": {"type": "person", "firstName": "Long", "lastName": i.to_string(),
                "about": "background ".repeat(40)}}),
            )
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let args = json!({"limit": 100, "detail": "full"});
    let text = text_of(&client, "crm_list_contacts", args).await;
    let first: Value = serde_json::from_str(&text).unwrap();
    let n = count(&text);
    assert!(n <= 8_000, "a cut page is {n} tokens");
    assert_eq!(first["truncated"], "budget");
    let got = first["result_count"].as_u64().unwrap();
    assert!((1..100).contains(&got), "{got} records");
    assert!(
        first["result"][0]["first_name"].is_string(),
        "detail full: whole records"
    );
    // The next page starts at the first record left out: nothing twice, nothing missed.
    let mut seen: Vec<String> = first["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let mut cursor = first["next_cursor"].clone();
    while cursor.is_string() {
        let page = ok(
            &client,
            "crm_list_contacts",
            json!({"cursor": cursor, "detail": "full"}),
        )
        .await;
        seen.extend(
            page["result"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned()),
        );
        cursor = page["next_cursor"].clone();
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "a record came twice");
    assert_eq!(seen.len(), 160, "the sandbox's 60 people and the 100 added");
    // Summaries of the same page: lean records, more of them within the budget.
    let lean = ok(&client, "crm_list_contacts", json!({"limit": 100})).await;
    assert!(lean["result_count"].as_u64().unwrap() > got);
    assert!(lean["result"][0]["first_name"].is_null());
    client.cancel().await.unwrap();
}
