//! Notes, engagements and engagement types end to end: the real binary over stdio against the
//! sandbox Capsule (seed entries 900-999: notes, calls, meetings, a custom "Demo", emails and
//! completed tasks). Request counts come from the sandbox's stats.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};

use super::common::*;

fn results(list: &Value) -> Vec<Value> {
    list["result"].as_array().unwrap().clone()
}

/// Every entry in the sandbox, raw, through the proxy.
async fn raw_entries(client: &Peer) -> Vec<Value> {
    let mut out = Vec::new();
    for page in 1..=3 {
        let r = ok(
            client,
            "capsule_api_request",
            json!({"method": "GET", "path": "/entries",
                   "query": {"perPage": "100", "page": page.to_string()}}),
        )
        .await;
        let items = r["body"]["entries"].as_array().unwrap().clone();
        if items.is_empty() {
            break;
        }
        out.extend(items);
    }
    out
}

fn first_of(entries: &[Value], pred: impl Fn(&Value) -> bool) -> &Value {
    entries.iter().find(|e| pred(e)).expect("a seed entry")
}

#[tokio::test]
async fn lists_notes_with_each_filter_in_one_request() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let all = raw_entries(&client).await;

    let before = requests(&sb, "GET /entries").await;
    let page = ok(&client, "crm_list_notes", json!({"limit": 20})).await;
    assert_eq!(requests(&sb, "GET /entries").await, before + 1);
    let notes = results(&page);
    assert!(!notes.is_empty() && notes.len() <= 20);
    assert!(page["next_cursor"].is_string());
    let raw_by_id = |id: &str| {
        all.iter()
            .find(|e| e["id"].as_i64().map(|i| i.to_string()).as_deref() == Some(id))
            .unwrap()
            .clone()
    };
    for n in &notes {
        assert_eq!(raw_by_id(n["id"].as_str().unwrap())["type"], "note");
        assert!(n.get("engagement_type").is_none());
        assert!(n["occurred_at"].is_string() && n["owner"]["id"].is_string());
    }
    let second = ok(
        &client,
        "crm_list_notes",
        json!({"cursor": page["next_cursor"]}),
    )
    .await;
    assert!(ids(&second).iter().all(|id| !ids(&page).contains(id)));

    // A note on a person, on an organisation, on an opportunity, on a project.
    let is_note = |e: &Value| e["type"] == "note";
    let person = first_of(&all, |e| is_note(e) && e["party"]["type"] == "person");
    let org = first_of(&all, |e| is_note(e) && e["party"]["type"] == "organisation");
    let opp = first_of(&all, |e| is_note(e) && e["opportunity"]["id"].is_i64());
    let kase = first_of(&all, |e| is_note(e) && e["kase"]["id"].is_i64());
    let cases = [
        (
            "contact_id",
            person["party"]["id"].to_string(),
            "contact",
            "GET /parties/{id}/entries",
        ),
        (
            "account_id",
            org["party"]["id"].to_string(),
            "account",
            "GET /parties/{id}/entries",
        ),
        (
            "opportunity_id",
            opp["opportunity"]["id"].to_string(),
            "opportunity",
            "GET /opportunities/{id}/entries",
        ),
        (
            "project_id",
            kase["kase"]["id"].to_string(),
            "project",
            "GET /kases/{id}/entries",
        ),
    ];
    for (filter, id, field, route) in cases {
        let before = total_requests(&sb).await;
        let route_before = requests(&sb, route).await;
        let page = ok(&client, "crm_list_notes", json!({filter: id, "limit": 50})).await;
        assert_eq!(requests(&sb, route).await, route_before + 1, "{filter}");
        assert_eq!(
            total_requests(&sb).await,
            before + 1,
            "{filter}: one request"
        );
        let notes = results(&page);
        assert!(!notes.is_empty(), "{filter} {id}");
        for n in &notes {
            assert_eq!(n[field]["id"], id.as_str(), "{filter}: {n}");
        }
    }

    // updated_after is applied to the page.
    let none = ok(
        &client,
        "crm_list_notes",
        json!({"updated_after": "2100-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(none["result_count"], 0);
    let some = ok(
        &client,
        "crm_list_notes",
        json!({"updated_after": "2000-01-01T00:00:00Z", "limit": 20}),
    )
    .await;
    assert_eq!(some["result_count"], page["result_count"]);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn bad_note_arguments_never_reach_capsule() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let before = total_requests(&sb).await;
    let cases = [
        ("crm_list_notes", json!({"account_id": "100", "limit": 60})),
        (
            "crm_list_notes",
            json!({"account_id": "100", "project_id": "500"}),
        ),
        ("crm_list_notes", json!({"contact_id": "bob"})),
        ("crm_list_notes", json!({"updated_after": "last week"})),
        ("crm_create_note", json!({"content": "Orphan"})),
        (
            "crm_create_note",
            json!({"content": "Two homes", "account_id": "100", "opportunity_id": "300"}),
        ),
        ("crm_create_note", json!({"account_id": "100"})),
        (
            "crm_create_note",
            json!({"content": " ", "account_id": "100"}),
        ),
        (
            "crm_create_note",
            json!({"content": "x", "account_id": "100", "occurred_at": "soon"}),
        ),
        ("crm_update_note", json!({"id": "900"})),
        ("crm_update_note", json!({"id": "note", "content": "x"})),
        ("crm_get_note", json!({"id": "x"})),
    ];
    for (tool, args) in cases {
        let e = err(&client, tool, args.clone()).await;
        assert_eq!(e["code"], "invalid_argument", "{tool} {args}: {e}");
    }
    assert_eq!(
        total_requests(&sb).await,
        before,
        "no request may reach Capsule"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn note_round_trip() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let contact = ok(&client, "crm_list_contacts", json!({"limit": 1})).await["result"][0].clone();
    let cid = contact["id"].as_str().unwrap().to_owned();

    let plan = ok(
        &client,
        "crm_create_note",
        json!({"content": "Dry", "contact_id": cid, "dry_run": true}),
    )
    .await;
    assert_eq!(plan["method"], "POST");
    assert_eq!(plan["path"], "/entries");
    assert_eq!(
        plan["body"]["entry"],
        json!({"type": "note", "party": {"id": cid.parse::<i64>().unwrap()}, "content": "Dry"})
    );

    let posts = requests(&sb, "POST /entries").await;
    let before = total_requests(&sb).await;
    let created = ok(
        &client,
        "crm_create_note",
        json!({"content": "Called about the renewal", "contact_id": cid,
               "occurred_at": "2025-05-01T10:00:00Z", "activity_type_id": "-3"}),
    )
    .await;
    assert_eq!(requests(&sb, "POST /entries").await, posts + 1);
    assert_eq!(
        total_requests(&sb).await,
        before + 1,
        "a create is one request"
    );
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["content"], "Called about the renewal");
    assert_eq!(created["contact"]["id"], cid.as_str());
    assert_eq!(created["contact"]["name"], contact["name"]);
    assert!(created.get("account").is_none());
    assert_eq!(
        created["activity_type"],
        json!({"id": "-3", "name": "Call"})
    );
    assert_eq!(created["occurred_at"], "2025-05-01T10:00:00Z");

    let shows = requests(&sb, "GET /entries/{id}").await;
    let got = ok(&client, "crm_get_note", json!({"id": id})).await;
    assert_eq!(requests(&sb, "GET /entries/{id}").await, shows + 1);
    assert_eq!(got, created);
    let raw = ok(
        &client,
        "crm_get_note",
        json!({"id": id, "include_remote_data": true}),
    )
    .await;
    assert_eq!(raw["remote_data"]["type"], "note");

    let updated = ok(
        &client,
        "crm_update_note",
        json!({"id": id, "content": "Renewal agreed", "activity_type_id": "-1"}),
    )
    .await;
    assert_eq!(updated["content"], "Renewal agreed");
    assert_eq!(updated["activity_type"]["name"], "Note");
    assert_eq!(updated["occurred_at"], "2025-05-01T10:00:00Z", "kept");

    let listed = ok(&client, "crm_list_notes", json!({"contact_id": cid})).await;
    assert!(ids(&listed).contains(&id));

    let deleted = ok(&client, "crm_delete_note", json!({"id": id})).await;
    assert_eq!(deleted, json!({"id": id, "deleted": true}));
    let gone = err(&client, "crm_get_note", json!({"id": id})).await;
    assert_eq!(gone["code"], "not_found");
    assert!(gone["message"].as_str().unwrap().contains("crm_list_notes"));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn notes_refuse_other_entries() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let all = raw_entries(&client).await;
    let email = first_of(&all, |e| e["type"] == "email")["id"].to_string();
    let e = err(&client, "crm_get_note", json!({"id": email})).await;
    assert_eq!(e["code"], "not_found");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("crm_get_engagement"),
        "{e}"
    );
    let e = err(
        &client,
        "crm_update_note",
        json!({"id": email, "content": "x"}),
    )
    .await;
    assert_eq!(e["code"], "not_found");
    let e = err(&client, "crm_delete_note", json!({"id": email})).await;
    assert_eq!(
        e["code"], "not_found",
        "a note delete must not delete an email"
    );
    assert_eq!(requests(&sb, "DELETE /entries/{id}").await, 0);
    client.cancel().await.unwrap();
}
