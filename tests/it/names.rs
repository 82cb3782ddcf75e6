//! Names where ids are (issue 12): stages, pipelines, boards and owners by name, and reference
//! lists refreshed once on a miss. Seed: pipeline 10 "SMB clients" (1 New, 2 Bid, 3 Won,
//! 4 Lost), 11 "Enterprise" (5 Qualification, 6 Proposal, 7 Negotiation, 8 Won, 9 Lost);
//! opportunity 301 in stage 2; board 7 "Client projects" (71-74), 8 "Support" (81-83); users
//! 61 ted, 6 scottspacey, 12 maiahilton. Request counts come from the sandbox's stats.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};

use super::common::*;

fn results(list: &Value) -> &Vec<Value> {
    list["result"].as_array().unwrap()
}

#[tokio::test]
async fn moves_a_deal_to_the_won_stage_by_name() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    // The plan shows the resolved id.
    let plan = ok(
        &client,
        "crm_update_opportunity",
        json!({"id": "301", "stage_id": " won ", "dry_run": true}),
    )
    .await;
    assert_eq!(
        plan["body"]["opportunity"]["milestone"],
        json!({"id": 3}),
        "{plan}"
    );
    let won = ok(
        &client,
        "crm_update_opportunity",
        json!({"id": "301", "stage_id": "Won"}),
    )
    .await;
    assert_eq!(
        won["stage"]["id"], "3",
        "Won of its own pipeline (10): {won}"
    );
    assert_eq!(won["status"], "won");
    // A name of another pipeline's stage keeps the move_pipeline guard.
    let guarded = err(
        &client,
        "crm_update_opportunity",
        json!({"id": "301", "stage_id": "negotiation"}),
    )
    .await;
    assert_eq!(guarded["code"], "invalid_argument");
    assert!(
        guarded["message"]
            .as_str()
            .unwrap()
            .contains("move_pipeline"),
        "{guarded}"
    );
    assert_eq!(requests(&sb, "PUT /opportunities/{id}").await, 1);
    let moved = ok(
        &client,
        "crm_update_opportunity",
        json!({"id": "301", "stage_id": "Negotiation", "move_pipeline": true}),
    )
    .await;
    assert_eq!(moved["stage"]["id"], "7");
    // On create a name unique across pipelines resolves; pipeline_id filter takes a name.
    let created = ok(
        &client,
        "crm_create_opportunity",
        json!({"name": "By name", "account_id": "100", "stage_id": "bid"}),
    )
    .await;
    assert_eq!(created["stage"]["id"], "2");
    let enterprise = ok(
        &client,
        "crm_list_opportunities",
        json!({"pipeline_id": "enterprise", "fetch_all": true}),
    )
    .await;
    assert!(!results(&enterprise).is_empty());
    assert!(
        results(&enterprise)
            .iter()
            .all(|o| o["pipeline"]["id"] == "11")
    );
    let stages = ok(
        &client,
        "crm_list_stages",
        json!({"pipeline_id": "Enterprise"}),
    )
    .await;
    assert_eq!(ids(&stages), ["5", "6", "7", "8", "9"]);
    // Reference data was read once: every name above was a hit.
    assert_eq!(requests(&sb, "GET /pipelines").await, 1);
    assert_eq!(requests(&sb, "GET /pipelines/{id}/milestones").await, 2);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn an_unknown_stage_name_names_candidates_and_sends_no_write() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let e = err(
        &client,
        "crm_update_opportunity",
        json!({"id": "301", "stage_id": "Signed"}),
    )
    .await;
    assert_eq!(e["code"], "invalid_argument", "{e}");
    let m = e["message"].as_str().unwrap();
    assert!(m.contains("crm_list_stages"), "{m}");
    assert!(m.contains("Bid (2)") && m.contains("Won (3)"), "{m}");
    assert_eq!(requests(&sb, "PUT /opportunities/{id}").await, 0);
    // The miss refreshed the pipelines once, no more.
    assert_eq!(requests(&sb, "GET /pipelines").await, 2);
    let e = err(
        &client,
        "crm_update_project",
        json!({"id": "500", "stage_id": "Shipped"}),
    )
    .await;
    assert_eq!(e["code"], "invalid_argument", "{e}");
    let m = e["message"].as_str().unwrap();
    assert!(
        m.contains("crm_list_stages") && m.contains("Planning (72)"),
        "{m}"
    );
    assert_eq!(requests(&sb, "PUT /kases/{id}").await, 0);
    let e = err(
        &client,
        "crm_create_contact",
        json!({"first_name": "Nobody", "owner_id": "ghost"}),
    )
    .await;
    assert_eq!(e["code"], "invalid_argument", "{e}");
    let m = e["message"].as_str().unwrap();
    assert!(
        m.contains("crm_list_users") && m.contains("ted (61)"),
        "{m}"
    );
    assert_eq!(requests(&sb, "POST /parties").await, 0);
    let e = err(&client, "crm_list_projects", json!({"board_id": "Nowhere"})).await;
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("crm_list_pipelines"),
        "{e}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn an_ambiguous_name_lists_the_candidates() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    // Both pipelines have a Won stage; a create has no pipeline to pick it.
    let e = err(
        &client,
        "crm_create_opportunity",
        json!({"name": "Which", "account_id": "100", "stage_id": "Won"}),
    )
    .await;
    assert_eq!(e["code"], "invalid_argument", "{e}");
    let m = e["message"].as_str().unwrap();
    assert!(m.contains("Won (3)") && m.contains("Won (8)"), "{m}");
    assert!(m.contains("crm_list_stages"), "{m}");
    assert_eq!(requests(&sb, "POST /opportunities").await, 0);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn moves_a_project_to_a_board_stage_by_name() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let p = ok(
        &client,
        "crm_update_project",
        json!({"id": "500", "stage_id": "review"}),
    )
    .await;
    assert_eq!(p["stage"]["id"], "74", "{p}");
    assert_eq!(p["board"]["id"], "7");
    let plan = ok(
        &client,
        "crm_update_project",
        json!({"id": "500", "stage_id": "Planning", "dry_run": true}),
    )
    .await;
    assert_eq!(plan["body"]["kase"]["stage"], json!({"id": 72}), "{plan}");
    let on_support = ok(
        &client,
        "crm_list_projects",
        json!({"board_id": "support", "stage_id": "Triage", "fetch_all": true}),
    )
    .await;
    assert!(!results(&on_support).is_empty(), "{on_support}");
    assert!(
        results(&on_support)
            .iter()
            .all(|p| p["stage"]["id"] == "81" && p["board"]["id"] == "8")
    );
    let stages = ok(
        &client,
        "crm_list_stages",
        json!({"pipeline_id": "SUPPORT", "entity_type": "project"}),
    )
    .await;
    assert_eq!(ids(&stages), ["81", "82", "83"]);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn owners_by_username_and_email_on_writes_and_filters() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let users = ok(&client, "crm_list_users", json!({})).await;
    let maia = results(&users)
        .iter()
        .find(|u| u["id"] == "12")
        .unwrap()
        .clone();
    let email = maia["email"].as_str().unwrap().to_uppercase();
    let users_read = requests(&sb, "GET /users").await;
    let contact = ok(
        &client,
        "crm_create_contact",
        json!({"first_name": "Owned", "owner_id": "ScottSpacey"}),
    )
    .await;
    assert_eq!(contact["owner"]["id"], "6", "{contact}");
    let plan = ok(
        &client,
        "crm_create_task",
        json!({"subject": "Call", "due_date": "2026-01-05", "owner_id": email, "dry_run": true}),
    )
    .await;
    assert_eq!(plan["body"]["task"]["owner"], json!({"id": 12}), "{plan}");
    let task = ok(
        &client,
        "crm_create_task",
        json!({"subject": "Call", "due_date": "2026-01-05", "owner_id": email}),
    )
    .await;
    assert_eq!(task["owner"]["id"], "12");
    let by_ted = ok(
        &client,
        "crm_list_opportunities",
        json!({"owner_id": "TED", "fetch_all": true}),
    )
    .await;
    assert!(!results(&by_ted).is_empty());
    assert!(results(&by_ted).iter().all(|o| o["owner"]["id"] == "61"));
    let maias = ok(
        &client,
        "crm_list_tasks",
        json!({"owner_id": email, "status": "all"}),
    )
    .await;
    assert!(ids(&maias).contains(&task["id"].as_str().unwrap().to_owned()));
    assert!(results(&maias).iter().all(|t| t["owner"]["id"] == "12"));
    // Every name was a hit: the users were not read again.
    assert_eq!(requests(&sb, "GET /users").await, users_read);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn an_engagement_type_created_through_the_proxy_is_usable_by_name_at_once() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    ok(
        &client,
        "crm_create_engagement",
        json!({"content": "Warm", "engagement_type": "Demo", "contact_id": "120"}),
    )
    .await;
    assert_eq!(requests(&sb, "GET /activitytypes").await, 1);
    ok(
        &client,
        "capsule_api_request",
        json!({"method": "POST", "path": "/activitytypes",
               "body": {"activityType": {"name": "Webinar"}}}),
    )
    .await;
    let e = ok(
        &client,
        "crm_create_engagement",
        json!({"content": "Hosted", "engagement_type": "webinar", "contact_id": "120"}),
    )
    .await;
    assert_eq!(e["engagement_type"], "Webinar", "{e}");
    assert_eq!(
        requests(&sb, "GET /activitytypes").await,
        2,
        "the miss refreshed the list once"
    );
    // A hit does not refresh.
    ok(
        &client,
        "crm_create_engagement",
        json!({"content": "Again", "engagement_type": "Webinar", "contact_id": "120"}),
    )
    .await;
    assert_eq!(requests(&sb, "GET /activitytypes").await, 2);
    // A name still unknown after the refresh is refused, after one refresh.
    let e = err(
        &client,
        "crm_create_engagement",
        json!({"content": "x", "engagement_type": "Seminar", "contact_id": "120"}),
    )
    .await;
    assert_eq!(e["code"], "invalid_argument");
    assert_eq!(requests(&sb, "GET /activitytypes").await, 3);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_field_and_a_stage_created_through_the_proxy_resolve_after_one_refresh() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    ok(
        &client,
        "crm_update_opportunity",
        json!({"id": "301", "stage_id": "New"}),
    )
    .await;
    let milestones = requests(&sb, "GET /pipelines/{id}/milestones").await;
    ok(
        &client,
        "capsule_api_request",
        json!({"method": "POST", "path": "/milestones",
               "body": {"milestone": {"name": "Contract", "probability": 90,
                                       "pipeline": {"id": 10}}}}),
    )
    .await;
    let moved = ok(
        &client,
        "crm_update_opportunity",
        json!({"id": "301", "stage_id": "contract"}),
    )
    .await;
    assert_eq!(moved["stage"]["name"], "Contract", "{moved}");
    assert_eq!(
        requests(&sb, "GET /pipelines/{id}/milestones").await,
        milestones + 2,
        "each pipeline's stages refreshed once"
    );
    // A custom field defined through the proxy is usable by name at once.
    ok(
        &client,
        "crm_create_contact",
        json!({"first_name": "Warm", "custom_fields": {"Background": "known"}}),
    )
    .await;
    let defs_route = "GET /parties/fields/definitions";
    let before = requests(&sb, defs_route).await;
    assert!(before >= 1, "the definitions are cached");
    ok(
        &client,
        "capsule_api_request",
        json!({"method": "POST", "path": "/parties/fields/definitions",
               "body": {"definition": {"name": "Shoe size", "type": "text"}}}),
    )
    .await;
    let c = ok(
        &client,
        "crm_create_contact",
        json!({"first_name": "Fields", "custom_fields": {"shoe size": "44"}}),
    )
    .await;
    assert_eq!(c["custom_fields"]["Shoe size"], "44", "{c}");
    assert_eq!(requests(&sb, defs_route).await, before + 1, "one refresh");
    let after = before + 1;
    ok(
        &client,
        "crm_create_contact",
        json!({"first_name": "Again", "custom_fields": {"Shoe size": "45"}}),
    )
    .await;
    assert_eq!(
        requests(&sb, defs_route).await,
        after,
        "a hit does not refresh"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_tag_added_since_the_tags_were_cached_is_removed_after_one_refresh() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let tagged = |name: &str, tag: &str| json!({"first_name": name, "tags": [tag]});
    let a = ok(&client, "crm_create_contact", tagged("A", "Customer")).await;
    ok(
        &client,
        "crm_update_contact",
        json!({"id": a["id"], "remove_tags": ["Customer"]}),
    )
    .await;
    let route = "GET /parties/tags";
    assert_eq!(requests(&sb, route).await, 1, "the tags are cached");
    let b = ok(&client, "crm_create_contact", tagged("B", "Brandnew")).await;
    let untagged = ok(
        &client,
        "crm_update_contact",
        json!({"id": b["id"], "remove_tags": ["brandnew"]}),
    )
    .await;
    assert!(
        untagged["tags"]
            .as_array()
            .is_none_or(|t| t.iter().all(|t| t["name"] != "Brandnew")),
        "{untagged}"
    );
    assert_eq!(requests(&sb, route).await, 2, "the miss refreshed once");
    let c = ok(&client, "crm_create_contact", tagged("C", "Brandnew")).await;
    ok(
        &client,
        "crm_update_contact",
        json!({"id": c["id"], "remove_tags": ["Brandnew"]}),
    )
    .await;
    assert_eq!(requests(&sb, route).await, 2, "a hit does not refresh");
    client.cancel().await.unwrap();
}
