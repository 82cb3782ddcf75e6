//! Projects end to end: the real binary over stdio against the sandbox's seeded kases
//! 500–509 (board 7 stages 71–74; board 8, default team 9, stages 81–83).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::common::*;

fn id_set(list: &Value) -> BTreeSet<String> {
    ids(list).into_iter().collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn lists_projects_with_each_filter() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let all = ok(&client, "crm_list_projects", json!({"fetch_all": true})).await;
    assert_eq!(all["result_count"], 10);
    let p500 = all["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "500")
        .unwrap()
        .clone();
    assert_eq!(p500["board"]["name"], "Client projects");
    assert_eq!(p500["status"], "open");

    let posts = requests(&sb, "POST /kases/filters/results").await;
    let closed = ok(&client, "crm_list_projects", json!({"status": "closed"})).await;
    assert_eq!(id_set(&closed), set(&["503", "508"]));
    assert_eq!(
        requests(&sb, "POST /kases/filters/results").await,
        posts + 1,
        "one structured filter request"
    );
    let owned = ok(&client, "crm_list_projects", json!({"owner_id": "12"})).await;
    assert_eq!(id_set(&owned), set(&["501", "503", "505"]));
    let tagged = ok(&client, "crm_list_projects", json!({"tag": "Urgent"})).await;
    assert_eq!(id_set(&tagged), set(&["500", "503", "506", "509"]));
    let board = ok(
        &client,
        "crm_list_projects",
        json!({"board_id": "8", "detail": "full"}),
    )
    .await;
    assert_eq!(id_set(&board), set(&["507", "508", "509"]));
    for p in board["result"].as_array().unwrap() {
        assert_eq!(p["team"]["id"], "9");
        assert_eq!(p["board"]["id"], "8");
    }
    let stage = ok(&client, "crm_list_projects", json!({"stage_id": "71"})).await;
    assert_eq!(id_set(&stage), set(&["500", "504"]));
    let both = ok(
        &client,
        "crm_list_projects",
        json!({"status": "open", "board_id": "7", "tag": "Urgent"}),
    )
    .await;
    assert_eq!(id_set(&both), set(&["500", "506"]));

    let searched = ok(&client, "crm_list_projects", json!({"search": "website"})).await;
    assert_eq!(id_set(&searched), set(&["500"]));
    // On the search path, the board is applied to the page.
    let searched = ok(
        &client,
        "crm_list_projects",
        json!({"search": "delivery project", "board_id": "8", "status": "closed"}),
    )
    .await;
    assert_eq!(id_set(&searched), set(&["508"]));

    // The main party, by its type.
    let (key, party) = if p500["account"].is_object() {
        ("account_id", p500["account"]["id"].clone())
    } else {
        ("contact_id", p500["contact"]["id"].clone())
    };
    let gets = requests(&sb, "GET /parties/{id}/kases").await;
    let of_party = ok(&client, "crm_list_projects", json!({key: party})).await;
    assert!(id_set(&of_party).contains("500"));
    assert_eq!(requests(&sb, "GET /parties/{id}/kases").await, gets + 1);
    let of_party_closed = ok(
        &client,
        "crm_list_projects",
        json!({key: party, "status": "closed"}),
    )
    .await;
    assert!(!id_set(&of_party_closed).contains("500"));

    let opp = p500["opportunity"]["id"].clone();
    let of_opp = ok(&client, "crm_list_projects", json!({"opportunity_id": opp})).await;
    assert!(id_set(&of_opp).contains("500"));
    for p in of_opp["result"].as_array().unwrap() {
        assert_eq!(p["opportunity"]["id"], opp);
    }

    // updated_after: exactly the projects changed after the timestamp.
    let stamp = p500["updated_at"].as_str().unwrap().to_owned();
    let expected: BTreeSet<String> = all["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["updated_at"].as_str().unwrap() > stamp.as_str())
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    let recent = ok(
        &client,
        "crm_list_projects",
        json!({"updated_after": stamp, "fetch_all": true}),
    )
    .await;
    assert_eq!(id_set(&recent), expected);
    assert!(!expected.contains("500") && !expected.is_empty());
    let recent_open = ok(
        &client,
        "crm_list_projects",
        json!({"updated_after": stamp, "status": "open"}),
    )
    .await;
    assert!(id_set(&recent_open).is_subset(&expected));

    // Paging keeps the filters in the cursor.
    let first = ok(
        &client,
        "crm_list_projects",
        json!({"limit": 2, "board_id": "7"}),
    )
    .await;
    let second = ok(
        &client,
        "crm_list_projects",
        json!({"cursor": first["next_cursor"]}),
    )
    .await;
    for p in second["result"].as_array().unwrap() {
        assert_eq!(p["board"]["id"], "7");
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn gets_a_project_and_caches_reference_data() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let shows = requests(&sb, "GET /kases/{id}").await;
    let before = total_requests(&sb).await;
    let p = ok(&client, "crm_get_project", json!({"id": "500"})).await;
    assert_eq!(p["name"], "Website build");
    assert_eq!(p["stage"], json!({"id": "71", "name": "Project Brief"}));
    assert_eq!(p["board"], json!({"id": "7", "name": "Client projects"}));
    assert_eq!(p["owner"]["id"], "61");
    assert_eq!(
        p["custom_fields"]["Hours Estimate"],
        json!(40),
        "numbers back as numbers"
    );
    assert_eq!(p["custom_fields"]["Budget Code"], "PRJ-0100");
    assert_eq!(p["tags"][0]["name"], "Urgent");
    assert!(p.get("remote_data").is_none());
    assert_eq!(requests(&sb, "GET /kases/{id}").await, shows + 1);
    // Project, stages, definitions, site (for `web_url`): reference data cached for the next call.
    assert_eq!(total_requests(&sb).await, before + 4);
    let again = ok(
        &client,
        "crm_get_project",
        json!({"id": "508", "include_remote_data": true}),
    )
    .await;
    assert_eq!(
        total_requests(&sb).await,
        before + 5,
        "one request on a second get"
    );
    assert_eq!(again["status"], "closed");
    assert!(again["close_date"].is_string());
    assert_eq!(again["remote_data"]["id"], 508);

    let missing = err(&client, "crm_get_project", json!({"id": "999999"})).await;
    assert_eq!(missing["code"], "not_found");
    assert!(
        missing["message"]
            .as_str()
            .unwrap()
            .contains("crm_list_projects")
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn project_round_trip_stage_move_owner_team_pair_and_delete() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let account =
        ok(&client, "crm_list_accounts", json!({"limit": 1})).await["result"][0]["id"].clone();
    let created = ok(
        &client,
        "crm_create_project",
        json!({
            "name": "Intranet", "description": "Phase 1", "account_id": account,
            "stage_id": "72", "owner_id": "61", "expected_close_date": "2026-03-31",
            "tags": ["Urgent"], "custom_fields": {"Hours Estimate": 120, "Priority": "high"}
        }),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["account"]["id"], account);
    assert_eq!(created["board"]["id"], "7");
    assert_eq!(created["owner"]["id"], "61");
    assert!(created.get("team").is_none());
    assert_eq!(created["expected_close_date"], "2026-03-31");
    assert_eq!(created["custom_fields"]["Hours Estimate"], json!(120));
    assert_eq!(created["custom_fields"]["Priority"], "High");

    // Team only: the owner is kept (Capsule would null it).
    let shows = requests(&sb, "GET /kases/{id}").await;
    let teamed = ok(
        &client,
        "crm_update_project",
        json!({"id": id, "team_id": "9"}),
    )
    .await;
    assert_eq!(teamed["owner"]["id"], "61");
    assert_eq!(teamed["team"]["id"], "9");
    assert_eq!(
        requests(&sb, "GET /kases/{id}").await,
        shows + 1,
        "read once for the current owner"
    );
    // Owner only: the team is kept.
    let owned = ok(
        &client,
        "crm_update_project",
        json!({"id": id, "owner_id": "12"}),
    )
    .await;
    assert_eq!(owned["owner"]["id"], "12");
    assert_eq!(owned["team"]["id"], "9");
    // Both: no read needed.
    let shows = requests(&sb, "GET /kases/{id}").await;
    let both = ok(
        &client,
        "crm_update_project",
        json!({"id": id, "owner_id": "61", "team_id": null}),
    )
    .await;
    assert_eq!(both["owner"]["id"], "61");
    assert!(both.get("team").is_none());
    assert_eq!(requests(&sb, "GET /kases/{id}").await, shows);
    // A member check is Capsule's: its message is kept.
    let e = err(
        &client,
        "crm_update_project",
        json!({"id": id, "owner_id": "6", "team_id": "9"}),
    )
    .await;
    assert_eq!(e["code"], "validation_failed");

    // Stage move to the other board; closing sets the close date.
    let moved = ok(
        &client,
        "crm_update_project",
        json!({"id": id, "stage_id": "82", "status": "closed", "remove_tags": ["Urgent"],
               "custom_fields": {"Priority": null}}),
    )
    .await;
    assert_eq!(moved["stage"], json!({"id": "82", "name": "Resolving"}));
    assert_eq!(moved["board"], json!({"id": "8", "name": "Support"}));
    assert_eq!(moved["status"], "closed");
    assert!(moved["close_date"].is_string());
    assert!(moved.get("tags").is_none());
    assert_eq!(moved["description"], "Phase 1", "left out, kept");
    assert!(
        moved["custom_fields"]
            .get("Priority")
            .is_none_or(Value::is_null)
    );

    let deleted = ok(&client, "crm_delete_project", json!({"id": id})).await;
    assert_eq!(deleted, json!({"id": id, "deleted": true}));
    let gone = err(&client, "crm_get_project", json!({"id": id})).await;
    assert_eq!(gone["status"], 404);
    let gone = err(&client, "crm_delete_project", json!({"id": id})).await;
    assert_eq!(gone["code"], "not_found");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn create_on_a_board_with_a_default_team_keeps_the_owner() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let contact =
        ok(&client, "crm_list_contacts", json!({"limit": 1})).await["result"][0]["id"].clone();
    let p = ok(
        &client,
        "crm_create_project",
        json!({"name": "Support ticket", "contact_id": contact, "stage_id": "81", "owner_id": "61"}),
    )
    .await;
    assert_eq!(p["contact"]["id"], contact);
    assert_eq!(p["team"]["id"], "9", "the board's default team");
    assert_eq!(
        p["owner"]["id"], "61",
        "the owner Capsule dropped is put back"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn project_guards_send_nothing() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let before = total_requests(&sb).await;
    let cases = [
        ("crm_list_projects", json!({"status": "won"})),
        (
            "crm_list_projects",
            json!({"account_id": "1", "contact_id": "2"}),
        ),
        ("crm_list_projects", json!({"board_id": " "})),
        ("crm_list_projects", json!({"updated_after": "last week"})),
        ("crm_create_project", json!({"name": "No party"})),
        ("crm_create_project", json!({"account_id": "101"})),
        (
            "crm_create_project",
            json!({"name": "x", "account_id": "101", "contact_id": "102"}),
        ),
        (
            "crm_create_project",
            json!({"name": "x", "account_id": "101", "expected_close_date": "soon"}),
        ),
        ("crm_update_project", json!({"id": "500", "status": "won"})),
        ("crm_update_project", json!({"id": "500"})),
        (
            "crm_update_project",
            json!({"id": "500", "owner_id": null, "team_id": null}),
        ),
        ("crm_get_project", json!({"id": "x"})),
    ];
    for (tool, args) in cases {
        let e = err(&client, tool, args.clone()).await;
        assert_eq!(e["code"], "invalid_argument", "{tool} {args}: {e}");
    }
    let plan = ok(
        &client,
        "crm_create_project",
        json!({"name": "Dry", "account_id": "101", "stage_id": "71", "dry_run": true}),
    )
    .await;
    assert_eq!(plan["method"], "POST");
    assert_eq!(plan["path"], "/kases");
    assert_eq!(
        plan["body"],
        json!({"kase": {"name": "Dry", "party": {"id": 101}, "stage": {"id": 71}}})
    );
    let plan = ok(
        &client,
        "crm_delete_project",
        json!({"id": "500", "dry_run": true}),
    )
    .await;
    assert_eq!(plan["method"], "DELETE");
    assert_eq!(
        total_requests(&sb).await,
        before,
        "no request may reach Capsule"
    );
    // An owner-only dry run reads the project to complete the pair, and writes nothing.
    let plan = ok(
        &client,
        "crm_update_project",
        json!({"id": "507", "owner_id": "12", "dry_run": true}),
    )
    .await;
    assert_eq!(
        plan["body"]["kase"],
        json!({"owner": {"id": 12}, "team": {"id": 9}})
    );
    assert_eq!(total_requests(&sb).await, before + 1);
    client.cancel().await.unwrap();
}
