//! What the model pays, counted with its tokenizer (`o200k_base`): the catalogue on every turn
//! (total, per tool, the read-only surface), and for the same sandbox records a list page, a get
//! and the raw Capsule JSON they come from. `cargo bench --bench context`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{sync::Arc, time::Duration};

use capsule_mcp::{
    app::App,
    capsule::{CapsuleClient, ClientOptions, auth::StaticToken},
    sandbox::{ADMIN_TOKEN, Sandbox, SandboxOptions},
    server::{CapsuleMcp, INSTRUCTIONS, Registry, Selection},
    tools::catalogue::model_view,
};
use serde_json::{Value, json};

/// Capsule's own JSON for `path_and_query` under the sandbox's API root.
async fn raw(sb: &Sandbox, path_and_query: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}{path_and_query}", sb.api_url()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn tokens(bpe: &tiktoken_rs::CoreBPE, text: &str) -> usize {
    bpe.encode_with_special_tokens(text).len()
}

#[tokio::main]
async fn main() {
    let bpe = tiktoken_rs::o200k_base().expect("o200k_base");
    let all = Registry::build(&Selection::default()).unwrap();
    let read_only = Registry::build(&Selection {
        read_only: true,
        ..Default::default()
    })
    .unwrap();
    let mut per_tool: Vec<(usize, String)> = all
        .tools()
        .unwrap()
        .iter()
        .map(|t| (tokens(&bpe, &model_view(t)), t.name.to_string()))
        .collect();
    let total: usize = per_tool.iter().map(|(n, _)| n).sum();
    let ro: usize = read_only
        .tools()
        .unwrap()
        .iter()
        .map(|t| tokens(&bpe, &model_view(t)))
        .sum();
    per_tool.sort_by(|a, b| b.cmp(a));
    println!("== catalogue (o200k_base tokens of {{name, description, inputSchema}})");
    println!(
        "total {total} for {} tools ({} a tool)",
        per_tool.len(),
        total / per_tool.len().max(1)
    );
    println!(
        "read-only surface {ro} for {} tools",
        read_only.tools().unwrap().len()
    );
    println!("instructions {}", tokens(&bpe, INSTRUCTIONS));
    for (n, name) in &per_tool {
        println!("  {n:>5}  {name}");
    }

    let sb = Sandbox::start(([127, 0, 0, 1], 0).into(), SandboxOptions::default())
        .await
        .unwrap();
    let client = CapsuleClient::new(
        ClientOptions {
            api_url: sb.api_url(),
            ..Default::default()
        },
        StaticToken::new(ADMIN_TOKEN.to_owned().into(), "bench"),
    )
    .unwrap();
    let app = App::new(client, Duration::from_secs(300), false);
    let server = CapsuleMcp::new(Arc::new(app), Arc::new(all));
    let call = |name: &'static str, args: Value| {
        let server = server.clone();
        async move {
            server
                .call_direct(name, args.as_object().cloned())
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"))
        }
    };
    // The text block a client shows the model is the compact JSON of the result.
    let page = call("crm_list_contacts", json!({"limit": 50})).await;
    let ids: Vec<String> = page["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let raw_page = raw(&sb, "/parties?perPage=50&embed=tags,fields").await;
    let raw_people: Vec<&Value> = raw_page["parties"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| ids.contains(&p["id"].to_string()))
        .collect();
    let page_t = tokens(&bpe, &page.to_string());
    let bytes_per_token =
        |v: &Value| v.to_string().len() as f64 / tokens(&bpe, &v.to_string()) as f64;
    // The same parties, as Capsule sends them (fetched one by one where the page differs).
    let mut raw_t = tokens(&bpe, &json!({ "parties": raw_people }).to_string());
    if raw_people.len() != ids.len() {
        let mut all_raw = Vec::new();
        for id in &ids {
            let v = raw(&sb, &format!("/parties/{id}?embed=tags,fields")).await;
            all_raw.push(v["party"].clone());
        }
        raw_t = tokens(&bpe, &json!({ "parties": all_raw }).to_string());
    }
    println!("\n== results (tokens of the text content)");
    println!(
        "crm_list_contacts limit 50: {page_t} ({} records) vs raw Capsule {raw_t}: {:.2}x",
        ids.len(),
        page_t as f64 / raw_t as f64
    );
    let id = &ids[0];
    let got = call("crm_get_contact", json!({ "id": id })).await;
    let raw_one = raw(&sb, &format!("/parties/{id}?embed=tags,fields")).await;
    let get_t = tokens(&bpe, &got.to_string());
    let raw_one_t = tokens(&bpe, &raw_one.to_string());
    println!(
        "crm_get_contact: {get_t} vs raw party {raw_one_t}: {:.2}x",
        get_t as f64 / raw_one_t as f64
    );
    let full = call("crm_list_contacts", json!({"limit": 100, "detail": "full"})).await;
    println!(
        "crm_list_contacts limit 100 detail full: {} tokens, {} records, truncated {}, {:.2} bytes a token",
        tokens(&bpe, &full.to_string()),
        full["result_count"],
        full["truncated"],
        bytes_per_token(&full)
    );
    for (name, args) in [
        ("crm_list_accounts", json!({})),
        ("crm_list_opportunities", json!({})),
        ("crm_list_tasks", json!({})),
        ("crm_list_engagements", json!({})),
        ("crm_list_notes", json!({})),
        ("crm_list_projects", json!({})),
        ("crm_list_contacts", json!({})),
    ] {
        let v = call(name, args).await;
        println!(
            "{name} (default arguments): {} tokens, {} records, {:.2} bytes a token",
            tokens(&bpe, &v.to_string()),
            v["result_count"],
            bytes_per_token(&v)
        );
    }
}
