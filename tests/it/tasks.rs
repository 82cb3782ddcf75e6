//! Tasks end to end against the sandbox's seeded tasks 700–739 and categories 47–50.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::common::*;

fn id_set(list: &Value) -> BTreeSet<String> {
    ids(list).into_iter().collect()
}

fn where_(all: &Value, f: impl Fn(&Value) -> bool) -> BTreeSet<String> {
    all["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| f(t))
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn lists_tasks_with_each_filter() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let gets = requests(&sb, "GET /tasks").await;
    let open = ok(&client, "crm_list_tasks", json!({})).await;
    assert_eq!(
        requests(&sb, "GET /tasks").await,
        gets + 1,
        "one request a page"
    );
    assert_eq!(open["result_count"], 20);
    assert!(
        open["result"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "open")
    );
    let all = ok(
        &client,
        "crm_list_tasks",
        json!({"status": "all", "fetch_all": true}),
    )
    .await;
    assert_eq!(all["result_count"], 40);
    for (status, n) in [("completed", 10), ("pending", 10)] {
        let l = ok(&client, "crm_list_tasks", json!({"status": status})).await;
        assert_eq!(l["result_count"], n, "{status}");
        assert_eq!(id_set(&l), where_(&all, |t| t["status"] == status));
    }
    let done = ok(
        &client,
        "crm_list_tasks",
        json!({"status": "completed", "detail": "full"}),
    )
    .await;
    for t in done["result"].as_array().unwrap() {
        assert!(t["completed_at"].is_string());
        // A user reference, resolved from Capsule's username through the (cached) users.
        assert!(
            t["completed_by"]["id"]
                .as_str()
                .is_some_and(|id| !id.is_empty()),
            "{t}"
        );
        assert!(t["completed_by"]["name"].is_string(), "{t}");
    }

    let owned = ok(
        &client,
        "crm_list_tasks",
        json!({"status": "all", "owner_id": "6"}),
    )
    .await;
    assert_eq!(id_set(&owned), where_(&all, |t| t["owner"]["id"] == "6"));
    assert!(!id_set(&owned).is_empty());

    let pick = |key: &str| {
        all["result"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t[key].is_object())
            .map(|t| t[key]["id"].clone())
    };
    for (field, arg) in [
        ("account", "account_id"),
        ("contact", "contact_id"),
        ("opportunity", "opportunity_id"),
        ("project", "project_id"),
    ] {
        let Some(id) = pick(field) else { continue };
        let l = ok(&client, "crm_list_tasks", json!({"status": "all", arg: id})).await;
        let expected = where_(&all, |t| t[field]["id"] == id);
        assert!(!expected.is_empty());
        assert_eq!(id_set(&l), expected, "{arg}");
    }
    assert!(pick("project").is_some() && pick("opportunity").is_some());

    let mut stamps: Vec<&str> = all["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["updated_at"].as_str().unwrap())
        .collect();
    stamps.sort_unstable();
    let stamp = stamps[20].to_owned();
    let recent = ok(
        &client,
        "crm_list_tasks",
        json!({"status": "all", "updated_after": stamp}),
    )
    .await;
    assert_eq!(
        id_set(&recent),
        where_(&all, |t| t["updated_at"].as_str().unwrap() > stamp.as_str())
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn task_round_trip_completion_and_type_by_name() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let got = ok(&client, "crm_get_task", json!({"id": "700"})).await;
    assert_eq!(got["subject"], "Send quarterly invoice");
    assert_eq!(got["type"], json!({"id": "47", "name": "Billing"}));
    assert_eq!(got["due_time"], "14:30:00");

    let cats = requests(&sb, "GET /categories").await;
    let created = ok(
        &client,
        "crm_create_task",
        json!({"subject": "Kickoff call", "content": "Agenda attached", "due_date": "2026-02-03",
               "due_time": "09:15", "type": "call", "project_id": "500", "owner_id": "12"}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["type"]["name"], "Call");
    assert_eq!(created["project"]["id"], "500");
    assert_eq!(created["due_time"], "09:15:00");
    assert_eq!(created["owner"]["id"], "12");
    assert_eq!(created["status"], "open");
    assert_eq!(requests(&sb, "GET /categories").await, cats + 1);
    ok(
        &client,
        "crm_create_task",
        json!({"subject": "Second", "due_date": "2026-02-04", "type": "Email"}),
    )
    .await;
    assert_eq!(
        requests(&sb, "GET /categories").await,
        cats + 1,
        "categories cached"
    );

    let puts = requests(&sb, "PUT /tasks/{id}").await;
    let done = ok(
        &client,
        "crm_update_task",
        json!({"id": id, "status": "completed"}),
    )
    .await;
    assert_eq!(requests(&sb, "PUT /tasks/{id}").await, puts + 1);
    assert_eq!(done["status"], "completed");
    assert!(done["completed_at"].is_string());
    assert_eq!(
        done["completed_by"],
        json!({"id": "61", "name": "Ted Danson"})
    );
    let reopened = ok(
        &client,
        "crm_update_task",
        json!({"id": id, "status": "open"}),
    )
    .await;
    assert_eq!(reopened["status"], "open");
    assert!(reopened.get("completed_at").is_none());

    // Setting another link replaces the project link.
    let contact =
        ok(&client, "crm_list_contacts", json!({"limit": 1})).await["result"][0]["id"].clone();
    let relinked = ok(
        &client,
        "crm_update_task",
        json!({"id": id, "contact_id": contact, "type_id": null, "due_time": null}),
    )
    .await;
    assert_eq!(relinked["contact"]["id"], contact);
    assert!(relinked.get("project").is_none());
    assert!(relinked.get("type").is_none() && relinked.get("due_time").is_none());
    assert_eq!(relinked["content"], "Agenda attached", "left out, kept");

    let deleted = ok(&client, "crm_delete_task", json!({"id": id})).await;
    assert_eq!(deleted, json!({"id": id, "deleted": true}));
    let gone = err(&client, "crm_get_task", json!({"id": id})).await;
    assert_eq!(gone["code"], "not_found");
    assert!(gone["message"].as_str().unwrap().contains("crm_list_tasks"));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn task_guards_send_nothing() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let before = total_requests(&sb).await;
    let cases = [
        ("crm_list_tasks", json!({"status": "done"})),
        (
            "crm_list_tasks",
            json!({"account_id": "1", "project_id": "500"}),
        ),
        ("crm_list_tasks", json!({"updated_after": "today"})),
        ("crm_create_task", json!({"due_date": "2026-01-01"})),
        ("crm_create_task", json!({"subject": "x"})),
        (
            "crm_create_task",
            json!({"subject": "x", "due_date": "2026-01-01", "account_id": "101", "project_id": "500"}),
        ),
        (
            "crm_create_task",
            json!({"subject": "x", "due_date": "2026-01-01", "due_time": "noon"}),
        ),
        ("crm_update_task", json!({"id": "700", "status": "pending"})),
        (
            "crm_update_task",
            json!({"id": "700", "type": "Call", "type_id": "48"}),
        ),
        (
            "crm_update_task",
            json!({"id": "700", "opportunity_id": "300", "contact_id": "120"}),
        ),
        ("crm_update_task", json!({"id": "700"})),
        ("crm_get_task", json!({"id": "seven"})),
    ];
    for (tool, args) in cases {
        let e = err(&client, tool, args.clone()).await;
        assert_eq!(e["code"], "invalid_argument", "{tool} {args}: {e}");
    }
    let plan = ok(
        &client,
        "crm_create_task",
        json!({"subject": "Dry", "due_date": "2026-01-01", "account_id": "101", "dry_run": true}),
    )
    .await;
    assert_eq!(
        plan["body"],
        json!({"task": {"description": "Dry", "dueOn": "2026-01-01", "party": {"id": 101}}})
    );
    assert_eq!(
        total_requests(&sb).await,
        before,
        "no request may reach Capsule"
    );
    let e = err(
        &client,
        "crm_create_task",
        json!({"subject": "x", "due_date": "2026-01-01", "type": "Nope"}),
    )
    .await;
    assert_eq!(e["code"], "invalid_argument");
    assert!(e["message"].as_str().unwrap().contains("Billing"));
    client.cancel().await.unwrap();
}
