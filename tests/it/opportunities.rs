//! Opportunities, pipelines and stages through the real MCP client against the sandbox.
//! Seed: pipeline 10 (SMB: 1 New, 2 Bid, 3 Won, 4 Lost), 11 (Enterprise: 5-7 open, 8 Won,
//! 9 Lost); opportunities 300-329, 300 in stage 5, 301 in stage 2, 303 won, 304 lost.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};

use super::common::*;

#[tokio::test]
async fn gets_an_opportunity_with_one_request_and_cached_reference_data() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let o = ok(&client, "crm_get_opportunity", json!({"id": "301"})).await;
    assert_eq!(o["stage"]["id"], "2");
    assert_eq!(o["pipeline"]["id"], "10");
    assert_eq!(o["pipeline"]["name"], "SMB clients");
    assert_eq!(o["status"], "open");
    assert!(o["account"].is_object() || o["contact"].is_object());
    assert_eq!(requests(&sb, "GET /opportunities/{id}").await, 1);
    let pipelines = requests(&sb, "GET /pipelines").await;
    let milestones = requests(&sb, "GET /pipelines/{id}/milestones").await;
    assert_eq!(pipelines, 1);
    assert_eq!(milestones, 2, "one request per pipeline");
    let won = ok(&client, "crm_get_opportunity", json!({"id": "303"})).await;
    assert_eq!(won["status"], "won");
    assert_eq!(won["pipeline"]["id"], "11");
    let lost = ok(&client, "crm_get_opportunity", json!({"id": "304"})).await;
    assert_eq!(lost["status"], "lost");
    assert!(lost["lost_reason"]["name"].is_string());
    assert_eq!(requests(&sb, "GET /pipelines").await, pipelines, "cached");
    assert_eq!(
        requests(&sb, "GET /pipelines/{id}/milestones").await,
        milestones
    );
    let e = err(&client, "crm_get_opportunity", json!({"id": "9999"})).await;
    assert_eq!(e["code"], "not_found");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn lists_opportunities_with_each_filter() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let all = ok(
        &client,
        "crm_list_opportunities",
        json!({"fetch_all": true}),
    )
    .await;
    assert_eq!(all["result_count"], 30);
    for (status, n) in [("won", 5), ("lost", 5), ("open", 20)] {
        let l = ok(
            &client,
            "crm_list_opportunities",
            json!({"status": status, "fetch_all": true}),
        )
        .await;
        assert_eq!(l["result_count"], n, "{status}");
        assert!(
            l["result"]
                .as_array()
                .unwrap()
                .iter()
                .all(|o| o["status"] == status)
        );
    }
    assert!(requests(&sb, "POST /opportunities/filters/results").await >= 3);
    let p11 = ok(
        &client,
        "crm_list_opportunities",
        json!({"pipeline_id": "11", "fetch_all": true}),
    )
    .await;
    assert_eq!(p11["result_count"], 10);
    assert!(
        p11["result"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["pipeline"]["id"] == "11")
    );
    let searched = ok(
        &client,
        "crm_list_opportunities",
        json!({"search": "website redesign", "status": "open"}),
    )
    .await;
    assert!(searched["result"].as_array().unwrap().iter().all(|o| {
        o["status"] == "open" && o["name"].as_str().unwrap().starts_with("Website redesign")
    }));
    assert!(requests(&sb, "GET /opportunities/search").await >= 1);
    let by_owner = ok(
        &client,
        "crm_list_opportunities",
        json!({"owner_id": "1", "fetch_all": true}),
    )
    .await;
    let owner_ids: Vec<_> = by_owner["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["owner"]["id"].clone())
        .collect();
    assert!(owner_ids.iter().all(|i| *i == owner_ids[0]));
    let tagged = ok(
        &client,
        "crm_list_opportunities",
        json!({"tag": "11", "fetch_all": true, "detail": "full"}),
    )
    .await;
    assert!(tagged["result_count"].as_u64().unwrap() > 0);
    // Records carry tags by name; crm_list_tags says which one is 11.
    let tags = ok(
        &client,
        "crm_list_tags",
        json!({"entity_type": "opportunity"}),
    )
    .await;
    let eleven = tags["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "11")
        .unwrap()["name"]
        .clone();
    assert!(tagged["result"].as_array().unwrap().iter().all(|o| {
        o["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == eleven)
    }));
    let first = &all["result"][0];
    let party = first["account"]["id"]
        .as_str()
        .or(first["contact"]["id"].as_str())
        .unwrap();
    let arg = if first["account"].is_object() {
        "account_id"
    } else {
        "contact_id"
    };
    let of_party = ok(&client, "crm_list_opportunities", json!({arg: party})).await;
    assert!(ids(&of_party).contains(&first["id"].as_str().unwrap().to_owned()));
    assert_eq!(requests(&sb, "GET /parties/{id}/opportunities").await, 1);
    let since = ok(
        &client,
        "crm_list_opportunities",
        json!({"updated_after": "2000-01-01T00:00:00Z", "limit": 5}),
    )
    .await;
    assert_eq!(since["result_count"], 5);
    let e = err(
        &client,
        "crm_list_opportunities",
        json!({"status": "pending"}),
    )
    .await;
    assert_eq!(e["code"], "invalid_argument");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn opportunity_write_round_trip_with_the_pipeline_guard() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let account =
        ok(&client, "crm_list_accounts", json!({"limit": 1})).await["result"][0]["id"].clone();
    let plan = ok(
        &client,
        "crm_create_opportunity",
        json!({"account_id": account, "name": "Pilot", "stage_id": "1", "dry_run": true}),
    )
    .await;
    assert_eq!(plan["method"], "POST");
    assert_eq!(plan["body"]["opportunity"]["milestone"]["id"], 1);
    let created = ok(
        &client,
        "crm_create_opportunity",
        json!({"account_id": account, "name": "Pilot", "stage_id": "1",
               "amount": 1200, "currency": "EUR", "tags": ["Trial"]}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["pipeline"]["id"], "10");
    assert_eq!(created["amount"], 1200.0);
    assert_eq!(created["account"]["id"], account);

    let moved = ok(
        &client,
        "crm_update_opportunity",
        json!({"id": id, "stage_id": "2"}),
    )
    .await;
    assert_eq!(moved["stage"]["id"], "2");
    let refused = err(
        &client,
        "crm_update_opportunity",
        json!({"id": id, "stage_id": "6"}),
    )
    .await;
    assert_eq!(refused["code"], "invalid_argument");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("move_pipeline")
    );
    let still = ok(&client, "crm_get_opportunity", json!({"id": id})).await;
    assert_eq!(still["stage"]["id"], "2", "the refusal sent nothing");
    let across = ok(
        &client,
        "crm_update_opportunity",
        json!({"id": id, "stage_id": "6", "move_pipeline": true}),
    )
    .await;
    assert_eq!(across["pipeline"]["id"], "11");
    let won = ok(
        &client,
        "crm_update_opportunity",
        json!({"id": id, "stage_id": "8"}),
    )
    .await;
    assert_eq!(won["status"], "won");
    assert!(won["close_date"].is_string());

    let deleted = ok(&client, "crm_delete_opportunity", json!({"id": id})).await;
    assert_eq!(deleted["deleted"], true);
    let e = err(&client, "crm_get_opportunity", json!({"id": id})).await;
    assert_eq!(e["code"], "not_found");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn lists_pipelines_and_stages_one_request_per_pipeline() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let p = ok(&client, "crm_list_pipelines", json!({})).await;
    assert_eq!(p["result_count"], 4, "two pipelines and two boards");
    let opp = ok(
        &client,
        "crm_list_pipelines",
        json!({"entity_type": "opportunity"}),
    )
    .await;
    assert_eq!(opp["result_count"], 2);
    assert_eq!(opp["result"][0]["stages"][2]["status"], "won");
    let stages = ok(
        &client,
        "crm_list_stages",
        json!({"entity_type": "opportunity"}),
    )
    .await;
    assert_eq!(stages["result_count"], 9);
    assert_eq!(requests(&sb, "GET /pipelines/{id}/milestones").await, 2);
    assert_eq!(requests(&sb, "GET /boards/{id}/stages").await, 2);
    let one = ok(&client, "crm_list_stages", json!({"pipeline_id": "11"})).await;
    assert_eq!(one["result_count"], 5);
    assert_eq!(one["result"][0]["pipeline"]["name"], "Enterprise");
    let project = ok(
        &client,
        "crm_list_stages",
        json!({"entity_type": "project", "limit": 3}),
    )
    .await;
    assert_eq!(project["result_count"], 3);
    assert!(project["next_cursor"].is_string());
    let s = ok(&client, "crm_get_stage", json!({"id": "4"})).await;
    assert_eq!(s["status"], "lost");
    assert_eq!(s["pipeline"]["id"], "10");
    let b = ok(
        &client,
        "crm_get_pipeline",
        json!({"id": "7", "entity_type": "project"}),
    )
    .await;
    assert_eq!(b["entity"], "project");
    assert_eq!(b["stages"].as_array().unwrap().len(), 4);
    assert_eq!(requests(&sb, "GET /pipelines").await, 1, "cached");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn open_deals_have_no_close_date_and_closed_ones_do() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let all = ok(
        &client,
        "crm_list_opportunities",
        json!({"fetch_all": true}),
    )
    .await;
    let deals = all["result"].as_array().unwrap();
    let open: Vec<&Value> = deals.iter().filter(|d| d["status"] == "open").collect();
    let closed: Vec<&Value> = deals.iter().filter(|d| d["status"] != "open").collect();
    assert!(!open.is_empty() && !closed.is_empty());
    for d in &open {
        assert!(
            d.get("close_date").is_none(),
            "an open deal has not closed: {d}"
        );
    }
    assert!(
        open.iter().any(|d| d["expected_close_date"].is_string()),
        "the expected close date has its own field"
    );
    for d in &closed {
        assert!(
            d["close_date"].is_string(),
            "a closed deal has its date: {d}"
        );
    }
    client.cancel().await.unwrap();
}
